/*
 * test_simulate.c — the online simulation (crest_simulate.h) on small
 * constructed histories whose per-period numbers can be worked out by hand:
 * the cold-start draw (the budget's rows with the smallest keyed uniforms),
 * a perfect signal (the selector equals the oracle), labels of uninspected
 * rows never reaching the model (and a label of an inspected row that does),
 * the moving average, the rate schedule, undated rows, determinism and the
 * error paths.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest.h"
#include "crest/crest_date.h"
#include "crest/crest_keyhash.h"
#include "crest/crest_simulate.h"

#define NEAR(a, b)                                                                                           \
    cr_assert(fabs((a) - (b)) < 1e-12, "%s = %.17g, expected %.17g", #a, (double)(a), (double)(b))

static const crest_str header[3] = {{"decl_id", 7}, {"decl_date", 9}, {"origin", 6}};

/* One constructed row: decl_id, week (0-based from Monday 2021-01-04; -1: undated), origin, label, revenue.
 */
typedef struct row {
    char id[32];
    int week;
    char origin[8];
    int y;
    double revenue;
} row;

static int32_t monday(void)
{
    int32_t d;
    cr_assert(crest_date_parse("2021-01-04", 10, &d));
    return d;
}

static crest_status add_row(crest_sim *s, const row *r, int train)
{
    char date[16];
    snprintf(date, sizeof date, "w%d", r->week);
    crest_str cols[3] = {{r->id, strlen(r->id)}, {date, strlen(date)}, {r->origin, strlen(r->origin)}};
    crest_decl d;
    memset(&d, 0, sizeof d);
    d.field[CREST_FIELD_DECL_ID] = cols[0];
    d.field[CREST_FIELD_DECL_DATE] = cols[1];
    d.field[CREST_FIELD_ORIGIN] = cols[2];
    d.cols = cols;
    d.n_cols = 3;
    /* Rows of a week spread over its days: the period key must group them. */
    d.date_days = r->week < 0 ? CREST_DATE_NONE : monday() + 7 * r->week + (int32_t)(strlen(r->id) % 7);
    d.declared_value = d.net_mass_kg = d.quantity = NAN;
    return crest_sim_add(s, &d, r->y, r->revenue, train);
}

static crest_sim_options options(double rate, double explore, uint64_t seed)
{
    crest_sim_options o;
    crest_sim_options_default(&o);
    o.period = CREST_REPLAY_PERIOD_WEEK;
    o.rate = rate;
    o.explore = explore;
    o.seed = seed;
    o.feature_spec = "te:origin";
    return o;
}

/* Run a simulation over rows (train: the first n_train are training rows). */
static crest_sim *simulate(const crest_sim_options *o, const row *rows, size_t n, size_t n_train)
{
    crest_sim *s = NULL;
    crest_diag d;
    cr_assert_eq(crest_sim_create(o, &s, &d), CREST_OK, "%s", d.message);
    cr_assert_eq(crest_sim_header(s, header, 3, &d), CREST_OK, "%s", d.message);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(add_row(s, &rows[i], i < n_train), CREST_OK);
    cr_assert_eq(crest_sim_run(s, &d), CREST_OK, "%s", d.message);
    return s;
}

/* Weeks of 20 rows: 5 "BAD" rows illicit with revenue 10, 20, 30, 40, 50, 15 "OK" rows licit. */
static size_t make_weeks(row *rows, size_t at, int weeks, const char *tag)
{
    for (int w = 0; w < weeks; w++)
        for (int k = 0; k < 20; k++) {
            row *r = &rows[at++];
            snprintf(r->id, sizeof r->id, "%s%02d-%02d", tag, w, k);
            r->week = w;
            const int bad = k < 5;
            snprintf(r->origin, sizeof r->origin, "%s", bad ? "BAD" : "OK");
            r->y = bad;
            r->revenue = bad ? 10.0 * (k + 1) : 0;
        }
    return at;
}

/* Fully labelled training rows: 10 BAD illicit, 30 OK licit. */
static size_t make_train(row *rows)
{
    for (int k = 0; k < 40; k++) {
        snprintf(rows[k].id, sizeof rows[k].id, "T-%02d", k);
        rows[k].week = -1; /* training rows need no date */
        snprintf(rows[k].origin, sizeof rows[k].origin, "%s", k < 10 ? "BAD" : "OK");
        rows[k].y = k < 10;
        rows[k].revenue = 0;
    }
    return 40;
}

