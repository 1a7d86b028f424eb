/* test_ppo.c - PPO's pieces against hand-computed values (masked softmax,
 * GAE, clipped surrogate, the policy-loss gradient against finite
 * differences), the trainer solving the contextual bandit to its optimum
 * (and honouring masks), determinism for a seed and thread count, the
 * policy file round trip and its refusals, and nonsense hyper-parameters. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bandit.h"
#include "check.h"
#include "pool.h"
#include "ppo.h"

/* A policy of configuration c's shape. */
static mr_policy *policy_of(int obs_dim, int ncomp, const int *nch,
			    const mr_ppo_config *c, mr_err *e)
{
	mr_policy_shape sh;
	mr_ppo_policy_shape(c, &sh);
	return mr_policy_new(obs_dim, ncomp, nch, &sh, e);
}

static int near(double a, double b, double tol)
{
	return fabs(a - b) <= tol * (1 + fabs(b));
}

static void test_masked_softmax(void)
{
	float z[4] = {1, 2, 3, 0.5f}, lp[4], p[4];
	uint8_t m[4] = {1, 0, 1, 1};
	double H = mr_masked_log_softmax(z, m, 4, lp, p);
	/* by hand: allowed 1, 3, 0.5 -> sum = e^1 + e^3 + e^0.5 */
	double s = exp(1) + exp(3) + exp(0.5);
	double p0 = exp(1) / s, p2 = exp(3) / s, p3 = exp(0.5) / s;
	double h = -(p0 * log(p0) + p2 * log(p2) + p3 * log(p3));
	CHECK(near(p[0], p0, 1e-6) && near(p[2], p2, 1e-6) &&
	      near(p[3], p3, 1e-6), "masked softmax: p = %.6f %.6f %.6f",
	      p[0], p[2], p[3]);
	CHECK(p[1] == 0 && isinf(lp[1]) && lp[1] < 0,
	      "masked choice: p 0, log p -inf");
	CHECK(near(lp[2], log(p2), 1e-6), "log p of an allowed choice");
	/* float32 probabilities: 1e-6 relative */
	CHECK(near(H, h, 1e-6), "entropy over allowed choices: %.9f vs %.9f",
	      H, h);
	float big[3] = {1000, 999, -1000};
	double H2 = mr_masked_log_softmax(big, NULL, 3, lp, p);
	CHECK(isfinite(H2) && near(p[0], 1 / (1 + exp(-1)), 1e-6),
	      "no overflow with logits of 1000");
}

static void test_gae(void)
{
	/* 3 steps, 1 env; the episode ends after step 2 (index 1) */
	float r[3] = {1, 2, 3}, v[3] = {0.5f, 0.25f, 1}, last[1] = {2};
	uint8_t d[3] = {0, 1, 0};
	float adv[3], ret[3];
	double g = 0.9, l = 0.8;
	mr_gae(r, d, v, last, 3, 1, g, l, adv, ret);
	/* by hand, backwards:
	 * t=2: delta = 3 + 0.9*2 - 1 = 3.8; A2 = 3.8
	 * t=1: done: delta = 2 - 0.25 = 1.75; A1 = 1.75
	 * t=0: delta = 1 + 0.9*0.25 - 0.5 = 0.725; A0 = 0.725 + 0.72*1.75 */
	double A2 = 3.8, A1 = 1.75, A0 = 0.725 + 0.9 * 0.8 * 1.75;
	CHECK(near(adv[2], A2, 1e-6) && near(adv[1], A1, 1e-6) &&
	      near(adv[0], A0, 1e-6), "GAE: %.6f %.6f %.6f (want %.6f %.6f "
	      "%.6f)", adv[0], adv[1], adv[2], A0, A1, A2);
	CHECK(near(ret[0], A0 + 0.5, 1e-6) && near(ret[2], A2 + 1, 1e-6),
	      "returns = advantages + values");
	/* continuing (dones NULL): the end after step 1 no longer cuts
	 * t=1: delta = 2 + 0.9*1 - 0.25 = 2.65; A1 = 2.65 + 0.72*3.8 */
	mr_gae(r, NULL, v, last, 3, 1, g, l, adv, ret);
	double C1 = 2.65 + 0.72 * 3.8, C0 = 0.725 + 0.72 * C1;
	CHECK(near(adv[2], A2, 1e-6) && near(adv[1], C1, 1e-6) &&
	      near(adv[0], C0, 1e-6), "GAE continuing: %.6f %.6f %.6f (want "
	      "%.6f %.6f %.6f)", adv[0], adv[1], adv[2], C0, C1, A2);
	/* gamma 0: advantage = reward - value */
	mr_gae(r, d, v, last, 3, 1, 0, 0.95, adv, ret);
	CHECK(near(adv[0], 0.5, 1e-6) && near(adv[2], 2, 1e-6) &&
	      near(ret[1], 2, 1e-6), "gamma 0: A = r - V, return = r");
}

