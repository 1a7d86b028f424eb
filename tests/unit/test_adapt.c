/* test_adapt.c - online adaptation (tools/adapt): the CUSUM change
 * detector's delay and false alarms on synthetic residuals, and rollout
 * against the one-step (and l-step) improvement computed here by hand on
 * tiny MDPs: chosen action and Q values, masks, the component-wise variant
 * on a separable problem, Monte-Carlo determinism. Prints (does not assert)
 * the controller's cost per decision. */
#include <math.h>
#include <string.h>

#include "adapt.h"
#include "check.h"

/* ------------------------------------------------------------------------
 * Change detection
 */
#define SHIFT 2.0 /* the step change, in residual scales */

static void test_detector_args(void)
{
	mr_change_detector d;
	mr_err e = {0};
	double bad_scale[2] = {1, 0};

	CHECK(mr_change_detector_init(&d, 0, NULL, 0.5, 8, &e) == -1 &&
	      e.code == MR_EXIT_USAGE, "detector: 0 channels refused");
	CHECK(mr_change_detector_init(&d, 2, bad_scale, 0.5, 8, &e) == -1 &&
	      strstr(e.msg, "channel 1"), "detector: scale 0 refused: %s",
	      e.msg);
	CHECK(mr_change_detector_init(&d, 1, NULL, 0.5, 0, &e) == -1,
	      "detector: h 0 refused");
	CHECK(mr_change_detector_init(&d, 1, NULL, -1, 8, &e) == -1,
	      "detector: negative delta refused");
}

static void test_detector_basics(void)
{
	mr_change_detector d;
	mr_err e = {0};
	double scale[2] = {0.01, 1}, r[2];

	CHECK(mr_change_detector_init(&d, 2, scale, MR_CUSUM_DELTA,
				      MR_CUSUM_H, &e) == 0, "detector: init");
	/* 0.03 s late per window on channel 0 = 3 scales: 8 / 2.5 -> 4th */
	int at = 0;
	for (int t = 1; t <= 10 && !at; t++) {
		r[0] = 0.03;
		r[1] = NAN; /* nothing measured: unchanged */
		if (mr_change_detector_update(&d, r))
			at = t;
	}
	CHECK(at == 4 && d.channel == 0 && d.down[1] == 0 && d.up[1] == 0,
	      "detector: a 3-scale shift alarms in window 4 (got %d), on "
	      "channel 0, NaN leaves channel 1 alone", at);
	mr_change_detector_reset(&d);
	CHECK(d.windows == 0 && d.up[0] == 0 && d.channel == -1,
	      "detector: reset clears the statistics");
	at = 0;
	for (int t = 1; t <= 10 && !at; t++) {
		r[0] = 0;
		r[1] = -3;
		if (mr_change_detector_update(&d, r))
			at = t;
	}
	CHECK(at == 4 && d.channel == 1,
	      "detector: a downward shift on channel 1 alarms too (%d)", at);
}

/* Mean detection delay of a SHIFT step on channel 0 of 2, over trials
 * that start after 50 unchanged windows; counts early alarms. */
static void test_detector_delay(void)
{
	mr_change_detector d;
	mr_err e = {0};
	mr_rng rng;
	const int trials = 1000;
	long total = 0, worst = 0, early = 0, wrong = 0;
	double r[2];

	mr_rng_seed(&rng, 16, 1);
	mr_change_detector_init(&d, 2, NULL, MR_CUSUM_DELTA, MR_CUSUM_H, &e);
	for (int k = 0; k < trials; k++) {
		mr_change_detector_reset(&d);
		for (int t = 0; t < 50; t++) {
			r[0] = mr_rng_normal(&rng);
			r[1] = mr_rng_normal(&rng);
			if (mr_change_detector_update(&d, r)) {
				early++;
				mr_change_detector_reset(&d);
			}
		}
		long delay = 0;
		do {
			r[0] = SHIFT + mr_rng_normal(&rng);
			r[1] = mr_rng_normal(&rng);
			delay++;
		} while (!mr_change_detector_update(&d, r) && delay < 1000);
		wrong += d.channel != 0;
		total += delay;
		if (delay > worst)
			worst = delay;
	}
	double mean = (double)total / trials;
	double expect = (MR_CUSUM_H + 1.166) / (SHIFT - MR_CUSUM_DELTA);
	printf("# detector: shift %.1f scales, delta %.2f, h %.1f: mean delay "
	       "%.2f windows (approximation %.2f), worst %ld, %ld early "
	       "alarms in %d x 50 windows\n", SHIFT, MR_CUSUM_DELTA,
	       MR_CUSUM_H, mean, expect, worst, early, trials);
	CHECK(mean >= expect - 1.5 && mean <= expect + 1.5,
	      "detector: mean delay %.2f windows within 1.5 of %.2f", mean,
	      expect);
	CHECK(worst <= 3 * expect, "detector: worst delay %ld <= %.1f",
	      worst, 3 * expect);
	CHECK(wrong <= trials / 100, "detector: %ld alarms of %d on the "
	      "unchanged channel (<= 1%%)", wrong, trials);
}

