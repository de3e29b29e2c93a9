/*
 * test_multi.c — several policies over one reading (crest_multi.h) give each
 * policy exactly what its own engine gives: the same decisions, rejects and
 * counts, and the same records of a recording hook in the same order, for any
 * thread count, block size and feed chunking, on input made to break block
 * cuts (broken quoting, quoted line ends, CR, over-long records, bad UTF-8).
 * Policies that map the header alike share each record's validation and
 * declaration too (crest_multi_shares), with the same outputs. Policies that
 * cannot share a reading are refused.
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include <stdint.h>
#include <unistd.h>

#include "harness.h"

#define LIMITS "[input]\nmax_field_bytes = 60\nmax_record_bytes = 150\n"

/* Two policies that map the header differently (B reads goods_desc from
 * `extra`), with other tiers, rates and seeds. */
static const char *POLICY_A = "[policy]\nname = a\nseed = 7\n"
                              "[tiers]\norder = AEO, REGULAR, DISHONEST\nbase = REGULAR\ndefault = REGULAR\n"
                              "[tier AEO]\nratio = 0.2\n[tier REGULAR]\nrate = 0.3\n"
                              "[tier DISHONEST]\nrate = 0.8\nfloor = yes\n" LIMITS;
static const char *POLICY_B = "[policy]\nname = b\nseed = 99\n"
                              "[tiers]\norder = AEO, REGULAR\nbase = REGULAR\ndefault = REGULAR\n"
                              "[tier AEO]\nratio = 0.5\n[tier REGULAR]\nrate = 0.6\n"
                              "[columns]\ngoods_desc = extra\n[output]\npassthrough = none\n" LIMITS;
/* A policy that maps the header as A does, with other tiers, rates and seed. */
static const char *POLICY_A2 = "[policy]\nname = a2\nseed = 1234\n"
                               "[tiers]\norder = REGULAR, AEO\nbase = REGULAR\ndefault = REGULAR\n"
                               "[tier AEO]\nratio = 0.1\n[tier REGULAR]\nrate = 0.45\n" LIMITS;

/* One random record (or a piece of hostile text) ending with a line end. */
static void random_record(membuf *t, uint64_t *seed, size_t id)
{
    static const char *tiers[] = {"AEO", "REGULAR", "DISHONEST", "", "高级认证企业"};
    static const char *descs[] = {
        "plain goods",
        "\"widgets, assorted\"",
        "\"two\nlines\"",
        "\"three\r\nlines\nhere\"",
        "bad\"quote",
        "\"closed\"then text",
        "\"opens a quote, goes on",
        "a very long description that goes past the field limit of sixty bytes for sure",
        "\xff\xfe bad utf-8",
        "\"\n\n\""};
    static const char *ends[] = {"\n", "\n", "\n", "\r\n", "\r"};
    const uint64_t r = harness_rng(seed);
    const unsigned kind = (unsigned)(r % 40);
    if (kind == 0) {
        membuf_puts(t, "\n");
        return;
    }
    if (kind == 1) {
        membuf_puts(t, "D1,2024-01-01\n"); /* too few fields */
        return;
    }
    if (kind == 2) {
        membuf_puts(t, "\""); /* a lone quote */
        return;
    }
    if (kind == 3) {
        membuf_puts(t, " D1,2024-01-01,AEO,spaced id,x\n"); /* white space in the id */
        return;
    }
    if (kind == 4) {
        membuf_puts(t, ",2024-01-01,AEO,no id,x\n"); /* an empty id */
        return;
    }
    char buf[256];
    const int n = snprintf(buf, sizeof buf, "D%06zu,2024-%02d-%02d,%s,%s,%s", id, (int)((r >> 12) % 12) + 1,
                           (int)((r >> 16) % 28) + 1, tiers[(r >> 20) % 5], descs[(r >> 8) % 10],
                           (r >> 24) % 3 ? "x" : "\"y,z\"");
    membuf_put_n(t, buf, (size_t)n);
    membuf_puts(t, ends[(r >> 28) % 5]);
}

static void make_input(membuf *t, uint64_t seed, size_t rows)
{
    t->len = 0;
    membuf_puts(t, seed % 3 == 0 ? "\xEF\xBB\xBF" : "");
    membuf_puts(t, "decl_id,decl_date,credit_tier,goods_description,extra\n");
    for (size_t i = 0; i < rows; i++)
        random_record(t, &seed, i);
    if (seed % 2)
        membuf_puts(t, "DLAST,2024-01-01,AEO,no line end,x");
}

