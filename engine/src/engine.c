/*
 * engine.c — one input stream through the decision, orchestrated: creating
 * an engine for a policy, feeding it input (one thread, a parsing and a
 * deciding thread, or parallel block workers) and finishing it. Each row is
 * decided by decide_row's steps, each in its own module:
 *   validate (rejects.c) -> tier (tier.c) -> score (the risk layer) ->
 *   select (select.c) -> control (control.c) -> account -> render (render.c,
 *   capacity.c).
 * Everything per row is allocation-free.
 */
#include "crest/crest_engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

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

crest_status crest_engine_set_fatal(crest_engine *e, crest_status st, unsigned long line, unsigned long col,
                                    const char *fmt, const char *arg)
{
    e->fatal = st;
    crest_diag_set(&e->diag, st, e->opt.input_name, line, col, fmt, arg);
    return st;
}

/* ------------------------------------------------------------------ header */

/* What the risk layer needs per input: built whole before it replaces the
 * engine's (a reload must not leave a half-bound engine behind). */
typedef struct risk_bound {
    crest_risk_binding *binding;
    crest_risk_scratch *scratch[1 + MAX_DECIDERS]; /* main, then each block decider */
    crest_select_rule *rules;
    size_t n_rules;
    const char *max_hits_id;
} risk_bound;

static void risk_bound_free(risk_bound *b)
{
    for (size_t k = 0; k < 1 + MAX_DECIDERS; k++)
        crest_risk_scratch_free(b->scratch[k]);
    crest_risk_binding_free(b->binding);
    free(b->rules);
    memset(b, 0, sizeof *b);
}

/*
 * Bind risk's column names to the header (n_cols names), make a scratch for
 * the main worker and each block decider, and prepare what the selection
 * needs of each criterion (its reason code, its draw's key). CREST_OK, or a
 * status with *d (nothing left allocated).
 */
COLD static crest_status risk_bound_make(const crest_engine *e, const crest_risk *risk,
                                         const crest_str *header, size_t n_cols, risk_bound *b, crest_diag *d)
{
    memset(b, 0, sizeof *b);
    crest_status st = crest_risk_bind(risk, header, n_cols, &b->binding, d);
    if (st != CREST_OK)
        return st;
    for (unsigned k = 0; k < 1 + e->n_deciders && st == CREST_OK; k++) {
        st = crest_risk_scratch_create(risk, b->binding, &b->scratch[k]);
        /* decide_row rejects invalid UTF-8 before the risk layer sees a row. */
        if (st == CREST_OK)
            crest_risk_scratch_promise_valid_utf8(b->scratch[k]);
    }
    b->n_rules = crest_risk_rule_count(risk);
    if (st == CREST_OK && !(b->rules = calloc(b->n_rules ? b->n_rules : 1, sizeof *b->rules)))
        st = CREST_ERR_NOMEM;
    if (st != CREST_OK) {
        risk_bound_free(b);
        return crest_diag_set(d, st, e->opt.input_name, 0, 0, "out of memory binding the risk layer");
    }
    for (size_t i = 0; i < b->n_rules; i++) {
        crest_risk_rule_info info;
        if (crest_risk_rule(risk, i, &info) == CREST_OK) {
            crest_select_rule_init(&b->rules[i], info.id, info.lane, info.probability, info.credit_sensitive);
            b->rules[i].rationale = info.rationale;
        }
    }
    b->max_hits_id = crest_risk_max_hits_id(risk);
    return CREST_OK;
}

/* Hand b's parts to the engine and its workers (b is left empty). */
static void risk_bound_install(crest_engine *e, risk_bound *b)
{
    e->risk_binding = b->binding;
    e->main.scratch = b->scratch[0];
    for (unsigned k = 0; k < e->n_deciders; k++)
        e->deciders[k]->scratch = b->scratch[1 + k];
    e->select_rules = b->rules;
    e->select.max_hits_id = b->max_hits_id;
    e->select.weights_only = 0;
    if (e->select.max_hits_id) { /* criteria are loaded */
        e->select.rules = e->select_rules;
        e->select.n_rules = b->n_rules;
        e->select.weights_only = 1;
        for (size_t i = 0; i < b->n_rules; i++)
            e->select.weights_only &= b->rules[i].lane == 0;
    }
    memset(b, 0, sizeof *b);
}

