/*
 * calibrate.c — per-tier scale constants by root finding (GSL Brent) and the
 * rewrite of the policy text that freezes them. See crest_calibrate.h.
 */
#define _XOPEN_SOURCE 700
#include "crest/crest_calibrate.h"
#include "crest/crest_risk.h"

#include <errno.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_roots.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_internal.h"
#include "select.h"
#include "textbuf.h"

typedef struct cal_row {
    double r, q, f; /* random part, risk part per unit scale, forced probability */
} cal_row;

struct crest_calibrator {
    const crest_policy *policy;
    cal_row *rows[CREST_MAX_TIERS];
    size_t n[CREST_MAX_TIERS], cap[CREST_MAX_TIERS];
};

crest_status crest_calibrator_create(const crest_policy *policy, crest_calibrator **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return CREST_ERR_NOMEM;
    (*out)->policy = policy;
    return CREST_OK;
}

crest_status crest_calibrator_add(crest_calibrator *c, const crest_decision *dec)
{
    const size_t t = dec->tier;
    if (t >= c->policy->n_tiers)
        return CREST_ERR_RANGE;
    if (c->n[t] == c->cap[t]) {
        size_t cap = c->cap[t] ? 2 * c->cap[t] : 4096;
        cal_row *r = realloc(c->rows[t], cap * sizeof *r);
        if (!r)
            return CREST_ERR_NOMEM;
        c->rows[t] = r;
        c->cap[t] = cap;
    }
    cal_row *r = &c->rows[t][c->n[t]++];
    r->r = dec->p_random;
    r->q = dec->p_risk_unit;
    r->f = dec->p_forced;
    return CREST_OK;
}

typedef struct tier_fn {
    const cal_row *rows;
    size_t n;
    double target;
    double floor; /* p ≥ floor for every row of a floor tier; 0 otherwise */
} tier_fn;

/* E[rate](s) − target. */
static double excess(double s, void *arg)
{
    const tier_fn *tf = arg;
    double sum = 0.0;
    for (size_t i = 0; i < tf->n; i++) {
        const cal_row *r = &tf->rows[i];
        const double p = crest_select_clip(r->r + s * r->q, tf->floor); /* the p the run draws with */
        sum += 1.0 - (1.0 - r->f) * (1.0 - p);
    }
    return sum / (double)tf->n - tf->target;
}

