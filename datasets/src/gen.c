/*
 * gen.c — the generator's front door: configuration defaults, tier schemes
 * (Order 251 and Order 282 names), parameter checking, create/free and the
 * summary. The population is built in gen_firms.c, rows are written in
 * gen_rows.c.
 */
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"

static const char *const tiers_251[] = {"AEO", "REGULAR", "DISHONEST"};
static const char *const tiers_282[] = {"AEO", "CERTIFIED", "REGULAR", "DISHONEST", "SERIOUSLY_DISHONEST"};

size_t crest_gen_scheme_tier_count(int scheme)
{
    return scheme == CREST_GEN_SCHEME_251 ? 3 : scheme == CREST_GEN_SCHEME_282 ? 5 : 0;
}

const char *crest_gen_scheme_tier_name(int scheme, size_t tier)
{
    if (tier >= crest_gen_scheme_tier_count(scheme))
        return NULL;
    return scheme == CREST_GEN_SCHEME_251 ? tiers_251[tier] : tiers_282[tier];
}

int crest_gen_scheme_tier_index(int scheme, const char *name, size_t name_len)
{
    size_t n = crest_gen_scheme_tier_count(scheme);
    for (size_t i = 0; i < n; i++) {
        const char *t = crest_gen_scheme_tier_name(scheme, i);
        if (strlen(t) == name_len && memcmp(t, name, name_len) == 0)
            return (int)i;
    }
    return -1;
}

crest_status crest_gen_config_set_scheme(crest_gen_config *cfg, int scheme)
{
    /* Firm shares at the start of the period and illicit rates per tier. */
    static const double share_251[] = {0.01, 0.0, 0.02};
    static const double illicit_251[] = {0.005, 0.03, 0.25};
    static const double share_282[] = {0.01, 0.02, 0.0, 0.015, 0.005};
    static const double illicit_282[] = {0.005, 0.01, 0.03, 0.15, 0.35};
    size_t n = crest_gen_scheme_tier_count(scheme);
    if (!cfg || n == 0)
        return CREST_ERR_INVALID;
    cfg->scheme = scheme;
    for (size_t i = 0; i < CREST_GEN_MAX_TIERS; i++) {
        cfg->tier_firm_share[i] = 0.0;
        cfg->tier_illicit[i] = 0.0;
    }
    for (size_t i = 0; i < n; i++) {
        cfg->tier_firm_share[i] = scheme == CREST_GEN_SCHEME_251 ? share_251[i] : share_282[i];
        cfg->tier_illicit[i] = scheme == CREST_GEN_SCHEME_251 ? illicit_251[i] : illicit_282[i];
    }
    return CREST_OK;
}

void crest_gen_config_default(crest_gen_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->seed = 1;
    cfg->n_rows = 1000;
    cfg->start_day = gen_days_from_civil(2025, 1, 1);
    cfg->n_days = 365;
    cfg->n_firms = 20000;
    cfg->n_brokers = 0;
    cfg->zipf_exponent = 1.0;
    cfg->aeo_trade_share = 0.40;
    cfg->unknown_tier_share = 0.02;
    cfg->foreign_aeo_share = 0.25;
    cfg->zh_share = 0.35;
    cfg->newline_share = 0.001;
    cfg->drift = 0.0;
    cfg->inject_chapter = 0;
    cfg->inject_from_day = cfg->start_day + 182;
    cfg->inject_firms = 20;
    cfg->inject_share = 0.01;
    cfg->inject_illicit = 0.6;
    crest_gen_config_set_scheme(cfg, CREST_GEN_SCHEME_251);
}

static int is_prob(double p)
{
    return p >= 0.0 && p <= 1.0;
}

