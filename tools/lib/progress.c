/* progress.c - progress on stderr: a bar on a terminal, plain lines
 * (at most one per 5 s) otherwise. */
#include <unistd.h>

#include "meshrl.h"

void mr_progress_init(mr_progress *p, const char *label, double total,
		      int quiet)
{
	p->label = label;
	p->total = total;
	p->started = p->last = mr_now();
	p->tty = isatty(STDERR_FILENO);
	p->quiet = quiet;
}

static void print_line(mr_progress *p, double done, const char *extra,
		       int final)
{
	double el = mr_now() - p->started;
	double frac = p->total > 0 ? done / p->total : 0;
	if (frac > 1)
		frac = 1;
	if (p->tty) {
		char bar[31];
		int fill = (int)(frac * 30);
		for (int i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = 0;
		fprintf(stderr, "\r%s [%s] %5.1f%% %.1fs %s\033[K%s",
			p->label, bar, 100 * frac, el, extra ? extra : "",
			final ? "\n" : "");
	} else {
		fprintf(stderr, "%s: %.0f/%.0f (%.1f%%) %.1fs %s\n", p->label,
			done, p->total, 100 * frac, el, extra ? extra : "");
	}
	fflush(stderr);
}

void mr_progress_update(mr_progress *p, double done, const char *extra)
{
	if (p->quiet)
		return;
	double now = mr_now();
	if (now - p->last < (p->tty ? 0.1 : 5.0))
		return;
	p->last = now;
	print_line(p, done, extra, 0);
}

void mr_progress_done(mr_progress *p, const char *extra)
{
	if (p->quiet)
		return;
	print_line(p, p->total, extra, 1);
}
