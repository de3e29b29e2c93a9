/*
 * capacity.c — [capacity] red_per_office_day: the day's decisions wait,
 * rendered, until the day ends; then per office the RED selections over the
 * cap are deferred to BLUE (lowest risk first, reason CAPACITY) or, when they
 * may not be deferred, flagged OVERFLOW, and the day is written in input order.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* A buffered record of the current day (capacity mode). */
struct cap_record {
    size_t start, mid_start, mid_end, end; /* byte offsets in the day stream */
    size_t reasons_ofs, reasons_len;       /* in cap_reasons */
    size_t office;                         /* index into the day's office table */
    size_t tier;
    size_t order;     /* position in the day */
    uint64_t ordinal; /* position among the run's decisions (the capacity hook's) */
    double score;
    int red;        /* a RED selection */
    int deferrable; /* drawn, credit-sensitive, not forced, not a floor tier */
    int by_random;  /* drawn by the random share (else by risk) */
    int inspect;
};

static crest_status day_sink_write(void *ctx, const void *buf, size_t len)
{
    textbuf *tb = ctx;
    textbuf_append(tb, buf, len);
    return tb->oom ? CREST_ERR_NOMEM : CREST_OK;
}

static size_t day_pos(const crest_engine *e)
{
    return e->daymem.len + e->day_out.len;
}

/* Remember one record of the day before it is rendered. */
static int capacity_track(crest_engine *e, const crest_decl *d, double score, int red, int deferrable,
                          int by_random, size_t tier, const reason_buf *rb)
{
    if (e->n_cap_recs == e->cap_recs_cap) {
        size_t c = e->cap_recs_cap ? 2 * e->cap_recs_cap : 1024;
        cap_record *r = realloc(e->cap_recs, c * sizeof *r);
        if (!r) {
            crest_engine_set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s",
                                   "out of memory buffering the day for the capacity cap");
            return 1;
        }
        e->cap_recs = r;
        e->cap_recs_cap = c;
    }
    /* The office's index in today's table (few offices: a linear scan). */
    const crest_str office = d->field[CREST_FIELD_OFFICE];
    size_t idx = 0, pos = 0;
    for (; idx < e->n_offices; idx++) {
        const char *name = e->cap_offices.data + pos;
        const size_t n = strlen(name);
        if (n == office.len && memcmp(name, office.ptr ? office.ptr : "", n) == 0)
            break;
        pos += n + 1;
    }
    if (idx == e->n_offices) {
        textbuf_append(&e->cap_offices, office.ptr ? office.ptr : "", office.len);
        textbuf_append(&e->cap_offices, "", 1);
        e->n_offices++;
    }
    cap_record *r = &e->cap_recs[e->n_cap_recs];
    r->start = day_pos(e);
    r->office = idx;
    r->tier = tier;
    r->order = e->n_cap_recs;
    r->ordinal = e->stats.decisions - 1; /* this decision is already counted */
    r->score = score;
    r->red = red;
    r->deferrable = deferrable;
    r->by_random = by_random;
    r->reasons_ofs = e->cap_reasons.len;
    r->reasons_len = rb->len;
    textbuf_append(&e->cap_reasons, rb->text, rb->len);
    e->n_cap_recs++;
    if (e->cap_reasons.oom || e->cap_offices.oom) {
        crest_engine_set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s",
                               "out of memory buffering the day for the capacity cap");
        return 1;
    }
    return 0;
}

