/*
 * gen_firms.c — builds the enterprise population behind a dataset: firms with
 * Zipf-like volumes and a persistent risk propensity, brokers, tiers at the
 * start of the period chosen with a preference (AEOs among large, clean firms;
 * dishonest among risky, small ones), tier changes inside the period, the
 * number of rows per day, and the calibration that makes the expected AEO row
 * share and the expected illicit rate of every tier equal the configured
 * values exactly for this population. Also writes the registry CSV.
 *
 * Everything here runs once, at create time; the row writer only reads it.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"

/* ------------------------------------------------------- weighted choice */

typedef struct keyed {
    double key;
    uint32_t idx;
} keyed;

static int cmp_keyed_desc(const void *pa, const void *pb)
{
    const keyed *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key > b->key ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/*
 * Weighted sampling without replacement (Efraimidis-Spirakis): each candidate
 * gets key log(u) / p with p = exp(log_pref); the k largest keys win. Sorting
 * with an index tie-break keeps the choice deterministic. Writes the chosen
 * indices to chosen[] in order and returns how many there are.
 */
static uint32_t choose_weighted(gen_rng *r, keyed *buf, const uint32_t *cand, uint32_t n_cand,
                                const double *log_pref, uint32_t k, uint32_t *chosen)
{
    if (k > n_cand)
        k = n_cand;
    for (uint32_t i = 0; i < n_cand; i++) {
        double u = 1.0 - gen_unif(r);
        buf[i].key = log(u) * exp(-log_pref[cand[i]]);
        buf[i].idx = cand[i];
    }
    qsort(buf, n_cand, sizeof *buf, cmp_keyed_desc);
    for (uint32_t i = 0; i < k; i++)
        chosen[i] = buf[i].idx;
    return k;
}

/* ---------------------------------------------------------- tier changes */

typedef enum pref_kind { PREF_UNIFORM, PREF_GOOD, PREF_BAD } pref_kind;

typedef struct event_spec {
    int from, to;
    double rate_per_year; /* relative to the start count of tier `base` */
    int base;
    pref_kind pref;
} event_spec;

/* Order 251: AEO 0, REGULAR 1, DISHONEST 2. */
static const event_spec events_251[] = {
    {1, 0, 0.10, 0, PREF_GOOD},    /* certification of new AEOs */
    {0, 1, 0.03, 0, PREF_UNIFORM}, /* AEO status withdrawn */
    {1, 2, 0.40, 2, PREF_BAD},     /* listed as dishonest */
    {2, 1, 0.25, 2, PREF_UNIFORM}, /* credit restored after a year */
};
/* Order 282: AEO 0, CERTIFIED 1, REGULAR 2, DISHONEST 3, SERIOUSLY_DISHONEST 4. */
static const event_spec events_282[] = {
    {2, 1, 0.10, 1, PREF_GOOD}, {1, 0, 0.08, 0, PREF_GOOD}, {0, 1, 0.03, 0, PREF_UNIFORM},
    {2, 3, 0.40, 3, PREF_BAD},  {3, 4, 0.20, 4, PREF_BAD},  {3, 2, 0.25, 3, PREF_UNIFORM},
};

static double log_pref_of(const gen_firm *f, pref_kind kind, int strong)
{
    double lw = log(f->weight);
    switch (kind) {
    case PREF_GOOD:
        return strong ? 1.5 * lw - f->propensity : 0.7 * lw - 0.5 * f->propensity;
    case PREF_BAD:
        return (strong ? 2.0 : 1.5) * f->propensity - 0.3 * lw;
    default:
        return 0.0;
    }
}

/* Tiers at the start: non-regular tiers are filled in the order AEO, the other
 * good tiers, then the bad tiers from the worst, each from the remaining
 * regular entities. Brokers (uniform) use the same routine. */
static void assign_start_tiers(crest_gen *gen, gen_firm *ents, uint32_t n, const double *share, int uniform,
                               gen_rng *r, double *lp, keyed *kbuf, uint32_t *cand, uint32_t *chosen)
{
    const int reg = gen->regular;
    int order[CREST_GEN_MAX_TIERS], n_order = 0;
    for (int t = 0; t < reg; t++)
        order[n_order++] = t;
    for (int t = (int)gen->n_tiers - 1; t > reg; t--)
        order[n_order++] = t;
    for (int o = 0; o < n_order; o++) {
        int t = order[o];
        uint32_t k = (uint32_t)llround(share[t] * n);
        if (k == 0)
            continue;
        uint32_t n_cand = 0;
        for (uint32_t i = 0; i < n; i++)
            if (ents[i].tier0 == reg) {
                cand[n_cand++] = i;
                lp[i] = uniform ? 0.0
                                : log_pref_of(&ents[i], t < reg ? PREF_GOOD : PREF_BAD,
                                              t == 0 || t == (int)gen->n_tiers - 1);
            }
        k = choose_weighted(r, kbuf, cand, n_cand, lp, k, chosen);
        for (uint32_t j = 0; j < k; j++)
            ents[chosen[j]].tier0 = ents[chosen[j]].tier1 = (uint8_t)t;
    }
}

static void set_first_from(const crest_gen *gen, gen_firm *f, gen_rng *r)
{
    const int32_t start = gen->cfg.start_day;
    if (f->tier0 < gen->regular)
        f->first_from = start - 30 - (int32_t)gen_below(r, 1800);
    else if (f->tier0 == gen->regular)
        f->first_from = start - 30 - (int32_t)gen_below(r, 3650);
    else
        f->first_from = start - 1 - (int32_t)gen_below(r, f->tier0 == gen->n_tiers - 1 ? 700 : 364);
}

static void apply_events(crest_gen *gen, gen_rng *r, double *lp, keyed *kbuf, uint32_t *cand,
                         uint32_t *chosen, uint32_t *n_events)
{
    const crest_gen_config *c = &gen->cfg;
    const event_spec *spec = c->scheme == CREST_GEN_SCHEME_251 ? events_251 : events_282;
    size_t n_spec = c->scheme == CREST_GEN_SCHEME_251 ? sizeof events_251 / sizeof events_251[0]
                                                      : sizeof events_282 / sizeof events_282[0];
    uint32_t start_count[CREST_GEN_MAX_TIERS] = {0};
    for (uint32_t i = 0; i < gen->n_firms; i++)
        start_count[gen->firms[i].tier0]++;
    *n_events = 0;
    if (c->n_days < 2)
        return;
    const double years = c->n_days / 365.0;
    for (size_t s = 0; s < n_spec; s++) {
        if (start_count[spec[s].base] == 0)
            continue;
        long k = llround(spec[s].rate_per_year * start_count[spec[s].base] * years);
        if (k < 1)
            k = 1; /* every kind of change occurs at least once, so as-of joins matter */
        uint32_t n_cand = 0;
        for (uint32_t i = 0; i < gen->n_firms; i++) {
            gen_firm *f = &gen->firms[i];
            if (f->tier0 == spec[s].from && f->event_day == INT32_MAX) {
                cand[n_cand++] = i;
                lp[i] = log_pref_of(f, spec[s].pref, 0);
            }
        }
        uint32_t got = choose_weighted(r, kbuf, cand, n_cand, lp, (uint32_t)k, chosen);
        for (uint32_t j = 0; j < got; j++) {
            gen_firm *f = &gen->firms[chosen[j]];
            f->tier1 = (uint8_t)spec[s].to;
            f->event_day = c->start_day + 1 + (int32_t)gen_below(r, c->n_days - 1);
            /* A restored firm was listed at least a year before its restoration. */
            if (spec[s].from > gen->regular && spec[s].to == gen->regular)
                f->first_from = f->event_day - 365 - (int32_t)gen_below(r, 180);
        }
        *n_events += got;
    }
}

/* ------------------------------------------------------------- day rows */

static crest_status allocate_day_rows(crest_gen *gen)
{
    const crest_gen_config *c = &gen->cfg;
    const uint32_t n = c->n_days;
    double *w = malloc(n * sizeof *w);
    keyed *rem = malloc(n * sizeof *rem);
    if (!w || !rem) {
        free(w);
        free(rem);
        return CREST_ERR_NOMEM;
    }
    /* Weekends are quiet: Saturday 0.45, Sunday 0.3 of a weekday. */
    double total = 0.0;
    for (uint32_t d = 0; d < n; d++) {
        int dow = (int)(((int64_t)c->start_day + d + 4) % 7); /* 0 = Sunday */
        w[d] = dow == 0 ? 0.3 : dow == 6 ? 0.45 : 1.0;
        total += w[d];
    }
    uint64_t given = 0;
    for (uint32_t d = 0; d < n; d++) {
        double exact = (double)c->n_rows * w[d] / total;
        uint64_t base = (uint64_t)exact;
        gen->day_rows[d] = (uint32_t)base;
        given += base;
        rem[d].key = exact - (double)base;
        rem[d].idx = d;
    }
    qsort(rem, n, sizeof *rem, cmp_keyed_desc); /* largest remainders get the rest */
    for (uint32_t j = 0; given < c->n_rows; j = (j + 1) % n, given++)
        gen->day_rows[rem[j].idx]++;
    free(w);
    free(rem);
    return CREST_OK;
}

/* ----------------------------------------------------------- calibration */

static double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}
static double norm_cdf(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

static double grid_at(const double *g, double x)
{
    double t = (x - GEN_GRID_LO) / GEN_GRID_STEP;
    if (t <= 0.0)
        return g[0];
    if (t >= GEN_GRID_N - 1)
        return g[GEN_GRID_N - 1];
    size_t i = (size_t)t;
    double frac = t - (double)i;
    return g[i] + frac * (g[i + 1] - g[i]);
}

typedef struct calib {
    double *h, *gi, *gib, *ge, *g2i, *g2e; /* expectation grids, see README */
} calib;

/*
 * Build the expectation grids. H(x) = E_z sigmoid(x + b_u max(0, -z)) for the
 * clamped standard normal z (by symmetry also the export case with max(0, z));
 * G_I adds origin and foreign-AEO effects of imports (G_IB for bulk goods,
 * whose origins differ); G_E the export offset;
 * G2_* average G_* over the heading mix of each direction.
 */
static crest_status calib_build(const crest_gen *gen, calib *cb)
{
    double *all = malloc(6 * (size_t)GEN_GRID_N * sizeof *all);
    if (!all)
        return CREST_ERR_NOMEM;
    cb->h = all;
    cb->gi = all + GEN_GRID_N;
    cb->ge = all + 2 * GEN_GRID_N;
    cb->g2i = all + 3 * GEN_GRID_N;
    cb->g2e = all + 4 * GEN_GRID_N;
    cb->gib = all + 5 * GEN_GRID_N;
    const int n_bins = 400; /* z in [-4, 0] in steps of 0.01 */
    double mass[400], shift[400];
    for (int j = 0; j < n_bins; j++) {
        mass[j] = norm_cdf(-0.01 * j) - norm_cdf(-0.01 * (j + 1));
        shift[j] = GEN_BETA_UNDERVALUE * 0.01 * (j + 0.5);
    }
    const double tail = norm_cdf(-GEN_Z_CLAMP);
    for (int i = 0; i < GEN_GRID_N; i++) {
        double x = GEN_GRID_LO + i * GEN_GRID_STEP;
        double s = 0.5 * sigmoid(x) + tail * sigmoid(x + GEN_BETA_UNDERVALUE * GEN_Z_CLAMP);
        for (int j = 0; j < n_bins; j++)
            s += mass[j] * sigmoid(x + shift[j]);
        cb->h[i] = s;
    }
    double w_origin = 0.0, w_bulk = 0.0;
    for (uint32_t o = 0; o < gen_n_countries; o++) {
        w_origin += gen_countries[o].weight;
        w_bulk += gen_countries[o].w_bulk;
    }
    for (int i = 0; i < GEN_GRID_N; i++) {
        double x = GEN_GRID_LO + i * GEN_GRID_STEP, s = 0.0, sb = 0.0;
        for (uint32_t o = 0; o < gen_n_countries; o++) {
            double q = gen->origin_fa[o], r = gen_countries[o].risk;
            double e = (1.0 - q) * grid_at(cb->h, x + r) + q * grid_at(cb->h, x + r + GEN_BETA_FOREIGN_AEO);
            s += gen_countries[o].weight / w_origin * e;
            sb += gen_countries[o].w_bulk / w_bulk * e;
        }
        cb->gi[i] = s;
        cb->gib[i] = sb;
        cb->ge[i] = grid_at(cb->h, x + GEN_BETA_EXPORT);
    }
    double wi = 0.0, we = 0.0;
    for (uint32_t p = 0; p < gen_n_products; p++) {
        wi += gen_products[p].w_import;
        we += gen_products[p].w_export;
    }
    for (int i = 0; i < GEN_GRID_N; i++) {
        double x = GEN_GRID_LO + i * GEN_GRID_STEP, si = 0.0, se = 0.0;
        for (uint32_t p = 0; p < gen_n_products; p++) {
            const double *g = gen_products[p].mode_class == 0 ? cb->gib : cb->gi;
            si += gen_products[p].w_import / wi * grid_at(g, x + gen_products[p].risk);
            se += gen_products[p].w_export / we * grid_at(cb->ge, x + gen_products[p].risk);
        }
        cb->g2i[i] = si;
        cb->g2e[i] = se;
    }
    return CREST_OK;
}

/* Expected illicit probability of one row of firm f under tier intercept beta. */
static double firm_expectation(const calib *cb, const gen_firm *f, double beta)
{
    const double x = beta + f->propensity, hp = gen_products[f->primary].risk;
    const double pi = GEN_PRIMARY_SHARE;
    const double *g_primary = gen_products[f->primary].mode_class == 0 ? cb->gib : cb->gi;
    double gi = pi * grid_at(g_primary, x + hp) + (1.0 - pi) * grid_at(cb->g2i, x);
    double ge = pi * grid_at(cb->ge, x + hp) + (1.0 - pi) * grid_at(cb->g2e, x);
    return f->import_share * gi + (1.0 - f->import_share) * ge;
}

/* Share of rows falling before day `event` (the tier0 part of a firm's rows). */
static double share_before(const crest_gen *gen, const uint64_t *cum, int32_t event)
{
    const int64_t rel = (int64_t)event - gen->cfg.start_day;
    if (rel <= 0)
        return 0.0;
    if (rel >= gen->cfg.n_days)
        return 1.0;
    return (double)cum[rel] / (double)gen->cfg.n_rows;
}

static double tier_rate(const crest_gen *gen, const calib *cb, const double *f0, int t, double beta,
                        double *mass_out)
{
    double num = 0.0, den = 0.0;
    for (uint32_t i = 0; i < gen->n_firms; i++) {
        const gen_firm *f = &gen->firms[i];
        double m = 0.0;
        if (f->tier0 == t)
            m += f->weight * f0[i];
        if (f->tier1 == t)
            m += f->weight * (1.0 - f0[i]);
        if (m > 0.0) {
            num += m * firm_expectation(cb, f, beta);
            den += m;
        }
    }
    if (mass_out)
        *mass_out = den;
    return den > 0.0 ? num / den : 0.0;
}

static crest_status calibrate(crest_gen *gen, const uint64_t *cum, crest_diag *diag)
{
    const crest_gen_config *c = &gen->cfg;
    const uint32_t n = gen->n_firms;
    double *f0 = malloc(n * sizeof *f0);
    if (!f0)
        return CREST_ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++)
        f0[i] = share_before(gen, cum, gen->firms[i].event_day);

    /* 1. Scale the volumes of firms that are ever AEO so that their expected
     *    share of rows over the period is exactly aeo_trade_share:
     *    k*A1 / (k*A1 + k*B1 + B0) = T. */
    double a1 = 0.0, b1 = 0.0, b0 = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        const gen_firm *f = &gen->firms[i];
        double in_aeo = (f->tier0 == 0 ? f0[i] : 0.0) + (f->tier1 == 0 ? 1.0 - f0[i] : 0.0);
        if (f->tier0 == 0 || f->tier1 == 0) {
            a1 += f->weight * in_aeo;
            b1 += f->weight * (1.0 - in_aeo);
        } else {
            b0 += f->weight;
        }
    }
    if (a1 > 0.0) {
        const double target = c->aeo_trade_share;
        double denom = a1 - target * (a1 + b1);
        if (!(denom > 0.0)) {
            free(f0);
            return crest_diag_set(diag, CREST_ERR_NUMERIC, "<crest_gen_config>", 0, 0,
                                  "The AEO trade share %.3f cannot be reached with these firms.", target);
        }
        double k = target * b0 / denom;
        for (uint32_t i = 0; i < n; i++)
            if (gen->firms[i].tier0 == 0 || gen->firms[i].tier1 == 0)
                gen->firms[i].weight *= k;
    }

    /* 2. Solve each tier intercept by bisection so that the expected illicit
     *    rate of the tier's rows equals the configured rate. */
    calib cb;
    crest_status st = calib_build(gen, &cb);
    if (st != CREST_OK) {
        free(f0);
        return st;
    }
    double total_w = 0.0;
    for (uint32_t i = 0; i < n; i++)
        total_w += gen->firms[i].weight;
    for (size_t t = 0; t < gen->n_tiers; t++) {
        double mass = 0.0, target = c->tier_illicit[t];
        tier_rate(gen, &cb, f0, (int)t, 0.0, &mass);
        gen->summary.row_share[t] = mass / total_w;
        if (mass <= 0.0) {
            gen->tier_logit[t] = 0.0;
            continue;
        }
        double lo = -25.0, hi = 15.0;
        if (tier_rate(gen, &cb, f0, (int)t, lo, NULL) > target ||
            tier_rate(gen, &cb, f0, (int)t, hi, NULL) < target) {
            free(cb.h);
            free(f0);
            return crest_diag_set(diag, CREST_ERR_NUMERIC, "<crest_gen_config>", 0, 0,
                                  "The illicit rate %.4f of tier %s cannot be calibrated.", target,
                                  crest_gen_scheme_tier_name(c->scheme, t));
        }
        for (int it = 0; it < 60; it++) {
            double mid = 0.5 * (lo + hi);
            if (tier_rate(gen, &cb, f0, (int)t, mid, NULL) < target)
                lo = mid;
            else
                hi = mid;
        }
        gen->tier_logit[t] = 0.5 * (lo + hi);
        gen->summary.illicit_rate[t] = tier_rate(gen, &cb, f0, (int)t, gen->tier_logit[t], NULL);
        gen->summary.tier_logit[t] = gen->tier_logit[t];
    }
    free(cb.h);
    free(f0);
    return CREST_OK;
}

