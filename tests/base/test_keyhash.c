/* test_keyhash.c — SipHash-2-4 against the reference vectors; uniformity of u. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

#include "crest/crest_keyhash.h"

/* Reference vectors (SipHash paper, appendix / reference implementation):
 * key = 00 01 .. 0f, message = 00 01 .. (len-1), output little-endian. */
static const uint64_t expected[] = {
    UINT64_C(0x726fdb47dd0e0e31), UINT64_C(0x74f839c593dc67fd), UINT64_C(0x0d6c8009d9a94f5a),
    UINT64_C(0x85676696d7fb7e2d), UINT64_C(0xcf2794e0277187b7), UINT64_C(0x18765564cd99a68d),
    UINT64_C(0xcbc9466e58fee3ce), UINT64_C(0xab0200f58b01d137), UINT64_C(0x93f5f5799a932462),
};

Test(keyhash, reference_vectors)
{
    const uint64_t k0 = UINT64_C(0x0706050403020100), k1 = UINT64_C(0x0f0e0d0c0b0a0908);
    unsigned char msg[16];
    for (int i = 0; i < 16; i++)
        msg[i] = (unsigned char)i;
    for (size_t len = 0; len < sizeof expected / sizeof *expected; len++)
        cr_expect_eq(crest_keyhash_siphash24(k0, k1, msg, len), expected[len], "length %zu", len);
}

/* SipHash-2-4 written the plain way (the tail assembled byte by byte), to
 * check the library's word loads on every length and alignment. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define ROUND                                                                                                \
    (v0 += v1, v1 = ROTL(v1, 13), v1 ^= v0, v0 = ROTL(v0, 32), v2 += v3, v3 = ROTL(v3, 16), v3 ^= v2,        \
     v0 += v3, v3 = ROTL(v3, 21), v3 ^= v0, v2 += v1, v1 = ROTL(v1, 17), v1 ^= v2, v2 = ROTL(v2, 32))
static uint64_t plain_siphash(uint64_t k0, uint64_t k1, const unsigned char *m, size_t len)
{
    uint64_t v0 = UINT64_C(0x736f6d6570736575) ^ k0, v1 = UINT64_C(0x646f72616e646f6d) ^ k1;
    uint64_t v2 = UINT64_C(0x6c7967656e657261) ^ k0, v3 = UINT64_C(0x7465646279746573) ^ k1;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = 0;
        for (int k = 7; k >= 0; k--)
            w = w << 8 | m[i + (size_t)k];
        v3 ^= w, ROUND, ROUND, v0 ^= w;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t k = 0; i + k < len; k++)
        b |= (uint64_t)m[i + k] << (8 * k);
    v3 ^= b, ROUND, ROUND, v0 ^= b;
    v2 ^= 0xff, ROUND, ROUND, ROUND, ROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

Test(keyhash, every_length_and_alignment)
{
    unsigned char buf[160];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 37 + 11);
    const uint64_t keys[][2] = {
        {0, 0}, {UINT64_C(20211101), UINT64_C(0x9e3779b97f4a7c15)}, {~UINT64_C(0), 42}};
    for (size_t k = 0; k < 3; k++)
        for (size_t off = 0; off < 8; off++)
            for (size_t len = 0; len <= 100; len++)
                cr_assert_eq(crest_keyhash_siphash24(keys[k][0], keys[k][1], buf + off, len),
                             plain_siphash(keys[k][0], keys[k][1], buf + off, len),
                             "key %zu, offset %zu, length %zu", k, off, len);
}

Test(keyhash, unit_interval)
{
    cr_expect_eq(crest_keyhash_to_unit(0), 0.0);
    cr_expect_lt(crest_keyhash_to_unit(UINT64_MAX), 1.0);
    cr_expect_gt(crest_keyhash_to_unit(UINT64_MAX), 0.9999999999);
}

Test(keyhash, seed_and_id_change_u)
{
    double a = crest_keyhash_uniform(1, "D1", 2);
    cr_expect_eq(a, crest_keyhash_uniform(1, "D1", 2), "deterministic");
    cr_expect_neq(a, crest_keyhash_uniform(2, "D1", 2), "seed matters");
    cr_expect_neq(a, crest_keyhash_uniform(1, "D2", 2), "id matters");
}

/* Chi-square goodness of fit of u over 100 bins for 1M sequential ids: the
 * ids look nothing like random strings, which is exactly the case to test. */
Test(keyhash, uniform_chi_square)
{
    enum { N = 1000000, BINS = 100 };
    static unsigned counts[BINS];
    const uint64_t seed = 20211101;
    printf("keyhash chi-square: seed %llu\n", (unsigned long long)seed);
    for (int i = 0; i < N; i++) {
        char id[32];
        int n = snprintf(id, sizeof id, "2233202401%08d", i);
        double u = crest_keyhash_uniform(seed, id, (size_t)n);
        cr_assert(u >= 0.0 && u < 1.0);
        counts[(int)(u * BINS)]++;
    }
    double chi2 = 0;
    for (int b = 0; b < BINS; b++) {
        double d = counts[b] - (double)N / BINS;
        chi2 += d * d / ((double)N / BINS);
    }
    /* 99 degrees of freedom: P(chi2 > 160) < 1e-4. */
    cr_expect_lt(chi2, 160.0, "chi2 = %f", chi2);
}

Test(keyhash, one_table_of_distinct_domain_keys)
{
    /* The values that decided every past run: a change would change decisions. */
    cr_expect_eq(CREST_KEYHASH_K1, UINT64_C(0x00752d7473657263));
    cr_expect_eq(CREST_KEYHASH_KEY(RULE), UINT64_C(0x6372657374727531));
    cr_expect_eq(CREST_KEYHASH_KEY(SYSTEMATIC), UINT64_C(0x63726573742d7379));
    cr_expect_eq(CREST_KEYHASH_KEY(DUPLICATE_ID), UINT64_C(0x63726573742d6964));
    cr_expect_eq(CREST_KEYHASH_KEY(REGISTRY), UINT64_C(0x7265676973747279));
    cr_expect_eq(CREST_KEYHASH_KEY(SIMULATE), UINT64_C(0x69732d7473657263));
    cr_expect_eq(CREST_KEYHASH_KEY(FOLD), UINT64_C(0x9e3779b97f4a7c15));
    for (int i = 0; i < CREST_KEYHASH_DOMAIN_COUNT; i++)
        for (int j = i + 1; j < CREST_KEYHASH_DOMAIN_COUNT; j++)
            cr_expect_neq(crest_keyhash_keys[i], crest_keyhash_keys[j], "domains %d and %d share a key", i,
                          j);
}
