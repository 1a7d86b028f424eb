/* evaluate.c - controllers, the step loop, step records and their CSV.
 * (Statistics and summaries are in evalstats.c.) */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"

/* ------------------------------------------------------------------------
 * Controllers
 */

void mr_ctl_fixed(mr_controller *c, const char *name, const int32_t *action,
		  int ncomp)
{
	memset(c, 0, sizeof *c);
	snprintf(c->name, sizeof c->name, "%s", name);
	c->kind = MR_CTL_FIXED;
	memcpy(c->fixed, action, (size_t)ncomp * sizeof *action);
}

void mr_ctl_random(mr_controller *c, const char *name, uint64_t seed)
{
	memset(c, 0, sizeof *c);
	snprintf(c->name, sizeof c->name, "%s", name);
	c->kind = MR_CTL_RANDOM;
	/* stream 0x72616e64 ("rand"): independent of the environment's */
	mr_rng_seed(&c->rng, seed, MR_STREAM_RANDOM_CTL);
}

int mr_ctl_hpa(mr_controller *c, const char *name, const mr_action_space *as,
	       const int32_t *rest, double target, double service_time,
	       mr_err *e)
{
	if (as->cores < 0 || as->incremental)
		return mr_errf(e, MR_EXIT_USAGE,
			       "%s: the objective has no cores setting to scale",
			       name);
	if (!(target > 0 && target <= 1.5))
		return mr_errf(e, MR_EXIT_USAGE,
			       "%s: utilisation target %g outside (0, 1.5]",
			       name, target);
	if (!(service_time > 0) || !isfinite(service_time))
		return mr_errf(e, MR_EXIT_FAIL,
			       "%s: no usable service-time estimate (%g s)",
			       name, service_time);
	memset(c, 0, sizeof *c);
	snprintf(c->name, sizeof c->name, "%s", name);
	c->kind = MR_CTL_HPA;
	memcpy(c->fixed, rest, (size_t)as->ncomp * sizeof *rest);
	c->hpa_target = target;
	c->hpa_tolerance = 0.1; /* Kubernetes' default */
	c->hpa_service_time = service_time;
	c->hpa_util = NAN;
	c->hpa_window = 1;
	return 0;
}

int mr_ctl_hpa_window(mr_controller *c, long periods, mr_err *e)
{
	if (periods < 1 || periods > MR_HPA_MAX_WINDOW)
		return mr_errf(e, MR_EXIT_USAGE,
			       "%s: stabilisation window %ld outside 1..%d "
			       "periods", c->name, periods, MR_HPA_MAX_WINDOW);
	c->hpa_window = (int)periods;
	c->hpa_nrecent = 0;
	return 0;
}

void mr_ctl_table(mr_controller *c, const char *name, const int32_t *table,
		  long steps)
{
	memset(c, 0, sizeof *c);
	snprintf(c->name, sizeof c->name, "%s", name);
	c->kind = MR_CTL_TABLE;
	c->table = table;
	c->table_steps = steps;
}

void mr_ctl_func(mr_controller *c, const char *name, mr_act_fn fn, void *ctx)
{
	memset(c, 0, sizeof *c);
	snprintf(c->name, sizeof c->name, "%s", name);
	c->kind = MR_CTL_FUNC;
	c->fn = fn;
	c->fn_ctx = ctx;
}

void mr_ctl_env(mr_controller *c, const char *name, mr_env_act_fn fn,
		void *ctx)
{
	memset(c, 0, sizeof *c);
	snprintf(c->name, sizeof c->name, "%s", name);
	c->kind = MR_CTL_ENV;
	c->env_fn = fn;
	c->fn_ctx = ctx;
}

/* Allowed choice j of component i under mask (NULL: all allowed). */
static int allowed(const mr_action_space *as, const uint8_t *mask, int i,
		   int j)
{
	if (!mask)
		return 1;
	int off = 0;
	for (int k = 0; k < i; k++)
		off += as->nchoices[k];
	return mask[off + j] != 0;
}

/* The allowed cores choice nearest to want (ties: more cores, the safe
 * side for delay). */
static int nearest_allowed_cores(const mr_action_space *as,
				 const uint8_t *mask, double want)
{
	int ci = as->cores, best = -1;
	double bd = INFINITY;
	for (int j = 0; j < as->nchoices[ci]; j++) {
		if (!allowed(as, mask, ci, j))
			continue;
		double d = fabs(as->values[ci][j] - want);
		if (d < bd - 1e-12 ||
		    (fabs(d - bd) <= 1e-12 && as->values[ci][j] > as->values[ci][best])) {
			bd = d;
			best = j;
		}
	}
	return best < 0 ? 0 : best;
}

/* Kubernetes' HPA step on cores (its replicas): the desired count, then
 * its scale-down stabilisation over the last hpa_window periods. */
