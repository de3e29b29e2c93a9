/*
 * crest_bench.c — crest's one benchmark harness (in the manner of zstd's
 * fullbench and SQLite's speedtest1): numbered stage benchmarks over one data
 * set held in memory, each printing rows, seconds, rows/s, MB/s, the peak RSS
 * and a 64-bit hash of what the stage computed, so that a change that makes a
 * stage faster but changes its results shows up as a changed hash.
 *
 *   1 parse     crest's reader (csvread: SSE2 fast path, libcsv for the rest) over the
 *               CSV bytes; libcsv alone is timed too and printed as the reference
 *   2 tier      tier resolution: registry as of the date (worst party), feed, default
 *   3 rules     crest_risk with selection criteria only (models/criteria/example.csv)
 *   4 logistic  crest_lmodel scoring (a model fitted first on the data's labels)
 *   5 trees     crest_xgb on models/fixtures/xgb/model.json
 *   6 sampling  the keyed draw u = SipHash(seed, decl_id) and the decision u < p
 *   7 write     the engine (default Order 251 policy) writing decisions to a null sink
 *   8 e2e       the engine with the anchor-job policy (bench/policies/anchor_job.conf),
 *               one thread
 *   9 e2e-mt    stage 8 on every core (--threads, default the number of cores): blocks
 *               read and decided in parallel, output in order; the hash must equal 8's
 *
 * Stages 2-6 run over rows parsed once beforehand (untimed), so they measure
 * the stage alone; stages 1, 7 and 8 start from the raw CSV bytes. MB/s is
 * always input CSV bytes per second, so the stages can be compared.
 *
 * What it does not do: it asserts no timing (CI runs --smoke and only checks
 * that every stage runs and is deterministic), and it never writes files.
 */
#define _POSIX_C_SOURCE 200809L

#include <csv.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "crest/crest_base.h"
#include "crest/crest_date.h"
#include "crest/crest_engine.h"
#include "crest/crest_gen.h"
#include "crest/crest_keyhash.h"
#include "crest/crest_lmodel.h"
#include "crest/crest_policy.h"
#include "crest/crest_registry.h"
#include "crest/crest_risk.h"
#include "crest/crest_xgb.h"
#include "csvread.h" /* engine-internal: stage 1 times crest's own reader */

#ifndef CREST_SOURCE_DIR
#define CREST_SOURCE_DIR "."
#endif

#define N_STAGES 9
#define FEED_CHUNK (1u << 20) /* bytes per crest_engine_feed / csv_parse call */
#define FIT_ROWS_MAX 50000u   /* training rows for the stage-4 model (untimed) */
#define LMODEL_SPEC                                                                                          \
    "te:hs6, te:hs4, te:origin, te:office, te:hs4*origin, log:declared_value, log:net_mass_kg, "             \
    "log:unit_value, rel:unit_value/hs4"

