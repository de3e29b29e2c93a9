/*
 * kcs_eval.c — crest-kcs-eval: fit crest's logistic risk model on the KCS
 * synthetic training year and measure it on the validation quarter.
 *
 * Reads df_syn_train_eng.csv and df_syn_valid_eng.csv (libcsv), maps the KCS
 * header onto crest_decl, trains with the crest_lmodel trainer API, scores the
 * validation rows and prints precision and recall at 1/2/5/10% inspected and
 * the AUC. It then repeats the whole run with Item Price and Net Mass
 * multiplied by an independent factor in [0.995, 1.005] per row (train and
 * validation, seeded): the KCS data repeats exact numeric values across
 * periods, so a model that memorised them would collapse; a real signal does
 * not. It is an evaluation tool, not part of the engine.
 *
 *   crest-kcs-eval [--data DIR] [--spec SPEC] [--lambda L] [--smoothing M]
 *                  [--folds K] [--seed S] [--jitter-seed S] [--train-rows N]
 *                  [--no-jitter] [-o MODEL]
 *   crest-kcs-eval --tree PARAMS [--spec SPEC] [--smoothing M] [--seed S]
 *                  [--threads N] [--jitters 0,0.003,0.03,0.1] -o MODEL.json
 *
 * --tree fits a tree model with `crest fit`'s trainer (crest_xgb_fit.h) on the
 * exact training year, writes it to MODEL.json, and scores the validation
 * quarter through crest_risk (the engine's native scorer) with Item Price and
 * Net Mass exact and multiplied by a factor in [1-j, 1+j) per row for each j
 * of --jitters; with --compare-logit it does the same for the logistic model
 * of --logit-spec. Both print precision, recall and revenue@1/2/5/10% and the
 * AUC (revenue = Fraud x Tax Rate / 100 x Item Price, the usual proxy).
 *
 * Exit status: 0 on success, 1 on bad arguments or input, 2 on a failed fit.
 */
#include <csv.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crest/crest_lmodel.h"
#include "crest/crest_risk.h"
#include "crest/crest_xgb_fit.h"

#define DEFAULT_DATA "../shared/data/kcs-synthetic"
#define DEFAULT_SPEC                                                                                         \
    "te:hs6, te:hs4, te:hs2, te:origin, te:enterprise_id, te:declarant_id, te:office, "                      \
    "te:hs4*origin, log:declared_value, log:net_mass_kg, log:unit_value, rel:unit_value/hs4"

/* ------------------------------------------------------------------------ */
/* CSV into memory                                                          */

typedef struct table_csv {
    size_t n_cols;
    char **header;
    size_t n_rows, cap;
    char **cells; /* n_rows * n_cols */
    /* parse state */
    char **cur;
    size_t cur_n;
    int in_header, oom, ragged;
} table_csv;

static void on_field(void *s, size_t len, void *ctx)
{
    table_csv *t = ctx;
    char *v = malloc(len + 1);
    if (!v) {
        t->oom = 1;
        return;
    }
    memcpy(v, s, len);
    v[len] = '\0';
    char **row = t->cur;
    if (t->cur_n % 32 == 0) {
        row = realloc(t->cur, (t->cur_n + 32) * sizeof *row);
        if (!row) {
            free(v);
            t->oom = 1;
            return;
        }
        t->cur = row;
    }
    t->cur[t->cur_n++] = v;
}

static void on_row(int c, void *ctx)
{
    (void)c;
    table_csv *t = ctx;
    if (t->in_header) {
        t->header = t->cur;
        t->n_cols = t->cur_n;
        t->cur = NULL;
        t->cur_n = 0;
        t->in_header = 0;
        return;
    }
    if (t->cur_n != t->n_cols) {
        t->ragged++;
        for (size_t i = 0; i < t->cur_n; i++)
            free(t->cur[i]);
        t->cur_n = 0;
        return;
    }
    if (t->n_rows == t->cap) {
        const size_t nc = t->cap ? 2 * t->cap : 4096;
        char **c2 = realloc(t->cells, nc * t->n_cols * sizeof *c2);
        if (!c2) {
            t->oom = 1;
            return;
        }
        t->cells = c2;
        t->cap = nc;
    }
    memcpy(t->cells + t->n_rows * t->n_cols, t->cur, t->n_cols * sizeof *t->cur);
    t->n_rows++;
    t->cur_n = 0;
}

