/*
 * tc_http.c - trace-collect's HTTP/1.1 load sender (see tc_http.h).
 *
 * Per connection: a ring of the requests out (oldest first, answers come
 * in that order), the request bytes not yet written, and the bytes read
 * but not yet parsed. A request costs a memcpy of its prepared text;
 * the requests queued on one connection within a send tick go out in one
 * send(), and one recvmsg() takes every answer that has arrived, with the
 * kernel's receive time of its last segment (SO_TIMESTAMPNS): the engine
 * may read answers at its next send tick rather than wake for each, and
 * their latency still ends when they came. Sockets stay in the epoll set
 * for their life: EPOLLIN always, EPOLLOUT only while a connect or a write
 * is pending.
 *
 * Outcomes are queued and handed to the caller once the sender's state is
 * consistent again (the caller's callback may send at once).
 */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "meshapi.h"
#include "tc_http.h"

#define LINE_MAX_LEN 4096 /* longest status, header or chunk-size line */
#define IN_CAP 16384      /* > LINE_MAX_LEN: a partial line always fits */

enum { ST_STATUS, ST_HEADER, ST_BODY_LEN, ST_CHUNK_SIZE, ST_CHUNK_DATA,
       ST_CHUNK_END, ST_TRAILER, ST_BODY_EOF };

/* ------------------------------------------------------------------------
 * Parser
 */
void tc_http_resp_init(tc_http_resp *p)
{
	memset(p, 0, sizeof *p);
	p->state = ST_STATUS;
	p->node = -1;
}

int tc_served_node(const char *v, size_t len)
{
	for (int j = 0; j < MESH_NNODES; j++) {
		size_t n = strlen(mesh_node_names[j]);
		if (len >= n && strncmp(v, mesh_node_names[j], n) == 0)
			return j;
	}
	return -1;
}

static int bad(tc_http_resp *p, const char *why)
{
	p->why = why;
	return TC_HTTP_BAD;
}

/* Does the header value v[0..n) hold tok (case-insensitive)? */
static int has_token(const char *v, size_t n, const char *tok)
{
	size_t t = strlen(tok);
	for (size_t i = 0; i + t <= n; i++)
		if (strncasecmp(v + i, tok, t) == 0)
			return 1;
	return 0;
}

/* "HTTP/1.x SSS[ reason]" */
static int parse_status(tc_http_resp *p, const char *s, size_t n)
{
	if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 ||
	    (s[7] != '0' && s[7] != '1') || s[8] != ' ')
		return bad(p, "bad status line");
	long st = 0;
	for (int i = 9; i < 12; i++) {
		if (s[i] < '0' || s[i] > '9')
			return bad(p, "bad status code");
		st = st * 10 + (s[i] - '0');
	}
	if (st < 100 || (n > 12 && s[12] != ' '))
		return bad(p, "bad status code");
	p->status = st;
	p->keep_alive = s[7] == '1';
	p->left = -1; /* no Content-Length yet */
	p->state = ST_HEADER;
	return TC_HTTP_MORE;
}

static int parse_length(tc_http_resp *p, const char *v, size_t n)
{
	long long x = 0;
	size_t i = 0;
	for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
		if (x > (1LL << 50))
			return bad(p, "Content-Length too large");
		x = x * 10 + (v[i] - '0');
	}
	if (i == 0 || i != n)
		return bad(p, "bad Content-Length");
	p->left = x;
	return TC_HTTP_MORE;
}

/* One header line (not empty). */
static int parse_header(tc_http_resp *p, const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	if (!colon || colon == s)
		return bad(p, "header line without a name");
	size_t nl = (size_t)(colon - s);
	const char *v = colon + 1, *end = s + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t vl = (size_t)(end - v);
#define IS(name) (nl == sizeof name - 1 && strncasecmp(s, name, nl) == 0)
	if (IS("Content-Length"))
		return parse_length(p, v, vl);
	if (IS("Transfer-Encoding"))
		p->chunked = has_token(v, vl, "chunked");
	else if (IS("Connection") && has_token(v, vl, "close"))
		p->keep_alive = 0;
	else if (IS("Connection") && has_token(v, vl, "keep-alive"))
		p->keep_alive = 1;
	else if (IS(MESH_SERVED_HEADER))
		p->node = tc_served_node(v, vl);
#undef IS
	return TC_HTTP_MORE;
}

