/*
 * ppo.c - proximal policy optimisation (clipped surrogate, GAE, value loss,
 * entropy bonus, Adam, minibatches and epochs, gradient-norm clipping) for
 * MultiDiscrete actions with masks, on MLP actor and critic.
 *
 * Threads: T workers (the caller is worker 0). A rollout runs one vecenv per
 * worker when there are T of them (else worker 0 steps them all); it runs
 * the actor only, and the critic's values come after it, batched and split
 * across workers. An update with separate networks on two workers is split
 * by network: worker 0 trains the actor, worker 1 the critic, each on
 * whole minibatches, exchanging only the halves of the gradient norm (one
 * barrier per minibatch; with one environment group, the same policy as
 * one worker, bit for bit).
 * Otherwise (a shared trunk, or more workers) each minibatch's rows are
 * split across workers and the workers' gradients summed in worker order
 * (three barriers per minibatch). Results depend on the seed and T only.
 * All memory is allocated in mr_ppo_new.
 *
 * Not here: evaluation episodes, curves, files (main.c, policy.c).
 */
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ppo.h"

/* ------------------------------------------------------------------------
 * configuration
 */

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
	c->norm_adv = 1;
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
	"epochs", "lr", "lr_decay", "gamma", "gae_lambda", "clip", "clip_vf",
	"ent_coef", "vf_coef", "max_grad_norm", "adam_eps", "norm_obs",
	"norm_adv", "obs_clip", "continuing", "timesteps", "threads", "seed",
	"heads", NULL};

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

int mr_ppo_config_set(mr_ppo_config *c, const char *key_in, const char *val,
		      mr_err *e)
{
	char key[64];
	snprintf(key, sizeof key, "%s", key_in);
	for (char *q = key; *q; q++)
		if (*q == '-')
			*q = '_';
	double d = 0;
	int64_t i = 0;
	/* the names sim-env's objective files use */
	if (!strcmp(key, "hidden"))
		snprintf(key, sizeof key, "net");
	else if (!strcmp(key, "activation"))
		snprintf(key, sizeof key, "act");
	else if (!strcmp(key, "critic_hidden"))
		snprintf(key, sizeof key, "critic_net");
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
	struct {
		const char *name;
		double *p;
	} dbls[] = {
		{"lr", &c->lr},
		{"gamma", &c->gamma},
		{"gae_lambda", &c->gae_lambda},
		{"clip", &c->clip},
		{"clip_vf", &c->clip_vf},
		{"ent_coef", &c->ent_coef},
		{"vf_coef", &c->vf_coef},
		{"max_grad_norm", &c->max_grad_norm},
		{"adam_eps", &c->adam_eps},
		{"obs_clip", &c->obs_clip},
	};
	for (size_t k = 0; k < sizeof dbls / sizeof dbls[0]; k++) {
		if (strcmp(key, dbls[k].name))
			continue;
		if (parse_double(key, val, &d, e))
			return -1;
		*dbls[k].p = d;
		return 0;
	}
	return mr_errf(e, MR_EXIT_USAGE, "unknown hyper-parameter '%s'",
		       key_in);
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
	REFUSE(c->continuing != 0 && c->continuing != 1,
	       "continuing: must be 0 or 1");
	REFUSE(c->norm_obs != 0 && c->norm_obs != 1,
	       "norm_obs: must be 0 or 1");
	REFUSE(c->norm_adv != 0 && c->norm_adv != 1,
	       "norm_adv: must be 0 or 1");
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
		 "clip=%g clip_vf=%g ent_coef=%g vf_coef=%g max_grad_norm=%g "
		 "adam_eps=%g norm_obs=%d norm_adv=%d obs_clip=%g continuing=%d "
		 "heads=%s",
		 a, c->shared ? "(shared)" : cr,
		 c->act == MR_ACT_TANH ? "tanh" : "relu", c->shared,
		 c->n_steps, c->nenvs, c->batch, c->epochs, c->lr, c->lr_decay,
		 c->gamma, c->gae_lambda, c->clip, c->clip_vf, c->ent_coef,
		 c->vf_coef, c->max_grad_norm, c->adam_eps, c->norm_obs,
		 c->norm_adv, c->obs_clip, c->continuing,
		 mr_heads_name(c->heads));
}

/* ------------------------------------------------------------------------
 * loss pieces
 */

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

/* ------------------------------------------------------------------------
 * worker pool and barrier
 */

typedef struct mr_ppo mr_ppo;
typedef void (*job_fn)(mr_ppo *t, int tid);

typedef struct {
	int n;
	pthread_t th[MR_PPO_MAX_THREADS];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_uint gen;
	atomic_int pending;
	atomic_int quit;
	job_fn fn;
	mr_ppo *arg;
	/* barrier */
	atomic_int bcount, bsleepers;
	atomic_uint bphase;
} pool;

typedef struct {
	pool *p;
	int tid;
} pool_start;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Sleeps while *word == val (a futex: no lost wake-ups, no mutex). */
static void futex_wait(atomic_uint *word, unsigned val)
{
	syscall(SYS_futex, (unsigned *)word, FUTEX_WAIT_PRIVATE, val, NULL,
		NULL, 0);
}

