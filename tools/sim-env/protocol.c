/*
 * protocol.c - the sim-env protocol, both ends: the server's request
 * handler (sim-env serve) and the client that drives any simulator speaking
 * it as a vecenv (mr_pipeenv_open, for ppo-train --env-cmd).
 *
 * Frames are a 4-byte big-endian length and one msgpack map. Requests:
 *   {"cmd":"spec"}
 *   {"cmd":"reset","seed":S,"n":N[,"eval":bool][,"binary":bool]}
 *   {"cmd":"step","actions":[[i,...],...] | bin of int32 LE (n x ncomp)}
 *   {"cmd":"close"}
 * Replies: {"ok":true,...} or {"ok":false,"error":"why"}; a bad request is
 * answered, never fatal. The full schema is in the README. This file does
 * not decide anything about the simulation itself (simenv.c does).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "simenv_impl.h"

#define MAX_ENVS_PROTO (1 << 16)

/* ------------------------------------------------------------------------
 * Server
 */
struct se_server {
	const mr_objective *o;
	const char *model_path, *load_pattern;
	mr_vecenv *v;
	int n, eval, binary;
	char err[1100];
};

se_server *se_server_new(const mr_objective *o, const char *model_path,
			 const char *load_pattern)
{
	se_server *s = mr_xcalloc(1, sizeof *s);
	s->o = o;
	s->model_path = model_path;
	s->load_pattern = load_pattern;
	return s;
}

void se_server_free(se_server *s)
{
	if (!s)
		return;
	if (s->v) {
		s->v->close(s->v);
		free(s->v);
	}
	free(s);
}

static void reply_error(msgpack_sbuffer *out, const char *msg)
{
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	mr_pk_str(&pk, "ok");
	msgpack_pack_false(&pk);
	mr_pk_kv_str(&pk, "error", msg);
}

static void pack_spec(msgpack_packer *pk, const mr_objective *o,
		      const mr_vecenv *v)
{
	se_sim *s = v->impl;
	msgpack_pack_map(pk, 10);
	mr_pk_kv_str(pk, "objective", o->name);
	mr_pk_kv_i64(pk, "obs_dim", v->obs_dim);
	mr_pk_kv_i64(pk, "ncomp", v->ncomp);
	mr_pk_str(pk, "nchoices");
	msgpack_pack_array(pk, (size_t)v->ncomp);
	for (int c = 0; c < v->ncomp; c++)
		msgpack_pack_int(pk, v->nchoices[c]);
	mr_pk_kv_i64(pk, "nservices", v->nservices);
	mr_pk_kv_i64(pk, "episode_length", s->ep_len);
	mr_pk_str(pk, "incremental");
	if (o->incremental)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	mr_pk_str(pk, "action_names");
	msgpack_pack_array(pk, (size_t)o->nact);
	for (int c = 0; c < o->nact; c++)
		mr_pk_str(pk, o->act[c].name);
	mr_pk_str(pk, "action_values");
	msgpack_pack_array(pk, (size_t)o->nact);
	for (int c = 0; c < o->nact; c++) {
		msgpack_pack_array(pk, (size_t)o->act[c].nvalues);
		for (int k = 0; k < o->act[c].nvalues; k++)
			msgpack_pack_double(pk, o->act[c].values[k]);
	}
	mr_pk_str(pk, "obs_names");
	msgpack_pack_array(pk, (size_t)v->obs_dim);
	char b[32];
	for (int k = 0; k < v->obs_dim; k++)
		mr_pk_str(pk, se_obs_name(s, k, b, sizeof b));
}

/* Final observations: an environment whose episode ends at a step is
 * reset within it, so the step's obs is the next episode's first. A
 * client that bootstraps a truncated episode's value needs the state the
 * last action led to: its configuration (incremental actions) with the
 * load of the last step (a load pattern has no step past its episode).
 * states_ending copies the states before a step when some episode ends in
 * it (else NULL); final_obs_of gives, after the step, n x obs_dim floats:
 * that observation for an ended episode, obs for the others. */
