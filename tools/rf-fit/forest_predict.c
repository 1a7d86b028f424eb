/*
 * forest_predict.c - a forest's predictions, one row or a batch; every
 * tree's, and quantiles across trees.
 *
 * How prediction is made fast: an input row is ranked once against each
 * feature's distinct thresholds, so a walk compares integers, and nodes are
 * small (adjacent children, feature, threshold index). Walks advance in
 * lockstep to overlap their memory loads, and batches go tree-major over
 * blocks of rows so the trees being walked stay in cache.
 *
 * With AVX-512 and a forest that fits the 4-byte compact layout
 * (forest_impl.h), 16 walks are one vector: a gather loads their nodes and
 * a permute finds each lane's rank in two registers, so a step of 16 walks
 * costs about one gather. A walk's leaf row goes to a table first; the
 * values are summed from it row by row in tree order, the order the scalar
 * walk adds them in, so both give the same bits. Without either, the
 * scalar walk (16 lanes in lockstep) serves. A batch reads the first
 * levels of its trees from a table per group of trees instead of
 * gathering them (rf_top_build).
 *
 * Quantiles across trees in a tail (the robust optima's 0.9, 0.1) keep,
 * 8 rows at a time, a sorted list of the few largest (or smallest)
 * values in registers, by max and min alone; quantiles near the middle
 * select row by row.
 *
 * Prediction only reads the forest, so threads may share one; one-row
 * calls allocate nothing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#define RF_SIMD 1
#else
#define RF_SIMD 0
#endif

#include "forest_impl.h"

static inline void add_values(double *y, const double *v, size_t T)
{
	for (size_t j = 0; j < T; j++)
		y[j] += v[j];
}

/* ------------------------------------------------------------------------
 * The scalar walk: any forest, any CPU.
 */
/* A walk is a chain of dependent loads, so one walk at a time waits on
 * memory at every level. WAYS independent walks ("lanes") advance in turn
 * and overlap their loads; a lane that reaches its leaf starts the next
 * walk, so lanes stay busy whatever the depths. */
#define WAYS 16

/* One row x down every tree: lanes are WAYS trees at a time. The leaf
 * values are summed in tree order, as predict_batch sums them, so both give
 * bit-identical results. */
static void predict_one_scalar(const mr_forest *f, const double *x,
			       double *y)
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

static void predict_trees_scalar(const mr_forest *f, const double *x,
				 double *y)
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

/* ------------------------------------------------------------------------
 * Leaf tables. Walks put their leaf rows in a table L that the values are
 * then read from. Lanes are R rows x K trees (R * K = 16): lane l walks row
 * l / K of its chunk of R rows down tree l % K of its group of K trees. A
 * chunk's ranks are 32 slots, S = 32 / R for each row, so a lane finds its
 * rank among two registers' 32 with one permute. Row r's leaf in tree t is
 * L[leaf_at(sh, nch, r, t)] for a table of nch chunks.
 */
typedef struct {
	unsigned R, K, S;
	unsigned lgR, lgK; /* R = 1 << lgR, K = 1 << lgK */
	size_t C;          /* slots per chunk: 32, or nfeat for scalar walks */
} lane_shape;

static const lane_shape ONE_ROW = {1, 16, 32, 0, 4, 32};

static inline size_t leaf_at(lane_shape sh, size_t nch, size_t r, size_t t)
{
	return ((t >> sh.lgK) * nch + (r >> sh.lgR)) * 16 +
	       ((r & (sh.R - 1)) << sh.lgK) + (t & (sh.K - 1));
}

/* The shape for a batch: K trees should stay in cache together (about
 * half of a 2 MB L2), so big trees take fewer trees and more rows per
 * vector; S must hold the row's features. */
static lane_shape batch_shape(const mr_forest *f, size_t n)
{
	if (!RF_SIMD || !f->cnodes)
		return (lane_shape){1, 16, (unsigned)f->nfeat, 0, 4, f->nfeat};
	size_t tree_bytes = f->max_tree * sizeof *f->cnodes;
	unsigned K = 16;
	/* fewer trees per vector while they do not fit in cache, or while
	 * the last group has empty lanes (120 trees: 8 groups of 16 carry
	 * 8 empty lanes, 15 groups of 8 none) */
	while (K > 1 && n >= 16 && 32 / (16 / (K / 2)) >= f->nfeat &&
	       (K * tree_bytes > (1u << 20) || f->ntrees % K))
		K /= 2;
	unsigned lgK = (unsigned)__builtin_ctz(K);
	return (lane_shape){16 / K, K, 32 / (16 / K), 4 - lgK, lgK, 32};
}

/* Ranks of rows [0, n) of X in chunks (slot of row r, feature j:
 * XC[(r / R) * C + (r % R) * S + j]); unused slots are 0. */
static void rank_chunks(const mr_forest *f, lane_shape sh, const double *X,
			size_t n, uint32_t *XC)
{
	size_t nch = (n + sh.R - 1) / sh.R;
	memset(XC, 0, nch * sh.C * sizeof *XC);
	for (size_t r = 0; r < n; r++)
		rf_rank_row(f, X + r * f->nfeat,
			    XC + (r >> sh.lgR) * sh.C +
				    (r & (sh.R - 1)) * sh.S);
}

/* Group g's tree roots, lane by lane (16 per group); lanes past the last
 * tree get the padding leaf. */
static void group_roots(const mr_forest *f, lane_shape sh, size_t t0,
			size_t ntr, uint32_t *roots)
{
	size_t G = (ntr + sh.K - 1) / sh.K;
	for (size_t g = 0; g < G; g++)
		for (unsigned l = 0; l < 16; l++) {
			size_t t = t0 + g * sh.K + l % sh.K;
			roots[g * 16 + l] = t < t0 + ntr ? f->root[t] :
				(uint32_t)f->nnodes;
		}
}

