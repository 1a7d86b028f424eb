/*
 * pool.c - the worker pool and its barrier (pool.h).
 */
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pool.h"

typedef struct {
	mr_pool *p;
	int tid;
} pool_start;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Sleeps while *word == val (a futex: no lost wake-ups, no mutex). */
static void futex_wait(atomic_uint *word, unsigned val)
{
	syscall(SYS_futex, (unsigned *)word, FUTEX_WAIT_PRIVATE, val, NULL,
		NULL, 0);
}

static void futex_wake_all(atomic_uint *word)
{
	syscall(SYS_futex, (unsigned *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
		NULL, 0);
}

/* Spins a little (a quiet machine: the other worker is microseconds
 * away), then sleeps on the phase word (a shared machine: the other worker
 * may not be running, and spinning would take its core). */
void mr_pool_barrier(mr_pool *p)
{
	if (p->n == 1)
		return;
	unsigned ph = atomic_load(&p->bphase);
	if (atomic_fetch_add(&p->bcount, 1) == p->n - 1) {
		atomic_store(&p->bcount, 0);
		atomic_fetch_add(&p->bphase, 1);
		if (atomic_load(&p->bsleepers))
			futex_wake_all(&p->bphase);
		return;
	}
	for (int spins = 0; spins < 2000; spins++) {
		if (atomic_load(&p->bphase) != ph)
			return;
		cpu_relax();
	}
	atomic_fetch_add(&p->bsleepers, 1);
	while (atomic_load(&p->bphase) == ph)
		futex_wait(&p->bphase, ph);
	atomic_fetch_sub(&p->bsleepers, 1);
}

static void *pool_main(void *arg)
{
	pool_start *s = arg;
	mr_pool *p = s->p;
	int tid = s->tid;
	free(s);
	unsigned seen = 0;
	for (;;) {
		long spins = 0;
		while (atomic_load(&p->gen) == seen && spins < 20000) {
			cpu_relax();
			spins++;
		}
		if (atomic_load(&p->gen) == seen) {
			pthread_mutex_lock(&p->mu);
			while (atomic_load(&p->gen) == seen)
				pthread_cond_wait(&p->cv, &p->mu);
			pthread_mutex_unlock(&p->mu);
		}
		seen = atomic_load(&p->gen);
		if (atomic_load(&p->quit))
			return NULL;
		p->fn(p->arg, tid);
		atomic_fetch_sub(&p->pending, 1);
	}
}

int mr_pool_init(mr_pool *p, int n, mr_err *e)
{
	memset(p, 0, sizeof *p);
	p->n = n;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (int i = 1; i < n; i++) {
		pool_start *s = mr_xcalloc(1, sizeof *s);
		s->p = p;
		s->tid = i;
		int rc = pthread_create(&p->th[i], NULL, pool_main, s);
		if (rc) {
			free(s);
			p->n = i;
			return mr_errf(e, MR_EXIT_FAIL,
				       "cannot start thread %d: %s", i,
				       strerror(rc));
		}
	}
	return 0;
}

void mr_pool_run(mr_pool *p, mr_pool_job fn, void *arg)
{
	if (p->n == 1) {
		fn(arg, 0);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	atomic_store(&p->pending, p->n - 1);
	pthread_mutex_lock(&p->mu);
	atomic_fetch_add(&p->gen, 1);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	fn(arg, 0);
	for (long spins = 0; atomic_load(&p->pending) > 0; spins++) {
		if (spins < 4000)
			cpu_relax();
		else
			sched_yield();
	}
}

void mr_pool_stop(mr_pool *p)
{
	if (p->n == 0) /* never started */
		return;
	if (p->n <= 1)
		goto out;
	atomic_store(&p->quit, 1);
	pthread_mutex_lock(&p->mu);
	atomic_fetch_add(&p->gen, 1);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 1; i < p->n; i++)
		pthread_join(p->th[i], NULL);
out:
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
}
