/*
 * ppo-train - trains a PPO policy on an objective's simulator (in-process),
 * on any simulator speaking the sim-env protocol (--env-cmd), or on the
 * built-in contextual bandit (--env bandit, a self-test).
 *
 * Writes the policy (msgpack "ppo-policy"), a learning curve CSV, and a
 * checkpoint that --resume continues from after an interruption.
 *
 * Not here: the algorithm (ppo.c), the network (mlp.c), the file schema
 * (policy.c).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bandit.h"
#include "evaluate.h"
#include "simenv.h"
#include "ppo.h"
#include "simenv.h"

static const char *prog = "ppo-train";
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: ppo-train [options] OBJECTIVE.obj\n"
"       ppo-train [options] --env-cmd 'CMD ARGS...' [--objective OBJ.obj]\n"
"       ppo-train [options] --env bandit|bandit-trap\n"
"\n"
"Trains a PPO policy (MultiDiscrete actions with masks, MLP actor and\n"
"critic) on N vectorised environments. Hyper-parameters: preset defaults,\n"
"then the objective's [ppo] section, then flags (flags win).\n"
"\n"
"environment:\n"
"  OBJECTIVE.obj          the in-process simulator of an objective\n"
"  --env-cmd 'CMD ARGS'   an external simulator speaking the sim-env\n"
"                         protocol (argv split on blanks, quotes allowed,\n"
"                         no shell); --objective adds its optimum\n"
"  --model FILE           system model (default: the objective's)\n"
"  --env bandit           the built-in contextual bandit (self-test)\n"
"  --env bandit-trap      one whose best action needs every component\n"
"                         changed at once (factored heads stop short)\n"
"output:\n"
"  -o, --output FILE      policy file (default policy.msgpack)\n"
"  --curve FILE           learning curve CSV: timesteps,avg_r,std_r,\n"
"                         lower_r,upper_r,avg_optimal_r\n"
"  --eval-every K         evaluate (and write the curve) every K updates (1)\n"
"  --checkpoint FILE      checkpoint (default OUTPUT.ckpt)\n"
"  --checkpoint-every K   write it every K updates (20; 0: only on signal)\n"
"  --resume               continue from the checkpoint\n"
"  --target-score X       stop once the deterministic policy's normalised\n"
"                         score (R - R_random) / (R_opt - R_random) >= X\n"
"hyper-parameters (defaults: --preset delay):\n"
"  --preset NAME          delay ([64]x4 tanh, n_steps 1024, batch 64,\n"
"                         10 epochs, lr 1e-4, gamma 0) or incremental\n"
"                         ([128]x3, n_steps 512, lr 5e-4, gamma 0.99,\n"
"                         ent 0.05, clip 0.2)\n"
"  --net 64,64 | 64x4     actor (and trunk) hidden sizes\n"
"  --critic-net LIST      critic hidden sizes (default: as --net)\n"
"  --act tanh|relu  --shared 0|1 (critic head on the actor's trunk)\n"
"  --n-steps N (per env)  --nenvs N  --batch N  --epochs N\n"
"  --lr X  --lr-decay 0|1  --gamma X  --gae-lambda X  --clip X\n"
"  --clip-vf X (<= 0: off)  --ent-coef X  --vf-coef X\n"
"  --max-grad-norm X (<= 0: off)  --adam-eps X  --norm-obs 0|1\n"
"  --norm-adv 0|1  --obs-clip X  --timesteps N\n"
"  --continuing 0|1       1: episode ends are time limits (returns run on\n"
"                         into the next episode; its start must not depend\n"
"                         on the actions)\n"
"  --heads auto|factored|joint\n"
"                         factored: a categorical head per action\n"
"                         component (MultiDiscrete, as published); joint:\n"
"                         one over every combination; auto (default):\n"
"                         joint up to 1024 combinations\n"
"  --set KEY=VALUE        any of the above by its [ppo] key name\n"
"general:\n"
"  --threads N            worker threads (1); results are deterministic\n"
"                         for a seed and thread count. Two threads with\n"
"                         separate networks train the actor on one and\n"
"                         the critic on the other (the same result as one\n"
"                         thread when nenvs is odd); otherwise minibatch\n"
"                         rows are split. Environments are split across\n"
"                         threads when nenvs divides evenly\n"
"  --seed N               (1)\n"
"  -q, --quiet            no progress on stderr\n"
"  -h, --help  -V, --version\n"
"\n"
"example:\n"
"  ppo-train pipelines/objectives/delay.obj -o policy.msgpack \\\n"
"      --curve learning.csv --target-score 0.98 --threads 2\n"
"\n"
"exit: 0 done, 2 usage, 3 bad data, 4 I/O, 130 interrupted (checkpoint\n"
"written; rerun with --resume).\n");
}

/* ------------------------------------------------------------------------
 * small helpers
 */

