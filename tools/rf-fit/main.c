/*
 * rf-fit - learn a random-forest system model from trace CSV columns chosen
 * by name, report its accuracy, and predict with it.
 *
 *   rf-fit fit --features a,b --target d [...] -o MODEL TRACE.csv
 *   rf-fit predict MODEL [CSV|-]
 *
 * fit drops rows with no successful responses (see empty_column) because
 * their delay of 0 is not a measurement, or with --empty-delay keeps them
 * with the delay a client would have waited; it derives ratio columns
 * (--ratio), splits rows into train and test (at random, or whole
 * configurations with --group-by), fits on train, and prints
 * target,split,rows,r2,nmae for train, test and out-of-bag rows, and with
 * --cv for every row held out of a fold's forest.
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

#include "fit_rows.h"
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
		"  target,split,rows,r2,nmae   (split: train, test, oob, cv;\n"
		"                              NMAE = mean|err|/mean(y))\n"
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
		"      --allow-negative    keep negative delay targets (d<i>...); by default\n"
		"                          one is bad data (file:line: column)\n"
		"      --keep-empty        keep rows with no successful responses (dropped by\n"
		"                          default: a target d<i>[<j>][_x] row is dropped when\n"
		"                          the trace has a column cl<i> and it is 0)\n"
		"      --empty-delay S     keep those rows and set their delay targets to S\n"
		"                          seconds instead (a window that answered nothing:\n"
		"                          its requests waited at least the client timeout);\n"
		"                          the rows are counted on stderr\n"
		"      --ratio N=A/B       a derived target column N = A / B per row (A, B\n"
		"                          trace columns, N named in --target and not a trace\n"
		"                          column), e.g. served1=cl1/l1; rows with B = 0 are\n"
		"                          dropped and counted. Repeatable\n"
		"      --cv K              grouped K-fold cross-validation: the groups of\n"
		"                          --group-by (else single rows) are dealt to K folds\n"
		"                          at random (--seed); K more forests are each fitted\n"
		"                          without one fold, and their predictions of the\n"
		"                          held-out rows, pooled, give the split cv. Needs\n"
		"                          --test-frac 0: the model is fitted on every row\n"
		"  -o, --output MODEL      model file to write (required; '-' writes it to\n"
		"                          stdout and the figures to stderr)\n"
		"\n"
		"predict: print the input rows (all columns) with one column <target>_pred\n"
		"per target; the model's feature columns are found by name. Rows outside\n"
		"the training range of a feature are counted and reported on stderr.\n"
		"  -o, --output OUT        output CSV (stdout)\n"
		"      --threads N         threads for large inputs (1)\n"
		"      --skip-bad          skip bad rows instead of stopping\n"
		"      --trees             every tree's prediction instead of the mean:\n"
		"                          columns <target>_tree<k>, tree by tree (their\n"
		"                          spread, or quantiles as [model] risk takes them)\n"
		"\n"
		"info: print a model's features (with training ranges), targets and size.\n"
		"\n"
		"common: -q, --quiet (no progress; counts of dropped or skipped rows still\n"
		"        print), -h, --help, -V, --version\n"
		"The output may not be an input file (refused, exit 2). A target whose\n"
		"squared values overflow double arithmetic is bad data.\n"
		"exit codes: 0 ok, 1 failure, 2 usage, 3 bad data, 4 I/O, 130 interrupted\n"
		"(the output is left as it was)\n"
		"\n"
		"example:\n"
		"  rf-fit fit --features max_l1,l1,cl1,p1,b1,c1 --target d1 --seed 1 \\\n"
		"      -o models/delay/system.msgpack traces/delay.csv\n"
		"  rf-fit predict models/delay/system.msgpack traces/delay.csv | head\n"
		"  rf-fit fit --features max_l1,p1,b1,c1 --target d1,served1 \\\n"
		"      --ratio served1=cl1/l1 --empty-delay 20 --test-frac 0 --cv 5 \\\n"
		"      --group-by max_l1,p1,b1,c1 -o model.msgpack trace.csv\n");
}

static int resolve_threads(long n)
{
	if (n > 0)
		return (int)n;
	long c = sysconf(_SC_NPROCESSORS_ONLN);
	return c > 0 ? (int)c : 1;
}

/* ------------------------------------------------------------------------
 * fit: column bookkeeping (every column is read once, whatever roles it
 * has) and the column that tells empty rows.
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
 * fit: the command line.
 */
typedef struct {
	mr_forest_params p;
	const char *features, *groupby, *output;
	char *targets; /* comma list built from every --target */
	double test_frac;
	int skip_bad, keep_empty, quiet;
	int allow_negative; /* --allow-negative: negative delays are data */
	int has_empty_delay;
	double empty_delay; /* --empty-delay: a no-response window's delay */
	size_t cv_folds;    /* --cv K, 0: none */
	rf_ratio *ratios;   /* --ratio, in order */
	size_t nratio;
	const char *path, *name; /* the trace, and its name in messages */
	char **fnames, **tnames, **gnames; /* the lists, split */
	size_t nf, nt, ng;
} fit_opts;

/* Appends --target's list to the comma list o->targets. */
static void add_targets(fit_opts *o, const char *list)
{
	size_t old = o->targets ? strlen(o->targets) : 0;
	o->targets = mr_xrealloc(o->targets, old + strlen(list) + 2, 1);
	if (old)
		o->targets[old++] = ',';
	strcpy(o->targets + old, list);
}

