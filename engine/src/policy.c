/*
 * policy.c — parse and validate a policy file (INI style) into an immutable
 * crest_policy, and render its canonical description (hashed).
 *
 * Syntax: `[section]` or `[tier NAME]` headers, `key = value` lines, `#` or
 * `;` starting a comment line. Lists are comma-separated. Unknown sections and
 * keys are errors (a typo must not silently change a rate). Every error names
 * the file, line and column.
 */
#define _GNU_SOURCE /* realpath */
#include "policy_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_stats.h"
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

void policy_read_line(const char *line, size_t n, policy_line *out)
{
    memset(out, 0, sizeof *out);
    const char *l = line;
    trim(&l, &n);
    out->text = l;
    out->text_len = n;
    if (n == 0 || l[0] == '#' || l[0] == ';') {
        out->kind = POLICY_LINE_BLANK;
        return;
    }
    if (l[0] == '[') {
        out->kind = POLICY_LINE_HEADER;
        const char *h = l + 1;
        size_t hn = n - 1;
        if (hn && h[hn - 1] == ']')
            hn--;
        trim(&h, &hn);
        if (hn >= 5 && memcmp(h, "tier", 4) == 0 && isspace((unsigned char)h[4])) {
            const char *tn = h + 5;
            size_t tl = hn - 5;
            trim(&tn, &tl);
            out->tier = tn;
            out->tier_len = tl;
            hn = 4;
        }
        out->section = h;
        out->section_len = hn;
        return;
    }
    const char *eq = memchr(l, '=', n);
    if (!eq) {
        out->kind = POLICY_LINE_OTHER;
        return;
    }
    out->kind = POLICY_LINE_KEY;
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
    out->key = key;
    out->key_len = klen;
    out->value = v;
    out->value_len = vn;
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
    SEC_FX,
    SEC_CALIBRATION,
    SEC_COUNT
} section_kind;

/* Section names in canonical order ("tier NAME" is written per tier). */
static const char *const section_names[SEC_COUNT] = {[SEC_POLICY] = "policy",
                                                     [SEC_TIERS] = "tiers",
                                                     [SEC_TIER] = "tier NAME",
                                                     [SEC_COLUMNS] = "columns",
                                                     [SEC_REGISTRY] = "registry",
                                                     [SEC_MRA] = "mra",
                                                     [SEC_LANES] = "lanes",
                                                     [SEC_INPUT] = "input",
                                                     [SEC_OUTPUT] = "output",
                                                     [SEC_RULES] = "rules",
                                                     [SEC_MODEL] = "model",
                                                     [SEC_RISK] = "risk",
                                                     [SEC_CONTROL] = "control",
                                                     [SEC_CAPACITY] = "capacity",
                                                     [SEC_FX] = "fx",
                                                     [SEC_CALIBRATION] = "calibration"};

static int find_tier(const crest_policy *p, const char *name, size_t n)
{
    for (size_t i = 0; i < p->n_tiers; i++)
        if (strlen(p->tiers[i].name) == n && memcmp(p->tiers[i].name, name, n) == 0)
            return (int)i;
    return -1;
}

/* ------------------------------------------------------------- the key table */

/*
 * Every key of every section is one row of keys[] below: its section, name,
 * type, range or allowed values and where the value lives (an offset into
 * crest_policy, or into policy_tier for [tier NAME]). The one loop in
 * parse_text looks keys up here; the "expected …" lists of unknown-key and
 * bad-value errors are written from here; and render_canonical walks the same
 * rows in order to write the canonical form that `crest check` prints and the
 * hash covers. A key the generic types cannot say (a list, the seed, rate
 * versus ratio) names its own parse and render functions.
 */
typedef enum key_type {
    KT_TEXT,   /* char * */
    KT_NUMBER, /* double in [lo, hi] */
    KT_WHOLE,  /* a whole number in [lo, hi] stored in `width` bytes (unsigned, size_t, unsigned long) */
    KT_BOOL,   /* int: yes/no, true/false, on/off, 1/0 */
    KT_CHOICE, /* int: one of choices[] */
    KT_CUSTOM  /* parse and render functions */
} key_type;

/* When render_canonical writes a key. */
typedef enum key_show {
    SHOW_ALWAYS,
    SHOW_NEVER,  /* kept as provenance, not part of what decides (description) */
    SHOW_IF_SET, /* text: when given; number: when not NaN */
    SHOW_NOT_DEF /* when not the default (new keys: old policies keep their canonical form) */
} key_show;

typedef struct key_choice {
    const char *name;
    int value;
} key_choice;

/* What a custom key's functions see: the policy, the current tier and the
 * parse-time names that validate() resolves. */
typedef struct parse_state {
    crest_policy *p;
    policy_tier *tier;
    order_arg *order;
    char **base_name, **default_name;
    const char *key_at; /* the key in the line, for errors about the key itself */
} parse_state;

typedef crest_status (*key_parse_fn)(parse_ctx *cx, parse_state *ps, const char *v, size_t vn);
typedef void (*key_render_fn)(textbuf *tb, const crest_policy *p, const policy_tier *t);

typedef struct key_spec {
    section_kind sec;
    const char *key;
    key_type type;
    key_show show;
    size_t offset; /* into crest_policy, or policy_tier for SEC_TIER */
    unsigned width;
    double lo, hi, def; /* range; def: the default for SHOW_NOT_DEF numbers */
    const key_choice *choices;
    key_parse_fn parse;
    key_render_fn render;
} key_spec;

static void fmt_num(textbuf *tb, double d);

/* Custom keys. */
static crest_status kp_seed(parse_ctx *cx, parse_state *ps, const char *v, size_t vn)
{
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
    ps->p->seed = x;
    return CREST_OK;
}
static void kr_seed(textbuf *tb, const crest_policy *p, const policy_tier *t)
{
    (void)t;
    textbuf_printf(tb, "seed = %llu\n", (unsigned long long)p->seed);
}

static crest_status kp_order(parse_ctx *cx, parse_state *ps, const char *v, size_t vn)
{
    return for_each_item(cx, v, vn, add_order, ps->order);
}
static void kr_order(textbuf *tb, const crest_policy *p, const policy_tier *t)
{
    (void)t;
    textbuf_puts(tb, "order = ");
    for (size_t i = 0; i < p->n_tiers; i++)
        textbuf_printf(tb, "%s%s", i ? ", " : "", p->tiers[i].name);
    textbuf_puts(tb, "\n");
}

static crest_status kp_name_into(char **dst, const char *v, size_t vn)
{
    free(*dst); /* a repeated [tiers] section: the last one wins */
    return (*dst = dup_range(v, vn)) ? CREST_OK : CREST_ERR_NOMEM;
}
static crest_status kp_base(parse_ctx *cx, parse_state *ps, const char *v, size_t vn)
{
    (void)cx;
    return kp_name_into(ps->base_name, v, vn);
}
static crest_status kp_default(parse_ctx *cx, parse_state *ps, const char *v, size_t vn)
{
    (void)cx;
    return kp_name_into(ps->default_name, v, vn);
}
static void kr_base(textbuf *tb, const crest_policy *p, const policy_tier *t)
{
    (void)t;
    textbuf_printf(tb, "base = %s\n", p->tiers[p->base_tier].name);
}
static void kr_default(textbuf *tb, const crest_policy *p, const policy_tier *t)
{
    (void)t;
    textbuf_printf(tb, "default = %s\n", p->tiers[p->default_tier].name);
}

