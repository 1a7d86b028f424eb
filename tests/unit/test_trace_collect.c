/* test_trace_collect.c - trace-collect's parts without a network: load
 * patterns, grids and samples, schemas and rows, trace files, and the
 * engine's send tick (against a loopback port that refuses). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tc.h"

static char dir[] = "/tmp/meshrl-tc-test-XXXXXX";

static const char *path_of(const char *name)
{
	static char p[256];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return p;
}

static void put(const char *name, const char *text)
{
	FILE *f = fopen(path_of(name), "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		exit(1);
}

static char *get(const char *name)
{
	char *b = NULL;
	size_t n;
	mr_err e;
	if (mr_read_file(path_of(name), &b, &n, 0, &e) != 0)
		return NULL;
	return b;
}

/* Counts arrivals in [0, T). */
static size_t count_until(tc_pattern *p, double T)
{
	size_t n = 0;
	for (;;) {
		double t = tc_pattern_next(p);
		if (!(t < T))
			return n;
		n++;
	}
}

static void test_patterns(void)
{
	mr_err e = {0};
	tc_pattern p;
	CHECK(tc_pattern_parse("constant:50", 5, &p, &e) == 0, "constant parses");
	tc_pattern_start(&p, 1, MR_STREAM_ARRIVALS_BASE);
	double t0 = tc_pattern_next(&p), t1 = tc_pattern_next(&p);
	CHECK(t0 == 0 && fabs(t1 - 0.02) < 1e-12, "constant: evenly spaced");
	tc_pattern_start(&p, 1, MR_STREAM_ARRIVALS_BASE);
	CHECK(count_until(&p, 10) == 500, "constant 50/s: 500 in 10 s");

	CHECK(tc_pattern_parse("poisson:8", 5, &p, &e) == 0, "poisson parses");
	tc_pattern_start(&p, 7, MR_STREAM_ARRIVALS_BASE);
	size_t n = count_until(&p, 1000);
	CHECK(fabs((double)n - 8000) < 4 * sqrt(8000),
	      "poisson 8/s: %zu arrivals in 1000 s (8000 +- 4 sigma)", n);
	tc_pattern q;
	tc_pattern_parse("poisson:8", 5, &q, &e);
	tc_pattern_start(&q, 7, MR_STREAM_ARRIVALS_BASE);
	tc_pattern_start(&p, 7, MR_STREAM_ARRIVALS_BASE);
	CHECK(tc_pattern_next(&p) == tc_pattern_next(&q),
	      "poisson: same seed, same arrivals");

	CHECK(tc_pattern_parse("sin:30,10,100", 5, &p, &e) == 0, "sin parses");
	CHECK(fabs(tc_pattern_rate(&p, 25) - 40) < 1e-9, "sin: peak at T/4");
	CHECK(fabs(tc_pattern_mean(&p, 0, 100) - 30) < 1e-9,
	      "sin: mean over a period is l0");
	tc_pattern_start(&p, 3, MR_STREAM_ARRIVALS_BASE + 1);
	size_t half1 = count_until(&p, 50);
	CHECK(fabs((double)half1 - (1500 + 1000 / M_PI * 1)) <
		      4 * sqrt(1818.0),
	      "sin: first half period has l0*T/2 + A*T/pi arrivals (%zu)",
	      half1);

	put("rates.txt", "# rate per step\n10\n\n0\n20\n");
	char spec[300];
	snprintf(spec, sizeof spec, "file:%s,2", path_of("rates.txt"));
	CHECK(tc_pattern_parse(spec, 5, &p, &e) == 0 && p.nsteps == 3,
	      "file: three steps (%s)", e.msg);
	CHECK(tc_pattern_end(&p) == 6, "file: ends after 3 steps of 2 s");
	CHECK(fabs(tc_pattern_mean(&p, 0, 6) - 10) < 1e-9,
	      "file: mean over the file");
	tc_pattern_start(&p, 1, MR_STREAM_ARRIVALS_BASE);
	double t, last = 0;
	size_t in_zero = 0;
	while (isfinite(t = tc_pattern_next(&p))) {
		in_zero += t >= 2 && t < 4;
		last = t;
	}
	CHECK(in_zero == 0 && last < 6, "file: no arrivals in a 0 step, none "
					"after the end");
	tc_pattern_free(&p);
	put("bad.txt", "10\nfast\n");
	snprintf(spec, sizeof spec, "file:%s", path_of("bad.txt"));
	CHECK(tc_pattern_parse(spec, 5, &p, &e) < 0 &&
		      strstr(e.msg, "bad.txt:2:") && e.code == MR_EXIT_DATA,
	      "file: a bad line is named with file:line (%s)", e.msg);
	static const char *bad[] = {"poisson", "poisson:-1", "poisson:x",
				    "sin:1,2", "sin:1,2,0", "burst:3",
				    "file:", "constant:5x"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(tc_pattern_parse(bad[i], 5, &p, &e) < 0 &&
			      e.code == MR_EXIT_USAGE,
		      "pattern '%s' refused: %s", bad[i], e.msg);
	tc_stream s;
	CHECK(tc_stream_parse("compute:freemium=poisson:4", 5, &s, &p, &e) == 0 &&
		      strcmp(s.service, "compute") == 0 && s.cls == 1,
	      "stream spec with class");
	CHECK(tc_stream_parse("info1=constant:4", 5, &s, &p, &e) == 0 &&
		      s.cls == -1,
	      "stream spec without class");
	CHECK(tc_stream_parse("compute:gold=poisson:4", 5, &s, &p, &e) < 0,
	      "unknown class refused");
	CHECK(tc_stream_parse("poisson:4", 5, &s, &p, &e) < 0,
	      "stream without '=' refused");
}

static void test_grid(void)
{
	tc_grid g = {0};
	mr_err e = {0};
	CHECK(tc_grid_add(&g, "max_l1=4,8,12; p1=0:100:20", &e) == 0 &&
		      tc_grid_add(&g, "c1=1:5", &e) == 0,
	      "grid parses (%s)", e.msg);
	CHECK(g.size == 90 && g.nkeys == 3, "grid: 3 x 6 x 5 = 90 (%llu)",
	      (unsigned long long)g.size);
	double pt[3];
	tc_grid_point(&g, 0, pt);
	CHECK(pt[0] == 4 && pt[1] == 0 && pt[2] == 1, "grid point 0");
	tc_grid_point(&g, 1, pt);
	CHECK(pt[0] == 4 && pt[1] == 0 && pt[2] == 2, "last key varies fastest");
	tc_grid_point(&g, 89, pt);
	CHECK(pt[0] == 12 && pt[1] == 100 && pt[2] == 5, "grid point 89");
	tc_grid_free(&g);
	CHECK(tc_grid_add(&g, "b1=0:0.8:0.2", &e) == 0 && g.nvals[0] == 5 &&
		      g.vals[0][3] == 0.6 && g.vals[0][4] == 0.8,
	      "fractional steps land on 0.6 and 0.8 exactly");
	tc_grid_free(&g);
	static const char *bad[] = {"p1", "p1=", "=1", "p1=0:100:0",
				    "p1=5:1", "p1=a,b", "p1=1,,2", "p1=1;p1=2",
				    "p1=1,1", "p1=0:1:0.5x"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		tc_grid b = {0};
		CHECK(tc_grid_add(&b, bad[i], &e) < 0 && e.code == MR_EXIT_USAGE,
		      "grid '%s' refused: %s", bad[i], e.msg);
		tc_grid_free(&b);
	}
	/* samples */
	tc_grid_add(&g, "a=0:99;b=0:99", &e);
	uint64_t n1, n2;
	uint64_t *s1 = tc_grid_order(&g, 50, 42, &n1, &e);
	uint64_t *s2 = tc_grid_order(&g, 50, 42, &n2, &e);
	int sorted = 1, same = n1 == n2, inrange = 1;
	for (uint64_t i = 0; i < n1; i++) {
		if (i && s1[i] <= s1[i - 1])
			sorted = 0;
		if (s1[i] != s2[i])
			same = 0;
		if (s1[i] >= g.size)
			inrange = 0;
	}
	CHECK(n1 == 50 && sorted && inrange,
	      "sample: 50 distinct sorted configurations");
	CHECK(same, "sample: same seed, same configurations");
	free(s2);
	s2 = tc_grid_order(&g, 50, 43, &n2, &e);
	CHECK(memcmp(s1, s2, 50 * sizeof *s1) != 0, "another seed, another sample");
	free(s1);
	free(s2);
	s1 = tc_grid_order(&g, 0, 1, &n1, &e);
	CHECK(n1 == 10000 && s1[9999] == 9999, "no sample: every configuration");
	free(s1);
	tc_grid_free(&g);
	/* 10^8 configurations are too many to list: an error, not an exit */
	tc_grid_add(&g, "a=0:9999;b=0:9999", &e);
	CHECK(!tc_grid_order(&g, 0, 1, &n1, &e) && e.code == MR_EXIT_USAGE &&
		      strstr(e.msg, "--sample"),
	      "a huge grid without --sample is refused: %s", e.msg);
	s1 = tc_grid_order(&g, 5, 1, &n1, &e);
	CHECK(s1 && n1 == 5, "... and sampled from");
	free(s1);
	tc_grid_free(&g);
}

static void add_lat(tc_wstats *s, double v, int node)
{
	s->sent++;
	s->ok++;
	s->sum += v;
	s->sumsq += v * v;
	if (s->nlat == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 8;
		s->lat = realloc(s->lat, s->cap * sizeof(double));
	}
	s->lat[s->nlat++] = v;
	s->node_ok[node]++;
	s->node_sum[node] += v;
}

static void header(const tc_schema *s, char *hdr, size_t cap)
{
	hdr[0] = 0;
	for (size_t i = 0; i < s->ncols; i++)
		snprintf(hdr + strlen(hdr), cap - strlen(hdr), "%s%s",
			 i ? "," : "", s->names[i]);
}

static void test_schema(void)
{
	mr_err e = {0};
	tc_schema s;
	CHECK(tc_schema_init(&s, "compute", NULL, 0, &e) == 0, "compute schema");
	char hdr[512];
	header(&s, hdr, sizeof hdr);
	CHECK(strcmp(hdr, "max_l1,l1,cl1,p1,b1,c1,d1,d1_std,d1_p90,d1_p99,"
			  "d11,d12,drop1") == 0,
	      "compute columns: %s", hdr);
	tc_window w;
	memset(&w, 0, sizeof w);
	w.target[0] = 8;
	w.cfg[0] = 60;  /* p1 */
	w.cfg[1] = NAN; /* b1: no limit -> max_l1 */
	w.cfg[2] = 3;   /* c1 */
	for (int i = 1; i <= 10; i++)
		add_lat(&w.s[0], i * 0.1, i <= 6 ? 0 : 1);
	w.s[0].sent += 3;
	w.s[0].refused = 2;
	w.s[0].failed = 1;
	char row[1024];
	size_t n = tc_schema_row(&s, &w, 5, row, sizeof row);
	row[n] = 0;
	CHECK(strcmp(row, "8,13,10,60,8,3,0.55,0.2872281323269015,0.9,1,"
			  "0.35000000000000003,0.85,3\n") == 0,
	      "compute row: %s", row);
	free(w.s[0].lat);

	CHECK(tc_schema_init(&s, "info2", NULL, 0, &e) == 0 && s.ncols == 20 &&
		      strcmp(s.names[6], "p11") == 0 &&
		      strcmp(s.names[19], "drop2") == 0,
	      "info2 columns");
	header(&s, hdr, sizeof hdr);
	CHECK(strcmp(hdr, "max_l1,max_l2,l1,l2,cl1,cl2,p11,p21,b1,b2,c1,c2,"
			  "d1,d2,d11,d12,d21,d22,drop1,drop2") == 0,
	      "info2 header, as data_CNSM_2022.csv: %s", hdr);
	CHECK(s.cfg_stream[1] == 1 && s.cfg_stream[4] == 0 &&
		      strcmp(s.streams[1].service, "info2") == 0,
	      "info2: p21 acts on the info2 stream");
	memset(&w, 0, sizeof w);
	w.target[0] = 10;
	w.target[1] = 5;
	add_lat(&w.s[0], 0.03, 0);
	add_lat(&w.s[0], 0.05, 1);
	w.s[0].sent += 2, w.s[0].refused = 2;
	add_lat(&w.s[1], 0.1, 1);
	n = tc_schema_row(&s, &w, 2, row, sizeof row);
	row[n] = 0;
	CHECK(strncmp(row, "10,5,2,0.5,1,0.5,", 17) == 0,
	      "info2: l, cl and drop are req/s over the window: %s", row);
	free(w.s[0].lat);
	free(w.s[1].lat);

	CHECK(tc_schema_init(&s, "classes", NULL, 0, &e) == 0 &&
		      s.ncols == 16 && strcmp(s.names[8], "b1f") == 0 &&
		      s.streams[0].cls == 0 && s.streams[1].cls == 1,
	      "classes columns and streams");
	header(&s, hdr, sizeof hdr);
	CHECK(strcmp(hdr, "max_l1p,max_l1f,l1p,l1f,cl1p,cl1f,p1p,p1f,b1f,c1,"
			  "d1p,d1f,d1p_p90,d1f_p90,drop1p,drop1f") == 0,
	      "classes header: %s", hdr);
	CHECK(s.cfg_stream[2] == 1 && strcmp(s.loads[1], "max_l1f") == 0,
	      "classes: b1f without a limit is the freemium load");
	tc_stream st[2] = {{"compute", 1}, {"compute", 0}};
	tc_pattern pats[2];
	memset(pats, 0, sizeof pats);
	pats[0].rate = 1;
	pats[1].rate = 2;
	CHECK(tc_schema_match(&s, st, pats, 2, &e) == 0 && st[0].cls == 0 &&
		      pats[0].rate == 2,
	      "streams are put in the schema's order");
	tc_stream one[1] = {{"info1", -1}};
	CHECK(tc_schema_match(&s, one, pats, 1, &e) < 0, "missing stream refused");
	CHECK(tc_schema_init(&s, "nosuch", NULL, 0, &e) < 0, "unknown schema");
	CHECK(tc_schema_init(&s, "generic", one, 1, &e) == 0 && s.ncols == 10 &&
		      strcmp(s.names[9], "drop1") == 0,
	      "generic: ten columns per stream");
}

static void test_trace_file(void)
{
	mr_err e = {0};
	char *cols[] = {"a", "b", NULL};
	tc_trace t;
	const char *p = path_of("t.csv");
	CHECK(tc_trace_open(&t, p, cols, 2, 1, &e) == 0, "new trace opens");
	tc_trace_write(&t, "1,2\n", 4, 1, &e);
	tc_trace_close(&t);
	CHECK(tc_trace_open(&t, p, cols, 2, 1, &e) == 0, "reopens for append");
	tc_trace_write(&t, "3,4\n", 4, 0, &e);
	tc_trace_close(&t);
	char *s = get("t.csv");
	CHECK(s && strcmp(s, "a,b\n1,2\n3,4\n") == 0, "header written once");
	free(s);
	/* a torn last row is cut before appending */
	int fd = open(p, O_WRONLY | O_APPEND);
	if (fd >= 0) {
		if (write(fd, "5,", 2) != 2)
			exit(1);
		close(fd);
	}
	CHECK(tc_trace_open(&t, p, cols, 2, 1, &e) == 0, "reopens a torn trace");
	tc_trace_write(&t, "6,7\n", 4, 0, &e);
	tc_trace_close(&t);
	s = get("t.csv");
	CHECK(s && strcmp(s, "a,b\n1,2\n3,4\n6,7\n") == 0,
	      "torn row removed, rows intact");
	free(s);
	char *other[] = {"a", "c", NULL};
	CHECK(tc_trace_open(&t, p, other, 2, 1, &e) < 0 &&
		      e.code == MR_EXIT_DATA && strstr(e.msg, "t.csv:1:"),
	      "another schema's file refused: %s", e.msg);
	s = get("t.csv");
	CHECK(s && strcmp(s, "a,b\n1,2\n3,4\n6,7\n") == 0,
	      "refused file untouched");
	free(s);
}

/* A loopback port that refuses connections (bound, not listening) while
 * *fd stays open; 0 when none could be had. */
static int refusing_port(int *fd)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	*fd = socket(AF_INET, SOCK_STREAM, 0);
	if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    getsockname(*fd, (struct sockaddr *)&a, &len) != 0)
		return 0;
	return ntohs(a.sin_port);
}

