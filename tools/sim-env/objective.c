/*
 * objective.c - the objective file parser (format: pipelines/objectives/
 * README.md).
 *
 * An objective is data: services, load pattern, actions, the system model
 * and how state and action map onto its features, and a reward family with
 * its constants. Every error names file:line. The text is split into
 * entries (a section header, or a key = value line), then each section is
 * read by its own function, in an order where every name is defined before
 * an expression uses it. The load pattern is pattern.c's; the system model
 * is opened by simenv.c (so that a model path can be overridden).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simenv_impl.h"

/* ------------------------------------------------------------------------
 * Small helpers (shared with pattern.c)
 */
char *se_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	return s;
}

int se_parse_num(const char *s, double *v)
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

/* "lo..hi" or "lo..hi step s" (item is modified) appended to v[*cnt..]. */
static int grid_range(char *item, char *dots, double *v, int *cnt, mr_err *e)
{
	*dots = 0;
	char *hi_s = dots + 2, *step_s = strstr(hi_s, "step");
	double lo, hi, step = 1;
	if (step_s) {
		*step_s = 0;
		if (se_parse_num(step_s + 4, &step) != 0 || step <= 0)
			return mr_errf(e, MR_EXIT_DATA,
				       "range step must be a number > 0");
	}
	if (se_parse_num(se_trim(item), &lo) != 0 ||
	    se_parse_num(se_trim(hi_s), &hi) != 0 || hi < lo)
		return mr_errf(e, MR_EXIT_DATA,
			       "a range is 'lo..hi' or 'lo..hi step s' with lo <= hi");
	double span = (hi - lo) / step;
	long k = lround(span);
	/* a whole number of steps, up to rounding */
	if (!mr_value_matches((double)k, span))
		return mr_errf(e, MR_EXIT_DATA,
			       "range %g..%g is not a whole number of steps of %g",
			       lo, hi, step);
	if (k + 1 > MR_MAX_CHOICES - *cnt)
		return mr_errf(e, MR_EXIT_DATA, "more than %d values",
			       MR_MAX_CHOICES);
	for (long i = 0; i <= k; i++)
		v[(*cnt)++] = tidy(lo + (double)i * step);
	return 0;
}

