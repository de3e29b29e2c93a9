/*
 * lmodel.c — the logistic risk model: feature-spec parsing, feature
 * extraction from a crest_decl, out-of-fold target encoding and training
 * (through crest_logit_fit), the versioned text model file, and the
 * allocation-free scoring path with explanations.
 *
 * It does not fit coefficients itself (crest_logit.h does) and knows nothing
 * of lanes or policies; the grammar is documented in crest_lmodel.h and
 * models/README.md.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include "crest/crest_lmodel.h"
#include "crest/crest_file.h"
#include "crest/crest_risk.h"
#include "crest/crest_keyhash.h"
#include "fnv.h"
#include "textbuf.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>

#include "crest/crest_logit.h"

#define SPEC_LABEL "<feature spec>"
#define NO_COL SIZE_MAX
#define NO_CAT UINT32_MAX
#define MAX_FOLDS 64u

/* ------------------------------------------------------------------------ */
/* Types                                                                    */

typedef enum item_kind { K_TE = 0, K_CNT, K_LOG, K_NUM, K_REL, K_CAT } item_kind;
static const char *const kind_names[] = {"te", "cnt", "log", "num", "rel", "cat"};
#define N_KINDS 6

typedef enum src_kind { S_FIELD = 0, S_HS, S_COL, S_UNIT_VALUE } src_kind;

/* One source of a value: a canonical field, an HS prefix, a named column. */
typedef struct src {
    src_kind kind;
    int field;       /* S_FIELD: crest_field */
    unsigned hs_len; /* S_HS: digits kept */
    char *col_name;  /* S_COL: header name as written (trimmed) */
    size_t col_idx;  /* S_COL: bound index, NO_COL when unbound */
    size_t slot;     /* S_COL: its entry in a columns array (crest_lmodel_resolve_columns) */
} src;

/*
 * Category -> double table: open addressing with linear probing over a
 * power-of-two slot array; keys are stored once, back to back, in one blob.
 * Slots hold entry index + 1 (0 = empty).
 */
typedef struct table {
    size_t n, cap; /* entries used / allocated */
    uint64_t *hash;
    size_t *key_off;
    uint32_t *key_len;
    double *value;
    char *keys;
    size_t keys_len, keys_cap;
    uint32_t *slots;
    size_t mask; /* slot count - 1 */
} table;

typedef struct item {
    item_kind kind;
    src keys[CREST_LMODEL_MAX_KEYS]; /* te, cnt, rel */
    unsigned n_keys;
    src num;     /* log, num, rel */
    char *name;  /* canonical text of the item */
    char *words; /* the item in words (item_words), for reasons */
    /* The same in parts, to put the declaration's values in (item_key_words):
     * kw_prefix ("unit value vs " for rel, else ""), then each key's words
     * followed by its value, joined by " × ", then kw_suffix (" history"...). */
    char *kw[CREST_LMODEL_MAX_KEYS];
    char *kw_prefix;
    const char *kw_suffix;
    size_t spec_column; /* 1-based offset in the spec as written */
    unsigned n_cols;    /* model columns: 1 (te, cnt) or 2 (value, missing) */
    size_t col0;        /* first column in beta (the intercept is column 0) */
    table tab;          /* te, cnt, rel */
    double dflt;        /* value of an unseen category */
} item;

struct crest_lmodel {
    char *spec; /* canonical */
    item *items;
    size_t n_items;
    size_t n_coef; /* 1 + model columns */
    double *beta, *mean, *sd;
    crest_lmodel_train_options opts;
    size_t n_rows, n_positive;
    double prior;
    int is_map; /* a tree model's feature map ("crest-fmap"): no coefficients */
    /* Platt scaling fitted with the model (crest_lmodel_trainer_set_calibrate):
     * calibrated = sigmoid(cal_a + cal_b · logit(score)). */
    int calibrated;
    double cal_a, cal_b;
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* One field of a spec item in words ("enterprise_id" -> "importer", "col(X)" -> "X"). */
static void field_words(textbuf *tb, const char *f, size_t n)
{
    static const char *const names[][2] = {{"enterprise_id", "importer"},
                                           {"declarant_id", "broker"},
                                           {"hs_code", "HS code"},
                                           {"hs2", "HS2"},
                                           {"hs4", "HS4"},
                                           {"hs6", "HS6"},
                                           {"hs8", "HS8"},
                                           {"origin", "origin"},
                                           {"departure", "departure country"},
                                           {"office", "office"},
                                           {"declared_value", "declared value"},
                                           {"net_mass_kg", "net mass"},
                                           {"unit_value", "unit value"},
                                           {"transport_mode", "transport mode"},
                                           {"quantity", "quantity"},
                                           {"direction", "direction"},
                                           {"currency", "currency"},
                                           {"foreign_aeo", "foreign AEO"}};
    if (n > 5 && !memcmp(f, "col(", 4) && f[n - 1] == ')') {
        textbuf_append(tb, f + 4, n - 5);
        return;
    }
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strlen(names[i][0]) == n && !memcmp(names[i][0], f, n)) {
            textbuf_puts(tb, names[i][1]);
            return;
        }
    for (size_t i = 0; i < n; i++)
        textbuf_append(tb, f[i] == '_' ? " " : f + i, 1);
}

/* Fields joined by '*' in words joined by " × ". */
static void fields_words(textbuf *tb, const char *f, size_t n)
{
    for (size_t i = 0, start = 0; i <= n; i++) {
        if (i < n && f[i] != '*')
            continue;
        if (start)
            textbuf_puts(tb, " \xc3\x97 "); /* U+00D7 MULTIPLICATION SIGN */
        field_words(tb, f + start, i - start);
        start = i + 1;
    }
}

/*
 * An item's canonical text in words, for an officer reading a reason:
 * te:K -> "K history" (the target encoding is the past illicit rate of K),
 * cnt:K -> "K frequency", rel:X/K -> "X vs K", log:X, num:X, cat:X -> "X";
 * fields in words (field_words). malloc'd; NULL when out of memory.
 */
static char *item_words(const char *canon)
{
    textbuf tb;
    textbuf_init(&tb);
    const char *colon = strchr(canon, ':');
    const char *body = colon ? colon + 1 : canon;
    const size_t kind_len = colon ? (size_t)(colon - canon) : 0;
    const size_t n = strlen(body);
    if (kind_len == 3 && !memcmp(canon, "rel", 3) && strchr(body, '/')) {
        const char *slash = strchr(body, '/');
        fields_words(&tb, body, (size_t)(slash - body));
        textbuf_puts(&tb, " vs ");
        fields_words(&tb, slash + 1, n - (size_t)(slash + 1 - body));
    } else {
        fields_words(&tb, body, n);
        if (kind_len == 2 && !memcmp(canon, "te", 2))
            textbuf_puts(&tb, " history");
        else if (kind_len == 3 && !memcmp(canon, "cnt", 3))
            textbuf_puts(&tb, " frequency");
    }
    if (tb.oom) {
        textbuf_free(&tb);
        return NULL;
    }
    return textbuf_take(&tb);
}

/*
 * The parts of an item's words that its keys' values go between
 * (item_words_values): for te:hs4*origin, kw = {"HS4", "origin"} and the
 * suffix " history"; for rel:unit_value/hs4 the prefix "unit value vs " and
 * kw = {"HS4"}. Items without keys get none. Returns 0, -1 when out of memory.
 */
static int item_key_words(item *it)
{
    it->kw_suffix = it->kind == K_TE ? " history" : it->kind == K_CNT ? " frequency" : "";
    if (!it->n_keys)
        return 0;
    const char *colon = strchr(it->name, ':');
    const char *body = colon ? colon + 1 : it->name;
    textbuf tb;
    textbuf_init(&tb);
    if (it->kind == K_REL && strchr(body, '/')) {
        const char *slash = strchr(body, '/');
        fields_words(&tb, body, (size_t)(slash - body));
        textbuf_puts(&tb, " vs ");
        body = slash + 1;
    }
    textbuf_puts(&tb, "");
    if (tb.oom)
        return -1;
    it->kw_prefix = textbuf_take(&tb);
    for (unsigned k = 0; k < it->n_keys; k++) {
        const char *star = strchr(body, '*');
        const size_t n = star ? (size_t)(star - body) : strlen(body);
        textbuf_init(&tb);
        field_words(&tb, body, n);
        textbuf_puts(&tb, "");
        if (tb.oom)
            return -1;
        it->kw[k] = textbuf_take(&tb);
        body += n + (star ? 1 : 0);
    }
    return 0;
}

/* Append n bytes of s to out (cap bytes, at *len), stopping at the end of out. */
static void words_put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
    const size_t take = n < cap - 1 - *len ? n : cap - 1 - *len;
    memcpy(out + *len, s, take);
    *len += take;
}

/*
 * Hot path (explanations). The item in words with the declaration's values of
 * its keys, key being item_key's text (parts joined by 0x1f): "HS4 6204 ×
 * origin CN history", "importer 91460100MA4Q0ERR9Y history", "unit value vs
 * HS4 8528"; numeric items as their words ("declared value"). A value is cut
 * at 48 bytes (on a UTF-8 boundary); control bytes and the characters a
 * reason cannot hold (';' ',' '"' '[' ']') become '_'; an empty value is "(none)".
 * Writes a NUL-terminated text of at most cap - 1 bytes; no allocation.
 */
static void item_words_values(const item *it, const char *key, size_t key_len, char *out, size_t cap)
{
    size_t len = 0;
    if (!it->n_keys || !it->kw_prefix) {
        words_put(out, cap, &len, it->words, strlen(it->words));
        out[len] = '\0';
        return;
    }
    words_put(out, cap, &len, it->kw_prefix, strlen(it->kw_prefix));
    size_t at = 0;
    for (unsigned k = 0; k < it->n_keys; k++) {
        size_t end = at;
        while (end < key_len && key[end] != '\x1f')
            end++;
        if (k)
            words_put(out, cap, &len, " \xc3\x97 ", 4);
        words_put(out, cap, &len, it->kw[k], strlen(it->kw[k]));
        words_put(out, cap, &len, " ", 1);
        size_t n = end - at;
        if (!n) {
            words_put(out, cap, &len, "(none)", 6);
        } else {
            if (n > 48) {
                n = 48;
                while (n && ((unsigned char)key[at + n] & 0xC0) == 0x80)
                    n--; /* not inside a UTF-8 sequence */
            }
            for (size_t i = 0; i < n && len < cap - 1; i++) {
                const unsigned char c = (unsigned char)key[at + i];
                out[len++] = c < 0x20 || c == 0x7f || c == ';' || c == ',' || c == '"' || c == '[' || c == ']'
                                 ? '_'
                                 : (char)c;
            }
        }
        at = end < key_len ? end + 1 : end;
    }
    words_put(out, cap, &len, it->kw_suffix, strlen(it->kw_suffix));
    out[len] = '\0';
}

static crest_str trim(crest_str s)
{
    if (!s.ptr)
        return (crest_str){"", 0};
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t' || s.ptr[s.len - 1] == '\r' ||
                     s.ptr[s.len - 1] == '\n'))
        s.len--;
    return s;
}

/* Table slots from the low bits: FNV-1a, finalised so that alike keys spread. */
static uint64_t key_hash(const char *p, size_t n)
{
    return crest_mix64(crest_fnv1a(p, n));
}

/* SipHash-2-4 of (p, n) under the key (k0, k1): crest's keyed hash (crest_keyhash.h). */
static uint64_t siphash24(uint64_t k0, uint64_t k1, const unsigned char *p, size_t n)
{
    return crest_keyhash_siphash24(k0, k1, p, n);
}

static double logit_of(double p)
{
    return log(p) - log1p(-p);
}

/* ------------------------------------------------------------------------ */
/* Tables                                                                   */

