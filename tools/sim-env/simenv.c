/*
 * simenv.c - the simulator: an objective's load pattern, actions, system
 * model and reward as a vecenv (N environments stepped together).
 *
 * At open, when every input of the model's features is discrete (load
 * levels, parameter levels, action grids), the model is evaluated once over
 * that grid and step is a table lookup. A continuous (sin-modulated) load is
 * tabulated exactly over the intervals between the forest's breakpoints
 * (loadgrid.c) and a step looks its interval up; where that cannot apply,
 * or for a load outside the pattern's range, the model is predicted live,
 * batched over the environments. Step allocates
 * nothing and does no I/O. Actions are validated for every environment
 * before any state changes, so a bad action leaves the batch untouched.
 * Extrapolation (a model query outside the feature range of the training
 * trace) is counted, at tabulation time where possible, and reported by
 * se_range_report; it is not silently hidden.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simenv_impl.h"

#define TABLE_MAX_ROWS (4u << 20)
/* An interval table costs one prediction per row up front; past this many
 * rows, live prediction over a training run is cheaper. */
#define INTERVAL_MAX_ROWS (1u << 18)

se_sim *se_sim_of(mr_vecenv *v)
{
	return v->impl;
}

/* ------------------------------------------------------------------------
 * State and evaluation
 */
void se_fill_vars(se_sim *s, const se_state *st, const int32_t *cfg)
{
	const mr_objective *o = s->o;
	double *v = s->vars;
	for (int j = 0; j < o->nserv; j++)
		v[o->load_slot[j]] = st->load[j];
	for (int k = 0; k < o->nparam; k++)
		v[o->param[k].slot] = o->param[k].levels[st->pidx[k]];
	for (int c = 0; c < o->nact; c++)
		v[o->act[c].slot] = o->act[c].values[cfg[c]];
}

void se_range_edges(const se_sim *s, int i, double *below, double *above)
{
	double lo = s->model.fmin[i], hi = s->model.fmax[i];
	double tol = 1e-9 * (1 + fabs(lo) + fabs(hi));
	*below = lo - tol;
	*above = hi + tol;
}

/* Which features of x are below or above the training range (bit i for
 * feature i; SE_MAX_FEAT is 64). */
static void range_flags(const se_sim *s, const double *x, uint64_t *below,
			uint64_t *above)
{
	*below = *above = 0;
	if (!s->model.has_range)
		return;
	for (int i = 0; i < s->model.nfeat; i++) {
		double lo, hi;
		se_range_edges(s, i, &lo, &hi);
		if (x[i] < lo)
			*below |= 1ull << i;
		else if (x[i] > hi)
			*above |= 1ull << i;
	}
}

static void count_flags(se_sim *s, uint64_t b, uint64_t a)
{
	s->queries++;
	if (!(a | b))
		return;
	s->outside++;
	for (; b; b &= b - 1)
		s->below[__builtin_ctzll(b)]++;
	for (; a; a &= a - 1)
		s->above[__builtin_ctzll(a)]++;
}

/* One model query at feature row x. */
static void range_count(se_sim *s, const double *x)
{
	if (!s->model.has_range)
		return;
	uint64_t b, a;
	range_flags(s, x, &b, &a);
	count_flags(s, b, a);
}

/* A query answered by row r of an interval table (flags kept per row). */
static void range_count_row(se_sim *s, size_t row)
{
	if (s->row_below)
		count_flags(s, s->row_below[row], s->row_above[row]);
}

/* 1 when every load the table reads has an index (an interval load
 * outside the pattern's range has none and is predicted live). */
static int in_table(const se_sim *s, const se_state *st)
{
	if (!s->tabulated)
		return 0;
	if (s->interval_load)
		for (int j = 0; j < s->o->nserv; j++)
			if (st->lidx[j] < 0)
				return 0;
	return 1;
}

static size_t row_of(const se_sim *s, const se_state *st, const int32_t *cfg)
{
	const mr_objective *o = s->o;
	size_t r = 0;
	for (int j = 0; j < o->nserv; j++)
		r += (size_t)st->lidx[j] * s->lstride[j];
	for (int k = 0; k < o->nparam; k++)
		r += (size_t)st->pidx[k] * s->pstride[k];
	for (int c = 0; c < o->nact; c++)
		r += (size_t)cfg[c] * s->astride[c];
	return r;
}

/* Notes the first value that is not a finite number, with the state in
 * s->vars: the expression written at line (0: the reward family's
 * formula). */
static void note_nonfinite(se_sim *s, int line, double v)
{
	const mr_objective *o = s->o;
	char *m = s->nonfinite, b[32];
	const char *sep = "";
	size_t size = sizeof s->nonfinite, l;
	if (m[0])
		return;
	const se_kv *kv = line > 0 ? se_objective_kv_at(o, line) : NULL;
	if (kv)
		l = (size_t)snprintf(m, size, "%s:%d: [%s] %s = %s gives %s, not a finite number, at",
				     o->path, line, kv->section, kv->key,
				     kv->value, mr_fmt_double(b, v));
	else
		l = (size_t)snprintf(m, size, "%s: the reward (%s) is %s, not a finite number, at",
				     o->path, se_family_name(o->family),
				     mr_fmt_double(b, v));
	for (int i = 0; i < o->nvars && l < size; i++) {
		int k = o->var_kind[i];
		if (k != SE_V_LOAD && k != SE_V_PARAM && k != SE_V_ACTION)
			continue;
		l += (size_t)snprintf(m + l, size - l, "%s %s = %s", sep,
				      o->var_name[i],
				      mr_fmt_double(b, s->vars[i]));
		sep = ",";
	}
}

int se_nonfinite_error(const se_sim *s, mr_err *e)
{
	if (s->nonfinite[0])
		return mr_errf(e, MR_EXIT_DATA, "%s", s->nonfinite);
	return mr_errf(e, MR_EXIT_DATA, "%s: a reward is not a number",
		       s->o->path);
}

/* The feature row of the state in s->vars; -1 when a value is not a
 * finite number (noted). */
