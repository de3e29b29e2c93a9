/*
 * test_study.c — many simulations side by side (crest_study.h): runs grouped
 * by strategy, rate and exploration; the mean over seeds and its 95% Student
 * t interval worked out by hand from the runs' own values; the settings on
 * every CSV row; periods that differ refused.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* ------------------------------------------------------------ the plan */

Test(study_plan, strategies_as_the_cli_takes_them)
{
    crest_study_strategy s[CREST_STUDY_MAX_STRATEGIES];
    size_t n;
    crest_diag d;
    cr_assert_eq(crest_study_parse_strategies("random,logit,xgb,hybrid:0.3,score:value,crest,model", s,
                                              CREST_STUDY_MAX_STRATEGIES, &n, &d),
                 CREST_OK, "%s", d.message);
    cr_assert_eq(n, 7);
    cr_assert_str_eq(s[0].label, "random");
    cr_assert_eq(s[0].kind, CREST_SIM_STRATEGY_RANDOM);
    cr_assert(s[0].sweeps_rate && !s[0].sweeps_explore);
    cr_assert_eq(s[1].kind, CREST_SIM_STRATEGY_REFIT);
    cr_assert_eq(s[1].model, 0);
    cr_assert_eq(s[2].model, 1);
    cr_assert_str_eq(s[3].label, "hybrid:0.3");
    NEAR(s[3].explore, 0.3);
    cr_assert(s[3].sweeps_rate && !s[3].sweeps_explore);
    cr_assert_eq(s[4].kind, CREST_SIM_STRATEGY_SCORE);
    cr_assert_str_eq(s[4].column, "value");
    cr_assert_eq(s[5].kind, CREST_SIM_STRATEGY_FIXED);
    cr_assert(!s[5].sweeps_rate && !s[5].sweeps_explore);
    cr_assert_eq(s[6].model, -1);
    cr_assert(isnan(s[6].explore) && s[6].sweeps_explore);
    cr_assert_eq(crest_study_parse_strategies(NULL, s, CREST_STUDY_MAX_STRATEGIES, &n, &d), CREST_OK);
    cr_assert(n == 1 && !strcmp(s[0].label, "model"));
    const char *bad[] = {"bogus", "hybrid:1.5", "hybrid", "score:", "random:1", ",", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(crest_study_parse_strategies(bad[i], s, CREST_STUDY_MAX_STRATEGIES, &n, &d),
                     CREST_ERR_SYNTAX, "'%s' was taken", bad[i]);
        cr_assert_str_eq(d.file, strncmp(bad[i], "hybrid:", 7) ? "--strategy" : "--strategy hybrid:SHARE");
    }
    cr_assert_eq(crest_study_parse_strategies("random,logit,random", s, 2, &n, &d), CREST_ERR_SYNTAX);
    cr_assert(strstr(d.message, "at most 2"), "%s", d.message);
}

Test(study_plan, seeds_and_ranges)
{
    uint64_t s[CREST_STUDY_MAX_SEEDS];
    size_t n;
    crest_diag d;
    cr_assert_eq(crest_study_parse_seeds("1,4,7-9", s, CREST_STUDY_MAX_SEEDS, &n, &d), CREST_OK);
    cr_assert_eq(n, 5);
    cr_assert(s[0] == 1 && s[1] == 4 && s[2] == 7 && s[3] == 8 && s[4] == 9);
    cr_assert_eq(crest_study_parse_seeds("1-1000", s, CREST_STUDY_MAX_SEEDS, &n, &d), CREST_OK);
    cr_assert(n == 1000 && s[999] == 1000);
    const char *bad[] = {"5-2", "1-1001", "x", "1,,2", "-3", "1-", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(crest_study_parse_seeds(bad[i], s, CREST_STUDY_MAX_SEEDS, &n, &d), CREST_ERR_SYNTAX,
                     "'%s' was taken", bad[i]);
        cr_assert_str_eq(d.file, "--seeds");
    }
}

/* The crest strategy's decide function of the test: inspect every other row;
 * counts its calls and checks the seeds come in the plan's order. */
typedef struct decide_log {
    uint64_t seeds[8];
    size_t calls;
} decide_log;

static crest_status every_other_row(void *ctx, uint64_t seed, uint8_t *inspect, size_t n_rows,
                                    crest_diag *diag)
{
    (void)diag;
    decide_log *log = ctx;
    log->seeds[log->calls++] = seed;
    for (size_t i = 0; i < n_rows; i++)
        cr_assert_eq(inspect[i], 0, "inspect is zeroed before the call");
    for (size_t i = 0; i < n_rows; i += 2)
        inspect[i] = 1;
    return CREST_OK;
}

