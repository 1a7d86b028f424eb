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
 * With --schedule the loads are the experiment's own: period k runs step k
 * of the objective's test episode 0 for --seed (loads and [param]s, as the
 * simulator's state; --write-loads gives trace-collect the same loads,
 * one rate per window), so the state a controller sees is the one it is
 * judged in, as in the simulator. Beside each measurement the loop puts
 * the simulator's prediction for the same state and action, and it runs
 * the same controller on the simulator over the same loads (steps-sim-,
 * summary-sim.csv): periods-NAME.csv, gap-NAME.csv (MAE and bias per load
 * level). --fault applies testbed faults (slow, stopped nodes) through
 * the same action lines, and phases-NAME.csv reports before, during and
 * after them.
 *
 * What it does not do: talk HTTP (trace-collect and actuate do), or run
 * baselines side by side (a testbed runs one controller at a time: run the
 * loop once per controller with --baseline; pipelines/live.sh does).
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
	const char *loads_out;   /* --write-loads DIR */
	const char *fault_spec;
	long periods, skip; /* periods < 0: until end of input */
	long hpa_window;
	long validate, repeat; /* --validate: states, periods per action */
	long max_lag; /* --max-lag: rows a period waits for its settings */
	double svc, timeout, window;
	uint64_t seed;
	int quiet, scheduled;
	int realtime; /* --realtime: SCHED_FIFO priority, 0 = normal */
} live_opts;

/* What the loop runs: the objective on measured rows and a controller. */
typedef struct {
	mr_objective *o;
	mr_simenv_live *l;
	const mr_action_space *as;
	mr_controller ctl, sim_ctl; /* live, and its twin on the simulator */
	int optimal;                /* the simulator's optimum acts */
	mr_policy *pol;
	mr_adapt_live *adapt; /* --adapt: the rollout around pol */
	int util_col; /* hpaNN: the row's utilisation column, or -1 */
	mr_live_state *sched; /* --schedule: period k's state is sched[k-1] */
	long nsched;
	live_faults faults;
	int nfixed_printed;
	/* --validate: period k's action, and the simulator's reward for it */
	int32_t (*forced)[MR_MAX_COMPONENTS];
	double *forced_pred;
	live_recs recs;
	live_layout ly;
} live_run;

