/*
 * pattern.c - load patterns: what drives the offered load of each service.
 *
 * A pattern comes from the [load] section of an objective (as key/value
 * pairs, se_pattern_parse_kv) or from an override on a command line
 * ("sin:mean=8;amplitude=4;period=240", "levels:4,8,12", "constant:8", a
 * sequence file; se_pattern_from_spec). The format is in
 * pipelines/objectives/README.md.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simenv_impl.h"

#define SEQ_MAX_STEPS 10000000 /* steps of a sequence file */

/* The [load] keys as parallel arrays, and where they come from (a file,
 * or "load pattern" for an override) for messages. */
typedef struct {
	const char *const *keys;
	const char *const *vals;
	const int *lines;
	int n;
	const char *where;
} load_kv;

void se_pattern_free(se_pattern *p)
{
	for (int i = 0; i < MR_MAX_SERVICES; i++)
		free(p->levels[i]);
	free(p->seq);
	free(p->occ);
	free(p->occ_first);
	free(p->occ_count);
	free(p->desc);
	memset(p, 0, sizeof *p);
}

/* ------------------------------------------------------------------------
 * Sequence files
 */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The load values of one line (comments removed, trimmed, not empty) into
 * row; errors name path:line. */
static int sequence_row(char *t, int nserv, double *row, const char *path,
			int line, mr_err *e)
{
	int k = 0;
	char *q = t;
	while (*q) {
		while (*q == ',' || isspace((unsigned char)*q))
			q++;
		if (!*q)
			break;
		char *end;
		errno = 0;
		double v = strtod(q, &end);
		if (end == q || errno || !isfinite(v) || v < 0 ||
		    (*end && *end != ',' && !isspace((unsigned char)*end)))
			return mr_errf(e, MR_EXIT_DATA,
				       "%s:%d: load must be a number >= 0", path,
				       line);
		if (k == nserv)
			return mr_errf(e, MR_EXIT_DATA,
				       "%s:%d: more than %d load values (one per service)",
				       path, line, nserv);
		row[k++] = v;
		q = end;
	}
	if (k != nserv)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s:%d: %d load value(s), expected %d (one per service)",
			       path, line, k, nserv);
	return 0;
}

/* Orders positions of a sequence by their row (all services' levels),
 * then by position. */
