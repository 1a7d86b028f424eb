/*
 * policy-eval - run a trained policy and the baselines on the simulator or
 * live against a testbed, write per-step CSVs and a summary; aggregate
 * summaries across seeds.
 *
 *   policy-eval sim --policy P.msgpack -o DIR OBJECTIVE
 *   trace-collect --follow ... | policy-eval live --act P.msgpack -o DIR OBJECTIVE | actuate ...
 *   policy-eval aggregate -o results/summary.csv results/delay/seed-1/eval-seen/summary.csv ...
 *
 * What this tool deliberately does not do: train (ppo-train), build the
 * simulator (sim-env), collect traces or apply actions (trace-collect,
 * actuate), or plot (the gnuplot scripts in pipelines).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "evaladapt.h"
#include "evallive.h"
#include "evaluate.h"
#include "meshrl.h"
#include "policy.h"
#include "simenv.h"

static const char *prog = "policy-eval";

static void usage(FILE *out)
{
	fprintf(out,
"usage: policy-eval sim [options] -o DIR OBJECTIVE\n"
"       policy-eval live --act POLICY [options] -o DIR OBJECTIVE  < trace rows > actions\n"
"       policy-eval aggregate -o OUT SUMMARY.csv...\n"
"\n"
"sim: run the policy (if given) and the baselines on the same --episodes test\n"
"episodes of the objective's load pattern (or --pattern) on the simulator:\n"
"episode k is reset with a seed drawn from (--seed, test set, k), disjoint\n"
"from ppo-train's training and validation episodes; a sequence file's test\n"
"episodes are fresh draws of its Markov chain (README, Evaluation protocol).\n"
"Write DIR/steps-<name>.csv per controller (one row per step, every\n"
"episode, column episode) and DIR/summary.csv (one row each; norm_score is\n"
"the mean of the episodes' scores, norm_score_ci95 its 95%% Student-t\n"
"half-width over episodes).\n"
"  -p, --policy FILE       trained policy (ppo-train's msgpack), named 'ppo'\n"
"      --model FILE        system model (default: the objective's)\n"
"      --pattern SPEC      load pattern override, e.g. sin:mean=8,amplitude=4,period=60\n"
"                          or levels:4,8,12 or a sequence file (default: the objective's)\n"
"      --label NAME        pattern name in the summary (seen; unseen with --pattern)\n"
"  -b, --baselines LIST    of optimal,noop,random,hpaNN (NN: utilisation target %%)\n"
"                          (default optimal,noop,hpa50,hpa80,random)\n"
"      --noop ACTION       the fixed configuration, e.g. p=80,c=1 (default: the\n"
"                          objective's [eval] noop, else every component's first value)\n"
"      --episodes N        test episodes per controller (10)\n"
"      --steps N           steps per episode (default: the episode's length)\n"
"      --seed S            the run's seed: test episodes, random baseline (1)\n"
"      --hpa-window N      hpaNN's scale-down stabilisation window, in steps (1)\n"
"      --model-after FILE  a system change: from step --change-at (0-based, within\n"
"      --change-at STEP    each episode) on, the simulator runs the model FILE;\n"
"                          the optimal baseline is then the new system's optimum\n"
"\n"
"baselines: optimal = the simulator's exact optimum in each state; noop = the\n"
"fixed configuration; random = uniform over allowed choices; hpaNN =\n"
"Kubernetes' HPA algorithm on cores (its replicas): desired = ceil(cores *\n"
"util / NN%%), cores kept when |util / NN%% - 1| <= 0.1, scale-up at once,\n"
"scale-down no lower than the highest desired value of the last\n"
"--hpa-window periods; util is the previous period's carried load *\n"
"service time / cores, where the service time (a request's CPU, in cores x\n"
"s) is the smallest response time the model gives with the most cores over\n"
"the test episode (no queueing) times those cores; other components stay\n"
"at the no-op configuration.\n"
"\n"
"live: read trace rows (trace-collect --follow) on stdin; the first is the\n"
"state; for each period print the action on stdout as one line\n"
"col=value,... in trace column names (p1=80,c1=1) for actuate, skip --skip\n"
"rows while the system settles, and take the next row as its outcome: the\n"
"objective's reward of the measured targets (d1...), with its served-share\n"
"rule (a window that answered less than min_served of its requests misses\n"
"the bound). After every period DIR/steps-<name>.csv and DIR/summary.csv\n"
"(pattern 'live', with mean_served and served_short_pct) are rewritten\n"
"whole, so a crash loses no finished period; beside them periods-NAME.csv\n"
"(measured and the simulator's prediction for the same state and action),\n"
"gap-NAME.csv (MAE, bias per load level), the same controller on the\n"
"simulator over the same loads (steps-sim-NAME.csv, summary-sim.csv) and\n"
"compare.csv. Ends after --periods periods,\n"
"at end of input (exit 0), or when actuate stops reading (exit 5).\n"
"  -a, --act FILE          the policy to run\n"
"      --baseline NAME     a baseline instead (noop, random, optimal, hpaNN)\n"
"      --adapt SPEC        improve the --act policy by rollout each period, as in\n"
"                          sim (below): model=known the --model throughout;\n"
"                          detect: a CUSUM on each measured window's targets\n"
"                          against --model, alarms reported; refit,trace=FILE:\n"
"                          also the forest refitted at an alarm (its file in -o)\n"
"      --schedule          period k runs step k of the objective's test episode 0\n"
"                          for --seed (loads and [param]s, the simulator's state);\n"
"                          the rows' loads must follow it (--write-loads)\n"
"      --write-loads DIR   write DIR/load<j>, service j's rate per window for\n"
"                          trace-collect --stream SVC=file:DIR/load<j>,W, and exit\n"
"      --window S          the monitoring window (late_s, --fault times)\n"
"      --validate N        the controller: in N states of the load and [param]\n"
"                          grid, the simulator's best action and two runners-up\n"
"                          (incremental: its three best configurations, each set\n"
"                          directly), --repeat R (3) periods each (validate.csv)\n"
"      --fault SPEC        testbed faults on the action lines, e.g. 't=60 node2\n"
"                          slow=4; t=120 node2 stop; t=180 restore' (phases-NAME.csv)\n"
"  -n, --periods N         control periods (default: until end of input)\n"
"      --skip N            rows discarded after each action (0)\n"
"      --max-lag N         incremental, without --schedule: rows still\n"
"                          showing the previous settings (the action came\n"
"                          after their window opened) are passed over too,\n"
"                          up to N more (0)\n"
"      --model FILE        system model (the simulator's reward code needs one)\n"
"      --noop ACTION       as in sim\n"
"      --util-column COL   hpaNN: util is the trace column COL (CPU used /\n"
"                          CPU allotted in the window, 0..)\n"
"      --service-time S    hpaNN without --util-column: util = carried load * S /\n"
"                          cores (default: S from the model, as in sim)\n"
"      --hpa-window N      hpaNN: scale-down stabilisation window, periods (1)\n"
"      --timeout S         delay counted for a window with no success (the\n"
"                          objective's timeout1 or timeout, else 20)\n"
"      --name NAME         controller name in the outputs (ppo)\n"
"\n"
"aggregate: per objective, pattern and policy, the mean and 95%% interval\n"
"(Student t) across runs of the normalised score, bound-met shares, mean\n"
"reward and cores, into OUT.\n"
"\n"
"common: -o, --output DIR|FILE, -q, --quiet, -h, --help, -V, --version;\n"
"sim and live: --realtime P runs at real-time priority P (SCHED_FIFO, 1-99;\n"
"needs root or CAP_SYS_NICE, else a warning), so that other jobs cannot\n"
"delay a decision (--adapt's decision times are wall clock)\n"
"exit codes: 0 ok, 1 failure, 2 usage, 3 bad data, 4 I/O, 5 actuate gone\n"
"(live), 130 interrupted\n"
"\n"
"example:\n"
"  policy-eval sim --policy models/delay/policy.msgpack \\\n"
"      --model models/delay/system.msgpack -o results/delay/eval-seen \\\n"
"      pipelines/objectives/delay.obj\n"
"\n"
"sim, online adaptation (issue 16): optimal, the base policy, random and\n"
"each rollout variant on the same test episodes, usually with a change:\n");
	fputs(mr_adapt_help, out);
	fprintf(out,
"  policy-eval sim --model before.msgpack --model-after after.msgpack \\\n"
"      --change-at 20 --adapt rollout:l=1 --adapt rollout:l=1,cw -o DIR \\\n"
"      pipelines/objectives/adapt-one.obj\n");
}

/* The output directory must exist (make creates it): policy-eval writes
 * files, not trees. */
