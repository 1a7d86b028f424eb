/*
 * loadgrid.c - exact tabulation of a forest over continuous loads.
 *
 * A forest is piecewise constant in every feature: a walk only asks
 * whether x[f] > thr for the thresholds of its splits. Fix every discrete
 * input (parameters, actions) and the features become functions of one
 * load; as the load moves, the prediction (and whether a feature is outside
 * the training range) can change only where some feature crosses one of
 * its thresholds. So each continuous load is cut into intervals at those
 * crossings, the model is tabulated once at a load inside each interval,
 * and a step finds its interval by binary search. That is exact, not an
 * approximation: a load in an interval makes every comparison of every
 * walk come out as at the interval's tabulated load.
 *
 * Crossings are found on the same floating-point expressions the live path
 * evaluates, by bisection over the ordered doubles of the load range (so a
 * breakpoint is the first double at which a comparison changes). This
 * relies on each feature being monotone in its load for fixed discrete
 * inputs (true of the shipped objectives: load, load * window, load *
 * admit); it is checked numerically on a dense sample, and when it fails,
 * or a feature reads two continuous loads, or the table would be too large,
 * the simulator predicts live instead (se_sim.lookup says which).
 *
 * The same holds for discrete levels with training jitter (a level plus a
 * uniform draw): the range is the levels' widened by the jitter.
 *
 * Not done here: loads outside the pattern's range [lo, hi] (noise tails);
 * the caller predicts those live.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simenv_impl.h"

#define MAX_BREAKS (1 << 16)  /* per service */
#define MAX_ASSIGN (1 << 16)  /* discrete inputs of one feature */
#define NSAMPLE 2049          /* monotonicity check points per sweep */

/* Doubles in order as integers (both zeros are 0), and back. */
static int64_t ord_of(double x)
{
	int64_t i;
	memcpy(&i, &x, sizeof i);
	return i < 0 ? INT64_MIN - i : i;
}

static double dbl_of(int64_t k)
{
	int64_t i = k < 0 ? INT64_MIN - k : k;
	double x;
	memcpy(&x, &i, sizeof x);
	return x;
}

/* One feature as a function of one load, other inputs fixed in s->vars. */
typedef struct {
	se_sim *s;
	const se_expr *feat;
	int slot;          /* the load's variable */
	const double *thr; /* ascending */
	size_t nthr;
	double below, above; /* range edges (x < below, x > above), or NaN */
	int bad;             /* a NaN feature value was met */
} sweep_fn;

/* A signature of what the forest sees: thresholds exceeded, plus the
 * range flags. Monotone in the load when the feature is, and it changes
 * whenever anything the forest or the range check sees changes. */
static long sig(sweep_fn *f, double load)
{
	f->s->vars[f->slot] = load;
	double x = se_eval(f->feat, f->s->vars);
	if (isnan(x)) {
		f->bad = 1;
		return 0;
	}
	size_t a = 0, b = f->nthr; /* thresholds < x, i.e. walks going right */
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (f->thr[m] < x)
			a = m + 1;
		else
			b = m;
	}
	return (long)a + (x > f->above) - (x < f->below);
}

typedef struct {
	double *v;
	size_t n, cap;
} dvec;

