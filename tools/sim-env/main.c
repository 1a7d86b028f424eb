/*
 * sim-env - the simulator of an objective: serve it over the msgpack
 * protocol, compute its exact optimum, run baselines, describe it, and
 * measure its speed.
 *
 * The work is in the library (simenv.c, optimal.c, protocol.c); this file
 * parses the command line and writes CSV. It does not train anything.
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "simenv_impl.h"

static const char *prog = "sim-env";

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sim-env serve OBJECTIVE [--model FILE] [--load PATTERN]\n"
		"       sim-env optimal OBJECTIVE [-o TABLE.csv] [--summary FILE] [--seed S] [--envs N]\n"
		"                             [--trace FILE] [--min-windows K]\n"
		"       sim-env run OBJECTIVE --actions fixed:NAME=V,...|random|optimal|table:FILE\n"
		"                             [--steps N] [--envs N] [--seed S] [--eval] [-o OUT.csv]\n"
		"                             [--model-after FILE --change-at STEP]\n"
		"       sim-env describe OBJECTIVE [--model-args | --get KEY]\n"
		"       sim-env bench OBJECTIVE [--envs N] [--steps N] [--pipe] [--live]\n"
		"       sim-env fidelity OBJECTIVE [--model FILE] [--trace FILE] [-o OUT.csv]\n"
		"\n"
		"serve     speak the sim-env protocol on stdin/stdout (length-delimited\n"
		"          msgpack: reset, step, spec, close; see the README)\n"
		"optimal   the exact optimal policy as CSV (state, best action, reward,\n"
		"          delay...): exhaustive search per state for absolute actions,\n"
		"          value iteration for incremental ones; the optimum's mean reward\n"
		"          per step over the evaluation episode goes to stderr (and to\n"
		"          --summary as CSV)\n"
		"run       per-step CSV of a policy: step,env,state...,action...,delay...,\n"
		"          offered,carried,cost,reward,bound_met,done\n"
		"describe  what the objective is; --model-args prints the rf-fit options\n"
		"          that fit its model (--features ... --target ...); --get KEY\n"
		"          prints one of: name, trace, model, features, targets, fit-args,\n"
		"          episode-length, obs-dim, actions, nchoices, action-kind\n"
		"          (absolute or incremental); or SECTION.KEY, a key of a section\n"
		"          as written (eval.unseen, 'action p.values'; .KEY at the top),\n"
		"          but in features, targets, const, vars and reward the number\n"
		"          it is (reward.bound1), empty when not a constant; empty when\n"
		"          absent. Whatever is asked, describe first refuses (exit 3,\n"
		"          file:line) an objective with a value make or sh would\n"
		"          interpret: paths are letters, digits and ._/+-, fit_args adds\n"
		"          ,=%%@, other values also :; and blanks (pipelines paste them)\n"
		"fidelity  per state, the model's optimal action and its runner-up beside\n"
		"          the trace's own windows for each (count, mean and p90 of every\n"
		"          target, the objective's reward on the trace's means) and\n"
		"          contradicted = 1 when the trace misses a bound the model\n"
		"          meets there, or rewards the runner-up more (absolute actions)\n"
		"bench     steps per second of the in-process simulator (or, with --pipe,\n"
		"          of 'sim-env serve' driven over a pipe by the C client)\n"
		"\n"
		"options:\n"
		"      --model FILE        system model (default: the objective's [model] file)\n"
		"      --load PATTERN      load pattern override: a sequence file, or\n"
		"                          sin:mean=8;amplitude=4;period=240, levels:4,8,12, constant:8\n"
		"      --envs N            environments stepped together (1; bench: 64)\n"
		"      --steps N           steps per environment (run: one episode; bench: 2000000 total)\n"
		"      --seed S            random seed (1)\n"
		"      --eval              evaluation episodes: the load pattern from its start\n"
		"      --model-after FILE  run, bench: the system changes: from step --change-at of\n"
		"                          every episode on, the model is FILE (a scenario for\n"
		"                          online adaptation, issue 16)\n"
		"      --change-at STEP    the step within the episode (0-based) of the change (0)\n"
		"      --live              predict the model every step (no table; for checks\n"
		"                          and speed comparisons; results are the same)\n"
		"  -o, --output FILE       output CSV (stdout)\n"
		"      --summary FILE      optimal: also write objective,steps,envs,mean_reward,bound_met_frac\n"
		"      --trace FILE        optimal: the trace the model was fitted on (default: the\n"
		"                          objective's [model] trace when it exists): the table\n"
		"                          gains 'windows' (trace rows whose feature columns all\n"
		"                          equal the chosen action's features) and, for a forest,\n"
		"                          tree_sd_TARGET (spread between the trees there)\n"
		"      --min-windows K     optimal: count chosen actions resting on fewer than K\n"
		"                          windows (3); said on stderr\n"
		"  -q, --quiet             no notes or warnings on stderr\n"
		"  -h, --help, -V, --version\n"
		"exit codes: 0 ok, 1 failure, 2 usage, 3 bad objective/model/data, 4 I/O\n"
		"\n"
		"example:\n"
		"  rf-fit fit $(sim-env describe pipelines/objectives/delay.obj --model-args) \\\n"
		"      -o models/delay/system.msgpack traces/compute.csv\n"
		"  sim-env optimal pipelines/objectives/delay.obj\n"
		"  sim-env run pipelines/objectives/delay.obj --actions fixed:p=80,c=1 --eval\n");
}

typedef struct {
	const char *cmd, *objective, *model, *load, *output, *summary;
	const char *actions, *get, *trace, *model_after;
	long change_at;
	int envs, eval, quiet, model_args, pipe, live, min_windows;
	long steps;
	uint64_t seed;
} cli;

static void warn_range(const se_sim *s, int quiet)
{
	char buf[2048];
	se_range_report(s, buf, sizeof buf);
	if (buf[0] && !quiet)
		fprintf(stderr, "%s: warning: %s\n", prog, buf);
}

static mr_vecenv *open_env(const mr_objective *o, const cli *c, int nenvs,
			   int eval)
{
	mr_simenv_opts opts = {.nenvs = nenvs, .seed = c->seed, .eval = eval,
			       .load_pattern = c->load,
			       .model_path = c->model, .live = c->live,
			       .model_after = c->model_after,
			       .change_at = c->change_at};
	mr_err e;
	mr_vecenv *v = mr_simenv_open(o, &opts, &e);
	if (!v)
		mr_die(prog, &e);
	warn_range(se_sim_of(v), c->quiet);
	return v;
}

static void close_env(mr_vecenv *v)
{
	v->close(v);
	free(v);
}

static void pnum(FILE *f, double x)
{
	char b[32];
	fputs(mr_fmt_double(b, x), f);
}

/* rewards are float32 in the protocol: printed as float32 */
static void pnum_f32(FILE *f, float x)
{
	char b[32];
	fputs(mr_fmt_float(b, x), f);
}