static void test_surrogate(void)
{
	double g;
	int c;
	/* r = 1.5, A = 2, clip 0.2: min(3, 2.4) = 2.4 clipped, no grad */
	double L = mr_ppo_surrogate(log(1.5), 0, 2, 0.2, &g, &c);
	CHECK(near(L, -2.4, 1e-12) && g == 0 && c == 1,
	      "ratio 1.5, A 2: loss -2.4, clipped, no gradient");
	/* A = -2: min(-3, -2.4) = -3 unclipped; dL/dlogp = -A r = 3 */
	L = mr_ppo_surrogate(log(1.5), 0, -2, 0.2, &g, &c);
	CHECK(near(L, 3, 1e-12) && near(g, 3, 1e-12) && c == 0,
	      "ratio 1.5, A -2: loss 3, gradient 3 (unclipped)");
	L = mr_ppo_surrogate(log(1.1), 0, 2, 0.2, &g, &c);
	CHECK(near(L, -2.2, 1e-12) && near(g, -2.2, 1e-12) && c == 0,
	      "ratio 1.1 inside the clip range: loss -2.2, gradient -2.2");
	L = mr_ppo_surrogate(log(0.5), 0, 2, 0.2, &g, &c);
	CHECK(near(L, -1, 1e-12) && near(g, -1, 1e-12) && c == 0,
	      "ratio 0.5, A 2: min(1, 1.6) = 1 unclipped");
}

/* The policy loss of one sample and its logits gradient (2 components,
 * one masked choice, entropy bonus) against central differences. */
static void test_policy_loss_grad(void)
{
	int nch[2] = {3, 4};
	float z[7] = {0.3f, -0.2f, 0.8f, 0.1f, 0.5f, -0.7f, 0.2f};
	uint8_t m[7] = {1, 1, 1, 1, 0, 1, 1};
	int32_t a[2] = {2, 3};
	float lp[7], p[7], dz[7], lp2[7], p2[7], dz2[7];
	mr_ppo_sample_out o;
	double old = -1.55, adv = 0.7, ent = 0.05;
	mr_ppo_policy_loss(z, m, 2, nch, a, old, adv, 0.2, ent, 1.0, lp, p, dz,
			   &o);
	CHECK(!o.clipped, "test point is inside the clip range (logp %.3f)",
	      o.logp);
	double worst = 0;
	for (int j = 0; j < 7; j++) {
		if (!m[j]) {
			CHECK(dz[j] == 0, "masked logit gets no gradient");
			continue;
		}
		float zp[7], zm[7];
		memcpy(zp, z, sizeof z);
		memcpy(zm, z, sizeof z);
		double h = 1e-3;
		zp[j] += (float)h;
		zm[j] -= (float)h;
		double Lp = mr_ppo_policy_loss(zp, m, 2, nch, a, old, adv, 0.2,
					       ent, 1, lp2, p2, dz2, &o);
		double Lm = mr_ppo_policy_loss(zm, m, 2, nch, a, old, adv, 0.2,
					       ent, 1, lp2, p2, dz2, &o);
		double fd = (Lp - Lm) / ((double)zp[j] - zm[j]);
		worst = fmax(worst, fabs(fd - dz[j]));
	}
	CHECK(worst < 1e-4, "policy loss gradient (surrogate + entropy, masked) "
	      "matches finite differences: %.2g", worst);
}

