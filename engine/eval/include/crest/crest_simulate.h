/*
 * crest_simulate.h — the online simulation of `crest replay --simulate`, in
 * the style of the customs-selection research (BACUDA, DATE): a labelled
 * history is replayed period by period in date order; in each period a
 * budget of inspections is spent, the labels of the inspected rows (and only
 * those) are revealed, and the logistic model is refitted on everything
 * revealed so far before the next period.
 *
 * The budget is defined once over the whole horizon: ceil(Σ rate_p × rows_p)
 * with the rate from a schedule (constant, or decaying linearly or
 * geometrically to a final rate), spread over the periods by cumulative
 * rounding (period p gets ceil(C_p) − ceil(C_{p−1}), C_p the running sum), so
 * that the total does not depend on the batch length. Without
 * a model (the first period, unless fully labelled training rows were given)
 * the whole budget is drawn uniformly at random; with one, the top
 * (1 − explore) share of the budget by score is inspected and the rest drawn
 * uniformly at random among the other rows. Draws are keyed: the n rows with
 * the smallest keyed uniform of (seed, decl_id) are taken, so the result does
 * not depend on input order. Metrics per period: precision, recall, revenue
 * caught and its share, and both normalised by a perfect selector with the
 * same budget (the oracle inspects the illicit rows with the highest revenue
 * first), with trailing moving averages.
 *
 * It does not read input nor write files: a driver (the CLI) feeds it the
 * declarations from the engine's decl_hook with their labels and revenue.
 * Memory: the simulation keeps every row, because the model must score rows
 * after each refit: the row's text, 8 bytes per column and per canonical
 * field (19), and about 80 bytes of numbers and state (KCS: ~420 bytes a row).
 */
#ifndef CREST_SIMULATE_H
#define CREST_SIMULATE_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_base.h"
#include "crest/crest_keyhash.h"
#include "crest/crest_replay.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default window of the trailing moving averages, in periods. */
#define CREST_SIM_MA_WINDOW 13
/* "crest-si" as a little-endian word: the second key half of the simulation's draws
 * (independent of the decision draw u, which uses CREST_KEYHASH_K1). */
#define CREST_SIM_K1 CREST_KEYHASH_KEY(SIMULATE)

/* How the rate goes from rate to final_rate over decay_periods. */
typedef enum crest_sim_decay {
    CREST_SIM_DECAY_LINEAR = 0, /* r_i = r0 + (r1 − r0) · min(i, K) / K */
    CREST_SIM_DECAY_EXP         /* r_i = r0 · (r1 / r0)^(min(i, K) / K): geometric */
} crest_sim_decay;

/* The settings of every refit (as crest_lmodel_train_options; the rest of the
 * trainer's options keep their defaults). */
typedef struct crest_sim_fit {
    double l2_lambda; /* L2 penalty, >= 0 */
    double smoothing; /* target-encoding pseudo-count, >= 0 */
    unsigned folds;   /* out-of-fold encoding folds, 2 to 64 */
} crest_sim_fit;

typedef struct crest_sim_options {
    crest_replay_period period; /* DAY, WEEK or MONTH (not NONE) */
    double rate;                /* inspection rate of the first period, in [0, 1] */
    double final_rate;          /* NaN: constant rate; else the rate from period K on, in [0, 1] */
    unsigned decay_periods;     /* K >= 1; 0: the last period (K = periods − 1) */
    crest_sim_decay decay;
    double explore;           /* share of a model period's budget drawn at random, in [0, 1] */
    uint64_t seed;            /* key of the draws (the policy's seed) */
    const char *feature_spec; /* the [model] features (copied) */
    crest_sim_fit train;      /* settings of every refit */
    /* Non-NULL: every refit trains a tree model ([model] kind = xgboost,
     * crest_xgb_fit.h) with these [model] params ("" = the defaults), its
     * seed the simulation's seed, on 1 thread; NULL: the logistic model. */
    const char *tree_params;
    unsigned ma_window; /* moving-average window in periods; 0: CREST_SIM_MA_WINDOW */
} crest_sim_options;

/* Defaults: week, rate 0.05 constant, linear, explore 0.1, seed 0, no spec,
 * the logistic trainer's default l2, smoothing and folds, window 13, no tree
 * model. */
void crest_sim_options_default(crest_sim_options *opts);

/* Which rows a period's model chose and how it was made. */
typedef enum crest_sim_selector {
    CREST_SIM_SEL_RANDOM = 0, /* no model (cold start, or no fit possible yet): all random */
    CREST_SIM_SEL_MODEL,      /* a model fitted on the labels revealed before the period */
    CREST_SIM_SEL_PREVIOUS,   /* the refit failed (diag in the report): the previous model */
    CREST_SIM_SEL_SCORE,      /* the external score column (CREST_SIM_STRATEGY_SCORE) */
    CREST_SIM_SEL_POLICY      /* the given selections (CREST_SIM_STRATEGY_FIXED: the crest policy) */
} crest_sim_selector;