#if RF_SIMD
/* Vectors walked side by side: a gather's latency is several times its
 * throughput, so one vector alone would wait. */
#define VEC 8

/* Levels of every tree whose nodes a batch reads from a table per group
 * (no gather): the nodes of each path, 2^d at level d, and the node
 * indices at the last level (walk_top reads 4 levels). */
#define TOP_LEVELS 4
#define TOP_VECS ((1u << TOP_LEVELS) - 1 + (1u << (TOP_LEVELS - 1)))

typedef struct {
	const uint32_t *xr;   /* the chunk's 32 rank slots */
	const uint32_t *root; /* the group's 16 roots */
	const uint32_t *top;  /* the group's top levels (rf_top_build) or NULL */
	uint32_t *leaf;       /* 16 leaf rows out */
} walk_task;

/* Lanes where node (internal) sends the walk right: ranks xa, xb. */
static inline __mmask16 goes_right(__m512i node, __m512i xa, __m512i xb,
				   __m512i laneoff, __m512i cmask)
{
	/* slot = feature | the lane's row offset: (a&b)|c */
	__m512i slot = _mm512_ternarylogic_epi32(
		node, _mm512_set1_epi32(31), laneoff, 0xea);
	__m512i rank = _mm512_permutex2var_epi32(xa, slot, xb);
	__m512i cut = _mm512_and_si512(_mm512_srli_epi32(node, 5), cmask);
	return _mm512_cmpgt_epu32_mask(rank, cut);
}

/* c[b], 16 lanes each, for b the path bits r1 (the most significant),
 * r2, r3: a tree of blends (1: right). */
static inline __m512i pick2(const uint32_t *c, __mmask16 r1)
{
	return _mm512_mask_blend_epi32(r1, _mm512_loadu_si512(c),
				       _mm512_loadu_si512(c + 16));
}

static inline __m512i pick4(const uint32_t *c, __mmask16 r1, __mmask16 r2)
{
	return _mm512_mask_blend_epi32(r1, pick2(c, r2), pick2(c + 32, r2));
}

static inline __m512i pick8(const uint32_t *c, __mmask16 r1, __mmask16 r2,
			    __mmask16 r3)
{
	return _mm512_mask_blend_epi32(r1, pick4(c, r2, r3),
				       pick4(c + 64, r2, r3));
}

/* The node index where task tk's 16 walks are after the top levels, read
 * from its table instead of gathered: the nodes of levels 1 to 4 (1, 2,
 * 4 and 8 vectors), then the indices of level 4's (8 vectors). */
static inline __m512i walk_top(const walk_task *tk, __m512i base,
			       __m512i xa, __m512i xb, __m512i laneoff,
			       __m512i cmask, __m128i child_shift)
{
	const uint32_t *c = tk->top;
	__m512i node = _mm512_loadu_si512(c);
	__mmask16 r1 = goes_right(node, xa, xb, laneoff, cmask);
	node = pick2(c + 16, r1);
	__mmask16 r2 = goes_right(node, xa, xb, laneoff, cmask);
	node = pick4(c + 3 * 16, r1, r2);
	__mmask16 r3 = goes_right(node, xa, xb, laneoff, cmask);
	node = pick8(c + 7 * 16, r1, r2, r3);
	__mmask16 r4 = goes_right(node, xa, xb, laneoff, cmask);
	__m512i at = pick8(c + 15 * 16, r1, r2, r3);
	__m512i next = _mm512_add_epi32(base,
					_mm512_srl_epi32(node, child_shift));
	next = _mm512_mask_add_epi32(next, r4, next, _mm512_set1_epi32(1));
	__mmask16 in = _mm512_cmpge_epi32_mask(node, _mm512_setzero_si512());
	return _mm512_mask_mov_epi32(at, in, next);
}

/* VEC tasks' walks to their leaves. A lane at its leaf keeps reloading it
 * until every lane is at one (lockstep: no branch per lane). */
static void walk_vectors(const mr_forest *f, const walk_task *tk,
			 __m512i laneoff, int fetch_values)
{
	const int *cn = (const int *)f->cnodes;
	const __m512i one = _mm512_set1_epi32(1);
	const __m512i cmask =
		_mm512_set1_epi32((int)((1u << f->cut_bits) - 1));
	const __m128i child_shift = _mm_cvtsi32_si128((int)(5 + f->cut_bits));
	__m512i cur[VEC], base[VEC], xa[VEC], xb[VEC], node[VEC];
#pragma GCC unroll 8
	for (int v = 0; v < VEC; v++) {
		base[v] = cur[v] = _mm512_loadu_si512(tk[v].root);
		xa[v] = _mm512_loadu_si512(tk[v].xr);
		xb[v] = _mm512_loadu_si512(tk[v].xr + 16);
		if (tk[v].top)
			cur[v] = walk_top(&tk[v], base[v], xa[v], xb[v],
					  laneoff, cmask, child_shift);
	}
	__mmask16 inner;
	do {
		inner = 0;
		for (int v = 0; v < VEC; v++) {
			node[v] = _mm512_i32gather_epi32(cur[v], cn, 4);
			__mmask16 right = goes_right(node[v], xa[v], xb[v],
						     laneoff, cmask);
			__m512i child = _mm512_srl_epi32(node[v], child_shift);
			__m512i next = _mm512_add_epi32(base[v], child);
			next = _mm512_mask_add_epi32(next, right, next, one);
			__mmask16 in = _mm512_cmpge_epi32_mask(
				node[v], _mm512_setzero_si512());
			cur[v] = _mm512_mask_mov_epi32(cur[v], in, next);
			inner |= in;
		}
	} while (inner);
	const __m512i row_bits = _mm512_set1_epi32((int)~RF_LEAF);
	for (int v = 0; v < VEC; v++)
		_mm512_storeu_si512(tk[v].leaf,
				    _mm512_and_si512(node[v], row_bits));
	/* in a small batch the leaves' values are read soon after, and
	 * are seldom in cache: start loading them */
	if (!fetch_values)
		return;
	for (int v = 0; v < VEC; v++)
		for (int l = 0; l < 16; l++)
			__builtin_prefetch(f->values + (size_t)tk[v].leaf[l] *
						       f->ntarget);
}