static double hpa_desired(mr_controller *c, const mr_action_space *as,
			  const mr_step_info *prev, const int32_t *prev_action)
{
	double cores = as->values[as->cores][prev_action[as->cores]];
	double util = isfinite(c->hpa_util)
			      ? c->hpa_util
			      : prev->carried * c->hpa_service_time / cores;
	double ratio = util / c->hpa_target;
	double want = cores;
	if (fabs(ratio - 1) > c->hpa_tolerance)
		want = ceil(cores * ratio - 1e-9);
	if (c->hpa_nrecent == c->hpa_window) { /* drop the oldest */
		memmove(c->hpa_recent, c->hpa_recent + 1,
			(size_t)(c->hpa_window - 1) * sizeof *c->hpa_recent);
		c->hpa_nrecent--;
	}
	c->hpa_recent[c->hpa_nrecent++] = want;
	double highest = want;
	for (int k = 0; k < c->hpa_nrecent; k++)
		highest = fmax(highest, c->hpa_recent[k]);
	/* up at once; down no lower than the window's highest */
	return want > cores ? want : fmin(cores, highest);
}

void mr_ctl_act(mr_controller *c, const mr_action_space *as, long t,
		const float *obs, const uint8_t *mask,
		const mr_step_info *prev, const int32_t *prev_action,
		int32_t *action)
{
	switch (c->kind) {
	case MR_CTL_FIXED:
		memcpy(action, c->fixed, (size_t)as->ncomp * sizeof *action);
		break;
	case MR_CTL_RANDOM:
		for (int i = 0; i < as->ncomp; i++) {
			int ok[MR_MAX_CHOICES], n = 0;
			for (int j = 0; j < as->nchoices[i]; j++)
				if (allowed(as, mask, i, j))
					ok[n++] = j;
			action[i] = n ? ok[mr_rng_below(&c->rng, (uint64_t)n)] : 0;
		}
		break;
	case MR_CTL_HPA:
		memcpy(action, c->fixed, (size_t)as->ncomp * sizeof *action);
		if (!prev || !prev_action) { /* first period: starting cores */
			c->hpa_nrecent = 0; /* a new episode's history */
			break;
		}
		action[as->cores] = nearest_allowed_cores(
			as, mask, hpa_desired(c, as, prev, prev_action));
		break;
	case MR_CTL_TABLE: {
		long row = t < c->table_steps ? t : c->table_steps - 1;
		memcpy(action, c->table + row * as->ncomp,
		       (size_t)as->ncomp * sizeof *action);
		break;
	}
	case MR_CTL_FUNC:
		c->fn(c->fn_ctx, obs, mask, action);
		break;
	case MR_CTL_ENV: /* needs the environment: see mr_eval_run */
		memset(action, 0, (size_t)as->ncomp * sizeof *action);
		break;
	}
}

/* ------------------------------------------------------------------------
 * Step records
 */

void mr_steps_init(mr_steps *s, int ncomp, int nservices)
{
	memset(s, 0, sizeof *s);
	s->ncomp = ncomp;
	s->nservices = nservices > 0 ? nservices : 1;
}

void mr_steps_add(mr_steps *s, const int32_t *action, const mr_step_info *in,
		  double reward, double cores)
{
	if (s->n == s->cap) {
		long cap = s->cap ? 2 * s->cap : 256;
		size_t c = (size_t)cap;
		s->load = mr_xrealloc(s->load, c, sizeof *s->load);
		s->action = mr_xrealloc(s->action, c * (size_t)s->ncomp,
					sizeof *s->action);
		s->delay = mr_xrealloc(s->delay, c * (size_t)s->nservices,
				       sizeof *s->delay);
		s->carried = mr_xrealloc(s->carried, c, sizeof *s->carried);
		s->cost = mr_xrealloc(s->cost, c, sizeof *s->cost);
		s->reward = mr_xrealloc(s->reward, c, sizeof *s->reward);
		s->cores = mr_xrealloc(s->cores, c, sizeof *s->cores);
		s->bound_met = mr_xrealloc(s->bound_met, c, sizeof *s->bound_met);
		s->dropped = mr_xrealloc(s->dropped, c, sizeof *s->dropped);
		s->served_short = mr_xrealloc(s->served_short, c,
					      sizeof *s->served_short);
		s->episode = mr_xrealloc(s->episode, c, sizeof *s->episode);
		s->cap = cap;
	}
	long i = s->n++;
	s->load[i] = in->offered;
	memcpy(s->action + i * s->ncomp, action,
	       (size_t)s->ncomp * sizeof *action);
	for (int k = 0; k < s->nservices; k++)
		s->delay[i * s->nservices + k] =
			k < MR_MAX_SERVICES ? in->delay[k] : 0;
	s->carried[i] = in->carried;
	s->cost[i] = in->cost;
	s->reward[i] = reward;
	s->cores[i] = cores;
	s->bound_met[i] = in->bound_met ? 1 : 0;
	s->dropped[i] = in->dropped;
	s->served_short[i] = in->served_short ? 1 : 0;
	s->episode[i] = s->cur_episode;
}

