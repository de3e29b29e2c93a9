/*
 * xgb_fit.c — `crest fit` for tree models: rows go through crest_lmodel's
 * feature pipeline (crest_lmodel_trainer_tree_data), libxgboost trains the
 * booster (XGDMatrixCreateFromMat, XGBoosterUpdateOneIter, early stopping on
 * XGBoosterEvalOneIter), and the model is saved as XGBoost JSON with the
 * feature map as a learner attribute. See crest_xgb_fit.h.
 *
 * It does not score (crest_xgb.c does, natively) and never prints: XGBoost's
 * own logging is silenced with verbosity 0.
 */
#define _POSIX_C_SOURCE 200809L
#include "crest/crest_xgb_fit.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xgboost/c_api.h>

#include "crest/crest_lmodel.h"
#include "crest/crest_xgb.h"

#define FIT_LABEL "<tree fit>"
#define MAX_PARAMS 64

typedef struct param {
    char *name, *value;
} param;

struct crest_xgb_trainer {
    crest_lmodel_trainer *enc; /* the feature pipeline: keys, numbers, folds */
    crest_xgb_fit_options opts;
    param params[MAX_PARAMS]; /* passed to XGBoost */
    size_t n_params;
    unsigned rounds, early_stopping;
    double valid_fraction;
    int refit;
    size_t n_rows, cap, n_valid_rows, n_positive;
    uint8_t *label, *valid;
    int32_t *date;
};

void crest_xgb_fit_options_default(crest_xgb_fit_options *opts)
{
    opts->params = NULL;
    opts->seed = 0x637265737420u;
    opts->n_threads = 2;
    opts->smoothing = 20.0;
    opts->folds = 5;
}

