/*
 * test_replay_spill.c — the replay's ranking with bounded memory (rankstore.c):
 * the rows spilled to the temporary file in sorted runs and merged back give
 * the same bits as the rows kept in memory, and both the same bits as the
 * earlier in-memory algorithm (a stable sort by period and score, then by
 * score; kept here as the oracle) — precision/recall/revenue@n% per period
 * and in total, the gain curve, AUC and AP — with ties at every cut, NaN,
 * -0 and +0 scores, undated rows, gaps between periods, one period and
 * many; merge, save and load with spilled parts; and the temporary file's
 * errors (no directory, a full disk) as CREST_ERR_IO with the reason.
 */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "crest/crest.h"
#include "crest/crest_replay.h"

static const char policy_text[] = "[policy]\nname = t\nseed = 1\n"
                                  "[tiers]\norder = AEO, REGULAR\nbase = REGULAR\ndefault = REGULAR\n"
                                  "[tier AEO]\nratio = 0.2\n[tier REGULAR]\nrate = 0.1\n";

static crest_policy *policy(void)
{
    crest_policy *p = NULL;
    crest_diag d;
    cr_assert_eq(crest_policy_parse(policy_text, strlen(policy_text), "<test>", &p, &d), CREST_OK, "%s",
                 d.message);
    return p;
}

/* rows 0: the default buffer (in memory for these sizes). */
static crest_replay *make(crest_policy *pol, crest_replay_period period, size_t rows, size_t fan_in)
{
    crest_replay_options o = {period, "illicit", NULL, NULL, NULL, 0};
    crest_replay *r = NULL;
    crest_diag d;
    cr_assert_eq(crest_replay_create(pol, &o, &r, &d), CREST_OK);
    if (rows)
        cr_assert_eq(crest_replay_set_buffer(r, rows, fan_in), CREST_OK);
    return r;
}

/* Row i of a history made for ties: scores from a small set (NaN, -0, +0
 * among them) or unique, revenue that rounds (so a different order of
 * addition would show), unlabelled and undated rows, and a gap of two weeks
 * and a month without rows. */
typedef struct hrow {
    crest_decision d;
    int32_t date;
    int illicit;
    double revenue;
} hrow;

static hrow history_row(unsigned i, unsigned variant)
{
    static const double scores[] = {NAN, -0.0, 0.0, 0.1, 0.25, 1.0 / 3.0, 0.5, 0.9};
    const unsigned h = ((i + 7919u * variant) * 2654435761u) >> 5;
    hrow r;
    memset(&r, 0, sizeof r);
    r.d.tier = h % 3 == 0 ? 0 : 1;
    r.d.score = (h % 13) < 9 ? scores[(h >> 4) % 8] : (double)(h % 100003) / 100003.0;
    r.d.p = (h % 7) ? 0.3 : 0.05;
    r.d.p_random = 0.02;
    r.d.u = (double)((h >> 3) % 1000) / 1000.0;
    r.d.inspect = r.d.u < r.d.p;
    r.d.lane = r.d.inspect ? 4 : 0;
    const int32_t day = (int32_t)((h >> 2) % 120);
    r.date = (h % 23) == 0 ? CREST_DATE_NONE : 18628 + day + (day >= 30 ? 14 : 0) + (day >= 70 ? 31 : 0);
    r.illicit = (h % 5) == 0 ? 1 : (h % 17) == 0 ? -1 : 0;
    r.revenue = r.illicit == 1 ? (double)(h % 1000) * 0.01 + 0.001 * (double)(h % 7) : 0.0;
    return r;
}

static void feed(crest_replay *r, unsigned from, unsigned to, unsigned variant)
{
    for (unsigned i = from; i < to; i++) {
        const hrow h = history_row(i, variant);
        cr_assert_eq(crest_replay_add(r, &h.d, h.date, h.illicit, h.revenue), CREST_OK);
    }
}

/* ------------------------------------------------------------ the oracle */

/* The earlier algorithm: every row in memory, a stable sort by (period,
 * score) for the periods, then a stable sort of that by score for the total;
 * topk, gain and AUC/AP walks over the sorted array. seq makes the stable
 * sorts explicit. */
typedef struct orow {
    double score, revenue;
    int64_t key;
    uint8_t illicit;
    size_t seq;
} orow;

