/*
 * crest_multi.h — several policies over one input stream, read once.
 *
 * A multi-policy run holds one engine per policy (crest_engine.h) and one CSV
 * reader: the header and each record are read once and decided by every
 * policy in turn. With threads >= 2 blocks of the input are read and decided
 * in parallel (each block by one thread, for all the policies), and each
 * policy's results (rendered decisions, or the records of its
 * crest_decl_record_hook or crest_decl_record_fixed_hook) reach its sinks in input order from the feeding
 * thread. Each policy's outputs and counts are byte-identical to those of
 * its own engine over the same input, whatever the thread count and the
 * chunking of the input (tests/engine/test_multi.c).
 *
 * Policies that map the header alike (the same fields from the same columns,
 * no currency conversion) share more than the reading: a record is validated
 * and its fields are mapped once, by the first of them, and the others decide
 * from that declaration (crest_multi_shares says which engine's each uses).
 *
 * Only policies whose decisions depend on nothing but the declaration can
 * share a reading (crest_multi_can_share): the ones that keep state across
 * rows ([control] adaptive or systematic, floor_period, [capacity],
 * duplicate_ids = reject, unknown_tier = error) need the rows in order and
 * an engine of their own.
 */
#ifndef CREST_MULTI_H
#define CREST_MULTI_H

#include <stddef.h>

#include "crest/crest_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct crest_multi crest_multi;

/*
 * 1 when policies[0..n) can share one reading of the input: each decides its
 * rows alone (crest_policy_decides_rows_alone) with no capacity cap and no
 * stop at the first unknown tier, and all read CSV alike (delimiter,
 * max_field_bytes, max_record_bytes). 0 otherwise (and for n = 0).
 */
CREST_API int crest_multi_can_share(const crest_policy *const *policies, size_t n);

/*
 * Create a run of n policies (crest_multi_can_share must hold) with their
 * registries (entries may be NULL; registries itself may be NULL for none)
 * and options: options[k] as for crest_engine_create, except that decl_hook,
 * windows, capacity_take and threads must be left unset (decl_record or
 * decl_record_fixed takes decl_hook's place; header_hook is called, once per policy, from the feeding
 * thread). threads: 1 reads and decides in the caller's thread, 2 to 8 in that
 * many threads. Policies, registries and the options' strings and contexts
 * must outlive the run. Returns CREST_OK, or CREST_ERR_INVALID or
 * CREST_ERR_NOMEM with diag.
 */
CREST_API crest_status crest_multi_create(size_t n, const crest_policy *const *policies,
                                          const crest_registry *const *registries,
                                          const crest_run_options *options, unsigned threads,
                                          crest_multi **out, crest_diag *diag);

/* Push input bytes (copied). CREST_OK, or the first fatal status of any
 * policy's engine (crest_multi_failed says which), as crest_engine_feed. */
CREST_API crest_status crest_multi_feed(crest_multi *m, const void *buf, size_t len);
/* The same for bytes that stay valid and unchanged until crest_multi_finish
 * (or _finish_early) returns, such as a mapped file fed in contiguous
 * pieces: blocks are views into them, as crest_engine_feed_stable. */
CREST_API crest_status crest_multi_feed_stable(crest_multi *m, const void *buf, size_t len);
/* The lowest address of those bytes the run still reads or will read, or
 * NULL when it holds none (as crest_engine_stable_floor). */
CREST_API const void *crest_multi_stable_floor(const crest_multi *m);

/* End of input: decide what is left, then finish every engine
 * (crest_engine_finish). Returns like crest_multi_feed. */
CREST_API crest_status crest_multi_finish(crest_multi *m);
/* End of an input cut short, as crest_engine_finish_early: a record the bytes
 * fed end inside is neither decided nor rejected (each engine's notes say so). */
CREST_API crest_status crest_multi_finish_early(crest_multi *m);

/* The number of policies, and policy k's engine, for its counts, diagnostic,
 * notes (crest_engine_stats and the like; never feed it). */
CREST_API size_t crest_multi_count(const crest_multi *m);
CREST_API const crest_engine *crest_multi_engine(const crest_multi *m, size_t k);
/* The policy whose declarations policy k decides from (k itself when it maps
 * each record on its own), once the header has been read; k before that. */
CREST_API size_t crest_multi_shares(const crest_multi *m, size_t k);
/* The policy whose engine failed first (its crest_engine_diag says why), or
 * crest_multi_count when none has; a failure of the run itself (out of
 * memory reading) is reported on policy 0. */
CREST_API size_t crest_multi_failed(const crest_multi *m);

/* Stop the threads and free the engines; NULL is a no-op. */
CREST_API void crest_multi_free(crest_multi *m);

#ifdef __cplusplus
}
#endif
#endif
