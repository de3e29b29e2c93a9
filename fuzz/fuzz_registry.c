/*
 * fuzz_registry.c — libFuzzer target for the enterprise registry parser
 * (crest_registry_parse) with the shipped policy order251.conf. An accepted
 * registry is looked up with ids taken from the input and a few dates; the
 * result must be a tier index in range, -1 or -2.
 */
#include <string.h>

#include "fuzz_common.h"

static crest_policy *g_policy;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    crest_init();
    size_t len = 0;
    char *text = fuzz_slurp("policies/order251.conf", &len);
    crest_diag diag;
    if (crest_policy_parse(text, len, "order251.conf", &g_policy, &diag) != CREST_OK)
        __builtin_trap();
    free(text);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    crest_registry *r = NULL;
    crest_diag diag;
    if (crest_registry_parse((const char *)data, size, "<fuzz>", g_policy, &r, &diag) != CREST_OK) {
        if (r != NULL)
            __builtin_trap();
        return 0;
    }
    const int n_tiers = (int)crest_policy_tier_count(g_policy);
    static const int32_t days[] = {CREST_DATE_NONE, -1, 0, 18262, 19000, 20000, INT32_MAX};
    /* Ids: every line's first 1..16 bytes, so real entries are hit. */
    const char *s = (const char *)data;
    for (size_t pos = 0; pos < size;) {
        const char *nl = memchr(s + pos, '\n', size - pos);
        size_t line_len = nl ? (size_t)(nl - (s + pos)) : size - pos;
        const char *comma = memchr(s + pos, ',', line_len);
        size_t id_len = comma ? (size_t)(comma - (s + pos)) : line_len;
        for (size_t d = 0; d < sizeof days / sizeof days[0]; d++) {
            int t = crest_registry_lookup(r, s + pos, id_len, days[d]);
            if (t < -2 || t >= n_tiers)
                __builtin_trap();
        }
        pos += line_len + 1;
    }
    (void)crest_registry_enterprises(r);
    (void)crest_registry_periods(r);
    crest_registry_free(r);
    return 0;
}
