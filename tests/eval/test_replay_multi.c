/*
 * test_replay_multi.c — a shared replay (crest_replay_multi.h) leaves every
 * policy's accumulator exactly as its own engine does through the replay's
 * hooks: the same periods, tiers, JSON, gain curve and ranking quality, the
 * same engine counts and the same per-decision rows in the same order, for
 * any thread count, block size and feed chunking, on input with broken
 * records, unlabelled rows, ties and invalid scores. Failures name their
 * policy and say why; what cannot share is refused.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest.h"
#include "crest/crest_multi.h"
#include "crest/crest_replay.h"
#include "crest/crest_replay_multi.h"
#include "../engine/harness.h"

#define LIMITS "[input]\nmax_field_bytes = 60\nmax_record_bytes = 200\n"

/* Two policies with other tiers, rates and seeds; both share a reading. */
static const char *POLICY_A = "[policy]\nname = a\nseed = 7\n"
                              "[tiers]\norder = AEO, REGULAR, DISHONEST\nbase = REGULAR\ndefault = REGULAR\n"
                              "[tier AEO]\nratio = 0.2\n[tier REGULAR]\nrate = 0.3\n"
                              "[tier DISHONEST]\nrate = 0.8\nfloor = yes\n" LIMITS;
static const char *POLICY_B = "[policy]\nname = b\nseed = 99\n"
                              "[tiers]\norder = AEO, REGULAR\nbase = REGULAR\ndefault = REGULAR\n"
                              "[tier AEO]\nratio = 0.5\n[tier REGULAR]\nrate = 0.1\n" LIMITS;

static crest_policy *parse(const char *text)
{
    crest_policy *p = NULL;
    crest_diag d;
    cr_assert_eq(crest_policy_parse(text, strlen(text), "<test>", &p, &d), CREST_OK, "%s", d.message);
    return p;
}

/* A labelled history: dates over four months, scores with ties, empty and
 * out-of-range scores, unlabelled rows, quoted line ends, broken records. */
static void make_input(membuf *b, uint64_t seed, size_t rows)
{
    static const char *tiers[] = {"AEO", "REGULAR", "DISHONEST", ""};
    static const char *descs[] = {"plain goods", "\"widgets, assorted\"", "\"two\nlines\"", "bad\"quote",
                                  "a very long description that goes past the field limit of sixty bytes"};
    static const char *scores[] = {"0.1", "0.5", "0.9", "", "1.5", "x"};
    static const char *labels[] = {"0", "0", "0", "1", "", "maybe"};
    b->len = 0;
    membuf_puts(
        b, "decl_id,decl_date,credit_tier,goods_description,illicit,revenue,score,declared_value,rate\n");
    for (size_t i = 0; i < rows; i++) {
        const uint64_t r = harness_rng(&seed);
        if (r % 97 == 0) {
            membuf_puts(b, "D1,2024-01-01\n"); /* too few fields */
            continue;
        }
        char line[256], score[32];
        if ((r >> 40) % 3)
            snprintf(score, sizeof score, "%s", scores[(r >> 8) % 6]);
        else
            snprintf(score, sizeof score, "%.3f", (double)((r >> 44) % 1000) / 1000);
        const int n = snprintf(line, sizeof line, "D%06zu,2024-%02d-%02d,%s,%s,%s,%.2f,%s,%s,%d\n", i,
                               (int)((r >> 12) % 4) + 1, (int)((r >> 16) % 28) + 1, tiers[(r >> 20) % 4],
                               descs[(r >> 24) % 5], labels[(r >> 28) % 6], (double)((r >> 32) % 500), score,
                               (r >> 50) % 9 ? "1234.5" : "", (int)((r >> 54) % 30));
        membuf_put_n(b, line, (size_t)n);
    }
}

/* Policy a's accumulator reads a revenue column, b's the proxy label x rate /
 * 100 x the declared value (which the engine parses only for some hooks). */
static crest_replay *accumulator(const crest_policy *p, const char *label)
{
    const int proxy = !strcmp(crest_policy_name(p), "b");
    const crest_replay_options o = {CREST_REPLAY_PERIOD_MONTH, label, proxy ? NULL : "revenue",
                                    proxy ? "rate" : NULL,     NULL,  0};
    crest_replay *r = NULL;
    crest_diag d;
    cr_assert_eq(crest_replay_create(p, &o, &r, &d), CREST_OK, "%s", d.message);
    return r;
}

/* The reference: one engine per policy, its accumulator fed by its own hooks
 * (as crest_replay_attach does) and its export rows kept in order. */
