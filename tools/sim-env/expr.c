/*
 * expr.c - the objective files' expression language: a recursive-descent
 * compiler to stack code, with constant folding, and its evaluator.
 *
 * Evaluation allocates nothing and cannot fail (IEEE arithmetic: a division
 * by zero gives inf; the simulator checks every value it evaluates and
 * names the expression's line when one is not finite). There are no
 * user-defined functions, loops or assignments: an expression is a formula.
 * The compiler bounds its recursion (SE_MAX_NEST) and output (SE_MAX_INS),
 * so no text can exhaust the C stack or memory.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simenv_impl.h"

#define SE_STR_(x) #x
#define SE_STR(x) SE_STR_(x)

typedef struct {
	const char *s, *p;
	se_resolver res;
	void *ctx;
	se_ins *ins;
	int n, cap, depth, maxdepth;
	int nest; /* recursion level (parse_unary, ?: branches) */
	mr_err *e;
	int failed;
} cc;

static int fail(cc *c, const char *why)
{
	if (!c->failed) {
		c->failed = 1;
		if (*c->p)
			mr_errf(c->e, MR_EXIT_DATA, "%s at '%.40s'", why, c->p);
		else
			mr_errf(c->e, MR_EXIT_DATA, "%s at the end", why);
	}
	return -1;
}

static void skip_ws(cc *c)
{
	while (*c->p == ' ' || *c->p == '\t')
		c->p++;
}

static int stack_fx(int op)
{
	switch (op) {
	case SE_CONST: case SE_VAR: return 1;
	case SE_NEG: case SE_NOT: case SE_ABS: case SE_EXP: case SE_LOG:
	case SE_SQRT: case SE_LOGISTIC: case SE_FLOOR: case SE_CEIL: return 0;
	case SE_SEL: case SE_CLAMP: return -2;
	default: return -1;
	}
}

static int nargs(int op)
{
	int fx = stack_fx(op);
	return fx == 1 ? 0 : 1 - fx;
}

static double apply(int op, const double *a)
{
	switch (op) {
	case SE_ADD: return a[0] + a[1];
	case SE_SUB: return a[0] - a[1];
	case SE_MUL: return a[0] * a[1];
	case SE_DIV: return a[0] / a[1];
	case SE_POW: return pow(a[0], a[1]);
	case SE_NEG: return -a[0];
	case SE_NOT: return a[0] == 0;
	case SE_LT: return a[0] < a[1];
	case SE_LE: return a[0] <= a[1];
	case SE_GT: return a[0] > a[1];
	case SE_GE: return a[0] >= a[1];
	case SE_EQ: return a[0] == a[1];
	case SE_NE: return a[0] != a[1];
	case SE_AND: return (a[0] != 0) && (a[1] != 0);
	case SE_OR: return (a[0] != 0) || (a[1] != 0);
	case SE_SEL: return a[0] != 0 ? a[1] : a[2];
	case SE_MIN: return a[0] < a[1] ? a[0] : a[1];
	case SE_MAX: return a[0] > a[1] ? a[0] : a[1];
	case SE_ABS: return fabs(a[0]);
	case SE_EXP: return exp(a[0]);
	case SE_LOG: return log(a[0]);
	case SE_SQRT: return sqrt(a[0]);
	case SE_CLAMP: return a[0] < a[1] ? a[1] : (a[0] > a[2] ? a[2] : a[0]);
	case SE_LOGISTIC: return 1.0 / (1.0 + exp(-a[0]));
	case SE_FLOOR: return floor(a[0]);
	case SE_CEIL: return ceil(a[0]);
	}
	return NAN;
}

/* Appends one instruction; an operator whose operands are all constants
 * is folded: each operand is then exactly one SE_CONST at the end. */
static int put(cc *c, int op, int slot, double k)
{
	if (c->failed)
		return -1;
	int na = nargs(op);
	if (op != SE_CONST && op != SE_VAR && c->n >= na) {
		int all = 1;
		for (int i = c->n - na; i < c->n; i++)
			all &= c->ins[i].op == SE_CONST;
		double a[3];
		for (int i = 0; all && i < na; i++)
			a[i] = c->ins[c->n - na + i].k;
		/* a fold that is not a number stays code: "k > 0 ? 1/k : 0"
		 * with k = 0 is fine; se_compile checks the whole */
		if (all && isfinite(k = apply(op, a))) {
			c->n -= na;
			c->depth -= na;
			op = SE_CONST;
		} else {
			k = 0;
		}
	}
	if (c->n >= SE_MAX_INS)
		return fail(c, "expression too long (more than "
			       SE_STR(SE_MAX_INS) " operations)");
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->ins = mr_xrealloc(c->ins, (size_t)c->cap, sizeof *c->ins);
	}
	c->ins[c->n++] = (se_ins){op, slot, k};
	c->depth += stack_fx(op);
	if (c->depth > c->maxdepth)
		c->maxdepth = c->depth;
	if (c->maxdepth > SE_STACK)
		return fail(c, "expression too deeply nested (more than "
			       SE_STR(SE_STACK) " values held at once)");
	return 0;
}

