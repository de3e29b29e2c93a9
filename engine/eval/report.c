/*
 * report.c — the report directory of `crest replay` (crest_report.h): data
 * files, gnuplot scripts and their data, the plots (gnuplot run in the
 * directory when it is in PATH) and index.html, for a replay of policies or
 * an online simulation. It renders what crest_replay and crest_sim computed;
 * it computes no metric itself and never prints.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gnuplot_run.h"
#include "crest/crest.h"
#include "crest/crest_report.h"
#include "svgplot.h"
#include "textbuf.h"

#define GAIN_POINTS 101

/* One report being written: where, the first failure, the notes. */
typedef struct report_ctx {
    const char *dir;
    crest_status status; /* the first failure */
    crest_diag *diag;
    crest_report_result *res;
} report_ctx;

static void fail(report_ctx *r, crest_status st, const char *path, const char *what, int err)
{
    if (r->status != CREST_OK)
        return;
    r->status = st;
    crest_diag_set(r->diag, st, path, 0, 0, "%s%s%s", what, err ? ": " : "", err ? strerror(err) : "");
}

static void nomem(report_ctx *r)
{
    fail(r, CREST_ERR_NOMEM, r->dir, "out of memory rendering the report", 0);
}

static void note(report_ctx *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(report_ctx *r, const char *fmt, ...)
{
    char *notes = r->res->notes;
    const size_t used = strlen(notes), cap = sizeof r->res->notes;
    if (used + 2 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(notes + used, cap - used - 1, fmt, ap);
    va_end(ap);
    const size_t end = n < 0 ? used : used + (size_t)n < cap - 1 ? used + (size_t)n : cap - 2;
    notes[end] = '\n';
    notes[end + 1] = '\0';
}

/* The text of a buffer, NULL when it ran out of memory. */
static const char *text_of(const textbuf *t)
{
    return t->oom ? NULL : t->data ? t->data : "";
}

/* Write text to DIR/NAME through a temporary file and a rename: 0, or -1 with the failure kept. */
static int write_file(report_ctx *r, const char *name, const char *text)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", r->dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!text) {
        nomem(r);
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fail(r, CREST_ERR_IO, tmp, "cannot write", errno);
        return -1;
    }
    const size_t n = strlen(text);
    const int ok = fwrite(text, 1, n, f) == n;
    if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
        fail(r, CREST_ERR_IO, path, "cannot write", errno);
        unlink(tmp);
        return -1;
    }
    return 0;
}

crest_status crest_report_dir(const char *dir, crest_diag *diag)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return crest_diag_set(diag, CREST_ERR_IO, dir, 0, 0, "cannot create: %s", strerror(errno));
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return crest_diag_set(diag, CREST_ERR_IO, dir, 0, 0, "not a directory");
    return CREST_OK;
}

/* HTML-escape into s. */
static void html_text(textbuf *s, const char *t)
{
    for (; *t; t++) {
        if (*t == '<')
            textbuf_printf(s, "&lt;");
        else if (*t == '>')
            textbuf_printf(s, "&gt;");
        else if (*t == '&')
            textbuf_printf(s, "&amp;");
        else if (*t == '"')
            textbuf_printf(s, "&quot;");
        else
            textbuf_printf(s, "%c", *t);
    }
}

/* gnuplot in PATH? */
static int have_gnuplot(void)
{
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    char buf[4096];
    while (*path) {
        const char *e = strchr(path, ':');
        const size_t n = e ? (size_t)(e - path) : strlen(path);
        snprintf(buf, sizeof buf, "%.*s/gnuplot", (int)n, n ? path : ".");
        if (access(buf, X_OK) == 0)
            return 1;
        path += n + (e != NULL);
    }
    return 0;
}

