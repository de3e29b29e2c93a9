/*
 * fuzz_csvread.c — libFuzzer target for the CSV reader (engine/base/csvread):
 * the block scanner, the line-at-a-time fast path and the strict slow path
 * must read any input into the same records (fields, lines, faults with
 * their positions, raw bytes, byte checks), however it is cut; and on input
 * libcsv (strict mode, no space trimming) reads without error, the records'
 * fields must be libcsv's.
 *
 * Each input is read: slow path, whole; fast paths, whole; fast paths, cut in
 * two at a position derived from the input; fast paths, in chunks of 1 to 64
 * bytes (size derived from the input), each chunk from its own allocation of
 * exactly its size (ASan catches an over-read). The delimiter (',', ';',
 * '\t' or '|') and the limits (tight or roomy) are derived from the input.
 * Records are folded into a hash per reading; readings must agree (trap).
 * Not a slice of the engine: fuzz_ingest covers the reader inside it, with
 * parallel blocks.
 */
#include <csv.h>
#include <string.h>

#include "csvread.h"
#include "fuzz_common.h"

/* A reading: the hash of every record as the callback saw it. */
typedef struct reading {
    uint64_t h;
    size_t records, faults;
    int limits; /* a record hit a limit (too long, too many fields) */
} reading;

static void fold(reading *rd, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        rd->h = (rd->h ^ s[i]) * 1099511628211ull;
}

static void fold_u64(reading *rd, uint64_t v)
{
    fold(rd, &v, sizeof v);
}

static int on_record(void *ctx, const csvread_row *row)
{
    reading *rd = ctx;
    rd->records++;
    fold_u64(rd, row->line);
    fold_u64(rd, (uint64_t)row->error);
    if (row->error) {
        rd->faults++;
        if (row->error == CSVREAD_ERR_RECORD_TOO_LONG || row->error == CSVREAD_ERR_FIELD_TOO_LONG)
            rd->limits = 1;
        fold_u64(rd, row->error_line);
        fold_u64(rd, row->error_column);
    } else {
        fold_u64(rd, row->n_fields);
        for (size_t i = 0; i < row->n_fields; i++) {
            fold_u64(rd, row->fields[i].len);
            fold(rd, row->fields[i].ptr, row->fields[i].len);
        }
        fold_u64(rd, row->long_field);
        fold_u64(rd, (uint64_t)row->too_many_fields);
        if (row->long_field != SIZE_MAX || row->too_many_fields)
            rd->limits = 1;
    }
    fold_u64(rd, row->raw.len);
    fold(rd, row->raw.ptr, row->raw.len);
    fold_u64(rd, (uint64_t)row->raw_truncated);
    if (row->checked) {
        /* The fast paths' byte checks must be those of the raw bytes. */
        const unsigned char *z = memchr(row->raw.ptr, 0, row->raw.len);
        if (row->nul_at != (z ? (size_t)(z - (const unsigned char *)row->raw.ptr) : SIZE_MAX))
            __builtin_trap();
    }
    return 0;
}

typedef struct cfg {
    unsigned char delim;
    size_t max_field_bytes, max_record_bytes, max_fields;
} cfg;

/* One reading of data[0..size), fast path on or off: in pieces of `chunk`
 * bytes (0: whole, -1: two pieces, cut at `cut`). */
static reading read_input(const uint8_t *data, size_t size, const cfg *c, int fast, long chunk, size_t cut)
{
    reading rd = {1469598103934665603ull, 0, 0, 0};
    csvread *r =
        csvread_create(c->delim, c->max_field_bytes, c->max_record_bytes, c->max_fields, on_record, &rd);
    if (!r)
        __builtin_trap();
    csvread_set_fast(r, fast);
    size_t pos = 0;
    while (pos < size) {
        size_t n = chunk > 0 ? (size_t)chunk : size - pos;
        if (chunk < 0 && pos < cut)
            n = cut - pos;
        if (n > size - pos)
            n = size - pos;
        uint8_t *piece = malloc(n);
        if (!piece)
            __builtin_trap();
        memcpy(piece, data + pos, n);
        if (csvread_feed(r, piece, n) != 0)
            __builtin_trap();
        free(piece);
        pos += n;
    }
    if (csvread_finish(r) != 0)
        __builtin_trap();
    csvread_free(r);
    return rd;
}

/* libcsv's records, folded as on_record folds a record's fields. */
typedef struct oracle {
    reading rd;
    size_t n_fields;
    uint64_t fields_h; /* the record in progress */
} oracle;

static void oracle_field(void *s, size_t n, void *ctx)
{
    oracle *o = ctx;
    reading tmp = {o->fields_h, 0, 0, 0};
    fold_u64(&tmp, n);
    fold(&tmp, s ? s : "", n);
    o->fields_h = tmp.h;
    o->n_fields++;
}

static void oracle_record(int term, void *ctx)
{
    (void)term;
    oracle *o = ctx;
    fold_u64(&o->rd, o->n_fields);
    fold_u64(&o->rd, o->fields_h);
    o->rd.records++;
    o->n_fields = 0;
    o->fields_h = 1469598103934665603ull;
}

static int no_space(unsigned char ch)
{
    (void)ch;
    return 0;
}

/* The reader's records folded as libcsv's are (fields only). */
static int on_fields(void *ctx, const csvread_row *row)
{
    oracle *o = ctx;
    if (row->error)
        o->rd.faults++;
    for (size_t i = 0; i < row->n_fields; i++)
        oracle_field((void *)row->fields[i].ptr, row->fields[i].len, o);
    oracle_record(0, o);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char delims[] = {',', ';', '\t', '|'};
    const uint64_t h = fuzz_hash(data, size);
    const int roomy = (h >> 2) & 1;
    const cfg c = {delims[h & 3], roomy ? 1u << 20 : 24, roomy ? 1u << 20 : 300, roomy ? 1u << 17 : 8};
    const reading slow = read_input(data, size, &c, 0, 0, 0);
    const size_t cut = size ? (size_t)(h >> 8) % (size + 1) : 0;
    const long chunk = 1 + (long)((h >> 40) % 64);
    const reading got[3] = {read_input(data, size, &c, 1, 0, 0), read_input(data, size, &c, 1, -1, cut),
                            read_input(data, size, &c, 1, chunk, 0)};
    for (int k = 0; k < 3; k++)
        if (got[k].h != slow.h || got[k].records != slow.records || got[k].faults != slow.faults)
            __builtin_trap();

    /* libcsv, when it reads the input without error (a BOM is the reader's to drop). */
    if (!roomy || (size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0))
        return 0;
    oracle want = {{1469598103934665603ull, 0, 0, 0}, 0, 1469598103934665603ull};
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0)
        return 0;
    csv_set_delim(&p, c.delim);
    csv_set_space_func(&p, no_space);
    const int ok = csv_parse(&p, data, size, oracle_field, oracle_record, &want) == size &&
                   csv_fini(&p, oracle_field, oracle_record, &want) == 0;
    csv_free(&p);
    if (!ok)
        return 0;
    oracle mine = {{1469598103934665603ull, 0, 0, 0}, 0, 1469598103934665603ull};
    csvread *r =
        csvread_create(c.delim, c.max_field_bytes, c.max_record_bytes, c.max_fields, on_fields, &mine);
    if (!r)
        __builtin_trap();
    if (csvread_feed(r, data, size) != 0 || csvread_finish(r) != 0)
        __builtin_trap();
    csvread_free(r);
    if (mine.rd.faults || mine.rd.records != want.rd.records || mine.rd.h != want.rd.h)
        __builtin_trap();
    return 0;
}