static int cmp_rows(const void *a, const void *b, void *arg)
{
	const se_pattern *p = arg;
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	const int32_t *rx = p->seq + (size_t)x * (size_t)p->nserv;
	const int32_t *ry = p->seq + (size_t)y * (size_t)p->nserv;
	for (int j = 0; j < p->nserv; j++)
		if (rx[j] != ry[j])
			return rx[j] < ry[j] ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int rows_differ(const se_pattern *p, int32_t x, int32_t y)
{
	size_t w = (size_t)p->nserv;
	return memcmp(p->seq + (size_t)x * w, p->seq + (size_t)y * w,
		      w * sizeof *p->seq) != 0;
}

/* The chain's tables (occ, occ_first, occ_count): positions grouped by
 * equal rows. */
static void sequence_chain(se_pattern *p)
{
	size_t n = (size_t)p->nsteps;
	p->occ = mr_xcalloc(n, sizeof *p->occ);
	p->occ_first = mr_xcalloc(n, sizeof *p->occ_first);
	p->occ_count = mr_xcalloc(n, sizeof *p->occ_count);
	for (size_t i = 0; i < n; i++)
		p->occ[i] = (int32_t)i;
	qsort_r(p->occ, n, sizeof *p->occ, cmp_rows, p);
	for (size_t g = 0; g < n;) {
		size_t end = g + 1;
		while (end < n && !rows_differ(p, p->occ[g], p->occ[end]))
			end++;
		for (size_t k = g; k < end; k++) {
			p->occ_first[p->occ[k]] = (int32_t)g;
			p->occ_count[p->occ[k]] = (int32_t)(end - g);
		}
		g = end;
	}
}

/* The distinct levels of every service, ascending, and the sequence as
 * level indices (vals: rows x nserv load values). */
static void sequence_levels(se_pattern *p, int nserv, const double *vals,
			    int rows)
{
	p->kind = SE_PAT_SEQUENCE;
	p->nsteps = rows;
	p->length = rows;
	p->seq = mr_xcalloc((size_t)rows * (size_t)nserv, sizeof *p->seq);
	double *tmp = mr_xcalloc((size_t)rows, sizeof *tmp);
	for (int j = 0; j < nserv; j++) {
		for (int r = 0; r < rows; r++)
			tmp[r] = vals[(size_t)r * (size_t)nserv + (size_t)j];
		qsort(tmp, (size_t)rows, sizeof *tmp, cmp_double);
		int nl = 0;
		for (int r = 0; r < rows; r++)
			if (nl == 0 || tmp[r] != tmp[nl - 1])
				tmp[nl++] = tmp[r];
		p->nlevels[j] = nl;
		p->levels[j] = mr_xcalloc((size_t)nl, sizeof(double));
		memcpy(p->levels[j], tmp, (size_t)nl * sizeof(double));
		/* the same parsed text gives the same double: exact match */
		for (int r = 0; r < rows; r++) {
			double v = vals[(size_t)r * (size_t)nserv + (size_t)j];
			int lo = 0, hi = nl - 1;
			while (lo < hi) {
				int mid = (lo + hi) / 2;
				if (p->levels[j][mid] < v)
					lo = mid + 1;
				else
					hi = mid;
			}
			p->seq[(size_t)r * (size_t)nserv + (size_t)j] = lo;
		}
	}
	free(tmp);
	sequence_chain(p);
}

/* Reads a sequence file: one step per line, nserv numbers per line
 * separated by commas or blanks, '#' comments. */
static int read_sequence(se_pattern *p, int nserv, const char *path,
			 mr_err *e)
{
	char *buf;
	size_t len;
	if (mr_read_file(path, &buf, &len, 256u << 20, e) != 0)
		return mr_err_prefix(e, "load sequence");
	char *text = mr_xcalloc(len + 1, 1);
	memcpy(text, buf, len);
	free(buf);
	buf = text;
	size_t cap = 1024;
	double *vals = mr_xcalloc(cap, sizeof *vals);
	int rows = 0, line = 0;
	int rc = -1;
	for (char *s = buf; s;) {
		char *nl = strchr(s, '\n');
		if (nl)
			*nl = 0;
		line++;
		char *hash = strchr(s, '#');
		if (hash)
			*hash = 0;
		char *t = se_trim(s);
		if (*t) {
			if ((size_t)(rows + 1) * (size_t)nserv > cap) {
				cap *= 2;
				vals = mr_xrealloc(vals, cap, sizeof *vals);
			}
			if (sequence_row(t, nserv,
					 vals + (size_t)rows * (size_t)nserv,
					 path, line, e) != 0)
				goto out;
			if (rows == SEQ_MAX_STEPS) {
				mr_errf(e, MR_EXIT_DATA, "%s:%d: more than 10 million steps",
					path, line);
				goto out;
			}
			rows++;
		}
		s = nl ? nl + 1 : NULL;
	}
	if (rows == 0) {
		mr_errf(e, MR_EXIT_DATA, "%s: no load values", path);
		goto out;
	}
	sequence_levels(p, nserv, vals, rows);
	rc = 0;
out:
	free(vals);
	free(buf);
	return rc;
}

/* ------------------------------------------------------------------------
 * [load] keys
 */

/* Index of a per-service key: "mean2" for service 2 wins over "mean",
 * which holds for every service; -1 when neither is there. k1 receives the
 * service's own key name (for messages). */
static int find_per_service(const load_kv *kv, const char *base, int serv,
			    char k1[64])
{
	snprintf(k1, 64, "%s%d", base, serv + 1);
	int found = -1;
	for (int i = 0; i < kv->n; i++)
		if (strcmp(kv->keys[i], k1) == 0)
			found = i;
	if (found < 0)
		for (int i = 0; i < kv->n; i++)
			if (strcmp(kv->keys[i], base) == 0)
				found = i;
	return found;
}

/* Index of a key that holds for every service, or -1. */
static int find_key(const load_kv *kv, const char *key)
{
	int found = -1;
	for (int i = 0; i < kv->n; i++)
		if (strcmp(kv->keys[i], key) == 0)
			found = i;
	return found;
}

/* Per-service numeric key: "mean2" or, for every service, "mean". Returns
 * 1 when set, 0 when absent (and not required), -1 on error. */
static int per_service(const load_kv *kv, const char *base, int serv,
		       int required, double *out, mr_err *e)
{
	char k1[64];
	int found = find_per_service(kv, base, serv, k1);
	if (found < 0) {
		if (required)
			return mr_errf(e, MR_EXIT_DATA,
				       "%s: [load] needs '%s' (or '%s')",
				       kv->where, base, k1);
		return 0;
	}
	if (se_parse_num(kv->vals[found], out) != 0)
		return mr_errf(e, MR_EXIT_DATA, "%s:%d: '%s' must be a number",
			       kv->where, kv->lines[found], kv->keys[found]);
	return 1;
}

static int per_service_grid(const load_kv *kv, const char *base, int serv,
			    se_pattern *p, mr_err *e)
{
	char k1[64];
	int found = find_per_service(kv, base, serv, k1);
	if (found < 0)
		return mr_errf(e, MR_EXIT_DATA, "%s: [load] needs '%s' (or '%s')",
			       kv->where, base, k1);
	if (se_parse_grid(kv->vals[found], &p->levels[serv], &p->nlevels[serv],
			  e) != 0)
		return mr_err_prefix(e, "%s:%d: '%s'", kv->where,
				     kv->lines[found], kv->keys[found]);
	for (int i = 0; i < p->nlevels[serv]; i++)
		if (p->levels[serv][i] < 0)
			return mr_errf(e, MR_EXIT_DATA,
				       "%s:%d: '%s': a load must be >= 0",
				       kv->where, kv->lines[found],
				       kv->keys[found]);
	return 0;
}

/* 1 when key is a [load] key: one for every service, or a per-service one
 * with or without a service suffix (mean, mean1 .. mean<nserv>). */
static int known_load_key(const char *key, int nserv)
{
	static const char *global[] = {"pattern", "file", "hold", "phase",
				       "floor", "jitter", NULL};
	static const char *per_serv[] = {"levels", "value", "mean",
					 "amplitude", "period", "noise", NULL};
	for (int k = 0; global[k]; k++)
		if (strcmp(key, global[k]) == 0)
			return 1;
	for (int k = 0; per_serv[k]; k++) {
		size_t l = strlen(per_serv[k]);
		if (strncmp(key, per_serv[k], l) == 0 &&
		    (!key[l] || (key[l] >= '1' && key[l] < '1' + nserv &&
				 !key[l + 1])))
			return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * The kinds of pattern; each writes what it is into desc.
 */
static int pattern_sequence(se_pattern *p, const load_kv *kv, int kline,
			    const char *dir, char *desc, size_t size,
			    mr_err *e)
{
	int f = find_key(kv, "file");
	if (f < 0)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s:%d: a sequence pattern needs 'file'",
			       kv->where, kline);
	const char *file = kv->vals[f];
	char path[4096];
	if (file[0] == '/' || !dir)
		snprintf(path, sizeof path, "%s", file);
	else
		snprintf(path, sizeof path, "%s/%s", dir, file);
	if (read_sequence(p, p->nserv, path, e) != 0) {
		if (kv->lines[f] > 0)
			mr_err_prefix(e, "%s:%d", kv->where, kv->lines[f]);
		return -1;
	}
	snprintf(desc, size, "sequence %s (%d steps)", path, p->nsteps);
	return 0;
}

static int pattern_levels(se_pattern *p, const load_kv *kv, int constant,
			  char *desc, size_t size, mr_err *e)
{
	p->kind = SE_PAT_LEVELS;
	p->hold = 1;
	for (int j = 0; j < p->nserv; j++)
		if (per_service_grid(kv, constant ? "value" : "levels", j, p,
				     e) != 0)
			return -1;
	if (constant)
		for (int j = 0; j < p->nserv; j++)
			if (p->nlevels[j] != 1)
				return mr_errf(e, MR_EXIT_DATA,
					       "%s: a constant pattern has one value per service",
					       kv->where);
	for (int i = 0; i < kv->n; i++)
		if (strcmp(kv->keys[i], "hold") == 0 &&
		    (se_parse_num(kv->vals[i], &p->hold) != 0 || p->hold < 1))
			return mr_errf(e, MR_EXIT_DATA,
				       "%s:%d: 'hold' must be a number >= 1 (mean steps a level is held)",
				       kv->where, kv->lines[i]);
	snprintf(desc, size, "%s", constant ? "constant" : "random levels");
	return 0;
}

static int pattern_sin(se_pattern *p, const load_kv *kv, char *desc,
		       size_t size, mr_err *e)
{
	p->kind = SE_PAT_SIN;
	p->phase = -1;
	for (int j = 0; j < p->nserv; j++) {
		if (per_service(kv, "mean", j, 1, &p->mean[j], e) < 0 ||
		    per_service(kv, "amplitude", j, 1, &p->amp[j], e) < 0 ||
		    per_service(kv, "period", j, 1, &p->period[j], e) < 0 ||
		    per_service(kv, "noise", j, 0, &p->noise[j], e) < 0)
			return -1;
		if (!(p->period[j] > 0) || p->noise[j] < 0)
			return mr_errf(e, MR_EXIT_DATA,
				       "%s: [load] sin: period must be > 0 and noise >= 0",
				       kv->where);
	}
	for (int i = 0; i < kv->n; i++) {
		const char *k = kv->keys[i], *v = kv->vals[i];
		if (strcmp(k, "phase") == 0 && strcmp(v, "random") != 0 &&
		    (se_parse_num(v, &p->phase) != 0 || p->phase < 0))
			return mr_errf(e, MR_EXIT_DATA,
				       "%s:%d: 'phase' is 'random' or a number of steps >= 0",
				       kv->where, kv->lines[i]);
		if (strcmp(k, "floor") == 0 &&
		    (se_parse_num(v, &p->floor_) != 0 || p->floor_ < 0))
			return mr_errf(e, MR_EXIT_DATA,
				       "%s:%d: 'floor' must be a number >= 0",
				       kv->where, kv->lines[i]);
	}
	p->length = (int)lround(p->period[0]);
	if (p->length < 1)
		p->length = 1;
	snprintf(desc, size, "sin (mean %g, amplitude %g, period %g steps)",
		 p->mean[0], p->amp[0], p->period[0]);
	return 0;
}

/* jitter = X (req/s): discrete patterns only. */
static int pattern_jitter(se_pattern *p, const load_kv *kv, mr_err *e)
{
	int i = find_key(kv, "jitter");
	if (i < 0)
		return 0;
	if (p->kind == SE_PAT_SIN)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s:%d: 'jitter' applies to sequence and levels patterns (a sin pattern has 'noise')",
			       kv->where, kv->lines[i]);
	if (se_parse_num(kv->vals[i], &p->jitter) != 0 || p->jitter < 0)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s:%d: 'jitter' must be a number >= 0 (req/s)",
			       kv->where, kv->lines[i]);
	return 0;
}

