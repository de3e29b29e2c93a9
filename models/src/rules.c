/*
 * rules.c — selection criteria: CSV loading (libcsv) of criteria, named lists
 * and unit-value band tables; PCRE2 compilation; binding of non-canonical
 * columns; and the allocation-free evaluation of one declaration.
 *
 * It does not decide anything: weights, forced lanes with their probabilities
 * and the max-hits flag go back to the engine, which draws and selects.
 * The criteria syntax is documented in crest_rules.h.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "crest/crest_rules.h"

#include "crest/crest_date.h"
#include "fnv.h"

#include <csv.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NO_COL SIZE_MAX
#define NO_ENTRY UINT32_MAX

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static crest_str trim(crest_str s)
{
    if (!s.ptr)
        return s;
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t'))
        s.ptr++, s.len--;
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

static bool ieq(const char *a, size_t a_len, const char *b)
{
    size_t b_len = strlen(b);
    return a_len == b_len && strncasecmp(a, b, a_len) == 0;
}

/* A whole cell as a finite number, by crest's one parser (crest_base.h:
 * spaces and tabs around it allowed). */
static bool parse_number(const char *s, size_t len, double *out)
{
    const double v = crest_parse_number(s, len);
    if (isnan(v))
        return false;
    *out = v;
    return true;
}

/* Number of UTF-8 characters in the first n bytes of s. */
static unsigned long utf8_chars(const char *s, size_t n)
{
    unsigned long c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            c++;
    return c;
}

/* ------------------------------------------------------------------------ */
/* CSV reading with positions                                               */

/*
 * libcsv reports fields but not where they were. We feed it runs that end
 * at every ',' CR or LF byte — the only bytes at which it can emit a field —
 * and note the position of the first byte fed after each emission: that is
 * where the next field starts. Columns count UTF-8 characters, 1-based.
 */
typedef struct csv_cell {
    char *buf; /* NUL-terminated copy */
    size_t len, cap;
    unsigned long line, col;
    bool quoted;
} csv_cell;

typedef struct csv_reader csv_reader;
typedef crest_status (*csv_row_fn)(void *ctx, csv_reader *r);

struct csv_reader {
    const char *path;
    crest_diag *diag;
    csv_cell *cells;
    size_t n_cells, cap_cells;
    bool need_start;
    unsigned long start_line, start_col;
    bool start_quoted;
    csv_row_fn on_row;
    void *ctx;
    crest_status status;
};

static void reader_free(csv_reader *r)
{
    for (size_t i = 0; i < r->cap_cells; i++)
        free(r->cells[i].buf);
    free(r->cells);
}

static void cb_field(void *s, size_t len, void *data)
{
    csv_reader *r = data;
    if (r->status != CREST_OK)
        return;
    if (r->n_cells == r->cap_cells) {
        size_t cap = r->cap_cells ? 2 * r->cap_cells : 16;
        csv_cell *c = realloc(r->cells, cap * sizeof *c);
        if (!c) {
            r->status = crest_diag_set(r->diag, CREST_ERR_NOMEM, r->path, r->start_line, 0,
                                       "Out of memory while reading the file.");
            return;
        }
        memset(c + r->cap_cells, 0, (cap - r->cap_cells) * sizeof *c);
        r->cells = c;
        r->cap_cells = cap;
    }
    csv_cell *c = &r->cells[r->n_cells];
    if (c->cap < len + 1) {
        char *b = realloc(c->buf, len + 1);
        if (!b) {
            r->status = crest_diag_set(r->diag, CREST_ERR_NOMEM, r->path, r->start_line, 0,
                                       "Out of memory while reading the file.");
            return;
        }
        c->buf = b;
        c->cap = len + 1;
    }
    if (len)
        memcpy(c->buf, s, len);
    c->buf[len] = '\0';
    c->len = len;
    c->line = r->start_line;
    c->col = r->start_col;
    c->quoted = r->start_quoted;
    r->n_cells++;
    r->need_start = true;
}

static void cb_row(int term, void *data)
{
    (void)term;
    csv_reader *r = data;
    r->need_start = true;
    if (r->status == CREST_OK && r->n_cells > 0) {
        bool blank = true;
        for (size_t i = 0; i < r->n_cells && blank; i++)
            blank = trim((crest_str){r->cells[i].buf, r->cells[i].len}).len == 0;
        bool comment =
            r->cells[0].len > 0 && trim((crest_str){r->cells[0].buf, r->cells[0].len}).ptr[0] == '#';
        if (!blank && !comment)
            r->status = r->on_row(r->ctx, r);
    }
    r->n_cells = 0;
}

/* Parse a whole CSV file held in memory, calling on_row for each non-blank,
 * non-comment row (the header included). */
static crest_status csv_read_bytes(const char *path, const char *buf, size_t n, crest_diag *diag,
                                   csv_row_fn on_row, void *ctx)
{
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
        return crest_diag_set(diag, CREST_ERR_NOMEM, path, 0, 0, "Cannot initialise the CSV parser.");
    csv_reader r = {
        .path = path, .diag = diag, .need_start = true, .on_row = on_row, .ctx = ctx, .status = CREST_OK};
    unsigned long line = 1, col = 1;
    size_t i = 0;
    if (n >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB &&
        (unsigned char)buf[2] == 0xBF)
        i = 3;
    size_t run = i;
    for (; i < n && r.status == CREST_OK; i++) {
        const unsigned char b = (unsigned char)buf[i];
        if (r.need_start && b != '\r' && b != '\n') {
            r.need_start = false;
            r.start_line = line;
            r.start_col = col;
            r.start_quoted = b == '"';
        }
        const unsigned long err_line = line, err_col = col;
        if (b == '\n')
            line++, col = 1;
        else if (b != '\r' && (b & 0xC0) != 0x80)
            col++;
        if (b == ',' || b == '\n' || b == '\r' || i + 1 == n) {
            size_t len = i + 1 - run;
            if (csv_parse(&p, buf + run, len, cb_field, cb_row, &r) != len && r.status == CREST_OK)
                r.status = crest_diag_set(diag, CREST_ERR_SYNTAX, path, err_line, err_col,
                                          "Malformed CSV (%s): a quote must open a field and be "
                                          "doubled inside it.",
                                          csv_strerror(csv_error(&p)));
            run = i + 1;
        }
    }
    if (r.status == CREST_OK && csv_fini(&p, cb_field, cb_row, &r) != 0 && r.status == CREST_OK)
        r.status =
            crest_diag_set(diag, CREST_ERR_SYNTAX, path, r.start_line, r.start_col,
                           "Malformed CSV (%s): a quoted field is not closed.", csv_strerror(csv_error(&p)));
    csv_free(&p);
    reader_free(&r);
    return r.status;
}

/* Read a file through the caller's reader (opts->read) or, without one, as a
 * bounded regular file; then parse it as CSV. */
static crest_status csv_read_file(const crest_rules_load_options *opts, crest_file_kind kind,
                                  const char *path, const char *name, crest_diag *diag, csv_row_fn on_row,
                                  void *ctx)
{
    const char *data;
    size_t len;
    char *owned = NULL;
    crest_status st;
    if (opts && opts->read) {
        st = opts->read(opts->read_ctx, kind, path, name, &data, &len, diag);
    } else {
        st = crest_file_read(path, crest_file_default_cap(kind),
                             kind == CREST_FILE_CRITERIA ? "criteria file" : "table", &owned, &len, diag);
        data = owned;
    }
    if (st == CREST_OK)
        st = csv_read_bytes(path, data, len, diag, on_row, ctx);
    free(owned);
    return st;
}

/* Header handling shared by the three file kinds: map known names (matched
 * case-insensitively) to cell indices, and check required ones. */
typedef struct header_spec {
    const char *name;
    bool required;
} header_spec;

#define MAX_KNOWN_COLS 16

static crest_status map_header(csv_reader *r, const header_spec *spec, size_t n_spec, size_t *idx)
{
    for (size_t k = 0; k < n_spec; k++)
        idx[k] = NO_COL;
    for (size_t i = 0; i < r->n_cells; i++) {
        crest_str name = trim((crest_str){r->cells[i].buf, r->cells[i].len});
        for (size_t k = 0; k < n_spec; k++) {
            if (!ieq(name.ptr, name.len, spec[k].name))
                continue;
            if (idx[k] != NO_COL)
                return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, r->cells[i].line, r->cells[i].col,
                                      "Column '%s' appears twice in the header.", spec[k].name);
            idx[k] = i;
        }
    }
    for (size_t k = 0; k < n_spec; k++)
        if (spec[k].required && idx[k] == NO_COL) {
            char names[256] = "";
            for (size_t j = 0; j < n_spec; j++)
                if (spec[j].required) {
                    if (names[0])
                        strncat(names, ", ", sizeof names - strlen(names) - 1);
                    strncat(names, spec[j].name, sizeof names - strlen(names) - 1);
                }
            return crest_diag_set(r->diag, CREST_ERR_MISSING, r->path, r->n_cells ? r->cells[0].line : 1, 0,
                                  "The header has no '%s' column; required columns are: %s.", spec[k].name,
                                  names);
        }
    return CREST_OK;
}

/* A cell of the current row by spec index: trimmed text, or empty. */
typedef struct cell_ref {
    crest_str s;
    unsigned long line, col;
    const csv_cell *cell;
} cell_ref;

static cell_ref get_cell(const csv_reader *r, const size_t *idx, size_t k)
{
    cell_ref c = {{"", 0}, r->n_cells ? r->cells[0].line : 0, 0, NULL};
    if (idx[k] != NO_COL && idx[k] < r->n_cells) {
        const csv_cell *cell = &r->cells[idx[k]];
        c.s = trim((crest_str){cell->buf, cell->len});
        c.line = cell->line;
        c.col = cell->col;
        c.cell = cell;
    } else if (r->n_cells) {
        /* A short row: point after its last cell. */
        const csv_cell *last = &r->cells[r->n_cells - 1];
        c.line = last->line;
        c.col = last->col + utf8_chars(last->buf, last->len) + (last->quoted ? 2 : 0);
    }
    return c;
}

static crest_status parse_window(const csv_reader *r, cell_ref from, cell_ref to, int32_t *d_from,
                                 int32_t *d_to)
{
    *d_from = *d_to = CREST_DATE_NONE;
    if (from.s.len && !crest_date_parse_iso(from.s.ptr, from.s.len, d_from))
        return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, from.line, from.col,
                              "valid_from '%.*s' is not a calendar date written YYYY-MM-DD.", (int)from.s.len,
                              from.s.ptr);
    if (to.s.len && !crest_date_parse_iso(to.s.ptr, to.s.len, d_to))
        return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, to.line, to.col,
                              "valid_to '%.*s' is not a calendar date written YYYY-MM-DD.", (int)to.s.len,
                              to.s.ptr);
    if (*d_from != CREST_DATE_NONE && *d_to != CREST_DATE_NONE && *d_to < *d_from)
        return crest_diag_set(r->diag, CREST_ERR_RANGE, r->path, to.line, to.col,
                              "valid_to %.*s is before valid_from %.*s.", (int)to.s.len, to.s.ptr,
                              (int)from.s.len, from.s.ptr);
    return CREST_OK;
}

