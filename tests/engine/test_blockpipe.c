/*
 * test_blockpipe.c — reading in parallel blocks (blockpipe.c) gives exactly
 * what one sequential reader gives: the same decisions, rejects (with their
 * lines and columns) and counts, for any block size, feed chunking and thread
 * count, on input made to break block cuts: broken quoting that shifts the
 * quote balance, quoted fields across lines, CRLF and bare CR line ends,
 * blank lines, over-long records, bad UTF-8 and NUL bytes.
 */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdint.h>

#include "blockpipe.h"
#include "harness.h"

/* ------------------------------------------------ cut and line counting */

static unsigned long naive_lines(const char *s, size_t n)
{
    unsigned long lines = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n' || (s[i] == '\r' && !(i + 1 < n && s[i + 1] == '\n')))
            lines++;
    return lines;
}

static size_t naive_cut(const char *s, size_t n)
{
    size_t cut = 0, quotes = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            quotes++;
        else if (s[i] == '\n' && quotes % 2 == 0)
            cut = i + 1;
    }
    return cut;
}

Test(blockpipe, cut_and_lines_match_a_plain_count)
{
    static const char alphabet[] = {'a', ',', '"', '\n', '\r', 'b', '"', '\n'};
    uint64_t seed = 20261127;
    for (int round = 0; round < 3600; round++) {
        /* Every scan level (AVX2, SSE2, bytes); some blocks long enough for
         * the vector byte counters to be summed several times (255 steps). */
        blockpipe_set_simd(round % 3);
        const size_t n = (size_t)(harness_rng(&seed) % (round % 10 == 9 ? 30000 : 700));
        char *s = malloc(n ? n : 1); /* exact size: ASan catches a read past the end */
        const uint64_t mix = harness_rng(&seed);
        for (size_t i = 0; i < n; i++) {
            const uint64_t r = harness_rng(&seed);
            /* Mostly plain text, with runs of the interesting bytes. */
            s[i] = (r % 8) < (mix % 5) + 1 ? alphabet[(r >> 8) % 8] : (char)('a' + (r >> 16) % 26);
        }
        if (round % 30 == 29) /* one byte throughout: every vector lane counts at every step */
            memset(s, alphabet[(mix >> 8) % 4 + 1], n);
        cr_assert_eq(blockpipe_count_lines(s, n), naive_lines(s, n), "round %d, %zu bytes", round, n);
        cr_assert_eq(blockpipe_cut(s, n), naive_cut(s, n), "round %d, %zu bytes", round, n);
        size_t quotes = 0;
        for (size_t i = 0; i < n; i++)
            quotes += s[i] == '"';
        cr_assert_eq(blockpipe_count_quotes(s, n), quotes, "round %d, %zu bytes", round, n);
        free(s);
    }
    blockpipe_set_simd(2);
}

/* ------------------------------------------ engine: blocks vs sequential */

static const char *POLICY = "[policy]\nname = t\nseed = 7\n"
                            "[tiers]\norder = AEO, REGULAR, DISHONEST\nbase = REGULAR\ndefault = REGULAR\n"
                            "[tier AEO]\nratio = 0.2\n[tier REGULAR]\nrate = 0.3\n"
                            "[tier DISHONEST]\nrate = 0.8\nfloor = yes\n"
                            "[input]\nmax_field_bytes = 60\nmax_record_bytes = 150\n";