static se_state *states_ending(const se_sim *s)
{
	for (int i = 0; i < s->nenvs; i++)
		if (s->st[i].t + 1 >= s->ep_len) {
			se_state *c = mr_xcalloc((size_t)s->nenvs, sizeof *c);
			memcpy(c, s->st, (size_t)s->nenvs * sizeof *c);
			return c;
		}
	return NULL;
}

static float *final_obs_of(mr_vecenv *v, const se_state *before)
{
	se_sim *s = se_sim_of(v);
	const mr_objective *o = s->o;
	size_t w = (size_t)v->obs_dim, nc = (size_t)o->nact;
	float *fin = mr_xcalloc((size_t)v->nenvs * w, sizeof *fin);
	uint8_t *mask = mr_xcalloc((size_t)v->total_choices + 1, 1);
	memcpy(fin, v->obs, (size_t)v->nenvs * w * sizeof *fin);
	for (int i = 0; i < v->nenvs; i++) {
		if (!v->dones[i])
			continue;
		se_state st = before[i];
		if (o->incremental)
			memcpy(st.cidx, s->cfg + (size_t)i * nc,
			       nc * sizeof *st.cidx);
		st.t++;
		se_obs_mask(o, &st, fin + (size_t)i * w, mask, 0);
	}
	free(mask);
	return fin;
}

/* Floats as an array of n rows of w. */
static void pack_rows(msgpack_packer *pk, const float *x, size_t n, size_t w)
{
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_array(pk, w);
		for (size_t k = 0; k < w; k++)
			msgpack_pack_float(pk, x[i * w + k]);
	}
}

/* final_obs (NULL: none): the step's final observations (final_obs_of). */
static void pack_state(msgpack_packer *pk, const mr_vecenv *v, int binary,
		       const float *final_obs)
{
	size_t n = (size_t)v->nenvs;
	int ns = v->nservices;
	msgpack_pack_map(pk, final_obs ? 7 : 6);
	mr_pk_kv_i64(pk, "n", v->nenvs);
	if (final_obs) {
		size_t w = (size_t)v->obs_dim;
		mr_pk_str(pk, "final_obs");
		if (binary)
			msgpack_pack_bin_with_body(pk, final_obs,
						   n * w * sizeof(float));
		else
			pack_rows(pk, final_obs, n, w);
	}
	if (binary) {
		mr_pk_kv_bin(pk, "obs", v->obs, n * (size_t)v->obs_dim * sizeof(float));
		mr_pk_kv_bin(pk, "masks", v->masks, n * (size_t)v->total_choices);
		mr_pk_kv_bin(pk, "rewards", v->rewards, n * sizeof(float));
		mr_pk_kv_bin(pk, "dones", v->dones, n);
		mr_pk_str(pk, "info");
		msgpack_pack_map(pk, 5);
		double tmp[4096];
		const char *keys[4] = {"delay", "offered", "carried", "cost"};
		for (int k = 0; k < 4; k++) {
			size_t w = k == 0 ? (size_t)ns : 1;
			mr_pk_str(pk, keys[k]);
			msgpack_pack_bin(pk, n * w * sizeof(double));
			for (size_t i0 = 0; i0 < n; i0 += sizeof tmp / sizeof tmp[0] / w) {
				size_t cnt = 0;
				for (size_t i = i0; i < n && cnt + w <= sizeof tmp / sizeof tmp[0]; i++) {
					const mr_step_info *in = &v->info[i];
					if (k == 0)
						for (int j = 0; j < ns; j++)
							tmp[cnt++] = in->delay[j];
					else
						tmp[cnt++] = k == 1 ? in->offered : k == 2 ? in->carried : in->cost;
				}
				msgpack_pack_bin_body(pk, tmp, cnt * sizeof(double));
			}
		}
		uint8_t met[4096];
		mr_pk_str(pk, "bound_met");
		msgpack_pack_bin(pk, n);
		for (size_t i0 = 0; i0 < n; i0 += sizeof met) {
			size_t cnt = 0;
			for (size_t i = i0; i < n && cnt < sizeof met; i++)
				met[cnt++] = (uint8_t)v->info[i].bound_met;
			msgpack_pack_bin_body(pk, met, cnt);
		}
		return;
	}
	mr_pk_str(pk, "obs");
	pack_rows(pk, v->obs, n, (size_t)v->obs_dim);
	mr_pk_str(pk, "masks");
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_array(pk, (size_t)v->total_choices);
		for (int k = 0; k < v->total_choices; k++)
			msgpack_pack_uint8(pk, v->masks[i * (size_t)v->total_choices + (size_t)k]);
	}
	mr_pk_str(pk, "rewards");
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++)
		msgpack_pack_float(pk, v->rewards[i]);
	mr_pk_str(pk, "dones");
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++)
		if (v->dones[i])
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
	mr_pk_str(pk, "info");
	msgpack_pack_map(pk, 5);
	mr_pk_str(pk, "delay");
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_array(pk, (size_t)ns);
		for (int j = 0; j < ns; j++)
			msgpack_pack_double(pk, v->info[i].delay[j]);
	}
	const char *keys[3] = {"offered", "carried", "cost"};
	for (int k = 0; k < 3; k++) {
		mr_pk_str(pk, keys[k]);
		msgpack_pack_array(pk, n);
		for (size_t i = 0; i < n; i++)
			msgpack_pack_double(pk, k == 0 ? v->info[i].offered
					      : k == 1 ? v->info[i].carried
						       : v->info[i].cost);
	}
	mr_pk_str(pk, "bound_met");
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++)
		if (v->info[i].bound_met)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
}

