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
#include <math.h>
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
	if (sp->has_meas)
		mr_table_free(&sp->meas);
	memset(sp, 0, sizeof *sp);
}

/* Whether trace row r's features all equal x's. */
static int window_matches(const se_support *sp, size_t r, const double *x)
{
	const double *row = sp->trace.data + r * sp->trace.ncols;
	for (int i = 0; i < sp->nfeat; i++)
		if (!mr_value_matches(row[i], x[i]))
			return 0;
	return 1;
}

size_t se_support_windows(const se_support *sp, const double *x)
{
	size_t n = 0;
	for (size_t r = 0; r < sp->trace.nrows; r++)
		n += window_matches(sp, r, x);
	return n;
}

int se_tree_spread(se_sim *s, const double *x, double *sd)
{
	if (!s->model.spread)
		return -1;
	return s->model.spread(&s->model, x, sd);
}

/* Index of name in cols[0..*n), added when new. */
static int col_of(const char **cols, int *n, const char *name)
{
	for (int i = 0; i < *n; i++)
		if (strcmp(cols[i], name) == 0)
			return i;
	cols[*n] = name;
	return (*n)++;
}

int se_support_measure_open(const mr_objective *o, const char *path,
			    se_support *sp, mr_err *e)
{
	if (se_support_open(o, path, sp, e) != 0)
		return -1;
	const char *cols[2 * SE_MAX_TARGETS];
	int n = 0;
	for (int t = 0; t < o->ntarget; t++) {
		sp->tcol[t] = sp->ncol[t] = sp->dcol[t] = -1;
		if (o->ratio[t].name) {
			sp->ncol[t] = col_of(cols, &n, o->ratio[t].num);
			sp->dcol[t] = col_of(cols, &n, o->ratio[t].den);
		} else {
			sp->tcol[t] = col_of(cols, &n, o->target_name[t]);
		}
	}
	if (mr_table_read(path, cols, (size_t)n, 0, &sp->meas, e) != 0) {
		se_support_free(sp);
		return -1;
	}
	sp->has_meas = 1;
	return 0;
}

/* Target t of measured row r: a ratio (nothing offered: 1), or the column;
 * a 0 in a window whose ratio targets say nothing was answered is the
 * timeout (rf-fit's --empty-delay, as the live loop reads it). */
static double measured(const se_support *sp, const mr_objective *o,
		       size_t r, int t, double timeout)
{
	const double *row = sp->meas.data + r * sp->meas.ncols;
	if (sp->tcol[t] < 0)
		return se_ratio_value(row[sp->ncol[t]], row[sp->dcol[t]]);
	double v = row[sp->tcol[t]];
	if (v != 0 || !(timeout > 0))
		return v;
	for (int k = 0; k < o->ntarget; k++)
		if (sp->tcol[k] < 0 && row[sp->dcol[k]] > 0 &&
		    row[sp->ncol[k]] == 0)
			return timeout;
	return v;
}

void se_support_measure(const se_support *sp, const mr_objective *o,
			const double *x, double timeout, se_measured *m)
{
	const mr_table *t = &sp->trace;
	size_t *rows = mr_xcalloc(t->nrows + 1, sizeof *rows);
	double *v = mr_xcalloc(t->nrows + 1, sizeof *v);
	memset(m, 0, sizeof *m);
	for (size_t r = 0; r < t->nrows; r++)
		if (window_matches(sp, r, x))
			rows[m->n++] = r;
	for (int k = 0; k < o->ntarget; k++) {
		double sum = 0;
		for (size_t i = 0; i < m->n; i++)
			sum += v[i] = measured(sp, o, rows[i], k, timeout);
		m->mean[k] = m->n ? sum / (double)m->n : NAN;
		m->p90[k] = m->n ? se_quantile(v, m->n, 0.9) : NAN;
	}
	free(rows);
	free(v);
}
