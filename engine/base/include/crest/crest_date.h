/*
 * crest_date.h — calendar dates as day numbers (days since 1970-01-01,
 * proleptic Gregorian). Parsing validates the calendar: 2026-02-30 is
 * rejected. No time zones: customs declaration dates are civil dates.
 */
#ifndef CREST_DATE_H
#define CREST_DATE_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Parse a date in one of the forms YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD,
 * optionally followed by a time part after 'T' or ' ' (ignored).
 * Returns 1 and sets *days on success; 0 when text is not a valid date.
 */
CREST_API int crest_date_parse(const char *text, size_t len, int32_t *days);
/*
 * The same parser held to exactly YYYY-MM-DD (10 bytes, no time part), for
 * files crest documents in that one form (criteria windows, generator
 * options). Returns 1 and sets *days, or 0.
 */
CREST_API int crest_date_parse_iso(const char *text, size_t len, int32_t *days);

/* Day number for a valid civil date (no validation). */
CREST_API int32_t crest_date_from_civil(int year, unsigned month, unsigned day);

/* Civil date for a day number. */
CREST_API void crest_date_to_civil(int32_t days, int *year, unsigned *month, unsigned *day);

/* Format as YYYY-MM-DD into out (at least 11 bytes); returns out. */
CREST_API char *crest_date_format(int32_t days, char out[11]);

#ifdef __cplusplus
}
#endif
#endif
