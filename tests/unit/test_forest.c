/* test_forest.c - the random forest: fitting recovers known functions,
 * multi-output, determinism across thread counts, out-of-bag predictions,
 * batch = single predictions, save/load round trip, and the model reader's
 * refusal of damaged files (each refused case checked by its message);
 * rf-fit fit's rows: --ratio specs, the split's group count, grouped
 * cross-validation folds and held-out predictions; every prediction path
 * (vector walks on the compact layout, scalar walks) against a plain
 * reference walk on thresholds, bit for bit, and quantiles across trees
 * against sorting. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fit_rows.h"
#include "forest.h"
#include "forest_impl.h"

static char tmpdir[] = "/tmp/meshrl-forest-XXXXXX";

static const char *tmp_path(const char *name)
{
	static char path[256];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	return path;
}

/* y0 = step in x0 plus x1/4; y1 = x0 * x2 (x2 a small integer grid). */
static void make_data(size_t n, double *X, double *Y, uint64_t seed)
{
	mr_rng r;
	mr_rng_seed(&r, seed, 0);
	for (size_t i = 0; i < n; i++) {
		double x0 = (double)mr_rng_below(&r, 20);
		double x1 = mr_rng_uniform(&r) * 4;
		double x2 = (double)mr_rng_below(&r, 5);
		X[i * 3 + 0] = x0;
		X[i * 3 + 1] = x1;
		X[i * 3 + 2] = x2;
		Y[i * 2 + 0] = (x0 >= 10 ? 5.0 : 1.0) + x1 / 4;
		Y[i * 2 + 1] = x0 * x2;
	}
}

static double r2(const double *y, const double *p, size_t n, size_t stride)
{
	double m = 0, sse = 0, sst = 0;
	for (size_t i = 0; i < n; i++)
		m += y[i * stride];
	m /= (double)n;
	for (size_t i = 0; i < n; i++) {
		sse += (y[i * stride] - p[i * stride]) * (y[i * stride] - p[i * stride]);
		sst += (y[i * stride] - m) * (y[i * stride] - m);
	}
	return 1 - sse / sst;
}

static void *read_all(const char *path, size_t *len)
{
	char *b;
	mr_err e;
	if (mr_read_file(path, &b, len, 0, &e) != 0) {
		fprintf(stderr, "%s\n", e.msg);
		exit(1);
	}
	return b;
}

/* Finds the bin value of key in a saved model (the bytes after the key's
 * str header and the bin header) so tests can damage one field. */
static unsigned char *find_bin(unsigned char *buf, size_t len, const char *key,
			       size_t *binlen)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i + 1 + kl + 5 < len; i++) {
		if (buf[i] != (0xa0 | kl) || memcmp(buf + i + 1, key, kl) != 0)
			continue;
		unsigned char *p = buf + i + 1 + kl;
		if (p[0] == 0xc4) {
			*binlen = p[1];
			return p + 2;
		}
		if (p[0] == 0xc5) {
			*binlen = (size_t)p[1] << 8 | p[2];
			return p + 3;
		}
		if (p[0] == 0xc6) {
			*binlen = (size_t)p[1] << 24 | (size_t)p[2] << 16 |
				  (size_t)p[3] << 8 | p[4];
			return p + 5;
		}
	}
	return NULL;
}

static int refused(const void *buf, size_t len, const char *want)
{
	mr_err e = {0};
	mr_forest *f = mr_forest_from_buffer(buf, len, "m", &e);
	if (f) {
		mr_forest_free(f);
		printf("# accepted, wanted refusal '%s'\n", want);
		return 0;
	}
	if (!strstr(e.msg, want)) {
		printf("# message '%s' lacks '%s'\n", e.msg, want);
		return 0;
	}
	return e.code == MR_EXIT_DATA;
}

/* Many threads predicting on one forest must agree with one thread. */
typedef struct {
	const mr_forest *f;
	const double *X;
	const double *want;
	size_t n;
	int bad;
} pred_arg;

static void *pred_thread(void *arg)
{
	pred_arg *a = arg;
	for (int rep = 0; rep < 20; rep++)
		for (size_t i = 0; i < a->n; i++) {
			double y[2];
			mr_forest_predict(a->f, a->X + i * 3, y);
			a->bad |= y[0] != a->want[i * 2] || y[1] != a->want[i * 2 + 1];
		}
	return NULL;
}

