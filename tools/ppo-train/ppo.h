/*
 * ppo.h - proximal policy optimisation on a vecenv: configuration, the
 * policy's inside, the trainer, and the loss pieces the tests check.
 *
 * What is deliberately not here: command-line parsing, files other than the
 * policy/checkpoint, evaluation episodes (tools/ppo-train/main.c).
 */
#ifndef MESHRL_PPO_H
#define MESHRL_PPO_H

#include <stdint.h>

#include "meshrl.h"
#include "mlp.h"
#include "policy.h"
#include "vecenv.h"

#define MR_PPO_MAX_THREADS 16

/* ------------------------------------------------------------------------
 * configuration: every hyper-parameter, settable by name (flags and the
 * objective's [ppo] section share mr_ppo_config_set).
 */
typedef struct {
	int nhidden, hidden[MR_MLP_MAX_LAYERS - 1]; /* actor (and trunk) */
	int cnhidden, chidden[MR_MLP_MAX_LAYERS - 1]; /* critic, separate */
	mr_act act;
	int shared;          /* 1: critic head on the actor's trunk */
	int n_steps;         /* steps per environment per rollout */
	int nenvs;
	int batch;           /* minibatch size */
	int epochs;
	double lr;
	int lr_decay;        /* 1: linear to 0 over timesteps */
	double gamma, gae_lambda;
	double clip;         /* policy ratio clip */
	double clip_vf;      /* value clip, <= 0: none */
	double ent_coef, vf_coef;
	double max_grad_norm; /* <= 0: none */
	double adam_eps;
	int norm_obs, norm_adv;
	double obs_clip;
	int continuing;      /* 1: episode ends are time limits; returns are
			      * not cut there (the next start does not
			      * depend on the actions) */
	int64_t timesteps;
	int threads;
	uint64_t seed;
	int heads;           /* MR_HEADS_*: how the actor spans the actions */
} mr_ppo_config;

/* preset: "delay" (the published delay settings) or "incremental" (the
 * published MaskablePPO settings); other names fail. */
int mr_ppo_config_defaults(mr_ppo_config *c, const char *preset, mr_err *e);
/* Sets one key ("lr", "net", "n_steps", ...), value as text. Unknown keys
 * and unparsable values fail with MR_EXIT_USAGE. */
int mr_ppo_config_set(mr_ppo_config *c, const char *key, const char *val,
		      mr_err *e);
/* Names every key mr_ppo_config_set knows (NULL-terminated). */
extern const char *const mr_ppo_config_keys[];
/* Refuses nonsense (batch > rollout, lr < 0, ...) with MR_EXIT_USAGE. */
int mr_ppo_config_check(const mr_ppo_config *c, mr_err *e);
/* One line describing the configuration (for logs and the checkpoint). */
void mr_ppo_config_describe(const mr_ppo_config *c, char *buf, size_t n);
/* The shape of the policy a configuration trains. */
void mr_ppo_policy_shape(const mr_ppo_config *c, mr_policy_shape *s);

/* ------------------------------------------------------------------------
 * loss pieces (exposed for the tests)
 */

/* Masked log-softmax of one categorical head: logp (n) and p (n); masked
 * choices get p = 0 and logp = -inf. Returns the entropy. mask NULL: all
 * allowed. At least one choice must be allowed. */
double mr_masked_log_softmax(const float *logits, const uint8_t *mask, int n,
			     float *logp, float *p);
/* GAE(lambda) over a rollout of T steps x N envs (index t*N+i): dones[t*N+i]
 * ends the episode after step t (dones NULL: nothing ends, a continuing
 * task); last_values (N) are V of the observation after the last step.
 * Fills adv and returns (= adv + values). */
void mr_gae(const float *rewards, const uint8_t *dones, const float *values,
	    const float *last_values, int T, int N, double gamma,
	    double lambda, float *adv, float *returns);
/* Clipped surrogate of one sample: loss -min(A r, A clip(r)), and its
 * derivative with respect to logp_new in *dlogp; *clipped is 1 when the
 * clipped branch is taken. */
double mr_ppo_surrogate(double logp_new, double logp_old, double adv,
			double clip, double *dlogp, int *clipped);

/* One sample's policy loss, pg_loss - ent_coef * entropy, over all
 * components (joint log-probability = sum, entropy = sum), and its
 * gradient with respect to the logits z (total_choices), times scale, in
 * dz (masked choices get 0). logp and p are total_choices scratch. */
typedef struct {
	double pg_loss, logp, entropy;
	int clipped;
} mr_ppo_sample_out;
double mr_ppo_policy_loss(const float *z, const uint8_t *mask, int ncomp,
			  const int *nchoices, const int32_t *act,
			  double logp_old, double adv, double clip,
			  double ent_coef, double scale, float *logp, float *p,
			  float *dz, mr_ppo_sample_out *o);

/* ------------------------------------------------------------------------
 * the trainer
 */
typedef struct mr_ppo mr_ppo;

typedef struct {
	double pg_loss, v_loss, entropy, approx_kl, clip_frac, grad_norm;
	double ep_return; /* mean return of episodes finished in the rollout */
	int episodes;
} mr_ppo_stats;

/* envs: one vecenv per rollout thread (nvec = 1 or c->threads), all of the
 * same shape; the trainer resets them. p: the policy to train (NULL: a new
 * one from c). The trainer does not own envs or p. */
mr_ppo *mr_ppo_new(const mr_ppo_config *c, mr_vecenv **envs, int nvec,
		   mr_policy *p, mr_err *e);
void mr_ppo_free(mr_ppo *t);
mr_policy *mr_ppo_policy(mr_ppo *t);
/* One rollout of n_steps x nenvs steps, then the PPO update. */
int mr_ppo_iterate(mr_ppo *t, mr_ppo_stats *st, mr_err *e);
int64_t mr_ppo_timesteps(const mr_ppo *t);
int64_t mr_ppo_updates(const mr_ppo *t);
/* Checkpoint state beyond the policy: optimiser moments, counters, RNGs. */
void mr_ppo_pack_state(msgpack_packer *pk, const mr_ppo *t);
int mr_ppo_unpack_state(mr_ppo *t, const msgpack_object *map,
			const char *name, mr_err *e);

#endif
