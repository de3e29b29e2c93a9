/*
 * policy_internal.h — the policy's layout, shared by the engine's modules.
 * Public users go through crest_policy.h accessors.
 */
#ifndef CREST_POLICY_INTERNAL_H
#define CREST_POLICY_INTERNAL_H

#include "crest/crest_digest.h"
#include "crest/crest_file.h"
#include "crest/crest_fx.h"
#include "crest/crest_policy.h"
#include "textbuf.h"
#include "crest/crest_risk.h"

#define CREST_MAX_ALIASES 16
#define CREST_MAX_COLUMN_NAMES 8
#define CREST_MAX_PARTIES 4
#define CREST_MAX_MRA 96

typedef struct policy_tier {
    char *name;
    char *label;
    char *aliases[CREST_MAX_ALIASES];
    size_t n_aliases;
    double rate;  /* absolute rate, or NaN for a ratio tier */
    double ratio; /* ratio to base, or NaN for an absolute tier */
    double effective_rate;
    int floor;
    int floor_period; /* FLOOR_PERIOD_*: the floor holds in every such period of the input */
    /* floor_confidence and floor_month_rows: every row of the floor tier is
     * drawn at p >= draw_rate, the rate at which a calendar month of
     * floor_month_rows rows realises under the floor with probability at most
     * 1 − floor_confidence (crest_stats_floor_rate). Order-independent. */
    double floor_confidence;        /* 0: not set */
    unsigned long floor_month_rows; /* 0: not set */
    double draw_rate;               /* the rate the draw uses: effective_rate, or the floor's margin rate */
    int priority;
    int guarantee_exempt;
    double random_share; /* NaN: the [risk] random_share */
    double scale;        /* calibrated scale of the risk part (1 until calibrated) */
} policy_tier;

/* One file the policy names, read once at load; its SHA-256 enters the hash. */
typedef struct policy_file {
    crest_file_kind kind;
    char *name; /* as the policy or the criteria name it: the path as written, a table's name */
    char *path; /* as opened */
    char *data; /* the bytes, kept while an engine may still parse them (NULL once not needed) */
    size_t len;
    char sha256[CREST_SHA256_HEX];
} policy_file;

enum { FLOOR_PERIOD_NONE = 0, FLOOR_PERIOD_DAY, FLOOR_PERIOD_MONTH };
enum { UNKNOWN_TIER_DEFAULT = 0, UNKNOWN_TIER_REJECT, UNKNOWN_TIER_ERROR };
#define CREST_MAX_OPTIONAL 32

enum { CONTROL_FROZEN = 0, CONTROL_ADAPTIVE, CONTROL_SYSTEMATIC };
enum { LIMIT_NO_MATCH = 0, LIMIT_INSPECT, LIMIT_REJECT };

typedef enum risk_weighting {
    WEIGHTING_LINEAR = 0, /* w = 1 + gain · score */
    WEIGHTING_EXP,        /* w = exp(gain · score) */
    WEIGHTING_ODDS        /* w = exp(gain · z) = odds(score)^gain: proportional to risk */
} risk_weighting;

struct crest_policy {
    char *name;
    char *description;
    uint64_t seed;
    policy_tier tiers[CREST_MAX_TIERS];
    size_t n_tiers;
    size_t base_tier;
    size_t default_tier;

    /* Extra header names per canonical field, tried before the built-in aliases. */
    char *columns[CREST_FIELD_COUNT][CREST_MAX_COLUMN_NAMES];
    size_t n_columns[CREST_FIELD_COUNT];

    crest_field parties[CREST_MAX_PARTIES];
    size_t n_parties;
    crest_tier_pref tier_pref;

    char mra_partners[CREST_MAX_MRA][3];
    size_t n_mra;

    char lane_inspect[16];
    char lane_release[16];

    size_t max_field_bytes;
    size_t max_record_bytes;
    char delimiter;
    int reject_duplicate_ids;           /* [input] duplicate_ids = reject */
    int unknown_tier;                   /* [input] unknown_tier: UNKNOWN_TIER_DEFAULT, _REJECT or _ERROR */
    double max_reject_rate;             /* [input] max_reject_rate: above it a run ends with an input error */
    char *optional[CREST_MAX_OPTIONAL]; /* [input] optional: columns whose users may be switched off */
    size_t n_optional;
    int formula_guard; /* [output] formula_guard: neutralise =, +, -, @ cells of pass-through text */
    crest_passthrough passthrough;

    /* [rules], [model], [risk]: the risk layer (models/). Paths are resolved
     * against the policy file's directory; file hashes enter the policy hash. */
    char *dir;
    char *criteria_path; /* as written in the policy (canonical form, hash) */
    char *criteria_file; /* resolved for opening */
    char *tables_dir;
    char *tables_file;
    unsigned match_limit, depth_limit, max_hits;
    int on_limit; /* a regex stopped by a PCRE2 limit: LIMIT_NO_MATCH, LIMIT_INSPECT, LIMIT_REJECT */
    crest_risk_model_kind model_kind;
    char *model_path;
    char *model_file;
    char *model_features;
    char *model_params;           /* [model] params: tree-model fit parameters */
    double fit_l2, fit_smoothing; /* training settings for `crest fit` */
    unsigned fit_folds;
    int for_fit; /* loaded by `crest fit`: the model file is the output, not read */
    double bias;
    double model_weight;
    risk_weighting weighting;
    double gain;
    double random_share; /* share of each tier's target drawn uniformly at random */
    int random_share_set;

