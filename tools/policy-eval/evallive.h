/*
 * evallive.h - policy-eval's live control loop (evallive.c).
 */
#ifndef MESHRL_EVALLIVE_H
#define MESHRL_EVALLIVE_H

/* `policy-eval live ...` (argv[0] is "live" or the program). */
int mr_eval_live_main(const char *prog, int argc, char **argv);

#endif
