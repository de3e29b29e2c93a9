/*
 * test_lmodel.c — the logistic risk model: coefficient recovery on generated
 * data, out-of-fold target encoding, save/load round trip, every model-file
 * and spec error input can reach, allocation-free scoring, explanations, and
 * a smoke fit on the KCS synthetic data (skipped when it is absent).
 */
#define _POSIX_C_SOURCE 200809L /* strndup, getpid */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crest/crest_lmodel.h"

/* The KCS data is not in the repository: CREST_KCS_DIR at run time, else the
 * directory the build found beside the source tree (tests/CMakeLists.txt). */
static const char *kcs_dir(void)
{
    const char *dir = getenv("CREST_KCS_DIR");
    return dir ? dir : CREST_KCS_DIR;
}

/* Allocation counter for the hot-path test (as in test_xgb.c): this
 * executable interposes malloc and friends; not under AddressSanitizer. */
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
static volatile size_t n_allocs;
void *malloc(size_t size)
{
    n_allocs++;
    return __libc_malloc(size);
}
void *calloc(size_t n, size_t size)
{
    n_allocs++;
    return __libc_calloc(n, size);
}
void *realloc(void *ptr, size_t size)
{
    n_allocs++;
    return __libc_realloc(ptr, size);
}
#endif

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static uint64_t rng_state;
static double urand(void) /* splitmix64 -> [0,1) */
{
    uint64_t x = (rng_state += 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
    return (double)(x >> 11) * 0x1.0p-53;
}

static double logit(double p)
{
    return log(p / (1 - p));
}

static crest_str S(const char *s)
{
    return (crest_str){s, strlen(s)};
}

/* A generated row: columns "id", "cat", "x1", "x2" as text, and a decl. */
typedef struct grow {
    char id[32], cat[80], x1[32], x2[32];
    crest_str cols[4];
    crest_decl d;
} grow;

static const char *const GHEAD[] = {"id", "cat", "x1", "x2"};

static void gheader(crest_str *h)
{
    for (int i = 0; i < 4; i++)
        h[i] = S(GHEAD[i]);
}

static void gmake(grow *g, unsigned long id, const char *cat, double x1, double x2)
{
    memset(g, 0, sizeof *g);
    snprintf(g->id, sizeof g->id, "D%lu", id);
    snprintf(g->cat, sizeof g->cat, "%s", cat);
    if (isnan(x1))
        g->x1[0] = '\0';
    else
        snprintf(g->x1, sizeof g->x1, "%.17g", x1);
    snprintf(g->x2, sizeof g->x2, "%.17g", x2);
    g->cols[0] = S(g->id);
    g->cols[1] = S(g->cat);
    g->cols[2] = S(g->x1);
    g->cols[3] = S(g->x2);
    g->d.field[CREST_FIELD_DECL_ID] = g->cols[0];
    g->d.field[CREST_FIELD_ORIGIN] = g->cols[1];
    g->d.field[CREST_FIELD_HS_CODE] = S("8471.30");
    g->d.cols = g->cols;
    g->d.n_cols = 4;
    g->d.date_days = CREST_DATE_NONE;
    g->d.declared_value = 100.0 * exp(x2);
    g->d.net_mass_kg = 10.0;
    g->d.quantity = NAN;
}

static void print_diag(const crest_diag *d)
{
    fprintf(stderr, "  [%s] %s:%lu:%lu: %s\n", crest_status_name(d->status), d->file, d->line, d->column,
            d->message);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    const long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

static void write_all(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 512, "%s/lmodel_%ld_%s", CREST_BINARY_DIR, (long)getpid(), name);
    return p;
}

/* A small fitted model over every item kind, on generated rows. */
#define MIX_SPEC                                                                                             \
    "te:origin, te:hs4*col(cat), cnt:origin, num:col(x1), log:declared_value, "                              \
    "rel:unit_value/hs4, log:unit_value"
static crest_lmodel *fit_mix_ex(size_t n, uint64_t seed, int calibrate, crest_lmodel_fit_report *report)
{
    crest_str h[4];
    gheader(h);
    crest_lmodel_trainer *t;
    crest_diag d;
    cr_assert_eq(crest_lmodel_trainer_create(MIX_SPEC, h, 4, NULL, &t, &d), CREST_OK, "%s", d.message);
    crest_lmodel_trainer_set_calibrate(t, calibrate);
    rng_state = seed;
    static const char *const cats[] = {"CN", "DE", "US", "VN", "KR"};
    for (size_t i = 0; i < n; i++) {
        const int c = (int)(urand() * 5);
        const double x1 = urand() < 0.05 ? NAN : 4 * urand() - 2, x2 = 4 * urand() - 2;
        grow g;
        gmake(&g, i, cats[c], x1, x2);
        const double z = -1 + 0.3 * c + (isnan(x1) ? 0.5 : 0.8 * x1) - 0.4 * x2;
        cr_assert_eq(crest_lmodel_trainer_add(t, &g.d, urand() < 1 / (1 + exp(-z))), CREST_OK);
    }
    crest_lmodel *m;
    crest_lmodel_fit_report rep;
    cr_assert_eq(crest_lmodel_trainer_fit(t, &m, &rep, &d), CREST_OK, "%s", d.message);
    cr_assert(rep.converged);
    crest_lmodel_trainer_free(t);
    if (report)
        *report = rep;
    return m;
}

static crest_lmodel *fit_mix(size_t n, uint64_t seed)
{
    return fit_mix_ex(n, seed, 0, NULL);
}

/* ------------------------------------------------------------------------ */
/* Fitting                                                                   */

/*
 * Data from a known model: logit p = b0 + b1 x1 + b2 x2, x1, x2 ~ U(-2, 2)
 * independent, n = 40 000. The model standardises internally, so the
 * coefficients are read back on the original scale through the public
 * scoring function: logit(score) is linear in x1 and x2, so b0 = logit(s(0,0)),
 * b1 = logit(s(1,0)) - b0, b2 = logit(s(0,1)) - b0.
 * Tolerance: the asymptotic standard error of a slope is about
 * 1 / sqrt(n var(x) p(1-p)) = 1 / sqrt(40000 * 1.33 * 0.19) ~ 0.010 (a bit
 * more for the intercept), and lambda = 1 shrinks by O(1/n); 0.05 is about
 * five standard errors.
 */
Test(lmodel, fit_recovers_known_coefficients)
{
    const uint64_t seed = 20240611;
    const double b0 = -1.2, b1 = 0.9, b2 = -0.6;
    const size_t n = 40000;
    fprintf(stderr, "  seed %llu, n %zu, true (%g, %g, %g)\n", (unsigned long long)seed, n, b0, b1, b2);
    crest_str h[4];
    gheader(h);
    crest_lmodel_trainer *t;
    crest_diag d;
    crest_lmodel_train_options o;
    crest_lmodel_train_options_default(&o);
    cr_assert_eq(crest_lmodel_trainer_create("num:col(x1), num:col(x2)", h, 4, &o, &t, &d), CREST_OK, "%s",
                 d.message);
    rng_state = seed;
    size_t n_pos = 0;
    for (size_t i = 0; i < n; i++) {
        const double x1 = 4 * urand() - 2, x2 = 4 * urand() - 2;
        const int y = urand() < 1 / (1 + exp(-(b0 + b1 * x1 + b2 * x2)));
        n_pos += (size_t)y;
        grow g;
        gmake(&g, i, "A", x1, x2);
        cr_assert_eq(crest_lmodel_trainer_add(t, &g.d, y), CREST_OK);
    }
    crest_lmodel *m;
    crest_lmodel_fit_report rep;
    cr_assert_eq(crest_lmodel_trainer_fit(t, &m, &rep, &d), CREST_OK, "%s", d.message);
    cr_assert(rep.converged);
    cr_assert_eq(rep.n_rows, n);
    cr_assert_eq(rep.n_positive, n_pos);
    cr_assert_eq(rep.n_features, 4, "two numeric items give value + missing columns each");
    grow g;
    gmake(&g, 0, "A", 0, 0);
    const double e0 = logit(crest_lmodel_score(m, &g.d, NULL));
    gmake(&g, 0, "A", 1, 0);
    const double e1 = logit(crest_lmodel_score(m, &g.d, NULL)) - e0;
    gmake(&g, 0, "A", 0, 1);
    const double e2 = logit(crest_lmodel_score(m, &g.d, NULL)) - e0;
    fprintf(stderr, "  estimated (%.4f, %.4f, %.4f) in %zu iterations\n", e0, e1, e2, rep.n_iter);
    cr_assert_float_eq(e0, b0, 0.05);
    cr_assert_float_eq(e1, b1, 0.05);
    cr_assert_float_eq(e2, b2, 0.05);
    crest_lmodel_free(m);
    crest_lmodel_trainer_free(t);
}

/*
 * Out of fold: a category seen once gets exactly the prior in the training
 * design matrix (its own label is in its own fold), whereas the stored
 * full-data encoding does see it. Two rows of a category in the same fold
 * both get the prior; rows of a big category get the rate of the others.
 */
Test(lmodel, target_encoding_is_out_of_fold)
{
    crest_str h[4];
    gheader(h);
    crest_lmodel_trainer *t;
    crest_diag d;
    crest_lmodel_train_options o;
    crest_lmodel_train_options_default(&o);
    o.smoothing = 2;
    o.folds = 5;
    cr_assert_eq(crest_lmodel_trainer_create("te:col(cat), num:col(x1)", h, 4, &o, &t, &d), CREST_OK);
    rng_state = 7;
    const size_t n = 2000;
    size_t n_pos = 0;
    for (size_t i = 0; i < n; i++) {
        grow g;
        const int y = i == 0 ? 1 : urand() < 0.3;
        gmake(&g, i, i == 0 ? "SOLO" : (i % 2 ? "BIG1" : "BIG2"), urand(), 0);
        n_pos += (size_t)y;
        cr_assert_eq(crest_lmodel_trainer_add(t, &g.d, y), CREST_OK);
    }
    const double prior = (double)n_pos / (double)n;
    double v;
    cr_assert_eq(crest_lmodel_trainer_value(t, 0, 0, &v), CREST_OK);
    cr_assert_float_eq(v, logit(prior), 1e-12, "the singleton got %g, not the prior %g", v, logit(prior));
    /* Rows of a big category: close to their category's rate, but differing
     * between folds (in-sample encoding would give one value). */
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 1; i < n; i += 2) {
        cr_assert_eq(crest_lmodel_trainer_value(t, i, 0, &v), CREST_OK);
        lo = fmin(lo, v);
        hi = fmax(hi, v);
    }
    cr_assert_gt(hi - lo, 1e-6, "out-of-fold values must vary with the fold");
    cr_assert_eq(crest_lmodel_trainer_value(t, n, 0, &v), CREST_ERR_RANGE);
    crest_lmodel *m;
    cr_assert_eq(crest_lmodel_trainer_fit(t, &m, NULL, &d), CREST_OK, "%s", d.message);
    /* The model's table holds the full-data encoding: SOLO's one positive
     * moves it above the prior; an unseen category gets the prior. Read both
     * through the save file to avoid depending on the coefficient. */
    const char *path = tmp_path("oof.model");
    cr_assert_eq(crest_lmodel_save(m, path, &d), CREST_OK);
    char *text = read_all(path);
    const char *solo = strstr(text, "entry =SOLO ");
    cr_assert_not_null(solo, "SOLO must have an entry in the model file");
    const double stored = strtod(solo + strlen("entry =SOLO "), NULL);
    const double want = logit((1 + 2 * prior) / (1 + 2));
    cr_assert_float_eq(stored, want, 1e-12, "full-data encoding %.17g, want %.17g", stored, want);
    cr_assert_gt(stored, logit(prior) + 0.1, "the stored encoding sees SOLO's label");
    free(text);
    remove(path);
    crest_lmodel_free(m);
    crest_lmodel_trainer_free(t);
}

