/*
 * tb_front.c - the front node: admission, routing and forwarding, plus the
 * control API.
 *
 * Service port: GET /compute, /info1, /info2 with the user class in
 * X-User-Class. Each request passes the service's token bucket, the
 * (service, class) bucket and the service's random blocking fraction (429
 * "X-Served-By: front" when refused), is routed to node 1 with probability
 * weight/100 (as Istio's weighted routes do), and is forwarded over a pool
 * of kept-alive libcurl handles. The answer carries X-Served-By.
 *
 * Control port (loopback): GET /health (open), and with the run's secret
 * (tb_control_refused): GET /nodes, GET /config, PUT /config (flat JSON of
 * the keys in mesh_key_parse), GET /stats. Node settings (units, slow,
 * stopped) are pushed to the node's /admin (which takes the same secret)
 * before PUT answers, and /config changes only once the node took them:
 * the front is the one way to change a node, so /config tells the truth.
 *
 * Not here: the work itself (tb_node.c), process management (main.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "testbed.h"

#define POOL_MAX 256

typedef struct {
	double rate;   /* tokens per second; < 0 = unlimited */
	double tokens; /* current */
	double last;   /* time of the last refill */
} bucket;

typedef struct {
	uint64_t admitted, refused, forwarded[MESH_NNODES], failed;
} counters;

struct tb_front {
	tb_front_opts o;
	char node_host[64];  /* how to reach the nodes (they listen on bind) */
	char secret[MESH_SECRET_MAX + 1];
	char auth[MESH_SECRET_MAX + 32]; /* "Authorization: Bearer ..." */
	struct MHD_Daemon *svc, *ctl;
	pthread_mutex_t mu; /* everything below except the pool */
	double weight[MESH_NSERVICES][MESH_NCLASSES]; /* % to node 1 */
	bucket bsvc[MESH_NSERVICES], bcls[MESH_NSERVICES][MESH_NCLASSES];
	double block[MESH_NSERVICES];
	double units[MESH_NNODES], slow[MESH_NNODES];
	int stopped[MESH_NNODES];
	double timeout, burst;
	mr_rng rng;
	counters cnt[MESH_NSERVICES][MESH_NCLASSES];
	pthread_mutex_t ctl_mu; /* one control change at a time */
	pthread_mutex_t pool_mu;
	CURL *pool[MESH_NNODES][POOL_MAX];
	int npool[MESH_NNODES];
};

/* ------------------------------------------------------------------------
 * Upstream calls (to processing nodes) on pooled easy handles.
 */
typedef struct {
	char *buf;
	size_t len, cap;
} membuf;

static size_t membuf_write(char *p, size_t sz, size_t n, void *ud)
{
	membuf *m = ud;
	size_t k = sz * n;
	if (m->len + k + 1 > m->cap) {
		size_t cap = (m->len + k + 1) * 2;
		if (cap > TB_BODY_MAX * 4)
			return 0; /* refuse absurd answers */
		m->buf = mr_xrealloc(m->buf, cap, 1);
		m->cap = cap;
	}
	memcpy(m->buf + m->len, p, k);
	m->len += k;
	m->buf[m->len] = 0;
	return k;
}

/* A pooled handle, or a new one; NULL when curl cannot make one. */
static CURL *pool_get(tb_front *f, int node)
{
	CURL *h = NULL;
	pthread_mutex_lock(&f->pool_mu);
	if (f->npool[node] > 0)
		h = f->pool[node][--f->npool[node]];
	pthread_mutex_unlock(&f->pool_mu);
	return h ? h : curl_easy_init();
}