/* ------------------------------------------------------------------------
 * CSV pieces shared by optimal and run
 */
static void header_state(FILE *f, const se_sim *s)
{
	char b[32];
	for (int k = 0; k < s->obs_dim; k++)
		fprintf(f, "%s%s", k ? "," : "", se_obs_name(s, k, b, sizeof b));
}

static void row_state(FILE *f, const se_sim *s, const se_state *st)
{
	const mr_objective *o = s->o;
	for (int j = 0; j < o->nserv; j++) {
		if (j)
			fputc(',', f);
		pnum(f, st->load[j]);
	}
	for (int k = 0; k < o->nparam; k++) {
		fputc(',', f);
		pnum(f, o->param[k].levels[st->pidx[k]]);
	}
	if (o->incremental)
		for (int c = 0; c < o->nact; c++) {
			fputc(',', f);
			pnum(f, o->act[c].values[st->cidx[c]]);
		}
}

static void header_action(FILE *f, const mr_objective *o)
{
	for (int c = 0; c < o->nact; c++)
		fprintf(f, ",%s%s", o->incremental ? "move_" : "", o->act[c].name);
	if (o->incremental)
		for (int c = 0; c < o->nact; c++)
			fprintf(f, ",%s_next", o->act[c].name);
}

static void row_action(FILE *f, const mr_objective *o, const int32_t *a,
		       const int32_t *cfg)
{
	for (int c = 0; c < o->nact; c++) {
		fputc(',', f);
		if (o->incremental)
			fprintf(f, "%d", mr_move_delta(a[c]));
		else
			pnum(f, o->act[c].values[a[c]]);
	}
	if (o->incremental)
		for (int c = 0; c < o->nact; c++) {
			fputc(',', f);
			pnum(f, o->act[c].values[cfg[c]]);
		}
}

static void header_info(FILE *f, const mr_objective *o)
{
	for (int j = 0; j < o->nserv; j++)
		fprintf(f, ",delay%d", j + 1);
	fputs(",offered,carried,cost", f);
}

static void row_info(FILE *f, const mr_objective *o, const mr_step_info *in)
{
	for (int j = 0; j < o->nserv; j++) {
		fputc(',', f);
		pnum(f, in->delay[j]);
	}
	fputc(',', f);
	pnum(f, in->offered);
	fputc(',', f);
	pnum(f, in->carried);
	fputc(',', f);
	pnum(f, in->cost);
}

/* ------------------------------------------------------------------------
 * Policies for run
 */
typedef struct {
	int kind; /* 0 fixed, 1 random, 2 optimal, 3 table */
	int32_t fixed[MR_MAX_COMPONENTS];
	mr_rng rng;
	se_optimum opt;
	int32_t *table; /* nstates x ncomp, -1 when the state has no row */
} policy;

static int match_value(const double *vals, int n, double x)
{
	for (int k = 0; k < n; k++)
		if (mr_value_matches(vals[k], x))
			return k;
	return -1;
}

/* The incremental move that steps by delta (-1, 0, +1), or -1. */
static int move_of_delta(double delta)
{
	for (int m = 0; m < MR_NMOVES; m++)
		if (mr_move_delta(m) == delta)
			return m;
	return -1;
}

static void policy_fixed(policy *p, const mr_objective *o, const char *spec)
{
	int set[MR_MAX_COMPONENTS] = {0};
	char *copy = mr_xstrdup(spec), *save = NULL;
	for (char *it = strtok_r(copy, ",", &save); it;
	     it = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(it, '=');
		if (!eq)
			mr_usage_error(prog, "--actions fixed: expects NAME=VALUE,... (got '%s')",
				       it);
		*eq = 0;
		int c = -1;
		for (int k = 0; k < o->nact; k++)
			if (strcmp(o->act[k].name, it) == 0)
				c = k;
		if (c < 0)
			mr_usage_error(prog, "--actions fixed: no action named '%s'", it);
		const char *val = eq + 1;
		if (o->incremental) {
			if (strcmp(val, "stay") == 0 || strcmp(val, "0") == 0)
				p->fixed[c] = MR_MOVE_STAY;
			else if (strcmp(val, "down") == 0 || strcmp(val, "-1") == 0)
				p->fixed[c] = MR_MOVE_DOWN;
			else if (strcmp(val, "up") == 0 || strcmp(val, "+1") == 0 ||
				 strcmp(val, "1") == 0)
				p->fixed[c] = MR_MOVE_UP;
			else
				mr_usage_error(prog, "--actions fixed: an incremental move is stay, down or up (got '%s')",
					       val);
		} else {
			char *end;
			double x = strtod(val, &end);
			int k = end == val || *end ? -1
				: match_value(o->act[c].values, o->act[c].nvalues, x);
			if (k < 0)
				mr_usage_error(prog, "--actions fixed: '%s' is not one of the action's values",
					       val);
			p->fixed[c] = k;
		}
		set[c] = 1;
	}
	free(copy);
	for (int c = 0; c < o->nact; c++)
		if (!set[c])
			mr_usage_error(prog, "--actions fixed: no value for action '%s'",
				       o->act[c].name);
}

