/*
 * update.c - the PPO update: epochs of minibatches, each a forward and
 * backward pass through the loss (clipped surrogate, value loss, entropy
 * bonus), the global gradient norm (clipping), and an Adam step.
 *
 * With separate networks on one or two workers the update is split by
 * network: worker 0 trains the actor, worker 1 the critic, each on whole
 * minibatches, exchanging only the halves of the gradient norm (one
 * barrier per minibatch; with one environment group, the same policy as
 * one worker, bit for bit). Otherwise (a shared trunk, or more workers)
 * each minibatch's rows are split across workers and the workers'
 * gradients summed in worker order (three barriers per minibatch).
 * Results depend on the seed and T only.
 */
#include <math.h>
#include <string.h>

#include "loss.h"
#include "trainer.h"

/* Actor then critic on rows of w->obs. */
static void policy_forward(const mr_policy *p, worker *w, int rows)
{
	w->acts_a[0] = w->obs;
	mlp_forward(&p->actor, p->params, p->wt, w->acts_a, rows);
	w->acts_c[0] = p->shared ? w->acts_a[p->actor.nlayers - 1] : w->obs;
	mlp_forward(&p->critic, p->params, p->wt, w->acts_c, rows);
}

/* Rows r0..r0+rows of minibatch mb into w->obs. */
static void gather_obs(const mr_ppo *t, worker *w, const int *mb, int r0,
		       int rows)
{
	int D = t->D;
	for (int r = 0; r < rows; r++)
		memcpy(w->obs + (size_t)r * D, t->obs + (size_t)mb[r0 + r] * D,
		       (size_t)D * sizeof(float));
}

/* The policy loss of rows r0.. of minibatch mb (Bm samples), from the
 * logits in w; its gradient into w->d[0] (rows, total_choices). */
static void policy_loss_rows(mr_ppo *t, worker *w, const int *mb, int Bm,
			     int r0, int rows, double adv_mean,
			     double adv_scale)
{
	mr_policy *p = t->pol;
	const mr_ppo_config *c = &t->c;
	int A = t->A;
	double inv = 1.0 / Bm;
	for (int r = 0; r < rows; r++) {
		int s = mb[r0 + r];
		const float *z = logits_of(p, w, r);
		const uint8_t *mask = t->masks + (size_t)s * A;
		const int32_t *act = t->actions + (size_t)s * t->ncomp;
		double a = (t->adv[s] - adv_mean) * adv_scale;
		mr_ppo_sample_out o;
		mr_ppo_policy_loss(z, mask, p->head_ncomp, p->head_nchoices, act,
				   t->logp[s], a, c->clip, t->ent_now, inv,
				   w->logp, w->p, w->d[0] + (size_t)r * A, &o);
		w->st.pg_loss += o.pg_loss * inv;
		w->st.clip_frac += o.clipped * inv;
		/* (r - 1) - log r: the low-variance KL estimate SB3 logs */
		double lr = o.logp - t->logp[s];
		w->st.approx_kl += (exp(lr) - 1 - lr) * inv;
		w->mb_kl += (exp(lr) - 1 - lr) * inv;
		w->st.entropy += o.entropy * inv;
	}
}

/* The value loss vf_coef * mean((R - v')^2), v' optionally clipped around
 * the rollout's value, of rows r0.. from the values in w; its gradient
 * into w->dvalue (rows). */
static void value_loss_rows(mr_ppo *t, worker *w, const int *mb, int Bm,
			    int r0, int rows)
{
	mr_policy *p = t->pol;
	const mr_ppo_config *c = &t->c;
	double inv = 1.0 / Bm;
	for (int r = 0; r < rows; r++) {
		int s = mb[r0 + r];
		double v = value_of(p, w, r), vold = t->values[s], vp = v;
		double pass = 1;
		if (c->clip_vf > 0) {
			double dv = v - vold;
			if (dv > c->clip_vf || dv < -c->clip_vf) {
				vp = vold + (dv > 0 ? c->clip_vf : -c->clip_vf);
				pass = 0;
			}
		}
		double err = vp - t->ret[s];
		w->st.v_loss += err * err * inv;
		w->dvalue[r] = (float)(c->vf_coef * 2 * err * inv * pass);
	}
}

