/*
 * crest_stats.h — the statistics a summary reports: exact binomial confidence
 * intervals for a realised rate and a confidence interval for the ratio of
 * two rates (the AEO/regular ratio). Computed with GSL; pure functions.
 */
#ifndef CREST_STATS_H
#define CREST_STATS_H

#include "crest/crest_export.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct crest_interval {
    double estimate; /* point estimate; NaN when undefined (n = 0) */
    double lower;    /* NaN when undefined */
    double upper;
} crest_interval;

/*
 * Clopper–Pearson ("exact") interval for a binomial proportion x/n at the
 * given confidence level (e.g. 0.95), from GSL's beta quantiles. Conservative:
 * coverage is at least the level. n = 0 gives NaNs. Beyond the range where
 * GSL's incomplete beta function converges (tens of millions of trials) the
 * Wilson interval is returned, which agrees with it there to many digits.
 */
CREST_API crest_interval crest_stats_binomial_ci(uint64_t x, uint64_t n, double level);

/* Wilson score interval for x/n (narrower than Clopper–Pearson, approximate). */
CREST_API crest_interval crest_stats_wilson_ci(uint64_t x, uint64_t n, double level);

/*
 * Ratio of two binomial proportions (x1/n1) / (x2/n2) with the Katz
 * log-normal interval: exp(log RR ± z·sqrt(1/x1 − 1/n1 + 1/x2 − 1/n2)).
 * When x1 is 0 the ratio and its lower bound are 0 and the upper bound is
 * the exact upper bound of x1/n1 over the exact lower bound of x2/n2, each
 * at level 1 − (1 − level)/2 (conservative: coverage at least the level).
 * Undefined (NaN) when n1 or n2 is 0 or x2 is 0 (the ratio is unbounded).
 */
CREST_API crest_interval crest_stats_rate_ratio_ci(uint64_t x1, uint64_t n1, uint64_t x2, uint64_t n2,
                                                   double level);

/*
 * Two-sided bounds [lo, hi] that a Binomial(n, p) count falls in with
 * probability at least 1 - alpha (each tail ≤ alpha/2), for statistical
 * tests. From GSL's binomial CDF.
 */
CREST_API void crest_stats_binomial_bounds(uint64_t n, double p, double alpha, uint64_t *lo, uint64_t *hi);

/*
 * The draw rate that holds a floor in a period of n declarations: the
 * smallest q >= floor such that a Binomial(n, q) count realises under the
 * floor (X < floor · n) with probability at most 1 − confidence. A tier drawn
 * with p >= q for every row (a Poisson-binomial count, which dominates
 * Binomial(n, q)) then holds the floor in a period of n rows with at least
 * that confidence, whatever the order of the rows; larger periods need a
 * smaller margin (up to the discreteness of the count). Returns floor
 * when no margin is needed, NaN when floor is outside [0, 1], confidence
 * outside (0, 1), or n is 0 or over 2^32 − 1.
 */
CREST_API double crest_stats_floor_rate(double floor, uint64_t n, double confidence);

#ifdef __cplusplus
}
#endif
#endif
