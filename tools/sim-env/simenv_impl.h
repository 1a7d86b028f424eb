/*
 * simenv_impl.h - internals shared by the sim-env sources: the expression
 * compiler, the parsed objective, load patterns and the system model.
 *
 * Not an interface for other tools (they use simenv.h). Nothing here does
 * I/O in the step path; everything allocated is allocated at load or open.
 */
#ifndef MESHRL_SIMENV_IMPL_H
#define MESHRL_SIMENV_IMPL_H

#include "meshrl.h"
#include "ratio.h"
#include "simenv.h"

#define SE_MAX_VARS 256    /* names in one objective */
#define SE_MAX_PARAMS 8    /* [param X] sections */
#define SE_MAX_FEAT 64     /* model features */
#define SE_MAX_TARGETS 16  /* model targets */
#define SE_STACK 32        /* expression evaluation stack */
/* The compiler's limits: nesting of parentheses, calls, unary operators,
 * ^ and ?: (each level is a few frames of the recursive descent, so a
 * deep text cannot overflow the C stack), and instructions after
 * constant folding (an expression is a formula, not a program). */
#define SE_MAX_NEST 100
#define SE_MAX_INS 4096

/* ------------------------------------------------------------------------
 * Expressions: a tiny arithmetic language compiled to stack code.
 * Numbers, names, + - * / ^, unary - !, comparisons, && ||, c ? a : b, and
 * min max abs exp log sqrt pow clamp logistic floor ceil.
 */
enum {
	SE_CONST, SE_VAR, SE_ADD, SE_SUB, SE_MUL, SE_DIV, SE_POW, SE_NEG,
	SE_NOT, SE_LT, SE_LE, SE_GT, SE_GE, SE_EQ, SE_NE, SE_AND, SE_OR,
	SE_SEL, SE_MIN, SE_MAX, SE_ABS, SE_EXP, SE_LOG, SE_SQRT, SE_CLAMP,
	SE_LOGISTIC, SE_FLOOR, SE_CEIL
};

typedef struct {
	int op;
	int slot; /* SE_VAR */
	double k; /* SE_CONST */
} se_ins;

typedef struct {
	se_ins *ins;
	int n;
	int line; /* where it was written, for messages */
} se_expr;

/* Resolves a name to a slot (>= 0), or returns -1 when unknown. When the
 * name is a constant it may instead set *k and return -2. */
typedef int (*se_resolver)(void *ctx, const char *name, double *k);

/* Compiles text; errors are "reason at 'rest of text'" in e (the caller
 * prefixes file:line). An expression that reads no name must give a
 * finite number (1/0, log(0) are errors); one that reads names is
 * checked where it is evaluated (se_sim's nonfinite). */
int se_compile(const char *text, se_resolver res, void *ctx, se_expr *x,
	       mr_err *e);
double se_eval(const se_expr *x, const double *vars);
void se_expr_free(se_expr *x);
/* 1 when the expression reads slot. */
int se_uses(const se_expr *x, int slot);
/* The constant value when the expression is a single constant. */
int se_is_const(const se_expr *x, double *k);

/* ------------------------------------------------------------------------
 * Load patterns: what drives the offered load of each service.
 */
enum { SE_PAT_SEQUENCE, SE_PAT_LEVELS, SE_PAT_SIN };

