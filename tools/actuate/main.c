/*
 * actuate - apply action vectors to the local testbed or to Kubernetes +
 * Istio. Actions come as KEY=VALUE arguments (one vector), or, with none,
 * from stdin: one vector per line ("k=v k=v" or "k=v,k=v"), or a CSV
 * header line of names followed by lines of values. Each line is applied
 * when it arrives, so `policy-eval --act ... | actuate ...` works.
 *
 * Not here: the mapping and HTTP logic (act_core.c).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "actuate.h"

static const char *prog = "actuate";

static void usage(FILE *f)
{
	fprintf(f,
"usage: actuate [options] [KEY=VALUE ...]\n"
"\n"
"Applies an action vector to a service mesh. With no KEY=VALUE arguments,\n"
"reads vectors from stdin, one per line: 'p1=60 c1=3' (or comma-separated),\n"
"or a CSV header line of names and then lines of values. Blank lines and\n"
"#-comments are skipped.\n"
"\n"
"Keys: testbed keys (weight.SVC[.CLASS] %% to node 1, rate.SVC[.CLASS]\n"
"req/s or -1 for none, block.SVC fraction, units.NODE, slow.NODE,\n"
"stopped.NODE, timeout, burst), or trace columns of --schema:\n"
"  compute  p1 (%%), b1 (req/s; >= max_l1 means no limit), c1\n"
"  info2    p11, p21 (fraction to node 1), b1, b2 (fraction blocked), c1, c2\n"
"  classes  p1p, p1f (%%), b1f (freemium req/s; >= max_l1f: none), c1\n"
"Load columns (max_l...) are accepted and only inform those rules.\n"
"\n"
"target:\n"
"  -t, --target T        testbed (default) or k8s\n"
"  -c, --control URL     testbed control API; on k8s the front node's\n"
"                        control API, for rate and block keys\n"
"  -e, --env FILE        the testbed run folder's env file (testbed up\n"
"                        writes RUN/env): the control URL (unless -c) and\n"
"                        the control secret; without it the secret comes\n"
"                        from $TB_SECRET\n"
"      --schema S        compute | info2 | classes | generic (default)\n"
"Kubernetes:\n"
"      --api URL         API server, e.g. https://10.0.0.1:6443\n"
"      --namespace NS\n"
"      --token-file F    bearer token (one line), sent to --api only\n"
"      --cacert F        CA bundle (TLS is always verified)\n"
"      --insecure-http   credentials over plain http:// (testing only):\n"
"                        without it a token with an http:// --api is\n"
"                        refused, and the secret is not sent to an\n"
"                        http:// --control that is not loopback\n"
"      --vs SVC=NAME     VirtualService of a service (default: SVC)\n"
"      --host SVC=HOST   route destination host (default: SVC)\n"
"      --subset NODE=S   destination subset of a node (default: NODE)\n"
"      --deployment NODE=NAME   Deployment of a node (default: NODE)\n"
"      --container NODE=NAME    container for CPU limits (default: the\n"
"                        Deployment's name)\n"
"      --scale MODE      units as replicas (default) or cpu limits\n"
"      --cpu-unit CORES  cores per unit with --scale cpu (default 1)\n"
"transport:\n"
"      --retries N       extra attempts on connect errors, timeouts, 5xx,\n"
"                        429 (default 4), delays doubling from --backoff\n"
"      --backoff S       first retry delay (default 0.2)\n"
"      --timeout S       per request (default 10)\n"
"  -v, --verbose         print each request\n"
"  -h, --help, -V, --version\n"
"\n"
"Exit codes: 0 applied; 2 usage (incl. an action the target cannot do);\n"
"3 bad action data (stdin:LINE: ...); 4 I/O (token file); 5 a host was\n"
"unreachable or answered an error (the message names the URL and the\n"
"answer, truncated, with the token and secret blanked out). On stdin, the\n"
"first failure stops; earlier lines stay applied.\n"
"\n"
"examples:\n"
"  actuate --env run/tb/env --schema compute p1=60 c1=3\n"
"  echo 'weight.compute.premium=80 rate.compute.freemium=2' |\n"
"     actuate -e run/tb/env\n"
"  actuate -t k8s --api https://k8s:6443 --namespace mesh --token-file tok \\\n"
"     --cacert ca.crt -c http://front:8081 --insecure-http --schema compute \\\n"
"     p1=40 c1=2     (TB_SECRET exported: the front's secret, in clear)\n");
}

static void add_name(act_name *v, size_t *n, const char *opt, char *arg)
{
	char *eq = strchr(arg, '=');
	if (!eq || eq == arg || !eq[1] || *n >= ACT_MAX_NAMES)
		mr_usage_error(prog, "--%s '%s': expected FROM=NAME", opt, arg);
	*eq = 0;
	v[*n].from = arg;
	v[*n].to = eq + 1;
	(*n)++;
}

/* The action vector given as arguments. */
static size_t args_vector(char **args, int nargs, act_kv *kv)
{
	mr_err e = {0};
	size_t n = 0;
	for (int i = 0; i < nargs; i++) {
		if (n >= ACT_MAX_KV)
			mr_usage_error(prog, "too many actions");
		int k = act_parse_line(args[i], kv + n, 1, &e);
		if (k != 1)
			mr_usage_error(prog, "'%s': %s", args[i],
				       k < 0 ? e.msg : "expected KEY=VALUE");
		for (size_t j = 0; j < n; j++)
			if (strcmp(kv[j].key, kv[n].key) == 0)
				mr_usage_error(prog, "%s given twice",
					       kv[n].key);
		n++;
	}
	return n;
}

