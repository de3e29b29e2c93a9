/*
 * xgb_bench.c — crest-xgb-bench: crest's native tree scorer against
 * libxgboost's own predict, same model, same rows, same run.
 *
 * For each model it scores the same float matrix with
 *   - libxgboost: XGBoosterPredictFromDMatrix on a DMatrix made by
 *     XGDMatrixCreateFromMat (a fresh one each repetition, or XGBoost answers
 *     from its prediction cache; its creation is not timed), nthread 1 and 2;
 *   - crest: crest_xgb_predict_rows (blocks of 64 rows), on 1 thread and on 2
 *     threads that split the rows in halves;
 * checks that every probability is bit-identical, and prints the best of R
 * repetitions as ns per tree per row, in wall time and in process CPU time,
 * and the speed-up over XGBoost at the same thread count (wall; CPU in
 * brackets). One line per (model, threads) plus a final "hash" of the
 * predictions, so a speed change that changes results shows.
 *
 *   crest-xgb-bench --make-models DIR     train the two shapes with
 *                                         libxgboost: DIR/d8.json (1041 trees,
 *                                         max_depth 8) and DIR/d10.json (714
 *                                         trees, max_depth 10), then bench them
 *   crest-xgb-bench MODEL.json [...]      bench existing models
 *   crest-xgb-bench --load MODEL.json     load only: trees, file size, load time
 *                                         and peak RSS (getrusage) over the size
 *   options: --rows N (default 20000), --reps R (default 5), --smoke
 *
 * --smoke (ctest): a 40-tree model trained in memory, 2 000 rows, checks the
 * parity only. Timings never gate anything.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <xgboost/c_api.h>

#include "crest/crest_xgb.h"

#define N_FEAT 20

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process (all threads): on a loaded machine the
 * one-thread comparison is fairer in CPU time than in wall time. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static double unif(uint64_t s, uint64_t i)
{
    return (double)(mix(s * 1000003u + i) >> 11) * 0x1.0p-53;
}

/* Rows of N_FEAT features, 5% missing; labels from a noisy nonlinear rule. */
static void make_rows(size_t n, uint64_t seed, float *X, float *y)
{
    for (size_t r = 0; r < n; r++) {
        for (size_t j = 0; j < N_FEAT; j++)
            X[r * N_FEAT + j] = unif(seed + j, r) < 0.05
                                    ? NAN
                                    : (float)(j % 3 == 0 ? floor(unif(seed + 100 + j, r) * 50)
                                                         : unif(seed + 100 + j, r) * 10 - 5);
        if (y) {
            const float *x = X + r * N_FEAT;
            double z = (isnan(x[1]) ? 0 : x[1]) * (isnan(x[2]) ? 1 : x[2]) * 0.3 + (x[0] > 25 ? 1 : -1) +
                       (isnan(x[4]) ? 0.5 : sin(x[4])) + 0.2 * (isnan(x[7]) ? 0 : x[7]);
            y[r] = unif(seed + 999, r) < 1 / (1 + exp(-z));
        }
    }
}

static int xgb_check(int rc, const char *what)
{
    if (rc != 0)
        fprintf(stderr, "crest-xgb-bench: libxgboost: %s: %s\n", what, XGBGetLastError());
    return rc;
}

/* Train `rounds` trees of max_depth `depth` and save to path. */
static int train(const char *path, int rounds, int depth)
{
    const size_t n = 50000;
    float *X = malloc(n * N_FEAT * sizeof *X), *y = malloc(n * sizeof *y);
    DMatrixHandle dm = NULL;
    BoosterHandle b = NULL;
    char d[8];
    snprintf(d, sizeof d, "%d", depth);
    make_rows(n, 1, X, y);
    int rc = xgb_check(XGDMatrixCreateFromMat(X, n, N_FEAT, NAN, &dm), "DMatrix") ||
             xgb_check(XGDMatrixSetFloatInfo(dm, "label", y, n), "label") ||
             xgb_check(XGBoosterCreate(&dm, 1, &b), "booster");
    const char *kv[][2] = {{"objective", "binary:logistic"},
                           {"tree_method", "hist"},
                           {"max_depth", d},
                           {"eta", "0.05"},
                           {"verbosity", "0"},
                           {"nthread", "2"},
                           {"min_child_weight", "0"},
                           {"lambda", "0.1"}};
    for (size_t i = 0; !rc && i < sizeof kv / sizeof *kv; i++)
        rc = xgb_check(XGBoosterSetParam(b, kv[i][0], kv[i][1]), kv[i][0]);
    for (int it = 0; !rc && it < rounds; it++)
        rc = xgb_check(XGBoosterUpdateOneIter(b, it, dm), "boosting");
    if (!rc)
        rc = xgb_check(XGBoosterSaveModel(b, path), "save");
    if (b)
        XGBoosterFree(b);
    if (dm)
        XGDMatrixFree(dm);
    free(X);
    free(y);
    return rc;
}

