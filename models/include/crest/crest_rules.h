/*
 * crest_rules.h — selection criteria: the risk unit's rules, kept as CSV, that
 * add weight to a declaration's risk or force it into a lane (in the spirit of
 * ASYCUDA's selectivity criteria).
 *
 * This module loads and checks criteria (PCRE2 regexes, numeric ranges, named
 * lists, unit-value bands), resolves the columns they name, and evaluates them
 * against one declaration. It is pure: it draws no random numbers and knows
 * nothing of tiers or rates. The engine decides what a hit means: it adds the
 * summed weight to its risk score, draws its own keyed uniform against each
 * forcing rule's probability, and applies the "maximum hits" selection.
 *
 * Criteria file (RFC 4180 CSV, UTF-8, optional BOM, CRLF or LF; header names
 * case-insensitive, in any order; unknown header columns are ignored; blank
 * rows and rows whose id starts with '#' are comments):
 *
 *   id, field, pattern, action, weight_or_lane     required columns
 *   probability, credit_sensitive, valid_from,      optional columns
 *   valid_to, office, direction, rationale
 *
 *  - id: non-empty and unique; the reason code the engine writes on a hit.
 *  - field: a canonical name (crest_base.h: hs_code, origin, goods_desc, ...),
 *    a derived numeric field (unit_value = declared_value / net_mass_kg), or
 *    any input header name (resolved by crest_rules_bind). Case-insensitive.
 *  - pattern, by prefix:
 *      re:REGEX        PCRE2 regex (UTF-8); a pattern with no known prefix is
 *                      a regex too. Unanchored: use ^ and $ to anchor.
 *      range:[A,B)     numeric interval (";" may replace ","); brackets give
 *                      inclusivity, an empty bound is open:
 *                      range:[0,0.5)  range:(1e6,]
 *      range:>X  >=X  <X  <=X  =X      one-sided comparisons
 *      list:NAME       field text (trimmed) equals an entry of list NAME
 *      prefix:NAME     field text starts with an entry of list NAME
 *      band:NAME       unit value outside the band of band table NAME for the
 *                      declaration's HS code (the rule's field) and origin
 *  - action: weight | lane | max_hits.
 *      weight: weight_or_lane is a finite number added to the raw weight.
 *      lane:   weight_or_lane is RED | YELLOW | ORANGE | BLUE (physical,
 *              documentary, scan, post-clearance audit); probability in [0,1]
 *              (empty = 1) is the chance the engine applies the forcing.
 *      max_hits: not a criterion. weight_or_lane is N: a declaration hitting
 *              more than N criteria is selected (ASYCUDA's "maximum hits with
 *              no selection"). At most one such row; field/pattern empty.
 *  - credit_sensitive: yes|no|y|n|true|false|1|0, empty = yes. "no" marks
 *    rules that select whatever the firm's credit (quarantine, safety, the
 *    commodity negative list); hits are reported apart so the engine can keep
 *    tier benefits from reducing them.
 *  - valid_from, valid_to: YYYY-MM-DD, inclusive, empty = open. A rule with
 *    any bound does not apply to a declaration without a valid date.
 *  - office: empty = all offices, else a ';'-separated list of office codes.
 *  - direction: I, E or empty (both). A rule with a direction does not apply
 *    to a declaration of unknown direction; likewise an office-scoped rule and
 *    a declaration without an office.
 *  A rule out of its window or scope does nothing: no hit, no count.
 *
 * Named tables (list:NAME, prefix:NAME, band:NAME) are CSV files found, in
 * order, in crest_rules_load_options.tables (name -> path) or as
 * DIR/NAME.csv where DIR is options.tables_dir, by default the directory
 * "lists" beside the criteria file. NAME is [A-Za-z0-9_.-]+.
 *  - list file columns: value (required), valid_from, valid_to (optional),
 *    any others ignored (e.g. note). Values are compared byte for byte after
 *    trimming spaces. An entry may appear several times with other windows.
 *  - band file columns: hs_prefix, origin, min_unit_value, max_unit_value
 *    (required; an empty bound is open), valid_from, valid_to (optional).
 *    origin '*' is a wildcard. Among the bands valid on the declaration's
 *    date, the longest HS prefix wins, and at equal prefix an exact origin
 *    beats '*'. A declaration with no band, or no unit value, does not hit.
 *
 * Matching: a field absent from the input never hits; a present but empty
 * field is the empty string for regexes (so ^$ finds blanks) and no number
 * for ranges. Numbers from text columns are parsed with strtod (C locale);
 * declared_value, net_mass_kg and quantity use the engine's parsed values.
 * Regexes are compiled with PCRE2_UTF | PCRE2_MATCH_INVALID_UTF (bad bytes
 * never match, never error) and JIT-compiled when the platform allows. A
 * match that reaches the match, depth, heap or JIT-stack limit counts as no
 * match and is counted in crest_rules_result.n_limit_hits.
 *
 * Threads: a loaded crest_rules is immutable and may be shared; each worker
 * evaluates with its own crest_rules_scratch, which carries the columns
 * resolved against its input's header (crest_rules_resolve_columns).
 * crest_rules_bind, which stores the columns in the rules, is for a single
 * user that owns them. Evaluation allocates nothing.
 */