Test(lmodel, fold_assignment_is_order_independent)
{
    /* The same rows added forwards and backwards get the same out-of-fold
     * values (folds hash decl_id, not the position), and the two fits score
     * alike up to summation order. */
    crest_str h[4];
    gheader(h);
    crest_lmodel_trainer *t[2];
    crest_lmodel *m[2];
    crest_diag d;
    enum { N = 500 };
    for (int pass = 0; pass < 2; pass++) {
        cr_assert_eq(crest_lmodel_trainer_create("te:col(cat)", h, 4, NULL, &t[pass], &d), CREST_OK);
        for (size_t k = 0; k < N; k++) {
            const size_t i = pass ? N - 1 - k : k;
            grow g;
            char cat[8];
            snprintf(cat, sizeof cat, "C%zu", i % 37);
            gmake(&g, i, cat, 0, 0);
            cr_assert_eq(crest_lmodel_trainer_add(t[pass], &g.d, (i * 7919) % 5 == 0), CREST_OK);
        }
        cr_assert_eq(crest_lmodel_trainer_fit(t[pass], &m[pass], NULL, &d), CREST_OK, "%s", d.message);
    }
    size_t n_differ = 0;
    double first = NAN;
    for (size_t i = 0; i < N; i++) {
        double a, b;
        cr_assert_eq(crest_lmodel_trainer_value(t[0], i, 0, &a), CREST_OK);
        cr_assert_eq(crest_lmodel_trainer_value(t[1], N - 1 - i, 0, &b), CREST_OK);
        cr_assert_eq(a, b, "row %zu: %.17g forwards, %.17g backwards", i, a, b);
        if (i % 37 == 0) { /* category C0: its rows sit in several folds */
            if (isnan(first))
                first = a;
            n_differ += a != first;
        }
        grow g;
        char cat[8];
        snprintf(cat, sizeof cat, "C%zu", i % 37);
        gmake(&g, i, cat, 0, 0);
        cr_assert_float_eq(crest_lmodel_score(m[0], &g.d, NULL), crest_lmodel_score(m[1], &g.d, NULL), 1e-12);
    }
    cr_assert_gt(n_differ, 0, "rows of one category in different folds get different values");
    for (int pass = 0; pass < 2; pass++) {
        crest_lmodel_free(m[pass]);
        crest_lmodel_trainer_free(t[pass]);
    }
}

