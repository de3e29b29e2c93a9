/*
 * simulate.c — the online simulation (crest_simulate.h): keeps a copy of
 * every declaration, orders them into periods, and for each period fits the
 * logistic model on the labels revealed so far, selects the period's budget
 * (top of the ranking plus keyed random exploration), reveals the labels of
 * the selected rows, and computes the metrics against a perfect selector.
 *
 * It reads no input, writes no file and never prints. It is not the
 * streaming hot path: rows are copied into one growing arena.
 */
#define _POSIX_C_SOURCE 200809L /* strdup, strncasecmp */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crest/crest_keyhash.h"
#include "crest/crest_lmodel.h"
#include "crest/crest_simulate.h"
#include "crest/crest_xgb.h"
#include "crest/crest_xgb_fit.h"
#include "sim_internal.h"
#include "textbuf.h"

/*
 * The model refitted each period: the logistic model, or a tree model
 * (opt.tree_params) trained by libxgboost on the same feature pipeline. Both
 * see only the rows added to their trainer: the training rows and the labels
 * revealed by inspection.
 */
typedef struct sim_model {
    crest_lmodel_trainer *lt;
    crest_lmodel *lm;
    crest_xgb_trainer *xt;
    crest_xgb *xm;
    crest_lmodel *map;
    float feat[CREST_LMODEL_MAX_ITEMS];
} sim_model;

static crest_status sim_model_create(const crest_sim *s, const crest_str *hdr, sim_model *sm,
                                     crest_diag *diag);
static crest_status sim_model_add(sim_model *sm, const crest_decl *d, int label);
static int sim_model_ready(const sim_model *sm);
static crest_status sim_model_fit(sim_model *sm, crest_diag *diag);
static double sim_model_score(sim_model *sm, const crest_decl *d);
static void sim_model_free(sim_model *sm);
static int find_column(const crest_sim *s, const char *name);

/* Numbers with 10 significant digits; shared encoders live in textbuf.c. */
#define num(tb, x) textbuf_csv_number((tb), (x), 10)
#define jnum(tb, x) textbuf_json_number((tb), (x), 10)
#define jstr(tb, s) textbuf_json_string((tb), (s))

/* A byte range relative to the start of a row's text; len ABSENT: no such column. */
typedef struct span {
    uint32_t off, len;
} span;
#define ABSENT UINT32_MAX

typedef struct sim_row {
    uint64_t text_off; /* the row's text in the arena */
    double declared_value, net_mass_kg, quantity;
    double revenue; /* 0 unless illicit */
    double u;       /* keyed uniform of (seed, decl_id) under CREST_SIM_K1 */
    double score;   /* NaN until scored */
    int32_t date_days;
    uint8_t illicit, train, outcome;
    char direction;
} sim_row;

/* Sort key of a ranking or a draw. */
typedef struct sort_key {
    double score, u;
    size_t idx;
} sort_key;

struct crest_sim {
    crest_sim_options opt;
    char *spec;
    /* The header: its text and spans (off into hdr_text). */
    char *hdr_text;
    span *hdr;
    size_t n_cols;
    int have_header;
    /* Rows: numbers, spans (n_cols + CREST_FIELD_COUNT per row), text. */
    sim_row *rows;
    size_t n_rows, cap_rows;
    span *spans;
    size_t cap_spans; /* in rows */
    char *arena;
    size_t arena_len, arena_cap;
    int field_col[CREST_FIELD_COUNT]; /* last column a field aliased (a search hint) */
    size_t n_train, n_undated;
    /* Results. */
    int ran;
    crest_sim_metrics *periods;
    size_t n_periods;
    crest_sim_metrics total;
    size_t decay_periods; /* effective K */
    char note[256];
    /* The strategy (crest_sim_set_strategy) and the batches. */
    crest_sim_strategy strategy;
    char *score_name;
    int score_col;
    uint8_t *inspect;
    unsigned batch_days;
    int64_t origin; /* the history's first date: the first batch's first day */
};

void crest_sim_options_default(crest_sim_options *o)
{
    memset(o, 0, sizeof *o);
    o->period = CREST_REPLAY_PERIOD_WEEK;
    o->rate = 0.05;
    o->final_rate = NAN;
    o->decay = CREST_SIM_DECAY_LINEAR;
    o->explore = 0.1;
    crest_lmodel_train_options t;
    crest_lmodel_train_options_default(&t);
    o->train = (crest_sim_fit){t.l2_lambda, t.smoothing, t.folds};
    o->ma_window = CREST_SIM_MA_WINDOW;
}

static int in_unit(double x)
{
    return x >= 0 && x <= 1;
}

crest_status crest_sim_create(const crest_sim_options *opts, crest_sim **out, crest_diag *diag)
{
    *out = NULL;
    crest_diag_clear(diag);
    if (opts->period == CREST_REPLAY_PERIOD_NONE || opts->period > CREST_REPLAY_PERIOD_MONTH)
        return crest_diag_set(diag, CREST_ERR_RANGE, "<simulate>", 0, 0,
                              "the simulation needs periods: day, week or month.");
    if (!in_unit(opts->rate) || !in_unit(opts->explore) ||
        (!isnan(opts->final_rate) && !in_unit(opts->final_rate)))
        return crest_diag_set(diag, CREST_ERR_RANGE, "<simulate>", 0, 0,
                              "rates and the exploration share must be in [0, 1].");
    if (opts->decay == CREST_SIM_DECAY_EXP && !isnan(opts->final_rate) &&
        !(opts->rate > 0 && opts->final_rate > 0))
        return crest_diag_set(diag, CREST_ERR_RANGE, "<simulate>", 0, 0,
                              "an exponential decay needs both rates above 0.");
    if (!opts->feature_spec)
        return crest_diag_set(diag, CREST_ERR_MISSING, "<simulate>", 0, 0,
                              "the simulation needs a feature spec ([model] features).");
    const size_t cap = 2 * strlen(opts->feature_spec) + 256;
    char *spec = malloc(cap);
    crest_sim *s = calloc(1, sizeof *s);
    if (!spec || !s) {
        free(spec);
        free(s);
        return crest_diag_set(diag, CREST_ERR_NOMEM, "<simulate>", 0, 0, "out of memory.");
    }
    const crest_status st = crest_lmodel_spec_canonical(opts->feature_spec, spec, cap, diag);
    if (st != CREST_OK) {
        free(spec);
        free(s);
        return st;
    }
    s->opt = *opts;
    s->opt.feature_spec = spec;
    if (s->opt.ma_window == 0)
        s->opt.ma_window = CREST_SIM_MA_WINDOW;
    s->spec = spec;
    for (int f = 0; f < CREST_FIELD_COUNT; f++)
        s->field_col[f] = -1;
    *out = s;
    return CREST_OK;
}

