/*
 * rejects.c — validation of a record and of its declaration's id, and the
 * reject records: a malformed row is an outcome with a reason code, counted,
 * never an engine error. What a valid row means is the other modules' job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_keyhash.h"
#include "engine_internal.h"
#include "utf8.h"

static const char *const reject_codes[CREST_REJECT_COUNT] = {
#define CREST_REJECT_CODE(name, code, msg) code,
    CREST_REJECT_LIST(CREST_REJECT_CODE)
#undef CREST_REJECT_CODE
};

const char *crest_reject_code(crest_reject_reason reason)
{
    return (int)reason >= 0 && reason < CREST_REJECT_COUNT ? reject_codes[reason] : NULL;
}

/* The detail of a CSV_QUOTE reject: it names the fault's line, which
 * crest_reject_sample_move moves like the record's. */
#define QUOTE_DETAIL_HEAD "malformed quoting at line "
#define QUOTE_DETAIL QUOTE_DETAIL_HEAD "%lu, column %lu"

/* crest_reject; detail_line_at: where in detail a line number starts that a
 * block worker's result must move like the record's line (SIZE_MAX: none). */
COLD static void reject(worker *w, const csvread_row *row, crest_reject_reason reason, unsigned long column,
                        const char *detail, size_t detail_line_at)
{
    w->stats->rejects++;
    w->stats->rejects_by_reason[reason]++;
    if (w->stats->n_samples < CREST_REJECT_SAMPLES) {
        crest_reject_sample *s = &w->stats->samples[w->stats->n_samples++];
        s->line = row->line;
        s->reason = reason;
        snprintf(s->detail, sizeof s->detail, "%s", detail);
    }
    if (!w->rej)
        return;
    outbuf *o = w->rej;
    if (w->res)
        crest_block_note_line(w, 0);
    outbuf_printf(o, "%lu,%s,%lu,", row->line, reject_codes[reason], column);
    const size_t detail_len = strlen(detail);
    if (w->res && detail_line_at != SIZE_MAX) {
        /* After the opening quote when the field is quoted (no quote comes
         * before the number to be doubled). */
        const int quoted = strpbrk(detail, ",\"\r\n") != NULL;
        crest_block_note_line(w, (size_t)quoted + detail_line_at);
    }
    outbuf_csv_field(o, detail, detail_len, ',');
    outbuf_putc(o, ',');
    size_t n = row->raw.len;
    while (n && (row->raw.ptr[n - 1] == '\n' || row->raw.ptr[n - 1] == '\r'))
        n--;
    /* Always quote the raw record so a reader gets it back as one field. */
    outbuf_putc(o, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (row->raw.ptr[i] == '"') {
            outbuf_write(o, row->raw.ptr + start, i + 1 - start);
            outbuf_putc(o, '"');
            start = i + 1;
        }
    }
    outbuf_write(o, row->raw.ptr + start, n - start);
    outbuf_puts(o, row->raw_truncated ? "\",1\n" : "\",0\n");
}

COLD void crest_reject(worker *w, const csvread_row *row, crest_reject_reason reason, unsigned long column,
                       const char *detail)
{
    reject(w, row, reason, column, detail, SIZE_MAX);
}

void crest_reject_sample_move(crest_reject_sample *s, unsigned long shift)
{
    s->line += shift;
    unsigned long line, column;
    if (s->reason == CREST_REJECT_CSV_QUOTE && sscanf(s->detail, QUOTE_DETAIL, &line, &column) == 2)
        snprintf(s->detail, sizeof s->detail, QUOTE_DETAIL, line + shift, column);
}

static int is_blank(crest_str s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] != ' ' && s.ptr[i] != '\t')
            return 0;
    return 1;
}

/* A record equal to the header (a BOM allowed on its first field). */
static int is_repeated_header(const crest_engine *e, const csvread_row *row)
{
    if (row->n_fields != e->n_cols || !e->n_cols)
        return 0;
    /* The usual record: its first byte settles it (a BOM's is 0xEF). */
    const crest_str f0 = row->fields[0];
    if (f0.len && f0.ptr[0] != e->col_names[0][0] && (unsigned char)f0.ptr[0] != 0xEF)
        return 0;
    for (size_t i = 0; i < e->n_cols; i++) {
        crest_str f = row->fields[i];
        if (i == 0 && f.len >= 3 && memcmp(f.ptr, "\xEF\xBB\xBF", 3) == 0)
            f.ptr += 3, f.len -= 3;
        /* Runs for every record: the first byte settles it for data rows. The
         * field holds no NUL (rejected before), so strncmp reads name only up to
         * its end. */
        const char *name = e->col_names[i];
        if (f.len ? name[0] != f.ptr[0] : name[0] != '\0')
            return 0;
        if (strncmp(name, f.ptr, f.len) != 0 || name[f.len] != '\0')
            return 0;
    }
    return 1;
}

/*
 * The id keys the draw, so invisible differences must not pass: white space at
 * either end, control characters, U+FEFF (BOM), U+200B..U+200D and U+2060
 * (zero-width). Returns the offset of the first offending byte or SIZE_MAX.
 */
