/*
 * test_engine.c — the decision engine end to end through the public API:
 * chunk-boundary invariance, order/partition invariance, monotonicity in the
 * rate, tier resolution (registry as of date, lowest party, feed, default),
 * facilitation flags, rejects accounting, fatal errors, and a 1M-row
 * statistical test of the realised tier rates against binomial bounds.
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ------------------------------------------------------------ generators */

typedef struct text {
    char *s;
    size_t len, cap;
} text;

static void tput(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tput(text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (t->s && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = (t->cap + (size_t)n + 1) * 2;
        t->s = realloc(t->s, t->cap);
    }
}

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64: test data only. */
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static const char *HEADER =
    "decl_id,decl_date,enterprise_id,declarant_id,credit_tier,goods_desc,foreign_aeo,direction";

/* Rows with a mix of tiers, quoting, embedded newlines, CRLF and Chinese text. */
static void gen_rows(text *t, size_t n, uint64_t seed, int header, size_t first_id)
{
    static const char *tiers[] = {"AEO",       "REGULAR", "REGULAR",      "REGULAR",
                                  "DISHONEST", "",        "高级认证企业", "失信企业"};
    static const char *descs[] = {"plain goods",      "\"widgets, assorted\"",
                                  "\"TV 55\"\" 4K\"", "\"two\nlines\"",
                                  "锂电池",           "\"spreadsheet, \"\"quoted\"\"\""};
    uint64_t s = seed;
    if (header)
        tput(t, "%s\n", HEADER);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng_next(&s);
        tput(t, "D%09zu,2024-%02d-%02d,E%04d,B%03d,%s,%s,%s,%s%s", first_id + i, (int)(r % 12) + 1,
             (int)((r >> 8) % 28) + 1, (int)((r >> 16) % 5000), (int)((r >> 32) % 300), tiers[(r >> 40) % 8],
             descs[(r >> 44) % 6], (r >> 50) % 10 == 0 ? "SG123456789012" : "", (r >> 54) % 3 ? "I" : "E",
             (r >> 60) % 4 == 0 ? "\r\n" : "\n");
    }
}

/* ------------------------------------------------------------------ tests */

Test(engine, chunk_boundaries_give_identical_output)
{
    crest_policy *p = load_policy_file("policies/order251.conf");
    cr_assert_not_null(p);
    text in = {0};
    gen_rows(&in, 300, 42, 1, 0);
    tput(&in, "D_BAD1,2024-01-01,E1,B1,AEO,bad\"quote,,I\n"); /* hostile rows mixed in */
    tput(&in, "D_BAD2,2024-01-01\n");
    tput(&in, ",2024-01-01,E1,B1,AEO,x,,I\n");
    gen_rows(&in, 50, 43, 0, 1000);
    tput(&in, "D_LAST,2024-01-01,E1,B1,AEO,\"no newline\",,I");
    for (int fmt = 0; fmt < 2; fmt++) {
        run_result ref;
        run_engine(p, NULL, in.s, in.len, 0, (crest_format)fmt, &ref);
        cr_assert_eq(ref.status, CREST_OK, "%s", ref.diag.message);
        cr_expect_eq(ref.stats.rows_in, 354);
        cr_expect_eq(ref.stats.rejects, 3);
        const size_t sizes[] = {1, 2, 3, 7, 4096};
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            run_result r;
            run_engine(p, NULL, in.s, in.len, sizes[k], (crest_format)fmt, &r);
            cr_assert_eq(r.status, CREST_OK);
            cr_expect_eq(r.out.len, ref.out.len, "format %d chunk %zu", fmt, sizes[k]);
            cr_expect(r.out.len == ref.out.len && memcmp(r.out.data, ref.out.data, r.out.len) == 0,
                      "decisions differ: format %d chunk %zu", fmt, sizes[k]);
            cr_expect(r.rej.len == ref.rej.len && memcmp(r.rej.data, ref.rej.data, r.rej.len) == 0,
                      "rejects differ: format %d chunk %zu", fmt, sizes[k]);
            run_result_free(&r);
        }
        run_result_free(&ref);
    }
    free(in.s);
    crest_policy_free(p);
}

/* Collect "decl_id -> line of output" from CSV output (first field up to ','). */
static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **sorted_lines(char *data, size_t *n_out, int skip_header)
{
    size_t n = 0, cap = 1024;
    char **lines = malloc(cap * sizeof *lines);
    char *save = NULL;
    for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (skip_header && n == 0 && skip_header--) {
            continue;
        }
        if (n == cap)
            lines = realloc(lines, (cap *= 2) * sizeof *lines);
        lines[n++] = l;
    }
    qsort(lines, n, sizeof *lines, cmp_lines);
    *n_out = n;
    return lines;
}

/* A shipped policy with its floor lines (floor_period, floor_confidence,
 * floor_month_rows) taken out: a floor tier drawn at the floor itself; with
 * period non-NULL, "floor_period = PERIOD" after each "floor = yes". */
