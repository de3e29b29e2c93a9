/*
 * gen_util.c — small services for the generator: Walker/Vose alias tables
 * (built once at create time, drawn in O(1) per row), proleptic Gregorian date
 * arithmetic, and the stdio write sink.
 */
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"

#include "crest/crest_date.h"

crest_status gen_alias_build(gen_alias *a, const double *weights, uint32_t n)
{
    a->n = 0;
    a->prob = NULL;
    a->alias = NULL;
    if (n == 0)
        return CREST_ERR_INVALID;
    double total = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        if (!(weights[i] >= 0.0))
            return CREST_ERR_INVALID;
        total += weights[i];
    }
    if (!(total > 0.0))
        return CREST_ERR_INVALID;
    a->prob = malloc(n * sizeof *a->prob);
    a->alias = malloc(n * sizeof *a->alias);
    uint32_t *stack = malloc(2 * (size_t)n * sizeof *stack);
    double *scaled = malloc(n * sizeof *scaled);
    if (!a->prob || !a->alias || !stack || !scaled) {
        free(stack);
        free(scaled);
        gen_alias_free(a);
        return CREST_ERR_NOMEM;
    }
    /* Vose: columns below the mean borrow from columns above it. */
    uint32_t *small = stack, *large = stack + n;
    uint32_t n_small = 0, n_large = 0;
    for (uint32_t i = 0; i < n; i++) {
        scaled[i] = weights[i] * n / total;
        if (scaled[i] < 1.0)
            small[n_small++] = i;
        else
            large[n_large++] = i;
    }
    while (n_small && n_large) {
        uint32_t s = small[--n_small], l = large[--n_large];
        a->prob[s] = scaled[s];
        a->alias[s] = l;
        scaled[l] = (scaled[l] + scaled[s]) - 1.0;
        if (scaled[l] < 1.0)
            small[n_small++] = l;
        else
            large[n_large++] = l;
    }
    while (n_large) {
        uint32_t l = large[--n_large];
        a->prob[l] = 1.0;
        a->alias[l] = l;
    }
    while (n_small) { /* only reached through rounding */
        uint32_t s = small[--n_small];
        a->prob[s] = 1.0;
        a->alias[s] = s;
    }
    a->n = n;
    free(stack);
    free(scaled);
    return CREST_OK;
}

void gen_alias_free(gen_alias *a)
{
    if (!a)
        return;
    free(a->prob);
    free(a->alias);
    a->prob = NULL;
    a->alias = NULL;
    a->n = 0;
}

/* Calendar arithmetic is crest's (crest_date.h); the generator keeps its names. */
int32_t gen_days_from_civil(int y, unsigned m, unsigned d)
{
    return crest_date_from_civil(y, m, d);
}

void gen_civil_from_days(int32_t z, int *y, unsigned *m, unsigned *d)
{
    crest_date_to_civil(z, y, m, d);
}

int32_t crest_gen_parse_date(const char *text, size_t len)
{
    int32_t day;
    if (!crest_date_parse_iso(text, len, &day))
        return CREST_DATE_NONE;
    return day;
}

void crest_gen_format_date(int32_t day, char buf[11])
{
    crest_date_format(day, buf);
}

crest_status crest_gen_write_stdio(void *ctx, const char *buf, size_t len)
{
    FILE *f = ctx;
    if (len && fwrite(buf, 1, len, f) != len)
        return CREST_ERR_IO;
    return CREST_OK;
}