static int parse_ternary(cc *c);
static int parse_unary(cc *c);

static int parse_primary(cc *c)
{
	skip_ws(c);
	if (c->failed)
		return -1;
	const char *p = c->p;
	if (*p == '(') {
		c->p++;
		if (parse_ternary(c) != 0)
			return -1;
		skip_ws(c);
		if (*c->p != ')')
			return fail(c, "expected ')'");
		c->p++;
		return 0;
	}
	if (isdigit((unsigned char)*p) || *p == '.') {
		char *end;
		double v = strtod(p, &end);
		if (end == p || !isfinite(v))
			return fail(c, "bad number");
		c->p = end;
		return put(c, SE_CONST, 0, v);
	}
	if (isalpha((unsigned char)*p) || *p == '_') {
		char name[64];
		size_t n = 0;
		while (isalnum((unsigned char)p[n]) || p[n] == '_') {
			if (n + 1 >= sizeof name)
				return fail(c, "name too long");
			name[n] = p[n];
			n++;
		}
		name[n] = 0;
		c->p = p + n;
		skip_ws(c);
		if (*c->p == '(') {
			static const struct { const char *name; int op, min, max; } fn[] = {
				{"min", SE_MIN, 2, 16}, {"max", SE_MAX, 2, 16},
				{"abs", SE_ABS, 1, 1}, {"exp", SE_EXP, 1, 1},
				{"log", SE_LOG, 1, 1}, {"sqrt", SE_SQRT, 1, 1},
				{"pow", SE_POW, 2, 2}, {"clamp", SE_CLAMP, 3, 3},
				{"logistic", SE_LOGISTIC, 1, 1},
				{"floor", SE_FLOOR, 1, 1}, {"ceil", SE_CEIL, 1, 1},
			};
			int f = -1;
			for (size_t i = 0; i < sizeof fn / sizeof fn[0]; i++)
				if (strcmp(fn[i].name, name) == 0)
					f = (int)i;
			if (f < 0) {
				c->p = p;
				return fail(c, "unknown function");
			}
			c->p++;
			int args = 0;
			skip_ws(c);
			if (*c->p != ')') {
				for (;;) {
					if (parse_ternary(c) != 0)
						return -1;
					args++;
					/* min/max of many: fold pairwise */
					if ((fn[f].op == SE_MIN || fn[f].op == SE_MAX) &&
					    args >= 2 && put(c, fn[f].op, 0, 0) != 0)
						return -1;
					skip_ws(c);
					if (*c->p == ',') {
						c->p++;
						continue;
					}
					break;
				}
			}
			if (*c->p != ')')
				return fail(c, "expected ',' or ')' in a function call");
			c->p++;
			if (args < fn[f].min || args > fn[f].max) {
				c->p = p;
				return fail(c, "wrong number of arguments");
			}
			if (fn[f].op != SE_MIN && fn[f].op != SE_MAX)
				return put(c, fn[f].op, 0, 0);
			return 0;
		}
		double k = 0;
		int slot = c->res(c->ctx, name, &k);
		if (slot == -2)
			return put(c, SE_CONST, 0, k);
		if (slot < 0) {
			c->p = p;
			return fail(c, "unknown name");
		}
		return put(c, SE_VAR, slot, 0);
	}
	return fail(c, "expected a number, a name or '('");
}

static int parse_unary_in(cc *c)
{
	skip_ws(c);
	if (*c->p == '-' || *c->p == '!' || *c->p == '+') {
		char op = *c->p++;
		if (parse_unary(c) != 0)
			return -1;
		return op == '+' ? 0 : put(c, op == '-' ? SE_NEG : SE_NOT, 0, 0);
	}
	if (parse_primary(c) != 0)
		return -1;
	skip_ws(c);
	if (*c->p == '^') {
		c->p++;
		if (parse_unary(c) != 0)
			return -1;
		return put(c, SE_POW, 0, 0);
	}
	return 0;
}

/* One level deeper (a failure ends the compilation: no way back up). */
static int deeper(cc *c)
{
	if (c->nest >= SE_MAX_NEST)
		return fail(c, "expression nested too deeply (more than "
			       SE_STR(SE_MAX_NEST) " levels)");
	c->nest++;
	return 0;
}

/* Every recursion of the grammar but ?:'s (a unary operator, ^,
 * parentheses, a call's arguments) passes here: with parse_ternary's, one
 * level counter bounds them all. */
static int parse_unary(cc *c)
{
	if (deeper(c) != 0)
		return -1;
	int rc = parse_unary_in(c);
	c->nest--;
	return rc;
}

static int parse_mul(cc *c)
{
	if (parse_unary(c) != 0)
		return -1;
	for (;;) {
		skip_ws(c);
		char op = *c->p;
		if (op != '*' && op != '/')
			return 0;
		c->p++;
		if (parse_unary(c) != 0)
			return -1;
		if (put(c, op == '*' ? SE_MUL : SE_DIV, 0, 0) != 0)
			return -1;
	}
}

