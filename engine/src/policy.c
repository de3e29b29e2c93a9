/*
 * policy.c — parse and validate a policy file (INI style) into an immutable
 * crest_policy, and render its canonical description (hashed).
 *
 * Syntax: `[section]` or `[tier NAME]` headers, `key = value` lines, `#` or
 * `;` starting a comment line. Lists are comma-separated. Unknown sections and
 * keys are errors (a typo must not silently change a rate). Every error names
 * the file, line and column.
 */
#include "policy_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_keyhash.h"
#include "textbuf.h"

/* ---------------------------------------------------------------- helpers */

static char *dup_range(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s))
        (*s)++, (*n)--;
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

/* Normalised comparison of labels: ASCII case-insensitive, '-' and ' ' equal '_'. */
static int label_char(unsigned char c)
{
    if (c == '-' || c == ' ')
        return '_';
    return tolower(c);
}

static int label_equal(const char *a, size_t an, const char *b, size_t bn)
{
    trim(&a, &an);
    trim(&b, &bn);
    if (an != bn)
        return 0;
    for (size_t i = 0; i < an; i++)
        if (label_char((unsigned char)a[i]) != label_char((unsigned char)b[i]))
            return 0;
    return 1;
}

typedef struct parse_ctx {
    const char *name;
    unsigned long line;
    const char *line_start;
    crest_diag *diag;
} parse_ctx;