/* The empty line after the headers: where the body ends. */
static int end_headers(tc_http_resp *p)
{
	if (p->status < 200) { /* 1xx: the answer follows */
		int keep = p->keep_alive;
		tc_http_resp_init(p);
		p->keep_alive = keep;
		return TC_HTTP_MORE;
	}
	if (p->status == 204 || p->status == 304)
		return TC_HTTP_DONE;
	if (p->chunked) {
		p->state = ST_CHUNK_SIZE;
		return TC_HTTP_MORE;
	}
	if (p->left == 0)
		return TC_HTTP_DONE;
	if (p->left > 0) {
		p->state = ST_BODY_LEN;
		return TC_HTTP_MORE;
	}
	p->state = ST_BODY_EOF; /* until the server closes */
	p->keep_alive = 0;
	return TC_HTTP_MORE;
}

static int parse_chunk_size(tc_http_resp *p, const char *s, size_t n)
{
	long long x = 0;
	size_t i = 0;
	for (; i < n; i++) {
		int c = s[i], d = c >= '0' && c <= '9'	 ? c - '0'
				  : c >= 'a' && c <= 'f' ? c - 'a' + 10
				  : c >= 'A' && c <= 'F' ? c - 'A' + 10
							 : -1;
		if (d < 0)
			break;
		if (x > (1LL << 50))
			return bad(p, "chunk too large");
		x = x * 16 + d;
	}
	if (i == 0 || (i < n && s[i] != ';' && s[i] != ' ' && s[i] != '\t'))
		return bad(p, "bad chunk size");
	p->left = x;
	p->state = x ? ST_CHUNK_DATA : ST_TRAILER;
	return TC_HTTP_MORE;
}

/* One complete line s[0..n) (CRLF removed) in state p->state. */
static int parse_line(tc_http_resp *p, const char *s, size_t n)
{
	switch (p->state) {
	case ST_STATUS:
		return parse_status(p, s, n);
	case ST_HEADER:
		return n ? parse_header(p, s, n) : end_headers(p);
	case ST_CHUNK_SIZE:
		return parse_chunk_size(p, s, n);
	case ST_CHUNK_END:
		if (n)
			return bad(p, "chunk longer than its size");
		p->state = ST_CHUNK_SIZE;
		return TC_HTTP_MORE;
	default: /* ST_TRAILER */
		return n ? TC_HTTP_MORE : TC_HTTP_DONE;
	}
}

/* Body bytes: how many of buf[0..len) belong to the body. */
static size_t body_bytes(tc_http_resp *p, size_t len, int *rc)
{
	*rc = TC_HTTP_MORE;
	if (p->state == ST_BODY_EOF)
		return len;
	size_t k = (unsigned long long)p->left < len ? (size_t)p->left : len;
	p->left -= (long long)k;
	if (p->left == 0) {
		if (p->state == ST_CHUNK_DATA)
			p->state = ST_CHUNK_END;
		else
			*rc = TC_HTTP_DONE;
	}
	return k;
}

int tc_http_parse(tc_http_resp *p, const char *buf, size_t len, size_t *used)
{
	size_t pos = 0;
	int rc = TC_HTTP_MORE;
	while (rc == TC_HTTP_MORE && pos < len) {
		if (p->state == ST_BODY_LEN || p->state == ST_CHUNK_DATA ||
		    p->state == ST_BODY_EOF) {
			pos += body_bytes(p, len - pos, &rc);
			continue;
		}
		const char *nl = memchr(buf + pos, '\n', len - pos);
		if (!nl) {
			if (len - pos > LINE_MAX_LEN)
				rc = bad(p, "line too long");
			break; /* the partial line stays unconsumed */
		}
		size_t n = (size_t)(nl - (buf + pos));
		if (n > LINE_MAX_LEN)
			rc = bad(p, "line too long");
		else
			rc = parse_line(p, buf + pos,
					n && nl[-1] == '\r' ? n - 1 : n);
		pos += n + 1;
	}
	*used = pos;
	return rc;
}

int tc_http_eof(tc_http_resp *p)
{
	if (p->state == ST_BODY_EOF)
		return TC_HTTP_DONE;
	return bad(p, p->status ? "connection closed mid-answer"
				: "connection closed before an answer");
}

/* ------------------------------------------------------------------------
 * Sender state
 */
