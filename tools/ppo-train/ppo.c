/*
 * ppo.c - proximal policy optimisation (clipped surrogate, GAE, value loss,
 * entropy bonus, Adam, minibatches and epochs, gradient-norm clipping) for
 * MultiDiscrete actions with masks, on MLP actor and critic: the trainer's
 * life (its memory, one iteration, its checkpoint state).
 *
 * Threads: T workers (the caller is worker 0, pool.h). An iteration is a
 * rollout (rollout.c), GAE (loss.c), and the update (update.c). Results
 * depend on the seed and T only. All memory is allocated in mr_ppo_new.
 *
 * Not here: evaluation episodes, curves, files (main.c, policy.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"
#include "trainer.h"

/* ------------------------------------------------------------------------
 * the trainer's memory
 */

/* Zeroed floats, cache-line aligned: vector loads stay within lines, and
 * workers writing disjoint 16-float spans never share one. NULL, and *oom
 * set, when memory runs out. */
static float *falloc(size_t n, int *oom)
{
	void *p = NULL;
	size_t bytes = (n ? n : 1) * sizeof(float);
	bytes = (bytes + 63) & ~(size_t)63;
	if (posix_memalign(&p, 64, bytes)) {
		*oom = 1;
		return NULL;
	}
	memset(p, 0, bytes);
	return p;
}

static void worker_alloc(worker *w, const mr_policy *p, int rows, int *oom)
{
	w->rows = rows;
	size_t r = (size_t)rows;
	w->acts_a[0] = w->acts_c[0] = NULL;
	for (int l = 1; l <= p->actor.nlayers; l++)
		w->acts_a[l] = falloc(r * (size_t)p->actor.sizes[l], oom);
	for (int l = 1; l <= p->critic.nlayers; l++)
		w->acts_c[l] = falloc(r * (size_t)p->critic.sizes[l], oom);
	int mw = mlp_max_width(&p->actor);
	if (mlp_max_width(&p->critic) > mw)
		mw = mlp_max_width(&p->critic);
	for (int i = 0; i < 4; i++)
		w->d[i] = falloc(r * (size_t)mw, oom);
	size_t big = 0;
	const mr_mlp *nets[2] = {&p->actor, &p->critic};
	for (int k = 0; k < 2; k++)
		for (int l = 0; l < nets[k]->nlayers; l++) {
			size_t s = (size_t)nets[k]->sizes[l] *
				   (size_t)nets[k]->sizes[l + 1];
			big = s > big ? s : big;
		}
	w->wscratch = falloc(big, oom);
	w->dvalue = falloc(r, oom);
	w->grads = falloc(p->nparams, oom);
	w->obs = falloc(r * (size_t)p->obs_dim, oom);
	w->logp = falloc((size_t)p->head_total, oom);
	w->p = falloc((size_t)p->head_total, oom);
}

static void worker_free(worker *w)
{
	for (int l = 1; l <= MR_MLP_MAX_LAYERS; l++) {
		free(w->acts_a[l]);
		free(w->acts_c[l]);
	}
	for (int i = 0; i < 4; i++)
		free(w->d[i]);
	free(w->wscratch);
	free(w->dvalue);
	free(w->grads);
	free(w->obs);
	free(w->logp);
	free(w->p);
}

/* The rollout buffer, the optimiser's state and every worker's scratch;
 * -1 when memory runs out. */
static int alloc_buffers(mr_ppo *t, mr_vecenv *const *envs)
{
	const mr_ppo_config *c = &t->c;
	const mr_policy *p = t->pol;
	size_t S = (size_t)t->S, D = (size_t)t->D, A = (size_t)t->A;
	size_t N = (size_t)t->N;
	int oom = 0;
	t->obs_raw = falloc(S * D, &oom);
	t->obs = falloc(S * D, &oom);
	t->values = falloc(S, &oom);
	t->logp = falloc(S, &oom);
	t->rewards = falloc(S, &oom);
	t->adv = falloc(S, &oom);
	t->ret = falloc(S, &oom);
	t->last_values = falloc(N, &oom);
	t->obs_last = falloc(N * D, &oom);
	t->dones = mr_xcalloc(S, 1);
	t->masks = mr_xcalloc(S * A, 1);
	t->actions = mr_xcalloc(S * (size_t)t->ncomp, sizeof *t->actions);
	t->ep_return = mr_xcalloc(N, sizeof *t->ep_return);
	t->env_rng = mr_xcalloc(N, sizeof *t->env_rng);
	t->perm = mr_xcalloc((size_t)c->epochs * S, sizeof *t->perm);
	t->G = falloc(p->nparams, &oom);
	t->m = falloc(p->nparams, &oom);
	t->v = falloc(p->nparams, &oom);
	/* rows a worker takes from a minibatch: all of them when split by
	 * network */
	int per_batch = by_net(t) ? c->batch : (c->batch + t->T - 1) / t->T;
	int per_env = 0;
	for (int i = 0; i < t->nvec; i++)
		per_env = envs[i]->nenvs > per_env ? envs[i]->nenvs : per_env;
	int cap = per_batch > per_env ? per_batch : per_env;
	cap = cap > 64 ? cap : 64; /* batched critic: chunks of >= 64 rows */
	for (int i = 0; i < t->T; i++)
		worker_alloc(&t->w[i], p, cap, &oom);
	return oom ? -1 : 0;
}