/* Mean probability the stochastic policy gives the best allowed arm, over
 * contexts and components of the test bandit. */
static double best_arm_prob(const mr_policy *p, const mr_bandit_opts *bo,
			    mr_vecenv *ev)
{
	double sum = 0;
	int n = 0;
	ev->reset(ev, 1, &(mr_err){0});
	for (int x = 0; x < bo->ncontexts; x++) {
		float z[1024], lp[1024], pr[1024];
		uint8_t hm[1024];
		double marg[MR_MAX_COMPONENTS][64] = {{0}};
		mr_policy_logits(p, ev->obs, z);
		mr_policy_head_mask(p, ev->masks, hm);
		/* each head's probabilities, then each component's marginal
		 * (a joint head's combinations decoded) */
		int off = 0;
		for (int h = 0; h < p->head_ncomp; h++) {
			mr_masked_log_softmax(z + off, hm + off,
					      p->head_nchoices[h], lp + off,
					      pr + off);
			off += p->head_nchoices[h];
		}
		if (p->heads == MR_HEADS_JOINT)
			for (int j = 0; j < p->head_total; j++) {
				int32_t hj = j, a[MR_MAX_COMPONENTS];
				mr_policy_decode(p, &hj, a);
				for (int c = 0; c < bo->ncomp; c++)
					marg[c][a[c]] += pr[j];
			}
		else
			for (int c = 0; c < bo->ncomp; c++)
				for (int a = 0; a < bo->nchoices; a++)
					marg[c][a] = pr[c * bo->nchoices + a];
		for (int c = 0; c < bo->ncomp; c++) {
			int best = (x * 3 + c * 5 + 1) % bo->nchoices;
			sum += marg[c][best];
			n++;
		}
		for (int c = 0; c < bo->ncomp; c++)
			ev->actions[c] = 0;
		ev->step(ev, &(mr_err){0}); /* eval mode: next context */
	}
	return sum / n;
}

typedef struct {
	double mean_r, best_p, secs;
	long violations;
	float *params;
	size_t nparams;
} bandit_run;

/* nvec: environment groups (1, or one per thread); heads: MR_HEADS_*;
 * trap: the bandit whose best action needs both components moved */
static bandit_run train_bandit_as(int threads, int nvec, int nenvs,
				  int shared, int64_t steps, int heads,
				  int trap)
{
	bandit_run out = {0};
	mr_err e = {0};
	mr_bandit_opts bo = {.nenvs = nenvs / nvec,
			     .ncontexts = 6, .ncomp = 2, .nchoices = 5,
			     .episode_len = 12, .masked = !trap, .trap = trap};
	mr_ppo_config c;
	mr_ppo_config_defaults(&c, "delay", &e);
	mr_ppo_config_set(&c, "net", "32,32", &e);
	c.n_steps = 64;
	c.nenvs = nenvs;
	c.batch = 64;
	c.epochs = 4;
	c.lr = 3e-3;
	c.gamma = 0;
	c.ent_coef = 0.0;
	c.shared = shared;
	c.threads = threads;
	c.seed = 5;
	c.timesteps = steps;
	c.heads = heads;
	mr_vecenv *envs[MR_PPO_MAX_THREADS];
	for (int i = 0; i < nvec; i++)
		envs[i] = mr_bandit_open(&bo, &e);
	double t0 = mr_now();
	mr_ppo *t = mr_ppo_new(&c, envs, nvec, NULL, &e);
	if (!t) {
		printf("# %s\n", e.msg);
		return out;
	}
	mr_ppo_stats st;
	while (mr_ppo_timesteps(t) < c.timesteps)
		if (mr_ppo_iterate(t, &st, &e)) {
			printf("# %s\n", e.msg);
			break;
		}
	out.secs = mr_now() - t0;
	mr_bandit_opts eo = bo;
	eo.nenvs = 1;
	eo.eval = 1;
	mr_vecenv *ev = mr_bandit_open(&eo, &e);
	const mr_policy *p = mr_ppo_policy(t);
	/* deterministic policy over one evaluation episode */
	ev->reset(ev, 1, &e);
	double sum = 0;
	for (int s = 0; s < eo.episode_len; s++) {
		mr_policy_act(p, ev->obs, ev->masks, ev->actions);
		ev->step(ev, &e);
		sum += ev->rewards[0];
	}
	out.mean_r = sum / eo.episode_len;
	out.best_p = best_arm_prob(p, &bo, ev);
	for (int i = 0; i < nvec; i++)
		out.violations += mr_bandit_violations(envs[i]);
	out.nparams = p->nparams;
	out.params = malloc(p->nparams * sizeof(float));
	memcpy(out.params, p->params, p->nparams * sizeof(float));
	mr_ppo_free(t);
	for (int i = 0; i < nvec; i++) {
		envs[i]->close(envs[i]);
		free(envs[i]);
	}
	ev->close(ev);
	free(ev);
	return out;
}

