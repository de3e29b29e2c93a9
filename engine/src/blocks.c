/*
 * blocks.c — parallel deciding of order-free runs: block workers, each with
 * its own reader, decide blocks of the input into memory (blockpipe.h); the
 * feeding thread writes the results in block order and sums the counts,
 * moving the rejects' line numbers into place when a block was read from a
 * provisional line (blockpipe.h, late_lines).
 */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "grow.h"

static crest_status text_sink(void *ctx, const void *buf, size_t len)
{
    textbuf *tb = ctx;
    textbuf_append(tb, buf, len);
    return tb->oom ? CREST_ERR_NOMEM : CREST_OK;
}

static int worker_row(void *ctx, const csvread_row *row)
{
    worker *w = ctx;
    return crest_engine_decide_row(w->engine, w, row);
}

crest_block_result *crest_block_result_new(void)
{
    crest_block_result *r = calloc(1, sizeof *r);
    if (r) {
        textbuf_init(&r->out);
        textbuf_init(&r->rej);
    }
    return r;
}

void crest_block_result_free(crest_block_result *r)
{
    if (!r)
        return;
    textbuf_free(&r->out);
    textbuf_free(&r->rej);
    free(r->rej_lines);
    free(r);
}

static void *block_result_new(void *ctx)
{
    (void)ctx;
    return crest_block_result_new();
}

static void block_result_free(void *ctx, void *res)
{
    (void)ctx;
    crest_block_result_free(res);
}

/* A worker renders a block's decisions into its output buffer, which is big
 * enough for a block's output: at the end the buffer becomes the result's
 * text and the result's old buffer becomes the worker's (no copy). Returns 0
 * when that does not apply (an overflow went to the result's text already,
 * or its old buffer is too small and cannot be replaced): flush instead. */
static int take_rendered(outbuf *o, textbuf *t)
{
    if (t->len || o->error != CREST_OK)
        return 0;
    char *spare = t->data;
    size_t spare_cap = t->cap;
    if (!spare || spare_cap < o->cap) {
        char *fresh = malloc(o->cap);
        if (!fresh)
            return 0;
        free(spare);
        spare = fresh;
        spare_cap = o->cap;
    }
    t->data = o->buf;
    t->len = o->len;
    t->cap = o->cap;
    o->buf = spare;
    o->cap = spare_cap;
    o->len = 0;
    return 1;
}

void crest_block_begin(worker *w, crest_block_result *res)
{
    res->out.len = res->rej.len = 0;
    res->out.oom = res->rej.oom = 0;
    memset(&res->stats, 0, sizeof res->stats);
    res->n_rej_lines = 0;
    w->res = res;
    w->mem_out.sink.ctx = &res->out;
    w->mem_out.error = CREST_OK;
    w->stats = &res->stats;
    if (w->rej) {
        w->mem_rej.sink.ctx = &res->rej;
        w->mem_rej.error = CREST_OK;
    }
}

int crest_block_end(worker *w, crest_block_result *res)
{
    if (!take_rendered(&w->mem_out, &res->out))
        outbuf_flush(&w->mem_out);
    if (w->rej)
        outbuf_flush(&w->mem_rej);
    return res->out.oom || res->rej.oom ? -1 : 0;
}

void crest_block_note_line(worker *w, size_t ahead)
{
    crest_block_result *res = w->res;
    /* Bytes of the rejects so far: those flushed into the result, and those
     * still in the worker's buffer. */
    const size_t at = res->rej.len + w->rej->len + ahead;
    if (crest_grow((void **)&res->rej_lines, &res->rej_lines_cap, res->n_rej_lines + 1,
                   sizeof *res->rej_lines) != 0) {
        res->rej.oom = 1; /* the block fails: out of memory */
        return;
    }
    res->rej_lines[res->n_rej_lines++] = at;
}

