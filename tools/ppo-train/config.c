/*
 * config.c - the hyper-parameters: presets, setting one by name from text,
 * the sanity check, the one-line description, and the policy's shape.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static void set_net(int *n, int *h, int width, int depth)
{
	*n = depth;
	for (int i = 0; i < depth; i++)
		h[i] = width;
}

int mr_ppo_config_defaults(mr_ppo_config *c, const char *preset, mr_err *e)
{
	memset(c, 0, sizeof *c);
	c->act = MR_ACT_TANH;
	c->nenvs = 1;
	c->batch = 64;
	c->epochs = 10;
	c->gae_lambda = 0.95;
	c->clip = 0.2;
	c->vf_coef = 0.5;
	c->max_grad_norm = 0.5;
	c->adam_eps = 1e-5;
	c->norm_obs = 1;
	c->norm_adv = 2;
	c->adv_floor = 0.1;
	c->obs_clip = 10;
	c->timesteps = 1000000;
	c->threads = 1;
	c->seed = 1;
	if (!strcmp(preset, "delay")) {
		/* stable-baselines3 PPO as published for the delay objective */
		set_net(&c->nhidden, c->hidden, 64, 4);
		c->n_steps = 1024;
		c->lr = 1e-4;
		c->gamma = 0;
	} else if (!strcmp(preset, "incremental")) {
		/* MaskablePPO as published for the incremental objectives */
		set_net(&c->nhidden, c->hidden, 128, 3);
		c->n_steps = 512;
		c->lr = 5e-4;
		c->gamma = 0.99;
		c->ent_coef = 0.05;
		c->clip = 0.2;
	} else {
		return mr_errf(e, MR_EXIT_USAGE,
			       "unknown preset '%s' (delay, incremental)",
			       preset);
	}
	c->cnhidden = c->nhidden;
	memcpy(c->chidden, c->hidden, sizeof c->hidden);
	return 0;
}

const char *const mr_ppo_config_keys[] = {
	"net", "critic_net", "act", "shared", "n_steps", "nenvs", "batch",
	"epochs", "lr", "lr_decay", "ent_decay", "gamma", "gae_lambda",
	"clip", "clip_vf", "target_kl", "ent_coef", "vf_coef",
	"max_grad_norm", "adam_eps", "norm_obs", "norm_adv", "adv_floor",
	"obs_clip", "continuing", "timesteps", "threads", "seed", "heads",
	NULL};

void mr_ppo_policy_shape(const mr_ppo_config *c, mr_policy_shape *s)
{
	memset(s, 0, sizeof *s);
	s->nhidden = c->nhidden;
	memcpy(s->hidden, c->hidden, sizeof s->hidden);
	s->cnhidden = c->cnhidden;
	memcpy(s->chidden, c->chidden, sizeof s->chidden);
	s->act = c->act;
	s->shared = c->shared;
	s->heads = c->heads;
	s->norm_obs = c->norm_obs;
	s->obs_clip = c->obs_clip;
	s->seed = c->seed;
}

static int parse_double(const char *key, const char *val, double *out,
			mr_err *e)
{
	char *end;
	double v = strtod(val, &end);
	if (end == val || *end || !isfinite(v))
		return mr_errf(e, MR_EXIT_USAGE, "%s: '%s' is not a number",
			       key, val);
	*out = v;
	return 0;
}

static int parse_int(const char *key, const char *val, int64_t *out,
		     mr_err *e)
{
	double v = 0;
	if (parse_double(key, val, &v, e))
		return -1;
	/* 1e6 is accepted; 1.5 is not */
	if (v != floor(v) || fabs(v) > 9e15)
		return mr_errf(e, MR_EXIT_USAGE, "%s: '%s' is not an integer",
			       key, val);
	*out = (int64_t)v;
	return 0;
}

