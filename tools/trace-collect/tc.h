/*
 * tc.h - trace-collect's parts: load patterns, the open-loop engine, trace
 * schemas (window statistics -> trace row), trace files, and grids.
 *
 * The engine is one thread: epoll over the sender's sockets (its own
 * HTTP/1.1 sender, tc_http.h, for plain http://; else libcurl's multi
 * socket interface) and a signalfd, waiting in epoll_pwait2 with a
 * nanosecond timeout for the end of the send tick holding the next due
 * send, or the sender's next deadline (finer than curl_multi_poll's
 * milliseconds; the own sender's answers are read at the ticks, with their
 * kernel receive time). A request is launched when its tick ends, never
 * scheduled up front; its latency is counted from its intended send time
 * (no coordinated omission) to its answer's arrival, and it belongs to the
 * window in which it was intended to be sent.
 *
 * What is deliberately not here: deciding configurations (the caller, via
 * actuate), HTTP/2, TLS client certificates.
 */
#ifndef TC_H
#define TC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "meshapi.h"
#include "meshrl.h"

/* ------------------------------------------------------------------------
 * Load patterns. Times are seconds from the pattern's start.
 */
typedef enum { PAT_CONSTANT, PAT_POISSON, PAT_SIN, PAT_FILE } tc_pat_kind;

typedef struct {
	tc_pat_kind kind;
	double rate;          /* constant, poisson */
	double l0, amp, per;  /* sin: l0 + amp sin(2 pi t / per) */
	double *steps;        /* file: rate of each step */
	size_t nsteps;
	double step;          /* file: seconds per step */
	mr_rng rng;
	double next;          /* next arrival */
	uint64_t k;           /* constant: arrivals so far */
} tc_pattern;

/* "constant:R", "poisson:R", "sin:L0,A,T", "file:PATH[,STEP]" (STEP
 * default default_step seconds). */
int tc_pattern_parse(const char *spec, double default_step, tc_pattern *p,
		     mr_err *e);
void tc_pattern_free(tc_pattern *p);
/* Starts the arrivals of a parsed pattern on RNG stream `stream` of seed
 * (MR_STREAM_ARRIVALS_BASE + segment x TC_MAX_STREAMS + load stream). */
void tc_pattern_start(tc_pattern *p, uint64_t seed, uint64_t stream);
/* Returns the next arrival time and advances; INFINITY when the pattern
 * has ended (a rate file ran out). */
double tc_pattern_next(tc_pattern *p);
/* Instantaneous and mean target rate. */
double tc_pattern_rate(const tc_pattern *p, double t);
double tc_pattern_mean(const tc_pattern *p, double t0, double t1);
/* End of the pattern (INFINITY unless a file). */
double tc_pattern_end(const tc_pattern *p);

/* ------------------------------------------------------------------------
 * Streams and windows
 */
#define TC_MAX_STREAMS 8
#define TC_MAX_CFG 16

typedef struct {
	char service[32]; /* URL path component */
	int cls;          /* mesh_class_names index, -1 no header */
} tc_stream;
/* In a schema's slots: a stream of any class fits. */
#define TC_ANY_CLASS (-2)

/* Parses "SERVICE[:CLASS]=PATTERN". */
int tc_stream_parse(const char *spec, double default_step, tc_stream *s,
		    tc_pattern *p, mr_err *e);

typedef struct {
	uint64_t sent, ok, refused, failed;
	uint64_t node_ok[2];
	double node_sum[2];
	double sum, sumsq;
	double *lat; /* latencies of successes */
	size_t nlat, cap;
} tc_wstats;

typedef struct tc_window {
	struct tc_window *next;
	int64_t index;   /* window number within its segment */
	double t0, t1;   /* absolute (mr_now) bounds */
	double target[TC_MAX_STREAMS]; /* mean target rate over the window */
	tc_wstats s[TC_MAX_STREAMS];
	uint64_t pending;
	uint64_t answered;    /* requests that got an HTTP answer */
	uint64_t unreachable; /* requests that could not connect */
	double cfg[TC_MAX_CFG]; /* the segment's configuration columns */
	int64_t tag;            /* caller's (grid configuration index) */
	int last;               /* last window of its segment */
	double util[2];         /* --util: the nodes' CPU utilisation */
} tc_window;

