/*
 * crest_risk.h — the one small interface between the engine and the risk
 * models. A crest_risk combines, for one declaration:
 *   - selection criteria (crest_rules: PCRE2 patterns, ranges, lists, bands),
 *   - an optional model: the logistic model fitted by `crest fit`
 *     (crest_lmodel) or an XGBoost tree ensemble (crest_xgb),
 * into a risk score in (0, 1):
 *     z = bias + Σ weights of the hit weight rules + model_weight · logit(p_model)
 *     score = 1 / (1 + exp(−z))
 * and reports the hit rules (with their lane-forcing candidates) and the
 * model's top contributing features. What the score and the forcing mean for
 * the decision (tiers, rates, draws) is the engine's business, not this layer's.
 *
 * A crest_risk is immutable once created and shareable between threads and
 * between inputs: crest_risk_bind resolves an input's column names into a
 * separate crest_risk_binding (one per input), and each thread evaluates
 * with its own crest_risk_scratch made for that binding.
 */
#ifndef CREST_RISK_H
#define CREST_RISK_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_base.h"
#include "crest/crest_lmodel.h"
#include "crest/crest_rules.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * GSL's default error handler aborts the process; crest checks every GSL
 * return value instead. crest_models_init turns the handler off
 * (gsl_set_error_handler_off), once per process however often and from however
 * many threads it is called. This is the only place crest touches GSL's
 * handler: crest_init calls it, and so does every crest function that calls
 * GSL (model fitting, calibration), before its first GSL call. The setting is
 * process-wide: a host program that needs GSL's handler for its own GSL calls
 * installs it again after its first crest call, and crest's GSL calls then go
 * through the host's handler.
 */
CREST_API void crest_models_init(void);

typedef enum crest_risk_model_kind {
    CREST_RISK_MODEL_NONE = 0,
    CREST_RISK_MODEL_LOGISTIC, /* crest_lmodel file written by `crest fit` */
    CREST_RISK_MODEL_XGBOOST,  /* XGBoost save_model("m.json") */
    /* A score computed elsewhere (a model trained in another tool): the model's
     * probability is the number in the input column that model_features names
     * (a header name, else a canonical field). A value that is empty, not a
     * number or outside [0, 1] is missing: no model term for that row. */
    CREST_RISK_MODEL_COLUMN
} crest_risk_model_kind;

typedef struct crest_risk_config {
    const char *criteria_path; /* selection criteria CSV; NULL for none */
    const char *tables_dir;    /* lists and bands; NULL: "lists/" beside the criteria */
    uint32_t match_limit;      /* PCRE2 limits; 0 = defaults */
    uint32_t depth_limit;
    unsigned max_hits; /* "maximum hits with no selection"; 0 = the criteria file's */
    crest_risk_model_kind model_kind;
    const char *model_path;
    /*
     * Logistic: the feature spec the policy expects; loading fails when the
     * model file was fitted on another spec (NULL accepts the file's).
     * XGBoost: the mapping from declaration fields to the model's features, in
     * the model's feature order: comma-separated `num:FIELD`, `log:FIELD`
     * (natural log, missing when ≤ 0) or `cat:FIELD` (a category code, handed
     * to the model as XGBoost would: fractional codes truncate), where FIELD is
     * a canonical field, `unit_value`, or `col(Header)`. Empty or non-numeric
     * values are missing (NaN: the tree's default direction).
     */
    const char *model_features; /* CREST_RISK_MODEL_COLUMN: the score column */
    double bias;                /* z offset */
    double model_weight;        /* coefficient of the model's log-odds in z */
    /* Where the bytes of the criteria, tables and model come from
     * (crest_file.h); NULL reads each as a bounded regular file. */
    crest_file_reader read;
    void *read_ctx;
} crest_risk_config;

/* Defaults: no rules, no model, bias 0, model_weight 1. */
CREST_API void crest_risk_config_default(crest_risk_config *cfg);

typedef struct crest_risk crest_risk;
typedef struct crest_risk_binding crest_risk_binding;
typedef struct crest_risk_scratch crest_risk_scratch;

typedef struct crest_risk_result {
    double z;                     /* combined log-odds */
    double score;                 /* sigmoid(z) */
    double model_prob;            /* the model's probability; NaN without a model */
    double prob;                  /* the model's calibrated probability (crest_risk_calibrated); else NaN */
    crest_rules_result rules;     /* hits (all zero without criteria) */
    crest_lmodel_explain explain; /* logistic model's top contributions (n = 0 otherwise) */
} crest_risk_result;

