/*
 * decider.h — one declaration message in, its decision (or rejection) out,
 * through libcrest's public engine API: the bytes of a decision are exactly
 * those `crest run` writes for the same row under the same header.
 *
 * A message is one CSV record (its header given by the caller: a message
 * header or the service's configured one) or one JSON object (its keys are
 * the header, its values the record). An engine is kept per distinct header
 * (a few, least recently used first out), fed the header once and then one
 * record at a time, flushed after each (crest_engine_flush).
 *
 * What the decider does not do: transport, acknowledgements, capacity across
 * instances (capacity.c), metrics. Not thread-safe: one caller at a time.
 */
#ifndef CREST_SERVE_DECIDER_H
#define CREST_SERVE_DECIDER_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest.h"

typedef struct crest_decider crest_decider;

/* Service-level reject reasons beyond the engine's (crest_reject_reason). */
#define CREST_SERVE_REJECT_EMPTY "EMPTY"               /* the message holds no record */
#define CREST_SERVE_REJECT_MULTIPLE "MULTIPLE_RECORDS" /* more than one record in one message */
#define CREST_SERVE_REJECT_BAD_JSON "BAD_JSON"         /* not a JSON object of scalars */
#define CREST_SERVE_REJECT_NO_HEADER "NO_HEADER"       /* CSV without a header to read it by */
#define CREST_SERVE_REJECT_HEADER "BAD_HEADER"         /* the header lacks decl_id or is malformed */
#define CREST_SERVE_REJECT_POISON "REDELIVERED"        /* delivered too often (serve.c) */

/* Live capacity: asked for each RED selection (see crest_decider_create). */
typedef struct crest_decider_capacity {
    /* Returns 1 when the RED selection fits under the cap of (office, day) and
     * has been counted, 0 when the cap is reached, -1 when the count could not
     * be read or written (the message is then not decided: retried later). */
    int (*take)(void *ctx, const char *office, size_t office_len, int32_t day);
    void *ctx;
} crest_decider_capacity;

/* The outcome of one message. Views are valid until the next call. */
typedef struct crest_outcome {
    int decided;       /* 1: a decision, 0: a rejection */
    const char *bytes; /* the decision row (with its line end) or the rejection line */
    size_t len;
    char decl_id[256];  /* the declaration id ("" when it has none), NUL-terminated */
    const char *reason; /* rejection: a stable code (engine's or CREST_SERVE_REJECT_*) */
    size_t tier;        /* decision: effective tier index */
    int inspected;      /* decision: selected for inspection */
    int lane;           /* decision: lane rank, 0 GREEN .. 4 RED (after capacity) */
    int capacity_error; /* capacity could not be checked: retry the message later */
} crest_outcome;

/*
 * Create a decider for a policy (and registry, may be NULL), both borrowed:
 * they must outlive it. csv_header (may be NULL) is the header of CSV
 * messages that carry none. format: of the decisions. capacity: NULL, or how
 * the [capacity] cap is checked across instances; with a cap and no capacity
 * callback the policy is refused (the engine would hold a whole day).
 * Returns CREST_OK or CREST_ERR_INVALID (policy not usable live, diag says
 * why) / CREST_ERR_NOMEM.
 */
crest_status crest_decider_create(const crest_policy *policy, const crest_registry *registry,
                                  const char *csv_header, crest_format format,
                                  const crest_decider_capacity *capacity, crest_decider **out,
                                  crest_diag *diag);

/*
 * Decide one message. header: the CSV header for this message (NULL: the
 * configured one); body: one CSV record or one JSON object (first non-space
 * byte '{'). Fills *out. Returns CREST_OK (a rejection is an outcome) or
 * CREST_ERR_NOMEM / CREST_ERR_IO on an internal failure.
 */
crest_status crest_decider_decide(crest_decider *d, const char *header, size_t header_len, const char *body,
                                  size_t body_len, crest_outcome *out);

/* The header line of the decisions for a message header (for consumers of the
 * output stream), without its line end; "" before the first decision. */
const char *crest_decider_output_header(const crest_decider *d);

/* Free; NULL is a no-op. */
void crest_decider_free(crest_decider *d);

#endif