static crest_status check_config(const crest_gen_config *c, crest_diag *d)
{
    const char *f = "<crest_gen_config>";
    size_t n_tiers = crest_gen_scheme_tier_count(c->scheme);
    if (n_tiers == 0)
        return crest_diag_set(d, CREST_ERR_INVALID, f, 0, 0, "The tier scheme must be 251 or 282, not %d.",
                              c->scheme);
    if (c->n_rows < 1 || c->n_rows > 500000000ULL)
        return crest_diag_set(d, CREST_ERR_RANGE, f, 0, 0,
                              "The number of rows must be between 1 and 500000000.");
    if (c->n_days < 1 || c->n_days > 3660)
        return crest_diag_set(d, CREST_ERR_RANGE, f, 0, 0, "The number of days must be between 1 and 3660.");
    if (c->start_day < gen_days_from_civil(1990, 1, 1) || c->start_day > gen_days_from_civil(2089, 12, 31))
        return crest_diag_set(d, CREST_ERR_RANGE, f, 0, 0,
                              "The start date must be between 1990-01-01 and 2089-12-31.");
    if (c->n_firms < 10 || c->n_firms > 2000000)
        return crest_diag_set(d, CREST_ERR_RANGE, f, 0, 0,
                              "The number of firms must be between 10 and 2000000.");
    if (c->n_brokers > 200000)
        return crest_diag_set(d, CREST_ERR_RANGE, f, 0, 0, "The number of brokers must be at most 200000.");
    if (!(c->zipf_exponent >= 0.0 && c->zipf_exponent <= 3.0))
        return crest_diag_set(d, CREST_ERR_RANGE, f, 0, 0, "The Zipf exponent must be between 0 and 3.");
    double sum = 0.0;
    int regular = c->scheme == CREST_GEN_SCHEME_251 ? 1 : 2;
    for (size_t t = 0; t < n_tiers; t++) {
        const char *name = crest_gen_scheme_tier_name(c->scheme, t);
        if ((int)t != regular) {
            if (!is_prob(c->tier_firm_share[t]))
                return crest_diag_set(d, CREST_ERR_RANGE, f, 0, 0,
                                      "The firm share of tier %s must be in [0, 1].", name);
            sum += c->tier_firm_share[t];
        }
        if (!(c->tier_illicit[t] > 0.0 && c->tier_illicit[t] < 1.0))
            return crest_diag_set(d, CREST_ERR_RANGE, f, 0, 0,
                                  "The illicit rate of tier %s must be strictly between 0 and 1.", name);
    }
    if (sum > 0.9)
        return crest_diag_set(d, CREST_ERR_RANGE, f, 0, 0,
                              "The non-regular tiers may hold at most 90%% of firms.");
    if (!(c->aeo_trade_share > 0.0 && c->aeo_trade_share < 0.95))
        return crest_diag_set(d, CREST_ERR_RANGE, f, 0, 0,
                              "The AEO trade share must be strictly between 0 and 0.95.");
    if (!is_prob(c->unknown_tier_share) || !is_prob(c->foreign_aeo_share) || !is_prob(c->zh_share) ||
        !is_prob(c->newline_share))
        return crest_diag_set(d, CREST_ERR_RANGE, f, 0, 0,
                              "Shares (unknown tier, foreign AEO, Chinese, newline) must be in [0, 1].");
    if (!(c->drift >= -10.0 && c->drift <= 10.0))
        return crest_diag_set(d, CREST_ERR_RANGE, f, 0, 0, "The drift must be between -10 and 10.");
    if (c->inject_chapter != 0) {
        if (c->inject_chapter < 1 || c->inject_chapter > 97)
            return crest_diag_set(d, CREST_ERR_RANGE, f, 0, 0,
                                  "The injected chapter must be between 1 and 97.");
        if (c->inject_firms < 1 || c->inject_firms > 10000)
            return crest_diag_set(d, CREST_ERR_RANGE, f, 0, 0,
                                  "The injected firms must number between 1 and 10000.");
        if (!(c->inject_share > 0.0 && c->inject_share <= 1.0) || !is_prob(c->inject_illicit))
            return crest_diag_set(d, CREST_ERR_RANGE, f, 0, 0,
                                  "The injected share must be in (0, 1] and its illicit rate in [0, 1].");
    }
    return CREST_OK;
}

crest_status crest_gen_create(const crest_gen_config *cfg, crest_gen **out, crest_diag *diag)
{
    crest_diag local;
    if (!diag)
        diag = &local;
    crest_diag_clear(diag);
    if (!out || !cfg)
        return crest_diag_set(diag, CREST_ERR_INVALID, "<crest_gen>", 0, 0,
                              "crest_gen_create needs a configuration and an output pointer.");
    *out = NULL;
    crest_status st = check_config(cfg, diag);
    if (st != CREST_OK)
        return st;
    crest_gen *gen = calloc(1, sizeof *gen);
    if (!gen)
        return crest_diag_set(diag, CREST_ERR_NOMEM, "<crest_gen>", 0, 0, "Out of memory.");
    gen->cfg = *cfg;
    gen->n_tiers = crest_gen_scheme_tier_count(cfg->scheme);
    gen->regular = cfg->scheme == CREST_GEN_SCHEME_251 ? 1 : 2;
    st = gen_firms_build(gen, diag);
    if (st != CREST_OK) {
        crest_gen_free(gen);
        return st;
    }
    *out = gen;
    return CREST_OK;
}

void crest_gen_free(crest_gen *gen)
{
    if (!gen)
        return;
    free(gen->firms);
    free(gen->brokers);
    free(gen->day_rows);
    gen_alias_free(&gen->firm_alias);
    gen_alias_free(&gen->broker_alias);
    gen_alias_free(&gen->office_alias);
    gen_alias_free(&gen->origin_alias);
    gen_alias_free(&gen->origin_bulk_alias);
    gen_alias_free(&gen->product_import);
    gen_alias_free(&gen->product_export);
    gen_alias_free(&gen->product_inject);
    free(gen);
}

void crest_gen_get_summary(const crest_gen *gen, crest_gen_summary *out)
{
    *out = gen->summary;
}
