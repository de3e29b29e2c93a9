/*
 * cmd_replay.c — `crest replay`: run one or more policies over a labelled
 * history and report what each would have caught (crest_replay.h), or, with
 * --simulate, an online simulation in the style of the customs-selection
 * research (periods in date order, labels revealed only for inspected rows,
 * the logistic model refitted each period on what was revealed).
 *
 * The history is read once: every chunk is fed to one engine per policy, so
 * stdin works and memory does not hold the raw input (the accumulators hold
 * 32 bytes a row for the ranking metrics). The simulation keeps a copy of
 * every row (it must score a period again after each refit).
 *
 * Writes into the report directory: replay.json, periods.csv, tiers.csv,
 * gain.csv (with --simulate: simulate.csv, simulate.json), gnuplot scripts
 * and data, plots when gnuplot is in PATH, and index.html. No timestamps: the same inputs give the same
 * bytes.
 */
#define _GNU_SOURCE /* getopt_long */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crest/crest.h"
#include "crest/crest_lmodel.h"
#include "crest/crest_replay.h"
#include "crest/crest_report.h"
#include "crest/crest_simulate.h"

#include "cli.h"

#define MAX_POLICIES CLI_MAX_POLICIES

static void usage_replay(FILE *f)
{
    fprintf(
        f,
        "Usage:\n"
        "  crest replay [--policy A.conf [--policy B.conf ...]] [--registry FILE]\n"
        "               [--label COLUMN] [--revenue COLUMN | --revenue-rate COLUMN [--revenue-base COLUMN]]\n"
        "               [--period day|week|month|none] [--report DIR] [--plots auto|png|svg|none]\n"
        "               [--no-progress] HISTORY.csv|-\n"
        "  crest replay --simulate --policy P.conf [--train TRAIN.csv] [--registry FILE]\n"
        "               [--label COLUMN] [--revenue ... as above] [--period week]\n"
        "               [--rate R] [--final-rate R1 [--decay linear|exp] [--decay-periods K]]\n"
        "               [--explore 0.1] [--report DIR] [--plots ...] HISTORY.csv|-\n"
        "\n"
        "Replay answers \"what would this policy have caught, at what cost, and did the AEO\n"
        "ratio hold?\" on a history with ground-truth labels. Every policy decides every row\n"
        "of the same history (read once, fed to one engine per policy); per policy, per\n"
        "period and in total the report gives rows, inspections by tier and by path (forced\n"
        "by a criterion, random stream, risk), realised rates with 95%% Clopper-Pearson\n"
        "intervals, the AEO/regular ratio with its 95%% Katz interval, precision (hit rate),\n"
        "recall, revenue caught, precision/recall/revenue at 1, 2, 5, 10%% of the risk\n"
        "ranking, the lift over the random stream, illicit rows left uninspected in the AEO\n"
        "tier, and a Horvitz-Thompson estimate of the illicit rate (inspected illicit rows\n"
        "weighted 1/P(inspect)) next to the true rate. Each policy decides as `crest run`\n"
        "does, [control] and [capacity] included: selections the capacity cap defers to\n"
        "BLUE are counted as deferred, not inspected.\n"
        "\n"
        "Options:\n"
        "  --policy FILE      a policy to replay; repeat to compare (at most %d); without\n"
        "                     it, the built-in policy (as `crest run`)\n"
        "  --set SECTION.KEY=VALUE, --model FILE\n"
        "                     override every policy as if its file said so (repeatable;\n"
        "                     tier.AEO.ratio=0.25, risk.gain=2; --model = --set model.file=FILE)\n"
        "  --registry FILE    enterprise credit registry (tiers as of each date)\n"
        "  --label COLUMN     the 0/1 label: a header name or a canonical field (default illicit)\n"
        "  --revenue COLUMN   recoverable revenue of each row\n"
        "  --revenue-rate COLUMN, --revenue-base COLUMN\n"
        "                     revenue proxy: label x rate / 100 x base (base default: the\n"
        "                     declared_value field); KCS: --revenue-rate 'Tax Rate'\n"
        "  --period P         day, week (Monday to Sunday), month (default) or none\n"
        "  --report DIR       write the report there (default: replay-report)\n"
        "  --plots KIND       auto (PNG when gnuplot has pngcairo or png, else SVG), png,\n"
        "                     svg or none; without gnuplot the data and scripts are written\n"
        "  --no-progress      no progress line (it shows only when stderr is a terminal)\n"
        "\n"
        "Simulation (--simulate): the history's periods (default week) in date order; in\n"
        "each, a budget of ceil(rate x rows) inspections: the top (1 - explore) share by the\n"
        "score of a model fitted on the labels revealed so far, the rest uniformly at random\n"
        "(keyed draw on the policy seed and decl_id) among the others; only inspected rows\n"
        "reveal their label; the model ([model] features of the policy) is refitted before\n"
        "each period on all labels revealed so far (plus --train, fully labelled). Without a\n"
        "model yet (the first period) the whole budget is random. --rate is constant (default\n"
        "0.05) unless --final-rate is given: the rate then goes from --rate in the first period\n"
        "to --final-rate after --decay-periods K periods (default: in the last), linearly or\n"
        "geometrically (--decay exp), and stays there. Per period and in total: precision,\n"
        "recall, revenue caught and its share, and the oracle-normalised precision and\n"
        "revenue (divided by what a perfect selector gets with the same budget), with\n"
        "13-period moving averages. The whole history is held in memory.\n"
        "\n"
        "Files in DIR: replay.json, periods.csv, tiers.csv, gain.csv (--simulate: simulate.csv,\n"
        "simulate.json), plots.gp with its .dat files, the plots, index.html.\n"
        "The same inputs give byte-identical files. Ctrl-C writes what is done and marks the\n"
        "report partial (exit 130).\n"
        "\n"
        "Example:\n"
        "  crest replay --policy policies/kcs_logit.conf --registry kcs_registry.csv \\\n"
        "    --label Fraud --revenue-rate 'Tax Rate' --period week --report out \\\n"
        "    ../shared/data/kcs-synthetic/df_syn_valid_eng.csv\n",
        MAX_POLICIES);
}