Test(simulate, cold_start_draws_the_smallest_keyed_uniforms)
{
    row rows[40];
    const size_t n = make_weeks(rows, 0, 2, "C");
    const uint64_t seed = 7;
    crest_sim_options o = options(0.25, 0.1, seed);
    crest_sim *s = simulate(&o, rows, n, 0);
    cr_assert_eq(crest_sim_period_count(s), 2);
    const crest_sim_metrics *m = crest_sim_period_at(s, 0);
    cr_assert_str_eq(m->label, "2021-01-04");
    cr_assert_eq(m->selector, CREST_SIM_SEL_RANDOM);
    cr_assert_eq(m->rows, 20);
    cr_assert_eq(m->budget, 5); /* ceil(0.25 × 20) */
    cr_assert_eq(m->inspected, 5);
    cr_assert_eq(m->random, 5);
    cr_assert_eq(m->by_score, 0);
    cr_assert_eq(m->train_rows, 0);
    /* By hand: the 5 rows of week 0 with the smallest SipHash(seed, CREST_SIM_K1, decl_id). */
    double u[20];
    for (int k = 0; k < 20; k++)
        u[k] = crest_keyhash_to_unit(
            crest_keyhash_siphash24(seed, CREST_SIM_K1, rows[k].id, strlen(rows[k].id)));
    uint64_t hits = 0;
    double caught = 0;
    for (int k = 0; k < 20; k++) {
        int smaller = 0;
        for (int j = 0; j < 20; j++)
            smaller += u[j] < u[k];
        crest_sim_outcome out;
        cr_assert_eq(crest_sim_row_outcome(s, (size_t)k, &out, NULL), CREST_OK);
        cr_assert_eq(out, smaller < 5 ? CREST_SIM_RANDOM : CREST_SIM_RELEASED, "row %s", rows[k].id);
        if (smaller < 5)
            hits += (uint64_t)rows[k].y, caught += rows[k].revenue;
    }
    cr_assert_eq(m->hits, hits);
    NEAR(m->precision, (double)hits / 5);
    NEAR(m->recall, (double)hits / 5);
    NEAR(m->revenue_total, 150);
    NEAR(m->revenue_caught, caught);
    NEAR(m->oracle_hits, 5); /* min(budget 5, illicit 5) */
    NEAR(m->oracle_revenue, 150);
    NEAR(m->norm_precision, (double)hits / 5);
    NEAR(m->norm_revenue, caught / 150);
    /* Week 1: a model fitted on exactly the 5 revealed rows (if both classes were seen). */
    const crest_sim_metrics *m1 = crest_sim_period_at(s, 1);
    if (hits > 0 && hits < 5) {
        cr_assert_eq(m1->selector, CREST_SIM_SEL_MODEL);
        cr_assert_eq(m1->train_rows, 5);
        cr_assert_eq(m1->train_positive, hits);
        cr_assert_eq(m1->random, 1); /* round(0.1 × 5) = 1 */
        cr_assert_eq(m1->by_score, 4);
    } else {
        cr_assert_eq(m1->selector, CREST_SIM_SEL_RANDOM);
        cr_assert_str_neq(crest_sim_note(s), "");
    }
    crest_sim_free(s);
}

Test(simulate, perfect_signal_equals_the_oracle)
{
    row rows[40 + 60];
    size_t n = make_train(rows);
    n = make_weeks(rows, n, 3, "P");
    crest_sim_options o = options(0.2, 0.0, 11);
    crest_sim *s = simulate(&o, rows, n, 40);
    cr_assert_eq(crest_sim_train_count(s), 40);
    cr_assert_eq(crest_sim_period_count(s), 3);
    for (size_t p = 0; p < 3; p++) {
        const crest_sim_metrics *m = crest_sim_period_at(s, p);
        cr_assert_eq(m->selector, CREST_SIM_SEL_MODEL);
        cr_assert_eq(m->budget, 4);
        cr_assert_eq(m->by_score, 4);
        cr_assert_eq(m->random, 0);
        cr_assert_eq(m->hits, 4, "period %zu: %llu hits", p, (unsigned long long)m->hits);
        NEAR(m->precision, 1);
        NEAR(m->recall, 0.8);
        NEAR(m->oracle_hits, 4);
        NEAR(m->norm_precision, 1);
        NEAR(m->oracle_revenue, 140); /* 50 + 40 + 30 + 20 */
        /* The model cannot tell the BAD rows apart: the one left out is a keyed draw. */
        double left = 0;
        for (size_t i = 40 + 20 * p; i < 40 + 20 * p + 5; i++) {
            crest_sim_outcome out;
            crest_sim_row_outcome(s, i, &out, NULL);
            if (out == CREST_SIM_RELEASED)
                left += rows[i].revenue;
        }
        NEAR(m->revenue_caught, 150 - left);
        NEAR(m->norm_revenue, (150 - left) / 140);
        /* Revealed before period p: 40 training rows + 4 per earlier period, 10 + 4 illicit. */
        cr_assert_eq(m->train_rows, 40 + 4 * p);
        cr_assert_eq(m->train_positive, 10 + 4 * p);
    }
    const crest_sim_metrics *t = crest_sim_total(s);
    cr_assert_eq(t->inspected, 12);
    cr_assert_eq(t->hits, 12);
    NEAR(t->norm_precision, 1);
    NEAR(t->recall, 0.8);
    NEAR(t->ma.precision, 1);
    cr_assert_eq(t->train_rows, 52);
    crest_sim_free(s);
}

