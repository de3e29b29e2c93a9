/*
 * rankstore.c — the replay's ranking rows in bounded memory (rankstore.h):
 * a buffer that combines tied rows without revenue, sorted and spilled as
 * runs to an unlinked temporary file, and cursors that merge the runs back
 * in the ranking order.
 *
 * It neither computes metrics nor prints; a failing call fills the diag.
 */
#define _GNU_SOURCE /* fallocate's FALLOC_FL_PUNCH_HOLE (Linux); mkstemp, pread, pwrite */
#include "rankstore.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------- the order */

/* Score descending (NaN last, equal NaNs and -0/+0 tie), then period key ascending. */
static int rank_cmp(const rank_row *a, const rank_row *b)
{
    const int na = isnan(a->score), nb = isnan(b->score);
    if (na != nb)
        return na - nb;
    if (!na && a->score != b->score)
        return a->score > b->score ? -1 : 1;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return 0;
}

/* The ranking order as two unsigned keys compared in turn: score descending
 * (NaN last and all NaNs equal, -0 equal to +0), then period key ascending. */
static uint64_t score_key(double score)
{
    if (isnan(score))
        return UINT64_MAX;
    if (score == 0)
        score = 0; /* -0 reads as +0 */
    uint64_t bits;
    memcpy(&bits, &score, sizeof bits);
    const uint64_t ascending = bits >> 63 ? ~bits : bits | UINT64_C(1) << 63;
    return ~ascending; /* -inf's key is 0xfff0...: below NaN's */
}

typedef struct sort_entry {
    uint64_t k1, k2; /* score_key, then the period key with its sign bit flipped */
    uint32_t idx;    /* the row's place in the buffer (rows are in insertion order) */
} sort_entry;

/* Sort rows[0..n) (in insertion order) into the ranking order (rank_cmp), then insertion order: an LSD
 * radix sort, stable, on the period key and then the score key, 8 bits a
 * pass, the passes where every row has the same byte skipped. The same order
 * as a comparison sort on rank_cmp and then pos, in linear time (the comparison sort was a third
 * of a replay's CPU). CREST_OK or CREST_ERR_NOMEM (rows untouched). */
static crest_status sort_rows(rank_store *s, rank_row *rows, size_t n)
{
    if (n < 2)
        return CREST_OK;
    sort_entry *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    size_t(*count)[256] = calloc(16, sizeof *count);
    if (!a || !b || !count) {
        free(a);
        free(b);
        free(count);
        return crest_diag_set(&s->diag, CREST_ERR_NOMEM, "<replay>", 0, 0,
                              "out of memory sorting the ranking");
    }
    for (size_t i = 0; i < n; i++) {
        a[i] = (sort_entry){score_key(rows[i].score), (uint64_t)rows[i].key ^ UINT64_C(1) << 63, (uint32_t)i};
        for (unsigned d = 0; d < 8; d++) {
            count[d][(a[i].k2 >> 8 * d) & 0xff]++;
            count[8 + d][(a[i].k1 >> 8 * d) & 0xff]++;
        }
    }
    for (unsigned pass = 0; pass < 16; pass++) {
        const unsigned shift = 8 * (pass & 7);
        const uint64_t first = pass < 8 ? a[0].k2 : a[0].k1;
        if (count[pass][(first >> shift) & 0xff] == n)
            continue; /* every row has this byte */
        size_t at[256], sum = 0;
        for (unsigned v = 0; v < 256; v++) {
            at[v] = sum;
            sum += count[pass][v];
        }
        for (size_t i = 0; i < n; i++) {
            const uint64_t k = pass < 8 ? a[i].k2 : a[i].k1;
            b[at[(k >> shift) & 0xff]++] = a[i];
        }
        sort_entry *t = a;
        a = b;
        b = t;
    }
    free(count);
    rank_row *out = malloc(n * sizeof *out);
    if (!out) {
        free(a);
        free(b);
        return crest_diag_set(&s->diag, CREST_ERR_NOMEM, "<replay>", 0, 0,
                              "out of memory sorting the ranking");
    }
    for (size_t i = 0; i < n; i++)
        out[i] = rows[a[i].idx];
    memcpy(rows, out, n * sizeof *rows);
    free(out);
    free(a);
    free(b);
    return CREST_OK;
}

/* ------------------------------------------------------------ the store */