/* One random record (or a piece of hostile text) ending with a line end. */
static void random_record(membuf *t, uint64_t *seed, size_t id)
{
    static const char *tiers[] = {"AEO", "REGULAR", "DISHONEST", "", "高级认证企业"};
    static const char *descs[] = {
        "plain goods",
        "\"widgets, assorted\"",
        "\"TV 55\"\" 4K\"",
        "\"two\nlines\"",
        "\"three\r\nlines\nhere\"",
        "锂电池",
        "bad\"quote",          /* quote inside a field: resync at line end */
        "\"closed\"then text", /* text after a closing quote */
        "\"opens a quote, goes on",
        "\"x\"",
        "a very long description that goes past the field limit of sixty bytes for sure",
        "\xff\xfe bad utf-8",
        "nul\0byte",
        "\"\"\"\"",
        "\"\n\n\""};
    static const char *ends[] = {"\n", "\n", "\n", "\r\n", "\r"};
    const uint64_t r = harness_rng(seed);
    const unsigned kind = (unsigned)(r % 40);
    char buf[256];
    if (kind == 0) {
        membuf_puts(t, "\n"); /* blank line */
        return;
    }
    if (kind == 1) {
        membuf_puts(t, "D1,2024-01-01\n"); /* too few fields */
        return;
    }
    if (kind == 2) {
        membuf_puts(t, "\""); /* a lone quote: the balance of quotes is off from here */
        return;
    }
    const size_t di = (size_t)((r >> 8) % 15);
    const char *desc = descs[di];
    const size_t dlen = di == 12 ? 8 : strlen(desc);
    int n = snprintf(buf, sizeof buf, "D%06zu,2024-%02d-%02d,%s,", id, (int)((r >> 12) % 12) + 1,
                     (int)((r >> 16) % 28) + 1, tiers[(r >> 20) % 5]);
    membuf_put_n(t, buf, (size_t)n);
    membuf_put_n(t, desc, dlen);
    membuf_puts(t, ",");
    membuf_puts(t, (r >> 24) % 3 ? "x" : "\"y,z\"");
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
        membuf_puts(t, "DLAST,2024-01-01,AEO,no line end,x"); /* last record without a line end */
}

static void expect_same(const run_result *a, const run_result *b, const char *what)
{
    cr_assert_eq(b->status, a->status, "%s: status", what);
    cr_expect(a->out.len == b->out.len &&
                  (a->out.len == 0 || memcmp(a->out.data, b->out.data, a->out.len) == 0),
              "%s: decisions differ (%zu vs %zu bytes)", what, a->out.len, b->out.len);
    cr_expect(a->rej.len == b->rej.len &&
                  (a->rej.len == 0 || memcmp(a->rej.data, b->rej.data, a->rej.len) == 0),
              "%s: rejects differ (%zu vs %zu bytes)", what, a->rej.len, b->rej.len);
    cr_expect_eq(a->stats.rows_in, b->stats.rows_in, "%s", what);
    cr_expect_eq(a->stats.decisions, b->stats.decisions, "%s", what);
    cr_expect_eq(a->stats.rejects, b->stats.rejects, "%s", what);
    cr_expect_eq(a->stats.inspected, b->stats.inspected, "%s", what);
    for (int k = 0; k < CREST_REJECT_COUNT; k++)
        cr_expect_eq(a->stats.rejects_by_reason[k], b->stats.rejects_by_reason[k], "%s: reason %d", what, k);
    cr_expect_eq(a->stats.n_samples, b->stats.n_samples, "%s", what);
    for (size_t k = 0; k < a->stats.n_samples && k < b->stats.n_samples; k++) {
        cr_expect_eq(a->stats.samples[k].line, b->stats.samples[k].line, "%s: sample %zu", what, k);
        cr_expect_str_eq(a->stats.samples[k].detail, b->stats.samples[k].detail, "%s: sample %zu", what, k);
    }
}

Test(blockpipe, parallel_blocks_read_like_one_reader)
{
    crest_policy *p = parse_policy(POLICY);
    cr_assert_not_null(p);
    membuf in = {0};
    const size_t blocks[] = {1, 7, 64, 300, 4096};
    const size_t chunks[] = {0, 1, 13, 1000};
    for (uint64_t seed = 1; seed <= 24; seed++) {
        make_input(&in, seed, 300);
        harness_threads = 1;
        harness_block_bytes = 0;
        run_result one;
        run_engine(p, NULL, in.data, in.len, 0, CREST_FORMAT_CSV, &one);
        cr_assert_eq(one.status, CREST_OK, "%s", one.diag.message);
        cr_assert_gt(one.stats.rejects, 0, "the input must exercise rejects");
        cr_assert_eq(one.stats.rows_in, one.stats.decisions + one.stats.rejects);
        for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
            const size_t chunk = chunks[(seed + b) % 4];
            const unsigned threads = 2 + (unsigned)((seed + b) % 3);
            harness_threads = threads;
            harness_block_bytes = blocks[b];
            harness_zero_copy = (int)((seed + b) % 4);
            run_result par;
            run_engine(p, NULL, in.data, in.len, chunk, CREST_FORMAT_CSV, &par);
            char what[160];
            snprintf(what, sizeof what, "seed %llu, block %zu, chunk %zu, threads %u, zero-copy %d",
                     (unsigned long long)seed, blocks[b], chunk, threads, harness_zero_copy);
            expect_same(&one, &par, what);
            run_result_free(&par);
        }
        run_result_free(&one);
    }
    harness_threads = 1;
    harness_block_bytes = 0;
    harness_zero_copy = 0;
    free(in.data);
    crest_policy_free(p);
}

