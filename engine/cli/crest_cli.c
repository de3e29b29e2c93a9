/*
 * crest_cli.c — the `crest` command: a thin layer over libcrest's public API.
 * It parses arguments, opens files, shows progress on a terminal, writes
 * outputs atomically (temporary file + rename), maps statuses to exit codes
 * and prints messages. All decisions are made by the library.
 *
 * Exit codes: 0 ok, 1 usage, 2 policy/config, 3 input, 4 I/O (output failed
 * or downstream closed), 130 interrupted (SIGINT/SIGTERM: partial summary).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crest/crest.h"
#include "crest/crest_lmodel.h"

#include "cli_common.h"

extern const char crest_builtin_policy[]; /* policies/order251.conf, embedded at build time */

volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

const char *prog = "crest";

static void usage_main(FILE *f)
{
    fprintf(f,
            "crest %s — risk-based inspection selection for customs declarations\n"
            "\n"
            "Usage:\n"
            "  crest run   [--policy FILE] [--registry FILE] [-o FILE] [--rejects FILE]\n"
            "              [--summary FILE] [--windows FILE] [--format csv|jsonl] [INPUT|-]\n"
            "  crest check [--policy FILE] [--registry FILE]\n"
            "  crest fit   --policy FILE [--label COLUMN] -o MODEL [TRAIN.csv|-]\n"
            "  crest calibrate --policy FILE -o CALIBRATED.conf HISTORY.csv\n"
            "  crest help [run|check|fit|calibrate]\n"
            "  crest --version\n"
            "\n"
            "`crest run` reads declarations (CSV with a header row) from INPUT or stdin and\n"
            "writes one decision per declaration: INSPECT or RELEASE, the lane, the reasons\n"
            "and the facilitation flags. Credit tiers set how many are inspected (Order 251:\n"
            "AEO at one fifth of the regular rate, dishonest at 80%% or more); every draw\n"
            "depends only on the policy seed and the declaration id, so a replay gives the\n"
            "same answer on any machine, in any order. Rows that cannot be decided go to the\n"
            "rejects output with a reason; the summary proves rows in = decisions + rejects.\n"
            "\n"
            "Examples:\n"
            "  crest run --registry registry.csv decls.csv -o decisions.csv\n"
            "  zcat feed.csv.gz | crest run --policy policies/order282.conf --format jsonl -\n"
            "  crest check --policy my.conf\n"
            "\n"
            "Run `crest help run` for every option. Exit codes: 0 ok, 1 usage, 2 policy or\n"
            "registry error, 3 input error, 4 output error, 130 interrupted.\n",
            crest_version());
}

static void usage_run(FILE *f)
{
    fprintf(f, "Usage: crest run [options] [INPUT|-]\n"
               "\n"
               "Decide every declaration of INPUT (a CSV file; '-' or nothing reads stdin).\n"
               "\n"
               "  --policy FILE     policy (tiers, rates, seed, column mapping); default: the\n"
               "                    built-in Order 251 policy (policies/order251.conf)\n"
               "  --registry FILE   enterprise credit registry CSV\n"
               "                    (enterprise_id,tier,valid_from,valid_to), joined as of each\n"
               "                    declaration's date; the lowest tier among the parties applies\n"
               "  -o, --output FILE decisions (default stdout); written to a temporary file and\n"
               "                    renamed only when the run succeeds\n"
               "  --rejects FILE    rejected rows as CSV: line,reason,column,message,record,truncated\n"
               "                    (default: counted, and the first few described on stderr)\n"
               "  --summary FILE    the summary as JSON (the text summary always goes to stderr)\n"
               "  --windows FILE    per control window ([control] window: a day or N declarations)\n"
               "                    and tier: target, expected, realised rate with 95%% CI, whether\n"
               "                    it holds, forced and deferred counts; the AEO/regular ratio\n"
               "  --format FMT      csv (default) or jsonl\n"
               "  --passthrough M   input columns copied after the decision: all (default from the\n"
               "                    policy), unmapped, none\n"
               "  --threads N       1 to 8 (default: the number of cores, at most 8). With 2 or more\n"
               "                    and a policy where nothing depends on row order, N threads\n"
               "                    read and decide blocks of the input in parallel; otherwise\n"
               "                    one parses and one decides in order. The output is the same\n"
               "                    byte for byte whatever N\n"
               "  -q, --quiet       no summary or progress on stderr (errors still printed)\n"
               "  --no-progress     no progress bar (it is shown only when stderr is a terminal)\n"
               "  --no-formula-guard  copy pass-through cells as they are; by default a cell that a\n"
               "                    spreadsheet would run as a formula (=, +, -, @ and not a\n"
               "                    number) gets a leading ' ([output] formula_guard)\n"
               "\n"
               "Output columns: decl_id, tier, tier_source (registry:enterprise_id,\n"
               "registry:declarant_id, feed, default), p (selection probability), u (the keyed\n"
               "uniform draw; INSPECT iff u < p), decision, lane, reasons (RANDOM, TIER_FLOOR,\n"
               "TIER_UNKNOWN, MRA), priority, guarantee_exempt_eligible, mra_recognised,\n"
               "policy_hash, then the pass-through input columns.\n");
}