Test(lmodel, fit_needs_both_classes)
{
    crest_lmodel_trainer *t;
    crest_diag d;
    cr_assert_eq(crest_lmodel_trainer_create("te:origin", NULL, 0, NULL, &t, &d), CREST_OK);
    crest_lmodel *m = (crest_lmodel *)0x1;
    cr_assert_eq(crest_lmodel_trainer_fit(t, &m, NULL, &d), CREST_ERR_MISSING);
    cr_assert_null(m);
    grow g;
    gmake(&g, 1, "CN", 0, 0);
    cr_assert_eq(crest_lmodel_trainer_add(t, &g.d, 2), CREST_ERR_INVALID);
    cr_assert_eq(crest_lmodel_trainer_add(t, &g.d, 1), CREST_OK);
    cr_assert_eq(crest_lmodel_trainer_fit(t, &m, NULL, &d), CREST_ERR_MISSING);
    print_diag(&d);
    crest_lmodel_trainer_free(t);
    crest_lmodel_train_options o;
    crest_lmodel_train_options_default(&o);
    o.folds = 1;
    cr_assert_eq(crest_lmodel_trainer_create("te:origin", NULL, 0, &o, &t, &d), CREST_ERR_RANGE);
    cr_assert_null(t);
    print_diag(&d);
}

/* ------------------------------------------------------------------------ */
/* Model file                                                                */

