/*
 * summary.c — turn run counts into the summary table (text and JSON).
 * Statistics come from stats.c; this module only arranges and words them.
 */
#include "crest/crest_summary.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_date.h"
#include "crest/crest_stats.h"
#include "policy_internal.h"
#include "select.h"
#include "textbuf.h"

#define json_num(tb, x) textbuf_json_number((tb), (x), 6)
#define json_str(tb, s) textbuf_json_string((tb), (s))

#define LEVEL 0.95

/* "consistent" when the interval covers the target (or, for a floor, does not lie below it). */
static const char *verdict(const policy_tier *t, crest_interval ci)
{
    if (isnan(ci.estimate))
        return "no rows";
    /* A floor ("80% or more") is judged on the realised rate: under the floor
     * is never "meets", whatever the interval allows. */
    if (t->floor)
        return ci.estimate >= t->effective_rate ? "meets floor" : "BELOW FLOOR";
    if (ci.lower <= t->effective_rate && t->effective_rate <= ci.upper)
        return "on target";
    return ci.estimate < t->effective_rate ? "below target" : "above target";
}

/* Whether the tier's target is feasible given what criteria force and the
 * random share draw (crest_select_feasible); true without rows. */
static int tier_feasible(const policy_tier *t, const crest_tier_counts *c)
{
    return !c->rows ||
           crest_select_feasible(t->effective_rate,
                                 (c->forced_expected + c->random_expected) / (double)c->rows, t->floor);
}

/*
 * The ratio of tier c's rate to the base tier's net of credit-insensitive
 * selections: rows that a criterion with credit_sensitive = no forced
 * ("unless laws and regulations provide otherwise") are taken out of both the
 * inspections and the rows of each tier, leaving the selections that credit
 * governs. 95% Katz interval.
 */
static crest_interval net_ratio(const crest_tier_counts *c, const crest_tier_counts *bc)
{
    return crest_stats_rate_ratio_ci(c->inspected - c->forced_insensitive, c->rows - c->forced_insensitive,
                                     bc->inspected - bc->forced_insensitive,
                                     bc->rows - bc->forced_insensitive, LEVEL);
}

static void pct(textbuf *tb, double x)
{
    if (isnan(x))
        textbuf_puts(tb, "      -");
    else
        textbuf_printf(tb, "%6.2f%%", 100 * x);
}

/* The floor tiers' months, sorted by tier then month (malloc'd; NULL when none or on OOM). */
static int floor_month_cmp(const void *a, const void *b)
{
    const crest_floor_month *x = a, *y = b;
    if (x->tier != y->tier)
        return x->tier < y->tier ? -1 : 1;
    return (x->month > y->month) - (x->month < y->month);
}
static crest_floor_month *sorted_floor_months(const crest_run_stats *s)
{
    if (!s->n_floor_months)
        return NULL;
    crest_floor_month *m = malloc(s->n_floor_months * sizeof *m);
    if (!m)
        return NULL;
    memcpy(m, s->floor_months, s->n_floor_months * sizeof *m);
    qsort(m, s->n_floor_months, sizeof *m, floor_month_cmp);
    return m;
}

/* "YYYY-MM" of a month key (year · 12 + month − 1). */
static void month_text(int32_t key, char out[24])
{
    const int32_t y = key >= 0 ? key / 12 : -((-key + 11) / 12);
    const unsigned mon = (unsigned)(key - y * 12 + 1) % 13u;
    snprintf(out, 24, "%04d-%02u", (int)y, mon);
}

/* A month under its tier's floor: judged on the realised rate, like the tier. */
static int month_below(const crest_policy *p, const crest_floor_month *m)
{
    return (double)m->inspected < p->tiers[m->tier].effective_rate * (double)m->rows;
}

/* Each floor tier's realised rate per calendar month with its interval, and a
 * loud line when a month is under the floor. */