static crest_status fail(parse_ctx *cx, const char *at, crest_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static crest_status fail(parse_ctx *cx, const char *at, crest_status st, const char *fmt, ...)
{
    char msg[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    unsigned long col = at ? (unsigned long)(at - cx->line_start) + 1 : 0;
    return crest_diag_set(cx->diag, st, cx->name, cx->line, col, "%s", msg);
}

static crest_status parse_number(parse_ctx *cx, const char *v, size_t n, double lo, double hi,
                                 const char *key, double *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return fail(cx, v, CREST_ERR_INVALID, "'%s' needs a number between %g and %g", key, lo, hi);
    memcpy(buf, v, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    double d = strtod(buf, &end);
    if (*end != '\0' || errno || !isfinite(d))
        return fail(cx, v, CREST_ERR_INVALID, "'%s' needs a number, found '%s'", key, buf);
    if (d < lo || d > hi)
        return fail(cx, v, CREST_ERR_RANGE, "'%s' = %s is outside [%g, %g]", key, buf, lo, hi);
    *out = d;
    return CREST_OK;
}

static crest_status parse_bool(parse_ctx *cx, const char *v, size_t n, const char *key, int *out)
{
    if (label_equal(v, n, "yes", 3) || label_equal(v, n, "true", 4) || label_equal(v, n, "1", 1) ||
        label_equal(v, n, "on", 2)) {
        *out = 1;
        return CREST_OK;
    }
    if (label_equal(v, n, "no", 2) || label_equal(v, n, "false", 5) || label_equal(v, n, "0", 1) ||
        label_equal(v, n, "off", 3)) {
        *out = 0;
        return CREST_OK;
    }
    return fail(cx, v, CREST_ERR_INVALID, "'%s' needs yes or no, found '%.*s'", key, (int)n, v);
}

/* Call fn for each trimmed, non-empty comma-separated item of a list value. */
typedef crest_status (*item_fn)(parse_ctx *cx, void *arg, const char *item, size_t n);

static crest_status for_each_item(parse_ctx *cx, const char *v, size_t n, item_fn fn, void *arg)
{
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        const char *it = v + i;
        size_t len = j - i;
        trim(&it, &len);
        if (len) {
            crest_status st = fn(cx, arg, it, len);
            if (st != CREST_OK)
                return st;
        }
        i = j + 1;
    }
    return CREST_OK;
}

/* ------------------------------------------------------------ list items */

static crest_status add_alias(parse_ctx *cx, void *arg, const char *it, size_t n)
{
    policy_tier *t = arg;
    if (it[0] == '#' || it[0] == ';')
        return fail(cx, it, CREST_ERR_INVALID, "an alias cannot start with '%c' (it would read as a comment)",
                    it[0]);
    if (t->n_aliases == CREST_MAX_ALIASES)
        return fail(cx, it, CREST_ERR_RANGE, "tier %s has more than %d aliases", t->name, CREST_MAX_ALIASES);
    if (!(t->aliases[t->n_aliases] = dup_range(it, n)))
        return CREST_ERR_NOMEM;
    t->n_aliases++;
    return CREST_OK;
}

typedef struct column_arg {
    crest_policy *p;
    int field;
} column_arg;

static crest_status add_column(parse_ctx *cx, void *arg, const char *it, size_t n)
{
    column_arg *ca = arg;
    if (it[0] == '#' || it[0] == ';')
        return fail(cx, it, CREST_ERR_INVALID,
                    "a header name cannot start with '%c' here (it would read as a comment)", it[0]);
    size_t *k = &ca->p->n_columns[ca->field];
    if (*k == CREST_MAX_COLUMN_NAMES)
        return fail(cx, it, CREST_ERR_RANGE, "more than %d header names for one field",
                    CREST_MAX_COLUMN_NAMES);
    if (!(ca->p->columns[ca->field][*k] = dup_range(it, n)))
        return CREST_ERR_NOMEM;
    (*k)++;
    return CREST_OK;
}

static crest_status add_party(parse_ctx *cx, void *arg, const char *it, size_t n)
{
    crest_policy *p = arg;
    int f = crest_field_from_name(it, n);
    if (f != CREST_FIELD_ENTERPRISE_ID && f != CREST_FIELD_DECLARANT_ID)
        return fail(cx, it, CREST_ERR_INVALID, "a party must be enterprise_id or declarant_id, found '%.*s'",
                    (int)n, it);
    for (size_t i = 0; i < p->n_parties; i++)
        if (p->parties[i] == (crest_field)f)
            return fail(cx, it, CREST_ERR_INVALID, "party '%.*s' is listed twice", (int)n, it);
    p->parties[p->n_parties++] = (crest_field)f;
    return CREST_OK;
}

static crest_status add_mra(parse_ctx *cx, void *arg, const char *it, size_t n)
{
    crest_policy *p = arg;
    if (n != 2 || !isupper((unsigned char)it[0]) || !isupper((unsigned char)it[1]))
        return fail(cx, it, CREST_ERR_INVALID,
                    "MRA partners are ISO 3166 alpha-2 codes in capitals, found '%.*s'", (int)n, it);
    if (p->n_mra == CREST_MAX_MRA)
        return fail(cx, it, CREST_ERR_RANGE, "more than %d MRA partners", CREST_MAX_MRA);
    memcpy(p->mra_partners[p->n_mra], it, 2);
    p->mra_partners[p->n_mra][2] = '\0';
    p->n_mra++;
    return CREST_OK;
}

typedef struct order_arg {
    crest_policy *p;
    char *names[CREST_MAX_TIERS];
    const char *where[CREST_MAX_TIERS];
    size_t n;
} order_arg;

static crest_status add_order(parse_ctx *cx, void *arg, const char *it, size_t n)
{
    order_arg *oa = arg;
    if (oa->n == CREST_MAX_TIERS)
        return fail(cx, it, CREST_ERR_RANGE, "more than %d tiers", CREST_MAX_TIERS);
    if (!(oa->names[oa->n] = dup_range(it, n)))
        return CREST_ERR_NOMEM;
    oa->n++;
    return CREST_OK;
}

/* ------------------------------------------------------------- the parse */

typedef enum section_kind {
    SEC_NONE,
    SEC_POLICY,
    SEC_TIERS,
    SEC_TIER,
    SEC_COLUMNS,
    SEC_REGISTRY,
    SEC_MRA,
    SEC_LANES,
    SEC_INPUT,
    SEC_OUTPUT,
    SEC_RULES,
    SEC_MODEL,
    SEC_RISK,
    SEC_CONTROL,
    SEC_CAPACITY,
    SEC_CALIBRATION
} section_kind;

static int find_tier(const crest_policy *p, const char *name, size_t n)
{
    for (size_t i = 0; i < p->n_tiers; i++)
        if (strlen(p->tiers[i].name) == n && memcmp(p->tiers[i].name, name, n) == 0)
            return (int)i;
    return -1;
}

static int valid_lane(const char *v, size_t n)
{
    static const char *const lanes[] = {"RED", "YELLOW", "ORANGE", "BLUE", "GREEN"};
    for (size_t i = 0; i < sizeof lanes / sizeof *lanes; i++)
        if (strlen(lanes[i]) == n && memcmp(lanes[i], v, n) == 0)
            return 1;
    return 0;
}

#define KEY(s) (klen == sizeof(s) - 1 && memcmp(key, s, klen) == 0)

static crest_status parse_text(crest_policy *p, const char *text, size_t len, parse_ctx *cx, order_arg *order,
                               char **base_name, char **default_name)
{
    section_kind sec = SEC_NONE;
    policy_tier *tier = NULL;
    const char *s = text, *end = text + len;
    /* A UTF-8 BOM at the start is allowed (files saved by Windows editors). */
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    cx->line = 0;
    /* Track keys seen per section to reject duplicates. */
    char seen[64][40];
    size_t n_seen = 0;

    while (s < end) {
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        if (!eol)
            eol = end;
        cx->line++;
        cx->line_start = s;
        const char *l = s;
        size_t n = (size_t)(eol - s);
        s = eol < end ? eol + 1 : end;
        trim(&l, &n);
        if (n == 0 || l[0] == '#' || l[0] == ';')
            continue;
        if (memchr(l, '\0', n))
            return fail(cx, l, CREST_ERR_SYNTAX, "NUL byte in policy text");
        if (l[0] == '[') {
            if (l[n - 1] != ']')
                return fail(cx, l + n - 1, CREST_ERR_SYNTAX, "section header needs a closing ']'");
            const char *h = l + 1;
            size_t hn = n - 2;
            trim(&h, &hn);
            n_seen = 0;
            tier = NULL;
            if (hn >= 5 && memcmp(h, "tier", 4) == 0 && isspace((unsigned char)h[4])) {
                const char *tn = h + 5;
                size_t tl = hn - 5;
                trim(&tn, &tl);
                if (tl == 0 || tl > 40)
                    return fail(cx, tn, CREST_ERR_SYNTAX, "[tier NAME] needs a name (1-40 bytes)");
                for (size_t i = 0; i < tl; i++)
                    if (!(isalnum((unsigned char)tn[i]) || tn[i] == '_'))
                        return fail(cx, tn + i, CREST_ERR_SYNTAX,
                                    "a tier name is letters, digits and '_'; use aliases for "
                                    "other spellings");
                if (find_tier(p, tn, tl) >= 0)
                    return fail(cx, tn, CREST_ERR_INVALID, "tier %.*s is defined twice", (int)tl, tn);
                if (p->n_tiers == CREST_MAX_TIERS)
                    return fail(cx, tn, CREST_ERR_RANGE, "more than %d tiers", CREST_MAX_TIERS);
                tier = &p->tiers[p->n_tiers++];
                tier->rate = tier->ratio = tier->random_share = NAN;
                tier->scale = 1.0;
                if (!(tier->name = dup_range(tn, tl)))
                    return CREST_ERR_NOMEM;
                sec = SEC_TIER;
                continue;
            }
#define SEC(nm, k)                                                                                           \
    if (hn == sizeof(nm) - 1 && memcmp(h, nm, hn) == 0) {                                                    \
        sec = k;                                                                                             \
        continue;                                                                                            \
    }
            SEC("policy", SEC_POLICY)
            SEC("tiers", SEC_TIERS)
            SEC("columns", SEC_COLUMNS)
            SEC("registry", SEC_REGISTRY)
            SEC("mra", SEC_MRA)
            SEC("lanes", SEC_LANES)
            SEC("input", SEC_INPUT)
            SEC("output", SEC_OUTPUT)
            SEC("rules", SEC_RULES)
            SEC("model", SEC_MODEL)
            SEC("risk", SEC_RISK)
            SEC("control", SEC_CONTROL)
            SEC("capacity", SEC_CAPACITY)
            SEC("calibration", SEC_CALIBRATION)
#undef SEC
            return fail(
                cx, h, CREST_ERR_SYNTAX,
                "unknown section [%.*s]; expected policy, tiers, tier NAME, columns, "
                "registry, mra, lanes, input, output, rules, model, risk, control, capacity or calibration",
                (int)hn, h);
        }
        const char *eq = memchr(l, '=', n);
        if (!eq)
            return fail(cx, l, CREST_ERR_SYNTAX, "expected 'key = value' or a [section]");
        const char *key = l;
        size_t klen = (size_t)(eq - l);
        trim(&key, &klen);
        const char *v = eq + 1;
        size_t vn = (size_t)(l + n - v);
        trim(&v, &vn);
        /* An inline comment after a value: " # ..." */
        for (size_t i = 0; i + 1 < vn; i++) {
            if ((v[i + 1] == '#' || v[i + 1] == ';') && isspace((unsigned char)v[i])) {
                vn = i;
                trim(&v, &vn);
                break;
            }
        }
        if (klen == 0)
            return fail(cx, l, CREST_ERR_SYNTAX, "missing key before '='");
        if (sec == SEC_NONE)
            return fail(cx, key, CREST_ERR_SYNTAX, "key outside any section; start with [policy]");
        for (size_t i = 0; i < n_seen; i++)
            if (strlen(seen[i]) == klen && memcmp(seen[i], key, klen) == 0)
                return fail(cx, key, CREST_ERR_INVALID, "key '%.*s' is set twice in this section", (int)klen,
                            key);
        if (n_seen < 64 && klen < 40) {
            memcpy(seen[n_seen], key, klen);
            seen[n_seen++][klen] = '\0';
        }
        crest_status st = CREST_OK;
        char keyz[48];
        snprintf(keyz, sizeof keyz, "%.*s", (int)(klen < 40 ? klen : 40), key);

        switch (sec) {
        case SEC_POLICY:
            if (KEY("name")) {
                free(p->name);
                if (!(p->name = dup_range(v, vn)))
                    return CREST_ERR_NOMEM;
            } else if (KEY("description")) {
                free(p->description);
                if (!(p->description = dup_range(v, vn)))
                    return CREST_ERR_NOMEM;
            } else if (KEY("seed")) {
                char buf[32];
                if (vn == 0 || vn >= sizeof buf)
                    return fail(cx, v, CREST_ERR_INVALID, "seed needs an integer 0..2^64-1");
                memcpy(buf, v, vn);
                buf[vn] = '\0';
                char *e;
                errno = 0;
                unsigned long long x = strtoull(buf, &e, 0);
                if (*e || errno || buf[0] == '-')
                    return fail(cx, v, CREST_ERR_INVALID, "seed needs an integer 0..2^64-1, found '%s'", buf);
                p->seed = x;
            } else {
                return fail(cx, key, CREST_ERR_SYNTAX,
                            "unknown key '%s' in [policy]; expected name, description or seed", keyz);
            }
            break;
        case SEC_TIERS:
            if (KEY("order")) {
                st = for_each_item(cx, v, vn, add_order, order);
                for (size_t i = 0; i < order->n; i++)
                    order->where[i] = NULL;
            } else if (KEY("base")) {
                free(*base_name); /* a repeated [tiers] section: the last one wins */
                if (!(*base_name = dup_range(v, vn)))
                    return CREST_ERR_NOMEM;
            } else if (KEY("default")) {
                free(*default_name);
                if (!(*default_name = dup_range(v, vn)))
                    return CREST_ERR_NOMEM;
            } else {
                return fail(cx, key, CREST_ERR_SYNTAX,
                            "unknown key '%s' in [tiers]; expected order, base or default", keyz);
            }
            break;
        case SEC_TIER:
            if (KEY("label")) {
                if (!(tier->label = dup_range(v, vn)))
                    return CREST_ERR_NOMEM;
            } else if (KEY("aliases")) {
                st = for_each_item(cx, v, vn, add_alias, tier);
            } else if (KEY("rate")) {
                if (!isnan(tier->ratio))
                    return fail(cx, key, CREST_ERR_INVALID, "tier %s has both rate and ratio; give one",
                                tier->name);
                st = parse_number(cx, v, vn, 0.0, 1.0, "rate", &tier->rate);
            } else if (KEY("ratio")) {
                if (!isnan(tier->rate))
                    return fail(cx, key, CREST_ERR_INVALID, "tier %s has both rate and ratio; give one",
                                tier->name);
                st = parse_number(cx, v, vn, 0.0, 1000.0, "ratio", &tier->ratio);
            } else if (KEY("floor")) {
                st = parse_bool(cx, v, vn, "floor", &tier->floor);
            } else if (KEY("priority")) {
                st = parse_bool(cx, v, vn, "priority", &tier->priority);
            } else if (KEY("guarantee_exempt")) {
                st = parse_bool(cx, v, vn, "guarantee_exempt", &tier->guarantee_exempt);
            } else if (KEY("random_share")) {
                st = parse_number(cx, v, vn, 0.0, 1.0, "random_share", &tier->random_share);
            } else if (KEY("scale")) {
                st = parse_number(cx, v, vn, 0.0, 1e6, "scale", &tier->scale);
            } else {
                return fail(cx, key, CREST_ERR_SYNTAX,
                            "unknown key '%s' in [tier %s]; expected label, aliases, rate, ratio, "
                            "floor, priority, guarantee_exempt, random_share or scale",
                            keyz, tier->name);
            }
            break;
        case SEC_COLUMNS: {
            int f = crest_field_from_name(key, klen);
            if (f < 0)
                return fail(cx, key, CREST_ERR_INVALID,
                            "'%s' is not a canonical field (decl_id, decl_date, office, direction, "
                            "enterprise_id, declarant_id, credit_tier, foreign_aeo, hs_code, origin, "
                            "departure, transport_mode, declared_value, currency, net_mass_kg, "
                            "quantity, goods_desc, illicit, revenue)",
                            keyz);
            column_arg ca = {p, f};
            st = for_each_item(cx, v, vn, add_column, &ca);
            break;
        }
        case SEC_REGISTRY:
            if (KEY("parties")) {
                p->n_parties = 0;
                st = for_each_item(cx, v, vn, add_party, p);
                if (st == CREST_OK && p->n_parties == 0)
                    return fail(cx, v, CREST_ERR_MISSING,
                                "parties needs at least one of "
                                "enterprise_id, declarant_id");
            } else if (KEY("prefer")) {
                if (label_equal(v, vn, "registry", 8))
                    p->tier_pref = CREST_TIER_PREFER_REGISTRY;
                else if (label_equal(v, vn, "feed", 4))
                    p->tier_pref = CREST_TIER_PREFER_FEED;
                else
                    return fail(cx, v, CREST_ERR_INVALID, "prefer is registry or feed");
            } else {
                return fail(cx, key, CREST_ERR_SYNTAX,
                            "unknown key '%s' in [registry]; expected parties or prefer", keyz);
            }
            break;
        case SEC_MRA:
            if (KEY("partners"))
                st = for_each_item(cx, v, vn, add_mra, p);
            else
                return fail(cx, key, CREST_ERR_SYNTAX, "unknown key '%s' in [mra]; expected partners", keyz);
            break;
        case SEC_LANES:
            if (KEY("inspect") || KEY("release")) {
                if (!valid_lane(v, vn))
                    return fail(cx, v, CREST_ERR_INVALID,
                                "a lane is RED, YELLOW, ORANGE, BLUE or GREEN, found '%.*s'", (int)vn, v);
                char *dst = KEY("inspect") ? p->lane_inspect : p->lane_release;
                memcpy(dst, v, vn);
                dst[vn] = '\0';
            } else {
                return fail(cx, key, CREST_ERR_SYNTAX,
                            "unknown key '%s' in [lanes]; expected inspect or release", keyz);
            }
            break;
        case SEC_INPUT:
            if (KEY("max_field_bytes") || KEY("max_record_bytes")) {
                double d;
                st = parse_number(cx, v, vn, 16, 256.0 * 1024 * 1024, keyz, &d);
                if (st == CREST_OK && d != floor(d))
                    return fail(cx, v, CREST_ERR_INVALID, "%s needs a whole number", keyz);
                if (st == CREST_OK) {
                    if (KEY("max_field_bytes"))
                        p->max_field_bytes = (size_t)d;
                    else
                        p->max_record_bytes = (size_t)d;
                }
            } else if (KEY("duplicate_ids")) {
                if (label_equal(v, vn, "allow", 5))
                    p->reject_duplicate_ids = 0;
                else if (label_equal(v, vn, "reject", 6))
                    p->reject_duplicate_ids = 1;
                else
                    return fail(cx, v, CREST_ERR_INVALID, "duplicate_ids is allow or reject");
            } else if (KEY("delimiter")) {
                if (vn == 3 && v[0] == '"' && v[2] == '"')
                    v++, vn = 1;
                if (vn == 3 && memcmp(v, "tab", 3) == 0)
                    p->delimiter = '\t';
                else if (vn == 1 && (v[0] == ',' || v[0] == ';' || v[0] == '|' || v[0] == '\t'))
                    p->delimiter = v[0];
                else
                    return fail(cx, v, CREST_ERR_INVALID, "delimiter is one of , ; | tab");
            } else {
                return fail(cx, key, CREST_ERR_SYNTAX,
                            "unknown key '%s' in [input]; expected max_field_bytes, "
                            "max_record_bytes, delimiter or duplicate_ids",
                            keyz);
            }
            break;
        case SEC_OUTPUT:
            if (KEY("formula_guard")) {
                st = parse_bool(cx, v, vn, "formula_guard", &p->formula_guard);
            } else if (KEY("passthrough")) {
                if (label_equal(v, vn, "all", 3))
                    p->passthrough = CREST_PASSTHROUGH_ALL;
                else if (label_equal(v, vn, "unmapped", 8))
                    p->passthrough = CREST_PASSTHROUGH_UNMAPPED;
                else if (label_equal(v, vn, "none", 4))
                    p->passthrough = CREST_PASSTHROUGH_NONE;
                else
                    return fail(cx, v, CREST_ERR_INVALID, "passthrough is all, unmapped or none");
            } else {
                return fail(cx, key, CREST_ERR_SYNTAX,
                            "unknown key '%s' in [output]; expected passthrough or formula_guard", keyz);
            }
            break;
        case SEC_RULES:
            if (KEY("criteria") || KEY("tables")) {
                char **dst = KEY("criteria") ? &p->criteria_path : &p->tables_dir;
                free(*dst);
                if (!(*dst = dup_range(v, vn)))
                    return CREST_ERR_NOMEM;
            } else if (KEY("on_limit")) {
                if (label_equal(v, vn, "no_match", 8))
                    p->on_limit = LIMIT_NO_MATCH;
                else if (label_equal(v, vn, "inspect", 7))
                    p->on_limit = LIMIT_INSPECT;
                else if (label_equal(v, vn, "reject", 6))
                    p->on_limit = LIMIT_REJECT;
                else
                    return fail(cx, v, CREST_ERR_INVALID, "on_limit is no_match, inspect or reject");
            } else if (KEY("match_limit") || KEY("depth_limit") || KEY("max_hits")) {
                double d;
                st = parse_number(cx, v, vn, 0, 4e9, keyz, &d);
                if (st == CREST_OK && d != floor(d))
                    return fail(cx, v, CREST_ERR_INVALID, "%s needs a whole number", keyz);
                if (st == CREST_OK)
                    *(KEY("match_limit")   ? &p->match_limit
                      : KEY("depth_limit") ? &p->depth_limit
                                           : &p->max_hits) = (unsigned)d;
            } else {
                return fail(cx, key, CREST_ERR_SYNTAX,
                            "unknown key '%s' in [rules]; expected criteria, tables, match_limit, "
                            "depth_limit, max_hits or on_limit",
                            keyz);
            }
            break;
        case SEC_MODEL:
            if (KEY("kind")) {
                if (label_equal(v, vn, "none", 4))
                    p->model_kind = CREST_RISK_MODEL_NONE;
                else if (label_equal(v, vn, "logistic", 8))
                    p->model_kind = CREST_RISK_MODEL_LOGISTIC;
                else if (label_equal(v, vn, "xgboost", 7))
                    p->model_kind = CREST_RISK_MODEL_XGBOOST;
                else
                    return fail(cx, v, CREST_ERR_INVALID, "model kind is none, logistic or xgboost");
            } else if (KEY("file") || KEY("features")) {
                char **dst = KEY("file") ? &p->model_path : &p->model_features;
                free(*dst);
                if (!(*dst = dup_range(v, vn)))
                    return CREST_ERR_NOMEM;
            } else if (KEY("weight")) {
                st = parse_number(cx, v, vn, -100, 100, "weight", &p->model_weight);
            } else if (KEY("l2")) {
                st = parse_number(cx, v, vn, 0, 1e9, "l2", &p->fit_l2);
            } else if (KEY("smoothing")) {
                st = parse_number(cx, v, vn, 0, 1e9, "smoothing", &p->fit_smoothing);
            } else if (KEY("folds")) {
                double d;
                st = parse_number(cx, v, vn, 2, 64, "folds", &d);
                if (st == CREST_OK && d != floor(d))
                    return fail(cx, v, CREST_ERR_INVALID, "folds needs a whole number");
                if (st == CREST_OK)
                    p->fit_folds = (unsigned)d;
            } else {
                return fail(cx, key, CREST_ERR_SYNTAX,
                            "unknown key '%s' in [model]; expected kind, file, features, weight, l2, "
                            "smoothing or folds",
                            keyz);
            }
            break;
        case SEC_RISK:
            if (KEY("bias")) {
                st = parse_number(cx, v, vn, -100, 100, "bias", &p->bias);
            } else if (KEY("gain")) {
                st = parse_number(cx, v, vn, 0, 1000, "gain", &p->gain);
            } else if (KEY("random_share")) {
                st = parse_number(cx, v, vn, 0.0, 1.0, "random_share", &p->random_share);
                p->random_share_set = 1;
            } else if (KEY("weighting")) {
                if (label_equal(v, vn, "linear", 6))
                    p->weighting = WEIGHTING_LINEAR;
                else if (label_equal(v, vn, "exp", 3))
                    p->weighting = WEIGHTING_EXP;
                else if (label_equal(v, vn, "odds", 4))
                    p->weighting = WEIGHTING_ODDS;
                else
                    return fail(cx, v, CREST_ERR_INVALID,
                                "weighting is linear (w = 1 + gain·score), exp (w = exp(gain·score)) or odds "
                                "(w = (score / (1 − score))^gain)");
            } else {
                return fail(cx, key, CREST_ERR_SYNTAX,
                            "unknown key '%s' in [risk]; expected bias, weighting, gain or random_share",
                            keyz);
            }
            break;
        case SEC_CONTROL:
            if (KEY("mode")) {
                if (label_equal(v, vn, "frozen", 6))
                    p->control_mode = CONTROL_FROZEN;
                else if (label_equal(v, vn, "adaptive", 8))
                    p->control_mode = CONTROL_ADAPTIVE;
                else if (label_equal(v, vn, "systematic", 10) || label_equal(v, vn, "low_variance", 12))
                    p->control_mode = CONTROL_SYSTEMATIC;
                else
                    return fail(cx, v, CREST_ERR_INVALID, "mode is frozen, adaptive or systematic");
            } else if (KEY("window")) {
                if (label_equal(v, vn, "day", 3)) {
                    p->window_rows = 0;
                } else {
                    double d;
                    st = parse_number(cx, v, vn, 1, 1e12, "window", &d);
                    if (st != CREST_OK || d != floor(d))
                        return fail(cx, v, CREST_ERR_INVALID,
                                    "window is 'day' or a whole number of declarations");
                    p->window_rows = (unsigned long)d;
                }
            } else if (KEY("max_step")) {
                st = parse_number(cx, v, vn, 0.01, 10, "max_step", &p->max_step);
            } else {
                return fail(cx, key, CREST_ERR_SYNTAX,
                            "unknown key '%s' in [control]; expected mode, window or max_step", keyz);
            }
            break;
        case SEC_CAPACITY:
            if (KEY("red_per_office_day")) {
                double d;
                st = parse_number(cx, v, vn, 0, 1e12, "red_per_office_day", &d);
                if (st == CREST_OK && d != floor(d))
                    return fail(cx, v, CREST_ERR_INVALID, "red_per_office_day needs a whole number");
                if (st == CREST_OK)
                    p->red_per_office_day = (unsigned long)d;
            } else {
                return fail(cx, key, CREST_ERR_SYNTAX,
                            "unknown key '%s' in [capacity]; expected red_per_office_day", keyz);
            }
            break;
        case SEC_CALIBRATION: {
            char **dst = KEY("history")        ? &p->calib_history
                         : KEY("history_hash") ? &p->calib_history_hash
                         : KEY("rows")         ? &p->calib_rows
                         : KEY("expected")     ? &p->calib_expected
                                               : NULL;
            if (!dst)
                return fail(
                    cx, key, CREST_ERR_SYNTAX,
                    "unknown key '%s' in [calibration]; expected history, history_hash, rows or expected "
                    "(this section is written by crest calibrate)",
                    keyz);
            free(*dst);
            if (!(*dst = dup_range(v, vn)))
                return CREST_ERR_NOMEM;
            break;
        }
        case SEC_NONE:
            break;
        }
        if (st != CREST_OK)
            return st;
    }
    return CREST_OK;
}

/* A path from the policy, made relative to the policy file's directory. */
static char *resolve_path(const char *dir, const char *path)
{
    if (path[0] == '/' || !dir || !*dir || strcmp(dir, ".") == 0)
        return dup_range(path, strlen(path));
    size_t n = strlen(dir) + strlen(path) + 2;
    char *r = malloc(n);
    if (r)
        snprintf(r, n, "%s/%s", dir, path);
    return r;
}

/* SipHash of a file's bytes: the fingerprint of a criteria or model file. */
static int hash_file(const char *path, uint64_t *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    textbuf tb;
    textbuf_init(&tb);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        textbuf_append(&tb, buf, n);
    int err = ferror(f) || tb.oom;
    fclose(f);
    if (!err)
        *out = crest_keyhash_siphash24(0, UINT64_C(0x63726573742d6668) /* "crest-fh" */,
                                       tb.data ? tb.data : "", tb.len);
    textbuf_free(&tb);
    return err ? -1 : 0;
}

static crest_status validate_risk(crest_policy *p, parse_ctx *cx)
{
    if (p->criteria_path) {
        char *r = resolve_path(p->dir, p->criteria_path);
        if (!r)
            return CREST_ERR_NOMEM;
        p->criteria_file = r;
        if (hash_file(r, &p->criteria_hash) != 0)
            return fail(cx, NULL, CREST_ERR_IO, "[rules] criteria: cannot read %s: %s", r, strerror(errno));
    }
    if (p->tables_dir) {
        if (!(p->tables_file = resolve_path(p->dir, p->tables_dir)))
            return CREST_ERR_NOMEM;
    }
    if (p->model_kind != CREST_RISK_MODEL_NONE) {
        if (!p->model_path)
            return fail(cx, NULL, CREST_ERR_MISSING, "[model] kind = %s needs 'file = PATH'",
                        p->model_kind == CREST_RISK_MODEL_LOGISTIC ? "logistic" : "xgboost");
        char *r = resolve_path(p->dir, p->model_path);
        if (!r)
            return CREST_ERR_NOMEM;
        p->model_file = r;
        if (!p->for_fit && hash_file(r, &p->model_hash) != 0)
            return fail(cx, NULL, CREST_ERR_IO, "[model] file: cannot read %s: %s", r, strerror(errno));
    }
    if (p->model_kind == CREST_RISK_MODEL_LOGISTIC && p->model_features) {
        char canon[4096];
        crest_diag d;
        crest_status st = crest_lmodel_spec_canonical(p->model_features, canon, sizeof canon, &d);
        if (st != CREST_OK)
            return fail(cx, NULL, st, "[model] features, column %lu: %s", d.column, d.message);
        free(p->model_features);
        if (!(p->model_features = dup_range(canon, strlen(canon))))
            return CREST_ERR_NOMEM;
    }
    if (!p->random_share_set)
        p->random_share = policy_has_risk(p) ? 0.1 : 1.0;
    return CREST_OK;
}

/* Check cross-references and compute effective rates. */
static crest_status validate(crest_policy *p, parse_ctx *cx, order_arg *order, const char *base_name,
                             const char *default_name)
{
    cx->line = 0;
    cx->line_start = NULL;
    if (p->n_tiers == 0)
        return fail(cx, NULL, CREST_ERR_MISSING, "the policy defines no tiers; add [tier NAME] sections");
    /* Reorder tiers by [tiers] order (best credit first) when given. */
    if (order->n) {
        if (order->n != p->n_tiers)
            return fail(cx, NULL, CREST_ERR_MISMATCH,
                        "[tiers] order lists %zu tiers but %zu [tier] sections exist", order->n, p->n_tiers);
        policy_tier sorted[CREST_MAX_TIERS];
        for (size_t i = 0; i < order->n; i++) {
            int t = find_tier(p, order->names[i], strlen(order->names[i]));
            if (t < 0)
                return fail(cx, NULL, CREST_ERR_MISMATCH,
                            "[tiers] order names '%s', which has no [tier %s] section", order->names[i],
                            order->names[i]);
            for (size_t j = 0; j < i; j++)
                if (strcmp(order->names[j], order->names[i]) == 0)
                    return fail(cx, NULL, CREST_ERR_INVALID, "[tiers] order lists '%s' twice",
                                order->names[i]);
            sorted[i] = p->tiers[t];
        }
        memcpy(p->tiers, sorted, sizeof(policy_tier) * order->n);
    }
    if (!base_name)
        return fail(cx, NULL, CREST_ERR_MISSING,
                    "[tiers] needs 'base = NAME', the tier that ratios refer to (e.g. REGULAR)");
    int b = find_tier(p, base_name, strlen(base_name));
    if (b < 0)
        return fail(cx, NULL, CREST_ERR_MISMATCH, "[tiers] base '%s' is not a defined tier", base_name);
    p->base_tier = (size_t)b;
    int d = default_name ? find_tier(p, default_name, strlen(default_name)) : b;
    if (d < 0)
        return fail(cx, NULL, CREST_ERR_MISMATCH, "[tiers] default '%s' is not a defined tier", default_name);
    p->default_tier = (size_t)d;
    policy_tier *base = &p->tiers[b];
    if (isnan(base->rate))
        return fail(cx, NULL, CREST_ERR_INVALID, "base tier %s needs an absolute 'rate', not a ratio",
                    base->name);
    for (size_t i = 0; i < p->n_tiers; i++) {
        policy_tier *t = &p->tiers[i];
        if (isnan(t->rate) && isnan(t->ratio))
            return fail(cx, NULL, CREST_ERR_MISSING, "tier %s needs 'rate' (absolute) or 'ratio' (to %s)",
                        t->name, base->name);
        t->effective_rate = isnan(t->rate) ? t->ratio * base->rate : t->rate;
        if (t->effective_rate > 1.0)
            return fail(cx, NULL, CREST_ERR_RANGE, "tier %s: ratio %g × base rate %g exceeds 1", t->name,
                        t->ratio, base->rate);
        if (t->floor && isnan(t->rate))
            return fail(cx, NULL, CREST_ERR_INVALID,
                        "tier %s: 'floor = yes' needs an absolute rate, not a ratio", t->name);
    }
    /* Aliases must be unambiguous across tiers. */
    for (size_t i = 0; i < p->n_tiers; i++) {
        for (size_t a = 0; a <= p->tiers[i].n_aliases; a++) {
            const char *x = a ? p->tiers[i].aliases[a - 1] : p->tiers[i].name;
            for (size_t j = i + 1; j < p->n_tiers; j++) {
                for (size_t c = 0; c <= p->tiers[j].n_aliases; c++) {
                    const char *y = c ? p->tiers[j].aliases[c - 1] : p->tiers[j].name;
                    if (label_equal(x, strlen(x), y, strlen(y)))
                        return fail(cx, NULL, CREST_ERR_INVALID, "alias '%s' names both tier %s and tier %s",
                                    x, p->tiers[i].name, p->tiers[j].name);
                }
            }
        }
    }
    if (!p->name && !(p->name = dup_range("unnamed", 7)))
        return CREST_ERR_NOMEM;
    if (p->max_record_bytes < p->max_field_bytes)
        return fail(cx, NULL, CREST_ERR_INVALID, "max_record_bytes (%zu) is below max_field_bytes (%zu)",
                    p->max_record_bytes, p->max_field_bytes);
    return validate_risk(p, cx);
}

/* The shortest of %.15g, %.16g, %.17g that reads back as the same double, so
 * the canonical form is both readable (0.2, not 0.20000000000000001) and exact. */
static void fmt_num(textbuf *tb, double d)
{
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    textbuf_puts(tb, buf);
}

static crest_status render_canonical(crest_policy *p)
{
    textbuf tb;
    textbuf_init(&tb);
    textbuf_printf(&tb, "[policy]\nname = %s\nseed = %llu\n", p->name, (unsigned long long)p->seed);
    textbuf_puts(&tb, "\n[tiers]\norder = ");
    for (size_t i = 0; i < p->n_tiers; i++)
        textbuf_printf(&tb, "%s%s", i ? ", " : "", p->tiers[i].name);
    textbuf_printf(&tb, "\nbase = %s\ndefault = %s\n", p->tiers[p->base_tier].name,
                   p->tiers[p->default_tier].name);
    for (size_t i = 0; i < p->n_tiers; i++) {
        const policy_tier *t = &p->tiers[i];
        textbuf_printf(&tb, "\n[tier %s]\n", t->name);
        if (t->label)
            textbuf_printf(&tb, "label = %s\n", t->label);
        textbuf_puts(&tb, "aliases = ");
        for (size_t a = 0; a < t->n_aliases; a++)
            textbuf_printf(&tb, "%s%s", a ? ", " : "", t->aliases[a]);
        textbuf_puts(&tb, "\n");
        if (isnan(t->rate)) {
            textbuf_puts(&tb, "ratio = ");
            fmt_num(&tb, t->ratio);
            textbuf_puts(&tb, "\n");
        } else {
            textbuf_puts(&tb, "rate = ");
            fmt_num(&tb, t->rate);
            textbuf_puts(&tb, "\n");
        }
        textbuf_puts(&tb, "# effective rate = ");
        fmt_num(&tb, t->effective_rate);
        textbuf_printf(&tb, "\nfloor = %s\npriority = %s\nguarantee_exempt = %s\n", t->floor ? "yes" : "no",
                       t->priority ? "yes" : "no", t->guarantee_exempt ? "yes" : "no");
        if (!isnan(t->random_share)) {
            textbuf_puts(&tb, "random_share = ");
            fmt_num(&tb, t->random_share);
            textbuf_puts(&tb, "\n");
        }
        if (t->scale != 1.0) {
            textbuf_puts(&tb, "scale = ");
            fmt_num(&tb, t->scale);
            textbuf_puts(&tb, "\n");
        }
    }
    textbuf_puts(&tb, "\n[columns]\n");
    for (int f = 0; f < CREST_FIELD_COUNT; f++) {
        if (!p->n_columns[f])
            continue;
        textbuf_printf(&tb, "%s = ", crest_field_name((crest_field)f));
        for (size_t k = 0; k < p->n_columns[f]; k++)
            textbuf_printf(&tb, "%s%s", k ? ", " : "", p->columns[f][k]);
        textbuf_puts(&tb, "\n");
    }
    textbuf_puts(&tb, "\n[registry]\nparties = ");
    for (size_t i = 0; i < p->n_parties; i++)
        textbuf_printf(&tb, "%s%s", i ? ", " : "", crest_field_name(p->parties[i]));
    textbuf_printf(&tb, "\nprefer = %s\n", p->tier_pref == CREST_TIER_PREFER_FEED ? "feed" : "registry");
    textbuf_puts(&tb, "\n[mra]\npartners = ");
    for (size_t i = 0; i < p->n_mra; i++)
        textbuf_printf(&tb, "%s%s", i ? ", " : "", p->mra_partners[i]);
    textbuf_printf(&tb, "\n\n[lanes]\ninspect = %s\nrelease = %s\n", p->lane_inspect, p->lane_release);
    textbuf_printf(&tb, "\n[input]\nmax_field_bytes = %zu\nmax_record_bytes = %zu\ndelimiter = %s\n",
                   p->max_field_bytes, p->max_record_bytes,
                   p->delimiter == '\t' ? "tab" : (char[]){p->delimiter, 0});
    if (p->reject_duplicate_ids)
        textbuf_puts(&tb, "duplicate_ids = reject\n");
    static const char *const pt[] = {"all", "unmapped", "none"};
    textbuf_printf(&tb, "\n[output]\npassthrough = %s\nformula_guard = %s\n", pt[p->passthrough],
                   p->formula_guard ? "yes" : "no");
    if (p->criteria_path) {
        textbuf_printf(&tb, "\n[rules]\ncriteria = %s\n", p->criteria_path);
        textbuf_printf(&tb, "# criteria_hash = %016llx\n", (unsigned long long)p->criteria_hash);
        if (p->tables_dir)
            textbuf_printf(&tb, "tables = %s\n", p->tables_dir);
        static const char *const on_limit[] = {"no_match", "inspect", "reject"};
        textbuf_printf(&tb, "match_limit = %u\ndepth_limit = %u\nmax_hits = %u\non_limit = %s\n",
                       p->match_limit, p->depth_limit, p->max_hits, on_limit[p->on_limit]);
    }
    if (p->model_kind != CREST_RISK_MODEL_NONE) {
        textbuf_printf(&tb,
                       "\n[model]\nkind = %s\nfile = %s\n# file_hash = %016llx\nfeatures = %s\nweight = ",
                       p->model_kind == CREST_RISK_MODEL_LOGISTIC ? "logistic" : "xgboost", p->model_path,
                       (unsigned long long)p->model_hash, p->model_features ? p->model_features : "");
        fmt_num(&tb, p->model_weight);
        textbuf_puts(&tb, "\nl2 = ");
        fmt_num(&tb, p->fit_l2);
        textbuf_puts(&tb, "\nsmoothing = ");
        fmt_num(&tb, p->fit_smoothing);
        textbuf_printf(&tb, "\nfolds = %u\n", p->fit_folds);
    }
    textbuf_puts(&tb, "\n[risk]\nbias = ");
    fmt_num(&tb, p->bias);
    textbuf_printf(&tb, "\nweighting = %s\ngain = ",
                   p->weighting == WEIGHTING_EXP    ? "exp"
                   : p->weighting == WEIGHTING_ODDS ? "odds"
                                                    : "linear");
    fmt_num(&tb, p->gain);
    textbuf_puts(&tb, "\nrandom_share = ");
    fmt_num(&tb, p->random_share);
    textbuf_puts(&tb, "\n");
    static const char *const modes[] = {"frozen", "adaptive", "systematic"};
    textbuf_printf(&tb, "\n[control]\nmode = %s\n", modes[p->control_mode]);
    if (p->window_rows)
        textbuf_printf(&tb, "window = %lu\n", p->window_rows);
    else
        textbuf_puts(&tb, "window = day\n");
    textbuf_puts(&tb, "max_step = ");
    fmt_num(&tb, p->max_step);
    textbuf_printf(&tb, "\n\n[capacity]\nred_per_office_day = %lu\n", p->red_per_office_day);
    if (p->calib_history || p->calib_history_hash || p->calib_rows || p->calib_expected)
        textbuf_printf(&tb, "\n[calibration]\nhistory = %s\nhistory_hash = %s\nrows = %s\nexpected = %s\n",
                       p->calib_history ? p->calib_history : "",
                       p->calib_history_hash ? p->calib_history_hash : "", p->calib_rows ? p->calib_rows : "",
                       p->calib_expected ? p->calib_expected : "");
    if (tb.oom) {
        textbuf_free(&tb);
        return CREST_ERR_NOMEM;
    }
    p->canonical = textbuf_take(&tb);
    p->hash = crest_keyhash_siphash24(0, UINT64_C(0x63726573742d7068) /* "crest-ph" */, p->canonical,
                                      strlen(p->canonical));
    snprintf(p->hash_hex, sizeof p->hash_hex, "%016llx", (unsigned long long)p->hash);
    return CREST_OK;
}

static crest_status parse_in_dir(const char *text, size_t len, const char *name, const char *dir,
                                 unsigned flags, crest_policy **out, crest_diag *diag);

crest_status crest_policy_parse(const char *text, size_t len, const char *name, crest_policy **out,
                                crest_diag *diag)
{
    return parse_in_dir(text, len, name, ".", 0, out, diag);
}

static crest_status parse_in_dir(const char *text, size_t len, const char *name, const char *dir,
                                 unsigned flags, crest_policy **out, crest_diag *diag)
{
    *out = NULL;
    crest_diag_clear(diag);
    crest_policy *p = calloc(1, sizeof *p);
    if (!p)
        return crest_diag_set(diag, CREST_ERR_NOMEM, name, 0, 0, "out of memory loading the policy");
    p->parties[0] = CREST_FIELD_ENTERPRISE_ID;
    p->parties[1] = CREST_FIELD_DECLARANT_ID;
    p->n_parties = 2;
    strcpy(p->lane_inspect, "RED");
    strcpy(p->lane_release, "GREEN");
    if (!(p->dir = dup_range(dir, strlen(dir)))) {
        free(p);
        return crest_diag_set(diag, CREST_ERR_NOMEM, name, 0, 0, "out of memory loading the policy");
    }
    p->for_fit = (flags & CREST_POLICY_SKIP_MODEL_FILE) != 0;
    p->max_field_bytes = 64 * 1024;
    p->max_record_bytes = 1024 * 1024;
    p->delimiter = ',';
    p->model_weight = 1.0;
    p->gain = 9.0;
    p->fit_l2 = 1.0;
    p->fit_smoothing = 20.0;
    p->fit_folds = 5;
    p->max_step = 0.5;
    p->formula_guard = 1;
    if (!(p->source_text = dup_range(text, len))) {
        crest_policy_free(p);
        return crest_diag_set(diag, CREST_ERR_NOMEM, name, 0, 0, "out of memory loading the policy");
    }
    p->weighting = WEIGHTING_LINEAR;
    parse_ctx cx = {name ? name : "<policy>", 0, text, diag};
    order_arg order = {0};
    char *base_name = NULL, *default_name = NULL;
    crest_status st = parse_text(p, text, len, &cx, &order, &base_name, &default_name);
    if (st == CREST_OK)
        st = validate(p, &cx, &order, base_name, default_name);
    if (st == CREST_OK)
        st = render_canonical(p);
    for (size_t i = 0; i < order.n; i++)
        free(order.names[i]);
    free(base_name);
    free(default_name);
    if (st != CREST_OK) {
        if (diag && diag->status == CREST_OK)
            crest_diag_set(diag, st, cx.name, cx.line, 0, "%s", crest_status_message(st));
        crest_policy_free(p);
        return st;
    }
    *out = p;
    return CREST_OK;
}

crest_status crest_policy_load(const char *path, crest_policy **out, crest_diag *diag)
{
    return crest_policy_load_ex(path, 0, out, diag);
}

crest_status crest_policy_load_ex(const char *path, unsigned flags, crest_policy **out, crest_diag *diag)
{
    *out = NULL;
    crest_diag_clear(diag);
    FILE *f = fopen(path, "rb");
    if (!f)
        return crest_diag_set(diag, CREST_ERR_IO, path, 0, 0, "cannot open the policy file: %s",
                              strerror(errno));
    textbuf tb;
    textbuf_init(&tb);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        textbuf_append(&tb, buf, n);
        if (tb.len > 4 * 1024 * 1024) {
            fclose(f);
            textbuf_free(&tb);
            return crest_diag_set(diag, CREST_ERR_RANGE, path, 0, 0,
                                  "the policy file is over 4 MiB; is this the right file?");
        }
    }
    int err = ferror(f);
    fclose(f);
    if (err || tb.oom) {
        textbuf_free(&tb);
        return crest_diag_set(diag, err ? CREST_ERR_IO : CREST_ERR_NOMEM, path, 0, 0,
                              "cannot read the policy file");
    }
    /* Paths inside the policy are relative to its directory. */
    const char *slash = strrchr(path, '/');
    char *dir = slash ? dup_range(path, (size_t)(slash - path) + (slash == path)) : dup_range(".", 1);
    if (!dir) {
        textbuf_free(&tb);
        return crest_diag_set(diag, CREST_ERR_NOMEM, path, 0, 0, "out of memory");
    }
    crest_status st = parse_in_dir(tb.data ? tb.data : "", tb.len, path, dir, flags, out, diag);
    free(dir);
    textbuf_free(&tb);
    return st;
}

void crest_policy_free(crest_policy *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->description);
    for (size_t i = 0; i < p->n_tiers; i++) {
        free(p->tiers[i].name);
        free(p->tiers[i].label);
        for (size_t a = 0; a < p->tiers[i].n_aliases; a++)
            free(p->tiers[i].aliases[a]);
    }
    for (int f = 0; f < CREST_FIELD_COUNT; f++)
        for (size_t k = 0; k < p->n_columns[f]; k++)
            free(p->columns[f][k]);
    free(p->canonical);
    free(p->dir);
    free(p->criteria_path);
    free(p->tables_dir);
    free(p->model_path);
    free(p->model_features);
    free(p->criteria_file);
    free(p->tables_file);
    free(p->calib_history);
    free(p->calib_history_hash);
    free(p->calib_rows);
    free(p->calib_expected);
    free(p->source_text);
    free(p->model_file);
    free(p);
}

