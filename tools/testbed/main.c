/*
 * testbed - the local service-mesh testbed: start, stop, inspect, and the
 * server processes themselves.
 *
 *   testbed up      starts node1, node2 and the front node in the background
 *                   (one process each), pid and port files in the run dir
 *   testbed down    stops them by pid file (TERM, then KILL), nothing left
 *   testbed status  says what runs where
 *   testbed node | front   one server in the foreground (what `up` runs)
 *   testbed calibrate      CPU a node charges per request of each service
 *
 * Processes are found only through their pid files, and a pid is signalled
 * only after /proc says it is our process for this run dir: never by name.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "testbed.h"

static const char *prog = "testbed";

typedef struct {
	char run_dir[PATH_MAX];
	const char *bind;
	int port, control_port, node_port[MESH_NNODES];
	double unit, period_ms, units[MESH_NNODES], timeout, wait;
	int workers, matrix, info_rows, info1_lookups, queue;
	double demand_ms[MESH_NSERVICES], demand_cv;
	uint64_t seed;
	const char *name; /* node: node1 | node2 */
	const char *compare; /* calibrate: a trace's sidecar */
} opts;

static void usage(FILE *f)
{
	fprintf(f,
"usage: testbed up|down|status|node|front|calibrate [options]\n"
"\n"
"The local service-mesh testbed: a front node and two processing nodes,\n"
"HTTP servers on loopback. The front node routes each service's requests\n"
"per user class (header X-User-Class: premium|freemium) to node 1 or 2 by\n"
"weight, admits up to a rate limit (429 beyond), and answers with\n"
"X-Served-By. Each processing node gets c CPU units of --unit cores each,\n"
"enforced CFS-style per --period. Services: /compute (matrix multiply),\n"
"/info1 (point lookups) and /info2 (range aggregate) in SQLite. Each\n"
"request uses a drawn amount of thread CPU time (gamma, mean --SVC-cpu-ms,\n"
"spread --demand-cv), so c units carry the same load on any CPU.\n"
"\n"
"commands:\n"
"  up         start node1, node2, front in the background; wait until ready\n"
"  down       stop them (SIGTERM, then SIGKILL after --wait); no orphans\n"
"  status     show pids and ports; exit 0 when all three run\n"
"  node       run one processing node in the foreground (--name node1|2)\n"
"  front      run the front node in the foreground\n"
"  calibrate  print the CPU a node charges per request of each service\n"
"             (mean of 30 served here); warns when it differs from the\n"
"             setting, or with --compare from a trace's sidecar, by > 10 %%\n"
"\n"
"options:\n"
"  -r, --run-dir DIR      pid, port and log files (default $TMPDIR or /tmp\n"
"                         + /meshrl-testbed-UID)\n"
"      --bind ADDR        service address of the front and the nodes, any\n"
"                         local IPv4 or IPv6 address (default 127.0.0.1;\n"
"                         0.0.0.0 or :: for all); the control port is\n"
"                         always on 127.0.0.1\n"
"  -p, --port P           front service port (default 8080; 0 = any free)\n"
"      --control-port P   front control API (default 8081; 0 = any free)\n"
"      --node1-port P     (default 8091; 0 = any free)\n"
"      --node2-port P     (default 8092; 0 = any free)\n"
"      --unit CORES       cores per CPU unit (default 0.1)\n"
"      --period MS        quota period (default 20)\n"
"      --units1 C         initial units of node 1 (default 1)\n"
"      --units2 C         units of node 2 (default 1)\n"
"      --workers W        requests in service at once per node (default 2)\n"
"      --compute-cpu-ms MS  CPU per compute request, mean (default 18;\n"
"                         0: one fixed multiply, CPU time host-dependent)\n"
"      --info1-cpu-ms MS  per info1 request (default 1.9; 0: fixed work)\n"
"      --info2-cpu-ms MS  per info2 request (default 6.6; 0: fixed work)\n"
"      --demand-cv X      coefficient of variation of the demand (default\n"
"                         0.3; 0 constant, 1 exponential)\n"
"      --matrix N         compute: N x N matrices (default 440)\n"
"      --info-rows N      rows of the info table (default 20000)\n"
"      --info1-lookups K  point lookups per info1 request when its demand\n"
"                         is 0 (default 4000)\n"
"      --compare FILE     calibrate: a trace's sidecar (TRACE.csv.meta)\n"
"      --queue N          waiting requests per node before 503 (default 2000)\n"
"      --timeout S        front node's wait for a node (default 5)\n"
"      --wait S           up: readiness wait; down: wait before KILL (10)\n"
"      --seed S           front node's routing RNG seed (default 1)\n"
"      --name NODE        node: node1 or node2\n"
"  -h, --help, -V, --version\n"
"\n"
"Control API (front, 127.0.0.1:--control-port): GET /health (open);\n"
"GET /nodes, GET /config, PUT /config (flat JSON), GET /stats. All but\n"
"/health need the header 'Authorization: Bearer $TB_SECRET'; a PUT body\n"
"must be Content-Type: application/json; a request with an Origin header\n"
"is refused (401 no secret, 403 wrong secret or Origin, 415 content type).\n"
"Keys: weight.SVC[.CLASS] (%% to node 1), rate.SVC[.CLASS] (req/s, -1\n"
"none), block.SVC (fraction refused), units.NODE, slow.NODE (factor >= 1),\n"
"stopped.NODE (0|1), timeout, burst. Node settings go through the front\n"
"(it forwards them to the node's internal /admin), so GET /config is\n"
"always what runs.\n"
"\n"
"Run folder: `up` writes DIR/env (mode 0600, shell syntax): TB_URL,\n"
"TB_CONTROL, TB_NODE1, TB_NODE2, TB_PIDS and TB_SECRET, a random secret\n"
"made for this run (exported when the file is sourced). actuate and\n"
"trace-collect read it with --env DIR/env, or take TB_SECRET from the\n"
"environment.\n"
"\n"
"example:\n"
"  testbed up --run-dir run/tb --port 0 --control-port 0 --node1-port 0 \\\n"
"             --node2-port 0 && . run/tb/env &&\n"
"  curl -s -H \"Authorization: Bearer $TB_SECRET\" $TB_CONTROL/config\n"
"  testbed down --run-dir run/tb\n");
}