/* ------------------------------------------------------------ options */

/* The rules between options, after parsing. */
static int replay_check_args(replay_args *a, int period_set)
{
    if (a->n_policies == 0 && a->simulate) {
        fprintf(stderr, "%s: crest replay --simulate needs a --policy FILE with [model] features\n", prog);
        return CLI_PARSE_ERROR;
    }
    if (a->n_policies == 0) { /* the built-in policy, as `crest run` without --policy */
        a->policies[0] = NULL;
        a->n_policies = 1;
    }
    if (a->revenue && a->revenue_rate) {
        fprintf(stderr, "%s: --revenue and --revenue-rate exclude each other\n", prog);
        return CLI_PARSE_ERROR;
    }
    if (a->revenue_base && !a->revenue_rate) {
        fprintf(stderr, "%s: --revenue-base needs --revenue-rate\n", prog);
        return CLI_PARSE_ERROR;
    }
    if (!a->simulate) {
        if (a->train || a->final_rate >= 0 || a->decay_periods || a->decay_exp) {
            fprintf(stderr, "%s: --train, --final-rate, --decay and --decay-periods are for --simulate\n",
                    prog);
            return CLI_PARSE_ERROR;
        }
        return CLI_PARSE_OK;
    }
    if (a->n_policies != 1) {
        fprintf(stderr, "%s: --simulate takes exactly one --policy (its [model] features are refitted)\n",
                prog);
        return CLI_PARSE_ERROR;
    }
    if (!period_set)
        a->period = CREST_REPLAY_PERIOD_WEEK;
    if (a->period == CREST_REPLAY_PERIOD_NONE) {
        fprintf(stderr, "%s: --simulate needs periods (day, week or month)\n", prog);
        return CLI_PARSE_ERROR;
    }
    if (a->final_rate < 0 && (a->decay_periods || a->decay_exp)) {
        fprintf(stderr, "%s: --decay and --decay-periods need --final-rate\n", prog);
        return CLI_PARSE_ERROR;
    }
    return CLI_PARSE_OK;
}

