/* test_lib.c - the shared library: CSV reader, number formatting, RNG,
 * atomic output, msgpack pre-check and getters, protocol frames. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "meshrl.h"

static char tmpdir[] = "/tmp/meshrl-test-XXXXXX";

static const char *write_tmp(const char *name, const char *text)
{
	static char path[256];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	return path;
}

/* Reads columns cols from text; returns 0/-1 and fills t, e. */
static int read_text(const char *text, const char *cols, int skip,
		     mr_table *t, mr_err *e)
{
	const char *path = write_tmp("t.csv", text);
	size_t n = 0;
	char **names = cols ? mr_split_names(cols, &n, e) : NULL;
	int rc = mr_table_read(path, (const char *const *)names, n, skip, t, e);
	free(names);
	return rc;
}

static void test_csv_accepts(void)
{
	mr_table t;
	mr_err e = {0};
	int rc = read_text("a,b,c\r\n1,\"2.5\",x\r\n3,7.06e-05,y", "b,a", 0,
			   &t, &e);
	CHECK(rc == 0, "CRLF, quotes, no final newline, sci notation: %s",
	      rc ? e.msg : "read");
	if (rc == 0) {
		CHECK(t.nrows == 2 && t.ncols == 2, "2 rows x 2 selected cols");
		CHECK(t.data[0] == 2.5 && t.data[1] == 1, "columns by name");
		CHECK(t.data[2] == 7.06e-05 && t.data[3] == 3, "sci notation");
		CHECK(t.line[1] == 3, "line numbers count the header");
		mr_table_free(&t);
	}
	rc = read_text("x,y\n4,0.7999999999999998\n\n5,3.2\n", NULL, 0, &t, &e);
	CHECK(rc == 0 && t.nrows == 2 && t.ncols == 2,
	      "blank lines skipped, all columns when none named");
	if (rc == 0)
		mr_table_free(&t);
}

static void test_csv_bom(void)
{
	mr_table t;
	mr_err e = {0};
	int rc = read_text("\xef\xbb\xbfmax_l1,d1\n4,0.1\n", "max_l1,d1", 0,
			   &t, &e);
	CHECK(rc == 0 && t.nrows == 1 && t.data[0] == 4,
	      "a UTF-8 byte order mark before the header is skipped: %s",
	      rc ? e.msg : "read");
	if (rc == 0)
		mr_table_free(&t);
	rc = read_text("a,b\n\xef\xbb\xbf" "1,2\n", NULL, 0, &t, &e);
	CHECK(rc == -1 && e.code == MR_EXIT_DATA && strstr(e.msg, ":2:"),
	      "one anywhere else is bad data");
}

static void expect_reject(const char *text, const char *cols,
			  const char *want, const char *what)
{
	mr_table t;
	mr_err e = {0};
	int rc = read_text(text, cols, 0, &t, &e);
	CHECK(rc == -1 && e.code == MR_EXIT_DATA && strstr(e.msg, want),
	      "rejects %s: got '%s'", what, rc ? e.msg : "(accepted)");
	if (rc == 0)
		mr_table_free(&t);
}

static void test_csv_rejects(void)
{
	expect_reject("a,b\n1,\n", "a,b", "t.csv:2: column 'b': empty field",
		      "an empty field");
	expect_reject("a,b\n1,2\n1,abc\n", "a,b",
		      "t.csv:3: column 'b': 'abc' is not a number",
		      "non-numeric text");
	expect_reject("a,b\n1,nan\n", "a,b", "column 'b': 'nan' is not a finite",
		      "NaN");
	expect_reject("a,b\n1,-inf\n", "a,b", "'-inf' is not a finite",
		      "inf");
	expect_reject("a,b\n1,1e999\n", "a,b", "out of range", "overflow");
	expect_reject("a,b\n1,2,3\n", "a", "t.csv:2: expected 2 fields",
		      "a ragged row");
	expect_reject("a,b\n1,2\n", "a,c", "t.csv:1: no column 'c'",
		      "a missing column");
	expect_reject("a,b,a\n1,2,3\n", "a", "column 'a' appears twice",
		      "a duplicate column");
	expect_reject("", "a", "empty input", "empty input");
	expect_reject("a,b\n1,\"2\n", "a,b", "malformed CSV",
		      "an unterminated quote");
}