static bandit_run train_bandit(int threads, int nvec, int nenvs, int shared,
			       int64_t steps)
{
	return train_bandit_as(threads, nvec, nenvs, shared, steps,
			       MR_HEADS_AUTO, 0);
}

static void test_bandit(void)
{
	mr_bandit_opts bo = {.ncontexts = 6, .ncomp = 2, .nchoices = 5,
			     .masked = 1};
	double opt = mr_bandit_optimal_mean(&bo);
	double rnd = mr_bandit_random_mean(&bo);
	CHECK(opt == 1.0 && rnd < 0.5, "bandit: optimum 1, random %.3f", rnd);
	bandit_run r = train_bandit(1, 1, 8, 0, 40000);
	CHECK(r.mean_r == opt, "PPO solves the bandit: deterministic mean "
	      "reward %.4f = optimum %.4f", r.mean_r, opt);
	CHECK(r.best_p > 0.95, "the stochastic policy learned it too: best "
	      "arm probability %.3f", r.best_p);
	CHECK(r.violations == 0, "no masked arm ever taken (%ld; the lure "
	      "pays 2)", r.violations);
	CHECK(r.secs < 5, "in %.2f s (< 5 s)", r.secs);
	bandit_run f = train_bandit_as(1, 1, 8, 0, 40000, MR_HEADS_FACTORED, 0);
	CHECK(f.mean_r == opt && f.best_p > 0.95 && f.violations == 0,
	      "factored heads (one per component) solve it too (p %.3f)",
	      f.best_p);
	free(f.params);
	/* the trap: only a move of both components at once reaches 1 */
	mr_bandit_opts tb = bo;
	tb.masked = 0;
	tb.trap = 1;
	CHECK(mr_bandit_optimal_mean(&tb) == 1.0 &&
	      fabs(mr_bandit_random_mean(&tb) - (0.04 + 0.7 * 0.64)) < 1e-9,
	      "trap bandit: optimum 1, random %.4f",
	      mr_bandit_random_mean(&tb));
	bandit_run tf = train_bandit_as(1, 1, 8, 0, 40000, MR_HEADS_FACTORED, 1);
	bandit_run tj = train_bandit_as(1, 1, 8, 0, 40000, MR_HEADS_JOINT, 1);
	CHECK(fabs(tf.mean_r - 0.7) < 1e-6, "the trap holds factored heads "
	      "at 0.7 (%.4f): every one-component move from there loses",
	      tf.mean_r);
	CHECK(tj.mean_r == 1.0, "a joint head escapes it: %.4f", tj.mean_r);
	free(tf.params), free(tj.params);
	bandit_run s = train_bandit(1, 1, 8, 1, 40000);
	CHECK(s.mean_r == opt && s.best_p > 0.95 && s.violations == 0,
	      "shared trunk solves it too (p %.3f)", s.best_p);
	/* determinism: same seed and thread count, same weights */
	bandit_run a = train_bandit(2, 2, 8, 0, 8192);
	bandit_run b = train_bandit(2, 2, 8, 0, 8192);
	CHECK(a.params && b.params && a.nparams == b.nparams &&
	      !memcmp(a.params, b.params, a.nparams * sizeof(float)),
	      "2 threads: bit-identical weights for the same seed");
	CHECK(a.mean_r == opt && a.violations == 0,
	      "2 threads solve it (%.4f)", a.mean_r);
	/* split by network (actor on one worker, critic on the other): the
	 * same computation as one worker's, so the same weights */
	bandit_run one = train_bandit(1, 1, 8, 0, 8192);
	bandit_run two = train_bandit(2, 1, 8, 0, 8192);
	CHECK(one.params && two.params && one.nparams == two.nparams &&
	      !memcmp(one.params, two.params, one.nparams * sizeof(float)),
	      "1 and 2 threads (one environment group): bit-identical weights");
	/* split by rows: a shared trunk on 2 workers, and 3 workers */
	bandit_run sa = train_bandit(2, 2, 8, 1, 40000);
	bandit_run sb = train_bandit(2, 2, 8, 1, 40000);
	CHECK(sa.params && sb.params &&
	      !memcmp(sa.params, sb.params, sa.nparams * sizeof(float)) &&
	      sa.mean_r == opt && sa.violations == 0,
	      "2 threads, shared trunk (rows split): deterministic, solves it "
	      "(%.4f)", sa.mean_r);
	bandit_run t3 = train_bandit(3, 1, 8, 0, 40000);
	CHECK(t3.mean_r == opt && t3.violations == 0,
	      "3 threads (rows split) solve it (%.4f)", t3.mean_r);
	free(r.params), free(s.params), free(a.params), free(b.params);
	free(one.params), free(two.params), free(sa.params), free(sb.params);
	free(t3.params);
}