static int get_bool(const msgpack_object *map, const char *key, int dflt,
		    int *out, mr_err *e)
{
	const msgpack_object *b = mr_mp_get(map, key);
	if (!b) {
		*out = dflt;
		return 0;
	}
	if (b->type == MSGPACK_OBJECT_BOOLEAN)
		*out = b->via.boolean;
	else if (b->type == MSGPACK_OBJECT_POSITIVE_INTEGER && b->via.u64 <= 1)
		*out = (int)b->via.u64;
	else
		return mr_errf(e, MR_EXIT_DATA, "request: key '%s': not a boolean", key);
	return 0;
}

/* Reads the step request's actions into v->actions. */
static int read_actions(mr_vecenv *v, const msgpack_object *root, mr_err *e)
{
	const msgpack_object *a = mr_mp_get(root, "actions");
	size_t n = (size_t)v->nenvs, k = (size_t)v->ncomp;
	if (!a)
		return mr_errf(e, MR_EXIT_DATA, "step: missing key 'actions'");
	if (a->type == MSGPACK_OBJECT_BIN) {
		if (a->via.bin.size != n * k * 4)
			return mr_errf(e, MR_EXIT_DATA,
				       "step: 'actions' bin has %u bytes, expected %zu (%zu envs x %zu components x int32)",
				       a->via.bin.size, n * k * 4, n, k);
		mr_le_i32(v->actions, a->via.bin.ptr, n * k);
		return 0;
	}
	if (a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size != n)
		return mr_errf(e, MR_EXIT_DATA,
			       "step: 'actions' must be an array of %zu arrays (one per environment)",
			       n);
	for (size_t i = 0; i < n; i++) {
		const msgpack_object *r = &a->via.array.ptr[i];
		if (r->type != MSGPACK_OBJECT_ARRAY || r->via.array.size != k)
			return mr_errf(e, MR_EXIT_DATA,
				       "step: actions[%zu] must be an array of %zu integers",
				       i, k);
		for (size_t c = 0; c < k; c++) {
			const msgpack_object *x = &r->via.array.ptr[c];
			int64_t val;
			if (x->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
			    x->via.u64 <= INT32_MAX)
				val = (int64_t)x->via.u64;
			else if (x->type == MSGPACK_OBJECT_NEGATIVE_INTEGER &&
				 x->via.i64 >= INT32_MIN)
				val = x->via.i64;
			else if ((x->type == MSGPACK_OBJECT_FLOAT64 ||
				  x->type == MSGPACK_OBJECT_FLOAT32) &&
				 x->via.f64 == floor(x->via.f64) &&
				 fabs(x->via.f64) < 1e9)
				val = (int64_t)x->via.f64; /* numpy floats */
			else
				return mr_errf(e, MR_EXIT_DATA,
					       "step: actions[%zu][%zu] is not an integer choice index",
					       i, c);
			v->actions[i * k + c] = (int32_t)val;
		}
	}
	return 0;
}