static int read_csv(const char *path, table_csv *t)
{
    memset(t, 0, sizeof *t);
    t->in_header = 1;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "crest-kcs-eval: cannot open %s\n", path);
        return -1;
    }
    struct csv_parser p;
    if (csv_init(&p, CSV_APPEND_NULL) != 0) {
        fclose(f);
        return -1;
    }
    char buf[1 << 16];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (csv_parse(&p, buf, n, on_field, on_row, t) != n) {
            fprintf(stderr, "crest-kcs-eval: %s: %s\n", path, csv_strerror(csv_error(&p)));
            rc = -1;
            break;
        }
    }
    if (rc == 0)
        csv_fini(&p, on_field, on_row, t);
    csv_free(&p);
    fclose(f);
    free(t->cur);
    t->cur = NULL;
    if (t->oom) {
        fprintf(stderr, "crest-kcs-eval: out of memory reading %s\n", path);
        return -1;
    }
    if (t->ragged)
        fprintf(stderr, "crest-kcs-eval: %s: skipped %d rows with the wrong column count\n", path, t->ragged);
    return rc;
}

static void free_csv(table_csv *t)
{
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    for (size_t i = 0; i < t->n_cols; i++)
        free(t->header[i]);
    free(t->cells);
    free(t->header);
}

static long find_col(const table_csv *t, const char *name)
{
    for (size_t i = 0; i < t->n_cols; i++)
        if (strcasecmp(t->header[i], name) == 0)
            return (long)i;
    return -1;
}

/* ------------------------------------------------------------------------ */
/* KCS rows as crest_decl                                                   */

/* KCS header -> canonical field. Other columns are reachable as col(NAME). */
static const struct {
    const char *kcs;
    crest_field field;
} kcs_map[] = {
    {"Declaration ID", CREST_FIELD_DECL_ID},
    {"Date", CREST_FIELD_DECL_DATE},
    {"Office ID", CREST_FIELD_OFFICE},
    {"Importer ID", CREST_FIELD_ENTERPRISE_ID},
    {"Declarant ID", CREST_FIELD_DECLARANT_ID},
    {"HS6 Code", CREST_FIELD_HS_CODE},
    {"Country of Origin", CREST_FIELD_ORIGIN},
    {"Country of Departure", CREST_FIELD_DEPARTURE},
    {"Mode of Transport", CREST_FIELD_TRANSPORT_MODE},
    {"Item Price", CREST_FIELD_DECLARED_VALUE},
    {"Net Mass", CREST_FIELD_NET_MASS_KG},
    {"Fraud", CREST_FIELD_ILLICIT},
};
#define N_MAP (sizeof kcs_map / sizeof kcs_map[0])

typedef struct mapping {
    long col[N_MAP];
    long price, mass, fraud;
} mapping;

static int make_mapping(const table_csv *t, mapping *mp)
{
    for (size_t i = 0; i < N_MAP; i++) {
        mp->col[i] = find_col(t, kcs_map[i].kcs);
        if (mp->col[i] < 0) {
            fprintf(stderr, "crest-kcs-eval: the input has no column \"%s\"\n", kcs_map[i].kcs);
            return -1;
        }
    }
    mp->price = find_col(t, "Item Price");
    mp->mass = find_col(t, "Net Mass");
    mp->fraud = find_col(t, "Fraud");
    return 0;
}

static int32_t days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int32_t)doe - 719468;
}

static double num_or_nan(const char *s)
{
    char *end;
    const double v = strtod(s, &end);
    return (end != s && *end == '\0' && isfinite(v)) ? v : NAN;
}

/* Fill d from row r; cols is a caller array of n_cols views; jitter, when
 * not NULL, multiplies price and mass by jitter[0], jitter[1]. */