int se_pattern_parse_kv(se_pattern *p, int nserv, const char *const *keys,
			const char *const *vals, const int *lines, int n,
			const char *where, const char *dir, mr_err *e)
{
	load_kv kv = {keys, vals, lines, n, where};
	memset(p, 0, sizeof *p);
	p->nserv = nserv;
	const char *kind = NULL;
	int kline = 0;
	for (int i = 0; i < n; i++) {
		if (!known_load_key(keys[i], nserv))
			return mr_errf(e, MR_EXIT_DATA,
				       "%s:%d: unknown [load] key '%s'", where,
				       lines[i], keys[i]);
		if (strcmp(keys[i], "pattern") == 0) {
			kind = vals[i];
			kline = lines[i];
		}
	}
	if (!kind)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s: [load] needs 'pattern = sequence|levels|sin|constant'",
			       where);
	char desc[4200];
	int rc;
	if (strcmp(kind, "sequence") == 0)
		rc = pattern_sequence(p, &kv, kline, dir, desc, sizeof desc, e);
	else if (strcmp(kind, "levels") == 0 || strcmp(kind, "constant") == 0)
		rc = pattern_levels(p, &kv, kind[0] == 'c', desc, sizeof desc,
				    e);
	else if (strcmp(kind, "sin") == 0)
		rc = pattern_sin(p, &kv, desc, sizeof desc, e);
	else
		rc = mr_errf(e, MR_EXIT_DATA,
			     "%s:%d: unknown load pattern '%s' (sequence, levels, sin, constant)",
			     where, kline, kind);
	if (rc != 0 || pattern_jitter(p, &kv, e) != 0)
		return -1;
	if (p->jitter > 0) {
		size_t l = strlen(desc);
		snprintf(desc + l, sizeof desc - l,
			 ", jitter +-%g in training", p->jitter);
	}
	p->desc = mr_xstrdup(desc);
	return 0;
}