static void pool_put(tb_front *f, int node, CURL *h)
{
	pthread_mutex_lock(&f->pool_mu);
	if (f->npool[node] < POOL_MAX) {
		f->pool[node][f->npool[node]++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&f->pool_mu);
	if (h)
		curl_easy_cleanup(h);
}

/* One HTTP exchange with a node. Returns the curl code; *status the HTTP
 * status (0 if none); body in *m (caller frees m->buf). */
static CURLcode node_call(tb_front *f, int node, const char *method,
			  const char *path, const char *body,
			  struct curl_slist *hdrs, double timeout,
			  long *status, membuf *m, char *err, size_t errlen)
{
	char url[128];
	snprintf(url, sizeof url, "http://%s:%d%s", f->node_host,
		 f->o.node_port[node], path);
	CURL *h = pool_get(f, node);
	*status = 0;
	if (!h) {
		if (err)
			snprintf(err, errlen, "curl_easy_init failed");
		return CURLE_FAILED_INIT;
	}
	char ebuf[CURL_ERROR_SIZE] = "";
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, membuf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, m);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	if (hdrs)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (body) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	CURLcode rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	if (rc != CURLE_OK && err)
		snprintf(err, errlen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
	/* A handle whose transfer failed may hold a broken connection;
	 * curl drops it itself, so the handle is still fit for reuse. */
	pool_put(f, node, h);
	return rc;
}

/* ------------------------------------------------------------------------
 * Admission
 */
static void bucket_refill(bucket *b, double burst, double now)
{
	if (b->rate < 0)
		return;
	/* at least one request of burst, except at rate 0: refuse all */
	double cap = b->rate > 0 ? fmax(1, b->rate * burst) : 0;
	b->tokens = fmin(cap, b->tokens + (now - b->last) * b->rate);
	b->last = now;
}

static int bucket_has(const bucket *b)
{
	return b->rate < 0 || b->tokens >= 1;
}

static void bucket_spend(bucket *b)
{
	if (b->rate >= 0)
		b->tokens -= 1;
}

static void bucket_set(bucket *b, double rate, double burst, double now)
{
	b->rate = rate;
	b->last = now;
	/* start full, as a fresh rate limiter does */
	b->tokens = rate <= 0 ? 0 : fmax(1, rate * burst);
}

/* Decides admission and the node; returns the node index or -1 when
 * refused. Caller does not hold mu. */
static int admit_and_route(tb_front *f, int svc, int cls)
{
	double now = mr_now();
	int node = -1;
	pthread_mutex_lock(&f->mu);
	counters *k = &f->cnt[svc][cls];
	/* Both buckets must have a token before either is spent, so a request
	 * refused by its class does not use up the service's token. */
	bucket *bs = &f->bsvc[svc], *bc = &f->bcls[svc][cls];
	bucket_refill(bs, f->burst, now);
	bucket_refill(bc, f->burst, now);
	int ok = bucket_has(bs) && bucket_has(bc);
	if (ok)
		bucket_spend(bs), bucket_spend(bc);
	if (ok && f->block[svc] > 0 && mr_rng_uniform(&f->rng) < f->block[svc])
		ok = 0;
	if (ok) {
		k->admitted++;
		node = mr_rng_uniform(&f->rng) * 100 < f->weight[svc][cls] ? 0 : 1;
		k->forwarded[node]++;
	} else {
		k->refused++;
	}
	pthread_mutex_unlock(&f->mu);
	return node;
}

/* ------------------------------------------------------------------------
 * Service port
 */
/* An admitted request that got no 200 from its node. */
static void count_failed(tb_front *f, int svc, int cls)
{
	pthread_mutex_lock(&f->mu);
	f->cnt[svc][cls].failed++;
	pthread_mutex_unlock(&f->mu);
}

static enum MHD_Result front_service(void *cls, struct MHD_Connection *c,
				     const char *url, const char *method,
				     const char *version,
				     const char *upload_data,
				     size_t *upload_data_size, void **con_cls)
{
	(void)version, (void)method;
	tb_front *f = cls;
	tb_body *b;
	if (!tb_body_step(con_cls, upload_data, upload_data_size, &b))
		return MHD_YES;
	if (strcmp(url, "/health") == 0)
		return tb_respondf(c, 200, "front", "{\"status\":\"ok\"}\n");
	int svc = url[0] == '/' ? mesh_service_index(url + 1, strlen(url + 1))
				: -1;
	if (svc < 0)
		return tb_respondf(c, 404, "front",
				   "{\"error\":\"no such service: %.100s\"}\n",
				   url);
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MESH_CLASS_HEADER);
	int klass = cl ? mesh_class_index(cl, strlen(cl)) : 1;
	if (klass < 0)
		return tb_respondf(c, 400, "front",
				   "{\"error\":\"unknown user class '%.40s' "
				   "(premium|freemium)\"}\n",
				   cl);
	int node = admit_and_route(f, svc, klass);
	if (node < 0)
		return tb_respondf(c, 429, "front",
				   "{\"error\":\"rate limit\"}\n");
	pthread_mutex_lock(&f->mu);
	double timeout = f->timeout;
	pthread_mutex_unlock(&f->mu);
	char h1[64], h2[64];
	snprintf(h1, sizeof h1, "%s: %s", MESH_CLASS_HEADER, mesh_class_names[klass]);
	snprintf(h2, sizeof h2, "%s: %.0f", MESH_DEADLINE_HEADER, timeout * 1000);
	struct curl_slist *hdrs = curl_slist_append(NULL, h1);
	struct curl_slist *h2l = hdrs ? curl_slist_append(hdrs, h2) : NULL;
	if (!h2l) {
		curl_slist_free_all(hdrs);
		count_failed(f, svc, klass);
		return tb_respondf(c, 500, "front",
				   "{\"error\":\"out of memory\"}\n");
	}
	membuf m = {0};
	long status;
	char err[CURL_ERROR_SIZE];
	char path[16];
	snprintf(path, sizeof path, "/%s", mesh_service_names[svc]);
	/* a little beyond the node's own deadline so the node answers 504 */
	CURLcode rc = node_call(f, node, "GET", path, NULL, hdrs,
				timeout + 0.5, &status, &m, err, sizeof err);
	curl_slist_free_all(hdrs);
	enum MHD_Result r;
	if (rc == CURLE_OK) {
		r = tb_respond(c, (unsigned)status, mesh_node_names[node],
			       "application/json", m.buf ? m.buf : "", m.len);
	} else {
		unsigned st = rc == CURLE_OPERATION_TIMEDOUT ? 504 : 502;
		r = tb_respondf(c, st, mesh_node_names[node],
				"{\"error\":\"%s: %s\"}\n", mesh_node_names[node],
				err);
	}
	if (rc != CURLE_OK || status != 200)
		count_failed(f, svc, klass);
	free(m.buf);
	return r;
}

