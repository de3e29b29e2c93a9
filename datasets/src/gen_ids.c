/*
 * gen_ids.c — unified social credit codes (GB 32100-2015): construction of
 * unique, valid codes for generated enterprises and the validator exported in
 * crest_gen.h. The 9-character organisation code embedded at positions 9..17
 * carries its own GB 11714 check character, which is also produced and checked.
 */
#include <string.h>

#include "gen_internal.h"

/* The 31 characters allowed in a USCC (no I, O, S, V, Z), in value order. */
static const char uscc_chars[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

static int uscc_value(char c)
{
    const char *p = c ? strchr(uscc_chars, c) : NULL;
    return p ? (int)(p - uscc_chars) : -1;
}

/* GB 11714 value of an organisation code character: digits 0-9, A=10 .. Z=35. */
static int org_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return -1;
}

/* Check character of an 8-character organisation code body, or 0 on bad input. */
static char org_check(const char *body8)
{
    static const int w[8] = {3, 7, 9, 10, 5, 8, 4, 2};
    int sum = 0;
    for (int i = 0; i < 8; i++) {
        int v = org_value(body8[i]);
        if (v < 0)
            return 0;
        sum += v * w[i];
    }
    int c = 11 - sum % 11;
    return c == 10 ? 'X' : c == 11 ? '0' : (char)('0' + c);
}

/* USCC check character over the first 17 characters, or 0 on bad input.
 * Weights are 3^i mod 31. */
static char uscc_check(const char *s17)
{
    int sum = 0, w = 1;
    for (int i = 0; i < 17; i++) {
        int v = uscc_value(s17[i]);
        if (v < 0)
            return 0;
        sum += v * w;
        w = (w * 3) % 31;
    }
    return uscc_chars[(31 - sum % 31) % 31];
}

void gen_uscc_make(uint64_t seed, uint32_t serial, char out[18])
{
    /* An affine bijection of [0, 31^6) keeps codes unique per serial while
     * making consecutive serials look unrelated. 31^6 = 887,503,681. */
    const uint64_t m = 887503681ULL;
    uint64_t x = seed;
    uint64_t mult = (gen_splitmix64(&x) % (m - 2)) + 2;
    while (mult % 31 == 0)
        mult++;
    uint64_t add = gen_splitmix64(&x) % m;
    uint64_t v = ((uint64_t)serial * mult + add) % m;
    uint64_t h = x ^ serial;
    const char *admin = gen_admin_codes[gen_splitmix64(&h) % gen_n_admin_codes];

    out[0] = '9'; /* registered by market regulation */
    out[1] = '1'; /* enterprise */
    memcpy(out + 2, admin, 6);
    out[8] = 'M'; /* "MA" prefix of organisation codes issued since 2015 */
    out[9] = 'A';
    for (int i = 15; i >= 10; i--) {
        out[i] = uscc_chars[v % 31];
        v /= 31;
    }
    out[16] = org_check(out + 8);
    out[17] = uscc_check(out);
}

int crest_gen_uscc_valid(const char *code, size_t len)
{
    if (!code || len != 18)
        return 0;
    for (size_t i = 0; i < 18; i++)
        if (uscc_value(code[i]) < 0)
            return 0;
    if (org_check(code + 8) != code[16])
        return 0;
    return uscc_check(code) == code[17];
}