/* The replay options of the arguments. */
static crest_replay_options replay_options_of(const replay_args *a)
{
    crest_replay_options o = {
        (crest_replay_period)a->period, a->label, a->revenue, a->revenue_rate, a->revenue_base, 0};
    return o;
}

int replay_parse_args(int argc, char **argv, replay_args *a)
{
    memset(a, 0, sizeof *a);
    a->period = CREST_REPLAY_PERIOD_MONTH;
    a->label = "illicit";
    a->report = "replay-report";
    a->plots = "auto";
    a->rate = 0.05;
    a->final_rate = -1;
    a->explore = 0.1;
    int period_set = 0;
    enum {
        O_POLICY = 256,
        O_REGISTRY,
        O_LABEL,
        O_REVENUE,
        O_REVENUE_RATE,
        O_REVENUE_BASE,
        O_REPORT,
        O_PLOTS,
        O_TRAIN,
        O_PERIOD,
        O_RATE,
        O_FINAL_RATE,
        O_EXPLORE,
        O_DECAY,
        O_DECAY_PERIODS,
        O_NO_PROGRESS,
        O_SIMULATE
    };
    static const struct option longopts[] = {
        {"policy", required_argument, NULL, O_POLICY},
        CLI_POLICY_OPTIONS,
        {"registry", required_argument, NULL, O_REGISTRY},
        {"label", required_argument, NULL, O_LABEL},
        {"revenue", required_argument, NULL, O_REVENUE},
        {"revenue-rate", required_argument, NULL, O_REVENUE_RATE},
        {"revenue-base", required_argument, NULL, O_REVENUE_BASE},
        {"report", required_argument, NULL, O_REPORT},
        {"plots", required_argument, NULL, O_PLOTS},
        {"train", required_argument, NULL, O_TRAIN},
        {"period", required_argument, NULL, O_PERIOD},
        {"rate", required_argument, NULL, O_RATE},
        {"final-rate", required_argument, NULL, O_FINAL_RATE},
        {"explore", required_argument, NULL, O_EXPLORE},
        {"decay", required_argument, NULL, O_DECAY},
        {"decay-periods", required_argument, NULL, O_DECAY_PERIODS},
        {"no-progress", no_argument, NULL, O_NO_PROGRESS},
        {"simulate", no_argument, NULL, O_SIMULATE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const plots[] = {"auto", "png", "svg", "none", NULL};
    static const char *const decays[] = {"linear", "exp", NULL};
    crest_replay_period period;
    double k;
    int c;
    cli_getopt_begin();
    while ((c = cli_getopt(argc, argv, ":h", longopts, "replay")) != -1) {
        switch (c) {
        case 'h':
            usage_replay(stdout);
            return CLI_PARSE_HELP;
        case O_NO_PROGRESS:
            a->no_progress = 1;
            break;
        case O_SIMULATE:
            a->simulate = 1;
            break;
        case O_POLICY:
            if (a->n_policies == MAX_POLICIES) {
                fprintf(stderr, "%s: at most %d policies in one replay\n", prog, MAX_POLICIES);
                return CLI_PARSE_ERROR;
            }
            a->policies[a->n_policies++] = optarg;
            break;
        case O_REGISTRY:
            a->registry = optarg;
            break;
        case O_LABEL:
            a->label = optarg;
            break;
        case O_REVENUE:
            a->revenue = optarg;
            break;
        case O_REVENUE_RATE:
            a->revenue_rate = optarg;
            break;
        case O_REVENUE_BASE:
            a->revenue_base = optarg;
            break;
        case O_REPORT:
            a->report = optarg;
            break;
        case O_TRAIN:
            a->train = optarg;
            break;
        case O_PLOTS:
            if (arg_choice("--plots", optarg, plots) < 0)
                return CLI_PARSE_ERROR;
            a->plots = optarg;
            break;
        case O_PERIOD:
            if (crest_replay_period_parse(optarg, &period) != 0) {
                fprintf(stderr, "%s: --period is day, week, month or none, not '%s'\n", prog, optarg);
                return CLI_PARSE_ERROR;
            }
            a->period = (int)period;
            period_set = 1;
            break;
        case O_RATE:
            if (arg_number("--rate", optarg, 0, 1, &a->rate) != 0)
                return CLI_PARSE_ERROR;
            break;
        case O_FINAL_RATE:
            if (arg_number("--final-rate", optarg, 0, 1, &a->final_rate) != 0)
                return CLI_PARSE_ERROR;
            break;
        case O_EXPLORE:
            if (arg_number("--explore", optarg, 0, 1, &a->explore) != 0)
                return CLI_PARSE_ERROR;
            break;
        case O_DECAY:
            if ((a->decay_exp = arg_choice("--decay", optarg, decays)) < 0)
                return CLI_PARSE_ERROR;
            break;
        case O_DECAY_PERIODS:
            if (arg_number("--decay-periods", optarg, 1, 1e6, &k) != 0)
                return CLI_PARSE_ERROR;
            if (k != floor(k)) {
                fprintf(stderr, "%s: --decay-periods needs a whole number of periods, not '%s'\n", prog,
                        optarg);
                return CLI_PARSE_ERROR;
            }
            a->decay_periods = (unsigned)k;
            break;
        default:
            return CLI_PARSE_ERROR;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "%s: one history at a time; got '%s' and '%s'\n", prog, argv[optind],
                argv[optind + 1]);
        return CLI_PARSE_ERROR;
    }
    a->input = optind < argc ? argv[optind] : NULL;
    return replay_check_args(a, period_set);
}

/* The base name of a path without its extension ("policies/a.conf" -> "a"). */
static void base_name(const char *path, char *out, size_t cap)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(out, cap, "%s", b);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
}

/* -------------------------------------------------------------- replay */

typedef struct pol_ctx {
    crest_policy *policy;
    crest_registry *registry;
    crest_replay *rep;
    crest_engine *engine;
    crest_diag diag;
    int failed;
    char name[128];
} pol_ctx;

static int rp_header(void *ctx, const crest_str *header, size_t n_cols)
{
    pol_ctx *p = ctx;
    if (crest_replay_header(p->rep, header, n_cols, &p->diag) != CREST_OK) {
        p->failed = 1;
        return 1;
    }
    return 0;
}

static int rp_decl(void *ctx, const crest_decl *d, const crest_decision *dec, unsigned long line)
{
    (void)line;
    pol_ctx *p = ctx;
    if (crest_replay_add_decl(p->rep, d, dec) != CREST_OK) {
        p->failed = 1;
        crest_diag_set(&p->diag, CREST_ERR_NOMEM, "replay", 0, 0, "out of memory keeping the ranking");
        return 1;
    }
    return 0;
}

static int rp_capacity(void *ctx, uint64_t ordinal, crest_capacity_outcome outcome)
{
    pol_ctx *p = ctx;
    if (crest_replay_capacity(p->rep, ordinal, outcome) != CREST_OK) {
        p->failed = 1;
        crest_diag_set(&p->diag, CREST_ERR_NOMEM, "replay", 0, 0, "out of memory applying the capacity cap");
        return 1;
    }
    return 0;
}

/* The decisions of a replay with a capacity cap are rendered (the cap works on
 * the rendered day, exactly as in `crest run`) and dropped. */
static crest_status discard(void *ctx, const void *buf, size_t len)
{
    (void)ctx, (void)buf, (void)len;
    return CREST_OK;
}

/* Read fd once, feeding every chunk to every engine. Returns an exit code. */
static int feed_all(pol_ctx *pols, size_t n, int fd, const char *name, int show_progress)
{
    struct stat sb;
    const int regular = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
    const uint64_t size = regular ? (uint64_t)sb.st_size : 0;
    const double t0 = now_s();
    double last = t0;
    const size_t cap = 1 << 18;
    char *buf = malloc(cap);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_IO;
    }
    uint64_t bytes = 0;
    int rc = EXIT_OK;
    size_t bad = n;
    while (rc == EXIT_OK && !interrupted) {
        if (!regular && !cli_wait_input(fd))
            continue;
        const ssize_t got = read(fd, buf, cap);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            fprintf(stderr, "%s: cannot read %s: %s\n", prog, name, strerror(errno));
            rc = EXIT_INPUT;
            break;
        }
        if (got == 0)
            break;
        bytes += (uint64_t)got;
        for (size_t i = 0; i < n && rc == EXIT_OK; i++)
            if (crest_engine_feed(pols[i].engine, buf, (size_t)got) != CREST_OK) {
                rc = EXIT_INPUT;
                bad = i;
            }
        if (show_progress && now_s() - last > 0.2) {
            progress(t0, bytes, size, crest_engine_stats(pols[0].engine)->rows_in, 0);
            last = now_s();
        }
    }
    free(buf);
    if (show_progress)
        progress(t0, bytes, size, 0, 1);
    for (size_t i = 0; i < n && rc == EXIT_OK && !interrupted; i++)
        if (crest_engine_finish(pols[i].engine) != CREST_OK) {
            rc = EXIT_INPUT;
            bad = i;
        }
    if (bad < n) {
        if (pols[bad].failed)
            print_diag(&pols[bad].diag);
        else
            print_diag(crest_engine_diag(pols[bad].engine));
        return pols[bad].diag.status == CREST_ERR_NOMEM ? EXIT_IO : EXIT_INPUT;
    }
    return interrupted ? EXIT_INTERRUPTED : rc;
}

