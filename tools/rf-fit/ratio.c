/*
 * ratio.c - the spec of a derived column, NAME=NUM/DEN (ratio.h).
 */
#include <stdlib.h>
#include <string.h>

#include "ratio.h"

int rf_ratio_parse(const char *arg, rf_ratio *r, mr_err *e)
{
	*r = (rf_ratio){0};
	char *s = mr_xstrdup(arg);
	char *eq = strchr(s, '=');
	char *slash = eq ? strchr(eq + 1, '/') : NULL;
	if (!eq || !slash) {
		free(s);
		return mr_errf(e, MR_EXIT_USAGE, "'%s': expected NAME=NUM/DEN",
			       arg);
	}
	*eq = *slash = 0;
	const char *part[3] = {s, eq + 1, slash + 1};
	for (int i = 0; i < 3; i++) {
		if (*part[i] == 0 || strpbrk(part[i], ",=/")) {
			free(s);
			return mr_errf(e, MR_EXIT_USAGE,
				       "'%s': expected NAME=NUM/DEN, three column names",
				       arg);
		}
	}
	if (strcmp(s, eq + 1) == 0 || strcmp(s, slash + 1) == 0) {
		free(s);
		return mr_errf(e, MR_EXIT_USAGE,
			       "'%s': NAME must not be NUM or DEN", arg);
	}
	*r = (rf_ratio){s, eq + 1, slash + 1};
	return 0;
}

void rf_ratio_free(rf_ratio *r)
{
	free(r->name);
	*r = (rf_ratio){0};
}
