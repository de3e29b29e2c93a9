/*
 * crest_summary.h — what a risk officer reads after a run: rows in =
 * decisions + rejects, and per tier the rows, inspections, realised rate with
 * a 95% Clopper–Pearson interval, the target and whether the interval is
 * consistent with it; the ratio of each relative tier to the base tier (the
 * AEO/regular ratio) with a 95% Katz interval. Rendered as text or JSON.
 */
#ifndef CREST_SUMMARY_H
#define CREST_SUMMARY_H

#include "crest/crest_export.h"

#include "crest/crest_engine.h"
#include "crest/crest_policy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct crest_summary_info {
    const char *input_name; /* shown in the header line */
    double elapsed_s;       /* wall time of the run; < 0 to omit timing */
    int partial;            /* 1 when the run did not complete: counts cover only what was read */
    /* How a run that did not complete ended, e.g. "interrupted", "output_error",
     * "downstream_closed", "input_error"; NULL for "interrupted" when partial, and
     * for a complete run (the JSON then has no "ending" key). */
    const char *ending;
} crest_summary_info;

/*
 * Render the summary as human-readable text (aligned table, newline at the
 * end). Returns a malloc'd NUL-terminated string (caller frees), NULL on OOM.
 */
CREST_API char *crest_summary_text(const crest_policy *policy, const crest_run_stats *stats,
                                   const crest_summary_info *info);

/*
 * The reject budget of a run: CREST_ERR_RANGE with diag saying why when every
 * row was rejected, or when more than max_rate of the rows were (NaN: the
 * policy's [input] max_reject_rate, default 0.5); CREST_OK otherwise (and for
 * an input without rows). The run itself has accounted for every row.
 */
CREST_API crest_status crest_summary_reject_budget(const crest_policy *policy, const crest_run_stats *stats,
                                                   double max_rate, crest_diag *diag);

/*
 * NULL when every floor tier met its floor in every calendar month of the
 * run (judged on the realised rate); otherwise a one-line message naming the
 * tier-months under the floor, for the CLI to print on stderr even with -q
 * (malloc'd; the caller frees). NULL on OOM too.
 */
CREST_API char *crest_summary_floor_warning(const crest_policy *policy, const crest_run_stats *stats);

/* Render the same content as one JSON object (newline-terminated). Caller frees. */
CREST_API char *crest_summary_json(const crest_policy *policy, const crest_run_stats *stats,
                                   const crest_summary_info *info);

/*
 * The control windows as CSV: per window and tier the rows, target, expected
 * and realised rate with its 95% interval, whether the target holds, forced
 * and deferred counts and the adaptive multiplier; then per window the ratio
 * of each relative tier to the base tier with its interval. Caller frees.
 */
CREST_API char *crest_summary_windows_csv(const crest_policy *policy, const crest_window_stats *windows,
                                          size_t n);

#ifdef __cplusplus
}
#endif
#endif
