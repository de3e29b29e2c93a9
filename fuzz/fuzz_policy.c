/*
 * fuzz_policy.c — libFuzzer target for the policy parser: any bytes go to
 * crest_policy_parse; an accepted policy must describe itself, and its
 * canonical description must parse again to the same hash (the hash covers
 * the effective settings only). Every tier lookup must stay in range.
 */
#include <string.h>

#include "fuzz_common.h"

/*
 * Known issue (reported): the canonical form of a policy with [rules] or [model]
 * prints the loaded file's hash as "criteria_hash = ..." / "file_hash = ...",
 * keys the parser refuses. Until the parser accepts (and checks) them, or the
 * canonical form prints them as comments, drop those lines before the round
 * trip; the re-parse loads the same files, so the hash still has to match.
 * Build with -DCREST_FUZZ_NO_KNOWN_FILTERS to check the issue itself.
 */
/* Both issues the filters stepped around are fixed (canonical numbers round-trip
 * exactly; file hashes are comments): the strict checks run by default. */
#ifndef CREST_FUZZ_KNOWN_FILTERS
#define CREST_FUZZ_NO_KNOWN_FILTERS 1
#endif

static char *canonical_for_reparse(const char *canon)
{
    const size_t n = strlen(canon);
    char *out = malloc(n + 1);
    if (!out)
        __builtin_trap();
    size_t k = 0;
    for (const char *line = canon; *line;) {
        const char *end = strchr(line, '\n');
        const size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
#ifndef CREST_FUZZ_NO_KNOWN_FILTERS
        if (strncmp(line, "criteria_hash = ", 16) != 0 && strncmp(line, "file_hash = ", 12) != 0)
#endif
        {
            memcpy(out + k, line, len);
            k += len;
        }
        line += len;
    }
    out[k] = '\0';
    return out;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    crest_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    crest_policy *p = NULL;
    crest_diag diag;
    crest_status st = crest_policy_parse((const char *)data, size, "<fuzz>", &p, &diag);
    if (st != CREST_OK) {
        if (p != NULL)
            __builtin_trap(); /* *out must stay NULL on failure */
        return 0;
    }
    const size_t n = crest_policy_tier_count(p);
    if (n == 0 || crest_policy_base_tier(p) >= n || crest_policy_default_tier(p) >= n)
        __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        const char *name = crest_policy_tier_name(p, i);
        if (!name || crest_policy_tier_lookup(p, name, strlen(name)) != (int)i)
            __builtin_trap();
        const double rate = crest_policy_tier_rate(p, i);
        if (!(rate >= 0.0 && rate <= 1.0))
            __builtin_trap();
    }
    (void)crest_policy_tier_lookup(p, (const char *)data, size);
    (void)crest_policy_name(p);
    (void)crest_policy_hash_hex(p);
    /* The canonical form round-trips. */
    char *canon = canonical_for_reparse(crest_policy_describe(p));
    crest_policy *q = NULL;
    if (crest_policy_parse(canon, strlen(canon), "<canonical>", &q, &diag) != CREST_OK)
        __builtin_trap();
    free(canon);
#ifdef CREST_FUZZ_NO_KNOWN_FILTERS
    if (crest_policy_hash(q) != crest_policy_hash(p))
        __builtin_trap();
#else
    /*
     * Known issue (reported, tests/regress/pending/policy/canonical-float-precision.conf):
     * numbers are printed with 15 significant digits, so a rate or ratio with more
     * does not survive the round trip (another effective rate, another hash).
     * Until then, check that the canonical form is a fixed point instead: its
     * own canonical form parses to its own hash.
     */
    char *canon2 = canonical_for_reparse(crest_policy_describe(q));
    crest_policy *r = NULL;
    if (crest_policy_parse(canon2, strlen(canon2), "<canonical2>", &r, &diag) != CREST_OK)
        __builtin_trap();
    free(canon2);
    if (crest_policy_hash(r) != crest_policy_hash(q))
        __builtin_trap();
    crest_policy_free(r);
#endif
    crest_policy_free(q);
    crest_policy_free(p);
    return 0;
}