/* ------------------------------------------------------------------------
 * the trainer's life
 */

/* The environment groups: one, or one per thread, all of one shape, with
 * c->nenvs environments in all. */
static int check_envs(const mr_ppo_config *c, mr_vecenv *const *envs,
		      int nvec, mr_err *e)
{
	if (nvec < 1 || nvec > c->threads || (nvec > 1 && nvec != c->threads))
		return mr_errf(e, MR_EXIT_FAIL,
			       "need 1 or %d environment groups", c->threads);
	int N = 0;
	for (int i = 0; i < nvec; i++) {
		const mr_vecenv *v = envs[i];
		if (v->obs_dim != envs[0]->obs_dim ||
		    v->ncomp != envs[0]->ncomp ||
		    memcmp(v->nchoices, envs[0]->nchoices,
			   sizeof v->nchoices))
			return mr_errf(e, MR_EXIT_FAIL,
				       "environment groups differ in shape");
		N += v->nenvs;
	}
	if (N != c->nenvs)
		return mr_errf(e, MR_EXIT_FAIL,
			       "environments: %d opened, %d configured", N,
			       c->nenvs);
	return 0;
}

/* The policy to train: pol, if it fits the environments, else a new one
 * from the configuration (owned by the trainer). */
static int take_policy(mr_ppo *t, mr_policy *pol, const mr_vecenv *v0,
		       mr_err *e)
{
	if (pol) {
		if (mr_policy_check(pol, v0->obs_dim, v0->ncomp, v0->nchoices,
				    e))
			return -1;
		t->pol = pol;
		return 0;
	}
	mr_policy_shape shape;
	mr_ppo_policy_shape(&t->c, &shape);
	t->pol = mr_policy_new(v0->obs_dim, v0->ncomp, v0->nchoices, &shape,
			       e);
	if (!t->pol)
		return -1;
	t->own_pol = 1;
	return 0;
}

mr_ppo *mr_ppo_new(const mr_ppo_config *c, mr_vecenv **envs, int nvec,
		   mr_policy *pol, mr_err *e)
{
	if (mr_ppo_config_check(c, e) || check_envs(c, envs, nvec, e))
		return NULL;
	mr_ppo *t = mr_xcalloc(1, sizeof *t);
	t->c = *c;
	t->nvec = nvec;
	t->N = c->nenvs;
	for (int i = 0, b = 0; i < nvec; i++) {
		t->envs[i] = envs[i];
		t->env_base[i] = b;
		b += envs[i]->nenvs;
	}
	if (take_policy(t, pol, envs[0], e)) {
		free(t);
		return NULL;
	}
	t->T = c->threads;
	t->S = c->n_steps * t->N;
	t->D = envs[0]->obs_dim;
	/* the buffers hold the heads' masks and choices */
	t->A = t->pol->head_total;
	t->ncomp = t->pol->head_ncomp;
	if (alloc_buffers(t, envs)) {
		mr_errf(e, MR_EXIT_IO, "out of memory for the trainer's "
			"buffers");
		mr_ppo_free(t);
		return NULL;
	}
	for (int i = 0; i < t->N; i++)
		mr_rng_seed(&t->env_rng[i], c->seed,
			    MR_STREAM_PPO_ENV_BASE + (uint64_t)i);
	mr_rng_seed(&t->rng, c->seed, MR_STREAM_PPO);
	if (mr_pool_init(&t->pool, t->T, e)) {
		mr_ppo_free(t);
		return NULL;
	}
	for (int i = 0; i < nvec; i++) {
		mr_rng r;
		mr_rng_seed(&r, c->seed,
			    MR_STREAM_PPO_RESET_BASE + (uint64_t)i);
		if (envs[i]->reset(envs[i], mr_rng_u64(&r) >> 1, e)) {
			mr_ppo_free(t);
			return NULL;
		}
	}
	mr_policy_refresh(t->pol);
	return t;
}

