/*
 * tc_engine.c - the open-loop load engine (see tc.h).
 *
 * Loop: create the windows whose start has come, launch every request that
 * is due (oldest first, a bounded batch so answers are never starved), let
 * the sender act, hand finished windows to the caller, then sleep in
 * epoll_pwait2 (a nanosecond timeout, not epoll_wait's milliseconds) until
 * the next of: the end of the send tick holding the next due send, the
 * sender's own timeout, socket activity, a signal (signalfd). No timer file
 * descriptors: re-arming one costs a system call per request, and in a VM
 * a costly one.
 *
 * With the own sender the sleep to a near send tick ignores the sockets
 * (only a signal ends it), and the answers that came meanwhile are read
 * right after that tick's sends: one wake-up per tick instead of one per
 * answer as well (perf at 20,000 req/s: a wake-up cost more than the
 * request). Their latency still ends when they came: the sender takes the
 * kernel's receive time (tc_http.h). Not while requests wait for a
 * connection or a connect or write is under way: then sockets wake us.
 *
 * The send tick is the main lever on client CPU (bench_loadgen.sh, perf):
 * a wake-up costs more than a request in a VM, and on loopback the client's
 * send pays for waking the idle server, once per batch instead of once per
 * request. With libcurl, its own work per transfer (transfer setup, request
 * formatting, header parsing with sscanf, proxy lookups in the environment,
 * allocations, a poll() to check a reused connection: ~10 us of user CPU
 * per request in perf, more than the request's syscalls) was the rest;
 * hence our own sender for plain http:// (tc_http.h: a memcpy per
 * request, one send and one recvmsg per connection and tick). Both senders
 * report curl's codes, so what follows does not depend on which one runs.
 *
 * curl easy handles are pooled and reused, so curl's connection cache keeps
 * the TCP connections alive across requests; only requests handed to curl
 * hold one. Nothing is allocated per request once the pools are warm
 * (window latency arrays grow geometrically).
 *
 * --timeout bounds a request's whole latency, counted from its due time:
 * curl gets only what is left of it when the request starts, a request
 * still waiting for a connection when it runs out is dropped unsent, and
 * an answer later than the timeout is a drop, never a recorded latency.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <curl/curl.h>

#include "tc.h"
#include "tc_http.h"

#define SEND_BATCH 256
#define POLL_EVENTS 64
/* answers wait for the next send tick if it is at most this far off */
#define DEFER_MAX 2e-3
/* while deferring, the epoll set is read this often (s) */
#define SWEEP_EVERY 10e-3
#define LATE_BUCKETS 2800

/* A curl easy handle, pooled: only requests handed to curl hold one (at
 * most --connections), not those waiting in line. */
typedef struct tc_easy {
	struct tc_easy *next_free;
	CURL *h;
	int url_stream; /* stream whose URL the handle holds, -1 none */
} tc_easy;

typedef struct tc_req {
	struct tc_req *next_free;        /* in the pool, or in the wait line */
	struct tc_req *prev_act, *next_act; /* while out */
	int64_t tag;
	tc_easy *ez; /* while handed to curl */
	tc_window *w; /* NULL while settling */
	int stream;
	double intended;
	int node; /* 0 node1, 1 node2, -1 unknown */
	int retried; /* sent again once already (own sender) */
} tc_req;

struct tc_engine {
	tc_engine_opts o;
	size_t n;
	tc_stream streams[TC_MAX_STREAMS];
	char *urls[TC_MAX_STREAMS];
	struct curl_slist *hdrs[TC_MAX_STREAMS];
	CURLM *m;
	tc_http *http; /* own sender, or NULL: curl */
	int ep, sfd;
	int ep_sleep;   /* the signalfd alone: sleeps that answers do not end */
	int deferred;   /* answers may be waiting unread (collect) */
	double next_sweep; /* when collect next reads the whole epoll set */
	/* epoll registration per socket, kept across requests so that an
	 * idle kept-alive connection costs no epoll_ctl calls */
	struct fdstate {
		uint32_t ev;  /* events registered */
		uint8_t reg;  /* in the epoll set */
		uint8_t idle; /* curl does not watch it now */
	} *fds;
	size_t nfds;
	double curl_due; /* when curl wants CURL_SOCKET_TIMEOUT; INFINITY none */
	tc_req *free_reqs;
	tc_easy *free_easy;
	tc_req *active; /* requests out, for abandoning them */
	size_t inflight;  /* handed to curl */
	tc_req *wait_head, *wait_tail; /* due, waiting for a connection */
	size_t nwait;
	long conns;
	double launched_upto; /* every request due before this is launched */
	tc_window *head, *tail; /* windows not yet delivered, in order */
	int stop;               /* signal or callback said stop */
	mr_err *err;            /* error from inside callbacks */
	int failed;
	int64_t segments;
	/* summary */
	double t_start, send_time, expected;
	uint64_t sent, ok, refused, failed_n, skipped, expired;
	int down_run; /* windows in a row in which no connection was made */
	uint64_t late[LATE_BUCKETS];
	double late_max;
	struct rusage ru0;
	char first_error[256];
	/* raw log */
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int64_t cur_tag;
	/* answers to requests sent while settling (no window): count and
	 * latency sum, for tc_engine_settle_take */
	uint64_t settle_n;
	double settle_sum;
};

/* ------------------------------------------------------------------------
 * Window statistics
 */
