/*
 * cli.h — what the `crest` subcommands share: the command table, exit codes
 * and the one mapping from a library status to an exit code, messages,
 * option parsing on getopt_long, loading the policy and registry, reading an
 * input into an engine (progress, signals), and outputs written atomically.
 *
 * Only the CLI includes this header; the CLI uses libcrest's public API and
 * nothing else. Layering inside the CLI: main.c (dispatch, general help) ->
 * cmd_*.c (one subcommand each) -> cli_util.c (the shared helpers). No
 * subcommand includes another's file; the two that share code (check and
 * calibrate: collecting a history) do so through the functions declared here.
 */
#ifndef CREST_CLI_H
#define CREST_CLI_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "crest/crest.h"
#include "crest/crest_digest.h"

/* ------------------------------------------------------------ commands */

/*
 * One subcommand. To add one (say `serve`): write cmd_serve.c defining
 * `const cli_command cli_cmd_serve = {...}`, add X(serve) to CLI_COMMANDS
 * below and the file to the crest_cli library in engine/CMakeLists.txt. `crest
 * --help` lists it, `crest help serve` and `crest serve --help` print its usage.
 */
typedef struct cli_command {
    const char *name;     /* "run" */
    const char *synopsis; /* usage line(s) after "crest " in `crest --help`; continuation lines indented */
    const char *summary;  /* one line for the command list of `crest --help` */
    int (*main)(int argc, char **argv); /* argv[0] is the command's name; returns an exit code */
    void (*usage)(FILE *f);             /* the full help of the command */
} cli_command;

/* The subcommands, in the order `crest --help` lists them. */
#ifdef CREST_HAVE_SERVE
#define CLI_COMMANDS_SERVE(X) X(serve) /* engine/serve/, when built (CREST_SERVE) */
#else
#define CLI_COMMANDS_SERVE(X)
#endif
#define CLI_COMMANDS(X) X(run) X(check) X(fit) X(calibrate) X(replay) CLI_COMMANDS_SERVE(X)

#define CLI_DECLARE_COMMAND(name) extern const cli_command cli_cmd_##name;
CLI_COMMANDS(CLI_DECLARE_COMMAND)
#undef CLI_DECLARE_COMMAND

/* The commands in that order, NULL-terminated (commands.c). */
extern const cli_command *const cli_command_table[];
/* The command called name, or NULL. */
const cli_command *cli_find_command(const char *name);

/* ---------------------------------------------------------- exit codes */

/* The documented exit codes (README "Exit codes", `crest --help`). */
enum {
    EXIT_OK = 0,
    EXIT_USAGE = 1,
    EXIT_CONFIG = 2,        /* policy, registry or model file */
    EXIT_INPUT = 3,         /* the input: unreadable, empty, a required column missing, cut short */
    EXIT_IO = 4,            /* an output could not be written, downstream closed, out of memory */
    EXIT_INTERRUPTED = 130, /* SIGINT or SIGTERM: what was decided is kept as PARTIAL */
};

/* Where a status came from: the same status means different things when a
 * policy is loaded and when an input is read. */
typedef enum cli_stage {
    CLI_LOAD,  /* loading a policy, registry or model: 2 */
    CLI_READ,  /* feeding the input to an engine: 3 (4 when a sink failed) */
    CLI_WRITE, /* writing an output: 4 */
} cli_stage;

/*
 * The exit code of a library status met at a stage: CREST_OK -> 0,
 * CREST_ERR_INTERRUPTED -> 130, CREST_ERR_NOMEM -> 4 at any stage,
 * CREST_ERR_IO while reading -> 4 (the engine reports a failed output sink so),
 * any other status -> 2, 3 or 4 by stage. The only place statuses become exit
 * codes.
 */
int exit_code_of(crest_status status, cli_stage stage);

/* ------------------------------------------------------------ messages */

extern const char *prog; /* "crest", for messages */

/* "crest: FILE:LINE:COLUMN: message" on stderr. */
void print_diag(const crest_diag *d);

/* ------------------------------------------------------------- options */

/* What an option parser returns. */
enum { CLI_PARSE_OK = 0, CLI_PARSE_HELP = 1, CLI_PARSE_ERROR = -1 };

/*
 * getopt_long for a subcommand with crest's messages. Call cli_getopt_begin
 * before the first cli_getopt of a parse (getopt keeps global state). shortopts
 * must start with ':'. cli_getopt returns the option like getopt_long (optarg
 * holds its value), -1 after the last option (the operands are
 * argv[optind..argc): getopt moves them to the end), or '?' after printing
 * "crest: unknown option ..." or "crest: --x needs a value" (see `crest help
 * CMD`).
 */
