/*
 * evaladapt.h - policy-eval sim --adapt: online adaptation by rollout
 * (issue 16) on the simulator, beside the base policy, the uniform random
 * policy and the (new) optimum.
 */
#ifndef MESHRL_EVALADAPT_H
#define MESHRL_EVALADAPT_H

#include "evaluate.h"
#include "meshrl.h"
#include "policy.h"
#include "simenv.h"

#define MR_ADAPT_MAX_VARIANTS 8
/* Default work budget of a decision (--adapt budget=N): model callbacks.
 * With the shipped forests and PPO nets one took at most 0.9 us of CPU
 * (Monte-Carlo on adapt-two: most callbacks are PPO forward passes), so a
 * decision takes at most about 4.5 ms, half the 10 ms goal (README
 * "Online adaptation"). */
#define MR_ADAPT_BUDGET 5000L

/* The --adapt syntax, for --help. */
extern const char mr_adapt_help[];

typedef struct {
	const mr_objective *o;
	mr_simenv_opts opts;       /* the test set; seed: the run's; with
				    * model_after and change_at: the change */
	const mr_action_space *as;
	const mr_policy *pol;      /* the base policy; NULL: the noop */
	const int32_t *noop;
	const char *specs[MR_ADAPT_MAX_VARIANTS];
	int nspecs;
	const char *outdir, *objective, *pattern;
	long nsteps;
	int episodes;
	int quiet;
} mr_adapt_eval;

/* Checks one --adapt SPEC (MR_EXIT_USAGE with the reason). */
int mr_adapt_spec_check(const char *spec, mr_err *e);
/* Runs optimal, the base policy, random and every variant on the same
 * test episodes; writes DIR/steps-<name>.csv, DIR/summary.csv and
 * DIR/adapt.csv (decision time, score after the change, periods to
 * recover, detection). */
int mr_eval_adapt(const mr_adapt_eval *a, mr_err *e);

/* policy-eval live --adapt SPEC: the rollout controller on measured
 * states (an mr_act_fn over the live loop's observation), improving the
 * base policy pol with the system model model_path (NULL: the
 * objective's). model=detect|refit watch the measured windows
 * (mr_adapt_live_window): detect raises and reports alarms (live there is
 * no model of the changed system to switch to), refit also refits the
 * forest as on the simulator (its file in outdir). A rollout that fails
 * takes the base policy's action (counted). */
typedef struct mr_adapt_live mr_adapt_live;
mr_adapt_live *mr_adapt_live_new(const mr_objective *o,
				 const char *model_path,
				 const mr_policy *pol,
				 const mr_action_space *as, const char *spec,
				 uint64_t seed, const char *outdir, mr_err *e);
/* The window just measured: row (columns cols[0..ncols), the live loop's)
 * is the outcome of action taken in the state observed as obs. Its
 * measured targets against the model's prediction into the CUSUM, and on
 * an alarm the model re-estimated (refit). A window with a target not
 * measured (nothing answered) is skipped. No-op for model=known. */
int mr_adapt_live_window(mr_adapt_live *l, const float *obs,
			 const int32_t *action, const double *row,
			 const char *const *cols, int ncols, mr_err *e);
void mr_adapt_live_act(void *ctx, const float *obs, const uint8_t *mask,
		       int32_t *action);
const char *mr_adapt_live_name(const mr_adapt_live *l);
/* One line on stderr: decisions, time per decision, failures; with
 * detect|refit a second: windows, alarms, refits. */
void mr_adapt_live_report(const mr_adapt_live *l, const char *prog);
void mr_adapt_live_free(mr_adapt_live *l);

#endif
