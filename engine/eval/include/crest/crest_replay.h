/*
 * crest_replay.h — replay metrics: what a policy would have caught on a
 * labelled history, at what cost, and whether the tier ratios held.
 *
 * A replay accumulator is fed every decided declaration of one policy (from
 * the engine's decl_hook, options.decide = 0) with its ground-truth label and
 * recoverable revenue, and produces per period (day, week, month) and in
 * total: rows, inspections per tier and per selection path (forced by a
 * criterion, random stream, risk), realised rates with 95% Clopper–Pearson
 * intervals, the ratio of each relative tier to the base tier with its Katz
 * interval, precision (hit rate), recall and revenue caught, precision@n% /
 * recall@n% / revenue@n% of the risk ranking for n = 1, 2, 5, 10, the lift
 * over the random stream, the illicit rows left uninspected per tier, and a
 * Horvitz–Thompson estimate of the illicit rate next to the true rate.
 *
 * It does not read input or decide anything; the CLI (`crest replay`) drives
 * engines and writes the files. Memory: the ranking metrics need every row's
 * (score, label, revenue, period), 32 bytes a row. Up to a buffer of
 * 131 072 rows (4 MiB; crest_replay_set_buffer) they stay in memory; beyond,
 * each full buffer is sorted and written as a run to one unlinked temporary
 * file in $TMPDIR (default /tmp), 32 bytes a row on disk, and
 * crest_replay_finish merges the runs back in one pass with read buffers of
 * about the buffer's size: memory is flat in the number of rows, the
 * results are the same bits whatever the buffer. Rows that tie in score and
 * period and carry no revenue share one row of the ranking (their counts
 * added: the metrics only count them), so a policy whose scores take few
 * values keeps its whole ranking in memory; CREST_REPLAY_COMBINE=0 turns
 * that off, again with the same results. Plus the per-period counts (about
 * 2.5 KiB a period). This is not the streaming hot path.
 */
#ifndef CREST_REPLAY_H
#define CREST_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_base.h"
#include "crest/crest_engine.h"
#include "crest/crest_policy.h"
#include "crest/crest_stats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Period of the per-period metrics. */
typedef enum crest_replay_period {
    CREST_REPLAY_PERIOD_NONE = 0, /* total only */
    CREST_REPLAY_PERIOD_DAY,
    CREST_REPLAY_PERIOD_WEEK, /* Monday to Sunday, labelled by its Monday */
    CREST_REPLAY_PERIOD_MONTH
} crest_replay_period;

/* Key of rows without a valid date in per-period tables (labelled "undated"). */
#define CREST_REPLAY_UNDATED INT64_MIN

/* "day", "week", "month", "none" -> period; returns 0 on success, -1 when unknown. */
int crest_replay_period_parse(const char *text, crest_replay_period *out);
/* Name of a period ("week"). */
const char *crest_replay_period_name(crest_replay_period period);
/* Key of the period holding a date (days since 1970-01-01): the day number of its
 * first day; CREST_REPLAY_UNDATED for CREST_DATE_NONE. */
int64_t crest_replay_period_key(crest_replay_period period, int32_t date_days);
/* Label of a period key: "2021-01-04" (day; week: its Monday), "2021-01" (month),
 * "undated", "total" (PERIOD_NONE). out: at least 16 bytes. Returns out. */
char *crest_replay_period_label(crest_replay_period period, int64_t key, char out[16]);

/* The n of precision@n%, recall@n%, revenue@n%. */
#define CREST_REPLAY_N_AT 4
extern const unsigned crest_replay_at_pct[CREST_REPLAY_N_AT]; /* 1, 2, 5, 10 */
#define CREST_REPLAY_MAX_TIERS 16