/* Appends one --ratio. */
static void add_ratio(fit_opts *o, const char *arg)
{
	mr_err e;
	rf_ratio r;
	if (rf_ratio_parse(arg, &r, &e) != 0)
		mr_usage_error(prog, "--ratio: %s", e.msg);
	for (size_t k = 0; k < o->nratio; k++)
		if (strcmp(o->ratios[k].name, r.name) == 0)
			mr_usage_error(prog, "--ratio: '%s' given twice", r.name);
	o->ratios = mr_xrealloc(o->ratios, o->nratio + 1, sizeof *o->ratios);
	o->ratios[o->nratio++] = r;
}

static int in_names(char **names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

/* A --ratio column is a target, and only a target (the model's features
 * must be columns a caller of predict has). */
static void check_ratios(const fit_opts *o)
{
	for (size_t k = 0; k < o->nratio; k++) {
		const char *n = o->ratios[k].name;
		if (in_names(o->fnames, o->nf, n) ||
		    in_names(o->gnames, o->ng, n))
			mr_usage_error(prog,
				       "--ratio: '%s' is a derived target; it cannot be a feature or a --group-by column",
				       n);
		if (!in_names(o->tnames, o->nt, n))
			mr_usage_error(prog,
				       "--ratio: '%s' is not among the --target columns",
				       n);
	}
}

/* Splits the column lists into names; a usage error when one is bad or a
 * target is also a feature. */
static void split_fit_lists(fit_opts *o)
{
	mr_err e;
	o->fnames = mr_split_names(o->features, &o->nf, &e);
	if (!o->fnames)
		mr_usage_error(prog, "--features: %s", e.msg);
	o->tnames = mr_split_names(o->targets, &o->nt, &e);
	if (!o->tnames)
		mr_usage_error(prog, "--target: %s", e.msg);
	if (o->groupby &&
	    !(o->gnames = mr_split_names(o->groupby, &o->ng, &e)))
		mr_usage_error(prog, "--group-by: %s", e.msg);
	for (size_t j = 0; j < o->nt; j++)
		for (size_t i = 0; i < o->nf; i++)
			if (strcmp(o->tnames[j], o->fnames[i]) == 0)
				mr_usage_error(prog,
					       "'%s' is both a feature and a target",
					       o->tnames[j]);
	check_ratios(o);
}

static void parse_fit_opts(int argc, char **argv, fit_opts *o)
{
	enum { O_TREES = 256, O_MINLEAF, O_MAXDEPTH, O_MAXFEAT, O_SEED,
	       O_THREADS, O_TESTFRAC, O_GROUPBY, O_SKIPBAD, O_KEEPEMPTY,
	       O_EMPTYDELAY, O_RATIO, O_CV, O_ALLOWNEG };
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
		{"allow-negative", no_argument, 0, O_ALLOWNEG},
		{"empty-delay", required_argument, 0, O_EMPTYDELAY},
		{"ratio", required_argument, 0, O_RATIO},
		{"cv", required_argument, 0, O_CV},
		{"output", required_argument, 0, 'o'},
		{"quiet", no_argument, 0, 'q'},
		{"help", no_argument, 0, 'h'},
		{"version", no_argument, 0, 'V'},
		{0, 0, 0, 0}};
	*o = (fit_opts){.test_frac = 0.2};
	mr_forest_params *p = &o->p;
	mr_forest_params_default(p);
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:t:o:qhV", opts, NULL)) != -1) {
		switch (c) {
		case 'f': o->features = optarg; break;
		case 't': add_targets(o, optarg); break;
		case O_TREES: p->ntrees = (int)mr_arg_int(prog, "--trees", optarg, 1, 100000); break;
		case O_MINLEAF: p->min_leaf = (int)mr_arg_int(prog, "--min-leaf", optarg, 1, INT32_MAX); break;
		case O_MAXDEPTH: p->max_depth = (int)mr_arg_int(prog, "--max-depth", optarg, 0, INT32_MAX); break;
		case O_MAXFEAT:
			p->max_features = mr_arg_double(prog, "--max-features", optarg, -DBL_MAX, DBL_MAX);
			if (!(p->max_features > 0 && p->max_features <= 1))
				mr_usage_error(prog, "--max-features: '%s' is not in (0,1]", optarg);
			break;
		case O_SEED: p->seed = mr_arg_u64(prog, "--seed", optarg); break;
		case O_THREADS: p->threads = resolve_threads(mr_arg_int(prog, "--threads", optarg, 0, 1024)); break;
		case O_TESTFRAC:
			o->test_frac = mr_arg_double(prog, "--test-frac", optarg, -DBL_MAX, DBL_MAX);
			if (!(o->test_frac >= 0 && o->test_frac < 1))
				mr_usage_error(prog, "--test-frac: '%s' is not in [0,1)", optarg);
			break;
		case O_GROUPBY: o->groupby = optarg; break;
		case O_SKIPBAD: o->skip_bad = 1; break;
		case O_KEEPEMPTY: o->keep_empty = 1; break;
		case O_ALLOWNEG: o->allow_negative = 1; break;
		case O_EMPTYDELAY:
			o->empty_delay = mr_arg_double(prog, "--empty-delay", optarg, -DBL_MAX, DBL_MAX);
			if (!(o->empty_delay > 0))
				mr_usage_error(prog, "--empty-delay: '%s' is not a positive number of seconds", optarg);
			o->has_empty_delay = 1;
			break;
		case O_RATIO: add_ratio(o, optarg); break;
		case O_CV: o->cv_folds = (size_t)mr_arg_int(prog, "--cv", optarg, 2, 1000); break;
		case 'o': o->output = optarg; break;
		case 'q': o->quiet = 1; break;
		case 'h': usage(stdout); exit(MR_EXIT_OK);
		case 'V': mr_print_version(prog); exit(MR_EXIT_OK);
		default: fprintf(stderr, "Try 'rf-fit --help'.\n"); exit(MR_EXIT_USAGE);
		}
	}
	if (!o->features)
		mr_usage_error(prog, "fit: --features is required");
	if (!o->targets)
		mr_usage_error(prog, "fit: at least one --target is required");
	if (!o->output)
		mr_usage_error(prog, "fit: -o MODEL is required");
	if (optind != argc - 1)
		mr_usage_error(prog, "fit: expected exactly one trace file");
	if (o->keep_empty && o->has_empty_delay)
		mr_usage_error(prog,
			       "--keep-empty and --empty-delay exclude each other (d = 0 or d = S for rows with no successful responses)");
	if (o->cv_folds && o->test_frac != 0)
		mr_usage_error(prog,
			       "--cv: needs --test-frac 0 (the model is fitted on every row; the folds give the held-out figures)");
	o->path = argv[optind];
	o->name = strcmp(o->path, "-") == 0 ? "<stdin>" : o->path;
	mr_err e;
	if (mr_out_check_distinct(o->output, o->path, &e) != 0)
		mr_usage_error(prog, "-o %s", e.msg);
	split_fit_lists(o);
}

