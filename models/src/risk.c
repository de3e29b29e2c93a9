/*
 * risk.c — combine selection criteria and a model into one risk score; see
 * crest_risk.h. Holds the XGBoost feature mapping (declaration fields to the
 * model's float vector); the logistic model extracts its own features.
 */
#include "crest/crest_risk.h"

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_file.h"
#include "crest/crest_logit.h"
#include "crest/crest_xgb.h"
#include "crest/crest_xgb_fit.h"

typedef enum xfeat_op { XF_NUM, XF_LOG, XF_CAT } xfeat_op;
typedef enum xfeat_src { XS_FIELD, XS_UNIT_VALUE, XS_COLUMN } xfeat_src;

typedef struct xfeat {
    xfeat_op op;
    xfeat_src src;
    int field;    /* crest_field for XS_FIELD */
    char *column; /* header name for XS_COLUMN */
    char *name;   /* the feature name it maps: the column, field or unit_value */
    long col;     /* bound column index, -1 when the input lacks it */
} xfeat;

struct crest_risk {
    crest_rules *rules;
    crest_risk_model_kind kind;
    crest_lmodel *lmodel;
    crest_xgb *xgb;
    crest_lmodel *fmap; /* feature map of a model trained by `crest fit` */
    xfeat *xfeats;
    size_t n_xfeats;
    char *score_column; /* CREST_RISK_MODEL_COLUMN: its header name (or canonical field) */
    double bias;
    double model_weight;
};

/* An input's columns for the named sources of each part (crest_risk_bind). */
struct crest_risk_binding {
    size_t *rule_cols;   /* crest_rules_count entries */
    size_t *lmodel_cols; /* crest_lmodel_column_count entries */
    long *xgb_cols;      /* n_xfeats entries; -1 for a feature from a field */
    size_t *fmap_cols;   /* crest_lmodel_column_count(fmap) entries */
    long score_col;      /* the external score's header column, -1: */
    int score_field;     /* its canonical field instead (-1: neither) */
};

struct crest_risk_scratch {
    const crest_risk_binding *binding; /* NULL: no named columns */
    crest_rules_scratch *rules;
    float *features;
    /* Scores of recent z values, direct-mapped by z's bits: criteria-only
     * scoring has few distinct z (a sum of hit weights), and the sigmoid's
     * exp() would cost more than the rest of the score. Exact: keyed by z. */
    struct sig_entry {
        double z, score;
    } sig[16];
};

void crest_risk_config_default(crest_risk_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->model_weight = 1.0;
}