void rank_store_init(rank_store *s, size_t max_buf, size_t fan_in)
{
    memset(s, 0, sizeof *s);
    s->max_buf = max_buf < 1 ? 1 : max_buf > UINT32_MAX ? UINT32_MAX : max_buf;
    s->fan_in = fan_in < 2 ? 2 : fan_in;
    s->fd = -1;
    s->combine = 1;
}

void rank_store_set_combine(rank_store *s, int on)
{
    s->combine = on != 0;
    if (!s->combine)
        s->hint = s->hint2 = 0;
}

/* The combined row at the buffer's place at is the one the last combining row went to. */
static void set_hint(rank_store *s, size_t at)
{
    if (s->hint != at + 1) {
        s->hint2 = s->hint;
        s->hint = at + 1;
    }
}

void rank_store_free(rank_store *s)
{
    if (!s)
        return;
    free(s->buf);
    free(s->runs);
    free(s->index);
    if (s->fd >= 0)
        close(s->fd);
    s->buf = NULL;
    s->runs = NULL;
    s->index = NULL;
    s->fd = -1;
}

static const char *tmp_dir(void)
{
    const char *dir = getenv("TMPDIR");
    return dir && *dir ? dir : "/tmp";
}

static crest_status io_error(crest_diag *diag, const char *what, int err)
{
    return crest_diag_set(diag, CREST_ERR_IO, "<replay>", 0, 0,
                          "%s the replay's ranking in a temporary file in %s: %s", what, tmp_dir(),
                          err ? strerror(err) : "it ended early");
}

/* The temporary file, created at the first spill and unlinked at once: the
 * system deletes it when the store closes it, or when the process ends. */
static crest_status open_file(rank_store *s)
{
    if (s->fd >= 0)
        return CREST_OK;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/crest-replay-XXXXXX", tmp_dir()) >= (int)sizeof path)
        return io_error(&s->diag, "cannot keep", ENAMETOOLONG);
    const int fd = mkstemp(path);
    if (fd < 0)
        return io_error(&s->diag, "cannot keep", errno);
    unlink(path);
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    s->fd = fd;
    return CREST_OK;
}

