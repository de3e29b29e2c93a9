/*
 * rankstore.h — the rows of a replay's risk ranking kept in bounded memory:
 * an external sort. Internal to libcrest_eval (replay.c).
 *
 * Rows arrive in insertion order into a buffer of at most max_buf rows. While
 * every row fits, nothing touches the disk. When the buffer is full it is
 * sorted and written as a sorted run to one unlinked temporary file in
 * $TMPDIR (default /tmp): 32 bytes a row. A cursor then yields every row in
 * the ranking order by a k-way merge of the runs, with read buffers that
 * together take about max_buf rows; more than fan_in runs are first merged
 * fan_in at a time (at finish), so memory stays flat in the number of rows.
 *
 * The ranking order is total, so the merged stream is the same whatever the
 * buffer size: score descending (NaN last, -0 and +0 equal), then period key
 * ascending, then insertion order. Run i holds rows inserted before those of
 * run i + 1, so a merge that breaks ties by run index keeps insertion order.
 *
 * Rows that tie in that order and carry no revenue are interchangeable: the
 * metrics only sum their counts, and adding revenue 0 changes no sum. The
 * buffer combines them (a hash index over it): a row of revenue 0 whose
 * score and key equal those of a buffered combined row adds its counts to
 * that row instead of taking a place of its own. Rows with revenue keep
 * their own place, in insertion order, so every sum of revenue adds the same
 * numbers in the same order with or without combining. A policy whose scores
 * take few values per period (tier rates, rule weights) then keeps its whole
 * ranking in a few rows; unique scores cost one row each, as before.
 *
 * It neither computes metrics nor knows the policy; it never prints. Every
 * failing call returns a status and leaves the detail in the store's diag.
 */
#ifndef CREST_RANKSTORE_H
#define CREST_RANKSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "crest/crest_base.h"

/* One row of the ranking, or several combined; 32 bytes, in memory and on disk. */
typedef struct rank_row {
    double score;
    double revenue;   /* 0 in a combined row */
    int64_t key;      /* period key */
    uint32_t n;       /* declarations it stands for: 1, or more when combined */
    uint32_t illicit; /* of them labelled illicit */
} rank_row;

/* A sorted run in the temporary file: its first byte, its rows, the declarations they stand for. */
typedef struct rank_run {
    uint64_t offset, n, weight;
} rank_run;

typedef struct rank_store {
    rank_row *buf; /* unsorted rows since the last spill; after finish without runs: all rows, sorted */
    size_t n_buf, cap_buf, max_buf;
    size_t fan_in;     /* the most runs one merge reads */
    int fd;            /* the temporary file, -1 before the first spill */
    uint64_t file_len; /* bytes written to it */
    rank_run *runs;
    size_t n_runs, cap_runs;
    uint32_t *index;  /* combining: buffer places by score and key, UINT32_MAX empty */
    size_t cap_index; /* a power of two (0: not yet allocated), at most half full: */
    size_t n_indexed; /* its places in use */
    int combine;      /* 1: combine tied rows of revenue 0 (the default) */
    size_t hint;      /* 1 + the buffer's place of the combined row the last combining row went to; 0: none */
    size_t hint2;     /* the same for the combined row before that one (another row); 0: none */
    uint64_t n_rows;  /* declarations added in all (a combined row counts its n) */
    uint64_t n_stored; /* rows kept: in the runs and the buffer */
    int finished;      /* 1: sorted (buf) or all rows in at most fan_in runs */
    crest_diag diag;   /* detail of the last failure */
} rank_store;

/* Defaults: 131 072 rows (4 MiB) in memory, 128 runs merged at once. */
#define RANK_STORE_BUFFER_ROWS 131072
#define RANK_STORE_FAN_IN 128

/* An empty store (allocates nothing), combining. max_buf >= 1, fan_in >= 2. */
void rank_store_init(rank_store *s, size_t max_buf, size_t fan_in);
/* Turn combining off (on: 1) for the rows added from now on; no result changes. */
void rank_store_set_combine(rank_store *s, int on);
/* Free the buffers and close (and so delete) the temporary file. */
void rank_store_free(rank_store *s);

/* Add one row (row->n declarations, row->illicit of them illicit; n >= 1).
 * CREST_OK, CREST_ERR_NOMEM, CREST_ERR_IO. */
crest_status rank_store_add(rank_store *s, const rank_row *row);

/* rank_store_add's common case, inlined, for one declaration (n = 1) of
 * revenue 0: it joins the combined row the last combining row went to, or
 * the one before that (tied rows mostly come in runs, broken by a few rows
 * of other scores), when its score (the same bits) and key are that row's.
 * 1: added; 0: add the row with rank_store_add. */
static inline int rank_store_join(rank_store *s, double score, double revenue, int64_t key, uint32_t illicit)
{
    uint64_t bits, at;
    memcpy(&bits, &revenue, sizeof bits);
    if (!s->hint || bits << 1) /* hint is 0 while combining is off; bits << 1: revenue != 0 */
        return 0;
    memcpy(&bits, &score, sizeof bits);
    rank_row *r = &s->buf[s->hint - 1];
    memcpy(&at, &r->score, sizeof at);
    if (at != bits || r->key != key) {
        if (!s->hint2)
            return 0;
        r = &s->buf[s->hint2 - 1];
        memcpy(&at, &r->score, sizeof at);
        if (at != bits || r->key != key)
            return 0;
        const size_t h = s->hint;
        s->hint = s->hint2;
        s->hint2 = h;
    }
    if (r->n == UINT32_MAX)
        return 0;
    r->n++;
    r->illicit += illicit;
    s->n_rows++;
    return 1;
}

/* Add src's rows after s's rows (src unchanged). Both unfinished.
 * CREST_OK, CREST_ERR_NOMEM, CREST_ERR_IO. */
crest_status rank_store_append(rank_store *s, const rank_store *src);

/* The bytes rank_store_save writes: the run lengths (8 bytes each), then every kept row. */
size_t rank_store_saved_size(const rank_store *s);
/* Write the saved form to out (rank_store_saved_size bytes; reads the runs
 * back from the file). CREST_OK or CREST_ERR_IO. */
crest_status rank_store_save(const rank_store *s, void *out);
/* Add the rows of a saved form (n_runs run lengths, then n_stored rows) after
 * s's rows. CREST_OK, CREST_ERR_INVALID (the lengths exceed n_stored, or a
 * row stands for no declaration), CREST_ERR_NOMEM, CREST_ERR_IO. */
crest_status rank_store_load(rank_store *s, const void *in, uint64_t n_runs, uint64_t n_stored);

/* No more rows: sort the buffer (no runs) or spill it, and merge the runs
 * down to fan_in. Idempotent. CREST_OK, CREST_ERR_NOMEM, CREST_ERR_IO. */
crest_status rank_store_finish(rank_store *s);

/* A pass over a finished store's rows in the ranking order. */
typedef struct rank_cursor rank_cursor;
/* Open a pass (the store must outlive it; several may run at once).
 * CREST_OK or CREST_ERR_NOMEM (diag filled). */
crest_status rank_cursor_open(const rank_store *s, rank_cursor **out, crest_diag *diag);
/* The next row: 1, 0 at the end, -1 on a read error (rank_cursor_diag says which). */
int rank_cursor_next(rank_cursor *c, rank_row *row);
const crest_diag *rank_cursor_diag(const rank_cursor *c);
void rank_cursor_close(rank_cursor *c);

#endif