static crest_status kp_aliases(parse_ctx *cx, parse_state *ps, const char *v, size_t vn)
{
    return for_each_item(cx, v, vn, add_alias, ps->tier);
}
static void kr_aliases(textbuf *tb, const crest_policy *p, const policy_tier *t)
{
    (void)p;
    textbuf_puts(tb, "aliases = ");
    for (size_t a = 0; a < t->n_aliases; a++)
        textbuf_printf(tb, "%s%s", a ? ", " : "", t->aliases[a]);
    textbuf_puts(tb, "\n");
}

static crest_status kp_rate(parse_ctx *cx, parse_state *ps, const char *v, size_t vn)
{
    policy_tier *t = ps->tier;
    if (!isnan(t->ratio))
        return fail(cx, ps->key_at, CREST_ERR_INVALID, "tier %s has both rate and ratio; give one", t->name);
    return parse_number(cx, v, vn, 0.0, 1.0, "rate", &t->rate);
}
static crest_status kp_ratio(parse_ctx *cx, parse_state *ps, const char *v, size_t vn)
{
    policy_tier *t = ps->tier;
    if (!isnan(t->rate))
        return fail(cx, ps->key_at, CREST_ERR_INVALID, "tier %s has both rate and ratio; give one", t->name);
    return parse_number(cx, v, vn, 0.0, 1000.0, "ratio", &t->ratio);
}
/* rate or ratio, whichever was given, then the effective rate as a comment. */
static void kr_rate(textbuf *tb, const crest_policy *p, const policy_tier *t)
{
    (void)p;
    textbuf_puts(tb, isnan(t->rate) ? "ratio = " : "rate = ");
    fmt_num(tb, isnan(t->rate) ? t->ratio : t->rate);
    textbuf_puts(tb, "\n# effective rate = ");
    fmt_num(tb, t->effective_rate);
    textbuf_puts(tb, "\n");
    if (t->draw_rate != t->effective_rate) {
        textbuf_printf(tb,
                       "# draw rate = %.6f: a calendar month of %lu rows drawn at it realises under the "
                       "floor with probability <= %.6g\n",
                       t->draw_rate, t->floor_month_rows, 1.0 - t->floor_confidence);
    }
}
static void kr_nothing(textbuf *tb, const crest_policy *p, const policy_tier *t)
{
    (void)tb, (void)p, (void)t;
}

static crest_status kp_parties(parse_ctx *cx, parse_state *ps, const char *v, size_t vn)
{
    ps->p->n_parties = 0;
    crest_status st = for_each_item(cx, v, vn, add_party, ps->p);
    if (st == CREST_OK && ps->p->n_parties == 0)
        return fail(cx, v, CREST_ERR_MISSING, "parties needs at least one of enterprise_id, declarant_id");
    return st;
}
static void kr_parties(textbuf *tb, const crest_policy *p, const policy_tier *t)
{
    (void)t;
    textbuf_puts(tb, "parties = ");
    for (size_t i = 0; i < p->n_parties; i++)
        textbuf_printf(tb, "%s%s", i ? ", " : "", crest_field_name(p->parties[i]));
    textbuf_puts(tb, "\n");
}

static crest_status kp_partners(parse_ctx *cx, parse_state *ps, const char *v, size_t vn)
{
    return for_each_item(cx, v, vn, add_mra, ps->p);
}
static void kr_partners(textbuf *tb, const crest_policy *p, const policy_tier *t)
{
    (void)t;
    textbuf_puts(tb, "partners = ");
    for (size_t i = 0; i < p->n_mra; i++)
        textbuf_printf(tb, "%s%s", i ? ", " : "", p->mra_partners[i]);
    textbuf_puts(tb, "\n");
}

static crest_status kp_lane(parse_ctx *cx, char *dst, const char *v, size_t vn)
{
    static const char *const lanes[] = {"RED", "YELLOW", "ORANGE", "BLUE", "GREEN"};
    for (size_t i = 0; i < sizeof lanes / sizeof *lanes; i++) {
        const char *l = lanes[i];
        if (strlen(l) == vn && memcmp(l, v, vn) == 0) {
            memcpy(dst, v, vn);
            dst[vn] = '\0';
            return CREST_OK;
        }
    }
    return fail(cx, v, CREST_ERR_INVALID, "a lane is RED, YELLOW, ORANGE, BLUE or GREEN, found '%.*s'",
                (int)vn, v);
}
static crest_status kp_inspect(parse_ctx *cx, parse_state *ps, const char *v, size_t vn)
{
    return kp_lane(cx, ps->p->lane_inspect, v, vn);
}
static crest_status kp_release(parse_ctx *cx, parse_state *ps, const char *v, size_t vn)
{
    return kp_lane(cx, ps->p->lane_release, v, vn);
}
static void kr_inspect(textbuf *tb, const crest_policy *p, const policy_tier *t)
{
    (void)t;
    textbuf_printf(tb, "inspect = %s\n", p->lane_inspect);
}
static void kr_release(textbuf *tb, const crest_policy *p, const policy_tier *t)
{
    (void)t;
    textbuf_printf(tb, "release = %s\n", p->lane_release);
}

static crest_status kp_delimiter(parse_ctx *cx, parse_state *ps, const char *v, size_t vn)
{
    if (vn == 3 && v[0] == '"' && v[2] == '"')
        v++, vn = 1;
    if (vn == 3 && memcmp(v, "tab", 3) == 0)
        ps->p->delimiter = '\t';
    else if (vn == 1 && (v[0] == ',' || v[0] == ';' || v[0] == '|' || v[0] == '\t'))
        ps->p->delimiter = v[0];
    else
        return fail(cx, v, CREST_ERR_INVALID, "delimiter is one of , ; | tab");
    return CREST_OK;
}
static void kr_delimiter(textbuf *tb, const crest_policy *p, const policy_tier *t)
{
    (void)t;
    textbuf_printf(tb, "delimiter = %s\n", p->delimiter == '\t' ? "tab" : (char[]){p->delimiter, 0});
}

static crest_status kp_random_share(parse_ctx *cx, parse_state *ps, const char *v, size_t vn)
{
    ps->p->random_share_set = 1;
    return parse_number(cx, v, vn, 0.0, 1.0, "random_share", &ps->p->random_share);
}
static void kr_random_share(textbuf *tb, const crest_policy *p, const policy_tier *t)
{
    (void)t;
    textbuf_puts(tb, "random_share = ");
    fmt_num(tb, p->random_share);
    textbuf_puts(tb, "\n");
}

