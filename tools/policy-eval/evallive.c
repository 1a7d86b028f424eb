/* evallive.c - `policy-eval live`: the control loop against a running
 * testbed, as one stage of a pipe:
 *
 *   trace-collect --follow ... | policy-eval live --act P -o DIR OBJ |
 *   actuate ...
 *
 * Each trace row on stdin is one monitoring window. The loop reads the
 * state from it (load per service from max_l<j>, and for incremental
 * objectives the configuration from the action columns), prints the chosen
 * action on stdout as one line "col=value,..." in the trace's column names
 * (p1=80,c1=1) and flushes, discards --skip rows (the settling time), and
 * takes the next row as the outcome of that action: its measured targets
 * (d1, ...) go through the objective's own reward (sim-env's live API,
 * mr_simenv_live_*), so live and simulated rewards are the same function.
 *
 * Nothing measured is lost: after every period DIR/steps-<name>.csv and
 * DIR/summary.csv are rewritten whole (temp file and rename), so a crash
 * or a kill leaves every finished period on disk. When actuate goes away
 * (EPIPE on stdout) the loop stops reading and exits 5 with those files
 * in place.
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
#include "evaladapt.h"
#include "evallive.h"
#include "policy.h"
#include "simenv.h"

/* Set by SIGINT/SIGTERM: a signal handler can reach nothing else. */
static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* The command line. */
typedef struct {
	const char *pol_path, *baseline, *name, *model, *noop_spec, *outdir;
	const char *objective;
	const char *util_column; /* hpaNN: measured utilisation, or NULL */
	const char *adapt;       /* --adapt SPEC (evaladapt.h), or NULL */
	long periods, skip; /* periods < 0: until end of input */
	long hpa_window;
	double svc, timeout;
	uint64_t seed;
	int quiet;
} live_opts;

/* What the loop runs: the objective on measured rows and a controller. */
typedef struct {
	mr_objective *o;
	mr_simenv_live *l;
	const mr_action_space *as;
	mr_controller ctl;
	mr_policy *pol;
	mr_adapt_live *adapt; /* --adapt: the rollout around pol */
	int util_col; /* hpaNN: the row's utilisation column, or -1 */
} live_run;

/* What the loop carries from one row to the next. */
typedef struct {
	int have_prev;                     /* an action is out */
	int32_t a[MR_MAX_COMPONENTS];      /* it */
	int32_t cfg[MR_MAX_COMPONENTS];    /* the configuration it leads to */
	int32_t prev_a[MR_MAX_COMPONENTS]; /* the last action measured */
	mr_step_info prev_info;            /* and its outcome */
	long t;                            /* periods measured */
} live_loop;