/* Mean, std (population), nearest-rank percentile of a window stream. */
double tc_mean(const tc_wstats *s);
double tc_std(const tc_wstats *s);
double tc_pct(tc_wstats *s, double q); /* sorts s->lat */

/* ------------------------------------------------------------------------
 * The engine
 */
typedef struct tc_engine tc_engine;

/* trace-collect's default send tick. Its lateness (under one tick, half
 * on average; inside the latency, which runs from the due time) leaves
 * 300 us of a 0.5 ms lateness budget to the scheduler (a VM's wake-up
 * p99 was 100-200 us on a quiet 2-core machine); at 20,000 req/s it sends
 * four requests per wake-up, and the server wakes once for them (on
 * loopback a wake-up of the server is paid by the client's send). 250 us
 * cost 1.8 us less CPU per request there and 45 us more p99 lateness
 * (bench_loadgen.sh, client not preempted). */
#define TC_SEND_TICK 200e-6

typedef struct {
	const char *url;      /* base, e.g. http://127.0.0.1:8080 */
	double timeout;       /* per request from its due time, s: a request
				 not sent by then, or answered later, is a
				 drop */
	size_t max_inflight;  /* beyond: counted as failed, not sent */
	long connections;     /* TCP connections at most; requests beyond wait
				 in line (their latency includes it) */
	int give_up;          /* stop with MR_EXIT_REMOTE after this many
				 windows in a row in which requests could not
				 connect and none was answered; 0 = never */
	double tick;          /* s: sends due within one tick go out together
				 at its end (fewer wake-ups, for client and
				 server); 0: each at its own time */
	uint64_t seed;
	FILE *rawlog;         /* msgpack per-request log, or NULL */
	int quiet;
	int sender;           /* TC_SENDER_*: who speaks HTTP */
	int pipeline;         /* own sender: requests out at once on one
				 connection (1: no pipelining) */
} tc_engine_opts;

/* The sender: trace-collect's own (tc_http.h) for plain http:// URLs and
 * libcurl otherwise (auto), or always libcurl. */
enum { TC_SENDER_AUTO, TC_SENDER_CURL, TC_SENDER_OWN };
/* The own sender's default pipeline depth (bench_loadgen.sh). */
#define TC_PIPELINE 1

typedef struct {
	double settle;        /* s before the first recorded window */
	double window;        /* s */
	int64_t nwin;         /* windows; < 0 until the patterns end or
				 forever */
	tc_pattern *pats;     /* one per stream, started by the engine */
	double cfg[TC_MAX_CFG];
	int64_t tag;
	/* optional: called as each window opens (e.g. to read the live
	 * configuration into w->cfg) */
	void (*on_open)(void *ud, tc_window *w);
	void *open_ud;
} tc_segment;

/* Called with each finished window, in order. Return non-zero to stop. */
typedef int (*tc_window_cb)(void *ud, tc_window *w);

tc_engine *tc_engine_new(const tc_engine_opts *o, const tc_stream *streams,
			 size_t n, mr_err *e);
/* Sends the segment's load; returns when its last window has been sent
 * (its answers may still be out), 1 when interrupted by a signal or the
 * callback, -1 on error. */
int tc_engine_run(tc_engine *g, tc_segment *seg, tc_window_cb cb, void *ud,
		  mr_err *e);
/* Waits for every answer still out and delivers the remaining windows.
 * With discard, pending windows are dropped instead (interrupt). */
int tc_engine_drain(tc_engine *g, tc_window_cb cb, void *ud, int discard,
		    mr_err *e);
/* Prints the run's summary line on f: target and achieved rate, send
 * lateness percentiles, outcomes, client CPU per request. */
void tc_engine_summary(tc_engine *g, FILE *f);
/* Requests sent and succeeded so far, and the first failure's text. */
void tc_engine_counts(const tc_engine *g, uint64_t *sent, uint64_t *ok,
		      const char **first_error);