/* Make the report directory (message printed on failure): 0 or -1. */
static int report_dir(const char *dir)
{
    crest_diag d;
    if (crest_report_dir(dir, &d) != CREST_OK) {
        print_diag(&d);
        return -1;
    }
    return 0;
}

/* Tell what writing the report gave (notes, the first failure, PARTIAL); returns the exit code. */
static int report_outcome(crest_status st, const crest_report_result *res, const crest_diag *d,
                          const char *dir, int partial, int rc)
{
    for (const char *line = res->notes; *line;) {
        const char *end = strchr(line, '\n');
        fprintf(stderr, "%s: %.*s\n", prog, (int)(end - line), line);
        line = end + 1;
    }
    if (st != CREST_OK) {
        print_diag(d);
        if (rc == EXIT_OK)
            rc = exit_code_of(st, CLI_WRITE);
    }
    if (partial)
        fprintf(stderr, "%s: interrupted: wrote a PARTIAL report to %s (only the rows read so far)\n", prog,
                dir);
    return rc;
}

static int replay_main(replay_args *a)
{
    crest_replay_options ropt = replay_options_of(a);
    pol_ctx pols[MAX_POLICIES];
    memset(pols, 0, sizeof pols);
    const size_t n = a->n_policies;
    int rc = EXIT_OK;
    int fd = STDIN_FILENO;
    const char *in_name = "<stdin>";
    for (size_t i = 0; i < n; i++) {
        if (load_policy(a->policies[i], &pols[i].policy) != 0 ||
            load_registry(a->registry, pols[i].policy, &pols[i].registry) != 0) {
            rc = EXIT_CONFIG;
            goto done;
        }
        base_name(a->policies[i] ? a->policies[i] : crest_policy_name(pols[i].policy), pols[i].name,
                  sizeof pols[i].name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(pols[j].name, pols[i].name)) /* same base name twice: number them */
                snprintf(pols[i].name + strlen(pols[i].name), sizeof pols[i].name - strlen(pols[i].name),
                         "#%zu", i + 1);
        ropt.capacity = crest_policy_red_per_office_day(pols[i].policy) > 0;
        if (crest_replay_create(pols[i].policy, &ropt, &pols[i].rep, &pols[i].diag) != CREST_OK) {
            print_diag(&pols[i].diag);
            rc = EXIT_CONFIG;
            goto done;
        }
    }
    if (open_input(a->input, "", &fd, &in_name) != 0) {
        rc = EXIT_INPUT;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        crest_run_options opt = crest_run_options_default();
        opt.decide = 0;
        opt.header_hook = rp_header;
        opt.decl_hook = rp_decl;
        opt.hook_ctx = &pols[i];
        if (crest_policy_red_per_office_day(pols[i].policy)) {
            opt.decide = 1;
            opt.output = (crest_sink){discard, NULL};
            opt.passthrough_override = CREST_PASSTHROUGH_NONE;
            opt.capacity_hook = rp_capacity;
        }
        opt.input_name = in_name;
        crest_diag d;
        if (crest_engine_create(pols[i].policy, pols[i].registry, &opt, &pols[i].engine, &d) != CREST_OK) {
            print_diag(&d);
            rc = EXIT_CONFIG;
            goto done;
        }
    }
    if (report_dir(a->report) != 0) {
        rc = EXIT_IO;
        goto done;
    }
    rc = feed_all(pols, n, fd, in_name, !a->no_progress && isatty(STDERR_FILENO));
    if (rc != EXIT_OK && rc != EXIT_INTERRUPTED)
        goto done;
    const int partial = rc == EXIT_INTERRUPTED;
    const crest_replay *reps[MAX_POLICIES];
    const char *names[MAX_POLICIES];
    for (size_t i = 0; i < n; i++) {
        if (crest_replay_finish(pols[i].rep) != CREST_OK) {
            fprintf(stderr, "%s: out of memory computing the metrics\n", prog);
            rc = EXIT_IO;
            goto done;
        }
        reps[i] = pols[i].rep;
        names[i] = pols[i].name;
        const crest_run_stats *st = crest_engine_stats(pols[i].engine);
        const crest_replay_metrics *m = crest_replay_total(pols[i].rep);
        fprintf(
            stderr,
            "%s: %s: rows in %llu = decisions %llu + rejects %llu; inspected %llu (%.2f%%), precision %.3f, "
            "recall %.3f, revenue caught %.1f%%%s\n",
            prog, pols[i].name, (unsigned long long)st->rows_in, (unsigned long long)st->decisions,
            (unsigned long long)st->rejects, (unsigned long long)m->inspected, 100 * m->inspect_rate.estimate,
            m->precision.estimate, m->recall.estimate, 100 * m->revenue_share,
            m->unlabelled ? " (some rows unlabelled: counted as not illicit)" : "");
    }
    crest_replay_set set = {reps, names, n, in_name, partial};
    crest_report_result res;
    crest_diag d;
    const crest_status st = crest_report_replay(
        a->report, &set, crest_replay_period_name((crest_replay_period)a->period), a->plots, &res, &d);
    rc = report_outcome(st, &res, &d, a->report, partial, rc);
    if (rc == EXIT_OK)
        fprintf(stderr, "%s: wrote %s/index.html, replay.json, periods.csv, tiers.csv, gain.csv%s\n", prog,
                a->report, res.plotted ? " and plots" : "");
done:
    for (size_t i = 0; i < n; i++) {
        crest_engine_free(pols[i].engine);
        crest_replay_free(pols[i].rep);
        crest_registry_free(pols[i].registry);
        crest_policy_free(pols[i].policy);
    }
    if (fd != STDIN_FILENO)
        close(fd);
    return rc;
}

