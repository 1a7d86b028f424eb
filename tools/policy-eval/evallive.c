/* evallive.c - `policy-eval live`: the control loop against a running
 * testbed, as one stage of a pipe:
 *
 *   trace-collect --follow ... | policy-eval live --act P -o DIR OBJ | actuate ...
 *
 * Each trace row on stdin is one monitoring window. The loop reads the
 * state from it (load per service from max_l<j>, and for incremental
 * objectives the configuration from the action columns), prints the chosen
 * action on stdout as one line "col=value,..." in the trace's column names
 * (p1=80,c1=1) and flushes, discards --skip rows (the settling time), and
 * takes the next row as the outcome of that action: its measured targets
 * (d1, ...) go through the objective's own reward (sim-env's se_outcome),
 * so live and simulated rewards are the same function.
 *
 * What it does not do: talk HTTP (trace-collect and actuate do), or run
 * baselines side by side (a testbed runs one controller at a time: run the
 * loop once per controller with --baseline).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evaluate.h"
#include "simenv.h"
#include "evallive.h"
#include "policy.h"
#include "simenv_impl.h"

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* The trace column that carries action a: a feature that is exactly the
 * action's variable (c1 = c), else the action's own name. */
static const char *action_column(const mr_objective *o, int a)
{
	for (int i = 0; i < o->nfeat; i++) {
		const se_expr *x = &o->feat[i];
		if (x->n == 1 && x->ins[0].op == SE_VAR &&
		    x->ins[0].slot == o->act[a].slot)
			return o->feat_name[i];
	}
	return o->act[a].name;
}

typedef struct {
	const mr_objective *o;
	se_sim *sim;
	mr_action_space as;
	int nload, ntarget, ncfg;
	/* selected columns: loads, targets, [cl per target], [config] */
	const char *cols[64];
	int ncols, cl_col[SE_MAX_TARGETS];
	double timeout;
} live_ctx;

static void lc_add(live_ctx *lc, const char *name)
{
	for (int i = 0; i < lc->ncols; i++)
		if (!strcmp(lc->cols[i], name))
			return;
	lc->cols[lc->ncols++] = name;
}

static int lc_index(const live_ctx *lc, const char *name)
{
	for (int i = 0; i < lc->ncols; i++)
		if (!strcmp(lc->cols[i], name))
			return i;
	return -1;
}

/* State of a row: loads and (incremental) configuration indices. */
static int row_state(const live_ctx *lc, const double *row, size_t line,
		     se_state *st, mr_err *e)
{
	const mr_objective *o = lc->o;
	memset(st, 0, sizeof *st);
	for (int j = 0; j < o->nserv; j++)
		st->load[j] = row[j];
	if (o->incremental)
		for (int a = 0; a < o->nact; a++) {
			const char *col = action_column(o, a);
			double v = row[lc_index(lc, col)];
			int k = -1;
			for (int q = 0; q < o->act[a].nvalues; q++)
				if (fabs(o->act[a].values[q] - v) <=
				    1e-9 * (1 + fabs(v)))
					k = q;
			if (k < 0)
				return mr_errf(e, MR_EXIT_DATA,
					       "stdin:%zu: column '%s': %g is "
					       "not a value of action '%s'",
					       line, col, v, o->act[a].name);
			st->cidx[a] = k;
		}
	return 0;
}

static void policy_act(void *ctx, const float *obs, const uint8_t *mask,
		       int32_t *action)
{
	mr_policy_act(ctx, obs, mask, action);
}

static void usage_error(const char *prog, const char *msg)
{
	fprintf(stderr, "%s: live: %s\n(see %s --help)\n", prog, msg, prog);
	exit(MR_EXIT_USAGE);
}

