/*
 * xgb.c — load an XGBoost JSON model (binary:logistic / reg:logistic, gbtree)
 * into flat arrays and score rows with XGBoost's float32 semantics.
 *
 * Loading validates every tree (array lengths, child indices, reachability,
 * feature indices, categories) and rewrites each tree in breadth-first order
 * so that the two children of a node are adjacent: the walk is then
 * `i = left + go_right`. Only nodes reachable from the root are kept, so
 * XGBoost's deleted (pruned) slots vanish. JSON never appears past load;
 * scoring touches only the flat arrays.
 *
 * The compact form is built while parsing: a structural scan finds the
 * elements of learner.gradient_booster.model.trees, json-c parses the
 * document without them, then each tree on its own, which is turned into
 * flat nodes and freed before the next. A json-c tree of the whole document
 * took about 16 times the file size; this way the peak is the file's bytes,
 * one tree's objects and the flat nodes. A document the scan cannot follow
 * (malformed, nested too deep, a key repeated on the path) is parsed whole,
 * for json-c's diagnostics.
 *
 * This module does not read UBJSON, dart or gblinear boosters, or
 * multi-output models; those are refused with a diagnostic.
 */
#include "crest/crest_xgb.h"
#include "crest/crest_file.h"

#include <errno.h>
#include <stdarg.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Node flags live in the top bits of feature_flags; the feature index below. */
#define XGB_LEAF 0x80000000u
#define XGB_DEFAULT_RIGHT 0x40000000u /* bit 30: the branch-free walk reads it as 0/1 */
#define XGB_CATEGORICAL 0x20000000u
#define XGB_FEATURE_MASK 0x1fffffffu

/* Caps that keep every index in 32 bits and reject absurd inputs early. */
#define XGB_MAX_NODES (UINT32_MAX / 4u)
#define XGB_MAX_FEATURES ((size_t)XGB_FEATURE_MASK)
/* XGBoost treats category codes at or above 2^24 (and negative ones) as invalid. */
#define XGB_MAX_CATEGORY 16777216.0f

/*
 * One flattened node, 16 bytes. For a split, `left` is the flat index of the
 * left child and the right child is `left + 1`; `thr` is the threshold of a
 * numeric split. A leaf holds its weight in u.leaf, thr = NaN and left = its
 * own index, so that a walk of fixed length stays on it: `x >= NaN` is false
 * and a leaf has no default-right bit, so the next index is the leaf again.
 * For a categorical split (thr NaN too), cat_bits[u.cat_offset] holds the
 * number of bitset words and the words follow; a set bit sends the row right.
 */
typedef struct xgb_node {
    float thr;
    uint32_t left;
    uint32_t feature_flags;
    union {
        float leaf;
        uint32_t cat_offset;
    } u;
} xgb_node;

struct crest_xgb {
    size_t n_features;
    size_t n_trees;
    uint32_t *tree_root;  /* flat index of each tree's root */
    uint32_t *tree_depth; /* edges on the longest root-to-leaf path */
    uint8_t *tree_cat;    /* 1 when the tree has a categorical split */
    xgb_node *nodes;
    size_t n_nodes;
    uint32_t *cat_bits;
    size_t n_cat_words;
    size_t cat_cap;
    float base_margin;
    char **feature_names; /* NULL, or n_features NUL-terminated names */
    char *feature_cat;    /* NULL, or per feature 1 when its type is "c" */
    size_t n_attrs;       /* learner.attributes, as saved by set_attr */
    char **attr_key, **attr_value;
};

/* Load context: where errors are reported and scratch space for the trees. */
typedef struct xgb_loader {
    const char *label;
    crest_diag *diag;
    crest_xgb *model;
    uint8_t *seen;    /* per original node id: reached from the root */
    uint32_t *order;  /* breadth-first order of original node ids */
    int32_t *cat_seg; /* per original node id: index in categories_nodes, or -1 */
    uint32_t *depth;  /* per breadth-first position: depth below the root */
    size_t scratch_cap;
    size_t nodes_cap;
    /* Streamed trees: the document's text and each tree element's byte span. */
    const char *text;
    size_t *span; /* 2 per tree: begin, end */
    size_t n_spans;
} xgb_loader;

/* ------------------------------------------------------------------------ */
/* Model lifetime and accessors                                              */

void crest_xgb_free(crest_xgb *model)
{
    if (!model)
        return;
    if (model->feature_names) {
        for (size_t i = 0; i < model->n_features; i++)
            free(model->feature_names[i]);
        free(model->feature_names);
    }
    free(model->feature_cat);
    for (size_t i = 0; i < model->n_attrs; i++) {
        free(model->attr_key[i]);
        free(model->attr_value[i]);
    }
    free(model->attr_key);
    free(model->attr_value);
    free(model->tree_root);
    free(model->tree_depth);
    free(model->tree_cat);
    free(model->nodes);
    free(model->cat_bits);
    free(model);
}

size_t crest_xgb_n_features(const crest_xgb *model)
{
    return model ? model->n_features : 0;
}

size_t crest_xgb_n_trees(const crest_xgb *model)
{
    return model ? model->n_trees : 0;
}

const char *crest_xgb_feature_name(const crest_xgb *model, size_t index)
{
    if (!model || !model->feature_names || index >= model->n_features)
        return NULL;
    return model->feature_names[index];
}

int crest_xgb_feature_is_category(const crest_xgb *model, size_t index)
{
    return model && model->feature_cat && index < model->n_features ? model->feature_cat[index] : 0;
}

int crest_xgb_has_feature_types(const crest_xgb *model)
{
    return model && model->feature_cat;
}

const char *crest_xgb_attribute(const crest_xgb *model, const char *key)
{
    for (size_t i = 0; model && key && i < model->n_attrs; i++)
        if (strcmp(model->attr_key[i], key) == 0)
            return model->attr_value[i];
    return NULL;
}

