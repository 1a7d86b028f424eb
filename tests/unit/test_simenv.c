/* test_simenv.c - objectives and the simulator: grid and expression
 * parsing, objective errors with file:line, the published delay reward on
 * an analytic model checked against a hand computation, episodes and
 * auto-reset, determinism, bad and masked actions leaving state untouched,
 * value iteration on an incremental objective, tabulated forest predictions
 * equal to direct predictions, extrapolation counts, feature-name checks,
 * no allocation in step, and the protocol (in process and over a pipe). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "forest.h"
#include "simenv_impl.h"

/* ------------------------------------------------------------------------
 * Allocation counting (not under ASan, which owns malloc)
 */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__has_feature)
#define COUNT_ALLOCS 1
#elif defined(__has_feature)
#if !__has_feature(address_sanitizer)
#define COUNT_ALLOCS 1
#endif
#endif
#ifdef COUNT_ALLOCS
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static long nallocs;
void *malloc(size_t n) { nallocs++; return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { nallocs++; return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { nallocs++; return __libc_realloc(p, n); }
#endif

static char tmpdir[] = "/tmp/meshrl-simenv-XXXXXX";

static const char *write_tmp(const char *name, const char *text)
{
	static char path[4][256];
	static int k;
	char *p = path[k++ % 4];
	snprintf(p, 256, "%s/%s", tmpdir, name);
	FILE *f = fopen(p, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(p);
		exit(1);
	}
	return p;
}

/* The analytic delay model the tests use, in C and in objective syntax:
 * node 1 takes p% of the load with capacity 3c req/s, node 2 the rest with
 * capacity 6; an overloaded node answers in 20 s. */
static double toy_queue(double lam, double mu)
{
	return lam < mu ? 1 / (mu - lam) : 20;
}

static double toy_delay(double l, double p, double c)
{
	double s = p / 100;
	return s * toy_queue(l * s, 3 * c) + (1 - s) * toy_queue(l * (1 - s), 6);
}

#define TOY_MODEL                                                              \
	"[model]\nkind = analytic\ntargets = d1\n"                              \
	"[features]\nl = load1\np1 = p\nc1 = c\n"                               \
	"[targets]\n"                                                           \
	"d1 = p1/100 * (l*p1/100 < 3*c1 ? 1/(3*c1 - l*p1/100) : 20) + "         \
	"(1 - p1/100) * (l*(1-p1/100) < 6 ? 1/(6 - l*(1-p1/100)) : 20)\n"

static const char *toy_delay_obj =
	"# the delay objective on an analytic model\n"
	"name = toy-delay\nservices = compute\n"
	"[load]\npattern = sequence\nfile = toy.load\n"
	"[action p]\nvalues = 0..100 step 20\n"
	"[action c]\nvalues = 1..5\n" TOY_MODEL
	"[reward]\nfamily = delay-bound-cost\ndelay1 = d1\ncost = c\n"
	"bound1 = 0.6\nbudget = 6\n[ppo]\nlr = 1e-4\ngamma = 0\n";

static void test_grid_and_expr(void)
{
	double *v;
	int n;
	mr_err e;
	CHECK(se_parse_grid("0..100 step 20", &v, &n, &e) == 0 && n == 6 &&
		      v[0] == 0 && v[5] == 100,
	      "grid 0..100 step 20 has 6 values");
	free(v);
	CHECK(se_parse_grid("0..0.8 step 0.2", &v, &n, &e) == 0 && n == 5 &&
		      v[3] == 0.6 && v[4] == 0.8,
	      "grid 0..0.8 step 0.2 gives exactly 0.6 and 0.8");
	free(v);
	CHECK(se_parse_grid("1..3, 7", &v, &n, &e) == 0 && n == 4 && v[3] == 7,
	      "grid mixes ranges and values");
	free(v);
	CHECK(se_parse_grid("3, 1", &v, &n, &e) != 0 &&
		      strstr(e.msg, "strictly increasing"),
	      "grid refuses decreasing values");
	CHECK(se_parse_grid("0..1 step 0.3", &v, &n, &e) != 0,
	      "grid refuses a range that is not whole steps");

	/* expressions through a tiny objective */
	const char *txt =
		"name = x\nservices = s\nepisode_length = 10\n"
		"[load]\npattern = constant\nvalue = 8\n"
		"[action c]\nvalues = 1..5\n[const]\nw = 5\nw2 = w * 2\n"
		"[model]\nkind = analytic\ntargets = d\n[features]\nf = load1\n"
		"[targets]\nd = f\n[vars]\n"
		"a = -2 ^ 2 + 10 / 4 * 2\nb = c > 2 && load1 >= 8 ? w2 : -1\n"
		"m = min(3, c, 0.5) + max(1, clamp(load1, 0, 5)) + logistic(0)\n"
		"[reward]\nfamily = delay-bound-cost\ndelay1 = d\nbound1 = 1\n"
		"budget = 0\n";
	mr_objective *o = se_objective_parse(txt, strlen(txt), "x.obj", ".", &e);
	CHECK(o != NULL, "expression objective parses (%s)", o ? "" : e.msg);
	if (!o)
		return;
	double vars[SE_MAX_VARS] = {0};
	int sa = -1, sb = -1, sm = -1, sc = -1, sl = o->load_slot[0];
	for (int i = 0; i < o->nvars; i++) {
		if (!strcmp(o->var_name[i], "a")) sa = i;
		if (!strcmp(o->var_name[i], "b")) sb = i;
		if (!strcmp(o->var_name[i], "m")) sm = i;
		if (!strcmp(o->var_name[i], "c")) sc = i;
	}
	vars[sc] = 3;
	vars[sl] = 8;
	CHECK(se_eval(&o->derived[0], vars) == 1, "-2^2 + 10/4*2 = 1 (unary minus binds the power)");
	CHECK(se_eval(&o->derived[1], vars) == 10, "ternary with && and a folded constant");
	vars[sc] = 1;
	CHECK(se_eval(&o->derived[1], vars) == -1, "ternary false branch");
	CHECK(fabs(se_eval(&o->derived[2], vars) - 6) < 1e-15, "min/max/clamp/logistic");
	CHECK(o->derived[0].n == 1, "constant expression folded to one instruction");
	(void)sa; (void)sb; (void)sm;
	mr_objective_free(o);
}

/* The expression reader's limits and non-finite constants. */
static int never(void *ctx, const char *name, double *k)
{
	(void)ctx;
	(void)name;
	(void)k;
	return -1;
}

static int one_var(void *ctx, const char *name, double *k)
{
	(void)ctx;
	(void)k;
	return strcmp(name, "p") == 0 ? 0 : -1;
}

/* d times open, "1", d times close: compiled, 0 when it compiles. */
static int nested(char *t, const char *open, const char *close, int d,
		  mr_err *e)
{
	size_t lo = strlen(open), lc = strlen(close), n = 0;
	for (int k = 0; k < d; k++, n += lo)
		memcpy(t + n, open, lo);
	t[n++] = '1';
	for (int k = 0; k < d; k++, n += lc)
		memcpy(t + n, close, lc);
	t[n] = 0;
	se_expr x;
	int rc = se_compile(t, one_var, NULL, &x, e);
	if (rc == 0)
		se_expr_free(&x);
	return rc;
}

static void test_expr_limits(void)
{
	size_t big = 200000;
	char *t = malloc(8 * big + 8); /* up to 7 characters a level */
	if (!t)
		abort();
	se_expr x;
	mr_err e = {0};
	/* each way the grammar recurses: fine just below the limit, refused
	 * just past it, and far past it without a stack overflow */
	static const struct { const char *open, *close; } way[] = {
		{"(", ")"}, {"-", ""}, {"!", ""}, {"+", ""}, {"abs(", ")"},
	};
	for (size_t w = 0; w < sizeof way / sizeof *way; w++) {
		int below = nested(t, way[w].open, way[w].close, SE_MAX_NEST - 1, &e);
		int past = nested(t, way[w].open, way[w].close, SE_MAX_NEST, &e);
		CHECK(below == 0 && past != 0 && strstr(e.msg, "nested too deeply"),
		      "'%s' nested %d deep compiles, %d deep is refused (%s)",
		      way[w].open, SE_MAX_NEST - 1, SE_MAX_NEST, e.msg);
		CHECK(nested(t, way[w].open, way[w].close, (int)big, &e) != 0 &&
			      strstr(e.msg, "more than 100 levels"),
		      "'%s' nested %zu deep is refused (%s)", way[w].open, big,
		      e.msg);
	}
	/* these hold a value per level: the evaluation stack's limit */
	static const struct { const char *open, *close; } held[] = {
		{"p^", ""}, {"p>1?", ":0"}, {"(1+", ")"}, {"min(1,", ")"},
	};
	for (size_t w = 0; w < sizeof held / sizeof *held; w++)
		CHECK(nested(t, held[w].open, held[w].close, (int)big, &e) != 0 &&
			      strstr(e.msg, "nested"),
		      "'%s' nested %zu deep is refused (%s)", held[w].open, big,
		      e.msg);
	/* size: 4096 operations */
	size_t n = 0;
	for (int k = 0; k < 2100; k++, n += 4)
		memcpy(t + n, "p + ", 4);
	strcpy(t + n, "p");
	CHECK(se_compile(t, one_var, NULL, &x, &e) != 0 &&
		      strstr(e.msg, "too long"),
	      "4201 operations refused (%s)", e.msg);
	free(t);
	/* constants that are not finite numbers; a guard is fine */
	static const char *inf[] = {"1/0", "log(0)", "sqrt(-1)", "exp(1000)",
				    "-1/0 + 0", NULL};
	for (int i = 0; inf[i]; i++)
		CHECK(se_compile(inf[i], never, NULL, &x, &e) != 0 &&
			      strstr(e.msg, "not a finite number"),
		      "'%s' refused (%s)", inf[i], e.msg);
	double k = -1;
	CHECK(se_compile("0 > 0 ? 1/0 : 2", never, NULL, &x, &e) == 0 &&
		      se_eval(&x, NULL) == 2,
	      "a guarded division by zero is a number");
	se_expr_free(&x);
	CHECK(se_compile("2 * 3 + 1", never, NULL, &x, &e) == 0 &&
		      se_is_const(&x, &k) && k == 7,
	      "constants still fold");
	se_expr_free(&x);
}

/* Values handed to pipelines, names, repeated keys, episode length. */
static void test_objective_safety(void)
{
	static const char *head =
		"name = a\nservices = s\nepisode_length = 4\n[load]\npattern = constant\n"
		"value = 1\n[action p]\nvalues = 1\n[model]\nkind = analytic\n"
		"targets = d\n%s\n[features]\nf = load1\n[targets]\nd = f\n"
		"[reward]\nfamily = delay-bound-cost\ndelay1 = d\nbound1 = 1\n"
		"budget = 1\n%s\n";
	static const struct { const char *model, *tail, *want; } v[] = {
		{"fit_args = --trees 5", "[eval]\nunseen = sin:mean=1;amplitude=1;period=4", NULL},
		{"fit_args = --trees 5 $(touch x)", "", "x.obj:12: [model] fit_args: '$'"},
		{"fit_args = --trees 5;touch x", "", "x.obj:12: [model] fit_args: ';'"},
		{"trace = a b.csv", "", "x.obj:12: [model] trace: 0x20"},
		{"trace = `x`.csv", "", "x.obj:12: [model] trace: '`'"},
		{"#", "[eval]\nunseen = sin:mean=1'", "x.obj:23: [eval] unseen: '''"},
		{"#", "[ppo]\nlr = \"1\"", "x.obj:23: [ppo] lr: '\"'"},
		{"#", "[pipeline]\ntrace_absent = see (README)", "x.obj:23: [pipeline] trace_absent: '('"},
	};
	char t[2048];
	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		snprintf(t, sizeof t, head, v[i].model, v[i].tail);
		mr_err e = {0};
		mr_objective *o = se_objective_parse(t, strlen(t), "x.obj", tmpdir, &e);
		int rc = o ? se_objective_check_values(o, &e) : -2;
		CHECK(v[i].want ? rc == -1 && strstr(e.msg, v[i].want) : rc == 0,
		      "value check %zu: %s (%s)", i, v[i].want ? v[i].want : "passes",
		      rc ? e.msg : "ok");
		mr_objective_free(o);
	}
	static const struct { const char *text, *want; } bad[] = {
		{"name = a-$(x)\n", "x.obj:1: bad name"},
		{"name = -a\n", "x.obj:1: bad name"},
		{"name = a\nservices = s;t\n", "x.obj:2: bad service name 's;t'"},
		{"name = a\nservices = s\n[ppo]\nk = 1\nj = 2\n[eval]\nk = 1\n[ppo]\nj = 3\nk = 4\n",
		 "x.obj:9: 'j' is set twice in this section (first at line 5)"},
		{"name = a\nservices = s\n[load]\npattern = constant\nvalue = 1\n"
		 "[action p]\nvalues = 1\n[model]\nkind = analytic\ntargets = d\n"
		 "[features]\nf = load1\n[targets]\nd = f\n[reward]\nfamily = delay-bound-cost\n"
		 "delay1 = d\nbound1 = 1\nbudget = 1\n",
		 "x.obj:3: this load pattern has no length of its own"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		mr_err e = {0};
		mr_objective *o = se_objective_parse(bad[i].text, strlen(bad[i].text),
						     "x.obj", tmpdir, &e);
		CHECK(!o && strstr(e.msg, bad[i].want), "bad objective: '%s' (got '%s')",
		      bad[i].want, e.msg);
		mr_objective_free(o);
	}
}

static void test_objective_errors(void)
{
	static const struct { const char *text, *want; } bad[] = {
		{"name = a\nservices = s\nfoo = 1\n", "x.obj:3: unknown key 'foo'"},
		{"name = a\nservices = s\n[actoin p]\n", "x.obj:3: unknown section"},
		{"name = a\nservices = s\n[action p]\nvalues = 1, x\n", "x.obj:4: 'values'"},
		{"name = a\nservices = s\n[load]\npattern = levels\nlevels = 4\n"
		 "[action p]\nvalues = 1\n[model]\nkind = analytic\ntargets = d\n"
		 "[features]\nf = load1 * q\n", "x.obj:12: 'f': unknown name"},
		{"name = a\nservices = s\nservices = t\n", "x.obj:3: 'services' is set twice"},
		{"name = a\nservices = s\n[action p]\nvalues = 1\n[param p]\nlevels = 1\n",
		 "'p' is already defined as a parameter (line 5)"},
		{"name = a\nservices = s\nthis line has no equals\n", "x.obj:3: expected 'key = value'"},
		{"name = a\nservices = s\n[load]\npattern = levels\nlevels = 4\n"
		 "[action p]\nvalues = 1\n[model]\nkind = analytic\ntargets = d\n"
		 "[features]\nf = (load1\n", "x.obj:12: 'f': expected ')'"},
		{"name = a\nservices = s\n[load]\npattern = levels\nlevels = 4\n"
		 "[action p]\nvalues = 1\n[model]\nkind = analytic\ntargets = d\n"
		 "[features]\nf = load1\n[targets]\nd = f\n[reward]\nfamily = delay-bound-cost\n"
		 "delay1 = d\nbound1 = 1\n", "x.obj:16: reward family delay-bound-cost needs 'budget'"},
		{"name = a\nservices = s\n[load]\npattern = sequence\nfile = nope.load\n"
		 "[action p]\nvalues = 1\n[model]\nkind = analytic\ntargets = d\n"
		 "[features]\nf = load1\n[targets]\nd = f\n[reward]\nfamily = delay-bound-cost\n"
		 "delay1 = d\nbound1 = 1\nbudget = 1\n", "x.obj:5: load sequence: "},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		mr_err e = {0};
		mr_objective *o = se_objective_parse(bad[i].text, strlen(bad[i].text),
						     "x.obj", tmpdir, &e);
		CHECK(!o && strstr(e.msg, bad[i].want) &&
			      e.code == (i == 9 ? MR_EXIT_IO : MR_EXIT_DATA),
		      "bad objective %zu: '%s' (got '%s')", i, bad[i].want, e.msg);
		mr_objective_free(o);
	}
	/* a load file error names its own file and line */
	write_tmp("bad.load", "4\n8\nx\n");
	char t[2048];
	snprintf(t, sizeof t, "%s", toy_delay_obj);
	memcpy(strstr(t, "toy.load"), "bad.load", 8);
	mr_err e = {0};
	mr_objective *o = se_objective_parse(t, strlen(t), "x.obj", tmpdir, &e);
	CHECK(!o && strstr(e.msg, "bad.load:3:"), "load file error has file:line (%s)", e.msg);
}

static mr_objective *load_obj(const char *name, const char *text)
{
	mr_err e;
	mr_objective *o = mr_objective_load(write_tmp(name, text), &e);
	if (!o) {
		printf("not ok - load %s: %s\n", name, e.msg);
		exit(1);
	}
	return o;
}

static void test_delay_reward(void)
{
	write_tmp("toy.load", "4\n8\n12\n8\n");
	mr_objective *o = load_obj("toy.obj", toy_delay_obj);
	mr_err e;
	CHECK(strcmp(mr_objective_param(o, "ppo", "lr"), "1e-4") == 0 &&
		      mr_objective_param(o, "ppo", "nope") == NULL,
	      "mr_objective_param reads the [ppo] section");
	CHECK(mr_simenv_episode_length(o) == 4, "episode length = sequence length");
	mr_simenv_opts opts = {.nenvs = 3, .seed = 7, .eval = 1};
	mr_vecenv *v = mr_simenv_open(o, &opts, &e);
	CHECK(v && v->obs_dim == 1 && v->ncomp == 2 && v->nchoices[0] == 6 &&
		      v->nchoices[1] == 5 && v->total_choices == 11,
	      "delay vecenv shape: obs 1, actions 6 x 5");
	CHECK(se_sim_of(v)->tabulated, "discrete loads and actions: tabulated");
	CHECK(v->reset(v, 7, &e) == 0 && v->obs[0] == 4 && v->obs[1] == 4,
	      "eval episode starts at the sequence start");
	static const double loads[4] = {4, 8, 12, 8};
	int ok = 1, done_ok = 1;
	for (int t = 0; t < 8; t++) {
		for (int i = 0; i < 3; i++) {
			v->actions[i * 2] = (t + i) % 6;
			v->actions[i * 2 + 1] = (t * 3 + i) % 5;
		}
		if (v->step(v, &e) != 0) {
			ok = 0;
			break;
		}
		for (int i = 0; i < 3; i++) {
			double p = 20.0 * ((t + i) % 6), c = 1 + (t * 3 + i) % 5;
			double d = toy_delay(loads[t % 4], p, c);
			double r = d <= 0.6 ? 6 - c : 0.6 - d;
			ok &= fabs(v->rewards[i] - r) < 1e-5 &&
			      fabs(v->info[i].delay[0] - d) < 1e-12 &&
			      v->info[i].cost == c && v->info[i].bound_met == (d <= 0.6) &&
			      v->info[i].offered == loads[t % 4];
			done_ok &= v->dones[i] == (t % 4 == 3) &&
				   v->obs[i] == loads[(t + 1) % 4];
		}
	}
	CHECK(ok, "reward = 6 - c if d <= 0.6 else 0.6 - d, exactly, for 24 steps");
	CHECK(done_ok, "done at the end of the sequence; obs is the next episode's first");

	/* a bad action is refused and changes nothing */
	float obs0 = v->obs[0];
	int32_t t0 = se_sim_of(v)->st[0].t;
	v->actions[0] = 6;
	CHECK(v->step(v, &e) != 0 && strstr(e.msg, "choice 6 is outside 0..5") &&
		      v->obs[0] == obs0 && se_sim_of(v)->st[0].t == t0,
	      "out-of-range action: clear error, state untouched (%s)", e.msg);
	v->actions[0] = 0;
	v->actions[5] = -1;
	CHECK(v->step(v, &e) != 0 && strstr(e.msg, "env 2"), "negative action names its env");

#ifdef COUNT_ALLOCS
	v->actions[5] = 0;
	long before = nallocs;
	for (int t = 0; t < 1000; t++)
		v->step(v, &e);
	CHECK(nallocs == before, "no allocation in 1000 steps (%ld)", nallocs - before);
#else
	printf("ok - no-allocation check skipped under ASan\n");
#endif
	v->close(v);
	free(v);

	/* the optimum: exhaustive, checked against the C formula */
	double mean;
	CHECK(mr_simenv_optimal_mean(o, &opts, &mean, &e) == 0, "optimal mean");
	double want = 0;
	for (int t = 0; t < 4; t++) {
		double best = -1e9;
		for (int p = 0; p <= 100; p += 20)
			for (int c = 1; c <= 5; c++) {
				double d = toy_delay(loads[t], p, c);
				double r = d <= 0.6 ? 6 - c : 0.6 - d;
				if (r > best)
					best = r;
			}
		want += best / 4;
	}
	CHECK(fabs(mean - want) < 1e-5, "optimal mean %.6f = brute force %.6f", mean, want);

	/* determinism in training mode */
	mr_simenv_opts tr = {.nenvs = 4, .seed = 11};
	mr_vecenv *a = mr_simenv_open(o, &tr, &e), *b = mr_simenv_open(o, &tr, &e);
	a->reset(a, 11, &e);
	b->reset(b, 11, &e);
	int same = 1;
	for (int t = 0; t < 50; t++) {
		for (int i = 0; i < 8; i++)
			a->actions[i] = b->actions[i] = (t * 7 + i) % 5;
		a->step(a, &e);
		b->step(b, &e);
		same &= memcmp(a->obs, b->obs, 4 * sizeof(float)) == 0 &&
			memcmp(a->rewards, b->rewards, 4 * sizeof(float)) == 0;
	}
	CHECK(same, "same seed, same trajectory");
	a->close(a); free(a);
	b->close(b); free(b);
	mr_objective_free(o);
}

/* train_from_start: that share of training episodes starts at the actions'
 * evaluation start, the rest anywhere; refused without incremental
 * actions or outside 0..1 */
static int starts_at_start(const char *share, int nenvs)
{
	char txt[1024];
	snprintf(txt, sizeof txt,
		 "name = inc\nservices = compute\nactions = incremental\n"
		 "episode_length = 30\ntrain_from_start = %s\n"
		 "[load]\npattern = constant\nvalue = 8\n"
		 "[action p]\nvalues = 0..100 step 20\nstart = 100\n"
		 "[action c]\nvalues = 1..5\nstart = 5\n" TOY_MODEL
		 "[reward]\nfamily = cost-incremental\ndelay1 = d1\ncost = c\n"
		 "bound1 = 0.6\nvalue = 1 - c / 10\npenalty = -1\n",
		 share);
	mr_objective *o = load_obj("fromstart.obj", txt);
	mr_err e;
	mr_simenv_opts opts = {.nenvs = nenvs, .seed = 5};
	mr_vecenv *v = mr_simenv_open(o, &opts, &e);
	int n = 0;
	if (v && v->reset(v, 5, &e) == 0)
		for (int i = 0; i < nenvs; i++)
			n += v->obs[(size_t)i * 3 + 1] == 100 &&
			     v->obs[(size_t)i * 3 + 2] == 5;
	if (v) {
		v->close(v);
		free(v);
	}
	mr_objective_free(o);
	return n;
}

static void test_train_from_start(void)
{
	int all = starts_at_start("1", 200), some = starts_at_start("0.5", 200),
	    none = starts_at_start("0", 200);
	CHECK(all == 200, "train_from_start = 1: every training episode at the start (%d of 200)", all);
	/* at random, (100, 5) is one of 30 configurations: ~7 of 200 */
	CHECK(some >= 80 && some <= 130, "train_from_start = 0.5: about half plus chance (%d of 200)", some);
	CHECK(none <= 20, "train_from_start = 0: at random (%d of 200)", none);
	mr_err e;
	const char *bad[][2] = {
		{"fs1.obj", "name = a\nservices = compute\ntrain_from_start = 1.5\n"},
		{"fs2.obj", "name = a\nservices = compute\ntrain_from_start = 0.5\n"
			    "[load]\npattern = constant\nvalue = 8\n"
			    "[action p]\nvalues = 0..100 step 20\n" TOY_MODEL
			    "[reward]\nfamily = delay-bound-cost\ndelay1 = d1\n"
			    "bound1 = 0.6\nbudget = 1\ncost = 0\n"},
	};
	const char *want[] = {"share in 0..1", "incremental actions only"};
	for (int i = 0; i < 2; i++) {
		mr_objective *o = mr_objective_load(write_tmp(bad[i][0], bad[i][1]), &e);
		CHECK(!o && strstr(e.msg, want[i]) && strstr(e.msg, ":3:"),
		      "train_from_start refused, file:line: %s", o ? "(loaded)" : e.msg);
		mr_objective_free(o);
	}
}

static void test_incremental(void)
{
	const char *txt =
		"name = inc\nservices = compute\nactions = incremental\nepisode_length = 30\n"
		"[load]\npattern = constant\nvalue = 8\n"
		"[action p]\nvalues = 0..100 step 20\nstart = 100\n"
		"[action c]\nvalues = 1..5\nstart = 5\n" TOY_MODEL
		"[reward]\nfamily = cost-incremental\ndelay1 = d1\ncost = c\n"
		"bound1 = 0.6\nvalue = 1 - c / 10\npenalty = -1\n[optimal]\ngamma = 0.9\n";
	mr_objective *o = load_obj("inc.obj", txt);
	mr_err e;
	mr_simenv_opts opts = {.nenvs = 1, .seed = 3, .eval = 1};
	mr_vecenv *v = mr_simenv_open(o, &opts, &e);
	CHECK(v && v->obs_dim == 3 && v->nchoices[0] == 3 && v->nchoices[1] == 3,
	      "incremental: obs = load + configuration, 3 moves per component");
	v->reset(v, 3, &e);
	CHECK(v->obs[1] == 100 && v->obs[2] == 5, "eval start from 'start'");
	CHECK(v->masks[0] && v->masks[1] && !v->masks[2] && v->masks[3] &&
		      v->masks[4] && !v->masks[5],
	      "masks: up is masked at the top of both components");
	v->actions[0] = MR_MOVE_UP;
	v->actions[1] = MR_MOVE_STAY;
	CHECK(v->step(v, &e) != 0 && strstr(e.msg, "masked"), "masked action refused: %s", e.msg);
	v->actions[0] = MR_MOVE_DOWN;
	v->actions[1] = MR_MOVE_DOWN;
	CHECK(v->step(v, &e) == 0 && v->obs[1] == 80 && v->obs[2] == 4,
	      "down/down moves the configuration one step each");

	/* value iteration: from every state the policy reaches the best
	 * configuration, whose value is Rbest / (1 - gamma) */
	se_sim *s = se_sim_of(v);
	se_optimum opt;
	CHECK(se_optimum_solve(s, &opt, &e) == 0 && opt.nstates == 30,
	      "value iteration over 30 states");
	double rbest = -1e9;
	int bp = 0, bc = 0;
	for (int p = 0; p < 6; p++)
		for (int c = 1; c <= 5; c++) {
			double d = toy_delay(8, 20.0 * p, c);
			double r = d <= 0.6 ? 1 - c / 10.0 : -1;
			if (r > rbest + 1e-12) {
				rbest = r;
				bp = p;
				bc = c;
			}
		}
	size_t bi = (size_t)bp * 5 + (size_t)(bc - 1);
	CHECK(fabs(opt.value[bi] - rbest / (1 - 0.9)) < 1e-6,
	      "V(best) = R*/(1-gamma) = %.6f (got %.6f)", rbest / 0.1, opt.value[bi]);
	/* several configurations may share the best reward: the policy must
	 * reach one of them */
	double R[6][5];
	for (int p = 0; p < 6; p++)
		for (int c = 0; c < 5; c++) {
			double d = toy_delay(8, 20.0 * p, c + 1);
			R[p][c] = d <= 0.6 ? 1 - (c + 1) / 10.0 : -1;
		}
	/* an independent Bellman recursion in this test, 600 sweeps */
	double W[6][5] = {{0}}, W2[6][5];
	for (int it = 0; it < 600; it++) {
		for (int p = 0; p < 6; p++)
			for (int c = 0; c < 5; c++) {
				double best = -1e300;
				for (int dp = -1; dp <= 1; dp++)
					for (int dc = -1; dc <= 1; dc++) {
						int q = p + dp, r = c + dc;
						if (q < 0 || q > 5 || r < 0 || r > 4)
							continue;
						double x = R[q][r] + 0.9 * W[q][r];
						if (x > best)
							best = x;
					}
				W2[p][c] = best;
			}
		memcpy(W, W2, sizeof W);
	}
	int vok = 1, reach = 1;
	for (size_t si = 0; si < 30; si++) {
		int p = (int)(si / 5), c = (int)(si % 5), k;
		vok &= fabs(opt.value[si] - W[p][c]) < 1e-6;
		for (k = 0; k < 12 && R[p][c] != rbest; k++) {
			const int32_t *a = opt.best + (size_t)(p * 5 + c) * 2;
			p += mr_move_delta(a[0]);
			c += mr_move_delta(a[1]);
		}
		reach &= R[p][c] == rbest;
	}
	CHECK(vok, "value iteration values = an independent Bellman recursion");
	CHECK(reach, "the policy walks every state to a best configuration");
	se_optimum_free(&opt);
	v->close(v);
	free(v);

	/* the action space as values: the moves as the steps they make */
	mr_action_space as;
	CHECK(mr_objective_action_space(o, &as, &e) == 0 && as.incremental &&
		      as.nchoices[0] == MR_NMOVES &&
		      as.values[0][MR_MOVE_STAY] == 0 &&
		      as.values[0][MR_MOVE_DOWN] == -1 &&
		      as.values[1][MR_MOVE_UP] == 1 && as.cores == 1,
	      "incremental action space: stay 0, down -1, up +1; c sets cores");
	mr_objective_free(o);
}

/* describe --get SECTION.KEY through se_objective_get. */
static void test_objective_get(void)
{
	const char *txt =
		"name = g\nservices = s, t\nactions = incremental\nepisode_length = 10\n"
		"[load]\npattern = constant\nvalue = 8\n"
		"[param B]\nlevels = 0.5, 1\n"
		"[action p]\nvalues = 0..100 step 20\nstart = 100\n"
		"[action c]\nvalues = 1..5\n"
		"[const]\nk = 3\n" TOY_MODEL
		"[vars]\nh = 2 * k\nd2 = d1 * k\n"
		"[reward]\nfamily = cost-incremental\ndelay1 = d2\ndelay2 = d2\n"
		"cost = c\nbound1 = k / 5\nbound2 = B\nvalue = 1 - c / 10\n"
		"penalty = -1\n"
		"[eval]\nunseen = sin:mean=8;amplitude=4;period=60\n";
	mr_err e;
	mr_objective *o = se_objective_parse(txt, strlen(txt), "g.obj", ".", &e);
	CHECK(o != NULL, "--get objective parses (%s)", o ? "" : e.msg);
	if (!o)
		return;
	static const struct { const char *sec, *key, *want; } get[] = {
		{"eval", "unseen", "sin:mean=8;amplitude=4;period=60"},
		{"reward", "bound1", "0.6"},   /* folded: k / 5 */
		{"reward", "bound2", ""},      /* a parameter: no number */
		{"reward", "value", ""},
		{"reward", "penalty", "-1"},
		{"reward", "family", "cost-incremental"},
		{"vars", "h", "6"},
		{"vars", "d2", ""},
		{"const", "k", "3"},
		{"features", "p1", ""},
		{"action p", "start", "100"},
		{"param B", "levels", "0.5, 1"},
		{"", "actions", "incremental"},
		{"eval", "noop", NULL},
		{"ppo", "lr", NULL},
		{"reward", "scale", NULL},
		{"action zz", "values", NULL},
	};
	for (size_t i = 0; i < sizeof get / sizeof get[0]; i++) {
		char num[32];
		const char *v = "unset";
		int rc = se_objective_get(o, get[i].sec, get[i].key, num, &v);
		CHECK(rc == 0 && (get[i].want ? v && !strcmp(v, get[i].want) : !v),
		      "--get %s.%s = '%s' (got '%s')", get[i].sec, get[i].key,
		      get[i].want ? get[i].want : "(absent)", v ? v : "(absent)");
	}
	static const char *bad_sec[] = {"evl", "action", "load x", "param",
					"reward r"};
	for (size_t i = 0; i < sizeof bad_sec / sizeof bad_sec[0]; i++) {
		char num[32];
		const char *v;
		CHECK(se_objective_get(o, bad_sec[i], "k", num, &v) == -1,
		      "--get: '[%s]' is not a section", bad_sec[i]);
	}
	mr_objective_free(o);
}

/* Load pattern overrides (policy-eval --pattern, sim-env --load). */
static void test_pattern_spec(void)
{
	se_pattern p;
	mr_err e;
	memset(&p, 0, sizeof p);
	CHECK(se_pattern_from_spec("levels:4,8,12", 1, &p, &e) == 0 &&
		      p.kind == SE_PAT_LEVELS && p.nlevels[0] == 3 &&
		      p.levels[0][2] == 12 && p.hold == 1,
	      "levels:4,8,12");
	se_pattern_free(&p);
	CHECK(se_pattern_from_spec("constant:8", 2, &p, &e) == 0 &&
		      p.nlevels[0] == 1 && p.nlevels[1] == 1 &&
		      p.levels[1][0] == 8 && !strcmp(p.desc, "constant"),
	      "constant:8 holds for every service");
	se_pattern_free(&p);
	CHECK(se_pattern_from_spec("levels:levels=5,10;levels2=1,2,3;hold=5", 2,
				   &p, &e) == 0 &&
		      p.nlevels[0] == 2 && p.nlevels[1] == 3 && p.hold == 5,
	      "levels with per-service keys and hold (%s)", e.msg);
	se_pattern_free(&p);
	CHECK(se_pattern_from_spec("sin:mean=8;amplitude=4;period=240;mean2=3",
				   2, &p, &e) == 0 &&
		      p.kind == SE_PAT_SIN && p.length == 240 && p.phase == -1 &&
		      p.mean[0] == 8 && p.mean[1] == 3 && p.amp[1] == 4,
	      "sin: mean2 for service 2, the rest for both");
	se_pattern_free(&p);
	static const struct { const char *spec, *want; int code; } bad[] = {
		{"sin:mean=8;amplitude=4", "needs 'period' (or 'period1')", MR_EXIT_DATA},
		{"sin:mean=8;x", "expected KIND:key=value", MR_EXIT_USAGE},
		{"sin:mean=8;amplitude=4;period=0", "period must be > 0", MR_EXIT_DATA},
		{"sin:mean=8;amplitude=4;period=9;phase=-1", "'phase' is 'random'", MR_EXIT_DATA},
		{"levels:levels3=1", "unknown [load] key 'levels3'", MR_EXIT_DATA},
		{"levels:4,-8", "strictly increasing", MR_EXIT_DATA},
		{"levels:-8", "a load must be >= 0", MR_EXIT_DATA},
		{"constant:value=1,2", "one value per service", MR_EXIT_DATA},
		{"levels:hold=0;levels=1", "'hold' must be a number >= 1", MR_EXIT_DATA},
		{"/nonexistent/seq.load", "load sequence", MR_EXIT_IO},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		mr_err e2 = {0};
		CHECK(se_pattern_from_spec(bad[i].spec, 2, &p, &e2) != 0 &&
			      strstr(e2.msg, bad[i].want) && e2.code == bad[i].code,
		      "bad pattern '%s': '%s' (got '%s')", bad[i].spec, bad[i].want,
		      e2.msg);
		se_pattern_free(&p);
	}
	/* a sequence file: levels are its distinct values per service */
	const char *seq = write_tmp("two.load", "4, 1\n8 2 # c\n\n4,3\n");
	CHECK(se_pattern_from_spec(seq, 2, &p, &e) == 0 && p.nsteps == 3 &&
		      p.nlevels[0] == 2 && p.nlevels[1] == 3 &&
		      p.seq[2 * 2 + 0] == 0 && p.seq[2 * 2 + 1] == 2,
	      "sequence file: 3 steps, levels per service (%s)", e.msg);
	se_pattern_free(&p);
	write_tmp("two.load", "4, 1\n8\n");
	CHECK(se_pattern_from_spec(seq, 2, &p, &e) != 0 &&
		      strstr(e.msg, "two.load:2: 1 load value(s), expected 2"),
	      "sequence file: a short line is file:line (%s)", e.msg);
	se_pattern_free(&p);
}

/* A synthetic trace through the forest API: d1 grows with load/c. */
static void test_forest_model(void)
{
	size_t n = 0, cap = 4000;
	double *X = calloc(cap * 6, sizeof *X), *Y = calloc(cap, sizeof *Y);
	for (int l = 4; l <= 12; l += 4)
		for (int p = 0; p <= 100; p += 20)
			for (int c = 1; c <= 5; c++)
				for (int k = 0; k < 5; k++) {
					double *x = X + n * 6;
					x[0] = l; x[1] = l * 5; x[2] = l * 5;
					x[3] = p; x[4] = l; x[5] = c;
					Y[n++] = toy_delay(l, p, c) * (1 + 0.01 * k);
				}
	const char *fn[] = {"max_l1", "l1", "cl1", "p1", "b1", "c1"};
	const char *tn[] = {"d1"};
	mr_forest_params fp;
	mr_forest_params_default(&fp);
	fp.ntrees = 20;
	fp.seed = 5;
	mr_err e;
	mr_forest *f = mr_forest_fit(X, Y, n, 6, 1, fn, tn, &fp, NULL, &e);
	CHECK(f && mr_forest_save(f, write_tmp("m.msgpack", ""), &e) == 0, "synthetic forest saved");
	const char *obj =
		"name = fd\nservices = compute\nepisode_length = 10\n"
		"[load]\npattern = levels\nlevels = 4, 8, 12, 16\n"
		"[action p]\nvalues = 0..100 step 20\n[action c]\nvalues = 1..5\n"
		"[model]\nfile = m.msgpack\ntargets = d1\n"
		"[features]\nmax_l1 = load1\nl1 = load1 * 5\ncl1 = load1 * 5\np1 = p\nb1 = load1\nc1 = c\n"
		"[reward]\nfamily = delay-bound-cost\ndelay1 = d1\ncost = c\nbound1 = 0.6\nbudget = 6\n";
	mr_objective *o = load_obj("fd.obj", obj);
	mr_simenv_opts opts = {.nenvs = 16, .seed = 2};
	mr_vecenv *v = mr_simenv_open(o, &opts, &e);
	CHECK(v != NULL, "forest objective opens (%s)", v ? "" : e.msg);
	if (!v)
		return;
	se_sim *s = se_sim_of(v);
	/* 16 is outside the trained loads: 30 of 120 grid points */
	char rep[2048];
	se_range_report(s, rep, sizeof rep);
	CHECK(s->outside == 30 && s->queries == 120 && strstr(rep, "max_l1 above 12 (30)"),
	      "extrapolation counted at tabulation: %s", rep);
	v->reset(v, 2, &e);
	int ok = 1;
	for (int t = 0; t < 40; t++) {
		double xs[16][6];
		for (int i = 0; i < 16; i++) {
			v->actions[i * 2] = (t + i) % 6;
			v->actions[i * 2 + 1] = (t + 2 * i) % 5;
			double l = v->obs[i];
			double x[6] = {l, l * 5, l * 5, 20.0 * ((t + i) % 6), l, 1 + (t + 2 * i) % 5};
			memcpy(xs[i], x, sizeof x);
		}
		v->step(v, &e);
		for (int i = 0; i < 16; i++) {
			double y;
			mr_forest_predict(f, xs[i], &y);
			ok &= v->info[i].delay[0] == y;
		}
	}
	CHECK(ok, "tabulated delays equal mr_forest_predict on the same rows");
	v->close(v);
	free(v);

	/* the same objective with a sin load: an exact table over load
	 * intervals, and live prediction when asked (both checked against
	 * the forest; test_simenv_grid.c goes further) */
	opts.load_pattern = "sin:mean=8;amplitude=4;period=24";
	for (int live = 0; live <= 1; live++) {
		opts.live = live;
		v = mr_simenv_open(o, &opts, &e);
		CHECK(v && se_sim_of(v)->tabulated == !live &&
			      se_sim_of(v)->interval_load == !live,
		      "sin load: %s", live ? "live prediction" : "interval table");
		v->reset(v, 2, &e);
		ok = 1;
		for (int t = 0; t < 30; t++) {
			double xs[16][6];
			for (int i = 0; i < 16; i++) {
				v->actions[i * 2] = 1;
				v->actions[i * 2 + 1] = 2;
				double l = se_sim_of(v)->st[i].load[0];
				double x[6] = {l, l * 5, l * 5, 20, l, 3};
				memcpy(xs[i], x, sizeof x);
				ok &= l >= 4 - 1e-9 && l <= 12 + 1e-9;
			}
			v->step(v, &e);
			for (int i = 0; i < 16; i++) {
				double y;
				mr_forest_predict(f, xs[i], &y);
				ok &= v->info[i].delay[0] == y;
			}
		}
		CHECK(ok, "%s delays equal mr_forest_predict; sin load within mean +- amplitude",
		      live ? "live" : "interval table");
		v->close(v);
		free(v);
	}
	opts.live = 0;
	mr_objective_free(o);

	/* a model whose features do not match */
	const char *obj2 =
		"name = fd2\nservices = compute\nepisode_length = 10\n"
		"[load]\npattern = levels\nlevels = 4\n[action c]\nvalues = 1..5\n"
		"[model]\nfile = m.msgpack\ntargets = d1\n"
		"[features]\nmax_l1 = load1\nl1 = load1 * 5\ncl1 = load1 * 5\np = 0\nb1 = load1\nc1 = c\n"
		"[reward]\nfamily = delay-bound-cost\ndelay1 = d1\ncost = c\nbound1 = 0.6\nbudget = 6\n";
	o = load_obj("fd2.obj", obj2);
	opts.load_pattern = NULL;
	v = mr_simenv_open(o, &opts, &e);
	CHECK(!v && e.code == MR_EXIT_DATA && strstr(e.msg, "model has no feature 'p'"),
	      "feature name mismatch refused: %s", e.msg);
	mr_objective_free(o);
	mr_forest_free(f);
	free(X);
	free(Y);
}

/* The protocol handler in process: good and bad requests. */
static int reply_ok(msgpack_sbuffer *out, char *err, size_t n)
{
	mr_mp_doc d;
	mr_err e;
	if (mr_mp_parse(out->data, out->size, "reply", &d, &e) != 0)
		return -1;
	const msgpack_object *ok = mr_mp_get(d.root, "ok");
	int r = ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean;
	err[0] = 0;
	if (!r)
		mr_mp_str(d.root, "error", "reply", err, n, &e);
	mr_mp_doc_free(&d);
	return r;
}

static void test_protocol(void)
{
	mr_objective *o = load_obj("toy.obj", toy_delay_obj);
	se_server *s = se_server_new(o, NULL, NULL);
	msgpack_sbuffer out, req;
	msgpack_sbuffer_init(&out);
	msgpack_sbuffer_init(&req);
	char err[1024];
	msgpack_packer pk;
#define REQ(...)                                                          \
	do {                                                              \
		msgpack_sbuffer_clear(&req);                              \
		msgpack_sbuffer_clear(&out);                              \
		msgpack_packer_init(&pk, &req, msgpack_sbuffer_write);    \
		__VA_ARGS__;                                              \
		se_server_handle(s, req.data, req.size, &out);            \
	} while (0)
	REQ(msgpack_pack_map(&pk, 2); mr_pk_kv_str(&pk, "cmd", "step");
	    mr_pk_str(&pk, "actions"); msgpack_pack_array(&pk, 0));
	CHECK(reply_ok(&out, err, sizeof err) == 0 && strstr(err, "before reset"),
	      "step before reset: error reply (%s)", err);
	msgpack_sbuffer_clear(&out);
	se_server_handle(s, "\x93\x01", 2, &out);
	CHECK(reply_ok(&out, err, sizeof err) == 0 && strstr(err, "not valid msgpack"),
	      "truncated msgpack: error reply (%s)", err);
	REQ(msgpack_pack_array(&pk, 1); msgpack_pack_int(&pk, 1));
	CHECK(reply_ok(&out, err, sizeof err) == 0 && strstr(err, "expected a map"),
	      "not a map: error reply");
	REQ(msgpack_pack_map(&pk, 3); mr_pk_kv_str(&pk, "cmd", "reset");
	    mr_pk_kv_i64(&pk, "seed", 1); mr_pk_kv_i64(&pk, "n", 2));
	CHECK(reply_ok(&out, err, sizeof err) == 1, "reset n=2");
	REQ(msgpack_pack_map(&pk, 2); mr_pk_kv_str(&pk, "cmd", "step");
	    mr_pk_str(&pk, "actions"); msgpack_pack_array(&pk, 2);
	    msgpack_pack_array(&pk, 2); msgpack_pack_int(&pk, 1); msgpack_pack_int(&pk, 1);
	    msgpack_pack_array(&pk, 1); msgpack_pack_int(&pk, 1));
	CHECK(reply_ok(&out, err, sizeof err) == 0 && strstr(err, "actions[1] must be an array of 2"),
	      "wrong action shape: error reply (%s)", err);
	REQ(msgpack_pack_map(&pk, 2); mr_pk_kv_str(&pk, "cmd", "step");
	    mr_pk_str(&pk, "actions"); msgpack_pack_array(&pk, 2);
	    msgpack_pack_array(&pk, 2); msgpack_pack_int(&pk, 1); msgpack_pack_int(&pk, 9);
	    msgpack_pack_array(&pk, 2); msgpack_pack_int(&pk, 1); msgpack_pack_int(&pk, 1));
	CHECK(reply_ok(&out, err, sizeof err) == 0 && strstr(err, "choice 9 is outside 0..4"),
	      "out-of-range action: error reply (%s)", err);
	REQ(msgpack_pack_map(&pk, 2); mr_pk_kv_str(&pk, "cmd", "step");
	    mr_pk_str(&pk, "actions"); msgpack_pack_array(&pk, 2);
	    msgpack_pack_array(&pk, 2); msgpack_pack_int(&pk, 1); msgpack_pack_int(&pk, 2);
	    msgpack_pack_array(&pk, 2); msgpack_pack_int(&pk, 1); msgpack_pack_int(&pk, 1));
	CHECK(reply_ok(&out, err, sizeof err) == 1, "valid step after errors");
	REQ(msgpack_pack_map(&pk, 1); mr_pk_kv_str(&pk, "cmd", "fly"));
	CHECK(reply_ok(&out, err, sizeof err) == 0 && strstr(err, "unknown cmd 'fly'"), "unknown cmd");
	REQ(msgpack_pack_map(&pk, 1); mr_pk_kv_str(&pk, "cmd", "close"));
	CHECK(reply_ok(&out, err, sizeof err) == 1, "close");
	se_server_free(s);
	msgpack_sbuffer_destroy(&out);
	msgpack_sbuffer_destroy(&req);

	/* over a pipe: the same trajectory as in process */
	const char *bin = getenv("MESHRL_BIN");
	if (!bin) {
		printf("ok - pipe test skipped (MESHRL_BIN unset)\n");
		mr_objective_free(o);
		return;
	}
	char exe[512];
	snprintf(exe, sizeof exe, "%s/sim-env", bin);
	char objpath[256];
	snprintf(objpath, sizeof objpath, "%s/toy.obj", tmpdir);
	char *argv[] = {exe, "serve", objpath, NULL};
	mr_err e;
	mr_vecenv *p = mr_pipeenv_open(argv, 5, 9, &e);
	CHECK(p != NULL, "pipeenv opens 'sim-env serve' (%s)", p ? "" : e.msg);
	if (!p) {
		mr_objective_free(o);
		return;
	}
	mr_simenv_opts opts = {.nenvs = 5, .seed = 9};
	mr_vecenv *v = mr_simenv_open(o, &opts, &e);
	v->reset(v, 9, &e);
	int same = p->obs_dim == v->obs_dim && p->total_choices == v->total_choices &&
		   memcmp(p->obs, v->obs, 5 * sizeof(float)) == 0;
	for (int t = 0; t < 20 && same; t++) {
		for (int i = 0; i < 10; i++)
			p->actions[i] = v->actions[i] = (t + i) % 5;
		same &= p->step(p, &e) == 0 && v->step(v, &e) == 0;
		same &= memcmp(p->obs, v->obs, 5 * sizeof(float)) == 0 &&
			memcmp(p->rewards, v->rewards, 5 * sizeof(float)) == 0 &&
			memcmp(p->dones, v->dones, 5) == 0 &&
			memcmp(p->masks, v->masks, 55) == 0;
		for (int i = 0; i < 5; i++)
			same &= p->info[i].delay[0] == v->info[i].delay[0] &&
				p->info[i].cost == v->info[i].cost &&
				p->info[i].bound_met == v->info[i].bound_met;
	}
	CHECK(same, "pipe and in-process simulators agree for 20 steps x 5 envs");
	p->actions[0] = 17;
	CHECK(p->step(p, &e) != 0 && e.code == MR_EXIT_REMOTE && strstr(e.msg, "choice 17"),
	      "pipe: a bad action comes back as the simulator's error (%s)", e.msg);
	p->actions[0] = 0;
	CHECK(p->step(p, &e) == 0, "pipe: the session goes on after an error reply");
	p->close(p);
	free(p);
	v->close(v);
	free(v);
	char *bad[] = {"/nonexistent/simulator", NULL};
	p = mr_pipeenv_open(bad, 1, 1, &e);
	CHECK(!p && e.code == MR_EXIT_REMOTE, "pipe: a simulator that cannot start is an error (%s)",
	      e.msg);
	mr_objective_free(o);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The evaluation protocol's episode sets: their seeds are disjoint (and
 * differ from ppo-train's training environments'); only training replays a
 * sequence file, a set's episode is a draw of its Markov chain (the file's
 * levels and cyclic transitions), its seed's alone in every environment. */
static void test_episode_sets(void)
{
	enum { RUNS = 3, PER = 200, NSEEDS = RUNS * (2 * PER + 8) };
	uint64_t seeds[NSEEDS];
	int n = 0;
	for (uint64_t r = 1; r <= RUNS; r++) {
		for (int k = 0; k < PER; k++) {
			seeds[n++] = mr_simenv_episode_seed(r, MR_EPISODES_VALIDATION, k);
			seeds[n++] = mr_simenv_episode_seed(r, MR_EPISODES_TEST, k);
		}
		for (int g = 0; g < 8; g++) {
			mr_rng q;
			mr_rng_seed(&q, r, MR_STREAM_PPO_OPEN_BASE + (uint64_t)g);
			seeds[n++] = mr_rng_u64(&q) >> 1;
		}
	}
	qsort(seeds, (size_t)n, sizeof *seeds, cmp_u64);
	int distinct = 1;
	for (int i = 1; i < n; i++)
		distinct &= seeds[i] != seeds[i - 1];
	CHECK(distinct && seeds[n - 1] < (UINT64_C(1) << 63),
	      "episode seeds: %d validation, test and training seeds of 3 runs, all distinct, below 2^63",
	      n);

	/* cyclic transitions of 4 4 8 12 12 8: 4->4, 4->8, 8->12, 12->12,
	 * 12->8, 8->4; never 4->12 or 12->4 */
	write_tmp("toy.load", "4\n4\n8\n12\n12\n8\n");
	mr_objective *o = load_obj("toy.obj", toy_delay_obj);
	mr_err e;
	static const double file[6] = {4, 4, 8, 12, 12, 8};
	mr_simenv_opts tr = {.nenvs = 1, .seed = 5, .eval = 1};
	mr_vecenv *v = mr_simenv_open(o, &tr, &e);
	int replay = v != NULL && v->reset(v, 5, &e) == 0;
	for (int t = 0; replay && t < 6; t++) {
		replay &= v->obs[0] == file[t];
		v->actions[0] = v->actions[1] = 0;
		replay &= v->step(v, &e) == 0;
	}
	CHECK(replay, "training set, eval: the file's sequence from its start");
	if (v) {
		v->close(v);
		free(v);
	}
	double ep[2][20][6];
	int same_envs = 1, allowed = 1, other = 0, sets_differ = 0;
	for (int set = 0; set < 2; set++) {
		int which = set ? MR_EPISODES_TEST : MR_EPISODES_VALIDATION;
		mr_simenv_opts so = {.nenvs = 2, .seed = 5, .episodes = which};
		v = mr_simenv_open(o, &so, &e);
		CHECK(v != NULL, "open with an episode set: %s", v ? "" : e.msg);
		if (!v)
			break;
		for (int k = 0; k < 20; k++) {
			v->reset(v, mr_simenv_episode_seed(5, which, k), &e);
			int differs = 0;
			for (int t = 0; t < 6; t++) {
				double l = v->obs[0];
				ep[set][k][t] = l;
				same_envs &= v->obs[1] == l;
				if (t) {
					double a = ep[set][k][t - 1];
					allowed &= !((a == 4 && l == 12) ||
						     (a == 12 && l == 4)) &&
						   (l == 4 || l == 8 || l == 12);
				}
				differs |= l != file[t];
				memset(v->actions, 0, 4 * sizeof *v->actions);
				v->step(v, &e);
			}
			other += differs;
		}
		v->close(v);
		free(v);
	}
	for (int k = 0; k < 20; k++)
		sets_differ += memcmp(ep[0][k], ep[1][k], sizeof ep[0][k]) != 0;
	CHECK(same_envs, "a set's episode is its seed's, the same in every environment");
	CHECK(allowed, "set episodes use only the file's levels and transitions");
	CHECK(other >= 30, "set episodes are other draws than the file (%d of 40 differ)",
	      other);
	CHECK(sets_differ >= 15, "validation and test episodes differ (%d of 20)",
	      sets_differ);
	mr_simenv_opts bad = {.nenvs = 1, .seed = 1, .episodes = 7};
	v = mr_simenv_open(o, &bad, &e);
	CHECK(!v && e.code == MR_EXIT_USAGE, "an unknown episode set is refused (%s)",
	      e.msg);
	mr_objective_free(o);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_grid_and_expr();
	test_objective_errors();
	test_expr_limits();
	test_objective_safety();
	test_delay_reward();
	test_incremental();
	test_train_from_start();
	test_objective_get();
	test_pattern_spec();
	test_forest_model();
	test_protocol();
	test_episode_sets();
	static const char *files[] = {"bad.load", "toy.load", "toy.obj", "inc.obj",
				      "m.msgpack", "fd.obj", "fd2.obj", "two.load",
				      NULL};
	for (int i = 0; files[i]; i++) {
		char path[300];
		snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
		unlink(path);
	}
	rmdir(tmpdir);
	return CHECK_DONE();
}
