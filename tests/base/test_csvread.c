/*
 * test_csvread.c — the streaming reader: RFC 4180 details, line numbers,
 * faults with positions, and chunk-boundary invariance (1, 2, 3, 7, 4096
 * bytes and random cuts give the same records). Every row is also checked
 * against its own raw bytes: the byte checks (checked, utf8_bad, nul_at) and
 * `plain` against an independent re-encoding of the fields.
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csvread.h"
#include "utf8.h"

/* csvread.c, for tests only: the fast path's scan level (0 SWAR, 1 SSE2,
 * 2 AVX2), lowered to the highest the build and CPU have; returns the level
 * set. Every level must give the same records. */
#define N_SIMD 3
static const char *const SIMD_NAME[N_SIMD] = {"SWAR", "SSE2", "AVX2"};
/* The scan level of the readers parse_cfg and read_first create; -1: the
 * reader's own choice. */
static int simd_level = -1;

typedef struct dump {
    char *s;
    size_t len, cap;
} dump;

static void put(dump *d, const char *s, size_t n)
{
    if (d->len + n + 1 > d->cap) {
        d->cap = (d->len + n + 1) * 2;
        d->s = realloc(d->s, d->cap);
    }
    memcpy(d->s + d->len, s, n);
    d->len += n;
    d->s[d->len] = '\0';
}

/* The reader's delimiter, for the re-encoding below. */
static unsigned char cur_delim = ',';
/* Rows seen with checked = 1, and with plain = 1 (so that a test can tell that
 * the fast path ran). */
static size_t n_checked, n_plain, n_unquoted;

/* The fields written back the way outbuf's csv_field does without a prefix:
 * quoted only when a field holds the delimiter, '"', CR or LF, inner quotes
 * doubled, the delimiter between fields. Written independently of csvread. */
static void reencode(dump *out, const csvread_row *r)
{
    put(out, "", 0);
    for (size_t i = 0; i < r->n_fields; i++) {
        const char *s = r->fields[i].ptr;
        const size_t n = r->fields[i].len;
        if (i)
            put(out, (const char *)&cur_delim, 1);
        int quote = 0;
        for (size_t k = 0; k < n; k++)
            if ((unsigned char)s[k] == cur_delim || s[k] == '"' || s[k] == '\r' || s[k] == '\n')
                quote = 1;
        if (!quote) {
            put(out, s, n);
            continue;
        }
        put(out, "\"", 1);
        for (size_t k = 0; k < n; k++) {
            put(out, s + k, 1);
            if (s[k] == '"')
                put(out, "\"", 1);
        }
        put(out, "\"", 1);
    }
}

/* What a row says about its raw bytes must hold. */
static void check_row(const csvread_row *r)
{
    if (!r->checked) {
        cr_assert_eq(r->plain, 0, "line %lu: plain without the fast path", r->line);
        return;
    }
    n_checked++;
    const unsigned char *raw = (const unsigned char *)r->raw.ptr;
    cr_assert_eq(r->error, CSVREAD_OK, "line %lu", r->line);
    cr_assert_eq(r->utf8_bad, utf8_invalid_offset(raw, r->raw.len), "line %lu: utf8_bad", r->line);
    const unsigned char *z = memchr(raw, 0, r->raw.len);
    cr_assert_eq(r->nul_at, z ? (size_t)(z - raw) : SIZE_MAX, "line %lu: nul_at", r->line);
    /* A checked row is one line: raw ends with its CR or LF, the only one. */
    cr_assert_geq(r->raw.len, 2, "line %lu", r->line);
    const unsigned char term = raw[r->raw.len - 1];
    cr_assert(term == '\r' || term == '\n', "line %lu: raw ends with 0x%02X", r->line, term);
    const size_t line_len = r->raw.len - 1;
    dump enc = {0};
    reencode(&enc, r);
    const int same = enc.len == line_len && memcmp(enc.s, raw, line_len) == 0;
    cr_assert_eq(r->plain, same, "line %lu: plain = %d, raw %.*s, re-encoded %s", r->line, r->plain,
                 (int)line_len, (const char *)raw, enc.s);
    if (r->unquoted) {
        /* Raw without the marked fields' quotes is the re-encoding. */
        cr_assert_eq(r->plain, 0, "line %lu: unquoted fields on a plain row", r->line);
        dump cut = {0};
        const char *from = r->raw.ptr;
        for (uint64_t m = r->unquoted; m; m &= m - 1) {
            const crest_str f = r->fields[__builtin_ctzll(m)];
            cr_assert(f.ptr > r->raw.ptr && f.ptr + f.len < r->raw.ptr + line_len, "line %lu", r->line);
            cr_assert(f.ptr[-1] == '"' && f.ptr[f.len] == '"', "line %lu: field not between quotes", r->line);
            put(&cut, from, (size_t)(f.ptr - 1 - from));
            put(&cut, f.ptr, f.len);
            from = f.ptr + f.len + 1;
        }
        put(&cut, from, (size_t)(r->raw.ptr + line_len - from));
        cr_assert(cut.len == enc.len && memcmp(cut.s, enc.s, enc.len) == 0,
                  "line %lu: raw %.*s without the marked quotes is %.*s, re-encoded %s", r->line,
                  (int)line_len, (const char *)raw, (int)cut.len, cut.s, enc.s);
        free(cut.s);
        n_unquoted++;
    }
    free(enc.s);
    n_plain += (size_t)r->plain;
}

