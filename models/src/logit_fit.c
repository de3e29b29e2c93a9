/*
 * logit_fit.c — Newton/IRLS fit of an L2-regularised logistic regression,
 * plus the stable sigmoid and margin helpers used on the scoring path.
 *
 * Each iteration forms the penalised Hessian H = X'WX + lambda P and gradient
 * g = X'w(y - p) - lambda P beta, solves H delta = g by Cholesky (H is
 * positive definite whenever lambda > 0 and every column but the intercept is
 * penalised), and takes the step, halved while it fails to lower the
 * objective (the full Newton step can overshoot far from the optimum).
 * Nothing here reads files or keeps state between calls.
 */
#include "crest/crest_logit.h"
#include "crest/crest_risk.h"

#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LOGIT_LABEL "<logit_fit>"

/* ------------------------------------------------------------------------ */
/* Hot-path helpers                                                          */

/* Hot path. */
double crest_logit_sigmoid(double z)
{
    if (z >= 0.0)
        return 1.0 / (1.0 + exp(-z));
    const double e = exp(z); /* z < 0 (or NaN): no overflow */
    return e / (1.0 + e);
}

/* log(1 + e^z) = max(z, 0) + log1p(e^-|z|). */
double crest_logit_log1pexp(double z)
{
    if (z > 0.0)
        return z + log1p(exp(-z));
    return log1p(exp(z));
}

/* Hot path. */
double crest_logit_predict_margin(const double *beta, const double *x, size_t n)
{
    double s = 0.0;
    for (size_t j = 0; j < n; j++)
        s += beta[j] * x[j];
    return s;
}

void crest_logit_fit_options_default(crest_logit_fit_options *opts)
{
    if (!opts)
        return;
    opts->intercept_col = 0;
    opts->max_iter = 50;
    opts->tol_step = 1e-8;
    opts->tol_objective = 1e-12;
    opts->max_halvings = 30;
}

/* ------------------------------------------------------------------------ */
/* Fit workspace and kernels                                                 */

typedef struct logit_work {
    const gsl_matrix *X;
    const gsl_vector *y;
    const gsl_vector *w; /* NULL: unit weights */
    size_t n, p;
    size_t icol; /* unpenalised column, or CREST_LOGIT_NO_INTERCEPT */
    double lambda;
    gsl_matrix *H;
    gsl_vector *g, *delta, *beta, *trial;
    double *eta;   /* X beta */
    double *xd;    /* X delta */
    double *resid; /* w_i (y_i - p_i) */
    double *hw;    /* w_i p_i (1 - p_i) */
} logit_work;

static void logit_work_free(logit_work *lw)
{
    gsl_matrix_free(lw->H);
    gsl_vector_free(lw->g);
    gsl_vector_free(lw->delta);
    gsl_vector_free(lw->beta);
    gsl_vector_free(lw->trial);
    free(lw->eta);
    free(lw->xd);
    free(lw->resid);
    free(lw->hw);
}

static inline const double *logit_row(const logit_work *lw, size_t i)
{
    return lw->X->data + i * lw->X->tda;
}

static inline double logit_weight(const logit_work *lw, size_t i)
{
    return lw->w ? gsl_vector_get(lw->w, i) : 1.0;
}

/* out = X v. */
static void logit_xv(const logit_work *lw, const gsl_vector *v, double *out)
{
    for (size_t i = 0; i < lw->n; i++) {
        const double *x = logit_row(lw, i);
        double s = 0.0;
        for (size_t j = 0; j < lw->p; j++)
            s += x[j] * v->data[j * v->stride];
        out[i] = s;
    }
}

/* Penalty (lambda / 2) * sum_{j != icol} beta_j^2. */
static double logit_penalty(const logit_work *lw, const gsl_vector *beta)
{
    double s = 0.0;
    for (size_t j = 0; j < lw->p; j++) {
        if (j != lw->icol) {
            const double b = gsl_vector_get(beta, j);
            s += b * b;
        }
    }
    return 0.5 * lw->lambda * s;
}

