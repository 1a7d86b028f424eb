/*
 * policy.h - a trained policy: load it and act with it.
 *
 * This is the interface policy-eval uses. The ppo-train owner may add
 * functions; changing these needs agreement.
 */
#ifndef MESHRL_POLICY_H
#define MESHRL_POLICY_H

#include <stdint.h>

#include "meshrl.h"

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

#endif