/* Reads a table as 'sim-env optimal' writes it: state columns and action
 * columns by name. */
static void policy_table(policy *p, se_sim *s, const char *path)
{
	const mr_objective *o = s->o;
	if (!s->discrete_load)
		mr_fatal(prog, MR_EXIT_USAGE,
			 "--actions table: needs discrete loads (the pattern is %s)",
			 s->pat->desc);
	const char *cols[SE_MAX_VARS];
	char names[2 * MR_MAX_COMPONENTS + SE_MAX_PARAMS + MR_MAX_SERVICES][80];
	int n = 0;
	for (int k = 0; k < s->obs_dim; k++)
		cols[n] = se_obs_name(s, k, names[n], sizeof names[n]), n++;
	for (int c = 0; c < o->nact; c++) {
		snprintf(names[n], sizeof names[n], "%s%s",
			 o->incremental ? "move_" : "", o->act[c].name);
		cols[n] = names[n];
		n++;
	}
	mr_table t;
	mr_err e;
	if (mr_table_read(path, cols, (size_t)n, 0, &t, &e) != 0)
		mr_die(prog, &e);
	size_t ns = se_state_count(s);
	p->table = mr_xcalloc(ns * (size_t)o->nact, sizeof *p->table);
	for (size_t i = 0; i < ns * (size_t)o->nact; i++)
		p->table[i] = -1;
	for (size_t r = 0; r < t.nrows; r++) {
		const double *row = t.data + r * t.ncols;
		se_state st;
		memset(&st, 0, sizeof st);
		int k = 0, bad = -1;
		for (int j = 0; j < o->nserv && bad < 0; j++, k++)
			if ((st.lidx[j] = match_value(s->pat->levels[j],
						      s->pat->nlevels[j], row[k])) < 0)
				bad = k;
		for (int q = 0; q < o->nparam && bad < 0; q++, k++)
			if ((st.pidx[q] = match_value(o->param[q].levels,
						      o->param[q].nlevels, row[k])) < 0)
				bad = k;
		if (o->incremental)
			for (int c = 0; c < o->nact && bad < 0; c++, k++)
				if ((st.cidx[c] = match_value(o->act[c].values,
							      o->act[c].nvalues, row[k])) < 0)
					bad = k;
		int32_t a[MR_MAX_COMPONENTS];
		for (int c = 0; c < o->nact && bad < 0; c++, k++) {
			if (o->incremental)
				a[c] = move_of_delta(row[k]);
			else
				a[c] = match_value(o->act[c].values, o->act[c].nvalues, row[k]);
			if (a[c] < 0)
				bad = k;
		}
		if (bad >= 0)
			mr_fatal(prog, MR_EXIT_DATA,
				 "%s:%zu: column '%s': %g is not a level of this objective",
				 path, t.line[r], cols[bad], row[bad]);
		long idx = se_state_index(s, &st);
		memcpy(p->table + (size_t)idx * (size_t)o->nact, a,
		       (size_t)o->nact * sizeof *a);
	}
	mr_table_free(&t);
}

static void policy_act(policy *p, se_sim *s, mr_vecenv *v, int i)
{
	const mr_objective *o = s->o;
	int32_t *a = v->actions + (size_t)i * (size_t)v->ncomp;
	mr_err e;
	switch (p->kind) {
	case 0:
		memcpy(a, p->fixed, (size_t)o->nact * sizeof *a);
		break;
	case 1: {
		const uint8_t *m = v->masks + (size_t)i * (size_t)v->total_choices;
		for (int c = 0; c < o->nact; c++) {
			int allowed = 0;
			for (int k = 0; k < v->nchoices[c]; k++)
				allowed += m[k];
			int pick = (int)mr_rng_below(&p->rng, (uint64_t)allowed);
			for (int k = 0; k < v->nchoices[c]; k++)
				if (m[k] && pick-- == 0)
					a[c] = k;
			m += v->nchoices[c];
		}
		break;
	}
	case 2:
		if (se_optimum_act(s, &p->opt, i, a, &e) != 0)
			mr_die(prog, &e);
		break;
	case 3: {
		long idx = se_state_index(s, &s->st[i]);
		const int32_t *row = p->table + (size_t)idx * (size_t)o->nact;
		if (row[0] < 0) {
			se_state st = s->st[i];
			char b[32];
			fprintf(stderr, "%s: the table has no row for the state", prog);
			for (int j = 0; j < o->nserv; j++)
				fprintf(stderr, " load%d=%s", j + 1, mr_fmt_double(b, st.load[j]));
			fputc('\n', stderr);
			exit(MR_EXIT_DATA);
		}
		memcpy(a, row, (size_t)o->nact * sizeof *a);
		break;
	}
	}
}

/* ------------------------------------------------------------------------
 * Commands
 */