/* What the loop carries from one row to the next. */
typedef struct {
	int have_prev;                     /* an action is out */
	int32_t a[MR_MAX_COMPONENTS];      /* it */
	int32_t cfg[MR_MAX_COMPONENTS];    /* the configuration it leads to */
	int32_t prev_a[MR_MAX_COMPONENTS]; /* the last action measured */
	mr_step_info prev_info;            /* and its outcome */
	long t;                            /* periods measured */
	mr_live_state st;                  /* the state acted in */
	double t0;      /* the earliest row's arrival less its windows */
	long rows;      /* rows read since */
	double late;    /* how late the action out went (s) */
	long nlate;     /* actions more than half a window late */
	long nlagged;   /* rows passed over: they ran the previous
			 * configuration (the action came after their
			 * window opened) */
	long nstale;    /* --schedule: periods measured on such a row */
	int warned_load;
	long watch_failed; /* --adapt: windows the detector could not take */
	int fault_seen[LIVE_MAX_FAULTS];   /* its first period was logged */
	/* the simulated twin: its action, configuration, last outcome */
	int32_t sim_a[MR_MAX_COMPONENTS], sim_cfg[MR_MAX_COMPONENTS];
	mr_step_info sim_info;
	double sim_reward;
	mr_steps sim_steps;
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
		{"max-lag", required_argument, 0, 'g'},
		{"model", required_argument, 0, 'M'},
		{"noop", required_argument, 0, 'O'},
		{"service-time", required_argument, 0, 'T'},
		{"util-column", required_argument, 0, 'U'},
		{"hpa-window", required_argument, 0, 'W'},
		{"timeout", required_argument, 0, 't'},
		{"schedule", no_argument, 0, 'S'},
		{"write-loads", required_argument, 0, 'L'},
		{"window", required_argument, 0, 'w'},
		{"fault", required_argument, 0, 'F'},
		{"validate", required_argument, 0, 'v'},
		{"repeat", required_argument, 0, 'r'},
		{"seed", required_argument, 0, 's'},
		{"output", required_argument, 0, 'o'},
		{"realtime", required_argument, 0, 'Q'},
		{"quiet", no_argument, 0, 'q'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0}};
	*op = (live_opts){.periods = -1, .svc = NAN, .timeout = NAN,
			  .seed = 1, .hpa_window = 1, .window = NAN,
			  .repeat = 3};
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
		case 'g':
			op->max_lag = mr_arg_int(prog, "--max-lag", optarg, 0,
						 100);
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
		case 'S': op->scheduled = 1; break;
		case 'L': op->loads_out = optarg; op->scheduled = 1; break;
		case 'w':
			op->window = mr_arg_double(prog, "--window", optarg,
						   0.05, 3600);
			break;
		case 'F': op->fault_spec = optarg; break;
		case 'v':
			op->validate = mr_arg_int(prog, "--validate", optarg,
						  1, 10000);
			op->scheduled = 1;
			break;
		case 'r':
			op->repeat = mr_arg_int(prog, "--repeat", optarg, 1,
						1000);
			break;
		case 'o': op->outdir = optarg; break;
		case 'Q':
			op->realtime = (int)mr_arg_int(prog, "--realtime",
						       optarg, 0, 99);
			break;
		case 'q': op->quiet = 1; break;
		case 'h':
			printf("see %s --help (live)\n", prog);
			return 1;
		default: mr_usage_error(prog, "live: bad option");
		}
	}
	if (optind != argc - 1)
		mr_usage_error(prog, "live: needs exactly one OBJECTIVE file");
	if (op->loads_out) {
		op->objective = argv[optind];
		return 0;
	}
	if (!op->outdir)
		mr_usage_error(prog, "live: needs -o DIR");
	if (op->adapt && !op->pol_path)
		mr_usage_error(prog, "live: --adapt improves the --act policy");
	if (op->fault_spec && !isfinite(op->window))
		mr_usage_error(prog, "live: --fault needs --window S (the "
			       "monitoring window, to place its times)");
	if (op->validate && (op->pol_path || op->baseline))
		mr_usage_error(prog, "live: --validate is the controller: no "
			       "--act or --baseline");
	if (op->validate)
		op->baseline = "validate";
	if (op->max_lag && op->scheduled)
		mr_usage_error(prog, "live: --max-lag would shift the periods "
			       "off the --schedule's loads (a period is a "
			       "fixed number of windows there); use --skip");
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
 * with the most cores, times those cores; the rest as in noop). */
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
						     op->outdir, &e);
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
	} else if (!strcmp(b, "validate") && op->validate) {
		mr_ctl_fixed(&r->ctl, name, noop, as->ncomp); /* named only */
	} else if (!strcmp(b, "optimal")) {
		mr_ctl_fixed(&r->ctl, name, noop, as->ncomp); /* named only */
		r->optimal = 1;
	} else if (!strncmp(b, "hpa", 3)) {
		char *end;
		long pct = strtol(b + 3, &end, 10);
		if (*end || pct < 1 || pct > 150)
			mr_usage_error(prog, "live: --baseline hpaNN needs NN "
				       "in 1..150");
		/* the simulated twin estimates util from the model even
		 * when live measures it */
		double svc = op->svc;
		if (!isfinite(svc))
			svc = model_service_time(prog, op, r, noop);
		if (mr_ctl_hpa(&r->ctl, name, as, noop, (double)pct / 100,
			       svc, &e) != 0 ||
		    mr_ctl_hpa_window(&r->ctl, op->hpa_window, &e) != 0)
			mr_die(prog, &e);
	} else {
		mr_usage_error(prog, "live: --baseline is noop, random, "
			       "optimal or hpaNN");
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

/* Time (s from the start of the load) at which period p's action goes
 * out: after the first window (the state before any action), then every
 * 1 + skip windows. */
static double period_time(const live_opts *op, long p)
{
	return op->window * (double)(1 + (p - 1) * (1 + op->skip));
}

/* The first period whose action goes out at or after t. */
static long fault_period(const live_opts *op, double t)
{
	long p = 1;
	while (period_time(op, p) < t - 1e-9)
		p++;
	return p;
}

/* --validate N: up to N states of the load and [param] grid; in each, the
 * simulator's best action and its two runners-up, each for --repeat
 * periods (the schedule and the actions of every period). */
static void setup_validation(const char *prog, live_opts *op, live_run *r)
{
	mr_live_state *grid = mr_xcalloc((size_t)op->validate, sizeof *grid);
	long n = mr_simenv_live_grid(r->l, op->validate, op->seed, grid);
	if (n < 1)
		mr_usage_error(prog, "live: --validate needs a discrete load "
			       "pattern (levels, sequence): %s", op->objective);
	long per = 3 * op->repeat;
	r->nsched = op->periods = n * per;
	r->sched = mr_xcalloc((size_t)r->nsched, sizeof *r->sched);
	r->forced = mr_xcalloc((size_t)r->nsched, sizeof *r->forced);
	r->forced_pred = mr_xcalloc((size_t)r->nsched, sizeof *r->forced_pred);
	for (long i = 0; i < n; i++) {
		int32_t top[3][MR_MAX_COMPONENTS];
		double rew[3];
		int k = mr_simenv_live_top3(r->l, &grid[i], top, rew);
		for (long q = 0; q < per; q++) {
			long t = i * per + q;
			int rank = (int)(q / op->repeat) % (k ? k : 1);
			r->sched[t] = grid[i];
			r->forced_pred[t] = rew[rank];
			if (!r->as->incremental) {
				memcpy(r->forced[t], top[rank],
				       sizeof top[rank]);
				continue;
			}
			/* incremental: the configuration is set and held
			 * (every component's move is stay) */
			memcpy(r->sched[t].cfg, top[rank], sizeof top[rank]);
			for (int c = 0; c < r->as->ncomp; c++)
				r->forced[t][c] = MR_MOVE_STAY;
		}
	}
	free(grid);
}

/* --schedule: the states of the objective's test episode 0 for --seed,
 * one per period (--periods, default the episode's length). */
static void setup_schedule(const char *prog, live_opts *op, live_run *r)
{
	mr_err e = {0};
	if (!op->scheduled)
		return; /* no [param]s: checked before the model is read */
	if (op->validate) {
		setup_validation(prog, op, r);
		return;
	}
	if (op->periods < 0)
		op->periods = mr_simenv_episode_length(r->o);
	if (op->periods < 1)
		mr_usage_error(prog, "live: --schedule needs --periods");
	r->nsched = op->periods;
	r->sched = mr_xcalloc((size_t)r->nsched, sizeof *r->sched);
	if (mr_simenv_live_schedule(r->l, op->seed, r->nsched, r->sched,
				    &e) != 0)
		mr_die(prog, &e);
}

/* The column names of periods-NAME.csv. */
static void setup_layout(live_run *r)
{
	live_layout *ly = &r->ly;
	ly->name = r->ctl.name;
	ly->nserv = mr_simenv_live_nservices(r->l);
	ly->nparam = mr_simenv_live_nparams(r->l);
	if (ly->nparam > LIVE_MAX_PARAMS)
		ly->nparam = LIVE_MAX_PARAMS;
	for (int k = 0; k < ly->nparam; k++)
		ly->param_name[k] = mr_simenv_live_param_name(r->l, k);
	ly->ncomp = r->as->ncomp;
	for (int c = 0; c < ly->ncomp; c++)
		ly->setting_name[c] = mr_simenv_live_column(r->l, c);
}

/* --write-loads DIR: DIR/load<j>, service j's rate per monitoring window
 * (trace-collect --stream SVC=file:DIR/load<j>,W): the first window (the
 * state before any action) at period 1's loads, then each period's loads
 * for 1 + skip windows, then 3 windows more so the load outlasts the
 * last period. */
static int write_loads(const char *prog, live_opts *op)
{
	mr_err e = {0};
	live_run r;
	memset(&r, 0, sizeof r);
	r.o = mr_objective_load(op->objective, &e);
	if (!r.o || !(r.l = mr_simenv_live_open(r.o, op->model, 20, &e)))
		mr_die(prog, &e);
	r.as = mr_simenv_live_actions(r.l);
	setup_schedule(prog, op, &r);
	for (int j = 0; j < mr_simenv_live_nservices(r.l); j++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/load%d", op->loads_out, j + 1);
		mr_out o;
		if (mr_out_open(&o, path, &e) != 0)
			mr_die(prog, &e);
		long nwin = 1 + r.nsched * (1 + op->skip) + 3;
		for (long w = 0; w < nwin; w++) {
			long k = w == 0 ? 0 : (w - 1) / (1 + op->skip);
			char nb[32];
			if (k >= r.nsched)
				k = r.nsched - 1;
			fprintf(o.f, "%s\n",
				mr_fmt_double(nb, r.sched[k].load[j]));
		}
		if (mr_out_commit(&o, &e) != 0)
			mr_die(prog, &e);
	}
	free(r.sched);
	free(r.forced);
	free(r.forced_pred);
	mr_simenv_live_free(r.l);
	mr_objective_free(r.o);
	return MR_EXIT_OK;
}

/* The objective, its live side and the controller. */
static void setup(const char *prog, live_opts *op, live_run *r)
{
	struct stat sb;
	if (stat(op->outdir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		mr_fatal(prog, MR_EXIT_IO, "%s: not a directory", op->outdir);
	mr_err e = {0};
	memset(r, 0, sizeof *r);
	r->o = mr_objective_load(op->objective, &e);
	if (!r->o)
		mr_die(prog, &e);
	if (!op->scheduled && mr_objective_nparams(r->o) > 0)
		mr_usage_error(prog, "live: %s has [param]s, which no trace "
			       "row carries: use --schedule",
			       op->objective);
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
	r->sim_ctl = r->ctl; /* its own copy: HPA history, random stream */
	r->sim_ctl.hpa_util = NAN;
	setup_schedule(prog, op, r);
	if (op->fault_spec) {
		if (live_faults_parse(op->fault_spec, &r->faults, &e) != 0)
			mr_usage_error(prog, "live: %s", e.msg);
		for (int i = 0; i < r->faults.n; i++)
			r->faults.f[i].period = fault_period(op,
							     r->faults.f[i].t);
	}
	setup_layout(r);
}


/* The phase of period p: before the first fault, during one, after a
 * restore (LIVE_NONE in a run without faults). */
static int phase_of(const live_run *r, long p)
{
	if (!r->faults.n)
		return LIVE_NONE;
	int ph = LIVE_BEFORE;
	for (int i = 0; i < r->faults.n; i++)
		if (r->faults.f[i].period <= p)
			ph = r->faults.f[i].restore ? LIVE_AFTER : LIVE_DURING;
	return ph;
}

/* The log line of the first period measured after each fault. */
static void log_fault_seen(const char *prog, live_run *r, live_loop *lp,
			   const live_rec *x)
{
	for (int i = 0; i < r->faults.n; i++) {
		const live_fault *f = &r->faults.f[i];
		if (f->period > x->period || lp->fault_seen[i])
			continue;
		lp->fault_seen[i] = 1;
		fprintf(stderr, "%s: live: period %ld: first measured after "
				"'%s': served %.0f%% (predicted %.0f%%), d1 "
				"%.3g s (predicted %.3g s), bound %s\n",
			prog, x->period, f->what, 100 * (1 - x->live.dropped),
			100 * (1 - x->pred.dropped), x->live.delay[0],
			x->pred.delay[0], x->live.bound_met ? "met" : "missed");
	}
}

/* --adapt model=detect|refit: the window measured (row, under the action
 * lp->a taken in lp->st, at the loads measured) to the rollout's change
 * detector. A failure is reported once and the loop goes on (the rollout
 * keeps its model). */
static void watch_window(const char *prog, live_run *r, live_loop *lp,
			 const mr_live_state *at, const double *row)
{
	float obs[64];
	uint8_t mask[MR_MAX_COMPONENTS * MR_MAX_CHOICES];
	const char *const *cols;
	int ncols = mr_simenv_live_columns(r->l, &cols);
	mr_err e = {0};

	mr_simenv_live_observe(r->l, at, obs, mask);
	if (mr_adapt_live_window(r->adapt, obs, lp->a, row, cols, ncols, &e) &&
	    !lp->watch_failed++)
		fprintf(stderr, "%s: live: warning: period %ld: --adapt: %s\n",
			prog, lp->t, e.msg);
}

/* Row is the outcome of the action out: records the period, measured and
 * as the simulator predicts it, and the simulated twin's step. */
static void measure(const char *prog, const live_opts *op, live_run *r,
		    live_loop *lp, const double *row, mr_steps *st)
{
	const mr_action_space *as = r->as;
	mr_step_info info;
	double rew = mr_simenv_live_outcome_at(r->l, row, &lp->st, lp->cfg,
					       &info);
	double cores = as->cores >= 0 && !as->incremental
			       ? as->values[as->cores][lp->a[as->cores]]
			       : NAN;
	mr_steps_add(st, lp->a, &info, rew, cores);
	lp->prev_info = info;
	memcpy(lp->prev_a, lp->a, sizeof lp->a);
	lp->t++;
	live_rec x = {.period = lp->t, .phase = phase_of(r, lp->t),
		      .t = period_time(op, lp->t), .live = info,
		      .reward = rew};
	mr_live_state at = lp->st; /* the state, at the loads measured */
	const char *const *cols;
	mr_simenv_live_columns(r->l, &cols);
	for (int j = 0; j < r->ly.nserv; j++) {
		at.load[j] = x.load[j] = row[j]; /* loads come first */
		if (!lp->warned_load && r->sched &&
		    !mr_value_matches(row[j], lp->st.load[j])) {
			lp->warned_load = 1;
			fprintf(stderr, "%s: live: warning: period %ld: %s = "
					"%g, the schedule says %g (are "
					"trace-collect's loads --write-loads'?)\n",
				prog, lp->t, cols[j], row[j], lp->st.load[j]);
		}
	}
	for (int k = 0; k < r->ly.nparam; k++)
		x.param[k] = mr_simenv_live_param_value(r->l, k,
							lp->st.param[k]);
	for (int c = 0; c < as->ncomp; c++)
		x.setting[c] = mr_simenv_live_setting(r->l, c, lp->cfg[c]);
	x.reward_pred = mr_simenv_live_predict(r->l, &at, lp->cfg, &x.pred);
	if (r->adapt)
		watch_window(prog, r, lp, &at, row);
	double answered = mr_simenv_live_answered(r->l, row);
	x.measured = !(answered <= 0);
	x.sim_reward = lp->sim_reward;
	x.late = lp->late;
	x.sim_bound_met = lp->sim_info.bound_met;
	live_recs_add(&r->recs, &x);
	if (!op->quiet) {
		fprintf(stderr, "%s: period %ld: reward %.4g (predicted %.4g), "
				"d1 %.4g s (%.4g), served %.0f%% (%.0f%%), "
				"bound %s%s\n",
			prog, lp->t, rew, x.reward_pred, info.delay[0],
			x.pred.delay[0], 100 * (1 - info.dropped),
			100 * (1 - x.pred.dropped),
			info.bound_met ? "met" : "missed",
			x.measured ? "" : ", no request answered");
		log_fault_seen(prog, r, lp, &x);
	}
}

/* The action of one controller in state st: the simulator's optimum or
 * the controller's choice. */
static void choose(const char *prog, live_run *r, mr_controller *ctl,
		   const mr_live_state *st, long t, const mr_step_info *prev,
		   const int32_t *prev_a, int32_t *a)
{
	float obs[64];
	uint8_t mask[MR_MAX_COMPONENTS * MR_MAX_CHOICES];
	mr_err e = {0};
	mr_simenv_live_observe(r->l, st, obs, mask);
	if (r->forced) {
		memcpy(a, r->forced[t < r->nsched ? t : r->nsched - 1],
		       sizeof *r->forced);
		return;
	}
	if (r->optimal) {
		if (mr_simenv_live_optimal(r->l, st, a, &e) != 0)
			mr_die(prog, &e);
		return;
	}
	mr_ctl_act(ctl, r->as, t, obs, mask, prev, prev_a, a);
}

/* The simulated twin's step in the same state (its own configuration when
 * actions are incremental): its action and the simulator's outcome. */
static void sim_step(const char *prog, live_run *r, live_loop *lp,
		     const mr_live_state *now)
{
	mr_live_state st = *now;
	if (r->as->incremental && lp->t > 0 && !r->forced)
		memcpy(st.cfg, lp->sim_cfg, sizeof st.cfg);
	choose(prog, r, &r->sim_ctl, &st, lp->t, lp->t ? &lp->sim_info : NULL,
	       lp->t ? lp->sim_a : NULL, lp->sim_a);
	mr_simenv_live_config(r->l, &st, lp->sim_a, lp->sim_cfg);
	lp->sim_reward = mr_simenv_live_predict(r->l, &st, lp->sim_cfg,
						&lp->sim_info);
	const mr_action_space *as = r->as;
	double cores = as->cores >= 0 && !as->incremental
			       ? as->values[as->cores][lp->sim_a[as->cores]]
			       : NAN;
	mr_steps_add(&lp->sim_steps, lp->sim_a, &lp->sim_info, lp->sim_reward,
		     cores);
}

/* The extra keys of period p's line: the settings the objective holds
 * constant (first line only) and the faults that start then. */
static void print_extras(const char *prog, const live_opts *op,
			 live_run *r, long p)
{
	const char *col;
	double v;
	char nb[32];
	for (int k = 0; !r->nfixed_printed &&
			mr_simenv_live_fixed(r->l, k, &col, &v); k++)
		printf(",%s=%s", col, mr_fmt_double(nb, v));
	r->nfixed_printed = 1;
	for (int i = 0; i < r->faults.n; i++) {
		const live_fault *f = &r->faults.f[i];
		if (f->period != p)
			continue;
		printf(",%s", f->keys);
		if (!op->quiet)
			fprintf(stderr, "%s: live: t=%g s, period %ld: fault "
					"'%s' applied (%s)\n",
				prog, period_time(op, p), p, f->what, f->keys);
	}
}

/* Chooses the action in state now and prints it for actuate. Returns -1
 * when actuate has gone (EPIPE); other write errors are fatal. */
static int act(const char *prog, const live_opts *op, live_run *r,
	       live_loop *lp, const mr_live_state *now, const double *row)
{
	if (r->util_col >= 0) /* the window just measured */
		r->ctl.hpa_util = row[r->util_col];
	lp->st = *now;
	/* incremental: from the configuration running, unless --validate
	 * sets it */
	if (r->sched && r->as->incremental && lp->have_prev && !r->forced)
		memcpy(lp->st.cfg, lp->cfg, sizeof lp->st.cfg);
	choose(prog, r, &r->ctl, &lp->st, lp->t,
	       lp->have_prev ? &lp->prev_info : NULL,
	       lp->have_prev ? lp->prev_a : NULL, lp->a);
	mr_simenv_live_config(r->l, &lp->st, lp->a, lp->cfg);
	sim_step(prog, r, lp, &lp->st);
	for (int c = 0; c < r->as->ncomp; c++) {
		char nb[32];
		printf("%s%s=%s", c ? "," : "", mr_simenv_live_column(r->l, c),
		       mr_fmt_double(nb, mr_simenv_live_setting(r->l, c,
								lp->cfg[c])));
	}
	print_extras(prog, op, r, lp->t + 1);
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

/* One summary file of one controller's steps. */
static void write_summary(const char *prog, const char *path,
			  const live_run *r, const char *pattern,
			  uint64_t seed, const mr_steps *st)
{
	mr_err e = {0};
	mr_summary sum;
	mr_summarise(st, r->ctl.name, NAN, NAN, NULL, &sum);
	if (mr_summary_write(path, mr_objective_name(r->o), pattern, seed,
			     &sum, 1, &e) != 0)
		mr_die(prog, &e);
}

/* compare.csv: the controller live and on the simulator over the same
 * loads, side by side. */
static void write_compare(const char *prog, const char *path,
			  const live_run *r, const mr_steps *live,
			  const mr_steps *sim)
{
	mr_err e = {0};
	mr_summary a, b;
	mr_summarise(live, r->ctl.name, NAN, NAN, NULL, &a);
	mr_summarise(sim, r->ctl.name, NAN, NAN, NULL, &b);
	mr_out o;
	if (mr_out_open(&o, path, &e) != 0)
		mr_die(prog, &e);
	double v[] = {a.mean_reward, b.mean_reward, a.bound_met_pct,
		      b.bound_met_pct, a.mean_served, b.mean_served,
		      a.mean_cost, b.mean_cost};
	fprintf(o.f, "objective,policy,periods,live_mean_reward,"
		     "sim_mean_reward,live_bound_met_pct,sim_bound_met_pct,"
		     "live_mean_served,sim_mean_served,live_mean_cost,"
		     "sim_mean_cost\n%s,%s,%ld",
		mr_objective_name(r->o), r->ctl.name, live->n);
	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		char nb[32];
		fprintf(o.f, ",%s", isfinite(v[i]) ? mr_fmt_double(nb, v[i])
						   : "");
	}
	fputc('\n', o.f);
	if (mr_out_commit(&o, &e) != 0)
		mr_die(prog, &e);
}

/* The files of one controller, rewritten whole after every period: a
 * crash leaves every finished period on disk. */
static void write_outputs(const char *prog, const live_opts *op,
			  const live_run *r, const live_loop *lp,
			  const mr_steps *st)
{
	mr_err e = {0};
	const char *name = r->ctl.name, *d = op->outdir;
	char path[4096];
	snprintf(path, sizeof path, "%s/steps-%s.csv", d, name);
	if (mr_steps_write(path, r->as, st, &e) != 0)
		mr_die(prog, &e);
	/* the twin has acted for the period after the last measured one */
	mr_steps sim = lp->sim_steps;
	sim.n = st->n;
	snprintf(path, sizeof path, "%s/steps-sim-%s.csv", d, name);
	if (mr_steps_write(path, r->as, &sim, &e) != 0)
		mr_die(prog, &e);
	snprintf(path, sizeof path, "%s/summary-sim.csv", d);
	write_summary(prog, path, r, "sim", op->seed, &sim);
	snprintf(path, sizeof path, "%s/compare.csv", d);
	write_compare(prog, path, r, st, &sim);
	snprintf(path, sizeof path, "%s/periods-%s.csv", d, name);
	if (live_recs_write_periods(path, &r->recs, &r->ly, &e) != 0)
		mr_die(prog, &e);
	snprintf(path, sizeof path, "%s/gap-%s.csv", d, name);
	if (live_recs_write_gap(path, &r->recs, &r->ly, &e) != 0)
		mr_die(prog, &e);
	snprintf(path, sizeof path, "%s/phases-%s.csv", d, name);
	if (r->faults.n &&
	    live_recs_write_phases(path, &r->recs, &r->ly, &e) != 0)
		mr_die(prog, &e);
	char sumpath[4096];
	snprintf(path, sizeof path, "%s/validate.csv", d);
	snprintf(sumpath, sizeof sumpath, "%s/validate-summary.csv", d);
	if (r->forced &&
	    live_recs_write_validation(path, sumpath, &r->recs, &r->ly,
				       op->repeat, mr_objective_name(r->o),
				       &e) != 0)
		mr_die(prog, &e);
	/* last: a summary of n periods means their every file is written */
	snprintf(path, sizeof path, "%s/summary.csv", d);
	write_summary(prog, path, r, "live", op->seed, st);
}

/* The run's last words on stderr. */
static void report(const char *prog, const mr_steps *st, const char *what)
{
	mr_summary sum;
	mr_summarise(st, "", NAN, NAN, NULL, &sum);
	fprintf(stderr, "%s: %s: %ld periods, mean reward %.4f +- %.4f, "
			"bound met %.1f%%, served %.1f%%, %.1f%% of periods "
			"below min_served\n",
		prog, what, st->n, sum.mean_reward, sum.ci95,
		sum.bound_met_pct, 100 * sum.mean_served, sum.served_short_pct);
}

/* The columns rows must have: the objective's, and --util-column. */
static mr_csv_reader *open_rows(const char *prog, const live_opts *op,
				live_run *r)
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
	return rd;
}

/* The state period lp->t + 1 is acted in: the schedule's, or the row's. */
static void next_state(const char *prog, live_run *r, const live_loop *lp,
		       const double *row, size_t line, mr_live_state *now)
{
	mr_err e = {0};
	if (r->sched) {
		*now = r->sched[lp->t < r->nsched ? lp->t : r->nsched - 1];
		return;
	}
	if (mr_simenv_live_read(r->l, row, now, &e) != 0) {
		mr_err_prefix(&e, "stdin:%zu", line);
		mr_die(prog, &e);
	}
}

/* Reads rows until end of input, a signal, --periods periods or actuate's
 * end (*gone); the first row is the state before any action. Returns the
 * periods measured. */
static long run_loop(const char *prog, const live_opts *op, live_run *r,
		     live_loop *lp, mr_steps *st, int *gone)
{
	mr_err e = {0};
	mr_csv_reader *rd = open_rows(prog, op, r);
	double row[64];
	size_t line;
	long skipped = 0, lagged = 0;
	int rc = 0;
	while (!stop_flag && (rc = mr_csv_next(rd, row, &line, &e)) == 1) {
		/* row k comes k windows after row 0 when on time; the
		 * earliest of them (arrival - k windows) is the reference,
		 * and how late a row is, is how late its action goes out */
		double due = mr_now() - (double)lp->rows * op->window;
		if (!lp->rows++ || due < lp->t0)
			lp->t0 = due;
		lp->late = isfinite(op->window) ? due - lp->t0 : NAN;
		if (lp->have_prev && skipped < op->skip) { /* settling */
			skipped++;
			continue;
		}
		/* a row that has not run the action yet measures the one
		 * before: wait for the next, up to --max-lag of them */
		int stale = lp->have_prev &&
			    !mr_simenv_live_row_runs(r->l, row, lp->cfg);
		if (stale && lagged < op->max_lag) {
			lagged++;
			lp->nlagged++;
			continue;
		}
		if (lp->have_prev) {
			lp->nstale += stale;
			measure(prog, op, r, lp, row, st);
			write_outputs(prog, op, r, lp, st);
			if (op->periods > 0 && lp->t >= op->periods)
				break;
		}
		mr_live_state now;
		next_state(prog, r, lp, row, line, &now);
		if (lp->late > op->window / 2)
			lp->nlate++;
		if (act(prog, op, r, lp, &now, row) != 0) {
			*gone = 1;
			break;
		}
		skipped = lagged = 0;
	}
	if (rc == -1)
		mr_die(prog, &e);
	mr_csv_close(rd);
	return lp->t;
}

int mr_eval_live_main(const char *prog, int argc, char **argv)
{
	live_opts op;
	if (parse_options(prog, argc, argv, &op))
		return MR_EXIT_OK;
	if (op.loads_out)
		return write_loads(prog, &op);
	live_run r;
	setup(prog, &op, &r);
	mr_set_realtime(prog, op.realtime, op.quiet);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN); /* actuate's end is EPIPE, handled */
	mr_steps st;
	live_loop lp = {0};
	mr_steps_init(&st, r.as->ncomp, mr_simenv_live_nservices(r.l));
	mr_steps_init(&lp.sim_steps, r.as->ncomp,
		      mr_simenv_live_nservices(r.l));
	int gone = 0;
	long t = run_loop(prog, &op, &r, &lp, &st, &gone);
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
	if (!op.quiet) {
		report(prog, &st, "live");
		if (lp.nlate)
			fprintf(stderr, "%s: live: warning: %ld action%s went "
					"out more than half a window late (rows "
					"wait for their requests: periods-%s.csv, "
					"late_s)\n",
				prog, lp.nlate, lp.nlate == 1 ? "" : "s",
				r.ctl.name);
		if (lp.nstale)
			fprintf(stderr, "%s: live: warning: %ld period%s "
					"measured a row that still ran the "
					"previous configuration (its action "
					"came after the window opened; a "
					"larger --skip waits longer)\n",
				prog, lp.nstale, lp.nstale == 1 ? "" : "s");
		if (lp.nlagged)
			fprintf(stderr, "%s: live: warning: %ld window%s "
					"passed over: %s still ran the previous "
					"configuration (the action reached the "
					"system after it opened)\n",
				prog, lp.nlagged, lp.nlagged == 1 ? "" : "s",
				lp.nlagged == 1 ? "it" : "they");
		mr_steps sim = lp.sim_steps;
		sim.n = st.n;
		report(prog, &sim, "simulated, same loads");
	}
	mr_steps_free(&st);
	if (r.adapt && !op.quiet)
		mr_adapt_live_report(r.adapt, prog);
	mr_adapt_live_free(r.adapt);
	mr_steps_free(&lp.sim_steps);
	live_recs_free(&r.recs);
	free(r.sched);
	free(r.forced);
	free(r.forced_pred);
	if (r.pol)
		mr_policy_free(r.pol);
	mr_simenv_live_free(r.l);
	mr_objective_free(r.o);
	int cut_short = stop_flag && (op.periods < 0 || t < op.periods);
	return cut_short ? MR_EXIT_INTR : MR_EXIT_OK;
}
