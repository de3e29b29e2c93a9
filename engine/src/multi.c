/*
 * multi.c — several policies over one reading of the input (crest_multi.h).
 *
 * One engine per policy keeps everything of that policy: its header mapping,
 * risk binding, sinks, counts and, per block worker, its deciding state
 * (crest_worker_create). The run owns the reading: a sequential reader for
 * the header and for blocks the block pipe replays in sequence (their start
 * was a wrong guess), and one reader per block worker. Each record a reader
 * produces is decided by every engine in turn, on the reading thread's worker
 * of that engine; each engine's block results are emitted in block order
 * through its own sinks, as the block mode of a single engine does
 * (blocks.c), so each policy's output is that of its own engine.
 *
 * Engines that map the header alike share the record's validation and
 * declaration: in each record's round the engines go in `order` (those that
 * parse numbers first), and an engine with a `share_from` decides from that
 * earlier engine's declaration of the record when it was valid
 * (crest_engine_decide_valid); when it was not, the engine validates the
 * record itself and writes its own reject.
 *
 * It does not decide policies that need the rows in order (the caller gives
 * those an engine of their own) and does not read files.
 */
#include "crest/crest_multi.h"

#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* A block worker's reader context: the run and the worker's index. */
typedef struct multi_slot {
    struct crest_multi *m;
    unsigned w;
} multi_slot;

struct crest_multi {
    size_t n;
    crest_engine **e;
    unsigned n_workers;
    size_t block_bytes;
    csvread *reader;                /* the header, and blocks replayed in sequence */
    csvread *readers[MAX_DECIDERS]; /* one per block worker */
    multi_slot slots[MAX_DECIDERS];
    blockpipe *bp; /* started once the header is read */
    uint64_t bytes_fed;
    size_t failed; /* the first engine with a fatal status, n when none */
    int finished;
    /* From the header on (plan_sharing): the engines in deciding order, and
     * for each position the engine whose declaration it decides from, or -1. */
    int planned;
    size_t *order;
    long *share_from;
};

int crest_multi_can_share(const crest_policy *const *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t k = 0; k < n; k++) {
        if (!crest_policy_decides_rows_alone(p[k]) || crest_policy_has_capacity(p[k]) ||
            p[k]->unknown_tier == UNKNOWN_TIER_ERROR)
            return 0;
        if (p[k]->delimiter != p[0]->delimiter || p[k]->max_field_bytes != p[0]->max_field_bytes ||
            p[k]->max_record_bytes != p[0]->max_record_bytes)
            return 0;
    }
    return 1;
}

/* The first fatal status of any engine (a sink failure counts), CREST_OK if none. */
static crest_status status(crest_multi *m)
{
    if (m->failed < m->n)
        return m->e[m->failed]->fatal;
    for (size_t k = 0; k < m->n; k++)
        if (crest_engine_check_sinks(m->e[k]) != CREST_OK) {
            m->failed = k;
            return m->e[k]->fatal;
        }
    return CREST_OK;
}

/* A failure of the reading itself: reported on the first policy. */
COLD static void fail_run(crest_multi *m, const char *what)
{
    if (status(m) != CREST_OK)
        return;
    crest_engine_set_fatal(m->e[0], CREST_ERR_NOMEM, 0, 0, "%s", what);
    m->failed = 0;
}

/* ------------------------------------------------------------------ rows */

/* After every engine has read the header: the deciding order (engines that
 * parse numbers first, as their declarations serve the others too) and who
 * decides from whose declaration. */
static void plan_sharing(crest_multi *m)
{
    size_t at = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t k = 0; k < m->n; k++)
            if (crest_schema_reads_numbers(m->e[k]) == (pass == 0))
                m->order[at++] = k;
    for (size_t i = 0; i < m->n; i++) {
        m->share_from[i] = -1;
        for (size_t j = 0; j < i && m->share_from[i] < 0; j++)
            if (m->share_from[j] < 0 && crest_schema_decl_shareable(m->e[m->order[j]], m->e[m->order[i]]))
                m->share_from[i] = (long)m->order[j];
    }
    m->planned = 1;
}

/* Every engine decides the record in turn on its worker w (the main worker
 * when w is MAX_DECIDERS), from a shared declaration where it can. Hot path. */