static int cmd_run(const mr_objective *o, const cli *c)
{
	mr_vecenv *v = open_env(o, c, c->envs, c->eval);
	se_sim *s = se_sim_of(v);
	policy p;
	memset(&p, 0, sizeof p);
	mr_rng_seed(&p.rng, c->seed, MR_STREAM_SIM_RANDOM);
	mr_err e;
	if (!c->actions)
		mr_usage_error(prog, "run needs --actions fixed:...|random|optimal|table:FILE");
	if (strncmp(c->actions, "fixed:", 6) == 0) {
		p.kind = 0;
		policy_fixed(&p, o, c->actions + 6);
	} else if (strcmp(c->actions, "random") == 0) {
		p.kind = 1;
	} else if (strcmp(c->actions, "optimal") == 0) {
		if (c->model_after)
			mr_usage_error(prog, "run --actions optimal: the optimum of one model; with --model-after use policy-eval sim (its optimal baseline switches at the change)");
		p.kind = 2;
		if (se_optimum_solve(s, &p.opt, &e) != 0)
			mr_die(prog, &e);
	} else if (strncmp(c->actions, "table:", 6) == 0) {
		p.kind = 3;
		policy_table(&p, s, c->actions + 6);
	} else {
		mr_usage_error(prog, "unknown --actions '%s' (fixed:NAME=V,..., random, optimal, table:FILE)",
			       c->actions);
	}
	long steps = c->steps > 0 ? c->steps : s->ep_len;
	mr_out out;
	if (mr_out_open(&out, c->output ? c->output : "-", &e) != 0)
		mr_die(prog, &e);
	FILE *f = out.f;
	fputs("step,env,", f);
	header_state(f, s);
	header_action(f, o);
	header_info(f, o);
	fputs(",reward,bound_met,done\n", f);
	if (v->reset(v, c->seed, &e) != 0)
		mr_die(prog, &e);
	se_state *before = mr_xcalloc((size_t)v->nenvs, sizeof *before);
	int32_t *cfg = mr_xcalloc((size_t)v->nenvs * (size_t)o->nact, sizeof *cfg);
	double sum = 0;
	long met = 0;
	for (long t = 0; t < steps; t++) {
		for (int i = 0; i < v->nenvs; i++) {
			policy_act(&p, s, v, i);
			before[i] = s->st[i];
			se_action_cfg(s, &before[i], v->actions + (size_t)i * (size_t)o->nact,
				      cfg + (size_t)i * (size_t)o->nact);
		}
		if (v->step(v, &e) != 0) {
			mr_out_abort(&out);
			mr_die(prog, &e);
		}
		for (int i = 0; i < v->nenvs; i++) {
			fprintf(f, "%ld,%d,", t, i);
			row_state(f, s, &before[i]);
			row_action(f, o, v->actions + (size_t)i * (size_t)o->nact,
				   cfg + (size_t)i * (size_t)o->nact);
			row_info(f, o, &v->info[i]);
			fputc(',', f);
			pnum_f32(f, v->rewards[i]);
			fprintf(f, ",%d,%d\n", v->info[i].bound_met, v->dones[i]);
			sum += v->rewards[i];
			met += v->info[i].bound_met;
		}
	}
	if (mr_out_commit(&out, &e) != 0)
		mr_die(prog, &e);
	if (!c->quiet)
		fprintf(stderr, "%s: %ld steps x %d envs: mean reward %.6g, bound met %.1f%%\n",
			prog, steps, v->nenvs, sum / ((double)steps * v->nenvs),
			100.0 * (double)met / ((double)steps * v->nenvs));
	warn_range(s, c->quiet);
	free(before);
	free(cfg);
	free(p.table);
	se_optimum_free(&p.opt);
	close_env(v);
	return 0;
}

/* The support columns of a chosen configuration: its trace windows and
 * the spread between trees; counts in *thin when fewer than min windows. */
static void row_support(FILE *f, se_sim *s, const se_support *sp,
			const se_state *st, const int32_t *cfg, int min,
			size_t *thin)
{
	double x[SE_MAX_FEAT], sd[SE_MAX_TARGETS];
	se_feature_row(s, st, cfg, x);
	size_t w = se_support_windows(sp, x);
	fprintf(f, ",%zu", w);
	*thin += w < (size_t)min;
	if (se_tree_spread(s, x, sd) == 0)
		for (int t = 0; t < s->o->ntarget; t++) {
			fputc(',', f);
			pnum(f, sd[t]);
		}
}

/* optimal: the table of every discrete state, its best action, reward
 * (and value, incremental), outcome and, with a trace, support. Returns
 * how many chosen actions rest on fewer than min windows. */
static size_t write_optimal_table(FILE *f, se_sim *s, const se_optimum *opt,
				  const se_support *sp, int min)
{
	const mr_objective *o = s->o;
	double y[SE_MAX_TARGETS];
	mr_step_info inf;
	int32_t cfg[MR_MAX_COMPONENTS];
	size_t thin = 0;
	header_state(f, s);
	header_action(f, o);
	fputs(",reward", f);
	if (o->incremental)
		fputs(",value", f);
	header_info(f, o);
	fputs(",bound_met", f);
	if (sp) {
		fputs(",windows", f);
		if (s->model.spread)
			for (int t = 0; t < o->ntarget; t++)
				fprintf(f, ",tree_sd_%s", o->target_name[t]);
	}
	fputc('\n', f);
	for (size_t i = 0; i < opt->nstates; i++) {
		se_state st;
		se_state_decode(s, i, &st);
		const int32_t *a = opt->best + i * (size_t)o->nact;
		se_action_cfg(s, &st, a, cfg);
		double r = se_outcome(s, &st, cfg, se_targets(s, &st, cfg, y), &inf);
		row_state(f, s, &st);
		row_action(f, o, a, cfg);
		fputc(',', f);
		pnum(f, r);
		if (o->incremental) {
			fputc(',', f);
			pnum(f, opt->value[i]);
		}
		row_info(f, o, &inf);
		fprintf(f, ",%d", inf.bound_met);
		if (sp)
			row_support(f, s, sp, &st, cfg, min, &thin);
		fputc('\n', f);
	}
	return thin;
}

/* The support trace of optimal: --trace, else the objective's trace when
 * it exists (a model fitted elsewhere then goes without support). */
static int open_support(const mr_objective *o, const cli *c, se_support *sp)
{
	const char *path = c->trace ? c->trace : o->trace;
	if (!path || (!c->trace && access(path, R_OK) != 0))
		return 0;
	mr_err e;
	if (se_support_open(o, path, sp, &e) != 0)
		mr_die(prog, &e);
	return 1;
}

