/* test_registry.c — as-of-date joins and registry load errors. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <pthread.h>

#include "harness.h"

static const char *POLICY = "[tiers]\norder = AEO, REGULAR, DISHONEST\nbase = REGULAR\n"
                            "[tier AEO]\naliases = 高级认证企业\nratio = 0.2\n[tier REGULAR]\nrate = 0.03\n"
                            "[tier DISHONEST]\nrate = 0.8\nfloor = yes\n";

static int32_t day(const char *s)
{
    int32_t d = 0;
    cr_assert(crest_date_parse(s, strlen(s), &d));
    return d;
}

Test(registry, as_of_date)
{
    crest_policy *p = parse_policy(POLICY);
    const char *csv = "\xEF\xBB\xBF"
                      "Enterprise_ID,Tier,Valid_From,Valid_To,note\r\n"
                      "E1,REGULAR,2024-01-01,2024-06-30,x\r\n"
                      "E1,AEO,2024-07-01,,upgrade\r\n"
                      "E2,高级认证企业,2024-01-01,2024-03-31,\r\n"
                      "E2,DISHONEST,2024-04-01,2024-12-31,downgrade\r\n"
                      "\"E,3\",regular,,,quoted id\r\n";
    crest_registry *r = NULL;
    crest_diag d;
    cr_assert_eq(crest_registry_parse(csv, strlen(csv), "<reg>", p, &r, &d), CREST_OK, "%s", d.message);
    cr_expect_eq(crest_registry_enterprises(r), 3);
    cr_expect_eq(crest_registry_periods(r), 5);
    cr_expect_eq(crest_registry_lookup(r, "E1", 2, day("2024-06-30")), 1);
    cr_expect_eq(crest_registry_lookup(r, "E1", 2, day("2024-07-01")), 0);
    cr_expect_eq(crest_registry_lookup(r, "E1", 2, day("2030-01-01")), 0);
    cr_expect_eq(crest_registry_lookup(r, "E1", 2, day("2023-12-31")), -2);
    cr_expect_eq(crest_registry_lookup(r, "E2", 2, day("2024-03-31")), 0);
    cr_expect_eq(crest_registry_lookup(r, "E2", 2, day("2024-04-01")), 2);
    cr_expect_eq(crest_registry_lookup(r, "E2", 2, day("2025-01-01")), -2);
    cr_expect_eq(crest_registry_lookup(r, "E,3", 3, day("1999-01-01")), 1);
    cr_expect_eq(crest_registry_lookup(r, "E4", 2, day("2024-01-01")), -1);
    cr_expect_eq(crest_registry_lookup(r, "E", 1, day("2024-01-01")), -1);
    crest_registry_free(r);
    crest_policy_free(p);
}

Test(registry, many_enterprises)
{
    crest_policy *p = parse_policy(POLICY);
    size_t cap = 1 << 22, len = 0;
    char *csv = malloc(cap);
    len += (size_t)snprintf(csv + len, cap - len, "enterprise_id,tier,valid_from,valid_to\n");
    for (int i = 0; i < 50000; i++)
        len += (size_t)snprintf(csv + len, cap - len, "ENT%06d,%s,2020-01-01,\n", i,
                                i % 10 == 0   ? "AEO"
                                : i % 50 == 1 ? "DISHONEST"
                                              : "REGULAR");
    crest_registry *r = NULL;
    crest_diag d;
    cr_assert_eq(crest_registry_parse(csv, len, "<reg>", p, &r, &d), CREST_OK, "%s", d.message);
    for (int i = 0; i < 50000; i += 7) {
        char id[16];
        int n = snprintf(id, sizeof id, "ENT%06d", i);
        int want = i % 10 == 0 ? 0 : i % 50 == 1 ? 2 : 1;
        cr_assert_eq(crest_registry_lookup(r, id, (size_t)n, day("2024-01-01")), want, "%s", id);
    }
    crest_registry_free(r);
    crest_policy_free(p);
    free(csv);
}

/* Loaders share no state: registries parsed at the same time in several
 * threads (each with its own ids, in its own order) sort and index their own
 * periods. A sort through a shared static ids pointer mixed them up. */
typedef struct load_job {
    const crest_policy *policy;
    int k;
    int wrong;
} load_job;

