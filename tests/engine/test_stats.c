/* test_stats.c — confidence intervals against closed forms and coverage. */
#include <criterion/criterion.h>
#include <math.h>

#include <gsl/gsl_cdf.h>

#include "crest/crest.h"

Test(stats, clopper_pearson_closed_forms)
{
    crest_init();
    /* x = 0: upper = 1 - (alpha/2)^(1/n). x = n: lower = (alpha/2)^(1/n). */
    crest_interval a = crest_stats_binomial_ci(0, 10, 0.95);
    cr_expect_eq(a.lower, 0.0);
    cr_expect_float_eq(a.upper, 1 - pow(0.025, 0.1), 1e-9);
    crest_interval b = crest_stats_binomial_ci(10, 10, 0.95);
    cr_expect_float_eq(b.lower, pow(0.025, 0.1), 1e-9);
    cr_expect_eq(b.upper, 1.0);
    /* A textbook value: 5/20 -> [0.0866, 0.4910]. */
    crest_interval c = crest_stats_binomial_ci(5, 20, 0.95);
    cr_expect_float_eq(c.estimate, 0.25, 1e-12);
    cr_expect_float_eq(c.lower, 0.0866, 1e-4);
    cr_expect_float_eq(c.upper, 0.4910, 1e-4);
    crest_interval z = crest_stats_binomial_ci(0, 0, 0.95);
    cr_expect(isnan(z.estimate) && isnan(z.lower) && isnan(z.upper));
}

/* Large counts: GSL's own beta inverse gives up here; the interval must still be
 * finite, ordered, and agree with the normal approximation to three digits. */
Test(stats, clopper_pearson_large_counts)
{
    crest_init();
    const uint64_t cases[][2] = {{26327, 880315}, {15944, 19970}, {577, 99715}, {5000000, 10000000}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const double x = (double)cases[i][0], n = (double)cases[i][1], ph = x / n;
        crest_interval c = crest_stats_binomial_ci(cases[i][0], cases[i][1], 0.95);
        cr_assert(isfinite(c.lower) && isfinite(c.upper), "case %zu: [%g, %g]", i, c.lower, c.upper);
        cr_expect(c.lower < ph && ph < c.upper, "case %zu", i);
        const double half = 1.959963984540054 * sqrt(ph * (1 - ph) / n);
        cr_expect_float_eq(c.upper - c.lower, 2 * half, 2 * half * 2e-2, "case %zu: width %g vs %g", i,
                           c.upper - c.lower, 2 * half);
        if (n > 5e6)
            continue; /* beyond GSL's binomial CDF too: the Wilson fallback is checked above */
        /* Exactness: the tail probabilities at the bounds equal alpha/2. */
        cr_expect_float_eq(gsl_cdf_binomial_Q((unsigned)(x - 1), c.lower, (unsigned)n), 0.025, 1e-6);
        cr_expect_float_eq(gsl_cdf_binomial_P((unsigned)x, c.upper, (unsigned)n), 0.025, 1e-6);
    }
}

/* x = 1: lower = 1 - (1 - alpha/2)^(1/n). x = n - 1: upper = (1 - alpha/2)^(1/n). */
Test(stats, clopper_pearson_one_from_the_edge)
{
    crest_init();
    const crest_interval a = crest_stats_binomial_ci(1, 10, 0.95);
    cr_expect_float_eq(a.lower, 1 - pow(0.975, 0.1), 1e-9);
    const crest_interval b = crest_stats_binomial_ci(9, 10, 0.95);
    cr_expect_float_eq(b.upper, pow(0.975, 0.1), 1e-9);
    const crest_interval c = crest_stats_binomial_ci(1, 1000, 0.99);
    cr_expect_float_eq(c.lower, 1 - pow(0.995, 0.001), 1e-12);
}

/* Wilson's score interval in closed form: centre (x + z^2/2) / (n + z^2),
 * half-width z / (n + z^2) * sqrt(x (n - x) / n + z^2 / 4). */
Test(stats, wilson_closed_form)
{
    const double z = 1.959963984540054;
    const uint64_t cases[][2] = {{3, 1000}, {0, 50}, {50, 50}, {26327, 880315}, {7, 9}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const double x = (double)cases[i][0], n = (double)cases[i][1];
        const double centre = (x + z * z / 2) / (n + z * z);
        const double half = z / (n + z * z) * sqrt(x * (n - x) / n + z * z / 4);
        const crest_interval w = crest_stats_wilson_ci(cases[i][0], cases[i][1], 0.95);
        cr_expect_float_eq(w.estimate, x / n, 1e-15, "case %zu", i);
        cr_expect_float_eq(w.lower, fmax(0.0, centre - half), 1e-12, "case %zu: %.17g", i, w.lower);
        cr_expect_float_eq(w.upper, fmin(1.0, centre + half), 1e-12, "case %zu: %.17g", i, w.upper);
    }
}

Test(stats, wilson_inside_unit_and_contains_estimate)
{
    crest_interval w = crest_stats_wilson_ci(3, 1000, 0.95);
    cr_expect(w.lower > 0 && w.lower < 0.003 && w.upper > 0.003 && w.upper < 0.01);
}

