/*
 * crest_registry.h — the enterprise credit registry: which tier an
 * enterprise held on which dates. A CSV with header
 *   enterprise_id, tier, valid_from, valid_to
 * (header names matched case-insensitively; extra columns ignored; an empty
 * valid_to is open-ended; both ends inclusive). Tier labels are resolved
 * through the policy's names and aliases at load, so a registry that names a
 * tier the policy does not know is refused. An enterprise may have several
 * rows (upgrades, downgrades) but their periods may not overlap.
 *
 * Loaded once, immutable, shareable between threads. Lookups allocate nothing.
 */
#ifndef CREST_REGISTRY_H
#define CREST_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_base.h"
#include "crest/crest_policy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct crest_registry crest_registry;

/*
 * Load a registry CSV; tiers resolved with policy. Errors (unreadable file,
 * missing column, unknown tier, bad or inverted date, overlapping periods)
 * fill diag with file, line and column and return a status; *out stays NULL.
 */
CREST_API crest_status crest_registry_load(const char *path, const crest_policy *policy, crest_registry **out,
                                           crest_diag *diag);

/* Same from memory; name labels diagnostics. */
CREST_API crest_status crest_registry_parse(const char *text, size_t len, const char *name,
                                            const crest_policy *policy, crest_registry **out,
                                            crest_diag *diag);

/* Free; NULL is a no-op. */
CREST_API void crest_registry_free(crest_registry *registry);

/* Number of enterprises and of periods (rows) loaded. */
CREST_API size_t crest_registry_enterprises(const crest_registry *registry);
CREST_API size_t crest_registry_periods(const crest_registry *registry);

/*
 * Tier index of an enterprise on a date (days since 1970-01-01).
 * Returns the tier index, -1 when the enterprise is not in the registry, or
 * -2 when it is but no period covers that date. Hot path: no allocation.
 */
CREST_API int crest_registry_lookup(const crest_registry *registry, const char *id, size_t id_len,
                                    int32_t date_days);

#ifdef __cplusplus
}
#endif
#endif