/* False alarms per 1,000 windows of unchanged N(0, 1) residuals. */
static double false_alarms(int nchannels, double h, long windows)
{
	mr_change_detector d;
	mr_err e = {0};
	mr_rng rng;
	double r[MR_ADAPT_MAX_CHANNELS];
	long alarms = 0;

	mr_rng_seed(&rng, 16, 2);
	mr_change_detector_init(&d, nchannels, NULL, MR_CUSUM_DELTA, h, &e);
	for (long t = 0; t < windows; t++) {
		for (int i = 0; i < nchannels; i++)
			r[i] = mr_rng_normal(&rng);
		if (mr_change_detector_update(&d, r)) {
			alarms++;
			mr_change_detector_reset(&d);
		}
	}
	return 1000.0 * (double)alarms / (double)windows;
}

static void test_detector_false_alarms(void)
{
	double fa = false_alarms(2, MR_CUSUM_H, 400000);
	double loose = false_alarms(2, 2.0, 100000);

	printf("# detector: false alarms per 1000 windows, 2 channels: "
	       "%.3f at h %.1f, %.1f at h 2\n", fa, MR_CUSUM_H, loose);
	/* Siegmund: one channel about once in 9,500 windows, two in 4,750:
	 * 0.21 per 1000 expected */
	CHECK(fa < 0.5, "detector: %.3f false alarms per 1000 windows (< 0.5)",
	      fa);
	CHECK(loose > 20, "detector: at h 2 the same noise alarms often "
	      "(%.1f per 1000), so the count measures something", loose);
}

/* ------------------------------------------------------------------------
 * A tiny MDP with interacting components: 7 states, 2 components of 3 and
 * 4 choices, deterministic transitions, random reward and value tables.
 */
#define NS 7
#define C0 3
#define C1 4

typedef struct {
	double reward[NS][C0][C1];
	double value[NS];
	double noise;  /* sd of a reward noise (Monte-Carlo tests) */
	int masked;    /* apply mask_tiny */
	int fail_step; /* the step fails (error path) */
} tiny;

typedef struct {
	int s;
} tiny_state;

static int tiny_next(int s, int a0, int a1)
{
	return (3 * s + a0 + 2 * a1 + 1) % NS;
}

static int tiny_step(void *ctx, const void *s, const int32_t *a, mr_rng *rng,
		     double *reward, void *next, mr_err *e)
{
	tiny *t = ctx;
	int x = ((const tiny_state *)s)->s;

	if (t->fail_step)
		return mr_errf(e, MR_EXIT_DATA, "no model");
	*reward = t->reward[x][a[0]][a[1]];
	if (t->noise > 0)
		*reward += t->noise * mr_rng_normal(rng);
	((tiny_state *)next)->s = tiny_next(x, a[0], a[1]);
	return 0;
}

static void tiny_base_of(int s, int32_t *a)
{
	a[0] = s % C0;
	a[1] = (s + 1) % C1;
}

static int tiny_base(void *ctx, const void *s, int32_t *a, mr_err *e)
{
	(void)ctx, (void)e;
	tiny_base_of(((const tiny_state *)s)->s, a);
	return 0;
}

static int tiny_value(void *ctx, const void *s, double *v, mr_err *e)
{
	(void)e;
	*v = ((tiny *)ctx)->value[((const tiny_state *)s)->s];
	return 0;
}

static int tiny_allowed(int s, int i, int c)
{
	if (i == 0)
		return !(s % 2 == 0 && c == 2);
	return c != s % C1;
}

static int tiny_mask(void *ctx, const void *s, uint8_t *mask, mr_err *e)
{
	int x = ((const tiny_state *)s)->s;

	(void)e;
	for (int c = 0; c < C0 + C1; c++)
		mask[c] = !((tiny *)ctx)->masked ||
			  tiny_allowed(x, c >= C0, c >= C0 ? c - C0 : c);
	return 0;
}

static void tiny_init(tiny *t, uint64_t seed)
{
	mr_rng rng;

	memset(t, 0, sizeof *t);
	mr_rng_seed(&rng, seed, 0);
	for (int s = 0; s < NS; s++) {
		for (int a = 0; a < C0; a++)
			for (int b = 0; b < C1; b++)
				t->reward[s][a][b] = mr_rng_uniform(&rng);
		t->value[s] = 5 * mr_rng_uniform(&rng);
	}
}

static mr_adapt_model tiny_model(tiny *t)
{
	mr_adapt_model m = {
		.ncomp = 2, .nchoices = {C0, C1},
		.state_size = sizeof(tiny_state),
		.ctx = t, .step = tiny_step, .base = tiny_base,
		.value = tiny_value, .mask = tiny_mask,
	};
	return m;
}

/* Q by hand: the first action, then l - 1 base actions, then V. */
static double tiny_q(const tiny *t, int s, int a0, int a1, int l,
		     double gamma)
{
	double q = 0, disc = 1;
	int32_t a[2] = {a0, a1};

	for (int k = 0; k < l; k++) {
		if (k > 0)
			tiny_base_of(s, a);
		q += disc * t->reward[s][a[0]][a[1]];
		disc *= gamma;
		s = tiny_next(s, a[0], a[1]);
	}
	return q + disc * t->value[s];
}

