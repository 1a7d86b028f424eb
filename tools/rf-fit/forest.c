/*
 * forest.c - random-forest regression (CART trees on bootstrap samples,
 * multi-output, squared error), its prediction and its msgpack file.
 *
 * How fitting is made fast:
 *   - every feature is rank-encoded once (sorted distinct values), so a
 *     split is "rank <= r" and thresholds are midpoints between adjacent
 *     distinct values present in the node, as scikit-learn places them;
 *   - a bootstrap sample is a vector of integer weights (draw counts), so
 *     duplicate rows cost nothing and the zero-weight rows are out of bag;
 *   - per node, the samples' weights and weighted targets are gathered into
 *     contiguous buffers once, then each candidate feature is scanned with a
 *     histogram over the node's rank range (count, weight, target sums) when
 *     that range is small next to the node, else by sorting the node's ranks;
 *   - trees are grown by independent threads, tree t always drawing from RNG
 *     stream MR_STREAM_FOREST_TREE_BASE + t, so the forest is the same for any
 *     thread count.
 * How prediction is made fast: an input row is ranked once against each
 * feature's distinct thresholds, so nodes are 8 bytes (adjacent children,
 * feature, threshold index) and compare integers; 16 walks advance in
 * lockstep to overlap their memory loads; batches go tree-major over blocks
 * of rows so a tree stays in cache. predict allocates nothing and only
 * reads the forest, so threads may share one.
 *
 * What this file deliberately does not do: missing values, categorical
 * splits, sample weights from the caller, criteria other than squared error.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack/fbuffer.h>

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
 * from files before convert_nodes turns them into rf_nodes. */
typedef struct {
	double thr;
	uint32_t feat;
	uint32_t child;
} grow_node;

#define RF_LEAF 0x80000000u
#define RF_MAX_FEAT 256            /* meta's 8 feature bits */
#define RF_MAX_CUTS (1u << 24)     /* meta's 24 cut bits, per feature */

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
	mr_forest_params params; /* as fitted (informational once loaded) */
	size_t nrows;            /* training rows */
};

#define RF_FORMAT "rf-forest"
#define RF_VERSION 1
#define RF_MAX_NODES ((size_t)INT32_MAX)

void mr_forest_params_default(mr_forest_params *p)
{
	memset(p, 0, sizeof *p);
	p->ntrees = 120;
	p->min_leaf = 1;
	p->max_depth = 0;
	p->max_features = 1.0;
	p->bootstrap = 1;
	p->seed = 0;
	p->threads = 1;
}

/* Copies names (or makes "x0".. when names is NULL) into one allocation. */
static char **copy_names(const char *const *names, size_t n, const char *pfx)
{
	size_t bytes = 0;
	char tmp[32];
	for (size_t i = 0; i < n; i++)
		bytes += (names ? strlen(names[i])
				: (size_t)snprintf(tmp, sizeof tmp, "%s%zu", pfx, i)) + 1;
	char **v = mr_xcalloc(1, (n + 1) * sizeof(char *) + bytes);
	char *p = (char *)(v + n + 1);
	for (size_t i = 0; i < n; i++) {
		if (names) {
			size_t l = strlen(names[i]);
			memcpy(p, names[i], l + 1);
			v[i] = p;
			p += l + 1;
		} else {
			int l = sprintf(p, "%s%zu", pfx, i);
			v[i] = p;
			p += l + 1;
		}
	}
	return v;
}

void mr_forest_free(mr_forest *f)
{
	if (!f)
		return;
	free(f->feat_names);
	free(f->target_names);
	free(f->fmin);
	free(f->fmax);
	free(f->nodes);
	free(f->cuts);
	free(f->cut0);
	free(f->root);
	free(f->values);
	free(f);
}

size_t mr_forest_nfeatures(const mr_forest *f) { return f->nfeat; }
size_t mr_forest_ntargets(const mr_forest *f) { return f->ntarget; }
size_t mr_forest_ntrees(const mr_forest *f) { return f->ntrees; }
size_t mr_forest_nnodes(const mr_forest *f) { return f->nnodes; }

const char *mr_forest_feature_name(const mr_forest *f, size_t i)
{
	return i < f->nfeat ? f->feat_names[i] : NULL;
}

const char *mr_forest_target_name(const mr_forest *f, size_t j)
{
	return j < f->ntarget ? f->target_names[j] : NULL;
}

static int name_index(char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return (int)i;
	return -1;
}

int mr_forest_feature_index(const mr_forest *f, const char *name)
{
	return name_index(f->feat_names, f->nfeat, name);
}

int mr_forest_target_index(const mr_forest *f, const char *name)
{
	return name_index(f->target_names, f->ntarget, name);
}

double mr_forest_feature_min(const mr_forest *f, size_t i)
{
	return i < f->nfeat ? f->fmin[i] : NAN;
}

double mr_forest_feature_max(const mr_forest *f, size_t i)
{
	return i < f->nfeat ? f->fmax[i] : NAN;
}

/* ------------------------------------------------------------------------
 * From thresholds to cuts.
 *
 * A cut table collects the distinct (feature, threshold) pairs of a set of
 * nodes (open addressing, at most half full); tables can be merged, then
 * cut_table_finish sorts each feature's thresholds into f->cuts and gives
 * each pair its index, and convert_nodes maps nodes through the table
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

static uint64_t thr_bits(double t)
{
	t += 0.0; /* -0 -> +0: equal values, one cut */
	uint64_t b;
	memcpy(&b, &t, sizeof b);
	return b;
}

static cut_slot *cut_find(const cut_table *c, uint32_t feat, uint64_t bits)
{
	uint64_t h = (bits ^ ((uint64_t)feat * 0x9e3779b97f4a7c15ull)) *
		     0xbf58476d1ce4e5b9ull;
	for (size_t i = (size_t)(h >> 20) & (c->cap - 1);; i = (i + 1) & (c->cap - 1))
		if (c->tab[i].feat == UINT32_MAX ||
		    (c->tab[i].feat == feat && c->tab[i].bits == bits))
			return &c->tab[i];
}

static void cut_table_init(cut_table *c)
{
	c->cap = 1024;
	c->used = 0;
	c->tab = mr_xcalloc(c->cap, sizeof *c->tab);
	memset(c->tab, 0xff, c->cap * sizeof *c->tab);
}

static void cut_table_add(cut_table *c, uint32_t feat, uint64_t bits)
{
	cut_slot *s = cut_find(c, feat, bits);
	if (s->feat != UINT32_MAX)
		return;
	*s = (cut_slot){bits, feat, 0};
	if (++c->used * 2 <= c->cap)
		return;
	cut_table old = *c;
	c->cap *= 2;
	c->tab = mr_xcalloc(c->cap, sizeof *c->tab);
	memset(c->tab, 0xff, c->cap * sizeof *c->tab);
	for (size_t k = 0; k < old.cap; k++)
		if (old.tab[k].feat != UINT32_MAX)
			*cut_find(c, old.tab[k].feat, old.tab[k].bits) = old.tab[k];
	free(old.tab);
}

static void cut_table_add_nodes(cut_table *c, const grow_node *gn, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(gn[i].child & RF_LEAF))
			cut_table_add(c, gn[i].feat, thr_bits(gn[i].thr));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Sets f->cuts and f->cut0 from the table and the table's indices. */
