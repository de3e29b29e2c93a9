/*
 * test_replay.c — the replay metrics accumulator on small constructed inputs
 * with hand-computed expectations: Horvitz–Thompson (forced selections,
 * p = 0), precision/recall/revenue@n% with ties at the cut, lift over the
 * random stream, intervals, tier ratio, periods and the writers.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "crest/crest.h"
#include "crest/crest_replay.h"

static const char policy_text[] = "[policy]\nname = t\nseed = 1\n"
                                  "[tiers]\norder = AEO, REGULAR\nbase = REGULAR\ndefault = REGULAR\n"
                                  "[tier AEO]\nratio = 0.2\n[tier REGULAR]\nrate = 0.1\n";

static crest_policy *policy(void)
{
    crest_policy *p = NULL;
    crest_diag d;
    cr_assert_eq(crest_policy_parse(policy_text, strlen(policy_text), "<test>", &p, &d), CREST_OK, "%s",
                 d.message);
    return p;
}

static crest_decision dec(size_t tier, double score, double p, double p_random, double u, int inspect)
{
    crest_decision d;
    memset(&d, 0, sizeof d);
    d.tier = tier;
    d.score = score;
    d.p = p;
    d.p_random = p_random;
    d.u = u;
    d.inspect = inspect;
    return d;
}

static crest_replay *make(crest_policy *pol, crest_replay_period period)
{
    crest_replay_options o = {period, "illicit", NULL, NULL, NULL, 0};
    crest_replay *r = NULL;
    crest_diag d;
    cr_assert_eq(crest_replay_create(pol, &o, &r, &d), CREST_OK);
    return r;
}

#define NEAR(a, b)                                                                                           \
    cr_assert(fabs((a) - (b)) < 1e-12, "%s = %.17g, expected %.17g", #a, (double)(a), (double)(b))

Test(replay, horvitz_thompson_forced_and_zero_p)
{
    crest_policy *pol = policy();
    crest_replay *r = make(pol, CREST_REPLAY_PERIOD_NONE);
    crest_decision d;
    d = dec(1, NAN, 0.5, 0.05, 0.3, 1); /* illicit, pi 0.5 -> 2 */
    crest_replay_add(r, &d, CREST_DATE_NONE, 1, 0);
    d = dec(1, NAN, 0.25, 0.05, 0.2, 1); /* illicit, pi 0.25 -> 4 */
    crest_replay_add(r, &d, CREST_DATE_NONE, 1, 0);
    d = dec(1, NAN, 0.5, 0.05, 0.9, 0); /* illicit, not inspected */
    crest_replay_add(r, &d, CREST_DATE_NONE, 1, 0);
    d = dec(1, NAN, 0.1, 0.05, 0.01, 1); /* clean, inspected by the random stream */
    crest_replay_add(r, &d, CREST_DATE_NONE, 0, 0);
    d = dec(1, NAN, 0.0, 0.0, 0.7, 1); /* forced with p_forced 0.5, p = 0: pi = 0.5 -> 2 */
    d.p_forced = 0.5;
    d.forced = 1;
    crest_replay_add(r, &d, CREST_DATE_NONE, 1, 0);
    d = dec(1, NAN, 0.0, 0.0, 0.7, 0); /* p = 0, never inspectable */
    crest_replay_add(r, &d, CREST_DATE_NONE, 0, 0);
    for (int i = 0; i < 4; i++) {
        d = dec(1, NAN, 0.2, 0.05, 0.5, 0);
        crest_replay_add(r, &d, CREST_DATE_NONE, 0, 0);
    }
    cr_assert_eq(crest_replay_finish(r), CREST_OK);
    const crest_replay_metrics *m = crest_replay_total(r);
    cr_assert_eq(m->rows, 10);
    cr_assert_eq(m->illicit, 4);
    cr_assert_eq(m->inspected, 4);
    cr_assert_eq(m->hits, 3);
    cr_assert_eq(m->forced, 1);
    cr_assert_eq(m->random, 1);
    cr_assert_eq(m->risk, 2);
    cr_assert_eq(m->zero_p_rows, 1);
    NEAR(m->ht_sum, 8.0);
    /* Poisson-sampling variance: (1-.5)/.25 + (1-.25)/.0625 + (1-.5)/.25 = 2 + 12 + 2 */
    NEAR(m->ht_var, 16.0);
    NEAR(m->ht_rate.estimate, 0.8);
    NEAR(m->ht_rate.upper, 1.0); /* 0.8 + 1.96 * 0.4 clipped */
    NEAR(m->ht_rate.lower, 0.8 - 1.959963984540054 * 0.4);
    NEAR(m->true_rate.estimate, 0.4);
    NEAR(m->precision.estimate, 0.75);
    NEAR(m->recall.estimate, 0.75);
    const crest_interval ci = crest_stats_binomial_ci(3, 4, 0.95);
    NEAR(m->precision.lower, ci.lower);
    NEAR(m->precision.upper, ci.upper);
    /* Random stream: the one row with u < p_random, clean -> lift undefined. */
    cr_assert_eq(m->random_stream, 1);
    cr_assert_eq(m->random_stream_hits, 0);
    cr_assert(isnan(m->lift_random));
    NEAR(m->lift_rate, 0.75 / 0.4);
    crest_replay_free(r);
    crest_policy_free(pol);
}

