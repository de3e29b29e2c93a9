/*
 * replay_multi.c — several policies' replay accumulators fed by one shared
 * reading of the input (crest_replay_multi.h).
 *
 * The shared reading (crest_multi.h) decides blocks in parallel: a recording
 * hook (record_row_in_place, or record_decl with export rows) keeps, on the
 * deciding thread, what the accumulator needs of each declaration in a
 * compact record (replay_row.h: 32 bytes of the decision, date, label and
 * revenue; then the export row's length and text when asked), and the
 * records reach take_records, the policy's output sink, in input order on
 * the feeding thread, cut anywhere between two calls; it adds each whole
 * record as crest_replay_add_decl would have.
 */
#include "crest/crest_replay_multi.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_multi.h"
#include "replay_row.h"

/* One policy of the run: its accumulator and what stopped it. */
typedef struct rm_policy {
    const crest_replay_multi *m;
    size_t k;
    crest_replay *rep;
    const replay_reader *rd; /* rep's label and revenue sources */
    int write_rows;          /* the run writes export rows (m->rows.write) */
    int failed;
    crest_diag diag;
    char *carry; /* a record cut between two calls of take_records */
    size_t carry_len, carry_cap;
} rm_policy;

struct crest_replay_multi {
    size_t n;
    rm_policy *pol;
    crest_multi *multi;
    crest_replay_multi_rows rows;
};

/* The record of one declaration: its replay_row; with export rows, then
 * the row's length (uint32_t) and its text. */
static size_t head_size(const crest_replay_multi *m)
{
    return sizeof(replay_row) + (m->rows.write ? sizeof(uint32_t) : 0);
}

/* Feeding thread: the label columns from the header. */
static int resolve_header(void *ctx, const crest_str *header, size_t n_cols)
{
    rm_policy *p = ctx;
    if (crest_replay_header(p->rep, header, n_cols, &p->diag) != CREST_OK) {
        p->failed = 1;
        return 1;
    }
    return 0;
}

/* Deciding thread (any, at the same time): only reads p and the reader
 * (replay_row_make and crest_replay_decision_row change nothing). The
 * record with export rows. */
static int record_decl(void *ctx, const crest_decl *d, const crest_decision *dec, unsigned long line,
                       crest_sink out)
{
    (void)line;
    const rm_policy *p = ctx;
    replay_row h;
    replay_row_make(p->rd, d, dec, &h);
    char *row = crest_replay_decision_row(p->rep, p->m->rows.names[p->k], d, dec);
    if (!row)
        return 1;
    const uint32_t len = (uint32_t)strlen(row);
    crest_status st = out.write(out.ctx, &h, sizeof h);
    if (st == CREST_OK)
        st = out.write(out.ctx, &len, sizeof len);
    if (st == CREST_OK)
        st = out.write(out.ctx, row, len);
    free(row);
    return st != CREST_OK;
}

/* The same without export rows: the record is the row alone, filled in
 * place at the end of the deciding thread's output. */
static int record_row_in_place(void *ctx, const crest_decl *d, const crest_decision *dec, void *out)
{
    const rm_policy *p = ctx;
    replay_row h;
    replay_row_make(p->rd, d, dec, &h);
    memcpy(out, &h, sizeof h);
    return 0;
}

/* The bytes of the record that starts at rec (at least head_size bytes of it). */
static size_t record_size(const crest_replay_multi *m, const char *rec)
{
    if (!m->rows.write)
        return sizeof(replay_row);
    uint32_t len;
    memcpy(&len, rec + sizeof(replay_row), sizeof len);
    return sizeof(replay_row) + sizeof len + len;
}

/* The accumulator of p failed: out of memory, or the ranking's temporary file. */
static crest_status add_failed(rm_policy *p)
{
    p->failed = 1;
    p->diag = *crest_replay_diag(p->rep);
    return p->diag.status;
}

/* One whole record into the accumulator (and its row to the caller). */
static crest_status take(rm_policy *p, const char *rec)
{
    replay_row h;
    memcpy(&h, rec, sizeof h);
    if (replay_row_add(p->rep, &h) != CREST_OK)
        return add_failed(p);
    if (p->m->rows.write) {
        const crest_replay_multi_rows *rows = &p->m->rows; /* p->diag is clear: nothing failed yet */
        const size_t head = head_size(p->m);
        const crest_status st =
            rows->write(rows->ctx, p->k, rec + head, record_size(p->m, rec) - head, &p->diag);
        if (st != CREST_OK) {
            p->failed = 1;
            if (p->diag.status == CREST_OK)
                crest_diag_set(&p->diag, st, "<replay>", 0, 0, "%s", "the decisions' writer failed");
            return p->diag.status;
        }
    }
    return CREST_OK;
}

/* The bytes of the record gathered so far in p->carry need in all. */
static size_t carry_need(const rm_policy *p)
{
    const size_t head = head_size(p->m);
    return p->carry_len < head ? head : record_size(p->m, p->carry);
}

/* The output sink of a policy: its records, in input order, cut anywhere
 * between two calls. */