static void usage_fit(FILE *f)
{
    fprintf(f, "Usage: crest fit --policy FILE [--label COLUMN] [--registry FILE] [--l2 X]\n"
               "                 [--smoothing M] [--folds K] -o MODEL [TRAIN.csv|-]\n"
               "\n"
               "Fit the policy's logistic risk model ([model] kind = logistic, features = ...)\n"
               "on labelled history: L2-regularised logistic regression by Newton/IRLS (GSL) on\n"
               "smoothed target encodings (out-of-fold on the training rows, so the fit does not\n"
               "leak) and numeric transforms. Writes a versioned text model file that\n"
               "`crest run` loads through the policy's [model] file.\n"
               "\n"
               "  --label COLUMN    the 0/1 label: a canonical field or a header name (default\n"
               "                    illicit; KCS data: Fraud). Rows without a 0/1 label are counted\n"
               "                    and left out.\n"
               "  --l2, --smoothing, --folds   override the policy's [model] l2, smoothing, folds\n"
               "  -o MODEL          the model file to write\n");
}

static void usage_calibrate(FILE *f)
{
    fprintf(f, "Usage: crest calibrate --policy FILE [--registry FILE] -o CALIBRATED.conf HISTORY.csv\n"
               "\n"
               "Solve each tier's scale (GSL root finding) so that its expected inspection rate\n"
               "on HISTORY equals its target: the AEO rate at its ratio of the regular rate, the\n"
               "dishonest floor, while risk still decides who. Criteria that force a lane count\n"
               "toward the rate; when they alone exceed a target, that tier is reported\n"
               "INFEASIBLE with the excess. Writes the policy with `scale = ...` in each tier and a\n"
               "[calibration] section (history fingerprint, rows, expected rates): a frozen\n"
               "policy whose decisions do not depend on order or partitioning.\n");
}

static void usage_check(FILE *f)
{
    fprintf(f, "Usage: crest check [--policy FILE] [--registry FILE] [SAMPLE.csv]\n"
               "\n"
               "Validate a policy (and a registry against it) and print the effective settings:\n"
               "the canonical policy text whose hash is written with every decision, and each\n"
               "tier's target rate. Errors name the file, line and column. Exit 0 when valid, 2 not.\n"
               "With a SAMPLE of declarations, also says per tier what the criteria force and\n"
               "whether the target is feasible (INFEASIBLE: forced selections alone exceed it).\n");
}

/* ------------------------------------------------------------------ sinks */

typedef struct fd_sink {
    int fd;
    int epipe;
    int saved_errno;
} fd_sink;

static crest_status fd_write(void *ctx, const void *buf, size_t len)
{
    fd_sink *s = ctx;
    const char *p = buf;
    while (len) {
        ssize_t n = write(s->fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            s->saved_errno = errno;
            if (errno == EPIPE)
                s->epipe = 1;
            return CREST_ERR_IO;
        }
        p += n;
        len -= (size_t)n;
    }
    return CREST_OK;
}

/* An output file written atomically: PATH.tmp.PID, renamed on commit. */
typedef struct out_file {
    const char *path; /* NULL: stdout or a non-regular file written directly */
    char tmp[4096];
    fd_sink sink;
    int direct; /* an opened non-regular file: close it at the end */
} out_file;

static int out_open(out_file *o, const char *path)
{
    memset(o, 0, sizeof *o);
    o->path = path;
    o->sink.fd = -1;
    if (!path || strcmp(path, "-") == 0) {
        o->path = NULL;
        o->sink.fd = STDOUT_FILENO;
        return 0;
    }
    /* Not a regular file (/dev/null, a FIFO, a terminal): write to it directly;
     * a temporary file renamed over it would replace the device itself. */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        o->path = NULL;
        o->sink.fd = open(path, O_WRONLY | O_CLOEXEC);
        if (o->sink.fd < 0) {
            fprintf(stderr, "%s: cannot open %s: %s\n", prog, path, strerror(errno));
            return -1;
        }
        o->direct = 1;
        return 0;
    }
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%ld", path, (long)getpid());
    o->sink.fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o->sink.fd < 0) {
        fprintf(stderr, "%s: cannot create %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    return 0;
}

static int out_commit(out_file *o)
{
    if (o->direct) {
        close(o->sink.fd);
        o->direct = 0;
        return 0;
    }
    if (!o->path)
        return 0;
    int rc = 0;
    if (fsync(o->sink.fd) != 0 && errno != EINVAL) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, o->path, strerror(errno));
        rc = -1;
    }
    if (close(o->sink.fd) != 0 && rc == 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, o->path, strerror(errno));
        rc = -1;
    }
    o->sink.fd = -1;
    if (rc == 0 && rename(o->tmp, o->path) != 0) {
        fprintf(stderr, "%s: cannot rename %s to %s: %s\n", prog, o->tmp, o->path, strerror(errno));
        rc = -1;
    }
    if (rc != 0)
        unlink(o->tmp);
    return rc;
}

static void out_abort(out_file *o)
{
    if (o->direct) {
        close(o->sink.fd);
        o->direct = 0;
        return;
    }
    if (!o->path)
        return;
    if (o->sink.fd >= 0)
        close(o->sink.fd);
    o->sink.fd = -1;
    unlink(o->tmp);
}

/* --------------------------------------------------------------- progress */

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress(double t0, uint64_t bytes, uint64_t total, uint64_t rows, int final)
{
    const double el = now_s() - t0;
    const double rate = el > 0 ? (double)rows / el : 0;
    if (final) {
        fputs("\r\033[K", stderr);
        return;
    }
    if (total) {
        const double frac = (double)bytes / (double)total;
        const int width = 30, filled = (int)(frac * width);
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[width] = '\0';
        const double eta = frac > 0 ? el / frac - el : 0;
        fprintf(stderr, "\r[%s] %5.1f%%  %llu rows  %.0f rows/s  ETA %.0fs \033[K", bar, 100 * frac,
                (unsigned long long)rows, rate, eta);
    } else {
        fprintf(stderr, "\r%llu rows  %.1f MB  %.0f rows/s \033[K", (unsigned long long)rows,
                (double)bytes / 1e6, rate);
    }
}

