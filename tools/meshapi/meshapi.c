/*
 * meshapi.c - names, configuration keys and flat JSON of the mesh's control
 * API (meshapi.h).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
