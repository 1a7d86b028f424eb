/*
 * trainer.h - the inside of the trainer, shared by its parts: the state
 * (struct mr_ppo), each worker's scratch and results, and the jobs the
 * workers run (the rollout in rollout.c, the update in update.c; ppo.c
 * allocates everything and runs them).
 *
 * Private to ppo.c, rollout.c and update.c.
 */
#ifndef MESHRL_PPO_TRAINER_H
#define MESHRL_PPO_TRAINER_H

#include "pool.h"
#include "ppo.h"

_Static_assert(MR_PPO_MAX_THREADS <= MR_POOL_MAX,
	       "a worker per thread: the pool must hold them");

typedef struct {
	int rows;                   /* capacity in samples */
	float *acts_a[MR_MLP_MAX_LAYERS + 1], *acts_c[MR_MLP_MAX_LAYERS + 1];
	float *d[4], *wscratch, *dvalue;
	float *grads;               /* this worker's gradient (nparams) */
	float *obs;                 /* (rows, obs_dim) gathered input */
	float *logp, *p;            /* (head_total) scratch */
	/* results of a job */
	mr_ppo_stats st;
	double sumsq;
	int64_t nmb;                /* minibatch steps taken */
	int stopped;                /* 1: target_kl stopped the epochs */
	double mb_kl;               /* this minibatch's KL (its rows) */
	double ep_sum;
	int ep_count;
	int failed;
	mr_err err;
} worker;

struct mr_ppo {
	mr_ppo_config c;
	mr_policy *pol;
	int own_pol;
	mr_vecenv *envs[MR_PPO_MAX_THREADS];
	int nvec, env_base[MR_PPO_MAX_THREADS];
	int T;     /* workers */
	int N, S;  /* envs, samples per rollout */
	int D, A, ncomp;  /* A, ncomp: the heads' choices in all, and heads */
	/* rollout buffer, sample s = step * N + env */
	float *obs_raw, *obs, *values, *logp, *rewards, *adv, *ret;
	float *last_values, *obs_last;
	uint8_t *dones, *masks;
	int32_t *actions;
	double *ep_return;          /* (N) running return per env */
	/* norm_adv 2: every advantage so far (count, mean, sum of squared
	 * deviations; Chan et al. merge per rollout) */
	double adv_n, adv_mean, adv_m2;
	mr_rng *env_rng;            /* (N) action sampling */
	mr_rng rng;                 /* minibatch order */
	int *perm;                  /* (epochs, S) */
	/* optimiser; G: the workers' gradients summed (split by rows);
	 * net_ss: each network's squared gradient norm (split by network) */
	float *G, *m, *v;
	double net_ss[2][2];
	double mb_kl[2];            /* by network: the actor's minibatch KL,
				     * double-buffered as net_ss */
	int64_t adam_t;
	double lr_now, ent_now;     /* this update's lr and ent_coef */
	/* counters */
	int64_t timesteps, updates;
	mr_pool pool;
	worker w[MR_PPO_MAX_THREADS];
};

/* Separate networks on one or two workers: the update is split by network
 * (update.c), and a worker takes whole minibatches. */
static inline int by_net(const mr_ppo *t)
{
	return t->T <= 2 && !t->pol->shared;
}

/* The actor's logits (head_total) and the critic's value of row r after
 * a forward pass. */
static inline const float *logits_of(const mr_policy *p, const worker *w,
				       int r)
{
	return w->acts_a[p->actor.nlayers] + (size_t)r * p->head_total;
}

static inline float value_of(const mr_policy *p, const worker *w, int r)
{
	return w->acts_c[p->critic.nlayers][r];
}

/* The jobs (mr_pool_job, arg the trainer). rollout: n_steps steps of every
 * environment group, actions drawn from the actor (rollout.c); values: the
 * separate critic's values of the rollout (rollout.c); update: the epochs
 * of minibatch steps (update.c). */
void ppo_rollout_job(void *arg, int tid);
void ppo_values_job(void *arg, int tid);
void ppo_update_job(void *arg, int tid);

#endif
