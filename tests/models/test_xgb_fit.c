/*
 * test_xgb_fit.c — tree models trained by crest (crest_xgb_fit.h): the fit is
 * deterministic for a seed, the written model scores bit-identically in
 * crest's native scorer (row by row, in blocks, and through crest_risk) and
 * in libxgboost's own predict, the feature map's category codes, the
 * time-ordered validation split, and the check of a mapping by name and type.
 * Also the block scorer against libxgboost on numeric-only trees (the
 * branch-free layout) and on the categorical fixture (the row-by-row walk).
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xgboost/c_api.h>

#include "crest/crest_lmodel.h"
#include "crest/crest_risk.h"
#include "crest/crest_xgb.h"
#include "crest/crest_xgb_fit.h"

#define FIXTURE_DIR CREST_SOURCE_DIR "/models/fixtures/xgb"
#define N_ROWS 3000
#define SPEC "te:hs4, cat:origin, log:declared_value, log:unit_value, rel:unit_value/hs4, cnt:origin"

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static double unif(uint64_t seed, uint64_t i)
{
    return (double)(mix(seed * 1000003u + i) >> 11) * 0x1.0p-53;
}

/* Synthetic declarations: the label depends on the origin, the HS heading
 * and a low unit value, with noise; some values missing. */
typedef struct synth {
    char id[N_ROWS][16], hs[N_ROWS][16], origin[N_ROWS][4], value[N_ROWS][24], mass[N_ROWS][24];
    crest_decl decl[N_ROWS];
    int label[N_ROWS];
} synth;

static synth *make_synth(void)
{
    static const char *const origins[] = {"CN", "US", "DE", "VN", "KP", "IR", "FR", "JP"};
    synth *s = calloc(1, sizeof *s);
    cr_assert_not_null(s);
    for (size_t r = 0; r < N_ROWS; r++) {
        const unsigned o = (unsigned)(unif(1, r) * 8);
        const unsigned h = 8401 + (unsigned)(unif(2, r) * 40);
        const double mass = 10 + 1000 * unif(3, r);
        const double unit = exp(1 + 4 * unif(4, r));
        snprintf(s->id[r], sizeof s->id[r], "D%zu", r);
        snprintf(s->hs[r], sizeof s->hs[r], "%u%02u", h, (unsigned)(unif(5, r) * 90));
        snprintf(s->origin[r], sizeof s->origin[r], "%s", origins[o]);
        snprintf(s->mass[r], sizeof s->mass[r], "%.3f", mass);
        if (unif(6, r) < 0.05)
            s->value[r][0] = '\0';
        else
            snprintf(s->value[r], sizeof s->value[r], "%.2f", unit * mass);
        const double z = -2.0 + (o >= 4 && o <= 5 ? 2.5 : 0) + (h % 7 == 0 ? 1.5 : 0) + (unit < 10 ? 1.0 : 0);
        s->label[r] = unif(7, r) < 1 / (1 + exp(-z));
        crest_decl *d = &s->decl[r];
        d->field[CREST_FIELD_DECL_ID] = (crest_str){s->id[r], strlen(s->id[r])};
        d->field[CREST_FIELD_HS_CODE] = (crest_str){s->hs[r], strlen(s->hs[r])};
        d->field[CREST_FIELD_ORIGIN] = (crest_str){s->origin[r], strlen(s->origin[r])};
        d->field[CREST_FIELD_DECLARED_VALUE] = (crest_str){s->value[r], strlen(s->value[r])};
        d->field[CREST_FIELD_NET_MASS_KG] = (crest_str){s->mass[r], strlen(s->mass[r])};
        d->declared_value = s->value[r][0] ? strtod(s->value[r], NULL) : NAN;
        d->net_mass_kg = mass;
        d->quantity = NAN;
        d->date_days = 18262 + (int32_t)(r * 365 / N_ROWS); /* 2020, in order */
        d->direction = 'I';
    }
    return s;
}

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/crest_xgbfit_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    b[n] = '\0';
    *len = (size_t)n;
    return b;
}

static crest_status fit_to(const synth *s, const char *params, uint64_t seed, unsigned threads,
                           const char *path, crest_xgb_fit_report *rep, crest_diag *d)
{
    crest_xgb_fit_options o;
    crest_xgb_fit_options_default(&o);
    o.params = params;
    o.seed = seed;
    o.n_threads = threads;
    o.smoothing = 5;
    crest_xgb_trainer *t = NULL;
    crest_status st = crest_xgb_trainer_create(SPEC, NULL, 0, &o, &t, d);
    cr_assert_eq(st, CREST_OK, "%s", d->message);
    for (size_t r = 0; r < N_ROWS; r++)
        cr_assert_eq(crest_xgb_trainer_add(t, &s->decl[r], s->label[r], 0), CREST_OK);
    st = crest_xgb_trainer_fit(t, path, rep, d);
    crest_xgb_trainer_free(t);
    return st;
}

