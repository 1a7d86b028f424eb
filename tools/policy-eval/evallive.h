/*
 * evallive.h - policy-eval's live control loop (evallive.c) and what it
 * keeps of each period (evalrec.c).
 */
#ifndef MESHRL_EVALLIVE_H
#define MESHRL_EVALLIVE_H

#include "meshrl.h"
#include "vecenv.h"

/* `policy-eval live ...` (argv[0] is "live" or the program). */
int mr_eval_live_main(const char *prog, int argc, char **argv);

/* --fault: testbed keys applied from a time on (evalrec.c). */
#define LIVE_MAX_FAULTS 16
typedef struct {
	double t;        /* s from the start of the load */
	long period;     /* the first period it applies to (set by the loop) */
	int restore;     /* 1: undoes every fault before it */
	char keys[160];  /* actuate keys, e.g. slow.node2=4 */
	char what[96];   /* as written, for the log */
} live_fault;
typedef struct {
	int n;
	live_fault f[LIVE_MAX_FAULTS];
} live_faults;
/* Parses "t=60 node2 slow=4; t=120 node2 stop; t=180 restore". */
int live_faults_parse(const char *spec, live_faults *fs, mr_err *e);

/* A period's phase in a run with faults (LIVE_NONE without). */
enum { LIVE_NONE, LIVE_BEFORE, LIVE_DURING, LIVE_AFTER };
const char *live_phase_name(int phase);

#define LIVE_MAX_PARAMS 8
/* One period: what was measured and what the simulator predicted for the
 * same state and action, and the simulated run's reward at that step. */
typedef struct {
	long period;
	double t; /* s from the start of the load, when the action went out */
	double late; /* s after its due time that the action went out (its
		      * row came late: requests still out), NaN unknown */
	int phase, measured;
	double load[MR_MAX_SERVICES], param[LIVE_MAX_PARAMS];
	double setting[MR_MAX_COMPONENTS];
	mr_step_info live, pred;
	double reward, reward_pred, sim_reward;
	int sim_bound_met;
} live_rec;
typedef struct {
	live_rec *r;
	long n, cap;
} live_recs;
void live_recs_add(live_recs *rs, const live_rec *r);
void live_recs_free(live_recs *rs);

/* The columns' names. */
typedef struct {
	const char *name; /* the controller */
	int nserv, nparam, ncomp;
	const char *param_name[LIVE_MAX_PARAMS];
	const char *setting_name[MR_MAX_COMPONENTS];
} live_layout;
/* periods-NAME.csv, gap-NAME.csv and phases-NAME.csv, atomically. */
int live_recs_write_periods(const char *path, const live_recs *rs,
			    const live_layout *ly, mr_err *e);
int live_recs_write_gap(const char *path, const live_recs *rs,
			const live_layout *ly, mr_err *e);
int live_recs_write_phases(const char *path, const live_recs *rs,
			   const live_layout *ly, mr_err *e);

/* --validate: validate.csv (per state, the simulator's choice and its two
 * runners-up measured, repeat periods each, and the choice's regret) and
 * sumpath (the choice's bound met and regret over the states). */
int live_recs_write_validation(const char *path, const char *sumpath,
			       const live_recs *rs, const live_layout *ly,
			       long repeat, const char *objective, mr_err *e);

#endif
