/*
 * cmd_run.c — `crest run`: decide every declaration of a CSV input and write
 * the decisions, the rejects, the summary and the control windows. Opening
 * files, signals and the exit code are here; every decision is libcrest's.
 */
#define _GNU_SOURCE /* getopt_long, posix_fadvise */
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage_run(FILE *f)
{
    fprintf(f, "Usage: crest run [options] [INPUT|-]\n"
               "\n"
               "Decide every declaration of INPUT (a CSV file; '-' or nothing reads stdin).\n"
               "\n"
               "  --policy FILE     policy (tiers, rates, seed, column mapping); default: the\n"
               "                    built-in Order 251 policy (policies/order251.conf)\n"
               "  --set SECTION.KEY=VALUE  override a policy setting as if the file said so\n"
               "                    (repeatable; tier.REGULAR.rate=0.05, risk.gain=2,\n"
               "                    capacity.red_per_office_day=30); in the policy hash\n"
               "  --model FILE      the same as --set model.file=FILE\n"
               "  --registry FILE   enterprise credit registry CSV\n"
               "                    (enterprise_id,tier,valid_from,valid_to), joined as of each\n"
               "                    declaration's date; the lowest tier among the parties applies\n"
               "  -o, --output FILE decisions (default stdout); written to FILE.tmp.PID and renamed\n"
               "                    only when the run succeeds (see Outputs below)\n"
               "  --rejects FILE    rejected rows as CSV: line,reason,column,message,record,truncated\n"
               "                    (default: counted, and the first few described on stderr)\n"
               "  --summary FILE    the summary as JSON (the text summary always goes to stderr)\n"
               "  --windows FILE    per control window ([control] window: a day or N declarations)\n"
               "                    and tier: target, expected, realised rate with 95%% CI, whether\n"
               "                    it holds, forced and deferred counts; the AEO/regular ratio\n"
               "  --windows-by G    the --windows table by day, week (Monday to Sunday), month or\n"
               "                    office instead of the control windows (without the multiplier)\n"
               "  --workload        the workload per office and day in the summaries (text and\n"
               "                    JSON \"workload\"): per office its days, expected inspections\n"
               "                    per day (sum of P(inspect), before the capacity cap) and\n"
               "                    realised ones (after it): mean, p95, max; RED per day, the\n"
               "                    office's cap ([capacity] offices or red_per_office_day), the\n"
               "                    days the cap bound, deferred and overflow counts\n"
               "  --format FMT      csv (default) or jsonl\n"
               "  --passthrough M   input columns copied after the decision: all (default from the\n"
               "                    policy), unmapped, none\n"
               "  --reasons R       codes (default): the reasons column only; text: also a\n"
               "                    reason_text column after it (JSON: a string), the reasons in\n"
               "                    words joined by \"; \": each hit criterion with its rationale\n"
               "                    (\"Q_ANIMAL: live animals ...\"), forced draws and the model's\n"
               "                    words as in reasons\n"
               "  --threads N       1 to 8 (default: the number of cores, at most 8). With 2 or more\n"
               "                    and a policy where nothing depends on row order, N threads\n"
               "                    read and decide blocks of the input in parallel; otherwise\n"
               "                    one parses and one decides in order. The output is the same\n"
               "                    byte for byte whatever N\n"
               "  -q, --quiet       no summary or progress on stderr (errors still printed)\n"
               "  --no-progress     no progress bar (it is shown only when stderr is a terminal)\n"
               "  --max-reject-rate X  exit 3 when more than X (0 to 1) of the rows are rejected\n"
               "                    (default [input] max_reject_rate, 0.5); a run with every row\n"
               "                    rejected never exits 0. Every row is still accounted for\n"
               "  --quiet-ms MS     on a feed (pipe, socket, terminal), write what is decided once no\n"
               "                    new byte has come for MS milliseconds (default 10; 0: only when\n"
               "                    buffers fill), so a row that arrives alone is answered at once\n"
               "  --flush-every N   also write what is decided after every N input lines (line mode\n"
               "                    with 1; for tests and strict consumers)\n"
               "  --no-formula-guard  copy pass-through cells as they are; by default a cell that a\n"
               "                    spreadsheet would run as a formula (=, +, -, @ and not a\n"
               "                    number) gets a leading ' ([output] formula_guard)\n"
               "\n"
               "Output columns: decl_id, tier, tier_source (registry:enterprise_id,\n"
               "registry:declarant_id, feed, default), risk_score, risk_prob (only when the\n"
               "model carries a calibration: its probability calibrated by `crest fit`),\n"
               "p (selection probability), u (the keyed\n"
               "uniform draw; INSPECT iff u < p), decision, lane, reasons (RANDOM, TIER_FLOOR,\n"
               "TIER_UNKNOWN, MRA), reason_text (with --reasons text), priority,\n"
               "guarantee_exempt_eligible, mra_recognised, policy_hash, then the pass-through\n"
               "input columns.\n"
               "\n"
               "Outputs: -o, --rejects, --windows and --summary are one transaction. Each is\n"
               "written to FILE.tmp.PID; when the run succeeds all are renamed to their names.\n"
               "When it does not (a signal, a write error, a closed downstream, an input cut\n"
               "short), each is renamed to FILE.partial and the files of the last complete run\n"
               "stay; the summary's \"ending\" says how the run ended. A FILE.tmp.PID left by a\n"
               "process that is gone (kill -9) is removed by the next run. A path that is not\n"
               "a regular file (/dev/null, a FIFO) is written directly.\n"
               "\n"
               "Signals: SIGINT/SIGTERM stop the run: what was read is decided and written, a\n"
               "blocked output is given up within 0.1 s (a pipe is written in whole records, so\n"
               "it ends on a record boundary), exit 130. SIGHUP reloads the policy (and registry)\n"
               "between two records: checked whole first, refused if broken (the old one goes\n"
               "on), logged on stderr; each decision's policy_hash names the policy that made\n"
               "it. SIGUSR1 prints a progress line on stderr. SIGPIPE: a closed downstream ends\n"
               "the run quietly with exit 4.\n"
               "\n"
               "Exit codes: 0 ok, 1 usage, 2 policy or registry, 3 input (also an input file\n"
               "that shrinks while it is read), 4 output, 130 interrupted.\n");
}