/* ------------------------------------------------------------------------
 * Control port
 */
/* Writes the whole configuration as flat JSON into buf. */
static size_t config_json(tb_front *f, char *buf, size_t cap)
{
	size_t n = 0;
#define OUT(...)                                                          \
	do {                                                              \
		int w_ = snprintf(buf + n, cap - n, __VA_ARGS__);         \
		if (w_ > 0 && (size_t)w_ < cap - n)                       \
			n += (size_t)w_;                                  \
	} while (0)
	pthread_mutex_lock(&f->mu);
	OUT("{");
	for (int s = 0; s < MESH_NSERVICES; s++) {
		for (int c = 0; c < MESH_NCLASSES; c++)
			OUT("\"weight.%s.%s\":%.17g,", mesh_service_names[s],
			    mesh_class_names[c], f->weight[s][c]);
		OUT("\"rate.%s\":%.17g,", mesh_service_names[s], f->bsvc[s].rate);
		for (int c = 0; c < MESH_NCLASSES; c++)
			OUT("\"rate.%s.%s\":%.17g,", mesh_service_names[s],
			    mesh_class_names[c], f->bcls[s][c].rate);
		OUT("\"block.%s\":%.17g,", mesh_service_names[s], f->block[s]);
	}
	for (int j = 0; j < MESH_NNODES; j++)
		OUT("\"units.%s\":%.17g,\"slow.%s\":%.17g,\"stopped.%s\":%d,",
		    mesh_node_names[j], f->units[j], mesh_node_names[j], f->slow[j],
		    mesh_node_names[j], f->stopped[j]);
	OUT("\"timeout\":%.17g,\"burst\":%.17g}\n", f->timeout, f->burst);
	pthread_mutex_unlock(&f->mu);
#undef OUT
	return n;
}

static size_t stats_json(tb_front *f, char *buf, size_t cap)
{
	size_t n = 0;
	pthread_mutex_lock(&f->mu);
	n += (size_t)snprintf(buf, cap, "{");
	for (int s = 0; s < MESH_NSERVICES; s++)
		for (int c = 0; c < MESH_NCLASSES && n < cap; c++) {
			counters *k = &f->cnt[s][c];
			int w = snprintf(
				buf + n, cap - n,
				"\"%s.%s.admitted\":%llu,\"%s.%s.refused\":%llu,"
				"\"%s.%s.node1\":%llu,\"%s.%s.node2\":%llu,"
				"\"%s.%s.failed\":%llu,",
				mesh_service_names[s], mesh_class_names[c],
				(unsigned long long)k->admitted,
				mesh_service_names[s], mesh_class_names[c],
				(unsigned long long)k->refused,
				mesh_service_names[s], mesh_class_names[c],
				(unsigned long long)k->forwarded[0],
				mesh_service_names[s], mesh_class_names[c],
				(unsigned long long)k->forwarded[1],
				mesh_service_names[s], mesh_class_names[c],
				(unsigned long long)k->failed);
			if (w > 0)
				n += (size_t)w;
		}
	pthread_mutex_unlock(&f->mu);
	if (n < cap)
		n += (size_t)snprintf(buf + n, cap - n, "\"pid\":%ld}\n",
				      (long)getpid());
	return n < cap ? n : cap - 1;
}

