/*
 * evaladapt.c - policy-eval sim --adapt (evaladapt.h): the rollout
 * controller of tools/adapt on the simulator's states, its change
 * detection, and the comparison with the base policy and the optimum.
 *
 * A rollout variant decides from the environment's true state (the loads,
 * parameters and configuration it observes, and its step) with a model of
 * the system that depends on model=: known (the simulator's own, change
 * included: the ideal estimate), detect (the model before the change until
 * the CUSUM on the delay residuals alarms, then the system's model at the
 * alarm), or none of the change (static: the model before it throughout,
 * what a rollout without re-estimation does).
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapt.h"
#include "evaladapt.h"

const char mr_adapt_help[] =
"      --adapt SPEC        a rollout controller improving the base policy (the\n"
"                          --policy, else the noop), by one step of policy\n"
"                          iteration each period; repeatable (up to 8). SPEC is\n"
"                          rollout:KEY=V,... with keys\n"
"                            l=N       simulated steps per candidate action (1)\n"
"                            d=N       multistep lookahead: the first N of the l\n"
"                                      steps take the best joint action (a search\n"
"                                      over every sequence), the base policy the\n"
"                                      rest (1..4, <= l; 1: the base from step 2)\n"
"                            value=critic|none  terminal value: the base policy's\n"
"                                      critic (default with --policy) or 0\n"
"                            mc=M      Monte-Carlo: M runs per candidate, the base\n"
"                                      policy for h=H more steps (10), no critic\n"
"                            runs=M    trajectories per candidate (1), each a\n"
"                                      draw of the load process (common random\n"
"                                      numbers across candidates), the critic kept\n"
"                            cw        component-wise (one component at a time,\n"
"                                      the others the base policy's), at every\n"
"                                      searched step\n"
"                            budget=N  model callbacks (steps, base actions,\n"
"                                      values) per decision at most (5000; 0:\n"
"                                      none): a search that could exceed it is\n"
"                                      reduced before the first decision to the\n"
"                                      first that fits of: fewer runs, later\n"
"                                      searched steps component-wise, every one,\n"
"                                      one step less of d (adapt.h; plan in\n"
"                                      adapt.csv); deterministic, not timed\n"
"                            model=known|detect|refit|static  the rollout's\n"
"                                      system model: the system's as it is at\n"
"                                      the decision (known, default: the model\n"
"                                      after the change from its step on, no\n"
"                                      foresight of it); the one before\n"
"                                      the change until a CUSUM on the model's\n"
"                                      residuals alarms, then the system's at the\n"
"                                      alarm (detect: an ideal re-estimate), or a\n"
"                                      forest refitted from the windows since the\n"
"                                      estimated change and the old trace where\n"
"                                      they do not reach (refit, adapt.h); the one\n"
"                                      before throughout (static)\n"
"                            noise=X   detect, refit: a window's measured targets\n"
"                                      are the simulator's x (1 + X N(0,1))\n"
"                                      (0.05); the CUSUM runs on each target's\n"
"                                      (measured - predicted) / predicted / X,\n"
"                                      delta 0.5, h 8\n"
"                            trace=FILE  refit: the old trace (the model's\n"
"                                      feature and target columns)\n"
"                            old=keep|scale  refit: the old trace's rows as\n"
"                                      they are (keep, default) or times the\n"
"                                      change measured where the new windows\n"
"                                      reach (scale, adapt.h)\n"
"                            recent=K  refit: a configuration's K most recent\n"
"                                      windows only (3; 0: all)\n"
"                            trees=N   refit: trees per forest (1: grown without\n"
"                                      bootstrap, every tree sees every row)\n"
"                            refits=N  refit: refit after each new window until\n"
"                                      N windows since the change (1000)\n"
"                          e.g. rollout:l=1  rollout:l=3,cw  rollout:l=1,mc=20,h=10\n"
"                          Writes DIR/adapt.csv (decision time, score after the\n"
"                          change, periods to recover, detection) beside the\n"
"                          summary; the discount is the objective's [optimal]\n"
"                          gamma, else [ppo] gamma, else 0.99 ([ppo] first\n"
"                          with the critic: the discount it learned).\n";

enum { MODEL_KNOWN, MODEL_DETECT, MODEL_REFIT, MODEL_STATIC };
#define MAX_FEAT 64   /* feature row of a window */
#define MAX_TARGET MR_ADAPT_MAX_CHANNELS
#define HISTORY 128   /* windows kept for a refit at an alarm */
#define RECENT_DEFAULT 3 /* refit: windows per configuration (0: all) */
/* the measurement noise of model=detect: its own stream of the run seed */
#define NOISE_STREAM UINT64_C(0xada97)

typedef struct {
	char name[32];
	int lookahead, depth, runs, horizon, componentwise, value, model;
	int samples; /* runs=: trajectories per candidate with the critic */
	long budget;
	double noise;
	char trace[200];
	int trees, refits;
	int scale_old; /* refit: old rows scaled (old=scale) */
	int recent;    /* refit: windows per configuration at most */
} variant;

static int spec_fail(mr_err *e, const char *spec, const char *why)
{
	return mr_errf(e, MR_EXIT_USAGE, "--adapt '%s': %s (want rollout:"
		       "l=N,d=N,value=critic|none,mc=M,h=H,runs=M,cw,budget=N,"
		       "model=known|detect|refit|static,noise=X,trace=FILE,"
		       "old=keep|scale,recent=K,trees=N,refits=N)", spec, why);
}