Test(lmodel, save_load_gives_identical_scores)
{
    crest_lmodel *m = fit_mix(3000, 99);
    const char *path = tmp_path("roundtrip.model");
    crest_diag d;
    cr_assert_eq(crest_lmodel_save(m, path, &d), CREST_OK, "%s", d.message);
    crest_lmodel *m2;
    cr_assert_eq(crest_lmodel_load(path, &m2, &d), CREST_OK, "%s:%lu: %s", d.file, d.line, d.message);
    cr_assert_str_eq(crest_lmodel_feature_spec(m2), crest_lmodel_feature_spec(m));
    crest_str h[4];
    gheader(h);
    cr_assert_eq(crest_lmodel_bind(m2, h, 4, &d), CREST_OK);
    /* m3 stays unbound: its columns for this header are kept apart (shared models). */
    crest_lmodel *m3;
    cr_assert_eq(crest_lmodel_load(path, &m3, &d), CREST_OK);
    const size_t n_cols = crest_lmodel_column_count(m3);
    cr_assert_eq(n_cols, 2); /* col(cat) and col(x1) in MIX_SPEC */
    size_t cols[2];
    cr_assert_eq(crest_lmodel_resolve_columns(m3, h, 4, cols, &d), CREST_OK, "%s", d.message);
    crest_str short_header[1] = {S("nothing")};
    size_t bad[2];
    cr_expect_eq(crest_lmodel_resolve_columns(m3, short_header, 1, bad, &d), CREST_ERR_MISMATCH);
    size_t unbound_differs = 0;
    rng_state = 5;
    static const char *const cats[] = {"CN", "DE", "US", "VN", "KR", "unseen", ""};
    for (size_t i = 0; i < 2000; i++) {
        grow g;
        gmake(&g, i, cats[i % 7], urand() < 0.1 ? NAN : 4 * urand() - 2, 4 * urand() - 2);
        if (i % 11 == 0)
            g.d.net_mass_kg = NAN;
        crest_lmodel_explain e1, e2;
        const double p1 = crest_lmodel_score(m, &g.d, &e1), p2 = crest_lmodel_score(m2, &g.d, &e2);
        cr_assert(p1 > 0 && p1 < 1);
        cr_assert_eq(p1, p2, "row %zu: %.17g != %.17g after save/load", i, p1, p2);
        const double p3 = crest_lmodel_score_columns(m3, cols, &g.d, NULL);
        cr_assert_eq(p3, p2, "row %zu: %.17g != %.17g with resolved columns", i, p3, p2);
        unbound_differs += crest_lmodel_score(m3, &g.d, NULL) != p2;
        cr_assert_eq(e1.n, e2.n);
        for (size_t k = 0; k < e1.n; k++) {
            cr_assert_str_eq(e1.feature[k], e2.feature[k]);
            cr_assert_eq(e1.contribution[k], e2.contribution[k]);
        }
    }
    /* Unbound, the named columns read as missing: the scores differ. */
    cr_expect(unbound_differs > 0);
    crest_lmodel_free(m3);
    /* Saving the loaded model gives the same bytes. */
    const char *path2 = tmp_path("roundtrip2.model");
    cr_assert_eq(crest_lmodel_save(m2, path2, &d), CREST_OK);
    char *a = read_all(path), *b = read_all(path2);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
    remove(path);
    remove(path2);
    crest_lmodel_free(m);
    crest_lmodel_free(m2);
}

/* Write `text` to a file, load it, expect status and line; print the diag. */
static void expect_bad_file(const char *text, crest_status status, unsigned long line, const char *needle)
{
    const char *path = tmp_path("bad.model");
    write_all(path, text);
    crest_lmodel *m = (crest_lmodel *)0x1;
    crest_diag d;
    const crest_status st = crest_lmodel_load(path, &m, &d);
    print_diag(&d);
    cr_assert_eq(st, status, "expected %s, got %s: %s", crest_status_name(status), crest_status_name(st),
                 d.message);
    cr_assert_null(m);
    cr_assert_str_eq(d.file, path);
    cr_assert_eq(d.line, line, "expected line %lu, got %lu (%s)", line, d.line, d.message);
    cr_assert_not_null(strstr(d.message, needle), "\"%s\" lacks \"%s\"", d.message, needle);
    remove(path);
}

/* 1-based line of the first occurrence of needle in text. */
static unsigned long line_of(const char *text, const char *needle)
{
    const char *at = strstr(text, needle);
    cr_assert_not_null(at);
    unsigned long line = 1;
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    return line;
}

/* Copy of src with the first `from` replaced by `to`. */
static char *replace(const char *src, const char *from, const char *to)
{
    const char *at = strstr(src, from);
    cr_assert_not_null(at, "template lacks \"%s\"", from);
    const size_t head = (size_t)(at - src), fl = strlen(from), tl = strlen(to);
    char *out = malloc(strlen(src) - fl + tl + 1);
    memcpy(out, src, head);
    memcpy(out + head, to, tl);
    strcpy(out + head + tl, at + fl);
    return out;
}

/*
 * The Platt calibration fitted with the model (crest_lmodel_trainer_set_calibrate):
 * on rows drawn from a logistic model the fit is already calibrated, so the
 * cross-fitted Platt scaling is close to the identity (a ~ 0, b ~ 1; at n =
 * 6000 the standard error of b is about 0.05) and its mean on the held-out
 * scores equals the label rate; it is saved, loaded and applied bit for bit;
 * a model fitted without it has none and its file no calibration line.
 */
