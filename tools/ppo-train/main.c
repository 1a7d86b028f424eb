/*
 * ppo-train - trains a PPO policy on an objective's simulator (in-process),
 * on any simulator speaking the sim-env protocol (--env-cmd), or on the
 * built-in contextual bandit (--env bandit, a self-test).
 *
 * Writes the policy (msgpack "ppo-policy"), a learning curve CSV, and a
 * checkpoint that --resume continues from after an interruption.
 *
 * Not here: the algorithm (ppo.c and its parts), the network and the
 * policy file (tools/policy), the references and statistics
 * (tools/evaluate).
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
#include "ppo.h"
#include "simenv.h"

static const char *prog = "ppo-train";
/* Set by SIGINT/SIGTERM during training (mr_catch_signals): the loop
 * writes a checkpoint at the end of the iteration, then exits 130. Before
 * and after training a signal ends the run at once (mr_exit_on_signal). */
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
"                         lower_r,upper_r,avg_optimal_r,score: the\n"
"                         deterministic policy's reward per step over the\n"
"                         validation episodes (mean, sd and 95%% interval\n"
"                         over their steps), the optimum's, and the\n"
"                         normalised score (R - R_random)/(R_opt - R_random)\n"
"  --stats FILE           per-update training statistics CSV: timesteps,lr,\n"
"                         ent_coef,pg_loss,v_loss,entropy,approx_kl,\n"
"                         clip_frac,grad_norm,adv_sd,steps (the update's\n"
"                         lr and entropy coefficient, minibatch means of the\n"
"                         losses, the policy's entropy, the KL estimate\n"
"                         and clipped share; adv_sd: the rollout's\n"
"                         advantage spread before scaling; steps: the\n"
"                         minibatch steps taken); written when\n"
"                         training ends (after --resume: from there on)\n"
"  --eval-every K         evaluate (and write the curve) every K updates (1)\n"
"  --val-episodes N       validation episodes per evaluation (5): seeds drawn\n"
"                         from (--seed, validation set, k), disjoint from the\n"
"                         training episodes and from policy-eval's test\n"
"                         episodes; a sequence's are fresh draws of its\n"
"                         Markov chain (README, Evaluation protocol)\n"
"  --select-best          also keep the policy with the best validation score\n"
"                         as OUTPUT.best (written when it improves); OUTPUT\n"
"                         is always the final policy, after the whole budget\n"
"                         (or the --target-score stop)\n"
"  --checkpoint FILE      checkpoint (default OUTPUT.ckpt)\n"
"  --checkpoint-every K   write it every K updates (20; 0: only on signal)\n"
"  --resume               continue from the checkpoint; refused when it\n"
"                         was made with another objective file, system\n"
"                         model (or --env-cmd) or hyper-parameters\n"
"  --target-score X       early stop: once the normalised score on the\n"
"                         validation episodes is >= X; not reached within\n"
"                         --timesteps: the policy and curve are still\n"
"                         written, exit status 1. A stopped run's policy is\n"
"                         the one at the stop, selected on validation\n"
"                         episodes: report its policy-eval test score\n"
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
"  --target-kl X          (<= 0: off, the default) an update's epochs stop\n"
"                         at the first minibatch whose policy is more than\n"
"                         1.5 X (approximate KL) from the rollout's, before\n"
"                         its step (stable-baselines3's target_kl)\n"
"  --max-grad-norm X (<= 0: off)  --adam-eps X  --norm-obs 0|1\n"
"  --obs-clip X  --timesteps N\n"
"  --lr-decay 1, --ent-decay 1: the learning rate, the entropy coefficient\n"
"                         fall linearly to 0 over --timesteps. An entropy\n"
"                         bonus held to the end keeps the policy spread\n"
"                         out, and its greedy action then flips between\n"
"                         near-equal choices; decayed, it explores early\n"
"                         and settles\n""  --norm-adv 0|1|2       advantages: 0 raw; 1 scaled per minibatch to unit\n"
"                         spread (stable-baselines3, the published setting);\n"
"                         2 (default) the same, but the minibatch's spread\n"
"                         is taken at least --adv-floor (0.1) x the spread\n"
"                         of every advantage so far, so a near-deterministic\n"
"                         policy's tiny advantages are not blown up to unit\n"
"                         size (with 1 they push it off the optimum again\n"
"                         and again)\n"
"  --adv-floor X          (0..1; 0.1)\n"
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
"exit: 0 done (and --target-score reached, when given), 1 --target-score\n"
"not reached within the budget (policy and curve written), 2 usage, 3 bad\n"
"data, 4 I/O, 130 interrupted (checkpoint written; rerun with --resume).\n");
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

/* Evaluation runs on validation episodes: with an objective, its
 * in-process simulator's validation set (also behind --env-cmd); else the
 * training environment's kind in evaluation mode, reset with validation
 * seeds. */
