/*
 * csvread.c — see csvread.h.
 *
 * How records are tracked: input is cut into pieces that end at each CR or
 * LF. The slow path (slow_parse, a strict RFC 4180 state machine of its own,
 * read the way libcsv reads in strict mode — libcsv stays only as the tests'
 * oracle) can only end a record at such a byte, so every record ends at a
 * piece end; the piece bytes are appended to `raw` before parsing, and when
 * the slow path ends a row, `raw` is exactly that record. When a piece leaves
 * it outside any row (a blank line, the LF of a CRLF), `raw` is cleared. Line
 * numbers count CR, LF and CRLF as one line end each.
 *
 * Most lines never reach the slow path: a whole line outside any record that
 * is valid strict RFC 4180 by itself is split by the fast path, its row
 * pointing into the caller's buffer. The block scanner (block_rows) takes
 * every such line of a fed buffer in one SIMD pass over the buffer; the line
 * it stops at goes to the line-at-a-time fast path (fast_line) or, failing
 * that, to the slow path, which takes the rest (records over several lines,
 * broken quoting, a line cut by a chunk end), so faults are reported by one
 * parser only.
 */
#include "grow.h"
#include "csvread.h"

#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Scan levels of the fast path (csvread_set_simd): portable SWAR, SSE2, AVX2
 * (with BMI1: the field loop's tzcnt and blsr; and PCLMULQDQ: the quote
 * parity in one multiplication). */
enum { CSVREAD_SIMD_SWAR = 0, CSVREAD_SIMD_SSE2 = 1, CSVREAD_SIMD_AVX2 = 2 };

#if defined(__SSE2__) && !defined(CSVREAD_NO_SIMD)
#define CSVREAD_SSE2 1
#include <emmintrin.h>
#else
#define CSVREAD_SSE2 0
#endif

/* The AVX2 instance, chosen at run time: x86 with GCC >= 4.9 or
 * clang (the target attribute, intrinsics usable in its functions only,
 * __builtin_cpu_supports). */
#if !defined(CSVREAD_NO_SIMD) && (defined(__x86_64__) || defined(__i386__)) &&                               \
    (defined(__clang__) || (defined(__GNUC__) && (__GNUC__ > 4 || (__GNUC__ == 4 && __GNUC_MINOR__ >= 9))))
#define CSVREAD_X86_DISPATCH 1
#include <immintrin.h>
#else
#define CSVREAD_X86_DISPATCH 0
#endif

/* The slow path's states (slow_parse): no record in progress; after a
 * delimiter; inside a field; after a quote inside a quoted field. */
enum { SP_ROW_NOT_BEGUN = 0, SP_FIELD_NOT_BEGUN, SP_FIELD_BEGUN, SP_QUOTE_SEEN };

static unsigned count_quotes(const unsigned char *s, size_t n)
{
    unsigned c = 0;
    for (const unsigned char *q = s; (q = memchr(q, '"', (size_t)(s + n - q))) != NULL; q++)
        c++;
    return c;
}

struct csvread {
    /* The slow path's state: a strict RFC 4180 reader fed byte by byte. */
    int ps;              /* SP_* */
    int quoted;          /* the field in progress began with a quote */
    unsigned char *ebuf; /* the field in progress (a closing quote included) */
    size_t elen, ecap;
    unsigned char delimiter;
    size_t max_field_bytes;
    size_t max_record_bytes;
    size_t max_fields;
    csvread_row_fn fn;
    void *ctx;

    unsigned char *raw;
    size_t raw_len, raw_cap;
    int raw_truncated;

    char *fbuf; /* field bytes of the current record */
    size_t fbuf_len, fbuf_cap;
    size_t *fofs; /* offset, length pairs */
    crest_str *views;
    size_t views_cap;
    size_t n_fields, fields_cap;
    size_t long_field;
    int too_many_fields;

    unsigned long line;        /* current physical line */
    unsigned long record_line; /* first line of the record in progress */
    unsigned long col_base;    /* bytes of the current line before this piece */
    int prev_cr;
    int in_record;

    int skipping;           /* after a fault: discard up to the end of the record */
    int skip_tracks_quotes; /* a too-long record: the record ends at a line end outside quotes */
    int skip_in_quotes;
    csvread_error skip_error;
    unsigned long skip_line, skip_column;

    unsigned char bom[3];
    size_t bom_n;
    int bom_done;

    int stop;         /* the callback's stop value */
    int fast;         /* take the single-line fast path (identical results) */
    int simd;         /* the fast path's scan level (CSVREAD_SIMD_*) */
    crest_str *split; /* fast path: the line's fields */
    size_t n_split, split_cap;
    unsigned char *unesc; /* fast path: unescaped quoted fields */
    size_t unesc_cap;
    int oom;
};

static void parser_reset(csvread *r)
{
    r->ps = SP_ROW_NOT_BEGUN;
    r->quoted = 0;
    r->elen = 0;
}

/* The highest scan level this build and CPU have. */
static int simd_best(void)
{
#if CSVREAD_X86_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("pclmul"))
        return CSVREAD_SIMD_AVX2;
#endif
    return CSVREAD_SSE2 ? CSVREAD_SIMD_SSE2 : CSVREAD_SIMD_SWAR;
}

csvread *csvread_create(unsigned char delimiter, size_t max_field_bytes, size_t max_record_bytes,
                        size_t max_fields, csvread_row_fn fn, void *ctx)
{
    csvread *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->delimiter = delimiter;
    r->max_field_bytes = max_field_bytes;
    r->max_record_bytes = max_record_bytes;
    r->max_fields = max_fields ? max_fields : 1;
    r->fn = fn;
    r->ctx = ctx;
    r->line = 1;
    r->fast = 1;
    r->simd = simd_best();
    r->long_field = SIZE_MAX;
    return r;
}

void csvread_free(csvread *r)
{
    if (!r)
        return;
    free(r->ebuf);
    free(r->raw);
    free(r->fbuf);
    free(r->fofs);
    free(r->views);
    free(r->split);
    free(r->unesc);
    free(r);
}

unsigned long csvread_lines(const csvread *r)
{
    return r->line - 1 + (r->col_base > 0);
}

static void raw_append(csvread *r, const void *s, size_t n)
{
    size_t room = r->max_record_bytes > r->raw_len ? r->max_record_bytes - r->raw_len : 0;
    if (n > room) {
        n = room;
        r->raw_truncated = 1;
    }
    if (!n)
        return;
    if (crest_grow((void **)&r->raw, &r->raw_cap, r->raw_len + n, 1) != 0) {
        r->oom = 1;
        return;
    }
    memcpy(r->raw + r->raw_len, s, n);
    r->raw_len += n;
}

static void record_clear(csvread *r)
{
    r->raw_len = 0;
    r->raw_truncated = 0;
    r->fbuf_len = 0;
    r->n_fields = 0;
    r->long_field = SIZE_MAX;
    r->too_many_fields = 0;
    r->in_record = 0;
}

static void emit(csvread *r, csvread_row *row)
{
    row->raw.ptr = (const char *)r->raw;
    row->raw.len = r->raw_len;
    row->raw_truncated = r->raw_truncated;
    if (!r->stop) {
        int s = r->fn(r->ctx, row);
        if (s)
            r->stop = s;
    }
    record_clear(r);
}

static void emit_error(csvread *r)
{
    csvread_row row = {0};
    row.line = r->record_line;
    row.error = r->skip_error;
    row.error_line = r->skip_line;
    row.error_column = r->skip_column;
    row.long_field = SIZE_MAX;
    r->skipping = 0;
    r->skip_tracks_quotes = r->skip_in_quotes = 0;
    emit(r, &row);
    parser_reset(r);
}

