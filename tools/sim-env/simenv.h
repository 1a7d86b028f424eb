/*
 * simenv.h - objectives as data and the simulator built on them.
 *
 * This is the interface other tools use (ppo-train, policy-eval). The
 * sim-env owner may add functions; changing these needs agreement.
 */
#ifndef MESHRL_SIMENV_H
#define MESHRL_SIMENV_H

#include "meshrl.h"
#include "vecenv.h"

typedef struct mr_objective mr_objective;

/* Parses an objective file (pipelines/objectives/NAME.obj); errors are
 * "file:line: reason". */
mr_objective *mr_objective_load(const char *path, mr_err *e);
void mr_objective_free(mr_objective *o);
const char *mr_objective_name(const mr_objective *o);
/* A free-form key of a section, e.g. ("ppo", "lr"), or NULL when absent. */
const char *mr_objective_param(const mr_objective *o, const char *section,
			       const char *key);

typedef struct {
	int nenvs;                /* environments stepped together (>= 1) */
	uint64_t seed;
	int eval;                 /* 1: every episode walks the load pattern
				   * from its start, deterministically */
	const char *load_pattern; /* NULL: the objective's; else an override
				   * (unseen patterns in policy-eval) */
	const char *model_path;   /* NULL: the objective's system model */
	int live;                 /* added: 1 = never tabulate, predict every
				   * step (checks and benchmarks) */
} mr_simenv_opts;

/* The in-process simulator as a vecenv. The objective must outlive it.
 * Release with v->close(v) then free(v). load_pattern overrides take a
 * sequence file path, or "sin:mean=8;amplitude=4;period=240",
 * "levels:4,8,12", "constant:8" (pipelines/objectives/README.md). */
mr_vecenv *mr_simenv_open(const mr_objective *o, const mr_simenv_opts *opts,
			  mr_err *e);
/* Steps in one episode of the objective (its load pattern's length). */
int mr_simenv_episode_length(const mr_objective *o);

/* The exact optimum's mean reward per step over one evaluation episode of
 * the objective's load pattern (exhaustive search per state, or value
 * iteration for incremental actions). */
int mr_simenv_optimal_mean(const mr_objective *o, const mr_simenv_opts *opts,
			   double *mean_reward, mr_err *e);

/* Any simulator speaking the sim-env protocol, started as argv (no shell,
 * execvp; its stdin/stdout are one end of a socket pair, stderr is
 * inherited), as a vecenv. Errors from the simulator come back as
 * MR_EXIT_REMOTE with its message. Release with v->close(v) then free(v). */
mr_vecenv *mr_pipeenv_open(char *const argv[], int nenvs, uint64_t seed,
			   mr_err *e);

#endif
