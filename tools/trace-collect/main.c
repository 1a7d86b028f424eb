/*
 * trace-collect - open-loop load against a front node; one trace row per
 * monitoring window. Two modes:
 *
 *   plain  --stream SERVICE[:CLASS]=PATTERN ...: load for --duration (or
 *          until the patterns end, or forever with --follow); each row is
 *          written whole as soon as its window's answers are in.
 *   grid   --grid KEY=VALUES ...: for each configuration, apply it through
 *          actuate (linked: act_apply), settle, record --windows windows;
 *          a configuration's rows are appended together, so an interrupted
 *          sweep resumes (same command) without duplicates: configurations
 *          already in the trace are skipped. --adaptive picks each next
 *          configuration from a forest fitted on the trace so far
 *          (tc_adaptive.c); --budget stops a sweep in time.
 *
 * Not here: the engine (tc_engine.c), schemas (tc_schema.c), the mapping of
 * columns to testbed keys (actuate).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "actuate.h"
#include "tc.h"

static const char *prog = "trace-collect";

/* --adaptive: configurations collected at random before the first fit,
 * and the forest's size (small: it is refitted before every pick) */
#define ADAPT_INIT_CONFIGS 12
#define ADAPT_TREES 30

static void usage(FILE *f)
{
	fprintf(f,
"usage: trace-collect [options] --stream SPEC...          (plain)\n"
"       trace-collect [options] --schema S --control URL --grid SPEC...  (grid)\n"
"\n"
"Open-loop HTTP load (kept-alive connections) against a front\n"
"node, one CSV row per monitoring window. A request counts in the window in\n"
"which it was due to be sent; its latency runs from that due time (no\n"
"coordinated omission); 429s, other errors and timeouts are drops.\n"
"\n"
"load:\n"
"  -u, --url URL          front node (default http://127.0.0.1:8080)\n"
"  -s, --stream SPEC      SERVICE[:CLASS]=PATTERN, one per (service, class);\n"
"                         CLASS premium|freemium (header X-User-Class);\n"
"                         PATTERN constant:R | poisson:R | sin:L0,A,T\n"
"                         (Poisson, rate L0 + A sin(2 pi t/T)) |\n"
"                         file:PATH[,STEP] (a rate per line, STEP s each,\n"
"                         default the window)\n"
"      --timeout S        per request, from its due time (default 10): a\n"
"                         request not sent by then (waiting for a\n"
"                         connection) or not answered by then is a drop\n"
"      --max-inflight N   requests out at once; beyond: counted as drops\n"
"                         and reported (default 4096)\n"
"      --connections N    TCP connections at most, kept alive; requests\n"
"                         beyond wait for one, inside their latency\n"
"                         (default 256)\n"
"      --send-tick US     sends due within one tick go out together at its\n"
"                         end: fewer wake-ups, under US of lateness (default\n"
"                         200; 0: each at its own time)\n"
"      --sender S         own (HTTP/1.1 on epoll; plain http:// only) |\n"
"                         curl (libcurl multi) | auto (default: own where\n"
"                         the URL allows, else curl)\n"
"      --realtime P       run at real-time priority P (SCHED_FIFO, 1-99;\n"
"                         needs root or CAP_SYS_NICE, else a warning):\n"
"                         other jobs on the client's core cannot delay its\n"
"                         sends (default 0: normal priority)\n"
"      --pipeline N       own sender: requests out at once on one\n"
"                         connection, those due in one tick go out in one\n"
"                         write (default 1: no pipelining)\n"
"      --give-up N        exit 5 after N windows in a row in which the\n"
"                         target could not be reached (connections\n"
"                         refused, host unknown; default 3; 0 = keep\n"
"                         going, such windows are rows of drops)\n"
"      --seed S           random arrivals and grid samples (default 1)\n"
"windows and output:\n"
"      --schema NAME      compute | info2 | classes | generic (default)\n"
"  -w, --window S         monitoring window (default 5; >= 0.05)\n"
"  -d, --duration S       plain: seconds of load (default: until the\n"
"                         patterns end, or until interrupted)\n"
"  -n, --windows N        windows per run (plain) or per configuration\n"
"                         (grid; default 5)\n"
"      --settle S         seconds of load before the first recorded window\n"
"                         (default 0 plain, 5 grid)\n"
"      --steady MAX       grid: after --settle, keep settling in 1 s steps\n"
"                         while the answers' mean latency rises (by more\n"
"                         than max(20 ms, 10 %%) a second) or the requests\n"
"                         out grow (max(2, 10 %%) in 2 s), at most MAX s:\n"
"                         an overloaded node's line fills until its waits\n"
"                         reach the front's timeout (default 0: no)\n"
"  -o, --output FILE      trace, appended; header written once and checked\n"
"                         (default -: stdout). Beside a file, FILE.meta\n"
"                         (key=value) says how it was made: command,\n"
"                         version, host, and with --node the nodes'\n"
"                         settings and CPU charged per request\n"
"      --node URL         a processing node (testbed's $TB_NODE1, $TB_NODE2;\n"
"                         repeatable, up to 2): its /health goes into\n"
"                         FILE.meta at the start and end of the run\n"
"      --util             plain: columns util1[,util2], each --node's CPU\n"
"                         utilisation in the window: the CPU it charged\n"
"                         (its /health cpu_s) over what its units allot\n"
"                         (units x unit), for the HPA baseline\n"
"      --follow           plain: rows to stdout as windows finish, until\n"
"                         SIGINT/SIGTERM (exit 0)\n"
"      --raw FILE         per-request log (msgpack: a header map, then one\n"
"                         array per request)\n"
"      --set COL=V        a configuration column's value (repeatable)\n"
"      --control URL      the testbed control API: plain mode reads the\n"
"                         configuration columns from it at each window;\n"
"                         grid mode applies configurations through it\n"
"      --env FILE         the testbed run folder's env file (testbed up\n"
"                         writes RUN/env): --url and --control (unless\n"
"                         given) and the control secret; without it the\n"
"                         secret comes from $TB_SECRET\n"
"      --insecure-http    send the secret over plain http:// to a control\n"
"                         host that is not loopback too\n"
"grid:\n"
"      --grid SPEC        KEY=VALUES[;KEY=VALUES...], repeatable; VALUES a\n"
"                         comma list or LO:HI[:STEP] ranges; KEYs are the\n"
"                         schema's load and action columns (first slowest)\n"
"      --apply K=V        actuate once before the sweep (any actuate key)\n"
"      --sample N         a random subset of N configurations (--seed)\n"
"      --grid-pattern P   poisson (default) or constant arrivals\n"
"      --budget T         the trace's time (e.g. 1800, 90s, 30m, 2h): at\n"
"                         most T / (settle + windows x window)\n"
"                         configurations in it (those there already count),\n"
"                         none started after T of this run\n"
"      --adaptive         each next configuration (of the grid, or of the\n"
"                         --sample) where a forest fitted on the trace so\n"
"                         far is least certain (its trees disagree, in\n"
"                         units of each target's spread) or, with --bound,\n"
"                         closest to a bound; random until the trace has\n"
"                         %d configurations' rows; needs -o FILE\n"
"      --bound COL<=V     an objective's bound on a trace column (repeatable,\n"
"                         up to %d; its column becomes a target, fitted\n"
"                         capped at 3 V: beyond, a miss is a miss)\n"
"      --targets A,B      columns the forest predicts (default: the schema's\n"
"                         mean delay columns)\n"
"  -q, --quiet            no progress or summary on stderr\n"
"  -h, --help, -V, --version\n"
"\n"
"Exit: 0 done, 2 usage, 3 bad trace file, 4 I/O, 5 the control API failed\n"
"or the target could not be reached (--give-up),\n"
"130 interrupted (rows already written stay whole; a grid resumes).\n"
"\n"
"examples:\n"
"  trace-collect -u $TB_URL -s compute:premium=poisson:8 -w 1 -d 10\n"
"  trace-collect --env run/tb/env --schema compute \\\n"
"    --grid 'max_l1=4,8,12;p1=0:100:20;c1=1:5' -w 2 -n 3 --settle 4 \\\n"
"    --node $TB_NODE1 --node $TB_NODE2 -o traces/compute.csv\n"
"  trace-collect --env run/tb/env --schema info2 --grid 'max_l1=5,10,15,20;\n"
"    max_l2=5,10,15,20;p11=0:0.8:0.2;p21=0:0.8:0.2;b1=0:0.8:0.2;b2=0:0.8:0.2;\n"
"    c1=1;c2=1' --adaptive --budget 30m --bound d11\\<=0.04 -o t.csv\n",
		ADAPT_INIT_CONFIGS, TC_MAX_BOUNDS);
}


