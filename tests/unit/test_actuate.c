/* test_actuate.c - actuate without a network: trace columns to testbed
 * keys and back (meshapi's schema table), and the action-line parser. */
#include <math.h>
#include <string.h>

#include "actuate.h"
#include "check.h"
#include "meshapi.h"

static const act_kv *find(const act_kv *kv, int n, const char *k)
{
	for (int i = 0; i < n; i++)
		if (strcmp(kv[i].key, k) == 0)
			return &kv[i];
	return NULL;
}

static void test_translate(void)
{
	mr_err e = {0};
	act_kv in[4] = {{"max_l1", 8}, {"p1", 60}, {"b1", 8}, {"c1", 3}};
	act_kv out[8];
	int n = act_translate("compute", in, 4, out, 8, &e);
	CHECK(n == 3, "compute: three actions, the load is not one (%d: %s)", n,
	      e.msg);
	const act_kv *k = find(out, n, "weight.compute");
	CHECK(k && k->val == 60, "p1 -> weight.compute (every class)");
	k = find(out, n, "rate.compute");
	CHECK(k && k->val == -1, "b1 = max_l1 -> no rate limit");
	k = find(out, n, "units.node1");
	CHECK(k && k->val == 3, "c1 -> units.node1");
	in[2].val = 4;
	n = act_translate("compute", in, 4, out, 8, &e);
	k = find(out, n, "rate.compute");
	CHECK(k && k->val == 4, "b1 < max_l1 -> a rate limit of b1");

	act_kv i2[3] = {{"p11", 0.4}, {"b2", 0.2}, {"c2", 5}};
	n = act_translate("info2", i2, 3, out, 8, &e);
	k = find(out, n, "weight.info1");
	CHECK(n == 3 && k && fabs(k->val - 40) < 1e-12,
	      "info2: p11 fraction -> weight.info1 percent");
	k = find(out, n, "block.info2");
	CHECK(k && k->val == 0.2, "info2: b2 -> block.info2");

	act_kv c3[3] = {{"max_l1f", 6}, {"b1f", 2}, {"p1p", 100}};
	n = act_translate("classes", c3, 3, out, 8, &e);
	CHECK(n == 2 && find(out, n, "rate.compute.freemium")->val == 2 &&
		      find(out, n, "weight.compute.premium")->val == 100,
	      "classes: b1f and p1p");

	act_kv raw[2] = {{"weight.info2.freemium", 10}, {"stopped.node2", 1}};
	n = act_translate("compute", raw, 2, out, 8, &e);
	CHECK(n == 2 && out[0].val == 10, "testbed keys pass through");

	act_kv bad1[1] = {{"p9", 1}};
	CHECK(act_translate("compute", bad1, 1, out, 8, &e) < 0 &&
		      e.code == MR_EXIT_DATA && strstr(e.msg, "p9"),
	      "unknown column refused: %s", e.msg);
	act_kv bad2[1] = {{"p1", 140}};
	CHECK(act_translate("compute", bad2, 1, out, 8, &e) < 0 &&
		      strstr(e.msg, "p1=140"),
	      "out-of-range value refused, named: %s", e.msg);
	act_kv bad3[1] = {{"p11", 0.5}};
	CHECK(act_translate("compute", bad3, 1, out, 8, &e) < 0,
	      "another schema's column refused");
	act_kv bad4[1] = {{"units.node3", 1}};
	CHECK(act_translate(NULL, bad4, 1, out, 8, &e) < 0,
	      "unknown testbed key refused");
}

