/*
 * live.c - an objective on a measured system (policy-eval live): trace
 * rows in; the observation, mask, configuration and reward the simulator
 * would give out.
 *
 * Nothing here is a second copy of the simulator: the observation and
 * mask are se_obs_mask's, the configuration se_action_cfg's and the reward
 * se_outcome's, on a simulator opened for the objective. What is live's
 * own is the trace's side: which column holds what.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simenv_impl.h"

_Static_assert(MR_LIVE_MAX_PARAMS == SE_MAX_PARAMS,
	       "mr_live_state.param holds every [param]");

/* loads, targets (a --ratio target: two columns), settings */
#define LIVE_MAX_COLS \
	(MR_MAX_SERVICES + 2 * SE_MAX_TARGETS + MR_MAX_COMPONENTS)

struct mr_simenv_live {
	const mr_objective *o;
	const char *model_path; /* NULL: the objective's */
	mr_action_space as;
	mr_vecenv *v; /* the simulator whose code gives rewards */
	se_sim *sim;
	double timeout;
	int have_opt; /* incremental: the optimum, solved on first use */
	se_optimum opt;
	int ncols;
	const char *cols[LIVE_MAX_COLS];
	char load_name[MR_MAX_SERVICES][24]; /* "max_l" + any int */
	/* where each input sits in a row */
	int load_col[MR_MAX_SERVICES];
	int target_col[SE_MAX_TARGETS]; /* -1: a --ratio target */
	int num_col[SE_MAX_TARGETS], den_col[SE_MAX_TARGETS]; /* its columns */
	int setting_col[MR_MAX_COMPONENTS];
};

/* The trace column of action c (see mr_simenv_live_column). */
static const char *setting_column(const mr_objective *o, int c)
{
	for (int i = 0; i < o->nfeat; i++) {
		const se_expr *x = &o->feat[i];
		if (x->n == 1 && x->ins[0].op == SE_VAR &&
		    x->ins[0].slot == o->act[c].slot)
			return o->feat_name[i];
	}
	return o->act[c].name;
}

/* The trace column of service j's offered load: a feature named max_...
 * that is exactly load<j> (max_l1p = load1), else max_l<j>. */
static const char *load_column(mr_simenv_live *l, int j)
{
	const mr_objective *o = l->o;
	for (int i = 0; i < o->nfeat; i++) {
		const se_expr *x = &o->feat[i];
		if (x->n == 1 && x->ins[0].op == SE_VAR &&
		    x->ins[0].slot == o->load_slot[j] &&
		    !strncmp(o->feat_name[i], "max_", 4))
			return o->feat_name[i];
	}
	snprintf(l->load_name[j], sizeof l->load_name[j], "max_l%d", j + 1);
	return l->load_name[j];
}

/* Index of column name in the row, added when new. */
static int add_column(mr_simenv_live *l, const char *name)
{
	for (int i = 0; i < l->ncols; i++)
		if (!strcmp(l->cols[i], name))
			return i;
	l->cols[l->ncols] = name;
	return l->ncols++;
}

mr_simenv_live *mr_simenv_live_open(const mr_objective *o,
				    const char *model_path, double timeout,
				    mr_err *e)
{
	mr_simenv_live *l = mr_xcalloc(1, sizeof *l);
	l->o = o;
	l->model_path = model_path;
	l->timeout = timeout;
	if (mr_objective_action_space(o, &l->as, e) != 0)
		goto bad;
	/* nothing here depends on the seed: it only drives episodes; the
	 * model is predicted at each state's own loads (no table) */
	mr_simenv_opts so = {.nenvs = 1, .seed = 1, .eval = 1,
			     .model_path = model_path, .live = 1};
	l->v = mr_simenv_open(o, &so, e);
	if (!l->v)
		goto bad;
	l->sim = se_sim_of(l->v);
	for (int j = 0; j < o->nserv; j++)
		l->load_col[j] = add_column(l, load_column(l, j));
	for (int t = 0; t < o->ntarget; t++) {
		l->target_col[t] = -1;
		if (o->ratio[t].name) { /* e.g. served1 = cl1 / l1 */
			l->num_col[t] = add_column(l, o->ratio[t].num);
			l->den_col[t] = add_column(l, o->ratio[t].den);
		} else {
			l->target_col[t] = add_column(l, o->target_name[t]);
		}
	}
	if (o->incremental)
		for (int c = 0; c < o->nact; c++)
			l->setting_col[c] = add_column(l, setting_column(o, c));
	return l;
bad:
	mr_simenv_live_free(l);
	return NULL;
}

