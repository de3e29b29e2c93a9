/*
 * crest_engine.h — the decision engine: declarations CSV in, one decision
 * per declaration out (or one rejection with its reason), and the counts a
 * summary is built from.
 *
 * For each declaration: resolve the effective credit tier (registry as of the
 * declaration date, else the feed's tier column, else the policy default;
 * the worst tier among the parties applies) -> selection probability p from
 * the tier's target rate and the row's risk weight -> a uniform draw u that
 * depends only on (policy seed, decl_id) -> INSPECT iff u < p -> lane and
 * facilitation flags. Decisions do not depend on input order or chunking.
 *
 * Input is pushed in chunks of any size; output goes to caller sinks. The
 * engine never prints; malformed rows become rejection records, not errors.
 */
#ifndef CREST_ENGINE_H
#define CREST_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_base.h"
#include "crest/crest_policy.h"
#include "crest/crest_registry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum crest_format { CREST_FORMAT_CSV = 0, CREST_FORMAT_JSONL } crest_format;

/* Why a row was rejected. X(ENUM_SUFFIX, "CODE", "explanation") */
#define CREST_REJECT_LIST(X)                                                                                 \
    X(CSV_QUOTE, "CSV_QUOTE",                                                                                \
      "malformed quoting: a quote inside an unquoted field or text after a closing quote")                   \
    X(CSV_UNTERMINATED, "CSV_UNTERMINATED", "the input ends inside a quoted field")                          \
    X(RECORD_TOO_LONG, "RECORD_TOO_LONG", "the record is longer than max_record_bytes")                      \
    X(FIELD_TOO_LONG, "FIELD_TOO_LONG", "a field is longer than max_field_bytes")                            \
    X(COLUMN_COUNT, "COLUMN_COUNT", "the record has a different number of fields than the header")           \
    X(INVALID_UTF8, "INVALID_UTF8", "the record is not valid UTF-8")                                         \
    X(MISSING_ID, "MISSING_ID", "decl_id is empty")                                                          \
    X(BAD_DATE, "BAD_DATE", "decl_date is missing or not a valid date, and the registry needs it")           \
    X(INVALID_ID, "INVALID_ID", "decl_id has surrounding white space or invisible or control characters")    \
    X(REPEATED_HEADER, "REPEATED_HEADER", "the record repeats the header (files concatenated)")              \
    X(DUPLICATE_ID, "DUPLICATE_ID",                                                                          \
      "decl_id was already decided in this run ([input] duplicate_ids = reject)")                            \
    X(REGEX_LIMIT, "REGEX_LIMIT",                                                                            \
      "a criterion's regex hit its PCRE2 match or depth limit ([rules] on_limit = reject)")                  \
    X(UNKNOWN_TIER, "UNKNOWN_TIER",                                                                          \
      "the credit tier is not a tier or alias of the policy ([input] unknown_tier = reject)")

typedef enum crest_reject_reason {
#define CREST_REJECT_ENUM(name, code, msg) CREST_REJECT_##name,
    CREST_REJECT_LIST(CREST_REJECT_ENUM)
#undef CREST_REJECT_ENUM
        CREST_REJECT_COUNT
} crest_reject_reason;

/* Stable code of a reject reason ("COLUMN_COUNT"); NULL when out of range. */
CREST_API const char *crest_reject_code(crest_reject_reason reason);

/* How one declaration was decided (the inputs of the draw, for tools). */
typedef struct crest_decision {
    size_t tier;            /* effective tier index */
    double score;           /* risk score; NaN without a risk layer */
    double p;               /* probability of the draw, after control */
    double p_random;        /* its random part: rate · random_share */
    double p_risk_unit;     /* its risk part per unit of scale: rate · (1 − random_share) · w(score) */
    double multiplier;      /* adaptive control multiplier applied to the risk part (1 when frozen) */
    double p_forced;        /* probability that criteria force a lane (1 when max hits is exceeded) */
    double u;               /* the keyed uniform */
    int inspect;            /* the decision (before any capacity deferral) */
    int lane;               /* lane rank: 0 GREEN, 1 BLUE, 2 YELLOW, 3 ORANGE, 4 RED (before capacity) */
    int forced;             /* a criterion forced a lane, or max hits was exceeded */
    int forced_insensitive; /* a credit-insensitive criterion (credit_sensitive = no) forced a lane */
    double prob;            /* risk_prob: the model's calibrated probability; NaN without a calibration */
} crest_decision;

