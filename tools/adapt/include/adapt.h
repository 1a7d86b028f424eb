/*
 * adapt.h - online policy adaptation (issue 16): detect that the system
 * changed, then improve the base policy by rollout with the current model
 * (Samani, Hammar and Stadler, "Online policy adaptation for networked
 * systems using rollout", NOMS 2024).
 *
 * Independent of PPO and of the simulator: the caller supplies the model
 * step, the base policy, the terminal value and the mask as callbacks
 * (mr_adapt_model). Nothing here allocates after mr_rollout_new.
 */
#ifndef MESHRL_ADAPT_H
#define MESHRL_ADAPT_H

#include "forest.h"
#include "meshrl.h"

#define MR_ADAPT_MAX_COMPONENTS 16 /* = MR_MAX_COMPONENTS (vecenv.h) */
#define MR_ADAPT_MAX_CHANNELS 8    /* residual series of one detector */

/* ------------------------------------------------------------------------
 * Change detection: a two-sided CUSUM (Page 1954) per residual channel.
 *
 * A residual is one window's (measured - predicted) / scale of one quantity
 * the model predicts (mean delay of a service, served share, ...), scale
 * being that residual's standard deviation while the model holds, so that
 * residuals are about N(0, 1) until the system changes. Per channel:
 *   up   = max(0, up   + r - delta)
 *   down = max(0, down - r - delta)
 * and an alarm when either exceeds h. delta (the drift allowance) is half
 * the smallest shift of the mean, in scales, worth detecting; h trades
 * detection delay against false alarms. For a shift of mu > delta scales
 * the expected delay is about (h + 1.166) / (mu - delta) windows; with no
 * shift, one channel alarms about once in
 * (exp(2 delta h') - 2 delta h' - 1) / (4 delta^2) windows, h' = h + 1.166
 * (Siegmund's approximation, halved for two sides). Defaults delta = 0.5,
 * h = 8: a 2-scale shift is found in about 6 windows, and a channel alarms
 * falsely about once in 9,500 windows (tests/unit/test_adapt.c measures
 * both). After an alarm the caller re-estimates the model and calls
 * mr_change_detector_reset.
 */
#define MR_CUSUM_DELTA 0.5
#define MR_CUSUM_H 8.0

typedef struct {
	int nchannels;
	double delta, h;
	double scale[MR_ADAPT_MAX_CHANNELS];
	double up[MR_ADAPT_MAX_CHANNELS], down[MR_ADAPT_MAX_CHANNELS];
	long windows;  /* updates since the last reset */
	int channel;   /* channel that raised the last alarm, -1 none */
} mr_change_detector;

/* nchannels in 1..MR_ADAPT_MAX_CHANNELS; scale (one per channel, > 0) or
 * NULL for all 1; delta >= 0, h > 0. Fails (MR_EXIT_USAGE) otherwise. */
int mr_change_detector_init(mr_change_detector *d, int nchannels,
			    const double *scale, double delta, double h,
			    mr_err *e);
/* Adds one window: raw residuals (measured - predicted), one per channel;
 * a NaN residual (nothing measured) leaves its channel unchanged. Returns
 * 1 on an alarm (the statistics stay above h until reset), else 0. */
int mr_change_detector_update(mr_change_detector *d, const double *residual);
/* Forgets the statistics (after the model was re-estimated). */
void mr_change_detector_reset(mr_change_detector *d);

/* ------------------------------------------------------------------------
 * Rollout: one step of policy iteration from a base policy.
 *
 * Q(s, a) = E[ r_0 + gamma r_1 + ... + gamma^(l-1) r_(l-1) + gamma^l V(s_l) ]
 * where s_1 follows the model from s under a, every later action is the base
 * policy's, and V is the terminal value (the base policy's critic; none:
 * 0, which with a long l makes Q a truncated Monte-Carlo value of the base
 * policy). The mean is over `runs` simulated trajectories; run k of
 * decision t draws from generator (seed, t * runs + k), the same for every
 * candidate action of the decision (common random numbers: differences of
 * Q are not drowned in noise). A deterministic model needs runs = 1.
 *
 * Joint rollout enumerates every allowed joint action (product of allowed
 * choices) and takes the best. Component-wise rollout (multi-agent
 * rollout) starts from the base action and, for component 0, 1, ... in
 * turn, tries every allowed choice of that component with the components
 * before it as already chosen and those after it as the base policy's:
 * sum instead of product of the choices. Ties keep the base action's
 * choice, else the lowest index. componentwise applies to every searched
 * step (the decision's and, with d > 1, the later ones).
 *
 * Multistep lookahead (depth d > 1): the actions of steps 1..d-1 are not
 * the base policy's but the best allowed joint action at each simulated
 * state (a search over every sequence of d joint actions), the base policy
 * acting from step d to l-1. It sees a better configuration d moves away
 * when the base policy would undo a first move, and scales the terminal
 * value's error by gamma^l. Cost: the d-th power of the joint actions.
 */
#define MR_ROLLOUT_MAX_DEPTH 4

/* The model and the base policy, all as callbacks on opaque states of
 * state_size bytes (copied with memcpy). Each returns 0, or -1 with e. */
typedef struct {
	int ncomp;                               /* action components */
	int nchoices[MR_ADAPT_MAX_COMPONENTS];   /* choices per component */
	size_t state_size;
	void *ctx;                               /* passed to every callback */
	/* One step of the current system model from s under action a (choice
	 * index per component): reward and next state (not aliasing s). A
	 * stochastic model draws from rng only. */
	int (*step)(void *ctx, const void *s, const int32_t *a, mr_rng *rng,
		    double *reward, void *next, mr_err *e);
	/* The base policy's action in s (deterministic: its mode). */
	int (*base)(void *ctx, const void *s, int32_t *a, mr_err *e);
	/* Terminal value of s; NULL: 0. */
	int (*value)(void *ctx, const void *s, double *v, mr_err *e);
	/* Admissible choices in s: one byte per choice, component after
	 * component (sum of nchoices), 1 = allowed; NULL: all allowed. */
	int (*mask)(void *ctx, const void *s, uint8_t *mask, mr_err *e);
} mr_adapt_model;