static crest_status kp_window(parse_ctx *cx, parse_state *ps, const char *v, size_t vn)
{
    if (label_equal(v, vn, "day", 3)) {
        ps->p->window_rows = 0;
        return CREST_OK;
    }
    double d;
    if (parse_number(cx, v, vn, 1, 1e12, "window", &d) != CREST_OK || d != floor(d))
        return fail(cx, v, CREST_ERR_INVALID, "window is 'day' or a whole number of declarations");
    ps->p->window_rows = (unsigned long)d;
    return CREST_OK;
}
static void kr_window(textbuf *tb, const crest_policy *p, const policy_tier *t)
{
    (void)t;
    if (p->window_rows)
        textbuf_printf(tb, "window = %lu\n", p->window_rows);
    else
        textbuf_puts(tb, "window = day\n");
}

static crest_status add_optional(parse_ctx *cx, void *arg, const char *it, size_t n)
{
    crest_policy *p = arg;
    if (p->n_optional == CREST_MAX_OPTIONAL)
        return fail(cx, it, CREST_ERR_RANGE, "more than %d optional columns", CREST_MAX_OPTIONAL);
    if (!(p->optional[p->n_optional] = dup_range(it, n)))
        return CREST_ERR_NOMEM;
    p->n_optional++;
    return CREST_OK;
}
static crest_status kp_optional(parse_ctx *cx, parse_state *ps, const char *v, size_t vn)
{
    return for_each_item(cx, v, vn, add_optional, ps->p);
}
static void kr_optional(textbuf *tb, const crest_policy *p, const policy_tier *t)
{
    (void)t;
    if (!p->n_optional)
        return;
    textbuf_puts(tb, "optional = ");
    for (size_t i = 0; i < p->n_optional; i++)
        textbuf_printf(tb, "%s%s", i ? ", " : "", p->optional[i]);
    textbuf_puts(tb, "\n");
}

static const key_choice yes_no[] = {{NULL, 0}};
static const key_choice ch_floor_period[] = {
    {"none", FLOOR_PERIOD_NONE}, {"day", FLOOR_PERIOD_DAY}, {"month", FLOOR_PERIOD_MONTH}, {NULL, 0}};
static const key_choice ch_unknown_tier[] = {{"default", UNKNOWN_TIER_DEFAULT},
                                             {"reject", UNKNOWN_TIER_REJECT},
                                             {"error", UNKNOWN_TIER_ERROR},
                                             {NULL, 0}};
static const key_choice ch_prefer[] = {
    {"registry", CREST_TIER_PREFER_REGISTRY}, {"feed", CREST_TIER_PREFER_FEED}, {NULL, 0}};
static const key_choice ch_duplicates[] = {{"allow", 0}, {"reject", 1}, {NULL, 0}};
static const key_choice ch_passthrough[] = {{"all", CREST_PASSTHROUGH_ALL},
                                            {"unmapped", CREST_PASSTHROUGH_UNMAPPED},
                                            {"none", CREST_PASSTHROUGH_NONE},
                                            {NULL, 0}};
static const key_choice ch_on_limit[] = {
    {"no_match", LIMIT_NO_MATCH}, {"inspect", LIMIT_INSPECT}, {"reject", LIMIT_REJECT}, {NULL, 0}};
static const key_choice ch_model_kind[] = {{"none", CREST_RISK_MODEL_NONE},
                                           {"logistic", CREST_RISK_MODEL_LOGISTIC},
                                           {"xgboost", CREST_RISK_MODEL_XGBOOST},
                                           {NULL, 0}};
static const key_choice ch_weighting[] = {
    {"linear", WEIGHTING_LINEAR}, {"exp", WEIGHTING_EXP}, {"odds", WEIGHTING_ODDS}, {NULL, 0}};
/* low_variance: an older name of systematic, accepted and written as systematic. */
static const key_choice ch_mode[] = {{"frozen", CONTROL_FROZEN},
                                     {"adaptive", CONTROL_ADAPTIVE},
                                     {"systematic", CONTROL_SYSTEMATIC},
                                     {"low_variance", CONTROL_SYSTEMATIC},
                                     {NULL, 0}};

_Static_assert(sizeof(crest_tier_pref) == sizeof(int) && sizeof(crest_passthrough) == sizeof(int) &&
                   sizeof(crest_risk_model_kind) == sizeof(int) && sizeof(risk_weighting) == sizeof(int),
               "choice keys are stored as int");

#define P_(field) offsetof(crest_policy, field)
#define T_(field) offsetof(policy_tier, field)
#define TEXT(sec, key, off, show)                                                                            \
    {                                                                                                        \
        sec, key, KT_TEXT, show, off, 0, 0, 0, 0, NULL, NULL, NULL                                           \
    }
#define NUM(sec, key, off, lo, hi)                                                                           \
    {                                                                                                        \
        sec, key, KT_NUMBER, SHOW_ALWAYS, off, 0, lo, hi, 0, NULL, NULL, NULL                                \
    }
#define NUM_SHOW(sec, key, off, lo, hi, show, def)                                                           \
    {                                                                                                        \
        sec, key, KT_NUMBER, show, off, 0, lo, hi, def, NULL, NULL, NULL                                     \
    }
#define WHOLE(sec, key, off, w, lo, hi, show, def)                                                           \
    {                                                                                                        \
        sec, key, KT_WHOLE, show, off, w, lo, hi, def, NULL, NULL, NULL                                      \
    }
#define BOOL(sec, key, off)                                                                                  \
    {                                                                                                        \
        sec, key, KT_BOOL, SHOW_ALWAYS, off, 0, 0, 0, 0, yes_no, NULL, NULL                                  \
    }
#define CHOICE(sec, key, off, ch, show, def)                                                                 \
    {                                                                                                        \
        sec, key, KT_CHOICE, show, off, 0, 0, 0, def, ch, NULL, NULL                                         \
    }
#define CUSTOM(sec, key, parse, render)                                                                      \
    {                                                                                                        \
        sec, key, KT_CUSTOM, SHOW_ALWAYS, 0, 0, 0, 0, 0, NULL, parse, render                                 \
    }
#define CAP(kind, key)                                                                                       \
    WHOLE(SEC_POLICY, key, P_(file_cap[kind]), sizeof(size_t), 1, 4.0 * 1024 * 1024 * 1024, SHOW_NOT_DEF,    \
          -(double)(kind)-1) /* def < 0: the kind's default cap */