Test(simulate, exploration_share_of_the_budget)
{
    row rows[40 + 40];
    size_t n = make_train(rows);
    n = make_weeks(rows, n, 2, "E");
    crest_sim_options o = options(0.5, 0.3, 5); /* budget 10: round(3) random, 7 by score */
    crest_sim *s = simulate(&o, rows, n, 40);
    for (size_t p = 0; p < 2; p++) {
        const crest_sim_metrics *m = crest_sim_period_at(s, p);
        cr_assert_eq(m->budget, 10);
        cr_assert_eq(m->by_score, 7);
        cr_assert_eq(m->random, 3);
        /* The 7 by score are the 5 BAD rows and 2 OK rows; the random 3 come from the other 13 OK rows. */
        uint64_t bad_by_score = 0;
        for (size_t i = 40 + 20 * p; i < 40 + 20 * p + 20; i++) {
            crest_sim_outcome out;
            crest_sim_row_outcome(s, i, &out, NULL);
            bad_by_score += out == CREST_SIM_BY_SCORE && rows[i].y;
            if (rows[i].y)
                cr_assert_eq(out, CREST_SIM_BY_SCORE);
        }
        cr_assert_eq(bad_by_score, 5);
        cr_assert_eq(m->hits, 5);
        NEAR(m->norm_precision, 1); /* the oracle also finds only 5 illicit rows in a budget of 10 */
        NEAR(m->precision, 0.5);
        NEAR(m->norm_revenue, 1);
    }
    crest_sim_free(s);
}

/* History for the leakage tests: 4 weeks of 20 rows over 4 origins, labels mixed. */
static size_t make_mixed(row *rows)
{
    static const char *const origins[] = {"AA", "BB", "CC", "DD"};
    size_t n = 0;
    for (int w = 0; w < 4; w++)
        for (int k = 0; k < 20; k++) {
            row *r = &rows[n++];
            snprintf(r->id, sizeof r->id, "M%d-%02d", w, k);
            r->week = w;
            snprintf(r->origin, sizeof r->origin, "%s", origins[k % 4]);
            r->y = (k % 4 == 0) || (k % 7 == 0);
            r->revenue = r->y ? 1.0 + k : 0;
        }
    return n;
}

Test(simulate, uninspected_labels_never_reach_the_model)
{
    row rows[80];
    const size_t n = make_mixed(rows);
    crest_sim_options o = options(0.3, 0.2, 3);
    crest_sim *a = simulate(&o, rows, n, 0);
    /* Flip the label (and revenue) of every row that was never inspected. */
    row flipped[80];
    memcpy(flipped, rows, sizeof rows);
    size_t n_flipped = 0;
    for (size_t i = 0; i < n; i++) {
        crest_sim_outcome out;
        crest_sim_row_outcome(a, i, &out, NULL);
        if (out == CREST_SIM_RELEASED) {
            flipped[i].y = !flipped[i].y;
            flipped[i].revenue = flipped[i].y ? 100 : 0;
            n_flipped++;
        }
    }
    cr_assert_gt(n_flipped, 40);
    crest_sim *b = simulate(&o, flipped, n, 0);
    size_t scored = 0;
    for (size_t i = 0; i < n; i++) {
        crest_sim_outcome oa, ob;
        double sa, sb;
        crest_sim_row_outcome(a, i, &oa, &sa);
        crest_sim_row_outcome(b, i, &ob, &sb);
        cr_assert_eq(oa, ob, "row %zu", i);
        cr_assert(memcmp(&sa, &sb, sizeof sa) == 0, "row %zu: score %.17g vs %.17g", i, sa, sb);
        scored += !isnan(sa);
    }
    cr_assert_eq(scored, 60, "weeks 1-3 are scored by a model"); /* so the check above is not vacuous */
    for (size_t p = 0; p < 4; p++) {
        const crest_sim_metrics *ma = crest_sim_period_at(a, p), *mb = crest_sim_period_at(b, p);
        cr_assert_eq(ma->hits, mb->hits);
        NEAR(ma->precision, mb->precision);
        cr_assert_eq(ma->train_positive, mb->train_positive);
    }

    /* The construction is sensitive: flipping one label of a row inspected in
     * week 0 changes the scores of the later weeks. */
    row one[80];
    memcpy(one, rows, sizeof rows);
    size_t inspected0 = SIZE_MAX;
    for (size_t i = 0; i < 20 && inspected0 == SIZE_MAX; i++) {
        crest_sim_outcome out;
        crest_sim_row_outcome(a, i, &out, NULL);
        if (out != CREST_SIM_RELEASED)
            inspected0 = i;
    }
    cr_assert_neq(inspected0, SIZE_MAX);
    one[inspected0].y = !one[inspected0].y;
    crest_sim *c = simulate(&o, one, n, 0);
    size_t differ = 0;
    for (size_t i = 20; i < n; i++) {
        double sa, sc;
        crest_sim_row_outcome(a, i, NULL, &sa);
        crest_sim_row_outcome(c, i, NULL, &sc);
        differ += sa != sc;
    }
    cr_assert_gt(differ, 0, "a revealed label must move the model");
    crest_sim_free(a);
    crest_sim_free(b);
    crest_sim_free(c);
}

