/*
 * policy.c - the trained policy: building one, its observation normaliser,
 * the msgpack file (format "ppo-policy", version 1), and acting with it.
 *
 * File schema (one msgpack map; Python: msgpack.unpackb(data)):
 *   format "ppo-policy", version 1, objective (str)
 *   obs_dim (int), nchoices ([int], one per action component)
 *   heads "factored" | "joint" (absent: factored): factored = the actor's
 *                 outputs are one block of logits per component, in
 *                 order; joint = one logit per combination of choices,
 *                 row-major (the last component varies fastest)
 *   activation "tanh" | "relu" (after every layer but a network's last)
 *   shared (0|1): 1 = the critic's layers take the actor's last hidden
 *                 layer as input (a shared trunk), 0 = the observation
 *   actor, critic: [{in, out, w, b}]: w bin of little-endian float32 in
 *                 (out, in) row-major order (y = W x + b), b float32 (out)
 *   obs_norm (0|1), obs_mean, obs_var: bin float64 (obs_dim), obs_count,
 *   obs_clip, obs_eps: the network sees
 *                 clip((x - mean) / sqrt(var + eps), -clip, clip)
 *
 * Not here: training (tools/ppo-train). mr_policy_act allocates nothing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

#define OBS_EPS 1e-8
#define MAX_OBS_DIM 65536

static const char *const heads_names[] = {"auto", "factored", "joint"};
#define NHEADS (int)(sizeof heads_names / sizeof heads_names[0])

const char *mr_heads_name(int heads)
{
	return heads >= 0 && heads < NHEADS ? heads_names[heads] : "?";
}

int mr_heads_parse(const char *name)
{
	for (int k = 0; k < NHEADS; k++)
		if (!strcmp(name, heads_names[k]))
			return k;
	return -1;
}

static int alloc_arrays(mr_policy *p, mr_err *e)
{
	size_t n = (p->nparams + 15) & ~(size_t)15;
	void *a = NULL, *b = NULL;
	/* cache-line aligned: the layout puts every array on a line */
	if (posix_memalign(&a, 64, n * sizeof(float))) {
		return mr_errf(e, MR_EXIT_IO, "out of memory for %zu "
			       "parameters", p->nparams);
	}
	if (posix_memalign(&b, 64, n * sizeof(float))) {
		free(a);
		return mr_errf(e, MR_EXIT_IO, "out of memory for %zu "
			       "parameters", p->nparams);
	}
	memset(a, 0, n * sizeof(float));
	memset(b, 0, n * sizeof(float));
	p->params = a;
	p->wt = b;
	size_t d = (size_t)p->obs_dim;
	p->obs_mean = mr_xcalloc(d, sizeof *p->obs_mean);
	p->obs_var = mr_xcalloc(d, sizeof *p->obs_var);
	p->norm_shift = mr_xcalloc(d, sizeof *p->norm_shift);
	p->norm_scale = mr_xcalloc(d, sizeof *p->norm_scale);
	for (size_t i = 0; i < d; i++)
		p->obs_var[i] = 1;
	return 0;
}

/* Lays out actor (obs -> hidden... -> logits) and critic (obs or the
 * trunk's top -> chidden... -> 1) in one parameter array. */
static void layout(mr_policy *p, int nh, const int *h, int cnh,
		   const int *ch, mr_act act)
{
	int sz[MR_MLP_MAX_LAYERS + 1];
	size_t next = 0;
	sz[0] = p->obs_dim;
	for (int i = 0; i < nh; i++)
		sz[i + 1] = h[i];
	sz[nh + 1] = p->head_total;
	mlp_layout(&p->actor, nh + 1, sz, act, &next);
	if (p->shared) {
		sz[0] = h[nh - 1];
		sz[1] = 1;
		mlp_layout(&p->critic, 1, sz, act, &next);
	} else {
		sz[0] = p->obs_dim;
		for (int i = 0; i < cnh; i++)
			sz[i + 1] = ch[i];
		sz[cnh + 1] = 1;
		mlp_layout(&p->critic, cnh + 1, sz, act, &next);
	}
	p->nparams = next;
}

