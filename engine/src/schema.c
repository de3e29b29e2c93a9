/*
 * schema.c — the input's header mapped to the declaration fields (policy
 * names, then built-in aliases, with normalised spelling), the pass-through
 * columns, the output's header row, and the declaration of a row (mapped
 * fields, date, numbers, direction). Validation is rejects.c's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_date.h"
#include "engine_internal.h"

/* Built-in header aliases, in normalised form (ASCII lower case, no ' ', '_', '-'). */
static const char *const builtin_aliases[CREST_FIELD_COUNT][10] = {
    [CREST_FIELD_DECL_ID] = {"declid", "declarationid", "declarationno", "declarationnumber", "entryid",
                             "entryno", "entrynumber", "报关单号"},
    [CREST_FIELD_DECL_DATE] = {"decldate", "date", "declarationdate", "declaredate", "entrydate", "申报日期"},
    [CREST_FIELD_OFFICE] = {"office", "officeid", "officecode", "customsoffice", "申报口岸", "关区"},
    [CREST_FIELD_DIRECTION] = {"direction", "ieflag", "iedirection", "importexport", "进出口"},
    [CREST_FIELD_ENTERPRISE_ID] = {"enterpriseid", "enterprise", "importerid", "consigneeid", "tradercode",
                                   "uscc", "收发货人"},
    [CREST_FIELD_DECLARANT_ID] = {"declarantid", "declarant", "brokerid", "agentid", "申报单位"},
    [CREST_FIELD_CREDIT_TIER] = {"credittier", "tier", "creditclass", "creditlevel", "信用等级"},
    [CREST_FIELD_FOREIGN_AEO] = {"foreignaeo", "partneraeo", "consignoraeo", "aeocode"},
    [CREST_FIELD_HS_CODE] = {"hscode", "hs", "hs6code", "hs10", "hs6", "commoditycode", "商品编号"},
    [CREST_FIELD_ORIGIN] = {"origin", "countryoforigin", "origincountry", "原产国"},
    [CREST_FIELD_DEPARTURE] = {"departure", "countryofdeparture", "departurecountry", "启运国"},
    [CREST_FIELD_TRANSPORT_MODE] = {"transportmode", "mode", "modeoftransport", "运输方式"},
    [CREST_FIELD_DECLARED_VALUE] = {"declaredvalue", "value", "itemprice", "customsvalue", "总价"},
    [CREST_FIELD_CURRENCY] = {"currency", "币制"},
    [CREST_FIELD_NET_MASS_KG] = {"netmasskg", "netmass", "netweight", "netweightkg", "净重"},
    [CREST_FIELD_QUANTITY] = {"quantity", "qty", "数量"},
    [CREST_FIELD_GOODS_DESC] = {"goodsdesc", "goodsdescription", "description", "商品名称"},
    [CREST_FIELD_ILLICIT] = {"illicit", "fraud"},
    [CREST_FIELD_REVENUE] = {"revenue"},
};

static void normalise(const char *s, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '_' || c == '-' || c == '\t')
            continue;
        out[k++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    out[k] = '\0';
}

static const char *const own_columns[] = {"decl_id",
                                          "tier",
                                          "tier_source",
                                          "risk_score",
                                          "p",
                                          "u",
                                          "decision",
                                          "lane",
                                          "reasons",
                                          "priority",
                                          "guarantee_exempt_eligible",
                                          "mra_recognised",
                                          "policy_hash"};
#define N_OWN (sizeof own_columns / sizeof *own_columns)

