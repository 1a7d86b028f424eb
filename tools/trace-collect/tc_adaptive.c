/*
 * tc_adaptive.c - adaptive grid sampling: the next configuration is the one
 * the forest fitted on the trace so far knows least about (its trees
 * disagree) or that lies closest to an objective's bound (tc.h). The
 * forest is rf-fit's own (forest.h), small and refitted as rows arrive.
 * A target with a bound B > 0 is fitted as min(y, 3 B): past that, a
 * configuration misses the bound whatever its value, and the seconds of
 * spread of overloaded configurations would otherwise draw every pick
 * while the bound sits at tens of milliseconds.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forest.h"
#include "tc.h"

struct tc_adapt {
	const tc_grid *grid;
	size_t nkeys;
	char **cols;         /* grid keys (the grid's), then targets (tname) */
	char tname[TC_MAX_COLS][32];
	size_t ncols, ntarget;
	int bound_target[TC_MAX_BOUNDS]; /* target index of each bound */
	double bound_value[TC_MAX_BOUNDS];
	size_t nbounds, init_rows, rows;
	int trees;
	uint64_t *cand;
	uint64_t ncand, left;
	unsigned char *taken;
	double *score;       /* per candidate; NULL until a fit */
	double ceiling[TC_MAX_COLS]; /* per target: fitted as min(y, this) */
	mr_rng rng;
};

static int col_index(char **cols, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(cols[i], name) == 0)
			return (int)i;
	return -1;
}

/* Adds name as a target unless it is there already; returns its index
 * among the targets, -1 when it is a grid key or there are too many. */
static int add_target(tc_adapt *a, const char *name, mr_err *e)
{
	int k = col_index(a->cols, a->ncols, name);
	if (k >= 0 && (size_t)k < a->nkeys)
		return mr_errf(e, MR_EXIT_USAGE,
			       "adaptive: '%s' is a grid key, not a target",
			       name);
	if (k >= 0)
		return k - (int)a->nkeys;
	if (a->ncols >= TC_MAX_COLS || strlen(name) >= sizeof a->tname[0])
		return mr_errf(e, MR_EXIT_USAGE,
			       "adaptive: too many targets, or '%s' too long",
			       name);
	char *copy = a->tname[a->ntarget];
	strcpy(copy, name);
	a->cols[a->ncols++] = copy;
	return (int)a->ntarget++;
}

tc_adapt *tc_adapt_new(const tc_adapt_opts *o, const uint64_t *cand,
		       uint64_t n, mr_err *e)
{
	if (o->nbounds > TC_MAX_BOUNDS || o->trees < 2 ||
	    o->ntargets + o->nbounds == 0)
		return mr_errf(e, MR_EXIT_USAGE,
			       "adaptive: need a target or a bound, >= 2 trees "
			       "and at most %d bounds", TC_MAX_BOUNDS), NULL;
	tc_adapt *a = mr_xcalloc(1, sizeof *a);
	a->grid = o->grid;
	a->nkeys = o->grid->nkeys;
	a->cols = mr_xcalloc(TC_MAX_COLS, sizeof *a->cols);
	for (size_t k = 0; k < a->nkeys; k++)
		a->cols[a->ncols++] = o->grid->keys[k];
	for (size_t j = 0; j < o->ntargets; j++)
		if (add_target(a, o->targets[j], e) < 0)
			goto fail;
	for (size_t b = 0; b < o->nbounds; b++) {
		a->bound_target[b] = add_target(a, o->bounds[b].col, e);
		if (a->bound_target[b] < 0)
			goto fail;
		a->bound_value[b] = o->bounds[b].value;
	}
	a->nbounds = o->nbounds;
	for (size_t j = 0; j < a->ntarget; j++)
		a->ceiling[j] = INFINITY;
	for (size_t b = 0; b < a->nbounds; b++)
		if (a->bound_value[b] > 0) {
			double *c = &a->ceiling[a->bound_target[b]];
			*c = fmin(*c, 3 * a->bound_value[b]);
		}
	a->init_rows = o->init_rows < 2 ? 2 : o->init_rows;
	a->trees = o->trees;
	a->ncand = a->left = n;
	a->cand = mr_xcalloc(n ? n : 1, sizeof *a->cand);
	memcpy(a->cand, cand, n * sizeof *cand);
	a->taken = mr_xcalloc(n ? n : 1, 1);
	mr_rng_seed(&a->rng, o->seed, MR_STREAM_GRID_ADAPTIVE);
	return a;
fail:
	tc_adapt_free(a);
	return NULL;
}

/* Spread of each fitted target over the rows (Y, n x m): the unit its
 * trees' spread is measured in (1 for a constant target). */