static int set_actions(mr_policy *p, int obs_dim, int ncomp,
		       const int *nchoices, mr_err *e)
{
	if (obs_dim < 1 || obs_dim > MAX_OBS_DIM)
		return mr_errf(e, MR_EXIT_DATA, "observation size %d out of "
			       "1..%d", obs_dim, MAX_OBS_DIM);
	if (ncomp < 1 || ncomp > MR_MAX_COMPONENTS)
		return mr_errf(e, MR_EXIT_DATA, "%d action components, not "
			       "1..%d", ncomp, MR_MAX_COMPONENTS);
	p->obs_dim = obs_dim;
	p->ncomp = ncomp;
	p->total_choices = 0;
	for (int c = 0; c < ncomp; c++) {
		if (nchoices[c] < 1 || nchoices[c] > MR_MLP_MAX_WIDTH)
			return mr_errf(e, MR_EXIT_DATA,
				       "action component %d has %d choices",
				       c, nchoices[c]);
		p->nchoices[c] = nchoices[c];
		p->total_choices += nchoices[c];
	}
	if (p->total_choices > MR_MLP_MAX_WIDTH)
		return mr_errf(e, MR_EXIT_DATA, "%d choices in all, more than "
			       "%d", p->total_choices, MR_MLP_MAX_WIDTH);
	return 0;
}

/* The heads over the actions set_actions laid out: heads is MR_HEADS_*.
 * code: the exit code when joint heads cannot be had (a flag's usage
 * error, or a file's data error). */
static int set_heads(mr_policy *p, int heads, int code, mr_err *e)
{
	double prod = 1; /* exact here: far below 2^53 when it matters */
	for (int c = 0; c < p->ncomp; c++)
		prod *= p->nchoices[c];
	if (heads == MR_HEADS_AUTO)
		heads = prod <= MR_HEADS_AUTO_MAX ? MR_HEADS_JOINT
						  : MR_HEADS_FACTORED;
	if (heads == MR_HEADS_JOINT && p->ncomp == 1)
		heads = MR_HEADS_FACTORED; /* the same thing */
	p->heads = heads;
	if (heads == MR_HEADS_FACTORED) {
		p->head_ncomp = p->ncomp;
		memcpy(p->head_nchoices, p->nchoices, sizeof p->nchoices);
		p->head_total = p->total_choices;
		return 0;
	}
	if (prod > MR_MLP_MAX_WIDTH)
		return mr_errf(e, code, "joint heads: %.0f "
			       "combinations of actions, more than %d (use "
			       "factored heads)", prod, MR_MLP_MAX_WIDTH);
	p->head_ncomp = 1;
	p->head_nchoices[0] = (int)prod;
	p->head_total = (int)prod;
	return 0;
}

int mr_policy_head_mask(const mr_policy *p, const uint8_t *env_mask,
			uint8_t *head_mask)
{
	if (p->heads == MR_HEADS_FACTORED) {
		int off = 0;
		for (int c = 0; c < p->ncomp; c++) {
			int any = 0;
			for (int j = 0; j < p->nchoices[c]; j++) {
				uint8_t m = env_mask ? env_mask[off + j] : 1;
				head_mask[off + j] = m;
				any |= m;
			}
			if (!any)
				return -1;
			off += p->nchoices[c];
		}
		return 0;
	}
	/* joint: walk the combinations in order, like an odometer whose last
	 * digit turns fastest */
	int digit[MR_MAX_COMPONENTS] = {0}, off[MR_MAX_COMPONENTS], any = 0;
	for (int c = 0, o = 0; c < p->ncomp; c++) {
		off[c] = o;
		o += p->nchoices[c];
	}
	for (int j = 0; j < p->head_total; j++) {
		uint8_t m = 1;
		for (int c = 0; env_mask && m && c < p->ncomp; c++)
			m = env_mask[off[c] + digit[c]];
		head_mask[j] = m;
		any |= m;
		for (int c = p->ncomp - 1; c >= 0; c--) {
			if (++digit[c] < p->nchoices[c])
				break;
			digit[c] = 0;
		}
	}
	return any ? 0 : -1;
}