static void test_policy_file(int heads)
{
	char dir[] = "/tmp/meshrl-ppo-XXXXXX";
	if (!mkdtemp(dir))
		return;
	char path[256], bad[256];
	snprintf(path, sizeof path, "%s/p.msgpack", dir);
	snprintf(bad, sizeof bad, "%s/bad.msgpack", dir);
	mr_err e = {0};
	mr_ppo_config c;
	mr_ppo_config_defaults(&c, "delay", &e);
	c.heads = heads;
	int nch[2] = {6, 5};
	mr_policy *p = policy_of(3, 2, nch, &c, &e);
	float obs[3] = {4, 8, 12};
	mr_policy_observe(p, obs, 1); /* some statistics */
	float obs2[3] = {6, 2, 1};
	mr_policy_observe(p, obs2, 1);
	mr_policy_refresh(p);
	for (size_t i = 0; i < p->nparams; i++) /* not near-uniform heads */
		p->params[i] += 0.01f * (float)((i * 7919) % 13);
	mr_policy_refresh(p);
	snprintf(p->objective, sizeof p->objective, "delay");
	CHECK(mr_policy_save(p, path, &e) == 0, "policy saved: %s", e.msg);
	mr_policy *q = mr_policy_load(path, &e);
	CHECK(q != NULL, "policy loads back: %s", q ? "" : e.msg);
	if (q) {
		uint8_t mask[11] = {1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 1};
		int same = 1;
		for (int k = 0; k < 50; k++) {
			float o[3] = {(float)(k % 5), (float)(k % 7) * 2,
				      (float)k};
			int32_t a1[2], a2[2];
			mr_policy_act(p, o, mask, a1);
			mr_policy_act(q, o, mask, a2);
			same &= a1[0] == a2[0] && a1[1] == a2[1] &&
				mask[a1[0]] && mask[6 + a1[1]];
		}
		CHECK(same && q->heads == heads, "reloaded policy (%s heads) "
		      "acts identically, never masked",
		      heads == MR_HEADS_JOINT ? "joint" : "factored");
		int want[2] = {6, 5}, other[2] = {6, 4};
		CHECK(mr_policy_check(q, 3, 2, want, &e) == 0, "sizes match");
		CHECK(mr_policy_check(q, 3, 2, other, &e) == -1 &&
		      e.code == MR_EXIT_DATA && strstr(e.msg, "[6,5]") &&
		      strstr(e.msg, "[6,4]"),
		      "other action sizes refused: %s", e.msg);
		CHECK(mr_policy_check(q, 4, 2, want, &e) == -1 &&
		      strstr(e.msg, "4 observations"),
		      "other observation size refused");
		mr_policy_free(q);
	}
	/* truncated copies at several lengths */
	char *buf;
	size_t len;
	mr_read_file(path, &buf, &len, 0, &e);
	size_t cuts[] = {0, 1, 10, len / 2, len - 1};
	int all = 1;
	for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
		mr_write_file_atomic(bad, buf, cuts[k], &e);
		mr_err e2 = {0};
		mr_policy *t = mr_policy_load(bad, &e2);
		all &= t == NULL && e2.code != 0 && strstr(e2.msg, bad);
		mr_policy_free(t);
	}
	CHECK(all, "truncated policy files refused with the file named");
	/* another format */
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	mr_pk_kv_str(&pk, "format", "rf-forest");
	mr_pk_kv_i64(&pk, "version", 1);
	mr_write_file_atomic(bad, sb.data, sb.size, &e);
	msgpack_sbuffer_destroy(&sb);
	mr_err e3 = {0};
	CHECK(mr_policy_load(bad, &e3) == NULL && strstr(e3.msg, "format"),
	      "another format refused: %s", e3.msg);
	/* a corrupted size inside (the actor's first layer claims 4 inputs) */
	char *hit = memmem(buf, len, "\xa2in\x03", 4);
	if (hit) {
		hit[3] = 4;
		mr_write_file_atomic(bad, buf, len, &e);
		mr_err e4 = {0};
		CHECK(mr_policy_load(bad, &e4) == NULL &&
		      strstr(e4.msg, "input size"),
		      "inconsistent layer sizes refused: %s", e4.msg);
	}
	free(buf);
	mr_policy_free(p);
	unlink(path);
	unlink(bad);
	rmdir(dir);
}