static int parse_key(variant *v, const char *spec, char *kv, mr_err *e)
{
	char *eq = strchr(kv, '=');
	const char *val = eq ? eq + 1 : "";
	char *end;
	if (eq)
		*eq = 0;
	long n = strtol(val, &end, 10);
	int is_int = eq && *val && !*end;
	if (!strcmp(kv, "cw") && !eq)
		v->componentwise = 1;
	else if (!strcmp(kv, "l") && is_int && n >= 1 && n <= 100)
		v->lookahead = (int)n;
	else if (!strcmp(kv, "d") && is_int && n >= 1 &&
		 n <= MR_ROLLOUT_MAX_DEPTH)
		v->depth = (int)n;
	else if (!strcmp(kv, "mc") && is_int && n >= 1 && n <= 10000)
		v->runs = (int)n;
	else if (!strcmp(kv, "runs") && is_int && n >= 1 && n <= 10000)
		v->samples = (int)n;
	else if (!strcmp(kv, "budget") && is_int && n >= 0 &&
		 n <= 1000000000L)
		v->budget = n;
	else if (!strcmp(kv, "h") && is_int && n >= 0 && n <= 1000)
		v->horizon = (int)n;
	else if (!strcmp(kv, "value") && !strcmp(val, "critic"))
		v->value = 1;
	else if (!strcmp(kv, "value") && !strcmp(val, "none"))
		v->value = 0;
	else if (!strcmp(kv, "model") && !strcmp(val, "known"))
		v->model = MODEL_KNOWN;
	else if (!strcmp(kv, "model") && !strcmp(val, "detect"))
		v->model = MODEL_DETECT;
	else if (!strcmp(kv, "model") && !strcmp(val, "static"))
		v->model = MODEL_STATIC;
	else if (!strcmp(kv, "model") && !strcmp(val, "refit"))
		v->model = MODEL_REFIT;
	else if (!strcmp(kv, "trace") && *val && strlen(val) < sizeof v->trace)
		snprintf(v->trace, sizeof v->trace, "%s", val);
	else if (!strcmp(kv, "old") && !strcmp(val, "keep"))
		v->scale_old = 0;
	else if (!strcmp(kv, "old") && !strcmp(val, "scale"))
		v->scale_old = 1;
	else if (!strcmp(kv, "recent") && is_int && n >= 0 && n <= 100000)
		v->recent = (int)n;
	else if (!strcmp(kv, "trees") && is_int && n >= 1 && n <= 1000)
		v->trees = (int)n;
	else if (!strcmp(kv, "refits") && is_int && n >= 1 && n <= 10000)
		v->refits = (int)n;
	else if (!strcmp(kv, "noise") && eq && (v->noise = strtod(val, &end),
						 *val && !*end) &&
		 v->noise > 0 && v->noise < 10)
		;
	else
		return spec_fail(e, spec, "bad key or value");
	return 0;
}

/* value: -1 until given (the default depends on the base policy). */
static int parse_spec(const char *spec, variant *v, mr_err *e)
{
	memset(v, 0, sizeof *v);
	v->lookahead = 1;
	v->depth = 1;
	v->runs = 0;
	v->horizon = -1;
	v->value = -1;
	v->noise = 0.05;
	v->trees = 1;
	v->refits = 1000;
	v->recent = RECENT_DEFAULT;
	v->budget = MR_ADAPT_BUDGET;
	if (strncmp(spec, "rollout:", 8) && strcmp(spec, "rollout"))
		return spec_fail(e, spec, "not a rollout");
	char buf[256];
	if (strlen(spec) >= sizeof buf)
		return spec_fail(e, spec, "too long");
	snprintf(buf, sizeof buf, "%s", spec[7] ? spec + 8 : "");
	char *save = NULL;
	for (char *kv = strtok_r(buf, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save))
		if (parse_key(v, spec, kv, e))
			return -1;
	if (v->runs && v->value == 1)
		return spec_fail(e, spec, "mc replaces the critic");
	if (v->depth > v->lookahead)
		return spec_fail(e, spec, "d is at most l");
	if (v->runs && v->samples)
		return spec_fail(e, spec, "mc=M sets the runs");
	if (v->horizon >= 0 && !v->runs)
		return spec_fail(e, spec, "h is the horizon of mc");
	if (v->scale_old && v->model != MODEL_REFIT)
		return spec_fail(e, spec, "old=scale is of model=refit");
	if ((v->model == MODEL_REFIT) != !!v->trace[0])
		return spec_fail(e, spec, "model=refit and trace=FILE go "
				 "together");
	size_t l = (size_t)snprintf(v->name, sizeof v->name, "rollout-l%d",
				    v->lookahead);
	if (v->depth > 1)
		l += (size_t)snprintf(v->name + l, sizeof v->name - l, "d%d",
				      v->depth);
	if (v->runs)
		l += (size_t)snprintf(v->name + l, sizeof v->name - l,
				      "-mc%d", v->runs);
	if (v->samples > 1)
		l += (size_t)snprintf(v->name + l, sizeof v->name - l,
				      "-r%d", v->samples);
	if (v->componentwise && l < sizeof v->name)
		l += (size_t)snprintf(v->name + l, sizeof v->name - l, "-cw");
	if (v->model != MODEL_KNOWN && l < sizeof v->name)
		snprintf(v->name + l, sizeof v->name - l, "-%s",
			 v->model == MODEL_DETECT ? "detect"
			 : v->model == MODEL_REFIT ? "refit" : "static");
	l = strlen(v->name);
	if (v->noise != 0.05 && l < sizeof v->name)
		l += (size_t)snprintf(v->name + l, sizeof v->name - l, "-n%g",
				      v->noise);
	if (v->budget != MR_ADAPT_BUDGET && l < sizeof v->name)
		l += (size_t)snprintf(v->name + l, sizeof v->name - l, "-b%ld",
				      v->budget);
	if (v->scale_old && l < sizeof v->name)
		l += (size_t)snprintf(v->name + l, sizeof v->name - l,
				      "-scale");
	if (v->recent != RECENT_DEFAULT && l < sizeof v->name)
		snprintf(v->name + l, sizeof v->name - l, "-k%d", v->recent);
	if (v->runs && v->horizon < 0)
		v->horizon = 10;
	return 0;
}

int mr_adapt_spec_check(const char *spec, mr_err *e)
{
	variant v;
	return parse_spec(spec, &v, e);
}

/* ------------------------------------------------------------------------
 * The rollout controller on simulator states
 */