/* ------------------------------------------------------------- building */

static crest_status build_tables(crest_gen *gen, crest_diag *diag)
{
    const crest_gen_config *c = &gen->cfg;
    double wi[256], we[256], wj[256];
    crest_status st;
    gen->n_inject_products = 0;
    for (uint32_t p = 0; p < gen_n_products; p++) {
        wi[p] = gen_products[p].w_import;
        we[p] = gen_products[p].w_export;
        int chapter = (gen_products[p].hs4[0] - '0') * 10 + (gen_products[p].hs4[1] - '0');
        if (c->inject_chapter && chapter == c->inject_chapter && gen->n_inject_products < 64) {
            wj[gen->n_inject_products] = gen_products[p].w_import;
            gen->inject_products[gen->n_inject_products++] = p;
        }
    }
    if (c->inject_chapter && gen->n_inject_products == 0)
        return crest_diag_set(diag, CREST_ERR_INVALID, "<crest_gen_config>", 0, 0,
                              "No goods of HS chapter %02d are generated; choose another chapter "
                              "for the injected scheme (e.g. 61, 85 or 87).",
                              c->inject_chapter);
    if ((st = gen_alias_build(&gen->product_import, wi, gen_n_products)) != CREST_OK ||
        (st = gen_alias_build(&gen->product_export, we, gen_n_products)) != CREST_OK)
        return st;
    if (gen->n_inject_products &&
        (st = gen_alias_build(&gen->product_inject, wj, gen->n_inject_products)) != CREST_OK)
        return st;
    double wo[128], wb[128];
    for (uint32_t o = 0; o < gen_n_countries; o++) {
        wo[o] = gen_countries[o].weight;
        wb[o] = gen_countries[o].w_bulk;
        /* A partner AEO can only ship from a partner: the origin itself
         * (direct shipment) or a hub (all hubs are partners). */
        double p_partner =
            (gen_countries[o].aeo_digits > 0 ? GEN_DEPART_ORIGIN : 0.0) + (1.0 - GEN_DEPART_ORIGIN);
        gen->origin_fa[o] = c->foreign_aeo_share * p_partner;
    }
    if ((st = gen_alias_build(&gen->origin_alias, wo, gen_n_countries)) != CREST_OK ||
        (st = gen_alias_build(&gen->origin_bulk_alias, wb, gen_n_countries)) != CREST_OK)
        return st;
    double woff[64];
    for (uint32_t o = 0; o < gen_n_offices; o++)
        woff[o] = gen_offices[o].weight;
    if ((st = gen_alias_build(&gen->office_alias, woff, gen_n_offices)) != CREST_OK)
        return st;
    gen_rng r;
    gen_rng_seed(&r, c->seed, GEN_STREAM_DRIFT, 0);
    for (uint32_t p = 0; p < gen_n_products; p++)
        gen->heading_drift[p] = gen_normal(&r);
    return CREST_OK;
}

