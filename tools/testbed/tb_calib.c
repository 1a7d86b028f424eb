/*
 * tb_calib.c - what a node charges per request, and how that compares with
 * the figures a trace's sidecar recorded when the trace was collected.
 *
 * The calibration serves requests in this process through the node's own
 * code (tb_node_serve) at a whole core, one at a time, and reads the thread
 * CPU each used: the figure a running node charges to its quota, not a
 * separate estimate of it. (A running node's own figure over its life is
 * in its /health: cpu_s_SVC / served_SVC.)
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testbed.h"

int tb_calibrate(const tb_node_opts *o, int reps, tb_calib out[MESH_NSERVICES],
		 mr_err *e)
{
	tb_node_opts q = *o;
	q.name = "calibrate";
	q.bind = "127.0.0.1";
	q.port = 0;
	q.workers = 1;
	q.units = 1 / o->unit; /* a whole core: no throttling */
	int port;
	tb_node *n = tb_node_start(&q, &port, e);
	if (!n)
		return -1;
	int rc = 0;
	for (int svc = 0; svc < MESH_NSERVICES && !rc; svc++) {
		double sum = 0, sum2 = 0;
		for (int i = 0; i < reps; i++) {
			tb_node_usage u0, u1;
			double result;
			tb_node_usage_get(n, &u0);
			if (tb_node_serve(n, svc, mr_now() + 60, &result) != 0) {
				rc = mr_errf(e, MR_EXIT_FAIL,
					     "calibrate: a %s request was not "
					     "served in 60 s",
					     mesh_service_names[svc]);
				break;
			}
			tb_node_usage_get(n, &u1);
			double ms = (u1.cpu[svc] - u0.cpu[svc]) * 1e3;
			sum += ms;
			sum2 += ms * ms;
		}
		tb_node_usage u;
		tb_node_usage_get(n, &u);
		double mean = sum / reps;
		double var = fmax(0, sum2 / reps - mean * mean);
		out[svc].setting_ms = o->demand_ms[svc];
		out[svc].charged_ms = u.drawn[svc] > 0
			? o->demand_ms[svc] * u.cpu[svc] / u.drawn[svc] : mean;
		out[svc].cv = mean > 0 ? sqrt(var) / mean : 0;
	}
	tb_node_stop(n);
	return rc;
}

/* ------------------------------------------------------------------------
 * Sidecars: key=value lines, '#' comments; a resumed trace's sidecar holds
 * one block per run, so the last value of a key is the newest.
 */

/* Copies the last value of key into buf; returns 1 when found. */
static int meta_get(const char *text, const char *key, char *buf, size_t n)
{
	size_t klen = strlen(key);
	int found = 0;
	for (const char *l = text; *l;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		if (len > klen && l[klen] == '=' && memcmp(l, key, klen) == 0) {
			size_t v = len - klen - 1;
			if (v >= n)
				v = n - 1;
			memcpy(buf, l + klen + 1, v);
			buf[v] = 0;
			found = 1;
		}
		l += len + (nl ? 1 : 0);
	}
	return found;
}

/* The value of key as a number; NAN when absent or not a number
 * ("unknown"). */
static double meta_num(const char *text, const char *key)
{
	char buf[128], *end;
	if (!meta_get(text, key, buf, sizeof buf))
		return NAN;
	errno = 0;
	double v = strtod(buf, &end);
	return end == buf || *end || errno || !isfinite(v) ? NAN : v;
}

static int differs(double a, double b)
{
	return fabs(a - b) > TB_CALIB_TOLERANCE * fmax(fabs(a), fabs(b));
}

/* One service: the trace's nodes' figures, else calibrate's at collection.
 * Returns 1 when it warned, 0 when it agreed, -1 when the trace has no
 * figure for it. */
static int compare_service(const char *text, int svc, const tb_calib *c,
			   const char *path, FILE *f)
{
	const char *sv = mesh_service_names[svc];
	char key[96];
	int seen = 0, warned = 0;
	for (int j = 0; j < MESH_NNODES; j++) {
		snprintf(key, sizeof key, "%s.charged_ms_%s",
			 mesh_node_names[j], sv);
		double t = meta_num(text, key);
		if (isnan(t))
			continue;
		seen = 1;
		if (differs(t, c->charged_ms)) {
			fprintf(f, "testbed: warning: %s: %s: the trace's %s "
				   "charged %.3g ms of CPU per request, this "
				   "testbed %.3g ms (%+.0f %%)\n",
				path, sv, mesh_node_names[j], t, c->charged_ms,
				100 * (c->charged_ms - t) / t);
			warned = 1;
		}
	}
	if (seen)
		return warned;
	snprintf(key, sizeof key, "calibrate_ms_%s", sv);
	double t = meta_num(text, key);
	if (isnan(t))
		return -1;
	if (!differs(t, c->charged_ms)) {
		fprintf(f, "testbed: note: %s: %s: only `testbed calibrate`'s "
			   "figure when the trace was made is known (%.3g ms "
			   "per request; this testbed charges %.3g ms)\n",
			path, sv, t, c->charged_ms);
		return 0;
	}
	fprintf(f, "testbed: warning: %s: %s: `testbed calibrate` said %.3g "
		   "ms per request when the trace was made (what its nodes "
		   "charged is unknown), this testbed charges %.3g ms (%+.0f "
		   "%%)\n",
		path, sv, t, c->charged_ms, 100 * (c->charged_ms - t) / t);
	return 1;
}

/* Settings that shape delays besides the demand: unit, period, workers,
 * the demand's spread, and the front's timeout (an overloaded node's
 * waits, and so its delays and losses, end there). */
static int compare_settings(const char *text, const tb_node_opts *o,
			    double front_timeout, const char *path, FILE *f)
{
	struct {
		const char *key;
		double live;
	} s[] = {{"unit", o->unit}, {"period", o->period},
		 {"workers", o->workers}, {"demand_cv", o->demand_cv}};
	int warned = 0;
	for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
		char key[64];
		snprintf(key, sizeof key, "node1.%s", s[i].key);
		double t = meta_num(text, key);
		if (isnan(t) || !differs(t, s[i].live))
			continue;
		fprintf(f, "testbed: warning: %s: the trace's %s was %g, this "
			   "testbed's is %g\n",
			path, key, t, s[i].live);
		warned++;
	}
	double t = meta_num(text, "front.timeout_s");
	if (!isnan(t) && differs(t, front_timeout)) {
		fprintf(f, "testbed: warning: %s: the trace's front timeout was "
			   "%g s, this testbed's is %g s (--timeout)\n",
			path, t, front_timeout);
		warned++;
	}
	return warned;
}

int tb_calib_compare(const tb_node_opts *o, const tb_calib c[MESH_NSERVICES],
		     double front_timeout, const char *meta_path, FILE *f,
		     mr_err *e)
{
	char *raw, *text;
	size_t len;
	if (mr_read_file(meta_path, &raw, &len, 1 << 20, e) != 0)
		return -1;
	text = mr_xcalloc(len + 1, 1); /* NUL-terminated */
	memcpy(text, raw, len);
	free(raw);
	int warned = compare_settings(text, o, front_timeout, meta_path, f), any = 0;
	for (int svc = 0; svc < MESH_NSERVICES; svc++) {
		int r = compare_service(text, svc, &c[svc], meta_path, f);
		any |= r >= 0;
		warned += r > 0;
	}
	if (!any) {
		fprintf(f, "testbed: warning: %s: no calibration figures "
			   "(how much CPU the trace's requests took is "
			   "unknown)\n",
			meta_path);
		warned++;
	}
	free(text);
	return warned;
}