/* ------------------------------------------------------------------------
 * Files in the run directory
 */
static void run_path(char *buf, size_t n, const opts *o, const char *name,
		     const char *ext)
{
	snprintf(buf, n, "%s/%s.%s", o->run_dir, name, ext);
}

static void write_small(const opts *o, const char *name, const char *ext,
			const char *text)
{
	char p[PATH_MAX + 32];
	mr_err e;
	run_path(p, sizeof p, o, name, ext);
	if (mr_write_file_atomic(p, text, strlen(text), &e) != 0)
		mr_die(prog, &e);
}

/* Reads a whole-number file; returns -1 when absent or unreadable. */
static long read_num(const opts *o, const char *name, const char *ext)
{
	char p[PATH_MAX + 32];
	run_path(p, sizeof p, o, name, ext);
	FILE *f = fopen(p, "r");
	if (!f)
		return -1;
	long v = -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* Writes DIR/env atomically, mode 0600 from the start (it holds the
 * secret). */
static void write_env(const opts *o, const char *text)
{
	char p[PATH_MAX + 8];
	snprintf(p, sizeof p, "%s/env", o->run_dir);
	mr_out out;
	mr_err e;
	if (mr_out_open(&out, p, &e) != 0)
		mr_die(prog, &e);
	size_t len = strlen(text);
	if (fchmod(fileno(out.f), 0600) != 0 ||
	    fwrite(text, 1, len, out.f) != len) {
		mr_errf(&e, MR_EXIT_IO, "%s: %s", p, strerror(errno));
		mr_out_abort(&out);
		mr_die(prog, &e);
	}
	if (mr_out_commit(&out, &e) != 0)
		mr_die(prog, &e);
}

/* The run's secret, from DIR/env (written by `up` before it starts the
 * servers). Exits when there is none. */
static void read_secret(const opts *o, mesh_env *env)
{
	char p[PATH_MAX + 8];
	snprintf(p, sizeof p, "%s/env", o->run_dir);
	mr_err e;
	if (mesh_env_read(p, env, &e) != 0)
		mr_fatal(prog, e.code, "%s (the servers take the control "
				       "secret from there; `testbed up` "
				       "writes it)",
			 e.msg);
	if (!env->secret[0])
		mr_fatal(prog, MR_EXIT_DATA, "%s: no TB_SECRET", p);
}

static void remove_file(const opts *o, const char *name, const char *ext)
{
	char p[PATH_MAX + 32];
	run_path(p, sizeof p, o, name, ext);
	if (unlink(p) != 0 && errno != ENOENT)
		fprintf(stderr, "%s: warning: cannot remove %s: %s\n", prog, p,
			strerror(errno));
}

/* Is pid a live (not zombie) process started as "testbed ROLE ... --run-dir
 * DIR"? This guards against signalling a recycled pid. */
static int is_ours(long pid, const char *role, const char *run_dir)
{
	char p[64], buf[8192];
	snprintf(p, sizeof p, "/proc/%ld/stat", pid);
	FILE *f = fopen(p, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *rp = strrchr(buf, ')');
	if (!rp || rp[1] != ' ' || rp[2] == 'Z' || rp[2] == 'X')
		return 0;
	snprintf(p, sizeof p, "/proc/%ld/cmdline", pid);
	if (!(f = fopen(p, "r")))
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	/* argv[1] is the role, and "--run-dir" DIR appears */
	const char *arg = buf, *end = buf + n;
	int idx = 0, role_ok = 0, dir_ok = 0;
	while (arg < end) {
		size_t len = strlen(arg);
		if (idx == 1 && strcmp(arg, role) == 0)
			role_ok = 1;
		if (strcmp(arg, "--run-dir") == 0 && arg + len + 1 < end &&
		    strcmp(arg + len + 1, run_dir) == 0)
			dir_ok = 1;
		arg += len + 1;
		idx++;
	}
	return role_ok && dir_ok;
}

static const char *const roles[3] = {"node1", "node2", "front"};
static const char *role_cmd(const char *name)
{
	return strcmp(name, "front") == 0 ? "front" : "node";
}

/* ------------------------------------------------------------------------
 * down / status
 */
static int stop_all(const opts *o, int quiet)
{
	int left = 0;
	/* front first so no new work reaches the nodes */
	for (int r = 2; r >= 0; r--) {
		long pid = read_num(o, roles[r], "pid");
		if (pid <= 0)
			continue;
		if (!is_ours(pid, role_cmd(roles[r]), o->run_dir)) {
			if (!quiet)
				fprintf(stderr,
					"%s: %s: pid %ld is gone (stale pid "
					"file removed)\n",
					prog, roles[r], pid);
		} else {
			kill((pid_t)pid, SIGTERM);
			kill((pid_t)pid, SIGCONT); /* in case it was stopped */
			double until = mr_now() + o->wait;
			while (is_ours(pid, role_cmd(roles[r]), o->run_dir) &&
			       mr_now() < until) {
				struct timespec ts = {0, 20 * 1000 * 1000};
				nanosleep(&ts, NULL);
			}
			if (is_ours(pid, role_cmd(roles[r]), o->run_dir)) {
				fprintf(stderr,
					"%s: %s (pid %ld) did not stop in "
					"%.0f s; killing it\n",
					prog, roles[r], pid, o->wait);
				kill((pid_t)pid, SIGKILL);
				until = mr_now() + 5;
				while (is_ours(pid, role_cmd(roles[r]),
					       o->run_dir) &&
				       mr_now() < until) {
					struct timespec ts = {0, 20000000};
					nanosleep(&ts, NULL);
				}
			}
			if (is_ours(pid, role_cmd(roles[r]), o->run_dir)) {
				fprintf(stderr, "%s: %s (pid %ld) is still "
						"there\n",
					prog, roles[r], pid);
				left++;
				continue;
			}
			if (!quiet)
				fprintf(stderr, "%s: stopped %s (pid %ld)\n",
					prog, roles[r], pid);
		}
		remove_file(o, roles[r], "pid");
		remove_file(o, roles[r], "port");
	}
	if (!left) {
		remove_file(o, "control", "port");
		char p[PATH_MAX + 8];
		snprintf(p, sizeof p, "%s/env", o->run_dir);
		unlink(p);
	}
	return left ? MR_EXIT_FAIL : MR_EXIT_OK;
}

static int cmd_status(const opts *o)
{
	int up = 0;
	for (int r = 0; r < 3; r++) {
		long pid = read_num(o, roles[r], "pid");
		long port = read_num(o, roles[r], "port");
		int alive = pid > 0 && is_ours(pid, role_cmd(roles[r]), o->run_dir);
		up += alive;
		printf("%-6s %s pid %ld port %ld\n", roles[r],
		       alive ? "running" : "stopped", pid, port);
	}
	long cp = read_num(o, "control", "port");
	if (cp > 0)
		printf("control port %ld\n", cp);
	return up == 3 ? MR_EXIT_OK : MR_EXIT_FAIL;
}

/* ------------------------------------------------------------------------
 * up
 */
static void add_arg(char **argv, int *argc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void add_arg(char **argv, int *argc, const char *fmt, ...)
{
	char buf[PATH_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	argv[(*argc)++] = mr_xstrdup(buf);
}

/* Starts one server in the background and waits until its pid file
 * appears. Returns its port, or exits (after stopping what started). */
static long spawn(const opts *o, int role, const long node_ports[2])
{
	char *argv[64];
	int argc = 0;
	add_arg(argv, &argc, "testbed");
	add_arg(argv, &argc, "%s", role_cmd(roles[role]));
	add_arg(argv, &argc, "--run-dir");
	add_arg(argv, &argc, "%s", o->run_dir);
	add_arg(argv, &argc, "--bind=%s", o->bind);
	add_arg(argv, &argc, "--wait=%.17g", o->wait);
	if (role < 2) {
		add_arg(argv, &argc, "--name=%s", roles[role]);
		add_arg(argv, &argc, "--node%d-port=%d", role + 1,
			o->node_port[role]);
		add_arg(argv, &argc, "--unit=%.17g", o->unit);
		add_arg(argv, &argc, "--period=%.17g", o->period_ms);
		add_arg(argv, &argc, "--units%d=%.17g", role + 1, o->units[role]);
		add_arg(argv, &argc, "--workers=%d", o->workers);
		add_arg(argv, &argc, "--matrix=%d", o->matrix);
		add_arg(argv, &argc, "--info-rows=%d", o->info_rows);
		add_arg(argv, &argc, "--info1-lookups=%d", o->info1_lookups);
		add_arg(argv, &argc, "--queue=%d", o->queue);
		add_arg(argv, &argc, "--compute-cpu-ms=%.17g", o->demand_ms[0]);
		add_arg(argv, &argc, "--info1-cpu-ms=%.17g", o->demand_ms[1]);
		add_arg(argv, &argc, "--info2-cpu-ms=%.17g", o->demand_ms[2]);
		add_arg(argv, &argc, "--demand-cv=%.17g", o->demand_cv);
	} else {
		add_arg(argv, &argc, "--port=%d", o->port);
		add_arg(argv, &argc, "--control-port=%d", o->control_port);
		add_arg(argv, &argc, "--node1-port=%ld", node_ports[0]);
		add_arg(argv, &argc, "--node2-port=%ld", node_ports[1]);
		add_arg(argv, &argc, "--timeout=%.17g", o->timeout);
		add_arg(argv, &argc, "--seed=%llu", (unsigned long long)o->seed);
	}
	argv[argc] = NULL;
	char logp[PATH_MAX + 32];
	run_path(logp, sizeof logp, o, roles[role], "log");
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		mr_fatal(prog, MR_EXIT_IO, "fork: %s", strerror(errno));
	if (pid == 0) {
		setsid();
		int in = open("/dev/null", O_RDONLY);
		int lf = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (in < 0 || lf < 0 || dup2(in, 0) < 0 || dup2(lf, 1) < 0 ||
		    dup2(lf, 2) < 0)
			_exit(MR_EXIT_IO);
		close(in);
		close(lf);
		execv("/proc/self/exe", argv);
		fprintf(stderr, "%s: exec: %s\n", prog, strerror(errno));
		_exit(MR_EXIT_IO);
	}
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	double until = mr_now() + o->wait;
	for (;;) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			/* it failed: show why, and stop the others */
			fprintf(stderr, "%s: %s failed to start", prog,
				roles[role]);
			char *log = NULL;
			size_t len = 0;
			mr_err e;
			if (mr_read_file(logp, &log, &len, 1 << 20, &e) == 0 &&
			    len) {
				/* the last line says why */
				while (len && log[len - 1] == '\n')
					log[--len] = 0;
				char *nl = strrchr(log, '\n');
				fprintf(stderr, ": %s", nl ? nl + 1 : log);
			}
			fputc('\n', stderr);
			free(log);
			opts q = *o;
			q.wait = 5;
			stop_all(&q, 1);
			exit(WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st)
							      : MR_EXIT_FAIL);
		}
		long p = read_num(o, roles[role], "pid");
		if (p == (long)pid)
			break;
		if (mr_now() > until) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			opts q = *o;
			q.wait = 5;
			stop_all(&q, 1);
			mr_fatal(prog, MR_EXIT_FAIL,
				 "%s did not become ready in %.0f s (see %s)",
				 roles[role], o->wait, logp);
		}
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return read_num(o, roles[role], "port");
}

static int cmd_up(opts *o)
{
	if (mkdir(o->run_dir, 0700) != 0 && errno != EEXIST)
		mr_fatal(prog, MR_EXIT_IO, "cannot create %s: %s", o->run_dir,
			 strerror(errno));
	for (int r = 0; r < 3; r++) {
		long pid = read_num(o, roles[r], "pid");
		if (pid > 0 && is_ours(pid, role_cmd(roles[r]), o->run_dir))
			mr_fatal(prog, MR_EXIT_FAIL,
				 "a testbed already runs in %s (%s pid %ld); "
				 "run 'testbed down --run-dir %s' first",
				 o->run_dir, roles[r], pid, o->run_dir);
	}
	opts q = *o;
	q.wait = 5;
	stop_all(&q, 1); /* clears stale files */
	char secret[MESH_SECRET_LEN + 1], env[2048];
	mr_err e;
	if (mesh_secret_new(secret, &e) != 0)
		mr_die(prog, &e);
	/* the servers read the secret from here as they start */
	snprintf(env, sizeof env, "TB_SECRET=%s\nexport TB_SECRET\n", secret);
	write_env(o, env);
	long ports[3];
	ports[0] = spawn(o, 0, NULL);
	ports[1] = spawn(o, 1, NULL);
	ports[2] = spawn(o, 2, ports);
	long cport = read_num(o, "control", "port");
	char host[64];
	tb_url_host(o->bind, host, sizeof host);
	snprintf(env, sizeof env,
		 "TB_URL=http://%s:%ld\nTB_CONTROL=http://127.0.0.1:%ld\n"
		 "TB_NODE1=http://%s:%ld\nTB_NODE2=http://%s:%ld\n"
		 "TB_PIDS=\"%ld %ld %ld\"\nTB_SECRET=%s\nexport TB_SECRET\n",
		 host, ports[2], cport, host, ports[0], host, ports[1],
		 read_num(o, "node1", "pid"), read_num(o, "node2", "pid"),
		 read_num(o, "front", "pid"), secret);
	write_env(o, env);
	printf("front http://%s:%ld control http://127.0.0.1:%ld "
	       "node1 :%ld node2 :%ld run-dir %s (secret in %s/env)\n",
	       host, ports[2], cport, ports[0], ports[1], o->run_dir,
	       o->run_dir);
	return MR_EXIT_OK;
}

/* ------------------------------------------------------------------------
 * Foreground servers
 */
static sigset_t stop_signals(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGINT);
	sigaddset(&s, SIGHUP);
	/* blocked in every thread (they inherit the mask); sigwait takes it */
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	signal(SIGPIPE, SIG_IGN);
	return s;
}

