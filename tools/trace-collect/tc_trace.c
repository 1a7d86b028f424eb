/*
 * tc_trace.c - trace files opened for appending. The header is written
 * once, into an empty file; a non-empty file must already have exactly our
 * header. A last line without its newline (a write cut short) is removed
 * before anything is appended, so every row in the file is whole.
 *
 * Beside a trace, its sidecar TRACE.meta says how the rows were made: the
 * command, tool version, host, and the processing nodes' settings and the
 * CPU they charged per request (from their /health, at the start and end
 * of the run). Kept out of the CSV so its readers are unchanged.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "tc.h"

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

static char *header_line(char *const *cols, size_t n)
{
	size_t len = 2;
	for (size_t i = 0; i < n; i++)
		len += strlen(cols[i]) + 1;
	char *h = mr_xcalloc(len, 1), *p = h;
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? "," : "", cols[i]);
	*p++ = '\n';
	return h;
}

int tc_trace_open(tc_trace *t, const char *path, char *const *cols,
		  size_t ncols, int quiet, mr_err *e)
{
	memset(t, 0, sizeof *t);
	t->path = mr_xstrdup(path);
	char *hdr = header_line(cols, ncols);
	size_t hlen = strlen(hdr);
	if (strcmp(path, "-") == 0) {
		t->fd = 1;
		int rc = write_all(1, hdr, hlen);
		free(hdr);
		if (rc) {
			mr_errf(e, MR_EXIT_IO, "stdout: %s", strerror(errno));
			tc_trace_close(t);
			return -1;
		}
		return 0;
	}
	t->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (t->fd < 0) {
		free(hdr);
		mr_errf(e, MR_EXIT_IO, "%s: %s", path, strerror(errno));
		tc_trace_close(t);
		return -1;
	}
	struct stat st;
	if (fstat(t->fd, &st) != 0)
		goto io;
	if (st.st_size == 0) {
		if (write_all(t->fd, hdr, hlen) != 0)
			goto io;
	} else {
		/* check the header */
		char *buf = mr_xcalloc(hlen + 1, 1);
		ssize_t r = pread(t->fd, buf, hlen, 0);
		int same = r == (ssize_t)hlen && memcmp(buf, hdr, hlen) == 0;
		if (!same) {
			char *nl = r > 0 ? memchr(buf, '\n', (size_t)r) : NULL;
			if (nl)
				*nl = 0;
			hdr[hlen - 1] = 0;
			mr_errf(e, MR_EXIT_DATA,
				"%s:1: the header differs from this schema's "
				"(want '%s', found '%.200s'); use another file",
				path, hdr, r > 0 ? buf : "");
			free(buf);
			free(hdr);
			tc_trace_close(t);
			return -1;
		}
		free(buf);
		/* cut a torn last line */
		off_t end = st.st_size;
		char c;
		if (pread(t->fd, &c, 1, end - 1) != 1)
			goto io;
		if (c != '\n') {
			off_t pos = end - 1;
			char blk[4096];
			off_t keep = (off_t)hlen;
			while (pos > (off_t)hlen) {
				off_t from = pos - (off_t)sizeof blk > (off_t)hlen
						     ? pos - (off_t)sizeof blk
						     : (off_t)hlen;
				ssize_t k = pread(t->fd, blk, (size_t)(pos - from), from);
				if (k <= 0)
					goto io;
				char *nl = memrchr(blk, '\n', (size_t)k);
				if (nl) {
					keep = from + (nl - blk) + 1;
					break;
				}
				pos = from;
			}
			if (ftruncate(t->fd, keep) != 0)
				goto io;
			if (!quiet)
				fprintf(stderr,
					"trace-collect: %s: removed a torn last "
					"row (%lld bytes)\n",
					path, (long long)(end - keep));
		}
	}
	if (lseek(t->fd, 0, SEEK_END) < 0)
		goto io;
	free(hdr);
	return 0;
io:
	mr_errf(e, MR_EXIT_IO, "%s: %s", path, strerror(errno));
	free(hdr);
	tc_trace_close(t);
	return -1;
}

int tc_trace_write(tc_trace *t, const char *buf, size_t len, int sync,
		   mr_err *e)
{
	if (write_all(t->fd, buf, len) != 0)
		return mr_errf(e, MR_EXIT_IO, "%s: write: %s", t->path,
			       strerror(errno));
	if (sync && t->fd != 1 && fdatasync(t->fd) != 0)
		return mr_errf(e, MR_EXIT_IO, "%s: fdatasync: %s", t->path,
			       strerror(errno));
	return 0;
}

void tc_trace_close(tc_trace *t)
{
	if (t->fd > 2)
		close(t->fd);
	t->fd = -1;
	free(t->path);
	t->path = NULL;
}

/* ------------------------------------------------------------------------
 * Sidecars (TRACE.meta)
 */
static void meta_cat(char **s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void meta_vcat(char **s, const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n <= 0)
		return;
	size_t old = *s ? strlen(*s) : 0;
	*s = mr_xrealloc(*s, old + (size_t)n + 1, 1);
	vsnprintf(*s + old, (size_t)n + 1, fmt, ap);
}