/* ---------------------------------------------------------------- helpers */

void print_diag(const crest_diag *d)
{
    if (d->line && d->column)
        fprintf(stderr, "%s: %s:%lu:%lu: %s\n", prog, d->file, d->line, d->column, d->message);
    else if (d->line)
        fprintf(stderr, "%s: %s:%lu: %s\n", prog, d->file, d->line, d->message);
    else
        fprintf(stderr, "%s: %s: %s\n", prog, d->file[0] ? d->file : "error", d->message);
}

/*
 * Read fd to the end into the engine, with a progress line on a terminal;
 * stops early on SIGINT/SIGTERM. Finishes the engine unless read() failed
 * (*read_error = 1, message printed), so an interrupted run still flushes
 * what was decided. Returns the engine's status.
 */
static crest_status pump(crest_engine *engine, int fd, const char *name, int show_progress, int *read_error)
{
    struct stat sb;
    const uint64_t size = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
    const double t0 = now_s();
    double last = t0;
    crest_status st = CREST_OK;
    uint64_t bytes = 0;
    *read_error = 0;
    while (st == CREST_OK && !interrupted) {
        /* Read straight into the engine's buffer (the next block when blocks
         * are read in parallel): no copy of the input. */
        size_t cap;
        char *buf = crest_engine_input_buffer(engine, &cap);
        if (!buf) {
            st = crest_engine_commit(engine, 0);
            if (st == CREST_OK)
                st = CREST_ERR_NOMEM;
            break;
        }
        const ssize_t n = read(fd, buf, cap);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "%s: cannot read %s: %s\n", prog, name, strerror(errno));
            *read_error = 1;
            break;
        }
        if (n == 0)
            break;
        bytes += (uint64_t)n;
        st = crest_engine_commit(engine, (size_t)n);
        if (show_progress && now_s() - last > 0.2) {
            progress(t0, bytes, size, crest_engine_rows_read(engine), 0);
            last = now_s();
        }
    }
    if (show_progress)
        progress(t0, bytes, size, 0, 1);
    if (st == CREST_OK && !*read_error) /* stopped early: a record cut by the stop is not decided */
        st = interrupted ? crest_engine_finish_early(engine) : crest_engine_finish(engine);
    return st;
}

int open_input(const char *path, const char *what, int *fd, const char **name)
{
    *fd = STDIN_FILENO;
    *name = "<stdin>";
    if (!path || strcmp(path, "-") == 0)
        return 0;
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) {
        fprintf(stderr, "%s: cannot open %s%s: %s\n", prog, what, path, strerror(errno));
        return EXIT_INPUT;
    }
    *name = path;
    return 0;
}

int arg_choice(const char *option, const char *value, const char *const choices[])
{
    size_t n = 0;
    for (; choices[n]; n++)
        if (!strcmp(value, choices[n]))
            return (int)n;
    fprintf(stderr, "%s: %s is ", prog, option);
    for (size_t k = 0; k < n; k++)
        fprintf(stderr, "%s%s", k == 0 ? "" : k + 1 == n ? " or " : ", ", choices[k]);
    fprintf(stderr, ", not '%s'\n", value);
    return -1;
}

/*
 * Read a whole input into an engine (see pump) for the tools. Returns
 * EXIT_OK, EXIT_INPUT (read error or fatal input problem, message printed),
 * EXIT_IO or EXIT_INTERRUPTED.
 */
int feed_fd(crest_engine *engine, int fd, const char *name, int show_progress)
{
    int read_error;
    const crest_status st = pump(engine, fd, name, show_progress, &read_error);
    if (read_error)
        return EXIT_INPUT;
    if (st == CREST_ERR_INTERRUPTED)
        return EXIT_INPUT; /* a hook stopped: the caller reports why */
    if (st != CREST_OK) {
        print_diag(crest_engine_diag(engine));
        return st == CREST_ERR_IO || st == CREST_ERR_NOMEM ? EXIT_IO : EXIT_INPUT;
    }
    return interrupted ? EXIT_INTERRUPTED : EXIT_OK;
}

int load_policy(const char *path, crest_policy **out)
{
    crest_diag d;
    crest_status st = path ? crest_policy_load(path, out, &d)
                           : crest_policy_parse(crest_builtin_policy, strlen(crest_builtin_policy),
                                                "<built-in order251>", out, &d);
    if (st != CREST_OK) {
        print_diag(&d);
        fprintf(stderr, "%s: fix the policy and try again (`crest check --policy FILE` validates it)\n",
                prog);
        return -1;
    }
    return 0;
}

int load_registry(const char *path, const crest_policy *policy, crest_registry **out)
{
    *out = NULL;
    if (!path)
        return 0;
    crest_diag d;
    if (crest_registry_load(path, policy, out, &d) != CREST_OK) {
        print_diag(&d);
        return -1;
    }
    return 0;
}

const char *arg_value(int argc, char **argv, int *i, const char *name)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: %s needs a value (see `crest help run`)\n", prog, name);
        return NULL;
    }
    return argv[++*i];
}

/* -------------------------------------------------------------------- run */