typedef struct crest_replay_tier_metrics {
    uint64_t rows, inspected;
    uint64_t forced, random, risk; /* inspections by path: forced > random > risk */
    uint64_t forced_insensitive;   /* forced by a credit-insensitive criterion (out of the net ratio) */
    uint64_t lanes[5];             /* inspections by lane: GREEN (unused), BLUE, YELLOW, ORANGE, RED */
    uint64_t illicit, hits;        /* labelled illicit rows; of them inspected */
    uint64_t missed_illicit;       /* illicit rows left uninspected */
    uint64_t deferred;             /* RED selections the capacity cap deferred to BLUE: not inspected */
    uint64_t overflow;             /* RED selections over the cap that could not be deferred (inspected) */
    double revenue_caught;
    crest_interval rate;  /* realised inspection rate, 95% Clopper–Pearson */
    double target;        /* the tier's target rate */
    int floor;            /* 1: the target is an absolute floor */
    crest_interval ratio; /* rate / base tier's rate, 95% Katz; NaN for absolute tiers */
    /* The same net of credit-insensitive selections (taken out of the
     * inspections and rows of both tiers); the policy's target is the gross one. */
    crest_interval ratio_net;
    double ratio_target; /* the policy's ratio; NaN for absolute tiers */
} crest_replay_tier_metrics;

typedef struct crest_replay_metrics {
    int64_t key;         /* period key (see crest_replay_period_key); 0 for the total */
    char label[16];      /* period label, or "total" */
    uint64_t rows;       /* decided declarations */
    uint64_t unlabelled; /* rows whose label was empty or unreadable: counted as not illicit */
    uint64_t illicit;    /* rows labelled illicit */
    uint64_t inspected, hits;
    uint64_t forced, random, risk;              /* inspections by path */
    uint64_t lanes[5];                          /* inspections by lane (as crest_decision.lane) */
    uint64_t deferred, overflow;                /* capacity cap outcomes (see the tier metrics) */
    uint64_t random_stream, random_stream_hits; /* rows with u < p_random (all inspected), and illicit */
    uint64_t zero_p_rows;        /* rows that could not be inspected (P(inspect) = 0): HT cannot see them */
    uint64_t aeo_missed_illicit; /* illicit rows left uninspected in tiers better than the base tier */
    double revenue_total, revenue_caught;
    double revenue_share;            /* revenue_caught / revenue_total; NaN when the total is 0 */
    crest_interval inspect_rate;     /* inspected / rows */
    crest_interval precision;        /* hits / inspected (hit rate) */
    crest_interval recall;           /* hits / illicit */
    crest_interval random_precision; /* random_stream_hits / random_stream */
    double lift_random;              /* precision / random_precision; NaN when undefined */
    double lift_rate;                /* precision / true rate */
    crest_interval true_rate;        /* illicit / rows, 95% Clopper–Pearson */
    /* Horvitz–Thompson: (1/rows) Σ over inspected illicit rows of 1/π, where
     * π = 1 − (1 − p_forced)(1 − p) is the row's inclusion probability; 95%
     * normal interval from the Poisson-sampling variance Σ y(1 − π)/π²,
     * clipped to [0, 1]. */
    crest_interval ht_rate;
    double ht_sum, ht_var;
    crest_interval ratio;     /* first relative tier (e.g. AEO) / base tier, 95% Katz */
    crest_interval ratio_net; /* the same net of credit-insensitive selections */
    int ratio_tier;           /* index of that tier, -1 when the policy has none */
    /* Risk ranking (all rows by score, highest first; ties share the cut
     * pro rata, i.e. the expectation under random tie-breaking; NaN scores
     * rank last): k = ceil(n% · rows). */
    uint64_t at_k[CREST_REPLAY_N_AT];
    double at_precision[CREST_REPLAY_N_AT], at_recall[CREST_REPLAY_N_AT], at_revenue[CREST_REPLAY_N_AT];
    size_t n_tiers;
    crest_replay_tier_metrics tiers[CREST_REPLAY_MAX_TIERS];
} crest_replay_metrics;

typedef struct crest_replay_options {
    crest_replay_period period;
    const char *label;        /* header name or canonical field of the 0/1 label; default "illicit" */
    const char *revenue;      /* header name or canonical field of recoverable revenue; NULL: none */
    const char *revenue_rate; /* proxy when revenue is NULL: revenue = illicit × rate/100 × base */
    const char *revenue_base; /* the base of the proxy; NULL: the parsed declared_value */
    /* 1: the policy has a capacity cap; its RED selections are counted as
     * inspected until crest_replay_capacity says what the cap did to them. */
    int capacity;
} crest_replay_options;

