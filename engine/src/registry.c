/*
 * registry.c — load the enterprise credit registry and answer "which tier
 * did enterprise X hold on date D". Periods are sorted by (id, valid_from) in
 * one array; an open-addressing hash table maps each id to its run of periods.
 */
#define _GNU_SOURCE /* qsort_r */
#include "crest/crest_registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_date.h"
#include "crest/crest_keyhash.h"
#include "csvread.h"

typedef struct period {
    uint32_t id_ofs; /* into ids */
    uint32_t id_len;
    int32_t from, to; /* inclusive day numbers */
    int32_t tier;
    uint32_t line;
} period;

typedef struct slot {
    uint32_t first; /* index of the first period + 1; 0 = empty */
    uint32_t count;
} slot;

struct crest_registry {
    char *ids;
    size_t ids_len, ids_cap;
    period *periods;
    size_t n_periods, periods_cap;
    slot *table;
    size_t table_mask;
    size_t n_enterprises;
};

typedef struct load_ctx {
    crest_registry *reg;
    const crest_policy *policy;
    const char *name;
    crest_diag *diag;
    int col_id, col_tier, col_from, col_to;
    int header_done;
    crest_status status;
} load_ctx;

static void lower_norm(const crest_str *s, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < s->len && k + 1 < cap; i++) {
        unsigned char c = (unsigned char)s->ptr[i];
        if (c == ' ' || c == '_' || c == '-')
            continue;
        out[k++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    out[k] = '\0';
}

static int header(load_ctx *lc, const csvread_row *row)
{
    lc->col_id = lc->col_tier = lc->col_from = lc->col_to = -1;
    for (size_t i = 0; i < row->n_fields; i++) {
        char h[64];
        lower_norm(&row->fields[i], h, sizeof h);
        if (lc->col_id < 0 && (!strcmp(h, "enterpriseid") || !strcmp(h, "enterprise") || !strcmp(h, "uscc") ||
                               !strcmp(h, "customscode") || !strcmp(h, "id") || !strcmp(h, "importerid")))
            lc->col_id = (int)i;
        else if (lc->col_tier < 0 &&
                 (!strcmp(h, "tier") || !strcmp(h, "credittier") || !strcmp(h, "creditclass")))
            lc->col_tier = (int)i;
        else if (lc->col_from < 0 && (!strcmp(h, "validfrom") || !strcmp(h, "from")))
            lc->col_from = (int)i;
        else if (lc->col_to < 0 && (!strcmp(h, "validto") || !strcmp(h, "to")))
            lc->col_to = (int)i;
    }
    const char *missing = lc->col_id < 0     ? "enterprise_id"
                          : lc->col_tier < 0 ? "tier"
                          : lc->col_from < 0 ? "valid_from"
                          : lc->col_to < 0   ? "valid_to"
                                             : NULL;
    if (missing) {
        lc->status = crest_diag_set(lc->diag, CREST_ERR_MISSING, lc->name, row->line, 0,
                                    "the registry header has no '%s' column; expected "
                                    "enterprise_id,tier,valid_from,valid_to",
                                    missing);
        return 1;
    }
    return 0;
}

static int fail_field(load_ctx *lc, const csvread_row *row, int col, crest_status st, const char *what)
{
    const crest_str *f = &row->fields[col];
    lc->status =
        crest_diag_set(lc->diag, st, lc->name, row->line, (unsigned long)col + 1, "%s (field %d: '%.*s')",
                       what, col + 1, (int)(f->len > 60 ? 60 : f->len), f->ptr ? f->ptr : "");
    return 1;
}

static int on_row(void *ctx, const csvread_row *row)
{
    load_ctx *lc = ctx;
    crest_registry *reg = lc->reg;
    if (row->error != CSVREAD_OK) {
        const int open_quote = row->error == CSVREAD_ERR_UNTERMINATED;
        lc->status = crest_diag_set(
            lc->diag, CREST_ERR_SYNTAX, lc->name, open_quote ? row->line : row->error_line,
            open_quote ? 0 : row->error_column,
            row->error == CSVREAD_ERR_UNTERMINATED
                ? "a quoted field opened on this line is not closed before the end of the file"
            : row->error == CSVREAD_ERR_RECORD_TOO_LONG || row->error == CSVREAD_ERR_FIELD_TOO_LONG
                ? "record longer than the 1 MiB limit"
                : "malformed quoting (a quote inside an unquoted "
                  "field, or text after a closing quote)");
        return 1;
    }
    if (!lc->header_done) {
        lc->header_done = 1;
        return header(lc, row);
    }
    const int need = 1 + (lc->col_id > lc->col_tier ? lc->col_id : lc->col_tier);
    const int need2 = 1 + (lc->col_from > lc->col_to ? lc->col_from : lc->col_to);
    if ((int)row->n_fields < need || (int)row->n_fields < need2) {
        lc->status = crest_diag_set(lc->diag, CREST_ERR_SYNTAX, lc->name, row->line, 0,
                                    "expected at least %d fields, found %zu", need > need2 ? need : need2,
                                    row->n_fields);
        return 1;
    }
    const crest_str *id = &row->fields[lc->col_id];
    if (id->len == 0)
        return fail_field(lc, row, lc->col_id, CREST_ERR_MISSING, "empty enterprise_id");
    if (id->len > 255)
        return fail_field(lc, row, lc->col_id, CREST_ERR_RANGE, "enterprise_id longer than 255 bytes");
    const crest_str *t = &row->fields[lc->col_tier];
    int tier = crest_policy_tier_lookup(lc->policy, t->ptr, t->len);
    if (tier < 0)
        return fail_field(lc, row, lc->col_tier, CREST_ERR_MISMATCH,
                          "tier not defined by the policy (add it as a tier or an alias)");
    period p = {0};
    p.tier = tier;
    p.line = (uint32_t)row->line;
    const crest_str *f = &row->fields[lc->col_from], *to = &row->fields[lc->col_to];
    if (f->len == 0)
        p.from = INT32_MIN + 1;
    else if (!crest_date_parse(f->ptr, f->len, &p.from))
        return fail_field(lc, row, lc->col_from, CREST_ERR_INVALID,
                          "valid_from is not a valid date (YYYY-MM-DD)");
    if (to->len == 0)
        p.to = INT32_MAX;
    else if (!crest_date_parse(to->ptr, to->len, &p.to))
        return fail_field(lc, row, lc->col_to, CREST_ERR_INVALID,
                          "valid_to is not a valid date (YYYY-MM-DD)");
    if (p.to < p.from)
        return fail_field(lc, row, lc->col_to, CREST_ERR_INVALID, "valid_to is before valid_from");
    /* Append the id bytes and the period. */
    if (reg->ids_len + id->len > UINT32_MAX)
        return fail_field(lc, row, lc->col_id, CREST_ERR_RANGE, "registry too large");
    if (reg->ids_len + id->len > reg->ids_cap) {
        size_t c = reg->ids_cap ? reg->ids_cap * 2 : 4096;
        while (c < reg->ids_len + id->len)
            c *= 2;
        char *n = realloc(reg->ids, c);
        if (!n)
            goto oom;
        reg->ids = n;
        reg->ids_cap = c;
    }
    if (reg->n_periods == reg->periods_cap) {
        size_t c = reg->periods_cap ? reg->periods_cap * 2 : 1024;
        period *n = realloc(reg->periods, c * sizeof *n);
        if (!n)
            goto oom;
        reg->periods = n;
        reg->periods_cap = c;
    }
    memcpy(reg->ids + reg->ids_len, id->ptr, id->len);
    p.id_ofs = (uint32_t)reg->ids_len;
    p.id_len = (uint32_t)id->len;
    reg->ids_len += id->len;
    reg->periods[reg->n_periods++] = p;
    return 0;
oom:
    lc->status = crest_diag_set(lc->diag, CREST_ERR_NOMEM, lc->name, row->line, 0, "out of memory");
    return 1;
}

/* Order of periods: by id (its bytes in ids), then start, then line. The ids
 * come as qsort_r's context, so loaders in several threads do not share state. */
static int cmp_period(const void *a, const void *b, void *ids)
{
    const period *x = a, *y = b;
    const char *sort_ids = ids;
    size_t n = x->id_len < y->id_len ? x->id_len : y->id_len;
    int c = memcmp(sort_ids + x->id_ofs, sort_ids + y->id_ofs, n);
    if (c)
        return c;
    if (x->id_len != y->id_len)
        return x->id_len < y->id_len ? -1 : 1;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

static uint64_t id_hash(const char *id, size_t len)
{
    return crest_keyhash_siphash24(CREST_KEYHASH_KEY(REGISTRY), 0, id, len);
}

static int same_id(const crest_registry *reg, const period *a, const period *b)
{
    return a->id_len == b->id_len && memcmp(reg->ids + a->id_ofs, reg->ids + b->id_ofs, a->id_len) == 0;
}

static crest_status build_index(crest_registry *reg, const char *name, crest_diag *diag)
{
    if (reg->n_periods)
        qsort_r(reg->periods, reg->n_periods, sizeof(period), cmp_period, reg->ids);
    size_t n_ent = 0;
    for (size_t i = 0; i < reg->n_periods; i++) {
        if (i == 0 || !same_id(reg, &reg->periods[i - 1], &reg->periods[i])) {
            n_ent++;
        } else if (reg->periods[i].from <= reg->periods[i - 1].to) {
            const period *a = &reg->periods[i - 1], *b = &reg->periods[i];
            return crest_diag_set(diag, CREST_ERR_INVALID, name, b->line > a->line ? b->line : a->line, 0,
                                  "enterprise %.*s has overlapping periods (lines %u and %u); "
                                  "a registry must say one tier per date",
                                  (int)b->id_len, reg->ids + b->id_ofs, a->line, b->line);
        }
    }
    size_t cap = 16;
    while (cap < n_ent * 2)
        cap *= 2;
    reg->table = calloc(cap, sizeof(slot));
    if (!reg->table)
        return crest_diag_set(diag, CREST_ERR_NOMEM, name, 0, 0, "out of memory");
    reg->table_mask = cap - 1;
    reg->n_enterprises = n_ent;
    for (size_t i = 0; i < reg->n_periods;) {
        size_t j = i + 1;
        while (j < reg->n_periods && same_id(reg, &reg->periods[i], &reg->periods[j]))
            j++;
        const period *p = &reg->periods[i];
        size_t h = (size_t)id_hash(reg->ids + p->id_ofs, p->id_len) & reg->table_mask;
        while (reg->table[h].first)
            h = (h + 1) & reg->table_mask;
        reg->table[h].first = (uint32_t)i + 1;
        reg->table[h].count = (uint32_t)(j - i);
        i = j;
    }
    return CREST_OK;
}

crest_status crest_registry_parse(const char *text, size_t len, const char *name, const crest_policy *policy,
                                  crest_registry **out, crest_diag *diag)
{
    *out = NULL;
    crest_diag_clear(diag);
    crest_registry *reg = calloc(1, sizeof *reg);
    if (!reg)
        return crest_diag_set(diag, CREST_ERR_NOMEM, name, 0, 0, "out of memory");
    load_ctx lc = {reg, policy, name ? name : "<registry>", diag, -1, -1, -1, -1, 0, CREST_OK};
    csvread *r = csvread_create(',', 4096, 1 << 20, 64, on_row, &lc);
    if (!r) {
        crest_registry_free(reg);
        return crest_diag_set(diag, CREST_ERR_NOMEM, name, 0, 0, "out of memory");
    }
    int rc = csvread_feed(r, text, len);
    if (rc == 0)
        rc = csvread_finish(r);
    csvread_free(r);
    crest_status st = lc.status;
    if (rc < 0)
        st = crest_diag_set(diag, CREST_ERR_NOMEM, lc.name, 0, 0, "out of memory");
    else if (st == CREST_OK && !lc.header_done)
        st =
            crest_diag_set(diag, CREST_ERR_MISSING, lc.name, 1, 0,
                           "the registry is empty; expected a header enterprise_id,tier,valid_from,valid_to");
    if (st == CREST_OK)
        st = build_index(reg, lc.name, diag);
    if (st != CREST_OK) {
        crest_registry_free(reg);
        return st;
    }
    *out = reg;
    return CREST_OK;
}

crest_status crest_registry_load(const char *path, const crest_policy *policy, crest_registry **out,
                                 crest_diag *diag)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return crest_diag_set(diag, CREST_ERR_IO, path, 0, 0, "cannot open the registry: %s",
                              strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            size_t c = cap ? cap * 2 : 1 << 16;
            char *n = realloc(buf, c);
            if (!n) {
                free(buf);
                fclose(f);
                return crest_diag_set(diag, CREST_ERR_NOMEM, path, 0, 0,
                                      "out of memory reading the registry");
            }
            buf = n;
            cap = c;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return crest_diag_set(diag, CREST_ERR_IO, path, 0, 0, "cannot read the registry");
    }
    crest_status st = crest_registry_parse(buf, len, path, policy, out, diag);
    free(buf);
    return st;
}

void crest_registry_free(crest_registry *reg)
{
    if (!reg)
        return;
    free(reg->ids);
    free(reg->periods);
    free(reg->table);
    free(reg);
}

size_t crest_registry_enterprises(const crest_registry *reg)
{
    return reg->n_enterprises;
}
size_t crest_registry_periods(const crest_registry *reg)
{
    return reg->n_periods;
}

/* Hot path: one hash and a short probe per party. */
int crest_registry_lookup(const crest_registry *reg, const char *id, size_t id_len, int32_t date_days)
{
    if (!reg->table || id_len == 0)
        return -1;
    size_t h = (size_t)id_hash(id, id_len) & reg->table_mask;
    for (;;) {
        const slot *s = &reg->table[h];
        if (!s->first)
            return -1;
        const period *p = &reg->periods[s->first - 1];
        if (p->id_len == id_len && memcmp(reg->ids + p->id_ofs, id, id_len) == 0) {
            for (uint32_t k = 0; k < s->count; k++)
                if (date_days >= p[k].from && date_days <= p[k].to)
                    return p[k].tier;
            return -2;
        }
        h = (h + 1) & reg->table_mask;
    }
}
