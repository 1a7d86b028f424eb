/*
 * bandit.h - a contextual bandit with a known best arm per context, as a
 * vecenv: the small known environment ppo-train is tested on
 * (tests/unit/test_ppo.c, `ppo-train --env bandit`).
 *
 * Each step shows one of K contexts (one-hot observation); the action has
 * ncomp components of nchoices arms each. Per component, the context's best
 * arm pays 1, the others pay less. With masked set, one "lure" arm per
 * context and component pays 2 but is masked: a trainer that honours masks
 * never takes it (takes are counted), one that does not learns to take it.
 * Episodes last episode_len steps. In eval mode contexts cycle 0..K-1.
 *
 * With trap set, the reward is one of the whole action instead: 1 when
 * every component takes its best arm, 0.7 when none does, 0 otherwise.
 * From a uniform start each component on its own gains by leaving its best
 * arm (0.56 against 0.2 in expectation for 5 arms), so heads that draw the
 * components independently settle at 0.7; only a move of all components
 * at once reaches 1.
 */
#ifndef MESHRL_BANDIT_H
#define MESHRL_BANDIT_H

#include "vecenv.h"

typedef struct {
	int nenvs;
	int ncontexts;   /* K */
	int ncomp;       /* action components */
	int nchoices;    /* arms per component */
	int episode_len;
	int masked;
	int trap;
	int eval;
} mr_bandit_opts;

mr_vecenv *mr_bandit_open(const mr_bandit_opts *o, mr_err *e);
/* Mean reward per step of the best allowed arms (over contexts), and of
 * uniformly random allowed arms. */
double mr_bandit_optimal_mean(const mr_bandit_opts *o);
double mr_bandit_random_mean(const mr_bandit_opts *o);
/* Masked arms taken since open (0 when masks are honoured). */
long mr_bandit_violations(const mr_vecenv *v);

#endif
