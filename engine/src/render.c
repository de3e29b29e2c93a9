/*
 * render.c — one decision record written as the output wants it: CSV (a
 * fast path that copies a plain record's own bytes, or field by field) or
 * JSON Lines, with the pass-through columns and the spreadsheet formula
 * guard. What the decision is, is decided before (select.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

void crest_render_middle(outbuf *o, int fmt_csv, const char *decision, const char *lane, const char *reasons,
                         size_t rl)
{
    if (fmt_csv) {
        outbuf_puts(o, decision);
        outbuf_putc(o, ',');
        outbuf_puts(o, lane);
        outbuf_putc(o, ',');
        outbuf_csv_field(o, reasons, rl, ',');
        return;
    }
    outbuf_printf(o, "\"decision\":\"%s\",\"lane\":\"%s\",\"reasons\":[", decision, lane);
    for (size_t i = 0, start = 0, first = 1; i <= rl; i++) {
        if (i == rl || reasons[i] == ';') {
            if (i > start) {
                if (!first)
                    outbuf_putc(o, ',');
                outbuf_json_string(o, reasons + start, i - start);
                first = 0;
            }
            start = i + 1;
        }
    }
    outbuf_putc(o, ']');
}

/*
 * A cell a spreadsheet would evaluate: it starts with '=', '+', '-', '@', a tab
 * or a CR (OWASP's list) and is not simply a number ("-12.5" stays as it is).
 */
static int looks_like_formula(crest_str f)
{
    if (!f.len)
        return 0;
    const char c = f.ptr[0];
    if (c != '=' && c != '+' && c != '-' && c != '@' && c != '\t' && c != '\r')
        return 0;
    if ((c == '-' || c == '+') && f.len < 64) {
        char buf[64];
        memcpy(buf, f.ptr, f.len);
        buf[f.len] = '\0';
        char *end;
        (void)strtod(buf, &end);
        if (end != buf && *end == '\0')
            return 0;
    }
    return 1;
}

/* x at full precision (crest_format_double) from the worker's cache: scores
 * and p repeat. The text is valid until the next call. */
static const struct p_text *number_text(worker *w, double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    struct p_text *t = &w->p_cache[(bits * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - P_CACHE_BITS)];
    if (!t->len || memcmp(&t->value, &x, sizeof x) != 0) {
        t->len = (uint32_t)crest_format_double(x, t->text);
        t->value = x;
    }
    return t;
}

/* Bytes a spreadsheet may read as the start of a formula (looks_like_formula;
 * csvread.c's formula_lead, for csvread_row's lead_fields, is the same set). */
static const unsigned char formula_lead[256] = {
    ['='] = 1, ['+'] = 1, ['-'] = 1, ['@'] = 1, ['\t'] = 1, ['\r'] = 1};

static inline char *put(char *q, const char *s, size_t n)
{
    memcpy(q, s, n);
    return q + n;
}

/* The first n (<= 32) of the 32 readable bytes at s, with one fixed-size
 * move instead of a call: the bytes past n are overwritten by what follows
 * (render_plain_csv reserves room for the overrun). */
static inline char *put32(char *q, const char *s, size_t n)
{
    memcpy(q, s, 32);
    return q + n;
}

/* A precomputed text (render_text), the same way: 32 bytes, the second 32
 * only for a longer text. (One 64-byte memcpy became `rep movs` at one call
 * site, which costs more than the rest of the record's pieces together.) */
static inline char *put_text(char *q, const render_text *t)
{
    memcpy(q, t->text, 32);
    if (UNLIKELY(t->len > 32))
        memcpy(q + 32, t->text + 32, sizeof t->text - 32);
    return q + t->len;
}

/* Sets t to the concatenation of the n texts in parts, or len 0 when it does
 * not fit. */
static void text_join(render_text *t, const char *const *parts, size_t n)
{
    memset(t, 0, sizeof *t);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const size_t l = strlen(parts[i]);
        if (len + l > sizeof t->text) {
            memset(t, 0, sizeof *t);
            return;
        }
        memcpy(t->text + len, parts[i], l);
        len += l;
    }
    t->len = len;
}