#ifndef CREST_RULES_H
#define CREST_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crest/crest_base.h"
#include "crest/crest_file.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct crest_rules crest_rules;
typedef struct crest_rules_scratch crest_rules_scratch;

/* Lanes a rule can force, ordered by precedence: a larger value is stronger
 * (RED > ORANGE > YELLOW > BLUE). GREEN (release) is never forced by a rule. */
typedef enum crest_rules_lane {
    CREST_RULES_LANE_NONE = 0, /* (GREEN's rank: a criterion never forces release) */
    CREST_RULES_LANE_BLUE = CREST_LANE_BLUE,
    CREST_RULES_LANE_YELLOW = CREST_LANE_YELLOW,
    CREST_RULES_LANE_ORANGE = CREST_LANE_ORANGE,
    CREST_RULES_LANE_RED = CREST_LANE_RED
} crest_rules_lane;

typedef enum crest_rules_kind {
    CREST_RULES_KIND_REGEX = 0,
    CREST_RULES_KIND_RANGE,
    CREST_RULES_KIND_LIST,
    CREST_RULES_KIND_PREFIX,
    CREST_RULES_KIND_BAND
} crest_rules_kind;

typedef enum crest_rules_action { CREST_RULES_ACTION_WEIGHT = 0, CREST_RULES_ACTION_LANE } crest_rules_action;

/* Defaults used when the corresponding option is 0. */
#define CREST_RULES_DEFAULT_MATCH_LIMIT 100000u  /* pcre2_set_match_limit */
#define CREST_RULES_DEFAULT_DEPTH_LIMIT 10000u   /* pcre2_set_depth_limit */
#define CREST_RULES_DEFAULT_HEAP_KIB 8192u       /* pcre2_set_heap_limit, KiB */
#define CREST_RULES_JIT_STACK_MAX (512u * 1024u) /* bytes, per scratch */

/* A named table (list or band) given explicitly instead of by directory. */
typedef struct crest_rules_table_file {
    const char *name; /* as written after list:, prefix: or band: */
    const char *path;
} crest_rules_table_file;

/*
 * Load options; a zero-initialised struct (or NULL) gives the defaults.
 *  - tables/n_tables: explicit name -> path for named tables (searched first).
 *  - tables_dir: directory of NAME.csv tables; NULL = "<criteria dir>/lists".
 *  - match_limit, depth_limit: PCRE2 limits per match; 0 = the defaults above.
 *  - max_hits: when > 0, overrides the criteria file's max_hits row.
 *  - header/n_header: when given, the rules are bound to this input header
 *    during load (as crest_rules_bind), so an unknown field fails the load.
 *  - no_jit: true to use the PCRE2 interpreter only (for tests, debugging).
 *  - read/read_ctx: where the bytes of the criteria file and of each table
 *    come from (crest_file.h); NULL reads each as a bounded regular file
 *    (crest_file_read with the kind's default cap).
 */
typedef struct crest_rules_load_options {
    const crest_rules_table_file *tables;
    size_t n_tables;
    const char *tables_dir;
    uint32_t match_limit;
    uint32_t depth_limit;
    unsigned max_hits;
    const crest_str *header;
    size_t n_header;
    bool no_jit;
    crest_file_reader read;
    void *read_ctx;
} crest_rules_load_options;

/* Capacity of the hit list in a result; n_hits may exceed it. */
#define CREST_RULES_HITS_CAP 256

