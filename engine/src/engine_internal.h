/*
 * engine_internal.h — the engine's state and the functions its modules share.
 * One input stream goes through: schema.c (header mapping, the declaration
 * of a row), rejects.c (validation, reject records), tier.c (the effective
 * tier), the risk layer (crest_risk.h), select.c (the pure selection),
 * control.c (control windows: adaptive, systematic), capacity.c (the RED cap
 * per office and day), render.c (the decision record as CSV or JSONL) and
 * blocks.c (parallel block workers); engine.c creates, feeds and finishes.
 * Not installed: public users go through crest_engine.h.
 */
#ifndef CREST_ENGINE_INTERNAL_H
#define CREST_ENGINE_INTERNAL_H

#include <stdint.h>

#include "blockpipe.h"
#include "crest/crest_date.h"
#include "crest/crest_engine.h"
#include "crest/crest_risk.h"
#include "crest/crest_workload.h"
#include "csvread.h"
#include "outbuf.h"
#include "policy_internal.h"
#include "reasons.h"
#include "rowpipe.h"
#include "select.h"
#include "textbuf.h"

#define MAX_COLUMNS 16384
#define MAX_DECIDERS 8

/* Paths a well-formed row never takes: kept out of the hot code's way (the
 * compiler places cold functions, and the branches to them, apart). */
#if defined(__GNUC__) || defined(__clang__)
#define COLD __attribute__((cold, noinline))
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define FLATTEN __attribute__((flatten))
#else
#define COLD
#define UNLIKELY(x) (x)
#define FLATTEN
#endif

#define TIER_CACHE 8
/* Texts of recent scores and p values: with criteria alone they take few values (tiers x
 * score levels), so most rows find theirs. */
#define P_CACHE_BITS 7
#define P_CACHE (1 << P_CACHE_BITS)
typedef struct tier_cache_entry {
    char label[48];
    size_t len;
    int tier;
} tier_cache_entry;

/* Where a declaration's tier came from (the tier_source column). */
typedef enum tier_source {
    TIER_SOURCE_FEED = 0,
    TIER_SOURCE_DEFAULT,
    TIER_SOURCE_REGISTRY_DECLARANT,
    TIER_SOURCE_REGISTRY_ENTERPRISE
} tier_source;

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
    crest_selection sel; /* the row being decided: its selection */
    tier_cache_entry tier_cache[TIER_CACHE];
    unsigned tier_cache_next;
    crest_decl decl; /* the row being decided (decide_row) */
    /* The row being decided passed the checks that depend on the input
     * alone (record, id text): its declaration, for an engine of the same
     * shared reading that maps the header alike (multi.c); NULL otherwise.
     * Set by crest_engine_decide_row_keep and crest_engine_decide_valid. */
    const crest_decl *valid_decl;
    /* The last scores and p written and their text (crest_format_double's):
     * both repeat when the criteria hit the same way. */
    struct p_text {
        double value;
        uint32_t len; /* 0: empty */
        char text[CREST_DOUBLE_TEXT];
    } p_cache[P_CACHE]; /* direct-mapped by the value's bits */
    /* The last decl_date text and its value: feeds come sorted by date. */
    char date_text[24];
    size_t date_len;
    int32_t date_days;
    /* block workers only: render into the block's result */
    outbuf mem_out, mem_rej;
    struct crest_block_result *res; /* the block being read; NULL on the main worker */
} worker;

/* Counts of the open control window for one tier. */
typedef struct window_acc {
    uint64_t rows, inspected, forced, deferred;
    double expected;
} window_acc;

typedef struct capacity_day capacity_day;
typedef struct workload workload;

/* A text of the CSV fast path (render.c), NUL-padded to its array so that it
 * is copied with one fixed-size move; len 0 when it does not fit (the record
 * is then written piece by piece). */
