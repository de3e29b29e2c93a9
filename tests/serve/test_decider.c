/*
 * test_decider.c — the service's message decider (engine/serve/decider.c):
 * a CSV record or a JSON object in, the bytes `crest run` writes for that row
 * out; every kind of bad message a rejection with its reason, none bleeding
 * into the next; policies that cannot be served refused; live capacity.
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decider.h"

static const char *POLICY_TEXT = "[policy]\nname = t\nseed = 5\n"
                                 "[tiers]\norder = AEO, REGULAR, DISHONEST\nbase = REGULAR\n"
                                 "[tier REGULAR]\nrate = 0.3\n[tier AEO]\nratio = 0.2\n"
                                 "[tier DISHONEST]\nrate = 0.8\nfloor = yes\n";

static crest_policy *parse(const char *extra)
{
    char text[2048];
    snprintf(text, sizeof text, "%s%s", POLICY_TEXT, extra);
    crest_policy *p = NULL;
    crest_diag d;
    cr_assert_eq(crest_policy_parse(text, strlen(text), "<test>", &p, &d), CREST_OK, "%s", d.message);
    return p;
}

typedef struct buf {
    char data[65536];
    size_t len;
} buf;

static crest_status buf_write(void *ctx, const void *p, size_t n)
{
    buf *b = ctx;
    cr_assert_lt(b->len + n, sizeof b->data);
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return CREST_OK;
}

/* crest run's decision row for one record under a header (the output header dropped). */
static void run_row(const crest_policy *p, const char *header, const char *record, char *out, size_t cap)
{
    static buf b;
    b.len = 0;
    crest_run_options opt = crest_run_options_default();
    opt.output.write = buf_write;
    opt.output.ctx = &b;
    opt.threads = 1;
    crest_engine *e = NULL;
    crest_diag d;
    cr_assert_eq(crest_engine_create(p, NULL, &opt, &e, &d), CREST_OK);
    char text[4096];
    snprintf(text, sizeof text, "%s\n%s\n", header, record);
    cr_assert_eq(crest_engine_feed(e, text, strlen(text)), CREST_OK);
    cr_assert_eq(crest_engine_finish(e), CREST_OK);
    crest_engine_free(e);
    const char *row = strchr(b.data, '\n');
    cr_assert_not_null(row);
    snprintf(out, cap, "%s", row + 1);
}

static const char *HEADER = "decl_id,decl_date,office,credit_tier,goods_desc,declared_value";

Test(decider, csv_and_json_give_crest_runs_bytes)
{
    crest_policy *p = parse("");
    crest_decider *d = NULL;
    crest_diag diag;
    cr_assert_eq(crest_decider_create(p, NULL, HEADER, CREST_FORMAT_CSV, NULL, &d, &diag), CREST_OK);
    const char *records[] = {"A1,2025-03-01,1900,AEO,\"beef, frozen\",12.5",
                             "A2,2025-03-01,2233,DISHONEST,tea,1", "A3,2025-03-02,1900,,x,7"};
    for (size_t i = 0; i < 3; i++) {
        char want[4096];
        run_row(p, HEADER, records[i], want, sizeof want);
        crest_outcome o;
        cr_assert_eq(crest_decider_decide(d, NULL, 0, records[i], strlen(records[i]), &o), CREST_OK);
        cr_assert(o.decided, "record %zu rejected: %s", i, o.reason);
        cr_assert_eq(o.len, strlen(want));
        cr_assert(memcmp(o.bytes, want, o.len) == 0, "record %zu: '%.*s' vs '%s'", i, (int)o.len, o.bytes,
                  want);
        char id[8];
        snprintf(id, sizeof id, "A%zu", i + 1);
        cr_assert_str_eq(o.decl_id, id);
    }
    /* The same record as a message header's header, and as JSON. */
    const char *h2 = "decl_id,credit_tier,declared_value";
    char want[4096];
    run_row(p, h2, "J1,DISHONEST,1250.5", want, sizeof want);
    crest_outcome o;
    cr_assert_eq(crest_decider_decide(d, h2, strlen(h2), "J1,DISHONEST,1250.5\n", 20, &o), CREST_OK);
    cr_assert(o.decided && o.len == strlen(want) && memcmp(o.bytes, want, o.len) == 0);
    const char *json = " {\"decl_id\":\"J1\",\"credit_tier\":\"DISHONEST\",\"declared_value\":1250.5}\n";
    cr_assert_eq(crest_decider_decide(d, NULL, 0, json, strlen(json), &o), CREST_OK);
    cr_assert(o.decided, "%s", o.reason);
    cr_assert(o.len == strlen(want) && memcmp(o.bytes, want, o.len) == 0, "'%.*s' vs '%s'", (int)o.len,
              o.bytes, want);
    cr_assert_eq(o.tier, 2);
    crest_decider_free(d);
    crest_policy_free(p);
}