/* Splits a command line into argv: blanks separate, '...' and "..." quote,
 * backslash escapes one character. No shell. */
static char **split_argv(const char *s, mr_err *e)
{
	size_t n = strlen(s);
	char **argv = mr_xcalloc(n / 2 + 2, sizeof *argv);
	char *buf = mr_xcalloc(n + 1, 1), *out = buf;
	int argc = 0;
	const char *p = s;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		argv[argc++] = out;
		char q = 0;
		for (; *p; p++) {
			if (q) {
				if (*p == q)
					q = 0;
				else if (*p == '\\' && q == '"' && p[1])
					*out++ = *++p;
				else
					*out++ = *p;
			} else if (*p == '\'' || *p == '"') {
				q = *p;
			} else if (*p == '\\' && p[1]) {
				*out++ = *++p;
			} else if (*p == ' ' || *p == '\t') {
				break;
			} else {
				*out++ = *p;
			}
		}
		if (q) {
			free(argv);
			free(buf);
			mr_errf(e, MR_EXIT_USAGE, "--env-cmd: unbalanced %c", q);
			return NULL;
		}
		*out++ = 0;
	}
	if (argc == 0) {
		free(argv);
		free(buf);
		mr_errf(e, MR_EXIT_USAGE, "--env-cmd: empty command");
		return NULL;
	}
	argv[argc] = NULL;
	/* argv[0] points at buf's start: one free(argv[0]) + free(argv) */
	return argv;
}

/* Regularised incomplete beta I_x(a, b) by its continued fraction. */
static double incbeta(double a, double b, double x)
{
	if (x <= 0)
		return 0;
	if (x >= 1)
		return 1;
	if (x > (a + 1) / (a + b + 2))
		return 1 - incbeta(b, a, 1 - x);
	double lbeta = lgamma(a) + lgamma(b) - lgamma(a + b);
	double front = exp(log(x) * a + log(1 - x) * b - lbeta) / a;
	double f = 1, c = 1, d = 0;
	for (int i = 0; i <= 400; i++) {
		int m = i / 2;
		double num;
		if (i == 0)
			num = 1;
		else if (i % 2 == 0)
			num = (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m));
		else
			num = -((a + m) * (a + b + m) * x) /
			      ((a + 2 * m) * (a + 2 * m + 1));
		d = 1 + num * d;
		d = fabs(d) < 1e-300 ? 1e-300 : d;
		d = 1 / d;
		c = 1 + num / c;
		c = fabs(c) < 1e-300 ? 1e-300 : c;
		double cd = c * d;
		f *= cd;
		if (fabs(1 - cd) < 1e-14)
			break;
	}
	return front * (f - 1);
}

/* Student t quantile for probability q > 0.5 and df degrees of freedom. */
static double t_quantile(double q, double df)
{
	double lo = 0, hi = 1e3;
	for (int i = 0; i < 200; i++) {
		double t = (lo + hi) / 2;
		double cdf = 1 - 0.5 * incbeta(df / 2, 0.5, df / (df + t * t));
		if (cdf < q)
			lo = t;
		else
			hi = t;
	}
	return (lo + hi) / 2;
}

/* CPU time of the whole process (every thread), seconds. */
static double cpu_seconds(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts))
		return NAN;
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------------
 * environments
 */

typedef enum { ENV_SIM, ENV_PIPE, ENV_BANDIT } env_kind;

typedef struct {
	env_kind kind;
	mr_objective *obj;     /* ENV_SIM; or --objective with ENV_PIPE */
	char **argv;           /* ENV_PIPE */
	mr_bandit_opts bandit; /* ENV_BANDIT */
	const char *model;     /* NULL: the objective's */
	const char *name;
	mr_action_space as;    /* the actions, as policy-eval sees them */
	long eval_len;         /* steps of an evaluation episode (cap for a
				* pipe without objective: it ends at done) */
} env_spec;

static mr_vecenv *open_env(const env_spec *s, int nenvs, uint64_t seed,
			   int eval, mr_err *e)
{
	switch (s->kind) {
	case ENV_SIM: {
		mr_simenv_opts o = {.nenvs = nenvs, .seed = seed, .eval = eval,
				    .model_path = s->model};
		return mr_simenv_open(s->obj, &o, e);
	}
	case ENV_PIPE:
		return mr_pipeenv_open(s->argv, nenvs, seed, e);
	case ENV_BANDIT: {
		mr_bandit_opts o = s->bandit;
		o.nenvs = nenvs;
		o.eval = eval;
		return mr_bandit_open(&o, e);
	}
	}
	return NULL;
}