typedef struct render_text {
    char text[64];
    size_t len;
} render_text;

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

    /* From the header (schema.c). */
    size_t n_cols;
    char **col_names;
    int col_of_field[CREST_FIELD_COUNT];
    /* The fields with a column, n_mapped of them: where each goes in a
     * crest_decl's field[] and comes from in a row's fields[], as byte offsets
     * (the copy per row is then a load and a store a field). */
    struct mapped_field {
        uint32_t field_off; /* crest_field · sizeof(crest_str) */
        uint32_t col_off;   /* its column · sizeof(crest_str) */
    } mapped[CREST_FIELD_COUNT];
    size_t n_mapped;
    size_t *pass_cols;
    size_t n_pass;
    /* pass_cols are the columns after decl_id, which is column 0; output CSV,
     * ',' in and out, no reason_text: render_plain_csv may apply. */
    int tail_verbatim;
    int registry_usable; /* registry given and at least one party column present */
    /* No registry, capacity, hook, recording hook, duplicate-id check,
     * currency conversion, floor tier or systematic control, and decide set
     * (crest_engine_is_lean): the hot path's instance without their tests. */
    int lean;

    /* The risk layer (NULL when the policy configures none) and the selection. */
    crest_risk *risk;                 /* the policy's, shared by every engine (immutable) */
    crest_risk *own_risk;             /* with an external score column: this engine's (risk points here) */
    crest_risk_binding *risk_binding; /* this input's columns for the risk layer */
    int risk_prob;                    /* the model carries a calibration: a risk_prob column */
    crest_select_rule *select_rules;
    crest_select_config select;
    /* Hot-path text lengths of the tier names. */
    size_t tier_name_len[CREST_MAX_TIERS];
    /* Hot-path texts of a CSV record (crest_render_texts_init): ",TIER,SOURCE,"
     * per tier and tier source, ",DECISION,LANE," per decision and lane name
     * (by crest_selection's lane_slot), ",PRIORITY,GE,MRA,POLICY_HASH"
     * per flag combination. */
    render_text tier_text[CREST_MAX_TIERS][4];
    render_text lane_text[2 * (CREST_LANE_COUNT + 2)];
    render_text flag_text[8];

    /* Control windows ([control] window) and the control state per tier (control.c). */
    int window_open;
    int64_t window_key;
    window_acc wacc[CREST_MAX_TIERS];
    double multiplier[CREST_MAX_TIERS]; /* adaptive multiplier of the risk part */
    double sys_cum[CREST_MAX_TIERS];    /* systematic sampling: running sum of p */
    double sys_offset[CREST_MAX_TIERS]; /* ... and its keyed offset in [0, 1) */
    /* floor_period: per floor tier, the current period and its rows and inspections. */
    int64_t floor_key[CREST_MAX_TIERS];
    uint64_t floor_rows[CREST_MAX_TIERS], floor_inspected[CREST_MAX_TIERS];
    crest_window_stats *windows;
    size_t n_windows, windows_cap;

    /* Capacity ([capacity] red_per_office_day, offices): 1 when capped; the current day waits in cap
     * (capacity.c). */
    int capacity;
    capacity_day *cap;
    /* Workload per office, day and tier (CREST_WINDOWS_WORKLOAD; workload.c). */
    workload *work;

    /* [input] duplicate_ids = reject: keyed 64-bit hashes of the ids seen (rejects.c). */
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

/* The functions below are the library's own: hidden from its users, and so
 * not interposable, which lets the compiler inline them within the library. */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(hidden)
#endif

/* ----------------------------------------------------------- engine.c */

/* Record a fatal status with its diagnostic; returns st. */
crest_status crest_engine_set_fatal(crest_engine *e, crest_status st, unsigned long line, unsigned long col,
                                    const char *fmt, const char *arg) COLD;
/* The first sink failure as a fatal status; returns e->fatal. */
crest_status crest_engine_check_sinks(crest_engine *e);
/* Decide (or reject) one record on worker w: 0 to go on, non-zero to stop. Hot path. */
int crest_engine_decide_row(crest_engine *e, worker *w, const csvread_row *row);
/* The same, noting a record's valid declaration in w->valid_decl (NULL when
 * the record was rejected before its declaration was read) for the engines
 * that decide from it (crest_engine_decide_valid). Hot path. */
