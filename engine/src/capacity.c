/*
 * capacity.c — [capacity] red_per_office_day and offices: the day's decisions
 * wait, rendered, until the day ends; then per office the RED selections over
 * its cap (its row of the offices table valid that day, else
 * red_per_office_day: offices.c) are deferred to BLUE (lowest risk first, reason CAPACITY) or, when they
 * may not be deferred, flagged OVERFLOW, and the day is written in input order.
 *
 * Memory stays flat however large a day is: the day's rendered records go to
 * memory up to a budget (crest_run_options.capacity_memory_bytes) and beyond
 * it to a temporary file, unlinked as soon as it is made (nothing is left
 * behind, even by a killed run); only the day's RED selections are kept in
 * memory (24 bytes each), since only they can be deferred or flagged.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crest/crest_date.h"
#include "engine_internal.h"
#include "grow.h"

#define CAP_DEFAULT_MEMORY ((size_t)16 << 20)

/* Each record in the day stream: this header, the rendered record (the part
 * before the decision, the decision part, the rest), then for a RED
 * selection its reasons (what a deferral rewrites the decision part with). */
typedef struct cap_head {
    uint64_t ordinal; /* position among the run's decisions (the capacity hook's) */
    uint32_t head_len, mid_len, tail_len;
    uint32_t reasons_len;
    uint32_t red;
    uint32_t unused; /* (no padding bytes of unknown value in the stream) */
} cap_head;

/* A RED selection of the day, in input order. */
typedef struct cap_red {
    double score;
    uint32_t office; /* index into the day's office table */
    uint8_t tier;
    uint8_t deferrable; /* drawn, credit-sensitive, not forced, not a floor tier */
    uint8_t action;     /* at the day's end: a crest_capacity_outcome */
    uint32_t cell;      /* its workload cell (when the run counts the workload) */
} cap_red;

struct capacity_day {
    int32_t day;
    int day_set;
    outbuf one; /* one record being rendered, into one_text */
    textbuf one_text;
    textbuf mem; /* the day stream while it fits the budget */
    FILE *spill; /* the day stream beyond it */
    size_t budget;
    int noted; /* the note on spilling is given once */
    cap_red *reds;
    size_t n_reds, reds_cap;
    textbuf offices; /* office strings of the day, NUL-separated */
    uint32_t n_offices;
    char *back; /* a record read back from the spill file */
    size_t back_cap;
};

static crest_status text_sink_write(void *ctx, const void *buf, size_t len)
{
    textbuf *tb = ctx;
    textbuf_append(tb, buf, len);
    return tb->oom ? CREST_ERR_NOMEM : CREST_OK;
}

COLD static int cap_fail(crest_engine *e, crest_status st, const char *what)
{
    crest_engine_set_fatal(e, st, 0, 0, "%s", what);
    return 1;
}

/* A temporary file in $TMPDIR (or /tmp), unlinked at once. */
static FILE *spill_file(void)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/crest-day-XXXXXX", dir && *dir ? dir : "/tmp");
    const int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    unlink(path);
    FILE *f = fdopen(fd, "w+b");
    if (!f)
        close(fd);
    else
        setvbuf(f, NULL, _IOFBF, (size_t)1 << 20); /* few large writes and reads */
    return f;
}

/* Append to the day stream: memory within the budget, then the spill file. */
static int day_append(crest_engine *e, const void *p, size_t n)
{
    capacity_day *cd = e->cap;
    if (!cd->spill && cd->mem.len + n <= cd->budget) {
        textbuf_append(&cd->mem, p, n);
        return cd->mem.oom
                   ? cap_fail(e, CREST_ERR_NOMEM, "out of memory buffering the day for the capacity cap")
                   : 0;
    }
    if (!cd->spill) {
        if (!(cd->spill = spill_file()) || fwrite(cd->mem.data, 1, cd->mem.len, cd->spill) != cd->mem.len)
            return cap_fail(e, CREST_ERR_IO, "cannot write the day to a temporary file for the capacity cap");
        cd->mem.len = 0;
        if (!cd->noted) {
            char date[16];
            crest_date_format(cd->day, date);
            textbuf_printf(&e->notes,
                           "capacity: a day's decisions beyond %zu bytes wait in a temporary file "
                           "(first on %s)\n",
                           cd->budget, date);
            cd->noted = 1;
        }
    }
    if (n && fwrite(p, 1, n, cd->spill) != n)
        return cap_fail(e, CREST_ERR_IO, "cannot write the day to a temporary file for the capacity cap");
    return 0;
}

