/*
 * svgplot.h — line charts as standalone SVG text, for the report pages of
 * libcrest_eval (inline in index.html and as files for papers). No
 * dependency, no network resource, deterministic bytes.
 */
#ifndef CREST_SVGPLOT_H
#define CREST_SVGPLOT_H

#include <stddef.h>

#include "textbuf.h"

/* One curve: y per x position (NaN: a gap), with an optional band lo..hi. */
typedef struct svg_series {
    const char *name; /* the legend's text */
    const double *y, *lo, *hi;
} svg_series;

typedef struct svg_chart {
    const char *id;                /* unique in the page: prefixes the chart's element ids */
    const char *title;             /* above the plot */
    const char *x_title, *y_title; /* axis titles, with their units */
    const char *const *x_labels;   /* n labels (a subset is shown) */
    size_t n;
    /* n flags or NULL: a partial period is drawn with a hollow marker and is
     * not used to scale the y axis (a value above the axis is clipped). */
    const int *partial;
    const svg_series *series;
    size_t n_series;
    int percent;        /* 1: y values are shares, ticks read as % */
    const char *footer; /* a line under the legend ("" or NULL: none) */
} svg_chart;

/* Append the chart as one <svg> element (with its XML namespace) to tb. */
void svg_chart_write(textbuf *tb, const svg_chart *c);

#endif