static void test_csv_skip(void)
{
	mr_table t;
	mr_err e = {0};
	int rc = read_text("a,b\n1,2\n1,\n3,x\n4,5,6\n7,8\n", "a,b", 1, &t,
			   &e);
	CHECK(rc == 0 && t.nrows == 2 && t.skipped == 3,
	      "skip_bad keeps good rows and counts 3 skipped");
	if (rc == 0)
		mr_table_free(&t);
}

static void test_fmt(void)
{
	char b[32];
	CHECK(strcmp(mr_fmt_double(b, 4), "4") == 0, "integers print bare");
	CHECK(strtod(mr_fmt_double(b, 0.7999999999999998), NULL) ==
		      0.7999999999999998,
	      "round trip");
	CHECK(strcmp(mr_fmt_double(b, 0.1), "0.1") == 0, "shortest form");
	CHECK(strcmp(mr_fmt_double(b, 0.1 + 0.2), "0.30000000000000004") == 0,
	      "a sum's artefact is kept: 0.3 would read back as another double");
	/* shortest: every value reads back, and one digit less would not */
	mr_rng r;
	mr_rng_seed(&r, 5, 0);
	int back = 1, shortest = 1, fback = 1, fshortest = 1;
	for (int i = 0; i < 20000; i++) {
		double v = mr_rng_uniform(&r) * pow(10, (int)mr_rng_below(&r, 30) - 15);
		float fv = (float)v;
		char c[320];
		mr_fmt_double(b, v);
		back &= strtod(b, NULL) == v;
		int digits = 0;
		for (const char *q = b; *q && *q != 'e'; q++)
			digits += *q >= '0' && *q <= '9';
		for (const char *q = b; *q == '0' || *q == '.'; q++)
			digits -= *q == '0'; /* leading zeros of 0.00x */
		snprintf(c, sizeof c, "%.*g", digits - 1, v);
		/* (integers print bare: fewer characters than an exponent) */
		shortest &= digits <= 1 || !strpbrk(b, ".e") ||
			    strtod(c, NULL) != v;
		mr_fmt_float(b, fv);
		fback &= strtof(b, NULL) == fv;
		digits = 0;
		for (const char *q = b; *q && *q != 'e'; q++)
			digits += *q >= '0' && *q <= '9';
		for (const char *q = b; *q == '0' || *q == '.'; q++)
			digits -= *q == '0';
		snprintf(c, sizeof c, "%.*g", digits - 1, (double)fv);
		fshortest &= digits <= 1 || !strpbrk(b, ".e") ||
			     strtof(c, NULL) != fv;
	}
	CHECK(back && shortest, "20000 doubles: read back, none shorter would");
	CHECK(fback && fshortest, "20000 float32: read back (strtof), none shorter would");
	CHECK(strcmp(mr_fmt_float(b, 0.016f), "0.016") == 0 &&
		      strcmp(mr_fmt_double(b, (double)0.016f),
			     "0.01600000075995922") == 0,
	      "a float32 prints as one, not as its double");
	CHECK(strcmp(mr_fmt_float(b, 3.0f), "3") == 0 &&
		      strcmp(mr_fmt_float(b, -1.2168357f), "-1.2168357") == 0,
	      "float32: integers bare, 8 digits where needed");
	double x[60];
	for (int t = 0; t < 60; t++)
		x[t] = 8 + 4 * sin(2 * M_PI * t / 60);
	double naive = 0;
	for (int t = 0; t < 60; t++)
		naive += x[t];
	CHECK(naive / 60 != 8 && mr_sum(x, 60) / 60 == 8,
	      "mr_sum: a sine's 60 loads around 8 average to 8 (naive: %s)",
	      mr_fmt_double(b, naive / 60));
}

static void test_rng(void)
{
	mr_rng a, b, c;
	mr_rng_seed(&a, 42, 0);
	mr_rng_seed(&b, 42, 0);
	mr_rng_seed(&c, 42, 1);
	int same = 1, diff = 0;
	for (int i = 0; i < 100; i++) {
		uint64_t x = mr_rng_u64(&a), y = mr_rng_u64(&b),
			 z = mr_rng_u64(&c);
		same &= x == y;
		diff += x != z;
	}
	CHECK(same, "same seed, same stream");
	CHECK(diff > 95, "other stream differs");
	double s = 0, s2 = 0;
	int in = 1;
	for (int i = 0; i < 100000; i++) {
		double u = mr_rng_uniform(&a);
		in &= u >= 0 && u < 1;
		double z = mr_rng_normal(&a);
		s += z;
		s2 += z * z;
	}
	CHECK(in, "uniform in [0,1)");
	CHECK(fabs(s / 1e5) < 0.02 && fabs(s2 / 1e5 - 1) < 0.03,
	      "normal has mean 0, variance 1");
	int counts[3] = {0};
	for (int i = 0; i < 30000; i++)
		counts[mr_rng_below(&a, 3)]++;
	CHECK(abs(counts[0] - 10000) < 400 && abs(counts[2] - 10000) < 400,
	      "below(3) is uniform");
}

