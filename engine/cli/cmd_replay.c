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
#include "crest/crest_simulate.h"

#include "cli.h"

#define MAX_POLICIES CLI_MAX_POLICIES
#define GAIN_POINTS 101

static void usage_replay(FILE *f)
{
    fprintf(
        f,
        "Usage:\n"
        "  crest replay --policy A.conf [--policy B.conf ...] [--registry FILE]\n"
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
        "weighted 1/P(inspect)) next to the true rate.\n"
        "\n"
        "Options:\n"
        "  --policy FILE      a policy to replay; repeat to compare (at most %d)\n"
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
    if (a->n_policies == 0) {
        fprintf(stderr, "%s: crest replay needs at least one --policy FILE (see `crest replay --help`)\n",
                prog);
        return CLI_PARSE_ERROR;
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
    crest_replay_options o = {(crest_replay_period)a->period, a->label, a->revenue, a->revenue_rate,
                              a->revenue_base};
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

/* ------------------------------------------------------- report files */

static int ensure_dir(const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: cannot create %s: %s\n", prog, dir, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "%s: %s is not a directory\n", prog, dir);
        return -1;
    }
    return 0;
}

/* Write text to DIR/NAME through a temporary file and a rename. */
static int write_file(const char *dir, const char *name, const char *text)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!text) {
        fprintf(stderr, "%s: out of memory writing %s\n", prog, path);
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, tmp, strerror(errno));
        return -1;
    }
    const size_t n = strlen(text);
    const int ok = fwrite(text, 1, n, f) == n;
    if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* A small growable string for the scripts and the HTML (CLI side). */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *s, const char *fmt, ...)
{
    if (s->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        const int n = vsnprintf(s->p ? s->p + s->len : NULL, s->p ? s->cap - s->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            s->oom = 1;
            return;
        }
        if (s->p && s->len + (size_t)n < s->cap) {
            s->len += (size_t)n;
            return;
        }
        size_t cap = s->cap ? s->cap : 4096;
        while (cap <= s->len + (size_t)n)
            cap *= 2;
        char *q = realloc(s->p, cap);
        if (!q) {
            s->oom = 1;
            return;
        }
        s->p = q;
        s->cap = cap;
    }
}

static const char *sb_text(sbuf *s)
{
    return s->oom ? NULL : s->p ? s->p : "";
}

