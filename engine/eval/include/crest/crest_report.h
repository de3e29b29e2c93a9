/*
 * crest_report.h — the report directory of `crest replay`: the replay's data
 * (replay.json, periods.csv, tiers.csv, gain.csv) or the simulation's
 * (simulate.csv, simulate.json), gnuplot scripts with their .dat files, the
 * plots when gnuplot is in PATH, and an index.html that shows it all.
 *
 * Part of libcrest_eval (engine/eval/), above libcrest. It writes files
 * (each through a temporary name and a rename) and may run gnuplot; it never
 * prints: what the user should know comes back as notes, failures as a
 * status with a diag. No timestamps: the same inputs give the same bytes.
 */
#ifndef CREST_REPORT_H
#define CREST_REPORT_H

#include "crest/crest_base.h"
#include "crest/crest_replay.h"
#include "crest/crest_simulate.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a report did besides its files. */
typedef struct crest_report_result {
    int plotted;      /* 1 when gnuplot made the plots */
    char notes[1024]; /* lines for the user (gnuplot missing or failing), each ending in '\n'; "" if none */
} crest_report_result;

/*
 * Make sure dir exists and is a directory (created with mode 0777 & umask
 * when missing). Returns CREST_OK or CREST_ERR_IO (diag says why).
 */
crest_status crest_report_dir(const char *dir, crest_diag *diag);

/*
 * Write the replay of set into dir: replay.json, periods.csv, tiers.csv,
 * gain.csv, plots.gp with its .dat files, the plots and index.html. period
 * names the period for the page ("week"); plots is "auto" (PNG when gnuplot
 * has a PNG terminal, else SVG), "png", "svg" or "none" (data and script
 * only). Every file is attempted; returns CREST_OK, CREST_ERR_INVALID (plots
 * unknown), CREST_ERR_IO (the first file that could not be written, in
 * diag), CREST_ERR_NOMEM. *res is filled in every case.
 */
crest_status crest_report_replay(const char *dir, const crest_replay_set *set, const char *period,
                                 const char *plots, crest_report_result *res, crest_diag *diag);

/* What the simulation page says about the run (the simulation's own options are not readable). */
typedef struct crest_report_sim {
    const crest_sim *sim; /* after crest_sim_run */
    const char *name;     /* the policy's label */
    const char *input;    /* the history's name */
    const char *period;   /* "week" */
    double rate;          /* first-period rate */
    double final_rate;    /* < 0 or NaN: constant rate */
    int decay_exp;        /* geometric decay */
    double explore;
    int partial; /* the read was interrupted */
} crest_report_sim;

/*
 * Write the simulation into dir: simulate.csv, simulate.json, plots.gp with
 * simulate.dat, the plot and index.html. plots and the statuses as
 * crest_report_replay.
 */
crest_status crest_report_simulate(const char *dir, const crest_report_sim *s, const char *plots,
                                   crest_report_result *res, crest_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
