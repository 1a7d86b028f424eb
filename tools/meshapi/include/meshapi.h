/*
 * meshapi.h - the mesh's control vocabulary, shared by the testbed (which
 * serves it), actuate (which drives it) and trace-collect (which records
 * it): the names of services, user classes and processing nodes, the
 * headers requests carry, the configuration keys of the control API and
 * the flat JSON it speaks.
 *
 * Also the control API's credential: a per-run secret, and the run
 * folder's env file that carries it to the tools.
 *
 * What is deliberately not here: HTTP (servers or clients), Kubernetes.
 */
#ifndef MESHRL_MESHAPI_H
#define MESHRL_MESHAPI_H

#include <stddef.h>

#include "meshrl.h"

/* ------------------------------------------------------------------------
 * Names known to the testbed. Services and classes are fixed so that every
 * configuration key is known in advance and a typo is an error.
 */
#define MESH_NSERVICES 3
#define MESH_NCLASSES 2
#define MESH_NNODES 2

/* compute, info1, info2 */
extern const char *const mesh_service_names[MESH_NSERVICES];
/* premium, freemium */
extern const char *const mesh_class_names[MESH_NCLASSES];
/* node1, node2 */
extern const char *const mesh_node_names[MESH_NNODES];

int mesh_service_index(const char *name, size_t len); /* -1 if unknown */
int mesh_class_index(const char *name, size_t len);
int mesh_node_index(const char *name, size_t len);

/* The header that carries the user class (set at login in the published
 * testbed; here the client sets it). Absent means freemium. */
#define MESH_CLASS_HEADER "X-User-Class"
/* The same name as Istio matches it (header names in lower case). */
#define MESH_CLASS_HEADER_LC "x-user-class"
/* The header naming who answered: "node1", "node2" or "front". */
#define MESH_SERVED_HEADER "X-Served-By"
/* Milliseconds the front node still waits for this request; a node skips
 * work whose deadline has passed. */
#define MESH_DEADLINE_HEADER "X-Deadline-Ms"

/* ------------------------------------------------------------------------
 * Flat JSON: one object of "key": value pairs, values numbers, true/false
 * (read as 1/0) or plain strings. The control API speaks only this, so no
 * JSON library is needed.
 */
typedef struct {
	char key[64];
	double val;   /* NAN for a string */
	char str[64]; /* the string value, "" for numbers */
} mesh_kv;

/* Parses text[len]; returns the number of pairs (<= max) or -1 with a
 * message naming the byte offset. */
int mesh_flatjson_parse(const char *text, size_t len, mesh_kv *out,
			size_t max, mr_err *e);

/* ------------------------------------------------------------------------
 * Configuration keys of the control API: kind[.name[.class]], e.g.
 * weight.compute (every class), weight.compute.premium, rate.info1,
 * block.info2, units.node1, slow.node2, stopped.node1, timeout, burst.
 */
typedef enum {
	MESH_K_WEIGHT, MESH_K_RATE, MESH_K_BLOCK, MESH_K_UNITS, MESH_K_SLOW,
	MESH_K_STOPPED, MESH_K_TIMEOUT, MESH_K_BURST
} mesh_key_kind;

typedef struct {
	mesh_key_kind kind;
	int svc, cls, node; /* -1 where absent; cls -1 = every class */
} mesh_key;

/* Parses a key; 0 or -1 (MR_EXIT_DATA) with the list of valid keys. */
int mesh_key_parse(const char *key, mesh_key *k, mr_err *e);
/* Checks a value's range for the key; 0 or -1 (MR_EXIT_DATA). */
int mesh_key_check(const mesh_key *k, const char *key, double v, mr_err *e);