const char *crest_policy_model_features(const crest_policy *p)
{
    return p->model_features;
}

const char *crest_policy_model_file(const crest_policy *p)
{
    return p->model_file;
}

int crest_policy_model_is_logistic(const crest_policy *p)
{
    return p->model_kind == CREST_RISK_MODEL_LOGISTIC;
}

void crest_policy_fit_settings(const crest_policy *p, double *l2, double *smoothing, unsigned *folds)
{
    *l2 = p->fit_l2;
    *smoothing = p->fit_smoothing;
    *folds = p->fit_folds;
}

int policy_has_risk(const crest_policy *p)
{
    return p->criteria_path != NULL || p->model_kind != CREST_RISK_MODEL_NONE;
}

void policy_risk_config(const crest_policy *p, crest_risk_config *cfg)
{
    crest_risk_config_default(cfg);
    cfg->criteria_path = p->criteria_file;
    cfg->tables_dir = p->tables_file;
    cfg->match_limit = p->match_limit;
    cfg->depth_limit = p->depth_limit;
    cfg->max_hits = p->max_hits;
    cfg->model_kind = p->for_fit ? CREST_RISK_MODEL_NONE : p->model_kind;
    cfg->model_path = p->model_file;
    cfg->model_features = p->model_features;
    cfg->bias = p->bias;
    cfg->model_weight = p->model_weight;
}