static char *dup_trim(const char *p, size_t n)
{
    while (n && isspace((unsigned char)*p))
        p++, n--;
    while (n && isspace((unsigned char)p[n - 1]))
        n--;
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* A whole number in [lo, hi] from text, or -1. */
static double param_number(const char *v, double lo, double hi)
{
    char *end;
    errno = 0;
    const double x = strtod(v, &end);
    if (end == v || *end || errno || !(x >= lo && x <= hi))
        return -1;
    return x;
}

/* Split "a=1, b=2" into XGBoost's parameters and crest's own. */
static crest_status parse_params(crest_xgb_trainer *t, const char *text, crest_diag *diag)
{
    t->rounds = 1000;
    t->early_stopping = 50;
    t->valid_fraction = 0.1;
    t->refit = 1;
    if (!text)
        return CREST_OK;
    const char *s = text;
    while (*s) {
        const char *end = strchr(s, ',');
        const size_t n = end ? (size_t)(end - s) : strlen(s);
        const char *eq = memchr(s, '=', n);
        char *name = eq ? dup_trim(s, (size_t)(eq - s)) : NULL;
        char *value = eq ? dup_trim(eq + 1, n - (size_t)(eq - s) - 1) : NULL;
        if (!eq || !name || !value || !*name || !*value) {
            free(name);
            free(value);
            return crest_diag_set(diag, CREST_ERR_INVALID, "[model] params", 1, (unsigned long)(s - text) + 1,
                                  "expected NAME=VALUE items separated by commas (max_depth=8, eta=0.05), "
                                  "found \"%.*s\".",
                                  (int)(n < 60 ? n : 60), s);
        }
        double x = 0;
        int own = 1;
        if (!strcmp(name, "rounds") || !strcmp(name, "num_boost_round")) {
            if ((x = param_number(value, 1, 1e6)) < 0 || x != floor(x))
                goto bad;
            t->rounds = (unsigned)x;
        } else if (!strcmp(name, "early_stopping") || !strcmp(name, "early_stopping_rounds")) {
            if ((x = param_number(value, 0, 1e6)) < 0 || x != floor(x))
                goto bad;
            t->early_stopping = (unsigned)x;
        } else if (!strcmp(name, "valid_fraction")) {
            if ((x = param_number(value, 0, 0.9)) < 0)
                goto bad;
            t->valid_fraction = x;
        } else if (!strcmp(name, "refit")) {
            if ((x = param_number(value, 0, 1)) < 0 || x != floor(x))
                goto bad;
            t->refit = (int)x;
        } else if (!strcmp(name, "nthread") || !strcmp(name, "seed") || !strcmp(name, "objective")) {
            crest_diag_set(diag, CREST_ERR_INVALID, "[model] params", 1, (unsigned long)(s - text) + 1,
                           "%s is set by crest (--threads, --seed; the objective is binary:logistic).", name);
            free(name);
            free(value);
            return CREST_ERR_INVALID;
        } else {
            own = 0;
            if (t->n_params == MAX_PARAMS) {
                free(name);
                free(value);
                return crest_diag_set(diag, CREST_ERR_RANGE, "[model] params", 1, 0,
                                      "more than %d XGBoost parameters.", MAX_PARAMS);
            }
            t->params[t->n_params++] = (param){name, value};
        }
        if (own) {
            free(name);
            free(value);
        }
        s = end ? end + 1 : s + n;
        continue;
    bad:
        crest_diag_set(diag, CREST_ERR_INVALID, "[model] params", 1, (unsigned long)(s - text) + 1,
                       "%s = \"%s\" is out of range (rounds 1..1e6, early_stopping 0..1e6, valid_fraction "
                       "0..0.9, refit 0 or 1).",
                       name, value);
        free(name);
        free(value);
        return CREST_ERR_INVALID;
    }
    return CREST_OK;
}

crest_status crest_xgb_trainer_create(const char *feature_spec, const crest_str *header, size_t n_cols,
                                      const crest_xgb_fit_options *opts, crest_xgb_trainer **out,
                                      crest_diag *diag)
{
    crest_diag_clear(diag);
    *out = NULL;
    crest_xgb_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return crest_diag_set(diag, CREST_ERR_NOMEM, FIT_LABEL, 0, 0, "out of memory.");
    if (opts)
        t->opts = *opts;
    else
        crest_xgb_fit_options_default(&t->opts);
    if (t->opts.n_threads < 1)
        t->opts.n_threads = 1;
    crest_status st = parse_params(t, t->opts.params, diag);
    if (st == CREST_OK) {
        crest_lmodel_train_options lo;
        crest_lmodel_train_options_default(&lo);
        lo.smoothing = t->opts.smoothing;
        lo.folds = t->opts.folds;
        lo.seed = t->opts.seed;
        st = crest_lmodel_trainer_create(feature_spec, header, n_cols, &lo, &t->enc, diag);
    }
    if (st != CREST_OK) {
        crest_xgb_trainer_free(t);
        return st;
    }
    *out = t;
    return CREST_OK;
}

void crest_xgb_trainer_free(crest_xgb_trainer *t)
{
    if (!t)
        return;
    crest_lmodel_trainer_free(t->enc);
    for (size_t i = 0; i < t->n_params; i++) {
        free(t->params[i].name);
        free(t->params[i].value);
    }
    free(t->label);
    free(t->valid);
    free(t->date);
    free(t);
}

crest_status crest_xgb_trainer_add(crest_xgb_trainer *t, const crest_decl *decl, int label, int valid)
{
    if (!t || !decl || (label != 0 && label != 1))
        return CREST_ERR_INVALID;
    if (t->n_rows == t->cap) {
        const size_t nc = t->cap ? 2 * t->cap : 1024;
        uint8_t *l = realloc(t->label, nc);
        if (l)
            t->label = l;
        uint8_t *v = realloc(t->valid, nc);
        if (v)
            t->valid = v;
        int32_t *d = realloc(t->date, nc * sizeof *d);
        if (d)
            t->date = d;
        if (!l || !v || !d)
            return CREST_ERR_NOMEM;
        t->cap = nc;
    }
    const crest_status st = crest_lmodel_trainer_add(t->enc, decl, label);
    if (st != CREST_OK)
        return st;
    t->label[t->n_rows] = (uint8_t)label;
    t->valid[t->n_rows] = (uint8_t)(valid != 0);
    t->date[t->n_rows] = decl->date_days;
    t->n_valid_rows += valid != 0;
    t->n_positive += (size_t)label;
    t->n_rows++;
    return CREST_OK;
}

static int cmp_i32(const void *a, const void *b)
{
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static crest_status xgb_error(crest_diag *diag, const char *what)
{
    return crest_diag_set(diag, CREST_ERR_INVALID, FIT_LABEL, 0, 0, "libxgboost: %s: %s", what,
                          XGBGetLastError());
}

/* Rows r with in[r] == want, copied out of X (n_items columns) with their labels. */
static crest_status make_dmatrix(const float *X, size_t n_rows, size_t n_items, const uint8_t *in, int want,
                                 const uint8_t *label, const crest_lmodel *map, DMatrixHandle *out,
                                 crest_diag *diag)
{
    size_t k = 0;
    for (size_t r = 0; r < n_rows; r++)
        k += !in || in[r] == want;
    float *sub = malloc((k ? k : 1) * n_items * sizeof *sub);
    float *y = malloc((k ? k : 1) * sizeof *y);
    if (!sub || !y) {
        free(sub);
        free(y);
        return crest_diag_set(diag, CREST_ERR_NOMEM, FIT_LABEL, 0, 0, "out of memory for %zu rows.", k);
    }
    k = 0;
    for (size_t r = 0; r < n_rows; r++)
        if (!in || in[r] == want) {
            memcpy(sub + k * n_items, X + r * n_items, n_items * sizeof *sub);
            y[k++] = (float)label[r];
        }
    const char *names[CREST_LMODEL_MAX_ITEMS], *types[CREST_LMODEL_MAX_ITEMS];
    for (size_t i = 0; i < n_items; i++) {
        names[i] = crest_lmodel_item_name(map, i);
        types[i] = crest_lmodel_item_is_category(map, i) ? "c" : "q";
    }
    crest_status st = CREST_OK;
    if (XGDMatrixCreateFromMat(sub, (bst_ulong)k, (bst_ulong)n_items, NAN, out) != 0)
        st = xgb_error(diag, "DMatrix");
    else if (XGDMatrixSetFloatInfo(*out, "label", y, (bst_ulong)k) != 0 ||
             XGDMatrixSetStrFeatureInfo(*out, "feature_name", names, (bst_ulong)n_items) != 0 ||
             XGDMatrixSetStrFeatureInfo(*out, "feature_type", types, (bst_ulong)n_items) != 0)
        st = xgb_error(diag, "DMatrix info");
    free(sub);
    free(y);
    return st;
}

static crest_status make_booster(const crest_xgb_trainer *t, DMatrixHandle *dm, size_t n_dm,
                                 BoosterHandle *out, crest_diag *diag)
{
    if (XGBoosterCreate(dm, (bst_ulong)n_dm, out) != 0)
        return xgb_error(diag, "booster");
    char seed[32], threads[16];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)(t->opts.seed & 0x7fffffffu));
    snprintf(threads, sizeof threads, "%u", t->opts.n_threads);
    const char *defaults[][2] = {{"verbosity", "0"},        {"objective", "binary:logistic"},
                                 {"tree_method", "hist"},   {"eval_metric", "logloss"},
                                 {"max_depth", "6"},        {"eta", "0.1"},
                                 {"nthread", threads},      {"seed", seed},
                                 {"max_cat_to_onehot", "1"}};
    for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++) {
        int overridden = 0;
        for (size_t j = 0; j < t->n_params; j++)
            overridden |= !strcmp(t->params[j].name, defaults[i][0]);
        if (!overridden && XGBoosterSetParam(*out, defaults[i][0], defaults[i][1]) != 0)
            return xgb_error(diag, defaults[i][0]);
    }
    for (size_t j = 0; j < t->n_params; j++) {
        if (XGBoosterSetParam(*out, t->params[j].name, t->params[j].value) != 0) {
            char what[96];
            snprintf(what, sizeof what, "parameter %s = %s", t->params[j].name, t->params[j].value);
            return xgb_error(diag, what);
        }
    }
    return CREST_OK;
}

