/*
 * crest_fx.h — the policy's exchange-rate table ([fx] file): declared values
 * in the declared currency converted to the policy's base currency, as of the
 * declaration's date. One conversion for every value the risk layer compares
 * (unit_value, value bands, declared_value in criteria and models): the engine
 * converts declared_value once per row, before any of them reads it.
 *
 * Table: CSV with the header currency,valid_from,valid_to,rate_to_base (any
 * order), one row per currency and period: base amount = amount · rate_to_base
 * for decl_date in [valid_from, valid_to] (inclusive; an empty valid_to is open
 * ended). Currencies are three letters (ISO 4217, case-insensitive); periods
 * of one currency may not overlap; the base currency needs no row.
 */
#ifndef CREST_FX_H
#define CREST_FX_H

#include "crest/crest_base.h"
#include "crest/crest_export.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct crest_fx crest_fx;

/*
 * Parse a table (len bytes, not NUL-terminated; name for messages) for the
 * base currency base (three letters). Returns CREST_OK and *out, or a status
 * with diag naming the line and column: CREST_ERR_MISSING (a header column),
 * CREST_ERR_INVALID (a currency, a date, a rate that is not a finite number > 0,
 * valid_to before valid_from, a row for the base currency, a duplicate or
 * overlapping period — the message names the other line), CREST_ERR_NOMEM.
 */
CREST_API crest_status crest_fx_parse(const char *data, size_t len, const char *name, const char *base,
                                      crest_fx **out, crest_diag *diag);

/*
 * value in currency (its text as in the feed, surrounding white space ignored)
 * on date_days, in the base currency. The base currency converts at 1 on any
 * date. NaN when value is NaN, or when the currency has no rate on that date
 * (an empty currency, an unknown one, a date outside its periods, no date):
 * then *missing is set to 1 (0 otherwise). Hot path; allocates nothing.
 */
CREST_API double crest_fx_convert(const crest_fx *fx, double value, const char *currency, size_t currency_len,
                                  int32_t date_days, int *missing);

/* Number of rate periods in the table. */
CREST_API size_t crest_fx_count(const crest_fx *fx);

/* Free a table; NULL is a no-op. */
CREST_API void crest_fx_free(crest_fx *fx);

#ifdef __cplusplus
}
#endif
#endif
