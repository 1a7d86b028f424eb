/* test_live.c - sim-env's live evaluation API (mr_simenv_live_*): the
 * trace columns a row needs, reading a measured state, and the
 * observation, mask, configuration and reward of measured rows equal to
 * the simulator's for the same state, for absolute and incremental
 * actions; [param]s from a schedule (the test episode's states), the
 * simulator's prediction and optimum in a live state, the load column of
 * a class stream; the refusals (a setting off the grid, a model that does
 * not open). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "simenv_impl.h"

static char tmpdir[] = "/tmp/meshrl-live-XXXXXX";

/* The analytic delay model of test_simenv.c: node 1 takes p% of the load
 * with capacity 3c req/s, node 2 the rest with capacity 6. The features
 * p1 = p and c1 = c make p1 and c1 the setting columns. */
#define TOY_MODEL                                                              \
	"[model]\nkind = analytic\ntargets = d1\n"                              \
	"[features]\nl = load1\np1 = p\nc1 = c\n"                               \
	"[targets]\n"                                                           \
	"d1 = p1/100 * (l*p1/100 < 3*c1 ? 1/(3*c1 - l*p1/100) : 20) + "         \
	"(1 - p1/100) * (l*(1-p1/100) < 6 ? 1/(6 - l*(1-p1/100)) : 20)\n"

static const char *abs_obj =
	"name = toy-delay\nservices = compute\nepisode_length = 10\n"
	"[load]\npattern = constant\nvalue = 8\n"
	"[action p]\nvalues = 0..100 step 20\n"
	"[action c]\nvalues = 1..5\n" TOY_MODEL
	"[reward]\nfamily = delay-bound-cost\ndelay1 = d1\ncost = c\n"
	"bound1 = 0.6\nbudget = 6\n";

static const char *inc_obj =
	"name = inc\nservices = compute\nactions = incremental\n"
	"episode_length = 30\n"
	"[load]\npattern = constant\nvalue = 8\n"
	"[action p]\nvalues = 0..100 step 20\nstart = 100\n"
	"[action c]\nvalues = 1..5\nstart = 5\n" TOY_MODEL
	"[reward]\nfamily = cost-incremental\ndelay1 = d1\ncost = c\n"
	"bound1 = 0.6\nvalue = 1 - c / 10\npenalty = -1\n";

static const char *param_obj =
	"name = par\nservices = compute\nepisode_length = 10\n"
	"[load]\npattern = constant\nvalue = 8\n"
	"[param B]\nlevels = 0.5, 0.6\n"
	"[action p]\nvalues = 0..100 step 20\n"
	"[action c]\nvalues = 1..5\n" TOY_MODEL
	"[reward]\nfamily = delay-bound-cost\ndelay1 = d1\ncost = c\n"
	"bound1 = B\nbudget = 6\n";

static mr_objective *load_obj(const char *name, const char *text)
{
	char path[300];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	mr_err e;
	mr_objective *o = mr_objective_load(path, &e);
	unlink(path);
	if (!o) {
		printf("not ok - load %s: %s\n", name, e.msg);
		exit(1);
	}
	return o;
}

static int same_info(const mr_step_info *a, const mr_step_info *b)
{
	return memcmp(a, b, sizeof *a) == 0;
}

/* The live API on objective text (timeout 20 s); NULL (a failed check)
 * when it does not open. */
static mr_simenv_live *open_live(const char *file, const char *text,
				 const char *what, mr_objective **o)
{
	mr_err e;
	*o = load_obj(file, text);
	mr_simenv_live *l = mr_simenv_live_open(*o, NULL, 20, &e);
	CHECK(l != NULL, "%s: opens (%s)", what, l ? "" : e.msg);
	return l;
}