long crest_xgb_feature_index(const crest_xgb *model, const char *name)
{
    if (!model || !model->feature_names || !name)
        return -1;
    for (size_t i = 0; i < model->n_features; i++) {
        if (strcmp(model->feature_names[i], name) == 0)
            return (long)i;
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Scoring (hot path: no allocation, no branches on JSON)                    */

/*
 * XGBoost's categorical decision (src/common/categorical.h, >= 1.7): a code
 * that is negative, >= 2^24, or outside the node's bitset goes left; a code in
 * the set goes right. The float is truncated to an integer code, as XGBoost's
 * AsCat does.
 */
static inline int xgb_category_goes_right(const uint32_t *seg, float v)
{
    if (!(v >= 0.0f) || v >= XGB_MAX_CATEGORY)
        return 0;
    const uint32_t code = (uint32_t)v;
    const uint32_t word = code >> 5;
    if (word >= seg[0])
        return 0;
    return (int)((seg[1 + word] >> (code & 31u)) & 1u);
}

/* Hot path. The leaf value of one row in the tree rooted at i (any node kind). */
static inline float xgb_walk(const crest_xgb *model, uint32_t i, const float *x)
{
    const xgb_node *nodes = model->nodes;
    while (!(nodes[i].feature_flags & XGB_LEAF)) {
        const xgb_node *nd = &nodes[i];
        const float v = x[nd->feature_flags & XGB_FEATURE_MASK];
        uint32_t right;
        if (isnan(v))
            right = (nd->feature_flags >> 30) & 1u;
        else if (nd->feature_flags & XGB_CATEGORICAL)
            right = (uint32_t)xgb_category_goes_right(model->cat_bits + nd->u.cat_offset, v);
        else
            right = !(v < nd->thr);
        i = nd->left + right;
    }
    return nodes[i].u.leaf;
}

/* Hot path. Sum of leaf values in float32, in tree order, from the base margin. */
static float xgb_margin(const crest_xgb *model, const float *x)
{
    float sum = model->base_margin;
    for (size_t t = 0; t < model->n_trees; t++)
        sum += xgb_walk(model, model->tree_root[t], x);
    return sum;
}

/* Rows walked through one tree side by side, and rows per block. */
#define XGB_LANES 32
#define XGB_BLOCK 64

/*
 * Hot path. Margins of n <= XGB_BLOCK rows (row r at x + r * stride) into
 * sum[], each accumulated in tree order from the base margin, exactly as
 * xgb_margin does. Trees go in the outer loop, so a tree's nodes are loaded
 * once per block; within a tree, XGB_LANES rows walk side by side for the
 * tree's depth, branch-free (`x >= thr`, or the default direction when x is
 * NaN; leaves loop on themselves), so the lanes' node loads overlap instead
 * of each waiting for the previous one. A tree with categorical splits is
 * walked row by row.
 */
static void xgb_block_margin(const crest_xgb *model, const float *x, size_t stride, size_t n, float *sum)
{
    const xgb_node *nodes = model->nodes;
    for (size_t r = 0; r < n; r++)
        sum[r] = model->base_margin;
    for (size_t t = 0; t < model->n_trees; t++) {
        const uint32_t root = model->tree_root[t];
        if (model->tree_cat[t]) {
            for (size_t r = 0; r < n; r++)
                sum[r] += xgb_walk(model, root, x + r * stride);
            continue;
        }
        const uint32_t depth = model->tree_depth[t];
        size_t r = 0;
        for (; r + XGB_LANES <= n; r += XGB_LANES) {
            const float *row = x + r * stride;
            uint32_t idx[XGB_LANES];
            for (unsigned l = 0; l < XGB_LANES; l++)
                idx[l] = root;
            for (uint32_t d = 0; d < depth; d++) {
                for (unsigned l = 0; l < XGB_LANES; l++) {
                    const xgb_node *nd = &nodes[idx[l]];
                    const uint32_t ff = nd->feature_flags;
                    const float v = row[l * stride + (ff & XGB_FEATURE_MASK)];
                    idx[l] = nd->left + ((uint32_t)(v >= nd->thr) | ((uint32_t)(v != v) & ((ff >> 30) & 1u)));
                }
            }
            for (unsigned l = 0; l < XGB_LANES; l++)
                sum[r + l] += nodes[idx[l]].u.leaf;
        }
        for (; r < n; r++)
            sum[r] += xgb_walk(model, root, x + r * stride);
    }
}

crest_status crest_xgb_predict_rows(const crest_xgb *model, const float *features, size_t n_rows,
                                    size_t stride, int margin, double *out)
{
    if (!model || (!features && n_rows) || (!out && n_rows))
        return CREST_ERR_INVALID;
    if (stride < model->n_features)
        return CREST_ERR_MISMATCH;
    float sum[XGB_BLOCK];
    for (size_t r0 = 0; r0 < n_rows; r0 += XGB_BLOCK) {
        const size_t n = n_rows - r0 < XGB_BLOCK ? n_rows - r0 : XGB_BLOCK;
        xgb_block_margin(model, features + r0 * stride, stride, n, sum);
        for (size_t r = 0; r < n; r++)
            out[r0 + r] = margin ? (double)sum[r] : (double)(1.0f / (1.0f + expf(-sum[r])));
    }
    return CREST_OK;
}

crest_status crest_xgb_predict_margin(const crest_xgb *model, const float *features, size_t n_features,
                                      double *margin)
{
    if (!model || !features || !margin)
        return CREST_ERR_INVALID;
    if (n_features != model->n_features)
        return CREST_ERR_MISMATCH;
    *margin = (double)xgb_margin(model, features);
    return CREST_OK;
}

crest_status crest_xgb_predict(const crest_xgb *model, const float *features, size_t n_features, double *prob)
{
    if (!model || !features || !prob)
        return CREST_ERR_INVALID;
    if (n_features != model->n_features)
        return CREST_ERR_MISMATCH;
    /* XGBoost's logistic PredTransform: 1 / (1 + exp(-x)) in float32. */
    const float m = xgb_margin(model, features);
    *prob = (double)(1.0f / (1.0f + expf(-m)));
    return CREST_OK;
}

/* ------------------------------------------------------------------------ */
/* JSON helpers: each reports what is wrong and where in the document        */

static crest_status xgb_fail(xgb_loader *ld, crest_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static crest_status xgb_fail(xgb_loader *ld, crest_status st, const char *fmt, ...)
{
    char msg[sizeof((crest_diag *)0)->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return crest_diag_set(ld->diag, st, ld->label, 0, 0, "%s", msg);
}

static const char *xgb_type_name(const json_object *o)
{
    return o ? json_type_to_name(json_object_get_type(o)) : "missing";
}

/* Member `key` of object `obj` with JSON type `type`; `where` names obj. */
static crest_status xgb_member(xgb_loader *ld, json_object *obj, const char *where, const char *key,
                               json_type type, json_object **out)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(obj, key, &v) || !v)
        return xgb_fail(ld, CREST_ERR_MISSING, "%s has no member \"%s\".", where, key);
    if (!json_object_is_type(v, type))
        return xgb_fail(ld, CREST_ERR_INVALID, "%s.%s should be a JSON %s, found %s.", where, key,
                        json_type_to_name(type), xgb_type_name(v));
    *out = v;
    return CREST_OK;
}

/* Parse a non-negative integer written as a JSON integer or a decimal string. */
static crest_status xgb_count(xgb_loader *ld, json_object *obj, const char *where, const char *key,
                              size_t max, size_t *out)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(obj, key, &v) || !v)
        return xgb_fail(ld, CREST_ERR_MISSING, "%s has no member \"%s\".", where, key);
    unsigned long long n = 0;
    if (json_object_is_type(v, json_type_int)) {
        const int64_t i = json_object_get_int64(v);
        if (i < 0)
            return xgb_fail(ld, CREST_ERR_RANGE, "%s.%s is negative.", where, key);
        n = (unsigned long long)i;
    } else if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        char *end = NULL;
        errno = 0;
        if (*s < '0' || *s > '9')
            return xgb_fail(ld, CREST_ERR_INVALID, "%s.%s should be a non-negative integer, found \"%s\".",
                            where, key, s);
        n = strtoull(s, &end, 10);
        if (errno || *end != '\0')
            return xgb_fail(ld, CREST_ERR_INVALID, "%s.%s should be a non-negative integer, found \"%s\".",
                            where, key, s);
    } else {
        return xgb_fail(ld, CREST_ERR_INVALID, "%s.%s should be an integer, found %s.", where, key,
                        xgb_type_name(v));
    }
    if (n > max)
        return xgb_fail(ld, CREST_ERR_RANGE, "%s.%s = %llu exceeds the supported maximum %zu.", where, key, n,
                        max);
    *out = (size_t)n;
    return CREST_OK;
}