crest_status gen_firms_build(crest_gen *gen, crest_diag *diag)
{
    const crest_gen_config *c = &gen->cfg;
    const uint32_t n = c->n_firms;
    gen->n_firms = n;
    gen->n_brokers = c->n_brokers ? c->n_brokers : (n / 50 < 5 ? 5 : n / 50);
    gen->n_inject = c->inject_chapter ? c->inject_firms : 0;
    const uint32_t nb = gen->n_brokers;
    const uint32_t n_max = n > nb ? n : nb;

    crest_status st = build_tables(gen, diag);
    if (st != CREST_OK)
        return st == CREST_ERR_NOMEM ? crest_diag_set(diag, st, "<crest_gen>", 0, 0, "Out of memory.") : st;

    gen->firms = calloc((size_t)n + gen->n_inject, sizeof *gen->firms);
    gen->brokers = calloc(nb, sizeof *gen->brokers);
    gen->day_rows = calloc(c->n_days, sizeof *gen->day_rows);
    double *lp = malloc(n_max * sizeof *lp);
    keyed *kbuf = malloc(n_max * sizeof *kbuf);
    uint32_t *cand = malloc(n_max * sizeof *cand);
    uint32_t *chosen = malloc(n_max * sizeof *chosen);
    uint64_t *cum = malloc(((size_t)c->n_days + 1) * sizeof *cum);
    double *bw = malloc(nb * sizeof *bw);
    if (!gen->firms || !gen->brokers || !gen->day_rows || !lp || !kbuf || !cand || !chosen || !cum || !bw) {
        st = crest_diag_set(diag, CREST_ERR_NOMEM, "<crest_gen>", 0, 0, "Out of memory.");
        goto done;
    }

    /* Brokers: serials n .. n+nb-1, Zipf(1) volumes, uniform tier choice. */
    gen_rng r;
    for (uint32_t j = 0; j < nb; j++) {
        gen_firm *b = &gen->brokers[j];
        gen_uscc_make(c->seed, n + j, b->id);
        b->weight = 1.0 / (j + 2.0);
        b->tier0 = b->tier1 = (uint8_t)gen->regular;
        b->event_day = INT32_MAX;
        b->broker = UINT32_MAX;
        bw[j] = b->weight;
    }
    if ((st = gen_alias_build(&gen->broker_alias, bw, nb)) != CREST_OK)
        goto done;
    {
        static const double broker_251[] = {0.10, 0.0, 0.01};
        static const double broker_282[] = {0.06, 0.08, 0.0, 0.01, 0.0};
        gen_rng_seed(&r, c->seed, GEN_STREAM_BROKER, 0);
        assign_start_tiers(gen, gen->brokers, nb, c->scheme == CREST_GEN_SCHEME_251 ? broker_251 : broker_282,
                           1, &r, lp, kbuf, cand, chosen);
        for (uint32_t j = 0; j < nb; j++)
            set_first_from(gen, &gen->brokers[j], &r);
    }

    /* Firms: serials 0 .. n-1 in volume-rank order. */
    for (uint32_t i = 0; i < n; i++) {
        gen_firm *f = &gen->firms[i];
        gen_rng_seed(&r, c->seed, GEN_STREAM_FIRM, i);
        gen_uscc_make(c->seed, i, f->id);
        f->weight = pow(i + 10.0, -c->zipf_exponent);
        f->propensity = GEN_SIGMA_PROPENSITY * gen_normal(&r);
        double u = gen_unif(&r);
        f->import_share = u < 0.45 ? 0.9 : u < 0.80 ? 0.1 : 0.5;
        f->primary = (uint16_t)gen_alias_draw(
            f->import_share >= 0.5 ? &gen->product_import : &gen->product_export, &r);
        f->broker = gen_unif(&r) < GEN_SELF_DECLARE ? UINT32_MAX : gen_alias_draw(&gen->broker_alias, &r);
        f->tier0 = f->tier1 = (uint8_t)gen->regular;
        f->event_day = INT32_MAX;
    }
    gen_rng_seed(&r, c->seed, GEN_STREAM_TIER, 0);
    assign_start_tiers(gen, gen->firms, n, c->tier_firm_share, 0, &r, lp, kbuf, cand, chosen);
    for (uint32_t i = 0; i < n; i++)
        set_first_from(gen, &gen->firms[i], &r);
    /* AEO standards include business-partner security: certified firms declare for
     * themselves or through a certified broker, so that their own tier is the one
     * that applies under "the lowest party tier applies". */
    {
        uint32_t n_cert = 0;
        for (uint32_t j = 0; j < nb; j++)
            n_cert += gen->brokers[j].tier0 < gen->regular;
        gen_rng r2;
        gen_rng_seed(&r2, c->seed, GEN_STREAM_BROKER, 1);
        for (uint32_t i = 0; i < n; i++) {
            gen_firm *f = &gen->firms[i];
            if (f->tier0 >= gen->regular || f->broker == UINT32_MAX)
                continue;
            if (n_cert == 0) {
                f->broker = UINT32_MAX;
                continue;
            }
            uint32_t k = (uint32_t)(gen_unif(&r2) * n_cert);
            for (uint32_t j = 0; j < nb; j++) {
                if (gen->brokers[j].tier0 < gen->regular && k-- == 0) {
                    f->broker = j;
                    break;
                }
            }
        }
    }
    gen_rng_seed(&r, c->seed, GEN_STREAM_EVENT, 0);
    apply_events(gen, &r, lp, kbuf, cand, chosen, &gen->summary.n_events);

    /* Injected firms: new regular importers registered on the scheme's first day. */
    for (uint32_t k = 0; k < gen->n_inject; k++) {
        gen_firm *f = &gen->firms[n + k];
        gen_uscc_make(c->seed, n + nb + k, f->id);
        f->weight = 1.0;
        f->import_share = 1.0;
        f->tier0 = f->tier1 = (uint8_t)gen->regular;
        f->first_from = c->inject_from_day;
        f->event_day = INT32_MAX;
        f->broker = gen_alias_draw(&gen->broker_alias, &r);
        f->primary = (uint16_t)gen->inject_products[0];
    }

    if ((st = allocate_day_rows(gen)) != CREST_OK)
        goto done;
    cum[0] = 0;
    for (uint32_t d = 0; d < c->n_days; d++)
        cum[d + 1] = cum[d] + gen->day_rows[d];
    if ((st = calibrate(gen, cum, diag)) != CREST_OK)
        goto done;
    for (uint32_t i = 0; i < n; i++)
        lp[i] = gen->firms[i].weight;
    if ((st = gen_alias_build(&gen->firm_alias, lp, n)) != CREST_OK)
        goto done;

    gen->summary.n_tiers = gen->n_tiers;
    for (uint32_t i = 0; i < n; i++)
        gen->summary.firms_at_start[gen_firm_tier(&gen->firms[i], c->start_day)]++;
    for (uint32_t j = 0; j < nb; j++)
        gen->summary.brokers_at_start[gen->brokers[j].tier0]++;
done:
    if (st == CREST_ERR_NOMEM && diag->status == CREST_OK)
        crest_diag_set(diag, st, "<crest_gen>", 0, 0, "Out of memory.");
    free(lp);
    free(kbuf);
    free(cand);
    free(chosen);
    free(cum);
    free(bw);
    return st;
}