int crest_engine_decide_row_keep(crest_engine *e, worker *w, const csvread_row *row);
/* crest_engine_decide_row for a record another engine of the same reading has
 * validated and read into d (its worker's valid_decl), where
 * crest_schema_decl_shareable(that engine, e): e skips the record's
 * validation and field mapping and decides d. Hot path. */
int crest_engine_decide_valid(crest_engine *e, worker *w, const csvread_row *row, const crest_decl *d);
/* 1 when e's policy and options use none of what the lean hot path leaves out
 * (see the engine's lean); set at creation and at each policy swap. */
int crest_engine_is_lean(const crest_engine *e);

/* ----------------------------------------------------------- schema.c */

/* Map the header's columns to fields and pass-through columns; 1 on a fatal
 * problem (recorded on e), 0 otherwise. */
int crest_schema_map_header(crest_engine *e, const csvread_row *row);
/* Write the output's header row (CSV only). */
void crest_schema_write_header(crest_engine *e);
/* The worker's declaration of a row: mapped fields, date, numbers, direction. Hot path. */
crest_decl *crest_schema_decl(crest_engine *e, worker *w, const csvread_row *row, const int lean);
/* Whether engine `to` may decide a record from the declaration engine `from`
 * reads of it (both past their header of the same input): the same fields
 * from the same columns, no currency conversion, and numbers parsed by
 * `from` whenever `to` reads them. */
int crest_schema_decl_shareable(const crest_engine *from, const crest_engine *to);
/* Whether the engine's declarations carry parsed numbers (a risk layer, a
 * decl_hook or [fx] reads them; otherwise they are NaN). */
int crest_schema_reads_numbers(const crest_engine *e);

/* ---------------------------------------------------------- rejects.c */

/* Outcome of a validation step. */
enum { ROW_OK = 0, ROW_REJECTED, ROW_FATAL };
/* Count a rejected row and write its reject record. */
/* Count n rows with the unknown tier value v[0..len) (cut to 47 bytes). */
void crest_stats_unknown_tier(crest_run_stats *s, const char *v, size_t len, uint64_t n);
/* Count rows (inspected of them) of floor tier `tier` in calendar month
 * `month` (year · 12 + month − 1; INT32_MIN: no date). */
void crest_stats_floor_month(crest_run_stats *s, size_t tier, int32_t month, uint64_t rows,
                             uint64_t inspected);

void crest_reject(worker *w, const csvread_row *row, crest_reject_reason reason, unsigned long column,
                  const char *detail) COLD;
/* A reject sample of a block read from a provisional line: its line, and a
 * line its detail names, moved by shift. */
void crest_reject_sample_move(crest_reject_sample *s, unsigned long shift);
/* The record as CSV: quoting, field count and length, UTF-8, NUL, a repeated header. Hot path. */
int crest_validate_record(crest_engine *e, worker *w, const csvread_row *row);
/* The id's text alone: present, without invisible characters (the same for
 * every policy). Hot path. */
int crest_validate_id_text(crest_engine *e, worker *w, const csvread_row *row, crest_str id);
/* The id not seen before in this run, when the policy rejects duplicates. */
int crest_validate_id_unique(crest_engine *e, worker *w, const csvread_row *row, crest_str id);

/* ------------------------------------------------------------- tier.c */

/* The effective tier of d into plan (tier, unknown, mra) and its source.
 * ROW_REJECTED (reject written) when the registry needs a date d lacks or
 * the feed's tier is unknown and [input] unknown_tier = reject; ROW_FATAL
 * (fatal set) for an unknown tier under unknown_tier = error. Counts unknown
 * tier values and registry matches by party in w->stats. Hot path. */
int crest_tier_resolve(crest_engine *e, worker *w, const csvread_row *row, const crest_decl *d,
                       crest_select_plan *plan, tier_source *src, const int lean);
/* The tier_source column's texts with their lengths (no strlen per row). */
extern const crest_str crest_tier_source_texts[4];

/* ---------------------------------------------------------- control.c */

/* Close the open window (if any) and open the one of key. 1 on a fatal error. */
int crest_control_next_window(crest_engine *e, int64_t key) COLD;
/* Close the open window (end of input). 1 on a fatal error. */
int crest_control_close(crest_engine *e);

