/*
 * report_workload.c — the workload section of the replay report
 * (crest_report_workload.h): data files, a gnuplot script and its plots,
 * and a section spliced into index.html. It renders what libcrest's
 * workload functions computed and computes nothing itself.
 *
 * It keeps apart from report.c (which renders the replay's own metrics): its
 * small gnuplot and file helpers are its own, and its only contact with
 * report.c's output is the closing body tag of index.html, before which the
 * section goes.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crest/crest_file.h"
#include "crest/crest_report_workload.h"
#include "gnuplot_run.h"
#include "textbuf.h"

typedef struct wctx {
    const char *dir;
    crest_status status; /* the first failure */
    crest_diag *diag;
    crest_report_result *res;
} wctx;

static void fail(wctx *w, crest_status st, const char *path, const char *what, int err)
{
    if (w->status != CREST_OK)
        return;
    w->status = st;
    crest_diag_set(w->diag, st, path, 0, 0, "%s%s%s", what, err ? ": " : "", err ? strerror(err) : "");
}

static void note(wctx *w, const char *text)
{
    const size_t used = strlen(w->res->notes), cap = sizeof w->res->notes;
    snprintf(w->res->notes + used, cap - used, "%s\n", text);
}

/* DIR/NAME through a temporary file and a rename: 0, or -1 with the failure kept. */
static int write_file(wctx *w, const char *name, const textbuf *t)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", w->dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (t->oom) {
        fail(w, CREST_ERR_NOMEM, path, "out of memory rendering the workload", 0);
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fail(w, CREST_ERR_IO, tmp, "cannot write", errno);
        return -1;
    }
    const int ok = fwrite(t->data ? t->data : "", 1, t->len, f) == t->len;
    if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
        fail(w, CREST_ERR_IO, path, "cannot write", errno);
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void html_text(textbuf *s, const char *t)
{
    for (; *t; t++) {
        const char *e = *t == '<'   ? "&lt;"
                        : *t == '>' ? "&gt;"
                        : *t == '&' ? "&amp;"
                        : *t == '"' ? "&quot;"
                                    : NULL;
        if (e)
            textbuf_puts(s, e);
        else
            textbuf_append(s, t, 1);
    }
}

/* The terminal for plots: "pngcairo", "png", "svg", or NULL for none. gp: gnuplot runs. */
static const char *terminal(wctx *w, const char *want, int gp)
{
    if (!strcmp(want, "none"))
        return NULL;
    if (!strcmp(want, "svg") || !gp)
        return "svg";
    if (crest_eval_run_gnuplot(w->dir, "set terminal pngcairo", 1) == 0)
        return "pngcairo";
    if (crest_eval_run_gnuplot(w->dir, "set terminal png", 1) == 0)
        return "png";
    return "svg";
}

/* Per office one line: index, office, mean expected, mean inspected, p95, max, cap (NaN: uncapped). */
static void plot_data(textbuf *dat, const crest_report_workload_policy *p, const crest_workload_office *off,
                      size_t n_off)
{
    textbuf_printf(dat,
                   "# policy %s: per office: index office expected_mean inspected_mean inspected_p95 "
                   "inspected_max cap_max\n",
                   p->name);
    for (size_t i = 0; i + 1 < n_off; i++) { /* the last entry is all offices */
        textbuf_printf(dat, "%zu \"", i);
        for (const char *c = off[i].office; *c; c++) /* gnuplot's quoted label: no quotes inside */
            textbuf_append(dat, *c == '"' || *c == '\n' ? "'" : c, 1);
        textbuf_printf(dat, "\" %.10g %.10g %.10g %.10g ", off[i].expected.mean, off[i].inspected.mean,
                       off[i].inspected.p95, off[i].inspected.max);
        if (off[i].capped)
            textbuf_printf(dat, "%lu\n", off[i].cap_max);
        else
            textbuf_puts(dat, "NaN\n");
    }
}

