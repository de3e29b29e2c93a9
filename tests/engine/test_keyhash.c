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