static void test_out(void)
{
	char path[256];
	snprintf(path, sizeof path, "%s/out.txt", tmpdir);
	mr_err e;
	mr_out o;
	CHECK(mr_out_open(&o, path, &e) == 0, "open atomic output");
	fputs("hello\n", o.f);
	CHECK(access(path, F_OK) != 0, "target absent before commit");
	CHECK(mr_out_commit(&o, &e) == 0 && access(path, F_OK) == 0,
	      "target present after commit");
	CHECK(mr_out_open(&o, path, &e) == 0, "reopen");
	fputs("partial", o.f);
	mr_out_abort(&o);
	char *buf;
	size_t len;
	CHECK(mr_read_file(path, &buf, &len, 0, &e) == 0 && len == 6 &&
		      memcmp(buf, "hello\n", 6) == 0,
	      "abort leaves the old file intact");
	if (len == 6)
		free(buf);
	struct stat st;
	CHECK(mr_out_open(&o, "/dev/null", &e) == 0 && o.tmp == NULL,
	      "a device is written in place");
	fputs("x", o.f);
	CHECK(mr_out_commit(&o, &e) == 0 && stat("/dev/null", &st) == 0 &&
		      S_ISCHR(st.st_mode),
	      "/dev/null is still a device after commit");
	snprintf(path, sizeof path, "%s/no/such/dir/x", tmpdir);
	CHECK(mr_out_open(&o, path, &e) == -1 && e.code == MR_EXIT_IO &&
		      strstr(e.msg, "no/such/dir/x"),
	      "unwritable target named in the error");
}

static void test_out_distinct(void)
{
	char a[256], b[256], l[256];
	snprintf(a, sizeof a, "%s/out.txt", tmpdir);
	snprintf(b, sizeof b, "%s/t.csv", tmpdir);
	snprintf(l, sizeof l, "%s/link", tmpdir);
	mr_err e;
	CHECK(mr_out_check_distinct(a, b, &e) == 0, "two files are distinct");
	CHECK(mr_out_check_distinct(a, a, &e) == -1 &&
		      e.code == MR_EXIT_USAGE && strstr(e.msg, "same file"),
	      "an output that is its input is refused");
	CHECK(symlink("out.txt", l) == 0 &&
		      mr_out_check_distinct(l, a, &e) == -1,
	      "... also through a link");
	unlink(l);
	CHECK(mr_out_check_distinct("-", a, &e) == 0 &&
		      mr_out_check_distinct(l, a, &e) == 0,
	      "stdout and a file to be made pass");
}

static void test_hash(void)
{
	CHECK(mr_hash64("", 0, MR_HASH_INIT) == UINT64_C(0xcbf29ce484222325) &&
		      mr_hash64("a", 1, MR_HASH_INIT) ==
			      UINT64_C(0xaf63dc4c8601ec8c),
	      "FNV-1a 64 test vectors");
	uint64_t h1, h2;
	mr_err e;
	const char *p = write_tmp("t.csv", "abc");
	CHECK(mr_hash_file(p, &h1, &e) == 0 &&
		      h1 == mr_hash64("abc", 3, MR_HASH_INIT),
	      "a file's hash is its bytes'");
	p = write_tmp("t.csv", "abd");
	CHECK(mr_hash_file(p, &h2, &e) == 0 && h2 != h1,
	      "another content, another hash");
}