void mr_policy_decode(const mr_policy *p, const int32_t *head_act,
		      int32_t *env_act)
{
	if (p->heads == MR_HEADS_FACTORED) {
		memcpy(env_act, head_act, (size_t)p->ncomp * sizeof *env_act);
		return;
	}
	int32_t j = head_act[0];
	for (int c = p->ncomp - 1; c >= 0; c--) {
		env_act[c] = j % p->nchoices[c];
		j /= p->nchoices[c];
	}
}

mr_policy *mr_policy_new(int obs_dim, int ncomp, const int *nchoices,
			 const mr_policy_shape *c, mr_err *e)
{
	mr_policy *p = mr_xcalloc(1, sizeof *p);
	if (set_actions(p, obs_dim, ncomp, nchoices, e) ||
	    set_heads(p, c->heads, MR_EXIT_USAGE, e)) {
		free(p);
		return NULL;
	}
	p->shared = c->shared;
	p->norm_obs = c->norm_obs;
	p->obs_clip = c->obs_clip;
	layout(p, c->nhidden, c->hidden, c->cnhidden, c->chidden, c->act);
	if (alloc_arrays(p, e)) {
		mr_policy_free(p);
		return NULL;
	}
	/* orthogonal init as stable-baselines3: sqrt(2) hidden, 0.01 for the
	 * policy head (near-uniform first actions), 1 for the value head */
	mr_rng rng;
	mr_rng_seed(&rng, c->seed, MR_STREAM_POLICY_INIT);
	mlp_init(&p->actor, p->params, &rng, sqrt(2.0), 0.01);
	mlp_init(&p->critic, p->params, &rng, sqrt(2.0), 1.0);
	mr_policy_refresh(p);
	return p;
}

void mr_policy_free(mr_policy *p)
{
	if (!p)
		return;
	free(p->params);
	free(p->wt);
	free(p->obs_mean);
	free(p->obs_var);
	free(p->norm_shift);
	free(p->norm_scale);
	free(p);
}

void mr_policy_refresh(mr_policy *p)
{
	for (int i = 0; i < p->obs_dim; i++) {
		if (p->norm_obs) {
			p->norm_shift[i] = (float)p->obs_mean[i];
			p->norm_scale[i] =
				(float)(1.0 / sqrt(p->obs_var[i] + OBS_EPS));
		} else {
			p->norm_shift[i] = 0;
			p->norm_scale[i] = 1;
		}
	}
	mlp_sync_wt(&p->actor, p->params, p->wt);
	mlp_sync_wt(&p->critic, p->params, p->wt);
}

void mr_policy_observe(mr_policy *p, const float *obs, size_t n)
{
	/* batch mean/var, then Chan's merge with the running statistics */
	int D = p->obs_dim;
	for (int i = 0; i < D; i++) {
		double s = 0, ss = 0;
		for (size_t r = 0; r < n; r++)
			s += obs[r * D + i];
		double bm = s / n;
		for (size_t r = 0; r < n; r++) {
			double d = obs[r * D + i] - bm;
			ss += d * d;
		}
		double bv = ss / n, na = p->obs_count, nb = (double)n;
		double tot = na + nb, delta = bm - p->obs_mean[i];
		if (na == 0) {
			p->obs_mean[i] = bm;
			p->obs_var[i] = bv;
			continue;
		}
		p->obs_mean[i] += delta * nb / tot;
		p->obs_var[i] = (p->obs_var[i] * na + bv * nb +
				 delta * delta * na * nb / tot) / tot;
	}
	p->obs_count += (double)n;
}

void mr_policy_normalize(const mr_policy *p, const float *obs, float *out,
			 size_t n)
{
	int D = p->obs_dim;
	float clip = (float)p->obs_clip;
	for (size_t r = 0; r < n; r++)
		for (int i = 0; i < D; i++) {
			float x = (obs[r * D + i] - p->norm_shift[i]) *
				  p->norm_scale[i];
			if (p->norm_obs)
				x = x < -clip ? -clip : (x > clip ? clip : x);
			out[r * D + i] = x;
		}
}