double tc_mean(const tc_wstats *s)
{
	return s->ok ? s->sum / (double)s->ok : 0;
}

double tc_std(const tc_wstats *s)
{
	if (!s->ok)
		return 0;
	double m = s->sum / (double)s->ok;
	double v = s->sumsq / (double)s->ok - m * m;
	return v > 0 ? sqrt(v) : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double tc_pct(tc_wstats *s, double q)
{
	if (!s->nlat)
		return 0;
	qsort(s->lat, s->nlat, sizeof(double), cmp_double);
	size_t k = (size_t)ceil(q * (double)s->nlat);
	if (k < 1)
		k = 1;
	if (k > s->nlat)
		k = s->nlat;
	return s->lat[k - 1];
}

static void window_free(tc_window *w)
{
	for (int i = 0; i < TC_MAX_STREAMS; i++)
		free(w->s[i].lat);
	free(w);
}

/* ------------------------------------------------------------------------
 * Send lateness histogram: 1 us buckets to 1 ms, 10 us to 10 ms, 100 us to
 * 100 ms, then one overflow bucket (the maximum is kept exactly).
 */
static int late_bucket(double s)
{
	double us = s * 1e6;
	if (us < 0)
		us = 0;
	if (us < 1000)
		return (int)us;
	if (us < 10000)
		return 1000 + (int)((us - 1000) / 10);
	if (us < 100000)
		return 1900 + (int)((us - 10000) / 100);
	return LATE_BUCKETS - 1;
}

static double late_value(int b)
{
	if (b < 1000)
		return b + 0.5;
	if (b < 1900)
		return 1000 + (b - 1000) * 10 + 5;
	if (b < LATE_BUCKETS - 1)
		return 10000 + (b - 1900) * 100 + 50;
	return 100000;
}

static double late_pct(const tc_engine *g, double q)
{
	uint64_t total = 0, acc = 0;
	for (int b = 0; b < LATE_BUCKETS; b++)
		total += g->late[b];
	if (!total)
		return 0;
	uint64_t want = (uint64_t)ceil(q * (double)total);
	for (int b = 0; b < LATE_BUCKETS; b++) {
		acc += g->late[b];
		if (acc >= want)
			return b == LATE_BUCKETS - 1 ? g->late_max * 1e6
						     : late_value(b);
	}
	return g->late_max * 1e6;
}

/* ------------------------------------------------------------------------
 * curl callbacks
 */
static struct fdstate *fd_state(tc_engine *g, int fd)
{
	if ((size_t)fd >= g->nfds) {
		size_t n = (size_t)fd * 2 + 64;
		g->fds = mr_xrealloc(g->fds, n, sizeof *g->fds);
		memset(g->fds + g->nfds, 0, (n - g->nfds) * sizeof *g->fds);
		g->nfds = n;
	}
	return &g->fds[fd];
}

/* curl says what it wants to hear on a socket. A socket stays registered
 * when curl lets it go idle (CURL_POLL_REMOVE): the usual next request on
 * the same connection then needs no epoll_ctl at all. An event on an idle
 * socket (the server closed it) silences it (poll_once). */
static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp,
		   void *socketp)
{
	(void)easy, (void)socketp;
	tc_engine *g = userp;
	struct fdstate *f = fd_state(g, s);
	if (what == CURL_POLL_REMOVE) {
		f->idle = 1;
		return 0;
	}
	uint32_t want = (what & CURL_POLL_IN ? EPOLLIN : 0) |
			(what & CURL_POLL_OUT ? EPOLLOUT : 0);
	f->idle = 0;
	if (f->reg && f->ev == want)
		return 0;
	struct epoll_event ev = {.events = want, .data.fd = s};
	int op = f->reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	int rc = epoll_ctl(g->ep, op, s, &ev);
	/* curl closes some sockets without the close callback (a kept-alive
	 * connection it drops while idle): the number may come back as a new
	 * socket our state still calls registered, or the reverse */
	if (rc != 0 && (errno == ENOENT || errno == EEXIST)) {
		op = errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
		rc = epoll_ctl(g->ep, op, s, &ev);
	}
	if (rc != 0) {
		g->failed = mr_errf(g->err, MR_EXIT_IO, "epoll_ctl(fd %d): %s",
				    (int)s, strerror(errno));
		return -1;
	}
	f->reg = 1;
	f->ev = want;
	return 0;
}

/* Closing a socket takes it out of the epoll set; forget its state so a
 * new socket with the same number is registered afresh. */
static int close_cb(void *clientp, curl_socket_t s)
{
	tc_engine *g = clientp;
	if ((size_t)s < g->nfds)
		memset(&g->fds[s], 0, sizeof g->fds[s]);
	return close(s);
}

static int timer_cb(CURLM *m, long ms, void *userp)
{
	(void)m;
	tc_engine *g = userp;
	g->curl_due = ms < 0 ? INFINITY : mr_now() + (double)ms / 1000;
	return 0;
}

static size_t header_cb(char *buf, size_t sz, size_t n, void *ud)
{
	tc_req *r = ud;
	size_t len = sz * n;
	static const char name[] = MESH_SERVED_HEADER ":";
	if (len > sizeof name && strncasecmp(buf, name, sizeof name - 1) == 0) {
		const char *v = buf + sizeof name - 1;
		while (*v == ' ')
			v++;
		int node = tc_served_node(v, (size_t)(buf + len - v));
		if (node >= 0)
			r->node = node;
	}
	return len;
}