static void test_mp(void)
{
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	mr_pk_kv_str(&pk, "format", "test-thing");
	mr_pk_kv_i64(&pk, "version", 1);
	float w[3] = {1, 2, 3};
	mr_pk_kv_bin(&pk, "w", w, sizeof w);
	char *names[] = {"a", "bc"};
	mr_pk_kv_strs(&pk, "names", names, 2);
	mr_pk_kv_f64(&pk, "x", 0.5);
	mr_err e;
	mr_mp_doc d;
	CHECK(mr_mp_parse(sb.data, sb.size, "m", &d, &e) == 0, "parse");
	CHECK(mr_mp_check_header(d.root, "m", "test-thing", 1, &e) == 0,
	      "header ok");
	CHECK(mr_mp_check_header(d.root, "m", "rf-forest", 1, &e) == -1 &&
		      strstr(e.msg, "format is 'test-thing', expected 'rf-forest'"),
	      "wrong format named");
	CHECK(mr_mp_check_header(d.root, "m", "test-thing", 2, &e) == -1 &&
		      strstr(e.msg, "version 1"),
	      "wrong version named");
	const void *p;
	float got[3];
	CHECK(mr_mp_bin(d.root, "w", "m", 3, 4, &p, &e) == 0, "bin size ok");
	mr_le_f32(got, p, 3);
	CHECK(got[2] == 3, "bin contents");
	CHECK(mr_mp_bin(d.root, "w", "m", 4, 4, &p, &e) == -1 &&
		      strstr(e.msg, "expected 16"),
	      "bin size mismatch refused");
	char **ns;
	size_t nn;
	CHECK(mr_mp_strs(d.root, "names", "m", &ns, &nn, &e) == 0 && nn == 2 &&
		      strcmp(ns[1], "bc") == 0,
	      "string arrays");
	if (nn == 2)
		free(ns);
	double x;
	CHECK(mr_mp_f64(d.root, "x", "m", &x, &e) == 0 && x == 0.5, "f64");
	CHECK(mr_mp_f64(d.root, "nope", "m", &x, &e) == -1 &&
		      strstr(e.msg, "missing key 'nope'"),
	      "missing key named");
	mr_mp_doc_free(&d);
	int all_refused = 1;
	for (size_t cut = 0; cut < sb.size; cut++)
		if (mr_mp_parse(sb.data, cut, "m", &d, &e) == 0) {
			all_refused = 0;
			mr_mp_doc_free(&d);
		}
	CHECK(all_refused, "every truncation refused");
	/* an array that claims 2^32-1 elements in 5 bytes */
	const char huge[] = {(char)0xdd, (char)0xff, (char)0xff, (char)0xff,
			     (char)0xff};
	CHECK(mr_mp_parse(huge, sizeof huge, "m", &d, &e) == -1 &&
		      strstr(e.msg, "truncated"),
	      "oversized declared array refused without allocating");
	msgpack_sbuffer_destroy(&sb);
}

static void test_frames(void)
{
	char path[256];
	snprintf(path, sizeof path, "%s/frames", tmpdir);
	FILE *f = fopen(path, "w+");
	mr_err e;
	CHECK(f && mr_frame_write(f, "abc", 3, &e) == 0 &&
		      mr_frame_write(f, "", 0, &e) == 0,
	      "write frames");
	rewind(f);
	char *buf = NULL;
	size_t cap = 0, len = 0;
	CHECK(mr_frame_read(f, &buf, &cap, &len, &e) == 1 && len == 3 &&
		      memcmp(buf, "abc", 3) == 0,
	      "read frame");
	CHECK(mr_frame_read(f, &buf, &cap, &len, &e) == 1 && len == 0,
	      "empty frame");
	CHECK(mr_frame_read(f, &buf, &cap, &len, &e) == 0, "clean end");
	fclose(f);
	f = fopen(path, "w+");
	fwrite("\0\0\0\x09" "abc", 1, 7, f);
	rewind(f);
	CHECK(mr_frame_read(f, &buf, &cap, &len, &e) == -1 &&
		      strstr(e.msg, "ended inside"),
	      "short frame refused");
	fclose(f);
	free(buf);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_csv_accepts();
	test_csv_bom();
	test_csv_rejects();
	test_csv_skip();
	test_fmt();
	test_rng();
	test_out();
	test_out_distinct();
	test_hash();
	test_mp();
	test_frames();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "%s", tmpdir);
	/* remove the scratch files */
	const char *files[] = {"t.csv", "out.txt", "frames"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(cmd, sizeof cmd, "%s/%s", tmpdir, files[i]);
		unlink(cmd);
	}
	rmdir(tmpdir);
	return CHECK_DONE();
}