int mr_policy_check(const mr_policy *p, int obs_dim, int ncomp,
		    const int *nchoices, mr_err *e)
{
	int same = p->obs_dim == obs_dim && p->ncomp == ncomp;
	for (int c = 0; same && c < ncomp; c++)
		same = p->nchoices[c] == nchoices[c];
	if (same)
		return 0;
	char a[256], b[256];
	size_t oa = 0, ob = 0;
	for (int c = 0; c < p->ncomp && oa < sizeof a; c++)
		oa += (size_t)snprintf(a + oa, sizeof a - oa, "%s%d",
				       c ? "," : "", p->nchoices[c]);
	for (int c = 0; c < ncomp && c < MR_MAX_COMPONENTS && ob < sizeof b;
	     c++)
		ob += (size_t)snprintf(b + ob, sizeof b - ob, "%s%d",
				       c ? "," : "", nchoices[c]);
	return mr_errf(e, MR_EXIT_DATA,
		       "policy does not fit the environment: policy has %d "
		       "observations and actions [%s], the environment %d "
		       "observations and actions [%s]",
		       p->obs_dim, oa ? a : "", obs_dim, ob ? b : "");
}

void mr_policy_logits(const mr_policy *p, const float *obs, float *logits)
{
	float buf[2][MR_MLP_MAX_WIDTH] __attribute__((aligned(32)));
	mr_policy_normalize(p, obs, buf[0], 1);
	const mr_mlp *m = &p->actor;
	int cur = 0;
	for (int l = 0; l < m->nlayers; l++) {
		int I = m->sizes[l], O = m->sizes[l + 1];
		linear_forward(buf[1 - cur], buf[cur], p->params + m->w_off[l],
			       p->wt + m->w_off[l], p->params + m->b_off[l], 1,
			       I, O, l < m->nlayers - 1 ? m->act : MR_ACT_NONE);
		cur = 1 - cur;
	}
	memcpy(logits, buf[cur], (size_t)p->head_total * sizeof(float));
}

/* Layers [0, n) of m on buf[*cur] (width-sized buffers, alternating). */
static void forward_layers(const mr_policy *p, const mr_mlp *m, int n,
			   float buf[2][MR_MLP_MAX_WIDTH], int *cur)
{
	for (int l = 0; l < n; l++) {
		int I = m->sizes[l], O = m->sizes[l + 1];
		linear_forward(buf[1 - *cur], buf[*cur], p->params + m->w_off[l],
			       p->wt + m->w_off[l], p->params + m->b_off[l], 1,
			       I, O, l < m->nlayers - 1 ? m->act : MR_ACT_NONE);
		*cur = 1 - *cur;
	}
}

double mr_policy_value(const mr_policy *p, const float *obs)
{
	float buf[2][MR_MLP_MAX_WIDTH] __attribute__((aligned(32)));
	int cur = 0;
	mr_policy_normalize(p, obs, buf[0], 1);
	/* a shared critic's head reads the actor's last hidden layer */
	if (p->shared)
		forward_layers(p, &p->actor, p->actor.nlayers - 1, buf, &cur);
	forward_layers(p, &p->critic, p->critic.nlayers, buf, &cur);
	return buf[cur][0];
}

void mr_policy_act(const mr_policy *p, const float *obs, const uint8_t *mask,
		   int32_t *action)
{
	float z[MR_MLP_MAX_WIDTH];
	uint8_t hm[MR_MLP_MAX_WIDTH];
	int32_t ha[MR_MAX_COMPONENTS];
	mr_policy_logits(p, obs, z);
	/* a head that allows nothing is the environment's error; it then
	 * takes its unmasked best rather than an invalid index */
	mr_policy_head_mask(p, mask, hm);
	int off = 0;
	for (int c = 0; c < p->head_ncomp; c++) {
		int best = -1, any = -1;
		for (int j = 0; j < p->head_nchoices[c]; j++) {
			if (any < 0 || z[off + j] > z[off + any])
				any = j;
			if (!hm[off + j])
				continue;
			if (best < 0 || z[off + j] > z[off + best])
				best = j;
		}
		ha[c] = best >= 0 ? best : any;
		off += p->head_nchoices[c];
	}
	mr_policy_decode(p, ha, action);
}

/* ------------------------------------------------------------------------
 * file
 */