struct option;
/*
 * The policy overrides every command that loads a policy takes: put
 * CLI_POLICY_OPTIONS in its longopts; cli_getopt keeps --set SECTION.KEY=VALUE
 * (repeatable) and --model FILE (= --set model.file=FILE) in order, and
 * load_policy applies them (crest_policy_load_set).
 */
#define CLI_OPT_SET 1000
#define CLI_OPT_MODEL 1001
#define CLI_POLICY_OPTIONS                                                                                   \
    {"set", required_argument, NULL, CLI_OPT_SET},                                                           \
    {                                                                                                        \
        "model", required_argument, NULL, CLI_OPT_MODEL                                                      \
    }
/* The overrides of the command line so far; returns how many. */
size_t cli_policy_sets(const char *const **sets);
void cli_getopt_begin(void);
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts, const char *cmd);

/* The index of value in choices (NULL-terminated), or -1 after printing
 * "crest: OPTION is a, b or c, not 'VALUE'". */
int arg_choice(const char *option, const char *value, const char *const choices[]);

/* A number in [lo, hi] with the library's number parser (crest_parse_number):
 * 0, or -1 after printing "crest: OPTION needs a number in [lo, hi], not 'V'". */
int arg_number(const char *option, const char *value, double lo, double hi, double *out);

/* ------------------------------------------------------ policy, inputs */

/* Load a policy (NULL: the built-in Order 251 policy) with the command line's
 * --set/--model overrides; prints errors. 0 on success. */
int load_policy(const char *path, crest_policy **out);
/* Load a registry when path is not NULL; prints errors. 0 on success (*out NULL without a path). */
int load_registry(const char *path, const crest_policy *policy, crest_registry **out);
/* What run, check and calibrate start from: load_policy(policy_path), then
 * load_registry(registry_path) for it. Prints errors; on failure neither is kept
 * (both NULL). Returns EXIT_OK or EXIT_CONFIG. */
int cli_load_inputs(const char *policy_path, const char *registry_path, crest_policy **policy,
                    crest_registry **registry);
/* Open path for reading ("-" or NULL: standard input) into *fd and *name (the name
 * messages use). what goes before the path in the error ("input " or "").
 * Returns 0, or prints "cannot open …" and returns EXIT_INPUT. */
int open_input(const char *path, const char *what, int *fd, const char **name);

/* --------------------------------------------------- signals, progress */

/*
 * Signals (README "Signals"). cli_catch_signals installs a handler that only
 * sets a flag and writes a byte into a wake pipe; every loop that waits (the
 * read loop on a pipe, a write to a full pipe) wakes up for it within
 * CLI_STOP_WAIT_MS, whatever thread the signal landed on:
 *  - SIGINT, SIGTERM: `interrupted` is set. The run stops reading, decides
 *    what it read (a record the stop cut is neither decided nor rejected),
 *    stops retrying a blocked output, marks the outputs PARTIAL and exits 130.
 *  - SIGHUP: a reload request: cli_pump calls the hook of cli_on_reload
 *    between two reads of the input (never inside one). Without a hook it
 *    logs that reload is not available and the run goes on; SIGHUP never
 *    ends a run.
 *  - SIGUSR1: one progress line on stderr (rows and bytes read, elapsed,
 *    rate), printed between two reads; the run goes on.
 * SIGPIPE is ignored by `crest run`: a closed downstream is a write error (EPIPE).
 */
enum { CLI_SIG_STOP = 1, CLI_SIG_HUP = 2, CLI_SIG_USR1 = 4 };
#define CLI_STOP_WAIT_MS 100 /* the longest a blocked write waits before it looks at `interrupted` */

extern volatile sig_atomic_t interrupted; /* SIGINT/SIGTERM seen (once cli_catch_signals ran) */

/* Catch the signals of `which` (CLI_SIG_*) as described above. */
void cli_catch_signals(int which);

/*
 * The reload hook of SIGHUP: fn(ctx) is called from the reading thread
 * between two reads of the input (the engine is between feeds: no record is
 * half decided), once per SIGHUP; it returns 0 when the reload took effect
 * and logs on stderr either way. NULL: no reload (the default: a command
 * without one logs "reload is not available"); `crest run` sets one while
 * it reads (cmd_run.c: crest_engine_set_policy).
 */