/* A field of the record in progress. */
static void on_field(void *data, size_t len, void *ctx)
{
    csvread *r = ctx;
    if (r->n_fields >= r->max_fields) {
        r->too_many_fields = 1;
        return;
    }
    if (len > r->max_field_bytes) {
        if (r->long_field == SIZE_MAX)
            r->long_field = r->n_fields;
        len = 0; /* keep the record's shape, not the oversized bytes */
    }
    if (crest_grow((void **)&r->fofs, &r->fields_cap, 2 * (r->n_fields + 1), sizeof(size_t)) != 0 ||
        crest_grow((void **)&r->fbuf, &r->fbuf_cap, r->fbuf_len + len + 1, 1) != 0) {
        r->oom = 1;
        return;
    }
    if (len)
        memcpy(r->fbuf + r->fbuf_len, data, len);
    r->fofs[2 * r->n_fields] = r->fbuf_len;
    r->fofs[2 * r->n_fields + 1] = len;
    r->fbuf_len += len;
    r->n_fields++;
}

/* The end of the record in progress. */
static void on_row(csvread *r)
{
    if (r->oom)
        return;
    if (crest_grow((void **)&r->views, &r->views_cap, r->n_fields + 1, sizeof(crest_str)) != 0) {
        r->oom = 1;
        return;
    }
    crest_str *v = r->views;
    for (size_t i = 0; i < r->n_fields; i++) {
        v[i].ptr = r->fbuf + r->fofs[2 * i];
        v[i].len = r->fofs[2 * i + 1];
    }
    csvread_row row = {0};
    row.fields = v;
    row.n_fields = r->n_fields;
    row.line = r->record_line;
    row.long_field = r->long_field;
    row.too_many_fields = r->too_many_fields;
    emit(r, &row);
}

static void count_line_end(csvread *r, unsigned char term, size_t piece_len)
{
    if (term == '\r') {
        r->line++;
        r->prev_cr = 1;
    } else if (term == '\n') {
        if (!(piece_len == 1 && r->prev_cr))
            r->line++;
        r->prev_cr = 0;
    } else if (piece_len) {
        r->prev_cr = 0; /* "\r" + "abc" (a chunk end) + "\n": two line ends, not a CRLF */
    }
}

/*
 * Split one line (without its terminator) into fields the way libcsv does in
 * strict mode with no space trimming, or return 0 when libcsv must see it: a
 * quote inside an unquoted field, text after a closing quote, or an open
 * quote at the end of the line (the record continues). Quoted fields without
 * "" are views into the line; with "" they are unescaped into r->unesc.
 * Only for lines longer than the single-pass fast path takes (FAST_PIECE_MAX);
 * its fields are then copied like libcsv's.
 */
static int fast_split(csvread *r, const unsigned char *s, size_t n)
{
    if (crest_grow((void **)&r->unesc, &r->unesc_cap, n + 1, 1) != 0) {
        r->oom = 1;
        return 0;
    }
    size_t n_split = 0, unesc_len = 0;
    const unsigned char *p = s, *end = s + n;
    const unsigned char delim = r->delimiter;
    for (;;) {
        if (n_split == r->split_cap &&
            crest_grow((void **)&r->split, &r->split_cap, n_split + 1, sizeof *r->split) != 0) {
            r->oom = 1;
            return 0;
        }
        crest_str *f = &r->split[n_split++];
        if (p < end && *p == '"') {
            /* Quoted: up to the quote that is not doubled. */
            const unsigned char *q = p + 1;
            const unsigned char *seg = q;
            char *out = (char *)r->unesc + unesc_len;
            size_t out_len = 0;
            int escaped = 0;
            for (;;) {
                const unsigned char *qq = memchr(q, '"', (size_t)(end - q));
                if (!qq)
                    return 0; /* the quote is not closed on this line */
                if (qq + 1 < end && qq[1] == '"') {
                    memcpy(out + out_len, seg, (size_t)(qq + 1 - seg));
                    out_len += (size_t)(qq + 1 - seg);
                    escaped = 1;
                    q = seg = qq + 2;
                    continue;
                }
                if (escaped) {
                    memcpy(out + out_len, seg, (size_t)(qq - seg));
                    out_len += (size_t)(qq - seg);
                    f->ptr = out;
                    f->len = out_len;
                    unesc_len += out_len;
                } else {
                    f->ptr = (const char *)(p + 1);
                    f->len = (size_t)(qq - p - 1);
                }
                p = qq + 1;
                break;
            }
            if (p == end)
                break;
            if (*p != delim)
                return 0; /* text after the closing quote: libcsv reports it */
            p++;
            continue;
        }
        const unsigned char *d = memchr(p, delim, (size_t)(end - p));
        const unsigned char *fe = d ? d : end;
        if (memchr(p, '"', (size_t)(fe - p)))
            return 0; /* a quote inside an unquoted field */
        f->ptr = (const char *)p;
        f->len = (size_t)(fe - p);
        if (!d)
            break;
        p = d + 1;
    }
    r->n_split = n_split;
    return 1;
}

/*
 * The single-pass fast path.
 *
 * A line that starts outside any record is scanned once, 64 bytes a step:
 * scan_block gives bitmasks of the delimiters, quotes, CRs and LFs, bytes >=
 * 0x80 and NULs, and the splitter walks the delimiter and quote bits in order
 * while the scan goes on, up to the first CR or LF (the piece end as
 * feed_bytes defines it). The row's fields and raw then point into the
 * caller's buffer (quoted fields with "" into r->unesc): nothing is copied.
 * The same masks give the byte checks of raw (the first NUL, and whether
 * UTF-8 needs validating at all) and whether raw is plain (csvread.h).
 */

/* Pieces (line end included) up to this many bytes take the single-pass fast
 * path; it bounds r->unesc and r->split. Longer lines take fast_split. */
#define FAST_PIECE_MAX 4096

/* Bitmasks of 64 bytes: bit i describes byte i. scan_block comes in several
 * versions, all giving the same masks: portable SWAR (every host), SSE2
 * (baseline on x86-64), and on x86 with GCC or clang AVX2, compiled with the
 * target attribute and chosen at run time (csvread_create,
 * __builtin_cpu_supports). -DCSVREAD_NO_SIMD builds the SWAR version only.
 * tests/engine/test_csvread.c runs its differential tests under every level
 * (csvread_set_simd). An AVX-512BW version (one load and five 64-bit mask
 * compares per block) was measured on AMD EPYC (Zen 4): no faster than AVX2,
 * so it is not kept. */
typedef struct block_masks {
    uint64_t delim, quote;
    uint64_t eol;  /* CR or LF */
    uint64_t high; /* >= 0x80 */
    uint64_t nul;
} block_masks;

/* 0x80 in each byte of w equal to the byte repeated in b. Exact: no carry
 * crosses a byte, so unlike the classic zero-byte test nothing above a match
 * is flagged. */
static inline uint64_t eq_flags(uint64_t w, uint64_t b)
{
    const uint64_t lo7 = UINT64_C(0x7F7F7F7F7F7F7F7F);
    const uint64_t x = w ^ b;
    return ~(((x & lo7) + lo7) | x | lo7);
}

/* The 0x80 flags of f's 8 bytes as 8 bits, byte k to bit k: the product puts
 * each flag on its own bit of the top byte, without carries. */
static inline uint64_t flag_bits(uint64_t f)
{
    return ((f >> 7) * UINT64_C(0x0102040810204080)) >> 56;
}