/* ------------------------------------------------------------ utilities */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("crest-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void die_diag(const char *what, crest_status st, const crest_diag *d)
{
    die("%s: %s: %s:%lu:%lu: %s", what, crest_status_name(st), d->file, d->line, d->column, d->message);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        die("out of memory (%zu bytes)", n);
    return q;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Peak resident set of the whole process so far, in MiB (ru_maxrss is KiB on Linux). */
static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/*
 * Result hashing. Each stage folds its per-row results (tier indices, the
 * bits of scores, decisions, output bytes) into a 64-bit accumulator with a
 * cheap multiply-xorshift step, and the accumulator is finished with
 * SipHash-2-4 so that printed hashes are well spread. Same results, same hash.
 */
static inline uint64_t mix(uint64_t h, uint64_t x)
{
    h ^= x;
    h *= UINT64_C(0x9E3779B97F4A7C15);
    return h ^ (h >> 29);
}

static inline uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static uint64_t finish_hash(uint64_t h)
{
    return crest_keyhash_siphash24(UINT64_C(0x6372657374), UINT64_C(0x62656e6368), &h, sizeof h);
}

/* A hash of a byte stream that does not depend on how it is split into chunks. */
typedef struct stream_hash {
    uint64_t h;
    uint64_t bytes;
    unsigned char tail[8];
    size_t n_tail;
} stream_hash;

static void stream_hash_update(stream_hash *s, const unsigned char *p, size_t n)
{
    s->bytes += n;
    while (n && s->n_tail) { /* complete a word left over from the last chunk */
        s->tail[s->n_tail++] = *p++;
        n--;
        if (s->n_tail == 8) {
            uint64_t w;
            memcpy(&w, s->tail, 8);
            s->h = mix(s->h, w);
            s->n_tail = 0;
        }
    }
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        s->h = mix(s->h, w);
    }
    memcpy(s->tail, p, n);
    s->n_tail = n;
}

static uint64_t stream_hash_final(stream_hash *s)
{
    uint64_t w = 0;
    memcpy(&w, s->tail, s->n_tail);
    return finish_hash(mix(mix(s->h, w), s->bytes));
}

static crest_status null_sink_write(void *ctx, const void *buf, size_t len)
{
    stream_hash_update(ctx, buf, len);
    return CREST_OK;
}

/* ------------------------------------------------------------- the data */

/* One pre-parsed row: offsets of the canonical fields in the arena, parsed numbers. */
typedef struct bench_row {
    uint32_t off[CREST_FIELD_COUNT];
    uint32_t len[CREST_FIELD_COUNT];
    int32_t date_days;
    double declared_value, net_mass_kg, quantity;
    char direction;
    signed char label; /* the `illicit` column: 0, 1, or -1 when absent */
} bench_row;

typedef struct bench_data {
    char *csv; /* the whole input, header included */
    size_t csv_len;
    char *registry_csv; /* generated registry text, or NULL */
    size_t registry_len;
    /* header */
    char **col_names;
    crest_str *header;
    size_t n_cols;
    int field_of_col[256];                /* canonical field of input column c, -1 if none */
    int field_present[CREST_FIELD_COUNT]; /* some column maps to the field */
    int label_col;
    /* rows */
    bench_row *rows;
    size_t n_rows, rows_cap;
    char *arena;
    size_t arena_len, arena_cap;
} bench_data;

static crest_status buf_write(void *ctx, const char *buf, size_t len)
{
    bench_data *d = ctx;
    d->csv = xrealloc(d->csv, d->csv_len + len + 1);
    memcpy(d->csv + d->csv_len, buf, len);
    d->csv_len += len;
    return CREST_OK;
}

static crest_status reg_write(void *ctx, const char *buf, size_t len)
{
    bench_data *d = ctx;
    d->registry_csv = xrealloc(d->registry_csv, d->registry_len + len + 1);
    memcpy(d->registry_csv + d->registry_len, buf, len);
    d->registry_len += len;
    return CREST_OK;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 20, n = 0;
    char *b = xmalloc(cap);
    for (;;) {
        if (n == cap)
            b = xrealloc(b, cap *= 2);
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f))
        die("cannot read %s: %s", path, strerror(errno));
    fclose(f);
    *len = n;
    return b;
}

/* Header name -> canonical field: the canonical name or a common spelling,
 * compared in lower case without ' ', '_' and '-' (as the engine's aliases). */
static int field_for_header(const char *name)
{
    char n[64];
    size_t k = 0;
    for (const char *p = name; *p && k + 1 < sizeof n; p++)
        if (*p != ' ' && *p != '_' && *p != '-')
            n[k++] = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
    n[k] = '\0';
    static const struct {
        const char *alias;
        crest_field field;
    } extra[] = {{"goodsdescription", CREST_FIELD_GOODS_DESC},
                 {"description", CREST_FIELD_GOODS_DESC},
                 {"mode", CREST_FIELD_TRANSPORT_MODE}};
    for (int f = 0; f < CREST_FIELD_COUNT; f++) {
        char c[64];
        size_t m = 0;
        for (const char *p = crest_field_name((crest_field)f); *p; p++)
            if (*p != '_')
                c[m++] = *p;
        c[m] = '\0';
        if (strcmp(c, n) == 0)
            return f;
    }
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        if (strcmp(extra[i].alias, n) == 0)
            return (int)extra[i].field;
    return -1;
}

typedef struct preparse_ctx {
    bench_data *d;
    size_t col;
    int in_header;
    bench_row cur;
    char label_text[4];
    size_t label_len;
} preparse_ctx;

static void pp_field(void *s, size_t len, void *data)
{
    preparse_ctx *c = data;
    bench_data *d = c->d;
    if (c->in_header) {
        if (d->n_cols == 256)
            die("more than 256 columns");
        d->col_names = xrealloc(d->col_names, (d->n_cols + 1) * sizeof *d->col_names);
        char *nm = xmalloc(len + 1);
        memcpy(nm, s, len);
        nm[len] = '\0';
        d->col_names[d->n_cols] = nm;
        /* The first column that maps to a field wins, as in the engine. */
        const int f = field_for_header(nm);
        d->field_of_col[d->n_cols] = (f >= 0 && !d->field_present[f]) ? f : -1;
        if (f >= 0)
            d->field_present[f] = 1;
        if (strcmp(nm, "illicit") == 0)
            d->label_col = (int)d->n_cols;
        d->n_cols++;
        return;
    }
    if (c->col < d->n_cols) {
        const int f = d->field_of_col[c->col];
        if (f >= 0) {
            if (d->arena_len + len > d->arena_cap) {
                while (d->arena_len + len > d->arena_cap)
                    d->arena_cap = d->arena_cap ? d->arena_cap * 2 : (1 << 20);
                d->arena = xrealloc(d->arena, d->arena_cap);
            }
            if (d->arena_len + len > UINT32_MAX)
                die("the pre-parsed fields exceed 4 GiB: use fewer --rows");
            memcpy(d->arena + d->arena_len, s, len);
            c->cur.off[f] = (uint32_t)d->arena_len;
            c->cur.len[f] = (uint32_t)len;
            d->arena_len += len;
        }
        if ((int)c->col == d->label_col) {
            c->label_len = len < sizeof c->label_text ? len : 0;
            memcpy(c->label_text, s, c->label_len);
        }
    }
    c->col++;
}

