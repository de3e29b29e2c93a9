/* test_digest.c — SHA-256 (nettle) against the FIPS 180-4 examples, in one
 * call and in pieces; and the bounded excerpt for messages. */
#include <criterion/criterion.h>
#include <string.h>

#include "crest/crest_digest.h"
#include "crest/crest_file.h"

static void hex_of(const char *msg, char hex[65])
{
    uint8_t d[32];
    crest_sha256_buf(msg, strlen(msg), d);
    crest_sha256_hex(d, hex);
}

Test(digest, fips_180_examples)
{
    char hex[65];
    hex_of("abc", hex);
    cr_expect_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hex_of("", hex);
    cr_expect_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex);
    cr_expect_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(digest, pieces_equal_one_call)
{
    const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    crest_sha256 ctx;
    crest_sha256_init(&ctx);
    for (size_t i = 0; i < strlen(msg); i += 7)
        crest_sha256_update(&ctx, msg + i, strlen(msg) - i < 7 ? strlen(msg) - i : 7);
    uint8_t a[32], b[32];
    crest_sha256_final(&ctx, a);
    crest_sha256_buf(msg, strlen(msg), b);
    cr_expect_eq(memcmp(a, b, 32), 0);
}

Test(digest, excerpt_is_bounded_and_escaped)
{
    char buf[64];
    cr_expect_str_eq(crest_excerpt(buf, sizeof buf, "a\x1b[2Jb", 6, 40), "a\\x1b[2Jb");
    cr_expect_str_eq(crest_excerpt(buf, sizeof buf, "abcdefgh", 8, 3), "abc\xE2\x80\xA6");
    cr_expect_str_eq(crest_excerpt(buf, sizeof buf, "高", strlen("高"), 40), "高");
}
