/* fuzz_sidecar.c - libFuzzer target for the reader of a trace's sidecar
 * (TRACE.meta, key=value lines) that `testbed calibrate --compare` and
 * `make experiment LIVE=1` run on a file a user may have edited: arbitrary
 * bytes as the sidecar, compared with a fixed calibration. Any result but a
 * crash (or a sanitizer report) is fine. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz_tmp.h"

#include "testbed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/fuzz_sidecar.XXXXXX";
	if (fuzz_write_tmp(path, data, size) != 0)
		return 0;
	tb_node_opts o = {.workers = 2, .unit = 0.1, .period = 0.02,
			  .demand_cv = 0.3};
	tb_calib c[MESH_NSERVICES];
	for (int s = 0; s < MESH_NSERVICES; s++)
		c[s] = (tb_calib){.setting_ms = 5, .charged_ms = 5, .cv = 0.3};
	FILE *sink = fopen("/dev/null", "w");
	if (sink) {
		mr_err e;
		tb_calib_compare(&o, c, path, sink, &e);
		fclose(sink);
	}
	unlink(path);
	return 0;
}