/*
 * Hooks for tools that need the parsed declarations rather than decisions
 * (`crest fit`, `crest calibrate`). header_hook sees the input header once;
 * decl_hook sees every declaration that passed validation with its decision.
 * Return 0 to go on, non-zero to stop (the engine then reports
 * CREST_ERR_INTERRUPTED). All views are borrowed for the duration of the call.
 */
typedef int (*crest_header_hook)(void *ctx, const crest_str *header, size_t n_cols);
typedef int (*crest_decl_hook)(void *ctx, const crest_decl *decl, const crest_decision *decision,
                               unsigned long line);

/*
 * Recording hook: like decl_hook, but it may run on any deciding thread and
 * at the same time as itself (it must only read ctx), so the engine can keep
 * deciding blocks of the input in parallel. It writes what it keeps of the
 * declaration (bytes of the caller's own format) to `out`; those bytes reach
 * the run's output sink in input order, from the feeding thread (possibly
 * cut anywhere between two sink calls). Return 0 to go on, non-zero to stop
 * (CREST_ERR_INTERRUPTED; with parallel blocks it shows as CREST_ERR_NOMEM,
 * the only way a hook that writes to memory fails).
 */
typedef int (*crest_decl_record_hook)(void *ctx, const crest_decl *decl, const crest_decision *decision,
                                      unsigned long line, crest_sink out);

/*
 * Recording hook of records of one size (crest_run_options.decl_record_size):
 * as crest_decl_record_hook, but it fills the record in place at `out` (room
 * for exactly that many bytes, any alignment), where the engine would have
 * copied it from: no sink call, no copy.
 */
typedef int (*crest_decl_record_fixed_hook)(void *ctx, const crest_decl *decl, const crest_decision *decision,
                                            void *out);

/* What the capacity cap ([capacity] red_per_office_day) did to one decision. */
typedef enum crest_capacity_outcome {
    CREST_CAPACITY_KEPT = 0,     /* unchanged */
    CREST_CAPACITY_DEFERRED = 1, /* a RED selection deferred to BLUE (reason CAPACITY) */
    CREST_CAPACITY_OVERFLOW = 2  /* a RED selection over the cap that could not be deferred (OVERFLOW) */
} crest_capacity_outcome;

/*
 * Capacity hook: with a capacity cap, decisions wait until their day ends;
 * then this is called once per decision of the day, in input order, with its
 * 0-based ordinal among the run's decisions (the order in which decl_hook saw
 * them) and its final outcome. Return 0 to go on, non-zero to stop.
 */
typedef int (*crest_capacity_hook)(void *ctx, uint64_t ordinal, crest_capacity_outcome outcome);