void crest_sim_free(crest_sim *s)
{
    if (!s)
        return;
    free(s->spec);
    free(s->hdr_text);
    free(s->hdr);
    free(s->rows);
    free(s->spans);
    free(s->arena);
    free(s->periods);
    free(s->score_name);
    free(s->inspect);
    free(s);
}

/* ------------------------------------------------------------ collecting */

crest_status crest_sim_header(crest_sim *s, const crest_str *header, size_t n_cols, crest_diag *diag)
{
    crest_diag_clear(diag);
    if (s->have_header) {
        for (size_t c = 0; c < n_cols || c < s->n_cols; c++) {
            const int same = c < n_cols && c < s->n_cols && header[c].len == s->hdr[c].len &&
                             memcmp(header[c].ptr, s->hdr_text + s->hdr[c].off, header[c].len) == 0;
            if (!same)
                return crest_diag_set(diag, CREST_ERR_MISMATCH, "<simulate>", 1, (unsigned long)c + 1,
                                      "the header differs from the first input's at column %zu: the training "
                                      "rows and the history need the same columns in the same order.",
                                      c + 1);
        }
        return CREST_OK;
    }
    size_t total = 0;
    for (size_t c = 0; c < n_cols; c++)
        total += header[c].len;
    s->hdr_text = malloc(total + 1);
    s->hdr = malloc((n_cols ? n_cols : 1) * sizeof *s->hdr);
    if (!s->hdr_text || !s->hdr)
        return crest_diag_set(diag, CREST_ERR_NOMEM, "<simulate>", 0, 0, "out of memory.");
    size_t off = 0;
    for (size_t c = 0; c < n_cols; c++) {
        if (header[c].len)
            memcpy(s->hdr_text + off, header[c].ptr, header[c].len);
        s->hdr[c] = (span){(uint32_t)off, (uint32_t)header[c].len};
        off += header[c].len;
    }
    s->n_cols = n_cols;
    s->have_header = 1;
    return CREST_OK;
}

static int arena_put(crest_sim *s, const char *p, size_t n)
{
    if (s->arena_len + n > s->arena_cap) {
        size_t cap = s->arena_cap ? s->arena_cap : 1 << 16;
        while (cap < s->arena_len + n)
            cap *= 2;
        char *q = realloc(s->arena, cap);
        if (!q)
            return -1;
        s->arena = q;
        s->arena_cap = cap;
    }
    if (n)
        memcpy(s->arena + s->arena_len, p, n);
    s->arena_len += n;
    return 0;
}

crest_status crest_sim_add(crest_sim *s, const crest_decl *decl, int illicit, double revenue, int train)
{
    if (!s->have_header || s->ran)
        return CREST_ERR_STATE;
    if (decl->n_cols != s->n_cols)
        return CREST_ERR_MISMATCH;
    const size_t per_row = s->n_cols + CREST_FIELD_COUNT;
    if (s->n_rows == s->cap_rows) {
        const size_t cap = s->cap_rows ? 2 * s->cap_rows : 1024;
        sim_row *r = realloc(s->rows, cap * sizeof *r);
        if (!r)
            return CREST_ERR_NOMEM;
        s->rows = r;
        span *sp = realloc(s->spans, cap * per_row * sizeof *sp);
        if (!sp)
            return CREST_ERR_NOMEM;
        s->spans = sp;
        s->cap_rows = cap;
    }
    span *sp = s->spans + s->n_rows * per_row;
    const size_t start = s->arena_len;
    for (size_t c = 0; c < s->n_cols; c++) {
        const crest_str v = decl->cols[c];
        if (arena_put(s, v.ptr, v.len) != 0)
            goto oom;
        sp[c] = (span){(uint32_t)(s->arena_len - v.len - start), (uint32_t)v.len};
    }
    /* A field is a view of one of the columns (the engine maps it); keep the
     * column's span then, else copy the field's text. */
    for (int f = 0; f < CREST_FIELD_COUNT; f++) {
        const crest_str v = decl->field[f];
        span *fs = &sp[s->n_cols + f];
        if (!v.ptr) {
            *fs = (span){0, ABSENT};
            continue;
        }
        int col = -1;
        const int hint = s->field_col[f];
        if (hint >= 0 && decl->cols[hint].ptr == v.ptr && decl->cols[hint].len == v.len)
            col = hint;
        for (size_t c = 0; col < 0 && c < s->n_cols; c++)
            if (decl->cols[c].ptr == v.ptr && decl->cols[c].len == v.len)
                col = (int)c;
        if (col >= 0) {
            s->field_col[f] = col;
            *fs = sp[col];
        } else {
            if (arena_put(s, v.ptr, v.len) != 0)
                goto oom;
            *fs = (span){(uint32_t)(s->arena_len - v.len - start), (uint32_t)v.len};
        }
    }
    if (s->arena_len - start >= ABSENT) {
        s->arena_len = start;
        return CREST_ERR_RANGE;
    }
    sim_row *r = &s->rows[s->n_rows];
    memset(r, 0, sizeof *r);
    r->text_off = start;
    r->declared_value = decl->declared_value;
    r->net_mass_kg = decl->net_mass_kg;
    r->quantity = decl->quantity;
    r->illicit = illicit == 1;
    r->revenue = r->illicit && !isnan(revenue) ? revenue : 0.0;
    r->score = NAN;
    r->date_days = decl->date_days;
    r->train = train != 0;
    r->direction = decl->direction;
    const crest_str id = decl->field[CREST_FIELD_DECL_ID];
    r->u = crest_keyhash_to_unit(
        crest_keyhash_siphash24(s->opt.seed, CREST_SIM_K1, id.ptr ? id.ptr : "", id.len));
    if (train)
        r->outcome = CREST_SIM_TRAIN, s->n_train++;
    else if (decl->date_days == CREST_DATE_NONE)
        r->outcome = CREST_SIM_UNDATED, s->n_undated++;
    else
        r->outcome = CREST_SIM_RELEASED;
    s->n_rows++;
    return CREST_OK;
oom:
    s->arena_len = start;
    return CREST_ERR_NOMEM;
}

