/*
 * test_outbuf.c — the output encoders: CSV quoting, JSON escapes, and the
 * fast number formatters, checked against printf on a million values.
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "crest/crest_keyhash.h"
#include "outbuf.h"

typedef struct mem {
    char buf[1 << 16];
    size_t len;
} mem;

static crest_status mem_write(void *ctx, const void *b, size_t n)
{
    mem *m = ctx;
    cr_assert_lt(m->len + n, sizeof m->buf);
    memcpy(m->buf + m->len, b, n);
    m->len += n;
    return CREST_OK;
}

static mem M;

static const char *render(void (*fn)(outbuf *, double, int), double x, int arg)
{
    outbuf o;
    crest_sink s = {mem_write, &M};
    M.len = 0;
    outbuf_init(&o, s, 256);
    fn(&o, x, arg);
    outbuf_flush(&o);
    outbuf_free(&o);
    M.buf[M.len] = '\0';
    return M.buf;
}

static void g6(outbuf *o, double x, int unused)
{
    (void)unused;
    outbuf_g6(o, x);
}

Test(outbuf, fixed_and_g6_match_printf)
{
    char want[64];
    size_t diff_fixed = 0, diff_g6 = 0;
    for (int i = 0; i < 1000000; i++) {
        char id[24];
        int n = snprintf(id, sizeof id, "D%d", i);
        const double u = crest_keyhash_uniform(42, id, (size_t)n);
        snprintf(want, sizeof want, "%.8f", u);
        diff_fixed += strcmp(render(outbuf_fixed, u, 8), want) != 0;
        /* probabilities of every magnitude crest writes */
        const double p = u * (i % 3 == 0 ? 1.0 : i % 3 == 1 ? 0.05 : 0.003);
        snprintf(want, sizeof want, "%.6g", p);
        diff_g6 += strcmp(render(g6, p, 0), want) != 0;
    }
    cr_expect_eq(diff_fixed, 0, "%zu of 1M differ from %%.8f", diff_fixed);
    /* The engine's form: the 53-bit integer of the draw, including its ends. */
    size_t diff_u53 = 0;
    for (uint64_t k = 0; k < 400000; k++) {
        const uint64_t u53 = k < 200000 ? k * UINT64_C(45035996273) % (UINT64_C(1) << 53)
                                        : (UINT64_C(1) << 53) - 1 - (k - 200000);
        char got[16] = {0};
        cr_assert_eq(outbuf_fmt_u53(got, u53), 10);
        snprintf(want, sizeof want, "%.8f", crest_keyhash_to_unit(u53 << 11));
        diff_u53 += strcmp(got, want) != 0;
    }
    cr_expect_eq(diff_u53, 0, "%zu of 400k differ from %%.8f", diff_u53);
    /* Every four-digit group in both halves of the eight digits: q = k * 10001,
     * from the smallest u53 that rounds to it. */
    size_t diff_groups = 0;
    for (uint64_t k = 0; k < 10000; k++) {
        const unsigned __int128 scaled = (unsigned __int128)(k * 10001) << 53;
        const uint64_t u53 = (uint64_t)(scaled / 100000000u) + (scaled % 100000000u != 0);
        char got[16] = {0};
        outbuf_fmt_u53(got, u53);
        snprintf(want, sizeof want, "%.8f", crest_keyhash_to_unit(u53 << 11));
        diff_groups += strcmp(got, want) != 0;
    }
    cr_expect_eq(diff_groups, 0, "%zu four-digit groups differ from %%.8f", diff_groups);
    cr_expect_eq(diff_g6, 0, "%zu of 1M differ from %%.6g", diff_g6);
    const double fixed_cases[] = {0.0, 0.5, 0.999999996, 0.123456785, 1e-9};
    for (size_t k = 0; k < sizeof fixed_cases / sizeof *fixed_cases; k++) {
        snprintf(want, sizeof want, "%.8f", fixed_cases[k]);
        cr_expect_str_eq(render(outbuf_fixed, fixed_cases[k], 8), want);
    }
    /* Exact half-way values (odd multiples of 2^-9 have 9 decimals ending in 5):
     * half to even, as printf rounds the exact binary value. */
    for (int m = 1; m < 512; m += 2) {
        const double x = m / 512.0;
        snprintf(want, sizeof want, "%.8f", x);
        cr_expect_str_eq(render(outbuf_fixed, x, 8), want, "%d/512", m);
    }
    const double g_cases[] = {0, 1, 0.03, 0.006, 0.8, 0.0083049, 0.9999996, 0.00012345678, 1e-5, 0.1};
    for (size_t k = 0; k < sizeof g_cases / sizeof *g_cases; k++) {
        snprintf(want, sizeof want, "%.6g", g_cases[k]);
        cr_expect_str_eq(render(g6, g_cases[k], 0), want);
    }
}

static void csv(outbuf *o, const char *s)
{
    outbuf_csv_field(o, s, strlen(s), ',');
}

Test(outbuf, csv_and_json_encoding)
{
    outbuf o;
    crest_sink s = {mem_write, &M};
    M.len = 0;
    outbuf_init(&o, s, 256); /* small: fields cross flushes */
    csv(&o, "plain");
    outbuf_putc(&o, '|');
    csv(&o, "a,b");
    outbuf_putc(&o, '|');
    csv(&o, "say \"hi\"");
    outbuf_putc(&o, '|');
    csv(&o, "two\nlines");
    outbuf_putc(&o, '|');
    outbuf_json_string(&o, "q\"b\\\n\t\x01中", strlen("q\"b\\\n\t\x01中"));
    outbuf_flush(&o);
    outbuf_free(&o);
    M.buf[M.len] = '\0';
    cr_expect_str_eq(M.buf, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|\"q\\\"b\\\\\\n\\t\\u0001中\"");
}

/* outbuf_write_small writes the bytes outbuf_write does for every size (the
 * inline moves for 16..64, the call otherwise) at every fill of a 256-byte
 * buffer, so across its flushes. */
Test(outbuf, write_small_equals_write)
{
    static mem want, got;
    char piece[100];
    for (size_t i = 0; i < sizeof piece; i++)
        piece[i] = (char)('A' + i % 53);
    for (size_t n = 0; n <= 80; n++)
        for (size_t fill = 0; fill <= 256; fill += 7) {
            mem *m[2] = {&want, &got};
            for (int k = 0; k < 2; k++) {
                m[k]->len = 0;
                outbuf o;
                cr_assert_eq(outbuf_init(&o, (crest_sink){mem_write, m[k]}, 256), CREST_OK);
                for (size_t f = 0; f < fill; f++)
                    outbuf_putc(&o, (char)('a' + f % 26));
                for (int r = 0; r < 3; r++) {
                    if (k)
                        outbuf_write_small(&o, piece + r, n);
                    else
                        outbuf_write(&o, piece + r, n);
                }
                outbuf_flush(&o);
                outbuf_free(&o);
            }
            cr_assert_eq(want.len, fill + 3 * n);
            cr_assert(got.len == want.len && memcmp(got.buf, want.buf, want.len) == 0, "n %zu, fill %zu", n,
                      fill);
        }
}