static void pack_net(msgpack_packer *pk, const char *key, const mr_mlp *m,
		     const float *params)
{
	mr_pk_str(pk, key);
	msgpack_pack_array(pk, (size_t)m->nlayers);
	for (int l = 0; l < m->nlayers; l++) {
		int I = m->sizes[l], O = m->sizes[l + 1];
		float *w = mr_xcalloc((size_t)I * O, sizeof *w);
		const float *src = params + m->w_off[l];
		for (int i = 0; i < I; i++)
			for (int o = 0; o < O; o++)
				w[(size_t)o * I + i] = src[(size_t)i * O + o];
		msgpack_pack_map(pk, 4);
		mr_pk_kv_i64(pk, "in", I);
		mr_pk_kv_i64(pk, "out", O);
		mr_pk_kv_bin(pk, "w", w, (size_t)I * O * sizeof *w);
		mr_pk_kv_bin(pk, "b", params + m->b_off[l],
			     (size_t)O * sizeof(float));
		free(w);
	}
}

void mr_policy_pack(msgpack_packer *pk, const mr_policy *p)
{
	msgpack_pack_map(pk, 16);
	mr_pk_kv_str(pk, "format", "ppo-policy");
	mr_pk_kv_i64(pk, "version", 1);
	mr_pk_kv_str(pk, "objective", p->objective);
	mr_pk_kv_i64(pk, "obs_dim", p->obs_dim);
	mr_pk_str(pk, "nchoices");
	msgpack_pack_array(pk, (size_t)p->ncomp);
	for (int c = 0; c < p->ncomp; c++)
		msgpack_pack_int64(pk, p->nchoices[c]);
	mr_pk_kv_str(pk, "heads", mr_heads_name(p->heads));
	mr_pk_kv_str(pk, "activation",
		     p->actor.act == MR_ACT_TANH ? "tanh" : "relu");
	mr_pk_kv_i64(pk, "shared", p->shared);
	pack_net(pk, "actor", &p->actor, p->params);
	pack_net(pk, "critic", &p->critic, p->params);
	mr_pk_kv_i64(pk, "obs_norm", p->norm_obs);
	mr_pk_kv_bin(pk, "obs_mean", p->obs_mean,
		     (size_t)p->obs_dim * sizeof(double));
	mr_pk_kv_bin(pk, "obs_var", p->obs_var,
		     (size_t)p->obs_dim * sizeof(double));
	mr_pk_kv_f64(pk, "obs_count", p->obs_count);
	mr_pk_kv_f64(pk, "obs_clip", p->obs_clip);
	mr_pk_kv_f64(pk, "obs_eps", OBS_EPS);
}

int mr_policy_save(const mr_policy *p, const char *path, mr_err *e)
{
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	mr_policy_pack(&pk, p);
	int rc = mr_write_file_atomic(path, sb.data, sb.size, e);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static const msgpack_object *get_array(const msgpack_object *map,
				       const char *key, const char *name,
				       uint32_t lo, uint32_t hi, mr_err *e)
{
	const msgpack_object *o = mr_mp_get(map, key);
	if (!o) {
		mr_errf(e, MR_EXIT_DATA, "%s: key '%s' missing", name, key);
		return NULL;
	}
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < lo ||
	    o->via.array.size > hi) {
		mr_errf(e, MR_EXIT_DATA,
			"%s: key '%s': not an array of %u..%u entries", name,
			key, lo, hi);
		return NULL;
	}
	return o;
}

/* Reads one network's layer list; checks the sizes chain against want
 * (want[0] input, want_out last output) and fills params. */
static int unpack_net(const msgpack_object *root, const char *key,
		      const char *name, int in, int out, int *nl, int *sizes,
		      const msgpack_object **layers, mr_err *e)
{
	const msgpack_object *arr =
		get_array(root, key, name, 1, MR_MLP_MAX_LAYERS, e);
	if (!arr)
		return -1;
	*nl = (int)arr->via.array.size;
	*layers = arr->via.array.ptr;
	sizes[0] = in;
	for (int l = 0; l < *nl; l++) {
		const msgpack_object *L = &arr->via.array.ptr[l];
		char where[160];
		snprintf(where, sizeof where, "%s: %s layer %d", name, key, l);
		int64_t li, lo;
		if (mr_mp_i64(L, "in", where, 1, MR_MLP_MAX_WIDTH, &li, e) ||
		    mr_mp_i64(L, "out", where, 1, MR_MLP_MAX_WIDTH, &lo, e))
			return -1;
		if (li != sizes[l])
			return mr_errf(e, MR_EXIT_DATA,
				       "%s: input size %lld, expected %d", where,
				       (long long)li, sizes[l]);
		sizes[l + 1] = (int)lo;
	}
	if (sizes[*nl] != out)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s: %s ends with %d outputs, expected %d", name,
			       key, sizes[*nl], out);
	return 0;
}