typedef struct own {
    crest_replay *rep;
    const char *name;
    membuf rows;
} own;

static int own_header(void *ctx, const crest_str *header, size_t n_cols)
{
    own *o = ctx;
    crest_diag d;
    return crest_replay_header(o->rep, header, n_cols, &d) != CREST_OK;
}

static int own_decl(void *ctx, const crest_decl *d, const crest_decision *dec, unsigned long line)
{
    (void)line;
    own *o = ctx;
    char *row = crest_replay_decision_row(o->rep, o->name, d, dec);
    cr_assert_not_null(row);
    membuf_puts(&o->rows, row);
    free(row);
    return crest_replay_add_decl(o->rep, d, dec) != CREST_OK;
}

static void run_own(const crest_policy *p, const char *score_column, const char *in, size_t len, own *o,
                    crest_run_stats *stats)
{
    crest_run_options opt = crest_run_options_default();
    opt.decide = 0;
    opt.header_hook = own_header;
    opt.decl_hook = own_decl;
    opt.hook_ctx = o;
    opt.score_column = score_column;
    crest_engine *e = NULL;
    crest_diag d;
    cr_assert_eq(crest_engine_create(p, NULL, &opt, &e, &d), CREST_OK, "%s", d.message);
    cr_assert_eq(crest_engine_feed(e, in, len), CREST_OK);
    cr_assert_eq(crest_engine_finish(e), CREST_OK);
    *stats = *crest_engine_stats(e);
    crest_engine_free(e);
}

/* The rows callback: policy k's rows into rows[k]. */
static crest_status rows_write(void *ctx, size_t k, const char *row, size_t len, crest_diag *diag)
{
    membuf *rows = ctx;
    if (rows[k].fail_after && ++rows[k].writes >= rows[k].fail_after)
        return crest_diag_set(diag, CREST_ERR_IO, "rows", 0, 0, "the test's writer fails");
    cr_assert(len > 0 && row[len - 1] == '\n');
    membuf_put_n(&rows[k], row, len);
    return CREST_OK;
}

/* The bytes of everything the accumulators report (the writers' text, the gain
 * curve and ranking quality as doubles), for exact comparison. */
static membuf report_bytes(crest_replay *const *reps, size_t n)
{
    const char *names[2] = {"a", "b"};
    const crest_replay_set set = {(const crest_replay *const *)reps, names, n, "in", 0};
    membuf b = {0};
    char *parts[3] = {crest_replay_csv_periods(&set), crest_replay_csv_tiers(&set), crest_replay_json(&set)};
    for (int i = 0; i < 3; i++) {
        cr_assert_not_null(parts[i]);
        membuf_puts(&b, parts[i]);
        free(parts[i]);
    }
    for (size_t k = 0; k < n; k++) {
        double x[CREST_REPLAY_GAIN_POINTS], y[CREST_REPLAY_GAIN_POINTS], v[CREST_REPLAY_GAIN_POINTS], auc, ap;
        cr_assert_eq(crest_replay_gain(reps[k], CREST_REPLAY_GAIN_POINTS, x, y, v), CREST_OK);
        cr_assert_eq(crest_replay_ranking_quality(reps[k], &auc, &ap), CREST_OK);
        membuf_put_n(&b, (const char *)x, sizeof x);
        membuf_put_n(&b, (const char *)y, sizeof y);
        membuf_put_n(&b, (const char *)v, sizeof v);
        membuf_put_n(&b, (const char *)&auc, sizeof auc);
        membuf_put_n(&b, (const char *)&ap, sizeof ap);
    }
    return b;
}

static void expect_stats(const crest_run_stats *a, const crest_run_stats *b, const char *what)
{
    cr_expect_eq(a->rows_in, b->rows_in, "%s: rows_in", what);
    cr_expect_eq(a->decisions, b->decisions, "%s: decisions", what);
    cr_expect_eq(a->rejects, b->rejects, "%s: rejects", what);
    cr_expect_eq(a->inspected, b->inspected, "%s: inspected", what);
    cr_expect_eq(a->bytes_in, b->bytes_in, "%s: bytes_in", what);
}