static int on_row(void *ctx, const csvread_row *r)
{
    check_row(r);
    dump *d = ctx;
    char head[96];
    int n = snprintf(head, sizeof head, "L%lu", r->line);
    put(d, head, (size_t)n);
    if (r->error) {
        n = snprintf(head, sizeof head, " ERR%d@%lu:%lu raw=", r->error, r->error_line, r->error_column);
        put(d, head, (size_t)n);
        put(d, r->raw.ptr, r->raw.len);
    } else {
        for (size_t i = 0; i < r->n_fields; i++) {
            put(d, "|", 1);
            put(d, r->fields[i].ptr, r->fields[i].len);
        }
        if (r->long_field != SIZE_MAX) {
            n = snprintf(head, sizeof head, " LONG%zu", r->long_field);
            put(d, head, (size_t)n);
        }
        if (r->too_many_fields)
            put(d, " MANY", 5);
        put(d, " raw=", 5);
        put(d, r->raw.ptr, r->raw.len);
    }
    put(d, "\n", 1);
    return 0;
}

static int use_fast = 1;

typedef struct reader_cfg {
    unsigned char delimiter;
    size_t max_field_bytes, max_record_bytes, max_fields;
} reader_cfg;

static const reader_cfg DEFAULT_CFG = {',', 32, 256, 100};

/*
 * Read in chunks of `chunk` bytes (0: random 1..13). Each chunk is fed from
 * its own allocation of exactly its size, so that ASan reports a read past
 * the caller's buffer.
 */
static char *parse_cfg(const char *in, size_t len, size_t chunk, unsigned seed, const reader_cfg *c)
{
    dump d = {0};
    put(&d, "", 0);
    cur_delim = c->delimiter;
    csvread *r =
        csvread_create(c->delimiter, c->max_field_bytes, c->max_record_bytes, c->max_fields, on_row, &d);
    csvread_set_fast(r, use_fast);
    if (simd_level >= 0)
        cr_assert_eq(csvread_set_simd(r, simd_level), simd_level);
    size_t pos = 0;
    srand(seed);
    while (pos < len) {
        size_t n = chunk ? chunk : 1 + (size_t)(rand() % 13);
        if (n > len - pos)
            n = len - pos;
        char *piece = malloc(n);
        memcpy(piece, in + pos, n);
        cr_assert_eq(csvread_feed(r, piece, n), 0);
        free(piece);
        pos += n;
    }
    cr_assert_eq(csvread_finish(r), 0);
    csvread_free(r);
    return d.s;
}

static char *parse_chunked(const char *in, size_t len, size_t chunk, unsigned seed)
{
    return parse_cfg(in, len, chunk, seed, &DEFAULT_CFG);
}

/* Whether this build and CPU have scan level `level` (a level they lack is
 * skipped, with a warning: the tests then cover fewer levels). */
static int simd_available(int level)
{
    csvread *r = csvread_create(',', 32, 256, 100, on_row, NULL);
    cr_assert_not_null(r);
    const int got = csvread_set_simd(r, level);
    csvread_free(r);
    if (got != level)
        cr_log_warn("scan level %s is not available here (got %d): not tested", SIMD_NAME[level], got);
    return got == level;
}

static const char TRICKY[] = "\xEF\xBB\xBF"
                             "id,desc,n\r\n"
                             "1,\"a, b\",2\r\n"
                             "2,\"say \"\"hi\"\"\",3\n"
                             "3,\"multi\nline\r\nfield\",4\n"
                             "\n"
                             "4, spaced ,5\r\n"
                             "5,bad\"quote,6\n"
                             "6,\"closed\"junk,7\n"
                             "7,\"\",\n"
                             "8,中文,9\n"
                             "9,this field is definitely longer than thirty-two bytes,10\n"
                             "10,last,no newline";

Test(csvread, fields_lines_and_faults)
{
    char *got = parse_chunked(TRICKY, sizeof TRICKY - 1, 0, 1);
    const char *want = "L1|id|desc|n raw=id,desc,n\r\n"
                       "L2|1|a, b|2 raw=1,\"a, b\",2\r\n"
                       "L3|2|say \"hi\"|3 raw=2,\"say \"\"hi\"\"\",3\n\n"
                       "L4|3|multi\nline\r\nfield|4 raw=3,\"multi\nline\r\nfield\",4\n\n"
                       "L8|4| spaced |5 raw=4, spaced ,5\r\n"
                       "L9 ERR1@9:6 raw=5,bad\"quote,6\n\n"
                       "L10 ERR1@10:11 raw=6,\"closed\"junk,7\n\n"
                       "L11|7|| raw=7,\"\",\n\n"
                       "L12|8|中文|9 raw=8,中文,9\n\n"
                       "L13|9||10 LONG1 raw=9,this field is definitely longer than thirty-two bytes,10\n\n"
                       "L14|10|last|no newline raw=10,last,no newline\n";
    cr_expect_str_eq(got, want);
    free(got);
}

