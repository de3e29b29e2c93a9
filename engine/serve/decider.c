/*
 * decider.c — see decider.h. One engine per distinct header, fed one record
 * at a time; what a record produced is read from the sinks and from the
 * engine's counts (before and after), so the service needs nothing from
 * inside the engine.
 */
#define _POSIX_C_SOURCE 200809L
#include "decider.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENGINES 8

typedef struct membuf {
    char *data;
    size_t len, cap;
    int oom;
} membuf;

static void mb_append(membuf *m, const void *p, size_t n)
{
    if (m->oom)
        return;
    if (m->len + n + 1 > m->cap) {
        size_t c = m->cap ? m->cap : 1024;
        while (c < m->len + n + 1)
            c *= 2;
        char *q = realloc(m->data, c);
        if (!q) {
            m->oom = 1;
            return;
        }
        m->data = q;
        m->cap = c;
    }
    memcpy(m->data + m->len, p, n);
    m->len += n;
    m->data[m->len] = '\0';
}

static crest_status mb_sink(void *ctx, const void *buf, size_t len)
{
    membuf *m = ctx;
    mb_append(m, buf, len);
    return m->oom ? CREST_ERR_NOMEM : CREST_OK;
}

/* An engine reading one header. */
typedef struct slot {
    char *header; /* NUL-terminated, without line end */
    size_t header_len;
    crest_engine *engine;
    char *out_header; /* the decisions' header line the engine wrote */
    uint64_t used;    /* last use, for eviction */
} slot;

struct crest_decider {
    const crest_policy *policy;
    const crest_registry *registry;
    char *csv_header;
    crest_format format;
    crest_decider_capacity capacity;
    int has_capacity;
    slot slots[MAX_ENGINES];
    uint64_t clock;
    membuf out, rej, json_header, json_record;
    char decl_id[256];
    char last_out_header[4096];
    crest_run_stats before;
};

/* The engine's hook: remember the declaration id. */
static int on_decl(void *ctx, const crest_decl *decl, const crest_decision *decision, unsigned long line)
{
    (void)decision;
    (void)line;
    crest_decider *d = ctx;
    const crest_str id = decl->field[CREST_FIELD_DECL_ID];
    const size_t n = id.len < sizeof d->decl_id - 1 ? id.len : sizeof d->decl_id - 1;
    if (n)
        memcpy(d->decl_id, id.ptr, n);
    d->decl_id[n] = '\0';
    return 0;
}

static int on_capacity(void *ctx, crest_str office, int32_t day)
{
    crest_decider *d = ctx;
    return d->capacity.take(d->capacity.ctx, office.ptr ? office.ptr : "", office.len, day);
}

crest_status crest_decider_create(const crest_policy *policy, const crest_registry *registry,
                                  const char *csv_header, crest_format format,
                                  const crest_decider_capacity *capacity, crest_decider **out,
                                  crest_diag *diag)
{
    *out = NULL;
    crest_diag_clear(diag);
    if (!crest_policy_decides_rows_alone(policy))
        return crest_diag_set(
            diag, CREST_ERR_INVALID, crest_policy_name(policy), 0, 0,
            "the policy makes a decision depend on other rows ([control] adaptive or "
            "systematic, [tier] floor_period, or [input] duplicate_ids = reject): instances sharing a stream "
            "could not agree; serve a frozen policy");
    if (crest_policy_has_capacity(policy) && !capacity)
        return crest_diag_set(
            diag, CREST_ERR_INVALID, crest_policy_name(policy), 0, 0,
            "the policy caps RED per office-day but no shared capacity counter is configured");
    crest_decider *d = calloc(1, sizeof *d);
    if (!d)
        return crest_diag_set(diag, CREST_ERR_NOMEM, "", 0, 0, "out of memory");
    d->policy = policy;
    d->registry = registry;
    d->format = format;
    if (capacity && crest_policy_has_capacity(policy)) {
        d->capacity = *capacity;
        d->has_capacity = 1;
    }
    if (csv_header) {
        size_t n = strcspn(csv_header, "\r\n");
        if (!(d->csv_header = malloc(n + 1))) {
            free(d);
            return crest_diag_set(diag, CREST_ERR_NOMEM, "", 0, 0, "out of memory");
        }
        memcpy(d->csv_header, csv_header, n);
        d->csv_header[n] = '\0';
    }
    *out = d;
    return CREST_OK;
}

static void slot_clear(slot *s)
{
    crest_engine_free(s->engine);
    free(s->header);
    free(s->out_header);
    memset(s, 0, sizeof *s);
}

/* The engine for a header: found, or created and fed the header. NULL with
 * *status set: CREST_ERR_MISSING (a header the engine refuses) or NOMEM. */