Test(lmodel, calibration_is_fitted_saved_and_applied)
{
    crest_lmodel_fit_report rep;
    crest_lmodel *m = fit_mix_ex(6000, 77, 1, &rep);
    double a, b;
    cr_assert_eq(crest_lmodel_calibration(m, &a, &b), 1);
    fprintf(stderr,
            "  seed 77, n 6000: Platt a %.4f, b %.4f; held-out mean score %.4f, calibrated %.4f, "
            "label %.4f\n",
            a, b, rep.heldout_mean_score, rep.heldout_mean_calibrated, (double)rep.n_positive / 6000.0);
    cr_assert(rep.calibrated);
    cr_expect_eq(rep.cal_a, a);
    cr_expect_eq(rep.cal_b, b);
    cr_expect(fabs(a) < 0.2 && fabs(b - 1) < 0.2, "a %g, b %g", a, b);
    cr_expect(fabs(rep.heldout_mean_calibrated - (double)rep.n_positive / 6000.0) < 1e-6);
    const char *path = tmp_path("calibrated.model");
    crest_diag d;
    cr_assert_eq(crest_lmodel_save(m, path, &d), CREST_OK, "%s", d.message);
    char *text = read_all(path);
    cr_assert_not_null(strstr(text, "\ncalibration platt "), "the file carries the calibration");
    crest_lmodel *m2;
    cr_assert_eq(crest_lmodel_load(path, &m2, &d), CREST_OK, "%s:%lu: %s", d.file, d.line, d.message);
    double a2, b2;
    cr_assert_eq(crest_lmodel_calibration(m2, &a2, &b2), 1);
    cr_assert_eq(a, a2);
    cr_assert_eq(b, b2);
    for (double p = 0.001; p < 1; p += 0.0731) {
        const double want = 1 / (1 + exp(-(a + b * log(p / (1 - p)))));
        cr_assert_eq(crest_lmodel_calibrate(m, p), crest_lmodel_calibrate(m2, p));
        cr_assert(fabs(crest_lmodel_calibrate(m, p) - want) < 1e-12, "%g: %g vs %g", p,
                  crest_lmodel_calibrate(m, p), want);
    }
    cr_assert(isnan(crest_lmodel_calibrate(m, NAN)));
    /* Bad calibration lines name their line. */
    const unsigned long cl = line_of(text, "calibration platt");
    char *s = replace(text, "calibration platt ", "calibration isotonic ");
    expect_bad_file(s, CREST_ERR_SYNTAX, cl, "platt");
    free(s);
    s = replace(text, "calibration platt ", "calibration platt x");
    expect_bad_file(s, CREST_ERR_INVALID, cl, "malformed number");
    free(s);
    s = replace(text, "\nend\n", " 7\nend\n");
    expect_bad_file(s, CREST_ERR_SYNTAX, cl, "A and B only");
    free(s);
    free(text);
    /* Without calibration: none, and no line in the file. */
    crest_lmodel *m0 = fit_mix_ex(6000, 77, 0, &rep);
    cr_assert_eq(crest_lmodel_calibration(m0, NULL, NULL), 0);
    cr_assert_not(rep.calibrated);
    cr_assert(isnan(crest_lmodel_calibrate(m0, 0.5)));
    cr_assert_eq(crest_lmodel_save(m0, path, &d), CREST_OK);
    text = read_all(path);
    cr_assert_null(strstr(text, "calibration"));
    /* The same coefficients either way: the calibration is beside the model. */
    grow g;
    gmake(&g, 1, "KR", 0.5, -0.5);
    cr_assert_eq(crest_lmodel_score(m, &g.d, NULL), crest_lmodel_score(m0, &g.d, NULL));
    free(text);
    remove(path);
    crest_lmodel_free(m);
    crest_lmodel_free(m2);
    crest_lmodel_free(m0);
}

Test(lmodel, bad_files_fail_with_line)
{
    crest_lmodel *m = fit_mix(1000, 3);
    const char *path = tmp_path("good.model");
    crest_diag d;
    cr_assert_eq(crest_lmodel_save(m, path, &d), CREST_OK);
    char *good = read_all(path);
    remove(path);
    crest_lmodel_free(m);
    char *s;

    s = replace(good, "crest-lmodel 1", "crest-lmodel 2");
    expect_bad_file(s, CREST_ERR_VERSION, 1, "version");
    free(s);
    s = replace(good, "crest-lmodel 1", "xgboost 1");
    expect_bad_file(s, CREST_ERR_VERSION, 1, "crest-lmodel");
    free(s);
    /* Dimension mismatches: coefficient count, item count, item columns. */
    s = replace(good, "coefficients 12", "coefficients 13");
    expect_bad_file(s, CREST_ERR_MISMATCH, 5, "dimension mismatch");
    free(s);
    s = replace(good, "dims items 7", "dims items 6");
    expect_bad_file(s, CREST_ERR_MISMATCH, 5, "items");
    free(s);
    s = replace(good, "item 1 columns 1", "item 1 columns 2");
    expect_bad_file(s, CREST_ERR_MISMATCH, 7, "columns");
    free(s);
    /* An item that does not match the spec. */
    s = replace(good, "te:origin\n", "te:office\n");
    expect_bad_file(s, CREST_ERR_MISMATCH, 7, "te:origin");
    free(s);
    /* Malformed numbers. */
    s = replace(good, "intercept ", "intercept 1.5x");
    expect_bad_file(s, CREST_ERR_INVALID, 6, "malformed number");
    free(s);
    s = replace(good, "intercept ", "intercept nan ");
    expect_bad_file(s, CREST_ERR_INVALID, 6, "malformed number");
    free(s);
    s = replace(good, "entry =CN ", "entry =CN 0x1p3q ");
    expect_bad_file(s, CREST_ERR_SYNTAX, line_of(s, "entry =CN "), "entry");
    free(s);
    s = replace(good, "entry =CN ", "entry =CN 12abc");
    {
        /* Cut the rest of that number so the line has 3 tokens. */
        char *at = strstr(s, "12abc");
        char *nl = strchr(at, '\n');
        memmove(at + 5, nl, strlen(nl) + 1);
    }
    expect_bad_file(s, CREST_ERR_INVALID, line_of(s, "entry =CN "), "12abc");
    free(s);
    /* Truncated: cut inside the entries of item 1, and before "end". */
    {
        const char *cut = strstr(good, "entry =DE");
        s = strndup(good, (size_t)(cut - good));
        unsigned long lines = 0;
        for (const char *p = s; *p; p++)
            lines += *p == '\n';
        expect_bad_file(s, CREST_ERR_SYNTAX, lines + 1, "truncated");
        free(s);
        s = strndup(good, strlen(good) - 4);
        lines = 0;
        for (const char *p = s; *p; p++)
            lines += *p == '\n';
        expect_bad_file(s, CREST_ERR_SYNTAX, lines + 1, "truncated");
        free(s);
    }
    expect_bad_file("", CREST_ERR_SYNTAX, 1, "empty");
    free(good);

    crest_lmodel *m2 = (crest_lmodel *)0x1;
    cr_assert_eq(crest_lmodel_load(CREST_BINARY_DIR "/no/such/file", &m2, &d), CREST_ERR_IO);
    cr_assert_null(m2);
}