/* Joint heads: layout, masks as products, decoding, auto's choice. */
static void test_heads(void)
{
	mr_err e = {0};
	mr_ppo_config c;
	mr_ppo_config_defaults(&c, "delay", &e);
	int nch[3] = {3, 2, 4};
	CHECK(c.heads == MR_HEADS_AUTO, "heads default to auto");
	mr_policy *p = policy_of(2, 3, nch, &c, &e);
	CHECK(p && p->heads == MR_HEADS_JOINT && p->head_ncomp == 1 &&
	      p->head_total == 24 && p->actor.sizes[p->actor.nlayers] == 24,
	      "auto: 3x2x4 = 24 combinations, one joint head of 24 logits");
	if (p) {
		/* row-major: j = (a0 * 2 + a1) * 4 + a2 */
		int ok = 1;
		for (int j = 0; j < 24; j++) {
			int32_t hj = j, a[3];
			mr_policy_decode(p, &hj, a);
			ok &= a[0] == j / 8 && a[1] == j / 4 % 2 && a[2] == j % 4;
		}
		CHECK(ok, "joint index decodes row-major (last fastest)");
		uint8_t m[9] = {1, 0, 1, /**/ 1, 1, /**/ 0, 1, 1, 0}, hm[24];
		CHECK(mr_policy_head_mask(p, m, hm) == 0, "mask accepted");
		int good = 1, allowed = 0;
		for (int j = 0; j < 24; j++) {
			int32_t hj = j, a[3];
			mr_policy_decode(p, &hj, a);
			good &= hm[j] == (m[a[0]] && m[3 + a[1]] && m[5 + a[2]]);
			allowed += hm[j];
		}
		CHECK(good && allowed == 2 * 2 * 2,
		      "joint mask = product of the components' masks (%d "
		      "allowed)", allowed);
		for (int k = 0; k < 50; k++) {
			float o[2] = {(float)k, (float)(k % 3)};
			int32_t a[3];
			mr_policy_act(p, o, m, a);
			good &= m[a[0]] && m[3 + a[1]] && m[5 + a[2]];
		}
		CHECK(good, "joint: acting never picks a masked choice");
		m[3] = m[4] = 0;
		CHECK(mr_policy_head_mask(p, m, hm) == -1,
		      "a component with nothing allowed: no combination");
		mr_policy_free(p);
	}
	c.heads = MR_HEADS_FACTORED;
	p = policy_of(2, 3, nch, &c, &e);
	CHECK(p && p->head_ncomp == 3 && p->head_total == 9,
	      "factored: one head per component, 9 logits");
	mr_policy_free(p);
	int big[2] = {40, 40}; /* 1600 > MR_HEADS_AUTO_MAX */
	c.heads = MR_HEADS_AUTO;
	p = policy_of(2, 2, big, &c, &e);
	CHECK(p && p->heads == MR_HEADS_FACTORED,
	      "auto: 1600 combinations stay factored");
	mr_policy_free(p);
	int huge[3] = {20, 20, 20};
	c.heads = MR_HEADS_JOINT;
	CHECK(policy_of(2, 3, huge, &c, &e) == NULL &&
	      e.code == MR_EXIT_USAGE && strstr(e.msg, "8000"),
	      "joint over 8000 combinations refused: %s", e.msg);
	CHECK(mr_ppo_config_set(&c, "heads", "joint", &e) == 0 &&
	      c.heads == MR_HEADS_JOINT &&
	      mr_ppo_config_set(&c, "heads", "both", &e) == -1 &&
	      strstr(e.msg, "both"), "heads key: values checked");
}