Test(replay, ranking_with_ties_and_revenue)
{
    crest_policy *pol = policy();
    crest_replay *r = make(pol, CREST_REPLAY_PERIOD_NONE);
    crest_decision d;
    /* 20 rows: 0.9 (illicit, revenue 100), three at 0.5 (one illicit, revenue 30), 16 at 0.1. */
    d = dec(1, 0.9, 0.1, 0.01, 0.5, 0);
    crest_replay_add(r, &d, CREST_DATE_NONE, 1, 100);
    d = dec(1, 0.5, 0.1, 0.01, 0.5, 0);
    crest_replay_add(r, &d, CREST_DATE_NONE, 0, 0);
    crest_replay_add(r, &d, CREST_DATE_NONE, 1, 30);
    crest_replay_add(r, &d, CREST_DATE_NONE, 0, 0);
    d = dec(1, 0.1, 0.1, 0.01, 0.5, 0);
    for (int i = 0; i < 16; i++)
        crest_replay_add(r, &d, CREST_DATE_NONE, 0, 0);
    crest_replay_finish(r);
    const crest_replay_metrics *m = crest_replay_total(r);
    /* k = ceil(n% * 20): 1, 1, 1, 2 */
    cr_assert_eq(m->at_k[0], 1);
    cr_assert_eq(m->at_k[2], 1);
    cr_assert_eq(m->at_k[3], 2);
    NEAR(m->at_precision[0], 1.0);
    NEAR(m->at_recall[0], 0.5);
    NEAR(m->at_revenue[0], 100.0 / 130.0);
    /* Top 2: the 0.9 row and one third of the three tied 0.5 rows (1 hit, revenue 30). */
    NEAR(m->at_precision[3], (1.0 + 1.0 / 3.0) / 2.0);
    NEAR(m->at_recall[3], (1.0 + 1.0 / 3.0) / 2.0);
    NEAR(m->at_revenue[3], 110.0 / 130.0);
    /* Gain curve: 21 points, x = 0.05 -> k = 1 -> half the illicit. */
    double x[21], y[21], v[21];
    cr_assert_eq(crest_replay_gain(r, 21, x, y, v), CREST_OK);
    NEAR(x[1], 0.05);
    NEAR(y[1], 0.5);
    NEAR(y[20], 1.0);
    NEAR(y[0], 0.0);
    crest_replay_free(r);
    crest_policy_free(pol);
}

Test(replay, nan_scores_tie_at_base_rate)
{
    crest_policy *pol = policy();
    crest_replay *r = make(pol, CREST_REPLAY_PERIOD_NONE);
    crest_decision d = dec(1, NAN, 0.1, 0.1, 0.5, 0);
    for (int i = 0; i < 200; i++)
        crest_replay_add(r, &d, CREST_DATE_NONE, i % 4 == 0, 0);
    crest_replay_finish(r);
    const crest_replay_metrics *m = crest_replay_total(r);
    for (int a = 0; a < CREST_REPLAY_N_AT; a++)
        NEAR(m->at_precision[a], 0.25);
    cr_assert(isnan(m->at_revenue[0])); /* no revenue at all */
    crest_replay_free(r);
    crest_policy_free(pol);
}

