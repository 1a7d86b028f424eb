/*
 * actuate.h - apply an action vector to a service mesh.
 *
 * An action is KEY=VALUE. Keys are either testbed keys (weight.compute,
 * weight.info1.premium, rate.compute.freemium, block.info2, units.node1,
 * slow.node2, stopped.node1, timeout, burst: see testbed --help) or the
 * column names of a trace schema (p1, c1, p11, b1f, ...), translated here so
 * a policy can speak in the columns it was trained on. The table of columns
 * and keys is meshapi's (mesh_schema); the rules that use it are here, and
 * trace-collect uses them both ways (to apply a grid point, to read a
 * configuration back).
 *
 * Targets: the local testbed's control API (PUT /config, flat JSON), or a
 * Kubernetes API server (Istio VirtualService weights by JSON merge patch,
 * Deployment replicas or CPU limits by patch) plus the front node's control
 * API for rate limits and blocking.
 *
 * Not here: deciding actions (policy-eval), measuring (trace-collect).
 */
#ifndef ACTUATE_H
#define ACTUATE_H

#include <stddef.h>

#include "meshapi.h"
#include "meshrl.h"

typedef struct {
	char key[64];
	double val;
} act_kv;

#define ACT_MAX_KV 64

/* ------------------------------------------------------------------------
 * Schema columns (meshapi's mesh_schema table) to control-API keys.
 */
/* Translates in[n] (schema columns, or testbed keys: anything with a '.'
 * or timeout/burst passes through) into testbed keys. Load columns in the
 * input are used for rules (b1 >= max_l1 means no limit) and not emitted.
 * schema NULL means generic. Returns the number of output pairs or -1
 * (MR_EXIT_DATA: unknown column, value out of range; MR_EXIT_USAGE: unknown
 * schema). */
int act_translate(const char *schema, const act_kv *in, size_t n,
		  act_kv *out, size_t max, mr_err *e);

/* Reads a column's value from a testbed configuration (GET /config as
 * pairs). max_l is the stream's target rate, used where "no limit" is
 * written as the offered rate (b1 in compute). Returns 0 or -1. */
int act_config_column(const char *schema, const char *column,
		      const act_kv *cfg, size_t ncfg, double max_l,
		      double *out, mr_err *e);

/* ------------------------------------------------------------------------
 * Targets
 */
typedef enum { ACT_TESTBED, ACT_K8S } act_kind;

#define ACT_MAX_NAMES 8
typedef struct {
	const char *from, *to;
} act_name;

typedef struct {
	act_kind kind;
	const char *schema;     /* column names accepted (a mesh_schema);
				   NULL = generic */
	const char *control;    /* testbed control URL, or the front node's
				   control URL on Kubernetes (rate/block) */
	const char *secret;     /* the control API's secret (sent to the
				   control URL only); NULL = none */
	/* Kubernetes */
	const char *api;        /* https://host:6443 */
	const char *ns;         /* namespace */
	const char *token_file; /* bearer token, sent to the API server only;
				   NULL = none */
	const char *cacert;     /* CA bundle; NULL = system store */
	const char *scale;      /* "replicas" (default) or "cpu" */
	double cpu_unit;        /* cores per unit for scale=cpu */
	act_name vs[ACT_MAX_NAMES], host[ACT_MAX_NAMES],
		subset[ACT_MAX_NAMES], deploy[ACT_MAX_NAMES],
		container[ACT_MAX_NAMES];
	size_t nvs, nhost, nsubset, ndeploy, ncontainer;
	/* transport */
	int retries;            /* extra attempts on transient failures */
	double backoff;         /* first retry delay, s (doubles each time) */
	double timeout;         /* per request, s */
	int verbose;            /* print each request on stderr */
	int insecure_http;      /* credentials over plain http:// (the token
				   to any host, the secret to a host that is
				   not loopback) */
} act_opts;

typedef struct act_target act_target;

/* Checks the options and reads the token file (one line of printable
 * characters). Unless o->insecure_http, the API token over plain http://
 * is refused (MR_EXIT_USAGE), and the control secret is sent over plain
 * http:// only to a loopback host (a 401 from another says so). */
act_target *act_open(const act_opts *o, mr_err *e);
/* Applies one action vector. Returns 0, or -1 with e: MR_EXIT_DATA for a
 * bad action, MR_EXIT_REMOTE when a host failed (the message names the
 * host and the start of its answer, with the token and secret blanked
 * out), MR_EXIT_USAGE for an action the target cannot do. */
int act_apply(act_target *t, const act_kv *kv, size_t n, mr_err *e);
/* GET the testbed configuration (control URL) into cfg; returns count. */
int act_get_config(act_target *t, act_kv *cfg, size_t max, mr_err *e);
void act_close(act_target *t);

/* The testbed's URLs and control secret for a client tool: the env file
 * `testbed up` wrote (path, e.g. RUN/env), or with path NULL only the
 * secret, from $TB_SECRET (empty when unset). Returns 0 or -1 (e names
 * the file). URLs given on a command line win over the file's. */
int act_env_load(const char *path, mesh_env *env, mr_err *e);

/* Parses "k=v k=v" or "k=v,k=v" into kv; returns count or -1. */
int act_parse_line(const char *line, act_kv *kv, size_t max, mr_err *e);

#endif
