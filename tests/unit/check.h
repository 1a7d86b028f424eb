/* check.h - the unit tests' one assertion: CHECK(cond, "what") prints
 * "ok - what" or "not ok - what (file:line)". tests/run.sh counts them. */
#ifndef MESHRL_CHECK_H
#define MESHRL_CHECK_H
#include <stdio.h>

static int check_failures;

#define CHECK(cond, ...)                                                    \
	do {                                                                \
		int check_ok_ = !!(cond); /* evaluated once */              \
		if (check_ok_) {                                            \
			printf("ok - ");                                    \
		} else {                                                    \
			check_failures++;                                   \
			printf("not ok - ");                                \
		}                                                           \
		printf(__VA_ARGS__);                                        \
		if (!check_ok_)                                             \
			printf(" (%s:%d: %s)", __FILE__, __LINE__, #cond);  \
		printf("\n");                                               \
		fflush(stdout);                                             \
	} while (0)

#define CHECK_DONE() (check_failures ? 1 : 0)
#endif
