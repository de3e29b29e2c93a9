/*
 * blockpipe.c — see blockpipe.h.
 *
 * Threads: the feeding thread owns the current block (input not yet cut),
 * the free list and the in-flight ring (dispatched blocks in order); workers
 * only take blocks from the work queue and mark them done, under `mu`. At
 * most `pool` blocks exist, so memory stays bounded whatever the input size.
 *
 * With n workers asked for, n - 1 threads are started and the feeding thread
 * is the n-th: whenever it would wait for a block to finish, it decides the
 * oldest queued block itself. So n threads do all the work on n cores, with
 * no thread that mostly sleeps and wakes (each wake-up, on a machine with as
 * many cores as workers, would preempt a worker).
 */
#include "blockpipe.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define MAX_WORKERS 8
#define BLOCKS_PER_WORKER 3
/* With no balanced line end within this many block sizes, cut anyway (the
 * result is then replayed in sequence): bounds memory for any input. */
#define MAX_BLOCK_FACTOR 4
/* Zero bytes kept after each block's data: vectorised readers downstream
 * (PCRE2's JIT among them) may load a little past the end of a field. */
#define PADDING 64
/* late_lines: balanced cuts at the last line end needed before speculating. */
#define WARMUP_CUTS 8

typedef struct block {
    blockpipe_block pub;
    char *own; /* the block's own buffer: pub.data, unless the block is a view */
    size_t cap;
    int done; /* under mu */
    int rc;   /* process's return */
    struct block *next_free;
} block;

struct blockpipe {
    blockpipe_ops ops;
    size_t block_bytes, max_block;
    unsigned n_workers, started; /* started = threads, n_workers - 1 at most */
    pthread_t threads[MAX_WORKERS];
    struct worker_arg {
        struct blockpipe *bp;
        unsigned id;
    } args[MAX_WORKERS];

    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    block **queue; /* dispatched, not yet taken by a worker */
    size_t q_head, q_count;
    int quit;

    /* Feeding thread only. */
    size_t pool;     /* blocks that may exist */
    size_t n_blocks; /* blocks allocated */
    block *free_list;
    block **inflight; /* dispatched, not yet emitted, in order */
    size_t if_head, if_count;
    block *cur;
    /* The line of cur's first byte; with late_lines, the line after the
     * last block retired (so cur's once nothing is in flight). */
    unsigned long next_line;
    int prev_ended_cr; /* the last dispatched block ended with CR */
    int replaying;     /* the sequential reader carries a record over */
    /* late_lines: cut at the last line end without counting quotes, once
     * the first WARMUP_CUTS cuts where the quotes balance all fell there too;
     * never when one did not (quoted fields across lines), nor after a
     * block's reader ended inside a record. */
    int speculate;
    unsigned warmup; /* such cuts still to see; 0 when decided */
    int status;      /* first non-zero emit/replay value, or -1 */
    int finished;
    /* blockpipe_feed_stable: bytes of the caller's stable buffer not yet cut
     * into view blocks (cur is empty meanwhile). */
    const char *view;
    size_t view_len;
};

/* ------------------------------------------------------------ byte counts */

/*
 * One pass over a block counts what cutting it needs: quotes (the parity at
 * each line end), LFs (the lines) and whether any CR occurs (CR ends a line
 * too, except in CRLF: then lines are counted exactly, rarely). AVX2 when
 * the CPU has it (chosen at run time), else SSE2, else bytes.
 */
typedef struct byte_counts {
    size_t quotes, lfs;
    int has_cr;
} byte_counts;

static void count_tail(const unsigned char *s, size_t n, byte_counts *c)
{
    for (size_t i = 0; i < n; i++) {
        c->quotes += s[i] == '"';
        c->lfs += s[i] == '\n';
        c->has_cr |= s[i] == '\r';
    }
}

#if defined(__SSE2__)
static size_t sum_bytes128(__m128i acc)
{
    const __m128i sums = _mm_sad_epu8(acc, _mm_setzero_si128());
    return (size_t)_mm_cvtsi128_si32(sums) + (size_t)_mm_cvtsi128_si32(_mm_srli_si128(sums, 8));
}

