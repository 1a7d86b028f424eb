/* rf_speed.c - times the forest library in-process, the way rf_sklearn.py
 * times scikit-learn, so the two figures compare like with like (no CSV
 * parsing or file writing inside the timed part).
 *
 *   rf_speed fit TRACE FEATURES TARGETS THREADS SEED   -> "fit_s <seconds>"
 *   rf_speed predict TRACE FEATURES TARGETS ROWS       -> single-row latency
 *        (mean over 20000 calls) and batch throughput (median of 3 batches of
 *        ROWS rows, the trace's rows repeated) of a 120-tree forest fitted on
 *        all rows, one thread; the same for the 0.9-quantile across trees
 *        of every target (mr_forest_predict_quantile_batch)
 *   rf_speed scale TRACE FEATURES TARGETS ROWS         -> CSV lines
 *        trees,max_depth,nodes,batch_rows_per_s,quantile_rows_per_s,single_us
 *        for 30..480 trees and max_depth 8, 16, unlimited (0)
 *
 * Rows with no successful responses are dropped by the same rule as rf-fit
 * only when asked (EMPTY env var naming the cl column), so the bench can
 * mirror what rf-fit keeps. Not installed; built by bench_rf.sh. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "forest.h"
#include "meshrl.h"

/* CPU time of this thread: steadier than wall time on a shared machine
 * (CPUTIME=1 selects it; the bench itself reports wall time). */
static double now(void)
{
	if (!getenv("CPUTIME"))
		return mr_now();
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void load(const char *path, const char *feats, const char *targs,
		 double **X, double **Y, size_t *n, size_t *nf, size_t *nt)
{
	mr_err e;
	char **fn = mr_split_names(feats, nf, &e);
	char **tn = fn ? mr_split_names(targs, nt, &e) : NULL;
	if (!fn || !tn)
		mr_die("rf_speed", &e);
	const char *empty = getenv("EMPTY");
	size_t nc = *nf + *nt + (empty && *empty ? 1 : 0);
	const char **cols = mr_xcalloc(nc, sizeof *cols);
	for (size_t i = 0; i < *nf; i++)
		cols[i] = fn[i];
	for (size_t j = 0; j < *nt; j++)
		cols[*nf + j] = tn[j];
	if (nc > *nf + *nt)
		cols[nc - 1] = empty;
	mr_table t;
	if (mr_table_read(path, cols, nc, 0, &t, &e) != 0)
		mr_die("rf_speed", &e);
	*X = mr_xcalloc(t.nrows * *nf, sizeof **X);
	*Y = mr_xcalloc(t.nrows * *nt, sizeof **Y);
	size_t m = 0;
	for (size_t i = 0; i < t.nrows; i++) {
		const double *r = t.data + i * nc;
		if (nc > *nf + *nt && r[nc - 1] == 0)
			continue;
		memcpy(*X + m * *nf, r, *nf * sizeof **X);
		memcpy(*Y + m * *nt, r + *nf, *nt * sizeof **Y);
		m++;
	}
	*n = m;
	mr_table_free(&t);
	free(cols);
	free(fn);
	free(tn);
}

static double median3(double a, double b, double c)
{
	return a + b + c - fmin(a, fmin(b, c)) - fmax(a, fmax(b, c));
}

typedef struct {
	double batch, quantile, single_us, sink;
} speeds;

/* Batch rows/s (mean and quantiles, median of 3) and single-row latency
 * of f on `rows` rows: the trace's rows X (n of them) repeated. */
static speeds time_predict(const mr_forest *f, const double *X, size_t n,
			   size_t rows)
{
	size_t nf = mr_forest_nfeatures(f), nt = mr_forest_ntargets(f);
	double *B = mr_xcalloc(rows * nf, sizeof *B);
	double *P = mr_xcalloc(rows * nt, sizeof *P);
	double *q = mr_xcalloc(nt, sizeof *q);
	for (size_t j = 0; j < nt; j++)
		q[j] = 0.9;
	for (size_t i = 0; i < rows; i++)
		memcpy(B + i * nf, X + (i % n) * nf, nf * sizeof *B);
	mr_forest_predict_batch(f, B, rows < 1000 ? rows : 1000, P, 1);
	double dt[3], dq[3];
	for (int rep = 0; rep < 3; rep++) {
		double t0 = now();
		mr_forest_predict_batch(f, B, rows, P, 1);
		dt[rep] = now() - t0;
		t0 = now();
		mr_forest_predict_quantile_batch(f, B, rows, q, P, 1);
		dq[rep] = now() - t0;
	}
	speeds s = {(double)rows / median3(dt[0], dt[1], dt[2]),
		    (double)rows / median3(dq[0], dq[1], dq[2]), 0, 0};
	/* single row: distinct rows in turn, as a simulator would */
	size_t calls = 20000;
	double y[64];
	double t0 = now();
	for (size_t i = 0; i < calls; i++) {
		mr_forest_predict(f, X + (i % n) * nf, y);
		s.sink += y[0];
	}
	s.single_us = (now() - t0) / (double)calls * 1e6;
	free(B);
	free(P);
	free(q);
	return s;
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: rf_speed fit|predict|scale TRACE FEATURES TARGETS N [SEED]\n");
		return 2;
	}
	double *X, *Y;
	size_t n, nf, nt;
	load(argv[2], argv[3], argv[4], &X, &Y, &n, &nf, &nt);
	mr_forest_params p;
	mr_forest_params_default(&p);
	mr_err e;
	if (strcmp(argv[1], "fit") == 0) {
		p.threads = atoi(argv[5]);
		p.seed = argc > 6 ? strtoull(argv[6], NULL, 10) : 0;
		double t0 = now();
		mr_forest *f = mr_forest_fit(X, Y, n, nf, nt, NULL, NULL, &p,
					     NULL, &e);
		double dt = now() - t0;
		if (!f)
			mr_die("rf_speed", &e);
		printf("fit_s %.4f rows %zu nodes %zu\n", dt, n,
		       mr_forest_nnodes(f));
		mr_forest_free(f);
	} else if (strcmp(argv[1], "predict") == 0) {
		size_t rows = (size_t)atol(argv[5]);
		mr_forest *f = mr_forest_fit(X, Y, n, nf, nt, NULL, NULL, &p,
					     NULL, &e);
		if (!f)
			mr_die("rf_speed", &e);
		speeds s = time_predict(f, X, n, rows);
		printf("batch_rows_per_s %.0f quantile_rows_per_s %.0f single_us %.3f sink %g\n",
		       s.batch, s.quantile, s.single_us, s.sink);
		mr_forest_free(f);
	} else {
		size_t rows = (size_t)atol(argv[5]);
		static const int trees[] = {30, 60, 120, 240, 480};
		static const int depths[] = {8, 16, 0};
		printf("trees,max_depth,nodes,batch_rows_per_s,quantile_rows_per_s,single_us\n");
		for (size_t d = 0; d < 3; d++)
			for (size_t k = 0; k < 5; k++) {
				p.ntrees = trees[k];
				p.max_depth = depths[d];
				mr_forest *f = mr_forest_fit(X, Y, n, nf, nt, NULL,
							     NULL, &p, NULL, &e);
				if (!f)
					mr_die("rf_speed", &e);
				speeds s = time_predict(f, X, n, rows);
				printf("%d,%d,%zu,%.0f,%.0f,%.3f\n", trees[k],
				       depths[d], mr_forest_nnodes(f), s.batch,
				       s.quantile, s.single_us);
				fflush(stdout);
				mr_forest_free(f);
			}
	}
	free(X);
	free(Y);
	return 0;
}
