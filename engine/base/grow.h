/*
 * grow.h — the one array-growth rule of crest's libraries: capacities double
 * (from 64 elements), so appending n elements costs O(n) copies. Internal to
 * crest's libraries (not installed).
 */
#ifndef CREST_GROW_H
#define CREST_GROW_H

#include <stddef.h>

/*
 * Make *p hold at least `need` elements of `elem` bytes: when *cap is short,
 * realloc to the next doubling of *cap (64 when 0) that fits and update *cap.
 * Returns 0, or -1 on out-of-memory or overflow (then *p and *cap are unchanged).
 */
int crest_grow(void **p, size_t *cap, size_t need, size_t elem);

#endif