void mr_steps_free(mr_steps *s)
{
	free(s->load);
	free(s->action);
	free(s->delay);
	free(s->carried);
	free(s->cost);
	free(s->reward);
	free(s->cores);
	free(s->bound_met);
	free(s->dropped);
	free(s->served_short);
	free(s->episode);
	memset(s, 0, sizeof *s);
}

static double cores_of(const mr_action_space *as, const int32_t *action)
{
	if (as->cores < 0 || as->incremental)
		return NAN;
	return as->values[as->cores][action[as->cores]];
}

int mr_eval_run(mr_vecenv *v, const mr_action_space *as, mr_controller *c,
		long nsteps, mr_steps *out, mr_err *e)
{
	if (v->ncomp != as->ncomp)
		return mr_errf(e, MR_EXIT_FAIL,
			       "%s: environment has %d action components, the "
			       "objective %d", c->name, v->ncomp, as->ncomp);
	int32_t prev_action[MR_MAX_COMPONENTS];
	mr_step_info prev;
	out->reward_f32 = 1; /* v->rewards are float32 */
	for (long t = 0; t < nsteps; t++) {
		int32_t a[MR_MAX_COMPONENTS];
		if (c->kind == MR_CTL_ENV) {
			if (c->env_fn(c->fn_ctx, v, a, e) != 0)
				return mr_err_prefix(e, "%s: step %ld", c->name, t);
		} else {
			mr_ctl_act(c, as, t, v->obs, v->masks, t ? &prev : NULL,
				   t ? prev_action : NULL, a);
		}
		/* Every environment plays the same action; policy-eval opens
		 * one, but a driver may pass more. */
		for (int k = 0; k < v->nenvs; k++)
			memcpy(v->actions + k * v->ncomp, a,
			       (size_t)v->ncomp * sizeof *a);
		if (v->step(v, e) != 0)
			return mr_err_prefix(e, "%s: step %ld", c->name, t);
		prev = v->info[0];
		memcpy(prev_action, a, sizeof a);
		mr_steps_add(out, a, &v->info[0], v->rewards[0], cores_of(as, a));
	}
	return 0;
}

/* Joint index of a per-component action (inverse of mr_action_decode). */
static long joint_index(const mr_action_space *as, const int32_t *action)
{
	long k = 0;
	for (int i = 0; i < as->ncomp; i++)
		k = k * as->nchoices[i] + action[i];
	return k;
}

int mr_eval_sweep(mr_vecenv *v, const mr_action_space *as, long nsteps,
		  mr_sweep *out, mr_err *e)
{
	memset(out, 0, sizeof *out);
	if (as->incremental)
		return mr_errf(e, MR_EXIT_FAIL,
			       "sweep: actions are incremental, a state's "
			       "future depends on them");
	long nj = mr_action_joint_count(as, 1L << 20);
	if (nj == 0 || nj != v->nenvs || v->ncomp != as->ncomp)
		return mr_errf(e, MR_EXIT_FAIL,
			       "sweep: %d environments for %ld joint actions",
			       v->nenvs, nj);
	if (nsteps < 1 || (double)nsteps * (double)nj > 5e7)
		return mr_errf(e, MR_EXIT_FAIL,
			       "sweep: %ld steps x %ld actions is too many",
			       nsteps, nj);
	size_t cells = (size_t)nsteps * (size_t)nj;
	out->nsteps = nsteps;
	out->njoint = nj;
	out->load = mr_xcalloc((size_t)nsteps, sizeof *out->load);
	out->reward = mr_xcalloc(cells, sizeof *out->reward);
	out->cost = mr_xcalloc(cells, sizeof *out->cost);
	out->delay = mr_xcalloc(cells, sizeof *out->delay);
	for (long t = 0; t < nsteps; t++) {
		/* actions are rewritten every step: an environment may use
		 * the buffer as scratch */
		for (long k = 0; k < nj; k++)
			mr_action_decode(as, k, v->actions + k * v->ncomp);
		if (v->step(v, e) != 0) {
			mr_sweep_free(out);
			return mr_err_prefix(e, "sweep: step %ld", t);
		}
		/* The sweep means something only if every environment saw
		 * the same state: check the load they report and the next
		 * observation. */
		for (long k = 1; k < nj; k++)
			if (memcmp(v->obs + k * v->obs_dim, v->obs,
				   (size_t)v->obs_dim * sizeof *v->obs) != 0) {
				mr_sweep_free(out);
				return mr_errf(e, MR_EXIT_FAIL,
					       "sweep: step %ld: environment %ld "
					       "observes another state than "
					       "environment 0; the optimum cannot "
					       "be found by a sweep", t, k);
			}
		out->load[t] = v->info[0].offered;
		for (long k = 1; k < nj; k++)
			if (!mr_value_matches(v->info[k].offered,
					      out->load[t])) {
				double lk = v->info[k].offered, l0 = out->load[t];
				mr_sweep_free(out);
				return mr_errf(e, MR_EXIT_FAIL,
					       "sweep: step %ld: environment %ld "
					       "saw load %g, environment 0 %g; "
					       "the optimum cannot be found by "
					       "a sweep", t, k, lk, l0);
			}
		for (long k = 0; k < nj; k++) {
			out->reward[t * nj + k] = v->rewards[k];
			out->cost[t * nj + k] = v->info[k].cost;
			out->delay[t * nj + k] = v->info[k].delay[0];
		}
	}
	return 0;
}

