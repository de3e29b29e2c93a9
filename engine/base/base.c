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

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                       1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The value of 8 decimal digits, one a byte (0..9, the first the most
 * significant, at the lowest address): two multiplications instead of eight
 * steps (the method of fast_float's parse_eight_digits_unrolled). */
static inline uint64_t eight_digits(uint64_t v)
{
    v = v * 10 + (v >> 8);
    const uint64_t mask = UINT64_C(0x000000FF000000FF);
    return (((v & mask) * (100 + (UINT64_C(1000000) << 32))) +
            (((v >> 16) & mask) * (1 + (UINT64_C(10000) << 32)))) >>
           32;
}

/* zero_digits_below[n]: '0' in the 8 - n low bytes of a word (its n digits
 * shifted to its top bytes: leading zero digits below them). */
static const uint64_t zero_digits_below[9] = {UINT64_C(0x3030303030303030),
                                              UINT64_C(0x30303030303030),
                                              UINT64_C(0x303030303030),
                                              UINT64_C(0x3030303030),
                                              UINT64_C(0x30303030),
                                              UINT64_C(0x303030),
                                              UINT64_C(0x3030),
                                              UINT64_C(0x30),
                                              0};

/* bytes_below[k]: the k low bytes of a word. */
static const uint64_t bytes_below[8] = {0,
                                        UINT64_C(0xFF),
                                        UINT64_C(0xFFFF),
                                        UINT64_C(0xFFFFFF),
                                        UINT64_C(0xFFFFFFFF),
                                        UINT64_C(0xFFFFFFFFFF),
                                        UINT64_C(0xFFFFFFFFFFFF),
                                        UINT64_C(0xFFFFFFFFFFFFFF)};

/*
 * The common declaration number, digits with at most one '.' (4 to 8 bytes,
 * at least one digit), a byte a lane of one 64-bit word: loaded with
 * fixed-size overlapping loads (no byte loop), the '.' found and squeezed
 * out, the digits moved to the top bytes with '0' below them (leading zero
 * digits), every byte checked to be a digit, the digits' value in one step of
 * eight. 1 with *m (below 10^8) and *frac (digits after the '.'); 0 for any
 * other shape (the byte-at-a-time reader and strtod decide those).
 */
static inline int swar_decimal(const char *s, size_t len, uint64_t *m, unsigned *frac)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), high = ones * 0x80;
    /* Two 4-byte loads for every length (no branch on it: lengths vary row
     * to row): b is bytes len-4..len-1; where it overlaps a, the same bytes. */
    uint32_t a, b;
    memcpy(&a, s, 4);
    memcpy(&b, s + len - 4, 4);
    uint64_t w = (uint64_t)a | (uint64_t)b << (8 * (len - 4));
    if (w & high)
        return 0;
    /* The first '.' among the len bytes: the lowest 0x80 of the zero-byte
     * test on w ^ '.' (exact for the lowest byte: a false mark needs a borrow
     * from a zero byte below it; bytes from len on are 0, not '.'). */
    const uint64_t x = w ^ (ones * '.');
    const uint64_t dots = (x - ones) & ~x & high;
    unsigned n = (unsigned)len, f = 0;
    if (dots) {
        const unsigned dp = (unsigned)__builtin_ctzll(dots) >> 3;
        /* Squeeze it out: the bytes after it one place down. */
        const uint64_t below = bytes_below[dp];
        w = (w & below) | ((w >> 8) & ~below);
        n--;
        f = n - dp;
    }
    /* n digits (n >= 3) to the top, '0' below them; every byte a digit:
     * byte + 0x46 stays below 0x80 up to '9', byte - 0x30 borrows below '0'
     * (no byte is above 0x7F: no carry leaves a byte; the first borrow marks
     * its own byte). */
    w = (w << (64 - 8 * n)) | zero_digits_below[n];
    if (((w + ones * 0x46) | (w - ones * '0')) & high)
        return 0; /* a second '.', a sign, a blank, an exponent, ... */
    *m = eight_digits(w - ones * '0');
    *frac = f;
    return 1;
}

/* crest_parse_number but for its hot path: blanks trimmed, the byte-at-a-time
 * reader, then strtod. Out of line: the hot path needs no stack frame. */
