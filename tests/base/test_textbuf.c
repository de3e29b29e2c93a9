/* test_textbuf.c — the one string builder of crest's libraries (textbuf.h). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "textbuf.h"

Test(textbuf, empty_take_is_an_empty_string)
{
    textbuf tb;
    textbuf_init(&tb);
    char *s = textbuf_take(&tb);
    cr_assert_not_null(s);
    cr_expect_str_eq(s, "");
    cr_expect_null(tb.data);
    cr_expect_eq(tb.len, 0);
    free(s);
}

Test(textbuf, appends_keep_a_terminated_text)
{
    textbuf tb;
    textbuf_init(&tb);
    textbuf_append(&tb, "abc\0def", 7); /* bytes, NUL included */
    cr_expect_eq(tb.len, 7);
    cr_expect_eq(memcmp(tb.data, "abc\0def", 8), 0, "terminated after the bytes");
    textbuf_free(&tb);
    cr_expect_null(tb.data);
    textbuf_init(&tb);
    textbuf_puts(&tb, "x=");
    textbuf_printf(&tb, "%d,%s", 42, "y");
    cr_expect_str_eq(tb.data, "x=42,y");
    /* Past the printf's stack buffer and many doublings of the capacity. */
    char big[3000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    textbuf_printf(&tb, "[%s]", big);
    cr_expect_eq(tb.len, 6 + 2 + sizeof big - 1);
    cr_expect_eq(tb.data[6], '[');
    cr_expect_eq(tb.data[tb.len - 1], ']');
    cr_expect_eq(tb.data[tb.len], '\0');
    cr_expect_geq(tb.cap, tb.len + 1);
    for (int i = 0; i < 10000; i++)
        textbuf_append(&tb, "0123456789", 10);
    cr_expect_eq(tb.len, 6 + 2 + sizeof big - 1 + 100000);
    cr_expect_eq(strlen(tb.data), tb.len);
    char *s = textbuf_take(&tb);
    cr_expect_eq(strncmp(s + strlen(s) - 10, "0123456789", 10), 0);
    free(s);
}

Test(textbuf, json_and_csv_encoders)
{
    textbuf tb;
    textbuf_init(&tb);
    textbuf_json_string(&tb, "a\"b\\c\n\x01é");
    cr_expect_str_eq(tb.data, "\"a\\\"b\\\\c\\u000a\\u0001é\"");
    textbuf_free(&tb);
    textbuf_json_number(&tb, 0.1 + 0.2, 17);
    textbuf_puts(&tb, " ");
    textbuf_json_number(&tb, NAN, 6);
    textbuf_puts(&tb, " ");
    textbuf_json_number(&tb, -INFINITY, 6);
    textbuf_puts(&tb, " ");
    textbuf_json_number(&tb, 1234567.0, 3);
    cr_expect_str_eq(tb.data, "0.30000000000000004 null null 1.23e+06");
    textbuf_free(&tb);
    textbuf_csv_number(&tb, 2.5, 6);
    textbuf_puts(&tb, ",");
    textbuf_csv_number(&tb, NAN, 6);
    textbuf_puts(&tb, ",");
    textbuf_csv_number(&tb, INFINITY, 6);
    cr_expect_str_eq(tb.data, "2.5,,");
    textbuf_free(&tb);
}

Test(textbuf, out_of_memory_is_sticky_and_take_gives_null)
{
    textbuf tb;
    textbuf_init(&tb);
    textbuf_puts(&tb, "partial");
    tb.oom = 1; /* as after a failed realloc */
    textbuf_puts(&tb, " more");
    textbuf_printf(&tb, "%s", "and more");
    cr_expect_str_eq(tb.data, "partial", "nothing is appended after a failure");
    cr_expect_null(textbuf_take(&tb), "a text with a piece missing is not handed out");
    cr_expect_eq(tb.oom, 0, "take resets the buffer");
    /* A size no allocator gives sets oom instead of wrapping around. */
    textbuf_puts(&tb, "x");
    textbuf_append(&tb, "y", SIZE_MAX - 1);
    cr_expect_eq(tb.oom, 1);
    cr_expect_null(textbuf_take(&tb));
}
