/* evalrec.c - what policy-eval live keeps of each period beside the
 * steps file: the measurement next to the simulator's prediction for the
 * same state and action, the fault phase, and the summaries drawn from
 * them (the gap per load level, the phases); and the parser of --fault.
 *
 * Faults are data, never shell text: "t=60 node2 slow=4; t=120 node2
 * stop; t=180 restore" becomes testbed keys (slow.node2=4,
 * stopped.node2=1, and for restore every faulted node's slow=1 and
 * stopped=0), which the loop appends to an action line for actuate.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evallive.h"

/* s without its leading and trailing blanks (in place). */
static const char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = 0;
	return s;
}

/* One item "t=S NODE slow=F|stop|start" or "t=S restore". */
static int parse_fault_item(char *item, live_faults *fs, int *touched,
			    mr_err *e)
{
	char *save = NULL, *tok[4];
	int n = 0;
	for (char *w = strtok_r(item, " \t", &save); w;
	     w = strtok_r(NULL, " \t", &save)) {
		if (n == 4)
			return mr_errf(e, MR_EXIT_USAGE, "too many words");
		tok[n++] = w;
	}
	if (n == 0)
		return 0; /* an empty item: "a; ;b" or a trailing ';' */
	live_fault *f = &fs->f[fs->n];
	char *end;
	if (strncmp(tok[0], "t=", 2) ||
	    !((f->t = strtod(tok[0] + 2, &end)) >= 0) || *end ||
	    !isfinite(f->t))
		return mr_errf(e, MR_EXIT_USAGE, "'%s': expected t=SECONDS",
			       tok[0]);
	if (fs->n && f->t < fs->f[fs->n - 1].t)
		return mr_errf(e, MR_EXIT_USAGE, "t=%g: faults must be in "
			       "time order", f->t);
	if (n == 2 && !strcmp(tok[1], "restore")) {
		f->restore = 1;
		size_t k = 0;
		for (int j = 0; j < 2; j++)
			if (touched[j])
				k += (size_t)snprintf(f->keys + k,
						      sizeof f->keys - k,
						      "%sslow.node%d=1,"
						      "stopped.node%d=0",
						      k ? "," : "", j + 1,
						      j + 1);
		if (!k)
			return mr_errf(e, MR_EXIT_USAGE, "restore before "
				       "any fault");
	} else if (n == 3 && (!strcmp(tok[1], "node1") ||
			      !strcmp(tok[1], "node2"))) {
		int j = tok[1][4] - '1';
		double slow;
		if (!strcmp(tok[2], "stop") || !strcmp(tok[2], "start")) {
			snprintf(f->keys, sizeof f->keys, "stopped.node%d=%d",
				 j + 1, tok[2][2] == 'o');
		} else if (!strncmp(tok[2], "slow=", 5) &&
			   (slow = strtod(tok[2] + 5, &end)) >= 1 &&
			   slow <= 1000 && !*end) {
			char nb[32];
			snprintf(f->keys, sizeof f->keys, "slow.node%d=%s",
				 j + 1, mr_fmt_double(nb, slow));
		} else {
			return mr_errf(e, MR_EXIT_USAGE, "'%s': expected "
				       "slow=F (1..1000), stop or start",
				       tok[2]);
		}
		touched[j] = 1;
	} else {
		return mr_errf(e, MR_EXIT_USAGE, "expected 't=S node1|node2 "
			       "slow=F|stop|start' or 't=S restore'");
	}
	fs->n++;
	return 0;
}

int live_faults_parse(const char *spec, live_faults *fs, mr_err *e)
{
	memset(fs, 0, sizeof *fs);
	char buf[1024];
	if (strlen(spec) >= sizeof buf)
		return mr_errf(e, MR_EXIT_USAGE, "--fault: longer than %zu "
			       "characters", sizeof buf - 1);
	strcpy(buf, spec);
	int touched[2] = {0, 0};
	char *save = NULL;
	for (char *item = strtok_r(buf, ";", &save); item;
	     item = strtok_r(NULL, ";", &save)) {
		char copy[1024];
		snprintf(copy, sizeof copy, "%s", item);
		if (fs->n == LIVE_MAX_FAULTS)
			return mr_errf(e, MR_EXIT_USAGE, "--fault: at most %d "
				       "items", LIVE_MAX_FAULTS);
		if (parse_fault_item(item, fs, touched, e) != 0) {
			mr_err_prefix(e, "--fault '%s'", trim(copy));
			return -1;
		}
		if (fs->n && !fs->f[fs->n - 1].what[0])
			snprintf(fs->f[fs->n - 1].what,
				 sizeof fs->f[fs->n - 1].what, "%s",
				 trim(copy));
	}
	if (!fs->n)
		return mr_errf(e, MR_EXIT_USAGE, "--fault: no fault in '%s'",
			       spec);
	return 0;
}