/* --ratio NAME=NUM/DEN: accepted and refused specs. */
static void test_ratio_parse(void)
{
	rf_ratio r;
	mr_err e;
	CHECK(rf_ratio_parse("served1=cl1/l1", &r, &e) == 0 &&
		      strcmp(r.name, "served1") == 0 &&
		      strcmp(r.num, "cl1") == 0 && strcmp(r.den, "l1") == 0,
	      "ratio 'served1=cl1/l1' parses to its three names");
	rf_ratio_free(&r);
	static const char *const bad[][2] = {
		{"served1", "expected NAME=NUM/DEN"},
		{"served1=cl1", "expected NAME=NUM/DEN"},
		{"=cl1/l1", "three column names"},
		{"s=/l1", "three column names"},
		{"s=cl1/", "three column names"},
		{"s=cl1/l1/x", "three column names"},
		{"s=a,b/l1", "three column names"},
		{"s=a=b/l1", "three column names"},
		{"l1=cl1/l1", "NAME must not be NUM or DEN"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = rf_ratio_parse(bad[i][0], &r, &e);
		CHECK(rc == -1 && e.code == MR_EXIT_USAGE &&
			      strstr(e.msg, bad[i][1]) &&
			      strstr(e.msg, bad[i][0]) && !r.name,
		      "ratio '%s' refused: %s", bad[i][0],
		      rc ? e.msg : "(accepted)");
	}
}

/* n rows in groups of `per` rows with equal keys (2 keys per row). */
static double *group_keys(size_t n, size_t per)
{
	double *gk = calloc(n * 2, sizeof *gk);
	for (size_t i = 0; i < n; i++) {
		gk[i * 2] = (double)(i / per % 7);
		gk[i * 2 + 1] = (double)(i / per / 7);
	}
	return gk;
}

/* Folds: whole groups, as many groups alike, seeded; too few groups is a
 * data error. The split without a test side still counts groups. */
static void test_cv_folds(void)
{
	enum { N = 230, PER = 5, K = 4 }; /* 46 groups */
	double *gk = group_keys(N, PER);
	size_t fold[N], fold2[N], ng;
	mr_err e;
	CHECK(rf_cv_folds(N, gk, 2, K, 1, fold, &ng, &e) == 0 && ng == 46,
	      "cv folds over 46 groups");
	int whole = 1, inrange = 1;
	size_t groups_in[K] = {0};
	for (size_t i = 0; i < N; i++) {
		inrange &= fold[i] < K;
		whole &= fold[i] == fold[i / PER * PER];
		if (i % PER == 0 && fold[i] < K)
			groups_in[fold[i]]++;
	}
	CHECK(inrange && whole, "every group lies in one fold");
	size_t lo = N, hi = 0;
	for (size_t f = 0; f < K; f++) {
		lo = groups_in[f] < lo ? groups_in[f] : lo;
		hi = groups_in[f] > hi ? groups_in[f] : hi;
	}
	CHECK(lo >= 11 && hi <= 12, "folds hold 11 or 12 groups (%zu..%zu)", lo, hi);
	rf_cv_folds(N, gk, 2, K, 1, fold2, &ng, &e);
	CHECK(memcmp(fold, fold2, sizeof fold) == 0, "same seed, same folds");
	rf_cv_folds(N, gk, 2, K, 2, fold2, &ng, &e);
	CHECK(memcmp(fold, fold2, sizeof fold) != 0, "another seed, other folds");
	CHECK(rf_cv_folds(N, NULL, 0, K, 1, fold2, &ng, &e) == 0 && ng == N,
	      "ungrouped: every row is a group");
	size_t rows_in[K] = {0};
	for (size_t i = 0; i < N; i++)
		rows_in[fold2[i]]++;
	CHECK(rows_in[0] >= 57 && rows_in[0] <= 58 && rows_in[3] >= 57 &&
		      rows_in[3] <= 58,
	      "ungrouped folds hold 57 or 58 rows");
	CHECK(rf_cv_folds(10, gk, 2, K, 1, fold2, &ng, &e) == -1 &&
		      e.code == MR_EXIT_DATA &&
		      strstr(e.msg, "2 groups, fewer than the 4 folds"),
	      "fewer groups than folds refused: %s", e.msg);
	unsigned char is_test[N];
	CHECK(rf_make_split(N, 0, gk, 2, 1, is_test, &ng) == 0 && ng == 46,
	      "a split with no test side still counts the groups (%zu)", ng);
	free(gk);
}

/* Held-out predictions: a row's prediction is that of the forest fitted
 * without its fold, and grouped folds do not leak a group's own rows: a
 * target that is a random constant per group (the features tell groups
 * apart but carry nothing across them) is well predicted out of bag, not
 * across folds. */
static void test_cv_predict(void)
{
	enum { N = 300, PER = 5, K = 3 };
	double *gk = group_keys(N, PER);
	double X[N * 2], Y[N], P[N], oob[N];
	mr_rng r;
	mr_rng_seed(&r, 5, 0);
	double y = 0;
	for (size_t i = 0; i < N; i++) {
		if (i % PER == 0)
			y = mr_rng_uniform(&r);
		X[i * 2] = gk[i * 2];
		X[i * 2 + 1] = gk[i * 2 + 1];
		Y[i] = y + 0.01 * mr_rng_uniform(&r);
	}
	size_t fold[N], ng;
	mr_err e;
	mr_forest_params p;
	mr_forest_params_default(&p);
	p.ntrees = 30;
	p.seed = 3;
	rf_cv_folds(N, gk, 2, K, 1, fold, &ng, &e);
	CHECK(rf_cv_predict(X, Y, N, 2, 1, NULL, NULL, fold, K, &p, P, &e) == 0,
	      "cv predictions over 3 folds");
	/* fold 1 by hand */
	double Xa[N * 2], Ya[N];
	size_t na = 0;
	for (size_t i = 0; i < N; i++)
		if (fold[i] != 1) {
			memcpy(Xa + na * 2, X + i * 2, 2 * sizeof *X);
			Ya[na++] = Y[i];
		}
	mr_forest *f = mr_forest_fit(Xa, Ya, na, 2, 1, NULL, NULL, &p, NULL, &e);
	int same = f != NULL;
	for (size_t i = 0; f && i < N; i++) {
		double q;
		mr_forest_predict(f, X + i * 2, &q);
		if (fold[i] == 1)
			same &= q == P[i];
	}
	CHECK(same, "a held-out row gets the prediction of the forest fitted without its fold");
	mr_forest_free(f);
	f = mr_forest_fit(X, Y, N, 2, 1, NULL, NULL, &p, oob, &e);
	double cv_r2 = r2(Y, P, N, 1);
	size_t k = 0;
	double oy[N], op[N];
	for (size_t i = 0; i < N; i++)
		if (!isnan(oob[i])) {
			oy[k] = Y[i];
			op[k++] = oob[i];
		}
	double oob_r2 = r2(oy, op, k, 1);
	CHECK(oob_r2 > 0.9 && cv_r2 < 0.3,
	      "a group's own rows leak out of bag (R2 %.3f), not across grouped folds (R2 %.3f)",
	      oob_r2, cv_r2);
	p.threads = 3;
	double P3[N];
	rf_cv_predict(X, Y, N, 2, 1, NULL, NULL, fold, K, &p, P3, &e);
	CHECK(memcmp(P, P3, sizeof P) == 0, "cv predictions do not depend on threads");
	mr_forest_free(f);
	free(gk);
}

/* ------------------------------------------------------------------------
 * Prediction against a reference: one walk at a time on the thresholds
 * themselves (x > threshold goes right), tree values summed in tree order
 * and scaled by 1/ntrees, as predictions have always been made.
 */
static const double *ref_leaf(const mr_forest *f, size_t t, const double *x)
{
	uint32_t i = f->root[t];
	while (!(f->nodes[i].child & RF_LEAF)) {
		uint32_t j = f->nodes[i].meta & 0xff, k = f->nodes[i].meta >> 8;
		i = f->nodes[i].child + (x[j] > f->cuts[f->cut0[j] + k]);
	}
	return f->values + (size_t)(f->nodes[i].child & ~RF_LEAF) * f->ntarget;
}

static void ref_predict(const mr_forest *f, const double *x, double *y)
{
	size_t T = f->ntarget;
	for (size_t j = 0; j < T; j++)
		y[j] = 0;
	for (size_t t = 0; t < f->ntrees; t++) {
		const double *v = ref_leaf(f, t, x);
		for (size_t j = 0; j < T; j++)
			y[j] += v[j];
	}
	for (size_t j = 0; j < T; j++)
		y[j] *= f->inv_ntrees;
}

/* numpy's default quantile, by sorting */
static double ref_quantile(double *v, size_t n, double q)
{
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0 && v[k] < v[k - 1]; k--) {
			double s = v[k];
			v[k] = v[k - 1];
			v[k - 1] = s;
		}
	double h = (double)(n - 1) * q;
	size_t k = (size_t)h;
	return k + 1 >= n ? v[n - 1] : v[k] + (h - (double)k) * (v[k + 1] - v[k]);
}