static void fit_opts_free(fit_opts *o)
{
	free(o->fnames);
	free(o->tnames);
	free(o->gnames);
	free(o->targets);
	for (size_t k = 0; k < o->nratio; k++)
		rf_ratio_free(&o->ratios[k]);
	free(o->ratios);
}

/* ------------------------------------------------------------------------
 * fit: reading the trace.
 */
/* The columns a fit reads (each once, whatever roles it has) and where
 * each role finds its values in a row. */
typedef struct {
	colset cols;
	size_t *fcol, *tcol, *gcol;
	long *ecol;   /* per target: its empty-row column, -1: no check */
	char **ename; /* and that column's name */
	long *tratio; /* per target: its --ratio, -1: a trace column */
	size_t *rnum, *rden; /* per --ratio: its columns */
} fit_columns;

/* Refuses a --ratio whose name is a trace column or whose columns are not
 * in the trace (a data error, at the header). */
static void check_ratio_columns(const fit_opts *o, mr_csv_reader *r)
{
	for (size_t k = 0; k < o->nratio; k++) {
		const rf_ratio *q = &o->ratios[k];
		const char *missing = !header_has(r, q->num) ? q->num
				      : !header_has(r, q->den) ? q->den
				      : NULL;
		if (header_has(r, q->name))
			mr_fatal(prog, MR_EXIT_DATA,
				 "%s:1: --ratio %s=%s/%s: the trace already has a column '%s'",
				 o->name, q->name, q->num, q->den, q->name);
		if (missing)
			mr_fatal(prog, MR_EXIT_DATA,
				 "%s:1: --ratio %s=%s/%s: no column '%s' in the header",
				 o->name, q->name, q->num, q->den, missing);
	}
}

/* The --ratio a target is, or -1. */
static long ratio_of(const fit_opts *o, const char *target)
{
	for (size_t k = 0; k < o->nratio; k++)
		if (strcmp(o->ratios[k].name, target) == 0)
			return (long)k;
	return -1;
}

/* The columns to read, from the trace's header (which tells each target's
 * empty-row column, see empty_column; a --ratio target has none). */
static void plan_columns(const fit_opts *o, mr_csv_reader *r,
			 fit_columns *c)
{
	check_ratio_columns(o, r);
	*c = (fit_columns){0};
	c->fcol = mr_xcalloc(o->nf, sizeof *c->fcol);
	c->tcol = mr_xcalloc(o->nt, sizeof *c->tcol);
	c->gcol = mr_xcalloc(o->ng ? o->ng : 1, sizeof *c->gcol);
	c->ecol = mr_xcalloc(o->nt, sizeof *c->ecol);
	c->ename = mr_xcalloc(o->nt, sizeof *c->ename);
	c->tratio = mr_xcalloc(o->nt, sizeof *c->tratio);
	c->rnum = mr_xcalloc(o->nratio ? o->nratio : 1, sizeof *c->rnum);
	c->rden = mr_xcalloc(o->nratio ? o->nratio : 1, sizeof *c->rden);
	for (size_t i = 0; i < o->nf; i++)
		c->fcol[i] = colset_add(&c->cols, o->fnames[i]);
	for (size_t j = 0; j < o->nt; j++) {
		c->tratio[j] = ratio_of(o, o->tnames[j]);
		if (c->tratio[j] < 0)
			c->tcol[j] = colset_add(&c->cols, o->tnames[j]);
	}
	for (size_t k = 0; k < o->nratio; k++) {
		c->rnum[k] = colset_add(&c->cols, o->ratios[k].num);
		c->rden[k] = colset_add(&c->cols, o->ratios[k].den);
	}
	for (size_t g = 0; g < o->ng; g++)
		c->gcol[g] = colset_add(&c->cols, o->gnames[g]);
	for (size_t j = 0; j < o->nt; j++) {
		char *en = o->keep_empty || c->tratio[j] >= 0
				   ? NULL
				   : empty_column(r, o->tnames[j]);
		c->ename[j] = en;
		c->ecol[j] = en ? (long)colset_add(&c->cols, en) : -1;
	}
}

static void fit_columns_free(fit_columns *c, size_t nt)
{
	for (size_t j = 0; j < nt; j++)
		free(c->ename[j]);
	free(c->ename);
	free(c->ecol);
	free(c->fcol);
	free(c->tcol);
	free(c->gcol);
	free(c->tratio);
	free(c->rnum);
	free(c->rden);
	colset_free(&c->cols);
}

/* The rows a fit learns from: features X (n x nf), targets Y (n x nt) and
 * group keys G (n x ng). */
typedef struct {
	double *X, *Y, *G;
	size_t n;
} fit_rows;