/* Sends 0.6 s of `pattern` with the given tick; returns the summary's
 * `key` (late_p50_us, late_p99_us; -1 on failure) and the requests sent. */
static double run_tick_at(const char *url, const char *pattern, double tick,
			  const char *key, uint64_t *sent)
{
	mr_err e = {0};
	tc_stream st;
	tc_pattern pat;
	*sent = 0;
	if (tc_stream_parse(pattern, 1, &st, &pat, &e) != 0)
		return -1;
	tc_engine_opts o = {.url = url, .timeout = 1, .max_inflight = 4096,
			    .connections = 16, .tick = tick, .seed = 1,
			    .quiet = 1};
	tc_engine *g = tc_engine_new(&o, &st, 1, &e);
	if (!g)
		return -1;
	tc_segment seg = {.window = 0.2, .nwin = 3, .pats = &pat, .tag = 0};
	double p50 = -1;
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	if (f && tc_engine_run(g, &seg, NULL, NULL, &e) == 0 &&
	    tc_engine_drain(g, NULL, NULL, 0, &e) == 0) {
		tc_engine_summary(g, f);
		fflush(f);
		const char *v = strstr(buf, key);
		if (v)
			p50 = atof(v + strlen(key));
		uint64_t ok;
		const char *err;
		tc_engine_counts(g, sent, &ok, &err);
	}
	if (f)
		fclose(f);
	free(buf);
	tc_engine_free(g);
	tc_pattern_free(&pat);
	return p50;
}

