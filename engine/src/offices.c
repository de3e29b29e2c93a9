/*
 * offices.c — the capacity table of [capacity] offices: per office (and
 * optionally per validity period) the RED inspections it can carry out in a
 * day. The file is CSV with a header naming the columns office and
 * red_per_day, and optionally valid_from and valid_to (ISO dates, inclusive;
 * empty: open). It is read once at load through the policy's file reader
 * (bounded, hashed into the policy hash like the criteria's tables) and
 * checked here: every error names the file, line and column. An office's
 * rows may not overlap in time.
 *
 * Lookup (crest_policy_office_cap) gives the cap of an office on a day: its
 * row valid that day, else [capacity] red_per_office_day (0: no cap).
 * This module does not apply the cap: capacity.c does.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_date.h"
#include "policy_internal.h"

enum { COL_OFFICE, COL_RED, COL_FROM, COL_TO, COL_COUNT };
static const char *const col_names[COL_COUNT] = {"office", "red_per_day", "valid_from", "valid_to"};

/* One field of a line: [start, start + len), trimmed of spaces and tabs. */
typedef struct field {
    const char *p;
    size_t len;
    unsigned long column; /* 1-based byte column of the field's first byte */
} field;

/* Split a line at commas into at most cap fields; returns the count, or
 * cap + 1 when there are more. */
static size_t split(const char *line, size_t n, field *f, size_t cap)
{
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && line[i] != ',')
            continue;
        if (k == cap)
            return cap + 1;
        size_t a = start, b = i;
        while (a < b && (line[a] == ' ' || line[a] == '\t'))
            a++;
        while (b > a && (line[b - 1] == ' ' || line[b - 1] == '\t'))
            b--;
        f[k].p = line + a;
        f[k].len = b - a;
        f[k].column = (unsigned long)start + 1;
        k++;
        start = i + 1;
    }
    return k;
}

static int cmp_cap(const void *a, const void *b)
{
    const policy_office_cap *x = a, *y = b;
    const int c = strcmp(x->office, y->office);
    if (c)
        return c;
    return x->from < y->from ? -1 : x->from > y->from;
}

/* Parse one data line into *out (its office copied); CREST_OK or a status with diag. */
static crest_status parse_row(const char *name, unsigned long line, const field *f, const int *col_of,
                              policy_office_cap *out, crest_diag *diag)
{
    const field *o = &f[col_of[COL_OFFICE]];
    if (!o->len)
        return crest_diag_set(diag, CREST_ERR_INVALID, name, line, o->column,
                              "the office is empty; every row names an office.");
    const field *r = &f[col_of[COL_RED]];
    unsigned long v = 0;
    int ok = r->len > 0 && r->len <= 10;
    for (size_t i = 0; ok && i < r->len; i++) {
        ok = r->p[i] >= '0' && r->p[i] <= '9';
        v = v * 10 + (unsigned long)(r->p[i] - '0');
    }
    if (!ok || v > 1000000000ul)
        return crest_diag_set(diag, CREST_ERR_INVALID, name, line, r->column,
                              "red_per_day is a whole number from 0 to 1000000000, found '%.*s'.",
                              (int)(r->len < 40 ? r->len : 40), r->p);
    out->red_per_day = v;
    out->from = INT32_MIN;
    out->to = INT32_MAX;
    for (int c = COL_FROM; c <= COL_TO; c++) {
        if (col_of[c] < 0 || !f[col_of[c]].len)
            continue;
        const field *d = &f[col_of[c]];
        int32_t days;
        if (!crest_date_parse_iso(d->p, d->len, &days))
            return crest_diag_set(diag, CREST_ERR_INVALID, name, line, d->column,
                                  "%s is a date YYYY-MM-DD or empty (open), found '%.*s'.", col_names[c],
                                  (int)(d->len < 40 ? d->len : 40), d->p);
        *(c == COL_FROM ? &out->from : &out->to) = days;
    }
    if (out->from > out->to)
        return crest_diag_set(diag, CREST_ERR_INVALID, name, line, f[col_of[COL_TO]].column,
                              "valid_to is before valid_from.");
    out->line = line;
    if (!(out->office = malloc(o->len + 1)))
        return crest_diag_set(diag, CREST_ERR_NOMEM, name, line, 0, "out of memory");
    memcpy(out->office, o->p, o->len);
    out->office[o->len] = '\0';
    return CREST_OK;
}

/* The header line: which column holds which field. */
static crest_status parse_header(const char *name, const field *f, size_t nf, int *col_of, crest_diag *diag)
{
    for (int c = 0; c < COL_COUNT; c++)
        col_of[c] = -1;
    for (size_t i = 0; i < nf; i++) {
        int c = 0;
        while (c < COL_COUNT &&
               !(strlen(col_names[c]) == f[i].len && !memcmp(col_names[c], f[i].p, f[i].len)))
            c++;
        if (c == COL_COUNT)
            return crest_diag_set(diag, CREST_ERR_SYNTAX, name, 1, f[i].column,
                                  "unknown column '%.*s'; the columns are office, red_per_day and "
                                  "optionally valid_from, valid_to.",
                                  (int)(f[i].len < 40 ? f[i].len : 40), f[i].p);
        if (col_of[c] >= 0)
            return crest_diag_set(diag, CREST_ERR_SYNTAX, name, 1, f[i].column, "column %s appears twice.",
                                  col_names[c]);
        col_of[c] = (int)i;
    }
    for (int c = COL_OFFICE; c <= COL_RED; c++)
        if (col_of[c] < 0)
            return crest_diag_set(diag, CREST_ERR_MISSING, name, 1, 1,
                                  "the header needs the column %s (office, red_per_day[, valid_from, "
                                  "valid_to]).",
                                  col_names[c]);
    return CREST_OK;
}