Test(replay, lift_ratio_and_missed_aeo)
{
    crest_policy *pol = policy();
    crest_replay *r = make(pol, CREST_REPLAY_PERIOD_NONE);
    crest_decision d;
    /* REGULAR: 100 rows, 10 inspected: 4 by the random stream (1 hit), 6 by risk (3 hits). */
    for (int i = 0; i < 100; i++) {
        const int insp = i < 10, random = i < 4, bad = i == 0 || (i >= 4 && i < 7);
        d = dec(1, 0.5, 0.1, 0.04, random ? 0.01 : insp ? 0.06 : 0.9, insp);
        crest_replay_add(r, &d, CREST_DATE_NONE, bad, 0);
    }
    /* AEO: 50 rows, 1 inspected (clean), 2 illicit left. */
    for (int i = 0; i < 50; i++) {
        d = dec(0, 0.2, 0.02, 0.002, i == 0 ? 0.001 : 0.9, i == 0);
        crest_replay_add(r, &d, CREST_DATE_NONE, i == 1 || i == 2, 0);
    }
    crest_replay_finish(r);
    const crest_replay_metrics *m = crest_replay_total(r);
    cr_assert_eq(m->random_stream, 5);
    cr_assert_eq(m->random_stream_hits, 1);
    NEAR(m->precision.estimate, 4.0 / 11.0);
    NEAR(m->lift_random, (4.0 / 11.0) / (1.0 / 5.0));
    cr_assert_eq(m->aeo_missed_illicit, 2);
    cr_assert_eq(m->tiers[0].missed_illicit, 2);
    cr_assert_eq(m->ratio_tier, 0);
    const crest_interval rr = crest_stats_rate_ratio_ci(1, 50, 10, 100, 0.95);
    NEAR(m->ratio.estimate, 0.2);
    NEAR(m->ratio.lower, rr.lower);
    NEAR(m->ratio.upper, rr.upper);
    NEAR(m->tiers[0].ratio_target, 0.2);
    NEAR(m->tiers[1].target, 0.1);
    NEAR(m->tiers[0].target, 0.02);
    crest_replay_free(r);
    crest_policy_free(pol);
}

Test(replay, periods_weeks_months_and_writers)
{
    crest_policy *pol = policy();
    char lab[16];
    const int32_t sun = crest_date_from_civil(2021, 1, 3), mon = crest_date_from_civil(2021, 1, 4);
    cr_assert_str_eq(crest_replay_period_label(CREST_REPLAY_PERIOD_WEEK,
                                               crest_replay_period_key(CREST_REPLAY_PERIOD_WEEK, sun), lab),
                     "2020-12-28");
    cr_assert_str_eq(crest_replay_period_label(CREST_REPLAY_PERIOD_WEEK,
                                               crest_replay_period_key(CREST_REPLAY_PERIOD_WEEK, mon), lab),
                     "2021-01-04");
    cr_assert_str_eq(crest_replay_period_label(CREST_REPLAY_PERIOD_MONTH,
                                               crest_replay_period_key(CREST_REPLAY_PERIOD_MONTH, sun), lab),
                     "2021-01");
    crest_replay *r = make(pol, CREST_REPLAY_PERIOD_WEEK);
    crest_decision d = dec(1, 0.5, 0.1, 0.01, 0.05, 1);
    crest_replay_add(r, &d, mon, 1, 5); /* out of date order on purpose */
    crest_replay_add(r, &d, sun, 0, 0);
    crest_replay_add(r, &d, CREST_DATE_NONE, 0, 0);
    crest_replay_finish(r);
    cr_assert_eq(crest_replay_period_count(r), 3);
    cr_assert_str_eq(crest_replay_period_at(r, 0)->label, "undated");
    cr_assert_str_eq(crest_replay_period_at(r, 1)->label, "2020-12-28");
    cr_assert_eq(crest_replay_period_at(r, 2)->hits, 1);
    cr_assert_eq(crest_replay_total(r)->rows, 3);
    const crest_replay *reps[1] = {r};
    const char *names[1] = {"p,1"};
    crest_replay_set set = {reps, names, 1, "in.csv", 0};
    char *csv = crest_replay_csv_periods(&set), *json = crest_replay_json(&set),
         *tiers = crest_replay_csv_tiers(&set);
    cr_assert(strstr(csv, "\n\"p,1\",2021-01-04,1,0,1,"), "%s", csv);
    cr_assert(strstr(csv, "\n\"p,1\",total,3,"));
    cr_assert(strstr(json, "\"partial\":false"));
    cr_assert(strstr(tiers, "\"p,1\",total,REGULAR,3,3,"), "%s", tiers);
    free(csv);
    free(json);
    free(tiers);
    crest_replay_free(r);
    crest_policy_free(pol);
}