const char *live_phase_name(int phase)
{
	static const char *const names[] = {"none", "before", "during",
					    "after"};
	return names[phase];
}

void live_recs_add(live_recs *rs, const live_rec *r)
{
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? 2 * rs->cap : 64;
		rs->r = mr_xrealloc(rs->r, (size_t)rs->cap, sizeof *rs->r);
	}
	rs->r[rs->n++] = *r;
}

void live_recs_free(live_recs *rs)
{
	free(rs->r);
	memset(rs, 0, sizeof *rs);
}

/* periods-NAME.csv: one row per period, measured and predicted. */
int live_recs_write_periods(const char *path, const live_recs *rs,
			    const live_layout *ly, mr_err *e)
{
	mr_out o;
	if (mr_out_open(&o, path, e) != 0)
		return -1;
	FILE *f = o.f;
	fprintf(f, "period,t_s,late_s,phase,measured");
	for (int j = 0; j < ly->nserv; j++)
		fprintf(f, ",load%d", j + 1);
	for (int k = 0; k < ly->nparam; k++)
		fprintf(f, ",%s", ly->param_name[k]);
	for (int c = 0; c < ly->ncomp; c++)
		fprintf(f, ",%s", ly->setting_name[c]);
	for (int j = 0; j < ly->nserv; j++)
		fprintf(f, ",delay%d,delay%d_pred", j + 1, j + 1);
	fprintf(f, ",served,served_pred,reward,reward_pred,bound_met,"
		   "bound_met_pred,sim_reward,sim_bound_met\n");
	for (long i = 0; i < rs->n; i++) {
		const live_rec *r = &rs->r[i];
		fprintf(f, "%ld", r->period);
		mr_csv_put(f, ",", r->t);
		mr_csv_put(f, ",", r->late);
		fprintf(f, ",%s,%d", live_phase_name(r->phase), r->measured);
		for (int j = 0; j < ly->nserv; j++)
			mr_csv_put(f, ",", r->load[j]);
		for (int k = 0; k < ly->nparam; k++)
			mr_csv_put(f, ",", r->param[k]);
		for (int c = 0; c < ly->ncomp; c++)
			mr_csv_put(f, ",", r->setting[c]);
		for (int j = 0; j < ly->nserv; j++) {
			mr_csv_put(f, ",", r->live.delay[j]);
			mr_csv_put(f, ",", r->pred.delay[j]);
		}
		mr_csv_put(f, ",", 1 - r->live.dropped);
		mr_csv_put(f, ",", 1 - r->pred.dropped);
		mr_csv_put(f, ",", r->reward);
		mr_csv_put(f, ",", r->reward_pred);
		fprintf(f, ",%d,%d", r->live.bound_met, r->pred.bound_met);
		mr_csv_put(f, ",", r->sim_reward);
		fprintf(f, ",%d\n", r->sim_bound_met);
	}
	return mr_out_commit(&o, e);
}

/* Mean absolute error and mean error (bias, measured - predicted) of one
 * figure over the records of one load level. */
typedef struct {
	double abs, sum;
} gap_acc;

static void gap_add(gap_acc *g, double live, double pred)
{
	if (!isfinite(live) || !isfinite(pred))
		return;
	g->abs += fabs(live - pred);
	g->sum += live - pred;
}

static int same_load(const live_rec *a, const live_rec *b, int nserv)
{
	for (int j = 0; j < nserv; j++)
		if (!mr_value_matches(a->load[j], b->load[j]))
			return 0;
	return 1;
}

/* One gap row: records equal in load to rs->r[first] (and "all" when
 * every is set). */
