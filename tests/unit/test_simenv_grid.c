/* test_simenv_grid.c - the exact table over continuous loads (loadgrid.c)
 * against live forest prediction: mr_forest_thresholds, every step of a
 * sin-modulated load (with noise, random actions) equal to the live path
 * bit for bit, random loads in and out of the tabulated range (and every
 * breakpoint and the double before it) equal to mr_forest_predict, a
 * decreasing feature and one that mixes load and action, the fallbacks
 * (non-monotone feature, analytic model), loads outside the range
 * predicted live in the middle of a batch, and a feature in other units
 * than the trace's reported. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "forest.h"
#include "simenv_impl.h"

static char tmpdir[] = "/tmp/meshrl-simgrid-XXXXXX";

static const char *tmp_path(const char *name)
{
	static char p[4][300];
	static int k;
	char *s = p[k++ % 4];
	snprintf(s, 300, "%s/%s", tmpdir, name);
	return s;
}

static mr_objective *load_obj(const char *name, const char *text)
{
	const char *path = tmp_path(name);
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	mr_err e;
	mr_objective *o = mr_objective_load(path, &e);
	if (!o) {
		printf("not ok - load %s: %s\n", name, e.msg);
		exit(1);
	}
	return o;
}

/* A forest over (max_l1, l1, cl1, p1, b1, c1) from loads spread over
 * 2..14 req/s, so every load feature has many thresholds. */
static mr_forest *fit_forest(void)
{
	size_t n = 3000;
	double *X = calloc(n * 6, sizeof *X), *Y = calloc(n, sizeof *Y);
	mr_rng r;
	mr_rng_seed(&r, 42, 0);
	for (size_t i = 0; i < n; i++) {
		double l = 2 + 12 * mr_rng_uniform(&r);
		double p = 20.0 * (double)mr_rng_below(&r, 6);
		double c = 1 + (double)mr_rng_below(&r, 5);
		double *x = X + i * 6;
		x[0] = round(l);
		x[1] = round(5 * l + 2 * mr_rng_normal(&r));
		x[2] = 60 - x[1] * 0.5; /* decreasing in the load */
		x[3] = p;
		x[4] = round(4 * l * (1 + 0.2 * (double)mr_rng_below(&r, 2))) / 4;
		x[5] = c;
		double s = p / 100, q1 = l * s, q2 = l * (1 - s);
		Y[i] = s * (q1 < 3 * c ? 1 / (3 * c - q1) : 20) +
		       (1 - s) * (q2 < 6 ? 1 / (6 - q2) : 20) +
		       0.05 * mr_rng_normal(&r);
	}
	const char *fn[] = {"max_l1", "l1", "cl1", "p1", "b1", "c1"};
	const char *tn[] = {"d1"};
	mr_forest_params fp;
	mr_forest_params_default(&fp);
	fp.ntrees = 30;
	fp.seed = 9;
	mr_err e;
	mr_forest *f = mr_forest_fit(X, Y, n, 6, 1, fn, tn, &fp, NULL, &e);
	if (!f || mr_forest_save(f, tmp_path("g.msgpack"), &e) != 0) {
		printf("not ok - fit: %s\n", e.msg);
		exit(1);
	}
	free(X);
	free(Y);
	return f;
}

static void test_thresholds(const mr_forest *f)
{
	size_t n = mr_forest_thresholds(f, 1, NULL, 0);
	double *t = calloc(n, sizeof *t);
	size_t n2 = mr_forest_thresholds(f, 1, t, n);
	int sorted = n == n2 && n > 20;
	for (size_t k = 1; k < n; k++)
		sorted &= t[k - 1] < t[k];
	CHECK(sorted, "feature l1: %zu thresholds, strictly ascending", n);
	/* between two adjacent thresholds the prediction does not move */
	int same = 1;
	for (size_t k = 0; k + 1 < n; k++) {
		double x[6] = {8, t[k], 40, 40, 8, 2}, y1, y2;
		x[1] = nextafter(t[k], INFINITY);
		mr_forest_predict(f, x, &y1);
		x[1] = t[k + 1];
		mr_forest_predict(f, x, &y2);
		same &= y1 == y2;
	}
	CHECK(same, "prediction constant on (thr[k], thr[k+1]] for l1");
	double one;
	CHECK(mr_forest_thresholds(f, 0, &one, 1) >= 1 && one > 2 && one < 14,
	      "cap 1 gives the smallest max_l1 threshold (%g)", one);
	free(t);
}