/* The engine's risk parts, taken out (to be freed once no worker uses them). */
static void risk_bound_take(crest_engine *e, risk_bound *b)
{
    memset(b, 0, sizeof *b);
    b->binding = e->risk_binding;
    b->scratch[0] = e->main.scratch;
    for (unsigned k = 0; k < e->n_deciders; k++) {
        b->scratch[1 + k] = e->deciders[k]->scratch;
        e->deciders[k]->scratch = NULL;
    }
    b->rules = e->select_rules;
    e->risk_binding = NULL;
    e->main.scratch = NULL;
    e->select_rules = NULL;
}

/* The risk layer for this input, at its header. 1 on a fatal problem. */
COLD static int bind_risk(crest_engine *e, const csvread_row *row)
{
    crest_diag d;
    risk_bound b;
    if (risk_bound_make(e, e->risk, row->fields, row->n_fields, &b, &d) != CREST_OK) {
        e->fatal = d.status;
        e->diag = d;
        if (e->fatal == CREST_ERR_MISSING || e->fatal == CREST_ERR_MISMATCH)
            e->fatal = CREST_ERR_MISSING; /* an input problem: the header lacks what the models need */
        e->diag.status = e->fatal;
        if (e->fatal == CREST_ERR_NOMEM)
            e->diag.line = row->line;
        return 1;
    }
    risk_bound_install(e, &b);
    return 0;
}

/* The header row: columns mapped, the risk layer bound, the output's header written. */
COLD static int on_header(crest_engine *e, const csvread_row *row)
{
    if (crest_schema_map_header(e, row) != 0)
        return 1;
    if (e->risk && bind_risk(e, row) != 0)
        return 1;
    e->stats.header_seen = 1;
    if (e->opt.header_hook && e->opt.header_hook(e->opt.hook_ctx, row->fields, row->n_fields)) {
        crest_engine_set_fatal(e, CREST_ERR_INTERRUPTED, row->line, 0, "%s",
                               "stopped by the caller at the header");
        return 1;
    }
    if (e->opt.decide)
        crest_schema_write_header(e);
    return 0;
}

/* --------------------------------------------------------------- deciding */

COLD static int decide_write_failed(crest_engine *e, const csvread_row *row)
{
    if (e->n_deciders)
        return -1; /* a block's memory buffer: out of memory, reported by the feeding thread */
    return crest_engine_set_fatal(e, CREST_ERR_IO, row->line, 0, "%s", "writing the decisions failed"), 1;
}

/* Count a decision. */
static void account(const crest_engine *e, worker *w, const crest_select_plan *plan, tier_source src,
                    const crest_selection *s, int32_t date_days, const int lean)
{
    const crest_policy *p = e->policy;
    const policy_tier *t = &p->tiers[plan->tier];
    const crest_decision *dec = &s->dec;
    crest_run_stats *st = w->stats;
    crest_tier_counts *tc = &st->tiers[plan->tier];
    tc->rows++;
    tc->inspected += (uint64_t)dec->inspect;
    tc->expected += s->p_inspect;
    tc->forced_expected += dec->p_forced;
    tc->random_expected += dec->p_random;
    tc->unknown += (uint64_t)plan->unknown;
    if (!lean) { /* a lean engine has no registry: neither happens */
        tc->from_registry += src == TIER_SOURCE_REGISTRY_DECLARANT || src == TIER_SOURCE_REGISTRY_ENTERPRISE;
        tc->moved_by_party += (uint64_t)plan->moved_by_party;
    }
    tc->from_feed += src == TIER_SOURCE_FEED;
    tc->forced += (uint64_t)dec->forced;
    tc->forced_insensitive += (uint64_t)dec->forced_insensitive;
    st->decisions++;
    st->inspected += (uint64_t)dec->inspect;
    st->priority += (uint64_t)s->priority;
    st->guarantee_exempt += (uint64_t)t->guarantee_exempt;
    st->mra_recognised += (uint64_t)plan->mra;
    st->lanes[dec->lane]++;
    /* Each selected_* counts the rows whose reasons carry its code (select.c,
     * write_reasons): RANDOM, RISK, TIER_FLOOR, a forcing criterion, MAX_HITS. */
    st->selected_random += (uint64_t)(s->drawn && s->by_random && (lean || !t->floor));
    st->selected_risk += (uint64_t)(s->drawn && !s->by_random);
    st->selected_floor += (uint64_t)(s->drawn && !lean && t->floor);
    st->selected_forced += (uint64_t)(s->forced_lane > 0);
    st->selected_max_hits += (uint64_t)s->max_hits;
    if (!lean) /* nor currency conversion */
        st->fx_missing += (uint64_t)plan->fx_missing;
    if (!lean && UNLIKELY(t->floor)) {
        /* A floor tier is judged per calendar month too (the summary). */
        int32_t month = INT32_MIN;
        if (date_days != CREST_DATE_NONE) {
            int y;
            unsigned m, day;
            crest_date_to_civil(date_days, &y, &m, &day);
            month = (int32_t)(y * 12 + (int)m - 1);
        }
        crest_stats_floor_month(st, plan->tier, month, 1, (uint64_t)dec->inspect);
    }
}

