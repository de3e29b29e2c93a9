/*
 * reasons.c — appending a code to a decision's reasons field (reasons.h).
 * What the codes are and in which order they come is select.c's business.
 */
#include "reasons.h"

void crest_reason_add(reason_buf *rb, const char *code, const char *detail)
{
    if (!code || rb->len + 1 >= sizeof rb->text)
        return;
    const size_t start = rb->len;
    /* Appends without printf (hot path); cut at the buffer's end. */
    const char *parts[5] = {rb->len ? ";" : "", code, detail ? "[" : "", detail ? detail : "",
                            detail ? "]" : ""};
    for (int k = 0; k < 5; k++) {
        size_t pl = strlen(parts[k]);
        if (rb->len + pl >= sizeof rb->text)
            pl = sizeof rb->text - 1 - rb->len;
        memcpy(rb->text + rb->len, parts[k], pl);
        rb->len += pl;
    }
    rb->text[rb->len] = '\0';
    /* Rule ids come from a spreadsheet: keep separators out of the field.
     * rb->len < sizeof rb->text holds here; the second bound says so to
     * gcc -O3, which otherwise reports a write past the end (Release). */
    for (size_t i = start + (start ? 1 : 0); i < rb->len && i < sizeof rb->text; i++)
        if (rb->text[i] == ';' || rb->text[i] == ',' || rb->text[i] == '"' || rb->text[i] == '\n' ||
            rb->text[i] == '\r')
            rb->text[i] = '_';
}