void crest_render_texts_init(crest_engine *e)
{
    const crest_policy *p = e->policy;
    for (size_t t = 0; t < p->n_tiers; t++)
        for (size_t src = 0; src < 4; src++)
            text_join(
                &e->tier_text[t][src],
                (const char *const[]){",", p->tiers[t].name, ",", crest_tier_source_texts[src].ptr, ","}, 5);
    /* The lane names crest_select gives, in the order of its lane_slot: the
     * policy's two, and each lane's own. */
    const char *lanes[CREST_LANE_COUNT + 2] = {p->lane_release, p->lane_inspect};
    for (int l = 0; l < CREST_LANE_COUNT; l++)
        lanes[2 + l] = crest_lane_name((crest_lane)l);
    for (size_t l = 0; l < CREST_LANE_COUNT + 2; l++)
        for (int inspect = 0; inspect <= 1; inspect++)
            text_join(&e->lane_text[l * 2 + (size_t)inspect],
                      (const char *const[]){inspect ? ",INSPECT," : ",RELEASE,", lanes[l], ","}, 3);
    for (int f = 0; f < 8; f++) {
        const char flags[] = {',', (char)('0' + (f >> 2)), ',', (char)('0' + (f >> 1 & 1)),
                              ',', (char)('0' + (f & 1)),  ',', '\0'};
        text_join(&e->flag_text[f], (const char *const[]){flags, p->hash_hex}, 2);
    }
}

/* The precomputed ",DECISION,LANE," of a selection, or NULL (too long to keep). */
static inline const render_text *lane_text(const crest_engine *e, const crest_selection *sel)
{
    const render_text *t = &e->lane_text[sel->lane_slot];
    return t->len ? t : NULL;
}

/*
 * Hot path of CSV output: one reserve in the output buffer, no per-field
 * encoding. Applies to a plain record (csvread: its bytes are its fields as
 * outbuf_csv_field would write them) whose decl_id is the first column and
 * needs no quotes, when every other column passes through in order and none
 * could be read as a formula; the pass-through part is then the record's own
 * bytes after the id. Returns 0 (nothing written) when it does not apply.
 * The bytes are those of the general path (tests/golden compare both).
 */
static int render_plain_csv(crest_engine *e, worker *w, outbuf *o, const render_record *rec,
                            const char *source, size_t source_len, const char *score, size_t score_len)
{
    const csvread_row *row = rec->row;
    const crest_selection *sel = rec->sel;
    const reason_buf *rb = &sel->reasons;
    const size_t tier = rec->tier;
    const double prob = sel->dec.p;
    /* plain means "as re-encoded with the input's delimiter": the output's is ','.
     * A record plain but for needless quotes (row->unquoted) is copied in
     * pieces around those quotes. */
    if (!e->tail_verbatim || !(row->plain || row->unquoted) || row->raw.len == 0 || row->raw.ptr[0] == '"')
        return 0;
    const crest_str id = row->fields[0];
    if (e->formula_guard) {
        /* The reader's fast path tells it (field 0, the id, is not passed through). */
        if (row->leads_known) {
            if (row->lead_fields & ~UINT64_C(1))
                return 0;
        } else {
            for (size_t k = 1; k < row->n_fields; k++)
                if (row->fields[k].len && formula_lead[(unsigned char)row->fields[k].ptr[0]])
                    return 0;
        }
    }
    size_t end = row->raw.len;
    while (end && (row->raw.ptr[end - 1] == '\n' || row->raw.ptr[end - 1] == '\r'))
        end--;
    const size_t tail = end > id.len ? end - id.len : 0; /* ",col2,...": starts at the delimiter */
    const size_t tl = e->tier_name_len[tier], sl = source_len, scl = score_len, ll = sel->lane_len;
    /* 256: the fixed texts, and the fixed-size moves' overrun; CREST_DOUBLE_TEXT: risk_prob. */
    char *q = outbuf_reserve(o, id.len + tl + sl + scl + ll + rb->len + tail + 256 + CREST_DOUBLE_TEXT);
    if (!q)
        return 0;
    /* Most pieces are short: each is one fixed-size move from a source with
     * room to read (put32, put_text); the rest take memcpy. */
    q = row->raw.len >= 32 && id.len <= 32 ? put32(q, id.ptr, id.len) : put(q, id.ptr, id.len);
    const render_text *tt = &e->tier_text[tier][rec->source];
    if (tt->len) {
        q = put_text(q, tt);
    } else {
        *q++ = ',';
        q = put(q, e->policy->tiers[tier].name, tl);
        *q++ = ',';
        q = put(q, source, sl);
        *q++ = ',';
    }
    q = put32(q, score, scl); /* score: CREST_DOUBLE_TEXT (32) bytes */
    *q++ = ',';
    if (e->risk_prob) {
        q += crest_format_double(sel->dec.prob, q); /* empty for NaN; the reserve has room for its NUL */
        *q++ = ',';
    }
    const struct p_text *pt = number_text(w, prob);
    q = put32(q, pt->text, pt->len); /* nothing for NaN, as the general path */
    *q++ = ',';
    q += outbuf_fmt_u53(q, sel->u53);
    const render_text *lt = lane_text(e, sel);
    if (lt) {
        q = put_text(q, lt);
    } else {
        q = put(q, sel->dec.inspect ? ",INSPECT," : ",RELEASE,", 9);
        q = put(q, sel->lane, ll);
        *q++ = ',';
    }
    /* reason codes never need quotes (reason_add) */
    q = rb->len <= 32 ? put32(q, rb->text, rb->len) : put(q, rb->text, rb->len);
    const unsigned pr = (unsigned)sel->priority, ge = (unsigned)rec->guarantee_exempt,
                   mra = (unsigned)rec->mra;
    if ((pr | ge | mra) <= 1 && e->flag_text[pr << 2 | ge << 1 | mra].len) {
        q = put_text(q, &e->flag_text[pr << 2 | ge << 1 | mra]);
    } else {
        const char flags[] = {',', (char)('0' + sel->priority), ',', (char)('0' + rec->guarantee_exempt),
                              ',', (char)('0' + rec->mra),      ','};
        q = put(q, flags, sizeof flags);
        q = put(q, e->policy->hash_hex, 16);
    }
    if (row->plain) {
        q = put(q, row->raw.ptr + id.len, tail);
    } else {
        const char *from = row->raw.ptr + id.len;
        for (uint64_t m = row->unquoted; m; m &= m - 1) {
            const crest_str f = row->fields[__builtin_ctzll(m)]; /* between its quotes in raw */
            q = put(q, from, (size_t)(f.ptr - 1 - from));
            q = put(q, f.ptr, f.len);
            from = f.ptr + f.len + 1;
        }
        q = put(q, from, (size_t)(row->raw.ptr + id.len + tail - from));
    }
    *q++ = '\n';
    outbuf_commit(o, q);
    return 1;
}

