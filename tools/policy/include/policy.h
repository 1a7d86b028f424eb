/*
 * policy.h - a policy: its file, its networks and heads, and acting with
 * it. policy-eval loads and acts; ppo-train also builds and changes one.
 *
 * What is deliberately not here: training (ppo-train), environments.
 */
#ifndef MESHRL_POLICY_H
#define MESHRL_POLICY_H

#include <stdint.h>

#include "meshrl.h"
#include "mlp.h"
#include "vecenv.h"

typedef struct mr_policy mr_policy;

/* msgpack file, format "ppo-policy" (schema in README). */
mr_policy *mr_policy_load(const char *path, mr_err *e);
/* Refuses a policy whose sizes do not match the environment. */
int mr_policy_check(const mr_policy *p, int obs_dim, int ncomp,
		    const int *nchoices, mr_err *e);
/* Deterministic action: the most likely allowed choice of each head (per
 * component, or the most likely allowed combination). obs is raw (the
 * policy applies its own normalisation); mask has sum(nchoices) entries,
 * 1 = allowed, NULL = all allowed. */
void mr_policy_act(const mr_policy *p, const float *obs, const uint8_t *mask,
		   int32_t *action);
void mr_policy_free(mr_policy *p);
/* The critic's value of one raw observation (the base policy's value
 * estimate, a rollout's terminal value). */
double mr_policy_value(const mr_policy *p, const float *obs);


/* How the actor's outputs cover the action components:
 * FACTORED: one categorical head per component (MultiDiscrete, as
 *   published); the components are drawn independently given the state.
 * JOINT: one categorical over every combination (product of the choices,
 *   row-major: the last component varies fastest); masks are the product
 *   of the components' masks. Every combination has its own logit, so a
 *   better one gains probability directly however many components it
 *   changes; factored heads can stop where only a move of two components
 *   at once gains (measured on the throughput objective).
 * AUTO: JOINT when the product is at most MR_HEADS_AUTO_MAX, else
 *   FACTORED. */
enum { MR_HEADS_AUTO, MR_HEADS_FACTORED, MR_HEADS_JOINT };
#define MR_HEADS_AUTO_MAX 1024
/* "auto", "factored", "joint": the names flags, [ppo] sections and policy
 * files use. mr_heads_parse returns MR_HEADS_* or -1 for another name. */
const char *mr_heads_name(int heads);
int mr_heads_parse(const char *name);

/* ------------------------------------------------------------------------
 * Inside a policy (for the trainer): actor and critic MLPs over one
 * parameter array, and the observation normaliser.
 */
struct mr_policy {
	/* the environment's actions */
	int obs_dim, ncomp, nchoices[MR_MAX_COMPONENTS], total_choices;
	/* the actor's heads (MR_HEADS_FACTORED: the same as the actions;
	 * MR_HEADS_JOINT: one head of prod(nchoices) choices); the actor has
	 * head_total outputs */
	int heads, head_ncomp, head_nchoices[MR_MAX_COMPONENTS], head_total;
	int shared;
	mr_mlp actor, critic;
	size_t nparams;
	float *params, *wt;       /* wt: transposed weights (mlp.h) */
	/* running statistics (Chan et al. merge), and what is applied */
	int norm_obs;
	double obs_clip, obs_count;
	double *obs_mean, *obs_var;
	float *norm_shift, *norm_scale; /* float32 copies applied to obs */
	char objective[128];
};

/* The networks' shape and the normaliser's settings of a new policy. */
typedef struct {
	int nhidden, hidden[MR_MLP_MAX_LAYERS - 1];   /* actor (and trunk) */
	int cnhidden, chidden[MR_MLP_MAX_LAYERS - 1]; /* critic, separate */
	mr_act act;
	int shared;     /* 1: critic head on the actor's trunk */
	int heads;      /* MR_HEADS_* */
	int norm_obs;
	double obs_clip;
	uint64_t seed;  /* initial weights */
} mr_policy_shape;

/* A new policy with orthogonally initialised weights. */
mr_policy *mr_policy_new(int obs_dim, int ncomp, const int *nchoices,
			 const mr_policy_shape *s, mr_err *e);
/* Recomputes norm_shift/scale from the running statistics, wt from params. */
void mr_policy_refresh(mr_policy *p);
/* Merges n raw observations (n, obs_dim) into the running statistics. */
void mr_policy_observe(mr_policy *p, const float *obs, size_t n);
/* out (n, obs_dim) = clip((obs - mean) / sqrt(var + 1e-8)) */
void mr_policy_normalize(const mr_policy *p, const float *obs, float *out,
			 size_t n);
/* The heads' mask (head_total) from the environment's (total_choices;
 * NULL: all allowed). Returns 0, or -1 when some head allows nothing. */
int mr_policy_head_mask(const mr_policy *p, const uint8_t *env_mask,
			uint8_t *head_mask);
/* The environment's action (ncomp) from the heads' choices (head_ncomp). */
void mr_policy_decode(const mr_policy *p, const int32_t *head_act,
		      int32_t *env_act);
/* The actor's raw logits (head_total) for one raw observation. */
void mr_policy_logits(const mr_policy *p, const float *obs, float *logits);
/* Packs the policy map / reads it back (used by the checkpoint too). */
void mr_policy_pack(msgpack_packer *pk, const mr_policy *p);
mr_policy *mr_policy_unpack(const msgpack_object *root, const char *name,
			    mr_err *e);
int mr_policy_save(const mr_policy *p, const char *path, mr_err *e);

#endif