void cli_on_reload(int (*fn)(void *ctx), void *ctx);

/* Wait until fd has input or a caught signal came (reading loops of pipes
 * and terminals: an idle input still sees SIGINT at once). 1 when fd is
 * ready to read (or at its end), 0 when woken by a signal only. */
int cli_wait_input(int fd);

/* Monotonic seconds. */
double now_s(void);
/* One progress line on stderr (rows, rate, ETA when total > 0); final clears it. */
void progress(double t0, uint64_t bytes, uint64_t total, uint64_t rows, int final);

/*
 * Read fd to the end into the engine, with a progress line when
 * show_progress; stops early once `interrupted` is set (the record the stop
 * cut is then neither decided nor rejected: crest_engine_finish_early), or
 * when a regular input file shrinks while it is read (*read_error = 2: the
 * end of the input is lost; message printed). Finishes the engine unless
 * read() failed (*read_error = 1, message printed), so an interrupted run
 * still flushes what was decided. Returns the engine's status.
 */
crest_status cli_pump(crest_engine *engine, int fd, const char *name, int show_progress, int *read_error);

/*
 * A regular file read in place (cli_pump does this for one engine; replay
 * for its shared reading): the file is mapped and fed to the sink in 2 MiB
 * slices that stay valid until released, what the sink no longer holds is
 * handed back as it goes (MADV_DONTNEED), and a file that shrinks while it
 * is mapped is caught (SIGBUS) rather than fatal.
 */
typedef struct cli_map_sink {
    crest_status (*feed)(void *ctx, const char *buf, size_t n); /* bytes that stay valid */
    const char *(*floor)(void *ctx);                            /* the lowest byte still held, NULL: none */
    uint64_t (*rows)(void *ctx);                                /* rows read so far (progress) */
    void *ctx;
} cli_map_sink;

typedef struct cli_mapped {
    char *base;
    size_t len;
    char *released; /* [base, released) handed back */
} cli_mapped;

/* Feeds fd's bytes mapped, from offset 0 (its current offset) to size; on any
 * failure to map (or CREST_NO_MMAP=1), nothing (m->base NULL): the caller's
 * read loop reads them. *bytes gets the bytes fed that the file still has;
 * fd's offset is left there, so the read loop goes on from it (bytes
 * appended since the mapping, or the short end of a shrunk file). */
crest_status cli_map_pump(const cli_map_sink *sink, int fd, uint64_t size, cli_mapped *m, int show_progress,
                          double t0, double *last, uint64_t *bytes);
/* After the input's end: returns 1 when a fault after the last slice still
 * made the input short. Unmapped once the sink holds none of it (after an
 * error it may still, until it is freed: the mapping then stays until the
 * process ends). */
int cli_map_release(const cli_map_sink *sink, int fd, cli_mapped *m);
/*
 * SHA-256 of the regular file open as fd, as 64 hex digits into hex: 0, or -1
 * (not a regular file, unreadable, or *stop set: hex left empty). The file is
 * mapped and hashed in place under the SIGBUS guard of cli_map_pump (so a
 * file cut short meanwhile is hashed again with pread, never a crash), or
 * read with pread; fd's offset is not moved. Safe beside cli_map_pump on
 * another thread.
 */
int cli_file_sha256(int fd, char hex[CREST_SHA256_HEX], const volatile int *stop);
/* Prompt output on a feed (not a regular file): cli_pump writes what is
 * decided once no byte has come for cli_live_quiet_ms milliseconds (default
 * 10; 0: off), or the oldest unwritten byte waited 5 times that, and after
 * every cli_live_flush_every input lines (0: off). Set by `crest run`. */
extern int cli_live_quiet_ms;
extern unsigned long cli_live_flush_every;

/* cli_pump for the tools (fit, calibrate, check, replay --simulate): returns
 * EXIT_OK, EXIT_INPUT (read error, fatal input problem, or a hook stopped the
 * engine: the caller reports why), EXIT_IO or EXIT_INTERRUPTED. */
int feed_fd(crest_engine *engine, int fd, const char *name, int show_progress);

/* ------------------------------------------------- outputs of a run */

/*
 * A file descriptor as a crest_sink. On a pipe or FIFO every write() ends on
 * a record boundary and fits the pipe's free room, so it never blocks and a
 * reader sees whole records only, whatever stops the run: a partial record
 * at the end of a chunk is held until the rest of it comes (records longer
 * than the pipe itself are the exception). While the pipe is full the write
 * waits in steps of CLI_STOP_WAIT_MS and gives up once `interrupted` is set
 * (stopped = 1: the output then ends on the last whole record).
 */
