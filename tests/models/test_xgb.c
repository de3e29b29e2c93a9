/*
 * test_xgb.c — the XGBoost evaluator: parity with XGBoost's own predictions on
 * the committed fixture (models/fixtures/xgb, made by make_fixture.py),
 * missing-value directions and categorical splits on hand-written models, and
 * every load error that a bad file can reach.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_xgb.h"

#define FIXTURE_DIR CREST_SOURCE_DIR "/models/fixtures/xgb"

/*
 * Allocation counter for the hot-path test: this executable interposes
 * malloc and friends and forwards them to glibc's implementations. Not under
 * AddressSanitizer, which interposes them itself.
 */
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

static char *read_all(const char *path, size_t *len_out)
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
    *len_out = (size_t)len;
    return buf;
}

/* Copy of `src` with the first occurrence of `from` replaced by `to`. */
static char *replace(const char *src, const char *from, const char *to)
{
    const char *at = strstr(src, from);
    cr_assert_not_null(at, "test template lacks \"%s\"", from);
    const size_t head = (size_t)(at - src), fl = strlen(from), tl = strlen(to);
    char *out = malloc(strlen(src) - fl + tl + 1);
    cr_assert_not_null(out);
    memcpy(out, src, head);
    memcpy(out + head, to, tl);
    strcpy(out + head + tl, at + fl);
    return out;
}

/* Load `json`, expect failure with `status`, and print the diagnostic. */
static crest_diag expect_load_error(const char *json, crest_status status)
{
    crest_xgb *m = (crest_xgb *)0x1;
    crest_diag d;
    const crest_status st = crest_xgb_load_buffer(json, strlen(json), "<test>", &m, &d);
    cr_assert_eq(st, status, "expected %s, got %s: %s", crest_status_name(status), crest_status_name(st),
                 d.message);
    cr_assert_eq(d.status, status);
    cr_assert_null(m, "a failed load must leave *out NULL");
    cr_assert_str_eq(d.file, "<test>");
    cr_assert_gt(strlen(d.message), 10, "the diagnostic must say what is wrong");
    fprintf(stderr, "  [%s] %s:%lu:%lu: %s\n", crest_status_name(st), d.file, d.line, d.column, d.message);
    return d;
}

/*
 * A hand-written two-tree model over features "a" (numeric) and "b"
 * (categorical). base_score 0.5, so the margin is the sum of the leaves.
 *   tree 0: a < 0.5 ? -1 : +1, missing goes left (default_left 1).
 *   tree 1: b in {1, 3, 40} ? +0.25 : -0.25, missing goes right.
 */
#define TREE0                                                                                                \
    "{\"base_weights\":[0,0,0],\"categories\":[],\"categories_nodes\":[],"                                   \
    "\"categories_segments\":[],\"categories_sizes\":[],\"default_left\":[1,0,0],\"id\":0,"                  \
    "\"left_children\":[1,-1,-1],\"loss_changes\":[0,0,0],\"parents\":[2147483647,0,0],"                     \
    "\"right_children\":[2,-1,-1],\"split_conditions\":[5E-1,-1E0,1E0],"                                     \
    "\"split_indices\":[0,0,0],\"split_type\":[0,0,0],\"sum_hessian\":[1,1,1],"                              \
    "\"tree_param\":{\"num_deleted\":\"0\",\"num_feature\":\"2\",\"num_nodes\":\"3\","                       \
    "\"size_leaf_vector\":\"0\"}}"
#define TREE1                                                                                                \
    "{\"base_weights\":[0,0,0],\"categories\":[1,3,40],\"categories_nodes\":[0],"                            \
    "\"categories_segments\":[0],\"categories_sizes\":[3],\"default_left\":[0,0,0],\"id\":1,"                \
    "\"left_children\":[1,-1,-1],\"loss_changes\":[0,0,0],\"parents\":[2147483647,0,0],"                     \
    "\"right_children\":[2,-1,-1],\"split_conditions\":[NaN,-2.5E-1,2.5E-1],"                                \
    "\"split_indices\":[1,0,0],\"split_type\":[1,0,0],\"sum_hessian\":[1,1,1],"                              \
    "\"tree_param\":{\"num_deleted\":\"0\",\"num_feature\":\"2\",\"num_nodes\":\"3\","                       \
    "\"size_leaf_vector\":\"0\"}}"
