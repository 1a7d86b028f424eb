/*
 * rollout.c - the rollout: n_steps steps of every environment, actions
 * drawn from the actor's masked softmax, into the trainer's buffers; and
 * the separate critic's values of it, batched afterwards.
 *
 * A rollout runs one vecenv per worker when there are T of them (else
 * worker 0 steps them all); it runs the actor only (and the critic's head
 * with a shared trunk), so the critic's values of a separate network come
 * after it, batched and split across workers.
 */
#include <math.h>
#include <string.h>

#include "loss.h"
#include "trainer.h"

/* The actor alone; with a shared trunk the critic's head too (it is one
 * small layer on the trunk the actor computed anyway). */
static void actor_forward(const mr_policy *p, worker *w, int rows)
{
	w->acts_a[0] = w->obs;
	mlp_forward(&p->actor, p->params, p->wt, w->acts_a, rows);
	if (p->shared) {
		w->acts_c[0] = w->acts_a[p->actor.nlayers - 1];
		mlp_forward(&p->critic, p->params, p->wt, w->acts_c, rows);
	}
}


/* Samples one choice per head from the masked softmax; returns the
 * joint log-probability. */
static double sample_action(const mr_policy *p, worker *w,
			    const float *logits, const uint8_t *mask,
			    mr_rng *rng, int32_t *act)
{
	double lp = 0;
	int off = 0;
	for (int c = 0; c < p->head_ncomp; c++) {
		int n = p->head_nchoices[c];
		mr_masked_log_softmax(logits + off, mask + off, n, w->logp + off,
				      w->p + off);
		double u = mr_rng_uniform(rng), cum = 0;
		int pick = -1;
		for (int j = 0; j < n; j++) {
			if (!mask[off + j])
				continue;
			pick = j; /* the last allowed one absorbs rounding */
			cum += w->p[off + j];
			if (u < cum)
				break;
		}
		act[c] = pick;
		lp += w->logp[off + pick];
		off += n;
	}
	return lp;
}

void ppo_rollout_job(void *arg, int tid)
{
	mr_ppo *t = arg;
	worker *w = &t->w[tid];
	w->ep_sum = 0;
	w->ep_count = 0;
	w->failed = 0;
	if (tid >= t->nvec)
		return;
	mr_policy *p = t->pol;
	mr_vecenv *v = t->envs[tid];
	int n = v->nenvs, base = t->env_base[tid], D = t->D, A = t->A;
	for (int step = 0; step < t->c.n_steps; step++) {
		size_t s0 = (size_t)step * t->N + base;
		memcpy(t->obs_raw + s0 * D, v->obs, (size_t)n * D * sizeof(float));
		mr_policy_normalize(p, v->obs, w->obs, (size_t)n);
		memcpy(t->obs + s0 * D, w->obs, (size_t)n * D * sizeof(float));
		for (int i = 0; i < n; i++)
			if (mr_policy_head_mask(p, v->masks + (size_t)i *
						   p->total_choices,
						t->masks + (s0 + i) * A)) {
				mr_errf(&w->err, MR_EXIT_DATA,
					"environment %d allows no action",
					base + i);
				w->failed = 1;
				return;
			}
		actor_forward(p, w, n);
		for (int i = 0; i < n; i++) {
			int32_t *act = t->actions + (s0 + i) * t->ncomp;
			double lp = sample_action(p, w, logits_of(p, w, i),
						  t->masks + (s0 + i) * A,
						  &t->env_rng[base + i], act);
			t->logp[s0 + i] = (float)lp;
			if (p->shared)
				t->values[s0 + i] = value_of(p, w, i);
			mr_policy_decode(p, act, v->actions + (size_t)i *
						 p->ncomp);
		}
		if (v->step(v, &w->err)) {
			w->failed = 1;
			return;
		}
		for (int i = 0; i < n; i++) {
			float r = v->rewards[i];
			if (!isfinite(r)) {
				mr_errf(&w->err, MR_EXIT_DATA,
					"environment %d returned a non-finite "
					"reward", base + i);
				w->failed = 1;
				return;
			}
			t->rewards[s0 + i] = r;
			t->dones[s0 + i] = v->dones[i];
			t->ep_return[base + i] += r;
			if (v->dones[i]) {
				w->ep_sum += t->ep_return[base + i];
				w->ep_count++;
				t->ep_return[base + i] = 0;
			}
		}
	}
	/* the observation after the last step: V of it for GAE */
	mr_policy_normalize(p, v->obs, t->obs_last + (size_t)base * D,
			    (size_t)n);
	if (p->shared) {
		memcpy(w->obs, t->obs_last + (size_t)base * D,
		       (size_t)n * D * sizeof(float));
		actor_forward(p, w, n);
		for (int i = 0; i < n; i++)
			t->last_values[base + i] = value_of(p, w, i);
	}
}

/* Separate critic: V of every rollout observation and of the last ones,
 * batched after the rollout (the actions never needed them). Worker tid
 * takes a contiguous share of the rows, in chunks of its capacity. */
void ppo_values_job(void *arg, int tid)
{
	mr_ppo *t = arg;
	mr_policy *p = t->pol;
	worker *w = &t->w[tid];
	int total = t->S + t->N, D = t->D;
	int r0 = (int)((int64_t)total * tid / t->T),
	    r1 = (int)((int64_t)total * (tid + 1) / t->T);
	for (int r = r0; r < r1; r += w->rows) {
		int n = r1 - r < w->rows ? r1 - r : w->rows;
		for (int k = 0; k < n; k++) {
			int q = r + k;
			const float *src = q < t->S
				? t->obs + (size_t)q * D
				: t->obs_last + (size_t)(q - t->S) * D;
			memcpy(w->obs + (size_t)k * D, src, (size_t)D * sizeof(float));
		}
		w->acts_c[0] = w->obs;
		mlp_forward(&p->critic, p->params, p->wt, w->acts_c, n);
		for (int k = 0; k < n; k++) {
			int q = r + k;
			if (q < t->S)
				t->values[q] = value_of(p, w, k);
			else
				t->last_values[q - t->S] = value_of(p, w, k);
		}
	}
}
