/*
 * tc_trace.c - trace files opened for appending. The header is written
 * once, into an empty file; a non-empty file must already have exactly our
 * header. A last line without its newline (a write cut short) is removed
 * before anything is appended, so every row in the file is whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tc.h"

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

static char *header_line(char *const *cols, size_t n)
{
	size_t len = 2;
	for (size_t i = 0; i < n; i++)
		len += strlen(cols[i]) + 1;
	char *h = mr_xcalloc(len, 1), *p = h;
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? "," : "", cols[i]);
	*p++ = '\n';
	return h;
}

int tc_trace_open(tc_trace *t, const char *path, char *const *cols,
		  size_t ncols, int quiet, mr_err *e)
{
	memset(t, 0, sizeof *t);
	t->path = mr_xstrdup(path);
	char *hdr = header_line(cols, ncols);
	size_t hlen = strlen(hdr);
	if (strcmp(path, "-") == 0) {
		t->fd = 1;
		int rc = write_all(1, hdr, hlen);
		free(hdr);
		if (rc) {
			mr_errf(e, MR_EXIT_IO, "stdout: %s", strerror(errno));
			tc_trace_close(t);
			return -1;
		}
		return 0;
	}
	t->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (t->fd < 0) {
		free(hdr);
		mr_errf(e, MR_EXIT_IO, "%s: %s", path, strerror(errno));
		tc_trace_close(t);
		return -1;
	}
	struct stat st;
	if (fstat(t->fd, &st) != 0)
		goto io;
	if (st.st_size == 0) {
		if (write_all(t->fd, hdr, hlen) != 0)
			goto io;
	} else {
		/* check the header */
		char *buf = mr_xcalloc(hlen + 1, 1);
		ssize_t r = pread(t->fd, buf, hlen, 0);
		int same = r == (ssize_t)hlen && memcmp(buf, hdr, hlen) == 0;
		if (!same) {
			char *nl = r > 0 ? memchr(buf, '\n', (size_t)r) : NULL;
			if (nl)
				*nl = 0;
			hdr[hlen - 1] = 0;
			mr_errf(e, MR_EXIT_DATA,
				"%s:1: the header differs from this schema's "
				"(want '%s', found '%.200s'); use another file",
				path, hdr, r > 0 ? buf : "");
			free(buf);
			free(hdr);
			tc_trace_close(t);
			return -1;
		}
		free(buf);
		/* cut a torn last line */
		off_t end = st.st_size;
		char c;
		if (pread(t->fd, &c, 1, end - 1) != 1)
			goto io;
		if (c != '\n') {
			off_t pos = end - 1;
			char blk[4096];
			off_t keep = (off_t)hlen;
			while (pos > (off_t)hlen) {
				off_t from = pos - (off_t)sizeof blk > (off_t)hlen
						     ? pos - (off_t)sizeof blk
						     : (off_t)hlen;
				ssize_t k = pread(t->fd, blk, (size_t)(pos - from), from);
				if (k <= 0)
					goto io;
				char *nl = memrchr(blk, '\n', (size_t)k);
				if (nl) {
					keep = from + (nl - blk) + 1;
					break;
				}
				pos = from;
			}
			if (ftruncate(t->fd, keep) != 0)
				goto io;
			if (!quiet)
				fprintf(stderr,
					"trace-collect: %s: removed a torn last "
					"row (%lld bytes)\n",
					path, (long long)(end - keep));
		}
	}
	if (lseek(t->fd, 0, SEEK_END) < 0)
		goto io;
	free(hdr);
	return 0;
io:
	mr_errf(e, MR_EXIT_IO, "%s: %s", path, strerror(errno));
	free(hdr);
	tc_trace_close(t);
	return -1;
}

int tc_trace_write(tc_trace *t, const char *buf, size_t len, int sync,
		   mr_err *e)
{
	if (write_all(t->fd, buf, len) != 0)
		return mr_errf(e, MR_EXIT_IO, "%s: write: %s", t->path,
			       strerror(errno));
	if (sync && t->fd != 1 && fdatasync(t->fd) != 0)
		return mr_errf(e, MR_EXIT_IO, "%s: fdatasync: %s", t->path,
			       strerror(errno));
	return 0;
}

void tc_trace_close(tc_trace *t)
{
	if (t->fd > 2)
		close(t->fd);
	t->fd = -1;
	free(t->path);
	t->path = NULL;
}