Test(replay, label_and_revenue_columns_from_the_header)
{
    crest_policy *pol = policy();
    crest_replay_options o = {CREST_REPLAY_PERIOD_NONE, "Fraud", NULL, "Tax Rate", "Item Price", 0};
    crest_replay *r = NULL;
    crest_diag dg;
    cr_assert_eq(crest_replay_create(pol, &o, &r, &dg), CREST_OK);
    crest_str hdr[3] = {{"fraud", 5}, {" Tax Rate", 9}, {"Item Price", 10}};
    cr_assert_eq(crest_replay_header(r, hdr, 3, &dg), CREST_OK);
    crest_str cols[3] = {{"1", 1}, {"8.0", 3}, {"250", 3}};
    crest_decl decl;
    memset(&decl, 0, sizeof decl);
    decl.cols = cols;
    decl.n_cols = 3;
    int y;
    double rev;
    crest_replay_read_label(r, &decl, &y, &rev);
    cr_assert_eq(y, 1);
    NEAR(rev, 20.0);
    cols[0] = (crest_str){"", 0};
    crest_replay_read_label(r, &decl, &y, &rev);
    cr_assert_eq(y, -1);
    NEAR(rev, 0.0);
    crest_replay_free(r);
    o.label = "no such column";
    cr_assert_eq(crest_replay_create(pol, &o, &r, &dg), CREST_OK);
    cr_assert_eq(crest_replay_header(r, hdr, 3, &dg), CREST_ERR_MISSING);
    crest_replay_free(r);
    crest_policy_free(pol);
}

/* A label is 1 when its text is a number other than 0, 0 when it is 0, -1
 * when empty or not a number: as crest_parse_number reads it (blanks around
 * it, signs, points, exponents), digits alone (read without the parser)
 * included, up to the parser's 63 bytes. */
Test(replay, label_text_reads_as_crest_parse_number)
{
    crest_policy *pol = policy();
    crest_replay_options o = {CREST_REPLAY_PERIOD_NONE, "y", NULL, NULL, NULL, 0};
    crest_replay *r = NULL;
    crest_diag dg;
    cr_assert_eq(crest_replay_create(pol, &o, &r, &dg), CREST_OK);
    crest_str hdr[1] = {{"y", 1}};
    cr_assert_eq(crest_replay_header(r, hdr, 1, &dg), CREST_OK);
    char digits[80];
    static const char *const texts[] = {"0",
                                        "1",
                                        "2",
                                        "9",
                                        "00",
                                        "01",
                                        "10",
                                        "0000",
                                        "9610",
                                        "0007",
                                        "007a",
                                        "",
                                        " ",
                                        " 1",
                                        "1 ",
                                        "\t0",
                                        "+1",
                                        "-1",
                                        "-0",
                                        "+0",
                                        "0.0",
                                        "0.",
                                        ".0",
                                        ".",
                                        "1.5",
                                        "1e3",
                                        "0e5",
                                        "1e400",
                                        "0x1",
                                        "abc",
                                        "1,0",
                                        "12345678901234567890",
                                        "00000000000000000000",
                                        "١",
                                        "1\n"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts + 6; i++) {
        const char *t = i < sizeof texts / sizeof *texts ? texts[i] : digits;
        if (t == digits) { /* runs of digits around the parser's 64-byte limit */
            static const size_t lens[] = {62, 63, 64, 65, 63, 64};
            const size_t k = i - sizeof texts / sizeof *texts, len = lens[k];
            memset(digits, '0', len);
            digits[len] = '\0';
            if (k < 4)
                digits[len - 1] = '3';
        }
        crest_str cols[1] = {{t, strlen(t)}};
        crest_decl decl;
        memset(&decl, 0, sizeof decl);
        decl.cols = cols;
        decl.n_cols = 1;
        int y;
        double rev;
        crest_replay_read_label(r, &decl, &y, &rev);
        const double v = crest_parse_number(t, strlen(t));
        cr_assert_eq(y, isnan(v) ? -1 : v != 0, "label '%s': %d, crest_parse_number %g", t, y, v);
        decl.n_cols = 0; /* the column is missing from the row: unlabelled */
        crest_replay_read_label(r, &decl, &y, &rev);
        cr_assert_eq(y, -1);
    }
    crest_replay_free(r);
    crest_policy_free(pol);
}