/* Exits with e's message: as a bad command line (with the hint to --help)
 * when the command line is at fault, else as it is. */
static _Noreturn void die(const mr_err *e)
{
	if (e->code == MR_EXIT_USAGE)
		mr_usage_error(prog, "%s", e->msg);
	mr_die(prog, e);
}

typedef struct {
	const char *url, *control, *out, *raw, *schema;
	const char *secret; /* of the control API, or NULL */
	int insecure_http, give_up;
	double window, settle, timeout, duration, send_tick;
	double steady; /* --steady: most s of settle added; 0 = none */
	int64_t nwin;
	uint64_t seed, sample;
	size_t max_inflight;
	long connections;
	int sender, pipeline;
	int quiet, constant, follow, util;
	int realtime; /* --realtime: SCHED_FIFO priority, 0 = normal */
	act_kv set[ACT_MAX_KV], apply[ACT_MAX_KV];
	size_t nset, napply;
	char *nodes[TC_MAX_NODES]; /* --node: recorded in the sidecar */
	size_t nnodes;
	double budget;             /* s, 0 = none */
	int adaptive;
	tc_bound bounds[TC_MAX_BOUNDS];
	size_t nbounds;
	const char *targets;       /* --targets, or NULL */
	int argc;
	char **argv;
} opts;

typedef struct {
	const tc_schema *schema;
	tc_trace *trace;
	double window;
	int quiet, follow;
	/* grid: rows of the configuration being finished */
	char *buf;
	size_t len, cap;
	uint64_t done, total;
	double budget_left;    /* s of --budget this run may use, or INFINITY */
	/* --steady: configurations settled, those cut at the limit, and the
	 * seconds of settle added in all */
	uint64_t steady_n, steady_cut;
	double steady_added;
	mr_progress prog;
	mr_err *err;
	int failed;
	/* plain: live configuration */
	act_target *act;
	double last_cfg[TC_MAX_CFG];
	/* --util: the nodes, and their CPU charged at the last reading */
	char *const *nodes;
	size_t nnodes;
	double util_cpu[TC_MAX_NODES], util_t[TC_MAX_NODES];
} run_ctx;

static void buf_add(run_ctx *c, const char *s, size_t n)
{
	if (c->len + n + 1 > c->cap) {
		c->cap = (c->len + n + 1) * 2;
		c->buf = mr_xrealloc(c->buf, c->cap, 1);
	}
	memcpy(c->buf + c->len, s, n);
	c->len += n;
}

/* --util: node k's utilisation since the last reading, the CPU it
 * charged (its /health cpu_s) over the CPU its units allot (units x unit
 * per second); NaN when it does not answer. */
static double node_util(run_ctx *c, size_t k)
{
	mesh_kv kv[32];
	mr_err e = {0};
	double now = mr_now();
	int n = tc_node_health(c->nodes[k], kv, 32, &e);
	double cpu = NAN, units = NAN, unit = NAN;
	for (int i = 0; i < n; i++) {
		if (!strcmp(kv[i].key, "cpu_s"))
			cpu = kv[i].val;
		else if (!strcmp(kv[i].key, "units"))
			units = kv[i].val;
		else if (!strcmp(kv[i].key, "unit"))
			unit = kv[i].val;
	}
	double u = (cpu - c->util_cpu[k]) /
		   ((now - c->util_t[k]) * units * unit);
	if (n < 0 && !c->quiet)
		fprintf(stderr, "%s: warning: --util: %s\n", prog, e.msg);
	c->util_cpu[k] = cpu;
	c->util_t[k] = now;
	return isfinite(u) && u >= 0 ? u : NAN;
}

static int on_plain_window(void *ud, tc_window *w)
{
	run_ctx *c = ud;
	char row[4096];
	for (size_t k = 0; k < c->nnodes; k++)
		w->util[k] = node_util(c, k);
	size_t n = tc_schema_row(c->schema, w, w->t1 - w->t0, row, sizeof row);
	if (tc_trace_write(c->trace, row, n, 0, c->err) != 0) {
		/* --follow: the reader closed the pipe, it has what it
		 * wanted; stop like an interrupt (exit 0), not an error */
		if (c->follow && errno == EPIPE)
			return 1;
		c->failed = 1;
		return 1;
	}
	return 0;
}

static int on_grid_window(void *ud, tc_window *w)
{
	run_ctx *c = ud;
	char row[4096];
	size_t n = tc_schema_row(c->schema, w, c->window, row, sizeof row);
	buf_add(c, row, n);
	if (w->last) {
		/* the configuration is complete: its rows in one write */
		if (tc_trace_write(c->trace, c->buf, c->len, 1, c->err) != 0) {
			c->failed = 1;
			return 1;
		}
		c->len = 0;
		c->done++;
		/* time left at the pace so far, never past the budget (the
		 * plan counts nominal settling: --steady's may be longer) */
		double el = mr_now() - c->prog.started;
		double left = el / (double)c->done *
			      (double)(c->total > c->done ? c->total - c->done
							  : 0);
		if (left > c->budget_left - el)
			left = fmax(0, c->budget_left - el);
		char extra[96];
		snprintf(extra, sizeof extra, "config %llu/%llu, ~%.0f %s left",
			 (unsigned long long)c->done,
			 (unsigned long long)c->total,
			 left < 120 ? ceil(left) : ceil(left / 60),
			 left < 120 ? "s" : "min");
		mr_progress_update(&c->prog, (double)c->done, extra);
	}
	return 0;
}