/* Work budget. The work of a decision is the number of model callbacks it
 * makes (steps, base-policy actions and terminal values), a count that
 * depends on the action space, l, d, runs and the search, never on timing.
 * mr_rollout_new bounds its worst case (every choice allowed) by the
 * budget: when the search asked for would exceed it, it takes the first of
 * these that fits: the joint action at the decision with the searched
 * later steps component-wise, then every searched step component-wise,
 * then the same with one step less of search depth (down to 1), each with
 * the most runs (<= those asked) that fit; none fitting with one run is
 * an error. So a decision never makes more than budget callbacks, and the
 * same seed gives the same actions on any machine. */
typedef struct {
	int depth;         /* steps searched (<= the depth asked for) */
	int outer_cw;      /* the decision's own action component-wise */
	int inner_cw;      /* the later searched steps component-wise */
	int runs;          /* trajectories per candidate (<= asked) */
	long worst;        /* callbacks of a decision at most */
} mr_rollout_plan;

typedef struct {
	int lookahead;      /* l >= 1: simulated steps (1 = one-step) */
	int depth;          /* 1..MR_ROLLOUT_MAX_DEPTH, <= l: steps whose
			     * action is optimised (0 taken as 1) */
	int runs;           /* m >= 1: trajectories per candidate action */
	int componentwise;  /* 1: one component at a time */
	double gamma;       /* discount in [0, 1] */
	uint64_t seed;
	long max_joint;     /* joint rollout refuses more candidates (0: 1e6) */
	long budget;        /* callbacks per decision at most (0: no bound) */
} mr_rollout_opts;

typedef struct mr_rollout mr_rollout;

/* Checks opts and the model's sizes (MR_EXIT_USAGE) and allocates the
 * scratch states. The model (and its ctx) must outlive the result. */
mr_rollout *mr_rollout_new(const mr_adapt_model *m,
			   const mr_rollout_opts *opts, mr_err *e);
void mr_rollout_free(mr_rollout *r);
/* The rollout action in state s (choice index per component). Every
 * candidate is admissible under the model's mask in s; fails
 * (MR_EXIT_FAIL) when a component has no allowed choice. *evaluated (may
 * be NULL) gets the number of Q values computed. Advances the decision
 * counter (the random streams of the next decision). */
int mr_rollout_act(mr_rollout *r, const void *s, int32_t *action,
		   long *evaluated, mr_err *e);
/* Q(s, a) as mr_rollout_act computes it for its next decision (for checks
 * and for reporting the improvement over the base action). */
int mr_rollout_q(mr_rollout *r, const void *s, const int32_t *a, double *q,
		 mr_err *e);
/* The search the budget allowed (fixed at mr_rollout_new). */
const mr_rollout_plan *mr_rollout_get_plan(const mr_rollout *r);
/* Callbacks made by the last mr_rollout_act (<= the plan's worst). */
long mr_rollout_work(const mr_rollout *r);

/* ------------------------------------------------------------------------
 * Online re-estimation of the system model after a change.
 *
 * The training set of a refit is every window measured since the change
 * (feature row and measured targets) and, where those do not reach, the
 * old trace: an old row enters only when no new window has its feature
 * row (every feature equal up to mr_value_matches), so a configuration
 * measured since the change is known by its new windows alone and every
 * other one keeps what the old trace says of it, or (mr_refit_scale_old)
 * that times the change measured where the new windows reach: per target,
 * the factor is the geometric mean over the new windows of (measured /
 * the old trace's mean at the window's feature row), windows whose row
 * the old trace lacks left out, 1 when none is left (after a slowdown the
 * unseen configurations then look slower too, not as fast as before; a
 * target is taken as positive, a delay or a share). The forest is fitted
 * with the caller's parameters on that set (in this order: new windows,
 * newest first, then old rows), so a refit is deterministic given them.
 */
typedef struct mr_refit mr_refit;

/* old_X (old_n x nfeat) and old_Y (old_n x ntarget): the old trace's
 * feature and target columns (copied). max_new: windows kept at most (the
 * oldest are dropped first). names are copied too. */
mr_refit *mr_refit_new(size_t nfeat, size_t ntarget, const double *old_X,
		       const double *old_Y, size_t old_n,
		       const char *const *feat_names,
		       const char *const *target_names, size_t max_new,
		       const mr_forest_params *params, mr_err *e);
void mr_refit_free(mr_refit *r);
/* Forgets the new windows (a new change). */
void mr_refit_clear(mr_refit *r);
/* on = 1: old rows times the measured change; default 0: as they are. */
void mr_refit_scale_old(mr_refit *r, int on);
/* The factor per target of the last fit (1 before any). */
const double *mr_refit_scales(const mr_refit *r);
/* At most k windows per feature row, the most recent (0, default: all):
 * a configuration measured again replaces what older windows said of it,
 * e.g. windows from before a change the detector placed too early. */
void mr_refit_recent(mr_refit *r, size_t k);
/* One window measured since the change. */
void mr_refit_add(mr_refit *r, const double *x, const double *y);
size_t mr_refit_windows(const mr_refit *r);
/* The forest of the current set; *n_new and *n_old (may be NULL) get how
 * many rows of each it was fitted on. */
mr_forest *mr_refit_fit(mr_refit *r, size_t *n_new, size_t *n_old,
			mr_err *e);

#endif