/* The same construction with a tree model refitted each period (libxgboost):
 * labels never revealed change nothing, one revealed label changes scores. */
Test(simulate, tree_refits_see_only_revealed_labels)
{
    row rows[80];
    const size_t n = make_mixed(rows);
    crest_sim_options o = options(0.3, 0.2, 3);
    o.tree_params = "max_depth=3, eta=0.3, rounds=20, valid_fraction=0, min_child_weight=0";
    crest_sim *a = simulate(&o, rows, n, 0);
    row flipped[80];
    memcpy(flipped, rows, sizeof rows);
    size_t n_flipped = 0;
    for (size_t i = 0; i < n; i++) {
        crest_sim_outcome out;
        crest_sim_row_outcome(a, i, &out, NULL);
        if (out == CREST_SIM_RELEASED) {
            flipped[i].y = !flipped[i].y;
            flipped[i].revenue = flipped[i].y ? 100 : 0;
            n_flipped++;
        }
    }
    cr_assert_gt(n_flipped, 40);
    crest_sim *b = simulate(&o, flipped, n, 0);
    size_t scored = 0;
    for (size_t i = 0; i < n; i++) {
        crest_sim_outcome oa, ob;
        double sa, sb;
        crest_sim_row_outcome(a, i, &oa, &sa);
        crest_sim_row_outcome(b, i, &ob, &sb);
        cr_assert_eq(oa, ob, "row %zu", i);
        cr_assert(memcmp(&sa, &sb, sizeof sa) == 0, "row %zu: score %.17g vs %.17g", i, sa, sb);
        scored += !isnan(sa);
    }
    cr_assert_eq(scored, 60, "weeks 1-3 are scored by a tree model");
    row one[80];
    memcpy(one, rows, sizeof rows);
    size_t inspected0 = SIZE_MAX;
    for (size_t i = 0; i < 20 && inspected0 == SIZE_MAX; i++) {
        crest_sim_outcome out;
        crest_sim_row_outcome(a, i, &out, NULL);
        if (out != CREST_SIM_RELEASED)
            inspected0 = i;
    }
    cr_assert_neq(inspected0, SIZE_MAX);
    one[inspected0].y = !one[inspected0].y;
    crest_sim *c = simulate(&o, one, n, 0);
    size_t differ = 0;
    for (size_t i = 20; i < n; i++) {
        double sa, sc;
        crest_sim_row_outcome(a, i, NULL, &sa);
        crest_sim_row_outcome(c, i, NULL, &sc);
        differ += sa != sc;
    }
    cr_assert_gt(differ, 0, "a revealed label must move the tree model");
    crest_sim_free(a);
    crest_sim_free(b);
    crest_sim_free(c);
}

Test(simulate, moving_average)
{
    double x[20], y[20];
    for (int i = 0; i < 20; i++)
        x[i] = i + 1;
    crest_sim_moving_average(x, 20, 13, y);
    NEAR(y[0], 1);
    NEAR(y[1], 1.5);
    NEAR(y[12], 7);  /* mean of 1..13 */
    NEAR(y[13], 8);  /* mean of 2..14 */
    NEAR(y[19], 14); /* mean of 8..20 */
    x[13] = NAN;     /* undefined values are skipped */
    crest_sim_moving_average(x, 20, 13, y);
    NEAR(y[13], (2.0 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 + 11 + 12 + 13) / 12);
    double z[3] = {NAN, NAN, 4};
    crest_sim_moving_average(z, 3, 13, y);
    cr_assert(isnan(y[0]) && isnan(y[1]));
    NEAR(y[2], 4);

    /* In the simulation: 15 weekly periods, each period's average over the last 13. */
    row rows[40 + 300];
    size_t n = make_train(rows);
    n = make_weeks(rows, n, 15, "A");
    crest_sim_options o = options(0.2, 0.5, 9);
    crest_sim *s = simulate(&o, rows, n, 40);
    cr_assert_eq(crest_sim_period_count(s), 15);
    for (size_t p = 0; p < 15; p++) {
        double sum = 0, rsum = 0;
        const size_t from = p >= 12 ? p - 12 : 0;
        for (size_t q = from; q <= p; q++)
            sum += crest_sim_period_at(s, q)->precision, rsum += crest_sim_period_at(s, q)->norm_revenue;
        NEAR(crest_sim_period_at(s, p)->ma.precision, sum / (double)(p - from + 1));
        NEAR(crest_sim_period_at(s, p)->ma.norm_revenue, rsum / (double)(p - from + 1));
    }
    NEAR(crest_sim_total(s)->ma.precision, crest_sim_period_at(s, 14)->ma.precision);
    crest_sim_free(s);
}