/* Reads the live configuration (plain mode, --control) into last_cfg. */
static int read_live(run_ctx *c, mr_err *e)
{
	act_kv cfg[128];
	int n = act_get_config(c->act, cfg, 128, e);
	if (n < 0)
		return -1;
	for (size_t j = 0; j < c->schema->ncfg; j++)
		if (act_config_column(c->schema->name, c->schema->cfg[j], cfg,
				      (size_t)n, NAN, &c->last_cfg[j], e) != 0)
			return -1;
	return 0;
}

static void on_open_live(void *ud, tc_window *w)
{
	run_ctx *c = ud;
	mr_err e = {0};
	if (read_live(c, &e) != 0 && !c->quiet)
		fprintf(stderr,
			"%s: warning: %s (window %lld keeps the last "
			"configuration read)\n",
			prog, e.msg, (long long)w->index);
	for (size_t j = 0; j < c->schema->ncfg; j++)
		if (w->cfg[j] == -INFINITY) /* not given with --set */
			w->cfg[j] = c->last_cfg[j];
}

/* Index of name among the schema's configuration columns, or -1. */
static int cfg_index(const tc_schema *s, const char *name)
{
	for (size_t j = 0; j < s->ncfg; j++)
		if (strcmp(s->cfg[j], name) == 0)
			return (int)j;
	return -1;
}

static int load_index(const tc_schema *s, const char *name)
{
	for (size_t i = 0; i < s->nstreams; i++)
		if (s->loads[i] && strcmp(s->loads[i], name) == 0)
			return (int)i;
	return -1;
}

static int in_grid(const tc_grid *g, const char *key)
{
	for (size_t k = 0; k < g->nkeys; k++)
		if (strcmp(g->keys[k], key) == 0)
			return 1;
	return 0;
}

/* The engine, with the per-request log when --raw asks for one. */
static tc_engine *open_engine(const opts *o, const tc_stream *streams,
			      size_t n, FILE **raw)
{
	*raw = NULL;
	if (o->raw && !(*raw = fopen(o->raw, "ab")))
		mr_fatal(prog, MR_EXIT_IO, "%s: %s", o->raw, strerror(errno));
	tc_engine_opts eo = {.url = o->url, .timeout = o->timeout,
			     .max_inflight = o->max_inflight, .seed = o->seed,
			     .rawlog = *raw, .quiet = o->quiet,
			     .connections = o->connections,
			     .give_up = o->give_up, .tick = o->send_tick,
			     .sender = o->sender, .pipeline = o->pipeline};
	mr_err e = {0};
	tc_engine *g = tc_engine_new(&eo, streams, n, &e);
	if (!g)
		die(&e);
	return g;
}

/* ------------------------------------------------------------------------
 * Grid mode
 */
/* The grid must name only columns of the schema (that is how a resumed
 * sweep recognises the configurations already in the trace) and every
 * load column. */
static void grid_check(const opts *o, const tc_grid *grid, tc_schema *sc)
{
	mr_err e = {0};
	if (tc_schema_init(sc, o->schema, NULL, 0, &e) != 0)
		die(&e);
	if (strcmp(o->schema, "generic") == 0)
		mr_usage_error(prog, "grid mode needs --schema compute, info2 "
				     "or classes");
	if (!o->control)
		mr_usage_error(prog, "grid mode needs --control URL (the "
				     "testbed control API)");
	for (size_t k = 0; k < grid->nkeys; k++)
		if (cfg_index(sc, grid->keys[k]) < 0 &&
		    load_index(sc, grid->keys[k]) < 0)
			mr_usage_error(prog,
				       "grid key '%s' is not a load or action "
				       "column of schema %s (use --apply for "
				       "other settings)",
				       grid->keys[k], o->schema);
	for (size_t i = 0; i < sc->nstreams; i++)
		if (!in_grid(grid, sc->loads[i]))
			mr_usage_error(prog, "grid needs the load column %s",
				       sc->loads[i]);
}

/* Configuration columns outside the grid: --set, else the testbed's
 * current value; -INFINITY for those the grid gives. */
static void grid_fixed(const opts *o, const tc_grid *grid,
		       const tc_schema *sc, act_target *act, double *fixed)
{
	mr_err e = {0};
	act_kv cur[128];
	int ncur = -1;
	for (size_t j = 0; j < sc->ncfg; j++) {
		fixed[j] = -INFINITY;
		if (in_grid(grid, sc->cfg[j]))
			continue;
		int set = 0;
		for (size_t k = 0; k < o->nset; k++)
			if (strcmp(o->set[k].key, sc->cfg[j]) == 0)
				fixed[j] = o->set[k].val, set = 1;
		if (set)
			continue;
		if (ncur < 0 && (ncur = act_get_config(act, cur, 128, &e)) < 0)
			die(&e);
		if (act_config_column(o->schema, sc->cfg[j], cur, (size_t)ncur,
				      NAN, &fixed[j], &e) != 0)
			die(&e);
	}
}

/* Rows of the trace that hold grid point pt (its values as the grid
 * writes them, up to rounding). */
static int64_t rows_of(const mr_table *old, size_t nkeys, const double *pt)
{
	int64_t have = 0;
	for (size_t r = 0; r < old->nrows; r++) {
		size_t k = 0;
		while (k < nkeys &&
		       mr_value_matches(old->data[r * old->ncols + k], pt[k]))
			k++;
		have += k == nkeys;
	}
	return have;
}

/* The configurations still to collect: those with fewer than --windows
 * rows in the trace (resume). Returns them, *ntodo of them; *nhave: the
 * configurations already there. */
static uint64_t *grid_todo(const opts *o, const tc_grid *grid,
			   uint64_t *ntodo, uint64_t *nhave)
{
	mr_err e = {0};
	mr_table old = {0};
	if (strcmp(o->out, "-") != 0 &&
	    mr_table_read(o->out, (const char *const *)grid->keys, grid->nkeys,
			  0, &old, &e) != 0)
		die(&e);
	uint64_t count;
	uint64_t *order = tc_grid_order(grid, o->sample, o->seed, &count, &e);
	if (!order)
		die(&e);
	uint64_t *todo = mr_xcalloc(count ? count : 1, sizeof *todo);
	uint64_t n = 0, partial = 0;
	double pt[TC_MAX_CFG + TC_MAX_STREAMS];
	for (uint64_t i = 0; i < count; i++) {
		tc_grid_point(grid, order[i], pt);
		int64_t have = rows_of(&old, grid->nkeys, pt);
		if (have >= o->nwin)
			continue;
		partial += have > 0;
		todo[n++] = order[i];
	}
	mr_table_free(&old);
	free(order);
	if (!o->quiet)
		fprintf(stderr,
			"%s: %llu configuration(s), %llu already in %s, %llu to "
			"collect (%g s each)\n",
			prog, (unsigned long long)count,
			(unsigned long long)(count - n), o->out,
			(unsigned long long)n,
			o->settle + (double)o->nwin * o->window);
	*ntodo = n;
	*nhave = count - n;
	if (partial && !o->quiet)
		fprintf(stderr,
			"%s: warning: %llu configuration(s) have fewer than "
			"%lld rows in the trace (edited?); collecting them again\n",
			prog, (unsigned long long)partial, (long long)o->nwin);
	return todo;
}

