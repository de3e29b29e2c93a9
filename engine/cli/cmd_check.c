/*
 * cmd_check.c — `crest check`: validate a policy (and a registry against it),
 * print the effective settings and the canonical policy text whose hash every
 * decision carries; with a sample, the feasibility of each tier's target.
 */
#define _GNU_SOURCE /* getopt_long */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage_check(FILE *f)
{
    fprintf(f, "Usage: crest check [--policy FILE] [--set SECTION.KEY=VALUE ...] [--model FILE]\n"
               "                   [--registry FILE] [--workload] [SAMPLE.csv]\n"
               "\n"
               "Validate a policy (and a registry against it) and print the effective settings:\n"
               "the canonical policy text whose hash is written with every decision, and each\n"
               "tier's target rate. Errors name the file, line and column. Exit 0 when valid, 2 not.\n"
               "With a SAMPLE of declarations, also says per tier what the criteria force and\n"
               "whether the target is feasible (INFEASIBLE: forced selections alone exceed it).\n"
               "--workload (with a SAMPLE): decide the sample as `crest run` would and print the\n"
               "workload per office and day: per office the expected inspections per day (sum of\n"
               "P(inspect), before the capacity cap) and the realised ones (after it): mean, p95,\n"
               "max; RED per day, the office's cap ([capacity] offices or red_per_office_day), the\n"
               "days the cap bound, deferred and overflow counts.\n"
               "--set SECTION.KEY=VALUE (repeatable; tier.NAME.KEY for a tier: tier.AEO.ratio=0.25,\n"
               "risk.gain=2) and --model FILE (= --set model.file=FILE) override the policy as if\n"
               "its file said so: the printed settings and the hash include them.\n");
}

