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

#include "crest/crest_export.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Every keyed-hash domain crest uses, in one table, so that no two draws
 * share a key by accident: X(NAME, key word, use). The key word is an ASCII
 * tag packed into 64 bits; it is the key half that is not the seed (or the
 * whole key when a hash has no seed), so streams under one seed stay
 * independent. Values are part of crest's output: never change one.
 */
#define CREST_KEYHASH_DOMAIN_LIST(X)                                                                         \
    X(U, UINT64_C(0x00752d7473657263), "\"crest-u\" (LE): k1 of the decision draw u; k0 = policy seed")      \
    X(RULE, UINT64_C(0x6372657374727531), "\"crestru1\": k0 of a rule's own key, from its id (k1 = 0)")      \
    X(SYSTEMATIC, UINT64_C(0x63726573742d7379), "\"crest-sy\": k1 of a tier's systematic offset; k0 = seed") \
    X(DUPLICATE_ID, UINT64_C(0x63726573742d6964), "\"crest-id\": k1 of the duplicate-id set; k0 = seed")     \
    X(REGISTRY, UINT64_C(0x7265676973747279), "\"registry\": k0 of the registry's id index (k1 = 0)")        \
    X(SIMULATE, UINT64_C(0x69732d7473657263), "\"crest-si\" (LE): k1 of the simulation's draw; k0 = seed")   \
    X(FOLD, UINT64_C(0x9e3779b97f4a7c15),                                                                    \
      "2^64/phi, XORed with the seed: k1 of the trainer's fold; k0 = seed")

typedef enum crest_keyhash_domain {
#define CREST_KEYHASH_DOMAIN_ENUM(name, key, use) CREST_KEYHASH_##name,
    CREST_KEYHASH_DOMAIN_LIST(CREST_KEYHASH_DOMAIN_ENUM)
#undef CREST_KEYHASH_DOMAIN_ENUM
        CREST_KEYHASH_DOMAIN_COUNT
} crest_keyhash_domain;

/* The key word of each domain, by crest_keyhash_domain (constant-folded). */
static const uint64_t crest_keyhash_keys[CREST_KEYHASH_DOMAIN_COUNT] = {
#define CREST_KEYHASH_DOMAIN_KEY(name, key, use) key,
    CREST_KEYHASH_DOMAIN_LIST(CREST_KEYHASH_DOMAIN_KEY)
#undef CREST_KEYHASH_DOMAIN_KEY
};

/* The key word of domain NAME, e.g. CREST_KEYHASH_KEY(RULE). */
#define CREST_KEYHASH_KEY(name) (crest_keyhash_keys[CREST_KEYHASH_##name])

/* The second key half for u (CREST_KEYHASH_KEY(U)). */
#define CREST_KEYHASH_K1 CREST_KEYHASH_KEY(U)

/* SipHash-2-4 of msg[0..len) under key (k0, k1). */
CREST_API uint64_t crest_keyhash_siphash24(uint64_t k0, uint64_t k1, const void *msg, size_t len);

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