static size_t body_cb(char *buf, size_t sz, size_t n, void *ud)
{
	(void)buf, (void)ud;
	return sz * n;
}

/* ------------------------------------------------------------------------
 * Requests
 */
/* A request from the pool, or a new one. */
static tc_req *req_get(tc_engine *g)
{
	tc_req *r = g->free_reqs;
	if (r) {
		g->free_reqs = r->next_free;
		return r;
	}
	return mr_xcalloc(1, sizeof *r);
}

static void req_put(tc_engine *g, tc_req *r)
{
	r->next_free = g->free_reqs;
	g->free_reqs = r;
}

/* An easy handle from the pool, or a new one; NULL when curl cannot make
 * one. */
static tc_easy *easy_get(tc_engine *g)
{
	tc_easy *ez = g->free_easy;
	if (ez) {
		g->free_easy = ez->next_free;
		return ez;
	}
	CURL *h = curl_easy_init();
	if (!h)
		return NULL;
	ez = mr_xcalloc(1, sizeof *ez);
	ez->h = h;
	ez->url_stream = -1;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
	curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, g);
	return ez;
}

static void easy_put(tc_engine *g, tc_easy *ez)
{
	ez->next_free = g->free_easy;
	g->free_easy = ez;
}

/* Requests out (handed to a sender) are on the active list. */
static void active_add(tc_engine *g, tc_req *r)
{
	g->inflight++;
	r->prev_act = NULL;
	r->next_act = g->active;
	if (g->active)
		g->active->prev_act = r;
	g->active = r;
}

static void active_remove(tc_engine *g, tc_req *r)
{
	if (r->prev_act)
		r->prev_act->next_act = r->next_act;
	else
		g->active = r->next_act;
	if (r->next_act)
		r->next_act->prev_act = r->prev_act;
	r->prev_act = r->next_act = NULL;
	g->inflight--;
}

/* Takes r out of its sender and back to the pool, a curl handle too. */
static void req_release(tc_engine *g, tc_req *r)
{
	if (r->ez) {
		curl_multi_remove_handle(g->m, r->ez->h);
		easy_put(g, r->ez);
		r->ez = NULL;
	}
	active_remove(g, r);
	req_put(g, r);
}

/* Requests that may be out at once: one per connection with curl (which
 * no longer pipelines), the pipeline's depth per connection with ours. */
static size_t capacity(const tc_engine *g)
{
	return g->http ? tc_http_capacity(g->http) : (size_t)g->conns;
}

static void raw_record(tc_engine *g, const tc_req *r, double now, long status,
		       int rc)
{
	if (!g->o.rawlog)
		return;
	msgpack_packer *pk = &g->pk;
	msgpack_pack_array(pk, 9);
	msgpack_pack_int(pk, r->stream);
	msgpack_pack_int64(pk, r->tag);
	msgpack_pack_int64(pk, r->w ? r->w->index : -1);
	msgpack_pack_double(pk, r->intended - g->t_start);
	msgpack_pack_double(pk, now - r->intended);
	msgpack_pack_long(pk, status);
	msgpack_pack_int(pk, rc);
	msgpack_pack_int(pk, r->node + 1);
	msgpack_pack_int64(pk, 0); /* reserved */
	if (g->sb.size > 65536) {
		if (fwrite(g->sb.data, 1, g->sb.size, g->o.rawlog) != g->sb.size)
			g->failed = mr_errf(g->err, MR_EXIT_IO,
					    "raw log: write failed: %s",
					    strerror(errno));
		msgpack_sbuffer_clear(&g->sb);
	}
}

static void pump(tc_engine *g, double now);

/* Could the request not reach the target at all (no connection)? */
static int unreachable(CURLcode rc)
{
	return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
	       rc == CURLE_COULDNT_RESOLVE_PROXY;
}

/* r is over at time t: rc (a CURLcode, from either sender) and the HTTP
 * status. */
static void finish(tc_engine *g, tc_req *r, int rc, long status, double t)
{
	double now = mr_now();
	double lat = t > r->intended ? t - r->intended : 0;
	int outcome = rc == CURLE_OK && status == 200   ? 0
		      : rc == CURLE_OK && status == 429 ? 1
							: 2;
	if (outcome == 0 && lat > g->o.timeout)
		outcome = 2; /* past the timeout (curl's clock is coarser) */
	if (r->w) {
		r->w->answered += status > 0;
		r->w->unreachable += status == 0 && unreachable(rc);
	} else if (outcome != 1) {
		g->settle_n++;
		g->settle_sum += lat;
	}
	if (outcome != 0 && !g->first_error[0]) {
		const char *url = g->urls[r->stream]; /* no redirects */
		if (rc != CURLE_OK)
			snprintf(g->first_error, sizeof g->first_error,
				 "%s: %s", url, curl_easy_strerror(rc));
		else
			snprintf(g->first_error, sizeof g->first_error,
				 "%s: host answered %ld", url, status);
	}
	if (outcome == 0)
		g->ok++;
	else if (outcome == 1)
		g->refused++;
	else
		g->failed_n++;
	if (r->w) {
		tc_wstats *s = &r->w->s[r->stream];
		if (outcome == 0) {
			s->ok++;
			s->sum += lat;
			s->sumsq += lat * lat;
			if (s->nlat == s->cap) {
				s->cap = s->cap ? s->cap * 2 : 64;
				s->lat = mr_xrealloc(s->lat, s->cap, sizeof(double));
			}
			s->lat[s->nlat++] = lat;
			if (r->node >= 0) {
				s->node_ok[r->node]++;
				s->node_sum[r->node] += lat;
			}
		} else if (outcome == 1) {
			s->refused++;
		} else {
			s->failed++;
		}
		r->w->pending--;
	}
	raw_record(g, r, r->intended + lat, status, rc);
	req_release(g, r);
	pump(g, now);
}

