/* rollout.c - one step of policy iteration by simulation (adapt.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"

#define DEFAULT_MAX_JOINT 1000000L

struct mr_rollout {
	mr_adapt_model m;
	mr_rollout_opts o;
	uint64_t decision;  /* decisions taken: picks the random streams */
	int total_choices;
	int offset[MR_ADAPT_MAX_COMPONENTS]; /* component's first mask byte */
	unsigned char *state[2]; /* the trajectory's states, alternating */
	uint8_t *mask;
	/* multistep lookahead: the state reached and the mask and candidate
	 * at each searched step */
	unsigned char *deep[MR_ROLLOUT_MAX_DEPTH];
	uint8_t *deep_mask[MR_ROLLOUT_MAX_DEPTH];
	int32_t deep_cand[MR_ROLLOUT_MAX_DEPTH][MR_ADAPT_MAX_COMPONENTS];
	int32_t base[MR_ADAPT_MAX_COMPONENTS];
	int32_t cand[MR_ADAPT_MAX_COMPONENTS];
	int32_t step_action[MR_ADAPT_MAX_COMPONENTS];
};

static int check_opts(const mr_adapt_model *m, const mr_rollout_opts *o,
		      mr_err *e)
{
	if (m->ncomp < 1 || m->ncomp > MR_ADAPT_MAX_COMPONENTS)
		return mr_errf(e, MR_EXIT_USAGE, "rollout: %d action "
			       "components (want 1..%d)", m->ncomp,
			       MR_ADAPT_MAX_COMPONENTS);
	for (int i = 0; i < m->ncomp; i++)
		if (m->nchoices[i] < 1)
			return mr_errf(e, MR_EXIT_USAGE, "rollout: component "
				       "%d has %d choices", i, m->nchoices[i]);
	if (!m->step || !m->base || m->state_size == 0)
		return mr_errf(e, MR_EXIT_USAGE, "rollout: the model needs a "
			       "step, a base policy and a state size");
	if (o->lookahead < 1 || o->runs < 1)
		return mr_errf(e, MR_EXIT_USAGE, "rollout: lookahead %d, runs "
			       "%d (want both >= 1)", o->lookahead, o->runs);
	if (o->depth < 0 || o->depth > MR_ROLLOUT_MAX_DEPTH ||
	    o->depth > o->lookahead)
		return mr_errf(e, MR_EXIT_USAGE, "rollout: depth %d (want "
			       "1..%d, at most the lookahead %d)", o->depth,
			       MR_ROLLOUT_MAX_DEPTH, o->lookahead);
	if (!(o->gamma >= 0 && o->gamma <= 1))
		return mr_errf(e, MR_EXIT_USAGE, "rollout: gamma %g (want "
			       "0..1)", o->gamma);
	if (o->max_joint < 0)
		return mr_errf(e, MR_EXIT_USAGE, "rollout: max_joint %ld",
			       o->max_joint);
	return 0;
}

mr_rollout *mr_rollout_new(const mr_adapt_model *m,
			   const mr_rollout_opts *opts, mr_err *e)
{
	if (check_opts(m, opts, e))
		return NULL;
	mr_rollout *r = calloc(1, sizeof *r);
	if (!r) {
		mr_errf(e, MR_EXIT_IO, "rollout: out of memory");
		return NULL;
	}
	r->m = *m;
	r->o = *opts;
	if (r->o.max_joint == 0)
		r->o.max_joint = DEFAULT_MAX_JOINT;
	if (r->o.depth == 0)
		r->o.depth = 1;
	for (int i = 0; i < m->ncomp; i++) {
		r->offset[i] = r->total_choices;
		r->total_choices += m->nchoices[i];
	}
	r->state[0] = malloc(m->state_size);
	r->state[1] = malloc(m->state_size);
	r->mask = malloc((size_t)r->total_choices);
	int ok = r->state[0] && r->state[1] && r->mask;
	for (int d = 0; d < r->o.depth; d++) {
		r->deep[d] = malloc(m->state_size);
		r->deep_mask[d] = malloc((size_t)r->total_choices);
		ok = ok && r->deep[d] && r->deep_mask[d];
	}
	if (!ok) {
		mr_rollout_free(r);
		mr_errf(e, MR_EXIT_IO, "rollout: out of memory");
		return NULL;
	}
	return r;
}

void mr_rollout_free(mr_rollout *r)
{
	if (!r)
		return;
	free(r->state[0]);
	free(r->state[1]);
	free(r->mask);
	for (int d = 0; d < MR_ROLLOUT_MAX_DEPTH; d++) {
		free(r->deep[d]);
		free(r->deep_mask[d]);
	}
	free(r);
}