static int cmd_optimal(const mr_objective *o, const cli *c)
{
	mr_vecenv *v = open_env(o, c, c->envs, 1);
	se_sim *s = se_sim_of(v);
	mr_err e;
	se_optimum opt;
	if (se_optimum_solve(s, &opt, &e) != 0)
		mr_die(prog, &e);
	mr_out out;
	if (mr_out_open(&out, c->output ? c->output : "-", &e) != 0)
		mr_die(prog, &e);
	FILE *f = out.f;
	int32_t cfg[MR_MAX_COMPONENTS];
	se_support sp;
	int has_sp = open_support(o, c, &sp);
	int min = c->min_windows ? c->min_windows : 3;
	size_t thin = 0;
	if (opt.nstates)
		thin = write_optimal_table(f, s, &opt, has_sp ? &sp : NULL, min);
	/* the mean over the evaluation episode(s), and for continuous loads
	 * the table of the states visited */
	if (v->reset(v, c->seed, &e) != 0)
		mr_die(prog, &e);
	if (!opt.nstates) {
		fputs("step,", f);
		header_state(f, s);
		header_action(f, o);
		fputs(",reward", f);
		header_info(f, o);
		fputs(",bound_met\n", f);
	}
	double sum = 0;
	long met = 0;
	for (int t = 0; t < s->ep_len; t++) {
		se_state st0 = s->st[0];
		for (int i = 0; i < v->nenvs; i++)
			if (se_optimum_act(s, &opt, i, v->actions + (size_t)i * (size_t)o->nact,
					   &e) != 0)
				mr_die(prog, &e);
		if (v->step(v, &e) != 0)
			mr_die(prog, &e);
		for (int i = 0; i < v->nenvs; i++) {
			sum += v->rewards[i];
			met += v->info[i].bound_met;
		}
		if (!opt.nstates) {
			fprintf(f, "%d,", t);
			row_state(f, s, &st0);
			se_action_cfg(s, &st0, v->actions, cfg);
			row_action(f, o, v->actions, cfg);
			fputc(',', f);
			pnum_f32(f, v->rewards[0]);
			row_info(f, o, &v->info[0]);
			fprintf(f, ",%d\n", v->info[0].bound_met);
		}
	}
	if (mr_out_commit(&out, &e) != 0)
		mr_die(prog, &e);
	double n = (double)s->ep_len * v->nenvs;
	if (!c->quiet) {
		fprintf(stderr, "%s: optimal mean reward per step over the evaluation episode (%d steps x %d envs): %.6f; bounds met %.1f%%",
			prog, s->ep_len, v->nenvs, sum / n, 100.0 * (double)met / n);
		if (o->incremental)
			fprintf(stderr, " (value iteration, gamma %g, %d sweeps)",
				opt.gamma, opt.iterations);
		fputc('\n', stderr);
	}
	if (has_sp && opt.nstates && (!c->quiet || thin))
		fprintf(stderr, "%s: %s%zu of %zu chosen actions rest on fewer than %d trace windows (%s)\n",
			prog, thin ? "warning: " : "", thin, opt.nstates, min,
			c->trace ? c->trace : o->trace);
	if (has_sp)
		se_support_free(&sp);
	if (c->summary) {
		char buf[512], a[32], b[32];
		int len = snprintf(buf, sizeof buf,
				   "objective,steps,envs,mean_reward,bound_met_frac\n%s,%d,%d,%s,%s\n",
				   o->name, s->ep_len, v->nenvs, mr_fmt_double(a, sum / n),
				   mr_fmt_double(b, (double)met / n));
		if (mr_write_file_atomic(c->summary, buf, (size_t)len, &e) != 0)
			mr_die(prog, &e);
	}
	se_optimum_free(&opt);
	close_env(v);
	return 0;
}

/* ------------------------------------------------------------------------
 * fidelity: the model's choices against the trace's own windows
 */

/* The seconds an unanswered request counts when reading the trace: the
 * first service's timeout (0: none). */
static double trace_timeout(const mr_objective *o)
{
	for (int j = 0; j < o->nserv; j++)
		if (o->timeout[j] > 0)
			return o->timeout[j];
	return 0;
}

/* One choice's columns: action, model targets, reward and met, windows, the trace's
 * mean and p90 per target, the objective's reward on the trace's means and
 * whether it met the bound there. *trace_r: that reward (NaN: no window). */
static void fidelity_choice(FILE *f, se_sim *s, const se_support *sp,
			    const se_state *st, const int32_t *cfg,
			    int *trace_met, double *trace_r, int *model_met)
{
	const mr_objective *o = s->o;
	double y[SE_MAX_TARGETS], x[SE_MAX_FEAT];
	mr_step_info inf;
	row_action(f, o, cfg, cfg);
	const double *pred = se_targets(s, st, cfg, y);
	double r = se_outcome(s, st, cfg, pred, &inf);
	*model_met = inf.bound_met;
	for (int t = 0; t < o->ntarget; t++) {
		fputc(',', f);
		pnum(f, pred[t]);
	}
	fputc(',', f);
	pnum(f, r);
	fprintf(f, ",%d", inf.bound_met);
	se_measured m;
	se_feature_row(s, st, cfg, x);
	se_support_measure(sp, o, x, trace_timeout(o), &m);
	fprintf(f, ",%zu", m.n);
	for (int t = 0; t < o->ntarget; t++) {
		fputc(',', f);
		pnum(f, m.mean[t]);
		fputc(',', f);
		pnum(f, m.p90[t]);
	}
	*trace_r = NAN;
	*trace_met = 0;
	if (m.n) {
		*trace_r = se_outcome(s, st, cfg, m.mean, &inf);
		*trace_met = inf.bound_met;
	}
	fputc(',', f);
	pnum(f, *trace_r);
	fprintf(f, ",%d", *trace_met);
}

static void fidelity_header(FILE *f, const mr_objective *o, const char *pre)
{
	for (int c = 0; c < o->nact; c++)
		fprintf(f, ",%s%s", pre, o->act[c].name);
	for (int t = 0; t < o->ntarget; t++)
		fprintf(f, ",%smodel_%s", pre, o->target_name[t]);
	fprintf(f, ",%smodel_reward,%smodel_met,%swindows", pre, pre, pre);
	for (int t = 0; t < o->ntarget; t++)
		fprintf(f, ",%smean_%s,%sp90_%s", pre, o->target_name[t], pre,
			o->target_name[t]);
	fprintf(f, ",%strace_reward,%strace_met", pre, pre);
}

