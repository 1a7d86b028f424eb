/* out.c - atomic output files, their removal on a signal, whole-file
 * reads and hashes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meshrl.h"

/* ------------------------------------------------------------------------
 * The temp files of open outputs, for a signal handler: with the atexit
 * flag below, the library's only global mutable state, because a handler
 * can reach nothing else. A slot is claimed (FREE -> CLAIMED) with an atomic exchange, its
 * path copied, then published (READY); the handler unlinks READY paths
 * only, and the buffers are never freed. Outputs are opened and committed
 * by one thread at a time in every tool, so a slot does not change while a
 * handler on another thread reads it.
 */
enum { SLOT_FREE, SLOT_CLAIMED, SLOT_READY };
#define TMP_SLOTS 32
static atomic_int tmp_state[TMP_SLOTS];
static char tmp_path[TMP_SLOTS][PATH_MAX];

_Static_assert(ATOMIC_INT_LOCK_FREE == 2,
	       "a signal handler needs lock-free atomics");

/* Blocks SIGINT and SIGTERM in this thread (old: the mask to restore). */
static void block_signals(sigset_t *old)
{
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &ss, old);
}

/* Claims a slot for a temp path (-1: none free; tmp_publish frees it
 * when the path is too long: that file is then not removed on a
 * signal). */
static int tmp_claim(void)
{
	for (int i = 0; i < TMP_SLOTS; i++) {
		int expect = SLOT_FREE;
		if (atomic_compare_exchange_strong(&tmp_state[i], &expect,
						   SLOT_CLAIMED))
			return i;
	}
	return -1;
}

static void tmp_publish(int slot, const char *path)
{
	if (slot < 0)
		return;
	size_t n = strlen(path);
	if (n >= PATH_MAX) {
		atomic_store(&tmp_state[slot], SLOT_FREE);
		return;
	}
	memcpy(tmp_path[slot], path, n + 1);
	atomic_store(&tmp_state[slot], SLOT_READY);
}

static void tmp_release(int slot)
{
	if (slot >= 0)
		atomic_store(&tmp_state[slot], SLOT_FREE);
}

/* Async-signal-safe: atomic loads and unlink only. */
static void remove_open_temps(void)
{
	for (int i = 0; i < TMP_SLOTS; i++)
		if (atomic_load(&tmp_state[i]) == SLOT_READY)
			unlink(tmp_path[i]);
}

static void exit_on_signal(int sig)
{
	(void)sig;
	remove_open_temps();
	_exit(MR_EXIT_INTR);
}

/* A process that exits while an output is open (mr_die after
 * mr_out_open) abandons it: the first open registers remove_open_temps
 * with atexit. */
static atomic_flag exit_hook = ATOMIC_FLAG_INIT;

/* handler for SIGINT and SIGTERM, unless the signal is ignored: a
 * background job of a non-interactive shell (or nohup) keeps it so. */
static void install(void (*handler)(int), int flags)
{
	static const int sigs[] = {SIGINT, SIGTERM};
	for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) {
		struct sigaction old, sa = {0};
		if (sigaction(sigs[k], NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;
		sa.sa_handler = handler;
		sa.sa_flags = flags;
		sigemptyset(&sa.sa_mask);
		sigaddset(&sa.sa_mask, SIGINT);
		sigaddset(&sa.sa_mask, SIGTERM);
		sigaction(sigs[k], &sa, NULL);
	}
}

void mr_exit_on_signal(void)
{
	install(exit_on_signal, 0);
}

/* SA_RESTART: the tool finishes its step before it looks at the flag, so
 * a read in that step (a simulator's reply on a pipe) must not fail with
 * EINTR because the signal came in the middle of it. */
void mr_catch_signals(void (*handler)(int))
{
	install(handler, SA_RESTART);
}

/* ------------------------------------------------------------------------
 * Atomic outputs
 */

int mr_out_open(mr_out *o, const char *path, mr_err *e)
{
	memset(o, 0, sizeof *o);
	o->slot = -1;
	if (strcmp(path, "-") == 0) {
		o->f = stdout;
		o->path = mr_xstrdup(path);
		return 0;
	}
	/* A device or FIFO (/dev/null, a named pipe) is written in place:
	 * renaming over it would replace the device with a regular file. */
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		o->f = fopen(path, "w");
		if (!o->f)
			return mr_errf(e, MR_EXIT_IO, "%s: cannot open: %s",
				       path, strerror(errno));
		o->path = mr_xstrdup(path);
		o->direct = 1;
		return 0;
	}
	/* The temp file lives in the target's directory so rename is atomic;
	 * its name starts with '.' and says what it is. */
	if (!atomic_flag_test_and_set(&exit_hook))
		atexit(remove_open_temps);
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path + 1) : 0;
	const char *base = path + dirlen;
	size_t n = strlen(path) + 32;
	o->tmp = mr_xcalloc(n, 1);
	snprintf(o->tmp, n, "%.*s.%s.tmp.XXXXXX", (int)dirlen, path, base);
	/* no signal between the file's creation and its slot */
	sigset_t old;
	block_signals(&old);
	o->slot = tmp_claim();
	int fd = mkstemp(o->tmp);
	int err = errno;
	if (fd >= 0)
		tmp_publish(o->slot, o->tmp);
	else
		tmp_release(o->slot);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (fd < 0) {
		mr_errf(e, MR_EXIT_IO, "%s: cannot create a temporary file: %s",
			path, strerror(err));
		free(o->tmp);
		o->tmp = NULL;
		return -1;
	}
	/* mkstemp makes 0600; outputs are ordinary files. */
	mode_t um = umask(0);
	umask(um);
	if (fchmod(fd, 0666 & ~um) != 0) {
		mr_errf(e, MR_EXIT_IO, "%s: cannot set permissions: %s", path,
			strerror(errno));
		close(fd);
		unlink(o->tmp);
		tmp_release(o->slot);
		free(o->tmp);
		o->tmp = NULL;
		return -1;
	}
	o->f = fdopen(fd, "w");
	if (!o->f) {
		mr_errf(e, MR_EXIT_IO, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(o->tmp);
		tmp_release(o->slot);
		free(o->tmp);
		o->tmp = NULL;
		return -1;
	}
	o->path = mr_xstrdup(path);
	return 0;
}

