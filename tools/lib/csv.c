/* csv.c - CSV reading with columns chosen by header name, on libcsv.
 *
 * Input is fed to libcsv one line at a time so that the reader works on
 * pipes and knows the line number of every row. A UTF-8 byte order mark
 * before the header is skipped. Values of the selected
 * columns are validated as they arrive; the first problem of a row becomes
 * that row's error message. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>

#include "meshrl.h"

typedef struct {
	size_t line;
	int bad;       /* 1: msg holds why */
	char msg[256];
	double *vals;  /* ncols, owned by the queue slab */
} row_slot;

struct mr_csv_reader {
	FILE *f;
	int own_f;
	char *name;
	struct csv_parser p;
	int skip_bad;
	size_t line;       /* line being fed */

	/* header */
	int header_done;
	char **want;       /* requested names, NULL = all */
	size_t nwant;
	size_t nhdr;       /* fields in the header */
	char **hdr;        /* header names */
	int *sel;          /* per header field: selected index or -1 */
	size_t nsel;
	char **selnames;   /* nsel */
	int fatal;         /* header problem: fatal_msg */
	char fatal_msg[512];

	/* row being assembled */
	size_t nfield;
	size_t row_line;
	int row_bad;
	char row_msg[256];
	double *rowvals;

	/* completed rows waiting to be handed out (FIFO) */
	row_slot *q;
	size_t qhead, qlen, qcap;

	size_t skipped;
	int eof;
	char *linebuf;
	size_t linecap;
};

static void quote_text(char *dst, size_t dstsz, const char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 5 < dstsz; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i >= 40) {
			o += (size_t)snprintf(dst + o, dstsz - o, "...");
			break;
		}
		if (isprint(c))
			dst[o++] = (char)c;
		else
			o += (size_t)snprintf(dst + o, dstsz - o, "\\x%02x", c);
	}
	dst[o < dstsz ? o : dstsz - 1] = 0;
}

/* Parses a numeric field. Returns NULL on success, else a reason. */
static const char *parse_number(const char *s, size_t n, double *out,
				char *why, size_t whysz)
{
	char txt[128];
	if (n == 0)
		return "empty field";
	quote_text(txt, sizeof txt, s, n);
	size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
	if (n - i >= 3 && (strncasecmp(s + i, "nan", 3) == 0 ||
			   strncasecmp(s + i, "inf", 3) == 0)) {
		snprintf(why, whysz, "'%s' is not a finite number", txt);
		return why;
	}
	for (size_t k = 0; k < n; k++) {
		char c = s[k];
		if (!(isdigit((unsigned char)c) || c == '.' || c == '-' ||
		      c == '+' || c == 'e' || c == 'E')) {
			snprintf(why, whysz, "'%s' is not a number", txt);
			return why;
		}
	}
	char buf[128];
	if (n >= sizeof buf) {
		snprintf(why, whysz, "'%s' is too long for a number", txt);
		return why;
	}
	memcpy(buf, s, n);
	buf[n] = 0;
	char *end;
	errno = 0;
	double v = strtod(buf, &end);
	if (end != buf + n || end == buf) {
		snprintf(why, whysz, "'%s' is not a number", txt);
		return why;
	}
	if (!isfinite(v)) {
		snprintf(why, whysz, "'%s' is out of range", txt);
		return why;
	}
	*out = v;
	return NULL;
}

static void row_error(mr_csv_reader *r, const char *fmt, const char *a,
		      const char *b)
{
	if (r->row_bad)
		return;
	r->row_bad = 1;
	snprintf(r->row_msg, sizeof r->row_msg, fmt, a, b);
}

static void on_field(void *s, size_t len, void *data)
{
	mr_csv_reader *r = data;
	size_t k = r->nfield++;
	if (k == 0)
		r->row_line = r->line;
	if (!r->header_done) {
		r->hdr = mr_xrealloc(r->hdr, k + 1, sizeof *r->hdr);
		char *name = mr_xcalloc(len + 1, 1);
		memcpy(name, s ? s : "", len);
		r->hdr[k] = name;
		return;
	}
	if (k >= r->nhdr || r->sel[k] < 0)
		return;
	char why[200];
	const char *bad = parse_number(s ? s : "", len,
				       &r->rowvals[r->sel[k]], why, sizeof why);
	if (bad)
		row_error(r, "column '%s': %s", r->hdr[k], bad);
}