static mr_vecenv *open_eval_env(const env_spec *s, int nenvs, uint64_t seed,
				mr_err *e)
{
	if (s->obj) {
		mr_simenv_opts o = {.nenvs = nenvs, .seed = seed, .eval = 1,
				    .episodes = MR_EPISODES_VALIDATION,
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

static void policy_act(void *ctx, const float *obs, const uint8_t *mask,
		       int32_t *action)
{
	mr_policy_act(ctx, obs, mask, action);
}

/* The reset seed of validation episode k of a run seeded seed. */
static uint64_t val_seed(uint64_t seed, int k)
{
	return mr_simenv_episode_seed(seed, MR_EPISODES_VALIDATION, k);
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
		if (c->kind == MR_CTL_ENV) {
			if (c->env_fn(c->fn_ctx, v, a, e))
				return -1;
		} else {
			mr_ctl_act(c, &s->as, t, v->obs, v->masks, NULL, NULL,
				   a);
		}
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

/* ------------------------------------------------------------------------
 * the references: the optimum and the uniform random policy
 */

/* Controller c on the nval validation episodes of a run seeded seed, one
 * after another: their rewards into rew; the steps played, or -1. */
static long run_val_episodes(mr_vecenv *ev, const env_spec *s, uint64_t seed,
			     int nval, mr_controller *c, double *rew,
			     mr_err *e)
{
	long n = 0;
	for (int k = 0; k < nval; k++) {
		long m = run_episode(ev, s, val_seed(seed, k), c, rew + n, e);
		if (m < 0)
			return -1;
		n += m;
	}
	return n;
}

/* The mean of a run's rewards. */
static double mean_of(const double *r, long n)
{
	double m = 0;
	for (long i = 0; i < n; i++)
		m += r[i];
	return n ? m / (double)n : 0;
}

/* The optimum's mean reward per step over the nval validation episodes
 * (played on ev, the simulator's optimum solved once), or NAN. */
static int optimal_mean(const env_spec *s, mr_vecenv *ev, uint64_t seed,
			int nval, double *rew, double *out, mr_err *e)
{
	*out = NAN;
	if (s->kind == ENV_BANDIT) {
		*out = mr_bandit_optimal_mean(&s->bandit);
		return 0;
	}
	if (!s->obj)
		return 0;
	mr_controller c;
	void *ctx = mr_simenv_optimal_new();
	mr_ctl_env(&c, "optimal", mr_simenv_optimal_act, ctx);
	/* pooled as evaluate pools the policy's: the same figure at the
	 * optimum, to the last bit */
	long n = run_val_episodes(ev, s, seed, nval, &c, rew, e);
	mr_simenv_optimal_free(ctx);
	if (n < 0)
		return -1;
	*out = mean_of(rew, n);
	return 0;
}

/* Where mr_random_reference measures: fresh evaluation environments reset
 * with the evaluation seed (for the sweep), and sampled episodes played
 * on the evaluation environment ev as the curve's are (run_episode). */
typedef struct {
	const env_spec *spec;
	uint64_t seed;
	mr_vecenv *ev;
	double *rew; /* spec->eval_len rewards */
} ref_ctx;

static mr_vecenv *ref_open(void *ctx, int nenvs, mr_err *e)
{
	ref_ctx *rc = ctx;
	mr_vecenv *v = open_eval_env(rc->spec, nenvs, rc->seed, e);
	if (v && v->reset(v, rc->seed, e)) {
		close_env(v);
		return NULL;
	}
	return v;
}

static void ref_close(void *ctx, mr_vecenv *v)
{
	(void)ctx;
	close_env(v);
}

static int ref_episode(void *ctx, mr_controller *c, double *mean, mr_err *e)
{
	ref_ctx *rc = ctx;
	long n = run_episode(rc->ev, rc->spec, rc->seed, c, rc->rew, e);
	if (n < 0)
		return -1;
	*mean = mean_of(rc->rew, n);
	return 0;
}

/* The uniform random policy's mean reward per step over the nval
 * validation episodes, each as policy-eval computes a test episode's
 * (mr_random_reference): exact from a sweep when actions are settings;
 * otherwise sampled, over 10 plays of the episode with an objective (as
 * policy-eval) and 20 without (a pipe's or the bandit's own episodes,
 * shorter and noisier). */
static int random_mean(const env_spec *s, mr_vecenv *ev, uint64_t seed,
		       int nval, double *rew, double *out, mr_err *e)
{
	double sum = 0;
	for (int k = 0; k < nval; k++) {
		uint64_t vs = val_seed(seed, k);
		ref_ctx rc = {.spec = s, .seed = vs, .ev = ev, .rew = rew};
		mr_random_ref r = {
			.as = &s->as, .nsteps = s->eval_len, .seed = vs,
			.open = ref_open, .close = ref_close, .ctx = &rc,
			.episode = ref_episode, .episode_ctx = &rc,
			.episodes = s->obj ? 10 : 20};
		double m;
		if (mr_random_reference(&r, NULL, NULL, &m, e) < 0)
			return -1;
		sum += m;
	}
	*out = sum / nval;
	return 0;
}

/* --target-score X: reached once the normalised score is at least X. When
 * the optimum does not beat random there is no score (mr_norm_score is
 * NaN); then once the policy is at the optimum. */
static int target_reached(double target, double avg, double r_opt,
			  double r_random)
{
	if (isnan(target))
		return 0;
	double score = mr_norm_score(avg, r_opt, r_random);
	if (isnan(score))
		return avg >= r_opt - 1e-9;
	return score >= target;
}

/* ------------------------------------------------------------------------
 * the curve and the checkpoint
 */

/* timesteps, avg_r, std_r, lower_r, upper_r, avg_optimal_r, score */
#define CURVE_COLS 7

typedef struct {
	double *rows; /* n x CURVE_COLS */
	size_t n, cap;
} curve;

static void curve_add(curve *c, const double row[CURVE_COLS])
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->rows = mr_xrealloc(c->rows, c->cap,
				      CURVE_COLS * sizeof(double));
	}
	memcpy(c->rows + CURVE_COLS * c->n++, row,
	       CURVE_COLS * sizeof(double));
}

static int curve_write(const curve *c, const char *path, mr_err *e)
{
	mr_out o;
	if (mr_out_open(&o, path, e))
		return -1;
	fprintf(o.f, "timesteps,avg_r,std_r,lower_r,upper_r,avg_optimal_r,"
		"score\n");
	for (size_t i = 0; i < c->n; i++) {
		for (int k = 0; k < CURVE_COLS; k++) {
			char b[32];
			double v = c->rows[CURVE_COLS * i + k];
			fprintf(o.f, "%s%s", k ? "," : "",
				isnan(v) ? "" : mr_fmt_double(b, v));
		}
		fputc('\n', o.f);
	}
	return mr_out_commit(&o, e);
}


/* --stats: the header, then a row per update (stats_row). */
static int stats_open(mr_out *o, const char *path, mr_err *e)
{
	if (mr_out_open(o, path, e))
		return -1;
	fprintf(o->f, "timesteps,lr,ent_coef,pg_loss,v_loss,entropy,"
		"approx_kl,clip_frac,grad_norm,adv_sd,steps\n");
	return 0;
}

static int stats_row(mr_out *o, const mr_ppo *t, const mr_ppo_stats *st,
		     mr_err *e)
{
	double v[] = {st->lr, st->ent_coef, st->pg_loss, st->v_loss,
		      st->entropy, st->approx_kl, st->clip_frac,
		      st->grad_norm, st->adv_sd};
	fprintf(o->f, "%lld", (long long)mr_ppo_timesteps(t));
	for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
		char b[32];
		fprintf(o->f, ",%s", mr_fmt_double(b, v[k]));
	}
	if (fprintf(o->f, ",%lld\n", (long long)st->steps) < 0)
		return mr_errf(e, MR_EXIT_IO, "%s: write failed", o->path);
	return 0;
}

/* The deterministic policy on the nval validation episodes: a curve row
 * (mean, sample std and 95% t-interval over their steps, the optimum's
 * mean, the normalised score), the curve rewritten; *avg_out the mean
 * reward per step. rew holds nval x eval_len rewards. */
static int evaluate(mr_vecenv *ev, const env_spec *spec, uint64_t seed,
		    int nval, mr_ppo *t, double *rew, double r_opt,
		    double r_random, curve *cv, const char *curve_path,
		    double *avg_out, mr_err *e)
{
	mr_controller c;
	mr_ctl_func(&c, "ppo", policy_act, mr_ppo_policy(t));
	long n = run_val_episodes(ev, spec, seed, nval, &c, rew, e);
	if (n < 0)
		return -1;
	double avg, sd, half;
	mr_mean_sd_ci(rew, n, &avg, &sd, &half);
	double row[CURVE_COLS] = {(double)mr_ppo_timesteps(t), avg, sd,
				  avg - half, avg + half, r_opt,
				  mr_norm_score(avg, r_opt, r_random)};
	curve_add(cv, row);
	if (curve_path && curve_write(cv, curve_path, e))
		return -1;
	*avg_out = avg;
	return 0;
}

/* The hyper-parameters a checkpoint must be resumed with, and the
 * validation episodes (its references and curve are theirs). */
static void config_id(const mr_ppo_config *c, int nval, char *buf, size_t n)
{
	char d[1024];
	mr_ppo_config_describe(c, d, sizeof d);
	snprintf(buf, n, "%s threads=%d seed=%llu val_episodes=%d", d,
		 c->threads, (unsigned long long)c->seed, nval);
}

/* --select-best: the best validation evaluation so far (avg NaN: none). */
typedef struct {
	double avg, score, timesteps;
} best_eval;

/* What a run trains on, as hashes of file contents (16 hex digits, ""
 * when there is none): the objective file, and the system model the
 * simulator loads (with --env-cmd, the command line: the simulator is
 * the model). A checkpoint carries them; --resume refuses others. */
typedef struct {
	char objective[24], model[24];
} env_hashes;

static void hash_text(const char *path, char out[24])
{
	mr_err e = {0};
	uint64_t h;
	if (mr_hash_file(path, &h, &e))
		mr_die(prog, &e);
	snprintf(out, 24, "%016llx", (unsigned long long)h);
}

/* objective: its path (NULL: none); env_cmd: --env-cmd's text. */
static void env_hashes_of(const env_spec *s, const char *objective,
			  const char *env_cmd, env_hashes *h)
{
	*h = (env_hashes){{0}, {0}};
	if (objective)
		hash_text(objective, h->objective);
	if (s->kind == ENV_PIPE) {
		uint64_t v = mr_hash64(env_cmd, strlen(env_cmd),
				       MR_HASH_INIT);
		snprintf(h->model, sizeof h->model, "%016llx",
			 (unsigned long long)v);
	} else if (s->obj) {
		const char *m = mr_objective_model_file(s->obj, s->model);
		if (m)
			hash_text(m, h->model);
	}
}

/* --resume: the checkpoint's hashes must be this run's. */
static void check_hashes(const char *path, const msgpack_object *root,
			 const env_hashes *now, const env_spec *s)
{
	mr_err e = {0};
	char have[2][64];
	const char *keys[2] = {"objective_hash", "model_hash"};
	const char *now_h[2] = {now->objective, now->model};
	const char *what[2] = {"objective file", s->kind == ENV_PIPE
		? "simulator command (--env-cmd)" : "system model"};
	for (int k = 0; k < 2; k++) {
		if (mr_mp_str(root, keys[k], path, have[k], sizeof have[k],
			      &e)) {
			mr_err_prefix(&e, "cannot tell what the checkpoint "
				      "was trained on (written before "
				      "checkpoints carried hashes?); "
				      "start afresh without --resume");
			mr_die(prog, &e);
		}
		if (strcmp(have[k], now_h[k]))
			mr_fatal(prog, MR_EXIT_DATA,
				 "%s: made with another %s (hash %s; now "
				 "%s); remove it or train without --resume",
				 path, what[k], have[k][0] ? have[k] : "none",
				 now_h[k][0] ? now_h[k] : "none");
	}
}

static int checkpoint_write(const char *path, mr_ppo *t,
			    const mr_ppo_config *c, int nval, const curve *cv,
			    double r_random, const best_eval *best,
			    const env_hashes *h, mr_err *e)
{
	char id[1200];
	config_id(c, nval, id, sizeof id);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 13);
	mr_pk_kv_str(&pk, "format", "ppo-checkpoint");
	mr_pk_kv_i64(&pk, "version", 1);
	mr_pk_kv_str(&pk, "config", id);
	mr_pk_kv_str(&pk, "objective_hash", h->objective);
	mr_pk_kv_str(&pk, "model_hash", h->model);
	mr_pk_str(&pk, "policy");
	mr_policy_pack(&pk, mr_ppo_policy(t));
	mr_pk_str(&pk, "state");
	mr_ppo_pack_state(&pk, t);
	mr_pk_kv_bin(&pk, "curve", cv->rows,
		     cv->n * CURVE_COLS * sizeof(double));
	mr_pk_kv_i64(&pk, "curve_cols", CURVE_COLS);
	mr_pk_kv_f64(&pk, "r_random", r_random);
	mr_pk_kv_f64(&pk, "best_avg", best->avg);
	mr_pk_kv_f64(&pk, "best_score", best->score);
	mr_pk_kv_f64(&pk, "best_timesteps", best->timesteps);
	int rc = mr_write_file_atomic(path, sb.data, sb.size, e);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* Resumed runs start new episodes (a vecenv has no state to save). Their
 * reset seeds come from a seed of their own, cfg.seed ^ RESUME_SEED_MIX
 * (a seed, not a stream), stream MR_STREAM_PPO_RESUME_BASE + updates * 64
 * + group. */
#define RESUME_SEED_MIX 0x5eed

/* --resume, before the trainer exists: the policy, the curve, the
 * random reference and the best evaluation from the checkpoint, which
 * must have been written with the same hyper-parameters and validation
 * episodes. ck stays open for resume_state. */
static mr_policy *resume_read(const char *path, const mr_ppo_config *cfg,
			      int nval, const env_spec *s,
			      const env_hashes *h, mr_mp_doc *ck, char **buf,
			      curve *cv, double *r_random, best_eval *best)
{
	mr_err e = {0};
	size_t len;
	char id[1200], have[1200];
	if (mr_read_file(path, buf, &len, 0, &e) ||
	    mr_mp_parse(*buf, len, path, ck, &e) ||
	    mr_mp_check_header(ck->root, path, "ppo-checkpoint", 1, &e) ||
	    mr_mp_str(ck->root, "config", path, have, sizeof have, &e))
		mr_die(prog, &e);
	check_hashes(path, ck->root, h, s);
	config_id(cfg, nval, id, sizeof id);
	if (strcmp(id, have))
		mr_fatal(prog, MR_EXIT_USAGE,
			 "%s: written with other hyper-parameters (%s); now: "
			 "%s; remove it or train without --resume", path,
			 have, id);
	const msgpack_object *po = mr_mp_get(ck->root, "policy");
	if (!po) {
		mr_errf(&e, MR_EXIT_DATA, "%s: no policy", path);
		mr_die(prog, &e);
	}
	char nm[4200];
	snprintf(nm, sizeof nm, "%s: policy", path);
	mr_policy *pol = mr_policy_unpack(po, nm, &e);
	if (!pol)
		mr_die(prog, &e);
	const void *rows;
	const size_t rowsize = CURVE_COLS * sizeof(double);
	int64_t cols;
	if (mr_mp_i64(ck->root, "curve_cols", path, CURVE_COLS, CURVE_COLS,
		      &cols, &e))
		mr_die(prog, &e);
	const msgpack_object *co = mr_mp_get(ck->root, "curve");
	if (!co || co->type != MSGPACK_OBJECT_BIN ||
	    co->via.bin.size % rowsize) {
		mr_errf(&e, MR_EXIT_DATA, "%s: bad curve", path);
		mr_die(prog, &e);
	}
	size_t nr = co->via.bin.size / rowsize;
	if (mr_mp_bin(ck->root, "curve", path, nr * CURVE_COLS,
		      sizeof(double), &rows, &e) ||
	    mr_mp_f64(ck->root, "r_random", path, r_random, &e) ||
	    mr_mp_f64(ck->root, "best_avg", path, &best->avg, &e) ||
	    mr_mp_f64(ck->root, "best_score", path, &best->score, &e) ||
	    mr_mp_f64(ck->root, "best_timesteps", path, &best->timesteps, &e))
		mr_die(prog, &e);
	for (size_t i = 0; i < nr; i++) {
		double row[CURVE_COLS];
		mr_le_f64(row, (const char *)rows + i * rowsize, CURVE_COLS);
		curve_add(cv, row);
	}
	return pol;
}

/* --resume, once the trainer exists: its optimiser state and counters;
 * the environments start new episodes. Closes ck. */
static void resume_state(const char *path, const mr_ppo_config *cfg,
			 mr_ppo *t, mr_vecenv **envs, int nvec, mr_mp_doc *ck,
			 char *buf)
{
	mr_err e = {0};
	const msgpack_object *so = mr_mp_get(ck->root, "state");
	if (!so || mr_ppo_unpack_state(t, so, path, &e))
		mr_die(prog, e.msg[0] ? &e : &(mr_err){MR_EXIT_DATA,
			"checkpoint has no state"});
	for (int i = 0; i < nvec; i++) {
		mr_rng r;
		mr_rng_seed(&r, cfg->seed ^ RESUME_SEED_MIX,
			    MR_STREAM_PPO_RESUME_BASE +
				    (uint64_t)mr_ppo_updates(t) * 64 + i);
		if (envs[i]->reset(envs[i], mr_rng_u64(&r) >> 1, &e))
			mr_die(prog, &e);
	}
	mr_mp_doc_free(ck);
	free(buf);
}

/* ------------------------------------------------------------------------
 * the command line
 */

typedef struct {
	const char *output, *curve_path, *ckpt_path, *stats_path;
	const char *env_name, *env_cmd, *objective, *preset, *model;
	int eval_every, ckpt_every, resume, quiet;
	int val_episodes, select_best;
	char best_buf[4096]; /* OUTPUT.best */
	double target;
	/* flags that set hyper-parameters, applied last */
	const char **keys, **vals;
	int nkv;
	char ckpt_buf[4096];
} options;

enum {
	OPT_ENV = 1000, OPT_ENV_CMD, OPT_OBJECTIVE, OPT_CURVE, OPT_EVAL_EVERY,
	OPT_CKPT, OPT_CKPT_EVERY, OPT_RESUME, OPT_TARGET, OPT_PRESET, OPT_SET,
	OPT_MODEL, OPT_VAL_EPISODES, OPT_SELECT_BEST, OPT_STATS,
	OPT_KEY /* + index into mr_ppo_config_keys */
};

/* A hyper-parameter's flag name: its key with '-' for '_'. */
static void flag_name(const char *key, char *buf, size_t n)
{
	snprintf(buf, n, "%s", key);
	for (char *q = buf; *q; q++)
		if (*q == '_')
			*q = '-';
}

static void set_flag(options *o, int ch, const char *arg)
{
	switch (ch) {
	case OPT_EVAL_EVERY:
		o->eval_every = (int)mr_arg_int(prog, "--eval-every", arg, 1,
						1000000000);
		break;
	case OPT_CKPT_EVERY:
		o->ckpt_every = (int)mr_arg_int(prog, "--checkpoint-every",
						arg, 0, 1000000000);
		break;
	case OPT_TARGET:
		/* a normalised score; above 1 only by rounding */
		o->target = mr_arg_double(prog, "--target-score", arg, -1e9,
					  1.5);
		break;
	case OPT_VAL_EPISODES:
		o->val_episodes = (int)mr_arg_int(prog, "--val-episodes", arg,
						  1, 10000);
		break;
	}
}

/* Options into o; optind ends at the first operand. */
static void parse_args(int argc, char **argv, options *o)
{
	memset(o, 0, sizeof *o);
	o->output = "policy.msgpack";
	o->eval_every = 1;
	o->ckpt_every = 20;
	o->target = NAN;
	o->val_episodes = 5;
	o->keys = mr_xcalloc((size_t)argc + 1, sizeof *o->keys);
	o->vals = mr_xcalloc((size_t)argc + 1, sizeof *o->vals);
	static const struct option base[] = {
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
		{"val-episodes", required_argument, 0, OPT_VAL_EPISODES},
		{"select-best", no_argument, 0, OPT_SELECT_BEST},
		{"stats", required_argument, 0, OPT_STATS},
	};
	size_t nbase = sizeof base / sizeof base[0], nkeys = 0;
	while (mr_ppo_config_keys[nkeys])
		nkeys++;
	struct option *opts = mr_xcalloc(nbase + nkeys + 1, sizeof *opts);
	char (*names)[32] = mr_xcalloc(nkeys, sizeof *names);
	memcpy(opts, base, sizeof base);
	for (size_t k = 0; k < nkeys; k++) {
		flag_name(mr_ppo_config_keys[k], names[k], sizeof names[k]);
		opts[nbase + k] = (struct option){names[k], required_argument,
						  0, OPT_KEY + (int)k};
	}
	int ch;
	while ((ch = getopt_long(argc, argv, "o:qhV", opts, NULL)) != -1) {
		switch (ch) {
		case 'o': o->output = optarg; break;
		case 'q': o->quiet = 1; break;
		case 'h':
			usage(stdout);
			exit(MR_EXIT_OK); /* exit: nothing to free */
		case 'V':
			mr_print_version(prog);
			exit(MR_EXIT_OK);
		case OPT_ENV: o->env_name = optarg; break;
		case OPT_ENV_CMD: o->env_cmd = optarg; break;
		case OPT_OBJECTIVE: o->objective = optarg; break;
		case OPT_MODEL: o->model = optarg; break;
		case OPT_CURVE: o->curve_path = optarg; break;
		case OPT_STATS: o->stats_path = optarg; break;
		case OPT_CKPT: o->ckpt_path = optarg; break;
		case OPT_RESUME: o->resume = 1; break;
		case OPT_SELECT_BEST: o->select_best = 1; break;
		case OPT_PRESET: o->preset = optarg; break;
		case OPT_EVAL_EVERY:
		case OPT_CKPT_EVERY:
		case OPT_TARGET:
		case OPT_VAL_EPISODES:
			set_flag(o, ch, optarg);
			break;
		case OPT_SET: {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg)
				mr_usage_error(prog, "--set: '%s' is not "
					       "KEY=VALUE", optarg);
			*eq = 0;
			o->keys[o->nkv] = optarg;
			o->vals[o->nkv++] = eq + 1;
			break;
		}
		default:
			if (ch >= OPT_KEY && ch < OPT_KEY + (int)nkeys) {
				int k = ch - OPT_KEY;
				o->keys[o->nkv] = mr_ppo_config_keys[k];
				o->vals[o->nkv++] = optarg;
				break;
			}
			mr_usage_error(prog, "bad option");
		}
	}
	free(opts);
	free(names);
	if (!o->ckpt_path) {
		snprintf(o->ckpt_buf, sizeof o->ckpt_buf, "%s.ckpt", o->output);
		o->ckpt_path = o->ckpt_buf;
	}
	snprintf(o->best_buf, sizeof o->best_buf, "%s.best", o->output);
}