static int cmd_fidelity(const mr_objective *o, const cli *c)
{
	if (o->incremental)
		mr_usage_error(prog, "fidelity: %s has incremental actions; fidelity compares absolute choices per state",
			       o->path);
	mr_vecenv *v = open_env(o, c, 1, 1);
	se_sim *s = se_sim_of(v);
	size_t ns = se_state_count(s);
	if (!ns)
		mr_fatal(prog, MR_EXIT_DATA, "fidelity: %s: the states are not discrete (a sin load?)",
			 o->path);
	const char *path = c->trace ? c->trace : o->trace;
	mr_err e;
	se_support sp;
	if (!path)
		mr_usage_error(prog, "fidelity: no --trace and no [model] trace in %s", o->path);
	if (se_support_measure_open(o, path, &sp, &e) != 0)
		mr_die(prog, &e);
	mr_out out;
	if (mr_out_open(&out, c->output ? c->output : "-", &e) != 0)
		mr_die(prog, &e);
	FILE *f = out.f;
	header_state(f, s);
	fidelity_header(f, o, "");
	fidelity_header(f, o, "runner_");
	fputs(",contradicted\n", f);
	size_t contra = 0, bare = 0;
	for (size_t i = 0; i < ns; i++) {
		se_state st;
		int32_t best[MR_MAX_COMPONENTS], runner[MR_MAX_COMPONENTS];
		double rr, tr, trr;
		int met, mmet, rmet, rmmet;
		se_state_decode(s, i, &st);
		se_best_two(s, &st, best, NULL, runner, &rr);
		if (s->nonfinite[0]) {
			se_nonfinite_error(s, &e);
			mr_out_abort(&out);
			mr_die(prog, &e);
		}
		row_state(f, s, &st);
		fidelity_choice(f, s, &sp, &st, best, &met, &tr, &mmet);
		fidelity_choice(f, s, &sp, &st, runner, &rmet, &trr, &rmmet);
		/* the trace says the choice misses a bound the model says it
		 * meets, or the runner-up did better in the trace */
		int bad = !isnan(tr) && ((mmet && !met) ||
					 (!isnan(trr) && trr > tr + 1e-9));
		fprintf(f, ",%d\n", bad);
		contra += bad;
		bare += isnan(tr);
	}
	if (mr_out_commit(&out, &e) != 0)
		mr_die(prog, &e);
	if (!c->quiet || contra || bare)
		fprintf(stderr, "%s: fidelity: %zu of %zu choices contradicted by the trace, %zu with no trace window (%s)\n",
			prog, contra, ns, bare, path);
	se_support_free(&sp);
	close_env(v);
	return 0;
}

static void print_list(char *const *v, int n, const char *sep)
{
	for (int i = 0; i < n; i++)
		printf("%s%s", i ? sep : "", v[i]);
	putchar('\n');
}

/* describe --get SECTION.KEY (k): the key as the objective parser reads
 * it, empty when absent. */
static void describe_get_key(const mr_objective *o, const char *k,
			     const char *dot)
{
	char sec[128], num[32];
	const char *v;
	if ((size_t)(dot - k) >= sizeof sec)
		mr_usage_error(prog, "--get '%s': no such section", k);
	memcpy(sec, k, (size_t)(dot - k));
	sec[dot - k] = 0;
	if (se_objective_get(o, sec, dot + 1, num, &v) != 0)
		mr_usage_error(prog, "--get '%s': '[%s]' is not a section of an objective",
			       k, sec);
	printf("%s\n", v ? v : "");
}

static void describe_get(const mr_objective *o, const char *k)
{
	const char *dot = strrchr(k, '.');
	if (dot)
		describe_get_key(o, k, dot);
	else if (strcmp(k, "name") == 0)
		printf("%s\n", o->name);
	else if (strcmp(k, "trace") == 0)
		printf("%s\n", o->trace ? o->trace : "");
	else if (strcmp(k, "model") == 0)
		printf("%s\n", o->model_file ? o->model_file : "");
	else if (strcmp(k, "features") == 0)
		print_list(o->feat_name, o->nfeat, ",");
	else if (strcmp(k, "targets") == 0)
		print_list(o->target_name, o->ntarget, ",");
	else if (strcmp(k, "fit-args") == 0)
		printf("%s\n", o->fit_args ? o->fit_args : "");
	else if (strcmp(k, "episode-length") == 0)
		printf("%d\n", mr_simenv_episode_length(o));
	else if (strcmp(k, "obs-dim") == 0)
		printf("%d\n", o->nserv + o->nparam + (o->incremental ? o->nact : 0));
	else if (strcmp(k, "action-kind") == 0)
		printf("%s\n", o->incremental ? "incremental" : "absolute");
	else if (strcmp(k, "actions") == 0) {
		for (int a = 0; a < o->nact; a++)
			printf("%s%s", a ? "," : "", o->act[a].name);
		putchar('\n');
	} else if (strcmp(k, "nchoices") == 0) {
		for (int a = 0; a < o->nact; a++)
			printf("%s%d", a ? "," : "",
			       o->incremental ? MR_NMOVES : o->act[a].nvalues);
		putchar('\n');
	} else
		mr_usage_error(prog, "unknown --get key '%s'", k);
}

/* describe's line for [model] risk: which targets at which quantile. */
static void describe_robust(const mr_objective *o)
{
	if (!(o->risk > 0))
		return;
	printf("robust: across the trees,");
	for (int t = 0; t < o->ntarget; t++)
		if (o->side[t]) /* percent, rounded: 1 - 0.9 is 0.0999... */
			printf(" %s at q%.4g", o->target_name[t],
			       100 * (o->side[t] > 0 ? o->risk : 1 - o->risk));
	putchar('\n');
}

/* describe's line for the served-share rule, per service that has it. */
static void describe_served(const mr_objective *o)
{
	char b[32], c[32];
	for (int j = 0; j < o->nserv; j++)
		if (o->rslot[SE_R_SERVED][j] >= 0)
			printf("lost requests, service %d: delay judged = served x delay + (1 - served) x %s s; bound met only when served >= %s\n",
			       j + 1, mr_fmt_double(b, o->timeout[j]),
			       mr_fmt_double(c, o->min_served));
}

