/* test_overrides.c — `--set SECTION.KEY=VALUE` (crest_policy_load_set): an
 * override is exactly what the file would say (same canonical text and hash),
 * whether it replaces a key, swaps a tier's rate and ratio, adds a key to a tier
 * or to another section; errors name the override. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crest/crest_policy.h"

static const char base_text[] = "[policy]\nname = t\nseed = 7\n"
                                "[tiers]\norder = AEO, REGULAR\nbase = REGULAR\ndefault = REGULAR\n"
                                "[tier AEO]\nratio = 0.2   # one fifth\n"
                                "[tier REGULAR]\nrate = 0.03\n"
                                "[risk]\nrandom_share = 0.1\n";

static crest_policy *with_sets(const char *text, const char *const *sets, size_t n, crest_diag *d)
{
    crest_policy *p = NULL;
    crest_policy_load_set(NULL, text, strlen(text), "<test>", 0, sets, n, &p, d);
    return p;
}

/* The policy of sets applied to base_text has the hash of the text that says so. */
static void same_as(const char *const *sets, size_t n, const char *edited)
{
    crest_diag d;
    crest_policy *a = with_sets(base_text, sets, n, &d);
    cr_assert_not_null(a, "%s", d.message);
    crest_policy *b = with_sets(edited, NULL, 0, &d);
    cr_assert_not_null(b, "%s", d.message);
    cr_expect_str_eq(crest_policy_describe(a), crest_policy_describe(b));
    cr_expect_eq(crest_policy_hash(a), crest_policy_hash(b));
    crest_policy_free(a);
    crest_policy_free(b);
}

Test(overrides, none_changes_nothing)
{
    crest_diag d;
    crest_policy *a = with_sets(base_text, NULL, 0, &d), *b = NULL;
    cr_assert_not_null(a);
    cr_assert_eq(crest_policy_parse(base_text, strlen(base_text), "<test>", &b, &d), CREST_OK);
    cr_expect_eq(crest_policy_hash(a), crest_policy_hash(b));
    crest_policy_free(a);
    crest_policy_free(b);
}

Test(overrides, replace_a_key)
{
    const char *sets[] = {"tier.REGULAR.rate=0.05"};
    char edited[sizeof base_text + 16];
    snprintf(edited, sizeof edited, "%s", base_text);
    memcpy(strstr(edited, "rate = 0.03"), "rate = 0.05", 11);
    same_as(sets, 1, edited);
    crest_diag d;
    crest_policy *p = with_sets(base_text, sets, 1, &d);
    crest_policy *q = with_sets(base_text, NULL, 0, &d);
    cr_expect_float_eq(crest_policy_tier_rate(p, 1), 0.05, 1e-15);
    cr_expect_float_eq(crest_policy_tier_rate(p, 0), 0.01, 1e-15, "AEO follows its ratio: 0.2 x 0.05");
    cr_expect_neq(crest_policy_hash(p), crest_policy_hash(q), "an override changes the hash");
    crest_policy_free(p);
    crest_policy_free(q);
}

Test(overrides, a_tier_rate_replaces_its_ratio)
{
    const char *sets[] = {"tier.AEO.rate=0.004"};
    same_as(sets, 1,
            "[policy]\nname = t\nseed = 7\n[tiers]\norder = AEO, REGULAR\nbase = REGULAR\ndefault = REGULAR\n"
            "[tier AEO]\nrate = 0.004\n[tier REGULAR]\nrate = 0.03\n[risk]\nrandom_share = 0.1\n");
}

Test(overrides, add_keys_to_a_tier_and_a_section_the_last_wins)
{
    const char *sets[] = {"tier.REGULAR.floor=no", "risk.gain=3", "capacity.red_per_office_day=30",
                          "risk.gain=2"};
    same_as(sets, 4,
            "[policy]\nname = t\nseed = 7\n[tiers]\norder = AEO, REGULAR\nbase = REGULAR\ndefault = REGULAR\n"
            "[tier AEO]\nratio = 0.2\n[tier REGULAR]\nfloor = no\nrate = 0.03\n[risk]\nrandom_share = 0.1\n"
            "gain = 2\n[capacity]\nred_per_office_day = 30\n");
}

Test(overrides, errors_name_the_override)
{
    const char *bad[][1] = {{"risk.gain=abc"}, {"nosuch.key=1"},       {"gain=2"},
                            {"risk.=2"},       {"tier.NOPE.rate=0.1"}, {"risk.ga-in=2"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        crest_diag d;
        crest_policy *p = with_sets(base_text, bad[i], 1, &d);
        cr_expect_null(p, "%s should fail", bad[i][0]);
        cr_expect_str_eq(d.file, "--set", "%s: %s:%lu %s", bad[i][0], d.file, d.line, d.message);
        cr_expect(strstr(d.message, bad[i][0]) != NULL, "the message names the override: %s", d.message);
        crest_policy_free(p);
    }
}

Test(overrides, a_relative_path_is_taken_from_the_current_directory)
{
    const char *sets[] = {"rules.criteria=no-such-criteria.csv"};
    crest_diag d;
    crest_policy *p = with_sets(base_text, sets, 1, &d);
    cr_assert_null(p);
    char cwd[4096];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    cr_expect(strstr(d.message, cwd) != NULL || strstr(d.file, cwd) != NULL,
              "the criteria path is made absolute from the current directory: %s: %s", d.file, d.message);
}

/* The flags hold for a policy given as text too: with CREST_POLICY_SKIP_MODEL_FILE
 * (`crest fit` is about to write the model) a missing [model] file is not read. */
Test(overrides, text_with_the_skip_model_flag)
{
    static const char text[] = "[policy]\nname = t\nseed = 7\n"
                               "[tiers]\norder = AEO, REGULAR\nbase = REGULAR\ndefault = REGULAR\n"
                               "[tier AEO]\nratio = 0.2\n[tier REGULAR]\nrate = 0.03\n"
                               "[model]\nkind = logistic\nfile = no-such-model-yet.model\n";
    const char *sets[] = {"tier.REGULAR.rate=0.04"};
    crest_diag d;
    crest_policy *p = NULL;
    cr_expect_neq(crest_policy_load_set(NULL, text, strlen(text), "<test>", 0, sets, 1, &p, &d), CREST_OK);
    cr_expect_null(p);
    cr_expect(strstr(d.message, "no-such-model-yet.model") || strstr(d.file, "no-such-model-yet.model"),
              "without the flag the model file is read: %s: %s", d.file, d.message);
    cr_assert_eq(crest_policy_load_set(NULL, text, strlen(text), "<test>", CREST_POLICY_SKIP_MODEL_FILE, sets,
                                       1, &p, &d),
                 CREST_OK, "%s: %s", d.file, d.message);
    crest_policy_free(p);
}