/* Classify p[0..64) (all readable). Portable (SWAR, 8 bytes a step). */
static inline void scan_block_swar(const unsigned char *p, unsigned char delim, block_masks *m)
{
    const uint64_t ones = UINT64_C(0x0101010101010101);
    const uint64_t bd = ones * delim, bq = ones * '"', bcr = ones * '\r', blf = ones * '\n';
    uint64_t d = 0, q = 0, e = 0, h = 0, z = 0;
    for (unsigned k = 0; k < 8; k++) {
        uint64_t w = 0; /* byte i at bits 8i on any host */
        for (unsigned b = 8; b-- > 0;)
            w = w << 8 | p[8 * k + b];
        const unsigned sh = 8 * k;
        d |= flag_bits(eq_flags(w, bd)) << sh;
        q |= flag_bits(eq_flags(w, bq)) << sh;
        e |= flag_bits(eq_flags(w, bcr) | eq_flags(w, blf)) << sh;
        h |= flag_bits(w & ones * 0x80) << sh;
        z |= flag_bits(eq_flags(w, 0)) << sh;
    }
    m->delim = d;
    m->quote = q;
    m->eol = e;
    m->high = h;
    m->nul = z;
}

#if CSVREAD_SSE2
/* SSE2, baseline on x86-64: 16 bytes a step. */
static inline void scan_block_sse2(const unsigned char *p, unsigned char delim, block_masks *m)
{
    const __m128i vd = _mm_set1_epi8((char)delim), vq = _mm_set1_epi8('"');
    const __m128i vcr = _mm_set1_epi8('\r'), vlf = _mm_set1_epi8('\n'), vz = _mm_setzero_si128();
    uint64_t d = 0, q = 0, e = 0, h = 0, z = 0;
    for (unsigned k = 0; k < 4; k++) {
        const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
        const __m128i eol = _mm_or_si128(_mm_cmpeq_epi8(v, vcr), _mm_cmpeq_epi8(v, vlf));
        const unsigned sh = 16 * k;
        d |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vd)) << sh;
        q |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vq)) << sh;
        e |= (uint64_t)(unsigned)_mm_movemask_epi8(eol) << sh;
        h |= (uint64_t)(unsigned)_mm_movemask_epi8(v) << sh; /* the top bit of each byte */
        z |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vz)) << sh;
    }
    m->delim = d;
    m->quote = q;
    m->eol = e;
    m->high = h;
    m->nul = z;
}
#endif

#if CSVREAD_X86_DISPATCH
/* AVX2: 32 bytes a step. Only called from fast_line_avx2. */
__attribute__((target("avx2"))) static inline void scan_block_avx2(const unsigned char *p,
                                                                   unsigned char delim, block_masks *m)
{
    const __m256i vd = _mm256_set1_epi8((char)delim), vq = _mm256_set1_epi8('"');
    const __m256i vcr = _mm256_set1_epi8('\r'), vlf = _mm256_set1_epi8('\n'), vz = _mm256_setzero_si256();
    const __m256i lo = _mm256_loadu_si256((const __m256i *)(const void *)p);
    const __m256i hi = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
#define CSVREAD_MASK2(expr_lo, expr_hi)                                                                      \
    ((uint64_t)(uint32_t)_mm256_movemask_epi8(expr_lo) | (uint64_t)(uint32_t)_mm256_movemask_epi8(expr_hi)   \
                                                             << 32)
    m->delim = CSVREAD_MASK2(_mm256_cmpeq_epi8(lo, vd), _mm256_cmpeq_epi8(hi, vd));
    m->quote = CSVREAD_MASK2(_mm256_cmpeq_epi8(lo, vq), _mm256_cmpeq_epi8(hi, vq));
    m->eol = CSVREAD_MASK2(_mm256_or_si256(_mm256_cmpeq_epi8(lo, vcr), _mm256_cmpeq_epi8(lo, vlf)),
                           _mm256_or_si256(_mm256_cmpeq_epi8(hi, vcr), _mm256_cmpeq_epi8(hi, vlf)));
    m->high = CSVREAD_MASK2(lo, hi); /* the top bit of each byte */
    m->nul = CSVREAD_MASK2(_mm256_cmpeq_epi8(lo, vz), _mm256_cmpeq_epi8(hi, vz));
#undef CSVREAD_MASK2
}
#endif

/* The scan of one level; level is a constant in each fast_line instance, so
 * this is a direct (inlined) call. */
static inline __attribute__((always_inline)) void scan_block(const unsigned char *p, unsigned char delim,
                                                             block_masks *m, const int level)
{
#if CSVREAD_X86_DISPATCH
    if (level == CSVREAD_SIMD_AVX2) {
        scan_block_avx2(p, delim, m);
        return;
    }
#endif
#if CSVREAD_SSE2
    if (level == CSVREAD_SIMD_SSE2) {
        scan_block_sse2(p, delim, m);
        return;
    }
#endif
    (void)level;
    scan_block_swar(p, delim, m);
}

static inline unsigned lowest_bit(uint64_t x)
{
    return (unsigned)__builtin_ctzll(x);
}

/*
 * Field splitting from the delimiter and quote bits of one line, as libcsv
 * reads strict RFC 4180: a quote opens a quoted field only as its first byte;
 * inside, "" is one quote, and a quote followed by a delimiter or the line end
 * closes it. Anything else — a quote inside an unquoted field, text after a
 * closing quote, a quote still open at the line end (the record goes on) —
 * makes the line "not fast", and libcsv reads and reports it as before.
 */
enum { SP_FIELD, SP_QUOTED, SP_CLOSED };

typedef struct splitter {
    const unsigned char *s; /* the line */
    crest_str *out;         /* r->split: the kept fields */
    size_t max_out;         /* max_fields: fields past it are counted, not kept */
    size_t n;               /* fields so far */
    int state;
    size_t fs;   /* SP_FIELD: start of the field in progress */
    size_t seg;  /* quoted: start of the content not yet taken */
    size_t qp;   /* SP_CLOSED: the quote that closes the field unless doubled */
    char *unesc; /* r->unesc: quoted fields with "" unescaped */
    size_t unesc_len, ustart;
    int escaped, has_delim; /* the quoted field in progress has "", a delimiter */
    uint64_t needless;      /* quoted fields that need no quotes: bit k for field k < 63,
                             * bit 63 for any later one (0: every quote was needed) */
} splitter;

static inline void sp_put(splitter *sp, const char *p, size_t len)
{
    if (sp->n < sp->max_out) {
        sp->out[sp->n].ptr = p;
        sp->out[sp->n].len = len;
    }
    sp->n++;
}

/* The quoted field in progress ends at the quote sp->qp. */
static inline void sp_close_quoted(splitter *sp)
{
    const size_t tail = sp->qp - sp->seg;
    if (sp->escaped) {
        memcpy(sp->unesc + sp->unesc_len, sp->s + sp->seg, tail);
        sp->unesc_len += tail;
        sp_put(sp, sp->unesc + sp->ustart, sp->unesc_len - sp->ustart);
    } else {
        sp_put(sp, (const char *)sp->s + sp->seg, tail);
    }
    /* outbuf's csv_field quotes a field only when it holds the delimiter, a
     * quote, CR or LF; CR and LF cannot be in a field of one line. */
    if (!sp->escaped && !sp->has_delim) {
        const size_t k = sp->n - 1; /* the field just put */
        sp->needless |= UINT64_C(1) << (k < 63 ? k : 63);
    }
}

/* Walk one block's delimiter bits d and quote bits q (bytes of the line only;
 * block starts at line offset base). Returns 0 when the line is not fast. */