/* The risk layer's score of d into w->rr; ROW_REJECTED when a regex could
 * not finish and the policy says such a row is undecidable. */
static int score_row(crest_engine *e, worker *w, const csvread_row *row, const crest_decl *d)
{
    crest_risk_result *rr = &w->rr;
    crest_risk_eval(e->risk, w->scratch, d, rr);
    w->stats->regex_limit_hits += rr->rules.n_limit_hits;
    if (UNLIKELY(rr->rules.n_limit_hits && e->policy->on_limit == LIMIT_REJECT)) {
        char detail[160];
        snprintf(detail, sizeof detail, "%u criterion regex(es) stopped by the PCRE2 match or depth limit",
                 rr->rules.n_limit_hits);
        crest_reject(w, row, CREST_REJECT_REGEX_LIMIT, 0, detail);
        return ROW_REJECTED;
    }
    return ROW_OK;
}

static crest_status record_write(void *ctx, const void *buf, size_t len)
{
    outbuf *o = ctx;
    outbuf_write_small(o, buf, len);
    return o->error;
}

/* A recording hook stopped, or writing its record failed: 1, fatal set
 * unless parallel (a block worker must not touch the engine; its block fails
 * instead). */
COLD static int record_failed(crest_engine *e, worker *w, const csvread_row *row)
{
    if (!e->n_deciders)
        crest_engine_set_fatal(
            e, w->out->error != CREST_OK ? w->out->error : CREST_ERR_INTERRUPTED, row->line, 0, "%s",
            w->out->error != CREST_OK ? "writing the records failed" : "stopped by the caller");
    return 1;
}

/* The recording hook on d's decision, into w's output (the block's result on
 * a block worker). 0, or non-zero when it stopped (record_failed). */
static int record_row(crest_engine *e, worker *w, const crest_decl *d, const crest_selection *s,
                      const csvread_row *row)
{
    if (e->opt.decl_record_fixed) { /* filled in place at the output's end */
        const size_t n = e->opt.decl_record_size;
        char spare[256], *at = outbuf_reserve(w->out, n);
        if (e->opt.decl_record_fixed(e->opt.hook_ctx, d, &s->dec, at ? at : spare) != 0)
            return record_failed(e, w, row);
        if (at)
            w->out->len += n;
        else /* an output buffer smaller than a record */
            outbuf_write(w->out, spare, n);
        return w->out->error == CREST_OK ? 0 : record_failed(e, w, row);
    }
    const crest_sink out = {record_write, w->out};
    if (e->opt.decl_record(e->opt.hook_ctx, d, &s->dec, row->line, out) == 0 && w->out->error == CREST_OK)
        return 0;
    return record_failed(e, w, row);
}

/* Hot path: decide the valid declaration d of a record on worker w (or
 * reject it for what only this policy refuses). Inlined into both entry points
 * below (flatten). */