static int cut_table_finish(mr_forest *f, cut_table *c, const char *name,
			    mr_err *e)
{
	size_t F = f->nfeat;
	f->cut0 = mr_xcalloc(F + 1, sizeof *f->cut0);
	for (size_t k = 0; k < c->cap; k++)
		if (c->tab[k].feat != UINT32_MAX)
			f->cut0[c->tab[k].feat + 1]++;
	for (size_t j = 0; j < F; j++) {
		if (f->cut0[j + 1] >= RF_MAX_CUTS)
			return mr_errf(e, MR_EXIT_DATA,
				       "%s: feature %zu has %u distinct thresholds, at most %u are supported",
				       name, j, f->cut0[j + 1], RF_MAX_CUTS - 1);
		f->cut0[j + 1] += f->cut0[j];
	}
	f->cuts = mr_xcalloc(c->used, sizeof *f->cuts);
	uint32_t *fill = mr_xcalloc(F, sizeof *fill);
	for (size_t k = 0; k < c->cap; k++)
		if (c->tab[k].feat != UINT32_MAX) {
			uint32_t j = c->tab[k].feat;
			memcpy(&f->cuts[f->cut0[j] + fill[j]++], &c->tab[k].bits,
			       sizeof(double));
		}
	free(fill);
	for (size_t j = 0; j < F; j++) {
		double *v = f->cuts + f->cut0[j];
		size_t m = f->cut0[j + 1] - f->cut0[j];
		qsort(v, m, sizeof *v, cmp_double);
		for (size_t q = 0; q < m; q++)
			cut_find(c, (uint32_t)j, thr_bits(v[q]))->idx = (uint32_t)q;
	}
	return 0;
}

/* dst[i] = src[i] as an rf_node; child indices and leaf rows are shifted by
 * node_add and leaf_add (tree-local to global). */
static void convert_nodes(const cut_table *c, const grow_node *src, size_t n,
			  rf_node *dst, uint32_t node_add, uint32_t leaf_add)
{
	for (size_t i = 0; i < n; i++) {
		if (src[i].child & RF_LEAF) {
			dst[i] = (rf_node){src[i].child + leaf_add, 0};
			continue;
		}
		uint32_t idx = cut_find(c, src[i].feat, thr_bits(src[i].thr))->idx;
		dst[i] = (rf_node){src[i].child + node_add, src[i].feat | idx << 8};
	}
}

/* ------------------------------------------------------------------------
 * Threads.
 */
/* Runs fn over `jobs` (one per thread, job 0 on the caller's thread). */
static void run_threads(void *(*fn)(void *), void *jobs, size_t jobsize,
			int threads)
{
	pthread_t *tid = mr_xcalloc((size_t)threads, sizeof *tid);
	int *ok = mr_xcalloc((size_t)threads, sizeof *ok);
	for (int k = 1; k < threads; k++)
		ok[k] = pthread_create(&tid[k], NULL, fn,
				       (char *)jobs + (size_t)k * jobsize) == 0;
	fn(jobs);
	for (int k = 1; k < threads; k++) {
		if (ok[k])
			pthread_join(tid[k], NULL);
		else
			fn((char *)jobs + (size_t)k * jobsize);
	}
	free(tid);
	free(ok);
}

/* ------------------------------------------------------------------------
 * Prediction.
 */
/* xr[j] = number of feature j's cuts below x[j]. A NaN ranks 0 and goes
 * left everywhere, as "x > threshold" being false sends it left too. */
static inline void rank_row(const mr_forest *f, const double *x, uint32_t *xr)
{
	for (size_t j = 0; j < f->nfeat; j++) {
		const double *c = f->cuts + f->cut0[j];
		uint32_t lo = 0, hi = f->cut0[j + 1] - f->cut0[j];
		while (lo < hi) { /* first cut >= x */
			uint32_t mid = (lo + hi) / 2;
			if (c[mid] < x[j])
				lo = mid + 1;
			else
				hi = mid;
		}
		xr[j] = lo;
	}
}

static inline uint32_t step(const rf_node *nd, const uint32_t *xr)
{
	return nd->child + (xr[nd->meta & 0xff] > nd->meta >> 8);
}

/* Value row of the leaf that ranks xr reach from node i. */
static inline uint32_t walk(const rf_node *nodes, uint32_t i,
			    const uint32_t *xr)
{
	while (!(nodes[i].child & RF_LEAF))
		i = step(&nodes[i], xr);
	return nodes[i].child & ~RF_LEAF;
}

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
	rank_row(f, x, xr);
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
					cur[q] = step(nd, xr);
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
			rank_row(f, X + i * F, XR + (i - b) * F);
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
	run_threads(pred_worker, jobs, sizeof *jobs, threads);
	free(jobs);
}

/* ------------------------------------------------------------------------
 * Fitting: shared read-only data.
 */
typedef struct {
	size_t n, F, T;
	size_t R;             /* sample/histogram row: w, count, T sums, padded
				 to an even length for whole vector adds */
	const double *Y;      /* n x T */
	uint32_t *rank;       /* F x n: rank of X[i][j] among feature j's values */
	double **vals;        /* F arrays: sorted distinct values */
	uint32_t *nvals;      /* F */
	uint32_t kmax;        /* max nvals */
	const mr_forest_params *p;
	int mtry;             /* features tried per split */
} fit_data;

/* Each thread appends the trees it grows to its own arena (few large
 * allocations instead of several per tree; they are merged in tree order at
 * the end). Child indices and leaf rows are tree-local until the merge. */
typedef struct {
	grow_node *nodes;
	size_t nnodes, cap;
	double *values;
	size_t nleaves, vcap;
} arena;

/* Where one grown tree lives. */
typedef struct {
	size_t arena;          /* index of its thread's arena */
	size_t node0, nnodes;  /* its nodes: arena nodes [node0, node0+nnodes) */
	size_t leaf0, nleaves; /* its value rows */
	uint64_t *inbag;       /* n bits: rows drawn at least once */
} tree_out;

/* A node waiting to be split: its samples are idx[start, end); ranges hold
 * the rank interval [lo, hi] each feature can take in it. */
typedef struct {
	size_t start, end;
	int depth;
	uint32_t slot; /* its index in the tree's node array */
} stack_ent;

/* Copies of a node's histogram (see hist_fill). */
#define NH 4

/* Per-thread scratch, sized once per fit. */
typedef struct {
	double *w;        /* n: bootstrap weights */
	uint32_t *idx;    /* n: in-bag samples, partitioned node by node */
	double *g;        /* n x R: per node sample, (w, 1, w*y..., 0 pad) */
	uint32_t *grank;  /* n: one feature's ranks gathered */
	uint64_t *keys;   /* n: (rank << 32 | position) for the sort path */
	double *hist;     /* NH x kmax x R: histogram rows like g's */
	double *tot, *sL; /* T+2: node totals (as g rows); T: left sums */
	int *perm;        /* F: feature order */
	stack_ent *stack;
	uint32_t *ranges; /* stack cap x F x 2 */
	size_t scap;
} scratch;

static void scratch_init(scratch *s, const fit_data *d)
{
	size_t n = d->n, T = d->T;
	s->w = mr_xcalloc(n, sizeof *s->w);
	s->idx = mr_xcalloc(n, sizeof *s->idx);
	s->g = mr_xcalloc(n * d->R, sizeof *s->g);
	s->grank = mr_xcalloc(n, sizeof *s->grank);
	s->keys = mr_xcalloc(n, sizeof *s->keys);
	s->hist = mr_xcalloc((size_t)NH * d->kmax * d->R, sizeof *s->hist);
	s->tot = mr_xcalloc(d->R, sizeof *s->tot);
	s->sL = mr_xcalloc(T, sizeof *s->sL);
	s->perm = mr_xcalloc(d->F, sizeof *s->perm);
	s->scap = 64;
	s->stack = mr_xcalloc(s->scap, sizeof *s->stack);
	s->ranges = mr_xcalloc(s->scap * d->F * 2, sizeof *s->ranges);
}

