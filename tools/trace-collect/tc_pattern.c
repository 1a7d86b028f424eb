/*
 * tc_pattern.c - load patterns: constant rate, Poisson, Poisson modulated
 * by l0 + A sin(2 pi t / T) (by thinning), and a rate per step from a file
 * (Poisson within each step). Also the "SERVICE[:CLASS]=PATTERN" stream
 * spec. Arrivals are produced one at a time, as they are needed.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tc.h"

static int parse_num(const char *s, const char **end, double *v)
{
	char *e;
	errno = 0;
	*v = strtod(s, &e);
	*end = e;
	return e != s && !errno && isfinite(*v);
}

static int read_steps(const char *path, tc_pattern *p, mr_err *e)
{
	char *buf = NULL;
	size_t len = 0;
	if (mr_read_file(path, &buf, &len, 64u << 20, e) != 0)
		return -1;
	size_t cap = 64;
	p->steps = mr_xcalloc(cap, sizeof(double));
	char *save = NULL;
	for (char *ln = strtok_r(buf, "\n", &save); ln;
	     ln = strtok_r(NULL, "\n", &save)) {
		/* strtok skips empty lines: count line ends before ln for
		 * the message's line number */
		size_t real = 1;
		for (char *q = buf; q < ln; q++)
			real += *q == 0 || *q == '\n';
		while (*ln == ' ' || *ln == '\t')
			ln++;
		size_t l = strlen(ln);
		while (l && (ln[l - 1] == '\r' || ln[l - 1] == ' '))
			ln[--l] = 0;
		if (!*ln || *ln == '#')
			continue;
		const char *end;
		double v;
		if (!parse_num(ln, &end, &v) || *end || v < 0) {
			mr_errf(e, MR_EXIT_DATA,
				"%s:%zu: '%.40s' is not a rate (req/s >= 0)",
				path, real, ln);
			free(buf);
			tc_pattern_free(p);
			return -1;
		}
		if (p->nsteps == cap)
			p->steps = mr_xrealloc(p->steps, cap *= 2, sizeof(double));
		p->steps[p->nsteps++] = v;
	}
	free(buf);
	if (!p->nsteps) {
		tc_pattern_free(p);
		return mr_errf(e, MR_EXIT_DATA, "%s: no rates", path);
	}
	return 0;
}

int tc_pattern_parse(const char *spec, double default_step, tc_pattern *p,
		     mr_err *e)
{
	memset(p, 0, sizeof *p);
	const char *colon = strchr(spec, ':');
	if (!colon)
		return mr_errf(e, MR_EXIT_USAGE,
			       "pattern '%s': expected constant:R, poisson:R, "
			       "sin:L0,A,T or file:PATH[,STEP]",
			       spec);
	size_t kl = (size_t)(colon - spec);
	const char *arg = colon + 1, *end;
	if (kl == 8 && memcmp(spec, "constant", 8) == 0)
		p->kind = PAT_CONSTANT;
	else if (kl == 7 && memcmp(spec, "poisson", 7) == 0)
		p->kind = PAT_POISSON;
	else if (kl == 3 && memcmp(spec, "sin", 3) == 0)
		p->kind = PAT_SIN;
	else if (kl == 4 && memcmp(spec, "file", 4) == 0)
		p->kind = PAT_FILE;
	else
		return mr_errf(e, MR_EXIT_USAGE,
			       "pattern '%s': unknown kind '%.*s' (constant, "
			       "poisson, sin, file)",
			       spec, (int)kl, spec);
	switch (p->kind) {
	case PAT_CONSTANT:
	case PAT_POISSON:
		if (!parse_num(arg, &end, &p->rate) || *end || p->rate < 0)
			return mr_errf(e, MR_EXIT_USAGE,
				       "pattern '%s': rate must be a number >= 0",
				       spec);
		return 0;
	case PAT_SIN:
		if (!parse_num(arg, &end, &p->l0) || *end != ',' ||
		    !parse_num(end + 1, &end, &p->amp) || *end != ',' ||
		    !parse_num(end + 1, &end, &p->per) || *end || p->l0 < 0 ||
		    p->per <= 0)
			return mr_errf(e, MR_EXIT_USAGE,
				       "pattern '%s': expected sin:L0,A,T with "
				       "L0 >= 0 and T > 0 (seconds)",
				       spec);
		return 0;
	case PAT_FILE: {
		char path[4096];
		const char *comma = strrchr(arg, ',');
		p->step = default_step;
		size_t pl = strlen(arg);
		if (comma) {
			if (!parse_num(comma + 1, &end, &p->step) || *end ||
			    p->step <= 0)
				return mr_errf(e, MR_EXIT_USAGE,
					       "pattern '%s': STEP must be > 0 "
					       "seconds",
					       spec);
			pl = (size_t)(comma - arg);
		}
		if (!pl || pl >= sizeof path)
			return mr_errf(e, MR_EXIT_USAGE,
				       "pattern '%s': no file name", spec);
		memcpy(path, arg, pl);
		path[pl] = 0;
		return read_steps(path, p, e);
	}
	}
	return 0;
}

void tc_pattern_free(tc_pattern *p)
{
	free(p->steps);
	p->steps = NULL;
}

double tc_pattern_end(const tc_pattern *p)
{
	return p->kind == PAT_FILE ? p->step * (double)p->nsteps : INFINITY;
}

