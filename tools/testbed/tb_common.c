/*
 * tb_common.c - pieces both testbed servers use: the CFS-style CPU quota,
 * listening sockets and HTTP replies. No server logic here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testbed.h"

/* ------------------------------------------------------------------------
 * CPU quota
 */
double tb_thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void tb_quota_init(tb_quota *q, double period, double unit, double units)
{
	memset(q, 0, sizeof *q);
	pthread_mutex_init(&q->mu, NULL);
	q->period = period;
	q->unit = unit;
	q->units = units;
	q->slow = 1;
	q->cur = (int64_t)floor(mr_now() / period);
}

void tb_quota_destroy(tb_quota *q)
{
	pthread_mutex_destroy(&q->mu);
}

void tb_quota_set(tb_quota *q, double units, double slow)
{
	pthread_mutex_lock(&q->mu);
	q->units = units;
	q->slow = slow;
	pthread_mutex_unlock(&q->mu);
}

/* Moves to the current period, paying back debt with each period's budget.
 * Caller holds mu. */
static void quota_refill(tb_quota *q, double now)
{
	int64_t k = (int64_t)floor(now / q->period);
	if (k > q->cur) {
		double budget = q->units * q->unit * q->period;
		q->used -= budget * (double)(k - q->cur);
		if (q->used < 0)
			q->used = 0;
		q->cur = k;
	}
}

static void sleep_until(double t)
{
	struct timespec ts;
	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	if (ts.tv_nsec >= 1000000000L)
		ts.tv_sec++, ts.tv_nsec -= 1000000000L;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

int tb_quota_charge(tb_quota *q, double cpu, double deadline)
{
	pthread_mutex_lock(&q->mu);
	quota_refill(q, mr_now());
	double charged = cpu * q->slow;
	q->used += charged;
	q->total += charged;
	int late = 0;
	while (q->used >= q->units * q->unit * q->period) {
		double wake = (double)(q->cur + 1) * q->period;
		if (deadline > 0 && wake > deadline) {
			late = 1;
			break;
		}
		pthread_mutex_unlock(&q->mu);
		double t0 = mr_now();
		sleep_until(wake);
		pthread_mutex_lock(&q->mu);
		q->throttled += mr_now() - t0;
		quota_refill(q, mr_now());
	}
	pthread_mutex_unlock(&q->mu);
	return late;
}

/* ------------------------------------------------------------------------
 * Listening sockets
 */
/* addr as a socket address: an IPv4 or IPv6 literal. */
static int parse_addr(const char *addr, int port, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof *a4;
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof *a6;
		return 0;
	}
	return -1;
}

int tb_listen(const char *addr, int port, int *bound_port, mr_err *e)
{
	struct sockaddr_storage sa;
	socklen_t sl;
	if (port < 0 || port > 65535 || parse_addr(addr, port, &sa, &sl) != 0)
		return mr_errf(e, MR_EXIT_USAGE,
			       "bad listen address %s:%d (want an IPv4 or "
			       "IPv6 address and a port 0..65535)",
			       addr, port);
	int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return mr_errf(e, MR_EXIT_IO, "socket: %s", strerror(errno));
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sa, sl) != 0) {
		int err = errno;
		close(fd);
		return mr_errf(e, MR_EXIT_IO, "cannot listen on %s port %d: %s%s",
			       addr, port, strerror(err),
			       err == EADDRINUSE ? " (the port is taken; "
						   "choose another)"
			       : err == EADDRNOTAVAIL ? " (not an address of "
							"this host)"
						      : "");
	}
	if (listen(fd, 1024) != 0) {
		int err = errno;
		close(fd);
		return mr_errf(e, MR_EXIT_IO, "listen on %s port %d: %s", addr,
			       port, strerror(err));
	}
	sl = sizeof sa;
	if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		int err = errno;
		close(fd);
		return mr_errf(e, MR_EXIT_IO, "getsockname: %s", strerror(err));
	}
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&sa;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&sa;
	if (bound_port)
		*bound_port = ntohs(sa.ss_family == AF_INET6 ? a6->sin6_port
							     : a4->sin_port);
	return fd;
}

