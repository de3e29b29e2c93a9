/*
 * cmd_calibrate.c — `crest calibrate`: read a history without deciding,
 * solve each tier's scale so that its expected rate equals its target
 * (crest_calibrate.h) and write the calibrated policy. Collecting a history
 * and the calibration table are shared with `crest check SAMPLE`.
 */
#define _GNU_SOURCE /* getopt_long */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage_calibrate(FILE *f)
{
    fprintf(f, "Usage: crest calibrate --policy FILE [--set SECTION.KEY=VALUE ...] [--model FILE]\n"
               "                       [--registry FILE] -o CALIBRATED.conf HISTORY.csv\n"
               "\n"
               "Solve each tier's scale (GSL root finding) so that its expected inspection rate\n"
               "on HISTORY equals its target: the AEO rate at its ratio of the regular rate, the\n"
               "dishonest floor, while risk still decides who. Criteria that force a lane count\n"
               "toward the rate; when they alone exceed a target, that tier is reported\n"
               "INFEASIBLE with the excess. Writes the policy with `scale = ...` in each tier and a\n"
               "[calibration] section (history fingerprint, rows, expected rates, the SHA-256 of\n"
               "the criteria, tables and model it was computed with: `crest run` warns when they\n"
               "change): a frozen policy whose decisions do not depend on order or partitioning.\n"
               "\n"
               "  --allow-infeasible  write the policy even when a tier's target cannot be reached\n"
               "                    (without it an INFEASIBLE tier is exit 2 and nothing is written:\n"
               "                    risk selection is never switched off silently)\n"
               "--set and --model override the policy first (as in `crest run`); the written\n"
               "policy has them.\n");
}

int calibrate_parse_args(int argc, char **argv, calibrate_args *a)
{
    memset(a, 0, sizeof *a);
    enum { O_POLICY = 256, O_REGISTRY, O_ALLOW_INFEASIBLE };
    static const struct option longopts[] = {
        {"policy", required_argument, NULL, O_POLICY},
        CLI_POLICY_OPTIONS,
        {"registry", required_argument, NULL, O_REGISTRY},
        {"allow-infeasible", no_argument, NULL, O_ALLOW_INFEASIBLE},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    cli_getopt_begin();
    while ((c = cli_getopt(argc, argv, ":o:h", longopts, "calibrate")) != -1) {
        if (c == O_POLICY) {
            a->policy_path = optarg;
        } else if (c == O_REGISTRY) {
            a->registry_path = optarg;
        } else if (c == O_ALLOW_INFEASIBLE) {
            a->allow_infeasible = 1;
        } else if (c == 'o') {
            a->out_path = optarg;
        } else if (c == 'h') {
            usage_calibrate(stdout);
            return CLI_PARSE_HELP;
        } else {
            return CLI_PARSE_ERROR;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "%s: one history at a time; got '%s' and '%s'\n", prog, argv[optind],
                argv[optind + 1]);
        return CLI_PARSE_ERROR;
    }
    a->input_path = optind < argc ? argv[optind] : NULL;
    if (!a->policy_path || !a->out_path || !a->input_path || !strcmp(a->input_path, "-")) {
        fprintf(stderr,
                "%s: crest calibrate needs --policy FILE, -o OUT.conf and a history file (see `crest help "
                "calibrate`)\n",
                prog);
        return CLI_PARSE_ERROR;
    }
    return CLI_PARSE_OK;
}

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

int cli_collect_history(const crest_policy *policy, const crest_registry *registry, const char *path,
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
    const crest_status st = crest_engine_create(policy, registry, &opt, &engine, &d);
    if (st != CREST_OK) {
        print_diag(&d);
        rc = exit_code_of(st, CLI_LOAD);
    } else {
        rc = feed_fd(engine, fd, name, isatty(STDERR_FILENO));
        if (c.failed) {
            fprintf(stderr, "%s: out of memory collecting the history\n", prog);
            rc = EXIT_IO;
        }
        const crest_run_stats *stats = crest_engine_stats(engine);
        *rows_used = stats->decisions;
        if (rc == EXIT_OK)
            fprintf(stderr, "%s: rows in %llu = used %llu + rejects %llu\n", name,
                    (unsigned long long)stats->rows_in, (unsigned long long)stats->decisions,
                    (unsigned long long)stats->rejects);
    }
    crest_engine_free(engine);
    if (fd != STDIN_FILENO)
        close(fd);
    return rc;
}

void cli_print_calibration(FILE *f, const crest_policy *policy, const crest_calibration_tier *ct)
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
    calibrate_args a;
    const int pr = calibrate_parse_args(argc, argv, &a);
    if (pr != CLI_PARSE_OK)
        return pr == CLI_PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    crest_policy *policy;
    crest_registry *registry;
    if (cli_load_inputs(a.policy_path, a.registry_path, &policy, &registry) != EXIT_OK)
        return EXIT_CONFIG;
    crest_calibrator *cal = NULL;
    uint64_t rows = 0, fp = 0;
    crest_status st = crest_calibrator_create(policy, &cal);
    int rc = exit_code_of(st, CLI_WRITE);
    if (rc == EXIT_OK)
        rc = cli_collect_history(policy, registry, a.input_path, cal, &rows);
    if (rc == EXIT_OK && file_fingerprint(a.input_path, &fp) != 0) {
        fprintf(stderr, "%s: cannot read %s: %s\n", prog, a.input_path, strerror(errno));
        rc = EXIT_INPUT;
    }
    crest_calibration_tier ct[CLI_MAX_TIERS];
    crest_diag d;
    if (rc == EXIT_OK && (st = crest_calibrator_solve(cal, ct, &d)) != CREST_OK) {
        print_diag(&d);
        rc = exit_code_of(st, CLI_READ);
    }
    if (rc == EXIT_OK) {
        cli_print_calibration(stderr, policy, ct);
        for (size_t t = 0; t < crest_policy_tier_count(policy); t++)
            if (ct[t].status == CREST_CALIBRATION_INFEASIBLE && !a.allow_infeasible) {
                fprintf(stderr,
                        "%s: tier %s cannot reach its target on this history (INFEASIBLE above); nothing "
                        "written. Fix the criteria or the target, or pass --allow-infeasible to write the "
                        "policy anyway (it then says per tier what was not reached)\n",
                        prog, crest_policy_tier_name(policy, t));
                rc = EXIT_CONFIG;
            }
    }
    if (rc == EXIT_OK) {
        st = crest_policy_write_calibrated(policy, ct, a.input_path, fp, rows, a.out_path, &d);
        if (st != CREST_OK) {
            print_diag(&d);
            rc = exit_code_of(st, CLI_WRITE);
        } else {
            fprintf(stderr, "wrote %s\n", a.out_path);
        }
    }
    crest_calibrator_free(cal);
    crest_registry_free(registry);
    crest_policy_free(policy);
    return rc;
}

const cli_command cli_cmd_calibrate = {
    "calibrate",
    "calibrate --policy FILE -o CALIBRATED.conf HISTORY.csv",
    "per-tier scales so that each tier's expected rate equals its target",
    cmd_calibrate,
    usage_calibrate,
};
