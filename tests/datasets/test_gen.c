/*
 * test_gen.c — Criterion tests of the synthetic declaration generator
 * (datasets/, crest_gen.h): determinism for a seed, validity of every
 * identifier against validators written here independently of the generator,
 * agreement of the credit_tier column with the registry as of each date,
 * marginal shares (tiers, illicit rate per tier, unknown tier) against the
 * documented parameters within binomial bounds, the injected scheme, error
 * paths, and the registry-from-history recipe (also on the KCS data when present).
 *
 * Statistical tests use fixed seeds, print them, and allow 5 binomial sigmas.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_gen.h"

/* ------------------------------------------------------------ memory sink */

typedef struct membuf {
    char *buf;
    size_t len, cap;
} membuf;

static crest_status mem_write(void *ctx, const char *buf, size_t len)
{
    membuf *m = ctx;
    if (m->len + len + 1 > m->cap) {
        size_t ncap = m->cap ? m->cap : 1 << 16;
        while (m->len + len + 1 > ncap)
            ncap *= 2;
        char *nb = realloc(m->buf, ncap);
        if (!nb)
            return CREST_ERR_NOMEM;
        m->buf = nb;
        m->cap = ncap;
    }
    memcpy(m->buf + m->len, buf, len);
    m->len += len;
    m->buf[m->len] = '\0';
    return CREST_OK;
}

static crest_status fail_after_first(void *ctx, const char *buf, size_t len)
{
    int *calls = ctx;
    (void)buf;
    (void)len;
    return (*calls)++ == 0 ? CREST_OK : CREST_ERR_IO;
}

static crest_gen *make_gen(const crest_gen_config *cfg)
{
    crest_gen *gen = NULL;
    crest_diag diag;
    crest_status st = crest_gen_create(cfg, &gen, &diag);
    cr_assert_eq(st, CREST_OK, "crest_gen_create failed: %s", diag.message);
    cr_assert_not_null(gen);
    return gen;
}

static void generate(const crest_gen_config *cfg, membuf *decls, membuf *reg)
{
    crest_gen *gen = make_gen(cfg);
    if (decls)
        cr_assert_eq(crest_gen_write_decls(gen, mem_write, decls), CREST_OK);
    if (reg)
        cr_assert_eq(crest_gen_write_registry(gen, mem_write, reg), CREST_OK);
    crest_gen_free(gen);
}

/* ------------------------------------------------------- tiny CSV reader */

#define MAX_FIELDS 24

typedef struct row {
    size_t n;
    const char *f[MAX_FIELDS];
    size_t len[MAX_FIELDS];
    char scratch[8192];
} row;

/* RFC 4180 reader over a NUL-terminated buffer; returns 0 at the end. Quoted
 * fields are unescaped into row->scratch. Fails the test on malformed input. */
