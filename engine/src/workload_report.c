/*
 * workload_report.c — the workload view as an analyst reads it
 * (crest_workload.h): the cells per office, day and tier collapsed to
 * office-days, then per office the mean, 95th percentile (nearest rank) and
 * maximum per day of the expected and realised inspections next to the
 * office's cap; and the control windows' table regrouped by day, week, month
 * or office. Pure functions of the cells and the policy: no engine state.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_date.h"
#include "crest/crest_stats.h"
#include "crest/crest_workload.h"
#include "policy_internal.h"

#define LEVEL 0.95

/* One office and day, all tiers. */
typedef struct office_day {
    const char *office;
    int32_t day;
    uint64_t rows, inspected, red, forced, deferred, overflow;
    double expected;
    int capped;
    unsigned long cap;
} office_day;

static int cmp_cell_ptr(const void *a, const void *b)
{
    const crest_workload_cell *x = *(const crest_workload_cell *const *)a,
                              *y = *(const crest_workload_cell *const *)b;
    const int c = strcmp(x->office, y->office);
    if (c)
        return c;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    return x->tier < y->tier ? -1 : x->tier > y->tier;
}

/* The office-days of the cells, by office then day (malloc'd; *n_out their count). NULL when out of memory.
 */
static office_day *office_days(const crest_policy *p, const crest_workload_cell *cells, size_t n,
                               size_t *n_out)
{
    *n_out = 0;
    const crest_workload_cell **sorted = malloc((n ? n : 1) * sizeof *sorted);
    office_day *od = malloc((n ? n : 1) * sizeof *od);
    if (!sorted || !od) {
        free(sorted);
        free(od);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        sorted[i] = &cells[i];
    qsort(sorted, n, sizeof *sorted, cmp_cell_ptr);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const crest_workload_cell *c = sorted[i];
        if (!m || strcmp(od[m - 1].office, c->office) || od[m - 1].day != c->day) {
            office_day *d = &od[m++];
            memset(d, 0, sizeof *d);
            d->office = c->office;
            d->day = c->day;
            d->capped = crest_policy_office_cap(p, c->office, strlen(c->office), c->day, &d->cap);
        }
        office_day *d = &od[m - 1];
        d->rows += c->rows;
        d->inspected += c->inspected;
        d->red += c->red;
        d->forced += c->forced;
        d->deferred += c->deferred;
        d->overflow += c->overflow;
        d->expected += c->expected;
    }
    free(sorted);
    *n_out = m;
    return od;
}

