/* test_tc_http.c - trace-collect's own HTTP/1.1 sender: the response
 * parser (whole, byte by byte, pipelined, Content-Length, chunked, body
 * until close, bad status lines and fields), and the sender against a
 * scripted server on loopback (pipelined answers split across reads, a
 * connection closed mid-answer, a bad status line, refused, unknown host,
 * timeouts). */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "tc.h"
#include "tc_http.h"

/* Feeds text to the parser in pieces of `step` bytes the way the sender
 * does (unconsumed bytes are kept and come again with the next piece).
 * Returns the last result; *end: offset after the response. */
static int feed(tc_http_resp *p, const char *text, size_t step, size_t *end)
{
	size_t len = strlen(text), keep = 0, got = 0;
	int rc = TC_HTTP_MORE;
	*end = 0;
	while (got < len || keep) {
		size_t avail = keep + (got + step <= len ? step : len - got);
		if (avail == keep && rc == TC_HTTP_MORE)
			break; /* nothing new to read */
		got += avail - keep;
		size_t used;
		rc = tc_http_parse(p, text + got - avail, avail, &used);
		keep = avail - used;
		if (rc != TC_HTTP_MORE) {
			*end = got - keep;
			return rc;
		}
	}
	return rc;
}

static const char OK200[] =
	"HTTP/1.1 200 OK\r\nDate: x\r\nX-Served-By: node2\r\n"
	"Content-Type: application/json\r\nContent-Length: 5\r\n\r\nhello";
static const char CHUNKED[] =
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	"x-served-by:node1\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n"
	"0\r\nTrailer: t\r\n\r\n";

static void test_parse_ok(void)
{
	static const size_t steps[] = {1, 2, 7, 64, 4096};
	const char *texts[] = {OK200, CHUNKED};
	for (int t = 0; t < 2; t++)
		for (size_t s = 0; s < sizeof steps / sizeof *steps; s++) {
			tc_http_resp p;
			size_t end;
			tc_http_resp_init(&p);
			int rc = feed(&p, texts[t], steps[s], &end);
			CHECK(rc == TC_HTTP_DONE && end == strlen(texts[t]) &&
				      p.status == 200 && p.keep_alive &&
				      p.node == (t ? 0 : 1),
			      "%s answer in pieces of %zu: whole, status, node",
			      t ? "chunked" : "Content-Length", steps[s]);
		}
	/* two answers back to back: the first ends where the second starts */
	char two[1024];
	snprintf(two, sizeof two, "%s%s", OK200,
		 "HTTP/1.1 429 Too Many\r\nContent-Length: 0\r\n\r\n");
	tc_http_resp p;
	size_t used;
	tc_http_resp_init(&p);
	int rc = tc_http_parse(&p, two, strlen(two), &used);
	CHECK(rc == TC_HTTP_DONE && used == strlen(OK200) && p.status == 200,
	      "pipelined: the first answer ends at its own length");
	tc_http_resp_init(&p);
	size_t used2;
	rc = tc_http_parse(&p, two + used, strlen(two) - used, &used2);
	CHECK(rc == TC_HTTP_DONE && used + used2 == strlen(two) &&
		      p.status == 429 && p.node == -1,
	      "pipelined: the second answer (429, empty body)");
}

