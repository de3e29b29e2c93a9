"""The C library, loaded through cffi in ABI mode.

ABI mode (``ffi.dlopen`` of libcrest.so) needs no C compiler when the package is
installed: the package is pure Python, and the declarations below are the subset of
the public headers (engine/include/crest/*.h) the package uses, copied with their
exact layouts. A change in those headers must be made here too: ``tests/test_abi.py``
compiles the public headers with the C compiler and fails, naming the struct, field,
constant or function, when a size, an offset, an enum value or a prototype differs.

The package loads ``libcrest_eval.so`` (replay and simulation, engine/eval), which
needs ``libcrest.so`` (the engine); one handle reaches the symbols of both. It is
found, in this order: the ``CREST_LIBRARY`` environment variable (a path), a
``libcrest_eval.so`` next to this package, the build tree of a source checkout
(``build/engine``), then the system (``ctypes.util.find_library("crest_eval")``).
"""

import ctypes.util
import os

from cffi import FFI

CDEF = r"""
typedef enum crest_status {
    CREST_OK = 0, CREST_ERR_NOMEM = 1, CREST_ERR_IO = 2, CREST_ERR_SYNTAX = 3,
    CREST_ERR_INVALID = 4, CREST_ERR_MISSING = 5, CREST_ERR_RANGE = 6,
    CREST_ERR_VERSION = 7, CREST_ERR_MISMATCH = 8, CREST_ERR_REGEX = 9,
    CREST_ERR_NUMERIC = 10, CREST_ERR_STATE = 11, CREST_ERR_INTERRUPTED = 12
} crest_status;

typedef struct crest_diag {
    crest_status status;
    char file[256];
    unsigned long line;
    unsigned long column;
    char message[512];
} crest_diag;

typedef struct crest_str { const char *ptr; size_t len; } crest_str;

const char *crest_version(void);
void crest_init(void);
const char *crest_status_name(crest_status status);

typedef struct crest_policy crest_policy;
crest_status crest_policy_load(const char *path, crest_policy **out, crest_diag *diag);
crest_status crest_policy_load_ex(const char *path, unsigned flags, crest_policy **out, crest_diag *diag);
crest_status crest_policy_parse(const char *text, size_t len, const char *name, crest_policy **out,
                                crest_diag *diag);
void crest_policy_free(crest_policy *policy);
const char *crest_policy_name(const crest_policy *policy);
const char *crest_policy_hash_hex(const crest_policy *policy);
uint64_t crest_policy_seed(const crest_policy *policy);
const char *crest_policy_describe(const crest_policy *policy);
size_t crest_policy_tier_count(const crest_policy *policy);
const char *crest_policy_tier_name(const crest_policy *policy, size_t tier);
double crest_policy_tier_rate(const crest_policy *policy, size_t tier);
double crest_policy_tier_ratio(const crest_policy *policy, size_t tier);
int crest_policy_tier_is_floor(const crest_policy *policy, size_t tier);
size_t crest_policy_base_tier(const crest_policy *policy);
unsigned long crest_policy_red_per_office_day(const crest_policy *policy);

typedef struct crest_registry crest_registry;
crest_status crest_registry_load(const char *path, const crest_policy *policy, crest_registry **out,
                                 crest_diag *diag);
void crest_registry_free(crest_registry *registry);

typedef struct crest_sink {
    crest_status (*write)(void *ctx, const void *buf, size_t len);
    void *ctx;
} crest_sink;

typedef enum crest_format { CREST_FORMAT_CSV = 0, CREST_FORMAT_JSONL } crest_format;

typedef struct crest_decision {
    size_t tier;
    double score;
    double p;
    double p_random;
    double p_risk_unit;
    double multiplier;
    double p_forced;
    double u;
    int inspect;
    int lane;
    int forced;
    int forced_insensitive;
    double prob;
} crest_decision;

typedef struct crest_decl crest_decl;
typedef int (*crest_header_hook)(void *ctx, const crest_str *header, size_t n_cols);
typedef int (*crest_decl_hook)(void *ctx, const crest_decl *decl, const crest_decision *decision,
                               unsigned long line);
typedef enum crest_capacity_outcome {
    CREST_CAPACITY_KEPT = 0, CREST_CAPACITY_DEFERRED = 1, CREST_CAPACITY_OVERFLOW = 2
} crest_capacity_outcome;
typedef int (*crest_capacity_hook)(void *ctx, uint64_t ordinal, crest_capacity_outcome outcome);

typedef struct crest_run_options {
    crest_sink output;
    int decide;
    crest_header_hook header_hook;
    crest_decl_hook decl_hook;
    crest_capacity_hook capacity_hook;
    void *hook_ctx;
    crest_sink rejects;
    crest_format format;
    const char *input_name;
    int passthrough_override;
    int formula_guard_override;
    size_t output_buffer_bytes;
    unsigned threads;
    int windows;
    size_t block_bytes;
    size_t capacity_memory_bytes;
    int (*capacity_take)(void *ctx, crest_str office, int32_t day);
    void *capacity_ctx;
    const char *score_column;
    int reason_text;
    void *decl_record;
    void *decl_record_fixed;
    size_t decl_record_size;
} crest_run_options;

crest_run_options crest_run_options_default(void);

typedef struct crest_tier_counts {
    uint64_t rows;
    uint64_t inspected;
    double expected;
    uint64_t unknown;
    uint64_t from_registry;
    uint64_t from_feed;
    uint64_t moved_by_party;
    uint64_t forced;
    uint64_t forced_insensitive;
    double forced_expected;
    double random_expected;
    uint64_t deferred;
    uint64_t overflow;
} crest_tier_counts;

typedef struct crest_reject_sample {
    unsigned long line;
    int reason;
    char detail[160];
} crest_reject_sample;

typedef struct crest_unknown_tier {
    char value[48];
    uint64_t count;
} crest_unknown_tier;

typedef struct crest_floor_month {
    uint32_t tier;
    int32_t month;
    uint64_t rows;
    uint64_t inspected;
} crest_floor_month;

typedef struct crest_run_stats {
    uint64_t rows_in;
    uint64_t decisions;
    uint64_t rejects;
    uint64_t rejects_by_reason[13];
    crest_reject_sample samples[5];
    size_t n_samples;
    size_t n_tiers;
    crest_tier_counts tiers[16];
    uint64_t inspected;
    uint64_t priority;
    uint64_t guarantee_exempt;
    uint64_t mra_recognised;
    uint64_t lanes[5];
    uint64_t selected_random;
    uint64_t selected_risk;
    uint64_t selected_floor;
    uint64_t selected_forced;
    uint64_t selected_max_hits;
    uint64_t regex_limit_hits;
    uint64_t formulas_guarded;
    uint64_t deferred;
    uint64_t overflow;
    uint64_t bytes_in;
    uint64_t bytes_out;
    int header_seen;
    crest_unknown_tier unknown_tiers[16];
    size_t n_unknown_tiers;
    uint64_t unknown_tier_other;
    uint64_t registry_by_party[4];
    uint64_t fx_missing;
    crest_floor_month floor_months[60];
    size_t n_floor_months;
    uint64_t floor_rows_unmonthed;
} crest_run_stats;

typedef struct crest_engine crest_engine;
typedef enum crest_reject_reason {
    CREST_REJECT_CSV_QUOTE, CREST_REJECT_CSV_UNTERMINATED, CREST_REJECT_RECORD_TOO_LONG,
    CREST_REJECT_FIELD_TOO_LONG, CREST_REJECT_COLUMN_COUNT, CREST_REJECT_INVALID_UTF8,
    CREST_REJECT_MISSING_ID, CREST_REJECT_BAD_DATE, CREST_REJECT_INVALID_ID, CREST_REJECT_REPEATED_HEADER,
    CREST_REJECT_DUPLICATE_ID, CREST_REJECT_REGEX_LIMIT, CREST_REJECT_UNKNOWN_TIER, CREST_REJECT_COUNT
} crest_reject_reason;
const char *crest_reject_code(crest_reject_reason reason);
crest_status crest_engine_create(const crest_policy *policy, const crest_registry *registry,
                                 const crest_run_options *options, crest_engine **out, crest_diag *diag);
crest_status crest_engine_feed(crest_engine *engine, const void *buf, size_t len);
void *crest_engine_input_buffer(crest_engine *engine, size_t *cap);
crest_status crest_engine_commit(crest_engine *engine, size_t n);
crest_status crest_engine_finish(crest_engine *engine);
const crest_run_stats *crest_engine_stats(const crest_engine *engine);
const crest_diag *crest_engine_diag(const crest_engine *engine);
const char *crest_engine_notes(const crest_engine *engine);
void crest_engine_free(crest_engine *engine);

typedef struct crest_summary_info {
    const char *input_name;
    double elapsed_s;
    int partial;
    const char *ending;
} crest_summary_info;
char *crest_summary_json(const crest_policy *policy, const crest_run_stats *stats,
                         const crest_summary_info *info);

typedef enum crest_replay_period {
    CREST_REPLAY_PERIOD_NONE = 0, CREST_REPLAY_PERIOD_DAY, CREST_REPLAY_PERIOD_WEEK,
    CREST_REPLAY_PERIOD_MONTH
} crest_replay_period;

typedef struct crest_replay_options {
    crest_replay_period period;
    const char *label;
    const char *revenue;
    const char *revenue_rate;
    const char *revenue_base;
    int capacity;
} crest_replay_options;

typedef struct crest_replay crest_replay;
typedef struct crest_replay_set {
    const crest_replay *const *reps;
    const char *const *names;
    size_t n;
    const char *input_name;
    int partial;
} crest_replay_set;

crest_status crest_replay_create(const crest_policy *policy, const crest_replay_options *opt,
                                 crest_replay **out, crest_diag *diag);
void crest_replay_attach(crest_replay *r, crest_run_options *opt);
const crest_diag *crest_replay_attach_diag(const crest_replay *r);
crest_status crest_replay_merge(crest_replay *r, const crest_replay *other);
void *crest_replay_save(const crest_replay *r, size_t *len);
void crest_replay_free_saved(void *buf);
crest_status crest_replay_load(crest_replay *r, const void *buf, size_t len, crest_diag *diag);
crest_status crest_replay_finish(crest_replay *r);
crest_status crest_replay_gain(const crest_replay *r, size_t n_points, double *x, double *y, double *rev);
char *crest_replay_csv_periods(const crest_replay_set *set);
char *crest_replay_csv_tiers(const crest_replay_set *set);
char *crest_replay_json(const crest_replay_set *set);
void crest_replay_free(crest_replay *r);

int crest_multi_can_share(const crest_policy *const *policies, size_t n);
typedef struct crest_replay_multi crest_replay_multi;
typedef crest_status (*crest_replay_rows_fn)(void *ctx, size_t k, const char *row, size_t len,
                                             crest_diag *diag);
typedef struct crest_replay_multi_rows {
    crest_replay_rows_fn write;
    void *ctx;
    const char *const *names;
} crest_replay_multi_rows;
crest_status crest_replay_multi_create(size_t n, crest_replay *const *reps, const crest_registry *const *registries,
                                       const crest_run_options *options, unsigned threads,
                                       const crest_replay_multi_rows *rows, crest_replay_multi **out,
                                       crest_diag *diag);
crest_status crest_replay_multi_feed(crest_replay_multi *m, const void *buf, size_t len);
crest_status crest_replay_multi_feed_stable(crest_replay_multi *m, const void *buf, size_t len);
const void *crest_replay_multi_stable_floor(const crest_replay_multi *m);
crest_status crest_replay_multi_finish(crest_replay_multi *m);
crest_status crest_replay_multi_finish_early(crest_replay_multi *m);
size_t crest_replay_multi_count(const crest_replay_multi *m);
const crest_engine *crest_replay_multi_engine(const crest_replay_multi *m, size_t k);
size_t crest_replay_multi_failed(const crest_replay_multi *m);
const crest_diag *crest_replay_multi_diag(const crest_replay_multi *m, size_t k);
void crest_replay_multi_free(crest_replay_multi *m);

typedef struct crest_calibrator crest_calibrator;
typedef struct crest_calibration_tier {
    int status;
    uint64_t rows;
    double target;
    double scale;
    double expected;
    double forced_rate;
    double base_rate;
} crest_calibration_tier;
crest_status crest_calibrator_create(const crest_policy *policy, crest_calibrator **out);
crest_status crest_calibrator_add(crest_calibrator *c, const crest_decision *decision);
crest_status crest_calibrator_solve(crest_calibrator *c, crest_calibration_tier *out, crest_diag *diag);
void crest_calibrator_free(crest_calibrator *c);
typedef enum crest_calibration_status {
    CREST_CALIBRATION_OK = 0, CREST_CALIBRATION_INFEASIBLE, CREST_CALIBRATION_UNREACHABLE,
    CREST_CALIBRATION_NO_ROWS, CREST_CALIBRATION_FIXED
} crest_calibration_status;
const char *crest_calibration_status_name(crest_calibration_status status);

typedef struct crest_sim_fit { double l2_lambda; double smoothing; unsigned folds; } crest_sim_fit;
typedef struct crest_sim_options {
    crest_replay_period period;
    double rate;
    double final_rate;
    unsigned decay_periods;
    int decay;
    double explore;
    uint64_t seed;
    const char *feature_spec;
    crest_sim_fit train;
    const char *tree_params;
    unsigned ma_window;
} crest_sim_options;
typedef struct crest_sim crest_sim;
void crest_sim_options_default(crest_sim_options *opts);
crest_status crest_sim_create(const crest_sim_options *opts, crest_sim **out, crest_diag *diag);
crest_status crest_sim_header(crest_sim *s, const crest_str *header, size_t n_cols, crest_diag *diag);
crest_status crest_sim_add(crest_sim *s, const crest_decl *decl, int illicit, double revenue, int train);
crest_status crest_sim_run(crest_sim *s, crest_diag *diag);
const char *crest_sim_note(const crest_sim *s);
char *crest_sim_csv(const crest_sim *s);
void crest_sim_free(crest_sim *s);
size_t crest_sim_row_count(const crest_sim *s);
size_t crest_sim_undated_count(const crest_sim *s);

typedef enum crest_sim_strategy {
    CREST_SIM_STRATEGY_REFIT = 0, CREST_SIM_STRATEGY_RANDOM, CREST_SIM_STRATEGY_SCORE, CREST_SIM_STRATEGY_FIXED
} crest_sim_strategy;
typedef enum crest_sim_decay { CREST_SIM_DECAY_LINEAR = 0, CREST_SIM_DECAY_EXP } crest_sim_decay;
typedef struct crest_study crest_study;
typedef struct crest_study_strategy {
    char label[96];
    crest_sim_strategy kind;
    int model;
    char column[96];
    double explore;
    int sweeps_rate;
    int sweeps_explore;
} crest_study_strategy;
typedef crest_status (*crest_study_decide_fn)(void *ctx, uint64_t seed, uint8_t *inspect, size_t n_rows,
                                              crest_diag *diag);
typedef struct crest_study_plan {
    const crest_policy *policy;
    crest_replay_period period;
    double final_rate;
    crest_sim_decay decay;
    unsigned decay_periods;
    const crest_study_strategy *strategies;
    size_t n_strategies;
    const double *rates;
    size_t n_rates;
    const double *explores;
    size_t n_explores;
    const uint64_t *seeds;
    size_t n_seeds;
    crest_study_decide_fn decide;
    void *decide_ctx;
} crest_study_plan;
crest_status crest_study_create(crest_study **out);
void crest_study_free(crest_study *st);
char *crest_study_csv(const crest_study *st);
char *crest_study_summary_csv(const crest_study *st);
crest_status crest_study_parse_strategies(const char *list, crest_study_strategy *out, size_t cap, size_t *n,
                                          crest_diag *diag);
crest_status crest_study_parse_seeds(const char *text, uint64_t *out, size_t cap, size_t *n, crest_diag *diag);
crest_status crest_study_sim_create(const crest_study_plan *plan, unsigned batch_days, crest_sim **out,
                                    crest_diag *diag);
crest_status crest_study_run(crest_study *st, crest_sim *sim, const crest_study_plan *plan, char *note,
                             size_t note_cap, crest_diag *diag);
crest_status crest_policy_load_set(const char *path, const char *text, size_t len, const char *name,
                                   unsigned flags, const char *const *sets, size_t n_sets,
                                   crest_policy **out, crest_diag *diag);
crest_status crest_replay_header(crest_replay *r, const crest_str *header, size_t n_cols, crest_diag *diag);
void crest_replay_read_label(const crest_replay *r, const crest_decl *decl, int *illicit, double *revenue);
const char *crest_policy_model_features(const crest_policy *policy);
void crest_policy_fit_settings(const crest_policy *policy, double *l2, double *smoothing, unsigned *folds);

/* libcrest_eval.so (python/CMakeLists.txt): the CLI's built-in policy, embedded from
   policies/order251.conf at build time as the CLI embeds it. */
extern const char crest_builtin_policy[];

void free(void *ptr);
"""

ffi = FFI()
ffi.cdef(CDEF)


def _candidates():
    env = os.environ.get("CREST_LIBRARY")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "libcrest_eval.so")
    root = os.path.dirname(os.path.dirname(here))  # a source checkout: python/crest -> .
    yield os.path.join(root, "build", "engine", "libcrest_eval.so")
    found = ctypes.util.find_library("crest_eval")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append(path)
            continue
        try:
            return ffi.dlopen(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("crest: cannot find the shared library libcrest_eval.so; build it "
                      "(cmake --build build) or set CREST_LIBRARY. Tried: " + "; ".join(tried))


lib = _load()
lib.crest_init()