static int decide_all(const crest_multi *m, unsigned wi, const csvread_row *row)
{
    for (size_t i = 0; i < m->n; i++) {
        crest_engine *e = m->e[m->order[i]];
        worker *w = wi < MAX_DECIDERS ? e->deciders[wi] : &e->main;
        const long j = m->share_from[i];
        const crest_decl *d = NULL;
        if (j >= 0)
            d = wi < MAX_DECIDERS ? m->e[j]->deciders[wi]->valid_decl : m->e[j]->main.valid_decl;
        const int rc = d ? crest_engine_decide_valid(e, w, row, d) : crest_engine_decide_row_keep(e, w, row);
        if (rc)
            return rc;
    }
    return 0;
}

/* Sequential reader: every engine decides the record on its main worker (the
 * first record is the header: each engine maps it). */
static int seq_row(void *ctx, const csvread_row *row)
{
    crest_multi *m = ctx;
    if (m->planned)
        return decide_all(m, MAX_DECIDERS, row);
    for (size_t k = 0; k < m->n; k++) {
        crest_engine *e = m->e[k];
        const int rc = crest_engine_decide_row(e, &e->main, row);
        if (rc)
            return rc;
    }
    if (m->e[m->n - 1]->stats.header_seen) /* each maps the header in turn */
        plan_sharing(m);
    return 0;
}

/* A block worker's reader: every engine decides the record on its worker w
 * (blocks start after the header, once the sharing is planned). Hot path. */
static int block_row(void *ctx, const csvread_row *row)
{
    const multi_slot *s = ctx;
    return decide_all(s->m, s->w, row);
}

/* ---------------------------------------------------------------- blocks */

/* A block's results: one per engine. */
static void *result_new(void *ctx)
{
    const crest_multi *m = ctx;
    crest_block_result **r = calloc(m->n, sizeof *r);
    if (!r)
        return NULL;
    for (size_t k = 0; k < m->n; k++)
        if (!(r[k] = crest_block_result_new())) {
            for (size_t j = 0; j < k; j++)
                crest_block_result_free(r[j]);
            free(r);
            return NULL;
        }
    return r;
}

static void result_free(void *ctx, void *res)
{
    const crest_multi *m = ctx;
    crest_block_result **r = res;
    for (size_t k = 0; k < m->n; k++)
        crest_block_result_free(r[k]);
    free(r);
}

/* Worker thread wi: read the block afresh and let every engine decide it. */
static int process(void *ctx, unsigned wi, blockpipe_block *b)
{
    crest_multi *m = ctx;
    crest_block_result **res = b->result;
    for (size_t k = 0; k < m->n; k++)
        crest_block_begin(m->e[k]->deciders[wi], res[k]);
    csvread *r = m->readers[wi];
    csvread_restart(r, b->read_line);
    int rc = csvread_feed(r, b->data, b->len);
    if (!rc && b->last)
        rc = csvread_finish(r);
    b->lines = csvread_line(r) - b->read_line;
    int bad = rc != 0;
    for (size_t k = 0; k < m->n; k++)
        bad |= crest_block_end(m->e[k]->deciders[wi], res[k]) != 0;
    return bad ? -1 : csvread_at_boundary(r);
}

/* Feeding thread, in block order: each engine's results to its sinks. */
static int emit(void *ctx, blockpipe_block *b)
{
    crest_multi *m = ctx;
    crest_block_result **res = b->result;
    for (size_t k = 0; k < m->n; k++)
        if (crest_block_emit(m->e[k], res[k], b->line - b->read_line) != 0)
            return 1;
    return 0;
}

/* Feeding thread, in block order: read the block with the sequential reader. */
static int replay(void *ctx, blockpipe_block *b, int restart)
{
    crest_multi *m = ctx;
    if (restart)
        csvread_restart(m->reader, b->line);
    const unsigned long before = csvread_line(m->reader);
    const int rc = csvread_feed(m->reader, b->data, b->len);
    b->lines = csvread_line(m->reader) - before;
    if (status(m) != CREST_OK)
        return -1;
    if (rc) {
        fail_run(m, "out of memory while reading input");
        return -1;
    }
    return csvread_at_boundary(m->reader);
}

