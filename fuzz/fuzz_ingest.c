/*
 * fuzz_ingest.c — libFuzzer target for the CSV ingest and decision path: the
 * input is a declarations CSV pushed to crest_engine in two chunks (split
 * point derived from the input), with the shipped policy order251.conf or,
 * for a quarter of the inputs, order251_rules.conf (selection criteria and
 * the risk layer) when it exists; for half of the inputs, a small fixed
 * enterprise registry (so the as-of date join and BAD_DATE are reached).
 * Output format alternates CSV/JSONL.
 *
 * Each input runs twice: on one thread, and read in parallel blocks of 1 to
 * 300 bytes on 2 or 3 threads; the outputs (every byte), rejects and counts
 * must be equal.
 *
 * Invariants (trap on violation): after finish, rows_in = decisions +
 * rejects and the rejects by reason add up to rejects (also after a fatal
 * status); feed/finish return only CREST_OK, CREST_ERR_MISSING (header
 * without decl_id, or without the registry's join columns) or
 * CREST_ERR_SYNTAX (malformed header) — never IO, NOMEM or a state error.
 */
#include <string.h>

#include "fuzz_common.h"

static crest_policy *g_policy;
static crest_policy *g_policy_rules; /* NULL when the tree has no order251_rules.conf */
static crest_registry *g_registry;

static const char k_registry[] = "enterprise_id,tier,valid_from,valid_to\n"
                                 "E1,AEO,2020-01-01,2024-12-31\n"
                                 "E1,DISHONEST,2025-01-01,\n"
                                 "E2,REGULAR,2021-06-01,2030-01-01\n"
                                 "D9,失信企业,2019-01-01,\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    crest_init();
    size_t len = 0;
    char *text = fuzz_slurp("policies/order251.conf", &len);
    crest_diag diag;
    if (crest_policy_parse(text, len, "order251.conf", &g_policy, &diag) != CREST_OK)
        __builtin_trap();
    free(text);
    char path[1024];
    snprintf(path, sizeof path, "%s/policies/order251_rules.conf", CREST_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        if (crest_policy_load(path, &g_policy_rules, &diag) != CREST_OK)
            __builtin_trap();
    }
    if (crest_registry_parse(k_registry, sizeof k_registry - 1, "<fuzz-registry>", g_policy, &g_registry,
                             &diag) != CREST_OK)
        __builtin_trap();
    return 0;
}

/* A sink that folds every byte into a hash (FNV-1a) and counts them. */
typedef struct digest {
    uint64_t h, n;
} digest;

static crest_status digest_write(void *ctx, const void *buf, size_t len)
{
    digest *d = ctx;
    const unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        d->h = (d->h ^ p[i]) * UINT64_C(0x100000001b3);
    d->n += len;
    return CREST_OK;
}

typedef struct run_out {
    crest_status st;
    digest out, rej;
    crest_run_stats stats;
} run_out;

/* One run over the input, fed in two chunks, on `threads` threads with blocks
 * of block_bytes (parallel reading when threads >= 2). */
static void run_once(const uint8_t *data, size_t size, uint64_t h, unsigned threads, size_t block_bytes,
                     run_out *r)
{
    memset(r, 0, sizeof *r);
    r->out.h = r->rej.h = UINT64_C(0xcbf29ce484222325);
    crest_run_options opt = crest_run_options_default();
    opt.output.write = digest_write;
    opt.output.ctx = &r->out;
    opt.rejects.write = digest_write;
    opt.rejects.ctx = &r->rej;
    opt.format = (h >> 1) & 1 ? CREST_FORMAT_JSONL : CREST_FORMAT_CSV;
    opt.input_name = "<fuzz>";
    opt.output_buffer_bytes = 512; /* flush often */
    opt.threads = threads;
    opt.block_bytes = block_bytes;
    const crest_registry *reg = (h & 1) ? g_registry : NULL;

    crest_engine *e = NULL;
    crest_diag diag;
    const crest_policy *pol = ((h >> 2) & 3) == 0 && g_policy_rules ? g_policy_rules : g_policy;
    if (crest_engine_create(pol, reg, &opt, &e, &diag) != CREST_OK)
        __builtin_trap();
    const size_t split = size ? (size_t)((h >> 8) % (size + 1)) : 0;
    crest_status st = crest_engine_feed(e, data, split);
    if (st == CREST_OK)
        st = crest_engine_feed(e, data + split, size - split);
    if (st == CREST_OK)
        st = crest_engine_finish(e);
    if (st != CREST_OK && st != CREST_ERR_MISSING && st != CREST_ERR_SYNTAX)
        __builtin_trap();
    if (st != CREST_OK && crest_engine_diag(e)->message[0] == '\0')
        __builtin_trap(); /* a fatal status always says why */
    const crest_run_stats *s = crest_engine_stats(e);
    if (s->rows_in != s->decisions + s->rejects)
        __builtin_trap();
    uint64_t by_reason = 0;
    for (int k = 0; k < CREST_REJECT_COUNT; k++)
        by_reason += s->rejects_by_reason[k];
    if (by_reason != s->rejects)
        __builtin_trap();
    r->st = st;
    r->stats = *s;
    crest_engine_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint64_t h = fuzz_hash(data, size);
    run_out one, par;
    run_once(data, size, h, 1, 0, &one);
    /* The same input read in parallel blocks (tiny ones, so cuts fall
     * everywhere) must give the same bytes and counts (blockpipe.h). */
    run_once(data, size, h, 2 + (unsigned)((h >> 20) & 1), 1 + (size_t)((h >> 24) % 300), &par);
    if (one.st == CREST_OK &&
        (par.st != one.st || par.out.h != one.out.h || par.out.n != one.out.n || par.rej.h != one.rej.h ||
         par.rej.n != one.rej.n || par.stats.rows_in != one.stats.rows_in ||
         par.stats.decisions != one.stats.decisions || par.stats.inspected != one.stats.inspected))
        __builtin_trap();
    return 0;
}
