/* wake_lateness.c - the machine's floor under trace-collect's send
 * lateness: a loop that only sleeps to the end of each send tick (epoll_pwait2
 * with a nanosecond timeout, timer slack 1 ns, as the engine) and records
 * how late it wakes. With RATE, also the lateness of sends due at that
 * constant rate if each went out at the first wake-up after its due time:
 * what a sender costing nothing would measure here, counted per send as
 * trace-collect counts it (a wake-up 2 ms late makes 40 sends late at
 * 20,000/s, and weighs 40 times). Usage: wake_lateness SECONDS TICK_US
 * [RATE]; prints "wake_p50_us=.. wake_p99_us=.. wake_max_us=.." and with
 * RATE " send_p50_us=.. send_p99_us=.." on stdout. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* nearest-rank percentile of the sorted v[0..n) */
static double pct(const double *v, size_t n, double q)
{
	size_t k = (size_t)ceil(q * (double)n);
	return v[k ? k - 1 : 0];
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2;
	double tick = (argc > 2 ? atof(argv[2]) : 250) * 1e-6;
	double rate = argc > 3 ? atof(argv[3]) : 0;
	if (secs <= 0 || tick <= 0 || rate < 0)
		return 2;
	size_t n = (size_t)(secs / tick) + 1, k = 0;
	size_t ns = (size_t)(secs * rate) + n + 1, m = 0;
	double *late = malloc(n * sizeof *late);
	double *send = malloc(ns * sizeof *send);
	int ep = epoll_create1(0);
	if (!late || !send || ep < 0)
		return 1;
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	double t0 = now();
	double next_send = t0; /* due time of the next send, with RATE */
	for (double due = t0 + tick; k < n; due += tick) {
		double d = due - now();
		struct epoll_event ev;
		struct timespec ts = {0, 0};
		if (d > 0) {
			ts.tv_sec = (time_t)d;
			ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
		}
		epoll_pwait2(ep, &ev, 1, &ts, NULL);
		double t = now();
		late[k++] = (t - due) * 1e6;
		for (; rate > 0 && next_send <= t && m < ns;
		     next_send += 1 / rate)
			send[m++] = (t - next_send) * 1e6;
		if (t > due + tick) /* overslept ticks count once, as sends */
			due = t0 + floor((t - t0) / tick) * tick;
	}
	qsort(late, k, sizeof *late, cmp);
	printf("wake_p50_us=%.0f wake_p99_us=%.0f wake_max_us=%.0f",
	       pct(late, k, 0.5), pct(late, k, 0.99), late[k - 1]);
	if (m) {
		qsort(send, m, sizeof *send, cmp);
		printf(" send_p50_us=%.0f send_p99_us=%.0f", pct(send, m, 0.5),
		       pct(send, m, 0.99));
	}
	printf("\n");
	free(late);
	free(send);
	return 0;
}
