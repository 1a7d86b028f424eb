/*
 * forest_fit.c - growing a forest: CART trees on bootstrap samples,
 * multi-output, squared error, as scikit-learn's RandomForestRegressor
 * grows them; then its out-of-bag predictions.
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
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "forest_impl.h"

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

/* k new nodes at the end of the arena, the first at *first. -1 when the
 * arena would pass RF_MAX_NODES (no model file could hold the forest). */
static int new_nodes(arena *t, size_t k, uint32_t *first)
{
	if (t->nnodes + k > RF_MAX_NODES)
		return -1;
	if (t->nnodes + k > t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 1024;
		while (nc < t->nnodes + k)
			nc *= 2;
		t->nodes = mr_xrealloc(t->nodes, nc, sizeof *t->nodes);
		t->cap = nc;
	}
	*first = (uint32_t)t->nnodes;
	t->nnodes += k;
	return 0;
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

/* The tree's bootstrap sample as integer weights in s->w; the in-bag rows
 * listed once each in s->idx and marked in out->inbag. Returns their
 * count. */
static size_t draw_bootstrap(const fit_data *d, scratch *s, mr_rng *rng,
			     tree_out *out)
{
	size_t n = d->n;
	out->inbag = mr_xcalloc((n + 63) / 64, sizeof(uint64_t));
	memset(s->w, 0, n * sizeof *s->w);
	if (d->p->bootstrap) {
		for (size_t k = 0; k < n; k++)
			s->w[mr_rng_below(rng, n)] += 1;
	} else {
		for (size_t k = 0; k < n; k++)
			s->w[k] = 1;
	}
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (s->w[i] > 0) {
			s->idx[m++] = (uint32_t)i;
			out->inbag[i / 64] |= (uint64_t)1 << (i % 64);
		}
	return m;
}

/* Gathers the weights and weighted targets of samples idx[0, m) into s->g.
 * Returns 1 when some target varies among them. */
static int gather_node(const fit_data *d, scratch *s, const uint32_t *idx,
		       size_t m)
{
	size_t T = d->T, R = d->R;
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
	return varies;
}

/* The best split of the gathered samples idx[0, m), whose ranks lie in the
 * ranges rc: features in random order, stopping after mtry that vary in
 * the node (constant ones do not count). feat < 0: no split. */
static split_best find_split(const fit_data *d, scratch *s, mr_rng *rng,
			     const uint32_t *idx, size_t m,
			     const uint32_t *rc)
{
	size_t F = d->F;
	split_best best = {-INFINITY, -1, 0, 0};
	for (size_t j = 0; j < F; j++)
		s->perm[j] = (int)j;
	int tried = 0;
	for (size_t q = 0; q < F && tried < d->mtry; q++) {
		size_t pick = q;
		if ((size_t)d->mtry < F)
			pick = q + (size_t)mr_rng_below(rng, F - q);
		int j = s->perm[pick];
		s->perm[pick] = s->perm[q];
		s->perm[q] = j;
		uint32_t lo = rc[2 * j], hi = rc[2 * j + 1];
		if (lo == hi)
			continue;
		const uint32_t *rk = d->rank + (size_t)j * d->n;
		for (size_t k = 0; k < m; k++)
			s->grank[k] = rk[idx[k]];
		size_t range = (size_t)(hi - lo) + 1;
		tried += range <= 4 * m ? scan_hist(d, s, j, m, lo, hi, &best)
					: scan_sort(d, s, j, m, &best);
	}
	return best;
}

/* Splits node e as best says: partitions its samples on rank <= rlo, sets
 * its node and pushes its children (right first, so the left child is
 * grown next) with their rank ranges (from rc, which is used as scratch).
 * node0 is the tree's first arena node. -1: the arena is full. */
static int split_node(const fit_data *d, scratch *s, arena *ar, size_t *sp,
		      stack_ent e, uint32_t *rc, const split_best *best,
		      uint32_t node0)
{
	int j = best->feat;
	const uint32_t *rk = d->rank + (size_t)j * d->n;
	uint32_t *a = s->idx + e.start;
	size_t lo = 0, hi = e.end - e.start;
	while (lo < hi) {
		if (rk[a[lo]] <= best->rlo) {
			lo++;
		} else {
			hi--;
			uint32_t tmp = a[lo];
			a[lo] = a[hi];
			a[hi] = tmp;
		}
	}
	const double *v = d->vals[j];
	double thr = v[best->rlo] / 2.0 + v[best->rhi] / 2.0;
	if (thr == v[best->rhi] || !isfinite(thr))
		thr = v[best->rlo];
	uint32_t kids;
	if (new_nodes(ar, 2, &kids) != 0)
		return -1;
	ar->nodes[e.slot] = (grow_node){thr, (uint32_t)j, kids - node0};
	uint32_t save = rc[2 * j];
	rc[2 * j] = best->rhi;
	push(s, sp, d->F,
	     (stack_ent){e.start + lo, e.end, e.depth + 1, kids + 1}, rc);
	rc[2 * j] = save;
	rc[2 * j + 1] = best->rlo;
	push(s, sp, d->F,
	     (stack_ent){e.start, e.start + lo, e.depth + 1, kids}, rc);
	return 0;
}

/* Grows tree number `tree` into the arena (depth first, from a stack of
 * nodes to split). -1: the arena is full. */
static int grow_tree(const fit_data *d, scratch *s, size_t tree,
		     arena *ar, tree_out *out)
{
	size_t F = d->F, T = d->T;
	const mr_forest_params *p = d->p;
	mr_rng rng;
	mr_rng_seed(&rng, p->seed, MR_STREAM_FOREST_TREE_BASE +
		    (uint64_t)tree);
	size_t m0 = draw_bootstrap(d, s, &rng, out);

	/* arena positions are absolute; what is stored is tree-local */
	out->node0 = ar->nnodes;
	out->leaf0 = ar->nleaves;
	uint32_t node0 = (uint32_t)out->node0, leaf0 = (uint32_t)out->leaf0;
	uint32_t root;
	if (new_nodes(ar, 1, &root) != 0)
		return -1;
	uint32_t *rc = mr_xcalloc(F * 2, sizeof *rc);
	for (size_t j = 0; j < F; j++) {
		rc[2 * j] = 0;
		rc[2 * j + 1] = d->nvals[j] - 1;
	}
	size_t sp = 0;
	push(s, &sp, F, (stack_ent){0, m0, 0, root}, rc);
	size_t min_leaf = (size_t)(p->min_leaf > 0 ? p->min_leaf : 1);
	int rv = 0;
	while (sp > 0 && rv == 0) {
		sp--;
		stack_ent e = s->stack[sp];
		memcpy(rc, s->ranges + sp * F * 2, F * 2 * sizeof *rc);
		size_t m = e.end - e.start;
		const uint32_t *idx = s->idx + e.start;
		int varies = gather_node(d, s, idx, m);
		split_best best = {-INFINITY, -1, 0, 0};
		if (varies && m >= 2 && m >= 2 * min_leaf &&
		    !(p->max_depth > 0 && e.depth >= p->max_depth))
			best = find_split(d, s, &rng, idx, m, rc);
		if (best.feat >= 0) {
			rv = split_node(d, s, ar, &sp, e, rc, &best, node0);
			continue;
		}
		row_totals(s->g, m, d->R, s->tot);
		uint32_t row = new_leaf(ar, s->tot + 2, s->tot[0], T);
		ar->nodes[e.slot] = (grow_node){0, 0, RF_LEAF | (row - leaf0)};
	}
	out->nnodes = ar->nnodes - out->node0;
	out->nleaves = ar->nleaves - out->leaf0;
	free(rc);
	return rv;
}

/* ------------------------------------------------------------------------
 * Fitting: the data trees grow from, and checks of the caller's input.
 */
/* Rank-encodes feature j: sorted distinct values and each row's rank. */
static void encode_feature(const double *X, size_t n, size_t F, size_t j,
			   double **vals_out, uint32_t *nvals, uint32_t *rank)
{
	double *v = mr_xcalloc(n, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = X[i * F + j];
	qsort(v, n, sizeof *v, rf_cmp_double);
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

/* Every feature rank-encoded once, for all trees. */
static void fit_data_init(fit_data *d, const double *X, const double *Y,
			  size_t n, size_t nfeat, size_t ntarget,
			  const mr_forest_params *p)
{
	*d = (fit_data){.n = n, .F = nfeat, .T = ntarget, .Y = Y, .p = p,
			.R = (ntarget + 3) & ~(size_t)1};
	d->rank = mr_xcalloc(n * nfeat, sizeof *d->rank);
	d->vals = mr_xcalloc(nfeat, sizeof *d->vals);
	d->nvals = mr_xcalloc(nfeat, sizeof *d->nvals);
	for (size_t j = 0; j < nfeat; j++) {
		encode_feature(X, n, nfeat, j, &d->vals[j], &d->nvals[j],
			       d->rank);
		if (d->nvals[j] > d->kmax)
			d->kmax = d->nvals[j];
	}
	d->mtry = (int)(p->max_features * (double)nfeat);
	if (d->mtry < 1)
		d->mtry = 1;
}

static void fit_data_free(fit_data *d)
{
	for (size_t j = 0; j < d->F; j++)
		free(d->vals[j]);
	free(d->vals);
	free(d->nvals);
	free(d->rank);
}

/* Refuses what cannot be fitted: sizes the forest cannot hold, parameters
 * out of range, numbers that are not finite. */
static int check_fit_input(const double *X, const double *Y, size_t n,
			   size_t nfeat, size_t ntarget,
			   const mr_forest_params *p, mr_err *e)
{
	if (n == 0)
		return mr_errf(e, MR_EXIT_DATA, "no training rows");
	if (n > UINT32_MAX)
		return mr_errf(e, MR_EXIT_DATA,
			       "%zu training rows: at most %u are supported", n,
			       UINT32_MAX);
	if (nfeat == 0 || ntarget == 0)
		return mr_errf(e, MR_EXIT_USAGE,
			       "need at least one feature and one target");
	if (nfeat > RF_MAX_FEAT)
		return mr_errf(e, MR_EXIT_USAGE,
			       "%zu features: at most %d are supported", nfeat,
			       RF_MAX_FEAT);
	if (p->ntrees < 1 || p->min_leaf < 1 || p->max_depth < 0 ||
	    !(p->max_features > 0 && p->max_features <= 1))
		return mr_errf(e, MR_EXIT_USAGE,
			       "bad forest parameters: trees %d (>= 1), min_leaf %d (>= 1), max_depth %d (>= 0), max_features %g (in (0,1])",
			       p->ntrees, p->min_leaf, p->max_depth,
			       p->max_features);
	for (size_t i = 0; i < n * nfeat; i++)
		if (!isfinite(X[i]))
			return mr_errf(e, MR_EXIT_DATA,
				       "row %zu feature %zu: not a finite number",
				       i / nfeat, i % nfeat);
	for (size_t i = 0; i < n * ntarget; i++)
		if (!isfinite(Y[i]))
			return mr_errf(e, MR_EXIT_DATA,
				       "row %zu target %zu: not a finite number",
				       i / ntarget, i % ntarget);
	return 0;
}

/* ------------------------------------------------------------------------
 * Fitting: growing the trees on threads.
 */
typedef struct {
	const fit_data *d;
	int threads;
	tree_out *trees;
	arena *arenas; /* one per thread */
	atomic_size_t next;
	atomic_int done;
	atomic_int full;      /* an arena reached RF_MAX_NODES */
	void (*progress)(void *, int, int);
	void *progress_ctx;
	pthread_mutex_t lock; /* serialises progress calls */
} fit_shared;

static void fit_shared_init(fit_shared *fs, const fit_data *d, int threads)
{
	const mr_forest_params *p = d->p;
	*fs = (fit_shared){.d = d,
			   .threads = threads,
			   .progress = p->progress,
			   .progress_ctx = p->progress_ctx};
	fs->trees = mr_xcalloc((size_t)p->ntrees, sizeof *fs->trees);
	fs->arenas = mr_xcalloc((size_t)threads, sizeof *fs->arenas);
	atomic_init(&fs->next, 0);
	atomic_init(&fs->done, 0);
	atomic_init(&fs->full, 0);
	pthread_mutex_init(&fs->lock, NULL);
}

static void fit_shared_free(fit_shared *fs)
{
	pthread_mutex_destroy(&fs->lock);
	for (int k = 0; k < fs->threads; k++) {
		free(fs->arenas[k].nodes);
		free(fs->arenas[k].values);
	}
	free(fs->arenas);
	for (int t = 0; t < fs->d->p->ntrees; t++)
		free(fs->trees[t].inbag);
	free(fs->trees);
}

typedef struct {
	fit_shared *fs;
	size_t arena;
} fit_job;

/* Grows trees into its arena, taking the next tree not yet taken, until
 * none is left or an arena is full. */
static void *fit_worker(void *arg)
{
	fit_shared *fs = ((fit_job *)arg)->fs;
	size_t ai = ((fit_job *)arg)->arena;
	int ntrees = fs->d->p->ntrees;
	/* a thread that failed to start has its job run late, when every
	 * tree is taken: it needs no scratch */
	if (atomic_load(&fs->next) >= (size_t)ntrees)
		return NULL;
	scratch s;
	scratch_init(&s, fs->d);
	while (!atomic_load(&fs->full)) {
		size_t t = atomic_fetch_add(&fs->next, 1);
		if (t >= (size_t)ntrees)
			break;
		fs->trees[t].arena = ai;
		if (grow_tree(fs->d, &s, t, &fs->arenas[ai],
			      &fs->trees[t]) != 0) {
			atomic_store(&fs->full, 1);
			break;
		}
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

/* Grows every tree: trees go to whichever thread is free, so a thread that
 * fails to start leaves its trees to the others. -1 (e set) when an arena
 * is full. */
static int grow_trees(fit_shared *fs, mr_err *e)
{
	fit_job *jobs = mr_xcalloc((size_t)fs->threads, sizeof *jobs);
	for (int k = 0; k < fs->threads; k++)
		jobs[k] = (fit_job){fs, (size_t)k};
	rf_run_threads(fit_worker, jobs, sizeof *jobs, fs->threads);
	free(jobs);
	if (atomic_load(&fs->full))
		return mr_errf(e, MR_EXIT_FAIL,
			       "forest too large (over %zu nodes); use fewer trees or a larger min_leaf",
			       RF_MAX_NODES);
	return 0;
}

/* ------------------------------------------------------------------------
 * Fitting: the grown trees merged into one forest.
 */
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
	rf_cut_table_init(&j->ct);
	rf_cut_table_add_nodes(&j->ct, a->nodes, a->nnodes);
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
		rf_convert_nodes(j->all, a->nodes + tr->node0, tr->nnodes,
				 f->nodes + f->root[t], f->root[t],
				 (uint32_t)j->lbase[t]);
		memcpy(f->values + j->lbase[t] * T, a->values + tr->leaf0 * T,
		       tr->nleaves * T * sizeof *f->values);
	}
	return NULL;
}

/* A forest with room for nnodes nodes and nleaves leaves, its names, the
 * training ranges of its features and its parameters; no trees yet. */
static mr_forest *forest_shell(const fit_data *d, size_t nnodes,
			       size_t nleaves, const char *const *feat_names,
			       const char *const *target_names)
{
	size_t nfeat = d->F, ntarget = d->T;
	mr_forest *f = mr_xcalloc(1, sizeof *f);
	f->nfeat = nfeat;
	f->ntarget = ntarget;
	f->ntrees = (size_t)d->p->ntrees;
	f->nnodes = nnodes;
	f->nleaves = nleaves;
	f->feat_names = copy_names(feat_names, nfeat, "x");
	f->target_names = copy_names(target_names, ntarget, "y");
	f->fmin = mr_xcalloc(nfeat, sizeof *f->fmin);
	f->fmax = mr_xcalloc(nfeat, sizeof *f->fmax);
	for (size_t j = 0; j < nfeat; j++) {
		f->fmin[j] = d->vals[j][0];
		f->fmax[j] = d->vals[j][d->nvals[j] - 1];
	}
	f->root = mr_xcalloc(f->ntrees + 1, sizeof *f->root);
	f->nodes = mr_xcalloc(nnodes, sizeof *f->nodes);
	f->values = mr_xcalloc(nleaves * ntarget, sizeof *f->values);
	f->inv_ntrees = 1.0 / (double)f->ntrees;
	f->params = *d->p;
	f->params.progress = NULL;
	f->params.progress_ctx = NULL;
	f->nrows = d->n;
	return f;
}

/* The trees' nodes and values into f's flat arrays: trees' offsets, then
 * cuts and conversion, each thread on its own arena or trees: only the
 * union of the (small) cut tables is serial. */
static int merge_nodes(mr_forest *f, const fit_shared *fs, mr_err *e)
{
	int threads = fs->threads;
	size_t *lbase = mr_xcalloc(f->ntrees, sizeof *lbase);
	size_t nb = 0, lb = 0;
	for (size_t t = 0; t < f->ntrees; t++) {
		f->root[t] = (uint32_t)nb;
		lbase[t] = lb;
		nb += fs->trees[t].nnodes;
		lb += fs->trees[t].nleaves;
	}
	f->root[f->ntrees] = (uint32_t)nb;
	merge_job *mj = mr_xcalloc((size_t)threads, sizeof *mj);
	for (int k = 0; k < threads; k++)
		mj[k] = (merge_job){.f = f, .fs = fs, .lbase = lbase,
				    .k = (size_t)k, .threads = (size_t)threads};
	rf_run_threads(merge_collect, mj, sizeof *mj, threads);
	cut_table all = mj[0].ct;
	for (int k = 1; k < threads; k++) {
		rf_cut_table_merge(&all, &mj[k].ct);
		rf_cut_table_free(&mj[k].ct);
	}
	int rc = rf_cut_table_finish(f, &all, "fit", e);
	if (rc == 0) {
		for (int k = 0; k < threads; k++)
			mj[k].all = &all;
		rf_run_threads(merge_convert, mj, sizeof *mj, threads);
	}
	rf_cut_table_free(&all);
	free(mj);
	free(lbase);
	return rc;
}

/* The forest of the grown trees. NULL (e set) when it is too large for a
 * model file. */
static mr_forest *merge_trees(const fit_data *d, const fit_shared *fs,
			      const char *const *feat_names,
			      const char *const *target_names, mr_err *e)
{
	size_t nnodes = 0, nleaves = 0;
	for (int t = 0; t < d->p->ntrees; t++) {
		nnodes += fs->trees[t].nnodes;
		nleaves += fs->trees[t].nleaves;
	}
	if (nnodes > RF_MAX_NODES || nleaves > RF_MAX_NODES) {
		mr_errf(e, MR_EXIT_FAIL,
			"the forest has %zu nodes, more than the %zu a model can hold; use fewer trees or a larger --min-leaf",
			nnodes, RF_MAX_NODES);
		return NULL;
	}
	mr_forest *f = forest_shell(d, nnodes, nleaves, feat_names,
				    target_names);
	if (merge_nodes(f, fs, e) != 0) {
		mr_forest_free(f);
		return NULL;
	}
	rf_compact_build(f);
	return f;
}

/* ------------------------------------------------------------------------
 * Fitting: out-of-bag predictions.
 */
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
		rf_rank_row(f, j->X + i * F, xr);
		for (size_t t = 0; t < T; t++)
			o[t] = 0;
		for (size_t t = 0; t < f->ntrees; t++) {
			if (j->trees[t].inbag[i / 64] >> (i % 64) & 1)
				continue;
			const double *v =
				f->values +
				(size_t)rf_walk(f->nodes, f->root[t], xr) * T;
			for (size_t q = 0; q < T; q++)
				o[q] += v[q];
			cnt++;
		}
		for (size_t q = 0; q < T; q++)
			o[q] = cnt ? o[q] / (double)cnt : NAN;
	}
	return NULL;
}

/* oob[i] = the mean prediction of the trees that did not draw row i. */
static void predict_oob(const mr_forest *f, const tree_out *trees,
			const double *X, size_t n, double *oob, int threads)
{
	oob_job *oj = mr_xcalloc((size_t)threads, sizeof *oj);
	size_t per = (n + (size_t)threads - 1) / (size_t)threads;
	for (int k = 0; k < threads; k++) {
		size_t lo = (size_t)k * per, hi = lo + per;
		oj[k] = (oob_job){f, trees, X, oob, lo < n ? lo : n,
				  hi < n ? hi : n};
	}
	rf_run_threads(oob_worker, oj, sizeof *oj, threads);
	free(oj);
}

/* ------------------------------------------------------------------------
 * Fitting: all of it.
 */
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
	if (check_fit_input(X, Y, n, nfeat, ntarget, p, e) != 0)
		return NULL;
	fit_data d;
	fit_data_init(&d, X, Y, n, nfeat, ntarget, p);
	int threads = p->threads > 1 ? p->threads : 1;
	if (threads > p->ntrees)
		threads = p->ntrees;
	fit_shared fs;
	fit_shared_init(&fs, &d, threads);
	mr_forest *f = NULL;
	if (grow_trees(&fs, e) == 0)
		f = merge_trees(&d, &fs, feat_names, target_names, e);
	if (f && oob)
		predict_oob(f, fs.trees, X, n, oob, threads);
	fit_shared_free(&fs);
	fit_data_free(&d);
	return f;
}