/* Separate networks: forward, loss and backward of the actor (net 0) or
 * the critic (net 1) on the rows in w->obs; gradients into that
 * network's part of w->grads. */
static void net_grad(mr_ppo *t, worker *w, int net, const int *mb, int Bm,
		     int r0, int rows, double adv_mean, double adv_scale)
{
	mr_policy *p = t->pol;
	if (net == 0) {
		w->acts_a[0] = w->obs;
		mlp_forward(&p->actor, p->params, p->wt, w->acts_a, rows);
		policy_loss_rows(t, w, mb, Bm, r0, rows, adv_mean, adv_scale);
		mlp_backward(&p->actor, p->params, p->wt, w->grads, w->acts_a,
			     rows, p->actor.nlayers, 0, 0, w->d[0], w->d[1],
			     w->wscratch, NULL);
	} else {
		w->acts_c[0] = w->obs;
		mlp_forward(&p->critic, p->params, p->wt, w->acts_c, rows);
		value_loss_rows(t, w, mb, Bm, r0, rows);
		memcpy(w->d[2], w->dvalue, (size_t)rows * sizeof(float));
		mlp_backward(&p->critic, p->params, p->wt, w->grads, w->acts_c,
			     rows, p->critic.nlayers, 0, 0, w->d[2], w->d[3],
			     w->wscratch, NULL);
	}
}

/* Forward, loss and backward on this worker's rows of one minibatch;
 * gradients into w->grads. mb: the minibatch's sample indices (Bm). */
static void minibatch_grad(mr_ppo *t, worker *w, const int *mb, int Bm,
			   int r0, int r1, double adv_mean, double adv_scale)
{
	mr_policy *p = t->pol;
	int rows = r1 - r0;
	if (rows <= 0) { /* the backward pass writes every gradient */
		memset(w->grads, 0, p->nparams * sizeof(float));
		return;
	}
	gather_obs(t, w, mb, r0, rows);
	if (!p->shared) {
		net_grad(t, w, 0, mb, Bm, r0, rows, adv_mean, adv_scale);
		net_grad(t, w, 1, mb, Bm, r0, rows, adv_mean, adv_scale);
		return;
	}
	policy_forward(p, w, rows);
	policy_loss_rows(t, w, mb, Bm, r0, rows, adv_mean, adv_scale);
	value_loss_rows(t, w, mb, Bm, r0, rows);
	/* shared trunk: both heads send gradient into the trunk's top */
	int La = p->actor.nlayers, Lc = p->critic.nlayers;
	float *da, *dc;
	mlp_backward(&p->actor, p->params, p->wt, w->grads, w->acts_a, rows,
		     La, La - 1, 1, w->d[0], w->d[1], w->wscratch, &da);
	memcpy(w->d[2], w->dvalue, (size_t)rows * sizeof(float));
	mlp_backward(&p->critic, p->params, p->wt, w->grads, w->acts_c, rows,
		     Lc, 0, 1, w->d[2], w->d[3], w->wscratch, &dc);
	size_t n = (size_t)rows * p->actor.sizes[La - 1];
	for (size_t i = 0; i < n; i++)
		da[i] += dc[i];
	float *other = da == w->d[0] ? w->d[1] : w->d[0];
	mlp_backward(&p->actor, p->params, p->wt, w->grads, w->acts_a, rows,
		     La - 1, 0, 0, da, other, w->wscratch, NULL);
}

/* A worker's share of one network, per layer: the weight columns
 * [o0, o1) (mlp_part_cols) and their biases, the same columns whose
 * transposed rows mlp_sync_wt_rows refreshes. fn runs on each contiguous
 * span (a whole layer when the worker has every column). */