/*
 * Parse the table's bytes into p->office_caps (sorted by office, then
 * valid_from). name is the file as messages name it. Returns CREST_OK, or
 * CREST_ERR_SYNTAX / _INVALID / _MISSING with diag (file, line, column),
 * CREST_ERR_NOMEM.
 */
crest_status policy_offices_parse(crest_policy *p, const char *name, const char *data, size_t len,
                                  crest_diag *diag)
{
    const char *s = data, *end = data + len;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    int col_of[COL_COUNT];
    size_t n_cols = 0, cap = 0;
    unsigned long line = 0;
    crest_status st = CREST_OK;
    for (; s < end && st == CREST_OK; line++) {
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        const char *next = eol ? eol + 1 : end;
        size_t n = (size_t)((eol ? eol : end) - s);
        if (n && s[n - 1] == '\r')
            n--;
        const char *l = s;
        s = next;
        if (memchr(l, '"', n) || memchr(l, '\0', n)) {
            const char *q = memchr(l, '"', n);
            if (!q)
                q = memchr(l, '\0', n);
            return crest_diag_set(diag, CREST_ERR_SYNTAX, name, line + 1, (unsigned long)(q - l) + 1,
                                  "quotes and NUL bytes are not allowed in the capacity table.");
        }
        field f[COL_COUNT + 1];
        if (line == 0) {
            n_cols = split(l, n, f, COL_COUNT);
            if (n_cols > COL_COUNT)
                return crest_diag_set(diag, CREST_ERR_SYNTAX, name, 1, f[COL_COUNT - 1].column,
                                      "more than %d columns; the columns are office, red_per_day and "
                                      "optionally valid_from, valid_to.",
                                      COL_COUNT);
            st = parse_header(name, f, n_cols, col_of, diag);
            continue;
        }
        if (n == 0)
            continue; /* a blank line (the last line end, or spacing) */
        const size_t nf = split(l, n, f, COL_COUNT);
        if (nf != n_cols)
            return crest_diag_set(
                diag, CREST_ERR_SYNTAX, name, line + 1, 1, "the row has %s%zu fields, the header %zu.",
                nf > COL_COUNT ? "more than " : "", nf > COL_COUNT ? (size_t)COL_COUNT : nf, n_cols);
        if (p->n_office_caps == cap) {
            cap = cap ? 2 * cap : 16;
            policy_office_cap *nc = realloc(p->office_caps, cap * sizeof *nc);
            if (!nc)
                return crest_diag_set(diag, CREST_ERR_NOMEM, name, line + 1, 0, "out of memory");
            p->office_caps = nc;
        }
        st = parse_row(name, line + 1, f, col_of, &p->office_caps[p->n_office_caps], diag);
        if (st == CREST_OK)
            p->n_office_caps++;
    }
    if (st != CREST_OK)
        return st;
    if (line == 0)
        return crest_diag_set(diag, CREST_ERR_MISSING, name, 1, 1,
                              "the capacity table is empty; it needs the header office,red_per_day.");
    qsort(p->office_caps, p->n_office_caps, sizeof *p->office_caps, cmp_cap);
    for (size_t i = 1; i < p->n_office_caps; i++) {
        const policy_office_cap *a = &p->office_caps[i - 1], *b = &p->office_caps[i];
        if (!strcmp(a->office, b->office) && b->from <= a->to) {
            const policy_office_cap *later = a->line > b->line ? a : b;
            return crest_diag_set(diag, CREST_ERR_INVALID, name, later->line, 1,
                                  "office %s has two rows valid on the same days (lines %lu and %lu); "
                                  "their periods may not overlap.",
                                  a->office, a->line < b->line ? a->line : b->line, later->line);
        }
    }
    return CREST_OK;
}

void policy_offices_free(crest_policy *p)
{
    for (size_t i = 0; i < p->n_office_caps; i++)
        free(p->office_caps[i].office);
    free(p->office_caps);
    p->office_caps = NULL;
    p->n_office_caps = 0;
}

int crest_policy_has_capacity(const crest_policy *p)
{
    return p->red_per_office_day > 0 || p->n_office_caps > 0;
}

size_t crest_policy_office_count(const crest_policy *p)
{
    return p->n_office_caps;
}

int crest_policy_office_cap(const crest_policy *p, const char *office, size_t len, int32_t day,
                            unsigned long *cap)
{
    /* Binary search for the office's first row, then its periods in order. */
    size_t lo = 0, hi = p->n_office_caps;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        const char *m = p->office_caps[mid].office;
        const size_t mn = strlen(m);
        int c = memcmp(m, office, mn < len ? mn : len);
        if (!c)
            c = mn < len ? -1 : mn > len;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < p->n_office_caps; i++) {
        const policy_office_cap *r = &p->office_caps[i];
        if (strlen(r->office) != len || memcmp(r->office, office, len) != 0)
            break;
        if (day >= r->from && day <= r->to) {
            *cap = r->red_per_day;
            return 1;
        }
    }
    *cap = p->red_per_office_day;
    return p->red_per_office_day > 0;
}