static void scratch_free(scratch *s)
{
	free(s->w);
	free(s->idx);
	free(s->g);
	free(s->grank);
	free(s->keys);
	free(s->hist);
	free(s->tot);
	free(s->sL);
	free(s->perm);
	free(s->stack);
	free(s->ranges);
}

static uint32_t new_nodes(arena *t, size_t k)
{
	if (t->nnodes + k > RF_MAX_NODES) {
		/* the file format's int32 indices cannot hold this forest */
		fprintf(stderr, "meshrl: forest too large (over %zu nodes); use fewer trees or a larger min_leaf\n",
			RF_MAX_NODES);
		exit(MR_EXIT_FAIL);
	}
	if (t->nnodes + k > t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 1024;
		while (nc < t->nnodes + k)
			nc *= 2;
		t->nodes = mr_xrealloc(t->nodes, nc, sizeof *t->nodes);
		t->cap = nc;
	}
	uint32_t s = (uint32_t)t->nnodes;
	t->nnodes += k;
	return s;
}

static uint32_t new_leaf(arena *t, const double *S, double W, size_t T)
{
	if (t->nleaves == t->vcap) {
		t->vcap = t->vcap ? t->vcap * 2 : 512;
		t->values = mr_xrealloc(t->values, t->vcap * T,
					sizeof *t->values);
	}
	double *v = t->values + t->nleaves * T;
	for (size_t j = 0; j < T; j++)
		v[j] = S[j] / W;
	return (uint32_t)t->nleaves++;
}

/* The best split of a node found so far. */
typedef struct {
	double proxy;  /* sum over targets of sL^2/wL + sR^2/wR: larger is better */
	int feat;      /* -1: none */
	uint32_t rlo;  /* left = rank <= rlo */
	uint32_t rhi;  /* next rank present in the node (right's smallest) */
} split_best;

/* Evaluates the boundary after the left statistics (wL, uL, sL). */
static inline void consider(split_best *b, int feat, uint32_t rlo,
			    uint32_t rhi, double W, size_t m, double wL,
			    size_t uL, const double *S, const double *sL,
			    size_t T, size_t min_leaf)
{
	if (uL < min_leaf || m - uL < min_leaf)
		return;
	double wR = W - wL, a = 0, c = 0;
	for (size_t j = 0; j < T; j++) {
		double r = S[j] - sL[j];
		a += sL[j] * sL[j];
		c += r * r;
	}
	double proxy = a / wL + c / wR;
	if (proxy > b->proxy) {
		b->proxy = proxy;
		b->feat = feat;
		b->rlo = rlo;
		b->rhi = rhi;
	}
}

/* Histogram scan of feature j over node positions [0, m) of the gathered
 * buffers, ranks in [lo, hi]. Returns 1 when the feature takes more than one
 * value in the node. */
/* Adds sample rows g[k] (R doubles each) into histogram rows h[rank - lo].
 * Rows of one configuration sit next to each other, so consecutive samples
 * often hit the same bin and each add would wait for the previous one's
 * store; NH copies of the histogram, taken in turn, break that chain. */
static inline __attribute__((always_inline)) void
hist_fill_r(double *h, size_t K, const size_t R, const uint32_t *gr,
	    const double *g, size_t m, uint32_t lo)
{
	size_t nh = m >= 8 * K ? NH : 1;
	memset(h, 0, nh * K * R * sizeof *h);
	size_t k = 0;
	if (nh == NH) {
		size_t stride = K * R;
		for (; k + NH <= m; k += NH)
			for (size_t c = 0; c < NH; c++) {
				double *hr = h + c * stride + (size_t)(gr[k + c] - lo) * R;
				const double *gk = g + (k + c) * R;
				for (size_t q = 0; q < R; q++)
					hr[q] += gk[q];
			}
		for (size_t c = 1; c < NH; c++)
			for (size_t q = 0; q < stride; q++)
				h[q] += h[c * stride + q];
	}
	for (; k < m; k++) {
		double *hr = h + (size_t)(gr[k] - lo) * R;
		const double *gk = g + k * R;
		for (size_t q = 0; q < R; q++)
			hr[q] += gk[q];
	}
}

/* The same code compiled for the common row sizes (1 to 4 targets), so
 * the loops over a row are unrolled. */
static void hist_fill(double *h, size_t K, size_t R, const uint32_t *gr,
		      const double *g, size_t m, uint32_t lo)
{
	switch (R) {
	case 4: hist_fill_r(h, K, 4, gr, g, m, lo); break;
	case 6: hist_fill_r(h, K, 6, gr, g, m, lo); break;
	default: hist_fill_r(h, K, R, gr, g, m, lo); break;
	}
}

/* tot[0..R) = sum of n rows of R doubles (a node's weight, samples and
 * target sums, from its samples or from one of its histograms). */
static inline __attribute__((always_inline)) void
row_totals_r(const double *rows, size_t n, const size_t R, double *tot)
{
	double acc[R];
	for (size_t q = 0; q < R; q++)
		acc[q] = 0;
	for (size_t k = 0; k < n; k++)
		for (size_t q = 0; q < R; q++)
			acc[q] += rows[k * R + q];
	for (size_t q = 0; q < R; q++)
		tot[q] = acc[q];
}

static void row_totals(const double *rows, size_t n, size_t R, double *tot)
{
	switch (R) {
	case 4: row_totals_r(rows, n, 4, tot); break;
	case 6: row_totals_r(rows, n, 6, tot); break;
	default: row_totals_r(rows, n, R, tot); break;
	}
}

/* Histogram scan of feature j over the node's gathered samples, ranks in
 * [lo, hi]. A histogram row is (weight, samples, weighted target sums).
 * Returns 1 when the feature takes more than one value in the node. */
