/*
 * test_rules.c — selection criteria (crest_rules.h): every pattern kind and
 * action, validity windows and scope, max-hits, PCRE2 limits, UTF-8, the
 * error paths of bad files, no allocation per row, and a rules-only
 * throughput figure (logged, never asserted).
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crest/crest_rules.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define FIXTURES CREST_SOURCE_DIR "/models/fixtures/rules"
#define EXAMPLE CREST_SOURCE_DIR "/models/criteria/example.csv"

/* ---------------------------------------------------------------- helpers */

static int32_t days(const char *ymd)
{
    int y, m, d;
    if (!ymd || sscanf(ymd, "%d-%d-%d", &y, &m, &d) != 3)
        return CREST_DATE_NONE;
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int)doe - 719468;
}

static crest_str S(const char *s)
{
    return (crest_str){s, s ? strlen(s) : 0};
}

/* A declaration with every field absent, no date, unknown direction. */
static crest_decl blank_decl(void)
{
    crest_decl d;
    memset(&d, 0, sizeof d);
    d.date_days = CREST_DATE_NONE;
    d.declared_value = d.net_mass_kg = d.quantity = NAN;
    return d;
}

static char tmpdir[64];

static void make_tmpdir(void)
{
    if (tmpdir[0])
        return;
    strcpy(tmpdir, "/tmp/crest_rules_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

/* Write text to <tmpdir>/name and return the path (static storage, per slot). */
static const char *write_tmp(const char *name, const char *text)
{
    static char paths[8][256];
    static int slot;
    make_tmpdir();
    char *p = paths[slot++ % 8];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

#define HDR                                                                                                  \
    "id,field,pattern,action,weight_or_lane,probability,credit_sensitive,valid_from,valid_to,office,"        \
    "direction,rationale\n"

static crest_rules *load_text(const char *text, const crest_rules_load_options *opts)
{
    crest_diag diag;
    crest_rules *rules = NULL;
    crest_status st = crest_rules_load(write_tmp("rules.csv", text), opts, &rules, &diag);
    cr_assert_eq(st, CREST_OK, "load failed: %s:%lu:%lu: %s", diag.file, diag.line, diag.column,
                 diag.message);
    return rules;
}

/* Expect a load failure with this status at this line/column (column 0 = any). */
static crest_diag load_fail(const char *text, const crest_rules_load_options *opts, crest_status want,
                            unsigned long line, unsigned long col)
{
    crest_diag diag;
    crest_rules *rules = (crest_rules *)1;
    const char *path = write_tmp("bad.csv", text);
    crest_status st = crest_rules_load(path, opts, &rules, &diag);
    cr_assert_eq(st, want, "status %s (want %s): %s", crest_status_name(st), crest_status_name(want),
                 diag.message);
    cr_assert_null(rules);
    cr_assert_eq(diag.status, want);
    cr_assert_str_eq(diag.file, path);
    cr_assert_eq(diag.line, line, "line %lu, want %lu: %s", diag.line, line, diag.message);
    if (col)
        cr_assert_eq(diag.column, col, "column %lu, want %lu: %s", diag.column, col, diag.message);
    cr_assert_gt(strlen(diag.message), 10);
    return diag;
}

static void eval1(const crest_rules *rules, const crest_decl *d, crest_rules_result *res)
{
    crest_rules_scratch *sc = NULL;
    cr_assert_eq(crest_rules_scratch_create(rules, &sc), CREST_OK);
    crest_rules_eval(rules, sc, d, res);
    crest_rules_scratch_free(sc);
}

static bool hit_id(const crest_rules *rules, const crest_rules_result *res, const char *id)
{
    for (size_t k = 0; k < res->n_hits && k < CREST_RULES_HITS_CAP; k++)
        if (strcmp(crest_rules_id(rules, res->hits[k]), id) == 0)
            return true;
    return false;
}

/* ---------------------------------------------------------------- the example file */

Test(rules, example_loads_and_describes)
{
    crest_diag diag;
    crest_rules *rules = NULL;
    cr_assert_eq(crest_rules_load(EXAMPLE, NULL, &rules, &diag), CREST_OK, "%s:%lu:%lu %s", diag.file,
                 diag.line, diag.column, diag.message);
    cr_assert_eq(crest_rules_count(rules), 9);
    cr_assert_eq(crest_rules_max_hits(rules), 4);
    cr_assert_str_eq(crest_rules_max_hits_id(rules), "MAXHITS");
    cr_assert_str_eq(crest_rules_id(rules, 0), "F_HS");
    cr_assert_null(crest_rules_id(rules, 9));
    cr_assert(strstr(crest_rules_rationale(rules, 3), "undervaluation"));
    crest_rules_info info;
    cr_assert_eq(crest_rules_describe(rules, 5, &info), CREST_OK);
    cr_assert_str_eq(info.id, "Q_ANIMAL");
    cr_assert_eq(info.kind, CREST_RULES_KIND_PREFIX);
    cr_assert_eq(info.action, CREST_RULES_ACTION_LANE);
    cr_assert_eq(info.lane, CREST_RULES_LANE_RED);
    cr_assert_not(info.credit_sensitive);
    cr_assert_eq(info.direction, 'I');
    cr_assert_eq(crest_rules_describe(rules, 99, &info), CREST_ERR_RANGE);
    cr_assert_str_eq(crest_rules_lane_name(CREST_RULES_LANE_ORANGE), "ORANGE");
    cr_assert_str_eq(crest_rules_lane_name(CREST_RULES_LANE_NONE), "");

    /* The bench job's four flags on one declaration. */
    crest_decl d = blank_decl();
    d.field[CREST_FIELD_HS_CODE] = S("9304100000");
    d.field[CREST_FIELD_ORIGIN] = S("IR");
    d.field[CREST_FIELD_GOODS_DESC] = S("气枪");
    d.declared_value = 10, d.net_mass_kg = 100;
    crest_rules_result res;
    eval1(rules, &d, &res);
    cr_assert_eq(res.n_hits, 4);
    cr_assert_float_eq(res.weight, 1.4 + 1.8 + 1.1 + 0.9, 1e-12);
    cr_assert_eq(res.lane, CREST_RULES_LANE_NONE);
    cr_assert_eq(res.lane_rule, -1);
    cr_assert_not(res.max_hits_exceeded);
    crest_rules_free(rules);
    crest_rules_free(NULL);
    crest_rules_scratch_free(NULL);
}

/* ---------------------------------------------------------------- kinds */

static crest_rules *load_kinds(void)
{
    crest_diag diag;
    crest_rules *rules = NULL;
    crest_str header[] = {S("decl_id"), S("hs_code"), S(" PACKAGES ")};
    crest_rules_load_options o = {.header = header, .n_header = 3};
    cr_assert_eq(crest_rules_load(FIXTURES "/kinds.csv", &o, &rules, &diag), CREST_OK, "%s:%lu:%lu %s",
                 diag.file, diag.line, diag.column, diag.message);
    cr_assert_eq(crest_rules_count(rules), 7);
    return rules;
}

/* Weights are powers of two, so the sum names the hits. */
static double kinds_weight(const crest_rules *rules, const crest_decl *d)
{
    crest_rules_result res;
    eval1(rules, d, &res);
    cr_assert_eq(res.n_limit_hits, 0);
    return res.weight;
}

Test(rules, kind_regex)
{
    crest_rules *rules = load_kinds();
    crest_decl d = blank_decl();
    cr_assert_float_eq(kinds_weight(rules, &d), 0, 0); /* every field absent: nothing hits */
    d.field[CREST_FIELD_HS_CODE] = S("9304100000");
    cr_assert_float_eq(kinds_weight(rules, &d), 1, 0);
    d.field[CREST_FIELD_HS_CODE] = S("8493000000"); /* ^ anchors */
    cr_assert_float_eq(kinds_weight(rules, &d), 0, 0);
    crest_rules_free(rules);
}

Test(rules, kind_regex_utf8_and_caseless)
{
    crest_rules *rules = load_kinds();
    crest_decl d = blank_decl();
    const char *yes[] = {"锂离子电池 3.7V", "铅酸蓄电池", "LITHIUM cells", "Rechargeable lithium battery"};
    for (size_t i = 0; i < 4; i++) {
        d.field[CREST_FIELD_GOODS_DESC] = S(yes[i]);
        cr_assert_float_eq(kinds_weight(rules, &d), 64, 0, "%s", yes[i]);
    }
    const char *no[] = {"智能手机 256GB", "", "\xff\xfe\xe9\x94 invalid UTF-8", "lith ium"};
    for (size_t i = 0; i < 4; i++) {
        d.field[CREST_FIELD_GOODS_DESC] = S(no[i]);
        cr_assert_float_eq(kinds_weight(rules, &d), 0, 0, "case %zu", i);
    }
    /* Invalid UTF-8 around a valid match still matches (PCRE2_MATCH_INVALID_UTF). */
    d.field[CREST_FIELD_GOODS_DESC] = S("\xff 锂 \xfe");
    cr_assert_float_eq(kinds_weight(rules, &d), 64, 0);
    crest_rules_free(rules);
}

Test(rules, kind_range)
{
    crest_rules *rules = load_kinds();
    crest_decl d = blank_decl();
    const struct {
        double v;
        double w;
    } cases[] = {{99.99, 0}, {100, 2}, {500, 2}, {999.99, 2}, {1000, 0}, {NAN, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        d.declared_value = cases[i].v;
        cr_assert_float_eq(kinds_weight(rules, &d), cases[i].w, 0, "value %g", cases[i].v);
    }
    crest_rules_free(rules);

    /* Every range form, on derived and text fields. */
    rules = load_text(HDR "A,unit_value,range:<0.5,weight,1,,,,,,,\n"
                          "B,net_mass_kg,\"range:(,5]\",weight,2,,,,,,,\n"
                          "C,declared_value,range:>=1e6,weight,4,,,,,,,\n"
                          "D,quantity,range:=7,weight,8,,,,,,,\n"
                          "E,revenue,\"range:(0;10)\",weight,16,,,,,,,\n"
                          "F,declared_value,range:>5e6,weight,32,,,,,,,\n",
                      NULL);
    d = blank_decl();
    d.declared_value = 1e6, d.net_mass_kg = 5, d.quantity = 7;
    d.field[CREST_FIELD_REVENUE] = S(" 9.5 ");
    cr_assert_float_eq(kinds_weight(rules, &d), 2 + 4 + 8 + 16, 0);
    d.declared_value = 1, d.net_mass_kg = 5.0001, d.quantity = 7.5; /* uv 0.2 */
    d.field[CREST_FIELD_REVENUE] = S("10");
    cr_assert_float_eq(kinds_weight(rules, &d), 1, 0);
    d.net_mass_kg = 0; /* no unit value without a positive mass */
    d.field[CREST_FIELD_REVENUE] = S("abc");
    cr_assert_float_eq(kinds_weight(rules, &d), 2, 0);
    d.declared_value = 6e6;
    cr_assert_float_eq(kinds_weight(rules, &d), 2 + 4 + 32, 0);
    crest_rules_free(rules);
}

Test(rules, kind_column_bound_by_header)
{
    crest_rules *rules = load_kinds();
    crest_str cols[] = {S("X1"), S("0000"), S("150")};
    crest_decl d = blank_decl();
    d.cols = cols;
    d.n_cols = 3;
    cr_assert_float_eq(kinds_weight(rules, &d), 32, 0);
    cols[2] = S("99");
    cr_assert_float_eq(kinds_weight(rules, &d), 0, 0);
    d.n_cols = 2; /* a short row lacks the column */
    cr_assert_float_eq(kinds_weight(rules, &d), 0, 0);

    /* Rebinding to another header moves the column. */
    crest_diag diag;
    crest_str header2[] = {S("packages"), S("x")};
    cr_assert_eq(crest_rules_bind(rules, header2, 2, &diag), CREST_OK);
    crest_str cols2[] = {S("100"), S("1")};
    d.cols = cols2;
    d.n_cols = 2;
    cr_assert_float_eq(kinds_weight(rules, &d), 32, 0);
    crest_rules_free(rules);
}

Test(rules, kind_list_with_windows)
{
    crest_rules *rules = load_kinds();
    crest_decl d = blank_decl();
    d.field[CREST_FIELD_ENTERPRISE_ID] = S(" ENT-OPEN ");
    cr_assert_float_eq(kinds_weight(rules, &d), 4, 0); /* open entry: hits without a date */
    d.field[CREST_FIELD_ENTERPRISE_ID] = S("ENT-2024");
    cr_assert_float_eq(kinds_weight(rules, &d), 0, 0); /* windowed entry needs a date */
    const struct {
        const char *date;
        double w;
    } cases[] = {{"2023-12-31", 0}, {"2024-01-01", 4}, {"2024-12-31", 4}, {"2025-01-01", 0},
                 {"2025-12-31", 0}, {"2026-01-01", 4}, {"2030-06-15", 4}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        d.date_days = days(cases[i].date);
        cr_assert_float_eq(kinds_weight(rules, &d), cases[i].w, 0, "%s", cases[i].date);
    }
    d.field[CREST_FIELD_ENTERPRISE_ID] = S("ENT-20");
    cr_assert_float_eq(kinds_weight(rules, &d), 0, 0);
    crest_rules_free(rules);
}

Test(rules, kind_prefix_list)
{
    crest_rules *rules = load_kinds();
    crest_decl d = blank_decl();
    d.field[CREST_FIELD_HS_CODE] = S("0201300000");
    cr_assert_float_eq(kinds_weight(rules, &d), 8, 0);
    d.field[CREST_FIELD_HS_CODE] = S("0306");
    cr_assert_float_eq(kinds_weight(rules, &d), 8, 0);
    d.field[CREST_FIELD_HS_CODE] = S("020");
    cr_assert_float_eq(kinds_weight(rules, &d), 0, 0);
    d.field[CREST_FIELD_HS_CODE] = S("1201100000");
    cr_assert_float_eq(kinds_weight(rules, &d), 0, 0);
    d.date_days = days("2024-03-01");
    cr_assert_float_eq(kinds_weight(rules, &d), 8, 0);
    d.date_days = days("2024-07-01");
    cr_assert_float_eq(kinds_weight(rules, &d), 0, 0);
    crest_rules_free(rules);
}

Test(rules, kind_band)
{
    crest_rules *rules = load_kinds();
    crest_decl d = blank_decl();
    const struct {
        const char *hs, *orig, *date;
        double value, mass, w;
    } cases[] = {
        {"7113190000", "IT", NULL, 1000, 10, 16},   /* 100/kg < 500 */
        {"7113190000", "IT", NULL, 30000, 10, 0},   /* 3000/kg inside */
        {"7113190000", "IT", NULL, 300000, 10, 16}, /* 30000/kg > 20000 */
        {"2204210000", "IT", NULL, 20, 10, 0},      /* 2/kg inside the * band [1.5, 200] */
        {"2204210000", "FR", NULL, 20, 10, 16},     /* the FR band wins: min 3 */
        {"2204210000", "FR", NULL, 1e7, 10, 0},     /* FR band has no maximum */
        {"2208000000", "IT", NULL, 5, 10, 16},      /* only the 2-digit band: 0.5 < 1 */
        {"2208000000", "IT", NULL, 50, 10, 0},
        {"2204210000", "IT", NULL, 1500, 10, 0},           /* 150/kg: the 2204 band (longest) wins over 22 */
        {"2204210000", "IT", NULL, 12, 10, 16},            /* 1.2 < 1.5 */
        {"9999000000", "IT", NULL, 1, 1e6, 0},             /* no band */
        {"7113190000", "IT", NULL, 1000, 0, 0},            /* no unit value */
        {"8517120000", "KR", NULL, 3000, 100, 0},          /* band windows need a date */
        {"8517120000", "KR", "2024-06-01", 3000, 100, 0},  /* 30/kg in [20, 3000] */
        {"8517120000", "KR", "2025-06-01", 3000, 100, 16}, /* 30/kg < 40 from 2025 */
        {"8517120000", NULL, "2025-06-01", 3000, 100, 16}, /* no origin: wildcard bands only */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        d.field[CREST_FIELD_HS_CODE] = S(cases[i].hs);
        d.field[CREST_FIELD_ORIGIN] = S(cases[i].orig);
        d.date_days = days(cases[i].date);
        d.declared_value = cases[i].value;
        d.net_mass_kg = cases[i].mass;
        cr_assert_float_eq(kinds_weight(rules, &d), cases[i].w, 0, "case %zu", i);
    }
    crest_rules_free(rules);
}

/* ---------------------------------------------------------------- actions */

static double fixed_u(void *ctx, size_t rule)
{
    (void)rule;
    return *(const double *)ctx;
}

Test(rules, actions_weight_and_lane_precedence)
{
    crest_rules *rules = load_text(HDR "W1,origin,^X,weight,1.5,,,,,,,\n"
                                       "W2,origin,^XY,weight,-0.25,,no,,,,,negative weights are allowed\n"
                                       "B,origin,X,lane,BLUE,1,,,,,,\n"
                                       "Y,origin,X,lane,yellow,0.9,,,,,,\n"
                                       "O,origin,XY,lane,ORANGE,0.3,,,,,,\n"
                                       "O2,origin,XY,lane,ORANGE,0.6,,,,,,\n"
                                       "R,origin,XYZ,lane,RED,0.1,no,,,,,\n",
                                   NULL);
    crest_decl d = blank_decl();
    crest_rules_result res;
    d.field[CREST_FIELD_ORIGIN] = S("X");
    eval1(rules, &d, &res);
    cr_assert_eq(res.n_hits, 3);
    cr_assert_float_eq(res.weight, 1.5, 0);
    cr_assert_eq(res.lane, CREST_RULES_LANE_YELLOW); /* YELLOW > BLUE */
    cr_assert_float_eq(res.lane_probability, 0.9, 0);
    cr_assert_eq(res.lane_rule, 3);
    cr_assert_not(res.credit_insensitive_hit);
    cr_assert_eq(res.ci_lane, CREST_RULES_LANE_NONE);

    d.field[CREST_FIELD_ORIGIN] = S("XY");
    eval1(rules, &d, &res);
    cr_assert_eq(res.n_hits, 6);
    cr_assert_float_eq(res.weight, 1.25, 1e-12);
    cr_assert_float_eq(res.weight_credit_insensitive, -0.25, 1e-12);
    cr_assert(res.credit_insensitive_hit);
    cr_assert_eq(res.lane, CREST_RULES_LANE_ORANGE); /* ORANGE > YELLOW; the likelier ORANGE rule */
    cr_assert_float_eq(res.lane_probability, 0.6, 0);
    cr_assert_str_eq(crest_rules_id(rules, (size_t)res.lane_rule), "O2");
    cr_assert_eq(res.ci_lane, CREST_RULES_LANE_NONE);

    d.field[CREST_FIELD_ORIGIN] = S("XYZ");
    eval1(rules, &d, &res);
    cr_assert_eq(res.lane, CREST_RULES_LANE_RED);
    cr_assert_float_eq(res.lane_probability, 0.1, 0);
    cr_assert_eq(res.ci_lane, CREST_RULES_LANE_RED);
    cr_assert_str_eq(crest_rules_id(rules, (size_t)res.ci_lane_rule), "R");
    cr_assert(hit_id(rules, &res, "B") && hit_id(rules, &res, "O2") && hit_id(rules, &res, "W2"));

    /* The engine's draw decides: strongest lane whose draw succeeds. */
    int32_t which;
    double u = 0.05;
    cr_assert_eq(crest_rules_decide_lane(rules, &res, false, fixed_u, &u, &which), CREST_RULES_LANE_RED);
    cr_assert_str_eq(crest_rules_id(rules, (size_t)which), "R");
    u = 0.5; /* RED (0.1) and O (0.3) fail, O2 (0.6) applies */
    cr_assert_eq(crest_rules_decide_lane(rules, &res, false, fixed_u, &u, &which), CREST_RULES_LANE_ORANGE);
    cr_assert_str_eq(crest_rules_id(rules, (size_t)which), "O2");
    u = 0.95; /* only BLUE (1.0) */
    cr_assert_eq(crest_rules_decide_lane(rules, &res, false, fixed_u, &u, &which), CREST_RULES_LANE_BLUE);
    cr_assert_eq(crest_rules_decide_lane(rules, &res, true, fixed_u, &u, &which), CREST_RULES_LANE_NONE);
    cr_assert_eq(which, -1);
    crest_rules_free(rules);
}

Test(rules, credit_insensitive_reported)
{
    crest_rules *rules = NULL;
    crest_diag diag;
    cr_assert_eq(crest_rules_load(EXAMPLE, NULL, &rules, &diag), CREST_OK);
    crest_decl d = blank_decl();
    d.direction = 'I';
    d.date_days = days("2024-09-01");
    d.field[CREST_FIELD_HS_CODE] = S("0201300000");
    d.field[CREST_FIELD_ORIGIN] = S("AU");
    d.field[CREST_FIELD_ENTERPRISE_ID] = S("91330100MA2CYYYY2B");
    d.declared_value = 60000, d.net_mass_kg = 10000; /* 6/kg, inside the AU band */
    crest_rules_result res;
    eval1(rules, &d, &res);
    cr_assert_eq(res.n_hits, 2, "%zu hits", res.n_hits);
    cr_assert(hit_id(rules, &res, "Q_ANIMAL") && hit_id(rules, &res, "NEG_LIST"));
    cr_assert(res.credit_insensitive_hit);
    cr_assert_eq(res.ci_lane, CREST_RULES_LANE_RED);
    cr_assert_float_eq(res.ci_lane_probability, 1.0, 0);
    cr_assert_str_eq(crest_rules_id(rules, (size_t)res.ci_lane_rule), "Q_ANIMAL");
    /* An export of the same goods is out of the quarantine rule's scope; the
     * negative-list entry has expired by 2025-06-01. */
    d.direction = 'E';
    d.date_days = days("2025-06-01");
    eval1(rules, &d, &res);
    cr_assert_eq(res.n_hits, 0);
    cr_assert_not(res.credit_insensitive_hit);
    crest_rules_free(rules);
}

/* ---------------------------------------------------------------- validity and scope */

Test(rules, validity_windows_and_scope)
{
    crest_rules *rules = load_text(HDR "WIN,origin,.,weight,1,,,2024-03-01,2024-03-31,,,\n"
                                       "FROM,origin,.,weight,2,,,2024-03-15,,,,\n"
                                       "TO,origin,.,weight,4,,,,2024-03-15,,,\n"
                                       "OFF,origin,.,weight,8,,,,,2233; 5316,,\n"
                                       "DIR,origin,.,weight,16,,,,,,e,\n"
                                       "ALL,origin,.,weight,32,,,,,,,\n",
                                   NULL);
    crest_decl d = blank_decl();
    d.field[CREST_FIELD_ORIGIN] = S("US");
    /* No date, no office, unknown direction: only the unscoped rule applies. */
    cr_assert_float_eq(kinds_weight(rules, &d), 32, 0);
    const struct {
        const char *date;
        double w;
    } cases[] = {{"2024-02-29", 4 + 32},
                 {"2024-03-01", 1 + 4 + 32},
                 {"2024-03-15", 1 + 2 + 4 + 32},
                 {"2024-03-31", 1 + 2 + 32},
                 {"2024-04-01", 2 + 32}};
    for (size_t i = 0; i < 5; i++) {
        d.date_days = days(cases[i].date);
        cr_assert_float_eq(kinds_weight(rules, &d), cases[i].w, 0, "%s", cases[i].date);
    }
    d.date_days = CREST_DATE_NONE;
    d.field[CREST_FIELD_OFFICE] = S("5316");
    cr_assert_float_eq(kinds_weight(rules, &d), 8 + 32, 0);
    d.field[CREST_FIELD_OFFICE] = S("531");
    cr_assert_float_eq(kinds_weight(rules, &d), 32, 0);
    d.direction = 'E';
    cr_assert_float_eq(kinds_weight(rules, &d), 16 + 32, 0);
    d.direction = 'I';
    cr_assert_float_eq(kinds_weight(rules, &d), 32, 0);
    crest_rules_free(rules);
}

/* ---------------------------------------------------------------- max hits */

Test(rules, max_hits_from_file_and_option)
{
    const char *text = HDR "A,origin,.,weight,1,,,,,,,\n"
                           "B,origin,^K,weight,1,,,,,,,\n"
                           "C,origin,P$,weight,1,,,,,,,\n"
                           "LIMIT,,,max_hits,2,,,,,,,more than two hits select\n";
    crest_rules *rules = load_text(text, NULL);
    cr_assert_eq(crest_rules_count(rules), 3);
    cr_assert_eq(crest_rules_max_hits(rules), 2);
    cr_assert_str_eq(crest_rules_max_hits_id(rules), "LIMIT");
    crest_decl d = blank_decl();
    crest_rules_result res;
    d.field[CREST_FIELD_ORIGIN] = S("KR");
    eval1(rules, &d, &res);
    cr_assert_eq(res.n_hits, 2);
    cr_assert_not(res.max_hits_exceeded);
    d.field[CREST_FIELD_ORIGIN] = S("KP");
    eval1(rules, &d, &res);
    cr_assert_eq(res.n_hits, 3);
    cr_assert(res.max_hits_exceeded);
    crest_rules_free(rules);

    crest_rules_load_options o = {.max_hits = 3};
    rules = load_text(text, &o);
    cr_assert_eq(crest_rules_max_hits(rules), 3);
    cr_assert_str_eq(crest_rules_max_hits_id(rules), "MAX_HITS");
    eval1(rules, &d, &res);
    cr_assert_not(res.max_hits_exceeded);
    crest_rules_free(rules);

    rules = load_text(HDR "A,origin,.,weight,1,,,,,,,\n", NULL);
    cr_assert_eq(crest_rules_max_hits(rules), 0);
    eval1(rules, &d, &res);
    cr_assert_not(res.max_hits_exceeded);
    crest_rules_free(rules);
}

/* ---------------------------------------------------------------- PCRE2 limits */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void catastrophic(bool no_jit)
{
    crest_rules_load_options o = {.no_jit = no_jit};
    crest_rules *rules = load_text(HDR "EVIL,goods_desc,re:(a+)+$,weight,1,,,,,,,\n"
                                       "GOOD,goods_desc,re:^a,weight,2,,,,,,,\n",
                                   &o);
    static char subject[4096];
    memset(subject, 'a', sizeof subject - 2);
    subject[sizeof subject - 2] = 'b';
    subject[sizeof subject - 1] = '\0';
    crest_decl d = blank_decl();
    d.field[CREST_FIELD_GOODS_DESC] = S(subject);
    crest_rules_scratch *sc = NULL;
    cr_assert_eq(crest_rules_scratch_create(rules, &sc), CREST_OK);
    crest_rules_result res;
    double t0 = now_s();
    for (int i = 0; i < 3; i++)
        crest_rules_eval(rules, sc, &d, &res);
    double elapsed = now_s() - t0;
    cr_assert_eq(res.n_limit_hits, 1);
    cr_assert_eq(res.n_hits, 1);
    cr_assert_float_eq(res.weight, 2, 0); /* the limited regex counts as no match */
    cr_assert_lt(elapsed, 5.0, "three evaluations took %.3f s", elapsed);
    cr_log_info("catastrophic pattern (%s): %.2f ms per evaluation", no_jit ? "interpreter" : "JIT",
                elapsed / 3 * 1e3);
    /* Short subjects still match normally. */
    d.field[CREST_FIELD_GOODS_DESC] = S("aaaa");
    crest_rules_eval(rules, sc, &d, &res);
    cr_assert_eq(res.n_limit_hits, 0);
    cr_assert_float_eq(res.weight, 3, 0);
    crest_rules_scratch_free(sc);
    crest_rules_free(rules);
}

Test(rules, catastrophic_backtracking_jit)
{
    catastrophic(false);
}
Test(rules, catastrophic_backtracking_interpreter)
{
    catastrophic(true);
}

/* A short subject that hits the limit: never answered from the result cache,
 * so the limit is counted on every evaluation. */
Test(rules, limit_hits_are_counted_every_time)
{
    crest_rules *rules = load_text(HDR "EVIL,goods_desc,re:(a+)+$,weight,1,,,,,,,\n", NULL);
    crest_decl d = blank_decl();
    d.field[CREST_FIELD_GOODS_DESC] = S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"); /* 35 a: 2^35 paths */
    crest_rules_scratch *sc = NULL;
    cr_assert_eq(crest_rules_scratch_create(rules, &sc), CREST_OK);
    for (int i = 0; i < 3; i++) {
        crest_rules_result res;
        crest_rules_eval(rules, sc, &d, &res);
        cr_assert_eq(res.n_limit_hits, 1, "evaluation %d", i);
        cr_assert_eq(res.n_hits, 0);
    }
    crest_rules_scratch_free(sc);
    crest_rules_free(rules);
}

/*
 * The per-scratch result cache and the valid-UTF-8 variant change no result:
 * a long-lived scratch (cache warm, slots colliding) with and without the
 * promise gives, for every declaration, what a fresh scratch gives.
 */
Test(rules, result_cache_and_utf8_promise_change_nothing)
{
    crest_rules *rules =
        load_text(HDR "DESC,goods_desc,re:(?i)(?:lithium|battery|drone|锂|电池),weight,1,,,,,,,\n"
                      "HS,hs_code,re:^(?:93|36|8526),weight,2,,,,,,,\n"
                      "ORIG,origin,re:^(?:IR|KP|SY)$,weight,4,,,,,,,\n"
                      "END,goods_desc,re:battery$,weight,8,,,,,,,\n",
                  NULL);
    static const char *const words[] = {"lithium", "Battery", "cells", "锂",      "电池",   "drone",
                                        "x",       "手机",    "pack",  "BATTERY", "drones", "ion"};
    static const char *const hs[] = {"9301", "3604", "8526", "8527", "0101", "93", "", "36"};
    static const char *const orig[] = {"IR", "KP", "SY", "CN", "IRN", "sy", ""};
    crest_rules_scratch *warm = NULL, *promised = NULL;
    cr_assert_eq(crest_rules_scratch_create(rules, &warm), CREST_OK);
    cr_assert_eq(crest_rules_scratch_create(rules, &promised), CREST_OK);
    crest_rules_scratch_promise_valid_utf8(promised);
    uint64_t x = 12345;
    size_t hits = 0;
    char desc[128];
    for (int i = 0; i < 4000; i++) {
        /* Descriptions of 0 to 9 words: repeats, cache collisions, some over 48 bytes. */
        desc[0] = '\0';
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const int n_words = (int)((x >> 33) % 10);
        for (int k = 0; k < n_words; k++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            if (k)
                strcat(desc, " ");
            strcat(desc, words[(x >> 35) % 12]);
        }
        crest_decl d = blank_decl();
        d.field[CREST_FIELD_GOODS_DESC] = S(desc);
        d.field[CREST_FIELD_HS_CODE] = S(hs[(x >> 20) % 8]);
        d.field[CREST_FIELD_ORIGIN] = S(orig[(x >> 24) % 7]);
        crest_rules_result fresh, a, b;
        eval1(rules, &d, &fresh);
        crest_rules_eval(rules, warm, &d, &a);
        crest_rules_eval(rules, promised, &d, &b);
        cr_assert_float_eq(a.weight, fresh.weight, 0, "'%s': cached %g, fresh %g", desc, a.weight,
                           fresh.weight);
        cr_assert_float_eq(b.weight, fresh.weight, 0, "'%s': promised %g, fresh %g", desc, b.weight,
                           fresh.weight);
        cr_assert_eq(a.n_hits, fresh.n_hits);
        cr_assert_eq(b.n_hits, fresh.n_hits);
        hits += fresh.n_hits;
    }
    cr_assert_gt(hits, 1000, "the input must make the rules hit (%zu hits)", hits);
    crest_rules_scratch_free(warm);
    crest_rules_scratch_free(promised);
    crest_rules_free(rules);
}

/*
 * Anchored literal alternatives skip PCRE2 (rules.c, rx_literals): for each
 * pattern, accepted shape or near miss, the rule's verdict on every subject
 * equals PCRE2's own match with crest's compile options, through a fresh, a
 * warm and a UTF-8-promised scratch.
 */
Test(rules, literal_regexes_match_as_pcre2)
{
    static const struct {
        const char *re;
        bool literal;
    } pats[] = {
        {"^(?:93|36|2402|2933|3004|8526|8806)", true},
        {"^(?:AF|IR|KP|SY|VE|MM|YE|LY)$", true},
        {"^93", true},
        {"^LY$", true},
        {"^(?:a b|c-d|e_f|g,h|i:j|k/l|m;n)", true},
        {"^(?:AF)$", true},
        {"^(?:93|36)x", false}, /* text after the group */
        {"^93|36", false},      /* top-level alternation: 36 is unanchored */
        {"^(?:93|)", false},    /* empty alternative */
        {"^(?:9.|36)", false},  /* metacharacter */
        {"(?i)^(?:af|ir)$", false},
        {"^(?:AF|IR)$$", false},
        {"^(?:a|(?:b|c))", false},
        {"(?:AF|IR)$", false},
        {"^(?:af|ir)\\z", false},
        {"^$", false},
        {"^(?:A)|(?:B)$", false},
    };
    static const char *const subjects[] = {
        "93",     "9301", "36",   "3",    "",       "2402x",      "88061", "8806", "8805", "AF",   "AF\n",
        "AF\n\n", "AFX",  "af",   "\nAF", "LY",     "LY\r\n",     "IR ",   " IR",  "a b",  "a bc", "m;n",
        "k/l\n",  "g,h",  "36\n", "x93",  "AF\xff", "93\xff\xfe", "LY\n",  "ZZ",   "LYLY", "9",    "936"};
    char text[8192] = HDR;
    for (size_t i = 0; i < sizeof pats / sizeof *pats; i++) {
        char line[256];
        snprintf(line, sizeof line, "R%zu,goods_desc,\"re:%s\",weight,%d,,,,,,,\n", i, pats[i].re, 1);
        strcat(text, line);
    }
    crest_rules *rules = load_text(text, NULL);
    for (size_t i = 0; i < sizeof pats / sizeof *pats; i++) {
        crest_rules_info info;
        cr_assert_eq(crest_rules_describe(rules, i, &info), CREST_OK);
        cr_assert_eq(info.regex_literal, pats[i].literal, "%s: literal %d, want %d", pats[i].re,
                     info.regex_literal, pats[i].literal);
    }
    crest_rules_scratch *warm = NULL, *promised = NULL;
    cr_assert_eq(crest_rules_scratch_create(rules, &warm), CREST_OK);
    cr_assert_eq(crest_rules_scratch_create(rules, &promised), CREST_OK);
    crest_rules_scratch_promise_valid_utf8(promised);
    size_t hits = 0, misses = 0;
    for (size_t s = 0; s < sizeof subjects / sizeof *subjects; s++) {
        crest_decl d = blank_decl();
        d.field[CREST_FIELD_GOODS_DESC] = S(subjects[s]);
        const bool valid = !strchr(subjects[s], '\xff');
        crest_rules_result fresh, a, b;
        eval1(rules, &d, &fresh);
        crest_rules_eval(rules, warm, &d, &a);
        if (valid)
            crest_rules_eval(rules, promised, &d, &b);
        for (size_t i = 0; i < sizeof pats / sizeof *pats; i++) {
            int err;
            PCRE2_SIZE off;
            pcre2_code *re = pcre2_compile((PCRE2_SPTR)pats[i].re, PCRE2_ZERO_TERMINATED,
                                           PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C,
                                           &err, &off, NULL);
            cr_assert_not_null(re);
            pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
            const bool want =
                pcre2_match(re, (PCRE2_SPTR)subjects[s], strlen(subjects[s]), 0, 0, md, NULL) >= 0;
            pcre2_match_data_free(md);
            pcre2_code_free(re);
            char id[16];
            snprintf(id, sizeof id, "R%zu", i);
            cr_assert_eq(hit_id(rules, &fresh, id), want, "%s on '%s': crest %d, PCRE2 %d", pats[i].re,
                         subjects[s], hit_id(rules, &fresh, id), want);
            cr_assert_eq(hit_id(rules, &a, id), want, "%s on '%s' (warm scratch)", pats[i].re, subjects[s]);
            if (valid)
                cr_assert_eq(hit_id(rules, &b, id), want, "%s on '%s' (promised)", pats[i].re, subjects[s]);
            hits += want;
            misses += !want;
        }
    }
    cr_assert_gt(hits, 40, "the subjects must make the patterns hit (%zu)", hits);
    cr_assert_gt(misses, 40);
    crest_rules_scratch_free(warm);
    crest_rules_scratch_free(promised);
    crest_rules_free(rules);

    /* Limits low enough for PCRE2's interpreter to stop: PCRE2 does the work. */
    crest_rules_load_options low = {.match_limit = 5};
    rules = load_text(HDR "R0,goods_desc,re:^(?:AF|IR|KP|SY|VE|MM|YE|LY)$,weight,1,,,,,,,\n", &low);
    crest_rules_info info;
    cr_assert_eq(crest_rules_describe(rules, 0, &info), CREST_OK);
    cr_assert_not(info.regex_literal);
    crest_rules_free(rules);
}

/* PCRE2's own verdict on subject[0..n) with crest's compile options. */
static bool pcre2_says(const char *re, const char *subject, size_t n)
{
    int err;
    PCRE2_SIZE off;
    pcre2_code *code =
        pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                      PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C, &err, &off, NULL);
    cr_assert_not_null(code, "%s", re);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    const bool hit = pcre2_match(code, (PCRE2_SPTR)subject, n, 0, 0, md, NULL) >= 0;
    pcre2_match_data_free(md);
    pcre2_code_free(code);
    return hit;
}

/*
 * The anchored literals' word tables (rules.c, rx_literals_index): random
 * alternatives of 1 to 10 bytes (over 8: the one-by-one comparison), up to 60
 * of them, repeats included, with and without '$'; subjects made of a
 * literal, its prefixes, a literal with a byte, a newline or a CRLF after it,
 * and random bytes of the same alphabet. Every verdict equals PCRE2's.
 */
Test(rules, literal_word_tables_match_as_pcre2)
{
    static const char alphabet[] = "AB9 -";
    uint64_t rng = 0x2545F4914F6CDD1Du;
#define NEXT() (rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17, rng)
    size_t hits = 0, checked = 0;
    for (int round = 0; round < 60; round++) {
        char lit[64][12];
        const size_t n_lits = 1 + NEXT() % (round < 30 ? 6 : 60);
        const size_t max_len = round % 10 == 9 ? 10 : 1 + round % 8;
        char re[1024] = "^(?:";
        for (size_t k = 0; k < n_lits; k++) {
            const size_t len = 1 + NEXT() % max_len;
            for (size_t j = 0; j < len; j++)
                lit[k][j] = j == 0 ? "AB9"[NEXT() % 3] : alphabet[NEXT() % 5];
            lit[k][len] = '\0';
            strcat(re, k ? "|" : "");
            strcat(re, lit[k]);
        }
        strcat(re, round % 2 ? ")$" : ")");
        char text[2048];
        snprintf(text, sizeof text, HDR "R0,goods_desc,\"re:%s\",weight,1,,,,,,,\n", re);
        crest_rules *rules = load_text(text, NULL);
        crest_rules_info info;
        cr_assert_eq(crest_rules_describe(rules, 0, &info), CREST_OK);
        cr_assert(info.regex_literal, "%s: literal shape", re);
        crest_rules_scratch *scratch = NULL;
        cr_assert_eq(crest_rules_scratch_create(rules, &scratch), CREST_OK);
        for (int t = 0; t < 200; t++) {
            char subject[800]; /* as large as lit: the compiler cannot see a literal is short */
            const char *l = lit[NEXT() % n_lits];
            const size_t ll = strlen(l);
            switch (t % 5) {
            case 0: /* a literal */
                snprintf(subject, sizeof subject, "%s", l);
                break;
            case 1: /* one of its prefixes */
                snprintf(subject, sizeof subject, "%.*s", (int)(NEXT() % (ll + 1)), l);
                break;
            case 2: /* a literal and one more byte */
                snprintf(subject, sizeof subject, "%s%c", l, alphabet[NEXT() % 5]);
                break;
            case 3: /* a literal and a line end */
                snprintf(subject, sizeof subject, "%s%s", l, NEXT() % 2 ? "\n" : "\r\n");
                break;
            default: { /* random bytes */
                const size_t n = NEXT() % 12;
                for (size_t j = 0; j < n; j++)
                    subject[j] = alphabet[NEXT() % 5];
                subject[n] = '\0';
            }
            }
            crest_decl d = blank_decl();
            d.field[CREST_FIELD_GOODS_DESC] = S(subject);
            crest_rules_result res;
            crest_rules_eval(rules, scratch, &d, &res);
            const bool want = pcre2_says(re, subject, strlen(subject));
            cr_assert_eq(hit_id(rules, &res, "R0"), want, "%s on '%s': crest %d, PCRE2 %d", re, subject,
                         hit_id(rules, &res, "R0"), want);
            hits += want;
            checked++;
        }
        crest_rules_scratch_free(scratch);
        crest_rules_free(rules);
    }
#undef NEXT
    cr_assert_gt(hits, checked / 5, "the subjects must hit often (%zu of %zu)", hits, checked);
    cr_assert_lt(hits, checked * 4 / 5, "and miss often (%zu of %zu)", hits, checked);
}

/* The unanchored shortcut takes a subject's start positions 64 at a time: a
 * keyword at every offset from 0 to 140, in subjects up to 200 bytes, is found,
 * and the same filler alone is not. */
Test(rules, word_literals_found_at_every_offset)
{
    crest_rules *rules = load_text(HDR "R0,goods_desc,\"re:(?i)(?:gun|knife)\",weight,1,,,,,,,\n", NULL);
    crest_rules_info info;
    cr_assert_eq(crest_rules_describe(rules, 0, &info), CREST_OK);
    cr_assert(info.regex_words, "the shortcut applies");
    crest_rules_scratch *scratch = NULL;
    cr_assert_eq(crest_rules_scratch_create(rules, &scratch), CREST_OK);
    char subject[256];
    for (size_t at = 0; at <= 140; at++) {
        for (size_t tail = 0; tail <= 60; tail += 30) {
            memset(subject, 'x', sizeof subject);
            memcpy(subject + at, at % 2 ? "KNIFE" : "gun", at % 2 ? 5 : 3);
            const size_t n = at + (at % 2 ? 5 : 3) + tail;
            subject[n] = '\0';
            crest_decl d = blank_decl();
            d.field[CREST_FIELD_GOODS_DESC] = S(subject);
            crest_rules_result res;
            crest_rules_eval(rules, scratch, &d, &res);
            cr_assert(hit_id(rules, &res, "R0"), "keyword at %zu of %zu bytes not found", at, n);
            memset(subject, 'x', n); /* the filler alone */
            d.field[CREST_FIELD_GOODS_DESC] = S(subject);
            crest_rules_eval(rules, scratch, &d, &res);
            cr_assert_not(hit_id(rules, &res, "R0"), "no keyword in %zu bytes, yet a hit", n);
        }
    }
    crest_rules_scratch_free(scratch);
    crest_rules_free(rules);
}

/* The result cache (two slots a text) under load: 12 000 distinct texts, far
 * more than its slots, ASCII and not, read three times in three orders
 * (forward, backward, by a stride) so that texts meet in their sets, move to
 * the front and are evicted; every verdict is the text's own. */
Test(rules, result_cache_under_eviction)
{
    crest_rules *rules = load_text(HDR "R0,goods_desc,\"re:(?i)(?:gun|刀)\",weight,1,,,,,,,\n", NULL);
    crest_rules_scratch *scratch = NULL;
    cr_assert_eq(crest_rules_scratch_create(rules, &scratch), CREST_OK);
    enum { N = 12000 };
    size_t hits = 0;
    for (int pass = 0; pass < 3; pass++) {
        for (size_t k = 0; k < N; k++) {
            const size_t i = pass == 0 ? k : pass == 1 ? N - 1 - k : (k * 7919) % N;
            char subject[64];
            const bool want = i % 3 == 0;
            if (i % 2)
                snprintf(subject, sizeof subject, "item %zu%s", i, want ? " GUN" : " gum");
            else
                snprintf(subject, sizeof subject, "物品 %zu%s", i, want ? " 刀" : " 力");
            crest_decl d = blank_decl();
            d.field[CREST_FIELD_GOODS_DESC] = S(subject);
            crest_rules_result res;
            crest_rules_eval(rules, scratch, &d, &res);
            cr_assert_eq(hit_id(rules, &res, "R0"), want, "pass %d, '%s'", pass, subject);
            hits += want;
        }
    }
    cr_assert_eq(hits, 3 * ((N + 2) / 3));
    crest_rules_scratch_free(scratch);
    crest_rules_free(rules);
}

/*
 * Unanchored literal alternatives skip PCRE2 on all-ASCII subjects (rules.c,
 * rx_words): for each pattern, accepted shape or near miss, the rule's verdict
 * on every subject (fixed ones, then random ones built from fragments in
 * several cases, ASCII and not) equals PCRE2's own match with crest's compile
 * options, through a fresh, a warm and a UTF-8-promised scratch. The long s
 * (U+017F) and the Kelvin sign (U+212A) match ASCII s and k under (?i): the
 * byte sets come from PCRE2, so those literals match ASCII subjects too.
 */
Test(rules, word_regexes_match_as_pcre2)
{
    static const struct {
        const char *re;
        bool words;
    } pats[] = {
        {"(?i)(?:lithium|battery|drone|unmanned|weapon|gun|ammunition|knife|replica|counterfeit|cigarette|"
         "锂|电池|无人机|刀|枪|弹|卷烟)",
         true},
        {"(?:ab|cd)", true},
        {"ab|cd|k-l", true},
        {"(?i)key", true},
        {"(?i)(?:a|Z)", true},
        {"(?i)(?:ſun|\u212Aey|é)", true},
        {"(?:ſun|\u212Aey)", true},
        {"(?i)(?:a b|c,d|e_f|g:h|i/j|k;l)", true},
        {"(?i)a|b", false},    /* a top-level option before an alternation */
        {"(?:a.b)", false},    /* metacharacter */
        {"(?i)(?:x|)", false}, /* empty alternative */
        {"(?:ab)(?:cd)", false},
        {"^(?i)ab", false},
        {"(?i)(?:gun)$", false},
        {"(?s)(?:gun)", false},
        {"(?:gun)|x", false},
    };
    static const char *const frags[] = {
        "lith", "ium", "LITHIUM", "Battery", "gu", "n",     "knife", "KNIFE",  "K",      "s",
        "S",    "ey",  "key",     " ",       ",",  "x",     "锂",    "ſ",      "\u212A", "un",
        "SUN",  "a b", "c,d",     "ab",      "cd", "é",     "É",     "k-l",    "K;L",    "e_F",
        "i/J",  "Z",   "电池",    "cigaret", "te", "Drone", "\n",    "weapoN", "zz",     "q"};
    char text[8192] = HDR;
    for (size_t i = 0; i < sizeof pats / sizeof *pats; i++) {
        char line[512];
        snprintf(line, sizeof line, "R%zu,goods_desc,\"re:%s\",weight,%d,,,,,,,\n", i, pats[i].re, 1);
        strcat(text, line);
    }
    crest_rules *rules = load_text(text, NULL);
    for (size_t i = 0; i < sizeof pats / sizeof *pats; i++) {
        crest_rules_info info;
        cr_assert_eq(crest_rules_describe(rules, i, &info), CREST_OK);
        cr_assert_eq(info.regex_words, pats[i].words, "%s: words %d, want %d", pats[i].re, info.regex_words,
                     pats[i].words);
    }
    pcre2_code *ref[sizeof pats / sizeof *pats];
    for (size_t i = 0; i < sizeof pats / sizeof *pats; i++) {
        int err;
        PCRE2_SIZE off;
        ref[i] =
            pcre2_compile((PCRE2_SPTR)pats[i].re, PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C, &err, &off, NULL);
        cr_assert_not_null(ref[i], "%s", pats[i].re);
    }
    pcre2_match_data *md = pcre2_match_data_create(8, NULL);
    crest_rules_scratch *warm = NULL, *promised = NULL;
    cr_assert_eq(crest_rules_scratch_create(rules, &warm), CREST_OK);
    cr_assert_eq(crest_rules_scratch_create(rules, &promised), CREST_OK);
    crest_rules_scratch_promise_valid_utf8(promised);
    size_t hits = 0, misses = 0, ascii = 0;
    uint64_t x = 20261203;
    char subject[256];
    for (int s = 0; s < 6000; s++) {
        /* 0 to 7 fragments: short subjects repeat (warm cache), long ones pass 48 bytes;
         * one in four up to 23, past 64 bytes (the shortcut takes 64 positions at a time). */
        subject[0] = '\0';
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const int n_frags = (int)((x >> 33) % (s % 4 == 3 ? 24 : 8));
        for (int k = 0; k < n_frags; k++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            strcat(subject, frags[(x >> 35) % (sizeof frags / sizeof *frags)]);
        }
        bool is_ascii = true;
        for (const char *c = subject; *c; c++)
            is_ascii &= (unsigned char)*c < 0x80;
        ascii += is_ascii;
        crest_decl d = blank_decl();
        d.field[CREST_FIELD_GOODS_DESC] = S(subject);
        crest_rules_result fresh, a, b;
        eval1(rules, &d, &fresh);
        crest_rules_eval(rules, warm, &d, &a);
        crest_rules_eval(rules, promised, &d, &b);
        for (size_t i = 0; i < sizeof pats / sizeof *pats; i++) {
            const bool want = pcre2_match(ref[i], (PCRE2_SPTR)subject, strlen(subject), 0, 0, md, NULL) >= 0;
            char id[16];
            snprintf(id, sizeof id, "R%zu", i);
            cr_assert_eq(hit_id(rules, &fresh, id), want, "%s on '%s': crest %d, PCRE2 %d", pats[i].re,
                         subject, hit_id(rules, &fresh, id), want);
            cr_assert_eq(hit_id(rules, &a, id), want, "%s on '%s' (warm scratch)", pats[i].re, subject);
            cr_assert_eq(hit_id(rules, &b, id), want, "%s on '%s' (promised)", pats[i].re, subject);
            hits += want;
            misses += !want;
        }
    }
    cr_assert_gt(hits, 5000, "the subjects must make the patterns hit (%zu)", hits);
    cr_assert_gt(misses, 5000);
    cr_assert_gt(ascii, 1000, "the shortcut must be tried (%zu ASCII subjects)", ascii);
    /* The long s and the Kelvin sign against ASCII subjects, named. */
    static const struct {
        size_t pat;
        const char *subject;
        bool want;
    } named[] = {{5, "SUN", true},  {5, "KEY", true},   {5, "e", false},   {6, "sun", false},
                 {6, "key", false}, {0, "KNIFE", true}, {0, "Gu n", false}};
    for (size_t k = 0; k < sizeof named / sizeof *named; k++) {
        crest_decl d = blank_decl();
        d.field[CREST_FIELD_GOODS_DESC] = S(named[k].subject);
        crest_rules_result res;
        crest_rules_eval(rules, warm, &d, &res);
        char id[16];
        snprintf(id, sizeof id, "R%zu", named[k].pat);
        cr_assert_eq(hit_id(rules, &res, id), named[k].want, "%s on '%s'", pats[named[k].pat].re,
                     named[k].subject);
    }
    pcre2_match_data_free(md);
    for (size_t i = 0; i < sizeof pats / sizeof *pats; i++)
        pcre2_code_free(ref[i]);
    crest_rules_scratch_free(warm);
    crest_rules_scratch_free(promised);
    crest_rules_free(rules);

    /* Limits low enough for PCRE2's interpreter to stop: PCRE2 does the work. */
    crest_rules_load_options low = {.match_limit = 5};
    rules = load_text(HDR "R0,goods_desc,re:(?i)(?:gun|knife),weight,1,,,,,,,\n", &low);
    crest_rules_info info;
    cr_assert_eq(crest_rules_describe(rules, 0, &info), CREST_OK);
    cr_assert_not(info.regex_words);
    crest_rules_free(rules);
}

/* ---------------------------------------------------------------- CSV dialect */

Test(rules, csv_bom_crlf_quotes_comments)
{
    crest_diag diag;
    crest_rules *rules = NULL;
    cr_assert_eq(crest_rules_load(FIXTURES "/crlf_bom.csv", NULL, &rules, &diag), CREST_OK, "%s",
                 diag.message);
    cr_assert_eq(crest_rules_count(rules), 1);
    cr_assert_str_eq(crest_rules_rationale(rules, 0), "two\r\nlines, with \"quotes\"");
    crest_rules_free(rules);

    rules = load_text("# a comment before the header, with, commas\n\n" HDR
                      "\n#X,origin,[,weight,1,,,,,,,commented out: not compiled\n"
                      ",,,,,,,,,,,\n"
                      "A,origin,re:^CN$,weight,1,,,,,,,\n",
                      NULL);
    cr_assert_eq(crest_rules_count(rules), 1);
    crest_rules_free(rules);
}

/* ---------------------------------------------------------------- bad files */

Test(rules, bad_unknown_field)
{
    /* Detected at load when the header is given... */
    crest_str header[] = {S("decl_id"), S("hs_code")};
    crest_rules_load_options o = {.header = header, .n_header = 2};
    crest_diag diag = load_fail(HDR "A,hs_code,^93,weight,1,,,,,,,\n"
                                    "B,hs_kode,^93,weight,1,,,,,,,\n",
                                &o, CREST_ERR_MISMATCH, 3, 3);
    cr_assert(strstr(diag.message, "hs_kode"), "%s", diag.message);

    /* ...and at bind time otherwise. */
    crest_rules *rules = load_text(HDR "A,hs_code,^93,weight,1,,,,,,,\n"
                                       "B,hs_kode,^93,weight,1,,,,,,,\n",
                                   NULL);
    cr_assert_eq(crest_rules_bind(rules, header, 2, &diag), CREST_ERR_MISMATCH);
    cr_assert(strstr(diag.file, "rules.csv"));
    cr_assert_eq(diag.line, 3);
    cr_assert_eq(diag.column, 3);
    cr_assert(strstr(diag.message, "hs_kode"));
    crest_rules_free(rules);

    /* unit_value is numeric only. */
    load_fail(HDR "A,unit_value,re:^1,weight,1,,,,,,,\n", NULL, CREST_ERR_INVALID, 2, 3);
    load_fail(HDR "A,,re:^1,weight,1,,,,,,,\n", NULL, CREST_ERR_INVALID, 2, 3);
}

Test(rules, bad_regex_names_offset)
{
    /* "re:" starts at column 13; the unmatched ')' is byte 3 of "ab)c". */
    crest_diag diag = load_fail(HDR "A,hs_code,^9,weight,1,,,,,,,\nBAD,origin,re:ab)c,weight,1,,,,,,,\n",
                                NULL, CREST_ERR_REGEX, 3, 12 + 3 + 2);
    cr_assert(strstr(diag.message, "offset 2"), "%s", diag.message);
    cr_assert(strstr(diag.message, "parenthesis"), "%s", diag.message);
    /* A quoted pattern after UTF-8 text: columns count characters. */
    diag = load_fail(HDR "B,goods_desc,\"锂|(电池\",weight,1,,,,,,,\n", NULL, CREST_ERR_REGEX, 2, 0);
    cr_assert(strstr(diag.message, "missing closing parenthesis"), "%s", diag.message);
    cr_assert_eq(diag.column, 14 + 1 + 5, "column %lu", diag.column);
    load_fail(HDR "C,origin,re:,weight,1,,,,,,,\n", NULL, CREST_ERR_REGEX, 2, 10);
}

Test(rules, bad_values)
{
    crest_diag diag;
    diag = load_fail(HDR "A,origin,X,lane,PURPLE,1,,,,,,\n", NULL, CREST_ERR_INVALID, 2, 17);
    cr_assert(strstr(diag.message, "PURPLE"));
    diag = load_fail(HDR "A,origin,X,lane,RED,1.5,,,,,,\n", NULL, CREST_ERR_RANGE, 2, 21);
    cr_assert(strstr(diag.message, "[0, 1]"));
    load_fail(HDR "A,origin,X,lane,RED,-0.1,,,,,,\n", NULL, CREST_ERR_RANGE, 2, 21);
    load_fail(HDR "A,origin,X,lane,RED,often,,,,,,\n", NULL, CREST_ERR_INVALID, 2, 21);
    load_fail(HDR "A,origin,X,weight,1,0.5,,,,,,\n", NULL, CREST_ERR_INVALID, 2, 0);
    load_fail(HDR "A,origin,X,weight,heavy,,,,,,,\n", NULL, CREST_ERR_INVALID, 2, 19);
    load_fail(HDR "A,origin,X,weight,inf,,,,,,,\n", NULL, CREST_ERR_INVALID, 2, 19);
    load_fail(HDR "A,origin,X,select,1,,,,,,,\n", NULL, CREST_ERR_INVALID, 2, 12);
    load_fail(HDR "A,origin,X,weight,1,,maybe,,,,,\n", NULL, CREST_ERR_INVALID, 2, 0);
    load_fail(HDR "A,origin,X,weight,1,,,,,,IE,\n", NULL, CREST_ERR_INVALID, 2, 0);
    load_fail(HDR "A,origin,X,weight,1,,,,,2233;;5316,,\n", NULL, CREST_ERR_INVALID, 2, 0);
    diag = load_fail(HDR "A,origin,X,weight,1,,,,,,,\nA,origin,Y,weight,1,,,,,,,\n", NULL, CREST_ERR_INVALID,
                     3, 1);
    cr_assert(strstr(diag.message, "line 2"), "%s", diag.message);
    load_fail(HDR ",origin,X,weight,1,,,,,,,\n", NULL, CREST_ERR_INVALID, 2, 1);
    load_fail(HDR "A,origin,range:[5,1],weight,1,,,,,,,\n", NULL, CREST_ERR_INVALID, 2, 0);
    load_fail(HDR "A,origin,\"range:[a,1]\",weight,1,,,,,,,\n", NULL, CREST_ERR_INVALID, 2, 0);
    load_fail(HDR "A,origin,range:~3,weight,1,,,,,,,\n", NULL, CREST_ERR_INVALID, 2, 0);
    load_fail(HDR "M,,,max_hits,many,,,,,,,\n", NULL, CREST_ERR_INVALID, 2, 0);
    load_fail(HDR "M,,,max_hits,2,,,,,,,\nN,,,max_hits,3,,,,,,,\n", NULL, CREST_ERR_INVALID, 3, 0);
}

Test(rules, bad_dates)
{
    crest_diag diag;
    /* valid_from is column 23 in "A,origin,X,weight,1,,,". */
    diag = load_fail(HDR "A,origin,X,weight,1,,,2024-02-30,,,,\n", NULL, CREST_ERR_INVALID, 2, 23);
    cr_assert(strstr(diag.message, "2024-02-30"));
    load_fail(HDR "A,origin,X,weight,1,,,2024/01/01,,,,\n", NULL, CREST_ERR_INVALID, 2, 23);
    load_fail(HDR "A,origin,X,weight,1,,,,2024-13-01,,,\n", NULL, CREST_ERR_INVALID, 2, 24);
    load_fail(HDR "A,origin,X,weight,1,,,2024-05-01,2024-04-30,,,\n", NULL, CREST_ERR_RANGE, 2, 34);
    /* Leap day is fine. */
    crest_rules_free(load_text(HDR "A,origin,X,weight,1,,,2024-02-29,2024-02-29,,,\n", NULL));
}

Test(rules, bad_header_and_csv)
{
    crest_diag diag =
        load_fail("id,field,action,weight_or_lane\nA,origin,weight,1\n", NULL, CREST_ERR_MISSING, 1, 0);
    cr_assert(strstr(diag.message, "'pattern'"), "%s", diag.message);
    load_fail("id,field,pattern,action,weight_or_lane,ID\n", NULL, CREST_ERR_INVALID, 1, 40);
    load_fail("", NULL, CREST_ERR_MISSING, 1, 0);
    load_fail(HDR "A,origin,X,weight,1,,,,,,,\"unclosed\n", NULL, CREST_ERR_SYNTAX, 2, 0);
    load_fail(HDR "A,origin,X\"Y,weight,1,,,,,,,\n", NULL, CREST_ERR_SYNTAX, 2, 0);
    crest_rules *rules = (crest_rules *)1;
    cr_assert_eq(crest_rules_load("/nonexistent/criteria.csv", NULL, &rules, &diag), CREST_ERR_IO);
    cr_assert_null(rules);
    cr_assert_str_eq(diag.file, "/nonexistent/criteria.csv");
}

Test(rules, bad_tables)
{
    crest_diag diag;
    diag = load_fail(HDR "A,origin,list:nosuch,weight,1,,,,,,,\n", NULL, CREST_ERR_MISSING, 2, 10);
    cr_assert(strstr(diag.message, "nosuch"));
    load_fail(HDR "A,origin,list:../etc,weight,1,,,,,,,\n", NULL, CREST_ERR_INVALID, 2, 10);
    load_fail(HDR "A,origin,list:,weight,1,,,,,,,\n", NULL, CREST_ERR_INVALID, 2, 10);

    /* Errors inside a table name the table file and its position. */
    const char *lst = write_tmp("badlist.csv", "value,valid_from\nCN,2024-01-01\nUS,01/02/2024\n");
    crest_rules_table_file tf[] = {{"countries", lst}};
    crest_rules_load_options o = {.tables = tf, .n_tables = 1};
    crest_rules *rules = (crest_rules *)1;
    cr_assert_eq(crest_rules_load(write_tmp("r.csv", HDR "A,origin,list:countries,weight,1,,,,,,,\n"), &o,
                                  &rules, &diag),
                 CREST_ERR_INVALID);
    cr_assert_str_eq(diag.file, lst);
    cr_assert_eq(diag.line, 3);
    cr_assert_eq(diag.column, 4);

    const char *band = write_tmp("badband.csv", "hs_prefix,origin,min_unit_value\n22,*,1\n");
    tf[0] = (crest_rules_table_file){"b", band};
    cr_assert_eq(
        crest_rules_load(write_tmp("r.csv", HDR "A,hs_code,band:b,weight,1,,,,,,,\n"), &o, &rules, &diag),
        CREST_ERR_MISSING);
    cr_assert_str_eq(diag.file, band);
    cr_assert(strstr(diag.message, "max_unit_value"));

    band = write_tmp("badband2.csv", "hs_prefix,origin,min_unit_value,max_unit_value\n22,*,10,1\n");
    tf[0] = (crest_rules_table_file){"b", band};
    cr_assert_eq(
        crest_rules_load(write_tmp("r.csv", HDR "A,hs_code,band:b,weight,1,,,,,,,\n"), &o, &rules, &diag),
        CREST_ERR_RANGE);
    cr_assert_eq(diag.line, 2);

    /* One name cannot be both a list and a band table. */
    const char *ok = write_tmp("okband.csv", "hs_prefix,origin,min_unit_value,max_unit_value\n22,*,1,10\n");
    tf[0] = (crest_rules_table_file){"t", ok};
    cr_assert_eq(crest_rules_load(write_tmp("r.csv", HDR "A,hs_code,band:t,weight,1,,,,,,,\n"
                                                         "B,hs_code,list:t,weight,1,,,,,,,\n"),
                                  &o, &rules, &diag),
                 CREST_ERR_INVALID);
    cr_assert_eq(diag.line, 3);

    /* tables_dir is honoured. */
    write_tmp("cc.csv", "value\nKP\n");
    o = (crest_rules_load_options){.tables_dir = tmpdir};
    rules = load_text(HDR "A,origin,list:cc,weight,1,,,,,,,\n", &o);
    crest_decl d = blank_decl();
    d.field[CREST_FIELD_ORIGIN] = S("KP");
    cr_assert_float_eq(kinds_weight(rules, &d), 1, 0);
    crest_rules_free(rules);
}

/* ---------------------------------------------------------------- synthetic stream */

typedef struct synth {
    char hs[16], orig[4], desc[64], ent[24], office[8];
    crest_decl d;
} synth;

static void synth_fill(synth *s, unsigned i)
{
    static const char *const hs[] = {"8517120000", "8507600000", "9304000000", "0201300000", "7113190000",
                                     "2933990000", "6109100000", "2204210000", "8806100000", "2601110000"};
    static const char *const orig[] = {"US", "JP", "KR", "DE", "IR", "AU", "FR", "VN", "KP", "BR"};
    static const char *const desc[] = {"Smartphone 256GB, unlocked",   "锂离子电池 3.7V",
                                       "Air guns, spring-operated",    "冻去骨牛肉",
                                       "Gold jewellery, 18K",          "有机化学品",
                                       "Men's cotton knitted T-shirt", "Red wine, 750ml bottles",
                                       "Quadcopter drone with camera", "Iron ore fines, 62% Fe"};
    unsigned h = i * 2654435761u;
    snprintf(s->hs, sizeof s->hs, "%s", hs[i % 10]);
    snprintf(s->orig, sizeof s->orig, "%s", orig[(h >> 8) % 10]);
    snprintf(s->desc, sizeof s->desc, "%s", desc[i % 10]);
    snprintf(s->ent, sizeof s->ent, "%s", (h >> 4) % 50 ? "91440106MAX4PWWJ33" : "91440300MA5FXXXX1A");
    snprintf(s->office, sizeof s->office, "%s", (h >> 12) % 2 ? "2233" : "5316");
    s->d = blank_decl();
    s->d.field[CREST_FIELD_HS_CODE] = S(s->hs);
    s->d.field[CREST_FIELD_ORIGIN] = S(s->orig);
    s->d.field[CREST_FIELD_GOODS_DESC] = S(s->desc);
    s->d.field[CREST_FIELD_ENTERPRISE_ID] = S(s->ent);
    s->d.field[CREST_FIELD_OFFICE] = S(s->office);
    s->d.date_days = days("2024-01-01") + (int32_t)(h % 700);
    s->d.direction = (h >> 20) % 5 ? 'I' : 'E';
    s->d.declared_value = (double)((h >> 3) % 200000) / 10.0;
    s->d.net_mass_kg = (double)((h >> 13) % 5000) / 10.0 + 0.5;
}

#if !defined(__SANITIZE_ADDRESS__)
/* Count this thread's allocations by interposing the allocator (glibc). */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static _Thread_local int counting;
static _Thread_local unsigned long n_allocs;
void *malloc(size_t n)
{
    n_allocs += counting;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t m)
{
    n_allocs += counting;
    return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n)
{
    n_allocs += counting;
    return __libc_realloc(p, n);
}
void free(void *p)
{
    __libc_free(p);
}

Test(rules, no_allocation_per_row)
{
    crest_rules *rules = NULL;
    crest_diag diag;
    cr_assert_eq(crest_rules_load(EXAMPLE, NULL, &rules, &diag), CREST_OK);
    crest_rules_load_options o = {.no_jit = true};
    crest_rules *interp = NULL;
    cr_assert_eq(crest_rules_load(EXAMPLE, &o, &interp, &diag), CREST_OK);
    crest_rules_scratch *sc = NULL, *sc2 = NULL;
    counting = 1; /* the counter works: creating a scratch allocates */
    cr_assert_eq(crest_rules_scratch_create(rules, &sc), CREST_OK);
    counting = 0;
    cr_assert_gt(n_allocs, 0);
    cr_assert_eq(crest_rules_scratch_create(interp, &sc2), CREST_OK);
    static synth rows[256];
    for (unsigned i = 0; i < 256; i++)
        synth_fill(&rows[i], i);
    crest_rules_result res;
    /* Warm up: PCRE2's interpreter keeps its backtracking frames in the match
     * data once they have grown to the largest pattern's need. */
    for (unsigned i = 0; i < 256; i++)
        crest_rules_eval(interp, sc2, &rows[i].d, &res);
    size_t hits = 0;
    counting = 1;
    n_allocs = 0;
    for (unsigned i = 0; i < 10000; i++) {
        crest_rules_eval(rules, sc, &rows[i % 256].d, &res);
        hits += res.n_hits;
        crest_rules_eval(interp, sc2, &rows[i % 256].d, &res);
        hits += res.n_hits;
    }
    counting = 0;
    cr_assert_eq(n_allocs, 0, "%lu allocations in 20000 evaluations", n_allocs);
    cr_assert_gt(hits, 0);
    crest_rules_scratch_free(sc);
    crest_rules_scratch_free(sc2);
    crest_rules_free(rules);
    crest_rules_free(interp);
}
#endif

/* JIT and interpreter give the same hits, weight and lane on every synthetic
 * declaration (the timing loop is bench/rules_example.c: crest-bench-rules). */
Test(rules, jit_matches_interpreter_example)
{
    crest_rules *rules = NULL, *interp = NULL;
    crest_diag diag;
    cr_assert_eq(crest_rules_load(EXAMPLE, NULL, &rules, &diag), CREST_OK);
    crest_rules_load_options o = {.no_jit = true};
    cr_assert_eq(crest_rules_load(EXAMPLE, &o, &interp, &diag), CREST_OK);
    static synth rows[1024];
    for (unsigned i = 0; i < 1024; i++)
        synth_fill(&rows[i], i);
    crest_rules_scratch *sj = NULL, *si = NULL;
    cr_assert_eq(crest_rules_scratch_create(rules, &sj), CREST_OK);
    cr_assert_eq(crest_rules_scratch_create(interp, &si), CREST_OK);
    unsigned long hits = 0;
    for (unsigned i = 0; i < 1024; i++) {
        crest_rules_result a, b;
        crest_rules_eval(rules, sj, &rows[i].d, &a);
        crest_rules_eval(interp, si, &rows[i].d, &b);
        cr_assert_eq(a.n_hits, b.n_hits, "row %u", i);
        cr_assert_eq(a.lane, b.lane, "row %u", i);
        cr_assert_eq(a.max_hits_exceeded, b.max_hits_exceeded, "row %u", i);
        cr_assert_float_eq(a.weight, b.weight, 1e-12, "row %u", i);
        hits += a.n_hits;
    }
    cr_assert_gt(hits, 0, "the example criteria hit nothing: the comparison tested nothing");
    crest_rules_scratch_free(sj);
    crest_rules_scratch_free(si);
    crest_rules_free(rules);
    crest_rules_free(interp);
}
