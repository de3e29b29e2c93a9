/*
 * rules_example.c — crest-bench-rules: rules-only throughput of the example
 * criteria (models/criteria/example.csv) on 1024 synthetic declarations
 * evaluated round-robin, with PCRE2's JIT and with its interpreter. Prints
 * rows/s, hits per row and a hash of the hits, so a change that makes it
 * faster but changes what hits shows up. The two must give the same hits
 * (exit 1 otherwise); timings are never asserted (moved here from the unit
 * tests, where a timing loop does not belong).
 *
 *   crest-bench-rules [EVALUATIONS]     default 1000000
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crest/crest_date.h"
#include "crest/crest_rules.h"

#define EXAMPLE CREST_SOURCE_DIR "/models/criteria/example.csv"
#define N_ROWS 1024

typedef struct synth {
    char hs[16], orig[4], desc[64], ent[24], office[8];
    crest_decl d;
} synth;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static crest_str S(const char *s)
{
    return (crest_str){s, strlen(s)};
}

/* The synthetic declaration i (the same stream as the unit tests of the rules). */
static void synth_fill(synth *s, unsigned i, int32_t day0)
{
    static const char *const hs[] = {"8517120000", "8507600000", "9304000000", "0201300000", "7113190000",
                                     "2933990000", "6109100000", "2204210000", "8806100000", "2601110000"};
    static const char *const orig[] = {"US", "JP", "KR", "DE", "IR", "AU", "FR", "VN", "KP", "BR"};
    static const char *const desc[] = {"Smartphone 256GB, unlocked",   "锂离子电池 3.7V",
                                       "Air guns, spring-operated",    "冻去骨牛肉",
                                       "Gold jewellery, 18K",          "有机化学品",
                                       "Men's cotton knitted T-shirt", "Red wine, 750ml bottles",
                                       "Quadcopter drone with camera", "Iron ore fines, 62% Fe"};
    const unsigned h = i * 2654435761u;
    snprintf(s->hs, sizeof s->hs, "%s", hs[i % 10]);
    snprintf(s->orig, sizeof s->orig, "%s", orig[(h >> 8) % 10]);
    snprintf(s->desc, sizeof s->desc, "%s", desc[i % 10]);
    snprintf(s->ent, sizeof s->ent, "%s", (h >> 4) % 50 ? "91440106MAX4PWWJ33" : "91440300MA5FXXXX1A");
    snprintf(s->office, sizeof s->office, "%s", (h >> 12) % 2 ? "2233" : "5316");
    memset(&s->d, 0, sizeof s->d);
    s->d.quantity = NAN;
    s->d.field[CREST_FIELD_HS_CODE] = S(s->hs);
    s->d.field[CREST_FIELD_ORIGIN] = S(s->orig);
    s->d.field[CREST_FIELD_GOODS_DESC] = S(s->desc);
    s->d.field[CREST_FIELD_ENTERPRISE_ID] = S(s->ent);
    s->d.field[CREST_FIELD_OFFICE] = S(s->office);
    s->d.date_days = day0 + (int32_t)(h % 700);
    s->d.direction = (h >> 20) % 5 ? 'I' : 'E';
    s->d.declared_value = (double)((h >> 3) % 200000) / 10.0;
    s->d.net_mass_kg = (double)((h >> 13) % 5000) / 10.0 + 0.5;
}

int main(int argc, char **argv)
{
    const unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000ul;
    crest_rules *jit = NULL, *interp = NULL;
    crest_diag diag;
    const crest_rules_load_options no_jit = {.no_jit = true};
    if (crest_rules_load(EXAMPLE, NULL, &jit, &diag) != CREST_OK ||
        crest_rules_load(EXAMPLE, &no_jit, &interp, &diag) != CREST_OK) {
        fprintf(stderr, "crest-bench-rules: %s: %s\n", diag.file, diag.message);
        return 2;
    }
    int32_t day0;
    if (!crest_date_parse_iso("2024-01-01", 10, &day0))
        return 2;
    static synth rows[N_ROWS];
    for (unsigned i = 0; i < N_ROWS; i++)
        synth_fill(&rows[i], i, day0);
    crest_rules *const which[2] = {jit, interp};
    uint64_t hash[2] = {0, 0};
    unsigned long hits[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        crest_rules_scratch *sc = NULL;
        if (crest_rules_scratch_create(which[k], &sc) != CREST_OK)
            return 2;
        crest_rules_result res;
        const double t0 = now_s();
        for (unsigned long i = 0; i < n; i++) {
            crest_rules_eval(which[k], sc, &rows[i % N_ROWS].d, &res);
            hits[k] += res.n_hits;
            hash[k] = (hash[k] ^ (res.n_hits + 31u * (unsigned)res.lane)) * 0x100000001b3u;
        }
        const double dt = now_s() - t0;
        printf("rules-only, example criteria (%zu rules), %-11s %lu evaluations in %.3f s = %.2f M rows/s, "
               "%.2f hits/row, hash %016llx\n",
               crest_rules_count(which[k]), k ? "interpreter:" : "JIT:", n, dt, (double)n / dt / 1e6,
               (double)hits[k] / (double)n, (unsigned long long)hash[k]);
        crest_rules_scratch_free(sc);
    }
    crest_rules_free(jit);
    crest_rules_free(interp);
    if (hash[0] != hash[1]) {
        fprintf(stderr, "crest-bench-rules: JIT and interpreter disagree\n");
        return 1;
    }
    return 0;
}
