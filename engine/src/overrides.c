/*
 * overrides.c — `--set SECTION.KEY=VALUE` applied to a policy's text before it
 * is parsed, so that an override is exactly what the file would say: the same
 * parser, checks, canonical form and hash. It rewrites lines; it does not know
 * what keys mean (the parser does), only where a key lives.
 *
 * A key already in its section has its line replaced (same line number); a
 * tier's `rate` replaces its `ratio` and the reverse (a tier has one of them);
 * a key missing from a [tier NAME] is added under the header; any other missing
 * key is appended at the end in its own reopened [section] (no line moves).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy_internal.h"

/* One parsed override. */
typedef struct override {
    char section[64]; /* as in the header: "risk", "tier AEO" */
    char key[48];
    const char *value;
    size_t value_len;
    const char *text; /* the whole SECTION.KEY=VALUE, for messages */
} override;

/* One line of the text being rewritten: a view into the text or an owned line. */
typedef struct line {
    const char *s;
    size_t n;
    char *owned;
    int set; /* 1 + index of the override that wrote it, 0 for the file's own */
} line;

static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s))
        (*s)++, (*n)--;
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static int word_char(int c)
{
    return isalnum(c) || c == '_';
}

static crest_status parse_override(const char *text, override *o, crest_diag *diag)
{
    memset(o, 0, sizeof *o);
    o->text = text;
    const char *eq = strchr(text, '=');
    const char *dot = NULL;
    for (const char *c = text; eq && c < eq; c++)
        if (*c == '.')
            dot = c;
    if (!eq || !dot || dot == text || dot + 1 == eq)
        return crest_diag_set(diag, CREST_ERR_INVALID, "--set", 0, 0,
                              "'%s': expected SECTION.KEY=VALUE, e.g. risk.gain=2 or tier.REGULAR.rate=0.05",
                              text);
    const char *sec = text, *key = dot + 1;
    size_t sn = (size_t)(dot - text), kn = (size_t)(eq - key);
    trim(&sec, &sn);
    trim(&key, &kn);
    for (size_t i = 0; i < kn; i++)
        if (!word_char((unsigned char)key[i]))
            return crest_diag_set(diag, CREST_ERR_INVALID, "--set", 0, 0,
                                  "'%s': a key is letters, digits and '_'", text);
    if (sn >= sizeof o->section - 1 || kn == 0 || kn >= sizeof o->key || sn == 0)
        return crest_diag_set(diag, CREST_ERR_INVALID, "--set", 0, 0,
                              "'%s': section or key too long or empty", text);
    if (sn > 5 && memcmp(sec, "tier.", 5) == 0) {
        snprintf(o->section, sizeof o->section, "tier %.*s", (int)(sn - 5), sec + 5);
    } else {
        for (size_t i = 0; i < sn; i++)
            if (!word_char((unsigned char)sec[i]))
                return crest_diag_set(diag, CREST_ERR_INVALID, "--set", 0, 0,
                                      "'%s': a section is a name, or tier.NAME for [tier NAME]", text);
        memcpy(o->section, sec, sn);
    }
    memcpy(o->key, key, kn);
    o->value = eq + 1;
    o->value_len = strlen(o->value);
    trim(&o->value, &o->value_len);
    if (memchr(o->value, '\n', o->value_len) || memchr(o->value, '\r', o->value_len))
        return crest_diag_set(diag, CREST_ERR_INVALID, "--set", 0, 0, "'%s': a value is one line", text);
    return CREST_OK;
}

/* The section a header line opens ("tier AEO" for "[ tier   AEO ]"), or NULL when l is not a header. */
static const char *header_of(const char *l, size_t n, char out[64])
{
    trim(&l, &n);
    if (n < 2 || l[0] != '[' || l[n - 1] != ']')
        return NULL;
    const char *h = l + 1;
    size_t hn = n - 2;
    trim(&h, &hn);
    if (hn > 4 && memcmp(h, "tier", 4) == 0 && isspace((unsigned char)h[4])) {
        const char *t = h + 4;
        size_t tn = hn - 4;
        trim(&t, &tn);
        snprintf(out, 64, "tier %.*s", (int)(tn < 50 ? tn : 50), t);
    } else {
        snprintf(out, 64, "%.*s", (int)(hn < 60 ? hn : 60), h);
    }
    return out;
}

/* Whether line l sets key (of length kn): "key = ...". */
static int sets_key(const char *l, size_t n, const char *key)
{
    trim(&l, &n);
    const size_t kn = strlen(key);
    if (n <= kn || memcmp(l, key, kn) != 0)
        return 0;
    const char *r = l + kn;
    size_t rn = n - kn;
    trim(&r, &rn);
    return rn && r[0] == '=';
}

/* Keys whose value is a path: relative ones are taken from the current directory. */
static int path_key(const override *o)
{
    return (!strcmp(o->section, "rules") && (!strcmp(o->key, "criteria") || !strcmp(o->key, "tables"))) ||
           (!strcmp(o->section, "model") && !strcmp(o->key, "file")) ||
           (!strcmp(o->section, "capacity") && !strcmp(o->key, "offices"));
}

static char *make_line(const override *o, const char *key)
{
    char cwd[4096] = "";
    const int rel = path_key(o) && o->value_len && o->value[0] != '/';
    if (rel && !getcwd(cwd, sizeof cwd))
        cwd[0] = '\0';
    const size_t cap = strlen(key) + strlen(cwd) + o->value_len + 8;
    char *s = malloc(cap);
    if (s)
        snprintf(s, cap, "%s = %s%s%.*s", key, cwd, *cwd ? "/" : "", (int)o->value_len, o->value);
    return s;
}