static void test_parse_framing(void)
{
	tc_http_resp p;
	size_t end;
	tc_http_resp_init(&p);
	int rc = feed(&p, "HTTP/1.0 200 OK\r\nX-Served-By: node1\r\n\r\nbody "
			  "until the end", 3, &end);
	CHECK(rc == TC_HTTP_MORE && tc_http_eof(&p) == TC_HTTP_DONE &&
		      !p.keep_alive && p.node == 0,
	      "HTTP/1.0 without a length: body until close");
	tc_http_resp_init(&p);
	rc = feed(&p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 4,
		  &end);
	CHECK(rc == TC_HTTP_MORE && tc_http_eof(&p) == TC_HTTP_BAD &&
		      strstr(p.why, "mid-answer"),
	      "closed mid-body: bad (%s)", p.why ? p.why : "");
	tc_http_resp_init(&p);
	rc = feed(&p, "HTTP/1.1 200 OK\r\nConnection: close\r\n"
		      "Content-Length: 0\r\n\r\n", 5, &end);
	CHECK(rc == TC_HTTP_DONE && !p.keep_alive, "Connection: close");
	tc_http_resp_init(&p);
	rc = feed(&p, "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n"
		      "Content-Length: 2\r\n\r\nok", 5, &end);
	CHECK(rc == TC_HTTP_DONE && p.keep_alive, "HTTP/1.0 keep-alive");
	tc_http_resp_init(&p);
	rc = feed(&p, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content"
		      "\r\n\r\n", 6, &end);
	CHECK(rc == TC_HTTP_DONE && p.status == 204,
	      "100 Continue skipped, 204 has no body");
	tc_http_resp_init(&p);
	CHECK(tc_http_eof(&p) == TC_HTTP_BAD && strstr(p.why, "before"),
	      "closed before any answer: bad");
}

static void test_parse_bad(void)
{
	static const char *bad[] = {
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.1 200OK\r\n\r\n",
		"HTTP/1.1 099 Low\r\n\r\n",
		"FOO\r\n\r\n",
		"\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"2\r\nabc\r\n0\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		tc_http_resp p;
		size_t end;
		tc_http_resp_init(&p);
		int rc = feed(&p, bad[i], 3, &end);
		CHECK(rc == TC_HTTP_BAD && p.why, "bad answer %zu: %s", i,
		      p.why ? p.why : "(accepted)");
	}
	static char longline[6000];
	memset(longline, 'a', sizeof longline - 1);
	memcpy(longline, "HTTP/1.1 200 OK\r\nX: ", 20);
	tc_http_resp p;
	size_t used;
	tc_http_resp_init(&p);
	int rc = tc_http_parse(&p, longline, strlen(longline), &used);
	CHECK(rc == TC_HTTP_BAD, "a header line beyond the limit");
}

static void test_url(void)
{
	CHECK(tc_http_url_ok("http://127.0.0.1:8080/compute") &&
		      tc_http_url_ok("HTTP://localhost/") &&
		      tc_http_url_ok("http://[::1]:80/a") &&
		      tc_http_url_ok("http://h"),
	      "plain http URLs suit the sender");
	CHECK(!tc_http_url_ok("https://127.0.0.1/") &&
		      !tc_http_url_ok("http://u:p@h/") &&
		      !tc_http_url_ok("http://h:99999/") &&
		      !tc_http_url_ok("http://h:/") &&
		      !tc_http_url_ok("http:///x") &&
		      !tc_http_url_ok("http://h/a b") &&
		      !tc_http_url_ok("http://h/#f"),
	      "others go to curl");
}

/* ------------------------------------------------------------------------
 * The sender against a scripted server
 */
typedef struct {
	int n;
	long req[16];
	int code[16], node[16], retry[16];
	long status[16];
	double t[16];
} outcomes;

static void on_done(void *ud, void *req, int code, long status, int node,
		    int retry, double t)
{
	outcomes *o = ud;
	if (o->n == 16)
		return;
	o->req[o->n] = (long)(intptr_t)req;
	o->code[o->n] = code;
	o->status[o->n] = status;
	o->node[o->n] = node;
	o->retry[o->n] = retry;
	o->t[o->n] = t;
	o->n++;
}

/* Lets the sender act on its events for ms milliseconds. */
static void spin(tc_http *h, int ep, int ms)
{
	struct epoll_event ev[16];
	for (int t = 0; t < ms; t++) {
		int n = epoll_wait(ep, ev, 16, 1);
		for (int i = 0; i < n; i++)
			tc_http_event(h, ev[i].data.u64, ev[i].events);
		tc_http_flush(h);
	}
}

static int listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    listen(fd, 8) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