static int score_desc(double a, double b)
{
    const int na = isnan(a), nb = isnan(b);
    if (na || nb)
        return na - nb;
    return a > b ? -1 : a < b ? 1 : 0;
}

static int cmp_period(const void *pa, const void *pb)
{
    const orow *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    const int c = score_desc(a->score, b->score);
    return c ? c : a->seq < b->seq ? -1 : 1;
}

static int cmp_total(const void *pa, const void *pb)
{
    const orow *a = pa, *b = pb;
    const int c = score_desc(a->score, b->score);
    return c ? c : a->seq < b->seq ? -1 : 1;
}

static int same(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

static void oracle_topk(const orow *rows, size_t n, uint64_t k, double *hits, double *rev)
{
    double h = 0, v = 0;
    size_t i = 0;
    while (i < n && (uint64_t)i < k) {
        size_t j = i;
        double gh = 0, gv = 0;
        while (j < n && same(rows[j].score, rows[i].score)) {
            gh += rows[j].illicit;
            gv += rows[j].revenue;
            j++;
        }
        const double take = (uint64_t)j <= k ? 1.0 : (double)(k - (uint64_t)i) / (double)(j - i);
        h += take * gh;
        v += take * gv;
        i = j;
    }
    *hits = h;
    *rev = v;
}

/* Bitwise equality of doubles (NaN equals NaN). */
#define BITS_EQ(a, b, what)                                                                                  \
    do {                                                                                                     \
        const double x_ = (a), y_ = (b);                                                                     \
        cr_assert(memcmp(&x_, &y_, sizeof x_) == 0, "%s: %.17g != %.17g", what, x_, y_);                     \
    } while (0)

static void check_ranking(const crest_replay_metrics *m, const orow *rows, size_t n, const char *where)
{
    for (int a = 0; a < CREST_REPLAY_N_AT; a++) {
        const uint64_t k = ((uint64_t)n * crest_replay_at_pct[a] + 99) / 100;
        double h, v;
        oracle_topk(rows, n, k, &h, &v);
        cr_assert_eq(m->at_k[a], k, "%s: k", where);
        BITS_EQ(m->at_precision[a], k ? h / (double)k : NAN, where);
        BITS_EQ(m->at_recall[a], m->illicit ? h / (double)m->illicit : NAN, where);
        BITS_EQ(m->at_revenue[a], m->revenue_total > 0 ? v / m->revenue_total : NAN, where);
    }
}

static void oracle_gain(const orow *rows, size_t n, uint64_t total_rows, size_t n_points, double *hh,
                        double *vv)
{
    for (size_t i = 0; i < n_points; i++) {
        const uint64_t k = ((uint64_t)i * total_rows + (n_points - 2)) / (n_points - 1);
        oracle_topk(rows, n, k, &hh[i], &vv[i]);
    }
}

/* The oracle over rows 0 .. n of variant, checked against r (finished). */
static void check_against_oracle(const crest_replay *r, crest_replay_period period, unsigned n,
                                 unsigned variant)
{
    orow *rows = malloc(n * sizeof *rows);
    for (unsigned i = 0; i < n; i++) {
        const hrow h = history_row(i, variant);
        rows[i] = (orow){h.d.score, h.revenue, crest_replay_period_key(period, h.date), h.illicit == 1, i};
    }
    if (period != CREST_REPLAY_PERIOD_NONE) {
        qsort(rows, n, sizeof *rows, cmp_period);
        size_t i = 0;
        for (size_t p = 0; p < crest_replay_period_count(r); p++) {
            const crest_replay_metrics *m = crest_replay_period_at(r, p);
            size_t j = i;
            while (j < n && rows[j].key == m->key)
                j++;
            cr_assert_eq(j - i, m->rows);
            check_ranking(m, rows + i, j - i, m->label);
            i = j;
        }
        cr_assert_eq(i, n);
        for (size_t s = 0; s < n; s++) /* the second sort is stable on the first's order */
            rows[s].seq = s;
    }
    qsort(rows, n, sizeof *rows, cmp_total);
    const crest_replay_metrics *t = crest_replay_total(r);
    check_ranking(t, rows, n, "total");
    const size_t points[] = {2, 21, CREST_REPLAY_GAIN_POINTS, 1000};
    for (size_t g = 0; g < sizeof points / sizeof *points; g++) {
        const size_t np = points[g];
        double *x = malloc(3 * np * sizeof *x), *y = x + np, *v = y + np;
        double *oh = malloc(2 * np * sizeof *oh), *ov = oh + np;
        cr_assert_eq(crest_replay_gain(r, np, x, y, v), CREST_OK);
        oracle_gain(rows, n, t->rows, np, oh, ov);
        for (size_t i = 0; i < np; i++) {
            BITS_EQ(y[i], t->illicit ? oh[i] / (double)t->illicit : NAN, "gain y");
            BITS_EQ(v[i], t->revenue_total > 0 ? ov[i] / t->revenue_total : NAN, "gain revenue");
        }
        free(x);
        free(oh);
    }
    /* AUC and AP, one group of tied scores at a time. */
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++)
        pos += rows[i].illicit;
    const uint64_t neg = n - pos;
    double area = 0, avg = 0;
    uint64_t tp = 0, fp = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        uint64_t p = 0;
        while (j < n && same(rows[j].score, rows[i].score))
            p += rows[j++].illicit;
        const uint64_t q = (j - i) - p;
        area += (double)p * ((double)(neg - fp - q) + 0.5 * (double)q);
        tp += p, fp += q;
        if (p)
            avg += ((double)p / (double)pos) * ((double)tp / (double)(tp + fp));
        i = j;
    }
    double auc, ap;
    cr_assert_eq(crest_replay_ranking_quality(r, &auc, &ap), CREST_OK);
    BITS_EQ(auc, pos && neg ? area / ((double)pos * (double)neg) : NAN, "AUC");
    BITS_EQ(ap, pos ? avg : NAN, "AP");
    free(rows);
}

