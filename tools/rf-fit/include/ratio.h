/*
 * ratio.h - a derived column, NAME = NUM / DEN, as rf-fit's --ratio
 * NAME=NUM/DEN makes it (e.g. served1=cl1/l1, the share of offered
 * requests answered). Exported so that whoever reads an objective's
 * fit_args (sim-env) parses the spec exactly as rf-fit does.
 */
#ifndef MESHRL_RATIO_H
#define MESHRL_RATIO_H

#include "meshrl.h"

/* The three names share one allocation, owned by name. */
typedef struct {
	char *name, *num, *den;
} rf_ratio;

/* Parses "NAME=NUM/DEN": three non-empty names without ',', '=' or '/',
 * NAME other than NUM and DEN. -1 (MR_EXIT_USAGE) with the reason. */
int rf_ratio_parse(const char *arg, rf_ratio *r, mr_err *e);
void rf_ratio_free(rf_ratio *r);

#endif