Test(simulate, rate_schedule)
{
    crest_sim_options o = options(0.1, 0, 1);
    NEAR(crest_sim_rate_at(&o, 0, 10), 0.1); /* constant: final_rate NaN */
    NEAR(crest_sim_rate_at(&o, 9, 10), 0.1);
    o.final_rate = 0.02;
    o.decay_periods = 4;
    NEAR(crest_sim_rate_at(&o, 0, 10), 0.1);
    NEAR(crest_sim_rate_at(&o, 2, 10), 0.06);
    NEAR(crest_sim_rate_at(&o, 4, 10), 0.02);
    NEAR(crest_sim_rate_at(&o, 9, 10), 0.02); /* stays at the final rate */
    o.decay = CREST_SIM_DECAY_EXP;
    NEAR(crest_sim_rate_at(&o, 2, 10), 0.1 * sqrt(0.2));
    NEAR(crest_sim_rate_at(&o, 4, 10), 0.02);
    o.decay_periods = 0; /* to the last period: K = 5 − 1 */
    o.decay = CREST_SIM_DECAY_LINEAR;
    NEAR(crest_sim_rate_at(&o, 2, 5), 0.06);
    NEAR(crest_sim_rate_at(&o, 4, 5), 0.02);

    /* In the simulation: budgets ceil(rate × 20) for rates 0.5, 0.35, 0.2, 0.2. */
    row rows[40 + 80];
    size_t n = make_train(rows);
    n = make_weeks(rows, n, 4, "R");
    crest_sim_options so = options(0.5, 0.1, 2);
    so.final_rate = 0.2;
    so.decay_periods = 2;
    crest_sim *s = simulate(&so, rows, n, 40);
    const uint64_t budget[4] = {10, 7, 4, 4};
    for (size_t p = 0; p < 4; p++) {
        cr_assert_eq(crest_sim_period_at(s, p)->budget, budget[p], "period %zu", p);
        cr_assert_eq(crest_sim_period_at(s, p)->inspected, budget[p]);
    }
    NEAR(crest_sim_period_at(s, 1)->rate, 0.35);
    crest_sim_free(s);
}

Test(simulate, undated_rows_and_zero_budget)
{
    row rows[40 + 21];
    size_t n = make_train(rows);
    n = make_weeks(rows, n, 1, "U");
    snprintf(rows[n].id, sizeof rows[n].id, "U-undated");
    rows[n].week = -1;
    snprintf(rows[n].origin, sizeof rows[n].origin, "BAD");
    rows[n].y = 1;
    rows[n].revenue = 1000;
    n++;
    crest_sim_options o = options(0.0, 0.1, 4);
    crest_sim *s = simulate(&o, rows, n, 40);
    cr_assert_eq(crest_sim_undated_count(s), 1);
    crest_sim_outcome out;
    crest_sim_row_outcome(s, n - 1, &out, NULL);
    cr_assert_eq(out, CREST_SIM_UNDATED);
    const crest_sim_metrics *m = crest_sim_period_at(s, 0);
    cr_assert_eq(m->rows, 20);
    cr_assert_eq(m->budget, 0);
    cr_assert_eq(m->inspected, 0);
    cr_assert(isnan(m->precision));
    NEAR(m->recall, 0);
    cr_assert(isnan(m->norm_precision)); /* 0 / 0 */
    cr_assert_eq(crest_sim_total(s)->rows, 20);
    cr_assert_eq(crest_sim_row_outcome(s, n, &out, NULL), CREST_ERR_RANGE);
    crest_sim_free(s);
}

Test(simulate, deterministic_reports)
{
    row rows[80];
    const size_t n = make_mixed(rows);
    crest_sim_options o = options(0.3, 0.2, 42);
    crest_sim *a = simulate(&o, rows, n, 0), *b = simulate(&o, rows, n, 0);
    char *ca = crest_sim_csv(a), *cb = crest_sim_csv(b);
    char *ja = crest_sim_json(a, "p", "in.csv", 0), *jb = crest_sim_json(b, "p", "in.csv", 0);
    cr_assert_str_eq(ca, cb);
    cr_assert_str_eq(ja, jb);
    cr_assert(strstr(ja, "\"format\":\"crest-simulate 1\"") != NULL);
    cr_assert(strncmp(ca, "period,selector,rate,rows,", 26) == 0);
    /* Another seed draws other rows (the reports differ), so the equality above is not vacuous. */
    o.seed = 43;
    crest_sim *c = simulate(&o, rows, n, 0);
    char *cc = crest_sim_csv(c);
    cr_assert_str_neq(ca, cc);
    free(ca), free(cb), free(cc), free(ja), free(jb);
    crest_sim_free(a);
    crest_sim_free(b);
    crest_sim_free(c);
}

