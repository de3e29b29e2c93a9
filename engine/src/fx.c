/*
 * fx.c — the exchange-rate table of a policy (crest_fx.h): parsed and checked
 * once at load into an array sorted by (currency, valid_from), looked up per
 * row by binary search. It does not read files (the policy does, and hashes
 * them) nor decide what a missing rate means (the engine flags the row).
 */
#define _DEFAULT_SOURCE /* strncasecmp */
#include "crest/crest_fx.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crest/crest_date.h"

typedef struct fx_period {
    uint32_t code; /* the currency's three letters, upper case, packed */
    int32_t from;  /* days since 1970-01-01 */
    int32_t to;    /* inclusive; INT32_MAX when open ended */
    double rate;   /* base per unit of the currency */
    unsigned long line;
} fx_period;

struct crest_fx {
    fx_period *p;
    size_t n;
    uint32_t base;
};

/* Three ASCII letters packed upper case; 0 when text is not exactly three letters. */
static uint32_t pack_code(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n != 3)
        return 0;
    uint32_t c = 0;
    for (size_t i = 0; i < 3; i++) {
        const unsigned char ch = (unsigned char)s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')))
            return 0;
        c = c << 8 | (uint32_t)(ch & ~0x20u);
    }
    return c;
}

static int period_cmp(const void *a, const void *b)
{
    const fx_period *x = a, *y = b;
    if (x->code != y->code)
        return x->code < y->code ? -1 : 1;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

/* One field of a line: [*s, *e) trimmed; the line ends at end. */
typedef struct field {
    const char *s;
    size_t n;
    unsigned long column; /* 1-based byte column of the field's start */
} field;

#define FX_COLS 4
static const char *const fx_names[FX_COLS] = {"currency", "valid_from", "valid_to", "rate_to_base"};

/* Split a line at commas into at most cap fields; returns the count (cap + 1 when more). */
static size_t split(const char *line, size_t len, field *f, size_t cap)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && line[i] != ',')
            continue;
        if (n == cap)
            return cap + 1;
        const char *s = line + start;
        size_t k = i - start;
        unsigned long col = (unsigned long)start + 1;
        while (k && isspace((unsigned char)*s))
            s++, k--, col++;
        while (k && isspace((unsigned char)s[k - 1]))
            k--;
        f[n++] = (field){s, k, col};
        start = i + 1;
    }
    return n;
}

/* Reads one table; a long function because it is one pass of checks, each
 * with its own message (the line, the column, what was expected). */
