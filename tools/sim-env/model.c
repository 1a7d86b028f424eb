/*
 * model.c - the system model behind one small interface (se_model): a
 * random forest from rf-fit, or an analytic formula written in the
 * objective (for tests, and for anyone with a queueing model).
 *
 * The forest's feature and target names must match the objective's: the
 * mapping is by name, and a missing or extra feature is an error, so a model
 * fitted for another objective is never used by accident.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forest.h"
#include "simenv_impl.h"

/* A forest, the quantile each model target is predicted at ([model]
 * risk; NaN: the trees' mean), and scratch for every tree's prediction of
 * one row (spread; prediction runs on one thread per simulator). */
typedef struct {
	mr_forest *f;
	size_t ntrees;
	double *q;     /* model targets */
	double *trees; /* ntrees x model targets */
} forest_impl;

/* numpy's default quantile, as the forest's quantiles across trees */
double se_quantile(double *v, size_t n, double q)
{
	return mr_quantile(v, n, q);
}

static void forest_predict(const se_model *m, const double *x, size_t n,
			   double *y, double *tmp)
{
	const forest_impl *fi = m->impl;
	size_t mf = (size_t)m->model_nfeat, mt = (size_t)m->model_ntarget;
	double *xm = tmp, *ym = tmp + n * mf;
	for (size_t r = 0; r < n; r++)
		for (int i = 0; i < m->nfeat; i++)
			xm[r * mf + (size_t)m->feat_map[i]] =
				x[r * (size_t)m->nfeat + (size_t)i];
	/* robust targets: the risk quantile across trees, every row in one
	 * batch as the mean is */
	if (m->o->risk > 0)
		mr_forest_predict_quantile_batch(fi->f, xm, n, fi->q, ym, 1);
	else if (n == 1)
		mr_forest_predict(fi->f, xm, ym);
	else
		mr_forest_predict_batch(fi->f, xm, n, ym, 1);
	for (size_t r = 0; r < n; r++)
		for (int j = 0; j < m->ntarget; j++)
			y[r * (size_t)m->ntarget + (size_t)j] =
				ym[r * mt + (size_t)m->target_map[j]];
}

/* The spread between trees at one feature row (objective order): the
 * standard deviation of the trees' predictions per target. */
static int forest_spread(const se_model *m, const double *x, double *sd)
{
	const forest_impl *fi = m->impl;
	size_t mt = (size_t)m->model_ntarget;
	double xm[SE_MAX_FEAT];
	for (int i = 0; i < m->nfeat; i++)
		xm[m->feat_map[i]] = x[i];
	mr_forest_predict_trees(fi->f, xm, fi->trees);
	for (int j = 0; j < m->ntarget; j++) {
		size_t k = (size_t)m->target_map[j];
		double mean = 0, ss = 0;
		for (size_t t = 0; t < fi->ntrees; t++)
			mean += fi->trees[t * mt + k];
		mean /= (double)fi->ntrees;
		for (size_t t = 0; t < fi->ntrees; t++) {
			double dv = fi->trees[t * mt + k] - mean;
			ss += dv * dv;
		}
		sd[j] = sqrt(ss / (double)fi->ntrees);
	}
	return 0;
}

static size_t forest_thresholds(const se_model *m, int i, double *out,
				size_t cap)
{
	const forest_impl *fi = m->impl;
	return mr_forest_thresholds(fi->f, (size_t)m->feat_map[i], out, cap);
}

static void forest_free(se_model *m)
{
	forest_impl *fi = m->impl;
	mr_forest_free(fi->f);
	free(fi->q);
	free(fi->trees);
	free(fi);
}

static void analytic_predict(const se_model *m, const double *x, size_t n,
			     double *y, double *tmp)
{
	(void)tmp;
	for (size_t r = 0; r < n; r++)
		for (int j = 0; j < m->ntarget; j++)
			y[r * (size_t)m->ntarget + (size_t)j] = se_eval(
				&m->o->analytic[j], x + r * (size_t)m->nfeat);
}