/* Answers (served or failed; not refused) to requests sent while
 * settling since the last call: returns their number, *mean their mean
 * latency (0 when none), and starts counting anew. */
uint64_t tc_engine_settle_take(tc_engine *g, double *mean);
/* Requests sent and not yet answered (or waiting for a connection). */
size_t tc_engine_outstanding(const tc_engine *g);
void tc_engine_free(tc_engine *g);

/* ------------------------------------------------------------------------
 * Trace schemas: columns, and a row from a window.
 */
typedef enum { COL_TARGET, COL_SENT, COL_OK, COL_DROP, COL_MEAN, COL_STD,
	       COL_P90, COL_P99, COL_NODE, COL_CFG, COL_UTIL } tc_col_kind;

typedef struct {
	char name[32];
	tc_col_kind kind;
	int stream; /* window stream the column describes */
	int arg;    /* COL_NODE, COL_UTIL: node 0/1; COL_CFG: index into
		     * cfg[] */
} tc_colspec;

#define TC_MAX_COLS 64

typedef struct {
	char name[16];
	int per_second;               /* counts as req/s (info2), else counts */
	size_t nstreams;
	tc_stream streams[TC_MAX_STREAMS]; /* cls may be TC_ANY_CLASS */
	const char *loads[TC_MAX_STREAMS]; /* max_l column of each stream */
	const char *cfg[TC_MAX_CFG];  /* action columns, cfg[] order */
	int cfg_stream[TC_MAX_CFG];   /* NAN in cfg means "no limit": write
					 this stream's target rate instead */
	size_t ncfg;
	tc_colspec col[TC_MAX_COLS];
	char *names[TC_MAX_COLS + 1]; /* column names, NULL-terminated */
	size_t ncols;
} tc_schema;

/* Builds the schema (compute, info2, classes, generic); generic takes its
 * streams from the caller, the others ignore them. */
int tc_schema_init(tc_schema *s, const char *name, const tc_stream *streams,
		   size_t nstreams, mr_err *e);
/* Orders user streams (and their patterns) as the schema's slots; errors
 * name the missing or extra stream. */
int tc_schema_match(const tc_schema *s, tc_stream *streams, tc_pattern *pats,
		    size_t n, mr_err *e);
/* Formats w as one CSV line (with '\n') into buf; returns its length. */
/* --util: columns util1[, util2], node k's CPU utilisation in the window
 * (tc_window.util[k]). */
void tc_schema_add_util(tc_schema *s, size_t nnodes);
size_t tc_schema_row(const tc_schema *s, tc_window *w, double window,
		     char *buf, size_t cap);

/* ------------------------------------------------------------------------
 * Trace files: appended; the header is written once and checked after.
 */
typedef struct {
	int fd;
	char *path;
} tc_trace;

int tc_trace_open(tc_trace *t, const char *path, char *const *cols,
		  size_t ncols, int quiet, mr_err *e);
/* Writes buf whole (one write call per row or per configuration). */
int tc_trace_write(tc_trace *t, const char *buf, size_t len, int sync,
		   mr_err *e);
void tc_trace_close(tc_trace *t);

/* ------------------------------------------------------------------------
 * Sidecars: TRACE.meta beside a trace file says how its rows were made,
 * as key=value lines. A run adds its block after the blocks already there
 * (a resumed trace keeps every run's; the last value of a key is the
 * newest) and writes the whole file atomically, at its start (status
 * running) and at its end (with the CPU the nodes charged per request over
 * the run, read from their /health).
 */
#define TC_MAX_NODES 2
typedef struct {
	char *path;   /* TRACE.meta */
	char *prior;  /* blocks of earlier runs */
	char *head;   /* this run's block so far */
	size_t nnodes;
	const char *node_url[TC_MAX_NODES];
	mesh_kv start[TC_MAX_NODES][32]; /* the nodes' /health at the start */
	int nstart[TC_MAX_NODES];
} tc_meta;

/* GET URL/health of a processing node into kv; the pair count or -1. */
int tc_node_health(const char *url, mesh_kv *kv, size_t max, mr_err *e);

