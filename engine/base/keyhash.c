/*
 * keyhash.c — SipHash-2-4, written from the specification (Aumasson and
 * Bernstein, "SipHash: a fast short-input PRF", 2012) and checked against its
 * published test vectors in tests/engine/test_keyhash.c.
 */
#include "crest/crest_keyhash.h"

#include <string.h>

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                                                                                             \
    do {                                                                                                     \
        v0 += v1;                                                                                            \
        v1 = ROTL64(v1, 13);                                                                                 \
        v1 ^= v0;                                                                                            \
        v0 = ROTL64(v0, 32);                                                                                 \
        v2 += v3;                                                                                            \
        v3 = ROTL64(v3, 16);                                                                                 \
        v3 ^= v2;                                                                                            \
        v0 += v3;                                                                                            \
        v3 = ROTL64(v3, 21);                                                                                 \
        v3 ^= v0;                                                                                            \
        v2 += v1;                                                                                            \
        v1 = ROTL64(v1, 17);                                                                                 \
        v1 ^= v2;                                                                                            \
        v2 = ROTL64(v2, 32);                                                                                 \
    } while (0)

static inline uint64_t load_le64(const unsigned char *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8); /* one load on little-endian machines */
    return v;
#else
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
#endif
}

static inline uint32_t load_le32(const unsigned char *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
#else
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
#endif
}

/*
 * The last rem (< 8) bytes of a message of len bytes, ending at end, as a
 * little-endian word — with fixed-size loads only: a variable-size copy into
 * a stack word and a load of that word stall on store forwarding.
 */
static inline uint64_t load_tail(const unsigned char *end, size_t rem, size_t len)
{
    if (rem == 0)
        return 0;
    if (len >= 8)
        return load_le64(end - 8) >> (8 * (8 - rem)); /* the message's last 8 bytes */
    const unsigned char *p = end - rem;
    if (rem >= 4) /* two overlapping 4-byte loads */
        return (uint64_t)load_le32(p) | (uint64_t)load_le32(end - 4) << (8 * (rem - 4));
    return (uint64_t)p[0] | (uint64_t)p[rem / 2] << (8 * (rem / 2)) | (uint64_t)p[rem - 1] << (8 * (rem - 1));
}

