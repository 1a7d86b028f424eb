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
int tb_listen(const char *addr, int port, int *bound_port, mr_err *e)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (port < 0 || port > 65535 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return mr_errf(e, MR_EXIT_USAGE,
			       "bad listen address %s:%d (want an IPv4 "
			       "address and a port 0..65535)",
			       addr, port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return mr_errf(e, MR_EXIT_IO, "socket: %s", strerror(errno));
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		int err = errno;
		close(fd);
		return mr_errf(e, MR_EXIT_IO, "cannot listen on %s:%d: %s%s",
			       addr, port, strerror(err),
			       err == EADDRINUSE ? " (the port is taken; "
						   "choose another)"
						 : "");
	}
	if (listen(fd, 1024) != 0) {
		int err = errno;
		close(fd);
		return mr_errf(e, MR_EXIT_IO, "listen on %s:%d: %s", addr, port,
			       strerror(err));
	}
	socklen_t sl = sizeof sa;
	if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		int err = errno;
		close(fd);
		return mr_errf(e, MR_EXIT_IO, "getsockname: %s", strerror(err));
	}
	if (bound_port)
		*bound_port = ntohs(sa.sin_port);
	return fd;
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