/* In canonical order. */
static const key_spec keys[] = {
    TEXT(SEC_POLICY, "name", P_(name), SHOW_ALWAYS),
    TEXT(SEC_POLICY, "description", P_(description), SHOW_NEVER),
    CUSTOM(SEC_POLICY, "seed", kp_seed, kr_seed),
    TEXT(SEC_POLICY, "root", P_(root_path), SHOW_IF_SET),
    CAP(CREST_FILE_CRITERIA, "max_criteria_bytes"),
    CAP(CREST_FILE_LIST, "max_list_bytes"),
    CAP(CREST_FILE_BAND, "max_band_bytes"),
    CAP(CREST_FILE_MODEL, "max_model_bytes"),
    CAP(CREST_FILE_FX, "max_fx_bytes"),

    CUSTOM(SEC_TIERS, "order", kp_order, kr_order),
    CUSTOM(SEC_TIERS, "base", kp_base, kr_base),
    CUSTOM(SEC_TIERS, "default", kp_default, kr_default),

    TEXT(SEC_TIER, "label", T_(label), SHOW_IF_SET),
    CUSTOM(SEC_TIER, "aliases", kp_aliases, kr_aliases),
    CUSTOM(SEC_TIER, "rate", kp_rate, kr_rate),
    CUSTOM(SEC_TIER, "ratio", kp_ratio, kr_nothing),
    BOOL(SEC_TIER, "floor", T_(floor)),
    CHOICE(SEC_TIER, "floor_period", T_(floor_period), ch_floor_period, SHOW_NOT_DEF, 0),
    NUM_SHOW(SEC_TIER, "floor_confidence", T_(floor_confidence), 0.5, 0.999999999, SHOW_NOT_DEF, 0),
    WHOLE(SEC_TIER, "floor_month_rows", T_(floor_month_rows), sizeof(unsigned long), 1, 4e9, SHOW_NOT_DEF, 0),
    BOOL(SEC_TIER, "priority", T_(priority)),
    BOOL(SEC_TIER, "guarantee_exempt", T_(guarantee_exempt)),
    NUM_SHOW(SEC_TIER, "random_share", T_(random_share), 0.0, 1.0, SHOW_IF_SET, 0),
    NUM_SHOW(SEC_TIER, "scale", T_(scale), 0.0, 1e6, SHOW_NOT_DEF, 1.0),

    CUSTOM(SEC_REGISTRY, "parties", kp_parties, kr_parties),
    CHOICE(SEC_REGISTRY, "prefer", P_(tier_pref), ch_prefer, SHOW_ALWAYS, 0),

    CUSTOM(SEC_MRA, "partners", kp_partners, kr_partners),

    CUSTOM(SEC_LANES, "inspect", kp_inspect, kr_inspect),
    CUSTOM(SEC_LANES, "release", kp_release, kr_release),

    WHOLE(SEC_INPUT, "max_field_bytes", P_(max_field_bytes), sizeof(size_t), 16, 256.0 * 1024 * 1024,
          SHOW_ALWAYS, 0),
    WHOLE(SEC_INPUT, "max_record_bytes", P_(max_record_bytes), sizeof(size_t), 16, 256.0 * 1024 * 1024,
          SHOW_ALWAYS, 0),
    CUSTOM(SEC_INPUT, "delimiter", kp_delimiter, kr_delimiter),
    CHOICE(SEC_INPUT, "duplicate_ids", P_(reject_duplicate_ids), ch_duplicates, SHOW_NOT_DEF, 0),
    CHOICE(SEC_INPUT, "unknown_tier", P_(unknown_tier), ch_unknown_tier, SHOW_NOT_DEF, 0),
    NUM_SHOW(SEC_INPUT, "max_reject_rate", P_(max_reject_rate), 0.0, 1.0, SHOW_NOT_DEF, 0.5),
    CUSTOM(SEC_INPUT, "optional", kp_optional, kr_optional),

    CHOICE(SEC_OUTPUT, "passthrough", P_(passthrough), ch_passthrough, SHOW_ALWAYS, 0),
    BOOL(SEC_OUTPUT, "formula_guard", P_(formula_guard)),

    TEXT(SEC_RULES, "criteria", P_(criteria_path), SHOW_ALWAYS),
    TEXT(SEC_RULES, "tables", P_(tables_dir), SHOW_IF_SET),
    WHOLE(SEC_RULES, "match_limit", P_(match_limit), sizeof(unsigned), 0, 4e9, SHOW_ALWAYS, 0),
    WHOLE(SEC_RULES, "depth_limit", P_(depth_limit), sizeof(unsigned), 0, 4e9, SHOW_ALWAYS, 0),
    WHOLE(SEC_RULES, "max_hits", P_(max_hits), sizeof(unsigned), 0, 4e9, SHOW_ALWAYS, 0),
    CHOICE(SEC_RULES, "on_limit", P_(on_limit), ch_on_limit, SHOW_ALWAYS, 0),

    CHOICE(SEC_MODEL, "kind", P_(model_kind), ch_model_kind, SHOW_ALWAYS, 0),
    TEXT(SEC_MODEL, "file", P_(model_path), SHOW_ALWAYS),
    TEXT(SEC_MODEL, "features", P_(model_features), SHOW_ALWAYS),
    TEXT(SEC_MODEL, "params", P_(model_params), SHOW_IF_SET),
    NUM(SEC_MODEL, "weight", P_(model_weight), -100, 100),
    NUM(SEC_MODEL, "l2", P_(fit_l2), 0, 1e9),
    NUM(SEC_MODEL, "smoothing", P_(fit_smoothing), 0, 1e9),
    WHOLE(SEC_MODEL, "folds", P_(fit_folds), sizeof(unsigned), 2, 64, SHOW_ALWAYS, 0),

    NUM(SEC_RISK, "bias", P_(bias), -100, 100),
    CHOICE(SEC_RISK, "weighting", P_(weighting), ch_weighting, SHOW_ALWAYS, 0),
    NUM(SEC_RISK, "gain", P_(gain), 0, 1000),
    CUSTOM(SEC_RISK, "random_share", kp_random_share, kr_random_share),

    CHOICE(SEC_CONTROL, "mode", P_(control_mode), ch_mode, SHOW_ALWAYS, 0),
    CUSTOM(SEC_CONTROL, "window", kp_window, kr_window),
    NUM(SEC_CONTROL, "max_step", P_(max_step), 0.01, 10),

    WHOLE(SEC_CAPACITY, "red_per_office_day", P_(red_per_office_day), sizeof(unsigned long), 0, 1e12,
          SHOW_ALWAYS, 0),
    TEXT(SEC_CAPACITY, "offices", P_(offices_path), SHOW_IF_SET),

    TEXT(SEC_FX, "file", P_(fx_path), SHOW_ALWAYS),
    TEXT(SEC_FX, "base", P_(fx_base), SHOW_ALWAYS),
    TEXT(SEC_FX, "column", P_(fx_column), SHOW_IF_SET),

    TEXT(SEC_CALIBRATION, "history", P_(calib_history), SHOW_ALWAYS),
    TEXT(SEC_CALIBRATION, "history_hash", P_(calib_history_hash), SHOW_ALWAYS),
    TEXT(SEC_CALIBRATION, "rows", P_(calib_rows), SHOW_ALWAYS),
    TEXT(SEC_CALIBRATION, "expected", P_(calib_expected), SHOW_ALWAYS),
    TEXT(SEC_CALIBRATION, "files", P_(calib_files), SHOW_IF_SET),
};
#define N_KEYS (sizeof keys / sizeof *keys)

/* "a, b or c": the names of a section's keys, or of a choice's values. */
static void key_list(char *buf, size_t cap, section_kind sec, const key_choice *choices)
{
    const char *names[64];
    size_t n = 0;
    if (choices) {
        for (const key_choice *c = choices; c->name && n < 64; c++)
            if (c->name != choices[0].name || n == 0) {
                int dup = 0; /* an alias of an earlier value is not listed */
                for (const key_choice *d = choices; d != c; d++)
                    dup |= d->value == c->value;
                if (!dup)
                    names[n++] = c->name;
            }
    } else {
        for (size_t i = 0; i < N_KEYS && n < 64; i++)
            if (keys[i].sec == sec)
                names[n++] = keys[i].key;
    }
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
}