/* Valid CSV with many quoted multi-line fields: cuts fall between records, so
 * blocks are used as they are (and still give the sequential result). */
Test(blockpipe, quoted_newlines_on_every_row)
{
    crest_policy *p = parse_policy(POLICY);
    cr_assert_not_null(p);
    membuf in = {0};
    membuf_puts(&in, "decl_id,decl_date,credit_tier,goods_description,extra\r\n");
    char buf[128];
    for (int i = 0; i < 3000; i++) {
        snprintf(buf, sizeof buf, "Q%05d,2024-03-01,%s,\"line one\nline \"\"two\"\"\r\nthree\",\"a,b\"\r\n",
                 i, i % 5 ? "REGULAR" : "AEO");
        membuf_puts(&in, buf);
    }
    harness_threads = 1;
    harness_block_bytes = 0;
    run_result one;
    run_engine(p, NULL, in.data, in.len, 0, CREST_FORMAT_JSONL, &one);
    cr_assert_eq(one.status, CREST_OK);
    cr_assert_eq(one.stats.decisions, 3000);
    const size_t blocks[] = {10, 500, 0};
    for (size_t b = 0; b < 3; b++) {
        /* Copied, and read in place (crest_engine_feed_stable) whole and in pieces. */
        for (int zc = 0; zc <= 2; zc += 2) {
            for (int whole = 0; whole <= zc / 2; whole++) {
                harness_threads = 2;
                harness_block_bytes = blocks[b];
                harness_zero_copy = zc;
                run_result par;
                run_engine(p, NULL, in.data, in.len, whole ? 0 : 777, CREST_FORMAT_JSONL, &par);
                char what[96];
                snprintf(what, sizeof what, "quoted newlines, block %zu, stable %d, whole %d", blocks[b], zc,
                         whole);
                expect_same(&one, &par, what);
                run_result_free(&par);
            }
        }
    }
    harness_zero_copy = 0;
    harness_threads = 1;
    harness_block_bytes = 0;
    run_result_free(&one);
    free(in.data);
    crest_policy_free(p);
}

/* Input cut short inside a record of CSV whose fields span lines (after
 * single-line records, so the cuts are made without counting quotes): a cut
 * can start the last block inside a record, and still the same rows are
 * decided, the same record is dropped and its line named, as on one thread. */