void mr_simenv_live_free(mr_simenv_live *l)
{
	if (!l)
		return;
	if (l->have_opt)
		se_optimum_free(&l->opt);
	if (l->v) {
		l->v->close(l->v);
		free(l->v);
	}
	free(l);
}

const mr_action_space *mr_simenv_live_actions(const mr_simenv_live *l)
{
	return &l->as;
}

int mr_simenv_live_obs_dim(const mr_simenv_live *l)
{
	return l->v->obs_dim;
}

int mr_simenv_live_nservices(const mr_simenv_live *l)
{
	return l->o->nserv;
}

int mr_simenv_live_columns(const mr_simenv_live *l, const char *const **cols)
{
	*cols = l->cols;
	return l->ncols;
}

const char *mr_simenv_live_column(const mr_simenv_live *l, int c)
{
	return setting_column(l->o, c);
}

double mr_simenv_live_setting(const mr_simenv_live *l, int c, int32_t k)
{
	return l->o->act[c].values[k];
}

int mr_simenv_live_row_runs(const mr_simenv_live *l, const double *row,
			    const int32_t *cfg)
{
	const mr_objective *o = l->o;
	for (int c = 0; c < o->nact && o->incremental; c++)
		if (!mr_value_matches(o->act[c].values[cfg[c]],
				      row[l->setting_col[c]]))
			return 0;
	return 1;
}

int mr_simenv_live_read(const mr_simenv_live *l, const double *row,
			mr_live_state *st, mr_err *e)
{
	const mr_objective *o = l->o;
	memset(st, 0, sizeof *st);
	for (int j = 0; j < o->nserv; j++)
		st->load[j] = row[l->load_col[j]];
	if (!o->incremental)
		return 0;
	for (int c = 0; c < o->nact; c++) {
		double v = row[l->setting_col[c]];
		int k = -1;
		for (int q = 0; q < o->act[c].nvalues; q++)
			if (mr_value_matches(o->act[c].values[q], v))
				k = q;
		if (k < 0)
			return mr_errf(e, MR_EXIT_DATA,
				       "column '%s': %g is not a value of "
				       "action '%s'",
				       l->cols[l->setting_col[c]], v,
				       o->act[c].name);
		st->cfg[c] = k;
	}
	return 0;
}

/* The simulator's state of a measured one: loads, parameter levels,
 * configuration, and each load's level index (the nearest level of a
 * discrete pattern: the optimum's tables are indexed by it). */
static void sim_state(const mr_simenv_live *l, const mr_live_state *st,
		      se_state *out)
{
	memset(out, 0, sizeof *out);
	memcpy(out->load, st->load, sizeof out->load);
	memcpy(out->cidx, st->cfg, sizeof out->cidx);
	memcpy(out->pidx, st->param, sizeof out->pidx);
	const se_pattern *p = l->sim->pat;
	for (int j = 0; j < l->o->nserv && l->sim->discrete_load; j++) {
		int best = 0;
		for (int k = 1; k < p->nlevels[j]; k++)
			if (fabs(p->levels[j][k] - st->load[j]) <
			    fabs(p->levels[j][best] - st->load[j]))
				best = k;
		out->lidx[j] = best;
	}
}

void mr_simenv_live_observe(const mr_simenv_live *l, const mr_live_state *st,
			    float *obs, uint8_t *mask)
{
	se_state s;
	sim_state(l, st, &s);
	se_obs_mask(l->o, &s, obs, mask, 1);
}

void mr_simenv_live_config(const mr_simenv_live *l, const mr_live_state *st,
			   const int32_t *action, int32_t *cfg)
{
	se_state s;
	sim_state(l, st, &s);
	se_action_cfg(l->sim, &s, action, cfg);
}

double mr_simenv_live_outcome(mr_simenv_live *l, const double *row,
			      const int32_t *cfg, mr_step_info *info)
{
	mr_live_state st = {0};
	return mr_simenv_live_outcome_at(l, row, &st, cfg, info);
}