/* The office's index in today's table (few offices: a linear scan). */
static uint32_t office_index(capacity_day *cd, crest_str office)
{
    size_t pos = 0;
    for (uint32_t idx = 0; idx < cd->n_offices; idx++) {
        const char *name = cd->offices.data + pos;
        const size_t n = strlen(name);
        if (n == office.len && memcmp(name, office.ptr ? office.ptr : "", n) == 0)
            return idx;
        pos += n + 1;
    }
    textbuf_append(&cd->offices, office.ptr ? office.ptr : "", office.len);
    textbuf_append(&cd->offices, "", 1);
    return cd->n_offices++;
}

crest_status crest_capacity_init(crest_engine *e)
{
    capacity_day *cd = calloc(1, sizeof *cd);
    if (!cd)
        return CREST_ERR_NOMEM;
    e->cap = cd;
    cd->budget = e->opt.capacity_memory_bytes ? e->opt.capacity_memory_bytes : CAP_DEFAULT_MEMORY;
    crest_sink s = {text_sink_write, &cd->one_text};
    return outbuf_init(&cd->one, s, 64 * 1024);
}

void crest_capacity_free(crest_engine *e)
{
    capacity_day *cd = e->cap;
    if (!cd)
        return;
    outbuf_free(&cd->one);
    textbuf_free(&cd->one_text);
    textbuf_free(&cd->mem);
    if (cd->spill)
        fclose(cd->spill);
    free(cd->reds);
    textbuf_free(&cd->offices);
    free(cd->back);
    free(cd);
    e->cap = NULL;
}

int crest_capacity_new_day(crest_engine *e, int32_t day)
{
    capacity_day *cd = e->cap;
    if (cd->day_set && day == cd->day)
        return 0;
    if (cd->day_set && crest_capacity_flush(e) != 0)
        return 1;
    cd->day = day;
    cd->day_set = 1;
    return 0;
}

int crest_capacity_hold(crest_engine *e, worker *w, const crest_decl *d, const render_record *rec)
{
    capacity_day *cd = e->cap;
    const crest_selection *sel = rec->sel;
    const policy_tier *t = &e->policy->tiers[rec->tier];
    const int red = sel->dec.inspect && sel->dec.lane == CREST_LANE_RED;
    cd->one.bytes_out = 0;
    cd->one_text.len = 0;
    render_marks m;
    crest_render(e, w, &cd->one, rec, &m);
    outbuf_flush(&cd->one);
    if (cd->one_text.oom || cd->one.error != CREST_OK)
        return cap_fail(e, CREST_ERR_NOMEM, "out of memory buffering the day for the capacity cap");
    const cap_head h = {e->stats.decisions - 1, /* this decision is already counted */
                        (uint32_t)(m.mid_start - m.start),
                        (uint32_t)(m.mid_end - m.mid_start),
                        (uint32_t)(m.end - m.mid_end),
                        red ? (uint32_t)sel->reasons.len : 0,
                        (uint32_t)red,
                        0};
    if (day_append(e, &h, sizeof h) != 0 || day_append(e, cd->one_text.data, (size_t)m.end) != 0 ||
        (red && day_append(e, sel->reasons.text, sel->reasons.len) != 0))
        return 1;
    if (!red)
        return 0;
    if (crest_grow((void **)&cd->reds, &cd->reds_cap, cd->n_reds + 1, sizeof *cd->reds) != 0)
        return cap_fail(e, CREST_ERR_NOMEM, "out of memory buffering the day for the capacity cap");
    cap_red *r = &cd->reds[cd->n_reds++];
    r->score = rec->has_score ? rec->score : 0.0;
    r->office = office_index(cd, d->field[CREST_FIELD_OFFICE]);
    r->tier = (uint8_t)rec->tier;
    r->deferrable = sel->dec.inspect && sel->drawn && !sel->dec.forced && !t->floor;
    r->action = 0;
    r->cell = e->work ? crest_workload_last_cell(e) : 0;
    if (cd->offices.oom)
        return cap_fail(e, CREST_ERR_NOMEM, "out of memory buffering the day for the capacity cap");
    return 0;
}