/* Two texts are equal; else say where they part, with some context. */
static void same_text(const char *a, const char *b, const char *what)
{
    size_t i = 0;
    while (a[i] && a[i] == b[i])
        i++;
    const size_t from = i > 60 ? i - 60 : 0;
    cr_assert(a[i] == b[i], "%s differs at byte %zu: ...%.120s... vs ...%.120s...", what, i, a + from,
              b + from);
}

/* Every writer's bytes and the gain curve's bits of two finished replays. */
static void check_same_outputs(const crest_replay *a, const crest_replay *b)
{
    const crest_replay *ra[] = {a}, *rb[] = {b};
    const char *names[] = {"p"};
    const crest_replay_set sa = {ra, names, 1, "in", 0}, sb = {rb, names, 1, "in", 0};
    char *ja = crest_replay_json(&sa), *jb = crest_replay_json(&sb);
    char *pa = crest_replay_csv_periods(&sa), *pb = crest_replay_csv_periods(&sb);
    char *ta = crest_replay_csv_tiers(&sa), *tb = crest_replay_csv_tiers(&sb);
    same_text(ja, jb, "replay.json");
    same_text(pa, pb, "periods.csv");
    same_text(ta, tb, "tiers.csv");
    free(ja), free(jb), free(pa), free(pb), free(ta), free(tb);
    const size_t np = 37;
    double x[2][37], y[2][37], v[2][37];
    cr_assert_eq(crest_replay_gain(a, np, x[0], y[0], v[0]), CREST_OK);
    cr_assert_eq(crest_replay_gain(b, np, x[1], y[1], v[1]), CREST_OK);
    cr_assert(memcmp(y[0], y[1], sizeof y[0]) == 0 && memcmp(v[0], v[1], sizeof v[0]) == 0);
    double auc[2], ap[2];
    crest_replay_ranking_quality(a, &auc[0], &ap[0]);
    crest_replay_ranking_quality(b, &auc[1], &ap[1]);
    BITS_EQ(auc[0], auc[1], "AUC");
    BITS_EQ(ap[0], ap[1], "AP");
}

/* -------------------------------------------------------------- the tests */

/* Every period kind, buffers from 1 row to more than the history, fan-ins
 * that force merges in steps at finish: the oracle's bits, the same bytes. */