int se_server_handle(se_server *s, const char *req, size_t len,
		     msgpack_sbuffer *out)
{
	mr_mp_doc doc;
	mr_err e;
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	if (mr_mp_parse(req, len, "request", &doc, &e) != 0) {
		reply_error(out, e.msg);
		return 0;
	}
	const msgpack_object *root = doc.root;
	char cmd[16];
	int rc = 0;
	if (root->type != MSGPACK_OBJECT_MAP) {
		reply_error(out, "request: expected a map with key 'cmd'");
		goto done;
	}
	if (mr_mp_str(root, "cmd", "request", cmd, sizeof cmd, &e) != 0) {
		reply_error(out, e.msg);
		goto done;
	}
	if (strcmp(cmd, "reset") == 0 || strcmp(cmd, "spec") == 0) {
		int64_t seed = 0, n = s->v ? s->n : 1;
		int eval = s->eval, binary = s->binary;
		int is_reset = cmd[0] == 'r';
		if (is_reset) {
			const msgpack_object *so = mr_mp_get(root, "seed");
			if (so && so->type == MSGPACK_OBJECT_NIL)
				so = NULL;
			if ((so && mr_mp_i64(root, "seed", "reset", 0, INT64_MAX, &seed, &e) != 0) ||
			    (mr_mp_get(root, "n") &&
			     mr_mp_i64(root, "n", "reset", 1, MAX_ENVS_PROTO, &n, &e) != 0) ||
			    get_bool(root, "eval", s->eval, &eval, &e) != 0 ||
			    get_bool(root, "binary", s->binary, &binary, &e) != 0) {
				reply_error(out, e.msg);
				goto done;
			}
		}
		if (!s->v || n != s->n || eval != s->eval) {
			mr_simenv_opts opts = {.nenvs = (int)n, .seed = (uint64_t)seed,
					       .eval = eval,
					       .load_pattern = s->load_pattern,
					       .model_path = s->model_path};
			mr_vecenv *v = mr_simenv_open(s->o, &opts, &e);
			if (!v) {
				reply_error(out, e.msg);
				goto done;
			}
			if (s->v) {
				s->v->close(s->v);
				free(s->v);
			}
			s->v = v;
			s->n = (int)n;
			s->eval = eval;
		}
		s->binary = binary;
		if (!is_reset) {
			msgpack_pack_map(&pk, 2);
			mr_pk_str(&pk, "ok");
			msgpack_pack_true(&pk);
			mr_pk_str(&pk, "spec");
			pack_spec(&pk, s->o, s->v);
			goto done;
		}
		if (s->v->reset(s->v, (uint64_t)seed, &e) != 0) {
			reply_error(out, e.msg);
			goto done;
		}
		char warn[2048];
		se_range_report(se_sim_of(s->v), warn, sizeof warn);
		msgpack_pack_map(&pk, warn[0] ? 3 : 2);
		mr_pk_str(&pk, "ok");
		msgpack_pack_true(&pk);
		if (warn[0])
			mr_pk_kv_str(&pk, "warning", warn);
		mr_pk_str(&pk, "state");
		pack_state(&pk, s->v, s->binary, NULL);
	} else if (strcmp(cmd, "step") == 0) {
		if (!s->v || !se_sim_of(s->v)->has_reset) {
			reply_error(out, "step before reset");
			goto done;
		}
		/* keep the actions of a failed request from reaching step */
		if (read_actions(s->v, root, &e) != 0) {
			reply_error(out, e.msg);
			goto done;
		}
		se_state *before = states_ending(se_sim_of(s->v));
		if (s->v->step(s->v, &e) != 0) {
			free(before);
			reply_error(out, e.msg);
			goto done;
		}
		float *fin = before ? final_obs_of(s->v, before) : NULL;
		msgpack_pack_map(&pk, 2);
		mr_pk_str(&pk, "ok");
		msgpack_pack_true(&pk);
		mr_pk_str(&pk, "state");
		pack_state(&pk, s->v, s->binary, fin);
		free(before);
		free(fin);
	} else if (strcmp(cmd, "close") == 0) {
		msgpack_pack_map(&pk, 1);
		mr_pk_str(&pk, "ok");
		msgpack_pack_true(&pk);
		rc = 1;
	} else {
		char msg[128];
		snprintf(msg, sizeof msg,
			 "unknown cmd '%s' (spec, reset, step, close)", cmd);
		reply_error(out, msg);
	}
done:
	mr_mp_doc_free(&doc);
	return rc;
}

