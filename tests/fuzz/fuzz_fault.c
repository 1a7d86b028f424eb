/* fuzz_fault.c - libFuzzer target for the LIVE_FAULT spec reader
 * (live_faults_parse): `make experiment LIVE=1 LIVE_FAULT='...'` hands a
 * user's string to policy-eval live --fault, which turns it into testbed
 * keys. Arbitrary bytes (NUL-terminated) as the spec; any result but a
 * crash (or a sanitizer report) is fine, and every accepted fault must
 * name keys and fit the table. */
#include <stdlib.h>
#include <string.h>

#include "evallive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *spec = malloc(size + 1);
	if (!spec)
		return 0;
	memcpy(spec, data, size);
	spec[size] = '\0';
	live_faults fs;
	mr_err e;
	if (live_faults_parse(spec, &fs, &e) == 0) {
		if (fs.n < 1 || fs.n > LIVE_MAX_FAULTS)
			abort();
		for (int i = 0; i < fs.n; i++)
			if (!fs.f[i].keys[0] ||
			    !memchr(fs.f[i].keys, '\0', sizeof fs.f[i].keys))
				abort();
	}
	free(spec);
	return 0;
}