static double num_of(const char *p, size_t n)
{
    char b[64];
    if (n == 0 || n >= sizeof b)
        return NAN;
    memcpy(b, p, n);
    b[n] = '\0';
    char *end;
    const double v = strtod(b, &end);
    return (*end || !isfinite(v)) ? NAN : v;
}

static void pp_record(int term, void *data)
{
    (void)term;
    preparse_ctx *c = data;
    bench_data *d = c->d;
    if (c->in_header) {
        d->header = xmalloc(d->n_cols * sizeof *d->header);
        for (size_t i = 0; i < d->n_cols; i++)
            d->header[i] = (crest_str){d->col_names[i], strlen(d->col_names[i])};
        c->in_header = 0;
    } else if (c->col == d->n_cols) { /* rows of the wrong width are skipped, as rejects */
        bench_row *r = &c->cur;
        const char *a = d->arena;
#define FLD(f) a + r->off[CREST_FIELD_##f], r->len[CREST_FIELD_##f]
        if (!r->len[CREST_FIELD_DECL_DATE] || !crest_date_parse(FLD(DECL_DATE), &r->date_days))
            r->date_days = CREST_DATE_NONE;
        r->declared_value = num_of(FLD(DECLARED_VALUE));
        r->net_mass_kg = num_of(FLD(NET_MASS_KG));
        r->quantity = num_of(FLD(QUANTITY));
        const size_t dl = r->len[CREST_FIELD_DIRECTION];
        const char d0 = dl ? a[r->off[CREST_FIELD_DIRECTION]] : 0;
        r->direction = (d0 == 'I' || d0 == 'i') ? 'I' : (d0 == 'E' || d0 == 'e') ? 'E' : 0;
#undef FLD
        r->label = d->label_col < 0 ? -1 : (c->label_len == 1 && c->label_text[0] == '1') ? 1 : 0;
        if (d->n_rows == d->rows_cap) {
            d->rows_cap = d->rows_cap ? d->rows_cap * 2 : 4096;
            d->rows = xrealloc(d->rows, d->rows_cap * sizeof *d->rows);
        }
        d->rows[d->n_rows++] = *r;
    }
    memset(&c->cur, 0, sizeof c->cur);
    c->label_len = 0;
    c->col = 0;
}

static void preparse(bench_data *d)
{
    struct csv_parser p;
    if (csv_init(&p, CSV_APPEND_NULL) != 0)
        die("csv_init failed");
    preparse_ctx c = {.d = d, .in_header = 1};
    d->label_col = -1;
    d->arena_cap = 1 << 20;
    d->arena = xmalloc(d->arena_cap);
    if (csv_parse(&p, d->csv, d->csv_len, pp_field, pp_record, &c) != d->csv_len)
        die("the input is not valid CSV: %s", csv_strerror(csv_error(&p)));
    csv_fini(&p, pp_field, pp_record, &c);
    csv_free(&p);
    if (!d->n_cols || d->field_of_col[0] < 0 || !d->n_rows)
        die("the input needs a header and at least one row");
}

/* The canonical view of row i, as the engine would hand it to the models. */
static inline void row_decl(const bench_data *d, size_t i, crest_decl *out)
{
    const bench_row *r = &d->rows[i];
    for (int f = 0; f < CREST_FIELD_COUNT; f++) {
        /* Present but empty is "" (not NULL): regexes see it, as in the engine. */
        out->field[f].ptr = d->field_present[f] ? d->arena + r->off[f] : NULL;
        out->field[f].len = r->len[f];
    }
    /* Columns by position are only needed by rules naming a non-canonical column; none do here. */
    out->cols = NULL;
    out->n_cols = 0;
    out->date_days = r->date_days;
    out->declared_value = r->declared_value;
    out->net_mass_kg = r->net_mass_kg;
    out->quantity = r->quantity;
    out->direction = r->direction;
}

/* --------------------------------------------------------------- stages */

typedef struct bench_env {
    bench_data data;
    const char *source_dir;
    const char *anchor_policy_path;
    crest_policy *policy;        /* default policy (Order 251) */
    crest_policy *anchor_policy; /* the anchor job */
    crest_registry *registry;    /* NULL when the data comes without one */
    int *tiers;                  /* stage-2 result per row, input of stage 6 */
    crest_risk *rules_risk;
    crest_risk_binding *rules_binding;
    crest_risk_scratch *rules_scratch;
    crest_lmodel *lmodel;
    const char *lmodel_origin;
    crest_xgb *xgb;
    unsigned threads; /* stage 9 */
} bench_env;