Test(stats, rate_ratio)
{
    crest_init();
    /* Equal rates: ratio 1 and a symmetric (in log) interval around it. */
    crest_interval r = crest_stats_rate_ratio_ci(100, 10000, 100, 10000, 0.95);
    cr_expect_float_eq(r.estimate, 1.0, 1e-12);
    cr_expect_float_eq(log(r.upper), -log(r.lower), 1e-12);
    /* Katz: se = sqrt(1/60 - 1/50000 + 1/300 - 1/50000). */
    crest_interval k = crest_stats_rate_ratio_ci(60, 50000, 300, 50000, 0.95);
    double se = sqrt(1.0 / 60 - 1.0 / 50000 + 1.0 / 300 - 1.0 / 50000);
    cr_expect_float_eq(k.estimate, 0.2, 1e-12);
    cr_expect_float_eq(k.lower, 0.2 * exp(-1.959963984540054 * se), 1e-9);
    cr_expect_float_eq(k.upper, 0.2 * exp(1.959963984540054 * se), 1e-9);
    crest_interval zero = crest_stats_rate_ratio_ci(0, 500, 30, 1000, 0.95);
    cr_expect_eq(zero.estimate, 0.0);
    cr_expect(zero.upper > 0 && isfinite(zero.upper));
    /* With no AEO inspection the interval starts at 0 (it used to start above
     * the estimate) and its upper bound is exact: CP upper of 0/500 at 97.5%
     * (1 - 0.0125^(1/500)) over CP lower of 30/1000 at 97.5%. */
    cr_expect_eq(zero.lower, 0.0);
    cr_expect(zero.lower <= zero.estimate && zero.estimate <= zero.upper);
    const double u1 = 1.0 - pow(0.0125, 1.0 / 500);
    const crest_interval l2 = crest_stats_binomial_ci(30, 1000, 0.975);
    cr_expect_float_eq(zero.upper, u1 / l2.lower, 1e-9);
    cr_expect(zero.upper > 0.2 && zero.upper < 0.5, "upper %g", zero.upper);
    /* Every interval contains its estimate, down to one inspection. */
    for (uint64_t x = 0; x <= 5; x++) {
        crest_interval c = crest_stats_rate_ratio_ci(x, 400, 12, 1000, 0.95);
        cr_expect(c.lower <= c.estimate && c.estimate <= c.upper, "x1 = %llu: [%g, %g] around %g",
                  (unsigned long long)x, c.lower, c.upper, c.estimate);
    }
    cr_expect(isnan(crest_stats_rate_ratio_ci(1, 10, 0, 10, 0.95).estimate));
}

Test(stats, binomial_bounds_tail_mass)
{
    crest_init();
    uint64_t lo, hi;
    crest_stats_binomial_bounds(10000, 0.03, 1e-6, &lo, &hi);
    cr_expect(lo < 300 && hi > 300);
    /* Each tail holds at most alpha/2 and the bounds are tight (one step in goes past it). */
    cr_expect_leq(gsl_cdf_binomial_P((unsigned)lo - 1, 0.03, 10000), 0.5e-6);
    cr_expect_gt(gsl_cdf_binomial_P((unsigned)lo, 0.03, 10000), 0.5e-6);
    cr_expect_leq(gsl_cdf_binomial_Q((unsigned)hi, 0.03, 10000), 0.5e-6);
    cr_expect_gt(gsl_cdf_binomial_Q((unsigned)hi - 1, 0.03, 10000), 0.5e-6);
}

/* The floor's draw rate is the smallest q with P(Binomial(n, q) < floor · n)
 * <= 1 − confidence: just above it the tail holds, just below it does not. */
Test(stats, floor_rate_is_the_smallest_rate_that_holds)
{
    crest_init();
    const struct {
        double floor;
        uint64_t n;
        double conf;
    } cases[] = {{0.8, 3000, 0.9999}, {0.8, 300, 0.999}, {0.95, 500, 0.9999}, {0.5, 41, 0.99}, {0.8, 7, 0.9}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const double f = cases[i].floor, c = cases[i].conf;
        const uint64_t n = cases[i].n;
        const double q = crest_stats_floor_rate(f, n, c);
        const unsigned k1 = (unsigned)ceil(f * (double)n - 1e-9) - 1;
        cr_expect(q > f && q < 1.0, "case %zu: q %g", i, q);
        cr_expect_leq(gsl_cdf_binomial_P(k1, q, (unsigned)n), 1.0 - c, "case %zu holds at q", i);
        cr_expect_gt(gsl_cdf_binomial_P(k1, q - 1e-9, (unsigned)n), 1.0 - c,
                     "case %zu: q is not the smallest", i);
    }
    /* Normal approximation as a sanity check: 0.8 + z(0.9999) · sd at n = 3000. */
    cr_expect(fabs(crest_stats_floor_rate(0.8, 3000, 0.9999) - (0.8 + 3.719 * sqrt(0.16 / 3000))) < 0.002);
    /* More rows, less margin. */
    cr_expect_lt(crest_stats_floor_rate(0.8, 30000, 0.999), crest_stats_floor_rate(0.8, 3000, 0.999));
    /* No margin needed: one row, or a floor of 0; out of range: NaN. */
    cr_expect_eq(crest_stats_floor_rate(0.8, 1, 0.5), 0.8);
    cr_expect_eq(crest_stats_floor_rate(0.0, 100, 0.999), 0.0);
    cr_expect(isnan(crest_stats_floor_rate(0.8, 0, 0.999)));
    cr_expect(isnan(crest_stats_floor_rate(0.8, 100, 1.0)));
    cr_expect(isnan(crest_stats_floor_rate(1.5, 100, 0.9)));
}