static void make_decl(const table_csv *t, const mapping *mp, size_t r, crest_str *cols, const double *jitter,
                      crest_decl *d)
{
    memset(d, 0, sizeof *d);
    char **row = t->cells + r * t->n_cols;
    for (size_t c = 0; c < t->n_cols; c++)
        cols[c] = (crest_str){row[c], strlen(row[c])};
    for (size_t i = 0; i < N_MAP; i++)
        d->field[kcs_map[i].field] = cols[mp->col[i]];
    d->cols = cols;
    d->n_cols = t->n_cols;
    int y;
    unsigned mo, da;
    d->date_days =
        sscanf(row[mp->col[1]], "%d-%u-%u", &y, &mo, &da) == 3 ? days_from_civil(y, mo, da) : CREST_DATE_NONE;
    d->declared_value = num_or_nan(row[mp->price]);
    d->net_mass_kg = num_or_nan(row[mp->mass]);
    if (jitter) {
        /* The jittered numbers replace the column text too, so that a spec
         * reading col(Item Price) as a category sees them. */
        static char price_txt[64], mass_txt[64];
        d->declared_value *= jitter[0];
        d->net_mass_kg *= jitter[1];
        snprintf(price_txt, sizeof price_txt, "%.10g", d->declared_value);
        snprintf(mass_txt, sizeof mass_txt, "%.10g", d->net_mass_kg);
        cols[mp->price] = (crest_str){price_txt, strlen(price_txt)};
        cols[mp->mass] = (crest_str){mass_txt, strlen(mass_txt)};
        d->field[CREST_FIELD_DECLARED_VALUE] = cols[mp->price];
        d->field[CREST_FIELD_NET_MASS_KG] = cols[mp->mass];
    }
    d->quantity = NAN;
    d->direction = 'I';
}

/* splitmix64 for the jitter. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static double jitter_factor(uint64_t seed, uint64_t split, size_t row, unsigned which)
{
    const uint64_t h = mix64(seed ^ mix64(split * 0x100000001b3ull + row * 4 + which));
    const double u = (double)(h >> 11) * 0x1.0p-53; /* [0,1) */
    return 1.0 + (u - 0.5) * 0.01;                  /* [0.995, 1.005) */
}

/* A factor in [1 - j, 1 + j) (the tree evaluation's jitter levels). */
static double jitter_by(uint64_t seed, uint64_t split, size_t row, unsigned which, double j)
{
    const uint64_t h = mix64(seed ^ mix64(split * 0x100000001b3ull + row * 4 + which));
    const double u = (double)(h >> 11) * 0x1.0p-53;
    return 1.0 + (2.0 * u - 1.0) * j;
}

/* ------------------------------------------------------------------------ */
/* Metrics                                                                  */

typedef struct scored {
    double p;
    int y;
    double revenue;
} scored;

static int cmp_desc(const void *a, const void *b)
{
    const double x = ((const scored *)a)->p, y = ((const scored *)b)->p;
    return (x < y) - (x > y);
}

static void report(const char *title, scored *s, size_t n)
{
    qsort(s, n, sizeof *s, cmp_desc);
    size_t n_pos = 0;
    for (size_t i = 0; i < n; i++)
        n_pos += (size_t)s[i].y;
    /* AUC by the rank-sum with mid-ranks for ties (scores are descending). */
    double rank_sum = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && s[j].p == s[i].p)
            j++;
        const double mid = (double)n - ((double)i + (double)j - 1) / 2.0; /* ascending rank */
        for (size_t k = i; k < j; k++)
            if (s[k].y)
                rank_sum += mid;
        i = j;
    }
    const double n1 = (double)n_pos, n0 = (double)(n - n_pos);
    const double auc = (rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0);
    printf("%s: %zu rows, %zu fraud (%.3f)\n", title, n, n_pos, n1 / (double)n);
    const double pct[] = {1, 2, 5, 10};
    for (size_t q = 0; q < 4; q++) {
        const size_t k = (size_t)ceil((double)n * pct[q] / 100.0);
        size_t hit = 0;
        for (size_t i = 0; i < k; i++)
            hit += (size_t)s[i].y;
        double rev = 0, rev_all = 0;
        for (size_t i = 0; i < n; i++) {
            rev_all += s[i].revenue;
            if (i < k)
                rev += s[i].revenue;
        }
        printf("  top %4.1f%% (%5zu): precision %.3f  recall %.3f  revenue %.3f\n", pct[q], k,
               (double)hit / (double)k, (double)hit / n1, rev_all > 0 ? rev / rev_all : 0.0);
    }
    printf("  AUC %.4f\n", auc);
}

/* ------------------------------------------------------------------------ */

typedef struct args {
    const char *data, *spec, *out;
    crest_lmodel_train_options opts;
    uint64_t jitter_seed;
    size_t train_rows;
    int no_jitter;
    const char *tree_params; /* --tree */
    const char *jitters;
    unsigned threads;
    int compare_logit;
    int score_only; /* --score-only: -o names an existing tree model */
    const char *logit_spec;
} args;

/* Score the validation quarter through crest_risk (kind, model file, spec)
 * for each jitter level; prints the report of each. */
