/*
 * blockpipe.h — read and decide one CSV stream on several threads, output in
 * input order.
 *
 * The feeding thread cuts the input into blocks of about block_bytes at a
 * line end where the quotes seen since the block's start are balanced (so,
 * in valid CSV, between two records). Workers (threads, and the feeding
 * thread when it would otherwise wait) read and decide whole blocks
 * independently, each with its own reader starting afresh, into the block's
 * own result. The feeding thread emits the results strictly in block order.
 *
 * Line numbers: by default the feeding thread counts each block's physical
 * lines as it cuts, so a block is read from the line it starts on. With
 * ops.late_lines it does not: a block is read as if it started on line 1,
 * and its first line becomes known when it is retired in order — the line
 * after the blocks before it, as their readers counted them
 * (blockpipe_block.lines). emit then moves the result's line numbers by
 * line - read_line. And once the first few cuts where the quotes balance
 * have all fallen at the block's last line end, it stops counting quotes
 * too and cuts at the last line end, a guess the readers check as below,
 * until a block's reader ends inside a record (then it counts them again).
 *
 * A block start is only a guess until the block before it is read: broken
 * quoting (a quote inside a field resynchronises at the line end, not at
 * the balance of quotes) can put a cut inside a record. A worker reports
 * whether its reader ended exactly between two records. When one did not,
 * its result and the results after it are not used: the feeding thread
 * replays those blocks through one sequential reader instead, and returns to
 * the parallel results at the first block end where that reader stands
 * between two records. The output is therefore the same as reading the
 * whole stream with one reader, whatever the cuts and the thread count
 * (tests/engine/test_blockpipe.c).
 */
#ifndef CREST_BLOCKPIPE_H
#define CREST_BLOCKPIPE_H

#include <stddef.h>
#include <stdint.h>

typedef struct blockpipe blockpipe;

/* One block as the callbacks see it. */
typedef struct blockpipe_block {
    const char *data;
    size_t len;
    /* Physical line of data[0], 1-based; with late_lines known only from
     * retirement on (emit and replay), not in process. */
    unsigned long line;
    /* The line process starts its reader at: line, or 1 with late_lines. */
    unsigned long read_line;
    /* Set by process and by replay: the lines ended in the block as its
     * reader read it (the reader's line after the block less before it). */
    unsigned long lines;
    int last;     /* the input ends with this block */
    void *result; /* the caller's per-block result (ops.result_new) */
} blockpipe_block;

typedef struct blockpipe_ops {
    void *ctx;
    /* A result holder for one block; NULL on out-of-memory. */
    void *(*result_new)(void *ctx);
    void (*result_free)(void *ctx, void *result);
    /* Worker thread w: read and decide the block afresh from b->read_line
     * into b->result (with the end of input when b->last); set b->lines.
     * Returns 1 when the reader ended between two records, 0
     * when not, -1 on out-of-memory. */
    int (*process)(void *ctx, unsigned w, blockpipe_block *b);
    /* Feeding thread, in block order: b's result is valid; write it out, its
     * line numbers moved by b->line - b->read_line. Returns 0 or non-zero to
     * stop. */
    int (*emit)(void *ctx, blockpipe_block *b);
    /* Feeding thread, in block order: b's result is not valid; read its bytes
     * with the sequential reader instead (restarted at b->line when restart,
     * else continuing); set b->lines. Returns 1 when that reader now stands
     * between two records, 0 when not, negative to stop. */
    int (*replay)(void *ctx, blockpipe_block *b, int restart);
    /* Non-zero: lines are counted late (see the top of this file); for
     * callers that can move every line number of a result in emit. */
    int late_lines;
} blockpipe_ops;

/* The default block size: as fast as 256 KiB or 1 MiB on the bench-anchors job,
 * and half the memory of 256 KiB (each block's decisions wait for their turn). */
#define BLOCKPIPE_DEFAULT_BYTES (128 * 1024)

/* n_workers deciders (1..8): n_workers - 1 threads plus the feeding thread,
 * which decides queued blocks whenever it would otherwise wait; block_bytes 0 means BLOCKPIPE_DEFAULT_BYTES.
 * Input fed is taken to start at physical line first_line, between records.
 * NULL on failure. */
blockpipe *blockpipe_create(unsigned n_workers, size_t block_bytes, unsigned long first_line,
                            const blockpipe_ops *ops);
/* Push bytes (copied). Emits finished blocks as it goes. Returns 0, the
 * first non-zero value of emit/replay, or -1 on out-of-memory (sticky). */
int blockpipe_feed(blockpipe *bp, const void *buf, size_t len);
/* Zero-copy pushing: room for up to *cap bytes at the end of the current
 * block (NULL after an error); write n <= *cap bytes there, then commit them.
 * The same as blockpipe_feed of those bytes, without the copy. */
void *blockpipe_input(blockpipe *bp, size_t *cap);
int blockpipe_commit(blockpipe *bp, size_t n);
/* Stable input: the same as blockpipe_feed, but buf[0..len) stays valid and
 * unchanged until blockpipe_finish (or _finish_early) returns, so blocks are
 * views into it, not copies. Successive calls with contiguous pieces of one
 * buffer (a mapped file) are cut as one; anything else (bytes not
 * contiguous with the previous call's, or copied bytes still pending) is
 * copied as by blockpipe_feed. Returns like feed. */
int blockpipe_feed_stable(blockpipe *bp, const void *buf, size_t len);
/* The lowest address of stable input the pipe still reads or will read (a
 * block in flight, or bytes not yet cut), NULL when none: the caller may
 * release what lies before it. */
const char *blockpipe_stable_floor(const blockpipe *bp);
/* End of input: the rest becomes the last block; waits for and emits all.
 * Returns like feed. After it, the sequential reader (if a replay ran up to
 * the end) holds any record still open: the caller finishes it. */
int blockpipe_finish(blockpipe *bp);
/* The same for input cut short (the caller stopped reading): only the current
 * block's bytes up to its last balanced line end go out; a piece after it —
 * part of a record — is dropped, and *dropped_line gets the line it began on
 * (0 when nothing was dropped). */
int blockpipe_finish_early(blockpipe *bp, unsigned long *dropped_line);
/* Input has gone quiet: the current block's bytes up to its last line end
 * go out now as a block of their own (the rest, part of a record,
 * stays), and every block in flight is waited for and emitted. Returns like
 * feed. */
int blockpipe_flush(blockpipe *bp);
/* Stop the workers and free (results not yet emitted are dropped). NULL is a no-op. */
void blockpipe_free(blockpipe *bp);

/* Exposed for tests: the cut blockpipe would make in s[0..n), 0 if none —
 * the end of the last LF before which the quotes are balanced. */
size_t blockpipe_cut(const char *s, size_t n);
/* Physical lines ended in s[0..n) (CR, LF and CRLF each end one). */
unsigned long blockpipe_count_lines(const char *s, size_t n);
/* The quotes in s[0..n), counted as late_lines cuts count them. */
size_t blockpipe_count_quotes(const char *s, size_t n);
/* For tests: cap the byte-count passes at level 2 (AVX2, if the CPU has it),
 * 1 (SSE2) or 0 (bytes); process-wide, set it before any pipe runs. Returns
 * the previous cap. */
int blockpipe_set_simd(int level);

#endif
