/*
 * cmd_fit.c — `crest fit`: read labelled history through the engine (no
 * decisions, the declarations only), fit the policy's logistic risk model
 * (crest_lmodel.h) and write the model file the policy's [model] names.
 */
#define _GNU_SOURCE /* getopt_long */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crest/crest_lmodel.h"

#include "cli.h"

static void usage_fit(FILE *f)
{
    fprintf(f, "Usage: crest fit --policy FILE [--label COLUMN] [--registry FILE] [--l2 X]\n"
               "                 [--smoothing M] [--folds K] -o MODEL [TRAIN.csv|-]\n"
               "\n"
               "Fit the policy's logistic risk model ([model] kind = logistic, features = ...)\n"
               "on labelled history: L2-regularised logistic regression by Newton/IRLS (GSL) on\n"
               "smoothed target encodings (out-of-fold on the training rows, so the fit does not\n"
               "leak) and numeric transforms. Writes a versioned text model file that\n"
               "`crest run` loads through the policy's [model] file. With the model, a calibration\n"
               "(Platt scaling: the label regressed on the model's log-odds, scored out of fold by\n"
               "coefficients refitted without each fold) that `crest run` writes as risk_prob.\n"
               "\n"
               "  --label COLUMN    the 0/1 label: a canonical field or a header name (default\n"
               "                    illicit; KCS data: Fraud). Rows without a 0/1 label are counted\n"
               "                    and left out.\n"
               "  --l2, --smoothing, --folds   override the policy's [model] l2, smoothing, folds\n"
               "  -o MODEL          the model file to write\n"
               "\n"
               "[model] kind = xgboost: gradient-boosted trees trained by libxgboost on the same\n"
               "features (plus cat:KEY category codes), hyper-parameters in [model] params\n"
               "(max_depth=8, eta=0.05, rounds=1000, early_stopping=50, valid_fraction=0.1, ...).\n"
               "Early stopping watches the last valid_fraction of the rows by decl_date (then the\n"
               "model is refitted on all rows), or the rows of --valid FILE. MODEL is XGBoost JSON\n"
               "with crest's feature map inside. Same rows, policy and seed: the same bytes.\n"
               "  --valid FILE      labelled validation rows for early stopping (same columns)\n"
               "  --seed N          XGBoost's seed and the encoding folds' key\n"
               "  --threads N       XGBoost's threads (default 2)\n");
}

