/*
 * forest_file.c - a forest's model file: written from the forest in memory
 * (streamed, or into one buffer), and read back with every index checked.
 *
 * The file is a msgpack map (schema in the README):
 *   format "rf-forest", version 1, features [str], targets [str],
 *   feature_min / feature_max bin f64[nfeat], ntrees, nnodes, nleaves,
 *   tree_offset bin i32[ntrees+1] (tree t = nodes [off[t], off[t+1]), root
 *   first), feature bin i32[nnodes] (-1: leaf), threshold bin f64[nnodes]
 *   (left when x <= threshold), left / right bin i32[nnodes] (global node
 *   indices; for a leaf left is its row in value and right is -1),
 *   value bin f64[nleaves x ntargets], params {trees, min_leaf, max_depth,
 *   max_features, bootstrap, seed}, train_rows.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack/fbuffer.h>

#include "forest_impl.h"

#define RF_FORMAT "rf-forest"
#define RF_VERSION 1

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

/* A growing memory buffer for the packer; mr_xrealloc handles running out
 * of memory, so a write never fails. */
typedef struct {
	char *data;
	size_t size, cap;
} pack_buf;

static int pack_buf_write(void *data, const char *buf, size_t len)
{
	pack_buf *b = data;
	if (b->size + len > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 8192;
		while (nc < b->size + len)
			nc *= 2;
		b->data = mr_xrealloc(b->data, nc, 1);
		b->cap = nc;
	}
	memcpy(b->data + b->size, buf, len);
	b->size += len;
	return 0;
}

/* The model as one malloc'd msgpack buffer (what save writes). */
char *mr_forest_to_buffer(const mr_forest *f, size_t *len)
{
	pack_buf b = {0};
	msgpack_packer pk;
	msgpack_packer_init(&pk, &b, pack_buf_write);
	pack_forest(&pk, f);
	*len = b.size;
	return b.data;
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

/* The header, names, sizes and feature ranges of the model in root. */
static int read_shape(const msgpack_object *root, const char *name,
		      mr_forest *f, mr_err *e)
{
	int64_t v;
	if (mr_mp_check_header(root, name, RF_FORMAT, RF_VERSION, e) != 0)
		return -1;
	if (mr_mp_strs(root, "features", name, &f->feat_names, &f->nfeat,
		       e) != 0 ||
	    mr_mp_strs(root, "targets", name, &f->target_names, &f->ntarget,
		       e) != 0)
		return -1;
	if (f->nfeat == 0 || f->ntarget == 0)
		return mr_errf(e, MR_EXIT_DATA, "%s: %s", name,
			       f->nfeat ? "no targets" : "no features");
	if (f->nfeat > RF_MAX_FEAT)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s: %zu features, at most %d are supported",
			       name, f->nfeat, RF_MAX_FEAT);
	if (!(f->fmin = get_f64s(root, "feature_min", name, f->nfeat, e)) ||
	    !(f->fmax = get_f64s(root, "feature_max", name, f->nfeat, e)))
		return -1;
	if (mr_mp_i64(root, "ntrees", name, 1, INT32_MAX, &v, e) != 0)
		return -1;
	f->ntrees = (size_t)v;
	if (mr_mp_i64(root, "nnodes", name, 1, INT32_MAX, &v, e) != 0)
		return -1;
	f->nnodes = (size_t)v;
	if (mr_mp_i64(root, "nleaves", name, 1, INT32_MAX, &v, e) != 0)
		return -1;
	f->nleaves = (size_t)v;
	if (f->nleaves > SIZE_MAX / 8 / f->ntarget)
		return mr_errf(e, MR_EXIT_DATA, "%s: value table too large",
			       name);
	return 0;
}

/* The file's per-node arrays and tree offsets, as read. */
typedef struct {
	int32_t *off, *feat, *left, *right;
	double *thr;
} file_nodes;

static void file_nodes_free(file_nodes *fn)
{
	free(fn->off);
	free(fn->feat);
	free(fn->left);
	free(fn->right);
	free(fn->thr);
}

/* The node arrays into fn and the leaf values into f, with the checks that
 * need no walk of the trees: finite values, tree offsets in order, as many
 * leaves as nleaves says. */
