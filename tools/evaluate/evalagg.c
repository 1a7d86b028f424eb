/* evalagg.c - aggregation of many runs' summary.csv files (one per
 * objective and seed) into one table: per objective, load pattern and
 * policy, the mean and Student-t 95% interval across runs of the normalised
 * score, the bound-met shares and the mean reward.
 *
 * Reads only the summary format policy-eval writes (no quoting; empty field
 * = undefined figure), so it splits lines itself instead of using the
 * strict numeric CSV reader, which refuses text and empty fields. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"

/* The cost figure is mean_cost, which every summary has (mean_cores only
 * where an action sets cores). */
enum { F_OBJ, F_PAT, F_SEED, F_POL, F_SCORE, F_BOUND, F_BOPT, F_REWARD,
       F_COST, NF };
static const char *const fname[NF] = {
	"objective", "pattern", "seed", "policy", "norm_score",
	"bound_met_pct", "bound_met_where_opt_pct", "mean_reward",
	"mean_cost"};
#define NMETRIC 5 /* F_SCORE.. */

typedef struct {
	char *obj, *pat, *pol;
	long nruns;
	char **seeds;
	double *x[NMETRIC]; /* per run; NaN = undefined */
} group;

typedef struct {
	group *g;
	int n;
} groups;

static group *find_group(groups *gs, const char *obj, const char *pat,
			 const char *pol)
{
	for (int i = 0; i < gs->n; i++)
		if (!strcmp(gs->g[i].obj, obj) && !strcmp(gs->g[i].pat, pat) &&
		    !strcmp(gs->g[i].pol, pol))
			return &gs->g[i];
	gs->g = mr_xrealloc(gs->g, (size_t)gs->n + 1, sizeof *gs->g);
	group *g = &gs->g[gs->n++];
	memset(g, 0, sizeof *g);
	g->obj = mr_xstrdup(obj);
	g->pat = mr_xstrdup(pat);
	g->pol = mr_xstrdup(pol);
	return g;
}

static void groups_free(groups *gs)
{
	for (int i = 0; i < gs->n; i++) {
		group *g = &gs->g[i];
		free(g->obj);
		free(g->pat);
		free(g->pol);
		for (long r = 0; r < g->nruns; r++)
			free(g->seeds[r]);
		free(g->seeds);
		for (int m = 0; m < NMETRIC; m++)
			free(g->x[m]);
	}
	free(gs->g);
}

/* Splits line in place at commas into at most max fields. */
static int split(char *line, char **f, int max)
{
	int n = 0;
	for (char *p = line;; p++) {
		if (n < max)
			f[n] = p;
		n++;
		p = strchr(p, ',');
		if (!p)
			break;
		*p = 0;
	}
	return n;
}

static int read_one(const char *path, groups *gs, mr_err *e)
{
	char *buf;
	size_t len;
	if (mr_read_file(path, &buf, &len, 0, e) != 0)
		return -1;
	int rc = -1, col[NF], nhdr = 0;
	char *save = NULL, *f[64];
	size_t lineno = 0;
	for (char *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		size_t l = strlen(line);
		if (l && line[l - 1] == '\r')
			line[l - 1] = 0;
		int n = split(line, f, 64);
		if (n > 64) {
			mr_errf(e, MR_EXIT_DATA, "%s:%zu: too many fields", path,
				lineno);
			goto out;
		}
		if (lineno == 1) {
			nhdr = n;
			for (int k = 0; k < NF; k++) {
				col[k] = -1;
				for (int j = 0; j < n; j++)
					if (!strcmp(f[j], fname[k]))
						col[k] = j;
				if (col[k] < 0) {
					mr_errf(e, MR_EXIT_DATA,
						"%s:1: column '%s' missing (not "
						"a policy-eval summary?)",
						path, fname[k]);
					goto out;
				}
			}
			continue;
		}
		if (n != nhdr) {
			mr_errf(e, MR_EXIT_DATA, "%s:%zu: %d fields, header has %d",
				path, lineno, n, nhdr);
			goto out;
		}
		double v[NMETRIC];
		for (int m = 0; m < NMETRIC; m++) {
			const char *s = f[col[F_SCORE + m]];
			char *end;
			errno = 0;
			v[m] = *s ? strtod(s, &end) : NAN;
			if (*s && (*end || errno || !isfinite(v[m]))) {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%zu: column '%s': '%s' is not a "
					"number", path, lineno,
					fname[F_SCORE + m], s);
				goto out;
			}
		}
		group *g = find_group(gs, f[col[F_OBJ]], f[col[F_PAT]],
				      f[col[F_POL]]);
		for (long r = 0; r < g->nruns; r++)
			if (!strcmp(g->seeds[r], f[col[F_SEED]])) {
				mr_errf(e, MR_EXIT_DATA,
					"%s:%zu: objective %s, pattern %s, "
					"policy %s, seed %s seen twice", path,
					lineno, g->obj, g->pat, g->pol,
					g->seeds[r]);
				goto out;
			}
		size_t nr = (size_t)g->nruns + 1;
		g->seeds = mr_xrealloc(g->seeds, nr, sizeof *g->seeds);
		g->seeds[g->nruns] = mr_xstrdup(f[col[F_SEED]]);
		for (int m = 0; m < NMETRIC; m++) {
			g->x[m] = mr_xrealloc(g->x[m], nr, sizeof *g->x[m]);
			g->x[m][g->nruns] = v[m];
		}
		g->nruns++;
	}
	if (lineno == 0)
		mr_errf(e, MR_EXIT_DATA, "%s: empty file", path);
	else
		rc = 0;
