/*
 * crest_xgb.h — native evaluator for XGBoost tree ensembles.
 *
 * Loads a binary-logistic gradient-boosted tree model saved by XGBoost's
 * `Booster.save_model("m.json")` (JSON format of XGBoost >= 1.6) and scores
 * dense feature vectors with the same float32 arithmetic as XGBoost's CPU
 * predictor: numeric splits `x < threshold`, categorical partition splits,
 * learned missing-value directions, base_score. JSON is parsed only at load;
 * the trees are flattened into compact arrays and scoring allocates nothing.
 *
 * Not supported (rejected at load with a diagnostic): UBJSON files, dart and
 * gblinear boosters, multi-class or multi-target models, objectives other
 * than binary:logistic and reg:logistic.
 *
 * A loaded model is immutable and may be shared by any number of threads.
 */
#ifndef CREST_XGB_H
#define CREST_XGB_H

#include <stddef.h>

#include "crest/crest_base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct crest_xgb crest_xgb;

/*
 * Load a model from the JSON file at `path`.
 *
 * On success stores a new model in *out (free it with crest_xgb_free) and
 * returns CREST_OK. On failure *out is NULL, nothing is leaked, and `diag`
 * (may be NULL) holds the file, the line and column for JSON syntax errors,
 * and a sentence naming the offending item. Statuses:
 *   CREST_ERR_IO        the file cannot be read;
 *   CREST_ERR_SYNTAX    not JSON (or truncated, or trailing garbage);
 *   CREST_ERR_VERSION   XGBoost version older than 1.6, or newer than 3.x;
 *   CREST_ERR_INVALID   wrong objective or booster, malformed tree
 *                       (bad child index, cycle, non-finite leaf, ...);
 *   CREST_ERR_MISSING   a required member is absent;
 *   CREST_ERR_MISMATCH  array lengths or feature counts disagree;
 *   CREST_ERR_RANGE     a count or index out of the supported range;
 *   CREST_ERR_NOMEM     allocation failed.
 */
CREST_API crest_status crest_xgb_load(const char *path, crest_xgb **out, crest_diag *diag);

/*
 * Same as crest_xgb_load, from `json_len` bytes at `json` (need not be
 * NUL-terminated). `label` names the source in diagnostics (e.g. "<memory>");
 * NULL means "<buffer>". The buffer is not retained.
 */
CREST_API crest_status crest_xgb_load_buffer(const char *json, size_t json_len, const char *label,
                                             crest_xgb **out, crest_diag *diag);

/* Release a model. NULL is a no-op. */
CREST_API void crest_xgb_free(crest_xgb *model);

/* Number of input features the model expects (XGBoost's num_feature). */
CREST_API size_t crest_xgb_n_features(const crest_xgb *model);

/* Number of trees in the ensemble. */
CREST_API size_t crest_xgb_n_trees(const crest_xgb *model);

/*
 * Name of feature `index` as saved in `feature_names`, or NULL when the model
 * has no names or index >= crest_xgb_n_features(). Owned by the model.
 */
CREST_API const char *crest_xgb_feature_name(const crest_xgb *model, size_t index);

/* 1 when feature `index` is categorical (feature_types "c"), else 0. */
CREST_API int crest_xgb_feature_is_category(const crest_xgb *model, size_t index);

/* 1 when the model saved feature_types, else 0. */
CREST_API int crest_xgb_has_feature_types(const crest_xgb *model);

/*
 * Value of the string attribute `key` of learner.attributes (XGBoost's
 * Booster.set_attr), or NULL. Owned by the model. A model trained by
 * `crest fit` carries its feature map in "crest_feature_map".
 */
CREST_API const char *crest_xgb_attribute(const crest_xgb *model, const char *key);

/*
 * Index of the feature named `name` (exact match), or -1 when the model has
 * no such name. Linear in the number of features: resolve once at bind time.
 */
CREST_API long crest_xgb_feature_index(const crest_xgb *model, const char *name);

/*
 * Hot path. Score one row: `features` holds n_features values in model order,
 * NaN meaning missing; categorical features hold the category code as a
 * number. Writes P(y = 1) = sigmoid(margin) to *prob, computed in float32 as
 * XGBoost does. Allocates nothing; safe to call concurrently on one model.
 * Returns CREST_OK, or CREST_ERR_MISMATCH when n_features differs from
 * crest_xgb_n_features() (then *prob is left unchanged).
 */
CREST_API crest_status crest_xgb_predict(const crest_xgb *model, const float *features, size_t n_features,
                                         double *prob);

/*
 * Hot path. Like crest_xgb_predict but writes the raw margin (log-odds):
 * base margin plus the sum of the trees' leaf values, accumulated in float32.
 */
CREST_API crest_status crest_xgb_predict_margin(const crest_xgb *model, const float *features,
                                                size_t n_features, double *margin);

/*
 * Hot path. Score n_rows rows at once: row r's n_features values start at
 * features + r * stride (stride >= crest_xgb_n_features). Writes
 * P(y = 1) to out[r] (margin = 0) or the raw margin (margin = 1), bit for bit
 * what crest_xgb_predict / crest_xgb_predict_margin give for that row (and
 * XGBoost's predict). Rows are scored in blocks of 64, several rows walking
 * each tree side by side, which is faster than one row at a time. Allocates
 * nothing; safe to call concurrently (split the rows between threads).
 * Returns CREST_OK, CREST_ERR_MISMATCH (stride too small), CREST_ERR_INVALID.
 */
CREST_API crest_status crest_xgb_predict_rows(const crest_xgb *model, const float *features, size_t n_rows,
                                              size_t stride, int margin, double *out);

#ifdef __cplusplus
}
#endif
#endif /* CREST_XGB_H */
