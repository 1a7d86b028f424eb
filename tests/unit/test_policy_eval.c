/* test_policy_eval.c - the evaluation module (tools/evaluate/include/evaluate.h)
 * on a toy environment whose optimum is known by hand: action parsing,
 * controllers (fixed, random, HPA, table), the step loop, the sweep (best
 * action, random mean, service time), statistics and the CSV outputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "evaluate.h"

/* ------------------------------------------------------------------------
 * A toy of the delay objective. Load walks 4, 8, 12, 8 (req/s). Action p in
 * {0,50,100} (% to node 1, which has c cores; node 2 has one core), c in
 * {1,2,3}. Each core serves 10 req/s; delay per node 0.1/(1 - rho), the mean
 * weighted by traffic; rho >= 1 gives 5 s. Reward 6 - c when the delay is
 * at most 0.3 s, else 0.3 - d. Deterministic, auto-resetting after 4 steps.
 */
typedef struct {
	long t;
} toy;

static const double toy_loads[4] = {4, 8, 12, 8};

static double node_delay(double lam, double cores)
{
	double rho = lam / (10 * cores);
	return rho >= 1 ? 5.0 : 0.1 / (1 - rho);
}

static int toy_step(mr_vecenv *v, mr_err *e)
{
	(void)e;
	toy *ts = v->impl;
	double lam = toy_loads[ts->t % 4];
	static const double pv[3] = {0, 50, 100};
	for (int k = 0; k < v->nenvs; k++) {
		double p = pv[v->actions[k * 2]] / 100;
		double c = v->actions[k * 2 + 1] + 1;
		double d1 = node_delay(lam * p, c), d2 = node_delay(lam * (1 - p), 1);
		double d = p * d1 + (1 - p) * d2;
		mr_step_info *in = &v->info[k];
		memset(in, 0, sizeof *in);
		in->delay[0] = d;
		in->offered = lam;
		in->carried = lam;
		in->cost = c;
		in->bound_met = d <= 0.3;
		v->rewards[k] = (float)(d <= 0.3 ? 6 - c : 0.3 - d);
		v->dones[k] = (ts->t % 4) == 3;
	}
	ts->t++;
	for (int k = 0; k < v->nenvs; k++)
		v->obs[k] = (float)toy_loads[ts->t % 4];
	return 0;
}

static int toy_reset(mr_vecenv *v, uint64_t seed, mr_err *e)
{
	(void)seed;
	(void)e;
	((toy *)v->impl)->t = 0;
	for (int k = 0; k < v->nenvs; k++)
		v->obs[k] = (float)toy_loads[0];
	return 0;
}

static void toy_close(mr_vecenv *v)
{
	free(v->impl);
	free(v->obs);
	free(v->actions);
	free(v->rewards);
	free(v->dones);
	free(v->masks);
	free(v->info);
}

static void toy_open(mr_vecenv *v, int nenvs)
{
	memset(v, 0, sizeof *v);
	v->nenvs = nenvs;
	v->obs_dim = 1;
	v->ncomp = 2;
	v->nchoices[0] = 3;
	v->nchoices[1] = 3;
	v->total_choices = 6;
	v->nservices = 1;
	v->obs = mr_xcalloc((size_t)nenvs, sizeof *v->obs);
	v->actions = mr_xcalloc((size_t)nenvs * 2, sizeof *v->actions);
	v->rewards = mr_xcalloc((size_t)nenvs, sizeof *v->rewards);
	v->dones = mr_xcalloc((size_t)nenvs, 1);
	v->masks = mr_xcalloc((size_t)nenvs * 6, 1);
	memset(v->masks, 1, (size_t)nenvs * 6);
	v->info = mr_xcalloc((size_t)nenvs, sizeof *v->info);
	v->impl = mr_xcalloc(1, sizeof(toy));
	v->reset = toy_reset;
	v->step = toy_step;
	v->close = toy_close;
	v->reset(v, 1, NULL);
}

static void toy_space(mr_action_space *as)
{
	memset(as, 0, sizeof *as);
	as->ncomp = 2;
	strcpy(as->name[0], "p");
	strcpy(as->name[1], "c");
	as->nchoices[0] = as->nchoices[1] = 3;
	for (int j = 0; j < 3; j++) {
		as->values[0][j] = 50.0 * j;
		as->values[1][j] = j + 1;
	}
	as->cores = 1;
}