/* ------------------------------------------------------------------------
 * Client: a child process speaking the protocol, as a vecenv
 */
typedef struct {
	pid_t pid;
	int fd;   /* our end of the socket pair (writes) */
	FILE *rf; /* buffered reads of the same socket */
	msgpack_sbuffer req;
	char *buf;
	size_t cap;
	char name[256];
} pipe_impl;

/* The reply stream broke: say how the child ended, when it has. */
static int broken(pipe_impl *p, mr_err *e)
{
	char why[700];
	snprintf(why, sizeof why, "%.690s", e->msg);
	shutdown(p->fd, SHUT_WR);
	for (int i = 0; i < 100 && p->pid > 0; i++) {
		int status;
		pid_t r = waitpid(p->pid, &status, WNOHANG);
		if (r == p->pid) {
			p->pid = -1;
			if (WIFEXITED(status))
				return mr_errf(e, MR_EXIT_REMOTE,
					       "simulator '%s' exited with status %d",
					       p->name, WEXITSTATUS(status));
			return mr_errf(e, MR_EXIT_REMOTE,
				       "simulator '%s' was killed by signal %d",
				       p->name, WTERMSIG(status));
		}
		usleep(10000);
	}
	return mr_errf(e, MR_EXIT_REMOTE, "simulator '%s': %s", p->name, why);
}

static int send_frame(pipe_impl *p, mr_err *e)
{
	/* the first 4 bytes of req were reserved for the length */
	size_t len = p->req.size - 4;
	unsigned char *h = (unsigned char *)p->req.data;
	h[0] = (unsigned char)(len >> 24);
	h[1] = (unsigned char)(len >> 16);
	h[2] = (unsigned char)(len >> 8);
	h[3] = (unsigned char)len;
	size_t off = 0;
	while (off < p->req.size) {
		/* MSG_NOSIGNAL: a dead child is an error here, not SIGPIPE */
		ssize_t w = send(p->fd, p->req.data + off, p->req.size - off,
				 MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			mr_errf(e, MR_EXIT_REMOTE, "cannot send a request: %s",
				strerror(errno));
			return broken(p, e);
		}
		off += (size_t)w;
	}
	return 0;
}

static void begin_request(pipe_impl *p, msgpack_packer *pk, const char *cmd,
			  int nkeys)
{
	msgpack_sbuffer_clear(&p->req);
	msgpack_sbuffer_write(&p->req, "\0\0\0\0", 4);
	msgpack_packer_init(pk, &p->req, msgpack_sbuffer_write);
	msgpack_pack_map(pk, (size_t)nkeys);
	mr_pk_kv_str(pk, "cmd", cmd);
}