static int decide_decl(crest_engine *e, worker *w, const csvread_row *row, const crest_decl *d,
                       const int lean)
{
    const crest_str id = d->field[CREST_FIELD_DECL_ID];
    int v;
    if (!lean && UNLIKELY(e->policy->reject_duplicate_ids) &&
        (v = crest_validate_id_unique(e, w, row, id)) != ROW_OK)
        return v == ROW_FATAL;

    /* tier */
    crest_select_plan plan;
    tier_source src;
    if ((v = crest_tier_resolve(e, w, row, d, &plan, &src, lean)) != ROW_OK)
        return v == ROW_FATAL;
    plan.fx_missing = d->fx_missing;
    /* day and window boundaries: a new day releases the previous one's capacity
     * day; the control gives the plan its multiplier and systematic position */
    if (!lean && e->capacity && !e->opt.capacity_take && d->date_days != CREST_DATE_NONE &&
        crest_capacity_new_day(e, d->date_days) != 0)
        return 1;
    if (crest_control_begin(e, w, d, &plan, lean) != 0)
        return 1;
    /* score */
    if (e->risk && score_row(e, w, row, d) != ROW_OK)
        return 0;
    /* select, then control: the systematic sum moves on */
    crest_selection *s = &w->sel;
    crest_select(&e->select, &plan, e->risk ? &w->rr : NULL, id, s, lean);
    /* The reasons are rendered (or held by the capacity cap): without
     * decide (hooks, a recording hook) no one reads them. Selected by its
     * risk: they name the model's contributions with this declaration's
     * values (HS4 6204 × origin CN), which cost a key each, so they are
     * looked up only for these rows. */
    if (lean || e->opt.decide) {
        if (UNLIKELY(s->drawn && !s->by_random && e->risk && w->rr.explain.n))
            crest_risk_explain_values(e->risk, w->scratch, d, &w->rr);
        crest_select_reasons(&e->select, &plan, e->risk ? &w->rr : NULL, s);
    }
    crest_control_after(e, &plan, s, lean);
    if (!lean && e->opt.decl_hook && e->opt.decl_hook(e->opt.hook_ctx, d, &s->dec, row->line)) {
        crest_engine_set_fatal(e, CREST_ERR_INTERRUPTED, row->line, 0, "%s", "stopped by the caller");
        return 1;
    }
    if (!lean && !e->opt.decide && (e->opt.decl_record || e->opt.decl_record_fixed) &&
        record_row(e, w, d, s, row) != 0)
        return e->n_deciders ? -1 : 1;
    /* account */
    account(e, w, &plan, src, s, d->date_days, lean);
    crest_control_account(e, &plan, s);
    if (UNLIKELY(e->work != NULL) && crest_workload_add(e, d, plan.tier, s) != 0)
        return 1;
    if (!lean && !e->opt.decide)
        return 0;

    /* render */
    const render_record rec = {row,
                               id,
                               plan.tier,
                               src,
                               e->risk != NULL,
                               e->risk ? w->rr.score : NAN,
                               e->policy->tiers[plan.tier].guarantee_exempt,
                               plan.mra,
                               s};
    /* With a capacity cap the day's records wait in the day buffer (their
     * decision part may still change); otherwise they go straight out. */
    if (!lean && e->capacity)
        return e->opt.capacity_take ? crest_capacity_live(e, w, d, &rec) : crest_capacity_hold(e, w, d, &rec);
    crest_render(e, w, w->out, &rec, NULL);
    return w->out->error == CREST_OK ? 0 : decide_write_failed(e, row);
}

/* Hot path: decide one record (or reject it) on worker w. flatten: the steps
 * of the decision are inlined here (the modules are one unit for the compiler,
 * see engine/CMakeLists.txt), as they were when they were one function. */
/* Validate a record, read its declaration and decide it; keep_decl (a
 * constant in each caller) notes a valid declaration in w->valid_decl for
 * the other engines of a shared reading. lean (a constant too): e->lean's
 * instance, where the tests of what a lean engine never has fold away. */
