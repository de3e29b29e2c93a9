/*
 * crest_gen_main.c — the crest-gen command: a thin CLI over libcrest_gen.
 * It parses options into a crest_gen_config, creates the generator, and
 * writes the declaration stream and (optionally) the registry; the
 * `registry-from-history` subcommand derives a tier registry from a labelled
 * history. All behaviour lives in the library; this file only maps arguments
 * and statuses to files, messages and exit codes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_gen.h"

enum { EXIT_USAGE = 1, EXIT_INPUT = 2, EXIT_NOMEM = 3, EXIT_IO = 4 };

static const char usage_text[] =
    "Usage: crest-gen [OPTIONS] [-o OUT.csv] [--registry REG.csv]\n"
    "       crest-gen registry-from-history [OPTIONS] [HISTORY.csv|-]\n"
    "\n"
    "Generates a synthetic, deterministic stream of customs declarations (CSV) with\n"
    "known ground truth (columns illicit, revenue) and the enterprise credit registry\n"
    "that goes with it. The same seed and options always give the same bytes.\n"
    "The model behind the data is documented in datasets/README.md.\n"
    "\n"
    "Output:\n"
    "  -o, --output FILE        declarations to FILE ('-' = stdout, the default)\n"
    "  --registry FILE          also write the registry enterprise_id,tier,valid_from,valid_to\n"
    "  --summary                print the population summary (tiers, calibrated rates) to stderr\n"
    "\n"
    "Size and period:\n"
    "  --rows N                 declarations to write (default 1000)\n"
    "  --seed S                 random seed, 0 .. 2^64-1 (default 1)\n"
    "  --start YYYY-MM-DD       first declaration date (default 2025-01-01)\n"
    "  --days D                 length of the period in days (default 365)\n"
    "\n"
    "Enterprises and tiers:\n"
    "  --scheme 251|282         tier names: 251 = AEO, REGULAR, DISHONEST (default);\n"
    "                           282 = AEO, CERTIFIED, REGULAR, DISHONEST, SERIOUSLY_DISHONEST\n"
    "  --firms N                importing/exporting enterprises (default 20000)\n"
    "  --brokers N              customs brokers (default firms/50, at least 5)\n"
    "  --zipf S                 volume of the firm of rank i ~ 1/(i+10)^S (default 1.0)\n"
    "  --aeo-trade-share X      share of declarations made by AEOs (default 0.40)\n"
    "  --tier-share TIER=X      share of firms in TIER at the start, e.g. AEO=0.01\n"
    "                           (defaults 251: AEO=0.01 DISHONEST=0.02)\n"
    "  --illicit TIER=X         illicit rate of TIER's declarations, e.g. DISHONEST=0.25\n"
    "                           (defaults 251: AEO=0.005 REGULAR=0.03 DISHONEST=0.25)\n"
    "  --unknown-tier X         share of rows with an empty credit_tier (default 0.02)\n"
    "  --foreign-aeo X          share of partner-AEO consignors on imports shipped from an\n"
    "                           MRA partner (default 0.25)\n"
    "\n"
    "Text:\n"
    "  --zh-share X             share of Chinese goods descriptions (default 0.35)\n"
    "  --newline-share X        share of descriptions with an embedded newline (default 0.001)\n"
    "\n"
    "Change over time:\n"
    "  --drift X                heading risks move by X*N(0,1) on the logit scale over the\n"
    "                           period (default 0: stationary)\n"
    "  --inject-chapter CC      inject a scheme: new importers of HS chapter CC ...\n"
    "  --inject-from DATE       ... from DATE (default: the middle of the period) ...\n"
    "  --inject-firms N         ... N of them (default 20) ...\n"
    "  --inject-share X         ... making X of the rows from then on (default 0.01) ...\n"
    "  --inject-illicit X       ... undervalued, and illicit with rate X (default 0.6)\n"
    "\n"
    "  -h, --help               this help;  --version  print the version\n"
    "\n"
    "registry-from-history reads a labelled history (KCS data or crest-gen output) and\n"
    "writes a registry: >= --aeo-min declarations (10) and no illicit one -> AEO;\n"
    ">= --dishonest-min declarations (3) and illicit share > --dishonest-rate (0.5) ->\n"
    "DISHONEST; others REGULAR; valid from --valid-from (default: day after the history).\n"
    "Columns: --id-column (enterprise_id, else \"Importer ID\"), --label-column (illicit,\n"
    "else Fraud), --date-column (decl_date, else Date). Output with -o (default stdout);\n"
    "counts go to stderr.\n"
    "\n"
    "Examples:\n"
    "  crest-gen --rows 2000 --seed 7 --start 2025-03-01 --days 31 --firms 300 \\\n"
    "            --registry reg.csv -o decls.csv\n"
    "  crest-gen --rows 10000000 --seed 1 -o /dev/null\n"
    "  crest-gen registry-from-history df_syn_train_eng.csv -o kcs_registry.csv\n"
    "\n"
    "Exit status: 0 ok, 1 usage or invalid parameter, 2 malformed input,\n"
    "3 out of memory, 4 input/output error.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "crest-gen: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'crest-gen --help'.\n");
    return EXIT_USAGE;
}

static int parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return 0;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return 0;
    *out = v;
    return 1;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    if (!s || !*s)
        return 0;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end)
        return 0;
    *out = v;
    return 1;
}

static int status_exit(crest_status st)
{
    switch (st) {
    case CREST_OK:
        return 0;
    case CREST_ERR_IO:
        return EXIT_IO;
    case CREST_ERR_NOMEM:
        return EXIT_NOMEM;
    case CREST_ERR_SYNTAX:
    case CREST_ERR_MISSING:
        return EXIT_INPUT;
    default:
        return EXIT_USAGE;
    }
}

static FILE *open_out(const char *path)
{
    if (strcmp(path, "-") == 0)
        return stdout;
    return fopen(path, "wb");
}

static int close_out(FILE *f, const char *path)
{
    int bad = f == stdout ? fflush(f) != 0 : fclose(f) != 0;
    if (bad) {
        fprintf(stderr, "crest-gen: cannot write %s: %s\n", path, strerror(errno));
        return EXIT_IO;
    }
    return 0;
}

static int run_history(int argc, char **argv)
{
    crest_gen_history_opts opts;
    crest_gen_history_opts_default(&opts);
    const char *in_path = "-", *out_path = "-";
    unsigned long long u;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (!v)
                return usage_error("%s needs a file name.", a);
            out_path = v;
            i++;
        } else if (strcmp(a, "--id-column") == 0 || strcmp(a, "--label-column") == 0 ||
                   strcmp(a, "--date-column") == 0) {
            if (!v)
                return usage_error("%s needs a column name.", a);
            if (a[2] == 'i')
                opts.id_column = v;
            else if (a[2] == 'l')
                opts.label_column = v;
            else
                opts.date_column = v;
            i++;
        } else if (strcmp(a, "--aeo-min") == 0 || strcmp(a, "--dishonest-min") == 0) {
            if (!parse_u64(v, 1000000000ULL, &u))
                return usage_error("%s needs a count.", a);
            if (a[2] == 'a')
                opts.aeo_min_decls = (uint32_t)u;
            else
                opts.dishonest_min_decls = (uint32_t)u;
            i++;
        } else if (strcmp(a, "--dishonest-rate") == 0) {
            if (!parse_double(v, &opts.dishonest_rate) || opts.dishonest_rate < 0.0 ||
                opts.dishonest_rate > 1.0)
                return usage_error("%s needs a rate in [0, 1].", a);
            i++;
        } else if (strcmp(a, "--valid-from") == 0) {
            opts.valid_from_day = v ? crest_gen_parse_date(v, strlen(v)) : CREST_DATE_NONE;
            if (opts.valid_from_day == CREST_DATE_NONE)
                return usage_error("%s needs a date YYYY-MM-DD.", a);
            i++;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s' for registry-from-history.", a);
        } else {
            in_path = a;
        }
    }
    FILE *in = strcmp(in_path, "-") == 0 ? stdin : fopen(in_path, "rb");
    if (!in) {
        fprintf(stderr, "crest-gen: cannot open %s: %s\n", in_path, strerror(errno));
        return EXIT_IO;
    }
    FILE *out = open_out(out_path);
    if (!out) {
        fprintf(stderr, "crest-gen: cannot create %s: %s\n", out_path, strerror(errno));
        if (in != stdin)
            fclose(in);
        return EXIT_IO;
    }
    crest_diag diag;
    crest_gen_history_counts counts;
    crest_status st =
        crest_gen_registry_from_history(in, in_path, &opts, crest_gen_write_stdio, out, &counts, &diag);
    if (in != stdin)
        fclose(in);
    int rc = close_out(out, out_path);
    if (st != CREST_OK) {
        fprintf(stderr, "crest-gen: %s:%lu: %s\n", diag.file, diag.line,
                diag.message[0] ? diag.message : crest_status_message(st));
        return status_exit(st);
    }
    if (rc)
        return rc;
    char first[11], last[11];
    crest_gen_format_date(counts.first_day, first);
    crest_gen_format_date(counts.last_day, last);
    fprintf(stderr,
            "crest-gen: %llu rows from %s to %s, %u enterprises: %u AEO, %u REGULAR, "
            "%u DISHONEST\n",
            (unsigned long long)counts.n_rows, first, last, counts.n_enterprises, counts.n_aeo,
            counts.n_regular, counts.n_dishonest);
    return 0;
}

typedef struct tier_arg {
    const char *text;
    int illicit; /* 1: --illicit, 0: --tier-share */
} tier_arg;