/* A window boundary before d, then the control's part of the plan
 * (multiplier, systematic position). 1 on a fatal error. Hot path. */
static inline int crest_control_begin(crest_engine *e, worker *w, const crest_decl *d,
                                      crest_select_plan *plan, const int lean)
{
    const crest_policy *p = e->policy;
    /* Control windows: a new day (window = day) or every window_rows declarations.
     * (Not with parallel deciders: windows follow the input order.) */
    if (!e->n_deciders) {
        const int64_t wkey = p->window_rows
                                 ? (int64_t)(w->stats->decisions / p->window_rows)
                                 : (d->date_days == CREST_DATE_NONE ? e->window_key : d->date_days);
        if (UNLIKELY(!e->window_open || wkey != e->window_key) && crest_control_next_window(e, wkey) != 0)
            return 1;
    }
    plan->multiplier = e->multiplier[plan->tier];
    plan->sys_position = e->sys_cum[plan->tier] + e->sys_offset[plan->tier];
    plan->floor_topup = 0;
    const policy_tier *t = &p->tiers[plan->tier];
    if (!lean && UNLIKELY(t->floor_period != FLOOR_PERIOD_NONE)) {
        /* The period of d (a row without a date stays in the current one). A
         * new period starts its counts afresh; inspecting whenever the count
         * would fall under floor · rows keeps every prefix, and so the whole
         * period, at or above the floor. */
        const size_t k = plan->tier;
        int64_t key = e->floor_key[k];
        if (d->date_days != CREST_DATE_NONE) {
            int y;
            unsigned m, day;
            crest_date_to_civil(d->date_days, &y, &m, &day);
            key = t->floor_period == FLOOR_PERIOD_DAY ? d->date_days : (int64_t)y * 12 + (int64_t)m;
        }
        if (key != e->floor_key[k]) {
            e->floor_key[k] = key;
            e->floor_rows[k] = e->floor_inspected[k] = 0;
        }
        plan->floor_topup =
            (double)e->floor_inspected[k] < t->effective_rate * (double)(e->floor_rows[k] + 1);
    }
    return 0;
}

/* After the selection: the systematic sum moves on by p, and the decision
 * counts in its tier's open window. Hot path. */
static inline void crest_control_after(crest_engine *e, const crest_select_plan *plan,
                                       const crest_selection *sel, const int lean)
{
    if (!lean && e->policy->control_mode == CONTROL_SYSTEMATIC)
        e->sys_cum[plan->tier] += sel->dec.p;
    if (!lean && UNLIKELY(e->policy->tiers[plan->tier].floor_period != FLOOR_PERIOD_NONE)) {
        e->floor_rows[plan->tier]++;
        e->floor_inspected[plan->tier] += (uint64_t)sel->dec.inspect;
    }
}

static inline void crest_control_account(crest_engine *e, const crest_select_plan *plan,
                                         const crest_selection *sel)
{
    if (e->n_deciders)
        return;
    window_acc *wa = &e->wacc[plan->tier];
    wa->rows++;
    wa->inspected += (uint64_t)sel->dec.inspect;
    wa->forced += (uint64_t)sel->dec.forced;
    wa->expected += sel->p_inspect;
}

/* ----------------------------------------------------------- render.c */

/* One decision as the output writes it. */
typedef struct render_record {
    const csvread_row *row;
    crest_str id;
    size_t tier;
    tier_source source;
    int has_score; /* a risk layer scored the declaration */
    double score;
    int guarantee_exempt;
    int mra;
    const crest_selection *sel;
} render_record;

/* Byte offsets of a rendered record's parts in its stream (capacity mode):
 * the middle part (decision, lane, reasons, reason_text) is what a deferral rewrites. */
typedef struct render_marks {
    uint64_t start, mid_start, mid_end, end;
} render_marks;

/* Render rec to o as CSV or JSONL (the policy's and the run's format). With
 * marks, the parts' offsets are recorded and the fast path is not taken. Hot path. */
