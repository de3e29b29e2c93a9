/*
 * gen_internal.h — private to the generator library: the random number
 * generator, alias tables, the reference tables (goods, origins, offices) and
 * the layout of struct crest_gen shared by the population builder (gen_firms.c)
 * and the row writer (gen_rows.c). Nothing here is part of the public API.
 */
#ifndef CREST_GEN_INTERNAL_H
#define CREST_GEN_INTERNAL_H

#include <math.h>
#include <stdint.h>

#include "crest/crest_gen.h"

/* ------------------------------------------------------------------ RNG */

/* xoshiro256** seeded through splitmix64: fast, good, and identical on every
 * platform. Streams are derived from (seed, purpose, index) so that a block of
 * rows, a firm or a broker can be regenerated without replaying the others. */
typedef struct gen_rng {
    uint64_t s[4];
} gen_rng;

static inline uint64_t gen_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void gen_rng_seed(gen_rng *r, uint64_t seed, uint64_t purpose, uint64_t index)
{
    uint64_t x = seed ^ (purpose * 0xd1b54a32d192ed03ULL) ^ (index * 0x8cb92ba72f3d8dd7ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = gen_splitmix64(&x);
}

static inline uint64_t gen_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t gen_next(gen_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = gen_rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = gen_rotl(s[3], 45);
    return result;
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline double gen_unif(gen_rng *r)
{
    return (double)(gen_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; bias < 2^-32 for small n). */
static inline uint32_t gen_below(gen_rng *r, uint32_t n)
{
    return (uint32_t)(((gen_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Standard normal deviate (Box-Muller; one of the pair is discarded so that the
 * number of draws per row does not depend on history). */
static inline double gen_normal(gen_rng *r)
{
    double u1 = 1.0 - gen_unif(r); /* (0, 1] */
    double u2 = gen_unif(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ------------------------------------------------------------ alias tables */

/* Walker/Vose alias table: O(1) draws from a fixed categorical distribution. */
typedef struct gen_alias {
    uint32_t n;
    double *prob;    /* acceptance probability per column */
    uint32_t *alias; /* fallback index per column */
} gen_alias;

crest_status gen_alias_build(gen_alias *a, const double *weights, uint32_t n);
void gen_alias_free(gen_alias *a);

static inline uint32_t gen_alias_draw(const gen_alias *a, gen_rng *r)
{
    double u = gen_unif(r) * a->n;
    uint32_t col = (uint32_t)u;
    if (col >= a->n)
        col = a->n - 1;
    return (u - col) < a->prob[col] ? col : a->alias[col];
}

/* ------------------------------------------------------ reference tables */

#define GEN_MAX_CODES 3
#define GEN_MAX_DESC 3
#define GEN_MAX_NUMS 6

/* One HS heading with its goods. Weights are relative shares of declarations. */
typedef struct gen_product {
    const char *hs4;
    const char *codes[GEN_MAX_CODES]; /* 8-digit tariff lines; "00" is appended */
    const char *en[GEN_MAX_DESC];     /* '#' is replaced by one of nums */
    const char *zh[GEN_MAX_DESC];
    unsigned nums[GEN_MAX_NUMS];
    double w_import, w_export;
    double usd_per_kg;  /* median unit value (the heading norm) */
    double sigma_value; /* sd of log unit value */
    double mass_kg;     /* median net mass of a consignment */
    double sigma_mass;  /* sd of log mass */
    double unit_kg;     /* net mass of one unit; 0 = bulk (quantity is kg) */
    double duty;        /* duty + import VAT rate on evaded value */
    double risk;        /* heading logit offset */
    int mode_class;     /* 0 bulk/sea, 1 general cargo, 2 small and valuable */
} gen_product;

typedef struct gen_country {
    const char iso[3];
    double weight;        /* share of import declarations of non-bulk goods */
    double w_bulk;        /* share of import declarations of bulk goods (mode class 0) */
    double risk;          /* origin logit offset */
    int aeo_digits;       /* > 0: MRA partner whose AEO codes are iso + this many digits */
    const char *currency; /* local currency offered on some declarations, or NULL */
    double local_currency_share;
} gen_country;

typedef struct gen_office {
    const char code[5];
    double weight;
} gen_office;

extern const gen_product gen_products[];
extern const uint32_t gen_n_products;
extern const gen_country gen_countries[];
extern const uint32_t gen_n_countries;
extern const gen_office gen_offices[];
extern const uint32_t gen_n_offices;
extern const char *const gen_admin_codes[];
extern const uint32_t gen_n_admin_codes;
extern const char *const gen_hubs[]; /* transshipment hubs (all MRA partners) */
extern const uint32_t gen_n_hubs;

/* USD to currency rate (units of currency per USD); 1.0 for USD and unknown. */
double gen_fx_per_usd(const char *currency);

/* Index of an ISO code in gen_countries, -1 if absent. */
int gen_country_index(const char *iso);

/* ------------------------------------------------------------ identifiers */

/* Write the 18-character USCC of entity number `serial` (unique per serial
 * below 31^6) for this seed into out (no NUL). */
void gen_uscc_make(uint64_t seed, uint32_t serial, char out[18]);

/* ---------------------------------------------------------------- dates */

int32_t gen_days_from_civil(int y, unsigned m, unsigned d);
void gen_civil_from_days(int32_t z, int *y, unsigned *m, unsigned *d);

/* ------------------------------------------------------------ model knobs */

/* Fixed coefficients of the ground-truth model (documented in README.md). */
#define GEN_BETA_UNDERVALUE 1.2 /* per sd of log unit value below (import) / above (export) the norm */
#define GEN_BETA_FOREIGN_AEO (-0.8)
#define GEN_BETA_EXPORT (-0.7)
#define GEN_SIGMA_PROPENSITY 0.8 /* sd of the persistent firm propensity */
#define GEN_PRIMARY_SHARE 0.6    /* share of a firm's rows in its primary heading */
#define GEN_Z_CLAMP 4.0          /* value z-scores are clamped to [-4, 4] */
#define GEN_INJECT_SHIFT 2.5     /* injected rows: z lowered by this many sd */
#define GEN_EXPORT_REBATE 0.13   /* VAT rebate rate recovered on overvalued exports */
#define GEN_SELF_DECLARE 0.15    /* firms that declare for themselves */
#define GEN_OWN_BROKER 0.9       /* share of rows through the firm's usual broker */
#define GEN_DEPART_ORIGIN 0.85   /* imports shipped directly from the origin */

/* ------------------------------------------------------------ generator */

/* Purposes of derived random streams; values are part of the output contract
 * (changing one changes every dataset), so append only. */
enum gen_purpose {
    GEN_STREAM_FIRM = 1,
    GEN_STREAM_TIER = 2,
    GEN_STREAM_EVENT = 3,
    GEN_STREAM_BROKER = 4,
    GEN_STREAM_DRIFT = 5,
    GEN_STREAM_ROWS = 6,
    GEN_STREAM_SERIAL = 7,
};

/* Rows per independently seeded block of the declaration stream. */
#define GEN_ROW_BLOCK 65536

typedef struct gen_firm {
    double weight;     /* relative declaration volume */
    double propensity; /* persistent logit offset a_e */
    double import_share;
    int32_t first_from; /* valid_from of the first registry row */
    int32_t event_day;  /* first day of tier1; INT32_MAX when no change */
    uint32_t broker;    /* usual broker index; UINT32_MAX = declares for itself */
    uint16_t primary;   /* primary product index */
    uint8_t tier0, tier1;
    char id[18];
} gen_firm;

/* Points of the precomputed expectation grid used in calibration. */
#define GEN_GRID_N 6001
#define GEN_GRID_LO (-30.0)
#define GEN_GRID_STEP 0.01

struct crest_gen {
    crest_gen_config cfg;
    size_t n_tiers;
    int regular; /* tier index of REGULAR */
    uint32_t n_firms, n_brokers, n_inject;
    gen_firm *firms;    /* n_firms ordinary firms, then n_inject injected firms */
    gen_firm *brokers;  /* only id, tier0/1, first_from, event_day used */
    uint32_t *day_rows; /* rows per day, n_days entries */
    double tier_logit[CREST_GEN_MAX_TIERS];
    double heading_drift[256]; /* per product drift direction d_h */
    gen_alias firm_alias, broker_alias, office_alias, origin_alias, origin_bulk_alias;
    gen_alias product_import, product_export, product_inject;
    uint32_t inject_products[64];
    uint32_t n_inject_products;
    double origin_fa[128]; /* P(foreign AEO consignor | origin) */
    crest_gen_summary summary;
};

crest_status gen_firms_build(crest_gen *gen, crest_diag *diag);

static inline int gen_firm_tier(const gen_firm *f, int32_t day)
{
    return day < f->event_day ? f->tier0 : f->tier1;
}

#endif /* CREST_GEN_INTERNAL_H */
