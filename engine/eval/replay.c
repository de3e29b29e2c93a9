/*
 * replay.c — replay metrics accumulator (crest_replay.h): counts per period
 * and tier as decisions arrive, the risk ranking's rows in a rankstore (in
 * memory while small, else sorted runs in a temporary file), and at the end
 * the intervals (GSL through crest_stats), the ranking metrics of every
 * period and of the total in one merged pass over the ranking, the
 * Horvitz–Thompson estimate and the CSV/JSON writers.
 *
 * It does not drive engines nor write report files; it never prints.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_date.h"
#include "crest/crest_replay.h"
#include "grow.h"
#include "rankstore.h"
#include "replay_row.h"
#include "textbuf.h"

const unsigned crest_replay_at_pct[CREST_REPLAY_N_AT] = {1, 2, 5, 10};

/* The per-row steps of the feeding thread, inlined where they are used twice. */
#if defined(__GNUC__) || defined(__clang__)
#define ROW_INLINE inline __attribute__((always_inline))
#else
#define ROW_INLINE inline
#endif

/* crest_replay.key_date when no row's date is known: no int32_t date equals it. */
#define KEY_STALE INT64_MIN

/* crest_decision.lane of a RED (physical inspection) selection. */
#define LANE_RED 4

/* A RED selection waiting for the capacity cap's outcome (options.capacity). */
typedef struct cap_pending {
    uint64_t ordinal;
    int64_t key; /* period key */
    double revenue, pi;
    uint32_t tier;
    uint8_t random_stream, illicit;
} cap_pending;

struct crest_replay {
    const crest_policy *policy;
    crest_replay_options opt;
    size_t n_tiers, base;
    int ratio_tier;
    replay_reader rd;         /* the label and revenue sources (replay_row.h) */
    int32_t date_lo, date_hi; /* the dated rows' first and last date (lo > hi: none) */
    crest_replay_metrics total;
    crest_replay_metrics *periods; /* sorted by key */
    size_t n_periods, cap_periods, last;
    rank_store rank;           /* the ranking's rows (rankstore.h) */
    int combine;               /* 0: CREST_REPLAY_COMBINE=0, the ranking combines no rows */
    int64_t key_date;          /* the date of the last row added (KEY_STALE: none), its period key and */
    int64_t key_last;          /* the metrics its counts went to (the total without periods; */
    crest_replay_metrics *cur; /* NULL: none, or the periods moved): neighbouring rows mostly share a date */
    cap_pending *pend;         /* FIFO of RED selections of the day the cap has not ruled on */
    size_t pend_head, n_pend, cap_pend;
    int finished;
    /* Computed by crest_replay_finish's pass over the ranking: AUC and AP,
     * and the gain curve at CREST_REPLAY_GAIN_POINTS (hits and revenue per cut). */
    double auc, ap;
    double gain_h[CREST_REPLAY_GAIN_POINTS], gain_v[CREST_REPLAY_GAIN_POINTS];
    crest_diag diag;      /* detail of the last failure (crest_replay_diag) */
    crest_diag hook_diag; /* what stopped the hooks of crest_replay_attach */
    int hook_failed;
    int decisions_prob; /* crest_replay_decisions_prob */
    char *workload;     /* crest_replay_workload_json: the policy's workload JSON, or NULL */
};

/* ------------------------------------------------------------- periods */

int crest_replay_period_parse(const char *text, crest_replay_period *out)
{
    static const char *const names[] = {"none", "day", "week", "month"};
    for (int i = 0; i < 4; i++)
        if (strcmp(text, names[i]) == 0) {
            *out = (crest_replay_period)i;
            return 0;
        }
    return -1;
}

const char *crest_replay_period_name(crest_replay_period period)
{
    switch (period) {
    case CREST_REPLAY_PERIOD_DAY:
        return "day";
    case CREST_REPLAY_PERIOD_WEEK:
        return "week";
    case CREST_REPLAY_PERIOD_MONTH:
        return "month";
    default:
        return "none";
    }
}

int64_t crest_replay_period_key(crest_replay_period period, int32_t date_days)
{
    if (period == CREST_REPLAY_PERIOD_NONE)
        return 0;
    if (date_days == CREST_DATE_NONE)
        return CREST_REPLAY_UNDATED;
    if (period == CREST_REPLAY_PERIOD_DAY)
        return date_days;
    if (period == CREST_REPLAY_PERIOD_WEEK) {
        /* 1970-01-05 (day 4) was a Monday. */
        int64_t since_monday = ((int64_t)date_days - 4) % 7;
        if (since_monday < 0)
            since_monday += 7;
        return (int64_t)date_days - since_monday;
    }
    int y;
    unsigned m, d;
    crest_date_to_civil(date_days, &y, &m, &d);
    return crest_date_from_civil(y, m, 1);
}

char *crest_replay_period_label(crest_replay_period period, int64_t key, char out[16])
{
    if (period == CREST_REPLAY_PERIOD_NONE) {
        strcpy(out, "total");
    } else if (key == CREST_REPLAY_UNDATED) {
        strcpy(out, "undated");
    } else {
        char buf[11];
        crest_date_format((int32_t)key, buf);
        if (period == CREST_REPLAY_PERIOD_MONTH)
            buf[7] = '\0';
        memcpy(out, buf, strlen(buf) + 1);
    }
    return out;
}

/* --------------------------------------------------------------- create */

static void metrics_init(const crest_replay *r, crest_replay_metrics *m, int64_t key)
{
    memset(m, 0, sizeof *m);
    m->key = key;
    crest_replay_period_label(r->opt.period, key, m->label);
    m->n_tiers = r->n_tiers;
    m->ratio_tier = r->ratio_tier;
}

crest_status crest_replay_create(const crest_policy *policy, const crest_replay_options *opt,
                                 crest_replay **out, crest_diag *diag)
{
    *out = NULL;
    const size_t n_tiers = crest_policy_tier_count(policy);
    if (n_tiers > CREST_REPLAY_MAX_TIERS)
        return crest_diag_set(diag, CREST_ERR_RANGE, crest_policy_name(policy), 0, 0,
                              "replay handles at most %d tiers; the policy has %zu", CREST_REPLAY_MAX_TIERS,
                              n_tiers);
    crest_replay *r = calloc(1, sizeof *r);
    if (!r)
        return crest_diag_set(diag, CREST_ERR_NOMEM, "replay", 0, 0, "out of memory");
    r->policy = policy;
    r->date_lo = INT32_MAX;
    r->date_hi = INT32_MIN;
    if (opt)
        r->opt = *opt;
    if (!r->opt.label)
        r->opt.label = "illicit";
    r->n_tiers = n_tiers;
    r->base = crest_policy_base_tier(policy);
    r->ratio_tier = -1;
    for (size_t t = 0; t < n_tiers; t++)
        if (t != r->base && !isnan(crest_policy_tier_ratio(policy, t))) {
            r->ratio_tier = (int)t;
            break;
        }
    r->rd.label = r->rd.revenue = r->rd.rate = r->rd.rbase = (replay_source){-1, -1};
    r->rd.revenue_kind = r->opt.revenue        ? REPLAY_REVENUE_COLUMN
                         : r->opt.revenue_rate ? REPLAY_REVENUE_PROXY
                                               : REPLAY_REVENUE_NONE;
    r->rd.has_rbase = r->rd.revenue_kind == REPLAY_REVENUE_PROXY && r->opt.revenue_base;
    r->rd.value_text = 1;
    for (size_t i = 0; i < crest_policy_file_count(policy); i++) {
        crest_policy_file f;
        if (crest_policy_file_info(policy, i, &f) == CREST_OK && !strcmp(f.kind, "fx"))
            r->rd.value_text = 0;
    }
    metrics_init(r, &r->total, 0);
    strcpy(r->total.label, "total");
    r->last = (size_t)-1;
    r->key_date = KEY_STALE;
    r->key_last = crest_replay_period_key(r->opt.period, CREST_DATE_NONE);
    /* The buffer's size changes where the rows are kept, never a result: the
     * tests run whole replays with a few rows to force the temporary file. */
    size_t buffer_rows = RANK_STORE_BUFFER_ROWS;
    const char *env = getenv("CREST_REPLAY_BUFFER_ROWS");
    if (env && *env) {
        char *end;
        const unsigned long long v = strtoull(env, &end, 10);
        if (!*end && v >= 1)
            buffer_rows = (size_t)v;
    }
    rank_store_init(&r->rank, buffer_rows, RANK_STORE_FAN_IN);
    /* Combining tied rows changes no result either (rankstore.h): 0 turns it
     * off, so that the tests can compare the two. */
    env = getenv("CREST_REPLAY_COMBINE");
    r->combine = !(env && !strcmp(env, "0"));
    rank_store_set_combine(&r->rank, r->combine);
    *out = r;
    return CREST_OK;
}