/* Inclusive window test; a window with any bound needs a date. */
static inline bool in_window(int32_t from, int32_t to, int32_t day)
{
    if (from == CREST_DATE_NONE && to == CREST_DATE_NONE)
        return true;
    if (day == CREST_DATE_NONE)
        return false;
    return (from == CREST_DATE_NONE || day >= from) && (to == CREST_DATE_NONE || day <= to);
}

/* ------------------------------------------------------------------------ */
/* Named tables: lists and bands, as hash tables of keys with entry chains  */

enum table_type { TABLE_LIST, TABLE_BAND };

typedef struct table_entry {
    size_t key_off, key_len;
    int32_t from, to;
    double lo, hi; /* bands: unit-value bounds, +-inf when open */
    uint32_t next; /* next entry with the same key, NO_ENTRY at the end */
} table_entry;

typedef struct table {
    char *name;
    char *path;
    enum table_type type;
    char *keys;
    size_t keys_len, keys_cap;
    table_entry *e;
    size_t n, cap;
    uint32_t *slots;   /* head entry per slot, NO_ENTRY when empty */
    size_t n_slots;    /* power of two */
    uint64_t len_mask; /* bit L set when some key (HS prefix for bands) has length L < 64 */
} table;

/* The chain head for a key, or NO_ENTRY. Hot path. */
static uint32_t table_find(const table *t, const char *key, size_t len)
{
    if (!t->n_slots)
        return NO_ENTRY;
    size_t mask = t->n_slots - 1;
    for (size_t s = (size_t)crest_fnv1a(key, len) & mask;; s = (s + 1) & mask) {
        uint32_t h = t->slots[s];
        if (h == NO_ENTRY)
            return NO_ENTRY;
        const table_entry *e = &t->e[h];
        if (e->key_len == len && memcmp(t->keys + e->key_off, key, len) == 0)
            return h;
    }
}

/* First entry of a chain valid on day, or NULL. */
static const table_entry *table_valid(const table *t, uint32_t h, int32_t day)
{
    for (; h != NO_ENTRY; h = t->e[h].next)
        if (in_window(t->e[h].from, t->e[h].to, day))
            return &t->e[h];
    return NULL;
}

static crest_status table_index(table *t, crest_diag *diag)
{
    size_t ns = 16;
    while (ns < 2 * t->n + 2)
        ns *= 2;
    t->slots = malloc(ns * sizeof *t->slots);
    uint32_t *tails = malloc((t->n ? t->n : 1) * sizeof *tails);
    if (!t->slots || !tails) {
        free(tails);
        return crest_diag_set(diag, CREST_ERR_NOMEM, t->path, 0, 0, "Out of memory indexing the table.");
    }
    for (size_t i = 0; i < ns; i++)
        t->slots[i] = NO_ENTRY;
    t->n_slots = ns;
    /* tails[head] is the last entry of head's chain, so chains keep file order. */
    for (size_t i = 0; i < t->n; i++) {
        table_entry *e = &t->e[i];
        e->next = NO_ENTRY;
        uint32_t h = table_find(t, t->keys + e->key_off, e->key_len);
        if (h == NO_ENTRY) {
            size_t mask = ns - 1;
            size_t s = (size_t)crest_fnv1a(t->keys + e->key_off, e->key_len) & mask;
            while (t->slots[s] != NO_ENTRY)
                s = (s + 1) & mask;
            t->slots[s] = (uint32_t)i;
            tails[i] = (uint32_t)i;
        } else {
            t->e[tails[h]].next = (uint32_t)i;
            tails[h] = (uint32_t)i;
        }
    }
    free(tails);
    return CREST_OK;
}

static void table_free(table *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->path);
    free(t->keys);
    free(t->e);
    free(t->slots);
    free(t);
}

/* Band keys are "<hs_prefix>\x1f<origin>". */
#define BAND_SEP '\x1f'
#define MAX_KEY 128

static crest_status table_add(table *t, const csv_reader *r, const char *k1, size_t l1, const char *k2,
                              size_t l2, int32_t from, int32_t to, double lo, double hi)
{
    size_t klen = l1 + (k2 ? 1 + l2 : 0);
    if (t->n >= NO_ENTRY - 1)
        return crest_diag_set(r->diag, CREST_ERR_RANGE, r->path, r->cells[0].line, 0, "Too many rows.");
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        table_entry *e = realloc(t->e, cap * sizeof *e);
        if (!e)
            return crest_diag_set(r->diag, CREST_ERR_NOMEM, r->path, r->cells[0].line, 0, "Out of memory.");
        t->e = e;
        t->cap = cap;
    }
    if (t->keys_len + klen + 1 > t->keys_cap) {
        size_t cap = t->keys_cap ? 2 * t->keys_cap : 1024;
        while (cap < t->keys_len + klen + 1)
            cap *= 2;
        char *k = realloc(t->keys, cap);
        if (!k)
            return crest_diag_set(r->diag, CREST_ERR_NOMEM, r->path, r->cells[0].line, 0, "Out of memory.");
        t->keys = k;
        t->keys_cap = cap;
    }
    char *dst = t->keys + t->keys_len;
    memcpy(dst, k1, l1);
    if (k2) {
        dst[l1] = BAND_SEP;
        memcpy(dst + l1 + 1, k2, l2);
    }
    dst[klen] = '\0';
    t->e[t->n] = (table_entry){t->keys_len, klen, from, to, lo, hi, NO_ENTRY};
    t->keys_len += klen + 1;
    t->n++;
    if (l1 < 64)
        t->len_mask |= (uint64_t)1 << l1;
    return CREST_OK;
}

typedef struct table_load {
    table *t;
    bool have_header;
    size_t idx[MAX_KNOWN_COLS];
} table_load;

static const header_spec list_spec[] = {{"value", true}, {"valid_from", false}, {"valid_to", false}};
enum { L_VALUE, L_FROM, L_TO, L_N };
static const header_spec band_spec[] = {{"hs_prefix", true},      {"origin", true},
                                        {"min_unit_value", true}, {"max_unit_value", true},
                                        {"valid_from", false},    {"valid_to", false}};
enum { B_HS, B_ORIG, B_MIN, B_MAX, B_FROM, B_TO, B_N };

static crest_status list_row(void *ctx, csv_reader *r)
{
    table_load *tl = ctx;
    if (!tl->have_header) {
        tl->have_header = true;
        return map_header(r, list_spec, L_N, tl->idx);
    }
    cell_ref v = get_cell(r, tl->idx, L_VALUE);
    if (v.s.len == 0)
        return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, v.line, v.col, "The list value is empty.");
    if (v.s.len >= MAX_KEY)
        return crest_diag_set(r->diag, CREST_ERR_RANGE, r->path, v.line, v.col,
                              "The list value is longer than %d bytes.", MAX_KEY - 1);
    int32_t from, to;
    crest_status st = parse_window(r, get_cell(r, tl->idx, L_FROM), get_cell(r, tl->idx, L_TO), &from, &to);
    if (st != CREST_OK)
        return st;
    return table_add(tl->t, r, v.s.ptr, v.s.len, NULL, 0, from, to, 0, 0);
}

static crest_status band_bound(const csv_reader *r, cell_ref c, double open, double *out)
{
    if (c.s.len == 0) {
        *out = open;
        return CREST_OK;
    }
    if (!parse_number(c.s.ptr, c.s.len, out) || *out < 0)
        return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, c.line, c.col,
                              "'%.*s' is not a non-negative number (unit value, per kg).", (int)c.s.len,
                              c.s.ptr);
    return CREST_OK;
}

static crest_status band_row(void *ctx, csv_reader *r)
{
    table_load *tl = ctx;
    if (!tl->have_header) {
        tl->have_header = true;
        return map_header(r, band_spec, B_N, tl->idx);
    }
    cell_ref hs = get_cell(r, tl->idx, B_HS), orig = get_cell(r, tl->idx, B_ORIG);
    if (hs.s.len == 0 || hs.s.len >= 32)
        return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, hs.line, hs.col,
                              "hs_prefix must be 1 to 31 characters (HS digits as in the declarations).");
    if (orig.s.len == 0 || orig.s.len >= 32)
        return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, orig.line, orig.col,
                              "origin must be a country code or '*'.");
    double lo = 0, hi = 0;
    crest_status st = band_bound(r, get_cell(r, tl->idx, B_MIN), -INFINITY, &lo);
    if (st == CREST_OK)
        st = band_bound(r, get_cell(r, tl->idx, B_MAX), INFINITY, &hi);
    if (st != CREST_OK)
        return st;
    if (lo > hi) {
        cell_ref c = get_cell(r, tl->idx, B_MAX);
        return crest_diag_set(r->diag, CREST_ERR_RANGE, r->path, c.line, c.col,
                              "max_unit_value is below min_unit_value.");
    }
    int32_t from, to;
    st = parse_window(r, get_cell(r, tl->idx, B_FROM), get_cell(r, tl->idx, B_TO), &from, &to);
    if (st != CREST_OK)
        return st;
    return table_add(tl->t, r, hs.s.ptr, hs.s.len, orig.s.ptr, orig.s.len, from, to, lo, hi);
}

static crest_status table_load_file(table *t, const crest_rules_load_options *opts, crest_diag *diag)
{
    table_load tl = {.t = t};
    crest_status st = csv_read_file(opts, t->type == TABLE_LIST ? CREST_FILE_LIST : CREST_FILE_BAND, t->path,
                                    t->name, diag, t->type == TABLE_LIST ? list_row : band_row, &tl);
    if (st == CREST_OK && !tl.have_header)
        st = crest_diag_set(diag, CREST_ERR_MISSING, t->path, 1, 0,
                            "The file is empty: a header row is required.");
    if (st == CREST_OK)
        st = table_index(t, diag);
    return st;
}

/* ------------------------------------------------------------------------ */
/* The rules object                                                         */

/* Where a rule's value comes from. */
enum src {
    SRC_CANON,  /* decl->field[canon] text */
    SRC_COLUMN, /* decl->cols[col] text, resolved by bind */
    SRC_UNIT_VALUE
};

typedef struct rule {
    char *id, *field, *pattern, *rationale;
    unsigned long line, field_col;
    crest_rules_kind kind;
    crest_rules_action action;
    enum src src;
    int canon;    /* SRC_CANON: crest_field */
    size_t col;   /* SRC_COLUMN: index bound by crest_rules_bind, or NO_COL */
    size_t index; /* the rule's index (its entry in a scratch's columns) */
    pcre2_code *re;
    pcre2_code *re_valid; /* the same without PCRE2_MATCH_INVALID_UTF, JIT-compiled; or NULL */
    bool jit;
    const struct rx_literals *lits; /* the regex is anchored literals (rx_literals_parse); or NULL */
    const struct rx_words *words;   /* the regex is unanchored literals (rx_words_parse); or NULL */
    uint32_t rx_index;              /* regex rules: 0, 1, ... (their slots in a scratch's result cache) */
    double lo, hi;
    bool lo_incl, hi_incl;
    const table *tab;
    double weight;
    crest_rules_lane lane;
    double prob;
    bool credit_sensitive;
    int32_t from, to;
    char dir;
    crest_str *offices; /* owned copies */
    size_t n_offices;
    bool scoped; /* a validity window, a direction or offices: checked per declaration */
} rule;