Test(replay_spill, spilled_equals_in_memory_and_the_oracle)
{
    const crest_replay_period periods[] = {CREST_REPLAY_PERIOD_NONE, CREST_REPLAY_PERIOD_DAY,
                                           CREST_REPLAY_PERIOD_WEEK, CREST_REPLAY_PERIOD_MONTH};
    const size_t buffers[][2] = {{1, 2}, {2, 3}, {3, 128}, {7, 2}, {64, 4}, {500, 0}, {5000, 0}};
    const unsigned n = 3001;
    crest_policy *pol = policy();
    for (size_t p = 0; p < 4; p++) {
        crest_replay *mem = make(pol, periods[p], 0, 0);
        feed(mem, 0, n, 0);
        cr_assert_eq(crest_replay_finish(mem), CREST_OK);
        cr_assert_eq(crest_replay_spilled(mem), 0, "a small history stays in memory");
        check_against_oracle(mem, periods[p], n, 0);
        for (size_t b = 0; b < sizeof buffers / sizeof *buffers; b++) {
            crest_replay *sp = make(pol, periods[p], buffers[b][0], buffers[b][1]);
            feed(sp, 0, n, 0);
            cr_assert_eq(crest_replay_finish(sp), CREST_OK);
            cr_assert_eq(crest_replay_spilled(sp), buffers[b][0] < n, "buffer %zu", buffers[b][0]);
            check_same_outputs(mem, sp);
            check_against_oracle(sp, periods[p], n, 0);
            crest_replay_free(sp);
        }
        crest_replay_free(mem);
    }
    crest_policy_free(pol);
}

/* Ties across every cut: 1000 rows in four tied groups whose bounds fall
 * inside the top 1, 2, 5 and 10 %, one period and the total. */
Test(replay_spill, ties_at_the_cuts)
{
    crest_policy *pol = policy();
    crest_replay *mem = make(pol, CREST_REPLAY_PERIOD_MONTH, 0, 0),
                 *sp = make(pol, CREST_REPLAY_PERIOD_MONTH, 3, 2);
    for (unsigned i = 0; i < 1000; i++) {
        crest_decision d;
        memset(&d, 0, sizeof d);
        d.tier = 1;
        d.score = i % 250 < 3 ? 0.9 : i % 250 < 8 ? 0.7 : i % 250 < 30 ? 0.5 : 0.1; /* 12, 20, 88, 880 rows */
        d.u = 0.5;
        const double rev = (i % 3) ? 0.1 * (double)i : 0;
        cr_assert_eq(crest_replay_add(mem, &d, 18628 + (int32_t)(i % 28), i % 3 != 0, rev), CREST_OK);
        cr_assert_eq(crest_replay_add(sp, &d, 18628 + (int32_t)(i % 28), i % 3 != 0, rev), CREST_OK);
    }
    cr_assert_eq(crest_replay_finish(mem), CREST_OK);
    cr_assert_eq(crest_replay_finish(sp), CREST_OK);
    cr_assert_eq(crest_replay_period_count(sp), 1);
    const crest_replay_metrics *m = crest_replay_total(sp);
    cr_assert_eq(m->at_k[0], 10);  /* inside the 12 rows at 0.9 */
    cr_assert_eq(m->at_k[1], 20);  /* inside the 20 at 0.7 (12 .. 32) */
    cr_assert_eq(m->at_k[3], 100); /* inside the 88 at 0.5 (32 .. 120) */
    /* 10 of the 12 tied rows at 0.9: 8 illicit among them, shared pro rata. */
    BITS_EQ(m->at_precision[0], (10.0 / 12.0 * 8.0) / 10.0, "precision@1%");
    check_same_outputs(mem, sp);
    crest_replay_free(mem), crest_replay_free(sp);
    crest_policy_free(pol);
}

/* No rows at all: every metric as in memory (NaN), no file. */
Test(replay_spill, empty)
{
    crest_policy *pol = policy();
    crest_replay *mem = make(pol, CREST_REPLAY_PERIOD_WEEK, 0, 0),
                 *sp = make(pol, CREST_REPLAY_PERIOD_WEEK, 1, 2);
    cr_assert_eq(crest_replay_finish(mem), CREST_OK);
    cr_assert_eq(crest_replay_finish(sp), CREST_OK);
    cr_assert_eq(crest_replay_spilled(sp), 0);
    check_same_outputs(mem, sp);
    crest_replay_free(mem), crest_replay_free(sp);
    crest_policy_free(pol);
}

