/*
 * test_fx.c — the exchange-rate table: conversion to the base currency as of
 * a date (inclusive period boundaries, open ends, the base at 1, no rate is
 * NaN and flagged), and every check of the table with its line and column.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crest/crest.h"

static crest_fx *parse(const char *text, crest_diag *d)
{
    crest_fx *fx = NULL;
    const crest_status st = crest_fx_parse(text, strlen(text), "fx.csv", "USD", &fx, d);
    return st == CREST_OK ? fx : NULL;
}

static int32_t day(const char *iso)
{
    int32_t d;
    cr_assert(crest_date_parse(iso, strlen(iso), &d));
    return d;
}

static double conv(const crest_fx *fx, double v, const char *cur, const char *date, int *missing)
{
    return crest_fx_convert(fx, v, cur, strlen(cur), date ? day(date) : CREST_DATE_NONE, missing);
}

Test(fx, converts_as_of_the_date_with_inclusive_boundaries)
{
    crest_diag d;
    crest_fx *fx = parse("currency,valid_from,valid_to,rate_to_base\n"
                         "EUR,2025-01-01,2025-06-30,1.10\n"
                         "EUR,2025-07-01,,1.05\n"
                         "jpy,2025-01-01,2025-12-31,0.0065\n",
                         &d);
    cr_assert_not_null(fx, "%s", d.message);
    cr_expect_eq(crest_fx_count(fx), 3);
    int m = -1;
    cr_expect_float_eq(conv(fx, 100, "EUR", "2025-01-01", &m), 110.0, 1e-9); /* first day of a period */
    cr_expect_eq(m, 0);
    cr_expect_float_eq(conv(fx, 100, "EUR", "2025-06-30", &m), 110.0, 1e-9);  /* its last day */
    cr_expect_float_eq(conv(fx, 100, "EUR", "2025-07-01", &m), 105.0, 1e-9);  /* the next period */
    cr_expect_float_eq(conv(fx, 100, "EUR", "2031-02-03", &m), 105.0, 1e-9);  /* open ended */
    cr_expect_float_eq(conv(fx, 1000, " jpy ", "2025-12-31", &m), 6.5, 1e-9); /* case, space */
    cr_expect_eq(m, 0);
    /* The base converts at 1 on any date, even without one. */
    cr_expect_eq(conv(fx, 42, "USD", NULL, &m), 42);
    cr_expect_eq(m, 0);
    /* No rate: the day before the first period, the day after the last, an
     * unknown or empty currency, no date: NaN and flagged. */
    const char *cur[] = {"EUR", "JPY", "CNY", "", "EU", "JPY"};
    const char *when[] = {"2024-12-31", "2026-01-01", "2025-03-01", "2025-03-01", "2025-03-01", NULL};
    for (size_t i = 0; i < sizeof cur / sizeof *cur; i++) {
        m = 0;
        cr_expect(isnan(conv(fx, 100, cur[i], when[i], &m)), "case %zu", i);
        cr_expect_eq(m, 1, "case %zu flagged", i);
    }
    /* A missing value stays missing and is not a missing rate. */
    cr_expect(isnan(conv(fx, NAN, "EUR", "2025-03-01", &m)));
    cr_expect_eq(m, 0);
    crest_fx_free(fx);
    crest_fx_free(NULL);
}

Test(fx, checks_name_line_and_column)
{
    const struct {
        const char *rows;
        crest_status st;
        unsigned long line, column;
        const char *says;
    } cases[] = {
        {"EUR,2025-01-01,,0\n", CREST_ERR_INVALID, 2, 17, "not a number > 0"},
        {"EUR,2025-01-01,,-1.2\n", CREST_ERR_INVALID, 2, 17, "not a number > 0"},
        {"EUR,2025-01-01,,abc\n", CREST_ERR_INVALID, 2, 17, "not a number > 0"},
        {"EUR,2025-13-01,,1\n", CREST_ERR_INVALID, 2, 5, "valid_from"},
        {"EUR,2025-01-01,2024-01-01,1\n", CREST_ERR_INVALID, 2, 16, "before valid_from"},
        {"EURO,2025-01-01,,1\n", CREST_ERR_INVALID, 2, 1, "three-letter"},
        {"USD,2025-01-01,,1\n", CREST_ERR_INVALID, 2, 1, "base currency"},
        {"EUR,2025-01-01,2025-06-30,1.1\nGBP,2025-01-01,,1.3\nEUR,2025-06-30,,1.05\n", CREST_ERR_INVALID, 4,
         1, "overlaps the one on line 2"},
        {"EUR,2025-01-01,,1.1\nEUR,2025-01-01,,1.1\n", CREST_ERR_INVALID, 3, 1,
         "duplicates the one on line 2"},
        {"EUR,2025-01-01,1.1\n", CREST_ERR_INVALID, 2, 1, "expected 4 fields"},
        {"\"EUR\",2025-01-01,,1.1\n", CREST_ERR_INVALID, 2, 1, "quoted"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[512];
        snprintf(text, sizeof text, "currency,valid_from,valid_to,rate_to_base\n%s", cases[i].rows);
        crest_diag d;
        crest_fx *fx = NULL;
        const crest_status st = crest_fx_parse(text, strlen(text), "fx.csv", "USD", &fx, &d);
        cr_expect_eq(st, cases[i].st, "case %zu: %s", i, d.message);
        cr_expect_null(fx);
        cr_expect_eq(d.line, cases[i].line, "case %zu: line %lu (%s)", i, d.line, d.message);
        cr_expect_eq(d.column, cases[i].column, "case %zu: column %lu (%s)", i, d.column, d.message);
        cr_expect_not_null(strstr(d.message, cases[i].says), "case %zu: %s", i, d.message);
        cr_expect_str_eq(d.file, "fx.csv");
    }
    /* The header: any order, every column named; an empty table has none. */
    crest_diag d;
    crest_fx *fx = parse("rate_to_base,currency,valid_to,valid_from\n1.1,EUR,,2025-01-01\n", &d);
    cr_expect_not_null(fx, "%s", d.message);
    crest_fx_free(fx);
    cr_expect_null(parse("currency,valid_from,rate\nEUR,2025-01-01,1.1\n", &d));
    cr_expect_eq(d.status, CREST_ERR_MISSING);
    cr_expect_null(parse("", &d));
    cr_expect_eq(d.status, CREST_ERR_MISSING);
    cr_expect_eq(crest_fx_parse("a", 1, "fx.csv", "US", &fx, &d), CREST_ERR_INVALID, "a base of two letters");
}
