/*
 * testbed.h - the local service-mesh testbed: a front node and processing
 * nodes, real HTTP servers (libmicrohttpd) on loopback.
 *
 * The front node admits (token bucket per service and per class, random
 * blocking fraction), routes per service and class to node 1 or 2 by weight,
 * and forwards over kept-alive libcurl connections. A processing node serves
 * `compute` (matrix multiplication) and `info1`/`info2` (SQLite lookups)
 * under a CPU quota of c units, enforced CFS-style by its own workers. A
 * request's demand is thread CPU time (drawn per request), so the units
 * carry the same load on any host.
 *
 * The control endpoints (the front's control port, a node's /admin)
 * answer only requests that carry the run's secret (meshapi.h), have no
 * Origin header and send JSON bodies.
 *
 * What is deliberately not here: TLS, user accounts, more than two
 * processing nodes, persistence of configuration across restarts.
 */
#ifndef TESTBED_H
#define TESTBED_H

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include <microhttpd.h>

#include "meshapi.h"
#include "meshrl.h"

/* ------------------------------------------------------------------------
 * CPU quota shared by a node's workers: per period, at most quota seconds of
 * CPU time (c units x unit cores x period). A worker charges what it used
 * since its last charge; when the period's budget is spent it sleeps until
 * the next period. Overruns carry over as debt, as in CFS.
 */
typedef struct {
	pthread_mutex_t mu;
	double period;   /* s */
	double unit;     /* cores per unit */
	double units;    /* c */
	double slow;     /* >= 1: CPU charged is multiplied (fault injection) */
	int64_t cur;     /* index of the current period */
	double used;     /* s charged in the current period (may exceed) */
	double total;    /* s charged since start */
	double throttled;/* s spent sleeping for quota */
} tb_quota;

void tb_quota_init(tb_quota *q, double period, double unit, double units);
void tb_quota_destroy(tb_quota *q);
void tb_quota_set(tb_quota *q, double units, double slow);
/* Charges cpu seconds; returns after sleeping as long as the node is over
 * its budget. deadline (mr_now() seconds, 0 = none): stop sleeping there and
 * return 1 (the caller abandons the work); otherwise returns 0. */
int tb_quota_charge(tb_quota *q, double cpu, double deadline);

/* Thread CPU time in seconds. */
double tb_thread_cpu(void);

/* ------------------------------------------------------------------------
 * Listening sockets: bound here (not by libmicrohttpd) so "port taken" is a
 * clear error and port 0 yields the chosen port.
 */
int tb_listen(const char *addr, int port, int *bound_port, mr_err *e);
/* The host part of a URL that reaches a server listening on bind: the
 * loopback address for a wildcard, IPv6 in brackets. */
void tb_url_host(const char *bind, char *out, size_t n);

/* ------------------------------------------------------------------------
 * libmicrohttpd glue shared by both servers: a request body collected
 * across handler calls, and one way to answer.
 */
typedef struct {
	char *buf;
	size_t len, cap;
	int too_big;
} tb_body;

#define TB_BODY_MAX 65536
/* Returns 1 when the request is complete and *body holds its body, 0 when
 * the handler must return MHD_YES and wait for more. */
int tb_body_step(void **con_cls, const char *upload_data,
		 size_t *upload_data_size, tb_body **body);
/* MHD_OPTION_NOTIFY_COMPLETED callback: frees the body. */
void tb_body_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		       enum MHD_RequestTerminationCode toe);
/* Queues a response; served_by may be NULL. */
enum MHD_Result tb_respond(struct MHD_Connection *c, unsigned status,
			   const char *served_by, const char *ctype,
			   const char *body, size_t len);
