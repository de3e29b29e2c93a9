/*
 * csvread.c — see csvread.h.
 *
 * How records are tracked: input is cut into pieces that end at each CR or
 * LF. libcsv can only end a record at such a byte, so every record ends at a
 * piece end; the piece bytes are appended to `raw` before parsing, and when
 * libcsv reports the end of a row, `raw` is exactly that record. When a piece
 * leaves libcsv outside any row (a blank line, the LF of a CRLF), `raw` is
 * cleared. Line numbers count CR, LF and CRLF as one line end each.
 */
#include "csvread.h"

#include <csv.h>
#include <stdlib.h>
#include <string.h>

/* libcsv's parser states (libcsv.c): no row in progress; inside a field. */
#define LIBCSV_ROW_NOT_BEGUN 0
#define LIBCSV_FIELD_BEGUN 2

static unsigned count_quotes(const unsigned char *s, size_t n)
{
    unsigned c = 0;
    for (const unsigned char *q = s; (q = memchr(q, '"', (size_t)(s + n - q))) != NULL; q++)
        c++;
    return c;
}

struct csvread {
    struct csv_parser parser;
    unsigned char delimiter;
    size_t max_field_bytes;
    size_t max_record_bytes;
    size_t max_fields;
    csvread_row_fn fn;
    void *ctx;

    unsigned char *raw;
    size_t raw_len, raw_cap;
    int raw_truncated;

    char *fbuf; /* field bytes of the current record */
    size_t fbuf_len, fbuf_cap;
    size_t *fofs; /* offset, length pairs */
    crest_str *views;
    size_t views_cap;
    size_t n_fields, fields_cap;
    size_t long_field;
    int too_many_fields;

    unsigned long line;        /* current physical line */
    unsigned long record_line; /* first line of the record in progress */
    unsigned long col_base;    /* bytes of the current line before this piece */
    int prev_cr;
    int in_record;

    int skipping; /* after a fault: discard up to the end of the record */
    int skip_tracks_quotes; /* a too-long record: the record ends at a line end outside quotes */
    int skip_in_quotes;
    csvread_error skip_error;
    unsigned long skip_line, skip_column;

    unsigned char bom[3];
    size_t bom_n;
    int bom_done;

    int stop;   /* the callback's stop value */
    int fast;   /* take the single-line fast path (identical results) */
    crest_str *split; /* fast path: the line's fields */
    size_t n_split, split_cap;
    unsigned char *unesc; /* fast path: unescaped quoted fields */
    size_t unesc_cap;
    int oom;
};

static int no_space(unsigned char c)
{
    (void)c;
    return 0;
}

static int parser_init(csvread *r)
{
    if (csv_init(&r->parser, CSV_STRICT | CSV_STRICT_FINI) != 0)
        return -1;
    csv_set_delim(&r->parser, r->delimiter);
    csv_set_space_func(&r->parser, no_space);
    /* libcsv grows its field buffer by blk_size bytes (default 128): a 10 MB
     * field would take ~80,000 reallocations. Grow in 256 KiB steps instead. */
    csv_set_blk_size(&r->parser, 256 * 1024);
    return 0;
}

static int parser_reset(csvread *r)
{
    csv_free(&r->parser);
    return parser_init(r);
}