/* Rollout (joint) against the exhaustive improvement over every state. */
static void check_tiny_joint(tiny *t, int l, double gamma, const char *what)
{
	mr_adapt_model m = tiny_model(t);
	mr_rollout_opts o = {.lookahead = l, .runs = 1, .gamma = gamma};
	mr_err e = {0};
	mr_rollout *r = mr_rollout_new(&m, &o, &e);
	int act_ok = 1, q_ok = 1, count_ok = 1;
	double worst = 0;

	if (!r) {
		CHECK(0, "%s: rollout_new: %s", what, e.msg);
		return;
	}
	for (int s = 0; s < NS; s++) {
		tiny_state st = {s};
		int32_t got[2];
		long n = 0;
		int best0 = -1, best1 = -1, allowed = 0;
		double best = -INFINITY;
		for (int a0 = 0; a0 < C0; a0++)
			for (int a1 = 0; a1 < C1; a1++) {
				int ok = !t->masked ||
					 (tiny_allowed(s, 0, a0) &&
					  tiny_allowed(s, 1, a1));
				double q = tiny_q(t, s, a0, a1, l, gamma), rq;
				int32_t a[2] = {a0, a1};
				if (mr_rollout_q(r, &st, a, &rq, &e))
					q_ok = 0;
				worst = fmax(worst, fabs(rq - q));
				if (!ok)
					continue;
				allowed++;
				if (q > best) {
					best = q;
					best0 = a0;
					best1 = a1;
				}
			}
		if (mr_rollout_act(r, &st, got, &n, &e))
			act_ok = 0;
		if (got[0] != best0 || got[1] != best1)
			act_ok = 0;
		if (n != allowed)
			count_ok = 0;
	}
	CHECK(q_ok && worst < 1e-12, "%s: Q(s, a) equals the hand-computed "
	      "value for all %d state-actions (max diff %.1e)", what,
	      NS * C0 * C1, worst);
	CHECK(act_ok, "%s: the chosen action is the argmax over admissible "
	      "actions in every state", what);
	CHECK(count_ok, "%s: one Q per admissible joint action", what);
	mr_rollout_free(r);
}

static void test_rollout_exact(void)
{
	tiny t;

	tiny_init(&t, 1);
	check_tiny_joint(&t, 1, 0.9, "one-step");
	check_tiny_joint(&t, 3, 0.9, "l=3");
	check_tiny_joint(&t, 2, 0.0, "gamma 0");
	t.masked = 1;
	check_tiny_joint(&t, 1, 0.95, "one-step, masked");
	check_tiny_joint(&t, 4, 0.95, "l=4, masked");
}

/* By hand: the best return of k more steps from s, each step's action
 * searched over the admissible ones for the first d, then the base
 * policy's to l steps, then V. */
static double tiny_search(const tiny *t, int s, int k, int d, int l,
			  double gamma)
{
	double best = -INFINITY;

	if (k >= d) {
		double q = 0, disc = 1;
		int32_t a[2];
		for (; k < l; k++) {
			tiny_base_of(s, a);
			q += disc * t->reward[s][a[0]][a[1]];
			disc *= gamma;
			s = tiny_next(s, a[0], a[1]);
		}
		return q + disc * t->value[s];
	}
	for (int a0 = 0; a0 < C0; a0++)
		for (int a1 = 0; a1 < C1; a1++) {
			if (t->masked && !(tiny_allowed(s, 0, a0) &&
					   tiny_allowed(s, 1, a1)))
				continue;
			double q = t->reward[s][a0][a1] + gamma *
				   tiny_search(t, tiny_next(s, a0, a1), k + 1,
					       d, l, gamma);
			best = fmax(best, q);
		}
	return best;
}

/* Multistep lookahead (depth d): Q(s, a) is the first action's reward
 * plus the searched rest, computed by an independent recursion. */
static void check_tiny_depth(tiny *t, int d, int l, const char *what)
{
	mr_adapt_model m = tiny_model(t);
	mr_rollout_opts o = {.lookahead = l, .depth = d, .runs = 1,
			     .gamma = 0.9};
	mr_err e = {0};
	mr_rollout *r = mr_rollout_new(&m, &o, &e);
	double worst = 0;
	int q_ok = 1;

	if (!r) {
		CHECK(0, "%s: rollout_new: %s", what, e.msg);
		return;
	}
	for (int s = 0; s < NS; s++)
		for (int a0 = 0; a0 < C0; a0++)
			for (int a1 = 0; a1 < C1; a1++) {
				tiny_state st = {s};
				int32_t a[2] = {a0, a1};
				double rq, q = t->reward[s][a0][a1] + 0.9 *
					tiny_search(t, tiny_next(s, a0, a1), 1,
						    d, l, 0.9);
				if (mr_rollout_q(r, &st, a, &rq, &e))
					q_ok = 0;
				worst = fmax(worst, fabs(rq - q));
			}
	CHECK(q_ok && worst < 1e-12, "%s: Q(s, a) equals the searched value "
	      "computed by hand (max diff %.1e)", what, worst);
	mr_rollout_free(r);
}

