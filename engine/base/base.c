/*
 * base.c — status names/messages, diagnostics and canonical field names
 * declared in crest_base.h. No I/O, no allocation.
 */
#define _GNU_SOURCE /* strtod_l */
#include "crest/crest_base.h"

#include "grow.h"

#include <ctype.h>
#include <locale.h>
#include <pthread.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *crest_status_name(crest_status status)
{
    switch (status) {
#define CREST_STATUS_NAME(name, value, msg)                                                                  \
    case name:                                                                                               \
        return #name;
        CREST_STATUS_LIST(CREST_STATUS_NAME)
#undef CREST_STATUS_NAME
    }
    return "CREST_ERR_UNKNOWN";
}

const char *crest_status_message(crest_status status)
{
    switch (status) {
#define CREST_STATUS_MSG(name, value, msg)                                                                   \
    case name:                                                                                               \
        return msg;
        CREST_STATUS_LIST(CREST_STATUS_MSG)
#undef CREST_STATUS_MSG
    }
    return "unknown status";
}

void crest_diag_clear(crest_diag *diag)
{
    if (!diag)
        return;
    memset(diag, 0, sizeof *diag);
    diag->status = CREST_OK;
}

crest_status crest_diag_set(crest_diag *diag, crest_status status, const char *file, unsigned long line,
                            unsigned long column, const char *fmt, ...)
{
    if (!diag)
        return status;
    diag->status = status;
    snprintf(diag->file, sizeof diag->file, "%s", file ? file : "");
    diag->line = line;
    diag->column = column;
    va_list ap;
    va_start(ap, fmt);
    char raw[sizeof diag->message];
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    /* Messages quote file content: control bytes (a terminal escape, a CR
     * that hides the rest of the line) are written as \xNN. */
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)raw; *c && o + 5 < sizeof diag->message; c++) {
        if (*c < 0x20 || *c == 0x7f) {
            snprintf(diag->message + o, sizeof diag->message - o, "\\x%02x", *c);
            o += 4;
        } else {
            diag->message[o++] = (char)*c;
        }
    }
    diag->message[o] = '\0';
    return status;
}

static const char *const field_names[CREST_FIELD_COUNT] = {
#define CREST_FIELD_STR(name, str) str,
    CREST_FIELD_LIST(CREST_FIELD_STR)
#undef CREST_FIELD_STR
};

const char *crest_field_name(crest_field field)
{
    if ((int)field < 0 || field >= CREST_FIELD_COUNT)
        return NULL;
    return field_names[field];
}

int crest_field_from_name(const char *name, size_t name_len)
{
    for (int i = 0; i < CREST_FIELD_COUNT; i++) {
        if (strlen(field_names[i]) == name_len && memcmp(field_names[i], name, name_len) == 0)
            return i;
    }
    return -1;
}

static const char *const lane_names[CREST_LANE_COUNT] = {
#define CREST_LANE_STR(name, str, rank) [rank] = str,
    CREST_LANE_LIST(CREST_LANE_STR)
#undef CREST_LANE_STR
};

const char *crest_lane_name(crest_lane lane)
{
    if ((int)lane < 0 || lane >= CREST_LANE_COUNT)
        return NULL;
    return lane_names[lane];
}

static char ascii_upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

int crest_lane_from_name(const char *name, size_t name_len, int ignore_case)
{
    for (int i = 0; i < CREST_LANE_COUNT; i++) {
        if (strlen(lane_names[i]) != name_len)
            continue;
        size_t k = 0;
        while (k < name_len && (ignore_case ? ascii_upper(name[k]) : name[k]) == lane_names[i][k])
            k++;
        if (k == name_len)
            return i;
    }
    return -1;
}

/* The C locale for the slow path, made once: strtod alone would read "1,5"
 * as 1.5 in a host program that called setlocale(LC_NUMERIC, "de_DE"). */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

double crest_parse_number(const char *text, size_t len)
{
    static const double pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (!text)
        return NAN;
    /* The one trimming rule (crest_base.h): blanks around the number go. */
    while (len && is_blank(text[0]))
        text++, len--;
    while (len && is_blank(text[len - 1]))
        len--;
    if (len == 0)
        return NAN;
    /* Fast path: [+-]digits[.digits] with at most 19 digits, mantissa below
     * 2^53 and at most 22 decimals: m / 10^frac is then exactly rounded. */
    const char *p = text, *text_end = text + len;
    int neg = 0;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    const char *digits_start = p;
    uint64_t m = 0;
    while (p < text_end && (unsigned)(*p - '0') < 10)
        m = m * 10 + (uint64_t)(*p++ - '0');
    size_t n_digits = (size_t)(p - digits_start), frac = 0;
    if (p < text_end && *p == '.') {
        const char *frac_start = ++p;
        while (p < text_end && (unsigned)(*p - '0') < 10)
            m = m * 10 + (uint64_t)(*p++ - '0');
        frac = (size_t)(p - frac_start);
        n_digits += frac;
    }
    if (p == text_end && n_digits >= 1 && n_digits <= 19 && m < (UINT64_C(1) << 53) && frac <= 22) {
        const double v = (double)m / pow10[frac];
        return neg ? -v : v;
    }
    /* Slow path: strtod in the C locale. It would skip other leading white
     * space (CR, LF, VT, FF) and read hexadecimal floats: neither is a
     * declaration number. */
    char buf[64];
    if (len >= sizeof buf || isspace((unsigned char)text[0]) || memchr(text, 'x', len) ||
        memchr(text, 'X', len))
        return NAN;
    memcpy(buf, text, len);
    buf[len] = '\0';
    pthread_once(&c_locale_once, make_c_locale);
    char *end;
    const double d = c_locale ? strtod_l(buf, &end, c_locale) : strtod(buf, &end);
    return (end == buf || *end != '\0' || !isfinite(d)) ? NAN : d;
}

size_t crest_format_double(double x, char out[CREST_DOUBLE_TEXT])
{
    if (isnan(x)) {
        out[0] = '\0';
        return 0;
    }
    if (isinf(x))
        return (size_t)snprintf(out, CREST_DOUBLE_TEXT, "%s", x < 0 ? "-inf" : "inf");
    /* %g and strtod in the C locale (a host program's decimal comma must not
     * leak into CSV), switched for this thread only. */
    pthread_once(&c_locale_once, make_c_locale);
    const locale_t old = c_locale ? uselocale(c_locale) : (locale_t)0;
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, CREST_DOUBLE_TEXT, "%.*g", prec, x);
        if (strtod(out, NULL) == x)
            break;
    }
    if (old)
        uselocale(old);
    return (size_t)n;
}

int crest_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return -1;
        c *= 2;
    }
    if (elem && c > SIZE_MAX / elem)
        return -1;
    void *q = realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}