static void *load_many(void *arg)
{
    load_job *job = arg;
    const size_t cap = 1 << 20;
    char *csv = malloc(cap);
    for (int round = 0; round < 20 && csv; round++) {
        size_t len = (size_t)snprintf(csv, cap, "enterprise_id,tier,valid_from,valid_to\n");
        for (int i = 0; i < 4000; i++) {
            const int id = (i * 7919 + job->k * 131) % 4000; /* a different order per thread */
            len += (size_t)snprintf(csv + len, cap - len,
                                    "T%d_%05d,REGULAR,2020-01-01,2020-12-31\n"
                                    "T%d_%05d,%s,2021-01-01,\n",
                                    job->k, id, job->k, id, id % 3 == 0 ? "AEO" : "DISHONEST");
        }
        crest_registry *r = NULL;
        crest_diag d;
        if (crest_registry_parse(csv, len, "<reg>", job->policy, &r, &d) != CREST_OK) {
            job->wrong++;
            continue;
        }
        for (int id = 0; id < 4000; id += 13) {
            char key[32];
            const int n = snprintf(key, sizeof key, "T%d_%05d", job->k, id);
            if (crest_registry_lookup(r, key, (size_t)n, 18400) != 1 ||
                crest_registry_lookup(r, key, (size_t)n, 19000) != (id % 3 == 0 ? 0 : 2))
                job->wrong++;
        }
        crest_registry_free(r);
    }
    free(csv);
    return NULL;
}

Test(registry, loaders_in_parallel_threads)
{
    crest_policy *p = parse_policy(POLICY);
    load_job jobs[4];
    pthread_t th[4];
    for (int k = 0; k < 4; k++) {
        jobs[k] = (load_job){p, k, 0};
        cr_assert_eq(pthread_create(&th[k], NULL, load_many, &jobs[k]), 0);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(th[k], NULL);
        cr_expect_eq(jobs[k].wrong, 0, "thread %d: %d wrong loads or lookups", k, jobs[k].wrong);
    }
    crest_policy_free(p);
}

typedef struct bad {
    const char *csv;
    crest_status status;
    unsigned long line, column;
    const char *needle;
} bad;

Test(registry, errors)
{
    crest_policy *p = parse_policy(POLICY);
    static const bad cases[] = {
        {"id,tier,valid_from\nE1,AEO,2024-01-01\n", CREST_ERR_MISSING, 1, 0, "valid_to"},
        {"enterprise_id,tier,valid_from,valid_to\nE1,GOLD,2024-01-01,\n", CREST_ERR_MISMATCH, 2, 2, "GOLD"},
        {"enterprise_id,tier,valid_from,valid_to\nE1,AEO,2024-02-30,\n", CREST_ERR_INVALID, 2, 3,
         "valid_from"},
        {"enterprise_id,tier,valid_from,valid_to\nE1,AEO,2024-02-01,2024-01-01\n", CREST_ERR_INVALID, 2, 4,
         "before"},
        {"enterprise_id,tier,valid_from,valid_to\nE1,AEO,2024-01-01,2024-12-31\nE2,AEO,,\n"
         "E1,REGULAR,2024-06-01,\n",
         CREST_ERR_INVALID, 4, 0, "overlapping"},
        {"enterprise_id,tier,valid_from,valid_to\n,AEO,,\n", CREST_ERR_MISSING, 2, 1, "empty"},
        {"enterprise_id,tier,valid_from,valid_to\nE1,AEO\n", CREST_ERR_SYNTAX, 2, 0, "fields"},
        {"enterprise_id,tier,valid_from,valid_to\n\"E1,AEO,,\n", CREST_ERR_SYNTAX, 2, 0, "quoted"},
        {"", CREST_ERR_MISSING, 1, 0, "empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        crest_registry *r = NULL;
        crest_diag d;
        crest_status st = crest_registry_parse(cases[i].csv, strlen(cases[i].csv), "<reg>", p, &r, &d);
        cr_expect_eq(st, cases[i].status, "case %zu: %s (%s)", i, crest_status_name(st), d.message);
        cr_expect_null(r);
        cr_expect_eq(d.line, cases[i].line, "case %zu: line %lu (%s)", i, d.line, d.message);
        if (cases[i].column)
            cr_expect_eq(d.column, cases[i].column, "case %zu: column %lu", i, d.column);
        cr_expect_not_null(strstr(d.message, cases[i].needle), "case %zu: '%s' lacks '%s'", i, d.message,
                           cases[i].needle);
    }
    crest_policy_free(p);
}