/* Which environment: the bandit, a pipe, or an objective's simulator
 * (npos operands in pos). */
static void choose_env(options *o, int npos, char **pos, env_spec *spec)
{
	mr_err e = {0};
	memset(spec, 0, sizeof *spec);
	spec->model = o->model;
	if (o->env_name) {
		int trap = !strcmp(o->env_name, "bandit-trap");
		if (strcmp(o->env_name, "bandit") && !trap)
			mr_usage_error(prog, "--env: '%s' unknown (bandit, "
				       "bandit-trap)", o->env_name);
		if (o->env_cmd || npos)
			mr_usage_error(prog, "--env %s takes no objective or "
				       "--env-cmd", o->env_name);
		spec->kind = ENV_BANDIT;
		spec->bandit = (mr_bandit_opts){
			.ncontexts = 4, .ncomp = 2, .nchoices = 5,
			.episode_len = 16, .masked = !trap, .trap = trap};
		spec->name = trap ? "bandit-trap" : "bandit";
	} else if (o->env_cmd) {
		if (npos)
			mr_usage_error(prog, "--env-cmd and an objective file: "
				       "use --objective for the objective");
		spec->kind = ENV_PIPE;
		if (!(spec->argv = split_argv(o->env_cmd, &e)))
			mr_die(prog, &e);
		spec->name = spec->argv[0];
	} else {
		if (npos != 1)
			mr_usage_error(prog, "expected one OBJECTIVE.obj (or "
				       "--env-cmd, --env)");
		spec->kind = ENV_SIM;
		o->objective = pos[0];
	}
	if (o->objective) {
		if (!(spec->obj = mr_objective_load(o->objective, &e)))
			mr_die(prog, &e);
		spec->name = mr_objective_name(spec->obj);
		if (mr_objective_action_space(spec->obj, &spec->as, &e))
			mr_die(prog, &e);
		spec->eval_len = mr_simenv_episode_length(spec->obj);
	} else {
		spec->eval_len = spec->kind == ENV_BANDIT
			? spec->bandit.episode_len : 1000000;
	}
}