#define OBJ_HEAD                                                               \
	"name = g\nservices = compute\n"                                       \
	"[load]\npattern = sin\nmean = 8\namplitude = 5\nperiod = 37\n"        \
	"noise = 0.7\n"                                                        \
	"[action p]\nvalues = 0..100 step 20\n[action c]\nvalues = 1..5\n"     \
	"[model]\nfile = g.msgpack\ntargets = d1\n"
#define OBJ_REWARD                                                             \
	"[reward]\nfamily = delay-bound-cost\ndelay1 = d1\ncost = c\n"         \
	"bound1 = 0.6\nbudget = 6\n"

static mr_vecenv *open_sim(const mr_objective *o, int nenvs, int live,
			   const char *pattern)
{
	mr_simenv_opts opts = {.nenvs = nenvs, .seed = 5, .live = live,
			       .load_pattern = pattern};
	mr_err e;
	mr_vecenv *v = mr_simenv_open(o, &opts, &e);
	if (!v) {
		printf("not ok - open: %s\n", e.msg);
		exit(1);
	}
	return v;
}

static void close_sim(mr_vecenv *v)
{
	v->close(v);
	free(v);
}

/* Steps a table env and a live env with the same random actions; 1 when
 * every reward, delay and range count agrees exactly. */
static int same_as_live(mr_vecenv *a, mr_vecenv *b, int steps)
{
	mr_err e;
	mr_rng r;
	mr_rng_seed(&r, 3, 0);
	int ok = a->reset(a, 5, &e) == 0 && b->reset(b, 5, &e) == 0;
	for (int t = 0; t < steps && ok; t++) {
		for (int i = 0; i < a->nenvs * a->ncomp; i++)
			a->actions[i] = b->actions[i] = (int32_t)mr_rng_below(
				&r, (uint64_t)a->nchoices[i % a->ncomp]);
		ok &= a->step(a, &e) == 0 && b->step(b, &e) == 0;
		for (int i = 0; i < a->nenvs; i++)
			ok &= a->rewards[i] == b->rewards[i] &&
			      a->info[i].delay[0] == b->info[i].delay[0] &&
			      a->obs[i] == b->obs[i];
	}
	se_sim *x = se_sim_of(a), *y = se_sim_of(b);
	ok &= x->queries == y->queries && x->outside == y->outside;
	for (int i = 0; i < x->model.nfeat; i++)
		ok &= x->below[i] == y->below[i] && x->above[i] == y->above[i];
	return ok;
}

