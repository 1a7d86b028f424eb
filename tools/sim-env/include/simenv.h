/*
 * simenv.h - objectives as data and the simulator built on them.
 *
 * This is the interface other tools use (ppo-train, policy-eval). The
 * sim-env owner may add functions; changing these needs agreement.
 */
#ifndef MESHRL_SIMENV_H
#define MESHRL_SIMENV_H

#include "meshrl.h"
#include "vecenv.h"

typedef struct mr_objective mr_objective;

/* Parses an objective file (pipelines/objectives/NAME.obj); errors are
 * "file:line: reason". */
mr_objective *mr_objective_load(const char *path, mr_err *e);
void mr_objective_free(mr_objective *o);
const char *mr_objective_name(const mr_objective *o);
/* The system model file the simulator loads: model_path (a --model) when
 * given, else the objective's [model] file; NULL for an analytic model. */
const char *mr_objective_model_file(const mr_objective *o,
				    const char *model_path);
/* How many [param]s (state parameters such as changing bounds) it has. */
int mr_objective_nparams(const mr_objective *o);
/* A free-form key of a section, e.g. ("ppo", "lr"), or NULL when absent. */
const char *mr_objective_param(const mr_objective *o, const char *section,
			       const char *key);

/* Which episodes an environment plays (the evaluation protocol, README):
 * TRAIN, the load pattern itself (a sequence file as written); VALIDATION
 * (ppo-train's in-training evaluation) and TEST (policy-eval), evaluation
 * episodes reset with mr_simenv_episode_seed, where a sequence is a fresh
 * draw from the file's process: a Markov chain over its rows with the
 * transition frequencies counted in the file (cyclic), the same length, the
 * first row drawn from the rows' frequencies. */
enum { MR_EPISODES_TRAIN, MR_EPISODES_VALIDATION, MR_EPISODES_TEST };

typedef struct {
	int nenvs;                /* environments stepped together (>= 1) */
	uint64_t seed;
	int eval;                 /* 1: every episode walks the load pattern
				   * from its start, deterministically */
	int episodes;             /* MR_EPISODES_*: VALIDATION and TEST imply
				   * eval (deterministic for a reset seed) */
	const char *load_pattern; /* NULL: the objective's; else an override
				   * (unseen patterns in policy-eval) */
	const char *model_path;   /* NULL: the objective's system model */
	int live;                 /* added: 1 = never tabulate, predict every
				   * step (checks and benchmarks) */
	/* added (issue 16): a system change. NULL: none. Else steps t >=
	 * change_at of every episode (t = 0, 1, ... within the episode) run
	 * this model instead of model_path's: the same objective, loads and
	 * configurations, another system. */
	const char *model_after;
	long change_at;
} mr_simenv_opts;

/* The in-process simulator as a vecenv. The objective must outlive it.
 * Release with v->close(v) then free(v). load_pattern overrides take a
 * sequence file path, or "sin:mean=8;amplitude=4;period=240",
 * "levels:4,8,12", "constant:8" (pipelines/objectives/README.md). */
mr_vecenv *mr_simenv_open(const mr_objective *o, const mr_simenv_opts *opts,
			  mr_err *e);
/* Steps in one episode of the objective (its load pattern's length). */
int mr_simenv_episode_length(const mr_objective *o);
/* The reset seed of evaluation episode k (0, 1, ...) of a set
 * (MR_EPISODES_VALIDATION or TEST) of a run seeded seed: the first draw of
 * stream MR_STREAM_EPISODES_<SET>_BASE + k of that seed, below 2^63 (the
 * protocol's seeds are signed). Sets draw from streams of their own, so no
 * two episodes of the sets, nor a training environment's seed, share a
 * generator. */
uint64_t mr_simenv_episode_seed(uint64_t seed, int episodes, long k);

/* The exact optimum's mean reward per step over one evaluation episode of
 * the objective's load pattern (exhaustive search per state, or value
 * iteration for incremental actions). */
int mr_simenv_optimal_mean(const mr_objective *o, const mr_simenv_opts *opts,
			   double *mean_reward, mr_err *e);

/* Any simulator speaking the sim-env protocol, started as argv (no shell,
 * execvp; its stdin/stdout are one end of a socket pair, stderr is
 * inherited), as a vecenv. Errors from the simulator come back as
 * MR_EXIT_REMOTE with its message. Release with v->close(v) then free(v). */