static void announce(const opts *o, const char *name, int port,
		     int control_port)
{
	char buf[64];
	if (control_port >= 0) {
		snprintf(buf, sizeof buf, "%d\n", control_port);
		write_small(o, "control", "port", buf);
	}
	snprintf(buf, sizeof buf, "%d\n", port);
	write_small(o, name, "port", buf);
	snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	write_small(o, name, "pid", buf); /* last: it means "ready" */
	fprintf(stderr, "%s: %s ready on port %d (pid %ld)\n", prog, name, port,
		(long)getpid());
}

static void wait_and_clean(const opts *o, const char *name, sigset_t s)
{
	int sig;
	sigwait(&s, &sig);
	fprintf(stderr, "%s: %s stopping (signal %d)\n", prog, name, sig);
	/* only our own pid file */
	if (read_num(o, name, "pid") == (long)getpid())
		remove_file(o, name, "pid");
}

static tb_node_opts node_opts(const opts *o, int idx)
{
	tb_node_opts no = {
		.name = o->name, .bind = o->bind, .port = o->node_port[idx],
		.workers = o->workers, .unit = o->unit, .units = o->units[idx],
		.period = o->period_ms / 1000, .matrix = o->matrix,
		.info_rows = o->info_rows, .info1_lookups = o->info1_lookups,
		.max_queue = o->queue, .demand_cv = o->demand_cv};
	memcpy(no.demand_ms, o->demand_ms, sizeof no.demand_ms);
	return no;
}