static size_t invalid_id_offset(crest_str id)
{
    const unsigned char *s = (const unsigned char *)id.ptr;
    if (s[0] == ' ' || s[0] == '\t')
        return 0;
    if (s[id.len - 1] == ' ' || s[id.len - 1] == '\t')
        return id.len - 1;
    /* Hot path: printable ASCII (0x20..0x7E) throughout is fine. Eight bytes
     * at a time: a byte below 0x20 borrows, a byte of 0x7F or more has or
     * gets its high bit (carries and borrows only start at such bytes). */
    const uint64_t ones = UINT64_C(0x0101010101010101), high = UINT64_C(0x8080808080808080);
#define NOT_PRINTABLE(w) ((((w)-0x20 * ones) & ~(w)) | (w) | ((w) + ones))
    if (id.len >= 8 && id.len <= 32) {
        /* The usual id: four words, overlapping as its length needs (no loop
         * whose trip count follows the length); any byte out of range sends
         * it to the exact look below. */
        const size_t mid = id.len > 16 ? 8 : 0, late = id.len > 16 ? id.len - 16 : id.len - 8;
        uint64_t w0, w1, w2, w3;
        memcpy(&w0, s, 8);
        memcpy(&w1, s + mid, 8);
        memcpy(&w2, s + late, 8);
        memcpy(&w3, s + id.len - 8, 8);
        if (!((NOT_PRINTABLE(w0) | NOT_PRINTABLE(w1) | NOT_PRINTABLE(w2) | NOT_PRINTABLE(w3)) & high))
            return SIZE_MAX;
    }
    size_t i = 0;
    uint64_t w;
    for (; i + 8 <= id.len; i += 8) {
        memcpy(&w, s + i, 8);
        if (NOT_PRINTABLE(w) & high)
            break;
    }
    /* The last bytes as the word that ends the id (it overlaps the last one
     * checked): no byte loop for a longer id either. */
    if (i < id.len && i + 8 > id.len && id.len >= 8) {
        memcpy(&w, s + id.len - 8, 8);
        if (!(NOT_PRINTABLE(w) & high))
            i = id.len;
    }
#undef NOT_PRINTABLE
    while (i < id.len && (unsigned char)(s[i] - 0x20) < 0x5F)
        i++;
    for (; i < id.len; i++) {
        if (s[i] < 0x20 || s[i] == 0x7F)
            return i;
        if (s[i] == 0xEF && i + 2 < id.len && s[i + 1] == 0xBB && s[i + 2] == 0xBF)
            return i;
        if (s[i] == 0xE2 && i + 2 < id.len &&
            ((s[i + 1] == 0x80 && s[i + 2] >= 0x8B && s[i + 2] <= 0x8D) ||
             (s[i + 1] == 0x81 && s[i + 2] == 0xA0)))
            return i;
    }
    return SIZE_MAX;
}

/* Insert an id's keyed hash; 1 when already present, 0 when new, -1 on OOM. */
static int seen_insert(crest_engine *e, crest_str id)
{
    uint64_t h = crest_keyhash_siphash24(e->policy->seed, CREST_KEYHASH_KEY(DUPLICATE_ID), id.ptr, id.len);
    if (h == 0)
        h = 1; /* 0 marks an empty slot */
    if (2 * (e->n_seen + 1) > e->seen_cap) {
        const size_t cap = e->seen_cap ? 2 * e->seen_cap : 1 << 16;
        uint64_t *t = calloc(cap, sizeof *t);
        if (!t)
            return -1;
        for (size_t i = 0; i < e->seen_cap; i++) {
            if (!e->seen[i])
                continue;
            size_t k = e->seen[i] & (cap - 1);
            while (t[k])
                k = (k + 1) & (cap - 1);
            t[k] = e->seen[i];
        }
        free(e->seen);
        e->seen = t;
        e->seen_cap = cap;
    }
    size_t k = h & (e->seen_cap - 1);
    while (e->seen[k]) {
        if (e->seen[k] == h)
            return 1;
        k = (k + 1) & (e->seen_cap - 1);
    }
    e->seen[k] = h;
    e->n_seen++;
    return 0;
}