/* Array member `key` of length `n` (SIZE_MAX: any length). */
static crest_status xgb_array(xgb_loader *ld, json_object *obj, const char *where, const char *key, size_t n,
                              json_object **out)
{
    crest_status st = xgb_member(ld, obj, where, key, json_type_array, out);
    if (st != CREST_OK)
        return st;
    const size_t len = json_object_array_length(*out);
    if (n != SIZE_MAX && len != n)
        return xgb_fail(ld, CREST_ERR_MISMATCH, "%s.%s has %zu elements; expected %zu.", where, key, len, n);
    return CREST_OK;
}

/* Element i of an integer array, as a signed 64-bit value. */
static crest_status xgb_int_at(xgb_loader *ld, json_object *arr, size_t i, const char *where, const char *key,
                               int64_t *out)
{
    json_object *e = json_object_array_get_idx(arr, i);
    if (json_object_is_type(e, json_type_int)) {
        *out = json_object_get_int64(e);
        return CREST_OK;
    }
    if (json_object_is_type(e, json_type_boolean)) {
        *out = json_object_get_boolean(e) ? 1 : 0;
        return CREST_OK;
    }
    return xgb_fail(ld, CREST_ERR_INVALID, "%s.%s[%zu] should be an integer, found %s.", where, key, i,
                    xgb_type_name(e));
}

/*
 * Element i of a number array as float32. json-c keeps the source text of a
 * parsed double, and XGBoost writes the shortest text that round-trips a
 * float, so strtof on that text recovers XGBoost's float exactly (converting
 * via double could round twice). NaN is accepted; the caller decides.
 */
static crest_status xgb_float_at(xgb_loader *ld, json_object *arr, size_t i, const char *where,
                                 const char *key, float *out)
{
    json_object *e = json_object_array_get_idx(arr, i);
    if (json_object_is_type(e, json_type_int)) {
        *out = (float)json_object_get_int64(e);
        return CREST_OK;
    }
    if (json_object_is_type(e, json_type_double)) {
        const char *s = json_object_get_string(e);
        char *end = NULL;
        const float f = s ? strtof(s, &end) : 0.0f;
        *out = (s && end != s && *end == '\0') ? f : (float)json_object_get_double(e);
        return CREST_OK;
    }
    return xgb_fail(ld, CREST_ERR_INVALID, "%s.%s[%zu] should be a number, found %s.", where, key, i,
                    xgb_type_name(e));
}

/* ------------------------------------------------------------------------ */
/* Learner-level checks                                                      */

static crest_status xgb_check_version(xgb_loader *ld, json_object *root)
{
    json_object *ver = NULL;
    crest_status st = xgb_array(ld, root, "the model document", "version", SIZE_MAX, &ver);
    if (st != CREST_OK)
        return st;
    int64_t v[3] = {0, 0, 0};
    if (json_object_array_length(ver) < 2)
        return xgb_fail(ld, CREST_ERR_INVALID, "version should be [major, minor, patch].");
    for (size_t i = 0; i < 2; i++) {
        st = xgb_int_at(ld, ver, i, "the model document", "version", &v[i]);
        if (st != CREST_OK)
            return st;
    }
    if (v[0] < 1 || (v[0] == 1 && v[1] < 6) || v[0] > 3)
        return xgb_fail(ld, CREST_ERR_VERSION,
                        "XGBoost model version %lld.%lld is not supported; expected 1.6 to 3.x "
                        "(re-save the model with a supported XGBoost).",
                        (long long)v[0], (long long)v[1]);
    return CREST_OK;
}

static crest_status xgb_read_params(xgb_loader *ld, json_object *learner)
{
    const char *where = "learner.learner_model_param";
    json_object *mp = NULL, *obj = NULL, *name = NULL, *bs = NULL;
    crest_status st = xgb_member(ld, learner, "learner", "objective", json_type_object, &obj);
    if (st == CREST_OK)
        st = xgb_member(ld, obj, "learner.objective", "name", json_type_string, &name);
    if (st != CREST_OK)
        return st;
    const char *objective = json_object_get_string(name);
    if (strcmp(objective, "binary:logistic") != 0 && strcmp(objective, "reg:logistic") != 0)
        return xgb_fail(ld, CREST_ERR_INVALID,
                        "objective \"%s\" is not supported; expected \"binary:logistic\" or "
                        "\"reg:logistic\".",
                        objective);

    st = xgb_member(ld, learner, "learner", "learner_model_param", json_type_object, &mp);
    if (st != CREST_OK)
        return st;
    size_t n_class = 0, n_target = 1;
    st = xgb_count(ld, mp, where, "num_feature", XGB_MAX_FEATURES, &ld->model->n_features);
    if (st == CREST_OK)
        st = xgb_count(ld, mp, where, "num_class", SIZE_MAX, &n_class);
    if (st == CREST_OK && json_object_object_get_ex(mp, "num_target", NULL))
        st = xgb_count(ld, mp, where, "num_target", SIZE_MAX, &n_target);
    if (st != CREST_OK)
        return st;
    if (ld->model->n_features == 0)
        return xgb_fail(ld, CREST_ERR_RANGE, "%s.num_feature is 0.", where);
    if (n_class > 1 || n_target > 1)
        return xgb_fail(ld, CREST_ERR_INVALID,
                        "multi-output models are not supported (num_class %zu, num_target %zu).", n_class,
                        n_target);

    /* base_score is in probability space ("5E-1"; XGBoost 3 writes "[5E-1]"). */
    st = xgb_member(ld, mp, where, "base_score", json_type_string, &bs);
    if (st != CREST_OK)
        return st;
    const char *s = json_object_get_string(bs);
    char buf[64];
    size_t len = strlen(s);
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof buf)
        return xgb_fail(ld, CREST_ERR_INVALID, "%s.base_score \"%s\" is not a number.", where,
                        json_object_get_string(bs));
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end = NULL;
    const float base = strtof(buf, &end);
    if (end == buf || *end != '\0')
        return xgb_fail(ld, CREST_ERR_INVALID, "%s.base_score \"%s\" is not a number.", where,
                        json_object_get_string(bs));
    if (!(base > 0.0f && base < 1.0f))
        return xgb_fail(ld, CREST_ERR_RANGE,
                        "%s.base_score %s must lie strictly between 0 and 1 for a logistic "
                        "objective.",
                        where, buf);
    /* XGBoost's LogisticRegression::ProbToMargin, in float32. */
    ld->model->base_margin = -logf(1.0f / base - 1.0f);
    return CREST_OK;
}