/* stdin: vectors line by line; a first line without '=' is a CSV header */
static int run_stdin(act_target *t)
{
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	char **names = NULL;
	size_t nnames = 0;
	mr_err e = {0};
	int rc = MR_EXIT_OK;
	while (getline(&line, &cap, stdin) > 0) {
		lineno++;
		char *p = line;
		p[strcspn(p, "\r\n")] = 0;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			continue;
		act_kv kv[ACT_MAX_KV];
		int n;
		if (!names && !strchr(p, '=')) {
			names = mr_split_names(p, &nnames, &e);
			if (!names || nnames > ACT_MAX_KV) {
				fprintf(stderr, "%s: stdin:%zu: bad header: %s\n",
					prog, lineno,
					names ? "too many names" : e.msg);
				rc = MR_EXIT_DATA;
				break;
			}
			continue;
		}
		if (names) {
			/* values of the header's names */
			n = 0;
			char *save = NULL, *tok = strtok_r(p, ",\r\n", &save);
			for (; tok; tok = strtok_r(NULL, ",\r\n", &save)) {
				if ((size_t)n >= nnames) {
					n = -1;
					break;
				}
				char *end;
				errno = 0;
				double v = strtod(tok, &end);
				while (*end == ' ')
					end++;
				if (end == tok || *end || errno || !isfinite(v)) {
					mr_errf(&e, MR_EXIT_DATA,
						"%s: '%s' is not a finite number",
						names[n], tok);
					n = -2;
					break;
				}
				snprintf(kv[n].key, sizeof kv[n].key, "%s",
					 names[n]);
				kv[n].val = v;
				n++;
			}
			if (n >= 0 && (size_t)n != nnames) {
				mr_errf(&e, MR_EXIT_DATA,
					"%d values for %zu names", n < 0 ? 0 : n,
					nnames);
				n = -1;
			} else if (n == -1) {
				mr_errf(&e, MR_EXIT_DATA,
					"more values than the header's %zu names",
					nnames);
			}
		} else {
			n = act_parse_line(p, kv, ACT_MAX_KV, &e);
		}
		if (n < 0) {
			fprintf(stderr, "%s: stdin:%zu: %s\n", prog, lineno, e.msg);
			rc = MR_EXIT_DATA;
			break;
		}
		if (act_apply(t, kv, (size_t)n, &e) != 0) {
			fprintf(stderr, "%s: stdin:%zu: %s\n", prog, lineno, e.msg);
			rc = e.code;
			break;
		}
	}
	if (ferror(stdin) && rc == MR_EXIT_OK) {
		fprintf(stderr, "%s: stdin: %s\n", prog, strerror(errno));
		rc = MR_EXIT_IO;
	}
	free(line);
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	mr_exit_on_signal(); /* a signal: exit 130 */
	static const struct option lo[] = {
		{"target", required_argument, 0, 't'},
		{"control", required_argument, 0, 'c'},
		{"env", required_argument, 0, 'e'},
		{"insecure-http", no_argument, 0, 11},
		{"schema", required_argument, 0, 'S'},
		{"api", required_argument, 0, 'A'},
		{"namespace", required_argument, 0, 'N'},
		{"token-file", required_argument, 0, 'T'},
		{"cacert", required_argument, 0, 'C'},
		{"vs", required_argument, 0, 1},
		{"host", required_argument, 0, 2},
		{"subset", required_argument, 0, 3},
		{"deployment", required_argument, 0, 4},
		{"container", required_argument, 0, 5},
		{"scale", required_argument, 0, 6},
		{"cpu-unit", required_argument, 0, 7},
		{"retries", required_argument, 0, 8},
		{"backoff", required_argument, 0, 9},
		{"timeout", required_argument, 0, 10},
		{"verbose", no_argument, 0, 'v'},
		{"help", no_argument, 0, 'h'},
		{"version", no_argument, 0, 'V'},
		{0, 0, 0, 0}};
	act_opts o = {.kind = ACT_TESTBED, .retries = 4, .backoff = 0.2,
		      .timeout = 10, .cpu_unit = 1, .scale = "replicas"};
	const char *env_path = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "t:c:e:vhV", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			if (strcmp(optarg, "testbed") == 0)
				o.kind = ACT_TESTBED;
			else if (strcmp(optarg, "k8s") == 0)
				o.kind = ACT_K8S;
			else
				mr_usage_error(prog, "--target testbed|k8s, not "
						     "'%s'",
					       optarg);
			break;
		case 'c': o.control = optarg; break;
		case 'e': env_path = optarg; break;
		case 11: o.insecure_http = 1; break;
		case 'S': o.schema = optarg; break;
		case 'A': o.api = optarg; break;
		case 'N': o.ns = optarg; break;
		case 'T': o.token_file = optarg; break;
		case 'C': o.cacert = optarg; break;
		case 1: add_name(o.vs, &o.nvs, "vs", optarg); break;
		case 2: add_name(o.host, &o.nhost, "host", optarg); break;
		case 3: add_name(o.subset, &o.nsubset, "subset", optarg); break;
		case 4: add_name(o.deploy, &o.ndeploy, "deployment", optarg); break;
		case 5: add_name(o.container, &o.ncontainer, "container", optarg); break;
		case 6: o.scale = optarg; break;
		case 7: o.cpu_unit = mr_arg_double(prog, "--cpu-unit", optarg, 1e-3, 1e3); break;
		case 8: o.retries = (int)mr_arg_int(prog, "--retries", optarg, 0, 100); break;
		case 9: o.backoff = mr_arg_double(prog, "--backoff", optarg, 1e-3, 60); break;
		case 10: o.timeout = mr_arg_double(prog, "--timeout", optarg, 1e-3, 3600); break;
		case 'v': o.verbose = 1; break;
		case 'h': usage(stdout); return MR_EXIT_OK;
		case 'V': mr_print_version(prog); return MR_EXIT_OK;
		default: /* getopt said what is wrong */
			fprintf(stderr, "Try '%s --help'.\n", prog);
			return MR_EXIT_USAGE;
		}
	}
	mr_err e = {0};
	mesh_env env;
	if (act_env_load(env_path, &env, &e) != 0)
		mr_die(prog, &e);
	if (!o.control && env.control[0])
		o.control = env.control;
	if (env.secret[0])
		o.secret = env.secret;
	if (o.kind == ACT_TESTBED && !o.control)
		mr_usage_error(prog, "--control URL (or --env FILE) is required "
				     "for the testbed target");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		mr_fatal(prog, MR_EXIT_IO, "curl_global_init failed");
	act_target *t = act_open(&o, &e);
	if (!t && e.code == MR_EXIT_USAGE) /* the options do not fit */
		mr_usage_error(prog, "%s", e.msg);
	if (!t)
		mr_die(prog, &e);
	int rc = MR_EXIT_OK;
	if (optind < argc) {
		act_kv kv[ACT_MAX_KV];
		size_t n = args_vector(argv + optind, argc - optind, kv);
		if (act_apply(t, kv, n, &e) != 0) {
			fprintf(stderr, "%s: %s\n", prog, e.msg);
			rc = e.code;
		}
	} else {
		rc = run_stdin(t);
	}
	act_close(t);
	curl_global_cleanup();
	return rc;
}