out:
	free(buf);
	return rc;
}

/* The range of each metric (F_SCORE..): an interval is clipped to it. */
static const double range_lo[NMETRIC] = {-INFINITY, 0, 0, -INFINITY,
					 -INFINITY};
static const double range_hi[NMETRIC] = {INFINITY, 100, 100, INFINITY,
					 INFINITY};

/* Mean and half-width of the interval over the defined values (k of
 * them); NaN when none. */
static long stat_of(const double *x, long n, double *m, double *h)
{
	double *d = mr_xcalloc((size_t)n + 1, sizeof *d);
	long k = 0;
	for (long i = 0; i < n; i++)
		if (isfinite(x[i]))
			d[k++] = x[i];
	mr_mean_ci(d, k, m, h);
	free(d);
	return k;
}

/* Two fields: a and b, or empty when undefined. */
static void put_pair(FILE *f, long k, double a, double b)
{
	char x[32], y[32];
	if (k)
		fprintf(f, ",%s,%s", mr_fmt_double(x, a), mr_fmt_double(y, b));
	else
		fputs(",,", f);
}

/* A group's row: per metric its mean and the interval's half-width, then
 * per metric the interval's ends clipped to the metric's range (a t
 * interval over 2 runs may reach 222 % either side of a share). */
static void put_group(FILE *f, const group *g)
{
	double m[NMETRIC], h[NMETRIC];
	long k[NMETRIC];
	fprintf(f, "%s,%s,%s,%ld", g->obj, g->pat, g->pol, g->nruns);
	for (int j = 0; j < NMETRIC; j++) {
		k[j] = stat_of(g->x[j], g->nruns, &m[j], &h[j]);
		put_pair(f, k[j], m[j], h[j]);
	}
	for (int j = 0; j < NMETRIC; j++)
		put_pair(f, k[j], fmax(m[j] - h[j], range_lo[j]),
			 fmin(m[j] + h[j], range_hi[j]));
	fputc('\n', f);
}

int mr_eval_aggregate(const char *const *paths, int npaths,
		      const char *out_path, mr_err *e)
{
	groups gs = {0};
	int rc = -1;
	for (int i = 0; i < npaths; i++)
		if (read_one(paths[i], &gs, e) != 0)
			goto out;
	mr_out o;
	if (mr_out_open(&o, out_path, e) != 0)
		goto out;
	fprintf(o.f, "objective,pattern,policy,runs");
	for (int m = 0; m < NMETRIC; m++)
		fprintf(o.f, ",%s_mean,%s_ci95", fname[F_SCORE + m],
			fname[F_SCORE + m]);
	for (int m = 0; m < NMETRIC; m++)
		fprintf(o.f, ",%s_lo,%s_hi", fname[F_SCORE + m],
			fname[F_SCORE + m]);
	fputc('\n', o.f);
	for (int i = 0; i < gs.n; i++)
		put_group(o.f, &gs.g[i]);
	if (mr_out_commit(&o, e) != 0) {
		mr_out_abort(&o);
		goto out;
	}
	rc = 0;
out:
	groups_free(&gs);
	return rc;
}
