/*
 * evaluate.h - running a controller (a trained policy or a baseline) on an
 * environment, recording every step, and summarising the run.
 *
 * What is here: the description of an objective's action space as values
 * (p=80, c=1) rather than choice indices; the controllers policy-eval
 * compares (policy, fixed "no-op", uniform random, an HPA-like threshold
 * autoscaler, a per-step table such as the optimum); the step loop over a
 * vecenv; per-step and summary statistics (mean with a Student-t 95%
 * interval, normalised score, bound-met shares); per-step CSV writing.
 *
 * What is deliberately not here: how an environment or objective is built
 * (sim-env), how a policy is trained (ppo-train), the live control loop's
 * I/O (policy-eval's main). Nothing here allocates in the step loop except
 * the growing step record.
 */
#ifndef MESHRL_EVALUATE_H
#define MESHRL_EVALUATE_H

#include <stdint.h>

#include "meshrl.h"
#include "simenv.h"
#include "vecenv.h"

/* ------------------------------------------------------------------------
 * Controllers.
 */
typedef enum {
	MR_CTL_FIXED,  /* always the same action (the published "no-op") */
	MR_CTL_RANDOM, /* uniform over allowed choices, per component */
	MR_CTL_HPA,    /* threshold autoscaler on cores, rest fixed */
	MR_CTL_TABLE,  /* the action of step t from a table (e.g. optimum) */
	MR_CTL_FUNC,   /* a callback (a trained policy) */
	MR_CTL_ENV     /* a callback that reads the environment's own state
			* (the simulator's optimum) */
} mr_ctl_kind;

typedef void (*mr_act_fn)(void *ctx, const float *obs, const uint8_t *mask,
			  int32_t *action);
/* Action for environment 0 of v in its current state. */
typedef int (*mr_env_act_fn)(void *ctx, mr_vecenv *v, int32_t *action,
			     mr_err *e);

#define MR_HPA_MAX_WINDOW 256 /* stabilisation window, periods */

typedef struct {
	char name[32];
	mr_ctl_kind kind;
	int32_t fixed[MR_MAX_COMPONENTS]; /* FIXED; HPA: the non-core parts */
	mr_rng rng;                       /* RANDOM */
	/* HPA, Kubernetes' algorithm on cores: desired = ceil(cores * util /
	 * target), cores kept when |util/target - 1| <= tolerance (0.1);
	 * scale-up at once, scale-down only to the highest desired value of
	 * the last hpa_window periods (the stabilisation window, this one
	 * included). util is hpa_util when finite (a measured utilisation,
	 * e.g. CPU used / CPU allotted; the caller sets it before each
	 * mr_ctl_act), else the previous period's carried load *
	 * service_time / cores. */
	double hpa_target, hpa_tolerance, hpa_service_time, hpa_util;
	int hpa_window;
	double hpa_recent[MR_HPA_MAX_WINDOW]; /* desired, newest last */
	int hpa_nrecent;
	const int32_t *table; /* TABLE: steps x ncomp */
	long table_steps;
	mr_act_fn fn;         /* FUNC */
	mr_env_act_fn env_fn; /* ENV */
	void *fn_ctx;
} mr_controller;

void mr_ctl_fixed(mr_controller *c, const char *name, const int32_t *action,
		  int ncomp);
void mr_ctl_random(mr_controller *c, const char *name, uint64_t seed);
/* rest: the action whose non-core components the autoscaler keeps and
 * whose cores it starts from. Fails when the space has no cores component
 * or is incremental. */
int mr_ctl_hpa(mr_controller *c, const char *name, const mr_action_space *as,
	       const int32_t *rest, double target, double service_time,
	       mr_err *e);
/* The HPA's scale-down stabilisation window in periods (1..
 * MR_HPA_MAX_WINDOW; mr_ctl_hpa sets 1: no stabilisation). */
int mr_ctl_hpa_window(mr_controller *c, long periods, mr_err *e);
void mr_ctl_table(mr_controller *c, const char *name, const int32_t *table,
		  long steps);
void mr_ctl_func(mr_controller *c, const char *name, mr_act_fn fn, void *ctx);
void mr_ctl_env(mr_controller *c, const char *name, mr_env_act_fn fn,
		void *ctx);

/* Chooses the action of step t. prev is the info of step t-1 and
 * prev_action its action (both NULL at t = 0). */
void mr_ctl_act(mr_controller *c, const mr_action_space *as, long t,
		const float *obs, const uint8_t *mask,
		const mr_step_info *prev, const int32_t *prev_action,
		int32_t *action);

/* ------------------------------------------------------------------------
 * Step record of one run.
 */
typedef struct {
	long n, cap;
	int ncomp, nservices;
	double *load;       /* offered load per step */
	int32_t *action;    /* n x ncomp */
	double *delay;      /* n x nservices */
	double *carried, *cost, *reward, *cores;
	uint8_t *bound_met;
	double *dropped;       /* mr_step_info's, per step */
	uint8_t *served_short;
	int32_t *episode;   /* the evaluation episode of each step */
	int cur_episode;    /* what mr_steps_add records (0 after init) */
	int reward_f32;     /* 1: rewards are a vecenv's float32 values
			     * (mr_eval_run), written as such */
} mr_steps;

