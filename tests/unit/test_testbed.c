/* test_testbed.c - the testbed's pieces that need no server: flat JSON,
 * configuration keys, the control secret and env file, the CFS-style CPU
 * quota, listening sockets, the demand draw, calibration and its
 * comparison with a trace's sidecar. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "testbed.h"

static void test_flatjson(void)
{
	mesh_kv kv[8];
	mr_err e = {0};
	const char *ok = " { \"units\" : 3, \"slow\":1.5e0,\"paused\":true,"
			 "\"node\":\"node1\" } ";
	int n = mesh_flatjson_parse(ok, strlen(ok), kv, 8, &e);
	CHECK(n == 4, "flat JSON: four pairs (got %d: %s)", n, e.msg);
	CHECK(n == 4 && kv[0].val == 3 && kv[1].val == 1.5 && kv[2].val == 1,
	      "flat JSON: numbers and true");
	CHECK(n == 4 && isnan(kv[3].val) && strcmp(kv[3].str, "node1") == 0,
	      "flat JSON: a string value is kept as a string");
	CHECK(mesh_flatjson_parse("{}", 2, kv, 8, &e) == 0, "flat JSON: {} is empty");
	static const char *bad[] = {
		"", "[]", "{\"a\":}", "{\"a\":1,}", "{\"a\":1} x", "{a:1}",
		"{\"a\":nan}", "{\"a\":{\"b\":1}}", "{\"a\":1e999}",
		"{\"a\\\"b\":1}", "{\"a\":1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		e.msg[0] = 0;
		int r = mesh_flatjson_parse(bad[i], strlen(bad[i]), kv, 8, &e);
		CHECK(r < 0 && strstr(e.msg, "byte") != NULL,
		      "flat JSON refuses '%s' naming the byte (%s)", bad[i],
		      e.msg);
	}
	CHECK(mesh_flatjson_parse("{\"a\":1,\"b\":2}", 13, kv, 1, &e) < 0,
	      "flat JSON: more pairs than room is an error");
}

static void test_keys(void)
{
	mesh_key k;
	mr_err e = {0};
	CHECK(mesh_key_parse("weight.compute", &k, &e) == 0 &&
		      k.kind == MESH_K_WEIGHT && k.svc == 0 && k.cls == -1,
	      "key weight.compute: every class");
	CHECK(mesh_key_parse("rate.info2.freemium", &k, &e) == 0 &&
		      k.kind == MESH_K_RATE && k.svc == 2 && k.cls == 1,
	      "key rate.info2.freemium");
	CHECK(mesh_key_parse("units.node2", &k, &e) == 0 && k.node == 1,
	      "key units.node2");
	CHECK(mesh_key_parse("timeout", &k, &e) == 0 && k.kind == MESH_K_TIMEOUT,
	      "key timeout");
	static const char *bad[] = {"weight", "weight.nosuch", "units.node3",
				    "block.compute.premium", "timeout.x",
				    "speed.node1", "weight.compute.gold"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(mesh_key_parse(bad[i], &k, &e) < 0 &&
			      strstr(e.msg, bad[i]) != NULL,
		      "key '%s' refused, named in the message", bad[i]);
	mesh_key_parse("weight.compute", &k, &e);
	CHECK(mesh_key_check(&k, "weight.compute", 100, &e) == 0 &&
		      mesh_key_check(&k, "weight.compute", 101, &e) < 0,
	      "weight range 0..100");
	mesh_key_parse("rate.compute", &k, &e);
	CHECK(mesh_key_check(&k, "rate.compute", -1, &e) == 0 &&
		      mesh_key_check(&k, "rate.compute", -2, &e) < 0 &&
		      mesh_key_check(&k, "rate.compute", NAN, &e) < 0,
	      "rate: -1 means none; other negatives and NaN refused");
}

static void burn(double seconds)
{
	double t0 = tb_thread_cpu();
	volatile double x = 0;
	while (tb_thread_cpu() - t0 < seconds)
		for (int i = 0; i < 1000; i++)
			x += i * 1e-9;
}

static void test_quota(void)
{
	/* 1 unit of 0.1 core, 20 ms periods: 30 ms of CPU needs ~15 periods
	 * of quota, so about 0.3 s of wall time (less the first period's
	 * budget); never much less. */
	tb_quota q;
	tb_quota_init(&q, 0.02, 0.1, 1);
	double t0 = mr_now(), used = 0;
	while (used < 0.03) {
		double c0 = tb_thread_cpu();
		burn(0.0005);
		double c = tb_thread_cpu() - c0;
		used += c;
		tb_quota_charge(&q, c, 0);
	}
	double wall = mr_now() - t0;
	CHECK(wall >= 0.24, "1 unit of 0.1 core: 30 ms of CPU takes >= 0.24 s "
			    "of wall time (took %.3f s)", wall);
	CHECK(wall < 1.5, "... and not absurdly long (%.3f s)", wall);
	CHECK(q.throttled > 0.15, "throttled time is counted (%.3f s)",
	      q.throttled);
	/* 5 units: five times the budget */
	tb_quota_set(&q, 5, 1);
	t0 = mr_now();
	used = 0;
	while (used < 0.03) {
		double c0 = tb_thread_cpu();
		burn(0.0005);
		double c = tb_thread_cpu() - c0;
		used += c;
		tb_quota_charge(&q, c, 0);
	}
	double wall5 = mr_now() - t0;
	CHECK(wall5 < wall * 0.6, "5 units run the same work faster (%.3f s vs "
				  "%.3f s)", wall5, wall);
	/* a deadline cuts the wait short */
	tb_quota_set(&q, 1, 1);
	t0 = mr_now();
	int late = tb_quota_charge(&q, 0.05, mr_now() + 0.05);
	CHECK(late == 1 && mr_now() - t0 < 0.2,
	      "over budget with a near deadline: returns late at once");
	/* slow factor: charged CPU is multiplied */
	tb_quota_set(&q, 1, 4);
	double before = q.total;
	tb_quota_charge(&q, 0.0001, mr_now() + 0.001);
	CHECK(fabs(q.total - before - 0.0004) < 1e-9, "slow 4 charges 4x");
	tb_quota_destroy(&q);
}