/* The objective's [ppo] section: every key, by its name, its flag name,
 * or the names sim-env's objective files use. */
static void apply_objective(const options *o, const env_spec *spec,
			    mr_ppo_config *cfg)
{
	mr_err e = {0};
	for (size_t k = 0; mr_ppo_config_keys[k]; k++) {
		const char *key = mr_ppo_config_keys[k];
		char flag[32];
		flag_name(key, flag, sizeof flag);
		const char *v = mr_objective_param(spec->obj, "ppo", key);
		if (!v)
			v = mr_objective_param(spec->obj, "ppo", flag);
		if (!v && !strcmp(key, "net"))
			v = mr_objective_param(spec->obj, "ppo", "hidden");
		if (!v && !strcmp(key, "act"))
			v = mr_objective_param(spec->obj, "ppo", "activation");
		if (v && mr_ppo_config_set(cfg, key, v, &e)) {
			mr_err_prefix(&e, "%s: [ppo]", o->objective);
			mr_die(prog, &e);
		}
	}
}

/* Hyper-parameters: the preset, then the objective's [ppo], then flags. */
static void configure(const options *o, const env_spec *spec,
		      mr_ppo_config *cfg)
{
	mr_err e = {0};
	const char *preset = o->preset;
	if (!preset && spec->obj)
		preset = mr_objective_param(spec->obj, "ppo", "preset");
	if (mr_ppo_config_defaults(cfg, preset ? preset : "delay", &e))
		mr_die(prog, &e);
	if (spec->kind == ENV_BANDIT) {
		/* a small problem: a small fast net is the sensible default */
		mr_ppo_config_set(cfg, "net", "32,32", &e);
		cfg->n_steps = 64;
		cfg->nenvs = 8;
		cfg->lr = 3e-3;
		cfg->epochs = 4;
		cfg->timesteps = 200000;
	}
	if (spec->obj)
		apply_objective(o, spec, cfg);
	for (int i = 0; i < o->nkv; i++)
		if (mr_ppo_config_set(cfg, o->keys[i], o->vals[i], &e))
			mr_die(prog, &e);
	if (mr_ppo_config_check(cfg, &e))
		mr_die(prog, &e);
	if (!isnan(o->target) && spec->kind == ENV_PIPE && !spec->obj)
		mr_usage_error(prog, "--target-score needs the optimum: give "
			       "--objective with --env-cmd");
}