/* Sends the request, reads the reply frame, checks "ok". */
static int round_trip(pipe_impl *p, mr_mp_doc *doc, mr_err *e)
{
	if (send_frame(p, e) != 0)
		return -1;
	size_t len;
	int r = mr_frame_read(p->rf, &p->buf, &p->cap, &len, e);
	if (r == 0)
		mr_errf(e, MR_EXIT_REMOTE, "closed its output");
	if (r <= 0)
		return broken(p, e);
	if (mr_mp_parse(p->buf, len, "reply", doc, e) != 0)
		return mr_err_prefix(e, "simulator '%s'", p->name);
	const msgpack_object *ok = mr_mp_get(doc->root, "ok");
	if (!ok || ok->type != MSGPACK_OBJECT_BOOLEAN) {
		mr_mp_doc_free(doc);
		return mr_errf(e, MR_EXIT_REMOTE,
			       "simulator '%s': reply without boolean 'ok'", p->name);
	}
	if (!ok->via.boolean) {
		char why[900] = "(no message)";
		mr_err e2;
		mr_mp_str(doc->root, "error", "reply", why, sizeof why, &e2);
		mr_mp_doc_free(doc);
		return mr_errf(e, MR_EXIT_REMOTE, "simulator '%s': %s", p->name, why);
	}
	return 0;
}

static int copy_bin(const msgpack_object *map, const char *key, void *dst,
		    size_t count, size_t elem, mr_err *e)
{
	const void *src;
	if (mr_mp_bin(map, key, "reply", count, elem, &src, e) != 0)
		return -1;
	memcpy(dst, src, count * elem);
	return 0;
}

int se_client_parse_reply(mr_vecenv *v, const char *buf, size_t len,
			  mr_err *e)
{
	mr_mp_doc doc;
	if (mr_mp_parse(buf, len, "reply", &doc, e) != 0)
		return -1;
	int rc = -1;
	const msgpack_object *st = mr_mp_get(doc.root, "state");
	size_t n = (size_t)v->nenvs;
	int64_t got;
	if (!st) {
		mr_errf(e, MR_EXIT_REMOTE, "reply: missing 'state' (was 'binary' honoured?)");
		goto out;
	}
	if (mr_mp_i64(st, "n", "reply", 0, MAX_ENVS_PROTO, &got, e) != 0)
		goto out;
	if ((size_t)got != n) {
		mr_errf(e, MR_EXIT_REMOTE, "reply: %lld environments, expected %zu",
			(long long)got, n);
		goto out;
	}
	const msgpack_object *info = mr_mp_get(st, "info");
	size_t ns = (size_t)v->nservices;
	double *tmp = NULL;
	if (copy_bin(st, "obs", v->obs, n * (size_t)v->obs_dim, sizeof(float), e) ||
	    copy_bin(st, "masks", v->masks, n * (size_t)v->total_choices, 1, e) ||
	    copy_bin(st, "rewards", v->rewards, n, sizeof(float), e) ||
	    copy_bin(st, "dones", v->dones, n, 1, e))
		goto out;
	if (!info) {
		mr_errf(e, MR_EXIT_REMOTE, "reply: missing 'info'");
		goto out;
	}
	const void *src;
	if (mr_mp_bin(info, "delay", "reply info", n * ns, sizeof(double), &src, e) != 0)
		goto out;
	tmp = mr_xcalloc(n * ns + 1, sizeof *tmp);
	mr_le_f64(tmp, src, n * ns);
	for (size_t i = 0; i < n; i++) {
		memset(v->info[i].delay, 0, sizeof v->info[i].delay);
		for (size_t j = 0; j < ns; j++)
			v->info[i].delay[j] = tmp[i * ns + j];
	}
	const char *keys[3] = {"offered", "carried", "cost"};
	for (int k = 0; k < 3; k++) {
		if (mr_mp_bin(info, keys[k], "reply info", n, sizeof(double), &src, e) != 0)
			goto out2;
		mr_le_f64(tmp, src, n);
		for (size_t i = 0; i < n; i++) {
			if (k == 0)
				v->info[i].offered = tmp[i];
			else if (k == 1)
				v->info[i].carried = tmp[i];
			else
				v->info[i].cost = tmp[i];
		}
	}
	if (mr_mp_bin(info, "bound_met", "reply info", n, 1, &src, e) != 0)
		goto out2;
	for (size_t i = 0; i < n; i++)
		v->info[i].bound_met = ((const uint8_t *)src)[i] != 0;
	rc = 0;
out2:
	free(tmp);
out:
	mr_mp_doc_free(&doc);
	return rc;
}