static int cmd_node(const opts *o)
{
	int idx = o->name ? mesh_node_index(o->name, strlen(o->name)) : -1;
	if (idx < 0)
		mr_usage_error(prog, "node: --name node1|node2 is required");
	mesh_env env;
	read_secret(o, &env);
	sigset_t s = stop_signals();
	tb_node_opts no = node_opts(o, idx);
	no.secret = env.secret;
	mr_err e;
	int port;
	tb_node *n = tb_node_start(&no, &port, &e);
	if (!n)
		mr_die(prog, &e);
	announce(o, o->name, port, -1);
	wait_and_clean(o, o->name, s);
	tb_node_stop(n);
	return MR_EXIT_OK;
}

static int cmd_front(const opts *o)
{
	mesh_env env;
	read_secret(o, &env);
	sigset_t s = stop_signals();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		mr_fatal(prog, MR_EXIT_IO, "curl_global_init failed");
	tb_front_opts fo = {.bind = o->bind, .port = o->port,
			    .control_port = o->control_port,
			    .node_port = {o->node_port[0], o->node_port[1]},
			    .upstream_timeout = o->timeout, .seed = o->seed,
			    .secret = env.secret};
	mr_err e;
	int port, cport;
	tb_front *f = tb_front_start(&fo, &port, &cport, &e);
	if (!f)
		mr_die(prog, &e);
	announce(o, "front", port, cport);
	wait_and_clean(o, "front", s);
	remove_file(o, "control", "port");
	tb_front_stop(f);
	curl_global_cleanup();
	return MR_EXIT_OK;
}