static inline __attribute__((always_inline)) int sp_block(splitter *sp, size_t base, uint64_t d, uint64_t q)
{
    if (sp->state == SP_FIELD && !q) {
        /* The common case: unquoted fields, only delimiters. */
        for (; d; d &= d - 1) {
            const size_t pos = base + lowest_bit(d);
            sp_put(sp, (const char *)sp->s + sp->fs, pos - sp->fs);
            sp->fs = pos + 1;
        }
        return 1;
    }
    for (uint64_t ev = d | q; ev; ev &= ev - 1) {
        const unsigned bit = lowest_bit(ev);
        const size_t pos = base + bit;
        const int is_quote = (int)((q >> bit) & 1);
        switch (sp->state) {
        case SP_FIELD:
            if (!is_quote) {
                sp_put(sp, (const char *)sp->s + sp->fs, pos - sp->fs);
                sp->fs = pos + 1;
            } else if (pos == sp->fs) {
                sp->state = SP_QUOTED;
                sp->seg = pos + 1;
                sp->ustart = sp->unesc_len;
                sp->escaped = sp->has_delim = 0;
            } else {
                return 0; /* a quote inside an unquoted field */
            }
            break;
        case SP_QUOTED:
            if (is_quote) {
                sp->state = SP_CLOSED;
                sp->qp = pos;
            } else {
                sp->has_delim = 1;
            }
            break;
        default: /* SP_CLOSED: only a quote or a delimiter right after may follow */
            if (pos != sp->qp + 1)
                return 0; /* text after the closing quote */
            if (is_quote) {
                /* "": the content so far, with one of the two quotes. */
                memcpy(sp->unesc + sp->unesc_len, sp->s + sp->seg, pos - sp->seg);
                sp->unesc_len += pos - sp->seg;
                sp->seg = pos + 1;
                sp->escaped = 1;
                sp->state = SP_QUOTED;
            } else {
                sp_close_quoted(sp);
                sp->fs = pos + 1;
                sp->state = SP_FIELD;
            }
            break;
        }
    }
    return 1;
}

/* The line ends at offset len. Returns 0 when the line is not fast. */
static inline int sp_end(splitter *sp, size_t len)
{
    switch (sp->state) {
    case SP_FIELD:
        sp_put(sp, (const char *)sp->s + sp->fs, len - sp->fs);
        return 1;
    case SP_QUOTED:
        return 0; /* the quote is open: the record goes on past the line */
    default:
        if (sp->qp + 1 != len)
            return 0; /* text after the closing quote */
        sp_close_quoted(sp);
        return 1;
    }
}

/* Bytes a spreadsheet may read as the start of a formula (csvread_row's
 * lead_fields; the same set as render.c's formula_lead). */
static const unsigned char formula_lead[256] = {
    ['='] = 1, ['+'] = 1, ['-'] = 1, ['@'] = 1, ['\t'] = 1, ['\r'] = 1};

/*
 * A record of the fast path (fast_line or block_rows) to the callback: the
 * line s[0..piece) with its line end, whose fields (n_seen of them, the
 * first max_fields kept) are in r->split. long_field: the first field over
 * max_field_bytes (its length already 0), or SIZE_MAX; needless: as in
 * splitter; leads: csvread_row's lead_fields; high_at, nul_at: offsets of the
 * line's first byte >= 0x80 and first NUL, or SIZE_MAX; high_end: the offset
 * after its last byte >= 0x80 (or piece).
 */
static inline __attribute__((always_inline)) void fast_emit(csvread *r, const unsigned char *s, size_t piece,
                                                            size_t n_seen, size_t long_field,
                                                            uint64_t needless, uint64_t leads, size_t high_at,
                                                            size_t high_end, size_t nul_at)
{
    /* Validation starts at the first byte >= 0x80 and ends after the last:
     * what precedes is ASCII, complete characters; what follows is ASCII, so
     * the first invalid sequence is the same one in the shorter range (one
     * cut short at its end is cut short by an ASCII byte in the whole line). */
    size_t utf8_bad = SIZE_MAX;
    if (high_at != SIZE_MAX) {
        const size_t bad = utf8_invalid_offset(s + high_at, high_end - high_at);
        utf8_bad = bad == SIZE_MAX ? SIZE_MAX : high_at + bad;
    }
    const int too_many = n_seen > r->max_fields;
    const int whole = !too_many && long_field == SIZE_MAX;
    /* Every member named once (a zeroed row then filled in costs its stores twice). */
    const csvread_row row = {.fields = r->split,
                             .n_fields = too_many ? r->max_fields : n_seen,
                             .line = r->line,
                             .raw = {(const char *)s, piece},
                             .raw_truncated = 0,
                             .error = CSVREAD_OK,
                             .error_column = 0,
                             .error_line = 0,
                             .long_field = long_field,
                             .too_many_fields = too_many,
                             .checked = 1,
                             .utf8_bad = utf8_bad,
                             .nul_at = nul_at,
                             .plain = !needless && whole,
                             .unquoted = whole && !(needless >> 63) ? needless : 0,
                             .leads_known = 1,
                             .lead_fields = leads};
    if (!r->stop) {
        const int st = r->fn(r->ctx, &row);
        if (st)
            r->stop = st;
    }
}

/*
 * The fast path for the bytes s[0..avail) of this feed, which start a line
 * outside any record. Returns 1 when it took the piece (up to and including
 * the first CR or LF): *piece is its length; its row, unless the line is
 * blank, went to the callback; the caller counts the line end. Returns 0 when
 * process_piece must take the piece: *piece and *has_term describe it, or
 * *piece is 0 when the line is longer than FAST_PIECE_MAX allows (its end is
 * past what was scanned).
 * Hot path: one pass over the line's bytes, no allocation after warm-up.
 */
static inline __attribute__((always_inline)) int fast_line_body(csvread *r, const unsigned char *s,
                                                                size_t avail, size_t *piece, int *has_term,
                                                                const int level)
{
    const size_t max_split = r->max_fields < FAST_PIECE_MAX ? r->max_fields : FAST_PIECE_MAX;
    if (crest_grow((void **)&r->unesc, &r->unesc_cap, FAST_PIECE_MAX, 1) != 0 ||
        crest_grow((void **)&r->split, &r->split_cap, max_split, sizeof *r->split) != 0) {
        r->oom = 1;
        return 0;
    }
    const size_t window = avail < FAST_PIECE_MAX ? avail : FAST_PIECE_MAX;
    const unsigned char delim = r->delimiter;
    splitter sp = {0};
    sp.s = s;
    sp.out = r->split;
    sp.max_out = r->max_fields;
    sp.unesc = (char *)r->unesc;
    int ok = 1;
    size_t high_at = SIZE_MAX, nul_at = SIZE_MAX, len = SIZE_MAX; /* first byte >= 0x80, NUL, CR or LF */
    for (size_t base = 0; base < window; base += 64) {
        block_masks m;
        uint64_t in_line = ~UINT64_C(0); /* the bits of this block that belong to the line */
        if (window - base >= 64) {
            scan_block(s + base, delim, &m, level);
        } else {
            /* The tail: copied, so that nothing past the caller's buffer is read. */
            unsigned char tail[64] = {0};
            memcpy(tail, s + base, window - base);
            scan_block(tail, delim, &m, level);
            in_line = (UINT64_C(1) << (window - base)) - 1;
        }
        const uint64_t eol = m.eol & in_line;
        if (eol) {
            in_line &= (eol & (0 - eol)) - 1;
            len = base + lowest_bit(eol);
        }
        if (high_at == SIZE_MAX && (m.high & in_line))
            high_at = base + lowest_bit(m.high & in_line);
        if (nul_at == SIZE_MAX && (m.nul & in_line))
            nul_at = base + lowest_bit(m.nul & in_line);
        if (ok)
            ok = sp_block(&sp, base, m.delim & in_line, m.quote & in_line);
        if (len != SIZE_MAX)
            break;
    }
    if (len == SIZE_MAX) {
        /* No line end: the line goes on in the next feed, or past the window. */
        *piece = window < avail ? 0 : avail;
        *has_term = 0;
        return 0;
    }
    *piece = len + 1;
    *has_term = 1;
    if (*piece > r->max_record_bytes)
        return 0; /* process_piece's too-long branch, which comes first */
    r->record_line = r->line;
    if (len == 0)
        return 1; /* a blank line, or the LF of a CRLF: no record */
    if (!ok || !sp_end(&sp, len))
        return 0;

    size_t long_field = SIZE_MAX;
    uint64_t leads = 0;
    const size_t kept = sp.n < r->max_fields ? sp.n : r->max_fields;
    for (size_t i = 0; i < kept; i++) {
        if (r->split[i].len)
            leads |= (uint64_t)formula_lead[(unsigned char)r->split[i].ptr[0]] << (i < 63 ? i : 63);
        if (r->split[i].len > r->max_field_bytes) {
            if (long_field == SIZE_MAX)
                long_field = i;
            r->split[i].len = 0; /* keep the record's shape, as on_field does */
        }
    }
    fast_emit(r, s, *piece, sp.n, long_field, sp.needless, leads, high_at, *piece, nul_at);
    return 1;
}