/* The server's side of the next connection; no Nagle, or the second
 * piece of an answer waits for the sender's delayed ACK (40 ms). */
static int accept_one(int lfd)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	int s = poll(&p, 1, 2000) == 1 ? accept(lfd, NULL, NULL) : -1, one = 1;
	if (s >= 0)
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return s;
}

/* Reads from the server side until `count` request heads have come. */
static int read_requests(int fd, int count, char *buf, size_t cap)
{
	size_t len = 0;
	int seen = 0;
	while (seen < count && len + 1 < cap) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 2000) != 1)
			break;
		ssize_t k = read(fd, buf + len, cap - 1 - len);
		if (k <= 0)
			break;
		len += (size_t)k;
		buf[len] = 0;
		seen = 0;
		for (char *s = buf; (s = strstr(s, "\r\n\r\n")); s += 4)
			seen++;
	}
	return seen;
}

static void put(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		printf("# short write\n");
}

static tc_http *sender(int port, int depth, int ep, outcomes *o)
{
	char u0[64], u1[64];
	snprintf(u0, sizeof u0, "http://127.0.0.1:%d/a", port);
	snprintf(u1, sizeof u1, "http://127.0.0.1:%d/b?x=1", port);
	const char *urls[] = {u0, u1}, *hdrs[] = {NULL, "X-User-Class: premium"};
	mr_err e = {0};
	return tc_http_new(urls, hdrs, 2, 1, depth, ep, on_done, o, &e);
}

static void test_pipelined(int lfd, int port)
{
	int ep = epoll_create1(0);
	outcomes o = {0};
	tc_http *h = sender(port, 4, ep, &o);
	CHECK(h && tc_http_capacity(h) == 1,
	      "no pipelining before an answer says keep-alive");
	tc_http_send(h, (void *)9, 0, mr_now() + 5);
	tc_http_flush(h);
	int s = accept_one(lfd);
	spin(h, ep, 5); /* the connection is up: write */
	char buf[2048];
	read_requests(s, 1, buf, sizeof buf);
	put(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	spin(h, ep, 20);
	CHECK(o.n == 1 && o.req[0] == 9 && tc_http_capacity(h) == 4,
	      "after a keep-alive answer: 1 connection x 4");
	o.n = 0;
	for (long i = 1; i <= 3; i++)
		tc_http_send(h, (void *)i, i == 2, mr_now() + 5);
	tc_http_flush(h);
	int n = read_requests(s, 3, buf, sizeof buf);
	CHECK(n == 3 && strstr(buf, "GET /a HTTP/1.1\r\nHost: 127.0.0.1:") &&
		      strstr(buf, "GET /b?x=1 HTTP/1.1\r\n") &&
		      strstr(buf, "X-User-Class: premium\r\n"),
	      "three requests pipelined on one connection");
	put(s, "HTTP/1.1 200 OK\r\nX-Served-By: node1\r\nContent-Le");
	spin(h, ep, 20);
	CHECK(o.n == 0, "half an answer: nothing over yet");
	put(s, "ngth: 3\r\n\r\nabcHTTP/1.1 429 Busy\r\nContent-Length: 0\r\n"
	       "\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	       "X-Served-By: node2\r\n\r\n1\r\nx\r\n0\r\n\r\n");
	spin(h, ep, 20);
	CHECK(o.n == 3 && o.req[0] == 1 && o.req[1] == 2 && o.req[2] == 3 &&
		      o.code[0] == CURLE_OK && o.status[0] == 200 &&
		      o.node[0] == 0 && o.status[1] == 429 &&
		      o.status[2] == 200 && o.node[2] == 1,
	      "answers split across reads end their requests in order");
	/* a connection closed mid-answer: the answered one fails, the one
	 * behind it may be sent again */
	o.n = 0;
	tc_http_send(h, (void *)4, 0, mr_now() + 5);
	tc_http_send(h, (void *)5, 0, mr_now() + 5);
	tc_http_flush(h);
	read_requests(s, 2, buf, sizeof buf);
	put(s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
	close(s);
	spin(h, ep, 20);
	CHECK(o.n == 2 && o.req[0] == 4 && o.code[0] == CURLE_PARTIAL_FILE &&
		      o.status[0] == 200 && !o.retry[0] && o.req[1] == 5 &&
		      o.retry[1],
	      "closed mid-answer: partial (code %d), the next one retried",
	      o.n ? o.code[0] : -1);
	/* a bad status line on a new connection */
	o.n = 0;
	tc_http_send(h, (void *)6, 0, mr_now() + 5);
	tc_http_flush(h);
	s = accept_one(lfd);
	spin(h, ep, 5);
	read_requests(s, 1, buf, sizeof buf);
	put(s, "HTTP/1.1 2OO OK\r\n\r\n");
	spin(h, ep, 20);
	CHECK(o.n == 1 && o.code[0] == CURLE_WEIRD_SERVER_REPLY,
	      "bad status line: weird server reply");
	close(s);
	/* a request past its deadline; the one behind it may be retried */
	o.n = 0;
	tc_http_send(h, (void *)7, 0, mr_now() + 0.01);
	tc_http_send(h, (void *)8, 0, mr_now() + 5);
	tc_http_flush(h);
	s = accept_one(lfd);
	CHECK(fabs(tc_http_next_deadline(h) - mr_now()) < 0.02,
	      "next deadline: the first request's");
	spin(h, ep, 20);
	tc_http_expire(h, mr_now());
	CHECK(o.n == 2 && o.code[0] == CURLE_OPERATION_TIMEDOUT &&
		      !o.retry[0] && o.retry[1] &&
		      isinf(tc_http_next_deadline(h)),
	      "timeout: code 28, the one behind it retried");
	close(s);
	tc_http_free(h);
	close(ep);
}

/* tc_rx_time on control data made up here: the kernel's realtime stamp
 * `age` seconds ago, or another message. */
static double rx_after(double age, int type)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec))];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof ctl);
	struct msghdr mh = {.msg_control = ctl.buf,
			    .msg_controllen = sizeof ctl.buf};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = type;
	cm->cmsg_len = CMSG_LEN(sizeof(struct timespec));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	double t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 - age;
	ts.tv_sec = (time_t)floor(t);
	ts.tv_nsec = (long)((t - floor(t)) * 1e9);
	memcpy(CMSG_DATA(cm), &ts, sizeof ts);
	return tc_rx_time(&mh, 1000) - 1000; /* "now" is 1000 */
}

