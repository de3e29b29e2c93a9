/*
 * test_regress_fuzz.c — replays the inputs saved from fuzzing (tests/regress/)
 * through the same public API as the libFuzzer targets in fuzz/, with the same
 * invariants, so that a bug found once stays fixed in the ordinary test suite
 * (and under ASan/UBSan in the sanitizer build).
 *
 * Layout: tests/regress/TARGET/FILE, TARGET one of ingest, policy, registry,
 * rules, xgb, lmodel (the fuzz target the input came from). An input whose
 * bug is not fixed yet waits in tests/regress/pending/TARGET/, outside this
 * test (a test that is always skipped asserts nothing): replay it with the
 * fuzz target itself (tests/regress/pending/README.md), and move it up here
 * with its fix.
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "crest/crest_lmodel.h"
#include "crest/crest_rules.h"
#include "crest/crest_xgb.h"
#include "harness.h"

typedef struct blob {
    char *data;
    size_t len;
} blob;

static blob slurp(const char *path)
{
    blob b = {NULL, 0};
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b.data = malloc((size_t)n + 1);
    cr_assert_not_null(b.data);
    cr_assert_eq(fread(b.data, 1, (size_t)n, f), (size_t)n);
    b.data[n] = '\0';
    b.len = (size_t)n;
    fclose(f);
    return b;
}

/* Calls fn on every regular file of tests/regress/SUB; returns how many. */
static size_t for_each_input(const char *sub, void (*fn)(const char *path, const blob *in))
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/regress/%s", CREST_SOURCE_DIR, sub);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        blob in = slurp(path);
        cr_log_info("replaying %s", path);
        fn(path, &in);
        free(in.data);
        n++;
    }
    closedir(d);
    return n;
}

static char *write_temp(const char *data, size_t len)
{
    char *path = strdup("/tmp/crest-regress-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

/* ---- ingest: rows_in = decisions + rejects, in any chunking ---- */

static crest_policy *g_policy;

static void replay_ingest(const char *path, const blob *in)
{
    static const char registry_csv[] = "enterprise_id,tier,valid_from,valid_to\n"
                                       "E1,AEO,2020-01-01,2024-12-31\nE1,DISHONEST,2025-01-01,\n";
    crest_registry *reg = NULL;
    crest_diag d;
    cr_assert_eq(crest_registry_parse(registry_csv, sizeof registry_csv - 1, "<reg>", g_policy, &reg, &d),
                 CREST_OK);
    static const size_t chunks[] = {0, 1, 7, 4096};
    for (int with_reg = 0; with_reg < 2; with_reg++)
        for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
            run_result r;
            run_engine(g_policy, with_reg ? reg : NULL, in->data, in->len, chunks[c], CREST_FORMAT_CSV, &r);
            cr_assert(r.status == CREST_OK || r.status == CREST_ERR_MISSING || r.status == CREST_ERR_SYNTAX,
                      "%s: status %s", path, crest_status_name(r.status));
            cr_assert_eq(r.stats.rows_in, r.stats.decisions + r.stats.rejects, "%s: unbalanced", path);
            uint64_t by_reason = 0;
            for (int k = 0; k < CREST_REJECT_COUNT; k++)
                by_reason += r.stats.rejects_by_reason[k];
            cr_assert_eq(by_reason, r.stats.rejects, "%s", path);
            run_result_free(&r);
        }
    crest_registry_free(reg);
}

/* ---- policy: *out stays NULL on failure; the canonical form round-trips ---- */

static void replay_policy(const char *path, const blob *in)
{
    crest_policy *p = NULL;
    crest_diag d;
    if (crest_policy_parse(in->data, in->len, "<regress>", &p, &d) != CREST_OK) {
        cr_assert_null(p, "%s", path);
        return;
    }
    const char *canon = crest_policy_describe(p);
    crest_policy *q = NULL;
    cr_assert_eq(crest_policy_parse(canon, strlen(canon), "<canonical>", &q, &d), CREST_OK,
                 "%s: canonical form does not parse: %s", path, d.message);
    cr_assert_eq(crest_policy_hash(q), crest_policy_hash(p), "%s: canonical form has another hash", path);
    crest_policy_free(q);
    crest_policy_free(p);
}

/* ---- registry: lookups stay in range ---- */

static void replay_registry(const char *path, const blob *in)
{
    crest_registry *r = NULL;
    crest_diag d;
    if (crest_registry_parse(in->data, in->len, "<regress>", g_policy, &r, &d) != CREST_OK) {
        cr_assert_null(r, "%s", path);
        return;
    }
    const int t = crest_registry_lookup(r, in->data, in->len < 8 ? in->len : 8, 20000);
    cr_assert(t >= -2 && t < (int)crest_policy_tier_count(g_policy), "%s", path);
    crest_registry_free(r);
}

/* ---- rules: CRITERIA [\n@@\n TABLE], the table offered as "t" ---- */

static const char *find_sep(const blob *in)
{
    for (size_t i = 0; i + 4 <= in->len; i++)
        if (memcmp(in->data + i, "\n@@\n", 4) == 0)
            return in->data + i;
    return NULL;
}

static void replay_rules(const char *path, const blob *in)
{
    const char *sep = find_sep(in);
    const size_t crit_len = sep ? (size_t)(sep - in->data) + 1 : in->len;
    char *crit = write_temp(in->data, crit_len);
    char *table = sep ? write_temp(sep + 4, in->len - crit_len - 3) : write_temp("value\nA\n", 8);
    char lists[1024];
    snprintf(lists, sizeof lists, "%s/models/criteria/lists", CREST_SOURCE_DIR);
    const crest_rules_table_file tables[] = {{"t", table}};
    crest_rules_load_options opts;
    memset(&opts, 0, sizeof opts);
    opts.tables = tables;
    opts.n_tables = 1;
    opts.tables_dir = lists;
    crest_rules *rules = NULL;
    crest_diag d;
    if (crest_rules_load(crit, &opts, &rules, &d) == CREST_OK) {
        crest_rules_scratch *scratch = NULL;
        cr_assert_eq(crest_rules_scratch_create(rules, &scratch), CREST_OK);
        crest_decl decl;
        memset(&decl, 0, sizeof decl);
        const crest_str raw = {in->data, in->len};
        for (int f = 0; f < CREST_FIELD_COUNT; f++)
            decl.field[f] = raw;
        decl.date_days = 20000;
        decl.declared_value = 1.0;
        decl.net_mass_kg = 0.0;
        decl.quantity = NAN;
        decl.direction = 'I';
        crest_rules_result res;
        crest_rules_eval(rules, scratch, &decl, &res);
        cr_assert_leq(res.n_hits, crest_rules_count(rules), "%s", path);
        crest_rules_scratch_free(scratch);
        crest_rules_free(rules);
    } else {
        cr_assert_null(rules, "%s", path);
    }
    unlink(crit);
    unlink(table);
    free(crit);
    free(table);
}

/* ---- xgb: probabilities in [0, 1] ---- */

static void replay_xgb(const char *path, const blob *in)
{
    crest_xgb *m = NULL;
    crest_diag d;
    if (crest_xgb_load_buffer(in->data, in->len, "<regress>", &m, &d) != CREST_OK) {
        cr_assert_null(m, "%s", path);
        return;
    }
    const size_t n = crest_xgb_n_features(m);
    float *x = calloc(n + 1, sizeof *x);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++)
            x[i] = pass ? NAN : 0.0f;
        double prob = -1;
        cr_assert_eq(crest_xgb_predict(m, x, n, &prob), CREST_OK, "%s", path);
        cr_assert(prob >= 0.0 && prob <= 1.0, "%s: p = %g", path, prob);
    }
    free(x);
    crest_xgb_free(m);
}