static void test_rollout_depth(void)
{
	tiny t;
	mr_err e = {0};

	tiny_init(&t, 2);
	check_tiny_depth(&t, 2, 2, "depth 2, l=2");
	check_tiny_depth(&t, 2, 4, "depth 2, l=4");
	t.masked = 1;
	check_tiny_depth(&t, 3, 3, "depth 3, l=3, masked");
	check_tiny_depth(&t, 1, 3, "depth 1, l=3, masked (plain rollout)");
	mr_adapt_model m = tiny_model(&t);
	mr_rollout_opts o = {.lookahead = 1, .depth = 2, .runs = 1,
			     .gamma = 0.9};
	mr_rollout *r = mr_rollout_new(&m, &o, &e);
	CHECK(!r && e.code == MR_EXIT_USAGE, "depth above the lookahead is "
	      "refused: %s", e.msg);
	mr_rollout_free(r);
}

/* Monte-Carlo: same seed, same decisions and Q; common random numbers
 * make the argmax exact even under a reward noise that swamps the
 * differences; other seeds other Q. */
static void test_rollout_mc(void)
{
	tiny t;
	mr_err e = {0};

	tiny_init(&t, 2);
	t.noise = 3.0;
	mr_adapt_model m = tiny_model(&t);
	mr_rollout_opts o = {.lookahead = 3, .runs = 5, .gamma = 0.9,
			     .seed = 42};
	mr_rollout *a = mr_rollout_new(&m, &o, &e);
	mr_rollout *b = mr_rollout_new(&m, &o, &e);
	o.seed = 43;
	mr_rollout *c = mr_rollout_new(&m, &o, &e);
	int same = 1, exact = 1, differs = 0;

	if (!a || !b || !c) {
		CHECK(0, "mc: rollout_new: %s", e.msg);
		return;
	}
	for (int k = 0; k < 3 * NS; k++) {
		tiny_state st = {k % NS};
		int32_t x[2], y[2], z[2], base[2] = {0, 0};
		double qa, qb, qc;
		mr_rollout_q(a, &st, base, &qa, &e);
		mr_rollout_q(b, &st, base, &qb, &e);
		mr_rollout_q(c, &st, base, &qc, &e);
		same &= qa == qb;
		differs |= qa != qc;
		mr_rollout_act(a, &st, x, NULL, &e);
		mr_rollout_act(b, &st, y, NULL, &e);
		mr_rollout_act(c, &st, z, NULL, &e);
		same &= x[0] == y[0] && x[1] == y[1];
		/* noise is additive and shared across candidates */
		double best = -INFINITY;
		int b0 = -1, b1 = -1;
		for (int a0 = 0; a0 < C0; a0++)
			for (int a1 = 0; a1 < C1; a1++) {
				double q = tiny_q(&t, st.s, a0, a1, 3, 0.9);
				if (q > best) {
					best = q;
					b0 = a0;
					b1 = a1;
				}
			}
		exact &= x[0] == b0 && x[1] == b1 && z[0] == b0 && z[1] == b1;
	}
	CHECK(same, "mc: the same seed gives the same Q and actions");
	CHECK(differs, "mc: another seed gives other Q values");
	CHECK(exact, "mc: common random numbers keep the exact argmax under "
	      "noise of sd 3 on rewards in [0, 1)");
	mr_rollout_free(a);
	mr_rollout_free(b);
	mr_rollout_free(c);
}

/* On the interacting MDP, component-wise rollout is no exact argmax, but
 * it never does worse than the base action (each component keeps its
 * current choice unless another is better), and joint rollout never does
 * worse than it: Q(joint) >= Q(component-wise) >= Q(base). */
static void test_componentwise_improves(int l)
{
	tiny t;
	mr_err e = {0};

	tiny_init(&t, 5);
	mr_adapt_model m = tiny_model(&t);
	mr_rollout_opts o = {.lookahead = l, .runs = 1, .gamma = 0.9,
			     .componentwise = 1};
	mr_rollout *r = mr_rollout_new(&m, &o, &e);
	int ordered = 1, differs = 0;

	if (!r) {
		CHECK(0, "comp-wise: rollout_new: %s", e.msg);
		return;
	}
	for (int s = 0; s < NS; s++) {
		tiny_state st = {s};
		int32_t a[2], base[2];
		double best = -INFINITY;
		if (mr_rollout_act(r, &st, a, NULL, &e))
			ordered = 0;
		tiny_base_of(s, base);
		for (int a0 = 0; a0 < C0; a0++)
			for (int a1 = 0; a1 < C1; a1++)
				best = fmax(best, tiny_q(&t, s, a0, a1, l, 0.9));
		double qc = tiny_q(&t, s, a[0], a[1], l, 0.9);
		double qb = tiny_q(&t, s, base[0], base[1], l, 0.9);
		ordered &= best >= qc && qc >= qb;
		differs |= qc < best;
	}
	CHECK(ordered, "comp-wise, l=%d: Q(joint) >= Q(component-wise) >= "
	      "Q(base) in every state%s", l,
	      differs ? " (below the joint optimum in some)" : "");
	mr_rollout_free(r);
}