/* What reading did to rows: dropped with no successful responses, dropped
 * with a --ratio denominator of 0, kept with --empty-delay's delay,
 * skipped with a negative delay (--skip-bad). */
typedef struct {
	size_t empty, zero_den, empty_set, negative;
} row_counts;

/* Per target, what its statistics need to stay finite: the sum of the
 * squares of its values, and where the largest value is. */
typedef struct {
	double sumsq, max_abs;
	size_t max_line;
} target_scale;

/* A reader of the trace in memory for the columns cols (none: the header
 * only); *fp is the stream to close after it. */
static mr_csv_reader *open_trace(const fit_opts *o, char *buf, size_t len,
				 const colset *cols, FILE **fp)
{
	static const char *const none[1] = {NULL};
	mr_err e;
	*fp = fmemopen(buf, len, "r");
	if (!*fp)
		mr_fatal(prog, MR_EXIT_IO, "%s: %s", o->name, strerror(errno));
	mr_csv_reader *r = mr_csv_open_stream(
		*fp, o->name, cols ? (const char *const *)cols->names : none,
		cols ? cols->n : 0, o->skip_bad, &e);
	if (!r)
		mr_die(prog, &e);
	return r;
}

/* Whether a trace row is learnt from: 0 when it has no successful
 * responses (an empty-row column at 0) and --empty-delay is not given, or
 * a --ratio denominator is 0 (counted in *n). */
static int row_kept(const fit_opts *o, const fit_columns *c,
		    const double *row, row_counts *n)
{
	for (size_t j = 0; j < o->nt; j++)
		if (c->ecol[j] >= 0 && row[c->ecol[j]] == 0 &&
		    !o->has_empty_delay) {
			n->empty++;
			return 0;
		}
	for (size_t k = 0; k < o->nratio; k++)
		if (row[c->rden[k]] == 0) {
			n->zero_den++;
			return 0;
		}
	return 1;
}

/* y (nt values) from a kept trace row: a trace column, a --ratio, or
 * --empty-delay for a delay with no successful responses. Returns 1 when
 * --empty-delay set one. */
static int row_targets(const fit_opts *o, const fit_columns *c,
		       const double *row, double *y)
{
	int set = 0;
	for (size_t j = 0; j < o->nt; j++) {
		long k = c->tratio[j];
		y[j] = k >= 0 ? row[c->rnum[k]] / row[c->rden[k]]
			      : row[c->tcol[j]];
		if (c->ecol[j] >= 0 && row[c->ecol[j]] == 0) {
			y[j] = o->empty_delay; /* kept: --empty-delay */
			set = 1;
		}
	}
	return set;
}

/* A delay target: d<digits>..., as empty_column reads names. */
static int is_delay(const char *name)
{
	return name[0] == 'd' && name[1] >= '0' && name[1] <= '9';
}

/* A delay cannot be negative (a clock or a collector's bug): a row with
 * one is bad data, or skipped with --skip-bad (returns 1, counted), or
 * kept with --allow-negative. */
/* 1: the row is skipped (--skip-bad), -1: bad data (e set), 0: fine. */
static int negative_delay(const fit_opts *o, const fit_columns *c,
			  const double *y, size_t line, row_counts *n,
			  mr_err *e)
{
	if (o->allow_negative)
		return 0;
	for (size_t j = 0; j < o->nt; j++) {
		if (c->tratio[j] >= 0 || !is_delay(o->tnames[j]) ||
		    !(y[j] < 0))
			continue;
		if (o->skip_bad) {
			n->negative++;
			return 1;
		}
		char b[32];
		return mr_errf(e, MR_EXIT_DATA,
			       "%s:%zu: column '%s': negative delay %s (--allow-negative keeps such rows)",
			       o->name, line, o->tnames[j],
			       mr_fmt_double(b, y[j]));
	}
	return 0;
}

static void track_scale(size_t nt, const double *y, size_t line,
			target_scale *sc)
{
	for (size_t j = 0; j < nt; j++) {
		sc[j].sumsq += y[j] * y[j];
		if (fabs(y[j]) > sc[j].max_abs) {
			sc[j].max_abs = fabs(y[j]);
			sc[j].max_line = line;
		}
	}
}

/* The statistics square the targets: (y - p)^2 <= 2 y^2 + 2 p^2 for any
 * prediction p, a mean of targets, so every sum of them stays finite
 * when 4 sum(y^2) does. A target beyond that is bad data, at its largest
 * value. */
static int check_scale(const fit_opts *o, const target_scale *sc, mr_err *e)
{
	for (size_t j = 0; j < o->nt; j++) {
		if (isfinite(4 * sc[j].sumsq))
			continue;
		char b[32];
		return mr_errf(e, MR_EXIT_DATA,
			       "%s:%zu: column '%s': %s is too large: the squares of the target's values overflow double arithmetic (r2, nmae and the forest's split criterion would not be finite)",
			       o->name, sc[j].max_line, o->tnames[j],
			       mr_fmt_double(b, sc[j].max_abs));
	}
	return 0;
}