/* Walks queued tasks VEC at a time; a short last batch repeats its last
 * task (same leaves written twice). */
typedef struct {
	walk_task tk[VEC];
	int n, fetch_values;
	__m512i laneoff;
} task_queue;

static void queue_init(task_queue *q, lane_shape sh)
{
	uint32_t off[16];
	for (unsigned l = 0; l < 16; l++)
		off[l] = (l / sh.K) * sh.S;
	q->laneoff = _mm512_loadu_si512(off);
	q->n = 0;
}

static void queue_flush(const mr_forest *f, task_queue *q)
{
	if (!q->n)
		return;
	for (int v = q->n; v < VEC; v++)
		q->tk[v] = q->tk[q->n - 1];
	walk_vectors(f, q->tk, q->laneoff, q->fetch_values);
	q->n = 0;
}

static void queue_add(const mr_forest *f, task_queue *q,
		      const uint32_t *xr, const uint32_t *root,
		      const uint32_t *top, uint32_t *leaf)
{
	q->tk[q->n++] = (walk_task){xr, root, top, leaf};
	if (q->n == VEC)
		queue_flush(f, q);
}
#endif

/* The leaf table of nch chunks of ranks XC down trees [t0, t0 + ntr):
 * groups outermost, so a group's trees stay in cache while every chunk
 * walks them. roots: the groups' roots (group_roots). */
static void walk_chunks(const mr_forest *f, lane_shape sh,
			const uint32_t *XC, size_t nch, size_t t0,
			size_t ntr, const uint32_t *roots, uint32_t *L)
{
	size_t G = (ntr + sh.K - 1) / sh.K;
#if RF_SIMD
	if (f->cnodes) {
		task_queue q;
		queue_init(&q, sh);
		q.fetch_values = nch <= 64;
		/* the tables are made for the whole forest in one pass */
		int top = f->ctop && sh.K == f->ctop_K && t0 == 0 &&
			  ntr == f->ntrees;
		for (size_t g = 0; g < G; g++)
			for (size_t c = 0; c < nch; c++)
				queue_add(f, &q, XC + c * 32, roots + g * 16,
					  top ? f->ctop + g * TOP_VECS * 16 :
						NULL,
					  L + (g * nch + c) * 16);
		queue_flush(f, &q);
		return;
	}
#endif
	(void)roots;
	for (size_t g = 0; g < G; g++)
		for (size_t c = 0; c < nch; c++)
			for (unsigned l = 0; l < 16; l++) {
				size_t t = t0 + g * sh.K + l % sh.K;
				const uint32_t *xr =
					XC + c * sh.C + (l / sh.K) * sh.S;
				L[(g * nch + c) * 16 + l] = t < t0 + ntr ?
					rf_walk(f->nodes, f->root[t], xr) : 0;
			}
}

#if RF_SIMD
/* The node that path b (d bits, the first the most significant; 1: right)
 * reaches from root; a leaf on the way is where the path stays. */
static uint32_t path_node(const mr_forest *f, uint32_t root, unsigned b,
			  unsigned d)
{
	uint32_t i = root, shift = 5 + f->cut_bits;
	for (unsigned k = d; k-- > 0;) {
		uint32_t x = f->cnodes[i];
		if (!(x & RF_LEAF))
			i = root + (x >> shift) + ((b >> k) & 1);
	}
	return i;
}
#endif

void rf_top_build(mr_forest *f)
{
	free(f->ctop);
	f->ctop = NULL;
#if RF_SIMD
	if (!f->cnodes)
		return;
	lane_shape sh = batch_shape(f, SIZE_MAX);
	size_t G = (f->ntrees + sh.K - 1) / sh.K;
	uint32_t *roots = mr_xcalloc(G * 16, sizeof *roots);
	uint32_t *top = mr_xcalloc(G * TOP_VECS * 16, sizeof *top);
	group_roots(f, sh, 0, f->ntrees, roots);
	for (size_t g = 0; g < G; g++)
		for (unsigned l = 0; l < 16; l++) {
			uint32_t *tg = top + g * TOP_VECS * 16 + l;
			for (unsigned d = 0; d < TOP_LEVELS; d++)
				for (unsigned b = 0; b < (1u << d); b++) {
					uint32_t i = path_node(
						f, roots[g * 16 + l], b, d);
					tg[((1u << d) - 1 + b) * 16] =
						f->cnodes[i];
					if (d == TOP_LEVELS - 1)
						tg[((1u << TOP_LEVELS) - 1 +
						    b) * 16] = i;
				}
		}
	free(roots);
	f->ctop = top;
	f->ctop_K = sh.K;
#endif
}

/* ------------------------------------------------------------------------
 * From leaf tables to answers.
 */
#if RF_SIMD
/* Rows r0 .. r0 + 7 (r0 a multiple of 8) of tree t have their leaves at
 * L[leaf_at(r0, 0) + leaf_at(0, t) + leaf_at(i, 0)], lane i: the last
 * term is row_offsets8's lane i. */
static __m256i row_offsets8(lane_shape sh, size_t nch)
{
	uint32_t d[8];
	for (unsigned i = 0; i < 8; i++)
		d[i] = (uint32_t)leaf_at(sh, nch, i, 0);
	return _mm256_loadu_si256((const __m256i *)d);
}

/* The lanes of rows r0 .. r0 + 7 that are below n. */
static inline __mmask8 rows_mask8(size_t r0, size_t n)
{
	return n - r0 >= 8 ? 0xff : (__mmask8)((1u << (n - r0)) - 1);
}