crest_status crest_replay_set_buffer(crest_replay *r, size_t rows, size_t fan_in)
{
    if (r->rank.n_rows || r->finished)
        return CREST_ERR_STATE;
    if (!rows || rows > UINT32_MAX || (fan_in && fan_in < 2))
        return CREST_ERR_RANGE;
    rank_store_free(&r->rank);
    rank_store_init(&r->rank, rows, fan_in ? fan_in : RANK_STORE_FAN_IN);
    rank_store_set_combine(&r->rank, r->combine);
    return CREST_OK;
}

int crest_replay_spilled(const crest_replay *r)
{
    return r->rank.fd >= 0;
}

const crest_diag *crest_replay_diag(const crest_replay *r)
{
    return r->diag.status != CREST_OK ? &r->diag : NULL;
}

void crest_replay_free(crest_replay *r)
{
    if (!r)
        return;
    free(r->periods);
    rank_store_free(&r->rank);
    free(r->pend);
    free(r->workload);
    free(r);
}

crest_status crest_replay_workload_json(crest_replay *r, const char *json)
{
    char *copy = NULL;
    if (json) {
        const size_t len = strlen(json);
        if (!(copy = malloc(len + 1)))
            return CREST_ERR_NOMEM;
        memcpy(copy, json, len + 1);
    }
    free(r->workload);
    r->workload = copy;
    return CREST_OK;
}

const crest_policy *crest_replay_policy(const crest_replay *r)
{
    return r->policy;
}

/* --------------------------------------------------------------- header */

static int name_equal(crest_str h, const char *name)
{
    while (h.len && isspace((unsigned char)h.ptr[0]))
        h.ptr++, h.len--;
    while (h.len && isspace((unsigned char)h.ptr[h.len - 1]))
        h.len--;
    const size_t n = strlen(name);
    if (h.len != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)h.ptr[i]) != tolower((unsigned char)name[i]))
            return 0;
    return 1;
}

static crest_status resolve(const char *name, const crest_str *header, size_t n_cols, replay_source *s,
                            crest_diag *diag, const char *what)
{
    *s = (replay_source){-1, -1};
    if (!name)
        return CREST_OK;
    for (size_t i = 0; i < n_cols; i++)
        if (name_equal(header[i], name)) {
            s->col = (long)i;
            return CREST_OK;
        }
    s->field = crest_field_from_name(name, strlen(name));
    if (s->field >= 0)
        return CREST_OK;
    return crest_diag_set(diag, CREST_ERR_MISSING, "<input>", 1, 0,
                          "the %s column '%s' is neither a header name of the input nor a canonical field",
                          what, name);
}

crest_status crest_replay_header(crest_replay *r, const crest_str *header, size_t n_cols, crest_diag *diag)
{
    crest_status st = resolve(r->opt.label, header, n_cols, &r->rd.label, diag, "label");
    if (st == CREST_OK)
        st = resolve(r->opt.revenue, header, n_cols, &r->rd.revenue, diag, "revenue");
    if (st == CREST_OK && !r->opt.revenue)
        st = resolve(r->opt.revenue_rate, header, n_cols, &r->rd.rate, diag, "revenue rate");
    if (st == CREST_OK && !r->opt.revenue && r->opt.revenue_rate)
        st = resolve(r->opt.revenue_base, header, n_cols, &r->rd.rbase, diag, "revenue base");
    return st;
}

/* ---------------------------------------------------------------- adding */

void crest_replay_read_label(const crest_replay *r, const crest_decl *decl, int *illicit_out,
                             double *revenue_out)
{
    replay_read_label(&r->rd, decl, illicit_out, revenue_out);
}

const replay_reader *replay_reader_of(const crest_replay *r)
{
    return &r->rd;
}

crest_status crest_replay_add_decl(crest_replay *r, const crest_decl *decl, const crest_decision *decision)
{
    int illicit;
    double revenue;
    crest_replay_read_label(r, decl, &illicit, &revenue);
    return crest_replay_add(r, decision, decl->date_days, illicit, revenue);
}

/* ------------------------------------------------- per-decision export */

const char crest_replay_decisions_header[] =
    "policy,decl_id,period,tier,risk_score,p,p_random,p_forced,u,decision,selected_by,illicit,revenue\n";
const char crest_replay_decisions_header_prob[] = "policy,decl_id,period,tier,risk_score,risk_prob,p,p_"
                                                  "random,p_forced,u,decision,selected_by,illicit,revenue\n";

void crest_replay_decisions_prob(crest_replay *r, int on)
{
    if (r)
        r->decisions_prob = on != 0;
}

static void full(textbuf *tb, double x)
{
    char t[CREST_DOUBLE_TEXT];
    textbuf_append(tb, t, crest_format_double(x, t));
    textbuf_puts(tb, ",");
}

const char *crest_replay_selected_by(const crest_decision *d)
{
    if (!d->inspect)
        return "";
    return d->forced ? "forced" : d->u < d->p_random ? "random" : "risk";
}

char *crest_replay_decision_row(const crest_replay *r, const char *policy_name, const crest_decl *decl,
                                const crest_decision *d)
{
    int illicit;
    double revenue;
    crest_replay_read_label(r, decl, &illicit, &revenue);
    char period[16] = "";
    if (r->opt.period != CREST_REPLAY_PERIOD_NONE)
        crest_replay_period_label(r->opt.period, crest_replay_period_key(r->opt.period, decl->date_days),
                                  period);
    textbuf tb;
    textbuf_init(&tb);
    textbuf_csv_field(&tb, policy_name, strlen(policy_name));
    textbuf_puts(&tb, ",");
    const crest_str id = decl->field[CREST_FIELD_DECL_ID];
    textbuf_csv_field(&tb, id.ptr, id.len);
    textbuf_printf(&tb, ",%s,", period);
    const char *tier = crest_policy_tier_name(r->policy, d->tier);
    textbuf_csv_field(&tb, tier, strlen(tier));
    textbuf_puts(&tb, ",");
    full(&tb, d->score);
    if (r->decisions_prob)
        full(&tb, d->prob);
    full(&tb, d->p);
    full(&tb, d->p_random);
    full(&tb, d->p_forced);
    full(&tb, d->u);
    textbuf_printf(&tb, "%s,%s,%s,", d->inspect ? "INSPECT" : "RELEASE", crest_replay_selected_by(d),
                   illicit < 0 ? ""
                   : illicit   ? "1"
                               : "0");
    char t[CREST_DOUBLE_TEXT];
    textbuf_append(&tb, t, crest_format_double(revenue, t));
    textbuf_puts(&tb, "\n");
    return textbuf_take(&tb);
}

static crest_replay_metrics *period_find(crest_replay *r, int64_t key);

/* The metrics of the period of key, made when new; NULL out of memory. */
static ROW_INLINE crest_replay_metrics *period_for(crest_replay *r, int64_t key)
{
    if (r->last < r->n_periods && r->periods[r->last].key == key)
        return &r->periods[r->last];
    return period_find(r, key);
}