/* ------------------------------------------------------------------------
 * a training run
 */

typedef struct {
	env_spec spec;
	mr_ppo_config cfg;
	int nvec;
	mr_vecenv *envs[MR_PPO_MAX_THREADS]; /* training, a group per thread */
	mr_vecenv *ev;                       /* evaluation */
	mr_policy *pol;                      /* the checkpoint's (--resume) */
	mr_ppo *t;
	curve cv;
	double r_opt, r_random;
	double *rew;                         /* an evaluation's rewards */
	double last_avg, score;              /* the last evaluation's */
	int64_t last_eval;                   /* updates at it */
	best_eval best;                      /* --select-best */
	env_hashes hashes;                   /* what it trains on */
	mr_out stats;                        /* --stats (f NULL: none) */
} run;

/* The training environments, one group per thread when they divide
 * evenly, and the evaluation environment. Seeds drawn for environments
 * stay below 2^63: the sim-env protocol reads them as signed 64-bit
 * integers. */
static void open_envs(run *r, const options *o)
{
	mr_err e = {0};
	const mr_ppo_config *cfg = &r->cfg;
	env_spec *spec = &r->spec;
	r->nvec = cfg->threads > 1 && cfg->nenvs % cfg->threads == 0
			  ? cfg->threads : 1;
	for (int i = 0; i < r->nvec; i++) {
		mr_rng g;
		mr_rng_seed(&g, cfg->seed,
			    MR_STREAM_PPO_OPEN_BASE + (uint64_t)i);
		if (!(r->envs[i] = open_env(spec, cfg->nenvs / r->nvec,
					    mr_rng_u64(&g) >> 1, 0, &e)))
			mr_die(prog, &e);
	}
	if (!(r->ev = open_eval_env(spec, 1, cfg->seed, &e)))
		mr_die(prog, &e);
	if (!spec->obj && generic_space(r->ev, &spec->as, &e))
		mr_die(prog, &e);
	const mr_vecenv *ev = r->ev, *v0 = r->envs[0];
	if (ev->obs_dim != v0->obs_dim || ev->ncomp != v0->ncomp ||
	    memcmp(ev->nchoices, v0->nchoices, sizeof ev->nchoices))
		mr_fatal(prog, MR_EXIT_DATA,
			 "%s: the objective's observations or actions differ "
			 "from the simulator's (--objective must describe the "
			 "simulator behind --env-cmd)", o->objective);
	if (spec->eval_len < 1)
		mr_fatal(prog, MR_EXIT_DATA, "%s: empty evaluation episode",
			 spec->name);
}

