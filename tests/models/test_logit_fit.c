/*
 * test_logit_fit.c — Newton/IRLS fit of L2-regularised logistic regression:
 * recovery of known coefficients within their standard errors, optimality
 * (gradient ~ 0), shrinkage by lambda, separable data, reported
 * non-convergence, weights, argument errors, the stable sigmoid, and a
 * 50k x 50 timing run. Data come from GSL's mt19937 with printed seeds.
 */
#include <criterion/criterion.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crest/crest_logit.h"

/* ------------------------------------------------------------------------ */
/* Data generation                                                           */

typedef struct dataset {
    gsl_matrix *X;
    gsl_vector *y;
} dataset;

/* n rows: column 0 is the intercept, columns 1.. are N(0, 1); y ~ Bernoulli. */
static dataset make_data(unsigned long seed, size_t n, const double *beta, size_t p)
{
    fprintf(stderr, "logit data: seed %lu, %zu rows x %zu columns\n", seed, n, p);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    dataset d = {gsl_matrix_alloc(n, p), gsl_vector_alloc(n)};
    for (size_t i = 0; i < n; i++) {
        double eta = 0.0;
        for (size_t j = 0; j < p; j++) {
            const double x = j == 0 ? 1.0 : gsl_ran_gaussian(rng, 1.0);
            gsl_matrix_set(d.X, i, j, x);
            eta += beta[j] * x;
        }
        gsl_vector_set(d.y, i, gsl_rng_uniform(rng) < crest_logit_sigmoid(eta) ? 1.0 : 0.0);
    }
    gsl_rng_free(rng);
    return d;
}

static void free_data(dataset *d)
{
    gsl_matrix_free(d->X);
    gsl_vector_free(d->y);
}

/* Gradient of the penalised objective, X'(y - p) - lambda P beta, max |.|. */
static double max_abs_gradient(const dataset *d, const gsl_vector *beta, double lambda, size_t icol)
{
    const size_t n = d->X->size1, p = d->X->size2;
    double worst = 0.0;
    for (size_t j = 0; j < p; j++) {
        double g = 0.0;
        for (size_t i = 0; i < n; i++) {
            const double *x = gsl_matrix_const_ptr(d->X, i, 0);
            const double pr = crest_logit_sigmoid(crest_logit_predict_margin(beta->data, x, p));
            g += (gsl_vector_get(d->y, i) - pr) * x[j];
        }
        if (j != icol)
            g -= lambda * gsl_vector_get(beta, j);
        if (fabs(g) > worst)
            worst = fabs(g);
    }
    return worst;
}

/* Standard errors sqrt(diag((X'WX)^-1)) at beta (unpenalised fit). */
static void standard_errors(const dataset *d, const gsl_vector *beta, gsl_vector *se)
{
    const size_t n = d->X->size1, p = d->X->size2;
    gsl_matrix *H = gsl_matrix_calloc(p, p);
    for (size_t i = 0; i < n; i++) {
        const double *x = gsl_matrix_const_ptr(d->X, i, 0);
        const double pr = crest_logit_sigmoid(crest_logit_predict_margin(beta->data, x, p));
        const double w = pr * (1.0 - pr);
        for (size_t j = 0; j < p; j++)
            for (size_t k = 0; k < p; k++)
                *gsl_matrix_ptr(H, j, k) += w * x[j] * x[k];
    }
    cr_assert_eq(gsl_linalg_cholesky_decomp1(H), GSL_SUCCESS);
    cr_assert_eq(gsl_linalg_cholesky_invert(H), GSL_SUCCESS);
    for (size_t j = 0; j < p; j++)
        gsl_vector_set(se, j, sqrt(gsl_matrix_get(H, j, j)));
    gsl_matrix_free(H);
}

static double slope_norm(const gsl_vector *beta)
{
    double s = 0.0;
    for (size_t j = 1; j < beta->size; j++)
        s += gsl_vector_get(beta, j) * gsl_vector_get(beta, j);
    return sqrt(s);
}

/* ------------------------------------------------------------------------ */
/* Fits                                                                      */

