/*
 * fuzz_rules.c — libFuzzer target for the selection-criteria loader and the
 * named-table (list/band) loader: crest_rules_load takes a path, so the input
 * is written to memfds and loaded through /proc/self/fd/N.
 *
 * Input layout: CRITERIA [ "\n@@\n" TABLE ]. TABLE is offered under the
 * explicit table name "t" (list:t, prefix:t, band:t read it as a list or a
 * band table); other names come from the shipped models/criteria/lists. An
 * accepted rule set is bound to a small header, described rule by rule and
 * evaluated against a few fixed declarations (and one made from the input),
 * with crest_rules_decide_lane on the result.
 */
#define _GNU_SOURCE
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crest/crest_rules.h"
#include "fuzz_common.h"

static int g_crit_fd = -1, g_table_fd = -1;
static char g_crit_path[64], g_table_path[64];
static char g_lists_dir[1024];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    crest_init();
    g_crit_fd = memfd_create("crest-criteria", 0);
    g_table_fd = memfd_create("crest-table", 0);
    if (g_crit_fd < 0 || g_table_fd < 0)
        __builtin_trap();
    snprintf(g_crit_path, sizeof g_crit_path, "/proc/self/fd/%d", g_crit_fd);
    snprintf(g_table_path, sizeof g_table_path, "/proc/self/fd/%d", g_table_fd);
    snprintf(g_lists_dir, sizeof g_lists_dir, "%s/models/criteria/lists", CREST_SOURCE_DIR);
    return 0;
}

static void put(int fd, const uint8_t *data, size_t size)
{
    if (ftruncate(fd, 0) != 0)
        __builtin_trap();
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);
        if (n <= 0)
            __builtin_trap();
        done += (size_t)n;
    }
}

static double fixed_uniform(void *ctx, size_t rule)
{
    (void)ctx;
    return (double)(rule % 7) / 7.0;
}

static crest_str S(const char *s)
{
    crest_str r = {s, strlen(s)};
    return r;
}

static void eval_one(const crest_rules *rules, crest_rules_scratch *scratch, const crest_decl *d)
{
    crest_rules_result res;
    crest_rules_eval(rules, scratch, d, &res);
    if (res.n_hits > crest_rules_count(rules) || res.lane > CREST_RULES_LANE_RED)
        __builtin_trap();
    const size_t listed = res.n_hits < CREST_RULES_HITS_CAP ? res.n_hits : CREST_RULES_HITS_CAP;
    for (size_t i = 0; i < listed; i++)
        if (res.hits[i] >= crest_rules_count(rules) || (i && res.hits[i] <= res.hits[i - 1]))
            __builtin_trap();
    int32_t rule = 0;
    crest_rules_lane lane = crest_rules_decide_lane(rules, &res, false, fixed_uniform, NULL, &rule);
    if (lane > CREST_RULES_LANE_RED || rule < -1 || rule >= (int32_t)crest_rules_count(rules))
        __builtin_trap();
    (void)crest_rules_decide_lane(rules, &res, true, fixed_uniform, NULL, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sep = memmem(data, size, "\n@@\n", 4);
    const size_t crit_len = sep ? (size_t)(sep - data) + 1 : size;
    put(g_crit_fd, data, crit_len);
    if (sep)
        put(g_table_fd, sep + 4, size - (size_t)(sep - data) - 4);
    else
        put(g_table_fd, (const uint8_t *)"value\nA\n", 8);

    const crest_rules_table_file tables[] = {{"t", g_table_path}};
    crest_rules_load_options opts;
    memset(&opts, 0, sizeof opts);
    opts.tables = tables;
    opts.n_tables = 1;
    opts.tables_dir = g_lists_dir;
    opts.no_jit = (fuzz_hash(data, size) & 1) != 0;

    crest_rules *rules = NULL;
    crest_diag diag;
    if (crest_rules_load(g_crit_path, &opts, &rules, &diag) != CREST_OK) {
        if (rules != NULL)
            __builtin_trap();
        return 0;
    }
    const crest_str header[] = {S("decl_id"), S("hs_code"), S("origin"), S("custom"), S("Note")};
    (void)crest_rules_bind(rules, header, sizeof header / sizeof header[0], &diag);
    for (size_t i = 0; i < crest_rules_count(rules); i++) {
        crest_rules_info info;
        if (crest_rules_describe(rules, i, &info) != CREST_OK || !info.id || !crest_rules_id(rules, i))
            __builtin_trap();
    }
    (void)crest_rules_max_hits_id(rules);

    crest_rules_scratch *scratch = NULL;
    if (crest_rules_scratch_create(rules, &scratch) != CREST_OK)
        __builtin_trap();
    crest_decl d;
    memset(&d, 0, sizeof d);
    crest_str cols[5] = {S("D1"), S("293349"), S("IR"), S("x"), S("")};
    d.cols = cols;
    d.n_cols = 5;
    d.field[CREST_FIELD_DECL_ID] = cols[0];
    d.field[CREST_FIELD_HS_CODE] = cols[1];
    d.field[CREST_FIELD_ORIGIN] = cols[2];
    d.field[CREST_FIELD_ENTERPRISE_ID] = S("91440300MA5FXXXX1A");
    d.field[CREST_FIELD_GOODS_DESC] = S("lithium battery 电池");
    d.date_days = 20000;
    d.declared_value = 100.0;
    d.net_mass_kg = 0.5;
    d.quantity = 3;
    d.direction = 'I';
    eval_one(rules, scratch, &d);
    /* Everything absent or unparseable. */
    crest_decl empty;
    memset(&empty, 0, sizeof empty);
    empty.date_days = CREST_DATE_NONE;
    empty.declared_value = empty.net_mass_kg = empty.quantity = NAN;
    eval_one(rules, scratch, &empty);
    /* Every field = the raw input (invalid UTF-8, NULs, huge). */
    crest_decl raw = d;
    crest_str in = {(const char *)data, size};
    crest_str rcols[5] = {in, in, in, in, in};
    for (int f = 0; f < CREST_FIELD_COUNT; f++)
        raw.field[f] = in;
    raw.cols = rcols;
    raw.net_mass_kg = 0.0; /* unit value = value / 0 */
    raw.direction = 'E';
    eval_one(rules, scratch, &raw);
    crest_rules_scratch_free(scratch);
    crest_rules_free(rules);
    return 0;
}