int check_parse_args(int argc, char **argv, check_args *a)
{
    memset(a, 0, sizeof *a);
    enum { O_POLICY = 256, O_REGISTRY, O_WORKLOAD };
    static const struct option longopts[] = {
        {"policy", required_argument, NULL, O_POLICY},
        CLI_POLICY_OPTIONS,
        {"registry", required_argument, NULL, O_REGISTRY},
        {"workload", no_argument, NULL, O_WORKLOAD},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    cli_getopt_begin();
    while ((c = cli_getopt(argc, argv, ":h", longopts, "check")) != -1) {
        if (c == O_POLICY) {
            a->policy_path = optarg;
        } else if (c == O_REGISTRY) {
            a->registry_path = optarg;
        } else if (c == O_WORKLOAD) {
            a->workload = 1;
        } else if (c == 'h') {
            usage_check(stdout);
            return CLI_PARSE_HELP;
        } else {
            return CLI_PARSE_ERROR;
        }
    }
    if (optind < argc)
        a->sample_path = argv[optind];
    if (argc - optind > 1) {
        fprintf(stderr, "%s: unexpected argument '%s' (see `crest help check`)\n", prog, argv[optind + 1]);
        return CLI_PARSE_ERROR;
    }
    if (a->workload && !a->sample_path) {
        fprintf(stderr, "%s: --workload needs a SAMPLE.csv to decide\n", prog);
        return CLI_PARSE_ERROR;
    }
    return CLI_PARSE_OK;
}

static crest_status discard(void *ctx, const void *buf, size_t len)
{
    (void)ctx, (void)buf, (void)len;
    return CREST_OK;
}

/* The workload of the sample, decided as `crest run` decides it (the capacity cap included). */
static int check_workload(const crest_policy *policy, const crest_registry *registry, const char *sample_path)
{
    int fd;
    const char *name;
    if (open_input(sample_path, "", &fd, &name) != 0)
        return EXIT_INPUT;
    crest_run_options ro = crest_run_options_default();
    ro.output = (crest_sink){discard, NULL};
    ro.passthrough_override = CREST_PASSTHROUGH_NONE;
    ro.windows = CREST_WINDOWS_WORKLOAD;
    ro.input_name = name;
    crest_engine *e = NULL;
    crest_diag d;
    int rc = EXIT_OK;
    if (crest_engine_create(policy, registry, &ro, &e, &d) != CREST_OK) {
        print_diag(&d);
        rc = EXIT_CONFIG;
    }
    if (rc == EXIT_OK && (rc = feed_fd(e, fd, name, 0)) != EXIT_OK)
        print_diag(crest_engine_diag(e));
    if (rc == EXIT_OK) {
        size_t n;
        const crest_workload_cell *cells = crest_engine_workload(e, &n);
        char *text = crest_workload_text(policy, cells, n);
        const crest_run_stats *st = crest_engine_stats(e);
        printf("# workload on %s (%llu declarations, %llu inspected, %llu deferred by the cap):\n",
               sample_path, (unsigned long long)st->decisions, (unsigned long long)st->inspected,
               (unsigned long long)st->deferred);
        if (text)
            for (const char *l = text; *l;) { /* each line as a comment, like the rest of the report */
                const char *eol = strchr(l, '\n');
                const int len = eol ? (int)(eol - l) : (int)strlen(l);
                printf("# %.*s\n", len, l);
                l += len + (eol != NULL);
            }
        free(text);
        rc = text ? EXIT_OK : EXIT_IO;
    }
    crest_engine_free(e);
    if (fd != 0)
        close(fd);
    return rc;
}

/* Feasibility on a sample: what criteria force, and the scale each target needs. */
static int check_sample(const crest_policy *policy, const crest_registry *registry, const char *sample_path)
{
    crest_calibrator *cal = NULL;
    uint64_t rows = 0;
    crest_calibration_tier ct[CLI_MAX_TIERS];
    crest_diag d;
    crest_status st = crest_calibrator_create(policy, &cal);
    int rc = exit_code_of(st, CLI_WRITE);
    if (rc == EXIT_OK)
        rc = cli_collect_history(policy, registry, sample_path, cal, &rows);
    if (rc == EXIT_OK && (st = crest_calibrator_solve(cal, ct, &d)) != CREST_OK) {
        print_diag(&d);
        rc = exit_code_of(st, CLI_READ);
    }
    if (rc == EXIT_OK) {
        printf("# feasibility on %s (%llu declarations):\n", sample_path, (unsigned long long)rows);
        cli_print_calibration(stdout, policy, ct);
    }
    crest_calibrator_free(cal);
    return rc;
}

static int cmd_check(int argc, char **argv)
{
    check_args a;
    const int pr = check_parse_args(argc, argv, &a);
    if (pr != CLI_PARSE_OK)
        return pr == CLI_PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    crest_policy *policy;
    crest_registry *registry;
    if (cli_load_inputs(a.policy_path, a.registry_path, &policy, &registry) != EXIT_OK)
        return EXIT_CONFIG;
    /* The criteria and the model load as `crest run` loads them: a model whose
     * features or mapping do not match the policy stops here (exit 2). */
    crest_run_options ro = crest_run_options_default();
    ro.decide = 0;
    crest_engine *probe = NULL;
    crest_diag pd;
    if (crest_engine_create(policy, registry, &ro, &probe, &pd) != CREST_OK) {
        print_diag(&pd);
        crest_registry_free(registry);
        crest_policy_free(policy);
        return EXIT_CONFIG;
    }
    crest_engine_free(probe);
    printf("# %s: valid. policy hash %s\n", a.policy_path ? a.policy_path : "built-in policy",
           crest_policy_hash_hex(policy));
    printf("# policy sha256 %s\n", crest_policy_hash_full(policy));
    for (size_t i = 0; i < crest_policy_file_count(policy); i++) {
        crest_policy_file f;
        if (crest_policy_file_info(policy, i, &f) == CREST_OK)
            printf("# %-8s %s  %s (%zu bytes)\n", f.kind, f.sha256, f.path, f.bytes);
    }
    const char *const *sets;
    const size_t n_sets = cli_policy_sets(&sets);
    for (size_t i = 0; i < n_sets; i++) /* the canonical text below includes them; so does the hash */
        printf("# with --set %s\n", sets[i]);
    printf("# %-20s %10s  %s\n", "tier", "target", "kind");
    for (size_t t = 0; t < crest_policy_tier_count(policy); t++) {
        const double ratio = crest_policy_tier_ratio(policy, t);
        printf("# %-20s %9.4f%%  ", crest_policy_tier_name(policy, t),
               100 * crest_policy_tier_rate(policy, t));
        if (ratio == ratio)
            printf("%.4g x %s\n", ratio, crest_policy_tier_name(policy, crest_policy_base_tier(policy)));
        else if (crest_policy_tier_draw_rate(policy, t) != crest_policy_tier_rate(policy, t))
            printf("absolute floor, drawn at %.4f%% to hold it per calendar month\n",
                   100 * crest_policy_tier_draw_rate(policy, t));
        else
            printf("absolute%s\n", crest_policy_tier_is_floor(policy, t) ? " floor" : "");
    }
    if (registry)
        printf("# registry %s: %zu enterprises, %zu periods\n", a.registry_path,
               crest_registry_enterprises(registry), crest_registry_periods(registry));
    int rc = a.sample_path ? check_sample(policy, registry, a.sample_path) : EXIT_OK;
    if (rc == EXIT_OK && a.workload)
        rc = check_workload(policy, registry, a.sample_path);
    printf("\n%s", crest_policy_describe(policy));
    crest_registry_free(registry);
    crest_policy_free(policy);
    return rc;
}

const cli_command cli_cmd_check = {
    "check",
    "check [--policy FILE] [--registry FILE] [--workload] [SAMPLE.csv]",
    "validate a policy (and registry); with a sample, whether each target is feasible",
    cmd_check,
    usage_check,
};