static int features(se_sim *s, double *x)
{
	int rc = 0;
	for (int i = 0; i < s->o->nfeat; i++) {
		x[i] = se_eval(&s->o->feat[i], s->vars);
		if (!isfinite(x[i])) {
			note_nonfinite(s, s->o->feat[i].line, x[i]);
			rc = -1;
		}
	}
	return rc;
}

void se_feature_row(se_sim *s, const se_state *st, const int32_t *cfg,
		    double *x)
{
	se_fill_vars(s, st, cfg);
	features(s, x);
}

const double *se_targets(se_sim *s, const se_state *st, const int32_t *cfg,
			 double *out)
{
	if (in_table(s, st)) {
		size_t r = row_of(s, st, cfg);
		range_count_row(s, r);
		return s->table + r * (size_t)s->o->ntarget;
	}
	double x[SE_MAX_FEAT];
	se_feature_row(s, st, cfg, x);
	range_count(s, x);
	s->model.predict(&s->model, x, 1, out, s->tmp);
	return out;
}

se_state *se_after_state(se_sim *s, const se_state *st)
{
	se_sim *a = s->after;
	se_state *t = &a->st[0];
	*t = *st;
	/* discrete loads index the same levels; interval loads index each
	 * model's own intervals */
	if (a->interval_load)
		for (int j = 0; j < s->o->nserv; j++)
			t->lidx[j] = se_interval_of(a, j, t->load[j]);
	return t;
}

const double *se_targets_after(se_sim *s, const se_state *st,
			       const int32_t *cfg, double *out)
{
	return se_targets(s->after, se_after_state(s, st), cfg, out);
}

/* The reward families (pipelines/objectives/README.md). */
static double penalty_factor(double d, double bound, double width)
{
	if (d <= bound)
		return 1;
	return 2.0 / (1.0 + exp((d - bound) / width));
}

double se_effective_delay(double delay, double served, double timeout)
{
	return served * delay + (1 - served) * timeout;
}

/* Per service: the delay the reward judges, the load offered and carried,
 * the served share and whether the service met its bound. */
typedef struct {
	double d[MR_MAX_SERVICES], off[MR_MAX_SERVICES], car[MR_MAX_SERVICES];
	double served[MR_MAX_SERVICES];
	int met[MR_MAX_SERVICES], met_all;
} se_services;

/* The served-share rule: without served<i>, delay<i> and offered<i>
 * as written (the published rewards exactly); with it, the mean over
 * every offered request, an unanswered one counted at the timeout. */
static void services_of(const mr_objective *o, const double *v,
			const se_state *st, se_services *sv,
			mr_step_info *info)
{
	sv->met_all = 1;
	for (int j = 0; j < o->nserv; j++) {
		int sl;
		double d = v[o->rslot[SE_R_DELAY][j]], share = 1;
		if ((sl = o->rslot[SE_R_SERVED][j]) >= 0) {
			share = v[sl] < 0 ? 0 : v[sl] > 1 ? 1 : v[sl];
			d = se_effective_delay(d, share, o->timeout[j]);
			info->dropped = fmax(info->dropped, 1 - share);
			info->served_short |= share < o->min_served;
		}
		sv->d[j] = d;
		sv->served[j] = share;
		sv->off[j] = (sl = o->rslot[SE_R_OFFERED][j]) >= 0 ? v[sl] : st->load[j];
		sv->car[j] = (sl = o->rslot[SE_R_CARRIED][j]) >= 0 ? v[sl]
			     : o->rslot[SE_R_SERVED][j] >= 0 ? sv->off[j] * share
							     : sv->off[j];
		sv->met[j] = (sl = o->rslot[SE_R_BOUND][j]) < 0 ||
			     (d <= v[sl] && share >= o->min_served);
		sv->met_all &= sv->met[j];
		info->delay[j] = d;
		info->offered += sv->off[j];
		info->carried += sv->car[j];
	}
}

/* throughput-logistic's factor of service j (1 without a bound; 0 below
 * min_served: its load is not served in any useful sense). */
static double service_factor(const mr_objective *o, const double *v,
			     const se_services *sv, int j)
{
	int b = o->rslot[SE_R_BOUND][j], w = o->rslot[SE_R_WIDTH][j];
	if (b < 0)
		return 1;
	if (sv->served[j] < o->min_served)
		return 0;
	return penalty_factor(sv->d[j], v[b], w >= 0 ? v[w] : v[b] / 10);
}

double se_outcome(se_sim *s, const se_state *st, const int32_t *cfg,
		  const double *targets, mr_step_info *info)
{
	const mr_objective *o = s->o;
	double *v = s->vars;
	se_fill_vars(s, st, cfg);
	for (int j = 0; j < o->ntarget; j++) {
		v[o->target_slot[j]] = targets[j];
		if (o->model_kind == SE_MODEL_ANALYTIC && !isfinite(targets[j]))
			note_nonfinite(s, o->analytic[j].line, targets[j]);
	}
	for (int k = 0; k < o->nderived; k++) {
		double x = se_eval(&o->derived[k], v);
		v[o->derived_slot[k]] = x;
		if (!isfinite(x))
			note_nonfinite(s, o->derived[k].line, x);
	}

	se_services sv;
	memset(info, 0, sizeof *info);
	services_of(o, v, st, &sv, info);
	const double *d = sv.d;
	int sl = o->gslot[SE_R_COST];
	double cost = sl >= 0 ? v[sl] : 0;
	info->cost = cost;
	info->bound_met = sv.met_all;
	double r = 0;
	switch (o->family) {
	case SE_FAM_DELAY_BOUND_COST:
		if (sv.met_all) {
			r = v[o->gslot[SE_R_BUDGET]] - cost;
		} else {
			/* a miss is never worth more than 0 (a service that
			 * met its delay but not min_served adds 0); NaN
			 * stays NaN */
			for (int j = 0; j < o->nserv; j++) {
				double m = v[o->rslot[SE_R_BOUND][j]] - d[j];
				if (!sv.met[j])
					r += m > 0 ? 0 : m;
			}
		}
		break;
	case SE_FAM_THROUGHPUT_LOGISTIC:
		for (int j = 0; j < o->nserv; j++)
			r += sv.car[j] * service_factor(o, v, &sv, j);
		if ((sl = o->gslot[SE_R_SCALE]) >= 0)
			r /= v[sl];
		break;
	case SE_FAM_COST_INCREMENTAL:
		r = sv.met_all ? v[o->gslot[SE_R_VALUE]] : v[o->gslot[SE_R_PENALTY]];
		break;
	case SE_FAM_DIFFERENTIATION: {
		double b1 = v[o->rslot[SE_R_BOUND][0]];
		if (sv.met[0]) {
			double share = sv.off[1] > 0 ? sv.car[1] / sv.off[1] : 1;
			double f = service_factor(o, v, &sv, 1);
			double cw = (sl = o->gslot[SE_R_COST_WEIGHT]) >= 0 ? v[sl] : 0;
			r = 1 + share * f - cw * cost;
		} else {
			double m = d[0] - b1;
			r = -1 - (m < 0 ? 0 : m) / b1;
		}
		info->bound_met = sv.met[0];
		break;
	}
	}
	if (!isfinite(r))
		note_nonfinite(s, 0, r);
	return s->nonfinite[0] ? NAN : r;
}

