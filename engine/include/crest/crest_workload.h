/*
 * crest_workload.h — workload per office and day: what a run asks of each
 * customs office, day by day, next to what the office can carry out.
 *
 * With crest_run_options.windows | CREST_WINDOWS_WORKLOAD the engine counts
 * per office, day and tier the declarations, the expected inspections (the
 * sum of P(inspect), before any capacity cap) and the realised ones (after
 * the cap: a RED selection deferred to BLUE is not an inspection), RED among
 * them, and the capacity cap's deferrals and overflows
 * (crest_engine_workload). The renderers below turn those cells into what an
 * analyst reads: per office the mean, 95th percentile and maximum per day of
 * the expected and realised inspections with the office's cap ([capacity]
 * offices or red_per_office_day), as text, JSON or CSV; and the control
 * windows' table regrouped by week, month or office.
 *
 * Days on which an office had no declaration are not office-days here: the
 * statistics are over the days the office worked. The renderers allocate
 * their result (caller frees; NULL when out of memory) and never print.
 */
#ifndef CREST_WORKLOAD_H
#define CREST_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_engine.h"
#include "crest/crest_export.h"
#include "crest/crest_policy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* crest_run_options.windows is a set of these flags (1 keeps its old meaning). */
#define CREST_WINDOWS_CONTROL 1  /* control windows (crest_engine_windows) */
#define CREST_WINDOWS_WORKLOAD 2 /* workload cells (crest_engine_workload) */

/* The counts of one office, day and tier. */
typedef struct crest_workload_cell {
    const char *office; /* the office column's value (NUL-terminated, owned by the engine) */
    int32_t day;        /* days since 1970-01-01; CREST_DATE_NONE for undated rows */
    uint32_t tier;      /* tier index */
    uint64_t rows;      /* declarations */
    uint64_t inspected; /* realised inspections (any lane), after the capacity cap */
    uint64_t red;       /* of them in the RED lane */
    uint64_t forced;    /* inspections a criterion forced */
    uint64_t deferred;  /* RED selections the cap deferred to BLUE (not inspected) */
    uint64_t overflow;  /* RED selections over the cap that could not be deferred (inspected) */
    double expected;    /* expected inspections: the sum of P(inspect), before the cap */
} crest_workload_cell;

/*
 * The workload cells of the run so far (complete after crest_engine_finish),
 * in the order they first occurred; *n receives their count. NULL and 0
 * unless the run was created with CREST_WINDOWS_WORKLOAD. Valid until
 * crest_engine_free.
 */
CREST_API const crest_workload_cell *crest_engine_workload(const crest_engine *engine, size_t *n);

/* Mean, 95th percentile (nearest rank) and maximum of a per-day count. */
typedef struct crest_workload_spread {
    double mean, p95, max;
} crest_workload_spread;

/* One office's workload over its office-days (office NULL: all offices together). */
typedef struct crest_workload_office {
    const char *office; /* the cells' string (valid as long as they are) */
    uint64_t days;      /* office-days: days with at least one declaration */
    uint64_t rows, deferred, overflow, forced;
    crest_workload_spread expected;  /* sum of P(inspect) per day, before the cap */
    crest_workload_spread inspected; /* inspections per day, after the cap */
    crest_workload_spread red;       /* RED inspections per day, after the cap */
    int capped;                      /* capped on some of its days */
    unsigned long cap_min, cap_max;  /* its cap over those days */
    uint64_t days_cap_bound;         /* days its RED selections (before deferral) exceeded the cap */
} crest_workload_office;

/*
 * Per office (sorted by name), then one last entry for all offices together
 * (office NULL): *n_out receives the count including it. Caller frees the
 * array; NULL when out of memory.
 */
CREST_API crest_workload_office *
crest_workload_offices(const crest_policy *policy, const crest_workload_cell *cells, size_t n, size_t *n_out);

/*
 * The workload per office as a text table: per office its office-days,
 * declarations, expected and realised inspections per day (mean, p95, max),
 * RED per day (max), its cap, the days its RED selections exceeded the cap
 * (before deferral), deferrals and overflows; then the same over all offices.
 * Offices sorted by name. Newline-terminated.
 */
CREST_API char *crest_workload_text(const crest_policy *policy, const crest_workload_cell *cells, size_t n);

/* The same as one JSON object ({"office_days":..,"offices":[..],"all":{..}}), no newline. */
CREST_API char *crest_workload_json(const crest_policy *policy, const crest_workload_cell *cells, size_t n);

/*
 * One CSV row per office and day (all tiers): office, day, rows, expected,
 * inspected, red, cap (empty when uncapped), deferred, overflow, forced.
 * Sorted by office, then day.
 */
CREST_API char *crest_workload_csv(const crest_policy *policy, const crest_workload_cell *cells, size_t n);

/* How crest_workload_windows_csv groups the cells. */
typedef enum crest_window_group {
    CREST_GROUP_DAY = 0,
    CREST_GROUP_WEEK,  /* Monday to Sunday, labelled by its Monday */
    CREST_GROUP_MONTH, /* labelled YYYY-MM */
    CREST_GROUP_OFFICE
} crest_window_group;

/* "day", "week", "month", "office" -> group: 0, or -1 when unknown. */
CREST_API int crest_window_group_parse(const char *text, crest_window_group *out);

/*
 * The control windows' table (crest_summary_windows_csv's columns, without
 * the multiplier) with windows a day, week, month or office: per window and
 * tier rows, target, expected and realised rate with its 95% interval,
 * whether the target holds, inspected, forced, deferred; then per window the
 * ratio of each relative tier to the base tier.
 */
CREST_API char *crest_workload_windows_csv(const crest_policy *policy, const crest_workload_cell *cells,
                                           size_t n, crest_window_group group);

#ifdef __cplusplus
}
#endif
#endif