/* Evaluation runs where policy-eval runs it: with an objective, its
 * in-process simulator in evaluation mode (also behind --env-cmd, whose
 * episodes are not the objective's evaluation episode); else the training
 * environment's kind. */
static mr_vecenv *open_eval_env(const env_spec *s, int nenvs, uint64_t seed,
				mr_err *e)
{
	if (s->obj) {
		mr_simenv_opts o = {.nenvs = nenvs, .seed = seed, .eval = 1,
				    .model_path = s->model};
		return mr_simenv_open(s->obj, &o, e);
	}
	return open_env(s, nenvs, seed, 1, e);
}

static void close_env(mr_vecenv *v)
{
	if (v) {
		v->close(v);
		free(v);
	}
}

/* Without an objective: the action space from the environment's shape
 * (choice indices; sampled, never swept). */
static int generic_space(const mr_vecenv *v, mr_action_space *as, mr_err *e)
{
	memset(as, 0, sizeof *as);
	as->ncomp = v->ncomp;
	as->incremental = 1;
	as->cores = -1;
	for (int i = 0; i < v->ncomp; i++) {
		if (v->nchoices[i] > MR_MAX_CHOICES)
			return mr_errf(e, MR_EXIT_DATA,
				       "action component %d has %d choices "
				       "(evaluation handles %d)", i,
				       v->nchoices[i], MR_MAX_CHOICES);
		as->nchoices[i] = v->nchoices[i];
		snprintf(as->name[i], sizeof as->name[i], "a%d", i);
		for (int j = 0; j < v->nchoices[i]; j++)
			as->values[i][j] = j;
	}
	return 0;
}

/* The optimum's mean reward over one evaluation episode, or NAN. */
static int optimal_mean(const env_spec *s, uint64_t seed, double *out,
			mr_err *e)
{
	*out = NAN;
	if (s->kind == ENV_BANDIT) {
		*out = mr_bandit_optimal_mean(&s->bandit);
		return 0;
	}
	if (!s->obj)
		return 0;
	mr_simenv_opts o = {.nenvs = 1, .seed = seed, .eval = 1,
			    .model_path = s->model};
	return mr_simenv_optimal_mean(s->obj, &o, out, e);
}

static void policy_act(void *ctx, const float *obs, const uint8_t *mask,
		       int32_t *action)
{
	mr_policy_act(ctx, obs, mask, action);
}

/* One evaluation episode of controller c from reset(seed), as policy-eval
 * runs one (mr_eval_run): every step the controller's action for
 * environment 0, played by every environment. Rewards of environment 0 go
 * to r (s->eval_len entries); returns the count or -1. */
static long run_episode(mr_vecenv *v, const env_spec *s, uint64_t seed,
			mr_controller *c, double *r, mr_err *e)
{
	if (v->reset(v, seed, e))
		return -1;
	for (long t = 0; t < s->eval_len; t++) {
		int32_t a[MR_MAX_COMPONENTS];
		mr_ctl_act(c, &s->as, t, v->obs, v->masks, NULL, NULL, a);
		for (int k = 0; k < v->nenvs; k++)
			memcpy(v->actions + (size_t)k * v->ncomp, a,
			       (size_t)v->ncomp * sizeof *a);
		if (v->step(v, e))
			return -1;
		r[t] = v->rewards[0];
		/* a pipe without objective: its episode ends at done */
		if (!s->obj && s->kind == ENV_PIPE && v->dones[0])
			return t + 1;
	}
	return s->eval_len;
}

/* The uniform random policy's mean reward per step, as policy-eval
 * computes it (evalsuite.c): exact, from a sweep of every joint action
 * over the evaluation episode, when actions are settings and every
 * environment walks the same states; otherwise sampled, the mean of
 * episodes (10 with an objective, 20 without) of random controllers
 * seeded seed + 7919 k. */
static int random_mean(const env_spec *s, uint64_t seed, double *rew,
		       double *out, mr_err *e)
{
	if (s->obj && !s->as.incremental) {
		long nj = mr_action_joint_count(&s->as, 1L << 16);
		mr_vecenv *v = nj ? open_eval_env(s, (int)nj, seed, e) : NULL;
		if (nj && !v)
			return -1;
		mr_sweep sw;
		mr_err se = {0};
		int swept = v && v->reset(v, seed, &se) == 0 &&
			    mr_eval_sweep(v, &s->as, s->eval_len, &sw, &se) == 0;
		close_env(v);
		if (swept) {
			*out = mr_sweep_random_mean(&sw);
			mr_sweep_free(&sw);
			return 0;
		}
	}
	mr_vecenv *v = open_eval_env(s, 1, seed, e);
	if (!v)
		return -1;
	int eps = s->obj ? 10 : 20;
	double sum = 0;
	for (int k = 0; k < eps; k++) {
		mr_controller c;
		mr_ctl_random(&c, "random", seed + 7919u * (uint64_t)(k + 1));
		long n = run_episode(v, s, seed, &c, rew, e);
		if (n < 0) {
			close_env(v);
			return -1;
		}
		double m = 0;
		for (long i = 0; i < n; i++)
			m += rew[i];
		sum += n ? m / n : 0;
	}
	close_env(v);
	*out = sum / eps;
	return 0;
}

