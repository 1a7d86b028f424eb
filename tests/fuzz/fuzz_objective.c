/* fuzz_objective.c - libFuzzer target for the objective parser, two ways:
 *
 * - arbitrary bytes as an objective file (paths resolve under a directory
 *   that does not exist);
 * - the nesting generator: the first bytes choose a depth (up to 131070,
 *   or up to 119 around the limit) and, per level, a construct (a
 *   parenthesis, unary - ! +, ^, ?:, a call), each inside the one before,
 *   placed in one of the expression sections of a small objective. Beyond
 *   SE_MAX_NEST levels the parser must refuse it (checked: a parse is a
 *   crash here); below, the expression runs.
 *
 * When the text parses, describe --get, the value check and the unseen load
 * pattern are read; when its model is analytic and small, the simulator is
 * opened and stepped a little so the expressions run too. Any other result
 * but a crash (or a leak) is fine. */
#include <stdlib.h>
#include <string.h>

#include "simenv_impl.h"

static void exercise(mr_objective *o)
{
	mr_err e;
	(void)mr_objective_param(o, "ppo", "lr");
	(void)se_objective_check_values(o, &e);
	/* describe --get, and [eval] unseen as a load pattern override
	 * (not a file: a fuzzed path could name a fifo) */
	char num[32];
	const char *val;
	(void)se_objective_get(o, "reward", "bound1", num, &val);
	if (se_objective_get(o, "eval", "unseen", num, &val) == 0 && val &&
	    (!strncmp(val, "sin:", 4) || !strncmp(val, "levels:", 7) ||
	     !strncmp(val, "constant:", 9))) {
		se_pattern p;
		(void)se_pattern_from_spec(val, o->nserv, &p, &e);
		se_pattern_free(&p);
	}
	size_t grid = 1;
	for (int c = 0; c < o->nact; c++)
		grid *= (size_t)o->act[c].nvalues;
	for (int k = 0; k < o->nparam; k++)
		grid *= (size_t)o->param[k].nlevels;
	for (int j = 0; j < o->nserv; j++)
		grid *= o->pattern.nlevels[j] ? (size_t)o->pattern.nlevels[j] : 1;
	if (o->model_kind != SE_MODEL_ANALYTIC || grid > 4096 ||
	    (o->incremental && grid > 512))
		return;
	mr_simenv_opts opts = {.nenvs = 2, .seed = 1};
	mr_vecenv *v = mr_simenv_open(o, &opts, &e);
	if (!v)
		return;
	if (v->reset(v, 3, &e) == 0)
		for (int t = 0; t < 8; t++) {
			for (int i = 0; i < v->nenvs * v->ncomp; i++)
				v->actions[i] = 0;
			if (v->step(v, &e) != 0)
				break;
		}
	double mean;
	if (grid <= 256)
		(void)mr_simenv_optimal_mean(o, &opts, &mean, &e);
	v->close(v);
	free(v);
}

/* The nesting generator's objective: KEY_PLACE is where the expression
 * goes; each place has its innermost operand. */
static const char *const place_key[] = {"k", "f", "d1", "v", "cost"};
static const char *const place_operand[] = {"2", "load1", "x", "p", "p"};

static void objective_text(char *buf, size_t size, int place, const char *x)
{
	const char *at[5];
	for (int i = 0; i < 5; i++)
		at[i] = i == place ? x : place_operand[i];
	snprintf(buf, size,
		 "name = nest\nservices = s\nepisode_length = 4\n"
		 "[load]\npattern = constant\nvalue = 5\n"
		 "[action p]\nvalues = 0..3\n"
		 "[const]\nk = %s\n"
		 "[model]\nkind = analytic\ntargets = d1\n"
		 "[features]\nx = p\nf = %s\n"
		 "[targets]\nd1 = %s\n"
		 "[vars]\nv = %s\n"
		 "[reward]\nfamily = delay-bound-cost\ndelay1 = d1 + 0 * (k + v)\n"
		 "bound1 = 0.5\nbudget = 1\ncost = %s\n",
		 at[0], at[1], at[2], at[3], at[4]);
}

static void append(char *x, size_t *n, const char *s)
{
	size_t l = strlen(s);
	memcpy(x + *n, s, l);
	*n += l;
}

static void nesting(const uint8_t *data, size_t size)
{
	/* "@": the place's operand ("p^p^...", "(p>1?(p>1?..."). Each
	 * construct holds the next one whole (?: binds loosest, so it is in
	 * parentheses): every construct is at least one level. */
	static const char *const open[] = {
		"(", "-", "!", "+", "abs(", "min(1,", "@^", "(@>1?", "clamp(",
		"pow(2,", "(1+",
	};
	static const char *const close[] = {
		")", "", "", "", ")", ")", "", ":0)", ",0,1)", ")", ")",
	};
	const size_t nshape = sizeof open / sizeof *open;
	if (size < 4)
		return;
	size_t depth = data[0] & 0x80 ? data[1] % 120u
				       : ((size_t)data[0] << 8 | data[1]) * 2;
	int place = data[2] % 5;
	const char *operand = place_operand[place];
	const uint8_t *pick = data + 3;
	size_t npick = size - 3, n = 0;
	char *x = malloc(depth * 16 + 64);
	if (!x)
		abort();
	for (size_t k = 0; k < depth; k++) {
		const char *o = open[pick[k % npick] % nshape];
		if (*o == '@') {
			append(x, &n, operand);
			o++;
		}
		append(x, &n, o);
	}
	append(x, &n, operand);
	for (size_t k = depth; k-- > 0;)
		append(x, &n, close[pick[k % npick] % nshape]);
	x[n] = 0;
	size_t tsize = n + 1024;
	char *text = malloc(tsize);
	if (!text)
		abort();
	objective_text(text, tsize, place, x);
	mr_err e;
	mr_objective *o = se_objective_parse(text, strlen(text), "nest.obj",
					     "/nonexistent-fuzz-dir", &e);
	/* every construct nests through the parser's level counter */
	if (o && depth > SE_MAX_NEST)
		__builtin_trap();
	if (o) {
		exercise(o);
		mr_objective_free(o);
	}
	free(text);
	free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mr_err e;
	mr_objective *o = se_objective_parse((const char *)data, size, "fuzz.obj",
					     "/nonexistent-fuzz-dir", &e);
	if (o) {
		exercise(o);
		mr_objective_free(o);
	}
	nesting(data, size);
	return 0;
}
