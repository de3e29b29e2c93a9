/*
 * gnuplot_run.h — running gnuplot for the reports (report.c, report_workload.c).
 * Internal to libcrest_eval.
 */
#ifndef CREST_GNUPLOT_RUN_H
#define CREST_GNUPLOT_RUN_H

/*
 * Runs gnuplot in dir, on a script file (is_e = 0) or on -e text (is_e = 1,
 * quietly: its output goes to /dev/null). Returns gnuplot's exit status, -1
 * when it could not run.
 */
int crest_eval_run_gnuplot(const char *dir, const char *script_or_e, int is_e);

#endif