mr_vecenv *mr_pipeenv_open(char *const argv[], int nenvs, uint64_t seed,
			   mr_err *e);

/* ------------------------------------------------------------------------
 * Planning on the simulator (online adaptation, tools/adapt): a state as a
 * value, and one step of a simulator's system model from any state of the
 * same objective and load pattern, e.g. with a simulator opened on a
 * re-estimated model. A state holds its step t, loads, parameters,
 * configuration and its load process's generator.
 */
#define MR_SIMENV_STATE_SIZE 512
typedef struct {
	_Alignas(8) unsigned char b[MR_SIMENV_STATE_SIZE];
} mr_simenv_state;
/* Env i's current state (before its next step). */
void mr_simenv_state_get(mr_vecenv *v, int i, mr_simenv_state *st);
/* The step within the episode the state is at. */
long mr_simenv_state_t(const mr_simenv_state *st);
/* Observation (obs_dim floats) and mask (total_choices bytes) in st. */
void mr_simenv_state_observe(mr_vecenv *m, const mr_simenv_state *st,
			     float *obs, uint8_t *mask);
/* One step of m's system model (its model_path, or model_after from
 * change_at on) from st under action (choice indices): reward, info and
 * the next state (may alias st). rng: the next loads are drawn with a
 * generator seeded from one draw of rng (a sample of the load process);
 * NULL: with the state's own (the episode's actual future). Episodes do
 * not end: t counts on. Fails on a choice outside the grid (a masked
 * move) or a reward that is not a number. */
int mr_simenv_state_step(mr_vecenv *m, const mr_simenv_state *st,
			 const int32_t *action, mr_rng *rng, double *reward,
			 mr_step_info *info, mr_simenv_state *next, mr_err *e);

/* A state of m's objective from an observation (a live row's, through
 * mr_simenv_live_observe): each load at the pattern's nearest level
 * (discrete patterns; its interval for continuous ones), parameters and
 * settings at their nearest grid values, step 0, a sequence at its first
 * row of those levels (its chain goes on from there). What an observation
 * does not hold (a sine's phase) is the evaluation episode's start. */
void mr_simenv_state_from_obs(mr_vecenv *m, const float *obs,
			      mr_simenv_state *st);
/* The system model's inputs and outputs at st under action, with m's
 * model (its model_after from change_at on): the feature row x (nfeat
 * values) and target values y (ntarget), both in the objective's order,
 * named by mr_simenv_model_names. Fails as mr_simenv_state_step. */
int mr_simenv_model_io(mr_vecenv *m, const mr_simenv_state *st,
		       const int32_t *action, double *x, double *y,
		       mr_err *e);
/* The trace columns of target j (objective order): *num its own name and
 * *den NULL, or, for a target rf-fit derives as the ratio NUM/DEN
 * (--ratio in [model] fit_args), those two columns. */
void mr_simenv_target_columns(const mr_objective *o, int j, const char **num,
			      const char **den);
/* The objective's model feature and target names (valid while the
 * objective is). */
void mr_simenv_model_names(const mr_objective *o, const char *const **feat,
			   int *nfeat, const char *const **target,
			   int *ntarget);

/* The system model's inputs and outputs at st under action, with m's
 * model (its model_after from change_at on): the feature row x (nfeat
 * values) and target values y (ntarget), both in the objective's order,
 * named by mr_simenv_model_names. Fails as mr_simenv_state_step. */
int mr_simenv_model_io(mr_vecenv *m, const mr_simenv_state *st,
		       const int32_t *action, double *x, double *y,
		       mr_err *e);
/* The objective's model feature and target names (valid while the
 * objective is). */
void mr_simenv_model_names(const mr_objective *o, const char *const **feat,
			   int *nfeat, const char *const **target,
			   int *ntarget);

/* ------------------------------------------------------------------------
 * Incremental actions: each component's choice is a move of its setting
 * by one step of its grid. These are the choice indices.
 */
enum { MR_MOVE_STAY = 0, MR_MOVE_DOWN = 1, MR_MOVE_UP = 2, MR_NMOVES = 3 };
/* The step a move makes: 0, -1 or +1. */
static inline int mr_move_delta(int move)
{
	return move == MR_MOVE_DOWN ? -1 : move == MR_MOVE_UP;
}

