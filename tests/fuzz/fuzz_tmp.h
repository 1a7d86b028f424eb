/* fuzz_tmp.h - for fuzz targets whose reader takes a path: the input as a
 * new 0600 temporary file (mkstemp). */
#ifndef FUZZ_TMP_H
#define FUZZ_TMP_H

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* Writes data into a new file named from tmpl (ending in XXXXXX, changed
 * in place). Returns 0, or -1 when the file cannot be made (the caller
 * skips the input). */
static inline int fuzz_write_tmp(char *tmpl, const uint8_t *data, size_t size)
{
	int fd = mkstemp(tmpl);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < size) {
		ssize_t w = write(fd, data + off, size - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fd);
	return 0;
}

#endif