static void test_rx_time(void)
{
	double a = rx_after(0.25, SCM_TIMESTAMPNS);
	CHECK(fabs(a + 0.25) < 0.01, "receive stamp 0.25 s old: 0.25 s before "
	      "now on the monotonic clock (%.4f)", a);
	CHECK(rx_after(-3, SCM_TIMESTAMPNS) == 0,
	      "a stamp in the future (clock step): now");
	CHECK(rx_after(0.25, SCM_TIMESTAMPNS + 1000) == 0,
	      "other control data: now");
	struct msghdr none = {0};
	CHECK(tc_rx_time(&none, 7) == 7, "no control data: now");
}

/* An answer read 150 ms after it came keeps the time it came, and a
 * sender that was not polled finds it with tc_http_collect. */
static void test_read_late(int lfd, int port)
{
	int ep = epoll_create1(0);
	outcomes o = {0};
	tc_http *h = sender(port, 1, ep, &o);
	tc_http_send(h, (void *)1, 0, mr_now() + 5);
	tc_http_flush(h);
	CHECK(tc_http_busy(h), "connecting: busy (wake on events)");
	int s = accept_one(lfd);
	spin(h, ep, 5);
	char buf[1024];
	read_requests(s, 1, buf, sizeof buf);
	CHECK(!tc_http_busy(h), "request written: not busy");
	double answered = mr_now();
	put(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	usleep(150000);
	tc_http_collect(h);
	double lag = o.n ? o.t[0] - answered : -1;
	CHECK(o.n == 1 && o.code[0] == CURLE_OK && lag > -0.001 && lag < 0.02,
	      "answer read 150 ms late: its time is when it came (%+.4f s)",
	      lag);
	o.n = 0;
	tc_http_collect(h);
	CHECK(o.n == 0, "collect with nothing out: no outcome");
	close(s);
	tc_http_free(h);
	close(ep);
}

/* A server process answering every request at once, on up to 16
 * connections, until killed. */
static void serve(int lfd)
{
	struct pollfd p[17] = {{.fd = lfd, .events = POLLIN}};
	int n = 1;
	static const char ans[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	for (;;) {
		if (poll(p, (nfds_t)n, -1) < 0)
			_exit(1);
		if ((p[0].revents & POLLIN) && n < 17) {
			int s = accept(lfd, NULL, NULL), one = 1;
			setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			p[n++] = (struct pollfd){.fd = s, .events = POLLIN};
		}
		for (int i = 1; i < n; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP)))
				continue;
			char buf[4096];
			ssize_t k = read(p[i].fd, buf, sizeof buf - 1);
			if (k <= 0) {
				close(p[i].fd);
				p[i--] = p[--n];
				continue;
			}
			buf[k] = 0; /* requests come whole: one line each here */
			for (char *r = buf; (r = strstr(r, "\r\n\r\n")); r += 4)
				if (write(p[i].fd, ans, sizeof ans - 1) < 0)
					_exit(1);
		}
	}
}

