/*
 * meshrl.h - the small library every meshrl tool stands on.
 *
 * What is here: error values that carry a message, exit codes shared by all
 * tools, a seeded random number generator, a CSV reader that selects columns
 * by header name (libcsv underneath), atomic output files (temp + rename),
 * msgpack helpers for our model/policy files and the length-delimited
 * protocol frames, a progress reporter, and small number formatting.
 *
 * What is deliberately not here: anything specific to one tool. There is no
 * global mutable state: every function works on what its caller passes in.
 */
#ifndef MESHRL_H
#define MESHRL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <msgpack.h>

#define MR_VERSION "0.1.0"

/* ------------------------------------------------------------------------
 * Exit codes, the same for every tool (documented in the README).
 */
enum {
	MR_EXIT_OK = 0,
	MR_EXIT_FAIL = 1,   /* the work itself failed (e.g. fit impossible) */
	MR_EXIT_USAGE = 2,  /* bad command line */
	MR_EXIT_DATA = 3,   /* bad input data: file:line: column: reason */
	MR_EXIT_IO = 4,     /* cannot open, read, write or allocate */
	MR_EXIT_REMOTE = 5, /* a host was unreachable or answered an error */
	MR_EXIT_INTR = 130  /* interrupted by a signal */
};

/* ------------------------------------------------------------------------
 * Errors. A function that can fail takes an mr_err *, fills it and returns
 * -1 (or NULL). The caller decides: print and exit, or recover.
 */
typedef struct {
	int code;       /* one of MR_EXIT_* */
	char msg[1024]; /* complete sentence, e.g. "t.csv:12: column 'd1': empty field" */
} mr_err;