struct crest_rules {
    char *path;
    rule *r;
    size_t n, cap;
    table **tabs;
    size_t n_tabs;
    uint32_t match_limit, depth_limit;
    uint32_t max_capture; /* largest capture count, sizes the match data */
    unsigned max_hits;
    char *max_hits_id;
    bool have_max_hits_row;
    uint32_t n_regex;
};

/*
 * Regex results by subject text. Declarations repeat their HS codes, origins
 * and goods descriptions, and a regex's outcome depends only on the text, so
 * each scratch keeps a two-way cache per regex rule (two slots a text, the
 * last used first: two popular texts that share a place do not evict each
 * other): a repeated text costs a hash and a compare instead of a match. Texts longer than
 * RX_TEXT_MAX are not cached; a match stopped by a limit is never cached (it
 * is counted each time). Exact: a slot answers only for the same bytes.
 */
#define RX_TEXT_MAX 48
#define RX_CACHE_BYTES (256u * 1024u) /* per scratch, shared by the regex rules */
typedef struct rx_slot {
    uint64_t hash;
    uint32_t len; /* UINT32_MAX: empty */
    uint32_t hit;
    char text[RX_TEXT_MAX];
} rx_slot; /* 64 bytes */

struct crest_rules_scratch {
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *js;
    bool valid_utf8;    /* the caller promised valid UTF-8 fields */
    const size_t *cols; /* per-rule columns (crest_rules_resolve_columns), or NULL: the rules' own */
    rx_slot *rx;        /* n_regex × rx_mask + 1 slots */
    uint64_t rx_mask;
};

/* A hash of s[0..n): for 8 to 32 bytes four 8-byte words (overlapping as n
 * needs); longer, whole words then the last 8 bytes (overlapping); shorter,
 * two overlapping 4-byte loads or three single bytes —
 * fixed-size loads only (a variable-size copy into a word stalls on store
 * forwarding, and this runs for every regex rule of every row). Each word is
 * multiplied on its own (position-keyed) and the products summed, so the
 * multiplications run in parallel rather than in a chain. */
static inline uint64_t text_hash(const char *s, size_t n)
{
    const uint64_t k1 = UINT64_C(0xff51afd7ed558ccd), k2 = UINT64_C(0x9E3779B97F4A7C15);
    uint64_t h = n * k2, w;
    if (n >= 8 && n <= 32) {
        /* Four words, overlapping as n needs: no loop whose trip count
         * follows the text's length (it varies row to row). */
        const size_t mid = n > 16 ? 8 : 0, late = n > 16 ? n - 16 : n - 8;
        uint64_t w1, w2;
        memcpy(&w, s, 8);
        memcpy(&w1, s + mid, 8);
        memcpy(&w2, s + late, 8);
        h += (w ^ k2) * k1 + (w1 ^ 2 * k2) * k2 + (w2 ^ 3 * k2) * k1;
        memcpy(&w, s + n - 8, 8);
        w ^= 4 * k2;
    } else if (n > 32) {
        uint64_t pos = k2;
        for (size_t i = 0; i + 8 < n; i += 8, pos += k2) {
            memcpy(&w, s + i, 8);
            h += (w ^ pos) * k1;
        }
        memcpy(&w, s + n - 8, 8);
        w ^= pos;
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        w = (uint64_t)a | (uint64_t)b << 32;
    } else {
        w = n ? (uint64_t)(unsigned char)s[0] | (uint64_t)(unsigned char)s[n / 2] << 8 |
                    (uint64_t)(unsigned char)s[n - 1] << 16
              : 0;
    }
    h += w * k1;
    h ^= h >> 32;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    return h ^ (h >> 29);
}

/*
 * Anchored literal alternatives: a pattern that is exactly
 *     ^lit   ^lit$   ^(?:lit|lit|...)   ^(?:lit|lit|...)$
 * with each literal made of ASCII letters, digits and " -_,:/;" (none of them
 * special to PCRE2 outside a class), such as the HS-heading and country-list
 * criteria risk units write most. Its outcome is a byte comparison: under
 * PCRE2_UTF without (?i) an ASCII literal matches only its own bytes; '^'
 * (no multiline) matches only at the start; '$' (no DOLLAR_ENDONLY) matches
 * at the end or before a final newline. Such a rule skips PCRE2 and the
 * result cache. Anything else (flags, classes, quantifiers, escapes, nested
 * groups, empty alternatives) keeps PCRE2. The limits matter too: the
 * interpreter spends about one match-limit unit per alternative, so the
 * shortcut applies only when the limits are far above what these patterns
 * can reach (tests/models/test_rules.c compares both on every subject).
 */
#define RX_LIT_MAX_ALTS 64
#define RX_LIT_MAX_LEN 32
#define RX_LIT_MIN_LIMIT 1000u
/*
 * Literals of at most 8 bytes (HS headings, country codes) are also kept as
 * words in one perfect hash table per length: the subject's first L bytes,
 * as a word, are a literal of length L exactly when the word sits in its slot.
 * No loop over candidates and no branch on the subject: the HS code and
 * origin of each row decide nothing but the result (a loop over the
 * alternatives that share a first byte is a mispredicted branch or two a row).
 */
#define RX_LIT_WORD 8
#define RX_LIT_SLOTS 1024
typedef struct rx_lit_class {
    uint64_t mask; /* the class's L low bytes */
    uint64_t mult; /* slot = base + (word * mult) >> shift: no two literals share one */
    uint32_t base;
    uint8_t len, shift;
} rx_lit_class;

typedef struct rx_literals {
    uint64_t by_first[256]; /* bit k: alternative k starts with this byte */
    uint32_t n;
    bool to_end;
    uint8_t len[RX_LIT_MAX_ALTS];
    char text[RX_LIT_MAX_ALTS][RX_LIT_MAX_LEN];
    /* The tables, when every literal fits a word (else n_classes is 0). Every
     * slot holds a literal of its class (free slots repeat one), so a word
     * equal to its slot is a literal, and a literal's word finds its own slot. */
    uint32_t n_classes;
    rx_lit_class cls[RX_LIT_WORD];
    uint64_t slots[RX_LIT_SLOTS];
} rx_literals;

/* s[0..n) as a little-endian word, at most 8 bytes, zero above n. */
static inline uint64_t prefix_word(const unsigned char *s, size_t n)
{
    uint64_t w = 0;
    if (n >= 8) {
        memcpy(&w, s, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        w = (uint64_t)a | (uint64_t)b << (8 * (n - 4)); /* where they overlap, the same bytes */
    } else if (n >= 2) {
        uint16_t a, b;
        memcpy(&a, s, 2);
        memcpy(&b, s + n - 2, 2);
        w = (uint64_t)a | (uint64_t)b << (8 * (n - 2));
    } else if (n == 1) {
        w = s[0];
    }
    return w;
}

/* The perfect hash tables of l's literals (see rx_literals); false when a
 * literal is longer than a word or the tables do not fit (then the
 * alternatives are compared one by one). */
static bool rx_literals_index(rx_literals *l)
{
    uint32_t used = 0;
    for (unsigned len = 1; len <= RX_LIT_WORD; len++) {
        uint64_t keys[RX_LIT_MAX_ALTS];
        size_t n_keys = 0;
        for (uint32_t k = 0; k < l->n; k++) {
            if (l->len[k] > RX_LIT_WORD)
                return false;
            if (l->len[k] != len)
                continue;
            const uint64_t key = prefix_word((const unsigned char *)l->text[k], len);
            bool dup = false;
            for (size_t j = 0; j < n_keys; j++)
                dup |= keys[j] == key;
            if (!dup)
                keys[n_keys++] = key;
        }
        if (!n_keys)
            continue;
        /* The smallest table (at least twice the keys) with a multiplier that
         * separates them; the multipliers are a fixed sequence (reproducible). */
        unsigned bits = 1;
        while ((1u << bits) < 2 * n_keys)
            bits++;
        uint64_t seed = 0x9E3779B97F4A7C15u, mult = 0;
        for (; bits <= 10 && !mult; bits++) {
            if (used + (1u << bits) > RX_LIT_SLOTS)
                return false;
            for (int attempt = 0; attempt < 256 && !mult; attempt++) {
                const uint64_t m = crest_mix64(seed += 0x9E3779B97F4A7C15u) | 1;
                uint64_t *t = l->slots + used;
                memset(t, 0, sizeof *t << bits);
                bool ok = true;
                for (size_t j = 0; j < n_keys && ok; j++) {
                    uint64_t *slot = t + ((keys[j] * m) >> (64 - bits));
                    ok = *slot == 0;
                    *slot = keys[j]; /* keys are never 0: their first byte is a literal byte */
                }
                if (ok)
                    mult = m;
            }
        }
        if (!mult)
            return false;
        bits--; /* the loop stepped past the size that worked */
        for (uint32_t j = 0; j < (1u << bits); j++)
            if (!l->slots[used + j])
                l->slots[used + j] = keys[0];
        l->cls[l->n_classes++] = (rx_lit_class){len == 8 ? ~UINT64_C(0) : (UINT64_C(1) << (8 * len)) - 1,
                                                mult, used, (uint8_t)len, (uint8_t)(64 - bits)};
        used += 1u << bits;
    }
    return true;
}

static bool rx_literal_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' ||
           c == '-' || c == '_' || c == ',' || c == ':' || c == '/' || c == ';';
}

/* The literals of re[0..n) when it has one of the shapes above; else NULL
 * (also on out-of-memory: PCRE2 then does the work). Caller frees. */
static rx_literals *rx_literals_parse(const char *re, size_t n)
{
    if (n < 2 || re[0] != '^')
        return NULL;
    size_t i = 1, end = n;
    bool to_end = false;
    if (re[end - 1] == '$') {
        to_end = true;
        end--;
    }
    bool group = false;
    if (end - i >= 4 && memcmp(re + i, "(?:", 3) == 0 && re[end - 1] == ')') {
        group = true;
        i += 3;
        end--;
    }
    rx_literals *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->to_end = to_end;
    size_t start = i;
    for (;; i++) {
        if (i == end || re[i] == '|') {
            const size_t len = i - start;
            /* A '|' outside a group would make the next alternative unanchored. */
            if (len == 0 || len > RX_LIT_MAX_LEN || l->n == RX_LIT_MAX_ALTS || (i < end && !group))
                break;
            memcpy(l->text[l->n], re + start, len);
            l->by_first[(unsigned char)re[start]] |= UINT64_C(1) << l->n;
            l->len[l->n++] = (uint8_t)len;
            if (i == end) {
                if (!rx_literals_index(l))
                    l->n_classes = 0;
                return l;
            }
            start = i + 1;
        } else if (!rx_literal_byte((unsigned char)re[i])) {
            break;
        }
    }
    free(l);
    return NULL;
}