static void count_sse2(const unsigned char *s, size_t n, byte_counts *c)
{
    const __m128i quote = _mm_set1_epi8('"'), lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
    __m128i any_cr = _mm_setzero_si128();
    size_t i = 0;
    while (i + 16 <= n) {
        /* Byte counters: at most 255 steps before they are summed. */
        __m128i acc_q = _mm_setzero_si128(), acc_lf = _mm_setzero_si128();
        const size_t steps = (n - i) / 16 < 255 ? (n - i) / 16 : 255;
        for (size_t k = 0; k < steps; k++, i += 16) {
            const __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
            acc_q = _mm_sub_epi8(acc_q, _mm_cmpeq_epi8(v, quote));
            acc_lf = _mm_sub_epi8(acc_lf, _mm_cmpeq_epi8(v, lf));
            any_cr = _mm_or_si128(any_cr, _mm_cmpeq_epi8(v, cr));
        }
        c->quotes += sum_bytes128(acc_q);
        c->lfs += sum_bytes128(acc_lf);
    }
    c->has_cr |= _mm_movemask_epi8(any_cr) != 0;
    count_tail(s + i, n - i, c);
}
#endif

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define BLOCKPIPE_AVX2 1
#include <immintrin.h>
__attribute__((target("avx2"))) static size_t sum_bytes256(__m256i acc)
{
    const __m256i sums = _mm256_sad_epu8(acc, _mm256_setzero_si256());
    return (size_t)_mm256_extract_epi64(sums, 0) + (size_t)_mm256_extract_epi64(sums, 1) +
           (size_t)_mm256_extract_epi64(sums, 2) + (size_t)_mm256_extract_epi64(sums, 3);
}

__attribute__((target("avx2"))) static void count_avx2(const unsigned char *s, size_t n, byte_counts *c)
{
    const __m256i quote = _mm256_set1_epi8('"'), lf = _mm256_set1_epi8('\n'), cr = _mm256_set1_epi8('\r');
    __m256i any_cr = _mm256_setzero_si256();
    size_t i = 0;
    /* 64 bytes a step (two compares a counter byte: up to 2 a step, 254 in
     * 127 steps); the last 0 to 63 bytes one at a time. */
    while (i + 64 <= n) {
        __m256i acc_q = _mm256_setzero_si256(), acc_lf = _mm256_setzero_si256();
        const unsigned char *p = s + i;
        const size_t steps = (n - i) / 64 < 127 ? (n - i) / 64 : 127;
        const unsigned char *const end = p + 64 * steps;
        for (; p < end; p += 64) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)p);
            const __m256i b = _mm256_loadu_si256((const __m256i *)(p + 32));
            acc_q = _mm256_sub_epi8(
                acc_q, _mm256_add_epi8(_mm256_cmpeq_epi8(a, quote), _mm256_cmpeq_epi8(b, quote)));
            acc_lf =
                _mm256_sub_epi8(acc_lf, _mm256_add_epi8(_mm256_cmpeq_epi8(a, lf), _mm256_cmpeq_epi8(b, lf)));
            any_cr =
                _mm256_or_si256(any_cr, _mm256_or_si256(_mm256_cmpeq_epi8(a, cr), _mm256_cmpeq_epi8(b, cr)));
        }
        i += 64 * steps;
        c->quotes += sum_bytes256(acc_q);
        c->lfs += sum_bytes256(acc_lf);
    }
    c->has_cr |= _mm256_movemask_epi8(any_cr) != 0;
    count_tail(s + i, n - i, c);
}

/* Quotes only (what a late_lines cut needs): 128 bytes a step, four compares
 * a counter byte (up to 4 a step, 252 in 63 steps). */
