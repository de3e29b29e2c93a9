/* test_base.c — the shared number parser: bit-identical to strtod. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_base.h"
#include "crest/crest_keyhash.h"

/* The reference: strtod on the text without its surrounding spaces and tabs
 * (the one trimming rule), whole text consumed, finite, no other leading
 * white space, no hexadecimal. */
static void same_n(const char *s, size_t n);

static void same(const char *s)
{
    same_n(s, strlen(s));
}

/* The same for s[0..n) (no NUL among them), read from a heap block of exactly
 * n bytes: a read past the text is AddressSanitizer's to report. */
static void same_n(const char *s, size_t n)
{
    size_t len = n;
    const char *t = s;
    while (len && (*t == ' ' || *t == '\t'))
        t++, len--;
    while (len && (t[len - 1] == ' ' || t[len - 1] == '\t'))
        len--;
    char trimmed[128];
    cr_assert(len < sizeof trimmed);
    memcpy(trimmed, t, len);
    trimmed[len] = '\0';
    char *end;
    const double want_raw = strtod(trimmed, &end);
    /* Unlike strtod: hexadecimal floats are not declaration numbers. */
    const int hex = strchr(trimmed, 'x') || strchr(trimmed, 'X');
    const double want =
        (end == trimmed || *end || !isfinite(want_raw) || isspace((unsigned char)trimmed[0]) || hex)
            ? NAN
            : want_raw;
    char *exact = malloc(n ? n : 1);
    cr_assert_not_null(exact);
    memcpy(exact, s, n);
    const double got = crest_parse_number(exact, n);
    free(exact);
    if (isnan(want))
        cr_expect(isnan(got), "'%s': got %.17g, want NaN", s, got);
    else
        cr_expect(memcmp(&got, &want, sizeof got) == 0, "'%s': got %.17g, want %.17g", s, got, want);
}

Test(base, parse_number_matches_strtod)
{
    static const char *cases[] = {"0",
                                  "-0",
                                  "+0",
                                  "1",
                                  "-1",
                                  "12.5",
                                  "-12.50",
                                  "0.1",
                                  ".5",
                                  "5.",
                                  "007",
                                  "1e3",
                                  "1E-2",
                                  "NaN",
                                  "inf",
                                  "1e309",
                                  "",
                                  "-",
                                  ".",
                                  "+.",
                                  "1.2.3",
                                  "12a",
                                  " 12",
                                  "９",
                                  "１２３",
                                  "0.30000000000000004",
                                  "123456789012345678",
                                  "9007199254740993",
                                  "12345678901234567890",
                                  "0.0000000000000000000001",
                                  "3.14159265358979323846",
                                  "999999999999999999",
                                  "-0.000",
                                  "4503599627370497.5",
                                  " 5000 ",
                                  "\t-1.5\t",
                                  "  1e3  ",
                                  "1 ",
                                  " ",
                                  " \t ",
                                  "1 2",
                                  "- 1",
                                  "1e-400",
                                  "  12345678901234567890  "};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        same(cases[i]);
    /* Unlike strtod: hexadecimal floats are not declaration numbers. */
    cr_expect(isnan(crest_parse_number("0x1p3", 5)));
    cr_expect(isnan(crest_parse_number("0X10", 4)));
    /* Random decimals of every length and precision a declaration carries. */
    char buf[48];
    for (int i = 0; i < 500000; i++) {
        const uint64_t h = crest_keyhash_siphash24(1, 2, &i, sizeof i);
        const int int_digits = (int)(h % 17), frac_digits = (int)((h >> 8) % 24);
        size_t n = 0;
        if ((h >> 16) & 1)
            buf[n++] = '-';
        uint64_t x = h;
        for (int k = 0; k < int_digits; k++, x = x * 6364136223846793005ULL + 1)
            buf[n++] = (char)('0' + (x >> 60) % 10);
        if (frac_digits) {
            buf[n++] = '.';
            for (int k = 0; k < frac_digits; k++, x = x * 6364136223846793005ULL + 1)
                buf[n++] = (char)('0' + (x >> 59) % 10);
        }
        buf[n] = '\0';
        same(buf);
    }
}

/*
 * The fast path takes digits with at most one '.' and leaves every other
 * shape to strtod: random strings of 0 to 20 bytes, mostly digits and dots
 * with signs, exponents and blanks among them, read as strtod reads them,
 * bit for bit; and every place of the '.' in numbers of 1 to 17 digits.
 */
