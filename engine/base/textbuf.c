/* textbuf.c — see textbuf.h. */
#include "textbuf.h"

#include "grow.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void textbuf_init(textbuf *tb)
{
    memset(tb, 0, sizeof *tb);
}

void textbuf_free(textbuf *tb)
{
    free(tb->data);
    memset(tb, 0, sizeof *tb);
}

static int reserve(textbuf *tb, size_t extra)
{
    if (tb->oom)
        return 0;
    if (extra >= SIZE_MAX - tb->len ||
        crest_grow((void **)&tb->data, &tb->cap, tb->len + extra + 1, 1) != 0) {
        tb->oom = 1;
        return 0;
    }
    return 1;
}

void textbuf_append(textbuf *tb, const void *bytes, size_t n)
{
    if (!reserve(tb, n))
        return;
    memcpy(tb->data + tb->len, bytes, n);
    tb->len += n;
    tb->data[tb->len] = '\0';
}

void textbuf_puts(textbuf *tb, const char *s)
{
    textbuf_append(tb, s, strlen(s));
}

void textbuf_printf(textbuf *tb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        tb->oom = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        textbuf_append(tb, small, (size_t)n);
        return;
    }
    if (!reserve(tb, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(tb->data + tb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    tb->len += (size_t)n;
}

char *textbuf_take(textbuf *tb)
{
    char *d = tb->data;
    if (tb->oom) {
        free(d); /* a text with a piece missing is no text */
        d = NULL;
    } else if (!d) {
        d = calloc(1, 1);
    }
    memset(tb, 0, sizeof *tb);
    return d;
}

void textbuf_json_string(textbuf *tb, const char *s)
{
    textbuf_puts(tb, "\"");
    for (; *s; s++) {
        const unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            textbuf_printf(tb, "\\%c", c);
        else if (c < 0x20)
            textbuf_printf(tb, "\\u%04x", c);
        else
            textbuf_append(tb, s, 1);
    }
    textbuf_puts(tb, "\"");
}

void textbuf_json_number(textbuf *tb, double x, int digits)
{
    if (isfinite(x))
        textbuf_printf(tb, "%.*g", digits, x);
    else
        textbuf_puts(tb, "null");
}

void textbuf_csv_field(textbuf *tb, const char *p, size_t n)
{
    if (!memchr(p, ',', n) && !memchr(p, '"', n) && !memchr(p, '\n', n) && !memchr(p, '\r', n)) {
        textbuf_append(tb, p, n);
        return;
    }
    textbuf_puts(tb, "\"");
    for (size_t i = 0; i < n; i++)
        textbuf_append(tb, p[i] == '"' ? "\"\"" : p + i, p[i] == '"' ? 2 : 1);
    textbuf_puts(tb, "\"");
}

void textbuf_csv_number(textbuf *tb, double x, int digits)
{
    if (isfinite(x))
        textbuf_printf(tb, "%.*g", digits, x);
}