static void reap(tc_engine *g)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(g->m, &left)))
		if (msg->msg == CURLMSG_DONE) {
			tc_req *r;
			long status = 0;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &r);
			curl_easy_getinfo(msg->easy_handle,
					  CURLINFO_RESPONSE_CODE, &status);
			finish(g, r, msg->data.result, status, mr_now());
		}
}

/* Finds the window holding time t (windows are few: a short scan). */
static tc_window *window_at(tc_engine *g, double t)
{
	for (tc_window *w = g->head; w; w = w->next)
		if (t >= w->t0 && t < w->t1 && w->tag == g->cur_tag &&
		    w->index >= 0)
			return w;
	return NULL;
}

/* A request that ran out of time before it could be sent: a drop. */
static void expire(tc_engine *g, tc_req *r, double now)
{
	g->expired++;
	g->failed_n++;
	if (r->w)
		r->w->pending--, r->w->s[r->stream].failed++;
	raw_record(g, r, now, 0, CURLE_OPERATION_TIMEDOUT);
	req_put(g, r);
}

/* Hands r to curl with what is left of its time, or drops it when none is
 * left. A pooled handle keeps its URL and headers from its last request:
 * setting them again would copy and parse the URL for nothing. */
static void start(tc_engine *g, tc_req *r, double now)
{
	long left_ms = (long)((g->o.timeout - (now - r->intended)) * 1000);
	if (left_ms < 1) {
		expire(g, r, now);
		return;
	}
	if (g->http) {
		tc_http_send(g->http, r, r->stream, r->intended + g->o.timeout);
		active_add(g, r);
		return;
	}
	tc_easy *ez = easy_get(g);
	CURLMcode mc = CURLM_OUT_OF_MEMORY;
	if (ez) {
		CURL *h = ez->h;
		curl_easy_setopt(h, CURLOPT_PRIVATE, r);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, left_ms);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
				 left_ms < 5000 ? left_ms : 5000L);
		if (ez->url_stream != r->stream) {
			curl_easy_setopt(h, CURLOPT_URL, g->urls[r->stream]);
			curl_easy_setopt(h, CURLOPT_HTTPHEADER,
					 g->hdrs[r->stream]);
			ez->url_stream = r->stream;
		}
		mc = curl_multi_add_handle(g->m, h);
	}
	if (mc != CURLM_OK) {
		/* the run stops with this error (else the callback's own) */
		if (!g->failed)
			g->failed = mr_errf(g->err, MR_EXIT_IO, "curl: %s",
					    ez ? curl_multi_strerror(mc)
					       : "curl_easy_init failed");
		if (ez)
			easy_put(g, ez);
		g->failed_n++;
		if (r->w)
			r->w->pending--, r->w->s[r->stream].failed++;
		req_put(g, r);
		return;
	}
	r->ez = ez;
	active_add(g, r);
}

/* Puts r back at the head of the wait line (it is the oldest). */
static void wait_front(tc_engine *g, tc_req *r)
{
	r->next_free = g->wait_head;
	g->wait_head = r;
	if (!g->wait_tail)
		g->wait_tail = r;
	g->nwait++;
}

/* The own sender's word on a request. One that was never answered because
 * its connection went away is sent again, once (as curl does on a reused
 * connection that turns out dead); pump starts it when one is free. */
static void http_done(void *ud, void *req, int code, long status, int node,
		      int retry, double t)
{
	tc_engine *g = ud;
	tc_req *r = req;
	if (retry && !r->retried) {
		r->retried = 1;
		active_remove(g, r);
		wait_front(g, r);
		return;
	}
	r->node = node;
	finish(g, r, code, status, t);
}

/* Sends what was handed to the sender. */
static void send_out(tc_engine *g)
{
	int running;
	if (g->http)
		tc_http_flush(g->http);
	else
		curl_multi_socket_action(g->m, CURL_SOCKET_TIMEOUT, 0,
					 &running);
}

/* When the oldest waiting request runs out of time (INFINITY: none). */
static double wait_due(const tc_engine *g)
{
	return g->wait_head ? g->wait_head->intended + g->o.timeout : INFINITY;
}

/* Drops waiting requests whose time is up (the line is in due order, so
 * they are at its head), then starts waiting requests while connections
 * are free. The connection limit is ours, not curl's
 * (CURLMOPT_MAX_TOTAL_CONNECTIONS): curl 7.88's queue of pending transfers
 * could stall under the multi socket interface. */
static void pump(tc_engine *g, double now)
{
	while (g->wait_head &&
	       (g->inflight < capacity(g) || wait_due(g) <= now)) {
		tc_req *r = g->wait_head;
		g->wait_head = r->next_free;
		if (!g->wait_head)
			g->wait_tail = NULL;
		g->nwait--;
		start(g, r, now); /* drops it when its time is up */
	}
}