/* ------------------------------------------------------------- registry */

static size_t registry_row(char *p, const char *id, const char *tier, int32_t from, int32_t to)
{
    char *start = p;
    memcpy(p, id, 18);
    p += 18;
    *p++ = ',';
    size_t tl = strlen(tier);
    memcpy(p, tier, tl);
    p += tl;
    *p++ = ',';
    crest_gen_format_date(from, p);
    p += 10;
    *p++ = ',';
    if (to != INT32_MAX) {
        crest_gen_format_date(to, p);
        p += 10;
    }
    *p++ = '\n';
    return (size_t)(p - start);
}

static size_t registry_entity(const crest_gen *gen, const gen_firm *f, char *p)
{
    const int scheme = gen->cfg.scheme;
    const int32_t end = gen->cfg.start_day + (int32_t)gen->cfg.n_days;
    if (f->event_day < end && f->tier1 != f->tier0) {
        size_t len = registry_row(p, f->id, crest_gen_scheme_tier_name(scheme, f->tier0), f->first_from,
                                  f->event_day - 1);
        return len + registry_row(p + len, f->id, crest_gen_scheme_tier_name(scheme, f->tier1), f->event_day,
                                  INT32_MAX);
    }
    return registry_row(p, f->id, crest_gen_scheme_tier_name(scheme, f->tier0), f->first_from, INT32_MAX);
}

crest_status crest_gen_write_registry(const crest_gen *gen, crest_gen_write_fn write, void *ctx)
{
    char buf[65536];
    static const char header[] = "enterprise_id,tier,valid_from,valid_to\n";
    size_t len = sizeof header - 1;
    memcpy(buf, header, len);
    crest_status st;
    const uint32_t n_all = gen->n_firms + gen->n_inject;
    for (uint32_t i = 0; i < n_all + gen->n_brokers; i++) {
        const gen_firm *f = i < n_all ? &gen->firms[i] : &gen->brokers[i - n_all];
        if (len > sizeof buf - 256) {
            if ((st = write(ctx, buf, len)) != CREST_OK)
                return st;
            len = 0;
        }
        len += registry_entity(gen, f, buf + len);
    }
    return write(ctx, buf, len);
}