/*
 * What selects a run's rows (crest_sim_set_strategy). Every strategy spends
 * its budget the same way: the top (1 − explore) share by its ranking, the
 * rest drawn at random among the others; a period whose whole budget is drawn
 * at random (no model yet, explore = 1) has selector CREST_SIM_SEL_RANDOM.
 */
typedef enum crest_sim_strategy {
    CREST_SIM_STRATEGY_REFIT = 0, /* the model refitted each period (logistic, or trees: tree_params) */
    CREST_SIM_STRATEGY_RANDOM,    /* the whole budget drawn at random in every period */
    CREST_SIM_STRATEGY_SCORE,     /* a numeric column of the input ranks the rows (no refit) */
    CREST_SIM_STRATEGY_FIXED      /* given selections (the crest policy's own decisions): the
                                   * budget of a period is what they inspect in it */
} crest_sim_strategy;

/* What happened to a row. */
typedef enum crest_sim_outcome {
    CREST_SIM_RELEASED = 0,
    CREST_SIM_BY_SCORE, /* in the top of the ranking */
    CREST_SIM_RANDOM,   /* a random draw (exploration, or a period without a model) */
    CREST_SIM_TRAIN,    /* a fully labelled training row (not simulated) */
    CREST_SIM_UNDATED   /* no valid date: not in any period, not simulated */
} crest_sim_outcome;

/* Metrics with a trailing moving average (NaN values are skipped). */
typedef struct crest_sim_ma {
    double inspected, precision, recall, revenue_caught, revenue_share, norm_precision, norm_revenue;
} crest_sim_ma;

typedef struct crest_sim_metrics {
    int64_t key;            /* period key (crest_replay_period_key); 0 for the total */
    char label[16];         /* "2021-01-04", or "total" */
    int selector;           /* crest_sim_selector (the total: -1) */
    double rate;            /* the scheduled rate (the total: inspected / rows) */
    uint64_t rows, illicit; /* rows of the period (unlabelled count as licit), illicit among them */
    uint64_t budget;        /* this period's share of the horizon's budget (see above) */
    uint64_t inspected, by_score, random, hits;
    uint64_t train_rows, train_positive; /* revealed rows the model was fitted on (0 without a model) */
    double revenue_total;                /* revenue of the illicit rows */
    double revenue_caught;               /* of them inspected */
    double precision;                    /* hits / inspected; NaN when nothing was inspected */
    double recall;                       /* hits / illicit; NaN without illicit rows */
    double revenue_share;                /* revenue_caught / revenue_total; NaN when the total is 0 */
    double oracle_hits;                  /* min(budget, illicit) */
    double oracle_revenue;               /* the revenue of the budget illicit rows with the highest revenue */
    double norm_precision; /* hits / oracle_hits = precision / the oracle's precision; NaN when 0/0 */
    double norm_revenue;   /* revenue_caught / oracle_revenue; NaN when 0/0 */
    crest_sim_ma ma;       /* trailing moving averages over the window (the total: the last period's) */
    /* Days of the period that the history covers (the total: from its first to its
     * last date); partial = 1 when that is fewer than the period's length (a first
     * or last period the history only starts or ends in). */
    uint32_t days;
    int partial;
} crest_sim_metrics;

typedef struct crest_sim crest_sim;

/*
 * Create a simulation. opts is copied (the feature spec too). Returns
 * CREST_OK; CREST_ERR_RANGE (a rate or share outside [0, 1], period NONE,
 * exponential decay with a zero rate); spec errors as
 * crest_lmodel_spec_canonical (CREST_ERR_MISSING when there is no spec);
 * CREST_ERR_NOMEM. diag says which.
 */
crest_status crest_sim_create(const crest_sim_options *opts, crest_sim **out, crest_diag *diag);

/*
 * The input's header (call from the engine's header_hook). The first call
 * keeps a copy; a later one (a second file: training rows, then the
 * history) must name the same columns in the same order. Returns CREST_OK,
 * CREST_ERR_MISMATCH (diag names the first differing column), CREST_ERR_NOMEM.
 */
crest_status crest_sim_header(crest_sim *s, const crest_str *header, size_t n_cols, crest_diag *diag);

