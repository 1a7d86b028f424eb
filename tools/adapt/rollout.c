/* rollout.c - one step of policy iteration by simulation (adapt.h). */
#include <limits.h>
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
	int32_t deep_base[MR_ROLLOUT_MAX_DEPTH][MR_ADAPT_MAX_COMPONENTS];
	int32_t deep_act[MR_ROLLOUT_MAX_DEPTH][MR_ADAPT_MAX_COMPONENTS];
	int32_t base[MR_ADAPT_MAX_COMPONENTS];
	int32_t cand[MR_ADAPT_MAX_COMPONENTS];
	int32_t step_action[MR_ADAPT_MAX_COMPONENTS];
	mr_rollout_plan plan; /* the search the budget allows */
	long work;            /* callbacks of the decision so far */
	long q_count;         /* Q values of the decision so far */
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
	if (o->max_joint < 0 || o->budget < 0)
		return mr_errf(e, MR_EXIT_USAGE, "rollout: max_joint %ld, "
			       "budget %ld (want >= 0)", o->max_joint,
			       o->budget);
	return 0;
}

/* Callbacks of a trajectory's tail from searched step t (worst case: every
 * choice allowed), nj joint actions, nc component-wise candidates. */
static double tail_work(const mr_adapt_model *m, const mr_rollout_opts *o,
			const mr_rollout_plan *p, int t, double nj, double nc)
{
	if (t >= p->depth)
		return 2.0 * (o->lookahead - t) + (m->value != NULL);
	double each = 1 + tail_work(m, o, p, t + 1, nj, nc);
	return p->inner_cw ? 1 + nc * each : nj * each; /* 1: the base */
}

static double plan_work(const mr_adapt_model *m, const mr_rollout_opts *o,
			const mr_rollout_plan *p)
{
	double nj = 1, nc = 1;
	for (int i = 0; i < m->ncomp; i++) {
		nj *= m->nchoices[i];
		nc += m->nchoices[i] - 1;
	}
	return 1 + (p->outer_cw ? nc : nj) * p->runs *
			   (1 + tail_work(m, o, p, 1, nj, nc));
}

/* The most runs (<= asked) with which plan p fits the budget; 0: none. */
static int plan_runs(const mr_adapt_model *m, const mr_rollout_opts *o,
		     mr_rollout_plan *p)
{
	for (p->runs = o->runs; p->runs >= 1; p->runs--) {
		double w = plan_work(m, o, p);
		if (!o->budget || w <= (double)o->budget) {
			p->worst = w < (double)LONG_MAX ? (long)w : LONG_MAX;
			return p->runs;
		}
	}
	return 0;
}

