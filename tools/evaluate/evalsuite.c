/* evalsuite.c - one evaluation: the policy and the baselines on fresh
 * environments, per-step CSVs and the summary, all or nothing; and the
 * uniform random reference (mr_random_reference), which ppo-train uses too.
 *
 * The references for the normalised score come from a sweep when actions
 * are settings (exact optimum and exact uniform-random mean); with
 * incremental actions the optimum's mean must be given and random's mean is
 * sampled. The suite does not build environments: an opener does. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evaluate.h"

#define MAX_CTL 16

typedef struct {
	char **paths;
	int n;
} written;

static void written_add(written *w, const char *path)
{
	w->paths = mr_xrealloc(w->paths, (size_t)w->n + 1, sizeof *w->paths);
	w->paths[w->n++] = mr_xstrdup(path);
}

static void written_free(written *w, int remove_files)
{
	for (int i = 0; i < w->n; i++) {
		if (remove_files)
			unlink(w->paths[i]);
		free(w->paths[i]);
	}
	free(w->paths);
	memset(w, 0, sizeof *w);
}

/* One baseline name: optimal, noop, random or hpaNN (target NN %). */
static int parse_baseline(const char *name, double *hpa_target, mr_err *e)
{
	*hpa_target = NAN;
	if (!strcmp(name, "optimal") || !strcmp(name, "noop") ||
	    !strcmp(name, "random"))
		return 0;
	if (!strncmp(name, "hpa", 3) && name[3]) {
		char *end;
		long pct = strtol(name + 3, &end, 10);
		if (!*end && pct >= 1 && pct <= 150) {
			*hpa_target = (double)pct / 100.0;
			return 0;
		}
	}
	return mr_errf(e, MR_EXIT_USAGE,
		       "unknown baseline '%s' (known: optimal, noop, random, "
		       "hpaNN with NN the utilisation target in %%)", name);
}

/* Runs one controller for nsteps steps on a fresh single environment,
 * appending to st as episode k (st is initialised on its first run: st
 * zeroed). */
static int run_fresh(mr_env_opener open, mr_env_closer close, void *ctx,
		     const mr_action_space *as, long nsteps, int k,
		     mr_controller *c, mr_steps *st, mr_err *e)
{
	mr_vecenv *v = open(ctx, 1, e);
	if (!v)
		return mr_err_prefix(e, "%s", c->name);
	if (!st->ncomp)
		mr_steps_init(st, as->ncomp, v->nservices);
	st->cur_episode = k;
	int rc = mr_eval_run(v, as, c, nsteps, st, e);
	close(ctx, v);
	return rc;
}

/* One evaluation episode of the suite, as the plain opener and closer
 * that mr_random_reference and run_fresh take. */
typedef struct {
	mr_episode_opener open;
	mr_env_closer close;
	void *ctx;
	int k;
} episode_env;

static mr_vecenv *episode_open(void *ctx, int nenvs, mr_err *e)
{
	episode_env *ee = ctx;
	return ee->open(ee->ctx, ee->k, nenvs, e);
}

static void episode_close(void *ctx, mr_vecenv *v)
{
	episode_env *ee = ctx;
	ee->close(ee->ctx, v);
}

static int run_one(const mr_suite_opts *so, episode_env *ee,
		   mr_controller *c, mr_steps *st, mr_err *e)
{
	return run_fresh(episode_open, episode_close, ee, so->as, so->nsteps,
			 ee->k, c, st, e);
}

