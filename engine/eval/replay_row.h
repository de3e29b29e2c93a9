/*
 * replay_row.h — what a replay accumulator keeps of one decision: the
 * decision reduced to the fields the metrics and the ranking read, 32 bytes.
 * Internal to libcrest_eval (replay.c, replay_multi.c).
 *
 * The shared reading (replay_multi.c) makes these rows on its deciding
 * threads and hands them, in input order, to replay_row_add on the feeding
 * thread: the per-row work of the feeding thread is then only the counting.
 * crest_replay_add goes through the same row, so the two paths count alike.
 */
#ifndef CREST_REPLAY_ROW_H
#define CREST_REPLAY_ROW_H

#include <math.h>
#include <stdint.h>

#include "crest/crest_replay.h"

/* replay_row.flags */
#define REPLAY_ROW_INSPECT 1u            /* crest_decision.inspect */
#define REPLAY_ROW_FORCED 2u             /* .forced */
#define REPLAY_ROW_FORCED_INSENSITIVE 4u /* .forced_insensitive */
#define REPLAY_ROW_RANDOM_STREAM 8u      /* u < p_random: the row fell in the random stream */
/* replay_row.lane of a lane outside 0..4 (not counted per lane). */
#define REPLAY_ROW_NO_LANE 0xffu
/* replay_row.tier of a tier index the row cannot hold (above any policy's: an error when added). */
#define REPLAY_ROW_BAD_TIER 0xffu

typedef struct replay_row {
    double score;      /* crest_decision.score */
    double revenue;    /* recoverable revenue, 0 for NaN */
    double pi;         /* inclusion probability 1 − (1 − p_forced)(1 − p) */
    int32_t date_days; /* the declaration's date, CREST_DATE_NONE when it has none */
    uint8_t tier;      /* effective tier index, or REPLAY_ROW_BAD_TIER */
    uint8_t flags;     /* REPLAY_ROW_* */
    uint8_t lane;      /* 0..4, or REPLAY_ROW_NO_LANE */
    int8_t illicit;    /* 1, 0, or -1 when unlabelled */
} replay_row;

_Static_assert(CREST_REPLAY_MAX_TIERS < REPLAY_ROW_BAD_TIER, "a tier index fits a replay_row");

/* The row of a decision with its date, label and revenue (NaN reads as 0). */
static inline void replay_row_of(const crest_decision *decision, int32_t date_days, int illicit,
                                 double revenue, replay_row *out)
{
    out->score = decision->score;
    out->revenue = isnan(revenue) ? 0 : revenue;
    /* Inclusion probability: a forcing criterion or the draw. */
    out->pi = 1.0 - (1.0 - decision->p_forced) * (1.0 - decision->p);
    out->date_days = date_days;
    out->tier = decision->tier < REPLAY_ROW_BAD_TIER ? (uint8_t)decision->tier : REPLAY_ROW_BAD_TIER;
    out->flags = (uint8_t)((decision->inspect != 0) * REPLAY_ROW_INSPECT |
                           (decision->forced != 0) * REPLAY_ROW_FORCED |
                           (decision->forced_insensitive != 0) * REPLAY_ROW_FORCED_INSENSITIVE |
                           (decision->u < decision->p_random) * REPLAY_ROW_RANDOM_STREAM);
    out->lane = (unsigned)decision->lane < 5 ? (uint8_t)decision->lane : REPLAY_ROW_NO_LANE;
    out->illicit = (int8_t)(illicit == 1 ? 1 : illicit < 0 ? -1 : 0);
}

/* The row of a declaration's decision, its label and revenue read as
 * crest_replay_read_label does. Only reads r: any thread, at the same time. */
void replay_row_make(const crest_replay *r, const crest_decl *decl, const crest_decision *decision,
                     replay_row *out);

/* Add one row, as crest_replay_add adds a decision (same statuses, same diag). */
crest_status replay_row_add(crest_replay *r, const replay_row *row);
/* Add n rows stored one after the other at rows (any alignment), in order;
 * stops at the first that fails (its status; replay_row_add's). */
crest_status replay_rows_add(crest_replay *r, const void *rows, size_t n);

#endif