typedef struct stage_result {
    uint64_t rows;
    uint64_t hash;
    double extra_s; /* stage 7: the same run with decide = 0 (ingest only) */
} stage_result;

/* 1: libcsv alone, the floor of every CSV-reading stage. */
typedef struct parse_ctx {
    uint64_t h, fields, records;
} parse_ctx;

static void p1_field(void *s, size_t len, void *data)
{
    (void)s;
    parse_ctx *c = data;
    c->h = mix(c->h, len);
    c->fields++;
}

static void p1_record(int term, void *data)
{
    (void)term;
    parse_ctx *c = data;
    c->h = mix(c->h, UINT64_C(0xFFFFFFFF00000000) | c->fields);
    c->records++;
}

static int p1_row(void *ctx, const csvread_row *row)
{
    parse_ctx *c = ctx;
    for (size_t i = 0; i < row->n_fields; i++)
        c->h = mix(c->h, row->fields[i].len);
    c->fields += row->n_fields;
    c->h = mix(c->h, UINT64_C(0xFFFFFFFF00000000) | c->fields);
    c->records++;
    return 0;
}

/* libcsv alone over the bytes: the reference printed under stage 1. */
static double parse_libcsv(const bench_env *env, uint64_t *records)
{
    const double t0 = now_s();
    struct csv_parser p;
    if (csv_init(&p, 0) != 0)
        die("csv_init failed");
    parse_ctx c = {0};
    for (size_t off = 0; off < env->data.csv_len; off += FEED_CHUNK) {
        const size_t n = env->data.csv_len - off < FEED_CHUNK ? env->data.csv_len - off : FEED_CHUNK;
        if (csv_parse(&p, env->data.csv + off, n, p1_field, p1_record, &c) != n)
            die("libcsv: %s", csv_strerror(csv_error(&p)));
    }
    csv_fini(&p, p1_field, p1_record, &c);
    csv_free(&p);
    *records = c.records;
    return now_s() - t0;
}

static void stage_parse(bench_env *env, stage_result *res)
{
    uint64_t libcsv_records = 0;
    res->extra_s = parse_libcsv(env, &libcsv_records);
    parse_ctx c = {0};
    csvread *r = csvread_create(',', 64 * 1024, 1024 * 1024, 16384, p1_row, &c);
    if (!r)
        die("out of memory");
    for (size_t off = 0; off < env->data.csv_len; off += FEED_CHUNK) {
        const size_t n = env->data.csv_len - off < FEED_CHUNK ? env->data.csv_len - off : FEED_CHUNK;
        if (csvread_feed(r, env->data.csv + off, n) != 0)
            die("csvread failed");
    }
    if (csvread_finish(r) != 0)
        die("csvread failed");
    csvread_free(r);
    if (c.records != libcsv_records)
        die("csvread read %" PRIu64 " records, libcsv %" PRIu64, c.records, libcsv_records);
    res->rows = c.records ? c.records - 1 : 0;
    res->hash = finish_hash(mix(c.h, c.fields));
}

/* 2: the engine's tier resolution, registry first (worst party as of the date), then feed, then default. */
static void stage_tier(bench_env *env, stage_result *res)
{
    const bench_data *d = &env->data;
    const crest_policy *p = env->policy;
    const int def = (int)crest_policy_default_tier(p);
    static const crest_field parties[] = {CREST_FIELD_ENTERPRISE_ID, CREST_FIELD_DECLARANT_ID};
    uint64_t h = 0;
    for (size_t i = 0; i < d->n_rows; i++) {
        const bench_row *r = &d->rows[i];
        int tier = -1;
        if (env->registry && r->date_days != CREST_DATE_NONE) {
            for (size_t k = 0; k < 2; k++) {
                const crest_field f = parties[k];
                if (!r->len[f])
                    continue;
                const int t =
                    crest_registry_lookup(env->registry, d->arena + r->off[f], r->len[f], r->date_days);
                if (t > tier)
                    tier = t;
            }
        }
        if (tier < 0 && r->len[CREST_FIELD_CREDIT_TIER])
            tier = crest_policy_tier_lookup(p, d->arena + r->off[CREST_FIELD_CREDIT_TIER],
                                            r->len[CREST_FIELD_CREDIT_TIER]);
        if (tier < 0)
            tier = def;
        env->tiers[i] = tier;
        h = mix(h, (uint64_t)tier);
    }
    res->rows = d->n_rows;
    res->hash = finish_hash(h);
}

