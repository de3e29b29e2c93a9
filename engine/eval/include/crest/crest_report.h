/*
 * crest_report.h — the report directory of `crest replay`: the replay's data
 * (replay.json, periods.csv, tiers.csv, gain.csv) or the simulation's
 * (simulate.csv, simulate_summary.csv, simulate.json), gnuplot scripts with their .dat files, the
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
#include "crest/crest_study.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Where a report's numbers come from, printed in its provenance block (with
 * the library's version and commit, and the policies' hashes). NULL fields
 * are left out.
 */
typedef struct crest_report_provenance {
    const char *command;      /* the command line, as typed */
    const char *input_sha256; /* the input's SHA-256 (64 hex digits); NULL: not hashed (stdin) */
    const char *seeds;        /* the seeds of a simulation ("1-20") */
} crest_report_provenance;

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

/*
 * crest_report_replay with a provenance block (prov may be NULL). index.html
 * is one self-contained page: its figures are inline SVG (precision, recall
 * and revenue share per period with every policy on one set of axes, the
 * realised rate per tier, the gain curve), each also written as an .svg file
 * for papers (fig_*.svg).
 */
crest_status crest_report_replay_ex(const char *dir, const crest_replay_set *set, const char *period,
                                    const char *plots, const crest_report_provenance *prov,
                                    crest_report_result *res, crest_diag *diag);

/* What the simulation page shows: the study's runs and what the page says about them. */
typedef struct crest_report_sim {
    const crest_study *study;            /* its runs added */
    const char *input;                   /* the history's name */
    const char *period;                  /* "week", "14d" */
    const char *note;                    /* a note on failed refits ("" or NULL: none) */
    int partial;                         /* the read was interrupted */
    const crest_report_provenance *prov; /* NULL: no provenance block */
} crest_report_sim;

/*
 * Write the simulation study into dir: simulate.csv (every run and period
 * with its settings), simulate_summary.csv (mean and 95% interval over the
 * seeds), simulate.json, the figures (precision, recall and revenue share
 * per period, every strategy on one set of axes with its seed band) as
 * fig_*.svg and inline in index.html, one self-contained page. plots is
 * checked as for crest_report_replay (the figures need no gnuplot).
 */
crest_status crest_report_simulate(const char *dir, const crest_report_sim *s, const char *plots,
                                   crest_report_result *res, crest_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