Test(blockpipe, cut_short_inside_a_multi_line_record)
{
    crest_policy *p = parse_policy(POLICY);
    cr_assert_not_null(p);
    membuf in = {0};
    membuf_puts(&in, "decl_id,decl_date,credit_tier,goods_description,extra\n");
    char buf[128];
    for (int i = 0; i < 2000; i++) {
        /* Single-line records first (the cuts turn speculative), then
         * fields across lines. */
        snprintf(buf, sizeof buf, "Q%05d,2024-03-01,%s,%s,%s\n", i, i % 7 ? "REGULAR" : "AEO",
                 i < 400 ? "one" : "\"one\ntwo\nthree\"", i % 11 ? "x" : "\"bad\"quote");
        membuf_puts(&in, buf);
    }
    uint64_t seed = 77;
    for (int round = 0; round < 12; round++) {
        const size_t len = in.len / 2 + (size_t)(harness_rng(&seed) % (in.len / 2));
        harness_finish_early = 1;
        harness_threads = 1;
        harness_block_bytes = 0;
        run_result one;
        run_engine(p, NULL, in.data, len, 0, CREST_FORMAT_CSV, &one);
        cr_assert_eq(one.status, CREST_OK);
        const size_t blocks[] = {10, 300, 4096};
        for (size_t b = 0; b < 3; b++) {
            harness_threads = 2 + (unsigned)(round % 2);
            harness_block_bytes = blocks[b];
            harness_zero_copy = round % 3;
            run_result par;
            run_engine(p, NULL, in.data, len, 1000, CREST_FORMAT_CSV, &par);
            char what[96];
            snprintf(what, sizeof what, "cut at %zu, block %zu, zero-copy %d", len, blocks[b],
                     harness_zero_copy);
            expect_same(&one, &par, what);
            cr_expect_str_eq(par.notes, one.notes, "%s", what);
            run_result_free(&par);
        }
        run_result_free(&one);
    }
    harness_finish_early = 0;
    harness_zero_copy = 0;
    harness_threads = 1;
    harness_block_bytes = 0;
    free(in.data);
    crest_policy_free(p);
}

/* ------------------------------------------- late line counting (bare) */

/*
 * A pipe with a toy reader: it counts lines as csvread does (CR, LF and CRLF
 * end one each) and notes the line of every '!'. A '?' in a block makes its
 * reader end "inside a record", so that block is replayed; a block ending
 * with CR does too (a CRLF may be cut in two). The lines noted, the
 * lines of the blocks and the dropped line of finish_early must be the same
 * with late_lines as with lines counted at the cut, and as one pass gives.
 */
#define MAX_MARKS 8192

typedef struct toy_result {
    unsigned long rel[MAX_MARKS];
    size_t n;
    int bad_read_line; /* checked on the feeding thread (emit) */
} toy_result;

typedef struct toy_run {
    unsigned long marks[MAX_MARKS]; /* in emit/replay order */
    size_t n;
    unsigned long seq_line; /* the sequential reader */
    int seq_prev_cr;
    int late;
    size_t replays;
} toy_run;

/* Read s[0..n) from *line (CRLF state *prev_cr), noting the lines of '!'. */
static void toy_read(const char *s, size_t n, unsigned long *line, int *prev_cr, unsigned long *marks,
                     size_t *n_marks)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '!' && *n_marks < MAX_MARKS)
            marks[(*n_marks)++] = *line;
        if (s[i] == '\n') {
            if (!*prev_cr)
                (*line)++;
            *prev_cr = 0;
        } else if (s[i] == '\r') {
            (*line)++;
            *prev_cr = 1;
        } else {
            *prev_cr = 0;
        }
    }
}

static void *toy_new(void *ctx)
{
    (void)ctx;
    return calloc(1, sizeof(toy_result));
}

static void toy_free(void *ctx, void *r)
{
    (void)ctx;
    free(r);
}

static int toy_process(void *ctx, unsigned w, blockpipe_block *b)
{
    const toy_run *run = ctx;
    (void)w;
    toy_result *r = b->result;
    r->bad_read_line = run->late ? b->read_line != 1 : b->read_line != b->line;
    unsigned long line = b->read_line;
    int prev_cr = 0;
    r->n = 0;
    toy_read(b->data, b->len, &line, &prev_cr, r->rel, &r->n);
    b->lines = line - b->read_line;
    return !prev_cr && !memchr(b->data, '?', b->len);
}

static int toy_emit(void *ctx, blockpipe_block *b)
{
    toy_run *run = ctx;
    const toy_result *r = b->result;
    cr_assert_not(r->bad_read_line, "a block was not read from its read_line");
    for (size_t k = 0; k < r->n && run->n < MAX_MARKS; k++)
        run->marks[run->n++] = r->rel[k] + (b->line - b->read_line);
    return 0;
}

static int toy_replay(void *ctx, blockpipe_block *b, int restart)
{
    toy_run *run = ctx;
    run->replays++;
    if (restart) {
        run->seq_line = b->line;
        run->seq_prev_cr = 0;
    }
    const unsigned long before = run->seq_line;
    toy_read(b->data, b->len, &run->seq_line, &run->seq_prev_cr, run->marks, &run->n);
    b->lines = run->seq_line - before;
    return !run->seq_prev_cr;
}