/* The "after end" case has a line we compute: fix the expectation here. */
Test(lmodel, text_after_end_names_its_line)
{
    crest_lmodel *m = fit_mix(500, 4);
    const char *path = tmp_path("end.model");
    crest_diag d;
    cr_assert_eq(crest_lmodel_save(m, path, &d), CREST_OK);
    crest_lmodel_free(m);
    char *good = read_all(path);
    unsigned long lines = 0;
    for (const char *p = good; *p; p++)
        lines += *p == '\n';
    FILE *f = fopen(path, "ab");
    fputs("\nstray\n", f);
    fclose(f);
    free(good);
    cr_assert_eq(crest_lmodel_load(path, &m, &d), CREST_ERR_SYNTAX);
    cr_assert_eq(d.line, lines + 2);
    print_diag(&d);
    remove(path);
}

/* ------------------------------------------------------------------------ */
/* Feature spec                                                              */

Test(lmodel, spec_canonical_form)
{
    char buf[512];
    crest_diag d;
    cr_assert_eq(crest_lmodel_spec_canonical("  TE : HS6 ,log:Declared_Value,te:hs4 * origin, "
                                             "te:col( Tax Type ), rel: unit_value / hs4",
                                             buf, sizeof buf, &d),
                 CREST_OK, "%s", d.message);
    cr_assert_str_eq(buf, "te:hs6, log:declared_value, te:hs4*origin, te:col(Tax Type), "
                          "rel:unit_value/hs4");
    cr_assert_eq(crest_lmodel_spec_canonical("te:hs6", buf, 4, &d), CREST_ERR_RANGE);
}

static void expect_spec_error(const char *spec, crest_status status, unsigned long column, const char *needle)
{
    char buf[512];
    crest_diag d;
    const crest_status st = crest_lmodel_spec_canonical(spec, buf, sizeof buf, &d);
    print_diag(&d);
    cr_assert_eq(st, status, "\"%s\": expected %s, got %s", spec, crest_status_name(status),
                 crest_status_name(st));
    cr_assert_str_eq(d.file, "<feature spec>");
    cr_assert_eq(d.column, column, "\"%s\": column %lu, expected %lu", spec, d.column, column);
    cr_assert_not_null(strstr(d.message, needle), "\"%s\" lacks \"%s\"", d.message, needle);
}

Test(lmodel, spec_errors_name_the_item)
{
    expect_spec_error("te:hs6, te:bogus", CREST_ERR_INVALID, 12, "bogus");
    expect_spec_error("te:hs6, xx:origin", CREST_ERR_INVALID, 9, "unknown kind \"xx\"");
    expect_spec_error("te:hs6,,te:origin", CREST_ERR_SYNTAX, 8, "empty item");
    expect_spec_error("te:hs6, origin", CREST_ERR_SYNTAX, 9, "KIND:BODY");
    expect_spec_error("te:hs6, rel:unit_value", CREST_ERR_SYNTAX, 13, "NUM/KEY");
    expect_spec_error("te:hs6, te:col(Tax", CREST_ERR_SYNTAX, 12, "col(");
    expect_spec_error("te:hs6, te:hs13", CREST_ERR_INVALID, 12, "hs13");
    expect_spec_error("te:hs6, log:hs6", CREST_ERR_INVALID, 13, "hs6");
    expect_spec_error("te:hs6, te:origin*", CREST_ERR_SYNTAX, 19, "te:origin*");
    expect_spec_error("te:hs6, te:HS6", CREST_ERR_INVALID, 9, "repeats item 1");
    expect_spec_error("te:hs2*hs4*hs6*origin*office", CREST_ERR_RANGE, 23, "at most");
    expect_spec_error("", CREST_ERR_MISSING, 1, "empty");
}

Test(lmodel, bind_names_the_missing_column)
{
    crest_str h[4];
    gheader(h);
    crest_lmodel_trainer *t;
    crest_diag d;
    cr_assert_eq(crest_lmodel_trainer_create("te:hs6, te:col(Tax Type)", h, 4, NULL, &t, &d),
                 CREST_ERR_MISMATCH);
    print_diag(&d);
    cr_assert_null(t);
    cr_assert_eq(d.column, 9);
    cr_assert_not_null(strstr(d.message, "Tax Type"));
    /* Case-insensitive, trimmed. */
    crest_str h2[2] = {S(" tax TYPE "), S("x")};
    cr_assert_eq(crest_lmodel_trainer_create("te:hs6, te:col(Tax Type)", h2, 2, NULL, &t, &d), CREST_OK);
    crest_lmodel_trainer_free(t);
}

/* ------------------------------------------------------------------------ */
/* Scoring                                                                   */

Test(lmodel, explanation_lists_top_positive_contributions)
{
    crest_lmodel *m = fit_mix(3000, 11);
    grow g;
    gmake(&g, 1, "KR", 2.0, -2.0); /* every generator term pushes the risk up */
    crest_lmodel_explain e;
    const double p = crest_lmodel_score(m, &g.d, &e);
    cr_assert_gt(p, 0.5);
    cr_assert_gt(e.n, 0);
    cr_assert_leq(e.n, CREST_LMODEL_TOP_K);
    for (size_t k = 0; k < e.n; k++) {
        cr_assert_not_null(e.feature[k]);
        cr_assert_gt(e.contribution[k], 0);
        if (k)
            cr_assert_geq(e.contribution[k - 1], e.contribution[k]);
        fprintf(stderr, "  MODEL %s %+.3f\n", e.feature[k], e.contribution[k]);
    }
    cr_assert_str_eq(e.feature[0], "num:col(x1)", "x1 = +2 sd is the largest push");
    cr_assert_str_eq(e.words[0], "x1", "a named column in words is its name");
    cr_assert_eq(e.has_text, 0, "scoring leaves the values out");
    crest_lmodel_explain_values(m, NULL, &g.d, &e);
    cr_assert_eq(e.has_text, 1);
    cr_assert_str_eq(e.text[0], "x1", "a numeric item has no key: its words");
    for (size_t k = 0; k < e.n; k++)
        cr_assert_not_null(e.words[k]);
    crest_lmodel_free(m);
}

