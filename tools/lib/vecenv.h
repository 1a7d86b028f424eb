/*
 * vecenv.h - the interface between environments and the tools that drive
 * them (ppo-train, policy-eval).
 *
 * A vecenv is N environments stepped together. The environment owns its
 * buffers and exposes them here (zero copy, PufferLib style): the driver
 * writes actions[], calls step(), and reads obs/rewards/dones/masks/info.
 * Episodes auto-reset: when dones[i] is set, obs[i] already holds the first
 * observation of the next episode and info[i] describes the step that ended.
 *
 * Implementations: the in-process simulator (tools/sim-env), the sim-env
 * protocol over a pipe to any external simulator (tools/sim-env), and small
 * test environments (tests/).
 */
#ifndef MESHRL_VECENV_H
#define MESHRL_VECENV_H

#include <stdint.h>

#include "meshrl.h"

#define MR_MAX_COMPONENTS 16 /* action components (categorical heads) */
#define MR_MAX_SERVICES 4
#define MR_MAX_CHOICES 256  /* values of one action component */

/* What happened in one step of one environment (for evaluation, not for
 * learning). Unused services have delay 0. */
typedef struct {
	double delay[MR_MAX_SERVICES]; /* mean response time per service, s */
	double offered;                /* offered load summed over services */
	double carried;                /* carried load summed over services */
	double cost;                   /* objective's cost term (e.g. cores) */
	int bound_met;                 /* 1 when every delay bound held */
	/* the served-share rule (objective's served<i>): the largest share
	 * of offered requests not answered over the services that have it
	 * (0 when none has), and 1 when a share served is below min_served */
	double dropped;
	int served_short;
} mr_step_info;

typedef struct mr_vecenv mr_vecenv;
struct mr_vecenv {
	int nenvs;
	int obs_dim;
	int ncomp;                         /* action components */
	int nchoices[MR_MAX_COMPONENTS];   /* choices per component */
	int total_choices;                 /* sum of nchoices */
	int nservices;

	float *obs;           /* nenvs * obs_dim */
	int32_t *actions;     /* nenvs * ncomp, integer choice indices */
	float *rewards;       /* nenvs */
	uint8_t *dones;       /* nenvs */
	uint8_t *masks;       /* nenvs * total_choices, 1 = allowed */
	mr_step_info *info;   /* nenvs */

	void *impl;
	int (*reset)(mr_vecenv *v, uint64_t seed, mr_err *e);
	int (*step)(mr_vecenv *v, mr_err *e);
	void (*close)(mr_vecenv *v); /* frees impl and buffers, not v itself */
};

/* For implementations: allocates (zeroed) or frees the six buffers above
 * from nenvs, obs_dim, ncomp and total_choices. */
void mr_vecenv_alloc_buffers(mr_vecenv *v);
void mr_vecenv_free_buffers(mr_vecenv *v);

#endif