void se_action_cfg(const se_sim *s, const se_state *st,
		   const int32_t *action, int32_t *cfg)
{
	const mr_objective *o = s->o;
	for (int c = 0; c < o->nact; c++)
		cfg[c] = o->incremental ? st->cidx[c] + mr_move_delta(action[c])
					: action[c];
}

/* ------------------------------------------------------------------------
 * Load pattern and episodes
 */
static void load_values(se_sim *s, se_state *st)
{
	const se_pattern *p = s->pat;
	for (int j = 0; j < s->o->nserv; j++) {
		if (s->discrete_load) {
			st->load[j] = p->levels[j][st->lidx[j]];
			continue;
		}
		double l;
		if (s->jitter > 0) {
			l = p->levels[j][st->level[j]] + st->jit[j];
			st->load[j] = l < 0 ? 0 : l;
		} else {
			l = p->mean[j] +
			    p->amp[j] * sin(2 * M_PI * (st->t + st->phase) /
					    p->period[j]);
			if (p->noise[j] > 0)
				l += p->noise[j] * mr_rng_normal(&st->rng);
			st->load[j] = l < p->floor_ ? p->floor_ : l;
		}
		if (s->interval_load)
			st->lidx[j] = se_interval_of(s, j, st->load[j]);
	}
}

/* Where the pattern keeps each service's level index: lidx, or with
 * jitter level (lidx is then the jittered load's interval). */
static int32_t *level_index(const se_sim *s, se_state *st)
{
	return s->jitter > 0 ? st->level : st->lidx;
}

/* A new level of service j was set: with jitter, a new draw for it. */
static void level_set(se_sim *s, se_state *st, int j)
{
	if (s->jitter > 0)
		st->jit[j] = (2 * mr_rng_uniform(&st->rng) - 1) * s->jitter;
}

void se_episode_start(se_sim *s, int i)
{
	const mr_objective *o = s->o;
	const se_pattern *p = s->pat;
	se_state *st = &s->st[i];
	int32_t *lv = level_index(s, st);
	/* an evaluation set's episode is its seed's alone, the same in every
	 * environment (so a sweep of every action walks one episode) */
	uint64_t env = s->set != MR_EPISODES_TRAIN ? 0 : (uint64_t)i;
	if (s->eval)
		mr_rng_seed(&st->rng, s->seed, MR_STREAM_SIM_ENV_BASE + env);
	st->t = 0;
	switch (p->kind) {
	case SE_PAT_SEQUENCE:
		/* a chain's first row: a uniform position, so drawn from the
		 * rows' frequencies, as a training episode's */
		st->pos = s->eval && !s->chain
				  ? 0
				  : (int32_t)mr_rng_below(&st->rng,
							  (uint64_t)p->nsteps);
		for (int j = 0; j < o->nserv; j++) {
			lv[j] = p->seq[(size_t)st->pos * (size_t)o->nserv + (size_t)j];
			level_set(s, st, j);
		}
		break;
	case SE_PAT_LEVELS:
		for (int j = 0; j < o->nserv; j++) {
			lv[j] = (int32_t)mr_rng_below(&st->rng, (uint64_t)p->nlevels[j]);
			level_set(s, st, j);
		}
		break;
	case SE_PAT_SIN:
		/* a validation or test episode is a new draw of the process:
		 * its phase too (else every one would be the same) */
		st->phase = s->set != MR_EPISODES_TRAIN
				    ? mr_rng_uniform(&st->rng) * p->period[0]
			    : p->phase >= 0 ? p->phase
			    : s->eval	    ? 0
					    : mr_rng_uniform(&st->rng) * p->period[0];
		break;
	}
	for (int k = 0; k < o->nparam; k++)
		st->pidx[k] = (int32_t)mr_rng_below(&st->rng,
						    (uint64_t)o->param[k].nlevels);
	/* the draw only when asked for, so other objectives' training
	 * episodes stay what they were */
	int from_start = s->eval || (o->train_from_start > 0 &&
				     mr_rng_uniform(&st->rng) <
					     o->train_from_start);
	if (o->incremental)
		for (int c = 0; c < o->nact; c++)
			st->cidx[c] = from_start && o->act[c].start >= 0
					      ? o->act[c].start
					      : (int32_t)mr_rng_below(&st->rng,
								      (uint64_t)o->act[c].nvalues);
	load_values(s, st);
}

