/*
 * fuzz_lmodel.c — libFuzzer target for the logistic model loader
 * (crest_lmodel_load, the "crest-lmodel 1" text format). The loader takes a
 * path, so the input is written to a memfd and loaded through
 * /proc/self/fd/N. An accepted model is bound to a small header and scored
 * on a typical declaration, an empty one and one whose every field is the
 * raw input; every score must be a probability in [0, 1].
 */
#define _GNU_SOURCE
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crest/crest_lmodel.h"
#include "fuzz_common.h"

static int g_fd = -1;
static char g_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    crest_init();
    g_fd = memfd_create("crest-lmodel", 0);
    if (g_fd < 0)
        __builtin_trap();
    snprintf(g_path, sizeof g_path, "/proc/self/fd/%d", g_fd);
    return 0;
}

static crest_str S(const char *s)
{
    crest_str r = {s, strlen(s)};
    return r;
}

static void score(const crest_lmodel *m, const crest_decl *d)
{
    crest_lmodel_explain ex;
    const double p = crest_lmodel_score(m, d, &ex);
    if (!(p >= 0.0 && p <= 1.0))
        __builtin_trap();
    if (!(crest_lmodel_score(m, d, NULL) == p))
        __builtin_trap(); /* explaining does not change the score */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ftruncate(g_fd, 0) != 0 || pwrite(g_fd, data, size, 0) != (ssize_t)size)
        __builtin_trap();
    crest_lmodel *m = NULL;
    crest_diag diag;
    if (crest_lmodel_load(g_path, &m, &diag) != CREST_OK) {
        if (m != NULL)
            __builtin_trap();
        return 0;
    }
    (void)crest_lmodel_feature_spec(m);
    (void)crest_lmodel_n_features(m);
    (void)crest_lmodel_n_items(m);
    const crest_str header[] = {S("decl_id"),        S("hs_code"),     S("origin"), S("office"),
                                S("declared_value"), S("net_mass_kg"), S("custom")};
    (void)crest_lmodel_bind(m, header, sizeof header / sizeof header[0], &diag);

    crest_decl d;
    memset(&d, 0, sizeof d);
    crest_str cols[7] = {S("D1"), S("2933490000"), S("IR"), S("2233"), S("1200.5"), S("3"), S("x")};
    d.cols = cols;
    d.n_cols = 7;
    d.field[CREST_FIELD_DECL_ID] = cols[0];
    d.field[CREST_FIELD_HS_CODE] = cols[1];
    d.field[CREST_FIELD_ORIGIN] = cols[2];
    d.field[CREST_FIELD_OFFICE] = cols[3];
    d.field[CREST_FIELD_DECLARED_VALUE] = cols[4];
    d.field[CREST_FIELD_NET_MASS_KG] = cols[5];
    d.date_days = 20000;
    d.declared_value = 1200.5;
    d.net_mass_kg = 3;
    d.quantity = 1;
    d.direction = 'I';
    score(m, &d);

    crest_decl empty;
    memset(&empty, 0, sizeof empty);
    empty.date_days = CREST_DATE_NONE;
    empty.declared_value = empty.net_mass_kg = empty.quantity = NAN;
    score(m, &empty);

    crest_decl raw = d;
    const crest_str in = {(const char *)data, size};
    crest_str rcols[7] = {in, in, in, in, in, in, in};
    for (int f = 0; f < CREST_FIELD_COUNT; f++)
        raw.field[f] = in;
    raw.cols = rcols;
    raw.declared_value = INFINITY;
    raw.net_mass_kg = 0.0;
    raw.quantity = -0.0;
    score(m, &raw);
    crest_lmodel_free(m);
    return 0;
}
