/*
 * crest_replay_multi.h — a replay of several policies over one reading of the
 * input (`crest replay`, and crest.replay in Python).
 *
 * The policies' accumulators (crest_replay.h) are fed by one shared reading
 * (crest_multi.h): each block of the input is read once and decided by every
 * policy, the blocks on `threads` threads. On the deciding threads a
 * recording hook keeps what an accumulator needs of each declaration (the
 * decision, its date, its label and revenue, and when asked for the row of
 * the per-decision export); those records reach the feeding thread in input
 * order, where they are added to each policy's accumulator
 * (crest_replay_add) and its export rows handed to the caller. Each
 * accumulator ends up exactly as if its policy's own engine had fed it
 * through crest_replay_attach: the same rows in the same order, whatever the
 * thread count and the chunking of the input (tests/eval/test_replay_multi.c).
 *
 * Only policies that can share a reading do (crest_multi_can_share: no
 * [control] windows, floor_period, [capacity], duplicate_ids = reject or
 * unknown_tier = error; the same CSV dialect); the caller gives the others
 * an engine of their own with crest_replay_attach. The accumulators are not
 * finished here (crest_replay_finish, which the caller may run on threads of
 * its own). It does not read files: the caller feeds bytes.
 */
#ifndef CREST_REPLAY_MULTI_H
#define CREST_REPLAY_MULTI_H

#include <stddef.h>

#include "crest/crest_engine.h"
#include "crest/crest_registry.h"
#include "crest/crest_replay.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct crest_replay_multi crest_replay_multi;

/*
 * Receives one row of the per-decision export of policy k
 * (crest_replay_decision_row: len bytes ending in a newline, not
 * NUL-terminated), on the feeding thread, each policy's rows in input order
 * (the policies' rows interleave in blocks). Returns CREST_OK, or a status
 * after filling diag (which the run then reports for policy k:
 * crest_replay_multi_diag); the reading stops.
 */
typedef crest_status (*crest_replay_rows_fn)(void *ctx, size_t k, const char *row, size_t len,
                                             crest_diag *diag);

/* The per-decision export of a shared replay (all NULL: none). */
typedef struct crest_replay_multi_rows {
    crest_replay_rows_fn write;
    void *ctx;
    const char *const *names; /* per policy: its display name, the rows' first cell */
} crest_replay_multi_rows;

/*
 * Create a shared replay of n policies, the policy of reps[k] being
 * crest_replay_policy(reps[k]) (crest_multi_can_share must hold for them; their
 * accumulators created without options.capacity). registries: per policy (entries
 * may be NULL; registries itself may be NULL for none). options: per policy
 * (NULL: crest_run_options_default for all), as for crest_engine_create, of
 * which the run sets decide, header_hook, decl_record (or decl_record_fixed and
 * decl_record_size), hook_ctx and output itself (and output_buffer_bytes when 0); decl_hook, capacity_hook,
 * windows, capacity_take and threads must be left unset (input_name, score_column, rejects, block_bytes are
 * the usual ones). threads: 1 reads and decides on the feeding thread, 2 to 8 on that many threads. rows: the
 * per-decision export, or NULL. Accumulators, registries, names and the options' strings and contexts must
 * outlive the run. Returns CREST_OK, or CREST_ERR_INVALID or CREST_ERR_NOMEM with diag.
 */
crest_status crest_replay_multi_create(size_t n, crest_replay *const *reps,
                                       const crest_registry *const *registries,
                                       const crest_run_options *options, unsigned threads,
                                       const crest_replay_multi_rows *rows, crest_replay_multi **out,
                                       crest_diag *diag);

/* Push input bytes (copied): as crest_multi_feed. CREST_OK, or the first fatal
 * status (crest_replay_multi_failed says which policy). */
crest_status crest_replay_multi_feed(crest_replay_multi *m, const void *buf, size_t len);
/* The same for bytes that stay valid and unchanged until the run is finished,
 * such as a mapped file fed in contiguous pieces (crest_multi_feed_stable). */
crest_status crest_replay_multi_feed_stable(crest_replay_multi *m, const void *buf, size_t len);
/* The lowest address of those bytes the run still reads, or NULL (crest_multi_stable_floor). */
const void *crest_replay_multi_stable_floor(const crest_replay_multi *m);

/* End of input: decide what is left and add it to the accumulators (which stay
 * unfinished). Returns like crest_replay_multi_feed. */
crest_status crest_replay_multi_finish(crest_replay_multi *m);
/* End of an input cut short (crest_multi_finish_early): the record the bytes fed
 * end inside is neither decided nor added; every record before it is. */
crest_status crest_replay_multi_finish_early(crest_replay_multi *m);

/* The number of policies, and policy k's engine for its counts, notes and
 * diagnostic (crest_engine_stats, crest_engine_diag; never feed it). */
size_t crest_replay_multi_count(const crest_replay_multi *m);
const crest_engine *crest_replay_multi_engine(const crest_replay_multi *m, size_t k);
/* The policy whose reading failed first, or crest_replay_multi_count when none has. */
size_t crest_replay_multi_failed(const crest_replay_multi *m);
/*
 * Why policy k's accumulator stopped the reading (its label columns are not
 * in the header, out of memory or the ranking's temporary file in
 * crest_replay_add, the rows callback), or NULL when it did not: the engine
 * stopped on its own, and crest_engine_diag of crest_replay_multi_engine says why.
 * Owned by m.
 */
const crest_diag *crest_replay_multi_diag(const crest_replay_multi *m, size_t k);

/* Stop the threads and free the run (not the accumulators); NULL is a no-op. */
void crest_replay_multi_free(crest_replay_multi *m);

#ifdef __cplusplus
}
#endif
#endif