static void meta_cat(char **s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	meta_vcat(s, fmt, ap);
	va_end(ap);
}

/* One word of the command line, quoted for a shell where needed, on one
 * line. */
static void meta_arg(char **s, const char *arg, int idx)
{
	int plain = *arg != 0;
	for (const char *p = arg; *p; p++)
		plain &= strchr("_./:=,+-@%", *p) || (*p >= 'a' && *p <= 'z') ||
			 (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');
	meta_cat(s, "%s%s", idx ? " " : "", plain ? "" : "'");
	for (const char *p = arg; *p; p++) {
		if (*p == '\'')
			meta_cat(s, "'\\''");
		else
			meta_cat(s, "%c", *p == '\n' ? ' ' : *p);
	}
	if (!plain)
		meta_cat(s, "'");
}

static void utc_now(char *buf, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The first line of a /proc file that starts with prefix (prefix "" = the
 * first line), after the prefix and any ": "; "unknown" when absent. */
static void proc_line(const char *path, const char *prefix, char *buf,
		      size_t n)
{
	snprintf(buf, n, "unknown");
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	char line[512];
	size_t pl = strlen(prefix);
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, prefix, pl) != 0)
			continue;
		char *v = line + pl;
		v += strspn(v, " \t:");
		v[strcspn(v, "\n")] = 0;
		snprintf(buf, n, "%s", v);
		break;
	}
	fclose(f);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	char **s = ud;
	size_t len = size * n, old = *s ? strlen(*s) : 0;
	if (old + len > 65536)
		return 0;
	*s = mr_xrealloc(*s, old + len + 1, 1);
	memcpy(*s + old, p, len);
	(*s)[old + len] = 0;
	return len;
}

/* GET URL/health of a processing node into kv; the pair count or -1. */
int tc_node_health(const char *url, mesh_kv *kv, size_t max, mr_err *e)
{
	CURL *h = curl_easy_init();
	if (!h)
		return mr_errf(e, MR_EXIT_IO, "curl_easy_init failed");
	char full[1024], err[CURL_ERROR_SIZE] = "";
	snprintf(full, sizeof full, "%s/health", url);
	char *body = NULL;
	long status = 0;
	curl_easy_setopt(h, CURLOPT_URL, full);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
	CURLcode rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	int n;
	if (rc != CURLE_OK)
		n = mr_errf(e, MR_EXIT_REMOTE, "%s: %s", full,
			    *err ? err : curl_easy_strerror(rc));
	else if (status != 200 || !body)
		n = mr_errf(e, MR_EXIT_REMOTE, "%s answered %ld", full, status);
	else
		n = mesh_flatjson_parse(body, strlen(body), kv, max, e);
	free(body);
	return n;
}

static const mesh_kv *kv_find(const mesh_kv *kv, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return &kv[i];
	return NULL;
}

static double kv_num(const mesh_kv *kv, int n, const char *key)
{
	const mesh_kv *k = kv_find(kv, n, key);
	return k ? k->val : NAN;
}

/* The node's name in its /health ("node1"), else "nodeK" by position. */
static void node_name(const tc_meta *m, size_t j, char *buf, size_t n)
{
	const mesh_kv *k = kv_find(m->start[j], m->nstart[j], "node");
	if (k && *k->str)
		snprintf(buf, n, "%s", k->str);
	else
		snprintf(buf, n, "node%zu", j + 1);
}

/* Settings that shape delays, as the node said at the start. */
static const char *const node_settings[] = {
	"unit", "period", "workers", "slow", "demand_ms_compute",
	"demand_ms_info1", "demand_ms_info2", "demand_cv"};

/* Does the trace hold a row after its header? (When not, a sidecar left
 * from an earlier file of that name describes nothing in it.) */
static int trace_has_rows(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char buf[4096];
	ssize_t n = pread(fd, buf, sizeof buf, 0);
	struct stat st;
	int rows = 0;
	if (n > 0 && fstat(fd, &st) == 0) {
		char *nl = memchr(buf, '\n', (size_t)n);
		rows = !nl || (off_t)(nl - buf) + 1 < st.st_size;
	}
	close(fd);
	return rows;
}

