/*
 * tc_schema.c - the trace schemas: which columns a trace has and how each
 * is computed from a window. One table per schema, built by add_*; the
 * header and every row come from the same table, so they cannot disagree.
 * The load and action columns (max_l1, p1, b1, c1, ...) and their streams
 * are meshapi's (mesh_schema), shared with actuate; the statistics columns
 * are defined here.
 *
 *   compute  max_l1,l1,cl1,p1,b1,c1,d1,d1_std,d1_p90,d1_p99,d11,d12,drop1
 *            (counts per window, as data_TNSM_2024.csv)
 *   info2    max_l1,max_l2,l1,l2,cl1,cl2,p11,p21,b1,b2,c1,c2,d1,d2,
 *            d11,d12,d21,d22,drop1,drop2 (req/s, as data_CNSM_2022.csv)
 *   classes  max_l1p,max_l1f,l1p,l1f,cl1p,cl1f,p1p,p1f,b1f,c1,d1p,d1f,
 *            d1p_p90,d1f_p90,drop1p,drop1f (counts)
 *   generic  per stream i: max_l{i},l{i},cl{i},d{i},d{i}_std,d{i}_p90,
 *            d{i}_p99,d{i}1,d{i}2,drop{i}
 *
 * Delays are of successes, in seconds; 0 when nothing succeeded (as in the
 * published traces; read them together with cl).
 */
#include <math.h>
#include <string.h>

#include "tc.h"

static void add(tc_schema *s, const char *name, tc_col_kind kind, int stream,
		int arg)
{
	tc_colspec *c = &s->col[s->ncols];
	snprintf(c->name, sizeof c->name, "%s", name);
	c->kind = kind;
	c->stream = stream;
	c->arg = arg;
	s->names[s->ncols] = c->name;
	s->ncols++;
	s->names[s->ncols] = NULL;
}

/* The schema's load streams (meshapi): a slot and a target column each. */
static void add_loads(tc_schema *s, const mesh_schema *m)
{
	for (size_t i = 0; i < m->nloads; i++) {
		const mesh_load_col *l = &m->loads[i];
		tc_stream *t = &s->streams[s->nstreams];
		memset(t, 0, sizeof *t);
		snprintf(t->service, sizeof t->service, "%s",
			 mesh_service_names[l->svc]);
		t->cls = l->cls < 0 ? TC_ANY_CLASS : l->cls;
		s->loads[s->nstreams] = l->col;
		s->nstreams++;
		add(s, l->col, COL_TARGET, (int)i, 0);
	}
}

/* The schema's action columns (meshapi), in its order: a configuration
 * column each, "no limit" written as the target rate of the stream it acts
 * on. */
static void add_actions(tc_schema *s, const mesh_schema *m)
{
	for (size_t j = 0; j < m->nactions; j++) {
		const mesh_action_col *a = &m->actions[j];
		s->cfg[s->ncfg] = a->col;
		s->cfg_stream[s->ncfg] = a->load;
		add(s, a->col, COL_CFG, a->load, (int)s->ncfg);
		s->ncfg++;
	}
}

/* generic: per stream i, max_l{i},l{i},cl{i},d{i},d{i}_std,d{i}_p90,
 * d{i}_p99,d{i}1,d{i}2,drop{i} */
static int init_generic(tc_schema *s, const tc_stream *streams,
			size_t nstreams, mr_err *e)
{
	if (!nstreams)
		return mr_errf(e, MR_EXIT_USAGE,
			       "schema generic needs --stream");
	for (size_t i = 0; i < nstreams; i++) {
		char n[32];
		int k = (int)i + 1, st = (int)i;
		s->streams[i] = streams[i];
		s->nstreams++;
#define G(fmt, kind, arg)                                  \
	do {                                               \
		snprintf(n, sizeof n, fmt, k);             \
		add(s, n, kind, st, arg);                  \
	} while (0)
		G("max_l%d", COL_TARGET, 0);
		s->loads[i] = s->col[s->ncols - 1].name;
		G("l%d", COL_SENT, 0);
		G("cl%d", COL_OK, 0);
		G("d%d", COL_MEAN, 0);
		G("d%d_std", COL_STD, 0);
		G("d%d_p90", COL_P90, 0);
		G("d%d_p99", COL_P99, 0);
		G("d%d1", COL_NODE, 0);
		G("d%d2", COL_NODE, 1);
		G("drop%d", COL_DROP, 0);
#undef G
	}
	return 0;
}