static crest_status xgb_read_names(xgb_loader *ld, json_object *learner)
{
    json_object *names = NULL;
    if (!json_object_object_get_ex(learner, "feature_names", &names) || !names)
        return CREST_OK;
    if (!json_object_is_type(names, json_type_array))
        return xgb_fail(ld, CREST_ERR_INVALID, "learner.feature_names should be an array.");
    const size_t n = json_object_array_length(names);
    if (n == 0)
        return CREST_OK; /* XGBoost writes [] when the DMatrix had no names. */
    crest_xgb *m = ld->model;
    if (n != m->n_features)
        return xgb_fail(ld, CREST_ERR_MISMATCH, "learner.feature_names has %zu names but num_feature is %zu.",
                        n, m->n_features);
    m->feature_names = calloc(n, sizeof *m->feature_names);
    if (!m->feature_names)
        return xgb_fail(ld, CREST_ERR_NOMEM, "out of memory for %zu feature names.", n);
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(names, i);
        if (!json_object_is_type(e, json_type_string))
            return xgb_fail(ld, CREST_ERR_INVALID, "learner.feature_names[%zu] should be a string, found %s.",
                            i, xgb_type_name(e));
        const char *name = json_object_get_string(e);
        const size_t len = strlen(name);
        m->feature_names[i] = malloc(len + 1);
        if (m->feature_names[i])
            memcpy(m->feature_names[i], name, len + 1);
        if (!m->feature_names[i])
            return xgb_fail(ld, CREST_ERR_NOMEM, "out of memory for feature names.");
    }
    return CREST_OK;
}

static char *xgb_strdup(const char *s)
{
    const size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* feature_types ("q", "float", "int", "i" numeric; "c" categorical) and
 * learner.attributes (string values) when present. */
static crest_status xgb_read_types_attrs(xgb_loader *ld, json_object *learner)
{
    crest_xgb *m = ld->model;
    json_object *types = NULL, *attrs = NULL;
    if (json_object_object_get_ex(learner, "feature_types", &types) && types &&
        json_object_is_type(types, json_type_array) && json_object_array_length(types) > 0) {
        const size_t n = json_object_array_length(types);
        if (n != m->n_features)
            return xgb_fail(ld, CREST_ERR_MISMATCH,
                            "learner.feature_types has %zu types but num_feature is %zu.", n, m->n_features);
        if (!(m->feature_cat = calloc(n, 1)))
            return xgb_fail(ld, CREST_ERR_NOMEM, "out of memory for %zu feature types.", n);
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(types, i);
            if (!json_object_is_type(e, json_type_string))
                return xgb_fail(ld, CREST_ERR_INVALID, "learner.feature_types[%zu] should be a string.", i);
            m->feature_cat[i] = strcmp(json_object_get_string(e), "c") == 0;
        }
    }
    if (!json_object_object_get_ex(learner, "attributes", &attrs) || !attrs ||
        !json_object_is_type(attrs, json_type_object))
        return CREST_OK;
    const size_t n = (size_t)json_object_object_length(attrs);
    m->attr_key = calloc(n ? n : 1, sizeof *m->attr_key);
    m->attr_value = calloc(n ? n : 1, sizeof *m->attr_value);
    if (!m->attr_key || !m->attr_value)
        return xgb_fail(ld, CREST_ERR_NOMEM, "out of memory for the model's attributes.");
    json_object_object_foreach(attrs, key, val)
    {
        if (!json_object_is_type(val, json_type_string))
            continue;
        m->attr_key[m->n_attrs] = xgb_strdup(key);
        m->attr_value[m->n_attrs] = xgb_strdup(json_object_get_string(val));
        if (!m->attr_key[m->n_attrs] || !m->attr_value[m->n_attrs]) {
            m->n_attrs++;
            return xgb_fail(ld, CREST_ERR_NOMEM, "out of memory for the model's attributes.");
        }
        m->n_attrs++;
    }
    return CREST_OK;
}

/* ------------------------------------------------------------------------ */
/* Trees                                                                     */

/* The tree arrays of one XGBoost RegTree, checked for length. */
typedef struct xgb_tree_json {
    json_object *left, *right, *feature, *cond, *dleft, *split_type;
    json_object *cats, *cat_nodes, *cat_segs, *cat_sizes;
    size_t n_nodes;
} xgb_tree_json;

static crest_status xgb_tree_arrays(xgb_loader *ld, json_object *tree, const char *where, xgb_tree_json *tj)
{
    json_object *tp = NULL;
    size_t leaf_vec = 0;
    crest_status st = xgb_member(ld, tree, where, "tree_param", json_type_object, &tp);
    if (st != CREST_OK)
        return st;
    char tp_where[96];
    snprintf(tp_where, sizeof tp_where, "%s.tree_param", where);
    st = xgb_count(ld, tp, tp_where, "num_nodes", XGB_MAX_NODES, &tj->n_nodes);
    if (st == CREST_OK && json_object_object_get_ex(tp, "size_leaf_vector", NULL))
        st = xgb_count(ld, tp, tp_where, "size_leaf_vector", SIZE_MAX, &leaf_vec);
    if (st != CREST_OK)
        return st;
    if (tj->n_nodes == 0)
        return xgb_fail(ld, CREST_ERR_INVALID, "%s has no nodes.", where);
    if (leaf_vec > 1)
        return xgb_fail(ld, CREST_ERR_INVALID, "%s has vector leaves (size_leaf_vector %zu).", where,
                        leaf_vec);
    const size_t n = tj->n_nodes;
    if ((st = xgb_array(ld, tree, where, "left_children", n, &tj->left)) != CREST_OK ||
        (st = xgb_array(ld, tree, where, "right_children", n, &tj->right)) != CREST_OK ||
        (st = xgb_array(ld, tree, where, "split_indices", n, &tj->feature)) != CREST_OK ||
        (st = xgb_array(ld, tree, where, "split_conditions", n, &tj->cond)) != CREST_OK ||
        (st = xgb_array(ld, tree, where, "default_left", n, &tj->dleft)) != CREST_OK ||
        (st = xgb_array(ld, tree, where, "split_type", n, &tj->split_type)) != CREST_OK)
        return st;
    if ((st = xgb_array(ld, tree, where, "categories", SIZE_MAX, &tj->cats)) != CREST_OK ||
        (st = xgb_array(ld, tree, where, "categories_nodes", SIZE_MAX, &tj->cat_nodes)) != CREST_OK)
        return st;
    const size_t n_cat_nodes = json_object_array_length(tj->cat_nodes);
    if ((st = xgb_array(ld, tree, where, "categories_segments", n_cat_nodes, &tj->cat_segs)) != CREST_OK ||
        (st = xgb_array(ld, tree, where, "categories_sizes", n_cat_nodes, &tj->cat_sizes)) != CREST_OK)
        return st;
    return CREST_OK;
}