static void test_listen(void)
{
	mr_err e = {0};
	int port = -1;
	int fd = tb_listen("127.0.0.1", 0, &port, &e);
	CHECK(fd >= 0 && port > 0, "port 0 gives a free port (%d)", port);
	int port2;
	int fd2 = tb_listen("127.0.0.1", port, &port2, &e);
	CHECK(fd2 < 0 && strstr(e.msg, "taken") && e.code == MR_EXIT_IO,
	      "a taken port is a clear error: %s", e.msg);
	CHECK(tb_listen("not-an-ip", 0, &port2, &e) < 0 &&
		      e.code == MR_EXIT_USAGE,
	      "a bad address is a usage error");
	if (fd >= 0)
		close(fd);
	char host[64];
	tb_url_host("0.0.0.0", host, sizeof host);
	CHECK(strcmp(host, "127.0.0.1") == 0, "bind 0.0.0.0 is reached on 127.0.0.1");
	tb_url_host("::1", host, sizeof host);
	CHECK(strcmp(host, "[::1]") == 0, "an IPv6 bind goes in brackets");
}

/* The control secret: random hex, compared whole, and the env file. */
static void test_secret(void)
{
	mr_err e = {0};
	char a[MESH_SECRET_LEN + 1], b[MESH_SECRET_LEN + 1];
	CHECK(mesh_secret_new(a, &e) == 0 && mesh_secret_new(b, &e) == 0 &&
		      strlen(a) == MESH_SECRET_LEN &&
		      strspn(a, "0123456789abcdef") == MESH_SECRET_LEN &&
		      strcmp(a, b) != 0,
	      "two secrets: 64 hex digits each, different");
	CHECK(mesh_secret_equal(a, strlen(a), a), "a secret equals itself");
	char c[MESH_SECRET_LEN + 1];
	memcpy(c, a, sizeof c);
	c[MESH_SECRET_LEN - 1] ^= 1;
	CHECK(!mesh_secret_equal(c, strlen(c), a) &&
		      !mesh_secret_equal(a, MESH_SECRET_LEN - 1, a) &&
		      !mesh_secret_equal("", 0, a) && !mesh_secret_equal("", 0, ""),
	      "a last byte changed, a prefix, or nothing is not the secret");
	CHECK(mesh_secret_check("ab\r\nX-Evil: 1", "s", &e) != 0 &&
		      mesh_secret_check("", "s", &e) != 0 &&
		      mesh_secret_check(a, "s", &e) == 0,
	      "a secret with a line break (header injection) is refused");

	char dir[] = "/tmp/meshrl-test-env.XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "temp dir");
	char path[64];
	snprintf(path, sizeof path, "%s/env", dir);
	char text[256];
	snprintf(text, sizeof text,
		 "TB_URL=http://127.0.0.2:1\nTB_PIDS=\"1 2 3\"\n"
		 "TB_CONTROL=http://127.0.0.1:2\nTB_SECRET=%s\nexport "
		 "TB_SECRET\n",
		 a);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	mesh_env env;
	chmod(path, 0644);
	CHECK(mesh_env_read(path, &env, &e) != 0 && strstr(e.msg, "chmod 600"),
	      "an env file others can read is refused: %s", e.msg);
	chmod(path, 0600);
	CHECK(mesh_env_read(path, &env, &e) == 0 &&
		      strcmp(env.url, "http://127.0.0.2:1") == 0 &&
		      strcmp(env.control, "http://127.0.0.1:2") == 0 &&
		      strcmp(env.secret, a) == 0,
	      "the env file's URLs and secret are read");
	f = fopen(path, "w");
	if (f) {
		fputs("TB_URL=x\nTB_SECRET=a b\n", f);
		fclose(f);
	}
	CHECK(mesh_env_read(path, &env, &e) != 0 && strstr(e.msg, "env:2"),
	      "a bad secret names file and line: %s", e.msg);
	unlink(path);
	rmdir(dir);
}

