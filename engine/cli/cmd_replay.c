/*
 * cmd_replay.c — `crest replay`: run one or more policies over a labelled
 * history and report what each would have caught (crest_replay.h), or, with
 * --simulate, an online simulation in the style of the customs-selection
 * research (periods in date order, labels revealed only for inspected rows,
 * the logistic model refitted each period on what was revealed).
 *
 * The history is read once: the policies that can share a reading are fed
 * by the library's shared replay (crest_replay_multi.h: each block read once
 * and decided by all of them on --threads threads), each other policy by an
 * engine of its own fed the same chunks, so stdin works and memory does not
 * hold the raw input (the accumulators keep the ranking's 32 bytes a row in
 * a 4 MiB buffer, tied rows without revenue combined, beyond it in a
 * temporary file: crest_replay.h). The input's
 * SHA-256 is computed on a thread of its own during the reading. The
 * simulation keeps a copy of every row (it must score a period again after
 * each refit).
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
#include <pthread.h>
#include <semaphore.h>
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
#include "crest/crest_multi.h"
#include "crest/crest_replay.h"
#include "crest/crest_replay_multi.h"
#include "crest/crest_report.h"
#include "crest/crest_report_workload.h"
#include "crest/crest_simulate.h"
#include "crest/crest_digest.h"
#include "crest/crest_study.h"

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
        "               [--threads N] [--score-column COLUMN] [--decisions FILE]\n"
        "               [--no-progress] HISTORY.csv|-\n"
        "  crest replay --simulate --policy P.conf [--train TRAIN.csv] [--registry FILE]\n"
        "               [--label COLUMN] [--revenue ... as above] [--period week|Nd]\n"
        "               [--strategy model,random,logit,xgb,hybrid:S,score:COLUMN,crest]\n"
        "               [--seeds 1-20] [--rate R[,R...]] [--final-rate R1 [--decay linear|exp]\n"
        "               [--decay-periods K]] [--explore E[,E...]] [--report DIR] HISTORY.csv|-\n"
        "\n"
        "Replay answers \"what would this policy have caught, at what cost, and did the AEO\n"
        "ratio hold?\" on a history with ground-truth labels. Every policy decides every row\n"
        "of the same history (read once, each row decided by every policy); per policy, per\n"
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
        "  --threads N        deciding threads, 1 to 16 (default: the cores, at most 8): the\n"
        "                     input is read once, every policy decides each block of it, the\n"
        "                     blocks in parallel (at most 8 threads). A policy whose decisions\n"
        "                     depend on the rows before ([control], floor_period, [capacity],\n"
        "                     duplicate_ids, unknown_tier = error), or any with --workload,\n"
        "                     reads the input on its own (a note says so when others share)\n"
        "  --score-column COLUMN\n"
        "                     a score computed elsewhere (a probability in [0, 1] per row, e.g.\n"
        "                     from a model trained in Python) instead of each policy's [model]:\n"
        "                     the policy's criteria, [risk] weighting, tiers, scales and draw\n"
        "                     apply to it; empty, non-numeric or out-of-range values: no model term\n"
        "  --decisions FILE   also write every decision: policy, decl_id, period, tier,\n"
        "                     risk_score, risk_prob (when a policy's model carries a\n"
        "                     calibration), p, p_random, p_forced, u (full precision), decision,\n"
        "                     selected_by (forced, random, risk), illicit, revenue; the rows of\n"
        "                     each policy in input order, policy after policy\n"
        "  --no-progress      no progress line (it shows only when stderr is a terminal)\n"
        "  --workload         the workload per office and day of each policy: its table on\n"
        "                     stderr (as `crest run --workload`) and in the report\n"
        "                     (workload.csv, workload.json, a plot and a section of index.html)\n"
        "\n"
        "Simulation (--simulate): the history's periods (default week; --period 14d: batches\n"
        "of 14 days from the first date) in date order. The budget is set once for the whole\n"
        "horizon, ceil(sum of rate x rows), and spread over the periods by cumulative\n"
        "rounding. In each period a strategy spends its budget: the top (1 - explore) share\n"
        "by its ranking, the rest uniformly at random (keyed draw on the seed and decl_id)\n"
        "among the others; only inspected rows reveal their label. Strategies (--strategy,\n"
        "comma-separated, side by side in one run; default model):\n"
        "  model        the policy's [model] (logistic or xgboost) refitted before each\n"
        "               period on all labels revealed so far (plus --train, fully labelled)\n"
        "  logit, xgb   the same with the logistic model or XGBoost trees\n"
        "  hybrid:S     model with a fixed exploration share S (not swept)\n"
        "  score:COL    a score computed elsewhere (the input's column COL) ranks the rows\n"
        "  random       the whole budget at random\n"
        "  crest        the policy itself (tiers, [risk], its model file) as `crest run`\n"
        "               decides with [policy] seed = the run's seed; its budget is what it\n"
        "               inspects (the history must be a file)\n"
        "Without a model yet (the first period) a refit strategy draws the whole budget.\n"
        "--seeds 1-20 (or 1,4,7-9): one run per seed (default: the policy's seed); --rate\n"
        "and --explore take lists (sweeps). --rate is constant (default 0.05) unless\n"
        "--final-rate is given: the rate then goes from --rate in the first period to\n"
        "--final-rate after --decay-periods K periods (default: in the last), linearly or\n"
        "geometrically (--decay exp), and stays there. Per run, period and in total:\n"
        "precision, recall, revenue caught and its share, and the oracle-normalised\n"
        "precision and revenue, with 13-period moving averages; per strategy, rate and\n"
        "exploration the mean over the seeds with a 95%% Student t interval. The whole\n"
        "history is held in memory.\n"
        "\n"
        "Files in DIR: replay.json, periods.csv, tiers.csv, gain.csv (--simulate: simulate.csv,\n"
        "simulate_summary.csv, simulate.json), plots.gp with its .dat files, the plots, index.html.\n"
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
    if (a->simulate && (a->score_column || a->decisions)) {
        fprintf(stderr, "%s: --score-column and --decisions are for the replay, not --simulate\n", prog);
        return CLI_PARSE_ERROR;
    }
    if (!a->simulate) {
        if (a->train || a->final_rate >= 0 || a->decay_periods || a->decay_exp || a->strategies || a->seeds ||
            a->batch_days || a->n_rates > 1 || a->n_explores > 1) {
            fprintf(
                stderr,
                "%s: --train, --final-rate, --decay, --decay-periods, --strategy, --seeds, --period Nd and "
                "lists of rates or shares are for --simulate\n",
                prog);
            return CLI_PARSE_ERROR;
        }
        return CLI_PARSE_OK;
    }
    if (a->workload) {
        fprintf(stderr, "%s: --workload is for a replay of policies, not --simulate\n", prog);
        return CLI_PARSE_ERROR;
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

/* "14d" -> 14 (1 to 3660 days): 0, or -1 when text is not of that form. */
static int batch_days(const char *text, unsigned *out)
{
    char *end;
    errno = 0;
    const unsigned long n = strtoul(text, &end, 10);
    if (end == text || text[0] == '-' || errno || strcmp(end, "d") != 0 || n < 1 || n > 3660)
        return -1;
    *out = (unsigned)n;
    return 0;
}