/* Deviance -2 log L at linear predictor eta + t * xd (xd NULL: t ignored). */
static double logit_deviance(const logit_work *lw, const double *eta, const double *xd, double t)
{
    double dev = 0.0;
    for (size_t i = 0; i < lw->n; i++) {
        const double w = logit_weight(lw, i);
        if (w == 0.0)
            continue;
        const double e = xd ? eta[i] + t * xd[i] : eta[i];
        dev += w * (crest_logit_log1pexp(e) - gsl_vector_get(lw->y, i) * e);
    }
    return 2.0 * dev;
}

/*
 * Gradient and penalised Hessian at the current eta/beta. Only the lower
 * triangle of H is formed, four rows at a time so each pass over a row of H
 * does four multiply-adds per load: this is the O(n p^2) part of the fit.
 */
static void logit_grad_hess(logit_work *lw)
{
    const size_t n = lw->n, p = lw->p;
    for (size_t i = 0; i < n; i++) {
        const double w = logit_weight(lw, i);
        const double pr = crest_logit_sigmoid(lw->eta[i]);
        lw->resid[i] = w * (gsl_vector_get(lw->y, i) - pr);
        lw->hw[i] = w * pr * (1.0 - pr);
    }
    gsl_matrix_set_zero(lw->H);
    gsl_vector_set_zero(lw->g);
    double *H = lw->H->data;
    const size_t tda = lw->H->tda;
    double *g = lw->g->data;
    const size_t gs = lw->g->stride;

    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const double *x0 = logit_row(lw, i), *x1 = logit_row(lw, i + 1);
        const double *x2 = logit_row(lw, i + 2), *x3 = logit_row(lw, i + 3);
        const double w0 = lw->hw[i], w1 = lw->hw[i + 1], w2 = lw->hw[i + 2], w3 = lw->hw[i + 3];
        const double r0 = lw->resid[i], r1 = lw->resid[i + 1], r2 = lw->resid[i + 2], r3 = lw->resid[i + 3];
        for (size_t j = 0; j < p; j++) {
            const double a0 = w0 * x0[j], a1 = w1 * x1[j], a2 = w2 * x2[j], a3 = w3 * x3[j];
            double *h = H + j * tda;
            for (size_t k = 0; k <= j; k++)
                h[k] += a0 * x0[k] + a1 * x1[k] + a2 * x2[k] + a3 * x3[k];
            g[j * gs] += r0 * x0[j] + r1 * x1[j] + r2 * x2[j] + r3 * x3[j];
        }
    }
    for (; i < n; i++) {
        const double *x = logit_row(lw, i);
        for (size_t j = 0; j < p; j++) {
            const double a = lw->hw[i] * x[j];
            double *h = H + j * tda;
            for (size_t k = 0; k <= j; k++)
                h[k] += a * x[k];
            g[j * gs] += lw->resid[i] * x[j];
        }
    }
    for (size_t j = 0; j < p; j++) {
        if (j == lw->icol)
            continue;
        H[j * tda + j] += lw->lambda;
        g[j * gs] -= lw->lambda * gsl_vector_get(lw->beta, j);
    }
    /* Mirror to the upper triangle so H is a complete symmetric matrix. */
    for (size_t j = 0; j < p; j++)
        for (size_t k = 0; k < j; k++)
            H[k * tda + j] = H[j * tda + k];
}

/* ------------------------------------------------------------------------ */
/* Argument checks                                                           */

