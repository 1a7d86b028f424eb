/*
 * support.c - where a prediction rests on the trace: the trace windows
 * whose feature columns equal a query's (the model's support there) and
 * the spread between the forest's trees.
 *
 * A window counts when every model feature column of its row matches the
 * query's value (mr_value_matches). Features that are measured rates
 * rather than settings rarely match exactly; their count is then low, and
 * says so honestly: the trace has no window at exactly that point.
 */
#include <stdlib.h>
#include <string.h>

#include "simenv_impl.h"

int se_support_open(const mr_objective *o, const char *path,
		    se_support *sp, mr_err *e)
{
	memset(sp, 0, sizeof *sp);
	if (mr_table_read(path, (const char *const *)o->feat_name,
			  (size_t)o->nfeat, 0, &sp->trace, e) != 0)
		return -1;
	sp->nfeat = o->nfeat;
	return 0;
}

void se_support_free(se_support *sp)
{
	mr_table_free(&sp->trace);
	memset(sp, 0, sizeof *sp);
}

size_t se_support_windows(const se_support *sp, const double *x)
{
	const mr_table *t = &sp->trace;
	size_t n = 0;
	for (size_t r = 0; r < t->nrows; r++) {
		const double *row = t->data + r * t->ncols;
		int i = 0;
		while (i < sp->nfeat && mr_value_matches(row[i], x[i]))
			i++;
		n += i == sp->nfeat;
	}
	return n;
}

int se_tree_spread(se_sim *s, const double *x, double *sd)
{
	if (!s->model.spread)
		return -1;
	return s->model.spread(&s->model, x, sd);
}
