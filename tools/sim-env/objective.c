/*
 * objective.c - the objective file parser (format: pipelines/objectives/
 * README.md) and the load patterns it names.
 *
 * An objective is data: services, load pattern, actions, the system model
 * and how state and action map onto its features, and a reward family with
 * its constants. Every error names file:line. This file reads the objective
 * and its load sequence; it does not open the system model (simenv.c does,
 * so that a model path can be overridden).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simenv_impl.h"

/* ------------------------------------------------------------------------
 * Small helpers
 */
static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	return s;
}

static int parse_num(const char *s, double *v)
{
	char *end;
	errno = 0;
	*v = strtod(s, &end);
	if (end == s || errno || !isfinite(*v))
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	return *end ? -1 : 0;
}

/* Rounds to 12 significant digits so that 0..0.8 step 0.2 gives 0.6, not
 * 0.6000000000000001 (values are read and printed by people). */
static double tidy(double v)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%.12g", v);
	return strtod(buf, NULL);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int se_parse_grid(const char *text, double **out, int *n, mr_err *e)
{
	double *v = mr_xcalloc(MR_MAX_CHOICES, sizeof *v);
	int cnt = 0;
	char *copy = mr_xstrdup(text), *save = NULL;
	for (char *item = strtok_r(copy, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		item = trim(item);
		char *dots = strstr(item, "..");
		if (!dots) {
			double x;
			if (parse_num(item, &x) != 0) {
				mr_errf(e, MR_EXIT_DATA, "'%s' is not a number", item);
				goto bad;
			}
			if (cnt == MR_MAX_CHOICES)
				goto toomany;
			v[cnt++] = x;
			continue;
		}
		*dots = 0;
		char *hi_s = dots + 2, *step_s = strstr(hi_s, "step");
		double lo, hi, step = 1;
		if (step_s) {
			*step_s = 0;
			if (parse_num(step_s + 4, &step) != 0 || step <= 0) {
				mr_errf(e, MR_EXIT_DATA,
					"range step must be a number > 0");
				goto bad;
			}
		}
		if (parse_num(trim(item), &lo) != 0 ||
		    parse_num(trim(hi_s), &hi) != 0 || hi < lo) {
			mr_errf(e, MR_EXIT_DATA,
				"a range is 'lo..hi' or 'lo..hi step s' with lo <= hi");
			goto bad;
		}
		double span = (hi - lo) / step;
		long k = lround(span);
		if (fabs(span - (double)k) > 1e-9 * (1 + fabs(span))) {
			mr_errf(e, MR_EXIT_DATA,
				"range %g..%g is not a whole number of steps of %g",
				lo, hi, step);
			goto bad;
		}
		if (k + 1 > MR_MAX_CHOICES - cnt)
			goto toomany;
		for (long i = 0; i <= k; i++)
			v[cnt++] = tidy(lo + (double)i * step);
	}
	if (cnt == 0) {
		mr_errf(e, MR_EXIT_DATA, "no values");
		goto bad;
	}
	for (int i = 1; i < cnt; i++)
		if (!(v[i] > v[i - 1])) {
			mr_errf(e, MR_EXIT_DATA,
				"values must be strictly increasing (%g after %g)",
				v[i], v[i - 1]);
			goto bad;
		}
	free(copy);
	*out = v;
	*n = cnt;
	return 0;
toomany:
	mr_errf(e, MR_EXIT_DATA, "more than %d values", MR_MAX_CHOICES);
bad:
	free(copy);
	free(v);
	return -1;
}

const char *se_family_name(int family)
{
	switch (family) {
	case SE_FAM_DELAY_BOUND_COST: return "delay-bound-cost";
	case SE_FAM_THROUGHPUT_LOGISTIC: return "throughput-logistic";
	case SE_FAM_COST_INCREMENTAL: return "cost-incremental";
	case SE_FAM_DIFFERENTIATION: return "differentiation";
	}
	return "?";
}

/* ------------------------------------------------------------------------
 * Load patterns
 */
void se_pattern_free(se_pattern *p)
{
	for (int i = 0; i < MR_MAX_SERVICES; i++)
		free(p->levels[i]);
	free(p->seq);
	free(p->desc);
	memset(p, 0, sizeof *p);
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
		char *t = trim(s);
		if (*t) {
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
				    (*end && *end != ',' && !isspace((unsigned char)*end))) {
					mr_errf(e, MR_EXIT_DATA,
						"%s:%d: load must be a number >= 0", path, line);
					goto out;
				}
				if (k == nserv) {
					mr_errf(e, MR_EXIT_DATA,
						"%s:%d: more than %d load values (one per service)",
						path, line, nserv);
					goto out;
				}
				if ((size_t)(rows + 1) * (size_t)nserv > cap) {
					cap *= 2;
					vals = mr_xrealloc(vals, cap, sizeof *vals);
				}
				vals[(size_t)rows * (size_t)nserv + (size_t)k++] = v;
				q = end;
			}
			if (k != nserv) {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%d: %d load value(s), expected %d (one per service)",
					path, line, k, nserv);
				goto out;
			}
			if (rows == 10000000) {
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
	rc = 0;
out:
	free(vals);
	free(buf);
	return rc;
}

/* Index of a per-service key: "mean2" for service 2 wins over "mean",
 * which holds for every service; -1 when neither is there. k1 receives the
 * service's own key name (for messages). */
static int find_per_service(const char *const *keys, int n, const char *base,
			    int serv, char k1[64])
{
	snprintf(k1, 64, "%s%d", base, serv + 1);
	int found = -1;
	for (int i = 0; i < n; i++)
		if (strcmp(keys[i], k1) == 0)
			found = i;
	if (found < 0)
		for (int i = 0; i < n; i++)
			if (strcmp(keys[i], base) == 0)
				found = i;
	return found;
}

