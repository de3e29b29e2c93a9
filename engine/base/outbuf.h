/*
 * outbuf.h — buffered output to a caller's sink, with CSV and JSON field
 * encoders. One write call per 64 KiB; the first sink failure is sticky and
 * later writes are dropped, so callers check once per row or at the end.
 */
#ifndef CREST_OUTBUF_H
#define CREST_OUTBUF_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_base.h"

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
/* The same for a large piece: after what is buffered, straight to the sink. */
void outbuf_write_bulk(outbuf *o, const void *s, size_t n);
void outbuf_puts(outbuf *o, const char *s);
/* A CSV field, quoted only when it holds the delimiter, a quote, CR or LF. */
void outbuf_csv_field(outbuf *o, const char *s, size_t n, char delimiter);
/* The same with one character before the text, inside the quotes if any. */
void outbuf_csv_field_prefixed(outbuf *o, char prefix, const char *s, size_t n, char delimiter);
/* A JSON string literal with escapes (input assumed valid UTF-8). */
void outbuf_json_string(outbuf *o, const char *s, size_t n);
/* x ≥ 0 with a fixed number of decimals (1..9), as printf("%.Nf"). Hot path. */
void outbuf_fixed(outbuf *o, double x, int decimals);
/* A score or probability at full precision (crest_format_double: shortest
 * round-trip); nothing for NaN. Hot path. */
void outbuf_double(outbuf *o, double x);

/* A probability as printf("%.6g"). Hot path. */
void outbuf_g6(outbuf *o, double x);
/* The same into dst (room for 32 bytes): the length, or 0 for a value these
 * fast paths leave to printf (the outbuf_ versions above then use printf). */
size_t outbuf_fmt_fixed(char *dst, double x, int decimals);
size_t outbuf_fmt_g6(char *dst, double x);
/* u = k / 2^53 (k < 2^53, as crest_keyhash_to_unit gives) with 8 decimals,
 * exactly as printf("%.8f", u): 10 bytes at dst, returned. */
size_t outbuf_fmt_u53(char *dst, uint64_t k);
/* Room for n bytes at the buffer's end (flushing first if needed), to be
 * written directly and then committed; NULL when n exceeds the buffer. */
static inline char *outbuf_reserve(outbuf *o, size_t n)
{
    if (o->cap - o->len < n) {
        if (n > o->cap)
            return NULL;
        outbuf_flush(o);
    }
    return o->buf + o->len;
}
/* A piece of 16 to 64 bytes, copied inline with fixed-size moves (the first
 * and last 16 and, past 32 bytes, the first and last 32: overlapping); a
 * call of outbuf_write for any other size. Hot path: the records of a
 * recording hook (replay's 32-byte rows). */
static inline void outbuf_write_small(outbuf *o, const void *s, size_t n)
{
    char *at;
    if (n < 16 || n > 64 || !(at = outbuf_reserve(o, n))) {
        outbuf_write(o, s, n);
        return;
    }
    const char *p = s;
    if (n <= 32) {
        __builtin_memcpy(at, p, 16);
        __builtin_memcpy(at + n - 16, p + n - 16, 16);
    } else {
        __builtin_memcpy(at, p, 32);
        __builtin_memcpy(at + n - 32, p + n - 32, 32);
    }
    o->len += n;
}
/* Everything up to end (inside the reserved room) is written. */
static inline void outbuf_commit(outbuf *o, const char *end)
{
    o->len = (size_t)(end - o->buf);
}
/* printf-formatted text (short: at most 127 bytes). */
void outbuf_printf(outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
