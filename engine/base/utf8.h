/* utf8.h — UTF-8 validation (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF). */
#ifndef CREST_UTF8_H
#define CREST_UTF8_H

#include <stddef.h>

/* Returns SIZE_MAX when s[0..n) is valid UTF-8, else the offset of the first bad byte. */
size_t utf8_invalid_offset(const unsigned char *s, size_t n);

/* The same, byte at a time, on every CPU (utf8_invalid_offset takes short
 * texts in one vector where it can; tests compare the two). */
size_t utf8_invalid_offset_scalar(const unsigned char *s, size_t n);

#endif