static void floor_months_text(textbuf *tb, const crest_policy *p, const crest_run_stats *s)
{
    crest_floor_month *m = sorted_floor_months(s);
    if (!m) {
        if (s->n_floor_months)
            tb->oom = 1;
        return;
    }
    size_t below = 0;
    for (size_t i = 0; i < s->n_floor_months; i++) {
        const policy_tier *t = &p->tiers[m[i].tier];
        if (i == 0 || m[i].tier != m[i - 1].tier) {
            textbuf_printf(tb, "\n%s by calendar month (floor %.2f%%, ", t->name, 100 * t->effective_rate);
            if (t->draw_rate != t->effective_rate)
                textbuf_printf(tb, "drawn at %.2f%% to hold it in a month of %lu rows with confidence %.6g",
                               100 * t->draw_rate, t->floor_month_rows, t->floor_confidence);
            else if (t->floor_period)
                textbuf_puts(tb, "held by floor_period top-ups, order-dependent");
            else
                textbuf_puts(tb, "drawn at the floor: a month may fall under it; see floor_confidence");
            textbuf_puts(tb, "):\n");
        }
        char mt[24];
        month_text(m[i].month, mt);
        const crest_interval ci = crest_stats_binomial_ci(m[i].inspected, m[i].rows, LEVEL);
        textbuf_printf(tb, "  %-8s %10llu %10llu  ", mt, (unsigned long long)m[i].rows,
                       (unsigned long long)m[i].inspected);
        pct(tb, ci.estimate);
        textbuf_puts(tb, "  [");
        pct(tb, ci.lower);
        textbuf_puts(tb, ",");
        pct(tb, ci.upper);
        textbuf_printf(tb, "]  %s", month_below(p, &m[i]) ? "BELOW FLOOR" : "meets floor");
        if (t->floor_month_rows && m[i].rows < t->floor_month_rows)
            textbuf_printf(tb, "  (fewer rows than floor_month_rows = %lu: the margin was set for more)",
                           t->floor_month_rows);
        textbuf_puts(tb, "\n");
        below += (size_t)month_below(p, &m[i]);
    }
    if (s->floor_rows_unmonthed)
        textbuf_printf(tb, "%llu floor-tier rows have no decl_date and are in no month\n",
                       (unsigned long long)s->floor_rows_unmonthed);
    if (below)
        textbuf_printf(tb, "FLOOR NOT HELD in %zu tier-month(s) of %zu: see BELOW FLOOR above\n", below,
                       s->n_floor_months);
    free(m);
}

char *crest_summary_floor_warning(const crest_policy *p, const crest_run_stats *s)
{
    crest_floor_month *m = sorted_floor_months(s);
    if (!m)
        return NULL;
    textbuf tb;
    textbuf_init(&tb);
    size_t below = 0;
    for (size_t i = 0; i < s->n_floor_months; i++) {
        if (!month_below(p, &m[i]))
            continue;
        char mt[24];
        month_text(m[i].month, mt);
        textbuf_printf(&tb, "%s%s %s %.2f%% (%llu of %llu)", below ? ", " : "", p->tiers[m[i].tier].name, mt,
                       100 * (double)m[i].inspected / (double)m[i].rows, (unsigned long long)m[i].inspected,
                       (unsigned long long)m[i].rows);
        below++;
    }
    free(m);
    if (!below || tb.oom) {
        textbuf_free(&tb);
        return NULL;
    }
    textbuf tw;
    textbuf_init(&tw);
    textbuf_printf(&tw, "a floor tier realised under its floor in %zu calendar month(s): %s", below, tb.data);
    textbuf_free(&tb);
    if (tw.oom) {
        textbuf_free(&tw);
        return NULL;
    }
    return textbuf_take(&tw);
}