Test(replay_multi, each_accumulator_as_with_its_own_engine)
{
    crest_policy *pa = parse(POLICY_A), *pb = parse(POLICY_B);
    const crest_policy *const pols[2] = {pa, pb};
    cr_assert(crest_multi_can_share(pols, 2));
    const char *names[2] = {"a", "b"};
    membuf in = {0};
    const unsigned threads[] = {1, 2, 3};
    const size_t blocks[] = {0, 64, 4096};
    const size_t chunks[] = {7, 1000, SIZE_MAX};
    for (uint64_t seed = 1; seed <= 4; seed++) {
        make_input(&in, seed, 3000);
        const char *score = seed % 2 ? "score" : NULL; /* an external score, or the policies' own */
        own ref[2] = {{accumulator(pa, "illicit"), "a", {0}}, {accumulator(pb, "illicit"), "b", {0}}};
        crest_run_stats ref_stats[2];
        for (int k = 0; k < 2; k++)
            run_own(pols[k], score, in.data, in.len, &ref[k], &ref_stats[k]);
        crest_replay *ref_reps[2] = {ref[0].rep, ref[1].rep};
        for (int k = 0; k < 2; k++) {
            cr_assert_eq(crest_replay_finish(ref_reps[k]), CREST_OK);
            cr_assert_gt(crest_replay_total(ref_reps[k])->revenue_total, 0, "policy %d: revenue to compare",
                         k);
        }
        membuf want = report_bytes(ref_reps, 2);
        for (size_t i = 0; i < 3; i++) {
            const unsigned th = threads[(i + seed) % 3];
            const size_t chunk = chunks[i], block = blocks[(i + 2 * seed) % 3];
            crest_replay *reps[2] = {accumulator(pa, "illicit"), accumulator(pb, "illicit")};
            crest_run_options opt[2];
            for (int k = 0; k < 2; k++) {
                opt[k] = crest_run_options_default();
                opt[k].score_column = score;
                opt[k].block_bytes = block;
                /* records (16 or 32 bytes, and rows) cut between sink calls at every offset */
                opt[k].output_buffer_bytes = 1000 + 4 * (size_t)((i + seed + (size_t)k) % 4);
            }
            membuf rows[2] = {{0}, {0}};
            const crest_replay_multi_rows with_rows = {rows_write, rows, names};
            crest_replay_multi *m = NULL;
            crest_diag d;
            cr_assert_eq(
                crest_replay_multi_create(2, reps, NULL, opt, th, i == 1 ? NULL : &with_rows, &m, &d),
                CREST_OK, "%s", d.message);
            for (size_t pos = 0; pos < in.len;) {
                const size_t n = in.len - pos < chunk ? in.len - pos : chunk;
                cr_assert_eq(crest_replay_multi_feed(m, in.data + pos, n), CREST_OK);
                pos += n;
            }
            cr_assert_eq(crest_replay_multi_finish(m), CREST_OK);
            cr_assert_eq(crest_replay_multi_count(m), 2);
            cr_assert_eq(crest_replay_multi_failed(m), 2);
            char what[128];
            snprintf(what, sizeof what, "seed %llu, threads %u, block %zu, chunk %zu",
                     (unsigned long long)seed, th, block, chunk);
            for (int k = 0; k < 2; k++) {
                cr_expect_null(crest_replay_multi_diag(m, k));
                expect_stats(&ref_stats[k], crest_engine_stats(crest_replay_multi_engine(m, k)), what);
                cr_assert_eq(crest_replay_finish(reps[k]), CREST_OK);
                if (i != 1)
                    cr_expect(rows[k].len == ref[k].rows.len &&
                                  !memcmp(rows[k].data, ref[k].rows.data, rows[k].len),
                              "%s: the rows of policy %d differ", what, k);
                else
                    cr_expect_eq(rows[k].len, 0, "%s: rows without asking", what);
                free(rows[k].data);
            }
            cr_expect_gt(ref_stats[0].rejects, 0, "the input must exercise rejects");
            crest_replay_multi_free(m);
            membuf got = report_bytes(reps, 2);
            cr_expect(got.len == want.len && !memcmp(got.data, want.data, got.len), "%s: the reports differ",
                      what);
            free(got.data);
            for (int k = 0; k < 2; k++)
                crest_replay_free(reps[k]);
        }
        free(want.data);
        for (int k = 0; k < 2; k++) {
            crest_replay_free(ref[k].rep);
            free(ref[k].rows.data);
        }
    }
    free(in.data);
    crest_policy_free(pa);
    crest_policy_free(pb);
}

/* Run a shared replay of a and b over in; returns the finishing status. */
static crest_status run_shared(crest_replay *reps[2], membuf rows[2], unsigned threads, const char *in,
                               crest_replay_multi **m)
{
    const char *names[2] = {"a", "b"};
    const crest_replay_multi_rows with_rows = {rows_write, rows, names};
    crest_diag d;
    cr_assert_eq(crest_replay_multi_create(2, reps, NULL, NULL, threads, &with_rows, m, &d), CREST_OK, "%s",
                 d.message);
    const crest_status st = crest_replay_multi_feed(*m, in, strlen(in));
    return st != CREST_OK ? st : crest_replay_multi_finish(*m);
}

