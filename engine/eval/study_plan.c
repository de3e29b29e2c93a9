/*
 * study_plan.c — the runs of a simulation study (crest_study.h, "the plan"):
 * the strategies and seeds as `crest replay --simulate` takes them, each run's
 * simulation options from the policy, and the loop over strategies, rates,
 * exploration shares and seeds that fills a crest_study. The CLI and the
 * Python package both run a study through crest_study_run, so the same
 * inputs give the same simulate.csv from either.
 *
 * It reads no input (the crest strategy's decisions come from the caller's
 * decide function), writes no file and never prints.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_study.h"

static const char strategy_names[] = "random, model, logit, xgb, hybrid:SHARE, score:COLUMN and crest";

/* Parse one item ("logit", "hybrid:0.3") into s. Returns CREST_OK or CREST_ERR_SYNTAX. */
static crest_status parse_strategy(const char *item, crest_study_strategy *s, crest_diag *diag)
{
    memset(s, 0, sizeof *s);
    snprintf(s->label, sizeof s->label, "%s", item);
    s->explore = NAN;
    s->model = -1;
    s->sweeps_rate = s->sweeps_explore = 1;
    char name[96];
    snprintf(name, sizeof name, "%s", item);
    char *arg = strchr(name, ':');
    if (arg)
        *arg++ = '\0';
    if (!strcmp(name, "random") && !arg) {
        s->kind = CREST_SIM_STRATEGY_RANDOM;
        s->sweeps_explore = 0;
    } else if ((!strcmp(name, "model") || !strcmp(name, "logit") || !strcmp(name, "xgb")) && !arg) {
        s->kind = CREST_SIM_STRATEGY_REFIT;
        s->model = name[0] == 'm' ? -1 : name[0] == 'x';
    } else if (!strcmp(name, "hybrid") && arg) {
        const double share = crest_parse_number(arg, strlen(arg));
        if (!(share >= 0 && share <= 1))
            return crest_diag_set(diag, CREST_ERR_SYNTAX, "--strategy hybrid:SHARE", 0, 0,
                                  "needs a number in [0, 1], not '%s'", arg);
        s->kind = CREST_SIM_STRATEGY_REFIT;
        s->explore = share;
        s->sweeps_explore = 0;
    } else if (!strcmp(name, "score") && arg && *arg && strlen(arg) < sizeof s->column) {
        s->kind = CREST_SIM_STRATEGY_SCORE;
        snprintf(s->column, sizeof s->column, "%s", arg);
    } else if (!strcmp(name, "crest") && !arg) {
        s->kind = CREST_SIM_STRATEGY_FIXED;
        s->sweeps_rate = s->sweeps_explore = 0;
    } else {
        return crest_diag_set(diag, CREST_ERR_SYNTAX, "--strategy", 0, 0, "takes %s, not '%s'",
                              strategy_names, s->label);
    }
    return CREST_OK;
}

crest_status crest_study_parse_strategies(const char *list, crest_study_strategy *out, size_t cap, size_t *n,
                                          crest_diag *diag)
{
    *n = 0;
    const char *p = list ? list : "model";
    while (*p) {
        const size_t len = strcspn(p, ",");
        if (len > 0) {
            char item[96];
            if (len >= sizeof item)
                return crest_diag_set(diag, CREST_ERR_SYNTAX, "--strategy", 0, 0, "takes %s, not '%.*s'",
                                      strategy_names, (int)len, p);
            if (*n == cap)
                return crest_diag_set(diag, CREST_ERR_SYNTAX, "--strategy", 0, 0,
                                      "takes at most %zu strategies in one simulation", cap);
            memcpy(item, p, len);
            item[len] = '\0';
            const crest_status st = parse_strategy(item, &out[*n], diag);
            if (st != CREST_OK)
                return st;
            ++*n;
        }
        p += len + (p[len] == ',');
    }
    if (*n == 0)
        return crest_diag_set(diag, CREST_ERR_SYNTAX, "--strategy", 0, 0, "needs at least one strategy");
    return CREST_OK;
}

crest_status crest_study_parse_seeds(const char *text, uint64_t *out, size_t cap, size_t *n, crest_diag *diag)
{
    *n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        errno = 0;
        const unsigned long long a = strtoull(p, &end, 10);
        unsigned long long b = a;
        int ok = end != p && errno == 0 && *p != '-';
        if (ok && *end == '-') {
            const char *q = end + 1;
            b = strtoull(q, &end, 10);
            ok = end != q && errno == 0 && *q != '-' && b >= a;
        }
        if (!ok || (*end && *end != ',') || b - a >= cap || *n + (b - a) >= cap)
            return crest_diag_set(diag, CREST_ERR_SYNTAX, "--seeds", 0, 0,
                                  "takes seeds and ranges like 1-20 or 1,4,7-9 (at most %zu), not '%s'", cap,
                                  text);
        for (unsigned long long s = a; s <= b; s++)
            out[(*n)++] = s;
        p = *end ? end + 1 : end;
    }
    if (*n == 0)
        return crest_diag_set(diag, CREST_ERR_SYNTAX, "--seeds", 0, 0,
                              "takes seeds and ranges like 1-20 or 1,4,7-9 (at most %zu), not '%s'", cap,
                              text);
    return CREST_OK;
}