/* The JSON of the floor tiers' months: "floor_months":[...],"floor_below":bool. */
static void floor_months_json(textbuf *tb, const crest_policy *p, const crest_run_stats *s)
{
    crest_floor_month *m = sorted_floor_months(s);
    if (!m && s->n_floor_months)
        tb->oom = 1;
    int below = 0;
    textbuf_puts(tb, ",\"floor_months\":[");
    for (size_t i = 0; m && i < s->n_floor_months; i++) {
        const policy_tier *t = &p->tiers[m[i].tier];
        char mt[24];
        month_text(m[i].month, mt);
        const crest_interval ci = crest_stats_binomial_ci(m[i].inspected, m[i].rows, LEVEL);
        textbuf_printf(tb, "%s{\"tier\":", i ? "," : "");
        json_str(tb, t->name);
        textbuf_printf(tb, ",\"month\":\"%s\",\"rows\":%llu,\"inspected\":%llu,\"rate\":", mt,
                       (unsigned long long)m[i].rows, (unsigned long long)m[i].inspected);
        json_num(tb, ci.estimate);
        textbuf_puts(tb, ",\"ci95\":[");
        json_num(tb, ci.lower);
        textbuf_puts(tb, ",");
        json_num(tb, ci.upper);
        textbuf_puts(tb, "],\"floor\":");
        json_num(tb, t->effective_rate);
        textbuf_puts(tb, ",\"draw_rate\":");
        json_num(tb, t->draw_rate);
        textbuf_printf(tb, ",\"below_floor\":%s}", month_below(p, &m[i]) ? "true" : "false");
        below |= month_below(p, &m[i]);
    }
    free(m);
    textbuf_printf(tb, "],\"floor_rows_without_month\":%llu,\"floor_below_in_a_month\":%s",
                   (unsigned long long)s->floor_rows_unmonthed, below ? "true" : "false");
}