void crest_schema_write_header(crest_engine *e)
{
    outbuf *o = &e->out;
    if (e->opt.format != CREST_FORMAT_CSV)
        return;
    for (size_t i = 0; i < N_OWN; i++) {
        if (i)
            outbuf_putc(o, ',');
        outbuf_puts(o, own_columns[i]);
        if (e->risk_prob && strcmp(own_columns[i], "risk_score") == 0)
            outbuf_puts(o, ",risk_prob");
        if (e->opt.reason_text && strcmp(own_columns[i], "reasons") == 0)
            outbuf_puts(o, ",reason_text");
    }
    for (size_t k = 0; k < e->n_pass; k++) {
        const char *name = e->col_names[e->pass_cols[k]];
        outbuf_putc(o, ',');
        int own = e->risk_prob && strcmp(name, "risk_prob") == 0;
        for (size_t i = 0; i < N_OWN && !own; i++)
            own = strcmp(name, own_columns[i]) == 0;
        if (own)
            outbuf_puts(o, "input_");
        outbuf_csv_field(o, name, strlen(name), ',');
    }
    outbuf_putc(o, '\n');
}

/* ------------------------------------------------------------ schema guard */

/* Levenshtein distance of two short normalised names (capped at 64 bytes). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na > 64)
        na = 64;
    if (nb > 64)
        nb = 64;
    size_t row[65];
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            const size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

/* The header name closest to want (normalised), when it is close enough to be
 * a likely misspelling; NULL otherwise. Only unmapped columns are offered. */
static const char *closest_column(const crest_engine *e, const char *want)
{
    char w[128], h[128];
    normalise(want, strlen(want), w, sizeof w);
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < e->n_cols; i++) {
        int mapped = 0;
        for (int f = 0; f < CREST_FIELD_COUNT; f++)
            mapped |= e->col_of_field[f] == (int)i;
        if (mapped)
            continue;
        normalise(e->col_names[i], strlen(e->col_names[i]), h, sizeof h);
        const size_t d = edit_distance(w, h);
        if (d < best_d) {
            best_d = d;
            best = e->col_names[i];
        }
    }
    const size_t limit = strlen(w) / 3 > 2 ? strlen(w) / 3 : 2;
    return best && best_d <= limit ? best : NULL;
}

static int header_has(const crest_engine *e, const char *column)
{
    char w[128], h[128];
    normalise(column, strlen(column), w, sizeof w);
    for (size_t i = 0; i < e->n_cols; i++) {
        normalise(e->col_names[i], strlen(e->col_names[i]), h, sizeof h);
        if (strcmp(w, h) == 0)
            return 1;
    }
    return 0;
}

static int is_optional(const crest_policy *p, const char *name)
{
    for (size_t i = 0; i < p->n_optional; i++)
        if (strcmp(p->optional[i], name) == 0)
            return 1;
    return 0;
}

typedef struct guard_ctx {
    crest_engine *e;
    unsigned long line;
    int failed;
} guard_ctx;

/* One column a criterion or a feature reads (crest_column_fn): missing and not
 * optional stops the run before the first row, naming who needs it. */
static void guard_column(void *ctx, const char *user, int field, const char *column)
{
    guard_ctx *g = ctx;
    crest_engine *e = g->e;
    if (g->failed)
        return;
    const char *name = field >= 0 ? crest_field_name((crest_field)field) : column;
    if (field >= 0 ? e->col_of_field[field] >= 0 : header_has(e, column))
        return;
    if (is_optional(e->policy, name)) {
        textbuf_printf(&e->notes,
                       "%s reads %s, which the header lacks; [input] optional lists it, so it is "
                       "switched off for this input\n",
                       user, name);
        return;
    }
    const char *near = closest_column(e, name);
    char hint[200] = "";
    if (near && field >= 0)
        snprintf(hint, sizeof hint, " (did you mean '%.60s'? map it with [columns] %s = %.60s)", near, name,
                 near);
    else if (near)
        snprintf(hint, sizeof hint, " (did you mean '%.60s'?)", near);
    char msg[512];
    snprintf(msg, sizeof msg,
             "%s reads %s; the header has no such column%s. List it in [input] optional to run without it",
             user, name, hint);
    crest_engine_set_fatal(e, CREST_ERR_MISSING, g->line, 0, "%s", msg);
    g->failed = 1;
}

/*
 * Before the first row: every column the policy needs is in the header — the
 * registry's parties when a registry is given, every criterion's field and
 * every model feature, the currency with an [fx] table. 1 (fatal set) when one is missing and not optional.
 */