void tb_url_host(const char *bind, char *out, size_t n)
{
	if (strcmp(bind, "0.0.0.0") == 0)
		snprintf(out, n, "127.0.0.1");
	else if (strcmp(bind, "::") == 0)
		snprintf(out, n, "[::1]");
	else if (strchr(bind, ':'))
		snprintf(out, n, "[%s]", bind);
	else
		snprintf(out, n, "%s", bind);
}

/* ------------------------------------------------------------------------
 * libmicrohttpd glue
 */
int tb_body_step(void **con_cls, const char *upload_data,
		 size_t *upload_data_size, tb_body **body)
{
	if (*con_cls == NULL) {
		*con_cls = mr_xcalloc(1, sizeof(tb_body));
		return 0;
	}
	tb_body *b = *con_cls;
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		if (b->len + n > TB_BODY_MAX) {
			b->too_big = 1;
		} else {
			if (b->len + n + 1 > b->cap) {
				b->cap = (b->len + n + 1) * 2;
				b->buf = mr_xrealloc(b->buf, b->cap, 1);
			}
			memcpy(b->buf + b->len, upload_data, n);
			b->len += n;
			b->buf[b->len] = 0;
		}
		*upload_data_size = 0;
		return 0;
	}
	*body = b;
	return 1;
}

void tb_body_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		       enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)c, (void)toe;
	tb_body *b = *con_cls;
	if (b) {
		free(b->buf);
		free(b);
		*con_cls = NULL;
	}
}

enum MHD_Result tb_respond(struct MHD_Connection *c, unsigned status,
			   const char *served_by, const char *ctype,
			   const char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	if (served_by)
		MHD_add_response_header(r, MESH_SERVED_HEADER, served_by);
	if (ctype)
		MHD_add_response_header(r, "Content-Type", ctype);
	enum MHD_Result rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

enum MHD_Result tb_respondf(struct MHD_Connection *c, unsigned status,
			    const char *served_by, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof buf)
		n = sizeof buf - 1;
	return tb_respond(c, status, served_by, "application/json", buf,
			  (size_t)n);
}

/* ------------------------------------------------------------------------
 * The control endpoints' gate
 */
static enum MHD_Result refuse(struct MHD_Connection *c, unsigned status,
			      const char *served_by, const char *msg)
{
	char body[256];
	int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", msg);
	struct MHD_Response *r = MHD_create_response_from_buffer(
		(size_t)n, body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	if (served_by)
		MHD_add_response_header(r, MESH_SERVED_HEADER, served_by);
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, "WWW-Authenticate",
					"Bearer realm=\"meshrl-testbed\"");
	enum MHD_Result rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

/* Is the request's Content-Type application/json (parameters allowed)? */
static int is_json(const char *ct)
{
	static const char want[] = "application/json";
	if (!ct)
		return 0;
	while (*ct == ' ')
		ct++;
	size_t n = sizeof want - 1;
	if (strncasecmp(ct, want, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ')
		ct++;
	return *ct == 0 || *ct == ';';
}

int tb_control_refused(struct MHD_Connection *c, const char *method,
		       const char *secret, const char *served_by,
		       enum MHD_Result *r)
{
	/* browsers always send Origin on cross-site writes; tools never do */
	if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin")) {
		*r = refuse(c, MHD_HTTP_FORBIDDEN, served_by,
			    "requests with an Origin header (browsers) are "
			    "refused");
		return 1;
	}
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						       "Authorization");
	static const char bearer[] = "Bearer ";
	if (!auth || strncasecmp(auth, bearer, sizeof bearer - 1) != 0) {
		*r = refuse(c, MHD_HTTP_UNAUTHORIZED, served_by,
			    "Authorization: Bearer SECRET required (TB_SECRET "
			    "in the run folder's env file)");
		return 1;
	}
	const char *tok = auth + sizeof bearer - 1;
	if (!mesh_secret_equal(tok, strlen(tok), secret)) {
		*r = refuse(c, MHD_HTTP_FORBIDDEN, served_by, "wrong secret");
		return 1;
	}
	int has_body = strcmp(method, "GET") && strcmp(method, "HEAD") &&
		       strcmp(method, "DELETE");
	if (has_body && !is_json(MHD_lookup_connection_value(
				c, MHD_HEADER_KIND, "Content-Type"))) {
		*r = refuse(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, served_by,
			    "the body must be Content-Type: application/json");
		return 1;
	}
	return 0;
}