/* Hot path: whether s[0..n) matches the literals. */
static inline bool rx_literals_hit(const rx_literals *l, const char *s, size_t n)
{
    if (!n)
        return false;
    if (l->n_classes) {
        /* A subject shorter than L leaves zero bytes in its word: no literal
         * has one. With '$': the subject is the literal, or it and a final
         * newline. */
        const uint64_t w = prefix_word((const unsigned char *)s, n);
        const bool newline_end = s[n - 1] == '\n';
        bool hit = false;
        for (uint32_t c = 0; c < l->n_classes; c++) {
            const rx_lit_class *k = &l->cls[c];
            const uint64_t key = w & k->mask;
            const bool in = l->slots[k->base + ((key * k->mult) >> k->shift)] == key;
            hit |= in & (!l->to_end | (n == k->len) | ((n == (size_t)k->len + 1) & newline_end));
        }
        return hit;
    }
    for (uint64_t m = l->by_first[(unsigned char)s[0]]; m; m &= m - 1) {
        const unsigned k = (unsigned)__builtin_ctzll(m);
        const size_t len = l->len[k];
        if (n < len || (l->to_end && n != len && !(n == len + 1 && s[len] == '\n')))
            continue;
        if (crest_same_bytes(s, l->text[k], len))
            return true;
    }
    return false;
}

/*
 * Unanchored literal alternatives on ASCII subjects: a pattern that is exactly
 *     lit   lit|lit|...   (?:lit|lit|...)   (?i)lit   (?i)(?:lit|lit|...)
 * with each literal made of rx_literal_byte bytes and non-ASCII UTF-8
 * characters, such as the goods-description keyword criteria (lithium|
 * battery|...|锂|电池). It matches where one literal occurs anywhere. On a
 * subject of ASCII bytes only, each literal character can stand only for
 * single ASCII bytes (PCRE2 has no multi-character case folding), and which
 * ones is asked of PCRE2 itself at load: the character alone, with the rule's
 * (?i) and compile options, is matched against each of the 128 ASCII bytes
 * (so 'k' under (?i) stands for k and K, and a literal character no ASCII byte
 * matches, a Chinese one, rules its literal out on ASCII subjects). The
 * outcome is then a byte comparison against those sets. Subjects with any
 * byte >= 0x80 keep the result cache and PCRE2. The limits matter as for
 * rx_literals: PCRE2 counts its match limit per start position, about one
 * unit per alternative, so the shortcut applies only when the limits are far
 * above that (tests/models/test_rules.c compares both on every subject).
 */
#define RX_WORDS_MAX_CLASSES 255
typedef struct rx_words {
    uint64_t pair[128 * 128 / 64]; /* bit a<<7|b: a literal of 2+ characters may start with bytes a, b */
    uint64_t single[2];            /* bytes that are a whole 1-character literal */
    uint64_t by_first[128];        /* bit k: literal k may start with this byte */
    uint8_t len[RX_LIT_MAX_ALTS];  /* in characters */
    uint8_t cls[RX_LIT_MAX_ALTS][RX_LIT_MAX_LEN]; /* character j of literal k: its byte set in sets */
    uint64_t sets[RX_WORDS_MAX_CLASSES][2];       /* the ASCII bytes a literal character matches */
    uint32_t n_sets;
} rx_words;

/* The byte length of the UTF-8 character at p[0..n), 0 when p does not start
 * a valid one (a non-ASCII one: ASCII bytes are checked by the caller). */
static size_t utf8_char_len(const unsigned char *p, size_t n)
{
    const size_t len = p[0] >= 0xF0 && p[0] <= 0xF4  ? 4
                       : p[0] >= 0xE0                ? 3
                       : p[0] >= 0xC2 && p[0] < 0xE0 ? 2
                                                     : 0;
    if (!len || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* The ASCII bytes the character ch[0..len) matches on its own, with the
 * pattern's case mode, into set; false when PCRE2 cannot tell (out of
 * memory). */
static bool rx_char_set(const char *ch, size_t len, bool caseless, uint64_t set[2])
{
    char pat[16];
    size_t n = 0;
    if (caseless) {
        memcpy(pat, "(?i)", 4);
        n = 4;
    }
    memcpy(pat + n, ch, len);
    n += len;
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile(
        (PCRE2_SPTR)pat, n, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C, &err, &off, NULL);
    pcre2_match_data *md = re ? pcre2_match_data_create_from_pattern(re, NULL) : NULL;
    bool ok = md != NULL;
    set[0] = set[1] = 0;
    for (unsigned b = 0; ok && b < 128; b++) {
        const unsigned char subject = (unsigned char)b;
        const int rc = pcre2_match(re, &subject, 1, 0, 0, md, NULL);
        if (rc >= 0)
            set[b >> 6] |= UINT64_C(1) << (b & 63);
        else if (rc != PCRE2_ERROR_NOMATCH)
            ok = false;
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return ok;
}

/* The literals of re[0..n) when it has one of the shapes above; else NULL
 * (also on out-of-memory: PCRE2 then does the work). Caller frees. */
static rx_words *rx_words_parse(const char *re, size_t n)
{
    bool caseless = false;
    size_t i = 0, end = n;
    if (n >= 4 && memcmp(re, "(?i)", 4) == 0) {
        caseless = true;
        i = 4;
    }
    bool group = false;
    if (end - i >= 4 && memcmp(re + i, "(?:", 3) == 0 && re[end - 1] == ')') {
        group = true;
        i += 3;
        end--;
    }
    if (i == end || (caseless && !group && memchr(re + i, '|', end - i)))
        return NULL; /* "(?i)a|b": keep PCRE2's reading of a top-level option */
    rx_words *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    /* The distinct characters seen so far, with their class (= index). */
    char(*chars)[4] = calloc(RX_WORDS_MAX_CLASSES, sizeof *chars);
    uint8_t *char_len = calloc(RX_WORDS_MAX_CLASSES, 1);
    bool ok = chars && char_len;
    size_t n_alts = 0, n_chars = 0;
    while (ok) {
        /* One literal: re[i..) up to '|' or end. */
        if (n_alts == RX_LIT_MAX_ALTS || i == end || re[i] == '|') {
            ok = false; /* too many, or an empty literal */
            break;
        }
        bool ascii_possible = true;
        while (ok && i < end && re[i] != '|') {
            const unsigned char c = (unsigned char)re[i];
            const size_t cl = c < 0x80 ? (rx_literal_byte(c) ? 1 : 0)
                                       : utf8_char_len((const unsigned char *)re + i, end - i);
            if (!cl || n_chars == RX_LIT_MAX_LEN) {
                ok = false;
                break;
            }
            uint32_t k = 0;
            while (k < w->n_sets && !(char_len[k] == cl && memcmp(chars[k], re + i, cl) == 0))
                k++;
            if (k == w->n_sets) {
                if (k == RX_WORDS_MAX_CLASSES || !rx_char_set(re + i, cl, caseless, w->sets[k])) {
                    ok = false;
                    break;
                }
                memcpy(chars[k], re + i, cl);
                char_len[k] = (uint8_t)cl;
                w->n_sets++;
            }
            ascii_possible &= (w->sets[k][0] | w->sets[k][1]) != 0;
            w->cls[n_alts][n_chars++] = (uint8_t)k;
            i += cl;
        }
        if (!ok)
            break;
        if (ascii_possible) {
            /* Its first characters' bytes into by_first and pair (or single). */
            w->len[n_alts] = (uint8_t)n_chars;
            const uint64_t *first = w->sets[w->cls[n_alts][0]];
            for (unsigned a = 0; a < 128; a++) {
                if (!(first[a >> 6] >> (a & 63) & 1))
                    continue;
                w->by_first[a] |= UINT64_C(1) << n_alts;
                if (n_chars == 1) {
                    w->single[a >> 6] |= UINT64_C(1) << (a & 63);
                    continue;
                }
                const uint64_t *second = w->sets[w->cls[n_alts][1]];
                for (unsigned b = 0; b < 128; b++)
                    if (second[b >> 6] >> (b & 63) & 1)
                        w->pair[(a << 7 | b) >> 6] |= UINT64_C(1) << ((a << 7 | b) & 63);
            }
        }
        n_alts++;
        n_chars = 0;
        if (i == end)
            break;
        i++; /* the '|' */
    }
    free(chars);
    free(char_len);
    if (!ok) {
        free(w);
        return NULL;
    }
    return w;
}

/* Hot path: 1 when s[0..n) matches the literals, 0 when not, -1 when s is not
 * all ASCII (then the shortcut cannot tell). */
static inline int rx_words_hit(const rx_words *w, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    uint64_t any, v;
    size_t i;
    if (n >= 8) { /* words, the last one overlapping: no byte loop */
        any = 0;
        for (i = 0; i + 8 <= n; i += 8) {
            memcpy(&v, u + i, 8);
            any |= v;
        }
        memcpy(&v, u + n - 8, 8);
        any |= v;
    } else {
        any = prefix_word(u, n);
    }
    if (any & UINT64_C(0x8080808080808080))
        return -1;
    if ((w->single[0] | w->single[1]) != 0) {
        for (i = 0; i < n; i++)
            if (w->single[u[i] >> 6] >> (u[i] & 63) & 1)
                return 1;
    }
    /* The positions where a literal may start, 64 at a time: first as a mask
     * (no branch on the text), then only those are checked. */
    for (size_t at = 0; at + 1 < n; at += 64) {
        const size_t pairs = n - 1 - at < 64 ? n - 1 - at : 64;
        uint64_t cand = 0;
        for (size_t p = 0; p < pairs; p++) {
            const unsigned ab = (unsigned)u[at + p] << 7 | u[at + p + 1];
            cand |= (w->pair[ab >> 6] >> (ab & 63) & 1) << p;
        }
        for (; cand; cand &= cand - 1) {
            i = at + (size_t)__builtin_ctzll(cand);
            for (uint64_t m = w->by_first[u[i]]; m; m &= m - 1) {
                const unsigned k = (unsigned)__builtin_ctzll(m);
                const size_t len = w->len[k];
                if (len < 2 || len > n - i)
                    continue;
                size_t j = 1;
                for (; j < len; j++) {
                    const unsigned c = u[i + j];
                    if (!(w->sets[w->cls[k][j]][c >> 6] >> (c & 63) & 1))
                        break;
                }
                if (j == len)
                    return 1;
            }
        }
    }
    return 0;
}

static void rule_clear(rule *x)
{
    free(x->id);
    free(x->field);
    free(x->pattern);
    free(x->rationale);
    pcre2_code_free(x->re);
    pcre2_code_free(x->re_valid);
    free((void *)x->lits);
    free((void *)x->words);
    for (size_t i = 0; i < x->n_offices; i++)
        free((char *)x->offices[i].ptr);
    free(x->offices);
}

void crest_rules_free(crest_rules *rules)
{
    if (!rules)
        return;
    for (size_t i = 0; i < rules->n; i++)
        rule_clear(&rules->r[i]);
    free(rules->r);
    for (size_t i = 0; i < rules->n_tabs; i++)
        table_free(rules->tabs[i]);
    free(rules->tabs);
    free(rules->path);
    free(rules->max_hits_id);
    free(rules);
}

/* Loading state for the criteria file. */
typedef struct crit_load {
    crest_rules *rules;
    const crest_rules_load_options *opts;
    char dir[1024]; /* default tables directory */
    bool have_header;
    size_t idx[MAX_KNOWN_COLS];
} crit_load;

static const header_spec crit_spec[] = {{"id", true},
                                        {"field", true},
                                        {"pattern", true},
                                        {"action", true},
                                        {"weight_or_lane", true},
                                        {"probability", false},
                                        {"credit_sensitive", false},
                                        {"valid_from", false},
                                        {"valid_to", false},
                                        {"office", false},
                                        {"direction", false},
                                        {"rationale", false}};
enum {
    C_ID,
    C_FIELD,
    C_PATTERN,
    C_ACTION,
    C_WOL,
    C_PROB,
    C_CREDIT,
    C_FROM,
    C_TO,
    C_OFFICE,
    C_DIR,
    C_RAT,
    C_N
};

/* Find or load the named table; *out borrowed from rules. */
static crest_status get_table(crit_load *cl, const csv_reader *r, cell_ref pat, const char *name,
                              size_t name_len, enum table_type type, const table **out)
{
    crest_rules *rules = cl->rules;
    for (size_t i = 0; i < name_len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '_' && c != '-' && c != '.')
            return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, pat.line, pat.col,
                                  "Table name '%.*s' may hold only letters, digits, '_', '-' and '.'.",
                                  (int)name_len, name);
    }
    if (name_len == 0 || name[0] == '.')
        return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, pat.line, pat.col,
                              "A table name is required after the prefix, e.g. list:negative_list.");
    for (size_t i = 0; i < rules->n_tabs; i++) {
        table *t = rules->tabs[i];
        if (strlen(t->name) == name_len && memcmp(t->name, name, name_len) == 0) {
            if (t->type != type)
                return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, pat.line, pat.col,
                                      "Table '%s' is used both as a list and as a band table.", t->name);
            *out = t;
            return CREST_OK;
        }
    }
    table *t = calloc(1, sizeof *t);
    table **tabs = realloc(rules->tabs, (rules->n_tabs + 1) * sizeof *tabs);
    if (!t || !tabs) {
        free(t);
        if (tabs)
            rules->tabs = tabs;
        return crest_diag_set(r->diag, CREST_ERR_NOMEM, r->path, pat.line, pat.col, "Out of memory.");
    }
    rules->tabs = tabs;
    rules->tabs[rules->n_tabs++] = t;
    t->type = type;
    t->name = dup_n(name, name_len);
    const char *given = NULL;
    const crest_rules_load_options *o = cl->opts;
    for (size_t i = 0; o && i < o->n_tables; i++)
        if (o->tables[i].name && strlen(o->tables[i].name) == name_len &&
            memcmp(o->tables[i].name, name, name_len) == 0)
            given = o->tables[i].path;
    if (given) {
        t->path = dup_n(given, strlen(given));
    } else {
        const char *dir = o && o->tables_dir ? o->tables_dir : cl->dir;
        size_t len = strlen(dir) + name_len + 6;
        t->path = malloc(len);
        if (t->path)
            snprintf(t->path, len, "%s/%.*s.csv", dir, (int)name_len, name);
    }
    if (!t->name || !t->path)
        return crest_diag_set(r->diag, CREST_ERR_NOMEM, r->path, pat.line, pat.col, "Out of memory.");
    crest_diag sub;
    crest_diag_clear(&sub);
    crest_status st = table_load_file(t, cl->opts, &sub);
    if (st != CREST_OK) {
        if (st == CREST_ERR_IO)
            return crest_diag_set(r->diag, CREST_ERR_MISSING, r->path, pat.line, pat.col,
                                  "Table '%s' used by this rule cannot be read from %s: %s", t->name, t->path,
                                  sub.message);
        /* The table's own position is the useful one: report it as is. */
        *r->diag = sub;
        return st;
    }
    *out = t;
    return CREST_OK;
}