static crest_status xgb_grow_scratch(xgb_loader *ld, size_t n)
{
    if (n <= ld->scratch_cap)
        return CREST_OK;
    uint8_t *seen = realloc(ld->seen, n);
    if (!seen)
        return xgb_fail(ld, CREST_ERR_NOMEM, "out of memory for a tree of %zu nodes.", n);
    ld->seen = seen;
    uint32_t *order = realloc(ld->order, n * sizeof *order);
    if (!order)
        return xgb_fail(ld, CREST_ERR_NOMEM, "out of memory for a tree of %zu nodes.", n);
    ld->order = order;
    int32_t *seg = realloc(ld->cat_seg, n * sizeof *seg);
    if (!seg)
        return xgb_fail(ld, CREST_ERR_NOMEM, "out of memory for a tree of %zu nodes.", n);
    ld->cat_seg = seg;
    uint32_t *depth = realloc(ld->depth, n * sizeof *depth);
    if (!depth)
        return xgb_fail(ld, CREST_ERR_NOMEM, "out of memory for a tree of %zu nodes.", n);
    ld->depth = depth;
    ld->scratch_cap = n;
    return CREST_OK;
}

/* Reserve `n` words in the model's category table; returns the offset. */
static crest_status xgb_reserve_cat_words(xgb_loader *ld, size_t n, size_t *offset)
{
    crest_xgb *m = ld->model;
    if (n > UINT32_MAX - m->n_cat_words)
        return xgb_fail(ld, CREST_ERR_RANGE, "categorical split tables are too large.");
    if (m->n_cat_words + n > m->cat_cap) {
        size_t cap = m->cat_cap ? m->cat_cap : 256;
        while (cap < m->n_cat_words + n)
            cap *= 2;
        uint32_t *bits = realloc(m->cat_bits, cap * sizeof *bits);
        if (!bits)
            return xgb_fail(ld, CREST_ERR_NOMEM, "out of memory for categorical splits.");
        m->cat_bits = bits;
        m->cat_cap = cap;
    }
    *offset = m->n_cat_words;
    memset(m->cat_bits + *offset, 0, n * sizeof *m->cat_bits);
    m->n_cat_words += n;
    return CREST_OK;
}

/*
 * Build the category bitset of original node `o` (segment `seg` of the
 * tree's categories) and return its offset in the model's table.
 */
static crest_status xgb_build_categories(xgb_loader *ld, const xgb_tree_json *tj, const char *where, size_t o,
                                         size_t seg, uint32_t *offset_out)
{
    int64_t beg = 0, size = 0;
    crest_status st = xgb_int_at(ld, tj->cat_segs, seg, where, "categories_segments", &beg);
    if (st == CREST_OK)
        st = xgb_int_at(ld, tj->cat_sizes, seg, where, "categories_sizes", &size);
    if (st != CREST_OK)
        return st;
    const size_t n_cats = json_object_array_length(tj->cats);
    if (beg < 0 || size < 0 || (uint64_t)beg > n_cats || (uint64_t)size > n_cats - (size_t)beg)
        return xgb_fail(ld, CREST_ERR_MISMATCH,
                        "%s: categories of node %zu (segment %lld, size %lld) fall outside the "
                        "%zu-element categories array.",
                        where, o, (long long)beg, (long long)size, n_cats);
    int64_t max_code = -1;
    for (int64_t k = 0; k < size; k++) {
        int64_t c = 0;
        st = xgb_int_at(ld, tj->cats, (size_t)(beg + k), where, "categories", &c);
        if (st != CREST_OK)
            return st;
        if (c < 0 || c >= (int64_t)XGB_MAX_CATEGORY)
            return xgb_fail(ld, CREST_ERR_RANGE,
                            "%s.categories[%lld] = %lld is not a valid category code "
                            "(0 to 2^24 - 1).",
                            where, (long long)(beg + k), (long long)c);
        if (c > max_code)
            max_code = c;
    }
    const size_t n_words = max_code < 0 ? 0 : (size_t)(max_code >> 5) + 1;
    size_t off = 0;
    st = xgb_reserve_cat_words(ld, 1 + n_words, &off);
    if (st != CREST_OK)
        return st;
    uint32_t *segw = ld->model->cat_bits + off;
    segw[0] = (uint32_t)n_words;
    for (int64_t k = 0; k < size; k++) {
        json_object *e = json_object_array_get_idx(tj->cats, (size_t)(beg + k));
        const uint32_t c = (uint32_t)json_object_get_int64(e);
        segw[1 + (c >> 5)] |= 1u << (c & 31u);
    }
    *offset_out = (uint32_t)off;
    return CREST_OK;
}