int tc_schema_init(tc_schema *s, const char *name, const tc_stream *streams,
		   size_t nstreams, mr_err *e)
{
	memset(s, 0, sizeof *s);
	const mesh_schema *m = mesh_schema_get(name, e);
	if (!m)
		return -1;
	snprintf(s->name, sizeof s->name, "%s", name);
	if (strcmp(name, "generic") == 0)
		return init_generic(s, streams, nstreams, e);
	add_loads(s, m);
	if (strcmp(name, "compute") == 0) {
		add(s, "l1", COL_SENT, 0, 0);
		add(s, "cl1", COL_OK, 0, 0);
		add_actions(s, m);
		add(s, "d1", COL_MEAN, 0, 0);
		add(s, "d1_std", COL_STD, 0, 0);
		add(s, "d1_p90", COL_P90, 0, 0);
		add(s, "d1_p99", COL_P99, 0, 0);
		add(s, "d11", COL_NODE, 0, 0);
		add(s, "d12", COL_NODE, 0, 1);
		add(s, "drop1", COL_DROP, 0, 0);
	} else if (strcmp(name, "info2") == 0) {
		s->per_second = 1;
		add(s, "l1", COL_SENT, 0, 0);
		add(s, "l2", COL_SENT, 1, 0);
		add(s, "cl1", COL_OK, 0, 0);
		add(s, "cl2", COL_OK, 1, 0);
		add_actions(s, m);
		add(s, "d1", COL_MEAN, 0, 0);
		add(s, "d2", COL_MEAN, 1, 0);
		add(s, "d11", COL_NODE, 0, 0);
		add(s, "d12", COL_NODE, 0, 1);
		add(s, "d21", COL_NODE, 1, 0);
		add(s, "d22", COL_NODE, 1, 1);
		add(s, "drop1", COL_DROP, 0, 0);
		add(s, "drop2", COL_DROP, 1, 0);
	} else if (strcmp(name, "classes") == 0) {
		add(s, "l1p", COL_SENT, 0, 0);
		add(s, "l1f", COL_SENT, 1, 0);
		add(s, "cl1p", COL_OK, 0, 0);
		add(s, "cl1f", COL_OK, 1, 0);
		add_actions(s, m);
		add(s, "d1p", COL_MEAN, 0, 0);
		add(s, "d1f", COL_MEAN, 1, 0);
		add(s, "d1p_p90", COL_P90, 0, 0);
		add(s, "d1f_p90", COL_P90, 1, 0);
		add(s, "drop1p", COL_DROP, 0, 0);
		add(s, "drop1f", COL_DROP, 1, 0);
	} else {
		return mr_errf(e, MR_EXIT_USAGE,
			       "schema %s: no trace layout here", name);
	}
	return 0;
}

void tc_schema_add_util(tc_schema *s, size_t nnodes)
{
	for (size_t k = 0; k < nnodes && s->ncols < TC_MAX_COLS; k++) {
		char n[32];
		snprintf(n, sizeof n, "util%d", (int)k + 1);
		add(s, n, COL_UTIL, 0, (int)k);
	}
}

static int slot_fits(const tc_stream *slot, const tc_stream *s)
{
	return strcmp(slot->service, s->service) == 0 &&
	       (slot->cls == TC_ANY_CLASS || slot->cls == s->cls);
}

int tc_schema_match(const tc_schema *s, tc_stream *streams, tc_pattern *pats,
		    size_t n, mr_err *e)
{
	if (n != s->nstreams)
		return mr_errf(e, MR_EXIT_USAGE,
			       "schema %s needs %zu stream(s), got %zu", s->name,
			       s->nstreams, n);
	for (size_t i = 0; i < s->nstreams; i++) {
		size_t j = i;
		while (j < n && !slot_fits(&s->streams[i], &streams[j]))
			j++;
		if (j == n)
			return mr_errf(e, MR_EXIT_USAGE,
				       "schema %s needs a stream for %s%s%s",
				       s->name, s->streams[i].service,
				       s->streams[i].cls >= 0 ? ":" : "",
				       s->streams[i].cls >= 0
					       ? mesh_class_names[s->streams[i].cls]
					       : "");
		tc_stream ts = streams[i];
		streams[i] = streams[j];
		streams[j] = ts;
		tc_pattern tp = pats[i];
		pats[i] = pats[j];
		pats[j] = tp;
	}
	return 0;
}

size_t tc_schema_row(const tc_schema *s, tc_window *w, double window,
		     char *buf, size_t cap)
{
	size_t n = 0;
	double per = s->per_second ? 1 / window : 1;
	for (size_t i = 0; i < s->ncols && n < cap; i++) {
		const tc_colspec *c = &s->col[i];
		tc_wstats *st = &w->s[c->stream];
		double v = 0;
		switch (c->kind) {
		case COL_TARGET: v = w->target[c->stream]; break;
		case COL_SENT: v = (double)st->sent * per; break;
		case COL_OK: v = (double)st->ok * per; break;
		case COL_DROP:
			v = (double)(st->refused + st->failed) * per;
			break;
		case COL_MEAN: v = tc_mean(st); break;
		case COL_STD: v = tc_std(st); break;
		case COL_P90: v = tc_pct(st, 0.90); break;
		case COL_P99: v = tc_pct(st, 0.99); break;
		case COL_NODE:
			v = st->node_ok[c->arg]
				    ? st->node_sum[c->arg] /
					      (double)st->node_ok[c->arg]
				    : 0;
			break;
		case COL_UTIL: v = w->util[c->arg]; break;
		case COL_CFG:
			v = w->cfg[c->arg];
			if (isnan(v)) /* no limit: the offered rate */
				v = w->target[c->stream];
			break;
		}
		char num[32];
		int k = snprintf(buf + n, cap - n, "%s%s", i ? "," : "",
				 mr_fmt_double(num, v));
		if (k > 0)
			n += (size_t)k;
	}
	if (n + 1 < cap)
		buf[n++] = '\n';
	return n < cap ? n : cap;
}