typedef struct job {
    const crest_xgb *m;
    const float *X;
    size_t n;
    double *out;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    crest_xgb_predict_rows(j->m, j->X, j->n, N_FEAT, 0, j->out);
    return NULL;
}

/* crest on `threads` threads (1 or 2): the rows split in halves. */
static void crest_score(const crest_xgb *m, const float *X, size_t n, int threads, double *out)
{
    if (threads == 1) {
        crest_xgb_predict_rows(m, X, n, N_FEAT, 0, out);
        return;
    }
    const size_t h = n / 2;
    job a = {m, X, h, out}, b = {m, X + h * N_FEAT, n - h, out + h};
    pthread_t t;
    pthread_create(&t, NULL, run_job, &b);
    run_job(&a);
    pthread_join(t, NULL);
}

static int bench_model(const char *path, size_t n, int reps, int smoke)
{
    crest_xgb *m = NULL;
    crest_diag d;
    if (crest_xgb_load(path, &m, &d) != CREST_OK) {
        fprintf(stderr, "crest-xgb-bench: %s: %s\n", path, d.message);
        return 1;
    }
    if (crest_xgb_n_features(m) != N_FEAT) {
        fprintf(stderr, "crest-xgb-bench: %s has %zu features; this bench makes %d\n", path,
                crest_xgb_n_features(m), N_FEAT);
        crest_xgb_free(m);
        return 1;
    }
    float *X = malloc(n * N_FEAT * sizeof *X);
    double *out = malloc(n * sizeof *out);
    make_rows(n, 7, X, NULL); /* rows the model was not trained on */
    BoosterHandle b = NULL;
    DMatrixHandle dm = NULL;
    int rc =
        xgb_check(XGBoosterCreate(NULL, 0, &b), "booster") || xgb_check(XGBoosterLoadModel(b, path), "load");
    const char *cfg = "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
                      "\"strict_shape\": false}";
    const size_t n_trees = crest_xgb_n_trees(m);
    uint64_t hash = 1469598103934665603ull;
    for (int threads = 1; !rc && threads <= 2; threads++) {
        char nt[4];
        snprintf(nt, sizeof nt, "%d", threads);
        rc = xgb_check(XGBoosterSetParam(b, "nthread", nt), "nthread");
        double best_x = INFINITY, best_c = INFINITY, cpu_x = INFINITY, cpu_c = INFINITY;
        const float *ref = NULL;
        for (int r = 0; !rc && r < reps; r++) {
            const bst_ulong *shape;
            bst_ulong dim;
            if (dm)
                XGDMatrixFree(dm);
            dm = NULL;
            if ((rc = xgb_check(XGDMatrixCreateFromMat(X, n, N_FEAT, NAN, &dm), "DMatrix")) != 0)
                break;
            double t0 = now_s(), c0 = cpu_s();
            rc = xgb_check(XGBoosterPredictFromDMatrix(b, dm, cfg, &shape, &dim, &ref), "predict");
            const double tx = now_s() - t0, ux = cpu_s() - c0;
            t0 = now_s();
            c0 = cpu_s();
            crest_score(m, X, n, threads, out);
            const double tc = now_s() - t0, uc = cpu_s() - c0;
            best_x = tx < best_x ? tx : best_x;
            best_c = tc < best_c ? tc : best_c;
            cpu_x = ux < cpu_x ? ux : cpu_x;
            cpu_c = uc < cpu_c ? uc : cpu_c;
        }
        size_t differ = 0;
        for (size_t i = 0; !rc && i < n; i++) {
            const float c = (float)out[i];
            differ += memcmp(&c, &ref[i], sizeof c) != 0;
            uint32_t bits;
            memcpy(&bits, &c, sizeof bits);
            hash = (hash ^ bits) * 1099511628211ull;
        }
        if (rc)
            break;
        const double per = 1e9 / ((double)n * (double)n_trees);
        if (!smoke)
            printf("%s %zu trees %zu rows %d thread%s: xgboost %.2f ns/tree/row (cpu %.2f), crest %.2f (cpu "
                   "%.2f); "
                   "speed-up %.2fx (cpu %.2fx); differing predictions %zu\n",
                   path, n_trees, n, threads, threads > 1 ? "s" : "", best_x * per, cpu_x * per, best_c * per,
                   cpu_c * per, best_x / best_c, cpu_x / cpu_c, differ);
        if (differ) {
            fprintf(stderr, "crest-xgb-bench: %zu of %zu predictions differ from libxgboost's\n", differ, n);
            rc = 1;
        }
    }
    printf("%s: hash %016llx\n", path, (unsigned long long)hash);
    if (dm)
        XGDMatrixFree(dm);
    if (b)
        XGBoosterFree(b);
    crest_xgb_free(m);
    free(X);
    free(out);
    return rc;
}

