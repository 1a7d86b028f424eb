/*
 * bandit.c - the contextual bandit of bandit.h. Rewards are a fixed
 * function of (context, component, arm), so the optimum is known exactly.
 * Not a simulator of anything: it exists to test the trainer.
 */
#include <stdlib.h>
#include <string.h>

#include "bandit.h"

#define TRAP_NONE 0.7 /* trap: the reward when no component is best */

typedef struct {
	mr_bandit_opts o;
	mr_rng rng;
	int *ctx;      /* nenvs: current context */
	int *t;        /* nenvs: step within the episode */
	long violations;
} bandit;

static int best_arm(const mr_bandit_opts *o, int x, int c)
{
	return (x * 3 + c * 5 + 1) % o->nchoices;
}

static int lure_arm(const mr_bandit_opts *o, int x, int c)
{
	return (best_arm(o, x, c) + 1) % o->nchoices;
}

static int allowed(const mr_bandit_opts *o, int x, int c, int a)
{
	return !(o->masked && o->nchoices > 2 && a == lure_arm(o, x, c));
}

static double arm_reward(const mr_bandit_opts *o, int x, int c, int a)
{
	if (a == best_arm(o, x, c))
		return 1.0;
	if (o->masked && o->nchoices > 2 && a == lure_arm(o, x, c))
		return 2.0;
	return 0.1 * ((a + x + c) % 4); /* 0..0.3: worse, but not flat */
}

static void observe(mr_vecenv *v, int i)
{
	bandit *b = v->impl;
	const mr_bandit_opts *o = &b->o;
	int x = o->eval ? b->t[i] % o->ncontexts
			: (int)mr_rng_below(&b->rng, (uint64_t)o->ncontexts);
	b->ctx[i] = x;
	float *obs = v->obs + (size_t)i * v->obs_dim;
	memset(obs, 0, (size_t)v->obs_dim * sizeof *obs);
	obs[x] = 1.0f;
	uint8_t *m = v->masks + (size_t)i * v->total_choices;
	for (int c = 0; c < o->ncomp; c++)
		for (int a = 0; a < o->nchoices; a++)
			m[c * o->nchoices + a] = (uint8_t)allowed(o, x, c, a);
}

static int bandit_reset(mr_vecenv *v, uint64_t seed, mr_err *e)
{
	(void)e;
	bandit *b = v->impl;
	mr_rng_seed(&b->rng, seed, MR_STREAM_BANDIT);
	for (int i = 0; i < v->nenvs; i++) {
		b->t[i] = 0;
		v->dones[i] = 0;
		observe(v, i);
	}
	return 0;
}

static int bandit_step(mr_vecenv *v, mr_err *e)
{
	bandit *b = v->impl;
	const mr_bandit_opts *o = &b->o;
	for (int i = 0; i < v->nenvs; i++) {
		const int32_t *act = v->actions + (size_t)i * o->ncomp;
		double r = 0;
		int nbest = 0;
		for (int c = 0; c < o->ncomp; c++) {
			if (act[c] < 0 || act[c] >= o->nchoices)
				return mr_errf(e, MR_EXIT_FAIL,
					       "bandit: env %d: action %d of "
					       "component %d out of range", i,
					       (int)act[c], c);
			if (!allowed(o, b->ctx[i], c, act[c]))
				b->violations++;
			r += arm_reward(o, b->ctx[i], c, act[c]);
			nbest += act[c] == best_arm(o, b->ctx[i], c);
		}
		if (o->trap)
			v->rewards[i] = nbest == o->ncomp ? 1.0f
					: (nbest == 0 ? (float)TRAP_NONE : 0.0f);
		else
			v->rewards[i] = (float)(r / o->ncomp);
		memset(&v->info[i], 0, sizeof v->info[i]);
		v->info[i].bound_met = 1;
		b->t[i]++;
		v->dones[i] = b->t[i] >= o->episode_len;
		if (v->dones[i])
			b->t[i] = 0;
		observe(v, i);
	}
	return 0;
}

static void bandit_close(mr_vecenv *v)
{
	bandit *b = v->impl;
	if (b) {
		free(b->ctx);
		free(b->t);
		free(b);
	}
	mr_vecenv_free_buffers(v);
	v->impl = NULL;
}

mr_vecenv *mr_bandit_open(const mr_bandit_opts *o, mr_err *e)
{
	if (o->nenvs < 1 || o->ncontexts < 1 || o->ncomp < 1 ||
	    o->ncomp > MR_MAX_COMPONENTS || o->nchoices < 2 ||
	    o->episode_len < 1) {
		mr_errf(e, MR_EXIT_USAGE, "bandit: bad sizes");
		return NULL;
	}
	mr_vecenv *v = mr_xcalloc(1, sizeof *v);
	bandit *b = mr_xcalloc(1, sizeof *b);
	b->o = *o;
	b->ctx = mr_xcalloc((size_t)o->nenvs, sizeof *b->ctx);
	b->t = mr_xcalloc((size_t)o->nenvs, sizeof *b->t);
	v->impl = b;
	v->nenvs = o->nenvs;
	v->obs_dim = o->ncontexts;
	v->ncomp = o->ncomp;
	for (int c = 0; c < o->ncomp; c++)
		v->nchoices[c] = o->nchoices;
	v->total_choices = o->ncomp * o->nchoices;
	v->nservices = 1;
	mr_vecenv_alloc_buffers(v);
	v->reset = bandit_reset;
	v->step = bandit_step;
	v->close = bandit_close;
	return v;
}

static double mean_over(const mr_bandit_opts *o, int best)
{
	double sum = 0;
	for (int x = 0; x < o->ncontexts; x++)
		for (int c = 0; c < o->ncomp; c++) {
			double top = -1e300, all = 0;
			int n = 0;
			for (int a = 0; a < o->nchoices; a++) {
				if (!allowed(o, x, c, a))
					continue;
				double r = arm_reward(o, x, c, a);
				top = r > top ? r : top;
				all += r;
				n++;
			}
			sum += best ? top : all / n;
		}
	return sum / (o->ncontexts * o->ncomp);
}

/* trap: uniform random allowed arms hit every best arm with the product of
 * the components' chances, none with the product of the rest */
static double trap_random_mean(const mr_bandit_opts *o)
{
	double sum = 0;
	for (int x = 0; x < o->ncontexts; x++) {
		double all = 1, none = 1;
		for (int c = 0; c < o->ncomp; c++) {
			int n = 0;
			for (int a = 0; a < o->nchoices; a++)
				n += allowed(o, x, c, a);
			all *= 1.0 / n;
			none *= 1.0 - 1.0 / n;
		}
		sum += all + TRAP_NONE * none;
	}
	return sum / o->ncontexts;
}

double mr_bandit_optimal_mean(const mr_bandit_opts *o)
{
	return o->trap ? 1.0 : mean_over(o, 1);
}

double mr_bandit_random_mean(const mr_bandit_opts *o)
{
	return o->trap ? trap_random_mean(o) : mean_over(o, 0);
}

long mr_bandit_violations(const mr_vecenv *v)
{
	return ((const bandit *)v->impl)->violations;
}