/* Each contribution in words with the declaration's values of its keys. */
Test(lmodel, explanation_names_the_values)
{
    crest_lmodel *m = fit_mix(3000, 11);
    /* Every item's text on rows that push each up in turn: collect what is shown. */
    static const char *const want[][2] = {{"te:origin", "origin KR history"},
                                          {"te:hs4*col(cat)", "HS4 8471 \xc3\x97 cat KR history"},
                                          {"cnt:origin", "origin KR frequency"},
                                          {"num:col(x1)", "x1"},
                                          {"rel:unit_value/hs4", "unit value vs HS4 8471"}};
    size_t seen[sizeof want / sizeof *want] = {0};
    rng_state = 21;
    for (size_t i = 0; i < 400; i++) {
        grow g;
        gmake(&g, i, "KR", 4 * urand() - 2, 4 * urand() - 2);
        g.d.net_mass_kg = 0.1 + 20 * urand();
        crest_lmodel_explain e;
        crest_lmodel_score(m, &g.d, &e);
        crest_lmodel_explain_values(m, NULL, &g.d, &e);
        for (size_t k = 0; k < e.n; k++)
            for (size_t w = 0; w < sizeof want / sizeof *want; w++)
                if (!strcmp(e.feature[k], want[w][0])) {
                    cr_assert_str_eq(e.text[k], want[w][1]);
                    seen[w]++;
                }
    }
    for (size_t w = 0; w < sizeof want / sizeof *want; w++)
        fprintf(stderr, "  %-20s %-34s shown %zu times\n", want[w][0], want[w][1], seen[w]);
    cr_expect_gt(seen[0] + seen[1] + seen[2] + seen[4], 0, "a keyed item is among the top contributions");
    crest_lmodel_free(m);
    /* Values a reason cannot hold are replaced; an empty one says so; a long
     * one is cut. A model on te:origin alone where these origins are all
     * illicit and two others mostly not, so theirs is the top contribution. */
    static const char *const odd[][2] = {
        {"K;R,\"[x]\"", "origin K_R___x__ history"},
        {"", "origin (none) history"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTU\xc3\xa9\xc3\xa9",  /* 47 bytes, then 2-byte
                                                                                characters */
         "origin ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTU history"}}; /* cut at 48, not inside one */
    crest_str h[4];
    gheader(h);
    crest_lmodel_trainer *t;
    crest_diag d;
    cr_assert_eq(crest_lmodel_trainer_create("te:origin", h, 4, NULL, &t, &d), CREST_OK, "%s", d.message);
    for (size_t i = 0; i < 600; i++) {
        grow g;
        const size_t o = i % 5;
        gmake(&g, i, o < 3 ? odd[o][0] : o == 3 ? "A" : "B", 0, 0);
        cr_assert_eq(crest_lmodel_trainer_add(t, &g.d, o < 3 || i % 7 == 0), CREST_OK);
    }
    cr_assert_eq(crest_lmodel_trainer_fit(t, &m, NULL, &d), CREST_OK, "%s", d.message);
    crest_lmodel_trainer_free(t);
    for (size_t o = 0; o < 3; o++) {
        grow g;
        gmake(&g, 9000 + o, odd[o][0], 0, 0);
        crest_lmodel_explain e;
        crest_lmodel_score(m, &g.d, &e);
        crest_lmodel_explain_values(m, NULL, &g.d, &e);
        cr_assert_eq(e.n, 1);
        cr_expect_str_eq(e.text[0], odd[o][1]);
    }
    crest_lmodel_free(m);
}

/* The items of the shipped KCS model in words, as reasons show them to an officer. */
Test(lmodel, items_in_words)
{
    crest_lmodel *m = NULL;
    crest_diag d;
    cr_assert_eq(crest_lmodel_load(CREST_SOURCE_DIR "/models/kcs/kcs_logit.model", &m, &d), CREST_OK, "%s",
                 d.message);
    static const char *const want[][2] = {{"te:hs6", "HS6 history"},
                                          {"te:hs4*origin", "HS4 \xc3\x97 origin history"},
                                          {"log:declared_value", "declared value"},
                                          {"log:net_mass_kg", "net mass"},
                                          {"rel:unit_value/hs4", "unit value vs HS4"},
                                          {"te:office", "office history"}};
    size_t found = 0;
    for (size_t i = 0; i < crest_lmodel_n_items(m); i++)
        for (size_t k = 0; k < sizeof want / sizeof *want; k++)
            if (!strcmp(crest_lmodel_item_name(m, i), want[k][0])) {
                cr_expect_str_eq(crest_lmodel_item_words(m, i), want[k][1]);
                found++;
            }
    cr_expect_eq(found, sizeof want / sizeof *want);
    cr_expect_null(crest_lmodel_item_words(m, crest_lmodel_n_items(m)));
    crest_lmodel_free(m);
}

