/*
 * forest.c - random-forest regression (CART trees on bootstrap samples,
 * multi-output, squared error): the forest's accessors, and what fitting
 * and reading a model file share: cut tables and threads. Fitting is in
 * forest_fit.c, prediction in forest_predict.c, the model file in
 * forest_file.c; the layout they share is in forest_impl.h.
 *
 * What the forest deliberately does not do: missing values, categorical
 * splits, sample weights from the caller, criteria other than squared error.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "forest_impl.h"

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
	free(f->cnodes);
	free(f->ctop);
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

/* ------------------------------------------------------------------------
 * Cut tables (see forest_impl.h).
 */
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

void rf_cut_table_init(cut_table *c)
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

void rf_cut_table_add_nodes(cut_table *c, const grow_node *gn, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(gn[i].child & RF_LEAF))
			cut_table_add(c, gn[i].feat, thr_bits(gn[i].thr));
}

void rf_cut_table_merge(cut_table *dst, const cut_table *src)
{
	for (size_t q = 0; q < src->cap; q++)
		if (src->tab[q].feat != UINT32_MAX)
			cut_table_add(dst, src->tab[q].feat, src->tab[q].bits);
}

void rf_cut_table_free(cut_table *c)
{
	free(c->tab);
}

int rf_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int rf_cut_table_finish(mr_forest *f, cut_table *c, const char *name,
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
		qsort(v, m, sizeof *v, rf_cmp_double);
		for (size_t q = 0; q < m; q++)
			cut_find(c, (uint32_t)j, thr_bits(v[q]))->idx = (uint32_t)q;
	}
	return 0;
}

void rf_convert_nodes(const cut_table *c, const grow_node *src, size_t n,
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
 * The compact layout (see forest_impl.h).
 */
/* The order of tree t's nodes in the compact layout: pos[i] for its node
 * i. A walk loads one node per level, and in the order trees are grown
 * (depth first) the nodes of a path's middle levels lie far apart. Here
 * the sibling pairs of each node's next CLUSTER_LEVELS levels come
 * together (14 nodes: a cache line), then each node of the last of
 * those levels starts a cluster of its own, so a walk touches about a
 * line every CLUSTER_LEVELS levels. Sibling pairs stay adjacent, the root
 * first; nodes no walk reaches go last. Returns -1 when a node has two
 * parents (then the forest keeps no compact layout). stack: scratch of
 * the tree's nodes. */
#define CLUSTER_LEVELS 3
static int cluster_order(const mr_forest *f, size_t t, uint32_t *pos,
			 uint32_t *stack)
{
	uint32_t r0 = f->root[t], r1 = f->root[t + 1], next = r0, top = 0;
	for (uint32_t i = r0; i < r1; i++)
		pos[i] = UINT32_MAX;
	pos[r0] = next++;
	stack[top++] = r0;
	while (top) {
		uint32_t front[1u << CLUSTER_LEVELS], nfront = 1;
		front[0] = stack[--top];
		for (unsigned d = 0; d < CLUSTER_LEVELS; d++) {
			uint32_t nf[1u << CLUSTER_LEVELS], k = 0;
			for (uint32_t q = 0; q < nfront; q++) {
				rf_node nd = f->nodes[front[q]];
				if (nd.child & RF_LEAF)
					continue;
				if (pos[nd.child] != UINT32_MAX ||
				    pos[nd.child + 1] != UINT32_MAX)
					return -1;
				pos[nd.child] = next++;
				pos[nd.child + 1] = next++;
				nf[k++] = nd.child;
				nf[k++] = nd.child + 1;
			}
			memcpy(front, nf, k * sizeof *nf);
			nfront = k;
		}
		/* last pushed, first clustered: deeper clusters follow
		 * their parents' */
		for (uint32_t q = nfront; q-- > 0;)
			if (!(f->nodes[front[q]].child & RF_LEAF))
				stack[top++] = front[q];
	}
	for (uint32_t i = r0; i < r1; i++)
		if (pos[i] == UINT32_MAX)
			pos[i] = next++;
	return 0;
}

/* cn[pos[i]] = tree t's node i in the compact layout; -1 when a child
 * leaves the tree (loaded trees are checked, but the walk must stay in
 * bounds) or a node has two parents. */
static int compact_tree(const mr_forest *f, size_t t, uint32_t cb,
			uint32_t *cn, uint32_t *pos, uint32_t *stack)
{
	for (uint32_t i = f->root[t]; i < f->root[t + 1]; i++) {
		rf_node nd = f->nodes[i];
		if (!(nd.child & RF_LEAF) &&
		    (nd.child < f->root[t] || nd.child + 1 >= f->root[t + 1]))
			return -1;
	}
	if (cluster_order(f, t, pos, stack) != 0)
		return -1;
	for (uint32_t i = f->root[t]; i < f->root[t + 1]; i++) {
		rf_node nd = f->nodes[i];
		if (nd.child & RF_LEAF) {
			cn[pos[i]] = nd.child;
			continue;
		}
		uint32_t rel = pos[nd.child] - f->root[t];
		cn[pos[i]] = (nd.meta & 0xff) | (nd.meta >> 8) << 5 |
			     rel << (5 + cb);
	}
	return 0;
}

void rf_compact_build(mr_forest *f)
{
	free(f->cnodes);
	free(f->ctop);
	f->cnodes = NULL;
	f->ctop = NULL;
	f->max_tree = 0;
	uint32_t maxcut = 1;
	for (size_t j = 0; j < f->nfeat; j++)
		if (f->cut0[j + 1] - f->cut0[j] > maxcut)
			maxcut = f->cut0[j + 1] - f->cut0[j];
	uint32_t cb = 1;
	while (cb < 26 && (maxcut - 1) >> cb)
		cb++;
	for (size_t t = 0; t < f->ntrees; t++)
		if (f->root[t + 1] - f->root[t] > f->max_tree)
			f->max_tree = f->root[t + 1] - f->root[t];
	if (f->nfeat > RF_CFEAT || cb >= 26 ||
	    f->max_tree > (1u << (26 - cb)) || f->nnodes >= INT32_MAX)
		return;
	uint32_t *cn = mr_xcalloc(f->nnodes + 1, sizeof *cn);
	uint32_t *pos = mr_xcalloc(f->nnodes, sizeof *pos);
	uint32_t *stack = mr_xcalloc(f->max_tree, sizeof *stack);
	int ok = 1;
	for (size_t t = 0; ok && t < f->ntrees; t++)
		ok = compact_tree(f, t, cb, cn, pos, stack) == 0;
	free(pos);
	free(stack);
	if (!ok) {
		free(cn);
		return;
	}
	cn[f->nnodes] = RF_LEAF;
	f->cnodes = cn;
	f->cut_bits = cb;
	rf_top_build(f);
}

/* ------------------------------------------------------------------------
 * Threads.
 */
void rf_run_threads(void *(*fn)(void *), void *jobs, size_t jobsize,
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