/* The score of the last metric in XGBoost's eval line "[i]\tvalid-NAME:VALUE"
 * (XGBoost's own early stopping also watches the last one). */
static int parse_eval(const char *line, char *metric, size_t metric_cap, double *value)
{
    const char *p = NULL;
    for (const char *q = strstr(line, "valid-"); q; q = strstr(q + 1, "valid-"))
        p = q;
    if (!p)
        return -1;
    p += 6;
    const char *colon = strchr(p, ':');
    if (!colon)
        return -1;
    const size_t n = (size_t)(colon - p);
    snprintf(metric, metric_cap, "%.*s", (int)n, p);
    char *end;
    *value = strtod(colon + 1, &end);
    return end == colon + 1 ? -1 : 0;
}

static int metric_maximised(const char *m)
{
    return !strncmp(m, "auc", 3) || !strncmp(m, "map", 3) || !strncmp(m, "ndcg", 4) || !strncmp(m, "pre", 3);
}

/* Boost until early stopping (or t->rounds); *best: rounds of the best score. */
static crest_status boost(const crest_xgb_trainer *t, BoosterHandle b, DMatrixHandle dtrain,
                          DMatrixHandle dvalid, crest_xgb_fit_report *rep, unsigned *best, crest_diag *diag)
{
    double best_score = NAN;
    *best = t->rounds;
    rep->rounds_run = 0;
    for (unsigned it = 0; it < t->rounds; it++) {
        if (XGBoosterUpdateOneIter(b, (int)it, dtrain) != 0)
            return xgb_error(diag, "boosting");
        rep->rounds_run = it + 1;
        if (!dvalid)
            continue;
        const char *line = NULL;
        const char *name = "valid";
        DMatrixHandle dm[1] = {dvalid};
        if (XGBoosterEvalOneIter(b, (int)it, dm, &name, 1, &line) != 0)
            return xgb_error(diag, "evaluation");
        double v;
        if (parse_eval(line, rep->metric, sizeof rep->metric, &v) != 0)
            return crest_diag_set(diag, CREST_ERR_INVALID, FIT_LABEL, 0, 0,
                                  "cannot read XGBoost's evaluation line \"%.80s\".", line);
        const int up = metric_maximised(rep->metric);
        if (isnan(best_score) || (up ? v > best_score : v < best_score)) {
            best_score = v;
            *best = it + 1;
        }
        if (t->early_stopping && it + 1 - *best >= t->early_stopping)
            break;
    }
    rep->best_score = best_score;
    return CREST_OK;
}