/* Features on small grids (so rows hit thresholds exactly and trees
 * repeat values), some continuous; NaN and infinities now and then. */
static double rand_feature(mr_rng *r, size_t j)
{
	uint64_t u = mr_rng_below(r, 50);
	if (u == 0)
		return NAN;
	if (u == 1)
		return u % 2 ? INFINITY : -INFINITY;
	if (j % 2)
		return (double)mr_rng_below(r, 3 + 5 * j);
	return mr_rng_uniform(r) * 10 - 5;
}

/* One random forest: every path agrees with the reference on n rows.
 * Returns the number of rows that disagree. */
static size_t check_paths(mr_rng *r, size_t F, size_t T, int ntrees,
			  int depth, size_t n, int *compact)
{
	size_t N = 300;
	double *X = mr_xcalloc(N * F, sizeof *X), *Y = mr_xcalloc(N * T, sizeof *Y);
	for (size_t i = 0; i < N * F; i++) {
		X[i] = rand_feature(r, i % F);
		if (isnan(X[i]) || isinf(X[i]))
			X[i] = 0; /* training rows are finite */
	}
	for (size_t i = 0; i < N * T; i++)
		Y[i] = X[(i / T) * F + i % F % F] * (double)(i % T + 1) +
		       mr_rng_uniform(r);
	mr_forest_params p;
	mr_forest_params_default(&p);
	p.ntrees = ntrees;
	p.max_depth = depth;
	p.max_features = 0.7;
	p.seed = mr_rng_u64(r);
	mr_err e;
	mr_forest *f = mr_forest_fit(X, Y, N, F, T, NULL, NULL, &p, NULL, &e);
	if (!f)
		return n;
	*compact = f->cnodes != NULL;
	double *Xq = mr_xcalloc(n * F, sizeof *Xq);
	for (size_t i = 0; i < n * F; i++)
		Xq[i] = rand_feature(r, i % F);
	double *P = mr_xcalloc(n * T, sizeof *P), *Q = mr_xcalloc(n * T, sizeof *Q);
	double *M = mr_xcalloc(n * T, sizeof *M);
	double *y = mr_xcalloc(T, sizeof *y), *ref = mr_xcalloc(T, sizeof *ref);
	double *per = mr_xcalloc((size_t)ntrees * T, sizeof *per);
	double *col = mr_xcalloc((size_t)ntrees, sizeof *col);
	double *q = mr_xcalloc(T, sizeof *q);
	/* tails (a short list of the largest or smallest values), the
	 * middle (selection row by row), 1 and the mean (NaN) */
	static const double qs[] = {0,   0.02, 0.05, 0.1, 0.2, 0.3, 0.5,
				    0.7, 0.8,  0.9,  0.95, 0.98, 1};
	for (size_t j = 0; j < T; j++)
		q[j] = j == 1 ? NAN :
			qs[mr_rng_below(r, sizeof qs / sizeof *qs)];
	mr_forest_predict_batch(f, Xq, n, P, 1);
	mr_forest_predict_quantile_batch(f, Xq, n, q, Q, 1);
	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		const double *x = Xq + i * F;
		ref_predict(f, x, ref);
		mr_forest_predict(f, x, y);
		mr_forest_predict_trees(f, x, per);
		int ok = memcmp(ref, y, T * sizeof *y) == 0 &&
			 memcmp(ref, P + i * T, T * sizeof *y) == 0;
		for (size_t t = 0; t < (size_t)ntrees; t++)
			ok &= memcmp(per + t * T, ref_leaf(f, t, x),
				     T * sizeof *per) == 0;
		for (size_t j = 0; j < T; j++) {
			double want = ref[j];
			if (!isnan(q[j])) {
				for (size_t t = 0; t < (size_t)ntrees; t++)
					col[t] = per[t * T + j];
				want = ref_quantile(col, (size_t)ntrees, q[j]);
			}
			ok &= memcmp(&want, Q + i * T + j, sizeof want) == 0;
		}
		bad += !ok;
	}
	free(X); free(Y); free(Xq); free(P); free(Q); free(M); free(y);
	free(ref); free(per); free(col); free(q);
	mr_forest_free(f);
	return bad;
}

