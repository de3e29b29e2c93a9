/*
 * study.c — many simulations side by side (crest_study.h): copies of the
 * runs' metrics with their settings, grouped by strategy, rate and
 * exploration; per group, period and metric the mean over seeds with a 95%
 * Student t interval; the CSV and JSON writers.
 *
 * It reads no input, writes no file and never prints.
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_study.h"
#include "sim_internal.h"
#include "textbuf.h"

#define num(tb, x) textbuf_csv_number((tb), (x), 10)
#define jnum(tb, x) textbuf_json_number((tb), (x), 10)

const char *const crest_study_metric_names[CREST_STUDY_N_METRICS] = {
    "inspected",     "budget",         "hits",         "precision",   "recall",
    "revenue_share", "norm_precision", "norm_revenue", "ma_precision"};

typedef struct study_run {
    crest_study_setting set; /* strings owned */
    size_t group;
    crest_sim_metrics *m; /* periods, then the total */
} study_run;

struct crest_study {
    study_run *runs;
    size_t n_runs, cap_runs;
    size_t *group_first; /* index of each group's first run */
    size_t n_groups;
    size_t n_periods;
};

crest_status crest_study_create(crest_study **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? CREST_OK : CREST_ERR_NOMEM;
}

void crest_study_free(crest_study *st)
{
    if (!st)
        return;
    for (size_t r = 0; r < st->n_runs; r++) {
        free((char *)st->runs[r].set.strategy);
        free((char *)st->runs[r].set.policy_hash);
        free(st->runs[r].m);
    }
    free(st->runs);
    free(st->group_first);
    free(st);
}

static int same_number(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

static int same_group(const crest_study_setting *a, const crest_study_setting *b)
{
    return !strcmp(a->strategy, b->strategy) && same_number(a->rate, b->rate) &&
           same_number(a->explore, b->explore) && !strcmp(a->policy_hash, b->policy_hash);
}

crest_status crest_study_add(crest_study *st, const crest_study_setting *setting, const crest_sim *sim)
{
    const size_t np = crest_sim_period_count(sim);
    if (st->n_runs && np != st->n_periods)
        return CREST_ERR_MISMATCH;
    for (size_t p = 0; st->n_runs && p < np; p++)
        if (crest_sim_period_at(sim, p)->key != st->runs[0].m[p].key)
            return CREST_ERR_MISMATCH;
    if (st->n_runs == st->cap_runs) {
        const size_t cap = st->cap_runs ? 2 * st->cap_runs : 16;
        study_run *r = realloc(st->runs, cap * sizeof *r);
        if (!r)
            return CREST_ERR_NOMEM;
        st->runs = r;
        size_t *g = realloc(st->group_first, cap * sizeof *g);
        if (!g)
            return CREST_ERR_NOMEM;
        st->group_first = g;
        st->cap_runs = cap;
    }
    study_run *r = &st->runs[st->n_runs];
    memset(r, 0, sizeof *r);
    r->set = *setting;
    r->set.strategy = strdup(setting->strategy ? setting->strategy : "");
    r->set.policy_hash = strdup(setting->policy_hash ? setting->policy_hash : "");
    r->m = malloc((np + 1) * sizeof *r->m);
    if (!r->set.strategy || !r->set.policy_hash || !r->m) {
        free((char *)r->set.strategy);
        free((char *)r->set.policy_hash);
        free(r->m);
        return CREST_ERR_NOMEM;
    }
    for (size_t p = 0; p < np; p++)
        r->m[p] = *crest_sim_period_at(sim, p);
    r->m[np] = *crest_sim_total(sim);
    size_t g = 0;
    while (g < st->n_groups && !same_group(&st->runs[st->group_first[g]].set, &r->set))
        g++;
    if (g == st->n_groups)
        st->group_first[st->n_groups++] = st->n_runs;
    r->group = g;
    st->n_periods = np;
    st->n_runs++;
    return CREST_OK;
}

size_t crest_study_run_count(const crest_study *st)
{
    return st->n_runs;
}
size_t crest_study_group_count(const crest_study *st)
{
    return st->n_groups;
}
size_t crest_study_period_count(const crest_study *st)
{
    return st->n_periods;
}

const crest_study_setting *crest_study_group_setting(const crest_study *st, size_t g, size_t *n_runs)
{
    if (g >= st->n_groups)
        return NULL;
    if (n_runs) {
        *n_runs = 0;
        for (size_t r = 0; r < st->n_runs; r++)
            *n_runs += st->runs[r].group == g;
    }
    return &st->runs[st->group_first[g]].set;
}

const crest_sim_metrics *crest_study_period(const crest_study *st, size_t p)
{
    return st->n_runs && p <= st->n_periods ? &st->runs[0].m[p] : NULL;
}

static double metric_of(const crest_sim_metrics *m, int metric)
{
    switch (metric) {
    case CREST_STUDY_INSPECTED:
        return (double)m->inspected;
    case CREST_STUDY_BUDGET:
        return (double)m->budget;
    case CREST_STUDY_HITS:
        return (double)m->hits;
    case CREST_STUDY_PRECISION:
        return m->precision;
    case CREST_STUDY_RECALL:
        return m->recall;
    case CREST_STUDY_REVENUE_SHARE:
        return m->revenue_share;
    case CREST_STUDY_NORM_PRECISION:
        return m->norm_precision;
    case CREST_STUDY_NORM_REVENUE:
        return m->norm_revenue;
    case CREST_STUDY_MA_PRECISION:
        return m->ma.precision;
    default:
        return NAN;
    }
}

double crest_study_value(const crest_study *st, size_t g, size_t r, size_t p, int metric)
{
    for (size_t i = 0; i < st->n_runs && p <= st->n_periods; i++)
        if (st->runs[i].group == g && r-- == 0)
            return metric_of(&st->runs[i].m[p], metric);
    return NAN;
}

crest_study_stat crest_study_stat_at(const crest_study *st, size_t g, size_t p, int metric)
{
    crest_study_stat s = {NAN, NAN, NAN, 0};
    if (p > st->n_periods)
        return s;
    double sum = 0;
    for (size_t i = 0; i < st->n_runs; i++) {
        const double x = st->runs[i].group == g ? metric_of(&st->runs[i].m[p], metric) : NAN;
        if (!isnan(x))
            sum += x, s.n++;
    }
    if (s.n == 0)
        return s;
    s.mean = sum / s.n;
    if (s.n < 2)
        return s;
    double ss = 0;
    for (size_t i = 0; i < st->n_runs; i++) {
        const double x = st->runs[i].group == g ? metric_of(&st->runs[i].m[p], metric) : NAN;
        if (!isnan(x))
            ss += (x - s.mean) * (x - s.mean);
    }
    const double half = gsl_cdf_tdist_Pinv(0.975, (double)(s.n - 1)) * sqrt(ss / (s.n - 1) / s.n);
    /* Clipped to the metric's range: counts >= 0, shares in [0, 1]. */
    const int share = metric >= CREST_STUDY_PRECISION;
    s.lo = fmax(0, s.mean - half);
    s.hi = share ? fmin(1, s.mean + half) : s.mean + half;
    return s;
}

/* ------------------------------------------------------------ writers */

/* A CSV field, quoted when it needs to be. */
static void csv_text(textbuf *tb, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        textbuf_puts(tb, s);
        return;
    }
    textbuf_puts(tb, "\"");
    for (const char *p = s; *p; p++) {
        textbuf_append(tb, p, 1);
        if (*p == '"')
            textbuf_append(tb, p, 1);
    }
    textbuf_puts(tb, "\"");
}