static double run_tick(const char *url, double tick, uint64_t *sent)
{
	return run_tick_at(url, "health=constant:500", tick, "late_p50_us=",
			   sent);
}

static void test_send_tick(void)
{
	int fd;
	int port = refusing_port(&fd);
	if (!port) {
		printf("skip - send tick: no loopback port\n");
		if (fd >= 0)
			close(fd);
		return;
	}
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
	uint64_t sent0, sent20;
	double exact = run_tick(url, 0, &sent0);
	/* 20 ms ticks at one send per 2 ms: ten sends per tick, their
	 * lateness spread over the tick (median ~10 ms) */
	double ticked = run_tick(url, 0.02, &sent20);
	CHECK(sent0 == 300 && sent20 == 300, "every due send is sent, tick "
	      "or not (%llu, %llu of 300)", (unsigned long long)sent0,
	      (unsigned long long)sent20);
	CHECK(ticked >= 5000 && ticked > exact,
	      "a 20 ms send tick batches sends: median lateness %.0f us "
	      "(%.0f us without)", ticked, exact);
	/* every send due on a tick's end (20/s, 50 ms ticks): none may wait
	 * for the next tick (rounding did that to about half of them) */
	uint64_t n;
	double p99 = run_tick_at(url, "health=constant:20", 0.05,
				 "late_p99_us=", &n);
	CHECK(p99 >= 0 && p99 < 25000 && n == 12,
	      "sends due on a tick's end go at that end: p99 lateness %.0f "
	      "us of a 50 ms tick (%llu sent)", p99, (unsigned long long)n);
	close(fd);
}