static void test_predict_paths(void)
{
	mr_rng r;
	mr_rng_seed(&r, 17, 0);
	/* trees not a multiple of 16, one row, odd batch sizes, depths */
	static const struct { size_t F, T; int trees, depth; size_t n; } c[] = {
		{1, 1, 1, 0, 1},     {3, 1, 7, 0, 37},   {6, 1, 120, 0, 600},
		{6, 4, 33, 0, 1100}, {12, 2, 16, 3, 17}, {32, 1, 20, 0, 64},
		{5, 3, 300, 6, 200}, {2, 1, 65, 0, 4100},
		{6, 4, 120, 0, 300}, {6, 3, 120, 0, 300}, {6, 1, 120, 0, 100},
	};
	size_t bad = 0, ncompact = 0, nc = sizeof c / sizeof c[0];
	for (size_t k = 0; k < nc; k++) {
		int compact = 0;
		bad += check_paths(&r, c[k].F, c[k].T, c[k].trees, c[k].depth,
				   c[k].n, &compact);
		ncompact += (size_t)compact;
	}
	CHECK(bad == 0, "predict, predict_batch, predict_trees and quantiles = the reference walk, bit for bit, on %zu forests (%zu rows differ)", nc, bad);
	CHECK(ncompact == nc, "those forests use the compact layout");
	/* more features than the compact layout holds: the scalar walk */
	int compact = 1;
	bad = check_paths(&r, 40, 2, 24, 0, 300, &compact);
	CHECK(bad == 0 && !compact, "40 features: the scalar walk = the reference (%zu rows differ)", bad);
	/* a constant target: every tree is one leaf */
	{
		double X[40 * 2], Y[40], P[40], Q[40], q = 0.9;
		for (size_t i = 0; i < 40; i++) {
			X[2 * i] = (double)i;
			X[2 * i + 1] = (double)(i % 3);
			Y[i] = 2.5;
		}
		mr_forest_params p;
		mr_forest_params_default(&p);
		p.ntrees = 20;
		mr_err e;
		mr_forest *f = mr_forest_fit(X, Y, 40, 2, 1, NULL, NULL, &p,
					     NULL, &e);
		int same = f != NULL;
		if (f) {
			mr_forest_predict_batch(f, X, 40, P, 1);
			mr_forest_predict_quantile_batch(f, X, 40, &q, Q, 1);
			for (size_t i = 0; i < 40; i++)
				same &= P[i] == 2.5 && Q[i] == 2.5;
		}
		CHECK(same, "trees of one leaf: the batch's mean and quantile are the leaf's value");
		mr_forest_free(f);
	}
	double v[7] = {5, 1, 4, 1, 3, 9, 2}, w[7];
	int qok = 1;
	for (int k = 0; k <= 20; k++) {
		memcpy(w, v, sizeof v);
		double a = mr_quantile(w, 7, k / 20.0);
		memcpy(w, v, sizeof v);
		qok &= a == ref_quantile(w, 7, k / 20.0);
	}
	CHECK(qok, "mr_quantile = sorting, q from 0 to 1");
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	enum { N = 2000, NT = 500 };
	double *X = calloc(N * 3, sizeof *X), *Y = calloc(N * 2, sizeof *Y);
	double *Xt = calloc(NT * 3, sizeof *Xt), *Yt = calloc(NT * 2, sizeof *Yt);
	double *P = calloc(NT * 2, sizeof *P), *P2 = calloc(NT * 2, sizeof *P2);
	double *oob = calloc(N * 2, sizeof *oob);
	make_data(N, X, Y, 1);
	make_data(NT, Xt, Yt, 2);
	const char *fn[] = {"x0", "x1", "x2"}, *tn[] = {"y0", "y1"};
	mr_forest_params p;
	mr_forest_params_default(&p);
	p.ntrees = 30;
	p.seed = 7;
	mr_err e;

	/* --- accuracy on held-out rows, both targets of one forest */
	mr_forest *f = mr_forest_fit(X, Y, N, 3, 2, fn, tn, &p, oob, &e);
	CHECK(f != NULL, "fit a 2-target forest on 2000 rows");
	mr_forest_predict_batch(f, Xt, NT, P, 1);
	CHECK(r2(Yt, P, NT, 2) > 0.95, "test R2 of y0 > 0.95 (got %.4f)", r2(Yt, P, NT, 2));
	CHECK(r2(Yt + 1, P + 1, NT, 2) > 0.99, "test R2 of y1 > 0.99 (got %.4f)",
	      r2(Yt + 1, P + 1, NT, 2));
	size_t noob = 0;
	for (size_t i = 0; i < N; i++)
		noob += !isnan(oob[i * 2]);
	CHECK(noob > N * 9 / 10, "out-of-bag predictions for most rows (%zu of %d)", noob, N);
	double *oy = calloc(N * 2, sizeof *oy), *op = calloc(N * 2, sizeof *op);
	size_t k = 0;
	for (size_t i = 0; i < N; i++)
		if (!isnan(oob[i * 2])) {
			memcpy(oy + k * 2, Y + i * 2, 2 * sizeof *Y);
			memcpy(op + k * 2, oob + i * 2, 2 * sizeof *oob);
			k++;
		}
	CHECK(r2(oy, op, k, 2) > 0.9, "out-of-bag R2 of y0 > 0.9 (got %.4f)", r2(oy, op, k, 2));
	free(oy);
	free(op);

	/* --- names, ranges */
	CHECK(mr_forest_nfeatures(f) == 3 && mr_forest_ntargets(f) == 2, "sizes");
	CHECK(mr_forest_feature_index(f, "x2") == 2 && mr_forest_feature_index(f, "zz") == -1,
	      "feature_index");
	CHECK(mr_forest_target_index(f, "y1") == 1, "target_index");
	CHECK(mr_forest_feature_min(f, 0) == 0 && mr_forest_feature_max(f, 0) == 19,
	      "feature range of x0 is 0..19");

	/* --- single predict equals batch predict */
	int same = 1;
	for (size_t i = 0; i < NT; i++) {
		double y[2];
		mr_forest_predict(f, Xt + i * 3, y);
		same &= y[0] == P[i * 2] && y[1] == P[i * 2 + 1];
	}
	CHECK(same, "predict == predict_batch on every row");

	/* --- every tree's prediction: their mean is the forest's, and the
	 * trees disagree somewhere (bootstrap samples differ) */
	size_t nt = mr_forest_ntrees(f);
	double *per = calloc(nt * 2, sizeof *per);
	double worst = 0;
	int spread = 0;
	for (size_t i = 0; i < NT; i++) {
		double y[2], m[2] = {0, 0};
		mr_forest_predict(f, Xt + i * 3, y);
		mr_forest_predict_trees(f, Xt + i * 3, per);
		for (size_t t = 0; t < nt; t++) {
			m[0] += per[t * 2] / (double)nt;
			m[1] += per[t * 2 + 1] / (double)nt;
			spread |= per[t * 2] != per[0];
		}
		for (int j = 0; j < 2; j++)
			worst = fmax(worst, fabs(m[j] - y[j]) / (1 + fabs(y[j])));
	}
	free(per);
	CHECK(worst < 1e-12, "mean of per-tree predictions = predict (worst rel. %.2g)", worst);
	CHECK(spread, "per-tree predictions differ between trees somewhere");
	mr_forest_predict_batch(f, Xt, NT, P2, 3);
	CHECK(memcmp(P, P2, NT * 2 * sizeof *P) == 0, "3-thread batch predict is identical");

	/* --- predict is safe from many threads at once */
	pred_arg pa[4];
	pthread_t tid[4];
	for (int k = 0; k < 4; k++) {
		pa[k] = (pred_arg){f, Xt, P, NT, 0};
		pthread_create(&tid[k], NULL, pred_thread, &pa[k]);
	}
	int tbad = 0;
	for (int k = 0; k < 4; k++) {
		pthread_join(tid[k], NULL);
		tbad |= pa[k].bad;
	}
	CHECK(!tbad, "4 threads predicting at once get the single-thread results");

	/* --- the forest does not depend on the thread count */
	p.threads = 3;
	double *oob3 = calloc(N * 2, sizeof *oob3);
	mr_forest *f3 = mr_forest_fit(X, Y, N, 3, 2, fn, tn, &p, oob3, &e);
	mr_forest_predict_batch(f3, Xt, NT, P2, 1);
	CHECK(f3 && mr_forest_nnodes(f3) == mr_forest_nnodes(f) &&
		      memcmp(P, P2, NT * 2 * sizeof *P) == 0,
	      "3 threads grow the same forest as 1");
	int oob_same = 1;
	for (size_t i = 0; i < N * 2; i++)
		oob_same &= oob[i] == oob3[i] || (isnan(oob[i]) && isnan(oob3[i]));
	CHECK(oob_same, "out-of-bag identical across thread counts");
	mr_forest_free(f3);
	free(oob3);
	p.threads = 1;

	/* --- save / load round trip */
	const char *mp = tmp_path("m.msgpack");
	CHECK(mr_forest_save(f, mp, &e) == 0, "save");
	mr_forest *g = mr_forest_load(mp, &e);
	CHECK(g != NULL, "load what was saved");
	if (g) {
		mr_forest_predict_batch(g, Xt, NT, P2, 1);
		CHECK(memcmp(P, P2, NT * 2 * sizeof *P) == 0,
		      "loaded model predicts bit-identically");
		CHECK(strcmp(mr_forest_target_name(g, 1), "y1") == 0 &&
			      mr_forest_feature_max(g, 0) == 19,
		      "names and ranges survive the round trip");
		mr_forest_free(g);
	}
	char *saved = NULL, *packed;
	size_t saved_len = 0, packed_len;
	packed = mr_forest_to_buffer(f, &packed_len);
	CHECK(mr_read_file(mp, &saved, &saved_len, 0, &e) == 0 &&
		      packed_len == saved_len &&
		      memcmp(packed, saved, saved_len) == 0,
	      "the model in a buffer is the saved file, byte for byte");
	free(saved);
	free(packed);

	/* --- parameters shape the trees */
	mr_forest_params q = p;
	q.max_depth = 1;
	q.ntrees = 5;
	mr_forest *stump = mr_forest_fit(X, Y, N, 3, 2, fn, tn, &q, NULL, &e);
	CHECK(stump && mr_forest_nnodes(stump) == 15, "max_depth 1: 5 stumps of 3 nodes");
	/* the summed squared error is dominated by y1 = x0 * x2 (range 0..76) */
	double ys[2], xs0[3] = {0, 0, 0}, xs1[3] = {19, 0, 4};
	if (stump) {
		mr_forest_predict(stump, xs0, ys);
		double lo = ys[1];
		mr_forest_predict(stump, xs1, ys);
		CHECK(ys[1] > lo + 10, "stumps separate small and large y1 (%.3f vs %.3f)", ys[1], lo);
	}
	mr_forest_free(stump);
	q = p;
	q.min_leaf = 50;
	mr_forest *coarse = mr_forest_fit(X, Y, N, 3, 2, fn, tn, &q, NULL, &e);
	CHECK(coarse && mr_forest_nnodes(coarse) < mr_forest_nnodes(f) / 10 &&
		      mr_forest_nnodes(coarse) <= (size_t)p.ntrees * (2 * N / 50),
	      "min_leaf 50: far fewer nodes (%zu vs %zu)",
	      coarse ? mr_forest_nnodes(coarse) : 0, mr_forest_nnodes(f));
	mr_forest_free(coarse);
	q = p;
	q.max_features = 0.34; /* one feature per split */
	mr_forest *rnd = mr_forest_fit(X, Y, N, 3, 2, fn, tn, &q, NULL, &e);
	q.threads = 2;
	mr_forest *rnd2 = mr_forest_fit(X, Y, N, 3, 2, fn, tn, &q, NULL, &e);
	if (rnd && rnd2) {
		mr_forest_predict_batch(rnd, Xt, NT, P2, 1);
		CHECK(r2(Yt, P2, NT, 2) > 0.9, "max_features 1/3 still learns y0 (R2 %.4f)",
		      r2(Yt, P2, NT, 2));
		double *P3 = calloc(NT * 2, sizeof *P3);
		mr_forest_predict_batch(rnd2, Xt, NT, P3, 1);
		CHECK(memcmp(P2, P3, NT * 2 * sizeof *P3) == 0,
		      "max_features 1/3: same forest on 2 threads");
		free(P3);
	}
	mr_forest_free(rnd);
	mr_forest_free(rnd2);
	q = p;
	q.bootstrap = 0;
	q.ntrees = 3;
	mr_forest *nb = mr_forest_fit(X, Y, N, 3, 2, fn, tn, &q, oob, &e);
	size_t nboob = 0;
	for (size_t i = 0; i < N; i++)
		nboob += !isnan(oob[i * 2]);
	CHECK(nb && nboob == 0, "without bootstrap no row is out of bag");
	mr_forest_free(nb);

	/* --- one training row: a single leaf */
	mr_forest *one = mr_forest_fit(X, Y, 1, 3, 2, NULL, NULL, &p, NULL, &e);
	double y1[2];
	if (one)
		mr_forest_predict(one, Xt, y1);
	CHECK(one && fabs(y1[0] - Y[0]) < 1e-12 && fabs(y1[1] - Y[1]) < 1e-12,
	      "one row: predicts that row");
	CHECK(one && strcmp(mr_forest_feature_name(one, 1), "x1") == 0,
	      "default feature names x0..");
	mr_forest_free(one);

	/* --- parameter and data errors */
	p.max_features = 0;
	CHECK(!mr_forest_fit(X, Y, N, 3, 2, NULL, NULL, &p, NULL, &e) &&
		      e.code == MR_EXIT_USAGE,
	      "max_features 0 refused");
	p.max_features = 1;
	X[5] = NAN;
	CHECK(!mr_forest_fit(X, Y, N, 3, 2, NULL, NULL, &p, NULL, &e) &&
		      strstr(e.msg, "finite"),
	      "NaN feature refused: %s", e.msg);
	X[5] = 0;

	/* --- the model reader refuses damaged files */
	size_t len;
	unsigned char *buf = read_all(mp, &len);
	unsigned char *cp = malloc(len);
	CHECK(refused(buf, len / 2, "truncated"), "truncated model refused");
	CHECK(refused(buf, 0, "truncated"), "empty model refused");
	memcpy(cp, buf, len);
	unsigned char *fmt = memmem(cp, len, "rf-forest", 9);
	if (fmt)
		fmt[0] = 'x';
	CHECK(fmt && refused(cp, len, "format is 'xf-forest'"), "other format refused");
	memcpy(cp, buf, len);
	unsigned char *ver = memmem(cp, len, "\xa7version", 8);
	if (ver)
		ver[8] = 2;
	CHECK(ver && refused(cp, len, "version 2"), "other version refused");

	size_t bl;
	memcpy(cp, buf, len);
	unsigned char *feat = find_bin(cp, len, "feature", &bl);
	int32_t bad = 7;
	if (feat)
		memcpy(feat, &bad, 4); /* root's feature */
	CHECK(feat && refused(cp, len, "feature index 7 out of range"),
	      "bad feature index refused");
	memcpy(cp, buf, len);
	unsigned char *left = find_bin(cp, len, "left", &bl);
	bad = 1 << 30;
	if (left)
		memcpy(left, &bad, 4);
	CHECK(left && refused(cp, len, "child index"), "bad node index refused");
	memcpy(cp, buf, len);
	left = find_bin(cp, len, "left", &bl);
	bad = 0; /* root pointing at itself: a cycle */
	if (left)
		memcpy(left, &bad, 4);
	CHECK(left && refused(cp, len, "child index 0"), "cycle refused");
	memcpy(cp, buf, len);
	unsigned char *thr = find_bin(cp, len, "threshold", &bl);
	double nan = NAN;
	if (thr)
		memcpy(thr, &nan, 8);
	CHECK(thr && refused(cp, len, "not a finite"), "NaN threshold refused");

	free(buf);
	free(cp);
	mr_forest_free(f);
	free(X); free(Y); free(Xt); free(Yt); free(P); free(P2); free(oob);
	unlink(mp);
	rmdir(tmpdir);
	test_ratio_parse();
	test_cv_folds();
	test_cv_predict();
	test_predict_paths();
	return CHECK_DONE();
}
