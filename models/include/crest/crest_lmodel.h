/*
 * crest_lmodel.h — the logistic risk model fitted by crest: feature
 * extraction from a declaration, leak-free (out-of-fold) target encoding,
 * training with the L2 IRLS fitter of crest_logit.h, a versioned text model
 * file, and allocation-free scoring with per-feature explanations.
 *
 * It does not decide anything: the engine turns the probability into a lane
 * and writes the reason code MODEL with the contributions returned here.
 *
 * Feature spec (the policy's `[model] features = ...`): comma-separated
 * items, each KIND:BODY; spaces around tokens are ignored; KIND, field names
 * and hsN are case-insensitive; see models/README.md, "Logistic model".
 *
 *   te:KEY[*KEY...]   smoothed target encoding (log-odds) of a categorical key
 *                     or of an interaction of up to 4 keys (te:hs4*origin)
 *   cnt:KEY[*KEY...]  log(1 + training count) of the key (frequency encoding)
 *   log:NUM           log(x) for x > 0, else missing
 *   num:NUM           x itself
 *   rel:NUM/KEY       log(x) minus the (smoothed) median of log(x) among the
 *                     training rows of the same KEY (rel:unit_value/hs4)
 *   cat:KEY[*KEY...]  tree models only: the category's code from a table
 *                     learned at fit time (most frequent first), one shared
 *                     code for values unseen in training
 *
 *   KEY := hsN (the first N digits of hs_code, N = 1..12; hs2, hs4, hs6)
 *        | a canonical field name of crest_base.h (origin, enterprise_id, ...)
 *        | col(NAME)  any input column, by header name (case-insensitive)
 *   NUM := declared_value | net_mass_kg | quantity  (the engine's parsed values)
 *        | unit_value  (declared_value / net_mass_kg, when the mass is > 0)
 *        | another canonical field or col(NAME)  (its text read as a number)
 *
 * Numeric items give two model columns: the standardised value (0 when the
 * value is missing) and a missing indicator. te, cnt give one column.
 * Categorical texts are trimmed of spaces; an empty or absent field is the
 * category "" like any other; an unseen category gets the prior (te), a zero
 * count (cnt) or the global median (rel).
 *
 * Threads: a loaded (and bound) model is immutable and may be shared; scoring
 * allocates nothing and keeps its scratch on the stack.
 */
#ifndef CREST_LMODEL_H
#define CREST_LMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version written in the first line of a model file ("crest-lmodel 1"). */
#define CREST_LMODEL_FILE_VERSION 1
/* Most items a feature spec may hold, and most keys in one interaction. */
#define CREST_LMODEL_MAX_ITEMS 64
#define CREST_LMODEL_MAX_KEYS 4
/* Categorical keys longer than this many bytes are truncated (both when
 * training and scoring, so they stay consistent). */
#define CREST_LMODEL_KEY_MAX 512
/* Number of contributions an explanation carries. */
#define CREST_LMODEL_TOP_K 3
/* Bytes of one contribution's text with values (crest_lmodel_explain.text), NUL included. */
#define CREST_LMODEL_EXPLAIN_TEXT 200

typedef struct crest_lmodel crest_lmodel;                 /* fitted model, immutable after bind */
typedef struct crest_lmodel_trainer crest_lmodel_trainer; /* rows collected for one fit */

/*
 * Training options.
 *  - l2_lambda: L2 penalty on every coefficient but the intercept, in units of
 *    the summed (not averaged) log-likelihood over standardised features;
 *    >= 0, finite. Default 1.
 *  - smoothing: pseudo-count m of the m-estimate (pos + m * prior) / (n + m)
 *    used by te items, and the shrinkage count of rel medians; >= 0. Default 20.
 *  - folds: K >= 2 folds for the out-of-fold target encoding of training
 *    rows; a row's fold is a keyed SipHash of its decl_id (order-independent).
 *    At most 64. Default 5.
 *  - seed: key of that hash. Default 0x637265737420u.
 *  - max_iter: Newton iterations allowed (0 = the fitter's default, 50).
 */
typedef struct crest_lmodel_train_options {
    double l2_lambda;
    double smoothing;
    unsigned folds;
    uint64_t seed;
    unsigned max_iter;
} crest_lmodel_train_options;

/* Fill *opts with the defaults above. */
CREST_API void crest_lmodel_train_options_default(crest_lmodel_train_options *opts);

/* What a fit did. n_features counts model columns, the intercept excluded. */
typedef struct crest_lmodel_fit_report {
    size_t n_rows, n_features, n_positive;
    size_t n_iter;
    double deviance;
    int converged;
    /* With crest_lmodel_trainer_set_calibrate: the Platt parameters (see
     * crest_lmodel_calibration) and, over the training rows' cross-fitted
     * scores, the mean score before and after calibration. */
    int calibrated;
    double cal_a, cal_b;
    double heldout_mean_score, heldout_mean_calibrated;
} crest_lmodel_fit_report;