    /* [control]: how rates are held on target. */
    int control_mode;          /* CONTROL_FROZEN, CONTROL_ADAPTIVE, CONTROL_SYSTEMATIC */
    unsigned long window_rows; /* 0: windows are days */
    double max_step;           /* adaptive: per-window multiplier change within [1/(1+s), 1+s] */
    /* [capacity] */
    unsigned long red_per_office_day;      /* 0: no cap */
    char *offices_path;                    /* [capacity] offices, as written */
    char *offices_file;                    /* ... resolved for opening */
    struct policy_office_cap *office_caps; /* its rows, by office then valid_from (offices.c) */
    size_t n_office_caps;
    /* [fx]: values compared in one currency (crest_fx.h) */
    char *fx_path;   /* [fx] file as written */
    char *fx_base;   /* [fx] base: the currency values are compared in */
    char *fx_column; /* [fx] column: the currency column's header name (else the currency field's names) */
    crest_fx *fx;    /* the parsed table; NULL without [fx] */
    /* [calibration]: written by `crest calibrate`, kept as provenance */
    char *calib_history;
    char *calib_history_hash;
    char *calib_rows;
    char *calib_expected;
    char *calib_files; /* kind:sha256 of each file the calibration was computed with */
    int calib_stale;   /* calib_files differs from the files read now */

    /* Files named by the policy: read once at load (bounded, regular files
     * only, confined to root when set), hashed, parsed into risk. */
    char *root_path;                        /* [policy] root as written */
    char *root;                             /* [policy] root, real path; NULL: unconfined */
    size_t file_cap[CREST_FILE_KIND_COUNT]; /* [policy] max_KIND_bytes */
    policy_file *files;
    size_t n_files;
    crest_risk *risk; /* criteria and model parsed at load; NULL without risk or for `crest fit` */

    char *source_text; /* the policy as read, for `crest calibrate` to rewrite */
    char *canonical;   /* crest_policy_describe() */
    uint64_t hash;     /* the first 8 bytes of the SHA-256, big-endian */
    char hash_hex[17]; /* the short form written with every decision */
    char hash_full[CREST_SHA256_HEX];
};

/* One row of the [capacity] offices table. */
typedef struct policy_office_cap {
    char *office;
    unsigned long red_per_day;
    int32_t from, to;   /* valid days, inclusive; INT32_MIN / INT32_MAX when open */
    unsigned long line; /* in the table, for messages */
} policy_office_cap;

/* offices.c: parse the [capacity] offices table's bytes into p->office_caps
 * (name: the file for messages); errors name its line and column. */
crest_status policy_offices_parse(crest_policy *p, const char *name, const char *data, size_t len,
                                  crest_diag *diag);
void policy_offices_free(crest_policy *p);

/* The risk-layer configuration of the policy (pointers into the policy). */
void policy_risk_config(const crest_policy *policy, crest_risk_config *cfg);

/* 1 when the policy configures criteria or a model. */
int policy_has_risk(const crest_policy *policy);

/* "kind:sha256, ..." of the files read at load, for [calibration] files (malloc'd; NULL on OOM). */
char *policy_files_fingerprint(const crest_policy *policy);

/* 1 when some tier holds its floor per period (floor_period): decisions then depend on row order. */
static inline int policy_has_floor_period(const crest_policy *policy)
{
    for (size_t i = 0; i < policy->n_tiers; i++)
        if (policy->tiers[i].floor_period)
            return 1;
    return 0;
}

/* What one line of policy text is, as the loader reads it. */
typedef enum policy_line_kind {
    POLICY_LINE_BLANK,  /* empty, or a '#'/';' comment line */
    POLICY_LINE_HEADER, /* "[...]" (closed or not: the loader rejects an unclosed one) */
    POLICY_LINE_KEY,    /* "key = value" */
    POLICY_LINE_OTHER   /* anything else (the loader rejects it) */
} policy_line_kind;

/* One line split by the policy grammar; pointers are into the line. */
typedef struct policy_line {
    policy_line_kind kind;
    const char *text; /* the line without surrounding white space */
    size_t text_len;
    const char *section; /* HEADER: the name between the brackets, trimmed ("tier" for [tier NAME]) */
    size_t section_len;
    const char *tier; /* HEADER [tier NAME] (any white space after "tier"): NAME trimmed; else NULL */
    size_t tier_len;
    const char *key; /* KEY: the key, trimmed */
    size_t key_len;
    const char *value; /* KEY: the value, trimmed, without an inline " # ..." or " ; ..." comment */
    size_t value_len;
} policy_line;

/*
 * Split one line (without its '\n') by the policy grammar. The loader and
 * crest calibrate's writer both read policy text through this, so they agree
 * on what is a section, a tier and a key.
 */
void policy_read_line(const char *line, size_t n, policy_line *out);

/* 1 when the two-letter country code is an MRA partner. */
int policy_is_mra_partner(const crest_policy *policy, const char *cc);

/*
 * overrides.c: text with each "SECTION.KEY=VALUE" of sets applied (see
 * crest_policy_load_set), appended to out; *line_set (n_lines entries, the
 * caller frees it) says for each line of out which override wrote it (1 + its
 * index) or 0, so that a parse error on that line can name the override.
 */
crest_status policy_override_text(const char *text, size_t len, const char *const *sets, size_t n_sets,
                                  textbuf *out, unsigned **line_set, size_t *n_lines, crest_diag *diag);

#endif