/*
 * Keep one declaration (from the decl_hook) with its label (1, 0, or −1 when
 * unlabelled: counted as 0) and revenue (NaN reads as 0; only the revenue of
 * illicit rows counts). train = 1: a fully labelled training row, revealed
 * from the start and not simulated. Rows without a valid date are kept out
 * of the periods (counted). The decl is copied: its views may go after the
 * call. Returns CREST_OK, CREST_ERR_STATE (no header yet, or after
 * crest_sim_run), CREST_ERR_MISMATCH (the column count differs from the
 * header), CREST_ERR_NOMEM.
 */
crest_status crest_sim_add(crest_sim *s, const crest_decl *decl, int illicit, double revenue, int train);

/*
 * Batches of n days instead of opts.period (0: back to opts.period): the
 * first batch starts on the history's first date, each is labelled by its
 * first day. Returns CREST_OK, CREST_ERR_STATE (after crest_sim_run without a
 * reset), CREST_ERR_RANGE (more than 3660 days).
 */
crest_status crest_sim_set_batch_days(crest_sim *s, unsigned n);

/*
 * The strategy of the next run (default CREST_SIM_STRATEGY_REFIT).
 * score_column: the header name of the score (SCORE; copied; ASCII case
 * ignored; an empty or unreadable value ranks last). inspect: FIXED only,
 * one byte per row added, in the order added (non-zero: inspected; copied;
 * training and undated rows are ignored). Returns CREST_OK, CREST_ERR_STATE
 * (after crest_sim_run without a reset), CREST_ERR_INVALID (an argument
 * missing), CREST_ERR_MISSING (no such column, in diag), CREST_ERR_NOMEM.
 */
crest_status crest_sim_set_strategy(crest_sim *s, crest_sim_strategy strategy, const char *score_column,
                                    const uint8_t *inspect, size_t n_inspect, crest_diag *diag);

/*
 * Forget the results of a run and take new options (opts as for
 * crest_sim_create; its feature spec must be the same) for another run over
 * the same rows: the strategy and batch length stay. Returns CREST_OK or the
 * statuses of crest_sim_create.
 */
crest_status crest_sim_reset(crest_sim *s, const crest_sim_options *opts, crest_diag *diag);

/*
 * Run the simulation over the rows added. A refit that fails (one class
 * only, or no convergence) is not an error: the period keeps the previous
 * model, or draws at random without one; the first such failure is kept
 * (crest_sim_note). Returns CREST_OK; CREST_ERR_STATE (run twice);
 * CREST_ERR_MISMATCH (the spec names a column the header lacks);
 * CREST_ERR_NOMEM.
 */
crest_status crest_sim_run(crest_sim *s, crest_diag *diag);

/* After crest_sim_run: the periods in date order, and the total. */
size_t crest_sim_period_count(const crest_sim *s);
const crest_sim_metrics *crest_sim_period_at(const crest_sim *s, size_t i);
const crest_sim_metrics *crest_sim_total(const crest_sim *s);

/* Rows added (history and training), of them training rows, and undated history rows. */
size_t crest_sim_row_count(const crest_sim *s);
size_t crest_sim_train_count(const crest_sim *s);
size_t crest_sim_undated_count(const crest_sim *s);
/* What happened to row i (in the order added) after crest_sim_run; its score (NaN
 * when it was not scored). Returns CREST_OK or CREST_ERR_RANGE. */
crest_status crest_sim_row_outcome(const crest_sim *s, size_t i, crest_sim_outcome *outcome, double *score);
/* A note on failed refits ("" when none), e.g. "period 2021-01-04: only one class revealed". */
const char *crest_sim_note(const crest_sim *s);

/* "random", "model", "previous", "score", "policy" ("" for anything else, e.g. the total's -1). */
const char *crest_sim_selector_name(int selector);

/* Trailing moving average of x[0..n) at each i (the last `window` values up
 * to i, NaN values skipped; NaN when none is defined) into out[0..n). */
void crest_sim_moving_average(const double *x, size_t n, size_t window, double *out);
/* The scheduled rate of period i (0-based) of n_periods. */
double crest_sim_rate_at(const crest_sim_options *opts, size_t i, size_t n_periods);

/*
 * Writers, after crest_sim_run (caller frees; NULL on OOM). Numbers "%.10g",
 * undefined values empty (CSV) or null (JSON). CSV: one row per period, then
 * "total". JSON: the options, the periods and the total; name labels the
 * policy, input the history; partial = 1 marks an interrupted read.
 */
char *crest_sim_csv(const crest_sim *s);
char *crest_sim_json(const crest_sim *s, const char *name, const char *input, int partial);

/* Free; NULL is a no-op. */
void crest_sim_free(crest_sim *s);

#ifdef __cplusplus
}
#endif
#endif