typedef struct {
	void *req;
	double deadline;
} slot;

typedef struct {
	int fd;           /* -1: closed */
	int connecting;   /* connect() in progress */
	uint32_t ev;      /* events registered; 0: not in the epoll set */
	uint32_t gen;     /* socket generation: in each event's data */
	int dirty;        /* on the flush list */
	slot *ring;       /* depth slots */
	int head, n;
	char *out;        /* request bytes not yet written: out[ooff..olen) */
	size_t olen, ooff;
	tc_http_resp resp; /* the answer to ring[head], in progress */
	size_t ilen;
	char *in;         /* IN_CAP bytes, from the first connect on */
} conn;

typedef struct {
	void *req;
	int code, node, retry;
	long status;
	double t;
} outcome;

struct tc_http {
	int ep, depth;
	int pipeline;        /* more than one request out per connection: once
				an answer said the connection stays open */
	int closes;          /* an answer closed its connection: never again */
	long nconns;
	conn *c;
	long *idle, nidle;   /* connections with nothing out, last used last */
	long *dirty, ndirty; /* connections with requests to write */
	long cur;            /* connection being filled this tick, -1 */
	char **text;         /* request text per target */
	size_t *tlen, ntargets, maxlen;
	int resolved;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	tc_http_done_fn done;
	void *ud;
	outcome *q;
	size_t qn, qcap, qhead;
	int delivering;
};

/* An outcome at time t (answers: their receive time). */
static void queue_at(tc_http *h, void *req, int code, long status, int node,
		     int retry, double t)
{
	if (h->qn == h->qcap) {
		h->qcap = h->qcap ? h->qcap * 2 : 64;
		h->q = mr_xrealloc(h->q, h->qcap, sizeof *h->q);
	}
	h->q[h->qn++] = (outcome){req, code, node, retry, status, t};
}

/* An outcome known now (no answer's time to keep). */
static void queue_outcome(tc_http *h, void *req, int code, long status,
			  int node, int retry)
{
	queue_at(h, req, code, status, node, retry, mr_now());
}

/* Hands queued outcomes over; those queued meanwhile too. */
static void deliver(tc_http *h)
{
	if (h->delivering)
		return;
	h->delivering = 1;
	while (h->qhead < h->qn) {
		outcome o = h->q[h->qhead++];
		h->done(h->ud, o.req, o.code, o.status, o.node, o.retry,
			o.t);
	}
	h->qn = h->qhead = 0;
	h->delivering = 0;
}

static slot ring_pop(conn *c, int depth)
{
	slot s = c->ring[c->head];
	c->head = (c->head + 1) % depth;
	c->n--;
	return s;
}

/* Closes connection ci. Its first request ends with code (retry as
 * given), the ones behind it were never answered: retry. */
static void conn_close(tc_http *h, long ci, int code, long status, int node,
		       int retry)
{
	conn *c = &h->c[ci];
	if (c->fd >= 0)
		close(c->fd); /* leaves the epoll set with it */
	c->fd = -1;
	c->connecting = 0;
	c->ev = 0;
	c->olen = c->ooff = c->ilen = 0;
	tc_http_resp_init(&c->resp);
	if (!c->n)
		return; /* already on the idle stack */
	slot s = ring_pop(c, h->depth);
	queue_outcome(h, s.req, code, status, node, retry);
	while (c->n) {
		s = ring_pop(c, h->depth);
		queue_outcome(h, s.req, CURLE_GOT_NOTHING, 0, -1, 1);
	}
	c->head = 0;
	h->idle[h->nidle++] = ci;
}

/* Every request on ci failed to connect: no retry (curl's rule too). */
static void conn_refused(tc_http *h, long ci)
{
	conn *c = &h->c[ci];
	while (c->n > 1) { /* conn_close would offer the others a retry */
		slot s = ring_pop(c, h->depth);
		queue_outcome(h, s.req, CURLE_COULDNT_CONNECT, 0, -1, 0);
	}
	conn_close(h, ci, CURLE_COULDNT_CONNECT, 0, -1, 0);
}

static int set_events(tc_http *h, long ci, uint32_t want)
{
	conn *c = &h->c[ci];
	if (c->ev == want)
		return 0;
	struct epoll_event ev = {.events = want};
	ev.data.u64 = TC_HTTP_EVTAG | (uint64_t)(c->gen & 0xffff) << 24 |
		      (uint64_t)ci;
	if (epoll_ctl(h->ep, c->ev ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd,
		      &ev) != 0)
		return -1;
	c->ev = want;
	return 0;
}

