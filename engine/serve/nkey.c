/*
 * nkey.c — NATS nkeys for user authentication (see nkey.h): the public key
 * of a user seed, and a new user seed. An nkey is base32 (RFC 4648 alphabet,
 * no padding) of a prefix byte or two, the raw Ed25519 key, and a CRC-16
 * (XMODEM, little-endian) of what precedes it; a seed's two prefix bytes say
 * "seed" and the key's kind ('S' then 'U' for a user). Ed25519 comes from
 * nettle (already crest's digest library), and so does the signature of the
 * server's nonce: crest signs it itself (natsOptions_SetNKey) because libnats
 * before 3.8 drops a signature whose first byte is zero (see serve.c).
 */
#include "nkey.h"

#include <nettle/eddsa.h>
#include <stdio.h>
#include <string.h>

enum {
    PREFIX_SEED = 18 << 3, /* 'S' */
    PREFIX_USER = 20 << 3, /* 'U' */
};

static const char B32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static uint16_t crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

/* base32 of n bytes into out (room for 8 * n / 5 + 2); returns the length. */
static size_t b32_encode(const uint8_t *p, size_t n, char *out)
{
    size_t k = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | p[i];
        bits += 8;
        while (bits >= 5) {
            out[k++] = B32[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[k++] = B32[(acc << (5 - bits)) & 31];
    out[k] = '\0';
    return k;
}

/* base32 text (len characters) into out (cap bytes); the byte count, or -1. */
static int b32_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
    size_t k = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        const char *at = memchr(B32, s[i], 32);
        if (!at || !s[i])
            return -1;
        acc = (acc << 5) | (unsigned)(at - B32);
        bits += 5;
        if (bits >= 8) {
            if (k == cap)
                return -1;
            out[k++] = (uint8_t)(acc >> (bits - 8));
            bits -= 8;
        }
    }
    return (int)k;
}

/* prefix bytes + key + CRC, as base32. */
static void encode(const uint8_t *prefix, size_t n_prefix, const uint8_t key[32], char *out)
{
    uint8_t raw[2 + 32 + 2];
    memcpy(raw, prefix, n_prefix);
    memcpy(raw + n_prefix, key, 32);
    const uint16_t crc = crc16(raw, n_prefix + 32);
    raw[n_prefix + 32] = (uint8_t)(crc & 0xff);
    raw[n_prefix + 33] = (uint8_t)(crc >> 8);
    b32_encode(raw, n_prefix + 34, out);
}

/* The 32-byte Ed25519 secret of a user seed into secret: 0, or -1 when the
 * text is not a valid user seed. */
static int user_secret(const char *seed, size_t seed_len, uint8_t secret[32])
{
    uint8_t raw[40];
    int rc = -1;
    if (seed_len == SERVE_NKEY_SEED_LEN && b32_decode(seed, seed_len, raw, sizeof raw) == 36) {
        const uint16_t crc = (uint16_t)(raw[34] | raw[35] << 8);
        const unsigned kind = ((raw[0] & 7u) << 5) | ((raw[1] & 0xf8u) >> 3);
        if (crc16(raw, 34) == crc && (raw[0] & 0xf8u) == PREFIX_SEED && kind == PREFIX_USER) {
            memcpy(secret, raw + 2, 32);
            rc = 0;
        }
    }
    memset(raw, 0, sizeof raw);
    return rc;
}

int serve_nkey_user_public(const char *seed, size_t seed_len, char pub[SERVE_NKEY_PUBLIC_LEN + 1])
{
    uint8_t secret[32], key[32];
    if (user_secret(seed, seed_len, secret) != 0)
        return -1;
    ed25519_sha512_public_key(key, secret);
    memset(secret, 0, sizeof secret);
    const uint8_t prefix = PREFIX_USER;
    encode(&prefix, 1, key, pub);
    return 0;
}

int serve_nkey_sign(const char *seed, size_t seed_len, const uint8_t *msg, size_t msg_len,
                    uint8_t sig[SERVE_NKEY_SIG_LEN])
{
    uint8_t secret[32], key[32];
    if (user_secret(seed, seed_len, secret) != 0)
        return -1;
    ed25519_sha512_public_key(key, secret);
    ed25519_sha512_sign(key, secret, msg_len, msg, sig);
    memset(secret, 0, sizeof secret);
    return 0;
}

void serve_nkey_user_seed(const uint8_t secret[32], char seed[SERVE_NKEY_SEED_LEN + 1])
{
    const uint8_t prefix[2] = {PREFIX_SEED | PREFIX_USER >> 5, (PREFIX_USER & 31) << 3};
    encode(prefix, 2, secret, seed);
}

int serve_nkey_find_seed(const char *text, const char **seed)
{
    /* The seed is a word of SERVE_NKEY_SEED_LEN base32 characters beginning "SU":
     * alone in a file, or between the "NKEY SEED" lines of a credentials file. */
    for (const char *p = text; (p = strstr(p, "SU")) != NULL; p++) {
        if (p > text && memchr(B32, p[-1], 32))
            continue;
        size_t n = strspn(p, B32);
        if (n == SERVE_NKEY_SEED_LEN) {
            *seed = p;
            return 0;
        }
    }
    return -1;
}
