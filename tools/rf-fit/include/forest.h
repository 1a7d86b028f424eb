/*
 * forest.h - random-forest regression: fit, predict, save, load.
 *
 * A forest maps nfeat input features to ntarget outputs (multi-output trees,
 * as scikit-learn's RandomForestRegressor grows them: one tree predicts all
 * targets, splits minimise the summed variance). Prediction does no
 * allocation and is safe to call from many threads on one forest.
 */
#ifndef MESHRL_FOREST_H
#define MESHRL_FOREST_H

#include <stddef.h>
#include <stdint.h>

#include "meshrl.h"

typedef struct mr_forest mr_forest;

typedef struct {
	int ntrees;          /* default 120 */
	int min_leaf;        /* min samples per leaf, default 1 */
	int max_depth;       /* 0: unlimited */
	double max_features; /* fraction of features tried per split, (0,1] */
	int bootstrap;       /* 1: bootstrap samples (default) */
	uint64_t seed;
	int threads;         /* 0 or 1: single thread */
	/* Added: optional progress callback, called (serialised) after each
	 * tree with (ctx, trees done, trees total). NULL: none. */
	void (*progress)(void *ctx, int done, int total);
	void *progress_ctx;
} mr_forest_params;

void mr_forest_params_default(mr_forest_params *p);

/* X is n x nfeat, Y is n x ntarget, both row-major. names may be NULL.
 * oob (optional, n x ntarget) receives out-of-bag predictions, NaN for rows
 * never out of bag. */
mr_forest *mr_forest_fit(const double *X, const double *Y, size_t n,
			 size_t nfeat, size_t ntarget,
			 const char *const *feat_names,
			 const char *const *target_names,
			 const mr_forest_params *p, double *oob, mr_err *e);

size_t mr_forest_nfeatures(const mr_forest *f);
size_t mr_forest_ntargets(const mr_forest *f);
const char *mr_forest_feature_name(const mr_forest *f, size_t i);
const char *mr_forest_target_name(const mr_forest *f, size_t j);
int mr_forest_feature_index(const mr_forest *f, const char *name); /* -1 */
int mr_forest_target_index(const mr_forest *f, const char *name);  /* -1 */
/* Range of each feature in the training data (for extrapolation checks). */
double mr_forest_feature_min(const mr_forest *f, size_t i);
double mr_forest_feature_max(const mr_forest *f, size_t i);

/* x has nfeat values, y receives ntarget values. */
void mr_forest_predict(const mr_forest *f, const double *x, double *y);
/* Every tree's own prediction: y receives ntrees x ntarget values, tree
 * by tree (their mean is mr_forest_predict's answer up to rounding; their
 * spread is how much the trees disagree). */
void mr_forest_predict_trees(const mr_forest *f, const double *x, double *y);
/* X is n x nfeat, Y is n x ntarget. threads <= 1: single thread. */
void mr_forest_predict_batch(const mr_forest *f, const double *X, size_t n,
			     double *Y, int threads);
/* Like mr_forest_predict_batch, but target j's value is the q[j]-quantile
 * of the trees' predictions (linear between the order statistics around
 * (ntrees - 1) q[j], as numpy's default; q[j] in [0, 1]), or their mean
 * (the same bits as mr_forest_predict_batch) where q[j] is NaN. q has
 * ntarget values. For robust optima: about 1.3x the time of the mean
 * with one target. */
void mr_forest_predict_quantile_batch(const mr_forest *f, const double *X,
				      size_t n, const double *q, double *Y,
				      int threads);
/* The q-quantile of v[0, n), n >= 1, as above; reorders v. */
double mr_quantile(double *v, size_t n, double q);

/* msgpack file, format "rf-forest" (schema in README). */
int mr_forest_save(const mr_forest *f, const char *path, mr_err *e);
mr_forest *mr_forest_load(const char *path, mr_err *e);
/* Added: the model file's bytes to an open stream (e.g. an mr_out opened
 * before a long fit), or in one malloc'd buffer (free with free()). */
int mr_forest_write(const mr_forest *f, FILE *out, mr_err *e);
char *mr_forest_to_buffer(const mr_forest *f, size_t *len);
/* Parses a model from memory (used by load and by the fuzz target). */
mr_forest *mr_forest_from_buffer(const char *buf, size_t len,
				 const char *name, mr_err *e);
void mr_forest_free(mr_forest *f);

/* Added: sizes and the parameters a forest was fitted with (informational
 * for a loaded model; progress fields are NULL). */
size_t mr_forest_ntrees(const mr_forest *f);
size_t mr_forest_nnodes(const mr_forest *f);
size_t mr_forest_train_rows(const mr_forest *f);
const mr_forest_params *mr_forest_get_params(const mr_forest *f);

/* Added (sim-env): the distinct split thresholds on feature i over all
 * trees, ascending; the first min(count, cap) go to out (out may be NULL
 * when cap is 0). Returns the count. A prediction depends on x[i] only
 * through which of them x[i] exceeds. */
size_t mr_forest_thresholds(const mr_forest *f, size_t i, double *out,
			    size_t cap);

#endif