static int parse_net(const char *key, const char *val, int *n, int *h,
		     mr_err *e)
{
	int k = 0;
	const char *p = val;
	while (*p) {
		char *end;
		long w = strtol(p, &end, 10);
		if (end == p || (*end && *end != ',' && *end != 'x'))
			return mr_errf(e, MR_EXIT_USAGE,
				       "%s: '%s' is not a list of widths like "
				       "64,64 or 64x4", key, val);
		if (w < 1 || w > MR_MLP_MAX_WIDTH)
			return mr_errf(e, MR_EXIT_USAGE,
				       "%s: width %ld out of 1..%d", key, w,
				       MR_MLP_MAX_WIDTH);
		if (*end == 'x') { /* 64x4: four layers of 64 */
			long r = strtol(end + 1, &end, 10);
			if (r < 1 || k + r > MR_MLP_MAX_LAYERS - 1 || *end)
				return mr_errf(e, MR_EXIT_USAGE,
					       "%s: bad repeat in '%s'", key,
					       val);
			for (long i = 0; i < r; i++)
				h[k++] = (int)w;
			break;
		}
		if (k >= MR_MLP_MAX_LAYERS - 1)
			return mr_errf(e, MR_EXIT_USAGE,
				       "%s: more than %d hidden layers", key,
				       MR_MLP_MAX_LAYERS - 1);
		h[k++] = (int)w;
		p = *end ? end + 1 : end;
		if (*end && !*p)
			return mr_errf(e, MR_EXIT_USAGE,
				       "%s: trailing comma in '%s'", key, val);
	}
	if (k == 0)
		return mr_errf(e, MR_EXIT_USAGE, "%s: empty", key);
	*n = k;
	return 0;
}

/* The key as mr_ppo_config_keys spells it: '_' for '-', and the names
 * sim-env's objective files use. */
static void canonical_key(const char *in, char *key, size_t n)
{
	snprintf(key, n, "%s", in);
	for (char *q = key; *q; q++)
		if (*q == '-')
			*q = '_';
	if (!strcmp(key, "hidden"))
		snprintf(key, n, "net");
	else if (!strcmp(key, "activation"))
		snprintf(key, n, "act");
	else if (!strcmp(key, "critic_hidden"))
		snprintf(key, n, "critic_net");
}

/* The keys whose values are lists or words; 1 when key is none of them. */
static int set_word(mr_ppo_config *c, const char *key, const char *val,
		    mr_err *e)
{
	if (!strcmp(key, "net")) {
		int same = c->cnhidden == c->nhidden &&
			   !memcmp(c->chidden, c->hidden, sizeof c->hidden);
		if (parse_net(key, val, &c->nhidden, c->hidden, e))
			return -1;
		if (same) { /* the critic follows unless set on its own */
			c->cnhidden = c->nhidden;
			memcpy(c->chidden, c->hidden, sizeof c->hidden);
		}
		return 0;
	}
	if (!strcmp(key, "critic_net"))
		return parse_net(key, val, &c->cnhidden, c->chidden, e);
	if (!strcmp(key, "heads")) {
		int h = mr_heads_parse(val);
		if (h < 0)
			return mr_errf(e, MR_EXIT_USAGE, "heads: '%s' is not "
				       "auto, factored or joint", val);
		c->heads = h;
		return 0;
	}
	if (!strcmp(key, "act")) {
		if (!strcmp(val, "tanh"))
			c->act = MR_ACT_TANH;
		else if (!strcmp(val, "relu"))
			c->act = MR_ACT_RELU;
		else
			return mr_errf(e, MR_EXIT_USAGE,
				       "act: '%s' is not tanh or relu", val);
		return 0;
	}
	return 1;
}