static void test_absolute(void)
{
	mr_objective *o;
	mr_err e;
	mr_simenv_live *l = open_live("abs.obj", abs_obj, "absolute", &o);
	if (!l)
		return;
	const char *const *cols;
	int n = mr_simenv_live_columns(l, &cols);
	CHECK(n == 2 && !strcmp(cols[0], "max_l1") && !strcmp(cols[1], "d1"),
	      "absolute: a row is the load and the targets");
	CHECK(!strcmp(mr_simenv_live_column(l, 0), "p1") &&
		      !strcmp(mr_simenv_live_column(l, 1), "c1") &&
		      mr_simenv_live_setting(l, 0, 4) == 80 &&
		      mr_simenv_live_setting(l, 1, 0) == 1,
	      "absolute: settings go out as p1=80, c1=1 (the features' names)");
	const mr_action_space *as = mr_simenv_live_actions(l);
	CHECK(as->ncomp == 2 && as->nchoices[0] == 6 && as->nchoices[1] == 5 &&
		      as->cores == 1 && mr_simenv_live_obs_dim(l) == 1 &&
		      mr_simenv_live_nservices(l) == 1,
	      "absolute: the simulator's action space and observation size");

	double row[2] = {8, 0.3};
	mr_live_state st;
	CHECK(mr_simenv_live_read(l, row, &st, &e) == 0 && st.load[0] == 8,
	      "absolute: the state is the row's load");
	float obs[4];
	uint8_t mask[11];
	memset(mask, 0, sizeof mask);
	mr_simenv_live_observe(l, &st, obs, mask);
	int ones = 1;
	for (int i = 0; i < 11; i++)
		ones &= mask[i] == 1;
	CHECK(obs[0] == 8 && ones, "absolute: obs is the load, nothing masked");
	int32_t a[2] = {4, 3}, cfg[2];
	mr_simenv_live_config(l, &st, a, cfg);
	CHECK(cfg[0] == 4 && cfg[1] == 3, "absolute: the action is the setting");

	/* the reward: the simulator's code on the measured targets */
	mr_step_info info, want;
	double r = mr_simenv_live_outcome(l, row, cfg, &info);
	mr_simenv_opts so = {.nenvs = 1, .seed = 1, .eval = 1};
	mr_vecenv *v = mr_simenv_open(o, &so, &e);
	se_state s;
	memset(&s, 0, sizeof s);
	s.load[0] = 8;
	double t[1] = {0.3};
	double rs = se_outcome(se_sim_of(v), &s, cfg, t, &want);
	CHECK(r == 2 && r == rs && same_info(&info, &want) && info.bound_met,
	      "absolute: met bound, reward budget - cores = 2 as in the "
	      "simulator (%g, %g)", r, rs);
	row[1] = 0;
	r = mr_simenv_live_outcome(l, row, cfg, &info);
	CHECK(fabs(r - (0.6 - 20)) < 1e-12 && info.delay[0] == 20 &&
		      !info.bound_met,
	      "absolute: a window without a success counts the timeout (%g)",
	      r);
	v->close(v);
	free(v);
	mr_simenv_live_free(l);
	mr_objective_free(o);
}

/* The live observation and mask of the simulator's current state equal
 * the simulator's own. */
static int same_obs(const mr_simenv_live *l, const mr_vecenv *v)
{
	const se_sim *s = v->impl;
	const mr_objective *o = s->o;
	double row[4] = {s->st[0].load[0], 0,
			 o->act[0].values[s->st[0].cidx[0]],
			 o->act[1].values[s->st[0].cidx[1]]};
	mr_live_state st;
	mr_err e;
	if (mr_simenv_live_read(l, row, &st, &e) != 0)
		return 0;
	float obs[8];
	uint8_t mask[6];
	mr_simenv_live_observe(l, &st, obs, mask);
	return !memcmp(obs, v->obs, (size_t)v->obs_dim * sizeof *obs) &&
	       !memcmp(mask, v->masks, (size_t)v->total_choices);
}