static int score_levels(const args *a, const table_csv *va, const mapping *mva, crest_risk_model_kind kind,
                        const char *model_path, const char *spec, const char *what)
{
    crest_risk_config cfg;
    crest_risk_config_default(&cfg);
    cfg.model_kind = kind;
    cfg.model_path = model_path;
    cfg.model_features = spec;
    crest_risk *risk = NULL;
    crest_risk_scratch *sc = NULL;
    crest_risk_binding *bind = NULL;
    crest_diag d;
    crest_str *vh = malloc(va->n_cols * sizeof *vh);
    crest_str *cols = malloc(va->n_cols * sizeof *cols);
    scored *s = malloc(va->n_rows * sizeof *s);
    if (!vh || !cols || !s)
        return 1;
    for (size_t c = 0; c < va->n_cols; c++)
        vh[c] = (crest_str){va->header[c], strlen(va->header[c])};
    if (crest_risk_create(&cfg, &risk, &d) != CREST_OK ||
        crest_risk_bind(risk, vh, va->n_cols, &bind, &d) != CREST_OK ||
        crest_risk_scratch_create(risk, bind, &sc) != CREST_OK) {
        fprintf(stderr, "crest-kcs-eval: %s: %s\n", d.file, d.message);
        crest_risk_binding_free(bind);
        crest_risk_free(risk);
        free(vh);
        free(cols);
        free(s);
        return 1;
    }
    const long rate_col = find_col(va, "Tax Rate");
    char levels[256];
    snprintf(levels, sizeof levels, "%s", a->jitters);
    for (char *tok = strtok(levels, ","); tok; tok = strtok(NULL, ",")) {
        const double j = strtod(tok, NULL);
        for (size_t r = 0; r < va->n_rows; r++) {
            crest_decl decl;
            double jf[2] = {jitter_by(a->jitter_seed, 2, r, 0, j), jitter_by(a->jitter_seed, 2, r, 1, j)};
            make_decl(va, mva, r, cols, j > 0 ? jf : NULL, &decl);
            crest_risk_result rr;
            crest_risk_eval(risk, sc, &decl, &rr);
            char **row = va->cells + r * va->n_cols;
            s[r].p = rr.model_prob;
            s[r].y = strcmp(row[mva->fraud], "1") == 0;
            const double price = num_or_nan(row[mva->price]);
            const double rate = rate_col >= 0 ? num_or_nan(row[rate_col]) : NAN;
            s[r].revenue = s[r].y && isfinite(price) && isfinite(rate) ? price * rate / 100.0 : 0.0;
        }
        char title[160];
        snprintf(title, sizeof title, "%s, validation (2021 Q1), Item Price and Net Mass x[1-%g, 1+%g)", what,
                 j, j);
        report(title, s, va->n_rows);
    }
    crest_risk_scratch_free(sc);
    crest_risk_binding_free(bind);
    crest_risk_free(risk);
    free(vh);
    free(cols);
    free(s);
    return 0;
}