typedef struct {
	int kind;
	int nserv;
	/* Discrete patterns (sequence, levels): the distinct levels of each
	 * service, ascending; the state holds level indices. */
	int nlevels[MR_MAX_SERVICES];
	double *levels[MR_MAX_SERVICES];
	/* sequence: nsteps x nserv level indices */
	int nsteps;
	int32_t *seq;
	/* sequence, as a Markov chain (evaluation sets): the positions
	 * grouped by their row's value, each group ascending; row p's group
	 * is occ[occ_first[p] .. occ_first[p] + occ_count[p]). The successor
	 * of a random member of p's group is a draw from the transition
	 * frequencies out of p's row. */
	int32_t *occ, *occ_first, *occ_count;
	/* levels: a new level is drawn with probability 1/hold per step */
	double hold;
	/* sequence, levels: training episodes add a uniform draw in
	 * [-jitter, jitter] to each level set (floored at 0); 0: none */
	double jitter;
	/* sin: l(t) = mean + amplitude sin(2 pi (t + phase) / period) + noise,
	 * floored at floor_; phase < 0 means random per training episode */
	double mean[MR_MAX_SERVICES], amp[MR_MAX_SERVICES];
	double period[MR_MAX_SERVICES], noise[MR_MAX_SERVICES];
	double phase, floor_;
	int length; /* natural episode length (sequence length, sin period) */
	char *desc; /* what it is, for messages */
} se_pattern;

void se_pattern_free(se_pattern *p);
/* Parses an override: "sin:mean=8,amplitude=4,period=240", "levels:4,8,12",
 * "constant:8", or a path of a sequence file. */
int se_pattern_from_spec(const char *spec, int nserv, se_pattern *p,
			 mr_err *e);

/* ------------------------------------------------------------------------
 * The parsed objective.
 */
enum { SE_MODEL_FOREST, SE_MODEL_ANALYTIC };
enum {
	SE_FAM_DELAY_BOUND_COST,
	SE_FAM_THROUGHPUT_LOGISTIC,
	SE_FAM_COST_INCREMENTAL,
	SE_FAM_DIFFERENTIATION
};
/* Reward roles: the keys of [reward] a family reads. */
enum {
	SE_R_DELAY, SE_R_OFFERED, SE_R_CARRIED, SE_R_BOUND, SE_R_WIDTH,
	SE_R_SERVED, SE_R_NPER /* per-service roles above */
};
enum { SE_R_COST, SE_R_BUDGET, SE_R_VALUE, SE_R_PENALTY, SE_R_SCALE,
       SE_R_COST_WEIGHT, SE_R_NGLOBAL };

/* Kinds of names. */
enum { SE_V_CONST, SE_V_LOAD, SE_V_PARAM, SE_V_ACTION, SE_V_TARGET,
       SE_V_VAR, SE_V_REWARD };

typedef struct {
	char *name;
	int nvalues;
	double *values;
	int start; /* incremental: index of the evaluation start, -1 random */
	int slot;
} se_action;

typedef struct {
	char *name;
	int nlevels;
	double *levels;
	int per_episode; /* 1: drawn at episode start, else every step */
	int slot;
} se_param;

typedef struct {
	char *section, *key, *value;
	int line;
} se_kv;

struct mr_objective {
	char *path, *dir, *name;
	int nserv;
	char *serv_names[MR_MAX_SERVICES];
	int episode_length; /* 0: the pattern's */
	/* incremental: share of training episodes that start at the actions'
	 * evaluation start (the rest start anywhere), so the way down from
	 * it is trained as often as evaluation walks it */
	double train_from_start;
	se_pattern pattern;
	int incremental;
	int nact;
	se_action act[MR_MAX_COMPONENTS];
	int nparam;
	se_param param[SE_MAX_PARAMS];

	/* names: slot i is var_name[i] of kind var_kind[i] */
	int nvars;
	char *var_name[SE_MAX_VARS];
	int var_kind[SE_MAX_VARS];
	int var_line[SE_MAX_VARS];
	double const_val[SE_MAX_VARS];
	int load_slot[MR_MAX_SERVICES];

	/* model */
	int model_kind;
	char *model_file, *trace, *fit_args; /* resolved against dir */
	int nfeat;
	char *feat_name[SE_MAX_FEAT];
	se_expr feat[SE_MAX_FEAT];
	int ntarget;
	char *target_name[SE_MAX_TARGETS];
	int target_slot[SE_MAX_TARGETS];
	se_expr analytic[SE_MAX_TARGETS]; /* over feature indices */