/* Parse "range:" syntax (after the prefix) into bounds. */
static bool parse_range(const char *s, size_t len, double *lo, bool *lo_incl, double *hi, bool *hi_incl)
{
    crest_str t = trim((crest_str){s, len});
    *lo = -INFINITY, *hi = INFINITY, *lo_incl = *hi_incl = false;
    if (t.len == 0)
        return false;
    if (t.ptr[0] == '[' || t.ptr[0] == '(') {
        if (t.len < 3 || (t.ptr[t.len - 1] != ']' && t.ptr[t.len - 1] != ')'))
            return false;
        const char *sep = NULL;
        for (size_t i = 1; i + 1 < t.len; i++)
            if (t.ptr[i] == ',' || t.ptr[i] == ';') {
                if (sep)
                    return false;
                sep = t.ptr + i;
            }
        if (!sep)
            return false;
        crest_str a = trim((crest_str){t.ptr + 1, (size_t)(sep - t.ptr - 1)});
        crest_str b = trim((crest_str){sep + 1, (size_t)(t.ptr + t.len - 1 - sep - 1)});
        if (a.len && !parse_number(a.ptr, a.len, lo))
            return false;
        if (b.len && !parse_number(b.ptr, b.len, hi))
            return false;
        if (!a.len && !b.len)
            return false;
        *lo_incl = a.len && t.ptr[0] == '[';
        *hi_incl = b.len && t.ptr[t.len - 1] == ']';
        return *lo < *hi || (*lo == *hi && *lo_incl && *hi_incl);
    }
    size_t op = (t.len >= 2 && t.ptr[1] == '=') ? 2 : 1;
    double v;
    if (t.len <= op || !parse_number(t.ptr + op, t.len - op, &v))
        return false;
    switch (t.ptr[0]) {
    case '>':
        *lo = v, *lo_incl = op == 2;
        return true;
    case '<':
        *hi = v, *hi_incl = op == 2;
        return true;
    case '=':
        if (op != 1)
            return false;
        *lo = *hi = v, *lo_incl = *hi_incl = true;
        return true;
    default:
        return false;
    }
}

static bool parse_bool(crest_str s, bool *out)
{
    static const char *const yes[] = {"yes", "y", "true", "1"}, *const no[] = {"no", "n", "false", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (ieq(s.ptr, s.len, yes[i]))
            return *out = true, true;
        if (ieq(s.ptr, s.len, no[i]))
            return *out = false, true;
    }
    return false;
}

static bool has_prefix(crest_str s, const char *p)
{
    size_t n = strlen(p);
    return s.len >= n && strncasecmp(s.ptr, p, n) == 0;
}

static crest_status compile_regex(crest_rules *rules, const csv_reader *r, rule *x, cell_ref pat,
                                  size_t prefix_len, bool no_jit)
{
    const char *re = pat.s.ptr + prefix_len;
    size_t re_len = pat.s.len - prefix_len;
    if (re_len == 0)
        return crest_diag_set(r->diag, CREST_ERR_REGEX, r->path, pat.line, pat.col,
                              "The regular expression is empty.");
    int err;
    PCRE2_SIZE off;
    x->re = pcre2_compile((PCRE2_SPTR)re, re_len,
                          PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C, &err, &off, NULL);
    if (!x->re) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(err, msg, sizeof msg) < 0)
            snprintf((char *)msg, sizeof msg, "error %d", err);
        if (off > re_len)
            off = re_len;
        /* Point at the character PCRE2 stopped at, counted in UTF-8 characters
         * from the start of the cell (past an opening quote). */
        const char *base = pat.cell ? pat.cell->buf : pat.s.ptr;
        size_t lead = (size_t)(re - base) + off;
        unsigned long col = pat.col + (pat.cell && pat.cell->quoted ? 1 : 0) + utf8_chars(base, lead);
        return crest_diag_set(r->diag, CREST_ERR_REGEX, r->path, pat.line, col,
                              "Regular expression error at byte offset %zu of '%.*s': %s.", (size_t)off,
                              (int)re_len, re, (const char *)msg);
    }
    uint32_t cap = 0;
    pcre2_pattern_info(x->re, PCRE2_INFO_CAPTURECOUNT, &cap);
    if (cap > rules->max_capture)
        rules->max_capture = cap;
    /* JIT may be unavailable (platform, SELinux); the interpreter is correct,
     * only slower. */
    x->jit = !no_jit && pcre2_jit_compile(x->re, PCRE2_JIT_COMPLETE) == 0;
    if (rules->match_limit >= RX_LIT_MIN_LIMIT && rules->depth_limit >= RX_LIT_MIN_LIMIT &&
        (x->lits = rx_literals_parse(re, re_len)) != NULL)
        return CREST_OK; /* no PCRE2 at match time, no cache slots */
    x->rx_index = rules->n_regex++;
    if (rules->match_limit >= RX_LIT_MIN_LIMIT && rules->depth_limit >= RX_LIT_MIN_LIMIT)
        x->words = rx_words_parse(re, re_len); /* ASCII subjects without PCRE2 */
    /* The same pattern for subjects known to be valid UTF-8 (a scratch's
     * promise): its JIT code skips the invalid-sequence handling, about a
     * quarter faster on text. Same matches on valid UTF-8. */
    if (x->jit) {
        x->re_valid =
            pcre2_compile((PCRE2_SPTR)re, re_len, PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C, &err, &off, NULL);
        if (x->re_valid && pcre2_jit_compile(x->re_valid, PCRE2_JIT_COMPLETE) != 0) {
            pcre2_code_free(x->re_valid);
            x->re_valid = NULL;
        }
    }
    return CREST_OK;
}

/* The criteria file's one max_hits row: weight_or_lane is the number of hits. */
static crest_status max_hits_row(crest_rules *rules, csv_reader *r, cell_ref id, cell_ref act, cell_ref wol)
{
    if (rules->have_max_hits_row)
        return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, act.line, act.col,
                              "Only one max_hits row is allowed.");
    char buf[32];
    char *end;
    if (wol.s.len == 0 || wol.s.len >= sizeof buf)
        goto bad_n;
    memcpy(buf, wol.s.ptr, wol.s.len);
    buf[wol.s.len] = '\0';
    errno = 0;
    unsigned long v = strtoul(buf, &end, 10);
    if (*end || errno || !isdigit((unsigned char)buf[0]) || v > 1000000)
        goto bad_n;
    rules->have_max_hits_row = true;
    rules->max_hits = (unsigned)v;
    free(rules->max_hits_id);
    rules->max_hits_id = dup_n(id.s.ptr, id.s.len);
    return rules->max_hits_id
               ? CREST_OK
               : crest_diag_set(r->diag, CREST_ERR_NOMEM, r->path, id.line, 0, "Out of memory.");
