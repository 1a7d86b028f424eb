/*
 * tc_http.h - trace-collect's own HTTP/1.1 sender, for the load path only
 * (plain http://, GET, kept-alive connections, optional pipelining). The
 * engine uses it instead of libcurl where the URL allows; libcurl stays for
 * everything else (https, and every other tool). Why: the profile in the
 * README (per request, libcurl's transfer setup and its two poll() calls
 * cost more than the request itself).
 *
 * Outcomes are reported as CURLcode values, so the engine's rules (drops,
 * unreachable, timeouts), the raw log and the messages do not depend on the
 * sender.
 */
#ifndef TC_HTTP_H
#define TC_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "meshrl.h"

/* ------------------------------------------------------------------------
 * Response parser: incremental over one connection's bytes. Status line,
 * headers (Content-Length, Transfer-Encoding: chunked, Connection,
 * X-Served-By), then the body by length, by chunks, or until the server
 * closes (no length given). 1xx answers are skipped.
 */
enum { TC_HTTP_BAD = -1, TC_HTTP_MORE = 0, TC_HTTP_DONE = 1 };

typedef struct {
	int state;
	long status;     /* 0 until the status line is read */
	int node;        /* X-Served-By as a mesh node index, -1 none */
	int keep_alive;  /* the connection may carry the next response */
	int chunked;
	long long left;  /* body bytes left: of the length, or of a chunk */
	const char *why; /* TC_HTTP_BAD: what was wrong */
} tc_http_resp;

void tc_http_resp_init(tc_http_resp *p);
/* Reads buf[0..len) up to the end of one response and sets *used to the
 * bytes consumed. TC_HTTP_DONE: the response is whole (p describes it);
 * TC_HTTP_MORE: call again with more bytes, after keeping the unconsumed
 * ones (an incomplete line is not consumed); TC_HTTP_BAD: p->why. */
int tc_http_parse(tc_http_resp *p, const char *buf, size_t len,
		  size_t *used);
/* The server closed the connection: TC_HTTP_DONE when the response ends
 * there (a body sent until close), else TC_HTTP_BAD. */
int tc_http_eof(tc_http_resp *p);
/* The mesh node an X-Served-By value names (prefix), -1 none. */
int tc_served_node(const char *v, size_t len);

/* ------------------------------------------------------------------------
 * Sender: up to `conns` connections to one host, each carrying up to
 * `depth` requests at once (1: no pipelining). Pipelining starts once an
 * answer has said its connection stays open (HTTP/1.1 keep-alive), and
 * stops for good when one closes it: requests pipelined to a server that
 * closes are lost with a reset. Requests go out at tc_http_flush, together
 * per connection.
 */
typedef struct tc_http tc_http;

/* A request is over: code is a CURLcode, status the HTTP status (0 none),
 * node as tc_served_node, t when (mr_now's clock): for an answer, when its
 * last bytes reached the socket (the kernel's receive time, so an answer
 * read a while after it came keeps its true time), else when the sender
 * saw the outcome. retry: it was never answered and the connection is gone
 * (closed by the server, or behind a request that timed out); the caller
 * may send it again. Called from tc_http_flush, tc_http_event and
 * tc_http_expire, never from tc_http_send. */
typedef void (*tc_http_done_fn)(void *ud, void *req, int code, long status,
				int node, int retry, double t);

/* Events of the sender's sockets carry this bit in epoll's data.u64. */
#define TC_HTTP_EVTAG (UINT64_C(1) << 40)

/* Can the sender talk to url (http://HOST[:PORT][/PATH], no user info)? */
int tc_http_url_ok(const char *url);
/* urls[i] (same host, tc_http_url_ok) and hdrs[i] (an extra header line
 * without CRLF, or NULL; hdrs may be NULL) make request target i. The
 * host is resolved here, once; when it cannot be, every request fails
 * with CURLE_COULDNT_RESOLVE_HOST. ep: the caller's epoll set. */
tc_http *tc_http_new(const char *const *urls, const char *const *hdrs,
		     size_t ntargets, long conns, int depth, int ep,
		     tc_http_done_fn done, void *ud, mr_err *e);
/* Requests that fit at once: conns x depth while pipelining, else conns. */
size_t tc_http_capacity(const tc_http *h);
/* Queues req for target with its deadline (absolute, mr_now's clock). The
 * caller keeps at most tc_http_capacity requests out. */
void tc_http_send(tc_http *h, void *req, int target, double deadline);
/* Writes what was queued, delivers outcomes known without the network. */
void tc_http_flush(tc_http *h);
/* A socket event (data.u64 of the epoll event). */
void tc_http_event(tc_http *h, uint64_t data, uint32_t events);
/* Reads every connection with requests out, without waiting for events
 * (the caller slept through them; see tc_http_busy). */
void tc_http_collect(tc_http *h);
/* Is a connect or a write in progress? Then the caller should wake on
 * socket events; else it may leave answers unread until its next send
 * tick (their time is kept, see tc_http_done_fn). */
int tc_http_busy(const tc_http *h);
/* The earliest deadline of a request out (INFINITY: none). */
double tc_http_next_deadline(const tc_http *h);
/* Fails requests whose deadline has passed (CURLE_OPERATION_TIMEDOUT). */
void tc_http_expire(tc_http *h, double now);
/* Closes every connection and forgets its requests, without callbacks. */
void tc_http_abandon(tc_http *h);
void tc_http_free(tc_http *h);

/* When the bytes a recvmsg() returned arrived, on mr_now's clock whose
 * reading is `now`: from the kernel's receive timestamp in mh's control
 * data (SCM_TIMESTAMPNS, the realtime clock; the last segment read), else
 * now. Never later than now: a clock step between the two readings cannot
 * put an answer in the future. */
double tc_rx_time(const struct msghdr *mh, double now);

#endif