/* fast_line_body once per scan level: the level is a constant in each, so its
 * scan_block is inlined into the block loop (no call per block); feed_bytes
 * picks the instance once per line (fast_line). */
static int fast_line_swar(csvread *r, const unsigned char *s, size_t avail, size_t *piece, int *has_term)
{
    return fast_line_body(r, s, avail, piece, has_term, CSVREAD_SIMD_SWAR);
}

#if CSVREAD_SSE2
static int fast_line_sse2(csvread *r, const unsigned char *s, size_t avail, size_t *piece, int *has_term)
{
    return fast_line_body(r, s, avail, piece, has_term, CSVREAD_SIMD_SSE2);
}
#endif

#if CSVREAD_X86_DISPATCH
__attribute__((target("avx2,bmi,pclmul"))) static int
fast_line_avx2(csvread *r, const unsigned char *s, size_t avail, size_t *piece, int *has_term)
{
    return fast_line_body(r, s, avail, piece, has_term, CSVREAD_SIMD_AVX2);
}
#endif

static int fast_line(csvread *r, const unsigned char *s, size_t avail, size_t *piece, int *has_term)
{
    switch (r->simd) {
#if CSVREAD_X86_DISPATCH
    case CSVREAD_SIMD_AVX2:
        return fast_line_avx2(r, s, avail, piece, has_term);
#endif
#if CSVREAD_SSE2
    case CSVREAD_SIMD_SSE2:
        return fast_line_sse2(r, s, avail, piece, has_term);
#endif
    default:
        return fast_line_swar(r, s, avail, piece, has_term);
    }
}

/*
 * The block scanner.
 *
 * fast_line scans one line at a time. block_rows takes every line of the
 * fed buffer that the fast path takes, in one pass over the buffer, 64
 * bytes a step, in the manner of simdjson's stage 1 and simdcsv: from each
 * step's masks (scan_block) it computes which bytes lie inside quotes (the
 * prefix XOR of the quote bits, carried from step to step), so that the
 * delimiters and line ends outside quotes are the field and record
 * boundaries, and finds quotes in the wrong place from the same masks: an
 * opening quote that does not start a field (nor follow a closing one: "")
 * and a closing quote followed by anything but a boundary (or an opening
 * quote: ""). It then walks the boundary bits in order, puts each field as
 * a view into the buffer (a quoted field's content between its quotes; a
 * field with "" is unescaped into r->unesc) and gives each record to the
 * callback as soon as its line end is reached. Only quoted fields are read
 * again (memchr for "" and the delimiter, to tell whether the field needed
 * its quotes).
 *
 * It stops before the first line the fast path does not take whole: a
 * quote in the wrong place, a line end inside quotes (a record over several
 * lines), a line longer than FAST_PIECE_MAX or max_record_bytes, or the
 * buffer's end inside a line. feed_bytes gives that line to fast_line and
 * process_piece, then comes back here. The records, their lines, faults and
 * byte checks are therefore those of the line-at-a-time reader
 * (tests/base/test_csvread.c compares both, and libcsv, at every block and
 * buffer boundary).
 */

/* Bit i of the result: the XOR of bits 0..i of x (the parity of the quotes up
 * to and including byte i). */
static inline uint64_t prefix_xor(uint64_t x)
{
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}

#if CSVREAD_X86_DISPATCH && defined(__x86_64__)
/* prefix_xor as one carry-less multiplication by all ones (bit i of the
 * product's low half is the XOR of bits 0..i of x), for the AVX2 level. */
__attribute__((target("pclmul"))) static inline uint64_t prefix_xor_clmul(uint64_t x)
{
    const __m128i p = _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)x), _mm_set1_epi8((char)0xFF), 0);
    return (uint64_t)_mm_cvtsi128_si64(p);
}
#endif

/* prefix_xor for one scan level (a constant in each instance). */
static inline __attribute__((always_inline)) uint64_t prefix_xor_at(uint64_t x, const int level)
{
#if CSVREAD_X86_DISPATCH && defined(__x86_64__)
    if (level == CSVREAD_SIMD_AVX2)
        return prefix_xor_clmul(x);
#endif
    (void)level;
    return prefix_xor(x);
}

/* Bits [from, to) of a 64-bit mask (from <= to <= 64). */
static inline uint64_t bit_range(unsigned from, unsigned to)
{
    const uint64_t below_to = to >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << to) - 1;
    return below_to & ~((UINT64_C(1) << from) - 1);
}

#define UNLIKELY_BR(x) __builtin_expect(!!(x), 0)

/* The content from[0..len) of a quoted field with "" (q: its first quote) with
 * one quote of each pair, written at o; its length goes to *out_len. */
static char *unescape(char *o, const char *from, size_t len, const char *q, size_t *out_len)
{
    const char *end = from + len;
    size_t ol = 0;
    for (;;) {
        const size_t k = (size_t)(q + 1 - from);
        memcpy(o + ol, from, k);
        ol += k;
        from = q + 2;
        if (!(q = memchr(from, '"', (size_t)(end - from))))
            break;
    }
    memcpy(o + ol, from, (size_t)(end - from));
    *out_len = ol + (size_t)(end - from);
    return o;
}

/* The offset of the first '"' in s[0..n) (n when none); *has_delim: whether
 * delim occurs before it (all of s when none). One pass for both, 16 bytes a
 * step with the last step overlapping (no library call, no byte loop). */
static inline size_t quote_or_delim(const char *s, size_t n, unsigned char delim, int *has_delim)
{
#if CSVREAD_SSE2
    if (n >= 16) {
        const __m128i vq = _mm_set1_epi8('"'), vd = _mm_set1_epi8((char)delim);
        unsigned dm = 0;
        for (size_t i = 0;; i += 16) {
            if (i + 16 > n)
                i = n - 16; /* the last step, over bytes already seen: they hold no quote */
            const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            const unsigned qm = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vq));
            const unsigned d = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vd));
            if (qm) {
                *has_delim = dm != 0 || (d & ((qm & (0u - qm)) - 1)) != 0;
                return i + (size_t)__builtin_ctz(qm);
            }
            dm |= d;
            if (i + 16 >= n)
                break;
        }
        *has_delim = dm != 0;
        return n;
    }
#endif
    int d = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') {
            *has_delim = d;
            return i;
        }
        d |= (unsigned char)s[i] == delim;
    }
    *has_delim = d;
    return n;
}

