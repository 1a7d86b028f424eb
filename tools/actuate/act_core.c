/*
 * act_core.c - actuate's logic: schema columns to testbed keys, HTTP with
 * retries, and the two targets (local testbed, Kubernetes + Istio).
 *
 * Every HTTP exchange goes through http_call: transient failures (cannot
 * connect, timeouts, 5xx, 429) are retried with doubling delays; any other
 * answer is an error that names the method, URL, status and the start of
 * the body (credentials blanked out). Each host gets only its own
 * credential: the API server the token, the control URL the secret.
 * Not here: command-line parsing (main.c).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "actuate.h"
#include "meshapi.h"

/* ------------------------------------------------------------------------
 * Schema columns to control-API keys (the table is meshapi's)
 */
static const act_kv *find_kv(const act_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return &kv[i];
	return NULL;
}

static int is_testbed_key(const char *k)
{
	return strchr(k, '.') || strcmp(k, "timeout") == 0 ||
	       strcmp(k, "burst") == 0;
}

/* One input pair as a control-API key: an action column translated, a
 * testbed key as it is. Returns 0 or -1 (MR_EXIT_DATA). */
static int translate_one(const mesh_schema *s, const act_kv *in, size_t n,
			 size_t i, act_kv *o, mr_err *e)
{
	const char *k = in[i].key;
	const mesh_action_col *a = mesh_schema_action(s, k);
	if (a) {
		snprintf(o->key, sizeof o->key, "%s", a->key);
		o->val = in[i].val * a->scale;
		if (a->no_limit) {
			const act_kv *l = find_kv(in, n, s->loads[a->load].col);
			if (in[i].val < 0 || (l && in[i].val >= l->val))
				o->val = -1;
		}
	} else if (is_testbed_key(k)) {
		*o = in[i];
	} else {
		return mr_errf(e, MR_EXIT_DATA,
			       "'%s' is neither a column of schema '%s' nor a "
			       "testbed key",
			       k, s->name);
	}
	mesh_key tk;
	if (mesh_key_parse(o->key, &tk, e) != 0 ||
	    mesh_key_check(&tk, o->key, o->val, e) != 0)
		return mr_err_prefix(e, "%s=%g", k, in[i].val);
	return 0;
}

int act_translate(const char *schema, const act_kv *in, size_t n,
		  act_kv *out, size_t max, mr_err *e)
{
	const mesh_schema *s = mesh_schema_get(schema ? schema : "generic", e);
	if (!s)
		return -1;
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (mesh_schema_load(s, in[i].key) >= 0)
			continue; /* loads are the generator's, not actions */
		act_kv o;
		if (translate_one(s, in, n, i, &o, e) != 0)
			return -1;
		if (m >= max)
			return mr_errf(e, MR_EXIT_DATA,
				       "more than %zu actions", max);
		out[m++] = o;
	}
	return (int)m;
}

int act_config_column(const char *schema, const char *column,
		      const act_kv *cfg, size_t ncfg, double max_l,
		      double *out, mr_err *e)
{
	const mesh_schema *s = mesh_schema_get(schema, e);
	if (!s)
		return -1;
	const mesh_action_col *a = mesh_schema_action(s, column);
	if (!a)
		return mr_errf(e, MR_EXIT_USAGE,
			       "'%s' is not an action column of schema '%s'",
			       column, schema);
	const char *key = a->read_key ? a->read_key : a->key;
	const act_kv *v = find_kv(cfg, ncfg, key);
	if (!v)
		return mr_errf(e, MR_EXIT_REMOTE,
			       "the configuration has no '%s'", key);
	*out = v->val / a->scale;
	if (a->no_limit && v->val < 0)
		*out = max_l;
	return 0;
}

