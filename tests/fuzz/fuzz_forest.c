/* fuzz_forest.c - libFuzzer target for the model reader: arbitrary bytes as
 * an rf-forest file (mr_forest_from_buffer). A model that is accepted must
 * be safe to use: it is saved back and re-read, and one row of zeros, one of
 * extremes and one of NaNs are predicted, singly, tree by tree, in a batch
 * and as quantiles across trees. Any result but a crash (or a sanitizer
 * report) is fine. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mr_err e;
	mr_forest *f = mr_forest_from_buffer((const char *)data, size, "fuzz", &e);
	if (!f)
		return 0;
	size_t F = mr_forest_nfeatures(f), T = mr_forest_ntargets(f);
	double *X = calloc(3 * F, sizeof *X), *Y = calloc(3 * T, sizeof *Y);
	double *y = calloc(T, sizeof *y), *q = calloc(T, sizeof *q);
	double *per = calloc(mr_forest_ntrees(f) * T, sizeof *per);
	if (X && Y && y && q && per) {
		for (size_t j = 0; j < T; j++)
			q[j] = j % 2 ? NAN : 0.9;
		for (size_t j = 0; j < F; j++) {
			X[F + j] = j % 2 ? -1e308 : 1e308;
			X[2 * F + j] = NAN;
		}
		for (size_t i = 0; i < 3; i++)
			mr_forest_predict(f, X + i * F, y);
		mr_forest_predict_batch(f, X, 3, Y, 1);
		mr_forest_predict_quantile_batch(f, X, 3, q, Y, 1);
		mr_forest_predict_trees(f, X + F, per);
		/* what the reader accepts, the writer must reproduce */
		size_t len;
		char *buf = mr_forest_to_buffer(f, &len);
		mr_forest *g = mr_forest_from_buffer(buf, len, "fuzz-again", &e);
		if (!g)
			abort();
		mr_forest_predict(g, X, y);
		mr_forest_free(g);
		free(buf);
	}
	free(X);
	free(Y);
	free(y);
	free(q);
	free(per);
	mr_forest_free(f);
	return 0;
}