static slot *engine_for(crest_decider *d, const char *header, size_t len, crest_status *status)
{
    *status = CREST_OK;
    slot *lru = &d->slots[0];
    for (size_t i = 0; i < MAX_ENGINES; i++) {
        slot *s = &d->slots[i];
        if (s->engine && s->header_len == len && memcmp(s->header, header, len) == 0) {
            s->used = ++d->clock;
            return s;
        }
        if (!s->engine || (lru->engine && s->used < lru->used))
            lru = s;
    }
    slot_clear(lru);
    crest_run_options opt = crest_run_options_default();
    opt.output.write = mb_sink;
    opt.output.ctx = &d->out;
    opt.rejects.write = mb_sink;
    opt.rejects.ctx = &d->rej;
    opt.format = d->format;
    opt.input_name = "<message>";
    opt.threads = 1;
    opt.output_buffer_bytes = 16 * 1024;
    opt.decl_hook = on_decl;
    opt.hook_ctx = d;
    if (d->has_capacity) {
        opt.capacity_take = on_capacity;
        opt.capacity_ctx = d;
    }
    crest_diag diag;
    d->out.len = d->rej.len = 0;
    crest_status st = crest_engine_create(d->policy, d->registry, &opt, &lru->engine, &diag);
    if (st == CREST_OK) {
        st = crest_engine_feed(lru->engine, header, len);
        if (st == CREST_OK)
            st = crest_engine_feed(lru->engine, "\n", 1);
        if (st == CREST_OK)
            st = crest_engine_flush(lru->engine);
    }
    lru->header = malloc(len + 1);
    lru->out_header = malloc(d->out.len + 1);
    if (st == CREST_OK && (!lru->header || !lru->out_header))
        st = CREST_ERR_NOMEM;
    if (st != CREST_OK) {
        slot_clear(lru);
        *status = st;
        return NULL;
    }
    memcpy(lru->header, header, len);
    lru->header[len] = '\0';
    lru->header_len = len;
    memcpy(lru->out_header, d->out.data ? d->out.data : "", d->out.len);
    lru->out_header[d->out.len] = '\0';
    lru->used = ++d->clock;
    return lru;
}

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* A CSV field as outbuf_csv_field writes it: quoted only when needed. */
static void csv_field(membuf *m, const char *s, size_t n)
{
    int quote = 0;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!quote) {
        mb_append(m, s, n);
        return;
    }
    mb_append(m, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        mb_append(m, s + i, 1);
        if (s[i] == '"')
            mb_append(m, "\"", 1);
    }
    mb_append(m, "\"", 1);
}

/*
 * A JSON object of scalars → a header (its keys, in order) and a CSV record
 * (its values: strings as they are, numbers and booleans as JSON writes them,
 * null as an empty field). Returns 0, or -1 when the text is not such an
 * object.
 */
static int json_to_csv(crest_decider *d, const char *body, size_t len)
{
    d->json_header.len = d->json_record.len = 0;
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return -1;
    json_object *obj = json_tokener_parse_ex(tok, body, (int)len);
    const enum json_tokener_error jerr = json_tokener_get_error(tok);
    const size_t used = (size_t)json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    int rc = 0;
    if (!obj || jerr != json_tokener_success || !json_object_is_type(obj, json_type_object) ||
        skip_space(body + used, body + len) != body + len)
        rc = -1;
    int first = 1;
    if (rc == 0) {
        json_object_object_foreach(obj, key, val)
        {
            if (!first) {
                mb_append(&d->json_header, ",", 1);
                mb_append(&d->json_record, ",", 1);
            }
            first = 0;
            csv_field(&d->json_header, key, strlen(key));
            const enum json_type t = val ? json_object_get_type(val) : json_type_null;
            if (t == json_type_object || t == json_type_array) {
                rc = -1;
                break;
            }
            if (t == json_type_string)
                csv_field(&d->json_record, json_object_get_string(val),
                          (size_t)json_object_get_string_len(val));
            else if (t != json_type_null) {
                const char *txt = json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN);
                csv_field(&d->json_record, txt, strlen(txt));
            }
        }
    }
    json_object_put(obj);
    if (first || d->json_header.oom || d->json_record.oom)
        rc = -1;
    mb_append(&d->json_record, "\n", 1);
    return rc;
}

static void reject_outcome(crest_decider *d, crest_outcome *o, const char *reason, const char *body,
                           size_t len)
{
    memset(o, 0, sizeof *o);
    o->reason = reason;
    /* The rejection line: reason, then the message as one CSV field. */
    d->rej.len = 0;
    mb_append(&d->rej, reason, strlen(reason));
    mb_append(&d->rej, ",", 1);
    csv_field(&d->rej, body, len);
    mb_append(&d->rej, "\n", 1);
    o->bytes = d->rej.data;
    o->len = d->rej.len;
}