static crest_status logit_check_args(const gsl_matrix *X, const gsl_vector *y, const gsl_vector *weights,
                                     double l2_lambda, const crest_logit_fit_options *o,
                                     const gsl_vector *beta_out, crest_diag *diag)
{
    if (!X || !y || !beta_out)
        return crest_diag_set(diag, CREST_ERR_INVALID, LOGIT_LABEL, 0, 0, "X, y and beta_out are required.");
    const size_t n = X->size1, p = X->size2;
    if (n == 0 || p == 0)
        return crest_diag_set(diag, CREST_ERR_MISMATCH, LOGIT_LABEL, 0, 0,
                              "X is %zu x %zu; expected at least one row and one column.", n, p);
    if (y->size != n)
        return crest_diag_set(diag, CREST_ERR_MISMATCH, LOGIT_LABEL, 0, 0,
                              "y has %zu entries but X has %zu rows.", y->size, n);
    if (weights && weights->size != n)
        return crest_diag_set(diag, CREST_ERR_MISMATCH, LOGIT_LABEL, 0, 0,
                              "weights has %zu entries but X has %zu rows.", weights->size, n);
    if (beta_out->size != p)
        return crest_diag_set(diag, CREST_ERR_MISMATCH, LOGIT_LABEL, 0, 0,
                              "beta_out has %zu entries but X has %zu columns.", beta_out->size, p);
    if (!isfinite(l2_lambda) || l2_lambda < 0.0)
        return crest_diag_set(diag, CREST_ERR_RANGE, LOGIT_LABEL, 0, 0,
                              "l2_lambda is %g; expected a finite value >= 0.", l2_lambda);
    if (o->intercept_col != CREST_LOGIT_NO_INTERCEPT && o->intercept_col >= p)
        return crest_diag_set(diag, CREST_ERR_RANGE, LOGIT_LABEL, 0, 0,
                              "intercept_col %zu is not a column of X (%zu columns).", o->intercept_col, p);
    if (o->max_iter == 0 || !(o->tol_step >= 0.0) || !(o->tol_objective >= 0.0))
        return crest_diag_set(diag, CREST_ERR_RANGE, LOGIT_LABEL, 0, 0,
                              "options need max_iter >= 1 and non-negative tolerances.");
    double w_sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double yi = gsl_vector_get(y, i);
        if (!(yi >= 0.0 && yi <= 1.0))
            return crest_diag_set(diag, CREST_ERR_INVALID, LOGIT_LABEL, i + 1, 0,
                                  "y[%zu] = %g; expected a value in [0, 1].", i, yi);
        if (weights) {
            const double wi = gsl_vector_get(weights, i);
            if (!isfinite(wi) || wi < 0.0)
                return crest_diag_set(diag, CREST_ERR_INVALID, LOGIT_LABEL, i + 1, 0,
                                      "weights[%zu] = %g; expected a finite value >= 0.", i, wi);
            w_sum += wi;
        }
        const double *x = X->data + i * X->tda;
        for (size_t j = 0; j < p; j++) {
            if (!isfinite(x[j]))
                return crest_diag_set(diag, CREST_ERR_INVALID, LOGIT_LABEL, i + 1, j + 1,
                                      "X[%zu][%zu] is not finite.", i, j);
        }
    }
    if (weights && !(w_sum > 0.0))
        return crest_diag_set(diag, CREST_ERR_INVALID, LOGIT_LABEL, 0, 0, "all weights are zero.");
    return CREST_OK;
}

/* ------------------------------------------------------------------------ */
/* Newton iteration                                                          */

static double logit_norm(const gsl_vector *v)
{
    double s = 0.0;
    for (size_t j = 0; j < v->size; j++) {
        const double a = gsl_vector_get(v, j);
        s += a * a;
    }
    return sqrt(s);
}