	/* [vars] then [reward], evaluated in file order */
	int nderived;
	se_expr derived[SE_MAX_VARS];
	int derived_slot[SE_MAX_VARS];
	int family;
	int rslot[SE_R_NPER][MR_MAX_SERVICES]; /* -1 when absent */
	int gslot[SE_R_NGLOBAL];               /* -1 when absent */
	/* the served-share rule (se_outcome): [reward] timeout<i> (else
	 * timeout, else 0) and min_served, constants */
	double timeout[MR_MAX_SERVICES];
	double min_served;

	/* [model] risk: targets with side[t] = +1 (upper) are taken at the
	 * risk quantile across the forest's trees, -1 (lower) at 1 - risk;
	 * risk 0: every target is the trees' mean */
	double risk;
	int side[SE_MAX_TARGETS];
	/* a target rf-fit derives with --ratio NAME=NUM/DEN (fit_args): its
	 * trace columns, for reading measured rows (live, fidelity); name
	 * NULL when it is a trace column */
	rf_ratio ratio[SE_MAX_TARGETS];

	/* every key = value, for mr_objective_param */
	int nkv;
	se_kv *kv;
};

/* Parses objective text; dir is where relative paths point. */
mr_objective *se_objective_parse(const char *text, size_t len,
				 const char *name, const char *dir, mr_err *e);
/* pattern.c: the [load] keys (parallel arrays; where and lines name them
 * in messages) as a pattern; dir is where a sequence file is looked for. */
int se_pattern_parse_kv(se_pattern *p, int nserv, const char *const *keys,
			const char *const *vals, const int *lines, int n,
			const char *where, const char *dir, mr_err *e);
/* "0..100 step 20", "1..5", "0, 0.2, 0.4": ascending distinct values. */
int se_parse_grid(const char *text, double **out, int *n, mr_err *e);
const char *se_family_name(int family);
/* Blanks trimmed (in place); a whole text that is a finite number. */
char *se_trim(char *s);
int se_parse_num(const char *s, double *v);
/* KEY of [SECTION] ("eval", "action p") into *out: as written, but in the
 * expression sections (features, targets, const, vars, reward but its
 * family) the number the expression folds to, "" when it is no constant;
 * NULL when absent. -1 when SECTION is not a section of the format. */
int se_objective_get(const mr_objective *o, const char *section,
		     const char *key, char num[32], const char **out);
/* The key = value written at line (for messages), or NULL. */
const se_kv *se_objective_kv_at(const mr_objective *o, int line);
/* Every value a pipeline may be handed (all but the expression sections)
 * is made of characters no shell or make interprets; else an error naming
 * file:line and the character (objective.c says which). */
int se_objective_check_values(const mr_objective *o, mr_err *e);

/* ------------------------------------------------------------------------
 * The system model behind a small interface: anything mapping a feature
 * row to target values, with the training range of each feature.
 */
typedef struct se_model se_model;
struct se_model {
	int nfeat, ntarget;
	/* feature i of the objective is column feat_map[i] of the model's
	 * input; target j of the objective is model output target_map[j] */
	int feat_map[SE_MAX_FEAT];
	int target_map[SE_MAX_TARGETS];
	int model_nfeat, model_ntarget;
	double fmin[SE_MAX_FEAT], fmax[SE_MAX_FEAT]; /* objective order */
	int has_range;
	void *impl;
	const mr_objective *o;
	/* x: n rows of objective-ordered features; y: n rows of targets.
	 * tmp holds n * (model_nfeat + model_ntarget) doubles. */
	void (*predict)(const se_model *m, const double *x, size_t n,
			double *y, double *tmp);
	/* Optional (NULL: unknown): the model is piecewise constant in
	 * feature i (objective order) and changes only where the feature
	 * crosses one of these values (ascending, x > thr semantics); writes
	 * up to cap of them and returns how many there are. */
	size_t (*thresholds)(const se_model *m, int i, double *out,
			     size_t cap);
	/* Optional (NULL: one prediction, no trees): the standard deviation
	 * across the forest's trees of each target at feature row x
	 * (objective order). */
	int (*spread)(const se_model *m, const double *x, double *sd);
	void (*free)(se_model *m);
};