/* The offsets in values (leaf row x ntarget) of rows r0 .. r0 + 7 in tree
 * t; lanes off m are 0. */
static inline __m256i value_rows8(const mr_forest *f, lane_shape sh,
				  const uint32_t *L, size_t nch, __m256i delta,
				  size_t r0, size_t t, __mmask8 m)
{
	__m256i at = _mm256_add_epi32(delta, _mm256_set1_epi32((int)(
		leaf_at(sh, nch, 0, t) + leaf_at(sh, nch, r0, 0))));
	__m256i row = _mm256_mmask_i32gather_epi32(_mm256_setzero_si256(), m,
						   at, (const int *)L, 4);
	if (f->ntarget > 1)
		row = _mm256_mullo_epi32(row,
					 _mm256_set1_epi32((int)f->ntarget));
	return row;
}

/* Yc[j * n8 + r] = the sum over trees, in order, of row r's values of
 * target j: 8 rows at a time, tree by tree (a lane sums its row), a gather
 * finding the rows' leaf rows, another each target's values. Yc has n8 >=
 * n rounded up to 8 for each target. */
static void sum_columns(const mr_forest *f, lane_shape sh, const uint32_t *L,
			size_t nch, size_t n, double *Yc, size_t n8)
{
	size_t T = f->ntarget;
	const __m256i delta = row_offsets8(sh, nch);
	memset(Yc, 0, T * n8 * sizeof *Yc);
	for (size_t t = 0; t < f->ntrees; t++) {
		for (size_t r0 = 0; r0 < n; r0 += 8) {
			__mmask8 m = rows_mask8(r0, n);
			__m256i row = value_rows8(f, sh, L, nch, delta, r0, t,
						  m);
			for (size_t j = 0; j < T; j++) {
				__m512d v = _mm512_mask_i32gather_pd(
					_mm512_setzero_pd(), m, row,
					f->values + j, 8);
				double *y = Yc + j * n8 + r0;
				_mm512_storeu_pd(y, _mm512_add_pd(
					_mm512_loadu_pd(y), v));
			}
		}
	}
}
#endif

/* Y[r] = mean over trees of row r's leaf values, summed in tree order;
 * trees outermost, so a tree's values are read while cached. Yc: scratch
 * of ntarget x (n rounded up to 8) doubles. */
#define PREFETCH 16
static void mean_from_leaves(const mr_forest *f, lane_shape sh,
			     const uint32_t *L, size_t nch, size_t n,
			     double *Y, double *Yc)
{
	size_t T = f->ntarget;
	const double *val = f->values;
#if RF_SIMD
	if (f->cnodes && f->nleaves * T < INT32_MAX) {
		size_t n8 = (n + 7) & ~(size_t)7;
		sum_columns(f, sh, L, nch, n, Yc, n8);
		for (size_t r = 0; r < n; r++)
			for (size_t j = 0; j < T; j++)
				Y[r * T + j] = Yc[j * n8 + r] * f->inv_ntrees;
		return;
	}
#endif
	(void)Yc;
	memset(Y, 0, n * T * sizeof *Y);
	for (size_t t = 0; t < f->ntrees; t++) {
		const uint32_t *Lt = L + leaf_at(sh, nch, 0, t);
		for (size_t c = 0, r = 0; c < nch; c++, Lt += 16) {
			/* with many leaves, loads of values miss cache:
			 * start them early */
			const uint32_t *ahead = Lt + PREFETCH * 16;
			if (c + PREFETCH < nch)
				for (unsigned i = 0; i < sh.R; i++)
					__builtin_prefetch(
						val + (size_t)ahead[i << sh.lgK] * T);
			for (unsigned i = 0; i < sh.R && r < n; i++, r++)
				add_values(Y + r * T,
					   val + (size_t)Lt[i << sh.lgK] * T,
					   T);
		}
	}
	for (size_t i = 0; i < n * T; i++)
		Y[i] *= f->inv_ntrees;
}

static inline void swap_d(double *a, double *b)
{
	double t = *a;
	*a = *b;
	*b = t;
}

/* Puts the k-th smallest of v[0, n) at v[k], smaller ones before it,
 * larger ones after (Hoare's selection, median-of-three pivots). */
static void select_kth(double *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;
	while (hi > lo + 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid] < v[lo])
			swap_d(&v[mid], &v[lo]);
		if (v[hi] < v[lo])
			swap_d(&v[hi], &v[lo]);
		if (v[hi] < v[mid])
			swap_d(&v[hi], &v[mid]);
		swap_d(&v[mid], &v[lo + 1]);
		double p = v[lo + 1];
		size_t i = lo + 1, j = hi;
		for (;;) {
			do
				i++;
			while (v[i] < p);
			do
				j--;
			while (p < v[j]);
			if (j < i)
				break;
			swap_d(&v[i], &v[j]);
		}
		v[lo + 1] = v[j];
		v[j] = p;
		if (j >= k)
			hi = j - 1;
		if (j <= k)
			lo = i;
	}
	if (hi == lo + 1 && v[hi] < v[lo])
		swap_d(&v[lo], &v[hi]);
}

/* The q-quantile of v[0, n), n >= 1 (reordered): linear between the order
 * statistics around (n - 1) q, as numpy's default and se_quantile. */
double mr_quantile(double *v, size_t n, double q)
{
	q = q < 0 ? 0 : q > 1 ? 1 : q;
	double h = (double)(n - 1) * q;
	size_t k = (size_t)h;
	if (k + 1 >= n) {
		select_kth(v, n, n - 1);
		return v[n - 1];
	}
	select_kth(v, n, k);
	double next = v[k + 1];
	for (size_t i = k + 2; i < n; i++)
		next = v[i] < next ? v[i] : next;
	return v[k] + (h - (double)k) * (next - v[k]);
}