#define PARAMS "max_depth=4, eta=0.3, rounds=40, early_stopping=5, valid_fraction=0.2, subsample=0.8"

Test(xgb_fit, same_rows_and_seed_give_the_same_bytes)
{
    synth *s = make_synth();
    make_tmpdir();
    char a[128], b[128], c[128];
    snprintf(a, sizeof a, "%s/a.json", tmpdir);
    snprintf(b, sizeof b, "%s/b.json", tmpdir);
    snprintf(c, sizeof c, "%s/c.json", tmpdir);
    crest_xgb_fit_report rep;
    crest_diag d;
    cr_assert_eq(fit_to(s, PARAMS, 11, 2, a, &rep, &d), CREST_OK, "%s", d.message);
    cr_assert_eq(fit_to(s, PARAMS, 11, 2, b, &rep, &d), CREST_OK, "%s", d.message);
    cr_assert_eq(fit_to(s, PARAMS, 12, 2, c, &rep, &d), CREST_OK, "%s", d.message);
    size_t na, nb, nc;
    char *ta = read_file(a, &na), *tb = read_file(b, &nb), *tc = read_file(c, &nc);
    cr_assert_eq(na, nb);
    cr_assert(memcmp(ta, tb, na) == 0, "two fits with seed 11 differ");
    cr_assert(na != nc || memcmp(ta, tc, na) != 0, "seeds 11 and 12 gave the same model (subsample 0.8)");
    cr_assert_not_null(strstr(ta, "\"crest_feature_map\""));
    free(ta);
    free(tb);
    free(tc);
    remove(a);
    remove(b);
    remove(c);
    rmdir(tmpdir);
    free(s);
}

Test(xgb_fit, validation_split_holds_out_the_last_dates)
{
    synth *s = make_synth();
    make_tmpdir();
    char a[128];
    snprintf(a, sizeof a, "%s/a.json", tmpdir);
    crest_xgb_fit_report rep;
    crest_diag d;
    cr_assert_eq(fit_to(s, PARAMS, 11, 1, a, &rep, &d), CREST_OK, "%s", d.message);
    /* 20% of 3000 rows spread over 365 days: the cut falls at row 2400's day. */
    const int32_t want = s->decl[2400].date_days;
    cr_assert_eq(rep.valid_from, want, "valid_from %d, want %d", rep.valid_from, want);
    size_t n_valid = 0;
    for (size_t r = 0; r < N_ROWS; r++)
        n_valid += s->decl[r].date_days >= want;
    cr_assert_eq(rep.n_valid, n_valid);
    cr_assert_eq(rep.n_train + rep.n_valid, N_ROWS);
    cr_assert(rep.refitted);
    cr_assert_str_eq(rep.metric, "logloss");
    cr_assert_leq(rep.n_rounds, rep.rounds_run);
    cr_assert_geq(rep.n_rounds, 1);
    remove(a);
    rmdir(tmpdir);
    free(s);
}

/* libxgboost's predictions for rows X (n x nf) of the model at path. */
static float *xgb_reference(const char *path, const float *X, size_t n, size_t nf, const char *const *types)
{
    BoosterHandle b = NULL;
    cr_assert_eq(XGBoosterCreate(NULL, 0, &b), 0);
    cr_assert_eq(XGBoosterLoadModel(b, path), 0, "%s", XGBGetLastError());
    cr_assert_eq(XGBoosterSetParam(b, "nthread", "1"), 0);
    DMatrixHandle dm = NULL;
    cr_assert_eq(XGDMatrixCreateFromMat(X, (bst_ulong)n, (bst_ulong)nf, NAN, &dm), 0);
    if (types)
        cr_assert_eq(XGDMatrixSetStrFeatureInfo(dm, "feature_type", (const char **)types, (bst_ulong)nf), 0);
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *res = NULL;
    cr_assert_eq(XGBoosterPredictFromDMatrix(
                     b, dm,
                     "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
                     "\"strict_shape\": false}",
                     &shape, &dim, &res),
                 0, "%s", XGBGetLastError());
    float *out = malloc(n * sizeof *out);
    memcpy(out, res, n * sizeof *out);
    XGDMatrixFree(dm);
    XGBoosterFree(b);
    return out;
}