/* Per-service numeric key: "mean2" or, for every service, "mean". */
static int per_service(const char *const *keys, const char *const *vals,
		       const int *lines, int n, const char *base, int serv,
		       int required, double *out, const char *where,
		       mr_err *e)
{
	char k1[64];
	int found = find_per_service(keys, n, base, serv, k1);
	if (found < 0) {
		if (required)
			return mr_errf(e, MR_EXIT_DATA,
				       "%s: [load] needs '%s' (or '%s')", where,
				       base, k1);
		return 0;
	}
	if (parse_num(vals[found], out) != 0)
		return mr_errf(e, MR_EXIT_DATA, "%s:%d: '%s' must be a number",
			       where, lines[found], keys[found]);
	return 1;
}

static int per_service_grid(const char *const *keys, const char *const *vals,
			    const int *lines, int n, const char *base,
			    int serv, se_pattern *p, const char *where,
			    mr_err *e)
{
	char k1[64];
	int found = find_per_service(keys, n, base, serv, k1);
	if (found < 0)
		return mr_errf(e, MR_EXIT_DATA, "%s: [load] needs '%s' (or '%s')",
			       where, base, k1);
	if (se_parse_grid(vals[found], &p->levels[serv], &p->nlevels[serv],
			  e) != 0)
		return mr_err_prefix(e, "%s:%d: '%s'", where, lines[found],
				     keys[found]);
	for (int i = 0; i < p->nlevels[serv]; i++)
		if (p->levels[serv][i] < 0)
			return mr_errf(e, MR_EXIT_DATA,
				       "%s:%d: '%s': a load must be >= 0", where,
				       lines[found], keys[found]);
	return 0;
}

int se_pattern_parse_kv(se_pattern *p, int nserv, const char *const *keys,
			const char *const *vals, const int *lines, int n,
			const char *where, const char *dir, mr_err *e)
{
	memset(p, 0, sizeof *p);
	p->nserv = nserv;
	const char *kind = NULL;
	int kline = 0;
	static const char *known[] = {"pattern", "file", "levels", "hold",
				      "value", "mean", "amplitude", "period",
				      "noise", "phase", "floor", NULL};
	for (int i = 0; i < n; i++) {
		int ok = 0;
		for (int k = 0; known[k] && !ok; k++) {
			size_t l = strlen(known[k]);
			if (strncmp(keys[i], known[k], l) == 0) {
				const char *rest = keys[i] + l;
				ok = !*rest || (rest[0] >= '1' &&
						rest[0] < '1' + nserv && !rest[1] &&
						strcmp(known[k], "pattern") &&
						strcmp(known[k], "file") &&
						strcmp(known[k], "hold") &&
						strcmp(known[k], "phase") &&
						strcmp(known[k], "floor"));
			}
		}
		if (!ok)
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
	if (strcmp(kind, "sequence") == 0) {
		const char *file = NULL;
		for (int i = 0; i < n; i++)
			if (strcmp(keys[i], "file") == 0)
				file = vals[i];
		if (!file)
			return mr_errf(e, MR_EXIT_DATA,
				       "%s:%d: a sequence pattern needs 'file'",
				       where, kline);
		char path[4096];
		if (file[0] == '/' || !dir)
			snprintf(path, sizeof path, "%s", file);
		else
			snprintf(path, sizeof path, "%s/%s", dir, file);
		if (read_sequence(p, nserv, path, e) != 0) {
			for (int i = 0; i < n; i++)
				if (strcmp(keys[i], "file") == 0 && lines[i] > 0)
					mr_err_prefix(e, "%s:%d", where, lines[i]);
			return -1;
		}
		snprintf(desc, sizeof desc, "sequence %s (%d steps)", path,
			 p->nsteps);
	} else if (strcmp(kind, "levels") == 0 ||
		   strcmp(kind, "constant") == 0) {
		int constant = kind[0] == 'c';
		p->kind = SE_PAT_LEVELS;
		p->hold = 1;
		for (int j = 0; j < nserv; j++)
			if (per_service_grid(keys, vals, lines, n,
					     constant ? "value" : "levels", j, p,
					     where, e) != 0)
				return -1;
		if (constant)
			for (int j = 0; j < nserv; j++)
				if (p->nlevels[j] != 1)
					return mr_errf(e, MR_EXIT_DATA,
						       "%s: a constant pattern has one value per service",
						       where);
		for (int i = 0; i < n; i++)
			if (strcmp(keys[i], "hold") == 0 &&
			    (parse_num(vals[i], &p->hold) != 0 || p->hold < 1))
				return mr_errf(e, MR_EXIT_DATA,
					       "%s:%d: 'hold' must be a number >= 1 (mean steps a level is held)",
					       where, lines[i]);
		snprintf(desc, sizeof desc, "%s", constant ? "constant" : "random levels");
	} else if (strcmp(kind, "sin") == 0) {
		p->kind = SE_PAT_SIN;
		p->phase = -1;
		for (int j = 0; j < nserv; j++) {
			if (per_service(keys, vals, lines, n, "mean", j, 1,
					&p->mean[j], where, e) < 0 ||
			    per_service(keys, vals, lines, n, "amplitude", j, 1,
					&p->amp[j], where, e) < 0 ||
			    per_service(keys, vals, lines, n, "period", j, 1,
					&p->period[j], where, e) < 0 ||
			    per_service(keys, vals, lines, n, "noise", j, 0,
					&p->noise[j], where, e) < 0)
				return -1;
			if (!(p->period[j] > 0) || p->noise[j] < 0)
				return mr_errf(e, MR_EXIT_DATA,
					       "%s: [load] sin: period must be > 0 and noise >= 0",
					       where);
		}
		for (int i = 0; i < n; i++) {
			if (strcmp(keys[i], "phase") == 0 &&
			    strcmp(vals[i], "random") != 0 &&
			    (parse_num(vals[i], &p->phase) != 0 || p->phase < 0))
				return mr_errf(e, MR_EXIT_DATA,
					       "%s:%d: 'phase' is 'random' or a number of steps >= 0",
					       where, lines[i]);
			if (strcmp(keys[i], "floor") == 0 &&
			    (parse_num(vals[i], &p->floor_) != 0 || p->floor_ < 0))
				return mr_errf(e, MR_EXIT_DATA,
					       "%s:%d: 'floor' must be a number >= 0",
					       where, lines[i]);
		}
		p->length = (int)lround(p->period[0]);
		if (p->length < 1)
			p->length = 1;
		snprintf(desc, sizeof desc, "sin (mean %g, amplitude %g, period %g steps)",
			 p->mean[0], p->amp[0], p->period[0]);
	} else {
		return mr_errf(e, MR_EXIT_DATA,
			       "%s:%d: unknown load pattern '%s' (sequence, levels, sin, constant)",
			       where, kline, kind);
	}
	p->desc = mr_xstrdup(desc);
	return 0;
}

int se_pattern_from_spec(const char *spec, int nserv, se_pattern *p,
			 mr_err *e)
{
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
	int lines[32], n = 0;
	char *copy = NULL;
	int rc;
	if (known < 0) { /* a path: a sequence file */
		keys[0] = "pattern"; vals[0] = "sequence";
		keys[1] = "file"; vals[1] = spec;
		lines[0] = lines[1] = 0;
		rc = se_pattern_parse_kv(p, nserv, keys, vals, lines, 2,
					 "load pattern", NULL, e);
		return rc;
	}
	keys[n] = "pattern"; vals[n] = kinds[known]; lines[n++] = 0;
	copy = mr_xstrdup(colon + 1);
	if (!strchr(copy, '=')) {
		/* shorthand: "levels:4,8,12", "constant:8", "sequence:FILE" */
		keys[n] = known == 1 ? "levels" : known == 2 ? "value" : "file";
		vals[n] = copy;
		lines[n++] = 0;
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
			keys[n] = trim(item);
			vals[n] = trim(eq + 1);
			lines[n++] = 0;
		}
	}
	rc = se_pattern_parse_kv(p, nserv, keys, vals, lines, n,
				 "load pattern", NULL, e);
	free(copy);
	return rc;
}

