/* evalobj.c - an objective's action space for policy-eval.
 *
 * simenv.h exposes objectives only through mr_objective_param; the action
 * components (names and values) are read here from the parsed objective's
 * own structure (sim-env's simenv_impl.h), in this one function, so that a
 * public accessor can replace it without touching anything else. */
#include <stdlib.h>
#include <string.h>

#include "evalobj.h"
#include "simenv_impl.h"

static int cores_name(const char *n)
{
	if (n[0] != 'c')
		return 0;
	for (const char *p = n + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

int mr_objective_action_space(const mr_objective *o, mr_action_space *as,
			      mr_err *e)
{
	memset(as, 0, sizeof *as);
	as->ncomp = o->nact;
	as->incremental = o->incremental;
	as->cores = -1;
	if (o->nact < 1 || o->nact > MR_MAX_COMPONENTS)
		return mr_errf(e, MR_EXIT_DATA, "%s: %d action components",
			       o->path, o->nact);
	const char *want = mr_objective_param(o, "eval", "cores");
	for (int i = 0; i < o->nact; i++) {
		const se_action *a = &o->act[i];
		snprintf(as->name[i], sizeof as->name[i], "%s", a->name);
		if (o->incremental) {
			/* sim-env's incremental choices: stay, -step, +step */
			as->nchoices[i] = 3;
			as->values[i][0] = 0;
			as->values[i][1] = -1;
			as->values[i][2] = 1;
		} else {
			if (a->nvalues > MR_MAX_CHOICES)
				return mr_errf(e, MR_EXIT_DATA,
					       "%s: action '%s' has %d values "
					       "(policy-eval handles %d)",
					       o->path, a->name, a->nvalues,
					       MR_MAX_CHOICES);
			as->nchoices[i] = a->nvalues;
			memcpy(as->values[i], a->values,
			       (size_t)a->nvalues * sizeof *a->values);
		}
		if (as->cores < 0 && (want ? !strcmp(want, a->name)
					   : cores_name(a->name)))
			as->cores = i;
	}
	if (want && as->cores < 0)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s: [eval] cores = %s: no such action", o->path,
			       want);
	return 0;
}

typedef struct {
	se_optimum opt;
	int solved;
} optimal_ctx;

void *mr_eval_optimal_new(void)
{
	return mr_xcalloc(1, sizeof(optimal_ctx));
}

int mr_eval_optimal_act(void *ctx, mr_vecenv *v, int32_t *action, mr_err *e)
{
	optimal_ctx *oc = ctx;
	se_sim *s = se_sim_of(v);
	if (!oc->solved) {
		if (se_optimum_solve(s, &oc->opt, e) != 0)
			return -1;
		oc->solved = 1;
	}
	return se_optimum_act(s, &oc->opt, 0, action, e);
}

void mr_eval_optimal_free(void *ctx)
{
	optimal_ctx *oc = ctx;
	if (!oc)
		return;
	if (oc->solved)
		se_optimum_free(&oc->opt);
	free(oc);
}