Test(xgb_fit, crest_scores_its_model_as_libxgboost_does)
{
    synth *s = make_synth();
    make_tmpdir();
    char a[128];
    snprintf(a, sizeof a, "%s/a.json", tmpdir);
    crest_xgb_fit_report rep;
    crest_diag d;
    cr_assert_eq(fit_to(s, PARAMS, 5, 2, a, &rep, &d), CREST_OK, "%s", d.message);

    /* The engine's path: crest_risk with the policy's spec. */
    crest_risk_config cfg;
    crest_risk_config_default(&cfg);
    cfg.model_kind = CREST_RISK_MODEL_XGBOOST;
    cfg.model_path = a;
    cfg.model_features =
        "te:HS4,cat:origin, log:declared_value, log:unit_value, rel:unit_value/hs4, cnt:origin";
    crest_risk *risk = NULL;
    crest_risk_scratch *sc = NULL;
    cr_assert_eq(crest_risk_create(&cfg, &risk, &d), CREST_OK, "%s", d.message);
    crest_risk_binding *bind = NULL;
    cr_assert_eq(crest_risk_bind(risk, NULL, 0, &bind, &d), CREST_OK);
    cr_assert_eq(crest_risk_scratch_create(risk, bind, &sc), CREST_OK);

    /* The same features from the map inside the model. */
    crest_xgb *m = NULL;
    cr_assert_eq(crest_xgb_load(a, &m, &d), CREST_OK, "%s", d.message);
    const char *text = crest_xgb_attribute(m, CREST_XGB_MAP_ATTRIBUTE);
    cr_assert_not_null(text);
    crest_lmodel *map = NULL;
    cr_assert_eq(crest_lmodel_map_load_buffer(text, strlen(text), "map", &map, &d), CREST_OK, "%s",
                 d.message);
    const size_t nf = crest_lmodel_n_items(map);
    cr_assert_eq(nf, 6);
    cr_assert_eq(crest_xgb_n_features(m), nf);
    cr_assert_str_eq(crest_xgb_feature_name(m, 1), "cat:origin");
    cr_assert(crest_xgb_feature_is_category(m, 1));
    cr_assert(!crest_xgb_feature_is_category(m, 0));
    float *X = malloc(N_ROWS * nf * sizeof *X);
    for (size_t r = 0; r < N_ROWS; r++)
        crest_lmodel_features(map, &s->decl[r], X + r * nf);
    const char *types[6] = {"q", "c", "q", "q", "q", "q"};
    float *want = xgb_reference(a, X, N_ROWS, nf, types);
    double *rows = malloc(N_ROWS * sizeof *rows);
    cr_assert_eq(crest_xgb_predict_rows(m, X, N_ROWS, nf, 0, rows), CREST_OK);
    size_t n_cat_trees_hit = 0;
    for (size_t r = 0; r < N_ROWS; r++) {
        double p1 = -1;
        crest_risk_result rr;
        cr_assert_eq(crest_xgb_predict(m, X + r * nf, nf, &p1), CREST_OK);
        crest_risk_eval(risk, sc, &s->decl[r], &rr);
        cr_assert_eq((float)p1, want[r], "row %zu: crest %.9g, libxgboost %.9g", r, p1, (double)want[r]);
        cr_assert_eq(rows[r], p1, "row %zu: block %.17g, row %.17g", r, rows[r], p1);
        cr_assert_eq(rr.model_prob, p1, "row %zu: crest_risk %.17g", r, rr.model_prob);
        n_cat_trees_hit += X[r * nf + 1] >= 0;
    }
    cr_assert_eq(n_cat_trees_hit, N_ROWS);
    free(X);
    free(want);
    free(rows);
    crest_lmodel_free(map);
    crest_xgb_free(m);
    crest_risk_scratch_free(sc);
    crest_risk_binding_free(bind);
    crest_risk_free(risk);
    remove(a);
    rmdir(tmpdir);
    free(s);
}

