/*
 * ppo.h - proximal policy optimisation on a vecenv: the trainer. Its
 * configuration (config.h) and the loss pieces the tests check (loss.h)
 * come with it.
 *
 * What is deliberately not here: command-line parsing, files other than the
 * policy/checkpoint, evaluation episodes (tools/ppo-train/main.c).
 */
#ifndef MESHRL_PPO_H
#define MESHRL_PPO_H

#include <stdint.h>

#include "config.h"
#include "loss.h"
#include "meshrl.h"
#include "policy.h"
#include "vecenv.h"

typedef struct mr_ppo mr_ppo;

typedef struct {
	double pg_loss, v_loss, entropy, approx_kl, clip_frac, grad_norm;
	double lr, ent_coef; /* the update's (after their schedules) */
	double adv_sd;       /* the rollout's advantages' spread, unscaled */
	int64_t steps;       /* minibatch steps taken (target_kl: fewer) */
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