static void *key_slot(const key_spec *k, parse_state *ps)
{
    return k->sec == SEC_TIER ? (char *)ps->tier + k->offset : (char *)ps->p + k->offset;
}

static const void *key_cslot(const key_spec *k, const crest_policy *p, const policy_tier *t)
{
    return k->sec == SEC_TIER ? (const char *)t + k->offset : (const char *)p + k->offset;
}

/* Parse one value into its slot according to the key's row. */
static crest_status key_apply(parse_ctx *cx, parse_state *ps, const key_spec *k, const char *v, size_t vn)
{
    void *slot = key_slot(k, ps);
    char expected[256];
    switch (k->type) {
    case KT_TEXT: {
        char **dst = slot;
        free(*dst);
        return (*dst = dup_range(v, vn)) ? CREST_OK : CREST_ERR_NOMEM;
    }
    case KT_NUMBER:
        return parse_number(cx, v, vn, k->lo, k->hi, k->key, slot);
    case KT_WHOLE: {
        double d;
        crest_status st = parse_number(cx, v, vn, k->lo, k->hi, k->key, &d);
        if (st != CREST_OK)
            return st;
        if (d != floor(d))
            return fail(cx, v, CREST_ERR_INVALID, "%s needs a whole number", k->key);
        if (k->width == sizeof(unsigned))
            *(unsigned *)slot = (unsigned)d;
        else
            *(size_t *)slot = (size_t)d; /* size_t and unsigned long: both 8 bytes here */
        return CREST_OK;
    }
    case KT_BOOL:
        return parse_bool(cx, v, vn, k->key, slot);
    case KT_CHOICE:
        for (const key_choice *c = k->choices; c->name; c++)
            if (label_equal(v, vn, c->name, strlen(c->name))) {
                *(int *)slot = c->value;
                return CREST_OK;
            }
        key_list(expected, sizeof expected, k->sec, k->choices);
        return fail(cx, v, CREST_ERR_INVALID, "%s is %s, found '%.*s'", k->key, expected,
                    (int)(vn < 60 ? vn : 60), v);
    case KT_CUSTOM:
        return k->parse(cx, ps, v, vn);
    }
    return CREST_ERR_STATE;
}

_Static_assert(sizeof(unsigned long) == sizeof(size_t), "KT_WHOLE stores unsigned long as size_t");

/* Write one key's canonical line(s), or nothing when its row says so. */
static void key_render(textbuf *tb, const key_spec *k, const crest_policy *p, const policy_tier *t)
{
    const void *slot = key_cslot(k, p, t);
    if (k->show == SHOW_NEVER)
        return;
    switch (k->type) {
    case KT_TEXT: {
        const char *s = *(char *const *)slot;
        if (!s && k->show == SHOW_IF_SET)
            return;
        textbuf_printf(tb, "%s = %s\n", k->key, s ? s : "");
        return;
    }
    case KT_NUMBER: {
        const double d = *(const double *)slot;
        if ((k->show == SHOW_IF_SET && isnan(d)) || (k->show == SHOW_NOT_DEF && d == k->def))
            return;
        textbuf_printf(tb, "%s = ", k->key);
        fmt_num(tb, d);
        textbuf_puts(tb, "\n");
        return;
    }
    case KT_WHOLE: {
        const unsigned long long x = k->width == sizeof(unsigned) ? *(const unsigned *)slot
                                                                  : (unsigned long long)*(const size_t *)slot;
        const double def =
            k->def < 0 ? (double)crest_file_default_cap((crest_file_kind)(-k->def - 1)) : k->def;
        if (k->show == SHOW_NOT_DEF && (double)x == def)
            return;
        textbuf_printf(tb, "%s = %llu\n", k->key, x);
        return;
    }
    case KT_BOOL:
        textbuf_printf(tb, "%s = %s\n", k->key, *(const int *)slot ? "yes" : "no");
        return;
    case KT_CHOICE: {
        const int x = *(const int *)slot;
        if (k->show == SHOW_NOT_DEF && x == (int)k->def)
            return;
        for (const key_choice *c = k->choices; c->name; c++)
            if (c->value == x) {
                textbuf_printf(tb, "%s = %s\n", k->key, c->name);
                return;
            }
        return;
    }
    case KT_CUSTOM:
        k->render(tb, p, t);
        return;
    }
}

static void render_section(textbuf *tb, section_kind sec, const crest_policy *p, const policy_tier *t)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].sec == sec)
            key_render(tb, &keys[i], p, t);
}

/* ------------------------------------------------------------- the parse */

/*
 * One pass over the lines: section headers, `key = value` lines looked up in
 * keys[], comments. Longer than most functions here because the line
 * grammar (BOM, comments, inline comments, [tier NAME], duplicate keys) reads
 * best in one place; what each key means is the table's business.
 */