/* ---- lmodel: scores in [0, 1] ---- */

static void replay_lmodel(const char *path, const blob *in)
{
    (void)in;
    crest_lmodel *m = NULL;
    crest_diag d;
    if (crest_lmodel_load(path, &m, &d) != CREST_OK) {
        cr_assert_null(m, "%s", path);
        return;
    }
    crest_decl decl;
    memset(&decl, 0, sizeof decl);
    decl.date_days = CREST_DATE_NONE;
    decl.declared_value = decl.net_mass_kg = decl.quantity = NAN;
    const double p = crest_lmodel_score(m, &decl, NULL);
    cr_assert(p >= 0.0 && p <= 1.0, "%s: p = %g", path, p);
    crest_lmodel_free(m);
}

static void setup(void)
{
    crest_init();
    g_policy = load_policy_file("policies/order251.conf");
    cr_assert_not_null(g_policy);
}

static void teardown(void)
{
    crest_policy_free(g_policy);
    g_policy = NULL;
}

static size_t replay_all(void)
{
    static const struct {
        const char *name;
        void (*fn)(const char *, const blob *);
    } targets[] = {{"ingest", replay_ingest}, {"policy", replay_policy}, {"registry", replay_registry},
                   {"rules", replay_rules},   {"xgb", replay_xgb},       {"lmodel", replay_lmodel}};
    size_t n = 0;
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        n += for_each_input(targets[t].name, targets[t].fn);
    }
    return n;
}

Test(regress_fuzz, saved_inputs, .init = setup, .fini = teardown)
{
    const size_t n = replay_all();
    cr_log_info("replayed %zu saved fuzz inputs", n);
    cr_assert_gt(n, 0, "no inputs under tests/regress/: the replay tested nothing");
}
