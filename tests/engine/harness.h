/*
 * harness.h — helpers shared by the engine tests: run the engine over an
 * in-memory input fed in chunks of a given size and collect the outputs.
 */
#ifndef CREST_TEST_HARNESS_H
#define CREST_TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest.h"

typedef struct membuf {
    char *data;
    size_t len, cap;
    int fail_after; /* > 0: the n-th write fails (fault injection) */
    int writes;
} membuf;

static inline crest_status membuf_write(void *ctx, const void *buf, size_t len)
{
    membuf *m = ctx;
    m->writes++;
    if (m->fail_after && m->writes >= m->fail_after)
        return CREST_ERR_IO;
    if (m->len + len + 1 > m->cap) {
        size_t c = m->cap ? m->cap * 2 : 4096;
        while (c < m->len + len + 1)
            c *= 2;
        m->data = realloc(m->data, c);
        m->cap = c;
    }
    memcpy(m->data + m->len, buf, len);
    m->len += len;
    m->data[m->len] = '\0';
    return CREST_OK;
}

/* Append n bytes of s to m (test data: not counted as a write, never failing). */
static inline void membuf_put_n(membuf *m, const char *s, size_t n)
{
    if (m->len + n + 1 > m->cap) {
        m->cap = (m->len + n + 1) * 2;
        m->data = realloc(m->data, m->cap);
    }
    memcpy(m->data + m->len, s, n);
    m->len += n;
    m->data[m->len] = '\0';
}

static inline void membuf_puts(membuf *m, const char *s)
{
    membuf_put_n(m, s, strlen(s));
}

/* splitmix64: a small deterministic generator of test data. */
static inline uint64_t harness_rng(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

typedef struct run_result {
    membuf out, rej;
    crest_status status;
    crest_run_stats stats;
    crest_diag diag;
    char notes[512]; /* crest_engine_notes at the end (cut to fit) */
} run_result;

/* Thread count used by run_engine (tests may switch it). */
static unsigned harness_threads = 1;
/* Block size for parallel reading (0: the default); tests use tiny blocks. */
static size_t harness_block_bytes = 0;
/* 1: feed through crest_engine_input_buffer / crest_engine_commit; 2: through
 * crest_engine_feed_stable (the input copied once into an allocation of
 * exactly its size, so that ASan catches a read past it); 3: chunks fed
 * stable and copied in turn. */
static int harness_zero_copy = 0;
/* 1: end with crest_engine_finish_early (input cut short) instead of crest_engine_finish. */
static int harness_finish_early = 0;

/* chunk == 0: feed everything at once. */
static inline void run_engine(const crest_policy *policy, const crest_registry *registry, const char *input,
                              size_t len, size_t chunk, crest_format format, run_result *r)
{
    memset(r, 0, sizeof *r);
    crest_run_options opt = crest_run_options_default();
    opt.output.write = membuf_write;
    opt.output.ctx = &r->out;
    opt.rejects.write = membuf_write;
    opt.rejects.ctx = &r->rej;
    opt.format = format;
    opt.output_buffer_bytes = 1000; /* small, so flushes happen mid-stream */
    opt.threads = harness_threads;
    opt.block_bytes = harness_block_bytes;
    crest_engine *e = NULL;
    r->status = crest_engine_create(policy, registry, &opt, &e, &r->diag);
    if (r->status != CREST_OK)
        return;
    if (chunk == 0)
        chunk = len ? len : 1;
    char *stable = NULL;
    if (harness_zero_copy >= 2) {
        stable = malloc(len ? len : 1);
        memcpy(stable, input, len);
        input = stable;
    }
    for (size_t pos = 0, k = 0; pos < len && r->status == CREST_OK; k++) {
        size_t n = len - pos < chunk ? len - pos : chunk;
        if (harness_zero_copy == 1) {
            /* crest_engine_input_buffer + commit, as crest run reads */
            size_t cap = 0;
            char *buf = crest_engine_input_buffer(e, &cap);
            if (!buf) {
                r->status = crest_engine_commit(e, 0);
                break;
            }
            if (n > cap)
                n = cap;
            memcpy(buf, input + pos, n);
            r->status = crest_engine_commit(e, n);
        } else if (harness_zero_copy == 2 || (harness_zero_copy == 3 && k % 2 == 0)) {
            r->status = crest_engine_feed_stable(e, input + pos, n);
            /* What the engine still holds lies in what it was given. */
            const char *floor = crest_engine_stable_floor(e);
            if (floor && (floor < input || floor >= input + pos + n))
                r->status = CREST_ERR_STATE;
        } else {
            r->status = crest_engine_feed(e, input + pos, n);
        }
        pos += n;
    }
    if (r->status == CREST_OK)
        r->status = harness_finish_early ? crest_engine_finish_early(e) : crest_engine_finish(e);
    if (r->status == CREST_OK && crest_engine_stable_floor(e) != NULL)
        r->status = CREST_ERR_STATE; /* nothing is held after the end */
    r->stats = *crest_engine_stats(e);
    r->diag = *crest_engine_diag(e);
    snprintf(r->notes, sizeof r->notes, "%s", crest_engine_notes(e));
    crest_engine_free(e);
    free(stable); /* after the engine: after an error it may hold some until freed */
}

static inline void run_result_free(run_result *r)
{
    free(r->out.data);
    free(r->rej.data);
}

static inline crest_policy *load_policy_file(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", CREST_SOURCE_DIR, rel);
    crest_policy *p = NULL;
    crest_diag d;
    if (crest_policy_load(path, &p, &d) != CREST_OK)
        return NULL;
    return p;
}

static inline crest_policy *parse_policy(const char *text)
{
    crest_policy *p = NULL;
    crest_diag d;
    if (crest_policy_parse(text, strlen(text), "<test>", &p, &d) != CREST_OK)
        return NULL;
    return p;
}

#endif