static int pipe_exchange(mr_vecenv *v, mr_err *e)
{
	pipe_impl *p = v->impl;
	if (send_frame(p, e) != 0)
		return -1;
	size_t len;
	int r = mr_frame_read(p->rf, &p->buf, &p->cap, &len, e);
	if (r == 0)
		mr_errf(e, MR_EXIT_REMOTE, "closed its output");
	if (r <= 0)
		return broken(p, e);
	/* an error reply is small: check "ok" cheaply through the parser */
	mr_mp_doc doc;
	if (mr_mp_parse(p->buf, len, "reply", &doc, e) != 0)
		return mr_err_prefix(e, "simulator '%s'", p->name);
	const msgpack_object *ok = mr_mp_get(doc.root, "ok");
	if (!ok || ok->type != MSGPACK_OBJECT_BOOLEAN || !ok->via.boolean) {
		char why[900] = "reply without boolean 'ok'";
		mr_err e2;
		if (ok)
			mr_mp_str(doc.root, "error", "reply", why, sizeof why, &e2);
		mr_mp_doc_free(&doc);
		return mr_errf(e, MR_EXIT_REMOTE, "simulator '%s': %s", p->name, why);
	}
	mr_mp_doc_free(&doc);
	if (se_client_parse_reply(v, p->buf, len, e) != 0)
		return mr_err_prefix(e, "simulator '%s'", p->name);
	return 0;
}

static int pipe_reset(mr_vecenv *v, uint64_t seed, mr_err *e)
{
	pipe_impl *p = v->impl;
	msgpack_packer pk;
	begin_request(p, &pk, "reset", 4);
	mr_pk_str(&pk, "seed");
	msgpack_pack_uint64(&pk, seed);
	mr_pk_kv_i64(&pk, "n", v->nenvs);
	mr_pk_str(&pk, "binary");
	msgpack_pack_true(&pk);
	return pipe_exchange(v, e);
}

static int pipe_step(mr_vecenv *v, mr_err *e)
{
	pipe_impl *p = v->impl;
	msgpack_packer pk;
	begin_request(p, &pk, "step", 2);
	mr_pk_kv_bin(&pk, "actions", v->actions,
		     (size_t)v->nenvs * (size_t)v->ncomp * sizeof(int32_t));
	return pipe_exchange(v, e);
}

static void pipe_close(mr_vecenv *v)
{
	pipe_impl *p = v->impl;
	if (p) {
		if (p->fd >= 0) {
			msgpack_packer pk;
			mr_err e;
			begin_request(p, &pk, "close", 1);
			if (send_frame(p, &e) == 0) {
				size_t len;
				(void)mr_frame_read(p->rf, &p->buf, &p->cap, &len, &e);
			}
			shutdown(p->fd, SHUT_RDWR);
			close(p->fd);
		}
		if (p->rf)
			fclose(p->rf);
		if (p->pid > 0) {
			int status;
			while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
				;
		}
		msgpack_sbuffer_destroy(&p->req);
		free(p->buf);
		free(p);
	}
	mr_vecenv_free_buffers(v);
	memset(v, 0, sizeof *v);
}