/* ------------------------------------------------------------ simulation */

/* The engine hooks of the simulation: labels through a replay accumulator's
 * column resolution, rows into the simulation. */
typedef struct sim_ctx {
    crest_sim *sim;
    crest_replay *rep;
    int train;
    int failed;
    uint64_t unlabelled;
    crest_diag diag;
} sim_ctx;

static int sim_header(void *ctx, const crest_str *header, size_t n_cols)
{
    sim_ctx *c = ctx;
    if (crest_replay_header(c->rep, header, n_cols, &c->diag) != CREST_OK ||
        crest_sim_header(c->sim, header, n_cols, &c->diag) != CREST_OK) {
        c->failed = 1;
        return 1;
    }
    return 0;
}

static int sim_decl(void *ctx, const crest_decl *d, const crest_decision *dec, unsigned long line)
{
    (void)dec;
    sim_ctx *c = ctx;
    int y;
    double revenue;
    crest_replay_read_label(c->rep, d, &y, &revenue);
    c->unlabelled += y < 0;
    const crest_status st = crest_sim_add(c->sim, d, y, revenue, c->train);
    if (st != CREST_OK) {
        c->failed = 1;
        crest_diag_set(&c->diag, st, "<simulate>", line, 0, "%s",
                       st == CREST_ERR_NOMEM ? "out of memory keeping the rows for the simulation"
                                             : "cannot keep the row for the simulation");
        return 1;
    }
    return 0;
}

