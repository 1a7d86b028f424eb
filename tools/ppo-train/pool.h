/*
 * pool.h - the trainer's worker threads: a fixed pool that runs one job on
 * every worker at once (the caller is worker 0), and a barrier for the
 * steps inside a job.
 *
 * Waiting spins briefly, then sleeps (a futex for the barrier, a condition
 * variable between jobs): on a quiet machine the other workers are
 * microseconds away; on a shared one they may not be running, and
 * spinning would take their core.
 */
#ifndef MESHRL_PPO_POOL_H
#define MESHRL_PPO_POOL_H

#include <pthread.h>
#include <stdatomic.h>

#include "meshrl.h"

#define MR_POOL_MAX 16

/* A job: run by every worker tid = 0..n-1 with the same arg. */
typedef void (*mr_pool_job)(void *arg, int tid);

typedef struct {
	int n;
	pthread_t th[MR_POOL_MAX];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_uint gen;
	atomic_int pending;
	atomic_int quit;
	mr_pool_job fn;
	void *arg;
	/* barrier */
	atomic_int bcount, bsleepers;
	atomic_uint bphase;
} mr_pool;

/* Starts n - 1 threads (n <= MR_POOL_MAX). On failure the threads
 * already started are kept for mr_pool_stop. */
int mr_pool_init(mr_pool *p, int n, mr_err *e);
/* Runs fn on every worker and returns when all are done. */
void mr_pool_run(mr_pool *p, mr_pool_job fn, void *arg);
/* Inside a job: returns once every worker has reached it. */
void mr_pool_barrier(mr_pool *p);
/* Ends the threads and frees what mr_pool_init took; a zeroed pool
 * (never started) is left alone. */
void mr_pool_stop(mr_pool *p);

#endif