static void advance(se_sim *s, se_state *st)
{
	const mr_objective *o = s->o;
	const se_pattern *p = s->pat;
	int32_t *lv = level_index(s, st);
	st->t++;
	switch (p->kind) {
	case SE_PAT_SEQUENCE:
		if (s->chain) { /* the successor of a random equal row */
			uint64_t c = (uint64_t)p->occ_count[st->pos];
			st->pos = p->occ[p->occ_first[st->pos] +
					 (int32_t)mr_rng_below(&st->rng, c)];
		}
		st->pos = st->pos + 1 == p->nsteps ? 0 : st->pos + 1;
		for (int j = 0; j < o->nserv; j++) {
			lv[j] = p->seq[(size_t)st->pos * (size_t)o->nserv + (size_t)j];
			level_set(s, st, j);
		}
		break;
	case SE_PAT_LEVELS:
		for (int j = 0; j < o->nserv; j++)
			if (p->nlevels[j] > 1 &&
			    (p->hold <= 1 || mr_rng_uniform(&st->rng) * p->hold < 1)) {
				lv[j] = (int32_t)mr_rng_below(
					&st->rng, (uint64_t)p->nlevels[j]);
				level_set(s, st, j);
			}
		break;
	case SE_PAT_SIN:
		break;
	}
	for (int k = 0; k < o->nparam; k++)
		if (!o->param[k].per_episode)
			st->pidx[k] = (int32_t)mr_rng_below(
				&st->rng, (uint64_t)o->param[k].nlevels);
	load_values(s, st);
}

void se_obs_mask(const mr_objective *o, const se_state *st, float *obs,
		 uint8_t *mask, int whole_mask)
{
	int k = 0;
	for (int j = 0; j < o->nserv; j++)
		obs[k++] = (float)st->load[j];
	for (int q = 0; q < o->nparam; q++)
		obs[k++] = (float)o->param[q].levels[st->pidx[q]];
	if (!o->incremental) {
		/* every setting is always allowed: a mask that was written
		 * once stays right (the simulator's, from open on) */
		for (int c = 0; whole_mask && c < o->nact; c++) {
			memset(mask, 1, (size_t)o->act[c].nvalues);
			mask += o->act[c].nvalues;
		}
		return;
	}
	for (int c = 0; c < o->nact; c++) {
		obs[k++] = (float)o->act[c].values[st->cidx[c]];
		mask[MR_MOVE_STAY] = 1;
		mask[MR_MOVE_DOWN] = st->cidx[c] > 0;
		mask[MR_MOVE_UP] = st->cidx[c] + 1 < o->act[c].nvalues;
		mask += MR_NMOVES;
	}
}

void se_write_obs(se_sim *s, mr_vecenv *v, int i)
{
	se_obs_mask(s->o, &s->st[i], v->obs + (size_t)i * (size_t)v->obs_dim,
		    v->masks + (size_t)i * (size_t)v->total_choices, 0);
}

const char *se_obs_name(const se_sim *s, int k, char *buf, size_t size)
{
	const mr_objective *o = s->o;
	if (k < o->nserv) {
		snprintf(buf, size, "load%d", k + 1);
		return buf;
	}
	k -= o->nserv;
	if (k < o->nparam)
		return o->param[k].name;
	k -= o->nparam;
	return o->act[k].name;
}

/* ------------------------------------------------------------------------
 * vecenv
 */
static int sim_reset(mr_vecenv *v, uint64_t seed, mr_err *e)
{
	(void)e;
	se_sim *s = v->impl;
	s->seed = seed;
	for (int i = 0; i < s->nenvs; i++) {
		mr_rng_seed(&s->st[i].rng, seed,
			    MR_STREAM_SIM_ENV_BASE + (uint64_t)i);
		se_episode_start(s, i);
		se_write_obs(s, v, i);
		v->dones[i] = 0;
		v->rewards[i] = 0;
		memset(&v->info[i], 0, sizeof v->info[i]);
	}
	s->has_reset = 1;
	return 0;
}

static int check_actions(mr_vecenv *v, mr_err *e)
{
	se_sim *s = v->impl;
	const mr_objective *o = s->o;
	for (int i = 0; i < s->nenvs; i++) {
		const int32_t *a = v->actions + (size_t)i * (size_t)o->nact;
		const uint8_t *m = v->masks + (size_t)i * (size_t)v->total_choices;
		for (int c = 0; c < o->nact; c++) {
			if (a[c] < 0 || a[c] >= v->nchoices[c])
				return mr_errf(e, MR_EXIT_DATA,
					       "env %d: action '%s': choice %d is outside 0..%d",
					       i, o->act[c].name, (int)a[c],
					       v->nchoices[c] - 1);
			if (!m[a[c]])
				return mr_errf(e, MR_EXIT_DATA,
					       "env %d: action '%s': choice %d (%s) is masked: '%s' is already at its %s value",
					       i, o->act[c].name, (int)a[c],
					       a[c] == MR_MOVE_DOWN ? "down" : "up",
					       o->act[c].name,
					       a[c] == MR_MOVE_DOWN ? "lowest" : "highest");
			m += v->nchoices[c];
		}
	}
	return 0;
}