/* Returns 1 when --help was answered. */
static int parse_options(const char *prog, int argc, char **argv,
			 live_opts *op)
{
	static const struct option lo[] = {
		{"act", required_argument, 0, 'a'},
		{"adapt", required_argument, 0, 'D'},
		{"baseline", required_argument, 0, 'B'},
		{"name", required_argument, 0, 'N'},
		{"periods", required_argument, 0, 'n'},
		{"skip", required_argument, 0, 'k'},
		{"model", required_argument, 0, 'M'},
		{"noop", required_argument, 0, 'O'},
		{"service-time", required_argument, 0, 'T'},
		{"util-column", required_argument, 0, 'U'},
		{"hpa-window", required_argument, 0, 'W'},
		{"timeout", required_argument, 0, 't'},
		{"seed", required_argument, 0, 's'},
		{"output", required_argument, 0, 'o'},
		{"quiet", no_argument, 0, 'q'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0}};
	*op = (live_opts){.periods = -1, .svc = NAN, .timeout = NAN,
			  .seed = 1, .hpa_window = 1};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "a:n:o:qh", lo, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'a': op->pol_path = optarg; break;
		case 'D': op->adapt = optarg; break;
		case 'B': op->baseline = optarg; break;
		case 'N': op->name = optarg; break;
		case 'n':
			op->periods = strtol(optarg, &end, 10);
			if (*end || op->periods < 1)
				mr_usage_error(prog, "live: --periods must be >= 1");
			break;
		case 'k':
			op->skip = strtol(optarg, &end, 10);
			if (*end || op->skip < 0)
				mr_usage_error(prog, "live: --skip must be >= 0");
			break;
		case 'M': op->model = optarg; break;
		case 'O': op->noop_spec = optarg; break;
		case 'T':
			op->svc = strtod(optarg, &end);
			if (*end || !(op->svc > 0))
				mr_usage_error(prog, "live: --service-time must be > 0");
			break;
		case 'U': op->util_column = optarg; break;
		case 'W':
			op->hpa_window = strtol(optarg, &end, 10);
			if (*end || op->hpa_window < 1 ||
			    op->hpa_window > MR_HPA_MAX_WINDOW)
				mr_usage_error(prog, "live: --hpa-window must be "
					       "1..%d periods", MR_HPA_MAX_WINDOW);
			break;
		case 't':
			op->timeout = strtod(optarg, &end);
			if (*end || !(op->timeout > 0))
				mr_usage_error(prog, "live: --timeout must be > 0");
			break;
		case 's':
			op->seed = strtoull(optarg, &end, 10);
			if (*end)
				mr_usage_error(prog, "live: --seed needs an integer");
			break;
		case 'o': op->outdir = optarg; break;
		case 'q': op->quiet = 1; break;
		case 'h':
			printf("see %s --help (live)\n", prog);
			return 1;
		default: mr_usage_error(prog, "live: bad option");
		}
	}
	if (optind != argc - 1)
		mr_usage_error(prog, "live: needs exactly one OBJECTIVE file");
	if (!op->outdir)
		mr_usage_error(prog, "live: needs -o DIR");
	if (op->adapt && !op->pol_path)
		mr_usage_error(prog, "live: --adapt improves the --act policy");
	if (!op->pol_path == !op->baseline)
		mr_usage_error(prog, "live: needs exactly one of --act POLICY "
			       "and --baseline NAME");
	int hpa = op->baseline && !strncmp(op->baseline, "hpa", 3);
	if (!hpa && (op->util_column || op->hpa_window != 1 ||
		     isfinite(op->svc)))
		mr_usage_error(prog, "live: --util-column, --hpa-window and "
			       "--service-time are for --baseline hpaNN");
	op->objective = argv[optind];
	return 0;
}

static void policy_act(void *ctx, const float *obs, const uint8_t *mask,
		       int32_t *action)
{
	mr_policy_act(ctx, obs, mask, action);
}

/* The autoscaler's service time when --service-time is not given: the
 * same estimate as policy-eval sim's for its first test episode with the
 * run's seed (mr_sweep_service_time: the smallest delay the model gives
 * with the most cores, the rest as in noop). */
static double model_service_time(const char *prog, const live_opts *op,
				 const live_run *r, const int32_t *noop)
{
	mr_err e = {0};
	long nj = mr_action_joint_count(r->as, 1L << 20);
	long steps = mr_simenv_episode_length(r->o);
	mr_simenv_opts so = {.nenvs = (int)nj, .eval = 1,
			     .episodes = MR_EPISODES_TEST,
			     .model_path = op->model};
	so.seed = mr_simenv_episode_seed(op->seed, so.episodes, 0);
	if (nj < 1 || nj > 4096 || steps < 1)
		mr_fatal(prog, MR_EXIT_USAGE, "live: %s: cannot sweep the "
			 "model for a service time; give --service-time",
			 op->objective);
	mr_vecenv *v = mr_simenv_open(r->o, &so, &e);
	if (!v)
		mr_die(prog, &e);
	mr_sweep sw;
	if (v->reset(v, so.seed, &e) != 0 ||
	    mr_eval_sweep(v, r->as, steps, &sw, &e) != 0)
		mr_die(prog, &e);
	double svc = mr_sweep_service_time(&sw, r->as, noop);
	mr_sweep_free(&sw);
	v->close(v);
	free(v);
	if (!op->quiet)
		fprintf(stderr, "%s: live: service time %.4g s from the model\n",
			prog, svc);
	return svc;
}

