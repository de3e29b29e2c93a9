/* test_date.c — calendar parsing and day numbers. */
#include <criterion/criterion.h>

#include "crest/crest_date.h"

static int parse(const char *s, int32_t *d)
{
    return crest_date_parse(s, strlen(s), d);
}

Test(date, epoch_and_formats)
{
    int32_t d;
    cr_assert(parse("1970-01-01", &d));
    cr_expect_eq(d, 0);
    cr_assert(parse("2026-04-01", &d));
    int32_t d2, d3;
    cr_assert(parse("2026/04/01", &d2));
    cr_assert(parse("20260401", &d3));
    cr_expect_eq(d, d2);
    cr_expect_eq(d, d3);
    cr_assert(parse("2026-04-01T08:30:00", &d2));
    cr_expect_eq(d, d2);
    cr_expect_eq(d, 20544);
}

Test(date, rejects_impossible_dates)
{
    int32_t d;
    cr_expect_not(parse("2026-02-30", &d));
    cr_expect_not(parse("2025-02-29", &d));
    cr_assert(parse("2024-02-29", &d));
    cr_expect_not(parse("1900-02-29", &d));
    cr_assert(parse("2000-02-29", &d));
    cr_expect_not(parse("2026-13-01", &d));
    cr_expect_not(parse("2026-00-10", &d));
    cr_expect_not(parse("2026-01-00", &d));
    cr_expect_not(parse("2026-1-1", &d));
    cr_expect_not(parse("", &d));
    cr_expect_not(parse("yesterday", &d));
    cr_expect_not(parse("2026-01-01x", &d));
    cr_expect_not(parse("２０２６-01-01", &d));
}

Test(date, round_trip)
{
    for (int32_t d = -800000; d <= 800000; d += 7) {
        int y;
        unsigned m, day;
        crest_date_to_civil(d, &y, &m, &day);
        cr_assert_eq(crest_date_from_civil(y, m, day), d, "day %d", d);
    }
    char buf[11];
    cr_expect_str_eq(crest_date_format(20544, buf), "2026-04-01");
}