static crest_policy *load_floor_variant(const char *rel, const char *period)
{
    char path[1024], buf[16384], out[16384];
    snprintf(path, sizeof path, "%s/%s", CREST_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    size_t o = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "floor_", 6) == 0)
            continue;
        o += (size_t)snprintf(out + o, sizeof out - o, "%s\n", line);
        if (period && strncmp(line, "floor = yes", 11) == 0)
            o += (size_t)snprintf(out + o, sizeof out - o, "floor_period = %s\n", period);
    }
    crest_policy *p = NULL;
    crest_diag d;
    cr_assert_eq(crest_policy_parse(out, o, rel, &p, &d), CREST_OK, "%s", d.message);
    return p;
}

/* The keyed draw makes a frozen policy's decisions independent of row order
 * and partitioning: the shipped Order 251 policy, whose floor holds per month
 * by a margin in the draw rate (floor_confidence). (floor_period is
 * order-dependent by design: see floor_period_only_adds_inspections.) */
Test(engine, order_and_partition_do_not_change_decisions)
{
    crest_policy *p = load_policy_file("policies/order251.conf");
    cr_assert_not_null(p);
    cr_assert_gt(crest_policy_tier_draw_rate(p, 2), 0.8, "the shipped floor draws above the floor");
    /* Without embedded newlines so rows can be shuffled as lines. */
    text all = {0}, shuffled = {0}, part1 = {0}, part2 = {0};
    const size_t N = 5000;
    char **rows = malloc(N * sizeof *rows);
    tput(&all, "decl_id,credit_tier,goods_desc\n");
    for (size_t i = 0; i < N; i++) {
        char buf[96];
        snprintf(buf, sizeof buf, "X%06zu,%s,\"item, %zu\"\n", i,
                 i % 7 == 0    ? "AEO"
                 : i % 31 == 0 ? "DISHONEST"
                               : "REGULAR",
                 i);
        rows[i] = strdup(buf);
        tput(&all, "%s", buf);
    }
    uint64_t s = 99;
    for (size_t i = N - 1; i > 0; i--) {
        size_t j = rng_next(&s) % (i + 1);
        char *tmp = rows[i];
        rows[i] = rows[j];
        rows[j] = tmp;
    }
    tput(&shuffled, "decl_id,credit_tier,goods_desc\n");
    tput(&part1, "decl_id,credit_tier,goods_desc\n");
    tput(&part2, "decl_id,credit_tier,goods_desc\n");
    for (size_t i = 0; i < N; i++) {
        tput(&shuffled, "%s", rows[i]);
        tput(i < N / 3 ? &part1 : &part2, "%s", rows[i]);
    }
    run_result a, b, c1, c2;
    run_engine(p, NULL, all.s, all.len, 0, CREST_FORMAT_CSV, &a);
    run_engine(p, NULL, shuffled.s, shuffled.len, 4096, CREST_FORMAT_CSV, &b);
    run_engine(p, NULL, part1.s, part1.len, 7, CREST_FORMAT_CSV, &c1);
    run_engine(p, NULL, part2.s, part2.len, 0, CREST_FORMAT_CSV, &c2);
    cr_assert(a.status == CREST_OK && b.status == CREST_OK && c1.status == CREST_OK && c2.status == CREST_OK);
    /* Concatenate the split runs' bodies. */
    text split = {0};
    tput(&split, "%s", c1.out.data);
    tput(&split, "%s", strchr(c2.out.data, '\n') + 1);
    size_t na, nb, nc;
    char **la = sorted_lines(a.out.data, &na, 1), **lb = sorted_lines(b.out.data, &nb, 1),
         **lc = sorted_lines(split.s, &nc, 1);
    cr_assert_eq(na, N);
    cr_assert_eq(nb, N);
    cr_assert_eq(nc, N);
    for (size_t i = 0; i < N; i++) {
        cr_assert_str_eq(la[i], lb[i], "shuffled run differs at %zu", i);
        cr_assert_str_eq(la[i], lc[i], "split run differs at %zu", i);
    }
    cr_expect_gt(a.stats.inspected, 0);
    free(la);
    free(lb);
    free(lc);
    for (size_t i = 0; i < N; i++)
        free(rows[i]);
    free(rows);
    free(all.s);
    free(shuffled.s);
    free(part1.s);
    free(part2.s);
    free(split.s);
    run_result_free(&a);
    run_result_free(&b);
    run_result_free(&c1);
    run_result_free(&c2);
    crest_policy_free(p);
}

Test(engine, raising_a_rate_never_removes_an_inspection)
{
    const char *lo = "[policy]\nseed = 3\n[tiers]\nbase = R\n[tier R]\nrate = 0.03\n";
    const char *hi = "[policy]\nseed = 3\n[tiers]\nbase = R\n[tier R]\nrate = 0.05\n";
    crest_policy *pl = parse_policy(lo), *ph = parse_policy(hi);
    text in = {0};
    tput(&in, "decl_id\n");
    for (int i = 0; i < 20000; i++)
        tput(&in, "M%d\n", i);
    run_result a, b;
    run_engine(pl, NULL, in.s, in.len, 0, CREST_FORMAT_CSV, &a);
    run_engine(ph, NULL, in.s, in.len, 0, CREST_FORMAT_CSV, &b);
    cr_assert(a.status == CREST_OK && b.status == CREST_OK);
    size_t na, nb;
    char **la = sorted_lines(a.out.data, &na, 1), **lb = sorted_lines(b.out.data, &nb, 1);
    cr_assert_eq(na, nb);
    size_t kept = 0;
    for (size_t i = 0; i < na; i++) {
        if (strstr(la[i], ",INSPECT,")) {
            cr_assert_not_null(strstr(lb[i], ",INSPECT,"), "lost inspection: %s", la[i]);
            kept++;
        }
    }
    cr_expect_gt(b.stats.inspected, a.stats.inspected);
    cr_expect_eq(kept, a.stats.inspected);
    free(la);
    free(lb);
    free(in.s);
    run_result_free(&a);
    run_result_free(&b);
    crest_policy_free(pl);
    crest_policy_free(ph);
}

