/*
 * config.h - every PPO hyper-parameter, settable by name: the flags, the
 * objective's [ppo] section and --set share mr_ppo_config_set.
 *
 * What is deliberately not here: where the names come from (main.c), the
 * trainer that uses a configuration (ppo.h).
 */
#ifndef MESHRL_PPO_CONFIG_H
#define MESHRL_PPO_CONFIG_H

#include <stdint.h>

#include "meshrl.h"
#include "mlp.h"
#include "policy.h"

#define MR_PPO_MAX_THREADS 16

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
	int ent_decay;       /* 1: ent_coef linear to 0 over timesteps */
	double gamma, gae_lambda;
	double clip;         /* policy ratio clip */
	double clip_vf;      /* value clip, <= 0: none */
	double target_kl;    /* > 0: an update's epochs stop once the policy
			      * is 1.5 x this from the rollout's (KL) */
	double ent_coef, vf_coef;
	double max_grad_norm; /* <= 0: none */
	double adam_eps;
	int norm_obs, norm_adv;
	double adv_floor;    /* norm_adv 2: the minibatch's spread is taken
			      * at least adv_floor x the running spread */
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

#endif