/* By hand: the best (reward, then cost) action per load. */
static void toy_best_by_hand(double lam, int32_t *a, double *r)
{
	double best = -1e9;
	for (int pi = 0; pi < 3; pi++)
		for (int ci = 0; ci < 3; ci++) {
			double p = pi * 0.5, c = ci + 1;
			double d = p * node_delay(lam * p, c) +
				   (1 - p) * node_delay(lam * (1 - p), 1);
			double rw = (float)(d <= 0.3 ? 6 - c : 0.3 - d);
			if (rw > best) {
				best = rw;
				a[0] = pi;
				a[1] = ci;
			}
		}
	*r = best;
}

/* ------------------------------------------------------------------------ */

static void test_actions(void)
{
	mr_action_space as;
	toy_space(&as);
	int32_t a[2] = {-1, -1};
	mr_err e = {0};
	CHECK(mr_action_parse(&as, "p=100,c=2", a, &e) == 0 && a[0] == 2 &&
		      a[1] == 1, "parse p=100,c=2 -> choices 2,1");
	CHECK(mr_action_parse(&as, "c=1,p=0", a, &e) == 0 && a[0] == 0 &&
		      a[1] == 0, "parse accepts any component order");
	CHECK(mr_action_parse(&as, "p=80,c=1", a, &e) == -1 &&
		      e.code == MR_EXIT_USAGE && strstr(e.msg, "p=80") &&
		      strstr(e.msg, "0 50 100"),
	      "p=80 refused, naming the choices: %s", e.msg);
	CHECK(mr_action_parse(&as, "p=0", a, &e) == -1 &&
		      strstr(e.msg, "'c' missing"), "missing component named");
	CHECK(mr_action_parse(&as, "p=0,x=1,c=1", a, &e) == -1 &&
		      strstr(e.msg, "no component 'x'"), "unknown component named");
	CHECK(mr_action_parse(&as, "p=0,p=50,c=1", a, &e) == -1 &&
		      strstr(e.msg, "twice"), "repeated component refused");
	CHECK(mr_action_parse(&as, "p=abc,c=1", a, &e) == -1 &&
		      strstr(e.msg, "not a number"), "non-number refused");
	char buf[256];
	int32_t b[2] = {1, 2};
	CHECK(strcmp(mr_action_format(&as, b, buf, sizeof buf), "p=50,c=3") == 0,
	      "format p=50,c=3 (%s)", buf);
	CHECK(mr_action_joint_count(&as, 100) == 9 &&
		      mr_action_joint_count(&as, 8) == 0, "joint count and limit");
	int ok = 1;
	for (long k = 0; k < 9; k++) {
		int32_t d[2];
		mr_action_decode(&as, k, d);
		ok &= d[0] == k / 3 && d[1] == k % 3;
	}
	CHECK(ok, "decode: component 0 varies slowest");
}

static void test_stats(void)
{
	CHECK(fabs(mr_t975(1) - 12.7062) < 1e-4 && fabs(mr_t975(4) - 2.7764) < 1e-4,
	      "t975 table values");
	/* scipy.stats.t.ppf(0.975, df): 40 -> 2.021075, 120 -> 1.979930 */
	CHECK(fabs(mr_t975(40) - 2.021075) < 2e-4 &&
		      fabs(mr_t975(120) - 1.979930) < 1e-4,
	      "t975 expansion: %.6f %.6f", mr_t975(40), mr_t975(120));
	double x[5] = {1, 2, 3, 4, 5}, m, h;
	mr_mean_ci(x, 5, &m, &h);
	/* sd = sqrt(2.5); half = 2.7764 * 1.5811 / sqrt(5) = 1.9632 */
	CHECK(fabs(m - 3) < 1e-12 && fabs(h - 1.96324) < 1e-4,
	      "mean 3, half-width 1.9632 (%.5f)", h);
	mr_mean_ci(x, 1, &m, &h);
	CHECK(m == 1 && h == 0, "one value: half-width 0");
	double sd, h2;
	mr_mean_sd_ci(x, 5, &m, &sd, &h2);
	mr_mean_ci(x, 5, &m, &h);
	CHECK(m == 3 && sd == sqrt(2.5) && h2 == h,
	      "mean, sample sd sqrt(2.5) and the same half-width (%.6f)", sd);
	mr_mean_sd_ci(x, 1, &m, &sd, &h2);
	CHECK(m == 1 && sd == 0 && h2 == 0, "one value: sd 0, half-width 0");
	mr_mean_sd_ci(x, 0, &m, &sd, &h2);
	CHECK(isnan(m) && isnan(sd) && isnan(h2), "no value: NaN");
}