void mr_sweep_free(mr_sweep *s)
{
	free(s->load);
	free(s->reward);
	free(s->cost);
	free(s->delay);
	memset(s, 0, sizeof *s);
}

double mr_sweep_best(const mr_sweep *s, const mr_action_space *as,
		     int32_t *table)
{
	double sum = 0;
	for (long t = 0; t < s->nsteps; t++) {
		const double *r = s->reward + t * s->njoint;
		const double *c = s->cost + t * s->njoint;
		long best = 0;
		for (long k = 1; k < s->njoint; k++)
			if (r[k] > r[best] || (r[k] == r[best] && c[k] < c[best]))
				best = k;
		mr_action_decode(as, best, table + t * as->ncomp);
		sum += r[best];
	}
	return sum / (double)s->nsteps;
}

double mr_sweep_random_mean(const mr_sweep *s)
{
	double sum = 0;
	size_t cells = (size_t)s->nsteps * (size_t)s->njoint;
	for (size_t i = 0; i < cells; i++)
		sum += s->reward[i];
	return sum / (double)cells;
}

double mr_sweep_service_time(const mr_sweep *s, const mr_action_space *as,
			     const int32_t *rest)
{
	if (as->cores < 0 || as->incremental)
		return NAN;
	int32_t a[MR_MAX_COMPONENTS];
	memcpy(a, rest, (size_t)as->ncomp * sizeof *a);
	int ci = as->cores, most = 0;
	for (int j = 1; j < as->nchoices[ci]; j++)
		if (as->values[ci][j] > as->values[ci][most])
			most = j;
	a[ci] = most;
	long k = joint_index(as, a);
	double best = INFINITY;
	for (long t = 0; t < s->nsteps; t++) {
		double d = s->delay[t * s->njoint + k];
		if (d > 0 && d < best) /* 0: nothing served, not a delay */
			best = d;
	}
	return isfinite(best) ? best * as->values[ci][most] : NAN;
}

int mr_steps_write(const char *path, const mr_action_space *as,
		   const mr_steps *s, mr_err *e)
{
	mr_out o;
	if (mr_out_open(&o, path, e) != 0)
		return -1;
	FILE *f = o.f;
	/* cores: the setting of the cores component; no column when the
	 * space has none (or its actions are moves) */
	int has_cores = as->cores >= 0 && !as->incremental;
	fprintf(f, "step,load");
	for (int i = 0; i < as->ncomp; i++)
		fprintf(f, ",%s", as->name[i]);
	if (has_cores)
		fprintf(f, ",cores");
	for (int k = 0; k < s->nservices; k++)
		fprintf(f, ",d%d", k + 1);
	fprintf(f, ",carried,cost,reward,bound_met,episode\n");
	for (long t = 0; t < s->n; t++) {
		char nb[32];
		fprintf(f, "%ld,%s", t, mr_fmt_double(nb, s->load[t]));
		for (int i = 0; i < as->ncomp; i++)
			fprintf(f, ",%s", mr_fmt_double(nb,
				as->values[i][s->action[t * s->ncomp + i]]));
		if (has_cores)
			fprintf(f, ",%s", mr_fmt_double(nb, s->cores[t]));
		for (int k = 0; k < s->nservices; k++)
			fprintf(f, ",%s",
				mr_fmt_double(nb, s->delay[t * s->nservices + k]));
		fprintf(f, ",%s", mr_fmt_double(nb, s->carried[t]));
		fprintf(f, ",%s", mr_fmt_double(nb, s->cost[t]));
		fprintf(f, ",%s", s->reward_f32
			? mr_fmt_float(nb, (float)s->reward[t])
			: mr_fmt_double(nb, s->reward[t]));
		fprintf(f, ",%d,%d\n", s->bound_met[t],
			s->episode ? (int)s->episode[t] : 0);
	}
	if (mr_out_commit(&o, e) != 0) {
		mr_out_abort(&o);
		return -1;
	}
	return 0;
}