/* The integer keys; 1 when key is none of them. */
static int set_int(mr_ppo_config *c, const char *key, const char *val,
		   mr_err *e)
{
	struct {
		const char *name;
		int *ip;
		int64_t *lp;
		uint64_t *up;
	} ints[] = {
		{"shared", &c->shared, NULL, NULL},
		{"n_steps", &c->n_steps, NULL, NULL},
		{"nenvs", &c->nenvs, NULL, NULL},
		{"batch", &c->batch, NULL, NULL},
		{"epochs", &c->epochs, NULL, NULL},
		{"lr_decay", &c->lr_decay, NULL, NULL},
		{"ent_decay", &c->ent_decay, NULL, NULL},
		{"continuing", &c->continuing, NULL, NULL},
		{"norm_obs", &c->norm_obs, NULL, NULL},
		{"norm_adv", &c->norm_adv, NULL, NULL},
		{"threads", &c->threads, NULL, NULL},
		{"timesteps", NULL, &c->timesteps, NULL},
		{"seed", NULL, NULL, &c->seed},
	};
	for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
		if (strcmp(key, ints[k].name))
			continue;
		int64_t i = 0;
		if (parse_int(key, val, &i, e))
			return -1;
		if (ints[k].ip) {
			if (i < -1000000000 || i > 1000000000)
				return mr_errf(e, MR_EXIT_USAGE,
					       "%s: %s out of range", key, val);
			*ints[k].ip = (int)i;
		} else if (ints[k].lp) {
			*ints[k].lp = i;
		} else {
			if (i < 0)
				return mr_errf(e, MR_EXIT_USAGE,
					       "seed: must be >= 0");
			*ints[k].up = (uint64_t)i;
		}
		return 0;
	}
	return 1;
}

/* The real-valued keys; 1 when key is none of them. */
static int set_double(mr_ppo_config *c, const char *key, const char *val,
		      mr_err *e)
{
	struct {
		const char *name;
		double *p;
	} dbls[] = {
		{"lr", &c->lr},
		{"gamma", &c->gamma},
		{"gae_lambda", &c->gae_lambda},
		{"clip", &c->clip},
		{"clip_vf", &c->clip_vf},
		{"target_kl", &c->target_kl},
		{"ent_coef", &c->ent_coef},
		{"vf_coef", &c->vf_coef},
		{"max_grad_norm", &c->max_grad_norm},
		{"adam_eps", &c->adam_eps},
		{"obs_clip", &c->obs_clip},
		{"adv_floor", &c->adv_floor},
	};
	for (size_t k = 0; k < sizeof dbls / sizeof dbls[0]; k++)
		if (!strcmp(key, dbls[k].name))
			return parse_double(key, val, dbls[k].p, e);
	return 1;
}

int mr_ppo_config_set(mr_ppo_config *c, const char *key_in, const char *val,
		      mr_err *e)
{
	char key[64];
	canonical_key(key_in, key, sizeof key);
	int rc = set_word(c, key, val, e);
	if (rc == 1)
		rc = set_int(c, key, val, e);
	if (rc == 1)
		rc = set_double(c, key, val, e);
	if (rc == 1)
		return mr_errf(e, MR_EXIT_USAGE,
			       "unknown hyper-parameter '%s'", key_in);
	return rc;
}