/* --tree: fit with the tree trainer on the exact training year, then score. */
static int run_tree(const args *a, const table_csv *tr, const table_csv *va, const mapping *mtr,
                    const mapping *mva)
{
    crest_diag d;
    crest_str *hdr = malloc(tr->n_cols * sizeof *hdr);
    crest_str *cols = malloc(tr->n_cols * sizeof *cols);
    if (!hdr || !cols)
        return 1;
    for (size_t c = 0; c < tr->n_cols; c++)
        hdr[c] = (crest_str){tr->header[c], strlen(tr->header[c])};
    crest_xgb_fit_options o;
    crest_xgb_fit_options_default(&o);
    o.params = a->tree_params;
    o.smoothing = a->opts.smoothing;
    o.folds = a->opts.folds;
    o.seed = a->opts.seed;
    o.n_threads = a->threads ? a->threads : 2;
    crest_xgb_trainer *t = NULL;
    int rc = 0;
    if (a->score_only) {
        free(hdr);
        free(cols);
        return score_levels(a, va, mva, CREST_RISK_MODEL_XGBOOST, a->out, a->spec, "tree");
    }
    if (crest_xgb_trainer_create(a->spec, hdr, tr->n_cols, &o, &t, &d) != CREST_OK) {
        fprintf(stderr, "crest-kcs-eval: %s:%lu:%lu: %s\n", d.file, d.line, d.column, d.message);
        rc = 1;
    }
    for (size_t r = 0; rc == 0 && r < tr->n_rows; r++) {
        crest_decl decl;
        make_decl(tr, mtr, r, cols, NULL, &decl);
        const int y = strcmp(tr->cells[r * tr->n_cols + (size_t)mtr->fraud], "1") == 0;
        if (crest_xgb_trainer_add(t, &decl, y, 0) != CREST_OK)
            rc = 1;
    }
    crest_xgb_fit_report rep;
    if (rc == 0 && crest_xgb_trainer_fit(t, a->out, &rep, &d) != CREST_OK) {
        fprintf(stderr, "crest-kcs-eval: fit: %s\n", d.message);
        rc = 2;
    }
    crest_xgb_trainer_free(t);
    free(hdr);
    free(cols);
    if (rc)
        return rc;
    printf("== tree model\nspec: %s\nparams: %s\nsmoothing %g folds %u seed %llu\n", a->spec, a->tree_params,
           o.smoothing, o.folds, (unsigned long long)o.seed);
    printf("fit: %zu rows (%zu positive), %zu features, early stopping on %zu rows: best %s %.5f at %u of %u "
           "rounds%s; written to %s\n",
           rep.n_rows, rep.n_positive, rep.n_features, rep.n_valid, rep.metric, rep.best_score, rep.n_rounds,
           rep.rounds_run, rep.refitted ? ", refitted on all rows" : "", a->out);
    rc = score_levels(a, va, mva, CREST_RISK_MODEL_XGBOOST, a->out, a->spec, "tree");
    if (rc == 0 && a->compare_logit) {
        /* The logistic model on the same exact training year, scored the same way. */
        char path[4096];
        snprintf(path, sizeof path, "%s.logit", a->out);
        crest_str *h2 = malloc(tr->n_cols * sizeof *h2);
        crest_str *c2 = malloc(tr->n_cols * sizeof *c2);
        crest_lmodel_trainer *lt = NULL;
        crest_lmodel *m = NULL;
        crest_lmodel_fit_report lrep;
        crest_lmodel_train_options lo = a->opts;
        for (size_t c = 0; h2 && c < tr->n_cols; c++)
            h2[c] = (crest_str){tr->header[c], strlen(tr->header[c])};
        if (!h2 || !c2 ||
            crest_lmodel_trainer_create(a->logit_spec, h2, tr->n_cols, &lo, &lt, &d) != CREST_OK)
            rc = 1;
        for (size_t r = 0; rc == 0 && r < tr->n_rows; r++) {
            crest_decl decl;
            make_decl(tr, mtr, r, c2, NULL, &decl);
            rc = crest_lmodel_trainer_add(lt, &decl,
                                          strcmp(tr->cells[r * tr->n_cols + (size_t)mtr->fraud], "1") == 0)
                     ? 1
                     : 0;
        }
        if (rc == 0 && (crest_lmodel_trainer_fit(lt, &m, &lrep, &d) != CREST_OK ||
                        crest_lmodel_save(m, path, &d) != CREST_OK))
            rc = 2;
        crest_lmodel_trainer_free(lt);
        crest_lmodel_free(m);
        free(h2);
        free(c2);
        if (rc == 0) {
            printf("== logistic model\nspec: %s\nsmoothing %g\n", a->logit_spec, lo.smoothing);
            char canon[4096];
            crest_lmodel_spec_canonical(a->logit_spec, canon, sizeof canon, NULL);
            rc = score_levels(a, va, mva, CREST_RISK_MODEL_LOGISTIC, path, canon, "logistic");
        }
        remove(path);
    }
    return rc;
}

