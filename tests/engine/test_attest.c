/*
 * test_attest.c — the attested policy: every file a policy names is read
 * once, bounded, hashed with SHA-256 into policy_hash, and refused when it is
 * not a regular file, over its cap or outside [policy] root.
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static char dir[256];

/* A scratch directory with the example criteria, its tables, the KCS model
 * and a policy naming all of them. */
static void copy(const char *from_rel, const char *to)
{
    char src[1024], dst[1024];
    snprintf(src, sizeof src, "%s/%s", CREST_SOURCE_DIR, from_rel);
    snprintf(dst, sizeof dst, "%s/%s", dir, to);
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    cr_assert(in && out, "copy %s", src);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
}

static void write_file(const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void append(const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "ab");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *POLICY_HEAD = "[policy]\nname = attest\nseed = 3\n"
                                 "[tiers]\norder = A, R\nbase = R\n"
                                 "[tier A]\nratio = 0.2\n[tier R]\nrate = 0.05\n";

static void setup(void)
{
    snprintf(dir, sizeof dir, "%s/crest-attest.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
    char lists[300];
    snprintf(lists, sizeof lists, "%s/lists", dir);
    mkdir(lists, 0700);
    copy("models/criteria/example.csv", "crit.csv");
    copy("models/criteria/lists/negative_list.csv", "lists/negative_list.csv");
    copy("models/criteria/lists/quarantine_hs.csv", "lists/quarantine_hs.csv");
    copy("models/criteria/lists/value_bands.csv", "lists/value_bands.csv");
    copy("models/kcs/kcs_logit.model", "m.model");
    char text[2048];
    snprintf(text, sizeof text,
             "%s[rules]\ncriteria = crit.csv\n[model]\nkind = logistic\nfile = m.model\nfeatures = te:hs6, "
             "te:hs4, "
             "te:hs2, te:origin, te:office, te:hs4*origin, te:hs6*origin, log:declared_value, "
             "log:net_mass_kg, log:unit_value, rel:unit_value/hs4\n",
             POLICY_HEAD);
    write_file("p.conf", text);
}

static void teardown(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

static crest_status load(const char *name, crest_policy **p, crest_diag *d)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return crest_policy_load(path, p, d);
}

static void hash_of(char out[65])
{
    crest_policy *p = NULL;
    crest_diag d;
    cr_assert_eq(load("p.conf", &p, &d), CREST_OK, "%s:%lu: %s", d.file, d.line, d.message);
    snprintf(out, 65, "%s", crest_policy_hash_full(p));
    cr_expect_eq(strncmp(crest_policy_hash_hex(p), out, 16), 0, "the short form is the full hash's head");
    crest_policy_free(p);
}

Test(attest, every_file_is_listed_with_its_sha256, .init = setup, .fini = teardown)
{
    crest_policy *p = NULL;
    crest_diag d;
    cr_assert_eq(load("p.conf", &p, &d), CREST_OK, "%s", d.message);
    cr_assert_eq(crest_policy_file_count(p), 5);
    const char *kinds[5] = {0};
    for (size_t i = 0; i < 5; i++) {
        crest_policy_file f;
        cr_assert_eq(crest_policy_file_info(p, i, &f), CREST_OK);
        kinds[i] = f.kind;
        cr_expect_eq(strlen(f.sha256), 64);
        cr_expect_gt(f.bytes, 0);
    }
    cr_expect_str_eq(kinds[0], "criteria");
    cr_expect_str_eq(kinds[4], "model");
    crest_policy_file f;
    cr_expect_eq(crest_policy_file_info(p, 5, &f), CREST_ERR_RANGE);
    crest_policy_free(p);
}

/* One byte more in any kind of file changes the policy hash. */
Test(attest, one_byte_in_any_file_changes_the_hash, .init = setup, .fini = teardown)
{
    const char *files[] = {"crit.csv", "lists/negative_list.csv", "lists/value_bands.csv", "m.model",
                           "p.conf"};
    char prev[65];
    hash_of(prev);
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        append(files[i], i == 4 ? "[capacity]\nred_per_office_day = 7\n" : "\n");
        char now[65];
        hash_of(now);
        cr_expect_str_neq(now, prev, "appending to %s must change the hash", files[i]);
        memcpy(prev, now, 65);
    }
}

/* A table entry added (the negative-list case) changes the hash. */
Test(attest, negative_list_entry_changes_the_hash, .init = setup, .fini = teardown)
{
    char before[65], after[65];
    hash_of(before);
    append("lists/negative_list.csv", "91310000MA1FL0XX0X,,,added\n");
    crest_policy *p = NULL;
    crest_diag d;
    crest_status st = load("p.conf", &p, &d);
    crest_policy_free(p);
    if (st == CREST_OK) {
        hash_of(after);
        cr_expect_str_neq(before, after);
    } else {
        cr_expect_eq(st, CREST_ERR_INVALID, "%s", d.message); /* a malformed entry is an error, not a no-op */
    }
}

Test(attest, broken_regex_fails_the_load_with_rule_id, .init = setup, .fini = teardown)
{
    append("crit.csv", "BROKEN,hs_code,re:(abc,weight,1\n");
    crest_policy *p = NULL;
    crest_diag d;
    cr_assert_eq(load("p.conf", &p, &d), CREST_ERR_REGEX);
    cr_expect_null(p);
    cr_expect_gt(d.line, 1);
    cr_expect_gt(d.column, 0);
    cr_expect(strstr(d.message, "Rule 'BROKEN'") != NULL, "%s", d.message);
}

Test(attest, missing_table_fails_the_load, .init = setup, .fini = teardown)
{
    char path[600];
    snprintf(path, sizeof path, "%s/lists/value_bands.csv", dir);
    unlink(path);
    crest_policy *p = NULL;
    crest_diag d;
    cr_expect_eq(load("p.conf", &p, &d), CREST_ERR_MISSING, "%s", d.message);
}

static void policy_with_criteria(const char *criteria, const char *extra)
{
    char text[2048];
    snprintf(text, sizeof text, "%s[policy]\n%s[rules]\ncriteria = %s\n", POLICY_HEAD, extra, criteria);
    write_file("q.conf", text);
}

static double load_seconds(crest_status want)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    crest_policy *p = NULL;
    crest_diag d;
    cr_expect_eq(load("q.conf", &p, &d), want, "%s", d.message);
    crest_policy_free(p);
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
}