Test(csvread, chunk_boundaries_do_not_matter)
{
    char *ref = parse_chunked(TRICKY, sizeof TRICKY - 1, 0, 1);
    const size_t sizes[] = {1, 2, 3, 7, 4096};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char *got = parse_chunked(TRICKY, sizeof TRICKY - 1, sizes[i], 1);
        cr_expect_str_eq(got, ref, "chunk size %zu", sizes[i]);
        free(got);
    }
    for (unsigned seed = 1; seed <= 50; seed++) {
        char *got = parse_chunked(TRICKY, sizeof TRICKY - 1, 0, seed);
        cr_expect_str_eq(got, ref, "random cuts, seed %u", seed);
        free(got);
    }
    free(ref);
}

Test(csvread, unterminated_quote_at_end)
{
    const char in[] = "a,b\n1,\"open\n2,x\n";
    char *got = parse_chunked(in, sizeof in - 1, 3, 1);
    cr_expect_str_eq(got, "L1|a|b raw=a,b\n\n"
                          "L2 ERR2@4:1 raw=1,\"open\n2,x\n\n");
    free(got);
}

Test(csvread, record_too_long_resyncs_at_line_end)
{
    char in[1200];
    size_t n = (size_t)snprintf(in, sizeof in, "a,b\n");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(in + n, sizeof in - n, "xxx,"); /* short fields, long record */
    n += (size_t)snprintf(in + n, sizeof in - n, "1\nok,2\n");
    char *got = parse_chunked(in, n, 7, 1);
    cr_expect(strncmp(got, "L1|a|b raw=a,b\n\nL2 ERR3@2:1 raw=", 32) == 0, "%s", got);
    cr_expect_not_null(strstr(got, "\nL3|ok|2 raw=ok,2\n\n"), "%s", got);
    free(got);
}

/* A field over max_field_bytes that makes the record too long is named as such,
 * and a quoted one holding line ends is skipped to its real end. */
Test(csvread, long_quoted_field_with_newlines_is_one_fault)
{
    char in[2000];
    size_t n = (size_t)snprintf(in, sizeof in, "a,b\n1,\"");
    for (int i = 0; i < 300; i++)
        in[n++] = i % 10 == 0 ? '\n' : 'q';
    n += (size_t)snprintf(in + n, sizeof in - n, "\",2\nok,3\n");
    const size_t sizes[] = {1, 7, 4096};
    for (size_t k = 0; k < 3; k++) {
        char *got = parse_chunked(in, n, sizes[k], 1);
        cr_expect(strncmp(got, "L1|a|b raw=a,b\n\nL2 ERR4@2:1 raw=", 32) == 0, "chunk %zu: %s", sizes[k],
                  got);
        cr_expect_not_null(strstr(got, "L33|ok|3 raw=ok,3\n\n"), "chunk %zu: %s", sizes[k], got);
        cr_expect_null(strstr(got, "ERR2"), "no phantom unterminated record: %s", got);
        free(got);
    }
}

Test(csvread, bare_cr_line_ends_and_partial_bom)
{
    const char in[] = "\xEF\xBB"
                      "x\r1\r2";
    char *got = parse_chunked(in, sizeof in - 1, 1, 1);
    cr_expect_str_eq(got, "L1|\xEF\xBBx raw=\xEF\xBBx\r\nL2|1 raw=1\r\nL3|2 raw=2\n");
    free(got);
}

Test(csvread, empty_input)
{
    char *got = parse_chunked("", 0, 1, 1);
    cr_expect_str_eq(got, "");
    free(got);
}

/*
 * Differential test of the fast path: random inputs over an alphabet that
 * makes quoting, line ends, empty lines and long fields common are read with
 * and without it, in random chunks: the records must be identical.
 */
Test(csvread, fast_path_matches_libcsv_on_random_input)
{
    static const char *alphabet[] = {"a",   "b",    ",",     ",",       "\"",        "\"\"",
                                     "\n",  "\r\n", "\r",    " ",       "é",         "xxxxxxxxxx",
                                     ",\"", "\",",  "\"q\"", "\"a,b\"", "\"x\"\"y\""};
    char in[4096];
    int have[N_SIMD];
    for (int l = 0; l < N_SIMD; l++)
        have[l] = simd_available(l);
    for (unsigned seed = 1; seed <= 20000; seed++) {
        srand(seed);
        size_t n = 0;
        const size_t target = (size_t)(rand() % 600);
        while (n < target) {
            const char *t = alphabet[rand() % 17];
            size_t tl = strlen(t);
            memcpy(in + n, t, tl);
            n += tl;
        }
        use_fast = 0;
        char *slow = parse_chunked(in, n, 0, seed);
        use_fast = 1;
        /* Whole at every scan level; cut at random at one level a seed, in turn
         * (cuts leave mostly short tails, the same scan at any level). */
        for (simd_level = 0; simd_level < N_SIMD; simd_level++) {
            if (!have[simd_level])
                continue;
            char *fast = NULL;
            if ((int)(seed % N_SIMD) == simd_level || !have[seed % N_SIMD])
                fast = parse_chunked(in, n, 0, seed + 7);
            char *whole = parse_chunked(in, n, 4096, seed);
            if ((fast && strcmp(fast, slow) != 0) || strcmp(whole, slow) != 0) {
                FILE *f = fopen("/tmp/crest-csvread-diff.txt", "w");
                if (f) {
                    fprintf(f, "INPUT\n%.*s\nSLOW\n%s\nFAST\n%s\nWHOLE\n%s\n", (int)n, in, slow,
                            fast ? fast : "(not run)", whole);
                    fclose(f);
                }
            }
            if (fast)
                cr_assert_str_eq(fast, slow, "seed %u, %s (details in /tmp/crest-csvread-diff.txt)", seed,
                                 SIMD_NAME[simd_level]);
            cr_assert_str_eq(whole, slow, "seed %u, %s", seed, SIMD_NAME[simd_level]);
            free(fast);
            free(whole);
        }
        simd_level = -1;
        free(slow);
    }
}

