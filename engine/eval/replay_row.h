/*
 * replay_row.h — what a replay accumulator keeps of one decision: the
 * decision reduced to the fields the metrics and the ranking read, 32 bytes,
 * and how it is made: the label and revenue read from the declaration
 * (replay_reader, inlined into the recording hook of the shared reading).
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
#include <string.h>

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

/* Inlined into each caller: the steps of a row on the deciding thread. */
#if defined(__GNUC__) || defined(__clang__)
#define REPLAY_ROW_INLINE inline __attribute__((always_inline))
#else
#define REPLAY_ROW_INLINE inline
#endif

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
static REPLAY_ROW_INLINE void replay_row_of(const crest_decision *decision, int32_t date_days, int illicit,
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

/* Where a value comes from: a header column, a canonical field, or nothing. */
typedef struct replay_source {
    long col;  /* header column, or -1 */
    int field; /* canonical field, or -1 */
} replay_source;

/* What a replay reads of a declaration beside its decision: the label and
 * the revenue, from the sources crest_replay_header resolved. */
typedef struct replay_reader {
    replay_source label, revenue, rate, rbase;
    int revenue_kind; /* REPLAY_REVENUE_* */
    int has_rbase;    /* the proxy's base is a column (else the declared_value field) */
    /* 1: the policy has no [fx] table, so a declared value the engine did not
     * parse (NaN) is read from its text. */
    int value_text;
} replay_reader;

/* replay_reader.revenue_kind */
#define REPLAY_REVENUE_NONE 0   /* no revenue: 0 */
#define REPLAY_REVENUE_COLUMN 1 /* --revenue: a column */
#define REPLAY_REVENUE_PROXY 2  /* --revenue-rate: label x rate / 100 x base */

static inline crest_str replay_value_of(const crest_decl *d, replay_source s)
{
    if (s.col >= 0 && (size_t)s.col < d->n_cols)
        return d->cols[s.col];
    if (s.field >= 0)
        return d->field[s.field];
    return (crest_str){NULL, 0};
}

/* 1 when the 4 bytes of x are ASCII digits: each byte's high nibble is 3,
 * and still 3 after adding 6 (a byte of 0xfa or more, whose carry could
 * reach the next byte, fails the first test itself). */
static inline int replay_digits4(uint32_t x)
{
    return ((x & 0xf0f0f0f0u) | (((x + 0x06060606u) & 0xf0f0f0f0u) >> 4)) == 0x33333333u;
}

/* A label's text as 1 (a number other than 0), 0, or -1 (empty or not a
 * number), as crest_parse_number reads it. Digits alone (the usual label: 0
 * or 1, or a code standing in for one) are read here: under 64 of them
 * crest_parse_number gives a finite number, 0 only when every digit is 0.
 * Up to 8 bytes take two 4-byte words (overlapping; under 4 bytes, the
 * bytes padded with '0'), tested at once. */
static REPLAY_ROW_INLINE int replay_label_of(crest_str v)
{
    const unsigned char *s = (const unsigned char *)v.ptr;
    const size_t n = v.len;
    if (n - 1 < 8) {
        uint32_t a, b;
        if (n >= 4) {
            memcpy(&a, s, 4);
            memcpy(&b, s + n - 4, 4);
        } else {
            a = b = (uint32_t)s[0] | (uint32_t)s[n >> 1] << 8 | (uint32_t)s[n - 1] << 16 | 0x30u << 24;
        }
        if (replay_digits4(a) && replay_digits4(b))
            return ((a | b) & 0x0f0f0f0fu) != 0;
    } else if (n && n < 64) {
        unsigned nonzero = 0;
        size_t i = 0;
        for (; i < n && (unsigned)(s[i] - '0') < 10; i++)
            nonzero |= (unsigned)(s[i] - '0');
        if (i == n)
            return nonzero != 0;
    }
    const double y = crest_parse_number(v.ptr, v.len);
    return isnan(y) ? -1 : y != 0;
}

/* The label (1, 0, -1) and revenue (0 for NaN) of a declaration.
 * Only reads rd: any thread, at the same time. */
static REPLAY_ROW_INLINE void replay_read_label(const replay_reader *rd, const crest_decl *decl,
                                                int *illicit_out, double *revenue_out)
{
    const int illicit = replay_label_of(replay_value_of(decl, rd->label));
    double revenue = 0;
    if (rd->revenue_kind == REPLAY_REVENUE_COLUMN) {
        const crest_str v = replay_value_of(decl, rd->revenue);
        revenue = crest_parse_number(v.ptr, v.len);
    } else if (rd->revenue_kind == REPLAY_REVENUE_PROXY && illicit == 1) {
        /* the proxy is 0 for the others: nothing to parse */
        const crest_str rv = replay_value_of(decl, rd->rate);
        const double rate = crest_parse_number(rv.ptr, rv.len);
        double base = decl->declared_value;
        if (rd->has_rbase) {
            const crest_str bv = replay_value_of(decl, rd->rbase);
            base = crest_parse_number(bv.ptr, bv.len);
        }
        /* The engine parses numbers only for a risk layer, an [fx] table or a
         * decl_hook: the declarations of a recording hook (the shared reading,
         * crest_replay_multi.h) may carry NaN for a value their text holds.
         * With [fx] a NaN is the engine's (no rate on the date): kept. */
        if (isnan(base) && !rd->has_rbase && rd->value_text && decl->field[CREST_FIELD_DECLARED_VALUE].ptr)
            base = crest_parse_number(decl->field[CREST_FIELD_DECLARED_VALUE].ptr,
                                      decl->field[CREST_FIELD_DECLARED_VALUE].len);
        revenue = rate / 100.0 * base;
    }
    *illicit_out = illicit;
    *revenue_out = isnan(revenue) ? 0.0 : revenue;
}

/* The row of a declaration's decision, its label and revenue read by rd.
 * Only reads rd: any thread, at the same time. */
static REPLAY_ROW_INLINE void replay_row_make(const replay_reader *rd, const crest_decl *decl,
                                              const crest_decision *decision, replay_row *out)
{
    int illicit;
    double revenue;
    replay_read_label(rd, decl, &illicit, &revenue);
    replay_row_of(decision, decl->date_days, illicit, revenue, out);
}

/* The reader of r (valid as long as r; its sources once crest_replay_header ran). */
const replay_reader *replay_reader_of(const crest_replay *r);

/* Add one row, as crest_replay_add adds a decision (same statuses, same diag). */
crest_status replay_row_add(crest_replay *r, const replay_row *row);
/* Add n rows stored one after the other at rows (any alignment), in order;
 * stops at the first that fails (its status; replay_row_add's). */
crest_status replay_rows_add(crest_replay *r, const void *rows, size_t n);

#endif
