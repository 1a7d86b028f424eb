/*
 * meshapi.c - names, configuration keys and flat JSON of the mesh's control
 * API (meshapi.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meshapi.h"

const char *const mesh_service_names[MESH_NSERVICES] = {"compute", "info1",
							"info2"};
const char *const mesh_class_names[MESH_NCLASSES] = {"premium", "freemium"};
const char *const mesh_node_names[MESH_NNODES] = {"node1", "node2"};

static int find_name(const char *const *names, int n, const char *s,
		     size_t len)
{
	for (int i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return i;
	return -1;
}

int mesh_service_index(const char *s, size_t len)
{
	return find_name(mesh_service_names, MESH_NSERVICES, s, len);
}
int mesh_class_index(const char *s, size_t len)
{
	return find_name(mesh_class_names, MESH_NCLASSES, s, len);
}
int mesh_node_index(const char *s, size_t len)
{
	return find_name(mesh_node_names, MESH_NNODES, s, len);
}

/* ------------------------------------------------------------------------
 * Flat JSON
 */
static size_t skip_ws(const char *t, size_t len, size_t i)
{
	while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' ||
			   t[i] == '\r'))
		i++;
	return i;
}

int mesh_flatjson_parse(const char *t, size_t len, mesh_kv *out,
			size_t max, mr_err *e)
{
	size_t i = skip_ws(t, len, 0), n = 0;
	if (i >= len || t[i] != '{')
		return mr_errf(e, MR_EXIT_DATA,
			       "byte %zu: expected '{' (a flat JSON object)", i);
	i = skip_ws(t, len, i + 1);
	if (i < len && t[i] == '}')
		goto end;
	for (;;) {
		if (i >= len || t[i] != '"')
			return mr_errf(e, MR_EXIT_DATA,
				       "byte %zu: expected a quoted key", i);
		size_t k0 = ++i;
		while (i < len && t[i] != '"') {
			if (t[i] == '\\' || (unsigned char)t[i] < 0x20)
				return mr_errf(e, MR_EXIT_DATA,
					       "byte %zu: escapes and control "
					       "characters are not allowed in keys",
					       i);
			i++;
		}
		if (i >= len)
			return mr_errf(e, MR_EXIT_DATA,
				       "byte %zu: unterminated key", k0);
		size_t klen = i - k0;
		if (klen == 0 || klen >= sizeof out[0].key)
			return mr_errf(e, MR_EXIT_DATA,
				       "byte %zu: key empty or longer than %zu",
				       k0, sizeof out[0].key - 1);
		if (n >= max)
			return mr_errf(e, MR_EXIT_DATA,
				       "more than %zu keys", max);
		memcpy(out[n].key, t + k0, klen);
		out[n].key[klen] = 0;
		i = skip_ws(t, len, i + 1);
		if (i >= len || t[i] != ':')
			return mr_errf(e, MR_EXIT_DATA,
				       "byte %zu: expected ':' after \"%s\"", i,
				       out[n].key);
		i = skip_ws(t, len, i + 1);
		out[n].str[0] = 0;
		if (i < len && t[i] == '"') {
			size_t v0 = ++i;
			while (i < len && t[i] != '"' && t[i] != '\\' &&
			       (unsigned char)t[i] >= 0x20)
				i++;
			if (i >= len || t[i] != '"' ||
			    i - v0 >= sizeof out[n].str)
				return mr_errf(e, MR_EXIT_DATA,
					       "byte %zu: \"%s\": bad string "
					       "value (no escapes, at most %zu "
					       "bytes)",
					       v0, out[n].key,
					       sizeof out[n].str - 1);
			memcpy(out[n].str, t + v0, i - v0);
			out[n].str[i - v0] = 0;
			out[n].val = NAN;
			i++;
		} else if (len - i >= 4 && memcmp(t + i, "true", 4) == 0) {
			out[n].val = 1, i += 4;
		} else if (len - i >= 5 && memcmp(t + i, "false", 5) == 0) {
			out[n].val = 0, i += 5;
		} else {
			/* strtod needs a terminated string: copy the token. */
			char num[64];
			size_t j = 0;
			while (i + j < len && j < sizeof num - 1 &&
			       strchr("+-0123456789.eE", t[i + j]))
				j++;
			memcpy(num, t + i, j);
			num[j] = 0;
			char *end;
			errno = 0;
			double v = j ? strtod(num, &end) : 0;
			if (!j || *end || errno || !isfinite(v))
				return mr_errf(e, MR_EXIT_DATA,
					       "byte %zu: \"%s\": expected a "
					       "finite number or true/false",
					       i, out[n].key);
			out[n].val = v;
			i += j;
		}
		n++;
		i = skip_ws(t, len, i);
		if (i < len && t[i] == ',') {
			i = skip_ws(t, len, i + 1);
			continue;
		}
		if (i < len && t[i] == '}')
			break;
		return mr_errf(e, MR_EXIT_DATA, "byte %zu: expected ',' or '}'",
			       i);
	}
end:
	i = skip_ws(t, len, i + 1);
	if (i != len)
		return mr_errf(e, MR_EXIT_DATA,
			       "byte %zu: text after the object", i);
	return (int)n;
}

