/*
 * fuzz_common.h — helpers shared by the libFuzzer targets: reading a fixture
 * of the source tree (CREST_SOURCE_DIR is set by fuzz/build.sh), a byte hash
 * that derives deterministic choices (chunk split, options) from the input
 * without consuming any of it, and a discarding sink.
 *
 * Targets check invariants with __builtin_trap() so that libFuzzer records a
 * crash; they never print.
 */
#ifndef CREST_FUZZ_COMMON_H
#define CREST_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "crest/crest.h"

#ifndef CREST_SOURCE_DIR
#error "build with -DCREST_SOURCE_DIR=\"/path/to/crest\" (fuzz/build.sh does)"
#endif

/* Whole file of the source tree into a malloc'd NUL-terminated buffer; traps
 * when missing, since a target without its fixture fuzzes nothing useful. */
static inline char *fuzz_slurp(const char *rel_path, size_t *len_out)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", CREST_SOURCE_DIR, rel_path);
    FILE *f = fopen(path, "rb");
    if (!f)
        __builtin_trap();
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
        __builtin_trap();
    buf[n] = '\0';
    fclose(f);
    if (len_out)
        *len_out = (size_t)n;
    return buf;
}

/* FNV-1a over the input: the same input always makes the same choices, so a
 * saved crash replays exactly. */
static inline uint64_t fuzz_hash(const uint8_t *data, size_t size)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    return h;
}

/* A sink that counts bytes and keeps nothing. */
static inline crest_status fuzz_sink_write(void *ctx, const void *buf, size_t len)
{
    (void)buf;
    *(uint64_t *)ctx += len;
    return CREST_OK;
}

#endif
