/*
 * engine.c — one input stream through the decision: header mapping, row
 * validation (reject with a reason), tier resolution, the keyed draw, and
 * the decision record. Built on csvread (parsing), outbuf (output), the
 * policy and the registry. Everything per row is allocation-free.
 */
#include "crest/crest_engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_date.h"
#include "crest/crest_keyhash.h"
#include "csvread.h"
#include "outbuf.h"
#include "policy_internal.h"
#include "blockpipe.h"
#include "rowpipe.h"
#include "textbuf.h"
#include "utf8.h"

#define MAX_COLUMNS 16384

/* Paths a well-formed row never takes: kept out of the hot code's way (the
 * compiler places cold functions, and the branches to them, apart). */
#if defined(__GNUC__) || defined(__clang__)
#define COLD __attribute__((cold, noinline))
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define COLD
#define UNLIKELY(x) (x)
#endif

static int lane_rank_of(const char *lane);
static void merge_stats(crest_run_stats *into, const crest_run_stats *s);
static crest_status check_sinks(struct crest_engine *e);

/* What the engine needs of each criterion on the hot path. */
typedef struct engine_rule {
    int lane; /* crest_rules_lane, 0 for weight rules */
    double probability;
    int credit_sensitive;
    uint64_t key;    /* keyed-hash key half for this rule's forcing draw */
    char code[48];   /* the id as a reason code (reason_add's replacements made) */
    size_t code_len; /* 0: the id is too long for code, reason_add takes it */
} engine_rule;

#define TIER_CACHE 8
/* Texts of recent p values: with criteria alone p takes few values (tiers x
 * score levels), so most rows find theirs. */
#define P_CACHE 64
typedef struct tier_cache_entry {
    char label[48];
    size_t len;
    int tier;
} tier_cache_entry;

/*
 * What deciding a row writes to. One worker in sequential mode, pointing at
 * the engine's own sinks and counts; with parallel deciders each worker
 * renders a batch into memory (emitted in batch order) and keeps its own
 * counts, summed at the end.
 */
typedef struct worker {
    struct crest_engine *engine;
    csvread *reader; /* block workers: this worker's own reader */
    outbuf *out;
    outbuf *rej; /* NULL when rejects are only counted */
    crest_run_stats *stats;
    crest_risk_scratch *scratch;
    crest_risk_result rr;
    tier_cache_entry tier_cache[TIER_CACHE];
    unsigned tier_cache_next;
    crest_decl decl; /* the row being decided (decide_row) */
    /* The last p written and its text: p repeats when the score does. */
    struct p_text {
        double value;
        uint32_t len; /* 0: empty */
        char text[20];
    } p_cache[P_CACHE]; /* direct-mapped by the value's bits */
    /* The last decl_date text and its value: feeds come sorted by date. */
    char date_text[24];
    size_t date_len;
    int32_t date_days;
    /* block workers only: render into the block's result */
    outbuf mem_out, mem_rej;
} worker;

/* What a block worker produced for one block (blockpipe.h). */
typedef struct block_result {
    textbuf out, rej;
    crest_run_stats stats;
} block_result;

#define MAX_DECIDERS 8

/* Counts of the open control window for one tier. */
typedef struct window_acc {
    uint64_t rows, inspected, forced, deferred;
    double expected;
} window_acc;

/* A buffered record of the current day (capacity mode). */
typedef struct cap_record {
    size_t start, mid_start, mid_end, end; /* byte offsets in the day stream */
    size_t reasons_ofs, reasons_len;       /* in cap_reasons */
    size_t office;                         /* index into the day's office table */
    size_t tier;
    size_t order; /* position in the day */
    double score;
    int red;        /* a RED selection */
    int deferrable; /* drawn, credit-sensitive, not forced, not a floor tier */
    int inspect;
} cap_record;

struct crest_engine {
    const crest_policy *policy;
    const crest_registry *registry;
    crest_run_options opt;
    crest_passthrough passthrough;
    csvread *reader;
    rowpipe *pipe;    /* threads >= 2, rows in order: records go to the deciding thread through it */
    blockpipe *bp;    /* threads >= 2, order-free: blocks read and decided in parallel */
    char *staging;    /* crest_engine_input_buffer when not straight into a block */
    int input_direct; /* the last input buffer was the blockpipe's own */
    int bp_wanted;    /* use bp once the header is read */
    outbuf out;
    outbuf rej;
    int has_rejects;

    /* From the header. */
    size_t n_cols;
    char **col_names;
    int col_of_field[CREST_FIELD_COUNT];
    struct mapped_field {
        int field;               /* crest_field */
        size_t col;              /* its column */
    } mapped[CREST_FIELD_COUNT]; /* the fields with a column, n_mapped of them */
    size_t n_mapped;
    size_t *pass_cols;
    size_t n_pass;
    int pass_is_tail;    /* pass_cols are the columns after decl_id, which is column 0 */
    int registry_usable; /* registry given and at least one party column present */

    /* The risk layer (NULL when the policy configures none). */
    crest_risk *risk;
    const crest_rules *rules;
    engine_rule *rule_info;
    int inspect_lane_rank;
    /* Hot-path text lengths: tier names, the release and inspect lane names. */
    size_t tier_name_len[CREST_MAX_TIERS];
    size_t lane_release_len, lane_inspect_len;

    /* Control windows ([control] window) and the control state per tier. */
    int window_open;
    int64_t window_key;
    window_acc wacc[CREST_MAX_TIERS];
    double multiplier[CREST_MAX_TIERS]; /* adaptive multiplier of the risk part */
    double sys_cum[CREST_MAX_TIERS];    /* systematic sampling: running sum of p */
    double sys_offset[CREST_MAX_TIERS]; /* ... and its keyed offset in [0, 1) */
    crest_window_stats *windows;
    size_t n_windows, windows_cap;

    /* Capacity ([capacity] red_per_office_day): the current day's records wait here. */
    unsigned long capacity;
    int32_t cap_day;
    int cap_day_set;
    outbuf day_out; /* renders into daymem through day_sink */
    textbuf daymem;
    cap_record *cap_recs;
    size_t n_cap_recs, cap_recs_cap;
    textbuf cap_reasons; /* reasons text of the buffered records */
    textbuf cap_offices; /* office strings, NUL-separated */
    size_t n_offices;

    /* [input] duplicate_ids = reject: keyed 64-bit hashes of the ids seen. */
    uint64_t *seen;
    size_t seen_cap, n_seen;

    worker main; /* sequential deciding (and the header) */
    worker *deciders[MAX_DECIDERS];
    unsigned n_deciders; /* > 0: block workers (blockpipe) */
    uint64_t bytes_fed;  /* feeding thread's count */
    int formula_guard;
    int pipe_done;

    crest_run_stats stats;
    crest_status fatal;
    crest_diag diag;
    textbuf notes;
};

static const char *const reject_codes[CREST_REJECT_COUNT] = {
#define CREST_REJECT_CODE(name, code, msg) code,
    CREST_REJECT_LIST(CREST_REJECT_CODE)
#undef CREST_REJECT_CODE
};

const char *crest_reject_code(crest_reject_reason reason)
{
    return (int)reason >= 0 && reason < CREST_REJECT_COUNT ? reject_codes[reason] : NULL;
}

crest_run_options crest_run_options_default(void)
{
    crest_run_options o;
    memset(&o, 0, sizeof o);
    o.format = CREST_FORMAT_CSV;
    o.input_name = "<input>";
    o.passthrough_override = -1;
    o.formula_guard_override = -1;
    o.decide = 1;
    return o;
}

/* ---------------------------------------------------------------- reasons */

/* The reasons field: codes joined by ';', a code's detail in brackets. */
typedef struct reason_buf {
    char text[1024];
    size_t len;
} reason_buf;

static void reason_add(reason_buf *rb, const char *code, const char *detail)
{
    if (!code || rb->len + 1 >= sizeof rb->text)
        return;
    const size_t start = rb->len;
    /* Appends without printf (hot path); cut at the buffer's end. */
    const char *parts[5] = {rb->len ? ";" : "", code, detail ? "[" : "", detail ? detail : "",
                            detail ? "]" : ""};
    for (int k = 0; k < 5; k++) {
        size_t pl = strlen(parts[k]);
        if (rb->len + pl >= sizeof rb->text)
            pl = sizeof rb->text - 1 - rb->len;
        memcpy(rb->text + rb->len, parts[k], pl);
        rb->len += pl;
    }
    rb->text[rb->len] = '\0';
    /* Rule ids come from a spreadsheet: keep separators out of the field. */
    for (size_t i = start + (start ? 1 : 0); i < rb->len; i++)
        if (rb->text[i] == ';' || rb->text[i] == ',' || rb->text[i] == '"' || rb->text[i] == '\n' ||
            rb->text[i] == '\r')
            rb->text[i] = '_';
}

/* A code that needs no replacement (a fixed code, or a rule's prepared one):
 * the same bytes as reason_add, without its per-character pass. */
static inline void reason_code(reason_buf *rb, const char *code, size_t len)
{
    if (rb->len + 1 + len >= sizeof rb->text) {
        char tmp[sizeof rb->text];
        memcpy(tmp, code, len < sizeof tmp ? len : sizeof tmp - 1);
        tmp[len < sizeof tmp ? len : sizeof tmp - 1] = '\0';
        reason_add(rb, tmp, NULL); /* cut at the buffer's end as reason_add cuts */
        return;
    }
    if (rb->len)
        rb->text[rb->len++] = ';';
    memcpy(rb->text + rb->len, code, len);
    rb->len += len;
    rb->text[rb->len] = '\0';
}

/* Rule ri's id as a reason. */
static inline void reason_rule(reason_buf *rb, const crest_engine *e, size_t ri)
{
    const engine_rule *er = &e->rule_info[ri];
    if (er->code_len)
        reason_code(rb, er->code, er->code_len);
    else
        reason_add(rb, crest_rules_id(e->rules, ri), NULL);
}

/* --------------------------------------------------------- header mapping */

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