static void test_sweep_and_controllers(void)
{
	mr_action_space as;
	toy_space(&as);
	mr_err e = {0};
	mr_vecenv sv;
	toy_open(&sv, 9);
	mr_sweep sw;
	CHECK(mr_eval_sweep(&sv, &as, 8, &sw, &e) == 0, "sweep runs: %s", e.msg);
	int32_t table[16];
	double rbest = mr_sweep_best(&sw, &as, table);
	int ok = 1;
	double hand = 0;
	for (int t = 0; t < 8; t++) {
		int32_t a[2] = {0, 0};
		double r;
		toy_best_by_hand(toy_loads[t % 4], a, &r);
		hand += r;
		ok &= table[2 * t] == a[0] && table[2 * t + 1] == a[1];
	}
	CHECK(ok, "sweep's best action matches the hand search at every step");
	CHECK(fabs(rbest - hand / 8) < 1e-9, "best mean %.6f = hand %.6f", rbest,
	      hand / 8);
	double rsum = 0;
	for (int t = 0; t < 8; t++)
		for (long k = 0; k < 9; k++) {
			int32_t a[2];
			mr_action_decode(&as, k, a);
			double lam = toy_loads[t % 4], p = a[0] * 0.5, c = a[1] + 1;
			double d = p * node_delay(lam * p, c) +
				   (1 - p) * node_delay(lam * (1 - p), 1);
			rsum += (float)(d <= 0.3 ? 6 - c : 0.3 - d);
		}
	CHECK(fabs(mr_sweep_random_mean(&sw) - rsum / 72) < 1e-9,
	      "random mean is the mean over all joint actions");
	int32_t rest[2] = {2, 0}; /* p=100, c=1 */
	double st = mr_sweep_service_time(&sw, &as, rest);
	/* p=100, c=3, load 4: 0.1 / (1 - 4/30), times the 3 cores (the CPU
	 * a request takes) */
	CHECK(fabs(st - 3 * 0.1 / (1 - 4.0 / 30)) < 1e-9, "service time %.6f",
	      st);
	sv.close(&sv);

	/* Table controller replays the optimum: same mean reward. */
	mr_vecenv v;
	toy_open(&v, 1);
	mr_controller c;
	mr_ctl_table(&c, "optimal", table, 8);
	mr_steps opt;
	mr_steps_init(&opt, 2, 1);
	CHECK(mr_eval_run(&v, &as, &c, 8, &opt, &e) == 0 && opt.n == 8,
	      "table run: 8 steps");
	double m, h;
	mr_mean_ci(opt.reward, opt.n, &m, &h);
	CHECK(fabs(m - rbest) < 1e-6, "table run reproduces the optimum");

	/* Fixed: p=100,c=1 overloads node 1 at load 12 (rho 1.2). */
	v.reset(&v, 1, &e);
	mr_ctl_fixed(&c, "noop", rest, 2);
	mr_steps fx;
	mr_steps_init(&fx, 2, 1);
	mr_eval_run(&v, &as, &c, 8, &fx, &e);
	ok = 1;
	for (int t = 0; t < 8; t++)
		ok &= fx.action[2 * t] == 2 && fx.action[2 * t + 1] == 0 &&
		      fx.cores[t] == 1;
	CHECK(ok, "fixed controller always plays p=100,c=1");
	CHECK(fx.bound_met[2] == 0 && fx.delay[2] == 5.0,
	      "load 12 on one core misses the bound");

	/* HPA at 50%: util = carried * st / cores; from load 4 at c=1,
	 * util = 0.46 -> stays (within 10%) ... at load 12: ceil(1 * 12 st /
	 * 0.5) = 3 cores on the next period. */
	v.reset(&v, 1, &e);
	CHECK(mr_ctl_hpa(&c, "hpa50", &as, rest, 0.5, st, &e) == 0, "hpa set up");
	mr_steps hp;
	mr_steps_init(&hp, 2, 1);
	mr_eval_run(&v, &as, &c, 8, &hp, &e);
	ok = 1;
	double cores = 1;
	for (int t = 1; t < 8; t++) {
		double util = toy_loads[(t - 1) % 4] * st / cores;
		double want = fabs(util / 0.5 - 1) <= 0.1 ? cores
							  : ceil(cores * util / 0.5 - 1e-9);
		if (want < 1)
			want = 1;
		if (want > 3)
			want = 3;
		ok &= hp.cores[t] == want && hp.action[2 * t] == 2;
		cores = want;
	}
	CHECK(ok && hp.cores[0] == 1, "hpa follows ceil(c * util / target)");
	CHECK(hp.cores[3] == 3, "hpa scales to 3 cores after the load-12 period");
	mr_action_space nocores = as;
	nocores.cores = -1;
	CHECK(mr_ctl_hpa(&c, "hpa50", &nocores, rest, 0.5, st, &e) == -1 &&
		      strstr(e.msg, "no cores"), "hpa refused without cores");

	/* Random: deterministic per seed, always allowed choices. */
	mr_steps r1, r2;
	mr_steps_init(&r1, 2, 1);
	mr_steps_init(&r2, 2, 1);
	v.reset(&v, 1, &e);
	mr_ctl_random(&c, "random", 7);
	memset(v.masks, 1, 6);
	v.masks[3 + 2] = 0; /* c=3 never allowed */
	mr_eval_run(&v, &as, &c, 8, &r1, &e);
	v.reset(&v, 1, &e);
	mr_ctl_random(&c, "random", 7);
	mr_eval_run(&v, &as, &c, 8, &r2, &e);
	ok = memcmp(r1.action, r2.action, 16 * sizeof(int32_t)) == 0;
	CHECK(ok, "random is deterministic for a seed");
	ok = 1;
	for (int t = 0; t < 8; t++)
		ok &= r1.action[2 * t + 1] != 2;
	CHECK(ok, "random respects the mask");

	/* Summary: the optimum scores 1, random's mean scores 0. */
	double rrand = rsum / 72;
	mr_summary s;
	mr_summarise(&opt, "optimal", rbest, rrand, &opt, &s);
	CHECK(fabs(s.norm_score - 1) < 1e-6 && s.bound_opt_pct == 100,
	      "optimum: score 1, bound met where optimum meets it 100%%");
	mr_summarise(&fx, "noop", rbest, rrand, &opt, &s);
	long optmet = 0, both = 0, met = 0;
	for (int t = 0; t < 8; t++) {
		optmet += opt.bound_met[t];
		both += opt.bound_met[t] && fx.bound_met[t];
		met += fx.bound_met[t];
	}
	CHECK(fabs(s.bound_met_pct - 100.0 * met / 8) < 1e-9 &&
		      fabs(s.bound_opt_pct - 100.0 * both / optmet) < 1e-9,
	      "noop bound shares %.1f%% / %.1f%%", s.bound_met_pct,
	      s.bound_opt_pct);
	CHECK(s.mean_cores == 1 && s.norm_score < 1, "noop: 1 core, score < 1");

	/* CSVs read back through the library's strict reader. */
	char dir[] = "/tmp/meshrl-pe-XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "temp dir");
	char path[128];
	snprintf(path, sizeof path, "%s/steps.csv", dir);
	CHECK(mr_steps_write(path, &as, &fx, &e) == 0, "steps CSV written");
	mr_table tb;
	CHECK(mr_table_read(path, NULL, 0, 0, &tb, &e) == 0 && tb.nrows == 8 &&
		      tb.ncols == 11 && mr_table_col(&tb, "p") == 2 &&
		      mr_table_col(&tb, "cores") == 4 &&
		      mr_table_col(&tb, "bound_met") == 9 &&
		      mr_table_col(&tb, "episode") == 10,
	      "steps CSV: 8 rows, step,load,p,c,cores,d1,carried,cost,reward,bound_met,episode");
	if (tb.nrows == 8)
		CHECK(tb.data[2 * tb.ncols + 2] == 100 &&
			      tb.data[2 * tb.ncols + 5] == 5.0 && tb.data[2 * tb.ncols + 4] == 1,
		      "row values: p=100, cores 1, d1=5");
	mr_table_free(&tb);
	mr_summary rows[2];
	mr_summarise(&opt, "optimal", rbest, rrand, &opt, &rows[0]);
	mr_summarise(&fx, "noop", rbest, rrand, &opt, &rows[1]);
	snprintf(path, sizeof path, "%s/summary.csv", dir);
	CHECK(mr_summary_write(path, "toy", "seen", 1, rows, 2, &e) == 0, "summary written");
	char *buf = NULL;
	size_t len = 0;
	CHECK(mr_read_file(path, &buf, &len, 0, &e) == 0 &&
		      strncmp(buf, "objective,pattern,seed,policy,steps,mean_reward,ci95,norm_score,", 64) == 0 &&
		      strstr(buf, "\ntoy,seen,1,optimal,8,") && strstr(buf, "\ntoy,seen,1,noop,8,"),
	      "summary: header and one row per policy");
	free(buf);
	unlink(path);
	snprintf(path, sizeof path, "%s/steps.csv", dir);
	unlink(path);
	rmdir(dir);

	mr_steps_free(&opt);
	mr_steps_free(&fx);
	mr_steps_free(&hp);
	mr_steps_free(&r1);
	mr_steps_free(&r2);
	mr_sweep_free(&sw);
	v.close(&v);
}

