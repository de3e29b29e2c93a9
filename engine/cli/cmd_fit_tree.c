/*
 * cmd_fit_tree.c — `crest fit` for a policy with [model] kind = xgboost: the
 * training rows (and an optional --valid file) are read through the engine
 * without deciding, handed to the tree trainer of the models library
 * (crest_xgb_fit.h), and the model is written as XGBoost JSON with crest's
 * feature map inside. The training itself lives in the library; this file
 * only feeds rows and prints what the fit did.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crest/crest.h"
#include "crest/crest_date.h"
#include "crest/crest_xgb_fit.h"

#include "cli.h"

typedef struct tree_ctx {
    const crest_policy *policy;
    const char *label;
    crest_xgb_fit_options opts;
    crest_xgb_trainer *trainer;
    crest_str *header; /* the training file's header, to check --valid against */
    size_t n_cols;
    int valid_pass;
    fit_label lab;
    uint64_t used, unlabelled;
    crest_diag diag;
    int failed;
} tree_ctx;

static int tree_header(void *ctx, const crest_str *header, size_t n_cols)
{
    tree_ctx *f = ctx;
    fit_label_bind(&f->lab, f->label, header, n_cols);
    if (f->valid_pass) {
        /* Columns are bound once, to the training header: --valid must match it. */
        int same = n_cols == f->n_cols;
        for (size_t i = 0; same && i < n_cols; i++)
            same =
                header[i].len == f->header[i].len && !memcmp(header[i].ptr, f->header[i].ptr, header[i].len);
        if (!same) {
            crest_diag_set(&f->diag, CREST_ERR_MISMATCH, "--valid", 1, 0,
                           "the validation file's header differs from the training file's; give both the "
                           "same columns in the same order");
            f->failed = 1;
            return 1;
        }
        return 0;
    }
    f->header = calloc(n_cols ? n_cols : 1, sizeof *f->header);
    for (size_t i = 0; f->header && i < n_cols; i++) {
        char *p = malloc(header[i].len + 1);
        if (!p)
            break;
        memcpy(p, header[i].ptr, header[i].len);
        p[header[i].len] = '\0';
        f->header[i] = (crest_str){p, header[i].len};
        f->n_cols = i + 1;
    }
    if (!f->header || f->n_cols != n_cols) {
        crest_diag_set(&f->diag, CREST_ERR_NOMEM, "", 0, 0, "out of memory");
        f->failed = 1;
        return 1;
    }
    if (crest_xgb_trainer_create(crest_policy_model_features(f->policy), header, n_cols, &f->opts,
                                 &f->trainer, &f->diag) != CREST_OK) {
        f->failed = 1;
        return 1;
    }
    return 0;
}

static int tree_decl(void *ctx, const crest_decl *d, const crest_decision *dec, unsigned long line)
{
    (void)dec;
    (void)line;
    tree_ctx *f = ctx;
    const double x = fit_label_value(&f->lab, d);
    if (x != x) {
        f->unlabelled++;
        return 0;
    }
    if (crest_xgb_trainer_add(f->trainer, d, x != 0, f->valid_pass) != CREST_OK) {
        f->failed = 1;
        crest_diag_set(&f->diag, CREST_ERR_NOMEM, "", 0, 0, "out of memory collecting training rows");
        return 1;
    }
    f->used++;
    return 0;
}

/* Feed one file through an engine that does not decide. */
static int tree_feed(tree_ctx *f, const crest_registry *registry, const char *path, const char *what)
{
    int fd;
    const char *name;
    if (open_input(path, what, &fd, &name) != 0)
        return EXIT_INPUT;
    crest_run_options opt = crest_run_options_default();
    opt.decide = 0;
    opt.header_hook = tree_header;
    opt.decl_hook = tree_decl;
    opt.hook_ctx = f;
    opt.input_name = name;
    crest_engine *engine = NULL;
    crest_diag d;
    int rc = EXIT_OK;
    if (crest_engine_create(f->policy, registry, &opt, &engine, &d) != CREST_OK) {
        print_diag(&d);
        rc = EXIT_CONFIG;
    } else {
        const uint64_t used0 = f->used, unl0 = f->unlabelled;
        rc = feed_fd(engine, fd, name, 0);
        if (f->failed) {
            print_diag(&f->diag);
            rc = EXIT_CONFIG;
        } else if (rc == EXIT_OK) {
            const crest_run_stats *stats = crest_engine_stats(engine);
            fprintf(stderr, "crest fit: %s: rows in %llu = used %llu + without a label %llu + rejects %llu\n",
                    name, (unsigned long long)stats->rows_in, (unsigned long long)(f->used - used0),
                    (unsigned long long)(f->unlabelled - unl0), (unsigned long long)stats->rejects);
        }
    }
    crest_engine_free(engine);
    if (fd != STDIN_FILENO)
        close(fd);
    return rc;
}

int fit_tree(const crest_policy *policy, const crest_registry *registry, const fit_args *args)
{
    const char *input_path = args->input_path, *valid_path = args->valid_path, *out_path = args->out_path,
               *label = args->label;
    tree_ctx f;
    memset(&f, 0, sizeof f);
    f.policy = policy;
    f.label = label;
    crest_xgb_fit_options_default(&f.opts);
    f.opts.params = crest_policy_model_params(policy);
    double l2;
    crest_policy_fit_settings(policy, &l2, &f.opts.smoothing, &f.opts.folds);
    if (args->smoothing >= 0)
        f.opts.smoothing = args->smoothing;
    if (args->folds >= 0)
        f.opts.folds = (unsigned)args->folds;
    if (args->has_seed)
        f.opts.seed = args->seed;
    if (args->threads > 0)
        f.opts.n_threads = (unsigned)args->threads;
    const double t0 = now_s();
    int rc = tree_feed(&f, registry, input_path, "input ");
    if (rc == EXIT_OK && valid_path) {
        f.valid_pass = 1;
        rc = tree_feed(&f, registry, valid_path, "--valid ");
    }
    crest_xgb_fit_report rep;
    crest_diag d;
    if (rc == EXIT_OK && crest_xgb_trainer_fit(f.trainer, out_path, &rep, &d) != CREST_OK) {
        print_diag(&d);
        rc = d.status == CREST_ERR_IO ? EXIT_IO : d.status == CREST_ERR_INVALID ? EXIT_CONFIG : EXIT_INPUT;
    } else if (rc == EXIT_OK) {
        char from[16] = "";
        if (rep.valid_from != CREST_DATE_NONE)
            crest_date_format(rep.valid_from, from);
        fprintf(
            stderr,
            "crest fit: %zu rows (%zu positive), %zu features; early stopping on %zu %s rows%s%s: best %s "
            "%.6g after %u of %u rounds; %s%u trees; seed %llu, %u threads, smoothing %g, %u folds; %.2f s\n"
            "wrote %s\n",
            rep.n_rows, rep.n_positive, rep.n_features, rep.n_valid, valid_path ? "--valid" : "held-out",
            from[0] ? " from " : "", from, rep.metric, rep.best_score, rep.n_rounds, rep.rounds_run,
            rep.refitted ? "refitted on all rows: " : "", rep.n_rounds, (unsigned long long)f.opts.seed,
            f.opts.n_threads, f.opts.smoothing, f.opts.folds, now_s() - t0, out_path);
    }
    crest_xgb_trainer_free(f.trainer);
    for (size_t i = 0; f.header && i < f.n_cols; i++)
        free((char *)f.header[i].ptr);
    free(f.header);
    return rc;
}
