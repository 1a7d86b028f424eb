/*
 * tb_node.c - a processing node: serves /compute (matrix multiply) and
 * /info1, /info2 (SQLite queries) under a CPU quota of c units.
 *
 * Requests wait in one FIFO line for a worker slot (at most `workers` in
 * service at once); a slot owns its matrices and its in-memory database so
 * nothing is allocated per request. Work runs in small chunks, and after
 * each chunk the worker charges its thread CPU time to the node's quota
 * (tb_quota), sleeping when the budget of the period is spent: the node
 * gets c x unit cores, as a Kubernetes CPU limit would give it.
 *
 * Service demand is CPU time: each request draws its demand (gamma around
 * the service's mean, coefficient of variation demand_cv, from its slot's
 * seeded stream) and repeats its service's work until its thread has used
 * that much CPU (CLOCK_THREAD_CPUTIME_ID; the work stops early by the
 * slot's recent overshoot, so the mean charge is the demand on a slow
 * build too). Time that other processes take
 * from the node is not charged, so c units carry the same load on any host
 * that has the cores to give. A mean of 0 keeps the old fixed work (one
 * multiply; info1_lookups lookups; one scan), whose CPU time depends on the
 * host's CPU.
 *
 * Requests whose deadline (X-Deadline-Ms from the front node) passes while
 * they wait or work are abandoned with 504 so a backlog cannot outlive the
 * front node's timeout. Not here: routing, admission (the front node's job).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "testbed.h"

typedef struct waiter {
	struct waiter *prev, *next;
} waiter;

typedef struct {
	int in_use;
	double *a, *b, *c; /* matrix x matrix */
	sqlite3 *db;
	sqlite3_stmt *lookup, *scan;
	mr_rng rng;
	/* per service: how far a request's charge ran past its drawn demand
	 * lately (the last unit of work and the bookkeeping after it; larger
	 * on a slower build or host), taken off the next request's target */
	double overshoot[MESH_NSERVICES];
} slot;

struct tb_node {
	tb_node_opts o;
	char name[16];
	struct MHD_Daemon *d;
	tb_quota quota;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	waiter *head, *tail;
	int nwait, busy, paused, stopping;
	slot *slots;
	uint64_t served[MESH_NSERVICES], expired, refused;
	double served_cpu[MESH_NSERVICES]; /* s of thread CPU, served only */
	double served_drawn[MESH_NSERVICES]; /* s of demand drawn for them */
};

/* Default deadline for requests that come without one (direct calls). */
#define NODE_DEFAULT_DEADLINE 60.0

/* Fixed seeds, not options: every run, node and slot multiplies the same
 * matrices (a slot's on stream MR_STREAM_NODE_DATA_BASE + its index) and
 * holds the same info table, so a request costs the same wherever it
 * lands; the slot's stream then draws the demands, so slot k of any node
 * serves the same sequence of demands in every run (which request gets
 * which slot depends on timing). */
#define MATRIX_SEED UINT64_C(12345)
#define INFO_TABLE_SEED UINT64_C(777)

/* ------------------------------------------------------------------------
 * Slots: per-worker data, built once at start.
 */