/* The simulation options of one run. */
static crest_sim_options run_options(const crest_study_plan *plan, const crest_study_strategy *s, double rate,
                                     double explore, uint64_t seed)
{
    crest_sim_options so;
    crest_sim_options_default(&so);
    so.period = plan->period;
    so.rate = rate;
    so.final_rate = plan->final_rate;
    so.decay = plan->decay;
    so.decay_periods = plan->decay_periods;
    so.explore = explore;
    so.seed = seed;
    so.feature_spec = crest_policy_model_features(plan->policy);
    crest_policy_fit_settings(plan->policy, &so.train.l2_lambda, &so.train.smoothing, &so.train.folds);
    const int xgb = crest_policy_model_is_xgboost(plan->policy);
    const int trees = s->model < 0 ? xgb : s->model;
    if (trees) /* refit the tree model, with the policy's params when it has them */
        so.tree_params =
            xgb && crest_policy_model_params(plan->policy) ? crest_policy_model_params(plan->policy) : "";
    return so;
}

crest_status crest_study_sim_create(const crest_study_plan *plan, unsigned batch_days, crest_sim **out,
                                    crest_diag *diag)
{
    *out = NULL;
    if (plan->n_strategies == 0 || plan->n_rates == 0 || plan->n_explores == 0 || plan->n_seeds == 0)
        return crest_diag_set(diag, CREST_ERR_INVALID, "<simulate>", 0, 0,
                              "a study needs a strategy, a rate, an exploration share and a seed");
    const crest_sim_options so =
        run_options(plan, &plan->strategies[0], plan->rates[0], plan->explores[0], plan->seeds[0]);
    crest_status st = crest_sim_create(&so, out, diag);
    if (st == CREST_OK && (st = crest_sim_set_batch_days(*out, batch_days)) != CREST_OK) {
        crest_diag_set(diag, st, "<simulate>", 0, 0, "batches of %u days: at most 3660", batch_days);
        crest_sim_free(*out);
        *out = NULL;
    }
    return st;
}

/* One run: reset, strategy, run, keep. */
static crest_status run_one(crest_study *st, crest_sim *sim, const crest_sim_options *so,
                            const crest_study_strategy *s, const uint8_t *inspect, size_t n_rows,
                            const crest_study_setting *set, char *note, size_t note_cap, crest_diag *diag)
{
    crest_status r = crest_sim_reset(sim, so, diag);
    if (r == CREST_OK)
        r = crest_sim_set_strategy(sim, s->kind, s->kind == CREST_SIM_STRATEGY_SCORE ? s->column : NULL,
                                   s->kind == CREST_SIM_STRATEGY_FIXED ? inspect : NULL, n_rows, diag);
    if (r == CREST_OK)
        r = crest_sim_run(sim, diag);
    if (r != CREST_OK)
        return r;
    if (crest_study_add(st, set, sim) != CREST_OK)
        return crest_diag_set(diag, CREST_ERR_NOMEM, "<simulate>", 0, 0,
                              "out of memory keeping the simulation's results");
    if (note_cap && !note[0] && crest_sim_note(sim)[0])
        snprintf(note, note_cap, "%.96s (seed %llu): %.300s", s->label, (unsigned long long)set->seed,
                 crest_sim_note(sim));
    return CREST_OK;
}

crest_status crest_study_run(crest_study *st, crest_sim *sim, const crest_study_plan *plan, char *note,
                             size_t note_cap, crest_diag *diag)
{
    if (note_cap)
        note[0] = '\0';
    if (plan->n_strategies == 0 || plan->n_rates == 0 || plan->n_explores == 0 || plan->n_seeds == 0)
        return crest_diag_set(diag, CREST_ERR_INVALID, "<simulate>", 0, 0,
                              "a study needs a strategy, a rate, an exploration share and a seed");
    const size_t n_rows = crest_sim_row_count(sim);
    uint8_t *inspect = NULL;
    crest_status r = CREST_OK;
    for (size_t k = 0; k < plan->n_strategies && r == CREST_OK; k++) {
        const crest_study_strategy *s = &plan->strategies[k];
        const size_t n_r = s->sweeps_rate ? plan->n_rates : 1, n_e = s->sweeps_explore ? plan->n_explores : 1;
        for (size_t ri = 0; ri < n_r && r == CREST_OK; ri++)
            for (size_t ei = 0; ei < n_e && r == CREST_OK; ei++)
                for (size_t si = 0; si < plan->n_seeds && r == CREST_OK; si++) {
                    const uint64_t seed = plan->seeds[si];
                    const double rate = s->sweeps_rate ? plan->rates[ri] : NAN;
                    const double explore = s->kind == CREST_SIM_STRATEGY_RANDOM  ? 1
                                           : s->kind == CREST_SIM_STRATEGY_FIXED ? 0
                                           : s->sweeps_explore                   ? plan->explores[ei]
                                                                                 : s->explore;
                    if (s->kind == CREST_SIM_STRATEGY_FIXED) {
                        if (!plan->decide) {
                            r = crest_diag_set(diag, CREST_ERR_INVALID, "<simulate>", 0, 0,
                                               "the crest strategy needs the policy's decisions (a decide "
                                               "function)");
                            break;
                        }
                        if (!inspect && !(inspect = malloc(n_rows ? n_rows : 1))) {
                            r = crest_diag_set(diag, CREST_ERR_NOMEM, "<simulate>", 0, 0, "out of memory");
                            break;
                        }
                        memset(inspect, 0, n_rows ? n_rows : 1);
                        if ((r = plan->decide(plan->decide_ctx, seed, inspect, n_rows, diag)) != CREST_OK)
                            break;
                    }
                    const crest_sim_options so =
                        run_options(plan, s, isnan(rate) ? plan->rates[0] : rate, explore, seed);
                    const int own_share =
                        s->kind == CREST_SIM_STRATEGY_RANDOM || s->kind == CREST_SIM_STRATEGY_FIXED;
                    const crest_study_setting set = {s->label, seed, rate, own_share ? NAN : explore,
                                                     crest_policy_hash_hex(plan->policy)};
                    r = run_one(st, sim, &so, s, inspect, n_rows, &set, note, note_cap, diag);
                }
    }
    free(inspect);
    return r;
}