static int scan_hist(const fit_data *d, scratch *s, int j, size_t m,
		     uint32_t lo, uint32_t hi, split_best *b)
{
	size_t T = d->T, R = d->R, K = (size_t)(hi - lo + 1);
	double *h = s->hist;
	hist_fill(h, K, R, s->grank, s->g, m, lo);
	/* node totals from K histogram rows rather than m samples */
	row_totals(h, K, R, s->tot);
	double W = s->tot[0];
	const double *S = s->tot + 2;
	double wL = 0, *sL = s->sL;
	size_t uL = 0;
	memset(sL, 0, T * sizeof *sL);
	int prev = -1, nonconst = 0;
	size_t min_leaf = (size_t)d->p->min_leaf;
	for (size_t r = 0; r < K; r++) {
		const double *hr = h + r * R;
		if (hr[1] == 0)
			continue;
		if (prev >= 0) {
			nonconst = 1;
			consider(b, j, lo + (uint32_t)prev, lo + (uint32_t)r, W,
				 m, wL, uL, S, sL, T, min_leaf);
		}
		wL += hr[0];
		uL += (size_t)hr[1];
		for (size_t t = 0; t < T; t++)
			sL[t] += hr[2 + t];
		prev = (int)r;
	}
	return nonconst;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Sort scan of feature j: for nodes much smaller than their rank range. */
static int scan_sort(const fit_data *d, scratch *s, int j, size_t m,
		     split_best *b)
{
	size_t T = d->T;
	row_totals(s->g, m, d->R, s->tot);
	double W = s->tot[0];
	const double *S = s->tot + 2;
	uint64_t *keys = s->keys;
	for (size_t k = 0; k < m; k++)
		keys[k] = (uint64_t)s->grank[k] << 32 | k;
	if (m <= 16) {
		for (size_t k = 1; k < m; k++) {
			uint64_t v = keys[k];
			size_t q = k;
			for (; q > 0 && keys[q - 1] > v; q--)
				keys[q] = keys[q - 1];
			keys[q] = v;
		}
	} else {
		qsort(keys, m, sizeof *keys, cmp_u64);
	}
	double wL = 0, *sL = s->sL;
	size_t uL = 0;
	memset(sL, 0, T * sizeof *sL);
	int nonconst = 0;
	size_t min_leaf = (size_t)d->p->min_leaf;
	for (size_t k = 0; k < m; k++) {
		uint32_t r = (uint32_t)(keys[k] >> 32);
		if (k > 0) {
			uint32_t rp = (uint32_t)(keys[k - 1] >> 32);
			if (r != rp) {
				nonconst = 1;
				consider(b, j, rp, r, W, m, wL, uL, S, sL,
					 T, min_leaf);
			}
		}
		const double *g = s->g + (size_t)(keys[k] & 0xffffffffu) * d->R;
		wL += g[0];
		uL++;
		for (size_t t = 0; t < T; t++)
			sL[t] += g[2 + t];
	}
	return nonconst;
}

static void push(scratch *s, size_t *sp, size_t F, stack_ent e,
		 const uint32_t *ranges)
{
	if (*sp == s->scap) {
		s->scap *= 2;
		s->stack = mr_xrealloc(s->stack, s->scap, sizeof *s->stack);
		s->ranges = mr_xrealloc(s->ranges, s->scap * F * 2,
					sizeof *s->ranges);
	}
	s->stack[*sp] = e;
	memmove(s->ranges + *sp * F * 2, ranges, F * 2 * sizeof *ranges);
	(*sp)++;
}

static void grow_tree(const fit_data *d, scratch *s, size_t tree,
		      arena *ar, tree_out *out)
{
	size_t n = d->n, F = d->F, T = d->T;
	const mr_forest_params *p = d->p;
	mr_rng rng;
	mr_rng_seed(&rng, p->seed, MR_STREAM_FOREST_TREE_BASE +
		    (uint64_t)tree);

	/* Bootstrap as integer weights; in-bag rows listed once each. */
	out->inbag = mr_xcalloc((n + 63) / 64, sizeof(uint64_t));
	memset(s->w, 0, n * sizeof *s->w);
	if (p->bootstrap) {
		for (size_t k = 0; k < n; k++)
			s->w[mr_rng_below(&rng, n)] += 1;
	} else {
		for (size_t k = 0; k < n; k++)
			s->w[k] = 1;
	}
	size_t m0 = 0;
	for (size_t i = 0; i < n; i++)
		if (s->w[i] > 0) {
			s->idx[m0++] = (uint32_t)i;
			out->inbag[i / 64] |= (uint64_t)1 << (i % 64);
		}

	uint32_t *r0 = mr_xcalloc(F * 2, sizeof *r0);
	uint32_t *rc = mr_xcalloc(F * 2, sizeof *rc);
	for (size_t j = 0; j < F; j++) {
		r0[2 * j] = 0;
		r0[2 * j + 1] = d->nvals[j] - 1;
	}
	size_t sp = 0;
	/* arena positions are absolute; what is stored is tree-local */
	out->node0 = ar->nnodes;
	out->leaf0 = ar->nleaves;
	uint32_t node0 = (uint32_t)out->node0, leaf0 = (uint32_t)out->leaf0;
	uint32_t root = new_nodes(ar, 1);
	push(s, &sp, F, (stack_ent){0, m0, 0, root}, r0);
	size_t min_leaf = (size_t)(p->min_leaf > 0 ? p->min_leaf : 1);

	while (sp > 0) {
		sp--;
		stack_ent e = s->stack[sp];
		memcpy(rc, s->ranges + sp * F * 2, F * 2 * sizeof *rc);
		size_t m = e.end - e.start;
		const uint32_t *idx = s->idx + e.start;

		/* Gather weights and weighted targets; node sums; is every
		 * target constant here? */
		size_t R = d->R;
		for (size_t k = 0; k < m; k++) {
			size_t i = idx[k];
			double w = s->w[i], *g = s->g + k * R;
			const double *y = d->Y + i * T;
			g[0] = w;
			g[1] = 1;
			for (size_t t = 0; t < T; t++)
				g[2 + t] = w * y[t];
		}
		int varies = 0;
		const double *y0 = d->Y + (size_t)idx[0] * T;
		for (size_t k = 1; k < m && !varies; k++) {
			const double *y = d->Y + (size_t)idx[k] * T;
			for (size_t t = 0; t < T; t++)
				varies |= y[t] != y0[t];
		}
		int leaf = !varies || m < 2 || m < 2 * min_leaf ||
			   (p->max_depth > 0 && e.depth >= p->max_depth);

		split_best best = {-INFINITY, -1, 0, 0};
		if (!leaf) {
			/* Features in random order; stop after mtry that
			 * vary in the node (constant ones do not count). */
			for (size_t j = 0; j < F; j++)
				s->perm[j] = (int)j;
			int tried = 0;
			for (size_t q = 0; q < F && tried < d->mtry; q++) {
				size_t pick = q;
				if ((size_t)d->mtry < F)
					pick = q + (size_t)mr_rng_below(
							   &rng, F - q);
				int j = s->perm[pick];
				s->perm[pick] = s->perm[q];
				s->perm[q] = j;
				uint32_t lo = rc[2 * j], hi = rc[2 * j + 1];
				if (lo == hi)
					continue;
				const uint32_t *rk = d->rank + (size_t)j * n;
				for (size_t k = 0; k < m; k++)
					s->grank[k] = rk[idx[k]];
				size_t range = (size_t)(hi - lo) + 1;
				int nc = range <= 4 * m
						 ? scan_hist(d, s, j, m, lo, hi,
							     &best)
						 : scan_sort(d, s, j, m, &best);
				tried += nc;
			}
			leaf = best.feat < 0;
		}
		if (leaf) {
			row_totals(s->g, m, R, s->tot);
			uint32_t row = new_leaf(ar, s->tot + 2, s->tot[0], T);
			ar->nodes[e.slot] = (grow_node){0, 0, RF_LEAF | (row - leaf0)};
			continue;
		}

		/* Partition idx[start, end) on rank <= rlo. */
		int j = best.feat;
		const uint32_t *rk = d->rank + (size_t)j * n;
		uint32_t *a = s->idx + e.start;
		size_t lo = 0, hi = m;
		while (lo < hi) {
			if (rk[a[lo]] <= best.rlo) {
				lo++;
			} else {
				hi--;
				uint32_t tmp = a[lo];
				a[lo] = a[hi];
				a[hi] = tmp;
			}
		}
		const double *v = d->vals[j];
		double thr = v[best.rlo] / 2.0 + v[best.rhi] / 2.0;
		if (thr == v[best.rhi] || !isfinite(thr))
			thr = v[best.rlo];
		uint32_t kids = new_nodes(ar, 2);
		ar->nodes[e.slot] = (grow_node){thr, (uint32_t)j, kids - node0};
		/* right first so the left child is grown next */
		uint32_t save = rc[2 * j];
		rc[2 * j] = best.rhi;
		push(s, &sp, F,
		     (stack_ent){e.start + lo, e.end, e.depth + 1, kids + 1},
		     rc);
		rc[2 * j] = save;
		rc[2 * j + 1] = best.rlo;
		push(s, &sp, F,
		     (stack_ent){e.start, e.start + lo, e.depth + 1, kids},
		     rc);
	}
	out->nnodes = ar->nnodes - out->node0;
	out->nleaves = ar->nleaves - out->leaf0;
	free(r0);
	free(rc);
}

/* ------------------------------------------------------------------------
 * Fitting: threads, merge, out-of-bag.
 */
typedef struct {
	const fit_data *d;
	tree_out *trees;
	arena *arenas; /* one per thread */
	atomic_size_t next;
	void (*progress)(void *, int, int);
	void *progress_ctx;
	atomic_int done;
	pthread_mutex_t lock; /* serialises progress calls */
} fit_shared;

typedef struct {
	fit_shared *fs;
	size_t arena;
} fit_job;

static void *fit_worker(void *arg)
{
	fit_shared *fs = ((fit_job *)arg)->fs;
	size_t ai = ((fit_job *)arg)->arena;
	scratch s;
	scratch_init(&s, fs->d);
	int ntrees = fs->d->p->ntrees;
	for (;;) {
		size_t t = atomic_fetch_add(&fs->next, 1);
		if (t >= (size_t)ntrees)
			break;
		fs->trees[t].arena = ai;
		grow_tree(fs->d, &s, t, &fs->arenas[ai], &fs->trees[t]);
		int done = atomic_fetch_add(&fs->done, 1) + 1;
		if (fs->progress) {
			pthread_mutex_lock(&fs->lock);
			fs->progress(fs->progress_ctx, done, ntrees);
			pthread_mutex_unlock(&fs->lock);
		}
	}
	scratch_free(&s);
	return NULL;
}

typedef struct {
	const mr_forest *f;
	const tree_out *trees;
	const double *X;
	double *oob;
	size_t lo, hi;
} oob_job;

static void *oob_worker(void *arg)
{
	oob_job *j = arg;
	const mr_forest *f = j->f;
	size_t F = f->nfeat, T = f->ntarget;
	uint32_t xr[RF_MAX_FEAT];
	for (size_t i = j->lo; i < j->hi; i++) {
		double *o = j->oob + i * T;
		size_t cnt = 0;
		rank_row(f, j->X + i * F, xr);
		for (size_t t = 0; t < T; t++)
			o[t] = 0;
		for (size_t t = 0; t < f->ntrees; t++) {
			if (j->trees[t].inbag[i / 64] >> (i % 64) & 1)
				continue;
			const double *v =
				f->values +
				(size_t)walk(f->nodes, f->root[t], xr) * T;
			for (size_t q = 0; q < T; q++)
				o[q] += v[q];
			cnt++;
		}
		for (size_t q = 0; q < T; q++)
			o[q] = cnt ? o[q] / (double)cnt : NAN;
	}
	return NULL;
}


/* Merging grown trees into the forest, in two parallel passes. */
typedef struct {
	mr_forest *f;
	const fit_shared *fs;
	const size_t *lbase; /* each tree's first value row */
	size_t k, threads;
	cut_table ct;        /* pass 1: this thread's arena's cuts */
	const cut_table *all; /* pass 2: everyone's, with indices */
} merge_job;

static void *merge_collect(void *arg)
{
	merge_job *j = arg;
	const arena *a = &j->fs->arenas[j->k];
	cut_table_init(&j->ct);
	cut_table_add_nodes(&j->ct, a->nodes, a->nnodes);
	return NULL;
}

static void *merge_convert(void *arg)
{
	merge_job *j = arg;
	mr_forest *f = j->f;
	size_t T = f->ntarget;
	for (size_t t = j->k; t < f->ntrees; t += j->threads) {
		const tree_out *tr = &j->fs->trees[t];
		const arena *a = &j->fs->arenas[tr->arena];
		convert_nodes(j->all, a->nodes + tr->node0, tr->nnodes,
			      f->nodes + f->root[t], f->root[t],
			      (uint32_t)j->lbase[t]);
		memcpy(f->values + j->lbase[t] * T, a->values + tr->leaf0 * T,
		       tr->nleaves * T * sizeof *f->values);
	}
	return NULL;
}

/* Rank-encodes feature j: sorted distinct values and each row's rank. */
static void encode_feature(const double *X, size_t n, size_t F, size_t j,
			   double **vals_out, uint32_t *nvals, uint32_t *rank)
{
	double *v = mr_xcalloc(n, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = X[i * F + j];
	qsort(v, n, sizeof *v, cmp_double);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || v[i] != v[k - 1])
			v[k++] = v[i];
	*nvals = (uint32_t)k;
	*vals_out = v = mr_xrealloc(v, k, sizeof *v);
	for (size_t i = 0; i < n; i++) {
		double x = X[i * F + j];
		size_t a = 0, b = k; /* binary search: v[a] <= x < v[b] */
		while (b - a > 1) {
			size_t mid = (a + b) / 2;
			if (v[mid] <= x)
				a = mid;
			else
				b = mid;
		}
		rank[j * n + i] = (uint32_t)a;
	}
}

mr_forest *mr_forest_fit(const double *X, const double *Y, size_t n,
			 size_t nfeat, size_t ntarget,
			 const char *const *feat_names,
			 const char *const *target_names,
			 const mr_forest_params *p, double *oob, mr_err *e)
{
	mr_forest_params defaults;
	if (!p) {
		mr_forest_params_default(&defaults);
		p = &defaults;
	}
	if (n == 0)
		return mr_errf(e, MR_EXIT_DATA, "no training rows"), NULL;
	if (n > UINT32_MAX)
		return mr_errf(e, MR_EXIT_DATA,
			       "%zu training rows: at most %u are supported", n,
			       UINT32_MAX), NULL;
	if (nfeat == 0 || ntarget == 0)
		return mr_errf(e, MR_EXIT_USAGE,
			       "need at least one feature and one target"),
		       NULL;
	if (nfeat > RF_MAX_FEAT)
		return mr_errf(e, MR_EXIT_USAGE,
			       "%zu features: at most %d are supported", nfeat,
			       RF_MAX_FEAT), NULL;
	if (p->ntrees < 1 || p->min_leaf < 1 || p->max_depth < 0 ||
	    !(p->max_features > 0 && p->max_features <= 1))
		return mr_errf(e, MR_EXIT_USAGE,
			       "bad forest parameters: trees %d (>= 1), min_leaf %d (>= 1), max_depth %d (>= 0), max_features %g (in (0,1])",
			       p->ntrees, p->min_leaf, p->max_depth,
			       p->max_features), NULL;
	for (size_t i = 0; i < n * nfeat; i++)
		if (!isfinite(X[i]))
			return mr_errf(e, MR_EXIT_DATA,
				       "row %zu feature %zu: not a finite number",
				       i / nfeat, i % nfeat), NULL;
	for (size_t i = 0; i < n * ntarget; i++)
		if (!isfinite(Y[i]))
			return mr_errf(e, MR_EXIT_DATA,
				       "row %zu target %zu: not a finite number",
				       i / ntarget, i % ntarget), NULL;

	fit_data d = {.n = n, .F = nfeat, .T = ntarget, .Y = Y, .p = p,
		      .R = (ntarget + 3) & ~(size_t)1};
	d.rank = mr_xcalloc(n * nfeat, sizeof *d.rank);
	d.vals = mr_xcalloc(nfeat, sizeof *d.vals);
	d.nvals = mr_xcalloc(nfeat, sizeof *d.nvals);
	for (size_t j = 0; j < nfeat; j++) {
		encode_feature(X, n, nfeat, j, &d.vals[j], &d.nvals[j], d.rank);
		if (d.nvals[j] > d.kmax)
			d.kmax = d.nvals[j];
	}
	d.mtry = (int)(p->max_features * (double)nfeat);
	if (d.mtry < 1)
		d.mtry = 1;

	int threads = p->threads > 1 ? p->threads : 1;
	if (threads > p->ntrees)
		threads = p->ntrees;
	fit_shared fs = {.d = &d,
			 .progress = p->progress,
			 .progress_ctx = p->progress_ctx};
	fs.trees = mr_xcalloc((size_t)p->ntrees, sizeof *fs.trees);
	fs.arenas = mr_xcalloc((size_t)threads, sizeof *fs.arenas);
	atomic_init(&fs.next, 0);
	atomic_init(&fs.done, 0);
	pthread_mutex_init(&fs.lock, NULL);
	/* Trees go to whichever thread is free; a thread that fails to start
	 * leaves its trees to the others. */
	fit_job *jobs = mr_xcalloc((size_t)threads, sizeof *jobs);
	for (int k = 0; k < threads; k++)
		jobs[k] = (fit_job){&fs, (size_t)k};
	{
		pthread_t *tid = mr_xcalloc((size_t)threads, sizeof *tid);
		int *ok = mr_xcalloc((size_t)threads, sizeof *ok);
		for (int k = 1; k < threads; k++)
			ok[k] = pthread_create(&tid[k], NULL, fit_worker,
					       &jobs[k]) == 0;
		fit_worker(&jobs[0]);
		for (int k = 1; k < threads; k++)
			if (ok[k])
				pthread_join(tid[k], NULL);
		free(tid);
		free(ok);
	}
	free(jobs);
	pthread_mutex_destroy(&fs.lock);

	/* Merge trees into flat global arrays. */
	size_t nnodes = 0, nleaves = 0;
	for (int t = 0; t < p->ntrees; t++) {
		nnodes += fs.trees[t].nnodes;
		nleaves += fs.trees[t].nleaves;
	}
	mr_forest *f = NULL;
	if (nnodes > RF_MAX_NODES || nleaves > RF_MAX_NODES) {
		mr_errf(e, MR_EXIT_FAIL,
			"the forest has %zu nodes, more than the %zu a model can hold; use fewer trees or a larger --min-leaf",
			nnodes, RF_MAX_NODES);
		goto out;
	}
	f = mr_xcalloc(1, sizeof *f);
	f->nfeat = nfeat;
	f->ntarget = ntarget;
	f->ntrees = (size_t)p->ntrees;
	f->nnodes = nnodes;
	f->nleaves = nleaves;
	f->feat_names = copy_names(feat_names, nfeat, "x");
	f->target_names = copy_names(target_names, ntarget, "y");
	f->fmin = mr_xcalloc(nfeat, sizeof *f->fmin);
	f->fmax = mr_xcalloc(nfeat, sizeof *f->fmax);
	for (size_t j = 0; j < nfeat; j++) {
		f->fmin[j] = d.vals[j][0];
		f->fmax[j] = d.vals[j][d.nvals[j] - 1];
	}
	f->root = mr_xcalloc(f->ntrees + 1, sizeof *f->root);
	f->nodes = mr_xcalloc(nnodes, sizeof *f->nodes);
	f->values = mr_xcalloc(nleaves * ntarget, sizeof *f->values);
	f->inv_ntrees = 1.0 / (double)f->ntrees;
	f->params = *p;
	f->params.progress = NULL;
	f->params.progress_ctx = NULL;
	f->nrows = n;
	/* Trees' offsets in the flat arrays, then cuts and conversion, each
	 * thread on its own arena or trees: only the union of the (small)
	 * cut tables is serial. */
	size_t *lbase = mr_xcalloc(f->ntrees, sizeof *lbase);
	size_t nb = 0, lb = 0;
	for (size_t t = 0; t < f->ntrees; t++) {
		f->root[t] = (uint32_t)nb;
		lbase[t] = lb;
		nb += fs.trees[t].nnodes;
		lb += fs.trees[t].nleaves;
	}
	f->root[f->ntrees] = (uint32_t)nb;
	merge_job *mj = mr_xcalloc((size_t)threads, sizeof *mj);
	for (int k = 0; k < threads; k++)
		mj[k] = (merge_job){.f = f, .fs = &fs, .lbase = lbase,
				    .k = (size_t)k, .threads = (size_t)threads};
	run_threads(merge_collect, mj, sizeof *mj, threads);
	cut_table all = mj[0].ct;
	for (int k = 1; k < threads; k++) {
		for (size_t q = 0; q < mj[k].ct.cap; q++)
			if (mj[k].ct.tab[q].feat != UINT32_MAX)
				cut_table_add(&all, mj[k].ct.tab[q].feat,
					      mj[k].ct.tab[q].bits);
		free(mj[k].ct.tab);
	}
	int ok = cut_table_finish(f, &all, "fit", e);
	if (ok == 0) {
		for (int k = 0; k < threads; k++)
			mj[k].all = &all;
		run_threads(merge_convert, mj, sizeof *mj, threads);
	}
	free(all.tab);
	free(mj);
	free(lbase);
	if (ok != 0) {
		mr_forest_free(f);
		f = NULL;
		goto out;
	}

	if (oob) {
		oob_job *oj = mr_xcalloc((size_t)threads, sizeof *oj);
		size_t per = (n + (size_t)threads - 1) / (size_t)threads;
		for (int k = 0; k < threads; k++) {
			size_t lo = (size_t)k * per, hi = lo + per;
			oj[k] = (oob_job){f, fs.trees, X, oob, lo < n ? lo : n,
					  hi < n ? hi : n};
		}
		run_threads(oob_worker, oj, sizeof *oj, threads);
		free(oj);
	}
out:
	for (int k = 0; k < threads; k++) {
		free(fs.arenas[k].nodes);
		free(fs.arenas[k].values);
	}
	free(fs.arenas);
	for (int t = 0; t < p->ntrees; t++) {
		free(fs.trees[t].inbag);
	}
	free(fs.trees);
	for (size_t j = 0; j < nfeat; j++)
		free(d.vals[j]);
	free(d.vals);
	free(d.nvals);
	free(d.rank);
	return f;
}

/* ------------------------------------------------------------------------
 * The model file (msgpack map; schema in the README):
 *   format "rf-forest", version 1, features [str], targets [str],
 *   feature_min / feature_max bin f64[nfeat], ntrees, nnodes, nleaves,
 *   tree_offset bin i32[ntrees+1] (tree t = nodes [off[t], off[t+1]), root
 *   first), feature bin i32[nnodes] (-1: leaf), threshold bin f64[nnodes]
 *   (left when x <= threshold), left / right bin i32[nnodes] (global node
 *   indices; for a leaf left is its row in value and right is -1),
 *   value bin f64[nleaves x ntargets], params {trees, min_leaf, max_depth,
 *   max_features, bootstrap, seed}, train_rows.
 */
/* The four per-node arrays of the file, derived from the in-memory
 * nodes; written in chunks so saving needs no copy of the forest. */
enum { COL_FEATURE, COL_THRESHOLD, COL_LEFT, COL_RIGHT };

static void pack_node_column(msgpack_packer *pk, const mr_forest *f,
			     const char *key, int col)
{
	enum { CHUNK = 4096 };
	union {
		int32_t i[CHUNK];
		double d[CHUNK];
	} buf;
	size_t elem = col == COL_THRESHOLD ? 8 : 4;
	mr_pk_str(pk, key);
	msgpack_pack_bin(pk, f->nnodes * elem);
	for (size_t b = 0; b < f->nnodes; b += CHUNK) {
		size_t m = f->nnodes - b < CHUNK ? f->nnodes - b : CHUNK;
		for (size_t k = 0; k < m; k++) {
			const rf_node *nd = &f->nodes[b + k];
			int leaf = (nd->child & RF_LEAF) != 0;
			uint32_t feat = nd->meta & 0xff;
			switch (col) {
			case COL_FEATURE: buf.i[k] = leaf ? -1 : (int32_t)feat; break;
			case COL_THRESHOLD:
				buf.d[k] = leaf ? 0 : f->cuts[f->cut0[feat] + (nd->meta >> 8)];
				break;
			case COL_LEFT: buf.i[k] = (int32_t)(nd->child & ~RF_LEAF); break;
			default: buf.i[k] = leaf ? -1 : (int32_t)nd->child + 1; break;
			}
		}
		/* the bin body is little-endian; so is this host (mp.c) */
		msgpack_pack_bin_body(pk, &buf, m * elem);
	}
}

static void pack_forest(msgpack_packer *pk, const mr_forest *f)
{
	int32_t *off = mr_xcalloc(f->ntrees + 1, sizeof *off);
	for (size_t t = 0; t <= f->ntrees; t++)
		off[t] = (int32_t)f->root[t];
	msgpack_pack_map(pk, 18);
	mr_pk_kv_str(pk, "format", RF_FORMAT);
	mr_pk_kv_i64(pk, "version", RF_VERSION);
	mr_pk_kv_strs(pk, "features", f->feat_names, f->nfeat);
	mr_pk_kv_strs(pk, "targets", f->target_names, f->ntarget);
	mr_pk_kv_bin(pk, "feature_min", f->fmin, f->nfeat * sizeof(double));
	mr_pk_kv_bin(pk, "feature_max", f->fmax, f->nfeat * sizeof(double));
	mr_pk_kv_i64(pk, "ntrees", (int64_t)f->ntrees);
	mr_pk_kv_i64(pk, "nnodes", (int64_t)f->nnodes);
	mr_pk_kv_i64(pk, "nleaves", (int64_t)f->nleaves);
	mr_pk_kv_bin(pk, "tree_offset", off, (f->ntrees + 1) * sizeof *off);
	pack_node_column(pk, f, "feature", COL_FEATURE);
	pack_node_column(pk, f, "threshold", COL_THRESHOLD);
	pack_node_column(pk, f, "left", COL_LEFT);
	pack_node_column(pk, f, "right", COL_RIGHT);
	mr_pk_kv_bin(pk, "value", f->values,
		     f->nleaves * f->ntarget * sizeof(double));
	mr_pk_str(pk, "params");
	msgpack_pack_map(pk, 6);
	mr_pk_kv_i64(pk, "trees", f->params.ntrees);
	mr_pk_kv_i64(pk, "min_leaf", f->params.min_leaf);
	mr_pk_kv_i64(pk, "max_depth", f->params.max_depth);
	mr_pk_kv_f64(pk, "max_features", f->params.max_features);
	mr_pk_kv_i64(pk, "bootstrap", f->params.bootstrap);
	mr_pk_str(pk, "seed");
	msgpack_pack_uint64(pk, f->params.seed);
	mr_pk_kv_i64(pk, "train_rows", (int64_t)f->nrows);
	mr_pk_kv_str(pk, "created_by", "meshrl rf-fit " MR_VERSION);
	free(off);
}

int mr_forest_write(const mr_forest *f, FILE *out, mr_err *e)
{
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, msgpack_fbuffer_write);
	pack_forest(&pk, f);
	if (ferror(out))
		return mr_errf(e, MR_EXIT_IO, "write error while saving a model");
	return 0;
}