mr_vecenv *mr_pipeenv_open(char *const argv[], int nenvs, uint64_t seed,
			   mr_err *e)
{
	if (!argv || !argv[0]) {
		mr_errf(e, MR_EXIT_USAGE, "simulator command is empty");
		return NULL;
	}
	if (nenvs < 1 || nenvs > MAX_ENVS_PROTO) {
		mr_errf(e, MR_EXIT_USAGE, "number of environments must be 1..%d",
			MAX_ENVS_PROTO);
		return NULL;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		mr_errf(e, MR_EXIT_IO, "socketpair: %s", strerror(errno));
		return NULL;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		mr_errf(e, MR_EXIT_IO, "fork: %s", strerror(errno));
		return NULL;
	}
	if (pid == 0) {
		/* child: the socket is its stdin and stdout; stderr stays. Its
		 * own process group: a Ctrl-C meant for the trainer must not
		 * kill the simulator before the trainer writes its checkpoint
		 * (the child ends on EOF when the trainer goes). */
		if (setpgid(0, 0) != 0 || dup2(sv[1], 0) < 0 || dup2(sv[1], 1) < 0)
			_exit(127);
		execvp(argv[0], argv);
		fprintf(stderr, "cannot run simulator '%s': %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	mr_vecenv *v = mr_xcalloc(1, sizeof *v);
	pipe_impl *p = mr_xcalloc(1, sizeof *p);
	v->impl = p;
	v->reset = pipe_reset;
	v->step = pipe_step;
	v->close = pipe_close;
	p->pid = pid;
	p->fd = sv[0];
	snprintf(p->name, sizeof p->name, "%s", argv[0]);
	msgpack_sbuffer_init(&p->req);
	int rfd = fcntl(sv[0], F_DUPFD_CLOEXEC, 0);
	if (rfd < 0 || !(p->rf = fdopen(rfd, "r"))) {
		if (rfd >= 0)
			close(rfd);
		mr_errf(e, MR_EXIT_IO, "fdopen: %s", strerror(errno));
		goto bad;
	}
	/* the spec: sizes of everything */
	msgpack_packer pk;
	begin_request(p, &pk, "spec", 1);
	mr_mp_doc doc;
	if (round_trip(p, &doc, e) != 0)
		goto bad;
	const msgpack_object *spec = mr_mp_get(doc.root, "spec");
	int64_t od, nc, nsv;
	if (!spec || mr_mp_i64(spec, "obs_dim", "spec", 1, 4096, &od, e) != 0 ||
	    mr_mp_i64(spec, "ncomp", "spec", 1, MR_MAX_COMPONENTS, &nc, e) != 0 ||
	    mr_mp_i64(spec, "nservices", "spec", 0, MR_MAX_SERVICES, &nsv, e) != 0) {
		if (!spec)
			mr_errf(e, MR_EXIT_REMOTE, "spec reply without 'spec'");
		mr_mp_doc_free(&doc);
		mr_err_prefix(e, "simulator '%s'", p->name);
		goto bad;
	}
	const msgpack_object *ch = mr_mp_get(spec, "nchoices");
	if (!ch || ch->type != MSGPACK_OBJECT_ARRAY || ch->via.array.size != (uint32_t)nc) {
		mr_mp_doc_free(&doc);
		mr_errf(e, MR_EXIT_REMOTE, "simulator '%s': spec 'nchoices' must have %lld entries",
			p->name, (long long)nc);
		goto bad;
	}
	v->nenvs = nenvs;
	v->obs_dim = (int)od;
	v->ncomp = (int)nc;
	v->nservices = (int)nsv;
	for (int c = 0; c < v->ncomp; c++) {
		const msgpack_object *x = &ch->via.array.ptr[c];
		if (x->type != MSGPACK_OBJECT_POSITIVE_INTEGER || x->via.u64 < 1 ||
		    x->via.u64 > MR_MAX_CHOICES) {
			mr_mp_doc_free(&doc);
			mr_errf(e, MR_EXIT_REMOTE,
				"simulator '%s': bad nchoices[%d] (1..%d)",
				p->name, c, MR_MAX_CHOICES);
			goto bad;
		}
		v->nchoices[c] = (int)x->via.u64;
		v->total_choices += v->nchoices[c];
	}
	mr_mp_doc_free(&doc);
	mr_vecenv_alloc_buffers(v);
	if (pipe_reset(v, seed, e) != 0)
		goto bad;
	return v;
bad:
	pipe_close(v);
	free(v);
	return NULL;
}
