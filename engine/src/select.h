/*
 * select.h — the selection, as a pure function: (the run's selection
 * configuration, a tier plan, the risk result, the declaration id) ->
 * decision and reasons. No state, no I/O, no allocation: the same inputs give
 * the same decision, so `crest run`, `crest check`, `crest calibrate` and the
 * summary's feasibility verdicts all rest on this one definition.
 *
 * What the selection does not do: resolve the tier (tier.c), score the
 * declaration (the risk layer), hold rates over time (control.c gives the
 * multiplier and the systematic position in the plan, and advances its state
 * afterwards), count (engine.c) or write anything (render.c).
 */
#ifndef CREST_SELECT_H
#define CREST_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_engine.h"
#include "crest/crest_risk.h"
#include "policy_internal.h"
#include "reasons.h"

/* The library's own functions: hidden, so the compiler may inline them (engine_internal.h). */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(hidden)
#endif

/* What the selection needs of each criterion. */
typedef struct crest_select_rule {
    int lane; /* the lane it forces (crest_lane), 0 for weight rules */
    double probability;
    int credit_sensitive;
    uint64_t key;          /* keyed-hash key half for this rule's forcing draw */
    const char *id;        /* the rule id as written (owned by the risk layer) */
    char code[48];         /* the id as a reason code (crest_reason_add's replacements made) */
    size_t code_len;       /* 0: the id is too long for code, crest_reason_add takes id */
    const char *rationale; /* text shown to the officer, "" when none (owned by the risk layer) */
} crest_select_rule;

/* Fixed for a run: the policy and the loaded criteria. */
typedef struct crest_select_config {
    const crest_policy *policy;
    const crest_select_rule *rules; /* n_rules of them; NULL without criteria */
    size_t n_rules;
    int weights_only;        /* no rule forces a lane: hits need no look for one (0: look) */
    const char *max_hits_id; /* reason code of "maximum hits", NULL without criteria */
    int inspect_lane_rank;   /* lane rank of the policy's inspect lane */
    size_t lane_release_len, lane_inspect_len;
} crest_select_config;

/*
 * The tier plan of one declaration: its resolved tier and what the control
 * holds for it at this point of the input.
 */
typedef struct crest_select_plan {
    size_t tier;
    double multiplier;   /* adaptive control's multiplier of the risk part (1 when frozen) */
    double sys_position; /* systematic control: running sum of p plus the keyed offset; unused otherwise */
    int unknown;         /* the tier is the default because none was found (reason TIER_UNKNOWN) */
    int mra;             /* the trader is an MRA partner's AEO (reason MRA, priority) */
    int floor_topup;     /* floor_period: without an inspection here the period would fall under the floor */
    int moved_by_party;  /* another party's lower registry tier applies instead of the enterprise's own */
    int fx_missing;      /* [fx]: the declared currency had no rate on the date (reason FX_MISSING) */
} crest_select_plan;

/* The decision with what rendering and counting need of it. */
typedef struct crest_selection {
    crest_decision dec; /* tier, score, p and its parts, u, inspect, lane, forced */
    uint64_t u53;       /* u = u53 / 2^53, kept as an integer for its text */
    int drawn;          /* selected by the draw (or the systematic crossing) */
    int by_random;      /* ... by its random part */
    int forced_lane;    /* lane forced by a criterion, 0 when none */
    double forced_draw; /* the forcing criterion's own keyed uniform ... */
    double forced_q;    /* ... and the probability it was drawn against (draw < q forced the lane) */
    int max_hits;       /* more criteria hit than max_hits, or a regex limit with on_limit = inspect */
    int priority;       /* the tier's priority, or MRA */
    double p_inspect;   /* 1 − (1 − p_forced)(1 − p): the chance of inspection */
    const char *lane;   /* the lane's name, lane_len bytes */
    size_t lane_len;
    unsigned lane_slot; /* 2 · (0: lane_release, 1: lane_inspect, 2 + rank: the rank's own name) + inspect */
    reason_buf reasons; /* why selected, the hit criteria, notes */
    int forced_rule;    /* the forcing criterion's index, -1 when none (for the reasons) */
    int limit_inspect;  /* a regex limit sent the row to inspection (for the reasons) */
} crest_selection;

/* Fill cfg from the policy (no criteria yet: rules NULL). */
void crest_select_config_init(crest_select_config *cfg, const crest_policy *policy);

/* Lane rank of a lane name (GREEN 0 .. RED 4); RED for an unknown name. */
int crest_select_lane_rank(const char *lane);

/* Fill *rule from a criterion's description: its forcing draw's key and its reason code. */
void crest_select_rule_init(crest_select_rule *rule, const char *id, int lane, double probability,
                            int credit_sensitive);

/*
 * The probability of the draw for the parts of a tier's target: p = p_random
 * + scale · p_risk_unit, held at the tier's rate for a floor tier (floor_rate,
 * 0 otherwise) and clipped to [0, 1] (NaN gives 0). Used by the
 * selection and by the calibration's solver, so both mean the same p.
 */
static inline double crest_select_clip(double p, double floor_rate)
{
    if (p < floor_rate)
        p = floor_rate; /* "80% or more": every declaration of a floor tier */
    if (p > 1.0)
        p = 1.0;
    if (!(p >= 0.0))
        p = 0.0;
    return p;
}

/*
 * Decide one declaration; its reasons are written by crest_select_reasons,
 * called next (with the same cfg, plan and rr: a row selected by its risk
 * may first get its model contributions' values, crest_risk_explain_values).
 * rr is NULL without a risk layer. Pure: reads only its arguments (and the
 * policy through cfg). lean: a constant, 1 only for an engine's lean path
 * (its policy has no floor tier and no systematic control). Hot path;
 * allocates nothing.
 */
void crest_select(const crest_select_config *cfg, const crest_select_plan *plan, const crest_risk_result *rr,
                  crest_str id, crest_selection *out, const int lean);

/* The reasons of the selection crest_select made into s->reasons. Hot path. */
void crest_select_reasons(const crest_select_config *cfg, const crest_select_plan *plan,
                          const crest_risk_result *rr, crest_selection *s);

/*
 * Relative tolerance of "is this target feasible?": rates computed as sums
 * over many rows carry rounding far below it, so a fixed part equal to the
 * target (random_share = 1) reads as feasible however many rows were summed.
 */
#define CREST_SELECT_FEASIBLE_TOLERANCE 1e-6

/*
 * Whether a tier's target can be met when `fixed_rate` of its declarations is
 * selected whatever the scale (criteria's forcing and the random share). A
 * floor ("or more") cannot be exceeded into infeasibility. The one test that
 * calibrate, check and the summary use.
 */
static inline int crest_select_feasible(double target, double fixed_rate, int floor)
{
    return floor || !(fixed_rate > target * (1.0 + CREST_SELECT_FEASIBLE_TOLERANCE));
}

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

#endif
