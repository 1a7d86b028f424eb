/* fuzz_objective.c - libFuzzer target for the objective parser: arbitrary
 * bytes as an objective file (paths resolve under a directory that does not
 * exist). When the text parses, describe --get and its unseen load pattern
 * are read; when its model is analytic and small, the simulator is opened
 * and stepped a little so the expressions run too.
 * Any result but a crash (or a leak) is fine. */
#include <stdlib.h>
#include <string.h>

#include "simenv_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mr_err e;
	mr_objective *o = se_objective_parse((const char *)data, size, "fuzz.obj",
					     "/nonexistent-fuzz-dir", &e);
	if (!o)
		return 0;
	(void)mr_objective_param(o, "ppo", "lr");
	/* describe --get, and [eval] unseen as a load pattern override
	 * (not a file: a fuzzed path could name a fifo) */
	char num[32];
	const char *val;
	(void)se_objective_get(o, "reward", "bound1", num, &val);
	if (se_objective_get(o, "eval", "unseen", num, &val) == 0 && val &&
	    (!strncmp(val, "sin:", 4) || !strncmp(val, "levels:", 7) ||
	     !strncmp(val, "constant:", 9))) {
		se_pattern p;
		(void)se_pattern_from_spec(val, o->nserv, &p, &e);
		se_pattern_free(&p);
	}
	size_t grid = 1;
	for (int c = 0; c < o->nact; c++)
		grid *= (size_t)o->act[c].nvalues;
	for (int k = 0; k < o->nparam; k++)
		grid *= (size_t)o->param[k].nlevels;
	for (int j = 0; j < o->nserv; j++)
		grid *= o->pattern.nlevels[j] ? (size_t)o->pattern.nlevels[j] : 1;
	if (o->model_kind == SE_MODEL_ANALYTIC && grid <= 4096 &&
	    (!o->incremental || grid <= 512)) {
		mr_simenv_opts opts = {.nenvs = 2, .seed = 1};
		mr_vecenv *v = mr_simenv_open(o, &opts, &e);
		if (v) {
			if (v->reset(v, 3, &e) == 0)
				for (int t = 0; t < 8; t++) {
					for (int i = 0; i < v->nenvs * v->ncomp; i++)
						v->actions[i] = 0;
					if (v->step(v, &e) != 0)
						break;
				}
			double mean;
			if (grid <= 256)
				(void)mr_simenv_optimal_mean(o, &opts, &mean, &e);
			v->close(v);
			free(v);
		}
	}
	mr_objective_free(o);
	return 0;
}