/* ------------------------------------------------------------------------
 * the curve and the checkpoint
 */

typedef struct {
	double *rows; /* n x 6 */
	size_t n, cap;
} curve;

static void curve_add(curve *c, const double row[6])
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->rows = mr_xrealloc(c->rows, c->cap, 6 * sizeof(double));
	}
	memcpy(c->rows + 6 * c->n++, row, 6 * sizeof(double));
}

static int curve_write(const curve *c, const char *path, mr_err *e)
{
	mr_out o;
	if (mr_out_open(&o, path, e))
		return -1;
	fprintf(o.f, "timesteps,avg_r,std_r,lower_r,upper_r,avg_optimal_r\n");
	for (size_t i = 0; i < c->n; i++) {
		for (int k = 0; k < 6; k++) {
			char b[32];
			double v = c->rows[6 * i + k];
			fprintf(o.f, "%s%s", k ? "," : "",
				isnan(v) ? "" : mr_fmt_double(b, v));
		}
		fputc('\n', o.f);
	}
	return mr_out_commit(&o, e);
}

/* One evaluation episode of the deterministic policy: a curve row (mean,
 * sample std, 95% t-interval, optimum), the curve rewritten, the score. */
static int evaluate(mr_vecenv *ev, const env_spec *spec,
		    const mr_ppo_config *cfg, mr_ppo *t, double *rew,
		    double r_opt, double r_random, curve *cv,
		    const char *curve_path, double *avg_out, double *score,
		    mr_err *e)
{
	mr_controller c;
	mr_ctl_func(&c, "ppo", policy_act, mr_ppo_policy(t));
	long n = run_episode(ev, spec, cfg->seed, &c, rew, e);
	if (n < 0)
		return -1;
	double s = 0, ss = 0;
	for (long i = 0; i < n; i++)
		s += rew[i];
	double avg = s / n;
	for (long i = 0; i < n; i++)
		ss += (rew[i] - avg) * (rew[i] - avg);
	double sd = n > 1 ? sqrt(ss / (n - 1)) : 0;
	double half = n > 1 ? t_quantile(0.975, n - 1) * sd / sqrt((double)n)
			    : 0;
	double row[6] = {(double)mr_ppo_timesteps(t), avg, sd, avg - half,
			 avg + half, r_opt};
	curve_add(cv, row);
	if (curve_path && curve_write(cv, curve_path, e))
		return -1;
	*avg_out = avg;
	double span = r_opt - r_random;
	if (!isnan(r_opt))
		*score = fabs(span) > 1e-12 ? (avg - r_random) / span
					    : (avg >= r_opt - 1e-9 ? 1 : 0);
	return 0;
}

static void config_id(const mr_ppo_config *c, char *buf, size_t n)
{
	char d[1024];
	mr_ppo_config_describe(c, d, sizeof d);
	snprintf(buf, n, "%s threads=%d seed=%llu", d, c->threads,
		 (unsigned long long)c->seed);
}

static int checkpoint_write(const char *path, mr_ppo *t,
			    const mr_ppo_config *c, const curve *cv,
			    double r_random, mr_err *e)
{
	char id[1200];
	config_id(c, id, sizeof id);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 7);
	mr_pk_kv_str(&pk, "format", "ppo-checkpoint");
	mr_pk_kv_i64(&pk, "version", 1);
	mr_pk_kv_str(&pk, "config", id);
	mr_pk_str(&pk, "policy");
	mr_policy_pack(&pk, mr_ppo_policy(t));
	mr_pk_str(&pk, "state");
	mr_ppo_pack_state(&pk, t);
	mr_pk_kv_bin(&pk, "curve", cv->rows, cv->n * 6 * sizeof(double));
	mr_pk_kv_f64(&pk, "r_random", r_random);
	int rc = mr_write_file_atomic(path, sb.data, sb.size, e);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* ------------------------------------------------------------------------
 * main
 */