/*
 * Top contributions of one score: feature[i] is the spec item's canonical
 * text (e.g. "te:hs4*origin"), owned by the model and valid until it is
 * freed; contribution[i] is that item's share of the log-odds margin
 * (beta . standardised x, so relative to an average training row).
 * Only positive contributions are listed, largest first; n <= TOP_K.
 */
typedef struct crest_lmodel_explain {
    size_t n;
    const char *feature[CREST_LMODEL_TOP_K];
    /* The same item in words for an officer, derived from its spec: "importer
     * history" (te:enterprise_id: the importer's past illicit rate), "HS4 ×
     * origin history", "unit value vs HS4" (rel:unit_value/hs4), "declared
     * value" (log:declared_value), "Import Type" (cat:col(Import Type)). */
    const char *words[CREST_LMODEL_TOP_K];
    size_t item[CREST_LMODEL_TOP_K]; /* the spec item (0-based) of each contribution */
    /* Filled by crest_lmodel_explain_values only (has_text = 1; scoring sets
     * it to 0): the words with the declaration's values of the item's keys,
     * for an officer: "HS4 6204 × origin CN history", "importer
     * 91460100MA4Q0ERR9Y history", "unit value vs HS4 8528"; a numeric
     * item's words alone ("declared value"). A value is cut at 48 bytes;
     * control bytes and ; , " [ ] in it become '_'; an empty one reads "(none)". */
    int has_text;
    char text[CREST_LMODEL_TOP_K][CREST_LMODEL_EXPLAIN_TEXT];
    double contribution[CREST_LMODEL_TOP_K];
} crest_lmodel_explain;

/*
 * Write the canonical form of a feature spec into buf (NUL-terminated):
 * items joined by ", ", no other spaces except inside col(NAME), kinds and
 * field names lower-case. Use it to compare a policy's spec with
 * crest_lmodel_feature_spec(). buf_cap: size of buf in bytes.
 * Returns CREST_OK; CREST_ERR_SYNTAX / CREST_ERR_INVALID with diag
 * ("<feature spec>", line 1, column = 1-based byte offset of the offending
 * item or token, message naming the item); CREST_ERR_RANGE when buf is too
 * small; CREST_ERR_NOMEM.
 */
CREST_API crest_status crest_lmodel_spec_canonical(const char *feature_spec, char *buf, size_t buf_cap,
                                                   crest_diag *diag);

/*
 * Start a training run.
 *  feature_spec: see above. header/n_cols: the input's header (col(NAME)
 *  items are bound to it; may be NULL/0 when the spec names no column).
 *  opts: NULL for the defaults. out: receives the trainer (NULL on failure).
 * Returns CREST_OK; spec errors as crest_lmodel_spec_canonical;
 * CREST_ERR_MISMATCH (a col(NAME) not in the header, diag names the item);
 * CREST_ERR_RANGE (bad option); CREST_ERR_NOMEM.
 */
CREST_API crest_status crest_lmodel_trainer_create(const char *feature_spec, const crest_str *header,
                                                   size_t n_cols, const crest_lmodel_train_options *opts,
                                                   crest_lmodel_trainer **out, crest_diag *diag);

/*
 * Add one labelled training row (label 0 or 1). The trainer copies what it
 * needs (category keys, numbers, the fold); decl is only borrowed.
 * Returns CREST_OK, CREST_ERR_INVALID (label not 0/1), CREST_ERR_RANGE (more
 * than 2^32 - 2 categories in one item), CREST_ERR_NOMEM.
 */
CREST_API crest_status crest_lmodel_trainer_add(crest_lmodel_trainer *t, const crest_decl *decl, int label);

/*
 * Fit the model on the rows added so far: out-of-fold encodings for the
 * training design matrix, full-data encodings for the model, standardisation,
 * then crest_logit_fit. out receives a bound model (bound to the trainer's
 * header), free with crest_lmodel_free. report may be NULL; it is filled
 * also when the fit fails to converge. The trainer may be fitted again.
 * Returns CREST_OK; CREST_ERR_MISSING (no rows, or only one class);
 * CREST_ERR_NUMERIC (the Newton iteration did not converge: diag says why);
 * CREST_ERR_NOMEM.
 */
CREST_API crest_status crest_lmodel_trainer_fit(crest_lmodel_trainer *t, crest_lmodel **out,
                                                crest_lmodel_fit_report *report, crest_diag *diag);