/* Grid point idx as actions (kv) and as the segment to record (seg: its
 * configuration columns and, for each load column, its stream's arrivals). */
static size_t grid_point(const opts *o, const tc_grid *grid,
			 const tc_schema *sc, const double *fixed,
			 uint64_t idx, act_kv *kv, tc_segment *seg)
{
	double pt[TC_MAX_CFG + TC_MAX_STREAMS];
	size_t nkv = 0;
	tc_grid_point(grid, idx, pt);
	for (size_t j = 0; j < sc->ncfg; j++)
		seg->cfg[j] = fixed[j];
	for (size_t k = 0; k < grid->nkeys; k++) {
		snprintf(kv[nkv].key, sizeof kv[nkv].key, "%s", grid->keys[k]);
		kv[nkv++].val = pt[k];
		int j = cfg_index(sc, grid->keys[k]);
		if (j >= 0)
			seg->cfg[j] = pt[k];
		int s = load_index(sc, grid->keys[k]);
		if (s >= 0) {
			tc_pattern *p = &seg->pats[s];
			memset(p, 0, sizeof *p);
			p->kind = o->constant ? PAT_CONSTANT : PAT_POISSON;
			p->rate = pt[k];
		}
	}
	/* --set values that are actions go with every point (the
	 * translation needs the loads beside them) */
	for (size_t k = 0; k < o->nset; k++)
		if (cfg_index(sc, o->set[k].key) >= 0 && nkv < ACT_MAX_KV)
			kv[nkv++] = o->set[k];
	return nkv;
}

/* The i-th configuration to collect: from the list, or (adaptive) from a
 * forest refitted on every row so far. Returns 1 and *idx, 0 when the list
 * or the budget is used up, MR_EXIT_INTR or -1 (e says why). */
static int next_config(const opts *o, uint64_t i, const uint64_t *todo,
		       tc_adapt *ad, tc_engine *g, run_ctx *c, double t0,
		       uint64_t *idx, mr_err *e)
{
	/* the plan counts configurations at their nominal time; overheads
	 * (actuation, fits) may still use the budget up sooner */
	if (i >= c->total || mr_now() - t0 >= c->budget_left)
		return 0;
	if (!ad) {
		*idx = todo[i];
		return 1;
	}
	/* the last configuration's rows into the trace before the fit (and
	 * no answer left waiting while it runs) */
	int d = tc_engine_drain(g, on_grid_window, c, 0, e);
	if (d != 0 || c->failed)
		return d > 0 && !c->failed ? MR_EXIT_INTR : -1;
	if (tc_adapt_fit(ad, o->out, e) != 0)
		return -1;
	return tc_adapt_next(ad, idx, NULL);
}

/* Settles a configuration just applied: --settle seconds of load, then
 * with --steady more in one-second steps while the line still grows, at
 * most --steady seconds more. Why: an overloaded node's line grows until
 * its waits reach the front's timeout; windows recorded before then
 * measure how long the load has been on, not the configuration (two
 * windows of one configuration read 1.9 s and 2.5 s). "Grows": the mean
 * latency of the answers (served or failed, refusals aside) in the last
 * second is above the second before's by more than max(20 ms, 10 %), or
 * the requests out (sent, not answered; load x delay by Little's law)
 * are above those two seconds before by more than max(2, 10 %). Either
 * alone stopped too early: at 8 req/s against 5.6 served, a second's
 * Poisson arrivals hide a growth of 2.4 requests or 0.4 s a second about
 * as often as not. The first comparison is with --settle's last second.
 * Returns tc_engine_run's value. */
static int settle_config(const opts *o, tc_engine *g, tc_pattern *pats,
			 int64_t tag, run_ctx *c, mr_err *e)
{
	double first = o->steady > 0 ? fmax(0, o->settle - 1) : o->settle;
	tc_segment seg = {.settle = first, .window = o->window, .nwin = 0,
			  .pats = pats, .tag = tag};
	int r = first > 0 ? tc_engine_run(g, &seg, on_grid_window, c, e) : 0;
	if (r != 0 || o->steady <= 0)
		return r;
	double last, lat;
	size_t out[3]; /* requests out now, 1 s and 2 s before */
	tc_engine_settle_take(g, &last);
	out[1] = out[2] = tc_engine_outstanding(g);
	if (o->settle > first) {
		seg.settle = o->settle - first;
		if ((r = tc_engine_run(g, &seg, on_grid_window, c, e)) != 0)
			return r;
	}
	tc_engine_settle_take(g, &last);
	out[0] = tc_engine_outstanding(g);
	double added = 0;
	for (;;) {
		if (added >= o->steady) {
			c->steady_cut++;
			break;
		}
		seg.settle = fmin(1.0, o->steady - added);
		if ((r = tc_engine_run(g, &seg, on_grid_window, c, e)) != 0)
			return r;
		added += seg.settle;
		uint64_t m = tc_engine_settle_take(g, &lat);
		out[2] = out[1];
		out[1] = out[0];
		out[0] = tc_engine_outstanding(g);
		int rising = m > 0 && lat > last + fmax(0.02, 0.1 * last);
		int growing = (double)out[0] >
			      (double)out[2] + fmax(2.0, 0.1 * (double)out[2]);
		if (!rising && !growing)
			break;
		if (m > 0)
			last = lat;
	}
	c->steady_n++;
	c->steady_added += added;
	return 0;
}

/* Applies and records each configuration next_config names; returns the
 * exit code (MR_EXIT_INTR when interrupted), e says why when another
 * error. */
