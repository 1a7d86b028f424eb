/*
 * tc_grid.c - configuration grids: "KEY=VALUES" items, VALUES a comma list
 * of numbers and LO:HI[:STEP] inclusive ranges. Configuration i is a mixed-
 * radix number over the keys (first key slowest), so any subset can be named
 * by index and a sample is a sorted set of indices.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tc.h"

static int num(const char *s, const char **end, double *v)
{
	char *e;
	errno = 0;
	*v = strtod(s, &e);
	*end = e;
	return e != s && !errno && isfinite(*v);
}

static int add_one(tc_grid *g, const char *item, size_t len, mr_err *e)
{
	char buf[1024];
	if (len >= sizeof buf)
		return mr_errf(e, MR_EXIT_USAGE, "grid item too long");
	memcpy(buf, item, len);
	buf[len] = 0;
	char *eq = strchr(buf, '=');
	if (!eq || eq == buf || !eq[1])
		return mr_errf(e, MR_EXIT_USAGE,
			       "grid '%s': expected KEY=VALUES (e.g. p1=0:100:20 "
			       "or max_l1=4,8,12)",
			       buf);
	*eq = 0;
	for (size_t i = 0; i < g->nkeys; i++)
		if (strcmp(g->keys[i], buf) == 0)
			return mr_errf(e, MR_EXIT_USAGE,
				       "grid: key '%s' given twice", buf);
	if (g->nkeys >= TC_MAX_CFG + TC_MAX_STREAMS)
		return mr_errf(e, MR_EXIT_USAGE, "grid: too many keys");
	size_t cap = 16, n = 0;
	double *vals = mr_xcalloc(cap, sizeof(double));
	const char *p = eq + 1;
	while (*p) {
		const char *end;
		double lo, hi, step = 1;
		if (!num(p, &end, &lo))
			goto bad;
		if (*end == ':') {
			if (!num(end + 1, &end, &hi))
				goto bad;
			if (*end == ':' && !num(end + 1, &end, &step))
				goto bad;
			if (!(step > 0) || hi < lo)
				goto bad;
			double cnt = floor((hi - lo) / step + 1e-9) + 1;
			if (cnt > 1e6)
				goto bad;
			for (long k = 0; k < (long)cnt; k++) {
				/* from the index, rounded: 0:1:0.2 gives 0.6,
				 * not 0.6000000000000001 */
				double v = lo + (double)k * step;
				v = round(v * 1e9) / 1e9;
				if (n == cap)
					vals = mr_xrealloc(vals, cap *= 2,
							   sizeof(double));
				vals[n++] = v;
			}
		} else {
			if (n == cap)
				vals = mr_xrealloc(vals, cap *= 2, sizeof(double));
			vals[n++] = lo;
		}
		if (*end == ',')
			end++;
		else if (*end)
			goto bad;
		p = end;
	}
	if (!n)
		goto bad;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (vals[i] == vals[j]) {
				double v = vals[i];
				free(vals);
				return mr_errf(e, MR_EXIT_USAGE,
					       "grid '%s': value %g repeated",
					       buf, v);
			}
	g->keys[g->nkeys] = mr_xstrdup(buf);
	g->vals[g->nkeys] = vals;
	g->nvals[g->nkeys] = n;
	g->nkeys++;
	g->size = 1;
	for (size_t i = 0; i < g->nkeys; i++) {
		if (g->size > UINT64_MAX / g->nvals[i])
			return mr_errf(e, MR_EXIT_USAGE, "grid too large");
		g->size *= g->nvals[i];
	}
	return 0;
bad:
	free(vals);
	return mr_errf(e, MR_EXIT_USAGE,
		       "grid '%s=%s': values must be numbers or LO:HI[:STEP] "
		       "ranges with STEP > 0 and HI >= LO, comma-separated",
		       buf, eq + 1);
}

int tc_grid_add(tc_grid *g, const char *spec, mr_err *e)
{
	const char *p = spec;
	for (;;) {
		const char *semi = strchr(p, ';');
		size_t len = semi ? (size_t)(semi - p) : strlen(p);
		while (len && (*p == ' ' || *p == '\t'))
			p++, len--;
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len && add_one(g, p, len, e) != 0)
			return -1;
		if (!semi)
			break;
		p = semi + 1;
	}
	if (!g->nkeys)
		return mr_errf(e, MR_EXIT_USAGE, "grid '%s': no KEY=VALUES",
			       spec);
	return 0;
}

void tc_grid_point(const tc_grid *g, uint64_t idx, double *out)
{
	for (size_t i = g->nkeys; i-- > 0;) {
		out[i] = g->vals[i][idx % g->nvals[i]];
		idx /= g->nvals[i];
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

uint64_t *tc_grid_order(const tc_grid *g, uint64_t sample, uint64_t seed,
			uint64_t *count, mr_err *e)
{
	uint64_t n = g->size;
	if (!sample || sample >= n) {
		if (n > (1u << 26))
			return mr_errf(e, MR_EXIT_USAGE,
				       "grid has %llu configurations; use "
				       "--sample",
				       (unsigned long long)n),
			       NULL;
		uint64_t *all = mr_xcalloc(n, sizeof *all);
		for (uint64_t i = 0; i < n; i++)
			all[i] = i;
		*count = n;
		return all;
	}
	/* Floyd's algorithm: a uniform sample without replacement, without
	 * a table of all n indices */
	uint64_t *pick = mr_xcalloc(sample, sizeof *pick);
	mr_rng r;
	mr_rng_seed(&r, seed, MR_STREAM_GRID_SAMPLE);
	uint64_t k = 0;
	for (uint64_t j = n - sample; j < n; j++) {
		uint64_t t = mr_rng_below(&r, j + 1);
		int seen = 0;
		for (uint64_t i = 0; i < k; i++)
			if (pick[i] == t) {
				seen = 1;
				break;
			}
		pick[k++] = seen ? j : t;
	}
	qsort(pick, k, sizeof *pick, cmp_u64);
	*count = k;
	return pick;
}

void tc_grid_free(tc_grid *g)
{
	for (size_t i = 0; i < g->nkeys; i++) {
		free(g->keys[i]);
		free(g->vals[i]);
	}
	memset(g, 0, sizeof *g);
}
