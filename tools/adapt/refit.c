/* refit.c - the model of the changed system from its new windows and the
 * old trace (adapt.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"

struct mr_refit {
	size_t nfeat, ntarget, old_n, max_new, nnew, first;
	double *old_X, *old_Y;
	double *new_X, *new_Y; /* a ring of max_new windows from first */
	double *X, *Y;         /* the training set of a fit */
	char **names;          /* nfeat feature then ntarget target names */
	mr_forest_params params;
	int scale_old;         /* old rows scaled by the measured change */
	size_t recent;         /* windows per feature row at most (0: all) */
	double *scale;         /* per target, the last fit's factor */
};

static double *copy_doubles(const double *src, size_t n)
{
	double *d = malloc((n ? n : 1) * sizeof *d);
	if (d && n)
		memcpy(d, src, n * sizeof *d);
	return d;
}

mr_refit *mr_refit_new(size_t nfeat, size_t ntarget, const double *old_X,
		       const double *old_Y, size_t old_n,
		       const char *const *feat_names,
		       const char *const *target_names, size_t max_new,
		       const mr_forest_params *params, mr_err *e)
{
	if (!nfeat || !ntarget || !max_new) {
		mr_errf(e, MR_EXIT_USAGE, "refit: %zu features, %zu targets, "
			"%zu windows (want each >= 1)", nfeat, ntarget,
			max_new);
		return NULL;
	}
	mr_refit *r = calloc(1, sizeof *r);
	if (!r)
		goto oom;
	r->nfeat = nfeat;
	r->ntarget = ntarget;
	r->old_n = old_n;
	r->max_new = max_new;
	r->params = *params;
	r->old_X = copy_doubles(old_X, old_n * nfeat);
	r->old_Y = copy_doubles(old_Y, old_n * ntarget);
	r->new_X = malloc(max_new * nfeat * sizeof *r->new_X);
	r->new_Y = malloc(max_new * ntarget * sizeof *r->new_Y);
	r->X = malloc((old_n + max_new) * nfeat * sizeof *r->X);
	r->Y = malloc((old_n + max_new) * ntarget * sizeof *r->Y);
	r->names = calloc(nfeat + ntarget, sizeof *r->names);
	r->scale = malloc(ntarget * sizeof *r->scale);
	if (!r->old_X || !r->old_Y || !r->new_X || !r->new_Y || !r->X ||
	    !r->Y || !r->names || !r->scale)
		goto oom;
	for (size_t j = 0; j < ntarget; j++)
		r->scale[j] = 1;
	for (size_t i = 0; i < nfeat + ntarget; i++) {
		const char *n = i < nfeat ? feat_names[i]
					  : target_names[i - nfeat];
		if (!(r->names[i] = strdup(n)))
			goto oom;
	}
	return r;
oom:
	mr_refit_free(r);
	mr_errf(e, MR_EXIT_IO, "refit: out of memory");
	return NULL;
}

void mr_refit_free(mr_refit *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->names && i < r->nfeat + r->ntarget; i++)
		free(r->names[i]);
	free(r->names);
	free(r->old_X);
	free(r->old_Y);
	free(r->new_X);
	free(r->new_Y);
	free(r->X);
	free(r->Y);
	free(r->scale);
	free(r);
}

void mr_refit_clear(mr_refit *r)
{
	r->nnew = 0;
	r->first = 0;
}

size_t mr_refit_windows(const mr_refit *r)
{
	return r->nnew;
}

void mr_refit_add(mr_refit *r, const double *x, const double *y)
{
	size_t k = (r->first + r->nnew) % r->max_new;
	if (r->nnew == r->max_new)
		r->first = (r->first + 1) % r->max_new;
	else
		r->nnew++;
	memcpy(r->new_X + k * r->nfeat, x, r->nfeat * sizeof *x);
	memcpy(r->new_Y + k * r->ntarget, y, r->ntarget * sizeof *y);
}

void mr_refit_scale_old(mr_refit *r, int on)
{
	r->scale_old = on;
}

void mr_refit_recent(mr_refit *r, size_t k)
{
	r->recent = k;
}

const double *mr_refit_scales(const mr_refit *r)
{
	return r->scale;
}

static int same_row(const mr_refit *r, const double *x, const double *y)
{
	size_t i = 0;
	while (i < r->nfeat && mr_value_matches(x[i], y[i]))
		i++;
	return i == r->nfeat;
}

/* 1 when some new window has feature row x. */
static int reached(const mr_refit *r, const double *x)
{
	for (size_t w = 0; w < r->nnew; w++)
		if (same_row(r, x, r->new_X + w * r->nfeat))
			return 1;
	return 0;
}

/* r->scale, per target (adapt.h): the geometric mean over the new windows
 * of measured / old, old the mean of the old rows of the window's feature
 * row; windows whose row the old trace lacks, or with a value <= 0, count
 * not; none: 1. */
static void window_changes(mr_refit *r)
{
	size_t nf = r->nfeat, nt = r->ntarget;
	for (size_t j = 0; j < nt; j++) {
		double logsum = 0;
		size_t n = 0;
		for (size_t w = 0; w < r->nnew; w++) {
			const double *x = r->new_X + w * nf;
			double sum = 0, y = r->new_Y[w * nt + j];
			size_t k = 0;
			for (size_t i = 0; i < r->old_n; i++)
				if (same_row(r, x, r->old_X + i * nf)) {
					sum += r->old_Y[i * nt + j];
					k++;
				}
			if (k && sum > 0 && y > 0) {
				logsum += log(y / (sum / (double)k));
				n++;
			}
		}
		r->scale[j] = n ? exp(logsum / (double)n) : 1;
	}
}

mr_forest *mr_refit_fit(mr_refit *r, size_t *n_new, size_t *n_old,
			mr_err *e)
{
	size_t n = 0, nf = r->nfeat, nt = r->ntarget;
	if (r->scale_old)
		window_changes(r);
	else
		for (size_t j = 0; j < nt; j++)
			r->scale[j] = 1;
	/* newest first: a feature row's windows beyond the most recent
	 * r->recent are left out */
	for (size_t w = r->nnew; w-- > 0;) {
		size_t k = (r->first + w) % r->max_new, same = 0;
		const double *x = r->new_X + k * nf;
		for (size_t i = 0; r->recent && i < n && same < r->recent; i++)
			same += same_row(r, x, r->X + i * nf);
		if (r->recent && same >= r->recent)
			continue;
		memcpy(r->X + n * nf, x, nf * sizeof *r->X);
		memcpy(r->Y + n * nt, r->new_Y + k * nt, nt * sizeof *r->Y);
		n++;
	}
	size_t used = n;
	for (size_t i = 0; i < r->old_n; i++) {
		const double *x = r->old_X + i * nf;
		if (reached(r, x))
			continue;
		memcpy(r->X + n * nf, r->old_X + i * nf, nf * sizeof *r->X);
		for (size_t j = 0; j < nt; j++)
			r->Y[n * nt + j] = r->old_Y[i * nt + j] * r->scale[j];
		n++;
	}
	if (n_new)
		*n_new = used;
	if (n_old)
		*n_old = n - used;
	if (!n) {
		mr_errf(e, MR_EXIT_DATA, "refit: no windows and no old trace");
		return NULL;
	}
	mr_forest *f = mr_forest_fit(r->X, r->Y, n, nf, nt,
				     (const char *const *)r->names,
				     (const char *const *)r->names + nf,
				     &r->params, NULL, e);
	if (!f)
		mr_err_prefix(e, "refit");
	return f;
}