int mr_ppo_config_check(const mr_ppo_config *c, mr_err *e)
{
	int64_t rollout = (int64_t)c->n_steps * c->nenvs;
#define REFUSE(cond, ...)                                                   \
	do {                                                                \
		if (cond)                                                   \
			return mr_errf(e, MR_EXIT_USAGE, __VA_ARGS__);      \
	} while (0)
	REFUSE(c->n_steps < 1, "n_steps %d: must be >= 1", c->n_steps);
	REFUSE(c->nenvs < 1 || c->nenvs > 65536,
	       "nenvs %d: must be in 1..65536", c->nenvs);
	REFUSE(rollout > 100000000, "rollout n_steps x nenvs = %lld is too "
	       "large", (long long)rollout);
	REFUSE(c->batch < 1, "batch %d: must be >= 1", c->batch);
	REFUSE(c->batch > rollout,
	       "batch %d is larger than the rollout (n_steps %d x nenvs %d = "
	       "%lld)", c->batch, c->n_steps, c->nenvs, (long long)rollout);
	REFUSE(c->epochs < 1 || c->epochs > 10000,
	       "epochs %d: must be in 1..10000", c->epochs);
	REFUSE(!(c->lr > 0) || c->lr > 1, "lr %g: must be in (0, 1]", c->lr);
	REFUSE(c->gamma < 0 || c->gamma > 1, "gamma %g: must be in [0, 1]",
	       c->gamma);
	REFUSE(c->gae_lambda < 0 || c->gae_lambda > 1,
	       "gae_lambda %g: must be in [0, 1]", c->gae_lambda);
	REFUSE(!(c->clip > 0) || c->clip >= 1, "clip %g: must be in (0, 1)",
	       c->clip);
	REFUSE(c->ent_coef < 0, "ent_coef %g: must be >= 0", c->ent_coef);
	REFUSE(c->vf_coef < 0, "vf_coef %g: must be >= 0", c->vf_coef);
	REFUSE(!(c->adam_eps > 0), "adam_eps %g: must be > 0", c->adam_eps);
	REFUSE(!(c->obs_clip > 0), "obs_clip %g: must be > 0", c->obs_clip);
	REFUSE(c->timesteps < 1, "timesteps %lld: must be >= 1",
	       (long long)c->timesteps);
	REFUSE(c->threads < 1 || c->threads > MR_PPO_MAX_THREADS,
	       "threads %d: must be in 1..%d", c->threads,
	       MR_PPO_MAX_THREADS);
	REFUSE(c->threads > c->batch, "threads %d: more than the batch %d",
	       c->threads, c->batch);
	REFUSE(c->shared != 0 && c->shared != 1, "shared: must be 0 or 1");
	REFUSE(c->lr_decay != 0 && c->lr_decay != 1,
	       "lr_decay: must be 0 or 1");
	REFUSE(c->ent_decay != 0 && c->ent_decay != 1,
	       "ent_decay: must be 0 or 1");
	REFUSE(c->continuing != 0 && c->continuing != 1,
	       "continuing: must be 0 or 1");
	REFUSE(c->norm_obs != 0 && c->norm_obs != 1,
	       "norm_obs: must be 0 or 1");
	REFUSE(c->norm_adv < 0 || c->norm_adv > 2,
	       "norm_adv: must be 0, 1 or 2");
	REFUSE(!(c->adv_floor >= 0 && c->adv_floor <= 1),
	       "adv_floor %g: must be in 0..1", c->adv_floor);
#undef REFUSE
	return 0;
}

static void describe_net(char *buf, size_t n, int k, const int *h)
{
	size_t off = 0;
	buf[0] = 0;
	for (int i = 0; i < k && off < n; i++)
		off += (size_t)snprintf(buf + off, n - off, "%s%d",
					i ? "," : "", h[i]);
}

void mr_ppo_config_describe(const mr_ppo_config *c, char *buf, size_t n)
{
	char a[128], cr[128];
	describe_net(a, sizeof a, c->nhidden, c->hidden);
	describe_net(cr, sizeof cr, c->cnhidden, c->chidden);
	snprintf(buf, n,
		 "net=%s critic_net=%s act=%s shared=%d n_steps=%d nenvs=%d "
		 "batch=%d epochs=%d lr=%g lr_decay=%d gamma=%g gae_lambda=%g "
		 "clip=%g clip_vf=%g target_kl=%g ent_coef=%g ent_decay=%d "
		 "vf_coef=%g max_grad_norm=%g "
		 "adam_eps=%g norm_obs=%d norm_adv=%d adv_floor=%g obs_clip=%g "
		 "continuing=%d "
		 "heads=%s",
		 a, c->shared ? "(shared)" : cr,
		 c->act == MR_ACT_TANH ? "tanh" : "relu", c->shared,
		 c->n_steps, c->nenvs, c->batch, c->epochs, c->lr, c->lr_decay,
		 c->gamma, c->gae_lambda, c->clip, c->clip_vf, c->target_kl,
		 c->ent_coef,
		 c->ent_decay,
		 c->vf_coef, c->max_grad_norm, c->adam_eps, c->norm_obs,
		 c->norm_adv, c->adv_floor, c->obs_clip, c->continuing,
		 mr_heads_name(c->heads));
}