static int grid_sweep(const opts *o, const tc_grid *grid, const tc_schema *sc,
		      const double *fixed, act_target *act, tc_engine *g,
		      const uint64_t *todo, tc_adapt *ad, run_ctx *c,
		      mr_err *e)
{
	tc_pattern pats[TC_MAX_STREAMS];
	int rc = MR_EXIT_OK;
	double t0 = mr_now();
	for (uint64_t i = 0; rc == MR_EXIT_OK; i++) {
		uint64_t idx;
		int n = next_config(o, i, todo, ad, g, c, t0, &idx, e);
		if (n != 1)
			return n == 0 ? MR_EXIT_OK
			       : n < 0 ? (e->code ? e->code : MR_EXIT_IO) : n;
		act_kv kv[ACT_MAX_KV];
		tc_segment seg = {.settle = 0, .window = o->window,
				  .nwin = o->nwin, .pats = pats,
				  .tag = (int64_t)idx};
		size_t nkv = grid_point(o, grid, sc, fixed, idx, kv, &seg);
		if (act_apply(act, kv, nkv, e) != 0) {
			mr_err_prefix(e, "applying configuration %llu",
				      (unsigned long long)idx);
			return e->code;
		}
		int r = settle_config(o, g, pats, (int64_t)idx, c, e);
		if (r == 0 && !c->failed)
			r = tc_engine_run(g, &seg, on_grid_window, c, e);
		if (r < 0 || c->failed)
			rc = e->code ? e->code : MR_EXIT_IO;
		else if (r > 0)
			rc = MR_EXIT_INTR;
	}
	return rc;
}

/* Starts the sidecar of a trace written to a regular file; returns 0 when
 * there is none (stdout, a device). */
static int meta_open(const opts *o, tc_meta *m)
{
	struct stat st;
	if (o->follow || strcmp(o->out, "-") == 0 || stat(o->out, &st) != 0 ||
	    !S_ISREG(st.st_mode))
		return 0;
	mr_err e = {0};
	if (tc_meta_begin(m, o->out, o->nodes, o->nnodes, o->argc, o->argv,
			  &e) != 0)
		die(&e);
	tc_meta_add(m, "schema", "%s", o->schema);
	tc_meta_add(m, "url", "%s", o->url);
	tc_meta_add(m, "window_s", "%g", o->window);
	tc_meta_add(m, "windows", "%lld", (long long)o->nwin);
	tc_meta_add(m, "settle_s", "%g", o->settle);
	if (o->steady > 0)
		tc_meta_add(m, "steady_max_s", "%g", o->steady);
	tc_meta_add(m, "timeout_s", "%g", o->timeout);
	tc_meta_add(m, "seed", "%llu", (unsigned long long)o->seed);
	if (o->budget > 0)
		tc_meta_add(m, "budget_s", "%g", o->budget);
	tc_meta_add(m, "adaptive", "%d", o->adaptive);
	if (tc_meta_write(m, "running", &e) != 0)
		die(&e);
	return 1;
}

/* The front's settings that shape what a trace measures besides the
 * nodes: its timeout (where an overloaded node's waits end) and the rate
 * limits' burst. Read from the control API; left out when it does not
 * have them (another mesh). */
static void meta_front(act_target *act, tc_meta *m)
{
	act_kv cfg[ACT_MAX_KV * 2];
	mr_err e = {0};
	int n = act_get_config(act, cfg, sizeof cfg / sizeof cfg[0], &e);
	for (int i = 0; i < n; i++)
		if (strcmp(cfg[i].key, "timeout") == 0)
			tc_meta_add(m, "front.timeout_s", "%g", cfg[i].val);
		else if (strcmp(cfg[i].key, "burst") == 0)
			tc_meta_add(m, "front.burst_s", "%g", cfg[i].val);
}

static int meta_close(tc_meta *m, int rc)
{
	mr_err e = {0};
	const char *st = rc == MR_EXIT_OK     ? "done"
			 : rc == MR_EXIT_INTR ? "interrupted"
					      : "failed";
	if (tc_meta_write(m, st, &e) != 0) {
		fprintf(stderr, "%s: %s\n", prog, e.msg);
		if (rc == MR_EXIT_OK)
			rc = e.code;
	}
	tc_meta_free(m);
	return rc;
}

static int has_column(const tc_schema *sc, const char *name)
{
	for (size_t k = 0; k < sc->ncols; k++)
		if (strcmp(sc->names[k], name) == 0)
			return 1;
	return 0;
}

/* --budget is the whole trace's: the configurations already in it count
 * at settle + windows each, so a resumed sweep ends where one run would
 * have. Sets c's budget and how many configurations this run plans. */
static void plan_budget(const opts *o, uint64_t ntodo, uint64_t nhave,
			run_ctx *c)
{
	double per = o->settle + (double)o->nwin * o->window;
	c->total = ntodo;
	c->budget_left = INFINITY;
	if (o->budget <= 0)
		return;
	c->budget_left = o->budget - (double)nhave * per;
	double fit = floor(fmax(0, c->budget_left) / per + 1e-9);
	if (fit < (double)ntodo)
		c->total = (uint64_t)fit;
	if (!o->quiet)
		fprintf(stderr, "%s: budget %.0f s, %.0f s left: up to %llu "
			"configuration(s)%s\n", prog, o->budget,
			fmax(0, c->budget_left), (unsigned long long)c->total,
			o->steady > 0 ? " (fewer: --steady settles longer)" : "");
}

/* --adaptive's chooser over the configurations to do; its targets are
 * --targets or the schema's mean delay columns. */
static tc_adapt *adapt_open(const opts *o, const tc_grid *grid,
			    const tc_schema *sc, const uint64_t *todo,
			    uint64_t ntodo)
{
	mr_err e = {0};
	const char *names[TC_MAX_COLS];
	char **split = NULL;
	size_t n = 0;
	if (o->targets) {
		split = mr_split_names(o->targets, &n, &e);
		if (!split)
			die(&e);
		for (size_t j = 0; j < n; j++)
			if (!has_column(sc, split[j]))
				mr_usage_error(prog, "--targets: '%s' is not a "
					       "column of schema %s", split[j],
					       o->schema);
		memcpy(names, split, n * sizeof *names);
	}
	for (size_t k = 0; !split && k < sc->ncols; k++)
		if (sc->col[k].kind == COL_MEAN || sc->col[k].kind == COL_NODE)
			names[n++] = sc->col[k].name;
	for (size_t b = 0; b < o->nbounds; b++)
		if (!has_column(sc, o->bounds[b].col))
			mr_usage_error(prog, "--bound: '%s' is not a column of "
				       "schema %s", o->bounds[b].col, o->schema);
	tc_adapt_opts ao = {.grid = grid, .targets = names, .ntargets = n,
			    .bounds = o->bounds, .nbounds = o->nbounds,
			    .init_rows = (size_t)o->nwin * ADAPT_INIT_CONFIGS,
			    .trees = ADAPT_TREES, .seed = o->seed};
	tc_adapt *a = tc_adapt_new(&ao, todo, ntodo, &e);
	free(split);
	if (!a)
		die(&e);
	return a;
}

