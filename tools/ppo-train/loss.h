/*
 * loss.h - the pieces of the PPO loss, one sample at a time: the masked
 * softmax of a categorical head, GAE, the clipped surrogate, and one
 * sample's policy loss with its gradient. Pure functions (the tests check
 * them against finite differences).
 *
 * What is deliberately not here: batches, networks, the optimiser (ppo.h).
 */
#ifndef MESHRL_PPO_LOSS_H
#define MESHRL_PPO_LOSS_H

#include <stdint.h>

/* Masked log-softmax of one categorical head: logp (n) and p (n); masked
 * choices get p = 0 and logp = -inf. Returns the entropy. mask NULL: all
 * allowed. At least one choice must be allowed. */
double mr_masked_log_softmax(const float *logits, const uint8_t *mask, int n,
			     float *logp, float *p);
/* GAE(lambda) over a rollout of T steps x N envs (index t*N+i): dones[t*N+i]
 * ends the episode after step t (dones NULL: nothing ends, a continuing
 * task); last_values (N) are V of the observation after the last step.
 * Fills adv and returns (= adv + values). */
void mr_gae(const float *rewards, const uint8_t *dones, const float *values,
	    const float *last_values, int T, int N, double gamma,
	    double lambda, float *adv, float *returns);
/* Clipped surrogate of one sample: loss -min(A r, A clip(r)), and its
 * derivative with respect to logp_new in *dlogp; *clipped is 1 when the
 * clipped branch is taken. */
double mr_ppo_surrogate(double logp_new, double logp_old, double adv,
			double clip, double *dlogp, int *clipped);

/* One sample's policy loss, pg_loss - ent_coef * entropy, over all
 * components (joint log-probability = sum, entropy = sum), and its
 * gradient with respect to the logits z (total_choices), times scale, in
 * dz (masked choices get 0). logp and p are total_choices scratch. */
typedef struct {
	double pg_loss, logp, entropy;
	int clipped;
} mr_ppo_sample_out;
double mr_ppo_policy_loss(const float *z, const uint8_t *mask, int ncomp,
			  const int *nchoices, const int32_t *act,
			  double logp_old, double adv, double clip,
			  double ent_coef, double scale, float *logp, float *p,
			  float *dz, mr_ppo_sample_out *o);

#endif