/* The trainer: new, or (--resume) from the checkpoint. */
static void start_trainer(run *r, const options *o)
{
	mr_err e = {0};
	mr_mp_doc ck = {0};
	char *ckbuf = NULL;
	r->r_random = NAN;
	r->best = (best_eval){NAN, NAN, NAN};
	env_hashes_of(&r->spec, o->objective, o->env_cmd, &r->hashes);
	if (o->resume)
		r->pol = resume_read(o->ckpt_path, &r->cfg, o->val_episodes,
				     &r->spec, &r->hashes, &ck, &ckbuf,
				     &r->cv, &r->r_random, &r->best);
	if (!(r->t = mr_ppo_new(&r->cfg, r->envs, r->nvec, r->pol, &e)))
		mr_die(prog, &e);
	if (o->resume)
		resume_state(o->ckpt_path, &r->cfg, r->t, r->envs, r->nvec,
			     &ck, ckbuf);
	mr_policy *p = mr_ppo_policy(r->t);
	snprintf(p->objective, sizeof p->objective, "%s", r->spec.name);
}

/* The optimum and the uniform random policy (kept from the checkpoint
 * when resumed), and a line saying what is trained. */
static void references(run *r, const options *o)
{
	mr_err e = {0};
	int nval = o->val_episodes;
	r->rew = mr_xcalloc((size_t)nval * (size_t)r->spec.eval_len,
			    sizeof *r->rew);
	if (optimal_mean(&r->spec, r->ev, r->cfg.seed, nval, r->rew,
			 &r->r_opt, &e))
		mr_die(prog, &e);
	if (isnan(r->r_random) &&
	    random_mean(&r->spec, r->ev, r->cfg.seed, nval, r->rew,
			&r->r_random, &e))
		mr_die(prog, &e);
	if (o->quiet)
		return;
	const mr_policy *pp = mr_ppo_policy(r->t);
	char heads[64];
	if (pp->heads == MR_HEADS_JOINT)
		snprintf(heads, sizeof heads, "one joint head of %d choices",
			 pp->head_total);
	else
		snprintf(heads, sizeof heads, "%d factored head%s, %d choices "
			 "in all", pp->head_ncomp,
			 pp->head_ncomp > 1 ? "s" : "", pp->head_total);
	fprintf(stderr, "%s: %s: %d observations, %s; on %d validation "
		"episode%s: optimum %.6g, random %.6g per step\n", prog,
		r->spec.name, pp->obs_dim, heads, nval, nval > 1 ? "s" : "",
		r->r_opt, r->r_random);
}