/* ------------------------------------------------------------------------
 * A separable problem: component i moves its own coordinate x_i and earns
 * its own reward; the value and the base policy are sums / per component.
 * The component-wise rollout must equal the joint one.
 */
#define SEP_COMP 3
#define SEP_N 5
#define SEP_CHOICES 4

typedef struct {
	double reward[SEP_COMP][SEP_N][SEP_CHOICES];
	double value[SEP_COMP][SEP_N];
	int masked;
} sep;

typedef struct {
	int x[SEP_COMP];
} sep_state;

static int sep_step(void *ctx, const void *s, const int32_t *a, mr_rng *rng,
		    double *reward, void *next, mr_err *e)
{
	const sep *p = ctx;
	const sep_state *st = s;
	sep_state *nx = next;

	(void)rng, (void)e;
	*reward = 0;
	for (int i = 0; i < SEP_COMP; i++) {
		*reward += p->reward[i][st->x[i]][a[i]];
		nx->x[i] = (st->x[i] * 2 + a[i] + i) % SEP_N;
	}
	return 0;
}

static int sep_base(void *ctx, const void *s, int32_t *a, mr_err *e)
{
	(void)ctx, (void)e;
	for (int i = 0; i < SEP_COMP; i++)
		a[i] = (((const sep_state *)s)->x[i] + i) % SEP_CHOICES;
	return 0;
}

static int sep_value(void *ctx, const void *s, double *v, mr_err *e)
{
	(void)e;
	*v = 0;
	for (int i = 0; i < SEP_COMP; i++)
		*v += ((sep *)ctx)->value[i][((const sep_state *)s)->x[i]];
	return 0;
}

static int sep_mask(void *ctx, const void *s, uint8_t *mask, mr_err *e)
{
	(void)e;
	for (int i = 0; i < SEP_COMP; i++)
		for (int c = 0; c < SEP_CHOICES; c++)
			mask[i * SEP_CHOICES + c] = !((sep *)ctx)->masked ||
				c != (((const sep_state *)s)->x[i] + 1) %
				SEP_CHOICES;
	return 0;
}

static void check_separable(int l, int masked)
{
	sep p;
	mr_rng rng;
	mr_err e = {0};

	memset(&p, 0, sizeof p);
	p.masked = masked;
	mr_rng_seed(&rng, 3, 0);
	for (int i = 0; i < SEP_COMP; i++)
		for (int x = 0; x < SEP_N; x++) {
			for (int c = 0; c < SEP_CHOICES; c++)
				p.reward[i][x][c] = mr_rng_uniform(&rng);
			p.value[i][x] = 3 * mr_rng_uniform(&rng);
		}
	mr_adapt_model m = {
		.ncomp = SEP_COMP,
		.nchoices = {SEP_CHOICES, SEP_CHOICES, SEP_CHOICES},
		.state_size = sizeof(sep_state), .ctx = &p, .step = sep_step,
		.base = sep_base, .value = sep_value, .mask = sep_mask,
	};
	mr_rollout_opts o = {.lookahead = l, .runs = 1, .gamma = 0.9};
	mr_rollout *joint = mr_rollout_new(&m, &o, &e);
	o.componentwise = 1;
	mr_rollout *comp = mr_rollout_new(&m, &o, &e);
	int equal = 1, allowed = 1, states = 0;
	long nj = 0, nc = 0, max_nc = 0;

	if (!joint || !comp) {
		CHECK(0, "separable: rollout_new: %s", e.msg);
		return;
	}
	for (int k = 0; k < SEP_N * SEP_N * SEP_N; k++) {
		sep_state st = {{k % SEP_N, k / SEP_N % SEP_N, k / 25}};
		int32_t aj[SEP_COMP], ac[SEP_COMP];
		uint8_t mask[SEP_COMP * SEP_CHOICES];
		long n1, n2;
		if (mr_rollout_act(joint, &st, aj, &n1, &e) ||
		    mr_rollout_act(comp, &st, ac, &n2, &e))
			equal = 0;
		sep_mask(&p, &st, mask, &e);
		for (int i = 0; i < SEP_COMP; i++) {
			equal &= aj[i] == ac[i];
			allowed &= mask[i * SEP_CHOICES + ac[i]];
		}
		nj += n1;
		nc += n2;
		if (n2 > max_nc)
			max_nc = n2;
		states++;
	}
	int per = masked ? SEP_CHOICES - 1 : SEP_CHOICES;
	CHECK(equal, "separable, l=%d%s: component-wise = joint rollout in "
	      "all %d states", l, masked ? ", masked" : "", states);
	CHECK(allowed, "separable, l=%d%s: component-wise actions admissible",
	      l, masked ? ", masked" : "");
	CHECK(nj == (long)states * per * per * per &&
	      max_nc <= SEP_COMP * per,
	      "separable, l=%d%s: %ld Q per decision joint, at most %ld "
	      "component-wise (<= %d)", l, masked ? ", masked" : "",
	      nj / states, max_nc, SEP_COMP * per);
	mr_rollout_free(joint);
	mr_rollout_free(comp);
}