static const char SMALL_MODEL[] =
    "{\"learner\":{\"attributes\":{},\"feature_names\":[\"a\",\"b\"],"
    "\"feature_types\":[\"q\",\"c\"],\"gradient_booster\":{\"model\":{\"gbtree_model_param\":"
    "{\"num_parallel_tree\":\"1\",\"num_trees\":\"2\"},\"tree_info\":[0,0],\"trees\":[" TREE0 "," TREE1
    "]},\"name\":\"gbtree\"},\"learner_model_param\":{\"base_score\":\"5E-1\","
    "\"num_class\":\"0\",\"num_feature\":\"2\",\"num_target\":\"1\"},\"objective\":{\"name\":"
    "\"binary:logistic\",\"reg_loss_param\":{\"scale_pos_weight\":\"1\"}}},"
    "\"version\":[1,7,4]}";

static crest_xgb *load_small(const char *json)
{
    crest_xgb *m = NULL;
    crest_diag d;
    const crest_status st = crest_xgb_load_buffer(json, strlen(json), "<small>", &m, &d);
    cr_assert_eq(st, CREST_OK, "load failed: %s", d.message);
    cr_assert_not_null(m);
    return m;
}

static double margin_of(const crest_xgb *m, float a, float b)
{
    const float x[2] = {a, b};
    double margin = NAN;
    cr_assert_eq(crest_xgb_predict_margin(m, x, 2, &margin), CREST_OK);
    return margin;
}

/* ------------------------------------------------------------------------ */
/* Parity with XGBoost                                                       */

Test(xgb, parity_with_xgboost_on_fixture)
{
    crest_xgb *m = NULL;
    crest_diag d;
    const crest_status st = crest_xgb_load(FIXTURE_DIR "/model.json", &m, &d);
    cr_assert_eq(st, CREST_OK, "%s:%lu:%lu: %s", d.file, d.line, d.column, d.message);
    cr_assert_eq(crest_xgb_n_features(m), 5);
    cr_assert_eq(crest_xgb_n_trees(m), 30);
    cr_assert_str_eq(crest_xgb_feature_name(m, 0), "value_per_kg");
    cr_assert_str_eq(crest_xgb_feature_name(m, 4), "hs_chapter_cat");
    cr_assert_null(crest_xgb_feature_name(m, 5));
    cr_assert_eq(crest_xgb_feature_index(m, "origin_risk"), 2);
    cr_assert_eq(crest_xgb_feature_index(m, "nope"), -1);

    FILE *fin = fopen(FIXTURE_DIR "/inputs.csv", "r");
    FILE *fpred = fopen(FIXTURE_DIR "/predictions.csv", "r");
    cr_assert(fin && fpred);
    char line[1024], pline[256];
    cr_assert_not_null(fgets(line, sizeof line, fin));     /* header */
    cr_assert_not_null(fgets(pline, sizeof pline, fpred)); /* header */
    size_t rows = 0, n_missing = 0;
    double max_prob_err = 0.0, max_margin_err = 0.0;
    while (fgets(line, sizeof line, fin)) {
        cr_assert_not_null(fgets(pline, sizeof pline, fpred), "predictions.csv is short");
        float x[5];
        char *p = line;
        for (int j = 0; j < 5; j++) {
            char *end = p;
            if (*p == ',' || *p == '\n' || *p == '\0') {
                x[j] = NAN;
                n_missing++;
            } else {
                x[j] = strtof(p, &end);
                cr_assert_neq(end, p, "bad number in inputs.csv row %zu", rows + 1);
            }
            p = end;
            if (*p == ',')
                p++;
        }
        double want_prob = 0.0, want_margin = 0.0;
        cr_assert_eq(sscanf(pline, "%lf,%lf", &want_prob, &want_margin), 2);
        double prob = -1.0, margin = -1.0;
        cr_assert_eq(crest_xgb_predict(m, x, 5, &prob), CREST_OK);
        cr_assert_eq(crest_xgb_predict_margin(m, x, 5, &margin), CREST_OK);
        const double ep = fabs(prob - want_prob), em = fabs(margin - want_margin);
        if (ep > max_prob_err)
            max_prob_err = ep;
        if (em > max_margin_err)
            max_margin_err = em;
        cr_expect_leq(ep, 1e-6, "row %zu: crest prob %.9g, XGBoost %.9g", rows + 1, prob, want_prob);
        cr_expect_leq(em, 1e-6, "row %zu: crest margin %.9g, XGBoost %.9g", rows + 1, margin, want_margin);
        rows++;
    }
    fclose(fin);
    fclose(fpred);
    fprintf(stderr,
            "xgb parity: %zu rows (%zu missing values), max |prob err| %.3g, "
            "max |margin err| %.3g\n",
            rows, n_missing, max_prob_err, max_margin_err);
    cr_assert_eq(rows, 400);
    cr_assert_gt(n_missing, 0);
    cr_assert_leq(max_prob_err, 1e-6);
    cr_assert_leq(max_margin_err, 1e-6);
    crest_xgb_free(m);
}