static void finish_header(mr_csv_reader *r)
{
	r->header_done = 1;
	r->nhdr = r->nfield;
	r->sel = mr_xcalloc(r->nhdr, sizeof *r->sel);
	for (size_t k = 0; k < r->nhdr; k++)
		r->sel[k] = -1;
	if (!r->want) {
		for (size_t k = 0; k < r->nhdr; k++) {
			for (size_t j = 0; j < k; j++)
				if (strcmp(r->hdr[j], r->hdr[k]) == 0 &&
				    !r->fatal) {
					r->fatal = 1;
					snprintf(r->fatal_msg,
						 sizeof r->fatal_msg,
						 "%s:%zu: column '%s' appears twice in the header",
						 r->name, r->row_line, r->hdr[k]);
				}
			r->sel[k] = (int)k;
		}
		r->nsel = r->nhdr;
		r->selnames = r->hdr;
	} else {
		r->nsel = r->nwant;
		r->selnames = r->want;
		for (size_t j = 0; j < r->nwant && !r->fatal; j++) {
			int found = -1;
			for (size_t k = 0; k < r->nhdr; k++) {
				if (strcmp(r->hdr[k], r->want[j]) != 0)
					continue;
				if (found >= 0) {
					r->fatal = 1;
					snprintf(r->fatal_msg,
						 sizeof r->fatal_msg,
						 "%s:%zu: column '%s' appears twice in the header",
						 r->name, r->row_line, r->want[j]);
					break;
				}
				found = (int)k;
			}
			if (found < 0 && !r->fatal) {
				r->fatal = 1;
				snprintf(r->fatal_msg, sizeof r->fatal_msg,
					 "%s:%zu: no column '%s' in the header",
					 r->name, r->row_line ? r->row_line : 1,
					 r->want[j]);
			}
			if (found >= 0)
				r->sel[found] = (int)j;
		}
	}
	r->rowvals = mr_xcalloc(r->nsel ? r->nsel : 1, sizeof(double));
}

static void on_row(int c, void *data)
{
	(void)c;
	mr_csv_reader *r = data;
	if (!r->header_done) {
		finish_header(r);
		r->nfield = 0;
		return;
	}
	if (r->nfield != r->nhdr && !r->row_bad) {
		r->row_bad = 1;
		snprintf(r->row_msg, sizeof r->row_msg,
			 "expected %zu fields as in the header, found %zu",
			 r->nhdr, r->nfield);
	}
	if (r->qhead + r->qlen == r->qcap) {
		if (r->qhead > 0) {
			memmove(r->q, r->q + r->qhead, r->qlen * sizeof *r->q);
			r->qhead = 0;
		} else {
			size_t nc = r->qcap ? r->qcap * 2 : 8;
			r->q = mr_xrealloc(r->q, nc, sizeof *r->q);
			for (size_t i = r->qcap; i < nc; i++)
				r->q[i].vals = mr_xcalloc(
					r->nsel ? r->nsel : 1, sizeof(double));
			r->qcap = nc;
		}
	}
	/* swap value buffers instead of copying */
	row_slot *s = &r->q[r->qhead + r->qlen++];
	double *tmp = s->vals;
	s->vals = r->rowvals;
	r->rowvals = tmp;
	s->line = r->row_line;
	s->bad = r->row_bad;
	if (r->row_bad)
		memcpy(s->msg, r->row_msg, sizeof s->msg);
	r->nfield = 0;
	r->row_bad = 0;
}

mr_csv_reader *mr_csv_open_stream(FILE *f, const char *name,
				  const char *const *cols, size_t ncols,
				  int skip_bad, mr_err *e)
{
	mr_csv_reader *r = mr_xcalloc(1, sizeof *r);
	r->f = f;
	r->name = mr_xstrdup(name);
	r->skip_bad = skip_bad;
	if (cols) {
		r->want = mr_xcalloc(ncols + 1, sizeof *r->want);
		for (size_t i = 0; i < ncols; i++)
			r->want[i] = mr_xstrdup(cols[i]);
		r->nwant = ncols;
	}
	if (csv_init(&r->p, CSV_STRICT | CSV_STRICT_FINI) != 0) {
		mr_errf(e, MR_EXIT_IO, "%s: cannot initialise the CSV parser",
			name);
		mr_csv_close(r);
		return NULL;
	}
	/* Read the header now so that column errors show up at open. */
	size_t before = 0;
	while (!r->header_done && !r->eof && !r->fatal) {
		double dummy;
		(void)dummy;
		ssize_t n = getline(&r->linebuf, &r->linecap, r->f);
		if (n < 0) {
			if (ferror(r->f)) {
				mr_errf(e, MR_EXIT_IO, "%s: read error: %s",
					name, strerror(errno));
				mr_csv_close(r);
				return NULL;
			}
			r->eof = 1;
			csv_fini(&r->p, on_field, on_row, r);
			break;
		}
		r->line++;
		/* a UTF-8 byte order mark (spreadsheet exports) is not part
		 * of the first column's name */
		size_t bom = r->line == 1 && n >= 3 &&
			     memcmp(r->linebuf, "\xef\xbb\xbf", 3) == 0
				     ? 3 : 0;
		n -= (ssize_t)bom;
		before = csv_parse(&r->p, r->linebuf + bom, (size_t)n,
				   on_field, on_row, r);
		if (before != (size_t)n) {
			mr_errf(e, MR_EXIT_DATA, "%s:%zu: malformed CSV (%s)",
				name, r->line, csv_strerror(csv_error(&r->p)));
			mr_csv_close(r);
			return NULL;
		}
	}
	if (!r->header_done) {
		mr_errf(e, MR_EXIT_DATA, "%s: empty input, no header row",
			name);
		mr_csv_close(r);
		return NULL;
	}
	if (r->fatal) {
		mr_errf(e, MR_EXIT_DATA, "%s", r->fatal_msg);
		mr_csv_close(r);
		return NULL;
	}
	return r;
}