static void check_dir(const char *dir)
{
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		mr_fatal(prog, MR_EXIT_IO, "%s: not a directory: %s", dir,
			 strerror(errno ? errno : ENOTDIR));
}

/* ------------------------------------------------------------------------
 * sim
 */
typedef struct {
	const mr_objective *o;
	mr_simenv_opts opts;  /* the test set; seed: the run's */
} sim_ctx;

/* Test episode k's options: its own reset seed. */
static mr_simenv_opts episode_opts(const sim_ctx *sc, int k, int nenvs)
{
	mr_simenv_opts o = sc->opts;
	o.nenvs = nenvs;
	o.seed = mr_simenv_episode_seed(sc->opts.seed, o.episodes, k);
	return o;
}

static mr_vecenv *sim_open(void *ctx, int k, int nenvs, mr_err *e)
{
	sim_ctx *sc = ctx;
	mr_simenv_opts o = episode_opts(sc, k, nenvs);
	mr_vecenv *v = mr_simenv_open(sc->o, &o, e);
	if (!v)
		return NULL;
	if (v->reset(v, o.seed, e) != 0) {
		v->close(v);
		free(v);
		return NULL;
	}
	return v;
}

static void sim_close(void *ctx, mr_vecenv *v)
{
	(void)ctx;
	v->close(v);
	free(v);
}