static int cmd_run(int argc, char **argv)
{
    const char *policy_path = NULL, *registry_path = NULL, *out_path = NULL, *rejects_path = NULL,
               *summary_path = NULL, *input_path = NULL, *windows_path = NULL;
    crest_run_options opt = crest_run_options_default();
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    opt.threads = cores >= 8 ? 8 : cores >= 2 ? (unsigned)cores : 1;
    int quiet = 0, show_progress = isatty(STDERR_FILENO);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (!strcmp(a, "--policy"))
            dst = &policy_path;
        else if (!strcmp(a, "--registry"))
            dst = &registry_path;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output"))
            dst = &out_path;
        else if (!strcmp(a, "--rejects"))
            dst = &rejects_path;
        else if (!strcmp(a, "--summary"))
            dst = &summary_path;
        else if (!strcmp(a, "--windows"))
            dst = &windows_path;
        if (dst) {
            if (!(*dst = arg_value(argc, argv, &i, a)))
                return EXIT_USAGE;
        } else if (!strcmp(a, "--format")) {
            const char *v = arg_value(argc, argv, &i, a);
            if (!v)
                return EXIT_USAGE;
            static const char *const formats[] = {"csv", "jsonl", NULL};
            const int k = arg_choice(a, v, formats);
            if (k < 0)
                return EXIT_USAGE;
            opt.format = k == 0 ? CREST_FORMAT_CSV : CREST_FORMAT_JSONL;
        } else if (!strcmp(a, "--passthrough")) {
            const char *v = arg_value(argc, argv, &i, a);
            if (!v)
                return EXIT_USAGE;
            static const char *const modes[] = {"all", "unmapped", "none", NULL};
            static const int mode_of[] = {CREST_PASSTHROUGH_ALL, CREST_PASSTHROUGH_UNMAPPED,
                                          CREST_PASSTHROUGH_NONE};
            const int k = arg_choice(a, v, modes);
            if (k < 0)
                return EXIT_USAGE;
            opt.passthrough_override = mode_of[k];
        } else if (!strcmp(a, "--threads")) {
            const char *v = arg_value(argc, argv, &i, a);
            if (!v)
                return EXIT_USAGE;
            if (strlen(v) != 1 || v[0] < '1' || v[0] > '8') {
                fprintf(stderr, "%s: --threads is a number from 1 to 8, not '%s'\n", prog, v);
                return EXIT_USAGE;
            }
            opt.threads = (unsigned)atoi(v);
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--no-progress")) {
            show_progress = 0;
        } else if (!strcmp(a, "--no-formula-guard")) {
            opt.formula_guard_override = 0;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage_run(stdout);
            return EXIT_OK;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "%s: unknown option '%s' (see `crest help run`)\n", prog, a);
            return EXIT_USAGE;
        } else if (input_path) {
            fprintf(stderr, "%s: one input at a time; got '%s' and '%s'\n", prog, input_path, a);
            return EXIT_USAGE;
        } else {
            input_path = a;
        }
    }
    if (quiet)
        show_progress = 0;

    crest_policy *policy = NULL;
    crest_registry *registry = NULL;
    if (load_policy(policy_path, &policy) != 0)
        return EXIT_CONFIG;
    if (load_registry(registry_path, policy, &registry) != 0) {
        crest_policy_free(policy);
        return EXIT_CONFIG;
    }
    /* Open the input before creating any output: a missing input leaves no files. */
    int in_fd;
    const char *in_name;
    if (open_input(input_path, "input ", &in_fd, &in_name) != 0) {
        crest_registry_free(registry);
        crest_policy_free(policy);
        return EXIT_INPUT;
    }
