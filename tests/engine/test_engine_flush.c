/*
 * test_engine_flush.c — crest_engine_flush, the live feed's "input went
 * quiet": after each flush every record whose line end was fed has its
 * decision (or rejection) in the sinks, a record not yet ended has none, and
 * the bytes in the end are those of one uninterrupted run. On one thread,
 * on parallel blocks (default and tiny) and through the ordered decider.
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char *HEADER = "decl_id,decl_date,enterprise_id,credit_tier,goods_desc,direction\n";

/* Row i of the feed: plain, quoted with a comma, or (every 7th) broken quoting. */
static void row_text(size_t i, char *buf, size_t cap)
{
    static const char *const tiers[] = {"AEO", "REGULAR", "DISHONEST", ""};
    if (i % 7 == 6)
        snprintf(buf, cap, "F%06zu,2024-05-01,E%zu,REGULAR,bad\"quote,I\n", i, i % 13);
    else if (i % 3 == 1)
        snprintf(buf, cap, "F%06zu,2024-05-%02zu,E%zu,%s,\"goods, assorted\",E\n", i, 1 + i % 28, i % 13,
                 tiers[i % 4]);
    else
        snprintf(buf, cap, "F%06zu,2024-05-%02zu,E%zu,%s,plain goods,I\n", i, 1 + i % 28, i % 13,
                 tiers[i % 4]);
}

static size_t count_lines(const membuf *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->len; i++)
        n += m->data[i] == '\n';
    return n;
}

Test(engine_flush, every_ended_record_is_out_after_a_flush)
{
    crest_policy *blocks = load_policy_file("policies/order251.conf");
    crest_policy *ordered = parse_policy("[policy]\nname = t\nseed = 5\n"
                                         "[tiers]\norder = AEO, REGULAR, DISHONEST\nbase = REGULAR\n"
                                         "[tier REGULAR]\nrate = 0.3\n[tier AEO]\nratio = 0.2\n"
                                         "[tier DISHONEST]\nrate = 0.8\nfloor = yes\n"
                                         "[input]\nduplicate_ids = reject\n");
    cr_assert_not_null(blocks);
    cr_assert_not_null(ordered);
    enum { N_ROWS = 120 };
    char *all = malloc(64 * (N_ROWS + 2));
    size_t all_len = strlen(HEADER);
    memcpy(all, HEADER, all_len);
    for (size_t i = 0; i < N_ROWS; i++) {
        row_text(i, all + all_len, 64);
        all_len += strlen(all + all_len);
    }
    for (int setup = 0; setup < 4; setup++) {
        const crest_policy *p = setup == 3 ? ordered : blocks;
        harness_threads = setup == 0 ? 1 : 2;
        harness_block_bytes = setup == 2 ? 300 : 0;
        run_result want;
        run_engine(p, NULL, all, all_len, 0, CREST_FORMAT_CSV, &want);
        cr_assert_eq(want.status, CREST_OK, "%s", want.diag.message);

        membuf out = {0}, rej = {0};
        crest_run_options opt = crest_run_options_default();
        opt.output.write = membuf_write;
        opt.output.ctx = &out;
        opt.rejects.write = membuf_write;
        opt.rejects.ctx = &rej;
        opt.threads = harness_threads;
        opt.block_bytes = harness_block_bytes;
        crest_engine *e = NULL;
        crest_diag d;
        cr_assert_eq(crest_engine_create(p, NULL, &opt, &e, &d), CREST_OK);
        cr_assert_eq(crest_engine_feed(e, HEADER, strlen(HEADER)), CREST_OK);
        size_t decided = 0, rejected = 0;
        for (size_t i = 0; i < N_ROWS; i++) {
            char row[64];
            row_text(i, row, sizeof row);
            const size_t len = strlen(row);
            /* First all but the line end: nothing new may come out. */
            cr_assert_eq(crest_engine_feed(e, row, len - 1), CREST_OK);
            cr_assert_eq(crest_engine_flush(e), CREST_OK);
            cr_assert_eq(count_lines(&out), 1 + decided,
                         "setup %d row %zu: a record without its end came out", setup, i);
            cr_assert_eq(crest_engine_feed(e, row + len - 1, 1), CREST_OK);
            cr_assert_eq(crest_engine_flush(e), CREST_OK);
            if (i % 7 == 6)
                rejected++;
            else
                decided++;
            cr_assert_eq(count_lines(&out), 1 + decided, "setup %d row %zu: decision not out after the flush",
                         setup, i);
            cr_assert_eq(count_lines(&rej), 1 + rejected, "setup %d row %zu: rejection not out", setup, i);
        }
        cr_assert_eq(crest_engine_finish(e), CREST_OK);
        cr_assert(out.len == want.out.len && memcmp(out.data, want.out.data, out.len) == 0,
                  "setup %d: flushed output differs from one run", setup);
        cr_assert(rej.len == want.rej.len && memcmp(rej.data, want.rej.data, rej.len) == 0, "setup %d",
                  setup);
        const crest_run_stats *st = crest_engine_stats(e);
        cr_assert_eq(st->rows_in, N_ROWS);
        cr_assert_eq(st->rows_in, st->decisions + st->rejects);
        crest_engine_free(e);
        free(out.data);
        free(rej.data);
        run_result_free(&want);
    }
    harness_threads = 1;
    harness_block_bytes = 0;
    free(all);
    crest_policy_free(blocks);
    crest_policy_free(ordered);
}