static inline int decide_record(crest_engine *e, worker *w, const csvread_row *row, const int keep_decl,
                                const int lean)
{
    if (UNLIKELY(!e->stats.header_seen))
        return on_header(e, row);
    w->stats->rows_in++;
    if (keep_decl)
        w->valid_decl = NULL;
    /* validate: the record, then the declaration's id */
    int v = crest_validate_record(e, w, row);
    if (v != ROW_OK)
        return v == ROW_FATAL;
    const crest_decl *d = crest_schema_decl(e, w, row, lean);
    if ((v = crest_validate_id_text(e, w, row, d->field[CREST_FIELD_DECL_ID])) != ROW_OK)
        return v == ROW_FATAL;
    if (keep_decl)
        w->valid_decl = d;
    return decide_decl(e, w, row, d, lean);
}

FLATTEN int crest_engine_decide_row(crest_engine *e, worker *w, const csvread_row *row)
{
    return e->lean ? decide_record(e, w, row, 0, 1) : decide_record(e, w, row, 0, 0);
}

FLATTEN int crest_engine_decide_row_keep(crest_engine *e, worker *w, const csvread_row *row)
{
    return e->lean ? decide_record(e, w, row, 1, 1) : decide_record(e, w, row, 1, 0);
}

FLATTEN int crest_engine_decide_valid(crest_engine *e, worker *w, const csvread_row *row, const crest_decl *d)
{
    w->stats->rows_in++;
    w->valid_decl = d;
    return e->lean ? decide_decl(e, w, row, d, 1) : decide_decl(e, w, row, d, 0);
}

int crest_engine_is_lean(const crest_engine *e)
{
    const crest_policy *p = e->policy;
    if (!e->opt.decide || e->opt.decl_hook || e->opt.decl_record || e->opt.decl_record_fixed || e->capacity ||
        e->registry || p->reject_duplicate_ids || p->fx || p->control_mode == CONTROL_SYSTEMATIC)
        return 0;
    for (size_t t = 0; t < p->n_tiers; t++)
        if (p->tiers[t].floor || p->tiers[t].floor_period != FLOOR_PERIOD_NONE)
            return 0;
    return 1;
}

static int on_row(void *ctx, const csvread_row *row)
{
    crest_engine *e = ctx;
    return crest_engine_decide_row(e, &e->main, row);
}

/* ------------------------------------------------------------------- API */