Test(xgb, predict_allocates_nothing)
{
#ifdef COUNT_ALLOCS
    crest_xgb *m = NULL;
    crest_diag d;
    cr_assert_eq(crest_xgb_load(FIXTURE_DIR "/model.json", &m, &d), CREST_OK, "%s", d.message);
    const size_t at_load = n_allocs;
    cr_assert_gt(at_load, 0, "the counter must see the loader's allocations");
    float x[5] = {1.5f, 8.0f, NAN, 100.0f, 3.0f};
    double sum = 0.0, p = 0.0;
    for (int i = 0; i < 10000; i++) {
        x[0] = (float)(i % 50) * 0.3f;
        x[4] = (float)(i % 9);
        cr_assert_eq(crest_xgb_predict(m, x, 5, &p), CREST_OK);
        sum += p;
        cr_assert_eq(crest_xgb_predict_margin(m, x, 5, &p), CREST_OK);
    }
    const size_t during = n_allocs - at_load;
    cr_assert_eq(during, 0, "10000 predictions made %zu allocations", during);
    cr_assert(sum > 0.0);
    crest_xgb_free(m);
#else
    cr_skip_test("allocation counting needs glibc without AddressSanitizer");
#endif
}

Test(xgb, predict_rejects_wrong_feature_count)
{
    crest_xgb *m = load_small(SMALL_MODEL);
    const float x[3] = {0, 0, 0};
    double prob = 42.0;
    cr_assert_eq(crest_xgb_predict(m, x, 3, &prob), CREST_ERR_MISMATCH);
    cr_assert_eq(crest_xgb_predict(m, x, 1, &prob), CREST_ERR_MISMATCH);
    cr_assert_eq(prob, 42.0, "output must be untouched on error");
    cr_assert_eq(crest_xgb_predict_margin(m, x, 0, &prob), CREST_ERR_MISMATCH);
    crest_xgb_free(m);
    crest_xgb_free(NULL); /* no-op */
}

/* ------------------------------------------------------------------------ */
/* Semantics on a hand-written model                                         */

Test(xgb, missing_value_follows_default_direction)
{
    crest_xgb *m = load_small(SMALL_MODEL);
    /* b = 0 is not in {1, 3, 40}: tree 1 gives -0.25. */
    cr_assert_float_eq(margin_of(m, 0.0f, 0.0f), -1.25, 1e-7);
    cr_assert_float_eq(margin_of(m, 0.5f, 0.0f), 0.75, 1e-7, "a == threshold goes right");
    cr_assert_float_eq(margin_of(m, 0.49999997f, 0.0f), -1.25, 1e-7);
    /* Tree 0 sends missing a left (-1), tree 1 sends missing b right (+0.25). */
    cr_assert_float_eq(margin_of(m, NAN, 0.0f), -1.25, 1e-7);
    cr_assert_float_eq(margin_of(m, 2.0f, NAN), 1.25, 1e-7);
    cr_assert_float_eq(margin_of(m, NAN, NAN), -0.75, 1e-7);

    /* Flip tree 0's default direction: missing a now goes right. */
    char *flipped = replace(SMALL_MODEL, "\"default_left\":[1,0,0]", "\"default_left\":[0,0,0]");
    crest_xgb *m2 = load_small(flipped);
    cr_assert_float_eq(margin_of(m2, NAN, 0.0f), 0.75, 1e-7);
    cr_assert_float_eq(margin_of(m2, 0.0f, 0.0f), -1.25, 1e-7, "non-missing rows unchanged");
    crest_xgb_free(m2);
    free(flipped);

    /* Booleans are accepted for default_left as well as 0/1. */
    char *boolean = replace(SMALL_MODEL, "\"default_left\":[1,0,0]", "\"default_left\":[true,false,false]");
    crest_xgb *m3 = load_small(boolean);
    cr_assert_float_eq(margin_of(m3, NAN, 0.0f), -1.25, 1e-7);
    crest_xgb_free(m3);
    free(boolean);

    double prob = 0.0;
    const float x[2] = {NAN, NAN};
    cr_assert_eq(crest_xgb_predict(m, x, 2, &prob), CREST_OK);
    cr_assert_float_eq(prob, 1.0 / (1.0 + exp(0.75)), 1e-7);
    crest_xgb_free(m);
}

