/* fuzz_http.c - libFuzzer target for trace-collect's HTTP/1.1 response
 * parser (tc_http_parse), which reads what a server under load sends
 * back: arbitrary bytes as a stream of pipelined responses, fed in pieces
 * whose size the first byte sets (1 = byte by byte, as a slow socket
 * delivers), keeping the unconsumed bytes as the sender does, then the
 * end of the connection (tc_http_eof). Any result but a crash (or a
 * sanitizer report) is fine. */
#include <string.h>

#include "tc_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t piece = (size_t)data[0] + 1, pos = 1;
	char buf[16384];
	size_t have = 0;
	tc_http_resp r;
	tc_http_resp_init(&r);
	while (pos < size) {
		size_t n = size - pos < piece ? size - pos : piece;
		if (n > sizeof buf - have)
			n = sizeof buf - have;
		if (n == 0)
			return 0; /* a line longer than the buffer: refused */
		memcpy(buf + have, data + pos, n);
		have += n;
		pos += n;
		for (;;) { /* every response the bytes so far complete */
			size_t used = 0;
			int rc = tc_http_parse(&r, buf, have, &used);
			if (used > have)
				__builtin_trap();
			memmove(buf, buf + used, have - used);
			have -= used;
			if (rc == TC_HTTP_BAD)
				return 0;
			if (rc == TC_HTTP_MORE)
				break;
			tc_http_resp_init(&r);
		}
	}
	tc_http_eof(&r);
	return 0;
}
