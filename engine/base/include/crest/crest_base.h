/*
 * crest_base.h — the vocabulary shared by every crest layer: status codes,
 * the diagnostic record loaders fill, borrowed string views, and the
 * canonical declaration view that the engine hands to risk models.
 *
 * This header sits at the bottom of the dependency graph (engine -> models ->
 * this file); it declares no behaviour beyond status names and messages.
 */
#ifndef CREST_BASE_H
#define CREST_BASE_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One list generates the enum, the names and the messages (SQLite/zstd style).
 * Values are stable: append, never reorder. */
#define CREST_STATUS_LIST(X)                                                                                 \
    X(CREST_OK, 0, "success")                                                                                \
    X(CREST_ERR_NOMEM, 1, "out of memory")                                                                   \
    X(CREST_ERR_IO, 2, "input/output error")                                                                 \
    X(CREST_ERR_SYNTAX, 3, "syntax error")                                                                   \
    X(CREST_ERR_INVALID, 4, "invalid value")                                                                 \
    X(CREST_ERR_MISSING, 5, "required item missing")                                                         \
    X(CREST_ERR_RANGE, 6, "value out of range")                                                              \
    X(CREST_ERR_VERSION, 7, "unsupported format version")                                                    \
    X(CREST_ERR_MISMATCH, 8, "does not match the policy or schema")                                          \
    X(CREST_ERR_REGEX, 9, "regular expression error")                                                        \
    X(CREST_ERR_NUMERIC, 10, "numerical failure")                                                            \
    X(CREST_ERR_STATE, 11, "call not valid in the current state")                                            \
    X(CREST_ERR_INTERRUPTED, 12, "interrupted")

typedef enum crest_status {
#define CREST_STATUS_ENUM(name, value, msg) name = value,
    CREST_STATUS_LIST(CREST_STATUS_ENUM)
#undef CREST_STATUS_ENUM
} crest_status;

/* Stable symbolic name of a status, e.g. "CREST_ERR_SYNTAX". Never NULL. */
CREST_API const char *crest_status_name(crest_status status);
/* Short English message for a status. Never NULL. */
CREST_API const char *crest_status_message(crest_status status);

/*
 * Where and why a load failed. Loaders take a caller-provided diag and fill
 * it on failure; line and column are 1-based, 0 when not applicable.
 */
typedef struct crest_diag {
    crest_status status;
    char file[256]; /* path or a label such as "<policy>" */
    unsigned long line;
    unsigned long column;
    char message[512]; /* complete sentence saying what was expected */
} crest_diag;

