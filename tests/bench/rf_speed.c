/* rf_speed.c - times the forest library in-process, the way rf_sklearn.py
 * times scikit-learn, so the two figures compare like with like (no CSV
 * parsing or file writing inside the timed part).
 *
 *   rf_speed fit TRACE FEATURES TARGETS THREADS SEED   -> "fit_s <seconds>"
 *   rf_speed predict TRACE FEATURES TARGETS ROWS       -> single-row latency
 *        (mean over 20000 calls) and batch throughput (median of 3 batches of
 *        ROWS rows, the trace's rows repeated) of a 120-tree forest fitted on
 *        all rows, one thread
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

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: rf_speed fit|predict TRACE FEATURES TARGETS N [SEED]\n");
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
	} else {
		size_t rows = (size_t)atol(argv[5]);
		mr_forest *f = mr_forest_fit(X, Y, n, nf, nt, NULL, NULL, &p,
					     NULL, &e);
		if (!f)
			mr_die("rf_speed", &e);
		/* batch input: the trace's rows repeated up to `rows` */
		double *B = mr_xcalloc(rows * nf, sizeof *B);
		double *P = mr_xcalloc(rows * nt, sizeof *P);
		for (size_t i = 0; i < rows; i++)
			memcpy(B + i * nf, X + (i % n) * nf, nf * sizeof *B);
		mr_forest_predict_batch(f, B, rows < 1000 ? rows : 1000, P, 1);
		double dt[3];
		for (int rep = 0; rep < 3; rep++) {
			double t0 = now();
			mr_forest_predict_batch(f, B, rows, P, 1);
			dt[rep] = now() - t0;
		}
		/* median of the three */
		double med = dt[0] + dt[1] + dt[2] - fmin(dt[0], fmin(dt[1], dt[2])) -
			     fmax(dt[0], fmax(dt[1], dt[2]));
		/* single row: distinct rows in turn, as a simulator would */
		size_t calls = 20000;
		double y[64], sink = 0;
		double t0 = now();
		for (size_t i = 0; i < calls; i++) {
			mr_forest_predict(f, X + (i % n) * nf, y);
			sink += y[0];
		}
		double single = (now() - t0) / (double)calls;
		printf("batch_rows_per_s %.0f single_us %.3f sink %g\n",
		       (double)rows / med, single * 1e6, sink);
		mr_forest_free(f);
		free(B);
		free(P);
	}
	free(X);
	free(Y);
	return 0;
}