/* Append bytes at the end of the file. */
static crest_status put(rank_store *s, const void *p, size_t len)
{
    const char *at = p;
    while (len) {
        const ssize_t w = pwrite(s->fd, at, len, (off_t)s->file_len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return io_error(&s->diag, "cannot write", w < 0 ? errno : ENOSPC);
        at += w;
        len -= (size_t)w;
        s->file_len += (uint64_t)w;
    }
    return CREST_OK;
}

/* Read len bytes at offset (a short file is an error). */
static crest_status get(int fd, void *p, size_t len, uint64_t offset, crest_diag *diag)
{
    char *at = p;
    while (len) {
        const ssize_t r = pread(fd, at, len, (off_t)offset);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return io_error(diag, "cannot read back", r < 0 ? errno : 0);
        at += r;
        len -= (size_t)r;
        offset += (uint64_t)r;
    }
    return CREST_OK;
}

static crest_status add_run(rank_store *s, uint64_t offset, uint64_t n, uint64_t weight)
{
    if (s->n_runs == s->cap_runs) {
        const size_t cap = s->cap_runs ? 2 * s->cap_runs : 16;
        rank_run *p = realloc(s->runs, cap * sizeof *p);
        if (!p)
            return crest_diag_set(&s->diag, CREST_ERR_NOMEM, "<replay>", 0, 0, "out of memory");
        s->runs = p;
        s->cap_runs = cap;
    }
    s->runs[s->n_runs++] = (rank_run){offset, n, weight};
    return CREST_OK;
}

/* ------------------------------------------------------------ combining */

/* A row that may stand for others tied with it: it carries no revenue. */
static int combinable(const rank_row *row)
{
    return row->revenue == 0;
}

static size_t index_slot(const rank_store *s, const rank_row *row)
{
    uint64_t h = score_key(row->score) * UINT64_C(0x9e3779b97f4a7c15);
    h ^= (uint64_t)row->key * UINT64_C(0xc2b2ae3d27d4eb4f);
    h ^= h >> 29;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 32;
    return (size_t)h & (s->cap_index - 1);
}

/* 1 when a and b tie in the ranking order (rank_cmp 0): the same key and
 * the same score's bits, or scores that only differ as -0/+0 or NaNs do. */
static int tied(const rank_row *a, const rank_row *b)
{
    if (a->key != b->key)
        return 0;
    uint64_t x, y;
    memcpy(&x, &a->score, sizeof x);
    memcpy(&y, &b->score, sizeof y);
    return x == y || score_key(a->score) == score_key(b->score);
}

/* The buffered combined row row may join, or NULL; *slot gets the empty slot
 * of the index where a new combined row would go. */
static rank_row *combine_into(rank_store *s, const rank_row *row, size_t *slot)
{
    size_t i = index_slot(s, row);
    for (;; i = (i + 1) & (s->cap_index - 1)) {
        const uint32_t at = s->index[i];
        if (at == UINT32_MAX) {
            *slot = i;
            return NULL;
        }
        rank_row *r = &s->buf[at];
        if (tied(r, row) && r->n <= UINT32_MAX - row->n)
            return r;
    }
}

/* A new index twice the size (1024 slots at first), every buffered row of
 * revenue 0 in it: it stays at most half full, and grows with the buffer's
 * combined rows rather than with max_buf. */
static crest_status grow_index(rank_store *s)
{
    const size_t cap = s->cap_index ? 2 * s->cap_index : 1024;
    uint32_t *index = malloc(cap * sizeof *index);
    if (!index)
        return crest_diag_set(&s->diag, CREST_ERR_NOMEM, "<replay>", 0, 0,
                              "out of memory keeping the ranking");
    memset(index, 0xff, cap * sizeof *index);
    free(s->index);
    s->index = index;
    s->cap_index = cap;
    s->n_indexed = 0;
    for (size_t i = 0; i < s->n_buf; i++) {
        size_t slot;
        if (combinable(&s->buf[i]) && !combine_into(s, &s->buf[i], &slot)) {
            s->index[slot] = (uint32_t)i;
            s->n_indexed++;
        }
    }
    return CREST_OK;
}

/* Sort the buffer and write it as the newest run. */
static crest_status spill(rank_store *s)
{
    if (!s->n_buf)
        return CREST_OK;
    crest_status st = sort_rows(s, s->buf, s->n_buf);
    if (st != CREST_OK)
        return st;
    uint64_t weight = 0;
    for (size_t i = 0; i < s->n_buf; i++)
        weight += s->buf[i].n;
    const uint64_t at = s->file_len;
    st = open_file(s);
    if (st == CREST_OK)
        st = put(s, s->buf, s->n_buf * sizeof *s->buf);
    if (st == CREST_OK)
        st = add_run(s, at, s->n_buf, weight);
    s->n_buf = 0;
    s->hint = s->hint2 = 0;
    if (s->n_indexed)
        memset(s->index, 0xff, s->cap_index * sizeof *s->index);
    s->n_indexed = 0;
    return st;
}

crest_status rank_store_add(rank_store *s, const rank_row *row)
{
    size_t slot = 0;
    const int comb = s->combine && combinable(row);
    int moved = 0; /* the index changed since slot was found */
    if (comb) {
        /* Tied rows mostly come in runs: the row the last one joined first. */
        if (s->hint) {
            rank_row *r = &s->buf[s->hint - 1];
            if (tied(r, row) && r->n <= UINT32_MAX - row->n) {
                r->n += row->n;
                r->illicit += row->illicit;
                s->n_rows += row->n;
                return CREST_OK;
            }
        }
        if (!s->index) {
            const crest_status st = grow_index(s);
            if (st != CREST_OK)
                return st;
        }
        rank_row *r = combine_into(s, row, &slot);
        if (r) {
            r->n += row->n;
            r->illicit += row->illicit;
            s->n_rows += row->n;
            set_hint(s, (size_t)(r - s->buf));
            return CREST_OK;
        }
        if (2 * (s->n_indexed + 1) > s->cap_index) {
            const crest_status st = grow_index(s);
            if (st != CREST_OK)
                return st;
            moved = 1;
        }
    }
    if (s->n_buf == s->max_buf) {
        const crest_status st = spill(s);
        if (st != CREST_OK)
            return st;
        moved = 1; /* the index is empty now */
    }
    if (s->n_buf == s->cap_buf) {
        size_t cap = s->cap_buf ? 2 * s->cap_buf : 4096;
        cap = cap > s->max_buf ? s->max_buf : cap;
        rank_row *p = realloc(s->buf, cap * sizeof *p);
        if (!p)
            return crest_diag_set(&s->diag, CREST_ERR_NOMEM, "<replay>", 0, 0,
                                  "out of memory keeping the ranking");
        s->buf = p;
        s->cap_buf = cap;
    }
    if (comb) {
        if (moved)
            combine_into(s, row, &slot); /* its empty slot in the new or emptied index */
        s->index[slot] = (uint32_t)s->n_buf;
        s->n_indexed++;
        set_hint(s, s->n_buf);
    }
    s->buf[s->n_buf++] = *row;
    s->n_rows += row->n;
    s->n_stored++;
    return CREST_OK;
}

/* Copy a run of another file as this store's newest run. */
static crest_status copy_run(rank_store *s, int from_fd, const rank_run *run, crest_diag *from_diag)
{
    const uint64_t offset = run->offset, n = run->n;
    enum { CHUNK = 2048 };
    rank_row *tmp = malloc(CHUNK * sizeof *tmp);
    if (!tmp)
        return crest_diag_set(&s->diag, CREST_ERR_NOMEM, "<replay>", 0, 0, "out of memory");
    const uint64_t at = s->file_len;
    crest_status st = open_file(s);
    for (uint64_t done = 0; st == CREST_OK && done < n;) {
        const size_t k = n - done < CHUNK ? (size_t)(n - done) : CHUNK;
        st = get(from_fd, tmp, k * sizeof *tmp, offset + done * sizeof *tmp, from_diag);
        if (st != CREST_OK)
            s->diag = *from_diag;
        else
            st = put(s, tmp, k * sizeof *tmp);
        done += k;
    }
    free(tmp);
    if (st == CREST_OK && (st = add_run(s, at, n, run->weight)) == CREST_OK) {
        s->n_rows += run->weight;
        s->n_stored += n;
    }
    return st;
}

crest_status rank_store_append(rank_store *s, const rank_store *src)
{
    crest_status st = CREST_OK;
    if (src->n_runs)
        st = spill(s); /* s's rows come first: they make a run before src's */
    for (size_t i = 0; st == CREST_OK && i < src->n_runs; i++) {
        crest_diag d;
        st = copy_run(s, src->fd, &src->runs[i], &d);
    }
    for (size_t i = 0; st == CREST_OK && i < src->n_buf; i++)
        st = rank_store_add(s, &src->buf[i]);
    return st;
}

size_t rank_store_saved_size(const rank_store *s)
{
    return s->n_runs * sizeof(uint64_t) + (size_t)s->n_stored * sizeof(rank_row);
}

crest_status rank_store_save(const rank_store *s, void *out)
{
    char *at = out;
    for (size_t i = 0; i < s->n_runs; i++) {
        memcpy(at, &s->runs[i].n, sizeof(uint64_t));
        at += sizeof(uint64_t);
    }
    crest_diag d;
    for (size_t i = 0; i < s->n_runs; i++) {
        const size_t len = (size_t)s->runs[i].n * sizeof(rank_row);
        if (get(s->fd, at, len, s->runs[i].offset, &d) != CREST_OK)
            return CREST_ERR_IO;
        at += len;
    }
    if (s->n_buf)
        memcpy(at, s->buf, s->n_buf * sizeof *s->buf);
    return CREST_OK;
}

crest_status rank_store_load(rank_store *s, const void *in, uint64_t n_runs, uint64_t n_stored)
{
    const char *at = in;
    uint64_t in_runs = 0;
    for (uint64_t i = 0; i < n_runs; i++) {
        uint64_t n;
        memcpy(&n, at + i * sizeof n, sizeof n);
        if (n > n_stored - in_runs)
            return crest_diag_set(&s->diag, CREST_ERR_INVALID, "<replay state>", 0, 0,
                                  "the saved replay state's runs hold more rows than it has");
        in_runs += n;
    }
    const char *rows = at + n_runs * sizeof(uint64_t);
    for (uint64_t i = 0; i < n_stored; i++) {
        rank_row row;
        memcpy(&row, rows + i * sizeof row, sizeof row);
        if (!row.n || row.illicit > row.n)
            return crest_diag_set(&s->diag, CREST_ERR_INVALID, "<replay state>", 0, 0,
                                  "the saved replay state has a ranking row of %u declarations, %u illicit",
                                  row.n, row.illicit);
    }
    crest_status st = n_runs ? spill(s) : CREST_OK;
    for (uint64_t i = 0; st == CREST_OK && i < n_runs; i++) {
        uint64_t n, weight = 0;
        memcpy(&n, at + i * sizeof n, sizeof n);
        for (uint64_t j = 0; j < n; j++) {
            rank_row row;
            memcpy(&row, rows + j * sizeof row, sizeof row);
            weight += row.n;
        }
        const uint64_t start = s->file_len;
        st = open_file(s);
        if (st == CREST_OK)
            st = put(s, rows, (size_t)n * sizeof(rank_row));
        if (st == CREST_OK && (st = add_run(s, start, n, weight)) == CREST_OK) {
            s->n_rows += weight;
            s->n_stored += n;
        }
        rows += n * sizeof(rank_row);
    }
    for (uint64_t i = in_runs; st == CREST_OK && i < n_stored; i++) {
        rank_row row;
        memcpy(&row, rows, sizeof row);
        rows += sizeof row;
        st = rank_store_add(s, &row);
    }
    return st;
}

/* ------------------------------------------------------------ the merge */

/* One input of a merge: a window of rows, refilled from the file. */
typedef struct source {
    const rank_row *rows;
    size_t n_in, at;
    rank_row *own; /* the read buffer (file runs) */
    size_t cap;
    uint64_t offset, left; /* the file: the next byte, the rows not yet read */
} source;

struct rank_cursor {
    int fd;
    source *src;
    size_t n_src;
    size_t *heap; /* sources with rows left, by their current row */
    size_t n_heap;
    rank_row *mem; /* all read buffers */
    crest_diag diag;
};

/* 1 when source a's current row comes before source b's (ties: the older run). */
static int before(const rank_cursor *c, size_t a, size_t b)
{
    const int d = rank_cmp(&c->src[a].rows[c->src[a].at], &c->src[b].rows[c->src[b].at]);
    return d ? d < 0 : a < b;
}

static void sift_down(rank_cursor *c, size_t i)
{
    for (;;) {
        size_t m = i;
        const size_t l = 2 * i + 1, r = l + 1;
        if (l < c->n_heap && before(c, c->heap[l], c->heap[m]))
            m = l;
        if (r < c->n_heap && before(c, c->heap[r], c->heap[m]))
            m = r;
        if (m == i)
            return;
        const size_t t = c->heap[i];
        c->heap[i] = c->heap[m];
        c->heap[m] = t;
        i = m;
    }
}

/* Read the next window of a file source: 1 with rows, 0 when done, -1 on error. */
static int refill(rank_cursor *c, source *s)
{
    if (!s->own)
        return 0; /* the in-memory buffer: one window */
    if (!s->left)
        return 0;
    const size_t k = s->left < s->cap ? (size_t)s->left : s->cap;
    if (get(c->fd, s->own, k * sizeof *s->own, s->offset, &c->diag) != CREST_OK)
        return -1;
    s->rows = s->own;
    s->n_in = k;
    s->at = 0;
    s->offset += k * sizeof *s->own;
    s->left -= k;
    return 1;
}

/* A merge of runs [first, first + count) of s (count 0: the sorted buffer)
 * with read buffers of about budget rows in all. */
static crest_status cursor_open_range(const rank_store *s, size_t first, size_t count, size_t budget,
                                      rank_cursor **out, crest_diag *diag)
{
    *out = NULL;
    rank_cursor *c = calloc(1, sizeof *c);
    const size_t n = count ? count : 1;
    const size_t per = budget / n ? budget / n : 1;
    if (c) {
        c->src = calloc(n, sizeof *c->src);
        c->heap = calloc(n, sizeof *c->heap);
        c->mem = count ? malloc(n * per * sizeof *c->mem) : NULL;
    }
    if (!c || !c->src || !c->heap || (count && !c->mem)) {
        rank_cursor_close(c);
        return crest_diag_set(diag, CREST_ERR_NOMEM, "<replay>", 0, 0, "out of memory merging the ranking");
    }
    c->fd = s->fd;
    c->n_src = n;
    if (!count) /* everything in memory, sorted */
        c->src[0] = (source){s->buf, s->n_buf, 0, NULL, 0, 0, 0};
    for (size_t i = 0; i < count; i++)
        c->src[i] =
            (source){NULL, 0, 0, c->mem + i * per, per, s->runs[first + i].offset, s->runs[first + i].n};
    for (size_t i = 0; i < n; i++) {
        const int got = count ? refill(c, &c->src[i]) : c->src[i].n_in > 0;
        if (got < 0) {
            *diag = c->diag;
            rank_cursor_close(c);
            return CREST_ERR_IO;
        }
        if (got)
            c->heap[c->n_heap++] = i;
    }
    for (size_t i = c->n_heap / 2; i-- > 0;)
        sift_down(c, i);
    *out = c;
    return CREST_OK;
}

crest_status rank_cursor_open(const rank_store *s, rank_cursor **out, crest_diag *diag)
{
    return cursor_open_range(s, 0, s->n_runs, s->max_buf, out, diag);
}

int rank_cursor_next(rank_cursor *c, rank_row *row)
{
    if (!c->n_heap)
        return 0;
    source *s = &c->src[c->heap[0]];
    *row = s->rows[s->at++];
    if (s->at == s->n_in) {
        const int got = refill(c, s);
        if (got < 0)
            return -1;
        if (!got)
            c->heap[0] = c->heap[--c->n_heap];
    }
    if (c->n_heap > 1)
        sift_down(c, 0);
    return 1;
}

const crest_diag *rank_cursor_diag(const rank_cursor *c)
{
    return &c->diag;
}

void rank_cursor_close(rank_cursor *c)
{
    if (!c)
        return;
    free(c->src);
    free(c->heap);
    free(c->mem);
    free(c);
}

/* ----------------------------------------------------------- finishing */

/* Merge runs [first, first + count) into one run at the end of the file. */
static crest_status merge_runs(rank_store *s, size_t first, size_t count, rank_run *out)
{
    const size_t wcap = s->max_buf / 4 ? s->max_buf / 4 : 1;
    rank_row *w = malloc(wcap * sizeof *w);
    rank_cursor *c = NULL;
    crest_status st = w ? cursor_open_range(s, first, count, s->max_buf, &c, &s->diag)
                        : crest_diag_set(&s->diag, CREST_ERR_NOMEM, "<replay>", 0, 0, "out of memory");
    const uint64_t start = s->file_len;
    uint64_t n = 0;
    size_t nw = 0;
    int got = 0;
    while (st == CREST_OK && (got = rank_cursor_next(c, &w[nw])) == 1) {
        n++;
        if (++nw == wcap) {
            st = put(s, w, nw * sizeof *w);
            nw = 0;
        }
    }
    if (st == CREST_OK && got < 0) {
        s->diag = c->diag;
        st = CREST_ERR_IO;
    }
    if (st == CREST_OK && nw)
        st = put(s, w, nw * sizeof *w);
    rank_cursor_close(c);
    free(w);
    uint64_t weight = 0;
    for (size_t i = first; i < first + count; i++)
        weight += s->runs[i].weight;
    *out = (rank_run){start, n, weight};
#ifdef FALLOC_FL_PUNCH_HOLE
    /* The merged runs' bytes are garbage now: give the disk space back when
     * the file system can (else the file keeps them until it is closed). */
    if (st == CREST_OK) {
        const uint64_t lo = s->runs[first].offset;
        const uint64_t hi =
            s->runs[first + count - 1].offset + s->runs[first + count - 1].n * sizeof(rank_row);
        (void)fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)lo, (off_t)(hi - lo));
    }
