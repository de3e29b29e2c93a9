/*
 * nkey.h — NATS nkeys (Ed25519 keys in NATS' base32 form) for `crest serve
 * --nats-creds` with an nkey user (a seed file; the server lists the user's
 * public key). Not installed.
 */
#ifndef CREST_SERVE_NKEY_H
#define CREST_SERVE_NKEY_H

#include <stddef.h>
#include <stdint.h>

#define SERVE_NKEY_SEED_LEN 58   /* "SU" + 56 base32 characters */
#define SERVE_NKEY_PUBLIC_LEN 56 /* "U" + 55 */

/* The public key ("U...") of a user seed ("SU...", seed_len characters) into
 * pub. 0, or -1 when the text is not a valid user seed (length, alphabet,
 * kind or checksum). */
int serve_nkey_user_public(const char *seed, size_t seed_len, char pub[SERVE_NKEY_PUBLIC_LEN + 1]);

#define SERVE_NKEY_SIG_LEN 64 /* an Ed25519 signature */

/* The Ed25519 signature of msg (msg_len bytes, e.g. the nonce of a server's
 * INFO) by the user seed (seed_len characters) into sig: 0, or -1 when the
 * text is not a valid user seed. Deterministic (RFC 8032), as libnats'. */
int serve_nkey_sign(const char *seed, size_t seed_len, const uint8_t *msg, size_t msg_len,
                    uint8_t sig[SERVE_NKEY_SIG_LEN]);

/* The user seed of a 32-byte Ed25519 secret (test tools make users with it). */
void serve_nkey_user_seed(const uint8_t secret[32], char seed[SERVE_NKEY_SEED_LEN + 1]);

/* Where a user seed is in text (a seed file, or a credentials file's seed
 * block): *seed points at it, 0; -1 when there is none. */
int serve_nkey_find_seed(const char *text, const char **seed);

#endif