static int grow(line **lines, size_t *n, size_t *cap)
{
    if (*n < *cap)
        return 0;
    const size_t c = *cap ? 2 * *cap : 64;
    line *l = realloc(*lines, c * sizeof *l);
    if (!l)
        return -1;
    *lines = l;
    *cap = c;
    return 0;
}

static int insert_line(line **lines, size_t *n, size_t *cap, size_t at, char *owned, int set)
{
    if (!owned || grow(lines, n, cap) != 0) {
        free(owned);
        return -1;
    }
    memmove(&(*lines)[at + 1], &(*lines)[at], (*n - at) * sizeof **lines);
    (*lines)[at] = (line){owned, strlen(owned), owned, set};
    (*n)++;
    return 0;
}

/* Apply one override to the lines. */
static int apply(line **lines, size_t *n, size_t *cap, const override *o, int set)
{
    const int tier = strncmp(o->section, "tier ", 5) == 0;
    const char *other = !tier                      ? NULL
                        : !strcmp(o->key, "rate")  ? "ratio"
                        : !strcmp(o->key, "ratio") ? "rate"
                                                   : NULL;
    char cur[64] = "", hdr[64];
    int in = 0;
    long header = -1, hit = -1, hit_other = -1;
    for (size_t i = 0; i < *n; i++) {
        const line *l = &(*lines)[i];
        if (header_of(l->s, l->n, hdr)) {
            snprintf(cur, sizeof cur, "%s", hdr);
            in = strcmp(cur, o->section) == 0;
            if (in && header < 0)
                header = (long)i;
            continue;
        }
        if (!in)
            continue;
        if (hit < 0 && sets_key(l->s, l->n, o->key))
            hit = (long)i;
        if (other && hit_other < 0 && sets_key(l->s, l->n, other))
            hit_other = (long)i;
    }
    const long at = hit >= 0 ? hit : hit_other;
    if (at >= 0) { /* replace the line where the key (or its counterpart) is */
        char *s = make_line(o, o->key);
        if (!s)
            return -1;
        line *l = &(*lines)[at];
        free(l->owned);
        *l = (line){s, strlen(s), s, set};
        if (hit >= 0 && hit_other >= 0) { /* both present: the counterpart goes (a comment keeps the lines) */
            line *m = &(*lines)[hit_other];
            free(m->owned);
            static const char note[] = "# (replaced by --set)";
            char *c = malloc(sizeof note);
            if (!c)
                return -1;
            memcpy(c, note, sizeof note);
            *m = (line){c, strlen(c), c, set};
        }
        return 0;
    }
    if (tier && header >= 0)
        return insert_line(lines, n, cap, (size_t)header + 1, make_line(o, o->key), set);
    if (tier)
        return 1; /* no such tier: an override does not create one */
    const size_t hn = strlen(o->section) + 3;
    char *h = malloc(hn);
    if (!h)
        return -1;
    snprintf(h, hn, "[%s]", o->section);
    if (insert_line(lines, n, cap, *n, h, set) != 0)
        return -1;
    return insert_line(lines, n, cap, *n, make_line(o, o->key), set);
}

crest_status policy_override_text(const char *text, size_t len, const char *const *sets, size_t n_sets,
                                  textbuf *out, unsigned **line_set, size_t *n_lines, crest_diag *diag)
{
    *line_set = NULL;
    *n_lines = 0;
    override *ov = calloc(n_sets ? n_sets : 1, sizeof *ov);
    if (!ov)
        return crest_diag_set(diag, CREST_ERR_NOMEM, "--set", 0, 0, "out of memory");
    crest_status st = CREST_OK;
    for (size_t i = 0; i < n_sets && st == CREST_OK; i++)
        st = parse_override(sets[i], &ov[i], diag);
    line *lines = NULL;
    size_t n = 0, cap = 0;
    for (const char *s = text, *end = text + len; st == CREST_OK && s < end;) {
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        const char *next = eol ? eol + 1 : end;
        if (grow(&lines, &n, &cap) != 0) {
            st = crest_diag_set(diag, CREST_ERR_NOMEM, "--set", 0, 0, "out of memory");
            break;
        }
        lines[n++] = (line){s, (size_t)((eol ? eol : end) - s), NULL, 0};
        s = next;
    }
    for (size_t i = 0; i < n_sets && st == CREST_OK; i++) {
        const int r = apply(&lines, &n, &cap, &ov[i], (int)i + 1);
        if (r < 0)
            st = crest_diag_set(diag, CREST_ERR_NOMEM, "--set", 0, 0, "out of memory");
        else if (r > 0)
            st = crest_diag_set(diag, CREST_ERR_INVALID, "--set", 0, 0,
                                "'%s': the policy has no [%s] (an override does not add a tier)", ov[i].text,
                                ov[i].section);
    }
    if (st == CREST_OK && !(*line_set = calloc(n ? n : 1, sizeof **line_set)))
        st = crest_diag_set(diag, CREST_ERR_NOMEM, "--set", 0, 0, "out of memory");
    for (size_t i = 0; i < n && st == CREST_OK; i++) {
        textbuf_append(out, lines[i].s, lines[i].n);
        textbuf_append(out, "\n", 1);
        (*line_set)[i] = (unsigned)lines[i].set;
    }
    *n_lines = st == CREST_OK ? n : 0;
    if (st == CREST_OK && out->oom)
        st = crest_diag_set(diag, CREST_ERR_NOMEM, "--set", 0, 0, "out of memory");
    for (size_t i = 0; i < n; i++)
        free(lines[i].owned);
    free(lines);
    free(ov);
    return st;
}
