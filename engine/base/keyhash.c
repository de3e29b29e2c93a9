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
