/*
 * select.c — the selection of one declaration as a pure function (select.h):
 * the probability of the draw from the tier's target and the risk score, the
 * keyed uniform, lane forcing by criteria, the lane, and the reasons.
 */
#include "select.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crest/crest_keyhash.h"

void crest_select_config_init(crest_select_config *cfg, const crest_policy *policy)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->policy = policy;
    cfg->inspect_lane_rank = crest_select_lane_rank(policy->lane_inspect);
    cfg->lane_release_len = strlen(policy->lane_release);
    cfg->lane_inspect_len = strlen(policy->lane_inspect);
}

int crest_select_lane_rank(const char *lane)
{
    const int rank = crest_lane_from_name(lane, strlen(lane), 0);
    return rank >= 0 ? rank : CREST_LANE_RED;
}

void crest_select_rule_init(crest_select_rule *er, const char *id, int lane, double probability,
                            int credit_sensitive)
{
    memset(er, 0, sizeof *er);
    er->lane = lane;
    er->probability = probability;
    er->credit_sensitive = credit_sensitive;
    er->id = id;
    /* The rule's own draw: k1 derived from its id, so adding a rule does not
     * move the draws of the others. */
    er->key = crest_keyhash_siphash24(CREST_KEYHASH_KEY(RULE), 0, id, strlen(id));
    reason_buf code;
    reason_clear(&code);
    crest_reason_add(&code, id, NULL);
    if (code.len < sizeof er->code && code.len == strlen(id)) {
        memcpy(er->code, code.text, code.len);
        er->code_len = code.len;
    }
}

/* Rule ri's id as a reason. */
static inline void reason_rule(reason_buf *rb, const crest_select_config *cfg, size_t ri)
{
    const crest_select_rule *er = &cfg->rules[ri];
    if (er->code_len)
        reason_code(rb, er->code, er->code_len);
    else
        crest_reason_add(rb, er->id, NULL);
}

/*
 * Lane forcing by criteria: each hit lane rule applies with its probability,
 * drawn with its own keyed uniform; credit-sensitive rules scale that
 * probability by the tier's rate relative to the base tier.
 */
static void force_lanes(const crest_select_config *cfg, const policy_tier *t, const crest_risk_result *rr,
                        crest_str id, crest_selection *s, int *forced_rule)
{
    const crest_policy *p = cfg->policy;
    double not_forced = 1.0;
    /* Weight rules alone (the usual criteria): no hit can force a lane, and
     * the loop over the hits (their count varies row to row) is skipped. */
    for (size_t k = 0; k < (cfg->weights_only ? 0 : rr->rules.n_hits); k++) {
        const uint32_t ri = rr->rules.hits[k];
        const crest_select_rule *er = &cfg->rules[ri];
        if (!er->lane)
            continue;
        double q = er->probability;
        if (er->credit_sensitive) /* the tier's rate relative to the base tier's, for lane rules only */
            q = fmin(1.0, q * (t->effective_rate / p->tiers[p->base_tier].effective_rate));
        not_forced *= 1.0 - q;
        /* A credit-insensitive rule is drawn even under a stronger forced lane:
         * whether it fired decides the net AEO ratio. The draw is keyed, so
         * drawing it changes no decision. */
        const int wanted = er->lane > s->forced_lane || (!er->credit_sensitive && !s->dec.forced_insensitive);
        const double draw =
            wanted ? crest_keyhash_to_unit(crest_keyhash_siphash24(p->seed, er->key, id.ptr, id.len)) : 1.0;
        if (wanted && draw < q) {
            if (!er->credit_sensitive)
                s->dec.forced_insensitive = 1;
            if (er->lane > s->forced_lane) {
                s->forced_lane = er->lane;
                *forced_rule = (int)ri;
                s->forced_draw = draw;
                s->forced_q = q;
            }
        }
    }
    s->max_hits = rr->rules.max_hits_exceeded;
    s->dec.p_forced = s->max_hits ? 1.0 : 1.0 - not_forced;
}