/* Prints what a node charges per request (stdout, CSV) and warns (stderr)
 * where that differs from the setting or from a trace's sidecar. */
static int cmd_calibrate(const opts *o)
{
	mr_err e = {0};
	tb_node_opts no = node_opts(o, 0);
	tb_calib c[MESH_NSERVICES];
	if (tb_calibrate(&no, 30, c, &e) != 0)
		mr_die(prog, &e);
	printf("service,cpu_ms,req_per_s_per_unit,setting_ms,cv\n");
	for (int i = 0; i < MESH_NSERVICES; i++) {
		printf("%s,%.3f,%.3f,%g,%.3f\n", mesh_service_names[i],
		       c[i].charged_ms, o->unit / c[i].charged_ms * 1e3,
		       c[i].setting_ms, c[i].cv);
		double s = c[i].setting_ms;
		if (s > 0 && fabs(c[i].charged_ms - s) > TB_CALIB_TOLERANCE * s)
			fprintf(stderr,
				"%s: warning: %s: charged %.3f ms per request, "
				"set %g ms (%+.0f %%)\n",
				prog, mesh_service_names[i], c[i].charged_ms,
				s, 100 * (c[i].charged_ms - s) / s);
	}
	if (o->compare && tb_calib_compare(&no, c, o->timeout, o->compare, stderr, &e) < 0)
		mr_die(prog, &e);
	return MR_EXIT_OK;
}