typedef struct crest_run_options {
    crest_sink output; /* decisions; required unless decide == 0 */
    int decide;        /* 1 (default): write decisions; 0: only call the hooks and count */
    crest_header_hook header_hook;
    crest_decl_hook decl_hook;
    crest_capacity_hook capacity_hook; /* needs decide == 1 (the cap works on the rendered day) */
    void *hook_ctx;
    crest_sink rejects;         /* rejection records as CSV; write == NULL to only count them */
    crest_format format;        /* of the decisions */
    const char *input_name;     /* for messages, e.g. a path or "<stdin>" */
    int passthrough_override;   /* -1: policy's [output] passthrough; else a crest_passthrough */
    int formula_guard_override; /* -1: policy's [output] formula_guard; 0 off; 1 on */
    size_t output_buffer_bytes; /* 0: 64 KiB */
    /*
     * 0 or 1: all in the caller's thread. 2 to 8: when nothing depends on the
     * order of the rows (frozen control, no capacity cap, no duplicate check,
     * no windows, no hooks), that many threads read and decide blocks of the
     * input in parallel while the caller's thread cuts the input into blocks
     * and writes the results in order (sinks are called from the caller's
     * thread); otherwise the caller's thread parses and a second thread
     * decides and writes in order (sinks and hooks are called from it). The
     * output is byte-identical either way.
     */
    unsigned threads;
    /* Flags (crest_workload.h): CREST_WINDOWS_CONTROL (1) collects control-window
     * counts (crest_engine_windows), CREST_WINDOWS_WORKLOAD (2) the counts per
     * office, day and tier (crest_engine_workload). They need the rows in
     * order, so two threads then parse | decide instead of deciding in
     * parallel. Control-window counts are always kept with threads < 2. */
    int windows;
    /* Threads >= 2 with order-free policies: the size of the blocks read in
     * parallel; 0 means the default (128 KiB). Tests use small blocks. */
    size_t block_bytes;
    /* [capacity] runs hold a day's decisions until the day ends: this many
     * bytes of them in memory, the rest in a temporary file (in $TMPDIR, else
     * /tmp; unlinked at once). 0 means the default, 16 MiB. Decisions are the
     * same whatever the budget; only memory and disk use differ. */
    size_t capacity_memory_bytes;
    /*
     * Live capacity (crest serve): with [capacity] red_per_office_day set and
     * this callback given, the engine holds no day. Each RED selection calls
     * it with the declaration's office (may be empty) and day (days since
     * 1970-01-01, CREST_DATE_NONE without a date): return 1 when it fits under
     * the cap (and was counted), 0 when the cap is reached — the selection is
     * then deferred to BLUE (decision DEFER, reason CAPACITY) when it may be, else stays RED
     * flagged OVERFLOW — or -1 when the count failed (fatal CREST_ERR_IO).
     * First come, first served, where `crest run` defers the lowest-risk
     * selections of a day; called from the deciding thread.
     */
    int (*capacity_take)(void *ctx, crest_str office, int32_t day);
    void *capacity_ctx;
    /*
     * A score computed elsewhere (a model trained in another tool) instead of
     * the policy's [model]: the header name (or canonical field) of a column
     * holding a probability in [0, 1] for each row. The policy's criteria, [risk]
     * weighting, tiers, scales and draw apply to it as to the model's score; a
     * row whose value is empty, not a number or outside [0, 1] gets no model term.
     * NULL (the default): the policy's model. Copied at creation.
     */
    const char *score_column;
    /* 1: a reason_text column after reasons (JSON: a string) with the reasons in
     * words, "; " between them: a hit criterion's code and its rationale
     * ("Q_ANIMAL: live animals need a quarantine check"), other codes with
     * their detail as in reasons (forced draws, the model's words). 0 (default): none. */
    int reason_text;
    /* With decide = 0: called for every decided declaration (crest_decl_record_hook)
     * and its bytes written to output, which is then required; the rows are
     * still decided in parallel blocks when threads >= 2 and nothing else
     * depends on their order. NULL (the default): none. */
    crest_decl_record_hook decl_record;
    /* The same for records of decl_record_size bytes each (1 to 256), filled
     * in place (crest_decl_record_fixed_hook); at most one of the two. */
    crest_decl_record_fixed_hook decl_record_fixed;
    size_t decl_record_size;
} crest_run_options;

/* Options with defaults: CSV, policy passthrough, no rejects sink. */
CREST_API crest_run_options crest_run_options_default(void);

/* Per-tier counts. */
typedef struct crest_tier_counts {
    uint64_t rows;
    uint64_t inspected;
    double expected;             /* expected inspections: sum of 1 − (1 − p_forced)(1 − p) */
    uint64_t unknown;            /* rows placed here because the tier was unknown or missing */
    uint64_t from_registry;      /* rows whose tier came from the registry */
    uint64_t from_feed;          /* ... from the feed's tier column */
    uint64_t moved_by_party;     /* rows here because another party's (a broker's) lower registry tier
                                    applies instead of the enterprise's own ([registry] parties) */
    uint64_t forced;             /* inspected because a criterion forced a lane or max hits was exceeded */
    uint64_t forced_insensitive; /* ... of them, forced by a credit-insensitive criterion (net ratio) */
    double forced_expected;      /* sum of p_forced: inspections the criteria force whatever the draw */
    double random_expected;      /* sum of the random part p_random */
    uint64_t deferred;           /* physical inspections deferred to BLUE by the capacity cap */
    uint64_t overflow;           /* inspections over the cap that could not be deferred (forced or floor) */
} crest_tier_counts;

/* A kept example of a rejected row, for messages. */
typedef struct crest_reject_sample {
    unsigned long line;
    crest_reject_reason reason;
    char detail[160];
} crest_reject_sample;

#define CREST_REJECT_SAMPLES 5

/* A tier value the policy does not know, as found in the feed, and how often. */
typedef struct crest_unknown_tier {
    char value[48]; /* the first 47 bytes */
    uint64_t count;
} crest_unknown_tier;

#define CREST_UNKNOWN_TIERS 16

/* A floor tier's counts in one calendar month, for the summary's check that
 * the floor holds in every month. */