void mr_steps_init(mr_steps *s, int ncomp, int nservices);
void mr_steps_add(mr_steps *s, const int32_t *action, const mr_step_info *in,
		  double reward, double cores);
void mr_steps_free(mr_steps *s);

/* Runs c for nsteps steps on environment 0 of v (already reset),
 * appending to out (steps recorded with out->cur_episode). */
int mr_eval_run(mr_vecenv *v, const mr_action_space *as, mr_controller *c,
		long nsteps, mr_steps *out, mr_err *e);

/* A sweep: every joint action at every step of one evaluation episode.
 * v has one environment per joint action (mr_action_joint_count), all
 * walking the same load pattern deterministically; at every step
 * environment k plays joint action k. Valid only when actions do not change
 * future states (not for incremental spaces): then the per-step best action
 * is the optimum, and the mean over joint actions is the exact expected
 * reward of the uniform random policy. */
typedef struct {
	long nsteps, njoint;
	double *load;   /* nsteps: offered load (equal in every env) */
	double *reward; /* nsteps x njoint */
	double *cost;   /* nsteps x njoint */
	double *delay;  /* nsteps x njoint, first service */
} mr_sweep;

int mr_eval_sweep(mr_vecenv *v, const mr_action_space *as, long nsteps,
		  mr_sweep *out, mr_err *e);
void mr_sweep_free(mr_sweep *s);
/* table receives nsteps x ncomp choice indices of the per-step best joint
 * action (ties: lower cost, then lower index); returns its mean reward. */
double mr_sweep_best(const mr_sweep *s, const mr_action_space *as,
		     int32_t *table);
/* Mean over steps and joint actions: uniform random's expected reward. */
double mr_sweep_random_mean(const mr_sweep *s);
/* Service time estimate for the autoscaler, per core (the CPU a request
 * takes, in core units x seconds): the smallest first-service delay over
 * the episode with the most cores and the other components as in rest,
 * times those cores (with c cores a request is served c times faster:
 * the testbed's quota, a container's CPU limit). NaN when there is no
 * cores component. */
double mr_sweep_service_time(const mr_sweep *s, const mr_action_space *as,
			     const int32_t *rest);

/* Writes the per-step CSV atomically:
 * step,load,<component...>,[cores,]d1..dS,carried,cost,reward,bound_met,
 * episode (cores only when an action sets it as an absolute value;
 * step counts on across episodes, episode says which one a step is of) */
int mr_steps_write(const char *path, const mr_action_space *as,
		   const mr_steps *s, mr_err *e);

/* ------------------------------------------------------------------------
 * Statistics.
 */
/* The normalised score (r - r_random) / (r_opt - r_random): 1 at the
 * optimum, 0 at the uniform random policy's mean. NaN when the optimum
 * does not beat random by more than 1e-12 (the score would say nothing). */
double mr_norm_score(double r, double r_opt, double r_random);
/* Student-t 0.975 quantile with df degrees of freedom (df >= 1). */
double mr_t975(long df);
/* Mean and 95% half-width (t interval; 0 when n < 2). */
void mr_mean_ci(const double *x, long n, double *mean, double *half);
/* The same with the sample standard deviation (0 when n < 2). */
void mr_mean_sd_ci(const double *x, long n, double *mean, double *sd,
		   double *half);

typedef struct {
	char policy[32];
	long steps;
	double mean_reward, ci95;
	double norm_score;       /* (R - R_random) / (R_opt - R_random) */
	double bound_met_pct;    /* % of steps where every bound held */
	double bound_opt_pct;    /* % of the optimum's bound-met steps where
				  * this run also met the bound (NaN: none) */
	double mean_cores;       /* NaN when the space has no cores */
	double mean_cost, mean_carried, mean_load;
	/* over evaluation episodes (norm_score is then the mean of the
	 * episodes' scores): their count, and the 95% half-widths of the
	 * per-episode mean reward and score (NaN below 2 episodes) */
	int episodes;
	double episode_reward_ci95, norm_score_ci95;
	/* the served-share rule: the mean share of offered requests served
	 * (1 - mr_step_info.dropped; 1 without the rule) and the % of steps
	 * where a service's share was below min_served */
	double mean_served, served_short_pct;
} mr_summary;

/* r_opt, r_random: reference mean rewards; opt: the optimum's steps for
 * bound_opt_pct (NULL: NaN). One episode (episodes = 1). */
void mr_summarise(const mr_steps *s, const char *policy, double r_opt,
		  double r_random, const mr_steps *opt, mr_summary *out);
/* The same over n equally long episodes: r_opt[k], r_random[k] are
 * episode k's references (s->episode says which steps are whose);
 * norm_score is the mean of the episodes' scores, with its interval. */
void mr_summarise_episodes(const mr_steps *s, const char *policy, int n,
			   const double *r_opt, const double *r_random,
			   const mr_steps *opt, mr_summary *out);
