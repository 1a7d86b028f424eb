/*
 * forest_predict.c - a forest's predictions, one row or a batch.
 *
 * How prediction is made fast: an input row is ranked once against each
 * feature's distinct thresholds, so nodes are 8 bytes (adjacent children,
 * feature, threshold index) and compare integers; 16 walks advance in
 * lockstep to overlap their memory loads; batches go tree-major over blocks
 * of rows so a tree stays in cache. predict allocates nothing and only
 * reads the forest, so threads may share one.
 */
#include <stdlib.h>
#include <string.h>

#include "forest_impl.h"

static inline void add_values(double *y, const double *v, size_t T)
{
	for (size_t j = 0; j < T; j++)
		y[j] += v[j];
}

/* A walk is a chain of dependent loads, so one walk at a time waits on
 * memory at every level. WAYS independent walks ("lanes") advance in turn
 * and overlap their loads; a lane that reaches its leaf starts the next
 * walk, so lanes stay busy whatever the depths. */
#define WAYS 16

/* One row x down every tree: lanes are WAYS trees at a time. The leaf
 * values are summed in tree order, as predict_batch sums them, so both give
 * bit-identical results. */
void mr_forest_predict(const mr_forest *f, const double *x, double *y)
{
	size_t T = f->ntarget;
	const rf_node *nodes = f->nodes;
	uint32_t xr[RF_MAX_FEAT];
	rf_rank_row(f, x, xr);
	for (size_t j = 0; j < T; j++)
		y[j] = 0;
	for (size_t t0 = 0; t0 < f->ntrees; t0 += WAYS) {
		size_t k = f->ntrees - t0 < WAYS ? f->ntrees - t0 : WAYS;
		uint32_t cur[WAYS];
		uint32_t pending = (uint32_t)((1ull << k) - 1);
		for (size_t q = 0; q < k; q++)
			cur[q] = f->root[t0 + q];
		while (pending) {
			for (size_t q = 0; q < k; q++) {
				const rf_node *nd = &nodes[cur[q]];
				if (!(nd->child & RF_LEAF))
					cur[q] = rf_step(nd, xr);
				else
					pending &= ~(1u << q);
			}
		}
		for (size_t q = 0; q < k; q++)
			add_values(y, f->values +
				   (size_t)(nodes[cur[q]].child & ~RF_LEAF) * T, T);
	}
	for (size_t j = 0; j < T; j++)
		y[j] *= f->inv_ntrees;
}

void mr_forest_predict_trees(const mr_forest *f, const double *x, double *y)
{
	size_t T = f->ntarget;
	const rf_node *nodes = f->nodes;
	uint32_t xr[RF_MAX_FEAT];
	rf_rank_row(f, x, xr);
	for (size_t t = 0; t < f->ntrees; t++) {
		uint32_t cur = f->root[t];
		while (!(nodes[cur].child & RF_LEAF))
			cur = rf_step(&nodes[cur], xr);
		const double *v = f->values + (size_t)(nodes[cur].child & ~RF_LEAF) * T;
		for (size_t j = 0; j < T; j++)
			y[t * T + j] = v[j];
	}
}

/* Rows [b, e) down the tree rooted at r, adding leaf values to Y (lanes
 * are rows; XR holds the rows' ranks from row b on). The loop over lanes
 * has no branch: a lane at its leaf computes a step it then discards, and
 * only sets its bit in `done`; lanes that finished are then given the next
 * row, or parked on their leaf once no row is left. */
/* GCC would vectorise the lane loop with gathers, which are slower here
 * (measured on Zen 3, as was a hand-written AVX2 version). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-vectorize")))
#endif
static void walk_block(const mr_forest *f, uint32_t r, const uint32_t *XR,
		       size_t b, size_t e, double *Y)
{
	size_t F = f->nfeat, T = f->ntarget;
	const rf_node *nodes = f->nodes;
	uint32_t cur[WAYS];
	const uint32_t *xp[WAYS];
	size_t row[WAYS];
	size_t next = b, k = e - b < WAYS ? e - b : WAYS;
	uint32_t live = (uint32_t)((1ull << k) - 1);
	for (size_t q = 0; q < k; q++) {
		cur[q] = r;
		row[q] = next++;
		xp[q] = XR + (row[q] - b) * F;
	}
	while (live) {
		uint32_t done = 0;
		for (size_t q = 0; q < k; q++) {
			rf_node nd = nodes[cur[q]];
			uint32_t leaf = nd.child >> 31;
			uint32_t nx = nd.child + (xp[q][nd.meta & 0xff] > nd.meta >> 8);
			cur[q] = leaf ? cur[q] : nx;
			done |= leaf << q;
		}
		done &= live;
		while (done) {
			unsigned q = (unsigned)__builtin_ctz(done);
			done &= done - 1;
			uint32_t row_v = nodes[cur[q]].child & ~RF_LEAF;
			add_values(Y + row[q] * T, f->values + (size_t)row_v * T, T);
			if (next < e) {
				cur[q] = r;
				row[q] = next++;
				xp[q] = XR + (row[q] - b) * F;
			} else {
				live &= ~(1u << q); /* parked on its leaf */
			}
		}
	}
}

/* Rows [lo, hi): tree-major over blocks of rows, so one tree's nodes stay
 * in cache while a block walks it. XR holds a block's ranks. */
#define PRED_BLOCK 2048
static void predict_rows(const mr_forest *f, const double *X, size_t lo,
			 size_t hi, double *Y, uint32_t *XR)
{
	size_t T = f->ntarget, F = f->nfeat;
	for (size_t b = lo; b < hi; b += PRED_BLOCK) {
		size_t e = b + PRED_BLOCK < hi ? b + PRED_BLOCK : hi;
		memset(Y + b * T, 0, (e - b) * T * sizeof *Y);
		for (size_t i = b; i < e; i++)
			rf_rank_row(f, X + i * F, XR + (i - b) * F);
		for (size_t t = 0; t < f->ntrees; t++)
			walk_block(f, f->root[t], XR, b, e, Y);
		for (size_t i = b * T; i < e * T; i++)
			Y[i] *= f->inv_ntrees;
	}
}

typedef struct {
	const mr_forest *f;
	const double *X;
	double *Y;
	size_t lo, hi;
} pred_job;

static void *pred_worker(void *arg)
{
	pred_job *j = arg;
	size_t rows = j->hi - j->lo < PRED_BLOCK ? j->hi - j->lo : PRED_BLOCK;
	uint32_t *XR = mr_xcalloc(rows * j->f->nfeat, sizeof *XR);
	predict_rows(j->f, j->X, j->lo, j->hi, j->Y, XR);
	free(XR);
	return NULL;
}

void mr_forest_predict_batch(const mr_forest *f, const double *X, size_t n,
			     double *Y, int threads)
{
	/* below a few hundred rows per thread, threads cost more than
	 * they give */
	if (threads > 1 && (size_t)threads > n / 512)
		threads = (int)(n / 512);
	if (threads <= 1) {
		pred_job job = {f, X, Y, 0, n};
		pred_worker(&job);
		return;
	}
	pred_job *jobs = mr_xcalloc((size_t)threads, sizeof *jobs);
	size_t per = (n + (size_t)threads - 1) / (size_t)threads;
	for (int k = 0; k < threads; k++) {
		size_t lo = (size_t)k * per, hi = lo + per;
		jobs[k] = (pred_job){f, X, Y, lo < n ? lo : n, hi < n ? hi : n};
	}
	rf_run_threads(pred_worker, jobs, sizeof *jobs, threads);
	free(jobs);
}
