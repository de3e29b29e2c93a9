/*
 * crest_xgb_fit.h — train a gradient-boosted tree model with libxgboost's C
 * API (XGBoost 1.7, binary:logistic, hist) on the features of a crest feature
 * spec, and write it as XGBoost's own JSON with crest's feature map inside.
 *
 * The features are computed by crest_lmodel's pipeline (crest_lmodel.h: te,
 * cnt, log, num, rel and cat items, out-of-fold encodings for training rows),
 * so scoring (crest_risk with [model] kind = xgboost) computes exactly the
 * columns the trees were trained on. The map travels in the JSON as the
 * learner attribute "crest_feature_map" (Python: `bst.attr("crest_feature_map")`),
 * the feature names are the items' canonical texts and cat items have
 * feature type "c" (XGBoost's categorical splits).
 *
 * Early stopping watches a validation set: either the last fraction of the
 * rows by decl_date (encoded with a map learned on the earlier rows only, as
 * they would be scored), or rows added as validation rows (`--valid FILE`).
 * After a date split the model is refitted on all rows with the best number
 * of rounds (option refit). Deterministic: the same rows, spec, options and
 * seed give a byte-identical file (hist is deterministic on CPU).
 *
 * This module does not decide anything and never prints.
 */
#ifndef CREST_XGB_FIT_H
#define CREST_XGB_FIT_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_base.h"
#include "crest/crest_lmodel.h"
#include "crest/crest_xgb.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The learner attribute that carries crest's feature map. */
#define CREST_XGB_MAP_ATTRIBUTE "crest_feature_map"

typedef struct crest_xgb_trainer crest_xgb_trainer;

/*
 * Options.
 *  - params: XGBoost parameters as "name=value, name=value" (max_depth=8,
 *    eta=0.05, subsample=0.8, min_child_weight=1, ...), passed to
 *    XGBoosterSetParam after crest's defaults (objective binary:logistic,
 *    tree_method hist, eval_metric logloss, max_depth 6, eta 0.1). Four names
 *    are crest's own and not passed on: rounds (most boosting rounds, default
 *    1000), early_stopping (rounds without improvement of the first
 *    eval_metric on the validation rows before stopping, default 50; 0 = no
 *    early stopping, all rounds), valid_fraction (the last share of rows by
 *    date held out, default 0.1; 0 = none), refit (1 = after a date split,
 *    refit on all rows with the best number of rounds; default 1). NULL: none.
 *  - seed: XGBoost's seed and the key of the encoding folds.
 *  - n_threads: XGBoost's nthread (>= 1).
 *  - smoothing, folds: as crest_lmodel_train_options (te encodings).
 */
typedef struct crest_xgb_fit_options {
    const char *params;
    uint64_t seed;
    unsigned n_threads;
    double smoothing;
    unsigned folds;
} crest_xgb_fit_options;

/* Defaults: no params, seed 0x637265737420, 2 threads, smoothing 20, 5 folds. */
CREST_API void crest_xgb_fit_options_default(crest_xgb_fit_options *opts);

/* What a fit did. */
typedef struct crest_xgb_fit_report {
    size_t n_rows, n_positive; /* all rows added */
    size_t n_train, n_valid;   /* rows of the early-stopping fit */
    int32_t valid_from;        /* first date of the date split, CREST_DATE_NONE otherwise */
    unsigned n_rounds;         /* trees in the written model */
    unsigned rounds_run;       /* rounds boosted before stopping */
    double best_score;         /* the metric at the best round (NaN without validation) */
    char metric[32];           /* its name (logloss, auc, ...) */
    int refitted;              /* 1 when the model was refitted on all rows */
    size_t n_features;
} crest_xgb_fit_report;

/*
 * Start a fit on the feature spec (crest_lmodel.h grammar) for an input with
 * this header. Checks the params text (unknown crest names, malformed
 * items). Returns CREST_OK; spec errors as crest_lmodel_trainer_create;
 * CREST_ERR_INVALID (params; diag names the item); CREST_ERR_NOMEM.
 */
CREST_API crest_status crest_xgb_trainer_create(const char *feature_spec, const crest_str *header,
                                                size_t n_cols, const crest_xgb_fit_options *opts,
                                                crest_xgb_trainer **out, crest_diag *diag);

/*
 * Add one labelled row (label 0/1); valid = 1 marks a validation row (from a
 * separate file; then no date split is made). decl is only borrowed.
 * Returns CREST_OK, CREST_ERR_INVALID (label), CREST_ERR_NOMEM.
 */
CREST_API crest_status crest_xgb_trainer_add(crest_xgb_trainer *t, const crest_decl *decl, int label,
                                             int valid);

/*
 * Train and write the model to `path` (XGBoost JSON, written to a temporary
 * name beside it and renamed). report may be NULL.
 * Returns CREST_OK; CREST_ERR_MISSING (no rows of one class, or a split that
 * leaves no training or no validation rows); CREST_ERR_INVALID (XGBoost
 * rejected a parameter: diag quotes its message); CREST_ERR_IO; CREST_ERR_NOMEM.
 */
CREST_API crest_status crest_xgb_trainer_fit(crest_xgb_trainer *t, const char *path,
                                             crest_xgb_fit_report *report, crest_diag *diag);

/*
 * The same fit, kept in memory (the simulation's refits): *model is the
 * fitted ensemble as crest_xgb_load would read it from the written file, and
 * *map its feature map, bound to the trainer's header: score a row with
 * crest_lmodel_features(*map, ...) then crest_xgb_predict(*model, ...).
 * Free both. The trainer may take more rows and be fitted again.
 * Statuses as crest_xgb_trainer_fit (no CREST_ERR_IO).
 */
CREST_API crest_status crest_xgb_trainer_fit_model(crest_xgb_trainer *t, crest_xgb **model,
                                                   crest_lmodel **map, crest_xgb_fit_report *report,
                                                   crest_diag *diag);

/* Free; NULL is a no-op. */
CREST_API void crest_xgb_trainer_free(crest_xgb_trainer *t);

#ifdef __cplusplus
}
#endif
#endif /* CREST_XGB_FIT_H */
