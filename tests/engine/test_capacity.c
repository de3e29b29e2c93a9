/*
 * test_capacity.c — [capacity] red_per_office_day with a day larger than the
 * memory budget: the day spills to a temporary file and the decisions are the
 * same bytes as when it is held in memory (CSV and JSONL, one big day and
 * several days, the cap binding), the spill is noted, and the memory of a
 * 400k-row single-day run stays flat under a 1 MiB budget (the CI-sized
 * version of 2M rows under 64 MB). With a [capacity] offices table: each
 * office-day within its own cap, the table's errors (file, line, column) and
 * its hash. Rows are generated as they are fed.
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
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

/* The same policy with a [capacity] offices table: O0 may not inspect at all
 * on the first day and 9 a day after it, O1 2 a day, O2 1000 a day (above the
 * default); the other offices keep red_per_office_day = 5. */
static void setup_offices(void)
{
    setup();
    crest_policy_free(policy);
    char path[128];
    snprintf(path, sizeof path, "%s/offices.csv", dir);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs("office,red_per_day,valid_from,valid_to\r\n"
          "O0,0,,2025-04-01\r\n"
          "O0,9,2025-04-02,\r\n"
          "O1, 2 ,,\r\n"
          "O2,1000,2025-01-01,2025-12-31\r\n",
          f);
    fclose(f);
    snprintf(path, sizeof path, "%s/cap.conf", dir);
    f = fopen(path, "ab");
    cr_assert_not_null(f);
    fputs("offices = offices.csv\n", f);
    fclose(f);
    crest_diag d;
    cr_assert_eq(crest_policy_load(path, &policy, &d), CREST_OK, "%s:%lu:%lu: %s", d.file, d.line, d.column,
                 d.message);
}

static void teardown(void)
{
    crest_policy_free(policy);
    char p[128];
    snprintf(p, sizeof p, "%s/crit.csv", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/cap.conf", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/offices.csv", dir);
    unlink(p);
    rmdir(dir);
}

/* 1: run_capacity keeps the output in r->out.keep (freed by the caller). */
static int keep_output;
/* 1: run_capacity takes the cap from a counter as `crest serve` does (capacity_take),
 * not at each day's end: the live path. */
static int live_cap;

typedef struct run {
    sink out;
    crest_run_stats stats;
    char notes[512];
    uint64_t hook_calls, hook_hash; /* the capacity hook: calls, and a hash of (ordinal, outcome) */
    uint64_t outcomes[3];
    /* keep_output runs also count the workload: per office O0..O6 and day 0..6 */
    uint64_t wl_rows[7][7], wl_inspected[7][7], wl_red[7][7], wl_deferred[7][7], wl_overflow[7][7];
    double wl_expected[7][7];
} run;

static crest_status keep_write(void *ctx, const void *buf, size_t len)
{
    sink *s = ctx;
    if (s->len + len + 1 > s->cap) {
        s->cap = 2 * (s->len + len + 1);
        s->keep = realloc(s->keep, s->cap);
        cr_assert_not_null(s->keep);
    }
    memcpy(s->keep + s->len, buf, len);
    s->len += len;
    s->keep[s->len] = '\0';
    return sink_write(ctx, buf, len);
}

static int on_capacity(void *ctx, uint64_t ordinal, crest_capacity_outcome outcome)
{
    run *r = ctx;
    cr_assert_eq(ordinal, r->hook_calls, "ordinals come in input order, one per decision");
    r->hook_calls++;
    r->hook_hash = (r->hook_hash ^ (ordinal * 3 + (uint64_t)outcome)) * UINT64_C(0x100000001b3);
    r->outcomes[outcome]++;
    return 0;
}

/* The live path's shared counter (capacity_take): RED per office O0..O6 and day, at
 * most 5 (the policy's red_per_office_day), first come, first served. */
static unsigned live_red[7][64];

static int take_red(void *ctx, crest_str office, int32_t day)
{
    (void)ctx;
    cr_assert(office.len == 2 && office.ptr[0] == 'O', "office %.*s", (int)office.len, office.ptr);
    const int o = office.ptr[1] - '0', k = day - crest_date_from_civil(2025, 4, 1);
    cr_assert(o >= 0 && o < 7 && k >= 0 && k < 64);
    if (live_red[o][k] >= 5)
        return 0;
    live_red[o][k]++;
    return 1;
}