int act_parse_line(const char *line, act_kv *kv, size_t max, mr_err *e)
{
	size_t n = 0;
	const char *p = line;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\r' ||
		       *p == '\n')
			p++;
		if (!*p || *p == '#')
			break;
		const char *eq = strchr(p, '=');
		size_t klen = eq ? (size_t)(eq - p) : 0;
		if (!eq || klen == 0 || klen >= sizeof kv[0].key ||
		    memchr(p, ' ', klen) || memchr(p, ',', klen))
			return mr_errf(e, MR_EXIT_DATA,
				       "expected KEY=VALUE at '%.40s'", p);
		if (n >= max)
			return mr_errf(e, MR_EXIT_DATA, "more than %zu actions",
				       max);
		memcpy(kv[n].key, p, klen);
		kv[n].key[klen] = 0;
		char *end;
		errno = 0;
		double v = strtod(eq + 1, &end);
		if (end == eq + 1 || errno || !isfinite(v) ||
		    (*end && !strchr(" \t,\r\n#", *end)))
			return mr_errf(e, MR_EXIT_DATA,
				       "%s: '%.40s' is not a finite number",
				       kv[n].key, eq + 1);
		for (size_t i = 0; i < n; i++)
			if (strcmp(kv[i].key, kv[n].key) == 0)
				return mr_errf(e, MR_EXIT_DATA,
					       "%s given twice", kv[n].key);
		kv[n++].val = v;
		p = end;
	}
	return (int)n;
}

/* ------------------------------------------------------------------------
 * HTTP with retries
 */
struct act_target {
	act_opts o;
	CURL *h;
	char *token, *secret;     /* as read; blanked out of messages */
	char *api_auth, *ctl_auth; /* "Authorization: Bearer ..." or NULL */
};

typedef struct {
	char *buf;
	size_t len, cap;
} abuf;

static size_t abuf_write(char *p, size_t sz, size_t n, void *ud)
{
	abuf *b = ud;
	size_t k = sz * n;
	if (b->len + k + 1 > b->cap) {
		if (b->len + k + 1 > (1u << 20))
			return 0;
		b->cap = (b->len + k + 1) * 2;
		b->buf = mr_xrealloc(b->buf, b->cap, 1);
	}
	memcpy(b->buf + b->len, p, k);
	b->len += k;
	b->buf[b->len] = 0;
	return k;
}

static int transient_curl(CURLcode rc)
{
	return rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT ||
	       rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR ||
	       rc == CURLE_GOT_NOTHING || rc == CURLE_COULDNT_RESOLVE_HOST ||
	       rc == CURLE_PARTIAL_FILE;
}

#define EXCERPT_MAX 200

/* The start of an answer for an error message: printable characters, at
 * most EXCERPT_MAX of them, and the token and secret blanked out wherever
 * they occur (a server may echo what it was sent). out holds at least
 * EXCERPT_MAX + 4 bytes. */
static void excerpt(const act_target *t, const char *s, char *out)
{
	const char *cred[2] = {t->token, t->secret};
	size_t j = 0, i = 0;
	while (s && s[i] && j < EXCERPT_MAX) {
		size_t skip = 0;
		for (int k = 0; k < 2; k++)
			if (cred[k] && strncmp(s + i, cred[k],
					       strlen(cred[k])) == 0)
				skip = strlen(cred[k]);
		if (skip) {
			for (const char *m = "***"; *m && j < EXCERPT_MAX; m++)
				out[j++] = *m;
			i += skip;
			continue;
		}
		out[j++] = isprint((unsigned char)s[i]) ? s[i] : ' ';
		i++;
	}
	while (j && out[j - 1] == ' ')
		j--;
	if (s && s[i])
		out[j++] = '.', out[j++] = '.', out[j++] = '.';
	out[j] = 0;
}

static int is_plain_http(const char *url)
{
	return url && strncasecmp(url, "http://", 7) == 0;
}

/* Is the URL's host a loopback address (127.x.x.x, [::1], localhost)? */
static int is_loopback(const char *url)
{
	const char *h = strstr(url, "://");
	h = h ? h + 3 : url;
	if (strncmp(h, "[::1]", 5) == 0)
		return 1;
	size_t n = strcspn(h, ":/?#");
	if (n == 9 && strncasecmp(h, "localhost", 9) == 0)
		return 1;
	if (n < 4 || strncmp(h, "127.", 4) != 0)
		return 0;
	/* "127.0.0.1@elsewhere" is elsewhere */
	return strspn(h, "0123456789.") == n;
}

/* The secret goes over plain http:// only to loopback (where the testbed's
 * control port is) unless allowed. */
static int secret_withheld(const act_opts *o)
{
	return o->secret && !o->insecure_http && is_plain_http(o->control) &&
	       !is_loopback(o->control);
}