char *crest_summary_text(const crest_policy *p, const crest_run_stats *s, const crest_summary_info *info)
{
    textbuf tb;
    textbuf_init(&tb);
    textbuf_printf(&tb, "crest summary%s%s%s — %s, policy %s (%s), seed %llu\n",
                   info && info->partial ? " (PARTIAL: " : "",
                   info && info->partial ? (info->ending ? info->ending : "interrupted") : "",
                   info && info->partial ? ")" : "", info && info->input_name ? info->input_name : "input",
                   p->name, p->hash_hex, (unsigned long long)p->seed);
    textbuf_printf(&tb, "rows in %llu = decisions %llu + rejects %llu%s\n", (unsigned long long)s->rows_in,
                   (unsigned long long)s->decisions, (unsigned long long)s->rejects,
                   s->rows_in == s->decisions + s->rejects ? "" : "  (MISMATCH: a bug, please report)");
    if (s->rejects) {
        textbuf_puts(&tb, "rejects by reason:");
        for (int r = 0; r < CREST_REJECT_COUNT; r++)
            if (s->rejects_by_reason[r])
                textbuf_printf(&tb, " %s %llu", crest_reject_code((crest_reject_reason)r),
                               (unsigned long long)s->rejects_by_reason[r]);
        textbuf_puts(&tb, "\n");
    }
    textbuf_printf(&tb, "\n%-20s %10s %10s %9s  %-19s %9s  %s\n", "tier", "rows", "inspected", "rate",
                   "95% CI", "target", "");
    for (size_t i = 0; i < p->n_tiers; i++) {
        const policy_tier *t = &p->tiers[i];
        const crest_tier_counts *c = &s->tiers[i];
        crest_interval ci = crest_stats_binomial_ci(c->inspected, c->rows, LEVEL);
        textbuf_printf(&tb, "%-20s %10llu %10llu  ", t->name, (unsigned long long)c->rows,
                       (unsigned long long)c->inspected);
        pct(&tb, ci.estimate);
        textbuf_puts(&tb, "  [");
        pct(&tb, ci.lower);
        textbuf_puts(&tb, ",");
        pct(&tb, ci.upper);
        textbuf_puts(&tb, "]  ");
        pct(&tb, t->effective_rate);
        textbuf_printf(&tb, "%s  %s", t->floor ? "+" : " ", verdict(t, ci));
        if (c->unknown)
            textbuf_printf(&tb, "  (%llu with unknown tier)", (unsigned long long)c->unknown);
        textbuf_puts(&tb, "\n");
    }
    floor_months_text(&tb, p, s);
    if (p->fx)
        textbuf_printf(
            &tb,
            "fx: values compared in %s ([fx] file %s, %zu rate periods); %llu decisions had no rate "
            "for their currency on their date (reason FX_MISSING: their value counts as missing, "
            "never compared raw)\n",
            p->fx_base, p->fx_path, crest_fx_count(p->fx), (unsigned long long)s->fx_missing);
    if (s->n_unknown_tiers) {
        static const char *const what[] = {"kept in the default tier", "rejected (UNKNOWN_TIER)",
                                           "stopped the run"};
        textbuf_printf(&tb, "tier values the policy does not know (%s %s; [input] unknown_tier):",
                       what[p->unknown_tier], p->tiers[p->default_tier].name);
        for (size_t i = 0; i < s->n_unknown_tiers; i++)
            textbuf_printf(&tb, "%s '%s' %llu", i ? "," : "", s->unknown_tiers[i].value,
                           (unsigned long long)s->unknown_tiers[i].count);
        if (s->unknown_tier_other)
            textbuf_printf(&tb, ", other values %llu", (unsigned long long)s->unknown_tier_other);
        textbuf_puts(&tb, "\n");
    }
    uint64_t matched = 0;
    for (size_t k = 0; k < p->n_parties && k < 4; k++)
        matched += s->registry_by_party[k];
    if (matched) {
        textbuf_puts(&tb, "registry matches by party:");
        for (size_t k = 0; k < p->n_parties && k < 4; k++)
            textbuf_printf(&tb, " %s %llu", crest_field_name(p->parties[k]),
                           (unsigned long long)s->registry_by_party[k]);
        textbuf_puts(&tb, "\n");
    }
    /* [registry] parties: the lowest tier among the parties applies, so a broker
     * can move a firm's declarations to a lower tier; say how many and where. */
    uint64_t moved = 0;
    for (size_t i = 0; i < p->n_tiers; i++)
        moved += s->tiers[i].moved_by_party;
    if (moved) {
        textbuf_printf(
            &tb,
            "parties: %llu rows in a lower tier than their enterprise's own because another party's is lower "
            "([registry] parties: the lowest tier applies):",
            (unsigned long long)moved);
        for (size_t i = 0; i < p->n_tiers; i++)
            if (s->tiers[i].moved_by_party)
                textbuf_printf(&tb, " %s %llu", p->tiers[i].name,
                               (unsigned long long)s->tiers[i].moved_by_party);
        textbuf_puts(&tb, "\n");
    }
    /* Criteria that force a lane count toward a tier's rate: when they alone
     * exceed the target, no scale can meet it. */
    for (size_t i = 0; i < p->n_tiers; i++) {
        const policy_tier *t = &p->tiers[i];
        const crest_tier_counts *c = &s->tiers[i];
        if (!c->rows || c->forced_expected <= 0 || t->floor)
            continue; /* a floor ("or more") cannot be exceeded into infeasibility */
        const double forced = c->forced_expected / (double)c->rows;
        const double fixed = (c->forced_expected + c->random_expected) / (double)c->rows;
        if (!crest_select_feasible(t->effective_rate, forced, t->floor))
            textbuf_printf(
                &tb,
                "%s target INFEASIBLE: criteria force %.3f%% of its declarations, %.3f points over "
                "the %.3f%% target\n",
                t->name, 100 * forced, 100 * (forced - t->effective_rate), 100 * t->effective_rate);
        else if (!tier_feasible(t, c))
            textbuf_printf(
                &tb,
                "%s target INFEASIBLE: forced (%.3f%%) and random (%.3f%%) selections alone exceed "
                "the %.3f%% target\n",
                t->name, 100 * forced, 100 * (fixed - forced), 100 * t->effective_rate);
        else
            textbuf_printf(&tb, "%s: criteria force %.3f%% of declarations (within the %.3f%% target)\n",
                           t->name, 100 * forced, 100 * t->effective_rate);
    }
    const policy_tier *base = &p->tiers[p->base_tier];
    const crest_tier_counts *bc = &s->tiers[p->base_tier];
    for (size_t i = 0; i < p->n_tiers; i++) {
        const policy_tier *t = &p->tiers[i];
        if (isnan(t->ratio))
            continue;
        const crest_tier_counts *c = &s->tiers[i];
        crest_interval r = crest_stats_rate_ratio_ci(c->inspected, c->rows, bc->inspected, bc->rows, LEVEL);
        textbuf_printf(&tb, "\n%s/%s ratio of realised rates: ", t->name, base->name);
        if (isnan(r.estimate))
            textbuf_puts(&tb, "undefined (no rows or no inspections in a tier)");
        else
            textbuf_printf(&tb, "%.3f  95%% CI [%.3f, %.3f]  target %.3g  %s", r.estimate, r.lower, r.upper,
                           t->ratio,
                           (r.lower <= t->ratio && t->ratio <= r.upper) ? "on target" : "off target");
        if (c->forced_insensitive || bc->forced_insensitive) {
            const crest_interval nr = net_ratio(c, bc);
            textbuf_printf(&tb,
                           "\n%s/%s ratio net of credit-insensitive selections (%llu and %llu rows forced by "
                           "criteria with credit_sensitive = no, out of both tiers): ",
                           t->name, base->name, (unsigned long long)c->forced_insensitive,
                           (unsigned long long)bc->forced_insensitive);
            if (isnan(nr.estimate))
                textbuf_puts(&tb, "undefined");
            else
                textbuf_printf(&tb, "%.3f  95%% CI [%.3f, %.3f]", nr.estimate, nr.lower, nr.upper);
            textbuf_puts(&tb,
                         "\n  (the target applies to the gross ratio above: crest calibrate counts forced "
                         "selections toward each tier's rate)");
        }
    }
    if (s->inspected)
        textbuf_printf(
            &tb,
            "\n\nselections (rows whose reasons say so): RANDOM %llu (the random share), RISK %llu "
            "(risk-weighted), TIER_FLOOR %llu (a floor tier's draw), %llu forced by a criterion (its id "
            "first), MAX_HITS %llu; lanes RED %llu, ORANGE %llu, YELLOW %llu, BLUE %llu",
            (unsigned long long)s->selected_random, (unsigned long long)s->selected_risk,
            (unsigned long long)s->selected_floor, (unsigned long long)s->selected_forced,
            (unsigned long long)s->selected_max_hits, (unsigned long long)s->lanes[4],
            (unsigned long long)s->lanes[3], (unsigned long long)s->lanes[2],
            (unsigned long long)s->lanes[1]);
    if (crest_policy_has_capacity(p)) {
        if (p->n_office_caps)
            textbuf_printf(&tb,
                           "\ncapacity per office (%s, %zu rows; others %lu RED a day%s):", p->offices_path,
                           p->n_office_caps, p->red_per_office_day, p->red_per_office_day ? "" : ": no cap");
        else
            textbuf_printf(&tb, "\ncapacity %lu RED per office and day:", p->red_per_office_day);
        textbuf_printf(&tb,
                       " %llu deferred to BLUE (CAPACITY), %llu over the cap that could not be deferred "
                       "(OVERFLOW)",
                       (unsigned long long)s->deferred, (unsigned long long)s->overflow);
    }
    if (s->formulas_guarded)
        textbuf_printf(&tb,
                       "\n%llu pass-through cells began like a spreadsheet formula and got a leading ' "
                       "(--no-formula-guard to keep them as they are)",
                       (unsigned long long)s->formulas_guarded);
    if (s->regex_limit_hits)
        textbuf_printf(
            &tb, "\nregex match limit hit %llu times (%s)", (unsigned long long)s->regex_limit_hits,
            p->on_limit == LIMIT_REJECT    ? "[rules] on_limit = reject: those rows were rejected"
            : p->on_limit == LIMIT_INSPECT ? "[rules] on_limit = inspect: those rows were inspected"
                                           : "counted as no match; see [rules] on_limit");
    textbuf_printf(
        &tb, "\n\nfacilitation: priority %llu, guarantee-exemption eligible %llu, MRA recognised %llu\n",
        (unsigned long long)s->priority, (unsigned long long)s->guarantee_exempt,
        (unsigned long long)s->mra_recognised);
    if (info && info->elapsed_s >= 0) {
        const double secs = info->elapsed_s > 0 ? info->elapsed_s : 1e-9;
        textbuf_printf(&tb, "elapsed %.3f s, %.0f rows/s, %.1f MB/s in\n", info->elapsed_s,
                       (double)s->rows_in / secs, (double)s->bytes_in / secs / 1e6);
    }
    if (tb.oom) {
        textbuf_free(&tb);
        return NULL;
    }
    return textbuf_take(&tb);
}

