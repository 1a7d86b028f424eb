/*
 * rf-fit - learn a random-forest system model from trace CSV columns chosen
 * by name, report its accuracy, and predict with it.
 *
 *   rf-fit fit --features a,b --target d [...] -o MODEL TRACE.csv
 *   rf-fit predict MODEL [CSV|-]
 *
 * fit drops rows with no successful responses (see empty_column) because
 * their delay of 0 is not a measurement; it splits rows into train and test
 * (at random, or whole configurations with --group-by), fits on train, and
 * prints target,split,rows,r2,nmae for train, test and out-of-bag rows.
 *
 * What this tool deliberately does not do: hyper-parameter search, feature
 * engineering, or any knowledge of objectives; those belong upstream.
 */
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "forest.h"
#include "meshrl.h"

static const char *prog = "rf-fit";

static void usage(FILE *out)
{
	fprintf(out,
		"usage: rf-fit fit --features A,B,... --target D [--target E ...] [options] -o MODEL TRACE.csv\n"
		"       rf-fit predict [-o OUT] [--threads N] MODEL [CSV|-]\n"
		"       rf-fit info MODEL\n"
		"\n"
		"fit: learn a random forest (regression, squared error; several targets\n"
		"give one multi-output forest) from the named CSV columns, write it to\n"
		"MODEL (msgpack, format rf-forest) and print on stdout\n"
		"  target,split,rows,r2,nmae   (split: train, test, oob; NMAE = mean|err|/mean(y))\n"
		"  -f, --features LIST     feature columns, comma-separated (required)\n"
		"  -t, --target LIST       target column(s); repeat or comma-separate (required)\n"
		"      --trees N           trees (120)\n"
		"      --min-leaf N        minimum rows per leaf (1)\n"
		"      --max-depth N       maximum depth, 0 = unlimited (0)\n"
		"      --max-features F    fraction of features tried per split, (0,1] (1.0)\n"
		"      --seed S            random seed for the split and the trees (0)\n"
		"      --threads N         threads, 0 = all cores (1); the model does not\n"
		"                          depend on N\n"
		"      --test-frac F       share of rows held out for testing, [0,1);\n"
		"                          0 trains on all rows (0.2)\n"
		"      --group-by LIST     keep all rows with equal values of these columns\n"
		"                          on one side of the split (a configuration)\n"
		"      --skip-bad          skip rows with bad values (and count them) instead\n"
		"                          of stopping at the first\n"
		"      --keep-empty        keep rows with no successful responses (dropped by\n"
		"                          default: a target d<i>[<j>][_x] row is dropped when\n"
		"                          the trace has a column cl<i> and it is 0)\n"
		"  -o, --output MODEL      model file to write (required; '-' writes it to\n"
		"                          stdout and the figures to stderr)\n"
		"\n"
		"predict: print the input rows (all columns) with one column <target>_pred\n"
		"per target; the model's feature columns are found by name. Rows outside\n"
		"the training range of a feature are counted and reported on stderr.\n"
		"  -o, --output OUT        output CSV (stdout)\n"
		"      --threads N         threads for large inputs (1)\n"
		"      --skip-bad          skip bad rows instead of stopping\n"
		"\n"
		"info: print a model's features (with training ranges), targets and size.\n"
		"\n"
		"common: -q, --quiet (no progress; counts of dropped or skipped rows still\n"
		"        print), -h, --help, -V, --version\n"
		"exit codes: 0 ok, 1 failure, 2 usage, 3 bad data, 4 I/O\n"
		"\n"
		"example:\n"
		"  rf-fit fit --features max_l1,l1,cl1,p1,b1,c1 --target d1 --seed 1 \\\n"
		"      -o models/delay/system.msgpack traces/delay.csv\n"
		"  rf-fit predict models/delay/system.msgpack traces/delay.csv | head\n");
}