/* The capacity cap's outcomes: a deferred RED selection leaves the inspections
 * (its hit, revenue, path and HT term with it), an overflow one stays; the
 * outcomes arrive for every decision in order; a deferral of something that
 * was not a waiting RED selection is a state error. */
static void capacity_outcomes_with(crest_replay_period period)
{
    crest_policy *pol = policy();
    crest_replay_options o = {period, "illicit", NULL, NULL, NULL, 1};
    crest_replay *r = NULL;
    crest_diag dg;
    cr_assert_eq(crest_replay_create(pol, &o, &r, &dg), CREST_OK);
    crest_decision d;
    d = dec(1, 0.9, 0.5, 0.05, 0.3, 1); /* 0: RED by risk, illicit, revenue 10 */
    d.lane = 4;
    crest_replay_add(r, &d, 100, 1, 10);
    d = dec(1, 0.1, 0.5, 0.05, 0.01, 1); /* 1: RED by the random stream, illicit, revenue 5 */
    d.lane = 4;
    crest_replay_add(r, &d, 100, 1, 5);
    d = dec(1, 0.2, 0.5, 0.05, 0.9, 0); /* 2: released */
    crest_replay_add(r, &d, 100, 0, 0);
    d = dec(1, 0.8, 0.5, 0.05, 0.2, 1); /* 3: RED by risk, clean */
    d.lane = 4;
    crest_replay_add(r, &d, 100, 0, 0);
    cr_assert_eq(crest_replay_capacity(r, 0, CREST_CAPACITY_KEPT), CREST_OK);
    cr_assert_eq(crest_replay_capacity(r, 1, CREST_CAPACITY_DEFERRED), CREST_OK);
    cr_assert_eq(crest_replay_capacity(r, 2, CREST_CAPACITY_DEFERRED), CREST_ERR_STATE);
    cr_assert_eq(crest_replay_capacity(r, 3, CREST_CAPACITY_OVERFLOW), CREST_OK);
    cr_assert_eq(crest_replay_capacity(r, 3, CREST_CAPACITY_DEFERRED), CREST_ERR_STATE, "ruled on twice");
    cr_assert_eq(crest_replay_finish(r), CREST_OK);
    const size_t n_metrics = period == CREST_REPLAY_PERIOD_NONE ? 1 : 2;
    cr_assert_eq(crest_replay_period_count(r), n_metrics - 1);
    for (size_t k = 0; k < n_metrics; k++) {
        const crest_replay_metrics *m = k ? crest_replay_period_at(r, 0) : crest_replay_total(r);
        cr_assert_eq(m->rows, 4);
        cr_assert_eq(m->inspected, 2);
        cr_assert_eq(m->deferred, 1);
        cr_assert_eq(m->overflow, 1);
        cr_assert_eq(m->hits, 1);
        cr_assert_eq(m->random, 0);
        cr_assert_eq(m->risk, 2);
        cr_assert_eq(m->random_stream, 0);
        cr_assert_eq(m->random_stream_hits, 0);
        cr_assert_eq(m->lanes[4], 2);
        NEAR(m->revenue_caught, 10.0);
        NEAR(m->ht_sum, 2.0); /* only row 0: pi = 0.5 */
        cr_assert_eq(m->tiers[1].deferred, 1);
        cr_assert_eq(m->tiers[1].overflow, 1);
        cr_assert_eq(m->tiers[1].missed_illicit, 1);
    }
    crest_replay_free(r);
    crest_policy_free(pol);
}