/* ------------------------------------------------------------------------
 * The objective file
 */
typedef struct {
	char sec[32], secname[64];
	char *key, *val;
	int line;
} entry;

typedef struct {
	mr_objective *o;
	unsigned kinds; /* bit per SE_V_* allowed */
	const char *fname;
} resolve_ctx;

static int resolve(void *vctx, const char *name, double *k)
{
	resolve_ctx *c = vctx;
	for (int i = 0; i < c->o->nvars; i++)
		if (strcmp(c->o->var_name[i], name) == 0) {
			if (!(c->kinds & (1u << c->o->var_kind[i])))
				return -1;
			if (c->o->var_kind[i] == SE_V_CONST) {
				*k = c->o->const_val[i];
				return -2;
			}
			return i;
		}
	return -1;
}

static int resolve_feat(void *vctx, const char *name, double *k)
{
	(void)k;
	mr_objective *o = vctx;
	for (int i = 0; i < o->nfeat; i++)
		if (strcmp(o->feat_name[i], name) == 0)
			return i;
	return -1;
}

static int valid_name(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

static const char *kind_name(int k)
{
	static const char *n[] = {"constant", "load", "parameter", "action",
				  "model target", "variable", "reward key"};
	return n[k];
}

static int add_var(mr_objective *o, const char *name, int kind, int line,
		   const char *file, mr_err *e)
{
	if (!valid_name(name))
		return mr_errf(e, MR_EXIT_DATA,
			       "%s:%d: '%s' is not a valid name (letters, digits, _)",
			       file, line, name);
	static const char *reserved[] = {"min", "max", "abs", "exp", "log",
					 "sqrt", "pow", "clamp", "logistic",
					 "floor", "ceil", NULL};
	for (int i = 0; reserved[i]; i++)
		if (strcmp(reserved[i], name) == 0)
			return mr_errf(e, MR_EXIT_DATA,
				       "%s:%d: '%s' is a function name", file,
				       line, name);
	for (int i = 0; i < o->nvars; i++)
		if (strcmp(o->var_name[i], name) == 0)
			return mr_errf(e, MR_EXIT_DATA,
				       "%s:%d: '%s' is already defined as a %s (line %d)",
				       file, line, name,
				       kind_name(o->var_kind[i]), o->var_line[i]);
	if (o->nvars == SE_MAX_VARS)
		return mr_errf(e, MR_EXIT_DATA, "%s:%d: more than %d names",
			       file, line, SE_MAX_VARS);
	o->var_name[o->nvars] = mr_xstrdup(name);
	o->var_kind[o->nvars] = kind;
	o->var_line[o->nvars] = line;
	return o->nvars++;
}

static int compile_at(mr_objective *o, const entry *en, unsigned kinds,
		      se_expr *x, const char *file, mr_err *e)
{
	resolve_ctx c = {o, kinds, file};
	if (se_compile(en->val, resolve, &c, x, e) != 0)
		return mr_err_prefix(e, "%s:%d: '%s'", file, en->line, en->key);
	x->line = en->line;
	return 0;
}

void mr_objective_free(mr_objective *o)
{
	if (!o)
		return;
	free(o->path);
	free(o->dir);
	free(o->name);
	for (int i = 0; i < MR_MAX_SERVICES; i++)
		free(o->serv_names[i]);
	se_pattern_free(&o->pattern);
	for (int i = 0; i < o->nact; i++) {
		free(o->act[i].name);
		free(o->act[i].values);
	}
	for (int i = 0; i < o->nparam; i++) {
		free(o->param[i].name);
		free(o->param[i].levels);
	}
	for (int i = 0; i < o->nvars; i++)
		free(o->var_name[i]);
	free(o->model_file);
	free(o->trace);
	free(o->fit_args);
	for (int i = 0; i < o->nfeat; i++) {
		free(o->feat_name[i]);
		se_expr_free(&o->feat[i]);
	}
	for (int i = 0; i < o->ntarget; i++) {
		free(o->target_name[i]);
		se_expr_free(&o->analytic[i]);
	}
	for (int i = 0; i < o->nderived; i++)
		se_expr_free(&o->derived[i]);
	for (int i = 0; i < o->nkv; i++) {
		free(o->kv[i].section);
		free(o->kv[i].key);
		free(o->kv[i].value);
	}
	free(o->kv);
	free(o);
}

static char *join_path(const char *dir, const char *rel)
{
	if (rel[0] == '/' || !dir || !*dir || strcmp(dir, ".") == 0)
		return mr_xstrdup(rel);
	size_t n = strlen(dir) + strlen(rel) + 2;
	char *p = mr_xcalloc(n, 1);
	snprintf(p, n, "%s/%s", dir, rel);
	return p;
}

/* Splits text into entries; syntax errors name file:line. */
static int tokenize(char *text, const char *file, entry **out, int *nout,
		    mr_err *e)
{
	int cap = 64, n = 0, line = 0;
	entry *v = mr_xcalloc((size_t)cap, sizeof *v);
	char sec[32] = "", secname[64] = "";
	char *s = text;
	while (*s) {
		char *nl = strchr(s, '\n');
		if (nl)
			*nl = 0;
		line++;
		char *hash = strchr(s, '#');
		if (hash)
			*hash = 0;
		char *t = trim(s);
		if (*t == ';')
			*t = 0;
		if (*t == '[') {
			char *close = strchr(t, ']');
			if (!close || trim(close + 1)[0]) {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%d: a section header is '[name]' or '[kind name]'",
					file, line);
				goto bad;
			}
			*close = 0;
			char *inner = trim(t + 1), *sp = inner;
			while (*sp && !isspace((unsigned char)*sp))
				sp++;
			char *nm = "";
			if (*sp) {
				*sp = 0;
				nm = trim(sp + 1);
			}
			if (!*inner || strlen(inner) >= sizeof sec ||
			    strlen(nm) >= sizeof secname || strchr(nm, ' ')) {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%d: a section header is '[name]' or '[kind name]'",
					file, line);
				goto bad;
			}
			snprintf(sec, sizeof sec, "%s", inner);
			snprintf(secname, sizeof secname, "%s", nm);
			/* a header alone is an (empty) entry so that sections
			 * without keys still exist */
			if (n == cap) {
				cap *= 2;
				v = mr_xrealloc(v, (size_t)cap, sizeof *v);
			}
			memset(&v[n], 0, sizeof v[n]);
			snprintf(v[n].sec, sizeof v[n].sec, "%s", sec);
			snprintf(v[n].secname, sizeof v[n].secname, "%s", secname);
			v[n].line = line;
			n++;
		} else if (*t) {
			char *eq = strchr(t, '=');
			/* '==' inside an expression is not the separator */
			if (!eq) {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%d: expected 'key = value' or '[section]'",
					file, line);
				goto bad;
			}
			*eq = 0;
			char *key = trim(t), *val = trim(eq + 1);
			if (!*key || !valid_name(key)) {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%d: '%s' is not a valid key (letters, digits, _)",
					file, line, key);
				goto bad;
			}
			if (!*val) {
				mr_errf(e, MR_EXIT_DATA, "%s:%d: '%s' has no value",
					file, line, key);
				goto bad;
			}
			for (int i = 0; i < n; i++)
				if (v[i].key && strcmp(v[i].sec, sec) == 0 &&
				    strcmp(v[i].secname, secname) == 0 &&
				    strcmp(v[i].key, key) == 0) {
					mr_errf(e, MR_EXIT_DATA,
						"%s:%d: '%s' is set twice in this section (first at line %d)",
						file, line, key, v[i].line);
					goto bad;
				}
			if (n == cap) {
				cap *= 2;
				v = mr_xrealloc(v, (size_t)cap, sizeof *v);
			}
			snprintf(v[n].sec, sizeof v[n].sec, "%s", sec);
			snprintf(v[n].secname, sizeof v[n].secname, "%s", secname);
			v[n].key = key;
			v[n].val = val;
			v[n].line = line;
			n++;
		}
		if (!nl)
			break;
		s = nl + 1;
	}
	*out = v;
	*nout = n;
	return 0;
