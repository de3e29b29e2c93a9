/*
 * crest_policy.h — the policy: a small INI-style text file that says which
 * credit tiers exist and at what rates they are inspected, how input columns
 * map to canonical fields, where tiers come from, the MRA partners, the lanes
 * and the seed of every draw. Nothing about tiers is compiled in: Order 251,
 * Order 282 or any other scheme is a policy file (see policies/).
 *
 * A loaded policy is immutable and may be shared between threads. Loading
 * reads every file the policy names (criteria, list and band tables, the
 * model) exactly once, as bounded regular files, and parses them. Its hash is
 * SHA-256 over the canonical description that `crest check` prints (so
 * comments and layout do not change it) and the SHA-256 of each of those
 * files; decisions carry its first 16 hex digits, the summary all 64.
 */
#ifndef CREST_POLICY_H
#define CREST_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct crest_policy crest_policy;

/* Where the columns pass through to the output. */
typedef enum crest_passthrough {
    CREST_PASSTHROUGH_ALL = 0,  /* every input column except the one mapped to decl_id */
    CREST_PASSTHROUGH_UNMAPPED, /* only columns not mapped to a canonical field */
    CREST_PASSTHROUGH_NONE
} crest_passthrough;

/* Tier source preference when both a registry and a feed column exist. */
typedef enum crest_tier_pref {
    CREST_TIER_PREFER_REGISTRY = 0, /* registry, then the feed column, then the default */
    CREST_TIER_PREFER_FEED          /* feed column, then the registry, then the default */
} crest_tier_pref;

/*
 * Load a policy from a file. On failure returns a status and fills diag with
 * the file, line, column and what was expected; *out is left NULL.
 */
CREST_API crest_status crest_policy_load(const char *path, crest_policy **out, crest_diag *diag);

/* Flags of crest_policy_load_ex. */
#define CREST_POLICY_SKIP_MODEL_FILE 1u /* [model] file is not read: `crest fit` is about to write it */

/* crest_policy_load with flags. */
CREST_API crest_status crest_policy_load_ex(const char *path, unsigned flags, crest_policy **out,
                                            crest_diag *diag);

/* Parse a policy from memory; name labels diagnostics (e.g. "<builtin>").
 * Relative paths in it ([rules] criteria, [model] file) are taken from the
 * current directory; crest_policy_load takes them from the policy's own. */
CREST_API crest_status crest_policy_parse(const char *text, size_t len, const char *name, crest_policy **out,
                                          crest_diag *diag);

/*
 * Overrides ("what if" without editing a file): crest_policy_load_ex or, with
 * path NULL, crest_policy_parse of text (named name), with each of sets,
 * "SECTION.KEY=VALUE", applied to the text first, exactly as if the file said
 * so: a key in its section has its value replaced (a tier's rate replaces its
 * ratio and the reverse), a missing one is added; a tier's section is
 * tier.NAME (tier.AEO.ratio=0.25, risk.gain=2, capacity.red_per_office_day=30).
 * Relative paths in [rules] criteria, tables_dir and [model] file given this
 * way are taken from the current directory. The canonical text, the hash and a
 * calibrated copy include the overrides. An error in an override names it
 * (file "--set"). n_sets 0: the same as without overrides.
 */
CREST_API crest_status crest_policy_load_set(const char *path, const char *text, size_t len, const char *name,
                                             unsigned flags, const char *const *sets, size_t n_sets,
                                             crest_policy **out, crest_diag *diag);

/* Free a policy; NULL is a no-op. */
CREST_API void crest_policy_free(crest_policy *policy);

/* The policy's name ([policy] name), never NULL. */
CREST_API const char *crest_policy_name(const crest_policy *policy);
/* The first 64 bits of the policy hash (SHA-256, big-endian). */
CREST_API uint64_t crest_policy_hash(const crest_policy *policy);
/* The short form: the hash's first 16 lowercase hex digits plus NUL, owned by the policy. */
CREST_API const char *crest_policy_hash_hex(const crest_policy *policy);
/* The whole SHA-256 as 64 lowercase hex digits plus NUL, owned by the policy. */
CREST_API const char *crest_policy_hash_full(const crest_policy *policy);

/* 1 when the policy's [calibration] was computed with other criteria, tables or
 * model than the ones read now ([calibration] files): its scales may no longer hit
 * the targets; recalibrate. */
CREST_API int crest_policy_calibration_stale(const crest_policy *policy);

/* One file the policy read at load. Strings are owned by the policy. */
typedef struct crest_policy_file {
    const char *kind;   /* "criteria", "list", "band", "model", "fx", "capacity" */
    const char *name;   /* as named: the path in the policy, or a table's name */
    const char *path;   /* the path opened */
    const char *sha256; /* 64 lowercase hex digits */
    size_t bytes;
} crest_policy_file;