static void print_summary(const crest_gen_config *cfg, const crest_gen *gen)
{
    crest_gen_summary s;
    crest_gen_get_summary(gen, &s);
    fprintf(stderr, "crest-gen: scheme %d, %u tier changes in the period\n", cfg->scheme, s.n_events);
    fprintf(stderr, "  %-20s %8s %8s %10s %12s %10s\n", "tier", "firms", "brokers", "row share",
            "illicit rate", "intercept");
    for (size_t t = 0; t < s.n_tiers; t++)
        fprintf(stderr, "  %-20s %8u %8u %10.4f %12.4f %10.3f\n", crest_gen_scheme_tier_name(cfg->scheme, t),
                s.firms_at_start[t], s.brokers_at_start[t], s.row_share[t], s.illicit_rate[t],
                s.tier_logit[t]);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "registry-from-history") == 0)
        return run_history(argc - 2, argv + 2);

    crest_gen_config cfg;
    crest_gen_config_default(&cfg);
    const char *out_path = "-", *reg_path = NULL;
    int summary = 0, inject_from_set = 0;
    tier_arg tier_args[32];
    int n_tier_args = 0;
    unsigned long long u;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes_value = 1;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            puts("crest-gen 0.1.0");
            return 0;
        } else if (strcmp(a, "--summary") == 0) {
            summary = 1;
            takes_value = 0;
        } else if (!v) {
            return usage_error("option '%s' is unknown or needs a value.", a);
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            out_path = v;
        } else if (strcmp(a, "--registry") == 0) {
            reg_path = v;
        } else if (strcmp(a, "--rows") == 0) {
            if (!parse_u64(v, 500000000ULL, &u) || u == 0)
                return usage_error("--rows needs a count between 1 and 500000000, not '%s'.", v);
            cfg.n_rows = u;
        } else if (strcmp(a, "--seed") == 0) {
            if (!parse_u64(v, ~0ULL, &u))
                return usage_error("--seed needs a non-negative integer, not '%s'.", v);
            cfg.seed = u;
        } else if (strcmp(a, "--start") == 0 || strcmp(a, "--inject-from") == 0) {
            int32_t day = crest_gen_parse_date(v, strlen(v));
            if (day == CREST_DATE_NONE)
                return usage_error("dates are written YYYY-MM-DD, not '%s'.", v);
            if (a[2] == 's')
                cfg.start_day = day;
            else {
                cfg.inject_from_day = day;
                inject_from_set = 1;
            }
        } else if (strcmp(a, "--days") == 0) {
            if (!parse_u64(v, 3660, &u) || u == 0)
                return usage_error("--days needs a count between 1 and 3660, not '%s'.", v);
            cfg.n_days = (uint32_t)u;
        } else if (strcmp(a, "--scheme") == 0) {
            if (!parse_u64(v, 1000, &u) || crest_gen_config_set_scheme(&cfg, (int)u) != CREST_OK)
                return usage_error("--scheme is 251 or 282, not '%s'.", v);
        } else if (strcmp(a, "--firms") == 0 || strcmp(a, "--brokers") == 0 ||
                   strcmp(a, "--inject-firms") == 0 || strcmp(a, "--inject-chapter") == 0) {
            if (!parse_u64(v, 100000000ULL, &u))
                return usage_error("this option needs a non-negative integer, not '%s'.", v);
            if (strcmp(a, "--firms") == 0)
                cfg.n_firms = (uint32_t)u;
            else if (strcmp(a, "--brokers") == 0)
                cfg.n_brokers = (uint32_t)u;
            else if (strcmp(a, "--inject-firms") == 0)
                cfg.inject_firms = (uint32_t)u;
            else
                cfg.inject_chapter = (int)u;
        } else if (strcmp(a, "--tier-share") == 0 || strcmp(a, "--illicit") == 0) {
            if (n_tier_args == 32)
                return usage_error("too many %s options.", a);
            tier_args[n_tier_args].text = v;
            tier_args[n_tier_args++].illicit = a[2] == 'i';
        } else {
            static const struct {
                const char *name;
                size_t offset;
            } reals[] = {
                {"--zipf", offsetof(crest_gen_config, zipf_exponent)},
                {"--aeo-trade-share", offsetof(crest_gen_config, aeo_trade_share)},
                {"--unknown-tier", offsetof(crest_gen_config, unknown_tier_share)},
                {"--foreign-aeo", offsetof(crest_gen_config, foreign_aeo_share)},
                {"--zh-share", offsetof(crest_gen_config, zh_share)},
                {"--newline-share", offsetof(crest_gen_config, newline_share)},
                {"--drift", offsetof(crest_gen_config, drift)},
                {"--inject-share", offsetof(crest_gen_config, inject_share)},
                {"--inject-illicit", offsetof(crest_gen_config, inject_illicit)},
            };
            size_t k = 0;
            while (k < sizeof reals / sizeof reals[0] && strcmp(a, reals[k].name) != 0)
                k++;
            if (k == sizeof reals / sizeof reals[0])
                return usage_error("unknown option '%s'.", a);
            if (!parse_double(v, (double *)((char *)&cfg + reals[k].offset)))
                return usage_error("this option needs a number, not '%s'.", v);
        }
        if (takes_value)
            i++;
    }
    /* Tier options are applied after --scheme wherever it appeared. */
    for (int k = 0; k < n_tier_args; k++) {
        const char *t = tier_args[k].text, *eq = strchr(t, '=');
        int idx = eq ? crest_gen_scheme_tier_index(cfg.scheme, t, (size_t)(eq - t)) : -1;
        double x;
        if (idx < 0 || !parse_double(eq + 1, &x))
            return usage_error("expected TIER=NUMBER with a tier of the scheme, not '%s'.", t);
        if (tier_args[k].illicit)
            cfg.tier_illicit[idx] = x;
        else
            cfg.tier_firm_share[idx] = x;
    }
    if (!inject_from_set)
        cfg.inject_from_day = cfg.start_day + (int32_t)(cfg.n_days / 2);

    crest_gen *gen = NULL;
    crest_diag diag;
    crest_status st = crest_gen_create(&cfg, &gen, &diag);
    if (st != CREST_OK) {
        fprintf(stderr, "crest-gen: %s\n", diag.message[0] ? diag.message : crest_status_message(st));
        return status_exit(st);
    }
    if (summary)
        print_summary(&cfg, gen);
    int rc = 0;
    if (reg_path) {
        FILE *rf = open_out(reg_path);
        if (!rf) {
            fprintf(stderr, "crest-gen: cannot create %s: %s\n", reg_path, strerror(errno));
            crest_gen_free(gen);
            return EXIT_IO;
        }
        st = crest_gen_write_registry(gen, crest_gen_write_stdio, rf);
        rc = close_out(rf, reg_path);
        if (st != CREST_OK && !rc) {
            fprintf(stderr, "crest-gen: cannot write %s\n", reg_path);
            rc = EXIT_IO;
        }
    }
    if (!rc) {
        FILE *of = open_out(out_path);
        if (!of) {
            fprintf(stderr, "crest-gen: cannot create %s: %s\n", out_path, strerror(errno));
            crest_gen_free(gen);
            return EXIT_IO;
        }
        st = crest_gen_write_decls(gen, crest_gen_write_stdio, of);
        rc = close_out(of, out_path);
        if (st != CREST_OK && !rc) {
            fprintf(stderr, "crest-gen: cannot write %s\n", out_path);
            rc = EXIT_IO;
        }
    }
    crest_gen_free(gen);
    return rc;
}