crest_status crest_summary_reject_budget(const crest_policy *p, const crest_run_stats *s, double max_rate,
                                         crest_diag *diag)
{
    crest_diag_clear(diag);
    if (isnan(max_rate))
        max_rate = p->max_reject_rate;
    if (s->rows_in == 0)
        return CREST_OK;
    const double rate = (double)s->rejects / (double)s->rows_in;
    if (s->decisions == 0)
        return crest_diag_set(diag, CREST_ERR_RANGE, "input", 0, 0,
                              "every one of the %llu rows was rejected: nothing was decided",
                              (unsigned long long)s->rows_in);
    if (rate > max_rate)
        return crest_diag_set(
            diag, CREST_ERR_RANGE, "input", 0, 0,
            "%llu of %llu rows rejected (%.2f%%), over the reject budget of %.2f%% "
            "([input] max_reject_rate, --max-reject-rate); every row is accounted for above",
            (unsigned long long)s->rejects, (unsigned long long)s->rows_in, 100 * rate, 100 * max_rate);
    return CREST_OK;
}

char *crest_summary_json(const crest_policy *p, const crest_run_stats *s, const crest_summary_info *info)
{
    textbuf tb;
    textbuf_init(&tb);
    textbuf_puts(&tb, "{\"input\":");
    json_str(&tb, info && info->input_name ? info->input_name : "input");
    textbuf_puts(&tb, ",\"policy\":");
    json_str(&tb, p->name);
    textbuf_printf(&tb, ",\"policy_hash\":\"%s\",\"policy_sha256\":\"%s\",\"policy_files\":[", p->hash_hex,
                   p->hash_full);
    for (size_t i = 0; i < p->n_files; i++) {
        const policy_file *f = &p->files[i];
        textbuf_printf(&tb, "%s{\"kind\":\"%s\",\"name\":", i ? "," : "", crest_file_kind_name(f->kind));
        json_str(&tb, f->name);
        textbuf_printf(&tb, ",\"sha256\":\"%s\",\"bytes\":%zu}", f->sha256, f->len);
    }
    textbuf_printf(&tb, "],\"seed\":%llu,\"partial\":%s", (unsigned long long)p->seed,
                   info && info->partial ? "true" : "false");
    if (info && info->partial)
        textbuf_printf(&tb, ",\"ending\":\"%s\"", info->ending ? info->ending : "interrupted");
    textbuf_printf(&tb, ",\"rows_in\":%llu,\"decisions\":%llu,\"rejects\":%llu,\"balanced\":%s",
                   (unsigned long long)s->rows_in, (unsigned long long)s->decisions,
                   (unsigned long long)s->rejects,
                   s->rows_in == s->decisions + s->rejects ? "true" : "false");
    textbuf_puts(&tb, ",\"rejects_by_reason\":{");
    int first = 1;
    for (int r = 0; r < CREST_REJECT_COUNT; r++) {
        if (!s->rejects_by_reason[r])
            continue;
        textbuf_printf(&tb, "%s\"%s\":%llu", first ? "" : ",", crest_reject_code((crest_reject_reason)r),
                       (unsigned long long)s->rejects_by_reason[r]);
        first = 0;
    }
    textbuf_puts(&tb, "},\"unknown_tiers\":[");
    for (size_t i = 0; i < s->n_unknown_tiers; i++) {
        textbuf_puts(&tb, i ? ",{\"value\":" : "{\"value\":");
        json_str(&tb, s->unknown_tiers[i].value);
        textbuf_printf(&tb, ",\"count\":%llu}", (unsigned long long)s->unknown_tiers[i].count);
    }
    textbuf_printf(&tb, "],\"unknown_tier_other\":%llu,\"registry_matches\":{",
                   (unsigned long long)s->unknown_tier_other);
    for (size_t k = 0; k < p->n_parties && k < 4; k++)
        textbuf_printf(&tb, "%s\"%s\":%llu", k ? "," : "", crest_field_name(p->parties[k]),
                       (unsigned long long)s->registry_by_party[k]);
    textbuf_puts(&tb, "},\"tiers\":[");
    for (size_t i = 0; i < p->n_tiers; i++) {
        const policy_tier *t = &p->tiers[i];
        const crest_tier_counts *c = &s->tiers[i];
        crest_interval ci = crest_stats_binomial_ci(c->inspected, c->rows, LEVEL);
        textbuf_printf(&tb, "%s{\"tier\":", i ? "," : "");
        json_str(&tb, t->name);
        textbuf_printf(&tb, ",\"rows\":%llu,\"inspected\":%llu,\"expected\":", (unsigned long long)c->rows,
                       (unsigned long long)c->inspected);
        json_num(&tb, c->expected);
        textbuf_puts(&tb, ",\"rate\":");
        json_num(&tb, ci.estimate);
        textbuf_puts(&tb, ",\"ci95\":[");
        json_num(&tb, ci.lower);
        textbuf_puts(&tb, ",");
        json_num(&tb, ci.upper);
        textbuf_puts(&tb, "],\"target\":");
        json_num(&tb, t->effective_rate);
        textbuf_printf(&tb, ",\"floor\":%s,\"verdict\":", t->floor ? "true" : "false");
        json_str(&tb, verdict(t, ci));
        textbuf_printf(
            &tb,
            ",\"unknown_tier\":%llu,\"from_registry\":%llu,\"from_feed\":%llu,\"moved_by_party\":%llu,"
            "\"forced\":%llu,"
            "\"forced_credit_insensitive\":%llu,\"deferred\":%llu,\"overflow\":%llu,\"forced_rate\":",
            (unsigned long long)c->unknown, (unsigned long long)c->from_registry,
            (unsigned long long)c->from_feed, (unsigned long long)c->moved_by_party,
            (unsigned long long)c->forced, (unsigned long long)c->forced_insensitive,
            (unsigned long long)c->deferred, (unsigned long long)c->overflow);
        json_num(&tb, c->rows ? c->forced_expected / (double)c->rows : NAN);
        textbuf_printf(&tb, ",\"feasible\":%s}", tier_feasible(t, c) ? "true" : "false");
    }
    textbuf_puts(&tb, "]");
    floor_months_json(&tb, p, s);
    textbuf_printf(&tb, ",\"fx_missing\":%llu", (unsigned long long)s->fx_missing);
    textbuf_puts(&tb, ",\"ratios\":[");
    const crest_tier_counts *bc = &s->tiers[p->base_tier];
    first = 1;
    for (size_t i = 0; i < p->n_tiers; i++) {
        const policy_tier *t = &p->tiers[i];
        if (isnan(t->ratio))
            continue;
        const crest_tier_counts *c = &s->tiers[i];
        crest_interval r = crest_stats_rate_ratio_ci(c->inspected, c->rows, bc->inspected, bc->rows, LEVEL);
        textbuf_printf(&tb, "%s{\"tier\":", first ? "" : ",");
        first = 0;
        json_str(&tb, t->name);
        textbuf_puts(&tb, ",\"base\":");
        json_str(&tb, p->tiers[p->base_tier].name);
        textbuf_puts(&tb, ",\"ratio\":");
        json_num(&tb, r.estimate);
        textbuf_puts(&tb, ",\"ci95\":[");
        json_num(&tb, r.lower);
        textbuf_puts(&tb, ",");
        json_num(&tb, r.upper);
        textbuf_puts(&tb, "],\"target\":");
        json_num(&tb, t->ratio);
        /* Net of credit-insensitive selections; the target is the gross ratio's. */
        const crest_interval nr = net_ratio(c, bc);
        textbuf_puts(&tb, ",\"target_applies_to\":\"gross\",\"net\":{\"ratio\":");
        json_num(&tb, nr.estimate);
        textbuf_puts(&tb, ",\"ci95\":[");
        json_num(&tb, nr.lower);
        textbuf_puts(&tb, ",");
        json_num(&tb, nr.upper);
        textbuf_puts(&tb, "]}}");
    }
    textbuf_printf(&tb,
                   "],\"selected\":{\"random\":%llu,\"risk\":%llu,\"floor\":%llu,\"forced\":%llu,"
                   "\"max_hits\":%llu},"
                   "\"lanes\":{\"GREEN\":%llu,\"BLUE\":%llu,\"YELLOW\":%llu,\"ORANGE\":%llu,\"RED\":%llu},"
                   "\"deferred\":%llu,\"overflow\":%llu,\"regex_limit_hits\":%llu",
                   (unsigned long long)s->selected_random, (unsigned long long)s->selected_risk,
                   (unsigned long long)s->selected_floor, (unsigned long long)s->selected_forced,
                   (unsigned long long)s->selected_max_hits, (unsigned long long)s->lanes[0],
                   (unsigned long long)s->lanes[1], (unsigned long long)s->lanes[2],
                   (unsigned long long)s->lanes[3], (unsigned long long)s->lanes[4],
                   (unsigned long long)s->deferred, (unsigned long long)s->overflow,
                   (unsigned long long)s->regex_limit_hits);
    textbuf_printf(&tb,
                   ",\"inspected\":%llu,\"priority\":%llu,\"guarantee_exempt_eligible\":%llu,"
                   "\"mra_recognised\":%llu,\"bytes_in\":%llu",
                   (unsigned long long)s->inspected, (unsigned long long)s->priority,
                   (unsigned long long)s->guarantee_exempt, (unsigned long long)s->mra_recognised,
                   (unsigned long long)s->bytes_in);
    if (info && info->elapsed_s >= 0) {
        const double secs = info->elapsed_s > 0 ? info->elapsed_s : 1e-9;
        textbuf_printf(&tb, ",\"elapsed_s\":%.6f,\"rows_per_s\":%.0f", info->elapsed_s,
                       (double)s->rows_in / secs);
    }
    textbuf_puts(&tb, "}\n");
    if (tb.oom) {
        textbuf_free(&tb);
        return NULL;
    }
    return textbuf_take(&tb);
}