/* A record of the hooks: the id, the draw and the decision, as text. */
static int record_text(membuf *m, const crest_decl *d, const crest_decision *dec, unsigned long line)
{
    char buf[160];
    const crest_str id = d->field[CREST_FIELD_DECL_ID];
    const int n = snprintf(buf, sizeof buf, "%lu,%.*s,%.17g,%.17g,%d\n", line, (int)id.len, id.ptr, dec->u,
                           dec->p, dec->inspect);
    return membuf_write(m, buf, (size_t)n) != CREST_OK;
}

static int decl_hook(void *ctx, const crest_decl *d, const crest_decision *dec, unsigned long line)
{
    return record_text(ctx, d, dec, line);
}

static int record_hook(void *ctx, const crest_decl *d, const crest_decision *dec, unsigned long line,
                       crest_sink out)
{
    (void)ctx;
    membuf m = {0};
    const int rc = record_text(&m, d, dec, line);
    const crest_status st = out.write(out.ctx, m.data, m.len);
    free(m.data);
    return rc || st != CREST_OK;
}

typedef struct expected {
    run_result rendered; /* crest_engine, decisions rendered */
    membuf records;      /* crest_engine, decide = 0 and decl_hook */
    crest_run_stats record_stats;
} expected;

/* A single engine over the whole input, sequential, with the decl_hook. */
static void run_hooked(const crest_policy *p, const char *in, size_t len, membuf *out, crest_run_stats *stats)
{
    crest_run_options opt = crest_run_options_default();
    opt.decide = 0;
    opt.decl_hook = decl_hook;
    opt.hook_ctx = out;
    crest_engine *e = NULL;
    crest_diag d;
    cr_assert_eq(crest_engine_create(p, NULL, &opt, &e, &d), CREST_OK);
    cr_assert_eq(crest_engine_feed(e, in, len), CREST_OK);
    cr_assert_eq(crest_engine_finish(e), CREST_OK);
    *stats = *crest_engine_stats(e);
    crest_engine_free(e);
}

static void expect_stats(const crest_run_stats *a, const crest_run_stats *b, const char *what)
{
    cr_expect_eq(a->rows_in, b->rows_in, "%s: rows_in", what);
    cr_expect_eq(a->decisions, b->decisions, "%s: decisions", what);
    cr_expect_eq(a->rejects, b->rejects, "%s: rejects", what);
    cr_expect_eq(a->inspected, b->inspected, "%s: inspected", what);
    for (int k = 0; k < CREST_REJECT_COUNT; k++)
        cr_expect_eq(a->rejects_by_reason[k], b->rejects_by_reason[k], "%s: reason %d", what, k);
    cr_expect_eq(a->n_samples, b->n_samples, "%s: samples", what);
    for (size_t k = 0; k < a->n_samples && k < b->n_samples; k++)
        cr_expect_eq(a->samples[k].line, b->samples[k].line, "%s: sample %zu", what, k);
    cr_expect_eq(a->bytes_in, b->bytes_in, "%s: bytes_in", what);
}

static void expect_bytes(const membuf *a, const membuf *b, const char *what)
{
    cr_expect(a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0),
              "%s: differ (%zu vs %zu bytes)", what, a->len, b->len);
}

/* Both policies in one reading: rendered (records = 0) or through the recording hook. */
static void run_multi(const crest_policy *const *p, const char *in, size_t len, size_t chunk,
                      unsigned threads, size_t block_bytes, int records, membuf out[2], membuf rej[2],
                      crest_run_stats stats[2], size_t shares[2])
{
    crest_run_options opt[2];
    for (int k = 0; k < 2; k++) {
        opt[k] = crest_run_options_default();
        opt[k].output = (crest_sink){membuf_write, &out[k]};
        opt[k].output_buffer_bytes = 1000; /* small: records are cut between sink calls */
        opt[k].block_bytes = block_bytes;
        if (records) {
            opt[k].decide = 0;
            opt[k].decl_record = record_hook;
        } else {
            opt[k].rejects = (crest_sink){membuf_write, &rej[k]};
            opt[k].format = k ? CREST_FORMAT_JSONL : CREST_FORMAT_CSV;
        }
    }
    crest_multi *m = NULL;
    crest_diag d;
    cr_assert_eq(crest_multi_create(2, p, NULL, opt, threads, &m, &d), CREST_OK, "%s", d.message);
    for (size_t pos = 0; pos < len;) {
        const size_t n = len - pos < chunk ? len - pos : chunk;
        cr_assert_eq(crest_multi_feed(m, in + pos, n), CREST_OK);
        pos += n;
    }
    cr_assert_eq(crest_multi_finish(m), CREST_OK);
    cr_assert_eq(crest_multi_count(m), 2);
    cr_assert_eq(crest_multi_failed(m), 2);
    for (int k = 0; k < 2; k++) {
        stats[k] = *crest_engine_stats(crest_multi_engine(m, k));
        shares[k] = crest_multi_shares(m, k);
    }
    crest_multi_free(m);
}