/* Pushes one node's settings; returns 0 or -1 with the node's answer. */
static int push_node(tb_front *f, int node, double units, double slow,
		     int stopped, mr_err *e)
{
	char body[160];
	snprintf(body, sizeof body,
		 "{\"units\":%.17g,\"slow\":%.17g,\"paused\":%d}", units, slow,
		 stopped);
	struct curl_slist *h =
		curl_slist_append(NULL, "Content-Type: application/json");
	struct curl_slist *h2 = h ? curl_slist_append(h, f->auth) : NULL;
	if (!h2) {
		curl_slist_free_all(h);
		return mr_errf(e, MR_EXIT_IO, "out of memory");
	}
	membuf m = {0};
	long status;
	char err[CURL_ERROR_SIZE] = "";
	CURLcode rc = node_call(f, node, "PUT", "/admin", body, h, 5, &status,
				&m, err, sizeof err);
	curl_slist_free_all(h);
	int ret = 0;
	if (rc != CURLE_OK)
		ret = mr_errf(e, MR_EXIT_REMOTE, "%s (%s:%d): %s",
			      mesh_node_names[node], f->node_host,
			      f->o.node_port[node], err);
	else if (status != 200)
		ret = mr_errf(e, MR_EXIT_REMOTE, "%s (%s:%d) answered %ld: %.200s",
			      mesh_node_names[node], f->node_host,
			      f->o.node_port[node], status, m.buf ? m.buf : "");
	free(m.buf);
	return ret;
}

/* Applies a PUT /config body: all keys are checked before any is applied.
 * Returns the HTTP status; e says why when not 200. */
static unsigned config_put(tb_front *f, const tb_body *b, mr_err *e)
{
	enum { MAXKV = 64 };
	mesh_kv kv[MAXKV];
	mesh_key keys[MAXKV];
	if (b->too_big)
		return mr_errf(e, MR_EXIT_DATA, "body too large"), 413;
	int n = mesh_flatjson_parse(b->buf ? b->buf : "", b->len, kv, MAXKV, e);
	if (n < 0)
		return 400;
	for (int i = 0; i < n; i++)
		if (mesh_key_parse(kv[i].key, &keys[i], e) ||
		    mesh_key_check(&keys[i], kv[i].key, kv[i].val, e))
			return 400;
	pthread_mutex_lock(&f->ctl_mu);
	pthread_mutex_lock(&f->mu);
	double units[MESH_NNODES], slow[MESH_NNODES];
	int stopped[MESH_NNODES], touched[MESH_NNODES] = {0};
	memcpy(units, f->units, sizeof units);
	memcpy(slow, f->slow, sizeof slow);
	memcpy(stopped, f->stopped, sizeof stopped);
	double now = mr_now();
	for (int i = 0; i < n; i++) {
		mesh_key *k = &keys[i];
		double v = kv[i].val;
		int c0 = k->cls < 0 ? 0 : k->cls;
		int c1 = k->cls < 0 ? MESH_NCLASSES : k->cls + 1;
		switch (k->kind) {
		case MESH_K_WEIGHT:
			for (int c = c0; c < c1; c++)
				f->weight[k->svc][c] = v;
			break;
		case MESH_K_RATE:
			if (k->cls < 0)
				bucket_set(&f->bsvc[k->svc], v, f->burst, now);
			else
				bucket_set(&f->bcls[k->svc][k->cls], v, f->burst,
					   now);
			break;
		case MESH_K_BLOCK: f->block[k->svc] = v; break;
		case MESH_K_UNITS: units[k->node] = v, touched[k->node] = 1; break;
		case MESH_K_SLOW: slow[k->node] = v, touched[k->node] = 1; break;
		case MESH_K_STOPPED:
			stopped[k->node] = (int)v, touched[k->node] = 1;
			break;
		case MESH_K_TIMEOUT: f->timeout = v; break;
		case MESH_K_BURST: f->burst = v; break;
		}
	}
	pthread_mutex_unlock(&f->mu);
	unsigned status = 200;
	for (int j = 0; j < MESH_NNODES; j++) {
		if (!touched[j])
			continue;
		if (push_node(f, j, units[j], slow[j], stopped[j], e) != 0) {
			status = 502;
			break;
		}
		pthread_mutex_lock(&f->mu);
		f->units[j] = units[j];
		f->slow[j] = slow[j];
		f->stopped[j] = stopped[j];
		pthread_mutex_unlock(&f->mu);
	}
	pthread_mutex_unlock(&f->ctl_mu);
	return status;
}