/* The header (and anything before the first line end after it where the
 * reader stands between records) goes through the sequential reader line by
 * line; then the blocks start there. Returns the bytes used. */
static size_t feed_until_blocks(crest_multi *m, const char *buf, size_t len)
{
    size_t used = 0;
    while (used < len) {
        const char *lf = memchr(buf + used, '\n', len - used);
        const size_t n = lf ? (size_t)(lf + 1 - (buf + used)) : len - used;
        const int rc = csvread_feed(m->reader, buf + used, n);
        used += n;
        if (rc < 0)
            fail_run(m, "out of memory while reading input");
        if (rc || status(m) != CREST_OK)
            break;
        if (m->e[0]->stats.header_seen && csvread_at_boundary(m->reader)) {
            /* Lines are counted late unless a recording hook is given each line. */
            int late = 1;
            for (size_t k = 0; k < m->n; k++)
                late &= !m->e[k]->opt.decl_record;
            const blockpipe_ops ops = {m, result_new, result_free, process, emit, replay, late};
            m->bp = blockpipe_create(m->n_workers, m->block_bytes, csvread_line(m->reader), &ops);
            if (!m->bp)
                fail_run(m, "out of memory starting the worker threads");
            break;
        }
    }
    return used;
}

/* ------------------------------------------------------------------- API */

crest_status crest_multi_create(size_t n, const crest_policy *const *policies,
                                const crest_registry *const *registries, const crest_run_options *options,
                                unsigned threads, crest_multi **out, crest_diag *diag)
{
    *out = NULL;
    crest_diag_clear(diag);
    if (!crest_multi_can_share(policies, n) || threads < 1 || threads > MAX_DECIDERS)
        return crest_diag_set(diag, CREST_ERR_INVALID, "", 0, 0, "%s",
                              "these policies cannot share a reading of the input (crest_multi_can_share), "
                              "or the thread count is not 1 to 8");
    for (size_t k = 0; k < n; k++)
        if (options[k].decl_hook || options[k].windows || options[k].capacity_take || options[k].threads > 1)
            return crest_diag_set(diag, CREST_ERR_INVALID, "", 0, 0, "%s",
                                  "a multi-policy run takes no decl_hook, windows, capacity_take or threads "
                                  "in a policy's options");
    crest_multi *m = calloc(1, sizeof *m);
    if (!m || !(m->e = calloc(n, sizeof *m->e))) {
        free(m);
        return crest_diag_set(diag, CREST_ERR_NOMEM, "", 0, 0, "%s", "out of memory");
    }
    m->n = n;
    m->failed = n;
    m->n_workers = threads;
    if (!(m->order = calloc(n, sizeof *m->order)) || !(m->share_from = calloc(n, sizeof *m->share_from))) {
        crest_multi_free(m);
        return crest_diag_set(diag, CREST_ERR_NOMEM, "", 0, 0, "%s", "out of memory");
    }
    m->block_bytes = options[0].block_bytes;
    crest_status st = CREST_OK;
    for (size_t k = 0; k < n && st == CREST_OK; k++) {
        crest_run_options opt = options[k];
        opt.threads = 0;
        st = crest_engine_create(policies[k], registries ? registries[k] : NULL, &opt, &m->e[k], diag);
        /* Deciding state per block worker, before the header binds the
         * risk layer (a scratch per worker). */
        crest_engine *e = m->e[k];
        for (unsigned w = 0; w < threads && st == CREST_OK; w++) {
            if (!(e->deciders[w] = crest_worker_create(e)))
                st = crest_diag_set(diag, CREST_ERR_NOMEM, "", 0, 0, "%s", "out of memory");
            else
                e->n_deciders = w + 1;
        }
    }
    const crest_policy *p0 = policies[0];
    if (st == CREST_OK && !(m->reader = csvread_create((unsigned char)p0->delimiter, p0->max_field_bytes,
                                                       p0->max_record_bytes, MAX_COLUMNS, seq_row, m)))
        st = crest_diag_set(diag, CREST_ERR_NOMEM, "", 0, 0, "%s", "out of memory");
    for (unsigned w = 0; w < threads && st == CREST_OK; w++) {
        m->slots[w] = (multi_slot){m, w};
        if (!(m->readers[w] = csvread_create((unsigned char)p0->delimiter, p0->max_field_bytes,
                                             p0->max_record_bytes, MAX_COLUMNS, block_row, &m->slots[w])))
            st = crest_diag_set(diag, CREST_ERR_NOMEM, "", 0, 0, "%s", "out of memory");
    }
    if (st != CREST_OK) {
        crest_multi_free(m);
        return st;
    }
    *out = m;
    return CREST_OK;
}