static int resolve_threads(long n)
{
	if (n > 0)
		return (int)n;
	long c = sysconf(_SC_NPROCESSORS_ONLN);
	return c > 0 ? (int)c : 1;
}

/* ------------------------------------------------------------------------
 * Column bookkeeping: every column is read once, whatever roles it has.
 */
typedef struct {
	char **names;
	size_t n, cap;
} colset;

static size_t colset_add(colset *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->names[i], name) == 0)
			return i;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->names = mr_xrealloc(c->names, c->cap, sizeof *c->names);
	}
	c->names[c->n] = mr_xstrdup(name);
	return c->n++;
}

static void colset_free(colset *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->names[i]);
	free(c->names);
}

static int header_has(mr_csv_reader *r, const char *name)
{
	const char *h;
	for (size_t k = 0; (h = mr_csv_header_name(r, k)); k++)
		if (strcmp(h, name) == 0)
			return 1;
	return 0;
}

/* The column that says whether a target's row holds a measurement: for a
 * delay d<i>, d<i><j> or d<i>_<stat>, the carried load cl<i> of service i
 * (d11 is service 1 via node 1). Service numbers may have several digits,
 * so the longest prefix of the digits naming an existing column wins.
 * NULL when the target is not a delay or the trace has no such column. */
static char *empty_column(mr_csv_reader *r, const char *target)
{
	if (target[0] != 'd' || target[1] < '0' || target[1] > '9')
		return NULL;
	size_t nd = 0;
	while (target[1 + nd] >= '0' && target[1 + nd] <= '9')
		nd++;
	for (size_t k = nd; k >= 1; k--) {
		char name[64];
		if (k > 40)
			continue;
		snprintf(name, sizeof name, "cl%.*s", (int)k, target + 1);
		if (header_has(r, name))
			return mr_xstrdup(name);
	}
	return NULL;
}

/* ------------------------------------------------------------------------
 * Split and metrics.
 */