/* Reads a node's /health into kv; returns the pair count or -1. */
static int node_health(tb_front *f, int node, mesh_kv *kv, size_t max,
		       mr_err *e)
{
	membuf m = {0};
	long status;
	char err[CURL_ERROR_SIZE] = "";
	CURLcode rc = node_call(f, node, "GET", "/health", NULL, NULL, 2,
				&status, &m, err, sizeof err);
	int n;
	if (rc != CURLE_OK)
		n = mr_errf(e, MR_EXIT_REMOTE, "%s (%s:%d): %s",
			    mesh_node_names[node], f->node_host,
			    f->o.node_port[node], err);
	else if (status != 200)
		n = mr_errf(e, MR_EXIT_REMOTE, "%s answered %ld",
			    mesh_node_names[node], status);
	else
		n = mesh_flatjson_parse(m.buf, m.len, kv, max, e);
	free(m.buf);
	return n;
}

static enum MHD_Result front_control(void *cls, struct MHD_Connection *c,
				     const char *url, const char *method,
				     const char *version,
				     const char *upload_data,
				     size_t *upload_data_size, void **con_cls)
{
	(void)version;
	tb_front *f = cls;
	tb_body *b;
	if (!tb_body_step(con_cls, upload_data, upload_data_size, &b))
		return MHD_YES;
	char buf[8192];
	int get = strcmp(method, "GET") == 0;
	int put = strcmp(method, "PUT") == 0;
	if (strcmp(url, "/health") == 0 && get)
		return tb_respondf(c, 200, "front",
				   "{\"status\":\"ok\",\"pid\":%ld}\n",
				   (long)getpid());
	enum MHD_Result refused;
	if (tb_control_refused(c, method, f->secret, "front", &refused))
		return refused;
	if (strcmp(url, "/nodes") == 0 && get) {
		const char *st[MESH_NNODES];
		for (int j = 0; j < MESH_NNODES; j++) {
			mesh_kv kv[32];
			mr_err e;
			st[j] = node_health(f, j, kv, 32, &e) >= 0 ? "ok"
								   : "unreachable";
		}
		return tb_respondf(c, 200, "front",
				   "{\"node1\":\"%s\",\"node2\":\"%s\"}\n",
				   st[0], st[1]);
	}
	if (strcmp(url, "/config") == 0 && (get || put)) {
		if (put) {
			mr_err e = {0};
			unsigned st = config_put(f, b, &e);
			if (st != 200)
				return tb_respondf(c, st, "front",
						   "{\"error\":\"%s\"}\n", e.msg);
		}
		size_t n = config_json(f, buf, sizeof buf);
		return tb_respond(c, 200, "front", "application/json", buf, n);
	}
	if (strcmp(url, "/stats") == 0 && get) {
		size_t n = stats_json(f, buf, sizeof buf);
		return tb_respond(c, 200, "front", "application/json", buf, n);
	}
	return tb_respondf(c, 404, "front",
			   "{\"error\":\"%s %.100s: not here (GET /health, GET /nodes, GET "
			   "/config, PUT /config, GET /stats)\"}\n",
			   method, url);
}

/* ------------------------------------------------------------------------
 * Start and stop
 */