int mr_eval_live_main(const char *prog, int argc, char **argv)
{
	static const struct option lo[] = {
		{"act", required_argument, 0, 'a'},
		{"baseline", required_argument, 0, 'B'},
		{"name", required_argument, 0, 'N'},
		{"periods", required_argument, 0, 'n'},
		{"skip", required_argument, 0, 'k'},
		{"model", required_argument, 0, 'M'},
		{"noop", required_argument, 0, 'O'},
		{"service-time", required_argument, 0, 'T'},
		{"timeout", required_argument, 0, 't'},
		{"seed", required_argument, 0, 's'},
		{"output", required_argument, 0, 'o'},
		{"quiet", no_argument, 0, 'q'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0}};
	const char *pol_path = NULL, *baseline = NULL, *name = NULL,
		   *model = NULL, *noop_spec = NULL, *outdir = NULL;
	long periods = -1, skip = 0;
	double svc = NAN, timeout = 20;
	uint64_t seed = 1;
	int quiet = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "a:n:o:qh", lo, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'a': pol_path = optarg; break;
		case 'B': baseline = optarg; break;
		case 'N': name = optarg; break;
		case 'n': periods = strtol(optarg, &end, 10);
			  if (*end || periods < 1) usage_error(prog, "--periods must be >= 1");
			  break;
		case 'k': skip = strtol(optarg, &end, 10);
			  if (*end || skip < 0) usage_error(prog, "--skip must be >= 0");
			  break;
		case 'M': model = optarg; break;
		case 'O': noop_spec = optarg; break;
		case 'T': svc = strtod(optarg, &end);
			  if (*end || !(svc > 0)) usage_error(prog, "--service-time must be > 0");
			  break;
		case 't': timeout = strtod(optarg, &end);
			  if (*end || !(timeout > 0)) usage_error(prog, "--timeout must be > 0");
			  break;
		case 's': seed = strtoull(optarg, &end, 10);
			  if (*end) usage_error(prog, "--seed needs an integer");
			  break;
		case 'o': outdir = optarg; break;
		case 'q': quiet = 1; break;
		case 'h':
			printf("see %s --help (live)\n", prog);
			return MR_EXIT_OK;
		default: usage_error(prog, "bad option");
		}
	}
	if (optind != argc - 1)
		usage_error(prog, "needs exactly one OBJECTIVE file");
	if (!outdir)
		usage_error(prog, "needs -o DIR");
	if (!pol_path == !baseline)
		usage_error(prog, "needs exactly one of --act POLICY and --baseline NAME");
	struct stat sb;
	if (stat(outdir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		mr_fatal(prog, MR_EXIT_IO, "%s: not a directory", outdir);

	mr_err e = {0};
	mr_objective *o = mr_objective_load(argv[optind], &e);
	if (!o)
		mr_die(prog, &e);
	if (o->nparam > 0)
		mr_fatal(prog, MR_EXIT_USAGE,
			 "%s: live: objectives with [param] sections are not "
			 "supported (a live state has no parameter column)",
			 argv[optind]);
	live_ctx lc = {.o = o, .timeout = timeout};
	if (mr_objective_action_space(o, &lc.as, &e) != 0)
		mr_die(prog, &e);
	mr_simenv_opts so = {.nenvs = 1, .seed = seed, .eval = 1,
			     .model_path = model};
	mr_vecenv *v = mr_simenv_open(o, &so, &e);
	if (!v)
		mr_die(prog, &e);
	if (v->reset(v, seed, &e) != 0)
		mr_die(prog, &e);
	lc.sim = se_sim_of(v);

	/* Columns: loads first (row[j] is service j's load), then targets. */
	char loadcol[MR_MAX_SERVICES][24]; /* "max_l" + any int */
	for (int j = 0; j < o->nserv; j++) {
		snprintf(loadcol[j], sizeof loadcol[j], "max_l%d", j + 1);
		lc_add(&lc, loadcol[j]);
	}
	for (int t = 0; t < o->ntarget; t++)
		lc_add(&lc, o->target_name[t]);
	if (o->incremental)
		for (int a = 0; a < o->nact; a++)
			lc_add(&lc, action_column(o, a));

	/* The controller. */
	mr_policy *pol = NULL;
	mr_controller ctl;
	int32_t noop[MR_MAX_COMPONENTS] = {0};
	if (!noop_spec)
		noop_spec = mr_objective_param(o, "eval", "noop");
	if (noop_spec && mr_action_parse(&lc.as, noop_spec, noop, &e) != 0)
		mr_die(prog, &e);
	if (pol_path) {
		pol = mr_policy_load(pol_path, &e);
		if (!pol ||
		    mr_policy_check(pol, v->obs_dim, v->ncomp, v->nchoices, &e) != 0)
			mr_die(prog, &e);
		mr_ctl_func(&ctl, name ? name : "ppo", policy_act, pol);
	} else if (!strcmp(baseline, "noop")) {
		mr_ctl_fixed(&ctl, name ? name : baseline, noop, lc.as.ncomp);
	} else if (!strcmp(baseline, "random")) {
		mr_ctl_random(&ctl, name ? name : baseline, seed);
	} else if (!strncmp(baseline, "hpa", 3)) {
		char *end;
		long pct = strtol(baseline + 3, &end, 10);
		if (*end || pct < 1 || pct > 150)
			usage_error(prog, "--baseline hpaNN needs NN in 1..150");
		if (!isfinite(svc))
			usage_error(prog, "--baseline hpaNN needs --service-time S "
					  "(policy-eval sim estimates it from the model)");
		if (mr_ctl_hpa(&ctl, name ? name : baseline, &lc.as, noop,
			       (double)pct / 100, svc, &e) != 0)
			mr_die(prog, &e);
	} else {
		usage_error(prog, "--baseline is noop, random or hpaNN");
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	mr_csv_reader *rd = mr_csv_open_stream(stdin, "stdin", lc.cols,
					       (size_t)lc.ncols, 0, &e);
	if (!rd)
		mr_die(prog, &e);
	mr_steps st;
	mr_steps_init(&st, lc.as.ncomp, o->nserv);
	double row[64];
	size_t line;
	int rc = 0, have_prev = 0;
	int32_t a[MR_MAX_COMPONENTS], prev_a[MR_MAX_COMPONENTS];
	int32_t cfg[MR_MAX_COMPONENTS];
	mr_step_info prev_info;
	se_state cur;
	long t = 0, skipped = 0;
	float obs[64];
	uint8_t mask[4096];
	memset(mask, 1, sizeof mask);
	/* The first row is the state before any action. */
	while (!stop_flag && (rc = mr_csv_next(rd, row, &line, &e)) == 1) {
		if (have_prev && skipped < skip) { /* settling */
			skipped++;
			continue;
		}
		se_state now;
		if (row_state(&lc, row, line, &now, &e) != 0)
			mr_die(prog, &e);
		if (have_prev) {
			/* this window is the outcome of the previous action */
			double targets[SE_MAX_TARGETS];
			for (int k = 0; k < o->ntarget; k++) {
				double d = row[lc_index(&lc, o->target_name[k])];
				/* no success in the window: not a zero delay */
				targets[k] = d > 0 ? d : lc.timeout;
			}
			se_state at = now;
			if (o->incremental)
				memcpy(at.cidx, cur.cidx, sizeof at.cidx);
			mr_step_info info;
			double r = se_outcome(lc.sim, &at, cfg, targets, &info);
			double cores = lc.as.cores >= 0 && !lc.as.incremental
					       ? lc.as.values[lc.as.cores][a[lc.as.cores]]
					       : NAN;
			mr_steps_add(&st, a, &info, r, cores);
			prev_info = info;
			memcpy(prev_a, a, sizeof a);
			t++;
			if (!quiet)
				fprintf(stderr, "%s: period %ld: reward %.4g, "
						"d1 %.4g s, bound %s\n",
					prog, t, r, info.delay[0],
					info.bound_met ? "met" : "missed");
			if (periods > 0 && t >= periods)
				break;
		}
		/* choose and emit the next action */
		for (int j = 0; j < o->nserv; j++)
			obs[j] = (float)now.load[j];
		int k = o->nserv;
		if (o->incremental) {
			uint8_t *m = mask;
			for (int q = 0; q < o->nact; q++) {
				obs[k++] = (float)o->act[q].values[now.cidx[q]];
				m[0] = 1;
				m[1] = now.cidx[q] > 0;
				m[2] = now.cidx[q] + 1 < o->act[q].nvalues;
				m += 3;
			}
		}
		mr_ctl_act(&ctl, &lc.as, t, obs, mask,
			   have_prev ? &prev_info : NULL,
			   have_prev ? prev_a : NULL, a);
		se_action_cfg(lc.sim, &now, a, cfg);
		cur = now;
		for (int q = 0; q < o->nact; q++) {
			char nb[32];
			printf("%s%s=%s", q ? "," : "", action_column(o, q),
			       mr_fmt_double(nb, o->act[q].values[cfg[q]]));
		}
		putchar('\n');
		if (fflush(stdout) != 0 || ferror(stdout))
			mr_fatal(prog, MR_EXIT_IO, "stdout: %s (is actuate running?)",
				 strerror(errno));
		have_prev = 1;
		skipped = 0;
	}
	if (rc == -1)
		mr_die(prog, &e);
	mr_csv_close(rd);
	if (st.n == 0)
		mr_fatal(prog, stop_flag ? MR_EXIT_INTR : MR_EXIT_DATA,
			 "no complete control period (need at least 2 rows "
			 "on stdin%s)", skip ? " plus the skipped ones" : "");

	/* Outputs: the same files as sim, one controller. */
	char path[4096];
	snprintf(path, sizeof path, "%s/steps-%s.csv", outdir, ctl.name);
	if (mr_steps_write(path, &lc.as, &st, &e) != 0)
		mr_die(prog, &e);
	mr_summary sum;
	mr_summarise(&st, ctl.name, NAN, NAN, NULL, &sum);
	char sp[4096];
	snprintf(sp, sizeof sp, "%s/summary.csv", outdir);
	if (mr_summary_write(sp, mr_objective_name(o), "live", seed, &sum, 1,
			     &e) != 0) {
		unlink(path);
		mr_die(prog, &e);
	}
	if (!quiet)
		fprintf(stderr, "%s: live: %ld periods, mean reward %.4f +- %.4f, "
				"bound met %.1f%%\n",
			prog, st.n, sum.mean_reward, sum.ci95, sum.bound_met_pct);
	mr_steps_free(&st);
	if (pol)
		mr_policy_free(pol);
	v->close(v);
	free(v);
	mr_objective_free(o);
	return stop_flag && (periods < 0 || t < periods) ? MR_EXIT_INTR : MR_EXIT_OK;
}
