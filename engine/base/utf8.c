/* utf8.c — see utf8.h. ASCII runs are skipped 8 bytes at a time and common
 * three-byte characters in one test (hot path). */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

size_t utf8_invalid_offset(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & UINT64_C(0x8080808080808080))) {
                i += 8;
                continue;
            }
        }
        const unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (i + 3 <= n) {
            /* The common case of Chinese text: E1..EC or EE..EF and two
             * continuation bytes (E0 and ED restrict the second byte). */
            uint32_t w = (uint32_t)c | (uint32_t)s[i + 1] << 8 | (uint32_t)s[i + 2] << 16;
            if ((w & 0xC0C0F0u) == 0x8080E0u && c != 0xE0 && c != 0xED) {
                i += 3;
                continue;
            }
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return i;
        }
        if (i + need >= n)
            return i;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        i += need + 1;
    }
    return SIZE_MAX;
}