/* Streams the model into an atomic output: a failed save leaves no file. */
int mr_forest_save(const mr_forest *f, const char *path, mr_err *e)
{
	mr_out o;
	if (mr_out_open(&o, path, e) != 0)
		return -1;
	if (mr_forest_write(f, o.f, e) != 0) {
		mr_err_prefix(e, "%s", path);
		mr_out_abort(&o);
		return -1;
	}
	return mr_out_commit(&o, e);
}

/* The model as one malloc'd msgpack buffer (what save writes). */
char *mr_forest_to_buffer(const mr_forest *f, size_t *len)
{
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack_forest(&pk, f);
	if (!sb.data) {
		fprintf(stderr, "meshrl: out of memory packing a model\n");
		exit(MR_EXIT_IO);
	}
	*len = sb.size;
	return msgpack_sbuffer_release(&sb);
}

/* Reads a bin of count int32 or f64 into a fresh array. */
static int32_t *get_i32s(const msgpack_object *root, const char *key,
			 const char *name, size_t count, mr_err *e)
{
	const void *p;
	if (mr_mp_bin(root, key, name, count, 4, &p, e) != 0)
		return NULL;
	int32_t *v = mr_xcalloc(count, sizeof *v);
	mr_le_i32(v, p, count);
	return v;
}