bad_n:
    return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, wol.line, wol.col,
                          "For action max_hits, weight_or_lane must be a whole number of hits (0 to "
                          "1000000), not '%.*s'.",
                          (int)wol.s.len, wol.s.ptr);
}

/* A rule's offices: codes separated by ';', each one trimmed and non-empty. */
static crest_status rule_offices(csv_reader *r, rule *x, cell_ref off)
{
    size_t n = 1;
    for (size_t i = 0; i < off.s.len; i++)
        n += off.s.ptr[i] == ';';
    x->offices = calloc(n, sizeof *x->offices);
    if (!x->offices)
        return crest_diag_set(r->diag, CREST_ERR_NOMEM, r->path, off.line, 0, "Out of memory.");
    const char *p = off.s.ptr, *end = off.s.ptr + off.s.len;
    while (p <= end) {
        const char *q = memchr(p, ';', (size_t)(end - p));
        if (!q)
            q = end;
        crest_str o = trim((crest_str){p, (size_t)(q - p)});
        if (o.len == 0)
            return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, off.line, off.col,
                                  "office holds an empty code; write codes separated by ';'.");
        char *c = dup_n(o.ptr, o.len);
        if (!c)
            return crest_diag_set(r->diag, CREST_ERR_NOMEM, r->path, off.line, 0, "Out of memory.");
        x->offices[x->n_offices++] = (crest_str){c, o.len};
        p = q + 1;
    }
    return CREST_OK;
}

/* A rule's field (canonical, unit_value or an input column) and its pattern
 * (range:, list:, prefix:, band: or a regular expression). */
static crest_status rule_field_pattern(crit_load *cl, csv_reader *r, rule *x, cell_ref fld, cell_ref pat)
{
    crest_rules *rules = cl->rules;
    /* Field. Canonical and derived names are matched case-insensitively. */
    if (fld.s.len == 0)
        return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, fld.line, fld.col,
                              "The field is empty: name a canonical field, unit_value or an input column.");
    char low[64];
    int canon = -1;
    if (fld.s.len < sizeof low) {
        for (size_t i = 0; i < fld.s.len; i++)
            low[i] = (char)tolower((unsigned char)fld.s.ptr[i]);
        canon = crest_field_from_name(low, fld.s.len);
    }
    if (ieq(fld.s.ptr, fld.s.len, "unit_value")) {
        x->src = SRC_UNIT_VALUE;
    } else if (canon >= 0) {
        x->src = SRC_CANON;
        x->canon = canon;
    } else {
        x->src = SRC_COLUMN;
    }

    /* Pattern, by prefix. */
    if (pat.s.len == 0)
        return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, pat.line, pat.col,
                              "The pattern is empty: write re:REGEX, range:[A,B), list:NAME, prefix:NAME or "
                              "band:NAME.");
    size_t plen = 0;
    if (has_prefix(pat.s, "range:")) {
        x->kind = CREST_RULES_KIND_RANGE;
        plen = 6;
        if (!parse_range(pat.s.ptr + plen, pat.s.len - plen, &x->lo, &x->lo_incl, &x->hi, &x->hi_incl))
            return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, pat.line, pat.col,
                                  "Bad range '%.*s': write range:[A,B) with [ ] inclusive, ( ) exclusive and "
                                  "an empty bound open, or range:>X, >=X, <X, <=X, =X.",
                                  (int)pat.s.len, pat.s.ptr);
        return CREST_OK;
    }
    bool is_list = has_prefix(pat.s, "list:"), is_prefix = has_prefix(pat.s, "prefix:"),
         is_band = has_prefix(pat.s, "band:");
    if (is_list || is_prefix || is_band) {
        plen = is_list ? 5 : is_band ? 5 : 7;
        x->kind = is_list     ? CREST_RULES_KIND_LIST
                  : is_prefix ? CREST_RULES_KIND_PREFIX
                              : CREST_RULES_KIND_BAND;
        if (x->src == SRC_UNIT_VALUE)
            return crest_diag_set(
                r->diag, CREST_ERR_INVALID, r->path, fld.line, fld.col,
                "unit_value is a number: use a range: pattern, or band: on the HS code field.");
        crest_str name = trim((crest_str){pat.s.ptr + plen, pat.s.len - plen});
        return get_table(cl, r, pat, name.ptr, name.len, is_band ? TABLE_BAND : TABLE_LIST, &x->tab);
    }
    x->kind = CREST_RULES_KIND_REGEX;
    if (has_prefix(pat.s, "re:"))
        plen = 3;
    if (x->src == SRC_UNIT_VALUE)
        return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, fld.line, fld.col,
                              "unit_value is a number: use a range: pattern.");
    return compile_regex(rules, r, x, pat, plen, cl->opts && cl->opts->no_jit);
}

static crest_status crit_row_body(void *ctx, csv_reader *r)
{
    crit_load *cl = ctx;
    crest_rules *rules = cl->rules;
    const size_t *idx = cl->idx;
    if (!cl->have_header) {
        cl->have_header = true;
        return map_header(r, crit_spec, C_N, cl->idx);
    }
    cell_ref id = get_cell(r, idx, C_ID), act = get_cell(r, idx, C_ACTION), wol = get_cell(r, idx, C_WOL);
    if (id.s.len == 0)
        return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, id.line, id.col, "The rule id is empty.");
    for (size_t i = 0; i < rules->n; i++)
        if (strlen(rules->r[i].id) == id.s.len && memcmp(rules->r[i].id, id.s.ptr, id.s.len) == 0)
            return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, id.line, id.col,
                                  "Rule id '%.*s' is already used on line %lu.", (int)id.s.len, id.s.ptr,
                                  rules->r[i].line);

    if (ieq(act.s.ptr, act.s.len, "max_hits"))
        return max_hits_row(rules, r, id, act, wol);

    if (rules->n == rules->cap) {
        size_t cap = rules->cap ? 2 * rules->cap : 16;
        rule *nr = realloc(rules->r, cap * sizeof *nr);
        if (!nr)
            return crest_diag_set(r->diag, CREST_ERR_NOMEM, r->path, id.line, 0, "Out of memory.");
        rules->r = nr;
        rules->cap = cap;
    }
    rule *x = &rules->r[rules->n];
    memset(x, 0, sizeof *x);
    x->index = rules->n;
    rules->n++; /* counted now so that crest_rules_free releases partial rules */
    x->line = id.line;
    x->col = NO_COL;
    x->prob = 1.0;
    x->credit_sensitive = true;
    x->id = dup_n(id.s.ptr, id.s.len);
    cell_ref fld = get_cell(r, idx, C_FIELD), pat = get_cell(r, idx, C_PATTERN),
             rat = get_cell(r, idx, C_RAT);
    x->field = dup_n(fld.s.ptr, fld.s.len);
    x->pattern = dup_n(pat.s.ptr, pat.s.len);
    x->rationale = dup_n(rat.s.ptr, rat.s.len);
    if (!x->id || !x->field || !x->pattern || !x->rationale)
        return crest_diag_set(r->diag, CREST_ERR_NOMEM, r->path, id.line, 0, "Out of memory.");
    x->field_col = fld.col;

    /* Action. */
    if (ieq(act.s.ptr, act.s.len, "weight")) {
        x->action = CREST_RULES_ACTION_WEIGHT;
        if (!parse_number(wol.s.ptr, wol.s.len, &x->weight))
            return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, wol.line, wol.col,
                                  "For action weight, weight_or_lane must be a finite number, not '%.*s'.",
                                  (int)wol.s.len, wol.s.ptr);
    } else if (ieq(act.s.ptr, act.s.len, "lane")) {
        x->action = CREST_RULES_ACTION_LANE;
        const int lane = crest_lane_from_name(wol.s.ptr, wol.s.len, 1);
        x->lane = lane > CREST_LANE_GREEN ? (crest_rules_lane)lane : CREST_RULES_LANE_NONE;
        if (x->lane == CREST_RULES_LANE_NONE)
            return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, wol.line, wol.col,
                                  "For action lane, weight_or_lane must be RED, ORANGE, YELLOW or BLUE, not "
                                  "'%.*s'.",
                                  (int)wol.s.len, wol.s.ptr);
    } else {
        return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, act.line, act.col,
                              "Unknown action '%.*s': expected weight, lane or max_hits.", (int)act.s.len,
                              act.s.ptr);
    }

    /* Probability. */
    cell_ref pr = get_cell(r, idx, C_PROB);
    if (pr.s.len) {
        double p;
        if (!parse_number(pr.s.ptr, pr.s.len, &p))
            return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, pr.line, pr.col,
                                  "probability '%.*s' is not a number.", (int)pr.s.len, pr.s.ptr);
        if (p < 0 || p > 1)
            return crest_diag_set(r->diag, CREST_ERR_RANGE, r->path, pr.line, pr.col,
                                  "probability %.*s is outside [0, 1].", (int)pr.s.len, pr.s.ptr);
        if (x->action == CREST_RULES_ACTION_WEIGHT && p != 1)
            return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, pr.line, pr.col,
                                  "probability applies to lane rules; leave it empty (or 1) for a weight "
                                  "rule.");
        x->prob = p;
    }

    cell_ref cs = get_cell(r, idx, C_CREDIT);
    if (cs.s.len && !parse_bool(cs.s, &x->credit_sensitive))
        return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, cs.line, cs.col,
                              "credit_sensitive must be yes or no, not '%.*s'.", (int)cs.s.len, cs.s.ptr);

    crest_status st = parse_window(r, get_cell(r, idx, C_FROM), get_cell(r, idx, C_TO), &x->from, &x->to);
    if (st != CREST_OK)
        return st;

    cell_ref dir = get_cell(r, idx, C_DIR);
    if (dir.s.len) {
        if (ieq(dir.s.ptr, dir.s.len, "I") || ieq(dir.s.ptr, dir.s.len, "import"))
            x->dir = 'I';
        else if (ieq(dir.s.ptr, dir.s.len, "E") || ieq(dir.s.ptr, dir.s.len, "export"))
            x->dir = 'E';
        else
            return crest_diag_set(r->diag, CREST_ERR_INVALID, r->path, dir.line, dir.col,
                                  "direction must be I, E or empty, not '%.*s'.", (int)dir.s.len, dir.s.ptr);
    }

    cell_ref off = get_cell(r, idx, C_OFFICE);
    if (off.s.len && (st = rule_offices(r, x, off)) != CREST_OK)
        return st;
    x->scoped = x->from != CREST_DATE_NONE || x->to != CREST_DATE_NONE || x->dir || x->n_offices;

    return rule_field_pattern(cl, r, x, fld, pat);
}