/* Merge, save and load with spilled parts (as the Dask replay moves them):
 * the same bits as the same merges in memory, whichever parts spilled. */
Test(replay_spill, merge_save_load_with_spills)
{
    crest_policy *pol = policy();
    /* Which of the three parts (and the receiver) spill: every combination. */
    crest_replay *ref = NULL;
    for (unsigned mask = 0; mask < 16; mask++) {
        crest_replay *part[3], *acc = make(pol, CREST_REPLAY_PERIOD_WEEK, (mask & 8) ? 5 : 0, 3);
        const unsigned bounds[4] = {0, 700, 1900, 2500};
        for (int i = 0; i < 3; i++) {
            part[i] = make(pol, CREST_REPLAY_PERIOD_WEEK, (mask >> i) & 1 ? 4 : 0, 2);
            feed(part[i], bounds[i], bounds[i + 1], 1);
        }
        /* The receiver's own rows, then part 0 merged, part 1 and 2 through saved bytes. */
        feed(acc, 2500, 2600, 1);
        cr_assert_eq(crest_replay_merge(acc, part[0]), CREST_OK);
        for (int i = 1; i < 3; i++) {
            size_t len = 0;
            void *saved = crest_replay_save(part[i], &len);
            cr_assert_not_null(saved);
            crest_diag d;
            cr_assert_eq(crest_replay_load(acc, saved, len, &d), CREST_OK, "%s", d.message);
            crest_replay_free_saved(saved);
        }
        feed(acc, 2600, 2650, 1);
        cr_assert_eq(crest_replay_finish(acc), CREST_OK);
        cr_assert_eq(crest_replay_total(acc)->rows, 2650);
        if ((mask & 1) || (mask & 2) || (mask & 4) || (mask & 8))
            cr_assert(crest_replay_spilled(acc), "mask %u: the spilled runs moved to the receiver", mask);
        if (!ref)
            ref = acc;
        else {
            cr_log_info("mask %u", mask);
            check_same_outputs(ref, acc);
            crest_replay_free(acc);
        }
        for (int i = 0; i < 3; i++)
            crest_replay_free(part[i]);
    }
    crest_replay_free(ref);
    crest_policy_free(pol);
}

/* A saved state that claims runs longer than its rows is refused. */
Test(replay_spill, saved_runs_are_checked)
{
    crest_policy *pol = policy();
    crest_replay *src = make(pol, CREST_REPLAY_PERIOD_NONE, 4, 2),
                 *dst = make(pol, CREST_REPLAY_PERIOD_NONE, 0, 0);
    feed(src, 0, 30, 2);
    size_t len = 0;
    unsigned char *saved = crest_replay_save(src, &len);
    cr_assert_not_null(saved);
    /* The header: magic, hash, 2 sizes, n_tiers, period, n_periods, n_rank, n_runs;
     * then the total; then the runs' lengths. Make the first run 1000 rows long. */
    const size_t lengths = 9 * sizeof(uint64_t) + sizeof(crest_replay_metrics);
    uint64_t n_runs;
    memcpy(&n_runs, saved + 8 * sizeof(uint64_t), sizeof n_runs);
    cr_assert_eq(n_runs, 7); /* 30 rows in runs of 4, 2 still buffered */
    const uint64_t big = 1000;
    memcpy(saved + lengths, &big, sizeof big);
    crest_diag d;
    cr_assert_eq(crest_replay_load(dst, saved, len, &d), CREST_ERR_INVALID);
    crest_replay_free_saved(saved);
    crest_replay_free(src), crest_replay_free(dst);
    crest_policy_free(pol);
}

/* The temporary file's directory does not exist: the spill fails with the reason. */
Test(replay_spill, no_temporary_directory)
{
    setenv("TMPDIR", "/nonexistent-crest-dir", 1);
    crest_policy *pol = policy();
    crest_replay *r = make(pol, CREST_REPLAY_PERIOD_NONE, 2, 2);
    cr_assert_null(crest_replay_diag(r));
    /* Rows with revenue: each keeps its own place (none is combined), so the third spills. */
    const hrow h = history_row(0, 0);
    cr_assert_eq(crest_replay_add(r, &h.d, h.date, h.illicit, 1.0), CREST_OK);
    cr_assert_eq(crest_replay_add(r, &h.d, h.date, h.illicit, 2.0), CREST_OK);
    cr_assert_eq(crest_replay_add(r, &h.d, h.date, h.illicit, 3.0), CREST_ERR_IO);
    const crest_diag *d = crest_replay_diag(r);
    cr_assert_not_null(d);
    cr_assert_eq(d->status, CREST_ERR_IO);
    cr_assert(strstr(d->message, "/nonexistent-crest-dir") && strstr(d->message, "No such file"), "%s",
              d->message);
    crest_replay_free(r);
    crest_policy_free(pol);
}