/* 3: selection criteria through crest_risk (no model). */
static void stage_rules(bench_env *env, stage_result *res)
{
    const bench_data *d = &env->data;
    crest_risk_result rr;
    uint64_t h = 0;
    for (size_t i = 0; i < d->n_rows; i++) {
        crest_decl decl;
        row_decl(d, i, &decl);
        crest_risk_eval(env->rules_risk, env->rules_scratch, &decl, &rr);
        h = mix(h, dbits(rr.score));
        h = mix(h, ((uint64_t)rr.rules.n_hits << 8) | (uint64_t)rr.rules.lane);
    }
    res->rows = d->n_rows;
    res->hash = finish_hash(h);
}

/* 4: logistic model scoring with the top-3 explanation, as the engine asks for it. */
static void stage_logistic(bench_env *env, stage_result *res)
{
    const bench_data *d = &env->data;
    uint64_t h = 0;
    for (size_t i = 0; i < d->n_rows; i++) {
        crest_decl decl;
        crest_lmodel_explain ex;
        row_decl(d, i, &decl);
        const double s = crest_lmodel_score(env->lmodel, &decl, &ex);
        h = mix(mix(h, dbits(s)), ex.n);
    }
    res->rows = d->n_rows;
    res->hash = finish_hash(h);
}

/* 5: tree ensemble. Features of the fixture model: value_per_kg, log_value,
 * origin_risk, days_since_last, hs_chapter_cat (built here from the row). */
static void stage_trees(bench_env *env, stage_result *res)
{
    const bench_data *d = &env->data;
    const size_t nf = crest_xgb_n_features(env->xgb);
    if (nf != 5)
        die("the xgb fixture has %zu features, expected 5", nf);
    uint64_t h = 0;
    for (size_t i = 0; i < d->n_rows; i++) {
        const bench_row *r = &d->rows[i];
        float x[5];
        x[0] = r->net_mass_kg > 0 ? (float)(r->declared_value / r->net_mass_kg) : NAN;
        x[1] = r->declared_value > 0 ? (float)log(r->declared_value) : NAN;
        const char *o = d->arena + r->off[CREST_FIELD_ORIGIN];
        x[2] = r->len[CREST_FIELD_ORIGIN] == 2 ? (float)((o[0] - 'A') * 26 + (o[1] - 'A')) / 676.0f : NAN;
        x[3] = NAN;
        const char *hs = d->arena + r->off[CREST_FIELD_HS_CODE];
        x[4] = r->len[CREST_FIELD_HS_CODE] >= 2 ? (float)((hs[0] - '0') * 10 + (hs[1] - '0')) : NAN;
        double prob = 0;
        if (crest_xgb_predict(env->xgb, x, 5, &prob) != CREST_OK)
            die("crest_xgb_predict failed");
        h = mix(h, dbits(prob));
    }
    res->rows = d->n_rows;
    res->hash = finish_hash(h);
}

/* 6: the keyed draw and the decision against the tier's target (tiers from stage 2). */
static void stage_sampling(bench_env *env, stage_result *res)
{
    const bench_data *d = &env->data;
    const crest_policy *p = env->policy;
    const uint64_t seed = crest_policy_seed(p);
    double rate[16];
    for (size_t t = 0; t < crest_policy_tier_count(p) && t < 16; t++)
        rate[t] = crest_policy_tier_rate(p, t);
    uint64_t h = 0, inspected = 0;
    for (size_t i = 0; i < d->n_rows; i++) {
        const bench_row *r = &d->rows[i];
        const double u =
            crest_keyhash_uniform(seed, d->arena + r->off[CREST_FIELD_DECL_ID], r->len[CREST_FIELD_DECL_ID]);
        const int inspect = u < rate[env->tiers[i]];
        inspected += (uint64_t)inspect;
        h = mix(h, dbits(u) ^ (uint64_t)inspect);
    }
    res->rows = d->n_rows;
    res->hash = finish_hash(mix(h, inspected));
}

/* Run the engine over the whole CSV; returns seconds, fills rows and the hash of the output. */
static double run_engine(const bench_env *env, const crest_policy *policy, const crest_registry *registry,
                         int decide, unsigned threads, stage_result *res)
{
    stream_hash sh = {0};
    crest_run_options o = crest_run_options_default();
    o.decide = decide;
    o.threads = threads;
    o.output.write = null_sink_write;
    o.output.ctx = &sh;
    o.input_name = "<bench>";
    crest_engine *e = NULL;
    crest_diag diag;
    const double t0 = now_s();
    crest_status st = crest_engine_create(policy, registry, &o, &e, &diag);
    if (st != CREST_OK)
        die_diag("crest_engine_create", st, &diag);
    for (size_t off = 0; off < env->data.csv_len && st == CREST_OK; off += FEED_CHUNK) {
        const size_t n = env->data.csv_len - off < FEED_CHUNK ? env->data.csv_len - off : FEED_CHUNK;
        st = crest_engine_feed(e, env->data.csv + off, n);
    }
    if (st == CREST_OK)
        st = crest_engine_finish(e);
    if (st != CREST_OK)
        die_diag("the engine", st, crest_engine_diag(e));
    const double t1 = now_s();
    const crest_run_stats *s = crest_engine_stats(e);
    res->rows = s->rows_in;
    uint64_t h = stream_hash_final(&sh);
    h = mix(h, s->decisions);
    h = mix(h, s->inspected);
    h = mix(h, s->rejects);
    res->hash = finish_hash(h);
    crest_engine_free(e);
    return t1 - t0;
}

