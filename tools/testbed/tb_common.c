/*
 * tb_common.c - pieces both testbed servers use: the fixed names, the flat
 * JSON reader of the control API, the CFS-style CPU quota and listening
 * sockets. No server logic here.
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

const char *const tb_service_names[TB_NSERVICES] = {"compute", "info1",
						     "info2"};
const char *const tb_class_names[TB_NCLASSES] = {"premium", "freemium"};
const char *const tb_node_names[TB_NNODES] = {"node1", "node2"};

static int find_name(const char *const *names, int n, const char *s,
		     size_t len)
{
	for (int i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return i;
	return -1;
}

int tb_service_index(const char *s, size_t len)
{
	return find_name(tb_service_names, TB_NSERVICES, s, len);
}
int tb_class_index(const char *s, size_t len)
{
	return find_name(tb_class_names, TB_NCLASSES, s, len);
}
int tb_node_index(const char *s, size_t len)
{
	return find_name(tb_node_names, TB_NNODES, s, len);
}

/* ------------------------------------------------------------------------
 * Flat JSON
 */
static size_t skip_ws(const char *t, size_t len, size_t i)
{
	while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' ||
			   t[i] == '\r'))
		i++;
	return i;
}

int tb_flatjson_parse(const char *t, size_t len, tb_kv *out, size_t max,
		      mr_err *e)
{
	size_t i = skip_ws(t, len, 0), n = 0;
	if (i >= len || t[i] != '{')
		return mr_errf(e, MR_EXIT_DATA,
			       "byte %zu: expected '{' (a flat JSON object)", i);
	i = skip_ws(t, len, i + 1);
	if (i < len && t[i] == '}')
		goto end;
	for (;;) {
		if (i >= len || t[i] != '"')
			return mr_errf(e, MR_EXIT_DATA,
				       "byte %zu: expected a quoted key", i);
		size_t k0 = ++i;
		while (i < len && t[i] != '"') {
			if (t[i] == '\\' || (unsigned char)t[i] < 0x20)
				return mr_errf(e, MR_EXIT_DATA,
					       "byte %zu: escapes and control "
					       "characters are not allowed in keys",
					       i);
			i++;
		}
		if (i >= len)
			return mr_errf(e, MR_EXIT_DATA,
				       "byte %zu: unterminated key", k0);
		size_t klen = i - k0;
		if (klen == 0 || klen >= sizeof out[0].key)
			return mr_errf(e, MR_EXIT_DATA,
				       "byte %zu: key empty or longer than %zu",
				       k0, sizeof out[0].key - 1);
		if (n >= max)
			return mr_errf(e, MR_EXIT_DATA,
				       "more than %zu keys", max);
		memcpy(out[n].key, t + k0, klen);
		out[n].key[klen] = 0;
		i = skip_ws(t, len, i + 1);
		if (i >= len || t[i] != ':')
			return mr_errf(e, MR_EXIT_DATA,
				       "byte %zu: expected ':' after \"%s\"", i,
				       out[n].key);
		i = skip_ws(t, len, i + 1);
		out[n].str[0] = 0;
		if (i < len && t[i] == '"') {
			size_t v0 = ++i;
			while (i < len && t[i] != '"' && t[i] != '\\' &&
			       (unsigned char)t[i] >= 0x20)
				i++;
			if (i >= len || t[i] != '"' ||
			    i - v0 >= sizeof out[n].str)
				return mr_errf(e, MR_EXIT_DATA,
					       "byte %zu: \"%s\": bad string "
					       "value (no escapes, at most %zu "
					       "bytes)",
					       v0, out[n].key,
					       sizeof out[n].str - 1);
			memcpy(out[n].str, t + v0, i - v0);
			out[n].str[i - v0] = 0;
			out[n].val = NAN;
			i++;
		} else if (len - i >= 4 && memcmp(t + i, "true", 4) == 0) {
			out[n].val = 1, i += 4;
		} else if (len - i >= 5 && memcmp(t + i, "false", 5) == 0) {
			out[n].val = 0, i += 5;
		} else {
			/* strtod needs a terminated string: copy the token. */
			char num[64];
			size_t j = 0;
			while (i + j < len && j < sizeof num - 1 &&
			       strchr("+-0123456789.eE", t[i + j]))
				j++;
			memcpy(num, t + i, j);
			num[j] = 0;
			char *end;
			errno = 0;
			double v = j ? strtod(num, &end) : 0;
			if (!j || *end || errno || !isfinite(v))
				return mr_errf(e, MR_EXIT_DATA,
					       "byte %zu: \"%s\": expected a "
					       "finite number or true/false",
					       i, out[n].key);
			out[n].val = v;
			i += j;
		}
		n++;
		i = skip_ws(t, len, i);
		if (i < len && t[i] == ',') {
			i = skip_ws(t, len, i + 1);
			continue;
		}
		if (i < len && t[i] == '}')
			break;
		return mr_errf(e, MR_EXIT_DATA, "byte %zu: expected ',' or '}'",
			       i);
	}
end:
	i = skip_ws(t, len, i + 1);
	if (i != len)
		return mr_errf(e, MR_EXIT_DATA,
			       "byte %zu: text after the object", i);
	return (int)n;
}