typedef struct {
	const mr_adapt_eval *a;
	variant v;
	mr_rollout *r;
	mr_vecenv *known, *before, *after; /* models (after: NULL without a
					    * change) */
	mr_vecenv *model;                  /* the one in use */
	float obs[MR_MAX_SERVICES + 64];
	uint8_t mask[MR_MAX_COMPONENTS * MR_MAX_CHOICES];
	/* decision cost: wall and thread CPU time of each decision (for the
	 * quantiles), the most callbacks one took */
	double time_sum, time_max, cpu_max;
	double *wall, *cpu;
	long decisions, evaluated, work_max;
	/* detection: the last decision's state and action, the detector */
	mr_change_detector det;
	mr_rng noise_rng;
	mr_simenv_state prev;
	int32_t prev_action[MR_MAX_COMPONENTS];
	long windows, false_alarms, detections, delay_sum;
	long realarms; /* alarms after the change was found */
	long clean_windows; /* windows of the unchanged system */
	int detected; /* this episode: the change was found */
	/* per channel, the last window its upper and lower statistics were
	 * 0; at an alarm, last_zero: the alarming one's (the change point
	 * estimate: the windows after it are the changed system's) */
	long zero_up[MAX_TARGET], zero_down[MAX_TARGET], last_zero;
	long first_alarm;
	/* this episode's last windows: feature rows and measured targets */
	double hist_x[HISTORY][MAX_FEAT], hist_y[HISTORY][MAX_TARGET];
	long hist_t[HISTORY], nhist;
	/* refit: the estimator, its model file and simulator, its cost and
	 * its relative error on the windows after the change */
	mr_refit *refit;
	int refitting;
	char refit_path[4096];
	mr_vecenv *refit_env;
	long refits;
	double refit_time_sum, refit_time_max, err_sum;
	long err_n;
} adapt_ctl;

static int m_step(void *ctx, const void *s, const int32_t *a, mr_rng *rng,
		  double *reward, void *next, mr_err *e)
{
	adapt_ctl *c = ctx;
	return mr_simenv_state_step(c->model, s, a, rng, reward, NULL, next, e);
}

static void observe(adapt_ctl *c, const void *s)
{
	mr_simenv_state_observe(c->model, s, c->obs, c->mask);
}

static int m_base(void *ctx, const void *s, int32_t *a, mr_err *e)
{
	(void)e;
	adapt_ctl *c = ctx;
	if (!c->a->pol) {
		memcpy(a, c->a->noop, sizeof(int32_t) * (size_t)c->a->as->ncomp);
		return 0;
	}
	observe(c, s);
	mr_policy_act(c->a->pol, c->obs, c->mask, a);
	return 0;
}

static int m_value(void *ctx, const void *s, double *v, mr_err *e)
{
	(void)e;
	adapt_ctl *c = ctx;
	observe(c, s);
	*v = mr_policy_value(c->a->pol, c->obs);
	return 0;
}

static int m_mask(void *ctx, const void *s, uint8_t *mask, mr_err *e)
{
	(void)e;
	adapt_ctl *c = ctx;
	observe(c, s);
	int total = 0;
	for (int i = 0; i < c->a->as->ncomp; i++)
		total += c->a->as->nchoices[i];
	memcpy(mask, c->mask, (size_t)total);
	return 0;
}

/* The rollout's discount: the objective's [optimal] gamma, else [ppo]'s;
 * with the critic as terminal value [ppo]'s first, the discount the critic
 * learned (its values are in units of 1 / (1 - gamma) rewards). */
static double discount(const mr_objective *o, int critic)
{
	const char *g = mr_objective_param(o, critic ? "ppo" : "optimal",
					   "gamma");
	if (!g)
		g = mr_objective_param(o, critic ? "optimal" : "ppo", "gamma");
	return g ? atof(g) : 0.99;
}

/* A simulator of the test set's first episode (its state is unused: the
 * rollout steps states of the environment it controls); model_after NULL
 * drops the change. */
static mr_vecenv *open_model(const mr_adapt_eval *a, const char *model,
			     const char *after, mr_err *e)
{
	mr_simenv_opts o = a->opts;
	o.nenvs = 1;
	o.model_path = model;
	o.model_after = after;
	mr_vecenv *v = mr_simenv_open(a->o, &o, e);
	if (v && v->reset(v, o.seed, e) != 0) {
		v->close(v);
		free(v);
		return NULL;
	}
	return v;
}

static void close_env(mr_vecenv *v)
{
	if (v) {
		v->close(v);
		free(v);
	}
}

static void ctl_free(adapt_ctl *c)
{
	free(c->wall);
	free(c->cpu);
	mr_rollout_free(c->r);
	mr_refit_free(c->refit);
	close_env(c->refit_env);
	if (c->refit_path[0])
		remove(c->refit_path);
	close_env(c->known);
	close_env(c->before);
	close_env(c->after);
}

static int refit_init(adapt_ctl *c, mr_err *e);

static int ctl_init(adapt_ctl *c, const mr_adapt_eval *a, const char *spec,
		    mr_err *e)
{
	memset(c, 0, sizeof *c);
	c->a = a;
	if (parse_spec(spec, &c->v, e))
		return -1;
	if (c->v.value < 0)
		c->v.value = a->pol && !c->v.runs;
	if (c->v.value && !a->pol)
		return spec_fail(e, spec, "value=critic needs --policy");
	if (c->v.value) { /* rollout-l1-critic[-detect...] */
		char *dash = strchr(c->v.name + 8, '-'), rest[32] = "";
		if (dash) {
			snprintf(rest, sizeof rest, "%s", dash);
			*dash = 0;
		}
		size_t l = strlen(c->v.name);
		snprintf(c->v.name + l, sizeof c->v.name - l, "-critic%s",
			 rest);
	}
	const char *m = a->opts.model_path, *after = a->opts.model_after;
	if (!(c->known = open_model(a, m, after, e)) ||
	    !(c->before = open_model(a, m, NULL, e)) ||
	    (after && !(c->after = open_model(a, after, NULL, e))))
		return -1;
	c->model = c->before;
	mr_adapt_model am = {
		.ncomp = a->as->ncomp, .state_size = sizeof(mr_simenv_state),
		.ctx = c, .step = m_step, .base = m_base,
		.value = c->v.value ? m_value : NULL, .mask = m_mask};
	for (int i = 0; i < am.ncomp; i++)
		am.nchoices[i] = a->as->nchoices[i];
	mr_rollout_opts ro = {
		.lookahead = c->v.lookahead + (c->v.runs ? c->v.horizon : 0),
		.depth = c->v.depth,
		.runs = c->v.runs ? c->v.runs : c->v.samples ? c->v.samples : 1,
		.componentwise = c->v.componentwise, .budget = c->v.budget,
		.gamma = discount(a->o, c->v.value), .seed = a->opts.seed};
	if (!(c->r = mr_rollout_new(&am, &ro, e)))
		return mr_err_prefix(e, "--adapt '%s'", spec);
	mr_rng_seed(&c->noise_rng, a->opts.seed, NOISE_STREAM);
	const char *const *fn, *const *tn;
	int nf, nt;
	mr_simenv_model_names(a->o, &fn, &nf, &tn, &nt);
	if (nf > MAX_FEAT || nt > MAX_TARGET)
		return spec_fail(e, spec, "the model has too many features or "
				 "targets to watch");
	if (c->v.model == MODEL_REFIT && refit_init(c, e))
		return -1;
	return mr_change_detector_init(&c->det, nt, NULL, MR_CUSUM_DELTA,
				       MR_CUSUM_H, e);
}