typedef void (*span_fn)(mr_ppo *t, size_t q0, size_t n, void *arg);

static void for_my_columns(mr_ppo *t, const mr_mlp *m, int tid, span_fn fn,
			   void *arg)
{
	for (int l = 0; l < m->nlayers; l++) {
		int I = m->sizes[l], O = m->sizes[l + 1], o0, o1;
		mlp_part_cols(O, tid, t->T, &o0, &o1);
		if (o1 <= o0)
			continue;
		if (o0 == 0 && o1 == O) {
			fn(t, m->w_off[l], (size_t)I * O, arg);
		} else {
			for (int i = 0; i < I; i++)
				fn(t, m->w_off[l] + (size_t)i * O + o0,
				   (size_t)(o1 - o0), arg);
		}
		fn(t, m->b_off[l] + o0, (size_t)(o1 - o0), arg);
	}
}

/* G = the workers' gradients summed in worker order; arg (double[8])
 * gathers the sum of squares in 8 partial sums (a fixed order). */
static void reduce_span(mr_ppo *t, size_t q0, size_t n, void *arg)
{
	double *ss8 = arg;
	float *restrict G = t->G + q0;
	const float *restrict G0 = t->w[0].grads + q0;
	for (size_t k = 0; k < n; k++)
		G[k] = G0[k];
	for (int u = 1; u < t->T; u++) {
		const float *restrict Gu = t->w[u].grads + q0;
		for (size_t k = 0; k < n; k++)
			G[k] += Gu[k];
	}
	size_t k = 0;
	for (; k + 8 <= n; k += 8)
		for (int j = 0; j < 8; j++)
			ss8[j] += (double)G[k + j] * G[k + j];
	for (; k < n; k++)
		ss8[k % 8] += (double)G[k] * G[k];
}

typedef struct {
	float lr_b, isb2, eps, gs;
	const float *grads; /* the summed gradient: G, or worker 0's alone */
} adam_step;

/* One Adam step on n parameters from q0 with gradient grads * gs. */
static void adam_span(mr_ppo *t, size_t q0, size_t n, void *arg)
{
	const adam_step *a = arg;
	float *restrict P = t->pol->params + q0, *restrict M = t->m + q0,
		       *restrict V = t->v + q0;
	const float *restrict G = a->grads + q0;
	float lr_b = a->lr_b, isb2 = a->isb2, eps = a->eps, gs = a->gs;
	for (size_t k = 0; k < n; k++) {
		float g = G[k] * gs;
		M[k] = 0.9f * M[k] + 0.1f * g;
		V[k] = 0.999f * V[k] + 0.001f * g * g;
		P[k] -= lr_b * M[k] / (sqrtf(V[k]) * isb2 + eps);
	}
}

/* Sum of squares of grads over one network's span, in 8 partial sums (a
 * fixed order; the span is a multiple of 16 floats). */
static double net_sumsq(const mr_mlp *m, const float *grads)
{
	const float *restrict G = grads + m->first;
	double ss8[8] = {0};
	for (size_t q = 0; q < m->nparams; q += 8)
		for (int j = 0; j < 8; j++)
			ss8[j] += (double)G[q + j] * G[q + j];
	return ((ss8[0] + ss8[1]) + (ss8[2] + ss8[3])) +
	       ((ss8[4] + ss8[5]) + (ss8[6] + ss8[7]));
}

/* Adam's step size and bias corrections for step `step`, and the gradient
 * scale from the global norm (clipping). */
static adam_step adam_for(const mr_ppo *t, int64_t step, double norm)
{
	const mr_ppo_config *c = &t->c;
	double gs = 1;
	if (c->max_grad_norm > 0 && norm > c->max_grad_norm)
		gs = c->max_grad_norm / (norm + 1e-6);
	adam_step a = {
		.lr_b = (float)(t->lr_now / (1 - pow(0.9, (double)step))),
		.isb2 = (float)(1 / sqrt(1 - pow(0.999, (double)step))),
		.eps = (float)c->adam_eps, .gs = (float)gs};
	return a;
}