/* Read one file (or stdin) through an engine into the simulation. Returns an exit code. */
static int sim_read(const crest_policy *policy, const crest_registry *registry, sim_ctx *c, const char *path,
                    int show_progress)
{
    int fd;
    const char *name;
    if (open_input(path, "", &fd, &name) != 0)
        return EXIT_INPUT;
    crest_run_options opt = crest_run_options_default();
    opt.decide = 0;
    opt.header_hook = sim_header;
    opt.decl_hook = sim_decl;
    opt.hook_ctx = c;
    opt.input_name = name;
    crest_engine *engine = NULL;
    crest_diag d;
    int rc;
    if (crest_engine_create(policy, registry, &opt, &engine, &d) != CREST_OK) {
        print_diag(&d);
        rc = EXIT_CONFIG;
    } else {
        rc = feed_fd(engine, fd, name, show_progress);
        if (c->failed) {
            print_diag(&c->diag);
            rc = c->diag.status == CREST_ERR_NOMEM ? EXIT_IO : EXIT_INPUT;
        } else if (rc == EXIT_OK || rc == EXIT_INTERRUPTED) {
            const crest_run_stats *st = crest_engine_stats(engine);
            if (st->rows_in == 0 && rc == EXIT_OK) {
                fprintf(stderr, "%s: %s: no declarations\n", prog, name);
                rc = EXIT_INPUT;
            }
            fprintf(stderr, "%s: %s: rows in %llu = kept %llu + rejects %llu%s\n", prog, name,
                    (unsigned long long)st->rows_in, (unsigned long long)st->decisions,
                    (unsigned long long)st->rejects, c->train ? " (training rows, fully labelled)" : "");
        }
    }
    crest_engine_free(engine);
    if (fd != STDIN_FILENO)
        close(fd);
    return rc;
}