static int slot_init(slot *s, const tb_node_opts *o, int idx, mr_err *e)
{
	size_t n = (size_t)o->matrix;
	s->a = mr_xcalloc(n * n, sizeof(double));
	s->b = mr_xcalloc(n * n, sizeof(double));
	s->c = mr_xcalloc(n * n, sizeof(double));
	mr_rng_seed(&s->rng, MATRIX_SEED,
		    MR_STREAM_NODE_DATA_BASE + (uint64_t)idx);
	for (size_t i = 0; i < n * n; i++) {
		s->a[i] = mr_rng_uniform(&s->rng) - 0.5;
		s->b[i] = mr_rng_uniform(&s->rng) - 0.5;
	}
	if (sqlite3_open_v2(":memory:", &s->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK)
		return mr_errf(e, MR_EXIT_IO, "sqlite: cannot open a database");
	const char *ddl =
		"CREATE TABLE items(id INTEGER PRIMARY KEY, category INTEGER,"
		" price REAL, name TEXT);";
	char *msg = NULL;
	if (sqlite3_exec(s->db, ddl, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(s->db, "BEGIN", NULL, NULL, &msg) != SQLITE_OK) {
		mr_errf(e, MR_EXIT_IO, "sqlite: %s", msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	sqlite3_stmt *ins;
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO items VALUES(?1,?2,?3,?4)", -1,
			       &ins, NULL) != SQLITE_OK)
		return mr_errf(e, MR_EXIT_IO, "sqlite: %s",
			       sqlite3_errmsg(s->db));
	/* The same rows in every slot and node: contents depend on i only. */
	mr_rng r;
	mr_rng_seed(&r, INFO_TABLE_SEED, MR_STREAM_NODE_DATA_BASE);
	for (int i = 0; i < o->info_rows; i++) {
		char nm[32];
		snprintf(nm, sizeof nm, "item-%08d", i);
		sqlite3_bind_int(ins, 1, i);
		sqlite3_bind_int(ins, 2, (int)mr_rng_below(&r, 64));
		sqlite3_bind_double(ins, 3, 1000 * mr_rng_uniform(&r));
		sqlite3_bind_text(ins, 4, nm, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			sqlite3_finalize(ins);
			return mr_errf(e, MR_EXIT_IO, "sqlite: %s",
				       sqlite3_errmsg(s->db));
		}
		sqlite3_reset(ins);
	}
	sqlite3_finalize(ins);
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
		mr_errf(e, MR_EXIT_IO, "sqlite: %s", msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	if (sqlite3_prepare_v2(s->db,
			       "SELECT name, price FROM items WHERE id = ?1",
			       -1, &s->lookup, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
			       "SELECT category, count(*), avg(price), "
			       "max(length(name)) FROM items WHERE price "
			       "BETWEEN ?1 AND ?2 GROUP BY category",
			       -1, &s->scan, NULL) != SQLITE_OK)
		return mr_errf(e, MR_EXIT_IO, "sqlite: %s",
			       sqlite3_errmsg(s->db));
	return 0;
}

static void slot_free(slot *s)
{
	sqlite3_finalize(s->lookup);
	sqlite3_finalize(s->scan);
	sqlite3_close(s->db);
	free(s->a);
	free(s->b);
	free(s->c);
}

/* ------------------------------------------------------------------------
 * The FIFO line for worker slots.
 */
static void line_remove(tb_node *n, waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		n->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		n->tail = w->prev;
	n->nwait--;
}

static void abs_timespec(double t, struct timespec *ts)
{
	/* the condition variable uses CLOCK_MONOTONIC, as mr_now does */
	ts->tv_sec = (time_t)t;
	ts->tv_nsec = (long)((t - (double)ts->tv_sec) * 1e9);
	if (ts->tv_nsec >= 1000000000L)
		ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

/* Returns a slot index, -1 when the deadline passed, -2 when the line is
 * full, -3 when the node is stopping. */
static int slot_acquire(tb_node *n, double deadline)
{
	waiter w = {0};
	struct timespec ts;
	abs_timespec(deadline, &ts);
	pthread_mutex_lock(&n->mu);
	if (n->nwait >= n->o.max_queue) {
		n->refused++;
		pthread_mutex_unlock(&n->mu);
		return -2;
	}
	w.prev = n->tail;
	if (n->tail)
		n->tail->next = &w;
	else
		n->head = &w;
	n->tail = &w;
	n->nwait++;
	int rc = 0;
	while (!n->stopping &&
	       !(n->head == &w && n->busy < n->o.workers && !n->paused)) {
		if (pthread_cond_timedwait(&n->cv, &n->mu, &ts) == ETIMEDOUT &&
		    mr_now() >= deadline) {
			rc = -1;
			break;
		}
	}
	if (n->stopping)
		rc = -3;
	line_remove(n, &w);
	int idx = rc;
	if (rc == 0) {
		for (idx = 0; n->slots[idx].in_use; idx++)
			;
		n->slots[idx].in_use = 1;
		n->busy++;
	} else if (rc == -1) {
		n->expired++;
	}
	/* the next in line may now go (or move up) */
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
	return idx;
}

/* service < 0: the request was abandoned (cpu is not counted then). */
static void slot_release(tb_node *n, int idx, int service, double cpu,
			 double drawn)
{
	pthread_mutex_lock(&n->mu);
	n->slots[idx].in_use = 0;
	n->busy--;
	if (service >= 0) {
		n->served[service]++;
		n->served_cpu[service] += cpu;
		n->served_drawn[service] += drawn;
	} else {
		n->expired++;
	}
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

/* ------------------------------------------------------------------------
 * Work. Each returns 0 when done, 1 when abandoned (deadline or stop).
 */
typedef struct {
	tb_node *node;
	double deadline, last_cpu;
	double cpu_end; /* thread CPU time meeting the demand; 0: fixed work */
	int abandoned;
} work_ctx;

/* Charges the CPU used since the last call; 1 means abandon. */
static int work_tick(work_ctx *w)
{
	double cpu = tb_thread_cpu();
	int late = tb_quota_charge(&w->node->quota, cpu - w->last_cpu,
				   w->deadline);
	w->last_cpu = tb_thread_cpu();
	if (late || mr_now() >= w->deadline ||
	    __atomic_load_n(&w->node->stopping, __ATOMIC_RELAXED))
		w->abandoned = 1;
	return w->abandoned;
}

/* As of the last tick, has the request used its drawn CPU time? */
static int demand_met(const work_ctx *w)
{
	return w->cpu_end > 0 && w->last_cpu >= w->cpu_end;
}

/* Marsaglia and Tsang's gamma draw, scaled to the mean; shape 1/cv^2 (cv 1
 * is exponential), shapes below 1 through the u^(1/k) boost. */
double tb_demand_draw(mr_rng *r, double mean, double cv)
{
	if (cv <= 0)
		return mean;
	double k = 1 / (cv * cv), boost = 1;
	if (k < 1) {
		boost = pow(1 - mr_rng_uniform(r), 1 / k);
		k += 1;
	}
	double d = k - 1.0 / 3, c = 1 / sqrt(9 * d);
	for (;;) {
		double x, v;
		do {
			x = mr_rng_normal(r);
			v = 1 + c * x;
		} while (v <= 0);
		v = v * v * v;
		double u = mr_rng_uniform(r);
		if (u < 1 - 0.0331 * x * x * x * x ||
		    log(u) < 0.5 * x * x + d * (1 - v + log(v)))
			return mean * cv * cv * d * v * boost;
	}
}

/* Row i of c = a x b. i-k-j order: the inner loop runs along rows of b and
 * c, which the compiler vectorizes. */
static void matrix_row(slot *s, int n, int i)
{
	double *ci = s->c + (size_t)i * n;
	for (int j = 0; j < n; j++)
		ci[j] = 0;
	for (int k = 0; k < n; k++) {
		double aik = s->a[(size_t)i * n + k];
		const double *bk = s->b + (size_t)k * n;
		for (int j = 0; j < n; j++)
			ci[j] += aik * bk[j];
	}
}

/* Fixed work: one multiply. A demand: rows, round and round, until it is
 * met. A tick every few rows keeps chunks short (well under the quota of
 * one unit per period, and a small overshoot of the demand). */
static int do_compute(slot *s, int n, work_ctx *w, double *result)
{
	int rows_per_tick = n >= 256 ? 2 : 8;
	int demand = w->cpu_end > 0;
	for (long r = 0; demand || r < n; r++) {
		matrix_row(s, n, (int)(r % n));
		if ((r + 1) % rows_per_tick == 0 || r + 1 == n) {
			if (work_tick(w))
				return 1;
			if (demand_met(w))
				break;
		}
	}
	double tr = 0;
	for (int i = 0; i < n; i++)
		tr += s->c[(size_t)i * n + i];
	*result = tr;
	return 0;
}

/* SQLite calls this every 2000 virtual machine steps: non-zero interrupts
 * the query (abandoned, or the demand is met). */
static int progress_cb(void *p)
{
	work_ctx *w = p;
	return work_tick(w) || demand_met(w);
}

/* One query: a point lookup (info1) or a range aggregate (info2). Returns
 * the sqlite3_step code that ended it. */
static int info_query(slot *s, int which, double *acc)
{
	sqlite3_stmt *st = which == 1 ? s->lookup : s->scan;
	if (which == 1) {
		sqlite3_bind_int(st, 1, (int)mr_rng_below(&s->rng, 1u << 30));
	} else {
		double lo = 100 * mr_rng_uniform(&s->rng);
		sqlite3_bind_double(st, 1, lo);
		sqlite3_bind_double(st, 2, lo + 800);
	}
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*acc += sqlite3_column_double(st, which == 1 ? 1 : 2);
	sqlite3_reset(st);
	return rc;
}

/* Fixed work: `lookups` lookups (info1) or one scan (info2). A demand:
 * queries until it is met (the last one interrupted there). */
static int do_info(slot *s, int which, int lookups, work_ctx *w,
		   double *result)
{
	long count = w->cpu_end > 0 ? LONG_MAX : which == 1 ? lookups : 1;
	sqlite3_progress_handler(s->db, 2000, progress_cb, w);
	double acc = 0;
	int failed = 0;
	for (long i = 0; i < count && !w->abandoned && !demand_met(w); i++)
		if (info_query(s, which, &acc) != SQLITE_DONE &&
		    !w->abandoned && !demand_met(w))
			failed = 1;
	sqlite3_progress_handler(s->db, 0, NULL, NULL);
	if (!failed && !w->abandoned)
		work_tick(w);
	*result = acc;
	return failed || w->abandoned;
}

int tb_node_serve(tb_node *n, int svc, double deadline, double *result)
{
	int idx = slot_acquire(n, deadline);
	if (idx < 0)
		return idx;
	slot *s = &n->slots[idx];
	double t0 = tb_thread_cpu(), mean = n->o.demand_ms[svc] / 1000;
	work_ctx w = {.node = n, .deadline = deadline, .last_cpu = t0};
	double drawn = 0;
	if (mean > 0) {
		drawn = tb_demand_draw(&s->rng, mean, n->o.demand_cv);
		/* a target at or before t0 still does one unit of work */
		w.cpu_end = t0 + fmax(drawn - s->overshoot[svc], 1e-9);
	}
	*result = 0;
	int abandoned = svc == 0 ? do_compute(s, n->o.matrix, &w, result)
				 : do_info(s, svc, n->o.info1_lookups, &w,
					   result);
	double charged = w.last_cpu - t0;
	if (mean > 0 && !abandoned) /* moving average over ~10 requests */
		s->overshoot[svc] += 0.1 * (charged - drawn);
	slot_release(n, idx, abandoned ? -1 : svc, charged, drawn);
	return abandoned;
}

void tb_node_usage_get(tb_node *n, tb_node_usage *u)
{
	pthread_mutex_lock(&n->mu);
	for (int i = 0; i < MESH_NSERVICES; i++) {
		u->served[i] = n->served[i];
		u->cpu[i] = n->served_cpu[i];
		u->drawn[i] = n->served_drawn[i];
	}
	pthread_mutex_unlock(&n->mu);
}

/* ------------------------------------------------------------------------
 * HTTP
 */
static enum MHD_Result node_health(tb_node *n, struct MHD_Connection *c)
{
	pthread_mutex_lock(&n->mu);
	int busy = n->busy, nwait = n->nwait, paused = n->paused;
	uint64_t s0 = n->served[0], s1 = n->served[1], s2 = n->served[2];
	uint64_t ex = n->expired, rf = n->refused;
	double sc[MESH_NSERVICES];
	memcpy(sc, n->served_cpu, sizeof sc);
	pthread_mutex_unlock(&n->mu);
	const double *dm = n->o.demand_ms;
	pthread_mutex_lock(&n->quota.mu);
	double units = n->quota.units, slow = n->quota.slow;
	double cpu = n->quota.total, thr = n->quota.throttled;
	pthread_mutex_unlock(&n->quota.mu);
	return tb_respondf(
		c, 200, n->name,
		"{\"node\":\"%s\",\"pid\":%ld,\"units\":%.17g,\"unit\":%.17g,"
		"\"period\":%.17g,\"workers\":%d,\"slow\":%.17g,\"paused\":%d,"
		"\"busy\":%d,\"waiting\":%d,\"served_compute\":%llu,"
		"\"served_info1\":%llu,\"served_info2\":%llu,\"expired\":%llu,"
		"\"refused\":%llu,\"cpu_s\":%.6f,\"throttled_s\":%.6f,"
		"\"demand_ms_compute\":%.17g,\"demand_ms_info1\":%.17g,"
		"\"demand_ms_info2\":%.17g,\"demand_cv\":%.17g,"
		"\"cpu_s_compute\":%.6f,\"cpu_s_info1\":%.6f,"
		"\"cpu_s_info2\":%.6f}\n",
		n->name, (long)getpid(), units, n->o.unit, n->o.period,
		n->o.workers, slow, paused, busy, nwait,
		(unsigned long long)s0, (unsigned long long)s1,
		(unsigned long long)s2, (unsigned long long)ex,
		(unsigned long long)rf, cpu, thr, dm[0], dm[1], dm[2],
		n->o.demand_cv, sc[0], sc[1], sc[2]);
}

static enum MHD_Result node_admin(tb_node *n, struct MHD_Connection *c,
				  const tb_body *b)
{
	mesh_kv kv[8];
	mr_err e = {0};
	if (b->too_big)
		return tb_respondf(c, 413, n->name,
				   "{\"error\":\"body too large\"}\n");
	int cnt = mesh_flatjson_parse(b->buf ? b->buf : "", b->len, kv, 8, &e);
	if (cnt < 0)
		return tb_respondf(c, 400, n->name, "{\"error\":\"%s\"}\n",
				   e.msg);
	pthread_mutex_lock(&n->quota.mu);
	double units = n->quota.units, slow = n->quota.slow;
	pthread_mutex_unlock(&n->quota.mu);
	int paused = -1;
	for (int i = 0; i < cnt; i++) {
		if (strcmp(kv[i].key, "units") == 0 && kv[i].val > 0 &&
		    kv[i].val <= 1000)
			units = kv[i].val;
		else if (strcmp(kv[i].key, "slow") == 0 && kv[i].val >= 1 &&
			 kv[i].val <= 1000)
			slow = kv[i].val;
		else if (strcmp(kv[i].key, "paused") == 0 &&
			 (kv[i].val == 0 || kv[i].val == 1))
			paused = (int)kv[i].val;
		else
			return tb_respondf(c, 400, n->name,
					   "{\"error\":\"bad key or value: "
					   "%s (units > 0, slow >= 1, paused "
					   "0|1)\"}\n",
					   kv[i].key);
	}
	tb_quota_set(&n->quota, units, slow);
	if (paused >= 0) {
		pthread_mutex_lock(&n->mu);
		n->paused = paused;
		pthread_cond_broadcast(&n->cv);
		pthread_mutex_unlock(&n->mu);
	}
	return node_health(n, c);
}

static enum MHD_Result node_handler(void *cls, struct MHD_Connection *c,
				    const char *url, const char *method,
				    const char *version,
				    const char *upload_data,
				    size_t *upload_data_size, void **con_cls)
{
	(void)version;
	tb_node *n = cls;
	tb_body *b;
	if (!tb_body_step(con_cls, upload_data, upload_data_size, &b))
		return MHD_YES;
	if (strcmp(url, "/health") == 0)
		return node_health(n, c);
	if (strcmp(url, "/admin") == 0) {
		/* internal: only the front calls it, with the run's secret */
		enum MHD_Result r;
		if (tb_control_refused(c, method, n->o.secret, n->name, &r))
			return r;
		if (strcmp(method, "PUT") && strcmp(method, "POST"))
			return tb_respondf(c, 405, n->name,
					   "{\"error\":\"use PUT\"}\n");
		return node_admin(n, c, b);
	}
	int svc = url[0] == '/' ? mesh_service_index(url + 1, strlen(url + 1))
				: -1;
	if (svc < 0)
		return tb_respondf(c, 404, n->name,
				   "{\"error\":\"no such service: %.100s\"}\n",
				   url);
	double deadline = mr_now() + NODE_DEFAULT_DEADLINE;
	const char *dl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MESH_DEADLINE_HEADER);
	if (dl) {
		char *end;
		double ms = strtod(dl, &end);
		if (end != dl && isfinite(ms) && ms >= 0)
			deadline = mr_now() + ms / 1000;
	}
	double result;
	int rc = tb_node_serve(n, svc, deadline, &result);
	if (rc == -1)
		return tb_respondf(c, 504, n->name,
				   "{\"error\":\"deadline passed in line\"}\n");
	if (rc < 0)
		return tb_respondf(c, 503, n->name,
				   "{\"error\":\"%s\"}\n",
				   rc == -2 ? "line full" : "stopping");
	if (rc)
		return tb_respondf(c, 504, n->name,
				   "{\"error\":\"deadline passed in service\"}\n");
	return tb_respondf(c, 200, n->name,
			   "{\"node\":\"%s\",\"service\":\"%s\",\"result\":%.6g}\n",
			   n->name, mesh_service_names[svc], result);
}

/* ------------------------------------------------------------------------
 * Start and stop
 */
tb_node *tb_node_start(const tb_node_opts *o, int *bound_port, mr_err *e)
{
	int bad_demand = !(o->demand_cv >= 0 && o->demand_cv <= 4);
	for (int i = 0; i < MESH_NSERVICES; i++)
		bad_demand |= !(o->demand_ms[i] >= 0 && o->demand_ms[i] <= 1e5);
	if (o->workers < 1 || o->unit <= 0 || o->units <= 0 ||
	    o->period <= 0 || o->matrix < 8 || o->info_rows < 1 ||
	    o->max_queue < 1 || bad_demand)
		return mr_errf(e, MR_EXIT_USAGE,
			       "node %s: bad options (workers >= 1, unit > 0, "
			       "units > 0, period > 0, matrix >= 8, "
			       "info rows >= 1, queue >= 1, demand 0..1e5 ms, "
			       "demand cv 0..4)",
			       o->name),
		       NULL;
	tb_node *n = mr_xcalloc(1, sizeof *n);
	n->o = *o;
	snprintf(n->name, sizeof n->name, "%s", o->name);
	n->o.name = n->name;
	tb_quota_init(&n->quota, o->period, o->unit, o->units);
	pthread_mutex_init(&n->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cv, &ca);
	pthread_condattr_destroy(&ca);
	n->slots = mr_xcalloc((size_t)o->workers, sizeof(slot));
	for (int i = 0; i < o->workers; i++)
		if (slot_init(&n->slots[i], o, i, e) != 0) {
			tb_node_stop(n);
			return NULL;
		}
	int fd = tb_listen(o->bind, o->port, bound_port, e);
	if (fd < 0) {
		tb_node_stop(n);
		return NULL;
	}
	n->d = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			MHD_USE_POLL | MHD_USE_ERROR_LOG,
		0, NULL, NULL, node_handler, n, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_NOTIFY_COMPLETED, tb_body_completed, NULL,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)4000,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 * 1024),
		MHD_OPTION_END);
	if (!n->d) {
		close(fd);
		tb_node_stop(n);
		return mr_errf(e, MR_EXIT_IO,
			       "node %s: libmicrohttpd would not start",
			       o->name),
		       NULL;
	}
	return n;
}

void tb_node_stop(tb_node *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->mu);
	__atomic_store_n(&n->stopping, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
	if (n->d)
		MHD_stop_daemon(n->d);
	for (int i = 0; i < n->o.workers; i++)
		slot_free(&n->slots[i]);
	free(n->slots);
	pthread_mutex_destroy(&n->mu);
	pthread_cond_destroy(&n->cv);
	tb_quota_destroy(&n->quota);
	free(n);
}