/* ------------------------------------------------------------------------
 * The whole suite through an opener; fail_at makes the n-th open fail. */
typedef struct {
	int opens, fail_at;
	mr_vecenv envs[64];
} opener_ctx;

static mr_vecenv *toy_opener(void *ctx, int nenvs, mr_err *e)
{
	opener_ctx *oc = ctx;
	if (++oc->opens == oc->fail_at) {
		mr_errf(e, MR_EXIT_IO, "toy: cannot open (test)");
		return NULL;
	}
	mr_vecenv *v = &oc->envs[oc->opens - 1];
	toy_open(v, nenvs);
	return v;
}

/* The suite's opener: every episode of the toy is the same. */
static mr_vecenv *toy_episode_opener(void *ctx, int k, int nenvs, mr_err *e)
{
	(void)k;
	return toy_opener(ctx, nenvs, e);
}

static void toy_closer(void *ctx, mr_vecenv *v)
{
	(void)ctx;
	v->close(v);
}

/* A "policy" that plays the optimum by hand from the observed load. */
static void hand_policy(void *ctx, const float *obs, const uint8_t *mask,
			int32_t *action)
{
	(void)ctx;
	(void)mask;
	double r;
	toy_best_by_hand(obs[0], action, &r);
}

static int count_files(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "ls -A %s | wc -l", dir);
	FILE *p = popen(cmd, "r");
	int n = -1;
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

