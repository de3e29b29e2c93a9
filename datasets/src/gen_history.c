/*
 * gen_history.c — derives an enterprise credit registry from a labelled
 * declaration history (the recipe for data without tiers, such as the Korea
 * Customs Service synthetic set): enterprises with enough declarations and a
 * clean record become AEO, those with a high illicit share DISHONEST, the rest
 * REGULAR, all valid from the day after the history ends.
 *
 * CSV parsing is crest's reader (csvread.h); this module only counts per enterprise. It reads
 * the whole history once and keeps one small record per enterprise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csvread.h"
#include "fnv.h"
#include "gen_internal.h"

typedef struct hist_entry {
    char *id;
    uint32_t n, n_illicit;
} hist_entry;

typedef struct hist_state {
    /* column resolution */
    const char *want[3];     /* id, label, date names chosen by the caller or NULL */
    const char *alias[3][2]; /* built-in names tried in order when want is NULL */
    int col[3];
    int in_header;
    /* current row */
    char id[256];
    size_t id_len;
    int have[3];
    int label;
    int32_t date;
    int bad_field; /* 0 ok, 1 label, 2 date, 3 id too long */
    /* table */
    hist_entry *tab;
    size_t cap, used;
    crest_gen_history_counts counts;
    crest_status status;
    crest_diag *diag;
    const char *label_name;
} hist_state;

static hist_entry *table_find(hist_state *h, const char *id, size_t len)
{
    if (h->used * 2 >= h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 1024;
        hist_entry *nt = calloc(ncap, sizeof *nt);
        if (!nt)
            return NULL;
        for (size_t i = 0; i < h->cap; i++)
            if (h->tab[i].id) {
                size_t j = crest_fnv1a(h->tab[i].id, strlen(h->tab[i].id)) & (ncap - 1);
                while (nt[j].id)
                    j = (j + 1) & (ncap - 1);
                nt[j] = h->tab[i];
            }
        free(h->tab);
        h->tab = nt;
        h->cap = ncap;
    }
    size_t j = crest_fnv1a(id, len) & (h->cap - 1);
    while (h->tab[j].id) {
        if (strlen(h->tab[j].id) == len && memcmp(h->tab[j].id, id, len) == 0)
            return &h->tab[j];
        j = (j + 1) & (h->cap - 1);
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, id, len);
    copy[len] = '\0';
    h->tab[j].id = copy;
    h->used++;
    return &h->tab[j];
}

static void on_field(hist_state *h, size_t f, const char *text, size_t len)
{
    if (h->in_header) {
        for (int k = 0; k < 3; k++) {
            if (h->col[k] >= 0)
                continue;
            if (h->want[k]) {
                if (strlen(h->want[k]) == len && memcmp(h->want[k], text, len) == 0)
                    h->col[k] = (int)f;
            } else {
                for (int a = 0; a < 2; a++)
                    if (strlen(h->alias[k][a]) == len && memcmp(h->alias[k][a], text, len) == 0)
                        h->col[k] = (int)f;
            }
        }
        return;
    }
    if ((int)f == h->col[0]) {
        if (len == 0 || len >= sizeof h->id) {
            h->bad_field = 3;
            return;
        }
        memcpy(h->id, text, len);
        h->id_len = len;
        h->have[0] = 1;
    } else if ((int)f == h->col[1]) {
        const double v = crest_parse_number(text, len);
        if (!(v >= 0.0)) {
            h->bad_field = 1;
            return;
        }
        h->label = v != 0.0;
        h->have[1] = 1;
    } else if ((int)f == h->col[2]) {
        h->date = crest_gen_parse_date(text, len);
        if (h->date == CREST_DATE_NONE) {
            h->bad_field = 2;
            return;
        }
        h->have[2] = 1;
    }
}

static const char *const csv_faults[] = {"", "a quote inside an unquoted field or text after a closing quote",
                                         "the input ends inside a quoted field", "a record over 4 MiB",
                                         "a field over 1 MiB"};