/* Hot path: the record as CSV, before its fields are read. */
int crest_validate_record(crest_engine *e, worker *w, const csvread_row *row)
{
    char detail[160];
    if (UNLIKELY(row->error != CSVREAD_OK)) {
        switch (row->error) {
        case CSVREAD_OK:
            break;
        case CSVREAD_ERR_QUOTE:
            snprintf(detail, sizeof detail, QUOTE_DETAIL, row->error_line, row->error_column);
            reject(w, row, CREST_REJECT_CSV_QUOTE, row->error_column, detail, strlen(QUOTE_DETAIL_HEAD));
            return ROW_REJECTED;
        case CSVREAD_ERR_UNTERMINATED:
            crest_reject(w, row, CREST_REJECT_CSV_UNTERMINATED, row->error_column,
                         "the input ends inside a quoted field opened on this record");
            return ROW_REJECTED;
        case CSVREAD_ERR_FIELD_TOO_LONG:
            snprintf(detail, sizeof detail,
                     "a field is longer than %zu bytes (max_field_bytes); the record (over %zu bytes) "
                     "was skipped",
                     e->policy->max_field_bytes, e->policy->max_record_bytes);
            crest_reject(w, row, CREST_REJECT_FIELD_TOO_LONG, 1, detail);
            return ROW_REJECTED;
        case CSVREAD_ERR_RECORD_TOO_LONG:
            snprintf(detail, sizeof detail, "record longer than %zu bytes (max_record_bytes)",
                     e->policy->max_record_bytes);
            crest_reject(w, row, CREST_REJECT_RECORD_TOO_LONG, 1, detail);
            return ROW_REJECTED;
        }
    }
    if (row->too_many_fields || row->n_fields != e->n_cols) {
        snprintf(detail, sizeof detail, "expected %zu fields as in the header, found %s%zu", e->n_cols,
                 row->too_many_fields ? "more than " : "", row->n_fields);
        crest_reject(w, row, CREST_REJECT_COLUMN_COUNT, 0, detail);
        return ROW_REJECTED;
    }
    if (row->long_field != SIZE_MAX) {
        snprintf(detail, sizeof detail, "field %zu (%.60s) is longer than %zu bytes (max_field_bytes)",
                 row->long_field + 1, e->col_names[row->long_field], e->policy->max_field_bytes);
        crest_reject(w, row, CREST_REJECT_FIELD_TOO_LONG, (unsigned long)row->long_field + 1, detail);
        return ROW_REJECTED;
    }
    size_t bad =
        row->checked ? row->utf8_bad : utf8_invalid_offset((const unsigned char *)row->raw.ptr, row->raw.len);
    if (bad != SIZE_MAX) {
        snprintf(detail, sizeof detail, "invalid UTF-8 byte 0x%02X at byte %zu of the record",
                 (unsigned char)row->raw.ptr[bad], bad + 1);
        crest_reject(w, row, CREST_REJECT_INVALID_UTF8, (unsigned long)bad + 1, detail);
        return ROW_REJECTED;
    }

    size_t nul_at = row->checked ? row->nul_at : SIZE_MAX;
    if (!row->checked && row->raw.len) {
        const char *z = memchr(row->raw.ptr, '\0', row->raw.len);
        nul_at = z ? (size_t)(z - row->raw.ptr) : SIZE_MAX;
    }
    if (nul_at != SIZE_MAX) {
        const size_t at = nul_at;
        snprintf(detail, sizeof detail, "NUL byte at byte %zu of the record: not text", at + 1);
        crest_reject(w, row, CREST_REJECT_INVALID_UTF8, (unsigned long)at + 1, detail);
        return ROW_REJECTED;
    }
    if (is_repeated_header(e, row)) {
        crest_reject(
            w, row, CREST_REJECT_REPEATED_HEADER, 1,
            "the record repeats the header (concatenated files?); the data after it is read as before");
        return ROW_REJECTED;
    }

    return ROW_OK;
}

/* Hot path: the id keys the draw. */
int crest_validate_id_text(crest_engine *e, worker *w, const csvread_row *row, crest_str id)
{
    char detail[160];
    /* Blank: empty, or blanks only (then its first byte is one). */
    if (id.len == 0 || ((id.ptr[0] == ' ' || id.ptr[0] == '\t') && is_blank(id))) {
        crest_reject(w, row, CREST_REJECT_MISSING_ID, (unsigned long)e->col_of_field[CREST_FIELD_DECL_ID] + 1,
                     "decl_id is empty: every declaration needs an identifier");
        return ROW_REJECTED;
    }
    const size_t bad_at = invalid_id_offset(id);
    if (bad_at != SIZE_MAX) {
        snprintf(detail, sizeof detail, "decl_id has %s at byte %zu (the id keys the draw)",
                 bad_at == 0 || bad_at + 1 >= id.len ? "white space or an invisible character"
                                                     : "an invisible character",
                 bad_at + 1);
        crest_reject(w, row, CREST_REJECT_INVALID_ID, (unsigned long)e->col_of_field[CREST_FIELD_DECL_ID] + 1,
                     detail);
        return ROW_REJECTED;
    }
    return ROW_OK;
}

int crest_validate_id_unique(crest_engine *e, worker *w, const csvread_row *row, crest_str id)
{
    if (!e->policy->reject_duplicate_ids)
        return ROW_OK;
    const int dup = seen_insert(e, id);
    if (dup < 0)
        return crest_engine_set_fatal(e, CREST_ERR_NOMEM, row->line, 0, "%s",
                                      "out of memory tracking decl_ids"),
               ROW_FATAL;
    if (dup) {
        char detail[160];
        snprintf(detail, sizeof detail, "decl_id %.*s was already decided in this run",
                 (int)(id.len > 60 ? 60 : id.len), id.ptr);
        crest_reject(w, row, CREST_REJECT_DUPLICATE_ID,
                     (unsigned long)e->col_of_field[CREST_FIELD_DECL_ID] + 1, detail);
        return ROW_REJECTED;
    }
    return ROW_OK;
}
