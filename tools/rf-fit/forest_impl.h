/*
 * forest_impl.h - the forest as rf-fit's own files see it: the in-memory
 * layout that fitting (forest_fit.c), prediction (forest_predict.c) and the
 * model file (forest_file.c) share, and the helpers they share (forest.c).
 * Private to tools/rf-fit: other modules see forest.h only.
 */
#ifndef MESHRL_FOREST_IMPL_H
#define MESHRL_FOREST_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "forest.h"

/* ------------------------------------------------------------------------
 * The forest in memory.
 *
 * Thresholds are kept per feature as sorted distinct "cuts", and an input
 * x is turned into ranks once per row: xr[j] = number of cuts of feature j
 * below x[j]. Then x[j] > cut k exactly when xr[j] > k, so a node is 8
 * bytes (child; feature and cut index) and the walk compares integers:
 * trees take half the cache they would with double thresholds.
 *
 * A walk from an internal node goes to child + (xr[feat] > cut): the two
 * children are adjacent. A leaf has RF_LEAF set in child, and the rest of
 * child is its row in values (ntarget doubles), so the one node load that
 * ends a walk also finds its values. Indices are global over all trees;
 * tree t's root is nodes[root[t]].
 */
typedef struct {
	uint32_t child;
	uint32_t meta; /* feature | cut index << 8 (internal nodes) */
} rf_node;

/* A node with its threshold as a number: how trees are grown and read
 * from files before rf_convert_nodes turns them into rf_nodes. */
typedef struct {
	double thr;
	uint32_t feat;
	uint32_t child;
} grow_node;

#define RF_LEAF 0x80000000u
#define RF_MAX_FEAT 256            /* meta's 8 feature bits */
#define RF_MAX_CUTS (1u << 24)     /* meta's 24 cut bits, per feature */
/* the file format's int32 node indices */
#define RF_MAX_NODES ((size_t)INT32_MAX)

struct mr_forest {
	size_t nfeat, ntarget, ntrees, nnodes, nleaves;
	char **feat_names;   /* NULL-terminated, one allocation */
	char **target_names; /* NULL-terminated, one allocation */
	double *fmin, *fmax; /* nfeat each */
	rf_node *nodes;      /* nnodes */
	double *cuts;        /* all features' cuts, feature j's from cut0[j] */
	uint32_t *cut0;      /* nfeat + 1 */
	uint32_t *root;      /* ntrees + 1: tree t owns nodes [root[t], root[t+1]) */
	double *values;      /* nleaves * ntarget */
	double inv_ntrees;
	/* The compact layout prediction walks (see below); NULL when the
	 * forest does not fit it, and the walks use nodes. */
	uint32_t *cnodes; /* nnodes + 1: the last a leaf for padding lanes */
	uint32_t cut_bits;
	size_t max_tree;  /* nodes of the largest tree */
	/* The top levels of a batch's tree groups (rf_top_build); NULL
	 * without cnodes or AVX-512. ctop_K: the groups' trees. */
	uint32_t *ctop;
	unsigned ctop_K;
	mr_forest_params params; /* as fitted (informational once loaded) */
	size_t nrows;            /* training rows */
};

/* ------------------------------------------------------------------------
 * From thresholds to cuts.
 *
 * A cut table collects the distinct (feature, threshold) pairs of a set of
 * nodes (open addressing, at most half full); tables can be merged, then
 * rf_cut_table_finish sorts each feature's thresholds into f->cuts and gives
 * each pair its index, and rf_convert_nodes maps nodes through the table
 * (read-only, so threads may convert trees side by side).
 */
typedef struct {
	uint64_t bits; /* the threshold's bits (-0 made +0) */
	uint32_t feat; /* UINT32_MAX: empty */
	uint32_t idx;  /* its position among the feature's cuts */
} cut_slot;

typedef struct {
	cut_slot *tab;
	size_t cap, used;
} cut_table;

void rf_cut_table_init(cut_table *c);
void rf_cut_table_free(cut_table *c);
/* Adds the thresholds of the internal nodes among gn[0, n). */
void rf_cut_table_add_nodes(cut_table *c, const grow_node *gn, size_t n);
/* Adds every pair of src to dst. */
void rf_cut_table_merge(cut_table *dst, const cut_table *src);
/* Sets f->cuts and f->cut0 from the table and the table's indices. */
int rf_cut_table_finish(mr_forest *f, cut_table *c, const char *name,
			mr_err *e);
/* dst[i] = src[i] as an rf_node; child indices and leaf rows are shifted by
 * node_add and leaf_add (tree-local to global). */
void rf_convert_nodes(const cut_table *c, const grow_node *src, size_t n,
		      rf_node *dst, uint32_t node_add, uint32_t leaf_add);

/* ------------------------------------------------------------------------
 * The compact layout: a node in 4 bytes, so twice the trees fit in cache.
 * An internal node is feature | cut << 5 | child << (5 + cut_bits), its
 * child counted from its tree's root (bit 31 clear); a leaf is RF_LEAF |
 * its row in values. It exists when the forest fits: at most RF_CFEAT
 * features, and cut and child fields that fit 26 bits together. Each
 * tree keeps its range of indices and its root, but its nodes are in the
 * order that walks touch fewest cache lines in (forest.c), so a compact
 * index is not the index of the same node in nodes.
 */
#define RF_CFEAT 32u
/* Sets f->cnodes, cut_bits and max_tree when the forest fits the layout;
 * leaves cnodes NULL otherwise (not an error: walks then use nodes). */
void rf_compact_build(mr_forest *f);
/* Sets f->ctop from f->cnodes: a batch's walks read the first levels of
 * each group of trees from it instead of gathering them. */
void rf_top_build(mr_forest *f);

/* qsort order of doubles, ascending. */
int rf_cmp_double(const void *a, const void *b);

/* Runs fn over `jobs` (one per thread, job 0 on the caller's thread). */
void rf_run_threads(void *(*fn)(void *), void *jobs, size_t jobsize,
		    int threads);

/* ------------------------------------------------------------------------
 * Walking trees (prediction, and out-of-bag rows while fitting).
 */
/* xr[j] = number of feature j's cuts below x[j]. A NaN ranks 0 and goes
 * left everywhere, as "x > threshold" being false sends it left too. The
 * search has no branch on the data (a mispredicted one costs more than
 * the comparison). */
static inline void rf_rank_row(const mr_forest *f, const double *x,
			       uint32_t *xr)
{
	for (size_t j = 0; j < f->nfeat; j++) {
		const double *c = f->cuts + f->cut0[j];
		uint32_t len = f->cut0[j + 1] - f->cut0[j], lo = 0;
		if (len == 0) {
			xr[j] = 0;
			continue;
		}
		while (len > 1) { /* the answer is in [lo, lo + len] */
			uint32_t half = len / 2;
			/* a mask, not ?:, which compilers turn into a branch */
			lo += half & (0u - (uint32_t)(c[lo + half - 1] < x[j]));
			len -= half;
		}
		xr[j] = lo + (c[lo] < x[j]);
	}
}

static inline uint32_t rf_step(const rf_node *nd, const uint32_t *xr)
{
	return nd->child + (xr[nd->meta & 0xff] > nd->meta >> 8);
}

/* Value row of the leaf that ranks xr reach from node i. */
static inline uint32_t rf_walk(const rf_node *nodes, uint32_t i,
			       const uint32_t *xr)
{
	while (!(nodes[i].child & RF_LEAF))
		i = rf_step(&nodes[i], xr);
	return nodes[i].child & ~RF_LEAF;
}

#endif