static int schema_guard(crest_engine *e, const csvread_row *row)
{
    const crest_policy *p = e->policy;
    guard_ctx g = {e, row->line, 0};
    if (e->registry)
        for (size_t k = 0; k < p->n_parties && !g.failed; k++)
            guard_column(&g, "the registry join ([registry] parties)", p->parties[k], NULL);
    if (e->risk && !g.failed)
        crest_risk_columns(e->risk, guard_column, &g);
    if (p->fx && !g.failed)
        guard_column(&g, "the FX table ([fx]: values are converted by their currency)", CREST_FIELD_CURRENCY,
                     NULL);
    return g.failed;
}

COLD int crest_schema_map_header(crest_engine *e, const csvread_row *row)
{
    if (row->error != CSVREAD_OK || row->too_many_fields || row->long_field != SIZE_MAX) {
        crest_engine_set_fatal(e, CREST_ERR_SYNTAX, row->line, row->error_column,
                               "the header row is malformed (%s); fix the first line of the file",
                               row->error == CSVREAD_ERR_QUOTE ? "bad quoting"
                               : row->too_many_fields          ? "too many columns"
                                                      : "a header name is too long or the record is cut");
        return 1;
    }
    e->n_cols = row->n_fields;
    e->col_names = calloc(e->n_cols, sizeof(char *));
    e->pass_cols = calloc(e->n_cols ? e->n_cols : 1, sizeof(size_t));
    if (!e->col_names || !e->pass_cols) {
        crest_engine_set_fatal(e, CREST_ERR_NOMEM, row->line, 0, "%s", "out of memory reading the header");
        return 1;
    }
    char **norm = calloc(e->n_cols ? e->n_cols : 1, sizeof(char *));
    if (!norm) {
        crest_engine_set_fatal(e, CREST_ERR_NOMEM, row->line, 0, "%s", "out of memory reading the header");
        return 1;
    }
    for (size_t i = 0; i < e->n_cols; i++) {
        const crest_str *f = &row->fields[i];
        e->col_names[i] = malloc(f->len + 1);
        norm[i] = malloc(f->len + 1);
        if (!e->col_names[i] || !norm[i]) {
            for (size_t k = 0; k <= i; k++)
                free(norm[k]);
            free(norm);
            crest_engine_set_fatal(e, CREST_ERR_NOMEM, row->line, 0, "%s",
                                   "out of memory reading the header");
            return 1;
        }
        memcpy(e->col_names[i], f->ptr, f->len);
        e->col_names[i][f->len] = '\0';
        normalise(f->ptr, f->len, norm[i], f->len + 1);
    }
    const crest_policy *p = e->policy;
    for (int f = 0; f < CREST_FIELD_COUNT; f++) {
        e->col_of_field[f] = -1;
        /* Policy names first (exact, then normalised), then built-in aliases. */
        for (size_t k = 0; k < p->n_columns[f] && e->col_of_field[f] < 0; k++) {
            char want[256];
            normalise(p->columns[f][k], strlen(p->columns[f][k]), want, sizeof want);
            for (size_t i = 0; i < e->n_cols && e->col_of_field[f] < 0; i++)
                if (strcmp(e->col_names[i], p->columns[f][k]) == 0)
                    e->col_of_field[f] = (int)i;
            for (size_t i = 0; i < e->n_cols && e->col_of_field[f] < 0; i++)
                if (strcmp(norm[i], want) == 0)
                    e->col_of_field[f] = (int)i;
        }
        for (size_t a = 0; a < 10 && builtin_aliases[f][a] && e->col_of_field[f] < 0; a++)
            for (size_t i = 0; i < e->n_cols && e->col_of_field[f] < 0; i++)
                if (strcmp(norm[i], builtin_aliases[f][a]) == 0)
                    e->col_of_field[f] = (int)i;
    }

    if (e->col_of_field[CREST_FIELD_DECL_ID] < 0) {
        /* One header field holding ';', a tab or '|': most likely another delimiter. */
        const char *hint = "";
        if (e->n_cols == 1) {
            if (strchr(e->col_names[0], ';'))
                hint = " (the header looks ';'-separated: set [input] delimiter = ; in the policy)";
            else if (strchr(e->col_names[0], '\t'))
                hint = " (the header looks tab-separated: set [input] delimiter = tab in the policy)";
            else if (strchr(e->col_names[0], '|'))
                hint = " (the header looks '|'-separated: set [input] delimiter = | in the policy)";
        }
        for (size_t i = 0; i < e->n_cols; i++)
            free(norm[i]);
        free(norm);
        return crest_engine_set_fatal(
                   e, CREST_ERR_MISSING, row->line, 0,
                   "the header has no decl_id column; name it decl_id (or 'Declaration ID'), "
                   "or map it in the policy: [columns] decl_id = YOUR_HEADER%s",
                   hint),
               1;
    }
    /* A canonical field found under two columns of the same name is ambiguous. */
    for (int f = 0; f < CREST_FIELD_COUNT; f++) {
        const int c = e->col_of_field[f];
        if (c < 0)
            continue;
        for (size_t i = 0; i < e->n_cols; i++) {
            if ((int)i != c && strcmp(norm[i], norm[c]) == 0) {
                char msg[320];
                snprintf(msg, sizeof msg,
                         "column %.60s (%s) appears twice in the header (columns %d and %zu); "
                         "rename one so that the field is unambiguous",
                         e->col_names[c], crest_field_name((crest_field)f), c + 1, i + 1);
                for (size_t k = 0; k < e->n_cols; k++)
                    free(norm[k]);
                free(norm);
                return crest_engine_set_fatal(e, CREST_ERR_MISSING, row->line, 0, "%s", msg), 1;
            }
        }
    }
    for (size_t i = 0; i < e->n_cols; i++)
        free(norm[i]);
    free(norm);
    int any_party = 0;
    for (size_t k = 0; k < p->n_parties; k++)
        any_party |= e->col_of_field[p->parties[k]] >= 0;
    if (e->registry) {
        if (!any_party)
            return crest_engine_set_fatal(e, CREST_ERR_MISSING, row->line, 0,
                                          "a registry was given but the header has no enterprise_id or "
                                          "declarant_id column to join it on%s",
                                          ""),
                   1;
        if (e->col_of_field[CREST_FIELD_DECL_DATE] < 0)
            return crest_engine_set_fatal(
                       e, CREST_ERR_MISSING, row->line, 0,
                       "a registry was given but the header has no decl_date column: tiers are "
                       "joined as of the declaration date%s",
                       ""),
                   1;
        e->registry_usable = 1;
    }
    if (schema_guard(e, row))
        return 1;
    if (!e->registry && e->col_of_field[CREST_FIELD_CREDIT_TIER] < 0)
        textbuf_printf(&e->notes,
                       "no credit_tier column and no --registry: every declaration gets the "
                       "default tier %s\n",
                       p->tiers[p->default_tier].name);
    for (int f = 0; f < CREST_FIELD_COUNT; f++)
        if (e->col_of_field[f] >= 0)
            e->mapped[e->n_mapped++] =
                (struct mapped_field){(uint32_t)(f * sizeof(crest_str)),
                                      (uint32_t)((size_t)e->col_of_field[f] * sizeof(crest_str))};
    /* Pass-through columns. */
    for (size_t i = 0; i < e->n_cols; i++) {
        int mapped = 0, is_id = (int)i == e->col_of_field[CREST_FIELD_DECL_ID];
        for (int f = 0; f < CREST_FIELD_COUNT; f++)
            mapped |= e->col_of_field[f] == (int)i;
        if (e->passthrough == CREST_PASSTHROUGH_ALL ? !is_id
                                                    : e->passthrough == CREST_PASSTHROUGH_UNMAPPED && !mapped)
            e->pass_cols[e->n_pass++] = i;
    }
    /* decl_id first and every other column passed in order: a plain record's
     * bytes after its id are the pass-through part as they are (fast path). */
    int pass_is_tail = e->col_of_field[CREST_FIELD_DECL_ID] == 0 && e->n_pass + 1 == e->n_cols;
    for (size_t k = 0; k < e->n_pass && pass_is_tail; k++)
        pass_is_tail = e->pass_cols[k] == k + 1;
    e->tail_verbatim = pass_is_tail && e->opt.format == CREST_FORMAT_CSV && !e->opt.reason_text &&
                       e->policy->delimiter == ',';
    return 0;
}