crest_status crest_engine_create(const crest_policy *policy, const crest_registry *registry,
                                 const crest_run_options *options, crest_engine **out, crest_diag *diag)
{
    *out = NULL;
    crest_diag_clear(diag);
    const int recording = options && (options->decl_record || options->decl_record_fixed);
    if (!policy || !options || ((options->decide || recording) && !options->output.write))
        return crest_diag_set(diag, CREST_ERR_INVALID, "", 0, 0, "a policy and an output sink are required");
    if (recording && options->decide)
        return crest_diag_set(diag, CREST_ERR_INVALID, "", 0, 0,
                              "a recording hook writes to the output in place of the decisions: decide = 0");
    if (options->decl_record_fixed &&
        (options->decl_record || options->decl_record_size < 1 || options->decl_record_size > 256))
        return crest_diag_set(diag, CREST_ERR_INVALID, "", 0, 0, "%s",
                              "a recording hook of fixed records: alone, with a size of 1 to 256 bytes");
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
    if (policy->calib_stale)
        textbuf_puts(&e->notes,
                     "warning: the policy's [calibration] was computed with other criteria, tables or "
                     "model than these (their SHA-256 differ from [calibration] files): the tier "
                     "scales may miss their targets; run crest calibrate again\n");
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
    if (st == CREST_OK && options->score_column) {
        /* An external score replaces the policy's model: the engine's own risk
         * layer, with the policy's criteria and [risk] (their files read again)
         * and the score column as the model. */
        crest_risk_config rc;
        policy_risk_config(policy, &rc);
        rc.model_kind = CREST_RISK_MODEL_COLUMN;
        rc.model_path = NULL;
        rc.model_features = options->score_column;
        st = crest_risk_create(&rc, &e->own_risk, diag);
        if (st != CREST_OK) {
            crest_engine_free(e);
            return st;
        }
        e->risk = e->own_risk;
    } else if (st == CREST_OK && policy_has_risk(policy)) {
        e->risk = policy->risk; /* parsed once at load, immutable: shared by every engine */
    }
    e->risk_prob = crest_risk_calibrated(e->risk);
    crest_select_config_init(&e->select, policy);
    for (size_t t = 0; t < CREST_MAX_TIERS; t++)
        e->multiplier[t] = 1.0;
    for (size_t t = 0; t < policy->n_tiers; t++)
        e->tier_name_len[t] = strlen(policy->tiers[t].name);
    crest_render_texts_init(e);
    if (st == CREST_OK && crest_policy_has_capacity(policy) && options->decide) {
        e->capacity = 1;
        st = crest_capacity_init(e);
    }
    if (st == CREST_OK && (options->windows & CREST_WINDOWS_WORKLOAD))
        st = crest_workload_init(e);
    e->lean = crest_engine_is_lean(e);
    if (st == CREST_OK) {
        e->main.engine = e;
        e->main.out = &e->out;
        e->main.rej = e->has_rejects ? &e->rej : NULL;
        e->main.stats = &e->stats;
        /* Blocks are read and decided in parallel when nothing depends on the
         * order of the rows: frozen control, no capacity cap, no duplicate
         * check, no windows asked for, no hooks, no stop at the first unknown
         * tier (its line must be the first in order), no floor held per period.
         * Otherwise one thread parses
         * and another decides in order. */
        const int order_free = policy->control_mode == CONTROL_FROZEN && !crest_policy_has_capacity(policy) &&
                               !policy->reject_duplicate_ids && policy->unknown_tier != UNKNOWN_TIER_ERROR &&
                               !policy_has_floor_period(policy) && !options->windows &&
                               (options->decide || recording) && !options->decl_hook && !options->header_hook;
        if (options->threads >= 2 && order_free) {
            const unsigned n = options->threads > MAX_DECIDERS ? MAX_DECIDERS : options->threads;
            for (unsigned k = 0; k < n && st == CREST_OK; k++) {
                if (!(e->deciders[k] = crest_worker_create(e)))
                    st = CREST_ERR_NOMEM;
                e->n_deciders = k + 1;
            }
            e->bp_wanted = 1; /* started once the header is read (crest_engine_feed) */
        } else if (options->threads >= 2) {
            if (!(e->pipe = rowpipe_create(on_row, e)))
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

crest_status crest_engine_check_sinks(crest_engine *e)
{
    if (e->fatal == CREST_OK && (e->out.error != CREST_OK || (e->has_rejects && e->rej.error != CREST_OK)))
        crest_engine_set_fatal(e, CREST_ERR_IO, 0, 0, "%s",
                               e->out.error != CREST_OK ? "writing the decisions failed"
                                                        : "writing the rejects failed");
    return e->fatal;
}

/* Threads: stop the deciding thread so its state can be read here. */
static void join_pipe(crest_engine *e)
{
    if (e->pipe) {
        if (rowpipe_finish(e->pipe) < 0 && e->fatal == CREST_OK)
            crest_engine_set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s",
                                   "out of memory passing records between threads");
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
            crest_engine_set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory while reading input");
        if (rc || e->fatal != CREST_OK)
            break;
        if (e->stats.header_seen && csvread_at_boundary(e->reader)) {
            e->bp = crest_blocks_start(e);
            if (!e->bp)
                crest_engine_set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s",
                                       "out of memory starting the worker threads");
            break;
        }
    }
    return used;
}

/* crest_engine_feed, and crest_engine_feed_stable when stable (the bytes
 * stay valid until finish: parallel blocks are views into them). */
static crest_status feed(crest_engine *e, const void *buf, size_t len, int stable)
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
            const int rc = stable ? blockpipe_feed_stable(e->bp, buf, len) : blockpipe_feed(e->bp, buf, len);
            if (rc < 0 && e->fatal == CREST_OK)
                crest_engine_set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory while reading input");
        }
        return crest_engine_check_sinks(e);
    }
    int rc = csvread_feed(e->reader, buf, len);
    if (e->pipe) {
        if (rc == 0)
            return CREST_OK; /* the deciding thread's errors show at the next stop */
        join_pipe(e);
        e->pipe_done = 1;
    }
    if (rc < 0 && e->fatal == CREST_OK)
        crest_engine_set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory while reading input");
    return crest_engine_check_sinks(e);
}