Test(logit_fit, recovers_known_coefficients_within_standard_errors)
{
    const double truth[] = {-1.0, 0.8, -0.5, 0.3, 0.0, 1.2};
    const size_t p = sizeof truth / sizeof *truth;
    dataset d = make_data(20240611UL, 20000, truth, p);
    gsl_vector *beta = gsl_vector_alloc(p), *se = gsl_vector_alloc(p);
    crest_logit_fit_report rep;
    crest_diag diag;
    const crest_status st = crest_logit_fit(d.X, d.y, NULL, 0.0, NULL, beta, &rep, &diag);
    cr_assert_eq(st, CREST_OK, "%s", diag.message);
    cr_assert(rep.converged);
    cr_assert_eq(rep.stop, CREST_LOGIT_STOP_CONVERGED);
    cr_assert_leq(rep.n_iter, 10, "Newton should converge in a handful of steps");
    cr_assert(rep.deviance > 0.0 && isfinite(rep.deviance));
    fprintf(stderr, "logit recovery: %zu iterations, deviance %.6f\n", rep.n_iter, rep.deviance);

    /* The MLE is asymptotically normal with covariance (X'WX)^-1: each
     * coefficient must lie within 4 standard errors of the truth (a 4-sigma
     * miss has probability 6e-5 per coefficient, and the seed is fixed). */
    standard_errors(&d, beta, se);
    for (size_t j = 0; j < p; j++) {
        const double b = gsl_vector_get(beta, j), s = gsl_vector_get(se, j);
        fprintf(stderr, "  beta[%zu] = %+.4f  truth %+.4f  se %.4f  z %+.2f\n", j, b, truth[j], s,
                (b - truth[j]) / s);
        cr_assert_lt(s, 0.05, "standard error should be small at n = 20000");
        cr_assert_leq(fabs(b - truth[j]), 4.0 * s, "beta[%zu]", j);
    }
    cr_assert_leq(max_abs_gradient(&d, beta, 0.0, 0), 1e-6, "the fit must be a stationary point");
    gsl_vector_free(beta);
    gsl_vector_free(se);
    free_data(&d);
}

Test(logit_fit, penalised_fit_is_a_stationary_point)
{
    const double truth[] = {0.5, 1.0, -2.0, 0.5};
    dataset d = make_data(7UL, 3000, truth, 4);
    gsl_vector *beta = gsl_vector_alloc(4);
    crest_logit_fit_report rep;
    cr_assert_eq(crest_logit_fit(d.X, d.y, NULL, 25.0, NULL, beta, &rep, NULL), CREST_OK);
    const double g = max_abs_gradient(&d, beta, 25.0, 0);
    fprintf(stderr, "logit lambda=25: max |gradient| %.3g after %zu iterations\n", g, rep.n_iter);
    cr_assert_leq(g, 1e-6);
    /* The objective reported is deviance / 2 plus the penalty. */
    cr_assert_float_eq(rep.objective, rep.deviance / 2 + 12.5 * slope_norm(beta) * slope_norm(beta),
                       1e-9 * rep.objective);
    gsl_vector_free(beta);
    free_data(&d);
}

Test(logit_fit, lambda_shrinks_coefficients_but_not_the_intercept)
{
    const double truth[] = {-0.7, 1.0, -1.0, 0.5, 2.0};
    dataset d = make_data(99UL, 5000, truth, 5);
    const double lambdas[] = {0.0, 10.0, 100.0, 1000.0, 10000.0, 1e10};
    gsl_vector *beta = gsl_vector_alloc(5);
    double prev = INFINITY;
    for (size_t k = 0; k < sizeof lambdas / sizeof *lambdas; k++) {
        crest_logit_fit_report rep;
        cr_assert_eq(crest_logit_fit(d.X, d.y, NULL, lambdas[k], NULL, beta, &rep, NULL), CREST_OK);
        const double norm = slope_norm(beta);
        fprintf(stderr, "  lambda %-8g ||slopes|| %.6f intercept %+.6f (%zu iterations)\n", lambdas[k], norm,
                gsl_vector_get(beta, 0), rep.n_iter);
        cr_assert_lt(norm, prev, "||slopes|| must fall as lambda grows");
        prev = norm;
    }
    /* With an overwhelming penalty only the unpenalised intercept remains,
     * at the log-odds of the mean response. */
    double ybar = 0.0;
    for (size_t i = 0; i < d.y->size; i++)
        ybar += gsl_vector_get(d.y, i);
    ybar /= (double)d.y->size;
    cr_assert_lt(slope_norm(beta), 1e-6);
    cr_assert_float_eq(gsl_vector_get(beta, 0), log(ybar / (1.0 - ybar)), 1e-6);

    /* Without an intercept column every coefficient is penalised. */
    crest_logit_fit_options o;
    crest_logit_fit_options_default(&o);
    o.intercept_col = CREST_LOGIT_NO_INTERCEPT;
    cr_assert_eq(crest_logit_fit(d.X, d.y, NULL, 1e10, &o, beta, NULL, NULL), CREST_OK);
    cr_assert_lt(fabs(gsl_vector_get(beta, 0)), 1e-6);
    gsl_vector_free(beta);
    free_data(&d);
}