static int run_grid(const opts *o, tc_grid *grid)
{
	tc_schema sc;
	grid_check(o, grid, &sc);
	mr_err e = {0};
	act_opts ao = {.kind = ACT_TESTBED, .schema = o->schema,
		       .control = o->control, .secret = o->secret,
		       .insecure_http = o->insecure_http, .retries = 4,
		       .backoff = 0.2, .timeout = 10};
	act_target *act = act_open(&ao, &e);
	if (!act)
		die(&e);
	if (o->napply && act_apply(act, o->apply, o->napply, &e) != 0)
		die(&e);
	double fixed[TC_MAX_CFG];
	grid_fixed(o, grid, &sc, act, fixed);
	tc_trace tr;
	if (tc_trace_open(&tr, o->out, sc.names, sc.ncols, o->quiet, &e) != 0)
		die(&e);
	tc_meta meta;
	int has_meta = meta_open(o, &meta);
	if (has_meta)
		meta_front(act, &meta);
	uint64_t ntodo, nhave;
	uint64_t *todo = grid_todo(o, grid, &ntodo, &nhave);
	/* engine on the schema's streams (class "any" = premium) */
	tc_stream streams[TC_MAX_STREAMS];
	for (size_t i = 0; i < sc.nstreams; i++) {
		streams[i] = sc.streams[i];
		if (streams[i].cls == TC_ANY_CLASS)
			streams[i].cls = 0;
	}
	FILE *raw;
	tc_engine *g = open_engine(o, streams, sc.nstreams, &raw);
	run_ctx c = {.schema = &sc, .trace = &tr, .window = o->window,
		     .quiet = o->quiet, .err = &e};
	plan_budget(o, ntodo, nhave, &c);
	tc_adapt *ad = o->adaptive ? adapt_open(o, grid, &sc, todo, ntodo)
				   : NULL;
	mr_progress_init(&c.prog, "grid", (double)c.total, o->quiet);
	int rc = grid_sweep(o, grid, &sc, fixed, act, g, todo, ad, &c, &e);
	if (ad && !o->quiet)
		fprintf(stderr, "%s: adaptive: the last forest was fitted on %zu "
			"rows\n", prog, tc_adapt_rows(ad));
	tc_adapt_free(ad);
	if (o->steady > 0) {
		double mean = c.steady_n ? c.steady_added / (double)c.steady_n
					 : 0;
		if (!o->quiet)
			fprintf(stderr, "%s: steady: %llu configuration(s) "
				"settled, %.2f s added on average, %llu cut at "
				"--steady %g s\n", prog,
				(unsigned long long)c.steady_n, mean,
				(unsigned long long)c.steady_cut, o->steady);
		if (has_meta) {
			tc_meta_add(&meta, "steady_configs", "%llu",
				    (unsigned long long)c.steady_n);
			tc_meta_add(&meta, "steady_added_mean_s", "%.2f", mean);
			tc_meta_add(&meta, "steady_cut", "%llu",
				    (unsigned long long)c.steady_cut);
		}
	}
	/* finish the configurations whose windows are complete; an
	 * interrupted one is dropped whole */
	mr_err de = {0};
	int d = rc == MR_EXIT_INTR ? tc_engine_drain(g, NULL, NULL, 1, &de)
				   : tc_engine_drain(g, on_grid_window, &c, 0, &de);
	if (d != 0 && rc == MR_EXIT_OK) {
		if (d < 0 && !c.failed)
			e = de; /* the engine's own failure (--give-up) */
		rc = c.failed || d < 0 ? e.code : MR_EXIT_INTR;
	}
	mr_progress_done(&c.prog, NULL);
	if (!o->quiet)
		tc_engine_summary(g, stderr);
	if (rc != MR_EXIT_OK && rc != MR_EXIT_INTR)
		fprintf(stderr, "%s: %s\n", prog, e.msg);
	if (rc == MR_EXIT_INTR && !o->quiet)
		fprintf(stderr,
			"%s: interrupted; %llu configuration(s) written; run "
			"the same command to resume\n",
			prog, (unsigned long long)c.done);
	tc_engine_free(g);
	if (raw && fclose(raw) != 0 && rc == MR_EXIT_OK)
		rc = MR_EXIT_IO;
	tc_trace_close(&tr);
	if (has_meta)
		rc = meta_close(&meta, rc);
	act_close(act);
	free(c.buf);
	free(todo);
	return rc;
}

/* ------------------------------------------------------------------------
 * Plain mode
 */
/* The segment's configuration columns: --set, or -INFINITY where they are
 * read live. Returns 1 when some are read live. */
static int plain_config(const opts *o, const tc_schema *sc, tc_segment *seg)
{
	int need_live = 0;
	for (size_t j = 0; j < sc->ncfg; j++) {
		seg->cfg[j] = -INFINITY;
		for (size_t k = 0; k < o->nset; k++)
			if (strcmp(o->set[k].key, sc->cfg[j]) == 0)
				seg->cfg[j] = o->set[k].val;
		if (seg->cfg[j] == -INFINITY)
			need_live = 1;
	}
	for (size_t k = 0; k < o->nset; k++)
		if (cfg_index(sc, o->set[k].key) < 0)
			mr_usage_error(prog,
				       "--set %s: not a configuration column "
				       "of schema %s",
				       o->set[k].key, sc->name);
	return need_live;
}

/* Reads the configuration columns from the control API at each window. */
static void plain_live(const opts *o, run_ctx *c, tc_segment *seg)
{
	if (!o->control)
		mr_usage_error(prog,
			       "schema %s has configuration columns; give "
			       "them with --set COL=V or read them with "
			       "--control URL",
			       c->schema->name);
	mr_err e = {0};
	act_opts ao = {.kind = ACT_TESTBED, .schema = o->schema,
		       .control = o->control, .secret = o->secret,
		       .insecure_http = o->insecure_http, .retries = 2,
		       .backoff = 0.1, .timeout = 2};
	if (!(c->act = act_open(&ao, &e)))
		die(&e);
	/* fail early, and clearly, when the control API is not there */
	if (read_live(c, &e) != 0)
		die(&e);
	seg->on_open = on_open_live;
	seg->open_ud = c;
}

/* Runs the segment and delivers its windows; returns the exit code. */
static int plain_record(tc_engine *g, tc_segment *seg, run_ctx *c, mr_err *e)
{
	int r = tc_engine_run(g, seg, on_plain_window, c, e);
	int rc = MR_EXIT_OK;
	if (r < 0 || c->failed)
		rc = e->code ? e->code : MR_EXIT_IO;
	else if (r > 0)
		rc = MR_EXIT_INTR;
	if (rc == MR_EXIT_OK) {
		int d = tc_engine_drain(g, on_plain_window, c, 0, e);
		if (d < 0 || c->failed)
			rc = e->code ? e->code : MR_EXIT_IO;
		else if (d > 0)
			rc = MR_EXIT_INTR;
	}
	if (rc == MR_EXIT_INTR) {
		mr_err de;
		tc_engine_drain(g, NULL, NULL, 1, &de);
	}
	return rc;
}