Test(base, parse_number_short_strings_match_strtod)
{
    static const char alphabet[] = "0123456789012345678901234567890123456789....--+e \t";
    char buf[32];
    size_t fast_shaped = 0;
    for (int i = 0; i < 1000000; i++) {
        const uint64_t h = crest_keyhash_siphash24(3, 4, &i, sizeof i);
        const size_t n = (size_t)(h % 21);
        uint64_t x = h;
        size_t dots = 0, others = 0;
        for (size_t k = 0; k < n; k++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            buf[k] = alphabet[(x >> 33) % (sizeof alphabet - 1)];
            dots += buf[k] == '.';
            others += buf[k] != '.' && (buf[k] < '0' || buf[k] > '9');
        }
        buf[n] = '\0';
        fast_shaped += n >= 1 && n <= 16 && dots <= 1 && !others;
        same(buf);
    }
    cr_assert_gt(fast_shaped, 100000, "the fast path's shape must be common (%zu)", fast_shaped);
    /* Every length with the '.' at every place, and the longest digit runs. */
    for (size_t n = 1; n <= 17; n++) {
        for (size_t d = 0; d <= n; d++) {
            size_t k = 0;
            for (size_t j = 0; j < n; j++) {
                if (j == d)
                    buf[k++] = '.';
                buf[k++] = (char)('1' + (j * 7) % 9);
            }
            buf[k] = '\0';
            same(buf);
            buf[0] = '9';
            same(buf);
        }
    }
    same("9999999999999999");
    same("9007199254740992");
    same("9007199254740993");
    same("0.000000000000001");
    same(".000000000000001");
    same("000000000000000.");
}

/*
 * The word-at-a-time reader (4 to 16 bytes after a sign): numbers of 1 to 18
 * bytes, without a '.' or with it first, in the middle or last, signed or
 * not, and in each of them every byte in turn replaced by every other byte
 * value (but NUL): whatever it makes of them is what strtod makes of them.
 */
Test(base, parse_number_every_byte_at_every_place)
{
    char buf[24];
    size_t checked = 0;
    for (size_t n = 1; n <= 18; n++) {
        const size_t dots[] = {SIZE_MAX, 0, n / 2, n - 1};
        for (size_t di = 0; di < sizeof dots / sizeof *dots; di++) {
            for (int sign = 0; sign < 2; sign++) {
                size_t len = 0;
                if (sign)
                    buf[len++] = '-';
                for (size_t j = 0; j < n; j++)
                    buf[len++] = j == dots[di] ? '.' : (char)('0' + (j * 7 + n) % 10);
                same_n(buf, len);
                for (size_t k = 0; k < len; k++) {
                    const char keep = buf[k];
                    for (int b = 1; b < 256; b++) {
                        buf[k] = (char)b;
                        same_n(buf, len);
                        checked++;
                    }
                    buf[k] = keep;
                }
            }
        }
    }
    cr_assert_gt(checked, 300000);
}

/*
 * The word-at-a-time reader's byte tests (the '.' found by a zero-byte test,
 * the digits by a carry and a borrow test, '0' filled below them): every
 * string of 4 to 6 bytes over digits, '.', the bytes either side of the
 * digits and of '.', signs, 'e' and a blank, as strtod reads it.
 */
Test(base, parse_number_every_short_string_of_edge_bytes)
{
    static const char alphabet[] = {'0', '5', '9', '.', '/', ':', '-', '+', 'e', ' ', ','};
    const size_t k = sizeof alphabet;
    char buf[8];
    size_t checked = 0;
    for (size_t n = 4; n <= 6; n++) {
        size_t total = 1;
        for (size_t j = 0; j < n; j++)
            total *= k;
        for (size_t i = 0; i < total; i++) {
            size_t x = i;
            for (size_t j = 0; j < n; j++, x /= k)
                buf[j] = alphabet[x % k];
            same_n(buf, n);
            checked++;
        }
    }
    cr_assert_eq(checked, 11 * 11 * 11 * 11 * (1 + 11 + 11 * 11));
}

Test(base, parse_number_trims_blanks_only)
{
    /* Spaces and tabs around the number go; nothing else does. */
    cr_expect(crest_parse_number(" 5000 ", 6) == 5000.0);
    cr_expect(crest_parse_number("\t5000\t", 6) == 5000.0);
    cr_expect(crest_parse_number("1 ", 2) == 1.0);
    cr_expect(crest_parse_number(" -0.25e1 ", 9) == -2.5);
    cr_expect(isnan(crest_parse_number("5000\r", 5)));
    cr_expect(isnan(crest_parse_number("\n5000", 5)));
    cr_expect(isnan(crest_parse_number("\v5", 2)));
    cr_expect(isnan(crest_parse_number("\xc2\xa0"
                                       "5",
                                       3)),
              "a no-break space is not a blank");
    cr_expect(isnan(crest_parse_number("5 0", 3)));
    cr_expect(isnan(crest_parse_number("  ", 2)));
    cr_expect(isnan(crest_parse_number(NULL, 0)));
    /* Only the given bytes are read: no terminator needed. */
    cr_expect(crest_parse_number("12x", 2) == 12.0);
    cr_expect(crest_parse_number("1.5e2 junk", 5) == 150.0);
}