/* 1-D data split perfectly at x = 0.3: the unpenalised MLE does not exist. */
static dataset separable_data(void)
{
    const size_t n = 400;
    dataset d = {gsl_matrix_alloc(n, 2), gsl_vector_alloc(n)};
    for (size_t i = 0; i < n; i++) {
        const double x = -2.0 + 4.0 * (double)i / (double)(n - 1);
        gsl_matrix_set(d.X, i, 0, 1.0);
        gsl_matrix_set(d.X, i, 1, x);
        gsl_vector_set(d.y, i, x > 0.3 ? 1.0 : 0.0);
    }
    return d;
}

Test(logit_fit, separable_data_converges_with_a_penalty)
{
    dataset d = separable_data();
    gsl_vector *beta = gsl_vector_alloc(2);
    crest_logit_fit_report rep;
    crest_diag diag;
    const crest_status st = crest_logit_fit(d.X, d.y, NULL, 1.0, NULL, beta, &rep, &diag);
    fprintf(stderr, "separable, lambda 1: %s after %zu iterations, beta (%.4f, %.4f)\n",
            crest_status_name(st), rep.n_iter, gsl_vector_get(beta, 0), gsl_vector_get(beta, 1));
    cr_assert_eq(st, CREST_OK, "%s", diag.message);
    cr_assert(rep.converged);
    cr_assert(isfinite(gsl_vector_get(beta, 1)) && gsl_vector_get(beta, 1) > 1.0);
    cr_assert_leq(max_abs_gradient(&d, beta, 1.0, 0), 1e-6);
    /* The boundary sits where the margin is 0. */
    cr_assert_float_eq(-gsl_vector_get(beta, 0) / gsl_vector_get(beta, 1), 0.3, 0.05);
    gsl_vector_free(beta);
    free_data(&d);
}

Test(logit_fit, separable_data_without_penalty_reports_non_convergence)
{
    dataset d = separable_data();
    gsl_vector *beta = gsl_vector_alloc(2);
    crest_logit_fit_report rep;
    crest_diag diag;
    const crest_status st = crest_logit_fit(d.X, d.y, NULL, 0.0, NULL, beta, &rep, &diag);
    fprintf(stderr, "separable, lambda 0: %s (stop %d) after %zu iterations: %s\n", crest_status_name(st),
            (int)rep.stop, rep.n_iter, diag.message);
    cr_assert_eq(st, CREST_ERR_NUMERIC);
    cr_assert_eq(diag.status, CREST_ERR_NUMERIC);
    cr_assert_not(rep.converged);
    cr_assert(rep.stop == CREST_LOGIT_STOP_MAX_ITER || rep.stop == CREST_LOGIT_STOP_SINGULAR);
    cr_assert_gt(strlen(diag.message), 10);
    gsl_vector_free(beta);
    free_data(&d);
}