/* ------------------------------------------------------------------------
 * Configuration keys
 */
int tb_key_parse(const char *key, tb_key *k, mr_err *e)
{
	static const char *const kinds[] = {"weight", "rate",    "block",
					    "units",  "slow",    "stopped",
					    "timeout", "burst"};
	const char *d1 = strchr(key, '.');
	size_t l0 = d1 ? (size_t)(d1 - key) : strlen(key);
	k->svc = k->cls = k->node = -1;
	int kind = -1;
	for (int i = 0; i < 8; i++)
		if (strlen(kinds[i]) == l0 && memcmp(kinds[i], key, l0) == 0)
			kind = i;
	if (kind < 0)
		goto bad;
	k->kind = (tb_key_kind)kind;
	const char *p1 = d1 ? d1 + 1 : NULL;
	const char *d2 = p1 ? strchr(p1, '.') : NULL;
	size_t l1 = p1 ? (d2 ? (size_t)(d2 - p1) : strlen(p1)) : 0;
	const char *p2 = d2 ? d2 + 1 : NULL;
	switch (k->kind) {
	case K_TIMEOUT:
	case K_BURST:
		if (p1)
			goto bad;
		return 0;
	case K_UNITS:
	case K_SLOW:
	case K_STOPPED:
		if (!p1 || p2 || (k->node = tb_node_index(p1, l1)) < 0)
			goto bad;
		return 0;
	case K_BLOCK:
		if (!p1 || p2 || (k->svc = tb_service_index(p1, l1)) < 0)
			goto bad;
		return 0;
	case K_WEIGHT:
	case K_RATE:
		if (!p1 || (k->svc = tb_service_index(p1, l1)) < 0)
			goto bad;
		if (p2 && (k->cls = tb_class_index(p2, strlen(p2))) < 0)
			goto bad;
		return 0;
	}
bad:
	return mr_errf(e, MR_EXIT_DATA,
		       "unknown key '%s' (weight.SVC[.CLASS], rate.SVC[.CLASS], "
		       "block.SVC, units.NODE, slow.NODE, stopped.NODE, "
		       "timeout, burst; SVC compute|info1|info2, CLASS "
		       "premium|freemium, NODE node1|node2)",
		       key);
}

int tb_key_check(const tb_key *k, const char *key, double v, mr_err *e)
{
	int ok = isfinite(v);
	if (ok)
		switch (k->kind) {
	case K_WEIGHT: ok = v >= 0 && v <= 100; break;
	case K_RATE: ok = v >= 0 || v == -1; break;
	case K_BLOCK: ok = v >= 0 && v <= 1; break;
	case K_UNITS: ok = v > 0 && v <= 1000; break;
	case K_SLOW: ok = v >= 1 && v <= 1000; break;
	case K_STOPPED: ok = v == 0 || v == 1; break;
	case K_TIMEOUT: ok = v > 0 && v <= 3600; break;
	case K_BURST: ok = v > 0 && v <= 3600; break;
	}
	if (!ok)
		return mr_errf(e, MR_EXIT_DATA,
			       "'%s': value %.17g out of range (weight 0..100, "
			       "rate >= 0 or -1 for no limit, block 0..1, "
			       "units 0..1000, slow 1..1000, stopped 0|1, "
			       "timeout and burst 0..3600 s)",
			       key, v);
	return 0;
}

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
		MHD_add_response_header(r, TB_SERVED_HEADER, served_by);
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