/* The first row of a reading, as the callback saw it. */
typedef struct first_row {
    int seen, checked, plain, too_many_fields;
    size_t n_fields, long_field, utf8_bad, nul_at;
    const char *raw_ptr;
    size_t raw_len;
} first_row;

/* Keeps the row of line 2: the first line always goes through libcsv (the
 * reader looks at its first bytes alone, for a BOM). */
static int on_first_row(void *ctx, const csvread_row *r)
{
    check_row(r);
    first_row *f = ctx;
    if (!f->seen && r->line == 2) {
        f->seen = 1;
        f->checked = r->checked;
        f->plain = r->plain;
        f->too_many_fields = r->too_many_fields;
        f->n_fields = r->n_fields;
        f->long_field = r->long_field;
        f->utf8_bad = r->utf8_bad;
        f->nul_at = r->nul_at;
        f->raw_ptr = r->raw.ptr;
        f->raw_len = r->raw.len;
    }
    return 0;
}

/* Read "h\n" + text, fed in one call from one allocation of exactly its
 * size; the row of text's first line. */
static first_row read_first(const char *text, size_t len, size_t max_fields)
{
    first_row f = {0};
    char *buf = malloc(len + 2);
    memcpy(buf, "h\n", 2);
    memcpy(buf + 2, text, len);
    cur_delim = ',';
    csvread *r = csvread_create(',', 32, 256, max_fields, on_first_row, &f);
    if (simd_level >= 0)
        cr_assert_eq(csvread_set_simd(r, simd_level), simd_level);
    cr_assert_eq(csvread_feed(r, buf, len + 2), 0);
    if (f.seen && f.checked) {
        /* Zero copy: raw is the line in the caller's buffer. */
        cr_expect(f.raw_ptr == buf + 2, "%s: raw is not a view into the input", text);
    }
    cr_assert_eq(csvread_finish(r), 0);
    csvread_free(r);
    free(buf);
    cr_assert(f.seen, "%s: no row", text);
    return f;
}

#define READ_FIRST(lit, max_fields) read_first(lit, sizeof lit - 1, max_fields)

static void plain_rows_and_byte_checks_at(int level)
{
    simd_level = level;
    first_row f = READ_FIRST("a,b,c\n", 100);
    cr_expect(f.checked && f.plain && f.n_fields == 3 && f.raw_len == 6);
    cr_expect_eq(f.utf8_bad, SIZE_MAX);
    cr_expect_eq(f.nul_at, SIZE_MAX);
    f = READ_FIRST("a,b\r\n", 100); /* raw is "a,b\r" */
    cr_expect(f.checked && f.plain && f.raw_len == 4);
    f = READ_FIRST("\"a,b\",\"say \"\"hi\"\"\",\"\"\"\"\n", 100); /* quotes that are needed */
    cr_expect(f.checked && f.plain && f.n_fields == 3);
    f = READ_FIRST("\"abc\",b\n", 100); /* quotes that outbuf would not write */
    cr_expect(f.checked && !f.plain);
    f = READ_FIRST("x,\"\"\n", 100);
    cr_expect(f.checked && !f.plain);
    f = READ_FIRST("a,b,c\n", 2); /* a field dropped */
    cr_expect(f.checked && !f.plain && f.too_many_fields && f.n_fields == 2);
    f = READ_FIRST("a,this field is definitely longer than thirty-two bytes\n", 100);
    cr_expect(f.checked && !f.plain && f.long_field == 1);
    f = READ_FIRST("\xe4\xb8\xad\xe6\x96\x87,\xff\n", 100);
    cr_expect(f.checked && f.plain);
    cr_expect_eq(f.utf8_bad, 7);
    f = READ_FIRST("a\0b,\xc3\n", 100);
    cr_expect(f.checked);
    cr_expect_eq(f.nul_at, 1);
    cr_expect_eq(f.utf8_bad, 4); /* a lead byte cut by the line end */
    /* Records libcsv reads: not checked, not plain. */
    f = READ_FIRST("\"multi\nline\",x\n", 100);
    cr_expect(!f.checked && !f.plain && f.n_fields == 2);
    f = READ_FIRST("no line end", 100);
    cr_expect(!f.checked && !f.plain && f.n_fields == 1);
    simd_level = -1;
}

