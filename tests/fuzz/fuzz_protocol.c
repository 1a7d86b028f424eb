/* fuzz_protocol.c - libFuzzer target for both ends of the sim-env protocol.
 * First byte even: the bytes are a series of request frames (2-byte length
 * + body) handed to the server's request handler on a small analytic
 * objective, so resets and steps with hostile actions really run. First
 * byte odd: the rest is a reply handed to the client's reply parser.
 * Any result but a crash (or a leak) is fine. */
#include <stdlib.h>
#include <string.h>

#include "simenv_impl.h"

static const char objective[] =
	"name = toy\nservices = web\n"
	"[load]\npattern = levels\nlevels = 4, 8, 12\nhold = 2\n"
	"[param O]\nlevels = 0.5, 1\n"
	"[action p]\nvalues = 0..100 step 20\n"
	"[action c]\nvalues = 1..5\n"
	"[model]\nkind = analytic\ntargets = d1\n"
	"[features]\nl = load1\np1 = p\nc1 = c\n"
	"[targets]\nd1 = 0.1 + l * p1 / 100 / c1 / 4\n"
	"[reward]\nfamily = delay-bound-cost\ndelay1 = d1\ncost = c\n"
	"bound1 = O\nbudget = 6\n";

static mr_objective *obj;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mr_err e;
	if (!obj) {
		obj = se_objective_parse(objective, sizeof objective - 1, "toy.obj",
					 ".", &e);
		if (!obj)
			abort();
	}
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0) {
		se_server *s = se_server_new(obj, NULL, NULL);
		msgpack_sbuffer out;
		msgpack_sbuffer_init(&out);
		size_t pos = 1;
		while (pos + 2 <= size) {
			size_t len = (size_t)data[pos] << 8 | data[pos + 1];
			pos += 2;
			if (len > size - pos)
				len = size - pos;
			msgpack_sbuffer_clear(&out);
			/* a copy, so reads past the frame are caught */
			char *req = malloc(len ? len : 1);
			memcpy(req, data + pos, len);
			int done = se_server_handle(s, req, len, &out);
			free(req);
			pos += len;
			if (done)
				break;
		}
		msgpack_sbuffer_destroy(&out);
		se_server_free(s);
	} else {
		mr_vecenv v;
		memset(&v, 0, sizeof v);
		v.nenvs = 2;
		v.obs_dim = 2;
		v.ncomp = 2;
		v.nchoices[0] = 6;
		v.nchoices[1] = 5;
		v.total_choices = 11;
		v.nservices = 1;
		float obs[4], rew[2];
		uint8_t masks[22], dones[2];
		int32_t act[4];
		mr_step_info info[2];
		v.obs = obs;
		v.rewards = rew;
		v.masks = masks;
		v.dones = dones;
		v.actions = act;
		v.info = info;
		char *buf = malloc(size);
		memcpy(buf, data + 1, size - 1);
		(void)se_client_parse_reply(&v, buf, size - 1, &e);
		free(buf);
	}
	return 0;
}