/* The controller of --act or --baseline. */
static void setup_controller(const char *prog, const live_opts *op,
			     live_run *r)
{
	mr_err e = {0};
	const mr_action_space *as = r->as;
	const char *name = op->name, *noop_spec = op->noop_spec;
	int32_t noop[MR_MAX_COMPONENTS] = {0};
	if (!noop_spec)
		noop_spec = mr_objective_param(r->o, "eval", "noop");
	if (noop_spec && mr_action_parse(as, noop_spec, noop, &e) != 0)
		mr_die(prog, &e);
	if (op->pol_path) {
		r->pol = mr_policy_load(op->pol_path, &e);
		if (!r->pol ||
		    mr_policy_check(r->pol, mr_simenv_live_obs_dim(r->l),
				    as->ncomp, as->nchoices, &e) != 0)
			mr_die(prog, &e);
		if (op->adapt) { /* the rollout improving the policy */
			r->adapt = mr_adapt_live_new(r->o, op->model, r->pol,
						     as, op->adapt, op->seed,
						     &e);
			if (!r->adapt)
				mr_die(prog, &e);
			mr_ctl_func(&r->ctl, name ? name :
				    mr_adapt_live_name(r->adapt),
				    mr_adapt_live_act, r->adapt);
			return;
		}
		mr_ctl_func(&r->ctl, name ? name : "ppo", policy_act, r->pol);
		return;
	}
	const char *b = op->baseline;
	if (!name)
		name = b;
	if (!strcmp(b, "noop")) {
		mr_ctl_fixed(&r->ctl, name, noop, as->ncomp);
	} else if (!strcmp(b, "random")) {
		mr_ctl_random(&r->ctl, name, op->seed);
	} else if (!strncmp(b, "hpa", 3)) {
		char *end;
		long pct = strtol(b + 3, &end, 10);
		if (*end || pct < 1 || pct > 150)
			mr_usage_error(prog, "live: --baseline hpaNN needs NN "
				       "in 1..150");
		double svc = op->svc;
		if (!isfinite(svc) && !op->util_column)
			svc = model_service_time(prog, op, r, noop);
		else if (!isfinite(svc)) /* unused: util is measured */
			svc = 1;
		if (mr_ctl_hpa(&r->ctl, name, as, noop, (double)pct / 100,
			       svc, &e) != 0 ||
		    mr_ctl_hpa_window(&r->ctl, op->hpa_window, &e) != 0)
			mr_die(prog, &e);
	} else {
		mr_usage_error(prog, "live: --baseline is noop, random or "
			       "hpaNN");
	}
}

/* The delay a window without a success counts: --timeout, else the
 * objective's timeout1 or timeout (the served-share rule's), else 20 s. */
static double window_timeout(const live_opts *op, const mr_objective *o)
{
	if (isfinite(op->timeout))
		return op->timeout;
	const char *v = mr_objective_param(o, "reward", "timeout1");
	if (!v)
		v = mr_objective_param(o, "reward", "timeout");
	char *end;
	double t = v ? strtod(v, &end) : NAN;
	return t > 0 && isfinite(t) ? t : 20;
}

