/*
 * outbuf.h — buffered output to a caller's sink, with CSV and JSON field
 * encoders. One write call per 64 KiB; the first sink failure is sticky and
 * later writes are dropped, so callers check once per row or at the end.
 */
#ifndef CREST_OUTBUF_H
#define CREST_OUTBUF_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_engine.h"

typedef struct outbuf {
    crest_sink sink;
    char *buf;
    size_t len, cap;
    crest_status error;
    uint64_t bytes_out;
} outbuf;

crest_status outbuf_init(outbuf *o, crest_sink sink, size_t cap);
void outbuf_free(outbuf *o);
crest_status outbuf_flush(outbuf *o);
void outbuf_write(outbuf *o, const void *s, size_t n);
static inline void outbuf_putc(outbuf *o, char c)
{
    if (o->len == o->cap)
        outbuf_flush(o);
    o->buf[o->len++] = c;
}
void outbuf_puts(outbuf *o, const char *s);
/* A CSV field, quoted only when it holds the delimiter, a quote, CR or LF. */
void outbuf_csv_field(outbuf *o, const char *s, size_t n, char delimiter);
/* The same with one character before the text, inside the quotes if any. */
void outbuf_csv_field_prefixed(outbuf *o, char prefix, const char *s, size_t n, char delimiter);
/* A JSON string literal with escapes (input assumed valid UTF-8). */
void outbuf_json_string(outbuf *o, const char *s, size_t n);
/* x ≥ 0 with a fixed number of decimals (1..9), as printf("%.Nf"). Hot path. */
void outbuf_fixed(outbuf *o, double x, int decimals);
/* A probability as printf("%.6g"). Hot path. */
void outbuf_g6(outbuf *o, double x);
/* printf-formatted text (short: at most 127 bytes). */
void outbuf_printf(outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
