/*
 * reasons.h — the reasons field of a decision: reason codes joined by ';',
 * a code's detail in brackets ("RISK;MODEL[hs +0.42];R12"). Codes come from
 * a spreadsheet (rule ids), so separators are replaced and the field never
 * needs CSV quotes. Fixed size, no allocation: built on the per-row path.
 */
#ifndef CREST_REASONS_H
#define CREST_REASONS_H

#include <stddef.h>
#include <string.h>

typedef struct reason_buf {
    char text[1024];
    size_t len;
} reason_buf;

/* Empty the buffer (no memset: 1 KiB per row would show in profiles). */
static inline void reason_clear(reason_buf *rb)
{
    rb->len = 0;
    rb->text[0] = '\0';
}

/* Append a code (and its detail, or NULL); ';', ',', '"', CR and LF in them
 * become '_'. Cut at the buffer's end. A NULL code is ignored. */
void crest_reason_add(reason_buf *rb, const char *code, const char *detail);

/* A code that needs no replacement (a fixed code, or a rule's prepared one):
 * the same bytes as crest_reason_add, without its per-character pass. Hot path. */
static inline void reason_code(reason_buf *rb, const char *code, size_t len)
{
    if (rb->len + 1 + len >= sizeof rb->text) {
        char tmp[sizeof rb->text];
        memcpy(tmp, code, len < sizeof tmp ? len : sizeof tmp - 1);
        tmp[len < sizeof tmp ? len : sizeof tmp - 1] = '\0';
        crest_reason_add(rb, tmp, NULL); /* cut at the buffer's end as crest_reason_add cuts */
        return;
    }
    if (rb->len)
        rb->text[rb->len++] = ';';
    memcpy(rb->text + rb->len, code, len);
    rb->len += len;
    rb->text[rb->len] = '\0';
}

#endif