/* Reads every row into rows but those row_kept refuses; counts in *n. */
static void read_rows(const fit_opts *o, mr_csv_reader *r,
		      const fit_columns *c, fit_rows *rows, row_counts *cnt)
{
	size_t nf = o->nf, nt = o->nt, ng = o->ng;
	size_t cap = 1024, n = 0;
	double *X = mr_xcalloc(cap * nf, sizeof *X), *Y = mr_xcalloc(cap * nt, sizeof *Y);
	double *G = mr_xcalloc(cap * (ng ? ng : 1), sizeof *G);
	double *row = mr_xcalloc(c->cols.n, sizeof *row);
	double *y = mr_xcalloc(nt, sizeof *y);
	target_scale *sc = mr_xcalloc(nt, sizeof *sc);
	size_t line;
	int rc;
	mr_err e;
	*cnt = (row_counts){0};
	while ((rc = mr_csv_next(r, row, &line, &e)) == 1) {
		if (!row_kept(o, c, row, cnt))
			continue;
		int set = row_targets(o, c, row, y);
		int neg = negative_delay(o, c, y, line, cnt, &e);
		if (neg < 0)
			break;
		if (neg)
			continue;
		cnt->empty_set += set;
		track_scale(nt, y, line, sc);
		if (n == cap) {
			cap *= 2;
			X = mr_xrealloc(X, cap * nf, sizeof *X);
			Y = mr_xrealloc(Y, cap * nt, sizeof *Y);
			G = mr_xrealloc(G, cap * (ng ? ng : 1), sizeof *G);
		}
		for (size_t i = 0; i < nf; i++)
			X[n * nf + i] = row[c->fcol[i]];
		memcpy(Y + n * nt, y, nt * sizeof *y);
		for (size_t g = 0; g < ng; g++)
			G[n * ng + g] = row[c->gcol[g]];
		n++;
	}
	/* bad data: everything freed before the exit (a leak checker must
	 * see none on this path either) */
	/* rc 1: the loop stopped at a negative delay */
	int bad = rc < 0 || rc == 1 || check_scale(o, sc, &e) != 0;
	free(row);
	free(y);
	free(sc);
	if (bad) {
		free(X);
		free(Y);
		free(G);
		mr_die(prog, &e);
	}
	*rows = (fit_rows){X, Y, G, n};
}

/* "cl1 = 0 or cl2 = 0": the empty-row columns that decide. */
static void empty_conditions(const fit_opts *o, const fit_columns *c,
			     char *which, size_t size)
{
	which[0] = 0;
	for (size_t j = 0; j < o->nt; j++) {
		if (!c->ename[j] || strstr(which, c->ename[j]))
			continue;
		size_t l = strlen(which);
		snprintf(which + l, size - l, "%s%s = 0", l ? " or " : "",
			 c->ename[j]);
	}
}

/* Says how many rows were dropped or changed, and why: no successful
 * responses (naming the columns that decided), a --ratio denominator of
 * 0, or a delay set by --empty-delay. */
static void report_rows(const fit_opts *o, const fit_columns *c,
			const row_counts *n, size_t kept)
{
	char which[256];
	size_t total = n->empty + n->zero_den + n->negative + kept;
	empty_conditions(o, c, which, sizeof which);
	if (n->empty)
		fprintf(stderr,
			"%s: %s: dropped %zu of %zu rows with no successful responses (%s); --keep-empty keeps them\n",
			prog, o->name, n->empty, total, which);
	if (n->empty_set)
		fprintf(stderr,
			"%s: %s: %zu of %zu rows have no successful responses (%s): their delay targets set to %g s (--empty-delay)\n",
			prog, o->name, n->empty_set, total, which,
			o->empty_delay);
	if (o->has_empty_delay && !which[0])
		fprintf(stderr,
			"%s: warning: --empty-delay: no target is a delay d<i>... with a column cl<i> in %s; it changes nothing\n",
			prog, o->name);
	if (!n->zero_den)
		return;
	which[0] = 0;
	for (size_t k = 0; k < o->nratio; k++) {
		size_t l = strlen(which);
		snprintf(which + l, sizeof which - l, "%s%s = 0",
			 l ? " or " : "", o->ratios[k].den);
	}
	fprintf(stderr,
		"%s: %s: dropped %zu of %zu rows where a --ratio denominator is 0 (%s)\n",
		prog, o->name, n->zero_den, total, which);
}

/* The rows to learn from. The whole trace is read into memory (works for
 * "-" too) and parsed twice: once for the header, once for the columns
 * this run needs. */
static void load_trace(const fit_opts *o, fit_rows *rows)
{
	char *buf;
	size_t len;
	mr_err e;
	if (mr_read_file(o->path, &buf, &len, 0, &e) != 0)
		mr_die(prog, &e);
	if (len == 0)
		mr_fatal(prog, MR_EXIT_DATA, "%s: empty input, no header row",
			 o->name);
	FILE *fp;
	mr_csv_reader *r = open_trace(o, buf, len, NULL, &fp);
	fit_columns c;
	plan_columns(o, r, &c);
	mr_csv_close(r);
	fclose(fp);

	r = open_trace(o, buf, len, &c.cols, &fp);
	row_counts cnt;
	read_rows(o, r, &c, rows, &cnt);
	size_t skipped = mr_csv_skipped(r);
	mr_csv_close(r);
	fclose(fp);
	free(buf);
	if (skipped)
		fprintf(stderr, "%s: %s: skipped %zu bad row%s (--skip-bad)\n",
			prog, o->name, skipped, skipped == 1 ? "" : "s");
	if (cnt.negative)
		fprintf(stderr,
			"%s: %s: skipped %zu row%s with a negative delay (--skip-bad)\n",
			prog, o->name, cnt.negative,
			cnt.negative == 1 ? "" : "s");
	report_rows(o, &c, &cnt, rows->n);
	fit_columns_free(&c, o->nt);
	if (rows->n == 0)
		mr_fatal(prog, MR_EXIT_DATA, "%s: no rows to fit", o->name);
}

static void fit_rows_free(fit_rows *rows)
{
	free(rows->X);
	free(rows->Y);
	free(rows->G);
}

/* ------------------------------------------------------------------------
 * fit: the train/test split (rf_make_split, fit_rows.c).
 */
/* Rows of features and targets: a side of the split. */
typedef struct {
	double *X, *Y;
	size_t n;
} xy_rows;