/* crest_multi_feed, and crest_multi_feed_stable when stable. */
static crest_status feed(crest_multi *m, const void *buf, size_t len, int stable)
{
    if (m->finished)
        return status(m) != CREST_OK ? status(m) : CREST_ERR_STATE;
    if (status(m) != CREST_OK)
        return status(m);
    m->bytes_fed += len;
    if (!m->bp) {
        const size_t used = feed_until_blocks(m, buf, len);
        buf = (const char *)buf + used;
        len -= used;
    }
    if (m->bp && len && status(m) == CREST_OK &&
        (stable ? blockpipe_feed_stable(m->bp, buf, len) : blockpipe_feed(m->bp, buf, len)) < 0)
        fail_run(m, "out of memory while reading input");
    return status(m);
}

crest_status crest_multi_feed(crest_multi *m, const void *buf, size_t len)
{
    return feed(m, buf, len, 0);
}

crest_status crest_multi_feed_stable(crest_multi *m, const void *buf, size_t len)
{
    return feed(m, buf, len, 1);
}

const void *crest_multi_stable_floor(const crest_multi *m)
{
    return m->bp ? blockpipe_stable_floor(m->bp) : NULL;
}

/* crest_multi_finish and, when early, crest_multi_finish_early. */
static crest_status finish(crest_multi *m, int early)
{
    if (m->finished)
        return status(m);
    m->finished = 1;
    unsigned long dropped = 0;
    if (status(m) == CREST_OK && m->bp &&
        (early ? blockpipe_finish_early(m->bp, &dropped) : blockpipe_finish(m->bp)) < 0)
        fail_run(m, "out of memory while reading input");
    unsigned long line;
    if (early && status(m) == CREST_OK && csvread_pending(m->reader, &line)) {
        /* The sequential reader holds the cut record: forget it. */
        dropped = line;
        csvread_restart(m->reader, csvread_line(m->reader));
    }
    /* The sequential reader holds what is left: all of a short input, or a
     * record a replay of the last blocks ended inside. */
    if (status(m) == CREST_OK && csvread_finish(m->reader) < 0)
        fail_run(m, "out of memory while reading input");
    for (size_t k = 0; k < m->n; k++) {
        crest_engine *e = m->e[k];
        e->bytes_fed = m->bytes_fed;
        if (dropped)
            textbuf_printf(&e->notes,
                           "the input was cut short: the record begun at line %lu was not read whole and is "
                           "neither decided nor rejected\n",
                           dropped);
        if (crest_engine_finish(e) != CREST_OK && m->failed == m->n)
            m->failed = k;
    }
    return status(m);
}

crest_status crest_multi_finish(crest_multi *m)
{
    return finish(m, 0);
}

crest_status crest_multi_finish_early(crest_multi *m)
{
    return finish(m, 1);
}

size_t crest_multi_count(const crest_multi *m)
{
    return m->n;
}

const crest_engine *crest_multi_engine(const crest_multi *m, size_t k)
{
    return k < m->n ? m->e[k] : NULL;
}

size_t crest_multi_shares(const crest_multi *m, size_t k)
{
    if (k >= m->n || !m->planned)
        return k;
    for (size_t i = 0; i < m->n; i++)
        if (m->order[i] == k)
            return m->share_from[i] >= 0 ? (size_t)m->share_from[i] : k;
    return k;
}

size_t crest_multi_failed(const crest_multi *m)
{
    return m->failed;
}

void crest_multi_free(crest_multi *m)
{
    if (!m)
        return;
    blockpipe_free(m->bp); /* first: its threads use the engines */
    csvread_free(m->reader);
    for (unsigned w = 0; w < MAX_DECIDERS; w++)
        csvread_free(m->readers[w]);
    for (size_t k = 0; k < m->n && m->e; k++)
        crest_engine_free(m->e[k]);
    free(m->e);
    free(m->order);
    free(m->share_from);
    free(m);
}