Test(attest, devices_fifos_directories_are_refused_at_once, .init = setup, .fini = teardown)
{
    policy_with_criteria("/dev/zero", "");
    cr_expect_lt(load_seconds(CREST_ERR_INVALID), 1.0);
    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    policy_with_criteria("fifo", "");
    cr_expect_lt(load_seconds(CREST_ERR_INVALID), 1.0);
    policy_with_criteria("lists", "");
    cr_expect_lt(load_seconds(CREST_ERR_INVALID), 1.0);
}

Test(attest, size_cap_per_kind, .init = setup, .fini = teardown)
{
    policy_with_criteria("crit.csv", "max_criteria_bytes = 100\n");
    load_seconds(CREST_ERR_RANGE);
    policy_with_criteria("crit.csv", "max_list_bytes = 10\n");
    crest_policy *p = NULL;
    crest_diag d;
    cr_expect_eq(load("q.conf", &p, &d), CREST_ERR_RANGE, "a table over its cap cannot be used: %s",
                 d.message);
    cr_expect(strstr(d.message, "cap") != NULL, "%s", d.message);
    policy_with_criteria("crit.csv", "max_criteria_bytes = 1000000\n");
    load_seconds(CREST_OK);
}

Test(attest, root_confines_relative_and_absolute_paths, .init = setup, .fini = teardown)
{
    char abs[600];
    snprintf(abs, sizeof abs, "%s/crit.csv", dir);
    policy_with_criteria(abs, "root = .\n");
    load_seconds(CREST_OK);
    policy_with_criteria("lists/../crit.csv", "root = lists\n");
    load_seconds(CREST_ERR_INVALID);
    policy_with_criteria(abs, "root = lists\n");
    load_seconds(CREST_ERR_INVALID);
    policy_with_criteria("/etc/passwd", "root = .\n");
    load_seconds(CREST_ERR_INVALID);
}

/* Engines share the policy's parsed criteria: a file changed after the load
 * does not change what the engine uses (the bytes hashed are the bytes used). */
Test(attest, engines_use_the_bytes_hashed, .init = setup, .fini = teardown)
{
    crest_policy *p = NULL;
    crest_diag d;
    cr_assert_eq(load("p.conf", &p, &d), CREST_OK, "%s", d.message);
    write_file("crit.csv", "this is not a criteria file\n");
    write_file("m.model", "nor a model\n");
    run_result r;
    const char *in =
        "decl_id,decl_date,office,direction,enterprise_id,hs_code,origin,goods_desc,declared_value,"
        "net_mass_kg\nX1,2024-01-01,2233,I,E1,0101,CN,live horses,100,10\n";
    run_engine(p, NULL, in, strlen(in), 0, CREST_FORMAT_CSV, &r);
    cr_expect_eq(r.status, CREST_OK);
    cr_expect(strstr(r.out.data, "X1,") != NULL);
    run_result_free(&r);
    crest_policy_free(p);
}

/* [fx]: the exchange-rate table is read once, listed with its SHA-256 (kind
 * fx) and in the hash: one byte more in it changes policy_hash. */
Test(attest, fx_table_is_hashed, .init = setup, .fini = teardown)
{
    write_file("fx.csv", "currency,valid_from,valid_to,rate_to_base\nEUR,2024-01-01,,1.08\n");
    char text[512];
    snprintf(text, sizeof text, "%s[fx]\nfile = fx.csv\nbase = USD\n", POLICY_HEAD);
    write_file("fx.conf", text);
    crest_policy *p = NULL;
    crest_diag d;
    cr_assert_eq(load("fx.conf", &p, &d), CREST_OK, "%s:%lu: %s", d.file, d.line, d.message);
    cr_assert_eq(crest_policy_file_count(p), 1);
    crest_policy_file f;
    cr_assert_eq(crest_policy_file_info(p, 0, &f), CREST_OK);
    cr_expect_str_eq(f.kind, "fx");
    cr_expect_eq(f.bytes, strlen("currency,valid_from,valid_to,rate_to_base\nEUR,2024-01-01,,1.08\n"));
    char before[65];
    snprintf(before, sizeof before, "%s", crest_policy_hash_full(p));
    crest_policy_free(p);
    append("fx.csv", "\n");
    cr_assert_eq(load("fx.conf", &p, &d), CREST_OK, "%s", d.message);
    cr_expect_str_neq(crest_policy_hash_full(p), before,
                      "one byte more in the FX table must change the hash");
    crest_policy_free(p);
    /* A broken table stops the load with its line and column. */
    write_file("fx.csv", "currency,valid_from,valid_to,rate_to_base\nEUR,2024-01-01,,0\n");
    cr_expect_eq(load("fx.conf", &p, &d), CREST_ERR_INVALID);
    cr_expect_eq(d.line, 2);
    cr_expect_eq(d.column, 17);
    cr_expect_null(p);
}