static void gap_row(FILE *f, const live_recs *rs, const live_layout *ly,
		    long first, int every)
{
	gap_acc d[MR_MAX_SERVICES] = {{0}}, s = {0}, r = {0};
	long n = 0, met = 0, met_pred = 0;
	for (long i = 0; i < rs->n; i++) {
		const live_rec *x = &rs->r[i];
		if (!x->measured ||
		    (!every && !same_load(x, &rs->r[first], ly->nserv)))
			continue;
		n++;
		for (int j = 0; j < ly->nserv; j++)
			gap_add(&d[j], x->live.delay[j], x->pred.delay[j]);
		gap_add(&s, 1 - x->live.dropped, 1 - x->pred.dropped);
		gap_add(&r, x->reward, x->reward_pred);
		met += x->live.bound_met;
		met_pred += x->pred.bound_met;
	}
	if (every)
		fprintf(f, "%s,all", ly->name);
	else
		fprintf(f, "%s,", ly->name);
	for (int j = 0; j < ly->nserv && !every; j++)
		mr_csv_put(f, j ? "/" : "", rs->r[first].load[j]);
	fprintf(f, ",%ld", n);
	double dn = n ? (double)n : NAN;
	for (int j = 0; j < ly->nserv; j++) {
		mr_csv_put(f, ",", d[j].abs / dn);
		mr_csv_put(f, ",", d[j].sum / dn);
	}
	mr_csv_put(f, ",", s.abs / dn);
	mr_csv_put(f, ",", s.sum / dn);
	mr_csv_put(f, ",", r.abs / dn);
	mr_csv_put(f, ",", r.sum / dn);
	mr_csv_put(f, ",", 100 * (double)met / dn);
	mr_csv_put(f, ",", 100 * (double)met_pred / dn);
	fputc('\n', f);
}

/* gap-NAME.csv: per load level (loads joined by '/') and over all
 * measured periods, MAE and bias (measured - predicted). */
int live_recs_write_gap(const char *path, const live_recs *rs,
			const live_layout *ly, mr_err *e)
{
	mr_out o;
	if (mr_out_open(&o, path, e) != 0)
		return -1;
	FILE *f = o.f;
	fprintf(f, "policy,load,periods");
	for (int j = 0; j < ly->nserv; j++)
		fprintf(f, ",delay%d_mae,delay%d_bias", j + 1, j + 1);
	fprintf(f, ",served_mae,served_bias,reward_mae,reward_bias,"
		   "bound_met_pct,bound_met_pred_pct\n");
	for (long i = 0; i < rs->n; i++) {
		long k = 0;
		while (k < i && !same_load(&rs->r[k], &rs->r[i], ly->nserv))
			k++;
		if (k == i && rs->r[i].measured)
			gap_row(f, rs, ly, i, 0);
	}
	gap_row(f, rs, ly, 0, 1);
	return mr_out_commit(&o, e);
}

/* phases-NAME.csv (runs with faults): per phase, the periods, the mean
 * reward and served share, the bound met, measured and predicted. */
int live_recs_write_phases(const char *path, const live_recs *rs,
			   const live_layout *ly, mr_err *e)
{
	mr_out o;
	if (mr_out_open(&o, path, e) != 0)
		return -1;
	FILE *f = o.f;
	fprintf(f, "policy,phase,periods,measured,mean_reward,"
		   "mean_reward_pred,bound_met_pct,mean_served,"
		   "mean_delay1\n");
	for (int ph = LIVE_BEFORE; ph <= LIVE_AFTER; ph++) {
		long n = 0, m = 0, met = 0;
		double rew = 0, pred = 0, served = 0, d1 = 0;
		for (long i = 0; i < rs->n; i++) {
			const live_rec *x = &rs->r[i];
			if (x->phase != ph)
				continue;
			n++;
			if (!x->measured)
				continue;
			m++;
			rew += x->reward;
			pred += x->reward_pred;
			met += x->live.bound_met;
			served += 1 - x->live.dropped;
			d1 += x->live.delay[0];
		}
		double dm = m ? (double)m : NAN;
		fprintf(f, "%s,%s,%ld,%ld", ly->name, live_phase_name(ph), n,
			m);
		mr_csv_put(f, ",", rew / dm);
		mr_csv_put(f, ",", pred / dm);
		mr_csv_put(f, ",", 100 * (double)met / dm);
		mr_csv_put(f, ",", served / dm);
		mr_csv_put(f, ",", d1 / dm);
		fputc('\n', f);
	}
	return mr_out_commit(&o, e);
}

/* One action's periods in a validation run: their mean measured reward,
 * predicted reward, bound met and served share. */
typedef struct {
	long n;
	double rew, pred, met, served;
} val_acc;