int mr_out_commit(mr_out *o, mr_err *e)
{
	if (!o->f)
		return 0;
	int rc = 0;
	if (!o->tmp) { /* stdout, or a device written in place */
		if (fflush(o->f) != 0 || ferror(o->f))
			rc = mr_errf(e, MR_EXIT_IO, "%s: write error: %s",
				     o->direct ? o->path : "stdout",
				     strerror(errno));
		if (o->direct && fclose(o->f) != 0 && rc == 0)
			rc = mr_errf(e, MR_EXIT_IO, "%s: write error: %s",
				     o->path, strerror(errno));
		o->f = NULL;
		o->direct = 0;
		free(o->path);
		o->path = NULL;
		return rc;
	}
	if (fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0)
		rc = mr_errf(e, MR_EXIT_IO, "%s: write error: %s", o->path,
			     strerror(errno));
	if (fclose(o->f) != 0 && rc == 0)
		rc = mr_errf(e, MR_EXIT_IO, "%s: write error: %s", o->path,
			     strerror(errno));
	o->f = NULL;
	if (rc == 0 && rename(o->tmp, o->path) != 0)
		rc = mr_errf(e, MR_EXIT_IO, "%s: cannot rename into place: %s",
			     o->path, strerror(errno));
	if (rc != 0)
		unlink(o->tmp);
	tmp_release(o->slot);
	free(o->tmp);
	free(o->path);
	o->tmp = o->path = NULL;
	return rc;
}

void mr_out_abort(mr_out *o)
{
	if (o->f && o->tmp) {
		fclose(o->f);
		unlink(o->tmp);
		tmp_release(o->slot);
	} else if (o->f && o->direct) {
		fclose(o->f);
	}
	o->direct = 0;
	o->f = NULL;
	free(o->tmp);
	free(o->path);
	o->tmp = o->path = NULL;
}

int mr_write_file_atomic(const char *path, const void *buf, size_t len,
			 mr_err *e)
{
	mr_out o;
	if (mr_out_open(&o, path, e) != 0)
		return -1;
	if (len && fwrite(buf, 1, len, o.f) != len) {
		mr_errf(e, MR_EXIT_IO, "%s: write error: %s", path,
			strerror(errno));
		mr_out_abort(&o);
		return -1;
	}
	return mr_out_commit(&o, e);
}

int mr_read_file(const char *path, char **buf, size_t *len, size_t max,
		 mr_err *e)
{
	if (max == 0)
		max = (size_t)1 << 30;
	int is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	if (!f)
		return mr_errf(e, MR_EXIT_IO, "%s: cannot open: %s", path,
			       strerror(errno));
	size_t cap = 1 << 16, n = 0;
	char *b = mr_xcalloc(cap, 1);
	for (;;) {
		if (n == cap) {
			if (cap >= max) {
				free(b);
				if (!is_stdin)
					fclose(f);
				return mr_errf(e, MR_EXIT_DATA,
					       "%s: larger than %zu bytes",
					       path, max);
			}
			cap *= 2;
			b = mr_xrealloc(b, cap, 1);
		}
		size_t got = fread(b + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	int bad = ferror(f);
	if (!is_stdin)
		fclose(f);
	if (bad) {
		free(b);
		return mr_errf(e, MR_EXIT_IO, "%s: read error", path);
	}
	*buf = b;
	*len = n;
	return 0;
}

int mr_out_check_distinct(const char *out, const char *in, mr_err *e)
{
	struct stat so, si;
	if (!strcmp(out, "-") || !strcmp(in, "-") || stat(out, &so) != 0 ||
	    stat(in, &si) != 0 || !S_ISREG(so.st_mode))
		return 0;
	if (so.st_dev == si.st_dev && so.st_ino == si.st_ino)
		return mr_errf(e, MR_EXIT_USAGE,
			       "%s: the same file as the input %s (writing "
			       "it would replace that input)", out, in);
	return 0;
}

uint64_t mr_hash64(const void *p, size_t n, uint64_t h)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

int mr_hash_file(const char *path, uint64_t *h, mr_err *e)
{
	char *buf;
	size_t len;
	if (mr_read_file(path, &buf, &len, 0, e) != 0)
		return -1;
	*h = mr_hash64(buf, len, MR_HASH_INIT);
	free(buf);
	return 0;
}
