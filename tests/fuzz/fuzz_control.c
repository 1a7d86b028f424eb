/* fuzz_control.c - libFuzzer target for what the testbed's control plane
 * reads from the network and from the run folder: arbitrary bytes as a
 * flat JSON body (mesh_flatjson_parse, then every key through the key
 * parser and its value check, as the front does) and as an env file
 * (mesh_env_read, from a 0600 temp file). Any result but a crash (or a
 * sanitizer report) is fine. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_tmp.h"

#include "meshapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mr_err e;
	mesh_kv kv[32];
	int n = mesh_flatjson_parse((const char *)data, size, kv, 32, &e);
	for (int i = 0; i < n; i++) {
		mesh_key k;
		if (mesh_key_parse(kv[i].key, &k, &e) == 0)
			mesh_key_check(&k, kv[i].key, kv[i].val, &e);
	}

	char path[] = "/tmp/fuzz_control_env.XXXXXX";
	/* mkstemp makes it 0600, as the reader demands */
	if (fuzz_write_tmp(path, data, size) != 0)
		return 0;
	mesh_env env;
	mesh_env_read(path, &env, &e);
	unlink(path);
	return 0;
}