static int sim_main(replay_args *a)
{
    const crest_replay_options ropt = replay_options_of(a);
    crest_policy *policy = NULL;
    crest_registry *registry = NULL;
    crest_replay *rep = NULL;
    crest_sim *sim = NULL;
    crest_diag d;
    int rc = EXIT_OK;
    char name[128];
    base_name(a->policies[0], name, sizeof name);
    const char *const *sets;
    const size_t n_sets = cli_policy_sets(&sets);
    if (crest_policy_load_set(a->policies[0], NULL, 0, NULL, CREST_POLICY_SKIP_MODEL_FILE, sets, n_sets,
                              &policy, &d) != CREST_OK) {
        print_diag(&d);
        return EXIT_CONFIG;
    }
    if (!crest_policy_model_features(policy)) {
        fprintf(stderr, "%s: %s: --simulate refits the policy's model: it needs [model] features = ...\n",
                prog, a->policies[0]);
        rc = EXIT_CONFIG;
        goto done;
    }
    if (load_registry(a->registry, policy, &registry) != 0) {
        rc = EXIT_CONFIG;
        goto done;
    }
    if (crest_replay_create(policy, &ropt, &rep, &d) != CREST_OK) {
        print_diag(&d);
        rc = EXIT_CONFIG;
        goto done;
    }
    crest_sim_options so;
    crest_sim_options_default(&so);
    so.period = (crest_replay_period)a->period;
    so.rate = a->rate;
    so.final_rate = a->final_rate >= 0 ? a->final_rate : NAN;
    so.decay = a->decay_exp ? CREST_SIM_DECAY_EXP : CREST_SIM_DECAY_LINEAR;
    so.decay_periods = a->decay_periods;
    so.explore = a->explore;
    so.seed = crest_policy_seed(policy);
    so.feature_spec = crest_policy_model_features(policy);
    crest_policy_fit_settings(policy, &so.train.l2_lambda, &so.train.smoothing, &so.train.folds);
    if (crest_policy_model_is_xgboost(policy)) /* refit the tree model, with the policy's params */
        so.tree_params = crest_policy_model_params(policy) ? crest_policy_model_params(policy) : "";
    if (crest_sim_create(&so, &sim, &d) != CREST_OK) {
        print_diag(&d);
        rc = EXIT_CONFIG;
        goto done;
    }
    if (report_dir(a->report) != 0) {
        rc = EXIT_IO;
        goto done;
    }
    const int show = !a->no_progress && isatty(STDERR_FILENO);
    sim_ctx c = {sim, rep, 1, 0, 0, {0}};
    if (a->train && (rc = sim_read(policy, registry, &c, a->train, show)) != EXIT_OK)
        goto done;
    c.train = 0;
    rc = sim_read(policy, registry, &c, a->input, show);
    if (rc != EXIT_OK && rc != EXIT_INTERRUPTED)
        goto done;
    const int partial = rc == EXIT_INTERRUPTED;
    const crest_status st = crest_sim_run(sim, &d);
    if (st != CREST_OK) {
        print_diag(&d);
        rc = st == CREST_ERR_NOMEM ? EXIT_IO : EXIT_CONFIG;
        goto done;
    }
    const crest_sim_metrics *t = crest_sim_total(sim);
    const char *in_name = a->input && strcmp(a->input, "-") ? a->input : "<stdin>";
    fprintf(
        stderr,
        "%s: %s: %zu periods, %llu rows (%zu undated, not simulated%s), inspected %llu (%.2f%%), precision "
        "%.3f (last %u-period average %.3f), recall %.3f, revenue caught %.1f%%, oracle-normalised precision "
        "%.3f and revenue %.3f\n",
        prog, name, crest_sim_period_count(sim), (unsigned long long)t->rows, crest_sim_undated_count(sim),
        c.unlabelled ? "; some rows unlabelled: counted as not illicit" : "",
        (unsigned long long)t->inspected, 100 * t->rate, t->precision, CREST_SIM_MA_WINDOW, t->ma.precision,
        t->recall, 100 * t->revenue_share, t->norm_precision, t->norm_revenue);
    if (crest_sim_note(sim)[0])
        fprintf(stderr, "%s: note: %s\n", prog, crest_sim_note(sim));
    const crest_report_sim rs = {sim,     name,          in_name,      crest_replay_period_name(ropt.period),
                                 a->rate, a->final_rate, a->decay_exp, a->explore,
                                 partial};
    crest_report_result res;
    const crest_status rst = crest_report_simulate(a->report, &rs, a->plots, &res, &d);
    rc = report_outcome(rst, &res, &d, a->report, partial, rc);
    if (rc == EXIT_OK)
        fprintf(stderr, "%s: wrote %s/index.html, simulate.csv, simulate.json%s\n", prog, a->report,
                res.plotted ? " and plots" : "");
done:
    crest_sim_free(sim);
    crest_replay_free(rep);
    crest_registry_free(registry);
    crest_policy_free(policy);
    return rc;
}

static int cmd_replay(int argc, char **argv)
{
    replay_args a;
    const int pr = replay_parse_args(argc, argv, &a);
    if (pr != CLI_PARSE_OK)
        return pr == CLI_PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    cli_catch_signals(CLI_SIG_STOP); /* before any engine starts a thread */
    return a.simulate ? sim_main(&a) : replay_main(&a);
}

const cli_command cli_cmd_replay = {
    "replay",
    "replay [--policy A.conf [--policy B.conf ...]] [--report DIR] HISTORY.csv|-",
    "what policies would have caught on a labelled history (--simulate: online)",
    cmd_replay,
    usage_replay,
};