static void test_demand_draw(void)
{
	static const double cvs[] = {0, 0.3, 1, 2};
	for (size_t k = 0; k < sizeof cvs / sizeof cvs[0]; k++) {
		mr_rng r, r2;
		mr_rng_seed(&r, 5, 0);
		mr_rng_seed(&r2, 5, 0);
		int n = 40000, pos = 1, same = 1;
		double sum = 0, sum2 = 0;
		for (int i = 0; i < n; i++) {
			double d = tb_demand_draw(&r, 0.018, cvs[k]);
			pos &= d > 0 || cvs[k] > 1;
			same &= d == tb_demand_draw(&r2, 0.018, cvs[k]);
			sum += d;
			sum2 += d * d;
		}
		double m = sum / n, cv = sqrt(sum2 / n - m * m) / m;
		/* standard error of the mean: cv / sqrt(n) <= 1 % */
		CHECK(fabs(m - 0.018) < 0.018 * 0.03,
		      "demand cv %g: mean %.5f s (want 0.018)", cvs[k], m);
		CHECK(fabs(cv - cvs[k]) < 0.05 + 0.05 * cvs[k],
		      "demand cv %g: measured cv %.3f", cvs[k], cv);
		CHECK(pos && same, "demand cv %g: positive, the same draws from "
				   "the same seed", cvs[k]);
	}
}

static void test_calibrate(void)
{
	mr_err e = {0};
	tb_node_opts o = {.unit = 0.1, .units = 1, .period = 0.02,
			  .matrix = 64, .info_rows = 2000, .info1_lookups = 10,
			  /* a few ms each: a request overshoots its demand by
			   * at most one unit of work (a lookup), which under
			   * ASan is slow enough to matter against 1 ms */
			  .max_queue = 10, .demand_ms = {5, 4, 4},
			  .demand_cv = 0.3};
	tb_calib c[MESH_NSERVICES];
	CHECK(tb_calibrate(&o, 20, c, &e) == 0, "calibrate runs (%s)", e.msg);
	for (int i = 0; i < MESH_NSERVICES; i++)
		CHECK(fabs(c[i].charged_ms - o.demand_ms[i]) <
			      TB_CALIB_TOLERANCE * o.demand_ms[i] &&
		      c[i].cv > 0.1 && c[i].cv < 0.6,
		      "%s: charged %.3f ms per request (set %g), cv %.2f",
		      mesh_service_names[i], c[i].charged_ms, o.demand_ms[i],
		      c[i].cv);
	tb_node_opts fixed = o;
	memset(fixed.demand_ms, 0, sizeof fixed.demand_ms);
	tb_calib f[MESH_NSERVICES];
	CHECK(tb_calibrate(&fixed, 3, f, &e) == 0 && f[0].charged_ms > 0 &&
		      f[0].charged_ms < 50 && f[2].charged_ms > 0,
	      "demand 0: the fixed work's CPU is measured (%.3f ms)",
	      f[0].charged_ms);

	/* against sidecars */
	char path[] = "/tmp/test_testbed_meta.XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0, "a temporary sidecar");
	if (fd < 0)
		return;
	close(fd);
	struct {
		const char *text, *want; /* want: NULL = no warning */
	} cases[] = {
		{"node1.unit=0.1\nnode1.charged_ms_compute=5.1\n", NULL},
		{"node1.charged_ms_compute=9\n# run 2\n"
		 "node1.charged_ms_compute=5\n", NULL},
		{"node1.charged_ms_compute=5\nnode2.charged_ms_compute=7\n",
		 "compute: the trace's node2 charged 7"},
		{"calibrate_ms_info2=3\nnode1.charged_ms_compute=unknown\n",
		 "info2: `testbed calibrate` said 3"},
		{"node1.unit=0.2\nnode1.charged_ms_compute=5\n",
		 "node1.unit was 0.2"},
		{"tool=x\n", "no calibration figures"},
		{"node1.charged_ms_compute=5\nfront.timeout_s=2\n", NULL},
		{"node1.charged_ms_compute=5\nfront.timeout_s=5\n",
		 "front timeout was 5 s, this testbed's is 2 s"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (mr_write_file_atomic(path, cases[i].text,
					 strlen(cases[i].text), &e) != 0)
			break;
		char *out = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&out, &len);
		int n = tb_calib_compare(&o, c, 2, path, f, &e);
		fclose(f);
		if (cases[i].want)
			CHECK(n == 1 && strstr(out, cases[i].want),
			      "sidecar %zu: one warning '%s' (%d: %s)", i,
			      cases[i].want, n, out);
		else
			CHECK(n == 0, "sidecar %zu: agrees (%d: %s)", i, n, out);
		free(out);
	}
	unlink(path);
	CHECK(tb_calib_compare(&o, c, 2, path, stderr, &e) < 0 &&
		      strstr(e.msg, path),
	      "a missing sidecar is an error naming it (%s)", e.msg);
}

int main(void)
{
	test_flatjson();
	test_keys();
	test_secret();
	test_quota();
	test_listen();
	test_demand_draw();
	test_calibrate();
	return CHECK_DONE();
}
