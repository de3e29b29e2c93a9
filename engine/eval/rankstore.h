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
 * It neither computes metrics nor knows the policy; it never prints. Every
 * failing call returns a status and leaves the detail in the store's diag.
 */
#ifndef CREST_RANKSTORE_H
#define CREST_RANKSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_base.h"

/* One row of the ranking; 32 bytes, in memory and on disk. */
typedef struct rank_row {
    double score;
    double revenue;
    int64_t key;      /* period key */
    uint32_t pos;     /* insertion order within the buffer (the sort's last key) */
    uint8_t illicit;  /* 1: labelled illicit */
    uint8_t spare[3]; /* zero: the file and the saved state hold no undefined bytes */
} rank_row;

/* A sorted run in the temporary file: its first byte and its rows. */
typedef struct rank_run {
    uint64_t offset, n;
} rank_run;

typedef struct rank_store {
    rank_row *buf; /* unsorted rows since the last spill; after finish without runs: all rows, sorted */
    size_t n_buf, cap_buf, max_buf;
    size_t fan_in;     /* the most runs one merge reads */
    int fd;            /* the temporary file, -1 before the first spill */
    uint64_t file_len; /* bytes written to it */
    rank_run *runs;
    size_t n_runs, cap_runs;
    uint64_t n_rows; /* rows added in all */
    int finished;    /* 1: sorted (buf) or all rows in at most fan_in runs */
    crest_diag diag; /* detail of the last failure */
} rank_store;

/* Defaults: 131 072 rows (4 MiB) in memory, 128 runs merged at once. */
#define RANK_STORE_BUFFER_ROWS 131072
#define RANK_STORE_FAN_IN 128

/* An empty store (allocates nothing). max_buf >= 1, fan_in >= 2. */
void rank_store_init(rank_store *s, size_t max_buf, size_t fan_in);
/* Free the buffers and close (and so delete) the temporary file. */
void rank_store_free(rank_store *s);

/* Add one row (pos is set here). CREST_OK, CREST_ERR_NOMEM, CREST_ERR_IO. */
crest_status rank_store_add(rank_store *s, const rank_row *row);

/* Add src's rows after s's rows (src unchanged). Both unfinished.
 * CREST_OK, CREST_ERR_NOMEM, CREST_ERR_IO. */
crest_status rank_store_append(rank_store *s, const rank_store *src);

/* The bytes rank_store_save writes: the run lengths (8 bytes each), then every row. */
size_t rank_store_saved_size(const rank_store *s);
/* Write the saved form to out (rank_store_saved_size bytes; reads the runs
 * back from the file). CREST_OK or CREST_ERR_IO. */
crest_status rank_store_save(const rank_store *s, void *out);
/* Add the rows of a saved form (n_runs run lengths, then n_rows rows) after
 * s's rows. CREST_OK, CREST_ERR_INVALID (the lengths exceed n_rows),
 * CREST_ERR_NOMEM, CREST_ERR_IO. */
crest_status rank_store_load(rank_store *s, const void *in, uint64_t n_runs, uint64_t n_rows);

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