static double parse_number(crest_str s)
{
    /* A field without a column (NULL): no call (three numbers a row). */
    return s.ptr ? crest_parse_number(s.ptr, s.len) : NAN;
}

static char parse_direction(crest_str s)
{
    if (s.len == 0)
        return 0;
    char n[16];
    normalise(s.ptr, s.len, n, sizeof n);
    if (!strcmp(n, "i") || !strcmp(n, "im") || !strcmp(n, "import") || !strcmp(n, "进口"))
        return 'I';
    if (!strcmp(n, "e") || !strcmp(n, "ex") || !strcmp(n, "export") || !strcmp(n, "出口"))
        return 'E';
    return 0;
}

/* Hot path: the worker's declaration. Its unmapped fields stay {NULL, 0}
 * from the start, so only the mapped ones are set per row. */
/* Numbers only feed the risk layer and tools' hooks: they are parsed only then. */
int crest_schema_reads_numbers(const crest_engine *e)
{
    return e->risk || e->opt.decl_hook || e->policy->fx;
}

int crest_schema_decl_shareable(const crest_engine *from, const crest_engine *to)
{
    if (from->policy->fx || to->policy->fx) /* a conversion is its policy's own */
        return 0;
    if (crest_schema_reads_numbers(to) && !crest_schema_reads_numbers(from))
        return 0;
    return from->n_cols == to->n_cols && from->n_mapped == to->n_mapped &&
           memcmp(from->mapped, to->mapped, from->n_mapped * sizeof *from->mapped) == 0;
}