static void test_table_equals_live(const mr_forest *f)
{
	mr_objective *o = load_obj("g.obj", OBJ_HEAD
		"[features]\nmax_l1 = load1\nl1 = load1 * 5\ncl1 = 60 - load1 * 2.5\n"
		"p1 = p\nb1 = load1 * (c > 2 ? 1.2 : 1)\nc1 = c\n" OBJ_REWARD);
	mr_vecenv *a = open_sim(o, 16, 0, NULL), *b = open_sim(o, 16, 1, NULL);
	se_sim *s = se_sim_of(a);
	CHECK(s->interval_load && s->tabulated && s->nlev[0] > 200 &&
		      strstr(s->lookup, "exact table"),
	      "sin load with noise: exact table (%s)", s->lookup);
	CHECK(!se_sim_of(b)->tabulated && strstr(se_sim_of(b)->lookup, "live"),
	      "live option: no table (%s)", se_sim_of(b)->lookup);
	CHECK(same_as_live(a, b, 300),
	      "300 steps x 16 envs: rewards, delays and range counts equal live prediction");
	CHECK(se_sim_of(a)->outside > 0,
	      "loads beyond the training range were counted per step (%llu)",
	      (unsigned long long)se_sim_of(a)->outside);

	/* random loads, every breakpoint and the double before it, against
	 * the forest itself */
	mr_rng r;
	mr_rng_seed(&r, 11, 0);
	int ok = 1, inside = 0, outside = 0;
	int nb = s->nbrk[0];
	for (int k = 0; k < 40000 + 2 * nb; k++) {
		se_state st;
		memset(&st, 0, sizeof st);
		if (k < 2 * nb)
			st.load[0] = k % 2 ? nextafter(s->brk[0][k / 2], -INFINITY)
					   : s->brk[0][k / 2];
		else
			st.load[0] = s->lo[0] - 2 +
				     (s->hi[0] - s->lo[0] + 4) * mr_rng_uniform(&r);
		st.lidx[0] = se_interval_of(s, 0, st.load[0]);
		if (st.lidx[0] < 0)
			outside++;
		else
			inside++;
		int32_t cfg[2] = {(int32_t)mr_rng_below(&r, 6),
				  (int32_t)mr_rng_below(&r, 5)};
		double l = st.load[0], p = 20.0 * cfg[0], c = 1 + cfg[1];
		double x[6] = {l, l * 5, 60 - l * 2.5, p, l * (c > 2 ? 1.2 : 1), c};
		double want, got[1];
		mr_forest_predict(f, x, &want);
		ok &= *se_targets(s, &st, cfg, got) == want;
	}
	CHECK(ok && inside > 30000 && outside > 1000,
	      "%d loads in the table and %d outside it (live) equal mr_forest_predict",
	      inside, outside);

	/* loads outside [lo, hi] in the middle of a batch go live */
	close_sim(a);
	close_sim(b);
	a = open_sim(o, 16, 0, NULL);
	b = open_sim(o, 16, 1, NULL);
	se_sim_of(a)->hi[0] = 8; /* loads above 8 now miss the table */
	CHECK(same_as_live(a, b, 200) && se_sim_of(a)->live_queries > 200,
	      "mixed batch (%llu live queries): still equal to live prediction",
	      (unsigned long long)se_sim_of(a)->live_queries);
	close_sim(a);
	close_sim(b);
	mr_objective_free(o);
}

