/* test_policy.c — policy parsing, validation errors with positions, hashing. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

#include "harness.h"

static const char *MINI = "[policy]\nname = mini\nseed = 7\n"
                          "[tiers]\norder = A, R, D\nbase = R\n"
                          "[tier A]\naliases = ACE, 高级认证企业\nratio = 0.2\npriority = yes\n"
                          "[tier R]\nrate = 0.05\n"
                          "[tier D]\nrate = 0.8\nfloor = yes\n";

static crest_status try_parse(const char *text, crest_diag *d)
{
    crest_policy *p = NULL;
    crest_status st = crest_policy_parse(text, strlen(text), "<t>", &p, d);
    crest_policy_free(p);
    return st;
}

Test(policy, shipped_order251)
{
    crest_policy *p = load_policy_file("policies/order251.conf");
    cr_assert_not_null(p);
    cr_expect_eq(crest_policy_tier_count(p), 3);
    cr_expect_str_eq(crest_policy_tier_name(p, 0), "AEO");
    int aeo = crest_policy_tier_lookup(p, "AEO", 3), reg = crest_policy_tier_lookup(p, "REGULAR", 7);
    int dis = crest_policy_tier_lookup(p, "DISHONEST", 9);
    cr_expect_float_eq(crest_policy_tier_rate(p, (size_t)reg), 0.03, 1e-15);
    cr_expect_float_eq(crest_policy_tier_rate(p, (size_t)aeo), 0.006, 1e-15);
    cr_expect_float_eq(crest_policy_tier_rate(p, (size_t)dis), 0.8, 1e-15);
    cr_expect(crest_policy_tier_is_floor(p, (size_t)dis));
    cr_expect_eq(crest_policy_default_tier(p), (size_t)reg);
    /* Aliases, including Chinese names and spelling variants. */
    cr_expect_eq(crest_policy_tier_lookup(p, "高级认证企业", strlen("高级认证企业")), aeo);
    cr_expect_eq(crest_policy_tier_lookup(p, " advanced-certified ", 20), aeo);
    cr_expect_eq(crest_policy_tier_lookup(p, "ace", 3), aeo);
    cr_expect_eq(crest_policy_tier_lookup(p, "失信企业", strlen("失信企业")), dis);
    cr_expect_eq(crest_policy_tier_lookup(p, "PLATINUM", 8), -1);
    crest_policy_free(p);
}

/* floor_confidence and floor_month_rows: a floor tier's draw rate above the
 * floor; both or neither, on a floor tier only; the canonical text says the
 * rate, and changing either changes the hash. */
Test(policy, floor_margin_keys)
{
    const char *base = "[tiers]\nbase = R\n[tier R]\nrate = 0.03\n[tier D]\nrate = 0.8\nfloor = yes\n";
    char text[512];
    snprintf(text, sizeof text, "%sfloor_confidence = 0.999\nfloor_month_rows = 3000\n", base);
    crest_policy *p = parse_policy(text);
    cr_assert_not_null(p);
    const double q = crest_policy_tier_draw_rate(p, 1);
    cr_expect_float_eq(q, crest_stats_floor_rate(0.8, 3000, 0.999), 1e-15);
    cr_expect(q > 0.82 && q < 0.823, "draw rate %g", q);
    cr_expect_float_eq(crest_policy_tier_rate(p, 1), 0.8, 1e-15, "the target stays the floor");
    cr_expect_float_eq(crest_policy_tier_draw_rate(p, 0), 0.03, 1e-15);
    cr_expect_not_null(strstr(crest_policy_describe(p), "# draw rate = 0.8217"), "%s",
                       crest_policy_describe(p));
    snprintf(text, sizeof text, "%sfloor_confidence = 0.999\nfloor_month_rows = 3001\n", base);
    crest_policy *p2 = parse_policy(text);
    cr_assert_not_null(p2);
    cr_expect_str_neq(crest_policy_hash_hex(p), crest_policy_hash_hex(p2));
    crest_policy_free(p2);
    crest_policy_free(p);
    const char *bad[] = {
        "[tiers]\nbase = R\n[tier R]\nrate = 0.03\n[tier D]\nrate = 0.8\nfloor = yes\nfloor_confidence = "
        "0.999\n",
        "[tiers]\nbase = R\n[tier R]\nrate = 0.03\n[tier D]\nrate = 0.8\nfloor = yes\nfloor_month_rows = "
        "10\n",
        "[tiers]\nbase = R\n[tier R]\nrate = 0.03\nfloor_confidence = 0.99\nfloor_month_rows = 10\n",
        "[tiers]\nbase = R\n[tier R]\nrate = 0.03\n[tier D]\nrate = 0.8\nfloor = yes\nfloor_confidence = "
        "1.5\n",
        "[tiers]\nbase = R\n[tier R]\nrate = 0.03\n[tier D]\nrate = 0.8\nfloor = yes\nfloor_month_rows = "
        "2.5\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        crest_diag d;
        cr_expect_neq(try_parse(bad[i], &d), CREST_OK, "case %zu parsed", i);
    }
}