static int sim_step(mr_vecenv *v, mr_err *e)
{
	se_sim *s = v->impl;
	const mr_objective *o = s->o;
	int nc = o->nact;
	if (!s->has_reset)
		return mr_errf(e, MR_EXIT_USAGE, "step before reset");
	if (check_actions(v, e) != 0)
		return -1;
	for (int i = 0; i < s->nenvs; i++)
		se_action_cfg(s, &s->st[i], v->actions + (size_t)i * (size_t)nc,
			      s->cfg + (size_t)i * (size_t)nc);
	/* live rows (every env, or those outside the table), predicted in
	 * one batch; live_env[i] is env i's row, -1 when it is in the table */
	size_t nlive = 0;
	if (!s->discrete_load || !s->tabulated) {
		for (int i = 0; i < s->nenvs; i++) {
			if (in_table(s, &s->st[i])) {
				s->live_env[i] = -1;
				continue;
			}
			double *x = s->X + nlive * (size_t)o->nfeat;
			se_fill_vars(s, &s->st[i], s->cfg + (size_t)i * (size_t)nc);
			if (features(s, x) != 0)
				return se_nonfinite_error(s, e);
			range_count(s, x);
			s->live_env[i] = (int32_t)nlive++;
		}
		if (nlive)
			s->model.predict(&s->model, s->X, nlive, s->Y, s->tmp);
		if (s->tabulated)
			s->live_queries += nlive;
	}
	/* outcomes first; state changes only when all are numbers */
	for (int i = 0; i < s->nenvs; i++) {
		const int32_t *cfg = s->cfg + (size_t)i * (size_t)nc;
		const double *y;
		double after_y[SE_MAX_TARGETS];
		if (se_changed(s, &s->st[i])) {
			y = se_targets_after(s, &s->st[i], cfg, after_y);
		} else if (s->live_env && s->live_env[i] >= 0) {
			y = s->Y + (size_t)s->live_env[i] * (size_t)o->ntarget;
		} else {
			size_t row = row_of(s, &s->st[i], cfg);
			range_count_row(s, row);
			y = s->table + row * (size_t)o->ntarget;
		}
		double r = se_outcome(s, &s->st[i], cfg, y, &v->info[i]);
		if (!isfinite(r))
			return se_nonfinite_error(s, e);
		v->rewards[i] = (float)r;
	}
	for (int i = 0; i < s->nenvs; i++) {
		se_state *st = &s->st[i];
		if (o->incremental)
			memcpy(st->cidx, s->cfg + (size_t)i * (size_t)nc,
			       (size_t)nc * sizeof(int32_t));
		if (st->t + 1 >= s->ep_len) {
			v->dones[i] = 1;
			se_episode_start(s, i);
		} else {
			v->dones[i] = 0;
			advance(s, st);
		}
		se_write_obs(s, v, i);
	}
	return 0;
}

static void sim_close(mr_vecenv *v)
{
	se_sim *s = v->impl;
	if (s) {
		if (s->after_env) {
			s->after_env->close(s->after_env);
			free(s->after_env);
		}
		se_model_close(&s->model);
		se_pattern_free(&s->own_pat);
		free(s->st);
		free(s->vars);
		free(s->table);
		free(s->row_below);
		free(s->row_above);
		free(s->live_env);
		se_intervals_free(s);
		free(s->X);
		free(s->Y);
		free(s->tmp);
		free(s->cfg);
		free(s);
	}
	mr_vecenv_free_buffers(v);
	v->impl = NULL;
}

/* The state of tabulation row r (s->vars, and st and cfg). */
static void grid_row_vars(se_sim *s, size_t r, se_state *st, int32_t *cfg)
{
	const mr_objective *o = s->o;
	for (int j = 0; j < o->nserv; j++) {
		st->lidx[j] = s->lstride[j]
				      ? (int32_t)(r / s->lstride[j] % (size_t)s->nlev[j])
				      : 0;
		st->load[j] = s->lev[j] ? s->lev[j][st->lidx[j]] : 0;
	}
	for (int k = 0; k < o->nparam; k++)
		st->pidx[k] = s->pstride[k]
				      ? (int32_t)(r / s->pstride[k] % (size_t)o->param[k].nlevels)
				      : 0;
	for (int c = 0; c < o->nact; c++)
		cfg[c] = s->astride[c]
				 ? (int32_t)(r / s->astride[c] % (size_t)o->act[c].nvalues)
				 : 0;
	se_fill_vars(s, st, cfg);
}

/* Evaluates the model over the grid of every discrete input the features
 * read. Returns 0 and leaves tabulated = 0 when a feature reads a
 * continuous load or the grid is too large. */
static int tabulate(se_sim *s, size_t max_rows, mr_err *e)
{
	const mr_objective *o = s->o;
	size_t rows = 1;
	int uses_load[MR_MAX_SERVICES] = {0}, uses_param[SE_MAX_PARAMS] = {0};
	int uses_act[MR_MAX_COMPONENTS] = {0};
	for (int i = 0; i < o->nfeat; i++) {
		for (int j = 0; j < o->nserv; j++)
			uses_load[j] |= se_uses(&o->feat[i], o->load_slot[j]);
		for (int k = 0; k < o->nparam; k++)
			uses_param[k] |= se_uses(&o->feat[i], o->param[k].slot);
		for (int c = 0; c < o->nact; c++)
			uses_act[c] |= se_uses(&o->feat[i], o->act[c].slot);
	}
	/* strides: actions vary fastest (one state's configurations sit
	 * together), then params, then loads */
	for (int c = o->nact - 1; c >= 0; c--) {
		s->astride[c] = uses_act[c] ? rows : 0;
		if (uses_act[c]) {
			if (rows > max_rows / (size_t)o->act[c].nvalues)
				return 0;
			rows *= (size_t)o->act[c].nvalues;
		}
	}
	for (int k = o->nparam - 1; k >= 0; k--) {
		s->pstride[k] = uses_param[k] ? rows : 0;
		if (uses_param[k]) {
			if (rows > max_rows / (size_t)o->param[k].nlevels)
				return 0;
			rows *= (size_t)o->param[k].nlevels;
		}
	}
	for (int j = o->nserv - 1; j >= 0; j--) {
		s->lstride[j] = uses_load[j] ? rows : 0;
		if (uses_load[j]) {
			if (!s->lev[j])
				return 0;
			if (rows > max_rows / (size_t)s->nlev[j])
				return 0;
			rows *= (size_t)s->nlev[j];
		}
	}
	size_t nf = (size_t)o->nfeat, nt = (size_t)o->ntarget;
	size_t chunk = 4096;
	double *X = mr_xcalloc(chunk * nf, sizeof *X);
	double *tmp = mr_xcalloc(chunk * (size_t)(s->model.model_nfeat +
						  s->model.model_ntarget),
				 sizeof *tmp);
	s->table = mr_xcalloc(rows * nt, sizeof *s->table);
	if (s->interval_load) {
		s->row_below = mr_xcalloc(rows, sizeof *s->row_below);
		s->row_above = mr_xcalloc(rows, sizeof *s->row_above);
	}
	se_state st;
	int32_t cfg[MR_MAX_COMPONENTS] = {0};
	memset(&st, 0, sizeof st);
	for (size_t i = 0; i < nf; i++) {
		s->span_lo[i] = INFINITY;
		s->span_hi[i] = -INFINITY;
	}
	for (size_t r0 = 0; r0 < rows; r0 += chunk) {
		size_t n = rows - r0 < chunk ? rows - r0 : chunk;
		for (size_t q = 0; q < n; q++) {
			size_t r = r0 + q;
			grid_row_vars(s, r, &st, cfg);
			features(s, X + q * nf);
			for (size_t i = 0; i < nf; i++) {
				double x = X[q * nf + i];
				s->span_lo[i] = x < s->span_lo[i] ? x : s->span_lo[i];
				s->span_hi[i] = x > s->span_hi[i] ? x : s->span_hi[i];
			}
			if (s->interval_load)
				range_flags(s, X + q * nf, &s->row_below[r],
					    &s->row_above[r]);
			else
				range_count(s, X + q * nf);
		}
		s->model.predict(&s->model, X, n, s->table + r0 * nt, tmp);
	}
	free(X);
	free(tmp);
	size_t bad = rows * nt;
	for (size_t i = 0; i < rows * nt && bad == rows * nt; i++)
		if (!isfinite(s->table[i]))
			bad = i;
	if (bad < rows * nt || s->nonfinite[0]) {
		double v = bad < rows * nt ? s->table[bad] : 0;
		free(s->table);
		s->table = NULL;
		free(s->row_below);
		free(s->row_above);
		s->row_below = s->row_above = NULL;
		if (s->nonfinite[0] || o->model_kind != SE_MODEL_ANALYTIC)
			return s->nonfinite[0] ? se_nonfinite_error(s, e) :
				mr_errf(e, MR_EXIT_DATA,
					"%s: the model gives a non-number for target '%s' (grid row %zu)",
					o->path, o->target_name[bad % nt], bad / nt);
		grid_row_vars(s, bad / nt, &st, cfg);
		note_nonfinite(s, o->analytic[bad % nt].line, v);
		return se_nonfinite_error(s, e);
	}
	s->nrows = rows;
	s->tabulated = 1;
	s->has_span = 1;
	return 0;
}