/* ------------------------------------------------------------------------
 * Trace schemas: the named column sets that traces (trace-collect) and
 * action vectors (actuate) are written in. A schema has load streams, each
 * with a load column (the stream's target rate, req/s), and action columns,
 * each mapped to a control-API key. This table is the one place where trace
 * columns meet control-API keys. The statistics columns of a trace (l1,
 * cl1, d1, ...) are trace-collect's own.
 *
 *   compute  loads max_l1 (compute, any class); actions p1 (% to node 1),
 *            b1 (rate, req/s; >= max_l1 means no limit), c1 (units.node1)
 *   info2    loads max_l1 (info1), max_l2 (info2); actions p11, p21
 *            (fraction to node 1), b1, b2 (fraction blocked), c1, c2
 *   classes  loads max_l1p (compute, premium), max_l1f (freemium); actions
 *            p1p, p1f (%), b1f (freemium rate; >= max_l1f: none), c1
 *   generic  no fixed columns (trace-collect makes them from its streams;
 *            actuate takes control-API keys only)
 */
#define MESH_SCHEMA_MAX_LOADS 2
#define MESH_SCHEMA_MAX_ACTIONS 6
/* For messages: every schema name. */
#define MESH_SCHEMA_NAMES "compute, info2, classes, generic"

typedef struct {
	const char *col; /* "max_l1" */
	int svc;         /* the service it loads (mesh_service_names) */
	int cls;         /* its user class, -1 for any */
} mesh_load_col;

typedef struct {
	const char *col;      /* "p1" */
	const char *key;      /* control-API key written: "weight.compute" */
	const char *read_key; /* key read back from GET /config; NULL: key */
	double scale;         /* key value = column value x scale */
	int load;             /* the load stream it acts on (loads[] index) */
	int no_limit;         /* a rate: a value >= that stream's load (or
				 < 0) is written as -1, no limit, and -1
				 reads back as the load */
} mesh_action_col;

typedef struct {
	const char *name;
	size_t nloads, nactions;
	mesh_load_col loads[MESH_SCHEMA_MAX_LOADS];
	mesh_action_col actions[MESH_SCHEMA_MAX_ACTIONS];
} mesh_schema;

/* The schema called name, or NULL with MR_EXIT_USAGE naming the schemas. */
const mesh_schema *mesh_schema_get(const char *name, mr_err *e);
/* An action column of s, or NULL. */
const mesh_action_col *mesh_schema_action(const mesh_schema *s,
					  const char *col);
/* The index of the load column col of s, or -1. */
int mesh_schema_load(const mesh_schema *s, const char *col);

/* ------------------------------------------------------------------------
 * The control API's credential. `testbed up` makes a random secret per run
 * and writes it, with the URLs, into the run folder's env file (mode 0600,
 * shell syntax: KEY=VALUE lines). Clients send it as
 * "Authorization: Bearer SECRET"; servers compare it in constant time.
 */
#define MESH_SECRET_LEN 64 /* hex characters (32 random bytes) */
#define MESH_SECRET_MAX 256
/* Where the tools look for the secret when no env file is given. */
#define MESH_SECRET_ENV "TB_SECRET"

/* A new secret from getrandom(2) as hex; 0 or -1 (MR_EXIT_IO). */
int mesh_secret_new(char out[MESH_SECRET_LEN + 1], mr_err *e);
/* 1 when got[0..len) equals want; the time depends only on want's
 * length, never on where the first difference is. */
int mesh_secret_equal(const char *got, size_t len, const char *want);
/* 0 when s is usable as a bearer secret (1..MESH_SECRET_MAX characters
 * of A-Z a-z 0-9 - . _ ~ + / =), else -1 (MR_EXIT_DATA) naming what. */
int mesh_secret_check(const char *s, const char *what, mr_err *e);

typedef struct {
	char url[256];     /* TB_URL: the front's service URL */
	char control[256]; /* TB_CONTROL: the front's control API */
	char secret[MESH_SECRET_MAX + 1]; /* TB_SECRET */
} mesh_env;

/* Reads an env file as `testbed up` writes it (KEY=VALUE lines, values
 * optionally in double quotes, `export NAME` lines and #-comments
 * skipped; other keys ignored). A key it does not hold is left "". The
 * file must not be readable by group or others (it holds the secret).
 * Returns 0 or -1 (MR_EXIT_IO, MR_EXIT_DATA naming file and line). */
int mesh_env_read(const char *path, mesh_env *env, mr_err *e);

#endif