mr_csv_reader *mr_csv_open(const char *path, const char *const *cols,
			   size_t ncols, int skip_bad, mr_err *e)
{
	FILE *f;
	if (strcmp(path, "-") == 0) {
		f = stdin;
	} else {
		f = fopen(path, "r");
		if (!f) {
			mr_errf(e, MR_EXIT_IO, "%s: cannot open: %s", path,
				strerror(errno));
			return NULL;
		}
	}
	mr_csv_reader *r = mr_csv_open_stream(
		f, strcmp(path, "-") == 0 ? "<stdin>" : path, cols, ncols,
		skip_bad, e);
	if (!r) {
		if (f != stdin)
			fclose(f);
		return NULL;
	}
	r->own_f = f != stdin;
	return r;
}

size_t mr_csv_ncols(const mr_csv_reader *r) { return r->nsel; }

const char *mr_csv_colname(const mr_csv_reader *r, size_t i)
{
	return i < r->nsel ? r->selnames[i] : NULL;
}

size_t mr_csv_skipped(const mr_csv_reader *r) { return r->skipped; }

const char *mr_csv_header_name(const mr_csv_reader *r, size_t k)
{
	return k < r->nhdr ? r->hdr[k] : NULL;
}

int mr_csv_next(mr_csv_reader *r, double *vals, size_t *line, mr_err *e)
{
	for (;;) {
		while (r->qlen > 0) {
			row_slot *s = &r->q[r->qhead];
			r->qhead++;
			r->qlen--;
			if (r->qlen == 0)
				r->qhead = 0;
			if (s->bad) {
				if (r->skip_bad) {
					r->skipped++;
					continue;
				}
				return mr_errf(e, MR_EXIT_DATA, "%s:%zu: %s",
					       r->name, s->line, s->msg);
			}
			memcpy(vals, s->vals, r->nsel * sizeof *vals);
			if (line)
				*line = s->line;
			return 1;
		}
		if (r->eof)
			return 0;
		ssize_t n = getline(&r->linebuf, &r->linecap, r->f);
		if (n < 0) {
			if (ferror(r->f))
				return mr_errf(e, MR_EXIT_IO,
					       "%s: read error: %s", r->name,
					       strerror(errno));
			r->eof = 1;
			if (csv_fini(&r->p, on_field, on_row, r) != 0)
				return mr_errf(
					e, MR_EXIT_DATA,
					"%s:%zu: malformed CSV (unterminated quoted field)",
					r->name, r->line);
			continue;
		}
		r->line++;
		if (csv_parse(&r->p, r->linebuf, (size_t)n, on_field, on_row,
			      r) != (size_t)n) {
			if (r->skip_bad) {
				/* Resynchronise at the next line. */
				r->skipped++;
				csv_free(&r->p);
				csv_init(&r->p, CSV_STRICT | CSV_STRICT_FINI);
				r->nfield = 0;
				r->row_bad = 0;
				continue;
			}
			return mr_errf(e, MR_EXIT_DATA,
				       "%s:%zu: malformed CSV (%s)", r->name,
				       r->line,
				       csv_strerror(csv_error(&r->p)));
		}
	}
}

void mr_csv_close(mr_csv_reader *r)
{
	if (!r)
		return;
	csv_free(&r->p);
	if (r->own_f)
		fclose(r->f);
	for (size_t i = 0; r->hdr && i < (r->header_done ? r->nhdr : r->nfield);
	     i++)
		free(r->hdr[i]);
	free(r->hdr);
	if (r->want) {
		for (size_t i = 0; i < r->nwant; i++)
			free(r->want[i]);
		free(r->want);
	}
	for (size_t i = 0; i < r->qcap; i++)
		free(r->q[i].vals);
	free(r->q);
	free(r->sel);
	free(r->rowvals);
	free(r->name);
	free(r->linebuf);
	free(r);
}