/* One record from the reader: the header, or a row to count. */
static int on_record(void *ctx, const csvread_row *row)
{
    hist_state *h = ctx;
    if (row->error != CSVREAD_OK) {
        if (row->error == CSVREAD_ERR_UNTERMINATED)
            h->status = crest_diag_set(h->diag, CREST_ERR_SYNTAX, h->label_name, row->error_line, 0,
                                       "The history ends inside a quoted field.");
        else
            h->status = crest_diag_set(h->diag, CREST_ERR_SYNTAX, h->label_name, row->error_line,
                                       row->error_column, "Malformed CSV near record %lu: %s.",
                                       (unsigned long)h->counts.n_rows + 1, csv_faults[row->error]);
        return 1;
    }
    for (size_t f = 0; f < row->n_fields; f++)
        on_field(h, f, row->fields[f].ptr ? row->fields[f].ptr : "", row->fields[f].len);
    const unsigned long line = (unsigned long)h->counts.n_rows + 2;
    if (h->in_header) {
        static const char *const what[3] = {"enterprise id", "label", "date"};
        for (int k = 0; k < 3; k++)
            if (h->col[k] < 0) {
                h->status = crest_diag_set(h->diag, CREST_ERR_MISSING, h->label_name, 1, 0,
                                           "The header has no %s column (looked for \"%s\").", what[k],
                                           h->want[k] ? h->want[k] : h->alias[k][0]);
                return 1;
            }
        h->in_header = 0;
        return 0;
    }
    if (h->bad_field || !h->have[0] || !h->have[1] || !h->have[2]) {
        const char *why = h->bad_field == 1   ? "a label that is a non-negative number"
                          : h->bad_field == 2 ? "a date written YYYY-MM-DD"
                          : h->bad_field == 3 ? "an enterprise id of 1 to 255 bytes"
                                              : "all of the id, label and date columns";
        h->status = crest_diag_set(h->diag, CREST_ERR_SYNTAX, h->label_name, line, 0,
                                   "Record %lu: expected %s.", line - 1, why);
        return 1;
    }
    hist_entry *e = table_find(h, h->id, h->id_len);
    if (!e) {
        h->status = crest_diag_set(h->diag, CREST_ERR_NOMEM, h->label_name, line, 0, "Out of memory.");
        return 1;
    }
    e->n++;
    e->n_illicit += (uint32_t)h->label;
    if (h->counts.n_rows == 0 || h->date < h->counts.first_day)
        h->counts.first_day = h->date;
    if (h->counts.n_rows == 0 || h->date > h->counts.last_day)
        h->counts.last_day = h->date;
    h->counts.n_rows++;
    h->have[0] = h->have[1] = h->have[2] = 0;
    return 0;
}

static int needs_quote_id(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
            return 1;
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const hist_entry *)a)->id, ((const hist_entry *)b)->id);
}

void crest_gen_history_opts_default(crest_gen_history_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->aeo_min_decls = 10;
    opts->dishonest_min_decls = 3;
    opts->dishonest_rate = 0.5;
    opts->valid_from_day = CREST_DATE_NONE;
}

static crest_status write_entries(hist_state *h, const crest_gen_history_opts *o, crest_gen_write_fn write,
                                  void *ctx)
{
    char buf[65536], from[11];
    size_t len = 0;
    crest_status st;
    int32_t vf = o->valid_from_day != CREST_DATE_NONE ? o->valid_from_day : h->counts.last_day + 1;
    crest_gen_format_date(vf, from);
    static const char head[] = "enterprise_id,tier,valid_from,valid_to\n";
    memcpy(buf, head, sizeof head - 1);
    len = sizeof head - 1;
    for (size_t i = 0; i < h->used; i++) {
        const hist_entry *e = &h->tab[i];
        const char *tier = "REGULAR";
        if (e->n >= o->aeo_min_decls && e->n_illicit == 0) {
            tier = "AEO";
            h->counts.n_aeo++;
        } else if (e->n >= o->dishonest_min_decls &&
                   (double)e->n_illicit > o->dishonest_rate * (double)e->n) {
            tier = "DISHONEST";
            h->counts.n_dishonest++;
        } else {
            h->counts.n_regular++;
        }
        if (len > sizeof buf - 600) {
            if ((st = write(ctx, buf, len)) != CREST_OK)
                return st;
            len = 0;
        }
        size_t id_len = strlen(e->id);
        if (needs_quote_id(e->id, id_len)) {
            buf[len++] = '"';
            for (size_t k = 0; k < id_len; k++) {
                if (e->id[k] == '"')
                    buf[len++] = '"';
                buf[len++] = e->id[k];
            }
            buf[len++] = '"';
        } else {
            memcpy(buf + len, e->id, id_len);
            len += id_len;
        }
        len += (size_t)sprintf(buf + len, ",%s,%s,\n", tier, from);
    }
    return write(ctx, buf, len);
}