static void test_suite(void)
{
	mr_action_space as;
	toy_space(&as);
	char dir[] = "/tmp/meshrl-suite-XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "suite temp dir");
	int32_t noop[2] = {2, 0};
	mr_suite_opts so = {
		.outdir = dir, .objective = "toy", .pattern = "seen", .seed = 3,
		.nsteps = 8, .as = &as,
		.baselines = "optimal,noop,hpa50,hpa80,random", .noop = noop,
		.policy = hand_policy, .policy_name = "ppo",
		.quiet = 1};
	opener_ctx oc = {0};
	mr_err e = {0};
	CHECK(mr_eval_suite(&so, toy_episode_opener, toy_closer, &oc, &e) == 0,
	      "suite runs: %s", e.msg);
	CHECK(count_files(dir) == 7, "suite: 6 step files and summary.csv");
	char path[128];
	snprintf(path, sizeof path, "%s/summary.csv", dir);
	mr_table t;
	const char *cols[] = {"norm_score", "bound_met_where_opt_pct"};
	/* every row has both figures defined: the strict reader accepts */
	CHECK(mr_table_read(path, cols, 2, 0, &t, &e) == 0 && t.nrows == 6,
	      "summary: 6 rows: %s", e.msg);
	if (t.nrows == 6) {
		CHECK(fabs(t.data[0] - 1) < 1e-9 && fabs(t.data[2] - 1) < 1e-9,
		      "hand-optimal policy and optimum both score 1");
		CHECK(t.data[1] == 100, "policy meets the bound wherever the "
					"optimum does");
		CHECK(t.data[4] < 1, "noop scores below 1 (%.3f)", t.data[4]);
	}
	mr_table_free(&t);
	int opens = oc.opens;
	CHECK(opens == 7, "one sweep env set + 6 runs (%d opens)", opens);

	/* Three episodes: each controller's steps of every episode, the
	 * episode in its own column, and an interval over episodes. */
	so.episodes = 3;
	memset(&oc, 0, sizeof oc);
	CHECK(mr_eval_suite(&so, toy_episode_opener, toy_closer, &oc, &e) == 0
		      && oc.opens == 21,
	      "3 episodes: a sweep and 6 runs each (%d opens): %s", oc.opens,
	      e.msg);
	const char *ecols[] = {"episodes", "norm_score", "norm_score_ci95"};
	CHECK(mr_table_read(path, ecols, 3, 0, &t, &e) == 0 && t.nrows == 6 &&
		      t.data[0] == 3 && fabs(t.data[1] - 1) < 1e-9 &&
		      t.data[2] == 0,
	      "summary: episodes 3, score 1 +- 0 (identical episodes): %s",
	      e.msg);
	mr_table_free(&t);
	snprintf(path, sizeof path, "%s/steps-ppo.csv", dir);
	const char *scols[] = {"step", "episode"};
	CHECK(mr_table_read(path, scols, 2, 0, &t, &e) == 0 &&
		      t.nrows == 24 && t.data[2 * 23] == 23 &&
		      t.data[2 * 23 + 1] == 2 && t.data[2 * 8 + 1] == 1,
	      "steps: 24 rows, step counts on, episode 0..2: %s", e.msg);
	mr_table_free(&t);
	so.episodes = 0;

	/* A failure midway leaves nothing of this call behind. */
	char dir2[] = "/tmp/meshrl-suite-XXXXXX";
	CHECK(mkdtemp(dir2) != NULL, "second temp dir");
	so.outdir = dir2;
	memset(&oc, 0, sizeof oc);
	oc.fail_at = 5;
	CHECK(mr_eval_suite(&so, toy_episode_opener, toy_closer, &oc, &e) == -1 &&
		      strstr(e.msg, "cannot open (test)") &&
		      count_files(dir2) == 0,
	      "failing open: error '%s', directory left empty", e.msg);
	so.baselines = "optimal,hpa";
	memset(&oc, 0, sizeof oc);
	CHECK(mr_eval_suite(&so, toy_episode_opener, toy_closer, &oc, &e) == -1 &&
		      e.code == MR_EXIT_USAGE && strstr(e.msg, "'hpa'") &&
		      oc.opens == 0 && count_files(dir2) == 0,
	      "unknown baseline refused before any work: %s", e.msg);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, dir2);
	CHECK(system(cmd) == 0, "cleanup");
}