static crest_status parse_xgb_features(crest_risk *r, const char *spec, const char *label, crest_diag *diag)
{
    size_t cap = 8;
    r->xfeats = calloc(cap, sizeof *r->xfeats);
    if (!r->xfeats)
        return crest_diag_set(diag, CREST_ERR_NOMEM, label, 0, 0, "out of memory");
    const char *s = spec;
    size_t col = 1;
    while (*s) {
        while (*s == ' ' || *s == '\t')
            s++, col++;
        const char *item = s;
        const char *end = s;
        int depth = 0;
        while (*end && (depth || *end != ',')) {
            depth += *end == '(';
            depth -= *end == ')';
            end++;
        }
        size_t n = (size_t)(end - item);
        while (n && (item[n - 1] == ' ' || item[n - 1] == '\t'))
            n--;
        if (n == 0)
            return crest_diag_set(diag, CREST_ERR_SYNTAX, label, 0, col,
                                  "empty item in the XGBoost feature mapping");
        if (r->n_xfeats == cap) {
            xfeat *nx = realloc(r->xfeats, 2 * cap * sizeof *nx);
            if (!nx)
                return crest_diag_set(diag, CREST_ERR_NOMEM, label, 0, 0, "out of memory");
            memset(nx + cap, 0, cap * sizeof *nx);
            r->xfeats = nx;
            cap *= 2;
        }
        xfeat *f = &r->xfeats[r->n_xfeats++]; /* owned from here, also on failure */
        if (n > 4 && !(f->name = malloc(n - 3)))
            return crest_diag_set(diag, CREST_ERR_NOMEM, label, 0, 0, "out of memory");
        if (n > 4 && memcmp(item, "num:", 4) == 0)
            f->op = XF_NUM;
        else if (n > 4 && memcmp(item, "log:", 4) == 0)
            f->op = XF_LOG;
        else if (n > 4 && memcmp(item, "cat:", 4) == 0)
            f->op = XF_CAT;
        else
            return crest_diag_set(diag, CREST_ERR_SYNTAX, label, 0, col,
                                  "XGBoost feature '%.*s' needs num:, log: or cat: before the field", (int)n,
                                  item);
        const char *fld = item + 4;
        size_t fl = n - 4;
        if (fl > 5 && memcmp(fld, "col(", 4) == 0 && fld[fl - 1] == ')') {
            f->src = XS_COLUMN;
            f->column = malloc(fl - 4);
            if (!f->column)
                return crest_diag_set(diag, CREST_ERR_NOMEM, label, 0, 0, "out of memory");
            memcpy(f->column, fld + 4, fl - 5);
            f->column[fl - 5] = '\0';
            memcpy(f->name, f->column, fl - 4);
        } else if (fl == 10 && memcmp(fld, "unit_value", 10) == 0) {
            f->src = XS_UNIT_VALUE;
            memcpy(f->name, fld, fl);
            f->name[fl] = '\0';
        } else {
            int fi = crest_field_from_name(fld, fl);
            if (fi < 0)
                return crest_diag_set(diag, CREST_ERR_INVALID, label, 0, col + 4,
                                      "'%.*s' is not a canonical field, unit_value or col(Header)", (int)fl,
                                      fld);
            f->src = XS_FIELD;
            f->field = fi;
            memcpy(f->name, fld, fl);
            f->name[fl] = '\0';
        }
        col += (size_t)(end - s) + 1;
        s = *end ? end + 1 : end;
    }
    return CREST_OK;
}

/*
 * A model trained by `crest fit`: its feature map (the learner attribute) is
 * the mapping. The policy's features, when given, must be the map's spec;
 * the model's feature names and types must be the map's items.
 */
static crest_status load_feature_map(crest_risk *r, const crest_risk_config *cfg, crest_diag *diag)
{
    const char *text = crest_xgb_attribute(r->xgb, CREST_XGB_MAP_ATTRIBUTE);
    crest_status st = crest_lmodel_map_load_buffer(text, strlen(text), cfg->model_path, &r->fmap, diag);
    if (st != CREST_OK)
        return st;
    const size_t ni = crest_lmodel_n_items(r->fmap);
    if (ni != crest_xgb_n_features(r->xgb))
        return crest_diag_set(diag, CREST_ERR_MISMATCH, cfg->model_path, 0, 0,
                              "the model has %zu features but its feature map has %zu items",
                              crest_xgb_n_features(r->xgb), ni);
    for (size_t i = 0; i < ni; i++) {
        const char *name = crest_xgb_feature_name(r->xgb, i);
        const char *item = crest_lmodel_item_name(r->fmap, i);
        if ((name && strcmp(name, item) != 0) ||
            (crest_xgb_has_feature_types(r->xgb) &&
             crest_xgb_feature_is_category(r->xgb, i) != crest_lmodel_item_is_category(r->fmap, i)))
            return crest_diag_set(
                diag, CREST_ERR_MISMATCH, cfg->model_path, 0, 0,
                "feature %zu of the model is '%.100s' (%s) but its feature map's item %zu is "
                "'%.100s'",
                i + 1, name ? name : "?",
                crest_xgb_feature_is_category(r->xgb, i) ? "categorical" : "numeric", i + 1, item);
    }
    r->n_xfeats = ni;
    if (!cfg->model_features || !*cfg->model_features)
        return CREST_OK;
    char canon[8192];
    crest_diag d;
    st = crest_lmodel_spec_canonical(cfg->model_features, canon, sizeof canon, &d);
    if (st != CREST_OK)
        return crest_diag_set(diag, st, "[model] features", 0, d.column, "%s", d.message);
    if (strcmp(canon, crest_lmodel_feature_spec(r->fmap)) != 0) {
        /* Name the first item that differs (items are joined by ", "). */
        size_t i = 1;
        const char *a = canon, *b = crest_lmodel_feature_spec(r->fmap);
        for (;;) {
            const char *ea = strstr(a, ", "), *eb = strstr(b, ", ");
            const size_t na = ea ? (size_t)(ea - a) : strlen(a), nb = eb ? (size_t)(eb - b) : strlen(b);
            if (na != nb || memcmp(a, b, na) != 0 || !ea || !eb)
                return crest_diag_set(
                    diag, CREST_ERR_MISMATCH, cfg->model_path, 0, 0,
                    "feature %zu differs: the model was trained on '%.*s' but [model] features "
                    "has '%.*s' there; refit with `crest fit`, or give the model's features: "
                    "%.200s",
                    i, (int)(nb < 120 ? nb : 120), b, (int)(na < 120 ? na : 120), na ? a : "(nothing)",
                    crest_lmodel_feature_spec(r->fmap));
            a = ea + 2;
            b = eb + 2;
            i++;
        }
    }
    return CREST_OK;
}

