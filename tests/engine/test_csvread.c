/*
 * test_csvread.c — the streaming reader: RFC 4180 details, line numbers,
 * faults with positions, and chunk-boundary invariance (1, 2, 3, 7, 4096
 * bytes and random cuts give the same records).
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csvread.h"

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

static int on_row(void *ctx, const csvread_row *r)
{
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
        put(d, " raw=", 5);
        put(d, r->raw.ptr, r->raw.len);
    }
    put(d, "\n", 1);
    return 0;
}

static int use_fast = 1;

static char *parse_chunked(const char *in, size_t len, size_t chunk, unsigned seed)
{
    dump d = {0};
    put(&d, "", 0);
    csvread *r = csvread_create(',', 32, 256, 100, on_row, &d);
    csvread_set_fast(r, use_fast);
    size_t pos = 0;
    srand(seed);
    while (pos < len) {
        size_t n = chunk ? chunk : 1 + (size_t)(rand() % 13);
        if (n > len - pos)
            n = len - pos;
        cr_assert_eq(csvread_feed(r, in + pos, n), 0);
        pos += n;
    }
    cr_assert_eq(csvread_finish(r), 0);
    csvread_free(r);
    return d.s;
}

static const char TRICKY[] =
    "\xEF\xBB\xBF" "id,desc,n\r\n"
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
    const char *want =
        "L1|id|desc|n raw=id,desc,n\r\n"
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
        cr_expect(strncmp(got, "L1|a|b raw=a,b\n\nL2 ERR4@2:1 raw=", 32) == 0, "chunk %zu: %s", sizes[k], got);
        cr_expect_not_null(strstr(got, "L33|ok|3 raw=ok,3\n\n"), "chunk %zu: %s", sizes[k], got);
        cr_expect_null(strstr(got, "ERR2"), "no phantom unterminated record: %s", got);
        free(got);
    }
}

Test(csvread, bare_cr_line_ends_and_partial_bom)
{
    const char in[] = "\xEF\xBB" "x\r1\r2";
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
    static const char *alphabet[] = {"a", "b", ",", ",", "\"", "\"\"", "\n", "\r\n", "\r", " ", "é",
                                     "xxxxxxxxxx", ",\"", "\",", "\"q\"", "\"a,b\"", "\"x\"\"y\""};
    char in[4096];
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
        char *fast = parse_chunked(in, n, 0, seed + 7);
        char *whole = parse_chunked(in, n, 4096, seed);
        if (strcmp(fast, slow) != 0 || strcmp(whole, slow) != 0) {
            FILE *f = fopen("/tmp/crest-csvread-diff.txt", "w");
            if (f) {
                fprintf(f, "INPUT\n%.*s\nSLOW\n%s\nFAST\n%s\nWHOLE\n%s\n", (int)n, in, slow, fast, whole);
                fclose(f);
            }
        }
        cr_assert_str_eq(fast, slow, "seed %u (details in /tmp/crest-csvread-diff.txt)", seed);
        cr_assert_str_eq(whole, slow, "seed %u", seed);
        free(slow);
        free(fast);
        free(whole);
    }
}