static void test_rollout_errors(void)
{
	tiny t;
	mr_err e = {0};

	tiny_init(&t, 4);
	mr_adapt_model m = tiny_model(&t);
	mr_rollout_opts o = {.lookahead = 0, .runs = 1, .gamma = 0.9};
	CHECK(!mr_rollout_new(&m, &o, &e) && e.code == MR_EXIT_USAGE,
	      "errors: lookahead 0 refused");
	o.lookahead = 1;
	o.gamma = 1.5;
	CHECK(!mr_rollout_new(&m, &o, &e), "errors: gamma 1.5 refused");
	o.gamma = 0.9;
	o.max_joint = 5;
	mr_rollout *r = mr_rollout_new(&m, &o, &e);
	tiny_state st = {1};
	int32_t a[2];
	CHECK(r && mr_rollout_act(r, &st, a, NULL, &e) == -1 &&
	      strstr(e.msg, "component-wise"),
	      "errors: 12 joint actions over max_joint 5 refused: %s", e.msg);
	mr_rollout_free(r);
	o.max_joint = 0;
	t.fail_step = 1;
	r = mr_rollout_new(&m, &o, &e);
	CHECK(r && mr_rollout_act(r, &st, a, NULL, &e) == -1 &&
	      e.code == MR_EXIT_DATA && strstr(e.msg, "model step: no model"),
	      "errors: a failing model step comes back: %s", e.msg);
	mr_rollout_free(r);
}

/* A rollout of the tiny model with l = 2, d = 2 and a budget (0: none). */
static mr_rollout *tiny_budget(tiny *t, mr_adapt_model *m, long budget,
			       int runs, mr_err *e)
{
	mr_rollout_opts o = {.lookahead = 2, .depth = 2, .runs = runs,
			     .gamma = 0.9, .budget = budget};
	*m = tiny_model(t);
	return mr_rollout_new(m, &o, e);
}

/* The budget: the plan each budget allows (the worst case by hand: 12
 * joint actions, 3 + 4 - 1 = 6 component-wise candidates, a base call per
 * component-wise search), no decision above it, and the searches it falls
 * back to between the base's Q and the full search's. */
static void test_rollout_budget(void)
{
	static const struct {
		long budget;
		int runs_asked;
		long worst;
		int depth, outer_cw, inner_cw, runs;
	} want[] = {
		{0, 1, 1 + 12 * (1 + 12 * 2), 2, 0, 0, 1},
		{300, 1, 1 + 12 * (1 + 1 + 6 * 2), 2, 0, 1, 1},
		{100, 1, 1 + 6 * (1 + 1 + 6 * 2), 2, 1, 1, 1},
		{50, 1, 1 + 12 * (1 + 3), 1, 0, 0, 1},
		{700, 3, 1 + 2 * 12 * (1 + 12 * 2), 2, 0, 0, 2},
	};
	tiny t;
	mr_adapt_model m;
	mr_err e = {0};

	tiny_init(&t, 6);
	t.masked = 1;
	for (size_t k = 0; k < sizeof want / sizeof *want; k++) {
		mr_rollout *r = tiny_budget(&t, &m, want[k].budget,
					    want[k].runs_asked, &e);
		if (!r) {
			CHECK(0, "budget %ld: %s", want[k].budget, e.msg);
			continue;
		}
		const mr_rollout_plan *p = mr_rollout_get_plan(r);
		long most = 0;
		int ok = 1;
		for (int s = 0; s < NS && ok; s++) {
			tiny_state st = {s};
			int32_t a[2];
			ok = !mr_rollout_act(r, &st, a, NULL, &e);
			most = mr_rollout_work(r) > most ? mr_rollout_work(r)
							 : most;
		}
		/* unmasked, the bound is met exactly */
		tiny_state s0 = {0};
		int32_t a0[2];
		t.masked = 0;
		ok = ok && !mr_rollout_act(r, &s0, a0, NULL, &e) &&
		     mr_rollout_work(r) == p->worst;
		t.masked = 1;
		CHECK(ok && p->depth == want[k].depth &&
		      p->outer_cw == want[k].outer_cw &&
		      p->inner_cw == want[k].inner_cw &&
		      p->runs == want[k].runs &&
		      p->worst == want[k].worst && most <= p->worst,
		      "budget %ld, %d runs asked: depth %d, %s then %s, %d "
		      "runs, at most %ld callbacks (%ld in the busiest of %d "
		      "masked states; all unmasked)", want[k].budget,
		      want[k].runs_asked, p->depth,
		      p->outer_cw ? "cw" : "joint",
		      p->inner_cw ? "cw" : "joint", p->runs, p->worst, most,
		      NS);
		mr_rollout_free(r);
	}
	/* Q of the reduced search: between the base's at step 2 and the
	 * full search's, for every state and action */
	mr_rollout *full = tiny_budget(&t, &m, 0, 1, &e);
	mr_rollout *cw = tiny_budget(&t, &m, 300, 1, &e);
	mr_rollout_opts o1 = {.lookahead = 2, .runs = 1, .gamma = 0.9};
	mr_rollout *base = mr_rollout_new(&m, &o1, &e);
	int order = full && cw && base, below = 0;
	for (int s = 0; s < NS && order; s++)
		for (int i = 0; i < C0 * C1 && order; i++) {
			tiny_state st = {s};
			int32_t a[2] = {i / C1, i % C1};
			double qf, qc, qb;
			order = !mr_rollout_q(full, &st, a, &qf, &e) &&
				!mr_rollout_q(cw, &st, a, &qc, &e) &&
				!mr_rollout_q(base, &st, a, &qb, &e) &&
				qb <= qc + 1e-12 && qc <= qf + 1e-12;
			below += qc < qf - 1e-12;
		}
	CHECK(order, "budget: Q(base at step 2) <= Q(step 2 component-wise) "
	      "<= Q(step 2 joint) everywhere (below in %d of %d)", below,
	      NS * C0 * C1);
	mr_rollout_free(full);
	mr_rollout_free(cw);
	mr_rollout_free(base);
	mr_rollout *none = tiny_budget(&t, &m, 10, 1, &e);
	CHECK(!none && e.code == MR_EXIT_USAGE && strstr(e.msg, "budget"),
	      "budget: 10 callbacks fit no search: %s", e.msg);
	mr_rollout_free(none);
}