static void launch(tc_engine *g, int stream, double intended, double now)
{
	tc_window *w = window_at(g, intended);
	double lateness = now - intended;
	g->late[late_bucket(lateness)]++;
	if (lateness > g->late_max)
		g->late_max = lateness;
	g->sent++;
	if (w)
		w->s[stream].sent++;
	if (g->inflight + g->nwait >= g->o.max_inflight) {
		/* the client cannot hold more: a drop, said in the summary */
		g->skipped++;
		g->failed_n++;
		if (w)
			w->s[stream].failed++;
		return;
	}
	tc_req *r = req_get(g);
	r->w = w;
	r->tag = g->cur_tag;
	r->stream = stream;
	r->intended = intended;
	r->node = -1;
	r->retried = 0;
	if (w)
		w->pending++;
	if (g->inflight < capacity(g)) {
		start(g, r, now);
		return;
	}
	/* every connection is busy: wait in line (latency runs meanwhile) */
	r->next_free = NULL;
	if (g->wait_tail)
		g->wait_tail->next_free = r;
	else
		g->wait_head = r;
	g->wait_tail = r;
	g->nwait++;
}

/* Counts windows in a row in which the target could not be reached (some
 * request failed to connect, none got an HTTP answer); 1 when there have
 * been --give-up of them (g->failed is then set). */
static int gave_up(tc_engine *g, const tc_window *w)
{
	if (w->answered)
		g->down_run = 0;
	else if (w->unreachable)
		g->down_run++; /* (a window without requests says nothing) */
	if (!g->o.give_up || g->down_run < g->o.give_up)
		return 0;
	g->failed = mr_errf(g->err, MR_EXIT_REMOTE,
			    "the target could not be reached in %d window(s) "
			    "in a row (%s); giving up (--give-up 0 keeps going)",
			    g->down_run, g->first_error);
	return 1;
}

/* Hands finished windows (end passed, no answer out) to the caller. */
static void deliver(tc_engine *g, double now, tc_window_cb cb, void *ud)
{
	/* a window is whole when its time is over, every request due in it
	 * has been launched (late ones too) and every answer is in */
	double upto = fmin(now, g->launched_upto);
	while (g->head && g->head->t1 <= upto && g->head->pending == 0) {
		tc_window *w = g->head;
		g->head = w->next;
		if (!g->head)
			g->tail = NULL;
		if (!g->failed && w->index >= 0 && gave_up(g, w)) {
			window_free(w);
			break;
		}
		if (!g->stop && !g->failed && cb && cb(ud, w) != 0)
			g->stop = 1;
		window_free(w);
	}
}

/* ------------------------------------------------------------------------
 * Event loop
 */

