/*
 * date.c — civil date <-> day number conversions (the algorithms of Howard
 * Hinnant's "chrono-Compatible Low-Level Date Algorithms") and a strict parser.
 */
#include "crest/crest_date.h"

#include <stdio.h>
#include <string.h>

int32_t crest_date_from_civil(int year, unsigned month, unsigned day)
{
    year -= month <= 2;
    const int era = (year >= 0 ? year : year - 399) / 400;
    const unsigned yoe = (unsigned)(year - era * 400);
    const unsigned doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int32_t)doe - 719468;
}

void crest_date_to_civil(int32_t days, int *year, unsigned *month, unsigned *day)
{
    const int32_t z = days + 719468;
    const int32_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    *year = (int)yoe + era * 400 + (m <= 2);
    *month = m;
    *day = d;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

int crest_date_parse(const char *text, size_t len, int32_t *days)
{
    int y, m, d;
    size_t used;
    if (len >= 10 && (text[4] == '-' || text[4] == '/') && text[7] == text[4]) {
        if (!digits(text, 4, &y) || !digits(text + 5, 2, &m) || !digits(text + 8, 2, &d))
            return 0;
        used = 10;
    } else if (len >= 8) {
        if (!digits(text, 4, &y) || !digits(text + 4, 2, &m) || !digits(text + 6, 2, &d))
            return 0;
        used = 8;
    } else {
        return 0;
    }
    if (used < len && text[used] != 'T' && text[used] != ' ')
        return 0;
    static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return 0;
    const int dim = mdays[m - 1] + (m == 2 && is_leap(y));
    if (d > dim)
        return 0;
    *days = crest_date_from_civil(y, (unsigned)m, (unsigned)d);
    return 1;
}

int crest_date_parse_iso(const char *text, size_t len, int32_t *days)
{
    return text && len == 10 && text[4] == '-' && crest_date_parse(text, len, days);
}

char *crest_date_format(int32_t days, char out[11])
{
    int y;
    unsigned m, d;
    crest_date_to_civil(days, &y, &m, &d);
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%04d-%02u-%02u", y % 10000, m % 100, d % 100);
    memcpy(out, tmp, 10);
    out[10] = '\0';
    return out;
}