enum {
	OPT_ENV = 1000, OPT_ENV_CMD, OPT_OBJECTIVE, OPT_CURVE, OPT_EVAL_EVERY,
	OPT_CKPT, OPT_CKPT_EVERY, OPT_RESUME, OPT_TARGET, OPT_PRESET, OPT_SET,
	OPT_MODEL,
	OPT_KEY /* + index into mr_ppo_config_keys */
};

int main(int argc, char **argv)
{
	mr_err e = {0};
	const char *output = "policy.msgpack", *curve_path = NULL;
	const char *ckpt_path = NULL, *env_name = NULL, *env_cmd = NULL;
	const char *objective = NULL, *preset = NULL, *model = NULL;
	int eval_every = 1, ckpt_every = 20, resume = 0, quiet = 0;
	double target = NAN;
	/* flags that set hyper-parameters, applied last */
	const char **keys = mr_xcalloc((size_t)argc + 1, sizeof *keys);
	const char **vals = mr_xcalloc((size_t)argc + 1, sizeof *vals);
	int nkv = 0;

	static struct option base[] = {
		{"output", required_argument, 0, 'o'},
		{"quiet", no_argument, 0, 'q'},
		{"help", no_argument, 0, 'h'},
		{"version", no_argument, 0, 'V'},
		{"env", required_argument, 0, OPT_ENV},
		{"env-cmd", required_argument, 0, OPT_ENV_CMD},
		{"objective", required_argument, 0, OPT_OBJECTIVE},
		{"curve", required_argument, 0, OPT_CURVE},
		{"eval-every", required_argument, 0, OPT_EVAL_EVERY},
		{"checkpoint", required_argument, 0, OPT_CKPT},
		{"checkpoint-every", required_argument, 0, OPT_CKPT_EVERY},
		{"resume", no_argument, 0, OPT_RESUME},
		{"target-score", required_argument, 0, OPT_TARGET},
		{"preset", required_argument, 0, OPT_PRESET},
		{"set", required_argument, 0, OPT_SET},
		{"model", required_argument, 0, OPT_MODEL},
	};
	size_t nbase = sizeof base / sizeof base[0], nkeys = 0;
	while (mr_ppo_config_keys[nkeys])
		nkeys++;
	struct option *opts = mr_xcalloc(nbase + nkeys + 1, sizeof *opts);
	char (*names)[32] = mr_xcalloc(nkeys, sizeof *names);
	memcpy(opts, base, sizeof base);
	for (size_t k = 0; k < nkeys; k++) {
		snprintf(names[k], sizeof names[k], "%s", mr_ppo_config_keys[k]);
		for (char *q = names[k]; *q; q++)
			if (*q == '_')
				*q = '-';
		opts[nbase + k] = (struct option){names[k], required_argument,
						  0, OPT_KEY + (int)k};
	}
	int ch;
	while ((ch = getopt_long(argc, argv, "o:qhV", opts, NULL)) != -1) {
		switch (ch) {
		case 'o': output = optarg; break;
		case 'q': quiet = 1; break;
		case 'h':
			usage(stdout);
			exit(MR_EXIT_OK); /* exit, not return: nothing to free */
		case 'V':
			mr_print_version(prog);
			exit(MR_EXIT_OK);
		case OPT_ENV: env_name = optarg; break;
		case OPT_ENV_CMD: env_cmd = optarg; break;
		case OPT_OBJECTIVE: objective = optarg; break;
		case OPT_MODEL: model = optarg; break;
		case OPT_CURVE: curve_path = optarg; break;
		case OPT_EVAL_EVERY:
		case OPT_CKPT_EVERY:
			if (ch == OPT_EVAL_EVERY)
				eval_every = (int)mr_arg_int(prog, "--eval-every",
							     optarg, 1, 1000000000);
			else
				ckpt_every = (int)mr_arg_int(prog,
							     "--checkpoint-every",
							     optarg, 0, 1000000000);
			break;
		case OPT_CKPT: ckpt_path = optarg; break;
		case OPT_RESUME: resume = 1; break;
		case OPT_TARGET:
			/* a normalised score; above 1 only by rounding */
			target = mr_arg_double(prog, "--target-score", optarg,
					       -1e9, 1.5);
			break;
		case OPT_PRESET: preset = optarg; break;
		case OPT_SET: {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg)
				mr_fatal(prog, MR_EXIT_USAGE,
					 "--set: '%s' is not KEY=VALUE", optarg);
			*eq = 0;
			keys[nkv] = optarg;
			vals[nkv++] = eq + 1;
			break;
		}
		default:
			if (ch >= OPT_KEY && ch < OPT_KEY + (int)nkeys) {
				keys[nkv] = mr_ppo_config_keys[ch - OPT_KEY];
				vals[nkv++] = optarg;
				break;
			}
			usage(stderr);
			exit(MR_EXIT_USAGE);
		}
	}

	/* which environment */
	env_spec spec = {0};
	spec.model = model;
	int npos = argc - optind;
	if (env_name) {
		int trap = !strcmp(env_name, "bandit-trap");
		if (strcmp(env_name, "bandit") && !trap)
			mr_fatal(prog, MR_EXIT_USAGE,
				 "--env: '%s' unknown (bandit, bandit-trap)",
				 env_name);
		if (env_cmd || npos)
			mr_fatal(prog, MR_EXIT_USAGE,
				 "--env %s takes no objective or --env-cmd",
				 env_name);
		spec.kind = ENV_BANDIT;
		spec.bandit = (mr_bandit_opts){.ncontexts = 4, .ncomp = 2,
					       .nchoices = 5, .episode_len = 16,
					       .masked = !trap, .trap = trap};
		spec.name = trap ? "bandit-trap" : "bandit";
	} else if (env_cmd) {
		if (npos)
			mr_fatal(prog, MR_EXIT_USAGE, "--env-cmd and an "
				 "objective file: use --objective for the "
				 "objective");
		spec.kind = ENV_PIPE;
		if (!(spec.argv = split_argv(env_cmd, &e)))
			mr_die(prog, &e);
		spec.name = spec.argv[0];
	} else {
		if (npos != 1) {
			usage(stderr);
			exit(MR_EXIT_USAGE);
		}
		spec.kind = ENV_SIM;
		objective = argv[optind];
	}
	if (objective) {
		if (!(spec.obj = mr_objective_load(objective, &e)))
			mr_die(prog, &e);
		spec.name = mr_objective_name(spec.obj);
		if (mr_objective_action_space(spec.obj, &spec.as, &e))
			mr_die(prog, &e);
		spec.eval_len = mr_simenv_episode_length(spec.obj);
	} else {
		spec.eval_len = spec.kind == ENV_BANDIT ? spec.bandit.episode_len
							: 1000000;
	}

	/* hyper-parameters: preset, then the objective's [ppo], then flags */
	mr_ppo_config cfg;
	if (!preset && spec.obj)
		preset = mr_objective_param(spec.obj, "ppo", "preset");
	if (mr_ppo_config_defaults(&cfg, preset ? preset : "delay", &e))
		mr_die(prog, &e);
	if (spec.kind == ENV_BANDIT) {
		/* a small problem: a small fast net is the sensible default */
		mr_ppo_config_set(&cfg, "net", "32,32", &e);
		cfg.n_steps = 64;
		cfg.nenvs = 8;
		cfg.lr = 3e-3;
		cfg.epochs = 4;
		cfg.timesteps = 200000;
	}
	if (spec.obj) {
		for (size_t k = 0; k < nkeys; k++) {
			const char *v = mr_objective_param(
				spec.obj, "ppo", mr_ppo_config_keys[k]);
			if (!v)
				v = mr_objective_param(spec.obj, "ppo",
						       names[k]);
			if (!v && !strcmp(mr_ppo_config_keys[k], "net"))
				v = mr_objective_param(spec.obj, "ppo",
						       "hidden");
			if (!v && !strcmp(mr_ppo_config_keys[k], "act"))
				v = mr_objective_param(spec.obj, "ppo",
						       "activation");
			if (v && mr_ppo_config_set(&cfg, mr_ppo_config_keys[k],
						   v, &e)) {
				mr_err_prefix(&e, "%s: [ppo]", objective);
				mr_die(prog, &e);
			}
		}
	}
	for (int i = 0; i < nkv; i++)
		if (mr_ppo_config_set(&cfg, keys[i], vals[i], &e))
			mr_die(prog, &e);
	if (mr_ppo_config_check(&cfg, &e))
		mr_die(prog, &e);
	if (!isnan(target) && spec.kind == ENV_PIPE && !spec.obj)
		mr_fatal(prog, MR_EXIT_USAGE, "--target-score needs the "
			 "optimum: give --objective with --env-cmd");

	char ckpt_buf[4096];
	if (!ckpt_path) {
		snprintf(ckpt_buf, sizeof ckpt_buf, "%s.ckpt", output);
		ckpt_path = ckpt_buf;
	}

	/* environments: one group per thread when they divide evenly. Seeds
	 * drawn for environments stay below 2^63: the sim-env protocol reads
	 * them as signed 64-bit integers. */
	int nvec = cfg.threads > 1 && cfg.nenvs % cfg.threads == 0
			   ? cfg.threads : 1;
	mr_vecenv *envs[MR_PPO_MAX_THREADS] = {0};
	for (int i = 0; i < nvec; i++) {
		mr_rng r;
		mr_rng_seed(&r, cfg.seed, 3000 + (uint64_t)i);
		if (!(envs[i] = open_env(&spec, cfg.nenvs / nvec,
					 mr_rng_u64(&r) >> 1, 0, &e)))
			mr_die(prog, &e);
	}
	mr_vecenv *ev = open_eval_env(&spec, 1, cfg.seed, &e);
	if (!ev)
		mr_die(prog, &e);
	if (!spec.obj && generic_space(ev, &spec.as, &e))
		mr_die(prog, &e);
	if (ev->obs_dim != envs[0]->obs_dim || ev->ncomp != envs[0]->ncomp ||
	    memcmp(ev->nchoices, envs[0]->nchoices, sizeof ev->nchoices))
		mr_fatal(prog, MR_EXIT_DATA,
			 "%s: the objective's observations or actions differ "
			 "from the simulator's (--objective must describe the "
			 "simulator behind --env-cmd)", objective);
	if (spec.eval_len < 1)
		mr_fatal(prog, MR_EXIT_DATA, "%s: empty evaluation episode",
			 spec.name);

	/* resume: the policy, optimiser and curve from the checkpoint */
	curve cv = {0};
	mr_policy *pol = NULL;
	mr_mp_doc ck = {0};
	char *ckbuf = NULL;
	double r_random = NAN;
	if (resume) {
		size_t len;
		char id[1200], have[1200];
		if (mr_read_file(ckpt_path, &ckbuf, &len, 0, &e) ||
		    mr_mp_parse(ckbuf, len, ckpt_path, &ck, &e) ||
		    mr_mp_check_header(ck.root, ckpt_path, "ppo-checkpoint", 1,
				       &e) ||
		    mr_mp_str(ck.root, "config", ckpt_path, have, sizeof have,
			      &e))
			mr_die(prog, &e);
		config_id(&cfg, id, sizeof id);
		if (strcmp(id, have))
			mr_fatal(prog, MR_EXIT_USAGE,
				 "%s: written with other hyper-parameters "
				 "(%s); now: %s", ckpt_path, have, id);
		const msgpack_object *po = mr_mp_get(ck.root, "policy");
		if (!po) {
			mr_errf(&e, MR_EXIT_DATA, "%s: no policy", ckpt_path);
			mr_die(prog, &e);
		}
		char nm[4200];
		snprintf(nm, sizeof nm, "%s: policy", ckpt_path);
		if (!(pol = mr_policy_unpack(po, nm, &e)))
			mr_die(prog, &e);
		const void *rows;
		const msgpack_object *co = mr_mp_get(ck.root, "curve");
		if (!co || co->type != MSGPACK_OBJECT_BIN ||
		    co->via.bin.size % (6 * sizeof(double))) {
			mr_errf(&e, MR_EXIT_DATA, "%s: bad curve", ckpt_path);
			mr_die(prog, &e);
		}
		size_t nr = co->via.bin.size / (6 * sizeof(double));
		if (mr_mp_bin(ck.root, "curve", ckpt_path, nr * 6,
			      sizeof(double), &rows, &e) ||
		    mr_mp_f64(ck.root, "r_random", ckpt_path, &r_random, &e))
			mr_die(prog, &e);
		for (size_t i = 0; i < nr; i++) {
			double row[6];
			mr_le_f64(row, (const char *)rows + i * 6 * sizeof(double),
				  6);
			curve_add(&cv, row);
		}
	}

	mr_ppo *t = mr_ppo_new(&cfg, envs, nvec, pol, &e);
	if (!t)
		mr_die(prog, &e);
	if (resume) {
		const msgpack_object *so = mr_mp_get(ck.root, "state");
		if (!so || mr_ppo_unpack_state(t, so, ckpt_path, &e))
			mr_die(prog, e.msg[0] ? &e : &(mr_err){MR_EXIT_DATA,
				"checkpoint has no state"});
		/* new episodes: the vecenv has no state to save */
		for (int i = 0; i < nvec; i++) {
			mr_rng r;
			mr_rng_seed(&r, cfg.seed ^ 0x5eed,
				    (uint64_t)mr_ppo_updates(t) * 64 + i);
			if (envs[i]->reset(envs[i], mr_rng_u64(&r) >> 1, &e))
				mr_die(prog, &e);
		}
		mr_mp_doc_free(&ck);
		free(ckbuf);
	}
	snprintf(mr_ppo_policy(t)->objective,
		 sizeof mr_ppo_policy(t)->objective, "%s", spec.name);

	/* references: the optimum and the uniform random policy */
	double r_opt;
	if (optimal_mean(&spec, cfg.seed, &r_opt, &e))
		mr_die(prog, &e);
	double *rew = mr_xcalloc((size_t)spec.eval_len, sizeof *rew);
	if (isnan(r_random) && random_mean(&spec, cfg.seed, rew, &r_random, &e))
		mr_die(prog, &e);

	if (!quiet) {
		const mr_policy *pp = mr_ppo_policy(t);
		char heads[64];
		if (pp->heads == MR_HEADS_JOINT)
			snprintf(heads, sizeof heads, "one joint head of %d "
				 "choices", pp->head_total);
		else
			snprintf(heads, sizeof heads, "%d factored head%s, %d "
				 "choices in all", pp->head_ncomp,
				 pp->head_ncomp > 1 ? "s" : "", pp->head_total);
		fprintf(stderr, "%s: %s: %d observations, %s; optimum %.6g, "
			"random %.6g per step\n", prog, spec.name, pp->obs_dim,
			heads, r_opt, r_random);
	}

	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	mr_progress prog_bar;
	mr_progress_init(&prog_bar, prog, (double)cfg.timesteps, quiet);
	double t0 = mr_now(), c0 = cpu_seconds(), score = NAN, last_avg = NAN;
	int reached = 0;
	int64_t last_eval = -1;
	while (mr_ppo_timesteps(t) < cfg.timesteps) {
		mr_ppo_stats st;
		if (mr_ppo_iterate(t, &st, &e))
			mr_die(prog, &e);
		int64_t up = mr_ppo_updates(t);
		if (up % eval_every == 0) {
			if (evaluate(ev, &spec, &cfg, t, rew, r_opt, r_random,
				     &cv, curve_path, &last_avg, &score, &e))
				mr_die(prog, &e);
			last_eval = up;
			if (!isnan(target) && score >= target) {
				reached = 1;
				break;
			}
		}
		char extra[160];
		snprintf(extra, sizeof extra, "avg_r %.4g score %.3f ent %.3f",
			 last_avg, score, st.entropy);
		mr_progress_update(&prog_bar, (double)mr_ppo_timesteps(t),
				   extra);
		if (interrupted) {
			if (checkpoint_write(ckpt_path, t, &cfg, &cv, r_random,
					     &e))
				mr_die(prog, &e);
			fprintf(stderr, "\n%s: interrupted by signal %d after "
				"%lld timesteps; checkpoint %s (rerun with "
				"--resume)\n", prog, (int)interrupted,
				(long long)mr_ppo_timesteps(t), ckpt_path);
			exit(MR_EXIT_INTR); /* the checkpoint is all that counts */
		}
		if (ckpt_every > 0 && up % ckpt_every == 0 &&
		    checkpoint_write(ckpt_path, t, &cfg, &cv, r_random, &e))
			mr_die(prog, &e);
	}
	double wall = mr_now() - t0, cpu = cpu_seconds() - c0;
	/* the final policy is always evaluated (and on the curve) */
	if (last_eval != mr_ppo_updates(t) &&
	    evaluate(ev, &spec, &cfg, t, rew, r_opt, r_random, &cv,
		     curve_path, &last_avg, &score, &e))
		mr_die(prog, &e);
	char extra[160];
	snprintf(extra, sizeof extra, "avg_r %.4g score %.3f", last_avg,
		 score);
	mr_progress_done(&prog_bar, extra);
	if (mr_policy_save(mr_ppo_policy(t), output, &e))
		mr_die(prog, &e);
	if (curve_path && curve_write(&cv, curve_path, &e))
		mr_die(prog, &e);
	if (!quiet)
		fprintf(stderr,
			"%s: %lld timesteps in %.3f s (%.0f/s; %.3f CPU-s, "
			"%.0f/CPU-s); eval avg_r %.6g, optimal %.6g, random "
			"%.6g, score %.4f%s; policy %s\n",
			prog, (long long)mr_ppo_timesteps(t), wall,
			mr_ppo_timesteps(t) / wall, cpu,
			mr_ppo_timesteps(t) / cpu, last_avg, r_opt, r_random,
			score, reached ? " (target reached)" : "", output);
	mr_ppo_free(t);
	mr_policy_free(pol);
	for (int i = 0; i < nvec; i++)
		close_env(envs[i]);
	close_env(ev);
	if (spec.obj)
		mr_objective_free(spec.obj);
	if (spec.argv) {
		free(spec.argv[0]);
		free(spec.argv);
	}
	free(rew);
	free(cv.rows);
	free(opts);
	free(names);
	free(keys);
	free(vals);
	return MR_EXIT_OK;
}