void mr_ppo_free(mr_ppo *t)
{
	if (!t)
		return;
	mr_pool_stop(&t->pool);
	for (int i = 0; i < t->T; i++)
		worker_free(&t->w[i]);
	free(t->obs_raw);
	free(t->obs);
	free(t->values);
	free(t->logp);
	free(t->rewards);
	free(t->adv);
	free(t->ret);
	free(t->last_values);
	free(t->obs_last);
	free(t->dones);
	free(t->masks);
	free(t->actions);
	free(t->ep_return);
	free(t->env_rng);
	free(t->perm);
	free(t->G);
	free(t->m);
	free(t->v);
	if (t->own_pol)
		mr_policy_free(t->pol);
	free(t);
}

mr_policy *mr_ppo_policy(mr_ppo *t)
{
	return t->pol;
}

int64_t mr_ppo_timesteps(const mr_ppo *t)
{
	return t->timesteps;
}

int64_t mr_ppo_updates(const mr_ppo *t)
{
	return t->updates;
}

/* The rollout (one vecenv per worker, or worker 0 alone) and the values
 * of it; the episodes that ended into st. */
static int rollout(mr_ppo *t, mr_ppo_stats *st, mr_err *e)
{
	if (t->nvec > 1)
		mr_pool_run(&t->pool, ppo_rollout_job, t);
	else
		ppo_rollout_job(t, 0);
	double ep_sum = 0;
	for (int i = 0; i < t->T; i++) {
		if (t->w[i].failed) {
			*e = t->w[i].err;
			return -1;
		}
		ep_sum += t->w[i].ep_sum;
		st->episodes += t->w[i].ep_count;
	}
	st->ep_return = st->episodes ? ep_sum / st->episodes : NAN;
	if (!t->pol->shared)
		mr_pool_run(&t->pool, ppo_values_job, t);
	return 0;
}

/* Every epoch's minibatch order, drawn up front. */
static void draw_orders(mr_ppo *t)
{
	for (int ep = 0; ep < t->c.epochs; ep++) {
		int *perm = t->perm + (size_t)ep * t->S;
		for (int i = 0; i < t->S; i++)
			perm[i] = i;
		for (int i = t->S - 1; i > 0; i--) {
			int j = (int)mr_rng_below(&t->rng, (uint64_t)i + 1);
			int x = perm[i];
			perm[i] = perm[j];
			perm[j] = x;
		}
	}
}

/* This rollout's advantages: their mean and sum of squared deviations. */
static void rollout_adv_stats(const mr_ppo *t, double *mean, double *m2)
{
	double n = t->S;
	*mean = *m2 = 0;
	for (int s = 0; s < t->S; s++)
		*mean += t->adv[s];
	*mean /= n;
	for (int s = 0; s < t->S; s++) {
		double d = t->adv[s] - *mean;
		*m2 += d * d;
	}
}

/* Merges this rollout's advantages (n, mean, m2) into the running
 * statistics that norm_adv 2 scales by (Chan et al.: two sets' counts,
 * means and sums of squared deviations). */
static void merge_adv_stats(mr_ppo *t, double n, double mean, double m2)
{
	double tot = t->adv_n + n, delta = mean - t->adv_mean;
	t->adv_m2 += m2 + delta * delta * t->adv_n * n / tot;
	t->adv_mean += delta * n / tot;
	t->adv_n = tot;
}