Test(logit_fit, max_iter_reached_is_reported)
{
    const double truth[] = {0.2, 1.5, -1.5};
    dataset d = make_data(3UL, 2000, truth, 3);
    gsl_vector *beta = gsl_vector_alloc(3);
    crest_logit_fit_options o;
    crest_logit_fit_options_default(&o);
    o.max_iter = 2;
    crest_logit_fit_report rep;
    crest_diag diag;
    const crest_status st = crest_logit_fit(d.X, d.y, NULL, 0.0, &o, beta, &rep, &diag);
    cr_assert_eq(st, CREST_ERR_NUMERIC);
    cr_assert_eq(rep.stop, CREST_LOGIT_STOP_MAX_ITER);
    cr_assert_not(rep.converged);
    cr_assert_eq(rep.n_iter, 2);
    cr_assert(strstr(diag.message, "converge") != NULL, "%s", diag.message);
    /* The last iterate is returned and is finite. */
    cr_assert(isfinite(gsl_vector_get(beta, 1)) && gsl_vector_get(beta, 1) > 0.5);
    gsl_vector_free(beta);
    free_data(&d);
}

Test(logit_fit, integer_weights_equal_repeated_rows)
{
    const double truth[] = {-0.3, 0.9, 0.4};
    dataset d = make_data(11UL, 500, truth, 3);
    const size_t n = d.X->size1;
    gsl_vector *w = gsl_vector_alloc(n);
    size_t n_rep = 0;
    for (size_t i = 0; i < n; i++) {
        gsl_vector_set(w, i, (double)(i % 3));
        n_rep += i % 3;
    }
    dataset r = {gsl_matrix_alloc(n_rep, 3), gsl_vector_alloc(n_rep)};
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < i % 3; c++, k++) {
            for (size_t j = 0; j < 3; j++)
                gsl_matrix_set(r.X, k, j, gsl_matrix_get(d.X, i, j));
            gsl_vector_set(r.y, k, gsl_vector_get(d.y, i));
        }
    }
    gsl_vector *bw = gsl_vector_alloc(3), *br = gsl_vector_alloc(3);
    crest_logit_fit_report rw, rr;
    cr_assert_eq(crest_logit_fit(d.X, d.y, w, 2.0, NULL, bw, &rw, NULL), CREST_OK);
    cr_assert_eq(crest_logit_fit(r.X, r.y, NULL, 2.0, NULL, br, &rr, NULL), CREST_OK);
    for (size_t j = 0; j < 3; j++)
        cr_assert_float_eq(gsl_vector_get(bw, j), gsl_vector_get(br, j), 1e-8);
    cr_assert_float_eq(rw.deviance, rr.deviance, 1e-8 * rr.deviance);
    gsl_vector_free(w);
    gsl_vector_free(bw);
    gsl_vector_free(br);
    free_data(&d);
    free_data(&r);
}

Test(logit_fit, bad_arguments_are_reported)
{
    const double truth[] = {0.0, 1.0};
    dataset d = make_data(5UL, 50, truth, 2);
    gsl_vector *beta = gsl_vector_alloc(2), *beta3 = gsl_vector_alloc(3);
    gsl_vector *w = gsl_vector_alloc(50), *y49 = gsl_vector_alloc(49);
    crest_diag diag;
    crest_logit_fit_options o;
    crest_logit_fit_options_default(&o);

    cr_assert_eq(crest_logit_fit(d.X, d.y, NULL, -1.0, NULL, beta, NULL, &diag), CREST_ERR_RANGE);
    cr_assert_eq(crest_logit_fit(d.X, d.y, NULL, NAN, NULL, beta, NULL, &diag), CREST_ERR_RANGE);
    cr_assert_eq(crest_logit_fit(d.X, d.y, NULL, 1.0, NULL, beta3, NULL, &diag), CREST_ERR_MISMATCH);
    cr_assert_eq(crest_logit_fit(d.X, y49, NULL, 1.0, NULL, beta, NULL, &diag), CREST_ERR_MISMATCH);
    o.intercept_col = 2;
    cr_assert_eq(crest_logit_fit(d.X, d.y, NULL, 1.0, &o, beta, NULL, &diag), CREST_ERR_RANGE);
    gsl_vector_set_all(w, 1.0);
    gsl_vector_set(w, 7, -1.0);
    cr_assert_eq(crest_logit_fit(d.X, d.y, w, 1.0, NULL, beta, NULL, &diag), CREST_ERR_INVALID);
    cr_assert_eq(diag.line, 8, "the diag names the offending row (1-based)");
    gsl_vector_set_zero(w);
    cr_assert_eq(crest_logit_fit(d.X, d.y, w, 1.0, NULL, beta, NULL, &diag), CREST_ERR_INVALID);
    gsl_vector_set(d.y, 3, 2.0);
    cr_assert_eq(crest_logit_fit(d.X, d.y, NULL, 1.0, NULL, beta, NULL, &diag), CREST_ERR_INVALID);
    cr_assert(strstr(diag.message, "y[3]") != NULL, "%s", diag.message);
    gsl_vector_set(d.y, 3, 1.0);
    gsl_matrix_set(d.X, 4, 1, NAN);
    cr_assert_eq(crest_logit_fit(d.X, d.y, NULL, 1.0, NULL, beta, NULL, &diag), CREST_ERR_INVALID);
    cr_assert_eq(diag.line, 5);
    cr_assert_eq(diag.column, 2);
    fprintf(stderr, "  last diag: %s\n", diag.message);
    gsl_vector_free(beta);
    gsl_vector_free(beta3);
    gsl_vector_free(w);
    gsl_vector_free(y49);
    free_data(&d);
}

