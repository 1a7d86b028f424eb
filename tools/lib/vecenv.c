/* vecenv.c - the buffers every vecenv implementation owns, sized from its
 * nenvs, obs_dim, ncomp and total_choices, in one place. */
#include <stdlib.h>

#include "vecenv.h"

void mr_vecenv_alloc_buffers(mr_vecenv *v)
{
	size_t n = (size_t)v->nenvs;
	v->obs = mr_xcalloc(n * (size_t)v->obs_dim, sizeof *v->obs);
	v->actions = mr_xcalloc(n * (size_t)v->ncomp, sizeof *v->actions);
	v->rewards = mr_xcalloc(n, sizeof *v->rewards);
	v->dones = mr_xcalloc(n, sizeof *v->dones);
	v->masks = mr_xcalloc(n * (size_t)v->total_choices, sizeof *v->masks);
	v->info = mr_xcalloc(n, sizeof *v->info);
}

void mr_vecenv_free_buffers(mr_vecenv *v)
{
	free(v->obs);
	free(v->actions);
	free(v->rewards);
	free(v->dones);
	free(v->masks);
	free(v->info);
	v->obs = NULL;
	v->actions = NULL;
	v->rewards = NULL;
	v->dones = NULL;
	v->masks = NULL;
	v->info = NULL;
}