static int dvec_push(dvec *d, double x)
{
	if (d->n == d->cap) {
		if (d->cap >= (size_t)MAX_BREAKS * 8)
			return -1;
		d->cap = d->cap ? 2 * d->cap : 256;
		d->v = mr_xrealloc(d->v, d->cap, sizeof *d->v);
	}
	d->v[d->n++] = x;
	return 0;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The change points of sig over [lo, hi]: the first doubles where it
 * differs from the double before. Returns -1 on too many. */
static int find_changes(sweep_fn *f, double lo, double hi, dvec *out)
{
	struct { int64_t a, b; long sa, sb; } st[256];
	int sp = 0;
	st[sp].a = ord_of(lo);
	st[sp].b = ord_of(hi);
	st[sp].sa = sig(f, lo);
	st[sp].sb = sig(f, hi);
	sp++;
	while (sp) {
		sp--;
		int64_t a = st[sp].a, b = st[sp].b;
		long sa = st[sp].sa, sb = st[sp].sb;
		if (sa == sb)
			continue;
		if (b - a == 1) {
			if (dvec_push(out, dbl_of(b)) != 0)
				return -1;
			continue;
		}
		int64_t m = a + (int64_t)(((uint64_t)b - (uint64_t)a) / 2);
		long sm = sig(f, dbl_of(m));
		/* depth is at most 64 levels, two entries each */
		st[sp].a = m, st[sp].b = b, st[sp].sa = sm, st[sp].sb = sb;
		sp++;
		st[sp].a = a, st[sp].b = m, st[sp].sa = sa, st[sp].sb = sm;
		sp++;
	}
	return f->bad ? -1 : 0;
}

/* 1 when sig is monotone over a dense sample of [lo, hi] together with
 * the change points found and the doubles just before them. */
static int monotone(sweep_fn *f, double lo, double hi, const double *chg,
		    size_t nchg)
{
	size_t n = NSAMPLE + 2 * nchg;
	double *pts = mr_xcalloc(n, sizeof *pts);
	size_t k = 0;
	for (int i = 0; i < NSAMPLE; i++)
		pts[k++] = i == NSAMPLE - 1 ? hi
					    : lo + (hi - lo) * i / (NSAMPLE - 1);
	for (size_t i = 0; i < nchg; i++) {
		pts[k++] = chg[i];
		pts[k++] = nextafter(chg[i], -INFINITY);
	}
	qsort(pts, n, sizeof *pts, cmp_dbl);
	long first = sig(f, pts[0]), last = sig(f, pts[n - 1]), prev = first;
	int dir = (last > first) - (last < first), ok = 1;
	for (size_t i = 1; i < n && ok; i++) {
		if (pts[i] < lo || pts[i] > hi)
			continue;
		long c = sig(f, pts[i]);
		ok = dir > 0 ? c >= prev : dir < 0 ? c <= prev : c == prev;
		prev = c;
	}
	free(pts);
	return ok && !f->bad;
}

/* The range of loads the pattern produces for service j (jitter: the
 * levels' range widened by it). */
static void load_range(const se_sim *s, int j, double *lo, double *hi)
{
	const se_pattern *p = s->pat;
	if (s->jitter > 0) {
		double l = p->levels[j][0] - s->jitter;
		*lo = l < 0 ? 0 : l;
		*hi = p->levels[j][p->nlevels[j] - 1] + s->jitter;
		return;
	}
	double a = fabs(p->amp[j]);
	double l = p->mean[j] - a, h = p->mean[j] + a;
	if (p->noise[j] > 0) { /* Box-Muller draws stay within 8.6 sigma */
		l -= 9 * p->noise[j];
		h += 9 * p->noise[j];
	}
	*lo = l < p->floor_ ? p->floor_ : l;
	*hi = h < p->floor_ ? p->floor_ : h;
}

void se_intervals_free(se_sim *s)
{
	for (int j = 0; j < MR_MAX_SERVICES; j++) {
		if (s->rep[j] && s->lev[j] == s->rep[j]) {
			s->lev[j] = NULL;
			s->nlev[j] = 0;
		}
		free(s->brk[j]);
		free(s->rep[j]);
		s->brk[j] = s->rep[j] = NULL;
		s->nbrk[j] = 0;
	}
	s->interval_load = 0;
}

int32_t se_interval_of(const se_sim *s, int j, double x)
{
	if (!(x >= s->lo[j] && x <= s->hi[j]))
		return -1;
	const double *b = s->brk[j];
	int32_t a = 0, e = s->nbrk[j]; /* breakpoints <= x */
	while (a < e) {
		int32_t m = a + (e - a) / 2;
		if (b[m] <= x)
			a = m + 1;
		else
			e = m;
	}
	return a;
}

/* Breakpoints of service j's load from feature i over every assignment of
 * the discrete inputs it reads. Returns 0, or -1 with why set. */
static int feature_breaks(se_sim *s, int i, int j, double *thr, size_t nthr,
			  dvec *out, char *why, size_t size)
{
	const mr_objective *o = s->o;
	const se_expr *x = &o->feat[i];
	int pk[SE_MAX_PARAMS], ac[MR_MAX_COMPONENTS], np = 0, na = 0;
	size_t nassign = 1;
	for (int k = 0; k < o->nserv; k++)
		if (k != j && se_uses(x, o->load_slot[k])) {
			snprintf(why, size, "feature %s reads two continuous loads",
				 o->feat_name[i]);
			return -1;
		}
	for (int k = 0; k < o->nparam; k++)
		if (se_uses(x, o->param[k].slot)) {
			pk[np++] = k;
			nassign *= (size_t)o->param[k].nlevels;
		}
	for (int c = 0; c < o->nact; c++)
		if (se_uses(x, o->act[c].slot)) {
			ac[na++] = c;
			nassign *= (size_t)o->act[c].nvalues;
		}
	if (nassign > MAX_ASSIGN) {
		snprintf(why, size, "feature %s reads too many discrete combinations",
			 o->feat_name[i]);
		return -1;
	}
	sweep_fn f = {.s = s, .feat = x, .slot = o->load_slot[j], .thr = thr,
		      .nthr = nthr, .below = NAN, .above = NAN};
	if (s->model.has_range)
		se_range_edges(s, i, &f.below, &f.above);
	for (size_t a = 0; a < nassign; a++) {
		size_t q = a;
		for (int k = na - 1; k >= 0; k--) {
			const se_action *act = &o->act[ac[k]];
			s->vars[act->slot] = act->values[q % (size_t)act->nvalues];
			q /= (size_t)act->nvalues;
		}
		for (int k = np - 1; k >= 0; k--) {
			const se_param *p = &o->param[pk[k]];
			s->vars[p->slot] = p->levels[q % (size_t)p->nlevels];
			q /= (size_t)p->nlevels;
		}
		size_t n0 = out->n;
		if (find_changes(&f, s->lo[j], s->hi[j], out) != 0) {
			snprintf(why, size, f.bad ? "feature %s is not a number somewhere in the load range"
						  : "too many breakpoints in feature %s",
				 o->feat_name[i]);
			return -1;
		}
		if (!monotone(&f, s->lo[j], s->hi[j], out->v + n0, out->n - n0)) {
			snprintf(why, size, "feature %s is not monotone in load%d",
				 o->feat_name[i], j + 1);
			return -1;
		}
	}
	return 0;
}

int se_intervals_build(se_sim *s, char *why, size_t size)
{
	const mr_objective *o = s->o;
	if (s->pat->kind != SE_PAT_SIN && !(s->jitter > 0)) {
		snprintf(why, size, "the load is discrete");
		return 0;
	}
	if (!s->model.thresholds) {
		snprintf(why, size, "the model does not expose its split points");
		return 0;
	}
	size_t cap = 0;
	for (int i = 0; i < o->nfeat; i++) {
		size_t n = s->model.thresholds(&s->model, i, NULL, 0);
		cap = n > cap ? n : cap;
	}
	double *thr = mr_xcalloc(cap ? cap : 1, sizeof *thr);
	dvec d = {0};
	int ok = 1;
	for (int j = 0; j < o->nserv && ok; j++) {
		load_range(s, j, &s->lo[j], &s->hi[j]);
		d.n = 0;
		int used = 0;
		for (int i = 0; i < o->nfeat && ok; i++) {
			if (!se_uses(&o->feat[i], o->load_slot[j]))
				continue;
			used = 1;
			size_t n = s->model.thresholds(&s->model, i, thr, cap);
			ok = feature_breaks(s, i, j, thr, n, &d, why, size) == 0;
		}
		if (!ok)
			break;
		qsort(d.v, d.n, sizeof *d.v, cmp_dbl);
		size_t u = 0;
		for (size_t k = 0; k < d.n; k++)
			if (u == 0 || d.v[k] != d.v[u - 1])
				d.v[u++] = d.v[k];
		if (u > MAX_BREAKS) {
			snprintf(why, size, "load%d has more than %d breakpoints",
				 j + 1, MAX_BREAKS);
			ok = 0;
			break;
		}
		/* an unread load is one interval: lidx 0 whatever its value */
		s->nbrk[j] = used ? (int)u : 0;
		s->brk[j] = mr_xcalloc(u + 1, sizeof *s->brk[j]);
		s->rep[j] = mr_xcalloc(u + 1, sizeof *s->rep[j]);
		if (used)
			memcpy(s->brk[j], d.v, u * sizeof *d.v);
		s->rep[j][0] = s->lo[j];
		for (size_t k = 0; k < (size_t)s->nbrk[j]; k++)
			s->rep[j][k + 1] = s->brk[j][k];
		if (!used) {
			s->lo[j] = -INFINITY;
			s->hi[j] = INFINITY;
		}
		s->nlev[j] = s->nbrk[j] + 1;
		s->lev[j] = s->rep[j];
	}
	free(d.v);
	free(thr);
	if (!ok) {
		se_intervals_free(s);
		return 0;
	}
	s->interval_load = 1;
	return 1;
}