/* Validate tree `t` and append it to the model in breadth-first order. */
static crest_status xgb_load_tree(xgb_loader *ld, json_object *tree, size_t t)
{
    char where[64];
    snprintf(where, sizeof where, "tree %zu", t);
    if (!json_object_is_type(tree, json_type_object))
        return xgb_fail(ld, CREST_ERR_INVALID, "%s should be a JSON object, found %s.", where,
                        xgb_type_name(tree));
    xgb_tree_json tj;
    memset(&tj, 0, sizeof tj);
    crest_status st = xgb_tree_arrays(ld, tree, where, &tj);
    if (st != CREST_OK)
        return st;
    const size_t n = tj.n_nodes;
    if ((st = xgb_grow_scratch(ld, n)) != CREST_OK)
        return st;
    crest_xgb *m = ld->model;
    if (n > XGB_MAX_NODES - m->n_nodes)
        return xgb_fail(ld, CREST_ERR_RANGE, "the ensemble has too many nodes.");
    if (m->n_nodes + n > ld->nodes_cap) {
        size_t cap = ld->nodes_cap ? ld->nodes_cap : 1024;
        while (cap < m->n_nodes + n)
            cap *= 2;
        xgb_node *grown = realloc(m->nodes, cap * sizeof *grown);
        if (!grown)
            return xgb_fail(ld, CREST_ERR_NOMEM, "out of memory for %zu nodes.", cap);
        m->nodes = grown;
        ld->nodes_cap = cap;
    }

    /* Map each categorical node to its segment; every categorical split needs one. */
    memset(ld->seen, 0, n);
    for (size_t i = 0; i < n; i++)
        ld->cat_seg[i] = -1;
    const size_t n_cat_nodes = json_object_array_length(tj.cat_nodes);
    for (size_t k = 0; k < n_cat_nodes; k++) {
        int64_t node = 0;
        if ((st = xgb_int_at(ld, tj.cat_nodes, k, where, "categories_nodes", &node)) != CREST_OK)
            return st;
        if (node < 0 || (uint64_t)node >= n || ld->cat_seg[node] >= 0)
            return xgb_fail(ld, CREST_ERR_INVALID,
                            "%s.categories_nodes[%zu] = %lld is not a distinct node index below "
                            "%zu.",
                            where, k, (long long)node, n);
        ld->cat_seg[node] = (int32_t)k;
    }

    /* Breadth-first walk from the root. A node reached twice means the child
     * links do not form a tree (shared child or cycle): refuse it. */
    const size_t base = m->n_nodes;
    size_t head = 0, tail = 1;
    uint32_t max_depth = 0;
    int has_cat = 0;
    ld->order[0] = 0;
    ld->seen[0] = 1;
    ld->depth[0] = 0;
    while (head < tail) {
        const size_t o = ld->order[head];
        xgb_node *nd = &m->nodes[base + head];
        const uint32_t dep = ld->depth[head];
        head++;
        int64_t l = 0, r = 0, feat = 0, dl = 0, stype = 0;
        float cond = 0.0f;
        if ((st = xgb_int_at(ld, tj.left, o, where, "left_children", &l)) != CREST_OK ||
            (st = xgb_int_at(ld, tj.right, o, where, "right_children", &r)) != CREST_OK ||
            (st = xgb_float_at(ld, tj.cond, o, where, "split_conditions", &cond)) != CREST_OK)
            return st;
        memset(nd, 0, sizeof *nd);
        if (l == -1 && r == -1) {
            if (!isfinite(cond))
                return xgb_fail(ld, CREST_ERR_INVALID, "%s: leaf %zu has a non-finite value.", where, o);
            nd->thr = NAN;
            nd->u.leaf = cond;
            nd->left = (uint32_t)(base + head - 1); /* a leaf loops on itself */
            nd->feature_flags = XGB_LEAF;
            if (dep > max_depth)
                max_depth = dep;
            continue;
        }
        if (l < 0 || r < 0 || (uint64_t)l >= n || (uint64_t)r >= n || l == r || l == 0 || r == 0)
            return xgb_fail(ld, CREST_ERR_INVALID,
                            "%s: node %zu has children %lld and %lld; expected two distinct "
                            "non-root node indices below %zu, or -1 and -1 for a leaf.",
                            where, o, (long long)l, (long long)r, n);
        if (ld->seen[l] || ld->seen[r])
            return xgb_fail(ld, CREST_ERR_INVALID,
                            "%s: node %lld is reached twice; the child links do not form a tree.", where,
                            (long long)(ld->seen[l] ? l : r));
        if ((st = xgb_int_at(ld, tj.feature, o, where, "split_indices", &feat)) != CREST_OK ||
            (st = xgb_int_at(ld, tj.dleft, o, where, "default_left", &dl)) != CREST_OK ||
            (st = xgb_int_at(ld, tj.split_type, o, where, "split_type", &stype)) != CREST_OK)
            return st;
        if (feat < 0 || (uint64_t)feat >= m->n_features)
            return xgb_fail(ld, CREST_ERR_MISMATCH,
                            "%s: node %zu splits on feature %lld but the model has %zu features.", where, o,
                            (long long)feat, m->n_features);
        if (stype != 0 && stype != 1)
            return xgb_fail(ld, CREST_ERR_INVALID, "%s: node %zu has unknown split_type %lld.", where, o,
                            (long long)stype);
        nd->feature_flags = (uint32_t)feat | (dl ? 0u : XGB_DEFAULT_RIGHT);
        if (stype == 1) {
            if (ld->cat_seg[o] < 0)
                return xgb_fail(ld, CREST_ERR_MISSING,
                                "%s: categorical node %zu is not listed in categories_nodes.", where, o);
            nd->feature_flags |= XGB_CATEGORICAL;
            nd->thr = NAN;
            has_cat = 1;
            if ((st = xgb_build_categories(ld, &tj, where, o, (size_t)ld->cat_seg[o], &nd->u.cat_offset)) !=
                CREST_OK)
                return st;
        } else {
            if (isnan(cond))
                return xgb_fail(ld, CREST_ERR_INVALID, "%s: numeric split at node %zu has a NaN threshold.",
                                where, o);
            nd->thr = cond;
        }
        ld->seen[l] = ld->seen[r] = 1;
        ld->order[tail] = (uint32_t)l;
        ld->order[tail + 1] = (uint32_t)r;
        ld->depth[tail] = ld->depth[tail + 1] = dep + 1;
        nd->left = (uint32_t)(base + tail);
        tail += 2;
    }
    m->tree_root[t] = (uint32_t)base;
    m->tree_depth[t] = max_depth;
    m->tree_cat[t] = (uint8_t)has_cat;
    m->n_nodes = base + tail;
    return CREST_OK;
}

/* ------------------------------------------------------------------------ */
/* Finding the trees without building the document                           */

/* 1-based line and column of byte `offset` in `text`. */
static void xgb_line_col(const char *text, size_t offset, unsigned long *line, unsigned long *col);

/* The structural scan: positions only, no values kept. */
typedef struct xgb_scan {
    const char *s;
    size_t n, pos;
    int found;     /* the trees array was seen (a second time: give up) */
    size_t arr[2]; /* its span, brackets included */
    size_t *span;  /* element spans */
    size_t n_spans, cap;
    int oom;
} xgb_scan;

static const char *const xgb_tree_path[] = {"learner", "gradient_booster", "model", "trees"};

static void xgb_scan_ws(xgb_scan *sc)
{
    while (sc->pos < sc->n && (sc->s[sc->pos] == ' ' || sc->s[sc->pos] == '\t' || sc->s[sc->pos] == '\n' ||
                               sc->s[sc->pos] == '\r'))
        sc->pos++;
}

/* A string at pos (its opening quote); key and key_len: its raw bytes. */
static int xgb_scan_string(xgb_scan *sc, const char **key, size_t *key_len)
{
    if (sc->pos >= sc->n || sc->s[sc->pos] != '"')
        return -1;
    const size_t beg = ++sc->pos;
    while (sc->pos < sc->n && sc->s[sc->pos] != '"') {
        if (sc->s[sc->pos] == '\\')
            sc->pos++;
        sc->pos++;
    }
    if (sc->pos >= sc->n)
        return -1;
    *key = sc->s + beg;
    *key_len = sc->pos - beg;
    sc->pos++;
    return 0;
}

/*
 * Skip one value. `matched` counts the keys of xgb_tree_path this value sits
 * under (-1: off the path). Returns -1 when the text cannot be followed.
 */