int fit_parse_args(int argc, char **argv, fit_args *a)
{
    memset(a, 0, sizeof *a);
    a->label = "illicit";
    a->l2 = a->smoothing = -1;
    a->folds = -1;
    enum { O_POLICY = 256, O_REGISTRY, O_LABEL, O_L2, O_SMOOTHING, O_FOLDS, O_VALID, O_SEED, O_THREADS };
    static const struct option longopts[] = {
        {"policy", required_argument, NULL, O_POLICY},
        {"registry", required_argument, NULL, O_REGISTRY},
        {"output", required_argument, NULL, 'o'},
        {"label", required_argument, NULL, O_LABEL},
        {"l2", required_argument, NULL, O_L2},
        {"smoothing", required_argument, NULL, O_SMOOTHING},
        {"folds", required_argument, NULL, O_FOLDS},
        {"valid", required_argument, NULL, O_VALID},
        {"seed", required_argument, NULL, O_SEED},
        {"threads", required_argument, NULL, O_THREADS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    double x;
    cli_getopt_begin();
    while ((c = cli_getopt(argc, argv, ":o:h", longopts, "fit")) != -1) {
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
        case O_LABEL:
            a->label = optarg;
            break;
        case O_L2:
            if (arg_number("--l2", optarg, 0, HUGE_VAL, &a->l2) != 0)
                return CLI_PARSE_ERROR;
            break;
        case O_SMOOTHING:
            if (arg_number("--smoothing", optarg, 0, HUGE_VAL, &a->smoothing) != 0)
                return CLI_PARSE_ERROR;
            break;
        case O_FOLDS:
            if (arg_number("--folds", optarg, 0, 1e6, &x) != 0)
                return CLI_PARSE_ERROR;
            if (x != floor(x)) {
                fprintf(stderr, "%s: --folds needs a whole number, not '%s'\n", prog, optarg);
                return CLI_PARSE_ERROR;
            }
            a->folds = (long)x;
            break;
        case O_VALID:
            a->valid_path = optarg;
            break;
        case O_SEED:
        case O_THREADS:
            if (arg_number(c == O_SEED ? "--seed" : "--threads", optarg, c == O_SEED ? 0 : 1,
                           c == O_SEED ? 9007199254740992.0 : 256, &x) != 0)
                return CLI_PARSE_ERROR;
            if (x != floor(x)) {
                fprintf(stderr, "%s: %s needs a whole number, not '%s'\n", prog,
                        c == O_SEED ? "--seed" : "--threads", optarg);
                return CLI_PARSE_ERROR;
            }
            if (c == O_SEED) {
                a->has_seed = 1;
                a->seed = (uint64_t)x;
            } else {
                a->threads = (long)x;
            }
            break;
        case 'h':
            usage_fit(stdout);
            return CLI_PARSE_HELP;
        default:
            return CLI_PARSE_ERROR;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "%s: one input at a time; got '%s' and '%s'\n", prog, argv[optind], argv[optind + 1]);
        return CLI_PARSE_ERROR;
    }
    a->input_path = optind < argc ? argv[optind] : NULL;
    if (!a->policy_path || !a->out_path) {
        fprintf(stderr,
                "%s: crest fit needs --policy FILE (with a [model] section) and -o MODEL (see `crest help "
                "fit`)\n",
                prog);
        return CLI_PARSE_ERROR;
    }
    return CLI_PARSE_OK;
}

void fit_label_bind(fit_label *l, const char *name, const crest_str *header, size_t n_cols)
{
    l->field = crest_field_from_name(name, strlen(name));
    l->col = -1;
    for (size_t i = 0; i < n_cols; i++)
        if (header[i].len == strlen(name) && memcmp(header[i].ptr, name, header[i].len) == 0)
            l->col = (long)i;
    if (l->col >= 0)
        l->field = -1; /* an exact header name wins */
}

double fit_label_value(const fit_label *l, const crest_decl *d)
{
    crest_str v = {NULL, 0};
    if (l->col >= 0 && (size_t)l->col < d->n_cols)
        v = d->cols[l->col];
    else if (l->field >= 0)
        v = d->field[l->field];
    return v.len ? crest_parse_number(v.ptr, v.len) : NAN;
}

typedef struct fit_ctx {
    const crest_policy *policy;
    const char *label;
    crest_lmodel_train_options opts;
    crest_lmodel_trainer *trainer;
    fit_label lab;
    uint64_t used, unlabelled, positives;
    crest_diag diag;
    int failed;
} fit_ctx;

static int fit_header(void *ctx, const crest_str *header, size_t n_cols)
{
    fit_ctx *f = ctx;
    fit_label_bind(&f->lab, f->label, header, n_cols);
    if (crest_lmodel_trainer_create(crest_policy_model_features(f->policy), header, n_cols, &f->opts,
                                    &f->trainer, &f->diag) != CREST_OK) {
        f->failed = 1;
        return 1;
    }
    crest_lmodel_trainer_set_calibrate(f->trainer, 1); /* risk_prob: Platt scaling, cross-fitted */
    return 0;
}

static int fit_decl(void *ctx, const crest_decl *d, const crest_decision *dec, unsigned long line)
{
    (void)dec;
    (void)line;
    fit_ctx *f = ctx;
    const double x = fit_label_value(&f->lab, d);
    if (isnan(x)) {
        f->unlabelled++;
        return 0;
    }
    const int label = x != 0;
    if (crest_lmodel_trainer_add(f->trainer, d, label) != CREST_OK) {
        f->failed = 1;
        snprintf(f->diag.message, sizeof f->diag.message, "out of memory collecting training rows");
        return 1;
    }
    f->used++;
    f->positives += (uint64_t)label;
    return 0;
}

/* Fit on the collected rows and write the model; returns an exit code. */
static int fit_and_save(fit_ctx *f, const char *out_path, double t0)
{
    crest_lmodel *model = NULL;
    crest_lmodel_fit_report rep;
    memset(&rep, 0, sizeof rep);
    crest_diag d;
    crest_status st = crest_lmodel_trainer_fit(f->trainer, &model, &rep, &d);
    if (st != CREST_OK) {
        print_diag(&d);
        return exit_code_of(st, CLI_READ);
    }
    int rc = EXIT_OK;
    if ((st = crest_lmodel_save(model, out_path, &d)) != CREST_OK) {
        print_diag(&d);
        rc = exit_code_of(st, CLI_WRITE);
    } else {
        fprintf(stderr,
                "crest fit: %zu rows (%zu positive), %zu features, %zu Newton iterations, deviance %.2f, %s; "
                "l2 %g, smoothing %g, %u folds; %.2f s\nwrote %s\n",
                rep.n_rows, rep.n_positive, rep.n_features, rep.n_iter, rep.deviance,
                rep.converged ? "converged" : "NOT converged", f->opts.l2_lambda, f->opts.smoothing,
                f->opts.folds, now_s() - t0, out_path);
        if (rep.calibrated)
            fprintf(stderr,
                    "crest fit: calibration (Platt scaling on %u-fold cross-fitted scores): risk_prob = "
                    "sigmoid(%.6g + %.6g x logit(score)); mean on the training rows: score %.6g, risk_prob "
                    "%.6g, label %.6g\n",
                    f->opts.folds, rep.cal_a, rep.cal_b, rep.heldout_mean_score, rep.heldout_mean_calibrated,
                    (double)rep.n_positive / (double)rep.n_rows);
    }
    crest_lmodel_free(model);
    return rc;
}

/* Read the training rows through an engine into f; returns an exit code. */
static int fit_collect(fit_ctx *f, const crest_registry *registry, int in_fd, const char *in_name)
{
    crest_run_options opt = crest_run_options_default();
    opt.decide = 0;
    opt.header_hook = fit_header;
    opt.decl_hook = fit_decl;
    opt.hook_ctx = f;
    opt.input_name = in_name;
    crest_engine *engine = NULL;
    crest_diag d;
    const crest_status st = crest_engine_create(f->policy, registry, &opt, &engine, &d);
    if (st != CREST_OK) {
        print_diag(&d);
        return exit_code_of(st, CLI_LOAD);
    }
    int rc = feed_fd(engine, in_fd, in_name, 0);
    if (f->failed) {
        print_diag(&f->diag);
        rc = EXIT_CONFIG;
    } else if (rc == EXIT_OK) {
        const crest_run_stats *stats = crest_engine_stats(engine);
        fprintf(stderr, "crest fit: %s: rows in %llu = used %llu + without a label %llu + rejects %llu\n",
                in_name, (unsigned long long)stats->rows_in, (unsigned long long)f->used,
                (unsigned long long)f->unlabelled, (unsigned long long)stats->rejects);
        if (f->used == 0 || f->positives == 0 || f->positives == f->used) {
            fprintf(stderr, "%s: no usable labels in column '%s' (need both 0 and 1); see --label\n", prog,
                    f->label);
            rc = EXIT_INPUT;
        }
    }
    crest_engine_free(engine);
    return rc;
}

static int cmd_fit(int argc, char **argv)
{
    fit_args a;
    const int pr = fit_parse_args(argc, argv, &a);
    if (pr != CLI_PARSE_OK)
        return pr == CLI_PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    crest_policy *policy = NULL;
    crest_diag d;
    if (crest_policy_load_ex(a.policy_path, CREST_POLICY_SKIP_MODEL_FILE, &policy, &d) != CREST_OK) {
        print_diag(&d);
        return EXIT_CONFIG;
    }
    if ((!crest_policy_model_is_logistic(policy) && !crest_policy_model_is_xgboost(policy)) ||
        !crest_policy_model_features(policy)) {
        fprintf(
            stderr,
            "%s: %s: crest fit needs [model] kind = logistic or xgboost and features = ... in the policy\n",
            prog, a.policy_path);
        crest_policy_free(policy);
        return EXIT_CONFIG;
    }
    if (!crest_policy_model_is_xgboost(policy) && (a.valid_path || a.has_seed || a.threads)) {
        fprintf(stderr, "%s: --valid, --seed and --threads are for tree models ([model] kind = xgboost)\n",
                prog);
        crest_policy_free(policy);
        return EXIT_USAGE;
    }
    crest_registry *registry = NULL;
    if (load_registry(a.registry_path, policy, &registry) != 0) {
        crest_policy_free(policy);
        return EXIT_CONFIG;
    }
    if (crest_policy_model_is_xgboost(policy)) {
        const int trc = fit_tree(policy, registry, &a);
        crest_registry_free(registry);
        crest_policy_free(policy);
        return trc;
    }
    fit_ctx f;
    memset(&f, 0, sizeof f);
    f.policy = policy;
    f.label = a.label;
    crest_lmodel_train_options_default(&f.opts);
    unsigned pf;
    crest_policy_fit_settings(policy, &f.opts.l2_lambda, &f.opts.smoothing, &pf);
    f.opts.folds = pf;
    if (a.l2 >= 0)
        f.opts.l2_lambda = a.l2;
    if (a.smoothing >= 0)
        f.opts.smoothing = a.smoothing;
    if (a.folds >= 0)
        f.opts.folds = (unsigned)a.folds;

    int in_fd;
    const char *in_name;
    int rc = open_input(a.input_path, "input ", &in_fd, &in_name);
    if (rc == EXIT_OK) {
        const double t0 = now_s();
        rc = fit_collect(&f, registry, in_fd, in_name);
        if (rc == EXIT_OK)
            rc = fit_and_save(&f, a.out_path, t0);
        if (in_fd != STDIN_FILENO)
            close(in_fd);
    }
    crest_lmodel_trainer_free(f.trainer);
    crest_registry_free(registry);
    crest_policy_free(policy);
    return rc;
}

const cli_command cli_cmd_fit = {
    "fit",
    "fit   --policy FILE [--label COLUMN] -o MODEL [TRAIN.csv|-]",
    "fit the policy's logistic risk model on labelled history",
    cmd_fit,
    usage_fit,
};