static int cmd_describe(const mr_objective *o, const cli *c)
{
	mr_err e;
	/* what describe prints goes into make recipes and shell lines: the
	 * values are checked first (objective.c, "Values handed to
	 * pipelines"), whatever is asked */
	if (se_objective_check_values(o, &e) != 0)
		mr_die(prog, &e);
	if (c->model_args) {
		/* one line of rf-fit options, for $(...) in a Makefile */
		printf("--features ");
		for (int i = 0; i < o->nfeat; i++)
			printf("%s%s", i ? "," : "", o->feat_name[i]);
		printf(" --target ");
		for (int j = 0; j < o->ntarget; j++)
			printf("%s%s", j ? "," : "", o->target_name[j]);
		if (o->fit_args)
			printf(" %s", o->fit_args);
		putchar('\n');
		return 0;
	}
	if (c->get) {
		describe_get(o, c->get);
		return 0;
	}
	char b[32];
	printf("name: %s\nservices:", o->name);
	for (int j = 0; j < o->nserv; j++)
		printf(" %s (load%d)", o->serv_names[j], j + 1);
	printf("\nload pattern: %s; episode length %d steps\n", o->pattern.desc,
	       mr_simenv_episode_length(o));
	for (int k2 = 0; k2 < o->nparam; k2++) {
		printf("parameter %s:", o->param[k2].name);
		for (int i = 0; i < o->param[k2].nlevels; i++)
			printf(" %s", mr_fmt_double(b, o->param[k2].levels[i]));
		printf(" (drawn every %s)\n", o->param[k2].per_episode ? "episode" : "step");
	}
	printf("actions (%s):\n", o->incremental ? "incremental: stay/down/up" : "absolute");
	for (int a = 0; a < o->nact; a++) {
		printf("  %s:", o->act[a].name);
		for (int i = 0; i < o->act[a].nvalues; i++)
			printf(" %s", mr_fmt_double(b, o->act[a].values[i]));
		putchar('\n');
	}
	printf("model: %s %s; targets", o->model_kind == SE_MODEL_FOREST ? "forest" : "analytic",
	       o->model_file ? o->model_file : "");
	for (int j = 0; j < o->ntarget; j++)
		printf(" %s", o->target_name[j]);
	printf("\nfeatures:");
	for (int i = 0; i < o->nfeat; i++)
		printf(" %s", o->feat_name[i]);
	printf("\ntrace: %s\nreward: %s\n", o->trace ? o->trace : "(none)",
	       se_family_name(o->family));
	describe_robust(o);
	describe_served(o);
	return 0;
}

/* bench: steps per second with random actions */
static int cmd_bench(const mr_objective *o, const cli *c)
{
	mr_err e;
	mr_vecenv *v;
	char *argv[16];
	if (c->pipe) {
		char self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		if (n <= 0)
			mr_fatal(prog, MR_EXIT_IO, "cannot find my own executable");
		self[n] = 0;
		int k = 0;
		argv[k++] = self;
		argv[k++] = "serve";
		argv[k++] = (char *)c->objective;
		if (c->model) {
			argv[k++] = "--model";
			argv[k++] = (char *)c->model;
		}
		if (c->load) {
			argv[k++] = "--load";
			argv[k++] = (char *)c->load;
		}
		argv[k] = NULL;
		v = mr_pipeenv_open(argv, c->envs, c->seed, &e);
		if (!v)
			mr_die(prog, &e);
	} else {
		v = open_env(o, c, c->envs, 0);
		if (!c->quiet)
			fprintf(stderr, "%s: model: %s\n", prog, se_sim_of(v)->lookup);
	}
	long total = c->steps > 0 ? c->steps : 2000000;
	long iters = total / v->nenvs;
	if (iters < 1)
		iters = 1;
	/* a pool of random action batches, drawn up front so that the
	 * measurement is the simulator's (incremental objectives draw under
	 * the masks each step) */
	int pool = 256;
	size_t per = (size_t)v->nenvs * (size_t)v->ncomp;
	int32_t *acts = mr_xcalloc((size_t)pool * per, sizeof *acts);
	mr_rng rng;
	mr_rng_seed(&rng, c->seed, MR_STREAM_SIM_ACTIONS);
	for (size_t i = 0; i < (size_t)pool * per; i++)
		acts[i] = (int32_t)mr_rng_below(&rng, (uint64_t)v->nchoices[i % (size_t)v->ncomp]);
	if (v->reset(v, c->seed, &e) != 0)
		mr_die(prog, &e);
	double t0 = mr_now(), sum = 0;
	for (long it = 0; it < iters; it++) {
		if (o->incremental) {
			for (int i = 0; i < v->nenvs; i++) {
				const uint8_t *m = v->masks + (size_t)i * (size_t)v->total_choices;
				for (int cc = 0; cc < v->ncomp; cc++, m += MR_NMOVES) {
					int32_t a = (int32_t)mr_rng_below(&rng, MR_NMOVES);
					v->actions[(size_t)i * (size_t)v->ncomp + (size_t)cc] =
						m[a] ? a : MR_MOVE_STAY;
				}
			}
		} else {
			memcpy(v->actions, acts + (size_t)(it % pool) * per, per * sizeof *acts);
		}
		if (v->step(v, &e) != 0)
			mr_die(prog, &e);
		sum += v->rewards[0];
	}
	double dt = mr_now() - t0;
	double steps = (double)iters * v->nenvs;
	printf("steps,envs,seconds,steps_per_s,mean_reward_env0\n%.0f,%d,%.6f,%.0f,%.6g\n",
	       steps, v->nenvs, dt, steps / dt, sum / (double)iters);
	if (!c->pipe)
		warn_range(se_sim_of(v), c->quiet);
	free(acts);
	close_env(v);
	return 0;
}