/* A comma-separated list of numbers in [0, 1] (--rate 0.05,0.1): 0, or -1 after a message. */
static int number_list(const char *option, const char *text, double *out, size_t *n)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", text);
    *n = 0;
    for (char *save = NULL, *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (*n == CLI_MAX_SWEEP) {
            fprintf(stderr, "%s: %s takes at most %d values\n", prog, option, CLI_MAX_SWEEP);
            return -1;
        }
        if (arg_number(option, item, 0, 1, &out[(*n)++]) != 0)
            return -1;
    }
    if (*n == 0) {
        fprintf(stderr, "%s: %s needs a value\n", prog, option);
        return -1;
    }
    return 0;
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
    a->rates[0] = a->rate;
    a->explores[0] = a->explore;
    a->n_rates = a->n_explores = 1;
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
        O_SIMULATE,
        O_STRATEGY,
        O_SEEDS,
        O_THREADS,
        O_SCORE_COLUMN,
        O_DECISIONS,
        O_WORKLOAD
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
        {"strategy", required_argument, NULL, O_STRATEGY},
        {"seeds", required_argument, NULL, O_SEEDS},
        {"threads", required_argument, NULL, O_THREADS},
        {"score-column", required_argument, NULL, O_SCORE_COLUMN},
        {"decisions", required_argument, NULL, O_DECISIONS},
        {"workload", no_argument, NULL, O_WORKLOAD},
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
        case O_WORKLOAD:
            a->workload = 1;
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
        case O_SCORE_COLUMN:
            a->score_column = optarg;
            break;
        case O_DECISIONS:
            a->decisions = optarg;
            break;
        case O_PLOTS:
            if (arg_choice("--plots", optarg, plots) < 0)
                return CLI_PARSE_ERROR;
            a->plots = optarg;
            break;
        case O_PERIOD:
            a->batch_days = 0;
            if (batch_days(optarg, &a->batch_days) == 0) {
                a->period = CREST_REPLAY_PERIOD_DAY; /* the batches are counted in days */
            } else if (crest_replay_period_parse(optarg, &period) != 0) {
                fprintf(stderr,
                        "%s: --period is day, week, month, none or Nd (--simulate: N days), not '%s'\n", prog,
                        optarg);
                return CLI_PARSE_ERROR;
            } else {
                a->period = (int)period;
            }
            period_set = 1;
            break;
        case O_STRATEGY:
            a->strategies = optarg;
            break;
        case O_SEEDS:
            a->seeds = optarg;
            break;
        case O_THREADS:
            if (arg_number("--threads", optarg, 1, MAX_POLICIES, &k) != 0)
                return CLI_PARSE_ERROR;
            if (k != floor(k)) {
                fprintf(stderr, "%s: --threads takes a whole number, not '%s'\n", prog, optarg);
                return CLI_PARSE_ERROR;
            }
            a->threads = (unsigned)k;
            break;
        case O_RATE:
            if (number_list("--rate", optarg, a->rates, &a->n_rates) != 0)
                return CLI_PARSE_ERROR;
            a->rate = a->rates[0];
            break;
        case O_FINAL_RATE:
            if (arg_number("--final-rate", optarg, 0, 1, &a->final_rate) != 0)
                return CLI_PARSE_ERROR;
            break;
        case O_EXPLORE:
            if (number_list("--explore", optarg, a->explores, &a->n_explores) != 0)
                return CLI_PARSE_ERROR;
            a->explore = a->explores[0];
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

/* ---------------------------------------------------------- provenance */

/* The command line as typed (for the report's provenance block), quoted for a shell. */
static char command_line[4096];

static void keep_command_line(int argc, char **argv)
{
    size_t len = (size_t)snprintf(command_line, sizeof command_line, "crest");
    for (int i = 0; i < argc && len < sizeof command_line; i++) {
        const char *a = argv[i];
        const int plain = a[0] && strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                                            "-_./:=,+@%") == strlen(a);
        len += (size_t)snprintf(command_line + len, sizeof command_line - len, plain ? " %s" : " '", a);
        for (const char *p = a; !plain && *p && len < sizeof command_line; p++)
            len += (size_t)snprintf(command_line + len, sizeof command_line - len,
                                    *p == '\'' ? "'\\''" : "%c", *p);
        if (!plain && len < sizeof command_line)
            len += (size_t)snprintf(command_line + len, sizeof command_line - len, "'");
    }
}

/* SHA-256 of the regular file at path (cli_file_sha256); -1 for stdin. */
static int file_sha256(const char *path, char hex[CREST_SHA256_HEX])
{
    hex[0] = '\0';
    if (!path || !strcmp(path, "-"))
        return -1;
    const int fd = open(path, O_RDONLY | O_NONBLOCK); /* a FIFO: no wait for a writer */
    if (fd < 0)
        return -1;
    static const int go = 0;
    const int rc = cli_file_sha256(fd, hex, &go);
    close(fd);
    return rc;
}

/*
 * The input's SHA-256 for the provenance block, computed on a thread of its
 * own while the input is read and decided: it reads the file a second time
 * (mapped from the page cache, cli_file_sha256), so it needs no help from
 * the reading and adds no wall time when a core has room.
 */