/* Reasons: why selected first, then the hit criteria, then notes. */
static void write_reasons(const crest_select_config *cfg, const crest_select_plan *plan, const policy_tier *t,
                          const crest_risk_result *rr, int forced_rule, int limit_inspect, crest_selection *s)
{
    reason_buf *rb = &s->reasons;
    reason_clear(rb);
    const int drawn = s->drawn, by_random = s->by_random;
    if (forced_rule >= 0) {
        /* The forcing criterion first, saying that its own keyed draw (not
         * the row's u against p) forced the lane: "Q_SAMPLE[forced: draw
         * 0.0073 < 0.01]", or "[forced]" for a criterion that always forces. */
        char detail[64];
        if (s->forced_q >= 1.0)
            snprintf(detail, sizeof detail, "forced");
        else
            snprintf(detail, sizeof detail, "forced: draw %.4g < %.4g", s->forced_draw, s->forced_q);
        crest_reason_add(rb, cfg->rules[forced_rule].id, detail);
    }
    if (limit_inspect)
        reason_code(rb, "REGEX_LIMIT", sizeof "REGEX_LIMIT" - 1);
    else if (s->max_hits)
        crest_reason_add(rb, cfg->max_hits_id, NULL);
    if (drawn && by_random)
        reason_code(rb, t->floor ? "TIER_FLOOR" : "RANDOM", t->floor ? 10 : 6);
    if (drawn && !by_random)
        reason_code(rb, "RISK", sizeof "RISK" - 1);
    if (drawn && !by_random && rr && rr->explain.n) {
        /* Each contribution in words with the declaration's values of its
         * keys ("HS4 6204 × origin CN history +2.19"). */
        char top[3 * CREST_LMODEL_EXPLAIN_TEXT + 64];
        size_t dl = 0;
        top[0] = '\0';
        for (size_t k = 0; k < rr->explain.n && dl < sizeof top; k++)
            dl += (size_t)snprintf(top + dl, sizeof top - dl, "%s%s %+.2f", k ? " / " : "",
                                   rr->explain.has_text   ? rr->explain.text[k]
                                   : rr->explain.words[k] ? rr->explain.words[k]
                                                          : rr->explain.feature[k],
                                   rr->explain.contribution[k]);
        crest_reason_add(rb, "MODEL", top);
    } else if (drawn && !by_random && rr && !isnan(rr->model_prob)) {
        crest_reason_add(rb, "MODEL", NULL);
    }
    if (drawn && !by_random && t->floor)
        reason_code(rb, "TIER_FLOOR", sizeof "TIER_FLOOR" - 1);
    if (rr && cfg->rules) {
        for (size_t k = 0; k < rr->rules.n_hits; k++)
            if ((int)rr->rules.hits[k] != forced_rule)
                reason_rule(rb, cfg, rr->rules.hits[k]);
    }
    if (plan->unknown)
        reason_code(rb, "TIER_UNKNOWN", sizeof "TIER_UNKNOWN" - 1);
    if (plan->mra)
        reason_code(rb, "MRA", sizeof "MRA" - 1);
    if (plan->fx_missing)
        reason_code(rb, "FX_MISSING", sizeof "FX_MISSING" - 1);
}

/*
 * The selection probability. Without a risk layer p is the tier's target.
 * With one, the target splits into a random part (random_share, drawn
 * uniformly: reason RANDOM) and a risk part weighted by the score:
 *   p = rate · (rs + (1 − rs) · scale · m · w(score)),  w = 1 + gain·score or exp(gain·score)
 * where scale is the tier's calibrated constant and m the adaptive
 * multiplier (1 unless [control] mode = adaptive). A single keyed draw
 * u < p decides; u below the random part reads as a random selection.
 * Hot path.
 */