/* sim-env's own figure for test episode k, a cross-check of the
 * optimum's run. */
static int sim_optimal_mean(void *ctx, int k, double *mean, mr_err *e)
{
	sim_ctx *sc = ctx;
	mr_simenv_opts o = episode_opts(sc, k, 1);
	return mr_simenv_optimal_mean(sc->o, &o, mean, e);
}

static void policy_act(void *ctx, const float *obs, const uint8_t *mask,
		       int32_t *action)
{
	mr_policy_act(ctx, obs, mask, action);
}

/* sim --adapt: evaladapt.c runs it. */
static int cmd_adapt(mr_adapt_eval *ae, const sim_ctx *sc,
		     const mr_action_space *as, mr_policy *pol,
		     const int32_t *noop, const char *outdir,
		     const char *pattern, long steps, int episodes, int quiet)
{
	mr_err e = {0};
	ae->o = sc->o;
	ae->opts = sc->opts;
	ae->as = as;
	ae->pol = pol;
	ae->noop = noop;
	ae->outdir = outdir;
	ae->objective = mr_objective_name(sc->o);
	ae->pattern = pattern;
	ae->nsteps = steps ? steps : mr_simenv_episode_length(sc->o);
	ae->episodes = episodes;
	ae->quiet = quiet;
	int rc = mr_eval_adapt(ae, &e);
	if (pol)
		mr_policy_free(pol);
	mr_objective_free((mr_objective *)sc->o);
	if (rc != 0)
		mr_die(prog, &e);
	return MR_EXIT_OK;
}