#ifdef POSIX_FADV_SEQUENTIAL
    if (in_fd != STDIN_FILENO)
        posix_fadvise(in_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    out_file out, rej;
    int rc = EXIT_OK;
    if (out_open(&out, out_path) != 0) {
        rc = EXIT_IO;
        goto done_inputs;
    }
    if (rejects_path && out_open(&rej, rejects_path) != 0) {
        out_abort(&out);
        rc = EXIT_IO;
        goto done_inputs;
    }
    opt.windows = windows_path != NULL;
    opt.output.write = fd_write;
    opt.output.ctx = &out.sink;
    if (rejects_path) {
        opt.rejects.write = fd_write;
        opt.rejects.ctx = &rej.sink;
    }
    opt.input_name = in_name;

    crest_engine *engine = NULL;
    crest_diag d;
    if (crest_engine_create(policy, registry, &opt, &engine, &d) != CREST_OK) {
        print_diag(&d);
        rc = EXIT_IO;
        goto done_outputs;
    }
    const double t0 = now_s();
    int read_error;
    crest_status st = pump(engine, in_fd, in_name, show_progress, &read_error);
    const double elapsed = now_s() - t0;

    const crest_run_stats *stats = crest_engine_stats(engine);
    if (st != CREST_OK) {
        const fd_sink *broken = out.sink.saved_errno ? &out.sink : (rejects_path ? &rej.sink : NULL);
        if (st == CREST_ERR_IO && out.sink.epipe) {
            rc = EXIT_IO; /* downstream closed: stop quietly */
        } else if (st == CREST_ERR_IO) {
            fprintf(stderr, "%s: %s%s%s\n", prog, crest_engine_diag(engine)->message, broken ? ": " : "",
                    broken ? strerror(broken->saved_errno) : "");
            rc = EXIT_IO;
        } else {
            print_diag(crest_engine_diag(engine));
            rc = st == CREST_ERR_NOMEM ? EXIT_IO : EXIT_INPUT;
        }
    } else if (read_error) {
        rc = EXIT_INPUT;
    }
    const int partial = interrupted != 0;
    if (partial && rc == EXIT_OK) {
        /* Flush what was decided so far. */
        rc = EXIT_INTERRUPTED;
    }
    if (rc == EXIT_OK || rc == EXIT_INTERRUPTED) {
        if (out_commit(&out) != 0)
            rc = EXIT_IO;
        if (rejects_path && out_commit(&rej) != 0)
            rc = EXIT_IO;
    } else {
        out_abort(&out);
        if (rejects_path)
            out_abort(&rej);
    }
    if (stats->header_seen && !(rc == EXIT_IO && out.sink.epipe)) {
        crest_summary_info info = {in_name, elapsed, partial};
        if (!quiet) {
            const char *notes = crest_engine_notes(engine);
            if (notes[0])
                fprintf(stderr, "note: %s", notes);
            for (size_t i = 0; i < stats->n_samples; i++)
                fprintf(stderr, "%s: %s:%lu: rejected (%s): %s\n", prog, in_name, stats->samples[i].line,
                        crest_reject_code(stats->samples[i].reason), stats->samples[i].detail);
            if (stats->rejects > stats->n_samples)
                fprintf(stderr, "%s: ... %llu rejects in all%s\n", prog, (unsigned long long)stats->rejects,
                        rejects_path ? "" : " (use --rejects FILE to keep them)");
            char *text = crest_summary_text(policy, stats, &info);
            if (text)
                fputs(text, stderr);
            free(text);
        }
        if (windows_path) {
            size_t nw;
            const crest_window_stats *w = crest_engine_windows(engine, &nw);
            char *csv = crest_summary_windows_csv(policy, w, nw);
            FILE *f = csv ? fopen(windows_path, "w") : NULL;
            if (!f || fputs(csv, f) < 0 || fclose(f) != 0) {
                fprintf(stderr, "%s: cannot write the windows to %s: %s\n", prog, windows_path,
                        strerror(errno));
                if (rc == EXIT_OK)
                    rc = EXIT_IO;
            }
            free(csv);
        }
        if (summary_path) {
            char *json = crest_summary_json(policy, stats, &info);
            FILE *f = json ? fopen(summary_path, "w") : NULL;
            if (!f || fputs(json, f) < 0 || fclose(f) != 0) {
                fprintf(stderr, "%s: cannot write the summary to %s: %s\n", prog, summary_path,
                        strerror(errno));
                if (rc == EXIT_OK)
                    rc = EXIT_IO;
            }
            free(json);
        }
    }
    crest_engine_free(engine);
    goto done_inputs;
done_outputs:
    out_abort(&out);
    if (rejects_path)
        out_abort(&rej);
done_inputs:
    if (in_fd != STDIN_FILENO)
        close(in_fd);
    crest_registry_free(registry);
    crest_policy_free(policy);
    return rc;
}

/* -------------------------------------------------------------------- fit */

typedef struct fit_ctx {
    const crest_policy *policy;
    const char *label;
    crest_lmodel_train_options opts;
    crest_lmodel_trainer *trainer;
    int label_field; /* canonical field, or -1 */
    long label_col;  /* header column, or -1 */
    uint64_t used, unlabelled, positives;
    crest_diag diag;
    int failed;
} fit_ctx;

static int fit_header(void *ctx, const crest_str *header, size_t n_cols)
{
    fit_ctx *f = ctx;
    f->label_field = crest_field_from_name(f->label, strlen(f->label));
    f->label_col = -1;
    for (size_t i = 0; i < n_cols; i++)
        if (header[i].len == strlen(f->label) && memcmp(header[i].ptr, f->label, header[i].len) == 0)
            f->label_col = (long)i;
    if (f->label_col >= 0)
        f->label_field = -1; /* an exact header name wins */
    if (crest_lmodel_trainer_create(crest_policy_model_features(f->policy), header, n_cols, &f->opts,
                                    &f->trainer, &f->diag) != CREST_OK) {
        f->failed = 1;
        return 1;
    }
    return 0;
}

static int fit_decl(void *ctx, const crest_decl *d, const crest_decision *dec, unsigned long line)
{
    (void)dec;
    (void)line;
    fit_ctx *f = ctx;
    crest_str v = {NULL, 0};
    if (f->label_col >= 0 && (size_t)f->label_col < d->n_cols)
        v = d->cols[f->label_col];
    else if (f->label_field >= 0)
        v = d->field[f->label_field];
    int label;
    if (v.len == 1 && (v.ptr[0] == '0' || v.ptr[0] == '1'))
        label = v.ptr[0] == '1';
    else if (v.len > 0 && v.len < 32) {
        char buf[32];
        memcpy(buf, v.ptr, v.len);
        buf[v.len] = '\0';
        char *end;
        double x = strtod(buf, &end);
        if (*end || x != x) {
            f->unlabelled++;
            return 0;
        }
        label = x != 0;
    } else {
        f->unlabelled++;
        return 0;
    }
    if (crest_lmodel_trainer_add(f->trainer, d, label) != CREST_OK) {
        f->failed = 1;
        snprintf(f->diag.message, sizeof f->diag.message, "out of memory collecting training rows");
        return 1;
    }
    f->used++;
    f->positives += (uint64_t)label;
    return 0;
}