/* Same with a printf-formatted JSON body. */
enum MHD_Result tb_respondf(struct MHD_Connection *c, unsigned status,
			    const char *served_by, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The control endpoints' gate: refuses (403) any request with an Origin
 * header, (401) one without "Authorization: Bearer ...", (403) a wrong
 * secret, and (415) a body that is not application/json. Returns 1 when
 * the request is refused (*r holds the queued answer), else 0. */
int tb_control_refused(struct MHD_Connection *c, const char *method,
		       const char *secret, const char *served_by,
		       enum MHD_Result *r);

/* ------------------------------------------------------------------------
 * Servers. Each runs until *stop becomes non-zero (checked by the caller's
 * signal loop), then tb_*_stop shuts it down.
 */
typedef struct tb_node tb_node;
typedef struct {
	const char *name;      /* node1 | node2 */
	const char *bind;      /* listen address */
	int port;              /* 0 = any */
	int workers;           /* concurrent requests in service */
	double unit;           /* cores per unit */
	double units;          /* initial c */
	double period;         /* quota period, s */
	int matrix;            /* compute: n x n times n x n */
	int info_rows;         /* rows in the info table */
	int info1_lookups;     /* point lookups per info1 request (fixed work) */
	int max_queue;         /* waiting requests beyond this get 503 */
	const char *secret;    /* required by /admin (must outlive the node) */
	/* mean thread CPU per request, ms, per service (mesh_service_names
	 * order); 0: fixed work, whose CPU time depends on the host */
	double demand_ms[MESH_NSERVICES];
	double demand_cv;      /* spread of the gamma draw (0 = constant) */
} tb_node_opts;

tb_node *tb_node_start(const tb_node_opts *o, int *bound_port, mr_err *e);
void tb_node_stop(tb_node *n);

/* One request of service svc, as the HTTP handler serves it (waits in
 * line, works under the quota). Returns 0 served, 1 abandoned in service,
 * -1 deadline passed in line, -2 line full, -3 stopping. */
int tb_node_serve(tb_node *n, int svc, double deadline, double *result);

/* Served requests, the thread CPU they used and the demand drawn for them
 * (s), per service. */
typedef struct {
	uint64_t served[MESH_NSERVICES];
	double cpu[MESH_NSERVICES], drawn[MESH_NSERVICES];
} tb_node_usage;
void tb_node_usage_get(tb_node *n, tb_node_usage *u);

/* A request's CPU demand: gamma with this mean and coefficient of
 * variation (cv 0: the mean itself; cv 1: exponential). */
double tb_demand_draw(mr_rng *r, double mean, double cv);

/* ------------------------------------------------------------------------
 * Calibration (tb_calib.c): what a node with these options charges per
 * request of each service, from reps requests served in this process at
 * full speed (a whole core), against the setting. With a demand, the mean
 * charge is the setting times charged / drawn CPU over the reps, so the
 * draws' sampling noise does not enter; with fixed work, the mean itself.
 */
typedef struct {
	double setting_ms;  /* o->demand_ms (0: fixed work) */
	double charged_ms;  /* mean thread CPU per request */
	double cv;          /* coefficient of variation of the requests' CPU */
} tb_calib;
#define TB_CALIB_TOLERANCE 0.10
int tb_calibrate(const tb_node_opts *o, int reps, tb_calib out[MESH_NSERVICES],
		 mr_err *e);
/* Compares a calibration with a trace's sidecar (trace-collect's TRACE.meta,
 * key=value, the last value of a key wins): prints a warning line on f for
 * each figure that differs by more than TB_CALIB_TOLERANCE or is unknown
 * there. Returns the number of warnings, or -1 when the file cannot be read
 * (e says why). */
int tb_calib_compare(const tb_node_opts *o, const tb_calib c[MESH_NSERVICES],
		     double front_timeout, const char *meta_path, FILE *f,
		     mr_err *e);

typedef struct tb_front tb_front;
typedef struct {
	const char *bind;      /* service address; the nodes listen there too */
	int port;              /* service port, 0 = any */
	int control_port;      /* control API port (always on loopback) */
	int node_port[MESH_NNODES];
	double upstream_timeout; /* s */
	uint64_t seed;
	const char *secret;    /* required by the control port and sent to
				  the nodes' /admin */
} tb_front_opts;

tb_front *tb_front_start(const tb_front_opts *o, int *bound_port,
			 int *bound_control, mr_err *e);
void tb_front_stop(tb_front *f);

#endif