/* ------------------------------------------------------------------------
 * Action space, as values. Choice j of component i means value values[i][j]
 * (absolute, or a step such as -1/0/+1 when incremental).
 */
typedef struct {
	int ncomp;
	char name[MR_MAX_COMPONENTS][32];
	int nchoices[MR_MAX_COMPONENTS];
	double values[MR_MAX_COMPONENTS][MR_MAX_CHOICES];
	int incremental; /* 1: choices are steps (stay/-/+), not settings */
	int cores;       /* index of the component that sets cores, -1 */
} mr_action_space;

/* Choice index of value v in component i, or -1. */
int mr_action_choice(const mr_action_space *as, int i, double v);
/* Parses "p=80,c=1" (every component named exactly once) into choice
 * indices. Errors name the offending component or value. */
int mr_action_parse(const mr_action_space *as, const char *spec,
		    int32_t *action, mr_err *e);
/* "p=80,c=1" for an action (buf of at least 256 bytes). */
char *mr_action_format(const mr_action_space *as, const int32_t *action,
		       char *buf, size_t bufsize);
/* Number of joint actions (product of nchoices); 0 when above limit. */
long mr_action_joint_count(const mr_action_space *as, long limit);
/* Joint index k -> per-component indices (component 0 varies slowest). */
void mr_action_decode(const mr_action_space *as, long k, int32_t *action);

/* The objective's action components (names, values, incremental or not)
 * and which one sets cores: [eval] cores = NAME, else the first component
 * named c or c<digits>; -1 when none. */
int mr_objective_action_space(const mr_objective *o, mr_action_space *as,
			      mr_err *e);

/* The simulator's exact optimum as a controller (mr_env_act_fn): the best
 * action in environment 0's current state, by exhaustive search or, for
 * incremental actions, by value iteration (solved once, on first use).
 * ctx comes from mr_simenv_optimal_new and outlives every environment it
 * acts on; all must be of one objective and system model. */
void *mr_simenv_optimal_new(void);
int mr_simenv_optimal_act(void *ctx, mr_vecenv *v, int32_t *action, mr_err *e);
void mr_simenv_optimal_free(void *ctx);

/* ------------------------------------------------------------------------
 * Live evaluation: the objective on a measured system (policy-eval live).
 * A trace row (trace-collect's columns) is a measured state: the load of
 * each service and, for incremental objectives, the configuration
 * running. The row after an action measures its outcome. Observations,
 * masks, configurations and rewards come from the simulator's own code, so
 * a policy sees what it saw in training and earns the same reward.
 */
typedef struct mr_simenv_live mr_simenv_live;

#define MR_LIVE_MAX_PARAMS 8

typedef struct {
	double load[MR_MAX_SERVICES];   /* offered load per service */
	int32_t cfg[MR_MAX_COMPONENTS]; /* incremental: the running setting of
					 * each component, as an index into
					 * its values */
	int32_t param[MR_LIVE_MAX_PARAMS]; /* [param] level indices (a row
					    * has none: they come from a
					    * schedule) */
} mr_live_state;

/* The objective on measured rows. The system model (model_path; NULL: the
 * objective's) must open as for the simulator. timeout is the delay
 * counted for a target measured as 0 (a window without a success).
 * A row has no parameter column: [param] levels come with the state
 * (mr_simenv_live_schedule). The objective must outlive the result. */
mr_simenv_live *mr_simenv_live_open(const mr_objective *o,
				    const char *model_path, double timeout,
				    mr_err *e);
void mr_simenv_live_free(mr_simenv_live *l);
/* The action space (mr_objective_action_space) and the observation size:
 * the simulator's, choice for choice; the number of services. */
const mr_action_space *mr_simenv_live_actions(const mr_simenv_live *l);
int mr_simenv_live_obs_dim(const mr_simenv_live *l);
int mr_simenv_live_nservices(const mr_simenv_live *l);
/* The trace columns a row must hold, in this order: max_l<j> per service,
 * the model's targets (d1, ...), for incremental objectives each
 * component's setting column; no name twice. Valid while l is open. */