int se_model_open(const mr_objective *o, const char *path, se_model *m,
		  mr_err *e)
{
	memset(m, 0, sizeof *m);
	m->o = o;
	m->nfeat = o->nfeat;
	m->ntarget = o->ntarget;
	path = mr_objective_model_file(o, path);
	if (o->model_kind == SE_MODEL_ANALYTIC && !path) {
		m->model_nfeat = o->nfeat;
		m->model_ntarget = o->ntarget;
		for (int i = 0; i < o->nfeat; i++)
			m->feat_map[i] = i;
		for (int j = 0; j < o->ntarget; j++)
			m->target_map[j] = j;
		m->predict = analytic_predict;
		return 0;
	}
	if (!path)
		return mr_errf(e, MR_EXIT_USAGE,
			       "%s: no model file (set [model] file or --model)",
			       o->path);
	mr_forest *f = mr_forest_load(path, e);
	if (!f)
		return -1;
	forest_impl *fi = mr_xcalloc(1, sizeof *fi);
	fi->f = f;
	fi->ntrees = mr_forest_ntrees(f);
	fi->trees = mr_xcalloc(fi->ntrees * mr_forest_ntargets(f) + 1,
			       sizeof *fi->trees);
	fi->q = mr_xcalloc(mr_forest_ntargets(f), sizeof *fi->q);
	for (size_t k = 0; k < mr_forest_ntargets(f); k++)
		fi->q[k] = NAN;
	m->impl = fi;
	m->free = forest_free;
	m->predict = forest_predict;
	m->thresholds = forest_thresholds;
	m->spread = forest_spread;
	m->model_nfeat = (int)mr_forest_nfeatures(f);
	m->model_ntarget = (int)mr_forest_ntargets(f);
	if (m->model_nfeat > SE_MAX_FEAT) {
		se_model_close(m);
		return mr_errf(e, MR_EXIT_DATA, "%s: more than %d features",
			       path, SE_MAX_FEAT);
	}
	int used[SE_MAX_FEAT] = {0};
	for (int i = 0; i < o->nfeat; i++) {
		int k = mr_forest_feature_index(f, o->feat_name[i]);
		if (k < 0) {
			char have[512] = "";
			for (int j = 0; j < m->model_nfeat; j++) {
				size_t l = strlen(have);
				snprintf(have + l, sizeof have - l, "%s%s",
					 j ? "," : "", mr_forest_feature_name(f, (size_t)j));
			}
			se_model_close(m);
			return mr_errf(e, MR_EXIT_DATA,
				       "%s: model has no feature '%s' that %s's [features] sets (model features: %s)",
				       path, o->feat_name[i], o->path, have);
		}
		m->feat_map[i] = k;
		used[k] = 1;
		m->fmin[i] = mr_forest_feature_min(f, (size_t)k);
		m->fmax[i] = mr_forest_feature_max(f, (size_t)k);
	}
	for (int j = 0; j < m->model_nfeat; j++)
		if (!used[j]) {
			const char *nm = mr_forest_feature_name(f, (size_t)j);
			se_model_close(m);
			return mr_errf(e, MR_EXIT_DATA,
				       "%s: model feature '%s' is not set by %s's [features]",
				       path, nm, o->path);
		}
	for (int j = 0; j < o->ntarget; j++) {
		int k = mr_forest_target_index(f, o->target_name[j]);
		if (k < 0) {
			se_model_close(m);
			return mr_errf(e, MR_EXIT_DATA,
				       "%s: model has no target '%s' (named in %s's [model] targets)",
				       path, o->target_name[j], o->path);
		}
		m->target_map[j] = k;
		if (o->risk > 0 && o->side[j])
			fi->q[k] = o->side[j] > 0 ? o->risk : 1 - o->risk;
	}
	m->has_range = 1;
	return 0;
}

void se_model_close(se_model *m)
{
	if (m->free)
		m->free(m);
	memset(m, 0, sizeof *m);
}