Test(decider, bad_messages_are_rejections_and_do_not_bleed)
{
    crest_policy *p = parse("");
    crest_decider *d = NULL;
    crest_diag diag;
    cr_assert_eq(crest_decider_create(p, NULL, HEADER, CREST_FORMAT_CSV, NULL, &d, &diag), CREST_OK);
    static const struct {
        const char *body;
        const char *reason;
    } cases[] = {
        {"B1,2025-03-01,1900,AEO,\"never closed,1", "CSV_UNTERMINATED"},
        {"", CREST_SERVE_REJECT_EMPTY},
        {"\n", CREST_SERVE_REJECT_EMPTY},
        {"   \n", "COLUMN_COUNT"}, /* spaces are data (RFC 4180): one field */
        {"B2,2025-03-01,1900,AEO,x,1\nB3,2025-03-01,1900,AEO,y,1\n", CREST_SERVE_REJECT_MULTIPLE},
        {"{\"decl_id\": [1, 2]}", CREST_SERVE_REJECT_BAD_JSON},
        {"{\"decl_id\": \"x\"", CREST_SERVE_REJECT_BAD_JSON},
        {"{} trailing", CREST_SERVE_REJECT_BAD_JSON},
        {",2025-03-01,1900,AEO,x,1", "MISSING_ID"},
        {"B4,2025-03-01,1900,AEO,x", "COLUMN_COUNT"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        crest_outcome o;
        cr_assert_eq(crest_decider_decide(d, NULL, 0, cases[i].body, strlen(cases[i].body), &o), CREST_OK);
        cr_assert(!o.decided, "case %zu decided", i);
        cr_assert_str_eq(o.reason, cases[i].reason, "case %zu", i);
        cr_assert(o.len > strlen(o.reason) && memcmp(o.bytes, o.reason, strlen(o.reason)) == 0);
        /* The next message is decided on its own. */
        const char *good = "G1,2025-03-01,1900,AEO,x,1";
        cr_assert_eq(crest_decider_decide(d, NULL, 0, good, strlen(good), &o), CREST_OK);
        cr_assert(o.decided, "after case %zu: %s", i, o.reason);
        cr_assert_str_eq(o.decl_id, "G1");
    }
    /* No header anywhere; a header without decl_id. */
    crest_decider *bare = NULL;
    cr_assert_eq(crest_decider_create(p, NULL, NULL, CREST_FORMAT_CSV, NULL, &bare, &diag), CREST_OK);
    crest_outcome o;
    cr_assert_eq(crest_decider_decide(bare, NULL, 0, "X,1", 3, &o), CREST_OK);
    cr_assert_str_eq(o.reason, CREST_SERVE_REJECT_NO_HEADER);
    cr_assert_eq(crest_decider_decide(bare, "id,x", 4, "X,1", 3, &o), CREST_OK);
    cr_assert_str_eq(o.reason, CREST_SERVE_REJECT_HEADER);
    crest_decider_free(bare);
    crest_decider_free(d);
    crest_policy_free(p);
}

Test(decider, policies_that_cannot_be_served_are_refused)
{
    crest_decider *d = NULL;
    crest_diag diag;
    crest_policy *dup = parse("[input]\nduplicate_ids = reject\n");
    cr_assert_eq(crest_decider_create(dup, NULL, HEADER, CREST_FORMAT_CSV, NULL, &d, &diag),
                 CREST_ERR_INVALID);
    cr_assert_null(d);
    cr_assert(strstr(diag.message, "duplicate_ids"));
    crest_policy *cap = parse("[capacity]\nred_per_office_day = 1\n");
    cr_assert_eq(crest_decider_create(cap, NULL, HEADER, CREST_FORMAT_CSV, NULL, &d, &diag),
                 CREST_ERR_INVALID);
    cr_assert(strstr(diag.message, "capacity"));
    /* A floor held per month tops up by the order of rows (README "Floors"). */
    static const char monthly[] = "[policy]\nname = m\nseed = 5\n[tiers]\norder = REGULAR, DISHONEST\n"
                                  "base = REGULAR\n[tier REGULAR]\nrate = 0.3\n[tier DISHONEST]\n"
                                  "rate = 0.8\nfloor = yes\nfloor_period = month\n";
    crest_policy *floor = NULL;
    cr_assert_eq(crest_policy_parse(monthly, strlen(monthly), "<test>", &floor, &diag), CREST_OK, "%s",
                 diag.message);
    cr_assert_eq(crest_decider_create(floor, NULL, HEADER, CREST_FORMAT_CSV, NULL, &d, &diag),
                 CREST_ERR_INVALID);
    cr_assert_null(d);
    cr_assert(strstr(diag.message, "floor_period"));
    crest_policy_free(dup);
    crest_policy_free(cap);
    crest_policy_free(floor);
}

/* A counter of RED per (office, day) in memory: the first `cap` of each fit. */
typedef struct counter {
    char key[64][48];
    unsigned n[64];
    size_t used;
    unsigned cap;
} counter;

static int take(void *ctx, const char *office, size_t len, int32_t day)
{
    counter *c = ctx;
    char key[48];
    snprintf(key, sizeof key, "%.*s/%d", (int)len, office, (int)day);
    size_t i = 0;
    while (i < c->used && strcmp(c->key[i], key) != 0)
        i++;
    if (i == c->used)
        snprintf(c->key[c->used++], sizeof c->key[0], "%s", key);
    if (c->n[i] >= c->cap)
        return 0;
    c->n[i]++;
    return 1;
}

Test(decider, live_capacity_defers_over_the_cap_at_once)
{
    crest_policy *p = parse("[capacity]\nred_per_office_day = 2\n");
    counter c = {.cap = 2};
    const crest_decider_capacity cap = {take, &c};
    crest_decider *d = NULL;
    crest_diag diag;
    cr_assert_eq(crest_decider_create(p, NULL, HEADER, CREST_FORMAT_CSV, &cap, &d, &diag), CREST_OK);
    unsigned red = 0, deferred = 0, overflow = 0;
    for (int i = 0; i < 400; i++) {
        char rec[128];
        snprintf(rec, sizeof rec, "C%03d,2025-03-01,1900,%s,x,1", i, i % 10 == 0 ? "DISHONEST" : "REGULAR");
        crest_outcome o;
        cr_assert_eq(crest_decider_decide(d, NULL, 0, rec, strlen(rec), &o), CREST_OK);
        cr_assert(o.decided);
        /* Each decision comes out at once, whatever the cap did. */
        const int is_overflow = strstr(o.bytes, "OVERFLOW") != NULL;
        if (strstr(o.bytes, ",DEFER,BLUE,CAPACITY"))
            deferred++;
        else if (o.lane == 4 && !is_overflow)
            red++;
        overflow += is_overflow;
    }
    cr_assert_eq(red, 2, "RED under the cap: %u", red);
    cr_assert_gt(deferred, 10);
    cr_assert_gt(overflow, 0, "floor selections over the cap stay RED flagged OVERFLOW");
    crest_decider_free(d);
    crest_policy_free(p);
}