/* Column name's index in cols[0..*n), added when new. */
static int column_index(const char **cols, int *n, const char *name)
{
	for (int i = 0; i < *n; i++)
		if (!strcmp(cols[i], name))
			return i;
	cols[*n] = name;
	return (*n)++;
}

/* The old trace's feature rows and targets (a ratio target from its two
 * columns; a row where a ratio's denominator is 0 is left out) into the
 * estimator. */
static int refit_init(adapt_ctl *c, mr_err *e)
{
	const char *const *feat, *const *target;
	const char *cols[MAX_FEAT + 2 * MAX_TARGET];
	int nf, nt, ncol = 0, fi[MAX_FEAT], ni[MAX_TARGET], di[MAX_TARGET];
	mr_simenv_model_names(c->a->o, &feat, &nf, &target, &nt);
	for (int i = 0; i < nf; i++)
		fi[i] = column_index(cols, &ncol, feat[i]);
	for (int j = 0; j < nt; j++) {
		const char *num, *den;
		mr_simenv_target_columns(c->a->o, j, &num, &den);
		ni[j] = column_index(cols, &ncol, num);
		di[j] = den ? column_index(cols, &ncol, den) : -1;
	}
	mr_table tb;
	if (mr_table_read(c->v.trace, cols, (size_t)ncol, 0, &tb, e))
		return mr_err_prefix(e, "--adapt '%s'", c->v.name);
	double *X = mr_xcalloc(tb.nrows * (size_t)nf + 1, sizeof *X);
	double *Y = mr_xcalloc(tb.nrows * (size_t)nt + 1, sizeof *Y);
	size_t n = 0;
	for (size_t r = 0; r < tb.nrows; r++) {
		const double *row = tb.data + r * tb.ncols;
		int keep = 1;
		for (int j = 0; j < nt; j++) {
			double den = di[j] >= 0 ? row[di[j]] : 1;
			keep &= den != 0;
			Y[n * (size_t)nt + (size_t)j] = row[ni[j]] / den;
		}
		for (int i = 0; keep && i < nf; i++)
			X[n * (size_t)nf + (size_t)i] = row[fi[i]];
		n += (size_t)keep;
	}
	mr_table_free(&tb);
	mr_forest_params fp;
	mr_forest_params_default(&fp);
	fp.ntrees = c->v.trees;
	/* every tree on every row: a configuration measured since the change
	 * is predicted from its new windows alone however few they are (with
	 * bootstrap samples a third of the trees would miss a lone window and
	 * answer with its neighbours' old rows) */
	fp.bootstrap = 0;
	fp.seed = c->a->opts.seed;
	fp.threads = 1;
	c->refit = mr_refit_new((size_t)nf, (size_t)nt, X, Y, n, feat, target,
				HISTORY + (size_t)c->v.refits, &fp, e);
	free(X);
	free(Y);
	if (c->refit) {
		mr_refit_scale_old(c->refit, c->v.scale_old);
		mr_refit_recent(c->refit, (size_t)c->v.recent);
	}
	snprintf(c->refit_path, sizeof c->refit_path, "%s/.refit-%s.msgpack",
		 c->a->outdir, c->v.name);
	return c->refit ? 0 : -1;
}

/* Fits the estimator's current set and makes it the rollout's model:
 * fit, file, simulator, timed. */
static int refit_now(adapt_ctl *c, mr_err *e)
{
	double t0 = mr_now();
	mr_forest *f = mr_refit_fit(c->refit, NULL, NULL, e);
	if (!f)
		return -1;
	int rc = mr_forest_save(f, c->refit_path, e);
	mr_forest_free(f);
	if (rc)
		return -1;
	close_env(c->refit_env);
	c->refit_env = open_model(c->a, c->refit_path, NULL, e);
	if (!c->refit_env)
		return mr_err_prefix(e, "refitted model");
	c->model = c->refit_env;
	double dt = mr_now() - t0;
	c->refits++;
	c->refit_time_sum += dt;
	c->refit_time_max = dt > c->refit_time_max ? dt : c->refit_time_max;
	return 0;
}

/* After an alarm at window w: the model of the system from then on
 * (detect: the simulator's own at w; refit: fitted from the windows since
 * the last window whose statistics were all 0, Page's estimate of the
 * change point, and the old trace). */
static int estimate(adapt_ctl *c, long w, mr_err *e)
{
	const mr_simenv_opts *o = &c->a->opts;
	int changed = o->model_after && w >= o->change_at;
	if (c->v.model == MODEL_DETECT) {
		c->model = changed ? c->after : c->before;
		return 0;
	}
	/* the change point: Page's estimate, but never after the first
	 * alarm's window (every window from it on is the changed system's;
	 * a later alarm is the refitted model still learning, e.g. of a
	 * configuration only the old trace knew, or an estimate that took a
	 * window from before the change) */
	if (!c->refitting)
		c->first_alarm = w;
	else if (c->last_zero > c->first_alarm - 1)
		c->last_zero = c->first_alarm - 1;
	if (c->refitting && mr_refit_windows(c->refit) >= (size_t)c->v.refits)
		return 0;
	mr_refit_clear(c->refit);
	long n = c->nhist < HISTORY ? c->nhist : HISTORY;
	for (long k = c->nhist - n; k < c->nhist; k++) {
		long i = k % HISTORY;
		if (c->hist_t[i] > c->last_zero)
			mr_refit_add(c->refit, c->hist_x[i], c->hist_y[i]);
	}
	c->refitting = 1;
	return refit_now(c, e);
}

