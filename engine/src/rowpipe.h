/*
 * rowpipe.h — hand parsed CSV records from the parsing thread to one or more
 * consumer threads. Records are copied into batches (fields, raw bytes,
 * positions); a bounded queue keeps memory constant.
 *
 * With one consumer, records are consumed in input order. With several, each
 * consumer takes whole batches; after a batch its `batch_done` callback runs
 * strictly in batch order (a consumer waits for its turn), so a consumer that
 * renders into its own buffer during the batch can emit that buffer in
 * `batch_done` and the output stays in input order. Either way the consumer
 * sees every record exactly as csvread produced it.
 */
#ifndef CREST_ROWPIPE_H
#define CREST_ROWPIPE_H

#include <stdint.h>

#include "csvread.h"

typedef struct rowpipe rowpipe;

/* A consumer: worker is its index (0 .. n_workers-1). Return non-zero to stop. */
typedef int (*rowpipe_row_fn)(void *ctx, unsigned worker, const csvread_row *row);
/* End of a batch, called in batch order on the worker that did it. */
typedef int (*rowpipe_done_fn)(void *ctx, unsigned worker);

/* Start n_workers consumer threads (1..8). NULL on failure. done may be NULL. */
rowpipe *rowpipe_create(unsigned n_workers, rowpipe_row_fn consumer, rowpipe_done_fn done, void *ctx);
/* Copy one record into the current batch (parsing thread; a csvread_row_fn).
 * Returns 0, a consumer's non-zero stop value once one has stopped, or -1 on
 * out-of-memory. */
int rowpipe_push(void *pipe, const csvread_row *row);
/* Send what is left, wait for the consumers to finish. Same returns as push. */
int rowpipe_finish(rowpipe *pipe);
/* Records pushed so far (parsing thread's count; safe to read from it). */
uint64_t rowpipe_pushed(const rowpipe *pipe);
/* Stop (if still running, dropping what is queued) and free; NULL is a no-op. */
void rowpipe_free(rowpipe *pipe);

#endif