crest_status crest_calibrator_solve(crest_calibrator *c, crest_calibration_tier *out, crest_diag *diag)
{
    crest_diag_clear(diag);
    crest_models_init();
    const crest_policy *p = c->policy;
    for (size_t t = 0; t < p->n_tiers; t++) {
        crest_calibration_tier *ct = &out[t];
        memset(ct, 0, sizeof *ct);
        ct->rows = c->n[t];
        ct->target = p->tiers[t].effective_rate;
        ct->scale = p->tiers[t].scale;
        if (!c->n[t]) {
            ct->status = CREST_CALIBRATION_NO_ROWS;
            continue;
        }
        /* A floor tier ("80% or more") holds every row at or above its draw
         * rate, as the run does (select.c). With floor_confidence the draw rate
         * already carries the margin that holds the floor per calendar month,
         * and is the target. Without it the tier aims a safety margin above
         * the floor, so that the realised rate of a period as large as the
         * history stays at or above the floor (3.1 sd: 99.9%). */
        const policy_tier *pt = &p->tiers[t];
        if (pt->floor && pt->draw_rate != pt->effective_rate)
            ct->target = pt->draw_rate;
        else if (pt->floor)
            ct->target =
                fmin(1.0, pt->effective_rate +
                              3.1 * sqrt(pt->effective_rate * (1 - pt->effective_rate) / (double)c->n[t]));
        tier_fn tf = {c->rows[t], c->n[t], ct->target, pt->floor ? pt->draw_rate : 0.0};
        double fsum = 0.0, qsum = 0.0;
        for (size_t i = 0; i < tf.n; i++) {
            fsum += tf.rows[i].f;
            qsum += tf.rows[i].q;
        }
        ct->forced_rate = fsum / (double)tf.n;
        ct->base_rate = excess(0.0, &tf) + ct->target;
        if (qsum == 0.0) {
            ct->status = crest_select_feasible(ct->target, ct->base_rate, pt->floor)
                             ? CREST_CALIBRATION_FIXED
                             : CREST_CALIBRATION_INFEASIBLE;
            ct->expected = ct->base_rate;
            continue;
        }
        if (excess(0.0, &tf) >= 0.0) {
            /* The fixed part alone reaches the target: scale 0. Within the
             * feasibility tolerance that meets it; for a floor tier ("or
             * more") more than the target is allowed. */
            ct->status = crest_select_feasible(ct->target, ct->base_rate, pt->floor)
                             ? CREST_CALIBRATION_OK
                             : CREST_CALIBRATION_INFEASIBLE;
            ct->scale = 0.0;
            ct->expected = ct->base_rate;
            continue;
        }
        double hi = 1.0;
        while (excess(hi, &tf) < 0.0 && hi < 1e12)
            hi *= 4.0;
        if (excess(hi, &tf) < 0.0) {
            ct->status = CREST_CALIBRATION_UNREACHABLE;
            ct->scale = hi;
            ct->expected = excess(hi, &tf) + ct->target;
            continue;
        }
        gsl_function F = {excess, &tf};
        gsl_root_fsolver *s = gsl_root_fsolver_alloc(gsl_root_fsolver_brent);
        if (!s)
            return crest_diag_set(diag, CREST_ERR_NOMEM, "", 0, 0, "out of memory");
        double lo = 0.0;
        int status = gsl_root_fsolver_set(s, &F, lo, hi);
        for (int iter = 0; status == GSL_SUCCESS && iter < 200; iter++) {
            status = gsl_root_fsolver_iterate(s);
            if (status != GSL_SUCCESS)
                break;
            lo = gsl_root_fsolver_x_lower(s);
            hi = gsl_root_fsolver_x_upper(s);
            if (gsl_root_test_interval(lo, hi, 0.0, 1e-12) == GSL_SUCCESS)
                break;
        }
        const double root = gsl_root_fsolver_root(s);
        gsl_root_fsolver_free(s);
        if (status != GSL_SUCCESS || !isfinite(root))
            return crest_diag_set(diag, CREST_ERR_NUMERIC, "", 0, 0, "root finding failed for tier %s: %s",
                                  p->tiers[t].name, gsl_strerror(status));
        ct->scale = root;
        ct->expected = excess(root, &tf) + ct->target;
        ct->status = CREST_CALIBRATION_OK;
    }
    return CREST_OK;
}

void crest_calibrator_free(crest_calibrator *c)
{
    if (!c)
        return;
    for (size_t t = 0; t < CREST_MAX_TIERS; t++)
        free(c->rows[t]);
    free(c);
}

const char *crest_calibration_status_name(crest_calibration_status st)
{
    switch (st) {
    case CREST_CALIBRATION_OK:
        return "ok";
    case CREST_CALIBRATION_INFEASIBLE:
        return "INFEASIBLE";
    case CREST_CALIBRATION_UNREACHABLE:
        return "UNREACHABLE";
    case CREST_CALIBRATION_NO_ROWS:
        return "no rows";
    case CREST_CALIBRATION_FIXED:
        return "fixed (no risk part)";
    }
    return "?";
}

/* ------------------------------------------------------ the policy rewrite */

/* dir part of a path ("." when none). Caller frees. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Path of `target` (absolute) relative to directory `from` (absolute). */
static char *relative_to(const char *from, const char *target)
{
    size_t common = 0, i = 0;
    while (from[i] && target[i] && from[i] == target[i]) {
        if (from[i] == '/')
            common = i;
        i++;
    }
    if (!from[i] && (target[i] == '/' || !target[i]))
        common = i;
    size_t ups = 0;
    for (const char *s = from + common; *s; s++)
        if (*s == '/')
            ups++;
    textbuf tb;
    textbuf_init(&tb);
    for (size_t k = 0; k < ups; k++)
        textbuf_puts(&tb, "../");
    const char *rest = target + common;
    if (*rest == '/')
        rest++;
    textbuf_puts(&tb, *rest ? rest : ".");
    return textbuf_take(&tb);
}

/* 1 when the n bytes at s spell exactly the word w. */
static int key_is(const char *s, size_t n, const char *w)
{
    return s && strlen(w) == n && memcmp(s, w, n) == 0;
}

