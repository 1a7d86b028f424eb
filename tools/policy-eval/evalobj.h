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

/* `policy-eval live ...` (argv[0] is "live" or the program). */
int mr_eval_live_main(const char *prog, int argc, char **argv);

#endif