int tc_meta_begin(tc_meta *m, const char *trace_path, char *const *nodes,
		  size_t nnodes, int argc, char *const *argv, mr_err *e)
{
	memset(m, 0, sizeof *m);
	if (nnodes > TC_MAX_NODES)
		return mr_errf(e, MR_EXIT_USAGE, "at most %d --node",
			       TC_MAX_NODES);
	m->path = mr_xcalloc(strlen(trace_path) + 6, 1);
	sprintf(m->path, "%s.meta", trace_path);
	char *old;
	size_t len;
	mr_err re;
	if (trace_has_rows(trace_path) &&
	    mr_read_file(m->path, &old, &len, 1 << 20, &re) == 0) {
		m->prior = mr_xcalloc(len + 2, 1);
		memcpy(m->prior, old, len);
		if (len && m->prior[len - 1] != '\n')
			m->prior[len] = '\n';
		free(old);
	}
	m->nnodes = nnodes;
	for (size_t j = 0; j < nnodes; j++) {
		m->node_url[j] = nodes[j];
		m->nstart[j] = tc_node_health(nodes[j], m->start[j], 32, e);
		if (m->nstart[j] < 0) {
			tc_meta_free(m);
			return -1;
		}
	}
	char t[64], buf[256];
	utc_now(t, sizeof t);
	meta_cat(&m->head, "# run %s: how the rows after this run's start "
			   "were made (trace-collect; key=value, the last "
			   "value of a key is the newest)\n", t);
	meta_cat(&m->head, "tool=trace-collect (meshrl) %s\nstarted=%s\n",
		 MR_VERSION, t);
	meta_cat(&m->head, "command=");
	for (int i = 0; i < argc; i++)
		meta_arg(&m->head, argv[i], i);
	proc_line("/proc/cpuinfo", "model name", buf, sizeof buf);
	meta_cat(&m->head, "\nhost_cpu=%s\nhost_cpus=%ld\n", buf,
		 sysconf(_SC_NPROCESSORS_ONLN));
	proc_line("/proc/loadavg", "", buf, sizeof buf);
	meta_cat(&m->head, "host_loadavg_start=%s\n", buf);
	if (!nnodes)
		meta_cat(&m->head, "testbed=unknown (no --node: the nodes' "
				   "settings and CPU per request are not "
				   "recorded)\n");
	for (size_t j = 0; j < nnodes; j++) {
		char nm[64];
		node_name(m, j, nm, sizeof nm);
		size_t ns = sizeof node_settings / sizeof *node_settings;
		for (size_t k = 0; k < ns; k++) {
			double v = kv_num(m->start[j], m->nstart[j],
					  node_settings[k]);
			if (isnan(v))
				meta_cat(&m->head, "%s.%s=unknown\n", nm,
					 node_settings[k]);
			else
				meta_cat(&m->head, "%s.%s=%.10g\n", nm,
					 node_settings[k], v);
		}
	}
	return 0;
}

void tc_meta_add(tc_meta *m, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	meta_cat(&m->head, "%s=", key);
	meta_vcat(&m->head, fmt, ap);
	meta_cat(&m->head, "\n");
	va_end(ap);
}

/* What each node charged per served request over this run, from its
 * /health counters now against those at the start. */
static void meta_charges(const tc_meta *m, char **s)
{
	for (size_t j = 0; j < m->nnodes; j++) {
		char nm[64];
		node_name(m, j, nm, sizeof nm);
		mesh_kv now[32];
		mr_err e;
		int n = tc_node_health(m->node_url[j], now, 32, &e);
		if (n < 0) {
			meta_cat(s, "%s.charged=unknown (%s)\n", nm, e.msg);
			continue;
		}
		for (int svc = 0; svc < MESH_NSERVICES; svc++) {
			char kc[64], ks[64];
			const char *sv = mesh_service_names[svc];
			snprintf(kc, sizeof kc, "cpu_s_%s", sv);
			snprintf(ks, sizeof ks, "served_%s", sv);
			double dc = kv_num(now, n, kc) -
				    kv_num(m->start[j], m->nstart[j], kc);
			double ds = kv_num(now, n, ks) -
				    kv_num(m->start[j], m->nstart[j], ks);
			if (!(ds > 0))
				continue;
			meta_cat(s, "%s.served_%s=%.0f\n", nm, sv, ds);
			if (isnan(dc))
				meta_cat(s, "%s.charged_ms_%s=unknown\n", nm,
					 sv);
			else
				meta_cat(s, "%s.charged_ms_%s=%.4g\n", nm, sv,
					 dc / ds * 1e3);
		}
		double dx = kv_num(now, n, "expired") -
			    kv_num(m->start[j], m->nstart[j], "expired");
		if (!isnan(dx))
			meta_cat(s, "%s.expired=%.0f\n", nm, dx);
	}
}

int tc_meta_write(tc_meta *m, const char *status, mr_err *e)
{
	char *text = NULL;
	meta_cat(&text, "%s%s%s", m->prior ? m->prior : "",
		 m->prior ? "\n" : "", m->head ? m->head : "");
	if (strcmp(status, "running") != 0) {
		char t[64], buf[256];
		utc_now(t, sizeof t);
		proc_line("/proc/loadavg", "", buf, sizeof buf);
		meta_cat(&text, "finished=%s\nhost_loadavg_end=%s\n", t, buf);
		meta_charges(m, &text);
	}
	meta_cat(&text, "status=%s\n", status);
	int rc = mr_write_file_atomic(m->path, text, strlen(text), e);
	free(text);
	return rc;
}

void tc_meta_free(tc_meta *m)
{
	free(m->path);
	free(m->prior);
	free(m->head);
	memset(m, 0, sizeof *m);
}