static int cmp_defer(const void *a, const void *b)
{
    const cap_record *x = *(cap_record *const *)a, *y = *(cap_record *const *)b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * End of a day: per office, when more RED selections than the cap, defer the
 * lowest-risk deferrable ones to BLUE (reason CAPACITY); what remains over the
 * cap (forced and floor selections) stays RED and is flagged OVERFLOW. Then
 * write the day's records in input order.
 */
int crest_capacity_flush(crest_engine *e)
{
    outbuf_flush(&e->day_out);
    if (e->daymem.oom || e->day_out.error != CREST_OK) {
        crest_engine_set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s",
                               "out of memory buffering the day for the capacity cap");
        return 1;
    }
    /* action per record: 0 keep, 1 defer, 2 overflow */
    unsigned char *action = calloc(e->n_cap_recs ? e->n_cap_recs : 1, 1);
    cap_record **cand = malloc((e->n_cap_recs ? e->n_cap_recs : 1) * sizeof *cand);
    if (!action || !cand) {
        free(action);
        free(cand);
        crest_engine_set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory applying the capacity cap");
        return 1;
    }
    for (size_t off = 0; off < e->n_offices; off++) {
        size_t red = 0, nc = 0;
        for (size_t i = 0; i < e->n_cap_recs; i++) {
            cap_record *r = &e->cap_recs[i];
            if (r->office != off || !r->red)
                continue;
            red++;
            if (r->deferrable)
                cand[nc++] = r;
        }
        if (red <= e->capacity)
            continue;
        size_t excess = red - e->capacity;
        qsort(cand, nc, sizeof *cand, cmp_defer);
        for (size_t k = 0; k < nc && excess; k++, excess--)
            action[cand[k]->order] = 1;
        /* What is still over the cap cannot be deferred: flag the latest ones. */
        for (size_t i = e->n_cap_recs; i-- > 0 && excess;) {
            cap_record *r = &e->cap_recs[i];
            if (r->office == off && r->red && !action[i]) {
                action[i] = 2;
                excess--;
            }
        }
    }
    const int fmt_csv = e->opt.format == CREST_FORMAT_CSV;
    int stop = 0;
    for (size_t i = 0; i < e->n_cap_recs; i++) {
        const cap_record *r = &e->cap_recs[i];
        if (e->opt.capacity_hook && !stop)
            stop = e->opt.capacity_hook(e->opt.hook_ctx, r->ordinal, (crest_capacity_outcome)action[i]);
        const char *base = e->daymem.data;
        outbuf_write(&e->out, base + r->start, r->mid_start - r->start);
        if (action[i]) {
            reason_buf rb;
            rb.len = 0;
            rb.text[0] = '\0';
            crest_reason_add(&rb, action[i] == 1 ? "CAPACITY" : "OVERFLOW", NULL);
            if (r->reasons_len) {
                size_t n = r->reasons_len < sizeof rb.text - rb.len - 2 ? r->reasons_len
                                                                        : sizeof rb.text - rb.len - 2;
                rb.text[rb.len++] = ';';
                memcpy(rb.text + rb.len, e->cap_reasons.data + r->reasons_ofs, n);
                rb.len += n;
                rb.text[rb.len] = '\0';
            }
            crest_render_middle(&e->out, fmt_csv, action[i] == 1 ? "DEFER" : "INSPECT",
                                action[i] == 1 ? "BLUE" : e->policy->lane_inspect, rb.text, rb.len);
            crest_tier_counts *tc = &e->stats.tiers[r->tier];
            if (action[i] == 1) {
                /* Deferred to post-clearance audit: no physical inspection, so
                 * not in the tier's inspected count (nor its rate), counted apart. */
                tc->deferred++;
                tc->inspected--;
                e->stats.inspected--;
                e->stats.deferred++;
                e->stats.lanes[CREST_LANE_RED]--;
                e->stats.lanes[CREST_LANE_BLUE]++;
                if (r->by_random)
                    e->stats.selected_random--;
                else
                    e->stats.selected_risk--;
                e->wacc[r->tier].deferred++;
                if (e->wacc[r->tier].inspected)
                    e->wacc[r->tier].inspected--;
            } else {
                tc->overflow++;
                e->stats.overflow++;
            }
        } else {
            outbuf_write(&e->out, base + r->mid_start, r->mid_end - r->mid_start);
        }
        outbuf_write(&e->out, base + r->mid_end, r->end - r->mid_end);
    }
    free(action);
    free(cand);
    e->daymem.len = 0;
    e->cap_reasons.len = 0;
    e->cap_offices.len = 0;
    e->n_offices = 0;
    e->n_cap_recs = 0;
    e->day_out.bytes_out = 0;
    if (e->out.error != CREST_OK) {
        crest_engine_set_fatal(e, CREST_ERR_IO, 0, 0, "%s", "writing the decisions failed");
        return 1;
    }
    if (stop) {
        crest_engine_set_fatal(e, CREST_ERR_INTERRUPTED, 0, 0, "%s", "stopped by the caller");
        return 1;
    }
    return 0;
}

crest_status crest_capacity_init(crest_engine *e)
{
    crest_sink ds = {day_sink_write, &e->daymem};
    return outbuf_init(&e->day_out, ds, 64 * 1024);
}

void crest_capacity_free(crest_engine *e)
{
    if (e->capacity)
        outbuf_free(&e->day_out);
    textbuf_free(&e->daymem);
    textbuf_free(&e->cap_reasons);
    textbuf_free(&e->cap_offices);
    free(e->cap_recs);
}

int crest_capacity_new_day(crest_engine *e, int32_t day)
{
    if (e->cap_day_set && day == e->cap_day)
        return 0;
    if (e->cap_day_set && crest_capacity_flush(e) != 0)
        return 1;
    e->cap_day = day;
    e->cap_day_set = 1;
    return 0;
}

int crest_capacity_hold(crest_engine *e, worker *w, const crest_decl *d, const render_record *rec)
{
    const crest_selection *sel = rec->sel;
    const policy_tier *t = &e->policy->tiers[rec->tier];
    const int red = sel->dec.inspect && sel->dec.lane == CREST_LANE_RED;
    const int deferrable = sel->dec.inspect && sel->drawn && !sel->dec.forced && !t->floor;
    if (capacity_track(e, d, rec->has_score ? rec->score : 0.0, red, deferrable, sel->by_random, rec->tier,
                       &sel->reasons) != 0)
        return 1;
    render_marks m;
    crest_render(e, w, &e->day_out, rec, &m);
    cap_record *r = &e->cap_recs[e->n_cap_recs - 1];
    r->mid_start = (size_t)m.mid_start;
    r->mid_end = (size_t)m.mid_end;
    r->end = (size_t)m.end;
    return 0;
}