/* Acts on the events ev[0..n) of the engine's epoll set. */
static void handle_events(tc_engine *g, const struct epoll_event *ev, int n)
{
	int running;
	for (int i = 0; i < n; i++) {
		int fd = ev[i].data.fd;
		if (g->http && (ev[i].data.u64 & TC_HTTP_EVTAG)) {
			tc_http_event(g->http, ev[i].data.u64, ev[i].events);
		} else if (fd == g->sfd) {
			struct signalfd_siginfo si;
			if (read(fd, &si, sizeof si) > 0)
				g->stop = 2;
		} else if ((size_t)fd < g->nfds && g->fds[fd].idle) {
			/* an idle kept-alive connection spoke (closed): stop
			 * listening; curl notices when it next uses it */
			struct epoll_event q = {.events = 0, .data.fd = fd};
			epoll_ctl(g->ep, EPOLL_CTL_MOD, fd, &q);
			g->fds[fd].ev = 0;
		} else {
			int flags = (ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
				    (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
				    (ev[i].events & (EPOLLERR | EPOLLHUP)
					     ? CURL_CSELECT_ERR
					     : 0);
			curl_multi_socket_action(g->m, fd, flags, &running);
		}
	}
}

/* Takes in what the sockets have (after a deferred sleep: the own
 * sender's connections with requests out, read directly; more: events may
 * be waiting, read them without blocking), then lets the senders act on
 * timeouts and finished requests and start what waits in line. */
static void collect(tc_engine *g, int more)
{
	struct epoll_event ev[POLL_EVENTS];
	if (g->deferred) {
		tc_http_collect(g->http); /* only the own sender defers */
		/* now and then the whole set too: an idle connection the
		 * server closed is then seen before it is used again */
		double now = mr_now();
		if (now >= g->next_sweep) {
			g->next_sweep = now + SWEEP_EVERY;
			more = 1;
		}
	}
	while (more) {
		int n = epoll_wait(g->ep, ev, POLL_EVENTS, 0);
		handle_events(g, ev, n);
		more = n == POLL_EVENTS;
	}
	g->deferred = 0;
	int running;
	if (g->http) {
		tc_http_expire(g->http, mr_now());
	} else if (mr_now() >= g->curl_due) {
		g->curl_due = INFINITY; /* curl sets the next one */
		curl_multi_socket_action(g->m, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	reap(g);
	pump(g, mr_now()); /* waiting requests whose time ran out */
	if (g->http)
		tc_http_flush(g->http); /* what answers made room for */
}

/* May answers wait until the sends due in d seconds have gone out? With
 * the own sender (it keeps each answer's receive time) when the next
 * wake-up is near, nothing waits in line for a connection and no connect
 * or write is under way: then wake-ups are one per send tick, not one per
 * answer. */
static int may_defer(const tc_engine *g, double d)
{
	return g->http && d <= DEFER_MAX && g->nwait == 0 &&
	       !tc_http_busy(g->http);
}

/* Sleeps until wake (absolute; INFINITY: until an event), with nanosecond
 * resolution, and acts on what came. With defer (and may_defer), only a
 * signal ends the sleep early and the sockets are read by collect after
 * the next sends. */
static void poll_once(tc_engine *g, double wake, int defer)
{
	struct epoll_event ev[POLL_EVENTS];
	double now = mr_now();
	double until = fmin(wake, g->http ? tc_http_next_deadline(g->http)
					   : g->curl_due);
	struct timespec ts, *tsp = NULL;
	double d = until - now;
	if (isfinite(until)) {
		if (d < 0)
			d = 0;
		ts.tv_sec = (time_t)d;
		ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
		tsp = &ts;
	}
	if (defer && may_defer(g, d)) {
		if (d > 0 && epoll_pwait2(g->ep_sleep, ev, 1, tsp, NULL) > 0)
			handle_events(g, ev, 1); /* the signal */
		g->deferred = 1;
		return;
	}
	int n = epoll_pwait2(g->ep, ev, POLL_EVENTS, tsp, NULL);
	handle_events(g, ev, n);
	collect(g, n == POLL_EVENTS);
}

/* The end of the send tick holding t (ticks counted from t0): the loop
 * sleeps until then and sends everything due by then in one go. A due time
 * on a tick's end belongs to that tick: constant rates put one there every
 * few sends, and without the tolerance the rounding of t - t0 (absolute
 * clock values) pushed half of them a whole tick late. */
static double tick_end(const tc_engine *g, double t0, double t)
{
	if (g->o.tick <= 0 || !isfinite(t))
		return t;
	return t0 + ceil((t - t0) / g->o.tick - 1e-6) * g->o.tick;
}

int tc_engine_run(tc_engine *g, tc_segment *seg, tc_window_cb cb, void *ud,
		  mr_err *e)
{
	g->err = e;
	g->cur_tag = seg->tag;
	double T0 = mr_now();
	if (g->t_start == 0) {
		g->t_start = T0;
		getrusage(RUSAGE_SELF, &g->ru0);
	}
	double ws = T0 + seg->settle;
	double send_end = seg->nwin >= 0 ? ws + (double)seg->nwin * seg->window
					 : INFINITY;
	double next[TC_MAX_STREAMS];
	for (size_t i = 0; i < g->n; i++) {
		tc_pattern_start(&seg->pats[i], g->o.seed,
				 MR_STREAM_ARRIVALS_BASE +
					 (uint64_t)g->segments * TC_MAX_STREAMS +
					 i);
		next[i] = T0 + tc_pattern_next(&seg->pats[i]);
	}
	if (seg->nwin < 0) {
		/* until every pattern has ended (never, without rate files) */
		send_end = T0;
		for (size_t i = 0; i < g->n; i++)
			send_end = fmax(send_end,
					T0 + tc_pattern_end(&seg->pats[i]));
	}
	g->segments++;
	int64_t k_next = 0; /* next window to open */
	while (!g->stop && !g->failed) {
		double now = mr_now();
		/* open windows whose start has come */
		while (ws + (double)k_next * seg->window <= now &&
		       (seg->nwin < 0 || k_next < seg->nwin) &&
		       ws + (double)k_next * seg->window < send_end) {
			tc_window *w = mr_xcalloc(1, sizeof *w);
			w->index = k_next;
			w->t0 = ws + (double)k_next * seg->window;
			w->t1 = fmin(w->t0 + seg->window, send_end);
			w->tag = seg->tag;
			w->last = seg->nwin >= 0 && k_next == seg->nwin - 1;
			memcpy(w->cfg, seg->cfg, sizeof w->cfg);
			if (seg->on_open)
				seg->on_open(seg->open_ud, w);
			for (size_t i = 0; i < g->n; i++)
				w->target[i] = tc_pattern_mean(
					&seg->pats[i], w->t0 - T0, w->t1 - T0);
			if (g->tail)
				g->tail->next = w;
			else
				g->head = w;
			g->tail = w;
			k_next++;
		}
		/* launch what is due, oldest first (after the end too: what was
		 * due before it, in the last tick or while we slept) */
		int launched = 0;
		while (launched < SEND_BATCH) {
			size_t best = 0;
			for (size_t i = 1; i < g->n; i++)
				if (next[i] < next[best])
					best = i;
			if (next[best] > now || next[best] >= send_end)
				break;
			launch(g, (int)best, next[best], now);
			next[best] = T0 + tc_pattern_next(&seg->pats[best]);
			launched++;
		}
		g->launched_upto = send_end;
		for (size_t i = 0; i < g->n; i++)
			g->launched_upto = fmin(g->launched_upto, next[i]);
		if (launched)
			send_out(g);
		if (g->deferred)
			collect(g, 0); /* the answers since the last sends */
		reap(g);
		deliver(g, now, cb, ud);
		if (now >= send_end && launched < SEND_BATCH)
			break;
		if (launched == SEND_BATCH) {
			/* behind schedule: look at sockets, then go on */
			poll_once(g, now, 0);
			continue;
		}
		double wake = send_end;
		for (size_t i = 0; i < g->n; i++)
			wake = fmin(wake, tick_end(g, T0, next[i]));
		if (seg->nwin < 0 || k_next < seg->nwin)
			wake = fmin(wake, ws + (double)k_next * seg->window);
		if (g->head && g->head->pending == 0 && g->head->t1 > now)
			wake = fmin(wake, g->head->t1);
		poll_once(g, fmin(wake, wait_due(g)), 1);
	}
	g->launched_upto = INFINITY; /* this segment sends no more */
	double stop_t = fmin(mr_now(), send_end);
	g->send_time += stop_t - T0;
	for (size_t i = 0; i < g->n; i++)
		g->expected += tc_pattern_mean(&seg->pats[i], 0, stop_t - T0) *
			       (stop_t - T0);
	if (g->failed)
		return -1;
	return g->stop ? 1 : 0;
}

int tc_engine_drain(tc_engine *g, tc_window_cb cb, void *ud, int discard,
		    mr_err *e)
{
	g->err = e;
	if (discard) {
		/* abandon what is out: those windows are incomplete */
		while (g->wait_head) {
			tc_req *r = g->wait_head;
			g->wait_head = r->next_free;
			r->next_free = g->free_reqs;
			g->free_reqs = r;
		}
		g->wait_tail = NULL;
		g->nwait = 0;
		if (g->http)
			tc_http_abandon(g->http);
		while (g->active)
			req_release(g, g->active);
		while (g->head) {
			tc_window *w = g->head;
			g->head = w->next;
			window_free(w);
		}
		g->tail = NULL;
		return 0;
	}
	int stop_before = g->stop;
	g->launched_upto = INFINITY;
	while (g->head || g->inflight || g->nwait) {
		double now = mr_now();
		deliver(g, now, cb, ud);
		if (!g->head && !g->inflight && !g->nwait)
			break;
		if (g->failed)
			return -1;
		if (g->stop && g->stop != stop_before)
			return 1; /* interrupted while draining */
		poll_once(g, fmin(wait_due(g), g->head && g->head->pending == 0
						       ? g->head->t1
						       : INFINITY), 0);
	}
	return g->failed ? -1 : 0;
}

/* ------------------------------------------------------------------------
 * Setup
 */
/* Our own sender, where the options and the URL let it (tc_http.h). */
static int own_sender(tc_engine *g, mr_err *e)
{
	if (g->o.sender == TC_SENDER_CURL ||
	    (g->o.sender == TC_SENDER_AUTO && !tc_http_url_ok(g->urls[0])))
		return 0;
	if (!tc_http_url_ok(g->urls[0]))
		return mr_errf(e, MR_EXIT_USAGE, "%s: the own sender takes "
			       "plain http:// URLs only (--sender curl)",
			       g->o.url);
	char lines[TC_MAX_STREAMS][64];
	const char *urls[TC_MAX_STREAMS], *hdrs[TC_MAX_STREAMS];
	for (size_t i = 0; i < g->n; i++) {
		urls[i] = g->urls[i];
		hdrs[i] = NULL;
		if (g->streams[i].cls >= 0) {
			snprintf(lines[i], sizeof lines[i], "%s: %s",
				 MESH_CLASS_HEADER,
				 mesh_class_names[g->streams[i].cls]);
			hdrs[i] = lines[i];
		}
	}
	g->http = tc_http_new(urls, hdrs, g->n, g->conns,
			      g->o.pipeline > 0 ? g->o.pipeline : TC_PIPELINE,
			      g->ep, http_done, g, e);
	return g->http ? 0 : -1;
}

tc_engine *tc_engine_new(const tc_engine_opts *o, const tc_stream *streams,
			 size_t n, mr_err *e)
{
	if (n == 0 || n > TC_MAX_STREAMS)
		return mr_errf(e, MR_EXIT_USAGE, "need 1..%d streams",
			       TC_MAX_STREAMS),
		       NULL;
	tc_engine *g = mr_xcalloc(1, sizeof *g);
	g->o = *o;
	g->n = n;
	g->ep = g->sfd = g->ep_sleep = -1;
	g->curl_due = INFINITY;
	g->launched_upto = INFINITY;
	memcpy(g->streams, streams, n * sizeof *streams);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(o->url) + strlen(streams[i].service) + 2;
		g->urls[i] = mr_xcalloc(len, 1);
		const char *sep = o->url[strlen(o->url) - 1] == '/' ? "" : "/";
		snprintf(g->urls[i], len, "%s%s%s", o->url, sep,
			 streams[i].service);
		if (streams[i].cls >= 0) {
			char h[64];
			snprintf(h, sizeof h, "%s: %s", MESH_CLASS_HEADER,
				 mesh_class_names[streams[i].cls]);
			if (!(g->hdrs[i] = curl_slist_append(NULL, h))) {
				mr_errf(e, MR_EXIT_IO, "out of memory");
				tc_engine_free(g);
				return NULL;
			}
		}
	}
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGTERM);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	g->ep = epoll_create1(EPOLL_CLOEXEC);
	g->ep_sleep = epoll_create1(EPOLL_CLOEXEC);
	g->sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
	if (g->ep < 0 || g->ep_sleep < 0 || g->sfd < 0) {
		mr_errf(e, MR_EXIT_IO, "epoll/signalfd: %s", strerror(errno));
		tc_engine_free(g);
		return NULL;
	}
	struct epoll_event sev = {.events = EPOLLIN};
	sev.data.u64 = (uint64_t)g->sfd; /* no sender's tag bit */
	if (epoll_ctl(g->ep, EPOLL_CTL_ADD, g->sfd, &sev) != 0 ||
	    epoll_ctl(g->ep_sleep, EPOLL_CTL_ADD, g->sfd, &sev) != 0) {
		mr_errf(e, MR_EXIT_IO, "epoll_ctl: %s", strerror(errno));
		tc_engine_free(g);
		return NULL;
	}
	if (!(g->m = curl_multi_init())) {
		tc_engine_free(g);
		return mr_errf(e, MR_EXIT_IO, "curl_multi_init failed"), NULL;
	}
	curl_multi_setopt(g->m, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(g->m, CURLMOPT_SOCKETDATA, g);
	curl_multi_setopt(g->m, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(g->m, CURLMOPT_TIMERDATA, g);
	/* A bounded set of connections, all kept alive for reuse: when the
	 * server falls behind, requests queue (and show it in their latency)
	 * instead of opening ever more connections and collapsing. */
	g->conns = o->connections > 0 ? o->connections : 256;
	curl_multi_setopt(g->m, CURLMOPT_MAXCONNECTS, g->conns);
	if (own_sender(g, e) != 0) {
		tc_engine_free(g);
		return NULL;
	}
	/* sleeps end at the tick, not up to 50 us later (the default
	 * timer slack): lateness */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	if (o->rawlog) {
		msgpack_sbuffer_init(&g->sb);
		msgpack_packer_init(&g->pk, &g->sb, msgpack_sbuffer_write);
		msgpack_pack_map(&g->pk, 4);
		mr_pk_kv_str(&g->pk, "format", "meshrl-reqlog");
		mr_pk_kv_i64(&g->pk, "version", 1);
		static char *const fields[] = {
			"stream", "tag", "window", "intended_s", "latency_s",
			"status", "curl_code", "node", "reserved"};
		mr_pk_kv_strs(&g->pk, "fields", fields, 9);
		char *names[TC_MAX_STREAMS];
		for (size_t i = 0; i < n; i++)
			names[i] = g->urls[i];
		mr_pk_kv_strs(&g->pk, "streams", names, n);
	}
	return g;
}

void tc_engine_summary(tc_engine *g, FILE *f)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)(ru.ru_utime.tv_sec - g->ru0.ru_utime.tv_sec) +
		     (double)(ru.ru_stime.tv_sec - g->ru0.ru_stime.tv_sec) +
		     (double)(ru.ru_utime.tv_usec - g->ru0.ru_utime.tv_usec) * 1e-6 +
		     (double)(ru.ru_stime.tv_usec - g->ru0.ru_stime.tv_usec) * 1e-6;
	double dur = g->send_time > 0 ? g->send_time : 1e-9;
	fprintf(f,
		"trace-collect: summary duration_s=%.3f target_rate=%.1f "
		"achieved_rate=%.1f sent=%llu ok=%llu refused=%llu failed=%llu "
		"skipped=%llu late_p50_us=%.0f late_p99_us=%.0f "
		"late_max_us=%.0f cpu_us_per_req=%.2f expired=%llu sender=%s\n",
		g->send_time, g->expected / dur, (double)g->sent / dur,
		(unsigned long long)g->sent, (unsigned long long)g->ok,
		(unsigned long long)g->refused, (unsigned long long)g->failed_n,
		(unsigned long long)g->skipped, late_pct(g, 0.5),
		late_pct(g, 0.99), g->late_max * 1e6,
		g->sent ? cpu * 1e6 / (double)g->sent : 0,
		(unsigned long long)g->expired, g->http ? "own" : "curl");
}

void tc_engine_counts(const tc_engine *g, uint64_t *sent, uint64_t *ok,
		      const char **first_error)
{
	*sent = g->sent;
	*ok = g->ok;
	*first_error = g->first_error;
}

size_t tc_engine_outstanding(const tc_engine *g)
{
	return g->inflight + g->nwait;
}

uint64_t tc_engine_settle_take(tc_engine *g, double *mean)
{
	uint64_t n = g->settle_n;
	*mean = n ? g->settle_sum / (double)n : 0;
	g->settle_n = 0;
	g->settle_sum = 0;
	return n;
}

void tc_engine_free(tc_engine *g)
{
	if (!g)
		return;
	if (g->m) {
		mr_err e;
		tc_engine_drain(g, NULL, NULL, 1, &e);
	}
	tc_http_free(g->http);
	while (g->free_reqs) {
		tc_req *r = g->free_reqs;
		g->free_reqs = r->next_free;
		free(r);
	}
	while (g->free_easy) {
		tc_easy *ez = g->free_easy;
		g->free_easy = ez->next_free;
		curl_easy_cleanup(ez->h);
		free(ez);
	}
	if (g->m)
		curl_multi_cleanup(g->m);
	if (g->o.rawlog) {
		if (g->sb.size &&
		    fwrite(g->sb.data, 1, g->sb.size, g->o.rawlog) != g->sb.size)
			fprintf(stderr, "trace-collect: raw log: write failed\n");
		msgpack_sbuffer_destroy(&g->sb);
	}
	for (size_t i = 0; i < g->n; i++) {
		free(g->urls[i]);
		curl_slist_free_all(g->hdrs[i]);
	}
	int fds[3] = {g->ep, g->ep_sleep, g->sfd};
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(g->fds);
	free(g);
}