static void test_fallbacks(void)
{
	/* not monotone in the load: live, and still right */
	mr_objective *o = load_obj("g2.obj", OBJ_HEAD
		"[features]\nmax_l1 = load1\nl1 = (load1 - 8) ^ 2 + 20\ncl1 = 40\n"
		"p1 = p\nb1 = load1\nc1 = c\n" OBJ_REWARD);
	mr_vecenv *a = open_sim(o, 8, 0, NULL), *b = open_sim(o, 8, 1, NULL);
	CHECK(!se_sim_of(a)->tabulated &&
		      strstr(se_sim_of(a)->lookup, "l1 is not monotone in load1"),
	      "non-monotone feature: live prediction (%s)", se_sim_of(a)->lookup);
	CHECK(same_as_live(a, b, 50), "and it equals the live path");
	close_sim(a);
	close_sim(b);
	mr_objective_free(o);

	/* a discrete load override still uses the grid table */
	o = load_obj("g3.obj", OBJ_HEAD
		"[features]\nmax_l1 = load1\nl1 = load1 * 5\ncl1 = 40\n"
		"p1 = p\nb1 = load1\nc1 = c\n" OBJ_REWARD);
	a = open_sim(o, 8, 0, "levels:4,8,12");
	CHECK(se_sim_of(a)->tabulated && !se_sim_of(a)->interval_load &&
		      strstr(se_sim_of(a)->lookup, "table over the grid, 90 rows"),
	      "levels pattern: grid table (%s)", se_sim_of(a)->lookup);
	close_sim(a);
	/* no noise: the range is exactly mean +- amplitude */
	a = open_sim(o, 8, 0, "sin:mean=8;amplitude=3;period=20");
	se_sim *s = se_sim_of(a);
	CHECK(s->interval_load && s->lo[0] == 5 && s->hi[0] == 11 &&
		      s->brk[0][0] > 5 && s->brk[0][s->nbrk[0] - 1] <= 11,
	      "sin without noise: breakpoints within [5, 11] (%d intervals)",
	      s->nlev[0]);
	close_sim(a);
	mr_objective_free(o);

	/* an interval table too large to be worth it: live */
	o = load_obj("g6.obj",
		     "name = g\nservices = compute\n"
		     "[load]\npattern = sin\nmean = 8\namplitude = 5\nperiod = 37\n"
		     "[action p]\nvalues = 0..100 step 0.5\n[action c]\nvalues = 1..5\n"
		     "[model]\nfile = g.msgpack\ntargets = d1\n"
		     "[features]\nmax_l1 = load1\nl1 = load1 * 5\ncl1 = 60 - load1 * 2.5\n"
		     "p1 = p\nb1 = load1\nc1 = c\n" OBJ_REWARD);
	a = open_sim(o, 2, 0, NULL);
	CHECK(!se_sim_of(a)->tabulated && !se_sim_of(a)->interval_load &&
		      strstr(se_sim_of(a)->lookup, "would exceed 262144 rows"),
	      "1005 configurations x the load intervals: live (%s)",
	      se_sim_of(a)->lookup);
	close_sim(a);
	mr_objective_free(o);

	/* a fraction where the trace has % is flagged, not silently used */
	o = load_obj("g5.obj", OBJ_HEAD
		"[features]\nmax_l1 = load1\nl1 = load1 * 5\ncl1 = 40\n"
		"p1 = p / 100\nb1 = load1\nc1 = c\n" OBJ_REWARD);
	a = open_sim(o, 2, 0, "levels:4,8,12");
	char rep[2048];
	se_range_report(se_sim_of(a), rep, sizeof rep);
	CHECK(strstr(rep, "feature p1: the objective's values span 0..1, under 5% of the model's training range 0..100") &&
		      !strstr(rep, "feature c1"),
	      "units mismatch reported: %s", rep);
	close_sim(a);
	mr_objective_free(o);

	/* an analytic model has no split points */
	o = load_obj("g4.obj",
		     "name = a\nservices = s\n[load]\npattern = sin\nmean = 8\n"
		     "amplitude = 4\nperiod = 10\n[action c]\nvalues = 1..5\n"
		     "[model]\nkind = analytic\ntargets = d\n[features]\nf = load1 / c\n"
		     "[targets]\nd = f / 10\n" "[reward]\nfamily = delay-bound-cost\n"
		     "delay1 = d\ncost = c\nbound1 = 0.6\nbudget = 6\n");
	a = open_sim(o, 4, 0, NULL);
	CHECK(!se_sim_of(a)->tabulated &&
		      strstr(se_sim_of(a)->lookup, "does not expose"),
	      "analytic model with a sin load: live (%s)", se_sim_of(a)->lookup);
	close_sim(a);
	mr_objective_free(o);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	mr_forest *f = fit_forest();
	test_thresholds(f);
	test_table_equals_live(f);
	test_fallbacks();
	mr_forest_free(f);
	static const char *files[] = {"g.msgpack", "g.obj", "g2.obj", "g3.obj",
				      "g4.obj", "g5.obj", "g6.obj", NULL};
	for (int i = 0; files[i]; i++)
		unlink(tmp_path(files[i]));
	rmdir(tmpdir);
	return CHECK_DONE();
}