__attribute__((target("avx2"))) static size_t quotes_avx2(const unsigned char *s, size_t n)
{
    const __m256i quote = _mm256_set1_epi8('"');
    size_t i = 0, quotes = 0;
    while (i + 128 <= n) {
        __m256i acc = _mm256_setzero_si256();
        const unsigned char *p = s + i;
        const size_t steps = (n - i) / 128 < 63 ? (n - i) / 128 : 63;
        const unsigned char *const end = p + 128 * steps;
        for (; p < end; p += 128) {
            const __m256i a = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)p), quote);
            const __m256i b = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + 32)), quote);
            const __m256i c = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + 64)), quote);
            const __m256i d = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + 96)), quote);
            acc = _mm256_sub_epi8(acc, _mm256_add_epi8(_mm256_add_epi8(a, b), _mm256_add_epi8(c, d)));
        }
        i += 128 * steps;
        quotes += sum_bytes256(acc);
    }
    for (; i < n; i++)
        quotes += s[i] == '"';
    return quotes;
}
#else
#define BLOCKPIPE_AVX2 0
#endif

/* The highest level tests allow (blockpipe_set_simd): 2 AVX2, 1 SSE2, 0 bytes. */
static int simd_cap = 2;

int blockpipe_set_simd(int level)
{
    const int old = simd_cap;
    simd_cap = level;
    return old;
}

static void count_bytes(const unsigned char *s, size_t n, byte_counts *c)
{
    c->quotes = c->lfs = 0;
    c->has_cr = 0;
#if BLOCKPIPE_AVX2
    /* libgcc's constructor has filled in the CPU model by now. */
    if (simd_cap >= 2 && __builtin_cpu_supports("avx2")) {
        count_avx2(s, n, c);
        return;
    }
#endif
#if defined(__SSE2__)
    if (simd_cap >= 1) {
        count_sse2(s, n, c);
        return;
    }
#endif
    count_tail(s, n, c);
}

#if defined(__SSE2__)
static size_t quotes_sse2(const unsigned char *s, size_t n)
{
    const __m128i quote = _mm_set1_epi8('"');
    size_t i = 0, quotes = 0;
    while (i + 16 <= n) {
        __m128i acc = _mm_setzero_si128();
        const size_t steps = (n - i) / 16 < 255 ? (n - i) / 16 : 255;
        for (size_t k = 0; k < steps; k++, i += 16)
            acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(s + i)), quote));
        quotes += sum_bytes128(acc);
    }
    for (; i < n; i++)
        quotes += s[i] == '"';
    return quotes;
}
#endif

/* The quotes in s[0..n), at the level count_bytes would use. */
static size_t count_quotes(const unsigned char *s, size_t n)
{
#if BLOCKPIPE_AVX2
    if (simd_cap >= 2 && __builtin_cpu_supports("avx2"))
        return quotes_avx2(s, n);
#endif
#if defined(__SSE2__)
    if (simd_cap >= 1)
        return quotes_sse2(s, n);
#endif
    size_t quotes = 0;
    for (size_t i = 0; i < n; i++)
        quotes += s[i] == '"';
    return quotes;
}

size_t blockpipe_count_quotes(const char *s, size_t n)
{
    return count_quotes((const unsigned char *)s, n);
}

/* Lines ended in s[0..n) when it holds no CR: its LFs. */
static unsigned long count_lines_cr(const unsigned char *s, size_t n, size_t lfs)
{
    const unsigned char *cr = memchr(s, '\r', n);
    unsigned long lines = (unsigned long)lfs;
    if (cr) {
        /* CR ends a line too, except as the first half of a CRLF. */
        for (const unsigned char *p = cr; p < s + n; p++)
            if (*p == '\r' && !(p + 1 < s + n && p[1] == '\n'))
                lines++;
    }
    return lines;
}

unsigned long blockpipe_count_lines(const char *text, size_t n)
{
    byte_counts c;
    count_bytes((const unsigned char *)text, n, &c);
    return count_lines_cr((const unsigned char *)text, n, c.lfs);
}

static size_t cut_at(const unsigned char *s, size_t n, size_t quotes, size_t *lfs_after);

/* The cut in data[0..n) — cut_at, or the end of the last LF while
 * speculating — and in *lines the lines ended before it, or ULONG_MAX when
 * they are to be counted at dispatch (CRs in the block) or not at all
 * (late_lines: at most the quotes are counted). */