Test(csvread, plain_rows_and_byte_checks)
{
    plain_rows_and_byte_checks_at(-1);
    for (int l = 0; l < N_SIMD; l++)
        if (simd_available(l))
            plain_rows_and_byte_checks_at(l);
}

/*
 * Lines that end exactly at the end of the caller's buffer (allocated with
 * exactly their length; ASan catches a read past it), for every length from
 * 1 to 300: across 16-, 32- and 64-byte block boundaries, with and without a
 * line end, unquoted, quoted, with "" and with a quote as the last byte.
 */
Test(csvread, lines_ending_at_the_buffer_end)
{
    static const char *shapes[] = {"x", "a,", "\"q,\"\"\",", "\xe4\xb8\xad,"};
    char line[320];
    int have[N_SIMD];
    for (int l = 0; l < N_SIMD; l++)
        have[l] = simd_available(l);
    for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
        for (size_t len = 1; len <= 300; len++) {
            for (int variant = 0; variant < 4; variant++) {
                size_t n = 0;
                while (n < len) {
                    const size_t tl = strlen(shapes[sh]);
                    const size_t k = tl < len - n ? tl : len - n;
                    memcpy(line + n, shapes[sh], k);
                    n += k;
                }
                if (variant == 1)
                    line[len - 1] = '\n';
                else if (variant == 2)
                    line[len - 1] = '"'; /* a quote at the very end, no line end */
                else if (variant == 3 && len >= 2) {
                    line[len - 2] = '"';
                    line[len - 1] = '\r';
                }
                use_fast = 0;
                char *slow = parse_cfg(line, len, len, 1, &(reader_cfg){',', 1000, 100000, 1000});
                use_fast = 1;
                for (simd_level = 0; simd_level < N_SIMD; simd_level++) {
                    if (!have[simd_level])
                        continue;
                    char *fast = parse_cfg(line, len, len, 1, &(reader_cfg){',', 1000, 100000, 1000});
                    cr_assert_str_eq(fast, slow, "shape %zu, length %zu, variant %d, %s", sh, len, variant,
                                     SIMD_NAME[simd_level]);
                    free(fast);
                }
                simd_level = -1;
                free(slow);
            }
        }
    }
    /* A run of lines whose ends fall on 16-byte boundaries: 15 bytes + LF. */
    char buf[16 * 40];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = i % 16 == 15 ? '\n' : i % 4 == 3 ? ',' : (char)('a' + i % 7);
    n_checked = 0;
    use_fast = 0;
    char *slow = parse_cfg(buf, sizeof buf, sizeof buf, 1, &DEFAULT_CFG);
    use_fast = 1;
    for (simd_level = 0; simd_level < N_SIMD; simd_level++) {
        if (!have[simd_level])
            continue;
        for (size_t len = 16; len <= sizeof buf; len += 16) {
            char *fast = parse_cfg(buf, len, len, 1, &DEFAULT_CFG);
            cr_assert(strncmp(fast, slow, strlen(fast)) == 0, "%zu bytes, %s", len, SIMD_NAME[simd_level]);
            free(fast);
        }
    }
    simd_level = -1;
    cr_expect_gt(n_checked, 0, "the fast path never ran");
    free(slow);
}

/* Tokens of the random inputs; "" stands for one NUL byte. Runs of 16, 31 and
 * 65 bytes cross the fast path's 16- and 64-byte blocks. */
#define RUN16 "xxxxxxxxxxxxxxxx"
#define RUN31 RUN16 "yyyyyyyyyyyyyyy"
#define RUN65 RUN16 RUN16 RUN16 RUN16 "z"
static const char *const HOSTILE[] = {"a",
                                      "b",
                                      ",",
                                      ",",
                                      ";",
                                      "\t",
                                      "\"",
                                      "\"\"",
                                      "\n",
                                      "\r\n",
                                      "\r",
                                      " ",
                                      "\xc3\xa9",
                                      "\xe4\xb8\xad\xe6\x96\x87",
                                      "",
                                      "\xff",
                                      "\xc3",
                                      "\xe4\xb8",
                                      "\xed\xa0\x80",
                                      "\"\n",
                                      "\"\r\n",
                                      RUN16,
                                      RUN31,
                                      RUN65,
                                      ",\"",
                                      "\",",
                                      "\"q\"",
                                      "\"a,b\"",
                                      "\"x\"\"y\"",
                                      "\"\"\"\"",
                                      ",,,,"};

/* Append token t ("" is a NUL byte) at out; its length. */
static size_t put_token(char *out, const char *t)
{
    const size_t n = t[0] ? strlen(t) : 1;
    memcpy(out, t, n);
    return n;
}