/* Summary CSV, one row per policy, written atomically:
 * objective,pattern,seed,policy,steps,mean_reward,ci95,norm_score,
 * bound_met_pct,bound_met_where_opt_pct,[mean_cores,]mean_cost,
 * mean_carried,mean_load,episodes,episode_reward_ci95,norm_score_ci95,
 * mean_served,served_short_pct (mean_cores only when an action sets cores;
 * a figure a row cannot have, such as the score without an optimum, is an
 * empty field; ci95 is over steps, the last two over episodes). */
int mr_summary_write(const char *path, const char *objective,
		     const char *pattern, uint64_t seed,
		     const mr_summary *rows, int n, mr_err *e);

/* ------------------------------------------------------------------------
 * The uniform random reference: the mean reward per step the normalised
 * score calls 0. One definition for policy-eval's summary and ppo-train's
 * learning curve and --target-score.
 */
/* Fresh environments in the evaluation episode's start state (reset with
 * the evaluation seed), nenvs of them, and their end. */
typedef mr_vecenv *(*mr_env_opener)(void *ctx, int nenvs, mr_err *e);
typedef void (*mr_env_closer)(void *ctx, mr_vecenv *v);
/* Plays one evaluation episode of controller c; *mean: its mean reward
 * per step. */
typedef int (*mr_episode_fn)(void *ctx, mr_controller *c, double *mean,
			     mr_err *e);

typedef struct {
	const mr_action_space *as;
	long nsteps;           /* steps of an evaluation episode */
	uint64_t seed;         /* the evaluation seed */
	mr_env_opener open;
	mr_env_closer close;
	void *ctx;
	mr_episode_fn episode; /* NULL: mr_eval_run for nsteps steps on a
				* fresh environment from open */
	void *episode_ctx;
	int episodes;          /* sampled: how many episodes (>= 1) */
} mr_random_ref;

/* The uniform random policy's mean reward per step, into *out.
 * Swept (exact) when actions are settings and a sweep of every joint
 * action over the episode works (mr_sweep_random_mean); then the sweep is
 * handed over in *sw when sw is not NULL (the caller frees it).
 * Sampled otherwise: the mean over r->episodes episodes of each one's
 * mean reward per step, episode k = 0, 1, ... played by a uniform random
 * controller seeded seed + 7919 (k + 1).
 * Returns 1 when swept, 0 when sampled, -1 on error. why (may be NULL)
 * says why a space of settings could not be swept. */
int mr_random_reference(const mr_random_ref *r, mr_sweep *sw, mr_err *why,
			double *out, mr_err *e);

/* ------------------------------------------------------------------------
 * A whole evaluation: the policy (if any) and the baselines on the same
 * evaluation episodes, each on fresh environments from an opener, into a
 * directory:
 *   DIR/steps-<name>.csv  per controller, every episode
 *   DIR/summary.csv       written last
 * On failure every file this call wrote is removed again.
 */
/* Fresh environments at the start of evaluation episode k (0, 1, ...). */
typedef mr_vecenv *(*mr_episode_opener)(void *ctx, int k, int nenvs,
					mr_err *e);
/* The optimum's mean reward per step over episode k, from elsewhere. */
typedef int (*mr_optimal_mean_fn)(void *ctx, int k, double *mean,
				  mr_err *e);

typedef struct {
	const char *outdir;
	const char *objective, *pattern; /* labels for the summary */
	uint64_t seed;
	long nsteps;              /* steps of an episode */
	int episodes;             /* evaluation episodes (<= 0: 1) */
	const mr_action_space *as;
	const char *baselines;    /* "optimal,noop,hpa50,hpa80,random" */
	const int32_t *noop;      /* the fixed configuration */
	mr_act_fn policy;         /* NULL: baselines only */
	void *policy_ctx;
	const char *policy_name;  /* "ppo" */
	mr_env_act_fn optimal;    /* the optimum in the env's state, or NULL:
				   * then the sweep's per-step table */
	void *optimal_ctx;
	mr_optimal_mean_fn optimal_mean; /* with the opener's ctx: the
				   * optimum's mean from elsewhere (a cross-
				   * check; the reference without an optimal
				   * run), or NULL */
	int hpa_window;           /* hpaNN: stabilisation window, periods
				   * (<= 0: 1) */
	int random_episodes;      /* sampled random reference: episodes
				   * (<= 0: 10) */
	int quiet;
} mr_suite_opts;

int mr_eval_suite(const mr_suite_opts *so, mr_episode_opener open,
		  mr_env_closer close, void *ctx, mr_err *e);

/* ------------------------------------------------------------------------
 * Aggregation across runs (seeds): reads summary.csv files and writes, per
 * objective, pattern and policy, "runs" and the mean and 95% half-width of
 * norm_score, bound_met_pct, bound_met_where_opt_pct, mean_reward and
 * mean_cost (columns <name>_mean, <name>_ci95, then <name>_lo, <name>_hi:
 * the interval clipped to the figure's range), atomically. A run given
 * twice (same objective, pattern, policy and seed) is an error.
 */
int mr_eval_aggregate(const char *const *paths, int npaths,
		      const char *out_path, mr_err *e);

#endif