static size_t find_cut(blockpipe *bp, const unsigned char *data, size_t n, unsigned long *lines)
{
    size_t lfs_after = 0;
    *lines = ULONG_MAX;
    if (bp->ops.late_lines) {
        size_t last_lf = n;
        while (last_lf > 0 && data[last_lf - 1] != '\n')
            last_lf--;
        if (bp->speculate)
            return last_lf;
        const size_t cut = cut_at(data, n, count_quotes(data, n), &lfs_after);
        if (bp->warmup && cut) {
            if (cut != last_lf)
                bp->warmup = 0; /* a quoted line end: keep counting quotes */
            else if (--bp->warmup == 0)
                bp->speculate = 1;
        }
        return cut;
    }
    byte_counts c;
    count_bytes(data, n, &c);
    const size_t cut = cut_at(data, n, c.quotes, &lfs_after);
    /* Without CRs the lines before the cut are its LFs (the common case). */
    if (cut && !c.has_cr)
        *lines = (unsigned long)(c.lfs - lfs_after);
    return cut;
}

/* The cut in s[0..n) given its quote count: the end of the last LF before
 * which the quotes are balanced, 0 if none. *lfs_after gets the LFs at and
 * after the cut (those of the rest). */
static size_t cut_at(const unsigned char *s, size_t n, size_t quotes, size_t *lfs_after)
{
    size_t end = n, lfs = 0;
    while (end > 0) {
        const unsigned char *lf = NULL;
        for (size_t i = end; i > 0; i--) {
            if (s[i - 1] == '\n') {
                lf = s + i - 1;
                break;
            }
            quotes -= s[i - 1] == '"';
        }
        if (!lf)
            return 0;
        if (!(quotes & 1)) {
            *lfs_after = lfs;
            return (size_t)(lf - s) + 1;
        }
        lfs++;
        end = (size_t)(lf - s);
    }
    return 0;
}

size_t blockpipe_cut(const char *text, size_t n)
{
    byte_counts c;
    size_t lfs_after;
    count_bytes((const unsigned char *)text, n, &c);
    return cut_at((const unsigned char *)text, n, c.quotes, &lfs_after);
}

/* ---------------------------------------------------------------- workers */

static void *work(void *arg)
{
    const struct worker_arg *wa = arg;
    blockpipe *bp = wa->bp;
    for (;;) {
        pthread_mutex_lock(&bp->mu);
        while (!bp->q_count && !bp->quit)
            pthread_cond_wait(&bp->work_cv, &bp->mu);
        if (!bp->q_count) {
            pthread_mutex_unlock(&bp->mu);
            break;
        }
        block *b = bp->queue[bp->q_head];
        bp->q_head = (bp->q_head + 1) % bp->pool;
        bp->q_count--;
        pthread_mutex_unlock(&bp->mu);

        const int rc = bp->ops.process(bp->ops.ctx, wa->id, &b->pub);

        pthread_mutex_lock(&bp->mu);
        b->rc = rc;
        b->done = 1;
        pthread_cond_broadcast(&bp->done_cv);
        pthread_mutex_unlock(&bp->mu);
    }
    return NULL;
}

/* ------------------------------------------------------- feeding thread */

static void block_free(blockpipe *bp, block *b)
{
    if (!b)
        return;
    if (b->pub.result)
        bp->ops.result_free(bp->ops.ctx, b->pub.result);
    free(b->own);
    free(b);
}

static int reserve(block *b, size_t need)
{
    need += PADDING;
    if (need <= b->cap)
        return 0;
    size_t c = b->cap ? b->cap : 4096;
    while (c < need)
        c *= 2;
    char *p = realloc(b->own, c);
    if (!p)
        return -1;
    b->own = p;
    b->pub.data = p;
    b->cap = c;
    return 0;
}

/* Feeding thread, holding mu: decide the oldest queued block itself (as the
 * last worker) instead of waiting. Returns with mu held; 0 if none was queued. */
