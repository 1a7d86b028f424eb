/* fuzz_csv.c - libFuzzer target for the CSV reader: arbitrary bytes as a
 * trace file, two columns selected by name, both the strict and the
 * skip-bad-rows modes. Any result but a crash is fine. */
#include <stdio.h>
#include <stdlib.h>

#include "meshrl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const cols[] = {"a", "b"};
	for (int skip = 0; skip < 2; skip++) {
		FILE *f = fmemopen((void *)data, size, "r");
		if (!f)
			return 0;
		mr_err e;
		mr_csv_reader *r = mr_csv_open_stream(f, "fuzz", skip ? NULL : cols,
						      skip ? 0 : 2, skip, &e);
		if (r) {
			double *v = calloc(mr_csv_ncols(r) + 1, sizeof *v);
			size_t line;
			while (v && mr_csv_next(r, v, &line, &e) == 1)
				;
			free(v);
			mr_csv_close(r);
		}
		fclose(f);
	}
	return 0;
}
