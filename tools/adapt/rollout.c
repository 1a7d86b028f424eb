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
	for (int i = 0; i < m->ncomp; i++) {
		r->offset[i] = r->total_choices;
		r->total_choices += m->nchoices[i];
	}
	r->state[0] = malloc(m->state_size);
	r->state[1] = malloc(m->state_size);
	r->mask = malloc((size_t)r->total_choices);
	if (!r->state[0] || !r->state[1] || !r->mask) {
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
	free(r);
}

/* The discounted return of one simulated trajectory from s, a first. */
static int trajectory(mr_rollout *r, const void *s, const int32_t *a,
		      mr_rng *rng, double *ret, mr_err *e)
{
	const mr_adapt_model *m = &r->m;
	const void *cur = s;
	double sum = 0, disc = 1, reward = 0, v = 0;

	for (int t = 0; t < r->o.lookahead; t++) {
		void *next = r->state[t & 1];
		if (t > 0 && m->base(m->ctx, cur, r->step_action, e))
			return mr_err_prefix(e, "rollout: base policy");
		if (m->step(m->ctx, cur, t ? r->step_action : a, rng, &reward,
			    next, e))
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

static const uint8_t *comp_mask(const mr_rollout *r, int i)
{
	return r->mask + r->offset[i];
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

/* Sets cand to the next allowed joint action (component 0 slowest);
 * returns 0 after the last. */
static int next_joint(mr_rollout *r)
{
	for (int i = r->m.ncomp - 1; i >= 0; i--) {
		const uint8_t *mask = comp_mask(r, i);
		int c = r->cand[i] + 1;
		while (c < r->m.nchoices[i] && !mask[c])
			c++;
		if (c < r->m.nchoices[i]) {
			r->cand[i] = c;
			return 1;
		}
		c = 0;
		while (!mask[c])
			c++;
		r->cand[i] = c;
	}
	return 0;
}

static int act_joint(mr_rollout *r, const void *s, int32_t *action,
		     long *evaluated, mr_err *e)
{
	int ncomp = r->m.ncomp;
	double count = 1, best_q = 0, q;

	for (int i = 0; i < ncomp; i++) {
		const uint8_t *mask = comp_mask(r, i);
		int allowed = 0, first = -1;
		for (int c = r->m.nchoices[i] - 1; c >= 0; c--)
			if (mask[c]) {
				allowed++;
				first = c;
			}
		count *= allowed;
		r->cand[i] = first;
	}
	if (count > (double)r->o.max_joint)
		return mr_errf(e, MR_EXIT_USAGE, "rollout: %.0f joint actions "
			       "(more than %ld): use the component-wise "
			       "variant", count, r->o.max_joint);
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
	} while (next_joint(r));
	return 0;
}

int mr_rollout_act(mr_rollout *r, const void *s, int32_t *action,
		   long *evaluated, mr_err *e)
{
	long n = 0;
	int rc;

	if (r->m.mask) {
		if (r->m.mask(r->m.ctx, s, r->mask, e))
			return mr_err_prefix(e, "rollout: mask");
	} else {
		memset(r->mask, 1, (size_t)r->total_choices);
	}
	for (int i = 0; i < r->m.ncomp; i++) {
		const uint8_t *mask = comp_mask(r, i);
		int any = 0;
		for (int c = 0; c < r->m.nchoices[i]; c++)
			any |= mask[c];
		if (!any)
			return mr_errf(e, MR_EXIT_FAIL, "rollout: component %d "
				       "has no allowed choice", i);
	}
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