static void test_aggregate(void)
{
	char dir[] = "/tmp/meshrl-agg-XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "agg temp dir");
	const char *hdr = "objective,pattern,seed,policy,steps,mean_reward,ci95,"
			  "norm_score,bound_met_pct,bound_met_where_opt_pct,"
			  "mean_cores,mean_cost,mean_carried,mean_load\n";
	/* (older summaries without the episode columns still aggregate) */
	char p1[128], p2[128], p3[128], out[128];
	snprintf(p1, sizeof p1, "%s/s1.csv", dir);
	snprintf(p2, sizeof p2, "%s/s2.csv", dir);
	snprintf(p3, sizeof p3, "%s/s3.csv", dir);
	snprintf(out, sizeof out, "%s/summary.csv", dir);
	char text[1024];
	mr_err e = {0};
	snprintf(text, sizeof text, "%sdelay,seen,1,ppo,10,4,0.1,0.98,96,100,1.5,1.5,8,8\n"
		 "delay,seen,1,noop,10,1,0.5,0.2,60,,1,1,8,8\n", hdr);
	mr_write_file_atomic(p1, text, strlen(text), &e);
	snprintf(text, sizeof text, "%sdelay,seen,2,ppo,10,4.2,0.1,1.02,98,98,1.5,1.5,8,8\n"
		 "delay,seen,2,noop,10,1,0.5,0.2,60,,1,1,8,8\n", hdr);
	mr_write_file_atomic(p2, text, strlen(text), &e);
	const char *paths[3] = {p1, p2, p3};
	CHECK(mr_eval_aggregate(paths, 2, out, &e) == 0, "aggregate 2 runs: %s",
	      e.msg);
	char *buf = NULL;
	size_t len;
	mr_read_file(out, &buf, &len, 0, &e);
	/* ppo score: mean 1, sd 0.0283, t(1) 12.706 -> 12.706*0.02/1 = 0.2541 */
	CHECK(buf && strstr(buf, "objective,pattern,policy,runs,norm_score_mean,"
				 "norm_score_ci95,bound_met_pct_mean,"),
	      "aggregate header");
	CHECK(buf && strstr(buf, "\ndelay,seen,ppo,2,1,0.2541"),
	      "ppo: 2 runs, score mean 1, half-width 0.2541");
	CHECK(buf && strstr(buf, "\ndelay,seen,noop,2,0.2,0,60,0,,,1,0,"),
	      "noop: undefined bound_met_where_opt stays empty");
	free(buf);
	CHECK(mr_eval_aggregate((const char *const[]){p1, p1}, 2, out, &e) == -1 &&
		      e.code == MR_EXIT_DATA && strstr(e.msg, "seed 1 seen twice"),
	      "the same run twice is refused: %s", e.msg);
	snprintf(text, sizeof text, "objective,pattern,policy\ndelay,seen,ppo\n");
	mr_write_file_atomic(p3, text, strlen(text), &e);
	CHECK(mr_eval_aggregate(paths, 3, out, &e) == -1 &&
		      strstr(e.msg, "s3.csv:1: column 'seed' missing"),
	      "a foreign file is refused, naming it: %s", e.msg);
	snprintf(text, sizeof text, "%sdelay,seen,3,ppo,10,x,0.1,0.98,96,100,1.5,1.5,8,8\n", hdr);
	mr_write_file_atomic(p3, text, strlen(text), &e);
	CHECK(mr_eval_aggregate(paths, 3, out, &e) == -1 &&
		      strstr(e.msg, "s3.csv:2: column 'mean_reward': 'x'"),
	      "a bad number is refused with file:line: column: %s", e.msg);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "cleanup");
}