static void test_incremental(void)
{
	mr_objective *o = load_obj("inc.obj", inc_obj);
	mr_err e;
	mr_simenv_live *l = mr_simenv_live_open(o, NULL, 20, &e);
	CHECK(l != NULL, "incremental: opens (%s)", l ? "" : e.msg);
	if (!l)
		return;
	const char *const *cols;
	int n = mr_simenv_live_columns(l, &cols);
	CHECK(n == 4 && !strcmp(cols[2], "p1") && !strcmp(cols[3], "c1"),
	      "incremental: a row also holds the settings (p1, c1)");
	mr_live_state st;
	double row[4] = {8, 0.3, 60, 3};
	CHECK(mr_simenv_live_read(l, row, &st, &e) == 0 && st.cfg[0] == 3 &&
		      st.cfg[1] == 2,
	      "incremental: the running configuration from the settings");
	row[2] = 50;
	CHECK(mr_simenv_live_read(l, row, &st, &e) != 0 &&
		      e.code == MR_EXIT_DATA &&
		      strstr(e.msg, "column 'p1': 50 is not a value of action 'p'"),
	      "incremental: a setting off the grid is refused (%s)", e.msg);

	/* the simulator walked by moves: live sees what it sees */
	mr_simenv_opts so = {.nenvs = 1, .seed = 1, .eval = 1};
	mr_vecenv *v = mr_simenv_open(o, &so, &e);
	v->reset(v, 1, &e);
	CHECK(same_obs(l, v), "incremental: at the start, the simulator's "
			      "obs and mask (up masked)");
	int32_t moves[][2] = {{MR_MOVE_DOWN, MR_MOVE_DOWN},
			      {MR_MOVE_DOWN, MR_MOVE_STAY},
			      {MR_MOVE_UP, MR_MOVE_DOWN},
			      {MR_MOVE_STAY, MR_MOVE_DOWN}};
	int ok = 1;
	for (int k = 0; k < 4; k++) {
		se_sim *s = se_sim_of(v);
		se_state before = s->st[0];
		double brow[4] = {before.load[0], 0,
				  o->act[0].values[before.cidx[0]],
				  o->act[1].values[before.cidx[1]]};
		int32_t cfg[2];
		mr_simenv_live_read(l, brow, &st, &e);
		mr_simenv_live_config(l, &st, moves[k], cfg);
		/* the row measuring it: the targets the simulator uses */
		double y[1];
		const double *t = se_targets(s, &before, cfg, y);
		double orow[4] = {before.load[0], t[0],
				  o->act[0].values[cfg[0]],
				  o->act[1].values[cfg[1]]};
		mr_step_info info;
		double r = mr_simenv_live_outcome(l, orow, cfg, &info);
		memcpy(v->actions, moves[k], sizeof moves[k]);
		ok &= v->step(v, &e) == 0;
		ok &= (float)r == v->rewards[0] && same_info(&info, &v->info[0]);
		ok &= s->st[0].cidx[0] == cfg[0] && s->st[0].cidx[1] == cfg[1];
		ok &= same_obs(l, v);
	}
	CHECK(ok, "incremental: configurations, rewards, obs and masks of 4 "
		  "moves equal the simulator's");
	v->close(v);
	free(v);
	mr_simenv_live_free(l);
	mr_objective_free(o);
}

/* [param]s live: the schedule walks the test episode (the parameter drawn
 * every step), and the bound a row is judged by is its state's. */
