/*
 * crest_keyhash.h — the keyed hash behind every draw crest makes.
 *
 * A declaration's uniform u depends only on (policy seed, decl_id): it is
 * SipHash-2-4 (Aumasson & Bernstein, 2012) of the decl_id bytes under the
 * 128-bit key k0 = seed, k1 = CREST_KEYHASH_K1 (both little-endian), and
 * u = (hash >> 11) * 2^-53, a double in [0, 1) with 53 random bits.
 * Other draws (a rule's forcing probability, say) use a different k1 so that
 * streams are independent. No state, no allocation, thread-safe.
 */
#ifndef CREST_KEYHASH_H
#define CREST_KEYHASH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "crest-u\0" as a little-endian 64-bit word: the second key half for u. */
#define CREST_KEYHASH_K1 UINT64_C(0x00752d7473657263)

/* SipHash-2-4 of msg[0..len) under key (k0, k1). */
uint64_t crest_keyhash_siphash24(uint64_t k0, uint64_t k1, const void *msg, size_t len);

/* Map a 64-bit hash to a double in [0, 1) using its top 53 bits. */
static inline double crest_keyhash_to_unit(uint64_t h)
{
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

/* The decision draw: u = to_unit(siphash24(seed, CREST_KEYHASH_K1, id)). */
static inline double crest_keyhash_uniform(uint64_t seed, const void *id, size_t id_len)
{
    return crest_keyhash_to_unit(crest_keyhash_siphash24(seed, CREST_KEYHASH_K1, id, id_len));
}

#ifdef __cplusplus
}
#endif
#endif