/* The rejects text of res with its noted line numbers moved by shift. */
static void write_moved_rejects(outbuf *o, const crest_block_result *res, unsigned long shift)
{
    const char *text = res->rej.data;
    size_t from = 0;
    for (size_t k = 0; k < res->n_rej_lines; k++) {
        const size_t at = res->rej_lines[k];
        outbuf_write(o, text + from, at - from);
        unsigned long line = 0;
        size_t i = at;
        while (i < res->rej.len && text[i] >= '0' && text[i] <= '9')
            line = line * 10 + (unsigned long)(text[i++] - '0');
        outbuf_printf(o, "%lu", line + shift);
        from = i;
    }
    outbuf_write(o, text + from, res->rej.len - from);
}

int crest_block_emit(crest_engine *e, crest_block_result *res, unsigned long shift)
{
    outbuf_write_bulk(&e->out, res->out.data, res->out.len);
    if (e->has_rejects) {
        if (shift && res->n_rej_lines)
            write_moved_rejects(&e->rej, res, shift);
        else
            outbuf_write_bulk(&e->rej, res->rej.data, res->rej.len);
    }
    for (size_t i = 0; shift && i < res->stats.n_samples; i++)
        crest_reject_sample_move(&res->stats.samples[i], shift);
    crest_run_stats_merge(&e->stats, &res->stats);
    return crest_engine_check_sinks(e) != CREST_OK;
}

/* Worker thread: read and decide a block afresh into its result. */
static int block_process(void *ctx, unsigned wi, blockpipe_block *b)
{
    crest_engine *e = ctx;
    worker *w = e->deciders[wi];
    crest_block_result *res = b->result;
    crest_block_begin(w, res);
    csvread_restart(w->reader, b->read_line);
    int rc = csvread_feed(w->reader, b->data, b->len);
    if (!rc && b->last)
        rc = csvread_finish(w->reader);
    b->lines = csvread_line(w->reader) - b->read_line;
    if (crest_block_end(w, res) != 0 || rc)
        return -1;
    return csvread_at_boundary(w->reader);
}

/* Feeding thread, in block order: a valid block result goes out. */
static int block_emit(void *ctx, blockpipe_block *b)
{
    return crest_block_emit(ctx, b->result, b->line - b->read_line);
}

/* Feeding thread, in block order: read the block with the sequential reader. */
static int block_replay(void *ctx, blockpipe_block *b, int restart)
{
    crest_engine *e = ctx;
    if (restart)
        csvread_restart(e->reader, b->line);
    const unsigned long before = csvread_line(e->reader);
    const int rc = csvread_feed(e->reader, b->data, b->len);
    b->lines = csvread_line(e->reader) - before;
    if (crest_engine_check_sinks(e) != CREST_OK)
        return -1;
    if (rc) {
        if (e->fatal == CREST_OK)
            crest_engine_set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory while reading input");
        return -1;
    }
    return csvread_at_boundary(e->reader);
}

void crest_worker_free(worker *w)
{
    if (!w)
        return;
    crest_risk_scratch_free(w->scratch);
    csvread_free(w->reader);
    outbuf_free(&w->mem_out);
    outbuf_free(&w->mem_rej);
    free(w);
}

/* A block worker with its own reader; its sinks point at a block's result
 * while it reads that block (block_process). */
worker *crest_worker_create(crest_engine *e)
{
    worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->engine = e;
    crest_sink so = {text_sink, NULL}, sr = {text_sink, NULL};
    /* Room for a block's decisions (take_rendered); more goes through the sink. */
    const size_t out_cap = 4 * (e->opt.block_bytes ? e->opt.block_bytes : BLOCKPIPE_DEFAULT_BYTES) + 256;
    if (outbuf_init(&w->mem_out, so, out_cap) != CREST_OK ||
        (e->has_rejects && outbuf_init(&w->mem_rej, sr, 16 * 1024) != CREST_OK) ||
        !(w->reader = csvread_create((unsigned char)e->policy->delimiter, e->policy->max_field_bytes,
                                     e->policy->max_record_bytes, MAX_COLUMNS, worker_row, w))) {
        crest_worker_free(w);
        return NULL;
    }
    w->out = &w->mem_out;
    w->rej = e->has_rejects ? &w->mem_rej : NULL;
    return w;
}