/* Load a model once and report the peak RSS of the process against the file size. */
static int load_only(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return 1;
    }
    crest_xgb *m = NULL;
    crest_diag d;
    const double t0 = now_s();
    if (crest_xgb_load(path, &m, &d) != CREST_OK) {
        fprintf(stderr, "crest-xgb-bench: %s: %s\n", path, d.message);
        return 1;
    }
    const double t = now_s() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const double file_mb = (double)st.st_size / 1048576.0, rss_mb = (double)ru.ru_maxrss / 1024.0;
    printf("%s: %zu trees, file %.1f MB, loaded in %.2f s, peak RSS %.1f MB = %.2fx the file\n", path,
           crest_xgb_n_trees(m), file_mb, t, rss_mb, rss_mb / file_mb);
    crest_xgb_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    size_t rows = 20000;
    int reps = 5, smoke = 0, rc = 0;
    const char *make_dir = NULL;
    const char *models[16];
    size_t n_models = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rows") && i + 1 < argc)
            rows = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--make-models") && i + 1 < argc)
            make_dir = argv[++i];
        else if (!strcmp(argv[i], "--load") && i + 1 < argc)
            return load_only(argv[i + 1]);
        else if (!strcmp(argv[i], "--smoke"))
            smoke = 1;
        else if (argv[i][0] != '-' && n_models < 16)
            models[n_models++] = argv[i];
        else {
            fprintf(stderr,
                    "usage: crest-xgb-bench [--make-models DIR | MODEL.json...] [--rows N] [--reps R] "
                    "[--smoke]\n");
            return 2;
        }
    }
    static char p8[4096], p10[4096];
    if (smoke) {
        char tmpl[] = "/tmp/crest_xgb_bench_XXXXXX";
        if (!mkdtemp(tmpl))
            return 1;
        snprintf(p8, sizeof p8, "%s/smoke.json", tmpl);
        rc = train(p8, 40, 6) || bench_model(p8, 2000, 1, 1);
        remove(p8);
        remove(tmpl);
        return rc;
    }
    if (make_dir) {
        snprintf(p8, sizeof p8, "%s/d8.json", make_dir);
        snprintf(p10, sizeof p10, "%s/d10.json", make_dir);
        fprintf(stderr, "crest-xgb-bench: training %s (1041 trees, depth 8) and %s (714 trees, depth 10)\n",
                p8, p10);
        if (train(p8, 1041, 8) || train(p10, 714, 10))
            return 1;
        models[n_models++] = p8;
        models[n_models++] = p10;
    }
    for (size_t i = 0; i < n_models; i++)
        rc |= bench_model(models[i], rows, reps, 0);
    return rc;
}