static crest_status take_records(void *ctx, const void *buf, size_t len)
{
    rm_policy *p = ctx;
    const char *s = buf;
    const size_t head = head_size(p->m);
    if (!p->carry_len && !p->m->rows.write) { /* the usual case: whole rows of one size */
        const size_t n = len / sizeof(replay_row);
        if (n && replay_rows_add(p->rep, s, n) != CREST_OK)
            return add_failed(p);
        s += n * sizeof(replay_row);
        len -= n * sizeof(replay_row);
    }
    while (len) {
        if (!p->carry_len && len >= head) {
            const size_t need = record_size(p->m, s);
            if (len >= need) { /* a whole record in place */
                const crest_status st = take(p, s);
                if (st != CREST_OK)
                    return st;
                s += need;
                len -= need;
                continue;
            }
        }
        /* A record cut by the end of buf: gather it. */
        const size_t need = carry_need(p), take_n = need - p->carry_len < len ? need - p->carry_len : len;
        if (p->carry_len + take_n > p->carry_cap) {
            const size_t cap = 2 * (p->carry_len + take_n);
            char *c = realloc(p->carry, cap);
            if (!c) {
                p->failed = 1;
                return crest_diag_set(&p->diag, CREST_ERR_NOMEM, "replay", 0, 0, "out of memory");
            }
            p->carry = c;
            p->carry_cap = cap;
        }
        memcpy(p->carry + p->carry_len, s, take_n);
        p->carry_len += take_n;
        s += take_n;
        len -= take_n;
        if (p->carry_len == carry_need(p)) {
            p->carry_len = 0;
            const crest_status st = take(p, p->carry);
            if (st != CREST_OK)
                return st;
        }
    }
    return CREST_OK;
}

crest_status crest_replay_multi_create(size_t n, crest_replay *const *reps,
                                       const crest_registry *const *registries,
                                       const crest_run_options *options, unsigned threads,
                                       const crest_replay_multi_rows *rows, crest_replay_multi **out,
                                       crest_diag *diag)
{
    *out = NULL;
    crest_diag_clear(diag);
    if (n == 0 || !reps || (rows && rows->write && !rows->names))
        return crest_diag_set(diag, CREST_ERR_INVALID, "", 0, 0, "%s",
                              "a shared replay needs its accumulators (and with export rows their names)");
    crest_replay_multi *m = calloc(1, sizeof *m);
    const crest_policy **policies = calloc(n, sizeof *policies);
    crest_run_options *opts = calloc(n, sizeof *opts);
    crest_status st = CREST_OK;
    if (!m || !policies || !opts || !(m->pol = calloc(n, sizeof *m->pol))) {
        st = crest_diag_set(diag, CREST_ERR_NOMEM, "", 0, 0, "%s", "out of memory");
        goto done;
    }
    m->n = n;
    if (rows)
        m->rows = *rows;
    for (size_t k = 0; k < n; k++) {
        rm_policy *p = &m->pol[k];
        p->m = m;
        p->k = k;
        p->rep = reps[k];
        p->rd = replay_reader_of(reps[k]);
        p->write_rows = m->rows.write != NULL;
        policies[k] = crest_replay_policy(reps[k]);
        crest_run_options *opt = &opts[k];
        *opt = options ? options[k] : crest_run_options_default();
        opt->decide = 0;
        opt->header_hook = resolve_header;
        if (p->write_rows) {
            opt->decl_record = record_decl;
        } else {
            opt->decl_record_fixed = record_row_in_place;
            opt->decl_record_size = sizeof(replay_row);
        }
        opt->hook_ctx = p;
        opt->output = (crest_sink){take_records, p};
        /* A small output buffer: a block's records (larger) then reach
         * take_records straight from the block's result, whole and uncopied;
         * only records decided on the feeding thread gather in the buffer. */
        if (!opt->output_buffer_bytes)
            opt->output_buffer_bytes = 4096;
        if (opt->capacity_hook)
            st = crest_diag_set(diag, CREST_ERR_INVALID, "", 0, 0, "%s",
                                "a shared replay takes no capacity_hook (a capacity cap reads on its own)");
    }
    if (st == CREST_OK)
        st = crest_multi_create(n, policies, registries, opts, threads, &m->multi, diag);
done:
    free(policies);
    free(opts);
    if (st != CREST_OK) {
        crest_replay_multi_free(m);
        return st;
    }
    *out = m;
    return CREST_OK;
}

crest_status crest_replay_multi_feed(crest_replay_multi *m, const void *buf, size_t len)
{
    return crest_multi_feed(m->multi, buf, len);
}

crest_status crest_replay_multi_feed_stable(crest_replay_multi *m, const void *buf, size_t len)
{
    return crest_multi_feed_stable(m->multi, buf, len);
}

const void *crest_replay_multi_stable_floor(const crest_replay_multi *m)
{
    return crest_multi_stable_floor(m->multi);
}

crest_status crest_replay_multi_finish(crest_replay_multi *m)
{
    return crest_multi_finish(m->multi);
}

crest_status crest_replay_multi_finish_early(crest_replay_multi *m)
{
    return crest_multi_finish_early(m->multi);
}

size_t crest_replay_multi_count(const crest_replay_multi *m)
{
    return m->n;
}

const crest_engine *crest_replay_multi_engine(const crest_replay_multi *m, size_t k)
{
    return k < m->n ? crest_multi_engine(m->multi, k) : NULL;
}

size_t crest_replay_multi_failed(const crest_replay_multi *m)
{
    return crest_multi_failed(m->multi);
}

const crest_diag *crest_replay_multi_diag(const crest_replay_multi *m, size_t k)
{
    return k < m->n && m->pol[k].failed ? &m->pol[k].diag : NULL;
}

void crest_replay_multi_free(crest_replay_multi *m)
{
    if (!m)
        return;
    crest_multi_free(m->multi); /* first: its threads call the hooks */
    for (size_t k = 0; k < m->n; k++)
        free(m->pol[k].carry);
    free(m->pol);
    free(m);
}
