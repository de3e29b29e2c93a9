/*
 * test_utf8.c — utf8_invalid_offset against a plain decoder written from
 * RFC 3629 (code point ranges, no overlongs, no surrogates, at most
 * U+10FFFF): every sequence of one to three bytes with a non-ASCII first
 * byte, random four-byte sequences, and each placed at every alignment
 * between ASCII and Chinese text so the 8-byte ASCII skip and the three-byte
 * fast path meet it from every side.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

/*
 * Texts of 0 to 80 bytes (the vector check takes up to 61, in one 64-byte
 * vector of four 16-byte lanes): random runs of ASCII and of valid 2-, 3- and 4-byte
 * characters, so characters straddle every lane and step boundary, then one
 * byte in three texts changed at random (a lead, a continuation, ASCII, an
 * invalid byte) or the text cut inside a character. utf8_invalid_offset, the
 * byte-at-a-time utf8_invalid_offset_scalar and the reference agree on each.
 */
Test(utf8, random_texts_across_the_vector_steps)
{
    static const char *const chars[] = {"a",
                                        "Z9 ",
                                        "\xC2\x80",
                                        "\xDF\xBF",
                                        "\xE4\xB8\xAD",
                                        "\xE0\xA0\x80",
                                        "\xED\x9F\xBF",
                                        "\xEF\xBF\xBF",
                                        "\xF0\x90\x80\x80",
                                        "\xF4\x8F\xBF\xBF",
                                        "\xF3\xA0\x81\x81"};
    static const unsigned char odd[] = {0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xE0, 0xED,
                                        0xF0, 0xF4, 0xF5, 0xFF, 'x',  0xA0};
    uint64_t x = 7;
    size_t valid = 0, invalid = 0;
    for (int t = 0; t < 300000; t++) {
        unsigned char buf[96];
        size_t n = 0;
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const size_t target = (size_t)(x >> 57) % 81;
        while (n < target) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            const char *c = chars[(x >> 40) % (sizeof chars / sizeof *chars)];
            const size_t cl = strlen(c);
            if (n + cl > sizeof buf)
                break;
            memcpy(buf + n, c, cl);
            n += cl;
        }
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        if (n && (x >> 62) == 0) /* a byte changed */
            buf[(x >> 20) % n] = odd[(x >> 8) % sizeof odd];
        else if (n && (x >> 62) == 1) /* cut anywhere */
            n = (size_t)(x >> 20) % n;
        const size_t want = reference_invalid_offset(buf, n);
        const size_t got = utf8_invalid_offset(buf, n), scalar = utf8_invalid_offset_scalar(buf, n);
        if (got != want || scalar != want)
            cr_assert_fail("text %d (%zu bytes): offset %zu (scalar %zu), want %zu", t, n, got, scalar, want);
        valid += want == SIZE_MAX;
        invalid += want != SIZE_MAX;
    }
    cr_assert_gt(valid, 100000);
    cr_assert_gt(invalid, 50000);
}

/*
 * The vector check reads the text and nothing around it: each text of 0 to 64
 * bytes (Chinese, a cut character, a bad byte) ends at the last byte before a
 * page that cannot be read, and starts at the first byte after one. A read
 * past either end faults.
 */
Test(utf8, reads_nothing_outside_the_text)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *map = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(map, MAP_FAILED);
    cr_assert_eq(mprotect(map, page, PROT_NONE), 0);
    cr_assert_eq(mprotect(map + 2 * page, page, PROT_NONE), 0);
    unsigned char *const mid = map + page;
    static const unsigned char zh[] = "\xE7\xBA\xA2\xE8\x91\xA1\xE8\x90\x84\xE9\x85\x92 750";
    size_t checked = 0;
    for (size_t n = 0; n <= 64; n++) {
        unsigned char text[64];
        for (size_t i = 0; i < n; i++)
            text[i] = zh[i % (sizeof zh - 1)];
        for (int variant = 0; variant < 3; variant++) {
            if (variant == 1 && n)
                text[n - 1] = 0xE4; /* a lead with nothing after it */
            if (variant == 2 && n)
                text[n / 2] = 0xFF;
            const size_t want = reference_invalid_offset(text, n);
            memcpy(mid + page - n, text, n); /* ends at the page's end */
            cr_assert_eq(utf8_invalid_offset(mid + page - n, n), want, "%zu bytes at a page's end", n);
            memcpy(mid, text, n); /* starts at the page's start */
            cr_assert_eq(utf8_invalid_offset(mid, n), want, "%zu bytes at a page's start", n);
            checked++;
        }
    }
    cr_assert_eq(checked, 65 * 3);
    munmap(map, 3 * page);
}