static double *get_f64s(const msgpack_object *root, const char *key,
			const char *name, size_t count, mr_err *e)
{
	const void *p;
	if (mr_mp_bin(root, key, name, count, 8, &p, e) != 0)
		return NULL;
	double *v = mr_xcalloc(count, sizeof *v);
	mr_le_f64(v, p, count);
	return v;
}

/* Checks tree t's nodes [a, b) of the file arrays and lays them out in f
 * with siblings adjacent (breadth first from the root). Every index is
 * checked here so that prediction can trust them. */
static int load_tree(mr_forest *f, grow_node *gn, size_t t, size_t a, size_t b,
		     const int32_t *feat, const double *thr,
		     const int32_t *left, const int32_t *right,
		     uint32_t *parents, uint32_t *order, const char *name,
		     mr_err *e)
{
	for (size_t i = a; i < b; i++)
		parents[i] = 0;
	for (size_t i = a; i < b; i++) {
		if (feat[i] < 0) {
			if (feat[i] != -1 || left[i] < 0 ||
			    (size_t)left[i] >= f->nleaves || right[i] != -1)
				return mr_errf(e, MR_EXIT_DATA,
					       "%s: tree %zu node %zu: bad leaf (feature %d, value row %d of %zu, right %d)",
					       name, t, i - a, feat[i], left[i],
					       f->nleaves, right[i]);
			continue;
		}
		if ((size_t)feat[i] >= f->nfeat)
			return mr_errf(e, MR_EXIT_DATA,
				       "%s: tree %zu node %zu: feature index %d out of range (%zu features)",
				       name, t, i - a, feat[i], f->nfeat);
		if (!isfinite(thr[i]))
			return mr_errf(e, MR_EXIT_DATA,
				       "%s: tree %zu node %zu: threshold is not a finite number",
				       name, t, i - a);
		int32_t kid[2] = {left[i], right[i]};
		for (int c = 0; c < 2; c++) {
			/* Children come after their parent in their own
			 * tree: no cycles, no sharing across trees. */
			if (kid[c] < 0 || (size_t)kid[c] <= i ||
			    (size_t)kid[c] >= b)
				return mr_errf(e, MR_EXIT_DATA,
					       "%s: tree %zu node %zu: child index %d out of range (must be in %zu..%zu)",
					       name, t, i - a, kid[c], i + 1,
					       b - 1);
			if (parents[kid[c]]++)
				return mr_errf(e, MR_EXIT_DATA,
					       "%s: tree %zu: node %zu has two parents",
					       name, t, (size_t)kid[c] - a);
		}
	}
	for (size_t i = a + 1; i < b; i++)
		if (parents[i] != 1)
			return mr_errf(e, MR_EXIT_DATA,
				       "%s: tree %zu: node %zu is not reachable from the root",
				       name, t, i - a);
	/* Breadth-first relayout: order[k] = file index of new node a + k. */
	size_t head = 0, tail = 0;
	order[tail++] = (uint32_t)a;
	while (head < tail) {
		size_t k = head++;
		size_t i = order[k];
		grow_node *nd = &gn[a + k];
		if (feat[i] < 0) {
			*nd = (grow_node){0, 0, RF_LEAF | (uint32_t)left[i]};
			continue;
		}
		*nd = (grow_node){thr[i], (uint32_t)feat[i], (uint32_t)(a + tail)};
		order[tail++] = (uint32_t)left[i];
		order[tail++] = (uint32_t)right[i];
	}
	return 0;
}