Test(xgb_fit, policy_spec_must_match_the_model)
{
    synth *s = make_synth();
    make_tmpdir();
    char a[128];
    snprintf(a, sizeof a, "%s/a.json", tmpdir);
    crest_diag d;
    cr_assert_eq(fit_to(s, "max_depth=3, rounds=5, valid_fraction=0", 1, 1, a, NULL, &d), CREST_OK, "%s",
                 d.message);
    crest_risk_config cfg;
    crest_risk_config_default(&cfg);
    cfg.model_kind = CREST_RISK_MODEL_XGBOOST;
    cfg.model_path = a;
    /* Items 2 and 3 swapped: refused, naming the first that differs. */
    cfg.model_features =
        "te:hs4, log:declared_value, cat:origin, log:unit_value, rel:unit_value/hs4, cnt:origin";
    crest_risk *risk = NULL;
    cr_assert_eq(crest_risk_create(&cfg, &risk, &d), CREST_ERR_MISMATCH);
    cr_assert_null(risk);
    cr_assert_not_null(strstr(d.message, "feature 2 differs"), "%s", d.message);
    /* No spec in the policy: the model's own map is used. */
    cfg.model_features = NULL;
    cr_assert_eq(crest_risk_create(&cfg, &risk, &d), CREST_OK, "%s", d.message);
    crest_risk_free(risk);
    remove(a);
    rmdir(tmpdir);
    free(s);
}

Test(xgb_fit, cat_codes_follow_training_frequency_and_unseen_values_share_one)
{
    crest_lmodel_train_options o;
    crest_lmodel_train_options_default(&o);
    crest_lmodel_trainer *t = NULL;
    crest_diag d;
    cr_assert_eq(crest_lmodel_trainer_create("cat:origin", NULL, 0, &o, &t, &d), CREST_OK, "%s", d.message);
    /* US x3, CN x2, DE x2, FR x1 (+ a validation row of JP). */
    const char *orig[] = {"CN", "US", "DE", "US", "FR", "CN", "US", "DE", "JP"};
    crest_decl decl[9];
    for (int i = 0; i < 9; i++) {
        memset(&decl[i], 0, sizeof decl[i]);
        decl[i].field[CREST_FIELD_ORIGIN] = (crest_str){orig[i], 2};
        char *id = malloc(8);
        snprintf(id, 8, "X%d", i);
        decl[i].field[CREST_FIELD_DECL_ID] = (crest_str){id, strlen(id)};
        cr_assert_eq(crest_lmodel_trainer_add(t, &decl[i], i % 2), CREST_OK);
    }
    uint8_t in_train[9] = {1, 1, 1, 1, 1, 1, 1, 1, 0};
    float X[9];
    crest_lmodel *map = NULL;
    cr_assert_eq(crest_lmodel_trainer_tree_data(t, in_train, X, &map, &d), CREST_OK, "%s", d.message);
    /* US 0, then CN and DE by key bytes (2 each), FR 3, unseen JP 4. */
    const float want[9] = {1, 0, 2, 0, 3, 1, 0, 2, 4};
    for (int i = 0; i < 9; i++) {
        float f;
        crest_lmodel_features(map, &decl[i], &f);
        cr_assert_eq(X[i], want[i], "row %d: code %g, want %g", i, (double)X[i], (double)want[i]);
        cr_assert_eq(f, want[i], "row %d scored: code %g", i, (double)f);
        free((char *)decl[i].field[CREST_FIELD_DECL_ID].ptr);
    }
    cr_assert(crest_lmodel_item_is_category(map, 0));
    cr_assert(crest_lmodel_is_map(map));
    /* The map round-trips through its text. */
    char *text;
    size_t len;
    cr_assert_eq(crest_lmodel_map_text(map, &text, &len, &d), CREST_OK);
    cr_assert(strncmp(text, "crest-fmap 1\n", 13) == 0);
    crest_lmodel *back = NULL;
    cr_assert_eq(crest_lmodel_map_load_buffer(text, len, "t", &back, &d), CREST_OK, "%s", d.message);
    cr_assert_str_eq(crest_lmodel_feature_spec(back), "cat:origin");
    /* A logistic fit refuses cat: (codes mean nothing to a linear model). */
    crest_lmodel *lm = NULL;
    free(text);
    crest_lmodel_free(back);
    crest_lmodel_free(map);
    cr_assert_eq(crest_lmodel_trainer_fit(t, &lm, NULL, &d), CREST_ERR_INVALID);
    cr_assert_not_null(strstr(d.message, "cat: items"), "%s", d.message);
    crest_lmodel_trainer_free(t);
}

/* Numeric-only trees (the branch-free block walk) and the categorical
 * fixture (row by row): blocks equal rows equal libxgboost, bit for bit. */