/* 7: decisions written (CSV, all columns passed through) to a null sink that hashes them. */
static void stage_write(bench_env *env, stage_result *res)
{
    stage_result ingest;
    res->extra_s = run_engine(env, env->policy, env->registry, 0, 1, &ingest);
    run_engine(env, env->policy, env->registry, 1, 1, res);
}

/* 8: end to end, the anchor job's policy (criteria + risk weighting), as `crest run` does it. */
static void stage_e2e(bench_env *env, stage_result *res)
{
    run_engine(env, env->anchor_policy, NULL, 1, 1, res);
}

/* 9: stage 8 on every core. */
static void stage_e2e_mt(bench_env *env, stage_result *res)
{
    run_engine(env, env->anchor_policy, NULL, 1, env->threads, res);
}

typedef struct stage_def {
    const char *name;
    void (*run)(bench_env *, stage_result *);
} stage_def;

static const stage_def stages[N_STAGES] = {
    {"parse", stage_parse},       {"tier", stage_tier},   {"rules", stage_rules},
    {"logistic", stage_logistic}, {"trees", stage_trees}, {"sampling", stage_sampling},
    {"write", stage_write},       {"e2e", stage_e2e},     {"e2e-mt", stage_e2e_mt},
};

/* ---------------------------------------------------------------- setup */

static void load_inputs(bench_env *env, const char *input, const char *registry_path, uint64_t rows,
                        uint64_t seed)
{
    bench_data *d = &env->data;
    const double t0 = now_s();
    if (input) {
        d->csv = read_file(input, &d->csv_len);
        if (registry_path)
            d->registry_csv = read_file(registry_path, &d->registry_len);
    } else {
        crest_gen_config cfg;
        crest_gen_config_default(&cfg);
        cfg.n_rows = rows;
        cfg.seed = seed;
        crest_gen *g = NULL;
        crest_diag diag;
        crest_status st = crest_gen_create(&cfg, &g, &diag);
        if (st != CREST_OK)
            die_diag("crest_gen_create", st, &diag);
        if ((st = crest_gen_write_decls(g, buf_write, d)) != CREST_OK ||
            (st = crest_gen_write_registry(g, reg_write, d)) != CREST_OK)
            die("generation failed: %s", crest_status_name(st));
        crest_gen_free(g);
    }
    preparse(d);
    fprintf(stderr, "# data: %s, %zu rows, %.1f MB, %zu columns, registry %s (prepared in %.2f s)\n",
            input ? input : "crest_gen (in memory)", d->n_rows, (double)d->csv_len / 1e6, d->n_cols,
            d->registry_csv ? "yes" : "no", now_s() - t0);
}

static void setup_models(bench_env *env, const char *policy_path)
{
    char path[4096], tables[4096];
    crest_diag diag;
    crest_status st;
    bench_data *d = &env->data;

    snprintf(path, sizeof path, "%s/policies/order251.conf", env->source_dir);
    if ((st = crest_policy_load(policy_path ? policy_path : path, &env->policy, &diag)) != CREST_OK)
        die_diag("default policy", st, &diag);
    if ((st = crest_policy_load(env->anchor_policy_path, &env->anchor_policy, &diag)) != CREST_OK)
        die_diag("anchor policy", st, &diag);
    if (d->registry_csv && (st = crest_registry_parse(d->registry_csv, d->registry_len, "<registry>",
                                                      env->policy, &env->registry, &diag)) != CREST_OK)
        die_diag("registry", st, &diag);
    env->tiers = xmalloc(d->n_rows * sizeof *env->tiers);
    for (size_t i = 0; i < d->n_rows; i++)
        env->tiers[i] = (int)crest_policy_default_tier(env->policy);

    crest_risk_config rc;
    crest_risk_config_default(&rc);
    snprintf(path, sizeof path, "%s/models/criteria/example.csv", env->source_dir);
    snprintf(tables, sizeof tables, "%s/models/criteria/lists", env->source_dir);
    rc.criteria_path = path;
    rc.tables_dir = tables;
    rc.bias = -3.0;
    if ((st = crest_risk_create(&rc, &env->rules_risk, &diag)) != CREST_OK ||
        (st = crest_risk_bind(env->rules_risk, d->header, d->n_cols, &env->rules_binding, &diag)) != CREST_OK)
        die_diag("criteria", st, &diag);
    if (crest_risk_scratch_create(env->rules_risk, env->rules_binding, &env->rules_scratch) != CREST_OK)
        die("out of memory");

    /* Logistic: fit on the data's own labels when it has them, else the shipped KCS model. */
    if (d->label_col >= 0) {
        crest_lmodel_trainer *t = NULL;
        if ((st = crest_lmodel_trainer_create(LMODEL_SPEC, d->header, d->n_cols, NULL, &t, &diag)) !=
            CREST_OK)
            die_diag("lmodel trainer", st, &diag);
        const size_t n_fit = d->n_rows < FIT_ROWS_MAX ? d->n_rows : FIT_ROWS_MAX;
        size_t pos = 0;
        for (size_t i = 0; i < n_fit; i++) {
            crest_decl decl;
            row_decl(d, i, &decl);
            pos += d->rows[i].label == 1;
            if ((st = crest_lmodel_trainer_add(t, &decl, d->rows[i].label == 1)) != CREST_OK)
                die("crest_lmodel_trainer_add: %s", crest_status_name(st));
        }
        if (pos == 0 || pos == n_fit)
            crest_lmodel_trainer_free(t), t = NULL;
        else if ((st = crest_lmodel_trainer_fit(t, &env->lmodel, NULL, &diag)) != CREST_OK)
            die_diag("lmodel fit", st, &diag);
        crest_lmodel_trainer_free(t);
        env->lmodel_origin = "fitted on the data";
    }
    if (!env->lmodel) {
        snprintf(path, sizeof path, "%s/models/kcs/kcs_logit.model", env->source_dir);
        if ((st = crest_lmodel_load(path, &env->lmodel, &diag)) != CREST_OK)
            die_diag("lmodel", st, &diag);
        env->lmodel_origin = "models/kcs/kcs_logit.model";
    }
    snprintf(path, sizeof path, "%s/models/fixtures/xgb/model.json", env->source_dir);
    if ((st = crest_xgb_load(path, &env->xgb, &diag)) != CREST_OK)
        die_diag("xgb", st, &diag);
}