static void plot_script(textbuf *gp, const char *term, size_t k, const char *name, size_t n_offices)
{
    const char *ext = strcmp(term, "svg") ? "png" : "svg";
    const int width = 300 + 28 * (int)(n_offices < 60 ? n_offices : 60);
    if (!strcmp(term, "svg"))
        textbuf_printf(gp, "set terminal svg size %d,420 dynamic font 'sans,11' background '#ffffff'\n",
                       width);
    else
        textbuf_printf(gp, "set terminal %s size %d,420 font 'sans,10'\n", term, width);
    textbuf_printf(gp, "set output 'workload_%zu.%s'\nset termoption noenhanced\nreset session\n", k, ext);
    textbuf_printf(gp,
                   "set title 'Inspections per office and day: %s (bars: mean expected and realised; "
                   "dark box: realised p95 to max; red squares: the RED cap)'\n",
                   name);
    textbuf_puts(gp, "set grid ytics\nset key top right\nset yrange [0:*]\nset boxwidth 0.35\n"
                     "set style fill solid 0.6 border -1\nset xtics rotate by 45 right font ',8'\n");
    textbuf_printf(
        gp,
        "plot 'workload_%zu.dat' using ($1-0.18):3:xtic(2) with boxes lc rgb '#9ecae1' title "
        "'expected (mean)', \\\n"
        "     '' using ($1+0.18):4 with boxes lc rgb '#1f77b4' title 'realised (mean)', \\\n"
        "     '' using ($1+0.18):5:5:6:6 with candlesticks lc rgb '#08306b' lw 1.5 title 'realised "
        "p95..max', \\\n"
        "     '' using 1:7 with points pt 5 ps 0.9 lc rgb '#d62728' title 'RED cap'\n"
        "unset output\n",
        k);
}

static void html_row(textbuf *h, const crest_workload_office *o)
{
    textbuf_puts(h, "<tr><td>");
    html_text(h, o->office ? o->office : "all offices");
    textbuf_printf(h,
                   "</td><td>%llu</td><td>%llu</td><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td>"
                   "<td>%.0f</td><td>%.0f</td><td>%.0f</td><td>",
                   (unsigned long long)o->days, (unsigned long long)o->rows, o->expected.mean,
                   o->expected.p95, o->expected.max, o->inspected.mean, o->inspected.p95, o->inspected.max,
                   o->red.max);
    if (!o->capped)
        textbuf_puts(h, "–");
    else if (o->cap_min == o->cap_max)
        textbuf_printf(h, "%lu", o->cap_min);
    else
        textbuf_printf(h, "%lu–%lu", o->cap_min, o->cap_max);
    textbuf_printf(h, "</td><td>%llu</td><td>%llu</td><td>%llu</td></tr>\n",
                   (unsigned long long)o->days_cap_bound, (unsigned long long)o->deferred,
                   (unsigned long long)o->overflow);
}

/* Insert the section into DIR/index.html before its closing body tag (or at its end). */
static void splice_index(wctx *w, const textbuf *section)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/index.html", w->dir);
    char *old = NULL;
    size_t len = 0;
    crest_diag d;
    if (crest_file_read(path, (size_t)1 << 30, "report page", &old, &len, &d) != CREST_OK) {
        fail(w, d.status, path, d.message, 0);
        return;
    }
    const char *end = strstr(old, "</body>");
    const size_t head = end ? (size_t)(end - old) : len;
    textbuf page;
    textbuf_init(&page);
    textbuf_append(&page, old, head);
    textbuf_append(&page, section->data ? section->data : "", section->len);
    textbuf_append(&page, old + head, len - head);
    free(old);
    write_file(w, "index.html", &page);
    textbuf_free(&page);
}