csvread *csvread_create(unsigned char delimiter, size_t max_field_bytes, size_t max_record_bytes,
                        size_t max_fields, csvread_row_fn fn, void *ctx)
{
    csvread *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->delimiter = delimiter;
    r->max_field_bytes = max_field_bytes;
    r->max_record_bytes = max_record_bytes;
    r->max_fields = max_fields ? max_fields : 1;
    r->fn = fn;
    r->ctx = ctx;
    r->line = 1;
    r->fast = 1;
    r->long_field = SIZE_MAX;
    if (parser_init(r) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

void csvread_free(csvread *r)
{
    if (!r)
        return;
    csv_free(&r->parser);
    free(r->raw);
    free(r->fbuf);
    free(r->fofs);
    free(r->views);
    free(r->split);
    free(r->unesc);
    free(r);
}

unsigned long csvread_lines(const csvread *r)
{
    return r->line - 1 + (r->col_base > 0);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

static void raw_append(csvread *r, const void *s, size_t n)
{
    size_t room = r->max_record_bytes > r->raw_len ? r->max_record_bytes - r->raw_len : 0;
    if (n > room) {
        n = room;
        r->raw_truncated = 1;
    }
    if (!n)
        return;
    if (grow((void **)&r->raw, &r->raw_cap, r->raw_len + n, 1) != 0) {
        r->oom = 1;
        return;
    }
    memcpy(r->raw + r->raw_len, s, n);
    r->raw_len += n;
}

static void record_clear(csvread *r)
{
    r->raw_len = 0;
    r->raw_truncated = 0;
    r->fbuf_len = 0;
    r->n_fields = 0;
    r->long_field = SIZE_MAX;
    r->too_many_fields = 0;
    r->in_record = 0;
}

static void emit(csvread *r, csvread_row *row)
{
    row->raw.ptr = (const char *)r->raw;
    row->raw.len = r->raw_len;
    row->raw_truncated = r->raw_truncated;
    if (!r->stop) {
        int s = r->fn(r->ctx, row);
        if (s)
            r->stop = s;
    }
    record_clear(r);
}

static void emit_error(csvread *r)
{
    csvread_row row = {0};
    row.line = r->record_line;
    row.error = r->skip_error;
    row.error_line = r->skip_line;
    row.error_column = r->skip_column;
    row.long_field = SIZE_MAX;
    r->skipping = 0;
    r->skip_tracks_quotes = r->skip_in_quotes = 0;
    emit(r, &row);
    if (parser_reset(r) != 0)
        r->oom = 1;
}

/* libcsv field callback. */
static void on_field(void *data, size_t len, void *ctx)
{
    csvread *r = ctx;
    if (r->n_fields >= r->max_fields) {
        r->too_many_fields = 1;
        return;
    }
    if (len > r->max_field_bytes) {
        if (r->long_field == SIZE_MAX)
            r->long_field = r->n_fields;
        len = 0; /* keep the record's shape, not the oversized bytes */
    }
    if (grow((void **)&r->fofs, &r->fields_cap, 2 * (r->n_fields + 1), sizeof(size_t)) != 0 ||
        grow((void **)&r->fbuf, &r->fbuf_cap, r->fbuf_len + len + 1, 1) != 0) {
        r->oom = 1;
        return;
    }
    if (len)
        memcpy(r->fbuf + r->fbuf_len, data, len);
    r->fofs[2 * r->n_fields] = r->fbuf_len;
    r->fofs[2 * r->n_fields + 1] = len;
    r->fbuf_len += len;
    r->n_fields++;
}

/* libcsv end-of-row callback. */
static void on_row(int c, void *ctx)
{
    (void)c;
    csvread *r = ctx;
    if (r->oom)
        return;
    if (grow((void **)&r->views, &r->views_cap, r->n_fields + 1, sizeof(crest_str)) != 0) {
        r->oom = 1;
        return;
    }
    crest_str *v = r->views;
    for (size_t i = 0; i < r->n_fields; i++) {
        v[i].ptr = r->fbuf + r->fofs[2 * i];
        v[i].len = r->fofs[2 * i + 1];
    }
    csvread_row row = {0};
    row.fields = v;
    row.n_fields = r->n_fields;
    row.line = r->record_line;
    row.long_field = r->long_field;
    row.too_many_fields = r->too_many_fields;
    emit(r, &row);
}

static void count_line_end(csvread *r, unsigned char term, size_t piece_len)
{
    if (term == '\r') {
        r->line++;
        r->prev_cr = 1;
    } else if (term == '\n') {
        if (!(piece_len == 1 && r->prev_cr))
            r->line++;
        r->prev_cr = 0;
    } else if (piece_len) {
        r->prev_cr = 0; /* "\r" + "abc" (a chunk end) + "\n": two line ends, not a CRLF */
    }
}

/*
 * Split one line (without its terminator) into fields the way libcsv does in
 * strict mode with no space trimming, or return 0 when libcsv must see it: a
 * quote inside an unquoted field, text after a closing quote, or an open
 * quote at the end of the line (the record continues). Quoted fields without
 * "" are views into the line; with "" they are unescaped into r->unesc.
 * Hot path: memchr jumps, no allocation after warm-up.
 */
static int fast_split(csvread *r, const unsigned char *s, size_t n)
{
    if (grow((void **)&r->unesc, &r->unesc_cap, n + 1, 1) != 0) {
        r->oom = 1;
        return 0;
    }
    size_t n_split = 0, unesc_len = 0;
    const unsigned char *p = s, *end = s + n;
    const unsigned char delim = r->delimiter;
    for (;;) {
        if (n_split == r->split_cap &&
            grow((void **)&r->split, &r->split_cap, n_split + 1, sizeof *r->split) != 0) {
            r->oom = 1;
            return 0;
        }
        crest_str *f = &r->split[n_split++];
        if (p < end && *p == '"') {
            /* Quoted: up to the quote that is not doubled. */
            const unsigned char *q = p + 1;
            const unsigned char *seg = q;
            char *out = (char *)r->unesc + unesc_len;
            size_t out_len = 0;
            int escaped = 0;
            for (;;) {
                const unsigned char *qq = memchr(q, '"', (size_t)(end - q));
                if (!qq)
                    return 0; /* the quote is not closed on this line */
                if (qq + 1 < end && qq[1] == '"') {
                    memcpy(out + out_len, seg, (size_t)(qq + 1 - seg));
                    out_len += (size_t)(qq + 1 - seg);
                    escaped = 1;
                    q = seg = qq + 2;
                    continue;
                }
                if (escaped) {
                    memcpy(out + out_len, seg, (size_t)(qq - seg));
                    out_len += (size_t)(qq - seg);
                    f->ptr = out;
                    f->len = out_len;
                    unesc_len += out_len;
                } else {
                    f->ptr = (const char *)(p + 1);
                    f->len = (size_t)(qq - p - 1);
                }
                p = qq + 1;
                break;
            }
            if (p == end)
                break;
            if (*p != delim)
                return 0; /* text after the closing quote: libcsv reports it */
            p++;
            continue;
        }
        const unsigned char *d = memchr(p, delim, (size_t)(end - p));
        const unsigned char *fe = d ? d : end;
        if (memchr(p, '"', (size_t)(fe - p)))
            return 0; /* a quote inside an unquoted field */
        f->ptr = (const char *)p;
        f->len = (size_t)(fe - p);
        if (!d)
            break;
        p = d + 1;
    }
    r->n_split = n_split;
    return 1;
}

/* One piece: bytes up to and including the first CR or LF (or the chunk end). */
static void process_piece(csvread *r, const unsigned char *s, size_t n, int has_term)
{
    const unsigned char term = has_term ? s[n - 1] : 0;
    if (!r->in_record && !r->skipping)
        r->record_line = r->line;

    if (r->skipping) {
        raw_append(r, s, n);
        if (r->skip_tracks_quotes)
            r->skip_in_quotes ^= count_quotes(s, n) & 1;
    } else if (r->raw_len + n > r->max_record_bytes) {
        /* Too long: discard to the end of the record. A quote toggles the
         * quoted state ("" toggles twice), so the record ends at the first line
         * end outside quotes, wherever libcsv was in its field. */
        const int in_quotes = r->parser.pstate == LIBCSV_FIELD_BEGUN && r->parser.quoted;
        size_t field = r->parser.entry_pos;
        if (!in_quotes) {
            const unsigned char *dl = memchr(s, r->delimiter, n);
            field += dl ? (size_t)(dl - s) : n;
        } else {
            field += n;
        }
        raw_append(r, s, n);
        r->skipping = 1;
        r->skip_tracks_quotes = 1;
        r->skip_in_quotes = in_quotes ^ (count_quotes(s, n) & 1);
        /* The first limit crossed names the fault: a field over max_field_bytes. */
        r->skip_error = field > r->max_field_bytes ? CSVREAD_ERR_FIELD_TOO_LONG : CSVREAD_ERR_RECORD_TOO_LONG;
        r->skip_line = r->record_line;
        r->skip_column = 1;
    } else if (r->fast && has_term && !r->in_record && r->parser.pstate == LIBCSV_ROW_NOT_BEGUN &&
               (n == 1 || fast_split(r, s, n - 1))) {
        /* Fast path, identical to libcsv for this case (a whole line, outside
         * any record, in valid strict RFC 4180); anything else — broken
         * quoting, a record that goes on past the line — is left to libcsv. A
         * line of only its terminator is no record. */
        if (n > 1) {
            raw_append(r, s, n);
            r->in_record = 1;
            for (size_t i = 0; i < r->n_split; i++)
                on_field((void *)r->split[i].ptr, r->split[i].len, r);
            on_row(term, r);
        }
    } else {
        raw_append(r, s, n);
        r->in_record = 1;
        size_t used = csv_parse(&r->parser, s, n, on_field, on_row, r);
        if (used < n) {
            if (csv_error(&r->parser) == CSV_EPARSE) {
                r->skipping = 1;
                r->skip_tracks_quotes = 0; /* broken quoting: resynchronise at the line end */
                r->skip_in_quotes = 0;
                r->skip_error = CSVREAD_ERR_QUOTE;
                r->skip_line = r->line;
                r->skip_column = r->col_base + (unsigned long)used + 1;
            } else {
                r->oom = 1;
            }
        } else if (r->in_record && r->parser.pstate == LIBCSV_ROW_NOT_BEGUN) {
            /* Only line ends were consumed (blank line, LF of CRLF): no record. */
            record_clear(r);
        }
    }
    count_line_end(r, term, n);
    r->col_base = has_term ? 0 : r->col_base + (unsigned long)n;
    if (r->skipping && has_term && !r->skip_in_quotes)
        emit_error(r);
}

static void feed_bytes(csvread *r, const unsigned char *s, size_t n)
{
    size_t pos = 0;
    while (pos < n && !r->oom) {
        /* The next CR or LF: memchr for LF, then for a CR before it. */
        const unsigned char *lf = memchr(s + pos, '\n', n - pos);
        const size_t lim = lf ? (size_t)(lf - s) : n;
        const unsigned char *cr = memchr(s + pos, '\r', lim - pos);
        const size_t end = cr ? (size_t)(cr - s) : lim;
        const int has_term = end < n;
        const size_t piece = (has_term ? end + 1 : end) - pos;
        process_piece(r, s + pos, piece, has_term);
        pos += piece;
    }
}

static int status(const csvread *r)
{
    if (r->oom)
        return -1;
    return r->stop;
}

int csvread_feed(csvread *r, const void *buf, size_t len)
{
    const unsigned char *s = buf;
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    while (!r->bom_done && len) {
        r->bom[r->bom_n++] = *s++;
        len--;
        if (r->bom[r->bom_n - 1] != bom[r->bom_n - 1]) {
            r->bom_done = 1;
            feed_bytes(r, r->bom, r->bom_n);
        } else if (r->bom_n == 3) {
            r->bom_done = 1; /* a BOM: dropped */
        }
    }
    if (len && !r->stop)
        feed_bytes(r, s, len);
    return status(r);
}

int csvread_finish(csvread *r)
{
    if (!r->bom_done) {
        r->bom_done = 1;
        feed_bytes(r, r->bom, r->bom_n);
    }
    if (r->skipping) {
        emit_error(r);
    } else if (!r->oom) {
        if (!r->in_record)
            r->record_line = r->line;
        if (csv_fini(&r->parser, on_field, on_row, r) != 0) {
            r->skipping = 1;
            r->skip_error = CSVREAD_ERR_UNTERMINATED;
            r->skip_line = r->line;
            r->skip_column = r->col_base + 1;
            emit_error(r);
        }
    }
    return status(r);
}

void csvread_set_fast(csvread *r, int on)
{
    r->fast = on;
}