Test(base, parse_number_ignores_the_locale)
{
    /* A host program may set a locale whose decimal point is ','; crest's
     * numbers stay C-locale numbers. Needs a locale with ',' installed. */
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "ru_RU.UTF-8"};
    const char *set = NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names && !set; i++)
        set = setlocale(LC_NUMERIC, names[i]);
    if (!set || localeconv()->decimal_point[0] != ',') {
        setlocale(LC_NUMERIC, "C");
        cr_skip_test("no locale with a decimal comma installed");
    }
    const double a = crest_parse_number("1.5e0", 5), b = crest_parse_number("1,5e0", 5);
    const double c = crest_parse_number("0.1000000000000000000000000001", 30);
    setlocale(LC_NUMERIC, "C");
    cr_expect(a == 1.5, "slow path in %s: got %g", set, a);
    cr_expect(isnan(b), "slow path in %s read a decimal comma: %g", set, b);
    cr_expect(c == 0.1, "slow path in %s: got %.17g", set, c);
}

Test(base, lanes_one_list)
{
    static const char *const want[] = {"GREEN", "BLUE", "YELLOW", "ORANGE", "RED"};
    cr_assert_eq(CREST_LANE_COUNT, 5);
    for (int i = 0; i < CREST_LANE_COUNT; i++) {
        cr_expect_str_eq(crest_lane_name((crest_lane)i), want[i]);
        cr_expect_eq(crest_lane_from_name(want[i], strlen(want[i]), 0), i);
    }
    cr_expect_eq(CREST_LANE_RED, 4, "ranks order the lanes by intrusiveness");
    cr_expect_null(crest_lane_name(CREST_LANE_COUNT));
    cr_expect_null(crest_lane_name((crest_lane)-1));
    cr_expect_eq(crest_lane_from_name("red", 3, 0), -1);
    cr_expect_eq(crest_lane_from_name("red", 3, 1), CREST_LANE_RED);
    cr_expect_eq(crest_lane_from_name("Orange", 6, 1), CREST_LANE_ORANGE);
    cr_expect_eq(crest_lane_from_name("REDD", 4, 1), -1);
    cr_expect_eq(crest_lane_from_name("RE", 2, 1), -1);
    cr_expect_eq(crest_lane_from_name("", 0, 1), -1);
}

/* Shortest round-trip text: reads back bit for bit, and no digit can go. */
static void shortest(double x, const char *want)
{
    char out[CREST_DOUBLE_TEXT];
    const size_t n = crest_format_double(x, out);
    cr_expect_eq(n, strlen(out));
    if (want)
        cr_expect_str_eq(out, want, "%.17g", x);
    if (isfinite(x)) {
        const double back = strtod(out, NULL);
        cr_expect(memcmp(&back, &x, sizeof x) == 0, "'%s' does not read back as %.17g", out, x);
        char fewer[512];
        int digits = 0, leading = 1; /* significant digits: leading zeros do not count */
        for (const char *p = out; *p && *p != 'e'; p++) {
            if (leading && (*p == '0' || *p == '.' || *p == '-'))
                continue;
            leading = 0;
            digits += isdigit((unsigned char)*p) != 0;
        }
        if (digits > 15) { /* one digit fewer must not read back */
            snprintf(fewer, sizeof fewer, "%.*g", digits - 1, x);
            cr_expect(strtod(fewer, NULL) != x, "'%s' is shorter and reads back as %.17g", fewer, x);
        }
    }
}

Test(base, format_double_shortest_round_trip)
{
    shortest(0.2, "0.2");
    shortest(0.1 + 0.2, "0.30000000000000004");
    shortest(1.0 / 3.0, "0.3333333333333333");
    shortest(0.006, "0.006");
    shortest(1e-300, "1e-300");
    shortest(0.0, "0");
    shortest(-2.5, "-2.5");
    shortest(NAN, "");
    shortest(INFINITY, "inf");
    shortest(-INFINITY, "-inf");
    uint64_t state = 12345;
    for (int i = 0; i < 20000; i++) { /* scores and probabilities of every size */
        state = state * 6364136223846793005u + 1442695040888963407u;
        const double u = (double)(state >> 11) * 0x1p-53;
        shortest(u, NULL);
        shortest(u * u * u * 1e-5, NULL);
    }
}