static int cmd_sim(int argc, char **argv)
{
	static const struct option lo[] = {
		{"policy", required_argument, 0, 'p'},
		{"model", required_argument, 0, 'M'},
		{"pattern", required_argument, 0, 'P'},
		{"label", required_argument, 0, 'L'},
		{"baselines", required_argument, 0, 'b'},
		{"noop", required_argument, 0, 'N'},
		{"steps", required_argument, 0, 'S'},
		{"episodes", required_argument, 0, 'E'},
		{"seed", required_argument, 0, 's'},
		{"hpa-window", required_argument, 0, 'W'},
		{"model-after", required_argument, 0, 'A'},
		{"change-at", required_argument, 0, 'C'},
		{"adapt", required_argument, 0, 'D'},
		{"realtime", required_argument, 0, 'Q'},
		{"output", required_argument, 0, 'o'},
		{"quiet", no_argument, 0, 'q'},
		{"help", no_argument, 0, 'h'},
		{"version", no_argument, 0, 'V'},
		{0, 0, 0, 0}};
	const char *model_after = NULL;
	long change_at = -1;
	mr_adapt_eval ae = {0};
	const char *policy_path = NULL, *model = NULL, *pattern = NULL,
		   *label = NULL, *noop_spec = NULL, *outdir = NULL;
	const char *baselines = "optimal,noop,hpa50,hpa80,random";
	long steps = 0;
	int episodes = 10, hpa_window = 1;
	uint64_t seed = 1;
	int quiet = 0, realtime = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:b:o:qhV", lo, NULL)) != -1) {
		switch (c) {
		case 'p': policy_path = optarg; break;
		case 'M': model = optarg; break;
		case 'P': pattern = optarg; break;
		case 'L': label = optarg; break;
		case 'b': baselines = optarg; break;
		case 'N': noop_spec = optarg; break;
		case 'S': steps = (long)mr_arg_u64(prog, "--steps", optarg);
			  if (steps < 1)
				  mr_usage_error(prog, "--steps must be >= 1");
			  break;
		case 'E': episodes = (int)mr_arg_int(prog, "--episodes", optarg,
						     1, 100000);
			  break;
		case 's': seed = mr_arg_u64(prog, "--seed", optarg); break;
		case 'W': hpa_window = (int)mr_arg_int(prog, "--hpa-window",
						       optarg, 1,
						       MR_HPA_MAX_WINDOW);
			  break;
		case 'A': model_after = optarg; break;
		case 'D': if (ae.nspecs == MR_ADAPT_MAX_VARIANTS)
				  mr_usage_error(prog, "at most %d --adapt",
						 MR_ADAPT_MAX_VARIANTS);
			  ae.specs[ae.nspecs++] = optarg;
			  break;
		case 'C': change_at = (long)mr_arg_int(prog, "--change-at",
						       optarg, 0, 1L << 30);
			  break;
		case 'o': outdir = optarg; break;
		case 'Q': realtime = (int)mr_arg_int(prog, "--realtime", optarg,
						     0, 99);
			  break;
		case 'q': quiet = 1; break;
		case 'h': usage(stdout); return MR_EXIT_OK;
		case 'V': mr_print_version(prog); return MR_EXIT_OK;
		default: mr_usage_error(prog, "bad option");
		}
	}
	if (optind != argc - 1)
		mr_usage_error(prog, "sim needs exactly one OBJECTIVE file");
	if (!model_after != (change_at < 0))
		mr_usage_error(prog, "--model-after and --change-at go together");
	for (int i = 0; i < ae.nspecs; i++) {
		mr_err se;
		if (mr_adapt_spec_check(ae.specs[i], &se))
			mr_usage_error(prog, "%s", se.msg);
	}
	if (!outdir)
		mr_usage_error(prog, "sim needs -o DIR");
	check_dir(outdir);
	mr_set_realtime(prog, realtime, quiet);
	const char *objpath = argv[optind];
	mr_err e = {0};
	mr_objective *o = mr_objective_load(objpath, &e);
	if (!o)
		mr_die(prog, &e);

	mr_action_space as;
	if (mr_objective_action_space(o, &as, &e) != 0)
		mr_die(prog, &e);
	int32_t noop[MR_MAX_COMPONENTS] = {0};
	if (!noop_spec)
		noop_spec = mr_objective_param(o, "eval", "noop");
	if (noop_spec && mr_action_parse(&as, noop_spec, noop, &e) != 0)
		mr_die(prog, &e);

	mr_policy *pol = NULL;
	if (policy_path) {
		pol = mr_policy_load(policy_path, &e);
		if (!pol)
			mr_die(prog, &e);
	}
	sim_ctx sc = {.o = o};
	sc.opts.nenvs = 1;
	sc.opts.seed = seed;
	sc.opts.eval = 1;
	sc.opts.episodes = MR_EPISODES_TEST;
	sc.opts.load_pattern = pattern;
	sc.opts.model_path = model;
	sc.opts.model_after = model_after;
	sc.opts.change_at = change_at;
	if (pol) {
		mr_vecenv *v = sim_open(&sc, 0, 1, &e);
		if (!v)
			mr_die(prog, &e);
		int rc = mr_policy_check(pol, v->obs_dim, v->ncomp, v->nchoices, &e);
		sim_close(&sc, v);
		if (rc != 0) {
			mr_err_prefix(&e, "%s", policy_path);
			mr_die(prog, &e);
		}
	}
	if (ae.nspecs)
		return cmd_adapt(&ae, &sc, &as, pol, noop, outdir,
				 label ? label : pattern ? "unseen" : "seen",
				 steps, episodes, quiet);
	void *optimal = mr_simenv_optimal_new();

	mr_suite_opts so = {
		.outdir = outdir,
		.objective = mr_objective_name(o),
		.pattern = label ? label : pattern ? "unseen" : "seen",
		.seed = seed,
		.nsteps = steps ? steps : mr_simenv_episode_length(o),
		.episodes = episodes,
		.as = &as,
		.baselines = baselines,
		.noop = noop,
		.policy = pol ? policy_act : NULL,
		.policy_ctx = pol,
		.policy_name = "ppo",
		.optimal = mr_simenv_optimal_act,
		.optimal_ctx = optimal,
		.optimal_mean = sim_optimal_mean,
		.hpa_window = hpa_window,
		.quiet = quiet};
	if (so.nsteps < 1)
		mr_fatal(prog, MR_EXIT_DATA, "%s: episode length is 0; give --steps",
			 objpath);
	int rc = mr_eval_suite(&so, sim_open, sim_close, &sc, &e);
	mr_simenv_optimal_free(optimal);
	if (pol)
		mr_policy_free(pol);
	mr_objective_free(o);
	if (rc != 0)
		mr_die(prog, &e);
	return MR_EXIT_OK;
}