/* The first reason whose count went up between two snapshots. */
static const char *reject_reason(const crest_run_stats *a, const crest_run_stats *b)
{
    for (int r = 0; r < CREST_REJECT_COUNT; r++)
        if (b->rejects_by_reason[r] > a->rejects_by_reason[r])
            return crest_reject_code((crest_reject_reason)r);
    return "UNKNOWN";
}

crest_status crest_decider_decide(crest_decider *d, const char *header, size_t header_len, const char *body,
                                  size_t body_len, crest_outcome *o)
{
    memset(o, 0, sizeof *o);
    const char *start = skip_space(body, body + body_len);
    const char *rec = body;
    size_t rec_len = body_len;
    if (start < body + body_len && *start == '{') {
        if (json_to_csv(d, start, (size_t)(body + body_len - start)) != 0) {
            reject_outcome(d, o, CREST_SERVE_REJECT_BAD_JSON, body, body_len);
            return CREST_OK;
        }
        header = d->json_header.data;
        header_len = d->json_header.len;
        rec = d->json_record.data;
        rec_len = d->json_record.len;
    } else if (!header) {
        header = d->csv_header;
        header_len = header ? strlen(header) : 0;
    }
    if (!header || !header_len) {
        reject_outcome(d, o, CREST_SERVE_REJECT_NO_HEADER, body, body_len);
        return CREST_OK;
    }
    header_len = strcspn(header, "\r\n") < header_len ? strcspn(header, "\r\n") : header_len;
    crest_status st;
    slot *s = engine_for(d, header, header_len, &st);
    if (!s) {
        if (st == CREST_ERR_NOMEM)
            return st;
        reject_outcome(d, o, CREST_SERVE_REJECT_HEADER, body, body_len);
        return CREST_OK;
    }
    d->before = *crest_engine_stats(s->engine);
    d->out.len = d->rej.len = 0;
    d->decl_id[0] = '\0';
    st = crest_engine_feed(s->engine, rec, rec_len);
    if (st == CREST_OK && (rec_len == 0 || rec[rec_len - 1] != '\n'))
        st = crest_engine_feed(s->engine, "\n", 1);
    if (st == CREST_OK)
        st = crest_engine_flush(s->engine);
    const crest_run_stats *after = crest_engine_stats(s->engine);
    int pending = st == CREST_OK && after->rows_in == d->before.rows_in &&
                  skip_space(rec, rec + rec_len) < rec + rec_len;
    if (pending) {
        /* The record did not end (an open quote): end the input here, so it
         * is rejected now and never runs into the next message. */
        st = crest_engine_finish(s->engine);
    }
    if (st != CREST_OK) {
        const int cap_failed = st == CREST_ERR_IO && d->has_capacity && !d->out.oom && !d->rej.oom;
        slot_clear(s);
        if (cap_failed) {
            o->capacity_error = 1;
            return CREST_OK;
        }
        return st == CREST_ERR_NOMEM || d->out.oom || d->rej.oom ? CREST_ERR_NOMEM : CREST_ERR_IO;
    }
    after = crest_engine_stats(s->engine);
    const uint64_t decided = after->decisions - d->before.decisions,
                   rejected = after->rejects - d->before.rejects;
    snprintf(o->decl_id, sizeof o->decl_id, "%s", d->decl_id);
    if (decided + rejected == 0) {
        reject_outcome(d, o, CREST_SERVE_REJECT_EMPTY, body, body_len);
    } else if (decided + rejected > 1) {
        reject_outcome(d, o, CREST_SERVE_REJECT_MULTIPLE, body, body_len);
    } else if (rejected) {
        const char *reason = reject_reason(&d->before, after);
        reject_outcome(d, o, reason, body, body_len);
        snprintf(o->decl_id, sizeof o->decl_id, "%s", d->decl_id);
    } else {
        o->decided = 1;
        o->bytes = d->out.data;
        o->len = d->out.len;
        for (size_t t = 0; t < after->n_tiers; t++)
            if (after->tiers[t].rows > d->before.tiers[t].rows)
                o->tier = t;
        o->inspected = after->inspected > d->before.inspected;
        for (int l = 0; l < 5; l++)
            if (after->lanes[l] > d->before.lanes[l])
                o->lane = l;
        snprintf(d->last_out_header, sizeof d->last_out_header, "%.*s", (int)strcspn(s->out_header, "\r\n"),
                 s->out_header);
    }
    if (pending)
        slot_clear(s);
    return CREST_OK;
}

const char *crest_decider_output_header(const crest_decider *d)
{
    return d->last_out_header;
}

void crest_decider_free(crest_decider *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < MAX_ENGINES; i++)
        slot_clear(&d->slots[i]);
    free(d->csv_header);
    free(d->out.data);
    free(d->rej.data);
    free(d->json_header.data);
    free(d->json_record.data);
    free(d);
}
