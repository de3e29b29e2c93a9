/*
 * test_utf8.c — utf8_invalid_offset against a plain decoder written from
 * RFC 3629 (code point ranges, no overlongs, no surrogates, at most
 * U+10FFFF): every sequence of one to three bytes with a non-ASCII first
 * byte, random four-byte sequences, and each placed at every alignment
 * between ASCII and Chinese text so the 8-byte ASCII skip and the three-byte
 * fast path meet it from every side.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

#include "utf8.h"

/* The reference: decode one character at a time. */
static size_t reference_invalid_offset(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const unsigned char c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (i + len > n)
            return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += len;
    }
    return SIZE_MAX;
}

static void check(const unsigned char *seq, size_t len)
{
    /* Prefixes of 0..9 bytes (ASCII or a Chinese character), a suffix or none. */
    static const char *const prefixes[] = {"",
                                           "a",
                                           "ab",
                                           "abc",
                                           "abcdefg",
                                           "abcdefgh",
                                           "abcdefghi",
                                           "\xE4\xB8\xAD",
                                           "x\xE4\xB8\xAD",
                                           "\xE4\xB8\xAD\xE6\x96\x87"
                                           "abc"};
    static const char *const suffixes[] = {"", "z", "\xE6\x96\x87", "0123456789"};
    unsigned char buf[64];
    for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes; p++) {
        for (size_t q = 0; q < sizeof suffixes / sizeof *suffixes; q++) {
            const size_t pl = strlen(prefixes[p]), ql = strlen(suffixes[q]);
            memcpy(buf, prefixes[p], pl);
            memcpy(buf + pl, seq, len);
            memcpy(buf + pl + len, suffixes[q], ql);
            const size_t n = pl + len + ql;
            const size_t want = reference_invalid_offset(buf, n), got = utf8_invalid_offset(buf, n);
            if (got != want)
                cr_assert_fail(
                    "bytes %02X %02X %02X %02X (%zu) after '%s', before '%s': offset %zu, want %zu", seq[0],
                    len > 1 ? seq[1] : 0, len > 2 ? seq[2] : 0, len > 3 ? seq[3] : 0, len, prefixes[p],
                    suffixes[q], got, want);
        }
    }
}

Test(utf8, every_short_sequence)
{
    size_t valid = 0, invalid = 0;
    unsigned char seq[3];
    for (unsigned a = 0x80; a < 0x100; a++) {
        seq[0] = (unsigned char)a;
        check(seq, 1);
        for (unsigned b = 0; b < 0x100; b++) {
            seq[1] = (unsigned char)b;
            check(seq, 2);
            /* Three bytes: every third byte for the leads that start one. */
            if (a < 0xE0 || a > 0xEF)
                continue;
            for (unsigned c = 0; c < 0x100; c++) {
                seq[2] = (unsigned char)c;
                check(seq, 3);
                if (reference_invalid_offset(seq, 3) == SIZE_MAX)
                    valid++;
                else
                    invalid++;
            }
        }
    }
    /* Three-byte characters: U+0800..U+FFFF less the 2048 surrogates. */
    cr_assert_eq(valid, 0x10000 - 0x800 - 0x800);
    cr_assert_gt(invalid, 900000);
}

Test(utf8, four_byte_sequences)
{
    uint64_t x = 42;
    unsigned char seq[4];
    for (int i = 0; i < 400000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        seq[0] = (unsigned char)(0xF0 + (x >> 60) % 8);
        for (int k = 1; k < 4; k++)
            seq[k] = (unsigned char)((x >> (8 * k + 8)) & 0xFF);
        if ((x >> 59) & 1) /* half the time, continuation bytes throughout */
            for (int k = 1; k < 4; k++)
                seq[k] = (unsigned char)(0x80 | (seq[k] & 0x3F));
        check(seq, 4);
    }
    /* The edges: U+10000, U+10FFFF, U+110000, an overlong U+FFFF. */
    static const unsigned char edges[][4] = {{0xF0, 0x90, 0x80, 0x80},
                                             {0xF4, 0x8F, 0xBF, 0xBF},
                                             {0xF4, 0x90, 0x80, 0x80},
                                             {0xF0, 0x8F, 0xBF, 0xBF}};
    for (size_t e = 0; e < 4; e++)
        check(edges[e], 4);
    cr_assert_eq(utf8_invalid_offset(edges[0], 4), SIZE_MAX);
    cr_assert_eq(utf8_invalid_offset(edges[2], 4), 0);
}