/*
 * A model trained elsewhere: the policy's mapping (num:/log:/cat: FIELD), or,
 * when the policy has none, the model's feature names read as input columns
 * (cat: for categorical features, num: otherwise). Checked by name and type
 * when the model saved them: feature i's name must be what item i reads.
 */
static crest_status imported_mapping(crest_risk *r, const crest_risk_config *cfg, crest_diag *diag)
{
    const size_t nf = crest_xgb_n_features(r->xgb);
    crest_status st;
    if (cfg->model_features && *cfg->model_features) {
        st = parse_xgb_features(r, cfg->model_features, "[model] features", diag);
    } else if (crest_xgb_feature_name(r->xgb, 0)) {
        size_t len = 1;
        for (size_t i = 0; i < nf; i++)
            len += strlen(crest_xgb_feature_name(r->xgb, i)) + 12;
        char *spec = malloc(len);
        if (!spec)
            return crest_diag_set(diag, CREST_ERR_NOMEM, cfg->model_path, 0, 0, "out of memory");
        size_t o = 0;
        for (size_t i = 0; i < nf; i++)
            o += (size_t)snprintf(spec + o, len - o, "%s%s:col(%s)", i ? "," : "",
                                  crest_xgb_feature_is_category(r->xgb, i) ? "cat" : "num",
                                  crest_xgb_feature_name(r->xgb, i));
        st = parse_xgb_features(r, spec, "the model's feature names", diag);
        free(spec);
    } else {
        return crest_diag_set(diag, CREST_ERR_MISSING, cfg->model_path, 0, 0,
                              "an XGBoost model without feature names needs [model] features: one mapping "
                              "per model feature, in order (num:FIELD, log:FIELD, cat:FIELD)");
    }
    if (st != CREST_OK)
        return st;
    if (r->n_xfeats != nf)
        return crest_diag_set(diag, CREST_ERR_MISMATCH, cfg->model_path, 0, 0,
                              "the model has %zu features but [model] features maps %zu", nf, r->n_xfeats);
    for (size_t i = 0; i < nf; i++) {
        const char *name = crest_xgb_feature_name(r->xgb, i);
        const xfeat *f = &r->xfeats[i];
        if (name && strcmp(name, f->name) != 0)
            return crest_diag_set(diag, CREST_ERR_MISMATCH, cfg->model_path, 0, 0,
                                  "feature %zu of the model is named '%.100s' but [model] features maps item "
                                  "%zu to '%.100s'; map each feature by its name, in the model's order",
                                  i + 1, name, i + 1, f->name);
        if (crest_xgb_has_feature_types(r->xgb) &&
            crest_xgb_feature_is_category(r->xgb, i) != (f->op == XF_CAT))
            return crest_diag_set(diag, CREST_ERR_MISMATCH, cfg->model_path, 0, 0,
                                  "feature %zu ('%.100s') is %s in the model but mapped with %s", i + 1,
                                  f->name,
                                  crest_xgb_feature_is_category(r->xgb, i) ? "categorical" : "numeric",
                                  f->op == XF_CAT   ? "cat:"
                                  : f->op == XF_LOG ? "log:"
                                                    : "num:");
    }
    return CREST_OK;
}

