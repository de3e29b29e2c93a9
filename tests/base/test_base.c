/* test_base.c — the shared number parser: bit-identical to strtod. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_base.h"
#include "crest/crest_keyhash.h"

static void same(const char *s)
{
    char *end;
    const double want_raw = strtod(s, &end);
    const double want = (end == s || *end || !isfinite(want_raw)) ? NAN : want_raw;
    const double got = crest_parse_number(s, strlen(s));
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
                                  "4503599627370497.5"};
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