typedef struct fd_sink {
    int fd;
    int csv;      /* records are CSV (quoted fields may hold newlines); 0: one record per line */
    int pipe_cap; /* a pipe's capacity in bytes; 0: not a pipe */
    int quoted;   /* CSV state after the bytes taken so far: inside a quoted field */
    char *held;   /* a partial record waiting for its end (pipes) */
    size_t held_len, held_cap;
    int epipe;       /* the reader went away */
    int stopped;     /* gave up a blocked write because the run was interrupted */
    int saved_errno; /* of the first failed write */
} fd_sink;

/* crest_sink write function over an fd_sink (ctx). */
crest_status fd_write(void *ctx, const void *buf, size_t len);
/* Write what an fd_sink still holds (the end of the stream): CREST_OK or CREST_ERR_IO. */
crest_status fd_sink_flush(fd_sink *s);

/*
 * One output file of a run. A path that exists and is not a regular file
 * (/dev/null, a FIFO, a terminal) and "-" (standard output) are written
 * directly; a regular path is written as PATH.tmp.PID and renamed by
 * cli_outputs_commit.
 */
typedef struct out_file {
    const char *path; /* the target; NULL: not used */
    char tmp[4096];   /* PATH.tmp.PID; "" when written directly */
    fd_sink sink;
    int is_stdout;
} out_file;

/* How a run ended: the "ending" of its summary. */
typedef enum cli_ending {
    CLI_COMPLETE = 0,
    CLI_INTERRUPTED,       /* SIGINT/SIGTERM */
    CLI_OUTPUT_ERROR,      /* a write failed (disk full, /dev/full, ...) */
    CLI_DOWNSTREAM_CLOSED, /* the reader of the output went away (EPIPE) */
    CLI_INPUT_ERROR,       /* the input could not be read to its end, or shrank while read */
} cli_ending;

/* The summary's name of an ending ("interrupted"...); NULL for CLI_COMPLETE. */
const char *cli_ending_name(cli_ending ending);

/*
 * The outputs of `crest run` as one transaction: -o, --rejects, --windows
 * and --summary (each optional). cli_outputs_open removes the temporary
 * files that runs now dead left next to the targets (PATH.tmp.PID whose PID
 * is no live process), then creates this run's. On success
 * cli_outputs_commit renames them all into place (one after the other, once
 * all were written and synced) and removes a PATH.partial left by an
 * earlier run; after any other ending it renames each to PATH.partial (the
 * previous PATH stays as it was) or, when nothing was read (keep = 0),
 * removes them.
 */
enum { CLI_OUT_DECISIONS, CLI_OUT_REJECTS, CLI_OUT_WINDOWS, CLI_OUT_SUMMARY, CLI_OUT_COUNT };
typedef struct cli_outputs {
    out_file f[CLI_OUT_COUNT];
} cli_outputs;

/* paths[CLI_OUT_*] (NULL: not asked; decisions NULL or "-": stdout); csv: the
 * decisions are CSV. 0, or -1 after printing what failed (nothing left behind). */
int cli_outputs_open(cli_outputs *o, const char *const paths[CLI_OUT_COUNT], int csv);
/* Flush and sync the decisions and rejects (before the summary says how the run
 * ended): 0, or -1 after printing what failed (an output error). */
int cli_outputs_sync(cli_outputs *o);
/* Write a whole text (the summary, the windows) into output k: 0 or -1 (message printed). */
int cli_outputs_write_text(cli_outputs *o, int k, const char *text);
/* Commit (ending CLI_COMPLETE) or keep as .partial / remove: 0, or -1 after printing what failed. */
int cli_outputs_close(cli_outputs *o, cli_ending ending, int keep);

/* ------------------------------------- option parsers (tests/cli) */

/* The options of the subcommands, as their parsers fill them. Each parser
 * returns CLI_PARSE_OK, CLI_PARSE_HELP (help printed on stdout: exit 0) or
 * CLI_PARSE_ERROR (message printed: exit 1). Paths point into argv. */

