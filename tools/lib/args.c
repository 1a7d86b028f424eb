/* args.c - what the tools' common options do. Numbers: the whole argument
 * must be a number within the option's range; anything else is a usage
 * error that names the option and the text, so every tool answers bad
 * flags alike. --realtime: the scheduling class it asks for. */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meshrl.h"

double mr_arg_double(const char *prog, const char *opt, const char *s,
		     double lo, double hi)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end || errno || !isfinite(v) || v < lo || v > hi)
		mr_fatal(prog, MR_EXIT_USAGE, "%s: '%s' is not a number in [%g, %g]",
			 opt, s, lo, hi);
	return v;
}

long long mr_arg_int(const char *prog, const char *opt, const char *s,
		     long long lo, long long hi)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || *end || errno || v < lo || v > hi)
		mr_fatal(prog, MR_EXIT_USAGE, "%s: '%s' is not an integer in %lld..%lld",
			 opt, s, lo, hi);
	return v;
}

uint64_t mr_arg_u64(const char *prog, const char *opt, const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || *end || errno || s[0] == '-' || s[0] == '+')
		mr_fatal(prog, MR_EXIT_USAGE, "%s: '%s' is not a non-negative integer",
			 opt, s);
	return (uint64_t)v;
}

void mr_set_realtime(const char *prog, int prio, int quiet)
{
	if (prio <= 0)
		return;
	struct sched_param sp = {.sched_priority = prio};
	if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0 && !quiet)
		fprintf(stderr, "%s: warning: --realtime %d: %s (normal "
				"priority)\n", prog, prio, strerror(errno));
}