crest_status crest_risk_create(const crest_risk_config *cfg, crest_risk **out, crest_diag *diag)
{
    *out = NULL;
    crest_diag_clear(diag);
    crest_risk *r = calloc(1, sizeof *r);
    if (!r)
        return crest_diag_set(diag, CREST_ERR_NOMEM, "", 0, 0, "out of memory");
    r->bias = cfg->bias;
    r->model_weight = cfg->model_weight;
    r->kind = cfg->model_kind;
    crest_status st = CREST_OK;
    if (cfg->criteria_path) {
        crest_rules_load_options o;
        memset(&o, 0, sizeof o);
        o.tables_dir = cfg->tables_dir;
        o.match_limit = cfg->match_limit;
        o.depth_limit = cfg->depth_limit;
        o.max_hits = cfg->max_hits;
        o.read = cfg->read;
        o.read_ctx = cfg->read_ctx;
        st = crest_rules_load(cfg->criteria_path, &o, &r->rules, diag);
    }
    const char *mdata = NULL;
    size_t mlen = 0;
    char *mowned = NULL;
    if (st == CREST_OK && cfg->model_kind != CREST_RISK_MODEL_NONE &&
        cfg->model_kind != CREST_RISK_MODEL_COLUMN) {
        if (!cfg->model_path)
            st = crest_diag_set(diag, CREST_ERR_MISSING, "[model]", 0, 0, "the model needs a file.");
        else if (cfg->read)
            st = cfg->read(cfg->read_ctx, CREST_FILE_MODEL, cfg->model_path, NULL, &mdata, &mlen, diag);
        else if ((st = crest_file_read(cfg->model_path, crest_file_default_cap(CREST_FILE_MODEL),
                                       "model file", &mowned, &mlen, diag)) == CREST_OK)
            mdata = mowned;
    }
    if (st == CREST_OK && cfg->model_kind == CREST_RISK_MODEL_LOGISTIC) {
        st = crest_lmodel_load_buffer(mdata, mlen, cfg->model_path, &r->lmodel, diag);
        if (st == CREST_OK && cfg->model_features &&
            strcmp(cfg->model_features, crest_lmodel_feature_spec(r->lmodel)) != 0)
            st = crest_diag_set(diag, CREST_ERR_MISMATCH, cfg->model_path, 0, 0,
                                "the model was fitted on features '%.200s' but the policy declares '%.200s'; "
                                "refit with `crest fit` or fix [model] features",
                                crest_lmodel_feature_spec(r->lmodel), cfg->model_features);
    } else if (st == CREST_OK && cfg->model_kind == CREST_RISK_MODEL_XGBOOST) {
        st = crest_xgb_load_buffer(mdata, mlen, cfg->model_path, &r->xgb, diag);
        if (st == CREST_OK && crest_xgb_attribute(r->xgb, CREST_XGB_MAP_ATTRIBUTE))
            st = load_feature_map(r, cfg, diag);
        else if (st == CREST_OK)
            st = imported_mapping(r, cfg, diag);
    }
    free(mowned);
    if (st == CREST_OK && cfg->model_kind == CREST_RISK_MODEL_COLUMN) {
        if (!cfg->model_features || !*cfg->model_features)
            st = crest_diag_set(diag, CREST_ERR_MISSING, "score column", 0, 0,
                                "an external score needs the name of its column");
        else if (!(r->score_column = malloc(strlen(cfg->model_features) + 1)))
            st = crest_diag_set(diag, CREST_ERR_NOMEM, "score column", 0, 0, "out of memory");
        else
            strcpy(r->score_column, cfg->model_features);
    }
    if (st != CREST_OK) {
        crest_risk_free(r);
        return st;
    }
    *out = r;
    return CREST_OK;
}