/* What crest_format_double promises, by printf and strtod. */
static void printf_shortest(double x, char *out, size_t cap)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, x);
        if (strtod(out, NULL) == x)
            return;
    }
}

static void same_as_printf(double x)
{
    char got[CREST_DOUBLE_TEXT], want[64];
    printf_shortest(x, want, sizeof want);
    crest_format_double(x, got);
    cr_assert_str_eq(got, want, "%a", x);
}

/* The exact integer fast path (magnitudes in [2^-30, 1)) writes printf's text:
 * at its edges, at powers of two (the closer lower neighbour), next to short
 * decimals (where 15, 16 and 17 digits part), and over random bit patterns. */
Test(base, format_double_fast_path_is_printf)
{
    const double edges[] = {
        0x1p-30,        0x1p-30 * 1.5, 1.0,  0.5,  0.1,  0.05, 0.3,  0.7,  0.9,
        0.95,           0.999,         1e-9, 1e-5, 1e-4, 2e-4, 0.01, 1e-8, 0.123456789012345,
        0.0001220703125};
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++) {
        double x = edges[i];
        for (int step = 0; step < 40; step++) {
            same_as_printf(x);
            same_as_printf(-x);
            x = nextafter(x, 0.0);
        }
        x = edges[i];
        for (int step = 0; step < 40; step++, x = nextafter(x, 2.0))
            same_as_printf(x);
    }
    for (int b = -40; b <= 2; b++) {
        const double p2 = ldexp(1.0, b);
        same_as_printf(p2);
        same_as_printf(nextafter(p2, 0.0));
        same_as_printf(nextafter(p2, 4.0));
    }
    uint64_t state = 987654321;
    for (int i = 0; i < 300000; i++) {
        state = state * 6364136223846793005u + 1442695040888963407u;
        const double u = (double)(state >> 11) * 0x1p-53; /* uniform in [0, 1) */
        same_as_printf(u);
        uint64_t bits =
            (state >> 12) | ((uint64_t)(993 + (state >> 4) % 31) << 52); /* any mantissa, 2^-30..1 */
        double r;
        memcpy(&r, &bits, sizeof r);
        same_as_printf(r);
        char t[CREST_DOUBLE_TEXT];
        crest_format_double(u, t);
        same_as_printf(strtod(t, NULL) + 0.0); /* short decimals read back */
        snprintf(t, sizeof t, "%.6f", u);
        const double short_dec = strtod(t, NULL);
        same_as_printf(short_dec);
        same_as_printf(nextafter(short_dec, 0.0));
        same_as_printf(nextafter(short_dec, 1.0));
    }
}

Test(base, format_double_ignores_the_locale)
{
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "ru_RU.UTF-8"};
    const char *set = NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names && !set; i++)
        set = setlocale(LC_NUMERIC, names[i]);
    if (!set || localeconv()->decimal_point[0] != ',') {
        setlocale(LC_NUMERIC, "C");
        cr_skip_test("no locale with a decimal comma installed");
    }
    char out[CREST_DOUBLE_TEXT];
    crest_format_double(0.125, out);
    const int comma_after = localeconv()->decimal_point[0] == ',';
    setlocale(LC_NUMERIC, "C");
    cr_expect_str_eq(out, "0.125", "in %s", set);
    cr_expect(comma_after, "the host's locale was changed");
}

/* crest_same_bytes against memcmp: every length 0..80, equal texts and a
 * one-byte difference at every position (the word loads overlap differently
 * for each length class). */
Test(base, same_bytes_matches_memcmp)
{
    char a[96], b[96];
    for (size_t n = 0; n <= 80; n++) {
        for (size_t i = 0; i < sizeof a; i++)
            a[i] = b[i] = (char)('A' + (i * 7 + n) % 26);
        cr_assert(crest_same_bytes(a, b, n), "equal texts of %zu bytes", n);
        for (size_t at = 0; at < n; at++) {
            b[at] ^= 0x20;
            cr_assert_not(crest_same_bytes(a, b, n), "%zu bytes, difference at %zu", n, at);
            b[at] ^= 0x20;
        }
        b[n] ^= 0x20; /* a difference past the end does not count */
        cr_assert(crest_same_bytes(a, b, n), "%zu bytes, difference past the end", n);
    }
}