/* Reset a diag to CREST_OK with empty text. */
CREST_API void crest_diag_clear(crest_diag *diag);
/* Fill a diag (printf-style message) and return status, for `return crest_diag_set(...)`. */
CREST_API crest_status crest_diag_set(crest_diag *diag, crest_status status, const char *file,
                                      unsigned long line, unsigned long column, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Where bytes go. write returns CREST_OK or CREST_ERR_IO (the writer stops). */
typedef struct crest_sink {
    crest_status (*write)(void *ctx, const void *buf, size_t len);
    void *ctx;
} crest_sink;

/* A borrowed byte range: valid only as long as its owner says. Not NUL-terminated. */
typedef struct crest_str {
    const char *ptr;
    size_t len;
} crest_str;

/*
 * a[0..n) == b[0..n) for short texts on hot paths (cache keys, labels):
 * fixed-size word loads only, no library call, no byte loop. Both ranges must
 * hold n readable bytes.
 */
static inline int crest_same_bytes(const char *a, const char *b, size_t n)
{
    uint64_t x, y;
    if (n >= 8 && n <= 32) {
        /* Four words, overlapping as n needs (text lengths vary row to row:
         * no loop whose trip count follows them). */
        const size_t mid = n > 16 ? 8 : 0, late = n > 16 ? n - 16 : n - 8;
        uint64_t a0, a1, a2, a3, b0, b1, b2, b3;
        __builtin_memcpy(&a0, a, 8);
        __builtin_memcpy(&b0, b, 8);
        __builtin_memcpy(&a1, a + mid, 8);
        __builtin_memcpy(&b1, b + mid, 8);
        __builtin_memcpy(&a2, a + late, 8);
        __builtin_memcpy(&b2, b + late, 8);
        __builtin_memcpy(&a3, a + n - 8, 8);
        __builtin_memcpy(&b3, b + n - 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1) | (a2 ^ b2) | (a3 ^ b3)) == 0;
    }
    if (n > 32) {
        for (size_t i = 0; i + 8 < n; i += 8) {
            __builtin_memcpy(&x, a + i, 8);
            __builtin_memcpy(&y, b + i, 8);
            if (x != y)
                return 0;
        }
        __builtin_memcpy(&x, a + n - 8, 8);
        __builtin_memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) {
        uint32_t a0, b0, a1, b1;
        __builtin_memcpy(&a0, a, 4);
        __builtin_memcpy(&b0, b, 4);
        __builtin_memcpy(&a1, a + n - 4, 4);
        __builtin_memcpy(&b1, b + n - 4, 4);
        return a0 == b0 && a1 == b1;
    }
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

/*
 * Canonical declaration fields: the input columns crest knows by name. A
 * policy's [columns] section maps each one to a header name of the input
 * (README.md, "The policy"); built-in aliases cover the usual spellings.
 * X(ENUM_SUFFIX, "canonical_name")
 */
#define CREST_FIELD_LIST(X)                                                                                  \
    X(DECL_ID, "decl_id")                                                                                    \
    X(DECL_DATE, "decl_date")                                                                                \
    X(OFFICE, "office")                                                                                      \
    X(DIRECTION, "direction")                                                                                \
    X(ENTERPRISE_ID, "enterprise_id")                                                                        \
    X(DECLARANT_ID, "declarant_id")                                                                          \
    X(CREDIT_TIER, "credit_tier")                                                                            \
    X(FOREIGN_AEO, "foreign_aeo")                                                                            \
    X(HS_CODE, "hs_code")                                                                                    \
    X(ORIGIN, "origin")                                                                                      \
    X(DEPARTURE, "departure")                                                                                \
    X(TRANSPORT_MODE, "transport_mode")                                                                      \
    X(DECLARED_VALUE, "declared_value")                                                                      \
    X(CURRENCY, "currency")                                                                                  \
    X(NET_MASS_KG, "net_mass_kg")                                                                            \
    X(QUANTITY, "quantity")                                                                                  \
    X(GOODS_DESC, "goods_desc")                                                                              \
    X(ILLICIT, "illicit")                                                                                    \
    X(REVENUE, "revenue")

typedef enum crest_field {
#define CREST_FIELD_ENUM(name, str) CREST_FIELD_##name,
    CREST_FIELD_LIST(CREST_FIELD_ENUM)
#undef CREST_FIELD_ENUM
        CREST_FIELD_COUNT
} crest_field;

/* Canonical name of a field ("decl_id", ...), or NULL when out of range. */
CREST_API const char *crest_field_name(crest_field field);
/* Field for a canonical name (exact, case-sensitive); -1 when unknown. */
CREST_API int crest_field_from_name(const char *name, size_t name_len);

/*
 * Lanes, from release to physical inspection: the one list of their names.
 * X(ENUM_SUFFIX, "NAME", rank); a higher rank is a more intrusive control.
 * A criterion may force BLUE to RED; GREEN is the release lane.
 */
#define CREST_LANE_LIST(X)                                                                                   \
    X(GREEN, "GREEN", 0)   /* release */                                                                     \
    X(BLUE, "BLUE", 1)     /* post-clearance audit */                                                        \
    X(YELLOW, "YELLOW", 2) /* documentary check */                                                           \
    X(ORANGE, "ORANGE", 3) /* non-intrusive scan */                                                          \
    X(RED, "RED", 4)       /* physical inspection */

typedef enum crest_lane {
#define CREST_LANE_ENUM(name, str, rank) CREST_LANE_##name = rank,
    CREST_LANE_LIST(CREST_LANE_ENUM)
#undef CREST_LANE_ENUM
        CREST_LANE_COUNT
} crest_lane;

/* Name of a lane ("GREEN" ... "RED"), or NULL when out of range. */
CREST_API const char *crest_lane_name(crest_lane lane);
/* Lane for a name, matched exactly (ignore_case 0) or ASCII case-insensitively
 * (1); -1 when no lane has that name. */
CREST_API int crest_lane_from_name(const char *name, size_t name_len, int ignore_case);

/* The most tiers a policy may define (a policy's tiers index fixed arrays). */
#define CREST_MAX_TIERS 16

/*
 * crest's one number parser: every number read from a declaration, a table,
 * a label or a model file goes through it.
 *
 * Trimming: spaces and tabs before and after the number are ignored, and
 * nothing else is (a CR, LF or no-break space makes the text not a number).
 * The rest must be entirely one decimal number as strtod reads it in the C
 * locale, whatever the process locale: optional sign, digits with an optional
 * '.', optional exponent. The value is bit-identical to strtod's on the
 * trimmed text. NaN when the text is empty or blank, not entirely a number,
 * hexadecimal ("0x10"), or not finite (so "1e309", "inf" and "NaN" are
 * missing values); a text of 64 bytes or more is NaN too.
 * Plain decimals (sign, up to 19 digits, at most 22 after the point) take an
 * exact fast path (m / 10^k is correctly rounded, as strtod). Thread-safe,
 * hot path: no allocation.
 */
CREST_API double crest_parse_number(const char *text, size_t len);

/* Bytes enough for crest_format_double's text and its NUL. */
#define CREST_DOUBLE_TEXT 32
/*
 * A double at full precision: the shortest of %.15g, %.16g, %.17g that reads
 * back as exactly x ("0.2", not "0.20000000000000001"), in the C locale's form
 * whatever the host program's; "" for NaN, "inf" and "-inf". Returns the length.
 * The one formatter for scores and probabilities written at full precision
 * (shortest round-trip). Thread-safe; no allocation.
 */
CREST_API size_t crest_format_double(double x, char out[CREST_DOUBLE_TEXT]);

/* Sentinel for a missing or unparseable date. */
#define CREST_DATE_NONE INT32_MIN

/*
 * One declaration as the engine sees it, handed to risk models. Everything is
 * borrowed from the engine's row buffers and valid only during the call.
 *
 *  - field[f]: the mapped column's text, {NULL, 0} when the input has no such column.
 *  - cols/n_cols: every input column in header order (for rules that name a
 *    non-canonical column; resolve its index once at bind time).
 *  - date_days: decl_date as days since 1970-01-01, CREST_DATE_NONE if absent/invalid.
 *  - declared_value, net_mass_kg, quantity: parsed numbers, NaN when absent/invalid.
 *    With an [fx] table declared_value is in the policy's base currency, NaN
 *    when the row's currency has no rate on its date (fx_missing = 1).
 *  - direction: 'I' (import), 'E' (export) or 0 when unknown.
 */
typedef struct crest_decl {
    crest_str field[CREST_FIELD_COUNT];
    const crest_str *cols;
    size_t n_cols;
    int32_t date_days;
    double declared_value;
    double net_mass_kg;
    double quantity;
    char direction;
    unsigned char fx_missing; /* [fx]: the currency had no rate on the date; declared_value is NaN */
} crest_decl;

/*
 * Told, for each input column a risk component reads, who reads it (user:
 * "criterion Q_ANIMAL", "model feature te:hs6") and what: a canonical field
 * (field >= 0, column NULL) or a header name (field -1). The schema guard
 * checks these against the input's header before the first row.
 */
typedef void (*crest_column_fn)(void *ctx, const char *user, int field, const char *column);

#ifdef __cplusplus
}
#endif
#endif /* CREST_BASE_H */