static const uint8_t *comp_mask(const mr_rollout *r, int i)
{
	return r->mask + r->offset[i];
}

/* The allowed choices of state s into mask (all when the model has no
 * mask); fails when a component has none. */
static int allowed(mr_rollout *r, const void *s, uint8_t *mask, mr_err *e)
{
	if (r->m.mask) {
		if (r->m.mask(r->m.ctx, s, mask, e))
			return mr_err_prefix(e, "rollout: mask");
	} else {
		memset(mask, 1, (size_t)r->total_choices);
	}
	for (int i = 0; i < r->m.ncomp; i++) {
		int any = 0;
		for (int c = 0; c < r->m.nchoices[i]; c++)
			any |= mask[r->offset[i] + c];
		if (!any)
			return mr_errf(e, MR_EXIT_FAIL, "rollout: component %d "
				       "has no allowed choice", i);
	}
	return 0;
}

/* cand = the first allowed joint action under mask; returns their count. */
static double first_joint(const mr_rollout *r, const uint8_t *mask,
			  int32_t *cand)
{
	double count = 1;
	for (int i = 0; i < r->m.ncomp; i++) {
		int n = 0, first = -1;
		for (int c = r->m.nchoices[i] - 1; c >= 0; c--)
			if (mask[r->offset[i] + c]) {
				n++;
				first = c;
			}
		count *= n;
		cand[i] = first;
	}
	return count;
}

/* Sets cand to the next allowed joint action (component 0 slowest);
 * returns 0 after the last. */
static int next_joint(const mr_rollout *r, const uint8_t *mask, int32_t *cand)
{
	for (int i = r->m.ncomp - 1; i >= 0; i--) {
		const uint8_t *m = mask + r->offset[i];
		int c = cand[i] + 1;
		while (c < r->m.nchoices[i] && !m[c])
			c++;
		if (c < r->m.nchoices[i]) {
			cand[i] = c;
			return 1;
		}
		c = 0;
		while (!m[c])
			c++;
		cand[i] = c;
	}
	return 0;
}

static int tail(mr_rollout *r, const void *s, int t, mr_rng *rng,
		double *ret, mr_err *e);

/* Searched step t of a multistep lookahead: the best over the allowed
 * joint actions in s of reward + gamma tail, each from the same random
 * stream. */
static int search(mr_rollout *r, const void *s, int t, mr_rng *rng,
		  double *ret, mr_err *e)
{
	uint8_t *mask = r->deep_mask[t];
	int32_t *cand = r->deep_cand[t];
	mr_rng start = *rng;
	double best = -HUGE_VAL, reward = 0, rest = 0;

	if (allowed(r, s, mask, e))
		return -1;
	first_joint(r, mask, cand);
	do {
		*rng = start;
		if (r->m.step(r->m.ctx, s, cand, rng, &reward, r->deep[t], e))
			return mr_err_prefix(e, "rollout: model step");
		if (tail(r, r->deep[t], t + 1, rng, &rest, e))
			return -1;
		if (reward + r->o.gamma * rest > best)
			best = reward + r->o.gamma * rest;
	} while (next_joint(r, mask, cand));
	*ret = best;
	return 0;
}

/* The discounted return from s, reached after t steps: searched steps
 * while t < depth, then the base policy to the lookahead, then the
 * terminal value. */
static int tail(mr_rollout *r, const void *s, int t, mr_rng *rng,
		double *ret, mr_err *e)
{
	const mr_adapt_model *m = &r->m;
	const void *cur = s;
	double sum = 0, disc = 1, reward = 0, v = 0;

	if (t < r->o.depth)
		return search(r, s, t, rng, ret, e);
	for (; t < r->o.lookahead; t++) {
		void *next = r->state[t & 1];
		if (m->base(m->ctx, cur, r->step_action, e))
			return mr_err_prefix(e, "rollout: base policy");
		if (m->step(m->ctx, cur, r->step_action, rng, &reward, next,
			    e))
			return mr_err_prefix(e, "rollout: model step");
		sum += disc * reward;
		disc *= r->o.gamma;
		cur = next;
	}
	if (m->value) {
		if (m->value(m->ctx, cur, &v, e))
			return mr_err_prefix(e, "rollout: terminal value");
		sum += disc * v;
	}
	*ret = sum;
	return 0;
}