static void test_params(void)
{
	mr_objective *o;
	mr_err e = {0};
	mr_simenv_live *l = open_live("par.obj", param_obj, "[param]", &o);
	if (!l)
		return;
	CHECK(mr_simenv_live_nparams(l) == 1 &&
		      !strcmp(mr_simenv_live_param_name(l, 0), "B") &&
		      mr_simenv_live_param_value(l, 0, 1) == 0.6,
	      "[param]: its name and levels");
	mr_live_state sch[10];
	int seen[2] = {0, 0};
	CHECK(mr_simenv_live_schedule(l, 1, 10, sch, &e) == 0, "[param]: a "
	      "schedule of 10 periods (%s)", e.msg);
	for (int t = 0; t < 10; t++)
		if (sch[t].param[0] == 0 || sch[t].param[0] == 1)
			seen[sch[t].param[0]] = 1;
	CHECK(seen[0] && seen[1] && sch[3].load[0] == 8,
	      "[param]: the schedule draws both bounds, at the pattern's load");
	double row[2] = {8, 0.55};
	int32_t cfg[2] = {4, 3};
	mr_live_state at = sch[0];
	mr_step_info i0, i1;
	at.param[0] = 0;
	mr_simenv_live_outcome_at(l, row, &at, cfg, &i0);
	at.param[0] = 1;
	mr_simenv_live_outcome_at(l, row, &at, cfg, &i1);
	CHECK(!i0.bound_met && i1.bound_met,
	      "[param]: d1 = 0.55 s misses bound 0.5 and meets bound 0.6");
	mr_simenv_live_free(l);
	mr_objective_free(o);
}

/* The prediction is the model's reward at the state's load; the optimum
 * is the best predicted action; a class stream's load column is the
 * max_ feature that is its load. */
static void test_predict_optimal(void)
{
	mr_objective *o;
	mr_err e = {0};
	mr_simenv_live *l = open_live("abs.obj", abs_obj, "predict", &o);
	if (!l)
		return;
	mr_live_state st = {.load = {8}};
	int32_t best[2], a[2];
	mr_step_info info;
	CHECK(mr_simenv_live_optimal(l, &st, best, &e) == 0,
	      "optimal: an action in a live state (%s)", e.msg);
	double rbest = mr_simenv_live_predict(l, &st, best, &info), worst = 9;
	int beaten = 0;
	for (a[0] = 0; a[0] < 6; a[0]++)
		for (a[1] = 0; a[1] < 5; a[1]++) {
			double r = mr_simenv_live_predict(l, &st, a, &info);
			beaten |= r > rbest;
			worst = r < worst ? r : worst;
		}
	/* p = 0: all 8 req/s on node 2 (capacity 6): 20 s */
	a[0] = 0, a[1] = 0;
	mr_simenv_live_predict(l, &st, a, &info);
	CHECK(!beaten && rbest > worst && fabs(info.delay[0] - 20) < 1e-9,
	      "predict: the optimum's reward %.3f is the best of 30, the "
	      "model's delay at p = 0 is 20 s (%g)", rbest, info.delay[0]);
	mr_simenv_live_free(l);
	mr_objective_free(o);
	static const char *cls =
		"name = cls\nservices = premium, freemium\n"
		"episode_length = 4\n[load]\npattern = levels\n"
		"levels1 = 2, 4\nlevels2 = 2, 4\nhold = 1\n"
		"[action c]\nvalues = 1..3\n"
		"[model]\nkind = analytic\ntargets = d1p, d1f\n"
		"[features]\nmax_l1p = load1\nmax_l1f = load2\nc1 = c\n"
		"[targets]\nd1p = 0.1 * max_l1p / c1\n"
		"d1f = 0.1 * max_l1f / c1\n"
		"[reward]\nfamily = delay-bound-cost\ndelay1 = d1p\n"
		"delay2 = d1f\ncost = c\nbound1 = 0.6\nbound2 = 0.6\n"
		"budget = 6\n";
	l = open_live("cls.obj", cls, "classes", &o);
	if (!l)
		return;
	const char *const *cols;
	int n = mr_simenv_live_columns(l, &cols);
	CHECK(n >= 2 && !strcmp(cols[0], "max_l1p") &&
		      !strcmp(cols[1], "max_l1f"),
	      "classes: the loads are read from max_l1p, max_l1f");
	mr_simenv_live_free(l);
	mr_objective_free(o);
}