/* ------------------------------------------------------------------------
 * Cost per decision (printed, not asserted): a synthetic model of ncomp
 * components of k choices whose step is a few arithmetic operations, so
 * the figure is the controller's own cost plus ~1 ns per model step; with
 * a real model multiply the model steps per decision by its step cost.
 */
typedef struct {
	double w[MR_ADAPT_MAX_COMPONENTS];
} cost_state;

static int cost_step(void *ctx, const void *s, const int32_t *a, mr_rng *rng,
		     double *reward, void *next, mr_err *e)
{
	const cost_state *st = s;
	cost_state *nx = next;
	int ncomp = *(int *)ctx;
	double sum = 0;

	(void)e;
	for (int i = 0; i < ncomp; i++) {
		nx->w[i] = 0.5 * st->w[i] + a[i];
		sum -= (nx->w[i] - 2) * (nx->w[i] - 2);
	}
	*reward = sum + 0.1 * mr_rng_uniform(rng);
	return 0;
}

static int cost_base(void *ctx, const void *s, int32_t *a, mr_err *e)
{
	(void)s, (void)e;
	for (int i = 0; i < *(int *)ctx; i++)
		a[i] = 1;
	return 0;
}

static int cost_value(void *ctx, const void *s, double *v, mr_err *e)
{
	(void)ctx, (void)e;
	*v = -((const cost_state *)s)->w[0];
	return 0;
}

static void time_variant(int ncomp, int k, int l, int runs, int cw)
{
	mr_adapt_model m = {.ncomp = ncomp, .state_size = sizeof(cost_state),
			    .ctx = &ncomp, .step = cost_step,
			    .base = cost_base, .value = cost_value};
	mr_rollout_opts o = {.lookahead = l, .runs = runs, .gamma = 0.95,
			     .componentwise = cw, .seed = 1};
	mr_err e = {0};
	cost_state st = {{0}};
	int32_t a[MR_ADAPT_MAX_COMPONENTS];
	long n = 0, decisions = 0;

	for (int i = 0; i < ncomp; i++)
		m.nchoices[i] = k;
	mr_rollout *r = mr_rollout_new(&m, &o, &e);
	if (!r)
		return;
	double t0 = mr_now(), t;
	do {
		for (int j = 0; j < 16; j++, decisions++)
			mr_rollout_act(r, &st, a, &n, &e);
		t = mr_now() - t0;
	} while (t < 0.02);
	printf("# cost: %-10s ncomp %d x %2d choices, l %d, m %2d: %4ld Q, "
	       "%6ld model steps, %10.0f ns/decision\n",
	       cw ? "comp-wise" : "joint", ncomp, k, l, runs, n,
	       n * l * runs, t / (double)decisions * 1e9);
	mr_rollout_free(r);
}

static void time_rollout(void)
{
	static const int shapes[][2] = {{1, 3}, {2, 3}, {2, 10}, {3, 10},
					{4, 10}};
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		int nc = shapes[s][0], k = shapes[s][1];
		time_variant(nc, k, 1, 1, 0);
		time_variant(nc, k, 1, 1, 1);
		time_variant(nc, k, 5, 1, 1);
		time_variant(nc, k, 5, 10, 1);
	}
}


/* ------------------------------------------------------------------------
 * Re-estimation: new windows replace the old trace where they reach, the
 * old trace stays elsewhere, and a lone new window decides its
 * configuration (no bootstrap).
 */