typedef struct crest_replay crest_replay;

/*
 * Create an accumulator for one policy (which must outlive it). opt is
 * copied (its strings must outlive the accumulator). Returns CREST_OK,
 * CREST_ERR_RANGE (more tiers than CREST_REPLAY_MAX_TIERS), CREST_ERR_NOMEM.
 */
crest_status crest_replay_create(const crest_policy *policy, const crest_replay_options *opt,
                                 crest_replay **out, crest_diag *diag);

/*
 * Resolve the label and revenue columns against the input's header: an
 * exact header name (ASCII case ignored) wins, else a canonical field name
 * (mapped by the policy). Call from the engine's header_hook.
 * Returns CREST_OK or CREST_ERR_MISSING (diag names the column).
 */
crest_status crest_replay_header(crest_replay *r, const crest_str *header, size_t n_cols, crest_diag *diag);

/* Add one decided declaration (from the decl_hook): reads its label and revenue.
 * Returns CREST_OK, CREST_ERR_NOMEM or CREST_ERR_IO (the temporary file;
 * crest_replay_diag says why). */
crest_status crest_replay_add_decl(crest_replay *r, const crest_decl *decl, const crest_decision *decision);

/*
 * The label (1, 0, or -1 when empty or unreadable) and the recoverable revenue
 * (0 when absent) of a declaration, read from the columns resolved by
 * crest_replay_header. For drivers that need labels without a decision.
 */
void crest_replay_read_label(const crest_replay *r, const crest_decl *decl, int *illicit, double *revenue);

/*
 * Add one decision with its label given directly (tests, other drivers).
 * illicit: 1, 0, or -1 when unlabelled (counted as 0). revenue: recoverable
 * revenue (NaN reads as 0). Returns CREST_OK, CREST_ERR_NOMEM or
 * CREST_ERR_IO (as crest_replay_add_decl).
 */
crest_status crest_replay_add(crest_replay *r, const crest_decision *decision, int32_t date_days, int illicit,
                              double revenue);

/*
 * The capacity cap's outcome for the decision added as the ordinal-th (from
 * 0) by crest_replay_add / crest_replay_add_decl (options.capacity = 1): call
 * it for every decision in order, as the engine's capacity hook does. A
 * deferred selection stops counting as inspected (no hit, no revenue, not in
 * the HT estimate; `deferred`); an overflow one stays inspected (`overflow`).
 * Returns CREST_OK, or CREST_ERR_STATE when the ordinal was not a RED
 * selection that is still waiting.
 */
crest_status crest_replay_capacity(crest_replay *r, uint64_t ordinal, crest_capacity_outcome outcome);

/*
 * Compute every metric (sorts the ranking, or merges its runs from the
 * temporary file, in one pass). After this, add no more rows. Returns
 * CREST_OK, CREST_ERR_NOMEM or CREST_ERR_IO (crest_replay_diag says why).
 */
crest_status crest_replay_finish(crest_replay *r);

/*
 * Rows of the ranking kept in memory before they are sorted and written to
 * the temporary file (default 131 072, i.e. 4 MiB; the environment variable
 * CREST_REPLAY_BUFFER_ROWS sets the default of crest_replay_create), and the
 * most runs merged at once (0: the default, 128; more runs are merged in
 * steps at finish). Neither changes a result, only memory and disk use; the
 * tests force the file with a few rows. Call before the first row.
 * Returns CREST_OK, CREST_ERR_STATE (rows added) or CREST_ERR_RANGE
 * (rows 0 or above 2^32 − 1, fan_in 1).
 */
crest_status crest_replay_set_buffer(crest_replay *r, size_t rows, size_t fan_in);
/* 1 when r has written ranking rows to its temporary file. */
int crest_replay_spilled(const crest_replay *r);
/*
 * Detail of the last failure of crest_replay_add (and _add_decl), _merge,
 * _load or _finish: out of memory, or the temporary file could not be
 * created, written or read back (its directory and the system's reason);
 * NULL when none. Owned by r.
 */