double mr_simenv_live_outcome_at(mr_simenv_live *l, const double *row,
				 const mr_live_state *at, const int32_t *cfg,
				 mr_step_info *info)
{
	const mr_objective *o = l->o;
	se_state s;
	sim_state(l, at, &s);
	for (int j = 0; j < o->nserv; j++)
		s.load[j] = row[l->load_col[j]];
	double targets[SE_MAX_TARGETS];
	for (int k = 0; k < o->ntarget; k++) {
		if (l->target_col[k] < 0) {
			targets[k] = se_ratio_value(row[l->num_col[k]],
						    row[l->den_col[k]]);
			continue;
		}
		double d = row[l->target_col[k]];
		/* no success in the window: not a zero delay */
		targets[k] = d > 0 ? d : l->timeout;
	}
	/* a measured row that makes an expression non-finite gives a NaN
	 * reward for that row only */
	l->sim->nonfinite[0] = 0;
	return se_outcome(l->sim, &s, cfg, targets, info);
}

int mr_simenv_live_nparams(const mr_simenv_live *l)
{
	return l->o->nparam;
}

const char *mr_simenv_live_param_name(const mr_simenv_live *l, int k)
{
	return l->o->param[k].name;
}

double mr_simenv_live_param_value(const mr_simenv_live *l, int k, int32_t i)
{
	return l->o->param[k].levels[i];
}

int mr_simenv_live_fixed(const mr_simenv_live *l, int k, const char **col,
			 double *value)
{
	const mr_objective *o = l->o;
	for (int i = 0; i < o->nfeat; i++) {
		double v;
		if (!se_is_const(&o->feat[i], &v) || k-- > 0)
			continue;
		*col = o->feat_name[i];
		*value = v;
		return 1;
	}
	return 0;
}

int mr_simenv_live_schedule(mr_simenv_live *l, uint64_t seed, long n,
			    mr_live_state *out, mr_err *e)
{
	const mr_objective *o = l->o;
	mr_simenv_opts so = {.nenvs = 1, .eval = 1,
			     .episodes = MR_EPISODES_TEST,
			     .model_path = l->model_path};
	so.seed = mr_simenv_episode_seed(seed, so.episodes, 0);
	mr_vecenv *v = mr_simenv_open(o, &so, e);
	if (!v)
		return -1;
	int rc = v->reset(v, so.seed, e);
	se_sim *s = se_sim_of(v);
	int32_t start[MR_MAX_COMPONENTS];
	memcpy(start, s->st[0].cidx, sizeof start);
	for (long t = 0; rc == 0 && t < n; t++) {
		memset(&out[t], 0, sizeof out[t]);
		memcpy(out[t].load, s->st[0].load, sizeof out[t].load);
		memcpy(out[t].param, s->st[0].pidx, sizeof out[t].param);
		memcpy(out[t].cfg, start, sizeof out[t].cfg);
		/* the loads do not depend on the actions: stay (incremental
		 * choice 0) or the first configuration */
		memset(v->actions, 0, (size_t)v->ncomp * sizeof *v->actions);
		if (t + 1 < n)
			rc = v->step(v, e);
	}
	v->close(v);
	free(v);
	return rc;
}

double mr_simenv_live_predict(mr_simenv_live *l, const mr_live_state *st,
			      const int32_t *cfg, mr_step_info *info)
{
	se_state s;
	sim_state(l, st, &s);
	double out[SE_MAX_TARGETS];
	const double *y = se_targets(l->sim, &s, cfg, out);
	double t[SE_MAX_TARGETS];
	memcpy(t, y, (size_t)l->o->ntarget * sizeof *t);
	l->sim->nonfinite[0] = 0;
	return se_outcome(l->sim, &s, cfg, t, info);
}

int mr_simenv_live_optimal(mr_simenv_live *l, const mr_live_state *st,
			   int32_t *action, mr_err *e)
{
	se_state s;
	sim_state(l, st, &s);
	if (!l->o->incremental) {
		l->sim->nonfinite[0] = 0;
		se_best_action(l->sim, &s, action, NULL);
		return l->sim->nonfinite[0] ? se_nonfinite_error(l->sim, e)
					    : 0;
	}
	if (!l->have_opt) {
		if (se_optimum_solve(l->sim, &l->opt, e) != 0)
			return -1;
		l->have_opt = 1;
	}
	long idx = se_state_index(l->sim, &s);
	if (idx < 0)
		return mr_errf(e, MR_EXIT_FAIL, "%s: live: no optimum for "
			       "continuous loads", l->o->path);
	memcpy(action, l->opt.best + (size_t)idx * (size_t)l->o->nact,
	       (size_t)l->o->nact * sizeof *action);
	return 0;
}