/* Longer than most: every file of the section in turn, from one pass over the policies. */
crest_status crest_report_workload(const char *dir, const crest_report_workload_policy *pols, size_t n,
                                   const char *plots, crest_report_result *res, crest_diag *diag)
{
    wctx w = {dir, CREST_OK, diag, res};
    crest_diag_clear(diag);
    if (strcmp(plots, "auto") && strcmp(plots, "png") && strcmp(plots, "svg") && strcmp(plots, "none"))
        return crest_diag_set(diag, CREST_ERR_INVALID, "--plots", 0, 0, "plots is auto, png, svg or none");
    const int gp = strcmp(plots, "none") && crest_eval_run_gnuplot(dir, "print 1", 1) == 0;
    const char *term = terminal(&w, plots, gp);
    const char *ext = term && strcmp(term, "svg") ? "png" : "svg";
    textbuf csv, json, script, html;
    textbuf_init(&csv);
    textbuf_init(&json);
    textbuf_init(&script);
    textbuf_init(&html);
    textbuf_puts(&csv, "policy,office,day,rows,expected,inspected,red,cap,deferred,overflow,forced\n");
    textbuf_puts(&json, "{\"policies\":[");
    textbuf_puts(&html,
                 "<h2>Workload per office and day</h2>\n<p>Per office, over the days it had declarations: "
                 "expected inspections per day (the sum of P(inspect), before the capacity cap) and "
                 "realised ones (after it), mean, 95th percentile and maximum; the most RED "
                 "inspections in a day; the office's RED cap (<code>[capacity] offices</code> or "
                 "<code>red_per_office_day</code>); the days its RED selections exceeded the cap "
                 "before deferral; deferred and overflow counts. Data: workload.csv (one row per "
                 "office and day), workload.json.</p>\n");
    for (size_t k = 0; k < n; k++) {
        const crest_report_workload_policy *p = &pols[k];
        size_t n_off = 0;
        crest_workload_office *off = crest_workload_offices(p->policy, p->cells, p->n_cells, &n_off);
        char *rows = crest_workload_csv(p->policy, p->cells, p->n_cells);
        char *obj = crest_workload_json(p->policy, p->cells, p->n_cells);
        if (!off || !rows || !obj) {
            fail(&w, CREST_ERR_NOMEM, dir, "out of memory rendering the workload", 0);
            free(off);
            free(rows);
            free(obj);
            break;
        }
        /* workload.csv: each row of the policy's table after its name (its header skipped) */
        const char *line = strchr(rows, '\n');
        for (line = line ? line + 1 : rows + strlen(rows); *line;) {
            const char *eol = strchr(line, '\n');
            const size_t len = eol ? (size_t)(eol - line) + 1 : strlen(line);
            textbuf_csv_field(&csv, p->name, strlen(p->name));
            textbuf_puts(&csv, ",");
            textbuf_append(&csv, line, len);
            line += len;
        }
        textbuf_puts(&json, k ? ",{\"policy\":" : "{\"policy\":");
        textbuf_json_string(&json, p->name);
        textbuf_puts(&json, ",\"workload\":");
        textbuf_puts(&json, obj);
        textbuf_puts(&json, "}");
        textbuf dat;
        textbuf_init(&dat);
        plot_data(&dat, p, off, n_off);
        char fname[64];
        snprintf(fname, sizeof fname, "workload_%zu.dat", k + 1);
        write_file(&w, fname, &dat);
        textbuf_free(&dat);
        if (term)
            plot_script(&script, term, k + 1, p->name, n_off - 1);
        textbuf_puts(&html, "<h3>");
        html_text(&html, p->name);
        textbuf_puts(&html, "</h3>\n");
        if (term)
            textbuf_printf(&html, "<p><img src=\"workload_%zu.%s\" alt=\"workload per office\"></p>\n", k + 1,
                           ext);
        textbuf_puts(&html, "<table>\n<tr><th>office</th><th>days</th><th>rows</th><th>expected mean</th>"
                            "<th>p95</th><th>max</th><th>realised mean</th><th>p95</th><th>max</th>"
                            "<th>RED max</th><th>RED cap</th><th>days cap bound</th><th>deferred</th>"
                            "<th>overflow</th></tr>\n");
        for (size_t i = 0; i < n_off; i++)
            html_row(&html, &off[i]);
        textbuf_puts(&html, "</table>\n");
        free(off);
        free(rows);
        free(obj);
    }
    textbuf_puts(&json, "]}\n");
    write_file(&w, "workload.csv", &csv);
    write_file(&w, "workload.json", &json);
    if (term) {
        write_file(&w, "workload.gp", &script);
        if (!gp)
            note(&w, "gnuplot is not in PATH: the workload plots' data and script are in the report "
                     "(gnuplot workload.gp)");
        else if (w.status == CREST_OK && crest_eval_run_gnuplot(dir, "workload.gp", 0) == 0)
            res->plotted = 1;
        else
            note(&w, "gnuplot could not draw the workload plots (workload.gp)");
    }
    if (w.status == CREST_OK)
        splice_index(&w, &html);
    textbuf_free(&csv);
    textbuf_free(&json);
    textbuf_free(&script);
    textbuf_free(&html);
    return w.status;
}