static void test_config(void)
{
	mr_ppo_config c;
	mr_err e = {0};
	CHECK(mr_ppo_config_defaults(&c, "delay", &e) == 0 &&
	      c.nhidden == 4 && c.hidden[3] == 64 && c.n_steps == 1024 &&
	      c.batch == 64 && c.epochs == 10 && c.lr == 1e-4 && c.gamma == 0,
	      "delay preset: [64]x4, n_steps 1024, batch 64, 10 epochs, lr "
	      "1e-4, gamma 0");
	mr_ppo_config d;
	CHECK(mr_ppo_config_defaults(&d, "incremental", &e) == 0 &&
	      d.nhidden == 3 && d.hidden[0] == 128 && d.n_steps == 512 &&
	      d.lr == 5e-4 && d.gamma == 0.99 && d.ent_coef == 0.05 &&
	      d.clip == 0.2, "incremental preset as published");
	CHECK(mr_ppo_config_set(&c, "batch", "2048", &e) == 0 &&
	      mr_ppo_config_check(&c, &e) == -1 && e.code == MR_EXIT_USAGE &&
	      strstr(e.msg, "larger than the rollout"),
	      "batch > rollout refused: %s", e.msg);
	mr_ppo_config_defaults(&c, "delay", &e);
	CHECK(mr_ppo_config_set(&c, "lr", "-0.001", &e) == 0 &&
	      mr_ppo_config_check(&c, &e) == -1 && strstr(e.msg, "lr"),
	      "negative lr refused: %s", e.msg);
	mr_ppo_config_defaults(&c, "delay", &e);
	CHECK(mr_ppo_config_set(&c, "net", "64,,64", &e) == -1,
	      "bad net refused: %s", e.msg);
	CHECK(mr_ppo_config_set(&c, "n-steps", "1.5", &e) == -1,
	      "non-integer n_steps refused: %s", e.msg);
	CHECK(mr_ppo_config_set(&c, "frobnicate", "1", &e) == -1 &&
	      strstr(e.msg, "unknown"), "unknown key refused");
	CHECK(mr_ppo_config_set(&c, "net", "128x3", &e) == 0 &&
	      c.nhidden == 3 && c.cnhidden == 3 && c.chidden[2] == 128,
	      "net 128x3 sets actor and critic");
	CHECK(mr_ppo_config_set(&c, "gamma", "1.5", &e) == 0 &&
	      mr_ppo_config_check(&c, &e) == -1, "gamma 1.5 refused");
	/* every key named in mr_ppo_config_keys is settable */
	int all = 1;
	for (size_t k = 0; mr_ppo_config_keys[k]; k++) {
		const char *key = mr_ppo_config_keys[k], *val = "1";
		if (strstr(key, "net"))
			val = "32";
		else if (!strcmp(key, "act"))
			val = "relu";
		else if (!strcmp(key, "heads"))
			val = "auto";
		if (mr_ppo_config_set(&c, key, val, &e) != 0) {
			all = 0;
			printf("# %s=%s: %s\n", key, val, e.msg);
		}
	}
	CHECK(all, "every listed key is settable");
	mr_ppo_config_defaults(&c, "delay", &e);
	CHECK(mr_ppo_config_set(&c, "hidden", "16,8", &e) == 0 &&
	      mr_ppo_config_set(&c, "activation", "relu", &e) == 0 &&
	      mr_ppo_config_set(&c, "critic-hidden", "4", &e) == 0 &&
	      c.nhidden == 2 && c.hidden[1] == 8 && c.act == MR_ACT_RELU &&
	      c.cnhidden == 1 && c.chidden[0] == 4,
	      "objective-file names: hidden, activation, critic-hidden");
	CHECK(mr_ppo_config_set(&c, "seed", "-1", &e) == -1 &&
	      strstr(e.msg, "seed"), "negative seed refused: %s", e.msg);
	CHECK(mr_ppo_config_set(&c, "ent_coef", "nan", &e) == -1 &&
	      strstr(e.msg, "not a number"), "nan refused: %s", e.msg);
}