Test(study_plan, every_strategy_rate_share_and_seed_with_its_settings)
{
    crest_policy *policy = NULL;
    crest_diag d;
    /* A policy file whose model file is never read (the refits make their own). */
    char dir[] = "/tmp/crest-study-plan.XXXXXX", path[64];
    cr_assert(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/p.conf", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs("[policy]\nname = t\nseed = 9\n[tiers]\norder = REGULAR\nbase = REGULAR\ndefault = REGULAR\n"
          "[tier REGULAR]\nrate = 0.25\n[model]\nkind = logistic\nfile = never-read.model\nfeatures = "
          "te:origin\n",
          f);
    fclose(f);
    cr_assert_eq(crest_policy_load_ex(path, CREST_POLICY_SKIP_MODEL_FILE, &policy, &d), CREST_OK, "%s",
                 d.message);
    remove(path);
    rmdir(dir);
    crest_study_strategy strat[4];
    size_t n_strat;
    cr_assert_eq(crest_study_parse_strategies("random,hybrid:0.5,crest,logit", strat, 4, &n_strat, &d),
                 CREST_OK);
    const double rates[2] = {0.25, 0.5}, explores[2] = {0, 1};
    const uint64_t seeds[2] = {3, 4};
    decide_log log = {{0}, 0};
    crest_study_plan plan = {policy,  CREST_REPLAY_PERIOD_WEEK,
                             NAN,     CREST_SIM_DECAY_LINEAR,
                             0,       strat,
                             n_strat, rates,
                             2,       explores,
                             2,       seeds,
                             2,       every_other_row,
                             &log};
    /* The rows of random_run, in a simulation the plan made. */
    crest_sim *sim = NULL;
    cr_assert_eq(crest_study_sim_create(&plan, 0, &sim, &d), CREST_OK, "%s", d.message);
    cr_assert_eq(crest_sim_header(sim, header, 3, &d), CREST_OK);
    int32_t monday;
    cr_assert(crest_date_parse("2021-01-04", 10, &monday));
    for (int k = 0; k < 60; k++) {
        char id[16];
        snprintf(id, sizeof id, "R%02d", k);
        const char *origin = k % 4 == 0 ? "BAD" : "OK";
        crest_str cols[3] = {{id, strlen(id)}, {"d", 1}, {origin, strlen(origin)}};
        crest_decl decl;
        memset(&decl, 0, sizeof decl);
        decl.field[CREST_FIELD_DECL_ID] = cols[0];
        decl.cols = cols;
        decl.n_cols = 3;
        decl.date_days = monday + k % 21;
        decl.declared_value = decl.net_mass_kg = decl.quantity = NAN;
        cr_assert_eq(crest_sim_add(sim, &decl, k % 4 == 0, 1.0, 0), CREST_OK);
    }
    crest_study *st = NULL;
    cr_assert_eq(crest_study_create(&st), CREST_OK);
    char note[256];
    cr_assert_eq(crest_study_run(st, sim, &plan, note, sizeof note, &d), CREST_OK, "%s", d.message);
    /* random: 2 rates x 2 seeds; hybrid: 2 rates x 2 seeds; crest: 2 seeds; logit: 2 x 2 x 2. */
    cr_assert_eq(crest_study_run_count(st), 4 + 4 + 2 + 8);
    cr_assert_eq(crest_study_group_count(st), 2 + 2 + 1 + 4);
    cr_assert(log.calls == 2 && log.seeds[0] == 3 && log.seeds[1] == 4);
    size_t n;
    const crest_study_setting *g = crest_study_group_setting(st, 0, &n);
    cr_assert(!strcmp(g->strategy, "random") && n == 2 && g->rate == 0.25 && isnan(g->explore));
    g = crest_study_group_setting(st, 2, &n);
    cr_assert(!strcmp(g->strategy, "hybrid:0.5") && g->rate == 0.25 && g->explore == 0.5);
    g = crest_study_group_setting(st, 4, &n);
    cr_assert(!strcmp(g->strategy, "crest") && isnan(g->rate) && isnan(g->explore) && n == 2);
    cr_assert_str_eq(g->policy_hash, crest_policy_hash_hex(policy));
    /* the crest runs inspected what decide said: every other row */
    const size_t total = crest_study_period_count(st);
    NEAR(crest_study_value(st, 4, 0, total, CREST_STUDY_INSPECTED), 30);
    g = crest_study_group_setting(st, 8, &n);
    cr_assert(!strcmp(g->strategy, "logit") && g->rate == 0.5 && g->explore == 1 && n == 2);
    /* a crest strategy without a decide function is refused */
    plan.decide = NULL;
    crest_study *st2 = NULL;
    cr_assert_eq(crest_study_create(&st2), CREST_OK);
    cr_assert_eq(crest_study_run(st2, sim, &plan, note, sizeof note, &d), CREST_ERR_INVALID);
    crest_study_free(st2);
    crest_study_free(st);
    crest_sim_free(sim);
    crest_policy_free(policy);
}
