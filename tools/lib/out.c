/* out.c - atomic output files and whole-file reads. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meshrl.h"

int mr_out_open(mr_out *o, const char *path, mr_err *e)
{
	memset(o, 0, sizeof *o);
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
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path + 1) : 0;
	const char *base = path + dirlen;
	size_t n = strlen(path) + 32;
	o->tmp = mr_xcalloc(n, 1);
	snprintf(o->tmp, n, "%.*s.%s.tmp.XXXXXX", (int)dirlen, path, base);
	int fd = mkstemp(o->tmp);
	if (fd < 0) {
		mr_errf(e, MR_EXIT_IO, "%s: cannot create a temporary file: %s",
			path, strerror(errno));
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
		free(o->tmp);
		o->tmp = NULL;
		return -1;
	}
	o->f = fdopen(fd, "w");
	if (!o->f) {
		mr_errf(e, MR_EXIT_IO, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(o->tmp);
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