static int cmd_fit(int argc, char **argv)
{
    const char *policy_path = NULL, *registry_path = NULL, *out_path = NULL, *input_path = NULL,
               *label = "illicit";
    double l2 = -1, smoothing = -1;
    long folds = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (!strcmp(a, "--policy"))
            dst = &policy_path;
        else if (!strcmp(a, "--registry"))
            dst = &registry_path;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output"))
            dst = &out_path;
        else if (!strcmp(a, "--label"))
            dst = &label;
        if (dst) {
            if (!(*dst = arg_value(argc, argv, &i, a)))
                return EXIT_USAGE;
        } else if (!strcmp(a, "--l2") || !strcmp(a, "--smoothing") || !strcmp(a, "--folds")) {
            const char *v = arg_value(argc, argv, &i, a);
            if (!v)
                return EXIT_USAGE;
            char *end;
            double x = strtod(v, &end);
            if (*end || !(x >= 0)) {
                fprintf(stderr, "%s: %s needs a non-negative number, not '%s'\n", prog, a, v);
                return EXIT_USAGE;
            }
            if (!strcmp(a, "--l2"))
                l2 = x;
            else if (!strcmp(a, "--smoothing"))
                smoothing = x;
            else
                folds = (long)x;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage_fit(stdout);
            return EXIT_OK;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "%s: unknown option '%s' (see `crest help fit`)\n", prog, a);
            return EXIT_USAGE;
        } else if (input_path) {
            fprintf(stderr, "%s: one input at a time; got '%s' and '%s'\n", prog, input_path, a);
            return EXIT_USAGE;
        } else {
            input_path = a;
        }
    }
    if (!policy_path || !out_path) {
        fprintf(stderr,
                "%s: crest fit needs --policy FILE (with a [model] section) and -o MODEL (see `crest help "
                "fit`)\n",
                prog);
        return EXIT_USAGE;
    }
    crest_policy *policy = NULL;
    crest_diag d;
    if (crest_policy_load_ex(policy_path, CREST_POLICY_SKIP_MODEL_FILE, &policy, &d) != CREST_OK) {
        print_diag(&d);
        return EXIT_CONFIG;
    }
    if (!crest_policy_model_is_logistic(policy) || !crest_policy_model_features(policy)) {
        fprintf(stderr, "%s: %s: crest fit needs [model] kind = logistic and features = ... in the policy\n",
                prog, policy_path);
        crest_policy_free(policy);
        return EXIT_CONFIG;
    }
    crest_registry *registry = NULL;
    if (load_registry(registry_path, policy, &registry) != 0) {
        crest_policy_free(policy);
        return EXIT_CONFIG;
    }
    fit_ctx f;
    memset(&f, 0, sizeof f);
    f.policy = policy;
    f.label = label;
    crest_lmodel_train_options_default(&f.opts);
    unsigned pf;
    crest_policy_fit_settings(policy, &f.opts.l2_lambda, &f.opts.smoothing, &pf);
    f.opts.folds = pf;
    if (l2 >= 0)
        f.opts.l2_lambda = l2;
    if (smoothing >= 0)
        f.opts.smoothing = smoothing;
    if (folds >= 0)
        f.opts.folds = (unsigned)folds;

    int in_fd;
    const char *in_name;
    if (open_input(input_path, "input ", &in_fd, &in_name) != 0) {
        crest_registry_free(registry);
        crest_policy_free(policy);
        return EXIT_INPUT;
    }
    crest_run_options opt = crest_run_options_default();
    opt.decide = 0;
    opt.header_hook = fit_header;
    opt.decl_hook = fit_decl;
    opt.hook_ctx = &f;
    opt.input_name = in_name;
    crest_engine *engine = NULL;
    int rc = EXIT_OK;
    const double t0 = now_s();
    if (crest_engine_create(policy, registry, &opt, &engine, &d) != CREST_OK) {
        print_diag(&d);
        rc = EXIT_CONFIG;
        goto done;
    }
    rc = feed_fd(engine, in_fd, in_name, 0);
    if (f.failed) {
        print_diag(&f.diag);
        rc = EXIT_CONFIG;
        goto done;
    }
    if (rc != EXIT_OK)
        goto done;
    const crest_run_stats *stats = crest_engine_stats(engine);
    fprintf(stderr, "crest fit: %s: rows in %llu = used %llu + without a label %llu + rejects %llu\n",
            in_name, (unsigned long long)stats->rows_in, (unsigned long long)f.used,
            (unsigned long long)f.unlabelled, (unsigned long long)stats->rejects);
    if (f.used == 0 || f.positives == 0 || f.positives == f.used) {
        fprintf(stderr, "%s: no usable labels in column '%s' (need both 0 and 1); see --label\n", prog,
                label);
        rc = EXIT_INPUT;
        goto done;
    }
    crest_lmodel *model = NULL;
    crest_lmodel_fit_report rep;
    memset(&rep, 0, sizeof rep);
    if (crest_lmodel_trainer_fit(f.trainer, &model, &rep, &d) != CREST_OK) {
        print_diag(&d);
        rc = EXIT_INPUT;
        goto done;
    }
    if (crest_lmodel_save(model, out_path, &d) != CREST_OK) {
        print_diag(&d);
        rc = EXIT_IO;
    } else {
        fprintf(stderr,
                "crest fit: %zu rows (%zu positive), %zu features, %zu Newton iterations, deviance %.2f, %s; "
                "l2 %g, smoothing %g, %u folds; %.2f s\nwrote %s\n",
                rep.n_rows, rep.n_positive, rep.n_features, rep.n_iter, rep.deviance,
                rep.converged ? "converged" : "NOT converged", f.opts.l2_lambda, f.opts.smoothing,
                f.opts.folds, now_s() - t0, out_path);
    }
    crest_lmodel_free(model);
done:
    crest_lmodel_trainer_free(f.trainer);
    crest_engine_free(engine);
    if (in_fd != STDIN_FILENO)
        close(in_fd);
    crest_registry_free(registry);
    crest_policy_free(policy);
    return rc;
}

