/*
 * policy_internal.h — the policy's layout, shared by the engine's modules.
 * Public users go through crest_policy.h accessors.
 */
#ifndef CREST_POLICY_INTERNAL_H
#define CREST_POLICY_INTERNAL_H

#include "crest/crest_policy.h"

#define CREST_MAX_TIERS 16
#define CREST_MAX_ALIASES 16
#define CREST_MAX_COLUMN_NAMES 8
#define CREST_MAX_PARTIES 4
#define CREST_MAX_MRA 96

typedef struct policy_tier {
    char *name;
    char *label;
    char *aliases[CREST_MAX_ALIASES];
    size_t n_aliases;
    double rate;  /* absolute rate, or NaN for a ratio tier */
    double ratio; /* ratio to base, or NaN for an absolute tier */
    double effective_rate;
    int floor;
    int priority;
    int guarantee_exempt;
} policy_tier;

struct crest_policy {
    char *name;
    char *description;
    uint64_t seed;
    policy_tier tiers[CREST_MAX_TIERS];
    size_t n_tiers;
    size_t base_tier;
    size_t default_tier;

    /* Extra header names per canonical field, tried before the built-in aliases. */
    char *columns[CREST_FIELD_COUNT][CREST_MAX_COLUMN_NAMES];
    size_t n_columns[CREST_FIELD_COUNT];

    crest_field parties[CREST_MAX_PARTIES];
    size_t n_parties;
    crest_tier_pref tier_pref;

    char mra_partners[CREST_MAX_MRA][3];
    size_t n_mra;

    char lane_inspect[16];
    char lane_release[16];

    size_t max_field_bytes;
    size_t max_record_bytes;
    char delimiter;
    crest_passthrough passthrough;

    char *canonical;  /* crest_policy_describe() */
    uint64_t hash;
    char hash_hex[17];
};

/* 1 when the two-letter country code is an MRA partner. */
int policy_is_mra_partner(const crest_policy *policy, const char *cc);

#endif