/* Policies p[0], p[1] in one reading give each what its own engine gives, over
 * `seeds` inputs, thread counts, block sizes and chunkings; policy k decides
 * from the declarations of policy shares[k] (crest_multi_shares). */
static void check_pair(const crest_policy *const p[2], uint64_t seeds, const size_t want_shares[2])
{
    cr_assert(crest_multi_can_share(p, 2));
    membuf in = {0};
    const size_t blocks[] = {1, 7, 300, 0};
    const size_t chunks[] = {1, 13, 1000, 1 << 20};
    for (uint64_t seed = 1; seed <= seeds; seed++) {
        make_input(&in, seed, 400);
        expected ex[2];
        memset(ex, 0, sizeof ex);
        for (int k = 0; k < 2; k++) {
            harness_threads = 1;
            harness_block_bytes = 0;
            run_engine(p[k], NULL, in.data, in.len, 0, k ? CREST_FORMAT_JSONL : CREST_FORMAT_CSV,
                       &ex[k].rendered);
            cr_assert_eq(ex[k].rendered.status, CREST_OK, "%s", ex[k].rendered.diag.message);
            cr_assert_gt(ex[k].rendered.stats.rejects, 0, "the input must exercise rejects");
            run_hooked(p[k], in.data, in.len, &ex[k].records, &ex[k].record_stats);
            cr_assert_gt(ex[k].records.len, 0);
        }
        cr_assert(ex[0].records.len != ex[1].records.len ||
                      memcmp(ex[0].records.data, ex[1].records.data, ex[0].records.len) != 0,
                  "the two policies must decide otherwise");
        for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
            const unsigned threads = 1 + (unsigned)((seed + b) % 3);
            const size_t chunk = chunks[(seed + b) % 4];
            for (int records = 0; records <= 1; records++) {
                membuf out[2], rej[2];
                crest_run_stats st[2];
                size_t shares[2];
                memset(out, 0, sizeof out);
                memset(rej, 0, sizeof rej);
                run_multi(p, in.data, in.len, chunk, threads, blocks[b], records, out, rej, st, shares);
                for (int k = 0; k < 2; k++) {
                    char what[160];
                    snprintf(what, sizeof what, "seed %llu, policy %d, block %zu, chunk %zu, threads %u, %s",
                             (unsigned long long)seed, k, blocks[b], chunk, threads,
                             records ? "records" : "rendered");
                    cr_expect_eq(shares[k], want_shares[k], "%s: shares", what);
                    if (records) {
                        expect_bytes(&ex[k].records, &out[k], what);
                        expect_stats(&ex[k].record_stats, &st[k], what);
                    } else {
                        expect_bytes(&ex[k].rendered.out, &out[k], what);
                        expect_bytes(&ex[k].rendered.rej, &rej[k], what);
                        expect_stats(&ex[k].rendered.stats, &st[k], what);
                    }
                    free(out[k].data);
                    free(rej[k].data);
                }
            }
        }
        for (int k = 0; k < 2; k++) {
            run_result_free(&ex[k].rendered);
            free(ex[k].records.data);
        }
    }
    free(in.data);
}

/* A and B map the header otherwise: each maps its records itself. */
Test(multi, each_policy_as_its_own_engine)
{
    crest_policy *pa = parse_policy(POLICY_A), *pb = parse_policy(POLICY_B);
    cr_assert(pa && pb);
    const crest_policy *const p[2] = {pa, pb};
    check_pair(p, 12, (const size_t[2]){0, 1});
    crest_policy_free(pa);
    crest_policy_free(pb);
}