/* Hot path: called once per declaration. */
uint64_t crest_keyhash_siphash24(uint64_t k0, uint64_t k1, const void *msg, size_t len)
{
    const unsigned char *in = msg;
    uint64_t v0 = UINT64_C(0x736f6d6570736575) ^ k0;
    uint64_t v1 = UINT64_C(0x646f72616e646f6d) ^ k1;
    uint64_t v2 = UINT64_C(0x6c7967656e657261) ^ k0;
    uint64_t v3 = UINT64_C(0x7465646279746573) ^ k1;
    const size_t n_blocks = len / 8;

    for (size_t i = 0; i < n_blocks; i++) {
        uint64_t m = load_le64(in + 8 * i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    /* Last block: remaining bytes, with the message length in the top byte. */
    uint64_t b = load_tail(in + len, len % 8, len) | ((uint64_t)len << 56);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ------------------------------------------------------------ many at once */

/* Vector lanes on x86 with GCC >= 4.9 or clang (target attributes,
 * __builtin_cpu_supports), as csvread.c's scanner. */
#if !defined(CREST_NO_SIMD) && defined(__x86_64__) &&                                                        \
    (defined(__clang__) || (defined(__GNUC__) && (__GNUC__ > 4 || (__GNUC__ == 4 && __GNUC_MINOR__ >= 9))))
#define KEYHASH_X86 1
#include <immintrin.h>
#else
#define KEYHASH_X86 0
#endif

/* The last block of a message: its tail bytes and its length in the top byte. */
static inline uint64_t last_block(const crest_str *m)
{
    const unsigned char *p = (const unsigned char *)m->ptr;
    return (m->len ? load_tail(p + m->len, m->len % 8, m->len) : 0) | ((uint64_t)m->len << 56);
}

#if KEYHASH_X86
/* Four messages of one length, one per 64-bit lane of a 256-bit vector:
 * SIPROUND on vectors, rotations as two shifts and an OR (AVX2 has no
 * 64-bit rotate), by 32 as a shuffle of 32-bit halves. */
#define ROTL4(x, b) _mm256_or_si256(_mm256_slli_epi64((x), (b)), _mm256_srli_epi64((x), 64 - (b)))
#define SIPROUND4                                                                                            \
    do {                                                                                                     \
        v0 = _mm256_add_epi64(v0, v1);                                                                       \
        v1 = ROTL4(v1, 13);                                                                                  \
        v1 = _mm256_xor_si256(v1, v0);                                                                       \
        v0 = _mm256_shuffle_epi32(v0, _MM_SHUFFLE(2, 3, 0, 1));                                              \
        v2 = _mm256_add_epi64(v2, v3);                                                                       \
        v3 = ROTL4(v3, 16);                                                                                  \
        v3 = _mm256_xor_si256(v3, v2);                                                                       \
        v0 = _mm256_add_epi64(v0, v3);                                                                       \
        v3 = ROTL4(v3, 21);                                                                                  \
        v3 = _mm256_xor_si256(v3, v0);                                                                       \
        v2 = _mm256_add_epi64(v2, v1);                                                                       \
        v1 = ROTL4(v1, 17);                                                                                  \
        v1 = _mm256_xor_si256(v1, v2);                                                                       \
        v2 = _mm256_shuffle_epi32(v2, _MM_SHUFFLE(2, 3, 0, 1));                                              \
    } while (0)

__attribute__((target("avx2"))) static void siphash_x4(uint64_t k0, uint64_t k1, const crest_str *m,
                                                       uint64_t *out)
{
    const __m256i vk0 = _mm256_set1_epi64x((long long)k0), vk1 = _mm256_set1_epi64x((long long)k1);
    __m256i v0 = _mm256_xor_si256(_mm256_set1_epi64x(0x736f6d6570736575), vk0);
    __m256i v1 = _mm256_xor_si256(_mm256_set1_epi64x(0x646f72616e646f6d), vk1);
    __m256i v2 = _mm256_xor_si256(_mm256_set1_epi64x(0x6c7967656e657261), vk0);
    __m256i v3 = _mm256_xor_si256(_mm256_set1_epi64x(0x7465646279746573), vk1);
    const size_t len = m[0].len;
    const unsigned char *p0 = (const unsigned char *)m[0].ptr, *p1 = (const unsigned char *)m[1].ptr,
                        *p2 = (const unsigned char *)m[2].ptr, *p3 = (const unsigned char *)m[3].ptr;
    for (size_t at = 0; at + 8 <= len; at += 8) {
        const __m256i w = _mm256_set_epi64x((long long)load_le64(p3 + at), (long long)load_le64(p2 + at),
                                            (long long)load_le64(p1 + at), (long long)load_le64(p0 + at));
        v3 = _mm256_xor_si256(v3, w);
        SIPROUND4;
        SIPROUND4;
        v0 = _mm256_xor_si256(v0, w);
    }
    const __m256i b = _mm256_set_epi64x((long long)last_block(&m[3]), (long long)last_block(&m[2]),
                                        (long long)last_block(&m[1]), (long long)last_block(&m[0]));
    v3 = _mm256_xor_si256(v3, b);
    SIPROUND4;
    SIPROUND4;
    v0 = _mm256_xor_si256(v0, b);
    v2 = _mm256_xor_si256(v2, _mm256_set1_epi64x(0xff));
    SIPROUND4;
    SIPROUND4;
    SIPROUND4;
    SIPROUND4;
    const __m256i h = _mm256_xor_si256(_mm256_xor_si256(v0, v1), _mm256_xor_si256(v2, v3));
    _mm256_storeu_si256((__m256i *)(void *)out, h);
}

/* Eight messages of one length in a 512-bit vector, with AVX-512's rotate. */
#define SIPROUND8                                                                                            \
    do {                                                                                                     \
        v0 = _mm512_add_epi64(v0, v1);                                                                       \
        v1 = _mm512_rol_epi64(v1, 13);                                                                       \
        v1 = _mm512_xor_si512(v1, v0);                                                                       \
        v0 = _mm512_rol_epi64(v0, 32);                                                                       \
        v2 = _mm512_add_epi64(v2, v3);                                                                       \
        v3 = _mm512_rol_epi64(v3, 16);                                                                       \
        v3 = _mm512_xor_si512(v3, v2);                                                                       \
        v0 = _mm512_add_epi64(v0, v3);                                                                       \
        v3 = _mm512_rol_epi64(v3, 21);                                                                       \
        v3 = _mm512_xor_si512(v3, v0);                                                                       \
        v2 = _mm512_add_epi64(v2, v1);                                                                       \
        v1 = _mm512_rol_epi64(v1, 17);                                                                       \
        v1 = _mm512_xor_si512(v1, v2);                                                                       \
        v2 = _mm512_rol_epi64(v2, 32);                                                                       \
    } while (0)

/* Eight words into the lanes of a vector, a to h from the lowest, through
 * registers (eight stores and one wide load would stall on store forwarding). */
__attribute__((target("avx512f"))) static inline __m512i
words8(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e, uint64_t f, uint64_t g, uint64_t h)
{
    const __m256i lo = _mm256_set_epi64x((long long)d, (long long)c, (long long)b, (long long)a);
    const __m256i hi = _mm256_set_epi64x((long long)h, (long long)g, (long long)f, (long long)e);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

__attribute__((target("avx512f"))) static void siphash_x8(uint64_t k0, uint64_t k1, const crest_str *m,
                                                          uint64_t *out)
{
    const __m512i vk0 = _mm512_set1_epi64((long long)k0), vk1 = _mm512_set1_epi64((long long)k1);
    __m512i v0 = _mm512_xor_si512(_mm512_set1_epi64(0x736f6d6570736575), vk0);
    __m512i v1 = _mm512_xor_si512(_mm512_set1_epi64(0x646f72616e646f6d), vk1);
    __m512i v2 = _mm512_xor_si512(_mm512_set1_epi64(0x6c7967656e657261), vk0);
    __m512i v3 = _mm512_xor_si512(_mm512_set1_epi64(0x7465646279746573), vk1);
    const size_t len = m[0].len;
    for (size_t at = 0; at + 8 <= len; at += 8) {
        const __m512i w = words8(
            load_le64((const unsigned char *)m[0].ptr + at), load_le64((const unsigned char *)m[1].ptr + at),
            load_le64((const unsigned char *)m[2].ptr + at), load_le64((const unsigned char *)m[3].ptr + at),
            load_le64((const unsigned char *)m[4].ptr + at), load_le64((const unsigned char *)m[5].ptr + at),
            load_le64((const unsigned char *)m[6].ptr + at), load_le64((const unsigned char *)m[7].ptr + at));
        v3 = _mm512_xor_si512(v3, w);
        SIPROUND8;
        SIPROUND8;
        v0 = _mm512_xor_si512(v0, w);
    }
    const __m512i b = words8(last_block(&m[0]), last_block(&m[1]), last_block(&m[2]), last_block(&m[3]),
                             last_block(&m[4]), last_block(&m[5]), last_block(&m[6]), last_block(&m[7]));
    v3 = _mm512_xor_si512(v3, b);
    SIPROUND8;
    SIPROUND8;
    v0 = _mm512_xor_si512(v0, b);
    v2 = _mm512_xor_si512(v2, _mm512_set1_epi64(0xff));
    SIPROUND8;
    SIPROUND8;
    SIPROUND8;
    SIPROUND8;
    _mm512_storeu_si512(out, _mm512_xor_si512(_mm512_xor_si512(v0, v1), _mm512_xor_si512(v2, v3)));
}
#endif

/* The lanes this build and CPU have (1, 4, 8), and the most in use. */
static int lanes_best(void)
{
#if KEYHASH_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return 8;
    if (__builtin_cpu_supports("avx2"))
        return 4;
#endif
    return 1;
}

static int lanes_in_use = -1; /* -1: not yet chosen */

int crest_keyhash_set_lanes(int lanes)
{
    const int best = lanes_best();
    const int use = lanes <= 0 || lanes >= best ? best : lanes >= 4 && best >= 4 ? 4 : 1;
    __atomic_store_n(&lanes_in_use, use, __ATOMIC_RELAXED);
    return use;
}

/* How many of m[0..n) (at most max) have m[0]'s length. */
static inline size_t same_length(const crest_str *m, size_t n, size_t max)
{
    size_t k = 1;
    while (k < n && k < max && m[k].len == m[0].len)
        k++;
    return k;
}

/* lanes messages from m[0..n) (n < lanes, all of m[0]'s length), padded with
 * m[0] into pad, hashed at once; the first n hashes to out. */
static void hash_padded(int lanes, uint64_t k0, uint64_t k1, const crest_str *m, size_t n, uint64_t *out)
{
    crest_str pad[8];
    uint64_t h[8];
    for (int i = 0; i < lanes; i++)
        pad[i] = m[(size_t)i < n ? (size_t)i : 0];
#if KEYHASH_X86
    if (lanes == 8)
        siphash_x8(k0, k1, pad, h);
    else
        siphash_x4(k0, k1, pad, h);
#endif
    memcpy(out, h, n * sizeof *out);
}

void crest_keyhash_siphash24_many(uint64_t k0, uint64_t k1, const crest_str *msg, size_t n, uint64_t *out)
{
    int lanes = __atomic_load_n(&lanes_in_use, __ATOMIC_RELAXED);
    if (lanes < 0) { /* every thread finds the same value */
        lanes = lanes_best();
        __atomic_store_n(&lanes_in_use, lanes, __ATOMIC_RELAXED);
    }
    size_t i = 0;
#if KEYHASH_X86
    /* Runs of one length fill the lanes; a short run (two or more) takes a
     * vector's lanes too, padded with a copy of its first message. */
    while (lanes >= 4 && i + 1 < n) {
        const size_t run = same_length(msg + i, n - i, (size_t)lanes);
        if (run == 8) {
            siphash_x8(k0, k1, msg + i, out + i);
        } else if (run == 4) {
            siphash_x4(k0, k1, msg + i, out + i);
        } else if (run >= 2) {
            hash_padded(lanes == 8 && run > 4 ? 8 : 4, k0, k1, msg + i, run, out + i);
        } else {
            out[i] = crest_keyhash_siphash24(k0, k1, msg[i].ptr, msg[i].len);
        }
        i += run;
    }
#else
    (void)lanes;
#endif
    for (; i < n; i++)
        out[i] = crest_keyhash_siphash24(k0, k1, msg[i].ptr, msg[i].len);
}