int crest_eval_run_gnuplot(const char *dir, const char *script_or_e, int is_e)
{
    const pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (chdir(dir) != 0)
            _exit(127);
        const int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0 && is_e) {
            dup2(devnull, STDOUT_FILENO);
            dup2(devnull, STDERR_FILENO);
        }
        if (is_e)
            execlp("gnuplot", "gnuplot", "-e", script_or_e, (char *)NULL);
        else
            execlp("gnuplot", "gnuplot", script_or_e, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Pick the terminal: "pngcairo", "png" or "svg"; NULL for none. */
static const char *pick_terminal(report_ctx *r, const char *want, int gp)
{
    if (!strcmp(want, "none"))
        return NULL;
    if (!strcmp(want, "svg"))
        return "svg";
    if (gp && crest_eval_run_gnuplot(r->dir, "set terminal pngcairo", 1) == 0)
        return "pngcairo";
    if (gp && crest_eval_run_gnuplot(r->dir, "set terminal png", 1) == 0)
        return "png";
    if (!strcmp(want, "png") && gp) {
        note(r, "gnuplot has no PNG terminal here; writing SVG");
        return "svg";
    }
    return gp ? "svg" : (strcmp(want, "png") ? "svg" : "pngcairo");
}

static void gp_terminal(textbuf *s, const char *term, int w, int h, const char *out)
{
    const char *ext = strcmp(term, "svg") ? "png" : "svg";
    if (!strcmp(term, "svg"))
        textbuf_printf(s, "set terminal svg size %d,%d dynamic font 'sans,11' background '#ffffff'\n", w, h);
    else
        textbuf_printf(s, "set terminal %s size %d,%d font 'sans,10'\n", term, w, h);
    textbuf_printf(s, "set output '%s.%s'\nset termoption noenhanced\n", out, ext);
}

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

static void fmt_pct(char *out, size_t cap, double x)
{
    if (isfinite(x))
        snprintf(out, cap, "%.2f%%", 100 * x);
    else
        snprintf(out, cap, "–");
}

static void fmt_ci(char *out, size_t cap, crest_interval ci)
{
    if (isfinite(ci.estimate))
        snprintf(out, cap, "%.2f%% [%.2f, %.2f]", 100 * ci.estimate, 100 * ci.lower, 100 * ci.upper);
    else
        snprintf(out, cap, "–");
}

/* Data files and gnuplot scripts for the replay plots; returns the script text. */
static char *replay_plots(report_ctx *r, const crest_replay_set *set, const char *term, int *ok)
{
    const size_t n = set->n;
    *ok = 1;
    textbuf gp = {NULL, 0, 0, 0};
    const int periods = crest_replay_period_count(set->reps[0]) > 0;
    /* 1. Realised rate per tier over time, one panel per tier, CI band and target. */
    for (size_t i = 0; i < n && periods; i++) {
        const crest_replay *rep = set->reps[i];
        const size_t np = crest_replay_period_count(rep),
                     nt = crest_policy_tier_count(crest_replay_policy(rep));
        textbuf dat = {NULL, 0, 0, 0};
        textbuf_printf(&dat,
                       "# policy %s: per tier (one block each), per period: index label rate lo hi target\n",
                       set->names[i]);
        for (size_t t = 0; t < nt; t++) {
            textbuf_printf(&dat, "# tier %s\n", crest_policy_tier_name(crest_replay_policy(rep), t));
            for (size_t p = 0; p < np; p++) {
                const crest_replay_metrics *m = crest_replay_period_at(rep, p);
                const crest_replay_tier_metrics *tm = &m->tiers[t];
                if (tm->rows == 0)
                    textbuf_printf(&dat, "%zu %s NaN NaN NaN %.10g\n", p, m->label, tm->target);
                else
                    textbuf_printf(&dat, "%zu %s %.10g %.10g %.10g %.10g\n", p, m->label, tm->rate.estimate,
                                   tm->rate.lower, tm->rate.upper, tm->target);
            }
            textbuf_printf(&dat, "\n\n");
        }
        char fname[200];
        snprintf(fname, sizeof fname, "rates_%zu.dat", i + 1);
        if (write_file(r, fname, text_of(&dat)) != 0)
            *ok = 0;
        free(dat.data);
        char out[64];
        snprintf(out, sizeof out, "rates_%zu", i + 1);
        gp_terminal(&gp, term, 900, 260 * (int)nt, out);
        textbuf_printf(&gp,
                       "reset\nset multiplot layout %zu,1 title 'Realised inspection rate per tier: %s (95%% "
                       "Clopper-Pearson band, dashed: target)'\n",
                       nt, set->names[i]);
        textbuf_printf(
            &gp, "set grid ytics\nset key top right\nset format y '%%.1f%%%%'\nset xtics rotate by 45 right "
                 "font ',8'\nset style fill transparent solid 0.25 noborder\n");
        const size_t step = np > 16 ? (np + 15) / 16 : 1;
        for (size_t t = 0; t < nt; t++) {
            const char *c = palette[t % 10];
            textbuf_printf(&gp, "set title '%s'\n",
                           crest_policy_tier_name(crest_replay_policy(set->reps[i]), t));
            textbuf_printf(
                &gp,
                "plot '%s' index %zu using 1:($4*100):($5*100) with filledcurves lc rgb '%s' title '95%% "
                "CI', "
                "'' index %zu using 1:($3*100):xtic(int($1)%%%zu==0 ? stringcolumn(2) : '') with linespoints "
                "pt 7 ps 0.5 lc rgb '%s' title 'realised', '' index %zu using 1:($6*100) with lines dt 2 lw "
                "2 "
                "lc rgb '#000000' title 'target'\n",
                fname, t, c, t, step, c, t);
        }
        textbuf_printf(&gp, "unset multiplot\nunset output\n");
    }
    /* 2. Cumulative revenue caught per policy. */
    if (periods) {
        textbuf dat = {NULL, 0, 0, 0};
        textbuf_printf(
            &dat, "# per policy (one block each): index period cumulative_revenue_caught cumulative_total\n");
        for (size_t i = 0; i < n; i++) {
            double cum = 0, tot = 0;
            textbuf_printf(&dat, "# %s\n", set->names[i]);
            for (size_t p = 0; p < crest_replay_period_count(set->reps[i]); p++) {
                const crest_replay_metrics *m = crest_replay_period_at(set->reps[i], p);
                cum += m->revenue_caught;
                tot += m->revenue_total;
                textbuf_printf(&dat, "%zu %s %.10g %.10g\n", p, m->label, cum, tot);
            }
            textbuf_printf(&dat, "\n\n");
        }
        if (write_file(r, "revenue.dat", text_of(&dat)) != 0)
            *ok = 0;
        free(dat.data);
        const size_t np = crest_replay_period_count(set->reps[0]);
        const size_t step = np > 16 ? (np + 15) / 16 : 1;
        gp_terminal(&gp, term, 900, 500, "revenue");
        textbuf_printf(
            &gp, "reset\nset title 'Cumulative revenue caught'\nset grid\nset key top left\nset xtics rotate "
                 "by 45 right font ',8'\nset ylabel 'revenue'\nset format y '%%.3s%%c'\nplot ");
        for (size_t i = 0; i < n; i++)
            textbuf_printf(
                &gp,
                "%s'revenue.dat' index %zu using 1:3:xtic(int($1)%%%zu==0 ? stringcolumn(2) : '') with "
                "linespoints pt 7 ps 0.6 lw 2 lc rgb '%s' title '%s'",
                i ? ", " : "", i, step, palette[i % 10], set->names[i]);
        textbuf_printf(&gp, "\nunset output\n");
    }
    /* 3. Gain curve of the risk ranking, with the random diagonal and each policy's realised point. */
    {
        textbuf dat = {NULL, 0, 0, 0};
        textbuf_printf(&dat,
                       "# per policy (one block each): share_inspected share_illicit_caught share_revenue\n");
        for (size_t i = 0; i < n; i++) {
            double x[GAIN_POINTS], y[GAIN_POINTS], v[GAIN_POINTS];
            crest_replay_gain(set->reps[i], GAIN_POINTS, x, y, v);
            textbuf_printf(&dat, "# %s\n", set->names[i]);
            for (size_t k = 0; k < GAIN_POINTS; k++)
                textbuf_printf(&dat, "%.10g %.10g %.10g\n", x[k], isnan(y[k]) ? 0 : y[k],
                               isnan(v[k]) ? 0 : v[k]);
            textbuf_printf(&dat, "\n\n");
        }
        textbuf_printf(&dat, "# realised points: share_inspected recall\n");
        for (size_t i = 0; i < n; i++) {
            const crest_replay_metrics *m = crest_replay_total(set->reps[i]);
            textbuf_printf(&dat, "%.10g %.10g\n\n\n", m->inspect_rate.estimate,
                           isnan(m->recall.estimate) ? 0 : m->recall.estimate);
        }
        if (write_file(r, "gain.dat", text_of(&dat)) != 0)
            *ok = 0;
        free(dat.data);
        gp_terminal(&gp, term, 700, 600, "gain");
        textbuf_printf(
            &gp, "reset\nset title 'Gain curve of the risk ranking (share of illicit caught vs share "
                 "inspected)'\nset grid\nset key bottom right\nset xrange [0:100]\nset yrange [0:100]\nset "
                 "xlabel 'share inspected (by descending risk score)'\nset ylabel 'share of illicit rows "
                 "caught'\nset format x '%%g%%%%'\nset format y '%%g%%%%'\nset size ratio -1\nplot x "
                 "with lines dt 2 lw 2 lc rgb '#555555' title 'random selection (diagonal)'");
        for (size_t i = 0; i < n; i++)
            textbuf_printf(
                &gp,
                ", 'gain.dat' index %zu using ($1*100):($2*100) with lines lw 2 lc rgb '%s' title '%s', "
                "'gain.dat' index %zu using ($1*100):($2*100) with points pt 9 ps 2 lc rgb '%s' title '%s: "
                "realised (rate, recall)'",
                i, palette[i % 10], set->names[i], n + i, palette[i % 10], set->names[i]);
        textbuf_printf(&gp, "\nunset output\n");
    }
    return textbuf_take(&gp);
}

static void html_num(textbuf *h, const char *fmt, double x);

/* ------------------------------------------------------------ figures */

/* Write a chart as DIR/NAME.svg and inline into the page h. */
static void figure(report_ctx *r, textbuf *h, const char *name, const svg_chart *c)
{
    textbuf fig = {NULL, 0, 0, 0};
    svg_chart_write(&fig, c);
    char file[64];
    snprintf(file, sizeof file, "%s.svg", name);
    if (write_file(r, file, text_of(&fig)) == 0)
        textbuf_printf(h, "<figure>%s<figcaption><a href=\"%s\">%s</a></figcaption></figure>\n",
                       text_of(&fig), file, file);
    free(fig.data);
}

/* The provenance block: what produced the page, enough to produce it again. */
static void html_provenance(textbuf *h, const crest_report_provenance *prov, const char *input,
                            const char *const *names, const char *const *hashes, size_t n)
{
    textbuf_printf(
        h, "<h2>Provenance</h2>\n<table class=\"prov\"><tr><th>crest</th><td>%s (commit %s)</td></tr>\n",
        crest_version(), crest_version_commit());
    if (prov && prov->command) {
        textbuf_printf(h, "<tr><th>command</th><td><code>");
        html_text(h, prov->command);
        textbuf_printf(h, "</code></td></tr>\n");
    }
    textbuf_printf(h, "<tr><th>input</th><td><code>");
    html_text(h, input);
    textbuf_printf(h, "</code>, SHA-256 %s</td></tr>\n",
                   prov && prov->input_sha256 ? prov->input_sha256 : "not computed (read from stdin)");
    for (size_t i = 0; i < n; i++) {
        textbuf_printf(h, "<tr><th>policy</th><td>");
        html_text(h, names[i]);
        textbuf_printf(h, ": hash <code>%s</code></td></tr>\n", hashes[i]);
    }
    if (prov && prov->seeds) {
        textbuf_printf(h, "<tr><th>seeds</th><td>");
        html_text(h, prov->seeds);
        textbuf_printf(h, "</td></tr>\n");
    }
    textbuf_printf(h, "</table>\n");
}

/* Period p of rep whose key is key, NULL when it has none. */
static const crest_replay_metrics *period_of_key(const crest_replay *rep, int64_t key)
{
    for (size_t p = 0; p < crest_replay_period_count(rep); p++)
        if (crest_replay_period_at(rep, p)->key == key)
            return crest_replay_period_at(rep, p);
    return NULL;
}

/*
 * Precision, recall and revenue share per period, every policy on one set of
 * axes (Clopper-Pearson bands for the proportions), what each inspected in
 * its legend; the realised rate per tier of each policy with its target;
 * the gain curves.
 */
static void replay_figures(report_ctx *r, const crest_replay_set *set, const char *period, textbuf *h)
{
    const size_t n = set->n, np = crest_replay_period_count(set->reps[0]);
    const char **labels = calloc(np + 101, sizeof *labels);
    int *partial = calloc(np + 1, sizeof *partial);
    double *v = calloc(3 * n * np + 202 + 202 * n + 1, sizeof *v);
    svg_series *ser = calloc(2 * n + CREST_REPLAY_MAX_TIERS * 2 + 1, sizeof *ser);
    char(*names)[160] = calloc(2 * n + CREST_REPLAY_MAX_TIERS * 2 + 1, sizeof *names);
    if (!labels || !partial || !v || !ser || !names) {
        nomem(r);
        goto done;
    }
    char x_title[64], footer[96] = "";
    snprintf(x_title, sizeof x_title, "%s (labelled by its first day)", period);
    for (size_t p = 0; p < np; p++) {
        labels[p] = crest_replay_period_at(set->reps[0], p)->label;
        partial[p] = crest_replay_period_partial(set->reps[0], p, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        const crest_replay_metrics *t = crest_replay_total(set->reps[i]);
        snprintf(names[i], sizeof names[i], "%s — inspected %llu (%.2f%%)", set->names[i],
                 (unsigned long long)t->inspected, 100 * t->inspect_rate.estimate);
    }
    static const char *const what[3] = {"precision", "recall", "revenue"};
    static const char *const titles[3] = {"Precision per period (illicit among inspected, 95% CI)",
                                          "Recall per period (share of the illicit rows inspected, 95% CI)",
                                          "Revenue share per period (recoverable revenue caught)"};
    static const char *const y_titles[3] = {"precision (%)", "recall (%)",
                                            "revenue caught (% of the period's)"};
    if (np) {
        textbuf_printf(h, "<h2>Over time</h2>\n<p>Every policy replays the same rows; each legend gives what "
                          "the policy inspected in total (its budget), so curves are read against their "
                          "budgets.</p>\n");
        for (int k = 0; k < 3; k++) {
            for (size_t i = 0; i < n; i++) {
                double *y = v + (3 * i) * np, *lo = y + np, *hi = lo + np;
                for (size_t p = 0; p < np; p++) {
                    const crest_replay_metrics *m =
                        period_of_key(set->reps[i], crest_replay_period_at(set->reps[0], p)->key);
                    const crest_interval ci = !m       ? (crest_interval){NAN, NAN, NAN}
                                              : k == 0 ? m->precision
                                                       : m->recall;
                    y[p] = !m ? NAN : k == 2 ? m->revenue_share : ci.estimate;
                    lo[p] = k == 2 ? NAN : ci.lower;
                    hi[p] = k == 2 ? NAN : ci.upper;
                }
                ser[i] = (svg_series){names[i], y, k == 2 ? NULL : lo, k == 2 ? NULL : hi};
            }
            char id[32];
            snprintf(id, sizeof id, "fig_%s", what[k]);
            const svg_chart c = {id, titles[k], x_title, y_titles[k], labels, np, partial, ser, n, 1, NULL};
            figure(r, h, id, &c);
        }
        /* The realised rate per tier of each policy, with its target. */
        textbuf_printf(h, "<h2>Realised rate per tier</h2>\n");
        for (size_t i = 0; i < n; i++) {
            const crest_policy *pol = crest_replay_policy(set->reps[i]);
            const size_t nt = crest_replay_total(set->reps[i])->n_tiers;
            double *tv = calloc(4 * nt * np + 1, sizeof *tv);
            if (!tv) {
                nomem(r);
                goto done;
            }
            for (size_t t = 0; t < nt; t++) {
                double *y = tv + 4 * t * np, *lo = y + np, *hi = lo + np, *tg = hi + np;
                for (size_t p = 0; p < np; p++) {
                    const crest_replay_metrics *m =
                        period_of_key(set->reps[i], crest_replay_period_at(set->reps[0], p)->key);
                    const crest_replay_tier_metrics *tm = m ? &m->tiers[t] : NULL;
                    y[p] = tm ? tm->rate.estimate : NAN;
                    lo[p] = tm ? tm->rate.lower : NAN;
                    hi[p] = tm ? tm->rate.upper : NAN;
                    tg[p] = tm ? tm->target : NAN;
                }
                snprintf(names[n + 2 * t], sizeof names[0], "%s", crest_policy_tier_name(pol, t));
                snprintf(names[n + 2 * t + 1], sizeof names[0], "%s target%s", crest_policy_tier_name(pol, t),
                         crest_replay_total(set->reps[i])->tiers[t].floor ? " (floor)" : "");
                ser[2 * t] = (svg_series){names[n + 2 * t], y, lo, hi};
                ser[2 * t + 1] = (svg_series){names[n + 2 * t + 1], tg, NULL, NULL};
            }
            char id[32], title[256];
            snprintf(id, sizeof id, "fig_rates_%zu", i + 1);
            snprintf(title, sizeof title, "Realised inspection rate per tier: %s (95%% CI)", set->names[i]);
            const svg_chart c = {id,
                                 title,
                                 x_title,
                                 "inspection rate (%)",
                                 labels,
                                 np,
                                 partial,
                                 ser,
                                 2 * nt,
                                 1,
                                 "target: the tier's rate (a line of its own)"};
            figure(r, h, id, &c);
            free(tv);
        }
    }
    /* Gain curves over the share inspected. */
    static char gl[101][8];
    for (size_t g = 0; g < 101; g++) {
        snprintf(gl[g], sizeof gl[g], "%zu%%", g);
        labels[g] = gl[g];
    }
    double *x = v, *diag = v + 101;
    for (size_t i = 0; i < n; i++) {
        double *y = v + 202 + 2 * 101 * i, *rev = y + 101;
        if (crest_replay_gain(set->reps[i], 101, x, y, rev) != CREST_OK)
            continue;
        ser[i] = (svg_series){set->names[i], y, NULL, NULL};
    }
    for (size_t g = 0; g < 101; g++)
        diag[g] = g / 100.0;
    ser[n] = (svg_series){"random ranking", diag, NULL, NULL};
    snprintf(footer, sizeof footer, "%s", "rows ranked by risk score, highest first");
    const svg_chart c = {"fig_gain",
                         "Gain curve of the risk ranking (share of the illicit rows found)",
                         "share of the rows inspected, by score (%)",
                         "illicit rows found (%)",
                         labels,
                         101,
                         NULL,
                         ser,
                         n + 1,
                         1,
                         footer};
    textbuf_printf(h, "<h2>Gain curve</h2>\n");
    figure(r, h, "fig_gain", &c);
done:
    free(labels);
    free(partial);
    free(v);
    free(ser);
    free(names);
}

static char *replay_html(report_ctx *r, const crest_replay_set *set, const char *input, const char *period,
                         int partial, const crest_report_provenance *prov)
{
    const size_t n = set->n;
    textbuf h = {NULL, 0, 0, 0};
    textbuf_printf(
        &h, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>crest replay</title>\n"
            "<style>body{font-family:sans-serif;max-width:1300px;margin:2em auto}table{border-collapse:"
            "collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}"
            "td:first-child{text-align:left}figure{margin:1em 0}svg{max-width:100%%;height:auto}"
            "table.prov td{text-align:left}</style></head><body>\n<h1>crest replay</h1>\n<p>History: <code>");
    html_text(&h, input);
    textbuf_printf(&h, "</code>, period: %s.%s</p>\n", period,
                   partial ? " <b>PARTIAL: the run was interrupted; the figures cover only what was read.</b>"
                           : "");
    textbuf_printf(
        &h,
        "<h2>Totals</h2>\n<table><tr><th>policy</th><th>rows</th><th>inspected</th><th>rate</th>"
        "<th>AEO/base ratio [95%% CI]</th><th>precision [95%% CI]</th><th>recall</th><th>revenue caught</th>"
        "<th>precision@5%%</th><th>lift vs random</th><th>illicit left in AEO</th><th>true rate</th>"
        "<th>HT estimate [95%% CI]</th><th>AUC</th><th>AP</th></tr>\n");
    for (size_t i = 0; i < n; i++) {
        const crest_replay_metrics *m = crest_replay_total(set->reps[i]);
        double auc, ap;
        crest_replay_ranking_quality(set->reps[i], &auc, &ap);
        char a[64], b[64], c[64], d[64], e[64], f[64], g[64], k[64];
        fmt_pct(a, sizeof a, m->inspect_rate.estimate);
        if (isfinite(m->ratio.estimate))
            snprintf(b, sizeof b, "%.3f [%.3f, %.3f]", m->ratio.estimate, m->ratio.lower, m->ratio.upper);
        else
            snprintf(b, sizeof b, "–");
        fmt_ci(c, sizeof c, m->precision);
        fmt_pct(d, sizeof d, m->recall.estimate);
        fmt_pct(e, sizeof e, m->revenue_share);
        fmt_pct(f, sizeof f, m->at_precision[2]);
        fmt_pct(g, sizeof g, m->true_rate.estimate);
        fmt_ci(k, sizeof k, m->ht_rate);
        textbuf_printf(&h, "<tr><td>");
        html_text(&h, set->names[i]);
        textbuf_printf(&h,
                       "</td><td>%llu</td><td>%llu</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</"
                       "td><td>%s</td>"
                       "<td>%.2f</td><td>%llu</td><td>%s</td><td>%s</td><td>",
                       (unsigned long long)m->rows, (unsigned long long)m->inspected, a, b, c, d, e, f,
                       m->lift_random, (unsigned long long)m->aeo_missed_illicit, g, k);
        html_num(&h, "%.3f", auc);
        textbuf_printf(&h, "</td><td>");
        html_num(&h, "%.3f", ap);
        textbuf_printf(&h, "</td></tr>\n");
    }
    textbuf_printf(
        &h,
        "</table>\n<p>Precision = illicit among inspected; recall = share of illicit rows inspected; "
        "revenue caught = share of recoverable revenue on inspected rows; lift = precision / precision of "
        "the random stream (rows with u &lt; p_random); HT = Horvitz-Thompson estimate of the illicit rate "
        "from inspected rows weighted 1/P(inspect), next to the true rate of the labels; AUC = chance that "
        "an "
        "illicit row scores above a licit one (ties count half), AP = average precision of the risk "
        "ranking.</p>\n");
    replay_figures(r, set, period, &h);
    textbuf_printf(
        &h, "<h2>Data</h2>\n<ul><li><a href=\"replay.json\">replay.json</a>: everything</li><li><a "
            "href=\"periods.csv\">periods.csv</a>: per policy and period, and the total</li><li><a "
            "href=\"tiers.csv\">tiers.csv</a>: per tier</li><li><a href=\"gain.csv\">gain.csv</a>: gain "
            "curves</li><li>the figures as SVG files (fig_*.svg), and gnuplot's plots.gp with its "
            "data</li></ul>\n");
    const char **hashes = calloc(n + 1, sizeof *hashes);
    if (!hashes) {
        free(h.data);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        hashes[i] = crest_policy_hash_full(crest_replay_policy(set->reps[i]));
    html_provenance(&h, prov, input, (const char *const *)set->names, hashes, n);
    free(hashes);
    textbuf_printf(&h, "</body></html>\n");
    return textbuf_take(&h);
}

static char *gain_csv(const crest_replay_set *set)
{
    const size_t n = set->n;
    textbuf s = {NULL, 0, 0, 0};
    textbuf_printf(&s, "policy,share_inspected,share_illicit,share_revenue\n");
    for (size_t i = 0; i < n; i++) {
        double x[GAIN_POINTS], y[GAIN_POINTS], v[GAIN_POINTS];
        crest_replay_gain(set->reps[i], GAIN_POINTS, x, y, v);
        for (size_t k = 0; k < GAIN_POINTS; k++) {
            textbuf_printf(&s, "%s,%.10g,", set->names[i], x[k]);
            if (isfinite(y[k]))
                textbuf_printf(&s, "%.10g", y[k]);
            textbuf_printf(&s, ",");
            if (isfinite(v[k]))
                textbuf_printf(&s, "%.10g", v[k]);
            textbuf_printf(&s, "\n");
        }
    }
    return textbuf_take(&s);
}

/* Write the plot script, run gnuplot when asked and present. Returns 1 when plots were made. */
static int make_plots(report_ctx *r, const char *want, char *script)
{
    const int gp = have_gnuplot();
    if (!script) {
        nomem(r);
        return 0;
    }
    if (write_file(r, "plots.gp", script) != 0)
        return 0;
    if (!strcmp(want, "none"))
        return 0;
    if (!gp) {
        note(r,
             "gnuplot not found in PATH: wrote the data and plots.gp to %s but no plots "
             "(apt-get install gnuplot-nox, then `cd %s && gnuplot plots.gp`)",
             r->dir, r->dir);
        return 0;
    }
    const int rc = crest_eval_run_gnuplot(r->dir, "plots.gp", 0);
    if (rc != 0) {
        note(r, "gnuplot failed (exit %d) on %s/plots.gp; the data files are there", rc, r->dir);
        return 0;
    }
    return 1;
}

static void html_num(textbuf *h, const char *fmt, double x)
{
    if (isfinite(x))
        textbuf_printf(h, fmt, x);
    else
        textbuf_printf(h, "–");
}

/* A group's settings as text ("logit, rate 0.05, explore 0.1"). */
static void html_setting(textbuf *h, const crest_study_setting *s)
{
    html_text(h, s->strategy);
    if (!isnan(s->rate))
        textbuf_printf(h, ", rate %g", s->rate);
    if (!isnan(s->explore))
        textbuf_printf(h, ", explore %g", s->explore);
}

/* "mean [lo, hi]" of a metric (fmt for each number, scaled). */
static void html_stat(textbuf *h, crest_study_stat v, const char *fmt, double scale)
{
    html_num(h, fmt, scale * v.mean);
    if (v.n > 1 && isfinite(v.lo)) {
        textbuf_printf(h, " <small>[");
        html_num(h, fmt, scale * v.lo);
        textbuf_printf(h, ", ");
        html_num(h, fmt, scale * v.hi);
        textbuf_printf(h, "]</small>");
    }
}

static const char sim_head[] =
    "<tr><th>strategy</th><th>seeds</th><th>period</th><th>rows</th><th>budget</th><th>inspected</th>"
    "<th>precision</th><th>recall</th><th>revenue share</th><th>norm. precision</th><th>norm. "
    "revenue</th></tr>\n";

/* One row of the summary tables: group g at period p. */
static void sim_html_row(textbuf *h, const crest_study *st, size_t g, size_t p)
{
    size_t n;
    const crest_study_setting *s = crest_study_group_setting(st, g, &n);
    const crest_sim_metrics *m = crest_study_period(st, p);
    textbuf_printf(h, "<tr><td>");
    html_setting(h, s);
    textbuf_printf(h, "</td><td>%zu</td><td>%s%s</td><td>%llu</td><td>", n, m->label,
                   m->partial && p < crest_study_period_count(st) ? " (partial)" : "",
                   (unsigned long long)m->rows);
    html_stat(h, crest_study_stat_at(st, g, p, CREST_STUDY_BUDGET), "%.1f", 1);
    textbuf_printf(h, "</td><td>");
    html_stat(h, crest_study_stat_at(st, g, p, CREST_STUDY_INSPECTED), "%.1f", 1);
    static const int k[] = {CREST_STUDY_PRECISION, CREST_STUDY_RECALL, CREST_STUDY_REVENUE_SHARE,
                            CREST_STUDY_NORM_PRECISION, CREST_STUDY_NORM_REVENUE};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        textbuf_printf(h, "</td><td>");
        html_stat(h, crest_study_stat_at(st, g, p, k[i]), "%.3f", 1);
    }
    textbuf_printf(h, "</td></tr>\n");
}

/* Precision, recall and revenue share per period: every strategy on one set of axes, its seed band. */
static void sim_figures(report_ctx *r, const crest_study *st, const char *period, textbuf *h)
{
    const size_t np = crest_study_period_count(st), ng = crest_study_group_count(st);
    if (np == 0)
        return;
    const char **labels = calloc(np, sizeof *labels);
    int *partial = calloc(np, sizeof *partial);
    double *v = calloc(3 * ng * np, sizeof *v);
    svg_series *ser = calloc(ng, sizeof *ser);
    char(*names)[200] = calloc(ng, sizeof *names);
    if (!labels || !partial || !v || !ser || !names) {
        nomem(r);
        goto done;
    }
    for (size_t p = 0; p < np; p++) {
        labels[p] = crest_study_period(st, p)->label;
        partial[p] = crest_study_period(st, p)->partial;
    }
    for (size_t g = 0; g < ng; g++) {
        size_t runs;
        const crest_study_setting *s = crest_study_group_setting(st, g, &runs);
        int len = snprintf(names[g], sizeof names[g], "%s", s->strategy);
        if (!isnan(s->rate) && len > 0 && (size_t)len < sizeof names[g])
            len += snprintf(names[g] + len, sizeof names[g] - (size_t)len, ", rate %g", s->rate);
        if (!isnan(s->explore) && len > 0 && (size_t)len < sizeof names[g])
            len += snprintf(names[g] + len, sizeof names[g] - (size_t)len, ", explore %g", s->explore);
        if (len > 0 && (size_t)len < sizeof names[g])
            snprintf(names[g] + len, sizeof names[g] - (size_t)len, " (%zu seed%s) — budget %.0f", runs,
                     runs == 1 ? "" : "s", crest_study_stat_at(st, g, np, CREST_STUDY_BUDGET).mean);
    }
    char x_title[64];
    const size_t plen = strlen(period);
    if (plen && period[plen - 1] == 'd')
        snprintf(x_title, sizeof x_title, "batch of %.*s days (labelled by its first day)", (int)(plen - 1),
                 period);
    else
        snprintf(x_title, sizeof x_title, "%s (labelled by its first day)", period);
    static const int metric[3] = {CREST_STUDY_PRECISION, CREST_STUDY_RECALL, CREST_STUDY_REVENUE_SHARE};
    static const char *const ids[3] = {"fig_precision", "fig_recall", "fig_revenue"};
    static const char *const titles[3] = {"Precision per period (illicit among inspected)",
                                          "Recall per period (share of the illicit rows inspected)",
                                          "Revenue share per period (recoverable revenue caught)"};
    static const char *const y_titles[3] = {"precision (%)", "recall (%)",
                                            "revenue caught (% of the period's)"};
    textbuf_printf(h,
                   "<h2>Over time</h2>\n<p>Lines: the mean over the seeds; bands: its 95%% t interval. The "
                   "legend gives each curve's budget (inspections over the horizon, mean over the "
                   "seeds): curves with the same rate have the same budget.</p>\n");
    for (int k = 0; k < 3; k++) {
        for (size_t g = 0; g < ng; g++) {
            double *y = v + 3 * g * np, *lo = y + np, *hi = lo + np;
            for (size_t p = 0; p < np; p++) {
                const crest_study_stat x = crest_study_stat_at(st, g, p, metric[k]);
                y[p] = x.mean, lo[p] = x.lo, hi[p] = x.hi;
            }
            ser[g] = (svg_series){names[g], y, lo, hi};
        }
        const svg_chart c = {ids[k], titles[k], x_title, y_titles[k], labels, np, partial, ser, ng, 1, NULL};
        figure(r, h, ids[k], &c);
    }
done:
    free(labels);
    free(partial);
    free(v);
    free(ser);
    free(names);
}

static char *sim_html(report_ctx *r, const crest_report_sim *a)
{
    const crest_study *st = a->study;
    const size_t np = crest_study_period_count(st);
    textbuf h = {NULL, 0, 0, 0};
    textbuf_printf(
        &h, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>crest replay --simulate</title>\n"
            "<style>body{font-family:sans-serif;max-width:1300px;margin:2em auto}table{border-collapse:"
            "collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}"
            "td:first-child{text-align:left}figure{margin:1em 0}svg{max-width:100%%;height:auto}"
            "table.prov td{text-align:left}</style></head><body>\n<h1>crest replay --simulate</h1>\n"
            "<p>History: <code>");
    html_text(&h, a->input);
    textbuf_printf(
        &h, "</code>, period: %s, %zu runs.%s</p>\n", a->period, crest_study_run_count(st),
        a->partial ? " <b>PARTIAL: the run was interrupted; the figures cover only what was read.</b>" : "");
    if (a->note && a->note[0]) {
        textbuf_printf(&h, "<p>Note: ");
        html_text(&h, a->note);
        textbuf_printf(&h, "</p>\n");
    }
    textbuf_printf(&h, "<h2>Total</h2>\n<table>%s", sim_head);
    for (size_t g = 0; g < crest_study_group_count(st); g++)
        sim_html_row(&h, st, g, np);
    textbuf_printf(
        &h,
        "</table>\n<p>Mean over the seeds [95%% Student t interval]. Precision = illicit among inspected; "
        "recall = share of the illicit rows inspected; norm. = divided by what a perfect selector gets with "
        "the same budget (it inspects the illicit rows with the highest revenue first).</p>\n");
    sim_figures(r, st, a->period, &h);
    textbuf_printf(&h, "<h2>Per period</h2>\n<table>%s", sim_head);
    for (size_t g = 0; g < crest_study_group_count(st); g++)
        for (size_t p = 0; p < np; p++)
            sim_html_row(&h, st, g, p);
    textbuf_printf(
        &h, "</table>\n<h2>Data</h2>\n<ul><li><a href=\"simulate.json\">simulate.json</a>: the groups, "
            "their seeds, summaries and every run's total</li><li><a href=\"simulate.csv\">simulate.csv</a>: "
            "every run, per period and in total, with its settings</li><li><a "
            "href=\"simulate_summary.csv\">simulate_summary.csv</a>: mean and 95%% interval over the "
            "seeds</li><li>the figures as SVG files (fig_*.svg)</li></ul>\n");
    const char **hashes = calloc(crest_study_group_count(st) + 1, sizeof *hashes);
    size_t nh = 0;
    for (size_t g = 0; hashes && g < crest_study_group_count(st); g++) {
        const char *x = crest_study_group_setting(st, g, NULL)->policy_hash;
        size_t j = 0;
        while (j < nh && strcmp(hashes[j], x))
            j++;
        if (j == nh)
            hashes[nh++] = x;
    }
    const char **names = calloc(nh + 1, sizeof *names);
    for (size_t i = 0; names && i < nh; i++)
        names[i] = "the simulation's policy ([model] features, fit settings; crest strategy: all of it)";
    html_provenance(&h, a->prov, a->input, names, hashes, names ? nh : 0);
    free(names);
    free(hashes);
    textbuf_printf(&h, "</body></html>\n");
    return textbuf_take(&h);
}

static int valid_plots(const char *plots)
{
    return !strcmp(plots, "auto") || !strcmp(plots, "png") || !strcmp(plots, "svg") || !strcmp(plots, "none");
}

static void report_begin(report_ctx *r, const char *dir, crest_report_result *res, crest_diag *diag)
{
    memset(res, 0, sizeof *res);
    crest_diag_clear(diag);
    r->dir = dir;
    r->status = CREST_OK;
    r->diag = diag;
    r->res = res;
}

crest_status crest_report_replay(const char *dir, const crest_replay_set *set, const char *period,
                                 const char *plots, crest_report_result *res, crest_diag *diag)
{
    return crest_report_replay_ex(dir, set, period, plots, NULL, res, diag);
}

crest_status crest_report_replay_ex(const char *dir, const crest_replay_set *set, const char *period,
                                    const char *plots, const crest_report_provenance *prov,
                                    crest_report_result *res, crest_diag *diag)
{
    report_ctx r;
    report_begin(&r, dir, res, diag);
    if (!valid_plots(plots))
        return crest_diag_set(diag, CREST_ERR_INVALID, "<report>", 0, 0,
                              "plots is auto, png, svg or none, not '%s'", plots);
    char *t1 = crest_replay_json(set), *t2 = crest_replay_csv_periods(set), *t3 = crest_replay_csv_tiers(set),
         *t4 = gain_csv(set);
    write_file(&r, "replay.json", t1);
    write_file(&r, "periods.csv", t2);
    write_file(&r, "tiers.csv", t3);
    write_file(&r, "gain.csv", t4);
    free(t1), free(t2), free(t3), free(t4);
    const char *term = pick_terminal(&r, plots, have_gnuplot());
    if (term) {
        int ok;
        char *script = replay_plots(&r, set, term, &ok);
        res->plotted = make_plots(&r, plots, script);
        free(script);
    }
    char *html = replay_html(&r, set, set->input_name, period, set->partial, prov);
    write_file(&r, "index.html", html);
    free(html);
    return r.status;
}

crest_status crest_report_simulate(const char *dir, const crest_report_sim *s, const char *plots,
                                   crest_report_result *res, crest_diag *diag)
{
    report_ctx r;
    report_begin(&r, dir, res, diag);
    if (!valid_plots(plots))
        return crest_diag_set(diag, CREST_ERR_INVALID, "<report>", 0, 0,
                              "plots is auto, png, svg or none, not '%s'", plots);
    char *t1 = crest_study_csv(s->study), *t2 = crest_study_summary_csv(s->study),
         *t3 = crest_study_json(s->study, s->input, s->partial), *t4 = sim_html(&r, s);
    write_file(&r, "simulate.csv", t1);
    write_file(&r, "simulate_summary.csv", t2);
    write_file(&r, "simulate.json", t3);
    write_file(&r, "index.html", t4);
    free(t1), free(t2), free(t3), free(t4);
    return r.status;
}