void crest_render(crest_engine *e, worker *w, outbuf *o, const render_record *rec, render_marks *marks);
/* The hot-path texts of e's policy into e (tier_text, lane_text, flag_text):
 * at engine creation and with each new policy. */
void crest_render_texts_init(crest_engine *e);
/* The reason_text field (a leading ',' in CSV), when the run's options ask for
 * it (crest_run_options.reason_text); nothing otherwise. Part of the middle. */
void crest_render_reason_text(const crest_engine *e, outbuf *o, int fmt_csv, const reason_buf *rb);
/* The middle part: decision, lane and reasons. */
void crest_render_middle(outbuf *o, int fmt_csv, const char *decision, const char *lane, const char *reasons,
                         size_t reasons_len);

/* --------------------------------------------------------- capacity.c */

/* Set up the day buffer. */
crest_status crest_capacity_init(crest_engine *e);
void crest_capacity_free(crest_engine *e);
/* d's day begins a new day: release the previous one. 1 on a fatal error. */
int crest_capacity_new_day(crest_engine *e, int32_t day);
/* Hold one decision of the day (rendered, its decision part may still change). 1 on a fatal error. */
int crest_capacity_hold(crest_engine *e, worker *w, const crest_decl *d, const render_record *rec);
/* Live capacity (options.capacity_take): ask the caller's counter for a RED
 * selection and render the row at once, deferred or flagged over the cap. 1 on a fatal error. */
int crest_capacity_live(crest_engine *e, worker *w, const crest_decl *d, const render_record *rec);
/* End of a day: apply the cap per office and write the day in input order. 1 on a fatal error. */
int crest_capacity_flush(crest_engine *e);

/* --------------------------------------------------------- workload.c */

crest_status crest_workload_init(crest_engine *e);
void crest_workload_free(crest_engine *e);
/* Count a decided row in its office, day and tier's cell. 1 on a fatal error. */
int crest_workload_add(crest_engine *e, const crest_decl *d, size_t tier, const crest_selection *s);
/* The cell the last counted row went to (capacity.c keeps it with a RED selection). */
uint32_t crest_workload_last_cell(const crest_engine *e);
/* What the capacity cap did to a RED selection of the cell (a crest_capacity_outcome). */
void crest_workload_capacity(crest_engine *e, uint32_t cell, int outcome);

/* ----------------------------------------------------------- blocks.c */

/* What a block worker produced for one block of one engine (blockpipe.h):
 * its rendered decisions (or records), rejects and counts. */
typedef struct crest_block_result {
    textbuf out, rej;
    crest_run_stats stats;
    /* Where the line numbers in rej start (each record's first field, and a
     * line named in a detail), in order, so crest_block_emit can move them
     * for a block read from a provisional line (blockpipe.h, late_lines). */
    size_t *rej_lines;
    size_t n_rej_lines, rej_lines_cap;
} crest_block_result;

crest_block_result *crest_block_result_new(void);
void crest_block_result_free(crest_block_result *r);
/* Worker w decides the next rows into res (its sinks and counts point there). */
void crest_block_begin(worker *w, crest_block_result *res);
/* The block is read: what w buffered goes into res. 0, or -1 out of memory. */
int crest_block_end(worker *w, crest_block_result *res);
/* Feeding thread, in block order: res goes to e's sinks and counts, its line
 * numbers (rejects and their samples) moved by `shift` lines (the block was
 * read from a line that many before its own). 0, or non-zero when a sink
 * failed (fatal set on e). */
int crest_block_emit(crest_engine *e, crest_block_result *res, unsigned long shift);
/* A line number starts `ahead` bytes past what a block worker has written
 * of its rejects so far (crest_reject): noted for crest_block_emit. */
void crest_block_note_line(worker *w, size_t ahead);

/* A block worker with its own reader. */
worker *crest_worker_create(crest_engine *e);
void crest_worker_free(worker *w);
/* Start the block pipe at the reader's line; NULL when out of memory. */
blockpipe *crest_blocks_start(crest_engine *e);
/* Sum a decider's counts into the engine's. */
void crest_run_stats_merge(crest_run_stats *into, const crest_run_stats *s);

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

#endif