static int run_plain(const opts *o, tc_stream *streams, tc_pattern *pats,
		     size_t n)
{
	mr_err e = {0};
	tc_schema sc;
	if (tc_schema_init(&sc, o->schema, streams, n, &e) != 0 ||
	    tc_schema_match(&sc, streams, pats, n, &e) != 0)
		die(&e);
	tc_segment seg = {.settle = o->settle, .window = o->window,
			  .nwin = -1, .pats = pats};
	if (o->duration > 0) {
		seg.nwin = (int64_t)llround(o->duration / o->window);
		if (seg.nwin == 0)
			seg.nwin = 1;
	} else if (o->nwin > 0 && !o->follow) {
		seg.nwin = o->nwin;
	}
	run_ctx c = {.schema = &sc, .window = o->window, .quiet = o->quiet,
		     .follow = o->follow, .err = &e};
	if (o->util) {
		if (!o->nnodes)
			mr_usage_error(prog, "--util needs --node URL (each "
					     "node measured)");
		tc_schema_add_util(&sc, o->nnodes);
		c.nodes = o->nodes;
		c.nnodes = o->nnodes;
		for (size_t k = 0; k < o->nnodes; k++)
			node_util(&c, k); /* the first reading */
	}
	if (plain_config(o, &sc, &seg))
		plain_live(o, &c, &seg);
	tc_trace tr;
	if (tc_trace_open(&tr, o->follow ? "-" : o->out, sc.names, sc.ncols,
			  o->quiet, &e) != 0)
		die(&e);
	c.trace = &tr;
	tc_meta meta;
	int has_meta = meta_open(o, &meta);
	FILE *raw;
	tc_engine *g = open_engine(o, streams, n, &raw);
	int rc = plain_record(g, &seg, &c, &e);
	if (!o->quiet)
		tc_engine_summary(g, stderr);
	uint64_t sent, ok;
	const char *ferr;
	tc_engine_counts(g, &sent, &ok, &ferr);
	if (!o->quiet && sent && !ok)
		fprintf(stderr,
			"%s: warning: no request succeeded (every one counted "
			"as a drop); first failure: %s\n",
			prog, ferr);
	if (rc != MR_EXIT_OK && rc != MR_EXIT_INTR)
		fprintf(stderr, "%s: %s\n", prog, e.msg);
	tc_engine_free(g);
	if (raw && fclose(raw) != 0 && rc == MR_EXIT_OK)
		rc = MR_EXIT_IO;
	tc_trace_close(&tr);
	if (has_meta)
		rc = meta_close(&meta, rc);
	act_close(c.act);
	if (o->follow && rc == MR_EXIT_INTR)
		rc = MR_EXIT_OK;
	return rc;
}

/* Plain mode from the command line's stream specs. */
static int plain_mode(opts *o, char **specs, size_t nstreams)
{
	if (!nstreams)
		mr_usage_error(prog, "give --stream SPEC (plain mode) or --grid "
				     "SPEC (grid mode)");
	if (o->sample || o->adaptive || o->budget > 0)
		mr_usage_error(prog, "--sample, --adaptive and --budget need "
				     "--grid");
	if (o->settle < 0)
		o->settle = 0;
	mr_err e = {0};
	tc_stream streams[TC_MAX_STREAMS];
	tc_pattern pats[TC_MAX_STREAMS];
	for (size_t i = 0; i < nstreams; i++)
		if (tc_stream_parse(specs[i], o->window, &streams[i], &pats[i],
				    &e) != 0)
			die(&e);
	int any_end = 0;
	for (size_t i = 0; i < nstreams; i++)
		any_end |= isfinite(tc_pattern_end(&pats[i]));
	if (!o->follow && o->duration <= 0 && !any_end && o->nwin <= 0)
		mr_usage_error(prog, "give --duration, --windows or --follow");
	int rc = run_plain(o, streams, pats, nstreams);
	for (size_t i = 0; i < nstreams; i++)
		tc_pattern_free(&pats[i]);
	return rc;
}

/* ------------------------------------------------------------------------
 * Command line
 */
/* --set and --apply: one KEY=VALUE each. */
static void add_kv(int c, const char *arg, opts *o)
{
	mr_err e = {0};
	act_kv kv[2];
	int k = act_parse_line(arg, kv, 2, &e);
	if (k != 1)
		mr_usage_error(prog, "--%s '%s': %s", c == 'x' ? "set" : "apply",
			       arg, k < 0 ? e.msg : "expected one KEY=VALUE");
	if (c == 'x' && o->nset < ACT_MAX_KV)
		o->set[o->nset++] = kv[0];
	else if (c == 'a' && o->napply < ACT_MAX_KV)
		o->apply[o->napply++] = kv[0];
}

/* --budget: seconds, or a number with s, m or h. */
static double parse_budget(const char *arg)
{
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	double unit = !*end ? 1 : strcmp(end, "s") == 0 ? 1
		      : strcmp(end, "m") == 0 ? 60
		      : strcmp(end, "h") == 0 ? 3600 : 0;
	if (end == arg || errno || !unit || !(v > 0) || v * unit > 1e9)
		mr_usage_error(prog, "--budget '%s': expected a duration > 0 "
			       "(1800, 90s, 30m, 2h)", arg);
	return v * unit;
}

/* --bound COL<=V */
static void add_bound(const char *arg, opts *o)
{
	const char *le = strstr(arg, "<=");
	if (o->nbounds == TC_MAX_BOUNDS)
		mr_usage_error(prog, "at most %d --bound", TC_MAX_BOUNDS);
	tc_bound *b = &o->bounds[o->nbounds];
	if (!le || le == arg || (size_t)(le - arg) >= sizeof b->col)
		mr_usage_error(prog, "--bound '%s': expected COLUMN<=VALUE "
			       "(e.g. d11<=0.04)", arg);
	memcpy(b->col, arg, (size_t)(le - arg));
	b->col[le - arg] = 0;
	b->value = mr_arg_double(prog, "--bound", le + 2, -1e300, 1e300);
	o->nbounds++;
}