/* What block_rows keeps of a line's rare fields (put_rare), for fast_emit. */
typedef struct line_state {
    char *unesc; /* r->unesc: fields with "" unescaped */
    size_t unesc_len;
    unsigned char delim;
    size_t max_field_bytes, max_fields;
    size_t long_field; /* as fast_emit takes them */
    uint64_t needless, leads;
    int dirty; /* anything above changed since line_state_clear */
} line_state;

static inline void line_state_clear(line_state *ls)
{
    ls->unesc_len = 0;
    ls->long_field = SIZE_MAX;
    ls->needless = ls->leads = 0;
    ls->dirty = 0;
}

/* First bytes of a field that block_rows leaves to put_rare: a quote, or a
 * byte of formula_lead. */
static const unsigned char field_class[256] = {
    ['"'] = 1, ['='] = 2, ['+'] = 2, ['-'] = 2, ['@'] = 2, ['\t'] = 2, ['\r'] = 2};

/* The field s[fs..pos), field nf of its line, into out[nf]: a quoted field's
 * content between its quotes (the masks checked the quoting; with "" it is
 * unescaped into ls->unesc) and its formula lead. */
static __attribute__((noinline)) void put_rare(line_state *ls, crest_str *out, const unsigned char *s,
                                               size_t fs, size_t pos, size_t nf)
{
    const char *fp = (const char *)s + fs;
    size_t len = pos - fs;
    const uint64_t bit = UINT64_C(1) << (nf < 63 ? nf : 63);
    ls->dirty = 1;
    if (len && *fp == '"') {
        fp++;
        len -= 2;
        int has_delim;
        const size_t at = quote_or_delim(fp, len, ls->delim, &has_delim);
        if (at < len) {
            fp = unescape(ls->unesc + ls->unesc_len, fp, len, fp + at, &len);
            ls->unesc_len += len;
        } else if (!has_delim) {
            /* outbuf's csv_field would not quote it (CR and LF cannot be in it). */
            ls->needless |= bit;
        }
    }
    if (len && formula_lead[(unsigned char)*fp])
        ls->leads |= bit;
    out[nf].ptr = fp;
    out[nf].len = len;
}

/* A line longer than max_field_bytes may have a field over it: the first
 * such kept field is noted and every such kept field emptied, as on_field
 * does (the record keeps its shape). */
static __attribute__((noinline)) void mark_long_fields(line_state *ls, crest_str *out, size_t nf)
{
    const size_t kept = nf < ls->max_fields ? nf : ls->max_fields;
    for (size_t i = 0; i < kept; i++) {
        if (out[i].len > ls->max_field_bytes) {
            if (ls->long_field == SIZE_MAX)
                ls->long_field = i;
            out[i].len = 0;
            ls->dirty = 1;
        }
    }
}

/* Lines longer than max_piece (at most FAST_PIECE_MAX) are found at their end,
 * or at the end of a step while they go on: so a line block_rows reads has at
 * most this many bytes, fields or unescaped bytes. */
#define BLOCK_LINE_MAX (FAST_PIECE_MAX + 128)

/*
 * block_rows for one scan level (a constant in each instance). s[0..n)
 * starts a line outside any record. Returns the bytes taken: whole lines
 * (records given to the callback, blank lines counted), up to the first line
 * the fast path does not take whole.
 * Hot path: one pass, no allocation after warm-up, no copy of a field but
 * one with "".
 */
static inline __attribute__((always_inline)) size_t block_rows_body(csvread *r, const unsigned char *s,
                                                                    size_t n, const int level)
{
    if (crest_grow((void **)&r->unesc, &r->unesc_cap, BLOCK_LINE_MAX, 1) != 0 ||
        crest_grow((void **)&r->split, &r->split_cap, BLOCK_LINE_MAX, sizeof *r->split) != 0) {
        r->oom = 1;
        return 0;
    }
    const unsigned char delim = r->delimiter;
    const size_t max_field_bytes = r->max_field_bytes;
    /* A line with its line end longer than this is left to the other paths. */
    const size_t max_piece = r->max_record_bytes < FAST_PIECE_MAX ? r->max_record_bytes : FAST_PIECE_MAX;
    crest_str *const out = r->split;

    /* The line in progress: its start, the start of its field in progress,
     * its fields so far, and (ls) what the rare fields tell fast_emit. */
    size_t rs = 0, fs = 0;
    crest_str *of = out; /* the line's next field: out[nf], nf = of - out */
    size_t high_at = SIZE_MAX, high_end = 0, nul_at = SIZE_MAX;
    line_state ls = {(char *)r->unesc, 0, delim, r->max_field_bytes, r->max_fields, SIZE_MAX, 0, 0, 0};
    /* Carried from the step before: inside quotes (all ones or zero), and
     * whether its last byte was a boundary (1 at the start: a line start) or a
     * closing quote. */
    uint64_t in_quotes = 0, after_end = 1, after_close = 0;

/* The field s[fs..pos) ends (pos: its delimiter or line end). Most fields are
 * a plain view; a field that starts with a quote or a formula lead byte takes
 * put_rare. (An empty field's first byte is its boundary.) Field lengths are
 * checked per line (mark_long_fields). */
#define PUT_FIELD(pos_)                                                                                      \
    do {                                                                                                     \
        const size_t p_ = (pos_);                                                                            \
        if (UNLIKELY_BR(field_class[s[fs]])) {                                                               \
            put_rare(&ls, out, s, fs, p_, (size_t)(of - out));                                               \
        } else {                                                                                             \
            of->ptr = (const char *)s + fs;                                                                  \
            of->len = p_ - fs;                                                                               \
        }                                                                                                    \
        of++;                                                                                                \
        fs = p_ + 1;                                                                                         \
    } while (0)

    for (size_t base = 0; base < n; base += 64) {
        block_masks m;
        uint64_t valid = ~UINT64_C(0);
        if (n - base >= 64) {
            scan_block(s + base, delim, &m, level);
        } else {
            /* The tail: copied, so that nothing past the caller's buffer is read. */
            unsigned char tail[64] = {0};
            memcpy(tail, s + base, n - base);
            scan_block(tail, delim, &m, level);
            valid = (UINT64_C(1) << (n - base)) - 1;
        }
        const uint64_t quote = m.quote & valid, eol = m.eol & valid;
        /* Inside quotes: an opening quote and the bytes after it, up to and
         * without the closing quote. */
        const uint64_t inside = prefix_xor_at(quote, level) ^ in_quotes;
        in_quotes = 0 - (inside >> 63);
        const uint64_t ends = (m.delim | eol) & valid & ~inside;
        const uint64_t open = quote & inside, close = quote & ~inside;
        const uint64_t prev_end = ends << 1 | after_end, prev_close = close << 1 | after_close;
        after_end = ends >> 63;
        after_close = close >> 63;
        /* Strict RFC 4180 on one line: a quote opens a field, or is the second
         * of ""; after a closing quote comes a boundary or the second quote of
         * ""; no line end inside quotes. */
        const uint64_t faults =
            (open & ~(prev_end | prev_close)) | (prev_close & valid & ~(ends | open)) | (eol & inside);
        /* The boundaries before the first fault: field ends, and line ends. */
        const uint64_t before = faults ? (faults & (0 - faults)) - 1 : ~UINT64_C(0);
        uint64_t delims = ends & ~eol & before, lines = ends & eol & before;
        const uint64_t odd = (m.high | m.nul) & valid;
        for (;;) {
            /* The fields that end at a delimiter before the next line end. */
            const uint64_t upto = lines ? lines ^ (lines - 1) : ~UINT64_C(0);
            for (uint64_t d = delims & upto; d; d &= d - 1)
                PUT_FIELD(base + lowest_bit(d));
            delims &= ~upto;
            if (!lines)
                break;
            const unsigned bit = lowest_bit(lines);
            lines &= lines - 1;
            const size_t pos = base + bit;
            if (pos == rs) {
                /* A blank line, or the LF of a CRLF: no record. */
                r->record_line = r->line;
                count_line_end(r, s[pos], 1);
                rs = fs = pos + 1;
                continue;
            }
            PUT_FIELD(pos);
            /* The line s[rs..pos] ends. */
            const size_t piece = pos + 1 - rs;
            if (piece > max_piece)
                return rs; /* a long line: fast_line, fast_split or process_piece */
            if (UNLIKELY_BR(piece - 1 > max_field_bytes))
                mark_long_fields(&ls, out, (size_t)(of - out));
            if (odd) {
                const uint64_t mine = bit_range(rs > base ? (unsigned)(rs - base) : 0, bit);
                if (m.high & mine) {
                    if (high_at == SIZE_MAX)
                        high_at = base + lowest_bit(m.high & mine) - rs;
                    high_end = base + 64 - (size_t)__builtin_clzll(m.high & mine) - rs;
                }
                if (nul_at == SIZE_MAX && (m.nul & mine))
                    nul_at = base + lowest_bit(m.nul & mine) - rs;
            }
            r->record_line = r->line;
            fast_emit(r, s + rs, piece, (size_t)(of - out), ls.long_field, ls.needless, ls.leads, high_at,
                      high_end, nul_at);
            count_line_end(r, s[pos], piece);
            rs = fs = pos + 1;
            of = out;
            high_at = nul_at = SIZE_MAX;
            if (ls.dirty)
                line_state_clear(&ls);
        }
        if (faults)
            return rs; /* the line in progress is not for the fast path */
        if (base + 64 - rs > max_piece)
            return rs; /* nor is a line this long */
        if (odd && rs < base + 64) {
            /* The line goes on into the next step: its bytes here. */
            const uint64_t mine = bit_range(rs > base ? (unsigned)(rs - base) : 0, 64);
            if (m.high & mine) {
                if (high_at == SIZE_MAX)
                    high_at = base + lowest_bit(m.high & mine) - rs;
                high_end = base + 64 - (size_t)__builtin_clzll(m.high & mine) - rs;
            }
            if (nul_at == SIZE_MAX && (m.nul & mine))
                nul_at = base + lowest_bit(m.nul & mine) - rs;
        }
    }
#undef PUT_FIELD
    return rs;
}