/* strategy,target_rate,explore,policy_hash (and the seed when seed != NULL). */
static void csv_setting(textbuf *tb, const crest_study_setting *s, const uint64_t *seed)
{
    csv_text(tb, s->strategy);
    if (seed)
        textbuf_printf(tb, ",%llu", (unsigned long long)*seed);
    textbuf_puts(tb, ",");
    num(tb, s->rate);
    textbuf_puts(tb, ",");
    num(tb, s->explore);
    textbuf_printf(tb, ",%s,", s->policy_hash);
}

char *crest_study_csv(const crest_study *st)
{
    textbuf tb;
    textbuf_init(&tb);
    textbuf_printf(&tb, "strategy,seed,target_rate,explore,policy_hash,%s,days,partial\n", sim_csv_columns);
    for (size_t r = 0; r < st->n_runs; r++)
        for (size_t p = 0; p <= st->n_periods; p++) {
            const crest_sim_metrics *m = &st->runs[r].m[p];
            csv_setting(&tb, &st->runs[r].set, &st->runs[r].set.seed);
            sim_csv_row(&tb, m);
            textbuf_printf(&tb, ",%u,%d\n", m->days, m->partial);
        }
    return textbuf_take(&tb);
}

char *crest_study_summary_csv(const crest_study *st)
{
    textbuf tb;
    textbuf_init(&tb);
    textbuf_puts(&tb, "strategy,target_rate,explore,policy_hash,seeds,period,days,partial,rows");
    for (int k = 0; k < CREST_STUDY_N_METRICS; k++)
        textbuf_printf(&tb, ",%s_mean,%s_lo,%s_hi", crest_study_metric_names[k], crest_study_metric_names[k],
                       crest_study_metric_names[k]);
    textbuf_puts(&tb, "\n");
    for (size_t g = 0; g < st->n_groups; g++) {
        size_t n;
        const crest_study_setting *s = crest_study_group_setting(st, g, &n);
        for (size_t p = 0; p <= st->n_periods; p++) {
            const crest_sim_metrics *m = crest_study_period(st, p);
            csv_setting(&tb, s, NULL);
            textbuf_printf(&tb, "%zu,%s,%u,%d,%llu", n, m->label, m->days, m->partial,
                           (unsigned long long)m->rows);
            for (int k = 0; k < CREST_STUDY_N_METRICS; k++) {
                const crest_study_stat v = crest_study_stat_at(st, g, p, k);
                textbuf_puts(&tb, ",");
                num(&tb, v.mean);
                textbuf_puts(&tb, ",");
                num(&tb, v.lo);
                textbuf_puts(&tb, ",");
                num(&tb, v.hi);
            }
            textbuf_puts(&tb, "\n");
        }
    }
    return textbuf_take(&tb);
}

