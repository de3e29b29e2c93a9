/*
 * crest_report_workload.h — the workload section of `crest replay --workload`'s
 * report: per policy the workload per office and day (crest_workload.h) as
 * files in the report directory, a plot and a section of index.html.
 *
 * Part of libcrest_eval, apart from report.c: it adds to a report that
 * crest_report_replay has written (its index.html gets the section before its
 * closing body tag). Writes files through a temporary name and a rename, may
 * run gnuplot, never prints. The same inputs give the same bytes.
 */
#ifndef CREST_REPORT_WORKLOAD_H
#define CREST_REPORT_WORKLOAD_H

#include "crest/crest_policy.h"
#include "crest/crest_report.h"
#include "crest/crest_workload.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One policy's workload: its label, policy and the cells of its run. */
typedef struct crest_report_workload_policy {
    const char *name;
    const crest_policy *policy;
    const crest_workload_cell *cells;
    size_t n_cells;
} crest_report_workload_policy;

/*
 * Write into dir: workload.csv (policy, then crest_workload_csv's columns:
 * one row per office and day), workload.json (per policy crest_workload_json),
 * workload_K.dat and workload.gp (per office: mean expected and realised
 * inspections per day, realised p95 and maximum, the office's cap), the plots
 * workload_K.png or .svg (plots as crest_report_replay: "auto", "png",
 * "svg", "none") and the section "Workload per office and day" of
 * dir/index.html. Every file is attempted; returns CREST_OK,
 * CREST_ERR_INVALID (plots unknown), CREST_ERR_IO (the first file that could
 * not be written, in diag), CREST_ERR_NOMEM. res->plotted says whether
 * gnuplot made the plots; notes are appended to res->notes.
 */
crest_status crest_report_workload(const char *dir, const crest_report_workload_policy *pols, size_t n,
                                   const char *plots, crest_report_result *res, crest_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