/* ------------------------------------------------------------------------
 * Configuration keys
 */
int mesh_key_parse(const char *key, mesh_key *k, mr_err *e)
{
	static const char *const kinds[] = {"weight", "rate",    "block",
					    "units",  "slow",    "stopped",
					    "timeout", "burst"};
	const char *d1 = strchr(key, '.');
	size_t l0 = d1 ? (size_t)(d1 - key) : strlen(key);
	k->svc = k->cls = k->node = -1;
	int kind = -1;
	for (int i = 0; i < 8; i++)
		if (strlen(kinds[i]) == l0 && memcmp(kinds[i], key, l0) == 0)
			kind = i;
	if (kind < 0)
		goto bad;
	k->kind = (mesh_key_kind)kind;
	const char *p1 = d1 ? d1 + 1 : NULL;
	const char *d2 = p1 ? strchr(p1, '.') : NULL;
	size_t l1 = p1 ? (d2 ? (size_t)(d2 - p1) : strlen(p1)) : 0;
	const char *p2 = d2 ? d2 + 1 : NULL;
	switch (k->kind) {
	case MESH_K_TIMEOUT:
	case MESH_K_BURST:
		if (p1)
			goto bad;
		return 0;
	case MESH_K_UNITS:
	case MESH_K_SLOW:
	case MESH_K_STOPPED:
		if (!p1 || p2 || (k->node = mesh_node_index(p1, l1)) < 0)
			goto bad;
		return 0;
	case MESH_K_BLOCK:
		if (!p1 || p2 || (k->svc = mesh_service_index(p1, l1)) < 0)
			goto bad;
		return 0;
	case MESH_K_WEIGHT:
	case MESH_K_RATE:
		if (!p1 || (k->svc = mesh_service_index(p1, l1)) < 0)
			goto bad;
		if (p2 && (k->cls = mesh_class_index(p2, strlen(p2))) < 0)
			goto bad;
		return 0;
	}
bad:
	return mr_errf(e, MR_EXIT_DATA,
		       "unknown key '%s' (weight.SVC[.CLASS], rate.SVC[.CLASS], "
		       "block.SVC, units.NODE, slow.NODE, stopped.NODE, "
		       "timeout, burst; SVC compute|info1|info2, CLASS "
		       "premium|freemium, NODE node1|node2)",
		       key);
}