/* A trace over grid x = 0..9, r = 0..1 with rows at r = 0 only: y from
 * yof(x, row), three rows per x. */
static void adapt_trace(const char *name, double (*yof)(int, int))
{
	char text[4096] = "x,r,y\n";
	for (int x = 0; x < 10; x++)
		for (int k = 0; k < 3; k++) {
			size_t n = strlen(text);
			snprintf(text + n, sizeof text - n, "%d,0,%g\n", x,
				 yof(x, k));
		}
	put(name, text);
}

/* quiet below x = 5, rows of one configuration disagree from there */
static double y_noisy(int x, int k)
{
	return x < 5 ? 1 : 10.0 * k;
}

/* below the bound's scale up to x = 4, overloaded (seconds, noisy) above */
static double y_overload(int x, int k)
{
	return x < 5 ? x : 100.0 * (k + 1);
}

static double y_linear(int x, int k)
{
	(void)k;
	return x;
}

/* The first pick after a fit on trace: its x (-1 if none). */
static int adapt_first(const tc_grid *g, const char *trace,
		       const tc_bound *b, size_t nb, uint64_t *cand,
		       double *score)
{
	const char *targets[] = {"y"};
	tc_adapt_opts o = {.grid = g, .targets = targets, .ntargets = 1,
			   .bounds = b, .nbounds = nb, .init_rows = 10,
			   .trees = 30, .seed = 4};
	mr_err e = {0};
	tc_adapt *a = tc_adapt_new(&o, cand, 10, &e);
	uint64_t idx;
	double pt[2];
	int x = -1;
	if (a && tc_adapt_fit(a, path_of(trace), &e) == 0 &&
	    tc_adapt_next(a, &idx, score) == 1) {
		tc_grid_point(g, idx, pt);
		x = (int)pt[0];
	}
	tc_adapt_free(a);
	return x;
}