Test(logit_fit, collinear_columns_without_penalty_are_reported)
{
    const size_t n = 200;
    gsl_matrix *X = gsl_matrix_alloc(n, 3);
    gsl_vector *y = gsl_vector_alloc(n), *beta = gsl_vector_alloc(3);
    for (size_t i = 0; i < n; i++) {
        const double x = (double)(i % 17) / 17.0 - 0.5;
        gsl_matrix_set(X, i, 0, 1.0);
        gsl_matrix_set(X, i, 1, x);
        gsl_matrix_set(X, i, 2, 2.0 * x); /* exact copy, scaled */
        gsl_vector_set(y, i, (i * 7919) % 5 < 2 ? 1.0 : 0.0);
    }
    crest_logit_fit_report rep;
    crest_diag diag;
    const crest_status st = crest_logit_fit(X, y, NULL, 0.0, NULL, beta, &rep, &diag);
    cr_assert_eq(st, CREST_ERR_NUMERIC, "%s", crest_status_name(st));
    cr_assert_eq(rep.stop, CREST_LOGIT_STOP_SINGULAR);
    /* Any positive penalty makes the system solvable. */
    cr_assert_eq(crest_logit_fit(X, y, NULL, 1e-3, NULL, beta, &rep, &diag), CREST_OK);
    gsl_matrix_free(X);
    gsl_vector_free(y);
    gsl_vector_free(beta);
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

Test(logit_fit, sigmoid_is_stable_at_the_extremes)
{
    cr_assert_eq(crest_logit_sigmoid(0.0), 0.5);
    cr_assert_eq(crest_logit_sigmoid(1000.0), 1.0);
    cr_assert_eq(crest_logit_sigmoid(-1000.0), 0.0);
    cr_assert_eq(crest_logit_sigmoid(INFINITY), 1.0);
    cr_assert_eq(crest_logit_sigmoid(-INFINITY), 0.0);
    cr_assert(isnan(crest_logit_sigmoid(NAN)));
    /* Tiny probabilities keep their relative precision (1 - sigmoid(z) would not). */
    cr_assert_float_eq(crest_logit_sigmoid(-700.0) / exp(-700.0), 1.0, 1e-12);
    for (double z = -40.0; z <= 40.0; z += 0.37)
        cr_assert_float_eq(crest_logit_sigmoid(z) + crest_logit_sigmoid(-z), 1.0, 1e-15);
    cr_assert_eq(crest_logit_log1pexp(1000.0), 1000.0);
    cr_assert_float_eq(crest_logit_log1pexp(-50.0) / exp(-50.0), 1.0, 1e-12);
    cr_assert_float_eq(crest_logit_log1pexp(0.0), log(2.0), 1e-15);
    const double b[] = {0.5, -2.0, 1.0}, x[] = {1.0, 0.25, 3.0};
    cr_assert_float_eq(crest_logit_predict_margin(b, x, 3), 3.0, 1e-15);
    cr_assert_eq(crest_logit_predict_margin(b, x, 0), 0.0);
}

/* ------------------------------------------------------------------------ */
/* Scale                                                                     */

Test(logit_fit, fits_50k_rows_by_50_features)
{
    enum { N = 50000, P = 50 };
    double truth[P];
    for (size_t j = 0; j < P; j++)
        truth[j] = j == 0 ? -1.5 : 0.6 * sin((double)j);
    dataset d = make_data(424242UL, N, truth, P);
    gsl_vector *beta = gsl_vector_alloc(P);
    crest_logit_fit_report rep;
    crest_diag diag;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const crest_status st = crest_logit_fit(d.X, d.y, NULL, 1.0, NULL, beta, &rep, &diag);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    fprintf(stderr, "logit fit %d x %d, lambda 1: %s in %zu iterations, %.3f s\n", N, P,
            crest_status_name(st), rep.n_iter, secs);
    cr_assert_eq(st, CREST_OK, "%s", diag.message);
    cr_assert(rep.converged);
    double worst = 0.0;
    for (size_t j = 0; j < P; j++)
        worst = fmax(worst, fabs(gsl_vector_get(beta, j) - truth[j]));
    fprintf(stderr, "  max |beta - truth| %.4f\n", worst);
    cr_assert_lt(worst, 0.1, "at n = 50000 every coefficient is within ~6 standard errors");
    gsl_vector_free(beta);
    free_data(&d);
}

/*
 * Platt scaling recovers a known miscalibration: margins m ~ N(0, 1.5^2),
 * labels ~ Bernoulli(sigmoid(-1.5 + 0.6 m)), n = 20 000, seed 4242. The
 * standard error of a is about 0.025 and of b about 0.02 here; 0.1 is four or
 * more of them. Without the scaling the margins would be far off (mean label
 * ~0.2 against a mean sigmoid(m) of 0.5): the check below says so.
 */
Test(logit_fit, platt_scaling_recovers_a_known_miscalibration)
{
    const unsigned long seed = 4242;
    const size_t n = 20000;
    fprintf(stderr, "  seed %lu, n %zu, true a -1.5, b 0.6\n", seed, n);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    double *m = malloc(n * sizeof *m), *y = malloc(n * sizeof *y);
    cr_assert(m && y);
    double mean_raw = 0, mean_y = 0;
    for (size_t i = 0; i < n; i++) {
        m[i] = gsl_ran_gaussian(rng, 1.5);
        y[i] = gsl_rng_uniform(rng) < crest_logit_sigmoid(-1.5 + 0.6 * m[i]);
        mean_raw += crest_logit_sigmoid(m[i]) / (double)n;
        mean_y += y[i] / (double)n;
    }
    double a, b;
    crest_diag d;
    cr_assert_eq(crest_logit_platt_fit(m, y, n, &a, &b, &d), CREST_OK, "%s", d.message);
    fprintf(stderr, "  a %.4f, b %.4f; mean label %.4f, mean sigmoid(m) %.4f\n", a, b, mean_y, mean_raw);
    cr_expect(fabs(a + 1.5) < 0.1, "a = %g", a);
    cr_expect(fabs(b - 0.6) < 0.1, "b = %g", b);
    cr_expect(mean_raw - mean_y > 0.2, "the raw margins are miscalibrated");
    /* At the maximum-likelihood (a, b) with an intercept, the mean calibrated
     * probability equals the mean label (the score equation of a). */
    double mean_cal = 0;
    for (size_t i = 0; i < n; i++)
        mean_cal += crest_logit_sigmoid(a + b * m[i]) / (double)n;
    cr_expect(fabs(mean_cal - mean_y) < 1e-6, "mean %g vs %g", mean_cal, mean_y);
    /* Errors: too few rows, a non-finite margin. */
    cr_expect_eq(crest_logit_platt_fit(m, y, 1, &a, &b, &d), CREST_ERR_INVALID);
    m[7] = NAN;
    cr_expect_eq(crest_logit_platt_fit(m, y, n, &a, &b, &d), CREST_ERR_INVALID);
    cr_expect(strstr(d.message, "score 8") != NULL, "%s", d.message);
    free(m);
    free(y);
    gsl_rng_free(rng);
}
