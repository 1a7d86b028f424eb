/*
 * optimal.c - the exact optimum of an objective on its simulator.
 *
 * Absolute actions: exhaustive search over every action for each state
 * (the reward of a step depends only on that step's state and action).
 * Incremental actions: value iteration over (load level, parameter level,
 * configuration), with the load pattern as a Markov chain: random levels
 * are exactly one; a sequence is modelled by its empirical level
 * transitions (the agent observes the load, not the time). The mean reward
 * of the optimum is measured by running it on the simulator itself, so it
 * is the same number a policy is compared against.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simenv_impl.h"

#define VI_MAX_STATES (4u << 20)
#define VI_MAX_SWEEPS 100000

static size_t load_count(const se_sim *s)
{
	size_t n = 1;
	for (int j = 0; j < s->o->nserv; j++)
		n *= (size_t)s->pat->nlevels[j];
	return n;
}

static size_t param_count(const se_sim *s)
{
	size_t n = 1;
	for (int k = 0; k < s->o->nparam; k++)
		n *= (size_t)s->o->param[k].nlevels;
	return n;
}

static size_t cfg_count(const se_sim *s)
{
	size_t n = 1;
	for (int c = 0; c < s->o->nact; c++)
		n *= (size_t)s->o->act[c].nvalues;
	return n;
}

size_t se_state_count(const se_sim *s)
{
	if (!s->discrete_load)
		return 0;
	return load_count(s) * param_count(s) *
	       (s->o->incremental ? cfg_count(s) : 1);
}

/* Mixed radix, loads most significant, then params, then configuration. */
long se_state_index(const se_sim *s, const se_state *st)
{
	const mr_objective *o = s->o;
	if (!s->discrete_load)
		return -1;
	size_t idx = 0;
	for (int j = 0; j < o->nserv; j++)
		idx = idx * (size_t)s->pat->nlevels[j] + (size_t)st->lidx[j];
	for (int k = 0; k < o->nparam; k++)
		idx = idx * (size_t)o->param[k].nlevels + (size_t)st->pidx[k];
	if (o->incremental)
		for (int c = 0; c < o->nact; c++)
			idx = idx * (size_t)o->act[c].nvalues + (size_t)st->cidx[c];
	return (long)idx;
}

void se_state_decode(const se_sim *s, size_t idx, se_state *st)
{
	const mr_objective *o = s->o;
	memset(st, 0, sizeof *st);
	if (o->incremental)
		for (int c = o->nact - 1; c >= 0; c--) {
			st->cidx[c] = (int32_t)(idx % (size_t)o->act[c].nvalues);
			idx /= (size_t)o->act[c].nvalues;
		}
	for (int k = o->nparam - 1; k >= 0; k--) {
		st->pidx[k] = (int32_t)(idx % (size_t)o->param[k].nlevels);
		idx /= (size_t)o->param[k].nlevels;
	}
	for (int j = o->nserv - 1; j >= 0; j--) {
		st->lidx[j] = (int32_t)(idx % (size_t)s->pat->nlevels[j]);
		idx /= (size_t)s->pat->nlevels[j];
		st->load[j] = s->pat->levels[j][st->lidx[j]];
	}
}

double se_best_two(se_sim *s, const se_state *st, int32_t *action,
		   mr_step_info *info, int32_t *runner, double *runner_r)
{
	const mr_objective *o = s->o;
	size_t na = (size_t)o->nact * sizeof(int32_t);
	int32_t cfg[MR_MAX_COMPONENTS] = {0};
	double y[SE_MAX_TARGETS], best = -INFINITY, second = -INFINITY;
	mr_step_info inf;
	size_t n = cfg_count(s);
	for (size_t a = 0; a < n; a++) {
		size_t q = a;
		for (int c = o->nact - 1; c >= 0; c--) {
			cfg[c] = (int32_t)(q % (size_t)o->act[c].nvalues);
			q /= (size_t)o->act[c].nvalues;
		}
		const double *t = se_targets(s, st, cfg, y);
		double r = se_outcome(s, st, cfg, t, &inf);
		if (r > best || a == 0) { /* first of equals: lowest indices */
			if (runner && a > 0) {
				second = best;
				memcpy(runner, action, na);
			}
			best = r;
			memcpy(action, cfg, na);
			if (info)
				*info = inf;
		} else if (runner && (r > second || a == 1)) {
			second = r;
			memcpy(runner, cfg, na);
		}
	}
	if (runner_r)
		*runner_r = second;
	return best;
}