/* The same with the total counted on its own (no periods) and from the periods. */
Test(replay, capacity_outcomes)
{
    capacity_outcomes_with(CREST_REPLAY_PERIOD_DAY);
    capacity_outcomes_with(CREST_REPLAY_PERIOD_NONE);
}

/* The AEO ratio net of credit-insensitive selections: those rows leave the
 * inspections and the rows of both tiers; the gross ratio keeps them. */
Test(replay, ratio_net_of_credit_insensitive_selections)
{
    crest_policy *pol = policy();
    crest_replay *r = make(pol, CREST_REPLAY_PERIOD_NONE);
    crest_decision d;
    /* AEO (tier 0): 100 rows, 4 inspected, 2 of them forced by a credit-insensitive rule. */
    for (int i = 0; i < 100; i++) {
        d = dec(0, NAN, 0.01, 0.01, 0.5, i < 4);
        d.forced = d.forced_insensitive = i < 2;
        d.lane = i < 4 ? 4 : 0;
        crest_replay_add(r, &d, CREST_DATE_NONE, 0, 0);
    }
    /* REGULAR (tier 1, the base): 200 rows, 20 inspected, 5 forced credit-insensitive. */
    for (int i = 0; i < 200; i++) {
        d = dec(1, NAN, 0.05, 0.05, 0.5, i < 20);
        d.forced = d.forced_insensitive = i < 5;
        d.lane = i < 20 ? 4 : 0;
        crest_replay_add(r, &d, CREST_DATE_NONE, 0, 0);
    }
    cr_assert_eq(crest_replay_finish(r), CREST_OK);
    const crest_replay_metrics *m = crest_replay_total(r);
    cr_assert_eq(m->tiers[0].forced_insensitive, 2);
    cr_assert_eq(m->tiers[1].forced_insensitive, 5);
    const crest_interval gross = crest_stats_rate_ratio_ci(4, 100, 20, 200, 0.95);
    const crest_interval net = crest_stats_rate_ratio_ci(2, 98, 15, 195, 0.95);
    NEAR(m->ratio.estimate, gross.estimate);
    NEAR(m->ratio_net.estimate, net.estimate);
    NEAR(m->ratio_net.lower, net.lower);
    NEAR(m->ratio_net.upper, net.upper);
    NEAR(m->ratio_net.estimate, (2.0 / 98) / (15.0 / 195));
    crest_replay_free(r);
    crest_policy_free(pol);
}

/* Row i of a pseudo-random history whose sums are exact in any order (integer
 * revenue, dyadic inclusion probabilities), for the merge tests. */
static void merge_row(unsigned i, crest_decision *d, int32_t *date, int *illicit, double *revenue)
{
    const unsigned h = (i * 2654435761u) >> 7;
    *d = dec(h % 2, (double)(h % 97) / 97.0, (h % 3) ? 0.5 : 0.25, 0.125, (double)(h % 1000) / 1000.0, 0);
    d->inspect = d->u < d->p;
    d->lane = d->inspect ? 4 : 0;
    *date = 18628 + (int32_t)(h % 60); /* 2021-01-01 and 59 days after */
    *illicit = (h % 5) == 0 ? 1 : (h % 11) == 0 ? -1 : 0;
    *revenue = *illicit == 1 ? (double)(h % 1000) : 0;
}

static void add_range(crest_replay *r, unsigned from, unsigned to)
{
    for (unsigned i = from; i < to; i++) {
        crest_decision d;
        int32_t date;
        int y;
        double v;
        merge_row(i, &d, &date, &y, &v);
        cr_assert_eq(crest_replay_add(r, &d, date, y, v), CREST_OK);
    }
}

