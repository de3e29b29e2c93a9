/*
 * rowbatch.h — a block worker's rows held back a moment, so that their draws
 * are hashed together.
 *
 * Each decision draws u from SipHash-2-4 of its decl_id (crest_keyhash.h).
 * One hash at a time, the rounds wait on each other; a few ids at once in
 * vector lanes (crest_keyhash_siphash24_many) cost a fraction. So a block
 * worker (blocks.c, multi.c) holds up to ROWBATCH_ROWS rows of its block,
 * hashes their ids at once, and decides them in input order, each with its
 * hash handed over in crest_selection.pre_id/pre_len/pre_hash (select.c takes
 * it only for that very id view). The hash is the same value, so the
 * decisions are the same. The reader keeps the rows it gives for a moment
 * (csvread_set_keep: no copy); a row is held when it was kept and has the
 * header's shape. Any other row first decides the rows held, so the order
 * holds, and the rows still held when the block's reading returns are
 * decided then.
 * Internal to the engine.
 */
#ifndef CREST_ROWBATCH_H
#define CREST_ROWBATCH_H

#include <stdint.h>

#include "crest/crest_keyhash.h"
#include "csvread.h"

/* 8: one AVX-512 vector of hashes, or two AVX2 ones. */
#define ROWBATCH_ROWS 8

typedef struct rowbatch {
    size_t n;      /* rows held */
    size_t n_cols; /* fields of a row that may be held (the header's); 0: none is */
    const csvread_row *row[ROWBATCH_ROWS];
} rowbatch;

/* Let rows of n_cols fields be held (0: none) from reader r, which keeps
 * ROWBATCH_ROWS rows for it (csvread_set_keep); out of memory, none is. */
static inline void rowbatch_setup(rowbatch *b, csvread *r, size_t n_cols)
{
    b->n = 0;
    if (n_cols == b->n_cols)
        return;
    b->n_cols = n_cols && csvread_set_keep(r, ROWBATCH_ROWS) == 0 ? n_cols : 0;
}

/* Hold row when the reader keeps it and it has the header's shape: 1 held
 * (rowbatch_full: decide the rows held now), 0 not (the caller decides the
 * rows held, then it). Hot path. */
static inline int rowbatch_hold(rowbatch *b, const csvread_row *row)
{
    if (!row->kept || row->n_fields != b->n_cols || b->n == ROWBATCH_ROWS)
        return 0;
    b->row[b->n++] = row;
    return 1;
}

static inline int rowbatch_full(const rowbatch *b)
{
    return b->n == ROWBATCH_ROWS;
}

/* The draws' hashes of the held rows under (k0, k1), their decl_id in
 * column id_col: ids[i] and h[i] for row i. */
static inline void rowbatch_hash(const rowbatch *b, size_t id_col, uint64_t k0, uint64_t k1,
                                 crest_str ids[ROWBATCH_ROWS], uint64_t h[ROWBATCH_ROWS])
{
    for (size_t i = 0; i < b->n; i++)
        ids[i] = b->row[i]->fields[id_col];
    crest_keyhash_siphash24_many(k0, k1, ids, b->n, h);
}

#endif
