/*
 * csvread.h — streaming RFC 4180 reader on top of libcsv that accounts for
 * every record: each one reaches the callback either as fields or as an
 * error (with its first physical line, the column of the fault and the raw
 * bytes), so a caller can decide or reject every row and lose none.
 *
 * Input is pushed in chunks of any size (1 byte works); results do not depend
 * on where chunks are cut. A UTF-8 BOM at the very start is dropped. libcsv
 * runs in strict mode with no space trimming (spaces are data, RFC 4180).
 * After broken quoting the reader resynchronises at the next line end; after
 * a record over max_record_bytes, at the end of that record (a line end
 * outside quotes), keeping memory bounded by max_record_bytes.
 */
#ifndef CREST_CSVREAD_H
#define CREST_CSVREAD_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_base.h"

typedef enum csvread_error {
    CSVREAD_OK = 0,
    CSVREAD_ERR_QUOTE,           /* a quote inside an unquoted field, or text after a closing quote */
    CSVREAD_ERR_UNTERMINATED,    /* end of input inside a quoted field */
    CSVREAD_ERR_RECORD_TOO_LONG, /* record longer than max_record_bytes */
    CSVREAD_ERR_FIELD_TOO_LONG   /* ... because one field passed max_field_bytes (record dropped) */
} csvread_error;

typedef struct csvread_row {
    const crest_str *fields; /* borrowed, valid during the callback (they may point into
                              * the buffer given to csvread_feed) */
    size_t n_fields;
    unsigned long line;         /* first physical line of the record, 1-based */
    crest_str raw;              /* the record's bytes (at most max_record_bytes), borrowed like
                                 * fields: a one-line record may be a view into the fed buffer */
    int raw_truncated;          /* raw was cut at max_record_bytes */
    csvread_error error;        /* CSVREAD_OK or the fault; fields are empty on a fault */
    unsigned long error_column; /* byte column of the fault in its line, 1-based */
    unsigned long error_line;   /* physical line of the fault */
    size_t long_field;          /* index of the first field over max_field_bytes, or SIZE_MAX */
    int too_many_fields;        /* more than max_fields fields (extra ones dropped) */
    /* Byte checks of raw, when a producer already made them (the reader's fast
     * path does; rowpipe does for the other rows, on the parsing thread):
     * checked = 1, and the offsets of the first invalid UTF-8 byte
     * (utf8_invalid_offset) and of the first NUL byte, SIZE_MAX when none.
     * checked = 0: the consumer computes them itself. */
    int checked;
    size_t utf8_bad, nul_at;
    /* 1 when raw (without its line end) is exactly the fields re-encoded the
     * way outbuf_csv_field does (quoted only when needed, "" inside quotes)
     * and joined by the reader's delimiter, so a writer that uses the same
     * delimiter may copy raw instead of re-encoding. Set on fast-path rows
     * only; 0 does not mean the bytes differ. */
    int plain;
    /* Fast-path rows that are plain but for quotes around fields that need
     * none: bit k set for such a field k (k < 64), 0 otherwise. Raw with
     * those fields' two quotes removed is the re-encoding; each such field's
     * view lies inside raw, between its quotes. */
    uint64_t unquoted;
    /* Fast-path rows (leads_known = 1): bit k set when field k (k < 63; bit
     * 63: any later one) is not empty and starts with a byte a spreadsheet may
     * read as the start of a formula ('=', '+', '-', '@', tab, CR: render.c's
     * formula_lead), so a writer that guards formulas knows at once that a row
     * needs no look at its fields. leads_known = 0: not computed. */
    int leads_known;
    uint64_t lead_fields;
} csvread_row;

/* Return 0 to go on, non-zero to stop reading (feed/finish then return it). */
typedef int (*csvread_row_fn)(void *ctx, const csvread_row *row);

typedef struct csvread csvread;

/* NULL on out-of-memory. max_fields caps the fields kept per record. */
csvread *csvread_create(unsigned char delimiter, size_t max_field_bytes, size_t max_record_bytes,
                        size_t max_fields, csvread_row_fn fn, void *ctx);
/* Push bytes. Returns 0, the callback's non-zero stop value, or -1 on out-of-memory. */
int csvread_feed(csvread *r, const void *buf, size_t len);
/* End of input: flushes a last record without a line end. Same returns as feed. */
int csvread_finish(csvread *r);
/* Physical lines seen so far (a CRLF pair counts once). */
unsigned long csvread_lines(const csvread *r);
void csvread_free(csvread *r);
/*
 * Fast path: a whole line (up to 4096 bytes with its line end, within one
 * csvread_feed buffer) that starts outside any record and is valid strict RFC
 * 4180 on its own is split by the reader itself (AVX2 or SSE2 on x86-64,
 * chosen at run time; portable SWAR elsewhere; one pass over each fed buffer
 * for all its lines) instead of the slow path, without copying: its row
 * points into the fed buffer and carries checked and plain. The records are
 * identical (tests/base/test_csvread.c compares both, and libcsv, on random
 * input cut everywhere). 0 turns the fast path off: every byte goes through
 * the strict slow path.
 */
void csvread_set_fast(csvread *r, int on);
/* For tests: the fast path's scan level, 0 SWAR, 1 SSE2, 2 AVX2, lowered to
 * the highest this build and CPU have; returns the level set. Every level
 * gives the same records. */
int csvread_set_simd(csvread *r, int level);
/*
 * Block-parallel reading (blockpipe.c): several readers each take a slice of
 * the input that starts at a line start. csvread_restart puts a reader into
 * the state of a fresh reader at physical line `line` past any BOM (nothing
 * pending, no stop value). csvread_at_boundary tells whether the bytes fed so
 * far end exactly between two records at a line start, i.e. a fresh reader
 * restarted here would read the rest of the input as this one would.
 */
void csvread_restart(csvread *r, unsigned long line);
int csvread_at_boundary(const csvread *r);
/* The current physical line (1-based), as csvread_restart takes it. */
unsigned long csvread_line(const csvread *r);
/* Whether the bytes fed so far end inside a record (some of its bytes read,
 * the record not yet given to the callback); *line gets its first line. */
int csvread_pending(const csvread *r, unsigned long *line);

#endif