COLD static crest_status set_fatal(crest_engine *e, crest_status st, unsigned long line, unsigned long col,
                                   const char *fmt, const char *arg)
{
    e->fatal = st;
    crest_diag_set(&e->diag, st, e->opt.input_name, line, col, fmt, arg);
    return st;
}

static void write_header(crest_engine *e)
{
    outbuf *o = &e->out;
    if (e->opt.format != CREST_FORMAT_CSV)
        return;
    for (size_t i = 0; i < N_OWN; i++) {
        if (i)
            outbuf_putc(o, ',');
        outbuf_puts(o, own_columns[i]);
    }
    for (size_t k = 0; k < e->n_pass; k++) {
        const char *name = e->col_names[e->pass_cols[k]];
        outbuf_putc(o, ',');
        for (size_t i = 0; i < N_OWN; i++) {
            if (strcmp(name, own_columns[i]) == 0) {
                outbuf_puts(o, "input_");
                break;
            }
        }
        outbuf_csv_field(o, name, strlen(name), ',');
    }
    outbuf_putc(o, '\n');
}

COLD static int handle_header(crest_engine *e, const csvread_row *row)
{
    if (row->error != CSVREAD_OK || row->too_many_fields || row->long_field != SIZE_MAX) {
        set_fatal(e, CREST_ERR_SYNTAX, row->line, row->error_column,
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
        set_fatal(e, CREST_ERR_NOMEM, row->line, 0, "%s", "out of memory reading the header");
        return 1;
    }
    char **norm = calloc(e->n_cols ? e->n_cols : 1, sizeof(char *));
    if (!norm) {
        set_fatal(e, CREST_ERR_NOMEM, row->line, 0, "%s", "out of memory reading the header");
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
            set_fatal(e, CREST_ERR_NOMEM, row->line, 0, "%s", "out of memory reading the header");
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
        return set_fatal(e, CREST_ERR_MISSING, row->line, 0,
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
                return set_fatal(e, CREST_ERR_MISSING, row->line, 0, "%s", msg), 1;
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
            return set_fatal(e, CREST_ERR_MISSING, row->line, 0,
                             "a registry was given but the header has no enterprise_id or "
                             "declarant_id column to join it on%s",
                             ""),
                   1;
        if (e->col_of_field[CREST_FIELD_DECL_DATE] < 0)
            return set_fatal(e, CREST_ERR_MISSING, row->line, 0,
                             "a registry was given but the header has no decl_date column: tiers are "
                             "joined as of the declaration date%s",
                             ""),
                   1;
        e->registry_usable = 1;
    }
    if (!e->registry && e->col_of_field[CREST_FIELD_CREDIT_TIER] < 0)
        textbuf_printf(&e->notes,
                       "no credit_tier column and no --registry: every declaration gets the "
                       "default tier %s\n",
                       p->tiers[p->default_tier].name);
    for (int f = 0; f < CREST_FIELD_COUNT; f++)
        if (e->col_of_field[f] >= 0)
            e->mapped[e->n_mapped++] = (struct mapped_field){f, (size_t)e->col_of_field[f]};
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
    e->pass_is_tail = e->col_of_field[CREST_FIELD_DECL_ID] == 0 && e->n_pass + 1 == e->n_cols;
    for (size_t k = 0; k < e->n_pass && e->pass_is_tail; k++)
        e->pass_is_tail = e->pass_cols[k] == k + 1;
    if (e->risk) {
        crest_diag d;
        if (crest_risk_bind(e->risk, row->fields, row->n_fields, &d) != CREST_OK) {
            e->fatal = d.status;
            e->diag = d;
            if (e->fatal == CREST_ERR_MISSING || e->fatal == CREST_ERR_MISMATCH)
                e->fatal = CREST_ERR_MISSING; /* an input problem: the header lacks what the models need */
            e->diag.status = e->fatal;
            return 1;
        }
        int scratch_ok = crest_risk_scratch_create(e->risk, &e->main.scratch) == CREST_OK;
        for (unsigned k = 0; k < e->n_deciders; k++)
            scratch_ok &= crest_risk_scratch_create(e->risk, &e->deciders[k]->scratch) == CREST_OK;
        /* decide_row rejects invalid UTF-8 before the risk layer sees a row. */
        if (scratch_ok) {
            crest_risk_scratch_promise_valid_utf8(e->main.scratch);
            for (unsigned k = 0; k < e->n_deciders; k++)
                crest_risk_scratch_promise_valid_utf8(e->deciders[k]->scratch);
        }
        if (!scratch_ok) {
            set_fatal(e, CREST_ERR_NOMEM, row->line, 0, "%s", "out of memory");
            return 1;
        }
        const size_t n_rules = e->rules ? crest_rules_count(e->rules) : 0;
        e->rule_info = calloc(n_rules ? n_rules : 1, sizeof *e->rule_info);
        if (!e->rule_info) {
            set_fatal(e, CREST_ERR_NOMEM, row->line, 0, "%s", "out of memory");
            return 1;
        }
        for (size_t i = 0; i < n_rules; i++) {
            crest_rules_info info;
            if (crest_rules_describe(e->rules, i, &info) != CREST_OK)
                continue;
            engine_rule *er = &e->rule_info[i];
            er->lane = info.action == CREST_RULES_ACTION_LANE ? (int)info.lane : 0;
            er->probability = info.probability;
            er->credit_sensitive = info.credit_sensitive;
            /* The rule's own draw: k1 derived from its id, so adding a rule does
             * not move the draws of the others. */
            er->key = crest_keyhash_siphash24(UINT64_C(0x6372657374727531) /* "crestru1" */, 0, info.id,
                                              strlen(info.id));
            reason_buf code;
            code.len = 0;
            reason_add(&code, info.id, NULL);
            if (code.len < sizeof er->code && code.len == strlen(info.id)) {
                memcpy(er->code, code.text, code.len);
                er->code_len = code.len;
            }
        }
    }
    e->stats.header_seen = 1;
    if (e->opt.header_hook && e->opt.header_hook(e->opt.hook_ctx, row->fields, row->n_fields)) {
        set_fatal(e, CREST_ERR_INTERRUPTED, row->line, 0, "%s", "stopped by the caller at the header");
        return 1;
    }
    if (e->opt.decide)
        write_header(e);
    return 0;
}

/* ----------------------------------------------------------------- rejects */

COLD static void reject(crest_engine *e, worker *w, const csvread_row *row, crest_reject_reason reason,
                        unsigned long column, const char *detail)
{
    (void)e;
    w->stats->rejects++;
    w->stats->rejects_by_reason[reason]++;
    if (w->stats->n_samples < CREST_REJECT_SAMPLES) {
        crest_reject_sample *s = &w->stats->samples[w->stats->n_samples++];
        s->line = row->line;
        s->reason = reason;
        snprintf(s->detail, sizeof s->detail, "%s", detail);
    }
    if (!w->rej)
        return;
    outbuf *o = w->rej;
    outbuf_printf(o, "%lu,%s,%lu,", row->line, reject_codes[reason], column);
    outbuf_csv_field(o, detail, strlen(detail), ',');
    outbuf_putc(o, ',');
    size_t n = row->raw.len;
    while (n && (row->raw.ptr[n - 1] == '\n' || row->raw.ptr[n - 1] == '\r'))
        n--;
    /* Always quote the raw record so a reader gets it back as one field. */
    outbuf_putc(o, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (row->raw.ptr[i] == '"') {
            outbuf_write(o, row->raw.ptr + start, i + 1 - start);
            outbuf_putc(o, '"');
            start = i + 1;
        }
    }
    outbuf_write(o, row->raw.ptr + start, n - start);
    outbuf_puts(o, row->raw_truncated ? "\",1\n" : "\",0\n");
}

/* --------------------------------------------------------------- decision */

static double parse_number(crest_str s)
{
    return crest_parse_number(s.ptr, s.len);
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

static int is_blank(crest_str s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] != ' ' && s.ptr[i] != '\t')
            return 0;
    return 1;
}

/*
 * A partner AEO code: two capitals (ISO 3166 alpha-2 of the partner) then at
 * least 4 letters or digits. China's own AEO codes (AEOCN + 10 digits) are not
 * foreign, even though "AE" is also the United Arab Emirates' prefix.
 */
static int mra_recognised(const crest_engine *e, const crest_decl *d)
{
    const crest_str a = d->field[CREST_FIELD_FOREIGN_AEO];
    if (a.len < 6 || a.len > 40)
        return 0;
    if (memcmp(a.ptr, "AEOCN", 5) == 0)
        return 0;
    if (!(a.ptr[0] >= 'A' && a.ptr[0] <= 'Z' && a.ptr[1] >= 'A' && a.ptr[1] <= 'Z'))
        return 0;
    for (size_t i = 2; i < a.len; i++) {
        const char c = a.ptr[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    if (e->col_of_field[CREST_FIELD_DIRECTION] >= 0 && d->direction != 'I')
        return 0;
    return policy_is_mra_partner(e->policy, a.ptr);
}

typedef enum tier_source { SRC_REGISTRY, SRC_FEED, SRC_DEFAULT } tier_source;

/* Feed tier labels repeat ("AEO", "REGULAR"): a few exact-match entries in
 * front of the alias lookup (which normalises case and spacing). Hot path. */
static int tier_of_label(crest_engine *e, worker *w, crest_str label)
{
    for (size_t i = 0; i < TIER_CACHE; i++) {
        const tier_cache_entry *c = &w->tier_cache[i];
        if (c->len == label.len && c->len && crest_same_bytes(c->label, label.ptr, label.len))
            return c->tier;
    }
    const int t = crest_policy_tier_lookup(e->policy, label.ptr, label.len);
    if (label.len <= sizeof w->tier_cache[0].label) {
        tier_cache_entry *c = &w->tier_cache[w->tier_cache_next++ % TIER_CACHE];
        memcpy(c->label, label.ptr, label.len);
        c->len = label.len;
        c->tier = t;
    }
    return t;
}

/* ------------------------------------------------------- control windows */

COLD static void open_window(crest_engine *e, int64_t key)
{
    e->window_open = 1;
    e->window_key = key;
    memset(e->wacc, 0, sizeof e->wacc);
    for (size_t t = 0; t < e->policy->n_tiers; t++) {
        e->sys_cum[t] = 0.0;
        uint64_t msg[2] = {(uint64_t)key, (uint64_t)t};
        e->sys_offset[t] = crest_keyhash_to_unit(crest_keyhash_siphash24(
            e->policy->seed, UINT64_C(0x63726573742d7379) /* "crest-sy" */, msg, sizeof msg));
    }
}

/* Record the window's counts and, in adaptive mode, move each tier's
 * multiplier toward target by at most a factor 1 + max_step. */
COLD static int close_window(crest_engine *e)
{
    const crest_policy *p = e->policy;
    for (size_t t = 0; t < p->n_tiers; t++) {
        const window_acc *wa = &e->wacc[t];
        if (!wa->rows)
            continue;
        if (e->n_windows == e->windows_cap) {
            size_t c = e->windows_cap ? 2 * e->windows_cap : 256;
            crest_window_stats *w = realloc(e->windows, c * sizeof *w);
            if (!w) {
                set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory recording control windows");
                return 1;
            }
            e->windows = w;
            e->windows_cap = c;
        }
        crest_window_stats *w = &e->windows[e->n_windows++];
        w->key = e->window_key;
        w->tier = t;
        w->rows = wa->rows;
        w->inspected = wa->inspected;
        w->forced = wa->forced;
        w->deferred = wa->deferred;
        w->expected = wa->expected;
        w->multiplier = e->multiplier[t];
        if (p->control_mode == CONTROL_ADAPTIVE && wa->expected > 0) {
            const double target = p->tiers[t].effective_rate;
            double step = target / (wa->expected / (double)wa->rows);
            const double hi = 1.0 + p->max_step;
            step = fmin(fmax(step, 1.0 / hi), hi);
            e->multiplier[t] = fmin(fmax(e->multiplier[t] * step, 1e-4), 1e4);
        }
    }
    e->window_open = 0;
    return 0;
}

const crest_window_stats *crest_engine_windows(const crest_engine *e, size_t *n)
{
    *n = e->n_windows;
    return e->windows;
}

/* ---------------------------------------------------------------- capacity */

static void render_middle(outbuf *o, int fmt_csv, int inspect, const char *lane, const char *reasons,
                          size_t rl)
{
    if (fmt_csv) {
        outbuf_puts(o, inspect ? "INSPECT," : "RELEASE,");
        outbuf_puts(o, lane);
        outbuf_putc(o, ',');
        outbuf_csv_field(o, reasons, rl, ',');
        return;
    }
    outbuf_printf(o, "\"decision\":\"%s\",\"lane\":\"%s\",\"reasons\":[", inspect ? "INSPECT" : "RELEASE",
                  lane);
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

static crest_status day_sink_write(void *ctx, const void *buf, size_t len)
{
    textbuf *tb = ctx;
    textbuf_append(tb, buf, len);
    return tb->oom ? CREST_ERR_NOMEM : CREST_OK;
}

static size_t day_pos(const crest_engine *e)
{
    return e->daymem.len + e->day_out.len;
}

/* Remember one record of the day before it is rendered. */
static int capacity_track(crest_engine *e, const crest_decl *d, double score, int red, int deferrable,
                          size_t tier, const reason_buf *rb)
{
    if (e->n_cap_recs == e->cap_recs_cap) {
        size_t c = e->cap_recs_cap ? 2 * e->cap_recs_cap : 1024;
        cap_record *r = realloc(e->cap_recs, c * sizeof *r);
        if (!r) {
            set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory buffering the day for the capacity cap");
            return 1;
        }
        e->cap_recs = r;
        e->cap_recs_cap = c;
    }
    /* The office's index in today's table (few offices: a linear scan). */
    const crest_str office = d->field[CREST_FIELD_OFFICE];
    size_t idx = 0, pos = 0;
    for (; idx < e->n_offices; idx++) {
        const char *name = e->cap_offices.data + pos;
        const size_t n = strlen(name);
        if (n == office.len && memcmp(name, office.ptr ? office.ptr : "", n) == 0)
            break;
        pos += n + 1;
    }
    if (idx == e->n_offices) {
        textbuf_append(&e->cap_offices, office.ptr ? office.ptr : "", office.len);
        textbuf_append(&e->cap_offices, "", 1);
        e->n_offices++;
    }
    cap_record *r = &e->cap_recs[e->n_cap_recs];
    r->start = day_pos(e);
    r->office = idx;
    r->tier = tier;
    r->order = e->n_cap_recs;
    r->score = score;
    r->red = red;
    r->deferrable = deferrable;
    r->reasons_ofs = e->cap_reasons.len;
    r->reasons_len = rb->len;
    textbuf_append(&e->cap_reasons, rb->text, rb->len);
    e->n_cap_recs++;
    if (e->cap_reasons.oom || e->cap_offices.oom) {
        set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory buffering the day for the capacity cap");
        return 1;
    }
    return 0;
}

static void capacity_mark(crest_engine *e, int which)
{
    cap_record *r = &e->cap_recs[e->n_cap_recs - 1];
    const size_t pos = day_pos(e);
    if (which == 1)
        r->mid_start = pos;
    else if (which == 2)
        r->mid_end = pos;
    else
        r->end = pos;
}

static int cmp_defer(const void *a, const void *b)
{
    const cap_record *x = *(cap_record *const *)a, *y = *(cap_record *const *)b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * End of a day: per office, when more RED selections than the cap, defer the
 * lowest-risk deferrable ones to BLUE (reason CAPACITY); what remains over the
 * cap (forced and floor selections) stays RED and is flagged OVERFLOW. Then
 * write the day's records in input order.
 */
static int capacity_flush(crest_engine *e)
{
    outbuf_flush(&e->day_out);
    if (e->daymem.oom || e->day_out.error != CREST_OK) {
        set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory buffering the day for the capacity cap");
        return 1;
    }
    /* action per record: 0 keep, 1 defer, 2 overflow */
    unsigned char *action = calloc(e->n_cap_recs ? e->n_cap_recs : 1, 1);
    cap_record **cand = malloc((e->n_cap_recs ? e->n_cap_recs : 1) * sizeof *cand);
    if (!action || !cand) {
        free(action);
        free(cand);
        set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory applying the capacity cap");
        return 1;
    }
    for (size_t off = 0; off < e->n_offices; off++) {
        size_t red = 0, nc = 0;
        for (size_t i = 0; i < e->n_cap_recs; i++) {
            cap_record *r = &e->cap_recs[i];
            if (r->office != off || !r->red)
                continue;
            red++;
            if (r->deferrable)
                cand[nc++] = r;
        }
        if (red <= e->capacity)
            continue;
        size_t excess = red - e->capacity;
        qsort(cand, nc, sizeof *cand, cmp_defer);
        for (size_t k = 0; k < nc && excess; k++, excess--)
            action[cand[k]->order] = 1;
        /* What is still over the cap cannot be deferred: flag the latest ones. */
        for (size_t i = e->n_cap_recs; i-- > 0 && excess;) {
            cap_record *r = &e->cap_recs[i];
            if (r->office == off && r->red && !action[i]) {
                action[i] = 2;
                excess--;
            }
        }
    }
    const int fmt_csv = e->opt.format == CREST_FORMAT_CSV;
    for (size_t i = 0; i < e->n_cap_recs; i++) {
        const cap_record *r = &e->cap_recs[i];
        const char *base = e->daymem.data;
        outbuf_write(&e->out, base + r->start, r->mid_start - r->start);
        if (action[i]) {
            reason_buf rb;
            rb.len = 0;
            rb.text[0] = '\0';
            reason_add(&rb, action[i] == 1 ? "CAPACITY" : "OVERFLOW", NULL);
            if (r->reasons_len) {
                size_t n = r->reasons_len < sizeof rb.text - rb.len - 2 ? r->reasons_len
                                                                        : sizeof rb.text - rb.len - 2;
                rb.text[rb.len++] = ';';
                memcpy(rb.text + rb.len, e->cap_reasons.data + r->reasons_ofs, n);
                rb.len += n;
                rb.text[rb.len] = '\0';
            }
            render_middle(&e->out, fmt_csv, 1, action[i] == 1 ? "BLUE" : e->policy->lane_inspect, rb.text,
                          rb.len);
            crest_tier_counts *tc = &e->stats.tiers[r->tier];
            if (action[i] == 1) {
                tc->deferred++;
                e->stats.deferred++;
                e->stats.lanes[CREST_RULES_LANE_RED]--;
                e->stats.lanes[CREST_RULES_LANE_BLUE]++;
                e->wacc[r->tier].deferred++;
            } else {
                tc->overflow++;
                e->stats.overflow++;
            }
        } else {
            outbuf_write(&e->out, base + r->mid_start, r->mid_end - r->mid_start);
        }
        outbuf_write(&e->out, base + r->mid_end, r->end - r->mid_end);
    }
    free(action);
    free(cand);
    e->daymem.len = 0;
    e->cap_reasons.len = 0;
    e->cap_offices.len = 0;
    e->n_offices = 0;
    e->n_cap_recs = 0;
    e->day_out.bytes_out = 0;
    if (e->out.error != CREST_OK) {
        set_fatal(e, CREST_ERR_IO, 0, 0, "%s", "writing the decisions failed");
        return 1;
    }
    return 0;
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

/* A record equal to the header (a BOM allowed on its first field). */
static int is_repeated_header(const crest_engine *e, const csvread_row *row)
{
    if (row->n_fields != e->n_cols || !e->n_cols)
        return 0;
    for (size_t i = 0; i < e->n_cols; i++) {
        crest_str f = row->fields[i];
        if (i == 0 && f.len >= 3 && memcmp(f.ptr, "\xEF\xBB\xBF", 3) == 0)
            f.ptr += 3, f.len -= 3;
        /* Runs for every record: the first byte settles it for data rows. The
         * field holds no NUL (rejected before), so strncmp reads name only up to
         * its end. */
        const char *name = e->col_names[i];
        if (f.len ? name[0] != f.ptr[0] : name[0] != '\0')
            return 0;
        if (strncmp(name, f.ptr, f.len) != 0 || name[f.len] != '\0')
            return 0;
    }
    return 1;
}

/*
 * The id keys the draw, so invisible differences must not pass: white space at
 * either end, control characters, U+FEFF (BOM), U+200B..U+200D and U+2060
 * (zero-width). Returns the offset of the first offending byte or SIZE_MAX.
 */
static size_t invalid_id_offset(crest_str id)
{
    const unsigned char *s = (const unsigned char *)id.ptr;
    if (s[0] == ' ' || s[0] == '\t')
        return 0;
    if (s[id.len - 1] == ' ' || s[id.len - 1] == '\t')
        return id.len - 1;
    /* Hot path: printable ASCII (0x20..0x7E) throughout is fine. Eight bytes
     * at a time: a byte below 0x20 borrows, a byte of 0x7F or more has or
     * gets its high bit (carries and borrows only start at such bytes). */
    size_t i = 0;
    for (; i + 8 <= id.len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        const uint64_t ones = UINT64_C(0x0101010101010101), high = UINT64_C(0x8080808080808080);
        if ((((w - 0x20 * ones) & ~w) | w | (w + ones)) & high)
            break;
    }
    while (i < id.len && (unsigned char)(s[i] - 0x20) < 0x5F)
        i++;
    for (; i < id.len; i++) {
        if (s[i] < 0x20 || s[i] == 0x7F)
            return i;
        if (s[i] == 0xEF && i + 2 < id.len && s[i + 1] == 0xBB && s[i + 2] == 0xBF)
            return i;
        if (s[i] == 0xE2 && i + 2 < id.len &&
            ((s[i + 1] == 0x80 && s[i + 2] >= 0x8B && s[i + 2] <= 0x8D) ||
             (s[i + 1] == 0x81 && s[i + 2] == 0xA0)))
            return i;
    }
    return SIZE_MAX;
}

/* Insert an id's keyed hash; 1 when already present, 0 when new, -1 on OOM. */
static int seen_insert(crest_engine *e, crest_str id)
{
    uint64_t h = crest_keyhash_siphash24(e->policy->seed, UINT64_C(0x63726573742d6964) /* "crest-id" */,
                                         id.ptr, id.len);
    if (h == 0)
        h = 1; /* 0 marks an empty slot */
    if (2 * (e->n_seen + 1) > e->seen_cap) {
        const size_t cap = e->seen_cap ? 2 * e->seen_cap : 1 << 16;
        uint64_t *t = calloc(cap, sizeof *t);
        if (!t)
            return -1;
        for (size_t i = 0; i < e->seen_cap; i++) {
            if (!e->seen[i])
                continue;
            size_t k = e->seen[i] & (cap - 1);
            while (t[k])
                k = (k + 1) & (cap - 1);
            t[k] = e->seen[i];
        }
        free(e->seen);
        e->seen = t;
        e->seen_cap = cap;
    }
    size_t k = h & (e->seen_cap - 1);
    while (e->seen[k]) {
        if (e->seen[k] == h)
            return 1;
        k = (k + 1) & (e->seen_cap - 1);
    }
    e->seen[k] = h;
    e->n_seen++;
    return 0;
}

COLD static int decide_write_failed(crest_engine *e, const csvread_row *row)
{
    if (e->n_deciders)
        return -1; /* a block's memory buffer: out of memory, reported by the feeding thread */
    return set_fatal(e, CREST_ERR_IO, row->line, 0, "%s", "writing the decisions failed"), 1;
}

/* Bytes a spreadsheet may read as the start of a formula (looks_like_formula). */
static const unsigned char formula_lead[256] = {
    ['='] = 1, ['+'] = 1, ['-'] = 1, ['@'] = 1, ['\t'] = 1, ['\r'] = 1};

static inline char *put(char *q, const char *s, size_t n)
{
    memcpy(q, s, n);
    return q + n;
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
static int render_plain_csv(crest_engine *e, worker *w, outbuf *o, const csvread_row *row, size_t tier,
                            const char *source, size_t source_len, const char *score, size_t score_len,
                            double prob, uint64_t u53, int inspect, const char *lane, size_t lane_len,
                            const reason_buf *rb, int priority, int guarantee_exempt, int mra)
{
    /* plain means "as re-encoded with the input's delimiter": the output's is ','.
     * A record plain but for needless quotes (row->unquoted) is copied in
     * pieces around those quotes. */
    if (!e->pass_is_tail || !(row->plain || row->unquoted) || row->raw.len == 0 || row->raw.ptr[0] == '"' ||
        e->policy->delimiter != ',')
        return 0;
    const crest_str id = row->fields[0];
    if (e->formula_guard) {
        for (size_t k = 1; k < row->n_fields; k++)
            if (row->fields[k].len && formula_lead[(unsigned char)row->fields[k].ptr[0]])
                return 0;
    }
    size_t end = row->raw.len;
    while (end && (row->raw.ptr[end - 1] == '\n' || row->raw.ptr[end - 1] == '\r'))
        end--;
    const size_t tail = end > id.len ? end - id.len : 0; /* ",col2,...": starts at the delimiter */
    const size_t tl = e->tier_name_len[tier], sl = source_len, scl = score_len, ll = lane_len;
    char *q = outbuf_reserve(o, id.len + tl + sl + scl + ll + rb->len + tail + 128);
    if (!q)
        return 0;
    q = put(q, id.ptr, id.len);
    *q++ = ',';
    q = put(q, e->policy->tiers[tier].name, tl);
    *q++ = ',';
    q = put(q, source, sl);
    *q++ = ',';
    q = put(q, score, scl);
    *q++ = ',';
    uint64_t bits;
    memcpy(&bits, &prob, sizeof bits);
    struct p_text *pt = &w->p_cache[(bits * UINT64_C(0x9E3779B97F4A7C15)) >> 58];
    if (!pt->len || pt->value != prob) {
        const size_t pl = outbuf_fmt_g6(pt->text, prob);
        if (!pl)
            return 0; /* printf's territory: the general path (nothing committed yet) */
        pt->len = (uint32_t)pl;
        pt->value = prob;
    }
    q = put(q, pt->text, pt->len);
    *q++ = ',';
    q += outbuf_fmt_u53(q, u53);
    q = put(q, inspect ? ",INSPECT," : ",RELEASE,", 9);
    q = put(q, lane, ll);
    *q++ = ',';
    q = put(q, rb->text, rb->len); /* reason codes never need quotes (reason_add) */
    const char flags[] = {',', (char)('0' + priority), ',', (char)('0' + guarantee_exempt),
                          ',', (char)('0' + mra),      ','};
    q = put(q, flags, sizeof flags);
    q = put(q, e->policy->hash_hex, 16);
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

/* Hot path: decide one record (or reject it) on worker w. */
static int decide_row(crest_engine *e, worker *w, const csvread_row *row)
{
    if (UNLIKELY(!e->stats.header_seen))
        return handle_header(e, row);
    w->stats->rows_in++;
    char detail[160];
    if (UNLIKELY(row->error != CSVREAD_OK)) {
        switch (row->error) {
        case CSVREAD_OK:
            break;
        case CSVREAD_ERR_QUOTE:
            snprintf(detail, sizeof detail, "malformed quoting at line %lu, column %lu", row->error_line,
                     row->error_column);
            reject(e, w, row, CREST_REJECT_CSV_QUOTE, row->error_column, detail);
            return 0;
        case CSVREAD_ERR_UNTERMINATED:
            reject(e, w, row, CREST_REJECT_CSV_UNTERMINATED, row->error_column,
                   "the input ends inside a quoted field opened on this record");
            return 0;
        case CSVREAD_ERR_FIELD_TOO_LONG:
            snprintf(detail, sizeof detail,
                     "a field is longer than %zu bytes (max_field_bytes); the record (over %zu bytes) "
                     "was skipped",
                     e->policy->max_field_bytes, e->policy->max_record_bytes);
            reject(e, w, row, CREST_REJECT_FIELD_TOO_LONG, 1, detail);
            return 0;
        case CSVREAD_ERR_RECORD_TOO_LONG:
            snprintf(detail, sizeof detail, "record longer than %zu bytes (max_record_bytes)",
                     e->policy->max_record_bytes);
            reject(e, w, row, CREST_REJECT_RECORD_TOO_LONG, 1, detail);
            return 0;
        }
    }
    if (row->too_many_fields || row->n_fields != e->n_cols) {
        snprintf(detail, sizeof detail, "expected %zu fields as in the header, found %s%zu", e->n_cols,
                 row->too_many_fields ? "more than " : "", row->n_fields);
        reject(e, w, row, CREST_REJECT_COLUMN_COUNT, 0, detail);
        return 0;
    }
    if (row->long_field != SIZE_MAX) {
        snprintf(detail, sizeof detail, "field %zu (%.60s) is longer than %zu bytes (max_field_bytes)",
                 row->long_field + 1, e->col_names[row->long_field], e->policy->max_field_bytes);
        reject(e, w, row, CREST_REJECT_FIELD_TOO_LONG, (unsigned long)row->long_field + 1, detail);
        return 0;
    }
    size_t bad =
        row->checked ? row->utf8_bad : utf8_invalid_offset((const unsigned char *)row->raw.ptr, row->raw.len);
    if (bad != SIZE_MAX) {
        snprintf(detail, sizeof detail, "invalid UTF-8 byte 0x%02X at byte %zu of the record",
                 (unsigned char)row->raw.ptr[bad], bad + 1);
        reject(e, w, row, CREST_REJECT_INVALID_UTF8, (unsigned long)bad + 1, detail);
        return 0;
    }

    size_t nul_at = row->checked ? row->nul_at : SIZE_MAX;
    if (!row->checked && row->raw.len) {
        const char *z = memchr(row->raw.ptr, '\0', row->raw.len);
        nul_at = z ? (size_t)(z - row->raw.ptr) : SIZE_MAX;
    }
    if (nul_at != SIZE_MAX) {
        const size_t at = nul_at;
        snprintf(detail, sizeof detail, "NUL byte at byte %zu of the record: not text", at + 1);
        reject(e, w, row, CREST_REJECT_INVALID_UTF8, (unsigned long)at + 1, detail);
        return 0;
    }
    if (is_repeated_header(e, row)) {
        reject(e, w, row, CREST_REJECT_REPEATED_HEADER, 1,
               "the record repeats the header (concatenated files?); the data after it is read as before");
        return 0;
    }

    const crest_policy *p = e->policy;
    /* The worker's declaration: its unmapped fields stay {NULL, 0} from the
     * start, so only the mapped ones are set per row. */
    crest_decl *d = &w->decl;
    for (size_t k = 0; k < e->n_mapped; k++)
        d->field[e->mapped[k].field] = row->fields[e->mapped[k].col];
    d->cols = row->fields;
    d->n_cols = row->n_fields;
    const crest_str id = d->field[CREST_FIELD_DECL_ID];
    if (is_blank(id)) {
        reject(e, w, row, CREST_REJECT_MISSING_ID, (unsigned long)e->col_of_field[CREST_FIELD_DECL_ID] + 1,
               "decl_id is empty: every declaration needs an identifier");
        return 0;
    }
    const size_t bad_at = invalid_id_offset(id);
    if (bad_at != SIZE_MAX) {
        snprintf(detail, sizeof detail, "decl_id has %s at byte %zu (the id keys the draw)",
                 bad_at == 0 || bad_at + 1 >= id.len ? "white space or an invisible character"
                                                     : "an invisible character",
                 bad_at + 1);
        reject(e, w, row, CREST_REJECT_INVALID_ID, (unsigned long)e->col_of_field[CREST_FIELD_DECL_ID] + 1,
               detail);
        return 0;
    }
    if (p->reject_duplicate_ids) {
        const int dup = seen_insert(e, id);
        if (dup < 0)
            return set_fatal(e, CREST_ERR_NOMEM, row->line, 0, "%s", "out of memory tracking decl_ids"), 1;
        if (dup) {
            snprintf(detail, sizeof detail, "decl_id %.*s was already decided in this run",
                     (int)(id.len > 60 ? 60 : id.len), id.ptr);
            reject(e, w, row, CREST_REJECT_DUPLICATE_ID,
                   (unsigned long)e->col_of_field[CREST_FIELD_DECL_ID] + 1, detail);
            return 0;
        }
    }
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
    /* Numbers only feed the risk layer and tools' hooks: parse them only then. */
    if (e->risk || e->opt.decl_hook) {
        d->declared_value = parse_number(d->field[CREST_FIELD_DECLARED_VALUE]);
        d->net_mass_kg = parse_number(d->field[CREST_FIELD_NET_MASS_KG]);
        d->quantity = parse_number(d->field[CREST_FIELD_QUANTITY]);
    } else {
        d->declared_value = d->net_mass_kg = d->quantity = NAN;
    }
    d->direction = parse_direction(d->field[CREST_FIELD_DIRECTION]);

    /* Effective tier: the worst tier among the parties found in the registry. */
    int tier = -1, party = -1;
    tier_source src = SRC_DEFAULT;
    int registry_needs_date = 0;
    for (int pass = 0; pass < 2 && tier < 0; pass++) {
        const int use_registry = (pass == 0) == (p->tier_pref == CREST_TIER_PREFER_REGISTRY);
        if (use_registry && e->registry_usable) {
            for (size_t k = 0; k < p->n_parties; k++) {
                const crest_str pid = d->field[p->parties[k]];
                if (pid.len == 0)
                    continue;
                if (d->date_days == CREST_DATE_NONE) {
                    registry_needs_date = 1;
                    break;
                }
                int t = crest_registry_lookup(e->registry, pid.ptr, pid.len, d->date_days);
                if (t > tier) {
                    tier = t;
                    party = (int)p->parties[k];
                    src = SRC_REGISTRY;
                }
            }
            if (registry_needs_date)
                break;
        } else if (!use_registry) {
            const crest_str label = d->field[CREST_FIELD_CREDIT_TIER];
            if (label.len) {
                int t = tier_of_label(e, w, label);
                if (t >= 0) {
                    tier = t;
                    src = SRC_FEED;
                }
            }
        }
    }
    if (registry_needs_date) {
        snprintf(detail, sizeof detail,
                 "decl_date '%.*s' is not a valid date (YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD) and the registry "
                 "join needs it",
                 (int)(date.len > 40 ? 40 : date.len), date.ptr ? date.ptr : "");
        reject(e, w, row, CREST_REJECT_BAD_DATE, (unsigned long)e->col_of_field[CREST_FIELD_DECL_DATE] + 1,
               detail);
        return 0;
    }
    const int unknown = tier < 0;
    if (unknown)
        tier = (int)p->default_tier;
    const policy_tier *t = &p->tiers[tier];

    /* Capacity works per office and day: a new day releases the previous one. */
    if (e->capacity && d->date_days != CREST_DATE_NONE && (!e->cap_day_set || d->date_days != e->cap_day)) {
        if (e->cap_day_set && capacity_flush(e) != 0)
            return 1;
        e->cap_day = d->date_days;
        e->cap_day_set = 1;
    }
    /* Control windows: a new day (window = day) or every window_rows declarations. */
    /* (Not with parallel deciders: windows follow the input order.) */
    if (!e->n_deciders) {
        const int64_t wkey = p->window_rows
                                 ? (int64_t)(w->stats->decisions / p->window_rows)
                                 : (d->date_days == CREST_DATE_NONE ? e->window_key : d->date_days);
        if (!e->window_open || wkey != e->window_key) {
            if (e->window_open && close_window(e) != 0)
                return 1;
            open_window(e, wkey);
        }
    }

    /*
     * The selection probability. Without a risk layer p is the tier's target.
     * With one, the target splits into a random part (random_share, drawn
     * uniformly: reason RANDOM) and a risk part weighted by the score:
     *   p = rate · (rs + (1 − rs) · scale · m · w(score)),  w = 1 + gain·score or exp(gain·score)
     * where scale is the tier's calibrated constant and m the adaptive
     * multiplier (1 unless [control] mode = adaptive). A single keyed draw
     * u < p decides; u below the random part reads as a random selection.
     */
    crest_decision dec;
    memset(&dec, 0, sizeof dec);
    dec.tier = (size_t)tier;
    dec.score = NAN;
    dec.multiplier = e->multiplier[tier];
    crest_risk_result *rr = NULL;
    dec.p_random = t->effective_rate;
    if (e->risk) {
        rr = &w->rr;
        crest_risk_eval(e->risk, w->scratch, d, rr);
        dec.score = rr->score;
        const double rs = isnan(t->random_share) ? p->random_share : t->random_share;
        const double weight = p->weighting == WEIGHTING_EXP    ? exp(p->gain * rr->score)
                              : p->weighting == WEIGHTING_ODDS ? exp(p->gain * fmin(fmax(rr->z, -30.0), 30.0))
                                                               : 1.0 + p->gain * rr->score;
        dec.p_random = t->effective_rate * rs;
        dec.p_risk_unit = t->effective_rate * (1.0 - rs) * weight;
        w->stats->regex_limit_hits += rr->rules.n_limit_hits;
        if (rr->rules.n_limit_hits && p->on_limit == LIMIT_REJECT) {
            /* The policy says a regex that could not finish leaves the row undecidable. */
            snprintf(detail, sizeof detail,
                     "%u criterion regex(es) stopped by the PCRE2 match or depth limit",
                     rr->rules.n_limit_hits);
            reject(e, w, row, CREST_REJECT_REGEX_LIMIT, 0, detail);
            return 0;
        }
    }
    double prob = dec.p_random + t->scale * dec.multiplier * dec.p_risk_unit;
    if (t->floor && prob < t->effective_rate)
        prob = t->effective_rate; /* "80% or more": every declaration of a floor tier */
    if (prob > 1.0)
        prob = 1.0;
    if (!(prob >= 0.0))
        prob = 0.0;
    dec.p = prob;
    /* u = u53 / 2^53 (crest_keyhash_uniform), kept as an integer for its text. */
    const uint64_t u53 = crest_keyhash_siphash24(p->seed, CREST_KEYHASH_K1, id.ptr, id.len) >> 11;
    dec.u = crest_keyhash_to_unit(u53 << 11);
    const double u = dec.u;
    int drawn, by_random;
    if (p->control_mode == CONTROL_SYSTEMATIC) {
        /* Systematic sampling within the tier and window: select when the running
         * sum of p, shifted by a keyed offset, crosses an integer. Counts stay
         * within one of their expectation; order-dependent by construction. */
        const double before = e->sys_cum[tier] + e->sys_offset[tier];
        e->sys_cum[tier] += prob;
        const double after = before + prob;
        drawn = floor(after) > floor(before);
        by_random = drawn && prob > 0 && (floor(after) - before) / prob < dec.p_random / prob;
    } else {
        drawn = u < prob;
        by_random = u < dec.p_random;
    }

    /* Lane forcing by criteria: each hit lane rule applies with its probability,
     * drawn with its own keyed uniform; credit-sensitive rules scale that
     * probability by the tier's rate relative to the base tier. */
    int forced_lane = 0, forced_rule = -1, max_hits = 0;
    if (rr && e->rules) {
        const double tier_factor = t->effective_rate / p->tiers[p->base_tier].effective_rate;
        double not_forced = 1.0;
        for (size_t k = 0; k < rr->rules.n_hits; k++) {
            const uint32_t ri = rr->rules.hits[k];
            const engine_rule *er = &e->rule_info[ri];
            if (!er->lane)
                continue;
            double q = er->probability;
            if (er->credit_sensitive)
                q = fmin(1.0, q * tier_factor);
            not_forced *= 1.0 - q;
            if (er->lane > forced_lane &&
                crest_keyhash_to_unit(crest_keyhash_siphash24(p->seed, er->key, id.ptr, id.len)) < q) {
                forced_lane = er->lane;
                forced_rule = (int)ri;
            }
        }
        max_hits = rr->rules.max_hits_exceeded;
        dec.p_forced = max_hits ? 1.0 : 1.0 - not_forced;
    }
    /* [rules] on_limit = inspect: a regex that could not finish sends the row to inspection. */
    const int limit_inspect = rr && rr->rules.n_limit_hits && p->on_limit == LIMIT_INSPECT;
    if (limit_inspect) {
        max_hits = 1; /* forced to the inspect lane, like "maximum hits" */
        dec.p_forced = 1.0;
    }
    const int inspect = drawn || forced_lane > CREST_RULES_LANE_NONE || max_hits;
    dec.inspect = inspect;
    dec.forced = forced_lane > 0 || max_hits;
    int lane_rank = forced_lane;
    if ((drawn || max_hits) && e->inspect_lane_rank > lane_rank)
        lane_rank = e->inspect_lane_rank;
    dec.lane = inspect ? lane_rank : 0;
    if (e->opt.decl_hook && e->opt.decl_hook(e->opt.hook_ctx, d, &dec, row->line)) {
        set_fatal(e, CREST_ERR_INTERRUPTED, row->line, 0, "%s", "stopped by the caller");
        return 1;
    }

    const char *lane = !inspect ? p->lane_release
                       : lane_rank == e->inspect_lane_rank
                           ? p->lane_inspect
                           : crest_rules_lane_name((crest_rules_lane)lane_rank);
    const size_t lane_len = !inspect                            ? e->lane_release_len
                            : lane_rank == e->inspect_lane_rank ? e->lane_inspect_len
                                                                : strlen(lane);
    const int mra = mra_recognised(e, d);
    const int priority = t->priority || mra;
    const double p_inspect = 1.0 - (1.0 - dec.p_forced) * (1.0 - prob);

    crest_tier_counts *tc = &w->stats->tiers[tier];
    tc->rows++;
    tc->inspected += (uint64_t)inspect;
    tc->expected += p_inspect;
    tc->forced_expected += dec.p_forced;
    tc->random_expected += dec.p_random;
    tc->unknown += (uint64_t)unknown;
    tc->from_registry += src == SRC_REGISTRY;
    tc->from_feed += src == SRC_FEED;
    tc->forced += (uint64_t)dec.forced;
    if (!e->n_deciders) {
        window_acc *wa = &e->wacc[tier];
        wa->rows++;
        wa->inspected += (uint64_t)inspect;
        wa->forced += (uint64_t)dec.forced;
        wa->expected += p_inspect;
    }
    w->stats->decisions++;
    w->stats->inspected += (uint64_t)inspect;
    w->stats->priority += (uint64_t)priority;
    w->stats->guarantee_exempt += (uint64_t)t->guarantee_exempt;
    w->stats->mra_recognised += (uint64_t)mra;
    w->stats->lanes[inspect ? lane_rank : 0]++;
    w->stats->selected_random += (uint64_t)by_random;
    w->stats->selected_risk += (uint64_t)(drawn && !by_random);
    w->stats->selected_forced += (uint64_t)(forced_lane > 0);
    w->stats->selected_max_hits += (uint64_t)max_hits;

    /* Reasons: why selected first, then the hit criteria, then notes. */
    reason_buf rb;
    rb.len = 0; /* no memset: 1 KiB per row would show in profiles */
    rb.text[0] = '\0';
    if (forced_rule >= 0)
        reason_rule(&rb, e, (size_t)forced_rule);
    if (limit_inspect)
        reason_code(&rb, "REGEX_LIMIT", sizeof "REGEX_LIMIT" - 1);
    else if (max_hits)
        reason_add(&rb, crest_rules_max_hits_id(e->rules), NULL);
    if (drawn && by_random)
        reason_code(&rb, t->floor ? "TIER_FLOOR" : "RANDOM", t->floor ? 10 : 6);
    if (drawn && !by_random)
        reason_code(&rb, "RISK", sizeof "RISK" - 1);
    if (drawn && !by_random && rr && rr->explain.n) {
        char top[160];
        size_t dl = 0;
        top[0] = '\0';
        for (size_t k = 0; k < rr->explain.n && dl < sizeof top; k++)
            dl += (size_t)snprintf(top + dl, sizeof top - dl, "%s%s%+.2f", k ? " " : "",
                                   rr->explain.feature[k], rr->explain.contribution[k]);
        reason_add(&rb, "MODEL", top);
    } else if (drawn && !by_random && rr && !isnan(rr->model_prob)) {
        reason_add(&rb, "MODEL", NULL);
    }
    if (drawn && !by_random && t->floor)
        reason_code(&rb, "TIER_FLOOR", sizeof "TIER_FLOOR" - 1);
    if (rr) {
        for (size_t k = 0; k < rr->rules.n_hits; k++)
            if ((int)rr->rules.hits[k] != forced_rule)
                reason_rule(&rb, e, rr->rules.hits[k]);
    }
    if (unknown)
        reason_code(&rb, "TIER_UNKNOWN", sizeof "TIER_UNKNOWN" - 1);
    if (mra)
        reason_code(&rb, "MRA", sizeof "MRA" - 1);
    char score_text[32] = "";
    size_t score_len = 0;
    if (rr) {
        score_len = 6;
        /* %.4f without printf (hot path); the score is in (0, 1]. */
        const unsigned v = (unsigned)(rr->score * 1e4 + 0.5);
        score_text[0] = (char)('0' + v / 10000);
        score_text[1] = '.';
        score_text[2] = (char)('0' + v / 1000 % 10);
        score_text[3] = (char)('0' + v / 100 % 10);
        score_text[4] = (char)('0' + v / 10 % 10);
        score_text[5] = (char)('0' + v % 10);
        score_text[6] = '\0';
    }
#define SOURCE_TEXT(t)                                                                                       \
    {                                                                                                        \
        t, sizeof t - 1                                                                                      \
    }
    static const struct {
        const char *text;
        size_t len;
    } sources[] = {SOURCE_TEXT("feed"), SOURCE_TEXT("default"), SOURCE_TEXT("registry:declarant_id"),
                   SOURCE_TEXT("registry:enterprise_id")};
#undef SOURCE_TEXT
    const size_t source_at = src == SRC_FEED                     ? 0
                             : src == SRC_DEFAULT                ? 1
                             : party == CREST_FIELD_DECLARANT_ID ? 2
                                                                 : 3;
    const char *source = sources[source_at].text;
    const size_t source_len = sources[source_at].len;
    if (!e->opt.decide)
        return 0;

    /* With a capacity cap the day's records wait in the day buffer (their
     * decision part may still change); otherwise they go straight out. */
    outbuf *o = e->capacity ? &e->day_out : w->out;
    if (!e->capacity && e->opt.format == CREST_FORMAT_CSV &&
        render_plain_csv(e, w, o, row, (size_t)tier, source, source_len, score_text, score_len, prob, u53,
                         inspect, lane, lane_len, &rb, priority, t->guarantee_exempt, mra))
        return o->error == CREST_OK ? 0 : decide_write_failed(e, row);
    if (e->capacity &&
        capacity_track(e, d, rr ? rr->score : 0.0, inspect && lane_rank == CREST_RULES_LANE_RED,
                       inspect && drawn && !dec.forced && !t->floor, (size_t)tier, &rb) != 0)
        return 1;
    const int fmt_csv = e->opt.format == CREST_FORMAT_CSV;
    if (fmt_csv) {
        outbuf_csv_field(o, id.ptr, id.len, ',');
        outbuf_putc(o, ',');
        outbuf_puts(o, t->name);
        outbuf_putc(o, ',');
        outbuf_puts(o, source);
        outbuf_putc(o, ',');
        outbuf_puts(o, score_text);
        outbuf_putc(o, ',');
        outbuf_g6(o, prob);
        outbuf_putc(o, ',');
        outbuf_fixed(o, u, 8);
        outbuf_putc(o, ',');
    } else {
        outbuf_puts(o, "{\"decl_id\":");
        outbuf_json_string(o, id.ptr, id.len);
        outbuf_puts(o, ",\"tier\":");
        outbuf_json_string(o, t->name, strlen(t->name));
        outbuf_printf(o, ",\"tier_source\":\"%s\",\"risk_score\":%s,\"p\":%.6g,\"u\":%.8f,", source,
                      rr ? score_text : "null", prob, u);
    }
    if (e->capacity)
        capacity_mark(e, 1);
    render_middle(o, fmt_csv, inspect, lane, rb.text, rb.len);
    if (e->capacity)
        capacity_mark(e, 2);
    if (fmt_csv) {
        const char flags[] = {',', (char)('0' + priority), ',', (char)('0' + t->guarantee_exempt),
                              ',', (char)('0' + mra),      ','};
        outbuf_write(o, flags, sizeof flags);
        outbuf_write(o, p->hash_hex, 16);
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
    } else {
        outbuf_printf(o,
                      ",\"priority\":%s,\"guarantee_exempt_eligible\":%s,\"mra_recognised\":%s,"
                      "\"policy_hash\":\"%s\"",
                      priority ? "true" : "false", t->guarantee_exempt ? "true" : "false",
                      mra ? "true" : "false", p->hash_hex);
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
    if (e->capacity)
        capacity_mark(e, 3);
    o = w->out;
    return o->error == CREST_OK ? 0 : decide_write_failed(e, row);
}

static int on_row(void *ctx, const csvread_row *row)
{
    crest_engine *e = ctx;
    return decide_row(e, &e->main, row);
}

/* ------------------------------------------------------ parallel deciders */

static crest_status text_sink(void *ctx, const void *buf, size_t len)
{
    textbuf *tb = ctx;
    textbuf_append(tb, buf, len);
    return tb->oom ? CREST_ERR_NOMEM : CREST_OK;
}

/* Sequential deciding on the pipe's one consumer thread. */
static int pipe_row_main(void *ctx, const csvread_row *row)
{
    crest_engine *e = ctx;
    return decide_row(e, &e->main, row);
}

/* ---------------------------------------------------------- block workers */

static int worker_row(void *ctx, const csvread_row *row)
{
    worker *w = ctx;
    return decide_row(w->engine, w, row);
}

static void *block_result_new(void *ctx)
{
    (void)ctx;
    block_result *r = calloc(1, sizeof *r);
    if (r) {
        textbuf_init(&r->out);
        textbuf_init(&r->rej);
    }
    return r;
}

static void block_result_free(void *ctx, void *res)
{
    (void)ctx;
    block_result *r = res;
    textbuf_free(&r->out);
    textbuf_free(&r->rej);
    free(r);
}

/* A worker renders a block's decisions into its output buffer, which is big
 * enough for a block's output: at the end the buffer becomes the result's
 * text and the result's old buffer becomes the worker's (no copy). Returns 0
 * when that does not apply (an overflow went to the result's text already,
 * or its old buffer is too small and cannot be replaced): flush instead. */
static int take_rendered(outbuf *o, textbuf *t)
{
    if (t->len || o->error != CREST_OK)
        return 0;
    char *spare = t->data;
    size_t spare_cap = t->cap;
    if (!spare || spare_cap < o->cap) {
        char *fresh = malloc(o->cap);
        if (!fresh)
            return 0;
        free(spare);
        spare = fresh;
        spare_cap = o->cap;
    }
    t->data = o->buf;
    t->len = o->len;
    t->cap = o->cap;
    o->buf = spare;
    o->cap = spare_cap;
    o->len = 0;
    return 1;
}

/* Worker thread: read and decide a block afresh into its result. */
static int block_process(void *ctx, unsigned wi, blockpipe_block *b)
{
    crest_engine *e = ctx;
    worker *w = e->deciders[wi];
    block_result *res = b->result;
    res->out.len = res->rej.len = 0;
    res->out.oom = res->rej.oom = 0;
    memset(&res->stats, 0, sizeof res->stats);
    w->mem_out.sink.ctx = &res->out;
    w->mem_out.error = CREST_OK;
    w->stats = &res->stats;
    if (w->rej) {
        w->mem_rej.sink.ctx = &res->rej;
        w->mem_rej.error = CREST_OK;
    }
    csvread_restart(w->reader, b->line);
    int rc = csvread_feed(w->reader, b->data, b->len);
    if (!rc && b->last)
        rc = csvread_finish(w->reader);
    if (!take_rendered(&w->mem_out, &res->out))
        outbuf_flush(&w->mem_out);
    if (w->rej)
        outbuf_flush(&w->mem_rej);
    if (rc || res->out.oom || res->rej.oom)
        return -1;
    return csvread_at_boundary(w->reader);
}

/* Feeding thread, in block order: a valid block result goes out. */
static int block_emit(void *ctx, blockpipe_block *b)
{
    crest_engine *e = ctx;
    const block_result *res = b->result;
    outbuf_write_bulk(&e->out, res->out.data, res->out.len);
    if (e->has_rejects)
        outbuf_write_bulk(&e->rej, res->rej.data, res->rej.len);
    merge_stats(&e->stats, &res->stats);
    return check_sinks(e) != CREST_OK;
}

/* Feeding thread, in block order: read the block with the sequential reader. */
static int block_replay(void *ctx, blockpipe_block *b, int restart)
{
    crest_engine *e = ctx;
    if (restart)
        csvread_restart(e->reader, b->line);
    const int rc = csvread_feed(e->reader, b->data, b->len);
    if (check_sinks(e) != CREST_OK)
        return -1;
    if (rc) {
        if (e->fatal == CREST_OK)
            set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory while reading input");
        return -1;
    }
    return csvread_at_boundary(e->reader);
}

static void worker_free(worker *w)
{
    if (!w)
        return;
    crest_risk_scratch_free(w->scratch);
    csvread_free(w->reader);
    outbuf_free(&w->mem_out);
    outbuf_free(&w->mem_rej);
    free(w);
}

/* A block worker with its own reader; its sinks point at a block's result
 * while it reads that block (block_process). */
static worker *worker_create(crest_engine *e)
{
    worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->engine = e;
    crest_sink so = {text_sink, NULL}, sr = {text_sink, NULL};
    /* Room for a block's decisions (take_rendered); more goes through the sink. */
    const size_t out_cap = 4 * (e->opt.block_bytes ? e->opt.block_bytes : BLOCKPIPE_DEFAULT_BYTES) + 256;
    if (outbuf_init(&w->mem_out, so, out_cap) != CREST_OK ||
        (e->has_rejects && outbuf_init(&w->mem_rej, sr, 16 * 1024) != CREST_OK) ||
        !(w->reader = csvread_create((unsigned char)e->policy->delimiter, e->policy->max_field_bytes,
                                     e->policy->max_record_bytes, MAX_COLUMNS, worker_row, w))) {
        worker_free(w);
        return NULL;
    }
    w->out = &w->mem_out;
    w->rej = e->has_rejects ? &w->mem_rej : NULL;
    return w;
}

/* Sum a decider's counts into the engine's. */
static void merge_stats(crest_run_stats *into, const crest_run_stats *s)
{
    into->rows_in += s->rows_in;
    into->decisions += s->decisions;
    into->rejects += s->rejects;
    for (int r = 0; r < CREST_REJECT_COUNT; r++)
        into->rejects_by_reason[r] += s->rejects_by_reason[r];
    for (size_t t = 0; t < 16; t++) {
        crest_tier_counts *a = &into->tiers[t];
        const crest_tier_counts *b = &s->tiers[t];
        a->rows += b->rows;
        a->inspected += b->inspected;
        a->expected += b->expected;
        a->unknown += b->unknown;
        a->from_registry += b->from_registry;
        a->from_feed += b->from_feed;
        a->forced += b->forced;
        a->forced_expected += b->forced_expected;
        a->random_expected += b->random_expected;
        a->deferred += b->deferred;
        a->overflow += b->overflow;
    }
    into->inspected += s->inspected;
    into->priority += s->priority;
    into->guarantee_exempt += s->guarantee_exempt;
    into->mra_recognised += s->mra_recognised;
    for (int l = 0; l < 5; l++)
        into->lanes[l] += s->lanes[l];
    into->selected_random += s->selected_random;
    into->selected_risk += s->selected_risk;
    into->selected_forced += s->selected_forced;
    into->selected_max_hits += s->selected_max_hits;
    into->regex_limit_hits += s->regex_limit_hits;
    into->formulas_guarded += s->formulas_guarded;
    into->deferred += s->deferred;
    into->overflow += s->overflow;
    /* The first rejects by input line, whichever decider saw them. */
    for (size_t i = 0; i < s->n_samples; i++) {
        const crest_reject_sample *x = &s->samples[i];
        size_t pos = into->n_samples;
        while (pos > 0 && into->samples[pos - 1].line > x->line)
            pos--;
        if (pos >= CREST_REJECT_SAMPLES)
            continue;
        const size_t keep =
            into->n_samples < CREST_REJECT_SAMPLES ? into->n_samples : CREST_REJECT_SAMPLES - 1;
        memmove(&into->samples[pos + 1], &into->samples[pos], (keep - pos) * sizeof *x);
        into->samples[pos] = *x;
        if (into->n_samples < CREST_REJECT_SAMPLES)
            into->n_samples++;
    }
}

/* ------------------------------------------------------------------- API */

crest_status crest_engine_create(const crest_policy *policy, const crest_registry *registry,
                                 const crest_run_options *options, crest_engine **out, crest_diag *diag)
{
    *out = NULL;
    crest_diag_clear(diag);
    if (!policy || !options || (options->decide && !options->output.write))
        return crest_diag_set(diag, CREST_ERR_INVALID, "", 0, 0, "a policy and an output sink are required");
    crest_engine *e = calloc(1, sizeof *e);
    if (!e)
        return crest_diag_set(diag, CREST_ERR_NOMEM, "", 0, 0, "out of memory");
    e->policy = policy;
    e->registry = registry;
    e->opt = *options;
    if (!e->opt.input_name)
        e->opt.input_name = "<input>";
    e->passthrough = options->passthrough_override >= 0 ? (crest_passthrough)options->passthrough_override
                                                        : policy->passthrough;
    e->formula_guard =
        options->formula_guard_override >= 0 ? options->formula_guard_override : policy->formula_guard;
    textbuf_init(&e->notes);
    crest_diag_clear(&e->diag);
    e->stats.n_tiers = policy->n_tiers;
    const size_t cap = options->output_buffer_bytes ? options->output_buffer_bytes : 64 * 1024;
    crest_status st = outbuf_init(&e->out, options->output, cap);
    if (st == CREST_OK && options->rejects.write) {
        e->has_rejects = 1;
        st = outbuf_init(&e->rej, options->rejects, 16 * 1024);
        if (st == CREST_OK)
            outbuf_puts(&e->rej, "line,reason,column,message,record,truncated\n");
    }
    if (st == CREST_OK && policy_has_risk(policy)) {
        crest_risk_config rc;
        policy_risk_config(policy, &rc);
        st = crest_risk_create(&rc, &e->risk, diag);
        if (st != CREST_OK) {
            crest_engine_free(e);
            return st;
        }
        e->rules = crest_risk_rules(e->risk);
    }
    e->inspect_lane_rank = lane_rank_of(policy->lane_inspect);
    for (size_t t = 0; t < CREST_MAX_TIERS; t++)
        e->multiplier[t] = 1.0;
    for (size_t t = 0; t < policy->n_tiers; t++)
        e->tier_name_len[t] = strlen(policy->tiers[t].name);
    e->lane_release_len = strlen(policy->lane_release);
    e->lane_inspect_len = strlen(policy->lane_inspect);
    textbuf_init(&e->daymem);
    textbuf_init(&e->cap_reasons);
    textbuf_init(&e->cap_offices);
    if (st == CREST_OK && policy->red_per_office_day && options->decide) {
        e->capacity = policy->red_per_office_day;
        crest_sink ds = {day_sink_write, &e->daymem};
        st = outbuf_init(&e->day_out, ds, 64 * 1024);
    }
    if (st == CREST_OK) {
        e->main.out = &e->out;
        e->main.rej = e->has_rejects ? &e->rej : NULL;
        e->main.stats = &e->stats;
        /* Blocks are read and decided in parallel when nothing depends on the
         * order of the rows: frozen control, no capacity cap, no duplicate
         * check, no windows asked for, no hooks. Otherwise one thread parses
         * and another decides in order. */
        const int order_free = policy->control_mode == CONTROL_FROZEN && !policy->red_per_office_day &&
                               !policy->reject_duplicate_ids && !options->windows && options->decide &&
                               !options->decl_hook && !options->header_hook;
        if (options->threads >= 2 && order_free) {
            const unsigned n = options->threads > MAX_DECIDERS ? MAX_DECIDERS : options->threads;
            for (unsigned k = 0; k < n && st == CREST_OK; k++) {
                if (!(e->deciders[k] = worker_create(e)))
                    st = CREST_ERR_NOMEM;
                e->n_deciders = k + 1;
            }
            e->bp_wanted = 1; /* started once the header is read (crest_engine_feed) */
        } else if (options->threads >= 2) {
            if (!(e->pipe = rowpipe_create(pipe_row_main, e)))
                st = CREST_ERR_NOMEM;
        }
        if (st == CREST_OK) {
            csvread_row_fn fn = e->pipe ? rowpipe_push : on_row;
            void *ctx = e->pipe ? (void *)e->pipe : (void *)e;
            e->reader = csvread_create((unsigned char)policy->delimiter, policy->max_field_bytes,
                                       policy->max_record_bytes, MAX_COLUMNS, fn, ctx);
            if (!e->reader)
                st = CREST_ERR_NOMEM;
        }
    }
    if (st != CREST_OK) {
        crest_engine_free(e);
        return crest_diag_set(diag, st, "", 0, 0, "out of memory creating the engine");
    }
    *out = e;
    return CREST_OK;
}

static int lane_rank_of(const char *lane)
{
    static const char *const names[] = {"GREEN", "BLUE", "YELLOW", "ORANGE", "RED"};
    for (int i = 0; i < 5; i++)
        if (strcmp(lane, names[i]) == 0)
            return i;
    return CREST_RULES_LANE_RED;
}

static crest_status check_sinks(crest_engine *e)
{
    if (e->fatal == CREST_OK && (e->out.error != CREST_OK || (e->has_rejects && e->rej.error != CREST_OK)))
        set_fatal(e, CREST_ERR_IO, 0, 0, "%s",
                  e->out.error != CREST_OK ? "writing the decisions failed" : "writing the rejects failed");
    return e->fatal;
}

/* Threads: stop the deciding thread so its state can be read here. */
static void join_pipe(crest_engine *e)
{
    if (e->pipe) {
        if (rowpipe_finish(e->pipe) < 0 && e->fatal == CREST_OK)
            set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory passing records between threads");
        rowpipe_free(e->pipe);
        e->pipe = NULL;
    }
}

/* Block mode: the header (and anything before the first line end after it
 * where the reader stands between records) goes through the sequential
 * reader line by line; then the blocks start there. Returns bytes used. */
static size_t feed_until_blocks(crest_engine *e, const char *buf, size_t len)
{
    size_t used = 0;
    while (used < len && e->fatal == CREST_OK) {
        const char *lf = memchr(buf + used, '\n', len - used);
        const size_t n = lf ? (size_t)(lf + 1 - (buf + used)) : len - used;
        const int rc = csvread_feed(e->reader, buf + used, n);
        used += n;
        if (rc < 0 && e->fatal == CREST_OK)
            set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory while reading input");
        if (rc || e->fatal != CREST_OK)
            break;
        if (e->stats.header_seen && csvread_at_boundary(e->reader)) {
            const blockpipe_ops ops = {e,          block_result_new, block_result_free, block_process,
                                       block_emit, block_replay};
            e->bp = blockpipe_create(e->n_deciders, e->opt.block_bytes, csvread_line(e->reader), &ops);
            if (!e->bp)
                set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory starting the worker threads");
            break;
        }
    }
    return used;
}

crest_status crest_engine_feed(crest_engine *e, const void *buf, size_t len)
{
    if (e->pipe_done)
        return e->fatal != CREST_OK ? e->fatal : CREST_ERR_STATE;
    if (!e->pipe && e->fatal != CREST_OK)
        return e->fatal;
    e->bytes_fed += len;
    if (e->bp_wanted) {
        if (!e->bp) {
            const size_t used = feed_until_blocks(e, buf, len);
            buf = (const char *)buf + used;
            len -= used;
        }
        if (e->bp && len && e->fatal == CREST_OK) {
            const int rc = blockpipe_feed(e->bp, buf, len);
            if (rc < 0 && e->fatal == CREST_OK)
                set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory while reading input");
        }
        return check_sinks(e);
    }
    int rc = csvread_feed(e->reader, buf, len);
    if (e->pipe) {
        if (rc == 0)
            return CREST_OK; /* the deciding thread's errors show at the next stop */
        join_pipe(e);
        e->pipe_done = 1;
    }
    if (rc < 0 && e->fatal == CREST_OK)
        set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory while reading input");
    return check_sinks(e);
}

#define STAGING_BYTES (256 * 1024)

void *crest_engine_input_buffer(crest_engine *e, size_t *cap)
{
    *cap = 0;
    if (e->pipe_done || e->fatal != CREST_OK)
        return NULL;
    if (e->bp) {
        e->input_direct = 1;
        return blockpipe_input(e->bp, cap);
    }
    if (!e->staging && !(e->staging = malloc(STAGING_BYTES)))
        return NULL;
    e->input_direct = 0;
    *cap = STAGING_BYTES;
    return e->staging;
}

crest_status crest_engine_commit(crest_engine *e, size_t n)
{
    if (e->pipe_done || e->fatal != CREST_OK)
        return e->fatal != CREST_OK ? e->fatal : CREST_ERR_STATE;
    if (!e->input_direct)
        return e->staging ? crest_engine_feed(e, e->staging, n) : CREST_ERR_NOMEM;
    e->bytes_fed += n;
    if (blockpipe_commit(e->bp, n) < 0 && e->fatal == CREST_OK)
        set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory while reading input");
    return check_sinks(e);
}

uint64_t crest_engine_rows_read(const crest_engine *e)
{
    if (!e->pipe)
        return e->stats.rows_in;
    /* The header goes through the pipe unless the parsing thread handled it. */
    const uint64_t pushed = rowpipe_pushed(e->pipe);
    return pushed - (pushed > 0);
}

static crest_status finish(crest_engine *e, int early)
{
    if (e->pipe_done || (!e->pipe && e->fatal != CREST_OK))
        return e->fatal;
    unsigned long dropped = 0;
    if (e->bp && (early ? blockpipe_finish_early(e->bp, &dropped) : blockpipe_finish(e->bp)) < 0 &&
        e->fatal == CREST_OK)
        set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory while reading input");
    unsigned long line;
    if (early && e->fatal == CREST_OK && csvread_pending(e->reader, &line)) {
        /* The sequential reader holds the cut record (no parallel blocks, or a
         * replay ran to the end): forget it. */
        dropped = line;
        csvread_restart(e->reader, csvread_line(e->reader));
    }
    if (dropped)
        textbuf_printf(&e->notes,
                       "the input was cut short: the record begun at line %lu was not read whole and is "
                       "neither decided nor rejected\n",
                       dropped);
    int rc = e->fatal == CREST_OK ? csvread_finish(e->reader) : 0;
    join_pipe(e);
    e->pipe_done = e->opt.threads >= 2;
    e->stats.bytes_in = e->bytes_fed;
    if (rc < 0 && e->fatal == CREST_OK)
        set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory while reading input");
    if (e->fatal == CREST_OK && !e->stats.header_seen)
        set_fatal(e, CREST_ERR_MISSING, 1, 0, "%s",
                  "the input is empty: expected a header row naming the columns (decl_id, ...)");
    if (e->fatal == CREST_OK && e->capacity)
        capacity_flush(e);
    if (e->fatal == CREST_OK && e->window_open)
        close_window(e);
    if (e->fatal == CREST_OK) {
        outbuf_flush(&e->out);
        if (e->has_rejects)
            outbuf_flush(&e->rej);
    }
    e->stats.bytes_out = e->out.bytes_out;
    return check_sinks(e);
}

crest_status crest_engine_finish(crest_engine *e)
{
    return finish(e, 0);
}

crest_status crest_engine_finish_early(crest_engine *e)
{
    return finish(e, 1);
}

const crest_run_stats *crest_engine_stats(const crest_engine *e)
{
    return &e->stats;
}

const crest_diag *crest_engine_diag(const crest_engine *e)
{
    return &e->diag;
}

const char *crest_engine_notes(const crest_engine *e)
{
    return e->notes.data ? e->notes.data : "";
}

void crest_engine_free(crest_engine *e)
{
    if (!e)
        return;
    rowpipe_free(e->pipe);
    blockpipe_free(e->bp);
    free(e->staging);
    csvread_free(e->reader);
    outbuf_free(&e->out);
    if (e->has_rejects)
        outbuf_free(&e->rej);
    for (size_t i = 0; i < e->n_cols && e->col_names; i++)
        free(e->col_names[i]);
    free(e->col_names);
    free(e->pass_cols);
    textbuf_free(&e->notes);
    crest_risk_scratch_free(e->main.scratch);
    for (unsigned k = 0; k < e->n_deciders; k++)
        worker_free(e->deciders[k]);
    crest_risk_free(e->risk);
    free(e->rule_info);
    free(e->windows);
    free(e->seen);
    if (e->capacity)
        outbuf_free(&e->day_out);
    textbuf_free(&e->daymem);
    textbuf_free(&e->cap_reasons);
    textbuf_free(&e->cap_offices);
    free(e->cap_recs);
    free(e);
}