/* The worker pool: every worker runs the job; after a barrier each sees
 * what all wrote before it. */
typedef struct {
	mr_pool pool;
	int n;
	atomic_int wrote[8];
	int saw[8];
	int ran[8];
} pool_test;

static void pool_job(void *arg, int tid)
{
	pool_test *pt = arg;
	pt->ran[tid]++;
	for (int round = 1; round <= 50; round++) {
		atomic_store(&pt->wrote[tid], round);
		mr_pool_barrier(&pt->pool);
		for (int u = 0; u < pt->n; u++)
			if (atomic_load(&pt->wrote[u]) >= round)
				pt->saw[tid]++;
		mr_pool_barrier(&pt->pool);
	}
}

static void test_pool(void)
{
	for (int n = 1; n <= 3; n++) {
		pool_test pt;
		memset(&pt, 0, sizeof pt);
		pt.n = n;
		mr_err e = {0};
		CHECK(mr_pool_init(&pt.pool, n, &e) == 0, "pool of %d: %s", n,
		      e.msg);
		mr_pool_run(&pt.pool, pool_job, &pt);
		mr_pool_run(&pt.pool, pool_job, &pt);
		int ok = 1;
		for (int u = 0; u < n; u++)
			ok &= pt.ran[u] == 2 && pt.saw[u] == 2 * 50 * n;
		CHECK(ok, "pool of %d: every worker ran each job once and saw "
		      "every write before each barrier", n);
		mr_pool_stop(&pt.pool);
	}
	/* a zeroed pool: stop must neither join nor free nor write; reaching
	 * the check without a crash is half of it, the bytes the other half */
	mr_pool never, zero;
	memset(&never, 0, sizeof never);
	memset(&zero, 0, sizeof zero);
	mr_pool_stop(&never);
	CHECK(!memcmp(&never, &zero, sizeof never),
	      "a pool never started is left alone (its bytes unchanged)");
}

int main(void)
{
	test_masked_softmax();
	test_gae();
	test_surrogate();
	test_policy_loss_grad();
	test_config();
	test_pool();
	test_heads();
	test_policy_file(MR_HEADS_FACTORED);
	test_policy_file(MR_HEADS_JOINT);
	test_bandit();
	return CHECK_DONE();
}