/* A and A2 map the header alike: the second decides from the first's
 * declarations, and a row the first rejects is rejected by both. */
Test(multi, policies_that_map_alike_share_declarations)
{
    crest_policy *pa = parse_policy(POLICY_A), *pa2 = parse_policy(POLICY_A2);
    cr_assert(pa && pa2);
    const crest_policy *const p[2] = {pa, pa2};
    check_pair(p, 6, (const size_t[2]){0, 0});
    const crest_policy *const q[2] = {pa2, pa};
    check_pair(q, 3, (const size_t[2]){0, 0});
    crest_policy_free(pa);
    crest_policy_free(pa2);
}

/* A policy with a risk layer parses the numbers a policy without one leaves
 * out: it goes first and the other decides from its declarations, whatever
 * their order; one whose [fx] converts values maps its records itself. */
Test(multi, a_risk_policy_serves_the_others)
{
    char dir[] = "/tmp/crest-multitest-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char crit[96], text[1024];
    snprintf(crit, sizeof crit, "%s/crit.csv", dir);
    FILE *f = fopen(crit, "wb");
    cr_assert_not_null(f);
    fputs("id,field,pattern,action,weight_or_lane,probability,credit_sensitive\n"
          "WIDGETS,goods_desc,re:widgets|lines,weight,3,,yes\n",
          f);
    fclose(f);
    snprintf(text, sizeof text,
             "[policy]\nname = r\nseed = 5\n"
             "[tiers]\norder = AEO, REGULAR\nbase = REGULAR\ndefault = REGULAR\n"
             "[tier AEO]\nratio = 0.2\n[tier REGULAR]\nrate = 0.2\n"
             "[rules]\ncriteria = %s\n[risk]\nbias = -2\nweighting = linear\ngain = 4\nrandom_share = "
             "0.1\n" LIMITS,
             crit);
    crest_policy *pr = parse_policy(text), *pa = parse_policy(POLICY_A);
    cr_assert(pr && pa);
    const crest_policy *const p[2] = {pa, pr};
    check_pair(p, 4, (const size_t[2]){1, 1});
    const crest_policy *const q[2] = {pr, pa};
    check_pair(q, 2, (const size_t[2]){0, 0});
    crest_policy_free(pr);
    crest_policy_free(pa);
    unlink(crit);
    rmdir(dir);
}

/* One engine alone with the recording hook decides in parallel blocks too, and
 * its records are those of the decl_hook in order; with decide = 1 it is refused. */
Test(multi, recording_hook_on_one_engine)
{
    crest_policy *p = parse_policy(POLICY_A);
    cr_assert(p);
    membuf in = {0};
    make_input(&in, 5, 2000);
    membuf want = {0};
    crest_run_stats want_stats;
    run_hooked(p, in.data, in.len, &want, &want_stats);
    const unsigned threads[] = {1, 2, 3};
    const size_t blocks[] = {0, 50, 4096};
    for (size_t i = 0; i < 3; i++) {
        crest_run_options opt = crest_run_options_default();
        membuf got = {0};
        opt.decide = 0;
        opt.decl_record = record_hook;
        opt.output = (crest_sink){membuf_write, &got};
        opt.output_buffer_bytes = 1000;
        opt.threads = threads[i];
        opt.block_bytes = blocks[i];
        crest_engine *e = NULL;
        crest_diag d;
        cr_assert_eq(crest_engine_create(p, NULL, &opt, &e, &d), CREST_OK);
        for (size_t pos = 0; pos < in.len; pos += 777)
            cr_assert_eq(crest_engine_feed(e, in.data + pos, in.len - pos < 777 ? in.len - pos : 777),
                         CREST_OK);
        cr_assert_eq(crest_engine_finish(e), CREST_OK);
        char what[64];
        snprintf(what, sizeof what, "one engine, threads %u, block %zu", threads[i], blocks[i]);
        expect_bytes(&want, &got, what);
        expect_stats(&want_stats, crest_engine_stats(e), what);
        crest_engine_free(e);
        free(got.data);
    }
    crest_run_options opt = crest_run_options_default();
    membuf out = {0};
    opt.decl_record = record_hook;
    opt.output = (crest_sink){membuf_write, &out};
    crest_engine *e = NULL;
    crest_diag d;
    cr_expect_eq(crest_engine_create(p, NULL, &opt, &e, &d), CREST_ERR_INVALID,
                 "decide = 1 with a recording hook");
    cr_expect_null(e);
    free(want.data);
    free(in.data);
    crest_policy_free(p);
}