/* Advantage normalisation over a whole minibatch (every worker computes
 * the same numbers). */
static void adv_stats(const mr_ppo *t, const int *mb, int Bm, double *mean,
		      double *scale)
{
	*mean = 0;
	*scale = 1;
	if (!t->c.norm_adv || Bm < 2)
		return;
	double s1 = 0, s2 = 0;
	for (int r = 0; r < Bm; r++)
		s1 += t->adv[mb[r]];
	*mean = s1 / Bm;
	for (int r = 0; r < Bm; r++) {
		double d = t->adv[mb[r]] - *mean;
		s2 += d * d;
	}
	double sd = sqrt(s2 / (Bm - 1));
	if (t->c.norm_adv == 2) {
		/* never blow advantages up past 1 / adv_floor of the spread of
		 * every advantage so far: a near-deterministic policy's tiny
		 * ones are noise */
		double var = t->adv_n > 1 ? t->adv_m2 / (t->adv_n - 1) : 0;
		double floor = t->c.adv_floor * sqrt(var);
		if (sd < floor)
			sd = floor;
	}
	*scale = 1.0 / (sd + 1e-8);
}

/* target_kl: the epochs stop at the first minibatch whose policy is
 * further than 1.5 x target_kl (approximate KL) from the rollout's, before
 * its step (as stable-baselines3 does): an update that has moved the
 * policy that far already would mostly move it on noise. */
static int kl_stop(const mr_ppo_config *c, double kl)
{
	return c->target_kl > 0 && kl > 1.5 * c->target_kl;
}

/* The update by network: one worker trains both networks in turn, or (two
 * workers, separate networks) worker 0 the actor and worker 1 the critic,
 * each on the whole minibatch, with its own parameters, gradients and
 * optimiser state: nothing crosses cores but the two halves of the
 * gradient norm, one barrier per minibatch. The norm is the same sum in
 * both cases (actor's squares + critic's), so one and two workers train
 * bit for bit the same policy. */
static void update_by_net(mr_ppo *t, int tid)
{
	mr_policy *p = t->pol;
	const mr_ppo_config *c = &t->c;
	worker *w = &t->w[tid];
	const mr_mlp *nets[2] = {&p->actor, &p->critic};
	int n0 = t->T == 1 ? 0 : tid, n1 = t->T == 1 ? 1 : tid;
	int64_t step = t->adam_t, nmb = 0;
	int stop = 0;
	for (int ep = 0; ep < c->epochs && !stop; ep++) {
		const int *perm = t->perm + (size_t)ep * t->S;
		for (int start = 0; start < t->S; start += c->batch, nmb++) {
			int Bm = t->S - start < c->batch ? t->S - start : c->batch;
			const int *mb = perm + start;
			double mean, scale;
			adv_stats(t, mb, Bm, &mean, &scale);
			gather_obs(t, w, mb, 0, Bm);
			w->mb_kl = 0;
			/* the halves of the norm, double-buffered: a worker
			 * writes minibatch k+1's only after the barrier of
			 * minibatch k, when the other has read minibatch k-1's */
			double *ss = t->net_ss[nmb & 1];
			for (int n = n0; n <= n1; n++) {
				net_grad(t, w, n, mb, Bm, 0, Bm, mean, scale);
				ss[n] = net_sumsq(nets[n], w->grads);
			}
			/* the actor's worker (0) has the minibatch's KL */
			if (tid == 0)
				t->mb_kl[nmb & 1] = w->mb_kl;
			mr_pool_barrier(&t->pool);
			if ((stop = kl_stop(c, t->mb_kl[nmb & 1])))
				break;
			double norm = sqrt(ss[0] + ss[1]);
			if (tid == 0)
				w->st.grad_norm += norm;
			adam_step a = adam_for(t, ++step, norm);
			a.grads = w->grads;
			for (int n = n0; n <= n1; n++) {
				adam_span(t, nets[n]->first, nets[n]->nparams, &a);
				mlp_sync_wt(nets[n], p->params, p->wt);
			}
		}
	}
	t->w[tid].nmb = nmb;
	t->w[tid].stopped = stop;
}