/* Load criteria and model as configured. Errors name file, line and column. */
CREST_API crest_status crest_risk_create(const crest_risk_config *cfg, crest_risk **out, crest_diag *diag);

/*
 * Resolve the column names the criteria and the model use against an input's
 * header into *out (free with crest_risk_binding_free), leaving risk as it
 * is. Returns CREST_OK, CREST_ERR_MISMATCH or CREST_ERR_MISSING (a named
 * column the input lacks; diag says which), CREST_ERR_NOMEM.
 */
CREST_API crest_status crest_risk_bind(const crest_risk *risk, const crest_str *header, size_t n_cols,
                                       crest_risk_binding **out, crest_diag *diag);
/* Free; NULL is a no-op. Scratches made for it must be freed first. */
CREST_API void crest_risk_binding_free(crest_risk_binding *binding);

/* Per-thread scratch (PCRE2 match data, feature buffers) for declarations of
 * the input of binding (NULL: named columns never match). binding must
 * outlive the scratch. */
CREST_API crest_status crest_risk_scratch_create(const crest_risk *risk, const crest_risk_binding *binding,
                                                 crest_risk_scratch **out);
CREST_API void crest_risk_scratch_free(crest_risk_scratch *scratch);
/* Every decl evaluated with this scratch has valid UTF-8 fields
 * (crest_rules_scratch_promise_valid_utf8). */
CREST_API void crest_risk_scratch_promise_valid_utf8(crest_risk_scratch *scratch);

/* Hot path: score one declaration. Allocates nothing. */
CREST_API void crest_risk_eval(const crest_risk *risk, crest_risk_scratch *scratch, const crest_decl *decl,
                               crest_risk_result *out);

/* Every input column the criteria and the model read (crest_column_fn). */
CREST_API void crest_risk_columns(const crest_risk *risk, crest_column_fn fn, void *ctx);
/* 1 when some criterion or feature names a non-canonical column, so that
 * crest_risk_bind must resolve it against a header (the object is then not
 * shareable between inputs with different headers); 0 when binding is a
 * no-op and one object serves every engine. */
CREST_API int crest_risk_needs_header(const crest_risk *risk);

/* The loaded criteria (NULL when none), for rule ids, lanes and rationales. */
CREST_API const crest_rules *crest_risk_rules(const crest_risk *risk);

/* What a decision needs of criterion i (0 .. crest_risk_rule_count − 1). */
typedef struct crest_risk_rule_info {
    const char *id;     /* owned by risk */
    int lane;           /* the lane it forces (crest_rules_lane), 0 for a weight rule */
    double probability; /* of the forcing */
    int credit_sensitive;
    const char *rationale; /* text shown to the officer, "" when none; owned by risk */
} crest_risk_rule_info;
CREST_API size_t crest_risk_rule_count(const crest_risk *risk);
/* CREST_ERR_RANGE when i is out of range. */
CREST_API crest_status crest_risk_rule(const crest_risk *risk, size_t i, crest_risk_rule_info *out);
/* The reason code of "maximum hits" (a criteria row's id or "MAX_HITS"); NULL without criteria. */
CREST_API const char *crest_risk_max_hits_id(const crest_risk *risk);
/*
 * Hot path, for a result whose explanation is shown: the logistic model's
 * contributions in words with decl's values (crest_lmodel_explain_values),
 * decl and scratch being those of the crest_risk_eval that made result.
 * Nothing without a logistic model or contributions. Allocates nothing.
 */
CREST_API void crest_risk_explain_values(const crest_risk *risk, const crest_risk_scratch *scratch,
                                         const crest_decl *decl, crest_risk_result *result);
/*
 * 1 when the model carries a calibration fitted with it (a logistic model's
 * Platt scaling, crest_lmodel_calibration): crest_risk_eval then sets
 * result.prob, the calibrated probability that the declaration is illicit
 * given the model's score. Criteria weights and the bias are not in it.
 */
CREST_API int crest_risk_calibrated(const crest_risk *risk);
/* 1 when the configuration scores anything (criteria or a model). */
CREST_API int crest_risk_active(const crest_risk *risk);

/* Free; NULL is a no-op. */
CREST_API void crest_risk_free(crest_risk *risk);

#ifdef __cplusplus
}
#endif
#endif