/* Counts an alarm at window w: the change found, or a false alarm. */
static void count_alarm(adapt_ctl *c, long w)
{
	const mr_simenv_opts *o = &c->a->opts;
	if (o->model_after && w >= o->change_at && !c->detected) {
		c->detected = 1;
		c->detections++;
		c->delay_sum += w - o->change_at;
	} else if (c->detected || c->refitting) {
		c->realarms++;
	} else {
		c->false_alarms++;
	}
}

/* The window w just measured: its feature row x and measured targets y
 * into the history (and the refit set while refitting). */
static int record(adapt_ctl *c, long w, const double *x, const double *y,
		  int nf, int nt, mr_err *e)
{
	long i = c->nhist++ % HISTORY;
	memcpy(c->hist_x[i], x, (size_t)nf * sizeof *x);
	memcpy(c->hist_y[i], y, (size_t)nt * sizeof *y);
	c->hist_t[i] = w;
	if (!c->refitting ||
	    mr_refit_windows(c->refit) >= (size_t)c->v.refits)
		return 0;
	mr_refit_add(c->refit, x, y);
	return refit_now(c, e);
}

static int detect_window(adapt_ctl *c, long w, const double *x,
			 const double *meas, const double *res, int nf, int nt,
			 mr_err *e);

/* detect, refit: the window before decision t (its state and action were
 * the last decision's): measured targets (the simulator's with noise)
 * against the model in use into the CUSUM, and an estimate on an alarm. */
static int watch(adapt_ctl *c, long t, mr_err *e)
{
	const mr_simenv_opts *o = &c->a->opts;
	if (t == 0) {
		mr_change_detector_reset(&c->det);
		c->detected = c->refitting = 0;
		c->model = c->before;
		c->last_zero = -1;
		for (int j = 0; j < MAX_TARGET; j++)
			c->zero_up[j] = c->zero_down[j] = -1;
		c->nhist = 0;
		return 0;
	}
	long w = t - 1;
	double x[MAX_FEAT], xp[MAX_FEAT], truth[MAX_TARGET], pred[MAX_TARGET];
	double meas[MAX_TARGET], res[MAX_TARGET];
	int nf, nt;
	const char *const *fn, *const *tn;
	mr_simenv_model_names(c->a->o, &fn, &nf, &tn, &nt);
	if (mr_simenv_model_io(c->known, &c->prev, c->prev_action, x, truth,
			       e) ||
	    mr_simenv_model_io(c->model, &c->prev, c->prev_action, xp, pred,
			       e))
		return -1;
	for (int j = 0; j < nt; j++) {
		meas[j] = truth[j] * (1 + c->v.noise *
				      mr_rng_normal(&c->noise_rng));
		res[j] = pred[j] != 0 ? (meas[j] - pred[j]) / pred[j] /
					       c->v.noise
				      : NAN;
		if (c->refitting && o->model_after && w >= o->change_at &&
		    truth[j] != 0) {
			c->err_sum += fabs(pred[j] - truth[j]) / fabs(truth[j]);
			c->err_n++;
		}
	}
	c->windows++;
	c->clean_windows += !o->model_after || w < o->change_at;
	return detect_window(c, w, x, meas, res, nf, nt, e);
}

/* Window w (feature row x, measured targets meas, their residuals res)
 * into the history and the CUSUM; on an alarm, Page's estimate of the
 * change point and the model from then on (estimate). */
static int detect_window(adapt_ctl *c, long w, const double *x,
			 const double *meas, const double *res, int nf, int nt,
			 mr_err *e)
{
	if (record(c, w, x, meas, nf, nt, e))
		return -1;
	int alarm = mr_change_detector_update(&c->det, res);
	for (int j = 0; j < nt; j++) {
		if (c->det.up[j] == 0)
			c->zero_up[j] = w;
		if (c->det.down[j] == 0)
			c->zero_down[j] = w;
	}
	if (!alarm)
		return 0;
	/* Page's estimate of the change point: the alarming statistic's
	 * last zero */
	int ch = c->det.channel;
	c->last_zero = c->det.up[ch] > c->det.h ? c->zero_up[ch]
						  : c->zero_down[ch];
	count_alarm(c, w);
	mr_change_detector_reset(&c->det);
	for (int j = 0; j < nt; j++)
		c->zero_up[j] = c->zero_down[j] = w;
	return estimate(c, w, e);
}