/* Opens ci's socket and starts connecting; -1 when that failed at once. */
static int conn_open(tc_http *h, long ci)
{
	conn *c = &h->c[ci];
	c->gen++; /* events of the previous socket still queued are stale */
	if (!c->in)
		c->in = mr_xcalloc(1, IN_CAP);
	c->fd = socket(h->addr.ss_family,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	/* answers keep their arrival time however late they are read (if
	 * this fails, the time they are read: as precise as a wake-up) */
	setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
	int rc = connect(c->fd, (struct sockaddr *)&h->addr, h->addrlen);
	if (rc != 0 && errno != EINPROGRESS)
		return -1;
	c->connecting = rc != 0;
	return set_events(h, ci, EPOLLIN | (c->connecting ? EPOLLOUT : 0));
}

/* Writes what ci has pending; on an error the requests may be retried. */
static void write_out(tc_http *h, long ci)
{
	conn *c = &h->c[ci];
	while (c->ooff < c->olen) {
		ssize_t k = send(c->fd, c->out + c->ooff, c->olen - c->ooff,
				 MSG_NOSIGNAL);
		if (k > 0) {
			c->ooff += (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		conn_close(h, ci, CURLE_SEND_ERROR, 0, -1, 1);
		return;
	}
	if (c->ooff == c->olen)
		c->olen = c->ooff = 0;
	if (set_events(h, ci, EPOLLIN | (c->olen ? EPOLLOUT : 0)) != 0)
		conn_close(h, ci, CURLE_SEND_ERROR, 0, -1, 1);
}

/* Parses what ci has read, the last of it received at t: each whole
 * answer ends its request. Returns 0, or -1 when the connection was
 * closed. */
static int parse_in(tc_http *h, long ci, double t)
{
	conn *c = &h->c[ci];
	size_t pos = 0;
	while (pos < c->ilen) {
		if (!c->n) { /* bytes nobody asked for */
			conn_close(h, ci, 0, 0, -1, 0);
			return -1;
		}
		size_t used;
		int rc = tc_http_parse(&c->resp, c->in + pos, c->ilen - pos,
				       &used);
		pos += used;
		if (rc == TC_HTTP_BAD) {
			conn_close(h, ci, CURLE_WEIRD_SERVER_REPLY,
				   c->resp.status, -1, 0);
			return -1;
		}
		if (rc == TC_HTTP_MORE)
			break;
		tc_http_resp r = c->resp;
		slot s = ring_pop(c, h->depth);
		queue_at(h, s.req, CURLE_OK, r.status, r.node, 0, t);
		tc_http_resp_init(&c->resp);
		if (!c->n)
			h->idle[h->nidle++] = ci;
		if (!r.keep_alive) {
			h->pipeline = 0; /* it closes: one request at a time */
			h->closes = 1;
			conn_close(h, ci, CURLE_GOT_NOTHING, 0, -1, 1);
			return -1;
		}
		h->pipeline = h->depth > 1 && !h->closes;
	}
	memmove(c->in, c->in + pos, c->ilen - pos);
	c->ilen -= pos;
	return 0;
}

/* The server closed ci (code CURLE_OK) or it failed (another code). */
static void conn_eof(tc_http *h, long ci, int code)
{
	conn *c = &h->c[ci];
	if (!c->n) {
		conn_close(h, ci, 0, 0, -1, 0);
		return;
	}
	tc_http_resp *p = &c->resp;
	int started = p->status > 0 || c->ilen > 0 || p->state != ST_STATUS;
	if (code == CURLE_OK && tc_http_eof(p) == TC_HTTP_DONE) {
		h->pipeline = 0; /* its answers end at close: one at a time */
		h->closes = 1;
		conn_close(h, ci, CURLE_OK, p->status, p->node, 0);
	} else if (started)
		conn_close(h, ci, code == CURLE_OK ? CURLE_PARTIAL_FILE : code,
			   p->status, -1, 0);
	else /* nothing came back: maybe a kept-alive connection timed out */
		conn_close(h, ci, code == CURLE_OK ? CURLE_GOT_NOTHING : code,
			   0, -1, 1);
}

double tc_rx_time(const struct msghdr *mh, double now)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm;
	     cm = CMSG_NXTHDR((struct msghdr *)mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_TIMESTAMPNS ||
		    cm->cmsg_len < CMSG_LEN(sizeof(struct timespec)))
			continue;
		struct timespec rx, real;
		memcpy(&rx, CMSG_DATA(cm), sizeof rx);
		if (clock_gettime(CLOCK_REALTIME, &real) != 0)
			return now;
		double age = (double)(real.tv_sec - rx.tv_sec) +
			     (double)(real.tv_nsec - rx.tv_nsec) * 1e-9;
		return age > 0 ? now - age : now;
	}
	return now;
}

/* Reads what has come on ci: a recvmsg with the receive timestamp. */
static void read_in(tc_http *h, long ci)
{
	conn *c = &h->c[ci];
	for (;;) {
		size_t room = IN_CAP - c->ilen;
		union {
			char buf[CMSG_SPACE(sizeof(struct timespec))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = {.iov_base = c->in + c->ilen,
				    .iov_len = room};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = ctl.buf,
				    .msg_controllen = sizeof ctl.buf};
		ssize_t k = recvmsg(c->fd, &mh, 0);
		if (k > 0) {
			c->ilen += (size_t)k;
			if (parse_in(h, ci, tc_rx_time(&mh, mr_now())) != 0 ||
			    (size_t)k < room)
				return;
		} else if (k == 0) {
			conn_eof(h, ci, CURLE_OK);
			return;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return;
		} else if (errno != EINTR) {
			conn_eof(h, ci, CURLE_RECV_ERROR);
			return;
		}
	}
}

/* A connection for one more request: the one being filled this tick
 * (pipelining), an idle one, or any with room. -1: none (the caller
 * broke the capacity rule). */
static long pick(tc_http *h)
{
	int depth = h->pipeline ? h->depth : 1;
	if (h->cur >= 0 && h->c[h->cur].n > 0 && h->c[h->cur].n < depth)
		return h->cur;
	if (h->nidle)
		return h->idle[--h->nidle];
	for (long i = 0; i < h->nconns; i++)
		if (h->c[i].n < depth)
			return i;
	return -1;
}

void tc_http_send(tc_http *h, void *req, int target, double deadline)
{
	if (!h->resolved) {
		queue_outcome(h, req, CURLE_COULDNT_RESOLVE_HOST, 0, -1, 0);
		return;
	}
	long ci = pick(h);
	if (ci < 0) {
		queue_outcome(h, req, CURLE_SEND_ERROR, 0, -1, 0);
		return;
	}
	conn *c = &h->c[ci];
	c->ring[(c->head + c->n) % h->depth] = (slot){req, deadline};
	c->n++;
	if (c->fd < 0 && conn_open(h, ci) != 0) {
		conn_refused(h, ci);
		return;
	}
	if (c->ooff) {
		memmove(c->out, c->out + c->ooff, c->olen - c->ooff);
		c->olen -= c->ooff;
		c->ooff = 0;
	}
	memcpy(c->out + c->olen, h->text[target], h->tlen[target]);
	c->olen += h->tlen[target];
	if (!c->dirty) {
		c->dirty = 1;
		h->dirty[h->ndirty++] = ci;
	}
	h->cur = ci;
}

/* Outcomes delivered here may send again (the caller's line moves up):
 * written in the next round. */
void tc_http_flush(tc_http *h)
{
	do {
		for (long i = 0; i < h->ndirty; i++) {
			long ci = h->dirty[i];
			conn *c = &h->c[ci];
			c->dirty = 0;
			if (c->fd >= 0 && !c->connecting && c->olen > c->ooff)
				write_out(h, ci);
		}
		h->ndirty = 0;
		h->cur = -1;
		deliver(h);
	} while (h->ndirty);
}

/* ci's connect() is over: write, or fail its requests. */
static void connected(tc_http *h, long ci)
{
	conn *c = &h->c[ci];
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
		conn_refused(h, ci);
		return;
	}
	c->connecting = 0;
	write_out(h, ci);
}

void tc_http_event(tc_http *h, uint64_t data, uint32_t events)
{
	/* an event read in the same epoll batch as one that closed (and
	 * maybe reopened) this connection belongs to its old socket */
	long ci = (long)(data & 0xffffff);
	if (ci >= h->nconns || h->c[ci].fd < 0 ||
	    ((data >> 24) & 0xffff) != (h->c[ci].gen & 0xffff))
		return;
	if (h->c[ci].connecting)
		connected(h, ci);
	else if ((events & EPOLLOUT) && h->c[ci].olen > h->c[ci].ooff)
		write_out(h, ci);
	if (h->c[ci].fd >= 0 && !h->c[ci].connecting &&
	    (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		read_in(h, ci);
	deliver(h);
}

void tc_http_collect(tc_http *h)
{
	for (long i = 0; i < h->nconns; i++) {
		const conn *c = &h->c[i];
		if (c->n && c->fd >= 0 && !c->connecting)
			read_in(h, i);
	}
	deliver(h);
}

int tc_http_busy(const tc_http *h)
{
	for (long i = 0; i < h->nconns; i++)
		if (h->c[i].ev & EPOLLOUT) /* connecting, or bytes to write */
			return 1;
	return 0;
}

/* Answers come in order, so a connection's first request is the one
 * whose time runs out first (the engine sends in due order; a request
 * sent again may break that, and is then caught by the engine's own
 * check of the latency against the timeout). */
double tc_http_next_deadline(const tc_http *h)
{
	double t = INFINITY;
	for (long i = 0; i < h->nconns; i++) {
		const conn *c = &h->c[i];
		if (c->n && c->ring[c->head].deadline < t)
			t = c->ring[c->head].deadline;
	}
	return t;
}

void tc_http_expire(tc_http *h, double now)
{
	for (long i = 0; i < h->nconns; i++) {
		conn *c = &h->c[i];
		if (c->n && c->ring[c->head].deadline <= now)
			conn_close(h, i, CURLE_OPERATION_TIMEDOUT,
				   c->resp.status, -1, 0);
	}
	deliver(h);
}

void tc_http_abandon(tc_http *h)
{
	h->nidle = 0;
	for (long i = h->nconns - 1; i >= 0; i--) {
		conn *c = &h->c[i];
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		c->connecting = c->dirty = 0;
		c->ev = 0;
		c->n = c->head = 0;
		c->olen = c->ooff = c->ilen = 0;
		tc_http_resp_init(&c->resp);
		h->idle[h->nidle++] = i;
	}
	h->ndirty = 0;
	h->cur = -1;
	h->qn = h->qhead = 0;
}

size_t tc_http_capacity(const tc_http *h)
{
	return (size_t)h->nconns * (size_t)(h->pipeline ? h->depth : 1);
}

/* ------------------------------------------------------------------------
 * Setup
 */
/* Splits "http://AUTHORITY[/PATH]": *auth, *alen, and the path (NULL when
 * the URL does not suit the sender). */
static const char *split_url(const char *url, const char **auth,
			     size_t *alen)
{
	if (strncasecmp(url, "http://", 7) != 0)
		return NULL;
	const char *a = url + 7, *p = a + strcspn(a, "/?#");
	if (p == a || memchr(a, '@', (size_t)(p - a)) || strchr(url, '#'))
		return NULL;
	for (const char *s = url; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return NULL;
	*auth = a;
	*alen = (size_t)(p - a);
	return *p == '/' ? p : *p ? NULL : "/";
}

/* Host and port of an authority ("h", "h:p", "[v6]:p"); -1 if bad. */
static int split_host(const char *a, size_t n, char *host, size_t hcap,
		      char *port, size_t pcap)
{
	const char *hs = a, *he, *colon;
	if (*a == '[') {
		hs = a + 1;
		he = memchr(a, ']', n);
		if (!he)
			return -1;
		colon = he + 1 < a + n ? he + 1 : NULL;
		if (colon && *colon != ':')
			return -1;
	} else {
		colon = memchr(a, ':', n);
		he = colon ? colon : a + n;
	}
	size_t hl = (size_t)(he - hs);
	size_t pl = colon ? (size_t)(a + n - colon - 1) : 2;
	if (!hl || hl >= hcap || pl >= pcap || (colon && !pl))
		return -1;
	memcpy(host, hs, hl);
	host[hl] = 0;
	if (!colon)
		memcpy(port, "80", 3);
	else
		memcpy(port, colon + 1, pl), port[pl] = 0;
	char *end;
	long pn = strtol(port, &end, 10);
	return *end || pn < 1 || pn > 65535 || port[0] == '+' || port[0] == '-'
		       ? -1 : 0;
}

int tc_http_url_ok(const char *url)
{
	const char *a;
	size_t n;
	char host[256], port[8];
	return split_url(url, &a, &n) &&
	       split_host(a, n, host, sizeof host, port, sizeof port) == 0;
}

static void resolve(tc_http *h, const char *host, const char *port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
		return;
	memcpy(&h->addr, ai->ai_addr, ai->ai_addrlen);
	h->addrlen = ai->ai_addrlen;
	h->resolved = 1;
	freeaddrinfo(ai);
}

/* The request text of each target. */
static int make_texts(tc_http *h, const char *const *urls,
		      const char *const *hdrs, mr_err *e)
{
	h->text = mr_xcalloc(h->ntargets, sizeof *h->text);
	h->tlen = mr_xcalloc(h->ntargets, sizeof *h->tlen);
	for (size_t i = 0; i < h->ntargets; i++) {
		const char *a;
		size_t alen;
		const char *path = split_url(urls[i], &a, &alen);
		if (!path)
			return mr_errf(e, MR_EXIT_USAGE, "%s: not a plain http "
				       "URL", urls[i]);
		const char *x = hdrs && hdrs[i] ? hdrs[i] : NULL;
		size_t cap = strlen(path) + alen + (x ? strlen(x) : 0) + 64;
		h->text[i] = mr_xcalloc(cap, 1);
		int n = snprintf(h->text[i], cap, "GET %s HTTP/1.1\r\nHost: "
				 "%.*s\r\nAccept: */*\r\n%s%s\r\n", path,
				 (int)alen, a, x ? x : "", x ? "\r\n" : "");
		if (n < 0 || (size_t)n >= cap)
			return mr_errf(e, MR_EXIT_USAGE, "%s: URL too long",
				       urls[i]);
		h->tlen[i] = (size_t)n;
		if ((size_t)n > h->maxlen)
			h->maxlen = (size_t)n;
	}
	return 0;
}

tc_http *tc_http_new(const char *const *urls, const char *const *hdrs,
		     size_t ntargets, long conns, int depth, int ep,
		     tc_http_done_fn done, void *ud, mr_err *e)
{
	const char *a;
	size_t alen;
	char host[256], port[8];
	if (!ntargets || conns < 1 || conns > 0xffffff || depth < 1 ||
	    !split_url(urls[0], &a, &alen) ||
	    split_host(a, alen, host, sizeof host, port, sizeof port) != 0)
		return mr_errf(e, MR_EXIT_USAGE, "%s: not a plain http URL",
			       ntargets ? urls[0] : "?"), NULL;
	tc_http *h = mr_xcalloc(1, sizeof *h);
	h->ep = ep;
	h->depth = depth;
	h->nconns = conns;
	h->ntargets = ntargets;
	h->done = done;
	h->ud = ud;
	h->cur = -1;
	if (make_texts(h, urls, hdrs, e) != 0) {
		tc_http_free(h);
		return NULL;
	}
	h->c = mr_xcalloc((size_t)conns, sizeof *h->c);
	h->idle = mr_xcalloc((size_t)conns, sizeof *h->idle);
	h->dirty = mr_xcalloc((size_t)conns, sizeof *h->dirty);
	for (long i = conns - 1; i >= 0; i--) {
		h->c[i].fd = -1;
		h->c[i].ring = mr_xcalloc((size_t)depth, sizeof(slot));
		h->c[i].out = mr_xcalloc((size_t)depth, h->maxlen);
		tc_http_resp_init(&h->c[i].resp);
		h->idle[h->nidle++] = i;
	}
	resolve(h, host, port);
	return h;
}

void tc_http_free(tc_http *h)
{
	if (!h)
		return;
	if (h->c) {
		tc_http_abandon(h);
		for (long i = 0; i < h->nconns; i++) {
			free(h->c[i].ring);
			free(h->c[i].out);
			free(h->c[i].in);
		}
	}
	for (size_t i = 0; h->text && i < h->ntargets; i++)
		free(h->text[i]);
	free(h->text);
	free(h->tlen);
	free(h->c);
	free(h->idle);
	free(h->dirty);
	free(h->q);
	free(h);
}
