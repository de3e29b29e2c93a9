/*
 * test_select.c — the pure selection function (select.h): p from the tier's
 * target and the score, the keyed draw, floors, systematic crossings, lane
 * forcing and max hits, reasons, purity; and the one feasibility test that
 * calibrate, check and the summary share.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crest/crest.h"
#include "crest/crest_keyhash.h"
#include "select.h"

static crest_policy *policy_of(const char *text)
{
    crest_policy *p = NULL;
    crest_diag d;
    cr_assert_eq(crest_policy_parse(text, strlen(text), "<t>", &p, &d), CREST_OK, "%s", d.message);
    return p;
}

static const char *const two_tiers = "[policy]\nname = t\nseed = 7\n"
                                     "[tiers]\norder = AEO, REGULAR\nbase = REGULAR\ndefault = REGULAR\n"
                                     "[tier AEO]\nratio = 0.2\n"
                                     "[tier REGULAR]\nrate = 0.05\n";

static crest_str str_of(const char *s)
{
    return (crest_str){s, strlen(s)};
}

static crest_select_plan plan_for(size_t tier)
{
    crest_select_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.tier = tier;
    plan.multiplier = 1.0;
    return plan;
}

/* The decision and its reasons, as the engine makes them. Where the policy
 * lets the engine take its lean path (no floor tier, no systematic control),
 * that instance decides the same. */
static void select_row(const crest_select_config *cfg, const crest_select_plan *plan,
                       const crest_risk_result *rr, crest_str id, crest_selection *s)
{
    crest_select(cfg, plan, rr, id, s, 0);
    int lean_ok = cfg->policy->control_mode != CONTROL_SYSTEMATIC;
    for (size_t t = 0; t < cfg->policy->n_tiers; t++)
        lean_ok &= !cfg->policy->tiers[t].floor && cfg->policy->tiers[t].floor_period == FLOOR_PERIOD_NONE;
    if (lean_ok) {
        crest_selection lean;
        memset(&lean, 0, sizeof lean);
        crest_select(cfg, plan, rr, id, &lean, 1);
        cr_assert(memcmp(&lean.dec, &s->dec, sizeof lean.dec) == 0, "the lean path decided otherwise");
        cr_assert_eq(lean.u53, s->u53);
        cr_assert_eq(lean.lane_slot, s->lane_slot);
        cr_assert_eq(lean.drawn, s->drawn);
        cr_assert_eq(lean.by_random, s->by_random);
    }
    crest_select_reasons(cfg, plan, rr, s);
}

/* A risk result with no hits and the given score. */
static crest_risk_result risk_of(double score)
{
    crest_risk_result rr;
    memset(&rr, 0, sizeof rr);
    rr.score = score;
    rr.z = log(score / (1 - score));
    rr.model_prob = NAN;
    rr.rules.lane_rule = rr.rules.ci_lane_rule = -1;
    return rr;
}

Test(select, without_risk_p_is_the_target_and_u_is_keyed)
{
    crest_policy *p = policy_of(two_tiers);
    crest_select_config cfg;
    crest_select_config_init(&cfg, p);
    const crest_select_plan plan = plan_for(1);
    crest_selection s;
    select_row(&cfg, &plan, NULL, str_of("D-1"), &s);
    cr_expect_float_eq(s.dec.p, 0.05, 1e-15);
    cr_expect_float_eq(s.dec.p_random, 0.05, 1e-15);
    cr_expect(isnan(s.dec.score));
    /* u depends on (seed, id) only: the keyed hash, 53 bits. */
    const uint64_t u53 = crest_keyhash_siphash24(7, CREST_KEYHASH_K1, "D-1", 3) >> 11;
    cr_expect_eq(s.u53, u53);
    cr_expect_eq(s.dec.u, (double)u53 / 9007199254740992.0);
    cr_expect_eq(s.dec.inspect, s.dec.u < 0.05);
    cr_expect_eq(s.drawn, s.dec.inspect);
    cr_expect_str_eq(s.lane, s.dec.inspect ? "RED" : "GREEN");
    cr_expect_eq(s.lane_len, strlen(s.lane));
    cr_expect_float_eq(s.p_inspect, 0.05, 1e-15);
    /* The ratio tier: 0.2 x 0.05. */
    const crest_select_plan aeo = plan_for(0);
    select_row(&cfg, &aeo, NULL, str_of("D-1"), &s);
    cr_expect_float_eq(s.dec.p, 0.01, 1e-15);
    crest_policy_free(p);
}

Test(select, decisions_follow_the_draw_and_reasons_say_why)
{
    crest_policy *p = policy_of(two_tiers);
    crest_select_config cfg;
    crest_select_config_init(&cfg, p);
    const crest_select_plan plan = plan_for(1);
    size_t inspected = 0, n = 20000;
    char id[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(id, sizeof id, "DECL-%zu", i);
        crest_selection s;
        select_row(&cfg, &plan, NULL, str_of(id), &s);
        cr_assert_eq(s.dec.inspect, s.dec.u < s.dec.p);
        cr_assert_str_eq(s.reasons.text, s.dec.inspect ? "RANDOM" : "");
        inspected += (size_t)s.dec.inspect;
    }
    /* Binomial(20000, 0.05): mean 1000, sd 30.8; 6 sd either way (seed 7). */
    cr_expect(inspected > 815 && inspected < 1185, "inspected %zu of %zu", inspected, n);
    crest_policy_free(p);
}

