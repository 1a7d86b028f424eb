/*
 * fit_rows.c - rf-fit fit's rows beside the forest: derived columns
 * (--ratio), the train/test split and cross-validation folds (--cv).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit_rows.h"

/* ------------------------------------------------------------------------
 * The train/test split.
 */
typedef struct {
	const double *keys;
	size_t nkeys;
} key_order;

/* Rows (indices) by their keys, then by index. */
static int cmp_rows_ctx(const void *a, const void *b, void *ctx)
{
	const key_order *ko = ctx;
	size_t k = ko->nkeys;
	const double *ka = ko->keys + *(const size_t *)a * k;
	const double *kb = ko->keys + *(const size_t *)b * k;
	for (size_t i = 0; i < k; i++) {
		if (ka[i] < kb[i])
			return -1;
		if (ka[i] > kb[i])
			return 1;
	}
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* 0, 1, ..., n - 1 */
static size_t *identity(size_t n)
{
	size_t *v = mr_xcalloc(n, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = i;
	return v;
}

/* Shuffles v[0, n) (Fisher-Yates; tests/bench/rf_sklearn.py mirrors the
 * draws). */
static void shuffle(size_t *v, size_t n, mr_rng *rng)
{
	for (size_t i = 0; i + 1 < n; i++) {
		size_t j = i + (size_t)mr_rng_below(rng, n - i);
		size_t t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
}

/* gid[i] = the group of row i, for n rows of ng keys gk: rows sorted by
 * key, equal keys make a group. Returns the number of groups. */
size_t rf_group_ids(const double *gk, size_t ng, size_t n, size_t *gid)
{
	size_t *order = identity(n);
	key_order ko = {gk, ng};
	qsort_r(order, n, sizeof *order, cmp_rows_ctx, &ko);
	size_t G = 0;
	for (size_t k = 0; k < n; k++) {
		if (k > 0 && memcmp(gk + order[k] * ng, gk + order[k - 1] * ng,
				    ng * sizeof *gk) != 0)
			G++;
		gid[order[k]] = G;
	}
	free(order);
	return G + 1;
}

/* Marks is_test[i]. Random: ceil(frac * n) rows. Grouped (gk != NULL, rows
 * of ng key values): ceil(frac * groups) whole groups. */
size_t rf_make_split(size_t n, double frac, const double *gk, size_t ng,
		     uint64_t seed, unsigned char *is_test,
		     size_t *ngroups_out)
{
	mr_rng rng;
	mr_rng_seed(&rng, seed, MR_STREAM_FIT_SPLIT);
	memset(is_test, 0, n);
	*ngroups_out = 0;
	if (frac <= 0) {
		/* no split, but the count of groups still says what was fitted */
		if (gk) {
			size_t *gid = mr_xcalloc(n, sizeof *gid);
			*ngroups_out = rf_group_ids(gk, ng, n, gid);
			free(gid);
		}
		return 0;
	}
	if (!gk) {
		size_t *order = identity(n);
		shuffle(order, n, &rng);
		size_t want = (size_t)ceil(frac * (double)n);
		for (size_t i = 0; i < want && i < n; i++)
			is_test[order[i]] = 1;
		free(order);
		return want < n ? want : n;
	}
	size_t *gid = mr_xcalloc(n, sizeof *gid);
	size_t G = rf_group_ids(gk, ng, n, gid);
	size_t *gperm = identity(G);
	shuffle(gperm, G, &rng);
	size_t want = (size_t)ceil(frac * (double)G);
	unsigned char *gtest = mr_xcalloc(G, 1);
	for (size_t g = 0; g < want && g < G; g++)
		gtest[gperm[g]] = 1;
	size_t ntest = 0;
	for (size_t i = 0; i < n; i++) {
		is_test[i] = gtest[gid[i]];
		ntest += is_test[i];
	}
	*ngroups_out = G;
	free(gid);
	free(gperm);
	free(gtest);
	return ntest;
}


/* ------------------------------------------------------------------------
 * Cross-validation.
 */
int rf_cv_folds(size_t n, const double *gk, size_t ng, size_t k,
		uint64_t seed, size_t *fold, size_t *ngroups_out, mr_err *e)
{
	size_t *gid = gk ? mr_xcalloc(n, sizeof *gid) : identity(n);
	size_t G = gk ? rf_group_ids(gk, ng, n, gid) : n;
	*ngroups_out = G;
	if (G < k) {
		free(gid);
		return mr_errf(e, MR_EXIT_DATA,
			       "%zu %s, fewer than the %zu folds", G,
			       gk ? "groups" : "rows", k);
	}
	/* The split's stream: --cv needs --test-frac 0, so a run never
	 * draws both. */
	mr_rng rng;
	mr_rng_seed(&rng, seed, MR_STREAM_FIT_SPLIT);
	size_t *gperm = identity(G);
	shuffle(gperm, G, &rng);
	size_t *gfold = mr_xcalloc(G, sizeof *gfold);
	for (size_t i = 0; i < G; i++)
		gfold[gperm[i]] = i % k;
	for (size_t i = 0; i < n; i++)
		fold[i] = gfold[gid[i]];
	free(gfold);
	free(gperm);
	free(gid);
	return 0;
}

/* p's progress over k forests: fold f's trees come after f * ntrees. */
typedef struct {
	const mr_forest_params *outer;
	int done0, total;
} cv_progress;

static void cv_progress_fn(void *ctx, int done, int total)
{
	const cv_progress *c = ctx;
	(void)total;
	c->outer->progress(c->outer->progress_ctx, c->done0 + done, c->total);
}

/* Copies the rows of X, Y with (fold[i] == f) == in into X2, Y2; returns
 * how many. */
static size_t gather_rows(const double *X, const double *Y, size_t n,
			  size_t nf, size_t nt, const size_t *fold, size_t f,
			  int in, double *X2, double *Y2)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if ((fold[i] == f) != in)
			continue;
		memcpy(X2 + m * nf, X + i * nf, nf * sizeof *X);
		memcpy(Y2 + m * nt, Y + i * nt, nt * sizeof *Y);
		m++;
	}
	return m;
}

int rf_cv_predict(const double *X, const double *Y, size_t n, size_t nf,
		  size_t nt, const char *const *fnames,
		  const char *const *tnames, const size_t *fold, size_t k,
		  const mr_forest_params *p, double *P, mr_err *e)
{
	double *Xa = mr_xcalloc(n * nf, sizeof *Xa);
	double *Ya = mr_xcalloc(n * nt, sizeof *Ya);
	double *Xb = mr_xcalloc(n * nf, sizeof *Xb);
	double *Yb = mr_xcalloc(n * nt, sizeof *Yb);
	double *Pb = mr_xcalloc(n * nt, sizeof *Pb);
	cv_progress cp = {p, 0, p->ntrees * (int)k};
	mr_forest_params q = *p;
	if (p->progress) {
		q.progress = cv_progress_fn;
		q.progress_ctx = &cp;
	}
	int rc = 0;
	for (size_t f = 0; f < k && rc == 0; f++) {
		size_t na = gather_rows(X, Y, n, nf, nt, fold, f, 0, Xa, Ya);
		size_t nb = gather_rows(X, Y, n, nf, nt, fold, f, 1, Xb, Yb);
		cp.done0 = p->ntrees * (int)f;
		mr_forest *m = mr_forest_fit(Xa, Ya, na, nf, nt, fnames, tnames,
					     &q, NULL, e);
		if (!m) {
			rc = mr_err_prefix(e, "fold %zu of %zu", f + 1, k);
			break;
		}
		mr_forest_predict_batch(m, Xb, nb, Pb, p->threads);
		mr_forest_free(m);
		for (size_t i = 0, b = 0; i < n; i++)
			if (fold[i] == f)
				memcpy(P + i * nt, Pb + b++ * nt, nt * sizeof *P);
	}
	free(Xa);
	free(Ya);
	free(Xb);
	free(Yb);
	free(Pb);
	return rc;
}