/* The update split by rows (three or more workers, or a shared trunk):
 * every worker takes its rows of each minibatch. Per minibatch, three
 * barriers: after the gradients (each worker computed its rows'), after
 * the sums (each worker summed its columns and their squares), after the
 * parameters (each worker stepped and transposed its columns). Workers own
 * columns on cache lines, so only what must cross cores does: the other
 * workers' gradients for my columns, and the new parameters. */
static void update_by_rows(mr_ppo *t, int tid)
{
	mr_policy *p = t->pol;
	const mr_ppo_config *c = &t->c;
	worker *w = &t->w[tid];
	int T = t->T;
	int64_t step = t->adam_t, nmb = 0;
	int stop = 0;
	for (int ep = 0; ep < c->epochs && !stop; ep++) {
		const int *perm = t->perm + (size_t)ep * t->S;
		for (int start = 0; start < t->S; start += c->batch, nmb++) {
			int Bm = t->S - start < c->batch ? t->S - start : c->batch;
			const int *mb = perm + start;
			double mean, scale;
			adv_stats(t, mb, Bm, &mean, &scale);
			int r0 = (int)((int64_t)Bm * tid / T),
			    r1 = (int)((int64_t)Bm * (tid + 1) / T);
			w->mb_kl = 0;
			minibatch_grad(t, w, mb, Bm, r0, r1, mean, scale);
			mr_pool_barrier(&t->pool);
			/* every worker sums the same partial KLs in the
			 * same order: all stop together */
			double kl = 0;
			for (int u = 0; u < T; u++)
				kl += t->w[u].mb_kl;
			if ((stop = kl_stop(c, kl)))
				break;

			double ss8[8] = {0};
			for_my_columns(t, &p->actor, tid, reduce_span, ss8);
			for_my_columns(t, &p->critic, tid, reduce_span, ss8);
			w->sumsq = ((ss8[0] + ss8[1]) + (ss8[2] + ss8[3])) +
				   ((ss8[4] + ss8[5]) + (ss8[6] + ss8[7]));
			mr_pool_barrier(&t->pool);

			double tot = 0;
			for (int u = 0; u < T; u++)
				tot += t->w[u].sumsq;
			double norm = sqrt(tot);
			if (tid == 0)
				w->st.grad_norm += norm;
			adam_step a = adam_for(t, ++step, norm);
			a.grads = t->G;
			for_my_columns(t, &p->actor, tid, adam_span, &a);
			for_my_columns(t, &p->critic, tid, adam_span, &a);
			mlp_sync_wt_rows(&p->actor, p->params, p->wt, tid, T);
			mlp_sync_wt_rows(&p->critic, p->params, p->wt, tid, T);
			mr_pool_barrier(&t->pool);
		}
	}
	t->w[tid].nmb = nmb;
	t->w[tid].stopped = stop;
}

void ppo_update_job(void *arg, int tid)
{
	mr_ppo *t = arg;
	worker *w = &t->w[tid];
	memset(&w->st, 0, sizeof w->st);
	if (by_net(t))
		update_by_net(t, tid);
	else
		update_by_rows(t, tid);
	/* per-minibatch means (a minibatch target_kl stopped counts: its
	 * losses were computed) */
	int64_t seen = w->nmb + w->stopped;
	double k = 1.0 / (seen ? (double)seen : 1);
	w->st.pg_loss *= k;
	w->st.v_loss *= k;
	w->st.entropy *= k;
	w->st.approx_kl *= k;
	w->st.clip_frac *= k;
	w->st.grad_norm *= k;
}