/* -------------------------------------------------------------- calibrate */

typedef struct cal_ctx {
    crest_calibrator *cal;
    int failed;
} cal_ctx;

static int cal_decl(void *ctx, const crest_decl *d, const crest_decision *dec, unsigned long line)
{
    (void)d;
    (void)line;
    cal_ctx *c = ctx;
    if (crest_calibrator_add(c->cal, dec) != CREST_OK) {
        c->failed = 1;
        return 1;
    }
    return 0;
}

/* Fingerprint of a file: SipHash chained over fixed 64 KiB blocks. */
static int file_fingerprint(const char *path, uint64_t *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char *block = malloc(1 << 16);
    if (!block) {
        close(fd);
        return -1;
    }
    uint64_t h = 0, total = 0;
    size_t fill = 0;
    for (;;) {
        ssize_t n = read(fd, block + fill, (1 << 16) - fill);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        fill += (size_t)n;
        total += (uint64_t)n;
        if (fill == (1 << 16)) {
            h = crest_keyhash_siphash24(h, total, block, fill);
            fill = 0;
        }
    }
    h = crest_keyhash_siphash24(h, total, block, fill);
    free(block);
    close(fd);
    *out = h;
    return 0;
}

/* Run the policy over a history without deciding, collecting what calibration needs. */
static int collect_history(const crest_policy *policy, const crest_registry *registry, const char *path,
                           crest_calibrator *cal, uint64_t *rows_used)
{
    int fd;
    const char *name;
    if (open_input(path, "", &fd, &name) != 0)
        return EXIT_INPUT;
    cal_ctx c = {cal, 0};
    crest_run_options opt = crest_run_options_default();
    opt.decide = 0;
    opt.decl_hook = cal_decl;
    opt.hook_ctx = &c;
    opt.input_name = name;
    crest_engine *engine = NULL;
    crest_diag d;
    int rc;
    if (crest_engine_create(policy, registry, &opt, &engine, &d) != CREST_OK) {
        print_diag(&d);
        rc = EXIT_CONFIG;
    } else {
        rc = feed_fd(engine, fd, name, isatty(STDERR_FILENO));
        if (c.failed) {
            fprintf(stderr, "%s: out of memory collecting the history\n", prog);
            rc = EXIT_IO;
        }
        const crest_run_stats *st = crest_engine_stats(engine);
        *rows_used = st->decisions;
        if (rc == EXIT_OK)
            fprintf(stderr, "%s: rows in %llu = used %llu + rejects %llu\n", name,
                    (unsigned long long)st->rows_in, (unsigned long long)st->decisions,
                    (unsigned long long)st->rejects);
    }
    crest_engine_free(engine);
    if (fd != STDIN_FILENO)
        close(fd);
    return rc;
}

static void print_calibration(FILE *f, const crest_policy *policy, const crest_calibration_tier *ct)
{
    fprintf(f, "%-20s %9s %9s %9s %9s %12s  %s\n", "tier", "rows", "target", "forced", "expected", "scale",
            "status");
    for (size_t t = 0; t < crest_policy_tier_count(policy); t++) {
        fprintf(f, "%-20s %9llu %8.3f%% %8.3f%% %8.3f%% %12.6g  %s", crest_policy_tier_name(policy, t),
                (unsigned long long)ct[t].rows, 100 * ct[t].target, 100 * ct[t].forced_rate,
                100 * ct[t].expected, ct[t].scale, crest_calibration_status_name(ct[t].status));
        if (ct[t].status == CREST_CALIBRATION_INFEASIBLE)
            fprintf(f, ": forced and random selections alone give %.3f%%, %.3f points over the target",
                    100 * ct[t].base_rate, 100 * (ct[t].base_rate - ct[t].target));
        else if (ct[t].status == CREST_CALIBRATION_UNREACHABLE)
            fprintf(f, ": at most %.3f%% is reachable", 100 * ct[t].expected);
        fputc('\n', f);
    }
}

static int cmd_calibrate(int argc, char **argv)
{
    const char *policy_path = NULL, *registry_path = NULL, *out_path = NULL, *input_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = !strcmp(a, "--policy")                         ? &policy_path
                           : !strcmp(a, "--registry")                     ? &registry_path
                           : (!strcmp(a, "-o") || !strcmp(a, "--output")) ? &out_path
                                                                          : NULL;
        if (dst) {
            if (!(*dst = arg_value(argc, argv, &i, a)))
                return EXIT_USAGE;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage_calibrate(stdout);
            return EXIT_OK;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "%s: unknown option '%s' (see `crest help calibrate`)\n", prog, a);
            return EXIT_USAGE;
        } else if (input_path) {
            fprintf(stderr, "%s: one history at a time; got '%s' and '%s'\n", prog, input_path, a);
            return EXIT_USAGE;
        } else {
            input_path = a;
        }
    }
    if (!policy_path || !out_path || !input_path || !strcmp(input_path, "-")) {
        fprintf(stderr,
                "%s: crest calibrate needs --policy FILE, -o OUT.conf and a history file (see `crest help "
                "calibrate`)\n",
                prog);
        return EXIT_USAGE;
    }
    crest_policy *policy = NULL;
    crest_registry *registry = NULL;
    if (load_policy(policy_path, &policy) != 0)
        return EXIT_CONFIG;
    if (load_registry(registry_path, policy, &registry) != 0) {
        crest_policy_free(policy);
        return EXIT_CONFIG;
    }
    crest_calibrator *cal = NULL;
    uint64_t rows = 0, fp = 0;
    int rc = crest_calibrator_create(policy, &cal) == CREST_OK ? EXIT_OK : EXIT_IO;
    if (rc == EXIT_OK)
        rc = collect_history(policy, registry, input_path, cal, &rows);
    if (rc == EXIT_OK && file_fingerprint(input_path, &fp) != 0) {
        fprintf(stderr, "%s: cannot read %s: %s\n", prog, input_path, strerror(errno));
        rc = EXIT_INPUT;
    }
    crest_calibration_tier ct[16];
    crest_diag d;
    if (rc == EXIT_OK && crest_calibrator_solve(cal, ct, &d) != CREST_OK) {
        print_diag(&d);
        rc = EXIT_INPUT;
    }
    if (rc == EXIT_OK) {
        print_calibration(stderr, policy, ct);
        if (crest_policy_write_calibrated(policy, ct, input_path, fp, rows, out_path, &d) != CREST_OK) {
            print_diag(&d);
            rc = EXIT_IO;
        } else {
            fprintf(stderr, "wrote %s\n", out_path);
        }
    }
    crest_calibrator_free(cal);
    crest_registry_free(registry);
    crest_policy_free(policy);
    return rc;
}