Test(xgb, categorical_split_sends_listed_categories_right)
{
    crest_xgb *m = load_small(SMALL_MODEL);
    /* a = 1 puts tree 0 at +1, so the margin is 1 +/- 0.25. */
    const float right[] = {1.0f, 3.0f, 40.0f, 3.7f /* truncates to 3 */, 40.99f};
    const float left[] = {0.0f,     2.0f,
                          4.0f,     31.0f,
                          32.0f,    39.0f,
                          41.0f,    64.0f,
                          1000.0f,  -1.0f /* invalid */,
                          -0.5f,    16777216.0f /* 2^24: invalid */,
                          INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof right / sizeof *right; i++)
        cr_assert_float_eq(margin_of(m, 1.0f, right[i]), 1.25, 1e-7, "category %g", right[i]);
    for (size_t i = 0; i < sizeof left / sizeof *left; i++)
        cr_assert_float_eq(margin_of(m, 1.0f, left[i]), 0.75, 1e-7, "category %g", left[i]);
    crest_xgb_free(m);
}

Test(xgb, base_score_sets_the_base_margin)
{
    char *json = replace(SMALL_MODEL, "\"base_score\":\"5E-1\"", "\"base_score\":\"[2E-1]\"");
    crest_xgb *m = load_small(json);
    const double base = -log(1.0 / 0.2 - 1.0);
    cr_assert_float_eq(margin_of(m, 0.0f, 0.0f), base - 1.25, 1e-6);
    crest_xgb_free(m);
    free(json);
}

Test(xgb, reg_logistic_objective_and_nameless_models_load)
{
    char *a = replace(SMALL_MODEL, "binary:logistic", "reg:logistic");
    char *b = replace(a, "\"feature_names\":[\"a\",\"b\"]", "\"feature_names\":[]");
    crest_xgb *m = load_small(b);
    cr_assert_null(crest_xgb_feature_name(m, 0));
    cr_assert_eq(crest_xgb_feature_index(m, "a"), -1);
    cr_assert_float_eq(margin_of(m, 0.0f, 0.0f), -1.25, 1e-7);
    crest_xgb_free(m);
    free(a);
    free(b);
}

/* ------------------------------------------------------------------------ */
/* Bad files                                                                 */

Test(xgb, missing_file_is_an_io_error)
{
    crest_xgb *m = NULL;
    crest_diag d;
    cr_assert_eq(crest_xgb_load(FIXTURE_DIR "/no-such-model.json", &m, &d), CREST_ERR_IO);
    cr_assert_null(m);
    cr_assert(strstr(d.file, "no-such-model.json") != NULL);
}

Test(xgb, not_json_is_a_syntax_error_with_position)
{
    crest_diag d = expect_load_error("{\n  \"learner\": \n  oops }", CREST_ERR_SYNTAX);
    cr_assert_eq(d.line, 3);
    cr_assert_gt(d.column, 0);
    expect_load_error("hello", CREST_ERR_SYNTAX);
    expect_load_error("", CREST_ERR_SYNTAX);
    expect_load_error("   \n", CREST_ERR_SYNTAX);
    expect_load_error("{} trailing", CREST_ERR_SYNTAX);
    expect_load_error("[1, 2, 3]", CREST_ERR_INVALID);
    expect_load_error("{}", CREST_ERR_MISSING);
}

Test(xgb, truncated_file_fails_cleanly_at_every_cut)
{
    size_t len = 0;
    char *full = read_all(FIXTURE_DIR "/model.json", &len);
    size_t cuts = 0;
    for (size_t cut = 0; cut < len; cut += 613) {
        crest_xgb *m = NULL;
        crest_diag d;
        const crest_status st = crest_xgb_load_buffer(full, cut, "<cut>", &m, &d);
        cr_assert_eq(st, CREST_ERR_SYNTAX, "cut at %zu: %s (%s)", cut, crest_status_name(st), d.message);
        cr_assert_null(m);
        cuts++;
    }
    cr_assert_gt(cuts, 50);
    free(full);
}