/* Feature names, types and the map on the booster; its JSON in *json (owned by b). */
static crest_status model_json(BoosterHandle b, const crest_lmodel *map, const char **json, bst_ulong *n,
                               crest_diag *diag)
{
    const size_t ni = crest_lmodel_n_items(map);
    const char *names[CREST_LMODEL_MAX_ITEMS], *types[CREST_LMODEL_MAX_ITEMS];
    for (size_t i = 0; i < ni; i++) {
        names[i] = crest_lmodel_item_name(map, i);
        types[i] = crest_lmodel_item_is_category(map, i) ? "c" : "q";
    }
    char *text = NULL;
    size_t len = 0;
    crest_status st = crest_lmodel_map_text(map, &text, &len, diag);
    if (st != CREST_OK)
        return st;
    if (XGBoosterSetStrFeatureInfo(b, "feature_name", names, (bst_ulong)ni) != 0 ||
        XGBoosterSetStrFeatureInfo(b, "feature_type", types, (bst_ulong)ni) != 0 ||
        XGBoosterSetAttr(b, CREST_XGB_MAP_ATTRIBUTE, text) != 0) {
        free(text);
        return xgb_error(diag, "model attributes");
    }
    free(text);
    if (XGBoosterSaveModelToBuffer(b, "{\"format\": \"json\"}", n, json) != 0)
        return xgb_error(diag, "saving the model");
    return CREST_OK;
}

/* The model's JSON to path, through a temporary name beside it. */
static crest_status save_model(BoosterHandle b, const crest_lmodel *map, const char *path, crest_diag *diag)
{
    bst_ulong n = 0;
    const char *json = NULL;
    crest_status st = model_json(b, map, &json, &n, diag);
    if (st != CREST_OK)
        return st;
    const size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp)
        return crest_diag_set(diag, CREST_ERR_NOMEM, path, 0, 0, "out of memory.");
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        st = crest_diag_set(diag, CREST_ERR_IO, path, 0, 0, "cannot write %s: %s.", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    const int ok = fwrite(json, 1, (size_t)n, f) == (size_t)n && fputc('\n', f) != EOF;
    if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
        st = crest_diag_set(diag, CREST_ERR_IO, path, 0, 0, "cannot write the model: %s.", strerror(errno));
        remove(tmp);
    }
    free(tmp);
    return st;
}