/* A field that is mostly well-formed, so that whole lines reach the fast path. */
static size_t gen_field(char *out, unsigned char delim)
{
    /* As in HOSTILE, "" is a NUL byte. */
    static const char *const bodies[] = {
        "abc", "", " sp ", "\xe4\xb8\xad\xe6\x96\x87", "\xff\xfe", "x", "0123456789abcdef0123456789abcdef0"};
    size_t n = 0;
    const int kind = rand() % 10;
    const int reps = 1 + rand() % 3;
    if (kind == 0)
        return 0;   /* empty */
    if (kind < 5) { /* unquoted */
        for (int i = 0; i < reps; i++) {
            n += put_token(out + n, bodies[rand() % 7]);
        }
        return n;
    }
    out[n++] = '"';
    for (int i = 0; i < reps; i++) {
        switch (rand() % 5) {
        case 0:
            out[n++] = (char)delim;
            break;
        case 1:
            out[n++] = '"';
            out[n++] = '"';
            break;
        default:
            n += put_token(out + n, bodies[rand() % 7]);
        }
    }
    out[n++] = '"';
    if (kind == 9 && rand() % 4 == 0)
        out[n++] = 'j'; /* text after the closing quote */
    return n;
}

/*
 * The differential test on hostile input: random tokens (quotes, "",
 * delimiters, CR, LF, CRLF, NUL, high bytes, invalid UTF-8, a quote at the end
 * of a line, runs longer than 16, 32 and 64 bytes) and generated lines of
 * mostly valid fields (so that many lines take the fast path, some longer
 * than the fast path's window), under several delimiters and limits. The
 * records must be those of libcsv, read whole and in chunks; check_row
 * verifies the byte checks and `plain` of every row.
 */
Test(csvread, fast_path_matches_libcsv_on_hostile_input)
{
    static const reader_cfg cfgs[] = {{',', 32, 256, 100},   {',', 1000, 100000, 100},
                                      {';', 64, 8192, 5},    {'\t', 4096, 100000, 3},
                                      {'|', 0, 100000, 100}, {',', 100000, 100000, 10000}};
    const size_t n_cfgs = sizeof cfgs / sizeof *cfgs;
    const size_t n_tok = sizeof HOSTILE / sizeof *HOSTILE;
    static char in[16384];
    int have[N_SIMD];
    for (int l = 0; l < N_SIMD; l++)
        have[l] = simd_available(l);
    n_checked = n_plain = n_unquoted = 0;
    for (unsigned seed = 1; seed <= 12000; seed++) {
        srand(seed);
        const reader_cfg *c = &cfgs[seed % n_cfgs];
        size_t n = 0;
        if (seed % 2) {
            const size_t target = (size_t)(rand() % 700);
            while (n < target)
                n += put_token(in + n, HOSTILE[rand() % n_tok]);
        } else {
            /* Lines of fields; one in 50 inputs has a line of 4000+ bytes. */
            const int n_lines = 1 + rand() % 8;
            const int huge = rand() % 50 == 0;
            for (int l = 0; l < n_lines && n < sizeof in - 256; l++) {
                const int n_fields = 1 + rand() % (huge ? 400 : 14);
                for (int f = 0; f < n_fields && n < sizeof in - 256; f++) {
                    if (f)
                        in[n++] = (char)c->delimiter;
                    n += gen_field(in + n, c->delimiter);
                }
                static const char *const ends[] = {"\n", "\r\n", "\r", "\n\n"};
                const char *e = ends[rand() % 4];
                if (l + 1 < n_lines || rand() % 2) {
                    memcpy(in + n, e, strlen(e));
                    n += strlen(e);
                }
            }
        }
        cr_assert_lt(n, sizeof in);
        /* Fast path and libcsv, fed whole, in 7- or 4096-byte chunks or cut at
         * random: all give what libcsv gives on the whole input (records over
         * max_record_bytes included: the reader crosses the limit at the same
         * byte whatever the cuts). */
        use_fast = 0;
        char *ref = parse_cfg(in, n, n ? n : 1, seed, c);
        const size_t chunks[] = {0, 7, 4096, n ? n : 1};
        for (size_t k = 0; k < sizeof chunks / sizeof *chunks; k++) {
            /* libcsv alone, then the fast path at each scan level. */
            for (int run = 0; run <= N_SIMD; run++) {
                const int fast_on = run > 0;
                if (fast_on && !have[run - 1])
                    continue;
                use_fast = fast_on;
                simd_level = fast_on ? run - 1 : -1;
                char *got = parse_cfg(in, n, chunks[k], seed, c);
                if (strcmp(got, ref) != 0) {
                    FILE *fp = fopen("/tmp/crest-csvread-diff.txt", "w");
                    if (fp) {
                        fprintf(fp, "INPUT\n");
                        fwrite(in, 1, n, fp);
                        fprintf(fp, "\nWHOLE, LIBCSV\n%s\nGOT\n%s\n", ref, got);
                        fclose(fp);
                    }
                }
                cr_assert_str_eq(
                    got, ref, "seed %u, chunk %zu, fast %d, scan %s (details in /tmp/crest-csvread-diff.txt)",
                    seed, chunks[k], fast_on, fast_on ? SIMD_NAME[simd_level] : "-");
                free(got);
            }
        }
        use_fast = 1;
        simd_level = -1;
        free(ref);
    }
    /* The fast path ran, and both values of plain occurred. */
    cr_expect_gt(n_checked, 10000, "fast rows: %zu", n_checked);
    cr_expect_gt(n_plain, 1000, "plain rows: %zu", n_plain);
    cr_expect_gt(n_checked - n_plain, 1000, "fast rows that are not plain: %zu", n_checked - n_plain);
    cr_expect_gt(n_unquoted, 500, "rows plain but for needless quotes: %zu", n_unquoted);
}

