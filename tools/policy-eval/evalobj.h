/*
 * evalobj.h - what policy-eval needs from an objective beyond simenv.h:
 * its action space as values, and the live control loop.
 */
#ifndef MESHRL_EVALOBJ_H
#define MESHRL_EVALOBJ_H

#include "evaluate.h"
#include "simenv.h"

/* The objective's action components (names, values, incremental or not)
 * and which one sets cores: [eval] cores = NAME, else the first component
 * named c or c<digits>; -1 when none. */
int mr_objective_action_space(const mr_objective *o, mr_action_space *as,
			      mr_err *e);

/* The simulator's exact optimum as a controller (mr_env_act_fn): the best
 * action in environment 0's current state, by exhaustive search or, for
 * incremental actions, by value iteration (solved once, on first use).
 * ctx comes from mr_eval_optimal_new and outlives every environment it
 * acts on; all must be of one objective and system model. */
void *mr_eval_optimal_new(void);
int mr_eval_optimal_act(void *ctx, mr_vecenv *v, int32_t *action, mr_err *e);
void mr_eval_optimal_free(void *ctx);

/* `policy-eval live ...` (argv[0] is "live" or the program). */
int mr_eval_live_main(const char *prog, int argc, char **argv);

#endif
