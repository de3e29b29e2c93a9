/*
 * test_capacity.c — [capacity] red_per_office_day with a day larger than the
 * memory budget: the day spills to a temporary file and the decisions are the
 * same bytes as when it is held in memory (CSV and JSONL, one big day and
 * several days, the cap binding), the spill is noted, and the memory of a
 * 400k-row single-day run stays flat under a 1 MiB budget (the CI-sized
 * version of 2M rows under 64 MB). Rows are generated as they are fed.
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "crest/crest.h"

/* Output kept (when asked) and hashed (FNV-1a, 64 bits). */
typedef struct sink {
    uint64_t hash, bytes;
    char *keep;
    size_t len, cap;
} sink;

static crest_status sink_write(void *ctx, const void *buf, size_t len)
{
    sink *s = ctx;
    const unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        s->hash = (s->hash ^ p[i]) * UINT64_C(0x100000001b3);
    s->bytes += len;
    return CREST_OK;
}

static char dir[64];
static crest_policy *policy;

/* A policy whose inspections far exceed a cap of 5 RED per office and day, with
 * deferrable risk selections, forced ones (QUAR) and a floor tier. */
static void setup(void)
{
    crest_init();
    strcpy(dir, "/tmp/crest-captest-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char crit[128], path[128];
    snprintf(crit, sizeof crit, "%s/crit.csv", dir);
    FILE *f = fopen(crit, "wb");
    cr_assert_not_null(f);
    fputs("id,field,pattern,action,weight_or_lane,probability,credit_sensitive\n"
          "SEG_H,segment,re:^H$,weight,3,,yes\n"
          "QUAR,segment,re:^Q$,lane,RED,1,no\n",
          f);
    fclose(f);
    snprintf(path, sizeof path, "%s/cap.conf", dir);
    f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs("[policy]\nseed = 11\n[tiers]\norder = AEO, REGULAR, DISHONEST\nbase = REGULAR\n"
          "[tier AEO]\nratio = 0.2\n[tier REGULAR]\nrate = 0.3\n[tier DISHONEST]\nrate = 0.8\nfloor = yes\n"
          "[rules]\ncriteria = crit.csv\n"
          "[risk]\nbias = -2\nweighting = odds\ngain = 1\nrandom_share = 0.1\n"
          "[capacity]\nred_per_office_day = 5\n",
          f);
    fclose(f);
    crest_diag d;
    cr_assert_eq(crest_policy_load(path, &policy, &d), CREST_OK, "%s", d.message);
}

static void teardown(void)
{
    crest_policy_free(policy);
    char p[128];
    snprintf(p, sizeof p, "%s/crit.csv", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/cap.conf", dir);
    unlink(p);
    rmdir(dir);
}

typedef struct run {
    sink out;
    crest_run_stats stats;
    char notes[512];
    uint64_t hook_calls, hook_hash; /* the capacity hook: calls, and a hash of (ordinal, outcome) */
    uint64_t outcomes[3];
} run;

static int on_capacity(void *ctx, uint64_t ordinal, crest_capacity_outcome outcome)
{
    run *r = ctx;
    cr_assert_eq(ordinal, r->hook_calls, "ordinals come in input order, one per decision");
    r->hook_calls++;
    r->hook_hash = (r->hook_hash ^ (ordinal * 3 + (uint64_t)outcome)) * UINT64_C(0x100000001b3);
    r->outcomes[outcome]++;
    return 0;
}

/* n rows over `days` days (days = 1: one day), fed in 64 KiB pieces. */
static void run_capacity(size_t n, int days, crest_format format, size_t budget, run *r)
{
    memset(r, 0, sizeof *r);
    r->out.hash = UINT64_C(0xcbf29ce484222325);
    crest_run_options opt = crest_run_options_default();
    opt.output.write = sink_write;
    opt.output.ctx = &r->out;
    opt.format = format;
    opt.passthrough_override = CREST_PASSTHROUGH_ALL;
    opt.capacity_memory_bytes = budget;
    opt.capacity_hook = on_capacity;
    opt.hook_ctx = r;
    crest_engine *e = NULL;
    crest_diag d;
    cr_assert_eq(crest_engine_create(policy, NULL, &opt, &e, &d), CREST_OK, "%s", d.message);
    static char buf[1 << 16];
    size_t len = (size_t)snprintf(buf, sizeof buf, "decl_id,decl_date,office,credit_tier,segment,goods\n");
    const size_t per_day = (n + (size_t)days - 1) / (size_t)days;
    for (size_t i = 0; i < n; i++) {
        const char *seg = i % 17 == 0 ? "Q" : i % 5 == 0 ? "H" : "L";
        const char *tier = i % 23 == 0 ? "DISHONEST" : i % 4 == 0 ? "AEO" : "REGULAR";
        len += (size_t)snprintf(buf + len, sizeof buf - len,
                                "C%07zu,2025-04-%02zu,O%zu,%s,%s,\"parts, %zu pcs\"\n", i, 1 + i / per_day,
                                i % 7, tier, seg, i % 1000);
        if (len > sizeof buf - 256 || i + 1 == n) {
            cr_assert_eq(crest_engine_feed(e, buf, len), CREST_OK, "%s", crest_engine_diag(e)->message);
            len = 0;
        }
    }
    cr_assert_eq(crest_engine_finish(e), CREST_OK, "%s", crest_engine_diag(e)->message);
    r->stats = *crest_engine_stats(e);
    snprintf(r->notes, sizeof r->notes, "%s", crest_engine_notes(e));
    crest_engine_free(e);
}

static void same_decisions(size_t n, int days, crest_format format)
{
    run held, spilled;
    run_capacity(n, days, format, (size_t)1 << 30, &held);
    run_capacity(n, days, format, 4096, &spilled);
    cr_assert_gt(held.stats.deferred, 0, "the cap must bind");
    cr_assert_gt(held.stats.overflow, 0, "some selections must be over the cap and not deferrable");
    cr_expect_eq(held.out.bytes, spilled.out.bytes);
    cr_expect_eq(held.out.hash, spilled.out.hash, "the spilled day gives other bytes");
    cr_expect_eq(held.stats.deferred, spilled.stats.deferred);
    cr_expect_eq(held.stats.overflow, spilled.stats.overflow);
    cr_expect_eq(memcmp(held.stats.lanes, spilled.stats.lanes, sizeof held.stats.lanes), 0);
    cr_expect_eq(held.stats.inspected, spilled.stats.inspected);
    cr_expect_eq(held.hook_calls, held.stats.decisions);
    cr_expect_eq(spilled.hook_calls, spilled.stats.decisions);
    cr_expect_eq(held.hook_hash, spilled.hook_hash);
    cr_expect_eq(held.outcomes[CREST_CAPACITY_DEFERRED], held.stats.deferred);
    cr_expect_eq(spilled.outcomes[CREST_CAPACITY_OVERFLOW], spilled.stats.overflow);
    cr_expect(strstr(held.notes, "temporary file") == NULL, "%s", held.notes);
    cr_expect(strstr(spilled.notes,
                     "capacity: a day's decisions beyond 4096 bytes wait in a temporary file") != NULL,
              "%s", spilled.notes);
}

Test(capacity, spilled_day_same_bytes_csv, .init = setup, .fini = teardown)
{
    same_decisions(30000, 1, CREST_FORMAT_CSV);
}

Test(capacity, spilled_days_same_bytes_jsonl, .init = setup, .fini = teardown)
{
    same_decisions(30000, 3, CREST_FORMAT_JSONL);
}

/* Peak resident memory of this process so far, in MB. */
static double peak_rss_mb(void)
{
    struct rusage ru;
    cr_assert_eq(getrusage(RUSAGE_SELF, &ru), 0);
    return (double)ru.ru_maxrss / 1024.0;
}

/* 400k rows in one day hold about 50 MB of decisions: under a 1 MiB budget
 * the run adds far less than that to the peak RSS (2M rows, 64 MB: see the
 * README). Measured as growth, so that sanitizer builds' fixed overhead does
 * not count. */
Test(capacity, flat_memory_for_a_large_day, .init = setup, .fini = teardown)
{
    const double before = peak_rss_mb();
    run r;
    run_capacity(400000, 1, CREST_FORMAT_CSV, (size_t)1 << 20, &r);
    const double after = peak_rss_mb();
    printf("capacity: 400000 rows in one day, %llu output bytes, peak RSS %.1f MB (%.1f MB before)\n",
           (unsigned long long)r.out.bytes, after, before);
    cr_expect_gt(r.out.bytes, (uint64_t)40 << 20);
    cr_expect_lt(after - before, 16.0, "peak RSS grew by %.1f MB", after - before);
}
