/* actions.c - an objective's action space as values (p=80, c=1): the
 * components, their values, which one sets cores, and the conversions
 * between choice indices and text. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "simenv_impl.h"

int mr_action_choice(const mr_action_space *as, int i, double v)
{
	for (int j = 0; j < as->nchoices[i]; j++)
		if (mr_value_matches(as->values[i][j], v))
			return j;
	return -1;
}

int mr_action_parse(const mr_action_space *as, const char *spec,
		    int32_t *action, mr_err *e)
{
	int seen[MR_MAX_COMPONENTS] = {0};
	char *copy = mr_xstrdup(spec), *save = NULL;
	int rc = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq) {
			rc = mr_errf(e, MR_EXIT_USAGE,
				     "action '%s': '%s' is not NAME=VALUE", spec,
				     tok);
			break;
		}
		*eq = 0;
		int i = 0;
		while (i < as->ncomp && strcmp(as->name[i], tok) != 0)
			i++;
		if (i == as->ncomp) {
			rc = mr_errf(e, MR_EXIT_USAGE,
				     "action '%s': no component '%s'", spec, tok);
			break;
		}
		char *end;
		errno = 0;
		double v = strtod(eq + 1, &end);
		if (end == eq + 1 || *end || errno) {
			rc = mr_errf(e, MR_EXIT_USAGE,
				     "action '%s': '%s' is not a number", spec,
				     eq + 1);
			break;
		}
		int j = mr_action_choice(as, i, v);
		if (j < 0) {
			char buf[512] = "";
			size_t off = 0;
			for (int k = 0; k < as->nchoices[i] && off < 400; k++) {
				char nb[32];
				off += (size_t)snprintf(buf + off, sizeof buf - off,
						"%s%s", k ? " " : "",
						mr_fmt_double(nb, as->values[i][k]));
			}
			rc = mr_errf(e, MR_EXIT_USAGE,
				     "action '%s': %s=%s is not a choice (choices: %s)",
				     spec, tok, eq + 1, buf);
			break;
		}
		if (seen[i]++) {
			rc = mr_errf(e, MR_EXIT_USAGE,
				     "action '%s': component '%s' given twice",
				     spec, tok);
			break;
		}
		action[i] = j;
	}
	for (int i = 0; rc == 0 && i < as->ncomp; i++)
		if (!seen[i])
			rc = mr_errf(e, MR_EXIT_USAGE,
				     "action '%s': component '%s' missing", spec,
				     as->name[i]);
	free(copy);
	return rc;
}

char *mr_action_format(const mr_action_space *as, const int32_t *action,
		       char *buf, size_t bufsize)
{
	size_t off = 0;
	buf[0] = 0;
	for (int i = 0; i < as->ncomp && off < bufsize; i++) {
		char nb[32];
		off += (size_t)snprintf(buf + off, bufsize - off, "%s%s=%s",
					i ? "," : "", as->name[i],
					mr_fmt_double(nb, as->values[i][action[i]]));
	}
	return buf;
}

long mr_action_joint_count(const mr_action_space *as, long limit)
{
	long n = 1;
	for (int i = 0; i < as->ncomp; i++) {
		n *= as->nchoices[i];
		if (n > limit)
			return 0;
	}
	return n;
}

void mr_action_decode(const mr_action_space *as, long k, int32_t *action)
{
	for (int i = as->ncomp - 1; i >= 0; i--) {
		action[i] = (int32_t)(k % as->nchoices[i]);
		k /= as->nchoices[i];
	}
}

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
			/* sim-env's incremental choices: the moves, as the
			 * steps they make (stay 0, down -1, up +1) */
			as->nchoices[i] = MR_NMOVES;
			for (int m = 0; m < MR_NMOVES; m++)
				as->values[i][m] = mr_move_delta(m);
		} else {
			if (a->nvalues > MR_MAX_CHOICES)
				return mr_errf(e, MR_EXIT_DATA,
					       "%s: action '%s' has %d values "
					       "(at most %d)",
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