int mr_table_read(const char *path, const char *const *cols, size_t ncols,
		  int skip_bad, mr_table *t, mr_err *e)
{
	memset(t, 0, sizeof *t);
	mr_csv_reader *r = mr_csv_open(path, cols, ncols, skip_bad, e);
	if (!r)
		return -1;
	t->ncols = mr_csv_ncols(r);
	t->names = mr_xcalloc(t->ncols + 1, sizeof *t->names);
	for (size_t i = 0; i < t->ncols; i++)
		t->names[i] = mr_xstrdup(mr_csv_colname(r, i));
	size_t cap = 0;
	double *row = mr_xcalloc(t->ncols ? t->ncols : 1, sizeof *row);
	size_t line = 0;
	int rc;
	while ((rc = mr_csv_next(r, row, &line, e)) == 1) {
		if (t->nrows == cap) {
			cap = cap ? cap * 2 : 1024;
			t->data = mr_xrealloc(t->data, cap * (t->ncols ? t->ncols : 1),
					      sizeof *t->data);
			t->line = mr_xrealloc(t->line, cap, sizeof *t->line);
		}
		memcpy(t->data + t->nrows * t->ncols, row,
		       t->ncols * sizeof *row);
		t->line[t->nrows++] = line;
	}
	free(row);
	t->skipped = mr_csv_skipped(r);
	mr_csv_close(r);
	if (rc < 0) {
		mr_table_free(t);
		return -1;
	}
	return 0;
}

void mr_table_free(mr_table *t)
{
	if (t->names)
		for (size_t i = 0; i < t->ncols; i++)
			free(t->names[i]);
	free(t->names);
	free(t->data);
	free(t->line);
	memset(t, 0, sizeof *t);
}

int mr_table_col(const mr_table *t, const char *name)
{
	for (size_t i = 0; i < t->ncols; i++)
		if (strcmp(t->names[i], name) == 0)
			return (int)i;
	return -1;
}

char **mr_split_names(const char *list, size_t *n, mr_err *e)
{
	size_t len = strlen(list), count = 1;
	for (size_t i = 0; i < len; i++)
		count += list[i] == ',';
	/* pointer array and the copied text in one allocation */
	char **v = mr_xcalloc(1, (count + 1) * sizeof(char *) + len + 1);
	char *text = (char *)(v + count + 1);
	memcpy(text, list, len + 1);
	size_t k = 0;
	for (char *tok = text;; k++) {
		char *comma = strchr(tok, ',');
		if (comma)
			*comma = 0;
		if (*tok == 0) {
			free(v);
			mr_errf(e, MR_EXIT_USAGE, "empty name in list '%s'",
				list);
			return NULL;
		}
		for (size_t j = 0; j < k; j++)
			if (strcmp(v[j], tok) == 0) {
				mr_errf(e, MR_EXIT_USAGE,
					"name '%s' given twice in '%s'", tok,
					list);
				free(v);
				return NULL;
			}
		v[k] = tok;
		if (!comma)
			break;
		tok = comma + 1;
	}
	*n = count;
	return v;
}

/* %.15g keeps every value whose shortest form has at most 15 digits
 * (DBL_DIG; %g drops trailing zeros), so only 16 and 17 need trying
 * after it. */
char *mr_fmt_double(char buf[32], double v)
{
	if (!isfinite(v)) {
		snprintf(buf, 32, "%g", v);
		return buf;
	}
	/* the range first: converting a huge value to an integer is undefined */
	if (fabs(v) < 1e15 && v == (double)(long long)v) {
		snprintf(buf, 32, "%lld", (long long)v);
		return buf;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, 32, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

/* The same for float32, read back with strtof: 6 digits keep every
 * value whose shortest form has at most 6 (FLT_DIG), 9 always suffice. */
char *mr_fmt_float(char buf[32], float v)
{
	if (isfinite(v) && fabsf(v) < 1e7f && v == (float)(long long)v) {
		snprintf(buf, 32, "%lld", (long long)v);
		return buf;
	}
	for (int prec = 6; prec <= 9; prec++) {
		snprintf(buf, 32, "%.*g", prec, (double)v);
		if (!isfinite(v) || strtof(buf, NULL) == v)
			break;
	}
	return buf;
}

void mr_csv_put(FILE *f, const char *sep, double v)
{
	char nb[32];
	fputs(sep, f);
	if (isfinite(v))
		fputs(mr_fmt_double(nb, v), f);
}

double mr_sum(const double *x, size_t n)
{
	double s = 0, c = 0; /* c: what s lost to rounding (Neumaier) */
	for (size_t i = 0; i < n; i++) {
		double t = s + x[i];
		c += fabs(s) >= fabs(x[i]) ? (s - t) + x[i] : (x[i] - t) + s;
		s = t;
	}
	return s + c;
}