static double thread_cpu(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return NAN;
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One decision's cost (wall and CPU from wall0, cpu0; n Q values). */
static void count_decision(adapt_ctl *c, double wall0, double cpu0, long n)
{
	double dt = mr_now() - wall0, dc = thread_cpu() - cpu0;
	long k = c->decisions++;
	if (!(k & (k - 1))) { /* k = 0 or a power of 2: room for 2k + 1 */
		size_t room = 2 * (size_t)k + 1;
		c->wall = mr_xrealloc(c->wall, room, sizeof *c->wall);
		c->cpu = mr_xrealloc(c->cpu, room, sizeof *c->cpu);
	}
	c->wall[k] = dt;
	c->cpu[k] = dc;
	c->time_sum += dt;
	c->time_max = dt > c->time_max ? dt : c->time_max;
	c->cpu_max = dc > c->cpu_max ? dc : c->cpu_max;
	c->evaluated += n;
	long w = mr_rollout_work(c->r);
	c->work_max = w > c->work_max ? w : c->work_max;
}

static int adapt_act(void *ctx, mr_vecenv *v, int32_t *action, mr_err *e)
{
	adapt_ctl *c = ctx;
	mr_simenv_state st;
	long n = 0;
	mr_simenv_state_get(v, 0, &st);
	long t = mr_simenv_state_t(&st);
	if ((c->v.model == MODEL_DETECT || c->v.model == MODEL_REFIT) &&
	    watch(c, t, e))
		return -1;
	/* known: the system as it is now (no foresight of the change) */
	if (c->v.model == MODEL_KNOWN)
		c->model = c->a->opts.model_after && t >= c->a->opts.change_at
				   ? c->after : c->before;
	double t0 = mr_now(), c0 = thread_cpu();
	if (mr_rollout_act(c->r, &st, action, &n, e))
		return -1;
	count_decision(c, t0, c0, n);
	c->prev = st;
	memcpy(c->prev_action, action, sizeof(int32_t) * (size_t)v->ncomp);
	return 0;
}

/* ------------------------------------------------------------------------
 * The comparison
 */
enum { C_OPT, C_BASE, C_RANDOM, C_FIRST_VARIANT };

static void policy_act(void *ctx, const float *obs, const uint8_t *mask,
		       int32_t *action)
{
	mr_policy_act(ctx, obs, mask, action);
}

static mr_vecenv *open_episode(const mr_adapt_eval *a, int k, int nenvs,
			       mr_err *e)
{
	mr_simenv_opts o = a->opts;
	o.nenvs = nenvs;
	o.seed = mr_simenv_episode_seed(a->opts.seed, o.episodes, k);
	mr_vecenv *v = mr_simenv_open(a->o, &o, e);
	if (v && v->reset(v, o.seed, e) != 0) {
		close_env(v);
		return NULL;
	}
	return v;
}

/* Mean reward of steps [from, to) of episode k (nsteps each). */
static double window_mean(const mr_steps *s, long nsteps, int k, long from,
			  long to)
{
	double sum = 0;
	for (long t = from; t < to; t++)
		sum += s->reward[(long)k * nsteps + t];
	return to > from ? sum / (double)(to - from) : NAN;
}

/* Periods after the change until the controller's reward stays within
 * tol of the optimum's at every later step of episode k; -1: never. */
static long recover_periods(const mr_steps *s, const mr_steps *opt,
			    long nsteps, int k, long from, double tol)
{
	long last_bad = from - 1;
	for (long t = from; t < nsteps; t++) {
		long i = (long)k * nsteps + t;
		if (s->reward[i] < opt->reward[i] - tol)
			last_bad = t;
	}
	return last_bad + 1 >= nsteps ? -1 : last_bad + 1 - from;
}

typedef struct {
	double score_after, reward_after, recover_mean;
	int recovered;
} after_stats;

static void after_change(const mr_adapt_eval *a, const mr_steps *steps,
			 int i, after_stats *out)
{
	long from = a->opts.model_after ? a->opts.change_at : 0;
	long n = a->nsteps;
	double score = 0, rsum = 0, rec = 0;
	int ne = a->episodes, nrec = 0;
	if (from >= n)
		from = n - 1;
	for (int k = 0; k < ne; k++) {
		double ro = window_mean(&steps[C_OPT], n, k, from, n);
		double rr = window_mean(&steps[C_RANDOM], n, k, from, n);
		double rc = window_mean(&steps[i], n, k, from, n);
		score += mr_norm_score(rc, ro, rr) / ne;
		rsum += rc / ne;
		long p = recover_periods(&steps[i], &steps[C_OPT], n, k, from,
					 0.05 * fabs(ro - rr));
		if (p >= 0) {
			rec += (double)p;
			nrec++;
		}
	}
	out->score_after = score;
	out->reward_after = rsum;
	out->recover_mean = nrec ? rec / nrec : NAN;
	out->recovered = nrec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The q-quantile of v[0..n) (nearest rank; sorts v). */
static double quantile(double *v, long n, double q)
{
	if (n < 1)
		return NAN;
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	long k = (long)ceil(q * (double)n) - 1;
	return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

static void adapt_row(FILE *f, const mr_adapt_eval *a, const mr_steps *steps,
		      const mr_controller *ctl, int i, const adapt_ctl *c)
{
	after_stats as;
	after_change(a, steps, i, &as);
	fprintf(f, "%s,%s,%llu,%s", a->objective, a->pattern,
		(unsigned long long)a->opts.seed, ctl[i].name);
	if (c) {
		fprintf(f, ",%ld,%ld", mr_action_joint_count(a->as, LONG_MAX),
			c->decisions);
		mr_csv_put(f, ",", 1e6 * c->time_sum / (double)c->decisions);
		mr_csv_put(f, ",", 1e6 * c->time_max);
		mr_csv_put(f, ",", 1e6 * quantile(c->wall, c->decisions, 0.99));
		mr_csv_put(f, ",", 1e6 * c->cpu_max);
		mr_csv_put(f, ",", 1e6 * quantile(c->cpu, c->decisions, 0.99));
		mr_csv_put(f, ",", (double)c->evaluated / (double)c->decisions);
		const mr_rollout_plan *p = mr_rollout_get_plan(c->r);
		fprintf(f, ",%ld,%ld,%ld,d%d-%s-%s-r%d", c->v.budget,
			p->worst, c->work_max, p->depth,
			p->outer_cw ? "cw" : "joint",
			p->inner_cw ? "cw" : "joint", p->runs);
	} else {
		fputs(",,,,,,,,,,,,", f);
	}
	mr_csv_put(f, ",", a->opts.model_after ? (double)a->opts.change_at : NAN);
	mr_csv_put(f, ",", as.reward_after);
	mr_csv_put(f, ",", as.score_after);
	fprintf(f, ",%d,%d", a->episodes, as.recovered);
	mr_csv_put(f, ",", as.recover_mean);
	if (c && (c->v.model == MODEL_DETECT || c->v.model == MODEL_REFIT)) {
		fprintf(f, ",%ld,%ld", c->windows, c->detections);
		mr_csv_put(f, ",", c->detections ? (double)c->delay_sum /
					  (double)c->detections : NAN);
		fprintf(f, ",%ld,%ld", c->false_alarms, c->clean_windows);
		mr_csv_put(f, ",", 1000.0 * (double)c->false_alarms /
			  (double)c->clean_windows);
		fprintf(f, ",%ld", c->realarms);
	} else {
		fputs(",,,,,,,", f);
	}
	if (c && c->refits) {
		fprintf(f, ",%ld", c->refits);
		mr_csv_put(f, ",", 1e3 * c->refit_time_sum / (double)c->refits);
		mr_csv_put(f, ",", 1e3 * c->refit_time_max);
		mr_csv_put(f, ",", c->err_n ? c->err_sum / (double)c->err_n : NAN);
	} else {
		fputs(",,,,", f);
	}
	fputc('\n', f);
}

/* DIR/adapt.csv, atomically. */
static int write_adapt(const mr_adapt_eval *a, const mr_steps *steps,
		       const mr_controller *ctl, int nctl,
		       const adapt_ctl *ac, mr_err *e)
{
	char path[4096];
	mr_out out;
	snprintf(path, sizeof path, "%s/adapt.csv", a->outdir);
	if (mr_out_open(&out, path, e))
		return -1;
	fputs("objective,pattern,seed,policy,joint_actions,decisions,"
	      "decision_us_mean,decision_us_max,decision_us_p99,"
	      "decision_cpu_us_max,decision_cpu_us_p99,q_per_decision,"
	      "budget,work_worst,work_max,plan,change_at,"
	      "mean_reward_after,norm_score_after,episodes,"
	      "recovered_episodes,recover_periods_mean,windows,detections,"
	      "detection_delay_mean,false_alarms,unchanged_windows,"
	      "false_alarms_per_1000,alarms_after_detection,refits,"
	      "refit_ms_mean,refit_ms_max,refit_rel_err\n",
	      out.f);
	for (int i = 0; i < nctl; i++)
		adapt_row(out.f, a, steps, ctl, i,
			  i >= C_FIRST_VARIANT ? &ac[i - C_FIRST_VARIANT]
					       : NULL);
	return mr_out_commit(&out, e);
}

/* Every controller on every episode, then the files. */
static int run_all(const mr_adapt_eval *a, mr_controller *ctl, int nctl,
		   mr_steps *steps, mr_err *e)
{
	for (int k = 0; k < a->episodes; k++)
		for (int i = 0; i < nctl; i++) {
			mr_vecenv *v = open_episode(a, k, 1, e);
			if (!v)
				return -1;
			steps[i].cur_episode = k;
			int rc = mr_eval_run(v, a->as, &ctl[i], a->nsteps,
					     &steps[i], e);
			close_env(v);
			if (rc)
				return mr_err_prefix(e, "episode %d", k);
		}
	return 0;
}

static int write_all(const mr_adapt_eval *a, const mr_controller *ctl,
		     int nctl, const mr_steps *steps, const adapt_ctl *ac,
		     mr_err *e)
{
	int ne = a->episodes;
	double *r_opt = mr_xcalloc((size_t)ne, sizeof *r_opt);
	double *r_rand = mr_xcalloc((size_t)ne, sizeof *r_rand);
	mr_summary rows[C_FIRST_VARIANT + MR_ADAPT_MAX_VARIANTS];
	int rc = -1;
	for (int k = 0; k < ne; k++) {
		r_opt[k] = window_mean(&steps[C_OPT], a->nsteps, k, 0,
				       a->nsteps);
		r_rand[k] = window_mean(&steps[C_RANDOM], a->nsteps, k, 0,
					a->nsteps);
	}
	char path[4096];
	for (int i = 0; i < nctl; i++) {
		snprintf(path, sizeof path, "%s/steps-%.*s.csv", a->outdir,
			 (int)sizeof ctl[i].name, ctl[i].name);
		if (mr_steps_write(path, a->as, &steps[i], e))
			goto out;
		mr_summarise_episodes(&steps[i], ctl[i].name, ne, r_opt,
				      r_rand, &steps[C_OPT], &rows[i]);
	}
	snprintf(path, sizeof path, "%s/summary.csv", a->outdir);
	if (mr_summary_write(path, a->objective, a->pattern, a->opts.seed,
			     rows, nctl, e) ||
	    write_adapt(a, steps, ctl, nctl, ac, e))
		goto out;
	for (int i = 0; i < nctl && !a->quiet; i++) {
		after_stats as;
		after_change(a, steps, i, &as);
		fprintf(stderr, "policy-eval: %-24s score %.3f, after the "
			"change %.3f, recovered in %d of %d episodes",
			ctl[i].name, rows[i].norm_score, as.score_after,
			as.recovered, ne);
		if (i >= C_FIRST_VARIANT)
			fprintf(stderr, ", %.1f us per decision",
				1e6 * ac[i - C_FIRST_VARIANT].time_sum /
				(double)ac[i - C_FIRST_VARIANT].decisions);
		fputc('\n', stderr);
	}
	rc = 0;
out:
	free(r_opt);
	free(r_rand);
	return rc;
}

int mr_eval_adapt(const mr_adapt_eval *a, mr_err *e)
{
	int nv = a->nspecs, nctl = C_FIRST_VARIANT + nv, rc = -1, made = 0;
	mr_controller ctl[C_FIRST_VARIANT + MR_ADAPT_MAX_VARIANTS];
	mr_steps steps[C_FIRST_VARIANT + MR_ADAPT_MAX_VARIANTS];
	adapt_ctl *ac = mr_xcalloc((size_t)(nv ? nv : 1), sizeof *ac);
	void *optimal = mr_simenv_optimal_new();
	if (a->nsteps < 1 || a->episodes < 1 || nv < 1 ||
	    nv > MR_ADAPT_MAX_VARIANTS) {
		mr_errf(e, MR_EXIT_USAGE, "--adapt: %d variants, %ld steps, %d "
			"episodes", nv, a->nsteps, a->episodes);
		goto out;
	}
	mr_ctl_env(&ctl[C_OPT], "optimal", mr_simenv_optimal_act, optimal);
	if (a->pol)
		mr_ctl_func(&ctl[C_BASE], "ppo", policy_act, (void *)a->pol);
	else
		mr_ctl_fixed(&ctl[C_BASE], "noop", a->noop, a->as->ncomp);
	mr_ctl_random(&ctl[C_RANDOM], "random", a->opts.seed);
	for (made = 0; made < nv; made++) {
		if (ctl_init(&ac[made], a, a->specs[made], e)) {
			made++;
			goto out;
		}
		for (int j = 0; j < made; j++)
			if (!strcmp(ac[j].v.name, ac[made].v.name)) {
				mr_errf(e, MR_EXIT_USAGE, "--adapt '%s': "
					"the same variant twice",
					a->specs[made]);
				made++;
				goto out;
			}
		mr_ctl_env(&ctl[C_FIRST_VARIANT + made], ac[made].v.name,
			   adapt_act, &ac[made]);
	}
	for (int i = 0; i < nctl; i++)
		mr_steps_init(&steps[i], a->as->ncomp, ac[0].known->nservices);
	rc = run_all(a, ctl, nctl, steps, e);
	if (!rc)
		rc = write_all(a, ctl, nctl, steps, ac, e);
	for (int i = 0; i < nctl; i++)
		mr_steps_free(&steps[i]);
out:
	for (int j = 0; j < made; j++)
		ctl_free(&ac[j]);
	free(ac);
	mr_simenv_optimal_free(optimal);
	return rc;
}

/* ------------------------------------------------------------------------
 * The live loop's rollout controller (evaladapt.h)
 */
struct mr_adapt_live {
	mr_adapt_eval a;
	adapt_ctl c;
	long failures;
	long first_alarm; /* detect, refit: the first alarm's window, or -1 */
	int32_t noop[MR_MAX_COMPONENTS];
	char first_error[256];
};

mr_adapt_live *mr_adapt_live_new(const mr_objective *o,
				 const char *model_path,
				 const mr_policy *pol,
				 const mr_action_space *as, const char *spec,
				 uint64_t seed, const char *outdir, mr_err *e)
{
	variant v;
	if (parse_spec(spec, &v, e))
		return NULL;
	if (v.model == MODEL_STATIC) {
		spec_fail(e, spec, "live: model=known, detect or refit (static "
			  "is known: the model given throughout)");
		return NULL;
	}
	mr_adapt_live *l = mr_xcalloc(1, sizeof *l);
	l->first_alarm = -1;
	l->a.o = o;
	l->a.as = as;
	l->a.pol = pol;
	l->a.noop = l->noop;
	l->a.opts.nenvs = 1;
	l->a.opts.seed = seed;
	l->a.opts.eval = 1;
	l->a.opts.episodes = MR_EPISODES_TEST;
	l->a.opts.model_path = model_path;
	l->a.outdir = outdir;
	if (ctl_init(&l->c, &l->a, spec, e)) {
		mr_adapt_live_free(l);
		return NULL;
	}
	l->c.last_zero = -1;
	for (int j = 0; j < MAX_TARGET; j++)
		l->c.zero_up[j] = l->c.zero_down[j] = -1;
	return l;
}

static int column_of(const char *const *cols, int ncols, const char *name)
{
	for (int i = 0; i < ncols; i++)
		if (!strcmp(cols[i], name))
			return i;
	return -1;
}

/* Target j as the live row measured it (NUM, or NUM / DEN for a ratio
 * target); NaN when the denominator is 0. */
static int row_target(const mr_objective *o, int j, const double *row,
		      const char *const *cols, int ncols, double *y, mr_err *e)
{
	const char *num, *den;
	mr_simenv_target_columns(o, j, &num, &den);
	int n = column_of(cols, ncols, num), d = den ? column_of(cols, ncols,
								 den) : -1;
	if (n < 0 || (den && d < 0))
		return mr_errf(e, MR_EXIT_DATA, "live: the rows have no column "
			       "'%s' (a model target, needed by --adapt "
			       "model=detect|refit)", n < 0 ? num : den);
	*y = !den ? row[n] : row[d] != 0 ? row[n] / row[d] : NAN;
	return 0;
}

int mr_adapt_live_window(mr_adapt_live *l, const float *obs,
			 const int32_t *action, const double *row,
			 const char *const *cols, int ncols, mr_err *e)
{
	adapt_ctl *c = &l->c;
	const char *const *fn, *const *tn;
	int nf, nt;
	double x[MAX_FEAT], pred[MAX_TARGET], meas[MAX_TARGET];
	double res[MAX_TARGET];
	mr_simenv_state st;

	if (c->v.model != MODEL_DETECT && c->v.model != MODEL_REFIT)
		return 0;
	mr_simenv_model_names(l->a.o, &fn, &nf, &tn, &nt);
	mr_simenv_state_from_obs(c->model, obs, &st);
	if (mr_simenv_model_io(c->model, &st, action, x, pred, e))
		return -1;
	for (int j = 0; j < nt; j++) {
		if (row_target(l->a.o, j, row, cols, ncols, &meas[j], e))
			return -1;
		if (!isfinite(meas[j])) /* nothing answered: no window */
			return 0;
		res[j] = pred[j] != 0 ? (meas[j] - pred[j]) / pred[j] /
					       c->v.noise
				      : NAN;
	}
	long w = c->windows++, alarms = c->false_alarms + c->realarms;
	c->clean_windows++;
	if (detect_window(c, w, x, meas, res, nf, nt, e))
		return -1;
	if (c->false_alarms + c->realarms > alarms && l->first_alarm < 0)
		l->first_alarm = w;
	return 0;
}

void mr_adapt_live_act(void *ctx, const float *obs, const uint8_t *mask,
		       int32_t *action)
{
	mr_adapt_live *l = ctx;
	adapt_ctl *c = &l->c;
	mr_simenv_state st;
	mr_err e = {0};
	long n = 0;
	mr_simenv_state_from_obs(c->model, obs, &st);
	double t0 = mr_now(), c0 = thread_cpu();
	if (mr_rollout_act(c->r, &st, action, &n, &e)) {
		if (!l->failures++)
			snprintf(l->first_error, sizeof l->first_error, "%.200s",
				 e.msg);
		if (l->a.pol)
			mr_policy_act(l->a.pol, obs, mask, action);
		else
			memcpy(action, l->noop,
			       sizeof(int32_t) * (size_t)l->a.as->ncomp);
	}
	count_decision(c, t0, c0, n);
}

const char *mr_adapt_live_name(const mr_adapt_live *l)
{
	return l->c.v.name;
}

void mr_adapt_live_report(const mr_adapt_live *l, const char *prog)
{
	const adapt_ctl *c = &l->c;
	if (!c->decisions)
		return;
	fprintf(stderr, "%s: %s: %ld decisions, %.1f us each (max %.1f, CPU "
		"max %.1f), at most %ld callbacks, %ld failed%s%s\n", prog,
		c->v.name, c->decisions,
		1e6 * c->time_sum / (double)c->decisions, 1e6 * c->time_max,
		1e6 * c->cpu_max, c->work_max, l->failures,
		l->failures ? " (base action taken): " : "", l->first_error);
	if (c->v.model != MODEL_DETECT && c->v.model != MODEL_REFIT)
		return;
	fprintf(stderr, "%s: %s: %ld windows watched, %ld alarms (the "
		"first at window %ld), %ld refits (%.1f ms each, max %.1f)\n",
		prog, c->v.name, c->windows, c->false_alarms + c->realarms,
		l->first_alarm, c->refits,
		c->refits ? 1e3 * c->refit_time_sum / (double)c->refits : 0.0,
		1e3 * c->refit_time_max);
}

void mr_adapt_live_free(mr_adapt_live *l)
{
	if (!l)
		return;
	ctl_free(&l->c);
	free(l);
}