void crest_risk_columns(const crest_risk *r, crest_column_fn fn, void *ctx)
{
    crest_rules_columns(r->rules, fn, ctx);
    crest_lmodel_columns(r->lmodel, fn, ctx);
    for (size_t i = 0; i < r->n_xfeats; i++) {
        const xfeat *f = &r->xfeats[i];
        char user[64];
        snprintf(user, sizeof user, "model feature %zu", i + 1);
        if (f->src == XS_COLUMN) {
            fn(ctx, user, -1, f->column);
        } else if (f->src == XS_UNIT_VALUE) {
            fn(ctx, user, CREST_FIELD_DECLARED_VALUE, NULL);
            fn(ctx, user, CREST_FIELD_NET_MASS_KG, NULL);
        } else {
            fn(ctx, user, f->field, NULL);
        }
    }
}

static void count_named(void *ctx, const char *user, int field, const char *column)
{
    (void)user;
    (void)field;
    if (column)
        (*(int *)ctx)++;
}

int crest_risk_needs_header(const crest_risk *r)
{
    int n = 0;
    crest_risk_columns(r, count_named, &n);
    return n > 0;
}

void crest_risk_binding_free(crest_risk_binding *b)
{
    if (!b)
        return;
    free(b->rule_cols);
    free(b->lmodel_cols);
    free(b->xgb_cols);
    free(b->fmap_cols);
    free(b);
}

crest_status crest_risk_bind(const crest_risk *r, const crest_str *header, size_t n_cols,
                             crest_risk_binding **out, crest_diag *diag)
{
    *out = NULL;
    crest_diag_clear(diag);
    crest_risk_binding *b = calloc(1, sizeof *b);
    const size_t n_rules = crest_rules_count(r->rules), n_lcols = crest_lmodel_column_count(r->lmodel);
    if (!b || !(b->rule_cols = malloc((n_rules ? n_rules : 1) * sizeof *b->rule_cols)) ||
        !(b->lmodel_cols = malloc((n_lcols ? n_lcols : 1) * sizeof *b->lmodel_cols)) ||
        !(b->xgb_cols = malloc((r->n_xfeats ? r->n_xfeats : 1) * sizeof *b->xgb_cols)) ||
        !(b->fmap_cols = malloc((crest_lmodel_column_count(r->fmap) + 1) * sizeof *b->fmap_cols))) {
        crest_risk_binding_free(b);
        return crest_diag_set(diag, CREST_ERR_NOMEM, "", 0, 0, "out of memory");
    }
    crest_status st = CREST_OK;
    if (r->rules)
        st = crest_rules_resolve_columns(r->rules, header, n_cols, b->rule_cols, diag);
    if (st == CREST_OK && r->lmodel)
        st = crest_lmodel_resolve_columns(r->lmodel, header, n_cols, b->lmodel_cols, diag);
    if (st == CREST_OK && r->fmap)
        st = crest_lmodel_resolve_columns(r->fmap, header, n_cols, b->fmap_cols, diag);
    for (size_t i = 0; st == CREST_OK && r->xfeats && i < r->n_xfeats; i++) {
        const xfeat *f = &r->xfeats[i];
        b->xgb_cols[i] = -1;
        if (f->src != XS_COLUMN)
            continue;
        for (size_t c = 0; c < n_cols; c++)
            if (header[c].len == strlen(f->column) && memcmp(header[c].ptr, f->column, header[c].len) == 0)
                b->xgb_cols[i] = (long)c;
        if (b->xgb_cols[i] < 0)
            st = crest_diag_set(diag, CREST_ERR_MISSING, "[model] features", 0, 0,
                                "the input has no column '%s' that the XGBoost mapping needs", f->column);
    }
    b->score_col = b->score_field = -1;
    if (st == CREST_OK && r->score_column) { /* a header name first, then a canonical field */
        const size_t len = strlen(r->score_column);
        for (size_t c = 0; c < n_cols && b->score_col < 0; c++)
            if (header[c].len == len && memcmp(header[c].ptr, r->score_column, len) == 0)
                b->score_col = (long)c;
        b->score_field = b->score_col < 0 ? crest_field_from_name(r->score_column, len) : -1;
        if (b->score_col < 0 && b->score_field < 0)
            st = crest_diag_set(
                diag, CREST_ERR_MISSING, "<input>", 1, 0,
                "the score column '%s' is neither a header name of the input nor a canonical field",
                r->score_column);
    }
    if (st != CREST_OK) {
        crest_risk_binding_free(b);
        return st;
    }
    *out = b;
    return CREST_OK;
}

