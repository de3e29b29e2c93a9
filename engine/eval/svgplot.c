/*
 * svgplot.c — line charts in SVG (svgplot.h): a plot area with its axis
 * titles, nice ticks (1, 2, 5 × 10^k), curves with markers and shaded
 * bands, partial periods hollow and left out of the y scale, and the legend
 * to the right of the plot, outside the data.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "svgplot.h"

/* The geometry: the whole image, the plot area inside it. */
#define W 1000
#define H 380
#define PX0 78
#define PX1 590
#define PY0 40
#define PY1 300

static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                     "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define N_COLORS (sizeof colors / sizeof colors[0])

/* XML-escaped text. */
static void xml_text(textbuf *tb, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '<')
            textbuf_puts(tb, "&lt;");
        else if (*s == '>')
            textbuf_puts(tb, "&gt;");
        else if (*s == '&')
            textbuf_puts(tb, "&amp;");
        else if (*s == '"')
            textbuf_puts(tb, "&quot;");
        else
            textbuf_append(tb, s, 1);
    }
}

/* A tick step of 1, 2 or 5 × 10^k giving about 5 ticks up to top. */
static double tick_step(double top)
{
    const double raw = top / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* The top of the y axis: the largest value (band included) of the full periods. */
static double y_top(const svg_chart *c)
{
    double top = 0;
    for (size_t s = 0; s < c->n_series; s++)
        for (size_t i = 0; i < c->n; i++) {
            if (c->partial && c->partial[i])
                continue;
            const svg_series *v = &c->series[s];
            const double x[3] = {v->y[i], v->hi ? v->hi[i] : NAN, v->lo ? v->lo[i] : NAN};
            for (int k = 0; k < 3; k++)
                if (isfinite(x[k]) && x[k] > top)
                    top = x[k];
        }
    if (top <= 0)
        top = c->percent ? 0.1 : 1;
    const double step = tick_step(top);
    top = ceil(top * 1.02 / step) * step;
    return c->percent && top > 1 ? 1 : top;
}

static double px(const svg_chart *c, size_t i)
{
    return c->n > 1 ? PX0 + (PX1 - PX0) * (double)i / (double)(c->n - 1) : (PX0 + PX1) / 2.0;
}

static double py(double y, double top)
{
    return PY1 - (PY1 - PY0) * y / top;
}

static void axes(textbuf *tb, const svg_chart *c, double top)
{
    const double step = tick_step(top);
    for (double t = 0; t <= top * (1 + 1e-9); t += step) {
        const double y = py(t, top);
        textbuf_printf(tb,
                       "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                       "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">",
                       PX0, y, PX1, y, PX0 - 6, y + 4);
        if (c->percent)
            textbuf_printf(tb, "%g%%", round(t * 1000) / 10);
        else
            textbuf_printf(tb, "%g", t);
        textbuf_puts(tb, "</text>\n");
    }
    const size_t every = c->n > 12 ? (c->n + 11) / 12 : 1;
    for (size_t i = 0; i < c->n; i += every)
        textbuf_printf(tb,
                       "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#444\"/>"
                       "<text transform=\"translate(%.1f,%d) rotate(-40)\" text-anchor=\"end\" "
                       "font-size=\"10\">%s</text>\n",
                       px(c, i), PY1, px(c, i), PY1 + 4, px(c, i) + 3, PY1 + 14, c->x_labels[i]);
    textbuf_printf(tb, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n",
                   PX0, PY0, PX1 - PX0, PY1 - PY0);
    textbuf_printf(tb, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"12\">", (PX0 + PX1) / 2,
                   H - 8);
    xml_text(tb, c->x_title);
    textbuf_printf(tb,
                   "</text>\n<text transform=\"translate(16,%d) rotate(-90)\" text-anchor=\"middle\" "
                   "font-size=\"12\">",
                   (PY0 + PY1) / 2);
    xml_text(tb, c->y_title);
    textbuf_printf(tb,
                   "</text>\n<text x=\"%d\" y=\"22\" text-anchor=\"middle\" font-size=\"14\" "
                   "font-weight=\"bold\">",
                   W / 2);
    xml_text(tb, c->title);
    textbuf_puts(tb, "</text>\n");
}

/* The band of series s: one polygon per run of defined lo and hi. */
static void band(textbuf *tb, const svg_chart *c, const svg_series *v, const char *color, double top)
{
    for (size_t i = 0; i < c->n;) {
        if (!isfinite(v->lo[i]) || !isfinite(v->hi[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < c->n && isfinite(v->lo[j]) && isfinite(v->hi[j]))
            j++;
        textbuf_printf(tb, "<polygon fill=\"%s\" fill-opacity=\"0.15\" stroke=\"none\" points=\"", color);
        for (size_t k = i; k < j; k++)
            textbuf_printf(tb, "%.1f,%.1f ", px(c, k), py(v->hi[k], top));
        for (size_t k = j; k-- > i;)
            textbuf_printf(tb, "%.1f,%.1f ", px(c, k), py(v->lo[k], top));
        textbuf_puts(tb, "\"/>\n");
        i = j;
    }
}

static void curve(textbuf *tb, const svg_chart *c, const svg_series *v, const char *color, double top)
{
    for (size_t i = 0; i < c->n;) {
        if (!isfinite(v->y[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < c->n && isfinite(v->y[j]))
            j++;
        textbuf_printf(tb, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"", color);
        for (size_t k = i; k < j; k++)
            textbuf_printf(tb, "%.1f,%.1f ", px(c, k), py(v->y[k], top));
        textbuf_puts(tb, "\"/>\n");
        i = j;
    }
    for (size_t i = 0; i < c->n; i++)
        if (isfinite(v->y[i]))
            textbuf_printf(tb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.6\" stroke=\"%s\" fill=\"%s\"/>\n",
                           px(c, i), py(v->y[i], top), color, c->partial && c->partial[i] ? "#fff" : color);
}

static void legend(textbuf *tb, const svg_chart *c)
{
    const int x = PX1 + 18;
    int y = PY0 + 6;
    for (size_t s = 0; s < c->n_series; s++, y += 18) {
        const char *color = colors[s % N_COLORS];
        textbuf_printf(tb,
                       "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>"
                       "<text x=\"%d\" y=\"%d\" font-size=\"11\">",
                       x, y, x + 20, y, color, x + 26, y + 4);
        xml_text(tb, c->series[s].name);
        textbuf_puts(tb, "</text>\n");
    }
    y += 6;
    int partial = 0;
    for (size_t i = 0; c->partial && i < c->n; i++)
        partial |= c->partial[i] != 0;
    if (partial) {
        textbuf_printf(
            tb,
            "<circle cx=\"%d\" cy=\"%d\" r=\"2.6\" stroke=\"#444\" fill=\"#fff\"/>"
            "<text x=\"%d\" y=\"%d\" font-size=\"10\">partial period: not used for the y scale</text>\n",
            x + 10, y, x + 26, y + 4);
        y += 16;
    }
    if (c->footer && c->footer[0]) {
        textbuf_printf(tb, "<text x=\"%d\" y=\"%d\" font-size=\"10\">", x, y + 4);
        xml_text(tb, c->footer);
        textbuf_puts(tb, "</text>\n");
    }
}

void svg_chart_write(textbuf *tb, const svg_chart *c)
{
    const double top = y_top(c);
    textbuf_printf(tb,
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"%s\" width=\"%d\" height=\"%d\" "
                   "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n<title>",
                   c->id, W, H, W, H);
    xml_text(tb, c->title);
    textbuf_printf(tb,
                   "</title>\n<rect width=\"%d\" height=\"%d\" fill=\"#fff\" "
                   "stroke=\"none\"/>\n<defs><clipPath id=\"%s-clip\"><rect "
                   "x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/></clipPath></defs>\n",
                   W, H, c->id, PX0, PY0 - 4, PX1 - PX0, PY1 - PY0 + 4);
    axes(tb, c, top);
    textbuf_printf(tb, "<g clip-path=\"url(#%s-clip)\">\n", c->id);
    for (size_t s = 0; s < c->n_series; s++)
        if (c->series[s].lo && c->series[s].hi)
            band(tb, c, &c->series[s], colors[s % N_COLORS], top);
    for (size_t s = 0; s < c->n_series; s++)
        curve(tb, c, &c->series[s], colors[s % N_COLORS], top);
    textbuf_puts(tb, "</g>\n");
    legend(tb, c);
    textbuf_puts(tb, "</svg>\n");
}