Test(simulate, errors)
{
    crest_sim *s = NULL;
    crest_diag d;
    crest_sim_options o = options(1.5, 0.1, 1);
    cr_assert_eq(crest_sim_create(&o, &s, &d), CREST_ERR_RANGE);
    cr_assert_null(s);
    o = options(0.1, -0.1, 1);
    cr_assert_eq(crest_sim_create(&o, &s, &d), CREST_ERR_RANGE);
    o = options(0.1, 0.1, 1);
    o.period = CREST_REPLAY_PERIOD_NONE;
    cr_assert_eq(crest_sim_create(&o, &s, &d), CREST_ERR_RANGE);
    o = options(0.1, 0.1, 1);
    o.final_rate = 0;
    o.decay = CREST_SIM_DECAY_EXP;
    cr_assert_eq(crest_sim_create(&o, &s, &d), CREST_ERR_RANGE);
    o = options(0.1, 0.1, 1);
    o.feature_spec = NULL;
    cr_assert_eq(crest_sim_create(&o, &s, &d), CREST_ERR_MISSING);
    o.feature_spec = "bogus:origin";
    cr_assert_neq(crest_sim_create(&o, &s, &d), CREST_OK);
    cr_assert_null(s);

    o = options(0.1, 0.1, 1);
    cr_assert_eq(crest_sim_create(&o, &s, &d), CREST_OK);
    row r = {"X1", 0, "AA", 1, 5};
    cr_assert_eq(add_row(s, &r, 0), CREST_ERR_STATE); /* no header yet */
    cr_assert_eq(crest_sim_header(s, header, 3, &d), CREST_OK);
    const crest_str other[3] = {{"decl_id", 7}, {"date", 4}, {"origin", 6}};
    cr_assert_eq(crest_sim_header(s, other, 3, &d), CREST_ERR_MISMATCH);
    cr_assert_eq(d.column, 2);
    cr_assert_eq(crest_sim_header(s, header, 2, &d), CREST_ERR_MISMATCH);
    cr_assert_eq(crest_sim_header(s, header, 3, &d), CREST_OK); /* the same header again is fine */
    cr_assert_eq(add_row(s, &r, 0), CREST_OK);
    cr_assert_eq(crest_sim_run(s, &d), CREST_OK);
    cr_assert_eq(crest_sim_run(s, &d), CREST_ERR_STATE);
    cr_assert_eq(add_row(s, &r, 0), CREST_ERR_STATE);
    crest_sim_free(s);
    crest_sim_free(NULL);

    /* A col(NAME) the header lacks is found when the trainer is made. */
    o.feature_spec = "te:col(missing)";
    cr_assert_eq(crest_sim_create(&o, &s, &d), CREST_OK);
    cr_assert_eq(crest_sim_header(s, header, 3, &d), CREST_OK);
    cr_assert_eq(add_row(s, &r, 0), CREST_OK);
    cr_assert_eq(crest_sim_run(s, &d), CREST_ERR_MISMATCH);
    crest_sim_free(s);
}

/* ------------------------------------------------------------------------ */
/* Batches, the horizon's budget, strategies, reruns and the study           */

/* Rows of n_weeks (make_weeks) simulated with o after the given strategy. */
static crest_sim *simulate_with(const crest_sim_options *o, const row *rows, size_t n, unsigned batch_days,
                                crest_sim_strategy strategy, const uint8_t *inspect)
{
    crest_sim *s = NULL;
    crest_diag d;
    cr_assert_eq(crest_sim_create(o, &s, &d), CREST_OK, "%s", d.message);
    cr_assert_eq(crest_sim_set_batch_days(s, batch_days), CREST_OK);
    cr_assert_eq(crest_sim_header(s, header, 3, &d), CREST_OK, "%s", d.message);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(add_row(s, &rows[i], 0), CREST_OK);
    cr_assert_eq(crest_sim_set_strategy(s, strategy, NULL, inspect, n, &d), CREST_OK, "%s", d.message);
    cr_assert_eq(crest_sim_run(s, &d), CREST_OK, "%s", d.message);
    return s;
}