static void target_scales(const double *Y, size_t n, size_t m, double *scale)
{
	for (size_t j = 0; j < m; j++) {
		double s = 0, s2 = 0;
		for (size_t r = 0; r < n; r++)
			s += Y[r * m + j], s2 += Y[r * m + j] * Y[r * m + j];
		double var = s2 / (double)n - (s / (double)n) * (s / (double)n);
		scale[j] = var > 1e-24 ? sqrt(var) : 1;
	}
}

/* The score of grid point x (tc.h), from every tree's prediction. */
static double score_point(const tc_adapt *a, const mr_forest *f,
			  const double *x, const double *scale, double *ys)
{
	size_t nt = mr_forest_ntrees(f), m = a->ntarget;
	double mean[TC_MAX_COLS], sd[TC_MAX_COLS], unc = 0, near = 0;
	mr_forest_predict_trees(f, x, ys);
	for (size_t j = 0; j < m; j++) {
		double s = 0, s2 = 0;
		for (size_t t = 0; t < nt; t++)
			s += ys[t * m + j], s2 += ys[t * m + j] * ys[t * m + j];
		mean[j] = s / (double)nt;
		double var = s2 / (double)nt - mean[j] * mean[j];
		sd[j] = var > 0 ? sqrt(var) : 0;
		unc = fmax(unc, sd[j] / scale[j]);
	}
	for (size_t b = 0; b < a->nbounds; b++) {
		int j = a->bound_target[b];
		double gap = fabs(mean[j] - a->bound_value[b]);
		near = fmax(near, gap == 0 ? 1 : sd[j] / (sd[j] + gap));
	}
	return unc + near;
}

static int fit_and_score(tc_adapt *a, const mr_table *t, mr_err *e)
{
	size_t n = t->nrows, nk = a->nkeys, m = a->ntarget;
	double *X = mr_xcalloc(n * nk, sizeof *X);
	double *Y = mr_xcalloc(n * m, sizeof *Y);
	for (size_t r = 0; r < n; r++) {
		memcpy(X + r * nk, t->data + r * t->ncols, nk * sizeof *X);
		for (size_t j = 0; j < m; j++)
			Y[r * m + j] = fmin(t->data[r * t->ncols + nk + j],
					    a->ceiling[j]);
	}
	double scale[TC_MAX_COLS];
	target_scales(Y, n, m, scale);
	mr_forest_params p;
	mr_forest_params_default(&p);
	p.ntrees = a->trees;
	p.seed = mr_rng_u64(&a->rng);
	mr_forest *f = mr_forest_fit(X, Y, n, nk, m,
				     (const char *const *)a->cols,
				     (const char *const *)a->cols + nk, &p,
				     NULL, e);
	free(X);
	free(Y);
	if (!f)
		return mr_err_prefix(e, "adaptive fit"), -1;
	double x[TC_MAX_CFG + TC_MAX_STREAMS];
	double *ys = mr_xcalloc((size_t)a->trees * m, sizeof *ys);
	if (!a->score)
		a->score = mr_xcalloc(a->ncand ? a->ncand : 1, sizeof *a->score);
	for (uint64_t i = 0; i < a->ncand; i++) {
		if (a->taken[i])
			continue;
		tc_grid_point(a->grid, a->cand[i], x);
		a->score[i] = score_point(a, f, x, scale, ys);
	}
	free(ys);
	mr_forest_free(f);
	a->rows = n;
	return 0;
}

int tc_adapt_fit(tc_adapt *a, const char *trace, mr_err *e)
{
	mr_table t = {0};
	if (mr_table_read(trace, (const char *const *)a->cols, a->ncols, 0,
			  &t, e) != 0)
		return -1;
	int rc = t.nrows >= a->init_rows ? fit_and_score(a, &t, e) : 0;
	mr_table_free(&t);
	return rc;
}

int tc_adapt_next(tc_adapt *a, uint64_t *idx, double *score)
{
	if (!a->left)
		return 0;
	uint64_t best = 0;
	if (a->score) {
		/* the highest score; ties to the earliest candidate */
		double top = -INFINITY;
		for (uint64_t i = 0; i < a->ncand; i++)
			if (!a->taken[i] && a->score[i] > top)
				top = a->score[i], best = i;
	} else {
		/* the k-th candidate not yet taken, k uniform */
		uint64_t k = mr_rng_below(&a->rng, a->left);
		for (best = 0; a->taken[best] || k--; best++)
			;
	}
	a->taken[best] = 1;
	a->left--;
	*idx = a->cand[best];
	if (score)
		*score = a->score ? a->score[best] : NAN;
	return 1;
}

size_t tc_adapt_rows(const tc_adapt *a)
{
	return a->rows;
}

void tc_adapt_free(tc_adapt *a)
{
	if (!a)
		return;
	free(a->cols);
	free(a->cand);
	free(a->taken);
	free(a->score);
	free(a);
}
