/*
 * rowpipe.h — hand parsed CSV records from the parsing thread to a consumer
 * thread, in order. Records are copied into batches (fields, raw bytes and
 * positions); a bounded queue keeps memory constant. The consumer sees every
 * record exactly as csvread produced it, so results do not depend on whether
 * the pipeline is used: it only lets parsing and deciding run on two cores.
 */
#ifndef CREST_ROWPIPE_H
#define CREST_ROWPIPE_H

#include <stdint.h>

#include "csvread.h"

typedef struct rowpipe rowpipe;

/* Start the consumer thread. NULL on failure (out of memory, no thread). */
rowpipe *rowpipe_create(csvread_row_fn consumer, void *ctx);
/* Copy one record into the current batch (parsing thread). Returns 0, the
 * consumer's non-zero stop value once it has stopped, or -1 on out-of-memory. */
int rowpipe_push(void *pipe, const csvread_row *row);
/* Send what is left, wait for the consumer to finish. Same returns as push. */
int rowpipe_finish(rowpipe *pipe);
/* Records pushed so far (parsing thread's count; safe to read from it). */
uint64_t rowpipe_pushed(const rowpipe *pipe);
/* Stop (if still running) and free; NULL is a no-op. */
void rowpipe_free(rowpipe *pipe);

#endif