#endif
    return st;
}

crest_status rank_store_finish(rank_store *s)
{
    if (s->finished)
        return CREST_OK;
    s->hint = s->hint2 = 0; /* the buffer's rows move */
    if (!s->n_runs) {       /* it all fits: sort in memory, no file */
        const crest_status st = sort_rows(s, s->buf, s->n_buf);
        if (st != CREST_OK)
            return st;
        s->finished = 1;
        return CREST_OK;
    }
    crest_status st = spill(s);
    if (st != CREST_OK)
        return st;
    free(s->buf);
    s->buf = NULL;
    s->cap_buf = 0;
    /* Merge fan_in consecutive runs at a time (runs stay in insertion order)
     * until one merge can read them all. */
    while (s->n_runs > s->fan_in) {
        size_t n_new = 0;
        for (size_t first = 0; first < s->n_runs; first += s->fan_in) {
            const size_t count = s->n_runs - first < s->fan_in ? s->n_runs - first : s->fan_in;
            rank_run merged = s->runs[first];
            if (count > 1 && (st = merge_runs(s, first, count, &merged)) != CREST_OK)
                return st;
            s->runs[n_new++] = merged; /* n_new <= first: the runs still to merge are intact */
        }
        s->n_runs = n_new;
    }
    s->finished = 1;
    return CREST_OK;
}