static int xgb_scan_value(xgb_scan *sc, int matched, unsigned depth)
{
    if (depth > 512)
        return -1;
    xgb_scan_ws(sc);
    if (sc->pos >= sc->n)
        return -1;
    const char c = sc->s[sc->pos];
    if (c == '"') {
        const char *k;
        size_t kn;
        return xgb_scan_string(sc, &k, &kn);
    }
    if (c == '{') {
        sc->pos++;
        xgb_scan_ws(sc);
        if (sc->pos < sc->n && sc->s[sc->pos] == '}') {
            sc->pos++;
            return 0;
        }
        for (;;) {
            const char *k;
            size_t kn;
            xgb_scan_ws(sc);
            if (xgb_scan_string(sc, &k, &kn) != 0)
                return -1;
            xgb_scan_ws(sc);
            if (sc->pos >= sc->n || sc->s[sc->pos] != ':')
                return -1;
            sc->pos++;
            int next = -1;
            if (matched >= 0 && matched < 4 && kn == strlen(xgb_tree_path[matched]) &&
                memcmp(k, xgb_tree_path[matched], kn) == 0)
                next = matched + 1;
            if (next == 4) {
                /* The trees: record each element's span. */
                if (sc->found)
                    return -1;
                sc->found = 1;
                xgb_scan_ws(sc);
                if (sc->pos >= sc->n || sc->s[sc->pos] != '[')
                    return -1;
                sc->arr[0] = sc->pos++;
                xgb_scan_ws(sc);
                if (sc->pos < sc->n && sc->s[sc->pos] == ']') {
                    sc->pos++;
                } else {
                    for (;;) {
                        xgb_scan_ws(sc);
                        const size_t beg = sc->pos;
                        if (xgb_scan_value(sc, -1, depth + 1) != 0)
                            return -1;
                        if (sc->n_spans == sc->cap) {
                            const size_t cap = sc->cap ? 2 * sc->cap : 256;
                            size_t *g = realloc(sc->span, 2 * cap * sizeof *g);
                            if (!g) {
                                sc->oom = 1;
                                return -1;
                            }
                            sc->span = g;
                            sc->cap = cap;
                        }
                        sc->span[2 * sc->n_spans] = beg;
                        sc->span[2 * sc->n_spans + 1] = sc->pos;
                        sc->n_spans++;
                        xgb_scan_ws(sc);
                        if (sc->pos < sc->n && sc->s[sc->pos] == ',') {
                            sc->pos++;
                            continue;
                        }
                        if (sc->pos < sc->n && sc->s[sc->pos] == ']') {
                            sc->pos++;
                            break;
                        }
                        return -1;
                    }
                }
                sc->arr[1] = sc->pos;
            } else if (xgb_scan_value(sc, next, depth + 1) != 0) {
                return -1;
            }
            xgb_scan_ws(sc);
            if (sc->pos < sc->n && sc->s[sc->pos] == ',') {
                sc->pos++;
                continue;
            }
            if (sc->pos < sc->n && sc->s[sc->pos] == '}') {
                sc->pos++;
                return 0;
            }
            return -1;
        }
    }
    if (c == '[') {
        sc->pos++;
        xgb_scan_ws(sc);
        if (sc->pos < sc->n && sc->s[sc->pos] == ']') {
            sc->pos++;
            return 0;
        }
        for (;;) {
            if (xgb_scan_value(sc, -1, depth + 1) != 0)
                return -1;
            xgb_scan_ws(sc);
            if (sc->pos < sc->n && sc->s[sc->pos] == ',') {
                sc->pos++;
                continue;
            }
            if (sc->pos < sc->n && sc->s[sc->pos] == ']') {
                sc->pos++;
                return 0;
            }
            return -1;
        }
    }
    /* A number or a literal: up to the next delimiter; json-c checks it. */
    const size_t beg = sc->pos;
    while (sc->pos < sc->n && !strchr(",]} \t\r\n", sc->s[sc->pos]))
        sc->pos++;
    return sc->pos > beg ? 0 : -1;
}

/*
 * Parse the tree element [beg, end) of ld->text with json-c. Errors carry
 * the line and column in the whole document.
 */
static crest_status xgb_parse_piece(xgb_loader *ld, size_t beg, size_t end, json_object **out)
{
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return xgb_fail(ld, CREST_ERR_NOMEM, "out of memory for the JSON parser.");
    *out = json_tokener_parse_ex(tok, ld->text + beg, (int)(end - beg));
    const enum json_tokener_error err = json_tokener_get_error(tok);
    size_t stop = beg + json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (*out && err == json_tokener_success && stop == end)
        return CREST_OK;
    json_object_put(*out);
    *out = NULL;
    unsigned long line = 0, col = 0;
    xgb_line_col(ld->text, stop < end ? stop : end, &line, &col);
    return crest_diag_set(
        ld->diag, CREST_ERR_SYNTAX, ld->label, line, col,
        "not valid JSON (%s); expected an XGBoost JSON model saved with save_model(\"m.json\").",
        err == json_tokener_success ? "unexpected data" : json_tokener_error_desc(err));
}

static crest_status xgb_read_trees(xgb_loader *ld, json_object *learner)
{
    json_object *gb = NULL, *gbname = NULL, *model = NULL, *gbp = NULL, *trees = NULL, *info = NULL;
    crest_status st = xgb_member(ld, learner, "learner", "gradient_booster", json_type_object, &gb);
    if (st == CREST_OK)
        st = xgb_member(ld, gb, "learner.gradient_booster", "name", json_type_string, &gbname);
    if (st != CREST_OK)
        return st;
    if (strcmp(json_object_get_string(gbname), "gbtree") != 0)
        return xgb_fail(ld, CREST_ERR_INVALID, "booster \"%s\" is not supported; expected \"gbtree\".",
                        json_object_get_string(gbname));
    const char *mw = "learner.gradient_booster.model";
    size_t n_trees = 0;
    if ((st = xgb_member(ld, gb, "learner.gradient_booster", "model", json_type_object, &model)) !=
            CREST_OK ||
        (st = xgb_member(ld, model, mw, "gbtree_model_param", json_type_object, &gbp)) != CREST_OK ||
        (st = xgb_count(ld, gbp, "gbtree_model_param", "num_trees", XGB_MAX_NODES, &n_trees)) != CREST_OK ||
        (st = xgb_array(ld, model, mw, "trees", ld->span ? 0 : n_trees, &trees)) != CREST_OK ||
        (st = xgb_array(ld, model, mw, "tree_info", n_trees, &info)) != CREST_OK)
        return st;
    if (ld->span && ld->n_spans != n_trees)
        return xgb_fail(ld, CREST_ERR_MISMATCH, "%s.%s has %zu elements; expected %zu.", mw, "trees",
                        ld->n_spans, n_trees);

    /* First pass: group ids (and, for a document parsed whole, the trees' shape). */
    for (size_t t = 0; t < n_trees; t++) {
        int64_t group = 0;
        if ((st = xgb_int_at(ld, info, t, mw, "tree_info", &group)) != CREST_OK)
            return st;
        if (group != 0)
            return xgb_fail(ld, CREST_ERR_INVALID,
                            "tree %zu belongs to output group %lld; only single-output models "
                            "are supported.",
                            t, (long long)group);
        if (ld->span)
            continue;
        json_object *tree = json_object_array_get_idx(trees, t), *left = NULL;
        if (!json_object_is_type(tree, json_type_object))
            return xgb_fail(ld, CREST_ERR_INVALID, "tree %zu should be a JSON object, found %s.", t,
                            xgb_type_name(tree));
        if (!json_object_object_get_ex(tree, "left_children", &left) ||
            !json_object_is_type(left, json_type_array))
            return xgb_fail(ld, CREST_ERR_MISSING, "tree %zu has no left_children array.", t);
    }
    crest_xgb *m = ld->model;
    m->tree_root = calloc(n_trees ? n_trees : 1, sizeof *m->tree_root);
    m->tree_depth = calloc(n_trees ? n_trees : 1, sizeof *m->tree_depth);
    m->tree_cat = calloc(n_trees ? n_trees : 1, sizeof *m->tree_cat);
    if (!m->tree_root || !m->tree_depth || !m->tree_cat)
        return xgb_fail(ld, CREST_ERR_NOMEM, "out of memory for %zu trees.", n_trees);
    for (size_t t = 0; t < n_trees; t++) {
        json_object *tree = NULL;
        if (ld->span) {
            /* One tree's objects at a time: parsed, flattened, freed. */
            if ((st = xgb_parse_piece(ld, ld->span[2 * t], ld->span[2 * t + 1], &tree)) != CREST_OK)
                return st;
            st = xgb_load_tree(ld, tree, t);
            json_object_put(tree);
        } else {
            st = xgb_load_tree(ld, json_object_array_get_idx(trees, t), t);
        }
        if (st != CREST_OK)
            return st;
        m->n_trees = t + 1;
    }
    return CREST_OK;
}