crest_decl *crest_schema_decl(crest_engine *e, worker *w, const csvread_row *row, const int lean)
{
    crest_decl *d = &w->decl;
    const char *from = (const char *)row->fields;
    char *to = (char *)d->field;
    for (const struct mapped_field *m = e->mapped, *end = m + e->n_mapped; m < end; m++)
        memcpy(to + m->field_off, from + m->col_off, sizeof(crest_str));
    d->cols = row->fields;
    d->n_cols = row->n_fields;
    const crest_str date = d->field[CREST_FIELD_DECL_DATE];
    if (date.len && date.len == w->date_len && crest_same_bytes(date.ptr, w->date_text, date.len)) {
        d->date_days = w->date_days;
    } else {
        if (date.len == 0 || !crest_date_parse(date.ptr, date.len, &d->date_days))
            d->date_days = CREST_DATE_NONE;
        if (date.len && date.len <= sizeof w->date_text) {
            memcpy(w->date_text, date.ptr, date.len);
            w->date_len = date.len;
            w->date_days = d->date_days;
        }
    }
    if (crest_schema_reads_numbers(e)) {
        d->declared_value = parse_number(d->field[CREST_FIELD_DECLARED_VALUE]);
        if (!lean && e->policy->fx) {
            /* The one conversion: everything that compares a value (unit_value,
             * value bands, criteria and model features on declared_value) reads
             * it after this, in the base currency; no rate on the date is NaN,
             * never the raw amount. */
            const crest_str cur = d->field[CREST_FIELD_CURRENCY];
            int missing;
            d->declared_value =
                crest_fx_convert(e->policy->fx, d->declared_value, cur.ptr, cur.len, d->date_days, &missing);
            d->fx_missing = (unsigned char)missing;
        }
        d->net_mass_kg = parse_number(d->field[CREST_FIELD_NET_MASS_KG]);
        d->quantity = parse_number(d->field[CREST_FIELD_QUANTITY]);
    } else {
        d->declared_value = d->net_mass_kg = d->quantity = NAN;
    }
    d->direction = parse_direction(d->field[CREST_FIELD_DIRECTION]);
    return d;
}