Test(select, pure_same_inputs_same_output)
{
    crest_policy *p = policy_of(two_tiers);
    crest_select_config cfg;
    crest_select_config_init(&cfg, p);
    crest_select_plan plan = plan_for(1);
    plan.unknown = 1;
    plan.mra = 1;
    crest_selection a, b;
    memset(&b, 0xAB, sizeof b); /* whatever was there before does not matter */
    select_row(&cfg, &plan, NULL, str_of("X"), &a);
    select_row(&cfg, &plan, NULL, str_of("X"), &b);
    cr_expect_eq(memcmp(&a.dec, &b.dec, sizeof a.dec), 0);
    cr_expect_str_eq(a.reasons.text, b.reasons.text);
    /* Notes come last: TIER_UNKNOWN, then MRA; MRA gives priority. */
    const char *tail = a.dec.inspect ? "RANDOM;TIER_UNKNOWN;MRA" : "TIER_UNKNOWN;MRA";
    cr_expect_str_eq(a.reasons.text, tail);
    cr_expect_eq(a.priority, 1);
    crest_policy_free(p);
}

Test(select, risk_weighting_and_multiplier)
{
    crest_policy *p = policy_of("[policy]\nname = t\nseed = 1\n"
                                "[tiers]\norder = REGULAR\nbase = REGULAR\ndefault = REGULAR\n"
                                "[tier REGULAR]\nrate = 0.05\n"
                                "[risk]\nweighting = linear\ngain = 9\nrandom_share = 0.2\n");
    crest_select_config cfg;
    crest_select_config_init(&cfg, p);
    crest_select_plan plan = plan_for(0);
    const crest_risk_result rr = risk_of(0.5);
    crest_selection s;
    select_row(&cfg, &plan, &rr, str_of("A"), &s);
    /* p = rate (rs + (1 - rs) scale m (1 + gain score)) = 0.05 (0.2 + 0.8 * 5.5). */
    cr_expect_float_eq(s.dec.p_random, 0.01, 1e-15);
    cr_expect_float_eq(s.dec.p_risk_unit, 0.05 * 0.8 * 5.5, 1e-15);
    cr_expect_float_eq(s.dec.p, 0.01 + 0.22, 1e-15);
    cr_expect_float_eq(s.dec.score, 0.5, 0);
    plan.multiplier = 2.0;
    select_row(&cfg, &plan, &rr, str_of("A"), &s);
    cr_expect_float_eq(s.dec.p, 0.01 + 0.44, 1e-15);
    cr_expect_float_eq(s.dec.multiplier, 2.0, 0);
    /* Clipped at 1. */
    plan.multiplier = 100.0;
    select_row(&cfg, &plan, &rr, str_of("A"), &s);
    cr_expect_eq(s.dec.p, 1.0);
    cr_expect_eq(s.dec.inspect, 1);
    cr_expect(strstr(s.reasons.text, "RANDOM") || strstr(s.reasons.text, "RISK"), "%s", s.reasons.text);
    crest_policy_free(p);
}

Test(select, floor_tier_holds_its_rate)
{
    crest_policy *p = policy_of("[policy]\nname = t\nseed = 1\n"
                                "[tiers]\norder = DIS, REGULAR\nbase = REGULAR\ndefault = REGULAR\n"
                                "[tier DIS]\nrate = 0.8\nfloor = yes\n"
                                "[tier REGULAR]\nrate = 0.05\n"
                                "[risk]\nweighting = linear\ngain = 1\nrandom_share = 0.5\n");
    crest_select_config cfg;
    crest_select_config_init(&cfg, p);
    crest_select_plan plan = plan_for(0);
    plan.multiplier = 0.1;
    const crest_risk_result rr = risk_of(0.01);
    crest_selection s;
    select_row(&cfg, &plan, &rr, str_of("F"), &s);
    /* 0.4 + 0.1 * 0.4 * 1.01 = 0.44: held at the floor, 0.8. */
    cr_expect_float_eq(s.dec.p, 0.8, 1e-15);
    /* Selected by the random part: TIER_FLOOR instead of RANDOM. */
    if (s.dec.u < s.dec.p_random)
        cr_expect_str_eq(s.reasons.text, "TIER_FLOOR");
    crest_policy_free(p);
}

Test(select, clip)
{
    cr_expect_eq(crest_select_clip(0.3, 0.0), 0.3);
    cr_expect_eq(crest_select_clip(-0.1, 0.0), 0.0);
    cr_expect_eq(crest_select_clip(1.5, 0.0), 1.0);
    cr_expect_eq(crest_select_clip(0.3, 0.8), 0.8);
    cr_expect_eq(crest_select_clip(NAN, 0.0), 0.0);
}