/* The search asked for, or with a budget the first that fits (adapt.h). */
static int make_plan(const mr_adapt_model *m, const mr_rollout_opts *o,
		     mr_rollout_plan *p, mr_err *e)
{
	int cw = !!o->componentwise;
	*p = (mr_rollout_plan){.depth = o->depth, .outer_cw = cw,
			       .inner_cw = cw, .runs = o->runs};
	double asked = plan_work(m, o, p);
	for (int d = o->depth; d >= 1; d--)
		for (int k = cw ? 2 : 0; k < 3; k++) {
			/* k: as asked, the decision joint and later steps
			 * component-wise, every step component-wise */
			*p = (mr_rollout_plan){.depth = d, .outer_cw = k == 2,
					       .inner_cw = k > 0};
			if (plan_runs(m, o, p))
				return 0;
		}
	p->runs = 1;
	return mr_errf(e, MR_EXIT_USAGE, "rollout: a budget of %ld callbacks "
		       "per decision fits no search (asked: %.0f; the smallest, "
		       "one step component-wise, one run: %.0f): raise it or "
		       "lower the lookahead", o->budget, asked,
		       plan_work(m, o, p));
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
	if (make_plan(m, &r->o, &r->plan, e)) {
		free(r);
		return NULL;
	}
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

/* The model's callbacks, each counted as one unit of work. */
static int do_step(mr_rollout *r, const void *s, const int32_t *a,
		   mr_rng *rng, double *reward, void *next, mr_err *e)
{
	r->work++;
	if (r->m.step(r->m.ctx, s, a, rng, reward, next, e))
		return mr_err_prefix(e, "rollout: model step");
	return 0;
}

static int do_base(mr_rollout *r, const void *s, int32_t *a, mr_err *e)
{
	r->work++;
	if (r->m.base(r->m.ctx, s, a, e))
		return mr_err_prefix(e, "rollout: base policy");
	return 0;
}

static int tail(mr_rollout *r, const void *s, int t, mr_rng *rng,
		double *ret, mr_err *e);

/* Q of candidate a at searched step t in s: at the decision (t = 0) the
 * mean over the runs, later the one trajectory of stream rng, restarted
 * from start for every candidate. */
static int eval_at(mr_rollout *r, const void *s, int t, const int32_t *a,
		   mr_rng *rng, const mr_rng *start, double *q, mr_err *e);

/* Choice c of a component (base choice b) beats the best so far? Ties
 * keep the base choice, else the earlier one. */
static int better(double q, int c, double best_q, int best_c, int b)
{
	return best_c < 0 || q > best_q || (q == best_q && c == b);
}

/* The best joint action at searched step t in s (allowed under mask, the
 * base's on ties): *best its Q, act (may be NULL) the action. */
static int best_joint(mr_rollout *r, const void *s, int t,
		      const uint8_t *mask, const int32_t *base, int32_t *cand,
		      mr_rng *rng, int32_t *act, double *best, mr_err *e)
{
	size_t size = sizeof(int32_t) * (size_t)r->m.ncomp;
	mr_rng start = rng ? *rng : (mr_rng){0};
	double q;
	int first = 1;

	first_joint(r, mask, cand);
	do {
		if (eval_at(r, s, t, cand, rng, &start, &q, e))
			return -1;
		if (first || q > *best ||
		    (q == *best && base && !memcmp(cand, base, size))) {
			*best = q;
			if (act)
				memcpy(act, cand, size);
		}
		first = 0;
	} while (next_joint(r, mask, cand));
	return 0;
}

/* Component-wise: from the base action, one component at a time. */
static int best_cw(mr_rollout *r, const void *s, int t, const uint8_t *mask,
		   const int32_t *base, int32_t *cand, mr_rng *rng,
		   int32_t *act, double *best, mr_err *e)
{
	size_t size = sizeof(int32_t) * (size_t)r->m.ncomp;
	mr_rng start = rng ? *rng : (mr_rng){0};
	double q_cur = 0; /* Q of act as it stands, known after comp 0 */

	memcpy(act, base, size);
	for (int i = 0; i < r->m.ncomp; i++) {
		const uint8_t *m = mask + r->offset[i];
		double best_q = 0, q;
		int best_c = -1;
		memcpy(cand, act, size);
		for (int c = 0; c < r->m.nchoices[i]; c++) {
			if (!m[c])
				continue;
			cand[i] = c;
			if (i > 0 && c == act[i])
				q = q_cur;
			else if (eval_at(r, s, t, cand, rng, &start, &q, e))
				return -1;
			if (better(q, c, best_q, best_c, base[i])) {
				best_q = q;
				best_c = c;
			}
		}
		act[i] = best_c;
		q_cur = best_q;
	}
	*best = q_cur;
	return 0;
}

/* Searched step t >= 1 of a multistep lookahead: the best over the
 * allowed actions in s (joint or component-wise, as planned) of
 * reward + gamma tail, each from the same random stream. */
static int search(mr_rollout *r, const void *s, int t, mr_rng *rng,
		  double *ret, mr_err *e)
{
	uint8_t *mask = r->deep_mask[t];

	if (allowed(r, s, mask, e))
		return -1;
	if (!r->plan.inner_cw)
		return best_joint(r, s, t, mask, NULL, r->deep_cand[t], rng,
				  NULL, ret, e);
	if (do_base(r, s, r->deep_base[t], e))
		return -1;
	for (int i = 0; i < r->m.ncomp; i++) /* a masked base: its first */
		if (!mask[r->offset[i] + r->deep_base[t][i]])
			for (int c = r->m.nchoices[i] - 1; c >= 0; c--)
				if (mask[r->offset[i] + c])
					r->deep_base[t][i] = c;
	return best_cw(r, s, t, mask, r->deep_base[t], r->deep_cand[t], rng,
		       r->deep_act[t], ret, e);
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

	if (t < r->plan.depth)
		return search(r, s, t, rng, ret, e);
	for (; t < r->o.lookahead; t++) {
		void *next = r->state[t & 1];
		if (do_base(r, cur, r->step_action, e) ||
		    do_step(r, cur, r->step_action, rng, &reward, next, e))
			return -1;
		sum += disc * reward;
		disc *= r->o.gamma;
		cur = next;
	}
	if (m->value) {
		r->work++;
		if (m->value(m->ctx, cur, &v, e))
			return mr_err_prefix(e, "rollout: terminal value");
		sum += disc * v;
	}
	*ret = sum;
	return 0;
}

/* The discounted return of one trajectory from s at searched step t, a
 * first (the state reached in deep[t]). */
static int trajectory(mr_rollout *r, const void *s, int t, const int32_t *a,
		      mr_rng *rng, double *ret, mr_err *e)
{
	double reward = 0, rest = 0;

	if (do_step(r, s, a, rng, &reward, r->deep[t], e) ||
	    tail(r, r->deep[t], t + 1, rng, &rest, e))
		return -1;
	*ret = reward + r->o.gamma * rest;
	return 0;
}

static int q_value(mr_rollout *r, const void *s, const int32_t *a, double *q,
		   mr_err *e)
{
	double sum = 0, ret = 0;
	mr_rng rng;

	for (int k = 0; k < r->plan.runs; k++) {
		mr_rng_seed(&rng, r->o.seed,
			    r->decision * (uint64_t)r->plan.runs + (uint64_t)k);
		if (trajectory(r, s, 0, a, &rng, &ret, e))
			return -1;
		sum += ret;
	}
	*q = sum / r->plan.runs;
	r->q_count++;
	return 0;
}

static int eval_at(mr_rollout *r, const void *s, int t, const int32_t *a,
		   mr_rng *rng, const mr_rng *start, double *q, mr_err *e)
{
	if (t == 0)
		return q_value(r, s, a, q, e);
	*rng = *start;
	return trajectory(r, s, t, a, rng, q, e);
}

int mr_rollout_q(mr_rollout *r, const void *s, const int32_t *a, double *q,
		 mr_err *e)
{
	return q_value(r, s, a, q, e);
}

const mr_rollout_plan *mr_rollout_get_plan(const mr_rollout *r)
{
	return &r->plan;
}

long mr_rollout_work(const mr_rollout *r)
{
	return r->work;
}

int mr_rollout_act(mr_rollout *r, const void *s, int32_t *action,
		   long *evaluated, mr_err *e)
{
	double count, q;
	int rc;

	r->work = 0;
	r->q_count = 0;
	if (allowed(r, s, r->mask, e) || do_base(r, s, r->base, e))
		return -1;
	for (int i = 0; i < r->m.ncomp; i++)
		if (r->base[i] < 0 || r->base[i] >= r->m.nchoices[i])
			return mr_errf(e, MR_EXIT_FAIL, "rollout: base policy "
				       "chose %d for component %d (%d choices)",
				       (int)r->base[i], i, r->m.nchoices[i]);
	count = first_joint(r, r->mask, r->cand);
	if (!r->plan.outer_cw &&
	    pow(count, r->plan.depth) > (double)r->o.max_joint)
		return mr_errf(e, MR_EXIT_USAGE, "rollout: %.0f joint actions "
			       "to the power %d (more than %ld): use the "
			       "component-wise variant or a smaller depth",
			       count, r->plan.depth, r->o.max_joint);
	if (r->plan.outer_cw)
		rc = best_cw(r, s, 0, r->mask, r->base, r->cand, NULL, action,
			     &q, e);
	else
		rc = best_joint(r, s, 0, r->mask, r->base, r->cand, NULL,
				action, &q, e);
	if (evaluated)
		*evaluated = r->q_count;
	r->decision++;
	return rc;
}