/*
 * Ask the next crest_lmodel_trainer_fit to fit a calibration with the model
 * (on = 1): Platt scaling, the logistic regression of the label on the
 * model's log-odds, y ~ sigmoid(a + b · logit(score)). Its input is not the
 * model's in-sample score but a cross-fitted one: for each encoding fold k,
 * the coefficients are refitted on the rows of the other folds and score the
 * rows of fold k (whose encodings are already out of fold), so no row's
 * calibration input saw its own label. Costs `folds` more Newton fits.
 * The model then carries (a, b) (crest_lmodel_calibration), and its file a
 * "calibration platt A B" line. on = 0 (the default) fits none.
 */
CREST_API void crest_lmodel_trainer_set_calibrate(crest_lmodel_trainer *t, int on);

/*
 * For tests and audits: the value row `row` (0-based, in the order added)
 * gets for spec item `item_index` in the training design matrix, before
 * standardisation — for te the out-of-fold log-odds, for cnt the out-of-fold
 * log count, for log/num/rel the transformed number (NaN when missing; rel
 * only after a fit). Returns CREST_OK or CREST_ERR_RANGE (row or item out of
 * range).
 */
CREST_API crest_status crest_lmodel_trainer_value(const crest_lmodel_trainer *t, size_t row,
                                                  size_t item_index, double *value);

/* Free a trainer. NULL is a no-op. */
CREST_API void crest_lmodel_trainer_free(crest_lmodel_trainer *t);

/*
 * Write the model as a versioned text file (format in models/README.md).
 * Returns CREST_OK or CREST_ERR_IO (diag names the path and errno's text).
 */
CREST_API crest_status crest_lmodel_save(const crest_lmodel *m, const char *path, crest_diag *diag);

/*
 * Read and check a model file. The model is unbound: call crest_lmodel_bind
 * when its spec names col(NAME) items (until then they read as missing).
 * diag gets the path, the 1-based line and column and a sentence on failure.
 * Returns CREST_OK; CREST_ERR_IO; CREST_ERR_VERSION (first line is not
 * "crest-lmodel 1"); CREST_ERR_SYNTAX (malformed line, truncated file, spec
 * syntax); CREST_ERR_INVALID (malformed or non-finite number, bad key,
 * duplicate entry); CREST_ERR_MISMATCH (item or dimension does not match the
 * spec); CREST_ERR_NOMEM.
 */
CREST_API crest_status crest_lmodel_load(const char *path, crest_lmodel **out, crest_diag *diag);
/* crest_lmodel_load from len bytes at text (need not be NUL-terminated);
 * label names the source in diagnostics. */
CREST_API crest_status crest_lmodel_load_buffer(const char *text, size_t len, const char *label,
                                                crest_lmodel **out, crest_diag *diag);

/* The model's canonical feature spec (see crest_lmodel_spec_canonical),
 * owned by the model. */
CREST_API const char *crest_lmodel_feature_spec(const crest_lmodel *m);

/* Number of model columns (intercept excluded) and of spec items. */
CREST_API size_t crest_lmodel_n_features(const crest_lmodel *m);
CREST_API size_t crest_lmodel_n_items(const crest_lmodel *m);

/*
 * Resolve col(NAME) items against the input's header (case-insensitive,
 * spaces trimmed). Call once, before sharing the model between threads;
 * calling again rebinds. Returns CREST_OK or CREST_ERR_MISMATCH with diag
 * ("<feature spec>", column of the item) naming the missing column.
 */
/* Every input column the model's features read (see crest_column_fn). */
CREST_API void crest_lmodel_columns(const crest_lmodel *m, crest_column_fn fn, void *ctx);

CREST_API crest_status crest_lmodel_bind(crest_lmodel *m, const crest_str *header, size_t n_cols,
                                         crest_diag *diag);

/*
 * Hot path. Probability in (0, 1) that the declaration is illicit. When
 * explain is not NULL it receives the top positive contributions. Allocates
 * nothing, thread-safe on a shared model, never fails: missing or malformed
 * values take the documented defaults.
 */
CREST_API double crest_lmodel_score(const crest_lmodel *m, const crest_decl *decl,
                                    crest_lmodel_explain *explain);

/*
 * For models shared between inputs: the named columns (col(NAME) sources) of
 * m resolved against header into cols (crest_lmodel_column_count entries),
 * without changing m, and scoring with them. Returns as crest_lmodel_bind.
 */
CREST_API size_t crest_lmodel_column_count(const crest_lmodel *m);
CREST_API crest_status crest_lmodel_resolve_columns(const crest_lmodel *m, const crest_str *header,
                                                    size_t n_cols, size_t *cols, crest_diag *diag);
CREST_API double crest_lmodel_score_columns(const crest_lmodel *m, const size_t *cols, const crest_decl *decl,
                                            crest_lmodel_explain *explain);

/*
 * Hot path, for the rows whose explanation is shown (scoring leaves it out:
 * it costs a key per contribution). Fill explain->text for the n
 * contributions crest_lmodel_score_columns put in explain for decl (the same
 * declaration and cols; cols NULL for a bound model) and set has_text.
 * Allocates nothing.
 */