#if RF_SIMD
/* The k-th smallest of v[0, n), v unchanged: three-way partitions around
 * a median of three, 8 values a step (compress, no branch per value); buf
 * has 3 (n + 8) doubles. */
static double kth_simd(const double *v, size_t n, size_t k, double *buf)
{
	double *b[3] = {buf, buf + n + 8, buf + 2 * (n + 8)};
	const double *src = v;
	int si = -1;
	while (n > 16) {
		double x0 = src[0], x1 = src[n / 2], x2 = src[n - 1];
		double p = x0 < x1 ? (x1 < x2 ? x1 : x0 < x2 ? x2 : x0) :
				     (x0 < x2 ? x0 : x1 < x2 ? x2 : x1);
		int li = si == 0 ? 1 : 0, gi = si == 2 ? 1 : 2;
		double *lt = b[li], *gt = b[gi];
		const __m512d vp = _mm512_set1_pd(p);
		size_t nl = 0, ng = 0;
		for (size_t i = 0; i < n; i += 8) {
			__mmask8 live = n - i >= 8 ? 0xff :
				(__mmask8)((1u << (n - i)) - 1);
			__m512d x = _mm512_maskz_loadu_pd(live, src + i);
			__mmask8 ml = _mm512_mask_cmp_pd_mask(live, x, vp,
							      _CMP_LT_OQ);
			__mmask8 mg = _mm512_mask_cmp_pd_mask(live, x, vp,
							      _CMP_GT_OQ);
			_mm512_storeu_pd(lt + nl,
					 _mm512_maskz_compress_pd(ml, x));
			_mm512_storeu_pd(gt + ng,
					 _mm512_maskz_compress_pd(mg, x));
			nl += (size_t)__builtin_popcount(ml);
			ng += (size_t)__builtin_popcount(mg);
		}
		if (k < nl) {
			src = lt, n = nl, si = li;
		} else if (k < n - ng) {
			return p;
		} else {
			k -= n - ng;
			src = gt, n = ng, si = gi;
		}
	}
	double w[16];
	memcpy(w, src, n * sizeof *w);
	select_kth(w, n, k);
	return w[k];
}

/* The q-quantile of v[0, n) (as mr_quantile, v unchanged): the k-th
 * smallest, then the next one up from one pass over v. */
static double quantile_simd(const double *v, size_t n, double q, double *buf)
{
	q = q < 0 ? 0 : q > 1 ? 1 : q;
	double h = (double)(n - 1) * q;
	size_t k = (size_t)h;
	if (k >= n - 1)
		k = n - 1;
	double a = kth_simd(v, n, k, buf);
	if (k + 1 >= n)
		return a;
	/* the (k+1)-th is a again when more than k + 1 values are <= a */
	const __m512d va = _mm512_set1_pd(a);
	__m512d up = _mm512_set1_pd(INFINITY);
	size_t le = 0;
	for (size_t i = 0; i < n; i += 8) {
		__mmask8 live = n - i >= 8 ? 0xff :
			(__mmask8)((1u << (n - i)) - 1);
		__m512d x = _mm512_maskz_loadu_pd(live, v + i);
		le += (size_t)__builtin_popcount(
			_mm512_mask_cmp_pd_mask(live, x, va, _CMP_LE_OQ));
		up = _mm512_mask_min_pd(up, _mm512_mask_cmp_pd_mask(
			live, x, va, _CMP_GT_OQ), x, up);
	}
	double next = le > k + 1 ? a : _mm512_reduce_min_pd(up);
	return a + (h - (double)k) * (next - a);
}
#endif

/* How quantile_from_leaves finds a target's quantile. h = (ntrees - 1) q
 * lies between the order statistics v_(k) and v_(k + 1) (from 0, in
 * ascending order). */
typedef struct {
	enum { Q_MEAN, Q_ROWS, Q_COLUMNS } how;
	size_t k;
	double frac;  /* h - k */
	unsigned m;   /* Q_COLUMNS: places of the list (see quantile_columns) */
	int low;      /* Q_COLUMNS: the list keeps the smallest values */
} q_plan;

/* Longest list quantile_columns keeps (registers: one per place). */
#define TOP_MAX 24

static q_plan plan_quantile(const mr_forest *f, double q)
{
	size_t NT = f->ntrees;
	q_plan p = {Q_MEAN, 0, 0, 0, 0};
	if (isnan(q))
		return p;
	q = q < 0 ? 0 : q > 1 ? 1 : q;
	double h = (double)(NT - 1) * q;
	p.k = (size_t)h;
	p.frac = h - (double)p.k;
	p.how = Q_ROWS;
	/* q = 1 returns v_(k) itself; the rows' way keeps its zero's sign */
	if (!RF_SIMD || p.k + 1 >= NT || f->nleaves * f->ntarget >= INT32_MAX)
		return p;
	size_t top = NT - p.k, bottom = p.k + 2;
	p.low = bottom < top;
	size_t m = p.low ? bottom : top;
	if (m <= TOP_MAX) {
		p.how = Q_COLUMNS;
		p.m = (unsigned)m;
	}
	return p;
}

#if RF_SIMD
/* Loads ahead that top_list starts: values at val + rows[0, n), spread
 * over its trees so they do not fill the load buffer all at once. */
typedef struct {
	const double *val;
	const uint32_t *rows;
	size_t n, last; /* last: ntarget - 1 */
} prefetches;

/* The M largest of v[8 t + lane] over trees t, for 8 rows at once (a lane
 * per row), sign flipped first (sign: 0 or the sign bit), into
 * top[8 i + lane], i = 0 .. M - 1, descending. A sorted list in
 * registers: each tree's value goes down it by a max and a min per place,
 * with no branch. */