double tc_pattern_rate(const tc_pattern *p, double t)
{
	switch (p->kind) {
	case PAT_CONSTANT:
	case PAT_POISSON:
		return p->rate;
	case PAT_SIN:
		return fmax(0, p->l0 + p->amp * sin(2 * M_PI * t / p->per));
	case PAT_FILE: {
		if (t < 0)
			return 0;
		size_t k = (size_t)(t / p->step);
		return k < p->nsteps ? p->steps[k] : 0;
	}
	}
	return 0;
}

double tc_pattern_mean(const tc_pattern *p, double t0, double t1)
{
	if (t1 <= t0)
		return tc_pattern_rate(p, t0);
	switch (p->kind) {
	case PAT_SIN:
		if (p->l0 >= fabs(p->amp)) {
			/* never clipped at 0: exact integral */
			double w = 2 * M_PI / p->per;
			return p->l0 + p->amp * (cos(w * t0) - cos(w * t1)) /
					       (w * (t1 - t0));
		}
		/* clipped: integrate numerically */
		{
			int n = 1000;
			double s = 0, h = (t1 - t0) / n;
			for (int i = 0; i < n; i++)
				s += tc_pattern_rate(p, t0 + (i + 0.5) * h);
			return s / n;
		}
	case PAT_FILE: {
		double s = 0, t = t0;
		while (t < t1) {
			double k = floor(t / p->step);
			double te = fmin(t1, (k + 1) * p->step);
			s += tc_pattern_rate(p, t) * (te - t);
			t = te;
		}
		return s / (t1 - t0);
	}
	default:
		return p->rate;
	}
}

void tc_pattern_start(tc_pattern *p, uint64_t seed, uint64_t stream)
{
	mr_rng_seed(&p->rng, seed, stream);
	p->next = 0;
	p->k = 0;
	/* the first arrival: constant starts at 0, random ones draw */
	if (p->kind == PAT_CONSTANT)
		p->next = p->rate > 0 ? 0 : INFINITY;
	else
		p->next = -1; /* drawn by the first tc_pattern_next */
}

/* Draws the arrival after time t. */
static double draw_after(tc_pattern *p, double t)
{
	switch (p->kind) {
	case PAT_CONSTANT:
		/* from the count, so rounding never drifts */
		(void)t;
		return p->rate > 0 ? (double)++p->k / p->rate : INFINITY;
	case PAT_POISSON:
		return p->rate > 0 ? t + mr_rng_exp(&p->rng, p->rate) : INFINITY;
	case PAT_SIN: {
		/* thinning: candidates at the peak rate, each kept with
		 * probability rate(t)/peak */
		double peak = p->l0 + fabs(p->amp);
		if (peak <= 0)
			return INFINITY;
		for (int guard = 0; guard < 10000000; guard++) {
			t += mr_rng_exp(&p->rng, peak);
			if (mr_rng_uniform(&p->rng) * peak < tc_pattern_rate(p, t))
				return t;
		}
		return INFINITY;
	}
	case PAT_FILE: {
		/* memoryless: when a draw crosses a step boundary, start
		 * again at the boundary with the next step's rate */
		for (;;) {
			if (t < 0)
				t = 0;
			size_t k = (size_t)(t / p->step);
			if (k >= p->nsteps)
				return INFINITY;
			double end = (double)(k + 1) * p->step, r = p->steps[k];
			double cand = r > 0 ? t + mr_rng_exp(&p->rng, r) : INFINITY;
			if (cand < end)
				return cand;
			t = end;
		}
	}
	}
	return INFINITY;
}

double tc_pattern_next(tc_pattern *p)
{
	if (p->next < 0)
		p->next = draw_after(p, 0);
	double t = p->next;
	if (isfinite(t))
		p->next = draw_after(p, t);
	return t;
}

int tc_stream_parse(const char *spec, double default_step, tc_stream *s,
		    tc_pattern *p, mr_err *e)
{
	const char *eq = strchr(spec, '=');
	memset(s, 0, sizeof *s);
	if (!eq || eq == spec)
		return mr_errf(e, MR_EXIT_USAGE,
			       "stream '%s': expected SERVICE[:CLASS]=PATTERN, "
			       "e.g. compute:premium=poisson:8",
			       spec);
	const char *colon = memchr(spec, ':', (size_t)(eq - spec));
	size_t sl = colon ? (size_t)(colon - spec) : (size_t)(eq - spec);
	if (sl == 0 || sl >= sizeof s->service)
		return mr_errf(e, MR_EXIT_USAGE, "stream '%s': bad service name",
			       spec);
	for (size_t i = 0; i < sl; i++)
		if (!(spec[i] == '-' || spec[i] == '_' || spec[i] == '/' ||
		      (spec[i] >= 'a' && spec[i] <= 'z') ||
		      (spec[i] >= 'A' && spec[i] <= 'Z') ||
		      (spec[i] >= '0' && spec[i] <= '9')))
			return mr_errf(e, MR_EXIT_USAGE,
				       "stream '%s': service names use letters, "
				       "digits, '-', '_', '/'",
				       spec);
	memcpy(s->service, spec, sl);
	s->cls = -1;
	if (colon) {
		s->cls = mesh_class_index(colon + 1, (size_t)(eq - colon - 1));
		if (s->cls < 0)
			return mr_errf(e, MR_EXIT_USAGE,
				       "stream '%s': class must be premium or "
				       "freemium",
				       spec);
	}
	return tc_pattern_parse(eq + 1, default_step, p, e);
}
