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
#include <stdlib.h>
#include <string.h>

#include "simenv_impl.h"

/* loads, targets (a --ratio target: two columns), settings */
#define LIVE_MAX_COLS \
	(MR_MAX_SERVICES + 2 * SE_MAX_TARGETS + MR_MAX_COMPONENTS)

struct mr_simenv_live {
	const mr_objective *o;
	mr_action_space as;
	mr_vecenv *v; /* the simulator whose code gives rewards */
	se_sim *sim;
	double timeout;
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
	if (o->nparam > 0) {
		mr_errf(e, MR_EXIT_USAGE,
			"%s: live: objectives with [param] sections are not "
			"supported (a live state has no parameter column)",
			o->path);
		return NULL;
	}
	mr_simenv_live *l = mr_xcalloc(1, sizeof *l);
	l->o = o;
	l->timeout = timeout;
	if (mr_objective_action_space(o, &l->as, e) != 0)
		goto bad;
	/* nothing here depends on the seed: it only drives episodes */
	mr_simenv_opts so = {.nenvs = 1, .seed = 1, .eval = 1,
			     .model_path = model_path};
	l->v = mr_simenv_open(o, &so, e);
	if (!l->v)
		goto bad;
	l->sim = se_sim_of(l->v);
	for (int j = 0; j < o->nserv; j++) {
		snprintf(l->load_name[j], sizeof l->load_name[j], "max_l%d",
			 j + 1);
		l->load_col[j] = add_column(l, l->load_name[j]);
	}
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

/* The simulator's state of a measured one (no params: refused at open). */
static void sim_state(const mr_live_state *st, se_state *out)
{
	memset(out, 0, sizeof *out);
	memcpy(out->load, st->load, sizeof out->load);
	memcpy(out->cidx, st->cfg, sizeof out->cidx);
}

void mr_simenv_live_observe(const mr_simenv_live *l, const mr_live_state *st,
			    float *obs, uint8_t *mask)
{
	se_state s;
	sim_state(st, &s);
	se_obs_mask(l->o, &s, obs, mask, 1);
}

void mr_simenv_live_config(const mr_simenv_live *l, const mr_live_state *st,
			   const int32_t *action, int32_t *cfg)
{
	se_state s;
	sim_state(st, &s);
	se_action_cfg(l->sim, &s, action, cfg);
}

double mr_simenv_live_outcome(mr_simenv_live *l, const double *row,
			      const int32_t *cfg, mr_step_info *info)
{
	const mr_objective *o = l->o;
	se_state s;
	memset(&s, 0, sizeof s);
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