static int read_nodes(const msgpack_object *root, const char *name,
		      mr_forest *f, file_nodes *fn, mr_err *e)
{
	/* Each size must match its bin; the bins are in the buffer, so every
	 * allocation below is bounded by the file's size. */
	if (!(fn->off = get_i32s(root, "tree_offset", name, f->ntrees + 1, e)) ||
	    !(fn->feat = get_i32s(root, "feature", name, f->nnodes, e)) ||
	    !(fn->thr = get_f64s(root, "threshold", name, f->nnodes, e)) ||
	    !(fn->left = get_i32s(root, "left", name, f->nnodes, e)) ||
	    !(fn->right = get_i32s(root, "right", name, f->nnodes, e)) ||
	    !(f->values = get_f64s(root, "value", name,
				   f->nleaves * f->ntarget, e)))
		return -1;
	for (size_t i = 0; i < f->nleaves * f->ntarget; i++)
		if (!isfinite(f->values[i]))
			return mr_errf(e, MR_EXIT_DATA,
				       "%s: value %zu is not a finite number",
				       name, i);
	const int32_t *off = fn->off;
	if (off[0] != 0 || (size_t)off[f->ntrees] != f->nnodes)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s: tree_offset must run from 0 to nnodes (%zu), found %d..%d",
			       name, f->nnodes, off[0], off[f->ntrees]);
	for (size_t t = 0; t < f->ntrees; t++)
		if (off[t + 1] <= off[t])
			return mr_errf(e, MR_EXIT_DATA,
				       "%s: tree_offset: tree %zu is empty or out of order (%d..%d)",
				       name, t, off[t], off[t + 1]);
	size_t leaves = 0;
	for (size_t i = 0; i < f->nnodes; i++)
		leaves += fn->feat[i] < 0;
	if (leaves != f->nleaves)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s: nleaves is %zu but the trees have %zu leaves",
			       name, f->nleaves, leaves);
	return 0;
}

/* f's trees from the file's arrays: each checked and laid out by
 * load_tree, then their thresholds turned into cuts. */
static int build_trees(mr_forest *f, const file_nodes *fn, const char *name,
		       mr_err *e)
{
	grow_node *gn = mr_xcalloc(f->nnodes, sizeof *gn);
	uint32_t *parents = mr_xcalloc(f->nnodes, sizeof *parents);
	uint32_t *order = mr_xcalloc(f->nnodes, sizeof *order);
	f->root = mr_xcalloc(f->ntrees + 1, sizeof *f->root);
	int rc = 0;
	for (size_t t = 0; t < f->ntrees && rc == 0; t++) {
		f->root[t] = (uint32_t)fn->off[t];
		rc = load_tree(f, gn, t, (size_t)fn->off[t],
			       (size_t)fn->off[t + 1], fn->feat, fn->thr,
			       fn->left, fn->right, parents, order, name, e);
	}
	f->root[f->ntrees] = (uint32_t)f->nnodes;
	if (rc == 0) {
		cut_table ct;
		rf_cut_table_init(&ct);
		rf_cut_table_add_nodes(&ct, gn, f->nnodes);
		rc = rf_cut_table_finish(f, &ct, name, e);
		if (rc == 0) {
			f->nodes = mr_xcalloc(f->nnodes, sizeof *f->nodes);
			rf_convert_nodes(&ct, gn, f->nnodes, f->nodes, 0, 0);
			rf_compact_build(f);
		}
		rf_cut_table_free(&ct);
	}
	f->inv_ntrees = 1.0 / (double)f->ntrees;
	free(gn);
	free(parents);
	free(order);
	return rc;
}

/* The parameters the model was fitted with and its training rows:
 * informational, so absent or odd values are not an error. */
static void read_params(const msgpack_object *root, const char *name,
			mr_forest *f)
{
	int64_t v;
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
}

mr_forest *mr_forest_from_buffer(const char *buf, size_t len,
				 const char *name, mr_err *e)
{
	mr_mp_doc doc;
	if (mr_mp_parse(buf, len, name, &doc, e) != 0)
		return NULL;
	mr_forest *f = mr_xcalloc(1, sizeof *f);
	file_nodes fn = {0};
	int rc = read_shape(doc.root, name, f, e);
	if (rc == 0)
		rc = read_nodes(doc.root, name, f, &fn, e);
	if (rc == 0)
		rc = build_trees(f, &fn, name, e);
	if (rc == 0)
		read_params(doc.root, name, f);
	file_nodes_free(&fn);
	mr_mp_doc_free(&doc);
	if (rc != 0) {
		mr_forest_free(f);
		return NULL;
	}
	return f;
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