tb_front *tb_front_start(const tb_front_opts *o, int *bound_port,
			 int *bound_control, mr_err *e)
{
	if (o->upstream_timeout <= 0)
		return mr_errf(e, MR_EXIT_USAGE, "front: timeout must be > 0"),
		       NULL;
	tb_front *f = mr_xcalloc(1, sizeof *f);
	f->o = *o;
	tb_url_host(o->bind, f->node_host, sizeof f->node_host);
	if (!o->secret || mesh_secret_check(o->secret, "front", e) != 0) {
		if (!o->secret)
			mr_errf(e, MR_EXIT_USAGE, "front: no control secret");
		free(f);
		return NULL;
	}
	snprintf(f->secret, sizeof f->secret, "%s", o->secret);
	snprintf(f->auth, sizeof f->auth, "Authorization: Bearer %s", f->secret);
	f->o.secret = f->secret;
	pthread_mutex_init(&f->mu, NULL);
	pthread_mutex_init(&f->ctl_mu, NULL);
	pthread_mutex_init(&f->pool_mu, NULL);
	mr_rng_seed(&f->rng, o->seed, MR_STREAM_FRONT_ROUTING);
	f->timeout = o->upstream_timeout;
	f->burst = 1;
	double now = mr_now();
	for (int s = 0; s < MESH_NSERVICES; s++) {
		bucket_set(&f->bsvc[s], -1, f->burst, now);
		for (int c = 0; c < MESH_NCLASSES; c++) {
			f->weight[s][c] = 50;
			bucket_set(&f->bcls[s][c], -1, f->burst, now);
		}
	}
	/* The nodes' own settings are the starting point. */
	for (int j = 0; j < MESH_NNODES; j++) {
		mesh_kv kv[32];
		int n = node_health(f, j, kv, 32, e);
		if (n < 0) {
			mr_err_prefix(e, "front: cannot reach processing node");
			tb_front_stop(f);
			return NULL;
		}
		f->units[j] = 1, f->slow[j] = 1;
		for (int i = 0; i < n; i++) {
			if (strcmp(kv[i].key, "units") == 0)
				f->units[j] = kv[i].val;
			if (strcmp(kv[i].key, "slow") == 0)
				f->slow[j] = kv[i].val;
			if (strcmp(kv[i].key, "paused") == 0)
				f->stopped[j] = (int)kv[i].val;
		}
	}
	int fd = tb_listen(o->bind, o->port, bound_port, e);
	if (fd < 0) {
		tb_front_stop(f);
		return NULL;
	}
	f->svc = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			MHD_USE_POLL | MHD_USE_ERROR_LOG,
		0, NULL, NULL, front_service, f, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_NOTIFY_COMPLETED, tb_body_completed, NULL,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)4000,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 * 1024),
		MHD_OPTION_END);
	if (!f->svc) {
		close(fd);
		tb_front_stop(f);
		return mr_errf(e, MR_EXIT_IO,
			       "front: libmicrohttpd would not start"),
		       NULL;
	}
	int cfd = tb_listen("127.0.0.1", o->control_port, bound_control, e);
	if (cfd < 0) {
		tb_front_stop(f);
		return NULL;
	}
	/* One event-loop thread: control calls are short, and /health here
	 * doubles as the cheap endpoint for load-generator benchmarks. poll,
	 * not epoll: libmicrohttpd 0.9.75's epoll mode leaves kept-alive
	 * connections unanswered after their first request once about a
	 * hundred are open (test_testbed.sh). */
	f->ctl = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
			MHD_USE_ERROR_LOG,
		0, NULL, NULL, front_control, f, MHD_OPTION_LISTEN_SOCKET, cfd,
		MHD_OPTION_NOTIFY_COMPLETED, tb_body_completed, NULL,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
	if (!f->ctl) {
		close(cfd);
		tb_front_stop(f);
		return mr_errf(e, MR_EXIT_IO,
			       "front: libmicrohttpd would not start the "
			       "control port"),
		       NULL;
	}
	return f;
}

void tb_front_stop(tb_front *f)
{
	if (!f)
		return;
	if (f->ctl)
		MHD_stop_daemon(f->ctl);
	if (f->svc)
		MHD_stop_daemon(f->svc);
	for (int j = 0; j < MESH_NNODES; j++)
		for (int i = 0; i < f->npool[j]; i++)
			curl_easy_cleanup(f->pool[j][i]);
	pthread_mutex_destroy(&f->mu);
	pthread_mutex_destroy(&f->ctl_mu);
	pthread_mutex_destroy(&f->pool_mu);
	free(f);
}