/* An evaluation of the current policy: the curve, the score; with
 * --select-best, a better policy than any before it is written to
 * OUTPUT.best at once (so an interrupted run keeps it). The references
 * are fixed, so the best mean reward is the best score. */
static void evaluate_now(run *r, const options *o)
{
	mr_err e = {0};
	if (evaluate(r->ev, &r->spec, r->cfg.seed, o->val_episodes, r->t,
		     r->rew, r->r_opt, r->r_random, &r->cv, o->curve_path,
		     &r->last_avg, &e))
		mr_die(prog, &e);
	r->score = mr_norm_score(r->last_avg, r->r_opt, r->r_random);
	r->last_eval = mr_ppo_updates(r->t);
	if (o->select_best &&
	    (isnan(r->best.avg) || r->last_avg > r->best.avg)) {
		r->best = (best_eval){r->last_avg, r->score,
				      (double)mr_ppo_timesteps(r->t)};
		if (mr_policy_save(mr_ppo_policy(r->t), o->best_buf, &e))
			mr_die(prog, &e);
	}
}

static void checkpoint_now(const run *r, const options *o)
{
	mr_err e = {0};
	if (checkpoint_write(o->ckpt_path, r->t, &r->cfg, o->val_episodes,
			     &r->cv, r->r_random, &r->best, &r->hashes, &e))
		mr_die(prog, &e);
}