CREST_API void crest_lmodel_explain_values(const crest_lmodel *m, const size_t *cols, const crest_decl *decl,
                                           crest_lmodel_explain *explain);

/*
 * The model's Platt calibration: 1 and *a, *b (either may be NULL) when it
 * carries one, so that the calibrated probability of a score p is
 * sigmoid(a + b · logit(p)) (crest_lmodel_calibrate); 0 otherwise.
 */
CREST_API int crest_lmodel_calibration(const crest_lmodel *m, double *a, double *b);

/* Hot path. The calibrated probability of the model's score p (see
 * crest_lmodel_calibration); NaN when the model has no calibration or p is NaN. */
CREST_API double crest_lmodel_calibrate(const crest_lmodel *m, double p);

/* Free a model. NULL is a no-op. */
CREST_API void crest_lmodel_free(crest_lmodel *m);

/*
 * Tree models (crest_xgb_fit.h) use the same feature pipeline through a
 * *feature map*: a crest_lmodel without coefficients ("crest-fmap 1", same
 * body as a model file) whose items each give ONE column of the tree model's
 * input, in spec order: te/cnt the full-data encoding, cat the code, log/num
 * the transformed number and rel the relative log value, NaN when missing
 * (no standardisation, no indicator columns: trees route missing values).
 */

/*
 * Build the training matrix of a tree model and its feature map from the rows
 * added to `t`. in_train[r] != 0 marks the rows the map is learned from (NULL:
 * all rows); the others (a time-ordered validation split) are encoded with
 * that map as they would be when scored. X: n_rows * n_items floats, row
 * major (crest_lmodel_trainer_n_rows, crest_lmodel_n_items of the spec).
 * Training rows get out-of-fold te/cnt values; cat codes are ordered by
 * training frequency (ties by key bytes), unseen values share the code after
 * the last. map_out: a bound feature map (free with crest_lmodel_free).
 * Returns CREST_OK; CREST_ERR_MISSING (training rows of one class only);
 * CREST_ERR_RANGE (smoothing 0 made an encoding infinite); CREST_ERR_NOMEM.
 */
CREST_API crest_status crest_lmodel_trainer_tree_data(const crest_lmodel_trainer *t, const uint8_t *in_train,
                                                      float *X, crest_lmodel **map_out, crest_diag *diag);

/* Rows added to a trainer so far. */
CREST_API size_t crest_lmodel_trainer_n_rows(const crest_lmodel_trainer *t);

/*
 * Hot path. The tree-model input of one declaration: crest_lmodel_n_items(m)
 * floats into out, computed by the same code as the training matrix (NaN =
 * missing). Allocates nothing, thread-safe on a bound map.
 */
CREST_API void crest_lmodel_features(const crest_lmodel *m, const crest_decl *decl, float *out);
/* The same with columns resolved by crest_lmodel_resolve_columns (a map
 * shared between inputs); cols NULL: the map's own binding. */
CREST_API void crest_lmodel_features_columns(const crest_lmodel *m, const size_t *cols,
                                             const crest_decl *decl, float *out);

/* 1 when m is a feature map (crest_lmodel_trainer_tree_data, or loaded with
 * crest_lmodel_map_load_buffer), 0 for a logistic model. */
CREST_API int crest_lmodel_is_map(const crest_lmodel *m);

/* Canonical text of item i ("te:hs4*origin"), owned by m; NULL past the end. */
CREST_API const char *crest_lmodel_item_name(const crest_lmodel *m, size_t i);
/* Item i in words for an officer ("importer history", "HS4 × origin history",
 * "unit value vs HS4"; see crest_lmodel_explain.words); NULL when out of range. */
CREST_API const char *crest_lmodel_item_words(const crest_lmodel *m, size_t i);

/* 1 when item i is a cat: item (a category code), else 0. */
CREST_API int crest_lmodel_item_is_category(const crest_lmodel *m, size_t i);

/*
 * The feature map as text ("crest-fmap 1" ...), in *text (malloc'd, free it)
 * of *len bytes. Returns CREST_OK or CREST_ERR_NOMEM.
 */
CREST_API crest_status crest_lmodel_map_text(const crest_lmodel *m, char **text, size_t *len,
                                             crest_diag *diag);

/*
 * Read a feature map from len bytes of text; `label` names it in diagnostics.
 * The map is unbound (crest_lmodel_bind). Statuses as crest_lmodel_load, with
 * CREST_ERR_VERSION when the text does not start with "crest-fmap 1".
 */
CREST_API crest_status crest_lmodel_map_load_buffer(const char *text, size_t len, const char *label,
                                                    crest_lmodel **out, crest_diag *diag);

#ifdef __cplusplus
}
#endif
#endif /* CREST_LMODEL_H */