/*
 * The reasons in words (crest_run_options.reason_text) into out, "; " between
 * them: a criterion's code (with its detail, e.g. a forced draw) followed by
 * ": " and its rationale when it has one; any other code as in reasons (the
 * model's detail is already its words). Cut at cap. Returns the length.
 */
static size_t reason_words(const crest_engine *e, const char *reasons, size_t rl, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0, start = 0; i <= rl; i++) {
        if (i < rl && reasons[i] != ';')
            continue;
        const char *item = reasons + start;
        const size_t len = i - start;
        start = i + 1;
        if (!len)
            continue;
        size_t code_len = 0;
        while (code_len < len && item[code_len] != '[')
            code_len++;
        const char *rationale = NULL;
        for (size_t r = 0; r < e->select.n_rules && !rationale; r++) {
            const crest_select_rule *er = &e->select.rules[r];
            const char *code = er->code_len ? er->code : er->id;
            const size_t cl = er->code_len ? er->code_len : strlen(er->id);
            if (cl == code_len && memcmp(code, item, cl) == 0 && er->rationale && er->rationale[0])
                rationale = er->rationale;
        }
        const int w = snprintf(out + n, cap - n, "%s%.*s%s%s", n ? "; " : "", (int)len, item,
                               rationale ? ": " : "", rationale ? rationale : "");
        if (w < 0 || (size_t)w >= cap - n)
            return cap - 1;
        n += (size_t)w;
    }
    return n;
}

void crest_render_reason_text(const crest_engine *e, outbuf *o, int fmt_csv, const reason_buf *rb)
{
    if (!e->opt.reason_text)
        return;
    char text[4096];
    const size_t n = reason_words(e, rb->text, rb->len, text, sizeof text);
    if (fmt_csv) {
        outbuf_putc(o, ',');
        outbuf_csv_field(o, text, n, ',');
    } else {
        outbuf_puts(o, ",\"reason_text\":");
        outbuf_json_string(o, text, n);
    }
}

/* Where o stands in its stream: bytes written to the sink and buffered. */
static uint64_t stream_pos(const outbuf *o)
{
    return o->bytes_out + o->len;
}

/* The pass-through columns of a CSV record and its line end. */
static void render_csv_tail(crest_engine *e, worker *w, outbuf *o, const csvread_row *row)
{
    for (size_t k = 0; k < e->n_pass; k++) {
        const crest_str *f = &row->fields[e->pass_cols[k]];
        outbuf_putc(o, ',');
        if (e->formula_guard && looks_like_formula(*f)) {
            /* Spreadsheet safety: a leading ' makes the cell text, not a formula. */
            outbuf_csv_field_prefixed(o, '\'', f->ptr, f->len, ',');
            w->stats->formulas_guarded++;
        } else {
            outbuf_csv_field(o, f->ptr, f->len, ',');
        }
    }
    outbuf_putc(o, '\n');
}