/* ------------------------------------------------------------------------
 * The uniform random reference: swept for settings, else sampled with the
 * seeds seed + 7919 (k + 1), on fresh environments or through a callback.
 */
typedef struct {
	int calls;
	uint64_t seed;
	int seeds_ok;
} episode_log;

static int logged_episode(void *ctx, mr_controller *c, double *mean,
			  mr_err *e)
{
	(void)e;
	episode_log *lg = ctx;
	mr_controller want;
	mr_ctl_random(&want, "x", lg->seed + 7919u * (uint64_t)(lg->calls + 1));
	lg->seeds_ok &= c->kind == MR_CTL_RANDOM &&
			!memcmp(&c->rng, &want.rng, sizeof want.rng);
	*mean = lg->calls++;
	return 0;
}

static void test_random_reference(void)
{
	mr_action_space as;
	toy_space(&as);
	mr_err e = {0}, why = {0};
	opener_ctx oc = {0};
	mr_random_ref r = {.as = &as, .nsteps = 8, .seed = 5,
			   .open = toy_opener, .close = toy_closer, .ctx = &oc,
			   .episodes = 3};
	/* settings: the exact mean of a sweep */
	mr_vecenv sv;
	toy_open(&sv, 9);
	mr_sweep ref, sw;
	CHECK(mr_eval_sweep(&sv, &as, 8, &ref, &e) == 0, "reference sweep");
	double out = NAN;
	CHECK(mr_random_reference(&r, &sw, &why, &out, &e) == 1 &&
		      out == mr_sweep_random_mean(&ref) && sw.njoint == 9 &&
		      oc.opens == 1,
	      "settings: swept (%.6f), the sweep handed over, one open", out);
	mr_sweep_free(&sw);
	mr_sweep_free(&ref);
	sv.close(&sv);

	/* incremental: the mean of 3 episodes' means on fresh environments */
	as.incremental = 1;
	double want = 0;
	for (int k = 0; k < 3; k++) {
		mr_vecenv v;
		toy_open(&v, 1);
		mr_controller c;
		mr_ctl_random(&c, "r", 5 + 7919u * (uint64_t)(k + 1));
		mr_steps st;
		mr_steps_init(&st, 2, 1);
		mr_eval_run(&v, &as, &c, 8, &st, &e);
		double m, h;
		mr_mean_ci(st.reward, st.n, &m, &h);
		want += m;
		mr_steps_free(&st);
		v.close(&v);
	}
	want /= 3;
	memset(&oc, 0, sizeof oc);
	strcpy(why.msg, "stale");
	CHECK(mr_random_reference(&r, NULL, &why, &out, &e) == 0 &&
		      out == want && oc.opens == 3 && why.msg[0] == 0,
	      "incremental: sampled over 3 fresh runs (%.6f, want %.6f, %d "
	      "opens)", out, want, oc.opens);

	/* through a callback: one call per episode, the seeds in order */
	episode_log lg = {.seed = 5, .seeds_ok = 1};
	r.episode = logged_episode;
	r.episode_ctx = &lg;
	r.episodes = 5;
	CHECK(mr_random_reference(&r, NULL, NULL, &out, &e) == 0 &&
		      lg.calls == 5 && lg.seeds_ok && out == 2,
	      "callback: 5 episodes seeded seed + 7919 (k + 1), mean %.3f",
	      out);
	r.episodes = 0;
	CHECK(mr_random_reference(&r, NULL, NULL, &out, &e) == -1,
	      "no episodes refused");

	/* settings whose sweep cannot open: sampled, and why says so */
	as.incremental = 0;
	r.episodes = 2;
	memset(&oc, 0, sizeof oc);
	oc.fail_at = 1;
	lg = (episode_log){.seed = 5, .seeds_ok = 1};
	CHECK(mr_random_reference(&r, NULL, &why, &out, &e) == 0 &&
		      lg.calls == 2 && strstr(why.msg, "cannot open (test)"),
	      "failed sweep: sampled instead (%s)", why.msg);
}

