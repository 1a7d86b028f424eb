/*
 * loss.c - the PPO loss pieces (loss.h).
 */
#include <math.h>

#include "loss.h"
#include "vecenv.h" /* MR_MAX_COMPONENTS */

double mr_masked_log_softmax(const float *logits, const uint8_t *mask, int n,
			     float *logp, float *p)
{
	float mx = -INFINITY;
	for (int j = 0; j < n; j++)
		if ((!mask || mask[j]) && logits[j] > mx)
			mx = logits[j];
	/* one exponential per choice: p holds exp(z - max) until the end */
	double sum = 0;
	for (int j = 0; j < n; j++) {
		p[j] = !mask || mask[j] ? expf(logits[j] - mx) : 0.0f;
		sum += p[j];
	}
	double lsum = log(sum), inv = 1 / sum, ent = 0;
	for (int j = 0; j < n; j++) {
		if (mask && !mask[j]) {
			logp[j] = -INFINITY;
			continue;
		}
		double lp = (double)(logits[j] - mx) - lsum;
		logp[j] = (float)lp;
		p[j] = (float)(p[j] * inv);
		ent -= p[j] * lp;
	}
	return ent;
}

void mr_gae(const float *rewards, const uint8_t *dones, const float *values,
	    const float *last_values, int T, int N, double gamma,
	    double lambda, float *adv, float *returns)
{
	for (int i = 0; i < N; i++) {
		double next_adv = 0, next_value = last_values[i];
		for (int t = T - 1; t >= 0; t--) {
			size_t s = (size_t)t * N + i;
			double live = dones && dones[s] ? 0.0 : 1.0;
			double delta = rewards[s] + gamma * next_value * live -
				       values[s];
			next_adv = delta + gamma * lambda * live * next_adv;
			adv[s] = (float)next_adv;
			returns[s] = (float)(next_adv + values[s]);
			next_value = values[s];
		}
	}
}

double mr_ppo_surrogate(double logp_new, double logp_old, double adv,
			double clip, double *dlogp, int *clipped)
{
	double r = exp(logp_new - logp_old);
	double rc = r < 1 - clip ? 1 - clip : (r > 1 + clip ? 1 + clip : r);
	double s1 = adv * r, s2 = adv * rc;
	if (s1 <= s2) { /* the unclipped term is the minimum: it carries grad */
		*dlogp = -adv * r;
		*clipped = 0;
		return -s1;
	}
	*dlogp = 0;
	*clipped = 1;
	return -s2;
}

double mr_ppo_policy_loss(const float *z, const uint8_t *mask, int ncomp,
			  const int *nchoices, const int32_t *act,
			  double logp_old, double adv, double clip,
			  double ent_coef, double scale, float *logp, float *p,
			  float *dz, mr_ppo_sample_out *o)
{
	double lp = 0, ent_c[MR_MAX_COMPONENTS], ent = 0, g;
	int off = 0;
	for (int k = 0; k < ncomp; k++) {
		ent_c[k] = mr_masked_log_softmax(z + off, mask ? mask + off : NULL,
						 nchoices[k], logp + off,
						 p + off);
		lp += logp[off + act[k]];
		ent += ent_c[k];
		off += nchoices[k];
	}
	o->pg_loss = mr_ppo_surrogate(lp, logp_old, adv, clip, &g,
				      &o->clipped);
	o->logp = lp;
	o->entropy = ent;
	/* d/dz_j of pg_loss - ent_coef * H, per component:
	 *   g * (1[j = a] - p_j) + ent_coef * p_j * (log p_j + H_c) */
	off = 0;
	for (int k = 0; k < ncomp; k++) {
		for (int j = 0; j < nchoices[k]; j++) {
			int q = off + j;
			if (mask && !mask[q]) {
				dz[q] = 0;
				continue;
			}
			double pj = p[q];
			double d = g * ((j == act[k]) - pj) +
				   ent_coef * pj * (logp[q] + ent_c[k]);
			dz[q] = (float)(d * scale);
		}
		off += nchoices[k];
	}
	return o->pg_loss - ent_coef * ent;
}
