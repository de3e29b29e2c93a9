/* utf8.c — see utf8.h. Short texts (a row's non-ASCII stretch) are checked
 * in one 64-byte vector with AVX-512BW where the CPU has it, by the lookup method of
 * Keiser and Lemire ("Validating UTF-8 in less than one instruction per
 * byte", 2021: three 16-entry tables of the error classes a pair of bytes can
 * show); the byte-at-a-time reader finds the offset when a text is not valid,
 * and takes longer texts: ASCII runs skipped 8 bytes at a time and common
 * three-byte characters in one test. */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define UTF8_X86_DISPATCH 1
#else
#define UTF8_X86_DISPATCH 0
#endif

size_t utf8_invalid_offset_scalar(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & UINT64_C(0x8080808080808080))) {
                i += 8;
                continue;
            }
        }
        const unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (i + 3 <= n) {
            /* The common case of Chinese text: E1..EC or EE..EF and two
             * continuation bytes (E0 and ED restrict the second byte). */
            uint32_t w = (uint32_t)c | (uint32_t)s[i + 1] << 8 | (uint32_t)s[i + 2] << 16;
            if ((w & 0xC0C0F0u) == 0x8080E0u && c != 0xE0 && c != 0xED) {
                i += 3;
                continue;
            }
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return i;
        }
        if (i + need >= n)
            return i;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        i += need + 1;
    }
    return SIZE_MAX;
}

#if UTF8_X86_DISPATCH
/* The error classes of a byte pair (previous byte, byte): each table gives the
 * classes its nibble allows, a pair is bad when all three agree on one. A
 * continuation after a continuation is TWO_CONTS, which is right exactly for
 * the third and fourth bytes of a character (checked apart). */
enum {
    TOO_SHORT = 1 << 0,  /* a lead not followed by a continuation */
    TOO_LONG = 1 << 1,   /* a continuation after ASCII */
    OVERLONG_3 = 1 << 2, /* E0 80..9F */
    TOO_LARGE = 1 << 3,  /* F4 90..BF, F5.. */
    SURROGATE = 1 << 4,  /* ED A0..BF */
    OVERLONG_2 = 1 << 5, /* C0, C1 */
    TOO_LARGE_1000 = 1 << 6,
    OVERLONG_4 = 1 << 6, /* F0 80..8F */
    TWO_CONTS = 1 << 7,
    CARRY = TOO_SHORT | TOO_LONG | TWO_CONTS
};

static const unsigned char byte_1_high[16] = {TOO_LONG,
                                              TOO_LONG,
                                              TOO_LONG,
                                              TOO_LONG,
                                              TOO_LONG,
                                              TOO_LONG,
                                              TOO_LONG,
                                              TOO_LONG, /* ASCII */
                                              TWO_CONTS,
                                              TWO_CONTS,
                                              TWO_CONTS,
                                              TWO_CONTS,                          /* continuation */
                                              TOO_SHORT | OVERLONG_2,             /* C0..CF */
                                              TOO_SHORT,                          /* D0..DF */
                                              TOO_SHORT | OVERLONG_3 | SURROGATE, /* E0..EF */
                                              TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 |
                                                  OVERLONG_4 /* F0..FF */};
static const unsigned char byte_1_low[16] = {CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4,
                                             CARRY | OVERLONG_2,
                                             CARRY,
                                             CARRY,
                                             CARRY | TOO_LARGE,
                                             CARRY | TOO_LARGE | TOO_LARGE_1000,
                                             CARRY | TOO_LARGE | TOO_LARGE_1000,
                                             CARRY | TOO_LARGE | TOO_LARGE_1000,
                                             CARRY | TOO_LARGE | TOO_LARGE_1000,
                                             CARRY | TOO_LARGE | TOO_LARGE_1000,
                                             CARRY | TOO_LARGE | TOO_LARGE_1000,
                                             CARRY | TOO_LARGE | TOO_LARGE_1000,
                                             CARRY | TOO_LARGE | TOO_LARGE_1000,
                                             CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE,
                                             CARRY | TOO_LARGE | TOO_LARGE_1000,
                                             CARRY | TOO_LARGE | TOO_LARGE_1000};
static const unsigned char byte_2_high[16] = {
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,                                                                    /* ASCII */
    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4, /* 80..8F */
    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE,                   /* 90..9F */
    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,                    /* A0..AF */
    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,                    /* B0..BF */
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT /* a lead */};

/* The longest text the vector check takes: three zero lanes must follow it. */
#define UTF8_SHORT_MAX 61

/* 1 when s[0..n) (n <= UTF8_SHORT_MAX) is valid UTF-8: one 64-byte vector,
 * no branch on the bytes. The masked load reads s[0..n) only (the lanes past
 * it are zeros, and a masked-off lane never faults); zeros are ASCII to the
 * tables, so a character cut short at the end is a lead followed by ASCII
 * (TOO_SHORT, or a third or fourth byte missing), and the bytes before s are
 * ASCII as for utf8_invalid_offset_scalar. */
__attribute__((target("avx512f,avx512bw"))) static int valid_short_avx512(const unsigned char *s, size_t n)
{
    const __m512i in = _mm512_maskz_loadu_epi8((UINT64_C(1) << n) - 1, s);
    /* The bytes 1, 2 and 3 places before each byte: each 16-byte lane with
     * the lane before it (zeros before the first). */
    const __m512i before = _mm512_maskz_shuffle_i64x2(0xFC, in, in, _MM_SHUFFLE(2, 1, 0, 0));
    const __m512i prev1 = _mm512_alignr_epi8(in, before, 15);
    const __m512i prev2 = _mm512_alignr_epi8(in, before, 14);
    const __m512i prev3 = _mm512_alignr_epi8(in, before, 13);
    const __m512i t1h = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)byte_1_high));
    const __m512i t1l = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)byte_1_low));
    const __m512i t2h = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)byte_2_high));
    const __m512i nib = _mm512_set1_epi8(0x0F);
    const __m512i b1h = _mm512_shuffle_epi8(t1h, _mm512_and_si512(_mm512_srli_epi16(prev1, 4), nib));
    const __m512i b1l = _mm512_shuffle_epi8(t1l, _mm512_and_si512(prev1, nib));
    const __m512i b2h = _mm512_shuffle_epi8(t2h, _mm512_and_si512(_mm512_srli_epi16(in, 4), nib));
    const __m512i special = _mm512_and_si512(_mm512_and_si512(b1h, b1l), b2h);
    /* A third or fourth byte of a character: E0.. two before, F0.. three before. */
    const __m512i third = _mm512_subs_epu8(prev2, _mm512_set1_epi8((char)(0xE0 - 0x80)));
    const __m512i fourth = _mm512_subs_epu8(prev3, _mm512_set1_epi8((char)(0xF0 - 0x80)));
    const __m512i must = _mm512_and_si512(_mm512_or_si512(third, fourth), _mm512_set1_epi8((char)0x80));
    const __m512i err = _mm512_xor_si512(must, special);
    return _mm512_test_epi8_mask(err, err) == 0;
}

static int have_avx512bw(void)
{
    static int known = -1; /* the same answer from every thread: a benign race */
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (k < 0) {
        __builtin_cpu_init();
        k = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k;
}
#endif

size_t utf8_invalid_offset(const unsigned char *s, size_t n)
{
#if UTF8_X86_DISPATCH
    if (n <= UTF8_SHORT_MAX && have_avx512bw() && valid_short_avx512(s, n))
        return SIZE_MAX;
#endif
    return utf8_invalid_offset_scalar(s, n);
}