static int help_locked(blockpipe *bp)
{
    if (bp->q_count < (bp->started ? 2u : 1u))
        return 0;
    block *b = bp->queue[bp->q_head];
    bp->q_head = (bp->q_head + 1) % bp->pool;
    bp->q_count--;
    pthread_mutex_unlock(&bp->mu);
    const int rc = bp->ops.process(bp->ops.ctx, bp->n_workers - 1, &b->pub);
    pthread_mutex_lock(&bp->mu);
    b->rc = rc;
    b->done = 1;
    return 1;
}

/* Wait for the oldest in-flight block (deciding queued ones meanwhile), then
 * emit or replay it, and free it. */
static void retire_oldest(blockpipe *bp)
{
    block *b = bp->inflight[bp->if_head];
    pthread_mutex_lock(&bp->mu);
    while (!b->done)
        if (!help_locked(bp))
            pthread_cond_wait(&bp->done_cv, &bp->mu);
    pthread_mutex_unlock(&bp->mu);
    bp->if_head = (bp->if_head + 1) % bp->pool;
    bp->if_count--;

    if (bp->ops.late_lines)
        b->pub.line = bp->next_line; /* the blocks before it are retired */
    if (!bp->status) {
        if (bp->replaying || (b->rc == 0 && !b->pub.last)) {
            /* Replaying, or this block's reader ended inside a record (the
             * next block's start was a wrong guess): read it in sequence. */
            if (b->rc == 0) {
                bp->speculate = 0; /* a cut fell inside a record */
                bp->warmup = 0;
            }
            const int r = bp->ops.replay(bp->ops.ctx, &b->pub, !bp->replaying);
            if (r < 0)
                bp->status = r;
            else
                bp->replaying = r == 0 && !b->pub.last;
        } else if (b->rc < 0) {
            bp->status = -1;
        } else {
            const int r = bp->ops.emit(bp->ops.ctx, &b->pub);
            if (r)
                bp->status = r;
        }
    }
    if (bp->ops.late_lines)
        bp->next_line = b->pub.line + b->pub.lines;
    b->done = 0;
    b->next_free = bp->free_list;
    bp->free_list = b;
}

/* Retire every finished block at the front without waiting. */
static void retire_ready(blockpipe *bp)
{
    while (bp->if_count) {
        block *b = bp->inflight[bp->if_head];
        pthread_mutex_lock(&bp->mu);
        const int done = b->done;
        pthread_mutex_unlock(&bp->mu);
        if (!done)
            return;
        retire_oldest(bp);
    }
}

static block *take_block(blockpipe *bp)
{
    while (!bp->free_list && bp->n_blocks >= bp->pool)
        retire_oldest(bp);
    block *b = bp->free_list;
    if (b) {
        bp->free_list = b->next_free;
    } else {
        b = calloc(1, sizeof *b);
        if (!b)
            return NULL;
        bp->n_blocks++;
        if (!(b->pub.result = bp->ops.result_new(bp->ops.ctx)) || reserve(b, bp->block_bytes + 4096) != 0) {
            block_free(bp, b);
            bp->n_blocks--;
            return NULL;
        }
    }
    b->pub.data = b->own; /* a view before */
    b->pub.len = 0;
    b->pub.last = 0;
    b->done = 0;
    b->rc = 0;
    return b;
}

static void queue_block(blockpipe *bp, block *b, int last, unsigned long lines);

/* Send cur[0..cut) to the workers; the rest starts the next block. lines:
 * the lines ended in cur[0..cut), or ULONG_MAX to count them here. */
static int dispatch(blockpipe *bp, size_t cut, int last, unsigned long lines)
{
    block *b = bp->cur;
    block *next = last ? NULL : take_block(bp);
    if (!last && !next)
        return -1;
    if (next) {
        const size_t rest = b->pub.len - cut;
        if (reserve(next, rest + bp->block_bytes) != 0)
            return -1;
        memcpy((char *)next->pub.data, b->pub.data + cut, rest);
        next->pub.len = rest;
    }
    b->pub.len = cut;
    memset((char *)b->pub.data + cut, 0, PADDING);
    queue_block(bp, b, last, lines);
    bp->cur = next;
    return 0;
}

/* Send block b (its data and len set) to the workers: its first line, and the
 * lines ended in it (lines, or ULONG_MAX to count them here) for the next;
 * with late_lines, neither (retire_oldest learns them). */