/* Features whose values span under 5% of the model's training range while
 * staying inside it: "p11 0..0.8 of 0..100" is a fraction against %. */
static size_t span_report(const se_sim *s, char *buf, size_t size, size_t l)
{
	if (!s->has_span || !s->model.has_range)
		return l;
	for (int i = 0; i < s->model.nfeat && l < size; i++) {
		double lo = s->span_lo[i], hi = s->span_hi[i];
		double flo = s->model.fmin[i], fhi = s->model.fmax[i];
		if (!(hi > lo) || !(hi - lo < 0.05 * (fhi - flo)) || s->below[i] ||
		    s->above[i])
			continue;
		l += (size_t)snprintf(buf + l, size - l,
				      "%sfeature %s: the objective's values span %g..%g, under 5%% of the model's training range %g..%g (other units than the trace's?)",
				      l ? "; " : "", s->o->feat_name[i], lo, hi, flo, fhi);
	}
	return l;
}

void se_range_report(const se_sim *s, char *buf, size_t size)
{
	buf[0] = 0;
	if (!s->outside) {
		span_report(s, buf, size, 0);
		return;
	}
	size_t l = (size_t)snprintf(buf, size,
				    "%llu of %llu model queries (%s) were outside the training range of the model:",
				    (unsigned long long)s->outside,
				    (unsigned long long)s->queries,
				    s->interval_load ? "steps" : s->tabulated ? "grid points at tabulation" : "live steps");
	for (int i = 0; i < s->model.nfeat && l < size; i++) {
		if (s->below[i])
			l += (size_t)snprintf(buf + l, size - l,
					      " %s below %g (%llu)",
					      s->o->feat_name[i], s->model.fmin[i],
					      (unsigned long long)s->below[i]);
		if (s->above[i] && l < size)
			l += (size_t)snprintf(buf + l, size - l,
					      " %s above %g (%llu)",
					      s->o->feat_name[i], s->model.fmax[i],
					      (unsigned long long)s->above[i]);
	}
	if (l < size)
		l += (size_t)snprintf(buf + l, size - l, "; the forest repeats its edge values there");
	if (l < size)
		span_report(s, buf, size, l);
}

int mr_simenv_episode_length(const mr_objective *o)
{
	return o->episode_length > 0 ? o->episode_length : o->pattern.length;
}

uint64_t mr_simenv_episode_seed(uint64_t seed, int episodes, long k)
{
	uint64_t base = episodes == MR_EPISODES_TEST
				? MR_STREAM_EPISODES_TEST_BASE
				: MR_STREAM_EPISODES_VALIDATION_BASE;
	mr_rng g;
	mr_rng_seed(&g, seed, base + (uint64_t)k);
	return mr_rng_u64(&g) >> 1;
}

/* The simulator of the system after the change: the same options on the
 * other model, one environment (its state is scratch). */
static int open_after(se_sim *s, const mr_simenv_opts *opts, mr_err *e)
{
	mr_simenv_opts ao = *opts;
	if (opts->change_at < 0)
		return mr_errf(e, MR_EXIT_USAGE, "change at step %ld (want >= 0)",
			       opts->change_at);
	ao.nenvs = 1;
	ao.model_path = opts->model_after;
	ao.model_after = NULL;
	s->after_env = mr_simenv_open(s->o, &ao, e);
	if (!s->after_env)
		return mr_err_prefix(e, "model after the change");
	s->after = se_sim_of(s->after_env);
	s->change_at = opts->change_at;
	return 0;
}

