/*
 * digest.c — SHA-256 through nettle; see crest_digest.h. Only this file
 * includes nettle's header, so the opaque context's size is checked here.
 */
#include "crest/crest_digest.h"

#include <nettle/sha2.h>

_Static_assert(sizeof(struct sha256_ctx) <= sizeof(((crest_sha256 *)0)->opaque),
               "crest_sha256 too small for nettle's sha256_ctx");

void crest_sha256_init(crest_sha256 *ctx)
{
    sha256_init((struct sha256_ctx *)(void *)ctx->opaque);
}

void crest_sha256_update(crest_sha256 *ctx, const void *data, size_t len)
{
    if (len)
        sha256_update((struct sha256_ctx *)(void *)ctx->opaque, len, data);
}

void crest_sha256_final(crest_sha256 *ctx, uint8_t out[CREST_SHA256_BYTES])
{
    sha256_digest((struct sha256_ctx *)(void *)ctx->opaque, SHA256_DIGEST_SIZE, out);
}

void crest_sha256_buf(const void *data, size_t len, uint8_t out[CREST_SHA256_BYTES])
{
    crest_sha256 ctx;
    crest_sha256_init(&ctx);
    crest_sha256_update(&ctx, data, len);
    crest_sha256_final(&ctx, out);
}

void crest_sha256_hex(const uint8_t digest[CREST_SHA256_BYTES], char hex[CREST_SHA256_HEX])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < CREST_SHA256_BYTES; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';
}
