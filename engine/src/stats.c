/*
 * stats.c — binomial and rate-ratio confidence intervals with GSL.
 * GSL's error handler is switched off by the engine; these functions only use
 * GSL routines that return values (no status), and guard their domains.
 */
#include "crest/crest_stats.h"
#include "crest/crest_risk.h"

#include <gsl/gsl_cdf.h>
#include <math.h>

/*
 * Quantile of Beta(a, b) by bisection on GSL's regularised incomplete beta
 * (gsl_cdf_beta_P). gsl_cdf_beta_Pinv fails to converge (returns NaN with the
 * error handler off) for the large parameters of a million-row summary, while
 * the CDF itself stays accurate; 100 halvings reach double precision.
 */
static double beta_quantile(double prob, double a, double b)
{
    double lo = 0.0, hi = 1.0;
    for (int i = 0; i < 100 && hi - lo > 1e-17; i++) {
        const double mid = 0.5 * (lo + hi);
        const double cdf = gsl_cdf_beta_P(mid, a, b);
        if (isnan(cdf))
            return NAN;
        if (cdf < prob)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

crest_interval crest_stats_binomial_ci(uint64_t x, uint64_t n, double level)
{
    crest_models_init(); /* GSL reports domain errors through its handler */
    crest_interval ci = {NAN, NAN, NAN};
    if (n == 0 || x > n)
        return ci;
    const double alpha = 1.0 - level;
    const double xd = (double)x, nd = (double)n;
    ci.estimate = xd / nd;
    ci.lower = x == 0 ? 0.0 : beta_quantile(alpha / 2, xd, nd - xd + 1);
    ci.upper = x == n ? 1.0 : beta_quantile(1.0 - alpha / 2, xd + 1, nd - xd);
    if (isnan(ci.lower) || isnan(ci.upper)) {
        /* Counts so large that the Wilson interval equals the exact one to
         * many digits; the exact computation is out of GSL's range. */
        crest_interval w = crest_stats_wilson_ci(x, n, level);
        ci.lower = w.lower;
        ci.upper = w.upper;
    }
    return ci;
}

crest_interval crest_stats_wilson_ci(uint64_t x, uint64_t n, double level)
{
    crest_models_init(); /* GSL reports domain errors through its handler */
    crest_interval ci = {NAN, NAN, NAN};
    if (n == 0 || x > n)
        return ci;
    const double z = gsl_cdf_ugaussian_Qinv((1.0 - level) / 2);
    const double nd = (double)n, ph = (double)x / nd;
    const double denom = 1 + z * z / nd;
    const double centre = (ph + z * z / (2 * nd)) / denom;
    const double half = z * sqrt(ph * (1 - ph) / nd + z * z / (4 * nd * nd)) / denom;
    ci.estimate = ph;
    ci.lower = fmax(0.0, centre - half);
    ci.upper = fmin(1.0, centre + half);
    return ci;
}

crest_interval crest_stats_rate_ratio_ci(uint64_t x1, uint64_t n1, uint64_t x2, uint64_t n2, double level)
{
    crest_models_init(); /* GSL reports domain errors through its handler */
    crest_interval ci = {NAN, NAN, NAN};
    if (n1 == 0 || n2 == 0 || x2 == 0 || x1 > n1 || x2 > n2)
        return ci;
    ci.estimate = ((double)x1 / (double)n1) / ((double)x2 / (double)n2);
    if (x1 == 0) {
        /* No inspection in the first tier: the ratio is 0 and so is its lower
         * bound (a log interval around a corrected estimate would put the
         * lower bound above the estimate). The upper bound is the exact
         * (Clopper–Pearson) upper bound of p1 over the exact lower bound of
         * p2, each at level 1 − alpha/2: P(ratio > upper) <= alpha/4 +
         * alpha/4, so the interval covers with probability >= level. */
        const double alpha = 1.0 - level;
        const crest_interval c1 = crest_stats_binomial_ci(0, n1, 1.0 - alpha / 2);
        const crest_interval c2 = crest_stats_binomial_ci(x2, n2, 1.0 - alpha / 2);
        ci.lower = 0.0;
        ci.upper = c1.upper / c2.lower;
        return ci;
    }
    const double a = (double)x1, b = (double)n1, c = (double)x2, d = (double)n2;
    const double log_rr = log((a / b) / (c / d));
    const double se = sqrt(1 / a - 1 / b + 1 / c - 1 / d);
    const double z = gsl_cdf_ugaussian_Qinv((1.0 - level) / 2);
    ci.lower = exp(log_rr - z * se);
    ci.upper = exp(log_rr + z * se);
    return ci;
}

void crest_stats_binomial_bounds(uint64_t n, double p, double alpha, uint64_t *lo, uint64_t *hi)
{
    crest_models_init(); /* GSL reports domain errors through its handler */
    /* Binary search on the CDF: smallest lo with P(X < lo) <= alpha/2 ... */
    const unsigned int nn = (unsigned int)n;
    uint64_t a = 0, b = n;
    /* lo = largest k with P(X <= k-1) <= alpha/2, i.e. P(X < k) <= alpha/2. */
    while (a < b) {
        uint64_t mid = a + (b - a + 1) / 2;
        double below = gsl_cdf_binomial_P((unsigned int)(mid - 1), p, nn);
        if (below <= alpha / 2)
            a = mid;
        else
            b = mid - 1;
    }
    *lo = a;
    /* hi = smallest k with P(X > k) <= alpha/2. */
    a = 0;
    b = n;
    while (a < b) {
        uint64_t mid = a + (b - a) / 2;
        double above = gsl_cdf_binomial_Q((unsigned int)mid, p, nn);
        if (above <= alpha / 2)
            b = mid;
        else
            a = mid + 1;
    }
    *hi = a;
}

double crest_stats_floor_rate(double floor, uint64_t n, double confidence)
{
    crest_models_init(); /* GSL reports domain errors through its handler */
    if (!(floor >= 0.0 && floor <= 1.0) || !(confidence > 0.0 && confidence < 1.0) || n == 0 ||
        n > UINT32_MAX)
        return NAN;
    /* The period realises under the floor when X < floor · n, i.e. X <= k − 1
     * for the smallest whole k >= floor · n (a hair of slack for 0.8 · 3000
     * computed as 2400.0000000000005). */
    const double need = ceil(floor * (double)n - 1e-9);
    if (need <= 0.0)
        return floor;
    const unsigned k1 = (unsigned)need - 1, nn = (unsigned)n;
    const double alpha = 1.0 - confidence;
    if (gsl_cdf_binomial_P(k1, floor, nn) <= alpha)
        return floor;
    /* P(X <= k − 1) falls as q rises (to 0 at q = 1): bisect for the smallest
     * q where it is at most alpha, keeping hi on the side that holds. */
    double lo = floor, hi = 1.0;
    for (int i = 0; i < 80 && hi - lo > 1e-12; i++) {
        const double mid = 0.5 * (lo + hi);
        if (gsl_cdf_binomial_P(k1, mid, nn) <= alpha)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}