static __attribute__((noinline)) double parse_number_general(const char *text, size_t len)
{
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
        const double v = (double)m / pow10_exact[frac];
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

double crest_parse_number(const char *text, size_t len)
{
    if (!text)
        return NAN;
    /* Hot path: [+-]digits[.digits], 4 to 8 bytes after the sign: m / 10^frac,
     * exactly rounded (m below 10^8 < 2^53, 10^frac exact). */
    if (len >= 4 && len <= 9) {
        const int sign = text[0] == '-' || text[0] == '+';
        const size_t n = len - (size_t)sign;
        uint64_t m;
        unsigned frac;
        if (n >= 4 && n <= 8 && swar_decimal(text + sign, n, &m, &frac)) {
            const double v = (double)m / pow10_exact[frac];
            return text[0] == '-' ? -v : v;
        }
    }
    return parse_number_general(text, len);
}

/* 5^k for k <= 27 (5^27 < 2^63): the fast path's scale factors. */
static const uint64_t pow5_table[28] = {UINT64_C(1),
                                        UINT64_C(5),
                                        UINT64_C(25),
                                        UINT64_C(125),
                                        UINT64_C(625),
                                        UINT64_C(3125),
                                        UINT64_C(15625),
                                        UINT64_C(78125),
                                        UINT64_C(390625),
                                        UINT64_C(1953125),
                                        UINT64_C(9765625),
                                        UINT64_C(48828125),
                                        UINT64_C(244140625),
                                        UINT64_C(1220703125),
                                        UINT64_C(6103515625),
                                        UINT64_C(30517578125),
                                        UINT64_C(152587890625),
                                        UINT64_C(762939453125),
                                        UINT64_C(3814697265625),
                                        UINT64_C(19073486328125),
                                        UINT64_C(95367431640625),
                                        UINT64_C(476837158203125),
                                        UINT64_C(2384185791015625),
                                        UINT64_C(11920928955078125),
                                        UINT64_C(59604644775390625),
                                        UINT64_C(298023223876953125),
                                        UINT64_C(1490116119384765625),
                                        UINT64_C(7450580596923828125)};

/* 10^P for P <= 17. */
static const uint64_t pow10_table[18] = {1,
                                         10,
                                         100,
                                         1000,
                                         10000,
                                         100000,
                                         1000000,
                                         10000000,
                                         100000000,
                                         1000000000,
                                         10000000000,
                                         100000000000,
                                         1000000000000,
                                         10000000000000,
                                         100000000000000,
                                         1000000000000000,
                                         10000000000000000,
                                         100000000000000000};

/*
 * t / div rounded to nearest, ties to even, where t + low / 2^s is x·10^k
 * exactly; 0 unless that decimal reads back as x (see shortest_digits).
 */
static inline __attribute__((always_inline)) uint64_t
rounded_if_exact(uint64_t t, uint64_t low, int s, uint64_t div, uint64_t pow5k, int lower_closer)
{
    uint64_t q = t / div;
    const unsigned __int128 rem = ((unsigned __int128)(t % div) << s) | low,
                            half = (unsigned __int128)div << (s - 1);
    const int up = rem > half || (rem == half && (q & 1));
    q += (unsigned)up;
    const unsigned __int128 err = up ? ((unsigned __int128)div << s) - rem : rem;
    return ((up || !lower_closer) ? 2 * err < pow5k : 4 * err < pow5k) ? q : 0;
}

/*
 * The shortest of the 15-, 16- and 17-digit decimals nearest x = m·2^e (ties
 * to even) that reads back as x, as printf("%.*g") and strtod find it, but
 * exactly in integers: n = m·5^k = x·10^k·2^s, k chosen so that x·10^k has 17
 * digits before the point; the P-digit decimal is n / (10^(17-P)·2^s) rounded.
 * It reads back as x when it is within half the gap to x's neighbours (a
 * quarter below a power of two, whose lower neighbour is closer); a decimal is
 * never exactly on that boundary (the boundary times 10^k·2^s is 5^k/2, odd
 * over 2). *exp10 is the decimal exponent of its first digit. Returns P, or 0
 * when x is outside what 128 bits hold (the caller uses printf).
 */
static int shortest_digits(uint64_t m, int e, int lower_closer, uint64_t *digits, int *exp10)
{
    /* floor(log10 x) estimated from the binary exponent (x in [2^b, 2^(b+1))). */
    const int b = e + 63 - __builtin_clzll(m);
    int k = 16 - (b * 78913 >> 18); /* 78913 / 2^18 ~ log10(2); adjusted below */
    for (int tries = 0; tries < 3; tries++) {
        const int s = -(e + k);
        if (k < 0 || k > 27 || s < 8 || s > 57)
            return 0;
        const unsigned __int128 n = (unsigned __int128)m * pow5_table[k];
        const uint64_t t = (uint64_t)(n >> s); /* floor(x·10^k) */
        if (t >= UINT64_C(100000000000000000)) {
            k--;
            continue;
        }
        if (t < UINT64_C(10000000000000000)) {
            k++;
            continue;
        }
        const uint64_t low = (uint64_t)(n & ((UINT64_C(1) << s) - 1));
        /* constant divisors: multiplications, not divisions */
        uint64_t q;
        int P = (q = rounded_if_exact(t, low, s, 100, pow5_table[k], lower_closer))  ? 15
                : (q = rounded_if_exact(t, low, s, 10, pow5_table[k], lower_closer)) ? 16
                : (q = rounded_if_exact(t, low, s, 1, pow5_table[k], lower_closer))  ? 17
                                                                                     : 0;
        if (P) {
            *exp10 = 16 - k;
            if (q == pow10_table[P]) { /* rounded up to the next power of ten */
                q /= 10;
                ++*exp10;
            }
            *digits = q;
            return P;
        }
        return 0; /* 17 digits always read back: not reached */
    }
    return 0;
}

/* printf("%.*g")'s text of the P-digit decimal digits·10^(exp10-P+1). */
static size_t g_text(char *out, int negative, uint64_t digits, int exp10, int P)
{
    char d[20];
    for (int i = P - 1; i >= 0; i--) {
        d[i] = (char)('0' + digits % 10);
        digits /= 10;
    }
    int nd = P;
    while (nd > 1 && d[nd - 1] == '0')
        nd--;
    size_t n = 0;
    if (negative)
        out[n++] = '-';
    if (exp10 < -4 || exp10 >= P) {
        out[n++] = d[0];
        if (nd > 1) {
            out[n++] = '.';
            memcpy(out + n, d + 1, (size_t)nd - 1);
            n += (size_t)nd - 1;
        }
        const int ax = exp10 < 0 ? -exp10 : exp10;
        out[n++] = 'e';
        out[n++] = exp10 < 0 ? '-' : '+';
        if (ax >= 100)
            out[n++] = (char)('0' + ax / 100);
        out[n++] = (char)('0' + ax / 10 % 10);
        out[n++] = (char)('0' + ax % 10);
    } else if (exp10 < 0) {
        out[n++] = '0';
        out[n++] = '.';
        for (int z = -1; z > exp10; z--)
            out[n++] = '0';
        memcpy(out + n, d, (size_t)nd);
        n += (size_t)nd;
    } else {
        for (int i = 0; i <= exp10 || i < nd; i++) {
            if (i == exp10 + 1)
                out[n++] = '.';
            out[n++] = i < nd ? d[i] : '0';
        }
    }
    out[n] = '\0';
    return n;
}

/*
 * Hot path of crest_format_double (scores and probabilities in every output):
 * 0, 1 and magnitudes in [2^-30, 1) without printf or strtod, the same text as
 * the slow path below. Returns 0 for anything else.
 */
static size_t format_double_fast(double x, char *out)
{
    const double a = fabs(x);
    if (a == 0.0 || a == 1.0) {
        size_t n = 0;
        if (signbit(x))
            out[n++] = '-';
        out[n++] = a == 0.0 ? '0' : '1';
        out[n] = '\0';
        return n;
    }
    if (!(a >= 0x1p-30 && a < 1.0))
        return 0;
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    const uint64_t frac = bits & ((UINT64_C(1) << 52) - 1);
    const uint64_t m = frac | (UINT64_C(1) << 52);
    const int e = (int)(bits >> 52) - 1075;
    uint64_t digits;
    int exp10;
    const int P = shortest_digits(m, e, frac == 0, &digits, &exp10);
    return P ? g_text(out, x < 0, digits, exp10, P) : 0;
}

size_t crest_format_double(double x, char out[CREST_DOUBLE_TEXT])
{
    if (isnan(x)) {
        out[0] = '\0';
        return 0;
    }
    if (isinf(x))
        return (size_t)snprintf(out, CREST_DOUBLE_TEXT, "%s", x < 0 ? "-inf" : "inf");
    const size_t fast = format_double_fast(x, out);
    if (fast)
        return fast;
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
