/*
 * crest_logit.h — L2-regularised logistic regression: fitting by Newton's
 * method (IRLS) with GSL, and the hot-path helpers that score with a fitted
 * coefficient vector.
 *
 * The fit minimises the penalised negative log-likelihood
 *
 *     J(beta) = -sum_i w_i [y_i log p_i + (1 - y_i) log(1 - p_i)]
 *               + (lambda / 2) * sum_{j != intercept} beta_j^2,
 *     p_i = sigmoid(x_i . beta),
 *
 * so each Newton step solves (X'WX + lambda P) delta = X'w(y - p) - lambda P beta
 * by Cholesky, P being the identity with a zero for the intercept column.
 * Loading or saving a fitted model is not this module's job.
 *
 * The fit allocates its workspace per call; the helpers allocate nothing and
 * are safe to call from any thread.
 */
#ifndef CREST_LOGIT_H
#define CREST_LOGIT_H

#include <stddef.h>

#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>

#include "crest/crest_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Value of crest_logit_fit_options.intercept_col meaning "no intercept column". */
#define CREST_LOGIT_NO_INTERCEPT ((size_t)-1)

typedef struct crest_logit_fit_options {
    /* Column of X that holds the intercept (normally all ones); it is not
     * penalised. CREST_LOGIT_NO_INTERCEPT penalises every column. Default 0. */
    size_t intercept_col;
    /* Maximum number of Newton iterations. Default 50. */
    size_t max_iter;
    /* Converged when ||delta||_2 <= tol_step * (1 + ||beta||_2). Default 1e-8. */
    double tol_step;
    /* Or when |J_old - J_new| <= tol_objective * (|J_new| + 0.1). Default 1e-12. */
    double tol_objective;
    /* Step halvings tried when a full Newton step does not lower J. Default 30. */
    size_t max_halvings;
} crest_logit_fit_options;

/* Why the fit stopped. */
typedef enum crest_logit_stop {
    CREST_LOGIT_STOP_CONVERGED = 0, /* a convergence test passed */
    CREST_LOGIT_STOP_MAX_ITER,      /* max_iter reached first */
    CREST_LOGIT_STOP_SINGULAR,      /* X'WX + lambda P not positive definite */
    CREST_LOGIT_STOP_NO_DESCENT,    /* no step halving lowered the objective */
    CREST_LOGIT_STOP_NONFINITE      /* a non-finite value appeared */
} crest_logit_stop;

typedef struct crest_logit_fit_report {
    size_t n_iter;    /* Newton iterations performed */
    double deviance;  /* -2 * weighted log-likelihood at beta_out */
    double objective; /* J(beta_out) = deviance / 2 + penalty */
    double step_norm; /* ||delta||_2 of the last step */
    int converged;    /* 1 when stop == CREST_LOGIT_STOP_CONVERGED */
    crest_logit_stop stop;
} crest_logit_fit_report;

/* Fill `opts` with the defaults documented above. */
CREST_API void crest_logit_fit_options_default(crest_logit_fit_options *opts);

/*
 * Fit the coefficients of an L2-regularised logistic regression.
 *
 *   X          n_rows x n_coef design matrix (include the intercept column).
 *   y          n_rows responses in [0, 1] (0/1 labels, or proportions).
 *   weights    n_rows non-negative case weights, or NULL for all ones.
 *   l2_lambda  penalty >= 0 on every coefficient except the intercept.
 *              With lambda > 0 the problem is strictly convex in the
 *              penalised coefficients, so separable data still converges.
 *   opts       NULL for the defaults.
 *   beta_out   n_coef vector: receives the coefficients (the last iterate
 *              when the fit does not converge).
 *   report     may be NULL; filled on every return past argument checks.
 *   diag       may be NULL; filled on failure ("<logit_fit>" as file).
 *
 * Returns CREST_OK when converged; CREST_ERR_MISMATCH for inconsistent
 * dimensions; CREST_ERR_INVALID for non-finite X, y outside [0, 1] or bad
 * weights; CREST_ERR_RANGE for a negative or non-finite lambda or an
 * intercept column out of range; CREST_ERR_NUMERIC when the iteration stops
 * without converging (see report->stop); CREST_ERR_NOMEM.
 * Never prints or aborts (GSL's error handler is switched off on entry).
 * Time per iteration is O(n_rows * n_coef^2).
 */
CREST_API crest_status crest_logit_fit(const gsl_matrix *X, const gsl_vector *y, const gsl_vector *weights,
                                       double l2_lambda, const crest_logit_fit_options *opts,
                                       gsl_vector *beta_out, crest_logit_fit_report *report,
                                       crest_diag *diag);

/*
 * Platt scaling: fit y ~ sigmoid(a + b · margin[i]) by unpenalised maximum
 * likelihood (crest_logit_fit on the columns [1, margin]). margin: n scores
 * on the log-odds scale (a model's logit, held out from its own fit for an
 * honest calibration); y: n labels in [0, 1]. Returns as crest_logit_fit
 * (CREST_ERR_INVALID for a non-finite margin; CREST_ERR_NUMERIC when the
 * labels are separated by the margin: no finite (a, b) exists).
 */
CREST_API crest_status crest_logit_platt_fit(const double *margin, const double *y, size_t n, double *a,
                                             double *b, crest_diag *diag);

/* Hot path. The linear predictor sum_{j < n} beta[j] * x[j]. Allocates nothing. */
CREST_API double crest_logit_predict_margin(const double *beta, const double *x, size_t n);

/*
 * Hot path. 1 / (1 + exp(-z)) without overflow for any z: exp is only ever
 * taken of a non-positive number. Returns 0 or 1 exactly only when the true
 * value rounds there; NaN gives NaN.
 */
CREST_API double crest_logit_sigmoid(double z);

/* log(1 + exp(z)) without overflow or loss of precision for any z. */
CREST_API double crest_logit_log1pexp(double z);

#ifdef __cplusplus
}
#endif
#endif /* CREST_LOGIT_H */
