/*
 * tier.c — the effective credit tier of a declaration: the worst tier among
 * its parties in the registry as of the declaration date, else the feed's
 * tier label, else the policy's default (the policy says which comes first);
 * and whether a foreign AEO code is recognised under an MRA.
 */
#include <stdio.h>
#include <string.h>

#include "engine_internal.h"

/*
 * A partner AEO code: two capitals (ISO 3166 alpha-2 of the partner) then at
 * least 4 letters or digits. China's own AEO codes (AEOCN + 10 digits) are not
 * foreign, even though "AE" is also the United Arab Emirates' prefix.
 */
static int mra_recognised(const crest_engine *e, const crest_decl *d)
{
    const crest_str a = d->field[CREST_FIELD_FOREIGN_AEO];
    if (a.len < 6 || a.len > 40)
        return 0;
    if (memcmp(a.ptr, "AEOCN", 5) == 0)
        return 0;
    if (!(a.ptr[0] >= 'A' && a.ptr[0] <= 'Z' && a.ptr[1] >= 'A' && a.ptr[1] <= 'Z'))
        return 0;
    for (size_t i = 2; i < a.len; i++) {
        const char c = a.ptr[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    if (e->col_of_field[CREST_FIELD_DIRECTION] >= 0 && d->direction != 'I')
        return 0;
    return policy_is_mra_partner(e->policy, a.ptr);
}

/* Feed tier labels repeat ("AEO", "REGULAR"): a few exact-match entries in
 * front of the alias lookup (which normalises case and spacing). Hot path. */
static int tier_of_label(crest_engine *e, worker *w, crest_str label)
{
    for (size_t i = 0; i < TIER_CACHE; i++) {
        const tier_cache_entry *c = &w->tier_cache[i];
        if (c->len == label.len && c->len && crest_same_bytes(c->label, label.ptr, label.len))
            return c->tier;
    }
    const int t = crest_policy_tier_lookup(e->policy, label.ptr, label.len);
    if (label.len <= sizeof w->tier_cache[0].label) {
        tier_cache_entry *c = &w->tier_cache[w->tier_cache_next++ % TIER_CACHE];
        memcpy(c->label, label.ptr, label.len);
        c->len = label.len;
        c->tier = t;
    }
    return t;
}

/* Hot path. */
int crest_tier_resolve(crest_engine *e, worker *w, const csvread_row *row, const crest_decl *d,
                       crest_select_plan *plan, tier_source *src, const int lean)
{
    const crest_policy *p = e->policy;
    /* Effective tier: the worst tier among the parties found in the registry. */
    int tier = -1, own = -1; /* own: the enterprise's own registry tier */
    tier_source from = TIER_SOURCE_DEFAULT;
    int registry_needs_date = 0;
    int label_unknown = 0; /* a nonempty feed label that names no tier */
    size_t party = 0;
    for (int pass = 0; pass < 2 && tier < 0; pass++) {
        const int use_registry = (pass == 0) == (p->tier_pref == CREST_TIER_PREFER_REGISTRY);
        if (!lean && use_registry && e->registry_usable) {
            for (size_t k = 0; k < p->n_parties; k++) {
                const crest_str pid = d->field[p->parties[k]];
                if (pid.len == 0)
                    continue;
                if (d->date_days == CREST_DATE_NONE) {
                    registry_needs_date = 1;
                    break;
                }
                int t = crest_registry_lookup(e->registry, pid.ptr, pid.len, d->date_days);
                if (p->parties[k] == CREST_FIELD_ENTERPRISE_ID)
                    own = t;
                if (t > tier) {
                    tier = t;
                    party = k;
                    from = p->parties[k] == CREST_FIELD_DECLARANT_ID ? TIER_SOURCE_REGISTRY_DECLARANT
                                                                     : TIER_SOURCE_REGISTRY_ENTERPRISE;
                }
            }
            if (registry_needs_date)
                break;
        } else if (!use_registry || lean) { /* lean: no registry, the label's one pass */
            const crest_str label = d->field[CREST_FIELD_CREDIT_TIER];
            if (label.len) {
                int t = tier_of_label(e, w, label);
                if (t >= 0) {
                    tier = t;
                    from = TIER_SOURCE_FEED;
                } else {
                    label_unknown = 1;
                }
            }
            if (lean)
                break;
        }
    }
    if (registry_needs_date) {
        const crest_str date = d->field[CREST_FIELD_DECL_DATE];
        char detail[160];
        snprintf(detail, sizeof detail,
                 "decl_date '%.*s' is not a valid date (YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD) and the registry "
                 "join needs it",
                 (int)(date.len > 40 ? 40 : date.len), date.ptr ? date.ptr : "");
        crest_reject(w, row, CREST_REJECT_BAD_DATE, (unsigned long)e->col_of_field[CREST_FIELD_DECL_DATE] + 1,
                     detail);
        return ROW_REJECTED;
    }
    const int unknown = tier < 0;
    if (unknown && label_unknown) {
        const crest_str label = d->field[CREST_FIELD_CREDIT_TIER];
        crest_stats_unknown_tier(w->stats, label.ptr, label.len, 1);
        if (p->unknown_tier != UNKNOWN_TIER_DEFAULT) {
            char detail[160];
            snprintf(detail, sizeof detail, "credit tier '%.*s' is not a tier or alias of the policy",
                     (int)(label.len > 60 ? 60 : label.len), label.ptr);
            if (p->unknown_tier == UNKNOWN_TIER_ERROR) {
                char msg[300];
                snprintf(msg, sizeof msg,
                         "%s ([input] unknown_tier = error); add it as an alias in [tier NAME] aliases",
                         detail);
                crest_engine_set_fatal(e, CREST_ERR_INVALID, row->line, 0, "%s", msg);
                return ROW_FATAL;
            }
            crest_reject(w, row, CREST_REJECT_UNKNOWN_TIER,
                         (unsigned long)e->col_of_field[CREST_FIELD_CREDIT_TIER] + 1, detail);
            return ROW_REJECTED;
        }
    }
    if (!lean && (from == TIER_SOURCE_REGISTRY_DECLARANT || from == TIER_SOURCE_REGISTRY_ENTERPRISE))
        w->stats->registry_by_party[party < 4 ? party : 3]++;
    if (unknown)
        tier = (int)p->default_tier;
    plan->tier = (size_t)tier;
    plan->unknown = unknown;
    /* Moved by another party: the enterprise has a registry tier, and another
     * party's (the broker's) lower tier is the one that applies. */
    plan->moved_by_party = !lean && !unknown && own >= 0 && tier > own;
    plan->mra = mra_recognised(e, d);
    *src = from;
    return ROW_OK;
}

void crest_stats_unknown_tier(crest_run_stats *s, const char *v, size_t len, uint64_t n)
{
    if (len > sizeof s->unknown_tiers[0].value - 1) {
        len = sizeof s->unknown_tiers[0].value - 1;
        while (len && ((unsigned char)v[len] & 0xC0) == 0x80)
            len--; /* cut before a UTF-8 character, not inside it */
    }
    for (size_t i = 0; i < s->n_unknown_tiers; i++) {
        crest_unknown_tier *u = &s->unknown_tiers[i];
        if (strlen(u->value) == len && memcmp(u->value, v, len) == 0) {
            u->count += n;
            return;
        }
    }
    if (s->n_unknown_tiers == CREST_UNKNOWN_TIERS) {
        s->unknown_tier_other += n;
        return;
    }
    crest_unknown_tier *u = &s->unknown_tiers[s->n_unknown_tiers++];
    memcpy(u->value, v, len);
    u->value[len] = '\0';
    u->count = n;
}

void crest_stats_floor_month(crest_run_stats *s, size_t tier, int32_t month, uint64_t rows,
                             uint64_t inspected)
{
    if (month == INT32_MIN) {
        s->floor_rows_unmonthed += rows;
        return;
    }
    /* Few floor tiers and months: a linear search, newest entry first (rows
     * mostly come in date order). */
    for (size_t i = s->n_floor_months; i-- > 0;) {
        crest_floor_month *m = &s->floor_months[i];
        if (m->month == month && m->tier == tier) {
            m->rows += rows;
            m->inspected += inspected;
            return;
        }
    }
    if (s->n_floor_months == CREST_FLOOR_MONTHS) {
        s->floor_rows_unmonthed += rows;
        return;
    }
    s->floor_months[s->n_floor_months++] = (crest_floor_month){(uint32_t)tier, month, rows, inspected};
}

#define SOURCE_TEXT(t)                                                                                       \
    {                                                                                                        \
        t, sizeof t - 1                                                                                      \
    }
const crest_str crest_tier_source_texts[4] = {
    [TIER_SOURCE_FEED] = SOURCE_TEXT("feed"),
    [TIER_SOURCE_DEFAULT] = SOURCE_TEXT("default"),
    [TIER_SOURCE_REGISTRY_DECLARANT] = SOURCE_TEXT("registry:declarant_id"),
    [TIER_SOURCE_REGISTRY_ENTERPRISE] = SOURCE_TEXT("registry:enterprise_id"),
};
#undef SOURCE_TEXT
