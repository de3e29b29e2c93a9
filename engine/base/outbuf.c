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

void outbuf_write_bulk(outbuf *o, const void *s, size_t n)
{
    if (n < o->cap) {
        outbuf_write(o, s, n);
        return;
    }
    outbuf_flush(o);
    if (o->error == CREST_OK && o->sink.write) {
        crest_status st = o->sink.write(o->sink.ctx, s, n);
        if (st != CREST_OK)
            o->error = st;
        else
            o->bytes_out += n;
    }
}

void outbuf_puts(outbuf *o, const char *s)
{
    outbuf_write(o, s, strlen(s));
}

static void csv_field(outbuf *o, char prefix, const char *s, size_t n, char delimiter);

void outbuf_csv_field(outbuf *o, const char *s, size_t n, char delimiter)
{
    csv_field(o, 0, s, n, delimiter);
}

void outbuf_csv_field_prefixed(outbuf *o, char prefix, const char *s, size_t n, char delimiter)
{
    csv_field(o, prefix, s, n, delimiter);
}

/* Nonzero when one of the 8 bytes of w equals b (the classic SWAR zero-byte test). */
static inline uint64_t has_byte(uint64_t w, unsigned char b)
{
    const uint64_t x = w ^ (UINT64_C(0x0101010101010101) * b);
    return (x - UINT64_C(0x0101010101010101)) & ~x & UINT64_C(0x8080808080808080);
}

/* Does s[0..n) need quoting: a delimiter, a quote, CR or LF? Hot path: 8 bytes a step. */
static int needs_quotes(const char *s, size_t n, char delimiter)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (has_byte(w, (unsigned char)delimiter) | has_byte(w, '"') | has_byte(w, '\n') | has_byte(w, '\r'))
            return 1;
    }
    for (; i < n; i++) {
        const char c = s[i];
        if (c == delimiter || c == '"' || c == '\n' || c == '\r')
            return 1;
    }
    return 0;
}