int mesh_key_check(const mesh_key *k, const char *key, double v, mr_err *e)
{
	int ok = isfinite(v);
	if (ok)
		switch (k->kind) {
	case MESH_K_WEIGHT: ok = v >= 0 && v <= 100; break;
	case MESH_K_RATE: ok = v >= 0 || v == -1; break;
	case MESH_K_BLOCK: ok = v >= 0 && v <= 1; break;
	case MESH_K_UNITS: ok = v > 0 && v <= 1000; break;
	case MESH_K_SLOW: ok = v >= 1 && v <= 1000; break;
	case MESH_K_STOPPED: ok = v == 0 || v == 1; break;
	case MESH_K_TIMEOUT: ok = v > 0 && v <= 3600; break;
	case MESH_K_BURST: ok = v > 0 && v <= 3600; break;
	}
	if (!ok)
		return mr_errf(e, MR_EXIT_DATA,
			       "'%s': value %.17g out of range (weight 0..100, "
			       "rate >= 0 or -1 for no limit, block 0..1, "
			       "units 0..1000, slow 1..1000, stopped 0|1, "
			       "timeout and burst 0..3600 s)",
			       key, v);
	return 0;
}


/* ------------------------------------------------------------------------
 * Trace schemas
 */
enum { COMPUTE, INFO1, INFO2 };      /* mesh_service_names order */
enum { PREMIUM, FREEMIUM, ANY = -1 }; /* mesh_class_names order */

static const mesh_schema schemas[] = {
	{.name = "compute", .nloads = 1, .nactions = 3,
	 .loads = {{"max_l1", COMPUTE, ANY}},
	 .actions = {
		{"p1", "weight.compute", "weight.compute.premium", 1, 0, 0},
		{"b1", "rate.compute", NULL, 1, 0, 1},
		{"c1", "units.node1", NULL, 1, 0, 0},
	 }},
	{.name = "info2", .nloads = 2, .nactions = 6,
	 .loads = {{"max_l1", INFO1, ANY}, {"max_l2", INFO2, ANY}},
	 .actions = {
		{"p11", "weight.info1", "weight.info1.premium", 100, 0, 0},
		{"p21", "weight.info2", "weight.info2.premium", 100, 1, 0},
		{"b1", "block.info1", NULL, 1, 0, 0},
		{"b2", "block.info2", NULL, 1, 1, 0},
		{"c1", "units.node1", NULL, 1, 0, 0},
		{"c2", "units.node2", NULL, 1, 1, 0},
	 }},
	{.name = "classes", .nloads = 2, .nactions = 4,
	 .loads = {{"max_l1p", COMPUTE, PREMIUM},
		   {"max_l1f", COMPUTE, FREEMIUM}},
	 .actions = {
		{"p1p", "weight.compute.premium", NULL, 1, 0, 0},
		{"p1f", "weight.compute.freemium", NULL, 1, 1, 0},
		{"b1f", "rate.compute.freemium", NULL, 1, 1, 1},
		{"c1", "units.node1", NULL, 1, 0, 0},
	 }},
	{.name = "generic"},
};

const mesh_schema *mesh_schema_get(const char *name, mr_err *e)
{
	for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++)
		if (strcmp(schemas[i].name, name) == 0)
			return &schemas[i];
	return mr_errf(e, MR_EXIT_USAGE, "unknown schema '%s' (%s)", name,
		       MESH_SCHEMA_NAMES),
	       NULL;
}

const mesh_action_col *mesh_schema_action(const mesh_schema *s,
					  const char *col)
{
	for (size_t i = 0; i < s->nactions; i++)
		if (strcmp(s->actions[i].col, col) == 0)
			return &s->actions[i];
	return NULL;
}

int mesh_schema_load(const mesh_schema *s, const char *col)
{
	for (size_t i = 0; i < s->nloads; i++)
		if (strcmp(s->loads[i].col, col) == 0)
			return (int)i;
	return -1;
}

/* ------------------------------------------------------------------------
 * The control API's credential and the env file
 */
int mesh_secret_new(char out[MESH_SECRET_LEN + 1], mr_err *e)
{
	unsigned char raw[MESH_SECRET_LEN / 2];
	size_t got = 0;
	while (got < sizeof raw) {
		ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return mr_errf(e, MR_EXIT_IO, "getrandom: %s",
				       n < 0 ? strerror(errno) : "no bytes");
		got += (size_t)n;
	}
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof raw; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[MESH_SECRET_LEN] = 0;
	return 0;
}

