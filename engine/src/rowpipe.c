/*
 * rowpipe.c — see rowpipe.h. Condition variables over a ring of batch
 * pointers; batches are recycled through a free list, so after warm-up the
 * pipeline allocates nothing.
 */
#include "grow.h"
#include "rowpipe.h"

#include "utf8.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_ROWS 2048
#define BATCH_BYTES (512 * 1024)
#define QUEUE_SLOTS 4

typedef struct rec {
    size_t field0, n_fields; /* into the batch's field table */
    size_t raw_ofs, raw_len;
    unsigned long line, error_line, error_column;
    size_t long_field;
    csvread_error error;
    int raw_truncated, too_many_fields, plain;
    size_t utf8_bad, nul_at;
} rec;

typedef struct batch {
    struct batch *next_free;
    char *bytes;
    size_t len, cap;
    size_t *fofs; /* offset, length pairs */
    size_t n_fofs, fofs_cap;
    rec *recs;
    size_t n_recs, recs_cap;
} batch;

struct rowpipe {
    rowpipe_row_fn consumer;
    void *ctx;
    pthread_t thread;
    int started;
    crest_str *views; /* the consumer's field views */
    size_t views_cap;
    pthread_mutex_t mu;
    pthread_cond_t nonempty, nonfull, drained;
    uint64_t n_sent, n_done;  /* batches queued and handled (rowpipe_sync), under mu */
    batch *ring[QUEUE_SLOTS]; /* NULL entry = end of input */
    size_t head, count;
    batch *free_list;
    batch *cur;
    int stop_value; /* the consumer's stop value, under mu */
    int discard;    /* freeing without finish: drop what is queued, under mu */
    uint64_t pushed;
};

static void batch_free(batch *b)
{
    if (!b)
        return;
    free(b->bytes);
    free(b->fofs);
    free(b->recs);
    free(b);
}

/* Consumer thread: take batches, replay their records. */
static void *consume(void *arg)
{
    rowpipe *p = arg;
    int stop = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->count == 0)
            pthread_cond_wait(&p->nonempty, &p->mu);
        batch *b = p->ring[p->head];
        if (!b) {
            pthread_mutex_unlock(&p->mu);
            break; /* end of input */
        }
        p->head = (p->head + 1) % QUEUE_SLOTS;
        p->count--;
        pthread_cond_signal(&p->nonfull);
        if (p->discard || p->stop_value)
            stop = stop ? stop : (p->discard ? -2 : p->stop_value);
        pthread_mutex_unlock(&p->mu);
        for (size_t i = 0; i < b->n_recs && !stop; i++) {
            const rec *r = &b->recs[i];
            if (crest_grow((void **)&p->views, &p->views_cap, r->n_fields + 1, sizeof(crest_str)) != 0) {
                stop = -1;
                break;
            }
            for (size_t k = 0; k < r->n_fields; k++) {
                p->views[k].ptr = b->bytes + b->fofs[2 * (r->field0 + k)];
                p->views[k].len = b->fofs[2 * (r->field0 + k) + 1];
            }
            csvread_row row;
            memset(&row, 0, sizeof row);
            row.fields = p->views;
            row.n_fields = r->n_fields;
            row.line = r->line;
            row.raw.ptr = b->bytes + r->raw_ofs;
            row.raw.len = r->raw_len;
            row.raw_truncated = r->raw_truncated;
            row.error = r->error;
            row.error_column = r->error_column;
            row.error_line = r->error_line;
            row.long_field = r->long_field;
            row.too_many_fields = r->too_many_fields;
            row.checked = 1;
            row.utf8_bad = r->utf8_bad;
            row.nul_at = r->nul_at;
            row.plain = r->plain;
            stop = p->consumer(p->ctx, &row);
        }
        pthread_mutex_lock(&p->mu);
        if (stop && !p->stop_value)
            p->stop_value = stop;
        b->next_free = p->free_list;
        p->free_list = b;
        p->n_done++;
        pthread_cond_broadcast(&p->drained);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

rowpipe *rowpipe_create(rowpipe_row_fn consumer, void *ctx)
{
    rowpipe *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->consumer = consumer;
    p->ctx = ctx;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->nonempty, NULL);
    pthread_cond_init(&p->nonfull, NULL);
    pthread_cond_init(&p->drained, NULL);
    if (pthread_create(&p->thread, NULL, consume, p) != 0) {
        rowpipe_free(p);
        return NULL;
    }
    p->started = 1;
    return p;
}

/* Queue a batch (or NULL for the end); blocks while the ring is full. */
static int enqueue(rowpipe *p, batch *b)
{
    pthread_mutex_lock(&p->mu);
    while (p->count == QUEUE_SLOTS)
        pthread_cond_wait(&p->nonfull, &p->mu);
    p->ring[(p->head + p->count) % QUEUE_SLOTS] = b;
    p->count++;
    p->n_sent += b != NULL;
    pthread_cond_signal(&p->nonempty);
    const int stop = p->stop_value;
    pthread_mutex_unlock(&p->mu);
    return stop;
}

