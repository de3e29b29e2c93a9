/*
 * test_study.c — many simulations side by side (crest_study.h): runs grouped
 * by strategy, rate and exploration; the mean over seeds and its 95% Student
 * t interval worked out by hand from the runs' own values; the settings on
 * every CSV row; periods that differ refused.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest.h"
#include "crest/crest_date.h"
#include "crest/crest_study.h"

#define NEAR(a, b)                                                                                           \
    cr_assert(fabs((a) - (b)) < 1e-9, "%s = %.17g, expected %.17g", #a, (double)(a), (double)(b))

static const crest_str header[3] = {{"decl_id", 7}, {"decl_date", 9}, {"origin", 6}};

/* 3 weeks of 20 rows from Monday 2021-01-04 (5 illicit BAD rows a week), drawn at random
 * (strategy RANDOM) with seed and rate 0.25; weeks = 2 drops the last week. */
static crest_sim *random_run(uint64_t seed, int weeks)
{
    crest_sim_options o;
    crest_sim_options_default(&o);
    o.rate = 0.25;
    o.seed = seed;
    o.feature_spec = "te:origin";
    crest_sim *s = NULL;
    crest_diag d;
    cr_assert_eq(crest_sim_create(&o, &s, &d), CREST_OK);
    cr_assert_eq(crest_sim_header(s, header, 3, &d), CREST_OK);
    int32_t monday;
    cr_assert(crest_date_parse("2021-01-04", 10, &monday));
    for (int w = 0; w < weeks; w++)
        for (int k = 0; k < 20; k++) {
            char id[16];
            snprintf(id, sizeof id, "R%d-%02d", w, k);
            const char *origin = k < 5 ? "BAD" : "OK";
            crest_str cols[3] = {{id, strlen(id)}, {"d", 1}, {origin, strlen(origin)}};
            crest_decl decl;
            memset(&decl, 0, sizeof decl);
            decl.field[CREST_FIELD_DECL_ID] = cols[0];
            decl.cols = cols;
            decl.n_cols = 3;
            decl.date_days = monday + 7 * w + k % 7;
            decl.declared_value = decl.net_mass_kg = decl.quantity = NAN;
            cr_assert_eq(crest_sim_add(s, &decl, k < 5, k < 5 ? 10.0 : 0, 0), CREST_OK);
        }
    cr_assert_eq(crest_sim_set_strategy(s, CREST_SIM_STRATEGY_RANDOM, NULL, NULL, 0, &d), CREST_OK);
    cr_assert_eq(crest_sim_run(s, &d), CREST_OK, "%s", d.message);
    return s;
}

Test(study, mean_and_t_interval_over_seeds)
{
    crest_study *st = NULL;
    cr_assert_eq(crest_study_create(&st), CREST_OK);
    double prec[3];
    for (uint64_t seed = 1; seed <= 3; seed++) {
        crest_sim *s = random_run(seed, 3);
        prec[seed - 1] = crest_sim_total(s)->precision;
        const crest_study_setting set = {"random", seed, 0.25, NAN, "0123456789abcdef"};
        cr_assert_eq(crest_study_add(st, &set, s), CREST_OK);
        crest_sim_free(s);
    }
    /* Another group: the same runs under another label. */
    crest_sim *s = random_run(1, 3);
    const crest_study_setting other = {"random-b", 1, 0.25, NAN, "0123456789abcdef"};
    cr_assert_eq(crest_study_add(st, &other, s), CREST_OK);
    crest_sim_free(s);
    cr_assert_eq(crest_study_run_count(st), 4);
    cr_assert_eq(crest_study_group_count(st), 2);
    cr_assert_eq(crest_study_period_count(st), 3);
    size_t n;
    const crest_study_setting *g0 = crest_study_group_setting(st, 0, &n);
    cr_assert_str_eq(g0->strategy, "random");
    cr_assert_eq(n, 3);
    /* By hand: mean, sd with n − 1, t(0.975, 2) = 4.302652729749464. */
    const double mean = (prec[0] + prec[1] + prec[2]) / 3;
    double ss = 0;
    for (int i = 0; i < 3; i++)
        ss += (prec[i] - mean) * (prec[i] - mean);
    const double half = 4.302652729749464 * sqrt(ss / 2 / 3);
    const crest_study_stat v = crest_study_stat_at(st, 0, 3, CREST_STUDY_PRECISION);
    cr_assert_eq(v.n, 3);
    NEAR(v.mean, mean);
    NEAR(v.lo, fmax(0, mean - half));
    NEAR(v.hi, fmin(1, mean + half));
    cr_assert(ss > 0, "the seeds must draw differently for the interval to mean anything");
    NEAR(crest_study_value(st, 0, 2, 3, CREST_STUDY_PRECISION), prec[2]);
    /* One run: a mean, no interval. */
    const crest_study_stat one = crest_study_stat_at(st, 1, 3, CREST_STUDY_PRECISION);
    cr_assert_eq(one.n, 1);
    NEAR(one.mean, prec[0]);
    cr_assert(isnan(one.lo) && isnan(one.hi));
    /* Budgets are the same in every seed: a zero-width interval. */
    const crest_study_stat b = crest_study_stat_at(st, 0, 0, CREST_STUDY_BUDGET);
    NEAR(b.mean, 5);
    NEAR(b.lo, 5);
    NEAR(b.hi, 5);

    /* Every CSV row carries its settings; one row per run and period plus its total. */
    char *csv = crest_study_csv(st);
    size_t lines = 0;
    for (const char *p = csv; *p; p++)
        lines += *p == '\n';
    cr_assert_eq(lines, 1 + 4 * (3 + 1));
    cr_assert(strncmp(csv, "strategy,seed,target_rate,explore,policy_hash,period,selector,", 62) == 0);
    cr_assert(strstr(csv, "\nrandom,2,0.25,,0123456789abcdef,2021-01-11,random,") != NULL);
    cr_assert(strstr(csv, "\nrandom-b,1,0.25,,0123456789abcdef,total,") != NULL);
    char *sum = crest_study_summary_csv(st);
    cr_assert(strstr(sum, "\nrandom,0.25,,0123456789abcdef,3,total,") != NULL);
    char *json = crest_study_json(st, "in.csv", 0);
    cr_assert(strstr(json, "\"seeds\":[1,2,3]") != NULL);
    free(csv), free(sum), free(json);

    /* A run over other periods cannot join. */
    s = random_run(4, 2);
    cr_assert_eq(crest_study_add(st, g0, s), CREST_ERR_MISMATCH);
    crest_sim_free(s);
    crest_study_free(st);
    crest_study_free(NULL);
}