/* Mean, 95th percentile (nearest rank) and maximum of v[0..n), sorting v. */
typedef crest_workload_spread spread;

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static spread spread_of(double *v, size_t n)
{
    spread s = {0, 0, 0};
    if (!n)
        return s;
    qsort(v, n, sizeof *v, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    s.mean = sum / (double)n;
    size_t rank = (size_t)ceil(0.95 * (double)n);
    s.p95 = v[rank ? rank - 1 : 0];
    s.max = v[n - 1];
    return s;
}

typedef crest_workload_office office_stats;

/* The statistics of od[0..n) (one office, or all). v: scratch of n doubles. */
static office_stats stats_of(const office_day *od, size_t n, double *v, const char *office)
{
    office_stats s;
    memset(&s, 0, sizeof s);
    s.office = office;
    s.days = n;
    s.cap_min = (unsigned long)-1;
    for (size_t i = 0; i < n; i++) {
        s.rows += od[i].rows;
        s.deferred += od[i].deferred;
        s.overflow += od[i].overflow;
        s.forced += od[i].forced;
        if (od[i].capped) {
            s.capped = 1;
            s.cap_min = od[i].cap < s.cap_min ? od[i].cap : s.cap_min;
            s.cap_max = od[i].cap > s.cap_max ? od[i].cap : s.cap_max;
            /* RED selections before the cap (deferred ones included) above it */
            s.days_cap_bound += od[i].red + od[i].deferred > od[i].cap;
        }
    }
    if (!s.capped)
        s.cap_min = 0;
    for (size_t i = 0; i < n; i++)
        v[i] = od[i].expected;
    s.expected = spread_of(v, n);
    for (size_t i = 0; i < n; i++)
        v[i] = (double)od[i].inspected;
    s.inspected = spread_of(v, n);
    for (size_t i = 0; i < n; i++)
        v[i] = (double)od[i].red;
    s.red = spread_of(v, n);
    return s;
}

crest_workload_office *crest_workload_offices(const crest_policy *p, const crest_workload_cell *cells,
                                              size_t n, size_t *n_out)
{
    *n_out = 0;
    size_t m;
    office_day *od = office_days(p, cells, n, &m);
    double *v = malloc((m ? m : 1) * sizeof *v);
    crest_workload_office *out = malloc((m + 1) * sizeof *out);
    if (!od || !v || !out) {
        free(od);
        free(v);
        free(out);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < m;) {
        size_t j = i;
        while (j < m && !strcmp(od[j].office, od[i].office))
            j++;
        out[k++] = stats_of(od + i, j - i, v, od[i].office);
        i = j;
    }
    out[k++] = stats_of(od, m, v, NULL);
    free(od);
    free(v);
    *n_out = k;
    return out;
}

/* The first and last dated day of the cells; first > last when none is dated. */
static void day_range(const crest_workload_cell *cells, size_t n, int32_t *first, int32_t *last)
{
    *first = INT32_MAX;
    *last = INT32_MIN;
    for (size_t i = 0; i < n; i++)
        if (cells[i].day != CREST_DATE_NONE) {
            *first = cells[i].day < *first ? cells[i].day : *first;
            *last = cells[i].day > *last ? cells[i].day : *last;
        }
}

static void text_line(textbuf *tb, const office_stats *s)
{
    char cap[48];
    if (!s->capped)
        snprintf(cap, sizeof cap, "-");
    else if (s->cap_min == s->cap_max)
        snprintf(cap, sizeof cap, "%lu", s->cap_min);
    else
        snprintf(cap, sizeof cap, "%lu-%lu", s->cap_min, s->cap_max);
    char name[24];
    snprintf(name, sizeof name, "%s", s->office ? s->office : "all offices");
    if (s->office && strlen(s->office) > 14)
        snprintf(name + 11, sizeof name - 11, "...");
    textbuf_printf(tb, "%-14s %6llu %9llu %8.1f %7.1f %7.1f %9.1f %7.0f %7.0f %7.0f %9s %6llu %8llu %8llu\n",
                   name, (unsigned long long)s->days, (unsigned long long)s->rows, s->expected.mean,
                   s->expected.p95, s->expected.max, s->inspected.mean, s->inspected.p95, s->inspected.max,
                   s->red.max, cap, (unsigned long long)s->days_cap_bound, (unsigned long long)s->deferred,
                   (unsigned long long)s->overflow);
}

static char *take(textbuf *tb)
{
    if (tb->oom) {
        textbuf_free(tb);
        return NULL;
    }
    return textbuf_take(tb);
}

char *crest_workload_text(const crest_policy *p, const crest_workload_cell *cells, size_t n)
{
    size_t n_off;
    crest_workload_office *off = crest_workload_offices(p, cells, n, &n_off);
    if (!off)
        return NULL;
    int32_t d0, d1;
    day_range(cells, n, &d0, &d1);
    char from[16] = "-", to[16] = "-";
    if (d0 <= d1) {
        crest_date_format(d0, from);
        crest_date_format(d1, to);
    }
    textbuf tb;
    textbuf_init(&tb);
    textbuf_printf(
        &tb,
        "workload per office and day: %llu office-days, %s to %s (per day: over the days an office "
        "had declarations; expected = sum of P(inspect) before the cap, inspected = after it)\n",
        (unsigned long long)off[n_off - 1].days, from, to);
    textbuf_printf(&tb, "%-14s %6s %9s %8s %7s %7s %9s %7s %7s %7s %9s %6s %8s %8s\n", "office", "days",
                   "rows", "exp mean", "p95", "max", "insp mean", "p95", "max", "RED max", "RED cap", "bound",
                   "deferred", "overflow");
    for (size_t i = 0; i < n_off; i++)
        text_line(&tb, &off[i]);
    textbuf_puts(&tb, "(bound: days the office's RED selections exceeded its cap, before deferral)\n");
    free(off);
    return take(&tb);
}

static void json_spread(textbuf *tb, const char *key, const spread *s)
{
    textbuf_printf(tb, ",\"%s\":{\"mean\":", key);
    textbuf_json_number(tb, s->mean, 6);
    textbuf_puts(tb, ",\"p95\":");
    textbuf_json_number(tb, s->p95, 6);
    textbuf_puts(tb, ",\"max\":");
    textbuf_json_number(tb, s->max, 6);
    textbuf_puts(tb, "}");
}

static void json_office(textbuf *tb, const office_stats *s, int first)
{
    if (s->office) {
        textbuf_puts(tb, first ? "{\"office\":" : ",{\"office\":");
        textbuf_json_string(tb, s->office);
    } else {
        textbuf_puts(tb, "],\"all\":{\"office\":null");
    }
    textbuf_printf(tb, ",\"days\":%llu,\"rows\":%llu", (unsigned long long)s->days,
                   (unsigned long long)s->rows);
    json_spread(tb, "expected", &s->expected);
    json_spread(tb, "inspected", &s->inspected);
    json_spread(tb, "red", &s->red);
    if (s->capped)
        textbuf_printf(tb, ",\"cap\":{\"min\":%lu,\"max\":%lu}", s->cap_min, s->cap_max);
    else
        textbuf_puts(tb, ",\"cap\":null");
    textbuf_printf(tb, ",\"days_cap_bound\":%llu,\"deferred\":%llu,\"overflow\":%llu,\"forced\":%llu}",
                   (unsigned long long)s->days_cap_bound, (unsigned long long)s->deferred,
                   (unsigned long long)s->overflow, (unsigned long long)s->forced);
}

char *crest_workload_json(const crest_policy *p, const crest_workload_cell *cells, size_t n)
{
    size_t n_off;
    crest_workload_office *off = crest_workload_offices(p, cells, n, &n_off);
    if (!off)
        return NULL;
    int32_t d0, d1;
    day_range(cells, n, &d0, &d1);
    char from[16], to[16];
    textbuf tb;
    textbuf_init(&tb);
    textbuf_printf(&tb, "{\"office_days\":%llu,", (unsigned long long)off[n_off - 1].days);
    if (d0 <= d1)
        textbuf_printf(&tb, "\"from\":\"%s\",\"to\":\"%s\",", crest_date_format(d0, from),
                       crest_date_format(d1, to));
    textbuf_puts(&tb, "\"offices\":[");
    for (size_t i = 0; i < n_off; i++)
        json_office(&tb, &off[i], i == 0);
    textbuf_puts(&tb, "}");
    free(off);
    return take(&tb);
}

char *crest_workload_csv(const crest_policy *p, const crest_workload_cell *cells, size_t n)
{
    size_t m;
    office_day *od = office_days(p, cells, n, &m);
    if (!od)
        return NULL;
    textbuf tb;
    textbuf_init(&tb);
    textbuf_puts(&tb, "office,day,rows,expected,inspected,red,cap,deferred,overflow,forced\n");
    for (size_t i = 0; i < m; i++) {
        char day[16] = "undated";
        if (od[i].day != CREST_DATE_NONE)
            crest_date_format(od[i].day, day);
        textbuf_csv_field(&tb, od[i].office, strlen(od[i].office));
        textbuf_printf(&tb, ",%s,%llu,%.6g,%llu,%llu,", day, (unsigned long long)od[i].rows, od[i].expected,
                       (unsigned long long)od[i].inspected, (unsigned long long)od[i].red);
        if (od[i].capped)
            textbuf_printf(&tb, "%lu", od[i].cap);
        textbuf_printf(&tb, ",%llu,%llu,%llu\n", (unsigned long long)od[i].deferred,
                       (unsigned long long)od[i].overflow, (unsigned long long)od[i].forced);
    }
    free(od);
    return take(&tb);
}

int crest_window_group_parse(const char *text, crest_window_group *out)
{
    static const char *const names[] = {"day", "week", "month", "office"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(text, names[i])) {
            *out = (crest_window_group)i;
            return 0;
        }
    return -1;
}

/* A window of the regrouped table: its label and per-tier counts. */
typedef struct group_window {
    char label[72];
    int64_t key; /* day, week's Monday or month (y * 12 + m); office: the label sorts */
    uint64_t rows[CREST_MAX_TIERS], inspected[CREST_MAX_TIERS], forced[CREST_MAX_TIERS],
        deferred[CREST_MAX_TIERS];
    double expected[CREST_MAX_TIERS];
} group_window;

static int cmp_window(const void *a, const void *b)
{
    const group_window *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return strcmp(x->label, y->label);
}

/* The window a cell belongs to: key and label. */
static void window_of(const crest_workload_cell *c, crest_window_group g, int64_t *key, char label[72])
{
    if (g == CREST_GROUP_OFFICE) {
        *key = 0;
        snprintf(label, 72, "%s", c->office);
        return;
    }
    if (c->day == CREST_DATE_NONE) {
        *key = INT64_MAX;
        snprintf(label, 72, "undated");
        return;
    }
    int y;
    unsigned m, d;
    crest_date_to_civil(c->day, &y, &m, &d);
    if (g == CREST_GROUP_MONTH) {
        *key = (int64_t)y * 12 + m;
        snprintf(label, 72, "%04d-%02u", y, m);
        return;
    }
    int32_t day = c->day;
    if (g == CREST_GROUP_WEEK) /* 1970-01-01 was a Thursday: Monday is day - (day + 3) mod 7 */
        day -= (int32_t)(((int64_t)day + 3) % 7 + 7) % 7;
    *key = day;
    crest_date_format(day, label);
}

char *crest_workload_windows_csv(const crest_policy *p, const crest_workload_cell *cells, size_t n,
                                 crest_window_group group)
{
    group_window *w = calloc(n ? n : 1, sizeof *w);
    if (!w)
        return NULL;
    size_t nw = 0;
    /* Cells come in the order they occurred: a linear search of the windows
     * made so far, from the last one (consecutive cells mostly share it). */
    for (size_t i = 0; i < n; i++) {
        int64_t key;
        char label[72];
        window_of(&cells[i], group, &key, label);
        size_t k = nw;
        while (k-- > 0)
            if (w[k].key == key && !strcmp(w[k].label, label))
                break;
        if (k == (size_t)-1) {
            k = nw++;
            w[k].key = key;
            memcpy(w[k].label, label, sizeof label);
        }
        const uint32_t t = cells[i].tier;
        w[k].rows[t] += cells[i].rows;
        w[k].inspected[t] += cells[i].inspected;
        w[k].forced[t] += cells[i].forced;
        w[k].deferred[t] += cells[i].deferred;
        w[k].expected[t] += cells[i].expected;
    }
    qsort(w, nw, sizeof *w, cmp_window);
    textbuf tb;
    textbuf_init(&tb);
    textbuf_puts(&tb,
                 "window,tier,rows,target,expected_rate,realised_rate,ci95_low,ci95_high,holds,inspected,"
                 "forced,deferred\n");
    const size_t b = p->base_tier;
    for (size_t k = 0; k < nw; k++) {
        for (size_t t = 0; t < p->n_tiers; t++) {
            if (!w[k].rows[t])
                continue;
            const policy_tier *pt = &p->tiers[t];
            const crest_interval ci = crest_stats_binomial_ci(w[k].inspected[t], w[k].rows[t], LEVEL);
            const char *holds =
                pt->floor ? (ci.upper >= pt->effective_rate ? "yes" : "no")
                          : (ci.lower <= pt->effective_rate && pt->effective_rate <= ci.upper ? "yes" : "no");
            textbuf_csv_field(&tb, w[k].label, strlen(w[k].label));
            textbuf_printf(&tb, ",%s,%llu,%.6g,%.6g,%.6g,%.6g,%.6g,%s,%llu,%llu,%llu\n", pt->name,
                           (unsigned long long)w[k].rows[t], pt->effective_rate,
                           w[k].expected[t] / (double)w[k].rows[t], ci.estimate, ci.lower, ci.upper, holds,
                           (unsigned long long)w[k].inspected[t], (unsigned long long)w[k].forced[t],
                           (unsigned long long)w[k].deferred[t]);
        }
        for (size_t t = 0; t < p->n_tiers && w[k].rows[b]; t++) {
            const policy_tier *pt = &p->tiers[t];
            if (isnan(pt->ratio) || !w[k].rows[t])
                continue;
            const crest_interval r = crest_stats_rate_ratio_ci(w[k].inspected[t], w[k].rows[t],
                                                               w[k].inspected[b], w[k].rows[b], LEVEL);
            const char *holds =
                isnan(r.estimate) ? "" : (r.lower <= pt->ratio && pt->ratio <= r.upper ? "yes" : "no");
            textbuf_csv_field(&tb, w[k].label, strlen(w[k].label));
            textbuf_printf(&tb, ",%s/%s,%llu,%.6g,,%.6g,%.6g,%.6g,%s,,,\n", pt->name, p->tiers[b].name,
                           (unsigned long long)w[k].rows[t], pt->ratio, r.estimate, r.lower, r.upper, holds);
        }
    }
    free(w);
    return take(&tb);
}