static int parse_add(cc *c)
{
	if (parse_mul(c) != 0)
		return -1;
	for (;;) {
		skip_ws(c);
		char op = *c->p;
		if (op != '+' && op != '-')
			return 0;
		c->p++;
		if (parse_mul(c) != 0)
			return -1;
		if (put(c, op == '+' ? SE_ADD : SE_SUB, 0, 0) != 0)
			return -1;
	}
}

static int parse_cmp(cc *c)
{
	if (parse_add(c) != 0)
		return -1;
	skip_ws(c);
	static const struct { const char *t; int op; } ops[] = {
		{"<=", SE_LE}, {">=", SE_GE}, {"==", SE_EQ}, {"!=", SE_NE},
		{"<", SE_LT}, {">", SE_GT},
	};
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		size_t l = strlen(ops[i].t);
		if (strncmp(c->p, ops[i].t, l) == 0) {
			c->p += l;
			if (parse_add(c) != 0)
				return -1;
			return put(c, ops[i].op, 0, 0);
		}
	}
	return 0;
}

static int parse_and(cc *c)
{
	if (parse_cmp(c) != 0)
		return -1;
	for (;;) {
		skip_ws(c);
		if (strncmp(c->p, "&&", 2) != 0)
			return 0;
		c->p += 2;
		if (parse_cmp(c) != 0 || put(c, SE_AND, 0, 0) != 0)
			return -1;
	}
}

static int parse_or(cc *c)
{
	if (parse_and(c) != 0)
		return -1;
	for (;;) {
		skip_ws(c);
		if (strncmp(c->p, "||", 2) != 0)
			return 0;
		c->p += 2;
		if (parse_and(c) != 0 || put(c, SE_OR, 0, 0) != 0)
			return -1;
	}
}

/* The branches of c ? a : b are a level deeper (they recurse here, not
 * through parse_unary). */
static int parse_ternary(cc *c)
{
	if (parse_or(c) != 0)
		return -1;
	skip_ws(c);
	if (*c->p != '?')
		return 0;
	c->p++;
	if (deeper(c) != 0 || parse_ternary(c) != 0)
		return -1;
	skip_ws(c);
	if (*c->p != ':')
		return fail(c, "expected ':' of 'c ? a : b'");
	c->p++;
	if (parse_ternary(c) != 0)
		return -1;
	c->nest--;
	return put(c, SE_SEL, 0, 0);
}

static int reads_names(const se_ins *ins, int n)
{
	for (int i = 0; i < n; i++)
		if (ins[i].op == SE_VAR)
			return 1;
	return 0;
}

int se_compile(const char *text, se_resolver res, void *ctx, se_expr *x,
	       mr_err *e)
{
	cc c = {.s = text, .p = text, .res = res, .ctx = ctx, .e = e};
	memset(x, 0, sizeof *x);
	if (parse_ternary(&c) == 0) {
		skip_ws(&c);
		if (*c.p)
			fail(&c, "unexpected text");
	}
	if (!c.failed && !reads_names(c.ins, c.n)) {
		se_expr k = {.ins = c.ins, .n = c.n};
		double v = se_eval(&k, NULL);
		if (!isfinite(v)) {
			char b[32];
			mr_errf(e, MR_EXIT_DATA, "gives %s, not a finite number, in every state",
				mr_fmt_double(b, v));
			c.failed = 1;
		}
	}
	if (c.failed) {
		free(c.ins);
		return -1;
	}
	x->ins = c.ins;
	x->n = c.n;
	return 0;
}

double se_eval(const se_expr *x, const double *vars)
{
	double st[SE_STACK];
	int sp = 0;
	for (int i = 0; i < x->n; i++) {
		const se_ins *in = &x->ins[i];
		switch (in->op) {
		case SE_CONST: st[sp++] = in->k; break;
		case SE_VAR: st[sp++] = vars[in->slot]; break;
		case SE_ADD: sp--; st[sp - 1] += st[sp]; break;
		case SE_SUB: sp--; st[sp - 1] -= st[sp]; break;
		case SE_MUL: sp--; st[sp - 1] *= st[sp]; break;
		case SE_DIV: sp--; st[sp - 1] /= st[sp]; break;
		default: {
			int na = nargs(in->op);
			sp -= na;
			st[sp] = apply(in->op, st + sp);
			sp++;
		}
		}
	}
	return sp == 1 ? st[0] : NAN;
}

void se_expr_free(se_expr *x)
{
	free(x->ins);
	x->ins = NULL;
	x->n = 0;
}

int se_uses(const se_expr *x, int slot)
{
	for (int i = 0; i < x->n; i++)
		if (x->ins[i].op == SE_VAR && x->ins[i].slot == slot)
			return 1;
	return 0;
}

int se_is_const(const se_expr *x, double *k)
{
	if (x->n == 1 && x->ins[0].op == SE_CONST) {
		*k = x->ins[0].k;
		return 1;
	}
	return 0;
}