int mr_ppo_iterate(mr_ppo *t, mr_ppo_stats *st, mr_err *e)
{
	const mr_ppo_config *c = &t->c;
	memset(st, 0, sizeof *st);
	if (rollout(t, st, e))
		return -1;
	t->timesteps += t->S;
	/* the rollout used the statistics from before it; later rollouts
	 * use these */
	if (t->pol->norm_obs)
		mr_policy_observe(t->pol, t->obs_raw, (size_t)t->S);

	/* continuing: an episode's end is a time limit and the next start
	 * does not depend on the actions, so returns run on through it */
	mr_gae(t->rewards, c->continuing ? NULL : t->dones, t->values,
	       t->last_values, c->n_steps, t->N, c->gamma, c->gae_lambda,
	       t->adv, t->ret);
	double adv_mean, adv_m2;
	rollout_adv_stats(t, &adv_mean, &adv_m2);
	if (c->norm_adv == 2)
		merge_adv_stats(t, t->S, adv_mean, adv_m2);

	draw_orders(t);
	double progress = (double)(t->timesteps - t->S) / (double)c->timesteps;
	t->lr_now = c->lr_decay ? c->lr * (1 - (progress < 1 ? progress : 1))
				: c->lr;
	if (!(t->lr_now > 0))
		t->lr_now = c->lr * 1e-3; /* past the end: keep moving a bit */
	t->ent_now = c->ent_decay
			     ? c->ent_coef * (1 - (progress < 1 ? progress : 1))
			     : c->ent_coef;
	mr_pool_run(&t->pool, ppo_update_job, t);
	/* the minibatch steps taken (fewer when target_kl stopped them) */
	t->adam_t += t->w[0].nmb;
	/* normalisation statistics changed: refresh what is applied */
	mr_policy_refresh(t->pol);
	mr_ppo_stats s = {0};
	for (int i = 0; i < t->T; i++) {
		s.pg_loss += t->w[i].st.pg_loss;
		s.v_loss += t->w[i].st.v_loss;
		s.entropy += t->w[i].st.entropy;
		s.approx_kl += t->w[i].st.approx_kl;
		s.clip_frac += t->w[i].st.clip_frac;
		s.grad_norm += t->w[i].st.grad_norm;
	}
	st->pg_loss = s.pg_loss;
	st->v_loss = s.v_loss;
	st->entropy = s.entropy;
	st->approx_kl = s.approx_kl;
	st->clip_frac = s.clip_frac;
	st->grad_norm = s.grad_norm;
	st->steps = t->w[0].nmb;
	st->lr = t->lr_now;
	st->ent_coef = t->ent_now;
	st->adv_sd = t->S > 1 ? sqrt(adv_m2 / (t->S - 1)) : 0;
	t->updates++;
	return 0;
}

/* ------------------------------------------------------------------------
 * checkpoint state
 */

void mr_ppo_pack_state(msgpack_packer *pk, const mr_ppo *t)
{
	msgpack_pack_map(pk, 9);
	mr_pk_kv_i64(pk, "timesteps", t->timesteps);
	mr_pk_kv_i64(pk, "updates", t->updates);
	mr_pk_kv_i64(pk, "adam_t", t->adam_t);
	mr_pk_kv_bin(pk, "adam_m", t->m, t->pol->nparams * sizeof(float));
	mr_pk_kv_bin(pk, "adam_v", t->v, t->pol->nparams * sizeof(float));
	mr_pk_kv_bin(pk, "rng", t->rng.s, sizeof t->rng.s);
	mr_pk_kv_bin(pk, "env_rng", t->env_rng,
		     (size_t)t->N * sizeof *t->env_rng);
	mr_pk_kv_i64(pk, "nparams", (int64_t)t->pol->nparams);
	double adv[3] = {t->adv_n, t->adv_mean, t->adv_m2};
	mr_pk_kv_bin(pk, "adv_stats", adv, sizeof adv);
}

int mr_ppo_unpack_state(mr_ppo *t, const msgpack_object *map,
			const char *name, mr_err *e)
{
	int64_t ts, up, at, np;
	const void *m, *v, *rng, *erng;
	size_t n = t->pol->nparams;
	if (mr_mp_i64(map, "nparams", name, 0, INT64_MAX, &np, e))
		return -1;
	if ((size_t)np != n)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s: optimiser has %lld parameters, the policy "
			       "%zu", name, (long long)np, n);
	if (mr_mp_i64(map, "timesteps", name, 0, INT64_MAX, &ts, e) ||
	    mr_mp_i64(map, "updates", name, 0, INT64_MAX, &up, e) ||
	    mr_mp_i64(map, "adam_t", name, 0, INT64_MAX, &at, e) ||
	    mr_mp_bin(map, "adam_m", name, n, sizeof(float), &m, e) ||
	    mr_mp_bin(map, "adam_v", name, n, sizeof(float), &v, e) ||
	    mr_mp_bin(map, "rng", name, 4, sizeof(uint64_t), &rng, e) ||
	    mr_mp_bin(map, "env_rng", name, (size_t)t->N, sizeof(mr_rng),
		      &erng, e))
		return -1;
	t->timesteps = ts;
	t->updates = up;
	t->adam_t = at;
	mr_le_f32(t->m, m, n);
	mr_le_f32(t->v, v, n);
	memcpy(t->rng.s, rng, sizeof t->rng.s);
	memcpy(t->env_rng, erng, (size_t)t->N * sizeof *t->env_rng);
	/* a checkpoint from before norm_adv 2 has none: they start again */
	t->adv_n = t->adv_mean = t->adv_m2 = 0;
	if (mr_mp_get(map, "adv_stats")) {
		const void *adv;
		double a[3];
		if (mr_mp_bin(map, "adv_stats", name, 3, sizeof(double), &adv,
			      e))
			return -1;
		memcpy(a, adv, sizeof a);
		t->adv_n = a[0];
		t->adv_mean = a[1];
		t->adv_m2 = a[2];
	}
	return 0;
}