static void futex_wake_all(atomic_uint *word)
{
	syscall(SYS_futex, (unsigned *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
		NULL, 0);
}

/* Spins a little (a quiet machine: the other worker is microseconds
 * away), then sleeps on the phase word (a shared machine: the other worker
 * may not be running, and spinning would take its core). */
static void barrier_wait(pool *p)
{
	if (p->n == 1)
		return;
	unsigned ph = atomic_load(&p->bphase);
	if (atomic_fetch_add(&p->bcount, 1) == p->n - 1) {
		atomic_store(&p->bcount, 0);
		atomic_fetch_add(&p->bphase, 1);
		if (atomic_load(&p->bsleepers))
			futex_wake_all(&p->bphase);
		return;
	}
	for (int spins = 0; spins < 2000; spins++) {
		if (atomic_load(&p->bphase) != ph)
			return;
		cpu_relax();
	}
	atomic_fetch_add(&p->bsleepers, 1);
	while (atomic_load(&p->bphase) == ph)
		futex_wait(&p->bphase, ph);
	atomic_fetch_sub(&p->bsleepers, 1);
}

static void *pool_main(void *arg)
{
	pool_start *s = arg;
	pool *p = s->p;
	int tid = s->tid;
	free(s);
	unsigned seen = 0;
	for (;;) {
		long spins = 0;
		while (atomic_load(&p->gen) == seen && spins < 20000) {
			cpu_relax();
			spins++;
		}
		if (atomic_load(&p->gen) == seen) {
			pthread_mutex_lock(&p->mu);
			while (atomic_load(&p->gen) == seen)
				pthread_cond_wait(&p->cv, &p->mu);
			pthread_mutex_unlock(&p->mu);
		}
		seen = atomic_load(&p->gen);
		if (atomic_load(&p->quit))
			return NULL;
		p->fn(p->arg, tid);
		atomic_fetch_sub(&p->pending, 1);
	}
}

static int pool_init(pool *p, int n, mr_err *e)
{
	memset(p, 0, sizeof *p);
	p->n = n;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (int i = 1; i < n; i++) {
		pool_start *s = mr_xcalloc(1, sizeof *s);
		s->p = p;
		s->tid = i;
		int rc = pthread_create(&p->th[i], NULL, pool_main, s);
		if (rc) {
			free(s);
			p->n = i;
			return mr_errf(e, MR_EXIT_FAIL,
				       "cannot start thread %d: %s", i,
				       strerror(rc));
		}
	}
	return 0;
}

static void pool_run(pool *p, job_fn fn, mr_ppo *arg)
{
	if (p->n == 1) {
		fn(arg, 0);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	atomic_store(&p->pending, p->n - 1);
	pthread_mutex_lock(&p->mu);
	atomic_fetch_add(&p->gen, 1);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	fn(arg, 0);
	for (long spins = 0; atomic_load(&p->pending) > 0; spins++) {
		if (spins < 4000)
			cpu_relax();
		else
			sched_yield();
	}
}

static void pool_stop(pool *p)
{
	if (p->n <= 1)
		goto out;
	atomic_store(&p->quit, 1);
	pthread_mutex_lock(&p->mu);
	atomic_fetch_add(&p->gen, 1);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 1; i < p->n; i++)
		pthread_join(p->th[i], NULL);
out:
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
}

/* ------------------------------------------------------------------------
 * the trainer's memory
 */

typedef struct {
	int rows;                   /* capacity in samples */
	float *acts_a[MR_MLP_MAX_LAYERS + 1], *acts_c[MR_MLP_MAX_LAYERS + 1];
	float *d[4], *wscratch, *dvalue;
	float *grads;               /* this worker's gradient (nparams) */
	float *obs;                 /* (rows, obs_dim) gathered input */
	float *logp, *p;            /* (head_total) scratch */
	int *rowidx;                /* (rows) sample indices */
	/* results of a job */
	mr_ppo_stats st;
	double sumsq;
	int64_t nmb;
	double ep_sum;
	int ep_count;
	int failed;
	mr_err err;
} worker;

struct mr_ppo {
	mr_ppo_config c;
	mr_policy *pol;
	int own_pol;
	mr_vecenv *envs[MR_PPO_MAX_THREADS];
	int nvec, env_base[MR_PPO_MAX_THREADS];
	int T;     /* workers */
	int N, S;  /* envs, samples per rollout */
	int D, A, ncomp;  /* A, ncomp: the heads' choices in all, and heads */
	/* rollout buffer, sample s = step * N + env */
	float *obs_raw, *obs, *values, *logp, *rewards, *adv, *ret;
	float *last_values, *obs_last;
	uint8_t *dones, *masks;
	int32_t *actions;
	double *ep_return;          /* (N) running return per env */
	mr_rng *env_rng;            /* (N) action sampling */
	mr_rng rng;                 /* minibatch order */
	int *perm;                  /* (epochs, S) */
	/* optimiser; G: the workers' gradients summed (split by rows);
	 * net_ss: each network's squared gradient norm (split by network) */
	float *G, *m, *v;
	double net_ss[2][2];
	int64_t adam_t;
	double lr_now;
	/* counters */
	int64_t timesteps, updates;
	pool pool;
	worker w[MR_PPO_MAX_THREADS];
};

static float *falloc(size_t n)
{
	/* cache-line aligned: vector loads stay within lines, and workers
	 * writing disjoint 16-float spans never share one */
	void *p = NULL;
	size_t bytes = (n ? n : 1) * sizeof(float);
	bytes = (bytes + 63) & ~(size_t)63;
	if (posix_memalign(&p, 64, bytes))
		mr_fatal("ppo-train", MR_EXIT_IO, "out of memory (%zu bytes)",
			 bytes);
	memset(p, 0, bytes);
	return p;
}

static void worker_alloc(worker *w, const mr_policy *p, int rows)
{
	w->rows = rows;
	size_t r = (size_t)rows;
	w->acts_a[0] = w->acts_c[0] = NULL;
	for (int l = 1; l <= p->actor.nlayers; l++)
		w->acts_a[l] = falloc(r * (size_t)p->actor.sizes[l]);
	for (int l = 1; l <= p->critic.nlayers; l++)
		w->acts_c[l] = falloc(r * (size_t)p->critic.sizes[l]);
	int mw = mlp_max_width(&p->actor);
	if (mlp_max_width(&p->critic) > mw)
		mw = mlp_max_width(&p->critic);
	for (int i = 0; i < 4; i++)
		w->d[i] = falloc(r * (size_t)mw);
	size_t big = 0;
	const mr_mlp *nets[2] = {&p->actor, &p->critic};
	for (int k = 0; k < 2; k++)
		for (int l = 0; l < nets[k]->nlayers; l++) {
			size_t s = (size_t)nets[k]->sizes[l] *
				   (size_t)nets[k]->sizes[l + 1];
			big = s > big ? s : big;
		}
	w->wscratch = falloc(big);
	w->dvalue = falloc(r);
	w->grads = falloc(p->nparams);
	w->obs = falloc(r * (size_t)p->obs_dim);
	w->logp = falloc((size_t)p->head_total);
	w->p = falloc((size_t)p->head_total);
	w->rowidx = mr_xcalloc(r, sizeof *w->rowidx);
}

static void worker_free(worker *w)
{
	for (int l = 1; l <= MR_MLP_MAX_LAYERS; l++) {
		free(w->acts_a[l]);
		free(w->acts_c[l]);
	}
	for (int i = 0; i < 4; i++)
		free(w->d[i]);
	free(w->wscratch);
	free(w->dvalue);
	free(w->grads);
	free(w->obs);
	free(w->logp);
	free(w->p);
	free(w->rowidx);
}

/* Actor then critic on rows of w->obs. */
static void policy_forward(const mr_policy *p, worker *w, int rows)
{
	w->acts_a[0] = w->obs;
	mlp_forward(&p->actor, p->params, p->wt, w->acts_a, rows);
	w->acts_c[0] = p->shared ? w->acts_a[p->actor.nlayers - 1] : w->obs;
	mlp_forward(&p->critic, p->params, p->wt, w->acts_c, rows);
}

/* The actor alone; with a shared trunk the critic's head too (it is one
 * small layer on the trunk the actor computed anyway). */
static void actor_forward(const mr_policy *p, worker *w, int rows)
{
	w->acts_a[0] = w->obs;
	mlp_forward(&p->actor, p->params, p->wt, w->acts_a, rows);
	if (p->shared) {
		w->acts_c[0] = w->acts_a[p->actor.nlayers - 1];
		mlp_forward(&p->critic, p->params, p->wt, w->acts_c, rows);
	}
}

static const float *logits_of(const mr_policy *p, const worker *w, int r)
{
	return w->acts_a[p->actor.nlayers] + (size_t)r * p->head_total;
}

static float value_of(const mr_policy *p, const worker *w, int r)
{
	return w->acts_c[p->critic.nlayers][r];
}

/* ------------------------------------------------------------------------
 * rollout
 */

/* Samples one choice per head from the masked softmax; returns the
 * joint log-probability. */
static double sample_action(const mr_policy *p, worker *w,
			    const float *logits, const uint8_t *mask,
			    mr_rng *rng, int32_t *act)
{
	double lp = 0;
	int off = 0;
	for (int c = 0; c < p->head_ncomp; c++) {
		int n = p->head_nchoices[c];
		mr_masked_log_softmax(logits + off, mask + off, n, w->logp + off,
				      w->p + off);
		double u = mr_rng_uniform(rng), cum = 0;
		int pick = -1;
		for (int j = 0; j < n; j++) {
			if (!mask[off + j])
				continue;
			pick = j; /* the last allowed one absorbs rounding */
			cum += w->p[off + j];
			if (u < cum)
				break;
		}
		act[c] = pick;
		lp += w->logp[off + pick];
		off += n;
	}
	return lp;
}

static void rollout_job(mr_ppo *t, int tid)
{
	worker *w = &t->w[tid];
	w->ep_sum = 0;
	w->ep_count = 0;
	w->failed = 0;
	if (tid >= t->nvec)
		return;
	mr_policy *p = t->pol;
	mr_vecenv *v = t->envs[tid];
	int n = v->nenvs, base = t->env_base[tid], D = t->D, A = t->A;
	for (int step = 0; step < t->c.n_steps; step++) {
		size_t s0 = (size_t)step * t->N + base;
		memcpy(t->obs_raw + s0 * D, v->obs, (size_t)n * D * sizeof(float));
		mr_policy_normalize(p, v->obs, w->obs, (size_t)n);
		memcpy(t->obs + s0 * D, w->obs, (size_t)n * D * sizeof(float));
		for (int i = 0; i < n; i++)
			if (mr_policy_head_mask(p, v->masks + (size_t)i *
						   p->total_choices,
						t->masks + (s0 + i) * A)) {
				mr_errf(&w->err, MR_EXIT_DATA,
					"environment %d allows no action",
					base + i);
				w->failed = 1;
				return;
			}
		actor_forward(p, w, n);
		for (int i = 0; i < n; i++) {
			int32_t *act = t->actions + (s0 + i) * t->ncomp;
			double lp = sample_action(p, w, logits_of(p, w, i),
						  t->masks + (s0 + i) * A,
						  &t->env_rng[base + i], act);
			t->logp[s0 + i] = (float)lp;
			if (p->shared)
				t->values[s0 + i] = value_of(p, w, i);
			mr_policy_decode(p, act, v->actions + (size_t)i *
						 p->ncomp);
		}
		if (v->step(v, &w->err)) {
			w->failed = 1;
			return;
		}
		for (int i = 0; i < n; i++) {
			float r = v->rewards[i];
			if (!isfinite(r)) {
				mr_errf(&w->err, MR_EXIT_DATA,
					"environment %d returned a non-finite "
					"reward", base + i);
				w->failed = 1;
				return;
			}
			t->rewards[s0 + i] = r;
			t->dones[s0 + i] = v->dones[i];
			t->ep_return[base + i] += r;
			if (v->dones[i]) {
				w->ep_sum += t->ep_return[base + i];
				w->ep_count++;
				t->ep_return[base + i] = 0;
			}
		}
	}
	/* the observation after the last step: V of it for GAE */
	mr_policy_normalize(p, v->obs, t->obs_last + (size_t)base * D,
			    (size_t)n);
	if (p->shared) {
		memcpy(w->obs, t->obs_last + (size_t)base * D,
		       (size_t)n * D * sizeof(float));
		actor_forward(p, w, n);
		for (int i = 0; i < n; i++)
			t->last_values[base + i] = value_of(p, w, i);
	}
}

/* Separate critic: V of every rollout observation and of the last ones,
 * batched after the rollout (the actions never needed them). Worker tid
 * takes a contiguous share of the rows, in chunks of its capacity. */
static void values_job(mr_ppo *t, int tid)
{
	mr_policy *p = t->pol;
	worker *w = &t->w[tid];
	int total = t->S + t->N, D = t->D;
	int r0 = (int)((int64_t)total * tid / t->T),
	    r1 = (int)((int64_t)total * (tid + 1) / t->T);
	for (int r = r0; r < r1; r += w->rows) {
		int n = r1 - r < w->rows ? r1 - r : w->rows;
		for (int k = 0; k < n; k++) {
			int q = r + k;
			const float *src = q < t->S
				? t->obs + (size_t)q * D
				: t->obs_last + (size_t)(q - t->S) * D;
			memcpy(w->obs + (size_t)k * D, src, (size_t)D * sizeof(float));
		}
		w->acts_c[0] = w->obs;
		mlp_forward(&p->critic, p->params, p->wt, w->acts_c, n);
		for (int k = 0; k < n; k++) {
			int q = r + k;
			if (q < t->S)
				t->values[q] = value_of(p, w, k);
			else
				t->last_values[q - t->S] = value_of(p, w, k);
		}
	}
}

/* ------------------------------------------------------------------------
 * update
 */

/* Rows r0..r0+rows of minibatch mb into w->obs. */
static void gather_obs(const mr_ppo *t, worker *w, const int *mb, int r0,
		       int rows)
{
	int D = t->D;
	for (int r = 0; r < rows; r++)
		memcpy(w->obs + (size_t)r * D, t->obs + (size_t)mb[r0 + r] * D,
		       (size_t)D * sizeof(float));
}

/* The policy loss of rows r0.. of minibatch mb (Bm samples), from the
 * logits in w; its gradient into w->d[0] (rows, total_choices). */
static void policy_loss_rows(mr_ppo *t, worker *w, const int *mb, int Bm,
			     int r0, int rows, double adv_mean,
			     double adv_scale)
{
	mr_policy *p = t->pol;
	const mr_ppo_config *c = &t->c;
	int A = t->A;
	double inv = 1.0 / Bm;
	for (int r = 0; r < rows; r++) {
		int s = mb[r0 + r];
		const float *z = logits_of(p, w, r);
		const uint8_t *mask = t->masks + (size_t)s * A;
		const int32_t *act = t->actions + (size_t)s * t->ncomp;
		double a = (t->adv[s] - adv_mean) * adv_scale;
		mr_ppo_sample_out o;
		mr_ppo_policy_loss(z, mask, p->head_ncomp, p->head_nchoices, act,
				   t->logp[s], a, c->clip, c->ent_coef, inv,
				   w->logp, w->p, w->d[0] + (size_t)r * A, &o);
		w->st.pg_loss += o.pg_loss * inv;
		w->st.clip_frac += o.clipped * inv;
		/* (r - 1) - log r: the low-variance KL estimate SB3 logs */
		double lr = o.logp - t->logp[s];
		w->st.approx_kl += (exp(lr) - 1 - lr) * inv;
		w->st.entropy += o.entropy * inv;
	}
}

/* The value loss vf_coef * mean((R - v')^2), v' optionally clipped around
 * the rollout's value, of rows r0.. from the values in w; its gradient
 * into w->dvalue (rows). */
static void value_loss_rows(mr_ppo *t, worker *w, const int *mb, int Bm,
			    int r0, int rows)
{
	mr_policy *p = t->pol;
	const mr_ppo_config *c = &t->c;
	double inv = 1.0 / Bm;
	for (int r = 0; r < rows; r++) {
		int s = mb[r0 + r];
		double v = value_of(p, w, r), vold = t->values[s], vp = v;
		double pass = 1;
		if (c->clip_vf > 0) {
			double dv = v - vold;
			if (dv > c->clip_vf || dv < -c->clip_vf) {
				vp = vold + (dv > 0 ? c->clip_vf : -c->clip_vf);
				pass = 0;
			}
		}
		double err = vp - t->ret[s];
		w->st.v_loss += err * err * inv;
		w->dvalue[r] = (float)(c->vf_coef * 2 * err * inv * pass);
	}
}

/* Separate networks: forward, loss and backward of the actor (net 0) or
 * the critic (net 1) on the rows in w->obs; gradients into that
 * network's part of w->grads. */
static void net_grad(mr_ppo *t, worker *w, int net, const int *mb, int Bm,
		     int r0, int rows, double adv_mean, double adv_scale)
{
	mr_policy *p = t->pol;
	if (net == 0) {
		w->acts_a[0] = w->obs;
		mlp_forward(&p->actor, p->params, p->wt, w->acts_a, rows);
		policy_loss_rows(t, w, mb, Bm, r0, rows, adv_mean, adv_scale);
		mlp_backward(&p->actor, p->params, p->wt, w->grads, w->acts_a,
			     rows, p->actor.nlayers, 0, 0, w->d[0], w->d[1],
			     w->wscratch, NULL);
	} else {
		w->acts_c[0] = w->obs;
		mlp_forward(&p->critic, p->params, p->wt, w->acts_c, rows);
		value_loss_rows(t, w, mb, Bm, r0, rows);
		memcpy(w->d[2], w->dvalue, (size_t)rows * sizeof(float));
		mlp_backward(&p->critic, p->params, p->wt, w->grads, w->acts_c,
			     rows, p->critic.nlayers, 0, 0, w->d[2], w->d[3],
			     w->wscratch, NULL);
	}
}

/* Forward, loss and backward on this worker's rows of one minibatch;
 * gradients into w->grads. mb: the minibatch's sample indices (Bm). */
static void minibatch_grad(mr_ppo *t, worker *w, const int *mb, int Bm,
			   int r0, int r1, double adv_mean, double adv_scale)
{
	mr_policy *p = t->pol;
	int rows = r1 - r0;
	if (rows <= 0) { /* the backward pass writes every gradient */
		memset(w->grads, 0, p->nparams * sizeof(float));
		return;
	}
	gather_obs(t, w, mb, r0, rows);
	if (!p->shared) {
		net_grad(t, w, 0, mb, Bm, r0, rows, adv_mean, adv_scale);
		net_grad(t, w, 1, mb, Bm, r0, rows, adv_mean, adv_scale);
		return;
	}
	policy_forward(p, w, rows);
	policy_loss_rows(t, w, mb, Bm, r0, rows, adv_mean, adv_scale);
	value_loss_rows(t, w, mb, Bm, r0, rows);
	/* shared trunk: both heads send gradient into the trunk's top */
	int La = p->actor.nlayers, Lc = p->critic.nlayers;
	float *da, *dc;
	mlp_backward(&p->actor, p->params, p->wt, w->grads, w->acts_a, rows,
		     La, La - 1, 1, w->d[0], w->d[1], w->wscratch, &da);
	memcpy(w->d[2], w->dvalue, (size_t)rows * sizeof(float));
	mlp_backward(&p->critic, p->params, p->wt, w->grads, w->acts_c, rows,
		     Lc, 0, 1, w->d[2], w->d[3], w->wscratch, &dc);
	size_t n = (size_t)rows * p->actor.sizes[La - 1];
	for (size_t i = 0; i < n; i++)
		da[i] += dc[i];
	float *other = da == w->d[0] ? w->d[1] : w->d[0];
	mlp_backward(&p->actor, p->params, p->wt, w->grads, w->acts_a, rows,
		     La - 1, 0, 0, da, other, w->wscratch, NULL);
}

/* A worker's share of one network, per layer: the weight columns
 * [o0, o1) (mlp_part_cols) and their biases, the same columns whose
 * transposed rows mlp_sync_wt_rows refreshes. fn runs on each contiguous
 * span (a whole layer when the worker has every column). */
typedef void (*span_fn)(mr_ppo *t, size_t q0, size_t n, void *arg);

static void for_my_columns(mr_ppo *t, const mr_mlp *m, int tid, span_fn fn,
			   void *arg)
{
	for (int l = 0; l < m->nlayers; l++) {
		int I = m->sizes[l], O = m->sizes[l + 1], o0, o1;
		mlp_part_cols(O, tid, t->T, &o0, &o1);
		if (o1 <= o0)
			continue;
		if (o0 == 0 && o1 == O) {
			fn(t, m->w_off[l], (size_t)I * O, arg);
		} else {
			for (int i = 0; i < I; i++)
				fn(t, m->w_off[l] + (size_t)i * O + o0,
				   (size_t)(o1 - o0), arg);
		}
		fn(t, m->b_off[l] + o0, (size_t)(o1 - o0), arg);
	}
}

/* G = the workers' gradients summed in worker order; arg (double[8])
 * gathers the sum of squares in 8 partial sums (a fixed order). */
static void reduce_span(mr_ppo *t, size_t q0, size_t n, void *arg)
{
	double *ss8 = arg;
	float *restrict G = t->G + q0;
	const float *restrict G0 = t->w[0].grads + q0;
	for (size_t k = 0; k < n; k++)
		G[k] = G0[k];
	for (int u = 1; u < t->T; u++) {
		const float *restrict Gu = t->w[u].grads + q0;
		for (size_t k = 0; k < n; k++)
			G[k] += Gu[k];
	}
	size_t k = 0;
	for (; k + 8 <= n; k += 8)
		for (int j = 0; j < 8; j++)
			ss8[j] += (double)G[k + j] * G[k + j];
	for (; k < n; k++)
		ss8[k % 8] += (double)G[k] * G[k];
}

typedef struct {
	float lr_b, isb2, eps, gs;
	const float *grads; /* the summed gradient: G, or worker 0's alone */
} adam_step;

/* One Adam step on n parameters from q0 with gradient grads * gs. */
static void adam_span(mr_ppo *t, size_t q0, size_t n, void *arg)
{
	const adam_step *a = arg;
	float *restrict P = t->pol->params + q0, *restrict M = t->m + q0,
		       *restrict V = t->v + q0;
	const float *restrict G = a->grads + q0;
	float lr_b = a->lr_b, isb2 = a->isb2, eps = a->eps, gs = a->gs;
	for (size_t k = 0; k < n; k++) {
		float g = G[k] * gs;
		M[k] = 0.9f * M[k] + 0.1f * g;
		V[k] = 0.999f * V[k] + 0.001f * g * g;
		P[k] -= lr_b * M[k] / (sqrtf(V[k]) * isb2 + eps);
	}
}

/* Sum of squares of grads over one network's span, in 8 partial sums (a
 * fixed order; the span is a multiple of 16 floats). */
static double net_sumsq(const mr_mlp *m, const float *grads)
{
	const float *restrict G = grads + m->first;
	double ss8[8] = {0};
	for (size_t q = 0; q < m->nparams; q += 8)
		for (int j = 0; j < 8; j++)
			ss8[j] += (double)G[q + j] * G[q + j];
	return ((ss8[0] + ss8[1]) + (ss8[2] + ss8[3])) +
	       ((ss8[4] + ss8[5]) + (ss8[6] + ss8[7]));
}

/* Adam's step size and bias corrections for step `step`, and the gradient
 * scale from the global norm (clipping). */
static adam_step adam_for(const mr_ppo *t, int64_t step, double norm)
{
	const mr_ppo_config *c = &t->c;
	double gs = 1;
	if (c->max_grad_norm > 0 && norm > c->max_grad_norm)
		gs = c->max_grad_norm / (norm + 1e-6);
	adam_step a = {
		.lr_b = (float)(t->lr_now / (1 - pow(0.9, (double)step))),
		.isb2 = (float)(1 / sqrt(1 - pow(0.999, (double)step))),
		.eps = (float)c->adam_eps, .gs = (float)gs};
	return a;
}

/* Advantage normalisation over a whole minibatch (every worker computes
 * the same numbers). */
static void adv_stats(const mr_ppo *t, const int *mb, int Bm, double *mean,
		      double *scale)
{
	*mean = 0;
	*scale = 1;
	if (!t->c.norm_adv || Bm < 2)
		return;
	double s1 = 0, s2 = 0;
	for (int r = 0; r < Bm; r++)
		s1 += t->adv[mb[r]];
	*mean = s1 / Bm;
	for (int r = 0; r < Bm; r++) {
		double d = t->adv[mb[r]] - *mean;
		s2 += d * d;
	}
	*scale = 1.0 / (sqrt(s2 / (Bm - 1)) + 1e-8);
}

/* The update by network: one worker trains both networks in turn, or (two
 * workers, separate networks) worker 0 the actor and worker 1 the critic,
 * each on the whole minibatch, with its own parameters, gradients and
 * optimiser state: nothing crosses cores but the two halves of the
 * gradient norm, one barrier per minibatch. The norm is the same sum in
 * both cases (actor's squares + critic's), so one and two workers train
 * bit for bit the same policy. */
static void update_by_net(mr_ppo *t, int tid)
{
	mr_policy *p = t->pol;
	const mr_ppo_config *c = &t->c;
	worker *w = &t->w[tid];
	const mr_mlp *nets[2] = {&p->actor, &p->critic};
	int n0 = t->T == 1 ? 0 : tid, n1 = t->T == 1 ? 1 : tid;
	int64_t step = t->adam_t, nmb = 0;
	for (int ep = 0; ep < c->epochs; ep++) {
		const int *perm = t->perm + (size_t)ep * t->S;
		for (int start = 0; start < t->S; start += c->batch, nmb++) {
			int Bm = t->S - start < c->batch ? t->S - start : c->batch;
			const int *mb = perm + start;
			double mean, scale;
			adv_stats(t, mb, Bm, &mean, &scale);
			gather_obs(t, w, mb, 0, Bm);
			/* the halves of the norm, double-buffered: a worker
			 * writes minibatch k+1's only after the barrier of
			 * minibatch k, when the other has read minibatch k-1's */
			double *ss = t->net_ss[nmb & 1];
			for (int n = n0; n <= n1; n++) {
				net_grad(t, w, n, mb, Bm, 0, Bm, mean, scale);
				ss[n] = net_sumsq(nets[n], w->grads);
			}
			barrier_wait(&t->pool);
			double norm = sqrt(ss[0] + ss[1]);
			if (tid == 0)
				w->st.grad_norm += norm;
			adam_step a = adam_for(t, ++step, norm);
			a.grads = w->grads;
			for (int n = n0; n <= n1; n++) {
				adam_span(t, nets[n]->first, nets[n]->nparams, &a);
				mlp_sync_wt(nets[n], p->params, p->wt);
			}
		}
	}
	t->w[tid].nmb = nmb;
}

/* The update split by rows (three or more workers, or a shared trunk):
 * every worker takes its rows of each minibatch. Per minibatch, three
 * barriers: after the gradients (each worker computed its rows'), after
 * the sums (each worker summed its columns and their squares), after the
 * parameters (each worker stepped and transposed its columns). Workers own
 * columns on cache lines, so only what must cross cores does: the other
 * workers' gradients for my columns, and the new parameters. */
static void update_by_rows(mr_ppo *t, int tid)
{
	mr_policy *p = t->pol;
	const mr_ppo_config *c = &t->c;
	worker *w = &t->w[tid];
	int T = t->T;
	int64_t step = t->adam_t, nmb = 0;
	for (int ep = 0; ep < c->epochs; ep++) {
		const int *perm = t->perm + (size_t)ep * t->S;
		for (int start = 0; start < t->S; start += c->batch, nmb++) {
			int Bm = t->S - start < c->batch ? t->S - start : c->batch;
			const int *mb = perm + start;
			double mean, scale;
			adv_stats(t, mb, Bm, &mean, &scale);
			int r0 = (int)((int64_t)Bm * tid / T),
			    r1 = (int)((int64_t)Bm * (tid + 1) / T);
			minibatch_grad(t, w, mb, Bm, r0, r1, mean, scale);
			barrier_wait(&t->pool);

			double ss8[8] = {0};
			for_my_columns(t, &p->actor, tid, reduce_span, ss8);
			for_my_columns(t, &p->critic, tid, reduce_span, ss8);
			w->sumsq = ((ss8[0] + ss8[1]) + (ss8[2] + ss8[3])) +
				   ((ss8[4] + ss8[5]) + (ss8[6] + ss8[7]));
			barrier_wait(&t->pool);

			double tot = 0;
			for (int u = 0; u < T; u++)
				tot += t->w[u].sumsq;
			double norm = sqrt(tot);
			if (tid == 0)
				w->st.grad_norm += norm;
			adam_step a = adam_for(t, ++step, norm);
			a.grads = t->G;
			for_my_columns(t, &p->actor, tid, adam_span, &a);
			for_my_columns(t, &p->critic, tid, adam_span, &a);
			mlp_sync_wt_rows(&p->actor, p->params, p->wt, tid, T);
			mlp_sync_wt_rows(&p->critic, p->params, p->wt, tid, T);
			barrier_wait(&t->pool);
		}
	}
	t->w[tid].nmb = nmb;
}

/* Separate networks on one or two workers: split by network. */
static int by_net(const mr_ppo *t)
{
	return t->T <= 2 && !t->pol->shared;
}

static void update_job(mr_ppo *t, int tid)
{
	worker *w = &t->w[tid];
	memset(&w->st, 0, sizeof w->st);
	if (by_net(t))
		update_by_net(t, tid);
	else
		update_by_rows(t, tid);
	/* per-minibatch means */
	double k = 1.0 / (w->nmb ? (double)w->nmb : 1);
	w->st.pg_loss *= k;
	w->st.v_loss *= k;
	w->st.entropy *= k;
	w->st.approx_kl *= k;
	w->st.clip_frac *= k;
	w->st.grad_norm *= k;
}

/* ------------------------------------------------------------------------
 * the trainer's life
 */

mr_ppo *mr_ppo_new(const mr_ppo_config *c, mr_vecenv **envs, int nvec,
		   mr_policy *pol, mr_err *e)
{
	if (mr_ppo_config_check(c, e))
		return NULL;
	if (nvec < 1 || nvec > c->threads || (nvec > 1 && nvec != c->threads)) {
		mr_errf(e, MR_EXIT_FAIL, "need 1 or %d environment groups",
			c->threads);
		return NULL;
	}
	int N = 0;
	for (int i = 0; i < nvec; i++) {
		const mr_vecenv *v = envs[i];
		if (v->obs_dim != envs[0]->obs_dim ||
		    v->ncomp != envs[0]->ncomp ||
		    memcmp(v->nchoices, envs[0]->nchoices,
			   sizeof v->nchoices)) {
			mr_errf(e, MR_EXIT_FAIL,
				"environment groups differ in shape");
			return NULL;
		}
		N += v->nenvs;
	}
	if (N != c->nenvs) {
		mr_errf(e, MR_EXIT_FAIL, "environments: %d opened, %d configured",
			N, c->nenvs);
		return NULL;
	}
	mr_ppo *t = mr_xcalloc(1, sizeof *t);
	t->c = *c;
	t->nvec = nvec;
	for (int i = 0, b = 0; i < nvec; i++) {
		t->envs[i] = envs[i];
		t->env_base[i] = b;
		b += envs[i]->nenvs;
	}
	const mr_vecenv *v0 = envs[0];
	if (pol) {
		if (mr_policy_check(pol, v0->obs_dim, v0->ncomp, v0->nchoices,
				    e)) {
			free(t);
			return NULL;
		}
		t->pol = pol;
	} else {
		mr_policy_shape shape;
		mr_ppo_policy_shape(c, &shape);
		t->pol = mr_policy_new(v0->obs_dim, v0->ncomp, v0->nchoices, &shape,
				       e);
		if (!t->pol) {
			free(t);
			return NULL;
		}
		t->own_pol = 1;
	}
	mr_policy *p = t->pol;
	t->T = c->threads;
	t->N = N;
	t->S = c->n_steps * N;
	t->D = v0->obs_dim;
	/* the buffers hold the heads' masks and choices */
	t->A = p->head_total;
	t->ncomp = p->head_ncomp;
	size_t S = (size_t)t->S, D = (size_t)t->D, A = (size_t)t->A;
	t->obs_raw = falloc(S * D);
	t->obs = falloc(S * D);
	t->values = falloc(S);
	t->logp = falloc(S);
	t->rewards = falloc(S);
	t->adv = falloc(S);
	t->ret = falloc(S);
	t->last_values = falloc((size_t)N);
	t->obs_last = falloc((size_t)N * D);
	t->dones = mr_xcalloc(S, 1);
	t->masks = mr_xcalloc(S * A, 1);
	t->actions = mr_xcalloc(S * (size_t)t->ncomp, sizeof *t->actions);
	t->ep_return = mr_xcalloc((size_t)N, sizeof *t->ep_return);
	t->env_rng = mr_xcalloc((size_t)N, sizeof *t->env_rng);
	for (int i = 0; i < N; i++)
		mr_rng_seed(&t->env_rng[i], c->seed, 1000 + (uint64_t)i);
	mr_rng_seed(&t->rng, c->seed, 1);
	t->perm = mr_xcalloc((size_t)c->epochs * S, sizeof *t->perm);
	t->G = falloc(p->nparams);
	t->m = falloc(p->nparams);
	t->v = falloc(p->nparams);
	/* rows a worker takes from a minibatch: all of them when split by
	 * network */
	int per_batch = by_net(t) ? c->batch : (c->batch + t->T - 1) / t->T;
	int per_env = 0;
	for (int i = 0; i < nvec; i++)
		per_env = envs[i]->nenvs > per_env ? envs[i]->nenvs : per_env;
	int cap = per_batch > per_env ? per_batch : per_env;
	cap = cap > 64 ? cap : 64; /* batched critic: chunks of >= 64 rows */
	for (int i = 0; i < t->T; i++)
		worker_alloc(&t->w[i], p, cap);
	if (pool_init(&t->pool, t->T, e)) {
		mr_ppo_free(t);
		return NULL;
	}
	for (int i = 0; i < nvec; i++) {
		mr_rng r;
		mr_rng_seed(&r, c->seed, 2000 + (uint64_t)i);
		if (envs[i]->reset(envs[i], mr_rng_u64(&r) >> 1, e)) {
			mr_ppo_free(t);
			return NULL;
		}
	}
	mr_policy_refresh(p);
	return t;
}

void mr_ppo_free(mr_ppo *t)
{
	if (!t)
		return;
	pool_stop(&t->pool);
	for (int i = 0; i < t->T; i++)
		worker_free(&t->w[i]);
	free(t->obs_raw);
	free(t->obs);
	free(t->values);
	free(t->logp);
	free(t->rewards);
	free(t->adv);
	free(t->ret);
	free(t->last_values);
	free(t->obs_last);
	free(t->dones);
	free(t->masks);
	free(t->actions);
	free(t->ep_return);
	free(t->env_rng);
	free(t->perm);
	free(t->G);
	free(t->m);
	free(t->v);
	if (t->own_pol)
		mr_policy_free(t->pol);
	free(t);
}

mr_policy *mr_ppo_policy(mr_ppo *t)
{
	return t->pol;
}

int64_t mr_ppo_timesteps(const mr_ppo *t)
{
	return t->timesteps;
}

int64_t mr_ppo_updates(const mr_ppo *t)
{
	return t->updates;
}

int mr_ppo_iterate(mr_ppo *t, mr_ppo_stats *st, mr_err *e)
{
	const mr_ppo_config *c = &t->c;
	memset(st, 0, sizeof *st);
	/* rollout (one vecenv per worker, or worker 0 alone) */
	if (t->nvec > 1)
		pool_run(&t->pool, rollout_job, t);
	else
		rollout_job(t, 0);
	double ep_sum = 0;
	for (int i = 0; i < t->T; i++) {
		if (t->w[i].failed) {
			*e = t->w[i].err;
			return -1;
		}
		ep_sum += t->w[i].ep_sum;
		st->episodes += t->w[i].ep_count;
	}
	st->ep_return = st->episodes ? ep_sum / st->episodes : NAN;
	if (!t->pol->shared)
		pool_run(&t->pool, values_job, t);
	t->timesteps += t->S;
	/* the rollout used the statistics from before it; later rollouts
	 * use these */
	if (t->pol->norm_obs)
		mr_policy_observe(t->pol, t->obs_raw, (size_t)t->S);

	/* continuing: an episode's end is a time limit and the next start
	 * does not depend on the actions, so returns run on through it */
	mr_gae(t->rewards, c->continuing ? NULL : t->dones, t->values,
	       t->last_values, c->n_steps, t->N, c->gamma, c->gae_lambda,
	       t->adv, t->ret);

	/* every epoch's minibatch order, drawn up front */
	for (int ep = 0; ep < c->epochs; ep++) {
		int *perm = t->perm + (size_t)ep * t->S;
		for (int i = 0; i < t->S; i++)
			perm[i] = i;
		for (int i = t->S - 1; i > 0; i--) {
			int j = (int)mr_rng_below(&t->rng, (uint64_t)i + 1);
			int x = perm[i];
			perm[i] = perm[j];
			perm[j] = x;
		}
	}
	double progress = (double)(t->timesteps - t->S) / (double)c->timesteps;
	t->lr_now = c->lr_decay ? c->lr * (1 - (progress < 1 ? progress : 1))
				: c->lr;
	if (!(t->lr_now > 0))
		t->lr_now = c->lr * 1e-3; /* past the end: keep moving a bit */
	pool_run(&t->pool, update_job, t);
	t->adam_t += (int64_t)c->epochs * ((t->S + c->batch - 1) / c->batch);
	/* normalisation statistics changed: refresh what is applied */
	mr_policy_refresh(t->pol);
	mr_ppo_stats s = {0};
	for (int i = 0; i < t->T; i++) {
		s.pg_loss += t->w[i].st.pg_loss;
		s.v_loss += t->w[i].st.v_loss;
		s.entropy += t->w[i].st.entropy;
		s.approx_kl += t->w[i].st.approx_kl;
		s.clip_frac += t->w[i].st.clip_frac;
		s.grad_norm += t->w[i].st.grad_norm;
	}
	st->pg_loss = s.pg_loss;
	st->v_loss = s.v_loss;
	st->entropy = s.entropy;
	st->approx_kl = s.approx_kl;
	st->clip_frac = s.clip_frac;
	st->grad_norm = s.grad_norm;
	t->updates++;
	return 0;
}

/* ------------------------------------------------------------------------
 * checkpoint state
 */

void mr_ppo_pack_state(msgpack_packer *pk, const mr_ppo *t)
{
	msgpack_pack_map(pk, 8);
	mr_pk_kv_i64(pk, "timesteps", t->timesteps);
	mr_pk_kv_i64(pk, "updates", t->updates);
	mr_pk_kv_i64(pk, "adam_t", t->adam_t);
	mr_pk_kv_bin(pk, "adam_m", t->m, t->pol->nparams * sizeof(float));
	mr_pk_kv_bin(pk, "adam_v", t->v, t->pol->nparams * sizeof(float));
	mr_pk_kv_bin(pk, "rng", t->rng.s, sizeof t->rng.s);
	mr_pk_kv_bin(pk, "env_rng", t->env_rng,
		     (size_t)t->N * sizeof *t->env_rng);
	mr_pk_kv_i64(pk, "nparams", (int64_t)t->pol->nparams);
}

int mr_ppo_unpack_state(mr_ppo *t, const msgpack_object *map,
			const char *name, mr_err *e)
{
	int64_t ts, up, at, np;
	const void *m, *v, *rng, *erng;
	size_t n = t->pol->nparams;
	if (mr_mp_i64(map, "nparams", name, 0, INT64_MAX, &np, e))
		return -1;
	if ((size_t)np != n)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s: optimiser has %lld parameters, the policy "
			       "%zu", name, (long long)np, n);
	if (mr_mp_i64(map, "timesteps", name, 0, INT64_MAX, &ts, e) ||
	    mr_mp_i64(map, "updates", name, 0, INT64_MAX, &up, e) ||
	    mr_mp_i64(map, "adam_t", name, 0, INT64_MAX, &at, e) ||
	    mr_mp_bin(map, "adam_m", name, n, sizeof(float), &m, e) ||
	    mr_mp_bin(map, "adam_v", name, n, sizeof(float), &v, e) ||
	    mr_mp_bin(map, "rng", name, 4, sizeof(uint64_t), &rng, e) ||
	    mr_mp_bin(map, "env_rng", name, (size_t)t->N, sizeof(mr_rng),
		      &erng, e))
		return -1;
	t->timesteps = ts;
	t->updates = up;
	t->adam_t = at;
	mr_le_f32(t->m, m, n);
	mr_le_f32(t->v, v, n);
	memcpy(t->rng.s, rng, sizeof t->rng.s);
	memcpy(t->env_rng, erng, (size_t)t->N * sizeof *t->env_rng);
	return 0;
}