/* A label column only policy b lacks, and a rows writer that fails, stop the
 * run on the policy concerned, with the accumulator's own reason. */
Test(replay_multi, failures_name_their_policy)
{
    crest_policy *pa = parse(POLICY_A), *pb = parse(POLICY_B);
    membuf in = {0};
    make_input(&in, 9, 2000);
    for (unsigned th = 1; th <= 2; th++) {
        crest_replay *reps[2] = {accumulator(pa, "illicit"), accumulator(pb, "no_such_label")};
        membuf rows[2] = {{0}, {0}};
        crest_replay_multi *m = NULL;
        cr_expect_neq(run_shared(reps, rows, th, in.data, &m), CREST_OK);
        cr_expect_eq(crest_replay_multi_failed(m), 1);
        cr_expect_null(crest_replay_multi_diag(m, 0));
        const crest_diag *d = crest_replay_multi_diag(m, 1);
        cr_assert_not_null(d);
        cr_expect_eq(d->status, CREST_ERR_MISSING);
        cr_expect(strstr(d->message, "no_such_label") != NULL, "%s", d->message);
        crest_replay_multi_free(m);
        for (int k = 0; k < 2; k++) {
            crest_replay_free(reps[k]);
            free(rows[k].data);
        }

        crest_replay *reps2[2] = {accumulator(pa, "illicit"), accumulator(pb, "illicit")};
        membuf rows2[2] = {{0}, {.fail_after = 100}};
        m = NULL;
        cr_expect_neq(run_shared(reps2, rows2, th, in.data, &m), CREST_OK);
        cr_expect_eq(crest_replay_multi_failed(m), 1);
        d = crest_replay_multi_diag(m, 1);
        cr_assert_not_null(d);
        cr_expect_eq(d->status, CREST_ERR_IO);
        cr_expect_str_eq(d->message, "the test's writer fails");
        crest_replay_multi_free(m);
        for (int k = 0; k < 2; k++) {
            crest_replay_free(reps2[k]);
            free(rows2[k].data);
        }
    }
    free(in.data);
    crest_policy_free(pa);
    crest_policy_free(pb);
}

/* A capacity cap, hooks of the caller's own, no policies or too many threads: refused. */
Test(replay_multi, refuses_what_cannot_share)
{
    crest_policy *pa = parse(POLICY_A);
    crest_policy *cap = parse("[policy]\nname = c\nseed = 1\n[tiers]\norder = REGULAR\nbase = REGULAR\n"
                              "default = REGULAR\n[tier REGULAR]\nrate = 0.1\n"
                              "[capacity]\nred_per_office_day = 3\n" LIMITS);
    crest_replay *ra = accumulator(pa, "illicit"), *rc = accumulator(cap, "illicit");
    crest_replay_multi *m = NULL;
    crest_diag d;
    crest_replay *with_cap[2] = {ra, rc};
    cr_expect_eq(crest_replay_multi_create(2, with_cap, NULL, NULL, 1, NULL, &m, &d), CREST_ERR_INVALID);
    cr_expect_null(m);
    crest_replay *one[1] = {ra};
    cr_expect_eq(crest_replay_multi_create(0, one, NULL, NULL, 1, NULL, &m, &d), CREST_ERR_INVALID);
    cr_expect_eq(crest_replay_multi_create(1, one, NULL, NULL, 9, NULL, &m, &d), CREST_ERR_INVALID);
    crest_run_options opt = crest_run_options_default();
    opt.threads = 2;
    cr_expect_eq(crest_replay_multi_create(1, one, NULL, &opt, 1, NULL, &m, &d), CREST_ERR_INVALID);
    cr_expect_null(m);
    const crest_replay_multi_rows no_names = {rows_write, NULL, NULL};
    cr_expect_eq(crest_replay_multi_create(1, one, NULL, NULL, 1, &no_names, &m, &d), CREST_ERR_INVALID);
    cr_expect_eq(crest_replay_multi_create(1, one, NULL, NULL, 1, NULL, &m, &d), CREST_OK);
    crest_replay_multi_free(m);
    crest_replay_multi_free(NULL);
    crest_replay_free(ra);
    crest_replay_free(rc);
    crest_policy_free(pa);
    crest_policy_free(cap);
}