static inline __attribute__((always_inline)) void
top_list(const double *v, size_t NT, __m512i sign, unsigned M, double *top,
	 prefetches pf)
{
	__m512d list[TOP_MAX];
	for (unsigned i = 0; i < M; i++)
		list[i] = _mm512_set1_pd(-INFINITY);
	size_t per = (pf.n + NT - 1) / NT, done = 0;
	for (size_t t = 0; t < NT; t++) {
		for (size_t u = 0; u < per && done < pf.n; u++, done++) {
			/* a leaf's values may straddle two lines */
			__builtin_prefetch(pf.val + pf.rows[done]);
			__builtin_prefetch(pf.val + pf.rows[done] + pf.last);
		}
		__m512d x = _mm512_castsi512_pd(_mm512_xor_si512(
			_mm512_loadu_si512(v + 8 * t), sign));
#pragma GCC unroll 24
		for (unsigned i = 0; i < M; i++) {
			__m512d hi = _mm512_max_pd(list[i], x);
			x = _mm512_min_pd(list[i], x);
			list[i] = hi;
		}
	}
	for (unsigned i = 0; i < M; i++)
		_mm512_storeu_pd(top + 8 * i, list[i]);
}

/* top_list with M a constant, so the list stays in registers. */
static void top_list_any(const double *v, size_t NT, __m512i sign,
			 unsigned M, double *top, prefetches pf)
{
	switch (M) {
#define TOP_CASE(c) \
	case c: top_list(v, NT, sign, c, top, pf); break;
	TOP_CASE(2) TOP_CASE(3) TOP_CASE(4) TOP_CASE(5) TOP_CASE(6)
	TOP_CASE(7) TOP_CASE(8) TOP_CASE(9) TOP_CASE(10) TOP_CASE(11)
	TOP_CASE(12) TOP_CASE(13) TOP_CASE(14) TOP_CASE(15) TOP_CASE(16)
	TOP_CASE(17) TOP_CASE(18) TOP_CASE(19) TOP_CASE(20) TOP_CASE(21)
	TOP_CASE(22) TOP_CASE(23) TOP_CASE(24)
#undef TOP_CASE
	}
}

/* rows[8 t + lane] = value_rows8 of rows r0 .. r0 + 7, every tree t. */
static void chunk_rows(const mr_forest *f, lane_shape sh, const uint32_t *L,
		       size_t nch, __m256i delta, size_t r0, size_t n,
		       uint32_t *rows)
{
	__mmask8 m = rows_mask8(r0, n);
	for (size_t t = 0; t < f->ntrees; t++)
		_mm256_storeu_si256((__m256i *)(rows + 8 * t),
				    value_rows8(f, sh, L, nch, delta, r0, t,
						m));
}

/* Y[r, j] for the targets planned Q_COLUMNS, 8 rows at a time: the list
 * of the m = ntrees - k largest values holds v_(k) and v_(k + 1) at its
 * end; with low, the list of the m = k + 2 largest of -v holds -v_(k + 1)
 * and -v_(k) at its end. Selection by max and min finds the same values
 * as sorting, so the answer has the same bits as mr_quantile's. The
 * values of the 8 rows are gathered first, every target from a leaf's
 * line at once, and with values beyond cache the next 8 rows' are
 * fetched while the lists run. rows: scratch of 16 ntrees; V: of 8
 * ntrees ntarget. */
static void quantile_columns(const mr_forest *f, lane_shape sh,
			     const uint32_t *L, size_t nch, size_t n,
			     const q_plan *plan, double *Y, uint32_t *rows,
			     double *V)
{
	size_t T = f->ntarget, NT = f->ntrees, ncol = 0;
	for (size_t j = 0; j < T; j++)
		ncol += plan[j].how == Q_COLUMNS;
	int big = f->nleaves * T * sizeof *f->values > (4u << 20);
	const __m256i delta = row_offsets8(sh, nch);
	uint32_t *cur = rows, *next = rows + 8 * NT;
	double top[8 * TOP_MAX];
	if (n)
		chunk_rows(f, sh, L, nch, delta, 0, n, cur);
	for (size_t r0 = 0; r0 < n; r0 += 8) {
		__mmask8 m = rows_mask8(r0, n);
		for (size_t t = 0; t < NT; t++) {
			__m256i row = _mm256_loadu_si256(
				(const __m256i *)(cur + 8 * t));
			for (size_t j = 0; j < T; j++)
				if (plan[j].how == Q_COLUMNS)
					_mm512_storeu_pd(
						V + (j * NT + t) * 8,
						_mm512_mask_i32gather_pd(
							_mm512_setzero_pd(), m,
							row, f->values + j, 8));
		}
		prefetches pf = {f->values, next, 0, T - 1};
		if (r0 + 8 < n) {
			chunk_rows(f, sh, L, nch, delta, r0 + 8, n, next);
			pf.n = big ? 8 * NT : 0;
		}
		size_t share = (pf.n + ncol - 1) / ncol;
		for (size_t j = 0; j < T; j++) {
			const q_plan *p = &plan[j];
			if (p->how != Q_COLUMNS)
				continue;
			prefetches mine = pf;
			mine.n = share < pf.n ? share : pf.n;
			pf.rows += mine.n;
			pf.n -= mine.n;
			__m512i sign = _mm512_set1_epi64(
				p->low ? INT64_MIN : 0);
			top_list_any(V + j * NT * 8, NT, sign, p->m, top, mine);
			const double *end = top + 8 * (p->m - 2);
			for (size_t i = 0; i < 8 && r0 + i < n; i++) {
				double a = p->low ? -end[i] : end[8 + i];
				double b = p->low ? -end[8 + i] : end[i];
				Y[(r0 + i) * T + j] = a + p->frac * (b - a);
			}
		}
		uint32_t *sw = cur;
		cur = next;
		next = sw;
	}
}
#endif

