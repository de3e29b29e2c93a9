/* outbuf.c — see outbuf.h. Hot path: every output byte passes here. */
#include "outbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

crest_status outbuf_init(outbuf *o, crest_sink sink, size_t cap)
{
    memset(o, 0, sizeof *o);
    o->sink = sink;
    o->cap = cap < 256 ? 256 : cap;
    o->buf = malloc(o->cap);
    return o->buf ? CREST_OK : CREST_ERR_NOMEM;
}

void outbuf_free(outbuf *o)
{
    free(o->buf);
    o->buf = NULL;
}

crest_status outbuf_flush(outbuf *o)
{
    if (o->len && o->error == CREST_OK && o->sink.write) {
        crest_status st = o->sink.write(o->sink.ctx, o->buf, o->len);
        if (st != CREST_OK)
            o->error = st;
        else
            o->bytes_out += o->len;
    }
    o->len = 0;
    return o->error;
}

void outbuf_write(outbuf *o, const void *s, size_t n)
{
    const char *p = s;
    while (n) {
        if (o->len == o->cap)
            outbuf_flush(o);
        size_t k = o->cap - o->len;
        if (k > n)
            k = n;
        memcpy(o->buf + o->len, p, k);
        o->len += k;
        p += k;
        n -= k;
    }
}

void outbuf_puts(outbuf *o, const char *s)
{
    outbuf_write(o, s, strlen(s));
}

void outbuf_csv_field(outbuf *o, const char *s, size_t n, char delimiter)
{
    int quote = 0;
    for (size_t i = 0; i < n; i++) {
        const char c = s[i];
        if (c == delimiter || c == '"' || c == '\n' || c == '\r') {
            quote = 1;
            break;
        }
    }
    if (!quote) {
        outbuf_write(o, s, n);
        return;
    }
    outbuf_putc(o, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') {
            outbuf_write(o, s + start, i + 1 - start);
            outbuf_putc(o, '"');
            start = i + 1;
        }
    }
    outbuf_write(o, s + start, n - start);
    outbuf_putc(o, '"');
}

void outbuf_json_string(outbuf *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    outbuf_putc(o, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        outbuf_write(o, s + start, i - start);
        start = i + 1;
        switch (c) {
        case '"': outbuf_puts(o, "\\\""); break;
        case '\\': outbuf_puts(o, "\\\\"); break;
        case '\n': outbuf_puts(o, "\\n"); break;
        case '\r': outbuf_puts(o, "\\r"); break;
        case '\t': outbuf_puts(o, "\\t"); break;
        default: {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            outbuf_write(o, e, 6);
        }
        }
    }
    outbuf_write(o, s + start, n - start);
    outbuf_putc(o, '"');
}

void outbuf_printf(outbuf *o, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        outbuf_write(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}