/* Feed s[0..n) in chunks (copied, or in place when stable) to a pipe;
 * finish, or finish early when dropped is not NULL. */
static void toy_pipe(toy_run *run, int late, unsigned threads, size_t block, const char *s, size_t n,
                     size_t chunk, int stable, unsigned long *dropped)
{
    memset(run, 0, sizeof *run);
    run->late = late;
    const blockpipe_ops ops = {run, toy_new, toy_free, toy_process, toy_emit, toy_replay, late};
    blockpipe *bp = blockpipe_create(threads, block, 5, &ops);
    cr_assert_not_null(bp);
    for (size_t at = 0; at < n;) {
        const size_t take = chunk && n - at > chunk ? chunk : n - at;
        cr_assert_eq(stable ? blockpipe_feed_stable(bp, s + at, take) : blockpipe_feed(bp, s + at, take), 0);
        at += take;
    }
    cr_assert_eq(dropped ? blockpipe_finish_early(bp, dropped) : blockpipe_finish(bp), 0);
    blockpipe_free(bp);
}

Test(blockpipe, late_lines_number_like_the_cut_count)
{
    static const char alphabet[] = {'a', '!', '\n', '\r', '"', '?', '\n', 'b'};
    uint64_t seed = 20261204;
    char *s = malloc(20000);
    size_t replays = 0;
    for (int round = 0; round < 120; round++) {
        const size_t n = 2000 + (size_t)(harness_rng(&seed) % 18000);
        const uint64_t mix = harness_rng(&seed);
        for (size_t i = 0; i < n; i++) {
            const uint64_t r = harness_rng(&seed);
            /* '?' rare (a replay); '"' rarer on some rounds (cuts held back). */
            char c = alphabet[r % 8];
            if ((c == '?' && (r >> 8) % 16) || (c == '"' && (r >> 12) % (mix % 2 ? 4 : 64)))
                c = 'a';
            s[i] = c;
        }
        /* One pass from line 5, as the pipes start. */
        static unsigned long want[MAX_MARKS];
        size_t n_want = 0;
        unsigned long line = 5;
        int prev_cr = 0;
        toy_read(s, n, &line, &prev_cr, want, &n_want);

        const unsigned threads = 1 + (unsigned)(round % 3);
        const size_t block = (size_t)(16 << (round % 6));
        const size_t chunk = (size_t)(harness_rng(&seed) % 700);
        const int stable = round % 4 == 3;
        static toy_run eager, late;
        toy_pipe(&eager, 0, threads, block, s, n, chunk, stable, NULL);
        toy_pipe(&late, 1, threads, block, s, n, chunk, stable, NULL);
        cr_assert_eq(eager.n, n_want, "round %d", round);
        cr_assert_eq(late.n, n_want, "round %d", round);
        for (size_t k = 0; k < n_want; k++) {
            cr_assert_eq(eager.marks[k], want[k], "round %d, mark %zu", round, k);
            cr_assert_eq(late.marks[k], want[k], "round %d, mark %zu (late)", round, k);
        }
        /* Cut short, without quotes (so the cuts are the same whether the
         * quotes are counted or not): the same line dropped, the same lines
         * before it. */
        for (size_t i = 0; i < n; i++)
            if (s[i] == '"')
                s[i] = 'a';
        unsigned long drop_eager, drop_late;
        toy_pipe(&eager, 0, threads, block, s, n, chunk, stable, &drop_eager);
        toy_pipe(&late, 1, threads, block, s, n, chunk, stable, &drop_late);
        cr_assert_eq(drop_late, drop_eager, "round %d", round);
        cr_assert_eq(late.n, eager.n, "round %d", round);
        for (size_t k = 0; k < late.n; k++)
            cr_assert_eq(late.marks[k], eager.marks[k], "round %d, mark %zu (cut short)", round, k);
        replays += late.replays;
    }
    cr_assert_gt(replays, 0, "the input must exercise replays");
    free(s);
}