/* n rows over `days` days (days = 1: one day), fed in 64 KiB pieces. */
static void run_capacity(size_t n, int days, crest_format format, size_t budget, run *r)
{
    memset(r, 0, sizeof *r);
    r->out.hash = UINT64_C(0xcbf29ce484222325);
    crest_run_options opt = crest_run_options_default();
    opt.output.write = keep_output ? keep_write : sink_write;
    opt.output.ctx = &r->out;
    opt.format = format;
    opt.passthrough_override = CREST_PASSTHROUGH_ALL;
    opt.capacity_memory_bytes = budget;
    opt.capacity_hook = on_capacity;
    opt.hook_ctx = r;
    opt.windows = keep_output ? CREST_WINDOWS_WORKLOAD : 0;
    if (live_cap) {
        memset(live_red, 0, sizeof live_red);
        opt.capacity_take = take_red;
        opt.capacity_hook = NULL;
        opt.threads = 1;
    }
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
    size_t n_cells = 0;
    const crest_workload_cell *cells = crest_engine_workload(e, &n_cells);
    cr_assert_eq(n_cells == 0, !keep_output, "workload cells only when asked for");
    for (size_t i = 0; i < n_cells; i++) {
        const crest_workload_cell *c = &cells[i];
        const size_t o = (size_t)(c->office[1] - '0'),
                     day = (size_t)(c->day - crest_date_from_civil(2025, 4, 1));
        cr_assert(o < 7 && day < 7 && c->office[2] == '\0', "cell %s day %d", c->office, c->day);
        r->wl_rows[o][day] += c->rows;
        r->wl_inspected[o][day] += c->inspected;
        r->wl_red[o][day] += c->red;
        r->wl_deferred[o][day] += c->deferred;
        r->wl_overflow[o][day] += c->overflow;
        r->wl_expected[o][day] += c->expected;
    }
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

/*
 * Every office-day within its own cap: the decisions of 6 days, counted per
 * office and day from the output (row i is office O(i % 7) on day 1 + i /
 * per_day). RED decisions not flagged OVERFLOW never exceed the office's cap
 * that day; when some are flagged the cap is used to the full; O0's first
 * day inspects only what may not be deferred; and the caps bind.
 */
Test(capacity, office_table_caps_each_office_day, .init = setup_offices, .fini = teardown)
{
    const size_t n = 42000, per_day = 7000;
    run r;
    keep_output = 1;
    run_capacity(n, 6, CREST_FORMAT_CSV, (size_t)1 << 30, &r);
    keep_output = 0;
    unsigned red[7][7] = {{0}}, flagged[7][7] = {{0}}, deferred[7][7] = {{0}}, inspected[7][7] = {{0}},
             rows_of[7][7] = {{0}};
    const char *line = strchr(r.out.keep, '\n') + 1; /* after the header */
    size_t rows = 0;
    for (; *line; rows++) {
        /* decl_id,tier,tier_source,risk_score,p,u,decision,lane,reasons,... (no quoting in these) */
        const size_t i = strtoul(line + 1, NULL, 10);
        const char *f = line;
        for (int k = 0; k < 6; k++)
            f = strchr(f, ',') + 1;
        const size_t office = i % 7, day = i / per_day;
        const int is_red = strncmp(f, "INSPECT,RED,", 12) == 0;
        red[office][day] += (unsigned)is_red;
        inspected[office][day] += (unsigned)(strncmp(f, "INSPECT,", 8) == 0);
        rows_of[office][day]++;
        flagged[office][day] += (unsigned)(is_red && strncmp(f + 12, "OVERFLOW", 8) == 0);
        deferred[office][day] += (unsigned)(strncmp(f, "DEFER,BLUE,CAPACITY", 19) == 0);
        line = strchr(line, '\n') + 1;
    }
    cr_assert_eq(rows, n);
    unsigned long total_deferred = 0;
    for (size_t o = 0; o < 7; o++) {
        for (size_t day = 0; day < 6; day++) {
            unsigned long cap = 0;
            char name[4];
            snprintf(name, sizeof name, "O%zu", o);
            cr_assert(crest_policy_office_cap(policy, name, strlen(name),
                                              crest_date_from_civil(2025, 4, 1 + (unsigned)day), &cap));
            const unsigned long expect = o == 0 ? (day == 0 ? 0 : 9) : o == 1 ? 2 : o == 2 ? 1000 : 5;
            cr_assert_eq(cap, expect, "office %s day %zu: cap %lu", name, day, cap);
            cr_expect_leq(red[o][day] - flagged[o][day], cap,
                          "office %s day %zu: %u RED (%u flagged) over cap %lu", name, day, red[o][day],
                          flagged[o][day], cap);
            if (flagged[o][day])
                cr_expect_eq(red[o][day] - flagged[o][day], cap, "office %s day %zu", name, day);
            if (deferred[o][day])
                cr_expect_geq(red[o][day], cap, "office %s day %zu deferred below its cap", name, day);
            total_deferred += deferred[o][day];
            /* the workload cells agree with the decisions written */
            cr_expect_eq(r.wl_rows[o][day], rows_of[o][day], "office %s day %zu", name, day);
            cr_expect_eq(r.wl_inspected[o][day], inspected[o][day], "office %s day %zu", name, day);
            cr_expect_eq(r.wl_red[o][day], red[o][day], "office %s day %zu", name, day);
            cr_expect_eq(r.wl_deferred[o][day], deferred[o][day], "office %s day %zu", name, day);
            cr_expect_eq(r.wl_overflow[o][day], flagged[o][day], "office %s day %zu", name, day);
            cr_expect_geq(r.wl_expected[o][day], (double)(red[o][day] + deferred[o][day]) * 0.5,
                          "office %s day %zu: expected %g", name, day, r.wl_expected[o][day]);
        }
    }
    cr_expect_eq(total_deferred, r.stats.deferred);
    double wl_expected = 0, tiers_expected = 0;
    for (size_t o = 0; o < 7; o++)
        for (size_t day = 0; day < 7; day++)
            wl_expected += r.wl_expected[o][day];
    for (size_t t = 0; t < r.stats.n_tiers; t++)
        tiers_expected += r.stats.tiers[t].expected;
    cr_expect(fabs(wl_expected - tiers_expected) < 1e-6 * tiers_expected, "expected %g vs the tiers' %g",
              wl_expected, tiers_expected);
    cr_expect_gt(deferred[0][0], 0, "O0 may not inspect on its first day");
    cr_expect_gt(deferred[1][3], 0, "O1's cap of 2 binds");
    cr_expect_eq(deferred[2][3], 0, "O2's cap of 1000 is above its selections");
    cr_expect_gt(red[2][3], 5, "O2 inspects more than the default cap");
    free(r.out.keep);
}

/* The table's errors name the file, line and column; an office's periods may not overlap. */
Test(capacity, office_table_errors, .init = setup, .fini = teardown)
{
    static const struct {
        const char *table;
        unsigned long line, column;
        const char *message;
    } cases[] = {
        {"office,cap\n", 1, 8, "unknown column 'cap'"},
        {"office\nO1\n", 1, 1, "needs the column red_per_day"},
        {"office,red_per_day\nO1,x\n", 2, 4, "red_per_day is a whole number"},
        {"office,red_per_day\nO1,3,4\n", 2, 1, "the row has 3 fields, the header 2"},
        {"office,red_per_day\n,3\n", 2, 1, "the office is empty"},
        {"office,red_per_day,valid_from\nO1,3,2025-13-01\n", 2, 6, "valid_from is a date"},
        {"office,red_per_day,valid_from,valid_to\nO1,3,2025-02-01,2025-01-01\n", 2, 17, "valid_to is before"},
        {"office,red_per_day,valid_from,valid_to\nO1,3,,2025-01-31\nO2,1,,\nO1,4,2025-01-31,\n", 4, 1,
         "office O1 has two rows valid on the same days (lines 2 and 4)"},
        {"office,red_per_day\n\"O1\",3\n", 2, 1, "quotes"},
        {"", 1, 1, "the capacity table is empty"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char path[128];
        snprintf(path, sizeof path, "%s/offices.csv", dir);
        FILE *f = fopen(path, "wb");
        cr_assert_not_null(f);
        fputs(cases[k].table, f);
        fclose(f);
        snprintf(path, sizeof path, "%s/bad.conf", dir);
        f = fopen(path, "wb");
        cr_assert_not_null(f);
        fputs("[tiers]\norder = REGULAR\nbase = REGULAR\n[tier REGULAR]\nrate = 0.1\n"
              "[capacity]\noffices = offices.csv\n",
              f);
        fclose(f);
        crest_policy *p = NULL;
        crest_diag d;
        cr_expect_neq(crest_policy_load(path, &p, &d), CREST_OK, "case %zu loaded", k);
        cr_expect_null(p);
        cr_expect(strstr(d.file, "offices.csv") != NULL, "case %zu: file %s", k, d.file);
        cr_expect_eq(d.line, cases[k].line, "case %zu: line %lu", k, d.line);
        cr_expect_eq(d.column, cases[k].column, "case %zu: column %lu", k, d.column);
        cr_expect(strstr(d.message, cases[k].message) != NULL, "case %zu: %s", k, d.message);
        unlink(path);
    }
}

/* The table is hashed: one byte changed in it changes the policy hash; the
 * policy without it caps every office alike. */
Test(capacity, office_table_in_the_hash, .init = setup_offices, .fini = teardown)
{
    char hash[17], path[128];
    snprintf(hash, sizeof hash, "%s", crest_policy_hash_hex(policy));
    cr_assert_eq(crest_policy_office_count(policy), 4);
    cr_assert(crest_policy_has_capacity(policy));
    snprintf(path, sizeof path, "%s/offices.csv", dir);
    FILE *f = fopen(path, "ab");
    cr_assert_not_null(f);
    fputs("O3,6,,\n", f);
    fclose(f);
    crest_policy *p2 = NULL;
    crest_diag d;
    snprintf(path, sizeof path, "%s/cap.conf", dir);
    cr_assert_eq(crest_policy_load(path, &p2, &d), CREST_OK, "%s", d.message);
    cr_expect_str_neq(crest_policy_hash_hex(p2), hash);
    unsigned long cap = 0;
    cr_expect(crest_policy_office_cap(p2, "O3", 2, 0, &cap));
    cr_expect_eq(cap, 6);
    cr_expect(crest_policy_office_cap(p2, "O4", 2, 0, &cap));
    cr_expect_eq(cap, 5, "an office not in the table gets red_per_office_day");
    cr_expect(crest_policy_office_cap(p2, "O", 1, 0, &cap));
    cr_expect_eq(cap, 5);
    crest_policy_free(p2);
}

/* A running input follows a reloaded policy only when its capacity table is the same. */
Test(capacity, reload_with_other_office_table_refused, .init = setup_offices, .fini = teardown)
{
    crest_run_options opt = crest_run_options_default();
    sink out = {UINT64_C(0xcbf29ce484222325), 0, NULL, 0, 0};
    opt.output.write = sink_write;
    opt.output.ctx = &out;
    crest_engine *e = NULL;
    crest_diag d;
    cr_assert_eq(crest_engine_create(policy, NULL, &opt, &e, &d), CREST_OK, "%s", d.message);
    char path[128];
    snprintf(path, sizeof path, "%s/cap.conf", dir);
    crest_policy *same = NULL, *other = NULL;
    cr_assert_eq(crest_policy_load(path, &same, &d), CREST_OK, "%s", d.message);
    cr_expect_eq(crest_engine_set_policy(e, same, NULL, &d), CREST_OK, "%s", d.message);
    snprintf(path, sizeof path, "%s/offices.csv", dir);
    FILE *f = fopen(path, "ab");
    cr_assert_not_null(f);
    fputs("O3,6,,\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/cap.conf", dir);
    cr_assert_eq(crest_policy_load(path, &other, &d), CREST_OK, "%s", d.message);
    cr_expect_eq(crest_engine_set_policy(e, other, NULL, &d), CREST_ERR_INVALID);
    cr_expect(strstr(d.message, "[capacity]") != NULL, "%s", d.message);
    crest_engine_free(e);
    crest_policy_free(same);
    crest_policy_free(other);
}

/* Rows of CSV decisions (passthrough all: the goods column is quoted and last)
 * whose reasons carry each code: RANDOM, RISK, TIER_FLOOR, CAPACITY, OVERFLOW;
 * those led (after CAPACITY or OVERFLOW) by the lane criterion QUAR; INSPECT and
 * DEFER decisions. */
enum { RC_RANDOM, RC_RISK, RC_FLOOR, RC_CAPACITY, RC_OVERFLOW, RC_FORCED, RC_INSPECT, RC_DEFER, RC_N };

static void reason_counts(const char *csv, uint64_t *count)
{
    memset(count, 0, RC_N * sizeof *count);
    static const char head[] = "decl_id,tier,tier_source,risk_score,p,u,decision,lane,reasons,";
    cr_assert(strncmp(csv, head, sizeof head - 1) == 0, "%.80s", csv);
    for (const char *line = strchr(csv, '\n') + 1; *line; line = strchr(line, '\n') + 1) {
        const char *f = line;
        for (int k = 0; k < 6; k++)
            f = strchr(f, ',') + 1;
        count[RC_INSPECT] += strncmp(f, "INSPECT,", 8) == 0;
        count[RC_DEFER] += strncmp(f, "DEFER,", 6) == 0;
        const char *reasons = strchr(strchr(f, ',') + 1, ',') + 1, *end = strchr(reasons, ',');
        cr_assert(end && reasons[0] != '"', "%.120s", line);
        static const char *const code[] = {"RANDOM", "RISK", "TIER_FLOOR", "CAPACITY", "OVERFLOW"};
        int first = 1;
        for (const char *r = reasons; r < end;) {
            const char *sep = memchr(r, ';', (size_t)(end - r));
            const size_t len = (size_t)((sep ? sep : end) - r);
            for (int c = 0; c < 5; c++)
                count[c] += strlen(code[c]) == len && strncmp(r, code[c], len) == 0;
            const int wrapper =
                (len == 8 && !strncmp(r, "CAPACITY", 8)) || (len == 8 && !strncmp(r, "OVERFLOW", 8));
            if (first && !wrapper) {
                count[RC_FORCED] += len >= 4 && strncmp(r, "QUAR", 4) == 0 && (len == 4 || r[4] == '[');
                first = 0;
            }
            r += len + (sep != NULL);
        }
    }
}

/* The summary's selection counts are counts of the decisions' reasons, by
 * construction, when the cap defers selections: at a day's end (batch) and as
 * they come (live, a shared counter as in `crest serve`). */
static void counts_agree(int live)
{
    run r;
    keep_output = 1;
    live_cap = live;
    run_capacity(21000, 3, CREST_FORMAT_CSV, (size_t)1 << 30, &r);
    keep_output = live_cap = 0;
    uint64_t c[RC_N];
    reason_counts(r.out.keep, c);
    const crest_run_stats *s = &r.stats;
    cr_assert_gt(s->deferred, 0, "the cap must defer");
    cr_assert_gt(s->overflow, 0, "some selections must be over the cap and not deferrable");
    cr_expect_gt(s->selected_random, 0);
    cr_expect_gt(s->selected_floor, 0);
    cr_expect_gt(s->selected_forced, 0);
    cr_expect_eq(c[RC_RANDOM], s->selected_random, "%s: RANDOM reasons %llu, summary %llu",
                 live ? "live" : "batch", (unsigned long long)c[RC_RANDOM],
                 (unsigned long long)s->selected_random);
    cr_expect_eq(c[RC_RISK], s->selected_risk, "%s: RISK reasons %llu, summary %llu", live ? "live" : "batch",
                 (unsigned long long)c[RC_RISK], (unsigned long long)s->selected_risk);
    cr_expect_eq(c[RC_FLOOR], s->selected_floor, "%s", live ? "live" : "batch");
    cr_expect_eq(c[RC_FORCED], s->selected_forced, "%s", live ? "live" : "batch");
    cr_expect_eq(c[RC_CAPACITY], s->deferred, "%s", live ? "live" : "batch");
    cr_expect_eq(c[RC_OVERFLOW], s->overflow, "%s", live ? "live" : "batch");
    cr_expect_eq(c[RC_INSPECT], s->inspected, "%s", live ? "live" : "batch");
    cr_expect_eq(c[RC_DEFER], s->deferred, "%s", live ? "live" : "batch");
    uint64_t tier_inspected = 0, tier_deferred = 0;
    for (size_t t = 0; t < s->n_tiers; t++) {
        tier_inspected += s->tiers[t].inspected;
        tier_deferred += s->tiers[t].deferred;
    }
    cr_expect_eq(tier_inspected, s->inspected, "%s", live ? "live" : "batch");
    cr_expect_eq(tier_deferred, s->deferred, "%s", live ? "live" : "batch");
    cr_expect_eq(s->lanes[CREST_LANE_BLUE], s->deferred, "%s", live ? "live" : "batch");
    free(r.out.keep);
}

Test(capacity, summary_counts_are_reason_counts_batch, .init = setup, .fini = teardown)
{
    counts_agree(0);
}

Test(capacity, summary_counts_are_reason_counts_live, .init = setup, .fini = teardown)
{
    counts_agree(1);
}