static const cap_red *sort_reds; /* qsort has no context argument; the engine's thread only */

/* Lowest score first; in input order at equal scores. */
static int cmp_defer(const void *a, const void *b)
{
    const uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    const double x = sort_reds[i].score, y = sort_reds[j].score;
    if (x != y)
        return x < y ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* Per office, when more RED selections than the cap: defer the lowest-risk
 * deferrable ones; what is still over the cap (forced and floor selections)
 * stays RED and is flagged, the latest first. */
static int decide_actions(crest_engine *e)
{
    capacity_day *cd = e->cap;
    uint32_t *cand = malloc((cd->n_reds ? cd->n_reds : 1) * sizeof *cand);
    if (!cand)
        return cap_fail(e, CREST_ERR_NOMEM, "out of memory applying the capacity cap");
    size_t name_pos = 0;
    for (uint32_t off = 0; off < cd->n_offices; off++) {
        /* The office's cap on this day: its row of [capacity] offices, else
         * red_per_office_day; an office with neither is not capped. */
        const char *name = cd->offices.data + name_pos;
        const size_t name_len = strlen(name);
        name_pos += name_len + 1;
        unsigned long cap;
        if (!crest_policy_office_cap(e->policy, name, name_len, cd->day, &cap))
            continue;
        size_t red = 0, nc = 0;
        for (size_t i = 0; i < cd->n_reds; i++) {
            if (cd->reds[i].office != off)
                continue;
            red++;
            if (cd->reds[i].deferrable)
                cand[nc++] = (uint32_t)i;
        }
        if (red <= cap)
            continue;
        size_t excess = red - cap;
        sort_reds = cd->reds;
        qsort(cand, nc, sizeof *cand, cmp_defer);
        for (size_t k = 0; k < nc && excess; k++, excess--)
            cd->reds[cand[k]].action = CREST_CAPACITY_DEFERRED;
        for (size_t i = cd->n_reds; i-- > 0 && excess;) {
            cap_red *r = &cd->reds[i];
            if (r->office == off && !r->action) {
                r->action = CREST_CAPACITY_OVERFLOW;
                excess--;
            }
        }
    }
    free(cand);
    return 0;
}

/*
 * Count what the cap did to one RED selection of tier `tier`, the same at a
 * day's end (batch) and as it comes (live). Deferred to post-clearance audit:
 * no physical inspection, so it leaves the tier's inspections (and its rate)
 * and the RED lane for BLUE, counted apart. Its reasons keep the code that
 * selected it after CAPACITY ("CAPACITY;RANDOM"), so the selection counts
 * (selected_random, selected_risk, ...: rows whose reasons carry the code) do
 * not change. An overflow stays RED and is counted.
 */
static void count_outcome(crest_engine *e, crest_run_stats *st, size_t tier, int deferred)
{
    crest_tier_counts *tc = &st->tiers[tier];
    if (deferred) {
        tc->deferred++;
        tc->inspected--;
        st->inspected--;
        st->deferred++;
        st->lanes[CREST_LANE_RED]--;
        st->lanes[CREST_LANE_BLUE]++;
        e->wacc[tier].deferred++;
        if (e->wacc[tier].inspected)
            e->wacc[tier].inspected--;
    } else {
        tc->overflow++;
        st->overflow++;
    }
}

/* Write one held record, its decision part rewritten when it was deferred or
 * flagged; the capacity hook hears of its outcome until it says stop (*stop). */
static void write_record(crest_engine *e, const cap_head *h, const char *bytes, const cap_red *r, int *stop)
{
    const crest_capacity_outcome outcome = r ? (crest_capacity_outcome)r->action : CREST_CAPACITY_KEPT;
    if (e->opt.capacity_hook && !*stop)
        *stop = e->opt.capacity_hook(e->opt.hook_ctx, h->ordinal, outcome);
    if (e->work && outcome != CREST_CAPACITY_KEPT)
        crest_workload_capacity(e, r->cell, outcome);
    outbuf *o = &e->out;
    outbuf_write(o, bytes, h->head_len);
    if (outcome != CREST_CAPACITY_KEPT) {
        const int deferred = outcome == CREST_CAPACITY_DEFERRED;
        reason_buf rb;
        reason_clear(&rb);
        crest_reason_add(&rb, deferred ? "CAPACITY" : "OVERFLOW", NULL);
        if (h->reasons_len) {
            const size_t n =
                h->reasons_len < sizeof rb.text - rb.len - 2 ? h->reasons_len : sizeof rb.text - rb.len - 2;
            rb.text[rb.len++] = ';';
            memcpy(rb.text + rb.len, bytes + h->head_len + h->mid_len + h->tail_len, n);
            rb.len += n;
            rb.text[rb.len] = '\0';
        }
        crest_render_middle(o, e->opt.format == CREST_FORMAT_CSV, deferred ? "DEFER" : "INSPECT",
                            deferred ? "BLUE" : e->policy->lane_inspect, rb.text, rb.len);
        crest_render_reason_text(e, o, e->opt.format == CREST_FORMAT_CSV, &rb);
        count_outcome(e, &e->stats, r->tier, deferred);
    } else {
        outbuf_write(o, bytes + h->head_len, h->mid_len);
    }
    outbuf_write(o, bytes + h->head_len + h->mid_len, h->tail_len);
}

/* The next record of the spill file into cd->back; 1, 0 at its end, -1 on an error. */
static int read_back(capacity_day *cd, cap_head *h)
{
    const size_t got = fread(h, 1, sizeof *h, cd->spill);
    if (got == 0 && feof(cd->spill))
        return 0;
    if (got != sizeof *h)
        return -1;
    const size_t n = (size_t)h->head_len + h->mid_len + h->tail_len + h->reasons_len;
    if (cd->back_cap < n + 1) {
        char *p = realloc(cd->back, n + 1);
        if (!p)
            return -1;
        cd->back = p;
        cd->back_cap = n + 1;
    }
    return fread(cd->back, 1, n, cd->spill) == n ? 1 : -1;
}

/*
 * End of a day: the actions on its RED selections, then its records in
 * input order to the output, from memory or read back from the spill file.
 */
int crest_capacity_flush(crest_engine *e)
{
    capacity_day *cd = e->cap;
    if (decide_actions(e) != 0)
        return 1;
    size_t ri = 0;
    int stop = 0;
    if (cd->spill) {
        if (fflush(cd->spill) != 0 || fseek(cd->spill, 0, SEEK_SET) != 0)
            return cap_fail(e, CREST_ERR_IO,
                            "cannot read back the day's temporary file for the capacity cap");
        cap_head h;
        int rc;
        while ((rc = read_back(cd, &h)) > 0)
            write_record(e, &h, cd->back, h.red ? &cd->reds[ri++] : NULL, &stop);
        fclose(cd->spill);
        cd->spill = NULL;
        if (rc < 0)
            return cap_fail(e, CREST_ERR_IO,
                            "cannot read back the day's temporary file for the capacity cap");
    } else {
        for (size_t pos = 0; pos < cd->mem.len;) {
            cap_head h;
            memcpy(&h, cd->mem.data + pos, sizeof h);
            pos += sizeof h;
            write_record(e, &h, cd->mem.data + pos, h.red ? &cd->reds[ri++] : NULL, &stop);
            pos += (size_t)h.head_len + h.mid_len + h.tail_len + h.reasons_len;
        }
    }
    cd->mem.len = 0;
    cd->n_reds = 0;
    cd->offices.len = 0;
    cd->n_offices = 0;
    if (e->out.error != CREST_OK)
        return cap_fail(e, CREST_ERR_IO, "writing the decisions failed");
    if (stop)
        return cap_fail(e, CREST_ERR_INTERRUPTED, "stopped by the caller");
    return 0;
}

/*
 * Live capacity (crest_run_options.capacity_take, crest serve): no day is
 * held. A RED selection asks the caller's shared counter at once; over the
 * cap it is deferred to BLUE (decision DEFER, reason CAPACITY) when it may be — drawn, not
 * forced, not a floor tier — else it stays RED flagged OVERFLOW, as at a
 * day's end in batch mode. First come, first served.
 */
int crest_capacity_live(crest_engine *e, worker *w, const crest_decl *d, const render_record *rec)
{
    const crest_selection *sel = rec->sel;
    const policy_tier *t = &e->policy->tiers[rec->tier];
    if (!(sel->dec.inspect && sel->dec.lane == CREST_LANE_RED)) {
        crest_render(e, w, w->out, rec, NULL);
        return 0;
    }
    const int r = e->opt.capacity_take(e->opt.capacity_ctx, d->field[CREST_FIELD_OFFICE], d->date_days);
    if (r < 0)
        return cap_fail(e, CREST_ERR_IO, "the capacity counter could not be read or updated");
    if (r > 0) {
        crest_render(e, w, w->out, rec, NULL);
        return 0;
    }
    const int defer = sel->drawn && !sel->dec.forced && !t->floor;
    /* Render into the one-record buffer, then write it with the decision part replaced. */
    capacity_day *cd = e->cap;
    cd->one.bytes_out = 0;
    cd->one_text.len = 0;
    render_marks m;
    crest_render(e, w, &cd->one, rec, &m);
    outbuf_flush(&cd->one);
    if (cd->one_text.oom || cd->one.error != CREST_OK)
        return cap_fail(e, CREST_ERR_NOMEM, "out of memory applying the capacity cap");
    const char *base = cd->one_text.data;
    outbuf_write(w->out, base + m.start, (size_t)(m.mid_start - m.start));
    reason_buf rb;
    reason_clear(&rb);
    crest_reason_add(&rb, defer ? "CAPACITY" : "OVERFLOW", NULL);
    if (sel->reasons.len) {
        const size_t n =
            sel->reasons.len < sizeof rb.text - rb.len - 2 ? sel->reasons.len : sizeof rb.text - rb.len - 2;
        rb.text[rb.len++] = ';';
        memcpy(rb.text + rb.len, sel->reasons.text, n);
        rb.len += n;
        rb.text[rb.len] = '\0';
    }
    crest_render_middle(w->out, e->opt.format == CREST_FORMAT_CSV, defer ? "DEFER" : "INSPECT",
                        defer ? "BLUE" : e->policy->lane_inspect, rb.text, rb.len);
    crest_render_reason_text(e, w->out, e->opt.format == CREST_FORMAT_CSV, &rb);
    outbuf_write(w->out, base + m.mid_end, (size_t)(m.end - m.mid_end));
    if (e->work)
        crest_workload_capacity(e, crest_workload_last_cell(e),
                                defer ? CREST_CAPACITY_DEFERRED : CREST_CAPACITY_OVERFLOW);
    count_outcome(e, w->stats, rec->tier, defer);
    return 0;
}