/* HTML-escape into s. */
static void sb_html(sbuf *s, const char *t)
{
    for (; *t; t++) {
        if (*t == '<')
            sb_printf(s, "&lt;");
        else if (*t == '>')
            sb_printf(s, "&gt;");
        else if (*t == '&')
            sb_printf(s, "&amp;");
        else if (*t == '"')
            sb_printf(s, "&quot;");
        else
            sb_printf(s, "%c", *t);
    }
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

/* ---------------------------------------------------------------- gnuplot */

/* gnuplot in PATH? */
static int have_gnuplot(void)
{
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    char buf[4096];
    while (*path) {
        const char *e = strchr(path, ':');
        const size_t n = e ? (size_t)(e - path) : strlen(path);
        snprintf(buf, sizeof buf, "%.*s/gnuplot", (int)n, n ? path : ".");
        if (access(buf, X_OK) == 0)
            return 1;
        path += n + (e != NULL);
    }
    return 0;
}

/* Run gnuplot in dir with the given arguments; returns its exit status (-1 when it could not run). */
static int run_gnuplot(const char *dir, const char *script_or_e, int is_e)
{
    fflush(NULL);
    const pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (chdir(dir) != 0)
            _exit(127);
        const int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0 && is_e) {
            dup2(devnull, STDOUT_FILENO);
            dup2(devnull, STDERR_FILENO);
        }
        if (is_e)
            execlp("gnuplot", "gnuplot", "-e", script_or_e, (char *)NULL);
        else
            execlp("gnuplot", "gnuplot", script_or_e, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Pick the terminal: "pngcairo", "png" or "svg"; NULL for none. */
static const char *pick_terminal(const char *dir, const char *want, int gp)
{
    if (!strcmp(want, "none"))
        return NULL;
    if (!strcmp(want, "svg"))
        return "svg";
    if (gp && run_gnuplot(dir, "set terminal pngcairo", 1) == 0)
        return "pngcairo";
    if (gp && run_gnuplot(dir, "set terminal png", 1) == 0)
        return "png";
    if (!strcmp(want, "png") && gp) {
        fprintf(stderr, "%s: gnuplot has no PNG terminal here; writing SVG\n", prog);
        return "svg";
    }
    return gp ? "svg" : (strcmp(want, "png") ? "svg" : "pngcairo");
}

static void gp_terminal(sbuf *s, const char *term, int w, int h, const char *out)
{
    const char *ext = strcmp(term, "svg") ? "png" : "svg";
    if (!strcmp(term, "svg"))
        sb_printf(s, "set terminal svg size %d,%d dynamic font 'sans,11' background '#ffffff'\n", w, h);
    else
        sb_printf(s, "set terminal %s size %d,%d font 'sans,10'\n", term, w, h);
    sb_printf(s, "set output '%s.%s'\nset termoption noenhanced\n", out, ext);
}

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

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

/* Read fd once, feeding every chunk to every engine. Returns an exit code. */
static int feed_all(pol_ctx *pols, size_t n, int fd, const char *name, int show_progress)
{
    struct stat sb;
    const uint64_t size = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
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

static void fmt_pct(char *out, size_t cap, double x)
{
    if (isfinite(x))
        snprintf(out, cap, "%.2f%%", 100 * x);
    else
        snprintf(out, cap, "–");
}

static void fmt_ci(char *out, size_t cap, crest_interval ci)
{
    if (isfinite(ci.estimate))
        snprintf(out, cap, "%.2f%% [%.2f, %.2f]", 100 * ci.estimate, 100 * ci.lower, 100 * ci.upper);
    else
        snprintf(out, cap, "–");
}

/* Data files and gnuplot scripts for the replay plots; returns the script text. */
static char *replay_plots(const char *dir, pol_ctx *pols, size_t n, const char *term, int *ok)
{
    *ok = 1;
    sbuf gp = {0};
    const int periods = crest_replay_period_count(pols[0].rep) > 0;
    /* 1. Realised rate per tier over time, one panel per tier, CI band and target. */
    for (size_t i = 0; i < n && periods; i++) {
        const crest_replay *r = pols[i].rep;
        const size_t np = crest_replay_period_count(r), nt = crest_policy_tier_count(pols[i].policy);
        sbuf dat = {0};
        sb_printf(&dat, "# policy %s: per tier (one block each), per period: index label rate lo hi target\n",
                  pols[i].name);
        for (size_t t = 0; t < nt; t++) {
            sb_printf(&dat, "# tier %s\n", crest_policy_tier_name(pols[i].policy, t));
            for (size_t p = 0; p < np; p++) {
                const crest_replay_metrics *m = crest_replay_period_at(r, p);
                const crest_replay_tier_metrics *tm = &m->tiers[t];
                if (tm->rows == 0)
                    sb_printf(&dat, "%zu %s NaN NaN NaN %.10g\n", p, m->label, tm->target);
                else
                    sb_printf(&dat, "%zu %s %.10g %.10g %.10g %.10g\n", p, m->label, tm->rate.estimate,
                              tm->rate.lower, tm->rate.upper, tm->target);
            }
            sb_printf(&dat, "\n\n");
        }
        char fname[200];
        snprintf(fname, sizeof fname, "rates_%zu.dat", i + 1);
        if (write_file(dir, fname, sb_text(&dat)) != 0)
            *ok = 0;
        free(dat.p);
        char out[64];
        snprintf(out, sizeof out, "rates_%zu", i + 1);
        gp_terminal(&gp, term, 900, 260 * (int)nt, out);
        sb_printf(&gp,
                  "reset\nset multiplot layout %zu,1 title 'Realised inspection rate per tier: %s (95%% "
                  "Clopper-Pearson band, dashed: target)'\n",
                  nt, pols[i].name);
        sb_printf(&gp,
                  "set grid ytics\nset key top right\nset format y '%%.1f%%%%'\nset xtics rotate by 45 right "
                  "font ',8'\nset style fill transparent solid 0.25 noborder\n");
        const size_t step = np > 16 ? (np + 15) / 16 : 1;
        for (size_t t = 0; t < nt; t++) {
            const char *c = palette[t % 10];
            sb_printf(&gp, "set title '%s'\n", crest_policy_tier_name(pols[i].policy, t));
            sb_printf(
                &gp,
                "plot '%s' index %zu using 1:($4*100):($5*100) with filledcurves lc rgb '%s' title '95%% "
                "CI', "
                "'' index %zu using 1:($3*100):xtic(int($1)%%%zu==0 ? stringcolumn(2) : '') with linespoints "
                "pt 7 ps 0.5 lc rgb '%s' title 'realised', '' index %zu using 1:($6*100) with lines dt 2 lw "
                "2 "
                "lc rgb '#000000' title 'target'\n",
                fname, t, c, t, step, c, t);
        }
        sb_printf(&gp, "unset multiplot\nunset output\n");
    }
    /* 2. Cumulative revenue caught per policy. */
    if (periods) {
        sbuf dat = {0};
        sb_printf(&dat,
                  "# per policy (one block each): index period cumulative_revenue_caught cumulative_total\n");
        for (size_t i = 0; i < n; i++) {
            double cum = 0, tot = 0;
            sb_printf(&dat, "# %s\n", pols[i].name);
            for (size_t p = 0; p < crest_replay_period_count(pols[i].rep); p++) {
                const crest_replay_metrics *m = crest_replay_period_at(pols[i].rep, p);
                cum += m->revenue_caught;
                tot += m->revenue_total;
                sb_printf(&dat, "%zu %s %.10g %.10g\n", p, m->label, cum, tot);
            }
            sb_printf(&dat, "\n\n");
        }
        if (write_file(dir, "revenue.dat", sb_text(&dat)) != 0)
            *ok = 0;
        free(dat.p);
        const size_t np = crest_replay_period_count(pols[0].rep);
        const size_t step = np > 16 ? (np + 15) / 16 : 1;
        gp_terminal(&gp, term, 900, 500, "revenue");
        sb_printf(
            &gp, "reset\nset title 'Cumulative revenue caught'\nset grid\nset key top left\nset xtics rotate "
                 "by 45 right font ',8'\nset ylabel 'revenue'\nset format y '%%.3s%%c'\nplot ");
        for (size_t i = 0; i < n; i++)
            sb_printf(&gp,
                      "%s'revenue.dat' index %zu using 1:3:xtic(int($1)%%%zu==0 ? stringcolumn(2) : '') with "
                      "linespoints pt 7 ps 0.6 lw 2 lc rgb '%s' title '%s'",
                      i ? ", " : "", i, step, palette[i % 10], pols[i].name);
        sb_printf(&gp, "\nunset output\n");
    }
    /* 3. Gain curve of the risk ranking, with the random diagonal and each policy's realised point. */
    {
        sbuf dat = {0};
        sb_printf(&dat,
                  "# per policy (one block each): share_inspected share_illicit_caught share_revenue\n");
        for (size_t i = 0; i < n; i++) {
            double x[GAIN_POINTS], y[GAIN_POINTS], v[GAIN_POINTS];
            crest_replay_gain(pols[i].rep, GAIN_POINTS, x, y, v);
            sb_printf(&dat, "# %s\n", pols[i].name);
            for (size_t k = 0; k < GAIN_POINTS; k++)
                sb_printf(&dat, "%.10g %.10g %.10g\n", x[k], isnan(y[k]) ? 0 : y[k], isnan(v[k]) ? 0 : v[k]);
            sb_printf(&dat, "\n\n");
        }
        sb_printf(&dat, "# realised points: share_inspected recall\n");
        for (size_t i = 0; i < n; i++) {
            const crest_replay_metrics *m = crest_replay_total(pols[i].rep);
            sb_printf(&dat, "%.10g %.10g\n\n\n", m->inspect_rate.estimate,
                      isnan(m->recall.estimate) ? 0 : m->recall.estimate);
        }
        if (write_file(dir, "gain.dat", sb_text(&dat)) != 0)
            *ok = 0;
        free(dat.p);
        gp_terminal(&gp, term, 700, 600, "gain");
        sb_printf(&gp,
                  "reset\nset title 'Gain curve of the risk ranking (share of illicit caught vs share "
                  "inspected)'\nset grid\nset key bottom right\nset xrange [0:100]\nset yrange [0:100]\nset "
                  "xlabel 'share inspected (by descending risk score)'\nset ylabel 'share of illicit rows "
                  "caught'\nset format x '%%g%%%%'\nset format y '%%g%%%%'\nset size ratio -1\nplot x "
                  "with lines dt 2 lw 2 lc rgb '#555555' title 'random selection (diagonal)'");
        for (size_t i = 0; i < n; i++)
            sb_printf(
                &gp,
                ", 'gain.dat' index %zu using ($1*100):($2*100) with lines lw 2 lc rgb '%s' title '%s', "
                "'gain.dat' index %zu using ($1*100):($2*100) with points pt 9 ps 2 lc rgb '%s' title '%s: "
                "realised (rate, recall)'",
                i, palette[i % 10], pols[i].name, n + i, palette[i % 10], pols[i].name);
        sb_printf(&gp, "\nunset output\n");
    }
    return gp.oom ? NULL : gp.p;
}

static char *replay_html(pol_ctx *pols, size_t n, const char *input, const char *period, int partial,
                         const char *ext, int plotted)
{
    sbuf h = {0};
    sb_printf(
        &h,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>crest replay</title>\n"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:"
        "collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}"
        "td:first-child{text-align:left}</style></head><body>\n<h1>crest replay</h1>\n<p>History: <code>");
    sb_html(&h, input);
    sb_printf(&h, "</code>, period: %s.%s</p>\n", period,
              partial ? " <b>PARTIAL: the run was interrupted; the figures cover only what was read.</b>"
                      : "");
    sb_printf(
        &h,
        "<h2>Totals</h2>\n<table><tr><th>policy</th><th>rows</th><th>inspected</th><th>rate</th>"
        "<th>AEO/base ratio [95%% CI]</th><th>precision [95%% CI]</th><th>recall</th><th>revenue caught</th>"
        "<th>precision@5%%</th><th>lift vs random</th><th>illicit left in AEO</th><th>true rate</th>"
        "<th>HT estimate [95%% CI]</th></tr>\n");
    for (size_t i = 0; i < n; i++) {
        const crest_replay_metrics *m = crest_replay_total(pols[i].rep);
        char a[64], b[64], c[64], d[64], e[64], f[64], g[64], k[64];
        fmt_pct(a, sizeof a, m->inspect_rate.estimate);
        if (isfinite(m->ratio.estimate))
            snprintf(b, sizeof b, "%.3f [%.3f, %.3f]", m->ratio.estimate, m->ratio.lower, m->ratio.upper);
        else
            snprintf(b, sizeof b, "–");
        fmt_ci(c, sizeof c, m->precision);
        fmt_pct(d, sizeof d, m->recall.estimate);
        fmt_pct(e, sizeof e, m->revenue_share);
        fmt_pct(f, sizeof f, m->at_precision[2]);
        fmt_pct(g, sizeof g, m->true_rate.estimate);
        fmt_ci(k, sizeof k, m->ht_rate);
        sb_printf(&h, "<tr><td>");
        sb_html(&h, pols[i].name);
        sb_printf(&h,
                  "</td><td>%llu</td><td>%llu</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</"
                  "td><td>%s</td>"
                  "<td>%.2f</td><td>%llu</td><td>%s</td><td>%s</td></tr>\n",
                  (unsigned long long)m->rows, (unsigned long long)m->inspected, a, b, c, d, e, f,
                  m->lift_random, (unsigned long long)m->aeo_missed_illicit, g, k);
    }
    sb_printf(
        &h,
        "</table>\n<p>Precision = illicit among inspected; recall = share of illicit rows inspected; "
        "revenue caught = share of recoverable revenue on inspected rows; lift = precision / precision of "
        "the random stream (rows with u &lt; p_random); HT = Horvitz-Thompson estimate of the illicit rate "
        "from inspected rows weighted 1/P(inspect), next to the true rate of the labels.</p>\n");
    if (plotted) {
        sb_printf(&h, "<h2>Realised rate per tier</h2>\n");
        for (size_t i = 0; i < n && crest_replay_period_count(pols[i].rep); i++)
            sb_printf(&h, "<p><img src=\"rates_%zu.%s\" alt=\"realised rate per tier, policy %zu\"></p>\n",
                      i + 1, ext, i + 1);
        if (crest_replay_period_count(pols[0].rep))
            sb_printf(&h,
                      "<h2>Cumulative revenue caught</h2>\n<p><img src=\"revenue.%s\" alt=\"cumulative "
                      "revenue caught\"></p>\n",
                      ext);
        sb_printf(&h, "<h2>Gain curve</h2>\n<p><img src=\"gain.%s\" alt=\"gain curve\"></p>\n", ext);
    } else {
        sb_printf(&h, "<p>No plots: gnuplot was not run (see plots.gp and the .dat files).</p>\n");
    }
    sb_printf(&h,
              "<h2>Data</h2>\n<ul><li><a href=\"replay.json\">replay.json</a>: everything</li><li><a "
              "href=\"periods.csv\">periods.csv</a>: per policy and period, and the total</li><li><a "
              "href=\"tiers.csv\">tiers.csv</a>: per tier</li><li><a href=\"gain.csv\">gain.csv</a>: gain "
              "curves</li></ul>\n</body></html>\n");
    return h.oom ? NULL : h.p;
}

static char *gain_csv(pol_ctx *pols, size_t n)
{
    sbuf s = {0};
    sb_printf(&s, "policy,share_inspected,share_illicit,share_revenue\n");
    for (size_t i = 0; i < n; i++) {
        double x[GAIN_POINTS], y[GAIN_POINTS], v[GAIN_POINTS];
        crest_replay_gain(pols[i].rep, GAIN_POINTS, x, y, v);
        for (size_t k = 0; k < GAIN_POINTS; k++) {
            sb_printf(&s, "%s,%.10g,", pols[i].name, x[k]);
            if (isfinite(y[k]))
                sb_printf(&s, "%.10g", y[k]);
            sb_printf(&s, ",");
            if (isfinite(v[k]))
                sb_printf(&s, "%.10g", v[k]);
            sb_printf(&s, "\n");
        }
    }
    return s.oom ? NULL : s.p;
}

/* Write the plot scripts, run gnuplot when asked and present. Returns 1 when plots were made. */
static int make_plots(const char *dir, const char *want, char *script)
{
    const int gp = have_gnuplot();
    if (!script)
        return 0;
    if (write_file(dir, "plots.gp", script) != 0)
        return 0;
    if (!strcmp(want, "none"))
        return 0;
    if (!gp) {
        fprintf(stderr,
                "%s: gnuplot not found in PATH: wrote the data and plots.gp to %s but no plots "
                "(apt-get install gnuplot-nox, then `cd %s && gnuplot plots.gp`)\n",
                prog, dir, dir);
        return 0;
    }
    const int rc = run_gnuplot(dir, "plots.gp", 0);
    if (rc != 0) {
        fprintf(stderr, "%s: gnuplot failed (exit %d) on %s/plots.gp; the data files are there\n", prog, rc,
                dir);
        return 0;
    }
    return 1;
}

static int replay_main(replay_args *a)
{
    const crest_replay_options ropt = replay_options_of(a);
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
        base_name(a->policies[i], pols[i].name, sizeof pols[i].name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(pols[j].name, pols[i].name)) /* same base name twice: number them */
                snprintf(pols[i].name + strlen(pols[i].name), sizeof pols[i].name - strlen(pols[i].name),
                         "#%zu", i + 1);
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
        opt.input_name = in_name;
        crest_diag d;
        if (crest_engine_create(pols[i].policy, pols[i].registry, &opt, &pols[i].engine, &d) != CREST_OK) {
            print_diag(&d);
            rc = EXIT_CONFIG;
            goto done;
        }
    }
    if (ensure_dir(a->report) != 0) {
        rc = EXIT_IO;
        goto done;
    }
    cli_catch_signals();
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
    char *t1 = crest_replay_json(&set), *t2 = crest_replay_csv_periods(&set),
         *t3 = crest_replay_csv_tiers(&set), *t4 = gain_csv(pols, n);
    int wrc = write_file(a->report, "replay.json", t1) | write_file(a->report, "periods.csv", t2) |
              write_file(a->report, "tiers.csv", t3) | write_file(a->report, "gain.csv", t4);
    free(t1), free(t2), free(t3), free(t4);
    const char *term = pick_terminal(a->report, a->plots, have_gnuplot());
    int plotted = 0;
    if (term) {
        int ok;
        char *script = replay_plots(a->report, pols, n, term, &ok);
        plotted = make_plots(a->report, a->plots, script);
        free(script);
        if (!ok)
            wrc = -1;
    }
    char *html = replay_html(pols, n, in_name, crest_replay_period_name((crest_replay_period)a->period),
                             partial, term && strcmp(term, "svg") ? "png" : "svg", plotted);
    wrc |= write_file(a->report, "index.html", html);
    free(html);
    if (wrc != 0 && rc == EXIT_OK)
        rc = EXIT_IO;
    if (partial)
        fprintf(stderr, "%s: interrupted: wrote a PARTIAL report to %s (only the rows read so far)\n", prog,
                a->report);
    else if (rc == EXIT_OK)
        fprintf(stderr, "%s: wrote %s/index.html, replay.json, periods.csv, tiers.csv, gain.csv%s\n", prog,
                a->report, plotted ? " and plots" : "");
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

/* The simulation's plot: precision and oracle-normalised revenue per period with their moving averages. */
static char *sim_plots(const char *dir, const crest_sim *sim, const char *name, const char *term, int *ok)
{
    *ok = 1;
    const size_t np = crest_sim_period_count(sim);
    sbuf dat = {0}, gp = {0};
    sb_printf(&dat, "# index period precision ma_precision norm_revenue ma_norm_revenue norm_precision "
                    "ma_norm_precision rate\n");
    for (size_t p = 0; p < np; p++) {
        const crest_sim_metrics *m = crest_sim_period_at(sim, p);
        const double v[] = {m->precision,      m->ma.precision,      m->norm_revenue, m->ma.norm_revenue,
                            m->norm_precision, m->ma.norm_precision, m->rate};
        sb_printf(&dat, "%zu %s", p, m->label);
        for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
            sb_printf(&dat, isfinite(v[k]) ? " %.10g" : " NaN", v[k]);
        sb_printf(&dat, "\n");
    }
    if (write_file(dir, "simulate.dat", sb_text(&dat)) != 0)
        *ok = 0;
    free(dat.p);
    const size_t step = np > 16 ? (np + 15) / 16 : 1;
    gp_terminal(&gp, term, 900, 700, "simulate");
    sb_printf(&gp,
              "reset\nset multiplot layout 2,1 title 'Online simulation: %s (points: per period, line: "
              "moving average)'\nset grid\nset key top right\nset yrange [0:*]\nset xtics rotate by 45 "
              "right font ',8'\n",
              name);
    sb_printf(&gp,
              "set title 'Precision (hit rate of the inspected rows)'\nplot 'simulate.dat' using "
              "1:3:xtic(int($1)%%%zu"
              "==0 ? stringcolumn(2) : '') with points pt 7 ps 0.6 lc rgb '%s' title 'precision', '' using "
              "1:4 with "
              "lines lw 2 lc rgb '%s' title 'moving average'\n",
              step, palette[0], palette[0]);
    sb_printf(
        &gp,
        "set title 'Revenue caught / what a perfect selector catches with the same budget'\nplot "
        "'simulate.dat' using 1:5:xtic(int($1)%%%zu==0 ? stringcolumn(2) : '') with points pt 7 ps 0.6 lc "
        "rgb "
        "'%s' title 'oracle-normalised revenue', '' using 1:6 with lines lw 2 lc rgb '%s' title 'moving "
        "average'\nunset multiplot\nunset output\n",
        step, palette[1], palette[1]);
    return gp.oom ? NULL : gp.p;
}

static void html_num(sbuf *h, const char *fmt, double x)
{
    if (isfinite(x))
        sb_printf(h, fmt, x);
    else
        sb_printf(h, "–");
}

static void sim_html_row(sbuf *h, const crest_sim_metrics *m, int total)
{
    sb_printf(h, total ? "<tr><th>%s</th><td></td>" : "<tr><td>%s</td><td>%s</td>", m->label,
              total                                   ? ""
              : m->selector == CREST_SIM_SEL_MODEL    ? "model"
              : m->selector == CREST_SIM_SEL_PREVIOUS ? "previous"
                                                      : "random");
    sb_printf(h, "<td>");
    html_num(h, "%.2f%%", 100 * m->rate);
    sb_printf(h, "</td><td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td><td>",
              (unsigned long long)m->rows, (unsigned long long)m->illicit, (unsigned long long)m->budget,
              (unsigned long long)m->inspected, (unsigned long long)m->hits);
    const double v[] = {m->precision,      m->ma.precision,      m->recall,       m->revenue_share,
                        m->norm_precision, m->ma.norm_precision, m->norm_revenue, m->ma.norm_revenue};
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        if (k)
            sb_printf(h, "</td><td>");
        html_num(h, "%.3f", v[k]);
    }
    sb_printf(h, "</td></tr>\n");
}

static char *sim_html(const crest_sim *sim, const replay_args *a, const char *name, const char *input,
                      int partial, const char *ext, int plotted)
{
    sbuf h = {0};
    sb_printf(&h,
              "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>crest replay --simulate</title>\n"
              "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:"
              "collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}"
              "td:first-child{text-align:left}</style></head><body>\n<h1>crest replay --simulate</h1>\n"
              "<p>History: <code>");
    sb_html(&h, input);
    sb_printf(&h, "</code>, policy: <code>");
    sb_html(&h, name);
    sb_printf(&h, "</code>, period: %s, rate %g", crest_replay_period_name((crest_replay_period)a->period),
              a->rate);
    if (a->final_rate >= 0)
        sb_printf(&h, " decaying (%s) to %g", a->decay_exp ? "exponential" : "linear", a->final_rate);
    sb_printf(&h, ", exploration %g.%s</p>\n", a->explore,
              partial ? " <b>PARTIAL: the run was interrupted; the figures cover only what was read.</b>"
                      : "");
    if (crest_sim_note(sim)[0]) {
        sb_printf(&h, "<p>Note: ");
        sb_html(&h, crest_sim_note(sim));
        sb_printf(&h, "</p>\n");
    }
    static const char head[] =
        "<tr><th>period</th><th>selector</th><th>rate</th><th>rows</th><th>illicit</th>"
        "<th>budget</th><th>inspected</th><th>hits</th><th>precision</th><th>MA</th>"
        "<th>recall</th><th>revenue share</th><th>norm. precision</th><th>MA</th>"
        "<th>norm. revenue</th><th>MA</th></tr>\n";
    sb_printf(&h, "<h2>Total</h2>\n<table>%s", head);
    sim_html_row(&h, crest_sim_total(sim), 1);
    sb_printf(
        &h,
        "</table>\n<p>Precision = illicit among inspected; recall = share of the illicit rows inspected; "
        "norm. = divided by what a perfect selector gets with the same budget (it inspects the illicit "
        "rows with the highest revenue first); MA = trailing moving average over %u periods (the "
        "total row: the last period's).</p>\n",
        CREST_SIM_MA_WINDOW);
    if (plotted)
        sb_printf(&h,
                  "<h2>Per period</h2>\n<p><img src=\"simulate.%s\" alt=\"precision and oracle-normalised "
                  "revenue per period\"></p>\n",
                  ext);
    else
        sb_printf(
            &h,
            "<h2>Per period</h2>\n<p>No plots: gnuplot was not run (see plots.gp and simulate.dat).</p>\n");
    sb_printf(&h, "<table>%s", head);
    for (size_t p = 0; p < crest_sim_period_count(sim); p++)
        sim_html_row(&h, crest_sim_period_at(sim, p), 0);
    sb_printf(&h,
              "</table>\n<h2>Data</h2>\n<ul><li><a href=\"simulate.json\">simulate.json</a>: everything</li>"
              "<li><a href=\"simulate.csv\">simulate.csv</a>: per period, and the total</li></ul>\n"
              "</body></html>\n");
    return h.oom ? NULL : h.p;
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
    if (crest_policy_load_ex(a->policies[0], CREST_POLICY_SKIP_MODEL_FILE, &policy, &d) != CREST_OK) {
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
    if (crest_sim_create(&so, &sim, &d) != CREST_OK) {
        print_diag(&d);
        rc = EXIT_CONFIG;
        goto done;
    }
    if (ensure_dir(a->report) != 0) {
        rc = EXIT_IO;
        goto done;
    }
    cli_catch_signals();
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
    char *t1 = crest_sim_csv(sim), *t2 = crest_sim_json(sim, name, in_name, partial);
    int wrc = write_file(a->report, "simulate.csv", t1) | write_file(a->report, "simulate.json", t2);
    free(t1), free(t2);
    const char *term = pick_terminal(a->report, a->plots, have_gnuplot());
    int plotted = 0;
    if (term && crest_sim_period_count(sim)) {
        int ok;
        char *script = sim_plots(a->report, sim, name, term, &ok);
        plotted = make_plots(a->report, a->plots, script);
        free(script);
        if (!ok)
            wrc = -1;
    }
    char *html =
        sim_html(sim, a, name, in_name, partial, term && strcmp(term, "svg") ? "png" : "svg", plotted);
    wrc |= write_file(a->report, "index.html", html);
    free(html);
    if (wrc != 0 && rc == EXIT_OK)
        rc = EXIT_IO;
    if (partial)
        fprintf(stderr, "%s: interrupted: wrote a PARTIAL report to %s (only the rows read so far)\n", prog,
                a->report);
    else if (rc == EXIT_OK)
        fprintf(stderr, "%s: wrote %s/index.html, simulate.csv, simulate.json%s\n", prog, a->report,
                plotted ? " and plots" : "");
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
    return a.simulate ? sim_main(&a) : replay_main(&a);
}

const cli_command cli_cmd_replay = {
    "replay",
    "replay --policy A.conf [--policy B.conf ...] [--report DIR] HISTORY.csv|-",
    "what policies would have caught on a labelled history (--simulate: online)",
    cmd_replay,
    usage_replay,
};