Test(policy, shipped_order282_five_tiers)
{
    crest_policy *p = load_policy_file("policies/order282.conf");
    cr_assert_not_null(p);
    cr_expect_eq(crest_policy_tier_count(p), 5);
    int cert = crest_policy_tier_lookup(p, "CERTIFIED", 9);
    cr_assert_geq(cert, 0);
    cr_expect_float_eq(crest_policy_tier_rate(p, (size_t)cert), 0.015, 1e-15);
    cr_expect_float_eq(crest_policy_tier_ratio(p, (size_t)cert), 0.5, 1e-15);
    crest_policy_free(p);
}

Test(policy, hash_ignores_comments_but_not_rates)
{
    crest_policy *a = parse_policy(MINI);
    char buf[2048];
    snprintf(buf, sizeof buf, "# a comment\n\n%s\n# trailing\n", MINI);
    crest_policy *b = parse_policy(buf);
    cr_assert(a && b);
    cr_expect_eq(crest_policy_hash(a), crest_policy_hash(b));
    char *c_text = strdup(MINI);
    char *at = strstr(c_text, "0.05");
    at[3] = '6';
    crest_policy *c = parse_policy(c_text);
    cr_assert_not_null(c);
    cr_expect_neq(crest_policy_hash(a), crest_policy_hash(c));
    cr_expect_eq(strlen(crest_policy_hash_hex(a)), 16);
    crest_policy_free(a);
    crest_policy_free(b);
    crest_policy_free(c);
    free(c_text);
}

/* Keys the canonical form leaves out at their defaults keep old policies'
 * canonical form (and hash) as they were; set, they are written. */
Test(policy, new_keys_written_only_when_set)
{
    crest_policy *a = parse_policy(MINI);
    cr_assert_not_null(a);
    cr_expect_null(strstr(crest_policy_describe(a), "max_model_bytes"));
    cr_expect_null(strstr(crest_policy_describe(a), "root"));
    char buf[2048];
    snprintf(buf, sizeof buf, "%s[policy]\nmax_model_bytes = 1000\n", MINI);
    crest_policy *b = parse_policy(buf);
    cr_assert_not_null(b);
    cr_expect_not_null(strstr(crest_policy_describe(b), "\nmax_model_bytes = 1000\n"));
    cr_expect_neq(crest_policy_hash(a), crest_policy_hash(b));
    crest_policy_free(a);
    crest_policy_free(b);
}

Test(policy, order_sets_precedence)
{
    crest_policy *p = parse_policy(MINI);
    cr_assert_not_null(p);
    cr_expect_str_eq(crest_policy_tier_name(p, 0), "A");
    cr_expect_str_eq(crest_policy_tier_name(p, 2), "D");
    cr_expect_eq(crest_policy_seed(p), 7);
    crest_policy_free(p);
}

/* Each broken policy must fail with the right status at the right line and column. */
typedef struct bad_case {
    const char *text;
    crest_status status;
    unsigned long line, column;
    const char *needle;
} bad_case;