/* One criteria row; an error names the rule's id when the row has one, so a
 * message reads "Rule 'Q_ANIMAL': …" whatever column it is about. */
static crest_status crit_row(void *ctx, csv_reader *r)
{
    crit_load *cl = ctx;
    const bool header = !cl->have_header;
    const crest_status st = crit_row_body(ctx, r);
    if (st == CREST_OK || header || st == CREST_ERR_NOMEM || !r->diag)
        return st;
    const cell_ref id = get_cell(r, cl->idx, C_ID);
    if (id.s.len == 0 || strncmp(r->diag->message, "Rule ", 5) == 0)
        return st;
    char id_text[80];
    crest_excerpt(id_text, sizeof id_text, id.s.ptr, id.s.len, 40);
    char msg[sizeof r->diag->message];
    const int n = snprintf(msg, sizeof msg, "Rule '%s': ", id_text);
    if (n > 0 && (size_t)n < sizeof msg) {
        memcpy(msg + n, r->diag->message, sizeof msg - (size_t)n - 1);
        msg[sizeof msg - 1] = '\0';
        memcpy(r->diag->message, msg, sizeof msg);
    }
    return st;
}

crest_status crest_rules_load(const char *criteria_path, const crest_rules_load_options *opts,
                              crest_rules **out, crest_diag *diag)
{
    crest_diag_clear(diag);
    if (!out || !criteria_path)
        return crest_diag_set(diag, CREST_ERR_INVALID, criteria_path ? criteria_path : "", 0, 0,
                              "crest_rules_load needs a path and an output pointer.");
    *out = NULL;
    crest_rules *rules = calloc(1, sizeof *rules);
    crit_load *cl = calloc(1, sizeof *cl);
    if (!rules || !cl) {
        free(rules);
        free(cl);
        return crest_diag_set(diag, CREST_ERR_NOMEM, criteria_path, 0, 0, "Out of memory.");
    }
    cl->rules = rules;
    cl->opts = opts;
    rules->path = dup_n(criteria_path, strlen(criteria_path));
    rules->match_limit = opts && opts->match_limit ? opts->match_limit : CREST_RULES_DEFAULT_MATCH_LIMIT;
    rules->depth_limit = opts && opts->depth_limit ? opts->depth_limit : CREST_RULES_DEFAULT_DEPTH_LIMIT;
    const char *slash = strrchr(criteria_path, '/');
    if (slash)
        snprintf(cl->dir, sizeof cl->dir, "%.*s/lists", (int)(slash - criteria_path), criteria_path);
    else
        snprintf(cl->dir, sizeof cl->dir, "lists");

    crest_status st = rules->path
                          ? csv_read_file(opts, CREST_FILE_CRITERIA, criteria_path, NULL, diag, crit_row, cl)
                          : crest_diag_set(diag, CREST_ERR_NOMEM, criteria_path, 0, 0, "Out of memory.");
    if (st == CREST_OK && !cl->have_header)
        st = crest_diag_set(diag, CREST_ERR_MISSING, criteria_path, 1, 0,
                            "The criteria file is empty: a header row is required.");
    if (st == CREST_OK && opts && opts->max_hits > 0) {
        rules->max_hits = opts->max_hits;
        free(rules->max_hits_id);
        rules->max_hits_id = NULL;
    }
    if (st == CREST_OK && !rules->max_hits_id) {
        rules->max_hits_id = dup_n("MAX_HITS", 8);
        if (!rules->max_hits_id)
            st = crest_diag_set(diag, CREST_ERR_NOMEM, criteria_path, 0, 0, "Out of memory.");
    }
    if (st == CREST_OK && opts && opts->header)
        st = crest_rules_bind(rules, opts->header, opts->n_header, diag);
    free(cl);
    if (st != CREST_OK) {
        crest_rules_free(rules);
        return st;
    }
    *out = rules;
    return CREST_OK;
}

crest_status crest_rules_resolve_columns(const crest_rules *rules, const crest_str *header, size_t n_cols,
                                         size_t *cols, crest_diag *diag)
{
    crest_diag_clear(diag);
    if (!rules)
        return crest_diag_set(diag, CREST_ERR_INVALID, "", 0, 0, "crest_rules_resolve_columns needs rules.");
    for (size_t i = 0; i < rules->n; i++) {
        const rule *x = &rules->r[i];
        cols[i] = NO_COL;
        if (x->src != SRC_COLUMN)
            continue;
        for (size_t c = 0; c < n_cols && cols[i] == NO_COL; c++) {
            crest_str h = trim(header[c]);
            if (h.ptr && ieq(h.ptr, h.len, x->field))
                cols[i] = c;
        }
        if (cols[i] == NO_COL)
            return crest_diag_set(
                diag, CREST_ERR_MISMATCH, rules->path, x->line, x->field_col,
                "Rule '%s': unknown field '%s', which is neither a canonical field (hs_code, "
                "origin, goods_desc, ...), nor unit_value, nor a column of the input header.",
                x->id, x->field);
    }
    return CREST_OK;
}

crest_status crest_rules_bind(crest_rules *rules, const crest_str *header, size_t n_cols, crest_diag *diag)
{
    crest_diag_clear(diag);
    if (!rules)
        return crest_diag_set(diag, CREST_ERR_INVALID, "", 0, 0, "crest_rules_bind needs rules.");
    size_t *cols = malloc((rules->n ? rules->n : 1) * sizeof *cols);
    if (!cols)
        return crest_diag_set(diag, CREST_ERR_NOMEM, rules->path, 0, 0, "Out of memory.");
    const crest_status st = crest_rules_resolve_columns(rules, header, n_cols, cols, diag);
    for (size_t i = 0; i < rules->n; i++)
        if (rules->r[i].src == SRC_COLUMN)
            rules->r[i].col = st == CREST_OK ? cols[i] : NO_COL;
    free(cols);
    return st;
}

void crest_rules_scratch_set_columns(crest_rules_scratch *scratch, const size_t *cols)
{
    scratch->cols = cols;
}

