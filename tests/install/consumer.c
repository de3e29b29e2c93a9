/*
 * consumer.c — a program outside crest's tree, built against an installed
 * libcrest (tests/install/run.sh, once through pkg-config and once through
 * find_package): parses a policy, decides three declarations through the
 * engine API into memory, and prints what it got. Exits non-zero on any
 * failure.
 */
#include <stdio.h>
#include <string.h>

#include "crest/crest.h"

typedef struct membuf {
    char text[4096];
    size_t len;
} membuf;

static crest_status mem_write(void *ctx, const void *buf, size_t len)
{
    membuf *m = ctx;
    if (m->len + len >= sizeof m->text)
        return CREST_ERR_IO;
    memcpy(m->text + m->len, buf, len);
    m->len += len;
    m->text[m->len] = '\0';
    return CREST_OK;
}

int main(void)
{
    static const char policy_text[] = "[tiers]\norder = AEO, REGULAR, DISHONEST\nbase = REGULAR\n"
                                      "[tier AEO]\nratio = 0.2\n[tier REGULAR]\nrate = 0.03\n"
                                      "[tier DISHONEST]\nrate = 0.8\nfloor = yes\n";
    static const char input[] = "decl_id,decl_date,credit_tier,declared_value\n"
                                "D1,2025-01-02,REGULAR,100\n"
                                "D2,2025-01-02,DISHONEST, 2500.5 \n"
                                "D3,2025-01-03,AEO,7\n";
    crest_init();
    printf("crest %s (%s)\n", crest_version(), crest_version_commit());
    if (strcmp(crest_version(), CREST_VERSION_STRING) != 0)
        return 1;
    crest_diag diag;
    crest_policy *policy = NULL;
    if (crest_policy_parse(policy_text, sizeof policy_text - 1, "<consumer>", &policy, &diag) != CREST_OK) {
        fprintf(stderr, "policy: %s\n", diag.message);
        return 1;
    }
    membuf out = {.len = 0};
    crest_run_options opt = crest_run_options_default();
    opt.output = (crest_sink){mem_write, &out};
    crest_engine *engine = NULL;
    crest_status st = crest_engine_create(policy, NULL, &opt, &engine, &diag);
    if (st == CREST_OK)
        st = crest_engine_feed(engine, input, sizeof input - 1);
    if (st == CREST_OK)
        st = crest_engine_finish(engine);
    if (st != CREST_OK) {
        fprintf(stderr, "engine: %s\n", crest_status_name(st));
        return 1;
    }
    const crest_run_stats *stats = crest_engine_stats(engine);
    printf("rows %llu, decisions %llu, rejects %llu, %.1f\n", (unsigned long long)stats->rows_in,
           (unsigned long long)stats->decisions, (unsigned long long)stats->rejects,
           crest_parse_number(" 2500.5 ", 8));
    const int ok = stats->decisions == 3 && stats->rejects == 0 && strncmp(out.text, "decl_id", 7) == 0;
    crest_engine_free(engine);
    crest_policy_free(policy);
    return ok ? 0 : 1;
}
