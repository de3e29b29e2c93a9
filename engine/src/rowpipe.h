/*
 * rowpipe.h — hand parsed CSV records from the parsing thread to one
 * consumer thread, in input order. Records are copied into batches (fields,
 * raw bytes, positions); a bounded queue keeps memory constant. The consumer
 * sees every record exactly as csvread produced it. (Used when rows must be
 * decided in order; order-free runs read blocks in parallel: blockpipe.h.)
 */
#ifndef CREST_ROWPIPE_H
#define CREST_ROWPIPE_H

#include <stdint.h>

#include "csvread.h"

typedef struct rowpipe rowpipe;

/* The consumer. Return non-zero to stop. */
typedef int (*rowpipe_row_fn)(void *ctx, const csvread_row *row);

/* Start the consumer thread. NULL on failure. */
rowpipe *rowpipe_create(rowpipe_row_fn consumer, void *ctx);
/* Copy one record into the current batch (parsing thread; a csvread_row_fn).
 * Returns 0, a consumer's non-zero stop value once one has stopped, or -1 on
 * out-of-memory. */
int rowpipe_push(void *pipe, const csvread_row *row);
/* Send what is left, wait for the consumer to finish. Same returns as push. */
int rowpipe_finish(rowpipe *pipe);
/* Send the current batch and wait until the consumer has handled every
 * record pushed so far (it then waits for more). Parsing thread; returns like
 * push. After it, the consumer's writes are visible to the caller. */
int rowpipe_sync(rowpipe *pipe);

/* Records pushed so far (parsing thread's count; safe to read from it). */
uint64_t rowpipe_pushed(const rowpipe *pipe);
/* Stop (if still running, dropping what is queued) and free; NULL is a no-op. */
void rowpipe_free(rowpipe *pipe);

#endif