static void note(const mr_suite_opts *so, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note(const mr_suite_opts *so, const char *fmt, ...)
{
	if (so->quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "policy-eval: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ------------------------------------------------------------------------
 * The uniform random reference
 */

/* Sampled reference: episode k's controller is seeded seed + 7919 (k + 1)
 * (a prime step: no two episodes, and no episode and the "random"
 * baseline seeded seed, share a generator). */
#define RANDOM_REF_SEED_STEP 7919u

/* A sweep of every joint action, when actions are settings. 1 when it
 * worked; else 0 and why (empty for incremental actions). */
static int try_sweep(const mr_random_ref *r, mr_sweep *sw, mr_err *why)
{
	memset(sw, 0, sizeof *sw);
	if (r->as->incremental)
		return 0;
	long nj = mr_action_joint_count(r->as, 1L << 16);
	if (!nj) {
		mr_errf(why, MR_EXIT_FAIL, "more than %ld joint actions",
			1L << 16);
		return 0;
	}
	mr_vecenv *v = r->open(r->ctx, (int)nj, why);
	if (!v)
		return 0;
	int rc = mr_eval_sweep(v, r->as, r->nsteps, sw, why);
	r->close(r->ctx, v);
	return rc == 0;
}

/* One sampled episode on a fresh environment (r->episode NULL). */
static int fresh_episode(const mr_random_ref *r, mr_controller *c,
			 double *mean, mr_err *e)
{
	mr_steps st;
	memset(&st, 0, sizeof st);
	int rc = run_fresh(r->open, r->close, r->ctx, r->as, r->nsteps, 0,
			   c, &st, e);
	if (rc == 0) {
		double half;
		mr_mean_ci(st.reward, st.n, mean, &half);
	}
	mr_steps_free(&st);
	return rc;
}

int mr_random_reference(const mr_random_ref *r, mr_sweep *sw, mr_err *why,
			double *out, mr_err *e)
{
	mr_sweep own;
	mr_err reason = {0};
	mr_sweep *s = sw ? sw : &own;
	if (try_sweep(r, s, &reason)) {
		*out = mr_sweep_random_mean(s);
		if (!sw)
			mr_sweep_free(s);
		return 1;
	}
	if (why)
		*why = reason;
	if (r->episodes < 1)
		return mr_errf(e, MR_EXIT_FAIL, "random reference: %d "
			       "episodes", r->episodes);
	double sum = 0;
	for (int k = 0; k < r->episodes; k++) {
		mr_controller c;
		uint64_t seed = r->seed +
				RANDOM_REF_SEED_STEP * (uint64_t)(k + 1);
		mr_ctl_random(&c, "random-reference", seed);
		double m;
		int rc = r->episode ? r->episode(r->episode_ctx, &c, &m, e)
				    : fresh_episode(r, &c, &m, e);
		if (rc != 0)
			return -1;
		sum += m;
	}
	*out = sum / r->episodes;
	return 0;
}

/* ------------------------------------------------------------------------
 * The suite
 */

/* What the suite knows of an episode before its runs. */
typedef struct {
	double r_opt, r_random;
	double r_ext;     /* the optimum's mean from so->optimal_mean, or NaN */
	double svc;       /* the autoscaler's service time, or NaN */
	int32_t *table;   /* the sweep's per-step optimum, or NULL */
	int swept;
} suite_refs;

/* Every baseline name of the list, checked before any work. */
static int check_baselines(const char *list, mr_err *e)
{
	char *copy = mr_xstrdup(list), *save = NULL;
	int rc = 0;
	for (char *b = strtok_r(copy, ",", &save); b && rc == 0;
	     b = strtok_r(NULL, ",", &save)) {
		double t;
		rc = parse_baseline(b, &t, e);
	}
	free(copy);
	return rc;
}

/* Episode ee->k's references: from the sweep when every environment walks
 * the same states (exact optimum, exact random mean, the autoscaler's
 * service time); with random load levels or parameters it cannot, and
 * they come from runs instead. ask_ext: ask so->optimal_mean too. */
static int suite_references(const mr_suite_opts *so, episode_env *ee,
			    int ask_ext, suite_refs *rf, mr_err *e)
{
	const mr_action_space *as = so->as;
	free(rf->table);
	memset(rf, 0, sizeof *rf);
	rf->r_opt = rf->r_random = rf->r_ext = rf->svc = NAN;
	if (ask_ext && so->optimal_mean &&
	    so->optimal_mean(ee->ctx, ee->k, &rf->r_ext, e) != 0)
		return -1;
	rf->r_opt = rf->r_ext;
	mr_random_ref r = {
		.as = as, .nsteps = so->nsteps, .seed = so->seed,
		.open = episode_open, .close = episode_close, .ctx = ee,
		.episodes = so->random_episodes > 0 ? so->random_episodes : 10};
	mr_sweep sw;
	mr_err why = {0};
	int rc = mr_random_reference(&r, &sw, &why, &rf->r_random, e);
	if (rc < 0)
		return -1;
	rf->swept = rc == 1;
	if (rf->swept) {
		rf->table = mr_xcalloc((size_t)so->nsteps * (size_t)as->ncomp,
				       sizeof *rf->table);
		rf->r_opt = mr_sweep_best(&sw, as, rf->table);
		rf->svc = mr_sweep_service_time(&sw, as, so->noop);
		mr_sweep_free(&sw);
	} else if (!as->incremental && ee->k == 0) {
		note(so, "no exact sweep (%s); references from runs", why.msg);
	}
	return 0;
}

/* Calibration for the autoscaler without a sweep: the no-op configuration
 * with the most cores; its smallest response time is the service time of
 * one request with no queueing, times those cores its CPU (as
 * mr_sweep_service_time). */
static int calibrate(const mr_suite_opts *so, episode_env *ee, double *svc,
		     mr_err *e)
{
	const mr_action_space *as = so->as;
	int32_t cal[MR_MAX_COMPONENTS];
	memcpy(cal, so->noop, (size_t)as->ncomp * sizeof *cal);
	int ci = as->cores;
	for (int j = 0; j < as->nchoices[ci]; j++)
		if (as->values[ci][j] > as->values[ci][cal[ci]])
			cal[ci] = j;
	mr_controller cc;
	mr_steps cs;
	memset(&cs, 0, sizeof cs);
	mr_ctl_fixed(&cc, "calibration", cal, as->ncomp);
	if (run_one(so, ee, &cc, &cs, e) != 0) {
		mr_steps_free(&cs);
		return -1;
	}
	*svc = INFINITY;
	for (long t = 0; t < cs.n; t++)
		if (cs.delay[t * cs.nservices] > 0 &&
		    cs.delay[t * cs.nservices] < *svc)
			*svc = cs.delay[t * cs.nservices];
	*svc *= as->values[ci][cal[ci]];
	mr_steps_free(&cs);
	return 0;
}

/* The policy (if any) and the baselines of list (checked) into ctl;
 * returns how many, and the optimum's index in *opt_idx (-1: none). */
static int add_controllers(const mr_suite_opts *so, char *list,
			   const suite_refs *rf, mr_controller *ctl,
			   int *opt_idx)
{
	int nctl = 0;
	*opt_idx = -1;
	if (so->policy)
		mr_ctl_func(&ctl[nctl++],
			    so->policy_name ? so->policy_name : "ppo",
			    so->policy, so->policy_ctx);
	char *save = NULL;
	for (char *b = strtok_r(list, ",", &save); b && nctl < MAX_CTL;
	     b = strtok_r(NULL, ",", &save)) {
		double target;
		parse_baseline(b, &target, NULL);
		mr_controller *c = &ctl[nctl];
		if (!strcmp(b, "optimal")) {
			if (so->optimal) {
				mr_ctl_env(c, b, so->optimal, so->optimal_ctx);
			} else if (rf->table) {
				mr_ctl_table(c, b, rf->table, so->nsteps);
			} else {
				note(so, "%s: no per-step optimum; skipped", b);
				continue;
			}
			*opt_idx = nctl;
		} else if (!strcmp(b, "noop")) {
			mr_ctl_fixed(c, b, so->noop, so->as->ncomp);
		} else if (!strcmp(b, "random")) {
			mr_ctl_random(c, b, so->seed);
		} else {
			mr_err he;
			if (mr_ctl_hpa(c, b, so->as, so->noop, target, rf->svc,
				       &he) != 0 ||
			    mr_ctl_hpa_window(c, so->hpa_window > 0
						      ? so->hpa_window : 1,
					      &he) != 0) {
				note(so, "%s; skipped", he.msg);
				continue;
			}
		}
		nctl++;
	}
	return nctl;
}

/* The optimum's own run (its last nsteps steps, episode ee->k) is the
 * reference its steps show; the sweep's and the simulator's figures are
 * cross-checks. */
static void settle_optimum(const mr_suite_opts *so, const mr_steps *opt,
			   long n0, suite_refs *rf)
{
	double m, h;
	mr_mean_ci(opt->reward + n0, opt->n - n0, &m, &h);
	if (rf->swept && fabs(m - rf->r_opt) > 1e-6 * (1 + fabs(m)))
		note(so, "warning: optimum run %.9g, sweep %.9g", m, rf->r_opt);
	if (isfinite(rf->r_ext) && fabs(m - rf->r_ext) > 1e-6 * (1 + fabs(m)))
		note(so, "warning: optimum run %.9g, simulator's mean %.9g", m,
		     rf->r_ext);
	rf->r_opt = m;
}

/* The per-step CSVs and the summary (recorded in w for removal); r_opt,
 * r_random: the references of each of the ne episodes. */
static int write_results(const mr_suite_opts *so, const mr_controller *ctl,
			 const mr_steps *steps, int nctl, int opt_idx, int ne,
			 const double *r_opt, const double *r_random,
			 written *w, mr_err *e)
{
	mr_summary rows[MAX_CTL];
	for (int i = 0; i < nctl; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/steps-%.*s.csv", so->outdir,
			 (int)sizeof ctl[i].name, ctl[i].name);
		if (mr_steps_write(path, so->as, &steps[i], e) != 0)
			return -1;
		written_add(w, path);
		mr_summarise_episodes(&steps[i], ctl[i].name, ne, r_opt,
				      r_random,
				      opt_idx >= 0 ? &steps[opt_idx] : NULL,
				      &rows[i]);
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/summary.csv", so->outdir);
	if (mr_summary_write(path, so->objective, so->pattern, so->seed, rows,
			     nctl, e) != 0)
		return -1;
	for (int i = 0; i < nctl && !so->quiet; i++)
		fprintf(stderr, "policy-eval: %-8s mean reward %.4f +- %.4f, "
				"score %.3f +- %.3f, bound met %.1f%% (%d "
				"episode%s)\n",
			rows[i].policy, rows[i].mean_reward,
			ne > 1 ? rows[i].episode_reward_ci95 : rows[i].ci95,
			rows[i].norm_score,
			ne > 1 ? rows[i].norm_score_ci95 : 0.0,
			rows[i].bound_met_pct, ne, ne > 1 ? "s" : "");
	return 0;
}

/* Episode ee->k: its references, the controllers (made on episode 0,
 * where the autoscaler's service time is measured), every run. */
static int suite_episode(const mr_suite_opts *so, episode_env *ee,
			 char *list, suite_refs *rf, mr_controller *ctl,
			 int *nctl, int *opt_idx, mr_steps *steps,
			 double *r_opt, double *r_random, mr_err *e)
{
	const mr_action_space *as = so->as;
	/* the simulator's optimum: a cross-check on the first episode (it
	 * may solve the whole problem again), the reference on every one
	 * when the optimum does not run */
	if (suite_references(so, ee, ee->k == 0 || *opt_idx < 0, rf, e))
		return -1;
	if (ee->k == 0) {
		if (!isfinite(rf->svc) && as->cores >= 0 && !as->incremental &&
		    calibrate(so, ee, &rf->svc, e))
			return -1;
		*nctl = add_controllers(so, list, rf, ctl, opt_idx);
	} else if (*opt_idx >= 0 && !so->optimal) {
		if (!rf->table)
			return mr_errf(e, MR_EXIT_FAIL, "episode %d: no "
				       "per-step optimum", ee->k);
		mr_ctl_table(&ctl[*opt_idx], "optimal", rf->table, so->nsteps);
	}
	long n0 = *opt_idx >= 0 ? steps[*opt_idx].n : 0;
	for (int i = 0; i < *nctl; i++)
		if (run_one(so, ee, &ctl[i], &steps[i], e) != 0)
			return -1;
	if (*opt_idx >= 0)
		settle_optimum(so, &steps[*opt_idx], n0, rf);
	if (!isfinite(rf->r_opt))
		return mr_errf(e, MR_EXIT_FAIL, "no optimum to normalise "
			       "against (add 'optimal' to the baselines)");
	r_opt[ee->k] = rf->r_opt;
	r_random[ee->k] = rf->r_random;
	return 0;
}

int mr_eval_suite(const mr_suite_opts *so, mr_episode_opener open,
		  mr_env_closer close, void *ctx, mr_err *e)
{
	mr_controller ctl[MAX_CTL];
	mr_steps steps[MAX_CTL];
	int nctl = 0, rc = -1, opt_idx = -1;
	int ne = so->episodes > 0 ? so->episodes : 1;
	suite_refs rf = {.r_opt = NAN, .r_random = NAN, .svc = NAN};
	written w = {0};
	episode_env ee = {.open = open, .close = close, .ctx = ctx};
	char *list = mr_xstrdup(so->baselines ? so->baselines : "");
	double *r_opt = mr_xcalloc((size_t)ne, sizeof *r_opt);
	double *r_random = mr_xcalloc((size_t)ne, sizeof *r_random);
	memset(steps, 0, sizeof steps);

	if (check_baselines(list, e))
		goto out;
	for (ee.k = 0; ee.k < ne; ee.k++)
		if (suite_episode(so, &ee, list, &rf, ctl, &nctl, &opt_idx,
				  steps, r_opt, r_random, e))
			goto out;
	if (write_results(so, ctl, steps, nctl, opt_idx, ne, r_opt, r_random,
			  &w, e))
		goto out;
	rc = 0;
out:
	written_free(&w, rc != 0);
	for (int i = 0; i < MAX_CTL; i++)
		mr_steps_free(&steps[i]);
	free(rf.table);
	free(r_opt);
	free(r_random);
	free(list);
	return rc;
}