static void queue_block(blockpipe *bp, block *b, int last, unsigned long lines)
{
    const size_t cut = b->pub.len;
    b->pub.last = last;
    b->pub.lines = 0;
    if (bp->ops.late_lines) {
        b->pub.line = 0; /* not known yet */
        b->pub.read_line = 1;
    } else {
        b->pub.line = b->pub.read_line = bp->next_line;
        if (lines == ULONG_MAX)
            lines = blockpipe_count_lines(b->pub.data, cut);
        if (bp->prev_ended_cr && cut && b->pub.data[0] == '\n')
            lines--; /* the CRLF was cut in two: one line end, counted with the CR */
        bp->next_line += lines;
    }
    bp->prev_ended_cr = cut && b->pub.data[cut - 1] == '\r';

    bp->inflight[(bp->if_head + bp->if_count) % bp->pool] = b;
    bp->if_count++;
    pthread_mutex_lock(&bp->mu);
    bp->queue[(bp->q_head + bp->q_count) % bp->pool] = b;
    bp->q_count++;
    if (bp->started)
        pthread_cond_signal(&bp->work_cv);
    pthread_mutex_unlock(&bp->mu);
}

blockpipe *blockpipe_create(unsigned n_workers, size_t block_bytes, unsigned long first_line,
                            const blockpipe_ops *ops)
{
    if (n_workers < 1 || n_workers > MAX_WORKERS)
        return NULL;
    blockpipe *bp = calloc(1, sizeof *bp);
    if (!bp)
        return NULL;
    bp->ops = *ops;
    bp->block_bytes = block_bytes ? block_bytes : BLOCKPIPE_DEFAULT_BYTES;
    bp->max_block = bp->block_bytes * MAX_BLOCK_FACTOR;
    bp->n_workers = n_workers;
    bp->pool = (size_t)n_workers * BLOCKS_PER_WORKER + 1;
    bp->next_line = first_line;
    bp->warmup = ops->late_lines ? WARMUP_CUTS : 0;
    pthread_mutex_init(&bp->mu, NULL);
    pthread_cond_init(&bp->work_cv, NULL);
    pthread_cond_init(&bp->done_cv, NULL);
    bp->queue = calloc(bp->pool, sizeof *bp->queue);
    bp->inflight = calloc(bp->pool, sizeof *bp->inflight);
    if (!bp->queue || !bp->inflight || !(bp->cur = take_block(bp))) {
        blockpipe_free(bp);
        return NULL;
    }
    for (unsigned w = 0; w + 1 < n_workers; w++) {
        bp->args[w].bp = bp;
        bp->args[w].id = w;
        if (pthread_create(&bp->threads[w], NULL, work, &bp->args[w]) != 0) {
            blockpipe_free(bp);
            return NULL;
        }
        bp->started++;
    }
    return bp;
}

/* Room to add to the current block: up to the block size, then (no cut found
 * yet) 64 KiB more at a time. */
static size_t room_in_cur(const blockpipe *bp)
{
    const size_t len = bp->cur->pub.len;
    return len < bp->block_bytes ? bp->block_bytes - len : 65536;
}

/* The current block grew: once it holds a block's worth, cut it at the last
 * balanced line end and send it. */
static void after_append(blockpipe *bp)
{
    block *b = bp->cur;
    if (b->pub.len < bp->block_bytes)
        return;
    const unsigned char *data = (const unsigned char *)b->pub.data;
    unsigned long lines;
    size_t cut = find_cut(bp, data, b->pub.len, &lines);
    if (!cut && b->pub.len >= bp->max_block) {
        /* No balanced line end: cut at the last line end, or anywhere. */
        cut = b->pub.len;
        lines = ULONG_MAX;
        for (size_t i = b->pub.len; i > 0; i--)
            if (data[i - 1] == '\n') {
                cut = i;
                break;
            }
    }
    if (cut && dispatch(bp, cut, 0, lines) != 0)
        bp->status = -1;
    retire_ready(bp);
}

static void flush_view(blockpipe *bp);

