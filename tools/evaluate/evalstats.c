/* evalstats.c - means with Student-t 95% intervals, run summaries and the
 * summary CSV. Does not know about environments or controllers. */
#include <math.h>
#include <string.h>

#include "evaluate.h"

/* t(0.975, df) for df = 1..30; beyond, a Cornish-Fisher expansion around
 * the normal quantile is accurate to better than 1e-4. */
static const double t975_table[30] = {
	12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060,
	2.2622, 2.2281, 2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199,
	2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639,
	2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423};

double mr_t975(long df)
{
	if (df < 1)
		return NAN;
	if (df <= 30)
		return t975_table[df - 1];
	const double z = 1.959963984540054;
	double z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
	double n = (double)df;
	return z + (z3 + z) / (4 * n) + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n) +
	       (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * n * n * n);
}

void mr_mean_sd_ci(const double *x, long n, double *mean, double *sd,
		   double *half)
{
	*mean = NAN;
	*sd = NAN;
	*half = NAN;
	if (n < 1)
		return;
	double s = 0;
	for (long i = 0; i < n; i++)
		s += x[i];
	double m = s / (double)n;
	*mean = m;
	if (n < 2) {
		*sd = 0;
		*half = 0;
		return;
	}
	double ss = 0;
	for (long i = 0; i < n; i++)
		ss += (x[i] - m) * (x[i] - m);
	*sd = sqrt(ss / (double)(n - 1));
	*half = mr_t975(n - 1) * *sd / sqrt((double)n);
}

void mr_mean_ci(const double *x, long n, double *mean, double *half)
{
	double sd;
	mr_mean_sd_ci(x, n, mean, &sd, half);
}

double mr_norm_score(double r, double r_opt, double r_random)
{
	double span = r_opt - r_random;
	return span > 1e-12 ? (r - r_random) / span : NAN;
}

/* The served-share rule's figures: mean share served (of the service
 * that dropped most) and the % of steps below min_served. */
static void summarise_drops(const mr_steps *s, mr_summary *out)
{
	double dropped = 0;
	long shorts = 0;
	for (long t = 0; t < s->n; t++) {
		dropped += s->dropped[t];
		shorts += s->served_short[t];
	}
	double n = s->n ? (double)s->n : NAN;
	out->mean_served = 1 - dropped / n;
	out->served_short_pct = 100.0 * (double)shorts / n;
}

void mr_summarise(const mr_steps *s, const char *policy, double r_opt,
		  double r_random, const mr_steps *opt, mr_summary *out)
{
	memset(out, 0, sizeof *out);
	snprintf(out->policy, sizeof out->policy, "%s", policy);
	out->steps = s->n;
	mr_mean_ci(s->reward, s->n, &out->mean_reward, &out->ci95);
	out->norm_score = mr_norm_score(out->mean_reward, r_opt, r_random);
	long met = 0, optmet = 0, both = 0;
	size_t ns = (size_t)s->n;
	/* compensated sums: a sine's loads around 8 average to 8 */
	double cores = mr_sum(s->cores, ns), cost = mr_sum(s->cost, ns);
	double carried = mr_sum(s->carried, ns), load = mr_sum(s->load, ns);
	for (long t = 0; t < s->n; t++) {
		met += s->bound_met[t];
		if (opt && t < opt->n && opt->bound_met[t]) {
			optmet++;
			both += s->bound_met[t];
		}
	}
	double n = s->n ? (double)s->n : NAN;
	out->bound_met_pct = 100.0 * (double)met / n;
	out->bound_opt_pct = optmet ? 100.0 * (double)both / (double)optmet : NAN;
	out->mean_cores = cores / n; /* NaN propagates when cores unknown */
	out->mean_cost = cost / n;
	out->mean_carried = carried / n;
	out->mean_load = load / n;
	out->episodes = 1;
	out->episode_reward_ci95 = out->norm_score_ci95 = NAN;
	summarise_drops(s, out);
}

void mr_summarise_episodes(const mr_steps *s, const char *policy, int n,
			   const double *r_opt, const double *r_random,
			   const mr_steps *opt, mr_summary *out)
{
	mr_summarise(s, policy, r_opt[0], r_random[0], opt, out);
	if (n < 2 || !s->episode)
		return;
	double *mean = mr_xcalloc((size_t)n, sizeof *mean);
	double *score = mr_xcalloc((size_t)n, sizeof *score);
	long *count = mr_xcalloc((size_t)n, sizeof *count);
	for (long t = 0; t < s->n; t++) {
		int k = s->episode[t];
		if (k >= 0 && k < n) {
			mean[k] += s->reward[t];
			count[k]++;
		}
	}
	for (int k = 0; k < n; k++) {
		mean[k] = count[k] ? mean[k] / (double)count[k] : NAN;
		score[k] = mr_norm_score(mean[k], r_opt[k], r_random[k]);
	}
	double m, h;
	out->episodes = n;
	mr_mean_ci(mean, n, &m, &out->episode_reward_ci95);
	mr_mean_ci(score, n, &out->norm_score, &h);
	out->norm_score_ci95 = h;
	free(mean);
	free(score);
	free(count);
}

int mr_summary_write(const char *path, const char *objective,
		     const char *pattern, uint64_t seed,
		     const mr_summary *rows, int n, mr_err *e)
{
	mr_out o;
	if (mr_out_open(&o, path, e) != 0)
		return -1;
	FILE *f = o.f;
	/* mean_cores only where an action sets cores: a column no row can
	 * fill would be empty fields (mean_cost is always there) */
	int has_cores = 0;
	for (int i = 0; i < n; i++)
		has_cores |= isfinite(rows[i].mean_cores);
	fprintf(f, "objective,pattern,seed,policy,steps,mean_reward,ci95,norm_score,"
		   "bound_met_pct,bound_met_where_opt_pct,%smean_cost,"
		   "mean_carried,mean_load,episodes,episode_reward_ci95,"
		   "norm_score_ci95,mean_served,served_short_pct\n",
		   has_cores ? "mean_cores," : "");
	for (int i = 0; i < n; i++) {
		const mr_summary *r = &rows[i];
		fprintf(f, "%s,%s,%llu,%s,%ld", objective, pattern,
			(unsigned long long)seed, r->policy, r->steps);
		mr_csv_put(f, ",", r->mean_reward);
		mr_csv_put(f, ",", r->ci95);
		mr_csv_put(f, ",", r->norm_score);
		mr_csv_put(f, ",", r->bound_met_pct);
		mr_csv_put(f, ",", r->bound_opt_pct);
		if (has_cores)
			mr_csv_put(f, ",", r->mean_cores);
		mr_csv_put(f, ",", r->mean_cost);
		mr_csv_put(f, ",", r->mean_carried);
		mr_csv_put(f, ",", r->mean_load);
		fprintf(f, ",%d", r->episodes > 0 ? r->episodes : 1);
		mr_csv_put(f, ",", r->episode_reward_ci95);
		mr_csv_put(f, ",", r->norm_score_ci95);
		mr_csv_put(f, ",", r->mean_served);
		mr_csv_put(f, ",", r->served_short_pct);
		fputc('\n', f);
	}
	if (mr_out_commit(&o, e) != 0) {
		mr_out_abort(&o);
		return -1;
	}
	return 0;
}