/* ------------------------------------------------------------------------
 * aggregate
 */
static int cmd_aggregate(int argc, char **argv)
{
	static const struct option lo[] = {
		{"output", required_argument, 0, 'o'},
		{"quiet", no_argument, 0, 'q'},
		{"help", no_argument, 0, 'h'},
		{"version", no_argument, 0, 'V'},
		{0, 0, 0, 0}};
	const char *out = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:qhV", lo, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'q': break;
		case 'h': usage(stdout); return MR_EXIT_OK;
		case 'V': mr_print_version(prog); return MR_EXIT_OK;
		default: mr_usage_error(prog, "bad option");
		}
	}
	if (!out)
		mr_usage_error(prog, "aggregate needs -o OUT");
	if (optind >= argc)
		mr_usage_error(prog, "aggregate needs at least one SUMMARY.csv");
	mr_err e = {0};
	if (mr_eval_aggregate((const char *const *)argv + optind,
			      argc - optind, out, &e) != 0)
		mr_die(prog, &e);
	return MR_EXIT_OK;
}

int main(int argc, char **argv)
{
	mr_exit_on_signal(); /* exit 130, no temp files left */
	if (argc < 2) {
		usage(stderr);
		return MR_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		usage(stdout);
		return MR_EXIT_OK;
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		mr_print_version(prog);
		return MR_EXIT_OK;
	}
	if (!strcmp(cmd, "sim"))
		return cmd_sim(argc - 1, argv + 1);
	if (!strcmp(cmd, "aggregate"))
		return cmd_aggregate(argc - 1, argv + 1);
	if (!strcmp(cmd, "live"))
		return mr_eval_live_main(prog, argc - 1, argv + 1);
	/* `policy-eval --act P ...` is the live loop, as in the pipe
	 * trace-collect | policy-eval --act P | actuate */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--act") || !strncmp(argv[i], "--act=", 6) ||
		    !strcmp(argv[i], "-a"))
			return mr_eval_live_main(prog, argc, argv);
	mr_usage_error(prog, "unknown command '%s' (sim, live or aggregate)", cmd);
}