/* ------------------------------------------------------------------------ */
/* Entry points                                                              */

/* 1-based line and column of byte `offset` in `text`. */
static void xgb_line_col(const char *text, size_t offset, unsigned long *line, unsigned long *col)
{
    unsigned long ln = 1, cl = 1;
    for (size_t i = 0; i < offset; i++) {
        if (text[i] == '\n') {
            ln++;
            cl = 1;
        } else {
            cl++;
        }
    }
    *line = ln;
    *col = cl;
}

static crest_status xgb_parse(xgb_loader *ld, const char *json, size_t json_len, json_object **root_out)
{
    if (json_len > (size_t)INT_MAX)
        return xgb_fail(ld, CREST_ERR_RANGE, "the model file is larger than 2 GiB.");
    size_t lead = 0;
    while (lead < json_len && strchr(" \t\r\n", json[lead]) && json[lead] != '\0')
        lead++;
    if (lead == json_len)
        return xgb_fail(ld, CREST_ERR_SYNTAX, "the file is empty; expected an XGBoost JSON model.");
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return xgb_fail(ld, CREST_ERR_NOMEM, "out of memory for the JSON parser.");
    json_object *root = json_tokener_parse_ex(tok, json, (int)json_len);
    const enum json_tokener_error err = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    unsigned long line = 0, col = 0;
    if (!root || err != json_tokener_success) {
        json_object_put(root);
        if (end > json_len)
            end = json_len;
        xgb_line_col(json, end, &line, &col);
        if (err == json_tokener_continue)
            return crest_diag_set(ld->diag, CREST_ERR_SYNTAX, ld->label, line, col,
                                  "unexpected end of input: the JSON document is truncated.");
        return crest_diag_set(ld->diag, CREST_ERR_SYNTAX, ld->label, line, col,
                              "not valid JSON (%s); expected an XGBoost JSON model saved with "
                              "save_model(\"m.json\").",
                              json_tokener_error_desc(err));
    }
    while (end < json_len &&
           (json[end] == ' ' || json[end] == '\t' || json[end] == '\r' || json[end] == '\n'))
        end++;
    if (end < json_len) {
        json_object_put(root);
        xgb_line_col(json, end, &line, &col);
        return crest_diag_set(ld->diag, CREST_ERR_SYNTAX, ld->label, line, col,
                              "unexpected data after the end of the JSON document.");
    }
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return xgb_fail(ld, CREST_ERR_INVALID,
                        "the document should be a JSON object with \"learner\" and \"version\".");
    }
    *root_out = root;
    return CREST_OK;
}

crest_status crest_xgb_load_buffer(const char *json, size_t json_len, const char *label, crest_xgb **out,
                                   crest_diag *diag)
{
    xgb_loader ld;
    memset(&ld, 0, sizeof ld);
    ld.label = label ? label : "<buffer>";
    ld.diag = diag;
    crest_diag_clear(diag);
    if (!out)
        return xgb_fail(&ld, CREST_ERR_INVALID, "no output pointer given.");
    *out = NULL;
    if (!json)
        return xgb_fail(&ld, CREST_ERR_INVALID, "no JSON text given.");

    json_object *root = NULL, *learner = NULL;
    crest_status st = CREST_OK;
    xgb_scan sc;
    memset(&sc, 0, sizeof sc);
    sc.s = json;
    sc.n = json_len;
    char *skeleton = NULL;
    if (json_len <= (size_t)INT_MAX && xgb_scan_value(&sc, 0, 0) == 0 && sc.found) {
        /* The document without its trees' elements ("trees": []), then the trees one by one. */
        const size_t len = sc.arr[0] + 2 + (json_len - sc.arr[1]);
        skeleton = malloc(len);
        if (skeleton) {
            memcpy(skeleton, json, sc.arr[0]);
            memcpy(skeleton + sc.arr[0], "[]", 2);
            memcpy(skeleton + sc.arr[0] + 2, json + sc.arr[1], json_len - sc.arr[1]);
            st = xgb_parse(&ld, skeleton, len, &root);
            free(skeleton);
            ld.text = json;
            ld.span = sc.span;
            ld.n_spans = sc.n_spans;
            sc.span = NULL;
            if (st != CREST_OK) {
                /* Parse the whole text again for positions in the file itself. */
                json_object_put(root);
                root = NULL;
                free(ld.span);
                ld.span = NULL;
                ld.n_spans = 0;
                skeleton = NULL;
            }
        }
    }
    free(sc.span);
    if (!root) {
        st = xgb_parse(&ld, json, json_len, &root);
        if (st != CREST_OK)
            return st;
    }
    ld.model = calloc(1, sizeof *ld.model);
    if (!ld.model)
        st = xgb_fail(&ld, CREST_ERR_NOMEM, "out of memory for the model.");
    if (st == CREST_OK)
        st = xgb_check_version(&ld, root);
    if (st == CREST_OK)
        st = xgb_member(&ld, root, "the model document", "learner", json_type_object, &learner);
    if (st == CREST_OK)
        st = xgb_read_params(&ld, learner);
    if (st == CREST_OK)
        st = xgb_read_names(&ld, learner);
    if (st == CREST_OK)
        st = xgb_read_types_attrs(&ld, learner);
    if (st == CREST_OK)
        st = xgb_read_trees(&ld, learner);
    json_object_put(root);
    free(ld.span);
    free(ld.seen);
    free(ld.order);
    free(ld.cat_seg);
    free(ld.depth);
    if (st != CREST_OK) {
        crest_xgb_free(ld.model);
        return st;
    }
    *out = ld.model;
    return CREST_OK;
}

crest_status crest_xgb_load(const char *path, crest_xgb **out, crest_diag *diag)
{
    crest_diag_clear(diag);
    if (out)
        *out = NULL;
    if (!path)
        return crest_diag_set(diag, CREST_ERR_INVALID, "", 0, 0, "no model path given.");
    char *buf;
    size_t len;
    crest_status st =
        crest_file_read(path, crest_file_default_cap(CREST_FILE_MODEL), "model file", &buf, &len, diag);
    if (st == CREST_OK)
        st = crest_xgb_load_buffer(buf, len, path, out, diag);
    free(buf);
    return st;
}