char *crest_summary_windows_csv(const crest_policy *p, const crest_window_stats *w, size_t n)
{
    textbuf tb;
    textbuf_init(&tb);
    textbuf_puts(
        &tb, "window,tier,rows,target,expected_rate,realised_rate,ci95_low,ci95_high,holds,inspected,forced,"
             "deferred,multiplier\n");
    char key[16];
    for (size_t i = 0; i < n;) {
        /* One window: its tiers, then the ratio of each relative tier to the base. */
        size_t j = i;
        while (j < n && w[j].key == w[i].key)
            j++;
        if (p->window_rows)
            snprintf(key, sizeof key, "%lld", (long long)w[i].key);
        else
            crest_date_format((int32_t)w[i].key, key);
        const crest_window_stats *base = NULL;
        for (size_t k = i; k < j; k++)
            if (w[k].tier == p->base_tier)
                base = &w[k];
        for (size_t k = i; k < j; k++) {
            const policy_tier *t = &p->tiers[w[k].tier];
            crest_interval ci = crest_stats_binomial_ci(w[k].inspected, w[k].rows, LEVEL);
            const char *holds =
                t->floor ? (ci.upper >= t->effective_rate ? "yes" : "no")
                         : (ci.lower <= t->effective_rate && t->effective_rate <= ci.upper ? "yes" : "no");
            textbuf_printf(&tb, "%s,%s,%llu,%.6g,%.6g,%.6g,%.6g,%.6g,%s,%llu,%llu,%llu,%.6g\n", key, t->name,
                           (unsigned long long)w[k].rows, t->effective_rate,
                           w[k].expected / (double)w[k].rows, ci.estimate, ci.lower, ci.upper, holds,
                           (unsigned long long)w[k].inspected, (unsigned long long)w[k].forced,
                           (unsigned long long)w[k].deferred, w[k].multiplier);
        }
        for (size_t k = i; k < j && base; k++) {
            const policy_tier *t = &p->tiers[w[k].tier];
            if (isnan(t->ratio))
                continue;
            crest_interval r =
                crest_stats_rate_ratio_ci(w[k].inspected, w[k].rows, base->inspected, base->rows, LEVEL);
            const char *holds =
                isnan(r.estimate) ? "" : (r.lower <= t->ratio && t->ratio <= r.upper ? "yes" : "no");
            textbuf_printf(&tb, "%s,%s/%s,%llu,%.6g,,%.6g,%.6g,%.6g,%s,,,,\n", key, t->name,
                           p->tiers[p->base_tier].name, (unsigned long long)w[k].rows, t->ratio, r.estimate,
                           r.lower, r.upper, holds);
        }
        i = j;
    }
    if (tb.oom) {
        textbuf_free(&tb);
        return NULL;
    }
    return textbuf_take(&tb);
}