/* The disk fills up (a file size limit): the write fails with the reason, never silently. */
Test(replay_spill, write_error_is_reported)
{
    signal(SIGXFSZ, SIG_IGN);
    const struct rlimit lim = {4096, 4096};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    crest_policy *pol = policy();
    crest_replay *r = make(pol, CREST_REPLAY_PERIOD_NONE, 16, 2);
    crest_status st = CREST_OK;
    unsigned i = 0;
    for (; i < 1000 && st == CREST_OK; i++) {
        const hrow h = history_row(i, 0);
        st = crest_replay_add(r, &h.d, h.date, h.illicit, 1.0 + i); /* revenue: a row each */
    }
    cr_assert_eq(st, CREST_ERR_IO, "no failure after %u rows", i);
    cr_assert_leq(i, 4096 / 32 + 17, "it failed where the limit is");
    cr_assert(strstr(crest_replay_diag(r)->message, "cannot write"), "%s", crest_replay_diag(r)->message);
    crest_replay_free(r);
    crest_policy_free(pol);
}

/* Every replay of a [combine][buffer] grid gives r[0][0]'s outputs over its n
 * rows; then the grid is freed. */
static void same_grid_and_free(crest_replay *r[2][2], unsigned n)
{
    for (int c = 0; c < 2; c++)
        for (int b = 0; b < 2; b++) {
            check_same_outputs(r[0][0], r[c][b]);
            cr_assert_eq(crest_replay_total(r[c][b])->rows, n);
        }
    for (int c = 0; c < 2; c++)
        for (int b = 0; b < 2; b++)
            crest_replay_free(r[c][b]);
}

/* Tied rows without revenue are combined (rankstore.h): the same bits as
 * with combining off, in memory and spilled, and far fewer rows kept: with
 * combining, a history of scores from a small set fits a buffer that
 * without it spills. */
Test(replay_spill, combining_changes_no_result)
{
    crest_policy *pol = policy();
    const unsigned n = 20000;
    crest_replay *r[2][2]; /* [combine][buffer 0: default, 1: 300 rows] */
    for (int c = 0; c < 2; c++) {
        if (c)
            unsetenv("CREST_REPLAY_COMBINE");
        else
            setenv("CREST_REPLAY_COMBINE", "0", 1);
        for (int b = 0; b < 2; b++) {
            r[c][b] = make(pol, CREST_REPLAY_PERIOD_MONTH, b ? 300 : 0, b ? 4 : 0);
            static const double scores[] = {NAN, -0.0, 0.0, 0.5}; /* -0 and +0 tie */
            for (unsigned i = 0; i < n; i++) {
                hrow h = history_row(i, 3);
                h.d.score = scores[i % 4];
                if (i % 50) /* revenue on few rows (the illicit among every 50th) */
                    h.revenue = 0;
                cr_assert_eq(crest_replay_add(r[c][b], &h.d, h.date, h.illicit, h.revenue), CREST_OK);
            }
            cr_assert_eq(crest_replay_finish(r[c][b]), CREST_OK);
        }
    }
    unsetenv("CREST_REPLAY_COMBINE");
    cr_assert_eq(crest_replay_spilled(r[0][1]), 1, "without combining 20000 rows spill a 300-row buffer");
    cr_assert_eq(crest_replay_spilled(r[1][1]), 0, "combined, they fit it");
    same_grid_and_free(r, n);
    crest_policy_free(pol);
}

/* Runs of tied rows (the buffer's combining row is tried first, rankstore.c)
 * with a revenue row inside a run, -0/+0 and NaNs of both signs in one run,
 * and a buffer that spills in the middle of runs: the same bits as without
 * combining. */