/*
 * The training / validation split: --valid rows when there are any, else the
 * last valid_fraction of the dated rows by date (a whole day at the cut goes
 * to validation), else none. Sets in_train and rep->valid_from.
 */
static crest_status split_rows(const crest_xgb_trainer *t, uint8_t *in_train, crest_xgb_fit_report *rep,
                               crest_diag *diag)
{
    const size_t n = t->n_rows;
    rep->valid_from = CREST_DATE_NONE;
    for (size_t r = 0; r < n; r++)
        in_train[r] = 1;
    if (t->n_valid_rows) {
        for (size_t r = 0; r < n; r++)
            in_train[r] = !t->valid[r];
        return CREST_OK;
    }
    if (!(t->valid_fraction > 0))
        return CREST_OK;
    int32_t *d = malloc((n ? n : 1) * sizeof *d);
    if (!d)
        return crest_diag_set(diag, CREST_ERR_NOMEM, FIT_LABEL, 0, 0, "out of memory.");
    size_t k = 0;
    for (size_t r = 0; r < n; r++)
        if (t->date[r] != CREST_DATE_NONE)
            d[k++] = t->date[r];
    qsort(d, k, sizeof *d, cmp_i32);
    const size_t cut = (size_t)floor((double)k * (1.0 - t->valid_fraction));
    const int32_t from = k && cut < k ? d[cut] : CREST_DATE_NONE;
    free(d);
    size_t n_valid = 0;
    for (size_t r = 0; from != CREST_DATE_NONE && r < n; r++)
        if (t->date[r] != CREST_DATE_NONE && t->date[r] >= from) {
            in_train[r] = 0;
            n_valid++;
        }
    if (n_valid == 0 || n_valid == n)
        return crest_diag_set(diag, CREST_ERR_MISSING, FIT_LABEL, 0, 0,
                              "cannot hold out the last %g of the rows by date: %zu of %zu rows have a "
                              "decl_date, %zu would be held out. Map decl_date, give --valid FILE, or set "
                              "valid_fraction=0.",
                              t->valid_fraction, k, n, n_valid);
    rep->valid_from = from;
    return CREST_OK;
}

/*
 * The fit itself: split, encode, boost with early stopping, refit or slice.
 * On success *booster and *map_out belong to the caller.
 */