typedef struct crest_floor_month {
    uint32_t tier;
    int32_t month; /* year · 12 + (month − 1) of the declarations' decl_date */
    uint64_t rows;
    uint64_t inspected;
} crest_floor_month;

#define CREST_FLOOR_MONTHS 60

typedef struct crest_run_stats {
    uint64_t rows_in; /* records after the header: decisions + rejects */
    uint64_t decisions;
    uint64_t rejects;
    uint64_t rejects_by_reason[CREST_REJECT_COUNT];
    crest_reject_sample samples[CREST_REJECT_SAMPLES];
    size_t n_samples;
    size_t n_tiers;
    crest_tier_counts tiers[CREST_MAX_TIERS];
    uint64_t inspected;
    uint64_t priority;
    uint64_t guarantee_exempt;
    uint64_t mra_recognised;
    uint64_t lanes[5]; /* decisions per lane: GREEN, BLUE, YELLOW, ORANGE, RED */
    /* Selections, each the number of rows whose reasons carry the code, so that
     * the summary and a count of the reasons agree (a row may carry several). */
    uint64_t selected_random;   /* RANDOM: the random part of the draw, outside floor tiers */
    uint64_t selected_risk;     /* RISK: the risk-weighted part of the draw */
    uint64_t selected_floor;    /* TIER_FLOOR: the draw in a floor tier (random or risk part) */
    uint64_t selected_forced;   /* a criterion forced a lane */
    uint64_t selected_max_hits; /* more criteria hit than max_hits */
    uint64_t regex_limit_hits;  /* regex evaluations stopped by a PCRE2 match/depth limit */
    uint64_t formulas_guarded;  /* pass-through cells prefixed with ' (spreadsheet safety) */
    uint64_t deferred;          /* capacity: RED selections deferred to BLUE (reason CAPACITY) */
    uint64_t overflow;          /* capacity: RED selections over the cap that may not be deferred */
    uint64_t bytes_in;
    uint64_t bytes_out;
    int header_seen;
    /* Tier values not known to the policy (nonempty feed labels), most seen
     * first in the summary; values beyond the first CREST_UNKNOWN_TIERS
     * distinct ones are counted in unknown_tier_other. */
    crest_unknown_tier unknown_tiers[CREST_UNKNOWN_TIERS];
    size_t n_unknown_tiers;
    uint64_t unknown_tier_other;
    /* Rows whose tier came from the registry, by [registry] parties index. */
    uint64_t registry_by_party[4];
    /* [fx]: decisions whose currency had no rate on their date (reason FX_MISSING;
     * their declared value is compared as missing, never raw). */
    uint64_t fx_missing;
    /* Floor tiers per calendar month (any order; the summary sorts them);
     * floor-tier rows without a date, or in months beyond the first
     * CREST_FLOOR_MONTHS (tier, month) pairs, are counted in floor_rows_unmonthed. */
    crest_floor_month floor_months[CREST_FLOOR_MONTHS];
    size_t n_floor_months;
    uint64_t floor_rows_unmonthed;
} crest_run_stats;

typedef struct crest_engine crest_engine;

/*
 * Create an engine for one input stream. registry may be NULL. The policy and
 * registry must outlive the engine. Returns CREST_OK, or a status with diag.
 */
CREST_API crest_status crest_engine_create(const crest_policy *policy, const crest_registry *registry,
                                           const crest_run_options *options, crest_engine **out,
                                           crest_diag *diag);

/*
 * Push input bytes. Returns CREST_OK, or a fatal status (diag from
 * crest_engine_diag): CREST_ERR_MISSING when the header lacks a required
 * column, CREST_ERR_IO when a sink failed, CREST_ERR_NOMEM. Rejected rows are
 * not errors. After a fatal status, further calls return it again.
 */
CREST_API crest_status crest_engine_feed(crest_engine *engine, const void *buf, size_t len);

/*
 * The same as crest_engine_feed, for bytes that stay valid and unchanged
 * until crest_engine_finish (or _finish_early) returns, such as a mapped
 * file fed in contiguous pieces: they are read in place, without a copy
 * (parallel blocks are views into them). Mixing it with the other ways of
 * feeding is allowed (bytes that cannot be read in place are copied).
 */
CREST_API crest_status crest_engine_feed_stable(crest_engine *engine, const void *buf, size_t len);
/*
 * The lowest address of the bytes given to crest_engine_feed_stable that the
 * engine still reads or will read, or NULL when it holds none (always NULL
 * after crest_engine_finish): the caller may release the bytes before it
 * (e.g. madvise(MADV_DONTNEED) on a mapped file, to keep the resident set
 * small) and free or unmap the buffer once it is NULL.
 */