Test(xgb, wrong_objective_is_refused)
{
    size_t len = 0;
    char *full = read_all(FIXTURE_DIR "/model.json", &len);
    char *json = replace(full, "\"binary:logistic\"", "\"reg:squarederror\"");
    crest_diag d = expect_load_error(json, CREST_ERR_INVALID);
    cr_assert(strstr(d.message, "reg:squarederror") != NULL, "%s", d.message);
    free(json);
    free(full);

    char *multi = replace(SMALL_MODEL, "\"num_class\":\"0\"", "\"num_class\":\"3\"");
    expect_load_error(multi, CREST_ERR_INVALID);
    free(multi);
    char *dart = replace(SMALL_MODEL, "\"name\":\"gbtree\"", "\"name\":\"dart\"");
    expect_load_error(dart, CREST_ERR_INVALID);
    free(dart);
    char *bs = replace(SMALL_MODEL, "\"base_score\":\"5E-1\"", "\"base_score\":\"1.5\"");
    expect_load_error(bs, CREST_ERR_RANGE);
    free(bs);
}

Test(xgb, unsupported_version_is_refused)
{
    char *old = replace(SMALL_MODEL, "\"version\":[1,7,4]", "\"version\":[1,5,2]");
    crest_diag d = expect_load_error(old, CREST_ERR_VERSION);
    cr_assert(strstr(d.message, "1.5") != NULL, "%s", d.message);
    free(old);
    char *future = replace(SMALL_MODEL, "\"version\":[1,7,4]", "\"version\":[4,0,0]");
    expect_load_error(future, CREST_ERR_VERSION);
    free(future);
    char *none = replace(SMALL_MODEL, "\"version\":[1,7,4]", "\"versio\":[1,7,4]");
    expect_load_error(none, CREST_ERR_MISSING);
    free(none);
}

Test(xgb, truncated_tree_arrays_are_refused)
{
    char *shortl = replace(SMALL_MODEL, "\"left_children\":[1,-1,-1]", "\"left_children\":[1,-1]");
    crest_diag d = expect_load_error(shortl, CREST_ERR_MISMATCH);
    cr_assert(strstr(d.message, "left_children") != NULL, "%s", d.message);
    free(shortl);
    char *shortc =
        replace(SMALL_MODEL, "\"split_conditions\":[5E-1,-1E0,1E0]", "\"split_conditions\":[5E-1]");
    expect_load_error(shortc, CREST_ERR_MISMATCH);
    free(shortc);
    char *nocat = replace(SMALL_MODEL, "\"categories_sizes\":[3]", "\"categories_sizes\":[]");
    expect_load_error(nocat, CREST_ERR_MISMATCH);
    free(nocat);
    char *segs = replace(SMALL_MODEL, "\"categories_sizes\":[3]", "\"categories_sizes\":[9]");
    expect_load_error(segs, CREST_ERR_MISMATCH);
    free(segs);
    char *ntrees = replace(SMALL_MODEL, "\"num_trees\":\"2\"", "\"num_trees\":\"3\"");
    expect_load_error(ntrees, CREST_ERR_MISMATCH);
    free(ntrees);
    char *nodes = replace(SMALL_MODEL, "\"num_nodes\":\"3\"", "\"num_nodes\":\"5\"");
    expect_load_error(nodes, CREST_ERR_MISMATCH);
    free(nodes);
}