/* One train/score run; jittered when jitter_on. Returns the exit status. */
static int run(const args *a, const table_csv *tr, const table_csv *va, const mapping *mtr,
               const mapping *mva, int jitter_on, const char *title)
{
    crest_diag d;
    crest_str *hdr = malloc(tr->n_cols * sizeof *hdr);
    crest_str *cols = malloc((tr->n_cols > va->n_cols ? tr->n_cols : va->n_cols) * sizeof *cols);
    if (!hdr || !cols)
        return 1;
    for (size_t c = 0; c < tr->n_cols; c++)
        hdr[c] = (crest_str){tr->header[c], strlen(tr->header[c])};
    crest_lmodel_trainer *t;
    crest_status st = crest_lmodel_trainer_create(a->spec, hdr, tr->n_cols, &a->opts, &t, &d);
    if (st != CREST_OK) {
        fprintf(stderr, "crest-kcs-eval: %s:%lu:%lu: %s\n", d.file, d.line, d.column, d.message);
        free(hdr);
        free(cols);
        return 1;
    }
    const size_t n_train = a->train_rows && a->train_rows < tr->n_rows ? a->train_rows : tr->n_rows;
    for (size_t r = 0; r < n_train; r++) {
        crest_decl decl;
        double jf[2];
        if (jitter_on) {
            jf[0] = jitter_factor(a->jitter_seed, 1, r, 0);
            jf[1] = jitter_factor(a->jitter_seed, 1, r, 1);
        }
        make_decl(tr, mtr, r, cols, jitter_on ? jf : NULL, &decl);
        const int y = strcmp(tr->cells[r * tr->n_cols + (size_t)mtr->fraud], "1") == 0;
        if ((st = crest_lmodel_trainer_add(t, &decl, y)) != CREST_OK) {
            fprintf(stderr, "crest-kcs-eval: row %zu: %s\n", r + 2, crest_status_message(st));
            crest_lmodel_trainer_free(t);
            free(hdr);
            free(cols);
            return 1;
        }
    }
    crest_lmodel *m;
    crest_lmodel_fit_report rep;
    st = crest_lmodel_trainer_fit(t, &m, &rep, &d);
    crest_lmodel_trainer_free(t);
    if (st != CREST_OK) {
        fprintf(stderr, "crest-kcs-eval: fit failed: %s (%zu iterations)\n", d.message, rep.n_iter);
        free(hdr);
        free(cols);
        return 2;
    }
    printf("== %s\nspec: %s\nlambda %g smoothing %g folds %u seed %llu\n", title,
           crest_lmodel_feature_spec(m), a->opts.l2_lambda, a->opts.smoothing, a->opts.folds,
           (unsigned long long)a->opts.seed);
    printf("fit: %zu rows, %zu positive, %zu features, %zu Newton iterations, deviance %.1f\n", rep.n_rows,
           rep.n_positive, rep.n_features, rep.n_iter, rep.deviance);
    /* Bind to the validation header (same names, maybe another order). */
    crest_str *vh = malloc(va->n_cols * sizeof *vh);
    for (size_t c = 0; vh && c < va->n_cols; c++)
        vh[c] = (crest_str){va->header[c], strlen(va->header[c])};
    if (!vh || crest_lmodel_bind(m, vh, va->n_cols, &d) != CREST_OK) {
        fprintf(stderr, "crest-kcs-eval: bind: %s\n", vh ? d.message : "out of memory");
        free(vh);
        crest_lmodel_free(m);
        free(hdr);
        free(cols);
        return 1;
    }
    scored *s = malloc(va->n_rows * sizeof *s);
    for (size_t r = 0; s && r < va->n_rows; r++) {
        crest_decl decl;
        double jf[2];
        if (jitter_on) {
            jf[0] = jitter_factor(a->jitter_seed, 2, r, 0);
            jf[1] = jitter_factor(a->jitter_seed, 2, r, 1);
        }
        make_decl(va, mva, r, cols, jitter_on ? jf : NULL, &decl);
        s[r].p = crest_lmodel_score(m, &decl, NULL);
        s[r].y = strcmp(va->cells[r * va->n_cols + (size_t)mva->fraud], "1") == 0;
        s[r].revenue = 0;
    }
    if (s)
        report("validation (2021 Q1)", s, va->n_rows);
    if (!jitter_on && a->out) {
        if (crest_lmodel_save(m, a->out, &d) != CREST_OK)
            fprintf(stderr, "crest-kcs-eval: %s: %s\n", d.file, d.message);
        else
            printf("model written to %s\n", a->out);
    }
    if (!jitter_on) {
        /* One example explanation: the highest-scored validation row. */
        size_t best = 0;
        double bp = -1;
        for (size_t r = 0; r < va->n_rows; r++) {
            crest_decl decl;
            make_decl(va, mva, r, cols, NULL, &decl);
            const double p = crest_lmodel_score(m, &decl, NULL);
            if (p > bp) {
                bp = p;
                best = r;
            }
        }
        crest_decl decl;
        crest_lmodel_explain ex;
        make_decl(va, mva, best, cols, NULL, &decl);
        crest_lmodel_score(m, &decl, &ex);
        printf("top row (line %zu) p=%.3f MODEL:", best + 2, bp);
        for (size_t k = 0; k < ex.n; k++)
            printf(" %s %+.2f", ex.feature[k], ex.contribution[k]);
        printf("\n");
    }
    free(s);
    free(vh);
    crest_lmodel_free(m);
    free(hdr);
    free(cols);
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: crest-kcs-eval [--data DIR] [--spec SPEC] [--lambda L] [--smoothing M]\n"
            "                      [--folds K] [--seed S] [--jitter-seed S] [--train-rows N]\n"
            "                      [--no-jitter] [-o MODEL]\n"
            "default DIR %s\ndefault SPEC %s\n",
            DEFAULT_DATA, DEFAULT_SPEC);
}