int main(int argc, char **argv)
{
	mr_exit_on_signal(); /* exit 130, no temp files left */
	static const struct option lo[] = {
		{"url", required_argument, 0, 'u'},
		{"stream", required_argument, 0, 's'},
		{"schema", required_argument, 0, 'S'},
		{"window", required_argument, 0, 'w'},
		{"duration", required_argument, 0, 'd'},
		{"windows", required_argument, 0, 'n'},
		{"settle", required_argument, 0, 'T'},
		{"steady", required_argument, 0, 'z'},
		{"timeout", required_argument, 0, 't'},
		{"max-inflight", required_argument, 0, 'M'},
		{"connections", required_argument, 0, 'K'},
		{"send-tick", required_argument, 0, 'k'},
		{"sender", required_argument, 0, 'R'},
		{"pipeline", required_argument, 0, 'p'},
		{"seed", required_argument, 0, 'e'},
		{"output", required_argument, 0, 'o'},
		{"follow", no_argument, 0, 'f'},
		{"raw", required_argument, 0, 'r'},
		{"set", required_argument, 0, 'x'},
		{"control", required_argument, 0, 'c'},
		{"env", required_argument, 0, 'E'},
		{"insecure-http", no_argument, 0, 'I'},
		{"give-up", required_argument, 0, 'G'},
		{"grid", required_argument, 0, 'g'},
		{"apply", required_argument, 0, 'a'},
		{"sample", required_argument, 0, 'm'},
		{"grid-pattern", required_argument, 0, 'P'},
		{"node", required_argument, 0, 'N'},
		{"budget", required_argument, 0, 'B'},
		{"adaptive", no_argument, 0, 'A'},
		{"bound", required_argument, 0, 'b'},
		{"targets", required_argument, 0, 'y'},
		{"util", no_argument, 0, 'Y'},
		{"realtime", required_argument, 0, 'Q'},
		{"quiet", no_argument, 0, 'q'},
		{"help", no_argument, 0, 'h'},
		{"version", no_argument, 0, 'V'},
		{0, 0, 0, 0}};
	opts o = {.url = "http://127.0.0.1:8080", .out = "-",
		  .schema = "generic", .window = 5, .settle = -1, .timeout = 10,
		  .nwin = 0, .seed = 1, .max_inflight = 4096,
		  .connections = 256, .give_up = 3, .send_tick = TC_SEND_TICK,
		  .pipeline = TC_PIPELINE,
		  .argc = argc, .argv = argv};
	const char *env_path = NULL;
	int url_given = 0;
	char *stream_specs[TC_MAX_STREAMS];
	size_t nstreams = 0;
	int c;
	tc_grid grid = {0};
	mr_err e = {0};
	while ((c = getopt_long(argc, argv, "u:s:w:d:n:o:qhV", lo, NULL)) != -1) {
		switch (c) {
		case 'u': o.url = optarg, url_given = 1; break;
		case 'E': env_path = optarg; break;
		case 'I': o.insecure_http = 1; break;
		case 'G': o.give_up = (int)mr_arg_int(prog, "--give-up", optarg, 0, 1000000); break;
		case 's':
			if (nstreams == TC_MAX_STREAMS)
				mr_usage_error(prog, "at most %d streams",
					       TC_MAX_STREAMS);
			stream_specs[nstreams++] = optarg;
			break;
		case 'S': o.schema = optarg; break;
		case 'w': o.window = mr_arg_double(prog, "--window", optarg, 0.05, 86400); break;
		case 'd': o.duration = mr_arg_double(prog, "--duration", optarg, 0, 1e9); break;
		case 'n': o.nwin = (int64_t)mr_arg_int(prog, "--windows", optarg, 1, 1000000000); break;
		case 'T': o.settle = mr_arg_double(prog, "--settle", optarg, 0, 86400); break;
		case 'z': o.steady = mr_arg_double(prog, "--steady", optarg, 0, 86400); break;
		case 't': o.timeout = mr_arg_double(prog, "--timeout", optarg, 0.001, 3600); break;
		case 'M': o.max_inflight = (size_t)mr_arg_int(prog, "--max-inflight", optarg, 1, 1000000); break;
		case 'K': o.connections = (long)mr_arg_int(prog, "--connections", optarg, 1, 100000); break;
		case 'k': o.send_tick = mr_arg_double(prog, "--send-tick", optarg, 0, 1e6) * 1e-6; break;
		case 'R':
			o.sender = !strcmp(optarg, "auto") ? TC_SENDER_AUTO
				   : !strcmp(optarg, "curl") ? TC_SENDER_CURL
				   : !strcmp(optarg, "own")  ? TC_SENDER_OWN
							     : -1;
			if (o.sender < 0)
				mr_usage_error(prog, "--sender: auto, own or "
					       "curl, not '%s'", optarg);
			break;
		case 'p': o.pipeline = (int)mr_arg_int(prog, "--pipeline", optarg, 1, 64); break;
		case 'Q': o.realtime = (int)mr_arg_int(prog, "--realtime", optarg, 0, 99); break;
		case 'e': o.seed = mr_arg_u64(prog, "--seed", optarg); break;
		case 'o': o.out = optarg; break;
		case 'f': o.follow = 1; break;
		case 'r': o.raw = optarg; break;
		case 'x':
		case 'a': add_kv(c, optarg, &o); break;
		case 'c': o.control = optarg; break;
		case 'g':
			if (tc_grid_add(&grid, optarg, &e) != 0)
				die(&e);
			break;
		case 'm': o.sample = (uint64_t)mr_arg_int(prog, "--sample", optarg, 1, 1000000000000); break;
		case 'P':
			if (strcmp(optarg, "poisson") && strcmp(optarg, "constant"))
				mr_usage_error(prog, "--grid-pattern poisson|constant");
			o.constant = strcmp(optarg, "constant") == 0;
			break;
		case 'N':
			if (o.nnodes == TC_MAX_NODES)
				mr_usage_error(prog, "at most %d --node",
					       TC_MAX_NODES);
			o.nodes[o.nnodes++] = optarg;
			break;
		case 'B': o.budget = parse_budget(optarg); break;
		case 'A': o.adaptive = 1; break;
		case 'b': add_bound(optarg, &o); break;
		case 'y': o.targets = optarg; break;
		case 'Y': o.util = 1; break;
		case 'q': o.quiet = 1; break;
		case 'h': usage(stdout); return MR_EXIT_OK;
		case 'V': mr_print_version(prog); return MR_EXIT_OK;
		default: /* getopt said what is wrong */
			fprintf(stderr, "Try '%s --help'.\n", prog);
			return MR_EXIT_USAGE;
		}
	}
	if (optind != argc)
		mr_usage_error(prog, "unexpected argument '%s'", argv[optind]);
	if (!mesh_schema_get(o.schema, &e))
		die(&e);
	mesh_env env;
	if (act_env_load(env_path, &env, &e) != 0)
		die(&e);
	if (!url_given && env.url[0])
		o.url = env.url;
	if (!o.control && env.control[0])
		o.control = env.control;
	o.secret = env.secret[0] ? env.secret : NULL;
	/* a finer timer slack: sends wake within microseconds of due */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	mr_set_realtime(prog, o.realtime, o.quiet);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		mr_fatal(prog, MR_EXIT_IO, "curl_global_init failed");
	int rc;
	if (grid.nkeys) {
		if (nstreams)
			mr_usage_error(prog, "grid mode makes its own streams "
					     "from the schema; drop --stream");
		if (o.follow)
			mr_usage_error(prog, "--follow is for plain mode");
		if (o.settle < 0)
			o.settle = 5;
		if (o.nwin <= 0)
			o.nwin = 5;

		if (o.adaptive && strcmp(o.out, "-") == 0)
			mr_usage_error(prog, "--adaptive reads the trace back: "
					     "give -o FILE");
		if ((o.nbounds || o.targets) && !o.adaptive)
			mr_usage_error(prog, "--bound and --targets need "
					     "--adaptive");
		rc = run_grid(&o, &grid);
	} else {
		if (o.steady > 0)
			mr_usage_error(prog, "--steady is for grid mode");
		rc = plain_mode(&o, stream_specs, nstreams);
	}
	tc_grid_free(&grid);
	curl_global_cleanup();
	return rc;
}