mr_forest *mr_forest_from_buffer(const char *buf, size_t len,
				 const char *name, mr_err *e)
{
	mr_mp_doc doc;
	if (mr_mp_parse(buf, len, name, &doc, e) != 0)
		return NULL;
	const msgpack_object *root = doc.root;
	mr_forest *f = mr_xcalloc(1, sizeof *f);
	int32_t *feat = NULL, *left = NULL, *right = NULL, *off = NULL;
	double *thr = NULL;
	uint32_t *parents = NULL, *order = NULL;
	grow_node *gn = NULL;
	int64_t v;
	if (mr_mp_check_header(root, name, RF_FORMAT, RF_VERSION, e) != 0)
		goto fail;
	if (mr_mp_strs(root, "features", name, &f->feat_names, &f->nfeat,
		       e) != 0 ||
	    mr_mp_strs(root, "targets", name, &f->target_names, &f->ntarget,
		       e) != 0)
		goto fail;
	if (f->nfeat == 0 || f->ntarget == 0) {
		mr_errf(e, MR_EXIT_DATA, "%s: %s", name,
			f->nfeat ? "no targets" : "no features");
		goto fail;
	}
	if (f->nfeat > RF_MAX_FEAT) {
		mr_errf(e, MR_EXIT_DATA, "%s: %zu features, at most %d are supported",
			name, f->nfeat, RF_MAX_FEAT);
		goto fail;
	}
	if (!(f->fmin = get_f64s(root, "feature_min", name, f->nfeat, e)) ||
	    !(f->fmax = get_f64s(root, "feature_max", name, f->nfeat, e)))
		goto fail;
	if (mr_mp_i64(root, "ntrees", name, 1, INT32_MAX, &v, e) != 0)
		goto fail;
	f->ntrees = (size_t)v;
	if (mr_mp_i64(root, "nnodes", name, 1, INT32_MAX, &v, e) != 0)
		goto fail;
	f->nnodes = (size_t)v;
	if (mr_mp_i64(root, "nleaves", name, 1, INT32_MAX, &v, e) != 0)
		goto fail;
	f->nleaves = (size_t)v;
	if (f->nleaves > SIZE_MAX / 8 / f->ntarget) {
		mr_errf(e, MR_EXIT_DATA, "%s: value table too large", name);
		goto fail;
	}
	/* Each size must match its bin; the bins are in the buffer, so every
	 * allocation below is bounded by the file's size. */
	if (!(off = get_i32s(root, "tree_offset", name, f->ntrees + 1, e)) ||
	    !(feat = get_i32s(root, "feature", name, f->nnodes, e)) ||
	    !(thr = get_f64s(root, "threshold", name, f->nnodes, e)) ||
	    !(left = get_i32s(root, "left", name, f->nnodes, e)) ||
	    !(right = get_i32s(root, "right", name, f->nnodes, e)) ||
	    !(f->values = get_f64s(root, "value", name,
				   f->nleaves * f->ntarget, e)))
		goto fail;
	for (size_t i = 0; i < f->nleaves * f->ntarget; i++)
		if (!isfinite(f->values[i])) {
			mr_errf(e, MR_EXIT_DATA,
				"%s: value %zu is not a finite number", name, i);
			goto fail;
		}
	if (off[0] != 0 || (size_t)off[f->ntrees] != f->nnodes) {
		mr_errf(e, MR_EXIT_DATA,
			"%s: tree_offset must run from 0 to nnodes (%zu), found %d..%d",
			name, f->nnodes, off[0], off[f->ntrees]);
		goto fail;
	}
	for (size_t t = 0; t < f->ntrees; t++)
		if (off[t + 1] <= off[t]) {
			mr_errf(e, MR_EXIT_DATA,
				"%s: tree_offset: tree %zu is empty or out of order (%d..%d)",
				name, t, off[t], off[t + 1]);
			goto fail;
		}
	gn = mr_xcalloc(f->nnodes, sizeof *gn);
	f->root = mr_xcalloc(f->ntrees + 1, sizeof *f->root);
	parents = mr_xcalloc(f->nnodes, sizeof *parents);
	order = mr_xcalloc(f->nnodes, sizeof *order);
	size_t leaves = 0;
	for (size_t i = 0; i < f->nnodes; i++)
		leaves += feat[i] < 0;
	if (leaves != f->nleaves) {
		mr_errf(e, MR_EXIT_DATA,
			"%s: nleaves is %zu but the trees have %zu leaves",
			name, f->nleaves, leaves);
		goto fail;
	}
	for (size_t t = 0; t < f->ntrees; t++) {
		f->root[t] = (uint32_t)off[t];
		if (load_tree(f, gn, t, (size_t)off[t], (size_t)off[t + 1], feat,
			      thr, left, right, parents, order, name, e) != 0)
			goto fail;
	}
	f->root[f->ntrees] = (uint32_t)f->nnodes;
	{
		cut_table ct;
		cut_table_init(&ct);
		cut_table_add_nodes(&ct, gn, f->nnodes);
		int rc = cut_table_finish(f, &ct, name, e);
		if (rc == 0) {
			f->nodes = mr_xcalloc(f->nnodes, sizeof *f->nodes);
			convert_nodes(&ct, gn, f->nnodes, f->nodes, 0, 0);
		}
		free(ct.tab);
		if (rc != 0)
			goto fail;
	}
	f->inv_ntrees = 1.0 / (double)f->ntrees;

	/* Informational keys: absent or odd values are not an error. */
	mr_forest_params_default(&f->params);
	f->params.ntrees = (int)f->ntrees;
	const msgpack_object *pm = mr_mp_get(root, "params");
	if (pm) {
		if (mr_mp_i64(pm, "min_leaf", name, 1, INT32_MAX, &v, NULL) == 0)
			f->params.min_leaf = (int)v;
		if (mr_mp_i64(pm, "max_depth", name, 0, INT32_MAX, &v, NULL) == 0)
			f->params.max_depth = (int)v;
		double mf;
		if (mr_mp_f64(pm, "max_features", name, &mf, NULL) == 0 &&
		    mf > 0 && mf <= 1)
			f->params.max_features = mf;
		if (mr_mp_i64(pm, "bootstrap", name, 0, 1, &v, NULL) == 0)
			f->params.bootstrap = (int)v;
		const msgpack_object *s = mr_mp_get(pm, "seed");
		if (s && s->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			f->params.seed = s->via.u64;
	}
	if (mr_mp_i64(root, "train_rows", name, 0, INT64_MAX, &v, NULL) == 0)
		f->nrows = (size_t)v;

	free(feat);
	free(left);
	free(right);
	free(thr);
	free(off);
	free(parents);
	free(order);
	free(gn);
	mr_mp_doc_free(&doc);
	return f;
fail:
	free(feat);
	free(left);
	free(right);
	free(thr);
	free(off);
	free(parents);
	free(order);
	free(gn);
	mr_mp_doc_free(&doc);
	mr_forest_free(f);
	return NULL;
}

mr_forest *mr_forest_load(const char *path, mr_err *e)
{
	char *buf;
	size_t len;
	if (mr_read_file(path, &buf, &len, (size_t)4 << 30, e) != 0)
		return NULL;
	mr_forest *f = mr_forest_from_buffer(buf, len, path, e);
	free(buf);
	return f;
}

size_t mr_forest_train_rows(const mr_forest *f) { return f->nrows; }

const mr_forest_params *mr_forest_get_params(const mr_forest *f)
{
	return &f->params;
}

/* The forest is piecewise constant in each feature, and its pieces end
 * exactly at the feature's cuts (sorted, distinct: a walk compares x > cut). */
size_t mr_forest_thresholds(const mr_forest *f, size_t i, double *out,
			    size_t cap)
{
	if (i >= f->nfeat)
		return 0;
	size_t n = f->cut0[i + 1] - f->cut0[i];
	if (cap)
		memcpy(out, f->cuts + f->cut0[i], (n < cap ? n : cap) * sizeof *out);
	return n;
}