/* Iterations until the budget of timesteps or the target: an evaluation
 * every eval_every updates, a checkpoint every ckpt_every, and on a
 * signal a checkpoint and exit. Returns 1 when the target was reached. */
static int train(run *r, const options *o, mr_progress *bar)
{
	mr_err e = {0};
	r->last_eval = -1;
	r->last_avg = r->score = NAN;
	while (mr_ppo_timesteps(r->t) < r->cfg.timesteps) {
		mr_ppo_stats st;
		if (mr_ppo_iterate(r->t, &st, &e))
			mr_die(prog, &e);
		int64_t up = mr_ppo_updates(r->t);
		if (r->stats.f && stats_row(&r->stats, r->t, &st, &e))
			mr_die(prog, &e);
		if (up % o->eval_every == 0) {
			evaluate_now(r, o);
			if (target_reached(o->target, r->last_avg, r->r_opt,
					   r->r_random))
				return 1;
		}
		char extra[160];
		snprintf(extra, sizeof extra, "avg_r %.4g score %.3f ent %.3f",
			 r->last_avg, r->score, st.entropy);
		mr_progress_update(bar, (double)mr_ppo_timesteps(r->t), extra);
		if (interrupted) {
			checkpoint_now(r, o);
			fprintf(stderr, "\n%s: interrupted by signal %d after "
				"%lld timesteps; checkpoint %s (rerun with "
				"--resume)\n", prog, (int)interrupted,
				(long long)mr_ppo_timesteps(r->t),
				o->ckpt_path);
			/* the checkpoint is all that counts */
			if (r->stats.f)
				mr_out_abort(&r->stats);
			exit(MR_EXIT_INTR);
		}
		if (o->ckpt_every > 0 && up % o->ckpt_every == 0)
			checkpoint_now(r, o);
	}
	return 0;
}

/* The final policy (always evaluated, and on the curve), its file, the
 * curve, and a summary line. Returns whether the target was reached: in
 * training, or by the final policy's evaluation. */
static int finish(run *r, const options *o, mr_progress *bar, double wall,
		  double cpu, int reached)
{
	mr_err e = {0};
	if (r->last_eval != mr_ppo_updates(r->t)) {
		evaluate_now(r, o);
		reached = reached || target_reached(o->target, r->last_avg,
						    r->r_opt, r->r_random);
	}
	char extra[160];
	snprintf(extra, sizeof extra, "avg_r %.4g score %.3f", r->last_avg,
		 r->score);
	mr_progress_done(bar, extra);
	if (mr_policy_save(mr_ppo_policy(r->t), o->output, &e))
		mr_die(prog, &e);
	if (o->curve_path && curve_write(&r->cv, o->curve_path, &e))
		mr_die(prog, &e);
	if (r->stats.f && mr_out_commit(&r->stats, &e))
		mr_die(prog, &e);
	long long ts = (long long)mr_ppo_timesteps(r->t);
	if (!o->quiet)
		fprintf(stderr, "%s: %lld timesteps in %.3f s (%.0f/s; %.3f "
			"CPU-s, %.0f/CPU-s); eval avg_r %.6g, optimal %.6g, "
			"random %.6g, score %.4f%s; policy %s\n", prog, ts,
			wall, ts / wall, cpu, ts / cpu, r->last_avg, r->r_opt,
			r->r_random, r->score,
			reached ? " (target reached)" : "", o->output);
	if (!o->quiet && o->select_best)
		fprintf(stderr, "%s: best validation score %.4f (avg_r %.6g) "
			"at %.0f timesteps; policy %s\n", prog, r->best.score,
			r->best.avg, r->best.timesteps, o->best_buf);
	/* said even with -q: it explains the exit status */
	if (!isnan(o->target) && !reached)
		fprintf(stderr, "%s: target score %g not reached in %lld "
			"timesteps (score %.4f); policy %s written, exit %d\n",
			prog, o->target, ts, r->score, o->output, MR_EXIT_FAIL);
	return reached;
}

static void run_free(run *r, options *o)
{
	mr_ppo_free(r->t);
	mr_policy_free(r->pol);
	for (int i = 0; i < r->nvec; i++)
		close_env(r->envs[i]);
	close_env(r->ev);
	if (r->spec.obj)
		mr_objective_free(r->spec.obj);
	if (r->spec.argv) {
		free(r->spec.argv[0]);
		free(r->spec.argv);
	}
	free(r->rew);
	free(r->cv.rows);
	free(o->keys);
	free(o->vals);
}

int main(int argc, char **argv)
{
	options o;
	run r;
	memset(&r, 0, sizeof r);
	mr_exit_on_signal();
	parse_args(argc, argv, &o);
	choose_env(&o, argc - optind, argv + optind, &r.spec);
	configure(&o, &r.spec, &r.cfg);
	open_envs(&r, &o);
	start_trainer(&r, &o);
	references(&r, &o);

	mr_catch_signals(on_signal);

	mr_err e = {0};
	if (o.stats_path && stats_open(&r.stats, o.stats_path, &e))
		mr_die(prog, &e);
	mr_progress bar;
	mr_progress_init(&bar, prog, (double)r.cfg.timesteps, o.quiet);
	double t0 = mr_now(), c0 = cpu_seconds();
	int reached = train(&r, &o, &bar);
	mr_exit_on_signal();
	double wall = mr_now() - t0, cpu = cpu_seconds() - c0;
	reached = finish(&r, &o, &bar, wall, cpu, reached);
	run_free(&r, &o);
	/* a target that was asked for and missed is a failed run */
	return isnan(o.target) || reached ? MR_EXIT_OK : MR_EXIT_FAIL;
}