/* Splits rows into train and test (rf_make_split) and says how; a side that
 * must not be empty is an error. */
static void split_rows(const fit_opts *o, const fit_rows *rows,
		       xy_rows *train, xy_rows *test)
{
	size_t n = rows->n, nf = o->nf, nt = o->nt, ngroups;
	unsigned char *is_test = mr_xcalloc(n, 1);
	size_t ntest = rf_make_split(n, o->test_frac, o->ng ? rows->G : NULL,
				  o->ng, o->p.seed, is_test, &ngroups);
	size_t ntrain = n - ntest;
	if (ntrain == 0)
		mr_fatal(prog, MR_EXIT_DATA,
			 "%s: no rows left to train on after the test split",
			 o->name);
	if (o->test_frac > 0 && ntest == 0)
		mr_fatal(prog, MR_EXIT_DATA, "%s: the test split is empty",
			 o->name);
	*train = (xy_rows){mr_xcalloc(ntrain * nf, sizeof(double)),
			   mr_xcalloc(ntrain * nt, sizeof(double)), ntrain};
	*test = (xy_rows){mr_xcalloc(ntest * nf, sizeof(double)),
			  mr_xcalloc(ntest * nt, sizeof(double)), ntest};
	for (size_t i = 0, a = 0, b = 0; i < n; i++) {
		xy_rows *side = is_test[i] ? test : train;
		size_t k = is_test[i] ? b++ : a++;
		memcpy(side->X + k * nf, rows->X + i * nf, nf * sizeof(double));
		memcpy(side->Y + k * nt, rows->Y + i * nt, nt * sizeof(double));
	}
	free(is_test);
	if (o->quiet)
		return;
	if (o->ng)
		fprintf(stderr,
			"%s: %zu rows in %zu groups: %zu train, %zu test\n",
			prog, n, ngroups, ntrain, ntest);
	else
		fprintf(stderr, "%s: %zu rows: %zu train, %zu test\n", prog, n,
			ntrain, ntest);
}

static void xy_rows_free(xy_rows *r)
{
	free(r->X);
	free(r->Y);
}

/* ------------------------------------------------------------------------
 * fit: the forest and its figures.
 */
static void fit_progress(void *ctx, int done, int total)
{
	(void)total;
	mr_progress_update(ctx, done, NULL);
}

/* Fits the forest on train (oob gets the out-of-bag predictions). The
 * model file is opened first, so that a bad path fails before a long fit;
 * write_model fills it once the figures are known. */
static mr_forest *fit_forest(const fit_opts *o, const xy_rows *train,
			     double *oob, mr_out *model_out)
{
	mr_err e;
	if (mr_out_open(model_out, o->output, &e) != 0)
		mr_die(prog, &e);
	mr_progress bar;
	mr_progress_init(&bar, "fit", o->p.ntrees, o->quiet);
	mr_forest_params p = o->p;
	p.progress = fit_progress;
	p.progress_ctx = &bar;
	double t0 = mr_now();
	mr_forest *f = mr_forest_fit(train->X, train->Y, train->n, o->nf, o->nt,
				     (const char *const *)o->fnames,
				     (const char *const *)o->tnames, &p, oob,
				     &e);
	if (!f) {
		mr_out_abort(model_out);
		mr_die(prog, &e);
	}
	char extra[64];
	snprintf(extra, sizeof extra, "%zu nodes in %.2f s",
		 mr_forest_nnodes(f), mr_now() - t0);
	mr_progress_done(&bar, extra);
	return f;
}

static void write_model(const mr_forest *f, mr_out *model_out)
{
	mr_err e;
	if (mr_forest_write(f, model_out->f, &e) != 0) {
		mr_out_abort(model_out);
		mr_die(prog, &e);
	}
	if (mr_out_commit(model_out, &e) != 0)
		mr_die(prog, &e);
}

/* Prints one line per target for rows where pred is not NaN. r2 is
 * undefined (nan) for a constant target, nmae for a mean of 0; a sum that
 * is not finite is an error (check_scale keeps the targets' from it). */
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
		if (!isfinite(sse) || !isfinite(sst) || !isfinite(sae) ||
		    (cnt && !isfinite(mean)))
			mr_fatal(prog, MR_EXIT_FAIL,
				 "target '%s', split %s: the sums of errors are not finite (a prediction or value overflows); no model written",
				 mr_forest_target_name(f, j), split);
		double r2 = sst > 0 ? 1 - sse / sst : NAN;
		double nmae = cnt && mean != 0 ? sae / (double)cnt / mean : NAN;
		fprintf(out, "%s,%s,%zu,%.6f,%.6f\n", mr_forest_target_name(f, j),
			split, cnt, r2, nmae);
	}
}

/* The figures: target,split,rows,r2,nmae for train, test (when there are
 * test rows), out-of-bag rows and held-out rows of --cv (cv, when not
 * NULL), into fig. */
static void print_report(FILE *fig, const fit_opts *o, const mr_forest *f,
			 const xy_rows *train, const xy_rows *test,
			 const double *oob, const double *cv)
{
	size_t most = train->n > test->n ? train->n : test->n;
	double *P = mr_xcalloc(most * o->nt, sizeof *P);
	fprintf(fig, "target,split,rows,r2,nmae\n");
	mr_forest_predict_batch(f, train->X, train->n, P, o->p.threads);
	print_metrics(fig, f, "train", train->Y, P, train->n);
	if (test->n) {
		mr_forest_predict_batch(f, test->X, test->n, P, o->p.threads);
		print_metrics(fig, f, "test", test->Y, P, test->n);
	}
	print_metrics(fig, f, "oob", train->Y, oob, train->n);
	if (cv)
		print_metrics(fig, f, "cv", train->Y, cv, train->n);
	free(P);
}