Test(lmodel, score_allocates_nothing)
{
#ifdef COUNT_ALLOCS
    crest_lmodel *m = fit_mix(2000, 12);
    grow rows[64];
    rng_state = 13;
    static const char *const cats[] = {"CN", "DE", "US", "VN", "KR", "new"};
    for (size_t i = 0; i < 64; i++)
        gmake(&rows[i], i, cats[i % 6], 4 * urand() - 2, 4 * urand() - 2);
    const size_t at_load = n_allocs;
    cr_assert_gt(at_load, 0, "the counter must see the trainer's allocations");
    double sum = 0;
    crest_lmodel_explain e;
    for (size_t i = 0; i < 20000; i++) {
        sum += crest_lmodel_score(m, &rows[i % 64].d, i % 2 ? &e : NULL);
        if (i % 2)
            crest_lmodel_explain_values(m, NULL, &rows[i % 64].d, &e);
    }
    const size_t during = n_allocs - at_load;
    cr_assert_eq(during, 0, "20000 scores made %zu allocations", during);
    cr_assert(sum > 0);
    crest_lmodel_free(m);
#else
    cr_skip_test("allocation counting needs glibc without AddressSanitizer");
#endif
}

/* ------------------------------------------------------------------------ */
/* KCS smoke test                                                            */

/* Split a KCS line (no quotes in this data) into at most cap fields. */
static size_t split_line(char *line, crest_str *out, size_t cap)
{
    size_t n = 0;
    char *p = line;
    while (n < cap) {
        char *c = strchr(p, ',');
        out[n++] = (crest_str){p, c ? (size_t)(c - p) : strlen(p)};
        if (!c)
            break;
        p = c + 1;
    }
    return n;
}

static long col_of(const crest_str *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].len == strlen(name) && memcmp(h[i].ptr, name, h[i].len) == 0)
            return (long)i;
    return -1;
}

Test(lmodel, kcs_smoke, .timeout = 60)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/df_syn_train_eng.csv", kcs_dir());
    FILE *f = fopen(path, "rb");
    if (!f) {
        cr_skip_test("KCS data not found at %s (set CREST_KCS_DIR)", path);
        return;
    }
    char hline[4096];
    cr_assert_not_null(fgets(hline, sizeof hline, f));
    hline[strcspn(hline, "\r\n")] = '\0';
    crest_str h[64];
    const size_t nh = split_line(hline, h, 64);
    const long c_id = col_of(h, nh, "Declaration ID"), c_hs = col_of(h, nh, "HS6 Code"),
               c_or = col_of(h, nh, "Country of Origin"), c_pr = col_of(h, nh, "Item Price"),
               c_ma = col_of(h, nh, "Net Mass"), c_fr = col_of(h, nh, "Fraud");
    cr_assert(c_id >= 0 && c_hs >= 0 && c_or >= 0 && c_pr >= 0 && c_ma >= 0 && c_fr >= 0);
    crest_lmodel_trainer *t;
    crest_diag d;
    const char *spec = "te:hs6, te:hs4, te:origin, te:hs4*origin, te:col(Import Type), "
                       "log:declared_value, log:unit_value, rel:unit_value/hs4";
    cr_assert_eq(crest_lmodel_trainer_create(spec, h, nh, NULL, &t, &d), CREST_OK, "%s", d.message);
    /* First 10 000 rows train, the next 2 000 are held out. */
    enum { N_TRAIN = 10000, N_TEST = 2000 };
    static char lines[N_TRAIN + N_TEST][512];
    static crest_str cols[N_TRAIN + N_TEST][64];
    static crest_decl decls[N_TRAIN + N_TEST];
    static int labels[N_TRAIN + N_TEST];
    size_t n = 0;
    while (n < N_TRAIN + N_TEST && fgets(lines[n], sizeof lines[n], f)) {
        lines[n][strcspn(lines[n], "\r\n")] = '\0';
        const size_t nc = split_line(lines[n], cols[n], 64);
        cr_assert_eq(nc, nh);
        crest_decl *dc = &decls[n];
        memset(dc, 0, sizeof *dc);
        dc->field[CREST_FIELD_DECL_ID] = cols[n][c_id];
        dc->field[CREST_FIELD_HS_CODE] = cols[n][c_hs];
        dc->field[CREST_FIELD_ORIGIN] = cols[n][c_or];
        dc->cols = cols[n];
        dc->n_cols = nc;
        dc->declared_value = strtod(cols[n][c_pr].ptr, NULL);
        dc->net_mass_kg = strtod(cols[n][c_ma].ptr, NULL);
        dc->quantity = NAN;
        labels[n] = cols[n][c_fr].ptr[0] == '1';
        if (n < N_TRAIN)
            cr_assert_eq(crest_lmodel_trainer_add(t, dc, labels[n]), CREST_OK);
        n++;
    }
    fclose(f);
    cr_assert_eq(n, N_TRAIN + N_TEST);
    crest_lmodel *m;
    crest_lmodel_fit_report rep;
    cr_assert_eq(crest_lmodel_trainer_fit(t, &m, &rep, &d), CREST_OK, "%s", d.message);
    crest_lmodel_trainer_free(t);
    /* AUC on the held-out rows by pair counting. */
    double p[N_TEST];
    for (size_t i = 0; i < N_TEST; i++)
        p[i] = crest_lmodel_score(m, &decls[N_TRAIN + i], NULL);
    double conc = 0, pairs = 0;
    for (size_t i = 0; i < N_TEST; i++)
        for (size_t j = 0; j < N_TEST; j++)
            if (labels[N_TRAIN + i] && !labels[N_TRAIN + j]) {
                pairs++;
                conc += p[i] > p[j] ? 1 : p[i] == p[j] ? 0.5 : 0;
            }
    const double auc = conc / pairs;
    fprintf(stderr, "  KCS smoke: %zu train rows, %zu iterations, held-out AUC %.3f\n", rep.n_rows,
            rep.n_iter, auc);
    cr_assert_gt(auc, 0.65, "HS x origin encodings carry a real signal in KCS (AUC ~0.75)");
    crest_lmodel_free(m);
}