int mr_simenv_live_columns(const mr_simenv_live *l, const char *const **cols);
/* The trace column that carries component c's setting: the feature that
 * is exactly the action's variable (c1 = c), else the action's name. */
const char *mr_simenv_live_column(const mr_simenv_live *l, int c);
/* Value of setting k (an index into the values) of component c. */
double mr_simenv_live_setting(const mr_simenv_live *l, int c, int32_t k);

/* Incremental objectives (whose rows carry the settings): 1 when the row
 * ran configuration cfg, 0 when a setting differs (the action had not
 * reached the system when its window opened). Absolute ones: always 1. */
int mr_simenv_live_row_runs(const mr_simenv_live *l, const double *row,
			    const int32_t *cfg);

/* The state a row (values of the columns above) measured. Fails
 * (MR_EXIT_DATA) when a setting column holds a value not in its grid. */
int mr_simenv_live_read(const mr_simenv_live *l, const double *row,
			mr_live_state *st, mr_err *e);
/* The simulator's observation (obs_dim floats) and action mask (one byte
 * per choice, 1 = allowed) in state st. */
void mr_simenv_live_observe(const mr_simenv_live *l, const mr_live_state *st,
			    float *obs, uint8_t *mask);
/* The configuration (setting index per component) action leads to from
 * st: the action itself, or for incremental objectives st moved by it. */
void mr_simenv_live_config(const mr_simenv_live *l, const mr_live_state *st,
			   const int32_t *action, int32_t *cfg);
/* Reward and step info of running configuration cfg, as measured by row
 * (the objective's reward of the row's loads and targets). */
double mr_simenv_live_outcome(mr_simenv_live *l, const double *row,
			      const int32_t *cfg, mr_step_info *info);
/* The same with the parameters (and nothing else) of state at. */
double mr_simenv_live_outcome_at(mr_simenv_live *l, const double *row,
				 const mr_live_state *at, const int32_t *cfg,
				 mr_step_info *info);
/* Requests a row says were answered: the sum of the numerator columns of
 * the ratio targets (cl1 of served1 = cl1 / l1); NaN without any. */
double mr_simenv_live_answered(const mr_simenv_live *l, const double *row);
/* The objective's [param]s: count, names and level values. */
int mr_simenv_live_nparams(const mr_simenv_live *l);
const char *mr_simenv_live_param_name(const mr_simenv_live *l, int k);
double mr_simenv_live_param_value(const mr_simenv_live *l, int k, int32_t i);
/* The k-th model feature that is a constant (throughput's c1 = cores1):
 * its trace column and value, the setting the system must hold; 0 when
 * there are fewer. */
int mr_simenv_live_fixed(const mr_simenv_live *l, int k, const char **col,
			 double *value);
/* The first n states of the objective's test episode 0 for seed (the
 * loads and parameters policy-eval sim's first test episode walks; cfg:
 * the episode's start configuration), into out[0..n). */
int mr_simenv_live_schedule(mr_simenv_live *l, uint64_t seed, long n,
			    mr_live_state *out, mr_err *e);
/* The simulator's prediction for configuration cfg in state st: its
 * reward and step info (the model's targets through the same reward). */
double mr_simenv_live_predict(mr_simenv_live *l, const mr_live_state *st,
			      const int32_t *cfg, mr_step_info *info);
/* The simulator's three best choices in state st, best first (first of
 * equals ahead), and their predicted rewards; returns how many. Absolute
 * actions: joint actions. Incremental: configurations (indices into each
 * component's values), ranked by the reward of running them in st, which
 * is where a held load's optimum settles (the reward does not depend on
 * the move). */
int mr_simenv_live_top3(mr_simenv_live *l, const mr_live_state *st,
			int32_t act[3][MR_MAX_COMPONENTS], double rew[3]);
/* The states of the load pattern's levels x [param] levels (discrete
 * patterns; 0 otherwise): all of them when there are at most max, else
 * max at an even stride from a seeded offset. out holds max. */
long mr_simenv_live_grid(const mr_simenv_live *l, long max, uint64_t seed,
			 mr_live_state *out);
/* The simulator's optimal action in state st (exhaustive search, or for
 * incremental actions value iteration, solved on first use). */
int mr_simenv_live_optimal(mr_simenv_live *l, const mr_live_state *st,
			   int32_t *action, mr_err *e);

#endif