/* A path value from the policy, re-expressed relative to the output directory. */
static char *rebase(const crest_policy *p, const char *value, size_t vn, const char *out_dir_abs)
{
    char *v = strndup(value, vn);
    if (!v || v[0] == '/')
        return v;
    char joined[PATH_MAX + 2];
    snprintf(joined, sizeof joined, "%s/%s", p->dir, v);
    char abs_target[PATH_MAX];
    if (!realpath(joined, abs_target))
        return v; /* leave it as written; loading will say what is missing */
    free(v);
    return relative_to(out_dir_abs, abs_target);
}

#define REACH_MARK "# crest calibrate reach:"

/* Under a tier's header: what the calibration could and could not reach, in
 * words, so that the written policy says it where the tier is set. */
static void write_reach(textbuf *tb, const policy_tier *pt, const crest_calibration_tier *ct)
{
    textbuf_printf(tb, "%s ", REACH_MARK);
    switch (ct->status) {
    case CREST_CALIBRATION_OK:
        textbuf_printf(tb, "reached: expected rate %.6g for target %.6g on %llu rows (criteria force %.6g)",
                       ct->expected, ct->target, (unsigned long long)ct->rows, ct->forced_rate);
        break;
    case CREST_CALIBRATION_INFEASIBLE:
        textbuf_printf(tb,
                       "NOT REACHED: forced and random selections alone give %.6g, over the target %.6g "
                       "(criteria force %.6g); scale 0 switches the risk part off for this tier",
                       ct->base_rate, ct->target, ct->forced_rate);
        break;
    case CREST_CALIBRATION_UNREACHABLE:
        textbuf_printf(tb,
                       "NOT REACHED: even scale %.6g gives only %.6g for target %.6g (too little risk mass "
                       "on %llu rows)",
                       ct->scale, ct->expected, ct->target, (unsigned long long)ct->rows);
        break;
    case CREST_CALIBRATION_NO_ROWS:
        textbuf_printf(tb, "not calibrated: no row of this tier in the history; scale stays %.10g",
                       pt->scale);
        break;
    case CREST_CALIBRATION_FIXED:
        textbuf_printf(tb,
                       "nothing to scale (no risk part): expected rate %.6g for target %.6g on %llu rows "
                       "(criteria force %.6g)",
                       ct->expected, ct->target, (unsigned long long)ct->rows, ct->forced_rate);
        break;
    }
    if (pt->floor && pt->draw_rate != pt->effective_rate)
        textbuf_printf(tb, "; the floor %.6g is drawn at %.6g to hold per calendar month", pt->effective_rate,
                       pt->draw_rate);
    textbuf_puts(tb, "\n");
}

