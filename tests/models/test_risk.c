/*
 * test_risk.c — the risk layer (crest_risk.h): the score is the sigmoid of
 * bias + the hit weights; criteria are described through the interface; and
 * one loaded crest_risk serves two inputs with different headers at once —
 * each binding resolves its own columns, the loaded object is not changed.
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crest/crest_risk.h"

static crest_str S(const char *s)
{
    return (crest_str){s, strlen(s)};
}

static char path[256];

/* Criteria: a weight rule on a named column, a forcing rule on hs_code. */
static crest_risk *load_risk(double bias)
{
    char dir[] = "/tmp/crest_risk_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/criteria.csv", dir);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs("id,field,pattern,action,weight_or_lane,probability,credit_sensitive\n"
          "PKG,packages,range:>100,weight,1.5,,\n"
          "HS93,hs_code,re:^93,lane,RED,0.5,no\n",
          f);
    fclose(f);
    crest_risk_config cfg;
    crest_risk_config_default(&cfg);
    cfg.criteria_path = path;
    cfg.bias = bias;
    crest_risk *r = NULL;
    crest_diag d;
    cr_assert_eq(crest_risk_create(&cfg, &r, &d), CREST_OK, "%s", d.message);
    return r;
}

static void drop_risk(crest_risk *r)
{
    crest_risk_free(r);
    unlink(path);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    rmdir(path);
}

static crest_decl decl_of(crest_str *cols, size_t n_cols, const char *hs)
{
    crest_decl d;
    memset(&d, 0, sizeof d);
    d.cols = cols;
    d.n_cols = n_cols;
    d.field[CREST_FIELD_HS_CODE] = S(hs);
    d.date_days = CREST_DATE_NONE;
    d.declared_value = d.net_mass_kg = d.quantity = NAN;
    return d;
}

Test(risk, score_is_the_sigmoid_of_bias_and_weights)
{
    crest_risk *r = load_risk(-2.0);
    crest_str header[] = {S("decl_id"), S("packages")};
    crest_risk_binding *b = NULL;
    crest_risk_scratch *s = NULL;
    crest_diag d;
    cr_assert_eq(crest_risk_bind(r, header, 2, &b, &d), CREST_OK, "%s", d.message);
    cr_assert_eq(crest_risk_scratch_create(r, b, &s), CREST_OK);
    crest_str cols[] = {S("A"), S("150")};
    crest_decl decl = decl_of(cols, 2, "0101");
    crest_risk_result rr;
    crest_risk_eval(r, s, &decl, &rr);
    cr_expect_eq(rr.rules.n_hits, 1);
    cr_expect_float_eq(rr.z, -0.5, 1e-12);
    cr_expect_float_eq(rr.score, 1 / (1 + exp(0.5)), 1e-12);
    cr_expect(isnan(rr.model_prob));
    cols[1] = S("50");
    crest_risk_eval(r, s, &decl, &rr);
    cr_expect_eq(rr.rules.n_hits, 0);
    cr_expect_float_eq(rr.score, 1 / (1 + exp(2.0)), 1e-12);
    crest_risk_scratch_free(s);
    crest_risk_binding_free(b);
    drop_risk(r);
}

Test(risk, rules_through_the_interface)
{
    crest_risk *r = load_risk(0.0);
    cr_assert_eq(crest_risk_rule_count(r), 2);
    crest_risk_rule_info info;
    cr_assert_eq(crest_risk_rule(r, 0, &info), CREST_OK);
    cr_expect_str_eq(info.id, "PKG");
    cr_expect_eq(info.lane, 0);
    cr_assert_eq(crest_risk_rule(r, 1, &info), CREST_OK);
    cr_expect_str_eq(info.id, "HS93");
    cr_expect_eq(info.lane, CREST_RULES_LANE_RED);
    cr_expect_float_eq(info.probability, 0.5, 0);
    cr_expect_eq(info.credit_sensitive, 0);
    cr_expect_eq(crest_risk_rule(r, 2, &info), CREST_ERR_RANGE);
    cr_expect_str_eq(crest_risk_max_hits_id(r), "MAX_HITS");
    drop_risk(r);
}

/* Two inputs, the named column at different places: each input's binding
 * finds its own, in any order of binding and evaluation. */
Test(risk, one_loaded_risk_two_inputs)
{
    crest_risk *r = load_risk(0.0);
    crest_str h1[] = {S("decl_id"), S("packages")};
    crest_str h2[] = {S("Packages "), S("x"), S("decl_id")}; /* case and spaces as the rules match */
    crest_risk_binding *b1 = NULL, *b2 = NULL;
    crest_risk_scratch *s1 = NULL, *s2 = NULL;
    crest_diag d;
    cr_assert_eq(crest_risk_bind(r, h1, 2, &b1, &d), CREST_OK, "%s", d.message);
    cr_assert_eq(crest_risk_bind(r, h2, 3, &b2, &d), CREST_OK, "%s", d.message);
    cr_assert_eq(crest_risk_scratch_create(r, b1, &s1), CREST_OK);
    cr_assert_eq(crest_risk_scratch_create(r, b2, &s2), CREST_OK);
    crest_str c1[] = {S("A"), S("150")};
    crest_str c2[] = {S("150"), S("7"), S("B")};
    const crest_decl d1 = decl_of(c1, 2, "9301"), d2 = decl_of(c2, 3, "0101");
    crest_risk_result r1, r2;
    for (int round = 0; round < 2; round++) {
        crest_risk_eval(r, s2, &d2, &r2);
        crest_risk_eval(r, s1, &d1, &r1);
        cr_expect_eq(r1.rules.n_hits, 2, "round %d", round); /* PKG and HS93 */
        cr_expect_eq(r2.rules.n_hits, 1, "round %d", round); /* PKG: column 0 of the second input */
        cr_expect_eq(r2.rules.hits[0], 0);
    }
    /* A header without the column: that input fails to bind, the others are untouched. */
    crest_str h3[] = {S("decl_id")};
    crest_risk_binding *b3 = NULL;
    cr_expect_eq(crest_risk_bind(r, h3, 1, &b3, &d), CREST_ERR_MISMATCH);
    cr_expect_null(b3);
    cr_expect(strstr(d.message, "packages") != NULL, "%s", d.message);
    crest_risk_eval(r, s1, &d1, &r1);
    cr_expect_eq(r1.rules.n_hits, 2);
    /* Without a binding, a named column never matches. */
    crest_risk_scratch *s0 = NULL;
    cr_assert_eq(crest_risk_scratch_create(r, NULL, &s0), CREST_OK);
    crest_risk_eval(r, s0, &d1, &r1);
    cr_expect_eq(r1.rules.n_hits, 1); /* HS93 only */
    crest_risk_scratch_free(s0);
    crest_risk_scratch_free(s1);
    crest_risk_scratch_free(s2);
    crest_risk_binding_free(b1);
    crest_risk_binding_free(b2);
    drop_risk(r);
}