/* serve: one reply per request frame, until close or end of input */
static int cmd_serve(const mr_objective *o, const cli *c)
{
	/* a client that goes away is the end of the session, not a crash */
	signal(SIGPIPE, SIG_IGN);
	static char inbuf[1 << 16], outbuf[1 << 16];
	setvbuf(stdin, inbuf, _IOFBF, sizeof inbuf);
	setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
	se_server *s = se_server_new(o, c->model, c->load);
	msgpack_sbuffer out;
	msgpack_sbuffer_init(&out);
	char *buf = NULL;
	size_t cap = 0, len;
	mr_err e;
	int rc = MR_EXIT_OK;
	for (;;) {
		int r = mr_frame_read(stdin, &buf, &cap, &len, &e);
		if (r == 0)
			break;
		if (r < 0) {
			/* the stream cannot be resynchronised: answer, then stop */
			msgpack_sbuffer_clear(&out);
			msgpack_packer pk;
			msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
			msgpack_pack_map(&pk, 2);
			mr_pk_str(&pk, "ok");
			msgpack_pack_false(&pk);
			mr_pk_kv_str(&pk, "error", e.msg);
			mr_err e2;
			(void)mr_frame_write(stdout, out.data, out.size, &e2);
			if (!c->quiet)
				fprintf(stderr, "%s: %s\n", prog, e.msg);
			rc = e.code;
			break;
		}
		msgpack_sbuffer_clear(&out);
		int done = se_server_handle(s, buf, len, &out);
		if (mr_frame_write(stdout, out.data, out.size, &e) != 0) {
			if (!c->quiet)
				fprintf(stderr, "%s: %s\n", prog, e.msg);
			rc = MR_EXIT_IO;
			break;
		}
		if (done)
			break;
	}
	free(buf);
	msgpack_sbuffer_destroy(&out);
	se_server_free(s);
	return rc;
}

int main(int argc, char **argv)
{
	mr_exit_on_signal(); /* exit 130, no temp files left */
	cli c = {.envs = 0, .seed = 1};
	static const struct option longopts[] = {
		{"model", required_argument, 0, 'm'},
		{"load", required_argument, 0, 'l'},
		{"envs", required_argument, 0, 'n'},
		{"steps", required_argument, 0, 's'},
		{"seed", required_argument, 0, 'S'},
		{"eval", no_argument, 0, 'E'},
		{"output", required_argument, 0, 'o'},
		{"summary", required_argument, 0, 'U'},
		{"trace", required_argument, 0, 'T'},
		{"min-windows", required_argument, 0, 'W'},
		{"actions", required_argument, 0, 'a'},
		{"model-args", no_argument, 0, 'M'},
		{"get", required_argument, 0, 'g'},
		{"pipe", no_argument, 0, 'P'},
		{"live", no_argument, 0, 'L'},
		{"model-after", required_argument, 0, 'A'},
		{"change-at", required_argument, 0, 'C'},
		{"quiet", no_argument, 0, 'q'},
		{"help", no_argument, 0, 'h'},
		{"version", no_argument, 0, 'V'},
		{0, 0, 0, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "o:qhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'm': c.model = optarg; break;
		case 'l': c.load = optarg; break;
		case 'n': c.envs = (int)mr_arg_int(prog, "--envs", optarg, 1, 1 << 20); break;
		case 's': c.steps = (long)mr_arg_int(prog, "--steps", optarg, 1, 1LL << 40); break;
		case 'S': c.seed = mr_arg_u64(prog, "--seed", optarg); break;
		case 'E': c.eval = 1; break;
		case 'o': c.output = optarg; break;
		case 'U': c.summary = optarg; break;
		case 'T': c.trace = optarg; break;
		case 'W': c.min_windows = (int)mr_arg_int(prog, "--min-windows", optarg, 1, 1 << 30); break;
		case 'a': c.actions = optarg; break;
		case 'M': c.model_args = 1; break;
		case 'g': c.get = optarg; break;
		case 'P': c.pipe = 1; break;
		case 'L': c.live = 1; break;
		case 'A': c.model_after = optarg; break;
		case 'C': c.change_at = (long)mr_arg_int(prog, "--change-at", optarg, 0, 1LL << 40); break;
		case 'q': c.quiet = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': mr_print_version(prog); return 0;
		default: usage(stderr); return MR_EXIT_USAGE;
		}
	}
	if (argc - optind != 2)
		mr_usage_error(prog, "expected a command and an objective file");
	c.cmd = argv[optind];
	c.objective = argv[optind + 1];
	static const char *cmds[] = {"serve", "optimal", "run", "describe", "bench",
				     "fidelity", NULL};
	int known = 0;
	for (int i = 0; cmds[i]; i++)
		known |= strcmp(cmds[i], c.cmd) == 0;
	if (!known)
		mr_usage_error(prog, "unknown command '%s' (serve, optimal, run, describe, bench, fidelity)",
			       c.cmd);
	if (!c.model_after && c.change_at > 0)
		mr_usage_error(prog, "--change-at needs --model-after");
	if (c.model_after && strcmp(c.cmd, "run") && strcmp(c.cmd, "bench"))
		mr_usage_error(prog, "--model-after: only run and bench simulate a change (policy-eval sim --model-after for the optimum)");
	if (!c.envs)
		c.envs = strcmp(c.cmd, "bench") == 0 ? 64 : 1;
	mr_err e;
	mr_objective *o = mr_objective_load(c.objective, &e);
	if (!o)
		mr_die(prog, &e);
	int rc;
	if (strcmp(c.cmd, "serve") == 0)
		rc = cmd_serve(o, &c);
	else if (strcmp(c.cmd, "optimal") == 0)
		rc = cmd_optimal(o, &c);
	else if (strcmp(c.cmd, "run") == 0)
		rc = cmd_run(o, &c);
	else if (strcmp(c.cmd, "describe") == 0)
		rc = cmd_describe(o, &c);
	else if (strcmp(c.cmd, "fidelity") == 0)
		rc = cmd_fidelity(o, &c);
	else
		rc = cmd_bench(o, &c);
	mr_objective_free(o);
	return rc;
}
