/* err.c - error values, fatal exits, checked allocation, clock. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "meshrl.h"

int mr_errf(mr_err *e, int code, const char *fmt, ...)
{
	if (!e)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	e->code = code;
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int mr_err_prefix(mr_err *e, const char *fmt, ...)
{
	if (!e)
		return -1;
	char pre[512], old[sizeof e->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof old);
	/* both parts fit: the message keeps its tail if it must be cut */
	size_t pl = strlen(pre);
	if (pl > sizeof e->msg - 3)
		pl = sizeof e->msg - 3;
	memcpy(e->msg, pre, pl);
	memcpy(e->msg + pl, ": ", 2);
	size_t room = sizeof e->msg - pl - 3, ol = strlen(old);
	if (ol > room)
		ol = room;
	memcpy(e->msg + pl + 2, old, ol);
	e->msg[pl + 2 + ol] = 0;
	return -1;
}

_Noreturn void mr_die(const char *prog, const mr_err *e)
{
	fprintf(stderr, "%s: %s\n", prog, e->msg);
	exit(e->code ? e->code : MR_EXIT_FAIL);
}

_Noreturn void mr_fatal(const char *prog, int code, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static _Noreturn void out_of_memory(size_t n, size_t size)
{
	fprintf(stderr, "meshrl: out of memory allocating %zu x %zu bytes\n", n,
		size);
	exit(MR_EXIT_IO);
}

void *mr_xcalloc(size_t n, size_t size)
{
	if (n == 0 || size == 0)
		n = size = 1;
	void *p = calloc(n, size);
	if (!p)
		out_of_memory(n, size);
	return p;
}

void *mr_xrealloc(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		out_of_memory(n, size);
	size_t bytes = (n && size) ? n * size : 1;
	void *q = realloc(p, bytes);
	if (!q)
		out_of_memory(n, size);
	return q;
}

char *mr_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = mr_xcalloc(n, 1);
	memcpy(p, s, n);
	return p;
}

void mr_usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	va_end(ap);
	exit(MR_EXIT_USAGE);
}

int mr_value_matches(double x, double v)
{
	return fabs(x - v) <= 1e-9 * (1 + fabs(v));
}

void mr_print_version(const char *prog)
{
	printf("%s (meshrl) %s\n", prog, MR_VERSION);
}

double mr_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