/* A fixed-size record of a decision: its keyed uniform and its tier. */
static void fixed_record(const crest_decision *dec, unsigned char out[16])
{
    const uint64_t tier = dec->tier;
    memcpy(out, &dec->u, 8);
    memcpy(out + 8, &tier, 8);
}

static int record_sink_hook(void *ctx, const crest_decl *d, const crest_decision *dec, unsigned long line,
                            crest_sink out)
{
    (void)ctx, (void)d, (void)line;
    unsigned char rec[16];
    fixed_record(dec, rec);
    return out.write(out.ctx, rec, sizeof rec) != CREST_OK;
}

static int record_fixed_hook(void *ctx, const crest_decl *d, const crest_decision *dec, void *out)
{
    (void)ctx, (void)d;
    fixed_record(dec, out);
    return 0;
}

/* One engine with a recording hook of fixed-size records: the same bytes as
 * the hook that writes them to its sink, whatever the threads, blocks and
 * output buffer (one smaller than a record too); refused alone with the
 * other hook, or with a size out of 1..256. */
Test(multi, fixed_records_on_one_engine)
{
    crest_policy *p = parse_policy(POLICY_A);
    cr_assert(p);
    membuf in = {0};
    make_input(&in, 7, 2000);
    const unsigned threads[] = {1, 2, 3};
    const size_t blocks[] = {0, 50, 4096};
    const size_t buffers[] = {1000, 8, 4096};
    for (size_t i = 0; i < 3; i++) {
        membuf got[2] = {{0}, {0}};
        for (int fixed = 0; fixed < 2; fixed++) {
            crest_run_options opt = crest_run_options_default();
            opt.decide = 0;
            if (fixed) {
                opt.decl_record_fixed = record_fixed_hook;
                opt.decl_record_size = 16;
            } else {
                opt.decl_record = record_sink_hook;
            }
            opt.output = (crest_sink){membuf_write, &got[fixed]};
            opt.output_buffer_bytes = buffers[i];
            opt.threads = threads[i];
            opt.block_bytes = blocks[i];
            crest_engine *e = NULL;
            crest_diag d;
            cr_assert_eq(crest_engine_create(p, NULL, &opt, &e, &d), CREST_OK, "%s", d.message);
            for (size_t pos = 0; pos < in.len; pos += 777)
                cr_assert_eq(crest_engine_feed(e, in.data + pos, in.len - pos < 777 ? in.len - pos : 777),
                             CREST_OK);
            cr_assert_eq(crest_engine_finish(e), CREST_OK);
            crest_engine_free(e);
        }
        char what[80];
        snprintf(what, sizeof what, "fixed records, threads %u, block %zu, buffer %zu", threads[i], blocks[i],
                 buffers[i]);
        cr_expect_gt(got[0].len, 0, "%s: records", what);
        expect_bytes(&got[0], &got[1], what);
        free(got[0].data);
        free(got[1].data);
    }
    const size_t sizes[] = {0, 257, 16};
    for (size_t i = 0; i < 3; i++) {
        crest_run_options opt = crest_run_options_default();
        membuf out = {0};
        opt.decide = 0;
        opt.decl_record_fixed = record_fixed_hook;
        opt.decl_record_size = sizes[i];
        if (i == 2)
            opt.decl_record = record_sink_hook; /* both hooks */
        opt.output = (crest_sink){membuf_write, &out};
        crest_engine *e = NULL;
        crest_diag d;
        cr_expect_eq(crest_engine_create(p, NULL, &opt, &e, &d), CREST_ERR_INVALID, "case %zu", i);
        cr_expect_null(e);
    }
    free(in.data);
    crest_policy_free(p);
}