/* The objective, its live side and the controller. */
static void setup(const char *prog, const live_opts *op, live_run *r)
{
	struct stat sb;
	if (stat(op->outdir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		mr_fatal(prog, MR_EXIT_IO, "%s: not a directory", op->outdir);
	mr_err e = {0};
	memset(r, 0, sizeof *r);
	r->o = mr_objective_load(op->objective, &e);
	if (!r->o)
		mr_die(prog, &e);
	r->l = mr_simenv_live_open(r->o, op->model, window_timeout(op, r->o),
				   &e);
	if (!r->l)
		mr_die(prog, &e);
	if (!op->quiet && !mr_objective_param(r->o, "reward", "served1"))
		fprintf(stderr, "%s: live: warning: %s has no served-share "
				"rule ([reward] served1): dropped requests do "
				"not count against the bound\n",
			prog, op->objective);
	r->as = mr_simenv_live_actions(r->l);
	setup_controller(prog, op, r);
}

/* Row is the outcome of the action out: records the period. */
static void measure(const char *prog, const live_opts *op, live_run *r,
		    live_loop *lp, const double *row, mr_steps *st)
{
	const mr_action_space *as = r->as;
	mr_step_info info;
	double rew = mr_simenv_live_outcome(r->l, row, lp->cfg, &info);
	double cores = as->cores >= 0 && !as->incremental
			       ? as->values[as->cores][lp->a[as->cores]]
			       : NAN;
	mr_steps_add(st, lp->a, &info, rew, cores);
	lp->prev_info = info;
	memcpy(lp->prev_a, lp->a, sizeof lp->a);
	lp->t++;
	if (!op->quiet)
		fprintf(stderr, "%s: period %ld: reward %.4g, d1 %.4g s, "
				"served %.0f%%, bound %s\n",
			prog, lp->t, rew, info.delay[0],
			100 * (1 - info.dropped),
			info.bound_met ? "met" : "missed");
}

/* Chooses the action in state now and prints it for actuate. Returns -1
 * when actuate has gone (EPIPE); other write errors are fatal. */
static int act(const char *prog, live_run *r, live_loop *lp,
	       const mr_live_state *now, const double *row)
{
	float obs[64];
	uint8_t mask[MR_MAX_COMPONENTS * MR_MAX_CHOICES];
	mr_simenv_live_observe(r->l, now, obs, mask);
	if (r->util_col >= 0) /* the window just measured */
		r->ctl.hpa_util = row[r->util_col];
	mr_ctl_act(&r->ctl, r->as, lp->t, obs, mask,
		   lp->have_prev ? &lp->prev_info : NULL,
		   lp->have_prev ? lp->prev_a : NULL, lp->a);
	mr_simenv_live_config(r->l, now, lp->a, lp->cfg);
	for (int c = 0; c < r->as->ncomp; c++) {
		char nb[32];
		printf("%s%s=%s", c ? "," : "", mr_simenv_live_column(r->l, c),
		       mr_fmt_double(nb, mr_simenv_live_setting(r->l, c,
								lp->cfg[c])));
	}
	putchar('\n');
	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno == EPIPE)
			return -1;
		mr_fatal(prog, MR_EXIT_IO, "stdout: %s", strerror(errno));
	}
	lp->have_prev = 1;
	return 0;
}

/* The same files as sim, for one controller, rewritten whole after
 * every period: a crash leaves every finished period on disk. */
static void write_outputs(const char *prog, const live_opts *op,
			  const live_run *r, const mr_steps *st)
{
	mr_err e = {0};
	const char *name = r->ctl.name;
	char path[4096];
	snprintf(path, sizeof path, "%s/steps-%s.csv", op->outdir, name);
	if (mr_steps_write(path, r->as, st, &e) != 0)
		mr_die(prog, &e);
	mr_summary sum;
	mr_summarise(st, name, NAN, NAN, NULL, &sum);
	snprintf(path, sizeof path, "%s/summary.csv", op->outdir);
	if (mr_summary_write(path, mr_objective_name(r->o), "live", op->seed,
			     &sum, 1, &e) != 0)
		mr_die(prog, &e);
}

