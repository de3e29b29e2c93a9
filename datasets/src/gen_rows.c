/*
 * gen_rows.c — writes the declaration stream: one CSV row per declaration,
 * dates non-decreasing, every field drawn from the population and reference
 * tables built at create time, and the ground truth (`illicit`, `revenue`)
 * drawn from the documented risk model. This is the generator's hot path: it
 * allocates nothing, formats numbers by hand and hands 64 KiB chunks to the
 * caller's write callback.
 *
 * Rows come in blocks of GEN_ROW_BLOCK, each with its own random stream
 * derived from (seed, block number), so a block could be produced on its own.
 */
#include <limits.h>
#include <string.h>

#include "gen_internal.h"

#define ROW_BUF 65536
#define ROW_MAX 2048 /* generous bound on one formatted row */

static const char header[] =
    "decl_id,decl_date,office,direction,enterprise_id,declarant_id,credit_tier,foreign_aeo,"
    "hs_code,origin,departure,transport_mode,declared_value,currency,net_mass_kg,quantity,"
    "goods_desc,illicit,revenue\n";

/* Transport modes per mode class of a heading (cumulative weights out of 100). */
static const char *const mode_names[5] = {"SEA", "RAIL", "ROAD", "AIR", "POST"};
static const double mode_cum[3][5] = {
    {88, 94, 100, 100, 100}, /* bulk */
    {55, 63, 78, 95, 100},   /* general cargo */
    {25, 25, 40, 90, 100},   /* small and valuable */
};

static inline char *put_str(char *p, const char *s)
{
    while (*s)
        *p++ = *s++;
    return p;
}