Test(simulate, batches_of_days_and_the_horizon_budget)
{
    /* 4 weeks of 20 rows, every row on the Sunday of its week (ids of 6 characters):
     * the history runs from Sunday 2021-01-10 to Sunday 2021-01-31. */
    row rows[80];
    const size_t n = make_weeks(rows, 0, 4, "B");
    crest_sim_options o = options(0.33, 0, 3);
    /* Weeks: C_p = 6.6, 13.2, 19.8, 26.4 -> budgets 7, 7, 6, 7 = ceil(0.33 × 80) = 27. */
    crest_sim *w = simulate_with(&o, rows, n, 0, CREST_SIM_STRATEGY_RANDOM, NULL);
    cr_assert_eq(crest_sim_period_count(w), 4);
    const uint64_t wb[4] = {7, 7, 6, 7};
    for (size_t p = 0; p < 4; p++)
        cr_assert_eq(crest_sim_period_at(w, p)->budget, wb[p], "week %zu", p);
    cr_assert_eq(crest_sim_total(w)->budget, 27);
    cr_assert_eq(crest_sim_total(w)->inspected, 27);
    /* The first week is covered from its Sunday only: 1 day of 7, partial. */
    cr_assert_eq(crest_sim_period_at(w, 0)->days, 1);
    cr_assert_eq(crest_sim_period_at(w, 0)->partial, 1);
    cr_assert_eq(crest_sim_period_at(w, 1)->days, 7);
    cr_assert_eq(crest_sim_period_at(w, 1)->partial, 0);
    cr_assert_eq(crest_sim_period_at(w, 3)->partial, 0);
    cr_assert_eq(crest_sim_total(w)->days, 22);
    cr_assert_eq(crest_sim_total(w)->partial, 1);
    /* 14-day batches from the first date: C_p = 13.2, 26.4 -> 14, 13: the same 27. */
    crest_sim *b = simulate_with(&o, rows, n, 14, CREST_SIM_STRATEGY_RANDOM, NULL);
    cr_assert_eq(crest_sim_period_count(b), 2);
    const crest_sim_metrics *b0 = crest_sim_period_at(b, 0), *b1 = crest_sim_period_at(b, 1);
    cr_assert_str_eq(b0->label, "2021-01-10");
    cr_assert_str_eq(b1->label, "2021-01-24");
    cr_assert_eq(b0->rows, 40);
    cr_assert_eq(b0->budget, 14);
    cr_assert_eq(b1->budget, 13);
    cr_assert_eq(b0->days, 14);
    cr_assert_eq(b0->partial, 0);
    cr_assert_eq(b1->days, 8); /* 2021-01-24 .. 2021-01-31 of 14 days */
    cr_assert_eq(b1->partial, 1);
    cr_assert_eq(crest_sim_total(b)->budget, 27);
    crest_sim_free(w);
    crest_sim_free(b);
}

Test(simulate, strategies_say_who_selected)
{
    row rows[80];
    const size_t n = make_weeks(rows, 0, 4, "S");
    /* Random: every period drawn, whatever explore says. */
    crest_sim_options o = options(0.25, 0.1, 5);
    crest_sim *r = simulate_with(&o, rows, n, 0, CREST_SIM_STRATEGY_RANDOM, NULL);
    for (size_t p = 0; p < 4; p++) {
        const crest_sim_metrics *m = crest_sim_period_at(r, p);
        cr_assert_eq(m->selector, CREST_SIM_SEL_RANDOM);
        cr_assert_eq(m->random, m->budget);
        cr_assert_eq(m->train_rows, 0);
    }
    /* A refit with explore 1 chooses nothing by score: "random", no model fitted. */
    o = options(0.25, 1, 5);
    crest_sim *e = simulate_with(&o, rows, n, 0, CREST_SIM_STRATEGY_REFIT, NULL);
    for (size_t p = 0; p < 4; p++) {
        const crest_sim_metrics *m = crest_sim_period_at(e, p);
        cr_assert_eq(m->selector, CREST_SIM_SEL_RANDOM, "period %zu", p);
        cr_assert_eq(m->by_score, 0);
        cr_assert_eq(m->train_rows, 0);
    }
    cr_assert_str_eq(crest_sim_selector_name(CREST_SIM_SEL_RANDOM), "random");
    /* ... and draws the same rows as the random strategy with that seed. */
    char *cr = crest_sim_csv(r), *ce = crest_sim_csv(e);
    cr_assert_str_eq(cr, ce);
    free(cr), free(ce);
    /* Fixed selections: every 4th row of a week (k = 0, 4, ..., 16): 5 inspections, 2 of them BAD. */
    uint8_t pick[80];
    for (size_t i = 0; i < n; i++)
        pick[i] = (i % 20) % 4 == 0;
    o = options(0.25, 0, 5);
    crest_sim *f = simulate_with(&o, rows, n, 0, CREST_SIM_STRATEGY_FIXED, pick);
    for (size_t p = 0; p < 4; p++) {
        const crest_sim_metrics *m = crest_sim_period_at(f, p);
        cr_assert_eq(m->selector, CREST_SIM_SEL_POLICY);
        cr_assert_eq(m->budget, 5);
        cr_assert_eq(m->inspected, 5);
        cr_assert_eq(m->hits, 2);
        NEAR(m->revenue_caught, 10 + 50); /* k = 0 and 4 */
    }
    for (size_t i = 0; i < n; i++) {
        crest_sim_outcome out;
        crest_sim_row_outcome(f, i, &out, NULL);
        cr_assert_eq(out == CREST_SIM_BY_SCORE, pick[i] != 0, "row %zu", i);
    }
    crest_sim_free(r);
    crest_sim_free(e);
    crest_sim_free(f);
}