crest_status crest_risk_scratch_create(const crest_risk *r, const crest_risk_binding *binding,
                                       crest_risk_scratch **out)
{
    *out = NULL;
    crest_risk_scratch *s = calloc(1, sizeof *s);
    if (!s)
        return CREST_ERR_NOMEM;
    s->binding = binding;
    for (size_t i = 0; i < sizeof s->sig / sizeof *s->sig; i++)
        s->sig[i].z = NAN; /* equal to no z */
    if (r->rules && crest_rules_scratch_create(r->rules, &s->rules) != CREST_OK) {
        free(s);
        return CREST_ERR_NOMEM;
    }
    if (s->rules && binding)
        crest_rules_scratch_set_columns(s->rules, binding->rule_cols);
    if (r->n_xfeats && !(s->features = malloc(r->n_xfeats * sizeof(float)))) {
        crest_rules_scratch_free(s->rules);
        free(s);
        return CREST_ERR_NOMEM;
    }
    *out = s;
    return CREST_OK;
}

void crest_risk_scratch_free(crest_risk_scratch *s)
{
    if (!s)
        return;
    crest_rules_scratch_free(s->rules);
    free(s->features);
    free(s);
}

static double parse_num(crest_str s)
{
    return crest_parse_number(s.ptr, s.len);
}

static double xfeat_value(const xfeat *f, long col, const crest_decl *d)
{
    double v;
    switch (f->src) {
    case XS_UNIT_VALUE:
        v = d->net_mass_kg > 0 ? d->declared_value / d->net_mass_kg : NAN;
        break;
    case XS_COLUMN:
        v = col >= 0 && (size_t)col < d->n_cols ? parse_num(d->cols[col]) : NAN;
        break;
    default:
        v = f->field == CREST_FIELD_DECLARED_VALUE ? d->declared_value
            : f->field == CREST_FIELD_NET_MASS_KG  ? d->net_mass_kg
            : f->field == CREST_FIELD_QUANTITY     ? d->quantity
                                                   : parse_num(d->field[f->field]);
    }
    if (f->op == XF_LOG)
        v = v > 0 ? log(v) : NAN;
    /* XF_CAT: the code goes to the model as a number; the evaluator treats it
     * exactly as XGBoost does (truncation, invalid codes to the left branch). */
    return v;
}