mr_vecenv *mr_simenv_open(const mr_objective *o, const mr_simenv_opts *opts,
			  mr_err *e)
{
	if (opts->nenvs < 1 || opts->nenvs > (1 << 20)) {
		mr_errf(e, MR_EXIT_USAGE, "number of environments must be 1..%d",
			1 << 20);
		return NULL;
	}
	se_sim *s = mr_xcalloc(1, sizeof *s);
	mr_vecenv *v = mr_xcalloc(1, sizeof *v);
	v->impl = s;
	v->reset = sim_reset;
	v->step = sim_step;
	v->close = sim_close;
	s->o = o;
	s->pat = &o->pattern;
	if (opts->load_pattern) {
		if (se_pattern_from_spec(opts->load_pattern, o->nserv,
					 &s->own_pat, e) != 0)
			goto bad;
		s->pat = &s->own_pat;
	}
	if (opts->episodes < MR_EPISODES_TRAIN ||
	    opts->episodes > MR_EPISODES_TEST) {
		mr_errf(e, MR_EXIT_USAGE, "unknown episode set %d",
			opts->episodes);
		goto bad;
	}
	/* jitter is for training: evaluation walks the levels themselves */
	s->eval = opts->eval || opts->episodes != MR_EPISODES_TRAIN;
	s->set = opts->episodes;
	s->chain = opts->episodes != MR_EPISODES_TRAIN &&
		   s->pat->kind == SE_PAT_SEQUENCE;
	s->jitter = s->eval ? 0 : s->pat->jitter;
	s->discrete_load = s->pat->kind != SE_PAT_SIN && !(s->jitter > 0);
	s->nenvs = opts->nenvs;
	s->seed = opts->seed;
	/* an override without a length of its own (levels, constant) plays
	 * the objective's episodes (never 0 steps: the parser checks) */
	s->ep_len = o->episode_length > 0 ? o->episode_length
		    : s->pat->length > 0 ? s->pat->length
					 : mr_simenv_episode_length(o);
	if (o->incremental && o->nact * MR_NMOVES > 4096) {
		mr_errf(e, MR_EXIT_DATA, "too many actions");
		goto bad;
	}
	if (se_model_open(o, opts->model_path, &s->model, e) != 0)
		goto bad;

	v->nenvs = s->nenvs;
	v->nservices = o->nserv;
	v->ncomp = o->nact;
	v->obs_dim = o->nserv + o->nparam + (o->incremental ? o->nact : 0);
	s->obs_dim = v->obs_dim;
	for (int c = 0; c < o->nact; c++) {
		v->nchoices[c] = o->incremental ? MR_NMOVES : o->act[c].nvalues;
		v->total_choices += v->nchoices[c];
	}
	size_t n = (size_t)s->nenvs;
	mr_vecenv_alloc_buffers(v);
	memset(v->masks, 1, n * (size_t)v->total_choices);
	s->st = mr_xcalloc(n, sizeof *s->st);
	s->vars = mr_xcalloc(SE_MAX_VARS, sizeof *s->vars);
	for (int i = 0; i < o->nvars; i++)
		if (o->var_kind[i] == SE_V_CONST)
			s->vars[i] = o->const_val[i];
	s->cfg = mr_xcalloc(n * (size_t)o->nact, sizeof *s->cfg);
	size_t mw = (size_t)(s->model.model_nfeat + s->model.model_ntarget);
	s->tmp = mr_xcalloc(n * mw, sizeof *s->tmp);
	if (s->discrete_load)
		for (int j = 0; j < o->nserv; j++) {
			s->nlev[j] = s->pat->nlevels[j];
			s->lev[j] = s->pat->levels[j];
		}
	char why[200] = "";
	if (opts->live)
		snprintf(why, sizeof why, "asked for");
	else if (tabulate(s, TABLE_MAX_ROWS, e) != 0)
		goto bad;
	if (!opts->live && !s->tabulated && !s->discrete_load &&
	    se_intervals_build(s, why, sizeof why)) {
		if (tabulate(s, INTERVAL_MAX_ROWS, e) != 0)
			goto bad;
		if (!s->tabulated) {
			se_intervals_free(s);
			snprintf(why, sizeof why, "the interval table would exceed %u rows",
				 INTERVAL_MAX_ROWS);
		}
	}
	if (s->interval_load) {
		size_t l = (size_t)snprintf(s->lookup, sizeof s->lookup,
					    "exact table over load intervals (");
		for (int j = 0; j < o->nserv; j++)
			l += (size_t)snprintf(s->lookup + l, sizeof s->lookup - l,
					      "%sload%d: %d", j ? ", " : "", j + 1,
					      s->nlev[j]);
		snprintf(s->lookup + l, sizeof s->lookup - l, "), %zu rows", s->nrows);
	} else if (s->tabulated) {
		snprintf(s->lookup, sizeof s->lookup, "table over the grid, %zu rows",
			 s->nrows);
	} else {
		snprintf(s->lookup, sizeof s->lookup, "live prediction (%s)",
			 why[0] ? why : "the grid is too large");
	}
	if (!s->discrete_load || !s->tabulated) {
		s->X = mr_xcalloc(n * (size_t)o->nfeat, sizeof *s->X);
		s->Y = mr_xcalloc(n * (size_t)o->ntarget, sizeof *s->Y);
		s->live_env = mr_xcalloc(n, sizeof *s->live_env);
	}
	if (opts->model_after && open_after(s, opts, e) != 0)
		goto bad;
	return v;
bad:
	sim_close(v);
	free(v);
	return NULL;
}

/* ------------------------------------------------------------------------
 * Planning (simenv.h): states as values
 */
_Static_assert(sizeof(se_state) <= MR_SIMENV_STATE_SIZE,
	       "MR_SIMENV_STATE_SIZE is smaller than se_state");

void mr_simenv_state_get(mr_vecenv *v, int i, mr_simenv_state *st)
{
	memcpy(st->b, &se_sim_of(v)->st[i], sizeof(se_state));
}

long mr_simenv_state_t(const mr_simenv_state *st)
{
	se_state x;
	memcpy(&x, st->b, sizeof x);
	return x.t;
}

void mr_simenv_state_observe(mr_vecenv *m, const mr_simenv_state *st,
			     float *obs, uint8_t *mask)
{
	se_state x;
	memcpy(&x, st->b, sizeof x);
	se_obs_mask(se_sim_of(m)->o, &x, obs, mask, 1);
}