Test(policy, errors_name_line_and_column)
{
    static const bad_case cases[] = {
        {"[policy]\nnmae = x\n", CREST_ERR_SYNTAX, 2, 1, "unknown key 'nmae'"},
        {"[polcy]\n", CREST_ERR_SYNTAX, 1, 2, "unknown section"},
        {"[tier A]\nrate = 1.5\n", CREST_ERR_RANGE, 2, 8, "outside"},
        {"[tier A]\nrate = abc\n", CREST_ERR_INVALID, 2, 8, "needs a number"},
        {"[tier A]\nrate = 0.1\nratio = 0.2\n", CREST_ERR_INVALID, 3, 1, "both rate and ratio"},
        {"[tier A]\nrate = 0.1\nrate = 0.2\n", CREST_ERR_INVALID, 3, 1, "set twice"},
        {"name = x\n", CREST_ERR_SYNTAX, 1, 1, "outside any section"},
        {"[policy]\njust text\n", CREST_ERR_SYNTAX, 2, 1, "key = value"},
        {"[tier A]\nfloor = maybe\n", CREST_ERR_INVALID, 2, 9, "yes or no"},
        {"[tiers]\nbase = R\n[tier A]\nratio = 0.2\n", CREST_ERR_MISMATCH, 0, 0, "base 'R'"},
        {"[tiers]\nbase = A\n[tier A]\nratio = 0.2\n", CREST_ERR_INVALID, 0, 0, "absolute 'rate'"},
        {"[tiers]\nbase = A\n[tier A]\nrate = 0.1\n[tier B]\naliases = X\nrate = 0.2\n[tier C]\naliases = "
         "x\nrate = 0.3\n",
         CREST_ERR_INVALID, 0, 0, "alias"},
        {"[tiers]\nbase = A\n[tier A]\nrate = 0.5\n[tier B]\nratio = 3\n", CREST_ERR_RANGE, 0, 0,
         "exceeds 1"},
        {"[tier A B]\n", CREST_ERR_SYNTAX, 1, 8, "tier name"},
        {"[columns]\nid = X\n", CREST_ERR_INVALID, 2, 1, "not a canonical field"},
        {"[mra]\npartners = SG, sgp\n", CREST_ERR_INVALID, 2, 16, "alpha-2"},
        {"[lanes]\ninspect = PURPLE\n", CREST_ERR_INVALID, 2, 11, "lane"},
        {"[tiers]\norder = A, B\nbase = A\n[tier A]\nrate = 0.1\n", CREST_ERR_MISMATCH, 0, 0, "order"},
        {"", CREST_ERR_MISSING, 0, 0, "no tiers"},
        /* A [model] that names a file or features but no kind is not silently no model. */
        {"[tiers]\nbase = A\n[tier A]\nrate = 0.1\n[model]\nfile = m.model\n", CREST_ERR_MISSING, 0, 0,
         "names a file but no kind"},
        {"[tiers]\nbase = A\n[tier A]\nrate = 0.1\n[model]\nkind = none\nfeatures = log:declared_value\n",
         CREST_ERR_MISSING, 0, 0, "names a feature list but no kind"},
        /* The "expected" lists are written from the key table. */
        {"[policy]\nnmae = x\n", CREST_ERR_SYNTAX, 2, 1,
         "expected name, description, seed, root, max_criteria_bytes, max_list_bytes, max_band_bytes, "
         "max_model_bytes or max_fx_bytes"},
        {"[output]\npassthrough = some\n", CREST_ERR_INVALID, 2, 15, "passthrough is all, unmapped or none"},
        {"[control]\nmode = fast\n", CREST_ERR_INVALID, 2, 8,
         "mode is frozen, adaptive or systematic, found"},
        {"[rules]\nmax_hits = 2.5\n", CREST_ERR_INVALID, 2, 12, "max_hits needs a whole number"},
        {"[tier A]\nrate = 0.1\nscael = 2\n", CREST_ERR_SYNTAX, 3, 1,
         "in [tier A]; expected label, aliases, rate, ratio, floor, floor_period, floor_confidence, "
         "floor_month_rows, priority, "
         "guarantee_exempt, random_share "
         "or "
         "scale"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        crest_diag d;
        crest_status st = try_parse(cases[i].text, &d);
        cr_expect_eq(st, cases[i].status, "case %zu: status %s, message: %s", i, crest_status_name(st),
                     d.message);
        cr_expect_eq(d.status, st, "case %zu: diag status", i);
        cr_expect_eq(d.line, cases[i].line, "case %zu: line %lu (%s)", i, d.line, d.message);
        cr_expect_eq(d.column, cases[i].column, "case %zu: column %lu (%s)", i, d.column, d.message);
        cr_expect_not_null(strstr(d.message, cases[i].needle), "case %zu: message '%s' lacks '%s'", i,
                           d.message, cases[i].needle);
        cr_expect_str_eq(d.file, "<t>");
    }
}

Test(policy, missing_file_is_io_error)
{
    crest_policy *p = NULL;
    crest_diag d;
    cr_expect_eq(crest_policy_load("/nonexistent/policy.conf", &p, &d), CREST_ERR_IO);
    cr_expect_null(p);
    cr_expect_not_null(strstr(d.message, "cannot open"));
}

Test(policy, bom_and_inline_comments)
{
    const char *t =
        "\xEF\xBB\xBF[policy]\nseed = 5   # inline\n[tiers]\nbase = R\n[tier R]\nrate = 0.1 ; note\n";
    crest_policy *p = parse_policy(t);
    cr_assert_not_null(p);
    cr_expect_eq(crest_policy_seed(p), 5);
    cr_expect_float_eq(crest_policy_tier_rate(p, 0), 0.1, 1e-15);
    crest_policy_free(p);
}