CREST_API const void *crest_engine_stable_floor(const crest_engine *engine);

/*
 * Zero-copy input, the same as crest_engine_feed of the bytes: a buffer of
 * *cap bytes (at least 64 KiB) to read the next input into, then
 * crest_engine_commit with the n <= *cap bytes written. When blocks are read
 * in parallel the buffer is the next block itself, which saves a copy of the
 * input. NULL (and *cap 0) after a fatal status; commit then returns it.
 */
CREST_API void *crest_engine_input_buffer(crest_engine *engine, size_t *cap);
CREST_API crest_status crest_engine_commit(crest_engine *engine, size_t n);

/*
 * The input has gone quiet (a live feed between declarations): every record
 * whose line end (LF) has been fed is decided and its decision or rejection
 * handed to the sinks now, whatever the thread count, instead of when a
 * buffer or block fills. A record not yet ended stays pending. Capacity mode
 * ([capacity]) still holds a day's decisions until the day closes. Call it
 * from the feeding thread; the engine goes on taking input afterwards.
 * Returns CREST_OK or the fatal status, as crest_engine_feed.
 */
CREST_API crest_status crest_engine_flush(crest_engine *engine);

/*
 * Replace the policy (and registry, which must be given when the engine had
 * one, and only then) between two feeds, for a reload on a live feed: every
 * record whose line end has been fed is decided under the old policy and
 * handed to the sinks (crest_engine_flush); every later one under the new.
 * No record is decided with a mix, and each decision's policy_hash names the
 * policy that made it. The new policy must keep what the engine was built
 * around — the tiers (names, order, floor, floor_period), [columns], [registry]
 * parties and prefer, [input], [output], [lanes], [control], [capacity] — and
 * its risk layer must find its columns in the input's header; otherwise
 * nothing changes and CREST_ERR_INVALID (or CREST_ERR_MISSING) is returned
 * with diag saying what. The counts (crest_engine_stats) go on across the
 * change. policy and registry must outlive the engine; the old ones may be
 * freed once this returns CREST_OK. Call it from the feeding thread.
 */
CREST_API crest_status crest_engine_set_policy(crest_engine *engine, const crest_policy *policy,
                                               const crest_registry *registry, crest_diag *diag);

/* End of input: decides a last record without a line end, flushes the sinks. */
CREST_API crest_status crest_engine_finish(crest_engine *engine);
/*
 * End of an input cut short (the caller stopped reading, e.g. on SIGINT):
 * like crest_engine_finish, but a record the bytes fed so far end inside is
 * neither decided nor rejected — not all of its bytes were read, so deciding
 * it could use a cut value — and a note (crest_engine_notes) gives the line
 * it began on. Rows in = decisions + rejects still holds for the rows read.
 */
CREST_API crest_status crest_engine_finish_early(crest_engine *engine);

/* Records read so far; safe to call between feeds from the feeding thread
 * (for progress displays) whatever the thread count. */
CREST_API uint64_t crest_engine_rows_read(const crest_engine *engine);

/* Counts (valid until crest_engine_free; complete after crest_engine_finish). */
CREST_API const crest_run_stats *crest_engine_stats(const crest_engine *engine);

/* Counts per tier and control window (a day, or N declarations: [control] window). */
typedef struct crest_window_stats {
    int64_t key; /* the day (days since 1970-01-01) or the window number */
    size_t tier;
    uint64_t rows, inspected, forced, deferred;
    double expected;   /* sum of P(inspect) */
    double multiplier; /* adaptive control multiplier in force during the window */
} crest_window_stats;

/* The closed windows so far, in order; *n receives their count. */
CREST_API const crest_window_stats *crest_engine_windows(const crest_engine *engine, size_t *n);

/* The diagnostic of the last fatal status. */
CREST_API const crest_diag *crest_engine_diag(const crest_engine *engine);

/*
 * Notes worth telling the user, one per line (e.g. "no credit_tier column and
 * no registry: every declaration gets the default tier REGULAR"); "" if none.
 */
CREST_API const char *crest_engine_notes(const crest_engine *engine);

/* Free; NULL is a no-op. */
CREST_API void crest_engine_free(crest_engine *engine);

#ifdef __cplusplus
}
#endif
#endif