static int fill_net(const mr_mlp *m, const msgpack_object *layers,
		    const char *key, const char *name, float *params,
		    mr_err *e)
{
	for (int l = 0; l < m->nlayers; l++) {
		int I = m->sizes[l], O = m->sizes[l + 1];
		char where[160];
		snprintf(where, sizeof where, "%s: %s layer %d", name, key, l);
		const void *w, *b;
		if (mr_mp_bin(&layers[l], "w", where, (size_t)I * O,
			      sizeof(float), &w, e) ||
		    mr_mp_bin(&layers[l], "b", where, (size_t)O, sizeof(float),
			      &b, e))
			return -1;
		float *dst = params + m->w_off[l];
		float *tmp = mr_xcalloc((size_t)I * O, sizeof *tmp);
		mr_le_f32(tmp, w, (size_t)I * O);
		for (int i = 0; i < I; i++)
			for (int o = 0; o < O; o++)
				dst[(size_t)i * O + o] = tmp[(size_t)o * I + i];
		free(tmp);
		mr_le_f32(params + m->b_off[l], b, (size_t)O);
		for (size_t q = 0; q < (size_t)I * O; q++)
			if (!isfinite(dst[q]))
				return mr_errf(e, MR_EXIT_DATA,
					       "%s: non-finite weight", where);
		for (int o = 0; o < O; o++)
			if (!isfinite(params[m->b_off[l] + o]))
				return mr_errf(e, MR_EXIT_DATA,
					       "%s: non-finite bias", where);
	}
	return 0;
}

/* The action components (nchoices) and the heads over them. */
static int unpack_actions(const msgpack_object *root, const char *name,
			  int obs_dim, mr_policy *p, mr_err *e)
{
	int nch[MR_MAX_COMPONENTS];
	const msgpack_object *arr =
		get_array(root, "nchoices", name, 1, MR_MAX_COMPONENTS, e);
	if (!arr)
		return -1;
	int ncomp = (int)arr->via.array.size;
	for (int c = 0; c < ncomp; c++) {
		const msgpack_object *o = &arr->via.array.ptr[c];
		if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    o->via.u64 < 1 || o->via.u64 > MR_MLP_MAX_WIDTH)
			return mr_errf(e, MR_EXIT_DATA,
				       "%s: nchoices[%d]: not an integer in "
				       "1..%d", name, c, MR_MLP_MAX_WIDTH);
		nch[c] = (int)o->via.u64;
	}
	int heads = MR_HEADS_FACTORED;
	if (mr_mp_get(root, "heads")) {
		char h[16];
		if (mr_mp_str(root, "heads", name, h, sizeof h, e))
			return -1;
		heads = mr_heads_parse(h);
		if (heads != MR_HEADS_FACTORED && heads != MR_HEADS_JOINT)
			return mr_errf(e, MR_EXIT_DATA, "%s: heads '%s' "
				       "(factored, joint)", name, h);
	}
	if (set_actions(p, obs_dim, ncomp, nch, e) ||
	    set_heads(p, heads, MR_EXIT_DATA, e))
		return mr_err_prefix(e, "%s", name);
	return 0;
}

/* The actor and critic layer lists: their shapes checked against each
 * other, laid out, allocated and filled. */