/* The crest_decl view of row i; cols has room for n_cols views. */
static void row_view(const crest_sim *s, size_t i, crest_str *cols, crest_decl *d)
{
    const sim_row *r = &s->rows[i];
    const span *sp = s->spans + i * (s->n_cols + CREST_FIELD_COUNT);
    const char *base = s->arena + r->text_off;
    for (size_t c = 0; c < s->n_cols; c++)
        cols[c] = (crest_str){base + sp[c].off, sp[c].len};
    for (int f = 0; f < CREST_FIELD_COUNT; f++) {
        const span fs = sp[s->n_cols + f];
        d->field[f] = fs.len == ABSENT ? (crest_str){NULL, 0} : (crest_str){base + fs.off, fs.len};
    }
    d->cols = cols;
    d->n_cols = s->n_cols;
    d->date_days = r->date_days;
    d->declared_value = r->declared_value;
    d->net_mass_kg = r->net_mass_kg;
    d->quantity = r->quantity;
    d->direction = r->direction;
}

/* ------------------------------------------------------------ schedule */

static size_t effective_k(const crest_sim_options *o, size_t n_periods)
{
    if (o->decay_periods)
        return o->decay_periods;
    return n_periods > 1 ? n_periods - 1 : 1;
}

double crest_sim_rate_at(const crest_sim_options *o, size_t i, size_t n_periods)
{
    if (isnan(o->final_rate))
        return o->rate;
    const size_t k = effective_k(o, n_periods);
    const double t = (double)(i < k ? i : k) / (double)k;
    if (o->decay == CREST_SIM_DECAY_EXP)
        return o->rate * pow(o->final_rate / o->rate, t);
    return o->rate + (o->final_rate - o->rate) * t;
}

void crest_sim_moving_average(const double *x, size_t n, size_t window, double *out)
{
    if (window == 0)
        window = 1;
    for (size_t i = 0; i < n; i++) {
        double sum = 0;
        size_t k = 0;
        for (size_t j = i + 1 > window ? i + 1 - window : 0; j <= i; j++)
            if (!isnan(x[j]))
                sum += x[j], k++;
        out[i] = k ? sum / (double)k : NAN;
    }
}

/* ------------------------------------------------------------ the run */

/* Period key, then input order. */
typedef struct period_key {
    int64_t key;
    size_t idx;
} period_key;