double se_best_action(se_sim *s, const se_state *st, int32_t *action,
		      mr_step_info *info)
{
	return se_best_two(s, st, action, info, NULL, NULL);
}

static double objective_gamma(const mr_objective *o)
{
	const char *g = mr_objective_param(o, "optimal", "gamma");
	if (!g)
		g = mr_objective_param(o, "ppo", "gamma");
	if (!g)
		return 0.99;
	char *end;
	double v = strtod(g, &end);
	return (end == g || *end || !(v >= 0 && v < 1)) ? -1 : v;
}

/* Transition matrix of the load levels (nL x nL, row-major). */
static double *load_transitions(const se_sim *s, size_t nL)
{
	const se_pattern *p = s->pat;
	const mr_objective *o = s->o;
	double *P = mr_xcalloc(nL * nL, sizeof *P);
	if (p->kind == SE_PAT_SEQUENCE) {
		for (int t = 0; t < p->nsteps; t++) {
			int u = t + 1 == p->nsteps ? 0 : t + 1;
			size_t a = 0, b = 0;
			for (int j = 0; j < o->nserv; j++) {
				a = a * (size_t)p->nlevels[j] +
				    (size_t)p->seq[(size_t)t * (size_t)o->nserv + (size_t)j];
				b = b * (size_t)p->nlevels[j] +
				    (size_t)p->seq[(size_t)u * (size_t)o->nserv + (size_t)j];
			}
			P[a * nL + b] += 1;
		}
		for (size_t a = 0; a < nL; a++) {
			double sum = 0;
			for (size_t b = 0; b < nL; b++)
				sum += P[a * nL + b];
			if (sum == 0)
				P[a * nL + a] = 1;
			else
				for (size_t b = 0; b < nL; b++)
					P[a * nL + b] /= sum;
		}
		return P;
	}
	/* random levels: each service independently keeps its level or,
	 * with probability 1/hold, draws a uniform one */
	double q = p->hold <= 1 ? 1 : 1 / p->hold;
	for (size_t a = 0; a < nL; a++)
		for (size_t b = 0; b < nL; b++) {
			double pr = 1;
			size_t x = a, y = b;
			for (int j = o->nserv - 1; j >= 0; j--) {
				size_t n = (size_t)p->nlevels[j];
				size_t xa = x % n, yb = y % n;
				x /= n;
				y /= n;
				double pj = (n > 1 ? q / (double)n : 0) +
					    (xa == yb ? (n > 1 ? 1 - q : 1) : 0);
				pr *= pj;
			}
			P[a * nL + b] = pr;
		}
	return P;
}

static double *param_transitions(const se_sim *s, size_t nP)
{
	const mr_objective *o = s->o;
	double *P = mr_xcalloc(nP * nP, sizeof *P);
	for (size_t a = 0; a < nP; a++)
		for (size_t b = 0; b < nP; b++) {
			double pr = 1;
			size_t x = a, y = b;
			for (int k = o->nparam - 1; k >= 0; k--) {
				size_t n = (size_t)o->param[k].nlevels;
				size_t xa = x % n, yb = y % n;
				x /= n;
				y /= n;
				pr *= o->param[k].per_episode ? (xa == yb)
							      : 1.0 / (double)n;
			}
			P[a * nP + b] = pr;
		}
	return P;
}

/* R[lp * nC + c]: the reward of running configuration c in load/param
 * state lp; NULL when one is not a number. */
static double *config_rewards(se_sim *s, size_t nLP, size_t nC)
{
	double *R = mr_xcalloc(nLP * nC, sizeof *R);
	se_state st;
	double y[SE_MAX_TARGETS];
	mr_step_info inf;
	int32_t cfg[MR_MAX_COMPONENTS];
	size_t K = (size_t)s->o->nact;
	for (size_t i = 0; i < nLP * nC; i++) { /* i = lp * nC + c */
		se_state_decode(s, i, &st);
		memcpy(cfg, st.cidx, sizeof(int32_t) * K);
		R[i] = se_outcome(s, &st, cfg, se_targets(s, &st, cfg, y), &inf);
		if (!isfinite(R[i])) {
			free(R);
			return NULL;
		}
	}
	return R;
}