typedef struct run_args {
    const char *policy_path, *registry_path, *out_path, *rejects_path, *summary_path, *windows_path;
    const char *input_path; /* NULL: stdin */
    crest_run_options opt;  /* format, passthrough, formula guard, threads, windows */
    int quiet, show_progress;
    double max_reject_rate;    /* --max-reject-rate; NaN: the policy's [input] max_reject_rate */
    int quiet_ms;              /* --quiet-ms (cli_live_quiet_ms) */
    unsigned long flush_every; /* --flush-every (cli_live_flush_every) */
    int workload;              /* --workload: the workload per office and day in the summaries */
    int windows_by;            /* --windows-by: a crest_window_group; -1: the control windows */
} run_args;
int run_parse_args(int argc, char **argv, run_args *a);

typedef struct check_args {
    const char *policy_path, *registry_path, *sample_path;
    int workload; /* --workload: decide the sample and show the workload per office and day */
} check_args;
int check_parse_args(int argc, char **argv, check_args *a);

typedef struct fit_args {
    const char *policy_path, *registry_path, *out_path, *input_path, *label;
    double l2, smoothing; /* < 0: the policy's */
    long folds;           /* < 0: the policy's */
    /* Tree models only ([model] kind = xgboost): */
    const char *valid_path; /* --valid FILE: validation rows for early stopping */
    int has_seed;           /* --seed N */
    uint64_t seed;
    long threads; /* --threads N; 0: the default */
} fit_args;
int fit_parse_args(int argc, char **argv, fit_args *a);
/* `crest fit` for [model] kind = xgboost (cmd_fit_tree.c); returns an exit code. */
int fit_tree(const crest_policy *policy, const crest_registry *registry, const fit_args *a);

/* --label of crest fit (logistic and trees alike): an exact header name wins,
 * else a canonical field of that name. */
typedef struct fit_label {
    int field; /* canonical field, or -1 */
    long col;  /* header column, or -1 */
} fit_label;
/* Resolve the label name against the training file's header. */
void fit_label_bind(fit_label *l, const char *name, const crest_str *header, size_t n_cols);
/* A row's label: 0 licit, any other number illicit; NaN when it has none (empty
 * or not a number). */
double fit_label_value(const fit_label *l, const crest_decl *d);

typedef struct calibrate_args {
    const char *policy_path, *registry_path, *out_path, *input_path;
    int allow_infeasible; /* --allow-infeasible: write even when a tier cannot reach its target */
} calibrate_args;
int calibrate_parse_args(int argc, char **argv, calibrate_args *a);

#define CLI_MAX_POLICIES 16 /* policies compared in one replay */
#define CLI_MAX_SWEEP 16    /* values of one swept --simulate option */

typedef struct replay_args {
    const char *policies[CLI_MAX_POLICIES];
    size_t n_policies;
    const char *registry, *input, *train, *report;
    const char *label, *revenue, *revenue_rate, *revenue_base;
    int period;        /* crest_replay_period */
    const char *plots; /* auto, png, svg, none */
    /* --simulate's study: --strategy LIST, --seeds LIST, sweeps of --rate and
     * --explore (rate and explore above are the first values), --period Nd. */
    const char *strategies, *seeds;
    double rates[CLI_MAX_SWEEP], explores[CLI_MAX_SWEEP];
    size_t n_rates, n_explores;
    unsigned batch_days;
    unsigned threads; /* --threads: policies decided side by side (replay) */
    int no_progress, simulate;
    int workload; /* --workload: the workload per office and day, in the report and on stderr */
    double rate, final_rate, explore; /* final_rate < 0: constant rate */
    int decay_exp;                    /* --decay exp */
    unsigned decay_periods;           /* --decay-periods K (0: to the last period) */
    const char *score_column;         /* --score-column COL: a score computed elsewhere */
    const char *decisions;            /* --decisions FILE: one row per policy and declaration */
} replay_args;
int replay_parse_args(int argc, char **argv, replay_args *a);

/* The JSON summary with ,"workload":{...} added before its closing brace
 * (malloc'd; NULL when out of memory). Takes both strings (frees them;
 * either may be NULL, which gives NULL). */
char *cli_summary_with_workload(char *summary_json, char *workload_json);

/* ------------------------------------- shared by check and calibrate */

#define CLI_MAX_TIERS 16 /* a policy's tiers (crest_run_stats.tiers) */

/* Run the policy over a history without deciding, into the calibrator; *rows_used
 * gets the declarations used. Returns an exit code (messages printed). */
int cli_collect_history(const crest_policy *policy, const crest_registry *registry, const char *path,
                        crest_calibrator *cal, uint64_t *rows_used);
/* The calibration table (tier, rows, target, forced, expected, scale, status). */
void cli_print_calibration(FILE *f, const crest_policy *policy, const crest_calibration_tier *ct);

#endif