Test(simulate, external_score_column)
{
    /* decl_id, decl_date, origin, score: the score is the revenue (0 for licit rows). */
    static const crest_str h4[4] = {{"decl_id", 7}, {"decl_date", 9}, {"origin", 6}, {"Score", 5}};
    row rows[40];
    const size_t n = make_weeks(rows, 0, 2, "X");
    crest_sim_options o = options(0.15, 0, 9); /* budgets ceil(3), 3: the three best of each week */
    crest_sim *s = NULL;
    crest_diag d;
    cr_assert_eq(crest_sim_create(&o, &s, &d), CREST_OK);
    cr_assert_eq(crest_sim_header(s, h4, 4, &d), CREST_OK);
    cr_assert_eq(crest_sim_set_strategy(s, CREST_SIM_STRATEGY_SCORE, "nosuch", NULL, 0, &d),
                 CREST_ERR_MISSING);
    cr_assert_eq(crest_sim_set_strategy(s, CREST_SIM_STRATEGY_SCORE, NULL, NULL, 0, &d), CREST_ERR_INVALID);
    cr_assert_eq(crest_sim_set_strategy(s, CREST_SIM_STRATEGY_SCORE, "score", NULL, 0, &d), CREST_OK);
    for (size_t i = 0; i < n; i++) {
        char date[16], score[32];
        snprintf(date, sizeof date, "w%d", rows[i].week);
        /* one licit row per week has an unreadable score: it ranks last */
        snprintf(score, sizeof score, i % 20 == 19 ? "n/a" : "%g", rows[i].revenue);
        crest_str cols[4] = {{rows[i].id, strlen(rows[i].id)},
                             {date, strlen(date)},
                             {rows[i].origin, strlen(rows[i].origin)},
                             {score, strlen(score)}};
        crest_decl decl;
        memset(&decl, 0, sizeof decl);
        decl.field[CREST_FIELD_DECL_ID] = cols[0];
        decl.cols = cols;
        decl.n_cols = 4;
        decl.date_days = monday() + 7 * rows[i].week;
        decl.declared_value = decl.net_mass_kg = decl.quantity = NAN;
        cr_assert_eq(crest_sim_add(s, &decl, rows[i].y, rows[i].revenue, 0), CREST_OK);
    }
    cr_assert_eq(crest_sim_run(s, &d), CREST_OK, "%s", d.message);
    for (size_t p = 0; p < 2; p++) {
        const crest_sim_metrics *m = crest_sim_period_at(s, p);
        cr_assert_eq(m->selector, CREST_SIM_SEL_SCORE);
        cr_assert_eq(m->budget, 3);
        cr_assert_eq(m->hits, 3);
        NEAR(m->revenue_caught, 50 + 40 + 30);
        NEAR(m->norm_revenue, 1);
    }
    double score;
    crest_sim_outcome out;
    crest_sim_row_outcome(s, 4, &out, &score);
    NEAR(score, 50);
    cr_assert_eq(out, CREST_SIM_BY_SCORE);
    crest_sim_row_outcome(s, 19, &out, &score);
    cr_assert(isnan(score));
    crest_sim_free(s);
}

Test(simulate, reset_reruns_the_same_rows)
{
    row rows[80];
    const size_t n = make_mixed(rows);
    crest_sim_options o = options(0.3, 0.2, 42);
    crest_sim *s = simulate(&o, rows, n, 0);
    char *a = crest_sim_csv(s);
    crest_diag d;
    o.seed = 43;
    cr_assert_eq(crest_sim_reset(s, &o, &d), CREST_OK);
    cr_assert_eq(crest_sim_run(s, &d), CREST_OK);
    char *b = crest_sim_csv(s);
    o.seed = 42;
    cr_assert_eq(crest_sim_reset(s, &o, &d), CREST_OK);
    cr_assert_eq(crest_sim_run(s, &d), CREST_OK);
    char *c = crest_sim_csv(s);
    cr_assert_str_neq(a, b);
    cr_assert_str_eq(a, c); /* the seed alone decides */
    /* The same run from a fresh simulation. */
    crest_sim *f = simulate(&o, rows, n, 0);
    char *e = crest_sim_csv(f);
    cr_assert_str_eq(a, e);
    o.feature_spec = "te:decl_id";
    cr_assert_eq(crest_sim_reset(s, &o, &d), CREST_ERR_INVALID);
    free(a), free(b), free(c), free(e);
    crest_sim_free(s);
    crest_sim_free(f);
}