Test(replay_spill, combining_runs_of_ties)
{
    crest_policy *pol = policy();
    const unsigned n = 6000;
    static const double scores[] = {NAN, -NAN, -0.0, 0.0, 0.5, 0.5, 0.25};
    crest_replay *r[2][2]; /* [combine][buffer 0: default, 1: 7 rows] */
    for (int c = 0; c < 2; c++) {
        if (c)
            unsetenv("CREST_REPLAY_COMBINE");
        else
            setenv("CREST_REPLAY_COMBINE", "0", 1);
        for (int b = 0; b < 2; b++) {
            r[c][b] = make(pol, CREST_REPLAY_PERIOD_WEEK, b ? 7 : 0, b ? 3 : 0);
            for (unsigned i = 0; i < n; i++) {
                hrow h = history_row(i, 4);
                h.d.score = scores[(i / 9) % 7]; /* runs of 9 rows; 0.5 twice: a run of 18 */
                if (i % 13)                      /* revenue (of the illicit) on every 13th row */
                    h.revenue = 0;
                cr_assert_eq(crest_replay_add(r[c][b], &h.d, h.date, h.illicit, h.revenue), CREST_OK);
            }
            cr_assert_eq(crest_replay_finish(r[c][b]), CREST_OK);
        }
    }
    unsetenv("CREST_REPLAY_COMBINE");
    cr_assert_eq(crest_replay_spilled(r[1][1]), 1, "a 7-row buffer spills");
    same_grid_and_free(r, n);
    crest_policy_free(pol);
}

/* The counts of a metrics record, in a fixed order. */
enum { COUNTS = 19 };
static void counts_of(const crest_replay_metrics *m, uint64_t c[COUNTS])
{
    const uint64_t v[COUNTS] = {m->rows,
                                m->unlabelled,
                                m->illicit,
                                m->inspected,
                                m->hits,
                                m->forced,
                                m->random,
                                m->risk,
                                m->lanes[0],
                                m->lanes[1],
                                m->lanes[2],
                                m->lanes[3],
                                m->lanes[4],
                                m->deferred,
                                m->overflow,
                                m->random_stream,
                                m->random_stream_hits,
                                m->zero_p_rows,
                                m->aeo_missed_illicit};
    memcpy(c, v, sizeof v);
}

/* The counts of the total and of each tier in it, field by field. */
static void same_counts(const crest_replay_metrics *a, const crest_replay_metrics *b, const char *what)
{
    uint64_t ca[COUNTS], cb[COUNTS];
    counts_of(a, ca);
    counts_of(b, cb);
    for (size_t i = 0; i < COUNTS; i++)
        cr_assert_eq(ca[i], cb[i], "%s: count %zu: %llu vs %llu", what, i, (unsigned long long)ca[i],
                     (unsigned long long)cb[i]);
    cr_assert_eq(a->n_tiers, b->n_tiers);
    for (size_t t = 0; t < a->n_tiers; t++) {
        const crest_replay_tier_metrics *x = &a->tiers[t], *y = &b->tiers[t];
        const uint64_t ta[] = {x->rows,
                               x->inspected,
                               x->forced,
                               x->random,
                               x->risk,
                               x->illicit,
                               x->hits,
                               x->missed_illicit,
                               x->deferred,
                               x->overflow,
                               x->forced_insensitive};
        const uint64_t tb[] = {y->rows,
                               y->inspected,
                               y->forced,
                               y->random,
                               y->risk,
                               y->illicit,
                               y->hits,
                               y->missed_illicit,
                               y->deferred,
                               y->overflow,
                               y->forced_insensitive};
        for (size_t i = 0; i < sizeof ta / sizeof *ta; i++)
            cr_assert_eq(ta[i], tb[i], "%s: tier %zu count %zu", what, t, i);
        for (int l = 0; l < 5; l++)
            cr_assert_eq(x->lanes[l], y->lanes[l], "%s: tier %zu lane %d", what, t, l);
        BITS_EQ(x->revenue_caught, y->revenue_caught, what);
    }
}

/* With periods, the total's counts are summed from the periods' and its sums
 * are its own, added row by row: whatever the period (none included), and
 * after a save and load halfway, the total has the same counts and the same
 * bits of revenue and HT sums as the rows added in order (revenue that
 * rounds, so another order would show). */