static int cmp_period(const void *a, const void *b)
{
    const period_key *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Score descending (NaN last), then the keyed uniform, then input order. */
static int cmp_rank(const void *a, const void *b)
{
    const sort_key *x = a, *y = b;
    const int nx = isnan(x->score), ny = isnan(y->score);
    if (nx != ny)
        return nx - ny;
    if (!nx && x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->u != y->u)
        return x->u < y->u ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The keyed uniform, then input order. */
static int cmp_draw(const void *a, const void *b)
{
    const sort_key *x = a, *y = b;
    if (x->u != y->u)
        return x->u < y->u ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_desc(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x > y ? -1 : x < y;
}

static double ratio(double num, double den)
{
    return den > 0 ? num / den : NAN;
}

/* Precision, recall, shares and the normalised metrics from the counts. */
static void derive(crest_sim_metrics *m)
{
    m->precision = ratio((double)m->hits, (double)m->inspected);
    m->recall = ratio((double)m->hits, (double)m->illicit);
    m->revenue_share = ratio(m->revenue_caught, m->revenue_total);
    m->norm_precision = ratio((double)m->hits, m->oracle_hits);
    m->norm_revenue = ratio(m->revenue_caught, m->oracle_revenue);
}

static int moving_averages(crest_sim *s)
{
    const size_t n = s->n_periods, w = s->opt.ma_window;
    if (n == 0)
        return 0;
    double *x = malloc(2 * n * sizeof *x);
    if (!x)
        return -1;
    double *y = x + n;
#define MA(field, expr)                                                                                      \
    do {                                                                                                     \
        for (size_t i = 0; i < n; i++) {                                                                     \
            const crest_sim_metrics *m = &s->periods[i];                                                     \
            x[i] = (expr);                                                                                   \
        }                                                                                                    \
        crest_sim_moving_average(x, n, w, y);                                                                \
        for (size_t i = 0; i < n; i++)                                                                       \
            s->periods[i].ma.field = y[i];                                                                   \
    } while (0)
    MA(inspected, (double)m->inspected);
    MA(precision, m->precision);
    MA(recall, m->recall);
    MA(revenue_caught, m->revenue_caught);
    MA(revenue_share, m->revenue_share);
    MA(norm_precision, m->norm_precision);
    MA(norm_revenue, m->norm_revenue);
#undef MA
    free(x);
    return 0;
}

static void set_note(crest_sim *s, const crest_sim_metrics *m, const char *why)
{
    if (!s->note[0])
        snprintf(s->note, sizeof s->note, "period %s: %s", m->label, why);
}

/* The first day of the period holding date (see crest_sim_set_batch_days). */
static int64_t period_start(const crest_sim *s, int32_t date)
{
    if (s->batch_days)
        return s->origin + ((int64_t)date - s->origin) / s->batch_days * s->batch_days;
    return crest_replay_period_key(s->opt.period, date);
}

/* The day after the last day of the period that starts on key. */
static int64_t period_end(const crest_sim *s, int64_t key)
{
    if (s->batch_days)
        return key + s->batch_days;
    switch (s->opt.period) {
    case CREST_REPLAY_PERIOD_DAY:
        return key + 1;
    case CREST_REPLAY_PERIOD_WEEK:
        return key + 7;
    default: /* a month: key + 31 is in the next one */
        return crest_replay_period_key(CREST_REPLAY_PERIOD_MONTH, (int32_t)(key + 31));
    }
}

/*
 * Every history row back to released with no score and its keyed uniform
 * under this run's seed; the dates' range (origin of the batches). Returns
 * the number of dated history rows.
 */
static size_t fresh_rows(crest_sim *s, int32_t *lo, int32_t *hi)
{
    size_t n = 0;
    *lo = INT32_MAX;
    *hi = INT32_MIN;
    for (size_t i = 0; i < s->n_rows; i++) {
        sim_row *r = &s->rows[i];
        const span id = s->spans[i * (s->n_cols + CREST_FIELD_COUNT) + s->n_cols + CREST_FIELD_DECL_ID];
        const char *p = id.len == ABSENT ? "" : s->arena + r->text_off + id.off;
        r->u = crest_keyhash_to_unit(
            crest_keyhash_siphash24(s->opt.seed, CREST_SIM_K1, p, id.len == ABSENT ? 0 : id.len));
        r->score = NAN;
        if (r->outcome == CREST_SIM_TRAIN || r->outcome == CREST_SIM_UNDATED)
            continue;
        r->outcome = CREST_SIM_RELEASED;
        *lo = r->date_days < *lo ? r->date_days : *lo;
        *hi = r->date_days > *hi ? r->date_days : *hi;
        n++;
    }
    return n;
}

/*
 * The periods of sorted history rows pk[0..n): key, label, scheduled rate,
 * rows, covered days, and the budget: the horizon's ceil(Σ rate_p × rows_p)
 * by cumulative rounding (FIXED: what the given selections inspect).
 */
static void plan_periods(crest_sim *s, const period_key *pk, size_t n, int32_t lo, int32_t hi)
{
    const size_t n_periods = s->n_periods;
    double cum = 0, prev_ceil = 0;
    size_t first = 0;
    for (size_t p = 0; p < n_periods; p++) {
        size_t end = first + 1;
        while (end < n && pk[end].key == pk[first].key)
            end++;
        crest_sim_metrics *m = &s->periods[p];
        m->key = pk[first].key;
        crest_replay_period_label(s->batch_days ? CREST_REPLAY_PERIOD_DAY : s->opt.period, m->key, m->label);
        m->rate = crest_sim_rate_at(&s->opt, p, n_periods);
        m->rows = end - first;
        const int64_t stop = period_end(s, m->key);
        const int64_t from = m->key > lo ? m->key : lo, to = stop < (int64_t)hi + 1 ? stop : (int64_t)hi + 1;
        m->days = (uint32_t)(to - from);
        m->partial = to - from < stop - m->key;
        if (s->strategy == CREST_SIM_STRATEGY_FIXED) {
            for (size_t j = first; j < end; j++)
                m->budget += s->inspect[pk[j].idx] != 0;
        } else {
            cum += m->rate * (double)m->rows;
            const double c = ceil(cum - 1e-9);
            double b = c - prev_ceil;
            b = b < 0 ? 0 : b > (double)m->rows ? (double)m->rows : b;
            m->budget = (uint64_t)b;
            prev_ceil = c;
        }
        first = end;
    }
}

/* The external score of row i: the number in the score column, NaN when empty or unreadable. */
static double column_score(const crest_sim *s, size_t i)
{
    const span v = s->spans[i * (s->n_cols + CREST_FIELD_COUNT) + (size_t)s->score_col];
    char buf[64];
    if (v.len == 0 || v.len >= sizeof buf)
        return NAN;
    memcpy(buf, s->arena + s->rows[i].text_off + v.off, v.len);
    buf[v.len] = '\0';
    char *end;
    const double x = strtod(buf, &end);
    return end == buf + v.len && isfinite(x) ? x : NAN;
}

/* Per-run scratch of crest_sim_run. */
typedef struct run_ctx {
    sim_model model;
    crest_str *hdr, *cols;
    sort_key *keys;
    double *rev;
    uint64_t revealed, revealed_pos, fit_rows, fit_pos;
} run_ctx;

/*
 * Choose the period's selector: refit the model on everything revealed
 * before it when the strategy refits and anything new was revealed. Returns
 * 1 when the rows are ranked (keys' scores set), 0 when they are all drawn,
 * -1 on an error (status in *st).
 */
static int choose(crest_sim *s, run_ctx *c, crest_sim_metrics *m, crest_status *st, crest_diag *diag)
{
    switch (s->strategy) {
    case CREST_SIM_STRATEGY_RANDOM:
        m->selector = CREST_SIM_SEL_RANDOM;
        return 0;
    case CREST_SIM_STRATEGY_FIXED:
        m->selector = CREST_SIM_SEL_POLICY;
        return 0;
    case CREST_SIM_STRATEGY_SCORE:
        m->selector = s->opt.explore >= 1 ? CREST_SIM_SEL_RANDOM : CREST_SIM_SEL_SCORE;
        return s->opt.explore < 1;
    default:
        break;
    }
    sim_model *model = &c->model;
    if (s->opt.explore >= 1) { /* nothing is chosen by score: no refit */
        m->selector = CREST_SIM_SEL_RANDOM;
        return 0;
    }
    m->selector = sim_model_ready(model) ? CREST_SIM_SEL_PREVIOUS : CREST_SIM_SEL_RANDOM;
    if (sim_model_ready(model) && c->revealed == c->fit_rows) {
        m->selector = CREST_SIM_SEL_MODEL; /* nothing new revealed: the same fit */
    } else if (c->revealed_pos > 0 && c->revealed_pos < c->revealed) {
        crest_diag fd;
        const crest_status fs = sim_model_fit(model, &fd);
        if (fs == CREST_OK) {
            c->fit_rows = c->revealed;
            c->fit_pos = c->revealed_pos;
            m->selector = CREST_SIM_SEL_MODEL;
        } else if (fs == CREST_ERR_NOMEM) {
            *st = crest_diag_set(diag, fs, "<simulate>", 0, 0, "out of memory fitting the model.");
            return -1;
        } else {
            char why[200];
            snprintf(why, sizeof why, "the refit failed (%.150s)", fd.message);
            set_note(s, m, why);
        }
    } else if (c->revealed > 0 && (c->revealed_pos == 0 || c->revealed_pos == c->revealed)) {
        set_note(s, m, "only one class revealed so far: no model could be fitted");
    }
    if (m->selector != CREST_SIM_SEL_RANDOM) {
        m->train_rows = c->fit_rows;
        m->train_positive = c->fit_pos;
    }
    return sim_model_ready(model);
}

/* Select the budget of the period of rows pk[0..rows): ranked top, then the keyed draw. */
static int select_period(crest_sim *s, run_ctx *c, crest_sim_metrics *m, const period_key *pk, size_t rows,
                         int ranked)
{
    crest_decl d;
    for (size_t j = 0; j < rows; j++) {
        const size_t i = pk[j].idx;
        if (ranked && s->strategy == CREST_SIM_STRATEGY_SCORE) {
            s->rows[i].score = column_score(s, i);
        } else if (ranked) {
            row_view(s, i, c->cols, &d);
            s->rows[i].score = sim_model_score(&c->model, &d);
        }
        c->keys[j] = (sort_key){s->rows[i].score, s->rows[i].u, i};
    }
    if (s->strategy == CREST_SIM_STRATEGY_FIXED) {
        for (size_t j = 0; j < rows; j++)
            if (s->inspect[pk[j].idx])
                s->rows[pk[j].idx].outcome = CREST_SIM_BY_SCORE;
        return 0;
    }
    size_t n_score = 0, n_random = m->budget;
    if (ranked) {
        n_random = (size_t)floor(s->opt.explore * (double)m->budget + 0.5);
        if (n_random > m->budget)
            n_random = m->budget;
        n_score = m->budget - n_random;
        qsort(c->keys, rows, sizeof *c->keys, cmp_rank);
        if (n_score == 0 && n_random > 0) /* the whole budget was drawn: say so */
            m->selector = CREST_SIM_SEL_RANDOM;
    }
    for (size_t j = 0; j < n_score; j++)
        s->rows[c->keys[j].idx].outcome = CREST_SIM_BY_SCORE;
    qsort(c->keys + n_score, rows - n_score, sizeof *c->keys, cmp_draw);
    for (size_t j = n_score; j < n_score + n_random; j++)
        s->rows[c->keys[j].idx].outcome = CREST_SIM_RANDOM;
    return 0;
}

/* Count the period, reveal its inspected rows (in input order, so the trainer's
 * rows do not depend on the ranking) and work out the oracle. */
static crest_status reveal_period(crest_sim *s, run_ctx *c, crest_sim_metrics *m, const period_key *pk,
                                  size_t rows, crest_diag *diag)
{
    crest_decl d;
    size_t n_ill = 0;
    for (size_t j = 0; j < rows; j++) {
        const size_t i = pk[j].idx;
        const sim_row *r = &s->rows[i];
        m->illicit += r->illicit;
        m->revenue_total += r->revenue;
        if (r->illicit)
            c->rev[n_ill++] = r->revenue;
        if (r->outcome == CREST_SIM_RELEASED)
            continue;
        m->inspected++;
        m->by_score += r->outcome == CREST_SIM_BY_SCORE;
        m->random += r->outcome == CREST_SIM_RANDOM;
        m->hits += r->illicit;
        m->revenue_caught += r->revenue;
        if (s->strategy == CREST_SIM_STRATEGY_REFIT) {
            row_view(s, i, c->cols, &d);
            const crest_status st = sim_model_add(&c->model, &d, r->illicit);
            if (st != CREST_OK)
                return crest_diag_set(diag, st, "<simulate>", 0, 0, "cannot keep a revealed row: %s.",
                                      crest_status_message(st));
        }
        c->revealed++;
        c->revealed_pos += r->illicit;
    }
    qsort(c->rev, n_ill, sizeof *c->rev, cmp_desc);
    const size_t k = n_ill < m->budget ? n_ill : (size_t)m->budget;
    m->oracle_hits = (double)k;
    for (size_t j = 0; j < k; j++)
        m->oracle_revenue += c->rev[j];
    derive(m);
    return CREST_OK;
}

static void add_total(crest_sim_metrics *t, const crest_sim_metrics *m)
{
    t->rows += m->rows;
    t->illicit += m->illicit;
    t->budget += m->budget;
    t->inspected += m->inspected;
    t->by_score += m->by_score;
    t->random += m->random;
    t->hits += m->hits;
    t->revenue_total += m->revenue_total;
    t->revenue_caught += m->revenue_caught;
    t->oracle_hits += m->oracle_hits;
    t->oracle_revenue += m->oracle_revenue;
}

/* The model and its training rows (REFIT only). */
static crest_status start_model(crest_sim *s, run_ctx *c, crest_diag *diag)
{
    if (s->strategy != CREST_SIM_STRATEGY_REFIT)
        return CREST_OK;
    for (size_t k = 0; k < s->n_cols; k++)
        c->hdr[k] = (crest_str){s->hdr_text + s->hdr[k].off, s->hdr[k].len};
    crest_status st = sim_model_create(s, c->hdr, &c->model, diag);
    if (st != CREST_OK)
        return st;
    crest_decl d;
    for (size_t i = 0; i < s->n_rows; i++)
        if (s->rows[i].train) {
            row_view(s, i, c->cols, &d);
            if ((st = sim_model_add(&c->model, &d, s->rows[i].illicit)) != CREST_OK)
                return crest_diag_set(diag, st, "<simulate>", 0, 0, "cannot keep a training row: %s.",
                                      crest_status_message(st));
        }
    return CREST_OK;
}

crest_status crest_sim_run(crest_sim *s, crest_diag *diag)
{
    crest_diag_clear(diag);
    if (s->ran || !s->have_header)
        return crest_diag_set(diag, CREST_ERR_STATE, "<simulate>", 0, 0,
                              s->ran ? "the simulation has already run." : "no header: no input was read.");
    s->ran = 1;
    if (s->strategy == CREST_SIM_STRATEGY_SCORE && (s->score_col = find_column(s, s->score_name)) < 0)
        return crest_diag_set(diag, CREST_ERR_MISSING, "<simulate>", 1, 0,
                              "no column '%s' for the score in the header.", s->score_name);
    crest_status st = CREST_OK;
    int32_t lo, hi;
    const size_t n = fresh_rows(s, &lo, &hi);
    s->origin = lo;
    const size_t cap = n ? n : 1;
    period_key *pk = malloc(cap * sizeof *pk);
    run_ctx c;
    memset(&c, 0, sizeof c);
    c.keys = malloc(cap * sizeof *c.keys);
    c.rev = malloc(cap * sizeof *c.rev);
    c.hdr = malloc((s->n_cols ? s->n_cols : 1) * sizeof *c.hdr);
    c.cols = malloc((s->n_cols ? s->n_cols : 1) * sizeof *c.cols);
    if (!pk || !c.keys || !c.rev || !c.hdr || !c.cols) {
        st = crest_diag_set(diag, CREST_ERR_NOMEM, "<simulate>", 0, 0, "out of memory.");
        goto done;
    }
    /* Periods: the dated history rows sorted by period key, then input order. */
    size_t k = 0;
    for (size_t i = 0; i < s->n_rows; i++)
        if (s->rows[i].outcome == CREST_SIM_RELEASED)
            pk[k++] = (period_key){period_start(s, s->rows[i].date_days), i};
    qsort(pk, n, sizeof *pk, cmp_period);
    size_t n_periods = 0;
    for (size_t i = 0; i < n; i++)
        n_periods += i == 0 || pk[i].key != pk[i - 1].key;
    s->periods = calloc(n_periods ? n_periods : 1, sizeof *s->periods);
    if (!s->periods) {
        st = crest_diag_set(diag, CREST_ERR_NOMEM, "<simulate>", 0, 0, "out of memory.");
        goto done;
    }
    s->n_periods = n_periods;
    s->decay_periods = effective_k(&s->opt, n_periods);
    plan_periods(s, pk, n, lo, hi);
    if ((st = start_model(s, &c, diag)) != CREST_OK)
        goto done;
    c.revealed = s->n_train;
    for (size_t i = 0; i < s->n_rows; i++)
        c.revealed_pos += s->rows[i].train && s->rows[i].illicit;

    size_t first = 0;
    for (size_t p = 0; p < n_periods; p++) {
        crest_sim_metrics *m = &s->periods[p];
        const int ranked = choose(s, &c, m, &st, diag);
        if (ranked < 0)
            goto done;
        select_period(s, &c, m, pk + first, m->rows, ranked);
        if ((st = reveal_period(s, &c, m, pk + first, m->rows, diag)) != CREST_OK)
            goto done;
        add_total(&s->total, m);
        first += m->rows;
    }
    if (moving_averages(s) != 0) {
        st = crest_diag_set(diag, CREST_ERR_NOMEM, "<simulate>", 0, 0, "out of memory.");
        goto done;
    }
    snprintf(s->total.label, sizeof s->total.label, "total");
    s->total.selector = -1;
    s->total.rate = ratio((double)s->total.inspected, (double)s->total.rows);
    s->total.train_rows = c.revealed;
    s->total.train_positive = c.revealed_pos;
    s->total.days = n ? (uint32_t)(hi - lo + 1) : 0;
    for (size_t p = 0; p < n_periods; p++)
        s->total.partial |= s->periods[p].partial;
    derive(&s->total);
    if (n_periods)
        s->total.ma = s->periods[n_periods - 1].ma;
    else
        s->total.ma = (crest_sim_ma){NAN, NAN, NAN, NAN, NAN, NAN, NAN};
done:
    sim_model_free(&c.model);
    free(pk);
    free(c.keys);
    free(c.rev);
    free(c.hdr);
    free(c.cols);
    return st;
}

/* Column of a header name (ASCII case ignored), -1 when absent. */
static int find_column(const crest_sim *s, const char *name)
{
    const size_t len = name ? strlen(name) : 0;
    for (size_t c = 0; name && c < s->n_cols; c++)
        if (s->hdr[c].len == len && strncasecmp(s->hdr_text + s->hdr[c].off, name, len) == 0)
            return (int)c;
    return -1;
}

crest_status crest_sim_set_batch_days(crest_sim *s, unsigned n)
{
    if (s->ran)
        return CREST_ERR_STATE;
    if (n > 3660)
        return CREST_ERR_RANGE;
    s->batch_days = n;
    return CREST_OK;
}

crest_status crest_sim_set_strategy(crest_sim *s, crest_sim_strategy strategy, const char *score_column,
                                    const uint8_t *inspect, size_t n_inspect, crest_diag *diag)
{
    crest_diag_clear(diag);
    if (s->ran)
        return crest_diag_set(diag, CREST_ERR_STATE, "<simulate>", 0, 0, "reset the simulation first.");
    if (strategy > CREST_SIM_STRATEGY_FIXED || (strategy == CREST_SIM_STRATEGY_SCORE && !score_column) ||
        (strategy == CREST_SIM_STRATEGY_FIXED && (!inspect || n_inspect != s->n_rows)))
        return crest_diag_set(diag, CREST_ERR_INVALID, "<simulate>", 0, 0,
                              "a score strategy needs a column, a fixed one a selection for every row.");
    char *name = NULL;
    uint8_t *sel = NULL;
    if (score_column && !(name = strdup(score_column)))
        return crest_diag_set(diag, CREST_ERR_NOMEM, "<simulate>", 0, 0, "out of memory.");
    if (strategy == CREST_SIM_STRATEGY_FIXED) {
        if (!(sel = malloc(n_inspect ? n_inspect : 1))) {
            free(name);
            return crest_diag_set(diag, CREST_ERR_NOMEM, "<simulate>", 0, 0, "out of memory.");
        }
        memcpy(sel, inspect, n_inspect);
    }
    if (strategy == CREST_SIM_STRATEGY_SCORE && s->have_header && find_column(s, name) < 0) {
        crest_diag_set(diag, CREST_ERR_MISSING, "<simulate>", 1, 0,
                       "no column '%s' for the score in the header.", name);
        free(name);
        return CREST_ERR_MISSING;
    }
    free(s->score_name);
    free(s->inspect);
    s->score_name = name;
    s->inspect = sel;
    s->strategy = strategy;
    return CREST_OK;
}

crest_status crest_sim_reset(crest_sim *s, const crest_sim_options *opts, crest_diag *diag)
{
    crest_sim *fresh = NULL;
    const crest_status st = crest_sim_create(opts, &fresh, diag);
    if (st != CREST_OK)
        return st;
    if (strcmp(fresh->spec, s->spec) != 0) {
        crest_sim_free(fresh);
        return crest_diag_set(
            diag, CREST_ERR_INVALID, "<simulate>", 0, 0,
            "a reset keeps the feature spec: create another simulation for other features.");
    }
    s->opt = fresh->opt;
    s->opt.feature_spec = s->spec;
    crest_sim_free(fresh);
    free(s->periods);
    s->periods = NULL;
    s->n_periods = 0;
    memset(&s->total, 0, sizeof s->total);
    s->note[0] = '\0';
    s->ran = 0;
    return CREST_OK;
}

/* ------------------------------------------------------------ accessors */

size_t crest_sim_period_count(const crest_sim *s)
{
    return s->n_periods;
}
const crest_sim_metrics *crest_sim_period_at(const crest_sim *s, size_t i)
{
    return i < s->n_periods ? &s->periods[i] : NULL;
}
const crest_sim_metrics *crest_sim_total(const crest_sim *s)
{
    return &s->total;
}
size_t crest_sim_row_count(const crest_sim *s)
{
    return s->n_rows;
}
size_t crest_sim_train_count(const crest_sim *s)
{
    return s->n_train;
}
size_t crest_sim_undated_count(const crest_sim *s)
{
    return s->n_undated;
}
const char *crest_sim_note(const crest_sim *s)
{
    return s->note;
}

crest_status crest_sim_row_outcome(const crest_sim *s, size_t i, crest_sim_outcome *outcome, double *score)
{
    if (i >= s->n_rows)
        return CREST_ERR_RANGE;
    if (outcome)
        *outcome = (crest_sim_outcome)s->rows[i].outcome;
    if (score)
        *score = s->rows[i].score;
    return CREST_OK;
}

/* ------------------------------------------------------------ writers */

const char *crest_sim_selector_name(int sel)
{
    switch (sel) {
    case CREST_SIM_SEL_RANDOM:
        return "random";
    case CREST_SIM_SEL_MODEL:
        return "model";
    case CREST_SIM_SEL_PREVIOUS:
        return "previous";
    case CREST_SIM_SEL_SCORE:
        return "score";
    case CREST_SIM_SEL_POLICY:
        return "policy";
    default:
        return "";
    }
}

const char sim_csv_columns[] =
    "period,selector,rate,rows,illicit,budget,inspected,by_score,random,hits,precision,recall,revenue_total,"
    "revenue_caught,revenue_share,oracle_hits,oracle_revenue,norm_precision,norm_revenue,train_rows,"
    "train_positive,ma_inspected,ma_precision,ma_recall,ma_revenue_caught,ma_revenue_share,ma_norm_precision,"
    "ma_norm_revenue";

void sim_csv_row(textbuf *tb, const crest_sim_metrics *m)
{
    textbuf_printf(tb, "%s,%s,", m->label, crest_sim_selector_name(m->selector));
    num(tb, m->rate);
    textbuf_printf(tb, ",%llu,%llu,%llu,%llu,%llu,%llu,%llu", (unsigned long long)m->rows,
                   (unsigned long long)m->illicit, (unsigned long long)m->budget,
                   (unsigned long long)m->inspected, (unsigned long long)m->by_score,
                   (unsigned long long)m->random, (unsigned long long)m->hits);
    const double v[] = {m->precision,      m->recall,         m->revenue_total,
                        m->revenue_caught, m->revenue_share,  m->oracle_hits,
                        m->oracle_revenue, m->norm_precision, m->norm_revenue};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        textbuf_puts(tb, ",");
        num(tb, v[i]);
    }
    textbuf_printf(tb, ",%llu,%llu", (unsigned long long)m->train_rows,
                   (unsigned long long)m->train_positive);
    const double a[] = {m->ma.inspected,     m->ma.precision,      m->ma.recall,      m->ma.revenue_caught,
                        m->ma.revenue_share, m->ma.norm_precision, m->ma.norm_revenue};
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
        textbuf_puts(tb, ",");
        num(tb, a[i]);
    }
}

char *crest_sim_csv(const crest_sim *s)
{
    textbuf tb;
    textbuf_init(&tb);
    textbuf_printf(&tb, "%s\n", sim_csv_columns);
    for (size_t p = 0; p <= s->n_periods; p++) {
        sim_csv_row(&tb, p < s->n_periods ? &s->periods[p] : &s->total);
        textbuf_puts(&tb, "\n");
    }
    return textbuf_take(&tb);
}

static void json_metrics(textbuf *tb, const crest_sim_metrics *m)
{
    textbuf_puts(tb, "{\"period\":");
    jstr(tb, m->label);
    if (m->selector >= 0) {
        textbuf_puts(tb, ",\"selector\":");
        jstr(tb, crest_sim_selector_name(m->selector));
    }
    textbuf_puts(tb, ",\"rate\":");
    jnum(tb, m->rate);
    textbuf_printf(tb,
                   ",\"rows\":%llu,\"illicit\":%llu,\"budget\":%llu,\"inspected\":%llu,\"by_score\":%llu,"
                   "\"random\":%llu,\"hits\":%llu,\"train_rows\":%llu,\"train_positive\":%llu",
                   (unsigned long long)m->rows, (unsigned long long)m->illicit, (unsigned long long)m->budget,
                   (unsigned long long)m->inspected, (unsigned long long)m->by_score,
                   (unsigned long long)m->random, (unsigned long long)m->hits,
                   (unsigned long long)m->train_rows, (unsigned long long)m->train_positive);
    const char *const names[] = {"precision",      "recall",         "revenue_total",
                                 "revenue_caught", "revenue_share",  "oracle_hits",
                                 "oracle_revenue", "norm_precision", "norm_revenue"};
    const double v[] = {m->precision,      m->recall,         m->revenue_total,
                        m->revenue_caught, m->revenue_share,  m->oracle_hits,
                        m->oracle_revenue, m->norm_precision, m->norm_revenue};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        textbuf_printf(tb, ",\"%s\":", names[i]);
        jnum(tb, v[i]);
    }
    const char *const ma_names[] = {"inspected",     "precision",      "recall",      "revenue_caught",
                                    "revenue_share", "norm_precision", "norm_revenue"};
    const double a[] = {m->ma.inspected,     m->ma.precision,      m->ma.recall,      m->ma.revenue_caught,
                        m->ma.revenue_share, m->ma.norm_precision, m->ma.norm_revenue};
    textbuf_puts(tb, ",\"moving_average\":{");
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
        textbuf_printf(tb, "%s\"%s\":", i ? "," : "", ma_names[i]);
        jnum(tb, a[i]);
    }
    textbuf_puts(tb, "}}");
}

