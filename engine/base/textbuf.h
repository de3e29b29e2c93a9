/*
 * textbuf.h — a growable byte buffer for load-time text building (policy
 * descriptions, summaries). Records out-of-memory instead of failing each call;
 * check `oom` once at the end. Not for the per-row path.
 */
#ifndef CREST_TEXTBUF_H
#define CREST_TEXTBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct textbuf {
    char *data; /* NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    int oom;
} textbuf;

void textbuf_init(textbuf *tb);
void textbuf_free(textbuf *tb);
void textbuf_append(textbuf *tb, const void *bytes, size_t n);
void textbuf_puts(textbuf *tb, const char *s);
void textbuf_printf(textbuf *tb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal of s (quotes and backslashes escaped, controls as \u00XX). */
void textbuf_json_string(textbuf *tb, const char *s);
/* A JSON number with `digits` significant digits, or null when not finite. */
void textbuf_json_number(textbuf *tb, double x, int digits);
/* A CSV field of p[0..n): quoted (quotes doubled) when it holds a comma, quote, CR or LF. */
void textbuf_csv_field(textbuf *tb, const char *p, size_t n);
/* A CSV number with `digits` significant digits, or nothing when not finite. */
void textbuf_csv_number(textbuf *tb, double x, int digits);
/* Give the caller the NUL-terminated text ("" when nothing was added) and reset;
 * NULL when an append ran out of memory (the partial text is freed). */
char *textbuf_take(textbuf *tb);

#endif