typedef struct input_hash {
    pthread_t thread;
    int started;
    int fd;
    volatile int stop;
    int rc;
    char hex[CREST_SHA256_HEX];
} input_hash;

static void *hash_main(void *arg)
{
    input_hash *ih = arg;
    ih->rc = cli_file_sha256(ih->fd, ih->hex, &ih->stop);
    return NULL;
}

/* Start hashing fd (a regular file; else nothing starts and the hash is missing). */
static void input_hash_start(input_hash *ih, int fd)
{
    memset(ih, 0, sizeof *ih);
    ih->fd = fd;
    ih->rc = -1;
    struct stat sb;
    if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode))
        ih->started = pthread_create(&ih->thread, NULL, hash_main, ih) == 0;
}

/* Wait for the hash (abandon: stop it early). Its rc: 0 with ih->hex, or -1. */
static int input_hash_join(input_hash *ih, int abandon)
{
    if (!ih->started)
        return -1;
    if (abandon)
        ih->stop = 1;
    pthread_join(ih->thread, NULL);
    ih->started = 0;
    return ih->rc;
}

/* -------------------------------------------------------------- replay */

typedef struct pol_ctx {
    crest_policy *policy;
    crest_registry *registry;
    crest_replay *rep;
    crest_engine *engine;     /* its own engine (NULL when it shares the reading) */
    const crest_engine *view; /* its engine, own or in the shared reading: counts, diag */
    size_t shared;            /* its index in the shared reading (when engine is NULL) */
    crest_diag diag;
    int failed;
    char name[128];
    FILE *decisions; /* --decisions: this policy's rows (NULL without) */
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
        p->diag = *crest_replay_diag(p->rep); /* out of memory, or the ranking's temporary file */
        return 1;
    }
    if (p->decisions) {
        char *row = crest_replay_decision_row(p->rep, p->name, d, dec);
        if (!row || fputs(row, p->decisions) < 0) {
            p->failed = 1;
            crest_diag_set(&p->diag, row ? CREST_ERR_IO : CREST_ERR_NOMEM, "--decisions", 0, 0, "%s",
                           row ? "cannot write the decisions" : "out of memory");
        }
        free(row);
        return p->failed;
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

/*
 * --threads: the engines of the policies decide a chunk side by side, one
 * worker thread for every `threads`-th policy; the main thread reads the
 * next chunk after all have fed this one (a pair of semaphores a worker).
 * Each engine and its accumulator are touched by one thread only.
 */
typedef struct feed_pool feed_pool;

typedef struct feed_worker {
    feed_pool *pool;
    size_t first;
    pthread_t th;
    sem_t go, done;
} feed_worker;

struct feed_pool {
    feed_worker w[MAX_POLICIES];
    size_t n_workers, started;
    pol_ctx *pols;
    size_t n;
    const char *buf;
    size_t len;
    int stop;
    crest_status st[MAX_POLICIES];
};

static void *feed_worker_main(void *arg)
{
    feed_worker *w = arg;
    feed_pool *p = w->pool;
    for (;;) {
        while (sem_wait(&w->go) != 0)
            ; /* EINTR */
        if (p->stop)
            break;
        for (size_t i = w->first; i < p->n; i += p->n_workers)
            if (p->st[i] == CREST_OK && p->pols[i].engine)
                p->st[i] = crest_engine_feed(p->pols[i].engine, p->buf, p->len);
        sem_post(&w->done);
    }
    return NULL;
}

static void feed_pool_stop(feed_pool *p)
{
    p->stop = 1;
    for (size_t w = 0; w < p->started; w++)
        sem_post(&p->w[w].go);
    for (size_t w = 0; w < p->started; w++) {
        pthread_join(p->w[w].th, NULL);
        sem_destroy(&p->w[w].go);
        sem_destroy(&p->w[w].done);
    }
}

/* Start min(threads, n) workers; 0, or -1 (then feed in this thread). */
static int feed_pool_start(feed_pool *p, pol_ctx *pols, size_t n, unsigned threads)
{
    memset(p, 0, sizeof *p);
    p->pols = pols;
    p->n = n;
    p->n_workers = threads < n ? threads : n;
    if (p->n_workers < 2)
        return -1;
    for (size_t w = 0; w < p->n_workers; w++) {
        feed_worker *fw = &p->w[w];
        fw->pool = p;
        fw->first = w;
        if (sem_init(&fw->go, 0, 0) != 0)
            break;
        if (sem_init(&fw->done, 0, 0) != 0) {
            sem_destroy(&fw->go);
            break;
        }
        if (pthread_create(&fw->th, NULL, feed_worker_main, fw) != 0) {
            sem_destroy(&fw->go);
            sem_destroy(&fw->done);
            break;
        }
        p->started++;
    }
    if (p->started == p->n_workers)
        return 0;
    fprintf(stderr, "%s: cannot start the feeding threads: deciding in one thread\n", prog);
    feed_pool_stop(p);
    return -1;
}

/* Feed one chunk to every engine (through the pool when it runs); the first that failed in *bad. */
static int feed_chunk(feed_pool *pool, int pooled, pol_ctx *pols, size_t n, const char *buf, size_t len,
                      size_t *bad)
{
    if (pooled) {
        pool->buf = buf;
        pool->len = len;
        for (size_t w = 0; w < pool->n_workers; w++)
            sem_post(&pool->w[w].go);
        for (size_t w = 0; w < pool->n_workers; w++)
            while (sem_wait(&pool->w[w].done) != 0)
                ; /* EINTR */
        for (size_t i = 0; i < n; i++)
            if (pool->st[i] != CREST_OK) {
                *bad = i;
                return EXIT_INPUT;
            }
        return EXIT_OK;
    }
    for (size_t i = 0; i < n; i++)
        if (pols[i].engine && crest_engine_feed(pols[i].engine, buf, len) != CREST_OK) {
            *bad = i;
            return EXIT_INPUT;
        }
    return EXIT_OK;
}

/* $TMPDIR, or /tmp. */
static const char *temp_dir(void)
{
    const char *dir = getenv("TMPDIR");
    return dir && *dir ? dir : "/tmp";
}

/* An unlinked temporary file in $TMPDIR (tmpfile() ignores it), open for
 * writing and reading back; NULL with errno set. */
static FILE *temp_file(void)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/crest-decisions-XXXXXX", temp_dir()) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    const int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    unlink(path);
    FILE *f = fdopen(fd, "w+");
    if (!f) {
        const int e = errno;
        close(fd);
        errno = e;
    }
    return f;
}