crest_status crest_engine_feed(crest_engine *e, const void *buf, size_t len)
{
    return feed(e, buf, len, 0);
}

crest_status crest_engine_feed_stable(crest_engine *e, const void *buf, size_t len)
{
    return feed(e, buf, len, 1);
}

const void *crest_engine_stable_floor(const crest_engine *e)
{
    return e->bp ? blockpipe_stable_floor(e->bp) : NULL;
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
        crest_engine_set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory while reading input");
    return crest_engine_check_sinks(e);
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
        crest_engine_set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory while reading input");
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
        crest_engine_set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory while reading input");
    if (e->fatal == CREST_OK && !e->stats.header_seen)
        crest_engine_set_fatal(e, CREST_ERR_MISSING, 1, 0, "%s",
                               "the input is empty: expected a header row naming the columns (decl_id, ...)");
    if (e->fatal == CREST_OK && e->capacity)
        crest_capacity_flush(e);
    if (e->fatal == CREST_OK)
        crest_control_close(e);
    if (e->fatal == CREST_OK) {
        outbuf_flush(&e->out);
        if (e->has_rejects)
            outbuf_flush(&e->rej);
    }
    e->stats.bytes_out = e->out.bytes_out;
    return crest_engine_check_sinks(e);
}

crest_status crest_engine_flush(crest_engine *e)
{
    if (e->pipe_done || (!e->pipe && e->fatal != CREST_OK))
        return e->fatal != CREST_OK ? e->fatal : CREST_ERR_STATE;
    int rc = 0;
    if (e->bp)
        rc = blockpipe_flush(e->bp);
    else if (e->pipe)
        rc = rowpipe_sync(e->pipe); /* the deciding thread now waits: its writes are ours */
    if (rc < 0 && e->fatal == CREST_OK)
        crest_engine_set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory while reading input");
    if (e->fatal == CREST_OK) {
        outbuf_flush(&e->out);
        if (e->has_rejects)
            outbuf_flush(&e->rej);
    }
    return crest_engine_check_sinks(e);
}

/*
 * Why policy b cannot replace a running engine's policy a (NULL: it can).
 * An engine is built around the input's shape: the tiers (its counts are
 * per tier, a floor tier's per month too), the reader's limits, the columns the header maps to fields and
 * passes through, the threading that the control and capacity settings chose,
 * a day held for the cap. Those need a restart; the numbers and the criteria
 * (seed, rates, ratios, floors, aliases, MRA partners, the risk layer) may
 * change.
 */
static const char *reload_mismatch(const crest_policy *a, const crest_policy *b)
{
    if (a->n_tiers != b->n_tiers)
        return "the tiers";
    for (size_t t = 0; t < a->n_tiers; t++)
        if (strcmp(a->tiers[t].name, b->tiers[t].name) || a->tiers[t].floor != b->tiers[t].floor ||
            a->tiers[t].floor_period != b->tiers[t].floor_period)
            return "the tiers (their names, order, floor or floor_period)";
    for (size_t f = 0; f < CREST_FIELD_COUNT; f++) {
        if (a->n_columns[f] != b->n_columns[f])
            return "[columns]";
        for (size_t i = 0; i < a->n_columns[f]; i++)
            if (strcmp(a->columns[f][i], b->columns[f][i]))
                return "[columns]";
    }
    if (a->n_parties != b->n_parties || memcmp(a->parties, b->parties, a->n_parties * sizeof *a->parties) ||
        a->tier_pref != b->tier_pref)
        return "[registry] parties or prefer";
    if (a->max_field_bytes != b->max_field_bytes || a->max_record_bytes != b->max_record_bytes ||
        a->delimiter != b->delimiter || a->reject_duplicate_ids != b->reject_duplicate_ids ||
        a->unknown_tier != b->unknown_tier || a->n_optional != b->n_optional)
        return "[input]";
    for (size_t i = 0; i < a->n_optional; i++)
        if (strcmp(a->optional[i], b->optional[i]))
            return "[input] optional";
    if (a->formula_guard != b->formula_guard || a->passthrough != b->passthrough)
        return "[output]";
    if (strcmp(a->lane_inspect, b->lane_inspect) || strcmp(a->lane_release, b->lane_release))
        return "[lanes]";
    if (a->control_mode != b->control_mode || a->window_rows != b->window_rows || a->max_step != b->max_step)
        return "[control]";
    if (a->red_per_office_day != b->red_per_office_day || a->n_office_caps != b->n_office_caps)
        return "[capacity]";
    for (size_t i = 0; i < a->n_office_caps; i++) {
        const policy_office_cap *x = &a->office_caps[i], *y = &b->office_caps[i];
        if (strcmp(x->office, y->office) || x->red_per_day != y->red_per_day || x->from != y->from ||
            x->to != y->to)
            return "[capacity] offices";
    }
    return NULL;
}