static crest_status fit_core(crest_xgb_trainer *t, crest_xgb_fit_report *rep, BoosterHandle *booster,
                             crest_lmodel **map_out, crest_diag *diag)
{
    const size_t n = t->n_rows;
    rep->n_rows = n;
    rep->n_positive = t->n_positive;
    uint8_t *in_train = malloc(n ? n : 1);
    crest_lmodel *map = NULL;
    float *X = NULL;
    DMatrixHandle dtrain = NULL, dvalid = NULL;
    BoosterHandle b = NULL;
    if (!in_train)
        return crest_diag_set(diag, CREST_ERR_NOMEM, FIT_LABEL, 0, 0, "out of memory.");
    crest_status st = split_rows(t, in_train, rep, diag);
    size_t ni = 0;
    if (st == CREST_OK) {
        X = malloc((n ? n : 1) * CREST_LMODEL_MAX_ITEMS * sizeof *X);
        if (!X)
            st = crest_diag_set(diag, CREST_ERR_NOMEM, FIT_LABEL, 0, 0, "out of memory for %zu rows.", n);
    }
    if (st == CREST_OK)
        st = crest_lmodel_trainer_tree_data(t->enc, in_train, X, &map, diag);
    if (st == CREST_OK) {
        ni = crest_lmodel_n_items(map);
        rep->n_features = ni;
        for (size_t r = 0; r < n; r++)
            rep->n_train += in_train[r];
        rep->n_valid = n - rep->n_train;
        st = make_dmatrix(X, n, ni, in_train, 1, t->label, map, &dtrain, diag);
    }
    if (st == CREST_OK && rep->n_valid)
        st = make_dmatrix(X, n, ni, in_train, 0, t->label, map, &dvalid, diag);
    DMatrixHandle both[2] = {dtrain, dvalid};
    if (st == CREST_OK)
        st = make_booster(t, both, dvalid ? 2 : 1, &b, diag);
    unsigned best = t->rounds;
    if (st == CREST_OK)
        st = boost(t, b, dtrain, dvalid, rep, &best, diag);
    const int refit = st == CREST_OK && t->refit && rep->valid_from != CREST_DATE_NONE;
    if (refit) {
        /* The date split chose the number of rounds; the model learns from all rows. */
        XGBoosterFree(b);
        b = NULL;
        XGDMatrixFree(dtrain);
        XGDMatrixFree(dvalid);
        dtrain = dvalid = NULL;
        crest_lmodel_free(map);
        map = NULL;
        st = crest_lmodel_trainer_tree_data(t->enc, NULL, X, &map, diag);
        if (st == CREST_OK)
            st = make_dmatrix(X, n, ni, NULL, 1, t->label, map, &dtrain, diag);
        if (st == CREST_OK)
            st = make_booster(t, &dtrain, 1, &b, diag);
        for (unsigned it = 0; st == CREST_OK && it < best; it++)
            if (XGBoosterUpdateOneIter(b, (int)it, dtrain) != 0)
                st = xgb_error(diag, "boosting");
        rep->refitted = 1;
    } else if (st == CREST_OK && best < rep->rounds_run) {
        BoosterHandle sliced = NULL;
        if (XGBoosterSlice(b, 0, (int)best, 1, &sliced) != 0) {
            st = xgb_error(diag, "slicing to the best round");
        } else {
            XGBoosterFree(b);
            b = sliced;
        }
    }
    rep->n_rounds = best;
    if (dtrain)
        XGDMatrixFree(dtrain);
    if (dvalid)
        XGDMatrixFree(dvalid);
    free(X);
    free(in_train);
    if (st != CREST_OK) {
        if (b)
            XGBoosterFree(b);
        crest_lmodel_free(map);
        return st;
    }
    *booster = b;
    *map_out = map;
    return CREST_OK;
}

static crest_xgb_fit_report *report_init(crest_xgb_fit_report *report, crest_xgb_fit_report *local)
{
    crest_xgb_fit_report *rep = report ? report : local;
    memset(rep, 0, sizeof *rep);
    rep->best_score = NAN;
    rep->valid_from = CREST_DATE_NONE;
    snprintf(rep->metric, sizeof rep->metric, "none");
    return rep;
}

crest_status crest_xgb_trainer_fit(crest_xgb_trainer *t, const char *path, crest_xgb_fit_report *report,
                                   crest_diag *diag)
{
    crest_diag_clear(diag);
    crest_xgb_fit_report local;
    crest_xgb_fit_report *rep = report_init(report, &local);
    if (!t || !path)
        return crest_diag_set(diag, CREST_ERR_INVALID, FIT_LABEL, 0, 0, "trainer and path must be given.");
    BoosterHandle b = NULL;
    crest_lmodel *map = NULL;
    crest_status st = fit_core(t, rep, &b, &map, diag);
    if (st == CREST_OK) {
        st = save_model(b, map, path, diag);
        XGBoosterFree(b);
        crest_lmodel_free(map);
    }
    return st;
}

crest_status crest_xgb_trainer_fit_model(crest_xgb_trainer *t, crest_xgb **model, crest_lmodel **map,
                                         crest_xgb_fit_report *report, crest_diag *diag)
{
    crest_diag_clear(diag);
    crest_xgb_fit_report local;
    crest_xgb_fit_report *rep = report_init(report, &local);
    if (!t || !model || !map)
        return crest_diag_set(diag, CREST_ERR_INVALID, FIT_LABEL, 0, 0,
                              "trainer, model and map must be given.");
    *model = NULL;
    *map = NULL;
    BoosterHandle b = NULL;
    crest_status st = fit_core(t, rep, &b, map, diag);
    if (st != CREST_OK)
        return st;
    const char *json = NULL;
    bst_ulong n = 0;
    st = model_json(b, *map, &json, &n, diag);
    if (st == CREST_OK)
        st = crest_xgb_load_buffer(json, (size_t)n, "<fitted model>", model, diag);
    XGBoosterFree(b);
    if (st != CREST_OK) {
        crest_lmodel_free(*map);
        *map = NULL;
    }
    return st;
}