/* Sets *e (when e != NULL) and returns -1. */
int mr_errf(mr_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefixes an existing message: "ctx: old message". Returns -1. */
int mr_err_prefix(mr_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prints "prog: message" to stderr and exits with e->code. */
_Noreturn void mr_die(const char *prog, const mr_err *e);
/* Prints "prog: message" and exits with code. */
_Noreturn void mr_fatal(const char *prog, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Allocation that cannot return NULL: on failure prints and exits
 * MR_EXIT_IO. Overflow of n*size is checked. */
void *mr_xcalloc(size_t n, size_t size);
void *mr_xrealloc(void *p, size_t n, size_t size);
char *mr_xstrdup(const char *s);

/* A bad command line: prints "prog: message" and "Try 'prog --help'." to
 * stderr and exits MR_EXIT_USAGE. The one form every tool uses. */
_Noreturn void mr_usage_error(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prints "prog version" for --version. */
void mr_print_version(const char *prog);

/* Numbers in command-line options: the whole text must be a number within
 * [lo, hi], else "prog: --opt: 'text' is not ..." and exit MR_EXIT_USAGE. */
double mr_arg_double(const char *prog, const char *opt, const char *s,
		     double lo, double hi);
/* --realtime P: run the calling process at SCHED_FIFO priority P (1-99),
 * so that other jobs on the machine cannot delay its wake-ups; P <= 0
 * does nothing. Without the privilege (root or CAP_SYS_NICE) it goes on
 * at normal priority with a warning on stderr (unless quiet). */
void mr_set_realtime(const char *prog, int prio, int quiet);
long long mr_arg_int(const char *prog, const char *opt, const char *s,
		     long long lo, long long hi);
uint64_t mr_arg_u64(const char *prog, const char *opt, const char *s);

/* Monotonic clock in seconds. */
double mr_now(void);

/* 1 when x is the value v as written in a file or on a command line, up to
 * rounding: |x - v| <= 1e-9 (1 + |v|). The one tolerance for matching a
 * measured or parsed number against a grid of known values. */
int mr_value_matches(double x, double v);

/* ------------------------------------------------------------------------
 * Random numbers: xoshiro256** seeded through splitmix64. Deterministic for a
 * (seed, stream) pair; independent streams for threads and environments.
 */
typedef struct {
	uint64_t s[4];
} mr_rng;

void mr_rng_seed(mr_rng *r, uint64_t seed, uint64_t stream);

/* The named streams: every place that seeds a generator takes its stream
 * from this list, so that no two uses share one by accident. A _BASE
 * stream is followed by one stream per index (tree, environment, ...).
 * The values are those the tools have always used: the same seed gives
 * the same results as before the list existed. */
#define MR_STREAM_POLICY_INIT      UINT64_C(0)    /* new policy's weights */
#define MR_STREAM_PPO              UINT64_C(1)    /* minibatch shuffles */
#define MR_STREAM_PPO_ENV_BASE     UINT64_C(1000) /* + group: action draws */
#define MR_STREAM_PPO_RESET_BASE   UINT64_C(2000) /* + group: reset seeds */
#define MR_STREAM_PPO_OPEN_BASE    UINT64_C(3000) /* + group: env seeds */
#define MR_STREAM_PPO_RESUME_BASE  UINT64_C(0)    /* + updates x 64 + group:
						   * resumed reset seeds
						   * (of seed ^ 0x5eed) */
#define MR_STREAM_SIM_ENV_BASE     UINT64_C(0)    /* + env: its noise */
#define MR_STREAM_SIM_ACTIONS      UINT64_C(77)   /* sim-env bench actions */
#define MR_STREAM_SIM_RANDOM       UINT64_C(0x9a11c7) /* sim-env run random */
#define MR_STREAM_RANDOM_CTL       UINT64_C(0x72616e64) /* random baseline */
#define MR_STREAM_BANDIT           UINT64_C(0x62616e64) /* self-test bandit */
#define MR_STREAM_FOREST_TREE_BASE UINT64_C(0)    /* + tree: its draws */
#define MR_STREAM_FIT_SPLIT        UINT64_MAX     /* rf-fit's test split */
#define MR_STREAM_GRID_SAMPLE      UINT64_C(99)   /* grid --sample */
#define MR_STREAM_GRID_ADAPTIVE    UINT64_C(98)   /* --adaptive: its forest
							 and random picks */
#define MR_STREAM_ARRIVALS_BASE    UINT64_C(0)    /* + segment x streams +
						   * stream: load arrivals */
#define MR_STREAM_FRONT_ROUTING    UINT64_C(0)    /* front's routing */
#define MR_STREAM_NODE_DATA_BASE   UINT64_C(0)    /* + worker: node data */
#define MR_STREAM_EPISODES_VALIDATION_BASE UINT64_C(0x76616c0000000000)
						  /* + episode: reset seed of
						   * a validation episode
						   * (ppo-train's evaluation) */
#define MR_STREAM_EPISODES_TEST_BASE UINT64_C(0x7465737400000000)
						  /* + episode: reset seed of
						   * a test episode
						   * (policy-eval) */
uint64_t mr_rng_u64(mr_rng *r);
double mr_rng_uniform(mr_rng *r);           /* [0, 1) */
uint64_t mr_rng_below(mr_rng *r, uint64_t n); /* [0, n), unbiased, n > 0 */
double mr_rng_normal(mr_rng *r);            /* standard normal */
double mr_rng_exp(mr_rng *r, double rate);  /* exponential inter-arrival */

/* ------------------------------------------------------------------------
 * CSV reading. Columns are chosen by header name. Accepts LF/CRLF, a missing
 * final newline, a UTF-8 byte order mark before the header, quoted fields, integers and floats mixed, scientific
 * notation. Rejects (with "file:line: column 'x': reason") empty fields,
 * non-numeric text, NaN/inf, ragged rows, and missing/duplicate header names.
 * With skip_bad, rows with bad values are skipped and counted instead; header
 * errors are always fatal.
 *
 * Streaming reader (works on pipes; one row at a time):
 */
typedef struct mr_csv_reader mr_csv_reader;

/* path "-" reads stdin. cols == NULL selects every column. */
mr_csv_reader *mr_csv_open(const char *path, const char *const *cols,
			   size_t ncols, int skip_bad, mr_err *e);
/* Same, on an open stream; name is used in messages. The stream is not
 * closed by mr_csv_close. */
mr_csv_reader *mr_csv_open_stream(FILE *f, const char *name,
				  const char *const *cols, size_t ncols,
				  int skip_bad, mr_err *e);
size_t mr_csv_ncols(const mr_csv_reader *r);        /* selected columns */
const char *mr_csv_colname(const mr_csv_reader *r, size_t i);
/* Reads the next row's selected values into vals[ncols]. Returns 1 for a
 * row, 0 at end of input, -1 on error. *line gets the row's line number. */
int mr_csv_next(mr_csv_reader *r, double *vals, size_t *line, mr_err *e);
size_t mr_csv_skipped(const mr_csv_reader *r);      /* rows skipped so far */
/* Every name in the header, selected or not (k-th field; NULL past the
 * end), so a tool can look for optional columns. */
const char *mr_csv_header_name(const mr_csv_reader *r, size_t k);
void mr_csv_close(mr_csv_reader *r);

/* Whole-table reading on top of the streaming reader. */
typedef struct {
	size_t nrows, ncols;
	char **names;   /* ncols names */
	double *data;   /* row-major, nrows * ncols */
	size_t *line;   /* source line of each row */
	size_t skipped; /* rows skipped (skip_bad) */
} mr_table;

int mr_table_read(const char *path, const char *const *cols, size_t ncols,
		  int skip_bad, mr_table *t, mr_err *e);
void mr_table_free(mr_table *t);
/* Index of a column in t, or -1. */
int mr_table_col(const mr_table *t, const char *name);

/* Splits "a,b,c" into a NULL-terminated array of names (one allocation,
 * free with free()). Empty names and duplicates are an error. */
char **mr_split_names(const char *list, size_t *n, mr_err *e);

/* Shortest text that reads back to exactly v ("4", "0.7999999999999998"):
 * the numbers of every CSV a tool writes. A value that is float32 in
 * memory (rewards and observations of a vecenv) goes through
 * mr_fmt_float, so that 0.016f prints 0.016, not 0.01600000075995922
 * (its double); it reads back exactly as a float32. */
char *mr_fmt_double(char buf[32], double v);
char *mr_fmt_float(char buf[32], float v);
/* Writes sep, then v as mr_fmt_double does, or nothing when v is not
 * finite: an empty field, which gnuplot and spreadsheets read as missing
 * ("nan" would not read back everywhere). */
void mr_csv_put(FILE *f, const char *sep, double v);

/* The sum of x with compensation for rounding (Neumaier): a mean of many
 * values is then the mean of the numbers given, e.g. 8, not
 * 7.999999999999999, for a sine's loads around 8. */
double mr_sum(const double *x, size_t n);

/* ------------------------------------------------------------------------
 * Atomic output: data goes to a temp file beside the target and is renamed
 * into place only on commit, so a reader never sees half a file. path "-"
 * writes straight to stdout; an existing device or FIFO (/dev/null) is
 * written in place, never replaced.
 */
typedef struct {
	FILE *f;
	char *path; /* target */
	char *tmp;  /* temp path, NULL for stdout or a device */
	int direct; /* 1: a device or FIFO, written in place */
	int slot;   /* where a signal finds tmp (see below), -1: nowhere */
} mr_out;

int mr_out_open(mr_out *o, const char *path, mr_err *e);
/* Flushes, fsyncs, closes and renames. On failure removes the temp file. */
int mr_out_commit(mr_out *o, mr_err *e);
/* Closes and removes the temp file (safe to call after commit: no-op). */
void mr_out_abort(mr_out *o);
/* Writes a whole buffer atomically. */
int mr_write_file_atomic(const char *path, const void *buf, size_t len,
			 mr_err *e);
/* Reads a whole file ("-" = stdin) into a malloc'd buffer. max bounds the
 * size (0: 1 GiB). */
int mr_read_file(const char *path, char **buf, size_t *len, size_t max,
		 mr_err *e);

/* Refuses (MR_EXIT_USAGE, "OUT: is the input IN ...") an output path that
 * names the same file as an input (same device and inode, through any
 * link or spelling), which writing would replace. "-" and paths that do
 * not exist yet pass. */
int mr_out_check_distinct(const char *out, const char *in, mr_err *e);

/* A 64-bit FNV-1a hash of n bytes, continuing from h (start with
 * MR_HASH_INIT): a fingerprint that tells files apart, not a defence
 * against forgery. */
#define MR_HASH_INIT UINT64_C(0xcbf29ce484222325)
uint64_t mr_hash64(const void *p, size_t n, uint64_t h);
/* The hash of a whole file's bytes. */
int mr_hash_file(const char *path, uint64_t *h, mr_err *e);

/* ------------------------------------------------------------------------
 * Interruption by SIGINT or SIGTERM. The temp file of every open mr_out is
 * tracked (a fixed table of 32, claimed and released atomically, that a
 * signal handler reads: the library's one piece of global mutable state,
 * unavoidable because a handler can reach nothing else). A tool chooses
 * what a signal does, at the start of main; a signal that is ignored when
 * it is called (a background job of a non-interactive shell, nohup) stays
 * ignored.
 *
 * A process that exits while an output is open (mr_die after mr_out_open)
 * removes its temp file too: the first mr_out_open registers that with
 * atexit.
 *
 * mr_exit_on_signal: end at once with MR_EXIT_INTR, after removing the
 * temp files of the outputs still open (their targets stay as they were).
 * For work that may stop anywhere: every tool that writes files calls it,
 * or mr_catch_signals.
 */
void mr_exit_on_signal(void);
/* Calls handler(sig) instead, for a tool that must finish a step first:
 * the handler sets the tool's flag (volatile sig_atomic_t in its main.c),
 * its loops check it, write what must survive and exit MR_EXIT_INTR. */
void mr_catch_signals(void (*handler)(int));

/* ------------------------------------------------------------------------
 * msgpack helpers.
 *
 * Our files are one msgpack map with "format" (string) and "version" (int)
 * keys plus format-specific keys. Float arrays are stored as bin of
 * little-endian float32 or float64 (see README "File formats").
 */

/* A parsed msgpack document: owns the buffer's unpacked objects. */
typedef struct {
	msgpack_unpacked up;
	const msgpack_object *root;
} mr_mp_doc;

/* Checks that buf holds exactly one well-formed msgpack object whose
 * declared container and string lengths fit in the bytes present, then
 * unpacks it. Never allocates more than a small multiple of len. name is
 * used in messages. */
int mr_mp_parse(const char *buf, size_t len, const char *name, mr_mp_doc *d,
		mr_err *e);
void mr_mp_doc_free(mr_mp_doc *d);

/* Map lookups: return NULL when absent or when map is not a map. */
const msgpack_object *mr_mp_get(const msgpack_object *map, const char *key);

/* Typed getters; each fails with "name: key 'k': reason". */
int mr_mp_str(const msgpack_object *map, const char *key, const char *name,
	      char *buf, size_t bufsize, mr_err *e);
int mr_mp_i64(const msgpack_object *map, const char *key, const char *name,
	      int64_t lo, int64_t hi, int64_t *out, mr_err *e);
int mr_mp_f64(const msgpack_object *map, const char *key, const char *name,
	      double *out, mr_err *e);
/* A bin holding exactly count elements of elem_size bytes. */
int mr_mp_bin(const msgpack_object *map, const char *key, const char *name,
	      size_t count, size_t elem_size, const void **out, mr_err *e);
/* An array of strings; *out is a NULL-terminated malloc'd array (one free). */
int mr_mp_strs(const msgpack_object *map, const char *key, const char *name,
	       char ***out, size_t *count, mr_err *e);
/* Checks "format" == format and "version" == version. */
int mr_mp_check_header(const msgpack_object *root, const char *name,
		       const char *format, int64_t version, mr_err *e);

/* Packing helpers on a msgpack_packer. */
void mr_pk_str(msgpack_packer *pk, const char *s);
void mr_pk_kv_str(msgpack_packer *pk, const char *key, const char *val);
void mr_pk_kv_i64(msgpack_packer *pk, const char *key, int64_t val);
void mr_pk_kv_f64(msgpack_packer *pk, const char *key, double val);
void mr_pk_kv_strs(msgpack_packer *pk, const char *key, char *const *v,
		   size_t n);
/* bin of raw bytes (little-endian arrays on this platform) */
void mr_pk_kv_bin(msgpack_packer *pk, const char *key, const void *p,
		  size_t nbytes);

/* Little-endian conversion of arrays read from bin fields (the bin data may
 * be unaligned). */
void mr_le_f32(float *dst, const void *src, size_t n);
void mr_le_f64(double *dst, const void *src, size_t n);
void mr_le_i32(int32_t *dst, const void *src, size_t n);

/* ------------------------------------------------------------------------
 * Protocol frames: a 4-byte big-endian length followed by that many bytes of
 * msgpack. Used by sim-env serve and its clients.
 */
#define MR_FRAME_MAX (64u << 20)

/* Reads one frame into *buf (grown as needed, *cap its capacity).
 * Returns 1 for a frame, 0 at clean end of input, -1 on error (short read,
 * oversize frame). */
int mr_frame_read(FILE *f, char **buf, size_t *cap, size_t *len, mr_err *e);
int mr_frame_write(FILE *f, const void *buf, size_t len, mr_err *e);

/* ------------------------------------------------------------------------
 * Progress on stderr: a bar when stderr is a terminal, otherwise a plain
 * line at most every few seconds. quiet suppresses everything.
 */
typedef struct {
	const char *label;
	double total;
	double started, last;
	int tty, quiet;
} mr_progress;

void mr_progress_init(mr_progress *p, const char *label, double total,
		      int quiet);
/* extra may be NULL; it is printed after the bar (e.g. "avg_r 4.93"). */
void mr_progress_update(mr_progress *p, double done, const char *extra);
void mr_progress_done(mr_progress *p, const char *extra);

#endif