crest_status crest_policy_write_calibrated(const crest_policy *p, const crest_calibration_tier *tiers,
                                           const char *history_name, uint64_t history_hash, uint64_t rows,
                                           const char *out_path, crest_diag *diag)
{
    crest_diag_clear(diag);
    char *out_dir = dir_of(out_path);
    char out_abs[PATH_MAX];
    if (!out_dir || !realpath(out_dir, out_abs)) {
        free(out_dir);
        return crest_diag_set(diag, CREST_ERR_IO, out_path, 0, 0, "cannot resolve the output directory: %s",
                              strerror(errno));
    }
    free(out_dir);
    textbuf tb;
    textbuf_init(&tb);
    const char *s = p->source_text, *end = s + strlen(s);
    int section = 0; /* 0 other, 1 tier, 2 rules, 3 model, 4 calibration, 5 fx */
    while (s < end) {
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        const char *next = eol ? eol + 1 : end;
        /* The loader's own line reader: a section, tier or key here is one there. */
        policy_line pl;
        policy_read_line(s, (size_t)((eol ? eol : end) - s), &pl);
        if (pl.kind == POLICY_LINE_HEADER) {
            section = 0;
            if (pl.tier) {
                section = 1;
                textbuf_append(&tb, s, (size_t)(next - s));
                if (!eol)
                    textbuf_puts(&tb, "\n");
                for (size_t t = 0; t < p->n_tiers; t++) {
                    if (strlen(p->tiers[t].name) != pl.tier_len ||
                        memcmp(p->tiers[t].name, pl.tier, pl.tier_len) != 0)
                        continue;
                    if (tiers[t].status != CREST_CALIBRATION_NO_ROWS &&
                        tiers[t].status != CREST_CALIBRATION_FIXED)
                        textbuf_printf(
                            &tb, "scale = %.10g   # crest calibrate: expected rate %.6g, target %.6g%s\n",
                            tiers[t].scale, tiers[t].expected, tiers[t].target,
                            tiers[t].status == CREST_CALIBRATION_OK ? ""
                                                                    : " (not reachable, see [calibration])");
                    write_reach(&tb, &p->tiers[t], &tiers[t]);
                }
                s = next;
                continue;
            }
            if (key_is(pl.section, pl.section_len, "rules"))
                section = 2;
            else if (key_is(pl.section, pl.section_len, "model"))
                section = 3;
            else if (key_is(pl.section, pl.section_len, "calibration"))
                section = 4;
            else if (key_is(pl.section, pl.section_len, "fx"))
                section = 5;
        }
        if (section == 4) { /* the old calibration goes; a new one is appended */
            s = next;
            continue;
        }
        if (section == 1 && pl.kind == POLICY_LINE_KEY && key_is(pl.key, pl.key_len, "scale")) {
            s = next;
            continue;
        }
        /* A previous calibration's reach lines go with its scale. */
        if (section == 1 && pl.kind == POLICY_LINE_BLANK && pl.text_len >= sizeof REACH_MARK - 1 &&
            memcmp(pl.text, REACH_MARK, sizeof REACH_MARK - 1) == 0) {
            s = next;
            continue;
        }
        if (pl.kind == POLICY_LINE_KEY &&
            ((section == 2 &&
              (key_is(pl.key, pl.key_len, "criteria") || key_is(pl.key, pl.key_len, "tables"))) ||
             ((section == 3 || section == 5) && key_is(pl.key, pl.key_len, "file")))) {
            const char *v = pl.value, *ve = pl.value + pl.value_len;
            char *nv = rebase(p, v, pl.value_len, out_abs);
            textbuf_append(&tb, s, (size_t)(v - s));
            textbuf_puts(&tb, nv ? nv : "");
            textbuf_append(&tb, ve, (size_t)(next - ve));
            if (!eol)
                textbuf_puts(&tb, "\n");
            free(nv);
            s = next;
            continue;
        }
        textbuf_append(&tb, s, (size_t)(next - s));
        if (!eol && next > s)
            textbuf_puts(&tb, "\n");
        s = next;
    }
    /* One blank line before the section, however many the policy ended with:
     * a file calibrated again does not grow a blank line each time. */
    while (tb.len >= 2 && tb.data[tb.len - 1] == '\n' && tb.data[tb.len - 2] == '\n')
        tb.data[--tb.len] = '\0';
    textbuf_printf(
        &tb,
        "\n[calibration]\n# Written by crest calibrate: the tier scales above make each tier's expected\n"
        "# inspection rate on this history equal its target.\nhistory = %s\nhistory_hash = %016llx\n"
        "rows = %llu\nexpected = ",
        history_name, (unsigned long long)history_hash, (unsigned long long)rows);
    for (size_t t = 0; t < p->n_tiers; t++)
        textbuf_printf(&tb, "%s%s %.6g (%s)", t ? ", " : "", p->tiers[t].name, tiers[t].expected,
                       crest_calibration_status_name(tiers[t].status));
    char *files = policy_files_fingerprint(p);
    textbuf_printf(
        &tb,
        "\n# The SHA-256 of the criteria, tables and model these scales were computed with.\nfiles = %s\n",
        files ? files : "");
    free(files);
    if (tb.oom) {
        textbuf_free(&tb);
        return crest_diag_set(diag, CREST_ERR_NOMEM, out_path, 0, 0, "out of memory");
    }
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(tb.data, 1, tb.len, f) == tb.len;
    if (f && fclose(f) != 0)
        ok = 0;
    textbuf_free(&tb);
    if (!ok || rename(tmp, out_path) != 0) {
        int err = errno;
        remove(tmp);
        return crest_diag_set(diag, CREST_ERR_IO, out_path, 0, 0, "cannot write the calibrated policy: %s",
                              strerror(err));
    }
    return CREST_OK;
}
