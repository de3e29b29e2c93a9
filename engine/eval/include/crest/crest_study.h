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
#include "crest/crest_policy.h"
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

/* ------------------------------------------------------------------------
 * The plan of a study and its runs: what `crest replay --simulate` runs,
 * for the CLI and the Python package alike (engine/eval/study_plan.c).
 */

#define CREST_STUDY_MAX_STRATEGIES 16
#define CREST_STUDY_MAX_SEEDS 1000

/* One strategy of a study, as crest_study_parse_strategies reads it. */
typedef struct crest_study_strategy {
    char label[96];          /* as given: "logit", "hybrid:0.3", "score:COL", "crest" */
    crest_sim_strategy kind; /* REFIT, RANDOM, SCORE or FIXED (crest) */
    int model;               /* REFIT: -1 the policy's [model] kind, 0 logistic, 1 trees */
    char column[96];         /* SCORE: the score's column */
    double explore;          /* hybrid:S: S; NaN: the plan's exploration shares */
    int sweeps_rate;         /* 1: one run per rate of the plan; 0: the strategy sets its own */
    int sweeps_explore;      /* 1: one run per exploration share of the plan */
} crest_study_strategy;

/*
 * Parse a comma-separated list of strategies ("random", "model", "logit",
 * "xgb", "hybrid:SHARE", "score:COLUMN", "crest"; NULL: "model") into
 * out[0..cap), *n the count. Returns CREST_OK, or CREST_ERR_SYNTAX (an unknown
 * strategy, a share outside [0, 1], more than cap, none) with diag's file the
 * option ("--strategy") and its message the rest of the sentence.
 */
crest_status crest_study_parse_strategies(const char *list, crest_study_strategy *out, size_t cap, size_t *n,
                                          crest_diag *diag);

/*
 * Parse seeds and ranges ("1-20", "1,4,7-9") into out[0..cap), *n the count.
 * Returns CREST_OK or CREST_ERR_SYNTAX (diag as above, file "--seeds").
 */
crest_status crest_study_parse_seeds(const char *text, uint64_t *out, size_t cap, size_t *n,
                                     crest_diag *diag);

/*
 * The crest strategy's selections for one seed: set inspect[i] = 1 for every
 * row i of the simulation (in the order added; training rows stay 0) that
 * the policy inspects when it decides the history with [policy] seed = seed,
 * as `crest run` does. inspect is zeroed before the call. Returns CREST_OK or
 * a status with diag filled.
 */
typedef crest_status (*crest_study_decide_fn)(void *ctx, uint64_t seed, uint8_t *inspect, size_t n_rows,
                                              crest_diag *diag);

/* What a study runs: every strategy x rate x exploration share x seed, in that
 * nesting order (a strategy that sets its own rate or share runs once per seed). */
typedef struct crest_study_plan {
    const crest_policy *policy; /* its [model] features, fit settings, tree params and hash */
    crest_replay_period period; /* DAY, WEEK or MONTH (batches of N days: crest_study_sim_create) */
    double final_rate;          /* NaN: a constant rate; else as crest_sim_options */
    crest_sim_decay decay;      /* as crest_sim_options */
    unsigned decay_periods;     /* as crest_sim_options */
    const crest_study_strategy *strategies;
    size_t n_strategies;
    const double *rates; /* >= 1 */
    size_t n_rates;
    const double *explores; /* >= 1 */
    size_t n_explores;
    const uint64_t *seeds; /* >= 1 */
    size_t n_seeds;
    crest_study_decide_fn decide; /* needed when a strategy is crest (FIXED) */
    void *decide_ctx;
} crest_study_plan;

/*
 * The simulation the plan's runs share (the first run's options; batches of
 * batch_days days, 0: the plan's period). Add the rows to it (crest_sim_header,
 * crest_sim_add), then crest_study_run. Returns CREST_OK or the statuses of
 * crest_sim_create and crest_sim_set_batch_days (diag filled).
 */
crest_status crest_study_sim_create(const crest_study_plan *plan, unsigned batch_days, crest_sim **out,
                                    crest_diag *diag);

/*
 * Run the plan over the rows of sim, each run added to st with its settings
 * (strategy label, seed, rate — NaN for crest —, exploration share — NaN for
 * random and crest —, the policy's hash). note (note_cap bytes, may be 0)
 * receives the first run's note on failed refits ("logit (seed 1): period ...").
 * Returns CREST_OK; CREST_ERR_INVALID (a crest strategy without a decide
 * function, an empty list); the status of a run (crest_sim_reset,
 * crest_sim_set_strategy, crest_sim_run) or of decide; CREST_ERR_NOMEM. diag
 * says which.
 */
crest_status crest_study_run(crest_study *st, crest_sim *sim, const crest_study_plan *plan, char *note,
                             size_t note_cap, crest_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