Test(select, systematic_selects_at_integer_crossings)
{
    crest_policy *p = policy_of("[policy]\nname = t\nseed = 1\n"
                                "[tiers]\norder = REGULAR\nbase = REGULAR\ndefault = REGULAR\n"
                                "[tier REGULAR]\nrate = 0.25\n"
                                "[control]\nmode = systematic\n");
    crest_select_config cfg;
    crest_select_config_init(&cfg, p);
    crest_select_plan plan = plan_for(0);
    /* Positions 0.1, 0.35, 0.6, 0.85, 1.1: only the step from 0.85 crosses 1. */
    size_t selected = 0;
    for (int i = 0; i < 8; i++) {
        plan.sys_position = 0.1 + 0.25 * i;
        crest_selection s;
        select_row(&cfg, &plan, NULL, str_of("S"), &s);
        cr_expect_eq(s.drawn, i == 3 || i == 7, "step %d", i);
        selected += (size_t)s.drawn;
    }
    cr_expect_eq(selected, 2);
    crest_policy_free(p);
}

Test(select, forcing_rules_and_max_hits)
{
    crest_policy *p = policy_of(two_tiers);
    crest_select_rule rules[3];
    crest_select_rule_init(&rules[0], "W1", 0, 1.0, 1);                          /* a weight rule */
    crest_select_rule_init(&rules[1], "LANE;RED", CREST_RULES_LANE_RED, 1.0, 0); /* always forces */
    crest_select_rule_init(&rules[2], "DOC", CREST_RULES_LANE_YELLOW, 0.0, 1);   /* never forces */
    cr_expect_str_eq(rules[1].code, "LANE_RED"); /* separators replaced in the reason code */
    crest_select_config cfg;
    crest_select_config_init(&cfg, p);
    cfg.rules = rules;
    cfg.n_rules = 3;
    cfg.max_hits_id = "MAX_HITS";
    const crest_select_plan plan = plan_for(1);
    crest_risk_result rr = risk_of(0.5);
    rr.rules.n_hits = 3;
    rr.rules.hits[0] = 0;
    rr.rules.hits[1] = 1;
    rr.rules.hits[2] = 2;
    crest_selection s;
    select_row(&cfg, &plan, &rr, str_of("R"), &s);
    cr_expect_eq(s.dec.inspect, 1);
    cr_expect_eq(s.dec.forced, 1);
    cr_expect_eq(s.forced_lane, CREST_RULES_LANE_RED);
    cr_expect_eq(s.dec.lane, CREST_RULES_LANE_RED);
    cr_expect_float_eq(s.dec.p_forced, 1.0, 1e-15);
    /* The forcing rule first, the other hits after the draw's reasons. */
    cr_expect(strncmp(s.reasons.text, "LANE_RED", 8) == 0, "%s", s.reasons.text);
    cr_expect(strstr(s.reasons.text, "W1;DOC") != NULL, "%s", s.reasons.text);
    /* Max hits: selected to the inspect lane, reason MAX_HITS after a forcing rule. */
    rr.rules.n_hits = 1;
    rr.rules.hits[0] = 0;
    rr.rules.max_hits_exceeded = 1;
    select_row(&cfg, &plan, &rr, str_of("R"), &s);
    cr_expect_eq(s.dec.inspect, 1);
    cr_expect_eq(s.max_hits, 1);
    cr_expect_eq(s.dec.p_forced, 1.0);
    cr_expect(strncmp(s.reasons.text, "MAX_HITS", 8) == 0, "%s", s.reasons.text);
    crest_policy_free(p);
}

Test(select, feasibility_one_tolerance)
{
    /* Equal is feasible; a hair over (rounding of a sum) too; clearly over is not. */
    cr_expect(crest_select_feasible(0.05, 0.05, 0));
    cr_expect(crest_select_feasible(0.05, 0.05 * (1 + 1e-9), 0));
    cr_expect(crest_select_feasible(0.05, 0.05 * (1 + 0.5 * CREST_SELECT_FEASIBLE_TOLERANCE), 0));
    cr_expect(!crest_select_feasible(0.05, 0.05 * (1 + 2 * CREST_SELECT_FEASIBLE_TOLERANCE), 0));
    cr_expect(!crest_select_feasible(0.05, 0.0501, 0));
    /* A floor ("or more") cannot be exceeded into infeasibility. */
    cr_expect(crest_select_feasible(0.8, 1.0, 1));
    /* The random share summed over many rows stays feasible: 10^6 additions of 0.05. */
    double sum = 0.0;
    for (int i = 0; i < 1000000; i++)
        sum += 0.05;
    cr_expect(crest_select_feasible(0.05, sum / 1e6, 0));
}

Test(select, lane_rank)
{
    cr_expect_eq(crest_select_lane_rank("GREEN"), 0);
    cr_expect_eq(crest_select_lane_rank("YELLOW"), 2);
    cr_expect_eq(crest_select_lane_rank("RED"), 4);
    cr_expect_eq(crest_select_lane_rank("PURPLE"), CREST_RULES_LANE_RED);
}