int se_model_open(const mr_objective *o, const char *path, se_model *m,
		  mr_err *e);
void se_model_close(se_model *m);
/* The q-quantile of v[0..n) (n >= 1; v is reordered): linear
 * between order statistics, v[floor(h)] + (h - floor(h)) (v[floor(h)+1] -
 * v[floor(h)]) with h = (n - 1) q, numpy's default. */
double se_quantile(double *v, size_t n, double q);

/* ------------------------------------------------------------------------
 * The simulator (simenv.c) and what optimal.c, protocol.c and main.c need
 * of it.
 */
typedef struct {
	int32_t t;                          /* step within the episode */
	int32_t pos;                        /* sequence position */
	double phase;                       /* sin: phase offset, steps */
	mr_rng rng;
	int32_t lidx[MR_MAX_SERVICES];      /* load level (discrete loads) */
	double load[MR_MAX_SERVICES];       /* load value */
	int32_t pidx[SE_MAX_PARAMS];        /* parameter level */
	int32_t cidx[MR_MAX_COMPONENTS];    /* incremental: configuration */
	/* jittered loads (se_sim.jitter): the level index (lidx is then the
	 * load's interval) and the draw added to that level */
	int32_t level[MR_MAX_SERVICES];
	double jit[MR_MAX_SERVICES];
} se_state;

typedef struct se_sim_s {
	const mr_objective *o;
	const se_pattern *pat;
	se_pattern own_pat;
	int discrete_load; /* the loads are the pattern's levels (sequence,
			    * levels, not jittered) */
	double jitter;     /* training episodes: the pattern's jitter, else 0 */
	se_model model;
	int nenvs, eval, ep_len, obs_dim;
	int set;       /* mr_simenv_opts.episodes: with an evaluation set,
			* every environment plays the reset seed's episode */
	int chain;     /* a sequence walked as its Markov chain (evaluation
			* sets) */
	uint64_t seed;
	se_state *st;
	double *vars;  /* scratch for one evaluation */
	/* the first value an expression gave that is not a finite number,
	 * as an error naming the objective's file:line and the state; ""
	 * while there is none. Sticky: se_outcome is NaN from then on, and
	 * a caller that meets a NaN reports it (se_nonfinite_error). */
	char nonfinite[512];
	/* tabulation: the model over every (load, param, action) the
	 * features read; row = sum of index * stride. A load's index is its
	 * level (discrete patterns) or its interval (continuous loads,
	 * loadgrid.c); nlev/lev are the loads the table was evaluated at. */
	int tabulated;
	size_t nrows;
	double *table; /* nrows x ntarget */
	size_t lstride[MR_MAX_SERVICES], pstride[SE_MAX_PARAMS];
	size_t astride[MR_MAX_COMPONENTS];
	int nlev[MR_MAX_SERVICES];
	const double *lev[MR_MAX_SERVICES];
	/* continuous loads tabulated exactly: the model is constant between
	 * breakpoints; interval k of service j is [brk[j][k-1], brk[j][k])
	 * within [lo[j], hi[j]]; a load outside is predicted live (lidx -1) */
	int interval_load;
	int nbrk[MR_MAX_SERVICES];
	double *brk[MR_MAX_SERVICES], *rep[MR_MAX_SERVICES];
	double lo[MR_MAX_SERVICES], hi[MR_MAX_SERVICES];
	uint64_t *row_below, *row_above; /* per row: features out of range */
	uint64_t live_queries;           /* loads outside [lo, hi] */
	char lookup[256];                /* how the model is evaluated */
	/* live prediction buffers, nenvs rows */
	double *X, *Y, *tmp;
	int32_t *live_env; /* nenvs: env of live row k */
	int32_t *cfg; /* nenvs x ncomp: configuration of the current step */
	/* extrapolation: model queries outside the training range */
	uint64_t queries, outside;
	uint64_t below[SE_MAX_FEAT], above[SE_MAX_FEAT];
	/* the span of each feature over the table's rows (has_span): a span
	 * far narrower than the training range hints at other units */
	int has_span;
	double span_lo[SE_MAX_FEAT], span_hi[SE_MAX_FEAT];
	int has_reset;
	/* a system change (mr_simenv_opts.model_after): steps t >= change_at
	 * take their targets from after's model (after: one environment, its
	 * st[0] the scratch state for those predictions) */
	mr_vecenv *after_env;
	struct se_sim_s *after;
	long change_at;
} se_sim;

