/*
 * test_summary.c — the summary (crest_summary.h) from counts made by hand:
 * the balance line, verdicts against the target and the floor, the
 * feasibility of a target (one tolerance, select.h) in text and JSON, the
 * ratio of a relative tier, the partial flag, and the windows CSV.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest.h"

static crest_policy *policy_of(const char *text)
{
    crest_policy *p = NULL;
    crest_diag d;
    cr_assert_eq(crest_policy_parse(text, strlen(text), "<t>", &p, &d), CREST_OK, "%s", d.message);
    return p;
}

static const char *const policy_text =
    "[policy]\nname = sum\nseed = 3\n"
    "[tiers]\norder = AEO, REGULAR, DIS\nbase = REGULAR\ndefault = REGULAR\n"
    "[tier AEO]\nratio = 0.2\n"
    "[tier REGULAR]\nrate = 0.05\n"
    "[tier DIS]\nrate = 0.5\nfloor = yes\n";

/* 10000 rows per tier, inspected at the given counts. */
static crest_run_stats stats_of(uint64_t aeo, uint64_t reg, uint64_t dis)
{
    crest_run_stats s;
    memset(&s, 0, sizeof s);
    s.n_tiers = 3;
    const uint64_t ins[3] = {aeo, reg, dis};
    for (int t = 0; t < 3; t++) {
        s.tiers[t].rows = 10000;
        s.tiers[t].inspected = ins[t];
        s.rows_in += 10000;
        s.decisions += 10000;
        s.inspected += ins[t];
    }
    return s;
}

static crest_summary_info info_of(int partial)
{
    crest_summary_info in = {.input_name = "in.csv", .elapsed_s = -1.0, .partial = partial, .ending = NULL};
    return in;
}

Test(summary, balance_and_verdicts)
{
    crest_init();
    crest_policy *p = policy_of(policy_text);
    crest_run_stats s = stats_of(100, 500, 4000);
    const crest_summary_info info = info_of(0);
    char *text = crest_summary_text(p, &s, &info);
    cr_assert(text);
    cr_expect(strstr(text, "rows in 30000 = decisions 30000 + rejects 0\n") != NULL, "%s", text);
    cr_expect(strstr(text, "MISMATCH") == NULL);
    cr_expect(strstr(text, "PARTIAL") == NULL);
    /* AEO 1% vs target 1%, REGULAR 5% vs 5%: on target; DIS 40% vs a 50% floor: below. */
    cr_expect(strstr(text, "on target") != NULL, "%s", text);
    cr_expect(strstr(text, "BELOW FLOOR") != NULL, "%s", text);
    cr_expect(strstr(text, "AEO/REGULAR ratio of realised rates: 0.200") != NULL, "%s", text);
    free(text);
    char *json = crest_summary_json(p, &s, &info);
    cr_assert(json);
    cr_expect(strstr(json, "\"partial\":false") != NULL);
    cr_expect(strstr(json, "\"balanced\":true") != NULL);
    cr_expect(strstr(json, "\"verdict\":\"BELOW FLOOR\"") != NULL, "%s", json);
    free(json);
    crest_policy_free(p);
}

Test(summary, mismatch_and_partial_are_said)
{
    crest_init();
    crest_policy *p = policy_of(policy_text);
    crest_run_stats s = stats_of(100, 500, 5000);
    s.rows_in += 1; /* a row neither decided nor rejected */
    const crest_summary_info info = info_of(1);
    char *text = crest_summary_text(p, &s, &info);
    cr_expect(strstr(text, "MISMATCH") != NULL);
    cr_expect(strstr(text, "(PARTIAL: interrupted)") != NULL);
    free(text);
    char *json = crest_summary_json(p, &s, &info);
    cr_expect(strstr(json, "\"partial\":true") != NULL);
    cr_expect(strstr(json, "\"balanced\":false") != NULL);
    free(json);
    crest_policy_free(p);
}