static void test_refit(void)
{
	/* old trace: x in {0, 1, 2}, y = 10 x, two rows each */
	double oX[6] = {0, 0, 1, 1, 2, 2}, oY[6] = {0, 0, 10, 10, 20, 20};
	const char *fn[1] = {"x"}, *tn[1] = {"y"};
	mr_forest_params fp;
	mr_err e = {0};
	size_t nn = 0, no = 0;
	double y;

	mr_forest_params_default(&fp);
	fp.ntrees = 1;
	fp.bootstrap = 0;
	fp.seed = 1;
	CHECK(!mr_refit_new(1, 1, oX, oY, 6, fn, tn, 0, &fp, &e) &&
	      e.code == MR_EXIT_USAGE, "refit: 0 windows refused");
	mr_refit *r = mr_refit_new(1, 1, oX, oY, 6, fn, tn, 3, &fp, &e);
	CHECK(r != NULL, "refit: made");
	if (!r)
		return;
	mr_forest *f = mr_refit_fit(r, &nn, &no, &e);
	CHECK(f && nn == 0 && no == 6, "refit: no windows: the old trace "
	      "(%zu new, %zu old)", nn, no);
	mr_forest_free(f);
	double x1 = 1, y1 = 50;
	mr_refit_add(r, &x1, &y1);
	mr_refit_scale_old(r, 1);
	f = mr_refit_fit(r, &nn, &no, &e);
	CHECK(f && nn == 1 && no == 4, "refit: x = 1's old rows left out "
	      "(%zu new, %zu old)", nn, no);
	if (f) {
		mr_forest_predict(f, &x1, &y);
		CHECK(fabs(y - 50) < 1e-9, "refit: one new window decides its "
		      "configuration (%g)", y);
		double x2 = 2;
		mr_forest_predict(f, &x2, &y);
		CHECK(fabs(y - 100) < 1e-9 &&
		      fabs(mr_refit_scales(r)[0] - 5) < 1e-12,
		      "refit: the old trace where no new window reaches, "
		      "scaled by the change where one does (%g = 20 x 50 / "
		      "10)", y);
	}
	mr_forest_free(f);
	mr_refit_scale_old(r, 0);
	f = mr_refit_fit(r, &nn, &no, &e);
	if (f) {
		double x2 = 2;
		mr_forest_predict(f, &x2, &y);
		CHECK(fabs(y - 20) < 1e-9, "refit: unscaled, the old trace as "
		      "it is (%g)", y);
	}
	mr_forest_free(f);
	mr_refit_scale_old(r, 1);
	/* a ring of 3: the oldest window goes first */
	double x0 = 0, y0 = 7;
	for (int k = 0; k < 3; k++)
		mr_refit_add(r, &x0, &y0);
	CHECK(mr_refit_windows(r) == 3, "refit: at most 3 windows kept");
	f = mr_refit_fit(r, &nn, &no, &e);
	if (f) {
		mr_forest_predict(f, &x1, &y);
		CHECK(fabs(y - 10) < 1e-9 && no == 4, "refit: the dropped "
		      "window's configuration is the old trace's again (%g)",
		      y);
	}
	mr_forest_free(f);
	mr_refit_clear(r);
	CHECK(mr_refit_windows(r) == 0, "refit: clear forgets the windows");
	/* the most recent windows of a configuration */
	double ry[3] = {50, 60, 70};
	mr_refit_clear(r);
	for (int k = 0; k < 3; k++)
		mr_refit_add(r, &x1, &ry[k]);
	for (size_t k = 1; k <= 3; k++) {
		mr_refit_recent(r, k);
		f = mr_refit_fit(r, &nn, &no, &e);
		y = NAN;
		if (f)
			mr_forest_predict(f, &x1, &y);
		CHECK(f && nn == k && fabs(y - (70 - 5.0 * (double)(k - 1))) <
				      1e-9,
		      "refit: recent=%zu: the last %zu windows (%zu, mean %g)",
		      k, k, nn, y);
		mr_forest_free(f);
	}
	mr_refit_recent(r, 0);
	mr_refit_clear(r);
	/* two windows, ratios 2 and 4: the geometric mean */
	double wx[2] = {1, 2}, wy[2] = {20, 80};
	mr_refit_add(r, &wx[0], &wy[0]);
	mr_refit_add(r, &wx[1], &wy[1]);
	f = mr_refit_fit(r, &nn, &no, &e);
	CHECK(f && fabs(mr_refit_scales(r)[0] - sqrt(8)) < 1e-12,
	      "refit: the factor is the geometric mean of the windows' "
	      "ratios (%g)", mr_refit_scales(r)[0]);
	mr_forest_free(f);
	mr_refit_free(r);
}

int main(void)
{
	test_detector_args();
	test_detector_basics();
	test_detector_delay();
	test_detector_false_alarms();
	test_rollout_exact();
	test_rollout_depth();
	test_rollout_mc();
	test_componentwise_improves(1);
	test_componentwise_improves(3);
	check_separable(1, 0);
	check_separable(2, 0);
	check_separable(3, 1);
	test_rollout_errors();
	test_rollout_budget();
	test_refit();
	time_rollout();
	return CHECK_DONE();
}