static const char *field_of(const char *line, int k, char *out, size_t cap)
{
    /* k-th comma field of a line with no quoted commas before field k. */
    const char *s = line;
    for (int i = 0; i < k; i++) {
        s = strchr(s, ',');
        if (!s)
            return "";
        s++;
    }
    size_t n = strcspn(s, ",\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

Test(engine, tier_resolution_sources_and_lowest_party)
{
    crest_policy *p = load_policy_file("policies/order251.conf");
    const char *reg_csv = "enterprise_id,tier,valid_from,valid_to\n"
                          "E_AEO,AEO,2024-01-01,\n"
                          "E_UP,REGULAR,2024-01-01,2024-05-31\n"
                          "E_UP,AEO,2024-06-01,\n"
                          "B_BAD,DISHONEST,2024-01-01,\n"
                          "B_OK,AEO,2024-01-01,\n";
    crest_registry *reg = NULL;
    crest_diag d;
    cr_assert_eq(crest_registry_parse(reg_csv, strlen(reg_csv), "<reg>", p, &reg, &d), CREST_OK, "%s",
                 d.message);
    const char *in = "decl_id,decl_date,enterprise_id,declarant_id,credit_tier\n"
                     "T1,2024-03-01,E_AEO,B_OK,REGULAR\n" /* registry AEO beats feed */
                     "T2,2024-03-01,E_AEO,B_BAD,\n"       /* lowest party: declarant dishonest */
                     "T3,2024-03-01,E_UP,,\n"             /* before upgrade: regular */
                     "T4,2024-06-01,E_UP,,\n"             /* after upgrade: AEO */
                     "T5,2024-03-01,E_NEW,,DISHONEST\n"   /* not in registry: feed */
                     "T6,2024-03-01,E_NEW,,PLATINUM\n"    /* unknown label: default */
                     "T7,2024-02-30,E_AEO,,\n"            /* registry needs the date: reject */
                     "T8,,E_NEW,,AEO\n";                  /* no date and party not... still needs date */
    run_result r;
    run_engine(p, reg, in, strlen(in), 0, CREST_FORMAT_CSV, &r);
    cr_assert_eq(r.status, CREST_OK, "%s", r.diag.message);
    char *save = NULL, tier[32], src[40], reasons[64];
    const char *want[][3] = {
        {"T1", "AEO", "registry:enterprise_id"},
        {"T2", "DISHONEST", "registry:declarant_id"},
        {"T3", "REGULAR", "registry:enterprise_id"},
        {"T4", "AEO", "registry:enterprise_id"},
        {"T5", "DISHONEST", "feed"},
        {"T6", "REGULAR", "default"},
    };
    strtok_r(r.out.data, "\n", &save);
    for (size_t i = 0; i < 6; i++) {
        char *line = strtok_r(NULL, "\n", &save);
        cr_assert_not_null(line);
        cr_expect(strncmp(line, want[i][0], 2) == 0, "row %s", line);
        cr_expect_str_eq(field_of(line, 1, tier, sizeof tier), want[i][1], "%s", line);
        cr_expect_str_eq(field_of(line, 2, src, sizeof src), want[i][2], "%s", line);
        if (i == 5)
            cr_expect_not_null(strstr(field_of(line, 8, reasons, sizeof reasons), "TIER_UNKNOWN"));
    }
    cr_expect_null(strtok_r(NULL, "\n", &save), "T7 and T8 must be rejected");
    cr_expect_eq(r.stats.rejects_by_reason[CREST_REJECT_BAD_DATE], 2);
    cr_expect_eq(r.stats.rows_in, 8);
    cr_expect_eq(r.stats.decisions + r.stats.rejects, r.stats.rows_in);
    run_result_free(&r);
    crest_registry_free(reg);
    crest_policy_free(p);
}

Test(engine, facilitation_flags)
{
    crest_policy *p = load_policy_file("policies/order251.conf");
    const char *in = "decl_id,credit_tier,foreign_aeo,direction\n"
                     "F1,AEO,,I\n"                     /* AEO: priority and guarantee exemption */
                     "F2,REGULAR,SG123456789012,I\n"   /* MRA partner import: priority */
                     "F3,REGULAR,SG123456789012,E\n"   /* export: MRA does not apply */
                     "F4,REGULAR,US123456789012,I\n"   /* not a partner */
                     "F5,REGULAR,AEOCN1234567890,I\n"; /* China's own AEO code is not foreign */
    run_result r;
    run_engine(p, NULL, in, strlen(in), 0, CREST_FORMAT_CSV, &r);
    cr_assert_eq(r.status, CREST_OK);
    char *save = NULL, b[8];
    strtok_r(r.out.data, "\n", &save);
    const char *want[][3] = {
        {"1", "1", "0"}, {"1", "0", "1"}, {"0", "0", "0"}, {"0", "0", "0"}, {"0", "0", "0"}};
    for (int i = 0; i < 5; i++) {
        char *line = strtok_r(NULL, "\n", &save);
        cr_assert_not_null(line);
        cr_expect_str_eq(field_of(line, 9, b, sizeof b), want[i][0], "priority: %s", line);
        cr_expect_str_eq(field_of(line, 10, b, sizeof b), want[i][1], "guarantee: %s", line);
        cr_expect_str_eq(field_of(line, 11, b, sizeof b), want[i][2], "mra: %s", line);
    }
    cr_expect_eq(r.stats.mra_recognised, 1);
    cr_expect_eq(r.stats.priority, 2);
    run_result_free(&r);
    crest_policy_free(p);
}

Test(engine, hostile_rows_are_all_accounted_for)
{
    crest_policy *p = parse_policy("[tiers]\nbase = R\n[tier R]\nrate = 0.5\n[input]\nmax_field_bytes = 100\n"
                                   "max_record_bytes = 1000\n");
    text in = {0};
    tput(&in, "decl_id,desc,value\n");
    tput(&in, "H1,ok,1\n");
    tput(&in, "H2,a\"b,1\n");          /* CSV_QUOTE */
    tput(&in, "H3,\"x\"y,1\n");        /* CSV_QUOTE */
    tput(&in, "H4,too,many,fields\n"); /* COLUMN_COUNT */
    tput(&in, "H5,few\n");             /* COLUMN_COUNT */
    tput(&in, ",empty id,1\n");        /* MISSING_ID */
    tput(&in, "   ,blank id,1\n");     /* MISSING_ID */
    tput(&in, "H8,bad \xff utf8,1\n"); /* INVALID_UTF8 */
    tput(&in, "H9,");                  /* FIELD_TOO_LONG */
    for (int i = 0; i < 150; i++)
        tput(&in, "y");
    tput(&in, ",1\nH10,"); /* RECORD_TOO_LONG: short fields, long record */
    for (int i = 0; i < 600; i++)
        tput(&in, "zz,");
    tput(&in, ",1\nH11,nul\x01,1\n"); /* control byte: valid UTF-8, decided */
    tput(&in, "H12,fine,2\n");
    tput(&in, "H13,\"never closed,1\n"); /* CSV_UNTERMINATED */
    run_result r;
    run_engine(p, NULL, in.s, in.len, 5, CREST_FORMAT_CSV, &r);
    cr_assert_eq(r.status, CREST_OK, "%s", r.diag.message);
    const crest_run_stats *s = &r.stats;
    cr_expect_eq(s->rows_in, 13);
    cr_expect_eq(s->decisions, 3, "H1, H11, H12");
    cr_expect_eq(s->rejects, 10);
    cr_expect_eq(s->rejects_by_reason[CREST_REJECT_CSV_QUOTE], 2);
    cr_expect_eq(s->rejects_by_reason[CREST_REJECT_COLUMN_COUNT], 2);
    cr_expect_eq(s->rejects_by_reason[CREST_REJECT_MISSING_ID], 2);
    cr_expect_eq(s->rejects_by_reason[CREST_REJECT_INVALID_UTF8], 1);
    cr_expect_eq(s->rejects_by_reason[CREST_REJECT_FIELD_TOO_LONG], 1);
    cr_expect_eq(s->rejects_by_reason[CREST_REJECT_RECORD_TOO_LONG], 1);
    cr_expect_eq(s->rejects_by_reason[CREST_REJECT_CSV_UNTERMINATED], 1);
    /* The rejects file has a header and one line per reject with the input line number. */
    cr_expect(strncmp(r.rej.data, "line,reason,column,message,record,truncated\n", 44) == 0);
    cr_expect_not_null(strstr(r.rej.data, "\n3,CSV_QUOTE,5,"), "%s", r.rej.data);
    cr_expect_not_null(strstr(r.rej.data, "\n5,COLUMN_COUNT,"));
    cr_expect_not_null(strstr(r.rej.data, "\n11,RECORD_TOO_LONG,1,"));
    cr_expect_not_null(strstr(r.rej.data, "\n14,CSV_UNTERMINATED,"));
    run_result_free(&r);
    free(in.s);
    crest_policy_free(p);
}

/*
 * The id keys the draw, so an id with a character one cannot see is refused:
 * ids of 8 to 33 bytes (the lengths the word-at-a-time check covers, and one
 * past them) with an offending byte or character at every place — a control
 * byte, DEL, a BOM, a zero-width space or joiner, a blank at either end — are
 * each rejected as INVALID_ID naming that byte; the same ids without it, and
 * with a visible non-ASCII character, are decided.
 */
Test(engine, id_with_an_invisible_character_is_rejected_at_its_byte)
{
    crest_policy *p = parse_policy("[tiers]\nbase = R\n[tier R]\nrate = 0.5\n");
    static const char *const inside[] = {"\x01",         "\x1f",         "\x7f",
                                         "\xEF\xBB\xBF", "\xE2\x80\x8B", "\xE2\x81\xA0"};
    text in = {0}, want = {0};
    tput(&in, "decl_id,desc\n");
    unsigned long line = 1;
    size_t bad = 0, good = 0;
    for (size_t len = 8; len <= 33; len++) {
        char id[64];
        for (size_t k = 0; k < len; k++)
            id[k] = (char)('A' + (len + k) % 26);
        tput(&in, "%.*s,clean\n", (int)len, id), line++, good++;
        tput(&in, "%.*s\xC3\xA9%.*s,visible\n", (int)(len / 2), id, (int)(len - len / 2), id), line++, good++;
        tput(&in, " %.*s,lead\n", (int)(len - 1), id + 1), line++, bad++;
        tput(&in, "%.*s\t,trail\n", (int)(len - 1), id), line++, bad++;
        tput(&want, "\n%lu,INVALID_ID,1,decl_id has white space or an invisible character at byte 1 ",
             line - 1);
        tput(&want, "\n%lu,INVALID_ID,1,decl_id has white space or an invisible character at byte %zu ", line,
             len);
        for (size_t at = 1; at + 1 < len; at++) {
            for (size_t c = 0; c < sizeof inside / sizeof *inside; c++) {
                const size_t cl = strlen(inside[c]);
                if (at + cl >= len)
                    continue;
                tput(&in, "%.*s%s%.*s,inside\n", (int)at, id, inside[c], (int)(len - at - cl), id + at + cl);
                line++, bad++;
                tput(&want, "\n%lu,INVALID_ID,1,decl_id has an invisible character at byte %zu ", line,
                     at + 1);
            }
        }
    }
    run_result r;
    run_engine(p, NULL, in.s, in.len, 4096, CREST_FORMAT_CSV, &r);
    cr_assert_eq(r.status, CREST_OK, "%s", r.diag.message);
    cr_expect_eq(r.stats.decisions, good);
    cr_expect_eq(r.stats.rejects, bad);
    cr_expect_eq(r.stats.rejects_by_reason[CREST_REJECT_INVALID_ID], bad);
    /* Every reject names its line and byte. */
    size_t named = 0;
    for (const char *w = want.s; w && *w; named++) {
        const char *end = strchr(w + 1, '\n');
        const size_t n = end ? (size_t)(end - w) : strlen(w);
        char one[200];
        cr_assert_lt(n, sizeof one);
        memcpy(one, w, n);
        one[n] = '\0';
        cr_expect_not_null(strstr(r.rej.data, one), "missing reject: %s", one + 1);
        w += n;
    }
    cr_expect_eq(named, bad);
    run_result_free(&r);
    free(in.s);
    free(want.s);
    crest_policy_free(p);
}

Test(engine, fatal_errors)
{
    crest_policy *p = load_policy_file("policies/order251.conf");
    run_result r;
    run_engine(p, NULL, "id_missing,x\n1,2\n", 17, 0, CREST_FORMAT_CSV, &r);
    cr_expect_eq(r.status, CREST_ERR_MISSING);
    cr_expect_not_null(strstr(r.diag.message, "decl_id"));
    cr_expect_eq(r.diag.line, 1);
    run_result_free(&r);
    run_engine(p, NULL, "", 0, 0, CREST_FORMAT_CSV, &r);
    cr_expect_eq(r.status, CREST_ERR_MISSING);
    cr_expect_not_null(strstr(r.diag.message, "empty"));
    run_result_free(&r);
    /* A registry needs a date column. */
    crest_registry *reg = NULL;
    crest_diag d;
    const char *rc = "enterprise_id,tier,valid_from,valid_to\nE1,AEO,,\n";
    cr_assert_eq(crest_registry_parse(rc, strlen(rc), "<r>", p, &reg, &d), CREST_OK);
    run_engine(p, reg, "decl_id,enterprise_id\n1,E1\n", 27, 0, CREST_FORMAT_CSV, &r);
    cr_expect_eq(r.status, CREST_ERR_MISSING);
    cr_expect_not_null(strstr(r.diag.message, "decl_date"));
    run_result_free(&r);
    crest_registry_free(reg);
    crest_policy_free(p);
}

Test(engine, failing_sink_is_an_io_error)
{
    crest_policy *p = load_policy_file("policies/order251.conf");
    text in = {0};
    gen_rows(&in, 2000, 5, 1, 0);
    membuf out = {0};
    out.fail_after = 3;
    crest_run_options opt = crest_run_options_default();
    opt.output.write = membuf_write;
    opt.output.ctx = &out;
    opt.output_buffer_bytes = 4096;
    crest_engine *e = NULL;
    crest_diag d;
    cr_assert_eq(crest_engine_create(p, NULL, &opt, &e, &d), CREST_OK);
    crest_status st = crest_engine_feed(e, in.s, in.len);
    if (st == CREST_OK)
        st = crest_engine_finish(e);
    cr_expect_eq(st, CREST_ERR_IO);
    cr_expect_eq(crest_engine_feed(e, "x", 1), CREST_ERR_IO, "the error is sticky");
    crest_engine_free(e);
    free(out.data);
    free(in.s);
    crest_policy_free(p);
}

Test(engine, policy_column_mapping_and_jsonl)
{
    crest_policy *p = parse_policy(
        "[tiers]\nbase = R\n[tier R]\nrate = 1\n[tier A]\nratio = 0\n"
        "[columns]\ndecl_id = Entry Ref\ncredit_tier = Class\n[output]\npassthrough = unmapped\n");
    cr_assert_not_null(p);
    const char *in = "Entry Ref,Class,Note\nQ1,A,\"x \"\"y\"\"\"\nQ2,R,\n";
    run_result r;
    run_engine(p, NULL, in, strlen(in), 0, CREST_FORMAT_JSONL, &r);
    cr_assert_eq(r.status, CREST_OK, "%s", r.diag.message);
    cr_expect_not_null(
        strstr(r.out.data,
               "{\"decl_id\":\"Q1\",\"tier\":\"A\",\"tier_source\":\"feed\",\"risk_score\":null,\"p\":0,"));
    cr_expect_not_null(strstr(r.out.data, "\"decision\":\"RELEASE\""));
    cr_expect_not_null(strstr(r.out.data, "\"input\":{\"Note\":\"x \\\"y\\\"\"}}\n"));
    cr_expect_not_null(
        strstr(r.out.data,
               "{\"decl_id\":\"Q2\",\"tier\":\"R\",\"tier_source\":\"feed\",\"risk_score\":null,\"p\":1,"));
    cr_expect_not_null(
        strstr(r.out.data, "\"decision\":\"INSPECT\",\"lane\":\"RED\",\"reasons\":[\"RANDOM\"]"));
    run_result_free(&r);
    crest_policy_free(p);
}

/*
 * The bar of the core issue: 1M rows, default policy. Tier mix 30% AEO,
 * 65% regular, 5% dishonest. Every tier's inspection count must fall inside
 * its Binomial(n, draw rate) bounds at alpha = 1e-6 (the draw rate is the
 * target, or a floor tier's margin rate above its floor), the AEO/regular ratio in
 * [0.18, 0.22], and the dishonest rate at least 0.78.
 */
Test(engine, statistical_one_million_rows, .timeout = 300)
{
    crest_init();
    crest_policy *p = load_policy_file("policies/order251.conf");
    const uint64_t seed = 20240501;
    printf("statistical test: generator seed %llu, policy seed %llu\n", (unsigned long long)seed,
           (unsigned long long)crest_policy_seed(p));
    text in = {0};
    tput(&in, "decl_id,credit_tier\n");
    uint64_t s = seed;
    for (int i = 0; i < 1000000; i++) {
        uint64_t r = rng_next(&s) % 100;
        tput(&in, "2233202410%08d,%s\n", i, r < 30 ? "AEO" : r < 95 ? "REGULAR" : "DISHONEST");
    }
    run_result res;
    run_engine(p, NULL, in.s, in.len, 0, CREST_FORMAT_CSV, &res);
    cr_assert_eq(res.status, CREST_OK);
    const crest_run_stats *st = &res.stats;
    cr_assert_eq(st->decisions, 1000000);
    for (size_t t = 0; t < crest_policy_tier_count(p); t++) {
        uint64_t lo, hi;
        /* The rate the draw uses: a floor tier draws at its margin rate. */
        crest_stats_binomial_bounds(st->tiers[t].rows, crest_policy_tier_draw_rate(p, t), 1e-6, &lo, &hi);
        printf("  %-10s rows %7llu inspected %6llu bounds [%llu, %llu]\n", crest_policy_tier_name(p, t),
               (unsigned long long)st->tiers[t].rows, (unsigned long long)st->tiers[t].inspected,
               (unsigned long long)lo, (unsigned long long)hi);
        cr_expect(st->tiers[t].inspected >= lo && st->tiers[t].inspected <= hi, "tier %s outside bounds",
                  crest_policy_tier_name(p, t));
    }
    const int aeo = crest_policy_tier_lookup(p, "AEO", 3), reg = crest_policy_tier_lookup(p, "REGULAR", 7),
              dis = crest_policy_tier_lookup(p, "DISHONEST", 9);
    const double ra = (double)st->tiers[aeo].inspected / (double)st->tiers[aeo].rows;
    const double rr = (double)st->tiers[reg].inspected / (double)st->tiers[reg].rows;
    const double rd = (double)st->tiers[dis].inspected / (double)st->tiers[dis].rows;
    printf("  AEO/REGULAR ratio %.4f, dishonest rate %.4f\n", ra / rr, rd);
    cr_expect(ra / rr >= 0.18 && ra / rr <= 0.22, "ratio %f", ra / rr);
    cr_expect_geq(rd, 0.78);
    run_result_free(&res);
    free(in.s);
    crest_policy_free(p);
}

/* The shipped criteria policy for HEADER's columns: the columns HEADER lacks
 * are listed in [input] optional (the schema guard would stop the run). */
static crest_policy *rules_policy_for_header(void)
{
    char path[1024], ptext[8192];
    snprintf(path, sizeof path, "%s/policies/order251_rules.conf", CREST_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    size_t n = fread(ptext, 1, sizeof ptext - 1, f);
    fclose(f);
    ptext[n] = '\0';
    char *crit = strstr(ptext, "criteria = ../");
    cr_assert_not_null(crit);
    char *eol = strchr(crit, '\n');
    char full[8192 + 1024];
    snprintf(full, sizeof full,
             "%.*scriteria = %s/%.*s%s\n[input]\noptional = hs_code, origin, declared_value, "
             "net_mass_kg, office, currency, foreign_aeo\n",
             (int)(crit - ptext), ptext, CREST_SOURCE_DIR, (int)(eol - crit - 14), crit + 14, eol);
    /* The [fx] table by its absolute path too. */
    char *fx = strstr(full, "file = fx_usd.csv");
    cr_assert_not_null(fx);
    char tail[8192 + 1024];
    snprintf(tail, sizeof tail, "file = %s/policies/fx_usd.csv%s", CREST_SOURCE_DIR,
             fx + strlen("file = fx_usd.csv"));
    snprintf(fx, sizeof full - (size_t)(fx - full), "%s", tail);
    crest_policy *p = NULL;
    crest_diag d;
    cr_assert_eq(crest_policy_parse(full, strlen(full), "<rules+optional>", &p, &d), CREST_OK, "%s",
                 d.message);
    return p;
}

/* floor_period = month: every month of every floor tier is at or above the
 * floor, whatever the order; the top-ups only add inspections to what the
 * keyed draw decides, and other tiers are decided exactly as without it. */
Test(engine, floor_period_only_adds_inspections)
{
    crest_policy *held = load_floor_variant("policies/order251.conf", "month");
    crest_policy *plain = load_floor_variant("policies/order251.conf", NULL);
    cr_assert(held && plain);
    text in = {0};
    tput(&in, "decl_id,decl_date,credit_tier\n");
    uint64_t s = 2024;
    for (size_t i = 0; i < 6000; i++) {
        const uint64_t r = rng_next(&s);
        tput(&in, "F%06zu,2024-%02d-%02d,%s\n", i, (int)(r % 12) + 1, (int)((r >> 8) % 28) + 1,
             (r >> 20) % 4 == 0   ? "DISHONEST"
             : (r >> 20) % 4 == 1 ? "AEO"
                                  : "REGULAR");
    }
    run_result a, b;
    run_engine(held, NULL, in.s, in.len, 0, CREST_FORMAT_CSV, &a);
    run_engine(plain, NULL, in.s, in.len, 0, CREST_FORMAT_CSV, &b);
    cr_assert(a.status == CREST_OK && b.status == CREST_OK);
    /* Per month: DISHONEST realised >= 80% with the floor held. */
    uint64_t rows[13] = {0}, insp[13] = {0}, extra = 0;
    const char *pa = strchr(a.out.data, '\n') + 1, *pb = strchr(b.out.data, '\n') + 1;
    const char *pi = strchr(in.s, '\n') + 1;
    while (*pa && *pb) {
        const char *ea = strchr(pa, '\n'), *eb = strchr(pb, '\n'), *ei = strchr(pi, '\n');
        const int month = atoi(pi + 13);
        const int dis = strstr(pa, ",DISHONEST,") != NULL && strstr(pa, ",DISHONEST,") < ea;
        const int ia = strstr(pa, ",INSPECT,") && strstr(pa, ",INSPECT,") < ea;
        const int ib = strstr(pb, ",INSPECT,") && strstr(pb, ",INSPECT,") < eb;
        cr_assert(!ib || ia, "a keyed-draw inspection was lost: %.*s", (int)(ea - pa), pa);
        if (!dis)
            cr_assert_eq(ea - pa, eb - pb, "a non-floor tier row changed");
        if (dis) {
            rows[month]++;
            insp[month] += (uint64_t)ia;
            extra += (uint64_t)(ia && !ib);
        }
        pa = ea + 1, pb = eb + 1, pi = ei + 1;
    }
    for (int m = 1; m <= 12; m++) {
        cr_assert_gt(rows[m], 0);
        cr_expect_geq((double)insp[m], 0.8 * (double)rows[m], "month %d: %llu of %llu", m,
                      (unsigned long long)insp[m], (unsigned long long)rows[m]);
    }
    cr_expect_gt(extra, 0, "the keyed draw alone dips under 80%% in some month of this sample");
    run_result_free(&a);
    run_result_free(&b);
    free(in.s);
    crest_policy_free(held);
    crest_policy_free(plain);
}

/* Parsing and deciding on two threads gives the same bytes, rejects and counts. */
Test(engine, two_threads_give_identical_output)
{
    crest_policy *p = rules_policy_for_header();
    cr_assert_not_null(p);
    text in = {0};
    gen_rows(&in, 20000, 77, 1, 0);
    tput(&in, "D_BAD1,2024-01-01,E1,B1,AEO,bad\"quote,,I\n");
    tput(&in, ",2024-01-01,E1,B1,AEO,x,,I\n");
    gen_rows(&in, 5000, 78, 0, 100000);
    const size_t chunks[] = {0, 7, 4096};
    for (int fmt = 0; fmt < 2; fmt++) {
        harness_threads = 1;
        run_result one;
        run_engine(p, NULL, in.s, in.len, 0, (crest_format)fmt, &one);
        cr_assert_eq(one.status, CREST_OK, "%s", one.diag.message);
        for (size_t k = 0; k < 3; k++) {
            harness_threads = 2;
            run_result two;
            run_engine(p, NULL, in.s, in.len, chunks[k], (crest_format)fmt, &two);
            cr_assert_eq(two.status, CREST_OK, "%s", two.diag.message);
            cr_expect(two.out.len == one.out.len && memcmp(two.out.data, one.out.data, one.out.len) == 0,
                      "decisions differ with two threads (format %d, chunk %zu)", fmt, chunks[k]);
            cr_expect(two.rej.len == one.rej.len && memcmp(two.rej.data, one.rej.data, one.rej.len) == 0);
            cr_expect_eq(two.stats.rows_in, one.stats.rows_in);
            cr_expect_eq(two.stats.inspected, one.stats.inspected);
            cr_expect_eq(two.stats.bytes_in, one.stats.bytes_in);
            run_result_free(&two);
        }
        run_result_free(&one);
    }
    harness_threads = 1;
    /* A fatal header error is reported with two threads too. */
    harness_threads = 2;
    run_result bad;
    run_engine(p, NULL, "id,x\n1,2\n", 9, 0, CREST_FORMAT_CSV, &bad);
    cr_expect_eq(bad.status, CREST_ERR_MISSING);
    run_result_free(&bad);
    harness_threads = 1;
    free(in.s);
    crest_policy_free(p);
}

/*
 * Input cut short (crest run on SIGINT): the record the bytes end inside is
 * neither decided nor rejected — a cut last field would be decided with a
 * wrong value — and a note names its line; everything before it is decided
 * exactly as when the input ends there. On one thread, on parallel blocks of
 * any size, and through the ordered decider (duplicate_ids = reject).
 */
Test(engine, input_cut_short_drops_the_cut_record)
{
    crest_policy *blocks = load_policy_file("policies/order251.conf");
    crest_policy *ordered = parse_policy("[policy]\nname = t\nseed = 5\n"
                                         "[tiers]\norder = AEO, REGULAR, DISHONEST\nbase = REGULAR\n"
                                         "[tier REGULAR]\nrate = 0.3\n[tier AEO]\nratio = 0.2\n"
                                         "[tier DISHONEST]\nrate = 0.8\nfloor = yes\n"
                                         "[input]\nduplicate_ids = reject\n");
    cr_assert_not_null(blocks);
    cr_assert_not_null(ordered);
    text whole = {0};
    gen_rows(&whole, 3000, 91, 1, 0);
    size_t lines = 0;
    for (size_t i = 0; i < whole.len; i++)
        lines += whole.s[i] == '\n';
    /* Cuts: inside the last field, inside a quoted field over two lines, at a line end. */
    static const char *const tails[] = {"X000000001,2024-03-01,E0001,B001,AEO,plain goods,,I",
                                        "X000000002,2024-03-01,E0001,B001,AEO,\"two\nli", ""};
    for (size_t t = 0; t < 3; t++) {
        text cut = {0};
        tput(&cut, "%s%s", whole.s, tails[t]);
        for (int setup = 0; setup < 4; setup++) {
            const crest_policy *p = setup == 3 ? ordered : blocks;
            harness_threads = setup == 0 ? 1 : 2;
            harness_block_bytes = setup == 2 ? 300 : 0;
            run_result want, got;
            run_engine(p, NULL, whole.s, whole.len, 4096, CREST_FORMAT_CSV, &want);
            cr_assert_eq(want.status, CREST_OK, "%s", want.diag.message);
            harness_finish_early = 1;
            run_engine(p, NULL, cut.s, cut.len, 4096, CREST_FORMAT_CSV, &got);
            harness_finish_early = 0;
            const char *notes = got.notes;
            cr_assert_eq(got.status, CREST_OK);
            cr_assert(got.out.len == want.out.len && memcmp(got.out.data, want.out.data, want.out.len) == 0,
                      "tail %zu, setup %d: decisions differ from the input ending before the cut", t, setup);
            cr_assert_eq(got.stats.rows_in, want.stats.rows_in, "tail %zu, setup %d", t, setup);
            cr_assert_eq(got.stats.rows_in, got.stats.decisions + got.stats.rejects);
            char line[64];
            snprintf(line, sizeof line, "line %zu was not read whole", lines + 1);
            if (tails[t][0])
                cr_assert(strstr(notes, line), "tail %zu, setup %d: notes '%s' lack '%s'", t, setup, notes,
                          line);
            else
                cr_assert_null(strstr(notes, "cut short"), "tail %zu, setup %d: '%s'", t, setup, notes);
            run_result_free(&want);
            run_result_free(&got);
        }
        free(cut.s);
    }
    harness_threads = 1;
    harness_block_bytes = 0;
    free(whole.s);
    crest_policy_free(blocks);
    crest_policy_free(ordered);
}
