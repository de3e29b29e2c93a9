/*
 * summary.c — turn run counts into the summary table (text and JSON).
 * Statistics come from stats.c; this module only arranges and words them.
 */
#include "crest/crest_summary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_stats.h"
#include "policy_internal.h"
#include "textbuf.h"

#define LEVEL 0.95

/* "consistent" when the interval covers the target (or, for a floor, does not lie below it). */
static const char *verdict(const policy_tier *t, crest_interval ci)
{
    if (isnan(ci.estimate))
        return "no rows";
    if (t->floor)
        return ci.upper >= t->effective_rate ? "meets floor" : "BELOW FLOOR";
    if (ci.lower <= t->effective_rate && t->effective_rate <= ci.upper)
        return "on target";
    return ci.estimate < t->effective_rate ? "below target" : "above target";
}

static void pct(textbuf *tb, double x)
{
    if (isnan(x))
        textbuf_puts(tb, "      -");
    else
        textbuf_printf(tb, "%6.2f%%", 100 * x);
}

static void json_num(textbuf *tb, double x)
{
    if (isnan(x) || isinf(x))
        textbuf_puts(tb, "null");
    else
        textbuf_printf(tb, "%.6g", x);
}

static void json_str(textbuf *tb, const char *s)
{
    textbuf_puts(tb, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            textbuf_printf(tb, "\\%c", c);
        else if (c < 0x20)
            textbuf_printf(tb, "\\u%04x", c);
        else
            textbuf_append(tb, s, 1);
    }
    textbuf_puts(tb, "\"");
}

char *crest_summary_text(const crest_policy *p, const crest_run_stats *s, const crest_summary_info *info)
{
    textbuf tb;
    textbuf_init(&tb);
    textbuf_printf(&tb, "crest summary%s — %s, policy %s (%s), seed %llu\n",
                   info && info->partial ? " (PARTIAL: interrupted)" : "",
                   info && info->input_name ? info->input_name : "input", p->name, p->hash_hex,
                   (unsigned long long)p->seed);
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
                           t->ratio, (r.lower <= t->ratio && t->ratio <= r.upper) ? "on target" : "off target");
    }
    textbuf_printf(&tb, "\n\nfacilitation: priority %llu, guarantee-exemption eligible %llu, MRA recognised %llu\n",
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

char *crest_summary_json(const crest_policy *p, const crest_run_stats *s, const crest_summary_info *info)
{
    textbuf tb;
    textbuf_init(&tb);
    textbuf_puts(&tb, "{\"input\":");
    json_str(&tb, info && info->input_name ? info->input_name : "input");
    textbuf_puts(&tb, ",\"policy\":");
    json_str(&tb, p->name);
    textbuf_printf(&tb, ",\"policy_hash\":\"%s\",\"seed\":%llu,\"partial\":%s", p->hash_hex,
                   (unsigned long long)p->seed, info && info->partial ? "true" : "false");
    textbuf_printf(&tb, ",\"rows_in\":%llu,\"decisions\":%llu,\"rejects\":%llu,\"balanced\":%s",
                   (unsigned long long)s->rows_in, (unsigned long long)s->decisions,
                   (unsigned long long)s->rejects, s->rows_in == s->decisions + s->rejects ? "true" : "false");
    textbuf_puts(&tb, ",\"rejects_by_reason\":{");
    int first = 1;
    for (int r = 0; r < CREST_REJECT_COUNT; r++) {
        if (!s->rejects_by_reason[r])
            continue;
        textbuf_printf(&tb, "%s\"%s\":%llu", first ? "" : ",", crest_reject_code((crest_reject_reason)r),
                       (unsigned long long)s->rejects_by_reason[r]);
        first = 0;
    }
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
        textbuf_printf(&tb, ",\"unknown_tier\":%llu,\"from_registry\":%llu,\"from_feed\":%llu}",
                       (unsigned long long)c->unknown, (unsigned long long)c->from_registry,
                       (unsigned long long)c->from_feed);
    }
    textbuf_puts(&tb, "],\"ratios\":[");
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
        textbuf_puts(&tb, "}");
    }
    textbuf_printf(&tb, "],\"inspected\":%llu,\"priority\":%llu,\"guarantee_exempt_eligible\":%llu,"
                        "\"mra_recognised\":%llu,\"bytes_in\":%llu",
                   (unsigned long long)s->inspected, (unsigned long long)s->priority,
                   (unsigned long long)s->guarantee_exempt, (unsigned long long)s->mra_recognised,
                   (unsigned long long)s->bytes_in);
    if (info && info->elapsed_s >= 0) {
        const double secs = info->elapsed_s > 0 ? info->elapsed_s : 1e-9;
        textbuf_printf(&tb, ",\"elapsed_s\":%.6f,\"rows_per_s\":%.0f", info->elapsed_s, (double)s->rows_in / secs);
    }
    textbuf_puts(&tb, "}\n");
    if (tb.oom) {
        textbuf_free(&tb);
        return NULL;
    }
    return textbuf_take(&tb);
}