/* The discounted return of one simulated trajectory from s, a first. */
static int trajectory(mr_rollout *r, const void *s, const int32_t *a,
		      mr_rng *rng, double *ret, mr_err *e)
{
	double reward = 0, rest = 0;

	if (r->m.step(r->m.ctx, s, a, rng, &reward, r->deep[0], e))
		return mr_err_prefix(e, "rollout: model step");
	if (tail(r, r->deep[0], 1, rng, &rest, e))
		return -1;
	*ret = reward + r->o.gamma * rest;
	return 0;
}

static int q_value(mr_rollout *r, const void *s, const int32_t *a, double *q,
		   mr_err *e)
{
	double sum = 0, ret = 0;
	mr_rng rng;

	for (int k = 0; k < r->o.runs; k++) {
		mr_rng_seed(&rng, r->o.seed,
			    r->decision * (uint64_t)r->o.runs + (uint64_t)k);
		if (trajectory(r, s, a, &rng, &ret, e))
			return -1;
		sum += ret;
	}
	*q = sum / r->o.runs;
	return 0;
}

int mr_rollout_q(mr_rollout *r, const void *s, const int32_t *a, double *q,
		 mr_err *e)
{
	return q_value(r, s, a, q, e);
}

/* Choice c of a component (base choice b) beats the best so far? Ties
 * keep the base choice, else the earlier one. */
static int better(double q, int c, double best_q, int best_c, int b)
{
	return best_c < 0 || q > best_q || (q == best_q && c == b);
}

static int act_componentwise(mr_rollout *r, const void *s, int32_t *action,
			     long *evaluated, mr_err *e)
{
	double q_cur = 0; /* Q of action as it stands, known after comp 0 */

	memcpy(action, r->base, sizeof(int32_t) * (size_t)r->m.ncomp);
	for (int i = 0; i < r->m.ncomp; i++) {
		const uint8_t *mask = comp_mask(r, i);
		double best_q = 0, q;
		int best_c = -1;
		memcpy(r->cand, action, sizeof(int32_t) * (size_t)r->m.ncomp);
		for (int c = 0; c < r->m.nchoices[i]; c++) {
			if (!mask[c])
				continue;
			r->cand[i] = c;
			if (i > 0 && c == action[i]) {
				q = q_cur;
			} else {
				if (q_value(r, s, r->cand, &q, e))
					return -1;
				(*evaluated)++;
			}
			if (better(q, c, best_q, best_c, r->base[i])) {
				best_q = q;
				best_c = c;
			}
		}
		action[i] = best_c;
		q_cur = best_q;
	}
	return 0;
}

static int act_joint(mr_rollout *r, const void *s, int32_t *action,
		     long *evaluated, mr_err *e)
{
	int ncomp = r->m.ncomp;
	double best_q = 0, q;
	double count = first_joint(r, r->mask, r->cand);

	if (pow(count, r->o.depth) > (double)r->o.max_joint)
		return mr_errf(e, MR_EXIT_USAGE, "rollout: %.0f joint actions "
			       "to the power %d (more than %ld): use the "
			       "component-wise variant or a smaller depth",
			       count, r->o.depth, r->o.max_joint);
	do {
		int is_base = !memcmp(r->cand, r->base,
				      sizeof(int32_t) * (size_t)ncomp);
		if (q_value(r, s, r->cand, &q, e))
			return -1;
		if (*evaluated == 0 || q > best_q || (q == best_q && is_base)) {
			best_q = q;
			memcpy(action, r->cand,
			       sizeof(int32_t) * (size_t)ncomp);
		}
		(*evaluated)++;
	} while (next_joint(r, r->mask, r->cand));
	return 0;
}

int mr_rollout_act(mr_rollout *r, const void *s, int32_t *action,
		   long *evaluated, mr_err *e)
{
	long n = 0;
	int rc;

	if (allowed(r, s, r->mask, e))
		return -1;
	if (r->m.base(r->m.ctx, s, r->base, e))
		return mr_err_prefix(e, "rollout: base policy");
	for (int i = 0; i < r->m.ncomp; i++)
		if (r->base[i] < 0 || r->base[i] >= r->m.nchoices[i])
			return mr_errf(e, MR_EXIT_FAIL, "rollout: base policy "
				       "chose %d for component %d (%d choices)",
				       (int)r->base[i], i, r->m.nchoices[i]);
	if (r->o.componentwise)
		rc = act_componentwise(r, s, action, &n, e);
	else
		rc = act_joint(r, s, action, &n, e);
	if (evaluated)
		*evaluated = n;
	r->decision++;
	return rc;
}