Test(replay_spill, total_is_the_periods_counts_and_the_rows_sums)
{
    crest_policy *pol = policy();
    const unsigned n = 5000;
    double rev_total = 0, rev_caught = 0, ht_sum = 0, ht_var = 0;
    for (unsigned i = 0; i < n; i++) {
        const hrow h = history_row(i, 5);
        rev_total += h.revenue;
        const double pi = 1.0 - (1.0 - h.d.p_forced) * (1.0 - h.d.p);
        if (h.d.inspect) {
            rev_caught += h.revenue;
            if (h.illicit == 1 && pi > 0) {
                ht_sum += 1.0 / pi;
                ht_var += (1.0 - pi) / (pi * pi);
            }
        }
    }
    crest_replay *none = make(pol, CREST_REPLAY_PERIOD_NONE, 0, 0);
    feed(none, 0, n, 5);
    cr_assert_eq(crest_replay_finish(none), CREST_OK);
    const crest_replay_metrics *t0 = crest_replay_total(none);
    cr_assert_eq(t0->rows, n);
    BITS_EQ(t0->revenue_total, rev_total, "revenue_total");
    BITS_EQ(t0->revenue_caught, rev_caught, "revenue_caught");
    BITS_EQ(t0->ht_sum, ht_sum, "ht_sum");
    BITS_EQ(t0->ht_var, ht_var, "ht_var");
    const crest_replay_period periods[] = {CREST_REPLAY_PERIOD_DAY, CREST_REPLAY_PERIOD_WEEK,
                                           CREST_REPLAY_PERIOD_MONTH};
    for (size_t k = 0; k < 3; k++) {
        crest_replay *one = make(pol, periods[k], 0, 0), *first = make(pol, periods[k], 0, 0),
                     *second = make(pol, periods[k], 0, 0);
        feed(one, 0, n, 5);
        feed(first, 0, n / 2, 5);
        size_t len = 0;
        void *saved = crest_replay_save(first, &len);
        cr_assert_not_null(saved);
        crest_diag d;
        cr_assert_eq(crest_replay_load(second, saved, len, &d), CREST_OK, "%s", d.message);
        crest_replay_free_saved(saved);
        feed(second, n / 2, n, 5);
        cr_assert_eq(crest_replay_finish(one), CREST_OK);
        cr_assert_eq(crest_replay_finish(second), CREST_OK);
        for (int j = 0; j < 2; j++) {
            const crest_replay_metrics *t = crest_replay_total(j ? second : one);
            same_counts(t0, t, j ? "saved and loaded" : "one pass");
            BITS_EQ(t->revenue_total, rev_total, "revenue_total");
            BITS_EQ(t->revenue_caught, rev_caught, "revenue_caught");
            BITS_EQ(t->ht_sum, ht_sum, "ht_sum");
            BITS_EQ(t->ht_var, ht_var, "ht_var");
        }
        /* The periods' counts add up to the total's. */
        uint64_t rows = 0, inspected = 0, hits = 0;
        for (size_t p = 0; p < crest_replay_period_count(one); p++) {
            rows += crest_replay_period_at(one, p)->rows;
            inspected += crest_replay_period_at(one, p)->inspected;
            hits += crest_replay_period_at(one, p)->hits;
        }
        cr_assert_eq(rows, n);
        cr_assert_eq(inspected, t0->inspected);
        cr_assert_eq(hits, t0->hits);
        check_same_outputs(one, second);
        crest_replay_free(one), crest_replay_free(first), crest_replay_free(second);
    }
    crest_replay_free(none);
    crest_policy_free(pol);
}

/* The buffer is set before the first row only, within its range. */
Test(replay_spill, set_buffer_rules)
{
    crest_policy *pol = policy();
    crest_replay *r = make(pol, CREST_REPLAY_PERIOD_NONE, 0, 0);
    cr_assert_eq(crest_replay_set_buffer(r, 0, 0), CREST_ERR_RANGE);
    cr_assert_eq(crest_replay_set_buffer(r, 10, 1), CREST_ERR_RANGE);
    cr_assert_eq(crest_replay_set_buffer(r, 10, 0), CREST_OK);
    feed(r, 0, 1, 0);
    cr_assert_eq(crest_replay_set_buffer(r, 20, 0), CREST_ERR_STATE);
    crest_replay_free(r);
    crest_policy_free(pol);
}