crest_status crest_engine_set_policy(crest_engine *e, const crest_policy *policy,
                                     const crest_registry *registry, crest_diag *diag)
{
    crest_diag_clear(diag);
    if (e->fatal != CREST_OK || e->pipe_done)
        return crest_diag_set(diag, e->fatal != CREST_OK ? e->fatal : CREST_ERR_STATE, e->opt.input_name, 0,
                              0, "%s", "the engine has stopped");
    const char *what = reload_mismatch(e->policy, policy);
    if (!what && !registry != !e->registry)
        what = registry ? "the registry (none before)" : "the registry (one before)";
    crest_risk *risk = policy_has_risk(policy) ? policy->risk : NULL;
    if (!what && crest_risk_calibrated(risk) != e->risk_prob)
        what = e->risk_prob ? "the risk_prob column (its model has no calibration)"
                            : "the risk_prob column (its model has a calibration, the one in force none)";
    if (what)
        return crest_diag_set(diag, CREST_ERR_INVALID, crest_policy_name(policy), 0, 0,
                              "the new policy changes %s, which a running input cannot follow: restart to "
                              "change it",
                              what);
    /* The new risk layer, bound to this input's header, before anything changes. */
    risk_bound fresh;
    memset(&fresh, 0, sizeof fresh);
    if (risk && e->stats.header_seen) {
        crest_str header[MAX_COLUMNS];
        const size_t n = e->n_cols < MAX_COLUMNS ? e->n_cols : MAX_COLUMNS;
        for (size_t i = 0; i < n; i++)
            header[i] = (crest_str){e->col_names[i], strlen(e->col_names[i])};
        const crest_status st = risk_bound_make(e, risk, header, n, &fresh, diag);
        if (st != CREST_OK)
            return st;
    }
    /* Every record whose line end came is decided under the old policy and
     * handed to the sinks; the workers wait. The rest is decided under the new. */
    const crest_status st = crest_engine_flush(e);
    if (st != CREST_OK) {
        risk_bound_free(&fresh);
        *diag = e->diag;
        return st;
    }
    risk_bound old;
    risk_bound_take(e, &old);
    e->policy = policy;
    e->registry = registry;
    e->risk = risk;
    crest_select_config_init(&e->select, policy);
    crest_render_texts_init(e);
    e->lean = crest_engine_is_lean(e);
    if (risk && e->stats.header_seen)
        risk_bound_install(e, &fresh);
    risk_bound_free(&old);
    /* Feed labels were cached with the old aliases. */
    e->main.tier_cache_next = 0;
    memset(e->main.tier_cache, 0, sizeof e->main.tier_cache);
    for (unsigned k = 0; k < e->n_deciders; k++) {
        e->deciders[k]->tier_cache_next = 0;
        memset(e->deciders[k]->tier_cache, 0, sizeof e->deciders[k]->tier_cache);
    }
    return CREST_OK;
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
        crest_worker_free(e->deciders[k]);
    crest_risk_binding_free(e->risk_binding);
    crest_risk_free(e->own_risk);
    free(e->select_rules);
    free(e->windows);
    free(e->seen);
    crest_capacity_free(e);
    crest_workload_free(e);
    free(e);
}