/* st as s indexes it (x), and the configuration action leads to. */
static int state_cfg(se_sim *s, const mr_simenv_state *st,
		     const int32_t *action, se_state *x, int32_t *cfg,
		     mr_err *e)
{
	const mr_objective *o = s->o;
	memcpy(x, st->b, sizeof *x);
	for (int c = 0; c < o->nact; c++) {
		int n = o->incremental ? MR_NMOVES : o->act[c].nvalues;
		if (action[c] < 0 || action[c] >= n)
			return mr_errf(e, MR_EXIT_DATA, "action '%s': choice "
				       "%d is outside 0..%d", o->act[c].name,
				       (int)action[c], n - 1);
	}
	se_action_cfg(s, x, action, cfg);
	for (int c = 0; c < o->nact; c++)
		if (cfg[c] < 0 || cfg[c] >= o->act[c].nvalues)
			return mr_errf(e, MR_EXIT_DATA, "action '%s': the move "
				       "leaves its grid", o->act[c].name);
	/* the state may come from a simulator of another model: its load
	 * intervals are this one's */
	if (s->interval_load)
		for (int j = 0; j < o->nserv; j++)
			x->lidx[j] = se_interval_of(s, j, x->load[j]);
	return 0;
}

/* Targets of x under cfg with s's model (the one after the change when x
 * is past it). */
static const double *state_targets(se_sim *s, const se_state *x,
				   const int32_t *cfg, double *buf)
{
	return se_changed(s, x) ? se_targets_after(s, x, cfg, buf)
				: se_targets(s, x, cfg, buf);
}

int mr_simenv_model_io(mr_vecenv *m, const mr_simenv_state *st,
		       const int32_t *action, double *x, double *y,
		       mr_err *e)
{
	se_sim *s = se_sim_of(m);
	int32_t cfg[MR_MAX_COMPONENTS];
	double buf[SE_MAX_TARGETS];
	se_state xs;
	if (state_cfg(s, st, action, &xs, cfg, e))
		return -1;
	const double *t = state_targets(s, &xs, cfg, buf);
	memcpy(y, t, (size_t)s->o->ntarget * sizeof *y);
	se_feature_row(s, &xs, cfg, x);
	return 0;
}

void mr_simenv_target_columns(const mr_objective *o, int j, const char **num,
			      const char **den)
{
	const rf_ratio *r = &o->ratio[j];
	*num = r->name ? r->num : o->target_name[j];
	*den = r->name ? r->den : NULL;
}

void mr_simenv_model_names(const mr_objective *o, const char *const **feat,
			   int *nfeat, const char *const **target,
			   int *ntarget)
{
	*feat = (const char *const *)o->feat_name;
	*nfeat = o->nfeat;
	*target = (const char *const *)o->target_name;
	*ntarget = o->ntarget;
}

int mr_simenv_state_step(mr_vecenv *m, const mr_simenv_state *st,
			 const int32_t *action, mr_rng *rng, double *reward,
			 mr_step_info *info, mr_simenv_state *next, mr_err *e)
{
	se_sim *s = se_sim_of(m);
	const mr_objective *o = s->o;
	int32_t cfg[MR_MAX_COMPONENTS];
	double buf[SE_MAX_TARGETS];
	se_state x;
	if (state_cfg(s, st, action, &x, cfg, e))
		return -1;
	const double *y = state_targets(s, &x, cfg, buf);
	mr_step_info scratch;
	*reward = se_outcome(s, &x, cfg, y, info ? info : &scratch);
	if (!isfinite(*reward))
		return se_nonfinite_error(s, e);
	if (o->incremental)
		memcpy(x.cidx, cfg, (size_t)o->nact * sizeof *cfg);
	if (rng)
		mr_rng_seed(&x.rng, mr_rng_u64(rng), MR_STREAM_SIM_ENV_BASE);
	advance(s, &x);
	memcpy(next->b, &x, sizeof x);
	return 0;
}

/* Index of the value nearest x in v[0..n). */
static int32_t nearest(const double *v, int n, double x)
{
	int32_t best = 0;
	for (int i = 1; i < n; i++)
		if (fabs(v[i] - x) < fabs(v[best] - x))
			best = i;
	return best;
}

/* A sequence's first position whose row has st's level indices. */
static int32_t position_of(const se_sim *s, const se_state *st)
{
	const se_pattern *p = s->pat;
	int n = s->o->nserv;
	for (int32_t pos = 0; pos < p->nsteps; pos++) {
		int j = 0;
		while (j < n && p->seq[(size_t)pos * (size_t)n + (size_t)j] ==
					st->lidx[j])
			j++;
		if (j == n)
			return pos;
	}
	return 0;
}

void mr_simenv_state_from_obs(mr_vecenv *m, const float *obs,
			      mr_simenv_state *st)
{
	se_sim *s = se_sim_of(m);
	const mr_objective *o = s->o;
	se_state x = s->st[0]; /* the evaluation episode's start */
	int k = 0;
	x.t = 0;
	for (int j = 0; j < o->nserv; j++) {
		x.load[j] = obs[k++];
		if (s->discrete_load) {
			x.lidx[j] = nearest(s->pat->levels[j],
					    s->pat->nlevels[j], x.load[j]);
			x.load[j] = s->pat->levels[j][x.lidx[j]];
		} else if (s->interval_load) {
			x.lidx[j] = se_interval_of(s, j, x.load[j]);
		}
	}
	for (int q = 0; q < o->nparam; q++)
		x.pidx[q] = nearest(o->param[q].levels, o->param[q].nlevels,
				    obs[k++]);
	for (int c = 0; o->incremental && c < o->nact; c++)
		x.cidx[c] = nearest(o->act[c].values, o->act[c].nvalues,
				    obs[k++]);
	if (s->pat->kind == SE_PAT_SEQUENCE && s->discrete_load)
		x.pos = position_of(s, &x);
	memcpy(st->b, &x, sizeof x);
}