crest_status crest_fx_parse(const char *data, size_t len, const char *name, const char *base, crest_fx **out,
                            crest_diag *diag)
{
    crest_diag_clear(diag);
    *out = NULL;
    crest_fx *fx = calloc(1, sizeof *fx);
    if (!fx)
        return crest_diag_set(diag, CREST_ERR_NOMEM, name, 0, 0, "out of memory");
    fx->base = pack_code(base, strlen(base));
    if (!fx->base) {
        free(fx);
        return crest_diag_set(diag, CREST_ERR_INVALID, name, 0, 0,
                              "[fx] base '%s' is not a three-letter currency code (e.g. USD)", base);
    }
    int col[FX_COLS] = {-1, -1, -1, -1};
    size_t cap = 0;
    unsigned long line_no = 0;
    const char *s = data, *end = data + len;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    crest_status st = CREST_OK;
    while (s < end && st == CREST_OK) {
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        const char *le = eol ? eol : end;
        size_t ll = (size_t)(le - s);
        if (ll && s[ll - 1] == '\r')
            ll--;
        line_no++;
        const char *line = s;
        s = eol ? eol + 1 : end;
        if (memchr(line, '"', ll)) {
            st = crest_diag_set(diag, CREST_ERR_INVALID, name, line_no,
                                (unsigned long)((const char *)memchr(line, '"', ll) - line) + 1,
                                "quoted fields are not supported in an FX table");
            break;
        }
        field f[FX_COLS + 1];
        size_t nf = split(line, ll, f, FX_COLS + 1);
        if (nf == 1 && f[0].n == 0)
            continue; /* blank line */
        if (col[0] < 0 && col[1] < 0 && col[2] < 0 && col[3] < 0) {
            /* The header. */
            for (size_t i = 0; i < nf && i <= FX_COLS; i++)
                for (int k = 0; k < FX_COLS; k++)
                    if (f[i].n == strlen(fx_names[k]) && strncasecmp(f[i].s, fx_names[k], f[i].n) == 0)
                        col[k] = (int)i;
            for (int k = 0; k < FX_COLS; k++)
                if (col[k] < 0)
                    st = crest_diag_set(diag, CREST_ERR_MISSING, name, line_no, 1,
                                        "the header has no %s column; expected currency,valid_from,valid_to,"
                                        "rate_to_base",
                                        fx_names[k]);
            continue;
        }
        if (nf > FX_COLS || nf < FX_COLS) {
            st = crest_diag_set(diag, CREST_ERR_INVALID, name, line_no, 1, "expected 4 fields, found %s%zu",
                                nf > FX_COLS ? "more than " : "", nf > FX_COLS ? (size_t)FX_COLS : nf);
            break;
        }
        fx_period p = {0, 0, INT32_MAX, 0, line_no};
        const field *fc = &f[col[0]], *ff = &f[col[1]], *ft = &f[col[2]], *fr = &f[col[3]];
        if (!(p.code = pack_code(fc->s, fc->n))) {
            st = crest_diag_set(diag, CREST_ERR_INVALID, name, line_no, fc->column,
                                "currency '%.*s' is not a three-letter code", (int)(fc->n > 16 ? 16 : fc->n),
                                fc->s);
            break;
        }
        if (p.code == fx->base) {
            st = crest_diag_set(diag, CREST_ERR_INVALID, name, line_no, fc->column,
                                "a rate for the base currency %s: it converts at 1 and needs no row", base);
            break;
        }
        if (!ff->n || !crest_date_parse(ff->s, ff->n, &p.from)) {
            st = crest_diag_set(diag, CREST_ERR_INVALID, name, line_no, ff->column,
                                "valid_from is not a date (YYYY-MM-DD)");
            break;
        }
        if (ft->n && !crest_date_parse(ft->s, ft->n, &p.to)) {
            st = crest_diag_set(diag, CREST_ERR_INVALID, name, line_no, ft->column,
                                "valid_to is not a date (YYYY-MM-DD; empty: open ended)");
            break;
        }
        if (p.to < p.from) {
            st = crest_diag_set(diag, CREST_ERR_INVALID, name, line_no, ft->column,
                                "valid_to is before valid_from");
            break;
        }
        p.rate = crest_parse_number(fr->s, fr->n);
        if (!(isfinite(p.rate) && p.rate > 0)) {
            st = crest_diag_set(diag, CREST_ERR_INVALID, name, line_no, fr->column,
                                "rate_to_base '%.*s' is not a number > 0", (int)(fr->n > 24 ? 24 : fr->n),
                                fr->s);
            break;
        }
        if (fx->n == cap) {
            cap = cap ? 2 * cap : 64;
            fx_period *np = realloc(fx->p, cap * sizeof *np);
            if (!np) {
                st = crest_diag_set(diag, CREST_ERR_NOMEM, name, line_no, 0, "out of memory");
                break;
            }
            fx->p = np;
        }
        fx->p[fx->n++] = p;
    }
    if (st == CREST_OK && col[0] < 0)
        st = crest_diag_set(
            diag, CREST_ERR_MISSING, name, 1, 1,
            "the FX table is empty; expected the header currency,valid_from,valid_to,rate_to_base");
    if (st == CREST_OK && fx->n) {
        qsort(fx->p, fx->n, sizeof *fx->p, period_cmp);
        for (size_t i = 1; i < fx->n && st == CREST_OK; i++) {
            const fx_period *a = &fx->p[i - 1], *b = &fx->p[i];
            if (a->code == b->code && b->from <= a->to) {
                const unsigned long first = a->line < b->line ? a->line : b->line;
                const unsigned long second = a->line < b->line ? b->line : a->line;
                const int same = a->from == b->from && a->to == b->to;
                st = crest_diag_set(diag, CREST_ERR_INVALID, name, second, 1,
                                    "%c%c%c: this period %s the one on line %lu", (char)(b->code >> 16),
                                    (char)(b->code >> 8), (char)b->code, same ? "duplicates" : "overlaps",
                                    first);
            }
        }
    }
    if (st != CREST_OK) {
        crest_fx_free(fx);
        return st;
    }
    *out = fx;
    return CREST_OK;
}

/* Hot path. */
double crest_fx_convert(const crest_fx *fx, double value, const char *currency, size_t currency_len,
                        int32_t date_days, int *missing)
{
    *missing = 0;
    if (isnan(value))
        return value;
    const uint32_t code = pack_code(currency, currency_len);
    if (code && code == fx->base)
        return value;
    if (!code || date_days == CREST_DATE_NONE) {
        *missing = 1;
        return NAN;
    }
    /* The last period of the currency starting on or before the date. */
    size_t lo = 0, hi = fx->n;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        const fx_period *m = &fx->p[mid];
        if (m->code < code || (m->code == code && m->from <= date_days))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0) {
        const fx_period *m = &fx->p[lo - 1];
        if (m->code == code && date_days <= m->to)
            return value * m->rate;
    }
    *missing = 1;
    return NAN;
}

size_t crest_fx_count(const crest_fx *fx)
{
    return fx ? fx->n : 0;
}

void crest_fx_free(crest_fx *fx)
{
    if (!fx)
        return;
    free(fx->p);
    free(fx);
}