/* The request headers; NULL when out of memory. */
static struct curl_slist *request_headers(const char *ctype, const char *auth)
{
	struct curl_slist *hdrs = NULL, *tmp;
	char ct[128];
	if (ctype) {
		snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
		if (!(hdrs = curl_slist_append(NULL, ct)))
			return NULL;
	}
	if (!(tmp = curl_slist_append(hdrs, "Accept: application/json")))
		goto oom;
	hdrs = tmp;
	if (auth && !(tmp = curl_slist_append(hdrs, auth)))
		goto oom;
	return tmp;
oom:
	curl_slist_free_all(hdrs);
	return NULL;
}

static void setup_handle(act_target *t, const char *method, const char *url,
			 struct curl_slist *hdrs, const char *body, abuf *b,
			 char *ebuf)
{
	CURL *h = t->h;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(t->o.timeout * 1000));
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(fmin(t->o.timeout, 5) * 1000));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, abuf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	/* TLS is verified unless the caller gives another CA file;
	 * there is no switch to turn verification off. */
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (t->o.cacert)
		curl_easy_setopt(h, CURLOPT_CAINFO, t->o.cacert);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
}

/* What went wrong, for a message: curl's error, or the status and the
 * start of the answer (credentials blanked out). */
static void describe_failure(const act_target *t, CURLcode rc, long status,
			     const char *ebuf, const char *answer,
			     char *what, size_t n)
{
	char ex[EXCERPT_MAX + 4];
	if (rc != CURLE_OK) {
		snprintf(what, n, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
		return;
	}
	excerpt(t, answer, ex);
	snprintf(what, n, "host answered %ld%s%s", status, ex[0] ? ": " : "",
		 ex);
}

/* One request, with the header auth (NULL: none); answer body in *resp
 * (caller frees; may be NULL). */
static int http_call(act_target *t, const char *method, const char *url,
		     const char *auth, const char *ctype, const char *body,
		     char **resp, mr_err *e)
{
	double delay = t->o.backoff;
	for (int attempt = 0;; attempt++) {
		abuf b = {0};
		char ebuf[CURL_ERROR_SIZE] = "";
		struct curl_slist *hdrs = request_headers(ctype, auth);
		if (!hdrs)
			return mr_errf(e, MR_EXIT_IO, "out of memory");
		setup_handle(t, method, url, hdrs, body, &b, ebuf);
		if (t->o.verbose)
			fprintf(stderr, "actuate: %s %s %s\n", method, url,
				body ? body : "");
		CURLcode rc = curl_easy_perform(t->h);
		long status = 0;
		curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &status);
		curl_slist_free_all(hdrs);
		if (rc == CURLE_OK && status >= 200 && status < 300) {
			if (resp)
				*resp = b.buf;
			else
				free(b.buf);
			return 0;
		}
		int transient = rc != CURLE_OK ? transient_curl(rc)
					       : (status >= 500 || status == 429);
		char what[600];
		describe_failure(t, rc, status, ebuf, b.buf, what, sizeof what);
		free(b.buf);
		int withheld = status == 401 && secret_withheld(&t->o) &&
			       strncmp(url, t->o.control,
				       strlen(t->o.control)) == 0;
		if (!transient || attempt >= t->o.retries)
			return mr_errf(e, MR_EXIT_REMOTE, "%s %s: %s%s%s",
				       method, url, what,
				       transient && attempt
					       ? " (gave up after retries)"
					       : "",
				       withheld ? " (the control secret was not "
						  "sent: plain http:// to a "
						  "host that is not loopback; "
						  "--insecure-http sends it)"
						: "");
		if (t->o.verbose)
			fprintf(stderr, "actuate: %s; retrying in %.2f s\n",
				what, delay);
		struct timespec ts = {(time_t)delay,
				      (long)((delay - (time_t)delay) * 1e9)};
		nanosleep(&ts, NULL);
		delay = fmin(delay * 2, 10);
	}
}

/* ------------------------------------------------------------------------
 * Testbed target
 */