static void test_adaptive(void)
{
	tc_grid g = {0};
	mr_err e = {0};
	CHECK(tc_grid_add(&g, "x=0:9;r=0,1", &e) == 0, "adaptive: grid");
	uint64_t cand[10]; /* r = 1: not in the trace */
	for (int x = 0; x < 10; x++)
		cand[x] = (uint64_t)(2 * x + 1);
	/* before a fit: every candidate once, at random, then none */
	const char *targets[] = {"y"};
	tc_adapt_opts o = {.grid = &g, .targets = targets, .ntargets = 1,
			   .init_rows = 1000, .trees = 30, .seed = 4};
	tc_adapt *a = tc_adapt_new(&o, cand, 10, &e);
	adapt_trace("a.csv", y_linear);
	int seen = 0, in_order = 1, rc = a ? tc_adapt_fit(a, path_of("a.csv"),
							  &e) : -1;
	uint64_t idx;
	double score = 0;
	for (int k = 0; a && tc_adapt_next(a, &idx, &score) == 1; k++) {
		seen |= 1 << (idx / 2);
		in_order &= idx == cand[k];
	}
	CHECK(rc == 0 && seen == 0x3ff && !in_order && isnan(score) &&
	      tc_adapt_rows(a) == 0,
	      "adaptive: below init_rows each candidate once, in a random "
	      "order, no fit (%s)", e.msg);
	tc_adapt_free(a);
	const char *bad[] = {"x"};
	o.targets = bad;
	CHECK(!tc_adapt_new(&o, cand, 10, &e) && strstr(e.msg, "grid key"),
	      "adaptive: a grid key as target is refused (%s)", e.msg);
	/* where the trees disagree: the noisy half */
	adapt_trace("a.csv", y_noisy);
	int x = adapt_first(&g, "a.csv", NULL, 0, cand, &score);
	CHECK(x >= 5 && score > 0.1,
	      "adaptive: first pick where rows disagree (x = %d, score %.3f)",
	      x, score);
	/* nearest the bound: y = x against y <= 6.5 */
	adapt_trace("a.csv", y_linear);
	tc_bound b = {.col = "y", .value = 6.5};
	x = adapt_first(&g, "a.csv", &b, 1, cand, &score);
	CHECK(x == 6 || x == 7,
	      "adaptive: first pick beside the bound y <= 6.5 (x = %d)", x);
	b.value = 2.5;
	x = adapt_first(&g, "a.csv", &b, 1, cand, &score);
	CHECK(x == 2 || x == 3,
	      "adaptive: first pick beside the bound y <= 2.5 (x = %d)", x);
	/* far past the bound, values are capped at 3 x bound: their spread
	 * does not draw the pick (without a bound it does) */
	adapt_trace("a.csv", y_overload);
	x = adapt_first(&g, "a.csv", &b, 1, cand, &score);
	int free_x = adapt_first(&g, "a.csv", NULL, 0, cand, &score);
	CHECK(x == 2 || x == 3,
	      "adaptive: overloaded spread capped, pick beside the bound "
	      "(x = %d; x = %d without the bound)", x, free_x);
	CHECK(free_x >= 5, "adaptive: without a bound, the overloaded "
	      "spread draws the pick (x = %d)", free_x);
	tc_grid_free(&g);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	test_patterns();
	test_grid();
	test_schema();
	test_trace_file();
	test_send_tick();
	test_adaptive();
	static const char *files[] = {"rates.txt", "bad.txt", "t.csv",
				      "a.csv"};
	for (size_t i = 0; i < 4; i++)
		unlink(path_of(files[i]));
	rmdir(dir);
	return CHECK_DONE();
}