/*
 * The scan levels byte by byte: lines of 1 to 136 bytes, unquoted or one
 * quoted field, with one special token (delimiter, quote, "", CR, LF, CRLF,
 * NUL, high bytes, tab) at each position in turn — across the 16-, 32- and
 * 64-byte boundaries of every scan — and read in one exact allocation (ASan
 * catches an over-read). Every level gives what libcsv gives; check_row
 * verifies nul_at, utf8_bad and plain of every row.
 */
Test(csvread, scan_levels_agree_on_every_position)
{
    static const char *const specials[] = {",",    ";", "\"",   "\"\"", "\r",       "\n",
                                           "\r\n", "",  "\x80", "\xff", "\xc3\xa9", "\t"};
    static const reader_cfg cfgs[] = {{',', 1000, 100000, 1000}, {';', 1000, 100000, 1000}};
    int have[N_SIMD];
    for (int l = 0; l < N_SIMD; l++)
        have[l] = simd_available(l);
    const size_t max_len = 136;
    char *buf = malloc(2 + max_len * (max_len + 3));
    n_checked = 0;
    for (size_t sp = 0; sp < sizeof specials / sizeof *specials; sp++) {
        for (int quoted = 0; quoted < 2; quoted++) {
            for (size_t len = 1; len <= max_len; len++) {
                /* "h\n", then one line per position of the special token. */
                size_t n = 0;
                buf[n++] = 'h';
                buf[n++] = '\n';
                for (size_t pos = 0; pos < len; pos++) {
                    char *line = buf + n;
                    for (size_t i = 0; i < len; i++)
                        line[i] = (char)('a' + i % 26);
                    if (quoted && len >= 2) {
                        line[0] = '"';
                        line[len - 1] = '"';
                    }
                    const size_t tl = specials[sp][0] ? strlen(specials[sp]) : 1;
                    memcpy(line + pos, specials[sp], tl <= len - pos ? tl : len - pos);
                    n += len;
                    buf[n++] = '\n';
                }
                for (size_t c = 0; c < sizeof cfgs / sizeof *cfgs; c++) {
                    use_fast = 0;
                    char *ref = parse_cfg(buf, n, n, 1, &cfgs[c]);
                    use_fast = 1;
                    for (simd_level = 0; simd_level < N_SIMD; simd_level++) {
                        if (!have[simd_level])
                            continue;
                        char *got = parse_cfg(buf, n, n, 1, &cfgs[c]);
                        cr_assert_str_eq(got, ref, "token %zu, quoted %d, length %zu, delimiter '%c', %s", sp,
                                         quoted, len, cfgs[c].delimiter, SIMD_NAME[simd_level]);
                        free(got);
                    }
                    simd_level = -1;
                    free(ref);
                }
            }
        }
    }
    free(buf);
    cr_expect_gt(n_checked, 100000, "fast rows: %zu", n_checked);
}

/* ------------------------------------------------ libcsv as the oracle */

/*
 * The tests above compare the reader's fast paths with its own strict slow
 * path. These compare every path with libcsv itself (strict mode, no space
 * trimming: RFC 4180 as the reader reads it) on valid CSV, where both must
 * give the same records, field for field. Records are written as
 * "<length>:<bytes>" per field, one record a line, so that no byte of a
 * field can be mistaken for a separator.
 */
#include <csv.h>

static void oracle_put_field(dump *d, const char *s, size_t n)
{
    char head[32];
    const int k = snprintf(head, sizeof head, "%zu:", n);
    put(d, head, (size_t)k);
    put(d, s, n);
    put(d, "|", 1);
}

static void oracle_field(void *s, size_t n, void *ctx)
{
    oracle_put_field(ctx, s ? (const char *)s : "", n);
}

static void oracle_record(int term, void *ctx)
{
    (void)term;
    put(ctx, "\n", 1);
}

static int oracle_no_space(unsigned char c)
{
    (void)c;
    return 0;
}

/* libcsv's records of in[0..n) with delimiter delim. */
static char *libcsv_records(const char *in, size_t n, unsigned char delim)
{
    dump d = {0};
    put(&d, "", 0);
    struct csv_parser p;
    cr_assert_eq(csv_init(&p, CSV_STRICT | CSV_STRICT_FINI), 0);
    csv_set_delim(&p, delim);
    csv_set_space_func(&p, oracle_no_space);
    cr_assert_eq(csv_parse(&p, in, n, oracle_field, oracle_record, &d), n, "libcsv: %s",
                 csv_strerror(csv_error(&p)));
    cr_assert_eq(csv_fini(&p, oracle_field, oracle_record, &d), 0, "libcsv: %s", csv_strerror(csv_error(&p)));
    csv_free(&p);
    return d.s;
}