static void free_env(bench_env *env)
{
    bench_data *d = &env->data;
    crest_xgb_free(env->xgb);
    crest_lmodel_free(env->lmodel);
    crest_risk_scratch_free(env->rules_scratch);
    crest_risk_binding_free(env->rules_binding);
    crest_risk_free(env->rules_risk);
    crest_registry_free(env->registry);
    crest_policy_free(env->anchor_policy);
    crest_policy_free(env->policy);
    free(env->tiers);
    for (size_t i = 0; i < d->n_cols; i++)
        free(d->col_names[i]);
    free(d->col_names);
    free(d->header);
    free(d->rows);
    free(d->arena);
    free(d->csv);
    free(d->registry_csv);
}

/* ----------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fputs("usage: crest-bench [--rows N] [--seed S] [--stage K[,K...]] [--repeat R]\n"
          "                   [--input FILE.csv [--registry REG.csv]] [--policy P] [--anchor P] [--smoke]\n"
          "  --rows N     generated declarations (crest_gen, in memory; default 1000000)\n"
          "  --seed S     generator seed (default 1)\n"
          "  --input F    benchmark this CSV instead (e.g. a gen_decls.py file)\n"
          "  --registry R enterprise registry for --input (stage 2 and 7)\n"
          "  --stage K    run only stage(s) K (1-8; stage 6 uses stage 2's tiers, run first)\n"
          "  --repeat R   run each stage R times, report the fastest; the hash must not change\n"
          "  --policy P   default policy of stages 2, 6, 7 (default policies/order251.conf)\n"
          "  --anchor P   policy of stage 8 (default bench/policies/anchor_job.conf)\n"
          "  --smoke      every stage once on 20000 rows (CI); never checks timings\n"
          "  --threads N  threads of stage 9 (default: the number of cores, at most 8)\n"
          "stages: 1 parse, 2 tier, 3 rules, 4 logistic, 5 trees, 6 sampling, 7 write, 8 e2e,\n"
          "        9 e2e-mt\n",
          f);
}

static uint64_t parse_u64(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    const unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s)
        die("%s needs a whole number, got '%s'", opt, s);
    return (uint64_t)v;
}

int main(int argc, char **argv)
{
    uint64_t rows = 1000000, seed = 1, repeat = 1;
    const char *input = NULL, *registry = NULL, *policy = NULL;
    static char anchor_default[4096];
    int want[N_STAGES + 1] = {0}, any_stage = 0;
    bench_env env;
    memset(&env, 0, sizeof env);
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    env.threads = cores >= 8 ? 8 : cores >= 2 ? (unsigned)cores : 2;
    env.source_dir = getenv("CREST_SOURCE_DIR") ? getenv("CREST_SOURCE_DIR") : CREST_SOURCE_DIR;
    snprintf(anchor_default, sizeof anchor_default, "%s/bench/policies/anchor_job.conf", env.source_dir);
    env.anchor_policy_path = anchor_default;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV                                                                                                \
    do {                                                                                                     \
        if (!v)                                                                                              \
            die("%s needs a value", a);                                                                      \
        i++;                                                                                                 \
    } while (0)
        if (!strcmp(a, "--rows")) {
            NEEDV;
            rows = parse_u64(a, v);
        } else if (!strcmp(a, "--seed")) {
            NEEDV;
            seed = parse_u64(a, v);
        } else if (!strcmp(a, "--repeat")) {
            NEEDV;
            repeat = parse_u64(a, v);
            if (repeat < 1)
                die("--repeat needs at least 1");
        } else if (!strcmp(a, "--stage")) {
            NEEDV;
            for (const char *p = v; *p;) {
                char *end;
                const long k = strtol(p, &end, 10);
                if (end == p || k < 1 || k > N_STAGES)
                    die("--stage takes numbers 1-%d, e.g. --stage 3 or --stage 2,6", N_STAGES);
                want[k] = any_stage = 1;
                p = *end == ',' ? end + 1 : end;
                if (*end && *end != ',')
                    die("--stage takes numbers 1-%d separated by commas", N_STAGES);
            }
        } else if (!strcmp(a, "--input")) {
            NEEDV;
            input = v;
        } else if (!strcmp(a, "--registry")) {
            NEEDV;
            registry = v;
        } else if (!strcmp(a, "--policy")) {
            NEEDV;
            policy = v;
        } else if (!strcmp(a, "--anchor")) {
            NEEDV;
            env.anchor_policy_path = v;
        } else if (!strcmp(a, "--threads")) {
            NEEDV;
            env.threads = (unsigned)atoi(v);
            if (env.threads < 1 || env.threads > 8)
                die("--threads is 1 to 8");
        } else if (!strcmp(a, "--smoke")) {
            rows = 20000;
            repeat = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 1;
        }
#undef NEEDV
    }
    if (!any_stage)
        for (int k = 1; k <= N_STAGES; k++)
            want[k] = 1;
    if (want[6] && !want[2])
        fputs("# note: stage 6 without stage 2 draws against the default tier of every row\n", stderr);

    load_inputs(&env, input, registry, rows, seed);
    setup_models(&env, policy);
    fprintf(stderr,
            "# logistic model: %s; peak RSS includes the data held in memory (%.1f MB CSV + parsed rows)\n",
            env.lmodel_origin, (double)env.data.csv_len / 1e6);

    const double mb = (double)env.data.csv_len / 1e6;
    printf("%-2s %-9s %10s %9s %12s %9s %9s  %-16s\n", "#", "stage", "rows", "seconds", "rows/s", "MB/s",
           "peakRSS", "hash");
    int unstable = 0;
    uint64_t hash_of[N_STAGES + 1] = {0};
    for (int k = 1; k <= N_STAGES; k++) {
        if (!want[k])
            continue;
        const stage_def *s = &stages[k - 1];
        double best = INFINITY, best_extra = INFINITY;
        stage_result first = {0};
        for (uint64_t r = 0; r < repeat; r++) {
            stage_result res = {0};
            const double t0 = now_s();
            s->run(&env, &res);
            const double t = now_s() - t0 - res.extra_s;
            if (t < best)
                best = t;
            if (res.extra_s > 0 && res.extra_s < best_extra)
                best_extra = res.extra_s;
            if (r == 0)
                first = res;
            else if (res.hash != first.hash || res.rows != first.rows) {
                fprintf(stderr, "crest-bench: stage %d gave hash %016" PRIx64 " then %016" PRIx64 "\n", k,
                        first.hash, res.hash);
                unstable = 1;
            }
        }
        printf("%-2d %-9s %10" PRIu64 " %9.3f %12.0f %9.1f %8.1fM  %016" PRIx64 "\n", k, s->name, first.rows,
               best, (double)first.rows / best, mb / best, peak_rss_mib(), first.hash);
        if (k == 1 && isfinite(best_extra))
            printf("#  1 parse: libcsv alone over the same bytes took %.3f s (%.1f MB/s)\n", best_extra,
                   mb / best_extra);
        hash_of[k] = first.hash;
        if (k == 9) {
            printf("#  9 e2e-mt: %u threads\n", env.threads);
            if (want[8] && hash_of[8] != hash_of[9]) {
                fprintf(stderr,
                        "crest-bench: stage 9 (%u threads) gave hash %016" PRIx64 ", stage 8 %016" PRIx64
                        "\n",
                        env.threads, hash_of[9], hash_of[8]);
                unstable = 1;
            }
        }
        if (k == 7 && isfinite(best_extra))
            printf(
                "#  7 write: the same engine run with decide=0 (ingest, tiers, draw; no output) took %.3f s; "
                "writing is %.0f%% of stage 7\n",
                best_extra, 100.0 * (best - best_extra) / best);
        fflush(stdout);
    }
    free_env(&env);
    if (unstable) {
        fputs("crest-bench: FAIL: a stage is not deterministic (across repeats, or threads)\n", stderr);
        return 1;
    }
    return 0;
}