static inline char *put_uint(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* Non-negative v with exactly `decimals` digits after the point (round half up). */
static inline char *put_fixed(char *p, double v, int decimals)
{
    static const double scale[4] = {1, 10, 100, 1000};
    static const uint64_t iscale[4] = {1, 10, 100, 1000};
    if (!(v > 0.0))
        v = 0.0;
    uint64_t x = (uint64_t)(v * scale[decimals] + 0.5);
    p = put_uint(p, x / iscale[decimals]);
    *p++ = '.';
    uint64_t frac = x % iscale[decimals];
    for (int d = decimals - 1; d >= 0; d--) {
        p[d] = (char)('0' + frac % 10);
        frac /= 10;
    }
    return p + decimals;
}

static inline char *put_digits(char *p, uint64_t v, int width)
{
    for (int d = width - 1; d >= 0; d--) {
        p[d] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

static inline int needs_quotes(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
            return 1;
    return 0;
}

/* Goods description: a template of the heading in English or Chinese, '#'
 * replaced by a typical number, sometimes a second line; RFC 4180 quoting. */
static char *put_desc(char *p, const gen_product *prod, const crest_gen_config *c, gen_rng *r)
{
    char text[512];
    char *t = text;
    const int zh = gen_unif(r) < c->zh_share;
    const char *const *list = zh ? prod->zh : prod->en;
    uint32_t n = 0;
    while (n < GEN_MAX_DESC && list[n])
        n++;
    const char *tpl = list[gen_below(r, n)];
    uint32_t n_nums = 0;
    while (n_nums < GEN_MAX_NUMS && prod->nums[n_nums])
        n_nums++;
    for (const char *s = tpl; *s; s++) {
        if (*s == '#' && n_nums)
            t = put_uint(t, prod->nums[gen_below(r, n_nums)]);
        else
            *t++ = *s;
    }
    if (gen_unif(r) < c->newline_share)
        t = put_str(t, zh ? "\n详见随附装箱单" : "\nsee attached packing list");
    const size_t len = (size_t)(t - text);
    if (!needs_quotes(text, len)) {
        memcpy(p, text, len);
        return p + len;
    }
    *p++ = '"';
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '"')
            *p++ = '"';
        *p++ = text[i];
    }
    *p++ = '"';
    return p;
}

/* Foreign AEO code: partner country code + its digits. Each partner has a pool
 * of 40 AEO consignors whose codes depend only on the seed. */
static char *put_foreign_aeo(char *p, uint64_t seed, int country, uint32_t k)
{
    const gen_country *gc = &gen_countries[country];
    uint64_t x = seed ^ ((uint64_t)country << 40) ^ ((uint64_t)k << 8) ^ 0xae0ULL;
    *p++ = gc->iso[0];
    *p++ = gc->iso[1];
    uint64_t v = gen_splitmix64(&x);
    for (int i = 0; i < gc->aeo_digits; i++) {
        if (i == 16)
            v = gen_splitmix64(&x);
        *p++ = (char)('0' + (i == 0 ? 1 + v % 9 : v % 10)); /* no leading zero */
        v /= 10;
    }
    return p;
}

typedef struct row_state {
    int32_t day;
    char date[11];
    int year;
    double drift_t; /* drift * elapsed share of the period */
    uint32_t serial[64][2];
} row_state;

/* Hot path: format one declaration at p, return the end. */
static char *put_row(const crest_gen *gen, row_state *rs, gen_rng *r, char *p)
{
    const crest_gen_config *c = &gen->cfg;
    const int inject = c->inject_chapter && rs->day >= c->inject_from_day && gen_unif(r) < c->inject_share;
    const gen_firm *f = inject ? &gen->firms[gen->n_firms + gen_below(r, gen->n_inject)]
                               : &gen->firms[gen_alias_draw(&gen->firm_alias, r)];
    const int tier = gen_firm_tier(f, rs->day);
    const int import = inject || gen_unif(r) < f->import_share;
    uint32_t pi;
    if (inject)
        pi = gen->inject_products[gen_alias_draw(&gen->product_inject, r)];
    else if (gen_unif(r) < GEN_PRIMARY_SHARE)
        pi = f->primary;
    else
        pi = gen_alias_draw(import ? &gen->product_import : &gen->product_export, r);
    const gen_product *prod = &gen_products[pi];
    const uint32_t office = gen_alias_draw(&gen->office_alias, r);

    int origin = -1, depart = -1, foreign = 0;
    if (import) {
        origin = (int)gen_alias_draw(prod->mode_class == 0 ? &gen->origin_bulk_alias : &gen->origin_alias, r);
        depart =
            gen_unif(r) < GEN_DEPART_ORIGIN ? origin : gen_country_index(gen_hubs[gen_below(r, gen_n_hubs)]);
        if (gen_countries[depart].aeo_digits > 0)
            foreign = gen_unif(r) < c->foreign_aeo_share;
    }

    /* Values: log-normal mass and unit value around the heading norm; z is the
     * declared unit value's standard score against that norm. */
    double z = gen_normal(r) - (inject ? GEN_INJECT_SHIFT : 0.0);
    z = z < -GEN_Z_CLAMP ? -GEN_Z_CLAMP : z > GEN_Z_CLAMP ? GEN_Z_CLAMP : z;
    double mass = prod->mass_kg * exp(prod->sigma_mass * gen_normal(r));
    if (mass < 0.1)
        mass = 0.1;
    const double value_usd = mass * prod->usd_per_kg * exp(prod->sigma_value * z);

    /* Ground truth. */
    double eta = gen->tier_logit[tier] + f->propensity + prod->risk + rs->drift_t * gen->heading_drift[pi];
    double shade;
    if (import) {
        eta += gen_countries[origin].risk + (foreign ? GEN_BETA_FOREIGN_AEO : 0.0);
        shade = z < 0.0 ? -z : 0.0;
    } else {
        eta += GEN_BETA_EXPORT;
        shade = z > 0.0 ? z : 0.0;
    }
    eta += GEN_BETA_UNDERVALUE * shade;
    /* Both draws are always made, so that the truth model (drift, rates) can
     * change without moving any other column of any row. */
    const double u_illicit = gen_unif(r);
    const double k = 0.05 + 0.45 * gen_unif(r);
    const int illicit = inject ? u_illicit < c->inject_illicit : u_illicit < 1.0 / (1.0 + exp(-eta));
    double revenue = 0.0;
    if (illicit) {
        const double gap =
            import ? exp(prod->sigma_value * shade) - 1.0 : 1.0 - exp(-prod->sigma_value * shade);
        revenue = (import ? prod->duty : GEN_EXPORT_REBATE) * value_usd * (gap + k);
        if (revenue < 0.01)
            revenue = 0.01;
    }

    /* decl_id: office, year, I/E flag (1 import, 0 export), 9-digit serial. */
    p = put_str(p, gen_offices[office].code);
    memcpy(p, rs->date, 4);
    p += 4;
    *p++ = import ? '1' : '0';
    p = put_digits(p, rs->serial[office][import]++ % 1000000000u, 9);
    *p++ = ',';
    memcpy(p, rs->date, 10);
    p += 10;
    *p++ = ',';
    p = put_str(p, gen_offices[office].code);
    *p++ = ',';
    *p++ = import ? 'I' : 'E';
    *p++ = ',';
    memcpy(p, f->id, 18);
    p += 18;
    *p++ = ',';
    const char *declarant = f->id;
    if (f->broker != UINT32_MAX)
        declarant = gen_unif(r) < GEN_OWN_BROKER || f->tier0 < gen->regular
                        ? gen->brokers[f->broker].id
                        : gen->brokers[gen_alias_draw(&gen->broker_alias, r)].id;
    memcpy(p, declarant, 18);
    p += 18;
    *p++ = ',';
    if (!(gen_unif(r) < c->unknown_tier_share))
        p = put_str(p, crest_gen_scheme_tier_name(c->scheme, (size_t)tier));
    *p++ = ',';
    if (foreign)
        p = put_foreign_aeo(p, c->seed, depart, gen_below(r, 40));
    *p++ = ',';
    uint32_t n_codes = 0;
    while (n_codes < GEN_MAX_CODES && prod->codes[n_codes])
        n_codes++;
    p = put_str(p, prod->codes[gen_below(r, n_codes)]);
    *p++ = '0';
    *p++ = '0';
    *p++ = ',';
    p = put_str(p, import ? gen_countries[origin].iso : "CN");
    *p++ = ',';
    p = put_str(p, import ? gen_countries[depart].iso : "CN");
    *p++ = ',';
    const double um = gen_unif(r) * 100.0;
    int m = 0;
    while (m < 4 && um >= mode_cum[prod->mode_class][m])
        m++;
    p = put_str(p, mode_names[m]);
    *p++ = ',';
    const double uc = gen_unif(r);
    const char *currency = "USD";
    if (import) {
        const gen_country *gc = &gen_countries[origin];
        if (gc->currency && uc < gc->local_currency_share)
            currency = gc->currency;
        else if (uc > 0.97)
            currency = "CNY";
    } else if (uc > 0.96) {
        currency = "EUR";
    } else if (uc > 0.90) {
        currency = "CNY";
    }
    p = put_fixed(p, value_usd * gen_fx_per_usd(currency), 2);
    *p++ = ',';
    p = put_str(p, currency);
    *p++ = ',';
    p = put_fixed(p, mass, 3);
    *p++ = ',';
    if (prod->unit_kg > 0.0) {
        double q = floor(mass / prod->unit_kg + 0.5);
        p = put_uint(p, q < 1.0 ? 1 : (uint64_t)q);
    } else {
        p = put_fixed(p, mass, 3);
    }
    *p++ = ',';
    p = put_desc(p, prod, c, r);
    *p++ = ',';
    *p++ = illicit ? '1' : '0';
    *p++ = ',';
    p = put_fixed(p, revenue, 2);
    *p++ = '\n';
    return p;
}

static void start_day(const crest_gen *gen, row_state *rs, uint32_t d)
{
    const crest_gen_config *c = &gen->cfg;
    rs->day = c->start_day + (int32_t)d;
    crest_gen_format_date(rs->day, rs->date);
    rs->drift_t = c->drift * (double)d / (double)c->n_days;
    int year = (rs->date[0] - '0') * 1000 + (rs->date[1] - '0') * 100 + (rs->date[2] - '0') * 10 +
               (rs->date[3] - '0');
    if (year == rs->year)
        return;
    /* Serial numbers restart each year from a seed-dependent base per office
     * and direction, well below 10^9 so that they never wrap. */
    rs->year = year;
    for (uint32_t o = 0; o < gen_n_offices; o++)
        for (int dir = 0; dir < 2; dir++) {
            uint64_t x = c->seed ^ ((uint64_t)year << 20) ^ ((uint64_t)o << 4) ^ (uint64_t)dir ^
                         ((uint64_t)GEN_STREAM_SERIAL << 56);
            rs->serial[o][dir] = (uint32_t)(gen_splitmix64(&x) % 400000000u) + 1;
        }
}

crest_status crest_gen_write_decls(const crest_gen *gen, crest_gen_write_fn write, void *ctx)
{
    char buf[ROW_BUF];
    size_t len = sizeof header - 1;
    memcpy(buf, header, len);
    row_state rs;
    memset(&rs, 0, sizeof rs);
    rs.year = INT_MIN;
    gen_rng r = {0}; /* seeded at row 0 below; initialised for gcc -O3 */
    uint64_t row = 0;
    crest_status st;
    for (uint32_t d = 0; d < gen->cfg.n_days; d++) {
        start_day(gen, &rs, d);
        for (uint32_t k = 0; k < gen->day_rows[d]; k++, row++) {
            if (row % GEN_ROW_BLOCK == 0)
                gen_rng_seed(&r, gen->cfg.seed, GEN_STREAM_ROWS, row / GEN_ROW_BLOCK);
            if (len > ROW_BUF - ROW_MAX) {
                if ((st = write(ctx, buf, len)) != CREST_OK)
                    return st;
                len = 0;
            }
            len = (size_t)(put_row(gen, &rs, &r, buf + len) - buf);
        }
    }
    return write(ctx, buf, len);
}