char *crest_sim_json(const crest_sim *s, const char *name, const char *input, int partial)
{
    const crest_sim_options *o = &s->opt;
    textbuf tb;
    textbuf_init(&tb);
    textbuf_puts(&tb, "{\"format\":\"crest-simulate 1\",\"policy\":");
    jstr(&tb, name ? name : "");
    textbuf_puts(&tb, ",\"input\":");
    jstr(&tb, input ? input : "");
    textbuf_printf(&tb, ",\"partial\":%s,\"period\":", partial ? "true" : "false");
    jstr(&tb, crest_replay_period_name(o->period));
    textbuf_puts(&tb, ",\"options\":{\"rate\":");
    jnum(&tb, o->rate);
    textbuf_puts(&tb, ",\"final_rate\":");
    jnum(&tb, o->final_rate);
    textbuf_printf(&tb, ",\"decay\":\"%s\",\"decay_periods\":%zu,\"explore\":",
                   o->decay == CREST_SIM_DECAY_EXP ? "exp" : "linear", s->decay_periods);
    jnum(&tb, o->explore);
    textbuf_printf(&tb, ",\"seed\":%llu,\"ma_window\":%u,\"features\":", (unsigned long long)o->seed,
                   o->ma_window);
    jstr(&tb, s->spec);
    textbuf_puts(&tb, ",\"l2\":");
    jnum(&tb, o->train.l2_lambda);
    textbuf_puts(&tb, ",\"smoothing\":");
    jnum(&tb, o->train.smoothing);
    textbuf_printf(&tb, ",\"folds\":%u},\"rows\":%zu,\"train_rows\":%zu,\"undated_rows\":%zu,\"note\":",
                   o->train.folds, s->n_rows, s->n_train, s->n_undated);
    jstr(&tb, s->note);
    textbuf_puts(&tb, ",\"total\":");
    json_metrics(&tb, &s->total);
    textbuf_puts(&tb, ",\"periods\":[");
    for (size_t p = 0; p < s->n_periods; p++) {
        textbuf_puts(&tb, p ? ",\n" : "\n");
        json_metrics(&tb, &s->periods[p]);
    }
    textbuf_puts(&tb, "]}\n");
    return textbuf_take(&tb);
}

