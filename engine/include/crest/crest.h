/*
 * crest.h — umbrella header of libcrest, the risk-based customs inspection
 * selection engine. Include this to get the whole public API.
 */
#ifndef CREST_H
#define CREST_H

#include "crest/crest_base.h"
#include "crest/crest_calibrate.h"
#include "crest/crest_date.h"
#include "crest/crest_engine.h"
#include "crest/crest_keyhash.h"
#include "crest/crest_multi.h"
#include "crest/crest_policy.h"
#include "crest/crest_registry.h"
#include "crest/crest_fx.h"
#include "crest/crest_stats.h"
#include "crest/crest_summary.h"

#include "crest/crest_version.h"
#include "crest/crest_workload.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version, CREST_VERSION_STRING of the build (e.g. "0.1.0"). */
CREST_API const char *crest_version(void);
/*
 * The git commit the library was built from (`git describe --always --dirty`,
 * e.g. "a0b6959a05bd" or "a0b6959a05bd-dirty"), "unknown" outside a checkout.
 */
CREST_API const char *crest_version_commit(void);

/*
 * Optional one-time set-up, safe to call from any thread and more than once:
 * turns GSL's aborting error handler off process-wide (crest_models_init in
 * crest_risk.h says why and what that means for a host that uses GSL too).
 * crest functions that call GSL do it themselves; calling crest_init first
 * just makes the moment explicit.
 */
CREST_API void crest_init(void);

#ifdef __cplusplus
}
#endif
#endif