/* The next configuration of each (configuration, joint move), nC x nM;
 * -1 when a move leaves the grid (masked). A joint move's digit k (base
 * MR_NMOVES, component K-1 least significant) is component k's move. */
static long *move_table(const mr_objective *o, size_t nC, size_t nM)
{
	long *next = mr_xcalloc(nC * nM, sizeof *next);
	for (size_t c = 0; c < nC; c++)
		for (size_t m = 0; m < nM; m++) {
			size_t q = m, cc = c, stride = 1;
			long nc = (long)c;
			for (int k = o->nact - 1; k >= 0; k--) {
				int d = mr_move_delta((int)(q % MR_NMOVES));
				q /= MR_NMOVES;
				size_t n = (size_t)o->act[k].nvalues;
				int ci = (int)(cc % n);
				cc /= n;
				if (ci + d < 0 || ci + d >= (int)n) {
					nc = -1;
					break;
				}
				nc += (long)d * (long)stride;
				stride *= n;
			}
			next[c * nM + m] = nc;
		}
	return next;
}

/* Value iteration's arrays: rewards, transitions, values. */
typedef struct {
	size_t nL, nP, nC, nM, nLP, nS;
	double gamma;
	double *R, *PL, *PP; /* rewards; load and param transitions */
	long *next;          /* move_table */
	double *V, *Vn, *EV; /* values, the next sweep's, expected next */
} vi_work;

/* EV[lp][c'] = sum over next (l', p') of P(l'p' | lp) V[l'p'][c']. */
static void vi_expect(vi_work *w)
{
	for (size_t lp = 0; lp < w->nLP; lp++) {
		size_t l = lp / w->nP, p = lp % w->nP;
		double *ev = w->EV + lp * w->nC;
		memset(ev, 0, w->nC * sizeof *ev);
		for (size_t l2 = 0; l2 < w->nL; l2++) {
			double pl = w->PL[l * w->nL + l2];
			if (pl == 0)
				continue;
			for (size_t p2 = 0; p2 < w->nP; p2++) {
				double pr = pl * w->PP[p * w->nP + p2];
				if (pr == 0)
					continue;
				const double *v2 =
					w->V + (l2 * w->nP + p2) * w->nC;
				for (size_t c = 0; c < w->nC; c++)
					ev[c] += pr * v2[c];
			}
		}
	}
}

/* The value of joint move m from configuration c in state lp (-INFINITY
 * when masked). */
static double vi_q(const vi_work *w, size_t lp, size_t c, size_t m)
{
	long n2 = w->next[c * w->nM + m];
	if (n2 < 0)
		return -INFINITY;
	return w->R[lp * w->nC + (size_t)n2] +
	       w->gamma * w->EV[lp * w->nC + (size_t)n2];
}

/* Sweeps until the values change by at most 1e-10 of their size; the
 * number of sweeps. */
static int vi_sweeps(vi_work *w)
{
	int sweeps = 0;
	for (; sweeps < VI_MAX_SWEEPS; sweeps++) {
		vi_expect(w);
		double delta = 0, vmax = 0;
		for (size_t lp = 0; lp < w->nLP; lp++)
			for (size_t c = 0; c < w->nC; c++) {
				double best = -INFINITY;
				for (size_t m = 0; m < w->nM; m++) {
					if (w->next[c * w->nM + m] < 0)
						continue;
					double q = vi_q(w, lp, c, m);
					if (q > best)
						best = q;
				}
				size_t si = lp * w->nC + c;
				double d = fabs(best - w->V[si]);
				if (d > delta)
					delta = d;
				if (fabs(best) > vmax)
					vmax = fabs(best);
				w->Vn[si] = best;
			}
		double *t = w->V;
		w->V = w->Vn;
		w->Vn = t;
		if (delta <= 1e-10 * (vmax > 1 ? vmax : 1))
			break;
	}
	return sweeps + 1;
}