static int next_row(const char **cursor, row *r)
{
    const char *p = *cursor;
    if (!*p)
        return 0;
    r->n = 0;
    char *s = r->scratch;
    for (;;) {
        cr_assert_lt(r->n, MAX_FIELDS, "too many fields");
        char *start = s;
        if (*p == '"') {
            p++;
            for (;;) {
                cr_assert_neq(*p, '\0', "unterminated quoted field");
                if (*p == '"') {
                    if (p[1] == '"') {
                        *s++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *s++ = *p++;
            }
            cr_assert(*p == ',' || *p == '\n', "text after a closing quote");
        } else {
            while (*p && *p != ',' && *p != '\n') {
                cr_assert(*p != '"' && *p != '\r', "quote or CR in an unquoted field");
                *s++ = *p++;
            }
        }
        r->f[r->n] = start;
        r->len[r->n] = (size_t)(s - start);
        *s++ = '\0';
        r->n++;
        if (*p == ',') {
            p++;
            continue;
        }
        cr_assert_eq(*p, '\n', "rows end with LF");
        p++;
        break;
    }
    *cursor = p;
    return 1;
}

static int field_is(const row *r, size_t i, const char *s)
{
    return r->len[i] == strlen(s) && memcmp(r->f[i], s, r->len[i]) == 0;
}

/* -------------------------------------------- independent identifier checks */

/* USCC, GB 32100-2015: 31-character alphabet, weights 3^i mod 31; the
 * organisation code in positions 9..17 has its GB 11714 check character. */
static int check_uscc(const char *s, size_t len)
{
    static const char alpha[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    static const int w18[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
    static const int w9[8] = {3, 7, 9, 10, 5, 8, 4, 2};
    if (len != 18)
        return 0;
    int sum = 0;
    for (int i = 0; i < 17; i++) {
        const char *q = strchr(alpha, s[i]);
        if (!q || !s[i])
            return 0;
        sum += (int)(q - alpha) * w18[i];
    }
    if (alpha[(31 - sum % 31) % 31] != s[17])
        return 0;
    int osum = 0;
    for (int i = 0; i < 8; i++) {
        char c = s[8 + i];
        int v = c >= '0' && c <= '9' ? c - '0' : c - 'A' + 10;
        osum += v * w9[i];
    }
    int c9 = 11 - osum % 11;
    char want = c9 == 10 ? 'X' : c9 == 11 ? '0' : (char)('0' + c9);
    return s[16] == want;
}

static const char iso3166[] =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
    "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
    "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
    "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
    "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
    "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
    "VN VU WF WS YE YT ZA ZM ZW";

static int check_iso(const char *s, size_t len)
{
    if (len != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z')
        return 0;
    for (const char *p = iso3166; *p; p += 3)
        if (p[0] == s[0] && p[1] == s[1])
            return 1;
    return 0;
}

/* MRA partners used by the generator and the digits of their AEO codes
 * (the formats documented in datasets/README.md). */
static int check_foreign_aeo(const char *s, size_t len)
{
    static const struct {
        const char *cc;
        size_t digits;
    } partners[] = {{"SG", 12}, {"KR", 10}, {"HK", 8},  {"JP", 13}, {"AU", 11}, {"NZ", 13}, {"CH", 9},
                    {"IL", 9},  {"CL", 10}, {"AE", 10}, {"BR", 14}, {"ZA", 10}, {"TH", 13}, {"MY", 12},
                    {"UY", 12}, {"DE", 12}, {"FR", 12}, {"IT", 12}, {"NL", 12}, {"ES", 12}, {"BE", 12}};
    if (len < 3)
        return 0;
    for (size_t i = 0; i < sizeof partners / sizeof partners[0]; i++)
        if (memcmp(s, partners[i].cc, 2) == 0) {
            if (len != 2 + partners[i].digits)
                return 0;
            for (size_t k = 2; k < len; k++)
                if (s[k] < '0' || s[k] > '9')
                    return 0;
            return 1;
        }
    return 0;
}

static int all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return len > 0;
}

/* Fixed-point number with exactly `dec` decimals. */
static int check_fixed(const char *s, size_t len, size_t dec)
{
    if (len < dec + 2 || s[len - dec - 1] != '.')
        return 0;
    return all_digits(s, len - dec - 1) && all_digits(s + len - dec, dec);
}

/* Keyword -> HS chapter, checked in order (case-sensitive). Every generated
 * description must match one, and its HS code must be in that chapter. */
static const struct {
    const char *kw;
    int chapter;
} chapter_keys[] = {
    {"Blood pressure", 90},
    {"电子血压计", 90},
    {"syringes", 90},
    {"注射器", 90},
    {"drone", 88},
    {"Unmanned", 88},
    {"无人机", 88},
    {"Toner", 84},
    {"硒鼓", 84},
    {"Printer", 84},
    {"打印机", 84},
    {"Laptop", 84},
    {"Desktop PC", 84},
    {"Tablet", 84},
    {"电脑", 84},
    {"Air condition", 84},
    {"空调", 84},
    {"Refrigerator", 84},
    {"Freezer", 84},
    {"冰箱", 84},
    {"冰柜", 84},
    {"Smartphone", 85},
    {"Mobile phone", 85},
    {"router", 85},
    {"手机", 85},
    {"路由器", 85},
    {"Integrated circuits", 85},
    {"Memory chips", 85},
    {"集成电路", 85},
    {"芯片", 85},
    {"battery", 85},
    {"电池", 85},
    {"TV", 85},
    {"monitor", 85},
    {"Projector", 85},
    {"电视", 85},
    {"显示器", 85},
    {"Radar", 85},
    {"GPS", 85},
    {"雷达", 85},
    {"camera", 85},
    {"相机", 85},
    {"Transmission apparatus", 85},
    {"发射", 85},
    {"T-shirt", 61},
    {"T恤", 61},
    {"Sweaters", 61},
    {"Pullovers", 61},
    {"套衫", 61},
    {"套头衫", 61},
    {"trousers", 62},
    {"suit", 62},
    {"牛仔", 62},
    {"西服", 62},
    {"shoes", 64},
    {"Boots", 64},
    {"皮鞋", 64},
    {"运动鞋", 64},
    {"皮靴", 64},
    {"Handbag", 42},
    {"Travel bag", 42},
    {"Wallet", 42},
    {"手提包", 42},
    {"旅行包", 42},
    {"钱包", 42},
    {"toy", 95},
    {"Building blocks", 95},
    {"玩具", 95},
    {"Office chair", 94},
    {"Sofa", 94},
    {"dining table", 94},
    {"Steel cabinet", 94},
    {"转椅", 94},
    {"沙发", 94},
    {"餐桌", 94},
    {"文件柜", 94},
    {"Brake", 87},
    {"Auto parts", 87},
    {"Car bumper", 87},
    {"Passenger car", 87},
    {"SUV", 87},
    {"汽车", 87},
    {"乘用车", 87},
    {"越野车", 87},
    {"Medicaments", 30},
    {"Vitamin", 30},
    {"药品", 30},
    {"维生素", 30},
    {"Heterocyclic", 29},
    {"Organic chemical", 29},
    {"化合物", 29},
    {"化学品", 29},
    {"Cosmetics", 33},
    {"Lipstick", 33},
    {"Make-up", 33},
    {"化妆品", 33},
    {"口红", 33},
    {"粉饼", 33},
    {"Polyethylene", 39},
    {"HDPE", 39},
    {"聚乙烯", 39},
    {"steel coil", 72},
    {"Flat-rolled iron", 72},
    {"钢卷", 72},
    {"铁板", 72},
    {"aluminium", 76},
    {"Aluminium", 76},
    {"铝", 76},
    {"Iron ore", 26},
    {"铁矿", 26},
    {"Crude", 27},
    {"原油", 27},
    {"Soy", 12},
    {"大豆", 12},
    {"tropical", 44},
    {"Tropical", 44},
    {"原木", 44},
    {"shrimps", 3},
    {"lobsters", 3},
    {"crab", 3},
    {"虾", 3},
    {"蟹", 3},
    {"beef", 2},
    {"牛肉", 2},
    {"bananas", 8},
    {"香蕉", 8},
    {"wine", 22},
    {"葡萄酒", 22},
    {"Cigarettes", 24},
    {"Cigars", 24},
    {"卷烟", 24},
    {"雪茄", 24},
    {"jewellery", 71},
    {"necklace", 71},
    {"首饰", 71},
    {"项链", 71},
    {"watch", 91},
    {"手表", 91},
    {"knife", 82},
    {"刀", 82},
    {"Air guns", 93},
    {"Air rifles", 93},
    {"气枪", 93},
    {"Cartridges", 93},
    {"Ammunition", 93},
    {"子弹", 93},
    {"Fireworks", 36},
    {"flares", 36},
    {"烟花", 36},
    {"信号弹", 36},
    {"tyres", 40},
    {"轮胎", 40},
};

static int desc_chapter(const char *desc)
{
    for (size_t i = 0; i < sizeof chapter_keys / sizeof chapter_keys[0]; i++)
        if (strstr(desc, chapter_keys[i].kw))
            return chapter_keys[i].chapter;
    return -1;
}

/* -------------------------------------------------------------- registry */

typedef struct reg_entry {
    char id[19];
    char tier[24];
    int32_t from, to; /* to = INT32_MAX when open */
} reg_entry;

typedef struct registry {
    reg_entry *e;
    size_t n;
} registry;

static int cmp_reg(const void *a, const void *b)
{
    const reg_entry *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->from > y->from) - (x->from < y->from);
}

static void parse_registry(const membuf *m, registry *reg)
{
    const char *cur = m->buf;
    row r;
    cr_assert(next_row(&cur, &r));
    cr_assert(r.n == 4 && field_is(&r, 0, "enterprise_id") && field_is(&r, 1, "tier") &&
              field_is(&r, 2, "valid_from") && field_is(&r, 3, "valid_to"));
    size_t cap = 1024;
    reg->e = malloc(cap * sizeof *reg->e);
    reg->n = 0;
    while (next_row(&cur, &r)) {
        cr_assert_eq(r.n, 4);
        if (reg->n == cap)
            reg->e = realloc(reg->e, (cap *= 2) * sizeof *reg->e);
        reg_entry *e = &reg->e[reg->n++];
        cr_assert(check_uscc(r.f[0], r.len[0]), "registry id %s fails its check", r.f[0]);
        memcpy(e->id, r.f[0], 19);
        cr_assert_lt(r.len[1], sizeof e->tier);
        memcpy(e->tier, r.f[1], r.len[1] + 1);
        e->from = crest_gen_parse_date(r.f[2], r.len[2]);
        cr_assert_neq(e->from, CREST_DATE_NONE);
        e->to = r.len[3] ? crest_gen_parse_date(r.f[3], r.len[3]) : INT32_MAX;
        cr_assert_neq(e->to, CREST_DATE_NONE);
        cr_assert_leq(e->from, e->to);
    }
    qsort(reg->e, reg->n, sizeof *reg->e, cmp_reg);
    /* Rows of one enterprise never overlap. */
    for (size_t i = 1; i < reg->n; i++)
        if (strcmp(reg->e[i].id, reg->e[i - 1].id) == 0)
            cr_assert_lt(reg->e[i - 1].to, reg->e[i].from, "overlapping rows for %s", reg->e[i].id);
}

static const char *registry_tier(const registry *reg, const char *id, int32_t day)
{
    size_t lo = 0, hi = reg->n;
    while (lo < hi) { /* first entry with this id */
        size_t mid = (lo + hi) / 2;
        if (strcmp(reg->e[mid].id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < reg->n && strcmp(reg->e[i].id, id) == 0; i++)
        if (reg->e[i].from <= day && day <= reg->e[i].to)
            return reg->e[i].tier;
    return NULL;
}

/* ------------------------------------------------------------- the tests */

Test(gen, same_seed_same_bytes)
{
    crest_gen_config cfg;
    crest_gen_config_default(&cfg);
    cfg.seed = 7;
    cfg.n_rows = 30000;
    cfg.n_firms = 2000;
    cfg.newline_share = 0.01;
    membuf a = {0}, b = {0}, ra = {0}, rb = {0}, c = {0};
    cr_log_info("seed %llu", (unsigned long long)cfg.seed);
    generate(&cfg, &a, &ra);
    generate(&cfg, &b, &rb);
    cr_assert_eq(a.len, b.len);
    cr_assert(memcmp(a.buf, b.buf, a.len) == 0, "declarations differ for the same seed");
    cr_assert_eq(ra.len, rb.len);
    cr_assert(memcmp(ra.buf, rb.buf, ra.len) == 0, "registries differ for the same seed");

    /* Writing twice from one generator gives the same bytes too. */
    crest_gen *gen = make_gen(&cfg);
    membuf again = {0};
    cr_assert_eq(crest_gen_write_decls(gen, mem_write, &again), CREST_OK);
    cr_assert(again.len == a.len && memcmp(again.buf, a.buf, a.len) == 0);
    crest_gen_free(gen);

    cfg.seed = 8;
    generate(&cfg, &c, NULL);
    cr_assert(c.len != a.len || memcmp(c.buf, a.buf, a.len) != 0, "seeds 7 and 8 agree");
    free(a.buf);
    free(b.buf);
    free(ra.buf);
    free(rb.buf);
    free(c.buf);
    free(again.buf);
}

/* qsort needs a comparator on char **, not on char *. */
static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void check_stream(const crest_gen_config *cfg)
{
    membuf d = {0}, m = {0};
    generate(cfg, &d, &m);
    registry reg;
    parse_registry(&m, &reg);
    const char *cur = d.buf;
    row *r = malloc(sizeof *r);
    cr_assert(next_row(&cur, r));
    static const char *const cols[19] = {"decl_id",        "decl_date",    "office",      "direction",
                                         "enterprise_id",  "declarant_id", "credit_tier", "foreign_aeo",
                                         "hs_code",        "origin",       "departure",   "transport_mode",
                                         "declared_value", "currency",     "net_mass_kg", "quantity",
                                         "goods_desc",     "illicit",      "revenue"};
    cr_assert_eq(r->n, 19);
    for (int i = 0; i < 19; i++)
        cr_assert(field_is(r, (size_t)i, cols[i]), "column %d is %s", i, r->f[i]);

    const int32_t start = cfg->start_day, end = cfg->start_day + (int32_t)cfg->n_days;
    int32_t prev_day = start;
    size_t n = 0, n_quoted = 0, n_newline = 0, n_zh = 0, n_foreign = 0, n_blank = 0;
    char **ids = malloc(cfg->n_rows * sizeof *ids);
    while (next_row(&cur, r)) {
        cr_assert_eq(r->n, 19, "row %zu has %zu fields", n + 1, r->n);
        /* date */
        int32_t day = crest_gen_parse_date(r->f[1], r->len[1]);
        cr_assert(day >= start && day < end, "date %s outside the period", r->f[1]);
        cr_assert_geq(day, prev_day, "dates must not decrease");
        prev_day = day;
        /* decl_id: office(4) year(4) flag(1: import, 0: export) serial(9) */
        cr_assert(r->len[0] == 18 && all_digits(r->f[0], 18), "decl_id %s", r->f[0]);
        cr_assert(memcmp(r->f[0], r->f[2], 4) == 0 && r->len[2] == 4, "office prefix");
        cr_assert(memcmp(r->f[0] + 4, r->f[1], 4) == 0, "year of decl_id");
        cr_assert(field_is(r, 3, "I") || field_is(r, 3, "E"));
        cr_assert_eq(r->f[0][8], r->f[3][0] == 'I' ? '1' : '0', "I/E flag of %s", r->f[0]);
        ids[n] = malloc(19);
        memcpy(ids[n], r->f[0], 19);
        /* parties */
        cr_assert(check_uscc(r->f[4], r->len[4]), "enterprise_id %s", r->f[4]);
        cr_assert(check_uscc(r->f[5], r->len[5]), "declarant_id %s", r->f[5]);
        cr_assert(crest_gen_uscc_valid(r->f[4], r->len[4]));
        /* credit tier agrees with the registry as of the date */
        const char *tier = registry_tier(&reg, r->f[4], day);
        cr_assert_not_null(tier, "%s has no registry row on %s", r->f[4], r->f[1]);
        cr_assert_not_null(registry_tier(&reg, r->f[5], day), "declarant %s", r->f[5]);
        if (r->len[6] == 0)
            n_blank++;
        else
            cr_assert(field_is(r, 6, tier), "row tier %s, registry %s on %s", r->f[6], tier, r->f[1]);
        /* foreign AEO only on imports, from the country of departure */
        if (r->len[7]) {
            n_foreign++;
            cr_assert(check_foreign_aeo(r->f[7], r->len[7]), "foreign_aeo %s", r->f[7]);
            cr_assert_eq(r->f[3][0], 'I');
            cr_assert(memcmp(r->f[7], r->f[10], 2) == 0, "AEO country vs departure");
        }
        /* goods */
        cr_assert(r->len[8] == 10 && all_digits(r->f[8], 10), "hs_code %s", r->f[8]);
        int ch = desc_chapter(r->f[16]);
        cr_assert_neq(ch, -1, "no chapter keyword in description '%s'", r->f[16]);
        cr_assert_eq((r->f[8][0] - '0') * 10 + (r->f[8][1] - '0'), ch, "hs %s vs '%s'", r->f[8], r->f[16]);
        cr_assert(check_iso(r->f[9], r->len[9]), "origin %s", r->f[9]);
        cr_assert(check_iso(r->f[10], r->len[10]), "departure %s", r->f[10]);
        if (r->f[3][0] == 'E')
            cr_assert(field_is(r, 9, "CN") && field_is(r, 10, "CN"));
        else
            cr_assert(!field_is(r, 9, "CN"));
        cr_assert(field_is(r, 11, "SEA") || field_is(r, 11, "AIR") || field_is(r, 11, "ROAD") ||
                  field_is(r, 11, "RAIL") || field_is(r, 11, "POST"));
        /* numbers */
        cr_assert(check_fixed(r->f[12], r->len[12], 2), "declared_value %s", r->f[12]);
        cr_assert_gt(atof(r->f[12]), 0.0);
        cr_assert(r->len[13] == 3, "currency %s", r->f[13]);
        cr_assert(check_fixed(r->f[14], r->len[14], 3), "net_mass_kg %s", r->f[14]);
        cr_assert_gt(atof(r->f[14]), 0.0);
        cr_assert(all_digits(r->f[15], r->len[15]) || check_fixed(r->f[15], r->len[15], 3));
        /* ground truth */
        cr_assert(field_is(r, 17, "0") || field_is(r, 17, "1"));
        cr_assert(check_fixed(r->f[18], r->len[18], 2), "revenue %s", r->f[18]);
        if (r->f[17][0] == '0')
            cr_assert(field_is(r, 18, "0.00"), "revenue without illicit");
        else
            cr_assert_gt(atof(r->f[18]), 0.0, "illicit without revenue");
        /* text */
        if (strchr(r->f[16], '\n'))
            n_newline++;
        if (strchr(r->f[16], ',') || strchr(r->f[16], '"'))
            n_quoted++;
        if ((unsigned char)r->f[16][0] >= 0xE0)
            n_zh++;
        n++;
    }
    cr_assert_eq(n, cfg->n_rows);
    cr_assert_gt(n_quoted, 0);
    cr_assert_gt(n_zh, 0);
    cr_assert_gt(n_foreign, 0);
    if (cfg->newline_share > 0.005)
        cr_assert_gt(n_newline, 0);
    if (cfg->unknown_tier_share > 0.005)
        cr_assert_gt(n_blank, 0);
    /* declaration numbers are unique */
    qsort(ids, n, sizeof *ids, cmp_strp);
    for (size_t i = 0; i < n; i++) {
        if (i)
            cr_assert_str_neq(ids[i], ids[i - 1], "duplicate decl_id");
    }
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    free(r);
    free(reg.e);
    free(d.buf);
    free(m.buf);
}

Test(gen, identifiers_and_registry_join_251)
{
    crest_gen_config cfg;
    crest_gen_config_default(&cfg);
    cfg.seed = 11;
    cfg.n_rows = 40000;
    cfg.n_firms = 3000;
    cfg.newline_share = 0.01;
    cfg.start_day = crest_gen_parse_date("2025-11-15", 10); /* crosses a year boundary */
    cfg.n_days = 90;
    cr_log_info("seed %llu", (unsigned long long)cfg.seed);
    check_stream(&cfg);
}

Test(gen, identifiers_and_registry_join_282)
{
    crest_gen_config cfg;
    crest_gen_config_default(&cfg);
    cr_assert_eq(crest_gen_config_set_scheme(&cfg, CREST_GEN_SCHEME_282), CREST_OK);
    cfg.seed = 12;
    cfg.n_rows = 40000;
    cfg.n_firms = 3000;
    cfg.inject_chapter = 61;
    cr_log_info("seed %llu", (unsigned long long)cfg.seed);
    check_stream(&cfg);
}

Test(gen, uscc_validator_rejects_corruption)
{
    crest_gen_config cfg;
    crest_gen_config_default(&cfg);
    cfg.n_rows = 10;
    cfg.n_firms = 50;
    membuf m = {0};
    generate(&cfg, NULL, &m);
    registry reg;
    parse_registry(&m, &reg);
    cr_assert_gt(reg.n, 50);
    for (size_t i = 0; i < reg.n; i++) {
        char id[19];
        memcpy(id, reg.e[i].id, 19);
        cr_assert(crest_gen_uscc_valid(id, 18));
        for (int pos = 0; pos < 18; pos += 5) { /* a changed character is caught */
            char saved = id[pos];
            id[pos] = saved == '3' ? '4' : '3';
            cr_assert(!crest_gen_uscc_valid(id, 18), "corrupted %s accepted", id);
            cr_assert(!check_uscc(id, 18));
            id[pos] = saved;
        }
    }
    cr_assert(!crest_gen_uscc_valid("91310115MA1K3YJ25", 17));
    cr_assert(!crest_gen_uscc_valid(NULL, 18));
    free(reg.e);
    free(m.buf);
}

typedef struct tally {
    double rows[CREST_GEN_MAX_TIERS], illicit[CREST_GEN_MAX_TIERS];
    double n, blank;
} tally;

static void count_stream(const crest_gen_config *cfg, tally *t)
{
    membuf d = {0};
    generate(cfg, &d, NULL);
    memset(t, 0, sizeof *t);
    const char *cur = d.buf;
    row *r = malloc(sizeof *r);
    cr_assert(next_row(&cur, r));
    while (next_row(&cur, r)) {
        t->n++;
        if (r->len[6] == 0) {
            t->blank++;
            continue;
        }
        int k = crest_gen_scheme_tier_index(cfg->scheme, r->f[6], r->len[6]);
        cr_assert_geq(k, 0, "unknown tier %s", r->f[6]);
        t->rows[k]++;
        t->illicit[k] += r->f[17][0] == '1';
    }
    free(r);
    free(d.buf);
}

/* |observed - expected| within z binomial standard deviations (plus a hair). */
static void expect_binomial(const char *what, double hits, double n, double p, double z)
{
    double sd = sqrt(n * p * (1.0 - p));
    double lo = n * p - z * sd - 1.0, hi = n * p + z * sd + 1.0;
    cr_log_info("%s: %.0f of %.0f (%.5f), expected %.5f", what, hits, n, hits / n, p);
    cr_expect(hits >= lo && hits <= hi, "%s: %.0f outside [%.1f, %.1f] (p = %.5f, n = %.0f)", what, hits, lo,
              hi, p, n);
}

static void check_marginals(int scheme, uint64_t seed)
{
    crest_gen_config cfg;
    crest_gen_config_default(&cfg);
    cr_assert_eq(crest_gen_config_set_scheme(&cfg, scheme), CREST_OK);
    cfg.seed = seed;
    cfg.n_rows = 400000;
    cr_log_info("scheme %d, seed %llu, %llu rows", scheme, (unsigned long long)seed,
                (unsigned long long)cfg.n_rows);
    crest_gen *gen = make_gen(&cfg);
    crest_gen_summary s;
    crest_gen_get_summary(gen, &s);
    crest_gen_free(gen);
    cr_assert_eq(s.n_tiers, crest_gen_scheme_tier_count(scheme));
    cr_assert_gt(s.n_events, 0);

    /* Firm counts per tier at the start are exact. */
    const int regular = scheme == CREST_GEN_SCHEME_251 ? 1 : 2;
    uint32_t non_regular = 0;
    for (size_t t = 0; t < s.n_tiers; t++) {
        if ((int)t == regular)
            continue;
        uint32_t want = (uint32_t)llround(cfg.tier_firm_share[t] * cfg.n_firms);
        cr_expect_eq(s.firms_at_start[t], want, "tier %s: %u firms, want %u",
                     crest_gen_scheme_tier_name(scheme, t), s.firms_at_start[t], want);
        non_regular += s.firms_at_start[t];
    }
    cr_expect_eq(s.firms_at_start[regular], cfg.n_firms - non_regular);
    /* The calibrated expectations are the documented parameters. */
    cr_expect(fabs(s.row_share[0] - cfg.aeo_trade_share) < 1e-9, "AEO row share %.6f", s.row_share[0]);
    for (size_t t = 0; t < s.n_tiers; t++)
        cr_expect(fabs(s.illicit_rate[t] - cfg.tier_illicit[t]) < 1e-6, "tier %zu rate %.6f", t,
                  s.illicit_rate[t]);

    /* Realised shares follow binomial laws around them. */
    tally t;
    count_stream(&cfg, &t);
    cr_assert_eq(t.n, (double)cfg.n_rows);
    expect_binomial("unknown tier rows", t.blank, t.n, cfg.unknown_tier_share, 5.0);
    const double known = t.n - t.blank;
    expect_binomial("AEO rows", t.rows[0], known, cfg.aeo_trade_share, 5.0);
    for (size_t k = 0; k < s.n_tiers; k++) {
        char what[64];
        snprintf(what, sizeof what, "illicit among %s rows", crest_gen_scheme_tier_name(scheme, k));
        cr_assert_gt(t.rows[k], 100.0, "too few %s rows to test", crest_gen_scheme_tier_name(scheme, k));
        expect_binomial(what, t.illicit[k], t.rows[k], cfg.tier_illicit[k], 5.0);
        snprintf(what, sizeof what, "%s rows", crest_gen_scheme_tier_name(scheme, k));
        expect_binomial(what, t.rows[k], known, s.row_share[k], 5.0);
    }
}

Test(gen, marginals_251, .timeout = 120)
{
    check_marginals(CREST_GEN_SCHEME_251, 20250101);
}

Test(gen, marginals_282, .timeout = 120)
{
    check_marginals(CREST_GEN_SCHEME_282, 20260401);
}

Test(gen, injected_scheme)
{
    crest_gen_config cfg;
    crest_gen_config_default(&cfg);
    cfg.seed = 31;
    cfg.n_rows = 100000;
    cfg.n_firms = 5000;
    cfg.inject_chapter = 61;
    cfg.inject_firms = 10;
    cfg.inject_share = 0.02;
    cfg.inject_illicit = 0.6;
    cfg.inject_from_day = cfg.start_day + 200;
    cr_log_info("seed %llu", (unsigned long long)cfg.seed);
    membuf d = {0}, m = {0};
    generate(&cfg, &d, &m);
    registry reg;
    parse_registry(&m, &reg);
    /* Injected firms are the registry rows starting on the injection day. */
    size_t n_new = 0;
    for (size_t i = 0; i < reg.n; i++)
        n_new += reg.e[i].from == cfg.inject_from_day;
    cr_assert_geq(n_new, cfg.inject_firms);
    const char *cur = d.buf;
    row *r = malloc(sizeof *r);
    cr_assert(next_row(&cur, r));
    double after = 0, scheme = 0, scheme_illicit = 0;
    while (next_row(&cur, r)) {
        int32_t day = crest_gen_parse_date(r->f[1], r->len[1]);
        int is_new = 0;
        for (size_t i = 0; i < reg.n; i++)
            if (reg.e[i].from == cfg.inject_from_day && strcmp(reg.e[i].id, r->f[4]) == 0 &&
                reg.e[i].to == INT32_MAX && strcmp(reg.e[i].tier, "REGULAR") == 0) {
                is_new = 1;
                break;
            }
        if (day < cfg.inject_from_day) {
            cr_assert(!is_new, "an injected firm declares before the injection");
            continue;
        }
        after++;
        if (is_new) {
            scheme++;
            scheme_illicit += r->f[17][0] == '1';
            cr_assert(r->f[8][0] == '6' && r->f[8][1] == '1', "injected rows are chapter 61");
            cr_assert_eq(r->f[3][0], 'I');
        }
    }
    expect_binomial("injected share of rows", scheme, after, cfg.inject_share, 5.0);
    expect_binomial("illicit among injected rows", scheme_illicit, scheme, cfg.inject_illicit, 5.0);
    free(r);
    free(reg.e);
    free(d.buf);
    free(m.buf);
}

Test(gen, drift_changes_truth_not_structure)
{
    crest_gen_config cfg;
    crest_gen_config_default(&cfg);
    cfg.seed = 5;
    cfg.n_rows = 20000;
    cfg.n_firms = 1000;
    membuf a = {0}, b = {0};
    generate(&cfg, &a, NULL);
    cfg.drift = 2.0;
    generate(&cfg, &b, NULL);
    /* Same rows up to the label columns; some labels differ. The illicit
     * rate per tier also changes the labels only. */
    const char *ca = a.buf, *cb = b.buf;
    row *ra = malloc(sizeof *ra), *rb = malloc(sizeof *rb);
    size_t differ = 0;
    while (next_row(&ca, ra)) {
        cr_assert(next_row(&cb, rb));
        for (size_t i = 0; i < 17; i++)
            cr_assert(ra->len[i] == rb->len[i] && memcmp(ra->f[i], rb->f[i], ra->len[i]) == 0);
        differ += ra->f[17][0] != rb->f[17][0];
    }
    cr_assert_gt(differ, 0);
    free(ra);
    free(rb);
    free(a.buf);
    free(b.buf);
}

Test(gen, invalid_configurations)
{
    crest_gen_config cfg;
    crest_gen *gen = (crest_gen *)&cfg; /* must be reset to NULL on failure */
    crest_diag diag;

    crest_gen_config_default(&cfg);
    cfg.scheme = 999;
    cr_assert_eq(crest_gen_create(&cfg, &gen, &diag), CREST_ERR_INVALID);
    cr_assert_null(gen);
    cr_assert_neq(diag.message[0], '\0');

    crest_gen_config_default(&cfg);
    cfg.n_rows = 0;
    cr_assert_eq(crest_gen_create(&cfg, &gen, &diag), CREST_ERR_RANGE);

    crest_gen_config_default(&cfg);
    cfg.tier_illicit[0] = 0.0;
    cr_assert_eq(crest_gen_create(&cfg, &gen, &diag), CREST_ERR_RANGE);

    crest_gen_config_default(&cfg);
    cfg.inject_chapter = 50; /* silk: no goods of that chapter are generated */
    cr_assert_eq(crest_gen_create(&cfg, &gen, &diag), CREST_ERR_INVALID);
    cr_assert(strstr(diag.message, "50") != NULL);

    cr_assert_eq(crest_gen_config_set_scheme(&cfg, 250), CREST_ERR_INVALID);
    cr_assert_eq(crest_gen_scheme_tier_count(250), 0);
    cr_assert_null(crest_gen_scheme_tier_name(CREST_GEN_SCHEME_251, 3));
    cr_assert_str_eq(crest_gen_scheme_tier_name(CREST_GEN_SCHEME_282, 4), "SERIOUSLY_DISHONEST");
    crest_gen_free(NULL);
}

Test(gen, write_errors_are_returned)
{
    crest_gen_config cfg;
    crest_gen_config_default(&cfg);
    cfg.n_rows = 5000; /* more than one 64 KiB chunk */
    cfg.n_firms = 5000;
    crest_gen *gen = make_gen(&cfg);
    int calls = 0;
    cr_assert_eq(crest_gen_write_decls(gen, fail_after_first, &calls), CREST_ERR_IO);
    cr_assert_eq(calls, 2, "generation stops at the first failed write");
    calls = 0;
    cr_assert_eq(crest_gen_write_registry(gen, fail_after_first, &calls), CREST_ERR_IO);
    crest_gen_free(gen);
}

Test(gen, dates)
{
    char buf[11];
    cr_assert_eq(crest_gen_parse_date("1970-01-01", 10), 0);
    cr_assert_eq(crest_gen_parse_date("2024-02-29", 10), 19782);
    cr_assert_eq(crest_gen_parse_date("2025-02-29", 10), CREST_DATE_NONE);
    cr_assert_eq(crest_gen_parse_date("2025-13-01", 10), CREST_DATE_NONE);
    cr_assert_eq(crest_gen_parse_date("2025-1-01", 9), CREST_DATE_NONE);
    crest_gen_format_date(19782, buf);
    cr_assert_str_eq(buf, "2024-02-29");
}

/* ------------------------------------------------- registry from history */

static FILE *history_file(const char *text)
{
    FILE *f = tmpfile();
    cr_assert_not_null(f);
    fputs(text, f);
    rewind(f);
    return f;
}

Test(history, rules_on_a_small_history)
{
    const char *text = "decl_date,enterprise_id,illicit,goods_desc\n"
                       "2025-01-02,A,0,\"x, y\"\n"
                       "2025-01-03,A,0,\"multi\nline\"\n"
                       "2025-01-04,A,0,z\n"
                       "2025-01-05,B,1,z\n"
                       "2025-01-06,B,1,z\n"
                       "2025-01-07,B,0,z\n"
                       "2025-01-31,C,0,z\n";
    FILE *f = history_file(text);
    crest_gen_history_opts o;
    crest_gen_history_opts_default(&o);
    o.aeo_min_decls = 3;
    o.dishonest_min_decls = 3;
    o.dishonest_rate = 0.5;
    membuf out = {0};
    crest_gen_history_counts c;
    crest_diag diag;
    cr_assert_eq(crest_gen_registry_from_history(f, "mem", &o, mem_write, &out, &c, &diag), CREST_OK, "%s",
                 diag.message);
    fclose(f);
    cr_assert_str_eq(out.buf, "enterprise_id,tier,valid_from,valid_to\n"
                              "A,AEO,2025-02-01,\n"
                              "B,DISHONEST,2025-02-01,\n"
                              "C,REGULAR,2025-02-01,\n");
    cr_assert_eq(c.n_rows, 7);
    cr_assert_eq(c.n_enterprises, 3);
    cr_assert(c.n_aeo == 1 && c.n_dishonest == 1 && c.n_regular == 1);
    free(out.buf);
}

Test(history, errors_name_the_problem)
{
    crest_diag diag;
    membuf out = {0};
    FILE *f = history_file("decl_date,who,illicit\n2025-01-01,A,0\n");
    cr_assert_eq(crest_gen_registry_from_history(f, "h.csv", NULL, mem_write, &out, NULL, &diag),
                 CREST_ERR_MISSING);
    cr_assert(strstr(diag.message, "enterprise id") != NULL, "%s", diag.message);
    fclose(f);
    f = history_file("decl_date,enterprise_id,illicit\n2025-01-01,A,0\n2025-01-02,A,yes\n");
    cr_assert_eq(crest_gen_registry_from_history(f, "h.csv", NULL, mem_write, &out, NULL, &diag),
                 CREST_ERR_SYNTAX);
    cr_assert_eq(diag.line, 3);
    fclose(f);
    f = history_file("decl_date,enterprise_id,illicit\n2025-02-30,A,0\n");
    cr_assert_eq(crest_gen_registry_from_history(f, "h.csv", NULL, mem_write, &out, NULL, &diag),
                 CREST_ERR_SYNTAX);
    fclose(f);
    f = history_file("decl_date,enterprise_id,illicit\n2025-01-01,\"A,0\n");
    cr_assert_eq(crest_gen_registry_from_history(f, "h.csv", NULL, mem_write, &out, NULL, &diag),
                 CREST_ERR_SYNTAX);
    fclose(f);
    free(out.buf);
}

Test(history, generated_history_round_trip)
{
    crest_gen_config cfg;
    crest_gen_config_default(&cfg);
    cfg.seed = 3;
    cfg.n_rows = 50000;
    cfg.n_firms = 2000;
    cfg.newline_share = 0.01;
    cr_log_info("seed %llu", (unsigned long long)cfg.seed);
    crest_gen *gen = make_gen(&cfg);
    FILE *f = tmpfile();
    cr_assert_eq(crest_gen_write_decls(gen, crest_gen_write_stdio, f), CREST_OK);
    crest_gen_free(gen);
    rewind(f);
    crest_gen_history_opts o;
    crest_gen_history_opts_default(&o);
    membuf out = {0};
    crest_gen_history_counts c;
    crest_diag diag;
    cr_assert_eq(crest_gen_registry_from_history(f, "gen", &o, mem_write, &out, &c, &diag), CREST_OK, "%s",
                 diag.message);
    fclose(f);
    cr_assert_eq(c.n_rows, cfg.n_rows);
    cr_assert_eq(c.first_day, cfg.start_day);
    cr_assert_eq(c.last_day, cfg.start_day + (int32_t)cfg.n_days - 1);
    cr_assert_eq(c.n_aeo + c.n_regular + c.n_dishonest, c.n_enterprises);
    cr_assert_gt(c.n_aeo, 0);
    registry reg;
    parse_registry(&out, &reg);
    cr_assert_eq(reg.n, c.n_enterprises);
    free(reg.e);
    free(out.buf);
}

Test(history, kcs_training_split)
{
    /* The KCS data is not in the repository: CREST_KCS_DIR at run time, else the
     * directory the build found beside the source tree (tests/CMakeLists.txt). */
    const char *dir = getenv("CREST_KCS_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/df_syn_train_eng.csv", dir ? dir : CREST_KCS_DIR);
    FILE *f = fopen(path, "rb");
    if (!f)
        cr_skip_test("KCS data not found at %s (set CREST_KCS_DIR)", path);
    crest_gen_history_opts o;
    crest_gen_history_opts_default(&o);
    membuf out = {0};
    crest_gen_history_counts c;
    crest_diag diag;
    cr_assert_eq(crest_gen_registry_from_history(f, path, &o, mem_write, &out, &c, &diag), CREST_OK, "%s",
                 diag.message);
    fclose(f);
    cr_log_info("KCS: %llu rows, %u importers: %u AEO, %u REGULAR, %u DISHONEST",
                (unsigned long long)c.n_rows, c.n_enterprises, c.n_aeo, c.n_regular, c.n_dishonest);
    cr_assert_eq(c.n_rows, 37385);
    cr_assert_eq(c.first_day, crest_gen_parse_date("2020-01-01", 10));
    cr_assert_eq(c.last_day, crest_gen_parse_date("2020-12-31", 10));
    cr_assert_eq(c.n_aeo + c.n_regular + c.n_dishonest, c.n_enterprises);
    cr_assert(strstr(out.buf, ",2021-01-01,\n") != NULL);
    free(out.buf);
}