static crest_replay_metrics *period_find(crest_replay *r, int64_t key)
{
    size_t lo = 0, hi = r->n_periods;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (r->periods[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < r->n_periods && r->periods[lo].key == key) {
        r->last = lo;
        return &r->periods[lo];
    }
    if (r->n_periods == r->cap_periods) {
        const size_t cap = r->cap_periods ? 2 * r->cap_periods : 16;
        crest_replay_metrics *p = realloc(r->periods, cap * sizeof *p);
        if (!p)
            return NULL;
        r->periods = p;
        r->cap_periods = cap;
    }
    memmove(&r->periods[lo + 1], &r->periods[lo], (r->n_periods - lo) * sizeof *r->periods);
    r->key_date = KEY_STALE; /* the periods moved: cur with them */
    metrics_init(r, &r->periods[lo], key);
    r->n_periods++;
    r->last = lo;
    return &r->periods[lo];
}

/* The counts of one row into m (the integer part of count_row). */
static ROW_INLINE void count_ints(crest_replay_metrics *m, const replay_row *x)
{
    crest_replay_tier_metrics *t = &m->tiers[x->tier];
    const unsigned bad = x->illicit == 1;
    m->rows++;
    t->rows++;
    m->unlabelled += x->illicit < 0;
    m->illicit += bad;
    t->illicit += bad;
    m->zero_p_rows += !(x->pi > 0);
    if (!(x->flags & REPLAY_ROW_INSPECT)) {
        t->missed_illicit += bad;
        return;
    }
    const unsigned stream = (x->flags & REPLAY_ROW_RANDOM_STREAM) != 0;
    m->inspected++;
    t->inspected++;
    m->random_stream += stream;
    m->random_stream_hits += stream & bad;
    if (x->flags & REPLAY_ROW_FORCED) {
        m->forced++;
        t->forced++;
    } else if (stream) {
        m->random++;
        t->random++;
    } else {
        m->risk++;
        t->risk++;
    }
    t->forced_insensitive += (x->flags & REPLAY_ROW_FORCED_INSENSITIVE) != 0;
    if (x->lane < 5) {
        m->lanes[x->lane]++;
        t->lanes[x->lane]++;
    }
    m->hits += bad;
    t->hits += bad;
}

/* The sums of one row into m: revenue and the Horvitz–Thompson terms, each
 * sum in row order. A revenue of 0 is not added: +0 and -0 leave every sum
 * as it is (a sum that starts at +0 is never -0), so the bits are those of
 * adding it. */
static ROW_INLINE void count_sums(crest_replay_metrics *m, const replay_row *x)
{
    if (x->revenue != 0)
        m->revenue_total += x->revenue;
    if (!(x->flags & REPLAY_ROW_INSPECT))
        return;
    if (x->revenue != 0) {
        m->revenue_caught += x->revenue;
        m->tiers[x->tier].revenue_caught += x->revenue;
    }
    if (x->illicit == 1 && x->pi > 0) {
        m->ht_sum += 1.0 / x->pi;
        m->ht_var += (1.0 - x->pi) / (x->pi * x->pi);
    }
}

/* 1 when the total's counts are those of the periods, summed when they are
 * read (crest_replay_finish, _save): with periods, a row's counts go to its
 * period only and the total adds only its sums, in row order as before. */
static int total_from_periods(const crest_replay *r)
{
    return r->opt.period != CREST_REPLAY_PERIOD_NONE;
}

/* Record why adding a row failed (crest_replay_diag) and return st. */
static crest_status fail(crest_replay *r, crest_status st, const char *what)
{
    return crest_diag_set(&r->diag, st, "<replay>", 0, 0, "%s", what);
}

crest_status crest_replay_add(crest_replay *r, const crest_decision *decision, int32_t date_days, int illicit,
                              double revenue)
{
    replay_row row;
    replay_row_of(decision, date_days, illicit, revenue, &row);
    return replay_row_add(r, &row);
}

/* A RED selection waits for the capacity cap's outcome (options.capacity). */
static crest_status pend_add(crest_replay *r, const replay_row *x, int64_t key)
{
    if (r->pend_head == r->n_pend)
        r->pend_head = r->n_pend = 0;
    if (crest_grow((void **)&r->pend, &r->cap_pend, r->n_pend + 1, sizeof *r->pend) != 0)
        return fail(r, CREST_ERR_NOMEM, "out of memory keeping the capacity cap's selections");
    r->pend[r->n_pend++] = (cap_pending){
        r->rank.n_rows - 1, key, x->revenue, x->pi, x->tier, (x->flags & REPLAY_ROW_RANDOM_STREAM) != 0,
        x->illicit == 1};
    return CREST_OK;
}

/* A row of another date than the last one's (or the first, or the first
 * after the periods moved): its period key, the dates' range and the
 * metrics its counts go to. CREST_OK or CREST_ERR_NOMEM. */
static crest_status new_date(crest_replay *r, int32_t date_days)
{
    if (date_days != CREST_DATE_NONE) {
        r->date_lo = date_days < r->date_lo ? date_days : r->date_lo;
        r->date_hi = date_days > r->date_hi ? date_days : r->date_hi;
    }
    r->key_last = crest_replay_period_key(r->opt.period, date_days);
    r->cur = total_from_periods(r) ? period_for(r, r->key_last) : &r->total; /* may make key_date stale */
    if (!r->cur)
        return fail(r, CREST_ERR_NOMEM, "out of memory keeping the periods");
    r->key_date = date_days;
    return CREST_OK;
}

/* A row added after the replay finished. */
static crest_status finished(crest_replay *r)
{
    return fail(r, CREST_ERR_STATE, "a row added after the replay finished");
}

/* Add one row to an unfinished replay. */
static ROW_INLINE crest_status row_add(crest_replay *r, const replay_row *x)
{
    if (x->tier >= r->n_tiers)
        return fail(r, CREST_ERR_STATE, "a decision of a tier the policy does not have");
    if (x->date_days != r->key_date) {
        const crest_status st = new_date(r, x->date_days);
        if (st != CREST_OK)
            return st;
    }
    const int64_t key = r->key_last;
    const uint32_t bad = x->illicit == 1;
    if (!rank_store_join(&r->rank, x->score, x->revenue, key, bad)) {
        const rank_row rank = {x->score, x->revenue, key, 1, bad};
        const crest_status st = rank_store_add(&r->rank, &rank);
        if (st != CREST_OK) {
            r->diag = r->rank.diag;
            return st;
        }
    }
    /* With periods a row's counts and sums go to its period and its sums to
     * the total too; without, all to the total. */
    crest_replay_metrics *m = r->cur;
    count_ints(m, x);
    if (m != &r->total)
        count_sums(m, x);
    count_sums(&r->total, x);
    if (r->opt.capacity && (x->flags & REPLAY_ROW_INSPECT) && x->lane == LANE_RED)
        return pend_add(r, x, key);
    return CREST_OK;
}

crest_status replay_row_add(crest_replay *r, const replay_row *x)
{
    return r->finished ? finished(r) : row_add(r, x);
}

crest_status replay_rows_add(crest_replay *r, const void *rows, size_t n)
{
    if (n && r->finished)
        return finished(r);
    const char *at = rows;
    for (size_t i = 0; i < n; i++, at += sizeof(replay_row)) {
        replay_row x;
        memcpy(&x, at, sizeof x);
        const crest_status st = row_add(r, &x);
        if (st != CREST_OK)
            return st;
    }
    return CREST_OK;
}

/* Take a deferred selection out of the inspections of m (the inverse of
 * count_ints and count_sums for a drawn, unforced RED selection); counts 0:
 * only its sums (the total when its counts are the periods'). */
static void uncount(crest_replay_metrics *m, const cap_pending *c, int counts)
{
    crest_replay_tier_metrics *t = &m->tiers[c->tier];
    m->revenue_caught -= c->revenue;
    t->revenue_caught -= c->revenue;
    if (c->illicit && c->pi > 0) {
        m->ht_sum -= 1.0 / c->pi;
        m->ht_var -= (1.0 - c->pi) / (c->pi * c->pi);
    }
    if (!counts)
        return;
    m->inspected--;
    t->inspected--;
    if (c->random_stream) {
        m->random--;
        t->random--;
        m->random_stream--;
        m->random_stream_hits -= c->illicit;
    } else {
        m->risk--;
        t->risk--;
    }
    m->lanes[LANE_RED]--;
    t->lanes[LANE_RED]--;
    if (c->illicit) {
        m->hits--;
        t->hits--;
        t->missed_illicit++;
    }
    m->deferred++;
    t->deferred++;
}

crest_status crest_replay_capacity(crest_replay *r, uint64_t ordinal, crest_capacity_outcome outcome)
{
    /* Selections before this ordinal were kept (the hook sees every decision in order). */
    while (r->pend_head < r->n_pend && r->pend[r->pend_head].ordinal < ordinal)
        r->pend_head++;
    if (r->pend_head == r->n_pend || r->pend[r->pend_head].ordinal != ordinal)
        return outcome == CREST_CAPACITY_KEPT ? CREST_OK : CREST_ERR_STATE;
    const cap_pending c = r->pend[r->pend_head++];
    if (outcome == CREST_CAPACITY_KEPT)
        return CREST_OK;
    crest_replay_metrics *p = NULL;
    if (total_from_periods(r) && !(p = period_for(r, c.key)))
        return CREST_ERR_NOMEM;
    if (outcome == CREST_CAPACITY_DEFERRED) {
        uncount(&r->total, &c, !p);
        if (p)
            uncount(p, &c, 1);
    } else if (p) {
        p->overflow++;
        p->tiers[c.tier].overflow++;
    } else {
        r->total.overflow++;
        r->total.tiers[c.tier].overflow++;
    }
    return CREST_OK;
}

/* ---------------------------------------------------- engine hooks */

static int attach_header(void *ctx, const crest_str *header, size_t n_cols)
{
    crest_replay *r = ctx;
    if (crest_replay_header(r, header, n_cols, &r->hook_diag) != CREST_OK) {
        r->hook_failed = 1;
        return 1;
    }
    return 0;
}

static int attach_decl(void *ctx, const crest_decl *decl, const crest_decision *decision, unsigned long line)
{
    crest_replay *r = ctx;
    const crest_status st = crest_replay_add_decl(r, decl, decision);
    if (st != CREST_OK) {
        r->hook_failed = 1;
        if (r->diag.status != CREST_OK) /* out of memory or the temporary file: the detail */
            r->hook_diag = r->diag;
        else
            crest_diag_set(&r->hook_diag, st, "<replay>", line, 0, "cannot add the row");
        return 1;
    }
    return 0;
}

static int attach_capacity(void *ctx, uint64_t ordinal, crest_capacity_outcome outcome)
{
    crest_replay *r = ctx;
    if (crest_replay_capacity(r, ordinal, outcome) != CREST_OK) {
        r->hook_failed = 1;
        crest_diag_set(&r->hook_diag, CREST_ERR_STATE, "<replay>", 0, 0,
                       "a capacity outcome for no waiting selection");
        return 1;
    }
    return 0;
}

void crest_replay_attach(crest_replay *r, crest_run_options *opt)
{
    opt->header_hook = attach_header;
    opt->decl_hook = attach_decl;
    opt->capacity_hook = r->opt.capacity ? attach_capacity : NULL;
    opt->hook_ctx = r;
}

const crest_diag *crest_replay_attach_diag(const crest_replay *r)
{
    return r->hook_failed ? &r->hook_diag : NULL;
}

/* ------------------------------------------------------ merge, save, load */

/* What add_counts adds: the counts (rows, tiers, paths, lanes, outcomes), the
 * sums (revenue and the Horvitz–Thompson terms), or both. */
enum { ADD_COUNTS = 1, ADD_SUMS = 2, ADD_ALL = 3 };

/* Adds the counts and/or sums of b to a (what: ADD_*); the derived values
 * are left to derive(). */
static void add_counts(crest_replay_metrics *a, const crest_replay_metrics *b, int what)
{
    if (what & ADD_SUMS) {
        a->revenue_total += b->revenue_total;
        a->revenue_caught += b->revenue_caught;
        a->ht_sum += b->ht_sum;
        a->ht_var += b->ht_var;
        for (size_t t = 0; t < a->n_tiers; t++)
            a->tiers[t].revenue_caught += b->tiers[t].revenue_caught;
    }
    if (!(what & ADD_COUNTS))
        return;
    a->rows += b->rows;
    a->unlabelled += b->unlabelled;
    a->illicit += b->illicit;
    a->inspected += b->inspected;
    a->hits += b->hits;
    a->forced += b->forced;
    a->random += b->random;
    a->risk += b->risk;
    for (int l = 0; l < 5; l++)
        a->lanes[l] += b->lanes[l];
    a->random_stream += b->random_stream;
    a->random_stream_hits += b->random_stream_hits;
    a->zero_p_rows += b->zero_p_rows;
    a->deferred += b->deferred;
    a->overflow += b->overflow;
    for (size_t t = 0; t < a->n_tiers; t++) {
        crest_replay_tier_metrics *x = &a->tiers[t];
        const crest_replay_tier_metrics *y = &b->tiers[t];
        x->rows += y->rows;
        x->inspected += y->inspected;
        x->forced += y->forced;
        x->random += y->random;
        x->risk += y->risk;
        for (int l = 0; l < 5; l++)
            x->lanes[l] += y->lanes[l];
        x->illicit += y->illicit;
        x->hits += y->hits;
        x->missed_illicit += y->missed_illicit;
        x->forced_insensitive += y->forced_insensitive;
        x->deferred += y->deferred;
        x->overflow += y->overflow;
    }
}

/* The total as it is read (crest_replay_finish, _save): with periods, its
 * counts are the sum of theirs (total_from_periods) and its sums its own,
 * copied as they are. */
static void settled_total(const crest_replay *r, crest_replay_metrics *out)
{
    *out = r->total;
    if (!total_from_periods(r))
        return;
    metrics_init(r, out, 0);
    strcpy(out->label, "total");
    out->revenue_total = r->total.revenue_total;
    out->revenue_caught = r->total.revenue_caught;
    out->ht_sum = r->total.ht_sum;
    out->ht_var = r->total.ht_var;
    for (size_t t = 0; t < r->n_tiers; t++)
        out->tiers[t].revenue_caught = r->total.tiers[t].revenue_caught;
    for (size_t i = 0; i < r->n_periods; i++)
        add_counts(out, &r->periods[i], ADD_COUNTS);
}

crest_status crest_replay_merge(crest_replay *r, const crest_replay *other)
{
    /* Selections still waiting for the capacity cap's outcome cannot move. */
    if (r->finished || other->finished || r->n_tiers != other->n_tiers ||
        r->opt.period != other->opt.period || r->n_pend || other->n_pend)
        return CREST_ERR_STATE;
    const crest_status st = rank_store_append(&r->rank, &other->rank);
    if (st != CREST_OK) {
        r->diag = r->rank.diag;
        return st;
    }
    add_counts(&r->total, &other->total, total_from_periods(r) ? ADD_SUMS : ADD_ALL);
    for (size_t i = 0; i < other->n_periods; i++) {
        crest_replay_metrics *m = period_for(r, other->periods[i].key);
        if (!m)
            return fail(r, CREST_ERR_NOMEM, "out of memory merging the periods");
        add_counts(m, &other->periods[i], ADD_ALL);
    }
    return CREST_OK;
}

/* The saved state: this header, then the total, the periods, the lengths of
 * the ranking's sorted runs and its rows as they are in memory (the runs'
 * rows, then the unsorted ones; so only the same build of crest reads it). */
typedef struct saved_header {
    char magic[8];
    uint64_t policy_hash;
    uint64_t metrics_size, rank_size;
    uint64_t n_tiers, period, n_periods, n_rank, n_runs;
} saved_header;

static const char saved_magic[8] = {'C', 'R', 'S', 'T', 'R', 'P', '0', '3'};

void *crest_replay_save(const crest_replay *r, size_t *len)
{
    *len = 0;
    if (r->finished || r->n_pend)
        return NULL;
    const saved_header h = {{0},
                            crest_policy_hash(r->policy),
                            sizeof(crest_replay_metrics),
                            sizeof(rank_row),
                            r->n_tiers,
                            (uint64_t)r->opt.period,
                            r->n_periods,
                            r->rank.n_stored,
                            r->rank.n_runs};
    const size_t n =
        sizeof h + (1 + r->n_periods) * sizeof(crest_replay_metrics) + rank_store_saved_size(&r->rank);
    char *buf = malloc(n), *at = buf;
    if (!buf)
        return NULL;
    memcpy(at, &h, sizeof h);
    memcpy(at, saved_magic, sizeof saved_magic);
    at += sizeof h;
    crest_replay_metrics total;
    settled_total(r, &total);
    memcpy(at, &total, sizeof total);
    at += sizeof total;
    if (r->n_periods)
        memcpy(at, r->periods, r->n_periods * sizeof *r->periods);
    at += r->n_periods * sizeof *r->periods;
    if (rank_store_save(&r->rank, at) != CREST_OK) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

crest_status crest_replay_load(crest_replay *r, const void *buf, size_t len, crest_diag *diag)
{
    saved_header h;
    if (len < sizeof h)
        return crest_diag_set(diag, CREST_ERR_INVALID, "<replay state>", 0, 0,
                              "the saved replay state is %zu bytes, shorter than its header", len);
    memcpy(&h, buf, sizeof h);
    if (memcmp(h.magic, saved_magic, sizeof saved_magic) != 0 ||
        h.metrics_size != sizeof(crest_replay_metrics) || h.rank_size != sizeof(rank_row))
        return crest_diag_set(diag, CREST_ERR_VERSION, "<replay state>", 0, 0,
                              "the saved replay state was not written by this build of crest");
    if (h.policy_hash != crest_policy_hash(r->policy) || h.n_tiers != r->n_tiers ||
        h.period != (uint64_t)r->opt.period)
        return crest_diag_set(diag, CREST_ERR_MISMATCH, "<replay state>", 0, 0,
                              "the saved replay state is of another policy or period");
    /* The sizes in the header are checked against len before they are multiplied. */
    const size_t fixed = sizeof h + sizeof(crest_replay_metrics);
    const size_t room = len - (len < fixed ? len : fixed);
    if (len < fixed || h.n_periods > room / sizeof(crest_replay_metrics) ||
        h.n_runs > (room - h.n_periods * sizeof(crest_replay_metrics)) / sizeof(uint64_t) ||
        h.n_rank != (room - h.n_periods * sizeof(crest_replay_metrics) - h.n_runs * sizeof(uint64_t)) /
                        sizeof(rank_row) ||
        (room - h.n_periods * sizeof(crest_replay_metrics) - h.n_runs * sizeof(uint64_t)) % sizeof(rank_row))
        return crest_diag_set(diag, CREST_ERR_INVALID, "<replay state>", 0, 0,
                              "the saved replay state is %zu bytes, not what its header says", len);
    if (r->finished || r->n_pend)
        return crest_diag_set(diag, CREST_ERR_STATE, "<replay state>", 0, 0,
                              "the replay is finished or waits for capacity outcomes");
    const char *at = (const char *)buf + sizeof h;
    crest_replay_metrics m;
    memcpy(&m, at, sizeof m);
    at += sizeof m;
    add_counts(&r->total, &m, total_from_periods(r) ? ADD_SUMS : ADD_ALL);
    for (uint64_t i = 0; i < h.n_periods; i++) {
        memcpy(&m, at, sizeof m);
        at += sizeof m;
        crest_replay_metrics *p = period_for(r, m.key);
        if (!p)
            return crest_diag_set(diag, CREST_ERR_NOMEM, "<replay state>", 0, 0, "out of memory");
        add_counts(p, &m, ADD_ALL);
    }
    const crest_status st = rank_store_load(&r->rank, at, h.n_runs, h.n_rank);
    if (st != CREST_OK) {
        r->diag = r->rank.diag;
        *diag = r->rank.diag;
    }
    return st;
}

void crest_replay_free_saved(void *buf)
{
    free(buf);
}

/* -------------------------------------------------------------- finish */

static int same_score(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

void crest_replay_topk(const double *score, const uint8_t *illicit, const double *revenue,
                       const size_t *order, size_t n, uint64_t k, double *hits, double *revenue_caught)
{
    double h = 0, v = 0;
    size_t i = 0;
    while (i < n && (uint64_t)i < k) {
        size_t j = i;
        double gh = 0, gv = 0;
        while (j < n && same_score(score[order[j]], score[order[i]])) {
            gh += illicit[order[j]];
            gv += revenue ? revenue[order[j]] : 0.0;
            j++;
        }
        const double take = (uint64_t)j <= k ? 1.0 : (double)(k - (uint64_t)i) / (double)(j - i);
        h += take * gh;
        v += take * gv;
        i = j;
    }
    *hits = h;
    *revenue_caught = v;
}

/*
 * The ranking metrics in one pass over the rows in the ranking order
 * (rankstore.h): score descending, NaN last, ties by period key, then by
 * insertion order. That is the order the sorts of earlier versions gave
 * (a stable sort by key and score, then by score), so every sum below adds
 * the same numbers in the same order: the same bits. The rows of one period
 * come in that period's own ranking order, so each period's accumulator sees
 * its rows as a sort of the period alone would give them.
 *
 * A ranking accumulator walks groups of tied scores: it sums a group's hits
 * and revenue, and when the group closes adds its share to every cut k it
 * reaches, ties at the cut pro rata (as crest_replay_topk).
 */
typedef struct rank_acc {
    uint64_t seen;    /* rows of the closed groups */
    uint64_t n_group; /* rows of the open group; of them illicit: */
    uint64_t p_group;
    double score, gh, gv; /* the open group's score, hits and revenue */
    uint64_t k[CREST_REPLAY_N_AT];
    double h[CREST_REPLAY_N_AT], v[CREST_REPLAY_N_AT];
} rank_acc;

static void acc_init(rank_acc *a, uint64_t rows)
{
    memset(a, 0, sizeof *a);
    for (int t = 0; t < CREST_REPLAY_N_AT; t++)
        a->k[t] = (rows * crest_replay_at_pct[t] + 99) / 100;
}

static void acc_close(rank_acc *a)
{
    const uint64_t i = a->seen, j = a->seen + a->n_group;
    for (int t = 0; t < CREST_REPLAY_N_AT; t++) {
        if (i >= a->k[t])
            continue;
        const double take = j <= a->k[t] ? 1.0 : (double)(a->k[t] - i) / (double)(j - i);
        a->h[t] += take * a->gh;
        a->v[t] += take * a->gv;
    }
    a->seen = j;
    a->n_group = a->p_group = 0;
    a->gh = a->gv = 0;
}

/* 1 when row opens a new group (the open one must be closed first). */
static int acc_new_group(const rank_acc *a, const rank_row *row)
{
    return a->n_group && !same_score(row->score, a->score);
}

/* A row may stand for several tied declarations (rankstore.h: combined rows
 * carry revenue 0); the counts are whole numbers, so they sum exactly. */
static void acc_add(rank_acc *a, const rank_row *row)
{
    if (!a->n_group)
        a->score = row->score;
    a->n_group += row->n;
    a->p_group += row->illicit;
    a->gh += (double)row->illicit;
    a->gv += row->revenue;
}

static void acc_metrics(const rank_acc *a, crest_replay_metrics *m)
{
    for (int t = 0; t < CREST_REPLAY_N_AT; t++) {
        const uint64_t k = a->k[t];
        m->at_k[t] = k;
        m->at_precision[t] = k ? a->h[t] / (double)k : NAN;
        m->at_recall[t] = m->illicit ? a->h[t] / (double)m->illicit : NAN;
        m->at_revenue[t] = m->revenue_total > 0 ? a->v[t] / m->revenue_total : NAN;
    }
}

/*
 * The gain curve over the same walk: the cuts k_i = ceil(i · rows / (n − 1))
 * grow with i; the groups wholly above a cut are summed once, in order, into
 * full_h and full_v, and a cut inside a group adds its pro rata share.
 */
typedef struct gain_acc {
    size_t n_points, next; /* the next cut to fill */
    uint64_t rows;
    double full_h, full_v;
    double *h, *v; /* n_points each */
} gain_acc;

static uint64_t gain_cut(const gain_acc *g, size_t i)
{
    return ((uint64_t)i * g->rows + (g->n_points - 2)) / (g->n_points - 1);
}

/* The group [at, end) with its hits and revenue closes. */
static void gain_group(gain_acc *g, uint64_t at, uint64_t end, double gh, double gv)
{
    for (; g->next < g->n_points && gain_cut(g, g->next) <= at; g->next++)
        g->h[g->next] = g->full_h, g->v[g->next] = g->full_v;
    for (; g->next < g->n_points && gain_cut(g, g->next) < end; g->next++) {
        const double take = (double)(gain_cut(g, g->next) - at) / (double)(end - at);
        g->h[g->next] = g->full_h + take * gh;
        g->v[g->next] = g->full_v + take * gv;
    }
    g->full_h += 1.0 * gh;
    g->full_v += 1.0 * gv;
}

static void gain_end(gain_acc *g)
{
    for (; g->next < g->n_points; g->next++)
        g->h[g->next] = g->full_h, g->v[g->next] = g->full_v;
}

/* The total's walk: the ranking metrics, the gain curve, and the ROC AUC and
 * average precision one group of ties at a time. */
typedef struct total_acc {
    rank_acc rank;
    gain_acc gain;
    uint64_t pos, neg, tp, fp;
    double area, avg;
} total_acc;

static void total_close(total_acc *t)
{
    rank_acc *a = &t->rank;
    if (!a->n_group)
        return;
    gain_group(&t->gain, a->seen, a->seen + a->n_group, a->gh, a->gv);
    const uint64_t p = a->p_group, q = a->n_group - a->p_group;
    /* Each positive here beats the negatives below the group and half of those tied with it. */
    t->area += (double)p * ((double)(t->neg - t->fp - q) + 0.5 * (double)q);
    t->tp += p, t->fp += q;
    if (p)
        t->avg += ((double)p / (double)t->pos) * ((double)t->tp / (double)(t->tp + t->fp));
    acc_close(a);
}

/* rows: the ranking's; the gain's cuts are taken of the total's row count
 * (the same number), the AUC's classes of its illicit count. */
static void total_init(total_acc *t, const crest_replay *r, size_t n_points, double *h, double *v)
{
    memset(t, 0, sizeof *t);
    acc_init(&t->rank, r->rank.n_rows);
    t->gain = (gain_acc){n_points, 0, r->total.rows, 0, 0, h, v};
    t->pos = r->total.illicit;
    t->neg = r->rank.n_rows - r->total.illicit;
}

/* Drain a pass into the total (and, with pacc, the periods' accumulators). */
static crest_status walk(const crest_replay *r, rank_cursor *c, total_acc *t, rank_acc *pacc,
                         crest_diag *diag)
{
    rank_row row;
    int got;
    size_t p = 0;
    while ((got = rank_cursor_next(c, &row)) == 1) {
        if (acc_new_group(&t->rank, &row))
            total_close(t);
        acc_add(&t->rank, &row);
        if (!pacc)
            continue;
        if (r->periods[p].key != row.key) {
            size_t lo = 0, hi = r->n_periods;
            while (lo < hi) {
                const size_t mid = lo + (hi - lo) / 2;
                if (r->periods[mid].key < row.key)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo == r->n_periods || r->periods[lo].key != row.key)
                return crest_diag_set(diag, CREST_ERR_STATE, "<replay>", 0, 0,
                                      "a ranking row of no period (internal error)");
            p = lo;
        }
        rank_acc *a = &pacc[p];
        if (acc_new_group(a, &row))
            acc_close(a);
        if (a->seen < a->k[CREST_REPLAY_N_AT - 1]) /* else past the period's largest cut */
            acc_add(a, &row);
    }
    if (got < 0) {
        *diag = *rank_cursor_diag(c);
        return CREST_ERR_IO;
    }
    total_close(t);
    gain_end(&t->gain);
    if (pacc)
        for (size_t i = 0; i < r->n_periods; i++)
            if (pacc[i].n_group)
                acc_close(&pacc[i]);
    return CREST_OK;
}

static void derive(const crest_replay *r, crest_replay_metrics *m)
{
    const double z = 1.959963984540054;
    m->inspect_rate = crest_stats_binomial_ci(m->inspected, m->rows, 0.95);
    m->precision = crest_stats_binomial_ci(m->hits, m->inspected, 0.95);
    m->recall = crest_stats_binomial_ci(m->hits, m->illicit, 0.95);
    m->random_precision = crest_stats_binomial_ci(m->random_stream_hits, m->random_stream, 0.95);
    m->true_rate = crest_stats_binomial_ci(m->illicit, m->rows, 0.95);
    m->revenue_share = m->revenue_total > 0 ? m->revenue_caught / m->revenue_total : NAN;
    m->lift_random =
        m->random_precision.estimate > 0 ? m->precision.estimate / m->random_precision.estimate : NAN;
    m->lift_rate = m->true_rate.estimate > 0 ? m->precision.estimate / m->true_rate.estimate : NAN;
    if (m->rows) {
        const double n = (double)m->rows;
        const double est = m->ht_sum / n, se = sqrt(m->ht_var) / n;
        m->ht_rate = (crest_interval){est, fmax(0.0, est - z * se), fmin(1.0, est + z * se)};
    } else {
        m->ht_rate = (crest_interval){NAN, NAN, NAN};
    }
    const crest_replay_tier_metrics *b = &m->tiers[r->base];
    m->aeo_missed_illicit = 0;
    for (size_t t = 0; t < r->n_tiers; t++) {
        crest_replay_tier_metrics *tm = &m->tiers[t];
        tm->rate = crest_stats_binomial_ci(tm->inspected, tm->rows, 0.95);
        tm->target = crest_policy_tier_rate(r->policy, t);
        tm->floor = crest_policy_tier_is_floor(r->policy, t);
        tm->ratio_target = t == r->base ? NAN : crest_policy_tier_ratio(r->policy, t);
        tm->ratio = isnan(tm->ratio_target)
                        ? (crest_interval){NAN, NAN, NAN}
                        : crest_stats_rate_ratio_ci(tm->inspected, tm->rows, b->inspected, b->rows, 0.95);
        tm->ratio_net = isnan(tm->ratio_target)
                            ? (crest_interval){NAN, NAN, NAN}
                            : crest_stats_rate_ratio_ci(tm->inspected - tm->forced_insensitive,
                                                        tm->rows - tm->forced_insensitive,
                                                        b->inspected - b->forced_insensitive,
                                                        b->rows - b->forced_insensitive, 0.95);
        if (t < r->base)
            m->aeo_missed_illicit += tm->missed_illicit;
    }
    m->ratio = r->ratio_tier >= 0 ? m->tiers[r->ratio_tier].ratio : (crest_interval){NAN, NAN, NAN};
    m->ratio_net = r->ratio_tier >= 0 ? m->tiers[r->ratio_tier].ratio_net : (crest_interval){NAN, NAN, NAN};
}

crest_status crest_replay_finish(crest_replay *r)
{
    if (r->finished)
        return CREST_OK;
    crest_replay_metrics total;
    settled_total(r, &total);
    r->total = total;
    if (r->rank.n_rows != r->total.rows) /* a failed add or load left them apart */
        return fail(r, CREST_ERR_STATE,
                    "the ranking's rows and the counted rows differ: an earlier call failed");
    derive(r, &r->total);
    rank_acc *pacc = NULL;
    if (r->opt.period != CREST_REPLAY_PERIOD_NONE && r->n_periods) {
        pacc = malloc(r->n_periods * sizeof *pacc);
        if (!pacc)
            return crest_diag_set(&r->diag, CREST_ERR_NOMEM, "<replay>", 0, 0, "out of memory");
        for (size_t p = 0; p < r->n_periods; p++) {
            derive(r, &r->periods[p]);
            acc_init(&pacc[p], r->periods[p].rows);
        }
    }
    total_acc t;
    total_init(&t, r, CREST_REPLAY_GAIN_POINTS, r->gain_h, r->gain_v);
    rank_cursor *c = NULL;
    crest_status st = rank_store_finish(&r->rank);
    if (st != CREST_OK)
        r->diag = r->rank.diag;
    else
        st = rank_cursor_open(&r->rank, &c, &r->diag);
    if (st == CREST_OK)
        st = walk(r, c, &t, pacc, &r->diag);
    rank_cursor_close(c);
    if (st == CREST_OK) {
        acc_metrics(&t.rank, &r->total);
        for (size_t p = 0; pacc && p < r->n_periods; p++)
            acc_metrics(&pacc[p], &r->periods[p]);
        r->auc = t.pos && t.neg ? t.area / ((double)t.pos * (double)t.neg) : NAN;
        r->ap = t.pos ? t.avg : NAN;
        r->finished = 1;
    }
    free(pacc);
    return st;
}

crest_status crest_replay_gain(const crest_replay *r, size_t n_points, double *x, double *y, double *rev)
{
    if (!r->finished)
        return CREST_ERR_STATE;
    if (n_points < 2)
        return CREST_ERR_RANGE;
    const crest_replay_metrics *m = &r->total;
    const double *h = r->gain_h, *v = r->gain_v;
    double *tmp = NULL;
    if (n_points != CREST_REPLAY_GAIN_POINTS) { /* another pass over the ranking */
        tmp = malloc(2 * n_points * sizeof *tmp);
        if (!tmp)
            return CREST_ERR_NOMEM;
        total_acc t;
        total_init(&t, r, n_points, tmp, tmp + n_points);
        crest_diag d;
        rank_cursor *c = NULL;
        crest_status st = rank_cursor_open(&r->rank, &c, &d);
        if (st == CREST_OK)
            st = walk(r, c, &t, NULL, &d);
        rank_cursor_close(c);
        if (st != CREST_OK) {
            free(tmp);
            return st;
        }
        h = tmp, v = tmp + n_points;
    }
    for (size_t i = 0; i < n_points; i++) {
        x[i] = (double)i / (double)(n_points - 1);
        y[i] = m->illicit ? h[i] / (double)m->illicit : NAN;
        rev[i] = m->revenue_total > 0 ? v[i] / m->revenue_total : NAN;
    }
    free(tmp);
    return CREST_OK;
}

crest_status crest_replay_ranking_quality(const crest_replay *r, double *auc, double *ap)
{
    *auc = *ap = NAN;
    if (!r->finished)
        return CREST_ERR_STATE;
    *auc = r->auc;
    *ap = r->ap;
    return CREST_OK;
}

int crest_replay_period_partial(const crest_replay *r, size_t i, unsigned *days)
{
    if (days)
        *days = 0;
    if (i >= r->n_periods || r->periods[i].key == CREST_REPLAY_UNDATED || r->date_lo > r->date_hi)
        return 0;
    const int64_t start = r->periods[i].key;
    const int64_t end = r->opt.period == CREST_REPLAY_PERIOD_DAY ? start + 1
                        : r->opt.period == CREST_REPLAY_PERIOD_WEEK
                            ? start + 7
                            : crest_replay_period_key(CREST_REPLAY_PERIOD_MONTH, (int32_t)(start + 31));
    const int64_t from = start > r->date_lo ? start : r->date_lo;
    const int64_t to = end < (int64_t)r->date_hi + 1 ? end : (int64_t)r->date_hi + 1;
    if (days)
        *days = to > from ? (unsigned)(to - from) : 0;
    return to - from < end - start;
}

const crest_replay_metrics *crest_replay_total(const crest_replay *r)
{
    return &r->total;
}
size_t crest_replay_period_count(const crest_replay *r)
{
    return r->n_periods;
}
const crest_replay_metrics *crest_replay_period_at(const crest_replay *r, size_t i)
{
    return i < r->n_periods ? &r->periods[i] : NULL;
}

/* -------------------------------------------------------------- writers */

/* Numbers with 10 significant digits; shared encoders live in textbuf.c. */
#define num(tb, x) textbuf_csv_number((tb), (x), 10)
#define jnum(tb, x) textbuf_json_number((tb), (x), 10)
#define jstr(tb, s) textbuf_json_string((tb), (s))

static void cstr(textbuf *tb, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        textbuf_puts(tb, s);
        return;
    }
    textbuf_puts(tb, "\"");
    for (; *s; s++) {
        if (*s == '"')
            textbuf_puts(tb, "\"");
        textbuf_append(tb, s, 1);
    }
    textbuf_puts(tb, "\"");
}

static void civ(textbuf *tb, crest_interval ci)
{
    num(tb, ci.estimate);
    textbuf_puts(tb, ",");
    num(tb, ci.lower);
    textbuf_puts(tb, ",");
    num(tb, ci.upper);
}

static const char period_header[] =
    "policy,period,rows,unlabelled,illicit,true_rate,true_rate_lo,true_rate_hi,inspected,inspect_rate,"
    "inspect_rate_lo,inspect_rate_hi,forced,random,risk,hits,precision,precision_lo,precision_hi,recall,"
    "recall_lo,recall_hi,revenue_total,revenue_caught,revenue_share,random_stream,random_stream_hits,"
    "random_precision,lift_random,lift_rate,ht_rate,ht_rate_lo,ht_rate_hi,zero_p_rows,ratio_tier,ratio,"
    "ratio_lo,ratio_hi,aeo_missed_illicit";

static void period_row(textbuf *tb, const char *name, const crest_replay *r, const crest_replay_metrics *m)
{
    cstr(tb, name);
    textbuf_printf(tb, ",%s,%llu,%llu,%llu,", m->label, (unsigned long long)m->rows,
                   (unsigned long long)m->unlabelled, (unsigned long long)m->illicit);
    civ(tb, m->true_rate);
    textbuf_printf(tb, ",%llu,", (unsigned long long)m->inspected);
    civ(tb, m->inspect_rate);
    textbuf_printf(tb, ",%llu,%llu,%llu,%llu,", (unsigned long long)m->forced, (unsigned long long)m->random,
                   (unsigned long long)m->risk, (unsigned long long)m->hits);
    civ(tb, m->precision);
    textbuf_puts(tb, ",");
    civ(tb, m->recall);
    textbuf_puts(tb, ",");
    num(tb, m->revenue_total);
    textbuf_puts(tb, ",");
    num(tb, m->revenue_caught);
    textbuf_puts(tb, ",");
    num(tb, m->revenue_share);
    textbuf_printf(tb, ",%llu,%llu,", (unsigned long long)m->random_stream,
                   (unsigned long long)m->random_stream_hits);
    num(tb, m->random_precision.estimate);
    textbuf_puts(tb, ",");
    num(tb, m->lift_random);
    textbuf_puts(tb, ",");
    num(tb, m->lift_rate);
    textbuf_puts(tb, ",");
    civ(tb, m->ht_rate);
    textbuf_printf(tb, ",%llu,%s,", (unsigned long long)m->zero_p_rows,
                   m->ratio_tier >= 0 ? crest_policy_tier_name(r->policy, (size_t)m->ratio_tier) : "");
    civ(tb, m->ratio);
    textbuf_printf(tb, ",%llu", (unsigned long long)m->aeo_missed_illicit);
    for (int a = 0; a < CREST_REPLAY_N_AT; a++) {
        textbuf_printf(tb, ",%llu,", (unsigned long long)m->at_k[a]);
        num(tb, m->at_precision[a]);
        textbuf_puts(tb, ",");
        num(tb, m->at_recall[a]);
        textbuf_puts(tb, ",");
        num(tb, m->at_revenue[a]);
    }
    textbuf_puts(tb, "\n");
}

char *crest_replay_csv_periods(const crest_replay_set *set)
{
    textbuf tb;
    textbuf_init(&tb);
    textbuf_puts(&tb, period_header);
    for (int a = 0; a < CREST_REPLAY_N_AT; a++) {
        const unsigned n = crest_replay_at_pct[a];
        textbuf_printf(&tb, ",k_at_%u,precision_at_%u,recall_at_%u,revenue_at_%u", n, n, n, n);
    }
    textbuf_puts(&tb, "\n");
    for (size_t i = 0; i < set->n; i++) {
        const crest_replay *r = set->reps[i];
        for (size_t p = 0; p < r->n_periods; p++)
            period_row(&tb, set->names[i], r, &r->periods[p]);
        period_row(&tb, set->names[i], r, &r->total);
    }
    return textbuf_take(&tb);
}

static void tier_rows(textbuf *tb, const char *name, const crest_replay *r, const crest_replay_metrics *m)
{
    for (size_t t = 0; t < m->n_tiers; t++) {
        const crest_replay_tier_metrics *tm = &m->tiers[t];
        cstr(tb, name);
        textbuf_printf(tb, ",%s,", m->label);
        cstr(tb, crest_policy_tier_name(r->policy, t));
        textbuf_printf(tb, ",%llu,%llu,", (unsigned long long)tm->rows, (unsigned long long)tm->inspected);
        civ(tb, tm->rate);
        textbuf_puts(tb, ",");
        num(tb, tm->target);
        textbuf_printf(tb, ",%d,%llu,%llu,%llu,%llu,%llu,%llu,", tm->floor, (unsigned long long)tm->forced,
                       (unsigned long long)tm->random, (unsigned long long)tm->risk,
                       (unsigned long long)tm->illicit, (unsigned long long)tm->hits,
                       (unsigned long long)tm->missed_illicit);
        num(tb, tm->revenue_caught);
        textbuf_puts(tb, ",");
        civ(tb, tm->ratio);
        textbuf_puts(tb, ",");
        num(tb, tm->ratio_target);
        textbuf_printf(tb, ",%llu,%llu,%llu,", (unsigned long long)tm->deferred,
                       (unsigned long long)tm->overflow, (unsigned long long)tm->forced_insensitive);
        civ(tb, tm->ratio_net);
        textbuf_puts(tb, "\n");
    }
}

char *crest_replay_csv_tiers(const crest_replay_set *set)
{
    textbuf tb;
    textbuf_init(&tb);
    textbuf_puts(&tb,
                 "policy,period,tier,rows,inspected,rate,rate_lo,rate_hi,target,floor,forced,random,risk,"
                 "illicit,hits,missed_illicit,revenue_caught,ratio,ratio_lo,ratio_hi,ratio_target,deferred,"
                 "overflow,forced_credit_insensitive,ratio_net,ratio_net_lo,ratio_net_hi\n");
    for (size_t i = 0; i < set->n; i++) {
        const crest_replay *r = set->reps[i];
        for (size_t p = 0; p < r->n_periods; p++)
            tier_rows(&tb, set->names[i], r, &r->periods[p]);
        tier_rows(&tb, set->names[i], r, &r->total);
    }
    return textbuf_take(&tb);
}

static void jci(textbuf *tb, const char *key, crest_interval ci)
{
    textbuf_printf(tb, "\"%s\":{\"estimate\":", key);
    jnum(tb, ci.estimate);
    textbuf_puts(tb, ",\"lower\":");
    jnum(tb, ci.lower);
    textbuf_puts(tb, ",\"upper\":");
    jnum(tb, ci.upper);
    textbuf_puts(tb, "}");
}

static void jkey(textbuf *tb, const char *key, double x)
{
    textbuf_printf(tb, ",\"%s\":", key);
    jnum(tb, x);
}

static void json_metrics(textbuf *tb, const crest_replay *r, const crest_replay_metrics *m)
{
    textbuf_puts(tb, "{\"period\":");
    jstr(tb, m->label);
    textbuf_printf(
        tb,
        ",\"rows\":%llu,\"unlabelled\":%llu,\"illicit\":%llu,\"inspected\":%llu,\"hits\":%llu,"
        "\"by_path\":{\"forced\":%llu,\"random\":%llu,\"risk\":%llu},"
        "\"by_lane\":{\"RED\":%llu,\"ORANGE\":%llu,\"YELLOW\":%llu,\"BLUE\":%llu},"
        "\"capacity\":{\"deferred\":%llu,\"overflow\":%llu},",
        (unsigned long long)m->rows, (unsigned long long)m->unlabelled, (unsigned long long)m->illicit,
        (unsigned long long)m->inspected, (unsigned long long)m->hits, (unsigned long long)m->forced,
        (unsigned long long)m->random, (unsigned long long)m->risk, (unsigned long long)m->lanes[4],
        (unsigned long long)m->lanes[3], (unsigned long long)m->lanes[2], (unsigned long long)m->lanes[1],
        (unsigned long long)m->deferred, (unsigned long long)m->overflow);
    jci(tb, "true_rate", m->true_rate);
    textbuf_puts(tb, ",");
    jci(tb, "ht_rate", m->ht_rate);
    textbuf_printf(tb, ",\"zero_p_rows\":%llu,", (unsigned long long)m->zero_p_rows);
    jci(tb, "inspect_rate", m->inspect_rate);
    textbuf_puts(tb, ",");
    jci(tb, "precision", m->precision);
    textbuf_puts(tb, ",");
    jci(tb, "recall", m->recall);
    jkey(tb, "revenue_total", m->revenue_total);
    jkey(tb, "revenue_caught", m->revenue_caught);
    jkey(tb, "revenue_share", m->revenue_share);
    textbuf_printf(tb, ",\"random_stream\":{\"inspected\":%llu,\"hits\":%llu,",
                   (unsigned long long)m->random_stream, (unsigned long long)m->random_stream_hits);
    jci(tb, "precision", m->random_precision);
    textbuf_puts(tb, "}");
    jkey(tb, "lift_random", m->lift_random);
    jkey(tb, "lift_rate", m->lift_rate);
    textbuf_puts(tb, ",\"ratio_tier\":");
    if (m->ratio_tier >= 0)
        jstr(tb, crest_policy_tier_name(r->policy, (size_t)m->ratio_tier));
    else
        textbuf_puts(tb, "null");
    textbuf_puts(tb, ",");
    jci(tb, "ratio", m->ratio);
    textbuf_puts(tb, ",\"ratio_target_applies_to\":\"gross\",");
    jci(tb, "ratio_net", m->ratio_net);
    textbuf_printf(tb, ",\"aeo_missed_illicit\":%llu,\"ranking\":[",
                   (unsigned long long)m->aeo_missed_illicit);
    for (int a = 0; a < CREST_REPLAY_N_AT; a++) {
        textbuf_printf(tb, "%s{\"n_pct\":%u,\"k\":%llu", a ? "," : "", crest_replay_at_pct[a],
                       (unsigned long long)m->at_k[a]);
        jkey(tb, "precision", m->at_precision[a]);
        jkey(tb, "recall", m->at_recall[a]);
        jkey(tb, "revenue", m->at_revenue[a]);
        textbuf_puts(tb, "}");
    }
    textbuf_puts(tb, "],\"tiers\":[");
    for (size_t t = 0; t < m->n_tiers; t++) {
        const crest_replay_tier_metrics *tm = &m->tiers[t];
        textbuf_puts(tb, t ? ",{\"tier\":" : "{\"tier\":");
        jstr(tb, crest_policy_tier_name(r->policy, t));
        textbuf_printf(tb,
                       ",\"rows\":%llu,\"inspected\":%llu,\"forced\":%llu,\"random\":%llu,\"risk\":%llu,"
                       "\"by_lane\":{\"RED\":%llu,\"ORANGE\":%llu,\"YELLOW\":%llu,\"BLUE\":%llu},"
                       "\"illicit\":%llu,\"hits\":%llu,\"missed_illicit\":%llu,\"deferred\":%llu,"
                       "\"overflow\":%llu",
                       (unsigned long long)tm->rows, (unsigned long long)tm->inspected,
                       (unsigned long long)tm->forced, (unsigned long long)tm->random,
                       (unsigned long long)tm->risk, (unsigned long long)tm->lanes[4],
                       (unsigned long long)tm->lanes[3], (unsigned long long)tm->lanes[2],
                       (unsigned long long)tm->lanes[1], (unsigned long long)tm->illicit,
                       (unsigned long long)tm->hits, (unsigned long long)tm->missed_illicit,
                       (unsigned long long)tm->deferred, (unsigned long long)tm->overflow);
        jkey(tb, "revenue_caught", tm->revenue_caught);
        textbuf_puts(tb, ",");
        jci(tb, "rate", tm->rate);
        jkey(tb, "target", tm->target);
        textbuf_printf(tb, ",\"floor\":%s,", tm->floor ? "true" : "false");
        jci(tb, "ratio", tm->ratio);
        jkey(tb, "ratio_target", tm->ratio_target);
        textbuf_printf(tb, ",\"forced_credit_insensitive\":%llu,",
                       (unsigned long long)tm->forced_insensitive);
        jci(tb, "ratio_net", tm->ratio_net);
        textbuf_puts(tb, "}");
    }
    textbuf_puts(tb, "]}");
}

char *crest_replay_json(const crest_replay_set *set)
{
    textbuf tb;
    textbuf_init(&tb);
    textbuf_puts(&tb, "{\"format\":\"crest-replay 1\",\"input\":");
    jstr(&tb, set->input_name ? set->input_name : "");
    textbuf_printf(&tb, ",\"partial\":%s,\"period\":", set->partial ? "true" : "false");
    jstr(&tb, set->n ? crest_replay_period_name(set->reps[0]->opt.period) : "none");
    textbuf_puts(&tb, ",\"policies\":[");
    for (size_t i = 0; i < set->n; i++) {
        const crest_replay *r = set->reps[i];
        textbuf_puts(&tb, i ? ",\n{\"name\":" : "\n{\"name\":");
        jstr(&tb, set->names[i]);
        textbuf_puts(&tb, ",\"policy\":");
        jstr(&tb, crest_policy_name(r->policy));
        textbuf_puts(&tb, ",\"policy_hash\":");
        jstr(&tb, crest_policy_hash_hex(r->policy));
        textbuf_puts(&tb, ",\"label\":");
        jstr(&tb, r->opt.label);
        textbuf_puts(&tb, ",\"total\":");
        json_metrics(&tb, r, &r->total);
        textbuf_puts(&tb, ",\"periods\":[");
        for (size_t p = 0; p < r->n_periods; p++) {
            textbuf_puts(&tb, p ? ",\n" : "\n");
            json_metrics(&tb, r, &r->periods[p]);
        }
        textbuf_puts(&tb, "]");
        if (r->workload) {
            textbuf_puts(&tb, ",\n\"workload\":");
            textbuf_puts(&tb, r->workload);
        }
        textbuf_puts(&tb, "}");
    }
    textbuf_puts(&tb, "]}\n");
    return textbuf_take(&tb);
}