/* The policy: the best move in every state (first of equals: the lowest
 * joint move, 0 being MR_MOVE_STAY everywhere). */
static void vi_policy(const vi_work *w, int K, se_optimum *opt)
{
	opt->nstates = w->nS;
	opt->best = mr_xcalloc(w->nS * (size_t)K, sizeof *opt->best);
	opt->reward = mr_xcalloc(w->nS, sizeof *opt->reward);
	for (size_t lp = 0; lp < w->nLP; lp++)
		for (size_t c = 0; c < w->nC; c++) {
			double best = -INFINITY;
			size_t bm = 0;
			for (size_t m = 0; m < w->nM; m++) {
				if (w->next[c * w->nM + m] < 0)
					continue;
				double q = vi_q(w, lp, c, m);
				if (best == -INFINITY ||
				    q > best + 1e-12 * (1 + fabs(best))) {
					best = q;
					bm = m;
				}
			}
			size_t si = lp * w->nC + c;
			size_t q = bm;
			for (int k = K - 1; k >= 0; k--) {
				opt->best[si * (size_t)K + (size_t)k] =
					(int32_t)(q % MR_NMOVES);
				q /= MR_NMOVES;
			}
			opt->reward[si] =
				w->R[lp * w->nC + (size_t)w->next[c * w->nM + bm]];
		}
}

static int solve_incremental(se_sim *s, se_optimum *opt, mr_err *e)
{
	const mr_objective *o = s->o;
	vi_work w = {.nL = load_count(s), .nP = param_count(s),
		     .nC = cfg_count(s), .nM = 1};
	w.nLP = w.nL * w.nP;
	w.nS = w.nLP * w.nC;
	for (int c = 0; c < o->nact; c++)
		w.nM *= MR_NMOVES;
	w.gamma = objective_gamma(o);
	if (w.gamma < 0)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s: gamma (from [optimal] or [ppo]) must be in [0, 1)",
			       o->path);
	opt->gamma = w.gamma;
	w.R = config_rewards(s, w.nLP, w.nC);
	if (!w.R)
		return se_nonfinite_error(s, e);
	w.PL = load_transitions(s, w.nL);
	w.PP = param_transitions(s, w.nP);
	w.V = mr_xcalloc(w.nS, sizeof *w.V);
	w.EV = mr_xcalloc(w.nS, sizeof *w.EV);
	w.Vn = mr_xcalloc(w.nS, sizeof *w.Vn);
	w.next = move_table(o, w.nC, w.nM);
	opt->iterations = vi_sweeps(&w);
	vi_policy(&w, o->nact, opt);
	opt->value = w.V;
	free(w.R);
	free(w.PL);
	free(w.PP);
	free(w.EV);
	free(w.Vn);
	free(w.next);
	return 0;
}

int se_optimum_solve(se_sim *s, se_optimum *opt, mr_err *e)
{
	const mr_objective *o = s->o;
	memset(opt, 0, sizeof *opt);
	opt->incremental = o->incremental;
	if (o->incremental) {
		if (!s->discrete_load)
			return mr_errf(e, MR_EXIT_USAGE,
				       "%s: value iteration needs discrete loads (a sequence or levels pattern), not %s",
				       o->path, s->pat->desc);
		if (se_state_count(s) > VI_MAX_STATES)
			return mr_errf(e, MR_EXIT_FAIL,
				       "%s: %zu states are too many for value iteration (at most %u)",
				       o->path, se_state_count(s), VI_MAX_STATES);
		return solve_incremental(s, opt, e);
	}
	if (!s->discrete_load)
		return 0; /* continuous loads: searched per step */
	size_t n = se_state_count(s);
	opt->nstates = n;
	opt->best = mr_xcalloc(n * (size_t)o->nact, sizeof *opt->best);
	opt->reward = mr_xcalloc(n, sizeof *opt->reward);
	se_state st;
	for (size_t i = 0; i < n; i++) {
		se_state_decode(s, i, &st);
		opt->reward[i] = se_best_action(s, &st,
						opt->best + i * (size_t)o->nact, NULL);
	}
	/* every action of every state was evaluated: any value that was
	 * not a finite number is an error (se_outcome is NaN from then) */
	if (s->nonfinite[0]) {
		se_optimum_free(opt);
		return se_nonfinite_error(s, e);
	}
	return 0;
}