/* block_rows_body once per scan level, like fast_line. */
static size_t block_rows_swar(csvread *r, const unsigned char *s, size_t n)
{
    return block_rows_body(r, s, n, CSVREAD_SIMD_SWAR);
}

#if CSVREAD_SSE2
static size_t block_rows_sse2(csvread *r, const unsigned char *s, size_t n)
{
    return block_rows_body(r, s, n, CSVREAD_SIMD_SSE2);
}
#endif

#if CSVREAD_X86_DISPATCH
__attribute__((target("avx2,bmi,pclmul"))) static size_t block_rows_avx2(csvread *r, const unsigned char *s,
                                                                         size_t n)
{
    return block_rows_body(r, s, n, CSVREAD_SIMD_AVX2);
}
#endif

static size_t block_rows(csvread *r, const unsigned char *s, size_t n)
{
    switch (r->simd) {
#if CSVREAD_X86_DISPATCH
    case CSVREAD_SIMD_AVX2:
        return block_rows_avx2(r, s, n);
#endif
#if CSVREAD_SSE2
    case CSVREAD_SIMD_SSE2:
        return block_rows_sse2(r, s, n);
#endif
    default:
        return block_rows_swar(r, s, n);
    }
}

/* Appends byte c to the field in progress; -1 when out of memory. */
static inline int sm_put(csvread *r, unsigned char c)
{
    if (r->elen == r->ecap && crest_grow((void **)&r->ebuf, &r->ecap, r->elen + 1, 1) != 0)
        return -1;
    r->ebuf[r->elen++] = c;
    return 0;
}

/* Ends the field in progress (keep: its first keep bytes). */
static inline void sm_field(csvread *r, size_t keep)
{
    on_field(r->ebuf, keep, r);
    r->ps = SP_FIELD_NOT_BEGUN;
    r->elen = 0;
    r->quoted = 0;
}

static inline void sm_row(csvread *r)
{
    on_row(r);
    r->ps = SP_ROW_NOT_BEGUN;
    r->elen = 0;
    r->quoted = 0;
}

/*
 * The slow path: strict RFC 4180, one byte at a time, its state kept across
 * calls. A quote opens a quoted field only as its first byte; inside one, ""
 * is a quote and a quote followed by a delimiter or a line end closes it.
 * A quote inside an unquoted field or anything else after a closing quote is
 * a fault: returns the offset of that byte with *bad set. Blank lines are no
 * records. Returns n when all bytes were taken; less with *bad clear when
 * out of memory.
 */
static size_t slow_parse(csvread *r, const unsigned char *s, size_t n, int *bad)
{
    const unsigned char delim = r->delimiter;
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = s[i];
        const int term = c == '\r' || c == '\n';
        switch (r->ps) {
        case SP_ROW_NOT_BEGUN:
        case SP_FIELD_NOT_BEGUN:
            if (term) {
                if (r->ps == SP_FIELD_NOT_BEGUN) {
                    sm_field(r, r->elen);
                    sm_row(r);
                }
            } else if (c == delim) {
                sm_field(r, r->elen);
            } else if (c == '"') {
                r->ps = SP_FIELD_BEGUN;
                r->quoted = 1;
            } else {
                r->ps = SP_FIELD_BEGUN;
                r->quoted = 0;
                if (sm_put(r, c) != 0)
                    return i;
            }
            break;
        case SP_FIELD_BEGUN:
            if (c == '"') {
                if (!r->quoted) {
                    *bad = 1;
                    return i;
                }
                if (sm_put(r, c) != 0)
                    return i;
                r->ps = SP_QUOTE_SEEN;
            } else if (!r->quoted && c == delim) {
                sm_field(r, r->elen);
            } else if (!r->quoted && term) {
                sm_field(r, r->elen);
                sm_row(r);
            } else if (sm_put(r, c) != 0) {
                return i;
            }
            break;
        default: /* SP_QUOTE_SEEN: the quote is the last byte of ebuf */
            if (c == delim) {
                sm_field(r, r->elen - 1);
            } else if (term) {
                sm_field(r, r->elen - 1);
                sm_row(r);
            } else if (c == '"') {
                r->ps = SP_FIELD_BEGUN; /* "": the quote kept is the field's */
            } else {
                *bad = 1;
                return i;
            }
            break;
        }
    }
    return n;
}

/* The end of the input: ends the record in progress; -1 inside an open quoted field. */
static int slow_finish(csvread *r)
{
    if (r->ps == SP_FIELD_BEGUN && r->quoted)
        return -1;
    if (r->ps == SP_QUOTE_SEEN) {
        sm_field(r, r->elen - 1);
        sm_row(r);
    } else if (r->ps != SP_ROW_NOT_BEGUN) {
        sm_field(r, r->elen);
        sm_row(r);
    }
    parser_reset(r);
    return 0;
}

/*
 * One piece: bytes up to and including the first CR or LF (or the chunk end).
 * may_split: a line the single-pass fast path could not scan whole (longer
 * than FAST_PIECE_MAX), which fast_split may still take. Out of line, so
 * that feed_bytes' loop around the fast path stays small.
 */