/*
 * --decisions: the first policy's rows go straight to the file (written as one
 * transaction, like crest run's outputs), the others' to temporary files in
 * $TMPDIR appended after it at the end, so that the file holds each policy's
 * rows in input order, policy after policy, whatever the chunking of the
 * input. Returns 0, -1 with a message (close it), or -2 with a message
 * (nothing opened).
 */
static int decisions_open(pol_ctx *pols, size_t n, const char *path, cli_outputs *out)
{
    const char *paths[CLI_OUT_COUNT] = {path, NULL, NULL, NULL};
    if (cli_outputs_open(out, paths, 1) != 0)
        return -2; /* nothing to close */
    pols[0].decisions = fdopen(dup(out->f[CLI_OUT_DECISIONS].sink.fd), "w");
    if (!pols[0].decisions) {
        fprintf(stderr, "%s: cannot create the decisions file %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    for (size_t i = 1; i < n; i++)
        if (!(pols[i].decisions = temp_file())) {
            fprintf(stderr,
                    "%s: cannot create a temporary file in %s for the decisions of %s: %s "
                    "(set TMPDIR to a writable directory)\n",
                    prog, temp_dir(), pols[i].name, strerror(errno));
            return -1;
        }
    int with_prob = 0; /* a risk_prob column when any policy's model carries a calibration */
    for (size_t i = 0; i < n; i++)
        with_prob |= crest_policy_model_calibrated(pols[i].policy);
    for (size_t i = 0; i < n; i++)
        crest_replay_decisions_prob(pols[i].rep, with_prob);
    return fputs(with_prob ? crest_replay_decisions_header_prob : crest_replay_decisions_header,
                 pols[0].decisions) < 0
               ? -1
               : 0;
}

/* Append the other policies' rows and commit (ok) or remove the file: 0, or -1 with a message. */
static int decisions_close(pol_ctx *pols, size_t n, cli_outputs *out, int ok)
{
    char buf[1 << 16];
    for (size_t i = 1; i < n && ok && pols[0].decisions; i++) {
        rewind(pols[i].decisions);
        size_t got;
        while ((got = fread(buf, 1, sizeof buf, pols[i].decisions)) > 0)
            ok &= fwrite(buf, 1, got, pols[0].decisions) == got;
        ok &= !ferror(pols[i].decisions);
    }
    for (size_t i = 0; i < n; i++) {
        if (pols[i].decisions && fclose(pols[i].decisions) != 0)
            ok = 0;
        pols[i].decisions = NULL;
    }
    if (!ok)
        fprintf(stderr, "%s: cannot write the decisions file %s\n", prog, out->f[CLI_OUT_DECISIONS].path);
    if (cli_outputs_close(out, ok ? CLI_COMPLETE : CLI_OUTPUT_ERROR, 0) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

/* The policy whose engine failed first: its message (what stopped its
 * accumulator, else its engine's diagnostic); returns the exit code. */
static int engine_failure(const pol_ctx *p, const crest_replay_multi *multi)
{
    const crest_diag *hook =
        p->engine ? (p->failed ? &p->diag : NULL) : crest_replay_multi_diag(multi, p->shared);
    print_diag(hook ? hook : crest_engine_diag(p->view));
    const crest_status st = hook ? hook->status : CREST_OK;
    return st == CREST_ERR_NOMEM || st == CREST_ERR_IO ? EXIT_IO : EXIT_INPUT;
}

/* The policy of index j in the shared reading (n when none is). */
static size_t shared_policy(const pol_ctx *pols, size_t n, size_t j)
{
    for (size_t i = 0; i < n; i++)
        if (!pols[i].engine && pols[i].shared == j)
            return i;
    return n;
}

/* The shared reading as the consumer of a mapped file (cli_map_pump). */
static crest_status multi_feed_stable(void *ctx, const char *buf, size_t n)
{
    return crest_replay_multi_feed_stable(ctx, buf, n);
}

static const char *multi_floor(void *ctx)
{
    return crest_replay_multi_stable_floor(ctx);
}

static uint64_t multi_rows(void *ctx)
{
    return crest_engine_stats(crest_replay_multi_engine(ctx, 0))->rows_in;
}

/*
 * Read fd once: every chunk goes to the shared reading (multi: the policies
 * that can share one, NULL when none) and to the engine of each other policy
 * (n_own of them). A regular file that only the shared reading reads is
 * mapped and read in place (cli_map_pump: no copy out of the page cache,
 * none into a buffer); otherwise, and for the bytes after the mapping, the
 * read() loop feeds every reader. Returns an exit code.
 */
static int feed_all(pol_ctx *pols, size_t n, crest_replay_multi *multi, size_t n_own, int fd,
                    const char *name, int show_progress, unsigned threads)
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
    feed_pool pool;
    const int pooled = n_own > 1 && feed_pool_start(&pool, pols, n, threads) == 0;
    cli_mapped mapped = {0};
    const cli_map_sink sink = {multi_feed_stable, multi_floor, multi_rows, multi};
    if (regular && multi && !n_own &&
        cli_map_pump(&sink, fd, size, &mapped, show_progress, t0, &last, &bytes) != CREST_OK) {
        rc = EXIT_INPUT;
        bad = shared_policy(pols, n, crest_replay_multi_failed(multi));
    }
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
        if (got == 0) {
            if (regular && bytes < size) { /* as crest run: a file that ends early shrank */
                fprintf(stderr, "%s: %s shrank while it was read (%llu of %llu bytes): the rest is lost\n",
                        prog, name, (unsigned long long)bytes, (unsigned long long)size);
                rc = EXIT_INPUT;
            }
            break;
        }
        bytes += (uint64_t)got;
        if (multi && crest_replay_multi_feed(multi, buf, (size_t)got) != CREST_OK) {
            rc = EXIT_INPUT;
            bad = shared_policy(pols, n, crest_replay_multi_failed(multi));
            break;
        }
        if (n_own)
            rc = feed_chunk(&pool, pooled, pols, n, buf, (size_t)got, &bad);
        if (show_progress && now_s() - last > 0.2) {
            progress(t0, bytes, size, crest_engine_stats(pols[0].view)->rows_in, 0);
            last = now_s();
        }
    }
    if (pooled)
        feed_pool_stop(&pool);
    free(buf);
    if (show_progress)
        progress(t0, bytes, size, 0, 1);
    /* Interrupted: the shared reading still hands over what it has read (its
     * records wait in buffers), the cut record aside. */
    if (multi && rc == EXIT_OK &&
        (interrupted ? crest_replay_multi_finish_early(multi) : crest_replay_multi_finish(multi)) !=
            CREST_OK) {
        rc = EXIT_INPUT;
        bad = shared_policy(pols, n, crest_replay_multi_failed(multi));
    }
    if (multi && cli_map_release(&sink, fd, &mapped) && rc == EXIT_OK) {
        fprintf(stderr, "%s: %s shrank while it was read: the rest is lost\n", prog, name);
        rc = EXIT_INPUT;
    }
    for (size_t i = 0; i < n && rc == EXIT_OK && !interrupted; i++)
        if (pols[i].engine && crest_engine_finish(pols[i].engine) != CREST_OK) {
            rc = EXIT_INPUT;
            bad = i;
        }
    if (bad < n)
        return engine_failure(&pols[bad], multi);
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

/* --workload: each policy's table on stderr, then the report's workload section. */
static int replay_workload(const replay_args *a, const pol_ctx *pols, size_t n, int rc)
{
    crest_report_workload_policy wp[MAX_POLICIES];
    for (size_t i = 0; i < n; i++) {
        wp[i].name = pols[i].name;
        wp[i].policy = pols[i].policy;
        wp[i].cells = crest_engine_workload(pols[i].view, &wp[i].n_cells);
        char *text = crest_workload_text(pols[i].policy, wp[i].cells, wp[i].n_cells);
        if (text)
            fprintf(stderr, "%s: %s: %s", prog, pols[i].name, text);
        free(text);
    }
    crest_report_result res;
    memset(&res, 0, sizeof res);
    crest_diag d;
    const crest_status st = crest_report_workload(a->report, wp, n, a->plots, &res, &d);
    rc = report_outcome(st, &res, &d, a->report, 0, rc);
    if (st == CREST_OK)
        fprintf(stderr, "%s: wrote %s/workload.csv, workload.json%s and its section of index.html\n", prog,
                a->report, res.plotted ? ", the workload plots" : "");
    return rc;
}

/*
 * After the reading: every accumulator's metrics (crest_replay_finish walks
 * its ranking) are independent jobs, shared out over `threads` threads (this
 * one included).
 */
typedef struct finish_jobs {
    pol_ctx *pols;
    size_t n;
    pthread_mutex_t mu;
    size_t next; /* under mu: the next policy to finish */
    crest_status st[MAX_POLICIES];
} finish_jobs;

static void *finish_worker(void *arg)
{
    finish_jobs *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        const size_t job = j->next++;
        pthread_mutex_unlock(&j->mu);
        if (job < j->n)
            j->st[job] = crest_replay_finish(j->pols[job].rep);
        else
            return NULL;
    }
}

/* Finish every accumulator. Returns n, or the first policy whose finish
 * failed (crest_replay_diag says why). */
static size_t finish_all(pol_ctx *pols, size_t n, unsigned threads)
{
    finish_jobs j;
    memset(&j, 0, sizeof j);
    j.pols = pols;
    j.n = n;
    pthread_mutex_init(&j.mu, NULL);
    pthread_t th[MAX_POLICIES];
    size_t started = 0;
    while (started + 1 < threads && started < n && pthread_create(&th[started], NULL, finish_worker, &j) == 0)
        started++;
    finish_worker(&j);
    for (size_t t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    pthread_mutex_destroy(&j.mu);
    for (size_t i = 0; i < n; i++)
        if (j.st[i] != CREST_OK)
            return i;
    return n;
}

/* The default --threads: the cores, at most 8 (as crest run). */
static unsigned default_threads(void)
{
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores >= 8 ? 8 : cores >= 2 ? (unsigned)cores : 1;
}

/* --decisions of the shared reading: policy j's rows (the j-th sharing
 * policy's) into its decisions file. */
typedef struct shared_rows {
    pol_ctx *pol[MAX_POLICIES];
    const char *names[MAX_POLICIES];
} shared_rows;

static crest_status write_rows(void *ctx, size_t j, const char *row, size_t len, crest_diag *diag)
{
    const shared_rows *r = ctx;
    if (fwrite(row, 1, len, r->pol[j]->decisions) != len)
        return crest_diag_set(diag, CREST_ERR_IO, "--decisions", 0, 0, "cannot write the decisions");
    return CREST_OK;
}

/*
 * The policies that can share one reading of the input (crest_multi.h: their
 * decisions depend on nothing but the declaration, and they read CSV alike)
 * go into *multi (crest_replay_multi.h: it feeds their accumulators, and the
 * --decisions rows through rows); the others (and all with --workload, which
 * counts rows in order) get an engine of their own, each reading the input
 * again, which a note says when some policies do share. Returns 0, or -1
 * after a message.
 */
static int make_shared(const replay_args *a, pol_ctx *pols, size_t n, const char *in_name, unsigned threads,
                       shared_rows *rows, crest_replay_multi **multi)
{
    const crest_policy *group[MAX_POLICIES];
    crest_replay *reps[MAX_POLICIES];
    const crest_registry *regs[MAX_POLICIES];
    crest_run_options opts[MAX_POLICIES];
    size_t k = 0;
    for (size_t i = 0; i < n && !a->workload; i++) {
        group[k] = pols[i].policy;
        if (!crest_multi_can_share(group, k + 1))
            continue;
        reps[k] = pols[i].rep;
        regs[k] = pols[i].registry;
        opts[k] = crest_run_options_default();
        opts[k].input_name = in_name;
        opts[k].score_column = a->score_column;
        rows->pol[k] = &pols[i];
        rows->names[k] = pols[i].name;
        pols[i].shared = k++;
    }
    if (k == 0)
        return 0;
    const crest_replay_multi_rows with_rows = {write_rows, rows, rows->names};
    crest_diag d;
    if (crest_replay_multi_create(k, reps, regs, opts, threads > 8 ? 8 : threads,
                                  a->decisions ? &with_rows : NULL, multi, &d) != CREST_OK) {
        print_diag(&d);
        return -1;
    }
    for (size_t j = 0; j < k; j++)
        rows->pol[j]->view = crest_replay_multi_engine(*multi, j);
    for (size_t i = 0; i < n; i++)
        if (!pols[i].view)
            fprintf(stderr, "%s: %s: reads the input on its own (%s)\n", prog, pols[i].name,
                    crest_multi_can_share((const crest_policy *const *)&pols[i].policy, 1)
                        ? "its [input] delimiter or field limits differ from the other policies'"
                        : "its decisions depend on the rows before: [control], floor_period, [capacity], "
                          "duplicate_ids or unknown_tier = error");
    return 0;
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
    cli_outputs decisions;
    int have_decisions = 0;
    crest_replay_multi *multi = NULL;
    shared_rows rows;
    input_hash hash = {.started = 0};
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
        ropt.capacity = crest_policy_has_capacity(pols[i].policy);
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
    const unsigned threads = a->threads ? a->threads : default_threads();
    size_t n_own = 0;
    if (make_shared(a, pols, n, in_name, threads, &rows, &multi) != 0) {
        rc = EXIT_CONFIG;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (pols[i].view) /* in the shared reading */
            continue;
        n_own++;
        crest_run_options opt = crest_run_options_default();
        opt.decide = 0;
        opt.header_hook = rp_header;
        opt.decl_hook = rp_decl;
        opt.hook_ctx = &pols[i];
        if (crest_policy_has_capacity(pols[i].policy)) {
            opt.decide = 1;
            opt.output = (crest_sink){discard, NULL};
            opt.passthrough_override = CREST_PASSTHROUGH_NONE;
            opt.capacity_hook = rp_capacity;
        }
        opt.input_name = in_name;
        if (n == 1 && threads > 1) /* one policy on its own: parse | decide */
            opt.threads = 2;
        opt.score_column = a->score_column;
        if (a->workload)
            opt.windows = CREST_WINDOWS_WORKLOAD;
        crest_diag d;
        if (crest_engine_create(pols[i].policy, pols[i].registry, &opt, &pols[i].engine, &d) != CREST_OK) {
            print_diag(&d);
            rc = EXIT_CONFIG;
            goto done;
        }
        pols[i].view = pols[i].engine;
    }
    if (report_dir(a->report) != 0) {
        rc = EXIT_IO;
        goto done;
    }
    if (a->decisions) {
        const int opened = decisions_open(pols, n, a->decisions, &decisions);
        have_decisions = opened != -2;
        if (opened != 0) {
            rc = EXIT_IO;
            goto done;
        }
    }
    input_hash_start(&hash, fd);
    rc = feed_all(pols, n, multi, n_own, fd, in_name, !a->no_progress && isatty(STDERR_FILENO), threads);
    if (have_decisions) {
        have_decisions = 0;
        if (decisions_close(pols, n, &decisions, rc == EXIT_OK || rc == EXIT_INTERRUPTED) != 0 &&
            (rc == EXIT_OK || rc == EXIT_INTERRUPTED))
            rc = EXIT_IO;
    }
    if (rc != EXIT_OK && rc != EXIT_INTERRUPTED)
        goto done;
    const int partial = rc == EXIT_INTERRUPTED;
    const crest_replay *reps[MAX_POLICIES];
    const char *names[MAX_POLICIES];
    const size_t unfinished = finish_all(pols, n, threads);
    const int sha_rc = input_hash_join(&hash, 0);
    const char *sha = hash.hex;
    if (unfinished < n) {
        print_diag(crest_replay_diag(pols[unfinished].rep));
        rc = EXIT_IO;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        reps[i] = pols[i].rep;
        names[i] = pols[i].name;
        if (a->workload) { /* replay.json carries each policy's workload per office */
            size_t n_cells;
            const crest_workload_cell *cells = crest_engine_workload(pols[i].view, &n_cells);
            char *json = crest_workload_json(pols[i].policy, cells, n_cells);
            const crest_status wst = json ? crest_replay_workload_json(pols[i].rep, json) : CREST_ERR_NOMEM;
            free(json);
            if (wst != CREST_OK) {
                fprintf(stderr, "%s: out of memory writing the workload\n", prog);
                rc = EXIT_IO;
                goto done;
            }
        }
        const crest_run_stats *st = crest_engine_stats(pols[i].view);
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
    const crest_report_provenance prov = {command_line, sha_rc == 0 ? sha : NULL, NULL};
    const crest_status st = crest_report_replay_ex(
        a->report, &set, crest_replay_period_name((crest_replay_period)a->period), a->plots, &prov, &res, &d);
    rc = report_outcome(st, &res, &d, a->report, partial, rc);
    if (rc == EXIT_OK)
        fprintf(stderr, "%s: wrote %s/index.html, replay.json, periods.csv, tiers.csv, gain.csv%s\n", prog,
                a->report, res.plotted ? " and plots" : "");
    if (a->workload && (rc == EXIT_OK || rc == EXIT_INTERRUPTED))
        rc = replay_workload(a, pols, n, rc);
done:
    input_hash_join(&hash, 1);
    if (have_decisions)
        decisions_close(pols, n, &decisions, 0);
    crest_replay_multi_free(multi);
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
 * column resolution, rows into the simulation, and each history row's line
 * (to match the crest policy's own decisions to the rows). */
typedef struct sim_ctx {
    crest_sim *sim;
    crest_replay *rep;
    int train;
    int failed;
    uint64_t unlabelled;
    crest_diag diag;
    unsigned long *lines; /* per row added: its line in the history (0: a training row) */
    size_t n_lines, cap_lines;
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

/* Append x to a growing array of lines: 0, or -1 out of memory. */
static int push_line(unsigned long **v, size_t *n, size_t *cap, unsigned long x)
{
    if (*n == *cap) {
        const size_t nc = *cap ? 2 * *cap : 1024;
        unsigned long *q = realloc(*v, nc * sizeof *q);
        if (!q)
            return -1;
        *v = q;
        *cap = nc;
    }
    (*v)[(*n)++] = x;
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
    crest_status st = crest_sim_add(c->sim, d, y, revenue, c->train);
    if (st == CREST_OK && push_line(&c->lines, &c->n_lines, &c->cap_lines, c->train ? 0 : line) != 0)
        st = CREST_ERR_NOMEM;
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

/* What a crest policy engine of the crest strategy keeps: the lines it inspected. */
typedef struct crest_pick {
    unsigned long *lines;
    size_t n, cap;
    int failed;
} crest_pick;

static int pick_decl(void *ctx, const crest_decl *d, const crest_decision *dec, unsigned long line)
{
    (void)d;
    crest_pick *k = ctx;
    if (dec->inspect && push_line(&k->lines, &k->n, &k->cap, line) != 0) {
        k->failed = 1;
        return 1;
    }
    return 0;
}

/* The crest strategy's decide function (crest_study_decide_fn): what it reads
 * and where its exit code goes when it fails (its messages are printed). */
typedef struct crest_decide_ctx {
    const replay_args *a;
    const sim_ctx *c;
    int rc;
} crest_decide_ctx;

/*
 * The crest strategy: the policy (with its model file, tiers and [risk]) decides
 * the history as `crest run` does with [policy] seed = seed; inspect[i] = 1 for
 * every row of the simulation it inspected. Returns an exit code.
 */
static int crest_decisions(const replay_args *a, uint64_t seed, const sim_ctx *c, uint8_t *inspect)
{
    const char *const *user;
    const size_t n_user = cli_policy_sets(&user);
    const char *sets[64];
    char seed_set[64];
    if (n_user + 1 > sizeof sets / sizeof sets[0]) {
        fprintf(stderr, "%s: too many --set overrides\n", prog);
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < n_user; i++)
        sets[i] = user[i];
    snprintf(seed_set, sizeof seed_set, "policy.seed=%llu", (unsigned long long)seed);
    sets[n_user] = seed_set;
    crest_policy *policy = NULL;
    crest_registry *registry = NULL;
    crest_engine *engine = NULL;
    crest_pick pick = {NULL, 0, 0, 0};
    crest_diag d;
    int rc = EXIT_OK, fd = -1;
    const char *name;
    if (crest_policy_load_set(a->policies[0], NULL, 0, NULL, 0, sets, n_user + 1, &policy, &d) != CREST_OK) {
        print_diag(&d);
        rc = EXIT_CONFIG;
        goto done;
    }
    if (load_registry(a->registry, policy, &registry) != 0) {
        rc = EXIT_CONFIG;
        goto done;
    }
    crest_run_options opt = crest_run_options_default();
    opt.output = (crest_sink){discard, NULL};
    opt.passthrough_override = CREST_PASSTHROUGH_NONE;
    opt.decl_hook = pick_decl;
    opt.hook_ctx = &pick;
    opt.threads = 1;
    if (open_input(a->input, "", &fd, &name) != 0) {
        rc = EXIT_INPUT;
        goto done;
    }
    opt.input_name = name;
    if (crest_engine_create(policy, registry, &opt, &engine, &d) != CREST_OK) {
        print_diag(&d);
        rc = EXIT_CONFIG;
        goto done;
    }
    rc = feed_fd(engine, fd, name, 0);
    if (pick.failed) {
        fprintf(stderr, "%s: out of memory keeping the crest policy's decisions\n", prog);
        rc = EXIT_IO;
    }
    /* Both lists ascend: match the inspected lines to the history rows. */
    size_t j = 0;
    for (size_t i = 0; i < c->n_lines; i++) {
        while (j < pick.n && pick.lines[j] < c->lines[i])
            j++;
        inspect[i] = c->lines[i] && j < pick.n && pick.lines[j] == c->lines[i];
    }
done:
    crest_engine_free(engine);
    crest_registry_free(registry);
    crest_policy_free(policy);
    free(pick.lines);
    if (fd > STDIN_FILENO)
        close(fd);
    return rc;
}

/* crest_study_decide_fn of the crest strategy: crest_decisions, its exit code kept in ctx. */
static crest_status crest_decide(void *ctx, uint64_t seed, uint8_t *inspect, size_t n_rows, crest_diag *diag)
{
    crest_decide_ctx *k = ctx;
    if (n_rows != k->c->n_lines)
        return crest_diag_set(diag, CREST_ERR_MISMATCH, "<simulate>", 0, 0,
                              "the simulation holds %zu rows but %zu lines were read (a bug)", n_rows,
                              k->c->n_lines);
    k->rc = crest_decisions(k->a, seed, k->c, inspect);
    return k->rc == EXIT_OK ? CREST_OK : crest_diag_set(diag, CREST_ERR_INVALID, "", 0, 0, "%s", "");
}

/* One line per group on stderr: the totals' means (and 95% intervals over the seeds). */
static void sim_summary(const crest_study *study)
{
    const size_t np = crest_study_period_count(study);
    for (size_t g = 0; g < crest_study_group_count(study); g++) {
        size_t n;
        const crest_study_setting *s = crest_study_group_setting(study, g, &n);
        const crest_study_stat pr = crest_study_stat_at(study, g, np, CREST_STUDY_PRECISION);
        const crest_study_stat re = crest_study_stat_at(study, g, np, CREST_STUDY_RECALL);
        const crest_study_stat rv = crest_study_stat_at(study, g, np, CREST_STUDY_REVENUE_SHARE);
        const crest_study_stat in = crest_study_stat_at(study, g, np, CREST_STUDY_INSPECTED);
        fprintf(stderr, "%s: %s", prog, s->strategy);
        if (!isnan(s->rate))
            fprintf(stderr, " rate %g", s->rate);
        if (!isnan(s->explore))
            fprintf(stderr, " explore %g", s->explore);
        fprintf(stderr, " (%zu seed%s): inspected %.1f, precision %.3f", n, n == 1 ? "" : "s", in.mean,
                pr.mean);
        if (n > 1)
            fprintf(stderr, " [%.3f, %.3f]", pr.lo, pr.hi);
        fprintf(stderr, ", recall %.3f, revenue caught %.1f%%\n", re.mean, 100 * rv.mean);
    }
}

/* A usage error of --strategy or --seeds as the option's own sentence. */
static void print_option_diag(const crest_diag *d)
{
    fprintf(stderr, "%s: %s %s\n", prog, d->file, d->message);
}

static int sim_main(replay_args *a)
{
    const crest_replay_options ropt = replay_options_of(a);
    crest_policy *policy = NULL;
    crest_registry *registry = NULL;
    crest_replay *rep = NULL;
    crest_sim *sim = NULL;
    crest_study *study = NULL;
    crest_diag d;
    int rc = EXIT_OK;
    sim_ctx c;
    memset(&c, 0, sizeof c);
    crest_study_strategy strat[CREST_STUDY_MAX_STRATEGIES];
    char note[512] = "";
    static uint64_t seeds[CREST_STUDY_MAX_SEEDS];
    size_t n_strat, n_seeds = 1;
    if (crest_study_parse_strategies(a->strategies, strat, CREST_STUDY_MAX_STRATEGIES, &n_strat, &d) !=
        CREST_OK) {
        print_option_diag(&d);
        return EXIT_USAGE;
    }
    const char *const *sets;
    const size_t n_sets = cli_policy_sets(&sets);
    if (crest_policy_load_set(a->policies[0], NULL, 0, NULL, CREST_POLICY_SKIP_MODEL_FILE, sets, n_sets,
                              &policy, &d) != CREST_OK) {
        print_diag(&d);
        return EXIT_CONFIG;
    }
    seeds[0] = crest_policy_seed(policy);
    if (a->seeds &&
        crest_study_parse_seeds(a->seeds, seeds, CREST_STUDY_MAX_SEEDS, &n_seeds, &d) != CREST_OK) {
        print_option_diag(&d);
        rc = EXIT_USAGE;
        goto done;
    }
    for (size_t k = 0; k < n_strat; k++)
        if (strat[k].kind == CREST_SIM_STRATEGY_FIXED && (!a->input || !strcmp(a->input, "-"))) {
            fprintf(stderr, "%s: --strategy crest reads the history again: give it as a file, not stdin\n",
                    prog);
            rc = EXIT_USAGE;
            goto done;
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
    crest_decide_ctx decide = {a, &c, EXIT_OK};
    const crest_study_plan plan = {policy,
                                   (crest_replay_period)a->period,
                                   a->final_rate >= 0 ? a->final_rate : NAN,
                                   a->decay_exp ? CREST_SIM_DECAY_EXP : CREST_SIM_DECAY_LINEAR,
                                   a->decay_periods,
                                   strat,
                                   n_strat,
                                   a->rates,
                                   a->n_rates,
                                   a->explores,
                                   a->n_explores,
                                   seeds,
                                   n_seeds,
                                   crest_decide,
                                   &decide};
    if (crest_study_sim_create(&plan, a->batch_days, &sim, &d) != CREST_OK) {
        print_diag(&d);
        rc = EXIT_CONFIG;
        goto done;
    }
    if (crest_study_create(&study) != CREST_OK) {
        fprintf(stderr, "%s: out of memory\n", prog);
        rc = EXIT_IO;
        goto done;
    }
    if (report_dir(a->report) != 0) {
        rc = EXIT_IO;
        goto done;
    }
    const int show = !a->no_progress && isatty(STDERR_FILENO);
    c.sim = sim;
    c.rep = rep;
    c.train = 1;
    if (a->train && (rc = sim_read(policy, registry, &c, a->train, show)) != EXIT_OK)
        goto done;
    c.train = 0;
    rc = sim_read(policy, registry, &c, a->input, show);
    if (rc != EXIT_OK && rc != EXIT_INTERRUPTED)
        goto done;
    const int partial = rc == EXIT_INTERRUPTED;
    const crest_status sst = crest_study_run(study, sim, &plan, note, sizeof note, &d);
    if (sst != CREST_OK) {
        if (decide.rc != EXIT_OK) { /* the crest strategy's pass failed: its messages are printed */
            rc = decide.rc;
        } else {
            print_diag(&d);
            rc = sst == CREST_ERR_NOMEM ? EXIT_IO : EXIT_CONFIG;
        }
        goto done;
    }
    rc = EXIT_OK;
    fprintf(stderr, "%s: %zu periods, %zu runs (%zu undated rows, not simulated%s)\n", prog,
            crest_study_period_count(study), crest_study_run_count(study), crest_sim_undated_count(sim),
            c.unlabelled ? "; some rows unlabelled: counted as not illicit" : "");
    sim_summary(study);
    if (note[0])
        fprintf(stderr, "%s: note: %s\n", prog, note);
    char period[32];
    if (a->batch_days)
        snprintf(period, sizeof period, "%ud", a->batch_days);
    else
        snprintf(period, sizeof period, "%s", crest_replay_period_name(ropt.period));
    const char *in_name = a->input && strcmp(a->input, "-") ? a->input : "<stdin>";
    char sha[CREST_SHA256_HEX], seeds_text[64];
    snprintf(seeds_text, sizeof seeds_text, "%llu", (unsigned long long)seeds[0]);
    const crest_report_provenance prov = {command_line, file_sha256(a->input, sha) == 0 ? sha : NULL,
                                          a->seeds ? a->seeds : seeds_text};
    const crest_report_sim rs = {study, in_name, period, note, partial, &prov};
    crest_report_result res;
    const crest_status rst = crest_report_simulate(a->report, &rs, a->plots, &res, &d);
    rc = report_outcome(rst, &res, &d, a->report, partial, rc);
    if (rc == EXIT_OK)
        fprintf(stderr, "%s: wrote %s/index.html, simulate.csv, simulate_summary.csv, simulate.json\n", prog,
                a->report);
done:
    free(c.lines);
    crest_study_free(study);
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
    keep_command_line(argc, argv);
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