int mesh_secret_equal(const char *got, size_t len, const char *want)
{
	size_t wlen = strlen(want);
	/* every byte of want is looked at whatever got holds */
	unsigned char diff = len != wlen;
	for (size_t i = 0; i < wlen; i++)
		diff |= (unsigned char)(want[i] ^ (i < len ? got[i] : 0));
	return diff == 0 && wlen > 0;
}

int mesh_secret_check(const char *s, const char *what, mr_err *e)
{
	size_t n = strlen(s);
	if (n == 0 || n > MESH_SECRET_MAX)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s: a secret of 1..%d characters expected", what,
			       MESH_SECRET_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("-._~+/=", c)))
			return mr_errf(e, MR_EXIT_DATA,
				       "%s: character %zu of the secret is not "
				       "one of A-Z a-z 0-9 - . _ ~ + / =",
				       what, i + 1);
	}
	return 0;
}

/* One "KEY=VALUE" line of an env file into env; 0 or -1. */
static int env_line(char *line, const char *path, size_t lineno,
		    mesh_env *env, mr_err *e)
{
	char *eq = strchr(line, '=');
	if (!eq)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s:%zu: expected KEY=VALUE", path, lineno);
	*eq = 0;
	char *val = eq + 1;
	size_t vlen = strlen(val);
	if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
		val[vlen - 1] = 0;
		val++;
		vlen -= 2;
	}
	char *dst = NULL;
	size_t cap = 0;
	if (strcmp(line, "TB_URL") == 0)
		dst = env->url, cap = sizeof env->url;
	else if (strcmp(line, "TB_CONTROL") == 0)
		dst = env->control, cap = sizeof env->control;
	else if (strcmp(line, "TB_SECRET") == 0)
		dst = env->secret, cap = sizeof env->secret;
	if (!dst)
		return 0;
	if (vlen >= cap)
		return mr_errf(e, MR_EXIT_DATA, "%s:%zu: %s: value too long",
			       path, lineno, line);
	memcpy(dst, val, vlen + 1);
	if (dst == env->secret) {
		char what[512];
		snprintf(what, sizeof what, "%s:%zu: TB_SECRET", path, lineno);
		return mesh_secret_check(env->secret, what, e);
	}
	return 0;
}

int mesh_env_read(const char *path, mesh_env *env, mr_err *e)
{
	memset(env, 0, sizeof *env);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mr_errf(e, MR_EXIT_IO, "%s: cannot open: %s", path,
			       strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int err = errno;
		close(fd);
		return mr_errf(e, MR_EXIT_IO, "%s: %s", path, strerror(err));
	}
	if (st.st_mode & 077) {
		close(fd);
		return mr_errf(e, MR_EXIT_DATA,
			       "%s: readable by others (mode %03o); it holds "
			       "the control secret: chmod 600 it",
			       path, (unsigned)(st.st_mode & 0777));
	}
	FILE *f = fdopen(fd, "r");
	if (!f) {
		int err = errno;
		close(fd);
		return mr_errf(e, MR_EXIT_IO, "%s: %s", path, strerror(err));
	}
	char line[1024];
	size_t lineno = 0;
	int rc = 0;
	while (rc == 0 && fgets(line, sizeof line, f)) {
		lineno++;
		size_t n = strlen(line);
		if (n == sizeof line - 1 && line[n - 1] != '\n') {
			rc = mr_errf(e, MR_EXIT_DATA, "%s:%zu: line too long",
				     path, lineno);
			break;
		}
		line[strcspn(line, "\r\n")] = 0;
		if (!line[0] || line[0] == '#' ||
		    strncmp(line, "export ", 7) == 0)
			continue;
		rc = env_line(line, path, lineno, env, e);
	}
	if (rc == 0 && ferror(f))
		rc = mr_errf(e, MR_EXIT_IO, "%s: read error", path);
	fclose(f);
	return rc;
}