crest_status crest_logit_fit(const gsl_matrix *X, const gsl_vector *y, const gsl_vector *weights,
                             double l2_lambda, const crest_logit_fit_options *opts, gsl_vector *beta_out,
                             crest_logit_fit_report *report, crest_diag *diag)
{
    crest_models_init();
    crest_diag_clear(diag);
    crest_logit_fit_options o;
    crest_logit_fit_options_default(&o);
    if (opts)
        o = *opts;
    crest_logit_fit_report rep;
    memset(&rep, 0, sizeof rep);
    rep.stop = CREST_LOGIT_STOP_MAX_ITER;
    if (report)
        *report = rep;

    crest_status st = logit_check_args(X, y, weights, l2_lambda, &o, beta_out, diag);
    if (st != CREST_OK)
        return st;

    logit_work lw;
    memset(&lw, 0, sizeof lw);
    lw.X = X;
    lw.y = y;
    lw.w = weights;
    lw.n = X->size1;
    lw.p = X->size2;
    lw.icol = o.intercept_col;
    lw.lambda = l2_lambda;
    lw.H = gsl_matrix_alloc(lw.p, lw.p);
    lw.g = gsl_vector_alloc(lw.p);
    lw.delta = gsl_vector_alloc(lw.p);
    lw.beta = gsl_vector_calloc(lw.p);
    lw.trial = gsl_vector_alloc(lw.p);
    lw.eta = calloc(lw.n, sizeof *lw.eta);
    lw.xd = malloc(lw.n * sizeof *lw.xd);
    lw.resid = malloc(lw.n * sizeof *lw.resid);
    lw.hw = malloc(lw.n * sizeof *lw.hw);
    if (!lw.H || !lw.g || !lw.delta || !lw.beta || !lw.trial || !lw.eta || !lw.xd || !lw.resid || !lw.hw) {
        logit_work_free(&lw);
        return crest_diag_set(diag, CREST_ERR_NOMEM, LOGIT_LABEL, 0, 0, "out of memory for a %zu x %zu fit.",
                              lw.n, lw.p);
    }

    /* Start from beta = 0 (every p_i = 1/2), where the Newton step is well
     * scaled for logistic regression. */
    double dev = logit_deviance(&lw, lw.eta, NULL, 0.0);
    double obj = 0.5 * dev;
    while (rep.n_iter < o.max_iter) {
        logit_grad_hess(&lw);
        int rc = gsl_linalg_cholesky_decomp1(lw.H);
        if (rc == GSL_SUCCESS)
            rc = gsl_linalg_cholesky_solve(lw.H, lw.g, lw.delta);
        if (rc != GSL_SUCCESS) {
            rep.stop = CREST_LOGIT_STOP_SINGULAR;
            break;
        }
        rep.n_iter++;
        const double beta_norm = logit_norm(lw.beta);
        const double full_norm = logit_norm(lw.delta);
        if (!isfinite(full_norm)) {
            rep.stop = CREST_LOGIT_STOP_NONFINITE;
            break;
        }
        logit_xv(&lw, lw.delta, lw.xd);

        /* Step halving: accept the first t = 1, 1/2, 1/4, ... that does not
         * raise the objective (up to rounding). A step already below the
         * convergence tolerance is taken whole: rounding may hide its gain. */
        const int tiny_step = full_norm <= o.tol_step * (1.0 + beta_norm);
        double t = 1.0, new_dev = 0.0, new_obj = 0.0;
        size_t halvings = 0;
        for (;;) {
            gsl_vector_memcpy(lw.trial, lw.beta);
            gsl_blas_daxpy(t, lw.delta, lw.trial);
            new_dev = logit_deviance(&lw, lw.eta, lw.xd, t);
            new_obj = 0.5 * new_dev + logit_penalty(&lw, lw.trial);
            if (tiny_step || (isfinite(new_obj) && new_obj <= obj + 1e-13 * fabs(obj)))
                break;
            if (++halvings > o.max_halvings)
                break;
            t *= 0.5;
        }
        if (!isfinite(new_obj)) {
            rep.stop = CREST_LOGIT_STOP_NONFINITE;
            break;
        }
        if (halvings > o.max_halvings) {
            rep.stop = CREST_LOGIT_STOP_NO_DESCENT;
            break;
        }
        gsl_vector_memcpy(lw.beta, lw.trial);
        for (size_t i = 0; i < lw.n; i++)
            lw.eta[i] += t * lw.xd[i];
        const double step_norm = t * full_norm;
        const double change = fabs(obj - new_obj);
        dev = new_dev;
        obj = new_obj;
        rep.step_norm = step_norm;
        /* Relative (not absolute) objective change: on separable data without
         * a penalty the objective falls geometrically towards 0 while beta
         * diverges, and that must not read as convergence. */
        if (step_norm <= o.tol_step * (1.0 + logit_norm(lw.beta)) || change <= o.tol_objective * fabs(obj)) {
            rep.stop = CREST_LOGIT_STOP_CONVERGED;
            break;
        }
    }

    gsl_vector_memcpy(beta_out, lw.beta);
    rep.deviance = dev;
    rep.objective = obj;
    rep.converged = rep.stop == CREST_LOGIT_STOP_CONVERGED;
    if (report)
        *report = rep;
    logit_work_free(&lw);
    switch (rep.stop) {
    case CREST_LOGIT_STOP_CONVERGED:
        return CREST_OK;
    case CREST_LOGIT_STOP_MAX_ITER:
        return crest_diag_set(diag, CREST_ERR_NUMERIC, LOGIT_LABEL, 0, 0,
                              "did not converge in %zu Newton iterations (last step norm %g); "
                              "the data may be separable: use l2_lambda > 0.",
                              rep.n_iter, rep.step_norm);
    case CREST_LOGIT_STOP_SINGULAR:
        return crest_diag_set(diag, CREST_ERR_NUMERIC, LOGIT_LABEL, 0, 0,
                              "X'WX + lambda I is not positive definite at iteration %zu "
                              "(collinear columns or separable data): use l2_lambda > 0.",
                              rep.n_iter + 1);
    case CREST_LOGIT_STOP_NO_DESCENT:
        return crest_diag_set(diag, CREST_ERR_NUMERIC, LOGIT_LABEL, 0, 0,
                              "no step along the Newton direction lowered the objective at "
                              "iteration %zu.",
                              rep.n_iter);
    case CREST_LOGIT_STOP_NONFINITE:
        return crest_diag_set(diag, CREST_ERR_NUMERIC, LOGIT_LABEL, 0, 0,
                              "a non-finite value appeared at iteration %zu.", rep.n_iter);
    }
    return CREST_ERR_NUMERIC;
}

