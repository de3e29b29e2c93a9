/*
 * test_svgplot.c — the report's SVG line charts (engine/eval/svgplot.h): a
 * partial period is drawn hollow and left out of the y scale, bands and
 * curves are drawn, the legend sits right of the plot area, titles and
 * legend text are escaped, the bytes are the same every time.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "svgplot.h"

static size_t count(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, what)) != NULL; p++)
        n++;
    return n;
}

static char *chart(const int *partial)
{
    static const char *const labels[3] = {"2021-01-04", "2021-01-11", "2021-01-18"};
    static const double y[3] = {0.9, 0.3, 0.4}, lo[3] = {0.5, 0.2, 0.3}, hi[3] = {1, 0.35, 0.45};
    static const double z[3] = {0.1, NAN, 0.2};
    const svg_series s[2] = {{"a<b", y, lo, hi}, {"second", z, NULL, NULL}};
    const svg_chart c = {"fig_t", "Precision & co", "week", "precision (%)", labels, 3, partial, s, 2, 1,
                         "note"};
    textbuf tb;
    textbuf_init(&tb);
    svg_chart_write(&tb, &c);
    return textbuf_take(&tb);
}

Test(svgplot, partial_periods_are_hollow_and_out_of_the_scale)
{
    const int partial[3] = {1, 0, 0};
    char *svg = chart(partial);
    cr_assert(strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"fig_t\"", 50) == 0);
    /* The full periods reach 0.45 (a band's top): ticks of 10% up to 50%; the partial 0.9 and 1 do not count.
     */
    cr_assert(strstr(svg, ">50%</text>") != NULL, "%s", svg);
    cr_assert(strstr(svg, ">60%</text>") == NULL);
    /* Hollow markers: the partial period of each series, and the legend's. */
    cr_assert_eq(count(svg, "fill=\"#fff\"/>"), 3);
    cr_assert(strstr(svg, "partial period: not used for the y scale") != NULL);
    /* A band, curves: one polyline per run of defined values (the second series' gap makes two);
     * everything clipped to the plot. */
    cr_assert_eq(count(svg, "<polygon"), 1);
    cr_assert_eq(count(svg, "<polyline"), 3);
    cr_assert(strstr(svg, "clip-path=\"url(#fig_t-clip)\"") != NULL);
    /* The legend is right of the plot area (x 78..590). */
    cr_assert(strstr(svg, "<line x1=\"608\"") != NULL);
    cr_assert(strstr(svg, ">a&lt;b</text>") != NULL);
    cr_assert(strstr(svg, "Precision &amp; co") != NULL);
    cr_assert(strstr(svg, ">week</text>") != NULL);
    cr_assert(strstr(svg, ">precision (%)</text>") != NULL);
    char *again = chart(partial);
    cr_assert_str_eq(svg, again);
    free(again);
    /* Without the flag the 0.9 and its band's 1 set the scale: up to 100%, nothing hollow. */
    const int full[3] = {0, 0, 0};
    char *other = chart(full);
    cr_assert(strstr(other, ">100%</text>") != NULL);
    cr_assert_eq(count(other, "fill=\"#fff\"/>"), 0);
    free(other);
    free(svg);
}