const crest_diag *crest_replay_diag(const crest_replay *r);

/* Metrics after crest_replay_finish: the total, and the periods in key order. */
const crest_replay_metrics *crest_replay_total(const crest_replay *r);
size_t crest_replay_period_count(const crest_replay *r);
const crest_replay_metrics *crest_replay_period_at(const crest_replay *r, size_t i);
const crest_policy *crest_replay_policy(const crest_replay *r);

/*
 * Precision, recall and revenue share of the top k rows of a ranking, ties at
 * the cut shared pro rata. score/illicit/revenue: n rows (revenue may be
 * NULL); order: the rows' indices sorted by score descending (NaN last).
 * Writes the hits and revenue in the top k (fractional with ties).
 */
void crest_replay_topk(const double *score, const uint8_t *illicit, const double *revenue,
                       const size_t *order, size_t n, uint64_t k, double *hits, double *revenue_caught);

/* The gain curve crest_replay_finish computes (other point counts take another pass). */
#define CREST_REPLAY_GAIN_POINTS 101

/*
 * Gain curve of the total risk ranking, after crest_replay_finish: for
 * i = 0 .. n_points − 1 the share inspected x[i] = i / (n_points − 1), the
 * share of illicit rows in the top ceil(x · rows) y[i], and the share of
 * revenue rev[i] (NaN without revenue); ties at the cut pro rata.
 * CREST_REPLAY_GAIN_POINTS points are kept from finish; another n_points
 * walks the ranking again (from the temporary file when it was written).
 * Returns CREST_OK, CREST_ERR_STATE (not finished), CREST_ERR_RANGE
 * (n_points < 2), CREST_ERR_NOMEM or CREST_ERR_IO.
 */
crest_status crest_replay_gain(const crest_replay *r, size_t n_points, double *x, double *y, double *rev);

/*
 * Quality of the total risk ranking, after crest_replay_finish: the ROC AUC
 * (the chance that an illicit row scores above a licit one, ties counting
 * one half; NaN without both classes) and the average precision
 * Σ (R_k − R_{k−1}) · P_k over the thresholds between groups of tied scores
 * (scikit-learn's definition; NaN without illicit rows). NaN scores rank
 * last, tied with each other. Computed by crest_replay_finish. Returns
 * CREST_OK or CREST_ERR_STATE.
 */
crest_status crest_replay_ranking_quality(const crest_replay *r, double *auc, double *ap);

/*
 * 1 when the history covers period i (crest_replay_period_at) only in part:
 * its first date is after the period's first day or its last date before
 * the period's last day (a week the data starts on a Wednesday); 0 else,
 * and for the undated rows. days: the period's days the history covers.
 */
int crest_replay_period_partial(const crest_replay *r, size_t i, unsigned *days);

/* Which policies a report covers: accumulators and display names. */
typedef struct crest_replay_set {
    const crest_replay *const *reps;
    const char *const *names; /* e.g. the policy file's base name */
    size_t n;
    const char *input_name;
    int partial; /* 1: interrupted, the counts cover what was read */
} crest_replay_set;

/*
 * CSV writers (caller frees; NULL on OOM). Numbers are printed with "%.10g"
 * (deterministic), undefined values as empty fields.
 *  periods: one row per policy and period, then its "total" row.
 *  tiers:   one row per policy, period (and total) and tier.
 */
char *crest_replay_csv_periods(const crest_replay_set *set);
char *crest_replay_csv_tiers(const crest_replay_set *set);
/* Everything as one JSON object (newline-terminated). Caller frees. */
char *crest_replay_json(const crest_replay_set *set);

/* The header line of the per-decision export (crest_replay_decision_row). */
extern const char crest_replay_decisions_header[];
/* The same with a risk_prob column after risk_score (crest_replay_decisions_prob). */
extern const char crest_replay_decisions_header_prob[];
/* Rows of r's export carry a risk_prob cell after risk_score (on = 1; empty
 * when the decision has none): for an export where any policy's model carries
 * a calibration (crest_policy_model_calibrated). Default off. */
void crest_replay_decisions_prob(crest_replay *r, int on);