crest_status crest_logit_platt_fit(const double *margin, const double *y, size_t n, double *a, double *b,
                                   crest_diag *diag)
{
    crest_models_init();
    crest_diag_clear(diag);
    if (!margin || !y || !a || !b || n < 2)
        return crest_diag_set(diag, CREST_ERR_INVALID, LOGIT_LABEL, 0, 0,
                              "Platt scaling needs at least 2 scores and labels.");
    gsl_matrix *X = gsl_matrix_alloc(n, 2);
    gsl_vector *yv = gsl_vector_alloc(n);
    gsl_vector *beta = gsl_vector_calloc(2);
    crest_status st = CREST_OK;
    if (!X || !yv || !beta)
        st = crest_diag_set(diag, CREST_ERR_NOMEM, LOGIT_LABEL, 0, 0, "out of memory.");
    for (size_t i = 0; i < n && st == CREST_OK; i++) {
        if (!isfinite(margin[i]))
            st = crest_diag_set(diag, CREST_ERR_INVALID, LOGIT_LABEL, 0, 0,
                                "Platt scaling: score %zu is not a finite log-odds.", i + 1);
        gsl_matrix_set(X, i, 0, 1.0);
        gsl_matrix_set(X, i, 1, margin[i]);
        gsl_vector_set(yv, i, y[i]);
    }
    if (st == CREST_OK)
        st = crest_logit_fit(X, yv, NULL, 0.0, NULL, beta, NULL, diag);
    if (st == CREST_OK) {
        *a = gsl_vector_get(beta, 0);
        *b = gsl_vector_get(beta, 1);
    }
    gsl_matrix_free(X);
    gsl_vector_free(yv);
    gsl_vector_free(beta);
    return st;
}
