/*
 * fnv.h — crest's one unkeyed hash for in-memory tables: FNV-1a over bytes,
 * with an optional splitmix64 finaliser when the low bits index a table whose
 * keys are alike. Not for anything an adversary picks to collide on purpose
 * or that must be stable across versions: keyed draws use crest_keyhash.h.
 * Internal to crest's libraries (not installed).
 */
#ifndef CREST_FNV_H
#define CREST_FNV_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a (64-bit) of p[0..n). */
static inline uint64_t crest_fnv1a(const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * UINT64_C(1099511628211);
    return h;
}

/* splitmix64's finaliser: every input bit reaches the low bits. */
static inline uint64_t crest_mix64(uint64_t h)
{
    h ^= h >> 30;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 27;
    h *= UINT64_C(0x94d049bb133111eb);
    h ^= h >> 31;
    return h;
}

#endif