int run_parse_args(int argc, char **argv, run_args *a)
{
    memset(a, 0, sizeof *a);
    a->opt = crest_run_options_default();
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    a->opt.threads = cores >= 8 ? 8 : cores >= 2 ? (unsigned)cores : 1;
    a->show_progress = isatty(STDERR_FILENO);
    a->max_reject_rate = NAN;
    a->quiet_ms = 10;
    a->windows_by = -1;
    enum {
        O_POLICY = 256,
        O_REGISTRY,
        O_REJECTS,
        O_SUMMARY,
        O_WINDOWS,
        O_FORMAT,
        O_PASSTHROUGH,
        O_THREADS,
        O_NO_PROGRESS,
        O_NO_GUARD,
        O_MAX_REJECT,
        O_QUIET_MS,
        O_FLUSH_EVERY,
        O_WORKLOAD,
        O_WINDOWS_BY,
        O_REASONS
    };
    static const struct option longopts[] = {
        {"policy", required_argument, NULL, O_POLICY},
        CLI_POLICY_OPTIONS,
        {"registry", required_argument, NULL, O_REGISTRY},
        {"output", required_argument, NULL, 'o'},
        {"rejects", required_argument, NULL, O_REJECTS},
        {"summary", required_argument, NULL, O_SUMMARY},
        {"windows", required_argument, NULL, O_WINDOWS},
        {"format", required_argument, NULL, O_FORMAT},
        {"passthrough", required_argument, NULL, O_PASSTHROUGH},
        {"threads", required_argument, NULL, O_THREADS},
        {"quiet", no_argument, NULL, 'q'},
        {"no-progress", no_argument, NULL, O_NO_PROGRESS},
        {"no-formula-guard", no_argument, NULL, O_NO_GUARD},
        {"max-reject-rate", required_argument, NULL, O_MAX_REJECT},
        {"quiet-ms", required_argument, NULL, O_QUIET_MS},
        {"flush-every", required_argument, NULL, O_FLUSH_EVERY},
        {"workload", no_argument, NULL, O_WORKLOAD},
        {"windows-by", required_argument, NULL, O_WINDOWS_BY},
        {"reasons", required_argument, NULL, O_REASONS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const formats[] = {"csv", "jsonl", NULL};
    static const char *const modes[] = {"all", "unmapped", "none", NULL};
    static const int mode_of[] = {CREST_PASSTHROUGH_ALL, CREST_PASSTHROUGH_UNMAPPED, CREST_PASSTHROUGH_NONE};
    int c, k;
    cli_getopt_begin();
    while ((c = cli_getopt(argc, argv, ":o:qh", longopts, "run")) != -1) {
        switch (c) {
        case O_POLICY:
            a->policy_path = optarg;
            break;
        case O_REGISTRY:
            a->registry_path = optarg;
            break;
        case 'o':
            a->out_path = optarg;
            break;
        case O_REJECTS:
            a->rejects_path = optarg;
            break;
        case O_SUMMARY:
            a->summary_path = optarg;
            break;
        case O_WINDOWS:
            a->windows_path = optarg;
            break;
        case O_FORMAT:
            if ((k = arg_choice("--format", optarg, formats)) < 0)
                return CLI_PARSE_ERROR;
            a->opt.format = k == 0 ? CREST_FORMAT_CSV : CREST_FORMAT_JSONL;
            break;
        case O_PASSTHROUGH:
            if ((k = arg_choice("--passthrough", optarg, modes)) < 0)
                return CLI_PARSE_ERROR;
            a->opt.passthrough_override = mode_of[k];
            break;
        case O_THREADS:
            if (strlen(optarg) != 1 || optarg[0] < '1' || optarg[0] > '8') {
                fprintf(stderr, "%s: --threads is a number from 1 to 8, not '%s'\n", prog, optarg);
                return CLI_PARSE_ERROR;
            }
            a->opt.threads = (unsigned)(optarg[0] - '0');
            break;
        case 'q':
            a->quiet = 1;
            break;
        case O_NO_PROGRESS:
            a->show_progress = 0;
            break;
        case O_NO_GUARD:
            a->opt.formula_guard_override = 0;
            break;
        case O_MAX_REJECT:
            a->max_reject_rate = crest_parse_number(optarg, strlen(optarg));
            if (!(a->max_reject_rate >= 0 && a->max_reject_rate <= 1)) {
                fprintf(stderr, "%s: --max-reject-rate is a number from 0 to 1, not '%s'\n", prog, optarg);
                return CLI_PARSE_ERROR;
            }
            break;
        case O_QUIET_MS:
        case O_FLUSH_EVERY: {
            double x = 0;
            const char *name = c == O_QUIET_MS ? "--quiet-ms" : "--flush-every";
            if (arg_number(name, optarg, 0, 1000000, &x) != 0)
                return CLI_PARSE_ERROR;
            if (x != (double)(long)x) {
                fprintf(stderr, "%s: %s takes a whole number, not '%s'\n", prog, name, optarg);
                return CLI_PARSE_ERROR;
            }
            if (c == O_QUIET_MS)
                a->quiet_ms = (int)x;
            else
                a->flush_every = (unsigned long)x;
            break;
        }
        case O_WORKLOAD:
            a->workload = 1;
            break;
        case O_WINDOWS_BY: {
            static const char *const groups[] = {"day", "week", "month", "office", NULL};
            crest_window_group g;
            if (arg_choice("--windows-by", optarg, groups) < 0 || crest_window_group_parse(optarg, &g) != 0)
                return CLI_PARSE_ERROR;
            a->windows_by = (int)g;
            break;
        }
        case O_REASONS: {
            static const char *const kinds[] = {"codes", "text", NULL};
            if ((k = arg_choice("--reasons", optarg, kinds)) < 0)
                return CLI_PARSE_ERROR;
            a->opt.reason_text = k == 1;
            break;
        }
        case 'h':
            usage_run(stdout);
            return CLI_PARSE_HELP;
        default:
            return CLI_PARSE_ERROR;
        }
    }
    if (optind < argc)
        a->input_path = argv[optind];
    if (argc - optind > 1) {
        fprintf(stderr, "%s: one input at a time; got '%s' and '%s'\n", prog, argv[optind], argv[optind + 1]);
        return CLI_PARSE_ERROR;
    }
    if (a->quiet)
        a->show_progress = 0;
    if (a->windows_by >= 0 && !a->windows_path) {
        fprintf(stderr, "%s: --windows-by needs --windows FILE\n", prog);
        return CLI_PARSE_ERROR;
    }
    a->opt.windows = (a->windows_path && a->windows_by < 0 ? CREST_WINDOWS_CONTROL : 0) |
                     (a->workload || a->windows_by >= 0 ? CREST_WINDOWS_WORKLOAD : 0);
    return CLI_PARSE_OK;
}

/* The notes, the sampled rejects and the text summary on stderr. */
static void report_text(const run_args *a, const crest_policy *policy, crest_engine *engine,
                        const crest_summary_info *info)
{
    const crest_run_stats *stats = crest_engine_stats(engine);
    const char *notes = crest_engine_notes(engine);
    if (notes[0])
        fprintf(stderr, "note: %s", notes);
    for (size_t i = 0; i < stats->n_samples; i++)
        fprintf(stderr, "%s: %s:%lu: rejected (%s): %s\n", prog, info->input_name, stats->samples[i].line,
                crest_reject_code(stats->samples[i].reason), stats->samples[i].detail);
    if (stats->rejects > stats->n_samples)
        fprintf(stderr, "%s: ... %llu rejects in all%s\n", prog, (unsigned long long)stats->rejects,
                a->rejects_path ? "" : " (use --rejects FILE to keep them)");
    char *text = crest_summary_text(policy, stats, info);
    if (text)
        fputs(text, stderr);
    free(text);
    if (a->workload) {
        size_t n;
        const crest_workload_cell *cells = crest_engine_workload(engine, &n);
        char *w = crest_workload_text(policy, cells, n);
        if (w)
            fprintf(stderr, "\n%s", w);
        free(w);
    }
}

/* The windows and the JSON summary into their outputs; returns rc, or EXIT_IO when one failed. */
static int report_files(const run_args *a, const crest_policy *policy, crest_engine *engine,
                        const crest_summary_info *info, cli_outputs *outs, int rc)
{
    size_t n_cells;
    const crest_workload_cell *cells = crest_engine_workload(engine, &n_cells);
    if (outs->f[CLI_OUT_WINDOWS].path) {
        size_t nw;
        const crest_window_stats *w = crest_engine_windows(engine, &nw);
        char *csv = a->windows_by >= 0 ? crest_workload_windows_csv(policy, cells, n_cells,
                                                                    (crest_window_group)a->windows_by)
                                       : crest_summary_windows_csv(policy, w, nw);
        if (cli_outputs_write_text(outs, CLI_OUT_WINDOWS, csv) != 0 && rc == EXIT_OK)
            rc = EXIT_IO;
        free(csv);
    }
    if (outs->f[CLI_OUT_SUMMARY].path) {
        char *json = crest_summary_json(policy, crest_engine_stats(engine), info);
        if (json && a->workload)
            json = cli_summary_with_workload(json, crest_workload_json(policy, cells, n_cells));
        if (cli_outputs_write_text(outs, CLI_OUT_SUMMARY, json) != 0 && rc == EXIT_OK)
            rc = EXIT_IO;
        free(json);
    }
    return rc;
}

/*
 * How the run ended, from the engine's status and the sinks: the exit code
 * and the summary's ending (messages printed here).
 */
static int run_ending(crest_engine *engine, crest_status st, int read_error, const cli_outputs *outs,
                      cli_ending *ending)
{
    *ending = CLI_COMPLETE;
    for (int k = 0; k < CLI_OUT_WINDOWS; k++) { /* the decisions, then the rejects */
        const fd_sink *s = &outs->f[k].sink;
        if (s->stopped) {
            *ending = CLI_INTERRUPTED; /* a blocked output given up on SIGINT/SIGTERM */
            return EXIT_INTERRUPTED;
        }
        if (s->epipe && k == CLI_OUT_DECISIONS) {
            *ending = CLI_DOWNSTREAM_CLOSED; /* downstream closed: stop quietly */
            return EXIT_IO;
        }
        if (s->saved_errno) {
            fprintf(stderr, "%s: writing the %s to %s failed: %s\n", prog,
                    k == CLI_OUT_DECISIONS ? "decisions" : "rejects",
                    outs->f[k].path && strcmp(outs->f[k].path, "-") ? outs->f[k].path : "standard output",
                    strerror(s->saved_errno));
            *ending = CLI_OUTPUT_ERROR;
            return EXIT_IO;
        }
    }
    if (st != CREST_OK) {
        print_diag(crest_engine_diag(engine));
        *ending = st == CREST_ERR_NOMEM || st == CREST_ERR_IO ? CLI_OUTPUT_ERROR : CLI_INPUT_ERROR;
        return exit_code_of(st, CLI_READ);
    }
    if (read_error) {
        *ending = CLI_INPUT_ERROR;
        return EXIT_INPUT;
    }
    if (interrupted) {
        *ending = CLI_INTERRUPTED; /* what was decided so far is flushed and kept as PARTIAL */
        return EXIT_INTERRUPTED;
    }
    return EXIT_OK;
}

/* SIGHUP on a running input (cli_on_reload): the policy in force, replaced whole. */
typedef struct run_reload {
    const run_args *a;
    crest_engine *engine;
    crest_policy **policy; /* the run's: the new one replaces it, the old is freed */
    crest_registry **registry;
    unsigned long done, refused;
} run_reload;

/*
 * Load the policy file again (with the command line's --set and --model) and
 * the registry, check them whole, and have the engine take them between two
 * records (crest_engine_set_policy): what was read before is decided under
 * the old policy, what comes after under the new one, and each decision's
 * policy_hash says which. A policy that fails to load, or that the running
 * input cannot follow, is refused: the old one goes on deciding. One line on
 * stderr either way, with the count so far. 0 when the new policy is in force.
 */
static int reload_policy(void *ctx)
{
    run_reload *r = ctx;
    crest_policy *policy;
    crest_registry *registry;
    crest_diag d;
    int ok = cli_load_inputs(r->a->policy_path, r->a->registry_path, &policy, &registry) == EXIT_OK;
    if (ok && crest_engine_set_policy(r->engine, policy, registry, &d) != CREST_OK) {
        print_diag(&d);
        ok = 0;
    }
    if (!ok) {
        crest_registry_free(registry);
        crest_policy_free(policy);
        fprintf(stderr, "%s: SIGHUP: reload refused (%lu so far); policy %s (%s) goes on deciding\n", prog,
                ++r->refused, crest_policy_name(*r->policy), crest_policy_hash_hex(*r->policy));
        return -1;
    }
    fprintf(stderr,
            "%s: SIGHUP: policy reloaded (%lu so far): %s (%s) -> %s (%s); records after the first %llu "
            "are decided under it\n",
            prog, ++r->done, crest_policy_name(*r->policy), crest_policy_hash_hex(*r->policy),
            crest_policy_name(policy), crest_policy_hash_hex(policy),
            (unsigned long long)crest_engine_rows_read(r->engine));
    crest_registry_free(*r->registry);
    crest_policy_free(*r->policy);
    *r->policy = policy;
    *r->registry = registry;
    return 0;
}

/* Decide the opened input into the opened outputs and close them; returns the
 * exit code. A SIGHUP may replace *policy_io and *registry_io meanwhile. */
static int run_engine(run_args *a, crest_policy **policy_io, crest_registry **registry_io, int in_fd,
                      const char *in_name, cli_outputs *outs)
{
    const crest_policy *policy = *policy_io;
    const crest_registry *registry = *registry_io;
    a->opt.output.write = fd_write;
    a->opt.output.ctx = &outs->f[CLI_OUT_DECISIONS].sink;
    if (a->rejects_path) {
        a->opt.rejects.write = fd_write;
        a->opt.rejects.ctx = &outs->f[CLI_OUT_REJECTS].sink;
    }
    a->opt.input_name = in_name;
    crest_engine *engine = NULL;
    crest_diag d;
    crest_status st = crest_engine_create(policy, registry, &a->opt, &engine, &d);
    if (st != CREST_OK) {
        print_diag(&d);
        cli_outputs_close(outs, CLI_OUTPUT_ERROR, 0);
        /* A policy's criteria or model that fails to load is a configuration error (2). */
        return exit_code_of(st, st == CREST_ERR_IO ? CLI_WRITE : CLI_LOAD);
    }
    run_reload reload = {a, engine, policy_io, registry_io, 0, 0};
    cli_on_reload(reload_policy, &reload);
    const double t0 = now_s();
    int read_error;
    st = cli_pump(engine, in_fd, in_name, a->show_progress, &read_error);
    cli_on_reload(NULL, NULL);
    policy = *policy_io; /* the one in force at the end: the summary's */
    const double elapsed = now_s() - t0;
    cli_ending ending;
    int rc = run_ending(engine, st, read_error, outs, &ending);
    /* The decisions and rejects are on disk before the summary says how the run ended. */
    if (ending != CLI_DOWNSTREAM_CLOSED && ending != CLI_OUTPUT_ERROR && cli_outputs_sync(outs) != 0) {
        ending = CLI_OUTPUT_ERROR;
        if (rc == EXIT_OK)
            rc = EXIT_IO;
    }
    const int header_seen = crest_engine_stats(engine)->header_seen;
    if (header_seen) {
        const crest_summary_info info = {in_name, elapsed, ending != CLI_COMPLETE, cli_ending_name(ending)};
        if (!a->quiet && ending != CLI_DOWNSTREAM_CLOSED)
            report_text(a, policy, engine, &info);
        rc = report_files(a, policy, engine, &info, outs, rc);
        if (rc != EXIT_OK && ending == CLI_COMPLETE)
            ending = CLI_OUTPUT_ERROR; /* the summary itself could not be written */
    }
    /* A floor tier under its floor in a calendar month of a complete run is
     * said on stderr even with -q (and in the summary's text and JSON). */
    char *floor_warning = header_seen && ending == CLI_COMPLETE
                              ? crest_summary_floor_warning(policy, crest_engine_stats(engine))
                              : NULL;
    if (floor_warning)
        fprintf(stderr, "%s: WARNING: %s\n", prog, floor_warning);
    free(floor_warning);
    crest_diag budget;
    if (rc == EXIT_OK && ending == CLI_COMPLETE &&
        crest_summary_reject_budget(policy, crest_engine_stats(engine), a->max_reject_rate, &budget) !=
            CREST_OK) {
        fprintf(stderr, "%s: %s: %s\n", prog, in_name, budget.message);
        rc = EXIT_INPUT; /* every row is accounted for and the outputs are complete */
    }
    if (cli_outputs_close(outs, ending, header_seen) != 0 && rc == EXIT_OK)
        rc = EXIT_IO;
    if (ending != CLI_COMPLETE && ending != CLI_DOWNSTREAM_CLOSED && header_seen && !a->quiet &&
        (a->out_path || a->rejects_path || a->summary_path))
        fprintf(stderr,
                "%s: %s: the outputs are kept as FILE.partial; the files of the last complete run stay\n",
                prog, cli_ending_name(ending));
    crest_engine_free(engine);
    return rc;
}

static int cmd_run(int argc, char **argv)
{
    run_args a;
    const int pr = run_parse_args(argc, argv, &a);
    if (pr != CLI_PARSE_OK)
        return pr == CLI_PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    cli_live_quiet_ms = a.quiet_ms;
    cli_live_flush_every = a.flush_every;

    crest_policy *policy;
    crest_registry *registry;
    if (cli_load_inputs(a.policy_path, a.registry_path, &policy, &registry) != EXIT_OK)
        return EXIT_CONFIG;
    /* Open the input before creating any output: a missing input leaves no files. */
    int in_fd;
    const char *in_name;
    if (open_input(a.input_path, "input ", &in_fd, &in_name) != 0) {
        crest_registry_free(registry);
        crest_policy_free(policy);
        return EXIT_INPUT;
    }
#ifdef POSIX_FADV_SEQUENTIAL
    if (in_fd != STDIN_FILENO)
        posix_fadvise(in_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    signal(SIGPIPE, SIG_IGN);
    cli_catch_signals(CLI_SIG_STOP | CLI_SIG_HUP | CLI_SIG_USR1); /* before the engine starts threads */

    const char *paths[CLI_OUT_COUNT] = {a.out_path, a.rejects_path, a.windows_path, a.summary_path};
    cli_outputs outs;
    int rc = EXIT_IO;
    if (cli_outputs_open(&outs, paths, a.opt.format == CREST_FORMAT_CSV) == 0)
        rc = run_engine(&a, &policy, &registry, in_fd, in_name, &outs);
    if (in_fd != STDIN_FILENO)
        close(in_fd);
    crest_registry_free(registry);
    crest_policy_free(policy);
    return rc;
}

const cli_command cli_cmd_run = {
    "run",
    "run   [--policy FILE] [--registry FILE] [-o FILE] [--rejects FILE]\n"
    "              [--summary FILE] [--windows FILE [--windows-by day|week|month|office]]\n"
    "              [--workload] [--format csv|jsonl] [INPUT|-]",
    "decide every declaration of a CSV feed: decisions, rejects, summary",
    cmd_run,
    usage_run,
};