Test(replay, merged_parts_equal_one_accumulator)
{
    crest_policy *pol = policy();
    crest_replay *one = make(pol, CREST_REPLAY_PERIOD_WEEK), *a = make(pol, CREST_REPLAY_PERIOD_WEEK),
                 *b = make(pol, CREST_REPLAY_PERIOD_WEEK), *c = make(pol, CREST_REPLAY_PERIOD_WEEK);
    add_range(one, 0, 3000);
    add_range(a, 0, 1000);
    add_range(b, 1000, 2200);
    add_range(c, 2200, 3000);
    /* b joins in memory, c through its saved bytes (as from another process). */
    cr_assert_eq(crest_replay_merge(a, b), CREST_OK);
    size_t len = 0;
    void *saved = crest_replay_save(c, &len);
    cr_assert_not_null(saved);
    crest_diag d;
    cr_assert_eq(crest_replay_load(a, saved, len, &d), CREST_OK, "%s", d.message);
    cr_assert_eq(crest_replay_finish(one), CREST_OK);
    cr_assert_eq(crest_replay_finish(a), CREST_OK);
    cr_assert_eq(crest_replay_total(a)->rows, 3000);
    cr_assert_gt(crest_replay_period_count(a), 8);
    const crest_replay *r1[] = {one}, *r2[] = {a};
    const char *names[] = {"p"};
    const crest_replay_set s1 = {r1, names, 1, "in", 0}, s2 = {r2, names, 1, "in", 0};
    char *j1 = crest_replay_json(&s1), *j2 = crest_replay_json(&s2);
    char *p1 = crest_replay_csv_periods(&s1), *p2 = crest_replay_csv_periods(&s2);
    char *t1 = crest_replay_csv_tiers(&s1), *t2 = crest_replay_csv_tiers(&s2);
    cr_assert_str_eq(j2, j1);
    cr_assert_str_eq(p2, p1);
    cr_assert_str_eq(t2, t1);
    free(j1), free(j2), free(p1), free(p2), free(t1), free(t2);
    /* A finished accumulator neither merges nor saves. */
    cr_assert_eq(crest_replay_merge(a, b), CREST_ERR_STATE);
    size_t n2 = 1;
    cr_assert_null(crest_replay_save(a, &n2));
    cr_assert_eq(n2, 0);
    crest_replay_free_saved(saved);
    crest_replay_free(one), crest_replay_free(a), crest_replay_free(b), crest_replay_free(c);
    crest_policy_free(pol);
}

Test(replay, saved_state_is_checked_on_load)
{
    crest_policy *pol = policy();
    static const char other_text[] = "[policy]\nname = o\nseed = 2\n"
                                     "[tiers]\norder = AEO, REGULAR\nbase = REGULAR\ndefault = REGULAR\n"
                                     "[tier AEO]\nratio = 0.2\n[tier REGULAR]\nrate = 0.1\n";
    crest_policy *other = NULL;
    crest_diag d;
    cr_assert_eq(crest_policy_parse(other_text, strlen(other_text), "<other>", &other, &d), CREST_OK);
    crest_replay *src = make(pol, CREST_REPLAY_PERIOD_WEEK);
    add_range(src, 0, 50);
    size_t len = 0;
    char *saved = crest_replay_save(src, &len);
    cr_assert_not_null(saved);
    crest_replay *wrong_policy = make(other, CREST_REPLAY_PERIOD_WEEK);
    cr_assert_eq(crest_replay_load(wrong_policy, saved, len, &d), CREST_ERR_MISMATCH);
    crest_replay *wrong_period = make(pol, CREST_REPLAY_PERIOD_DAY);
    cr_assert_eq(crest_replay_load(wrong_period, saved, len, &d), CREST_ERR_MISMATCH);
    crest_replay *ok = make(pol, CREST_REPLAY_PERIOD_WEEK);
    cr_assert_eq(crest_replay_load(ok, saved, len - 1, &d), CREST_ERR_INVALID);
    cr_assert_eq(crest_replay_load(ok, saved, 10, &d), CREST_ERR_INVALID);
    saved[0] ^= 1;
    cr_assert_eq(crest_replay_load(ok, saved, len, &d), CREST_ERR_VERSION);
    cr_assert(strstr(d.message, "build") != NULL, "%s", d.message);
    saved[0] ^= 1;
    cr_assert_eq(crest_replay_load(ok, saved, len, &d), CREST_OK);
    crest_replay_finish(ok);
    cr_assert_eq(crest_replay_total(ok)->rows, 50);
    crest_replay_free_saved(saved);
    crest_replay_free(src), crest_replay_free(wrong_policy), crest_replay_free(wrong_period),
        crest_replay_free(ok);
    crest_policy_free(pol);
    crest_policy_free(other);
}
