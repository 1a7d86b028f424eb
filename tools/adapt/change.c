/* change.c - two-sided CUSUM on model residuals (adapt.h). */
#include <math.h>

#include "adapt.h"

int mr_change_detector_init(mr_change_detector *d, int nchannels,
			    const double *scale, double delta, double h,
			    mr_err *e)
{
	if (nchannels < 1 || nchannels > MR_ADAPT_MAX_CHANNELS)
		return mr_errf(e, MR_EXIT_USAGE,
			       "change detector: %d channels (want 1..%d)",
			       nchannels, MR_ADAPT_MAX_CHANNELS);
	if (!(delta >= 0) || !isfinite(delta) || !(h > 0) || !isfinite(h))
		return mr_errf(e, MR_EXIT_USAGE,
			       "change detector: delta %g, h %g (want delta "
			       ">= 0, h > 0)", delta, h);
	d->nchannels = nchannels;
	d->delta = delta;
	d->h = h;
	for (int i = 0; i < nchannels; i++) {
		double sc = scale ? scale[i] : 1.0;
		if (!(sc > 0) || !isfinite(sc))
			return mr_errf(e, MR_EXIT_USAGE,
				       "change detector: channel %d: scale %g "
				       "(want > 0)", i, sc);
		d->scale[i] = sc;
	}
	mr_change_detector_reset(d);
	return 0;
}

void mr_change_detector_reset(mr_change_detector *d)
{
	for (int i = 0; i < MR_ADAPT_MAX_CHANNELS; i++)
		d->up[i] = d->down[i] = 0;
	d->windows = 0;
	d->channel = -1;
}

int mr_change_detector_update(mr_change_detector *d, const double *residual)
{
	int alarm = 0;

	d->windows++;
	for (int i = 0; i < d->nchannels; i++) {
		if (isnan(residual[i]))
			continue;
		double r = residual[i] / d->scale[i];
		d->up[i] = fmax(0, d->up[i] + r - d->delta);
		d->down[i] = fmax(0, d->down[i] - r - d->delta);
		if ((d->up[i] > d->h || d->down[i] > d->h) && !alarm) {
			alarm = 1;
			d->channel = i;
		}
	}
	return alarm;
}