/* simenv.c: the variables of state st running configuration cfg, into
 * s->vars (loads, params, actions). */
void se_fill_vars(se_sim *s, const se_state *st, const int32_t *cfg);
/* A query is outside feature i's training range when x < below or
 * x > above (the range with a small tolerance). */
void se_range_edges(const se_sim *s, int i, double *below, double *above);
/* loadgrid.c: breakpoints of the continuous loads the features read.
 * Returns 1 when built (then nlev/lev index the intervals), 0 when the
 * model or the features do not allow it (why says so). */
int se_intervals_build(se_sim *s, char *why, size_t size);
void se_intervals_free(se_sim *s);
/* Interval index of load x of service j, or -1 outside [lo, hi]. */
int32_t se_interval_of(const se_sim *s, int j, double x);

se_sim *se_sim_of(mr_vecenv *v);
/* The error of a NaN result: the non-finite value noted (file:line of its
 * expression, MR_EXIT_DATA), else a reward that is not a number. */
int se_nonfinite_error(const se_sim *s, mr_err *e);
/* Starts an episode for env i (state only; obs are written by callers). */
void se_episode_start(se_sim *s, int i);
/* 1 when state st runs the model after the system change. */
static inline int se_changed(const se_sim *s, const se_state *st)
{
	return s->after && st->t >= s->change_at;
}
/* Target values of configuration cfg in st with the model after the
 * change (s->after; out: ntarget doubles). */
const double *se_targets_after(se_sim *s, const se_state *st,
			       const int32_t *cfg, double *out);
/* st as the after simulator indexes it, in s->after->st[0]. */
se_state *se_after_state(se_sim *s, const se_state *st);
/* Target values of running configuration cfg in state st (a table row, or
 * a live prediction into out). */
const double *se_targets(se_sim *s, const se_state *st, const int32_t *cfg,
			 double *out);
/* The model's feature row x (nfeat values) of configuration cfg in st. */
void se_feature_row(se_sim *s, const se_state *st, const int32_t *cfg,
		    double *x);
/* The standard deviation across the forest's trees of each target at
 * feature row x (objective order); -1 when the model has no trees. */
int se_tree_spread(se_sim *s, const double *x, double *sd);

/* Support (support.c): the trace's feature columns, to count the windows
 * behind a prediction. */
typedef struct {
	mr_table trace; /* the objective's feature columns, in its order */
	int nfeat;
	mr_table meas;  /* fidelity: the targets' columns (a --ratio: two) */
	int has_meas;
	int tcol[SE_MAX_TARGETS], ncol[SE_MAX_TARGETS], dcol[SE_MAX_TARGETS];
} se_support;
int se_support_open(const mr_objective *o, const char *path,
		    se_support *sp, mr_err *e);
/* Trace windows whose every feature equals x's (mr_value_matches). */
size_t se_support_windows(const se_support *sp, const double *x);
/* What the trace measured where the features equal x's: windows, and per
 * target (objective order) the mean and 90th percentile over them. A delay
 * of 0 in a window that answered nothing counts as timeout (when > 0). */