/* Row r's leaf rows in tree order into leaf[0, ntrees). */
static void row_leaves(const mr_forest *f, lane_shape sh, const uint32_t *L,
		       size_t nch, size_t r, uint32_t *leaf)
{
	for (size_t t0 = 0; t0 < f->ntrees; t0 += sh.K) {
		const uint32_t *p = L + leaf_at(sh, nch, r, t0);
		size_t kn = f->ntrees - t0 < sh.K ? f->ntrees - t0 : sh.K;
		memcpy(leaf + t0, p, kn * sizeof *leaf);
	}
}

/* col[j * W + t] = value of target j at leaf[t], every tree t. */
static void row_values(const mr_forest *f, const uint32_t *leaf, double *col,
		       size_t W)
{
	size_t T = f->ntarget, NT = f->ntrees, t = 0;
#if RF_SIMD
	if (f->nleaves * T < INT32_MAX) {
		const __m256i vT = _mm256_set1_epi32((int)T);
		for (; t + 8 <= NT; t += 8) {
			__m256i row = _mm256_loadu_si256(
				(const __m256i *)(leaf + t));
			if (T > 1)
				row = _mm256_mullo_epi32(row, vT);
			for (size_t j = 0; j < T; j++)
				_mm512_storeu_pd(col + j * W + t,
						 _mm512_i32gather_pd(
							 row, f->values + j, 8));
		}
	}
#endif
	for (; t < NT; t++) {
		const double *v = f->values + (size_t)leaf[t] * T;
		for (size_t j = 0; j < T; j++)
			col[j * W + t] = v[j];
	}
}

/* What quantile_from_leaves needs besides the leaves: each target's plan,
 * and scratch. */
typedef struct {
	q_plan *plan;   /* ntarget */
	int any_mean, any_rows, any_columns;
	double *tmp;    /* rows' way: (ntarget + 4) (ntrees + 8) */
	uint32_t *rows; /* columns' way: 16 ntrees */
	double *V;      /* columns' way: 8 ntrees ntarget */
} q_work;

static void q_work_init(const mr_forest *f, const double *q, q_work *w)
{
	memset(w, 0, sizeof *w);
	w->plan = mr_xcalloc(f->ntarget, sizeof *w->plan);
	for (size_t j = 0; j < f->ntarget; j++) {
		w->plan[j] = plan_quantile(f, q[j]);
		w->any_mean |= w->plan[j].how == Q_MEAN;
		w->any_rows |= w->plan[j].how == Q_ROWS;
		w->any_columns |= w->plan[j].how == Q_COLUMNS;
	}
	if (w->any_rows)
		w->tmp = mr_xrealloc(NULL, (f->ntarget + 4) * (f->ntrees + 8),
				     sizeof *w->tmp);
	if (w->any_columns) {
		w->rows = mr_xrealloc(NULL, 16 * f->ntrees, sizeof *w->rows);
		w->V = mr_xrealloc(NULL, 8 * f->ntrees * f->ntarget,
				   sizeof *w->V);
	}
}

static void q_work_free(q_work *w)
{
	free(w->plan);
	free(w->tmp);
	free(w->rows);
	free(w->V);
}

/* Y[r, j] for the targets planned Q_ROWS: row by row, each leaf's values
 * read once for every target, the next row's leaves fetched early (with
 * many leaves they are not in cache). */
static void quantile_rows(const mr_forest *f, lane_shape sh,
			  const uint32_t *L, size_t nch, size_t n,
			  const double *q, const q_plan *plan, double *Y,
			  double *tmp)
{
	size_t T = f->ntarget, NT = f->ntrees, W = NT + 8;
	uint32_t *leaf = (uint32_t *)(tmp + (T + 3) * W);
	uint32_t *next = leaf + W;
	/* values beyond L2: fetch the next row's early */
	int big = f->nleaves * T * sizeof *f->values > (4u << 20);
	if (n)
		row_leaves(f, sh, L, nch, 0, next);
	for (size_t r = 0; r < n; r++) {
		uint32_t *sw = leaf;
		leaf = next;
		next = sw;
		if (r + 1 < n) {
			row_leaves(f, sh, L, nch, r + 1, next);
			if (big)
				for (size_t t = 0; t < NT; t++)
					__builtin_prefetch(f->values +
							   (size_t)next[t] * T);
		}
		row_values(f, leaf, tmp, W);
		for (size_t j = 0; j < T; j++) {
			if (plan[j].how != Q_ROWS)
				continue;
#if RF_SIMD
			Y[r * T + j] = quantile_simd(tmp + j * W, NT, q[j],
						     tmp + T * W);
#else
			Y[r * T + j] = mr_quantile(tmp + j * W, NT, q[j]);
#endif
		}
	}
}

/* Y[r, j] = the q[j]-quantile of row r's trees' values of target j, or
 * their mean where q[j] is NaN; each target the way its plan says. */
static void quantile_from_leaves(const mr_forest *f, lane_shape sh,
				 const uint32_t *L, size_t nch, size_t n,
				 const double *q, double *Y, double *Yc,
				 const q_work *w)
{
	if (w->any_mean)
		mean_from_leaves(f, sh, L, nch, n, Y, Yc);
#if RF_SIMD
	if (w->any_columns)
		quantile_columns(f, sh, L, nch, n, w->plan, Y, w->rows,
				 w->V);
#endif
	if (w->any_rows)
		quantile_rows(f, sh, L, nch, n, q, w->plan, Y, w->tmp);
}

/* ------------------------------------------------------------------------
 * One row.
 */
/* Trees per pass of a one-row call: its tables live on the stack. */
#define SLICE 256

/* Row x's leaf rows in trees [t0, t0 + ntr), ntr <= SLICE, into L. */
static void one_row_leaves(const mr_forest *f, const uint32_t *xr,
			   size_t t0, size_t ntr, uint32_t *L)
{
	uint32_t roots[SLICE + 16];
	group_roots(f, ONE_ROW, t0, ntr, roots);
	walk_chunks(f, ONE_ROW, xr, 1, t0, ntr, roots, L);
}