static void val_sum(const live_recs *rs, long first, long repeat,
		    val_acc *v)
{
	memset(v, 0, sizeof *v);
	for (long i = first; i < first + repeat && i < rs->n; i++) {
		const live_rec *x = &rs->r[i];
		v->n++;
		v->rew += x->reward;
		v->pred += x->reward_pred;
		v->met += x->live.bound_met;
		v->served += 1 - x->live.dropped;
	}
	if (v->n) {
		double n = (double)v->n;
		v->rew /= n, v->pred /= n, v->met *= 100 / n, v->served /= n;
	}
}

/* validate.csv: per state and rank (0: the simulator's choice, 1 and 2
 * its runners-up), the action, its periods, the mean measured and
 * predicted reward, bound met and served; and the regret of the choice
 * in that state: the best measured mean of the three less the choice's. */
static void val_rows(FILE *f, const live_recs *rs, const live_layout *ly,
		     long repeat, double *sum)
{
	long per = 3 * repeat;
	for (long s0 = 0; s0 < rs->n; s0 += per) {
		val_acc v[3];
		double best = -INFINITY;
		for (int k = 0; k < 3; k++) {
			val_sum(rs, s0 + k * repeat, repeat, &v[k]);
			if (v[k].n && v[k].rew > best)
				best = v[k].rew;
		}
		for (int k = 0; k < 3 && v[k].n; k++) {
			const live_rec *x = &rs->r[s0 + k * repeat];
			fprintf(f, "%ld,%d", s0 / per + 1, k);
			for (int j = 0; j < ly->nserv; j++)
				mr_csv_put(f, ",", x->load[j]);
			for (int q = 0; q < ly->nparam; q++)
				mr_csv_put(f, ",", x->param[q]);
			for (int c = 0; c < ly->ncomp; c++)
				mr_csv_put(f, ",", x->setting[c]);
			fprintf(f, ",%ld", v[k].n);
			mr_csv_put(f, ",", v[k].pred);
			mr_csv_put(f, ",", v[k].rew);
			mr_csv_put(f, ",", v[k].met);
			mr_csv_put(f, ",", v[k].served);
			mr_csv_put(f, ",", k == 0 && v[2].n ? best - v[0].rew : NAN);
			fputc('\n', f);
		}
		if (!v[2].n) /* the state's last action is still running */
			continue;
		double regret = best - v[0].rew;
		sum[0]++;
		sum[1] += v[0].met * (double)v[0].n / 100;
		sum[2] += (double)v[0].n;
		sum[3] += regret;
		sum[4] = fmax(sum[4], regret);
		sum[5] += regret <= 0;
		sum[6] += fabs(best) > 0 ? 100 * regret / fabs(best) : 0;
		sum[7] = fmax(sum[7], fabs(best) > 0 ? 100 * regret / fabs(best)
						    : 0);
	}
}

int live_recs_write_validation(const char *path, const char *sumpath,
			       const live_recs *rs, const live_layout *ly,
			       long repeat, const char *objective, mr_err *e)
{
	mr_out o;
	if (mr_out_open(&o, path, e) != 0)
		return -1;
	fprintf(o.f, "state,rank");
	for (int j = 0; j < ly->nserv; j++)
		fprintf(o.f, ",load%d", j + 1);
	for (int q = 0; q < ly->nparam; q++)
		fprintf(o.f, ",%s", ly->param_name[q]);
	for (int c = 0; c < ly->ncomp; c++)
		fprintf(o.f, ",%s", ly->setting_name[c]);
	fprintf(o.f, ",periods,reward_pred,reward,bound_met_pct,served,"
		     "regret\n");
	double sum[8] = {0};
	val_rows(o.f, rs, ly, repeat, sum);
	if (mr_out_commit(&o, e) != 0)
		return -1;
	if (mr_out_open(&o, sumpath, e) != 0)
		return -1;
	double n = sum[0] ? sum[0] : NAN;
	fprintf(o.f, "objective,states,periods_per_action,"
		     "choice_bound_met_pct,mean_regret,max_regret,"
		     "mean_regret_pct,max_regret_pct,choice_best_pct\n%s,%g,%ld",
		objective, sum[0], repeat);
	mr_csv_put(o.f, ",", sum[2] ? 100 * sum[1] / sum[2] : NAN);
	mr_csv_put(o.f, ",", sum[3] / n);
	mr_csv_put(o.f, ",", sum[0] ? sum[4] : NAN);
	mr_csv_put(o.f, ",", sum[6] / n);
	mr_csv_put(o.f, ",", sum[0] ? sum[7] : NAN);
	mr_csv_put(o.f, ",", 100 * sum[5] / n);
	fputc('\n', o.f);
	return mr_out_commit(&o, e);
}