void crest_select(const crest_select_config *cfg, const crest_select_plan *plan, const crest_risk_result *rr,
                  crest_str id, crest_selection *s, const int lean)
{
    const crest_policy *p = cfg->policy;
    const policy_tier *t = &p->tiers[plan->tier];
    crest_decision *dec = &s->dec;
    memset(dec, 0, sizeof *dec);
    dec->tier = plan->tier;
    dec->score = NAN;
    dec->prob = rr ? rr->prob : NAN;
    dec->multiplier = plan->multiplier;
    /* A floor tier with floor_confidence draws at its margin rate above the
     * floor (draw_rate), every row at least at it; otherwise draw_rate is the
     * tier's rate. */
    dec->p_random = t->draw_rate;
    if (rr) {
        dec->score = rr->score;
        const double rs = isnan(t->random_share) ? p->random_share : t->random_share;
        const double weight = p->weighting == WEIGHTING_EXP    ? exp(p->gain * rr->score)
                              : p->weighting == WEIGHTING_ODDS ? exp(p->gain * fmin(fmax(rr->z, -30.0), 30.0))
                                                               : 1.0 + p->gain * rr->score;
        dec->p_random = t->draw_rate * rs;
        dec->p_risk_unit = t->draw_rate * (1.0 - rs) * weight;
    }
    const double prob = crest_select_clip(dec->p_random + t->scale * dec->multiplier * dec->p_risk_unit,
                                          !lean && t->floor ? t->draw_rate : 0.0);
    dec->p = prob;
    s->u53 = crest_keyhash_siphash24(p->seed, CREST_KEYHASH_K1, id.ptr, id.len) >> 11;
    dec->u = crest_keyhash_to_unit(s->u53 << 11);
    if (!lean && p->control_mode == CONTROL_SYSTEMATIC) {
        /* Systematic sampling within the tier and window: select when the running
         * sum of p, shifted by a keyed offset, crosses an integer. Counts stay
         * within one of their expectation; order-dependent by construction. */
        const double before = plan->sys_position;
        const double after = before + prob;
        s->drawn = floor(after) > floor(before);
        s->by_random = s->drawn && prob > 0 && (floor(after) - before) / prob < dec->p_random / prob;
    } else {
        s->drawn = dec->u < prob;
        s->by_random = dec->u < dec->p_random;
    }
    if (plan->floor_topup && !s->drawn) {
        /* floor_period: the period's realised rate would fall under the floor
         * without this inspection (order-dependent; reason TIER_FLOOR). */
        s->drawn = 1;
        s->by_random = 1;
    }
    s->forced_lane = 0;
    s->max_hits = 0;
    int forced_rule = -1;
    if (rr && cfg->rules)
        force_lanes(cfg, t, rr, id, s, &forced_rule);
    /* [rules] on_limit = inspect: a regex that could not finish sends the row to inspection. */
    const int limit_inspect = rr && rr->rules.n_limit_hits && p->on_limit == LIMIT_INSPECT;
    if (limit_inspect) {
        s->max_hits = 1; /* forced to the inspect lane, like "maximum hits" */
        dec->p_forced = 1.0;
    }
    const int inspect = s->drawn || s->forced_lane > CREST_LANE_GREEN || s->max_hits;
    dec->inspect = inspect;
    dec->forced = s->forced_lane > 0 || s->max_hits;
    int lane_rank = s->forced_lane;
    if ((s->drawn || s->max_hits) && cfg->inspect_lane_rank > lane_rank)
        lane_rank = cfg->inspect_lane_rank;
    dec->lane = inspect ? lane_rank : 0;
    if (!inspect) {
        s->lane = p->lane_release;
        s->lane_len = cfg->lane_release_len;
        s->lane_slot = 0;
    } else if (lane_rank == cfg->inspect_lane_rank) {
        s->lane = p->lane_inspect;
        s->lane_len = cfg->lane_inspect_len;
        s->lane_slot = 1 * 2 + 1;
    } else {
        s->lane = crest_lane_name((crest_lane)lane_rank);
        s->lane_len = strlen(s->lane);
        s->lane_slot = (unsigned)(2 + lane_rank) * 2 + 1;
    }
    s->priority = t->priority || plan->mra;
    s->p_inspect = 1.0 - (1.0 - dec->p_forced) * (1.0 - prob);
    s->forced_rule = forced_rule;
    s->limit_inspect = limit_inspect;
}

/* Hot path. */
void crest_select_reasons(const crest_select_config *cfg, const crest_select_plan *plan,
                          const crest_risk_result *rr, crest_selection *s)
{
    write_reasons(cfg, plan, &cfg->policy->tiers[plan->tier], rr, s->forced_rule, s->limit_inspect, s);
}