int blockpipe_feed(blockpipe *bp, const void *buf, size_t len)
{
    flush_view(bp);
    const char *s = buf;
    while (len && !bp->status) {
        block *b = bp->cur;
        const size_t room = room_in_cur(bp);
        const size_t take = len < room ? len : room;
        if (reserve(b, b->pub.len + take) != 0) {
            bp->status = -1;
            break;
        }
        memcpy((char *)b->pub.data + b->pub.len, s, take);
        b->pub.len += take;
        s += take;
        len -= take;
        after_append(bp);
    }
    return bp->status;
}

/* ------------------------------------------------------------ stable input */

/* The pending stable bytes go the copying way, into cur (they come before
 * any bytes fed after them). */
static void flush_view(blockpipe *bp)
{
    if (!bp->view_len)
        return;
    const char *v = bp->view;
    const size_t n = bp->view_len;
    bp->view = NULL;
    bp->view_len = 0;
    blockpipe_feed(bp, v, n);
}

/* A view block: the next cut bytes of the pending stable input, in place. */
static int dispatch_view(blockpipe *bp, size_t cut, unsigned long lines)
{
    block *b = take_block(bp);
    if (!b)
        return -1;
    b->pub.data = bp->view;
    b->pub.len = cut;
    queue_block(bp, b, 0, lines);
    bp->view += cut;
    bp->view_len -= cut;
    return 0;
}

/*
 * Cut view blocks off the pending stable input as after_append cuts cur: at
 * the last balanced line end of a block's worth of bytes (more, 64 KiB at a
 * time up to MAX_BLOCK_FACTOR blocks, when there is none; then at the last
 * line end or anywhere). A view block is cut only with PADDING bytes of the
 * input after it: vectorised readers may look a little past a field's end,
 * and past a view block's end lie the caller's next bytes, not zeros. The
 * rest waits for more input, and finally goes the copying way.
 */
static void cut_views(blockpipe *bp)
{
    while (!bp->status && bp->view_len >= bp->block_bytes + PADDING) {
        const unsigned char *data = (const unsigned char *)bp->view;
        size_t window = bp->block_bytes, cut = 0;
        unsigned long lines = ULONG_MAX;
        for (;;) {
            cut = find_cut(bp, data, window, &lines);
            if (cut || window >= bp->max_block)
                break;
            const size_t more = window + 65536 < bp->max_block ? window + 65536 : bp->max_block;
            if (bp->view_len < more + PADDING)
                return; /* no cut yet: wait for more input */
            window = more;
        }
        if (!cut) {
            /* No balanced line end: cut at the last line end, or anywhere. */
            cut = window;
            lines = ULONG_MAX;
            for (size_t i = window; i > 0; i--)
                if (data[i - 1] == '\n') {
                    cut = i;
                    break;
                }
        }
        if (dispatch_view(bp, cut, lines) != 0)
            bp->status = -1;
        retire_ready(bp);
    }
}

const char *blockpipe_stable_floor(const blockpipe *bp)
{
    /* View blocks are in flight in input order, after any copied ones. */
    for (size_t k = 0; k < bp->if_count; k++) {
        const block *b = bp->inflight[(bp->if_head + k) % bp->pool];
        if (b->pub.data != b->own)
            return b->pub.data;
    }
    return bp->view_len ? bp->view : NULL;
}

int blockpipe_feed_stable(blockpipe *bp, const void *buf, size_t len)
{
    if (bp->status || !len)
        return bp->status;
    if (bp->view_len && (const char *)buf != bp->view + bp->view_len)
        flush_view(bp); /* not the continuation of the pending bytes */
    if (bp->cur->pub.len)
        return blockpipe_feed(bp, buf, len); /* copied bytes pending: go on copying */
    if (!bp->view_len)
        bp->view = buf;
    bp->view_len += len;
    cut_views(bp);
    return bp->status;
}

void *blockpipe_input(blockpipe *bp, size_t *cap)
{
    flush_view(bp);
    *cap = 0;
    if (bp->status)
        return NULL;
    block *b = bp->cur;
    const size_t room = room_in_cur(bp);
    if (reserve(b, b->pub.len + room) != 0) {
        bp->status = -1;
        return NULL;
    }
    *cap = room;
    return (char *)b->pub.data + b->pub.len;
}