static void test_config_column(void)
{
	mr_err e = {0};
	act_kv cfg[4] = {{"weight.compute.premium", 40},
			 {"rate.compute", -1},
			 {"units.node1", 2},
			 {"weight.info1.premium", 20}};
	double v;
	CHECK(act_config_column("compute", "p1", cfg, 4, 8, &v, &e) == 0 &&
		      v == 40,
	      "p1 read back");
	CHECK(act_config_column("compute", "b1", cfg, 4, 8, &v, &e) == 0 &&
		      v == 8,
	      "no limit reads back as the offered rate");
	CHECK(act_config_column("compute", "b1", cfg, 4, NAN, &v, &e) == 0 &&
		      isnan(v),
	      "... or NaN when the rate is not known yet");
	CHECK(act_config_column("info2", "p11", cfg, 4, 0, &v, &e) == 0 &&
		      fabs(v - 0.2) < 1e-12,
	      "p11 reads back as a fraction");
	CHECK(act_config_column("info2", "c2", cfg, 4, 0, &v, &e) < 0,
	      "a key missing from the configuration is an error");
}

/* The schema table (meshapi) that actuate and trace-collect share. */
static void test_schemas(void)
{
	mr_err e = {0};
	const mesh_schema *c = mesh_schema_get("classes", &e);
	const mesh_schema *i2 = mesh_schema_get("info2", &e);
	CHECK(c && mesh_schema_load(c, "max_l1f") == 1,
	      "max_l1f is the second load column of classes");
	CHECK(i2 && mesh_schema_action(i2, "b2") &&
		      mesh_schema_load(i2, "b2") < 0,
	      "b2 is an action column of info2, not a load");
	CHECK(!mesh_schema_action(i2, "d1") && mesh_schema_load(i2, "d1") < 0,
	      "d1 is neither");
	CHECK(!mesh_schema_get("nosuch", &e) && e.code == MR_EXIT_USAGE &&
		      strstr(e.msg, "compute, info2, classes, generic"),
	      "unknown schema named with the known ones: %s", e.msg);
	const mesh_schema *g = mesh_schema_get("generic", &e);
	CHECK(g && g->nloads == 0 && g->nactions == 0,
	      "generic has no fixed columns");
	static const char *const names[] = {"compute", "info2", "classes"};
	for (size_t i = 0; i < 3; i++) {
		const mesh_schema *s = mesh_schema_get(names[i], &e);
		int ok = s && s->nloads > 0 && s->nactions > 0;
		for (size_t j = 0; ok && j < s->nactions; j++) {
			const mesh_action_col *a = &s->actions[j];
			mesh_key k;
			ok = a->load >= 0 && (size_t)a->load < s->nloads &&
			     a->scale > 0 && mesh_key_parse(a->key, &k, &e) == 0 &&
			     (!a->read_key ||
			      mesh_key_parse(a->read_key, &k, &e) == 0) &&
			     (!a->no_limit || k.kind == MESH_K_RATE);
		}
		for (size_t j = 0; ok && j < s->nloads; j++)
			ok = s->loads[j].svc >= 0 &&
			     s->loads[j].svc < MESH_NSERVICES &&
			     s->loads[j].cls < MESH_NCLASSES;
		CHECK(ok, "%s: every action maps to a control-API key, every "
			  "load to a service (%s)", names[i], e.msg);
	}
}

static void test_parse_line(void)
{
	mr_err e = {0};
	act_kv kv[8];
	int n = act_parse_line("p1=60 c1=3,b1=4\n", kv, 8, &e);
	CHECK(n == 3 && kv[2].val == 4 && strcmp(kv[1].key, "c1") == 0,
	      "spaces and commas separate actions");
	CHECK(act_parse_line("  # a comment", kv, 8, &e) == 0, "comment line");
	CHECK(act_parse_line("p1=60 # then a comment", kv, 8, &e) == 1,
	      "trailing comment");
	static const char *bad[] = {"p1", "p1=", "=3", "p1=x", "p1=1 p1=2",
				    "p1=inf", "p1=3x"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(act_parse_line(bad[i], kv, 8, &e) < 0 &&
			      e.code == MR_EXIT_DATA,
		      "'%s' refused: %s", bad[i], e.msg);
}

int main(void)
{
	test_translate();
	test_config_column();
	test_schemas();
	test_parse_line();
	return CHECK_DONE();
}