static int count_ok(void *ud, tc_window *w)
{
	uint64_t *ok = ud;
	*ok += w->s[0].ok;
	if (w->s[0].ok && tc_pct(&w->s[0], 1) > 0.05)
		*ok = 0; /* an answer took over 50 ms: not its true time */
	return 0;
}

/* A signal ends a run whose sleeps ignore the sockets: SIGTERM 0.2 s into
 * a 10 s run at 2,000 req/s against url. */
static void test_engine_signal(const char *url)
{
	mr_err e = {0};
	tc_stream st;
	tc_pattern pat;
	tc_stream_parse("a=constant:2000", 1, &st, &pat, &e);
	tc_engine_opts o = {.url = url, .timeout = 1, .max_inflight = 4096,
			    .connections = 4, .tick = 250e-6, .seed = 1,
			    .quiet = 1};
	tc_engine *g = tc_engine_new(&o, &st, 1, &e); /* blocks SIGTERM */
	tc_segment seg = {.window = 1, .nwin = 10, .pats = &pat};
	double t0 = mr_now();
	pid_t killer = g ? fork() : -1;
	if (killer == 0) {
		usleep(200000);
		kill(getppid(), SIGTERM);
		_exit(0);
	}
	int rc = killer > 0 ? tc_engine_run(g, &seg, NULL, NULL, &e) : -1;
	double took = mr_now() - t0;
	CHECK(rc == 1 && took < 2, "SIGTERM stops a run between send ticks "
	      "(rc %d after %.2f s)", rc, took);
	if (killer > 0)
		waitpid(killer, NULL, 0);
	tc_engine_free(g);
	tc_pattern_free(&pat);
}

/* The engine at 2,000 req/s on 4 connections with the own sender: answers
 * wait for the next send tick (a sleep per send tick, not a wake-up per
 * answer too), and keep their times. */