/* How a run ended: "ending" only when it did not complete, in the text and the JSON. */
Test(summary, ending_is_said)
{
    crest_init();
    crest_policy *p = policy_of(policy_text);
    crest_run_stats s = stats_of(100, 500, 5000);
    crest_summary_info info = info_of(0);
    char *json = crest_summary_json(p, &s, &info);
    cr_expect(strstr(json, "\"partial\":false,\"rows_in\"") != NULL, "%s", json);
    cr_expect(strstr(json, "\"ending\"") == NULL);
    free(json);
    info.partial = 1;
    info.ending = "output_error";
    json = crest_summary_json(p, &s, &info);
    cr_expect(strstr(json, "\"partial\":true,\"ending\":\"output_error\",") != NULL, "%s", json);
    free(json);
    char *text = crest_summary_text(p, &s, &info);
    cr_expect(strstr(text, "(PARTIAL: output_error)") != NULL, "%s", text);
    free(text);
    info.ending = NULL;
    json = crest_summary_json(p, &s, &info);
    cr_expect(strstr(json, "\"partial\":true,\"ending\":\"interrupted\",") != NULL, "%s", json);
    free(json);
    crest_policy_free(p);
}

/* The JSON "feasible" of tier i (the i-th occurrence). */
static const char *feasible_of(const char *json, int i)
{
    const char *at = json;
    for (int k = 0; k <= i; k++) {
        at = strstr(at, "\"feasible\":");
        cr_assert(at);
        at += strlen("\"feasible\":");
    }
    return strncmp(at, "true", 4) == 0 ? "true" : strncmp(at, "false", 5) == 0 ? "false" : "?";
}

Test(summary, feasibility_with_one_tolerance)
{
    crest_init();
    crest_policy *p = policy_of(policy_text);
    crest_run_stats s = stats_of(100, 500, 5000);
    const crest_summary_info info = info_of(0);
    /* REGULAR: the random part summed over the rows equals the target up to
     * rounding (random_share = 1): feasible. */
    s.tiers[1].random_expected = 0.0;
    for (int i = 0; i < 10000; i++)
        s.tiers[1].random_expected += 0.05;
    s.tiers[1].forced_expected = 1e-9; /* a criterion that almost never forces */
    /* AEO: criteria force 2% against a 1% target. */
    s.tiers[0].forced_expected = 200;
    /* DIS: a floor cannot be exceeded into infeasibility. */
    s.tiers[2].forced_expected = 9000;
    char *json = crest_summary_json(p, &s, &info);
    cr_expect_str_eq(feasible_of(json, 0), "false");
    cr_expect_str_eq(feasible_of(json, 1), "true");
    cr_expect_str_eq(feasible_of(json, 2), "true");
    free(json);
    char *text = crest_summary_text(p, &s, &info);
    cr_expect(strstr(text, "AEO target INFEASIBLE: criteria force 2.000% of its declarations") != NULL, "%s",
              text);
    cr_expect(strstr(text, "REGULAR: criteria force 0.000% of declarations (within the 5.000% target)") !=
                  NULL,
              "%s", text);
    free(text);
    /* 0.1% over the target (far beyond rounding): forced and random alone exceed it. */
    s.tiers[1].random_expected = 10000 * 0.05 * 1.001;
    json = crest_summary_json(p, &s, &info);
    cr_expect_str_eq(feasible_of(json, 1), "false");
    free(json);
    text = crest_summary_text(p, &s, &info);
    cr_expect(strstr(text, "REGULAR target INFEASIBLE: forced (0.000%) and random (5.005%)") != NULL, "%s",
              text);
    free(text);
    crest_policy_free(p);
}

Test(summary, windows_csv)
{
    crest_init();
    crest_policy *p = policy_of(policy_text);
    crest_window_stats w[2] = {{.key = 19000, .tier = 1, .rows = 1000, .inspected = 50, .expected = 50},
                               {.key = 19000, .tier = 0, .rows = 1000, .inspected = 10, .expected = 10}};
    w[0].multiplier = w[1].multiplier = 1.0;
    char *csv = crest_summary_windows_csv(p, w, 2);
    cr_assert(csv);
    cr_expect(strncmp(csv, "window,tier,rows,target,", 24) == 0);
    cr_expect(strstr(csv, "2022-01-08,REGULAR,1000,0.05,0.05,0.05,") != NULL, "%s", csv);
    cr_expect(strstr(csv, "2022-01-08,AEO/REGULAR,1000,0.2,,0.2,") != NULL, "%s", csv);
    free(csv);
    crest_policy_free(p);
}