/* Number of files read at load (in the order they were read). */
CREST_API size_t crest_policy_file_count(const crest_policy *policy);
/* Describe file i; CREST_ERR_RANGE when out of range. */
CREST_API crest_status crest_policy_file_info(const crest_policy *policy, size_t i, crest_policy_file *info);
/* The seed of all keyed draws ([policy] seed). */
CREST_API uint64_t crest_policy_seed(const crest_policy *policy);
/* [capacity] red_per_office_day: RED selections allowed per office and day; 0 = no cap. */
CREST_API unsigned long crest_policy_red_per_office_day(const crest_policy *policy);
/* 1 when the policy caps RED selections per office and day: red_per_office_day
 * or a [capacity] offices table. */
CREST_API int crest_policy_has_capacity(const crest_policy *policy);
/* Rows of the [capacity] offices table (0 without one). */
CREST_API size_t crest_policy_office_count(const crest_policy *policy);
/*
 * The RED cap of office office[0..len) on day (days since 1970-01-01,
 * CREST_DATE_NONE for an undated row): the [capacity] offices row of that
 * office valid on that day, else red_per_office_day. Returns 1 and sets *cap
 * (0 there means no RED inspection at all) when the office is capped that
 * day, 0 when it is not (*cap = 0).
 */
CREST_API int crest_policy_office_cap(const crest_policy *policy, const char *office, size_t len, int32_t day,
                                      unsigned long *cap);
/*
 * The canonical description of the effective settings (what `crest check`
 * prints and what the hash covers), NUL-terminated, owned by the policy.
 */
CREST_API const char *crest_policy_describe(const crest_policy *policy);

/* Number of tiers, ordered from best credit (index 0) to worst. */
CREST_API size_t crest_policy_tier_count(const crest_policy *policy);
/* Tier name by index (e.g. "AEO"); NULL when out of range. */
CREST_API const char *crest_policy_tier_name(const crest_policy *policy, size_t tier);
/* Target inspection rate of a tier in [0, 1] (a ratio tier: ratio × base rate). */
CREST_API double crest_policy_tier_rate(const crest_policy *policy, size_t tier);
/* Ratio to the base tier's rate for a relative tier; NaN for an absolute tier. */
CREST_API double crest_policy_tier_ratio(const crest_policy *policy, size_t tier);
/* 1 when the tier's rate is an absolute floor (e.g. dishonest "80% or more"). */
CREST_API int crest_policy_tier_is_floor(const crest_policy *policy, size_t tier);
/* The rate the tier's draw uses: its effective rate, or for a floor tier with
 * floor_confidence and floor_month_rows the margin rate above the floor that
 * holds it per calendar month (crest_stats_floor_rate). NaN when out of range. */
CREST_API double crest_policy_tier_draw_rate(const crest_policy *policy, size_t tier);
/* Index of the base tier (the one ratios refer to). */
CREST_API size_t crest_policy_base_tier(const crest_policy *policy);
/* Index of the tier given to declarations whose tier is unknown or missing. */
CREST_API size_t crest_policy_default_tier(const crest_policy *policy);
/*
 * Resolve a tier label as found in a feed or registry (name or alias; ASCII
 * case, surrounding spaces, '-' and ' ' versus '_' are ignored). Returns the
 * tier index, or -1 when no tier has that name or alias.
 */
CREST_API int crest_policy_tier_lookup(const crest_policy *policy, const char *label, size_t len);

/* [model] features in canonical form; NULL when not set. */
CREST_API const char *crest_policy_model_features(const crest_policy *policy);
/* [model] file, resolved against the policy's directory; NULL when not set. */
CREST_API const char *crest_policy_model_file(const crest_policy *policy);
/* 1 when [model] kind = xgboost. */
CREST_API int crest_policy_model_is_xgboost(const crest_policy *policy);
/* [model] params (tree-model fit parameters, "max_depth=8, eta=0.05"); NULL when not set. */
CREST_API const char *crest_policy_model_params(const crest_policy *policy);
/* 1 when [model] kind = logistic. */
CREST_API int crest_policy_model_is_logistic(const crest_policy *policy);
/* 1 when the policy's model carries a calibration fitted with it (`crest fit`:
 * Platt scaling): its decisions have a risk_prob (crest_decision.prob). */
CREST_API int crest_policy_model_calibrated(const crest_policy *policy);
/* [model] l2, smoothing and folds: the settings of `crest fit`. */
CREST_API void crest_policy_fit_settings(const crest_policy *policy, double *l2, double *smoothing,
                                         unsigned *folds);

/*
 * 1 when a declaration's decision depends on nothing but the declaration
 * (and the capacity cap, if any): frozen control, no duplicate-id check and
 * no floor held per period (floor_period tops up by the order of rows).
 * Only then can several service instances share a stream and agree.
 */
CREST_API int crest_policy_decides_rows_alone(const crest_policy *policy);

#ifdef __cplusplus
}
#endif
#endif