/* ------------------------------------------------------------------------
 * Options
 */
int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"run-dir", required_argument, 0, 'r'},
		{"bind", required_argument, 0, 'b'},
		{"port", required_argument, 0, 'p'},
		{"control-port", required_argument, 0, 'C'},
		{"node1-port", required_argument, 0, '1'},
		{"node2-port", required_argument, 0, '2'},
		{"unit", required_argument, 0, 'u'},
		{"period", required_argument, 0, 'P'},
		{"units1", required_argument, 0, 'a'},
		{"units2", required_argument, 0, 'A'},
		{"workers", required_argument, 0, 'w'},
		{"matrix", required_argument, 0, 'm'},
		{"info-rows", required_argument, 0, 'R'},
		{"info1-lookups", required_argument, 0, 'L'},
		{"queue", required_argument, 0, 'Q'},
		{"timeout", required_argument, 0, 't'},
		{"wait", required_argument, 0, 'W'},
		{"seed", required_argument, 0, 's'},
		{"name", required_argument, 0, 'n'},
		{"compute-cpu-ms", required_argument, 0, 'D'},
		{"info1-cpu-ms", required_argument, 0, 'E'},
		{"info2-cpu-ms", required_argument, 0, 'F'},
		{"demand-cv", required_argument, 0, 'v'},
		{"compare", required_argument, 0, 'c'},
		{"help", no_argument, 0, 'h'},
		{"version", no_argument, 0, 'V'},
		{0, 0, 0, 0}};
	opts o = {.bind = "127.0.0.1", .port = 8080, .control_port = 8081,
		  .node_port = {8091, 8092}, .unit = 0.1, .period_ms = 20,
		  .units = {1, 1}, .timeout = 5, .wait = 10, .workers = 2,
		  .matrix = 440, .info_rows = 20000, .info1_lookups = 4000,
		  .queue = 2000, .seed = 1,
		  /* 18 ms: the trace's compute delays fit it (traces/README) */
		  .demand_ms = {18, 1.9, 6.6}, .demand_cv = 0.3};
	const char *tmp = getenv("TMPDIR");
	snprintf(o.run_dir, sizeof o.run_dir, "%s/meshrl-testbed-%ld",
		 tmp && *tmp ? tmp : "/tmp", (long)getuid());
	const char *run_dir_arg = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "r:p:hV", lo, NULL)) != -1) {
		switch (c) {
		case 'r': run_dir_arg = optarg; break;
		case 'b': o.bind = optarg; break;
		case 'p': o.port = (int)mr_arg_int(prog, "--port", optarg, 0, 65535); break;
		case 'C': o.control_port = (int)mr_arg_int(prog, "--control-port", optarg, 0, 65535); break;
		case '1': o.node_port[0] = (int)mr_arg_int(prog, "--node1-port", optarg, 0, 65535); break;
		case '2': o.node_port[1] = (int)mr_arg_int(prog, "--node2-port", optarg, 0, 65535); break;
		case 'u': o.unit = mr_arg_double(prog, "--unit", optarg, 1e-4, 64); break;
		case 'P': o.period_ms = mr_arg_double(prog, "--period", optarg, 1, 10000); break;
		case 'a': o.units[0] = mr_arg_double(prog, "--units1", optarg, 1e-3, 1000); break;
		case 'A': o.units[1] = mr_arg_double(prog, "--units2", optarg, 1e-3, 1000); break;
		case 'w': o.workers = (int)mr_arg_int(prog, "--workers", optarg, 1, 256); break;
		case 'm': o.matrix = (int)mr_arg_int(prog, "--matrix", optarg, 8, 4096); break;
		case 'R': o.info_rows = (int)mr_arg_int(prog, "--info-rows", optarg, 1, 10000000); break;
		case 'L': o.info1_lookups = (int)mr_arg_int(prog, "--info1-lookups", optarg, 1, 1000000); break;
		case 'Q': o.queue = (int)mr_arg_int(prog, "--queue", optarg, 1, 1000000); break;
		case 't': o.timeout = mr_arg_double(prog, "--timeout", optarg, 0.001, 3600); break;
		case 'W': o.wait = mr_arg_double(prog, "--wait", optarg, 0.1, 3600); break;
		case 's': o.seed = mr_arg_u64(prog, "--seed", optarg); break;
		case 'n': o.name = optarg; break;
		case 'D': o.demand_ms[0] = mr_arg_double(prog, "--compute-cpu-ms", optarg, 0, 1e5); break;
		case 'E': o.demand_ms[1] = mr_arg_double(prog, "--info1-cpu-ms", optarg, 0, 1e5); break;
		case 'F': o.demand_ms[2] = mr_arg_double(prog, "--info2-cpu-ms", optarg, 0, 1e5); break;
		case 'v': o.demand_cv = mr_arg_double(prog, "--demand-cv", optarg, 0, 4); break;
		case 'c': o.compare = optarg; break;
		case 'h': usage(stdout); return MR_EXIT_OK;
		case 'V': mr_print_version(prog); return MR_EXIT_OK;
		default: /* getopt said what is wrong */
			fprintf(stderr, "Try '%s --help'.\n", prog);
			return MR_EXIT_USAGE;
		}
	}
	if (optind == argc)
		mr_usage_error(prog, "give a command (up, down, status, node, "
				     "front, calibrate)");
	if (optind < argc - 1)
		mr_usage_error(prog, "unexpected argument '%s'",
			       argv[optind + 1]);
	const char *cmd = argv[optind];
	if (run_dir_arg) {
		/* absolute, so the /proc check and the children agree */
		if (mkdir(run_dir_arg, 0700) != 0 && errno != EEXIST)
			mr_fatal(prog, MR_EXIT_IO, "cannot create %s: %s",
				 run_dir_arg, strerror(errno));
		if (!realpath(run_dir_arg, o.run_dir))
			mr_fatal(prog, MR_EXIT_IO, "%s: %s", run_dir_arg,
				 strerror(errno));
	}
	if (strcmp(cmd, "up") == 0)
		return cmd_up(&o);
	if (strcmp(cmd, "down") == 0)
		return stop_all(&o, 0);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(&o);
	if (strcmp(cmd, "node") == 0)
		return cmd_node(&o);
	if (strcmp(cmd, "front") == 0)
		return cmd_front(&o);
	if (strcmp(cmd, "calibrate") == 0)
		return cmd_calibrate(&o);
	mr_usage_error(prog,
		       "unknown command '%s' (up, down, status, node, front, "
		       "calibrate)",
		       cmd);
}