static char *flat_json(const act_kv *kv, size_t n)
{
	size_t cap = 2 + n * 100, len = 0;
	char *s = mr_xcalloc(cap, 1);
	s[len++] = '{';
	for (size_t i = 0; i < n; i++) {
		char num[32];
		len += (size_t)snprintf(s + len, cap - len, "%s\"%s\":%s",
					i ? "," : "", kv[i].key,
					mr_fmt_double(num, kv[i].val));
	}
	s[len++] = '}';
	return s;
}

static int control_put(act_target *t, const act_kv *kv, size_t n, mr_err *e)
{
	if (!n)
		return 0;
	if (!t->o.control)
		return mr_errf(e, MR_EXIT_USAGE,
			       "rate, block and testbed keys need the front "
			       "node's control URL (--control)");
	char url[1024];
	snprintf(url, sizeof url, "%s/config", t->o.control);
	char *body = flat_json(kv, n);
	int rc = http_call(t, "PUT", url, t->ctl_auth, "application/json", body,
			   NULL, e);
	free(body);
	return rc;
}

int act_get_config(act_target *t, act_kv *cfg, size_t max, mr_err *e)
{
	if (!t->o.control)
		return mr_errf(e, MR_EXIT_USAGE, "no control URL");
	char url[1024], *resp = NULL;
	snprintf(url, sizeof url, "%s/config", t->o.control);
	if (http_call(t, "GET", url, t->ctl_auth, NULL, NULL, &resp, e) != 0)
		return -1;
	mesh_kv *kv = mr_xcalloc(max, sizeof *kv);
	int n = mesh_flatjson_parse(resp ? resp : "", resp ? strlen(resp) : 0,
				  kv, max, e);
	if (n < 0)
		mr_err_prefix(e, "GET %s: the answer is not flat JSON", url);
	for (int i = 0; i < n; i++) {
		snprintf(cfg[i].key, sizeof cfg[i].key, "%s", kv[i].key);
		cfg[i].val = kv[i].val;
	}
	free(kv);
	free(resp);
	return n;
}

/* ------------------------------------------------------------------------
 * Kubernetes target
 */
static const char *name_for(const act_name *v, size_t n, const char *key,
			    const char *dflt)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].from, key) == 0)
			return v[i].to;
	return dflt;
}

/* One VirtualService merge patch for service svc: a route per class that
 * has a weight, and a default route. JSON merge patch replaces the whole
 * http list, so every class of the service must be in the same vector. */
static int k8s_weights(act_target *t, int svc, const double w[MESH_NCLASSES],
		       double w_all, mr_err *e)
{
	const char *sname = mesh_service_names[svc];
	const char *vs = name_for(t->o.vs, t->o.nvs, sname, sname);
	const char *host = name_for(t->o.host, t->o.nhost, sname, sname);
	const char *s1 = name_for(t->o.subset, t->o.nsubset, "node1", "node1");
	const char *s2 = name_for(t->o.subset, t->o.nsubset, "node2", "node2");
	char body[4096];
	size_t len = 0;
	len += (size_t)snprintf(body + len, sizeof body - len,
				"{\"spec\":{\"http\":[");
	int first = 1;
	for (int c = 0; c <= MESH_NCLASSES; c++) {
		/* c == MESH_NCLASSES: the default route (no match) */
		double p = c < MESH_NCLASSES ? w[c] : w_all;
		if (c == MESH_NCLASSES && p < 0)
			p = w[1] >= 0 ? w[1] : w[0]; /* default: freemium's */
		if (p < 0)
			continue;
		long p1 = lround(p);
		len += (size_t)snprintf(body + len, sizeof body - len, "%s{",
					first ? "" : ",");
		first = 0;
		if (c < MESH_NCLASSES)
			len += (size_t)snprintf(
				body + len, sizeof body - len,
				"\"match\":[{\"headers\":{\"%s\":"
				"{\"exact\":\"%s\"}}}],",
				MESH_CLASS_HEADER_LC, mesh_class_names[c]);
		len += (size_t)snprintf(
			body + len, sizeof body - len,
			"\"route\":[{\"destination\":{\"host\":\"%s\","
			"\"subset\":\"%s\"},\"weight\":%ld},{\"destination\":"
			"{\"host\":\"%s\",\"subset\":\"%s\"},\"weight\":%ld}]}",
			host, s1, p1, host, s2, 100 - p1);
	}
	len += (size_t)snprintf(body + len, sizeof body - len, "]}}");
	if (len >= sizeof body)
		return mr_errf(e, MR_EXIT_DATA, "patch too long");
	char url[2048];
	snprintf(url, sizeof url,
		 "%s/apis/networking.istio.io/v1beta1/namespaces/%s/"
		 "virtualservices/%s",
		 t->o.api, t->o.ns, vs);
	return http_call(t, "PATCH", url, t->api_auth,
			 "application/merge-patch+json", body, NULL, e);
}

