/*
 * crest_digest.h — SHA-256 (FIPS 180-4), the fingerprint of a policy and of
 * every file it refers to. The primitive is nettle's (Debian nettle-dev):
 * a small, audited C library with no global state, already a dependency of
 * GnuTLS on every Debian system; crest only wraps it so that callers need
 * neither nettle's headers nor its context type.
 *
 * This is not the keyed draw (crest_keyhash.h): SipHash keys the uniform u,
 * SHA-256 attests what decided. No state, no allocation, thread-safe.
 */
#ifndef CREST_DIGEST_H
#define CREST_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CREST_SHA256_BYTES 32
#define CREST_SHA256_HEX 65 /* 64 lowercase hex digits and a NUL */

/* An incremental SHA-256; opaque storage large enough for nettle's context. */
typedef struct crest_sha256 {
    _Alignas(16) unsigned char opaque[128];
} crest_sha256;

/* Start a digest. */
CREST_API void crest_sha256_init(crest_sha256 *ctx);
/* Add len bytes at data (data may be NULL when len is 0). */
CREST_API void crest_sha256_update(crest_sha256 *ctx, const void *data, size_t len);
/* Finish into out[32]; ctx must be initialised again before reuse. */
CREST_API void crest_sha256_final(crest_sha256 *ctx, uint8_t out[CREST_SHA256_BYTES]);

/* SHA-256 of len bytes at data into out[32]. */
CREST_API void crest_sha256_buf(const void *data, size_t len, uint8_t out[CREST_SHA256_BYTES]);

/* The digest as 64 lowercase hex digits plus NUL into hex[65]. */
CREST_API void crest_sha256_hex(const uint8_t digest[CREST_SHA256_BYTES], char hex[CREST_SHA256_HEX]);

#ifdef __cplusplus
}
#endif
#endif