bad:
	free(v);
	return -1;
}

/* mr_split_names on a list written by hand: blanks around names dropped. */
static char **split_list(const char *list, size_t *n, mr_err *e)
{
	char *c = mr_xcalloc(strlen(list) + 1, 1), *q = c;
	for (const char *p = list; *p; p++)
		if (!isspace((unsigned char)*p))
			*q++ = *p;
	char **v = mr_split_names(c, n, e);
	free(c);
	return v;
}

static int is_sec(const entry *en, const char *s)
{
	return strcmp(en->sec, s) == 0;
}

/* Names of per-service and global reward roles. */
static const char *per_role[SE_R_NPER] = {"delay", "offered", "carried",
					  "bound", "width"};
static const char *glob_role[SE_R_NGLOBAL] = {"cost", "budget", "value",
					      "penalty", "scale",
					      "cost_weight"};

static int reward_role(const char *key, int nserv, int *per, int *serv,
		       int *glob)
{
	*per = *glob = *serv = -1;
	for (int r = 0; r < SE_R_NGLOBAL; r++)
		if (strcmp(key, glob_role[r]) == 0) {
			*glob = r;
			return 0;
		}
	for (int r = 0; r < SE_R_NPER; r++) {
		size_t l = strlen(per_role[r]);
		if (strncmp(key, per_role[r], l) == 0 && key[l] >= '1' &&
		    key[l] < '1' + nserv && !key[l + 1]) {
			*per = r;
			*serv = key[l] - '1';
			return 0;
		}
	}
	return -1;
}