/* The HPA step by hand on a five-core space: desired = ceil(cores * util
 * / target), 10 % tolerance, scale-up at once, scale-down held at the
 * highest desired value of the window; a measured util wins over the
 * carried load. */
static void test_hpa(void)
{
	mr_action_space as;
	memset(&as, 0, sizeof as);
	as.ncomp = 1;
	strcpy(as.name[0], "c");
	as.nchoices[0] = 5;
	for (int j = 0; j < 5; j++)
		as.values[0][j] = j + 1;
	as.cores = 0;
	mr_err e = {0};
	mr_controller c;
	int32_t start = 1, a = -1, prev = 1; /* 2 cores */
	CHECK(mr_ctl_hpa(&c, "hpa50", &as, &start, 0.5, 0.1, &e) == 0 &&
		      mr_ctl_hpa_window(&c, 3, &e) == 0,
	      "hpa with a 3-period window");
	CHECK(mr_ctl_hpa_window(&c, 0, &e) == -1 &&
		      mr_ctl_hpa_window(&c, MR_HPA_MAX_WINDOW + 1, &e) == -1,
	      "window outside 1..%d refused", MR_HPA_MAX_WINDOW);
	mr_ctl_act(&c, &as, 0, NULL, NULL, NULL, NULL, &a);
	CHECK(a == 1, "first period: the starting cores");
	/* carried load per period; util = load * 0.1 / cores, target 0.5 */
	/* 16 on 2: util 0.8 -> ceil(3.2) = 4 at once; 9.6 on 4: desired 2,
	 * held at 4 while 4 is in the window; then 2 (9.6 on 2: ratio 0.96,
	 * within 10 %); 2 on 2: desired 1, held at 2; 30 on 2: 6 -> 5, the
	 * most allowed */
	static const double load[] = {16, 9.6, 9.6, 9.6, 9.6, 2, 30};
	static const int want[] = {4, 4, 4, 2, 2, 2, 5};
	int ok = 1;
	for (int t = 0; t < 7; t++) {
		mr_step_info in = {.carried = load[t]};
		mr_ctl_act(&c, &as, t + 1, NULL, NULL, &in, &prev, &a);
		ok &= a + 1 == want[t];
		if (a + 1 != want[t])
			fprintf(stderr, "# period %d: %d cores, want %d\n", t,
				a + 1, want[t]);
		prev = a;
	}
	CHECK(ok, "hpa: up at once, down after the window, tolerance kept");
	c.hpa_util = 0.5 * 1.05; /* within the tolerance: stay */
	prev = 2;
	mr_step_info in = {.carried = 1000};
	mr_ctl_act(&c, &as, 9, NULL, NULL, &in, &prev, &a);
	CHECK(a == 2, "a measured util within 10 %% of the target keeps 3 "
		      "cores (got %d)", a + 1);
}

/* Drops in the summary: the mean share served and the periods below
 * min_served, from the step infos. */
static void test_drops(void)
{
	mr_steps st;
	mr_steps_init(&st, 1, 1);
	int32_t a = 0;
	mr_step_info ok = {.delay = {0.2}}, lost = {.delay = {4.04}};
	lost.dropped = 0.8;
	lost.served_short = 1;
	mr_steps_add(&st, &a, &ok, 5, 1);
	mr_steps_add(&st, &a, &lost, -3.44, 1);
	mr_steps_add(&st, &a, &lost, -3.44, 1);
	mr_steps_add(&st, &a, &ok, 5, 1);
	mr_summary sum;
	mr_summarise(&st, "x", NAN, NAN, NULL, &sum);
	CHECK(fabs(sum.mean_served - 0.6) < 1e-12 &&
		      sum.served_short_pct == 50,
	      "summary: served %g (0.6), %g %% short (50)", sum.mean_served,
	      sum.served_short_pct);
	mr_steps_free(&st);
}

int main(void)
{
	test_actions();
	test_stats();
	test_sweep_and_controllers();
	test_hpa();
	test_drops();
	test_suite();
	test_random_reference();
	test_aggregate();
	return CHECK_DONE();
}