static void table_free(table *t)
{
    free(t->hash);
    free(t->key_off);
    free(t->key_len);
    free(t->value);
    free(t->keys);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static int table_rehash(table *t, size_t n_slots)
{
    uint32_t *s = calloc(n_slots, sizeof *s);
    if (!s)
        return -1;
    free(t->slots);
    t->slots = s;
    t->mask = n_slots - 1;
    for (size_t e = 0; e < t->n; e++) {
        size_t i = (size_t)t->hash[e] & t->mask;
        while (t->slots[i])
            i = (i + 1) & t->mask;
        t->slots[i] = (uint32_t)(e + 1);
    }
    return 0;
}

/* Hot path. Entry index of key, or NO_CAT. */
static uint32_t table_find(const table *t, const char *key, size_t len, uint64_t h)
{
    if (!t->slots)
        return NO_CAT;
    for (size_t i = (size_t)h & t->mask;; i = (i + 1) & t->mask) {
        const uint32_t s = t->slots[i];
        if (!s)
            return NO_CAT;
        const uint32_t e = s - 1;
        if (t->hash[e] == h && t->key_len[e] == len &&
            (len == 0 || memcmp(t->keys + t->key_off[e], key, len) == 0))
            return e;
    }
}

/* Find or insert key (value 0 for a new one); *is_new says which.
 * Returns the entry index or NO_CAT on allocation failure / overflow. */
static uint32_t table_intern(table *t, const char *key, size_t len, int *is_new)
{
    const uint64_t h = key_hash(key, len);
    uint32_t e = table_find(t, key, len, h);
    if (is_new)
        *is_new = 0;
    if (e != NO_CAT)
        return e;
    if (t->n >= (size_t)UINT32_MAX - 2)
        return NO_CAT;
    if (t->n == t->cap) {
        const size_t nc = t->cap ? 2 * t->cap : 64;
        uint64_t *h2 = realloc(t->hash, nc * sizeof *h2);
        if (!h2)
            return NO_CAT;
        t->hash = h2;
        size_t *o2 = realloc(t->key_off, nc * sizeof *o2);
        if (!o2)
            return NO_CAT;
        t->key_off = o2;
        uint32_t *l2 = realloc(t->key_len, nc * sizeof *l2);
        if (!l2)
            return NO_CAT;
        t->key_len = l2;
        double *v2 = realloc(t->value, nc * sizeof *v2);
        if (!v2)
            return NO_CAT;
        t->value = v2;
        t->cap = nc;
    }
    if (t->keys_len + len + 1 > t->keys_cap) {
        size_t nc = t->keys_cap ? t->keys_cap : 1024;
        while (nc < t->keys_len + len + 1)
            nc *= 2;
        char *k2 = realloc(t->keys, nc);
        if (!k2)
            return NO_CAT;
        t->keys = k2;
        t->keys_cap = nc;
    }
    e = (uint32_t)t->n;
    memcpy(t->keys + t->keys_len, key, len);
    t->key_off[e] = t->keys_len;
    t->key_len[e] = (uint32_t)len;
    t->keys_len += len;
    t->hash[e] = h;
    t->value[e] = 0.0;
    t->n++;
    /* Keep the load factor at most 1/2. */
    if (!t->slots || 2 * t->n > t->mask + 1) {
        size_t ns = t->slots ? 2 * (t->mask + 1) : 128;
        while (2 * t->n > ns)
            ns *= 2;
        if (table_rehash(t, ns) != 0) {
            t->n--;
            t->keys_len -= len;
            return NO_CAT;
        }
    } else {
        size_t i = (size_t)h & t->mask;
        while (t->slots[i])
            i = (i + 1) & t->mask;
        t->slots[i] = e + 1;
    }
    if (is_new)
        *is_new = 1;
    return e;
}

/* ------------------------------------------------------------------------ */
/* Feature spec                                                             */

static void src_free(src *s)
{
    free(s->col_name);
    s->col_name = NULL;
}

static void item_free(item *it)
{
    for (unsigned k = 0; k < CREST_LMODEL_MAX_KEYS; k++)
        src_free(&it->keys[k]);
    src_free(&it->num);
    free(it->name);
    free(it->words);
    for (unsigned k = 0; k < CREST_LMODEL_MAX_KEYS; k++)
        free(it->kw[k]);
    free(it->kw_prefix);
    table_free(&it->tab);
}

static void items_free(item *items, size_t n)
{
    if (!items)
        return;
    for (size_t i = 0; i < n; i++)
        item_free(&items[i]);
    free(items);
}

static int ieq(const char *a, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(a, lit, n) == 0;
}

/* Parse one source (a KEY when is_key, else a NUM) in text [p, p+n);
 * offset: 1-based column of p in the spec. Appends its canonical text. */
static crest_status parse_src(const char *p, size_t n, int is_key, size_t offset, const char *item_text,
                              src *out, textbuf *canon, crest_diag *diag)
{
    crest_str s = trim((crest_str){p, n});
    offset += (size_t)(s.ptr - p);
    memset(out, 0, sizeof *out);
    out->col_idx = NO_COL;
    if (s.len == 0)
        return crest_diag_set(diag, CREST_ERR_SYNTAX, SPEC_LABEL, 1, offset,
                              "item \"%s\": expected a %s, found nothing.", item_text,
                              is_key ? "key (hsN, a canonical field or col(NAME))"
                                     : "number source (declared_value, unit_value, col(NAME), ...)");
    if (s.len >= 4 && strncasecmp(s.ptr, "col(", 4) == 0) {
        if (s.ptr[s.len - 1] != ')')
            return crest_diag_set(diag, CREST_ERR_SYNTAX, SPEC_LABEL, 1, offset,
                                  "item \"%s\": \"%.*s\" lacks the closing ')' of col(NAME).", item_text,
                                  (int)s.len, s.ptr);
        const crest_str name = trim((crest_str){s.ptr + 4, s.len - 5});
        if (name.len == 0)
            return crest_diag_set(diag, CREST_ERR_SYNTAX, SPEC_LABEL, 1, offset,
                                  "item \"%s\": col() needs a column name.", item_text);
        out->kind = S_COL;
        out->col_name = dup_n(name.ptr, name.len);
        if (!out->col_name)
            return crest_diag_set(diag, CREST_ERR_NOMEM, SPEC_LABEL, 1, offset, "out of memory.");
        textbuf_puts(canon, "col(");
        textbuf_append(canon, name.ptr, name.len);
        textbuf_puts(canon, ")");
        return CREST_OK;
    }
    char low[64];
    if (s.len < sizeof low) {
        for (size_t i = 0; i < s.len; i++)
            low[i] = (char)tolower((unsigned char)s.ptr[i]);
        low[s.len] = '\0';
        if (is_key && s.len >= 3 && low[0] == 'h' && low[1] == 's') {
            unsigned v = 0;
            size_t i = 2;
            for (; i < s.len && isdigit((unsigned char)low[i]) && v < 100; i++)
                v = v * 10 + (unsigned)(low[i] - '0');
            if (i == s.len) {
                if (v < 1 || v > 12)
                    return crest_diag_set(diag, CREST_ERR_INVALID, SPEC_LABEL, 1, offset,
                                          "item \"%s\": HS prefix \"%.*s\" must keep 1 to 12 "
                                          "digits (hs2, hs4, hs6, ...).",
                                          item_text, (int)s.len, s.ptr);
                out->kind = S_HS;
                out->hs_len = v;
                textbuf_puts(canon, low);
                return CREST_OK;
            }
        }
        if (!is_key && strcmp(low, "unit_value") == 0) {
            out->kind = S_UNIT_VALUE;
            textbuf_puts(canon, low);
            return CREST_OK;
        }
        const int f = crest_field_from_name(low, s.len);
        if (f >= 0) {
            out->kind = S_FIELD;
            out->field = f;
            textbuf_puts(canon, low);
            return CREST_OK;
        }
    }
    return crest_diag_set(diag, CREST_ERR_INVALID, SPEC_LABEL, 1, offset,
                          "item \"%s\": unknown %s \"%.*s\"; expected %s or col(NAME) for an "
                          "input column.",
                          item_text, is_key ? "key" : "number source", (int)s.len, s.ptr,
                          is_key ? "hsN (hs2, hs4, hs6), a canonical field such as origin"
                                 : "declared_value, net_mass_kg, quantity, unit_value, another "
                                   "canonical field");
}

/* Parse one item [p, p+n) at 1-based column `offset`. */
static crest_status parse_item(const char *p, size_t n, size_t offset, item *it, crest_diag *diag)
{
    const crest_str s = trim((crest_str){p, n});
    offset += (size_t)(s.ptr - p);
    char text[256];
    snprintf(text, sizeof text, "%.*s", (int)(s.len < 200 ? s.len : 200), s.ptr);
    memset(it, 0, sizeof *it);
    it->spec_column = offset;
    it->num.col_idx = NO_COL;
    if (s.len == 0)
        return crest_diag_set(diag, CREST_ERR_SYNTAX, SPEC_LABEL, 1, offset,
                              "empty item in the feature spec (two commas in a row, or a "
                              "trailing comma).");
    const char *colon = memchr(s.ptr, ':', s.len);
    if (!colon)
        return crest_diag_set(diag, CREST_ERR_SYNTAX, SPEC_LABEL, 1, offset,
                              "item \"%s\": expected KIND:BODY with KIND one of te, cnt, log, "
                              "num, rel, cat.",
                              text);
    const crest_str kind = trim((crest_str){s.ptr, (size_t)(colon - s.ptr)});
    int k = -1;
    for (int i = 0; i < N_KINDS; i++)
        if (ieq(kind.ptr, kind.len, kind_names[i]))
            k = i;
    if (k < 0)
        return crest_diag_set(diag, CREST_ERR_INVALID, SPEC_LABEL, 1, offset,
                              "item \"%s\": unknown kind \"%.*s\"; expected te, cnt, log, num, "
                              "rel or cat.",
                              text, (int)kind.len, kind.ptr);
    it->kind = (item_kind)k;
    textbuf canon = {0};
    textbuf_puts(&canon, kind_names[k]);
    textbuf_puts(&canon, ":");
    const char *body = colon + 1;
    const size_t body_len = s.len - (size_t)(body - s.ptr);
    const size_t body_off = offset + (size_t)(body - s.ptr);
    crest_status st = CREST_OK;
    if (it->kind == K_TE || it->kind == K_CNT || it->kind == K_CAT) {
        /* Split on '*' outside col(...). */
        size_t start = 0;
        int depth = 0;
        for (size_t i = 0; i <= body_len && st == CREST_OK; i++) {
            if (i < body_len && body[i] == '(')
                depth++;
            else if (i < body_len && body[i] == ')' && depth > 0)
                depth--;
            if (i == body_len || (body[i] == '*' && depth == 0)) {
                if (it->n_keys == CREST_LMODEL_MAX_KEYS) {
                    st = crest_diag_set(diag, CREST_ERR_RANGE, SPEC_LABEL, 1, body_off + start,
                                        "item \"%s\": an interaction holds at most %d keys.", text,
                                        CREST_LMODEL_MAX_KEYS);
                    break;
                }
                if (it->n_keys)
                    textbuf_puts(&canon, "*");
                st = parse_src(body + start, i - start, 1, body_off + start, text, &it->keys[it->n_keys],
                               &canon, diag);
                it->n_keys++;
                start = i + 1;
            }
        }
        it->n_cols = 1;
    } else if (it->kind == K_REL) {
        /* NUM/KEY: the last '/' outside col(...). */
        size_t slash = SIZE_MAX;
        int depth = 0;
        for (size_t i = 0; i < body_len; i++) {
            if (body[i] == '(')
                depth++;
            else if (body[i] == ')' && depth > 0)
                depth--;
            else if (body[i] == '/' && depth == 0)
                slash = i;
        }
        if (slash == SIZE_MAX) {
            st = crest_diag_set(diag, CREST_ERR_SYNTAX, SPEC_LABEL, 1, body_off,
                                "item \"%s\": rel needs NUM/KEY, e.g. rel:unit_value/hs4.", text);
        } else {
            st = parse_src(body, slash, 0, body_off, text, &it->num, &canon, diag);
            if (st == CREST_OK) {
                textbuf_puts(&canon, "/");
                st = parse_src(body + slash + 1, body_len - slash - 1, 1, body_off + slash + 1, text,
                               &it->keys[0], &canon, diag);
                it->n_keys = 1;
            }
        }
        it->n_cols = 2;
    } else {
        st = parse_src(body, body_len, 0, body_off, text, &it->num, &canon, diag);
        it->n_cols = 2;
    }
    if (st == CREST_OK && canon.oom)
        st = crest_diag_set(diag, CREST_ERR_NOMEM, SPEC_LABEL, 1, offset, "out of memory.");
    if (st != CREST_OK) {
        free(canon.data);
        item_free(it);
        return st;
    }
    it->name = canon.data;
    if (!(it->words = item_words(it->name)) || item_key_words(it) != 0) {
        item_free(it);
        return crest_diag_set(diag, CREST_ERR_NOMEM, SPEC_LABEL, 1, offset, "out of memory.");
    }
    return CREST_OK;
}

/* Parse a whole spec into items and its canonical text. */
static crest_status parse_spec(const char *spec, item **items_out, size_t *n_out, char **canon_out,
                               crest_diag *diag)
{
    *items_out = NULL;
    *n_out = 0;
    if (canon_out)
        *canon_out = NULL;
    if (!spec)
        return crest_diag_set(diag, CREST_ERR_MISSING, SPEC_LABEL, 0, 0, "no feature spec was given.");
    item *items = calloc(CREST_LMODEL_MAX_ITEMS, sizeof *items);
    if (!items)
        return crest_diag_set(diag, CREST_ERR_NOMEM, SPEC_LABEL, 0, 0, "out of memory.");
    size_t n = 0, start = 0;
    const size_t len = strlen(spec);
    int depth = 0;
    crest_status st = CREST_OK;
    if (trim((crest_str){spec, len}).len == 0)
        st = crest_diag_set(diag, CREST_ERR_MISSING, SPEC_LABEL, 1, 1,
                            "the feature spec is empty; name at least one item, e.g. te:hs6.");
    for (size_t i = 0; i <= len && st == CREST_OK; i++) {
        if (i < len && spec[i] == '(')
            depth++;
        else if (i < len && spec[i] == ')' && depth > 0)
            depth--;
        if (i == len || (spec[i] == ',' && depth == 0)) {
            if (n == CREST_LMODEL_MAX_ITEMS) {
                st = crest_diag_set(diag, CREST_ERR_RANGE, SPEC_LABEL, 1, start + 1,
                                    "the feature spec holds more than %d items.", CREST_LMODEL_MAX_ITEMS);
                break;
            }
            st = parse_item(spec + start, i - start, start + 1, &items[n], diag);
            if (st != CREST_OK)
                break;
            for (size_t j = 0; j < n; j++) {
                if (strcmp(items[j].name, items[n].name) == 0) {
                    st = crest_diag_set(diag, CREST_ERR_INVALID, SPEC_LABEL, 1, items[n].spec_column,
                                        "item \"%s\" (item %zu) repeats item %zu.", items[n].name, n + 1,
                                        j + 1);
                    break;
                }
            }
            n++;
            start = i + 1;
        }
    }
    if (st == CREST_OK && depth != 0)
        st = crest_diag_set(diag, CREST_ERR_SYNTAX, SPEC_LABEL, 1, len,
                            "the feature spec ends inside col(...).");
    if (st == CREST_OK && canon_out) {
        textbuf c = {0};
        for (size_t i = 0; i < n; i++) {
            if (i)
                textbuf_puts(&c, ", ");
            textbuf_puts(&c, items[i].name);
        }
        if (c.oom || !c.data) {
            free(c.data);
            st = crest_diag_set(diag, CREST_ERR_NOMEM, SPEC_LABEL, 0, 0, "out of memory.");
        } else {
            *canon_out = c.data;
        }
    }
    if (st != CREST_OK) {
        items_free(items, n);
        return st;
    }
    /* Assign model columns, and the named columns' slots in spec order. */
    size_t col = 1, slot = 0;
    for (size_t i = 0; i < n; i++) {
        items[i].col0 = col;
        col += items[i].n_cols;
        for (unsigned k = 0; k < items[i].n_keys; k++)
            if (items[i].keys[k].kind == S_COL)
                items[i].keys[k].slot = slot++;
        if (items[i].num.kind == S_COL)
            items[i].num.slot = slot++;
    }
    *items_out = items;
    *n_out = n;
    return CREST_OK;
}

crest_status crest_lmodel_spec_canonical(const char *feature_spec, char *buf, size_t buf_cap,
                                         crest_diag *diag)
{
    crest_diag_clear(diag);
    item *items;
    size_t n;
    char *canon;
    crest_status st = parse_spec(feature_spec, &items, &n, &canon, diag);
    if (st != CREST_OK)
        return st;
    items_free(items, n);
    const size_t len = strlen(canon);
    if (!buf || len + 1 > buf_cap) {
        free(canon);
        return crest_diag_set(diag, CREST_ERR_RANGE, SPEC_LABEL, 0, 0,
                              "the canonical spec needs %zu bytes, the buffer holds %zu.", len + 1, buf_cap);
    }
    memcpy(buf, canon, len + 1);
    free(canon);
    return CREST_OK;
}

/* ------------------------------------------------------------------------ */
/* Binding                                                                  */

/* The column of a named source in header, or a diagnostic. */
static crest_status find_col(const src *s, const item *it, const crest_str *header, size_t n_cols,
                             size_t *col, crest_diag *diag)
{
    *col = NO_COL;
    const size_t want = strlen(s->col_name);
    for (size_t c = 0; c < n_cols && header; c++) {
        const crest_str h = trim(header[c]);
        if (h.len == want && strncasecmp(h.ptr, s->col_name, want) == 0) {
            *col = c;
            return CREST_OK;
        }
    }
    return crest_diag_set(diag, CREST_ERR_MISMATCH, SPEC_LABEL, 1, it->spec_column,
                          "item \"%s\": the input has no column \"%s\".", it->name, s->col_name);
}

static void src_columns(const src *s, const char *user, crest_column_fn fn, void *ctx)
{
    switch (s->kind) {
    case S_FIELD:
        fn(ctx, user, s->field, NULL);
        break;
    case S_HS:
        fn(ctx, user, CREST_FIELD_HS_CODE, NULL);
        break;
    case S_COL:
        fn(ctx, user, -1, s->col_name);
        break;
    case S_UNIT_VALUE:
        fn(ctx, user, CREST_FIELD_DECLARED_VALUE, NULL);
        fn(ctx, user, CREST_FIELD_NET_MASS_KG, NULL);
        break;
    }
}

void crest_lmodel_columns(const crest_lmodel *m, crest_column_fn fn, void *ctx)
{
    for (size_t i = 0; m && i < m->n_items; i++) {
        const item *it = &m->items[i];
        char user[160];
        snprintf(user, sizeof user, "model feature %s", it->name);
        for (unsigned k = 0; k < it->n_keys; k++)
            src_columns(&it->keys[k], user, fn, ctx);
        if (it->kind == K_LOG || it->kind == K_NUM || it->kind == K_REL)
            src_columns(&it->num, user, fn, ctx);
    }
}

/* The named sources of items, in slot order, with a visitor: resolve
 * (cols[slot] from the header) or store (col_idx from cols[slot]). */
static crest_status bind_items(item *items, size_t n_items, const crest_str *header, size_t n_cols,
                               size_t *cols, int store, crest_diag *diag)
{
    for (size_t i = 0; i < n_items; i++) {
        item *it = &items[i];
        const int has_num = it->kind == K_LOG || it->kind == K_NUM || it->kind == K_REL;
        for (unsigned k = 0; k <= it->n_keys; k++) {
            src *s = k < it->n_keys ? &it->keys[k] : has_num ? &it->num : NULL;
            if (!s || s->kind != S_COL)
                continue;
            if (store) {
                s->col_idx = cols[s->slot];
                continue;
            }
            const crest_status st = find_col(s, it, header, n_cols, &cols[s->slot], diag);
            if (st != CREST_OK)
                return st;
        }
    }
    return CREST_OK;
}

/* Resolve the named sources and store them into the items (a model, or a trainer's). */
static crest_status bind_store(item *items, size_t n_items, const crest_str *header, size_t n_cols,
                               crest_diag *diag)
{
    size_t n = 0;
    for (size_t i = 0; i < n_items; i++) {
        for (unsigned k = 0; k < items[i].n_keys; k++)
            n += items[i].keys[k].kind == S_COL;
        n += items[i].num.kind == S_COL;
    }
    size_t *cols = malloc((n ? n : 1) * sizeof *cols);
    if (!cols)
        return crest_diag_set(diag, CREST_ERR_NOMEM, SPEC_LABEL, 0, 0, "out of memory.");
    for (size_t k = 0; k < n; k++)
        cols[k] = NO_COL;
    const crest_status st = bind_items(items, n_items, header, n_cols, cols, 0, diag);
    bind_items(items, n_items, NULL, 0, cols, 1, NULL);
    free(cols);
    return st;
}

crest_status crest_lmodel_bind(crest_lmodel *m, const crest_str *header, size_t n_cols, crest_diag *diag)
{
    crest_diag_clear(diag);
    if (!m)
        return crest_diag_set(diag, CREST_ERR_STATE, SPEC_LABEL, 0, 0, "no model to bind.");
    return bind_store(m->items, m->n_items, header, n_cols, diag);
}

size_t crest_lmodel_column_count(const crest_lmodel *m)
{
    size_t n = 0;
    for (size_t i = 0; m && i < m->n_items; i++) {
        for (unsigned k = 0; k < m->items[i].n_keys; k++)
            n += m->items[i].keys[k].kind == S_COL;
        n += m->items[i].num.kind == S_COL;
    }
    return n;
}

crest_status crest_lmodel_resolve_columns(const crest_lmodel *m, const crest_str *header, size_t n_cols,
                                          size_t *cols, crest_diag *diag)
{
    crest_diag_clear(diag);
    if (!m)
        return crest_diag_set(diag, CREST_ERR_STATE, SPEC_LABEL, 0, 0, "no model to bind.");
    for (size_t k = 0, n = crest_lmodel_column_count(m); k < n; k++)
        cols[k] = NO_COL;
    /* Resolving writes only cols (store = 0): the model stays as it is. */
    return bind_items((item *)m->items, m->n_items, header, n_cols, cols, 0, diag);
}

/* ------------------------------------------------------------------------ */
/* Feature extraction (hot path: stack buffers only)                        */

/* Text of a key source for one declaration; HS prefixes are written to hsbuf. */
static crest_str src_text(const src *s, const size_t *cols, const crest_decl *d, char *hsbuf)
{
    switch (s->kind) {
    case S_FIELD:
        return trim(d->field[s->field]);
    case S_HS: {
        const crest_str hs = d->field[CREST_FIELD_HS_CODE];
        size_t n = 0;
        for (size_t i = 0; hs.ptr && i < hs.len && n < s->hs_len; i++)
            if (isdigit((unsigned char)hs.ptr[i]))
                hsbuf[n++] = hs.ptr[i];
        return (crest_str){hsbuf, n};
    }
    case S_COL: {
        const size_t col = cols ? cols[s->slot] : s->col_idx;
        if (col != NO_COL && d->cols && col < d->n_cols)
            return trim(d->cols[col]);
        return (crest_str){"", 0};
    }
    case S_UNIT_VALUE:
        break;
    }
    return (crest_str){"", 0};
}

/* Hot path. The item's category key written into buf (parts joined by 0x1f,
 * truncated at CREST_LMODEL_KEY_MAX); returns its length. */
static size_t item_key(const item *it, const size_t *cols, const crest_decl *d, char *buf)
{
    size_t len = 0;
    for (unsigned k = 0; k < it->n_keys; k++) {
        char hsbuf[16];
        const crest_str t = src_text(&it->keys[k], cols, d, hsbuf);
        if (k && len < CREST_LMODEL_KEY_MAX)
            buf[len++] = '\x1f';
        const size_t take = t.len < CREST_LMODEL_KEY_MAX - len ? t.len : CREST_LMODEL_KEY_MAX - len;
        if (take)
            memcpy(buf + len, t.ptr, take);
        len += take;
    }
    return len;
}

/* Hot path. The raw number of a NUM source, NaN when missing or malformed. */
static double src_number(const src *s, const size_t *cols, const crest_decl *d)
{
    switch (s->kind) {
    case S_UNIT_VALUE:
        if (d->net_mass_kg > 0 && isfinite(d->declared_value) && isfinite(d->net_mass_kg))
            return d->declared_value / d->net_mass_kg;
        return NAN;
    case S_FIELD:
        if (s->field == CREST_FIELD_DECLARED_VALUE)
            return isfinite(d->declared_value) ? d->declared_value : NAN;
        if (s->field == CREST_FIELD_NET_MASS_KG)
            return isfinite(d->net_mass_kg) ? d->net_mass_kg : NAN;
        if (s->field == CREST_FIELD_QUANTITY)
            return isfinite(d->quantity) ? d->quantity : NAN;
        return crest_parse_number(d->field[s->field].ptr, d->field[s->field].len);
    case S_COL: {
        const size_t col = cols ? cols[s->slot] : s->col_idx;
        if (col != NO_COL && d->cols && col < d->n_cols)
            return crest_parse_number(d->cols[col].ptr, d->cols[col].len);
        return NAN;
    }
    case S_HS:
        break;
    }
    return NAN;
}

/* Hot path. The transformed number of a log/num/rel item before centring. */
static double item_number(const item *it, const size_t *cols, const crest_decl *d)
{
    const double x = src_number(&it->num, cols, d);
    if (it->kind == K_NUM)
        return x;
    return x > 0 ? log(x) : NAN;
}

/* ------------------------------------------------------------------------ */
/* Scoring                                                                  */

double crest_lmodel_score(const crest_lmodel *m, const crest_decl *decl, crest_lmodel_explain *explain)
{
    return crest_lmodel_score_columns(m, NULL, decl, explain);
}

/* Hot path: allocates nothing, reads the model only. */
double crest_lmodel_score_columns(const crest_lmodel *m, const size_t *cols, const crest_decl *decl,
                                  crest_lmodel_explain *explain)
{
    double contrib[CREST_LMODEL_MAX_ITEMS];
    char key[CREST_LMODEL_KEY_MAX];
    double z = m->beta[0];
    for (size_t i = 0; i < m->n_items; i++) {
        const item *it = &m->items[i];
        const size_t c = it->col0;
        double part;
        if (it->kind == K_TE || it->kind == K_CNT || it->kind == K_CAT) {
            const size_t len = item_key(it, cols, decl, key);
            const uint32_t e = table_find(&it->tab, key, len, key_hash(key, len));
            const double v = e == NO_CAT ? it->dflt : it->tab.value[e];
            part = m->beta[c] * (v - m->mean[c]) / m->sd[c];
        } else {
            double v = item_number(it, cols, decl);
            if (it->kind == K_REL && !isnan(v)) {
                const size_t len = item_key(it, cols, decl, key);
                const uint32_t e = table_find(&it->tab, key, len, key_hash(key, len));
                v -= e == NO_CAT ? it->dflt : it->tab.value[e];
            }
            if (isnan(v))
                part = m->beta[c + 1] * (1.0 - m->mean[c + 1]) / m->sd[c + 1];
            else
                part = m->beta[c] * (v - m->mean[c]) / m->sd[c] +
                       m->beta[c + 1] * (0.0 - m->mean[c + 1]) / m->sd[c + 1];
        }
        contrib[i] = part;
        z += part;
    }
    if (explain) {
        /* Selection of the top K positive contributions, largest first. */
        explain->n = 0;
        explain->has_text = 0;
        for (size_t k = 0; k < CREST_LMODEL_TOP_K; k++) {
            size_t best = SIZE_MAX;
            for (size_t i = 0; i < m->n_items; i++) {
                if (!(contrib[i] > 0))
                    continue;
                if (best == SIZE_MAX || contrib[i] > contrib[best])
                    best = i;
            }
            if (best == SIZE_MAX)
                break;
            explain->feature[k] = m->items[best].name;
            explain->words[k] = m->items[best].words;
            explain->item[k] = best;
            explain->contribution[k] = contrib[best];
            explain->n++;
            contrib[best] = -INFINITY;
        }
        for (size_t k = explain->n; k < CREST_LMODEL_TOP_K; k++) {
            explain->feature[k] = NULL;
            explain->words[k] = NULL;
            explain->item[k] = 0;
            explain->contribution[k] = 0.0;
        }
    }
    return crest_logit_sigmoid(z);
}

void crest_lmodel_explain_values(const crest_lmodel *m, const size_t *cols, const crest_decl *decl,
                                 crest_lmodel_explain *explain)
{
    char key[CREST_LMODEL_KEY_MAX];
    for (size_t k = 0; k < explain->n && k < CREST_LMODEL_TOP_K; k++) {
        const item *it = &m->items[explain->item[k] < m->n_items ? explain->item[k] : 0];
        const size_t klen = it->n_keys ? item_key(it, cols, decl, key) : 0;
        item_words_values(it, key, klen, explain->text[k], sizeof explain->text[k]);
    }
    explain->has_text = 1;
}

/* ------------------------------------------------------------------------ */
/* Model object                                                             */

void crest_lmodel_train_options_default(crest_lmodel_train_options *opts)
{
    if (!opts)
        return;
    opts->l2_lambda = 1.0;
    opts->smoothing = 20.0;
    opts->folds = 5;
    opts->seed = 0x637265737420u;
    opts->max_iter = 0;
}

static crest_status check_options(const crest_lmodel_train_options *o, crest_diag *diag, const char *file,
                                  unsigned long line)
{
    if (!(o->l2_lambda >= 0) || !isfinite(o->l2_lambda))
        return crest_diag_set(diag, CREST_ERR_RANGE, file, line, 0,
                              "l2_lambda must be a finite number >= 0, not %g.", o->l2_lambda);
    if (!(o->smoothing >= 0) || !isfinite(o->smoothing))
        return crest_diag_set(diag, CREST_ERR_RANGE, file, line, 0,
                              "smoothing must be a finite number >= 0, not %g.", o->smoothing);
    if (o->folds < 2 || o->folds > MAX_FOLDS)
        return crest_diag_set(diag, CREST_ERR_RANGE, file, line, 0, "folds must be between 2 and %u, not %u.",
                              MAX_FOLDS, o->folds);
    return CREST_OK;
}

void crest_lmodel_free(crest_lmodel *m)
{
    if (!m)
        return;
    items_free(m->items, m->n_items);
    free(m->spec);
    free(m->beta);
    free(m->mean);
    free(m->sd);
    free(m);
}

int crest_lmodel_calibration(const crest_lmodel *m, double *a, double *b)
{
    if (!m || !m->calibrated)
        return 0;
    if (a)
        *a = m->cal_a;
    if (b)
        *b = m->cal_b;
    return 1;
}

/* Hot path. */
double crest_lmodel_calibrate(const crest_lmodel *m, double p)
{
    if (!m || !m->calibrated || isnan(p))
        return NAN;
    const double pc = fmin(fmax(p, 1e-300), 1 - 0x1p-53); /* a finite logit */
    return crest_logit_sigmoid(m->cal_a + m->cal_b * logit_of(pc));
}

const char *crest_lmodel_feature_spec(const crest_lmodel *m)
{
    return m ? m->spec : NULL;
}

size_t crest_lmodel_n_features(const crest_lmodel *m)
{
    return m ? m->n_coef - 1 : 0;
}

size_t crest_lmodel_n_items(const crest_lmodel *m)
{
    return m ? m->n_items : 0;
}

/* A model with parsed items and zeroed coefficient arrays. */
static crest_status model_new(const char *spec, crest_lmodel **out, crest_diag *diag)
{
    *out = NULL;
    crest_lmodel *m = calloc(1, sizeof *m);
    if (!m)
        return crest_diag_set(diag, CREST_ERR_NOMEM, SPEC_LABEL, 0, 0, "out of memory.");
    crest_status st = parse_spec(spec, &m->items, &m->n_items, &m->spec, diag);
    if (st != CREST_OK) {
        free(m);
        return st;
    }
    m->n_coef = 1;
    for (size_t i = 0; i < m->n_items; i++)
        m->n_coef += m->items[i].n_cols;
    m->beta = calloc(m->n_coef, sizeof *m->beta);
    m->mean = calloc(m->n_coef, sizeof *m->mean);
    m->sd = calloc(m->n_coef, sizeof *m->sd);
    if (!m->beta || !m->mean || !m->sd) {
        crest_lmodel_free(m);
        return crest_diag_set(diag, CREST_ERR_NOMEM, SPEC_LABEL, 0, 0, "out of memory.");
    }
    for (size_t c = 0; c < m->n_coef; c++)
        m->sd[c] = 1.0;
    *out = m;
    return CREST_OK;
}

/* ------------------------------------------------------------------------ */
/* Training                                                                 */

/* Per-item training state: category ids interned in the model item's table,
 * with per-fold counts for te/cnt and per-row values. */
typedef struct titem {
    uint32_t *fold_n, *fold_pos; /* [cat * folds + f] */
    size_t cats_cap;
} titem;

struct crest_lmodel_trainer {
    crest_lmodel *m; /* spec, binding and tables under construction */
    crest_lmodel_train_options opts;
    titem *ti;
    size_t n_rows, rows_cap, n_positive;
    uint8_t *fold, *label;
    uint32_t *cat; /* [row * n_items + i], NO_CAT when the item has no key */
    double *val;   /* [row * n_items + i], NaN when missing or not numeric */
    int calibrate; /* fit Platt scaling on cross-fitted scores (trainer_set_calibrate) */
};

crest_status crest_lmodel_trainer_create(const char *feature_spec, const crest_str *header, size_t n_cols,
                                         const crest_lmodel_train_options *opts, crest_lmodel_trainer **out,
                                         crest_diag *diag)
{
    crest_diag_clear(diag);
    if (!out)
        return crest_diag_set(diag, CREST_ERR_INVALID, SPEC_LABEL, 0, 0, "out is NULL.");
    *out = NULL;
    crest_lmodel_train_options o;
    crest_lmodel_train_options_default(&o);
    if (opts)
        o = *opts;
    crest_status st = check_options(&o, diag, "<train options>", 0);
    if (st != CREST_OK)
        return st;
    crest_lmodel_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return crest_diag_set(diag, CREST_ERR_NOMEM, SPEC_LABEL, 0, 0, "out of memory.");
    t->opts = o;
    st = model_new(feature_spec, &t->m, diag);
    if (st == CREST_OK)
        st = bind_store(t->m->items, t->m->n_items, header, n_cols, diag);
    if (st == CREST_OK) {
        t->m->opts = o;
        t->ti = calloc(t->m->n_items, sizeof *t->ti);
        if (!t->ti)
            st = crest_diag_set(diag, CREST_ERR_NOMEM, SPEC_LABEL, 0, 0, "out of memory.");
    }
    if (st != CREST_OK) {
        crest_lmodel_trainer_free(t);
        return st;
    }
    *out = t;
    return CREST_OK;
}

void crest_lmodel_trainer_free(crest_lmodel_trainer *t)
{
    if (!t)
        return;
    if (t->ti) {
        for (size_t i = 0; i < t->m->n_items; i++) {
            free(t->ti[i].fold_n);
            free(t->ti[i].fold_pos);
        }
        free(t->ti);
    }
    crest_lmodel_free(t->m);
    free(t->fold);
    free(t->label);
    free(t->cat);
    free(t->val);
    free(t);
}

/* The row's fold: SipHash of decl_id (or, when it is empty, of all columns)
 * keyed by the seed, so it depends neither on row order nor on the run. */
static unsigned row_fold(const crest_lmodel_trainer *t, const crest_decl *d)
{
    const uint64_t k0 = t->opts.seed, k1 = t->opts.seed ^ CREST_KEYHASH_KEY(FOLD);
    const crest_str id = trim(d->field[CREST_FIELD_DECL_ID]);
    uint64_t h;
    if (id.len) {
        h = siphash24(k0, k1, (const unsigned char *)id.ptr, id.len);
    } else {
        h = siphash24(k0, k1, (const unsigned char *)"", 0);
        for (size_t c = 0; d->cols && c < d->n_cols; c++)
            h ^= siphash24(k0 + c + 1, k1, (const unsigned char *)d->cols[c].ptr,
                           d->cols[c].ptr ? d->cols[c].len : 0);
    }
    return (unsigned)(h % t->opts.folds);
}

crest_status crest_lmodel_trainer_add(crest_lmodel_trainer *t, const crest_decl *decl, int label)
{
    if (!t || !decl)
        return CREST_ERR_INVALID;
    if (label != 0 && label != 1)
        return CREST_ERR_INVALID;
    const size_t ni = t->m->n_items;
    const unsigned K = t->opts.folds;
    if (t->n_rows == t->rows_cap) {
        const size_t nc = t->rows_cap ? 2 * t->rows_cap : 1024;
        uint8_t *f2 = realloc(t->fold, nc);
        if (!f2)
            return CREST_ERR_NOMEM;
        t->fold = f2;
        uint8_t *l2 = realloc(t->label, nc);
        if (!l2)
            return CREST_ERR_NOMEM;
        t->label = l2;
        uint32_t *c2 = realloc(t->cat, nc * ni * sizeof *c2);
        if (!c2)
            return CREST_ERR_NOMEM;
        t->cat = c2;
        double *v2 = realloc(t->val, nc * ni * sizeof *v2);
        if (!v2)
            return CREST_ERR_NOMEM;
        t->val = v2;
        t->rows_cap = nc;
    }
    const size_t r = t->n_rows;
    const unsigned f = row_fold(t, decl);
    char key[CREST_LMODEL_KEY_MAX];
    for (size_t i = 0; i < ni; i++) {
        item *it = &t->m->items[i];
        titem *ti = &t->ti[i];
        uint32_t cat = NO_CAT;
        double v = NAN;
        if (it->n_keys) {
            const size_t len = item_key(it, NULL, decl, key);
            int is_new;
            cat = table_intern(&it->tab, key, len, &is_new);
            if (cat == NO_CAT)
                return it->tab.n >= (size_t)UINT32_MAX - 2 ? CREST_ERR_RANGE : CREST_ERR_NOMEM;
            if (cat >= ti->cats_cap) {
                const size_t nc = ti->cats_cap ? 2 * ti->cats_cap : 256;
                uint32_t *n2 = realloc(ti->fold_n, nc * K * sizeof *n2);
                if (!n2)
                    return CREST_ERR_NOMEM;
                ti->fold_n = n2;
                uint32_t *p2 = realloc(ti->fold_pos, nc * K * sizeof *p2);
                if (!p2)
                    return CREST_ERR_NOMEM;
                ti->fold_pos = p2;
                memset(ti->fold_n + ti->cats_cap * K, 0, (nc - ti->cats_cap) * K * sizeof *n2);
                memset(ti->fold_pos + ti->cats_cap * K, 0, (nc - ti->cats_cap) * K * sizeof *p2);
                ti->cats_cap = nc;
            }
            ti->fold_n[(size_t)cat * K + f]++;
            ti->fold_pos[(size_t)cat * K + f] += (uint32_t)label;
        }
        if (it->kind == K_LOG || it->kind == K_NUM || it->kind == K_REL)
            v = item_number(it, NULL, decl);
        t->cat[r * ni + i] = cat;
        t->val[r * ni + i] = v;
    }
    t->fold[r] = (uint8_t)f;
    t->label[r] = (uint8_t)label;
    t->n_positive += (size_t)label;
    t->n_rows++;
    return CREST_OK;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_sorted(const double *v, size_t n)
{
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Centres of a rel item: per category, the median of the row values shrunk
 * toward the global median with `smoothing` pseudo-rows; the global median is
 * the default. Only rows with use[r] != 0 count (use NULL: all rows).
 * Values go to centre[cat] (it->tab.n of them) and *dflt. */
static crest_status rel_centres(const crest_lmodel_trainer *t, size_t i, const uint8_t *use, double *centre,
                                double *dflt)
{
    const item *it = &t->m->items[i];
    const size_t ni = t->m->n_items, n = t->n_rows, n_cats = it->tab.n;
    const double s = t->opts.smoothing;
    size_t *start = calloc(n_cats + 1, sizeof *start);
    double *vals = malloc((n ? n : 1) * sizeof *vals);
    size_t *fill = calloc(n_cats + 1, sizeof *fill);
    if (!start || !vals || !fill) {
        free(start);
        free(vals);
        free(fill);
        return CREST_ERR_NOMEM;
    }
    size_t n_ok = 0;
    for (size_t r = 0; r < n; r++)
        if ((!use || use[r]) && !isnan(t->val[r * ni + i])) {
            start[t->cat[r * ni + i] + 1]++;
            vals[n_ok++] = t->val[r * ni + i];
        }
    qsort(vals, n_ok, sizeof *vals, cmp_double);
    const double g = n_ok ? median_sorted(vals, n_ok) : 0.0;
    for (size_t c = 0; c < n_cats; c++)
        start[c + 1] += start[c];
    for (size_t r = 0; r < n; r++)
        if ((!use || use[r]) && !isnan(t->val[r * ni + i])) {
            const uint32_t c = t->cat[r * ni + i];
            vals[start[c] + fill[c]++] = t->val[r * ni + i];
        }
    for (size_t c = 0; c < n_cats; c++) {
        const size_t k = start[c + 1] - start[c];
        if (k == 0) {
            centre[c] = g;
            continue;
        }
        qsort(vals + start[c], k, sizeof *vals, cmp_double);
        const double med = median_sorted(vals + start[c], k);
        centre[c] = ((double)k * med + s * g) / ((double)k + s);
    }
    *dflt = g;
    free(start);
    free(vals);
    free(fill);
    return CREST_OK;
}

/* The training value of (row, item) for te and cnt: out of fold, i.e. from
 * the counts of the other K - 1 folds only, so the row never sees its own
 * label (a category seen once gets exactly the prior). */
static double oof_value(const crest_lmodel_trainer *t, size_t r, size_t i, double prior)
{
    const item *it = &t->m->items[i];
    const titem *ti = &t->ti[i];
    const unsigned K = t->opts.folds;
    const size_t cat = t->cat[r * t->m->n_items + i], f = t->fold[r];
    uint64_t cn = 0, cp = 0;
    for (unsigned k = 0; k < K; k++) {
        cn += ti->fold_n[cat * K + k];
        cp += ti->fold_pos[cat * K + k];
    }
    const double on = (double)(cn - ti->fold_n[cat * K + f]);
    const double op = (double)(cp - ti->fold_pos[cat * K + f]);
    if (it->kind == K_TE)
        return logit_of((op + t->opts.smoothing * prior) / (on + t->opts.smoothing));
    /* Counts out of fold, scaled to the full training size. */
    return log1p(on * (double)K / (double)(K - 1));
}

crest_status crest_lmodel_trainer_value(const crest_lmodel_trainer *t, size_t row, size_t item_index,
                                        double *value)
{
    if (!t || !value || row >= t->n_rows || item_index >= t->m->n_items)
        return CREST_ERR_RANGE;
    const item *it = &t->m->items[item_index];
    if (it->kind == K_CAT) {
        *value = NAN; /* codes exist only in a feature map (crest_lmodel_trainer_tree_data) */
        return CREST_OK;
    }
    if (it->kind == K_TE || it->kind == K_CNT) {
        *value = oof_value(t, row, item_index, (double)t->n_positive / (double)t->n_rows);
        return CREST_OK;
    }
    double v = t->val[row * t->m->n_items + item_index];
    if (it->kind == K_REL && !isnan(v))
        v -= it->tab.value[t->cat[row * t->m->n_items + item_index]];
    *value = v;
    return CREST_OK;
}

/* Standardise item i's value column of X over its non-missing rows; a
 * missing value becomes the mean (0 after standardising) and the indicator
 * carries it. Indicator columns are left as 0/1 (mean 0, sd 1). */
static void standardise_item(crest_lmodel *m, gsl_matrix *X, size_t n, size_t i)
{
    const item *it = &m->items[i];
    const size_t c = it->col0;
    double s1 = 0, s2 = 0;
    size_t k = 0;
    for (size_t r = 0; r < n; r++) {
        const double v = gsl_matrix_get(X, r, c);
        if (!isnan(v)) {
            s1 += v;
            k++;
        }
    }
    const double mu = k ? s1 / (double)k : 0.0;
    for (size_t r = 0; r < n; r++) {
        const double v = gsl_matrix_get(X, r, c);
        if (!isnan(v))
            s2 += (v - mu) * (v - mu);
    }
    double sd = k > 1 ? sqrt(s2 / (double)(k - 1)) : 0.0;
    if (!(sd > 1e-12) || !isfinite(sd))
        sd = 1.0; /* a constant column: centred to 0, the penalty keeps its beta at 0 */
    m->mean[c] = mu;
    m->sd[c] = sd;
    for (size_t r = 0; r < n; r++) {
        const double v = gsl_matrix_get(X, r, c);
        gsl_matrix_set(X, r, c, isnan(v) ? 0.0 : (v - mu) / sd);
    }
    if (it->n_cols == 2) {
        m->mean[c + 1] = 0.0;
        m->sd[c + 1] = 1.0;
    }
}

void crest_lmodel_trainer_set_calibrate(crest_lmodel_trainer *t, int on)
{
    if (t)
        t->calibrate = on != 0;
}

/*
 * Platt scaling on cross-fitted scores (crest_lmodel_trainer_set_calibrate).
 * X is the standardised training design matrix (out-of-fold encodings), y the
 * labels. For each encoding fold k the coefficients are refitted with case
 * weight 0 on fold k's rows; they give those rows their held-out log-odds.
 * The label's logistic regression on the held-out log-odds sets the model's
 * (cal_a, cal_b). One caveat, the usual one of target encoding: a held-out
 * row's label is in the encodings of the other folds' rows, though never in
 * its own encoding nor among the rows its coefficients were fitted on.
 */
static crest_status cross_fit_platt(crest_lmodel_trainer *t, const gsl_matrix *X, const gsl_vector *y,
                                    crest_lmodel_fit_report *report, crest_diag *diag)
{
    crest_lmodel *m = t->m;
    const size_t n = X->size1, p = X->size2;
    const unsigned K = t->opts.folds;
    double *margin = malloc(n * sizeof *margin);
    double *label = malloc(n * sizeof *label);
    gsl_vector *w = gsl_vector_alloc(n);
    gsl_vector *beta = gsl_vector_alloc(p);
    crest_status st = CREST_OK;
    if (!margin || !label || !w || !beta)
        st = crest_diag_set(diag, CREST_ERR_NOMEM, "<lmodel_fit>", 0, 0, "out of memory.");
    crest_logit_fit_options fo;
    crest_logit_fit_options_default(&fo);
    if (t->opts.max_iter)
        fo.max_iter = t->opts.max_iter;
    for (unsigned k = 0; k < K && st == CREST_OK; k++) {
        size_t n_out = 0;
        for (size_t r = 0; r < n; r++) {
            gsl_vector_set(w, r, t->fold[r] == k ? 0.0 : 1.0);
            n_out += t->fold[r] == k;
        }
        if (!n_out)
            continue;
        st = crest_logit_fit(X, y, w, t->opts.l2_lambda, &fo, beta, NULL, diag);
        for (size_t r = 0; r < n && st == CREST_OK; r++) {
            if (t->fold[r] != k)
                continue;
            double z = 0;
            for (size_t c = 0; c < p; c++)
                z += gsl_matrix_get(X, r, c) * gsl_vector_get(beta, c);
            margin[r] = z;
        }
    }
    for (size_t r = 0; r < n && st == CREST_OK; r++)
        label[r] = gsl_vector_get(y, r);
    double a = 0, b = 1;
    if (st == CREST_OK)
        st = crest_logit_platt_fit(margin, label, n, &a, &b, diag);
    if (st == CREST_OK) {
        m->calibrated = 1;
        m->cal_a = a;
        m->cal_b = b;
        if (report) {
            double s0 = 0, s1 = 0;
            for (size_t r = 0; r < n; r++) {
                s0 += crest_logit_sigmoid(margin[r]);
                s1 += crest_logit_sigmoid(a + b * margin[r]);
            }
            report->calibrated = 1;
            report->cal_a = a;
            report->cal_b = b;
            report->heldout_mean_score = s0 / (double)n;
            report->heldout_mean_calibrated = s1 / (double)n;
        }
    }
    free(margin);
    free(label);
    gsl_vector_free(w);
    gsl_vector_free(beta);
    return st;
}

crest_status crest_lmodel_trainer_fit(crest_lmodel_trainer *t, crest_lmodel **out,
                                      crest_lmodel_fit_report *report, crest_diag *diag)
{
    crest_diag_clear(diag);
    if (report)
        memset(report, 0, sizeof *report);
    if (!t || !out)
        return crest_diag_set(diag, CREST_ERR_INVALID, "<lmodel_fit>", 0, 0,
                              "trainer and out must not be NULL.");
    *out = NULL;
    crest_lmodel *m = t->m;
    const size_t n = t->n_rows, ni = m->n_items, p = m->n_coef;
    const unsigned K = t->opts.folds;
    if (report) {
        report->n_rows = n;
        report->n_features = p - 1;
        report->n_positive = t->n_positive;
    }
    if (n == 0 || t->n_positive == 0 || t->n_positive == n)
        return crest_diag_set(diag, CREST_ERR_MISSING, "<lmodel_fit>", 0, 0,
                              "training needs rows of both classes (%zu rows, %zu positive).", n,
                              t->n_positive);
    for (size_t i = 0; i < ni; i++)
        if (m->items[i].kind == K_CAT)
            return crest_diag_set(diag, CREST_ERR_INVALID, "<lmodel_fit>", 0, 0,
                                  "item \"%s\": cat: items are category codes for tree models ([model] kind "
                                  "= xgboost); a logistic model encodes categories with te: or cnt:.",
                                  m->items[i].name);
    crest_models_init();
    const double prior = (double)t->n_positive / (double)n;
    const double msm = t->opts.smoothing;
    m->prior = prior;
    m->n_rows = n;
    m->n_positive = t->n_positive;
    m->opts = t->opts;

    gsl_matrix *X = gsl_matrix_alloc(n, p);
    gsl_vector *y = gsl_vector_alloc(n);
    gsl_vector *beta = gsl_vector_calloc(p);
    if (!X || !y || !beta) {
        gsl_matrix_free(X);
        gsl_vector_free(y);
        gsl_vector_free(beta);
        return crest_diag_set(diag, CREST_ERR_NOMEM, "<lmodel_fit>", 0, 0,
                              "out of memory for a %zu x %zu design matrix.", n, p);
    }
    crest_status st = CREST_OK;
    for (size_t r = 0; r < n; r++) {
        gsl_matrix_set(X, r, 0, 1.0);
        gsl_vector_set(y, r, t->label[r]);
    }
    /* Raw (unstandardised) columns, then the full-data tables. */
    for (size_t i = 0; i < ni && st == CREST_OK; i++) {
        item *it = &m->items[i];
        const titem *ti = &t->ti[i];
        const size_t c = it->col0;
        if (it->kind == K_TE || it->kind == K_CNT) {
            for (size_t r = 0; r < n; r++)
                gsl_matrix_set(X, r, c, oof_value(t, r, i, prior));
            for (size_t cat = 0; cat < it->tab.n; cat++) {
                uint64_t cn = 0, cp = 0;
                for (unsigned k = 0; k < K; k++) {
                    cn += ti->fold_n[cat * K + k];
                    cp += ti->fold_pos[cat * K + k];
                }
                it->tab.value[cat] = it->kind == K_TE
                                         ? logit_of(((double)cp + msm * prior) / ((double)cn + msm))
                                         : log1p((double)cn);
            }
            it->dflt = it->kind == K_TE ? logit_of(prior) : 0.0;
            if (msm == 0 && it->kind == K_TE) {
                /* Without smoothing an unseen or pure category is +-inf. */
                for (size_t r = 0; r < n && st == CREST_OK; r++)
                    if (!isfinite(gsl_matrix_get(X, r, c)))
                        st = crest_diag_set(diag, CREST_ERR_RANGE, "<lmodel_fit>", 0, 0,
                                            "item \"%s\": smoothing 0 gives infinite log-odds "
                                            "for a pure category; use smoothing > 0.",
                                            it->name);
            }
        } else {
            if (it->kind == K_REL && rel_centres(t, i, NULL, it->tab.value, &it->dflt) != CREST_OK) {
                st = crest_diag_set(diag, CREST_ERR_NOMEM, "<lmodel_fit>", 0, 0, "out of memory.");
                break;
            }
            for (size_t r = 0; r < n; r++) {
                double v = t->val[r * ni + i];
                if (it->kind == K_REL && !isnan(v))
                    v -= it->tab.value[t->cat[r * ni + i]];
                gsl_matrix_set(X, r, c, v); /* NaN marks missing for now */
                gsl_matrix_set(X, r, c + 1, isnan(v) ? 1.0 : 0.0);
            }
        }
    }
    /* Standardise value columns (standardise_item). */
    for (size_t i = 0; i < ni && st == CREST_OK; i++)
        standardise_item(m, X, n, i);
    if (st == CREST_OK) {
        crest_logit_fit_options fo;
        crest_logit_fit_options_default(&fo);
        if (t->opts.max_iter)
            fo.max_iter = t->opts.max_iter;
        crest_logit_fit_report lr;
        st = crest_logit_fit(X, y, NULL, t->opts.l2_lambda, &fo, beta, &lr, diag);
        if (report) {
            report->n_iter = lr.n_iter;
            report->deviance = lr.deviance;
            report->converged = lr.converged;
        }
        for (size_t c = 0; c < p; c++)
            m->beta[c] = gsl_vector_get(beta, c);
    }
    m->calibrated = 0;
    if (st == CREST_OK && t->calibrate)
        st = cross_fit_platt(t, X, y, report, diag);
    gsl_matrix_free(X);
    gsl_vector_free(y);
    gsl_vector_free(beta);
    if (st != CREST_OK)
        return st;
    /* Hand a deep copy to the caller so the trainer can be fitted again
     * (after more rows): save/load is the one serialisation, so copy via the
     * same fields. */
    crest_lmodel *cp = NULL;
    st = model_new(m->spec, &cp, diag);
    if (st != CREST_OK)
        return st;
    cp->opts = m->opts;
    cp->prior = m->prior;
    cp->n_rows = m->n_rows;
    cp->n_positive = m->n_positive;
    cp->calibrated = m->calibrated;
    cp->cal_a = m->cal_a;
    cp->cal_b = m->cal_b;
    memcpy(cp->beta, m->beta, p * sizeof *cp->beta);
    memcpy(cp->mean, m->mean, p * sizeof *cp->mean);
    memcpy(cp->sd, m->sd, p * sizeof *cp->sd);
    for (size_t i = 0; i < ni; i++) {
        const item *src_it = &m->items[i];
        item *dst = &cp->items[i];
        dst->dflt = src_it->dflt;
        for (unsigned k = 0; k < src_it->n_keys; k++)
            dst->keys[k].col_idx = src_it->keys[k].col_idx;
        dst->num.col_idx = src_it->num.col_idx;
        for (size_t e = 0; e < src_it->tab.n; e++) {
            const uint32_t de = table_intern(&dst->tab, src_it->tab.keys + src_it->tab.key_off[e],
                                             src_it->tab.key_len[e], NULL);
            if (de == NO_CAT) {
                crest_lmodel_free(cp);
                return crest_diag_set(diag, CREST_ERR_NOMEM, "<lmodel_fit>", 0, 0, "out of memory.");
            }
            dst->tab.value[de] = src_it->tab.value[e];
        }
    }
    *out = cp;
    return CREST_OK;
}

/* ------------------------------------------------------------------------ */
/* Model file                                                               */

/* Keys are written as '=' followed by the bytes, with '%', bytes <= ' ' and
 * >= 0x7f written as %XX, so that a key is one space-free token. */
static void write_key(FILE *f, const char *k, size_t n)
{
    fputc('=', f);
    for (size_t i = 0; i < n; i++) {
        const unsigned char ch = (unsigned char)k[i];
        if (ch <= ' ' || ch >= 0x7f || ch == '%')
            fprintf(f, "%%%02X", ch);
        else
            fputc(ch, f);
    }
}

/* The whole model as text to f; a feature map starts "crest-fmap 1". */
static void save_stream(const crest_lmodel *m, FILE *f)
{
    fprintf(f, "%s %d\n", m->is_map ? "crest-fmap" : "crest-lmodel", CREST_LMODEL_FILE_VERSION);
    fprintf(f, "spec %s\n", m->spec);
    fprintf(f, "options l2_lambda %.17g smoothing %.17g folds %u seed %llu\n", m->opts.l2_lambda,
            m->opts.smoothing, m->opts.folds, (unsigned long long)m->opts.seed);
    fprintf(f, "train rows %zu positive %zu prior %.17g\n", m->n_rows, m->n_positive, m->prior);
    fprintf(f, "dims items %zu coefficients %zu\n", m->n_items, m->n_coef);
    fprintf(f, "intercept %.17g\n", m->beta[0]);
    for (size_t i = 0; i < m->n_items; i++) {
        const item *it = &m->items[i];
        fprintf(f, "item %zu columns %u entries %zu default %.17g %s\n", i + 1, it->n_cols, it->tab.n,
                it->dflt, it->name);
        for (unsigned c = 0; c < it->n_cols; c++)
            fprintf(f, "col %.17g %.17g %.17g\n", m->mean[it->col0 + c], m->sd[it->col0 + c],
                    m->beta[it->col0 + c]);
        for (size_t e = 0; e < it->tab.n; e++) {
            fputs("entry ", f);
            write_key(f, it->tab.keys + it->tab.key_off[e], it->tab.key_len[e]);
            fprintf(f, " %.17g\n", it->tab.value[e]);
        }
    }
    if (m->calibrated)
        fprintf(f, "calibration platt %.17g %.17g\n", m->cal_a, m->cal_b);
    fputs("end\n", f);
}

crest_status crest_lmodel_save(const crest_lmodel *m, const char *path, crest_diag *diag)
{
    crest_diag_clear(diag);
    if (!m || !path)
        return crest_diag_set(diag, CREST_ERR_INVALID, path ? path : "", 0, 0,
                              "model and path must not be NULL.");
    FILE *f = fopen(path, "w");
    if (!f)
        return crest_diag_set(diag, CREST_ERR_IO, path, 0, 0, "cannot open for writing: %s.",
                              strerror(errno));
    save_stream(m, f);
    const int werr = ferror(f);
    const int cerr = fclose(f);
    if (werr || cerr)
        return crest_diag_set(diag, CREST_ERR_IO, path, 0, 0, "write failed: %s.", strerror(errno));
    return CREST_OK;
}

/* Line reader over a buffer that tokenises on single spaces. */
typedef struct lreader {
    const char *path;
    char *buf;
    size_t len, pos;
    unsigned long line;
    char *cur; /* current line, NUL-terminated in place */
    size_t cur_len;
    char *tok[16];
    size_t tok_col[16]; /* 1-based column of each token */
    size_t n_tok;
} lreader;

/* Next line; 0 at end of file. */
static int lr_next(lreader *r)
{
    if (r->pos >= r->len)
        return 0;
    char *s = r->buf + r->pos;
    char *nl = memchr(s, '\n', r->len - r->pos);
    size_t n = nl ? (size_t)(nl - s) : r->len - r->pos;
    r->pos += n + (nl ? 1 : 0);
    if (n && s[n - 1] == '\r')
        n--;
    s[n] = '\0';
    r->cur = s;
    r->cur_len = n;
    r->line++;
    /* Tokenise a copy-free view: tokens split on ' ' (up to 16). */
    r->n_tok = 0;
    size_t i = 0;
    while (i < n && r->n_tok < 16) {
        while (i < n && s[i] == ' ')
            i++;
        if (i >= n)
            break;
        r->tok[r->n_tok] = s + i;
        r->tok_col[r->n_tok] = i + 1;
        r->n_tok++;
        while (i < n && s[i] != ' ')
            i++;
    }
    return 1;
}

/* Length of token t (up to the next space or end of line). */
static size_t tok_len(const char *t)
{
    size_t n = 0;
    while (t[n] && t[n] != ' ')
        n++;
    return n;
}

static int tok_is(const lreader *r, size_t i, const char *lit)
{
    return i < r->n_tok && tok_len(r->tok[i]) == strlen(lit) && memcmp(r->tok[i], lit, strlen(lit)) == 0;
}

static crest_status lr_number(const lreader *r, size_t i, double *out, crest_diag *diag)
{
    if (i >= r->n_tok)
        return crest_diag_set(diag, CREST_ERR_SYNTAX, r->path, r->line, r->cur_len + 1,
                              "expected a number at the end of the line.");
    const size_t n = tok_len(r->tok[i]);
    const double v = crest_parse_number(r->tok[i], n);
    if (isnan(v))
        return crest_diag_set(diag, CREST_ERR_INVALID, r->path, r->line, r->tok_col[i],
                              "malformed number \"%.*s\"; expected a finite decimal number.",
                              (int)(n < 40 ? n : 40), r->tok[i]);
    *out = v;
    return CREST_OK;
}

static crest_status lr_count(const lreader *r, size_t i, unsigned long long *out, crest_diag *diag)
{
    double v;
    crest_status st = lr_number(r, i, &v, diag);
    if (st != CREST_OK)
        return st;
    if (v < 0 || v != floor(v) || v > 1e18)
        return crest_diag_set(diag, CREST_ERR_INVALID, r->path, r->line, r->tok_col[i],
                              "expected a non-negative integer, found \"%.*s\".", (int)tok_len(r->tok[i]),
                              r->tok[i]);
    *out = (unsigned long long)v;
    return CREST_OK;
}

/* Expect a line starting with keyword `kw`; a missing line is truncation. */
static crest_status lr_expect(lreader *r, const char *kw, const char *what, crest_diag *diag)
{
    if (!lr_next(r))
        return crest_diag_set(diag, CREST_ERR_SYNTAX, r->path, r->line + 1, 0,
                              "the file is truncated: expected %s.", what);
    if (!tok_is(r, 0, kw))
        return crest_diag_set(diag, CREST_ERR_SYNTAX, r->path, r->line, 1,
                              "expected %s (a line starting with \"%s\"), found \"%.40s\".", what, kw,
                              r->cur);
    return CREST_OK;
}

/* Expect token i to be the literal `lit`. */
static crest_status lr_lit(const lreader *r, size_t i, const char *lit, crest_diag *diag)
{
    if (tok_is(r, i, lit))
        return CREST_OK;
    return crest_diag_set(diag, CREST_ERR_SYNTAX, r->path, r->line,
                          i < r->n_tok ? r->tok_col[i] : r->cur_len + 1, "expected \"%s\" here.", lit);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The lines before the items: version, spec (which makes *out), options,
 * training summary, dimensions and intercept. On failure *out is freed and NULL. */
static crest_status load_header(lreader *r, int want_map, crest_lmodel **out, crest_diag *diag)
{
    crest_status st;
    const char *magic = want_map ? "crest-fmap" : "crest-lmodel";
    /* Version line. */
    if (!lr_next(r))
        return crest_diag_set(diag, CREST_ERR_SYNTAX, r->path, 1, 0, "the file is empty; expected \"%s %d\".",
                              magic, CREST_LMODEL_FILE_VERSION);
    if (!tok_is(r, 0, magic) || r->n_tok != 2)
        return crest_diag_set(diag, CREST_ERR_VERSION, r->path, 1, 1,
                              "not a crest %s: the first line must be \"%s %d\".",
                              want_map ? "feature map" : "logistic model", magic, CREST_LMODEL_FILE_VERSION);
    {
        double v;
        if (lr_number(r, 1, &v, NULL) != CREST_OK || v != CREST_LMODEL_FILE_VERSION)
            return crest_diag_set(diag, CREST_ERR_VERSION, r->path, 1, r->tok_col[1],
                                  "model file version \"%s\" is not supported; this build reads "
                                  "version %d.",
                                  r->tok[1], CREST_LMODEL_FILE_VERSION);
    }
    /* Spec. */
    if ((st = lr_expect(r, "spec", "the feature spec", diag)) != CREST_OK)
        return st;
    crest_lmodel *m = NULL;
    *out = NULL;
    {
        const char *spec = r->cur + 4;
        crest_diag sd;
        crest_diag_clear(&sd);
        st = model_new(spec, &m, &sd);
        if (st != CREST_OK)
            return crest_diag_set(diag, st, r->path, r->line, 4 + sd.column, "bad feature spec: %s",
                                  sd.message);
        m->is_map = want_map;
    }
    /* Options. */
    double lam, sm, folds;
    if ((st = lr_expect(r, "options", "the training options", diag)) != CREST_OK ||
        (st = lr_lit(r, 1, "l2_lambda", diag)) != CREST_OK ||
        (st = lr_number(r, 2, &lam, diag)) != CREST_OK ||
        (st = lr_lit(r, 3, "smoothing", diag)) != CREST_OK || (st = lr_number(r, 4, &sm, diag)) != CREST_OK ||
        (st = lr_lit(r, 5, "folds", diag)) != CREST_OK || (st = lr_number(r, 6, &folds, diag)) != CREST_OK ||
        (st = lr_lit(r, 7, "seed", diag)) != CREST_OK)
        goto fail;
    if (r->n_tok < 9) {
        st = crest_diag_set(diag, CREST_ERR_SYNTAX, r->path, r->line, r->cur_len + 1,
                            "expected the seed at the end of the line.");
        goto fail;
    }
    {
        char *end;
        errno = 0;
        const unsigned long long sv = strtoull(r->tok[8], &end, 10);
        if (end != r->tok[8] + tok_len(r->tok[8]) || errno || tok_len(r->tok[8]) == 0) {
            st = crest_diag_set(diag, CREST_ERR_INVALID, r->path, r->line, r->tok_col[8],
                                "malformed seed \"%s\"; expected an unsigned integer.", r->tok[8]);
            goto fail;
        }
        m->opts.seed = sv;
    }
    m->opts.l2_lambda = lam;
    m->opts.smoothing = sm;
    m->opts.folds = folds >= 0 && folds <= MAX_FOLDS ? (unsigned)folds : 0;
    if ((st = check_options(&m->opts, diag, r->path, r->line)) != CREST_OK)
        goto fail;
    /* Training summary. */
    {
        unsigned long long rows, pos;
        double prior;
        if ((st = lr_expect(r, "train", "the training summary", diag)) != CREST_OK ||
            (st = lr_lit(r, 1, "rows", diag)) != CREST_OK || (st = lr_count(r, 2, &rows, diag)) != CREST_OK ||
            (st = lr_lit(r, 3, "positive", diag)) != CREST_OK ||
            (st = lr_count(r, 4, &pos, diag)) != CREST_OK || (st = lr_lit(r, 5, "prior", diag)) != CREST_OK ||
            (st = lr_number(r, 6, &prior, diag)) != CREST_OK)
            goto fail;
        if (!(prior > 0 && prior < 1) || pos > rows) {
            st = crest_diag_set(diag, CREST_ERR_RANGE, r->path, r->line, r->tok_col[6],
                                "prior must lie in (0,1) and positive <= rows.");
            goto fail;
        }
        m->n_rows = (size_t)rows;
        m->n_positive = (size_t)pos;
        m->prior = prior;
    }
    /* Dimensions, checked against the spec. */
    {
        unsigned long long ni, nc;
        if ((st = lr_expect(r, "dims", "the dimensions", diag)) != CREST_OK ||
            (st = lr_lit(r, 1, "items", diag)) != CREST_OK || (st = lr_count(r, 2, &ni, diag)) != CREST_OK ||
            (st = lr_lit(r, 3, "coefficients", diag)) != CREST_OK ||
            (st = lr_count(r, 4, &nc, diag)) != CREST_OK)
            goto fail;
        if (ni != m->n_items) {
            st = crest_diag_set(diag, CREST_ERR_MISMATCH, r->path, r->line, r->tok_col[2],
                                "dimension mismatch: the file says %llu items, its spec has %zu.", ni,
                                m->n_items);
            goto fail;
        }
        if (nc != m->n_coef) {
            st = crest_diag_set(diag, CREST_ERR_MISMATCH, r->path, r->line, r->tok_col[4],
                                "dimension mismatch: the file says %llu coefficients, its spec "
                                "needs %zu (intercept included).",
                                nc, m->n_coef);
            goto fail;
        }
    }
    if ((st = lr_expect(r, "intercept", "the intercept", diag)) != CREST_OK ||
        (st = lr_number(r, 1, &m->beta[0], diag)) != CREST_OK)
        goto fail;
    *out = m;
    return CREST_OK;
fail:
    crest_lmodel_free(m);
    return st;
}

/* One "entry =KEY VALUE" line of item i (entry e of nent): the key
 * percent-decoded in place, the value interned in the item's table. */
static crest_status load_entry(lreader *r, item *it, size_t i, unsigned long long e, unsigned long long nent,
                               crest_diag *diag)
{
    crest_status st;
    if (!lr_next(r)) {
        st = crest_diag_set(diag, CREST_ERR_SYNTAX, r->path, r->line + 1, 0,
                            "the file is truncated: item %zu (%s) declares %llu entries, "
                            "found %llu.",
                            i + 1, it->name, nent, e);
        return st;
    }
    if (!tok_is(r, 0, "entry") || r->n_tok != 3 || r->tok[1][0] != '=') {
        st = crest_diag_set(diag, CREST_ERR_SYNTAX, r->path, r->line, 1,
                            "expected entry %llu of %llu of item %zu as \"entry =KEY "
                            "VALUE\" (found \"%.40s\").",
                            e + 1, nent, i + 1, r->cur);
        return st;
    }
    /* Decode the key in place (it only shrinks). */
    char *k = r->tok[1] + 1;
    const size_t kn = tok_len(r->tok[1]) - 1;
    size_t o = 0;
    for (size_t q = 0; q < kn; q++) {
        if (k[q] == '%') {
            const int hi = q + 2 < kn ? hexval(k[q + 1]) : -1;
            const int lo = q + 2 < kn ? hexval(k[q + 2]) : -1;
            if (hi < 0 || lo < 0) {
                st = crest_diag_set(diag, CREST_ERR_INVALID, r->path, r->line, r->tok_col[1] + 1 + q,
                                    "bad escape in key: %% must be followed by two hex "
                                    "digits.");
                return st;
            }
            k[o++] = (char)(hi * 16 + lo);
            q += 2;
        } else {
            k[o++] = k[q];
        }
    }
    double v;
    if ((st = lr_number(r, 2, &v, diag)) != CREST_OK)
        return st;
    int is_new;
    const uint32_t de = table_intern(&it->tab, k, o, &is_new);
    if (de == NO_CAT) {
        st = crest_diag_set(diag, CREST_ERR_NOMEM, r->path, r->line, 0, "out of memory.");
        return st;
    }
    if (!is_new) {
        st = crest_diag_set(diag, CREST_ERR_INVALID, r->path, r->line, r->tok_col[1],
                            "duplicate entry for key \"%.*s\" in item %zu.", (int)o, k, i + 1);
        return st;
    }
    it->tab.value[de] = v;
    return CREST_OK;
}

/* Item i's "item" line and its "col" lines, checked against the spec, then
 * its entries. */
static crest_status load_item(lreader *r, crest_lmodel *m, size_t i, crest_diag *diag)
{
    crest_status st;
    item *it = &m->items[i];
    unsigned long long idx, ncols, nent;
    char what[64];
    snprintf(what, sizeof what, "item %zu (%s)", i + 1, it->name);
    if ((st = lr_expect(r, "item", what, diag)) != CREST_OK ||
        (st = lr_count(r, 1, &idx, diag)) != CREST_OK || (st = lr_lit(r, 2, "columns", diag)) != CREST_OK ||
        (st = lr_count(r, 3, &ncols, diag)) != CREST_OK || (st = lr_lit(r, 4, "entries", diag)) != CREST_OK ||
        (st = lr_count(r, 5, &nent, diag)) != CREST_OK || (st = lr_lit(r, 6, "default", diag)) != CREST_OK ||
        (st = lr_number(r, 7, &it->dflt, diag)) != CREST_OK)
        return st;
    if (idx != i + 1) {
        st = crest_diag_set(diag, CREST_ERR_MISMATCH, r->path, r->line, r->tok_col[1],
                            "expected item %zu, found item %llu.", i + 1, idx);
        return st;
    }
    const char *name = r->n_tok > 8 ? r->tok[8] : "";
    if (strcmp(name, it->name) != 0) {
        st = crest_diag_set(diag, CREST_ERR_MISMATCH, r->path, r->line,
                            r->n_tok > 8 ? r->tok_col[8] : r->cur_len + 1,
                            "item %zu is \"%s\" in the file but \"%s\" in its spec.", i + 1, name, it->name);
        return st;
    }
    if (ncols != it->n_cols) {
        st = crest_diag_set(diag, CREST_ERR_MISMATCH, r->path, r->line, r->tok_col[3],
                            "dimension mismatch: item %zu (%s) has %u columns, the file "
                            "says %llu.",
                            i + 1, it->name, it->n_cols, ncols);
        return st;
    }
    if (nent && !it->n_keys) {
        st = crest_diag_set(diag, CREST_ERR_MISMATCH, r->path, r->line, r->tok_col[5],
                            "item %zu (%s) is numeric and takes no entries.", i + 1, it->name);
        return st;
    }
    for (unsigned c = 0; c < it->n_cols; c++) {
        const size_t j = it->col0 + c;
        snprintf(what, sizeof what, "column %u of item %zu", c + 1, i + 1);
        if ((st = lr_expect(r, "col", what, diag)) != CREST_OK ||
            (st = lr_number(r, 1, &m->mean[j], diag)) != CREST_OK ||
            (st = lr_number(r, 2, &m->sd[j], diag)) != CREST_OK ||
            (st = lr_number(r, 3, &m->beta[j], diag)) != CREST_OK)
            return st;
        if (!(m->sd[j] > 0)) {
            st = crest_diag_set(diag, CREST_ERR_RANGE, r->path, r->line, r->tok_col[2],
                                "a standard deviation must be > 0.");
            return st;
        }
        if (r->n_tok != 4) {
            st = crest_diag_set(diag, CREST_ERR_SYNTAX, r->path, r->line, r->cur_len + 1,
                                "a col line holds mean, sd and coefficient only.");
            return st;
        }
    }
    for (unsigned long long e = 0; e < nent; e++)
        if ((st = load_entry(r, it, i, e, nent, diag)) != CREST_OK)
            return st;
    return CREST_OK;
}

/* A whole model file (want_map = 0: "crest-lmodel") or a tree model's feature
 * map (want_map = 1: "crest-fmap"): the header lines, the items, "end", and
 * nothing after it. */
static crest_status load_body(lreader *r, int want_map, crest_lmodel **out, crest_diag *diag)
{
    crest_lmodel *m;
    crest_status st = load_header(r, want_map, &m, diag);
    if (st != CREST_OK)
        return st;
    for (size_t i = 0; i < m->n_items; i++)
        if ((st = load_item(r, m, i, diag)) != CREST_OK)
            goto fail;
    if (!lr_next(r)) {
        st = crest_diag_set(diag, CREST_ERR_SYNTAX, r->path, r->line + 1, 0,
                            "the file is truncated: expected the \"end\" line.");
        goto fail;
    }
    /* An optional "calibration platt A B" line before "end" (a logistic model's). */
    if (!want_map && tok_is(r, 0, "calibration")) {
        if ((st = lr_lit(r, 1, "platt", diag)) != CREST_OK ||
            (st = lr_number(r, 2, &m->cal_a, diag)) != CREST_OK ||
            (st = lr_number(r, 3, &m->cal_b, diag)) != CREST_OK)
            goto fail;
        if (r->n_tok != 4) {
            st = crest_diag_set(diag, CREST_ERR_SYNTAX, r->path, r->line, r->cur_len + 1,
                                "a calibration line holds \"platt\", A and B only.");
            goto fail;
        }
        m->calibrated = 1;
        if ((st = lr_expect(r, "end", "the \"end\" line", diag)) != CREST_OK)
            goto fail;
    } else if (!tok_is(r, 0, "end")) {
        st = crest_diag_set(diag, CREST_ERR_SYNTAX, r->path, r->line, 1,
                            "expected the \"end\" line (a line starting with \"end\"), found \"%.40s\".",
                            r->cur);
        goto fail;
    }
    while (lr_next(r)) {
        if (r->n_tok) {
            st =
                crest_diag_set(diag, CREST_ERR_SYNTAX, r->path, r->line, 1, "unexpected text after \"end\".");
            goto fail;
        }
    }
    *out = m;
    return CREST_OK;
fail:
    crest_lmodel_free(m);
    return st;
}

crest_status crest_lmodel_load_buffer(const char *text, size_t len, const char *label, crest_lmodel **out,
                                      crest_diag *diag)
{
    crest_diag_clear(diag);
    if (!out)
        return crest_diag_set(diag, CREST_ERR_INVALID, label ? label : "", 0, 0, "out is NULL.");
    *out = NULL;
    if (!label)
        label = "<model>";
    if (memchr(text, '\0', len))
        return crest_diag_set(diag, CREST_ERR_SYNTAX, label, 0, 0,
                              "the file holds NUL bytes; a model file is text.");
    /* The reader cuts tokens in place: work on a private copy. */
    char *buf = malloc(len + 1);
    if (!buf)
        return crest_diag_set(diag, CREST_ERR_NOMEM, label, 0, 0, "out of memory.");
    memcpy(buf, text, len);
    buf[len] = '\0';
    lreader r = {0};
    r.path = label;
    r.buf = buf;
    r.len = len;
    const crest_status st = load_body(&r, 0, out, diag);
    free(buf);
    return st;
}

crest_status crest_lmodel_load(const char *path, crest_lmodel **out, crest_diag *diag)
{
    crest_diag_clear(diag);
    if (!out)
        return crest_diag_set(diag, CREST_ERR_INVALID, path ? path : "", 0, 0, "out is NULL.");
    *out = NULL;
    if (!path)
        return crest_diag_set(diag, CREST_ERR_INVALID, "", 0, 0, "no path given.");
    char *buf;
    size_t len;
    crest_status st =
        crest_file_read(path, crest_file_default_cap(CREST_FILE_MODEL), "model file", &buf, &len, diag);
    if (st != CREST_OK)
        return st;
    st = crest_lmodel_load_buffer(buf, len, path, out, diag);
    free(buf);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Tree models: the feature map and its training matrix                     */

int crest_lmodel_is_map(const crest_lmodel *m)
{
    return m ? m->is_map : 0;
}

const char *crest_lmodel_item_name(const crest_lmodel *m, size_t i)
{
    return m && i < m->n_items ? m->items[i].name : NULL;
}

const char *crest_lmodel_item_words(const crest_lmodel *m, size_t i)
{
    return m && i < m->n_items ? m->items[i].words : NULL;
}

int crest_lmodel_item_is_category(const crest_lmodel *m, size_t i)
{
    return m && i < m->n_items && m->items[i].kind == K_CAT;
}

/* Hot path: allocates nothing, reads the map only. The same extraction as
 * crest_lmodel_score, one float per item: full-data encodings, codes, and
 * numbers with NaN for missing. */
void crest_lmodel_features(const crest_lmodel *m, const crest_decl *decl, float *out)
{
    crest_lmodel_features_columns(m, NULL, decl, out);
}

/* Hot path: allocates nothing, reads the map only. */
void crest_lmodel_features_columns(const crest_lmodel *m, const size_t *cols, const crest_decl *decl,
                                   float *out)
{
    char key[CREST_LMODEL_KEY_MAX];
    for (size_t i = 0; i < m->n_items; i++) {
        const item *it = &m->items[i];
        double v;
        if (it->kind == K_TE || it->kind == K_CNT || it->kind == K_CAT) {
            const size_t len = item_key(it, cols, decl, key);
            const uint32_t e = table_find(&it->tab, key, len, key_hash(key, len));
            v = e == NO_CAT ? it->dflt : it->tab.value[e];
        } else {
            v = item_number(it, cols, decl);
            if (it->kind == K_REL && !isnan(v)) {
                const size_t len = item_key(it, cols, decl, key);
                const uint32_t e = table_find(&it->tab, key, len, key_hash(key, len));
                v -= e == NO_CAT ? it->dflt : it->tab.value[e];
            }
        }
        out[i] = (float)v;
    }
}

/* A category of one item with its training count, for ordering codes. */
typedef struct cat_rank {
    uint32_t cat, n;
    const char *key;
    uint32_t len;
} cat_rank;

/* Most frequent first; ties by key bytes, shorter first: independent of row order. */
static int cmp_cat_rank(const void *a, const void *b)
{
    const cat_rank *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    const uint32_t k = x->len < y->len ? x->len : y->len;
    const int c = k ? memcmp(x->key, y->key, k) : 0;
    if (c)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* Put (key of category c of item src_it) -> value into dst's table. */
static crest_status map_put(item *dst, const item *src_it, uint32_t c, double value)
{
    const uint32_t e =
        table_intern(&dst->tab, src_it->tab.keys + src_it->tab.key_off[c], src_it->tab.key_len[c], NULL);
    if (e == NO_CAT)
        return CREST_ERR_NOMEM;
    dst->tab.value[e] = value;
    return CREST_OK;
}

/*
 * One item of crest_lmodel_trainer_tree_data: its table in the map, and
 * column i of X. cn/cp: per (category, fold) counts of training rows.
 */
static crest_status tree_item(const crest_lmodel_trainer *t, size_t i, const uint8_t *in_train,
                              const uint32_t *cn, const uint32_t *cp, double prior, item *dst, float *X,
                              crest_diag *diag)
{
    const item *it = &t->m->items[i];
    const size_t n = t->n_rows, ni = t->m->n_items, n_cats = it->tab.n;
    const unsigned K = t->opts.folds;
    const double msm = t->opts.smoothing;
    double *full = calloc(n_cats ? n_cats : 1, sizeof *full);
    uint32_t *tot = calloc(n_cats ? n_cats : 1, sizeof *tot);
    cat_rank *rank = NULL;
    crest_status st = full && tot ? CREST_OK : CREST_ERR_NOMEM;
    for (size_t c = 0; st == CREST_OK && cn && c < n_cats; c++)
        for (unsigned k = 0; k < K; k++)
            tot[c] += cn[c * K + k];
    if (st == CREST_OK && (it->kind == K_TE || it->kind == K_CNT)) {
        for (size_t c = 0; c < n_cats; c++) {
            uint64_t pc = 0;
            for (unsigned k = 0; k < K; k++)
                pc += cp[c * K + k];
            full[c] = it->kind == K_TE ? logit_of(((double)pc + msm * prior) / ((double)tot[c] + msm))
                                       : log1p((double)tot[c]);
            if (tot[c] && st == CREST_OK)
                st = map_put(dst, it, (uint32_t)c, full[c]);
        }
        dst->dflt = it->kind == K_TE ? logit_of(prior) : 0.0;
    } else if (st == CREST_OK && it->kind == K_CAT) {
        rank = calloc(n_cats ? n_cats : 1, sizeof *rank);
        size_t n_seen = 0;
        for (size_t c = 0; rank && c < n_cats; c++)
            if (tot[c])
                rank[n_seen++] =
                    (cat_rank){(uint32_t)c, tot[c], it->tab.keys + it->tab.key_off[c], it->tab.key_len[c]};
        if (!rank)
            st = CREST_ERR_NOMEM;
        else
            qsort(rank, n_seen, sizeof *rank, cmp_cat_rank);
        /* Unseen categories (all of them, at scoring time) share the code n_seen. */
        for (size_t c = 0; c < n_cats; c++)
            full[c] = (double)n_seen;
        for (size_t k = 0; st == CREST_OK && k < n_seen; k++) {
            full[rank[k].cat] = (double)k;
            st = map_put(dst, it, rank[k].cat, (double)k);
        }
        dst->dflt = (double)n_seen;
    } else if (st == CREST_OK && it->kind == K_REL) {
        st = rel_centres(t, i, in_train, full, &dst->dflt);
        for (size_t c = 0; st == CREST_OK && c < n_cats; c++) {
            if (!tot[c])
                full[c] = dst->dflt;
            else
                st = map_put(dst, it, (uint32_t)c, full[c]);
        }
    }
    for (size_t r = 0; st == CREST_OK && r < n; r++) {
        const int train = !in_train || in_train[r];
        const uint32_t c = t->cat[r * ni + i];
        double v = t->val[r * ni + i];
        if (it->kind == K_TE || it->kind == K_CNT) {
            if (train) {
                /* Out of fold: the counts of the other training folds only. */
                const unsigned f = t->fold[r];
                uint64_t pc = 0;
                for (unsigned k = 0; k < K; k++)
                    pc += cp[(size_t)c * K + k];
                const double on = (double)(tot[c] - cn[(size_t)c * K + f]);
                const double op = (double)(pc - cp[(size_t)c * K + f]);
                v = it->kind == K_TE ? logit_of((op + msm * prior) / (on + msm))
                                     : log1p(on * (double)K / (double)(K - 1));
            } else {
                v = tot[c] ? full[c] : dst->dflt;
            }
            if (!isfinite(v))
                st = crest_diag_set(diag, CREST_ERR_RANGE, "<tree_fit>", 0, 0,
                                    "item \"%s\": smoothing 0 gives infinite log-odds for a pure "
                                    "category; use smoothing > 0.",
                                    it->name);
        } else if (it->kind == K_CAT) {
            v = full[c];
        } else if (it->kind == K_REL && !isnan(v)) {
            v -= full[c];
        }
        X[r * ni + i] = (float)v;
    }
    free(full);
    free(tot);
    free(rank);
    if (st == CREST_ERR_NOMEM)
        return crest_diag_set(diag, st, "<tree_fit>", 0, 0, "out of memory.");
    return st;
}

crest_status crest_lmodel_trainer_tree_data(const crest_lmodel_trainer *t, const uint8_t *in_train, float *X,
                                            crest_lmodel **map_out, crest_diag *diag)
{
    crest_diag_clear(diag);
    if (!t || !X || !map_out)
        return crest_diag_set(diag, CREST_ERR_INVALID, "<tree_fit>", 0, 0,
                              "trainer, X and map must be given.");
    *map_out = NULL;
    const size_t n = t->n_rows, ni = t->m->n_items;
    const unsigned K = t->opts.folds;
    size_t n_train = 0, n_pos = 0;
    for (size_t r = 0; r < n; r++)
        if (!in_train || in_train[r]) {
            n_train++;
            n_pos += t->label[r];
        }
    if (n_train == 0 || n_pos == 0 || n_pos == n_train)
        return crest_diag_set(diag, CREST_ERR_MISSING, "<tree_fit>", 0, 0,
                              "training needs rows of both classes (%zu training rows, %zu positive).",
                              n_train, n_pos);
    const double prior = (double)n_pos / (double)n_train;
    crest_lmodel *map = NULL;
    crest_status st = model_new(t->m->spec, &map, diag);
    if (st != CREST_OK)
        return st;
    map->is_map = 1;
    map->opts = t->opts;
    map->prior = prior;
    map->n_rows = n_train;
    map->n_positive = n_pos;
    for (size_t i = 0; st == CREST_OK && i < ni; i++) {
        const item *it = &t->m->items[i];
        item *dst = &map->items[i];
        for (unsigned k = 0; k < it->n_keys; k++)
            dst->keys[k].col_idx = it->keys[k].col_idx;
        dst->num.col_idx = it->num.col_idx;
        uint32_t *cn = NULL, *cp = NULL;
        if (it->n_keys) {
            const size_t cells = (it->tab.n ? it->tab.n : 1) * K;
            cn = calloc(cells, sizeof *cn);
            cp = calloc(cells, sizeof *cp);
            if (!cn || !cp) {
                free(cn);
                free(cp);
                st = crest_diag_set(diag, CREST_ERR_NOMEM, "<tree_fit>", 0, 0, "out of memory.");
                break;
            }
            for (size_t r = 0; r < n; r++)
                if (!in_train || in_train[r]) {
                    const size_t cell = (size_t)t->cat[r * ni + i] * K + t->fold[r];
                    cn[cell]++;
                    cp[cell] += t->label[r];
                }
        }
        st = tree_item(t, i, in_train, cn, cp, prior, dst, X, diag);
        free(cn);
        free(cp);
    }
    if (st != CREST_OK) {
        crest_lmodel_free(map);
        return st;
    }
    *map_out = map;
    return CREST_OK;
}

size_t crest_lmodel_trainer_n_rows(const crest_lmodel_trainer *t)
{
    return t ? t->n_rows : 0;
}

crest_status crest_lmodel_map_text(const crest_lmodel *m, char **text, size_t *len, crest_diag *diag)
{
    crest_diag_clear(diag);
    *text = NULL;
    *len = 0;
    FILE *f = open_memstream(text, len);
    if (!f)
        return crest_diag_set(diag, CREST_ERR_NOMEM, "<feature map>", 0, 0, "out of memory.");
    save_stream(m, f);
    const int werr = ferror(f);
    if (fclose(f) != 0 || werr) {
        free(*text);
        *text = NULL;
        return crest_diag_set(diag, CREST_ERR_NOMEM, "<feature map>", 0, 0, "out of memory.");
    }
    return CREST_OK;
}

crest_status crest_lmodel_map_load_buffer(const char *text, size_t len, const char *label, crest_lmodel **out,
                                          crest_diag *diag)
{
    crest_diag_clear(diag);
    *out = NULL;
    char *buf = malloc(len + 1);
    if (!buf)
        return crest_diag_set(diag, CREST_ERR_NOMEM, label, 0, 0, "out of memory.");
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (memchr(buf, '\0', len)) {
        free(buf);
        return crest_diag_set(diag, CREST_ERR_SYNTAX, label, 0, 0, "the feature map holds NUL bytes.");
    }
    lreader r = {0};
    r.path = label;
    r.buf = buf;
    r.len = len;
    const crest_status st = load_body(&r, 1, out, diag);
    free(buf);
    return st;
}
