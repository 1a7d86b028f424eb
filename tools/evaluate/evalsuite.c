/* evalsuite.c - one evaluation: the policy and the baselines on fresh
 * environments, per-step CSVs and the summary, all or nothing.
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

/* Runs one controller on a fresh single environment. */
static int run_one(const mr_suite_opts *so, mr_env_opener open,
		   mr_env_closer close, void *ctx, mr_controller *c,
		   mr_steps *st, mr_err *e)
{
	mr_vecenv *v = open(ctx, 1, e);
	if (!v)
		return mr_err_prefix(e, "%s", c->name);
	mr_steps_init(st, so->as->ncomp, v->nservices);
	int rc = mr_eval_run(v, so->as, c, so->nsteps, st, e);
	close(ctx, v);
	return rc;
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

int mr_eval_suite(const mr_suite_opts *so, mr_env_opener open,
		  mr_env_closer close, void *ctx, mr_err *e)
{
	const mr_action_space *as = so->as;
	mr_controller ctl[MAX_CTL];
	mr_steps steps[MAX_CTL];
	int nctl = 0, rc = -1, opt_idx = -1;
	double r_opt = so->r_opt_ref, r_random = NAN, svc = NAN;
	int32_t *table = NULL;
	written w = {0};
	char *list = mr_xstrdup(so->baselines ? so->baselines : "");
	memset(steps, 0, sizeof steps);

	/* Check every name before any work. */
	{
		char *copy = mr_xstrdup(list), *save = NULL;
		for (char *b = strtok_r(copy, ",", &save); b;
		     b = strtok_r(NULL, ",", &save)) {
			double t;
			if (parse_baseline(b, &t, e) != 0) {
				free(copy);
				goto out;
			}
		}
		free(copy);
	}

	/* The sweep gives exact references when every environment walks the
	 * same states; with random load levels or parameters it cannot, and
	 * the references come from runs instead. */
	int swept = 0;
	if (!as->incremental) {
		long nj = mr_action_joint_count(as, 1L << 16);
		mr_vecenv *v = nj ? open(ctx, (int)nj, e) : NULL;
		mr_sweep sw;
		mr_err se = {0};
		if (v && mr_eval_sweep(v, as, so->nsteps, &sw, &se) == 0) {
			table = mr_xcalloc((size_t)so->nsteps * (size_t)as->ncomp,
					   sizeof *table);
			r_opt = mr_sweep_best(&sw, as, table);
			r_random = mr_sweep_random_mean(&sw);
			svc = mr_sweep_service_time(&sw, as, so->noop);
			mr_sweep_free(&sw);
			swept = 1;
		} else if (!so->quiet) {
			note(so, "no exact sweep (%s); references from runs",
			     v ? se.msg : e->msg);
		}
		if (v)
			close(ctx, v);
	}
	if (!isfinite(svc) && as->cores >= 0 && !as->incremental) {
		/* Calibration for the autoscaler: the no-op configuration with
		 * the most cores; its smallest response time is the service
		 * time of one request with no queueing. */
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
		if (run_one(so, open, close, ctx, &cc, &cs, e) != 0) {
			mr_steps_free(&cs);
			goto out;
		}
		svc = INFINITY;
		for (long t = 0; t < cs.n; t++)
			if (cs.delay[t * cs.nservices] > 0 &&
			    cs.delay[t * cs.nservices] < svc)
				svc = cs.delay[t * cs.nservices];
		mr_steps_free(&cs);
	}

	if (so->policy) {
		mr_ctl_func(&ctl[nctl++],
			    so->policy_name ? so->policy_name : "ppo",
			    so->policy, so->policy_ctx);
	}
	char *save = NULL;
	for (char *b = strtok_r(list, ",", &save); b && nctl < MAX_CTL;
	     b = strtok_r(NULL, ",", &save)) {
		double target;
		parse_baseline(b, &target, NULL);
		mr_controller *c = &ctl[nctl];
		if (!strcmp(b, "optimal")) {
			if (so->optimal) {
				mr_ctl_env(c, b, so->optimal, so->optimal_ctx);
			} else if (table) {
				mr_ctl_table(c, b, table, so->nsteps);
			} else {
				note(so, "%s: no per-step optimum; skipped", b);
				continue;
			}
			opt_idx = nctl;
		} else if (!strcmp(b, "noop")) {
			mr_ctl_fixed(c, b, so->noop, as->ncomp);
		} else if (!strcmp(b, "random")) {
			mr_ctl_random(c, b, so->seed);
		} else {
			mr_err he;
			if (mr_ctl_hpa(c, b, as, so->noop, target, svc, &he) != 0) {
				note(so, "%s; skipped", he.msg);
				continue;
			}
		}
		nctl++;
	}

	for (int i = 0; i < nctl; i++)
		if (run_one(so, open, close, ctx, &ctl[i], &steps[i], e) != 0)
			goto out;

	if (opt_idx >= 0) {
		/* The optimum's own run is the reference its steps show. */
		double m, h;
		mr_mean_ci(steps[opt_idx].reward, steps[opt_idx].n, &m, &h);
		if (swept && fabs(m - r_opt) > 1e-6 * (1 + fabs(m)))
			note(so, "warning: optimum run %.9g, sweep %.9g", m, r_opt);
		if (isfinite(so->r_opt_ref) &&
		    fabs(m - so->r_opt_ref) > 1e-6 * (1 + fabs(m)))
			note(so, "warning: optimum run %.9g, simulator's mean %.9g",
			     m, so->r_opt_ref);
		r_opt = m;
	}
	if (!isfinite(r_opt)) {
		mr_errf(e, MR_EXIT_FAIL, "no optimum to normalise against "
			"(add 'optimal' to the baselines)");
		goto out;
	}
	if (!isfinite(r_random)) {
		/* Sampled reference: several episodes of uniform random. */
		int eps = so->random_episodes > 0 ? so->random_episodes : 10;
		double sum = 0;
		for (int k = 0; k < eps; k++) {
			mr_controller rc_;
			mr_steps rs;
			memset(&rs, 0, sizeof rs);
			mr_ctl_random(&rc_, "random-reference",
				      so->seed + 7919u * (uint64_t)(k + 1));
			if (run_one(so, open, close, ctx, &rc_, &rs, e) != 0) {
				mr_steps_free(&rs);
				goto out;
			}
			double m, h;
			mr_mean_ci(rs.reward, rs.n, &m, &h);
			sum += m;
			mr_steps_free(&rs);
		}
		r_random = sum / eps;
	}

	mr_summary rows[MAX_CTL];
	for (int i = 0; i < nctl; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/steps-%s.csv", so->outdir,
			 ctl[i].name);
		if (mr_steps_write(path, as, &steps[i], e) != 0)
			goto out;
		written_add(&w, path);
		mr_summarise(&steps[i], ctl[i].name, r_opt, r_random,
			     opt_idx >= 0 ? &steps[opt_idx] : NULL, &rows[i]);
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/summary.csv", so->outdir);
	if (mr_summary_write(path, so->objective, so->pattern, so->seed, rows,
			     nctl, e) != 0)
		goto out;
	for (int i = 0; i < nctl && !so->quiet; i++)
		fprintf(stderr, "policy-eval: %-8s mean reward %.4f +- %.4f, "
				"score %.3f, bound met %.1f%%\n",
			rows[i].policy, rows[i].mean_reward, rows[i].ci95,
			rows[i].norm_score, rows[i].bound_met_pct);
	rc = 0;
out:
	written_free(&w, rc != 0);
	for (int i = 0; i < MAX_CTL; i++)
		mr_steps_free(&steps[i]);
	free(table);
	free(list);
	return rc;
}