/* ------------------------------------------------------------------ check */

static int cmd_check(int argc, char **argv)
{
    const char *policy_path = NULL, *registry_path = NULL, *sample_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--policy")) {
            if (!(policy_path = arg_value(argc, argv, &i, argv[i])))
                return EXIT_USAGE;
        } else if (!strcmp(argv[i], "--registry")) {
            if (!(registry_path = arg_value(argc, argv, &i, argv[i])))
                return EXIT_USAGE;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage_check(stdout);
            return EXIT_OK;
        } else if (argv[i][0] != '-' && !sample_path) {
            sample_path = argv[i];
        } else {
            fprintf(stderr, "%s: unexpected argument '%s' (see `crest help check`)\n", prog, argv[i]);
            return EXIT_USAGE;
        }
    }
    crest_policy *policy = NULL;
    crest_registry *registry = NULL;
    if (load_policy(policy_path, &policy) != 0)
        return EXIT_CONFIG;
    if (load_registry(registry_path, policy, &registry) != 0) {
        crest_policy_free(policy);
        return EXIT_CONFIG;
    }
    printf("# %s: valid. policy hash %s\n", policy_path ? policy_path : "built-in policy",
           crest_policy_hash_hex(policy));
    printf("# %-20s %10s  %s\n", "tier", "target", "kind");
    for (size_t t = 0; t < crest_policy_tier_count(policy); t++) {
        const double ratio = crest_policy_tier_ratio(policy, t);
        printf("# %-20s %9.4f%%  ", crest_policy_tier_name(policy, t),
               100 * crest_policy_tier_rate(policy, t));
        if (ratio == ratio)
            printf("%.4g x %s\n", ratio, crest_policy_tier_name(policy, crest_policy_base_tier(policy)));
        else
            printf("absolute%s\n", crest_policy_tier_is_floor(policy, t) ? " floor" : "");
    }
    if (registry)
        printf("# registry %s: %zu enterprises, %zu periods\n", registry_path,
               crest_registry_enterprises(registry), crest_registry_periods(registry));
    int rc = EXIT_OK;
    if (sample_path) {
        /* Feasibility on a sample: what criteria force, and the scale each target needs. */
        crest_calibrator *cal = NULL;
        uint64_t rows = 0;
        crest_calibration_tier ct[16];
        crest_diag d;
        if (crest_calibrator_create(policy, &cal) != CREST_OK)
            rc = EXIT_IO;
        if (rc == EXIT_OK)
            rc = collect_history(policy, registry, sample_path, cal, &rows);
        if (rc == EXIT_OK && crest_calibrator_solve(cal, ct, &d) != CREST_OK) {
            print_diag(&d);
            rc = EXIT_INPUT;
        }
        if (rc == EXIT_OK) {
            printf("# feasibility on %s (%llu declarations):\n", sample_path, (unsigned long long)rows);
            print_calibration(stdout, policy, ct);
        }
        crest_calibrator_free(cal);
    }
    printf("\n%s", crest_policy_describe(policy));
    crest_registry_free(registry);
    crest_policy_free(policy);
    return rc;
}

int main(int argc, char **argv)
{
    crest_init();
    if (argc < 2) {
        usage_main(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V") || !strcmp(cmd, "version")) {
        printf("crest %s\n", crest_version());
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        if (argc > 2 && !strcmp(argv[2], "run"))
            usage_run(stdout);
        else if (argc > 2 && !strcmp(argv[2], "check"))
            usage_check(stdout);
        else if (argc > 2 && !strcmp(argv[2], "fit"))
            usage_fit(stdout);
        else if (argc > 2 && !strcmp(argv[2], "calibrate"))
            usage_calibrate(stdout);
        else
            usage_main(stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "check"))
        return cmd_check(argc - 1, argv + 1);
    if (!strcmp(cmd, "fit"))
        return cmd_fit(argc - 1, argv + 1);
    if (!strcmp(cmd, "calibrate"))
        return cmd_calibrate(argc - 1, argv + 1);
#ifdef CREST_HAVE_REPLAY
    if (!strcmp(cmd, "replay"))
        return cmd_replay(argc - 1, argv + 1);
#endif
    fprintf(stderr, "%s: unknown command '%s'\n\n", prog, cmd);
    usage_main(stderr);
    return EXIT_USAGE;
}