static void test_engine_wakeups(int lfd, int port)
{
	pid_t pid = fork();
	if (pid == 0)
		serve(lfd);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
	mr_err e = {0};
	tc_stream st;
	tc_pattern pat;
	tc_stream_parse("a=constant:2000", 1, &st, &pat, &e);
	tc_engine_opts o = {.url = url, .timeout = 1, .max_inflight = 4096,
			    .connections = 4, .tick = 250e-6, .seed = 1,
			    .quiet = 1};
	tc_engine *g = pid > 0 ? tc_engine_new(&o, &st, 1, &e) : NULL;
	tc_segment seg = {.window = 0.25, .nwin = 2, .pats = &pat};
	uint64_t ok = 0, sent = 0, okall = 0;
	struct rusage r0, r1;
	getrusage(RUSAGE_SELF, &r0);
	int rc = g ? tc_engine_run(g, &seg, count_ok, &ok, &e) : -1;
	if (rc == 0)
		rc = tc_engine_drain(g, count_ok, &ok, 0, &e);
	getrusage(RUSAGE_SELF, &r1);
	const char *err;
	if (g)
		tc_engine_counts(g, &sent, &okall, &err);
	double sleeps = (double)(r1.ru_nvcsw - r0.ru_nvcsw) /
			(double)(sent ? sent : 1);
	CHECK(rc == 0 && sent == 1000 && ok == 1000,
	      "own sender, 2000 req/s: %llu of 1000 answered within 50 ms",
	      (unsigned long long)ok);
	/* one send per tick here: one sleep per request; waking for each
	 * answer as well made it two */
	CHECK(sleeps > 0.3 && sleeps < 1.4,
	      "one sleep per send tick, none per answer: %.2f per request",
	      sleeps);
	tc_engine_free(g);
	tc_pattern_free(&pat);
	test_engine_signal(url);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

static void test_close_each(int lfd, int port)
{
	int ep = epoll_create1(0);
	outcomes o = {0};
	tc_http *h = sender(port, 4, ep, &o);
	tc_http_send(h, (void *)1, 0, mr_now() + 5);
	tc_http_flush(h);
	int s = accept_one(lfd);
	spin(h, ep, 5); /* the connection is up: write */
	char buf[1024];
	read_requests(s, 1, buf, sizeof buf);
	put(s, "HTTP/1.0 200 OK\r\nX-Served-By: node1\r\n\r\nall of it");
	close(s);
	spin(h, ep, 20);
	CHECK(o.n == 1 && o.code[0] == CURLE_OK && o.node[0] == 0,
	      "HTTP/1.0 body until close: an answer");
	CHECK(tc_http_capacity(h) == 1,
	      "a server that closes: no more pipelining");
	tc_http_free(h);
	close(ep);
}

static void test_unreachable(void)
{
	int ep = epoll_create1(0);
	outcomes o = {0};
	int port, lfd = listener(&port);
	close(lfd); /* nobody listens there now */
	tc_http *h = sender(port, 1, ep, &o);
	tc_http_send(h, (void *)1, 0, mr_now() + 5);
	tc_http_flush(h);
	spin(h, ep, 50);
	CHECK(o.n == 1 && o.code[0] == CURLE_COULDNT_CONNECT && !o.retry[0],
	      "refused: could not connect");
	tc_http_free(h);
	o.n = 0;
	const char *urls[] = {"http://no-such-host.invalid/x"};
	mr_err e = {0};
	h = tc_http_new(urls, NULL, 1, 2, 1, ep, on_done, &o, &e);
	tc_http_send(h, (void *)2, 0, mr_now() + 5);
	CHECK(o.n == 0, "unknown host: no callback inside send");
	tc_http_flush(h);
	CHECK(o.n == 1 && o.code[0] == CURLE_COULDNT_RESOLVE_HOST,
	      "unknown host: could not resolve");
	tc_http_free(h);
	const char *bad[] = {"https://h/x"};
	CHECK(!tc_http_new(bad, NULL, 1, 1, 1, ep, on_done, &o, &e) &&
		      e.code == MR_EXIT_USAGE,
	      "https refused by the own sender");
	close(ep);
}

int main(void)
{
	test_parse_ok();
	test_parse_framing();
	test_parse_bad();
	test_url();
	test_rx_time();
	int port, lfd = listener(&port);
	CHECK(lfd >= 0, "loopback listener");
	if (lfd >= 0) {
		test_pipelined(lfd, port);
		test_close_each(lfd, port);
		test_read_late(lfd, port);
		test_engine_wakeups(lfd, port);
		close(lfd);
	}
	test_unreachable();
	return CHECK_DONE();
}