Test(xgb, malformed_tree_links_are_refused)
{
    /* Child index out of range. */
    char *range = replace(SMALL_MODEL, "\"right_children\":[2,-1,-1]", "\"right_children\":[7,-1,-1]");
    expect_load_error(range, CREST_ERR_INVALID);
    free(range);
    /* Both children the same node. */
    char *same = replace(SMALL_MODEL, "\"right_children\":[2,-1,-1]", "\"right_children\":[1,-1,-1]");
    expect_load_error(same, CREST_ERR_INVALID);
    free(same);
    /* A cycle back to the root. */
    char *cycle = replace(SMALL_MODEL, "\"left_children\":[1,-1,-1]", "\"left_children\":[1,0,-1]");
    char *cycle2 = replace(cycle, "\"right_children\":[2,-1,-1]", "\"right_children\":[2,2,-1]");
    expect_load_error(cycle2, CREST_ERR_INVALID);
    free(cycle);
    free(cycle2);
    /* Two parents sharing children (a DAG, not a tree). */
    char *dag = replace(SMALL_MODEL, TREE0,
                        "{\"categories\":[],\"categories_nodes\":[],\"categories_segments\":[],"
                        "\"categories_sizes\":[],\"default_left\":[0,0,0,0,0],\"id\":0,"
                        "\"left_children\":[1,3,3,-1,-1],\"right_children\":[2,4,4,-1,-1],"
                        "\"split_conditions\":[0,0,0,1,2],\"split_indices\":[0,0,0,0,0],"
                        "\"split_type\":[0,0,0,0,0],\"tree_param\":{\"num_nodes\":\"5\"}}");
    crest_diag dd = expect_load_error(dag, CREST_ERR_INVALID);
    cr_assert(strstr(dd.message, "reached twice") != NULL, "%s", dd.message);
    free(dag);
    /* Half a leaf. */
    char *half = replace(SMALL_MODEL, "\"right_children\":[2,-1,-1]", "\"right_children\":[2,1,-1]");
    expect_load_error(half, CREST_ERR_INVALID);
    free(half);
    /* Non-finite leaf, NaN numeric threshold, wrong element types. */
    char *leaf = replace(SMALL_MODEL, "[5E-1,-1E0,1E0]", "[5E-1,NaN,1E0]");
    expect_load_error(leaf, CREST_ERR_INVALID);
    free(leaf);
    char *thr = replace(SMALL_MODEL, "[5E-1,-1E0,1E0]", "[NaN,-1E0,1E0]");
    expect_load_error(thr, CREST_ERR_INVALID);
    free(thr);
    char *type = replace(SMALL_MODEL, "\"split_indices\":[0,0,0]", "\"split_indices\":[\"x\",0,0]");
    expect_load_error(type, CREST_ERR_INVALID);
    free(type);
    /* Categorical node without a category segment; bad category codes. */
    char *unlisted = replace(SMALL_MODEL, "\"categories_nodes\":[0]", "\"categories_nodes\":[1]");
    expect_load_error(unlisted, CREST_ERR_MISSING);
    free(unlisted);
    char *negcat = replace(SMALL_MODEL, "\"categories\":[1,3,40]", "\"categories\":[1,-3,40]");
    expect_load_error(negcat, CREST_ERR_RANGE);
    free(negcat);
    char *stype = replace(SMALL_MODEL, "\"split_type\":[1,0,0]", "\"split_type\":[2,0,0]");
    expect_load_error(stype, CREST_ERR_INVALID);
    free(stype);
}

Test(xgb, feature_count_mismatch_is_refused)
{
    /* A split on feature 5 in a 2-feature model. */
    char *split = replace(SMALL_MODEL, "\"split_indices\":[0,0,0]", "\"split_indices\":[5,0,0]");
    crest_diag d = expect_load_error(split, CREST_ERR_MISMATCH);
    cr_assert(strstr(d.message, "feature 5") != NULL, "%s", d.message);
    free(split);
    /* Three names for two features. */
    char *names = replace(SMALL_MODEL, "[\"a\",\"b\"]", "[\"a\",\"b\",\"c\"]");
    expect_load_error(names, CREST_ERR_MISMATCH);
    free(names);
    /* num_feature shrunk below the features the trees use. */
    char *nf =
        replace(SMALL_MODEL, "\"num_feature\":\"2\",\"num_target\"", "\"num_feature\":\"1\",\"num_target\"");
    char *nf2 = replace(nf, "[\"a\",\"b\"]", "[\"a\"]");
    expect_load_error(nf2, CREST_ERR_MISMATCH);
    free(nf);
    free(nf2);
    char *zero = replace(SMALL_MODEL, "\"num_feature\":\"2\",\"num_target\"",
                         "\"num_feature\":\"zero\",\"num_target\"");
    expect_load_error(zero, CREST_ERR_INVALID);
    free(zero);
}

Test(xgb, deleted_nodes_are_dropped)
{
    /* XGBoost can leave unreachable (pruned) slots; they must not matter. */
    char *json = replace(SMALL_MODEL, TREE0,
                         "{\"categories\":[],\"categories_nodes\":[],\"categories_segments\":[],"
                         "\"categories_sizes\":[],\"default_left\":[1,0,0,0],\"id\":0,"
                         "\"left_children\":[2,-1,-1,-1],\"right_children\":[3,-1,-1,-1],"
                         "\"split_conditions\":[5E-1,9E9,-1E0,1E0],\"split_indices\":[0,0,0,0],"
                         "\"split_type\":[0,0,0,0],\"tree_param\":{\"num_nodes\":\"4\","
                         "\"size_leaf_vector\":\"0\"}}");
    crest_xgb *m = load_small(json);
    cr_assert_float_eq(margin_of(m, 0.0f, 0.0f), -1.25, 1e-7);
    cr_assert_float_eq(margin_of(m, 1.0f, 0.0f), 0.75, 1e-7);
    crest_xgb_free(m);
    free(json);
}