int main(int argc, char **argv)
{
    args a;
    memset(&a, 0, sizeof a);
    a.data = DEFAULT_DATA;
    a.spec = DEFAULT_SPEC;
    a.jitter_seed = 20210401u;
    a.jitters = "0,0.003,0.03,0.1";
    a.logit_spec = "te:hs6, te:hs4, te:hs2, te:origin, te:office, te:hs4*origin, te:hs6*origin, "
                   "log:declared_value, log:net_mass_kg, log:unit_value, rel:unit_value/hs4";
    crest_lmodel_train_options_default(&a.opts);
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(k, "--no-jitter") == 0) {
            a.no_jitter = 1;
            continue;
        }
        if (strcmp(k, "--score-only") == 0) {
            a.score_only = 1;
            continue;
        }
        if (strcmp(k, "--compare-logit") == 0) {
            a.compare_logit = 1;
            continue;
        }
        if (!v || (strcmp(k, "-h") == 0 || strcmp(k, "--help") == 0)) {
            usage();
            return 1;
        }
        i++;
        if (strcmp(k, "--data") == 0)
            a.data = v;
        else if (strcmp(k, "--spec") == 0)
            a.spec = v;
        else if (strcmp(k, "-o") == 0)
            a.out = v;
        else if (strcmp(k, "--lambda") == 0)
            a.opts.l2_lambda = strtod(v, NULL);
        else if (strcmp(k, "--smoothing") == 0)
            a.opts.smoothing = strtod(v, NULL);
        else if (strcmp(k, "--folds") == 0)
            a.opts.folds = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(k, "--seed") == 0)
            a.opts.seed = strtoull(v, NULL, 10);
        else if (strcmp(k, "--jitter-seed") == 0)
            a.jitter_seed = strtoull(v, NULL, 10);
        else if (strcmp(k, "--train-rows") == 0)
            a.train_rows = strtoul(v, NULL, 10);
        else if (strcmp(k, "--tree") == 0)
            a.tree_params = v;
        else if (strcmp(k, "--jitters") == 0)
            a.jitters = v;
        else if (strcmp(k, "--threads") == 0)
            a.threads = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(k, "--logit-spec") == 0)
            a.logit_spec = v;
        else {
            usage();
            return 1;
        }
    }
    char p_train[4096], p_valid[4096];
    snprintf(p_train, sizeof p_train, "%s/df_syn_train_eng.csv", a.data);
    snprintf(p_valid, sizeof p_valid, "%s/df_syn_valid_eng.csv", a.data);
    table_csv tr, va;
    if (read_csv(p_train, &tr) != 0)
        return 1;
    if (read_csv(p_valid, &va) != 0) {
        free_csv(&tr);
        return 1;
    }
    mapping mtr, mva;
    int rc = 1;
    if (a.tree_params && !a.out) {
        fprintf(stderr, "crest-kcs-eval: --tree needs -o MODEL.json\n");
    } else if (make_mapping(&tr, &mtr) == 0 && make_mapping(&va, &mva) == 0 && a.tree_params) {
        rc = run_tree(&a, &tr, &va, &mtr, &mva);
    } else if (make_mapping(&tr, &mtr) == 0 && make_mapping(&va, &mva) == 0) {
        rc = run(&a, &tr, &va, &mtr, &mva, 0, "exact values");
        if (rc == 0 && !a.no_jitter) {
            char title[128];
            snprintf(title, sizeof title,
                     "Item Price and Net Mass jittered x[0.995,1.005) (jitter seed %llu)",
                     (unsigned long long)a.jitter_seed);
            rc = run(&a, &tr, &va, &mtr, &mva, 1, title);
        }
    }
    free_csv(&tr);
    free_csv(&va);
    return rc;
}