const char *crest_policy_name(const crest_policy *p)
{
    return p->name;
}
uint64_t crest_policy_hash(const crest_policy *p)
{
    return p->hash;
}
const char *crest_policy_hash_hex(const crest_policy *p)
{
    return p->hash_hex;
}
uint64_t crest_policy_seed(const crest_policy *p)
{
    return p->seed;
}
unsigned long crest_policy_red_per_office_day(const crest_policy *p)
{
    return p->red_per_office_day;
}
const char *crest_policy_describe(const crest_policy *p)
{
    return p->canonical;
}
size_t crest_policy_tier_count(const crest_policy *p)
{
    return p->n_tiers;
}
size_t crest_policy_base_tier(const crest_policy *p)
{
    return p->base_tier;
}
size_t crest_policy_default_tier(const crest_policy *p)
{
    return p->default_tier;
}

const char *crest_policy_tier_name(const crest_policy *p, size_t t)
{
    return t < p->n_tiers ? p->tiers[t].name : NULL;
}

double crest_policy_tier_rate(const crest_policy *p, size_t t)
{
    return t < p->n_tiers ? p->tiers[t].effective_rate : NAN;
}

double crest_policy_tier_ratio(const crest_policy *p, size_t t)
{
    return t < p->n_tiers ? p->tiers[t].ratio : NAN;
}

int crest_policy_tier_is_floor(const crest_policy *p, size_t t)
{
    return t < p->n_tiers ? p->tiers[t].floor : 0;
}

int crest_policy_tier_lookup(const crest_policy *p, const char *label, size_t len)
{
    for (size_t i = 0; i < p->n_tiers; i++) {
        const policy_tier *t = &p->tiers[i];
        if (label_equal(label, len, t->name, strlen(t->name)))
            return (int)i;
        for (size_t a = 0; a < t->n_aliases; a++)
            if (label_equal(label, len, t->aliases[a], strlen(t->aliases[a])))
                return (int)i;
    }
    return -1;
}

int policy_is_mra_partner(const crest_policy *p, const char *cc)
{
    for (size_t i = 0; i < p->n_mra; i++)
        if (p->mra_partners[i][0] == cc[0] && p->mra_partners[i][1] == cc[1])
            return 1;
    return 0;
}

int crest_policy_decides_rows_alone(const crest_policy *p)
{
    return p->control_mode == CONTROL_FROZEN && !p->reject_duplicate_ids;
}