typedef struct {
	size_t n;
	double mean[SE_MAX_TARGETS], p90[SE_MAX_TARGETS];
} se_measured;
/* Also reads the targets' columns; -1 (e says which) when one is missing. */
int se_support_measure_open(const mr_objective *o, const char *path,
			    se_support *sp, mr_err *e);
void se_support_measure(const se_support *sp, const mr_objective *o,
			const double *x, double timeout, se_measured *m);
void se_support_free(se_support *sp);

/* A ratio target's value in a measured row: nothing offered, none lost. */
static inline double se_ratio_value(double num, double den)
{
	return den > 0 ? num / den : 1;
}

/* Reward and info of running configuration cfg in state st; NaN when an
 * expression gave a value that is not a finite number (now or before:
 * se_sim.nonfinite). */
double se_outcome(se_sim *s, const se_state *st, const int32_t *cfg,
		  const double *targets, mr_step_info *info);
/* cfg of an action (absolute: the indices; incremental: moved state). */
void se_action_cfg(const se_sim *s, const se_state *st,
		   const int32_t *action, int32_t *cfg);
/* A short description of extrapolation counts ("" when none). */
void se_range_report(const se_sim *s, char *buf, size_t size);
/* Names of the observation entries. */
const char *se_obs_name(const se_sim *s, int k, char *buf, size_t size);
/* The observation (loads, params, incremental: settings) and action mask
 * (one byte per choice, 1 = allowed) of state st: what the simulator and
 * the live loop (live.c) give a policy. Absolute actions' mask is all
 * ones in every state; it is written only with whole_mask (the simulator
 * writes it once at open and leaves it out of every step). */
void se_obs_mask(const mr_objective *o, const se_state *st, float *obs,
		 uint8_t *mask, int whole_mask);
/* Writes obs and masks of env i from its state. */
void se_write_obs(se_sim *s, mr_vecenv *v, int i);

/* optimal.c */
typedef struct {
	int incremental;
	/* discrete states: index = sum of level index * stride over loads,
	 * params (and configuration when incremental) */
	size_t nstates;
	int32_t *best;   /* nstates x ncomp actions */
	double *reward;  /* nstates: reward of the best action */
	double *value;   /* incremental: the value-iteration value */
	int iterations;  /* value iteration sweeps */
	double gamma;
} se_optimum;

/* State index of st (loads, params, config when incremental), or -1 when
 * a load is continuous. */
long se_state_index(const se_sim *s, const se_state *st);
size_t se_state_count(const se_sim *s);
/* Decodes a state index into st (load values from levels). */
void se_state_decode(const se_sim *s, size_t idx, se_state *st);
/* Best action for state st by exhaustive search (absolute actions). */
double se_best_action(se_sim *s, const se_state *st, int32_t *action,
		      mr_step_info *info);
/* The same, also giving the runner-up (the best of the others; first of
 * equals) and its reward. */
double se_best_two(se_sim *s, const se_state *st, int32_t *action,
		   mr_step_info *info, int32_t *runner, double *runner_r);
int se_optimum_solve(se_sim *s, se_optimum *opt, mr_err *e);
void se_optimum_free(se_optimum *opt);
/* The optimum's best action in the current state of env i. */
int se_optimum_act(se_sim *s, const se_optimum *opt, int i, int32_t *action,
		   mr_err *e);

/* protocol.c: one request frame in, one reply out (msgpack). */
typedef struct se_server se_server;
se_server *se_server_new(const mr_objective *o, const char *model_path,
			 const char *load_pattern);
void se_server_free(se_server *s);
/* Handles one request; reply gets the reply frame's bytes. Returns 1 when
 * the request asked to close. */
int se_server_handle(se_server *s, const char *req, size_t len,
		     msgpack_sbuffer *reply);
/* Parses a step/reset reply into a vecenv's buffers (client side). */
int se_client_parse_reply(mr_vecenv *v, const char *buf, size_t len,
			  mr_err *e);

#endif