/* Sum a decider's counts into the engine's. */
void crest_run_stats_merge(crest_run_stats *into, const crest_run_stats *s)
{
    into->rows_in += s->rows_in;
    into->decisions += s->decisions;
    into->rejects += s->rejects;
    for (int r = 0; r < CREST_REJECT_COUNT; r++)
        into->rejects_by_reason[r] += s->rejects_by_reason[r];
    for (size_t t = 0; t < CREST_MAX_TIERS; t++) {
        crest_tier_counts *a = &into->tiers[t];
        const crest_tier_counts *b = &s->tiers[t];
        a->rows += b->rows;
        a->inspected += b->inspected;
        a->expected += b->expected;
        a->unknown += b->unknown;
        a->from_registry += b->from_registry;
        a->from_feed += b->from_feed;
        a->forced += b->forced;
        a->forced_insensitive += b->forced_insensitive;
        a->moved_by_party += b->moved_by_party;
        a->forced_expected += b->forced_expected;
        a->random_expected += b->random_expected;
        a->deferred += b->deferred;
        a->overflow += b->overflow;
    }
    into->inspected += s->inspected;
    into->priority += s->priority;
    into->guarantee_exempt += s->guarantee_exempt;
    into->mra_recognised += s->mra_recognised;
    for (int l = 0; l < 5; l++)
        into->lanes[l] += s->lanes[l];
    into->selected_random += s->selected_random;
    into->selected_risk += s->selected_risk;
    into->selected_floor += s->selected_floor;
    into->selected_forced += s->selected_forced;
    into->selected_max_hits += s->selected_max_hits;
    into->regex_limit_hits += s->regex_limit_hits;
    into->formulas_guarded += s->formulas_guarded;
    into->deferred += s->deferred;
    into->overflow += s->overflow;
    for (size_t i = 0; i < s->n_unknown_tiers; i++)
        crest_stats_unknown_tier(into, s->unknown_tiers[i].value, strlen(s->unknown_tiers[i].value),
                                 s->unknown_tiers[i].count);
    into->unknown_tier_other += s->unknown_tier_other;
    for (int k = 0; k < 4; k++)
        into->registry_by_party[k] += s->registry_by_party[k];
    for (size_t i = 0; i < s->n_floor_months; i++)
        crest_stats_floor_month(into, s->floor_months[i].tier, s->floor_months[i].month,
                                s->floor_months[i].rows, s->floor_months[i].inspected);
    into->floor_rows_unmonthed += s->floor_rows_unmonthed;
    into->fx_missing += s->fx_missing;
    /* The first rejects by input line, whichever decider saw them. */
    for (size_t i = 0; i < s->n_samples; i++) {
        const crest_reject_sample *x = &s->samples[i];
        size_t pos = into->n_samples;
        while (pos > 0 && into->samples[pos - 1].line > x->line)
            pos--;
        if (pos >= CREST_REJECT_SAMPLES)
            continue;
        const size_t keep =
            into->n_samples < CREST_REJECT_SAMPLES ? into->n_samples : CREST_REJECT_SAMPLES - 1;
        memmove(&into->samples[pos + 1], &into->samples[pos], (keep - pos) * sizeof *x);
        into->samples[pos] = *x;
        if (into->n_samples < CREST_REJECT_SAMPLES)
            into->n_samples++;
    }
}

blockpipe *crest_blocks_start(crest_engine *e)
{
    /* Lines are counted late unless the recording hook is given each line. */
    const blockpipe_ops ops = {e,          block_result_new, block_result_free,  block_process,
                               block_emit, block_replay,     !e->opt.decl_record};
    return blockpipe_create(e->n_deciders, e->opt.block_bytes, csvread_line(e->reader), &ops);
}