/*
 * What one evaluation found. Caller-owned, fixed size; every field is
 * written by crest_rules_eval (only hits[0 .. min(n_hits, cap)) is defined).
 * Aggregates cover all hits, also those beyond the list's capacity.
 */
typedef struct crest_rules_result {
    size_t n_hits;                       /* criteria that hit */
    uint32_t hits[CREST_RULES_HITS_CAP]; /* rule indices, ascending */
    double weight;                       /* sum over hit weight rules */
    double weight_credit_insensitive;    /* the part from credit_sensitive=no */
    crest_rules_lane lane;               /* strongest forced lane, NONE if none */
    double lane_probability;             /* that rule's probability (0 if none) */
    int32_t lane_rule;                   /* that rule's index, -1 if none */
    crest_rules_lane ci_lane;            /* same, among credit_sensitive=no rules */
    double ci_lane_probability;
    int32_t ci_lane_rule;
    bool credit_insensitive_hit; /* any credit_sensitive=no rule hit */
    bool max_hits_exceeded;      /* max_hits > 0 && n_hits > max_hits */
    unsigned n_limit_hits;       /* regexes stopped by a PCRE2 limit */
} crest_rules_result;

/* Everything about one rule, for reports and explanations. Strings are owned
 * by the rules object and live until crest_rules_free. */
typedef struct crest_rules_info {
    const char *id;
    const char *field;     /* as written (trimmed) */
    const char *pattern;   /* as written */
    const char *rationale; /* "" when none */
    crest_rules_kind kind;
    crest_rules_action action;
    double weight;         /* weight rules; 0 for lane rules */
    crest_rules_lane lane; /* lane rules; NONE for weight rules */
    double probability;    /* lane rules; 1 for weight rules */
    bool credit_sensitive;
    int32_t valid_from; /* days since 1970-01-01, CREST_DATE_NONE = open */
    int32_t valid_to;
    char direction;     /* 'I', 'E' or 0 */
    unsigned long line; /* line of the rule in the criteria file */
    bool regex_literal; /* regex rules: anchored literal alternatives (^(?:93|36)),
                           matched by byte comparison without PCRE2, same results */
    bool regex_words;   /* regex rules: unanchored literal alternatives ((?i)(?:lithium|锂)),
                           matched on all-ASCII subjects without PCRE2, same results */
} crest_rules_info;

/*
 * Load and check a criteria file and the named tables it uses; compile and
 * JIT-compile its regexes.
 *  criteria_path: the CSV file. opts: NULL for defaults. out: receives the
 *  new object (NULL on failure); free with crest_rules_free.
 *  diag: filled on failure with file, 1-based line and column (UTF-8
 *  characters) and a sentence; for a regex, the column points at the
 *  character PCRE2 rejected and the message gives its byte offset.
 * Returns CREST_OK, CREST_ERR_IO (cannot read), CREST_ERR_SYNTAX (CSV
 * quoting), CREST_ERR_MISSING (required column or table), CREST_ERR_INVALID
 * (bad value, unknown field, duplicate id), CREST_ERR_RANGE (probability out
 * of [0,1], window ends before it starts), CREST_ERR_REGEX, CREST_ERR_MISMATCH
 * (field not in opts->header), CREST_ERR_NOMEM.
 */
CREST_API crest_status crest_rules_load(const char *criteria_path, const crest_rules_load_options *opts,
                                        crest_rules **out, crest_diag *diag);

/*
 * Resolve the fields that are not canonical against the input's header
 * (case-insensitive, spaces trimmed). Call once, before sharing the rules
 * between threads; calling again rebinds. Rules whose field is canonical or
 * derived need no binding; an unbound non-canonical field never hits.
 * Returns CREST_OK or CREST_ERR_MISMATCH with diag naming the criteria file,
 * the rule's line and the field's column.
 */
CREST_API crest_status crest_rules_bind(crest_rules *rules, const crest_str *header, size_t n_cols,
                                        crest_diag *diag);

/*
 * The same resolution without changing the rules: the column of each rule
 * into cols (crest_rules_count entries; SIZE_MAX for rules that need none),
 * for crest_rules_scratch_set_columns. Rules stay immutable and shareable
 * between inputs with different headers; each input keeps its own columns.
 * Returns as crest_rules_bind.
 */
CREST_API crest_status crest_rules_resolve_columns(const crest_rules *rules, const crest_str *header,
                                                   size_t n_cols, size_t *cols, crest_diag *diag);