static int k8s_units(act_target *t, int node, double units, mr_err *e)
{
	const char *nname = mesh_node_names[node];
	const char *dep = name_for(t->o.deploy, t->o.ndeploy, nname, nname);
	const char *ctr = name_for(t->o.container, t->o.ncontainer, nname, dep);
	char url[2048], body[1024];
	snprintf(url, sizeof url, "%s/apis/apps/v1/namespaces/%s/deployments/%s",
		 t->o.api, t->o.ns, dep);
	if (t->o.scale && strcmp(t->o.scale, "cpu") == 0) {
		long milli = lround(units * t->o.cpu_unit * 1000);
		snprintf(body, sizeof body,
			 "{\"spec\":{\"template\":{\"spec\":{\"containers\":"
			 "[{\"name\":\"%s\",\"resources\":{\"limits\":"
			 "{\"cpu\":\"%ldm\"}}}]}}}}",
			 ctr, milli);
		/* strategic merge: containers are merged by name, so the
		 * other fields of the container stay */
		return http_call(t, "PATCH", url, t->api_auth,
				 "application/strategic-merge-patch+json", body,
				 NULL, e);
	}
	if (units != floor(units))
		return mr_errf(e, MR_EXIT_DATA,
			       "units.%s=%g: replicas must be whole", nname,
			       units);
	snprintf(body, sizeof body, "{\"spec\":{\"replicas\":%ld}}",
		 lround(units));
	return http_call(t, "PATCH", url, t->api_auth,
			 "application/merge-patch+json", body, NULL, e);
}

static int apply_k8s(act_target *t, const act_kv *kv, size_t n, mr_err *e)
{
	double w[MESH_NSERVICES][MESH_NCLASSES], wall[MESH_NSERVICES];
	int any_w[MESH_NSERVICES] = {0};
	act_kv front[ACT_MAX_KV];
	size_t nfront = 0;
	for (int s = 0; s < MESH_NSERVICES; s++) {
		wall[s] = -1;
		for (int c = 0; c < MESH_NCLASSES; c++)
			w[s][c] = -1;
	}
	for (size_t i = 0; i < n; i++) {
		mesh_key k;
		if (mesh_key_parse(kv[i].key, &k, e) != 0)
			return -1;
		switch (k.kind) {
		case MESH_K_WEIGHT:
			any_w[k.svc] = 1;
			if (k.cls < 0)
				wall[k.svc] = kv[i].val;
			else
				w[k.svc][k.cls] = kv[i].val;
			break;
		case MESH_K_UNITS:
			if (k8s_units(t, k.node, kv[i].val, e) != 0)
				return -1;
			break;
		case MESH_K_RATE:
		case MESH_K_BLOCK:
		case MESH_K_TIMEOUT:
		case MESH_K_BURST:
			front[nfront++] = kv[i];
			break;
		case MESH_K_SLOW:
		case MESH_K_STOPPED:
			return mr_errf(e, MR_EXIT_USAGE,
				       "%s: fault injection exists only on the "
				       "local testbed",
				       kv[i].key);
		}
	}
	for (int s = 0; s < MESH_NSERVICES; s++)
		if (any_w[s] && k8s_weights(t, s, w[s], wall[s], e) != 0)
			return -1;
	return control_put(t, front, nfront, e);
}

/* ------------------------------------------------------------------------
 * Open, apply, close
 */
/* The token file: one line of printable characters. Returns it (caller
 * frees) or NULL. */