int blockpipe_commit(blockpipe *bp, size_t n)
{
    if (!bp->status) {
        bp->cur->pub.len += n;
        after_append(bp);
    }
    return bp->status;
}

int blockpipe_finish(blockpipe *bp)
{
    if (bp->finished)
        return bp->status;
    flush_view(bp);
    bp->finished = 1;
    if (!bp->status && bp->cur && bp->cur->pub.len) {
        if (dispatch(bp, bp->cur->pub.len, 1, ULONG_MAX) != 0)
            bp->status = -1;
    }
    while (bp->if_count)
        retire_oldest(bp);
    return bp->status;
}

int blockpipe_flush(blockpipe *bp)
{
    if (bp->finished || bp->status)
        return bp->status;
    flush_view(bp);
    if (bp->cur && bp->cur->pub.len) {
        /* Cut at the last line end even where the quotes do not balance
         * (broken quoting, or a quoted field spanning lines): a wrong guess
         * is replayed in sequence, as any block's, so the output is the same;
         * a balanced cut would hold a row after broken quoting until the
         * quotes balance again. */
        size_t cut = bp->cur->pub.len;
        while (cut > 0 && bp->cur->pub.data[cut - 1] != '\n')
            cut--;
        if (cut && dispatch(bp, cut, 0, ULONG_MAX) != 0)
            bp->status = -1;
    }
    while (bp->if_count)
        retire_oldest(bp);
    return bp->status;
}

int blockpipe_finish_early(blockpipe *bp, unsigned long *dropped_line)
{
    *dropped_line = 0;
    if (bp->finished)
        return bp->status;
    flush_view(bp);
    /* Every block before cur out first: with late_lines, that is when
     * next_line becomes cur's first line. */
    while (bp->if_count)
        retire_oldest(bp);
    /* With late_lines, cur may begin inside a record (a speculative cut can
     * put it there in valid CSV): then the balance of its quotes says
     * nothing, and all of it goes to the sequential reader, which holds the
     * record cut short at the end (csvread_pending) for the caller to drop. */
    const int whole = bp->ops.late_lines && bp->replaying;
    if (!bp->status && bp->cur && bp->cur->pub.len && !whole) {
        const size_t len = bp->cur->pub.len, cut = blockpipe_cut(bp->cur->pub.data, len);
        if (cut < len) {
            /* The line of the first byte dropped: cur's first line, plus those cut off. */
            *dropped_line = bp->next_line + blockpipe_count_lines(bp->cur->pub.data, cut);
            if (bp->prev_ended_cr && cut && bp->cur->pub.data[0] == '\n')
                (*dropped_line)--; /* a CRLF cut in two */
        }
        bp->cur->pub.len = cut; /* dispatched as the last block by finish, or nothing */
    }
    return blockpipe_finish(bp);
}

void blockpipe_free(blockpipe *bp)
{
    if (!bp)
        return;
    pthread_mutex_lock(&bp->mu);
    bp->quit = 1;
    bp->q_count = 0; /* drop what no worker took */
    pthread_cond_broadcast(&bp->work_cv);
    pthread_mutex_unlock(&bp->mu);
    for (unsigned w = 0; w < bp->started; w++)
        pthread_join(bp->threads[w], NULL);
    /* Every block is in the free list, the in-flight ring or cur. */
    while (bp->if_count) {
        block *b = bp->inflight[bp->if_head];
        bp->if_head = (bp->if_head + 1) % bp->pool;
        bp->if_count--;
        b->next_free = bp->free_list;
        bp->free_list = b;
    }
    while (bp->free_list) {
        block *b = bp->free_list;
        bp->free_list = b->next_free;
        block_free(bp, b);
    }
    block_free(bp, bp->cur);
    free(bp->queue);
    free(bp->inflight);
    pthread_mutex_destroy(&bp->mu);
    pthread_cond_destroy(&bp->work_cv);
    pthread_cond_destroy(&bp->done_cv);
    free(bp);
}
