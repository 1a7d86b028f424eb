/*
 * fit_rows.h - what `rf-fit fit` does with a trace's rows beside growing
 * the forest: derived columns (--ratio), the train/test split (--test-frac,
 * --group-by) and cross-validation folds (--cv). Private to tools/rf-fit.
 */
#ifndef MESHRL_FIT_ROWS_H
#define MESHRL_FIT_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "forest.h"
#include "ratio.h"

/* gid[i] = the group of row i, for n rows of ng keys gk: rows sorted by
 * key, equal keys make a group. Returns the number of groups. */
size_t rf_group_ids(const double *gk, size_t ng, size_t n, size_t *gid);

/* Marks is_test[i]. Random: ceil(frac * n) rows. Grouped (gk != NULL, rows
 * of ng key values): ceil(frac * groups) whole groups. Returns the number
 * of test rows; *ngroups_out the number of groups (0 when not grouped). */
size_t rf_make_split(size_t n, double frac, const double *gk, size_t ng,
		     uint64_t seed, unsigned char *is_test,
		     size_t *ngroups_out);

/* fold[i] in [0, k) for n rows: the groups (gk != NULL: rows of ng keys
 * equal in every key; else each row alone) in a seeded random order, dealt
 * to the folds in turn, so every group is in one fold and the folds hold
 * as many groups as possible alike. *ngroups_out: the number of groups.
 * -1 (MR_EXIT_DATA) when there are fewer groups than folds. */
int rf_cv_folds(size_t n, const double *gk, size_t ng, size_t k,
		uint64_t seed, size_t *fold, size_t *ngroups_out, mr_err *e);

/* Held-out predictions P (n x nt): for each fold f < k, a forest fitted
 * with p on the rows outside f predicts the rows in f. p's progress, when
 * set, counts the trees of all k forests. -1 when a fit fails. */
int rf_cv_predict(const double *X, const double *Y, size_t n, size_t nf,
		  size_t nt, const char *const *fnames,
		  const char *const *tnames, const size_t *fold, size_t k,
		  const mr_forest_params *p, double *P, mr_err *e);

#endif