/*
 * One row of the per-decision export (`crest replay --decisions`), after
 * crest_replay_header: policy (its display name), decl_id, period (its label;
 * empty with CREST_REPLAY_PERIOD_NONE or no date), tier, risk_score, (with
 * crest_replay_decisions_prob: risk_prob), p,
 * p_random, p_forced and u at full precision (shortest round-trip;
 * risk_score empty without a risk layer), decision (INSPECT/RELEASE),
 * selected_by (forced, random or risk as in the path counts; empty when
 * released), illicit (1, 0, or empty when unlabelled) and revenue, ending in a
 * newline. Caller frees; NULL when out of memory.
 */
char *crest_replay_decision_row(const crest_replay *r, const char *policy_name, const crest_decl *decl,
                                const crest_decision *decision);
/* Why an inspected row was selected: "forced", "random" or "risk" ("" when released). */
const char *crest_replay_selected_by(const crest_decision *decision);

/*
 * Engine hooks that feed r: sets opt->header_hook, decl_hook and hook_ctx so
 * that an engine created with opt resolves the label columns from its header
 * and adds every decided declaration to r (crest_replay_add_decl), and with
 * options.capacity the cap's outcomes (crest_replay_capacity; the engine then
 * needs decide = 1 and an output sink), with no code of the caller's per row. When a hook fails the engine
 * stops (CREST_ERR_INTERRUPTED) and crest_replay_attach_diag says why.
 */
void crest_replay_attach(crest_replay *r, crest_run_options *opt);
/* What stopped the hooks of crest_replay_attach; NULL when nothing did. Owned by r. */
const crest_diag *crest_replay_attach_diag(const crest_replay *r);

/*
 * Adds other's rows to r, both unfinished and of the same policy and period:
 * counts and sums per period, tier and path are added, the ranking rows
 * appended (other's sorted runs copied into r's temporary file as they are),
 * so that after crest_replay_finish r holds the metrics of the union of the
 * rows (counts exactly; sums of revenue and of the HT terms up to the
 * rounding of a different summation order). Returns CREST_OK,
 * CREST_ERR_STATE (finished, not the same tiers and period, or selections
 * still waiting for the capacity cap's outcome), CREST_ERR_NOMEM or
 * CREST_ERR_IO (crest_replay_diag).
 */
crest_status crest_replay_merge(crest_replay *r, const crest_replay *other);

/*
 * The state of an unfinished replay as bytes (to move it between processes,
 * e.g. the workers of a cluster); *len receives their count. Only the same
 * build of crest reads them (crest_replay_load checks). The bytes hold every
 * ranking row (32 bytes a row; the runs of the temporary file are read back
 * into them): the saved state is as big as the rows, in memory. Free with
 * crest_replay_free_saved. NULL when r is finished, waits for capacity
 * outcomes, out of memory, or the temporary file cannot be read.
 */
void *crest_replay_save(const crest_replay *r, size_t *len);
/* Free bytes of crest_replay_save; NULL is a no-op. */
void crest_replay_free_saved(void *buf);
/*
 * Merges saved bytes into r as crest_replay_merge would. Returns CREST_OK, or
 * with diag CREST_ERR_VERSION (another build), CREST_ERR_MISMATCH (another
 * policy or period), CREST_ERR_INVALID (truncated), CREST_ERR_STATE, CREST_ERR_NOMEM,
 * CREST_ERR_IO (the temporary file). The loaded runs go to r's temporary file.
 */
crest_status crest_replay_load(crest_replay *r, const void *buf, size_t len, crest_diag *diag);

/* Free; NULL is a no-op. */
void crest_replay_free(crest_replay *r);

/*
 * The policy's workload per office and day (crest_workload_json's object:
 * per office and over all offices the office-days, the expected, realised and
 * RED inspections per day as mean, p95 and max, the cap, deferrals and
 * overflows), copied and written as its "workload" in crest_replay_json; NULL
 * removes it. Returns CREST_OK or CREST_ERR_NOMEM.
 */
crest_status crest_replay_workload_json(crest_replay *r, const char *json);

#ifdef __cplusplus
}
#endif
#endif