Test(xgb_fit, block_scorer_is_bit_identical_on_numeric_trees)
{
    const size_t n = 2000, nf = 7;
    float *X = malloc(n * nf * sizeof *X), *y = malloc(n * sizeof *y);
    for (size_t r = 0; r < n; r++) {
        for (size_t j = 0; j < nf; j++)
            X[r * nf + j] = unif(20 + j, r) < 0.1 ? NAN : (float)(unif(30 + j, r) * 10 - 5);
        const float a = isnan(X[r * nf]) ? 0 : X[r * nf];
        y[r] = unif(40, r) < 1 / (1 + exp(-(a + (isnan(X[r * nf + 1]) ? 1 : X[r * nf + 1] * X[r * nf + 2]))));
    }
    DMatrixHandle dm = NULL;
    BoosterHandle b = NULL;
    cr_assert_eq(XGDMatrixCreateFromMat(X, n, nf, NAN, &dm), 0);
    cr_assert_eq(XGDMatrixSetFloatInfo(dm, "label", y, n), 0);
    cr_assert_eq(XGBoosterCreate(&dm, 1, &b), 0);
    const char *kv[][2] = {{"objective", "binary:logistic"},
                           {"max_depth", "8"},
                           {"eta", "0.1"},
                           {"nthread", "1"},
                           {"verbosity", "0"},
                           {"tree_method", "hist"}};
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++)
        cr_assert_eq(XGBoosterSetParam(b, kv[i][0], kv[i][1]), 0);
    for (int it = 0; it < 60; it++)
        cr_assert_eq(XGBoosterUpdateOneIter(b, it, dm), 0);
    make_tmpdir();
    char path[128];
    snprintf(path, sizeof path, "%s/num.json", tmpdir);
    cr_assert_eq(XGBoosterSaveModel(b, path), 0);
    XGBoosterFree(b);
    XGDMatrixFree(dm);
    float *want = xgb_reference(path, X, n, nf, NULL);
    crest_xgb *m = NULL;
    crest_diag d;
    cr_assert_eq(crest_xgb_load(path, &m, &d), CREST_OK, "%s", d.message);
    double *blk = malloc(n * sizeof *blk), *mar = malloc(n * sizeof *mar);
    /* Odd row counts leave a tail shorter than the lanes and the block. */
    cr_assert_eq(crest_xgb_predict_rows(m, X, n - 3, nf, 0, blk), CREST_OK);
    cr_assert_eq(crest_xgb_predict_rows(m, X + (n - 3) * nf, 3, nf, 0, blk + n - 3), CREST_OK);
    cr_assert_eq(crest_xgb_predict_rows(m, X, n, nf, 1, mar), CREST_OK);
    for (size_t r = 0; r < n; r++) {
        double p, mg;
        cr_assert_eq(crest_xgb_predict(m, X + r * nf, nf, &p), CREST_OK);
        cr_assert_eq(crest_xgb_predict_margin(m, X + r * nf, nf, &mg), CREST_OK);
        cr_assert_eq((float)p, want[r], "row %zu: crest %.9g, libxgboost %.9g", r, p, (double)want[r]);
        cr_assert_eq(blk[r], p, "row %zu: block %.17g, row %.17g", r, blk[r], p);
        cr_assert_eq(mar[r], mg, "row %zu: block margin %.17g, row %.17g", r, mar[r], mg);
    }
    /* The categorical fixture goes through the row-by-row walk in blocks. */
    crest_xgb *fx = NULL;
    cr_assert_eq(crest_xgb_load(FIXTURE_DIR "/model.json", &fx, &d), CREST_OK, "%s", d.message);
    float fxr[5 * 64];
    for (size_t r = 0; r < 64; r++)
        for (size_t j = 0; j < 5; j++)
            fxr[r * 5 + j] =
                unif(50 + j, r) < 0.1 ? NAN : (float)(j == 4 ? (int)(unif(60, r) * 20) : unif(70, r) * 3);
    double fb[64];
    cr_assert_eq(crest_xgb_predict_rows(fx, fxr, 64, 5, 0, fb), CREST_OK);
    for (size_t r = 0; r < 64; r++) {
        double p;
        cr_assert_eq(crest_xgb_predict(fx, fxr + r * 5, 5, &p), CREST_OK);
        cr_assert_eq(fb[r], p, "fixture row %zu", r);
    }
    cr_assert_eq(crest_xgb_predict_rows(fx, fxr, 64, 4, 0, fb), CREST_ERR_MISMATCH);
    crest_xgb_free(fx);
    crest_xgb_free(m);
    free(blk);
    free(mar);
    free(want);
    free(X);
    free(y);
    remove(path);
    rmdir(tmpdir);
}