/* Every input column the criteria read (see crest_column_fn): the rule's
 * field, declared_value and net_mass_kg for unit_value, origin for bands. */
CREST_API void crest_rules_columns(const crest_rules *rules, crest_column_fn fn, void *ctx);

/* Free a rules object. NULL is a no-op. */
CREST_API void crest_rules_free(crest_rules *rules);

/* Number of criteria (max_hits rows excluded); rule indices are 0..count-1
 * in file order. */
CREST_API size_t crest_rules_count(const crest_rules *rules);
/* The "maximum hits with no selection" N, 0 when not set. */
CREST_API unsigned crest_rules_max_hits(const crest_rules *rules);
/* Id of the max_hits row ("MAX_HITS" when set by option or absent), for a
 * reason code. Never NULL. */
CREST_API const char *crest_rules_max_hits_id(const crest_rules *rules);
/* Id of rule i, NULL when out of range. */
CREST_API const char *crest_rules_id(const crest_rules *rules, size_t i);
/* Rationale of rule i ("" when none), NULL when out of range. */
CREST_API const char *crest_rules_rationale(const crest_rules *rules, size_t i);
/* Fill *info for rule i. CREST_ERR_RANGE when i >= count. */
CREST_API crest_status crest_rules_describe(const crest_rules *rules, size_t i, crest_rules_info *info);
/* "RED", "YELLOW", "ORANGE", "BLUE", or "" for NONE / out of range. */
CREST_API const char *crest_rules_lane_name(crest_rules_lane lane);

/*
 * Per-worker state: PCRE2 match data, match context with the limits and a
 * JIT stack. Create one per thread after load; it stays valid for these
 * rules until freed. Returns CREST_OK or CREST_ERR_NOMEM.
 */
CREST_API crest_status crest_rules_scratch_create(const crest_rules *rules, crest_rules_scratch **out);
/*
 * The caller promises that every field it will evaluate with this scratch is
 * valid UTF-8 (the engine rejects other rows first). Regexes then run a JIT
 * variant without PCRE2_MATCH_INVALID_UTF's checks: the same matches, faster.
 * Without the promise, invalid UTF-8 is matched around (MATCH_INVALID_UTF).
 */
CREST_API void crest_rules_scratch_promise_valid_utf8(crest_rules_scratch *scratch);
/* Evaluate with this scratch using cols (crest_rules_resolve_columns; owned
 * by the caller, alive while the scratch is used) instead of the columns
 * bound into the rules; NULL goes back to those. */
CREST_API void crest_rules_scratch_set_columns(crest_rules_scratch *scratch, const size_t *cols);
/* Free a scratch. NULL is a no-op. */
CREST_API void crest_rules_scratch_free(crest_rules_scratch *scratch);

/*
 * Hot path. Evaluate every criterion against one declaration and fill *out.
 * rules: loaded (and bound if needed); scratch: this worker's; decl: borrowed
 * for the call. Allocates nothing, draws nothing, cannot fail on input: a
 * malformed field simply does not match.
 */
CREST_API void crest_rules_eval(const crest_rules *rules, crest_rules_scratch *scratch,
                                const crest_decl *decl, crest_rules_result *out);

/* A uniform in [0,1) keyed by the engine on (its seed, the declaration, the
 * rule index), so that decisions stay reproducible. */
typedef double (*crest_rules_uniform_fn)(void *ctx, size_t rule_index);

/*
 * Convenience for the engine: apply the probabilities of the hit lane rules.
 * Lanes are tried strongest first; within a lane, rules in file order; the
 * first rule whose draw u = uniform(ctx, rule) satisfies u < probability
 * forces its lane. With credit_insensitive_only, only credit_sensitive=no
 * rules are considered. Returns the forced lane (NONE if no draw succeeded)
 * and its rule index in *rule_out (-1 if none; rule_out may be NULL). Only
 * the listed hits are seen (see CREST_RULES_HITS_CAP).
 */
CREST_API crest_rules_lane crest_rules_decide_lane(const crest_rules *rules, const crest_rules_result *res,
                                                   bool credit_insensitive_only,
                                                   crest_rules_uniform_fn uniform, void *ctx,
                                                   int32_t *rule_out);

#ifdef __cplusplus
}
#endif
#endif /* CREST_RULES_H */
