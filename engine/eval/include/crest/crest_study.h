/*
 * crest_study.h — many simulations side by side: the runs of `crest replay
 * --simulate` over strategies, seeds, rates and exploration shares, each
 * with its settings, and their aggregate over seeds (mean and 95% Student t
 * interval per period and in total).
 *
 * A study copies the metrics of each finished crest_sim (crest_study_add);
 * runs with the same strategy, rate and exploration form a group whose runs
 * differ only by seed. It reads and writes no file and never prints.
 */
#ifndef CREST_STUDY_H
#define CREST_STUDY_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_base.h"
#include "crest/crest_simulate.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The settings of one run. */
typedef struct crest_study_setting {
    const char *strategy;    /* its label: "logit", "xgb", "random", "hybrid:0.3", "score:COL", "crest" */
    uint64_t seed;           /* key of the draws (the crest policy's [policy] seed) */
    double rate;             /* the run's (first-period) rate; NaN when the strategy sets its own (crest) */
    double explore;          /* share of the budget drawn at random; NaN when it has none */
    const char *policy_hash; /* the policy's hash (16 hex digits) */
} crest_study_setting;

/* A metric over a group's seeds: NaN values skipped; mean ± t(0.975, n − 1)·sd/√n,
 * clipped to the metric's range (counts >= 0, shares in [0, 1]); lo, hi NaN when n < 2. */
typedef struct crest_study_stat {
    double mean, lo, hi;
    unsigned n;
} crest_study_stat;

/* The metrics a study aggregates, in this order. */
enum {
    CREST_STUDY_INSPECTED = 0,
    CREST_STUDY_BUDGET,
    CREST_STUDY_HITS,
    CREST_STUDY_PRECISION,
    CREST_STUDY_RECALL,
    CREST_STUDY_REVENUE_SHARE,
    CREST_STUDY_NORM_PRECISION,
    CREST_STUDY_NORM_REVENUE,
    CREST_STUDY_MA_PRECISION,
    CREST_STUDY_N_METRICS
};
/* Names of the metrics ("inspected", "precision", ...). */
extern const char *const crest_study_metric_names[CREST_STUDY_N_METRICS];

typedef struct crest_study crest_study;

/* An empty study. Returns CREST_OK or CREST_ERR_NOMEM. */
crest_status crest_study_create(crest_study **out);

/*
 * Copy a finished simulation's metrics with its settings (strings copied).
 * Returns CREST_OK, CREST_ERR_MISMATCH (its periods differ from those of the
 * runs already added), CREST_ERR_NOMEM.
 */
crest_status crest_study_add(crest_study *st, const crest_study_setting *setting, const crest_sim *sim);

/* Runs, groups (in the order first added), periods of every run. */
size_t crest_study_run_count(const crest_study *st);
size_t crest_study_group_count(const crest_study *st);
size_t crest_study_period_count(const crest_study *st);
/* Settings of group g (its seed: the first run's); the number of its runs. */
const crest_study_setting *crest_study_group_setting(const crest_study *st, size_t g, size_t *n_runs);
/* Period p of the first run (p = crest_study_period_count: the total): label, key, days, partial, rows. */
const crest_sim_metrics *crest_study_period(const crest_study *st, size_t p);
/* Metric `metric` of group g at period p (p = period count: the total) over its seeds. */
crest_study_stat crest_study_stat_at(const crest_study *st, size_t g, size_t p, int metric);
/* The same for run r of group g (n = 1, no interval). */
double crest_study_value(const crest_study *st, size_t g, size_t r, size_t p, int metric);

/*
 * Writers (caller frees; NULL on OOM). Numbers "%.10g", undefined values
 * empty (CSV) or null (JSON).
 *  runs:    one row per run and period, then the run's "total": the settings
 *           (strategy, seed, target_rate, explore, policy_hash), the columns
 *           of crest_sim_csv, days and partial.
 *  summary: one row per group and period, then "total": the settings, seeds,
 *           period, days, partial, rows, and per metric its mean, lo and hi.
 *  json:    format "crest-simulate 2": the groups with their settings, seeds,
 *           summary per period and total, and every run's total.
 */
char *crest_study_csv(const crest_study *st);
char *crest_study_summary_csv(const crest_study *st);
char *crest_study_json(const crest_study *st, const char *input, int partial);

/* Free; NULL is a no-op. */
void crest_study_free(crest_study *st);

#ifdef __cplusplus
}
#endif
#endif