static void test_refusals(void)
{
	mr_err e = {0};
	mr_objective *o = load_obj("abs.obj", abs_obj);
	CHECK(mr_simenv_live_open(o, "/nonexistent.msgpack", 20, &e) == NULL &&
		      strstr(e.msg, "/nonexistent.msgpack"),
	      "a system model that does not open is refused (%s)", e.msg);
	mr_objective_free(o);
}

/* Lost requests live: the served share of a --ratio target is computed
 * from its two trace columns, and the reward judges the delay over every
 * offered request (the simulator's rule, on measured values). */
static const char *served_obj =
	"name = served\nservices = compute\nepisode_length = 10\n"
	"[load]\npattern = constant\nvalue = 8\n"
	"[action p]\nvalues = 0..100 step 20\n"
	"[action c]\nvalues = 1..5\n"
	"[model]\nkind = analytic\ntargets = d1, served1\n"
	"fit_args = --ratio served1=cl1/l1\n"
	"[features]\nl = load1\n[targets]\nd1 = 0.3\nserved1 = 1\n"
	"[reward]\nfamily = delay-bound-cost\ndelay1 = d1\ncost = c\n"
	"bound1 = 0.6\nbudget = 6\nserved1 = served1\ntimeout1 = 5\n"
	"min_served = 0.9\n";

static void test_served(void)
{
	mr_objective *o;
	mr_simenv_live *l = open_live("served.obj", served_obj, "served", &o);
	if (!l)
		return;
	const char *const *cols;
	int n = mr_simenv_live_columns(l, &cols);
	CHECK(n == 4 && !strcmp(cols[1], "d1") && !strcmp(cols[2], "cl1") &&
		      !strcmp(cols[3], "l1"),
	      "served: a ratio target reads its two columns (cl1, l1)");
	int32_t cfg[2] = {4, 0};
	mr_step_info info;
	double lossy[4] = {8, 0.3, 30, 40}, whole[4] = {8, 0.3, 40, 40};
	double r = mr_simenv_live_outcome(l, lossy, cfg, &info);
	CHECK(fabs(info.delay[0] - (0.75 * 0.3 + 0.25 * 5)) < 1e-12 &&
		      fabs(info.carried - 6) < 1e-12 && !info.bound_met &&
		      fabs(r - (0.6 - 1.475)) < 1e-12,
	      "served: 30 of 40 answered: judged delay 1.475 s, carried 6, "
	      "missed (got %g, %g, %d, r %g)", info.delay[0], info.carried,
	      info.bound_met, r);
	CHECK(fabs(info.dropped - 0.25) < 1e-12 && info.served_short,
	      "served: 30 of 40: 25 %% dropped, below min_served (got %g, %d)",
	      info.dropped, info.served_short);
	r = mr_simenv_live_outcome(l, whole, cfg, &info);
	CHECK(fabs(info.delay[0] - 0.3) < 1e-12 && info.bound_met && r == 5 &&
		      info.dropped == 0 && !info.served_short,
	      "served: all answered: the measured delay, met, 6 - c");
	double silent[4] = {8, 0, 0, 40}; /* d1 0: no request answered */
	r = mr_simenv_live_outcome(l, silent, cfg, &info);
	CHECK(info.delay[0] == 5 && !info.bound_met && info.dropped == 1 &&
		      info.served_short && r < 0,
	      "served: none of 40 answered: the timeout (5 s), missed, all "
	      "dropped (got %g, %d, %g, r %g)", info.delay[0],
	      info.bound_met, info.dropped, r);
	double none[4] = {8, 0, 0, 0};
	r = mr_simenv_live_outcome(l, none, cfg, &info);
	CHECK(fabs(info.carried - 8) < 1e-12,
	      "served: nothing offered: none lost (served 1, carried %g)",
	      info.carried);
	mr_simenv_live_free(l);
	mr_objective_free(o);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_absolute();
	test_incremental();
	test_params();
	test_predict_optimal();
	test_refusals();
	test_served();
	rmdir(tmpdir);
	return CHECK_DONE();
}