static int cmp_rows_ctx(const void *a, const void *b, void *ctx)
{
	const double **keys = ctx;
	const double *ka = keys[0] + *(const size_t *)a * (size_t)keys[1][0];
	const double *kb = keys[0] + *(const size_t *)b * (size_t)keys[1][0];
	size_t k = (size_t)keys[1][0];
	for (size_t i = 0; i < k; i++) {
		if (ka[i] < kb[i])
			return -1;
		if (ka[i] > kb[i])
			return 1;
	}
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* Marks is_test[i]. Random: ceil(frac * n) rows. Grouped (gk != NULL, rows
 * of ng key values): ceil(frac * groups) whole groups. */
static size_t make_split(size_t n, double frac, const double *gk, size_t ng,
			 uint64_t seed, unsigned char *is_test,
			 size_t *ngroups_out)
{
	mr_rng rng;
	mr_rng_seed(&rng, seed, MR_STREAM_FIT_SPLIT);
	memset(is_test, 0, n);
	*ngroups_out = 0;
	if (frac <= 0)
		return 0;
	size_t *order = mr_xcalloc(n, sizeof *order);
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	size_t ntest = 0;
	if (!gk) {
		size_t want = (size_t)ceil(frac * (double)n);
		for (size_t i = 0; i + 1 < n; i++) {
			size_t j = i + (size_t)mr_rng_below(&rng, n - i);
			size_t t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (size_t i = 0; i < want && i < n; i++)
			is_test[order[i]] = 1;
		ntest = want < n ? want : n;
	} else {
		/* group id per row: rows sorted by key, equal keys = a group */
		double ngd = (double)ng;
		const double *ctx[2] = {gk, &ngd};
		qsort_r(order, n, sizeof *order, cmp_rows_ctx, ctx);
		size_t *gid = mr_xcalloc(n, sizeof *gid);
		size_t G = 0;
		for (size_t k = 0; k < n; k++) {
			if (k > 0 && memcmp(gk + order[k] * ng,
					    gk + order[k - 1] * ng,
					    ng * sizeof *gk) != 0)
				G++;
			gid[order[k]] = G;
		}
		G++;
		size_t *gperm = mr_xcalloc(G, sizeof *gperm);
		for (size_t g = 0; g < G; g++)
			gperm[g] = g;
		for (size_t g = 0; g + 1 < G; g++) {
			size_t j = g + (size_t)mr_rng_below(&rng, G - g);
			size_t t = gperm[g];
			gperm[g] = gperm[j];
			gperm[j] = t;
		}
		size_t want = (size_t)ceil(frac * (double)G);
		unsigned char *gtest = mr_xcalloc(G, 1);
		for (size_t g = 0; g < want && g < G; g++)
			gtest[gperm[g]] = 1;
		for (size_t i = 0; i < n; i++) {
			is_test[i] = gtest[gid[i]];
			ntest += is_test[i];
		}
		*ngroups_out = G;
		free(gid);
		free(gperm);
		free(gtest);
	}
	free(order);
	return ntest;
}

/* Prints one line per target for rows where pred is not NaN. */
static void print_metrics(FILE *out, const mr_forest *f, const char *split,
			  const double *Y, const double *P, size_t n)
{
	size_t T = mr_forest_ntargets(f);
	for (size_t j = 0; j < T; j++) {
		size_t cnt = 0;
		double sy = 0;
		for (size_t i = 0; i < n; i++)
			if (!isnan(P[i * T + j])) {
				cnt++;
				sy += Y[i * T + j];
			}
		double mean = cnt ? sy / (double)cnt : NAN;
		double sse = 0, sst = 0, sae = 0;
		for (size_t i = 0; i < n; i++) {
			double p = P[i * T + j], y = Y[i * T + j];
			if (isnan(p))
				continue;
			sse += (y - p) * (y - p);
			sst += (y - mean) * (y - mean);
			sae += fabs(y - p);
		}
		double r2 = sst > 0 ? 1 - sse / sst : NAN;
		double nmae = cnt && mean != 0 ? sae / (double)cnt / mean : NAN;
		fprintf(out, "%s,%s,%zu,%.6f,%.6f\n", mr_forest_target_name(f, j),
			split, cnt, r2, nmae);
	}
}

static void fit_progress(void *ctx, int done, int total)
{
	(void)total;
	mr_progress_update(ctx, done, NULL);
}

/* ------------------------------------------------------------------------
 * fit
 */
static int cmd_fit(int argc, char **argv)
{
	enum { O_TREES = 256, O_MINLEAF, O_MAXDEPTH, O_MAXFEAT, O_SEED,
	       O_THREADS, O_TESTFRAC, O_GROUPBY, O_SKIPBAD, O_KEEPEMPTY };
	static const struct option opts[] = {
		{"features", required_argument, 0, 'f'},
		{"target", required_argument, 0, 't'},
		{"trees", required_argument, 0, O_TREES},
		{"min-leaf", required_argument, 0, O_MINLEAF},
		{"max-depth", required_argument, 0, O_MAXDEPTH},
		{"max-features", required_argument, 0, O_MAXFEAT},
		{"seed", required_argument, 0, O_SEED},
		{"threads", required_argument, 0, O_THREADS},
		{"test-frac", required_argument, 0, O_TESTFRAC},
		{"group-by", required_argument, 0, O_GROUPBY},
		{"skip-bad", no_argument, 0, O_SKIPBAD},
		{"keep-empty", no_argument, 0, O_KEEPEMPTY},
		{"output", required_argument, 0, 'o'},
		{"quiet", no_argument, 0, 'q'},
		{"help", no_argument, 0, 'h'},
		{"version", no_argument, 0, 'V'},
		{0, 0, 0, 0}};
	mr_forest_params p;
	mr_forest_params_default(&p);
	const char *features = NULL, *groupby = NULL, *output = NULL;
	char *targets = NULL; /* comma list built from every --target */
	double test_frac = 0.2;
	int skip_bad = 0, keep_empty = 0, quiet = 0;
	mr_err e;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:t:o:qhV", opts, NULL)) != -1) {
		switch (c) {
		case 'f': features = optarg; break;
		case 't': {
			size_t old = targets ? strlen(targets) : 0;
			targets = mr_xrealloc(targets, old + strlen(optarg) + 2, 1);
			if (old)
				targets[old++] = ',';
			strcpy(targets + old, optarg);
			break;
		}
		case O_TREES: p.ntrees = (int)mr_arg_int(prog, "--trees", optarg, 1, 100000); break;
		case O_MINLEAF: p.min_leaf = (int)mr_arg_int(prog, "--min-leaf", optarg, 1, INT32_MAX); break;
		case O_MAXDEPTH: p.max_depth = (int)mr_arg_int(prog, "--max-depth", optarg, 0, INT32_MAX); break;
		case O_MAXFEAT:
			p.max_features = mr_arg_double(prog, "--max-features", optarg, -DBL_MAX, DBL_MAX);
			if (!(p.max_features > 0 && p.max_features <= 1))
				mr_usage_error(prog, "--max-features: '%s' is not in (0,1]", optarg);
			break;
		case O_SEED: p.seed = mr_arg_u64(prog, "--seed", optarg); break;
		case O_THREADS: p.threads = resolve_threads(mr_arg_int(prog, "--threads", optarg, 0, 1024)); break;
		case O_TESTFRAC:
			test_frac = mr_arg_double(prog, "--test-frac", optarg, -DBL_MAX, DBL_MAX);
			if (!(test_frac >= 0 && test_frac < 1))
				mr_usage_error(prog, "--test-frac: '%s' is not in [0,1)", optarg);
			break;
		case O_GROUPBY: groupby = optarg; break;
		case O_SKIPBAD: skip_bad = 1; break;
		case O_KEEPEMPTY: keep_empty = 1; break;
		case 'o': output = optarg; break;
		case 'q': quiet = 1; break;
		case 'h': usage(stdout); exit(MR_EXIT_OK);
		case 'V': mr_print_version(prog); exit(MR_EXIT_OK);
		default: fprintf(stderr, "Try 'rf-fit --help'.\n"); exit(MR_EXIT_USAGE);
		}
	}
	if (!features)
		mr_usage_error(prog, "fit: --features is required");
	if (!targets)
		mr_usage_error(prog, "fit: at least one --target is required");
	if (!output)
		mr_usage_error(prog, "fit: -o MODEL is required");
	if (optind != argc - 1)
		mr_usage_error(prog, "fit: expected exactly one trace file");
	const char *path = argv[optind];

	size_t nf, nt, ng = 0;
	char **fnames = mr_split_names(features, &nf, &e);
	if (!fnames)
		mr_usage_error(prog, "--features: %s", e.msg);
	char **tnames = mr_split_names(targets, &nt, &e);
	if (!tnames)
		mr_usage_error(prog, "--target: %s", e.msg);
	char **gnames = NULL;
	if (groupby && !(gnames = mr_split_names(groupby, &ng, &e)))
		mr_usage_error(prog, "--group-by: %s", e.msg);
	for (size_t j = 0; j < nt; j++)
		for (size_t i = 0; i < nf; i++)
			if (strcmp(tnames[j], fnames[i]) == 0)
				mr_usage_error(prog, "'%s' is both a feature and a target", tnames[j]);

	/* The whole trace in memory (works for "-" too), read twice: once for
	 * the header, once for the columns this run needs. */
	char *buf;
	size_t len;
	if (mr_read_file(path, &buf, &len, 0, &e) != 0)
		mr_die(prog, &e);
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	if (len == 0)
		mr_fatal(prog, MR_EXIT_DATA, "%s: empty input, no header row", name);
	FILE *fp = fmemopen(buf, len, "r");
	if (!fp)
		mr_fatal(prog, MR_EXIT_IO, "%s: %s", name, strerror(errno));
	static const char *const none[1] = {NULL};
	mr_csv_reader *r = mr_csv_open_stream(fp, name, none, 0, skip_bad, &e);
	if (!r)
		mr_die(prog, &e);
	colset cols = {0};
	size_t *fcol = mr_xcalloc(nf, sizeof *fcol), *tcol = mr_xcalloc(nt, sizeof *tcol);
	size_t *gcol = mr_xcalloc(ng ? ng : 1, sizeof *gcol);
	long *ecol = mr_xcalloc(nt, sizeof *ecol); /* -1: no empty check */
	char **ename = mr_xcalloc(nt, sizeof *ename);
	for (size_t i = 0; i < nf; i++)
		fcol[i] = colset_add(&cols, fnames[i]);
	for (size_t j = 0; j < nt; j++)
		tcol[j] = colset_add(&cols, tnames[j]);
	for (size_t g = 0; g < ng; g++)
		gcol[g] = colset_add(&cols, gnames[g]);
	for (size_t j = 0; j < nt; j++) {
		ename[j] = keep_empty ? NULL : empty_column(r, tnames[j]);
		ecol[j] = ename[j] ? (long)colset_add(&cols, ename[j]) : -1;
	}
	mr_csv_close(r);
	fclose(fp);

	fp = fmemopen(buf, len, "r");
	if (!fp)
		mr_fatal(prog, MR_EXIT_IO, "%s: %s", name, strerror(errno));
	r = mr_csv_open_stream(fp, name, (const char *const *)cols.names,
			       cols.n, skip_bad, &e);
	if (!r)
		mr_die(prog, &e);
	size_t cap = 1024, n = 0, dropped = 0, C = cols.n;
	double *X = mr_xcalloc(cap * nf, sizeof *X), *Y = mr_xcalloc(cap * nt, sizeof *Y);
	double *G = mr_xcalloc(cap * (ng ? ng : 1), sizeof *G);
	double *row = mr_xcalloc(C, sizeof *row);
	size_t line;
	int rc;
	while ((rc = mr_csv_next(r, row, &line, &e)) == 1) {
		int empty = 0;
		for (size_t j = 0; j < nt; j++)
			if (ecol[j] >= 0 && row[ecol[j]] == 0)
				empty = 1;
		if (empty) {
			dropped++;
			continue;
		}
		if (n == cap) {
			cap *= 2;
			X = mr_xrealloc(X, cap * nf, sizeof *X);
			Y = mr_xrealloc(Y, cap * nt, sizeof *Y);
			G = mr_xrealloc(G, cap * (ng ? ng : 1), sizeof *G);
		}
		for (size_t i = 0; i < nf; i++)
			X[n * nf + i] = row[fcol[i]];
		for (size_t j = 0; j < nt; j++)
			Y[n * nt + j] = row[tcol[j]];
		for (size_t g = 0; g < ng; g++)
			G[n * ng + g] = row[gcol[g]];
		n++;
	}
	if (rc < 0)
		mr_die(prog, &e);
	size_t skipped = mr_csv_skipped(r);
	mr_csv_close(r);
	fclose(fp);
	free(buf);
	if (skipped)
		fprintf(stderr, "%s: %s: skipped %zu bad row%s (--skip-bad)\n",
			prog, name, skipped, skipped == 1 ? "" : "s");
	if (dropped) {
		/* name the columns that decided */
		char which[256] = "";
		for (size_t j = 0; j < nt; j++) {
			if (!ename[j] || strstr(which, ename[j]))
				continue;
			size_t l = strlen(which);
			snprintf(which + l, sizeof which - l, "%s%s = 0",
				 l ? " or " : "", ename[j]);
		}
		fprintf(stderr,
			"%s: %s: dropped %zu of %zu rows with no successful responses (%s); --keep-empty keeps them\n",
			prog, name, dropped, dropped + n, which);
	}
	if (n == 0)
		mr_fatal(prog, MR_EXIT_DATA, "%s: no rows to fit", name);

	size_t ngroups;
	unsigned char *is_test = mr_xcalloc(n, 1);
	size_t ntest = make_split(n, test_frac, ng ? G : NULL, ng, p.seed,
				  is_test, &ngroups);
	size_t ntrain = n - ntest;
	if (ntrain == 0)
		mr_fatal(prog, MR_EXIT_DATA,
			 "%s: no rows left to train on after the test split", name);
	if (test_frac > 0 && ntest == 0)
		mr_fatal(prog, MR_EXIT_DATA, "%s: the test split is empty", name);
	double *Xtr = mr_xcalloc(ntrain * nf, sizeof *Xtr), *Ytr = mr_xcalloc(ntrain * nt, sizeof *Ytr);
	double *Xte = mr_xcalloc(ntest * nf, sizeof *Xte), *Yte = mr_xcalloc(ntest * nt, sizeof *Yte);
	for (size_t i = 0, a = 0, b = 0; i < n; i++) {
		if (is_test[i]) {
			memcpy(Xte + b * nf, X + i * nf, nf * sizeof *X);
			memcpy(Yte + b * nt, Y + i * nt, nt * sizeof *Y);
			b++;
		} else {
			memcpy(Xtr + a * nf, X + i * nf, nf * sizeof *X);
			memcpy(Ytr + a * nt, Y + i * nt, nt * sizeof *Y);
			a++;
		}
	}
	if (!quiet) {
		if (ng)
			fprintf(stderr,
				"%s: %zu rows in %zu groups: %zu train, %zu test\n",
				prog, n, ngroups, ntrain, ntest);
		else
			fprintf(stderr, "%s: %zu rows: %zu train, %zu test\n",
				prog, n, ntrain, ntest);
	}

	/* Open the output now: a bad path fails before a long fit. */
	mr_out model_out;
	if (mr_out_open(&model_out, output, &e) != 0)
		mr_die(prog, &e);

	mr_progress prog_bar;
	mr_progress_init(&prog_bar, "fit", p.ntrees, quiet);
	p.progress = fit_progress;
	p.progress_ctx = &prog_bar;
	double t0 = mr_now();
	double *oob = mr_xcalloc(ntrain * nt, sizeof *oob);
	mr_forest *f = mr_forest_fit(Xtr, Ytr, ntrain, nf, nt,
				     (const char *const *)fnames,
				     (const char *const *)tnames, &p, oob, &e);
	if (!f) {
		mr_out_abort(&model_out);
		mr_die(prog, &e);
	}
	char extra[64];
	snprintf(extra, sizeof extra, "%zu nodes in %.2f s",
		 mr_forest_nnodes(f), mr_now() - t0);
	mr_progress_done(&prog_bar, extra);

	if (mr_forest_write(f, model_out.f, &e) != 0) {
		mr_out_abort(&model_out);
		mr_die(prog, &e);
	}
	if (mr_out_commit(&model_out, &e) != 0)
		mr_die(prog, &e);

	/* the figures go to stdout, or to stderr when the model does */
	FILE *fig = strcmp(output, "-") == 0 ? stderr : stdout;
	double *P = mr_xcalloc((ntrain > ntest ? ntrain : ntest) * nt, sizeof *P);
	fprintf(fig, "target,split,rows,r2,nmae\n");
	mr_forest_predict_batch(f, Xtr, ntrain, P, p.threads);
	print_metrics(fig, f, "train", Ytr, P, ntrain);
	if (ntest) {
		mr_forest_predict_batch(f, Xte, ntest, P, p.threads);
		print_metrics(fig, f, "test", Yte, P, ntest);
	}
	print_metrics(fig, f, "oob", Ytr, oob, ntrain);
	if (fflush(fig) != 0 || ferror(fig))
		mr_fatal(prog, MR_EXIT_IO, "stdout: write error");

	mr_forest_free(f);
	free(P); free(oob); free(Xtr); free(Ytr); free(Xte); free(Yte);
	free(is_test); free(X); free(Y); free(G); free(row);
	for (size_t j = 0; j < nt; j++)
		free(ename[j]);
	free(ename); free(ecol); free(fcol); free(tcol); free(gcol);
	colset_free(&cols);
	free(fnames); free(tnames); free(gnames); free(targets);
	return MR_EXIT_OK;
}

/* ------------------------------------------------------------------------
 * predict
 */
#define PRED_CHUNK 4096

static int cmd_predict(int argc, char **argv)
{
	enum { O_THREADS = 256, O_SKIPBAD };
	static const struct option opts[] = {
		{"output", required_argument, 0, 'o'},
		{"threads", required_argument, 0, O_THREADS},
		{"skip-bad", no_argument, 0, O_SKIPBAD},
		{"quiet", no_argument, 0, 'q'},
		{"help", no_argument, 0, 'h'},
		{"version", no_argument, 0, 'V'},
		{0, 0, 0, 0}};
	const char *output = "-";
	int threads = 1, skip_bad = 0, quiet = 0, c;
	mr_err e;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:qhV", opts, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case O_THREADS: threads = resolve_threads(mr_arg_int(prog, "--threads", optarg, 0, 1024)); break;
		case O_SKIPBAD: skip_bad = 1; break;
		case 'q': quiet = 1; break;
		case 'h': usage(stdout); exit(MR_EXIT_OK);
		case 'V': mr_print_version(prog); exit(MR_EXIT_OK);
		default: fprintf(stderr, "Try 'rf-fit --help'.\n"); exit(MR_EXIT_USAGE);
		}
	}
	if (optind != argc - 1 && optind != argc - 2)
		mr_usage_error(prog, "predict: expected MODEL [CSV|-]");
	const char *mpath = argv[optind];
	const char *in = optind == argc - 2 ? argv[optind + 1] : "-";
	mr_forest *f = mr_forest_load(mpath, &e);
	if (!f)
		mr_die(prog, &e);
	size_t F = mr_forest_nfeatures(f), T = mr_forest_ntargets(f);

	mr_csv_reader *r = mr_csv_open(in, NULL, 0, skip_bad, &e);
	if (!r)
		mr_die(prog, &e);
	size_t C = mr_csv_ncols(r);
	size_t *fcol = mr_xcalloc(F, sizeof *fcol);
	for (size_t i = 0; i < F; i++) {
		const char *fn = mr_forest_feature_name(f, i);
		size_t k = 0;
		while (k < C && strcmp(mr_csv_colname(r, k), fn) != 0)
			k++;
		if (k == C)
			mr_fatal(prog, MR_EXIT_DATA,
				 "%s: no column '%s' in the header (the model %s needs it)",
				 strcmp(in, "-") == 0 ? "<stdin>" : in, fn, mpath);
		fcol[i] = k;
	}
	/* From a pipe, answer row by row (a control loop waits for it); from
	 * a file, predict in chunks. */
	struct stat st;
	int chunked = strcmp(in, "-") == 0 ? (fstat(0, &st) == 0 && S_ISREG(st.st_mode))
					   : 1;
	size_t chunk = chunked ? PRED_CHUNK : 1;

	mr_out out;
	if (mr_out_open(&out, output, &e) != 0)
		mr_die(prog, &e);
	for (size_t k = 0; k < C; k++)
		fprintf(out.f, "%s%s", k ? "," : "", mr_csv_colname(r, k));
	for (size_t j = 0; j < T; j++)
		fprintf(out.f, ",%s_pred", mr_forest_target_name(f, j));
	fputc('\n', out.f);

	double *rows = mr_xcalloc(chunk * C, sizeof *rows);
	double *X = mr_xcalloc(chunk * F, sizeof *X), *P = mr_xcalloc(chunk * T, sizeof *P);
	size_t total = 0, outside = 0, line;
	int rc = 1;
	while (rc == 1) {
		size_t m = 0;
		while (m < chunk && (rc = mr_csv_next(r, rows + m * C, &line, &e)) == 1)
			m++;
		if (rc < 0) {
			mr_out_abort(&out);
			mr_die(prog, &e);
		}
		for (size_t i = 0; i < m; i++) {
			int out_of_range = 0;
			for (size_t q = 0; q < F; q++) {
				double x = rows[i * C + fcol[q]];
				X[i * F + q] = x;
				out_of_range |= x < mr_forest_feature_min(f, q) ||
						x > mr_forest_feature_max(f, q);
			}
			outside += out_of_range;
		}
		if (m == 1)
			mr_forest_predict(f, X, P);
		else if (m > 1)
			mr_forest_predict_batch(f, X, m, P, threads);
		char nb[32];
		for (size_t i = 0; i < m; i++) {
			for (size_t k = 0; k < C; k++)
				fprintf(out.f, "%s%s", k ? "," : "",
					mr_fmt_double(nb, rows[i * C + k]));
			for (size_t j = 0; j < T; j++)
				fprintf(out.f, ",%s", mr_fmt_double(nb, P[i * T + j]));
			fputc('\n', out.f);
		}
		if (!chunked)
			fflush(out.f);
		total += m;
	}
	size_t skipped = mr_csv_skipped(r);
	mr_csv_close(r);
	if (mr_out_commit(&out, &e) != 0)
		mr_die(prog, &e);
	if (skipped)
		fprintf(stderr, "%s: skipped %zu bad row%s (--skip-bad)\n", prog,
			skipped, skipped == 1 ? "" : "s");
	if (outside && !quiet)
		fprintf(stderr,
			"%s: warning: %zu of %zu rows have a feature outside the training range (extrapolation)\n",
			prog, outside, total);
	free(rows); free(X); free(P); free(fcol);
	mr_forest_free(f);
	return MR_EXIT_OK;
}