static crest_status parse_text(crest_policy *p, const char *text, size_t len, parse_ctx *cx, order_arg *order,
                               char **base_name, char **default_name)
{
    section_kind sec = SEC_NONE;
    parse_state ps = {p, NULL, order, base_name, default_name, NULL};
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
        policy_line pl;
        policy_read_line(s, (size_t)(eol - s), &pl);
        s = eol < end ? eol + 1 : end;
        const char *l = pl.text;
        size_t n = pl.text_len;
        if (pl.kind == POLICY_LINE_BLANK)
            continue;
        if (memchr(l, '\0', n))
            return fail(cx, l, CREST_ERR_SYNTAX, "NUL byte in policy text");
        if (pl.kind == POLICY_LINE_HEADER) {
            if (n < 2 || l[n - 1] != ']')
                return fail(cx, l + n - 1, CREST_ERR_SYNTAX, "section header needs a closing ']'");
            const char *h = pl.section;
            size_t hn = pl.section_len;
            n_seen = 0;
            ps.tier = NULL;
            if (pl.tier) {
                const char *tn = pl.tier;
                size_t tl = pl.tier_len;
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
                ps.tier = &p->tiers[p->n_tiers++];
                ps.tier->rate = ps.tier->ratio = ps.tier->random_share = NAN;
                ps.tier->scale = 1.0;
                if (!(ps.tier->name = dup_range(tn, tl)))
                    return CREST_ERR_NOMEM;
                sec = SEC_TIER;
                continue;
            }
            sec = SEC_NONE;
            for (int k = SEC_POLICY; k < SEC_COUNT; k++)
                if (k != SEC_TIER && strlen(section_names[k]) == hn && memcmp(h, section_names[k], hn) == 0)
                    sec = (section_kind)k;
            if (sec != SEC_NONE)
                continue;
            char expected[400];
            size_t o = 0;
            for (int k = SEC_POLICY; k < SEC_COUNT; k++)
                o += (size_t)snprintf(expected + o, sizeof expected - o, "%s%s",
                                      k == SEC_POLICY      ? ""
                                      : k + 1 == SEC_COUNT ? " or "
                                                           : ", ",
                                      section_names[k]);
            return fail(cx, h, CREST_ERR_SYNTAX, "unknown section [%.*s]; expected %s",
                        (int)(hn < 60 ? hn : 60), h, expected);
        }
        if (pl.kind != POLICY_LINE_KEY)
            return fail(cx, l, CREST_ERR_SYNTAX, "expected 'key = value' or a [section]");
        const char *key = pl.key;
        size_t klen = pl.key_len;
        const char *v = pl.value;
        size_t vn = pl.value_len;
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
        char keyz[48];
        snprintf(keyz, sizeof keyz, "%.*s", (int)(klen < 40 ? klen : 40), key);
        crest_status st;
        if (sec == SEC_COLUMNS) {
            /* [columns]: the keys are the canonical fields. */
            int f = crest_field_from_name(key, klen);
            if (f < 0) {
                char fields[400];
                size_t o = 0;
                for (int i = 0; i < CREST_FIELD_COUNT; i++)
                    o += (size_t)snprintf(fields + o, sizeof fields - o, "%s%s", i ? ", " : "",
                                          crest_field_name((crest_field)i));
                return fail(cx, key, CREST_ERR_INVALID, "'%s' is not a canonical field (%s)", keyz, fields);
            }
            column_arg ca = {p, f};
            st = for_each_item(cx, v, vn, add_column, &ca);
        } else {
            const key_spec *k = NULL;
            for (size_t i = 0; i < N_KEYS && !k; i++)
                if (keys[i].sec == sec && strlen(keys[i].key) == klen && memcmp(keys[i].key, key, klen) == 0)
                    k = &keys[i];
            if (!k) {
                char expected[400];
                key_list(expected, sizeof expected, sec, NULL);
                if (sec == SEC_TIER)
                    return fail(cx, key, CREST_ERR_SYNTAX, "unknown key '%s' in [tier %s]; expected %s", keyz,
                                ps.tier->name, expected);
                return fail(cx, key, CREST_ERR_SYNTAX, "unknown key '%s' in [%s]; expected %s%s", keyz,
                            section_names[sec], expected,
                            sec == SEC_CALIBRATION ? " (this section is written by crest calibrate)" : "");
            }
            ps.key_at = key;
            st = key_apply(cx, &ps, k, v, vn);
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

/* The message word for a kind of file. */
static const char *file_what(crest_file_kind kind)
{
    switch (kind) {
    case CREST_FILE_CRITERIA:
        return "criteria file";
    case CREST_FILE_LIST:
        return "list table";
    case CREST_FILE_BAND:
        return "value-band table";
    case CREST_FILE_MODEL:
        return "model file";
    case CREST_FILE_FX:
        return "FX table";
    case CREST_FILE_CAPACITY:
        return "capacity table";
    default:
        return "file";
    }
}

/* [policy] root: the file's real path must lie under the root's. */
static crest_status check_root(const crest_policy *p, crest_file_kind kind, const char *path,
                               crest_diag *diag)
{
    if (!p->root)
        return CREST_OK;
    char *real = realpath(path, NULL);
    if (!real)
        return crest_diag_set(diag, CREST_ERR_IO, path, 0, 0, "cannot open the %s: %s.", file_what(kind),
                              strerror(errno));
    const size_t rn = strlen(p->root);
    const int inside = strncmp(real, p->root, rn) == 0 && (real[rn] == '/' || (rn == 1 && p->root[0] == '/'));
    free(real);
    if (!inside)
        return crest_diag_set(
            diag, CREST_ERR_INVALID, path, 0, 0,
            "the %s lies outside [policy] root = %s; files a policy names must be under it.", file_what(kind),
            p->root_path);
    return CREST_OK;
}

/*
 * The reader the risk layer gets at load (crest_file_reader): each file is
 * read once, bounded by its kind's cap, confined to root, hashed and kept in
 * p->files. A file asked for twice (one table used by two criteria) is served
 * from the list.
 */
static crest_status policy_read(void *ctx, crest_file_kind kind, const char *path, const char *name,
                                const char **data, size_t *len, crest_diag *diag)
{
    crest_policy *p = ctx;
    for (size_t i = 0; i < p->n_files; i++) {
        if (p->files[i].kind == kind && strcmp(p->files[i].path, path) == 0 && p->files[i].data) {
            *data = p->files[i].data;
            *len = p->files[i].len;
            return CREST_OK;
        }
    }
    crest_status st = check_root(p, kind, path, diag);
    if (st != CREST_OK)
        return st;
    policy_file *nf = realloc(p->files, (p->n_files + 1) * sizeof *nf);
    if (!nf)
        return crest_diag_set(diag, CREST_ERR_NOMEM, path, 0, 0, "out of memory");
    p->files = nf;
    policy_file *f = &p->files[p->n_files];
    memset(f, 0, sizeof *f);
    st = crest_file_read(path, p->file_cap[kind], file_what(kind), &f->data, &f->len, diag);
    if (st != CREST_OK)
        return st;
    const char *nm = name                                        ? name
                     : kind == CREST_FILE_CRITERIA               ? p->criteria_path
                     : kind == CREST_FILE_MODEL && p->model_path ? p->model_path
                                                                 : path;
    f->kind = kind;
    f->name = dup_range(nm, strlen(nm));
    f->path = dup_range(path, strlen(path));
    if (!f->name || !f->path) {
        free(f->name);
        free(f->path);
        free(f->data);
        return crest_diag_set(diag, CREST_ERR_NOMEM, path, 0, 0, "out of memory");
    }
    uint8_t digest[CREST_SHA256_BYTES];
    crest_sha256_buf(f->data, f->len, digest);
    crest_sha256_hex(digest, f->sha256);
    p->n_files++;
    *data = f->data;
    *len = f->len;
    return CREST_OK;
}

char *policy_files_fingerprint(const crest_policy *p)
{
    textbuf tb;
    textbuf_init(&tb);
    size_t n = 0;
    for (size_t i = 0; i < p->n_files; i++)
        if (p->files[i].kind != CREST_FILE_CAPACITY) /* the cap does not move a calibration */
            textbuf_printf(&tb, "%s%s:%s", n++ ? ", " : "", crest_file_kind_name(p->files[i].kind),
                           p->files[i].sha256);
    if (!n)
        textbuf_puts(&tb, "none");
    if (tb.oom) {
        textbuf_free(&tb);
        return NULL;
    }
    return textbuf_take(&tb);
}
/*
 * [fx]: the exchange-rate table, read once through policy_read (bounded,
 * confined to root, hashed into the policy hash like every other file) and
 * parsed here; its bytes are freed with the others. The currency column's
 * header name, when given, is tried first for the canonical currency field.
 */
static crest_status load_fx(crest_policy *p, parse_ctx *cx)
{
    if (!p->fx_path && !p->fx_base && !p->fx_column)
        return CREST_OK;
    if (!p->fx_path || !p->fx_base)
        return fail(cx, NULL, CREST_ERR_MISSING,
                    "[fx] needs 'file = PATH' (currency,valid_from,valid_to,rate_to_base) and 'base = CODE'");
    if (p->fx_column) {
        const size_t f = CREST_FIELD_CURRENCY;
        if (p->n_columns[f] == CREST_MAX_COLUMN_NAMES)
            return fail(cx, NULL, CREST_ERR_RANGE, "[fx] column: too many names for the currency field");
        memmove(&p->columns[f][1], &p->columns[f][0], p->n_columns[f] * sizeof p->columns[f][0]);
        if (!(p->columns[f][0] = dup_range(p->fx_column, strlen(p->fx_column))))
            return CREST_ERR_NOMEM;
        p->n_columns[f]++;
    }
    char *path = resolve_path(p->dir, p->fx_path);
    if (!path)
        return CREST_ERR_NOMEM;
    const char *data;
    size_t len;
    crest_status st = policy_read(p, CREST_FILE_FX, path, p->fx_path, &data, &len, cx->diag);
    if (st == CREST_OK)
        st = crest_fx_parse(data, len, p->fx_path, p->fx_base, &p->fx, cx->diag);
    free(path);
    return st;
}

static crest_status validate_risk(crest_policy *p, parse_ctx *cx)
{
    if (p->root_path) {
        char *r = resolve_path(p->dir, p->root_path);
        if (!r)
            return CREST_ERR_NOMEM;
        p->root = realpath(r, NULL);
        const int e = errno;
        free(r);
        if (!p->root)
            return fail(cx, NULL, CREST_ERR_IO, "[policy] root = %s: %s", p->root_path, strerror(e));
    }
    if (p->criteria_path) {
        char *r = resolve_path(p->dir, p->criteria_path);
        if (!r)
            return CREST_ERR_NOMEM;
        p->criteria_file = r;
    }
    if (p->tables_dir) {
        if (!(p->tables_file = resolve_path(p->dir, p->tables_dir)))
            return CREST_ERR_NOMEM;
    }
    if (p->model_kind == CREST_RISK_MODEL_NONE && (p->model_path || p->model_features))
        /* Silently without the model the section names: refused. */
        return fail(cx, NULL, CREST_ERR_MISSING,
                    "[model] names a %s but no kind: say 'kind = logistic' or 'kind = xgboost' (or "
                    "remove the section)",
                    p->model_path ? "file" : "feature list");
    if (p->model_kind != CREST_RISK_MODEL_NONE) {
        if (!p->model_path)
            return fail(cx, NULL, CREST_ERR_MISSING, "[model] kind = %s needs 'file = PATH'",
                        p->model_kind == CREST_RISK_MODEL_LOGISTIC ? "logistic" : "xgboost");
        char *r = resolve_path(p->dir, p->model_path);
        if (!r)
            return CREST_ERR_NOMEM;
        p->model_file = r;
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
    crest_status fst = load_fx(p, cx);
    if (fst != CREST_OK)
        return fst;
    /* Read, hash and parse every file the risk layer needs, once: a broken
     * regex, lane, probability, table or model stops the load here, with the
     * file, line and column the risk layer reports. */
    if (p->criteria_path || (p->model_kind != CREST_RISK_MODEL_NONE && !p->for_fit)) {
        crest_risk_config cfg;
        policy_risk_config(p, &cfg);
        cfg.read = policy_read;
        cfg.read_ctx = p;
        crest_status st = crest_risk_create(&cfg, &p->risk, cx->diag);
        if (st != CREST_OK)
            return st;
        /* Engines share p->risk (each binds its input's columns apart): the
         * bytes are parsed and hashed, and no longer needed. */
        for (size_t i = 0; i < p->n_files; i++) {
            free(p->files[i].data);
            p->files[i].data = NULL;
        }
    }
    /* A calibration computed with other criteria, tables or model is stale:
     * engines say so (crest_policy_calibration_stale). */
    if (p->calib_files) {
        char *now = policy_files_fingerprint(p);
        if (!now)
            return CREST_ERR_NOMEM;
        p->calib_stale = strcmp(now, p->calib_files) != 0;
        free(now);
    }
    return CREST_OK;
}

/* [capacity] offices: the per-office cap table, read once (hashed, confined
 * to root like every file the policy names) and parsed by offices.c. */
static crest_status load_offices(crest_policy *p, parse_ctx *cx)
{
    if (!p->offices_path)
        return CREST_OK;
    if (!(p->offices_file = resolve_path(p->dir, p->offices_path)))
        return CREST_ERR_NOMEM;
    const char *data;
    size_t len;
    crest_status st =
        policy_read(p, CREST_FILE_CAPACITY, p->offices_file, p->offices_path, &data, &len, cx->diag);
    if (st == CREST_OK)
        st = policy_offices_parse(p, p->offices_file, data, len, cx->diag);
    for (size_t i = 0; st == CREST_OK && i < p->n_files; i++)
        if (p->files[i].kind == CREST_FILE_CAPACITY && p->files[i].data == data) {
            free(p->files[i].data); /* parsed: the bytes are no longer needed */
            p->files[i].data = NULL;
        }
    return st;
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
        if (t->floor_period != FLOOR_PERIOD_NONE && !t->floor)
            return fail(cx, NULL, CREST_ERR_INVALID, "tier %s: floor_period needs 'floor = yes'", t->name);
        if (t->floor && isnan(t->rate))
            return fail(cx, NULL, CREST_ERR_INVALID,
                        "tier %s: 'floor = yes' needs an absolute rate, not a ratio", t->name);
        t->draw_rate = t->effective_rate;
        if (t->floor_confidence > 0 || t->floor_month_rows) {
            if (!t->floor)
                return fail(cx, NULL, CREST_ERR_INVALID,
                            "tier %s: floor_confidence and floor_month_rows need 'floor = yes'", t->name);
            if (!(t->floor_confidence > 0) || !t->floor_month_rows)
                return fail(cx, NULL, CREST_ERR_MISSING,
                            "tier %s: floor_confidence and floor_month_rows go together (the confidence "
                            "that a calendar month of that many rows holds the floor)",
                            t->name);
            t->draw_rate =
                crest_stats_floor_rate(t->effective_rate, t->floor_month_rows, t->floor_confidence);
            if (isnan(t->draw_rate))
                return fail(cx, NULL, CREST_ERR_RANGE, "tier %s: no draw rate holds the floor", t->name);
        }
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
    crest_status st = validate_risk(p, cx);
    return st == CREST_OK ? load_offices(p, cx) : st;
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

/* The canonical form: every section in keys[] order, each key as its row
 * says; [rules], [model] and [calibration] only when the policy has them. */
static crest_status render_canonical(crest_policy *p)
{
    textbuf tb;
    textbuf_init(&tb);
    for (int sec = SEC_POLICY; sec < SEC_COUNT; sec++) {
        if ((sec == SEC_RULES && !p->criteria_path) ||
            (sec == SEC_MODEL && p->model_kind == CREST_RISK_MODEL_NONE) || (sec == SEC_FX && !p->fx_path) ||
            (sec == SEC_CALIBRATION && !(p->calib_history || p->calib_history_hash || p->calib_rows ||
                                         p->calib_expected || p->calib_files)))
            continue;
        if (sec == SEC_TIER) {
            for (size_t i = 0; i < p->n_tiers; i++) {
                textbuf_printf(&tb, "\n[tier %s]\n", p->tiers[i].name);
                render_section(&tb, SEC_TIER, p, &p->tiers[i]);
            }
            continue;
        }
        textbuf_printf(&tb, "%s[%s]\n", sec == SEC_POLICY ? "" : "\n", section_names[sec]);
        if (sec == SEC_COLUMNS) {
            for (int f = 0; f < CREST_FIELD_COUNT; f++) {
                if (!p->n_columns[f])
                    continue;
                textbuf_printf(&tb, "%s = ", crest_field_name((crest_field)f));
                for (size_t k = 0; k < p->n_columns[f]; k++)
                    textbuf_printf(&tb, "%s%s", k ? ", " : "", p->columns[f][k]);
                textbuf_puts(&tb, "\n");
            }
        }
        render_section(&tb, (section_kind)sec, p, NULL);
    }
    if (tb.oom) {
        textbuf_free(&tb);
        return CREST_ERR_NOMEM;
    }
    p->canonical = textbuf_take(&tb);
    /* SHA-256 over the canonical form and, per file read at load, its kind,
     * its name as written and the SHA-256 of its bytes: one byte changed in
     * any table, the criteria, the model or the FX table changes the hash. */
    crest_sha256 h;
    crest_sha256_init(&h);
    crest_sha256_update(&h, "crest policy v2\n", 16);
    crest_sha256_update(&h, p->canonical, strlen(p->canonical));
    for (size_t i = 0; i < p->n_files; i++) {
        const policy_file *f = &p->files[i];
        const char *kind = crest_file_kind_name(f->kind);
        crest_sha256_update(&h, "\0", 1);
        crest_sha256_update(&h, kind, strlen(kind));
        crest_sha256_update(&h, "\0", 1);
        crest_sha256_update(&h, f->name, strlen(f->name));
        crest_sha256_update(&h, "\0", 1);
        crest_sha256_update(&h, f->sha256, 64);
    }
    uint8_t digest[CREST_SHA256_BYTES];
    crest_sha256_final(&h, digest);
    crest_sha256_hex(digest, p->hash_full);
    p->hash = 0;
    for (int i = 0; i < 8; i++)
        p->hash = p->hash << 8 | digest[i];
    memcpy(p->hash_hex, p->hash_full, 16);
    p->hash_hex[16] = '\0';
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
    p->max_reject_rate = 0.5;
    for (int k = 0; k < CREST_FILE_KIND_COUNT; k++)
        p->file_cap[k] = crest_file_default_cap((crest_file_kind)k);
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

/* parse_in_dir after the overrides; an error on an override's line names it. */
static crest_status parse_with_sets(const char *text, size_t len, const char *name, const char *dir,
                                    unsigned flags, const char *const *sets, size_t n_sets,
                                    crest_policy **out, crest_diag *diag)
{
    if (!n_sets)
        return parse_in_dir(text, len, name, dir, flags, out, diag);
    *out = NULL;
    textbuf tb;
    textbuf_init(&tb);
    unsigned *line_set = NULL;
    size_t n_lines = 0;
    crest_status st = policy_override_text(text, len, sets, n_sets, &tb, &line_set, &n_lines, diag);
    if (st == CREST_OK)
        st = parse_in_dir(tb.data ? tb.data : "", tb.len, name, dir, flags, out, diag);
    if (st != CREST_OK && diag->line && diag->line <= n_lines && line_set[diag->line - 1]) {
        char msg[sizeof diag->message];
        snprintf(msg, sizeof msg, "%s", diag->message);
        crest_diag_set(diag, st, "--set", 0, 0, "%s: %s", sets[line_set[diag->line - 1] - 1], msg);
    }
    free(line_set);
    textbuf_free(&tb);
    return st;
}

crest_status crest_policy_load(const char *path, crest_policy **out, crest_diag *diag)
{
    return crest_policy_load_ex(path, 0, out, diag);
}

crest_status crest_policy_load_ex(const char *path, unsigned flags, crest_policy **out, crest_diag *diag)
{
    return crest_policy_load_set(path, NULL, 0, NULL, flags, NULL, 0, out, diag);
}

crest_status crest_policy_load_set(const char *path, const char *text, size_t len, const char *name,
                                   unsigned flags, const char *const *sets, size_t n_sets, crest_policy **out,
                                   crest_diag *diag)
{
    if (!path) {
        *out = NULL;
        crest_diag_clear(diag);
        return parse_with_sets(text, len, name, ".", flags, sets, n_sets, out, diag);
    }
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
    crest_status st =
        parse_with_sets(tb.data ? tb.data : "", tb.len, path, dir, flags, sets, n_sets, out, diag);
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
    free(p->fx_path);
    free(p->fx_base);
    free(p->fx_column);
    crest_fx_free(p->fx);
    free(p->model_path);
    free(p->model_features);
    free(p->model_params);
    free(p->criteria_file);
    free(p->tables_file);
    free(p->calib_history);
    free(p->calib_history_hash);
    free(p->calib_rows);
    free(p->calib_expected);
    free(p->calib_files);
    free(p->source_text);
    free(p->model_file);
    for (size_t i = 0; i < p->n_files; i++) {
        free(p->files[i].name);
        free(p->files[i].path);
        free(p->files[i].data);
    }
    free(p->files);
    free(p->offices_path);
    free(p->offices_file);
    policy_offices_free(p);
    free(p->root);
    free(p->root_path);
    for (size_t i = 0; i < p->n_optional; i++)
        free(p->optional[i]);
    crest_risk_free(p->risk);
    free(p);
}

int crest_policy_calibration_stale(const crest_policy *p)
{
    return p->calib_stale;
}

const char *crest_policy_hash_full(const crest_policy *p)
{
    return p->hash_full;
}

size_t crest_policy_file_count(const crest_policy *p)
{
    return p->n_files;
}

crest_status crest_policy_file_info(const crest_policy *p, size_t i, crest_policy_file *info)
{
    if (i >= p->n_files)
        return CREST_ERR_RANGE;
    info->kind = crest_file_kind_name(p->files[i].kind);
    info->name = p->files[i].name;
    info->path = p->files[i].path;
    info->sha256 = p->files[i].sha256;
    info->bytes = p->files[i].len;
    return CREST_OK;
}

int crest_policy_model_is_xgboost(const crest_policy *p)
{
    return p->model_kind == CREST_RISK_MODEL_XGBOOST;
}

const char *crest_policy_model_params(const crest_policy *p)
{
    return p->model_params;
}

const char *crest_policy_model_features(const crest_policy *p)
{
    return p->model_features;
}

const char *crest_policy_model_file(const crest_policy *p)
{
    return p->model_file;
}

int crest_policy_model_calibrated(const crest_policy *p)
{
    return p && policy_has_risk(p) && crest_risk_calibrated(p->risk);
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

double crest_policy_tier_draw_rate(const crest_policy *p, size_t t)
{
    return t < p->n_tiers ? p->tiers[t].draw_rate : NAN;
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
    return p->control_mode == CONTROL_FROZEN && !p->reject_duplicate_ids && !policy_has_floor_period(p);
}