static int unpack_nets(const msgpack_object *root, const char *name,
		       mr_act act, mr_policy *p, mr_err *e)
{
	int anl, asz[MR_MLP_MAX_LAYERS + 1], cnl, csz[MR_MLP_MAX_LAYERS + 1];
	const msgpack_object *al, *cl;
	if (unpack_net(root, "actor", name, p->obs_dim, p->head_total, &anl,
		       asz, &al, e))
		return -1;
	if (p->shared && anl < 2)
		return mr_errf(e, MR_EXIT_DATA, "%s: shared trunk but the "
			       "actor has no hidden layer", name);
	if (unpack_net(root, "critic", name,
		       p->shared ? asz[anl - 1] : p->obs_dim, 1, &cnl, csz, &cl,
		       e))
		return -1;
	if (p->shared && cnl != 1)
		return mr_errf(e, MR_EXIT_DATA, "%s: shared trunk: the critic "
			       "must be one layer, not %d", name, cnl);
	layout(p, anl - 1, asz + 1, cnl - 1, csz + 1, act);
	if (alloc_arrays(p, e) ||
	    fill_net(&p->actor, al, "actor", name, p->params, e) ||
	    fill_net(&p->critic, cl, "critic", name, p->params, e))
		return -1;
	return 0;
}

/* The observation normaliser's statistics and settings. */
static int unpack_norm(const msgpack_object *root, const char *name,
		       mr_policy *p, mr_err *e)
{
	const void *mean, *var;
	if (mr_mp_bin(root, "obs_mean", name, (size_t)p->obs_dim,
		      sizeof(double), &mean, e) ||
	    mr_mp_bin(root, "obs_var", name, (size_t)p->obs_dim,
		      sizeof(double), &var, e) ||
	    mr_mp_f64(root, "obs_count", name, &p->obs_count, e) ||
	    mr_mp_f64(root, "obs_clip", name, &p->obs_clip, e))
		return -1;
	mr_le_f64(p->obs_mean, mean, (size_t)p->obs_dim);
	mr_le_f64(p->obs_var, var, (size_t)p->obs_dim);
	for (int i = 0; i < p->obs_dim; i++)
		if (!isfinite(p->obs_mean[i]) || !(p->obs_var[i] >= 0) ||
		    !isfinite(p->obs_var[i]))
			return mr_errf(e, MR_EXIT_DATA, "%s: obs_mean/obs_var"
				       "[%d] not a finite mean and variance",
				       name, i);
	if (!(p->obs_clip > 0) || !(p->obs_count >= 0))
		return mr_errf(e, MR_EXIT_DATA, "%s: obs_clip must be > 0 "
			       "and obs_count >= 0", name);
	return 0;
}

mr_policy *mr_policy_unpack(const msgpack_object *root, const char *name,
			    mr_err *e)
{
	if (mr_mp_check_header(root, name, "ppo-policy", 1, e))
		return NULL;
	mr_policy *p = mr_xcalloc(1, sizeof *p);
	char act[16];
	int64_t obs_dim, shared, norm;
	if (mr_mp_str(root, "objective", name, p->objective,
		      sizeof p->objective, e) ||
	    mr_mp_i64(root, "obs_dim", name, 1, MAX_OBS_DIM, &obs_dim, e) ||
	    mr_mp_str(root, "activation", name, act, sizeof act, e) ||
	    mr_mp_i64(root, "shared", name, 0, 1, &shared, e) ||
	    mr_mp_i64(root, "obs_norm", name, 0, 1, &norm, e) ||
	    unpack_actions(root, name, (int)obs_dim, p, e))
		goto fail;
	mr_act a;
	if (!strcmp(act, "tanh"))
		a = MR_ACT_TANH;
	else if (!strcmp(act, "relu"))
		a = MR_ACT_RELU;
	else {
		mr_errf(e, MR_EXIT_DATA, "%s: activation '%s' (tanh, relu)",
			name, act);
		goto fail;
	}
	p->shared = (int)shared;
	p->norm_obs = (int)norm;
	if (unpack_nets(root, name, a, p, e) || unpack_norm(root, name, p, e))
		goto fail;
	mr_policy_refresh(p);
	return p;
fail:
	mr_policy_free(p);
	return NULL;
}

mr_policy *mr_policy_load(const char *path, mr_err *e)
{
	char *buf;
	size_t len;
	if (mr_read_file(path, &buf, &len, 0, e))
		return NULL;
	mr_mp_doc d;
	if (mr_mp_parse(buf, len, path, &d, e)) {
		free(buf);
		return NULL;
	}
	mr_policy *p = mr_policy_unpack(d.root, path, e);
	mr_mp_doc_free(&d);
	free(buf);
	return p;
}