crest_status crest_gen_registry_from_history(FILE *in, const char *label, const crest_gen_history_opts *opts,
                                             crest_gen_write_fn write, void *ctx,
                                             crest_gen_history_counts *counts, crest_diag *diag)
{
    crest_diag local;
    if (!diag)
        diag = &local;
    crest_diag_clear(diag);
    crest_gen_history_opts defaults;
    if (!opts) {
        crest_gen_history_opts_default(&defaults);
        opts = &defaults;
    }
    hist_state h;
    memset(&h, 0, sizeof h);
    h.want[0] = opts->id_column;
    h.want[1] = opts->label_column;
    h.want[2] = opts->date_column;
    h.alias[0][0] = "enterprise_id";
    h.alias[0][1] = "Importer ID";
    h.alias[1][0] = "illicit";
    h.alias[1][1] = "Fraud";
    h.alias[2][0] = "decl_date";
    h.alias[2][1] = "Date";
    h.col[0] = h.col[1] = h.col[2] = -1;
    h.in_header = 1;
    h.diag = diag;
    h.label_name = label ? label : "<history>";
    h.status = CREST_OK;

    csvread *reader = csvread_create(',', (size_t)1 << 20, (size_t)1 << 22, 4096, on_record, &h);
    if (!reader)
        return crest_diag_set(diag, CREST_ERR_NOMEM, h.label_name, 0, 0, "Out of memory.");
    char chunk[65536];
    size_t got;
    int rc = 0;
    while (rc == 0 && (got = fread(chunk, 1, sizeof chunk, in)) > 0)
        rc = csvread_feed(reader, chunk, got);
    if (rc == 0 && ferror(in))
        h.status = crest_diag_set(diag, CREST_ERR_IO, h.label_name, 0, 0, "Reading the history failed.");
    else if (rc == 0)
        rc = csvread_finish(reader);
    csvread_free(reader);
    if (rc == -1)
        h.status = crest_diag_set(diag, CREST_ERR_NOMEM, h.label_name, 0, 0, "Out of memory.");
    if (h.status == CREST_OK && h.in_header)
        h.status =
            crest_diag_set(diag, CREST_ERR_MISSING, h.label_name, 1, 0, "The history has no header row.");
    if (h.status == CREST_OK && h.counts.n_rows == 0)
        h.status =
            crest_diag_set(diag, CREST_ERR_MISSING, h.label_name, 2, 0, "The history has no data rows.");
    if (h.status == CREST_OK) {
        /* Compact the hash table and sort by id for a stable output. */
        size_t k = 0;
        for (size_t i = 0; i < h.cap; i++)
            if (h.tab[i].id)
                h.tab[k++] = h.tab[i];
        qsort(h.tab, k, sizeof *h.tab, cmp_entry);
        h.counts.n_enterprises = (uint32_t)k;
        h.status = write_entries(&h, opts, write, ctx);
        for (size_t i = 0; i < k; i++)
            free(h.tab[i].id);
    } else {
        for (size_t i = 0; i < h.cap; i++)
            free(h.tab[i].id);
    }
    free(h.tab);
    if (counts)
        *counts = h.counts;
    return h.status;
}