static __attribute__((noinline)) void process_piece(csvread *r, const unsigned char *s, size_t n,
                                                    int has_term, int may_split)
{
    const unsigned char term = has_term ? s[n - 1] : 0;
    if (!r->in_record && !r->skipping)
        r->record_line = r->line;

    if (r->skipping) {
        raw_append(r, s, n);
        if (r->skip_tracks_quotes)
            r->skip_in_quotes ^= count_quotes(s, n) & 1;
    } else if (r->raw_len + n > r->max_record_bytes) {
        const size_t room = r->max_record_bytes - r->raw_len;
        if (room) {
            /* Read the bytes that fit first, as if the input were cut there: a
             * fault in them comes first, and the limit is crossed at the next
             * byte — the same wherever the caller's chunks end. */
            process_piece(r, s, room, 0, 0);
            process_piece(r, s + room, n - room, has_term, 0);
            return;
        }
        /* Too long, crossed at s[0]: discard to the end of the record. A quote
         * toggles the quoted state ("" toggles twice), so the record ends at the
         * first line end outside quotes, wherever libcsv was in its field. */
        const int in_quotes = r->ps == SP_FIELD_BEGUN && r->quoted;
        const size_t field = r->elen + (in_quotes || s[0] != r->delimiter);
        raw_append(r, s, n);
        r->skipping = 1;
        r->skip_tracks_quotes = 1;
        r->skip_in_quotes = in_quotes ^ (count_quotes(s, n) & 1);
        /* The first limit crossed names the fault: a field over max_field_bytes
         * (this one, up to the crossing byte, or an earlier one). */
        r->skip_error = field > r->max_field_bytes || r->long_field != SIZE_MAX ? CSVREAD_ERR_FIELD_TOO_LONG
                                                                                : CSVREAD_ERR_RECORD_TOO_LONG;
        r->skip_line = r->record_line;
        r->skip_column = 1;
    } else if (r->fast && may_split && has_term && !r->in_record && r->ps == SP_ROW_NOT_BEGUN &&
               fast_split(r, s, n - 1)) {
        /* A long line, identical to libcsv for this case (a whole line,
         * outside any record, in valid strict RFC 4180); anything else —
         * broken quoting, a record that goes on past the line — is left to
         * libcsv. */
        raw_append(r, s, n);
        r->in_record = 1;
        for (size_t i = 0; i < r->n_split; i++)
            on_field((void *)r->split[i].ptr, r->split[i].len, r);
        on_row(r);
    } else {
        raw_append(r, s, n);
        r->in_record = 1;
        int bad = 0;
        size_t used = slow_parse(r, s, n, &bad);
        if (used < n) {
            if (bad) {
                r->skipping = 1;
                r->skip_tracks_quotes = 0; /* broken quoting: resynchronise at the line end */
                r->skip_in_quotes = 0;
                r->skip_error = CSVREAD_ERR_QUOTE;
                r->skip_line = r->line;
                r->skip_column = r->col_base + (unsigned long)used + 1;
            } else {
                r->oom = 1;
            }
        } else if (r->in_record && r->ps == SP_ROW_NOT_BEGUN) {
            /* Only line ends were consumed (blank line, LF of CRLF): no record. */
            record_clear(r);
        }
    }
    count_line_end(r, term, n);
    r->col_base = has_term ? 0 : r->col_base + (unsigned long)n;
    if (r->skipping && has_term && !r->skip_in_quotes)
        emit_error(r);
}

/* Length of the piece starting at s, searching for its end from offset from
 * (s[0..from) has no CR or LF): up to and including the next CR or LF, or n. */
static size_t find_piece(const unsigned char *s, size_t from, size_t n, int *has_term)
{
    /* The next CR or LF: memchr for LF, then for a CR before it. */
    const unsigned char *lf = memchr(s + from, '\n', n - from);
    const size_t lim = lf ? (size_t)(lf - s) : n;
    const unsigned char *cr = memchr(s + from, '\r', lim - from);
    const size_t end = cr ? (size_t)(cr - s) : lim;
    *has_term = end < n;
    return *has_term ? end + 1 : end;
}

static void feed_bytes(csvread *r, const unsigned char *s, size_t n)
{
    size_t pos = 0;
    while (pos < n && !r->oom) {
        size_t piece;
        int has_term, may_split = 0;
        /* A delimiter that is a quote or a line end is left to libcsv. */
        if (r->fast && !r->skipping && !r->in_record && r->raw_len == 0 && r->ps == SP_ROW_NOT_BEGUN &&
            r->delimiter != '"' && r->delimiter != '\r' && r->delimiter != '\n') {
            /* Every line the block scanner takes, then one more piece here. */
            const size_t took = block_rows(r, s + pos, n - pos);
            if (took) {
                r->col_base = 0;
                pos += took;
                continue;
            }
            if (r->oom)
                break;
            if (fast_line(r, s + pos, n - pos, &piece, &has_term)) {
                count_line_end(r, s[pos + piece - 1], piece);
                r->col_base = 0;
                pos += piece;
                continue;
            }
            if (r->oom)
                break;
            if (!piece) {
                piece = find_piece(s + pos, FAST_PIECE_MAX, n - pos, &has_term);
                may_split = 1;
            }
        } else {
            piece = find_piece(s + pos, 0, n - pos, &has_term);
        }
        process_piece(r, s + pos, piece, has_term, may_split);
        pos += piece;
    }
}

static int status(const csvread *r)
{
    if (r->oom)
        return -1;
    return r->stop;
}

int csvread_feed(csvread *r, const void *buf, size_t len)
{
    const unsigned char *s = buf;
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    while (!r->bom_done && len) {
        r->bom[r->bom_n++] = *s++;
        len--;
        if (r->bom[r->bom_n - 1] != bom[r->bom_n - 1]) {
            r->bom_done = 1;
            feed_bytes(r, r->bom, r->bom_n);
        } else if (r->bom_n == 3) {
            r->bom_done = 1; /* a BOM: dropped */
        }
    }
    if (len && !r->stop)
        feed_bytes(r, s, len);
    return status(r);
}

int csvread_finish(csvread *r)
{
    if (!r->bom_done) {
        r->bom_done = 1;
        feed_bytes(r, r->bom, r->bom_n);
    }
    if (r->skipping) {
        emit_error(r);
    } else if (!r->oom) {
        if (!r->in_record)
            r->record_line = r->line;
        if (slow_finish(r) != 0) {
            r->skipping = 1;
            r->skip_error = CSVREAD_ERR_UNTERMINATED;
            r->skip_line = r->line;
            r->skip_column = r->col_base + 1;
            emit_error(r);
        }
    }
    return status(r);
}

void csvread_set_fast(csvread *r, int on)
{
    r->fast = on;
}

int csvread_set_simd(csvread *r, int level)
{
    const int best = simd_best();
    if (level > best)
        level = best;
    if (level < CSVREAD_SIMD_SWAR)
        level = CSVREAD_SIMD_SWAR;
    if (level == CSVREAD_SIMD_SSE2 && !CSVREAD_SSE2)
        level = CSVREAD_SIMD_SWAR;
    r->simd = level;
    return level;
}

void csvread_restart(csvread *r, unsigned long line)
{
    parser_reset(r);
    record_clear(r);
    r->skipping = r->skip_tracks_quotes = r->skip_in_quotes = 0;
    r->line = r->record_line = line;
    r->col_base = 0;
    r->prev_cr = 0;
    r->bom_done = 1;
    r->bom_n = 0;
    r->stop = 0;
}

int csvread_at_boundary(const csvread *r)
{
    return !r->oom && r->bom_done && !r->skipping && !r->in_record && r->raw_len == 0 && r->col_base == 0 &&
           !r->prev_cr && r->ps == SP_ROW_NOT_BEGUN;
}

unsigned long csvread_line(const csvread *r)
{
    return r->line;
}

int csvread_pending(const csvread *r, unsigned long *line)
{
    *line = r->record_line;
    return r->in_record || r->raw_len != 0 || r->skipping || r->ps != SP_ROW_NOT_BEGUN;
}
