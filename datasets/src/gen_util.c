/*
 * gen_util.c — small services for the generator: Walker/Vose alias tables
 * (built once at create time, drawn in O(1) per row), proleptic Gregorian date
 * arithmetic, and the stdio write sink.
 */
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"

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

/* Howard Hinnant's days_from_civil / civil_from_days. */
int32_t gen_days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + (int)doe - 719468);
}

void gen_civil_from_days(int32_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)yoe + era * 400 + (*m <= 2);
}

int32_t crest_gen_parse_date(const char *text, size_t len)
{
    if (!text || len != 10 || text[4] != '-' || text[7] != '-')
        return CREST_DATE_NONE;
    int v[3] = {0, 0, 0};
    const int start[3] = {0, 5, 8}, width[3] = {4, 2, 2};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < width[k]; i++) {
            char c = text[start[k] + i];
            if (c < '0' || c > '9')
                return CREST_DATE_NONE;
            v[k] = v[k] * 10 + (c - '0');
        }
    static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (v[1] < 1 || v[1] > 12 || v[2] < 1 || (unsigned)v[2] > mdays[v[1] - 1])
        return CREST_DATE_NONE;
    int leap = (v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0;
    if (v[1] == 2 && v[2] == 29 && !leap)
        return CREST_DATE_NONE;
    return gen_days_from_civil(v[0], (unsigned)v[1], (unsigned)v[2]);
}

void crest_gen_format_date(int32_t day, char buf[11])
{
    int y;
    unsigned m, d;
    gen_civil_from_days(day, &y, &m, &d);
    if (y < 0 || y > 9999) {
        memcpy(buf, "0000-00-00", 11);
        return;
    }
    buf[0] = (char)('0' + y / 1000);
    buf[1] = (char)('0' + y / 100 % 10);
    buf[2] = (char)('0' + y / 10 % 10);
    buf[3] = (char)('0' + y % 10);
    buf[4] = '-';
    buf[5] = (char)('0' + m / 10);
    buf[6] = (char)('0' + m % 10);
    buf[7] = '-';
    buf[8] = (char)('0' + d / 10);
    buf[9] = (char)('0' + d % 10);
    buf[10] = '\0';
}

crest_status crest_gen_write_stdio(void *ctx, const char *buf, size_t len)
{
    FILE *f = ctx;
    if (len && fwrite(buf, 1, len, f) != len)
        return CREST_ERR_IO;
    return CREST_OK;
}