/* ------------------------------------------------------------------------
 * info
 */
static int cmd_info(int argc, char **argv)
{
	if (argc != 2 || (argv[1][0] == '-' && argv[1][1])) {
		if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
			usage(stdout);
			return MR_EXIT_OK;
		}
		mr_usage_error(prog, "info: expected MODEL");
	}
	mr_err e;
	mr_forest *f = mr_forest_load(argv[1], &e);
	if (!f)
		mr_die(prog, &e);
	const mr_forest_params *p = mr_forest_get_params(f);
	char a[32], b[32];
	printf("format rf-forest version 1\n");
	printf("trees %zu, nodes %zu, training rows %zu, min_leaf %d, max_depth %d, max_features %g, seed %llu\n",
	       mr_forest_ntrees(f), mr_forest_nnodes(f), mr_forest_train_rows(f),
	       p->min_leaf, p->max_depth, p->max_features,
	       (unsigned long long)p->seed);
	for (size_t i = 0; i < mr_forest_nfeatures(f); i++)
		printf("feature %s %s..%s\n", mr_forest_feature_name(f, i),
		       mr_fmt_double(a, mr_forest_feature_min(f, i)),
		       mr_fmt_double(b, mr_forest_feature_max(f, i)));
	for (size_t j = 0; j < mr_forest_ntargets(f); j++)
		printf("target %s\n", mr_forest_target_name(f, j));
	mr_forest_free(f);
	return MR_EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return MR_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		usage(stdout);
		return MR_EXIT_OK;
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		mr_print_version(prog);
		return MR_EXIT_OK;
	}
	if (!strcmp(cmd, "fit"))
		return cmd_fit(argc - 1, argv + 1);
	if (!strcmp(cmd, "predict"))
		return cmd_predict(argc - 1, argv + 1);
	if (!strcmp(cmd, "info"))
		return cmd_info(argc - 1, argv + 1);
	mr_usage_error(prog, "unknown command '%s' (fit, predict or info)", cmd);
}