/* The run's last words on stderr. */
static void report(const char *prog, const mr_steps *st)
{
	mr_summary sum;
	mr_summarise(st, "", NAN, NAN, NULL, &sum);
	fprintf(stderr, "%s: live: %ld periods, mean reward %.4f +- %.4f, "
			"bound met %.1f%%, served %.1f%%, %.1f%% of periods "
			"below min_served\n",
		prog, st->n, sum.mean_reward, sum.ci95, sum.bound_met_pct,
		100 * sum.mean_served, sum.served_short_pct);
}

/* Reads rows until end of input, a signal, --periods periods or actuate's
 * end (*gone); the first row is the state before any action. Returns the
 * periods measured. */
static long run_loop(const char *prog, const live_opts *op, live_run *r,
		     mr_steps *st, int *gone)
{
	mr_err e = {0};
	const char *const *lcols, *cols[64];
	int ncols = mr_simenv_live_columns(r->l, &lcols); /* < 40 */
	memcpy(cols, lcols, (size_t)ncols * sizeof *cols);
	r->util_col = -1;
	if (r->ctl.kind == MR_CTL_HPA && op->util_column) {
		r->util_col = ncols;
		for (int i = 0; i < ncols; i++)
			if (!strcmp(cols[i], op->util_column))
				r->util_col = i;
		if (r->util_col == ncols)
			cols[ncols++] = op->util_column;
	}
	mr_csv_reader *rd = mr_csv_open_stream(stdin, "stdin", cols,
					       (size_t)ncols, 0, &e);
	if (!rd)
		mr_die(prog, &e);
	live_loop lp = {0};
	double row[64];
	size_t line;
	long skipped = 0;
	int rc = 0;
	while (!stop_flag && (rc = mr_csv_next(rd, row, &line, &e)) == 1) {
		if (lp.have_prev && skipped < op->skip) { /* settling */
			skipped++;
			continue;
		}
		mr_live_state now;
		if (mr_simenv_live_read(r->l, row, &now, &e) != 0) {
			mr_err_prefix(&e, "stdin:%zu", line);
			mr_die(prog, &e);
		}
		if (lp.have_prev) {
			measure(prog, op, r, &lp, row, st);
			write_outputs(prog, op, r, st);
			if (op->periods > 0 && lp.t >= op->periods)
				break;
		}
		if (act(prog, r, &lp, &now, row) != 0) {
			*gone = 1;
			break;
		}
		skipped = 0;
	}
	if (rc == -1)
		mr_die(prog, &e);
	mr_csv_close(rd);
	return lp.t;
}

int mr_eval_live_main(const char *prog, int argc, char **argv)
{
	live_opts op;
	if (parse_options(prog, argc, argv, &op))
		return MR_EXIT_OK;
	live_run r;
	setup(prog, &op, &r);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN); /* actuate's end is EPIPE, handled */
	mr_steps st;
	mr_steps_init(&st, r.as->ncomp, mr_simenv_live_nservices(r.l));
	int gone = 0;
	long t = run_loop(prog, &op, &r, &st, &gone);
	if (gone)
		mr_fatal(prog, MR_EXIT_REMOTE, "stdout: actuate stopped reading "
			 "(broken pipe) after %ld period%s%s", t,
			 t == 1 ? "" : "s",
			 t ? "; steps and summary written" : "");
	if (st.n == 0)
		mr_fatal(prog, stop_flag ? MR_EXIT_INTR : MR_EXIT_DATA,
			 "no complete control period (need at least 2 rows "
			 "on stdin%s)",
			 op.skip ? " plus the skipped ones" : "");
	if (!op.quiet)
		report(prog, &st);
	mr_steps_free(&st);
	if (r.adapt && !op.quiet)
		mr_adapt_live_report(r.adapt, prog);
	mr_adapt_live_free(r.adapt);
	if (r.pol)
		mr_policy_free(r.pol);
	mr_simenv_live_free(r.l);
	mr_objective_free(r.o);
	int cut_short = stop_flag && (op.periods < 0 || t < op.periods);
	return cut_short ? MR_EXIT_INTR : MR_EXIT_OK;
}