/* Reads the nodes' /health (nodes: their base URLs; none: the testbed is
 * recorded as unknown) and starts this run's block with the command, tool
 * version and host. */
int tc_meta_begin(tc_meta *m, const char *trace_path, char *const *nodes,
		  size_t nnodes, int argc, char *const *argv, mr_err *e);
/* Adds key=value (printf-formatted value) to this run's block. */
void tc_meta_add(tc_meta *m, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Writes the sidecar; status "running", "done", "interrupted", "failed".
 * Anything but running also records the end and the nodes' charges. */
int tc_meta_write(tc_meta *m, const char *status, mr_err *e);
void tc_meta_free(tc_meta *m);

/* ------------------------------------------------------------------------
 * Grids: KEY=VALUES;KEY=VALUES with VALUES a comma list of numbers and
 * LO:HI[:STEP] ranges (inclusive).
 */
typedef struct {
	size_t nkeys;
	char *keys[TC_MAX_CFG + TC_MAX_STREAMS];
	double *vals[TC_MAX_CFG + TC_MAX_STREAMS];
	size_t nvals[TC_MAX_CFG + TC_MAX_STREAMS];
	uint64_t size; /* product of nvals */
} tc_grid;

/* Adds one or more "KEY=VALUES" items (';'-separated). */
int tc_grid_add(tc_grid *g, const char *spec, mr_err *e);
/* Values of configuration idx (first key varies slowest). */
void tc_grid_point(const tc_grid *g, uint64_t idx, double *out);
/* The configurations to visit: all, or a sorted random subset of sample
 * (stream MR_STREAM_GRID_SAMPLE of seed). NULL (MR_EXIT_USAGE) when all
 * would be too many to list. */
uint64_t *tc_grid_order(const tc_grid *g, uint64_t sample, uint64_t seed,
			uint64_t *count, mr_err *e);
void tc_grid_free(tc_grid *g);

/* ------------------------------------------------------------------------
 * Adaptive sampling (tc_adaptive.c): which configuration to collect next.
 * A random forest (rf-fit's) is fitted on the trace so far, features the
 * grid's keys, targets trace columns; each candidate scores
 *   max_j sd_j / scale_j  +  max_b sd_b / (sd_b + |mean_b - bound_b|)
 * (sd: the spread of the trees' predictions; scale_j: the spread of target
 * j over the trace; the second term only with bounds): where the trees
 * disagree most, and where a bound may lie either side of the prediction.
 * A target with a bound B > 0 is fitted capped at 3 B (tc_adaptive.c).
 * Until init_rows rows are in the trace, candidates are taken at random.
 */
#define TC_MAX_BOUNDS 8
typedef struct {
	char col[32];
	double value;   /* met when col <= value */
} tc_bound;

typedef struct {
	const tc_grid *grid;
	const char *const *targets; /* trace columns the forest predicts */
	size_t ntargets;
	const tc_bound *bounds;     /* their columns are targets too */
	size_t nbounds;
	size_t init_rows;           /* rows before the first fit (>= 2) */
	int trees;                  /* forest size (>= 2) */
	uint64_t seed;
} tc_adapt_opts;

typedef struct tc_adapt tc_adapt;

/* cand: the grid indices that may be chosen (n of them), each once. */
tc_adapt *tc_adapt_new(const tc_adapt_opts *o, const uint64_t *cand,
		       uint64_t n, mr_err *e);
/* Refits on the trace file's rows (its columns named by the grid keys and
 * the targets) and rescores the candidates left. A trace with fewer than
 * init_rows rows leaves the choice random. */
int tc_adapt_fit(tc_adapt *a, const char *trace, mr_err *e);
/* The next configuration: 1 and *idx, or 0 when every candidate is taken.
 * *score (may be NULL) gets its score, NAN when chosen at random. */
int tc_adapt_next(tc_adapt *a, uint64_t *idx, double *score);
/* Rows the last fit used (0: none yet). */
size_t tc_adapt_rows(const tc_adapt *a);
void tc_adapt_free(tc_adapt *a);

#endif