static batch *take_batch(rowpipe *p)
{
    pthread_mutex_lock(&p->mu);
    batch *b = p->free_list;
    if (b)
        p->free_list = b->next_free;
    pthread_mutex_unlock(&p->mu);
    if (!b)
        b = calloc(1, sizeof *b);
    if (b)
        b->len = b->n_fofs = b->n_recs = 0;
    return b;
}

/* Hot path (parsing thread). */
int rowpipe_push(void *arg, const csvread_row *row)
{
    rowpipe *p = arg;
    if (!p->cur && !(p->cur = take_batch(p)))
        return -1;
    batch *b = p->cur;
    size_t bytes = row->raw.len;
    for (size_t i = 0; i < row->n_fields; i++)
        bytes += row->fields[i].len;
    if (crest_grow((void **)&b->bytes, &b->cap, b->len + bytes + 1, 1) != 0 ||
        crest_grow((void **)&b->fofs, &b->fofs_cap, 2 * (b->n_fofs + row->n_fields + 1), sizeof(size_t)) !=
            0 ||
        crest_grow((void **)&b->recs, &b->recs_cap, b->n_recs + 1, sizeof(rec)) != 0)
        return -1;
    rec *r = &b->recs[b->n_recs++];
    r->field0 = b->n_fofs;
    r->n_fields = row->n_fields;
    for (size_t i = 0; i < row->n_fields; i++) {
        b->fofs[2 * b->n_fofs] = b->len;
        b->fofs[2 * b->n_fofs + 1] = row->fields[i].len;
        b->n_fofs++;
        if (row->fields[i].len)
            memcpy(b->bytes + b->len, row->fields[i].ptr, row->fields[i].len);
        b->len += row->fields[i].len;
    }
    r->raw_ofs = b->len;
    r->raw_len = row->raw.len;
    if (row->raw.len)
        memcpy(b->bytes + b->len, row->raw.ptr, row->raw.len);
    b->len += row->raw.len;
    r->line = row->line;
    r->error = row->error;
    r->error_line = row->error_line;
    r->error_column = row->error_column;
    r->long_field = row->long_field;
    r->raw_truncated = row->raw_truncated;
    r->too_many_fields = row->too_many_fields;
    r->plain = row->plain;
    /* The byte checks of the record run here, on the parsing thread (unless
     * the reader made them), to balance the two threads' work. */
    if (row->checked) {
        r->utf8_bad = row->utf8_bad;
        r->nul_at = row->nul_at;
    } else {
        r->utf8_bad = utf8_invalid_offset((const unsigned char *)row->raw.ptr, row->raw.len);
        const void *nul = row->raw.len ? memchr(row->raw.ptr, '\0', row->raw.len) : NULL;
        r->nul_at = nul ? (size_t)((const char *)nul - row->raw.ptr) : SIZE_MAX;
    }
    p->pushed++;
    if (b->n_recs >= BATCH_ROWS || b->len >= BATCH_BYTES) {
        p->cur = NULL;
        return enqueue(p, b);
    }
    return 0;
}

int rowpipe_finish(rowpipe *p)
{
    if (!p->started)
        return p->stop_value;
    if (p->cur && p->cur->n_recs) {
        enqueue(p, p->cur);
        p->cur = NULL;
    }
    enqueue(p, NULL);
    pthread_join(p->thread, NULL);
    p->started = 0;
    return p->stop_value;
}

int rowpipe_sync(rowpipe *p)
{
    if (!p->started)
        return p->stop_value;
    if (p->cur && p->cur->n_recs) {
        enqueue(p, p->cur);
        p->cur = NULL;
    }
    pthread_mutex_lock(&p->mu);
    while (p->n_done < p->n_sent)
        pthread_cond_wait(&p->drained, &p->mu);
    const int stop = p->stop_value;
    pthread_mutex_unlock(&p->mu);
    return stop;
}

uint64_t rowpipe_pushed(const rowpipe *p)
{
    return p->pushed;
}

void rowpipe_free(rowpipe *p)
{
    if (!p)
        return;
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        p->discard = 1;
        pthread_mutex_unlock(&p->mu);
        enqueue(p, NULL);
        pthread_join(p->thread, NULL);
    }
    free(p->views);
    batch_free(p->cur);
    for (size_t i = 0; i < p->count; i++)
        batch_free(p->ring[(p->head + i) % QUEUE_SLOTS]);
    while (p->free_list) {
        batch *b = p->free_list;
        p->free_list = b->next_free;
        batch_free(b);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->nonempty);
    pthread_cond_destroy(&p->nonfull);
    pthread_cond_destroy(&p->drained);
    free(p);
}