static void json_setting(textbuf *tb, const crest_study_setting *s)
{
    textbuf_puts(tb, "\"strategy\":");
    textbuf_json_string(tb, s->strategy);
    textbuf_puts(tb, ",\"target_rate\":");
    jnum(tb, s->rate);
    textbuf_puts(tb, ",\"explore\":");
    jnum(tb, s->explore);
    textbuf_puts(tb, ",\"policy_hash\":");
    textbuf_json_string(tb, s->policy_hash);
}

static void json_stats(textbuf *tb, const crest_study *st, size_t g, size_t p)
{
    const crest_sim_metrics *m = crest_study_period(st, p);
    textbuf_puts(tb, "{\"period\":");
    textbuf_json_string(tb, m->label);
    textbuf_printf(tb, ",\"days\":%u,\"partial\":%s,\"rows\":%llu", m->days, m->partial ? "true" : "false",
                   (unsigned long long)m->rows);
    for (int k = 0; k < CREST_STUDY_N_METRICS; k++) {
        const crest_study_stat v = crest_study_stat_at(st, g, p, k);
        textbuf_printf(tb, ",\"%s\":{\"mean\":", crest_study_metric_names[k]);
        jnum(tb, v.mean);
        textbuf_puts(tb, ",\"lo\":");
        jnum(tb, v.lo);
        textbuf_puts(tb, ",\"hi\":");
        jnum(tb, v.hi);
        textbuf_printf(tb, ",\"n\":%u}", v.n);
    }
    textbuf_puts(tb, "}");
}

char *crest_study_json(const crest_study *st, const char *input, int partial)
{
    textbuf tb;
    textbuf_init(&tb);
    textbuf_puts(&tb, "{\"format\":\"crest-simulate 2\",\"input\":");
    textbuf_json_string(&tb, input ? input : "");
    textbuf_printf(&tb, ",\"partial\":%s,\"runs\":%zu,\"groups\":[", partial ? "true" : "false", st->n_runs);
    for (size_t g = 0; g < st->n_groups; g++) {
        size_t n;
        const crest_study_setting *s = crest_study_group_setting(st, g, &n);
        textbuf_puts(&tb, g ? ",\n{" : "\n{");
        json_setting(&tb, s);
        textbuf_puts(&tb, ",\"seeds\":[");
        size_t k = 0;
        for (size_t r = 0; r < st->n_runs; r++)
            if (st->runs[r].group == g)
                textbuf_printf(&tb, "%s%llu", k++ ? "," : "", (unsigned long long)st->runs[r].set.seed);
        textbuf_puts(&tb, "],\"run_totals\":[");
        k = 0;
        for (size_t r = 0; r < st->n_runs; r++) {
            if (st->runs[r].group != g)
                continue;
            textbuf_printf(&tb, "%s{\"seed\":%llu", k++ ? "," : "", (unsigned long long)st->runs[r].set.seed);
            for (int q = 0; q < CREST_STUDY_N_METRICS; q++) {
                textbuf_printf(&tb, ",\"%s\":", crest_study_metric_names[q]);
                jnum(&tb, metric_of(&st->runs[r].m[st->n_periods], q));
            }
            textbuf_puts(&tb, "}");
        }
        textbuf_puts(&tb, "],\"total\":");
        json_stats(&tb, st, g, st->n_periods);
        textbuf_puts(&tb, ",\"periods\":[");
        for (size_t p = 0; p < st->n_periods; p++) {
            textbuf_puts(&tb, p ? "," : "");
            json_stats(&tb, st, g, p);
        }
        textbuf_puts(&tb, "]}");
    }
    textbuf_puts(&tb, "]}\n");
    return textbuf_take(&tb);
}