/* The model file, once its figures are computed (an error in them leaves
 * no model), then the figures: to stdout, or to stderr when the model
 * went to stdout. */
static void finish_fit(const fit_opts *o, const mr_forest *f,
		       mr_out *model_out, const xy_rows *train,
		       const xy_rows *test, const double *oob, const double *cv)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	if (!mem)
		mr_fatal(prog, MR_EXIT_IO, "cannot allocate the report");
	print_report(mem, o, f, train, test, oob, cv);
	if (fclose(mem) != 0)
		mr_fatal(prog, MR_EXIT_IO, "cannot allocate the report");
	write_model(f, model_out);
	FILE *fig = strcmp(o->output, "-") == 0 ? stderr : stdout;
	if (fwrite(text, 1, len, fig) != len || fflush(fig) != 0 ||
	    ferror(fig))
		mr_fatal(prog, MR_EXIT_IO, "stdout: write error");
	free(text);
}

/* ------------------------------------------------------------------------
 * fit: cross-validation (--cv).
 */
/* Each row's fold: whole groups of --group-by (else single rows). */
static size_t *cv_folds(const fit_opts *o, const fit_rows *rows)
{
	mr_err e;
	size_t ngroups, *fold = mr_xcalloc(rows->n, sizeof *fold);
	if (rf_cv_folds(rows->n, o->ng ? rows->G : NULL, o->ng, o->cv_folds,
			o->p.seed, fold, &ngroups, &e) != 0) {
		mr_err_prefix(&e, "%s: --cv %zu", o->name, o->cv_folds);
		mr_die(prog, &e);
	}
	if (!o->quiet)
		fprintf(stderr, "%s: cv: %zu %s in %zu folds\n", prog,
			ngroups, o->ng ? "groups" : "rows", o->cv_folds);
	return fold;
}

/* The held-out prediction of every row (rows: all of them, in the order
 * of fold). */
static double *cv_predictions(const fit_opts *o, const xy_rows *rows,
			      const size_t *fold)
{
	mr_err e;
	double *P = mr_xcalloc(rows->n * o->nt, sizeof *P);
	mr_progress bar;
	mr_progress_init(&bar, "cv", (double)o->p.ntrees * (double)o->cv_folds,
			 o->quiet);
	mr_forest_params p = o->p;
	p.progress = fit_progress;
	p.progress_ctx = &bar;
	if (rf_cv_predict(rows->X, rows->Y, rows->n, o->nf, o->nt,
			  (const char *const *)o->fnames,
			  (const char *const *)o->tnames, fold, o->cv_folds, &p,
			  P, &e) != 0)
		mr_die(prog, &e);
	mr_progress_done(&bar, NULL);
	return P;
}

/* ------------------------------------------------------------------------
 * fit
 */
static int cmd_fit(int argc, char **argv)
{
	fit_opts o;
	parse_fit_opts(argc, argv, &o);
	fit_rows rows;
	load_trace(&o, &rows);
	/* --cv needs --test-frac 0: train is every row, in this order */
	size_t *fold = o.cv_folds ? cv_folds(&o, &rows) : NULL;
	xy_rows train, test;
	split_rows(&o, &rows, &train, &test);
	fit_rows_free(&rows);
	double *oob = mr_xcalloc(train.n * o.nt, sizeof *oob);
	mr_out model_out;
	mr_forest *f = fit_forest(&o, &train, oob, &model_out);
	double *cv = fold ? cv_predictions(&o, &train, fold) : NULL;
	finish_fit(&o, f, &model_out, &train, &test, oob, cv);
	mr_forest_free(f);
	free(oob);
	free(cv);
	free(fold);
	xy_rows_free(&train);
	xy_rows_free(&test);
	fit_opts_free(&o);
	return MR_EXIT_OK;
}

/* ------------------------------------------------------------------------
 * predict
 */
#define PRED_CHUNK 4096

typedef struct {
	const char *output, *model, *in;
	int threads, skip_bad, quiet;
	int per_tree; /* --trees: every tree's prediction, not the mean */
} predict_opts;

static void parse_predict_opts(int argc, char **argv, predict_opts *o)
{
	enum { O_THREADS = 256, O_SKIPBAD, O_TREES };
	static const struct option opts[] = {
		{"output", required_argument, 0, 'o'},
		{"threads", required_argument, 0, O_THREADS},
		{"skip-bad", no_argument, 0, O_SKIPBAD},
		{"trees", no_argument, 0, O_TREES},
		{"quiet", no_argument, 0, 'q'},
		{"help", no_argument, 0, 'h'},
		{"version", no_argument, 0, 'V'},
		{0, 0, 0, 0}};
	*o = (predict_opts){.output = "-", .threads = 1};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:qhV", opts, NULL)) != -1) {
		switch (c) {
		case 'o': o->output = optarg; break;
		case O_THREADS: o->threads = resolve_threads(mr_arg_int(prog, "--threads", optarg, 0, 1024)); break;
		case O_SKIPBAD: o->skip_bad = 1; break;
		case O_TREES: o->per_tree = 1; break;
		case 'q': o->quiet = 1; break;
		case 'h': usage(stdout); exit(MR_EXIT_OK);
		case 'V': mr_print_version(prog); exit(MR_EXIT_OK);
		default: fprintf(stderr, "Try 'rf-fit --help'.\n"); exit(MR_EXIT_USAGE);
		}
	}
	if (optind != argc - 1 && optind != argc - 2)
		mr_usage_error(prog, "predict: expected MODEL [CSV|-]");
	o->model = argv[optind];
	o->in = optind == argc - 2 ? argv[optind + 1] : "-";
	mr_err e;
	if (mr_out_check_distinct(o->output, o->model, &e) != 0 ||
	    mr_out_check_distinct(o->output, o->in, &e) != 0)
		mr_usage_error(prog, "-o %s", e.msg);
}