/* Policies that keep state across rows, or read CSV otherwise, do not share. */
Test(multi, refuses_what_cannot_share)
{
    crest_policy *a = parse_policy(POLICY_A);
    crest_policy *floor_period = parse_policy("[policy]\nname = f\nseed = 1\n"
                                              "[tiers]\norder = REGULAR, DISHONEST\nbase = REGULAR\n"
                                              "default = REGULAR\n[tier REGULAR]\nrate = 0.1\n"
                                              "[tier DISHONEST]\nrate = 0.8\nfloor = yes\n"
                                              "floor_period = month\n" LIMITS);
    crest_policy *dup = parse_policy("[policy]\nname = d\nseed = 1\n[tiers]\norder = REGULAR\nbase = "
                                     "REGULAR\ndefault = REGULAR\n[tier REGULAR]\nrate = 0.1\n" LIMITS
                                     "duplicate_ids = reject\n");
    crest_policy *wider = parse_policy("[policy]\nname = w\nseed = 1\n[tiers]\norder = REGULAR\nbase = "
                                       "REGULAR\ndefault = REGULAR\n[tier REGULAR]\nrate = 0.1\n"
                                       "[input]\nmax_field_bytes = 61\nmax_record_bytes = 150\n");
    cr_assert(a && floor_period && dup && wider);
    const crest_policy *pairs[][2] = {{a, floor_period}, {a, dup}, {a, wider}};
    for (size_t i = 0; i < 3; i++) {
        cr_expect_not(crest_multi_can_share(pairs[i], 2), "pair %zu", i);
        crest_run_options opt[2] = {crest_run_options_default(), crest_run_options_default()};
        membuf out = {0};
        opt[0].output = opt[1].output = (crest_sink){membuf_write, &out};
        crest_multi *m = NULL;
        crest_diag d;
        cr_expect_eq(crest_multi_create(2, pairs[i], NULL, opt, 2, &m, &d), CREST_ERR_INVALID, "pair %zu", i);
        cr_expect_null(m);
    }
    cr_expect(crest_multi_can_share((const crest_policy *const *)&wider, 1));
    cr_expect_not(crest_multi_can_share(NULL, 0));
    /* A hook that needs the rows in order is refused too. */
    const crest_policy *const two[2] = {a, a};
    crest_run_options opt[2] = {crest_run_options_default(), crest_run_options_default()};
    membuf out = {0};
    opt[0].output = opt[1].output = (crest_sink){membuf_write, &out};
    opt[1].decl_hook = decl_hook;
    crest_multi *m = NULL;
    crest_diag d;
    cr_expect_eq(crest_multi_create(2, two, NULL, opt, 1, &m, &d), CREST_ERR_INVALID);
    crest_multi_free(NULL);
    crest_policy_free(a);
    crest_policy_free(floor_period);
    crest_policy_free(dup);
    crest_policy_free(wider);
}

/* A column only one policy lacks stops the run and names that policy. */
Test(multi, a_policy_missing_its_column_fails)
{
    crest_policy *a = parse_policy(POLICY_A);
    crest_policy *b = parse_policy("[policy]\nname = b\nseed = 1\n[tiers]\norder = REGULAR\nbase = REGULAR\n"
                                   "default = REGULAR\n[tier REGULAR]\nrate = 0.1\n"
                                   "[columns]\ndecl_id = ref\n" LIMITS);
    cr_assert(a && b);
    const crest_policy *const p[2] = {b, a};
    crest_run_options opt[2] = {crest_run_options_default(), crest_run_options_default()};
    membuf out[2] = {{0}, {0}};
    for (int k = 0; k < 2; k++)
        opt[k].output = (crest_sink){membuf_write, &out[k]};
    crest_multi *m = NULL;
    crest_diag d;
    cr_assert_eq(crest_multi_create(2, p, NULL, opt, 2, &m, &d), CREST_OK);
    const char *in = "ref,credit_tier\nX1,REGULAR\nX2,REGULAR\n"; /* b finds its id, a does not */
    crest_status st = crest_multi_feed(m, in, strlen(in));
    if (st == CREST_OK)
        st = crest_multi_finish(m);
    cr_expect_eq(st, CREST_ERR_MISSING);
    cr_expect_eq(crest_multi_failed(m), 1);
    cr_expect_eq(crest_engine_diag(crest_multi_engine(m, 1))->status, CREST_ERR_MISSING);
    cr_expect_eq(crest_multi_feed(m, "x", 1), CREST_ERR_MISSING, "the failure sticks");
    crest_multi_free(m);
    for (int k = 0; k < 2; k++)
        free(out[k].data);
    crest_policy_free(a);
    crest_policy_free(b);
}