static void csv_field(outbuf *o, char prefix, const char *s, size_t n, char delimiter)
{
    const int quote = needs_quotes(s, n, delimiter);
    if (!quote) {
        if (prefix)
            outbuf_putc(o, prefix);
        outbuf_write(o, s, n);
        return;
    }
    outbuf_putc(o, '"');
    if (prefix)
        outbuf_putc(o, prefix);
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
        case '"':
            outbuf_puts(o, "\\\"");
            break;
        case '\\':
            outbuf_puts(o, "\\\\");
            break;
        case '\n':
            outbuf_puts(o, "\\n");
            break;
        case '\r':
            outbuf_puts(o, "\\r");
            break;
        case '\t':
            outbuf_puts(o, "\\t");
            break;
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

static const char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

size_t outbuf_fmt_u53(char *dst, uint64_t k)
{
    /* k / 2^53 · 10^8 in 128-bit integers, rounded half to even as printf
     * rounds the exact value. */
    const unsigned __int128 n = (unsigned __int128)k * 100000000u;
    uint64_t q = (uint64_t)(n >> 53);
    const uint64_t r = (uint64_t)n & ((UINT64_C(1) << 53) - 1), half = UINT64_C(1) << 52;
    /* Bitwise, not ||: the round-up is a coin toss, a branch would miss half the time. */
    q += (uint64_t)((r > half) | ((r == half) & (unsigned)(q & 1)));
    dst[0] = (char)('0' + (q >= 100000000u));
    dst[1] = '.';
    /* Two halves of four digits, then pairs: short dependency chains. */
    const uint32_t v = (uint32_t)(q >= 100000000u ? q - 100000000u : q);
    const uint32_t hi = v / 10000, lo = v - hi * 10000;
    const uint32_t h1 = hi / 100, l1 = lo / 100;
    memcpy(dst + 2, digit_pairs + 2 * h1, 2);
    memcpy(dst + 4, digit_pairs + 2 * (hi - h1 * 100), 2);
    memcpy(dst + 6, digit_pairs + 2 * l1, 2);
    memcpy(dst + 8, digit_pairs + 2 * (lo - l1 * 100), 2);
    return 10;
}

size_t outbuf_fmt_fixed(char *dst, double x, int decimals)
{
    static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    if (!(x >= 0.0) || x >= 1e9 || decimals < 1 || decimals > 9)
        return 0;
    const char *pairs = digit_pairs;
    const double k53 = x * 9007199254740992.0; /* x · 2^53 */
    if (decimals == 8 && x < 1.0 && k53 == (double)(uint64_t)k53)
        return outbuf_fmt_u53(dst, (uint64_t)k53); /* x = k / 2^53 exactly (every draw u is) */
    /* Integer arithmetic on the scaled value; values within 1e-4 of a
     * half-way point go to printf, so the text is printf's. */
    const double raw = x * pow10[decimals];
    const double frac_part = raw - (double)(uint64_t)raw;
    if (frac_part > 0.4999 && frac_part < 0.5001)
        return 0; /* near a half-way point the product's rounding could decide */
    const uint64_t scaled = (uint64_t)(raw + 0.5);
    const uint64_t scale = (uint64_t)pow10[decimals];
    if (decimals == 8 && scaled < scale) {
        /* Other values in [0, 1) with 8 decimals: two digits a step. */
        uint32_t v = (uint32_t)scaled;
        dst[0] = '0';
        dst[1] = '.';
        for (int k = 8; k >= 2; k -= 2) {
            memcpy(dst + k, pairs + 2 * (v % 100), 2);
            v /= 100;
        }
        return 10;
    }
    char buf[32];
    char *e = buf + sizeof buf, *q = e;
    uint64_t frac = scaled % scale, whole = scaled / scale;
    for (int k = 0; k < decimals; k++) {
        *--q = (char)('0' + frac % 10);
        frac /= 10;
    }
    *--q = '.';
    do {
        *--q = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole);
    memcpy(dst, q, (size_t)(e - q));
    return (size_t)(e - q);
}

void outbuf_fixed(outbuf *o, double x, int decimals)
{
    char buf[32];
    const size_t n = outbuf_fmt_fixed(buf, x, decimals);
    if (n)
        outbuf_write(o, buf, n);
    else
        outbuf_printf(o, "%.*f", decimals, x);
}

size_t outbuf_fmt_g6(char *dst, double x)
{
    /* printf("%.6g") for the probabilities crest writes: 0, 1, or a value in
     * [1e-4, 1) as 0.dddddd with trailing zeros stripped; others via printf. */
    if (x == 0.0 || x == 1.0) {
        dst[0] = x == 0.0 ? '0' : '1';
        return 1;
    }
    if (!(x >= 1e-4 && x < 1.0))
        return 0;
    int e = -1; /* x = m · 10^e with m in [1, 10) */
    double m = x * 10.0;
    while (m < 1.0) {
        m *= 10.0;
        e--;
    }
    const double raw = m * 1e5;
    const double frac_part = raw - (double)(uint64_t)raw;
    if (frac_part > 0.4999 && frac_part < 0.5001)
        return 0;
    uint64_t digits = (uint64_t)(raw + 0.5); /* 6 significant digits */
    if (digits >= 1000000) {
        digits /= 10;
        e++;
        if (e >= 0) {
            dst[0] = '1';
            return 1;
        }
    }
    size_t n = 0;
    dst[n++] = '0';
    dst[n++] = '.';
    for (int z = -1; z > e; z--)
        dst[n++] = '0';
    char d6[6];
    for (int k = 5; k >= 0; k--) {
        d6[k] = (char)('0' + digits % 10);
        digits /= 10;
    }
    int last = 5;
    while (last > 0 && d6[last] == '0')
        last--;
    memcpy(dst + n, d6, (size_t)last + 1);
    return n + (size_t)last + 1;
}

void outbuf_double(outbuf *o, double x)
{
    char buf[CREST_DOUBLE_TEXT];
    outbuf_write(o, buf, crest_format_double(x, buf));
}

void outbuf_g6(outbuf *o, double x)
{
    char buf[32];
    const size_t n = outbuf_fmt_g6(buf, x);
    if (n)
        outbuf_write(o, buf, n);
    else
        outbuf_printf(o, "%.6g", x);
}