/* Hot path. */
void crest_risk_eval(const crest_risk *r, crest_risk_scratch *s, const crest_decl *d, crest_risk_result *out)
{
    out->z = r->bias;
    out->model_prob = NAN;
    out->prob = NAN;
    out->explain.n = 0;
    out->explain.has_text = 0;
    if (r->rules) {
        crest_rules_eval(r->rules, s->rules, d, &out->rules);
        out->z += out->rules.weight;
    } else {
        memset(&out->rules, 0, sizeof out->rules);
        out->rules.lane_rule = out->rules.ci_lane_rule = -1;
    }
    if (r->lmodel) {
        out->model_prob = crest_lmodel_score_columns(r->lmodel, s->binding ? s->binding->lmodel_cols : NULL,
                                                     d, &out->explain);
        out->prob = crest_lmodel_calibrate(r->lmodel, out->model_prob); /* NaN without a calibration */
    } else if (r->xgb) {
        if (r->fmap)
            crest_lmodel_features_columns(r->fmap, s->binding ? s->binding->fmap_cols : NULL, d, s->features);
        else
            for (size_t i = 0; i < r->n_xfeats; i++)
                s->features[i] =
                    (float)xfeat_value(&r->xfeats[i], s->binding ? s->binding->xgb_cols[i] : -1, d);
        double prob;
        if (crest_xgb_predict(r->xgb, s->features, r->n_xfeats, &prob) == CREST_OK)
            out->model_prob = prob;
    } else if (r->score_column && s->binding) {
        const crest_risk_binding *b = s->binding;
        const crest_str v = b->score_col >= 0 ? ((size_t)b->score_col < d->n_cols ? d->cols[b->score_col]
                                                                                  : (crest_str){NULL, 0})
                                              : d->field[b->score_field];
        const double prob = v.len ? crest_parse_number(v.ptr, v.len) : NAN;
        out->model_prob = prob >= 0.0 && prob <= 1.0 ? prob : NAN;
    }
    if (!isnan(out->model_prob)) {
        const double pm = fmin(fmax(out->model_prob, 1e-12), 1 - 1e-12);
        out->z += r->model_weight * log(pm / (1 - pm));
    }
    uint64_t bits;
    memcpy(&bits, &out->z, sizeof bits);
    struct sig_entry *c = &s->sig[(bits * UINT64_C(0x9E3779B97F4A7C15)) >> 60];
    if (out->z == c->z) {
        out->score = c->score;
    } else {
        out->score = crest_logit_sigmoid(out->z);
        c->z = out->z;
        c->score = out->score;
    }
}

void crest_risk_explain_values(const crest_risk *r, const crest_risk_scratch *s, const crest_decl *d,
                               crest_risk_result *out)
{
    if (r->lmodel && out->explain.n)
        crest_lmodel_explain_values(r->lmodel, s->binding ? s->binding->lmodel_cols : NULL, d, &out->explain);
}

int crest_risk_calibrated(const crest_risk *r)
{
    return r && r->lmodel && crest_lmodel_calibration(r->lmodel, NULL, NULL);
}

void crest_risk_scratch_promise_valid_utf8(crest_risk_scratch *s)
{
    if (s->rules)
        crest_rules_scratch_promise_valid_utf8(s->rules);
}

const crest_rules *crest_risk_rules(const crest_risk *r)
{
    return r->rules;
}

size_t crest_risk_rule_count(const crest_risk *r)
{
    return crest_rules_count(r->rules);
}

crest_status crest_risk_rule(const crest_risk *r, size_t i, crest_risk_rule_info *out)
{
    crest_rules_info info;
    const crest_status st = crest_rules_describe(r->rules, i, &info);
    if (st != CREST_OK)
        return st;
    out->id = info.id;
    out->lane = info.action == CREST_RULES_ACTION_LANE ? (int)info.lane : 0;
    out->probability = info.probability;
    out->credit_sensitive = info.credit_sensitive;
    out->rationale = info.rationale ? info.rationale : "";
    return CREST_OK;
}

const char *crest_risk_max_hits_id(const crest_risk *r)
{
    return r->rules ? crest_rules_max_hits_id(r->rules) : NULL;
}

int crest_risk_active(const crest_risk *r)
{
    return r->rules != NULL || r->lmodel != NULL || r->xgb != NULL || r->score_column != NULL;
}

void crest_risk_free(crest_risk *r)
{
    if (!r)
        return;
    crest_rules_free(r->rules);
    crest_lmodel_free(r->lmodel);
    crest_xgb_free(r->xgb);
    crest_lmodel_free(r->fmap);
    for (size_t i = 0; r->xfeats && i < r->n_xfeats; i++) {
        free(r->xfeats[i].column);
        free(r->xfeats[i].name);
    }
    free(r->xfeats);
    free(r->score_column);
    free(r);
}