/* ------------------------------------------------------------------------ */
/* The refitted model: logistic or trees                                    */

static crest_status sim_model_create(const crest_sim *s, const crest_str *hdr, sim_model *sm,
                                     crest_diag *diag)
{
    if (s->opt.tree_params) {
        crest_xgb_fit_options o;
        crest_xgb_fit_options_default(&o);
        o.params = s->opt.tree_params[0] ? s->opt.tree_params : NULL;
        o.seed = s->opt.seed;
        o.n_threads = 1;
        o.smoothing = s->opt.train.smoothing;
        o.folds = s->opt.train.folds;
        return crest_xgb_trainer_create(s->spec, hdr, s->n_cols, &o, &sm->xt, diag);
    }
    crest_lmodel_train_options topt;
    crest_lmodel_train_options_default(&topt);
    topt.l2_lambda = s->opt.train.l2_lambda;
    topt.smoothing = s->opt.train.smoothing;
    topt.folds = s->opt.train.folds;
    return crest_lmodel_trainer_create(s->spec, hdr, s->n_cols, &topt, &sm->lt, diag);
}

static crest_status sim_model_add(sim_model *sm, const crest_decl *d, int label)
{
    return sm->xt ? crest_xgb_trainer_add(sm->xt, d, label, 0) : crest_lmodel_trainer_add(sm->lt, d, label);
}