static int oracle_row(void *ctx, const csvread_row *r)
{
    check_row(r);
    cr_assert_eq(r->error, CSVREAD_OK, "line %lu: a fault in valid CSV", r->line);
    cr_assert(r->long_field == SIZE_MAX && !r->too_many_fields, "line %lu", r->line);
    for (size_t i = 0; i < r->n_fields; i++)
        oracle_put_field(ctx, r->fields[i].ptr, r->fields[i].len);
    put(ctx, "\n", 1);
    return 0;
}

/* The reader's records of in[0..n), fed as in[0..cut) and in[cut..n), each
 * from its own allocation of exactly its size (ASan catches an over-read). */
static char *reader_records(const char *in, size_t n, size_t cut, unsigned char delim, int fast, int level)
{
    dump d = {0};
    put(&d, "", 0);
    cur_delim = delim;
    csvread *r = csvread_create(delim, 1 << 20, 1 << 20, 1 << 16, oracle_row, &d);
    csvread_set_fast(r, fast);
    cr_assert_eq(csvread_set_simd(r, level), level);
    const size_t part[2] = {cut, n - cut};
    for (int k = 0; k < 2; k++) {
        char *piece = malloc(part[k] ? part[k] : 1);
        memcpy(piece, in + (k ? cut : 0), part[k]);
        cr_assert_eq(csvread_feed(r, piece, part[k]), 0);
        free(piece);
    }
    cr_assert_eq(csvread_finish(r), 0);
    csvread_free(r);
    return d.s;
}

/* A valid field: empty, unquoted, or quoted with delimiters, "", and now and
 * then a line end inside (a record over several lines). */
static size_t valid_field(char *out, unsigned char delim)
{
    static const char *const bodies[] = {"abc",
                                         " sp ",
                                         "\xe4\xb8\xad\xe6\x96\x87",
                                         "\xff",
                                         "x",
                                         "",
                                         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"};
    size_t n = 0;
    const int kind = rand() % 8;
    const int reps = 1 + rand() % 3;
    if (kind == 0)
        return 0;
    if (kind < 5) {
        for (int i = 0; i < reps; i++)
            n += put_token(out + n, bodies[rand() % 7]);
        return n;
    }
    out[n++] = '"';
    for (int i = 0; i < reps; i++) {
        switch (rand() % 8) {
        case 0:
            out[n++] = (char)delim;
            break;
        case 1:
            out[n++] = '"';
            out[n++] = '"';
            break;
        case 2:
            if (rand() % 4 == 0) {
                memcpy(out + n, rand() % 2 ? "\n" : "\r\n", 2);
                n += out[n] == '\n' ? 1 : 2;
                break;
            }
            /* fall through */
        default:
            n += put_token(out + n, bodies[rand() % 7]);
        }
    }
    out[n++] = '"';
    return n;
}

/*
 * Valid CSV after a first line of 0 to 63 bytes (so that every byte of what
 * follows falls on every position of the 64-byte scan steps in turn), read
 * by every path — the block scanner, the line-at-a-time fast path and the
 * slow path, at every scan level — whole and cut in two at every byte: the
 * records must be libcsv's.
 */
Test(csvread, every_path_matches_libcsv_at_every_cut)
{
    static const unsigned char delims[] = {',', ';', '\t', '|'};
    static char in[8192];
    int have[N_SIMD];
    for (int l = 0; l < N_SIMD; l++)
        have[l] = simd_available(l);
    n_checked = 0;
    for (unsigned seed = 1; seed <= 160; seed++) {
        srand(seed);
        const unsigned char delim = delims[seed % 4];
        size_t n = 0;
        const size_t pad = (seed - 1) % 64;
        for (size_t i = 0; i < pad; i++)
            in[n++] = (char)('a' + i % 26);
        in[n++] = '\n';
        const int n_lines = 1 + rand() % 10;
        for (int l = 0; l < n_lines; l++) {
            const int n_fields = 1 + rand() % 16;
            for (int f = 0; f < n_fields; f++) {
                if (f)
                    in[n++] = (char)delim;
                n += valid_field(in + n, delim);
            }
            static const char *const ends[] = {"\n", "\r\n", "\r", "\n\n", "\r\n\r\n"};
            const char *e = ends[rand() % 5];
            if (l + 1 < n_lines || rand() % 2) {
                memcpy(in + n, e, strlen(e));
                n += strlen(e);
            }
        }
        cr_assert_lt(n, sizeof in);
        char *want = libcsv_records(in, n, delim);
        for (int fast = 0; fast <= 1; fast++) {
            for (int level = 0; level < N_SIMD; level++) {
                if (!have[level] || (!fast && level))
                    continue;
                for (size_t cut = 0; cut <= n; cut += fast ? 1 : 13) {
                    char *got = reader_records(in, n, cut, delim, fast, level);
                    cr_assert_str_eq(got, want, "seed %u, cut %zu, fast %d, %s", seed, cut, fast,
                                     SIMD_NAME[level]);
                    free(got);
                }
            }
        }
        free(want);
    }
    cr_expect_gt(n_checked, 10000, "fast rows: %zu", n_checked);
}