static char *read_token(const char *path, mr_err *e)
{
	char *buf = NULL;
	size_t len = 0;
	if (mr_read_file(path, &buf, &len, 1 << 16, e) != 0)
		return NULL;
	while (len && isspace((unsigned char)buf[len - 1]))
		buf[--len] = 0;
	for (size_t i = 0; i < len; i++)
		if (!isgraph((unsigned char)buf[i])) {
			mr_errf(e, MR_EXIT_DATA,
				"%s: byte %zu is %s; expected one line "
				"holding the token",
				path, i + 1,
				buf[i] == 0 ? "a NUL byte"
				: buf[i] == '\n' ? "a line break"
						  : "not a printable character");
			free(buf);
			return NULL;
		}
	if (!len) {
		free(buf);
		return mr_errf(e, MR_EXIT_DATA, "%s: empty; expected one line "
					       "holding the token",
			       path),
		       NULL;
	}
	return buf;
}

static char *bearer(const char *cred)
{
	size_t n = strlen(cred) + 32;
	char *h = mr_xcalloc(n, 1);
	snprintf(h, n, "Authorization: Bearer %s", cred);
	return h;
}

/* Refuses the token over plain http:// unless allowed. */
static int check_transport(const act_opts *o, mr_err *e)
{
	if (o->insecure_http)
		return 0;
	if (o->token_file && is_plain_http(o->api))
		return mr_errf(e, MR_EXIT_USAGE,
			       "--api %s is plain http://: the token would "
			       "cross the network in clear text; use https:// "
			       "(or --insecure-http, for testing only)",
			       o->api);
	return 0;
}

static void target_free(act_target *t)
{
	if (t->h)
		curl_easy_cleanup(t->h);
	free(t->token);
	free(t->secret);
	free(t->api_auth);
	free(t->ctl_auth);
	free(t);
}

act_target *act_open(const act_opts *o, mr_err *e)
{
	if (o->schema && !mesh_schema_get(o->schema, e))
		return NULL;
	if (o->kind == ACT_TESTBED && !o->control)
		return mr_errf(e, MR_EXIT_USAGE,
			       "the testbed target needs --control URL"),
		       NULL;
	if (o->kind == ACT_K8S && (!o->api || !o->ns))
		return mr_errf(e, MR_EXIT_USAGE,
			       "the k8s target needs --api URL and --namespace"),
		       NULL;
	if (o->scale && strcmp(o->scale, "cpu") && strcmp(o->scale, "replicas"))
		return mr_errf(e, MR_EXIT_USAGE,
			       "--scale must be replicas or cpu"),
		       NULL;
	if (check_transport(o, e) != 0)
		return NULL;
	if (o->secret && mesh_secret_check(o->secret, "control secret", e))
		return NULL;
	act_target *t = mr_xcalloc(1, sizeof *t);
	t->o = *o;
	if (t->o.timeout <= 0)
		t->o.timeout = 10;
	if (t->o.backoff <= 0)
		t->o.backoff = 0.2;
	if (t->o.cpu_unit <= 0)
		t->o.cpu_unit = 1;
	if (o->token_file) {
		if (!(t->token = read_token(o->token_file, e))) {
			target_free(t);
			return NULL;
		}
		t->api_auth = bearer(t->token);
	}
	if (o->secret) {
		t->secret = mr_xstrdup(o->secret);
		if (!secret_withheld(o))
			t->ctl_auth = bearer(t->secret);
	}
	if (!(t->h = curl_easy_init())) {
		target_free(t);
		return mr_errf(e, MR_EXIT_IO, "curl_easy_init failed"), NULL;
	}
	return t;
}

int act_env_load(const char *path, mesh_env *env, mr_err *e)
{
	if (path)
		return mesh_env_read(path, env, e);
	memset(env, 0, sizeof *env);
	const char *s = getenv(MESH_SECRET_ENV);
	if (!s || !*s)
		return 0;
	if (mesh_secret_check(s, "$" MESH_SECRET_ENV, e) != 0)
		return -1;
	snprintf(env->secret, sizeof env->secret, "%s", s);
	return 0;
}

int act_apply(act_target *t, const act_kv *kv, size_t n, mr_err *e)
{
	act_kv out[ACT_MAX_KV];
	int m = act_translate(t->o.schema, kv, n, out, ACT_MAX_KV, e);
	if (m < 0)
		return -1;
	if (t->o.kind == ACT_K8S)
		return apply_k8s(t, out, (size_t)m, e);
	return control_put(t, out, (size_t)m, e);
}

void act_close(act_target *t)
{
	if (t)
		target_free(t);
}