/* The input column of each of the model's features, found by name. */
static size_t *feature_columns(const predict_opts *o, const mr_forest *f,
			       const mr_csv_reader *r)
{
	size_t F = mr_forest_nfeatures(f), C = mr_csv_ncols(r);
	size_t *fcol = mr_xcalloc(F, sizeof *fcol);
	for (size_t i = 0; i < F; i++) {
		const char *fn = mr_forest_feature_name(f, i);
		size_t k = 0;
		while (k < C && strcmp(mr_csv_colname(r, k), fn) != 0)
			k++;
		if (k == C)
			mr_fatal(prog, MR_EXIT_DATA,
				 "%s: no column '%s' in the header (the model %s needs it)",
				 strcmp(o->in, "-") == 0 ? "<stdin>" : o->in, fn,
				 o->model);
		fcol[i] = k;
	}
	return fcol;
}

/* A chunk of input rows and room for their features and predictions. */
typedef struct {
	double *rows, *X, *P; /* cap x C, cap x F, cap x T (x ntrees) */
	size_t cap, C;
	const size_t *fcol;
	int per_tree;
} pred_chunk;

/* Predicts the chunk's first m rows and prints each with its predictions.
 * Returns how many have a feature outside the training range. */
static size_t predict_chunk(const mr_forest *f, pred_chunk *ck, size_t m,
			    int threads, FILE *out)
{
	size_t F = mr_forest_nfeatures(f), T = mr_forest_ntargets(f);
	size_t C = ck->C, outside = 0;
	for (size_t i = 0; i < m; i++) {
		int out_of_range = 0;
		for (size_t q = 0; q < F; q++) {
			double x = ck->rows[i * C + ck->fcol[q]];
			ck->X[i * F + q] = x;
			out_of_range |= x < mr_forest_feature_min(f, q) ||
					x > mr_forest_feature_max(f, q);
		}
		outside += out_of_range;
	}
	/* --trees: ntrees x T values a row, tree by tree */
	size_t W = ck->per_tree ? mr_forest_ntrees(f) * T : T;
	if (ck->per_tree)
		for (size_t i = 0; i < m; i++)
			mr_forest_predict_trees(f, ck->X + i * F,
						ck->P + i * W);
	else if (m == 1)
		mr_forest_predict(f, ck->X, ck->P);
	else if (m > 1)
		mr_forest_predict_batch(f, ck->X, m, ck->P, threads);
	char nb[32];
	for (size_t i = 0; i < m; i++) {
		for (size_t k = 0; k < C; k++)
			fprintf(out, "%s%s", k ? "," : "",
				mr_fmt_double(nb, ck->rows[i * C + k]));
		for (size_t j = 0; j < W; j++)
			fprintf(out, ",%s", mr_fmt_double(nb, ck->P[i * W + j]));
		fputc('\n', out);
	}
	return outside;
}

static int cmd_predict(int argc, char **argv)
{
	predict_opts o;
	parse_predict_opts(argc, argv, &o);
	mr_err e;
	mr_forest *f = mr_forest_load(o.model, &e);
	if (!f)
		mr_die(prog, &e);
	size_t F = mr_forest_nfeatures(f), T = mr_forest_ntargets(f);
	mr_csv_reader *r = mr_csv_open(o.in, NULL, 0, o.skip_bad, &e);
	if (!r)
		mr_die(prog, &e);
	size_t C = mr_csv_ncols(r);
	size_t *fcol = feature_columns(&o, f, r);
	/* From a pipe, answer row by row (a control loop waits for it); from
	 * a file, predict in chunks. */
	struct stat st;
	int chunked = strcmp(o.in, "-") == 0
			      ? (fstat(0, &st) == 0 && S_ISREG(st.st_mode))
			      : 1;
	size_t cap = chunked ? PRED_CHUNK : 1;

	mr_out out;
	if (mr_out_open(&out, o.output, &e) != 0)
		mr_die(prog, &e);
	for (size_t k = 0; k < C; k++)
		fprintf(out.f, "%s%s", k ? "," : "", mr_csv_colname(r, k));
	size_t ntrees = o.per_tree ? mr_forest_ntrees(f) : 1;
	for (size_t t = 0; t < ntrees; t++)
		for (size_t j = 0; j < T; j++) {
			fprintf(out.f, ",%s_", mr_forest_target_name(f, j));
			if (o.per_tree)
				fprintf(out.f, "tree%zu", t);
			else
				fputs("pred", out.f);
		}
	fputc('\n', out.f);

	pred_chunk ck = {mr_xcalloc(cap * C, sizeof(double)),
			 mr_xcalloc(cap * F, sizeof(double)),
			 mr_xcalloc(cap * T * ntrees, sizeof(double)), cap, C,
			 fcol, o.per_tree};
	size_t total = 0, outside = 0, line;
	int rc = 1;
	while (rc == 1) {
		size_t m = 0;
		while (m < cap &&
		       (rc = mr_csv_next(r, ck.rows + m * C, &line, &e)) == 1)
			m++;
		if (rc < 0) {
			mr_out_abort(&out);
			mr_die(prog, &e);
		}
		outside += predict_chunk(f, &ck, m, o.threads, out.f);
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
	if (outside && !o.quiet)
		fprintf(stderr,
			"%s: warning: %zu of %zu rows have a feature outside the training range (extrapolation)\n",
			prog, outside, total);
	free(ck.rows);
	free(ck.X);
	free(ck.P);
	free(fcol);
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
	mr_exit_on_signal();
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
