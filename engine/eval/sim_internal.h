/*
 * sim_internal.h — what simulate.c shares with study.c inside libcrest_eval:
 * the per-period CSV columns of a simulation and the writer of one row.
 */
#ifndef CREST_SIM_INTERNAL_H
#define CREST_SIM_INTERNAL_H

#include "crest/crest_simulate.h"
#include "textbuf.h"

/* The columns of crest_sim_csv, comma-separated, without a newline. */
extern const char sim_csv_columns[];
/* One row of those columns for m (no newline). */
void sim_csv_row(textbuf *tb, const crest_sim_metrics *m);

#endif
