/*
 * fuzz_xgb.c — libFuzzer target for the XGBoost JSON model loader
 * (crest_xgb_load_buffer). An accepted model is scored on an all-missing row,
 * an all-zero row and a row of values taken from the input; the probability
 * must lie in [0, 1] and a wrong feature count must be refused.
 */
#include <math.h>
#include <string.h>

#include "crest/crest_xgb.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    crest_init();
    return 0;
}

static void score(const crest_xgb *m, const float *x, size_t n)
{
    double prob = -1.0, margin = 0.0;
    if (crest_xgb_predict(m, x, n, &prob) != CREST_OK)
        __builtin_trap();
    if (!(prob >= 0.0 && prob <= 1.0))
        __builtin_trap();
    if (crest_xgb_predict_margin(m, x, n, &margin) != CREST_OK)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    crest_xgb *m = NULL;
    crest_diag diag;
    if (crest_xgb_load_buffer((const char *)data, size, "<fuzz>", &m, &diag) != CREST_OK) {
        if (m != NULL)
            __builtin_trap();
        return 0;
    }
    const size_t n = crest_xgb_n_features(m);
    float *x = calloc(n + 1, sizeof *x);
    if (!x)
        __builtin_trap();
    score(m, x, n); /* zeros */
    for (size_t i = 0; i < n; i++)
        x[i] = NAN;
    score(m, x, n); /* all missing */
    for (size_t i = 0; i < n; i++)
        x[i] = size ? (float)(int8_t)data[i % size] * 0.37f : 1.0f;
    score(m, x, n); /* values from the input, including category codes */
    double prob = 0.0;
    if (crest_xgb_predict(m, x, n + 1, &prob) != CREST_ERR_MISMATCH)
        __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        const char *name = crest_xgb_feature_name(m, i);
        if (name && crest_xgb_feature_index(m, name) < 0)
            __builtin_trap();
    }
    (void)crest_xgb_n_trees(m);
    free(x);
    crest_xgb_free(m);
    return 0;
}