/* The pass-through columns of a JSON record ("input") and its end. */
static void render_json_tail(crest_engine *e, outbuf *o, const csvread_row *row)
{
    if (e->n_pass) {
        outbuf_puts(o, ",\"input\":{");
        for (size_t k = 0; k < e->n_pass; k++) {
            const char *name = e->col_names[e->pass_cols[k]];
            const crest_str *f = &row->fields[e->pass_cols[k]];
            if (k)
                outbuf_putc(o, ',');
            outbuf_json_string(o, name, strlen(name));
            outbuf_putc(o, ':');
            outbuf_json_string(o, f->ptr, f->len);
        }
        outbuf_putc(o, '}');
    }
    outbuf_puts(o, "}\n");
}

void crest_render(crest_engine *e, worker *w, outbuf *o, const render_record *rec, render_marks *marks)
{
    const crest_policy *p = e->policy;
    const crest_selection *sel = rec->sel;
    const policy_tier *t = &p->tiers[rec->tier];
    const size_t source_len = crest_tier_source_texts[rec->source].len;
    const char *source = crest_tier_source_texts[rec->source].ptr;
    char score[CREST_DOUBLE_TEXT]; /* score_len bytes of it are written: full precision */
    const int has_score = rec->has_score;
    size_t score_len = 0;
    if (has_score) {
        const struct p_text *st = number_text(w, rec->score);
        memcpy(score, st->text, sizeof score);
        score_len = st->len;
    }
    const int fmt_csv = e->opt.format == CREST_FORMAT_CSV;
    if (!marks && fmt_csv && render_plain_csv(e, w, o, rec, source, source_len, score, score_len))
        return;
    if (marks)
        marks->start = stream_pos(o);
    if (fmt_csv) {
        outbuf_csv_field(o, rec->id.ptr, rec->id.len, ',');
        outbuf_putc(o, ',');
        outbuf_puts(o, t->name);
        outbuf_putc(o, ',');
        outbuf_write(o, source, source_len);
        outbuf_putc(o, ',');
        outbuf_write(o, score, score_len);
        outbuf_putc(o, ',');
        if (e->risk_prob) {
            char prob[CREST_DOUBLE_TEXT];
            outbuf_write(o, prob, crest_format_double(sel->dec.prob, prob));
            outbuf_putc(o, ',');
        }
        outbuf_double(o, sel->dec.p);
        outbuf_putc(o, ',');
        outbuf_fixed(o, sel->dec.u, 8);
        outbuf_putc(o, ',');
    } else {
        outbuf_puts(o, "{\"decl_id\":");
        outbuf_json_string(o, rec->id.ptr, rec->id.len);
        outbuf_puts(o, ",\"tier\":");
        outbuf_json_string(o, t->name, strlen(t->name));
        char p_text[CREST_DOUBLE_TEXT];
        if (!crest_format_double(sel->dec.p, p_text))
            strcpy(p_text, "null");
        outbuf_printf(o, ",\"tier_source\":\"%s\",\"risk_score\":%s,", source,
                      has_score && score_len ? score : "null");
        if (e->risk_prob) {
            char prob[CREST_DOUBLE_TEXT];
            outbuf_printf(o, "\"risk_prob\":%s,", crest_format_double(sel->dec.prob, prob) ? prob : "null");
        }
        outbuf_printf(o, "\"p\":%s,\"u\":%.8f,", p_text, sel->dec.u);
    }
    if (marks)
        marks->mid_start = stream_pos(o);
    crest_render_middle(o, fmt_csv, sel->dec.inspect ? "INSPECT" : "RELEASE", sel->lane, sel->reasons.text,
                        sel->reasons.len);
    crest_render_reason_text(e, o, fmt_csv, &sel->reasons);
    if (marks)
        marks->mid_end = stream_pos(o);
    if (fmt_csv) {
        const char flags[] = {',', (char)('0' + sel->priority), ',', (char)('0' + rec->guarantee_exempt),
                              ',', (char)('0' + rec->mra),      ','};
        outbuf_write(o, flags, sizeof flags);
        outbuf_write(o, p->hash_hex, 16);
        render_csv_tail(e, w, o, rec->row);
    } else {
        outbuf_printf(o,
                      ",\"priority\":%s,\"guarantee_exempt_eligible\":%s,\"mra_recognised\":%s,"
                      "\"policy_hash\":\"%s\"",
                      sel->priority ? "true" : "false", rec->guarantee_exempt ? "true" : "false",
                      rec->mra ? "true" : "false", p->hash_hex);
        render_json_tail(e, o, rec->row);
    }
    if (marks)
        marks->end = stream_pos(o);
}