double mr_simenv_live_answered(const mr_simenv_live *l, const double *row)
{
	double sum = 0;
	int any = 0;
	for (int k = 0; k < l->o->ntarget; k++)
		if (l->target_col[k] < 0) {
			sum += row[l->num_col[k]];
			any = 1;
		}
	return any ? sum : NAN;
}

/* Inserts (r, cand) into the best three so far (k of them; the first of
 * equals stays ahead); returns the new count. */
static int top3_insert(int k, int ncomp, double r, const int32_t *cand,
		       int32_t act[3][MR_MAX_COMPONENTS], double rew[3])
{
	int i = k < 3 ? k++ : 3;
	while (i > 0 && r > rew[i - 1]) {
		if (i < 3) {
			rew[i] = rew[i - 1];
			memcpy(act[i], act[i - 1], sizeof act[i]);
		}
		i--;
	}
	if (i < 3) {
		rew[i] = r;
		memset(act[i], 0, sizeof act[i]);
		memcpy(act[i], cand, (size_t)ncomp * sizeof *cand);
	}
	return k;
}

int mr_simenv_live_top3(mr_simenv_live *l, const mr_live_state *st,
			int32_t act[3][MR_MAX_COMPONENTS], double rew[3])
{
	const mr_objective *o = l->o;
	se_state s;
	sim_state(l, st, &s);
	/* absolute: every joint action; incremental: every configuration
	 * (the reward depends on the configuration reached, not the move) */
	long radix[MR_MAX_COMPONENTS], n = 1;
	for (int c = 0; c < o->nact && n <= (1L << 20); c++) {
		radix[c] = o->incremental ? o->act[c].nvalues
					  : l->as.nchoices[c];
		n *= radix[c];
	}
	if (n > (1L << 20))
		return 0;
	int k = 0;
	mr_step_info info;
	for (long a = 0; a < n; a++) {
		int32_t cfg[MR_MAX_COMPONENTS];
		long q = a; /* component 0 varies slowest, as mr_action_decode */
		for (int c = o->nact - 1; c >= 0; c--) {
			cfg[c] = (int32_t)(q % radix[c]);
			q /= radix[c];
		}
		double y[SE_MAX_TARGETS];
		const double *t = se_targets(l->sim, &s, cfg, y);
		double r = se_outcome(l->sim, &s, cfg, t, &info);
		k = top3_insert(k, o->nact, r, cfg, act, rew);
	}
	return k;
}

long mr_simenv_live_grid(const mr_simenv_live *l, long max, uint64_t seed,
			 mr_live_state *out)
{
	const mr_objective *o = l->o;
	const se_pattern *p = l->sim->pat;
	if (!l->sim->discrete_load)
		return 0;
	long n = 1;
	for (int j = 0; j < o->nserv; j++)
		n *= p->nlevels[j];
	for (int k = 0; k < o->nparam; k++)
		n *= o->param[k].nlevels;
	/* every state when they fit, else max of them at an even stride
	 * from a seeded offset */
	long take = n < max ? n : max;
	mr_rng rng;
	mr_rng_seed(&rng, seed, MR_STREAM_EPISODES_TEST_BASE);
	double off = n > max ? mr_rng_uniform(&rng) : 0;
	for (long i = 0; i < take; i++) {
		long q = n > max ? (long)(((double)i + off) * (double)n /
					  (double)max) : i;
		mr_live_state *st = &out[i];
		memset(st, 0, sizeof *st);
		for (int k = o->nparam - 1; k >= 0; k--) {
			st->param[k] = (int32_t)(q % o->param[k].nlevels);
			q /= o->param[k].nlevels;
		}
		for (int j = o->nserv - 1; j >= 0; j--) {
			st->load[j] = p->levels[j][q % p->nlevels[j]];
			q /= p->nlevels[j];
		}
	}
	return take;
}