int se_pattern_from_spec(const char *spec, int nserv, se_pattern *p,
			 mr_err *e)
{
	memset(p, 0, sizeof *p); /* se_pattern_free works after any error */
	const char *colon = strchr(spec, ':');
	static const char *kinds[] = {"sin", "levels", "constant", "sequence",
				      NULL};
	int known = -1;
	if (colon)
		for (int i = 0; kinds[i]; i++)
			if ((size_t)(colon - spec) == strlen(kinds[i]) &&
			    strncmp(spec, kinds[i], strlen(kinds[i])) == 0)
				known = i;
	const char *keys[32], *vals[32];
	int lines[32] = {0}, n = 0;
	if (known < 0) { /* a path: a sequence file */
		keys[0] = "pattern"; vals[0] = "sequence";
		keys[1] = "file"; vals[1] = spec;
		return se_pattern_parse_kv(p, nserv, keys, vals, lines, 2,
					   "load pattern", NULL, e);
	}
	keys[n] = "pattern"; vals[n++] = kinds[known];
	char *copy = mr_xstrdup(colon + 1);
	if (!strchr(copy, '=')) {
		/* shorthand: "levels:4,8,12", "constant:8", "sequence:FILE" */
		keys[n] = known == 1 ? "levels" : known == 2 ? "value" : "file";
		vals[n++] = copy;
	} else {
		char *save = NULL;
		for (char *item = strtok_r(copy, ";", &save); item;
		     item = strtok_r(NULL, ";", &save)) {
			char *eq = strchr(item, '=');
			if (!eq || n == 32) {
				free(copy);
				return mr_errf(e, MR_EXIT_USAGE,
					       "load pattern '%s': expected KIND:key=value;key=value",
					       spec);
			}
			*eq = 0;
			keys[n] = se_trim(item);
			vals[n++] = se_trim(eq + 1);
		}
	}
	int rc = se_pattern_parse_kv(p, nserv, keys, vals, lines, n,
				     "load pattern", NULL, e);
	free(copy);
	return rc;
}