static int sim_model_ready(const sim_model *sm)
{
    return sm->lm != NULL || sm->xm != NULL;
}

/* Refit on every row added so far; the previous model stays on failure. */
static crest_status sim_model_fit(sim_model *sm, crest_diag *diag)
{
    if (sm->xt) {
        crest_xgb *xm = NULL;
        crest_lmodel *map = NULL;
        const crest_status st = crest_xgb_trainer_fit_model(sm->xt, &xm, &map, NULL, diag);
        if (st == CREST_OK) {
            crest_xgb_free(sm->xm);
            crest_lmodel_free(sm->map);
            sm->xm = xm;
            sm->map = map;
        }
        return st;
    }
    crest_lmodel *fresh = NULL;
    crest_lmodel_fit_report rep;
    const crest_status st = crest_lmodel_trainer_fit(sm->lt, &fresh, &rep, diag);
    if (st == CREST_OK) {
        crest_lmodel_free(sm->lm);
        sm->lm = fresh;
    }
    return st;
}

static double sim_model_score(sim_model *sm, const crest_decl *d)
{
    if (!sm->xm)
        return crest_lmodel_score(sm->lm, d, NULL);
    crest_lmodel_features(sm->map, d, sm->feat);
    double p = NAN;
    crest_xgb_predict(sm->xm, sm->feat, crest_lmodel_n_items(sm->map), &p);
    return p;
}

static void sim_model_free(sim_model *sm)
{
    crest_lmodel_free(sm->lm);
    crest_lmodel_trainer_free(sm->lt);
    crest_xgb_free(sm->xm);
    crest_lmodel_free(sm->map);
    crest_xgb_trainer_free(sm->xt);
}