mr_objective *se_objective_parse(const char *text, size_t len,
				 const char *file, const char *dir, mr_err *e)
{
	if (memchr(text, 0, len)) {
		mr_errf(e, MR_EXIT_DATA, "%s: not a text file (NUL byte)", file);
		return NULL;
	}
	char *buf = mr_xcalloc(len + 1, 1);
	memcpy(buf, text, len);
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\r')
			buf[i] = ' ';
	entry *en = NULL;
	int n = 0;
	mr_objective *o = mr_xcalloc(1, sizeof *o);
	o->path = mr_xstrdup(file);
	o->dir = mr_xstrdup(dir ? dir : ".");
	for (int r = 0; r < SE_R_NPER; r++)
		for (int j = 0; j < MR_MAX_SERVICES; j++)
			o->rslot[r][j] = -1;
	for (int r = 0; r < SE_R_NGLOBAL; r++)
		o->gslot[r] = -1;
	if (tokenize(buf, file, &en, &n, e) != 0)
		goto bad;

	/* every key, for mr_objective_param */
	o->kv = mr_xcalloc((size_t)n + 1, sizeof *o->kv);
	for (int i = 0; i < n; i++) {
		if (!en[i].key)
			continue;
		se_kv *kv = &o->kv[o->nkv++];
		char sec[128];
		if (en[i].secname[0])
			snprintf(sec, sizeof sec, "%s %s", en[i].sec, en[i].secname);
		else
			snprintf(sec, sizeof sec, "%s", en[i].sec);
		kv->section = mr_xstrdup(sec);
		kv->key = mr_xstrdup(en[i].key);
		kv->value = mr_xstrdup(en[i].val);
		kv->line = en[i].line;
	}

	/* sections we know; free-form ones are for other tools */
	static const char *named[] = {"action", "param", NULL};
	static const char *plain[] = {"", "load", "model", "features", "targets",
				      "const", "vars", "reward", "ppo", "eval",
				      "optimal", "pipeline", NULL};
	for (int i = 0; i < n; i++) {
		int ok = 0;
		for (int k = 0; named[k]; k++)
			if (is_sec(&en[i], named[k]) && en[i].secname[0])
				ok = 1;
		for (int k = 0; plain[k]; k++)
			if (is_sec(&en[i], plain[k]) && !en[i].secname[0])
				ok = 1;
		if (!ok) {
			mr_errf(e, MR_EXIT_DATA,
				"%s:%d: unknown section '[%s%s%s]' (known: load, action NAME, param NAME, model, features, targets, const, vars, reward, ppo, eval, optimal, pipeline)",
				file, en[i].line, en[i].sec,
				en[i].secname[0] ? " " : "", en[i].secname);
			goto bad;
		}
	}

	/* top-level keys */
	int services_line = 0;
	for (int i = 0; i < n; i++) {
		if (!is_sec(&en[i], "") || !en[i].key)
			continue;
		const char *k = en[i].key, *v = en[i].val;
		if (strcmp(k, "name") == 0) {
			if (!valid_name(v) && !strchr(v, '-')) {
				mr_errf(e, MR_EXIT_DATA, "%s:%d: bad name '%s'",
					file, en[i].line, v);
				goto bad;
			}
			o->name = mr_xstrdup(v);
		} else if (strcmp(k, "services") == 0) {
			size_t cnt;
			char **names = split_list(v, &cnt, e);
			if (!names) {
				mr_err_prefix(e, "%s:%d: 'services'", file,
					      en[i].line);
				goto bad;
			}
			if (cnt > MR_MAX_SERVICES) {
				free(names);
				mr_errf(e, MR_EXIT_DATA,
					"%s:%d: at most %d services", file,
					en[i].line, MR_MAX_SERVICES);
				goto bad;
			}
			o->nserv = (int)cnt;
			for (size_t j = 0; j < cnt; j++)
				o->serv_names[j] = mr_xstrdup(names[j]);
			free(names);
			services_line = en[i].line;
		} else if (strcmp(k, "actions") == 0) {
			if (strcmp(v, "absolute") == 0)
				o->incremental = 0;
			else if (strcmp(v, "incremental") == 0)
				o->incremental = 1;
			else {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%d: 'actions' is 'absolute' or 'incremental'",
					file, en[i].line);
				goto bad;
			}
		} else if (strcmp(k, "episode_length") == 0) {
			double x;
			if (parse_num(v, &x) != 0 || x < 0 || x > 1e8 ||
			    x != floor(x)) {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%d: 'episode_length' must be a whole number >= 0",
					file, en[i].line);
				goto bad;
			}
			o->episode_length = (int)x;
		} else {
			mr_errf(e, MR_EXIT_DATA,
				"%s:%d: unknown key '%s' (top level: name, services, actions, episode_length)",
				file, en[i].line, k);
			goto bad;
		}
	}
	if (!o->name) {
		mr_errf(e, MR_EXIT_DATA, "%s: missing 'name = ...' at the top",
			file);
		goto bad;
	}
	if (o->nserv == 0) {
		mr_errf(e, MR_EXIT_DATA,
			"%s: missing 'services = name, ...' at the top", file);
		goto bad;
	}

	/* [const], in file order; each may use earlier ones */
	for (int i = 0; i < n; i++) {
		if (!is_sec(&en[i], "const") || !en[i].key)
			continue;
		se_expr x;
		if (compile_at(o, &en[i], 1u << SE_V_CONST, &x, file, e) != 0)
			goto bad;
		double k;
		int isc = se_is_const(&x, &k);
		se_expr_free(&x);
		if (!isc) {
			mr_errf(e, MR_EXIT_DATA, "%s:%d: '%s' is not constant",
				file, en[i].line, en[i].key);
			goto bad;
		}
		int s = add_var(o, en[i].key, SE_V_CONST, en[i].line, file, e);
		if (s < 0)
			goto bad;
		o->const_val[s] = k;
	}

	/* loads load1..loadK */
	for (int j = 0; j < o->nserv; j++) {
		char nm[16];
		snprintf(nm, sizeof nm, "load%d", j + 1);
		int s = add_var(o, nm, SE_V_LOAD, services_line, file, e);
		if (s < 0)
			goto bad;
		o->load_slot[j] = s;
	}

	/* [param X] */
	for (int i = 0; i < n; i++) {
		if (!is_sec(&en[i], "param") || en[i].key)
			continue;
		if (o->nparam == SE_MAX_PARAMS) {
			mr_errf(e, MR_EXIT_DATA, "%s:%d: more than %d parameters",
				file, en[i].line, SE_MAX_PARAMS);
			goto bad;
		}
		se_param *pa = &o->param[o->nparam];
		pa->name = mr_xstrdup(en[i].secname);
		o->nparam++;
		int s = add_var(o, pa->name, SE_V_PARAM, en[i].line, file, e);
		if (s < 0)
			goto bad;
		pa->slot = s;
		for (int j = 0; j < n; j++) {
			if (!en[j].key || !is_sec(&en[j], "param") ||
			    strcmp(en[j].secname, pa->name) != 0)
				continue;
			if (strcmp(en[j].key, "levels") == 0) {
				if (se_parse_grid(en[j].val, &pa->levels,
						  &pa->nlevels, e) != 0) {
					mr_err_prefix(e, "%s:%d: 'levels'", file,
						      en[j].line);
					goto bad;
				}
			} else if (strcmp(en[j].key, "change") == 0) {
				if (strcmp(en[j].val, "step") == 0)
					pa->per_episode = 0;
				else if (strcmp(en[j].val, "episode") == 0)
					pa->per_episode = 1;
				else {
					mr_errf(e, MR_EXIT_DATA,
						"%s:%d: 'change' is 'step' or 'episode'",
						file, en[j].line);
					goto bad;
				}
			} else {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%d: unknown [param] key '%s' (levels, change)",
					file, en[j].line, en[j].key);
				goto bad;
			}
		}
		if (!pa->levels) {
			mr_errf(e, MR_EXIT_DATA, "%s:%d: [param %s] needs 'levels'",
				file, en[i].line, pa->name);
			goto bad;
		}
	}

	/* [action X] */
	for (int i = 0; i < n; i++) {
		if (!is_sec(&en[i], "action") || en[i].key)
			continue;
		if (o->nact == MR_MAX_COMPONENTS) {
			mr_errf(e, MR_EXIT_DATA, "%s:%d: more than %d actions",
				file, en[i].line, MR_MAX_COMPONENTS);
			goto bad;
		}
		se_action *a = &o->act[o->nact++];
		a->name = mr_xstrdup(en[i].secname);
		a->start = -1;
		int s = add_var(o, a->name, SE_V_ACTION, en[i].line, file, e);
		if (s < 0)
			goto bad;
		a->slot = s;
		const entry *start = NULL;
		for (int j = 0; j < n; j++) {
			if (!en[j].key || !is_sec(&en[j], "action") ||
			    strcmp(en[j].secname, a->name) != 0)
				continue;
			if (strcmp(en[j].key, "values") == 0) {
				if (se_parse_grid(en[j].val, &a->values,
						  &a->nvalues, e) != 0) {
					mr_err_prefix(e, "%s:%d: 'values'", file,
						      en[j].line);
					goto bad;
				}
			} else if (strcmp(en[j].key, "start") == 0) {
				start = &en[j];
			} else {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%d: unknown [action] key '%s' (values, start)",
					file, en[j].line, en[j].key);
				goto bad;
			}
		}
		if (!a->values) {
			mr_errf(e, MR_EXIT_DATA, "%s:%d: [action %s] needs 'values'",
				file, en[i].line, a->name);
			goto bad;
		}
		if (o->incremental && a->nvalues < 2) {
			mr_errf(e, MR_EXIT_DATA,
				"%s:%d: an incremental action needs at least 2 values",
				file, en[i].line);
			goto bad;
		}
		if (start) {
			double x;
			if (!o->incremental) {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%d: 'start' applies to incremental actions only",
					file, start->line);
				goto bad;
			}
			if (parse_num(start->val, &x) != 0) {
				mr_errf(e, MR_EXIT_DATA, "%s:%d: 'start' must be a number",
					file, start->line);
				goto bad;
			}
			for (int k = 0; k < a->nvalues; k++)
				if (fabs(a->values[k] - x) <=
				    1e-9 * (1 + fabs(x)))
					a->start = k;
			if (a->start < 0) {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%d: 'start' %g is not one of the values",
					file, start->line, x);
				goto bad;
			}
		}
	}
	if (o->nact == 0) {
		mr_errf(e, MR_EXIT_DATA, "%s: no [action NAME] section", file);
		goto bad;
	}

	/* [model] */
	int model_line = 0;
	const entry *targets = NULL;
	for (int i = 0; i < n; i++) {
		if (!is_sec(&en[i], "model"))
			continue;
		if (!en[i].key) {
			model_line = en[i].line;
			continue;
		}
		const char *k = en[i].key, *v = en[i].val;
		if (strcmp(k, "kind") == 0) {
			if (strcmp(v, "forest") == 0)
				o->model_kind = SE_MODEL_FOREST;
			else if (strcmp(v, "analytic") == 0)
				o->model_kind = SE_MODEL_ANALYTIC;
			else {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%d: model 'kind' is 'forest' or 'analytic'",
					file, en[i].line);
				goto bad;
			}
		} else if (strcmp(k, "file") == 0) {
			o->model_file = join_path(o->dir, v);
		} else if (strcmp(k, "trace") == 0) {
			o->trace = join_path(o->dir, v);
		} else if (strcmp(k, "fit_args") == 0) {
			o->fit_args = mr_xstrdup(v);
		} else if (strcmp(k, "targets") == 0) {
			targets = &en[i];
		} else {
			mr_errf(e, MR_EXIT_DATA,
				"%s:%d: unknown [model] key '%s' (kind, file, trace, targets, fit_args)",
				file, en[i].line, k);
			goto bad;
		}
	}
	if (!model_line) {
		mr_errf(e, MR_EXIT_DATA, "%s: no [model] section", file);
		goto bad;
	}
	if (!targets) {
		mr_errf(e, MR_EXIT_DATA,
			"%s:%d: [model] needs 'targets = name, ...'", file,
			model_line);
		goto bad;
	}
	if (o->model_kind == SE_MODEL_FOREST && !o->model_file) {
		mr_errf(e, MR_EXIT_DATA,
			"%s:%d: [model] needs 'file' (the rf-fit model)", file,
			model_line);
		goto bad;
	}
	{
		size_t cnt;
		char **names = split_list(targets->val, &cnt, e);
		if (!names) {
			mr_err_prefix(e, "%s:%d: 'targets'", file, targets->line);
			goto bad;
		}
		if (cnt > SE_MAX_TARGETS) {
			free(names);
			mr_errf(e, MR_EXIT_DATA, "%s:%d: more than %d targets",
				file, targets->line, SE_MAX_TARGETS);
			goto bad;
		}
		for (size_t j = 0; j < cnt; j++) {
			int s = add_var(o, names[j], SE_V_TARGET, targets->line,
					file, e);
			if (s < 0) {
				free(names);
				goto bad;
			}
			o->target_name[o->ntarget] = mr_xstrdup(names[j]);
			o->target_slot[o->ntarget++] = s;
		}
		free(names);
	}

	/* [features]: model inputs from state and action */
	unsigned state_kinds = (1u << SE_V_CONST) | (1u << SE_V_LOAD) |
			       (1u << SE_V_PARAM) | (1u << SE_V_ACTION);
	for (int i = 0; i < n; i++) {
		if (!is_sec(&en[i], "features") || !en[i].key)
			continue;
		if (o->nfeat == SE_MAX_FEAT) {
			mr_errf(e, MR_EXIT_DATA, "%s:%d: more than %d features",
				file, en[i].line, SE_MAX_FEAT);
			goto bad;
		}
		if (compile_at(o, &en[i], state_kinds, &o->feat[o->nfeat], file,
			       e) != 0) {
			if (strstr(e->msg, "unknown name"))
				mr_err_prefix(e, "(features use constants, loads, parameters and actions)");
			goto bad;
		}
		o->feat_name[o->nfeat++] = mr_xstrdup(en[i].key);
	}
	if (o->nfeat == 0) {
		mr_errf(e, MR_EXIT_DATA,
			"%s: no [features] section (model inputs: 'column = expression')",
			file);
		goto bad;
	}

	/* [targets]: the analytic model */
	int have_analytic[SE_MAX_TARGETS] = {0};
	for (int i = 0; i < n; i++) {
		if (!is_sec(&en[i], "targets") || !en[i].key)
			continue;
		if (o->model_kind != SE_MODEL_ANALYTIC) {
			mr_errf(e, MR_EXIT_DATA,
				"%s:%d: [targets] is for 'kind = analytic' models",
				file, en[i].line);
			goto bad;
		}
		int t = -1;
		for (int j = 0; j < o->ntarget; j++)
			if (strcmp(o->target_name[j], en[i].key) == 0)
				t = j;
		if (t < 0) {
			mr_errf(e, MR_EXIT_DATA,
				"%s:%d: '%s' is not one of [model] targets",
				file, en[i].line, en[i].key);
			goto bad;
		}
		if (se_compile(en[i].val, resolve_feat, o, &o->analytic[t], e) != 0) {
			mr_err_prefix(e, "%s:%d: '%s' (analytic targets use feature names)",
				      file, en[i].line, en[i].key);
			goto bad;
		}
		have_analytic[t] = 1;
	}
	if (o->model_kind == SE_MODEL_ANALYTIC)
		for (int j = 0; j < o->ntarget; j++)
			if (!have_analytic[j]) {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%d: analytic model: no [targets] formula for '%s'",
					file, model_line, o->target_name[j]);
				goto bad;
			}

	/* [vars] then [reward], in file order */
	unsigned all_kinds = 0x7f;
	for (int i = 0; i < n; i++) {
		if (!is_sec(&en[i], "vars") || !en[i].key)
			continue;
		se_expr x;
		if (compile_at(o, &en[i], all_kinds, &x, file, e) != 0)
			goto bad;
		int s = add_var(o, en[i].key, SE_V_VAR, en[i].line, file, e);
		if (s < 0) {
			se_expr_free(&x);
			goto bad;
		}
		o->derived[o->nderived] = x;
		o->derived_slot[o->nderived++] = s;
	}
	int family_line = 0, reward_line = 0;
	o->family = -1;
	for (int i = 0; i < n; i++) {
		if (!is_sec(&en[i], "reward"))
			continue;
		if (!en[i].key) {
			reward_line = en[i].line;
			continue;
		}
		if (strcmp(en[i].key, "family") == 0) {
			for (int f = 0; f <= SE_FAM_DIFFERENTIATION; f++)
				if (strcmp(en[i].val, se_family_name(f)) == 0)
					o->family = f;
			if (o->family < 0) {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%d: unknown reward family '%s' (delay-bound-cost, throughput-logistic, cost-incremental, differentiation)",
					file, en[i].line, en[i].val);
				goto bad;
			}
			family_line = en[i].line;
			continue;
		}
		int per, serv, glob;
		if (reward_role(en[i].key, o->nserv, &per, &serv, &glob) != 0) {
			mr_errf(e, MR_EXIT_DATA,
				"%s:%d: unknown [reward] key '%s' (delayN, offeredN, carriedN, boundN, widthN for service N; cost, budget, value, penalty, scale, cost_weight; helpers go in [vars])",
				file, en[i].line, en[i].key);
			goto bad;
		}
		se_expr x;
		if (compile_at(o, &en[i], all_kinds, &x, file, e) != 0)
			goto bad;
		int s = add_var(o, en[i].key, SE_V_REWARD, en[i].line, file, e);
		if (s < 0) {
			se_expr_free(&x);
			goto bad;
		}
		o->derived[o->nderived] = x;
		o->derived_slot[o->nderived++] = s;
		if (per >= 0)
			o->rslot[per][serv] = s;
		else
			o->gslot[glob] = s;
	}
	if (!reward_line) {
		mr_errf(e, MR_EXIT_DATA, "%s: no [reward] section", file);
		goto bad;
	}
	if (o->family < 0) {
		mr_errf(e, MR_EXIT_DATA,
			"%s:%d: [reward] needs 'family = ...'", file, reward_line);
		goto bad;
	}
	{
		int nb = 0;
		for (int j = 0; j < o->nserv; j++) {
			if (o->rslot[SE_R_DELAY][j] < 0) {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%d: [reward] needs 'delay%d' (service %s's delay)",
					file, reward_line, j + 1, o->serv_names[j]);
				goto bad;
			}
			nb += o->rslot[SE_R_BOUND][j] >= 0;
		}
		if (nb == 0) {
			mr_errf(e, MR_EXIT_DATA,
				"%s:%d: [reward] needs a delay bound ('bound1 = ...')",
				file, reward_line);
			goto bad;
		}
		const char *need = NULL;
		switch (o->family) {
		case SE_FAM_DELAY_BOUND_COST:
			if (o->gslot[SE_R_BUDGET] < 0)
				need = "budget";
			break;
		case SE_FAM_COST_INCREMENTAL:
			if (o->gslot[SE_R_VALUE] < 0)
				need = "value";
			else if (o->gslot[SE_R_PENALTY] < 0)
				need = "penalty";
			break;
		case SE_FAM_DIFFERENTIATION:
			if (o->nserv != 2) {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%d: the differentiation family has two services (premium, freemium)",
					file, family_line);
				goto bad;
			}
			if (o->rslot[SE_R_BOUND][0] < 0)
				need = "bound1";
			break;
		}
		if (need) {
			mr_errf(e, MR_EXIT_DATA,
				"%s:%d: reward family %s needs '%s'", file,
				family_line, se_family_name(o->family), need);
			goto bad;
		}
	}

	/* [load] */
	{
		const char *keys[64], *vals[64];
		int lines[64], cnt = 0, found = 0;
		for (int i = 0; i < n; i++) {
			if (!is_sec(&en[i], "load"))
				continue;
			found = 1;
			if (!en[i].key)
				continue;
			if (cnt == 64) {
				mr_errf(e, MR_EXIT_DATA, "%s:%d: too many [load] keys",
					file, en[i].line);
				goto bad;
			}
			keys[cnt] = en[i].key;
			vals[cnt] = en[i].val;
			lines[cnt++] = en[i].line;
		}
		if (!found) {
			mr_errf(e, MR_EXIT_DATA, "%s: no [load] section", file);
			goto bad;
		}
		if (se_pattern_parse_kv(&o->pattern, o->nserv, keys, vals, lines,
					cnt, file, o->dir, e) != 0)
			goto bad;
	}
	free(en);
	free(buf);
	return o;
bad:
	free(en);
	free(buf);
	mr_objective_free(o);
	return NULL;
}

mr_objective *mr_objective_load(const char *path, mr_err *e)
{
	char *buf;
	size_t len;
	if (mr_read_file(path, &buf, &len, 16u << 20, e) != 0)
		return NULL;
	char *dir = mr_xstrdup(path), *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		strcpy(dir, ".");
	if (slash == dir)
		strcpy(dir, "/");
	mr_objective *o = se_objective_parse(buf, len, path, dir, e);
	free(dir);
	free(buf);
	return o;
}

const char *mr_objective_name(const mr_objective *o)
{
	return o->name;
}

const char *mr_objective_param(const mr_objective *o, const char *section,
			       const char *key)
{
	for (int i = 0; i < o->nkv; i++)
		if (strcmp(o->kv[i].section, section) == 0 &&
		    strcmp(o->kv[i].key, key) == 0)
			return o->kv[i].value;
	return NULL;
}