void mr_forest_predict(const mr_forest *f, const double *x, double *y)
{
	if (!RF_SIMD || !f->cnodes) {
		predict_one_scalar(f, x, y);
		return;
	}
	size_t T = f->ntarget;
	uint32_t xr[32] = {0}, L[SLICE + 16];
	rf_rank_row(f, x, xr);
	for (size_t j = 0; j < T; j++)
		y[j] = 0;
	for (size_t t0 = 0; t0 < f->ntrees; t0 += SLICE) {
		size_t ntr = f->ntrees - t0 < SLICE ? f->ntrees - t0 : SLICE;
		one_row_leaves(f, xr, t0, ntr, L);
		for (size_t t = 0; t < ntr; t++)
			add_values(y, f->values + (size_t)L[t] * T, T);
	}
	for (size_t j = 0; j < T; j++)
		y[j] *= f->inv_ntrees;
}

void mr_forest_predict_trees(const mr_forest *f, const double *x, double *y)
{
	if (!RF_SIMD || !f->cnodes) {
		predict_trees_scalar(f, x, y);
		return;
	}
	size_t T = f->ntarget;
	uint32_t xr[32] = {0}, L[SLICE + 16];
	rf_rank_row(f, x, xr);
	for (size_t t0 = 0; t0 < f->ntrees; t0 += SLICE) {
		size_t ntr = f->ntrees - t0 < SLICE ? f->ntrees - t0 : SLICE;
		one_row_leaves(f, xr, t0, ntr, L);
		for (size_t t = 0; t < ntr; t++)
			memcpy(y + (t0 + t) * T, f->values + (size_t)L[t] * T,
			       T * sizeof *y);
	}
}

/* ------------------------------------------------------------------------
 * Batches.
 */
/* Rows per block: more rows read each tree's values while they are
 * cached (measured best at 4096 on the published traces; the leaf table
 * is then 16 KB per tree). */
#define LEAF_BLOCK 4096

/* Rows [lo, hi) through leaf tables, block by block: their mean, or their
 * quantiles when q is not NULL. */
static void predict_rows_leaves(const mr_forest *f, const double *X,
				size_t lo, size_t hi, const double *q,
				double *Y)
{
	size_t F = f->nfeat, T = f->ntarget;
	lane_shape sh = batch_shape(f, hi - lo);
	size_t rows = hi - lo < LEAF_BLOCK ? hi - lo : LEAF_BLOCK;
	size_t nch = (rows + sh.R - 1) / sh.R;
	size_t G = (f->ntrees + sh.K - 1) / sh.K;
	/* scratch, all of it written before it is read */
	uint32_t *XC = mr_xrealloc(NULL, nch * sh.C, sizeof *XC);
	uint32_t *roots = mr_xrealloc(NULL, G * 16, sizeof *roots);
	uint32_t *L = mr_xrealloc(NULL, G * nch * 16, sizeof *L);
	double *Yc = mr_xrealloc(NULL, T * (rows + 7), sizeof *Yc);
	q_work w;
	if (q)
		q_work_init(f, q, &w);
	group_roots(f, sh, 0, f->ntrees, roots);
	for (size_t b = lo; b < hi; b += LEAF_BLOCK) {
		size_t n = hi - b < LEAF_BLOCK ? hi - b : LEAF_BLOCK;
		size_t c = (n + sh.R - 1) / sh.R;
		rank_chunks(f, sh, X + b * F, n, XC);
		walk_chunks(f, sh, XC, c, 0, f->ntrees, roots, L);
		if (q)
			quantile_from_leaves(f, sh, L, c, n, q, Y + b * T, Yc,
					     &w);
		else
			mean_from_leaves(f, sh, L, c, n, Y + b * T, Yc);
	}
	free(XC);
	free(roots);
	free(L);
	free(Yc);
	if (q)
		q_work_free(&w);
}

typedef struct {
	const mr_forest *f;
	const double *X, *q;
	double *Y;
	size_t lo, hi;
} pred_job;

static void *pred_worker(void *arg)
{
	pred_job *j = arg;
	if (j->q || (RF_SIMD && j->f->cnodes)) {
		predict_rows_leaves(j->f, j->X, j->lo, j->hi, j->q, j->Y);
		return NULL;
	}
	size_t rows = j->hi - j->lo < PRED_BLOCK ? j->hi - j->lo : PRED_BLOCK;
	uint32_t *XR = mr_xcalloc(rows * j->f->nfeat, sizeof *XR);
	predict_rows(j->f, j->X, j->lo, j->hi, j->Y, XR);
	free(XR);
	return NULL;
}

static void predict_jobs(const mr_forest *f, const double *X, size_t n,
			 const double *q, double *Y, int threads)
{
	/* below a few hundred rows per thread, threads cost more than
	 * they give */
	if (threads > 1 && (size_t)threads > n / 512)
		threads = (int)(n / 512);
	if (threads <= 1) {
		pred_job job = {f, X, q, Y, 0, n};
		pred_worker(&job);
		return;
	}
	pred_job *jobs = mr_xcalloc((size_t)threads, sizeof *jobs);
	size_t per = (n + (size_t)threads - 1) / (size_t)threads;
	for (int k = 0; k < threads; k++) {
		size_t lo = (size_t)k * per, hi = lo + per;
		jobs[k] = (pred_job){f, X, q, Y, lo < n ? lo : n,
				     hi < n ? hi : n};
	}
	rf_run_threads(pred_worker, jobs, sizeof *jobs, threads);
	free(jobs);
}

void mr_forest_predict_batch(const mr_forest *f, const double *X, size_t n,
			     double *Y, int threads)
{
	if (n)
		predict_jobs(f, X, n, NULL, Y, threads);
}

void mr_forest_predict_quantile_batch(const mr_forest *f, const double *X,
				      size_t n, const double *q, double *Y,
				      int threads)
{
	if (n)
		predict_jobs(f, X, n, q, Y, threads);
}