void crest_rules_columns(const crest_rules *rules, crest_column_fn fn, void *ctx)
{
    for (size_t i = 0; rules && i < rules->n; i++) {
        const rule *x = &rules->r[i];
        char user[160];
        snprintf(user, sizeof user, "criterion %s", x->id);
        if (x->src == SRC_CANON) {
            fn(ctx, user, x->canon, NULL);
        } else if (x->src == SRC_COLUMN) {
            fn(ctx, user, -1, x->field);
        } else {
            fn(ctx, user, CREST_FIELD_DECLARED_VALUE, NULL);
            fn(ctx, user, CREST_FIELD_NET_MASS_KG, NULL);
        }
        if (x->kind == CREST_RULES_KIND_BAND)
            fn(ctx, user, CREST_FIELD_ORIGIN, NULL);
        if (x->n_offices)
            fn(ctx, user, CREST_FIELD_OFFICE, NULL);
        if (x->dir)
            fn(ctx, user, CREST_FIELD_DIRECTION, NULL);
    }
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                */

size_t crest_rules_count(const crest_rules *rules)
{
    return rules ? rules->n : 0;
}

unsigned crest_rules_max_hits(const crest_rules *rules)
{
    return rules ? rules->max_hits : 0;
}

const char *crest_rules_max_hits_id(const crest_rules *rules)
{
    return rules && rules->max_hits_id ? rules->max_hits_id : "MAX_HITS";
}

const char *crest_rules_id(const crest_rules *rules, size_t i)
{
    return rules && i < rules->n ? rules->r[i].id : NULL;
}

const char *crest_rules_rationale(const crest_rules *rules, size_t i)
{
    return rules && i < rules->n ? rules->r[i].rationale : NULL;
}

crest_status crest_rules_describe(const crest_rules *rules, size_t i, crest_rules_info *info)
{
    if (!rules || !info || i >= rules->n)
        return CREST_ERR_RANGE;
    const rule *x = &rules->r[i];
    *info = (crest_rules_info){.id = x->id,
                               .field = x->field,
                               .pattern = x->pattern,
                               .rationale = x->rationale,
                               .kind = x->kind,
                               .action = x->action,
                               .weight = x->weight,
                               .lane = x->lane,
                               .probability = x->prob,
                               .credit_sensitive = x->credit_sensitive,
                               .valid_from = x->from,
                               .valid_to = x->to,
                               .direction = x->dir,
                               .line = x->line,
                               .regex_literal = x->lits != NULL,
                               .regex_words = x->words != NULL};
    return CREST_OK;
}

const char *crest_rules_lane_name(crest_rules_lane lane)
{
    return lane > CREST_RULES_LANE_NONE && lane <= CREST_RULES_LANE_RED ? crest_lane_name((crest_lane)lane)
                                                                        : "";
}

/* ------------------------------------------------------------------------ */
/* Scratch and evaluation                                                   */

crest_status crest_rules_scratch_create(const crest_rules *rules, crest_rules_scratch **out)
{
    if (!out)
        return CREST_ERR_INVALID;
    *out = NULL;
    if (!rules)
        return CREST_ERR_INVALID;
    crest_rules_scratch *s = calloc(1, sizeof *s);
    if (!s)
        return CREST_ERR_NOMEM;
    s->md = pcre2_match_data_create(rules->max_capture + 1, NULL);
    s->mc = pcre2_match_context_create(NULL);
    bool any_jit = false;
    for (size_t i = 0; i < rules->n; i++)
        any_jit |= rules->r[i].jit;
    if (any_jit)
        s->js = pcre2_jit_stack_create(32 * 1024, CREST_RULES_JIT_STACK_MAX, NULL);
    if (!s->md || !s->mc || (any_jit && !s->js)) {
        crest_rules_scratch_free(s);
        return CREST_ERR_NOMEM;
    }
    pcre2_set_match_limit(s->mc, rules->match_limit);
    pcre2_set_depth_limit(s->mc, rules->depth_limit);
    pcre2_set_heap_limit(s->mc, CREST_RULES_DEFAULT_HEAP_KIB);
    if (s->js)
        pcre2_jit_stack_assign(s->mc, NULL, s->js);
    if (rules->n_regex) {
        /* A power of two per rule, 16 to 4096 slots, within the budget. */
        size_t per = 4096;
        while (per > 16 && per * rules->n_regex * sizeof(rx_slot) > RX_CACHE_BYTES)
            per /= 2;
        s->rx_mask = per - 1;
        /* One slot is one cache line: a lookup touches one line, or the two of its set. */
        s->rx = aligned_alloc(64, per * rules->n_regex * sizeof(rx_slot));
        if (!s->rx) {
            crest_rules_scratch_free(s);
            return CREST_ERR_NOMEM;
        }
        memset(s->rx, 0, per * rules->n_regex * sizeof(rx_slot));
        for (size_t i = 0; i < per * rules->n_regex; i++)
            s->rx[i].len = UINT32_MAX;
    }
    *out = s;
    return CREST_OK;
}

void crest_rules_scratch_promise_valid_utf8(crest_rules_scratch *scratch)
{
    scratch->valid_utf8 = true;
}

void crest_rules_scratch_free(crest_rules_scratch *scratch)
{
    if (!scratch)
        return;
    free(scratch->rx);
    pcre2_match_data_free(scratch->md);
    pcre2_match_context_free(scratch->mc);
    pcre2_jit_stack_free(scratch->js);
    free(scratch);
}

static inline crest_str rule_text(const rule *x, const crest_rules_scratch *sc, const crest_decl *d)
{
    if (x->src == SRC_CANON)
        return d->field[x->canon];
    if (x->src == SRC_COLUMN) {
        const size_t col = sc->cols ? sc->cols[x->index] : x->col;
        if (col != NO_COL && d->cols && col < d->n_cols)
            return d->cols[col];
    }
    return (crest_str){NULL, 0};
}

static inline double unit_value(const crest_decl *d)
{
    /* Only a positive mass gives a unit value; NaN compares false below. */
    return d->net_mass_kg > 0 ? d->declared_value / d->net_mass_kg : NAN;
}

static inline double rule_number(const rule *x, const crest_rules_scratch *sc, const crest_decl *d)
{
    if (x->src == SRC_UNIT_VALUE)
        return unit_value(d);
    if (x->src == SRC_CANON) {
        switch (x->canon) {
        case CREST_FIELD_DECLARED_VALUE:
            return d->declared_value;
        case CREST_FIELD_NET_MASS_KG:
            return d->net_mass_kg;
        case CREST_FIELD_QUANTITY:
            return d->quantity;
        default:
            break;
        }
    }
    crest_str s = rule_text(x, sc, d);
    double v;
    return s.ptr && parse_number(s.ptr, s.len, &v) ? v : NAN;
}

static inline bool office_ok(const rule *x, const crest_decl *d)
{
    crest_str o = trim(d->field[CREST_FIELD_OFFICE]);
    if (!o.ptr)
        return false;
    for (size_t i = 0; i < x->n_offices; i++)
        if (x->offices[i].len == o.len && memcmp(x->offices[i].ptr, o.ptr, o.len) == 0)
            return true;
    return false;
}

static bool band_hit(const rule *x, const crest_rules_scratch *sc, const crest_decl *d)
{
    const table *t = x->tab;
    crest_str hs = trim(rule_text(x, sc, d)), org = trim(d->field[CREST_FIELD_ORIGIN]);
    double uv = unit_value(d);
    if (!hs.ptr || !hs.len || isnan(uv))
        return false;
    if (!org.ptr)
        org = (crest_str){"", 0};
    char key[MAX_KEY];
    if (org.len >= 32)
        return false;
    size_t max_l = hs.len < 31 ? hs.len : 31;
    for (size_t l = max_l; l >= 1; l--) {
        if (!(t->len_mask & ((uint64_t)1 << l)))
            continue;
        memcpy(key, hs.ptr, l);
        key[l] = BAND_SEP;
        const table_entry *e = NULL;
        if (org.len) {
            memcpy(key + l + 1, org.ptr, org.len);
            uint32_t h = table_find(t, key, l + 1 + org.len);
            if (h != NO_ENTRY)
                e = table_valid(t, h, d->date_days);
        }
        if (!e) {
            key[l + 1] = '*';
            uint32_t h = table_find(t, key, l + 2);
            if (h != NO_ENTRY)
                e = table_valid(t, h, d->date_days);
        }
        if (e)
            return uv < e->lo || uv > e->hi;
    }
    return false;
}

/* A regex criterion (rule_hit). */
static inline bool regex_hit(const rule *x, crest_rules_scratch *sc, const crest_decl *d, unsigned *n_limit)
{
    crest_str s = rule_text(x, sc, d);
    if (!s.ptr)
        return false;
    if (x->lits)
        return rx_literals_hit(x->lits, s.ptr, s.len);
    rx_slot *set = NULL; /* the text's two slots, the last used first */
    uint64_t h = 0;
    if (s.len <= RX_TEXT_MAX) {
        h = text_hash(s.ptr, s.len);
        set = &sc->rx[((uint64_t)x->rx_index * (sc->rx_mask + 1)) + 2 * (h & (sc->rx_mask >> 1))];
        if (set[0].len == s.len && set[0].hash == h && crest_same_bytes(set[0].text, s.ptr, s.len))
            return set[0].hit;
        if (set[1].len == s.len && set[1].hash == h && crest_same_bytes(set[1].text, s.ptr, s.len)) {
            const rx_slot used = set[1];
            set[1] = set[0];
            set[0] = used;
            return used.hit;
        }
    }
    int rc = x->words ? rx_words_hit(x->words, s.ptr, s.len) : -1;
    if (rc < 0) {
        rc = sc->valid_utf8 && x->re_valid
                 ? pcre2_jit_match(x->re_valid, (PCRE2_SPTR)s.ptr, s.len, 0, 0, sc->md, sc->mc)
             : x->jit ? pcre2_jit_match(x->re, (PCRE2_SPTR)s.ptr, s.len, 0, 0, sc->md, sc->mc)
                      : pcre2_match(x->re, (PCRE2_SPTR)s.ptr, s.len, 0, 0, sc->md, sc->mc);
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH)
            rc = -1; /* a limit: not cached */
        else
            rc = rc >= 0;
    }
    if (rc >= 0) {
        if (set) { /* the older of the two goes */
            set[1] = set[0];
            set[0].hash = h;
            set[0].len = (uint32_t)s.len;
            set[0].hit = (uint32_t)rc;
            memcpy(set[0].text, s.ptr, s.len);
        }
        return rc;
    }
    (*n_limit)++; /* match/depth/heap/JIT-stack limit: treated as no match */
    return false;
}

/* Hot path: one predicate. Returns hit; counts limit hits in *n_limit. The
 * common kind is tested before the switch (a jump table costs more). */
static inline bool rule_hit(const rule *x, crest_rules_scratch *sc, const crest_decl *d, unsigned *n_limit)
{
    if (x->kind == CREST_RULES_KIND_REGEX)
        return regex_hit(x, sc, d, n_limit);
    switch (x->kind) {
    case CREST_RULES_KIND_REGEX:
        break;
    case CREST_RULES_KIND_RANGE: {
        double v = rule_number(x, sc, d);
        if (isnan(v))
            return false;
        bool lo_ok = x->lo_incl ? v >= x->lo : v > x->lo;
        bool hi_ok = x->hi_incl ? v <= x->hi : v < x->hi;
        return lo_ok && hi_ok;
    }
    case CREST_RULES_KIND_LIST: {
        crest_str s = trim(rule_text(x, sc, d));
        if (!s.ptr || !s.len)
            return false;
        uint32_t h = table_find(x->tab, s.ptr, s.len);
        return h != NO_ENTRY && table_valid(x->tab, h, d->date_days);
    }
    case CREST_RULES_KIND_PREFIX: {
        crest_str s = trim(rule_text(x, sc, d));
        if (!s.ptr)
            return false;
        for (size_t l = 1; l <= s.len && l < 64; l++) {
            if (!(x->tab->len_mask & ((uint64_t)1 << l)))
                continue;
            uint32_t h = table_find(x->tab, s.ptr, l);
            if (h != NO_ENTRY && table_valid(x->tab, h, d->date_days))
                return true;
        }
        return false;
    }
    case CREST_RULES_KIND_BAND:
        return band_hit(x, sc, d);
    }
    return false;
}

static inline void keep_strongest(crest_rules_lane *lane, double *prob, int32_t *which, const rule *x,
                                  size_t i)
{
    if (x->lane > *lane || (x->lane == *lane && x->prob > *prob)) {
        *lane = x->lane;
        *prob = x->prob;
        *which = (int32_t)i;
    }
}

/* Hot path: no allocation, no I/O. The counts and sums are kept in locals
 * (out is stored once): rule_hit's stores could alias out's fields, so the
 * compiler would otherwise load and store them at every rule. */
void crest_rules_eval(const crest_rules *rules, crest_rules_scratch *scratch, const crest_decl *decl,
                      crest_rules_result *out)
{
    out->lane = out->ci_lane = CREST_RULES_LANE_NONE;
    out->lane_probability = out->ci_lane_probability = 0;
    out->lane_rule = out->ci_lane_rule = -1;
    size_t n_hits = 0;
    double weight = 0, weight_ci = 0;
    bool ci_hit = false;
    unsigned n_limit = 0;
    const int32_t day = decl->date_days;
    const rule *const r = rules->r;
    const size_t n = rules->n;
    for (size_t i = 0; i < n; i++) {
        const rule *x = &r[i];
        /* Scope first: it is cheap and an out-of-scope rule does nothing
         * (one test for the rules without any). */
        if (x->scoped && (!in_window(x->from, x->to, day) || (x->dir && decl->direction != x->dir) ||
                          (x->n_offices && !office_ok(x, decl))))
            continue;
        if (!rule_hit(x, scratch, decl, &n_limit))
            continue;
        if (n_hits < CREST_RULES_HITS_CAP)
            out->hits[n_hits] = (uint32_t)i;
        n_hits++;
        if (!x->credit_sensitive)
            ci_hit = true;
        if (x->action == CREST_RULES_ACTION_WEIGHT) {
            weight += x->weight;
            if (!x->credit_sensitive)
                weight_ci += x->weight;
        } else {
            keep_strongest(&out->lane, &out->lane_probability, &out->lane_rule, x, i);
            if (!x->credit_sensitive)
                keep_strongest(&out->ci_lane, &out->ci_lane_probability, &out->ci_lane_rule, x, i);
        }
    }
    out->n_hits = n_hits;
    out->weight = weight;
    out->weight_credit_insensitive = weight_ci;
    out->credit_insensitive_hit = ci_hit;
    out->n_limit_hits = n_limit;
    out->max_hits_exceeded = rules->max_hits > 0 && n_hits > rules->max_hits;
}

crest_rules_lane crest_rules_decide_lane(const crest_rules *rules, const crest_rules_result *res,
                                         bool credit_insensitive_only, crest_rules_uniform_fn uniform,
                                         void *ctx, int32_t *rule_out)
{
    if (rule_out)
        *rule_out = -1;
    if (!rules || !res || !uniform)
        return CREST_RULES_LANE_NONE;
    size_t n = res->n_hits < CREST_RULES_HITS_CAP ? res->n_hits : CREST_RULES_HITS_CAP;
    for (int lane = CREST_RULES_LANE_RED; lane > CREST_RULES_LANE_NONE; lane--) {
        for (size_t k = 0; k < n; k++) {
            const rule *x = &rules->r[res->hits[k]];
            if (x->action != CREST_RULES_ACTION_LANE || (int)x->lane != lane)
                continue;
            if (credit_insensitive_only && x->credit_sensitive)
                continue;
            if (uniform(ctx, res->hits[k]) < x->prob) {
                if (rule_out)
                    *rule_out = (int32_t)res->hits[k];
                return x->lane;
            }
        }
    }
    return CREST_RULES_LANE_NONE;
}