int se_parse_grid(const char *text, double **out, int *n, mr_err *e)
{
	double *v = mr_xcalloc(MR_MAX_CHOICES, sizeof *v);
	int cnt = 0;
	char *copy = mr_xstrdup(text), *save = NULL;
	for (char *item = strtok_r(copy, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		item = se_trim(item);
		char *dots = strstr(item, "..");
		if (dots) {
			if (grid_range(item, dots, v, &cnt, e) != 0)
				goto bad;
			continue;
		}
		double x;
		if (se_parse_num(item, &x) != 0) {
			mr_errf(e, MR_EXIT_DATA, "'%s' is not a number", item);
			goto bad;
		}
		if (cnt == MR_MAX_CHOICES) {
			mr_errf(e, MR_EXIT_DATA, "more than %d values",
				MR_MAX_CHOICES);
			goto bad;
		}
		v[cnt++] = x;
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

static int valid_name(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

/* An objective's or a service's name: they go into file names, CSV rows
 * and messages. */
static int valid_label(const char *s)
{
	if (!isalnum((unsigned char)*s) && *s != '_')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return 0;
	return 1;
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

/* ------------------------------------------------------------------------
 * The text as entries: a section header (key NULL; so that a section
 * without keys still exists) or a key = value line of a section.
 */
typedef struct {
	char sec[32], secname[64];
	char *key, *val;
	int line;
} entry;

typedef struct {
	entry *v;
	int n, cap;
} entries;

static entry *entry_add(entries *es, const char *sec, const char *secname,
			int line)
{
	if (es->n == es->cap) {
		es->cap = es->cap ? 2 * es->cap : 64;
		es->v = mr_xrealloc(es->v, (size_t)es->cap, sizeof *es->v);
	}
	entry *en = &es->v[es->n++];
	memset(en, 0, sizeof *en);
	snprintf(en->sec, sizeof en->sec, "%s", sec);
	snprintf(en->secname, sizeof en->secname, "%s", secname);
	en->line = line;
	return en;
}

/* "[kind name]" or "[name]" (t starts with '[') into sec and secname. */
static int section_header(char *t, char sec[32], char secname[64])
{
	char *close = strchr(t, ']');
	if (!close || se_trim(close + 1)[0])
		return -1;
	*close = 0;
	char *inner = se_trim(t + 1), *sp = inner;
	while (*sp && !isspace((unsigned char)*sp))
		sp++;
	char *nm = "";
	if (*sp) {
		*sp = 0;
		nm = se_trim(sp + 1);
	}
	if (!*inner || strlen(inner) >= 32 || strlen(nm) >= 64 ||
	    strchr(nm, ' '))
		return -1;
	snprintf(sec, 32, "%s", inner);
	snprintf(secname, 64, "%s", nm);
	return 0;
}

/* "key = value" (t, modified in place) as an entry of the section. */
static int key_line(entries *es, char *t, const char *sec,
		    const char *secname, const char *file, int line,
		    mr_err *e)
{
	char *eq = strchr(t, '=');
	/* '==' inside an expression is not the separator */
	if (!eq)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s:%d: expected 'key = value' or '[section]'",
			       file, line);
	*eq = 0;
	char *key = se_trim(t), *val = se_trim(eq + 1);
	if (!*key || !valid_name(key))
		return mr_errf(e, MR_EXIT_DATA,
			       "%s:%d: '%s' is not a valid key (letters, digits, _)",
			       file, line, key);
	if (!*val)
		return mr_errf(e, MR_EXIT_DATA, "%s:%d: '%s' has no value",
			       file, line, key);
	entry *en = entry_add(es, sec, secname, line);
	en->key = key;
	en->val = val;
	return 0;
}

/* Key entries by section, section name and key, then line. */
static int cmp_keys(const void *a, const void *b)
{
	const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
	int c = strcmp(x->sec, y->sec);
	if (!c)
		c = strcmp(x->secname, y->secname);
	if (!c)
		c = strcmp(x->key, y->key);
	return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* A key set twice in one section: the repeat that comes first in the
 * file. Sorted, so that a file of many keys takes n log n, not n^2. */
static int check_repeats(const entry *v, int n, const char *file, mr_err *e)
{
	const entry **k = mr_xcalloc((size_t)n + 1, sizeof *k);
	const entry *again = NULL, *first = NULL;
	int nk = 0;
	for (int i = 0; i < n; i++)
		if (v[i].key)
			k[nk++] = &v[i];
	qsort(k, (size_t)nk, sizeof *k, cmp_keys);
	for (int i = 1, g = 0; i < nk; i++) {
		const entry *a = k[i - 1], *b = k[i];
		if (strcmp(a->sec, b->sec) || strcmp(a->secname, b->secname) ||
		    strcmp(a->key, b->key))
			g = i;
		else if (!again || b->line < again->line) {
			again = b;
			first = k[g];
		}
	}
	free(k);
	if (again)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s:%d: '%s' is set twice in this section (first at line %d)",
			       file, again->line, again->key, first->line);
	return 0;
}

/* Splits text into entries (pointing into text); syntax errors name
 * file:line. */
static int tokenize(char *text, const char *file, entry **out, int *nout,
		    mr_err *e)
{
	entries es = {0};
	char sec[32] = "", secname[64] = "";
	int line = 0;
	for (char *s = text; *s;) {
		char *nl = strchr(s, '\n');
		if (nl)
			*nl = 0;
		line++;
		char *hash = strchr(s, '#');
		if (hash)
			*hash = 0;
		char *t = se_trim(s);
		if (*t == ';')
			*t = 0;
		if (*t == '[') {
			if (section_header(t, sec, secname) != 0) {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%d: a section header is '[name]' or '[kind name]'",
					file, line);
				goto bad;
			}
			entry_add(&es, sec, secname, line);
		} else if (*t && key_line(&es, t, sec, secname, file, line,
					  e) != 0) {
			goto bad;
		}
		if (!nl)
			break;
		s = nl + 1;
	}
	if (check_repeats(es.v, es.n, file, e) != 0)
		goto bad;
	*out = es.v;
	*nout = es.n;
	return 0;
bad:
	free(es.v);
	return -1;
}

static int is_sec(const entry *en, const char *s)
{
	return strcmp(en->sec, s) == 0;
}

/* ------------------------------------------------------------------------
 * The parser's state, names and expressions
 */
typedef struct {
	mr_objective *o;
	const entry *en;
	int n;
	const char *file;
	mr_err *e;
	int services_line, model_line, reward_line, family_line;
	int episode_line, load_line, from_start_line;
	int timeout_line[MR_MAX_SERVICES], served_line[MR_MAX_SERVICES];
	const entry *targets; /* [model] targets */
	const entry *risk, *upper, *lower; /* [model] robust optimum */
	const entry *fit_args;
} parser;

/* An error at a line of the file ("file:line: ..."; line 0: "file: ..."). */
static int bad(const parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(const parser *p, int line, const char *fmt, ...)
{
	char msg[sizeof p->e->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (line > 0)
		return mr_errf(p->e, MR_EXIT_DATA, "%s:%d: %s", p->file, line,
			       msg);
	return mr_errf(p->e, MR_EXIT_DATA, "%s: %s", p->file, msg);
}

typedef struct {
	mr_objective *o;
	unsigned kinds; /* bit per SE_V_* allowed */
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

static const char *kind_name(int k)
{
	static const char *n[] = {"constant", "load", "parameter", "action",
				  "model target", "variable", "reward key"};
	return n[k];
}

/* A new name of the given kind; its slot, or -1. */
static int add_var(parser *p, const char *name, int kind, int line)
{
	mr_objective *o = p->o;
	if (!valid_name(name))
		return bad(p, line,
			   "'%s' is not a valid name (letters, digits, _)",
			   name);
	static const char *reserved[] = {"min", "max", "abs", "exp", "log",
					 "sqrt", "pow", "clamp", "logistic",
					 "floor", "ceil", NULL};
	for (int i = 0; reserved[i]; i++)
		if (strcmp(reserved[i], name) == 0)
			return bad(p, line, "'%s' is a function name", name);
	for (int i = 0; i < o->nvars; i++)
		if (strcmp(o->var_name[i], name) == 0)
			return bad(p, line,
				   "'%s' is already defined as a %s (line %d)",
				   name, kind_name(o->var_kind[i]),
				   o->var_line[i]);
	if (o->nvars == SE_MAX_VARS)
		return bad(p, line, "more than %d names", SE_MAX_VARS);
	o->var_name[o->nvars] = mr_xstrdup(name);
	o->var_kind[o->nvars] = kind;
	o->var_line[o->nvars] = line;
	return o->nvars++;
}

/* Compiles the value of en over names of the given kinds. */
static int compile_at(parser *p, const entry *en, unsigned kinds, se_expr *x)
{
	resolve_ctx c = {p->o, kinds};
	if (se_compile(en->val, resolve, &c, x, p->e) != 0)
		return mr_err_prefix(p->e, "%s:%d: '%s'", p->file, en->line,
				     en->key);
	x->line = en->line;
	return 0;
}

/* ------------------------------------------------------------------------
 * The sections, in the order they are read
 */

/* Every key, for mr_objective_param. */
static int collect_kv(parser *p)
{
	mr_objective *o = p->o;
	o->kv = mr_xcalloc((size_t)p->n + 1, sizeof *o->kv);
	for (int i = 0; i < p->n; i++) {
		const entry *en = &p->en[i];
		if (!en->key)
			continue;
		se_kv *kv = &o->kv[o->nkv++];
		char sec[128];
		if (en->secname[0])
			snprintf(sec, sizeof sec, "%s %s", en->sec, en->secname);
		else
			snprintf(sec, sizeof sec, "%s", en->sec);
		kv->section = mr_xstrdup(sec);
		kv->key = mr_xstrdup(en->key);
		kv->value = mr_xstrdup(en->val);
		kv->line = en->line;
	}
	return 0;
}

/* Sections we know; free-form ones ([ppo], [eval], ...) are for other
 * tools. "[action NAME]" and "[param NAME]" have a name, the others not. */
static const char *const named_sections[] = {"action", "param", NULL};
static const char *const plain_sections[] = {
	"", "load", "model", "features", "targets", "const", "vars", "reward",
	"ppo", "eval", "optimal", "pipeline", NULL};

static int section_known(const char *sec, const char *secname)
{
	const char *const *list = secname[0] ? named_sections : plain_sections;
	for (int k = 0; list[k]; k++)
		if (strcmp(sec, list[k]) == 0)
			return 1;
	return 0;
}

static int check_sections(parser *p)
{
	for (int i = 0; i < p->n; i++) {
		const entry *en = &p->en[i];
		if (!section_known(en->sec, en->secname))
			return bad(p, en->line,
				   "unknown section '[%s%s%s]' (known: load, action NAME, param NAME, model, features, targets, const, vars, reward, ppo, eval, optimal, pipeline)",
				   en->sec, en->secname[0] ? " " : "",
				   en->secname);
	}
	return 0;
}

static int top_services(parser *p, const entry *en)
{
	mr_objective *o = p->o;
	size_t cnt;
	char **names = split_list(en->val, &cnt, p->e);
	if (!names)
		return mr_err_prefix(p->e, "%s:%d: 'services'", p->file,
				     en->line);
	if (cnt > MR_MAX_SERVICES) {
		free(names);
		return bad(p, en->line, "at most %d services",
			   MR_MAX_SERVICES);
	}
	for (size_t j = 0; j < cnt; j++)
		if (!valid_label(names[j])) {
			int rc = bad(p, en->line,
				     "bad service name '%s' (letters, digits, _ and -, not first)",
				     names[j]);
			free(names);
			return rc;
		}
	o->nserv = (int)cnt;
	for (size_t j = 0; j < cnt; j++)
		o->serv_names[j] = mr_xstrdup(names[j]);
	free(names);
	p->services_line = en->line;
	return 0;
}

static int top_key(parser *p, const entry *en)
{
	mr_objective *o = p->o;
	const char *k = en->key, *v = en->val;
	if (strcmp(k, "name") == 0) {
		if (!valid_label(v))
			return bad(p, en->line,
				   "bad name '%s' (letters, digits, _ and -, not first)",
				   v);
		o->name = mr_xstrdup(v);
	} else if (strcmp(k, "services") == 0) {
		return top_services(p, en);
	} else if (strcmp(k, "actions") == 0) {
		if (strcmp(v, "absolute") == 0)
			o->incremental = 0;
		else if (strcmp(v, "incremental") == 0)
			o->incremental = 1;
		else
			return bad(p, en->line,
				   "'actions' is 'absolute' or 'incremental'");
	} else if (strcmp(k, "episode_length") == 0) {
		double x;
		if (se_parse_num(v, &x) != 0 || x < 0 || x > 1e8 ||
		    x != floor(x))
			return bad(p, en->line,
				   "'episode_length' must be a whole number >= 0");
		o->episode_length = (int)x;
		p->episode_line = en->line;
	} else if (strcmp(k, "train_from_start") == 0) {
		double x;
		if (se_parse_num(v, &x) != 0 || !(x >= 0 && x <= 1))
			return bad(p, en->line,
				   "'train_from_start' must be a share in 0..1");
		o->train_from_start = x;
		p->from_start_line = en->line;
	} else {
		return bad(p, en->line,
			   "unknown key '%s' (top level: name, services, actions, episode_length, train_from_start)",
			   k);
	}
	return 0;
}

/* Keys before the first section header. */
static int parse_top(parser *p)
{
	for (int i = 0; i < p->n; i++)
		if (is_sec(&p->en[i], "") && p->en[i].key &&
		    top_key(p, &p->en[i]) != 0)
			return -1;
	if (!p->o->name)
		return bad(p, 0, "missing 'name = ...' at the top");
	if (p->o->nserv == 0)
		return bad(p, 0, "missing 'services = name, ...' at the top");
	return 0;
}

/* [const], in file order; each may use earlier ones. */
static int parse_const(parser *p)
{
	for (int i = 0; i < p->n; i++) {
		const entry *en = &p->en[i];
		if (!is_sec(en, "const") || !en->key)
			continue;
		se_expr x;
		if (compile_at(p, en, 1u << SE_V_CONST, &x) != 0)
			return -1;
		double k;
		int isc = se_is_const(&x, &k);
		se_expr_free(&x);
		if (!isc)
			return bad(p, en->line, "'%s' is not constant", en->key);
		int s = add_var(p, en->key, SE_V_CONST, en->line);
		if (s < 0)
			return -1;
		p->o->const_val[s] = k;
	}
	return 0;
}

/* The loads load1..loadK (named by the services line). */
static int add_loads(parser *p)
{
	for (int j = 0; j < p->o->nserv; j++) {
		char nm[16];
		snprintf(nm, sizeof nm, "load%d", j + 1);
		int s = add_var(p, nm, SE_V_LOAD, p->services_line);
		if (s < 0)
			return -1;
		p->o->load_slot[j] = s;
	}
	return 0;
}

/* The keys of [param NAME]. */
static int param_keys(parser *p, se_param *pa)
{
	for (int j = 0; j < p->n; j++) {
		const entry *en = &p->en[j];
		if (!en->key || !is_sec(en, "param") ||
		    strcmp(en->secname, pa->name) != 0)
			continue;
		if (strcmp(en->key, "levels") == 0) {
			if (se_parse_grid(en->val, &pa->levels, &pa->nlevels,
					  p->e) != 0)
				return mr_err_prefix(p->e, "%s:%d: 'levels'",
						     p->file, en->line);
		} else if (strcmp(en->key, "change") == 0) {
			if (strcmp(en->val, "step") == 0)
				pa->per_episode = 0;
			else if (strcmp(en->val, "episode") == 0)
				pa->per_episode = 1;
			else
				return bad(p, en->line,
					   "'change' is 'step' or 'episode'");
		} else {
			return bad(p, en->line,
				   "unknown [param] key '%s' (levels, change)",
				   en->key);
		}
	}
	return 0;
}

/* [param NAME] sections. */
static int parse_params(parser *p)
{
	mr_objective *o = p->o;
	for (int i = 0; i < p->n; i++) {
		const entry *en = &p->en[i];
		if (!is_sec(en, "param") || en->key)
			continue;
		if (o->nparam == SE_MAX_PARAMS)
			return bad(p, en->line, "more than %d parameters",
				   SE_MAX_PARAMS);
		se_param *pa = &o->param[o->nparam];
		pa->name = mr_xstrdup(en->secname);
		o->nparam++;
		int s = add_var(p, pa->name, SE_V_PARAM, en->line);
		if (s < 0)
			return -1;
		pa->slot = s;
		if (param_keys(p, pa) != 0)
			return -1;
		if (!pa->levels)
			return bad(p, en->line, "[param %s] needs 'levels'",
				   pa->name);
	}
	return 0;
}

/* The keys of [action NAME]; *start gets its 'start' entry (or NULL). */
static int action_keys(parser *p, se_action *a, const entry **start)
{
	*start = NULL;
	for (int j = 0; j < p->n; j++) {
		const entry *en = &p->en[j];
		if (!en->key || !is_sec(en, "action") ||
		    strcmp(en->secname, a->name) != 0)
			continue;
		if (strcmp(en->key, "values") == 0) {
			if (se_parse_grid(en->val, &a->values, &a->nvalues,
					  p->e) != 0)
				return mr_err_prefix(p->e, "%s:%d: 'values'",
						     p->file, en->line);
		} else if (strcmp(en->key, "start") == 0) {
			*start = en;
		} else {
			return bad(p, en->line,
				   "unknown [action] key '%s' (values, start)",
				   en->key);
		}
	}
	return 0;
}

/* An incremental action's evaluation start: one of its values. */
static int action_start(parser *p, se_action *a, const entry *start)
{
	double x;
	if (!p->o->incremental)
		return bad(p, start->line,
			   "'start' applies to incremental actions only");
	if (se_parse_num(start->val, &x) != 0)
		return bad(p, start->line, "'start' must be a number");
	for (int k = 0; k < a->nvalues; k++)
		if (mr_value_matches(a->values[k], x))
			a->start = k;
	if (a->start < 0)
		return bad(p, start->line, "'start' %g is not one of the values",
			   x);
	return 0;
}

/* [action NAME] sections. */
static int parse_actions(parser *p)
{
	mr_objective *o = p->o;
	for (int i = 0; i < p->n; i++) {
		const entry *en = &p->en[i];
		if (!is_sec(en, "action") || en->key)
			continue;
		if (o->nact == MR_MAX_COMPONENTS)
			return bad(p, en->line, "more than %d actions",
				   MR_MAX_COMPONENTS);
		se_action *a = &o->act[o->nact++];
		a->name = mr_xstrdup(en->secname);
		a->start = -1;
		int s = add_var(p, a->name, SE_V_ACTION, en->line);
		if (s < 0)
			return -1;
		a->slot = s;
		const entry *start;
		if (action_keys(p, a, &start) != 0)
			return -1;
		if (!a->values)
			return bad(p, en->line, "[action %s] needs 'values'",
				   a->name);
		if (o->incremental && a->nvalues < 2)
			return bad(p, en->line,
				   "an incremental action needs at least 2 values");
		if (start && action_start(p, a, start) != 0)
			return -1;
	}
	if (o->nact == 0)
		return bad(p, 0, "no [action NAME] section");
	if (o->train_from_start > 0 && !o->incremental)
		return bad(p, p->from_start_line,
			   "'train_from_start' applies to incremental actions only");
	return 0;
}

static int model_key(parser *p, const entry *en)
{
	mr_objective *o = p->o;
	const char *k = en->key, *v = en->val;
	if (strcmp(k, "kind") == 0) {
		if (strcmp(v, "forest") == 0)
			o->model_kind = SE_MODEL_FOREST;
		else if (strcmp(v, "analytic") == 0)
			o->model_kind = SE_MODEL_ANALYTIC;
		else
			return bad(p, en->line,
				   "model 'kind' is 'forest' or 'analytic'");
	} else if (strcmp(k, "file") == 0) {
		o->model_file = join_path(o->dir, v);
	} else if (strcmp(k, "trace") == 0) {
		o->trace = join_path(o->dir, v);
	} else if (strcmp(k, "fit_args") == 0) {
		o->fit_args = mr_xstrdup(v);
		p->fit_args = en;
	} else if (strcmp(k, "targets") == 0) {
		p->targets = en;
	} else if (strcmp(k, "risk") == 0) {
		p->risk = en;
	} else if (strcmp(k, "upper") == 0) {
		p->upper = en;
	} else if (strcmp(k, "lower") == 0) {
		p->lower = en;
	} else {
		return bad(p, en->line,
			   "unknown [model] key '%s' (kind, file, trace, targets, fit_args, risk, upper, lower)",
			   k);
	}
	return 0;
}

/* [model] risk: "0.9" or "q90", a quantile in [0.5, 1]. */
static int model_risk(parser *p, const entry *en)
{
	const char *v = en->val;
	double q;
	int pct = v[0] == 'q';
	if (se_parse_num(v + pct, &q) != 0 || (pct && q != floor(q)))
		q = -1;
	else if (pct)
		q /= 100;
	if (!(q >= 0.5 && q <= 1))
		return bad(p, en->line,
			   "'risk' is a quantile across the forest's trees in 0.5..1, as 0.9 or q90 (got '%s')",
			   v);
	p->o->risk = q;
	return 0;
}

/* [model] upper / lower: targets taken at the risk quantile across trees
 * (upper: risk, lower: 1 - risk). */
static int model_side(parser *p, const entry *en, int side)
{
	mr_objective *o = p->o;
	size_t cnt;
	char **names = split_list(en->val, &cnt, p->e);
	if (!names)
		return mr_err_prefix(p->e, "%s:%d: '%s'", p->file, en->line,
				     en->key);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < cnt; i++) {
		int t = -1;
		for (int j = 0; j < o->ntarget; j++)
			if (strcmp(o->target_name[j], names[i]) == 0)
				t = j;
		if (t < 0)
			rc = bad(p, en->line, "'%s' is not one of [model] targets",
				 names[i]);
		else if (o->side[t])
			rc = bad(p, en->line, "'%s' is in both 'upper' and 'lower'",
				 names[i]);
		else
			o->side[t] = side;
	}
	free(names);
	return rc;
}

/* One "NAME=NUM/DEN" of fit_args' --ratio, parsed as rf-fit parses it:
 * when NAME is a target, where measured rows hold it (rf-fit checks the
 * columns when it fits). */
static int model_ratio(parser *p, const char *def)
{
	mr_objective *o = p->o;
	rf_ratio r;
	mr_err e;
	if (rf_ratio_parse(def, &r, &e) != 0)
		return bad(p, p->fit_args->line, "fit_args: --ratio %s", e.msg);
	for (int t = 0; t < o->ntarget; t++)
		if (strcmp(o->target_name[t], r.name) == 0) {
			rf_ratio_free(&o->ratio[t]);
			o->ratio[t] = r;
			return 0;
		}
	rf_ratio_free(&r);
	return 0;
}

/* The --ratio options of fit_args (words split at blanks, as the
 * pipeline passes them to rf-fit). */
static int model_ratios(parser *p)
{
	if (!p->fit_args)
		return 0;
	char *copy = mr_xstrdup(p->fit_args->val), *save = NULL;
	int rc = 0, want = 0;
	for (char *w = strtok_r(copy, " \t", &save); w && rc == 0;
	     w = strtok_r(NULL, " \t", &save)) {
		if (want)
			rc = model_ratio(p, w);
		want = strcmp(w, "--ratio") == 0;
		if (strncmp(w, "--ratio=", 8) == 0)
			rc = model_ratio(p, w + 8);
	}
	if (rc == 0 && want)
		rc = bad(p, p->fit_args->line,
			 "fit_args: --ratio needs NAME=NUM/DEN");
	free(copy);
	return rc;
}

/* The robust optimum: risk with upper and/or lower, forest models only. */
static int model_robust(parser *p)
{
	if (!p->risk && !p->upper && !p->lower)
		return 0;
	const entry *any = p->risk ? p->risk : p->upper ? p->upper : p->lower;
	if (p->o->model_kind != SE_MODEL_FOREST)
		return bad(p, any->line,
			   "'%s' needs a forest model (quantiles across its trees); an analytic model has one prediction",
			   any->key);
	if (!p->risk)
		return bad(p, any->line,
			   "'%s' needs 'risk' (the quantile, e.g. risk = 0.9)",
			   any->key);
	if (!p->upper && !p->lower)
		return bad(p, p->risk->line,
			   "'risk' needs 'upper' and/or 'lower' (the targets it applies to)");
	if (model_risk(p, p->risk) != 0 ||
	    (p->upper && model_side(p, p->upper, 1) != 0) ||
	    (p->lower && model_side(p, p->lower, -1) != 0))
		return -1;
	return 0;
}

/* [model] targets: the model outputs, as names. */
static int model_targets(parser *p)
{
	mr_objective *o = p->o;
	const entry *t = p->targets;
	size_t cnt;
	char **names = split_list(t->val, &cnt, p->e);
	if (!names)
		return mr_err_prefix(p->e, "%s:%d: 'targets'", p->file, t->line);
	int rc = 0;
	if (cnt > SE_MAX_TARGETS)
		rc = bad(p, t->line, "more than %d targets", SE_MAX_TARGETS);
	for (size_t j = 0; rc == 0 && j < cnt; j++) {
		int s = add_var(p, names[j], SE_V_TARGET, t->line);
		if (s < 0) {
			rc = -1;
			break;
		}
		o->target_name[o->ntarget] = mr_xstrdup(names[j]);
		o->target_slot[o->ntarget++] = s;
	}
	free(names);
	return rc;
}

static int parse_model(parser *p)
{
	for (int i = 0; i < p->n; i++) {
		const entry *en = &p->en[i];
		if (!is_sec(en, "model"))
			continue;
		if (!en->key)
			p->model_line = en->line;
		else if (model_key(p, en) != 0)
			return -1;
	}
	if (!p->model_line)
		return bad(p, 0, "no [model] section");
	if (!p->targets)
		return bad(p, p->model_line,
			   "[model] needs 'targets = name, ...'");
	if (p->o->model_kind == SE_MODEL_FOREST && !p->o->model_file)
		return bad(p, p->model_line,
			   "[model] needs 'file' (the rf-fit model)");
	if (model_targets(p) != 0 || model_robust(p) != 0)
		return -1;
	return model_ratios(p);
}

/* [features]: model inputs from state and action. */
static int parse_features(parser *p)
{
	mr_objective *o = p->o;
	unsigned state_kinds = (1u << SE_V_CONST) | (1u << SE_V_LOAD) |
			       (1u << SE_V_PARAM) | (1u << SE_V_ACTION);
	for (int i = 0; i < p->n; i++) {
		const entry *en = &p->en[i];
		if (!is_sec(en, "features") || !en->key)
			continue;
		if (o->nfeat == SE_MAX_FEAT)
			return bad(p, en->line, "more than %d features",
				   SE_MAX_FEAT);
		if (compile_at(p, en, state_kinds, &o->feat[o->nfeat]) != 0) {
			if (strstr(p->e->msg, "unknown name"))
				mr_err_prefix(p->e, "(features use constants, loads, parameters and actions)");
			return -1;
		}
		o->feat_name[o->nfeat++] = mr_xstrdup(en->key);
	}
	if (o->nfeat == 0)
		return bad(p, 0,
			   "no [features] section (model inputs: 'column = expression')");
	return 0;
}

/* [targets]: the analytic model, a formula per target over features. */
static int parse_analytic(parser *p)
{
	mr_objective *o = p->o;
	int have[SE_MAX_TARGETS] = {0};
	for (int i = 0; i < p->n; i++) {
		const entry *en = &p->en[i];
		if (!is_sec(en, "targets") || !en->key)
			continue;
		if (o->model_kind != SE_MODEL_ANALYTIC)
			return bad(p, en->line,
				   "[targets] is for 'kind = analytic' models");
		int t = -1;
		for (int j = 0; j < o->ntarget; j++)
			if (strcmp(o->target_name[j], en->key) == 0)
				t = j;
		if (t < 0)
			return bad(p, en->line,
				   "'%s' is not one of [model] targets",
				   en->key);
		if (se_compile(en->val, resolve_feat, o, &o->analytic[t],
			       p->e) != 0)
			return mr_err_prefix(p->e,
					     "%s:%d: '%s' (analytic targets use feature names)",
					     p->file, en->line, en->key);
		o->analytic[t].line = en->line;
		have[t] = 1;
	}
	if (o->model_kind == SE_MODEL_ANALYTIC)
		for (int j = 0; j < o->ntarget; j++)
			if (!have[j])
				return bad(p, p->model_line,
					   "analytic model: no [targets] formula for '%s'",
					   o->target_name[j]);
	return 0;
}

/* A [vars] or [reward] expression over every name so far, evaluated in
 * file order; its slot, or -1. */
static int add_derived(parser *p, const entry *en, int kind)
{
	mr_objective *o = p->o;
	unsigned all_kinds = 0x7f;
	se_expr x;
	if (compile_at(p, en, all_kinds, &x) != 0)
		return -1;
	int s = add_var(p, en->key, kind, en->line);
	if (s < 0) {
		se_expr_free(&x);
		return -1;
	}
	o->derived[o->nderived] = x;
	o->derived_slot[o->nderived++] = s;
	return s;
}

static int parse_vars(parser *p)
{
	for (int i = 0; i < p->n; i++)
		if (is_sec(&p->en[i], "vars") && p->en[i].key &&
		    add_derived(p, &p->en[i], SE_V_VAR) < 0)
			return -1;
	return 0;
}

/* Names of per-service and global reward roles. */
static const char *per_role[SE_R_NPER] = {"delay", "offered", "carried",
					  "bound", "width", "served"};
static const char *glob_role[SE_R_NGLOBAL] = {"cost", "budget", "value",
					      "penalty", "scale",
					      "cost_weight"};

/* "base" or "base<i>" (i a service): 0 for base, i for base<i>, -1 when
 * key is neither. */
static int service_suffix(const char *key, const char *base, int nserv)
{
	size_t l = strlen(base);
	if (strncmp(key, base, l) != 0)
		return -1;
	if (!key[l])
		return 0;
	if (key[l] >= '1' && key[l] < '1' + nserv && !key[l + 1])
		return key[l] - '0';
	return -1;
}

static int reward_role(const char *key, int nserv, int *per, int *serv,
		       int *glob)
{
	*per = *glob = *serv = -1;
	for (int r = 0; r < SE_R_NGLOBAL; r++)
		if (strcmp(key, glob_role[r]) == 0) {
			*glob = r;
			return 0;
		}
	for (int r = 0; r < SE_R_NPER; r++)
		if (service_suffix(key, per_role[r], nserv) > 0) {
			*per = r;
			*serv = key[strlen(per_role[r])] - '1';
			return 0;
		}
	return -1;
}

/* A role key whose value is exactly the model target of the same name
 * ("served1 = served1", the share rf-fit --ratio derives): the role reads
 * the target's slot, no new name. Returns the slot, or -1. */
static int role_is_own_target(parser *p, const entry *en)
{
	mr_objective *o = p->o;
	for (int t = 0; t < o->ntarget; t++) {
		if (strcmp(o->target_name[t], en->key) != 0)
			continue;
		char *v = se_trim(mr_xstrdup(en->val)), *copy = v;
		int same = strcmp(v, en->key) == 0;
		free(copy);
		return same ? o->target_slot[t] : -1;
	}
	return -1;
}

/* timeout, timeout<i>, min_served: constants of the served-share rule,
 * also names later expressions may read. */
static int reward_constant(parser *p, const entry *en, int serv)
{
	mr_objective *o = p->o;
	int s = add_derived(p, en, SE_V_REWARD);
	if (s < 0)
		return -1;
	double k;
	if (!se_is_const(&o->derived[o->nderived - 1], &k))
		return bad(p, en->line, "'%s' must be a constant", en->key);
	if (serv < 0) {
		if (!(k >= 0 && k <= 1))
			return bad(p, en->line,
				   "'min_served' is a share of the offered requests, 0..1 (got %g)",
				   k);
		o->min_served = k;
		return 0;
	}
	if (!(k >= 0))
		return bad(p, en->line,
			   "'%s' is in seconds, >= 0 (got %g)", en->key, k);
	/* timeout<i> wins over timeout whatever the order */
	for (int j = 0; j < o->nserv; j++)
		if (serv == j + 1 || (serv == 0 && !p->timeout_line[j])) {
			o->timeout[j] = k;
			if (serv)
				p->timeout_line[j] = en->line;
		}
	return 0;
}

/* One key of [reward]: the family, a constant of the served-share rule,
 * or an expression of a role. */
static int reward_key(parser *p, const entry *en)
{
	mr_objective *o = p->o;
	if (strcmp(en->key, "family") == 0) {
		for (int f = 0; f <= SE_FAM_DIFFERENTIATION; f++)
			if (strcmp(en->val, se_family_name(f)) == 0)
				o->family = f;
		if (o->family < 0)
			return bad(p, en->line,
				   "unknown reward family '%s' (delay-bound-cost, throughput-logistic, cost-incremental, differentiation)",
				   en->val);
		p->family_line = en->line;
		return 0;
	}
	if (strcmp(en->key, "min_served") == 0)
		return reward_constant(p, en, -1);
	int ts = service_suffix(en->key, "timeout", o->nserv);
	if (ts >= 0)
		return reward_constant(p, en, ts);
	int per, serv, glob;
	if (reward_role(en->key, o->nserv, &per, &serv, &glob) != 0)
		return bad(p, en->line,
			   "unknown [reward] key '%s' (delayN, offeredN, carriedN, boundN, widthN, servedN, timeoutN for service N; cost, budget, value, penalty, scale, cost_weight, timeout, min_served; helpers go in [vars])",
			   en->key);
	int s = role_is_own_target(p, en);
	if (s < 0 && (s = add_derived(p, en, SE_V_REWARD)) < 0)
		return -1;
	if (per >= 0)
		o->rslot[per][serv] = s;
	else
		o->gslot[glob] = s;
	if (per == SE_R_SERVED) {
		double k;
		const se_expr *x = &o->derived[o->nderived - 1];
		if (o->derived_slot[o->nderived - 1] == s && se_is_const(x, &k) &&
		    !(k >= 0 && k <= 1))
			return bad(p, en->line,
				   "'%s' is a share of the offered requests, 0..1 (got %g)",
				   en->key, k);
		p->served_line[serv] = en->line;
	}
	return 0;
}

/* The served-share rule needs the delay an unanswered request counts:
 * with timeout 0 a lost request would make the mean delay smaller. */
static int check_served(parser *p)
{
	mr_objective *o = p->o;
	for (int j = 0; j < o->nserv; j++)
		if (o->rslot[SE_R_SERVED][j] >= 0 && !(o->timeout[j] > 0))
			return bad(p, p->served_line[j],
				   "'served%d' needs a timeout > 0: 'timeout%d' or 'timeout' (the seconds an unanswered request counts, e.g. the client's timeout)",
				   j + 1, j + 1);
	return 0;
}

/* The keys the reward family needs. */
static int check_reward(parser *p)
{
	mr_objective *o = p->o;
	int nb = 0;
	for (int j = 0; j < o->nserv; j++) {
		if (o->rslot[SE_R_DELAY][j] < 0)
			return bad(p, p->reward_line,
				   "[reward] needs 'delay%d' (service %s's delay)",
				   j + 1, o->serv_names[j]);
		nb += o->rslot[SE_R_BOUND][j] >= 0;
	}
	if (nb == 0)
		return bad(p, p->reward_line,
			   "[reward] needs a delay bound ('bound1 = ...')");
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
		if (o->nserv != 2)
			return bad(p, p->family_line,
				   "the differentiation family has two services (premium, freemium)");
		if (o->rslot[SE_R_BOUND][0] < 0)
			need = "bound1";
		break;
	}
	if (need)
		return bad(p, p->family_line, "reward family %s needs '%s'",
			   se_family_name(o->family), need);
	return check_served(p);
}

static int parse_reward(parser *p)
{
	p->o->family = -1;
	for (int i = 0; i < p->n; i++) {
		const entry *en = &p->en[i];
		if (!is_sec(en, "reward"))
			continue;
		if (!en->key)
			p->reward_line = en->line;
		else if (reward_key(p, en) != 0)
			return -1;
	}
	if (!p->reward_line)
		return bad(p, 0, "no [reward] section");
	if (p->o->family < 0)
		return bad(p, p->reward_line, "[reward] needs 'family = ...'");
	return check_reward(p);
}

/* [load]: the load pattern (pattern.c). */
static int parse_load(parser *p)
{
	const char *keys[64], *vals[64];
	int lines[64], cnt = 0, found = 0;
	for (int i = 0; i < p->n; i++) {
		const entry *en = &p->en[i];
		if (!is_sec(en, "load"))
			continue;
		found = 1;
		if (!en->key) {
			p->load_line = en->line;
			continue;
		}
		if (cnt == 64)
			return bad(p, en->line, "too many [load] keys");
		keys[cnt] = en->key;
		vals[cnt] = en->val;
		lines[cnt++] = en->line;
	}
	if (!found)
		return bad(p, 0, "no [load] section");
	if (se_pattern_parse_kv(&p->o->pattern, p->o->nserv, keys, vals,
				lines, cnt, p->file, p->o->dir, p->e) != 0)
		return -1;
	/* an episode of no steps has no mean reward */
	if (mr_simenv_episode_length(p->o) >= 1)
		return 0;
	if (p->episode_line)
		return bad(p, p->episode_line,
			   "'episode_length' is 0 (the load pattern's length), but this load pattern has none: give the number of steps, >= 1");
	return bad(p, p->load_line,
		   "this load pattern has no length of its own: set 'episode_length = N' (steps, >= 1) at the top");
}

/* ------------------------------------------------------------------------
 * The objective
 */
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
		rf_ratio_free(&o->ratio[i]);
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

mr_objective *se_objective_parse(const char *text, size_t len,
				 const char *file, const char *dir, mr_err *e)
{
	/* in this order: every name is defined before an expression uses
	 * it, and the first error is the one a reader meets first */
	static int (*const sections[])(parser *) = {
		collect_kv, check_sections, parse_top, parse_const, add_loads,
		parse_params, parse_actions, parse_model, parse_features,
		parse_analytic, parse_vars, parse_reward, parse_load,
	};
	if (memchr(text, 0, len)) {
		mr_errf(e, MR_EXIT_DATA, "%s: not a text file (NUL byte)", file);
		return NULL;
	}
	char *buf = mr_xcalloc(len + 1, 1);
	memcpy(buf, text, len);
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\r')
			buf[i] = ' ';
	mr_objective *o = mr_xcalloc(1, sizeof *o);
	o->path = mr_xstrdup(file);
	o->dir = mr_xstrdup(dir ? dir : ".");
	for (int r = 0; r < SE_R_NPER; r++)
		for (int j = 0; j < MR_MAX_SERVICES; j++)
			o->rslot[r][j] = -1;
	for (int r = 0; r < SE_R_NGLOBAL; r++)
		o->gslot[r] = -1;
	parser p = {.o = o, .file = file, .e = e};
	entry *en = NULL;
	int ok = tokenize(buf, file, &en, &p.n, e) == 0;
	p.en = en;
	for (size_t k = 0; ok && k < sizeof sections / sizeof *sections; k++)
		ok = sections[k](&p) == 0;
	free(en);
	free(buf);
	if (!ok) {
		mr_objective_free(o);
		return NULL;
	}
	return o;
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

const char *mr_objective_model_file(const mr_objective *o,
				    const char *model_path)
{
	if (model_path)
		return model_path;
	return o->model_kind == SE_MODEL_FOREST ? o->model_file : NULL;
}

int mr_objective_nparams(const mr_objective *o)
{
	return o->nparam;
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

/* The compiled expression of key in an expression section, or NULL. */
static const se_expr *expr_of(const mr_objective *o, const char *section,
			      const char *key)
{
	if (strcmp(section, "features") == 0) {
		for (int i = 0; i < o->nfeat; i++)
			if (strcmp(o->feat_name[i], key) == 0)
				return &o->feat[i];
	} else if (strcmp(section, "targets") == 0) {
		for (int t = 0; t < o->ntarget; t++)
			if (strcmp(o->target_name[t], key) == 0)
				return &o->analytic[t];
	} else {
		for (int d = 0; d < o->nderived; d++)
			if (strcmp(o->var_name[o->derived_slot[d]], key) == 0)
				return &o->derived[d];
	}
	return NULL;
}

int se_objective_get(const mr_objective *o, const char *section,
		     const char *key, char num[32], const char **out)
{
	static const char *const expr_sections[] = {
		"features", "targets", "const", "vars", "reward", NULL};
	char kind[32] = "";
	const char *name = strchr(section, ' ');
	size_t kl = name ? (size_t)(name - section) : strlen(section);
	if (kl < sizeof kind)
		memcpy(kind, section, kl);
	if (kl >= sizeof kind || !section_known(kind, name ? name + 1 : ""))
		return -1;
	*out = mr_objective_param(o, section, key);
	int is_expr = 0;
	for (int k = 0; expr_sections[k]; k++)
		is_expr |= strcmp(section, expr_sections[k]) == 0;
	if (!*out || !is_expr ||
	    (strcmp(section, "reward") == 0 && strcmp(key, "family") == 0))
		return 0;
	double v = 0;
	int isc;
	if (strcmp(section, "const") == 0) {
		isc = 0;
		for (int i = 0; i < o->nvars; i++)
			if (o->var_kind[i] == SE_V_CONST &&
			    strcmp(o->var_name[i], key) == 0) {
				v = o->const_val[i];
				isc = 1;
			}
	} else {
		const se_expr *x = expr_of(o, section, key);
		isc = x && se_is_const(x, &v);
	}
	*out = isc ? mr_fmt_double(num, v) : "";
	return 0;
}

const se_kv *se_objective_kv_at(const mr_objective *o, int line)
{
	for (int i = 0; i < o->nkv; i++)
		if (o->kv[i].line == line)
			return &o->kv[i];
	return NULL;
}

/* ------------------------------------------------------------------------
 * Values handed to pipelines. An objective is data: make and sh get its
 * values only from `sim-env describe`, which refuses the whole file when a
 * value outside the expression sections holds a character either could
 * interpret. So no quoting in a recipe can go wrong: paths are words of
 * PATH_CHARS, [model] fit_args words of WORD_CHARS separated by blanks,
 * anything else text of TEXT_CHARS and blanks (';' of a pattern spec
 * such as [eval] unseen is passed in single quotes). Expressions are
 * never handed out as written, only as the numbers they fold to.
 */
#define PATH_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/+-"
#define WORD_CHARS PATH_CHARS ",=%@"
#define TEXT_CHARS WORD_CHARS ":;"

typedef struct {
	const char *section, *key; /* NULL: any other value */
	const char *chars;
	int blanks;
	const char *what;
} value_rule;

static const value_rule value_rules[] = {
	{"model", "file", PATH_CHARS, 0, "a path: letters, digits and ._/+-"},
	{"model", "trace", PATH_CHARS, 0, "a path: letters, digits and ._/+-"},
	{"load", "file", PATH_CHARS, 0, "a path: letters, digits and ._/+-"},
	{"model", "fit_args", WORD_CHARS, 1,
	 "words of letters, digits and ._/+-,=%@"},
	{NULL, NULL, TEXT_CHARS, 1,
	 "letters, digits, blanks and ._/+-,=%@:;"},
};

static const value_rule *rule_of(const se_kv *kv)
{
	const value_rule *r = value_rules;
	while (r->section && (strcmp(kv->section, r->section) != 0 ||
			      strcmp(kv->key, r->key) != 0))
		r++;
	return r;
}

int se_objective_check_values(const mr_objective *o, mr_err *e)
{
	static const char *const expr_sections[] = {
		"features", "targets", "const", "vars", "reward", NULL};
	for (int i = 0; i < o->nkv; i++) {
		const se_kv *kv = &o->kv[i];
		int is_expr = 0;
		for (int k = 0; expr_sections[k]; k++)
			is_expr |= strcmp(kv->section, expr_sections[k]) == 0;
		if (is_expr)
			continue;
		const value_rule *r = rule_of(kv);
		const char *c = kv->value;
		while (*c && (strchr(r->chars, *c) ||
			      (r->blanks && (*c == ' ' || *c == '\t'))))
			c++;
		if (!*c)
			continue;
		char shown[8];
		if (isgraph((unsigned char)*c))
			snprintf(shown, sizeof shown, "'%c'", *c);
		else
			snprintf(shown, sizeof shown, "0x%02x", (unsigned char)*c);
		return mr_errf(e, MR_EXIT_DATA,
			       "%s:%d: [%s] %s: %s: a value handed to pipelines is %s",
			       o->path, kv->line,
			       kv->section[0] ? kv->section : "top", kv->key,
			       shown, r->what);
	}
	return 0;
}