void se_optimum_free(se_optimum *opt)
{
	free(opt->best);
	free(opt->reward);
	free(opt->value);
	memset(opt, 0, sizeof *opt);
}

int se_optimum_act(se_sim *s, const se_optimum *opt, int i, int32_t *action,
		   mr_err *e)
{
	const se_state *st = &s->st[i];
	long idx = se_state_index(s, st);
	if (idx < 0) {
		if (opt->incremental)
			return mr_errf(e, MR_EXIT_FAIL, "no optimum for continuous loads");
		se_best_action(s, st, action, NULL);
		return s->nonfinite[0] ? se_nonfinite_error(s, e) : 0;
	}
	memcpy(action, opt->best + (size_t)idx * (size_t)s->o->nact,
	       (size_t)s->o->nact * sizeof *action);
	return 0;
}

/* The optimum of env i of s, which after a system change (se_changed) is
 * the optimum of the model after it (*after, solved on first use). */
static int optimum_act_changed(se_sim *s, const se_optimum *opt,
			       se_optimum *after, int *after_solved, int i,
			       int32_t *action, mr_err *e)
{
	if (!se_changed(s, &s->st[i]))
		return se_optimum_act(s, opt, i, action, e);
	if (!*after_solved) {
		if (se_optimum_solve(s->after, after, e) != 0)
			return mr_err_prefix(e, "model after the change");
		*after_solved = 1;
	}
	se_after_state(s, &s->st[i]);
	return se_optimum_act(s->after, after, 0, action, e);
}

int mr_simenv_optimal_mean(const mr_objective *o, const mr_simenv_opts *opts,
			   double *mean_reward, mr_err *e)
{
	mr_simenv_opts eo = *opts;
	eo.eval = 1;
	mr_vecenv *v = mr_simenv_open(o, &eo, e);
	if (!v)
		return -1;
	se_sim *s = se_sim_of(v);
	se_optimum opt, after;
	int rc = -1, after_solved = 0;
	if (se_optimum_solve(s, &opt, e) != 0)
		goto out;
	if (v->reset(v, eo.seed, e) != 0)
		goto out2;
	double sum = 0;
	for (int t = 0; t < s->ep_len; t++) {
		for (int i = 0; i < v->nenvs; i++)
			if (optimum_act_changed(s, &opt, &after, &after_solved,
						i, v->actions + (size_t)i *
						(size_t)v->ncomp, e) != 0)
				goto out2;
		if (v->step(v, e) != 0)
			goto out2;
		for (int i = 0; i < v->nenvs; i++)
			sum += v->rewards[i];
	}
	*mean_reward = sum / ((double)s->ep_len * v->nenvs);
	rc = 0;
out2:
	se_optimum_free(&opt);
	if (after_solved)
		se_optimum_free(&after);
out:
	v->close(v);
	free(v);
	return rc;
}

/* ------------------------------------------------------------------------
 * The optimum as a controller (simenv.h)
 */
typedef struct {
	se_optimum opt, after; /* after: of the model after a change */
	int solved, after_solved;
} optimal_ctx;

void *mr_simenv_optimal_new(void)
{
	return mr_xcalloc(1, sizeof(optimal_ctx));
}

int mr_simenv_optimal_act(void *ctx, mr_vecenv *v, int32_t *action, mr_err *e)
{
	optimal_ctx *oc = ctx;
	se_sim *s = se_sim_of(v);
	if (!oc->solved) {
		if (se_optimum_solve(s, &oc->opt, e) != 0)
			return -1;
		oc->solved = 1;
	}
	return optimum_act_changed(s, &oc->opt, &oc->after, &oc->after_solved,
				   0, action, e);
}

void mr_simenv_optimal_free(void *ctx)
{
	optimal_ctx *oc = ctx;
	if (!oc)
		return;
	if (oc->solved)
		se_optimum_free(&oc->opt);
	if (oc->after_solved)
		se_optimum_free(&oc->after);
	free(oc);
}
