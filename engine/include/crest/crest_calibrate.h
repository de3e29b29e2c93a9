/*
 * crest_calibrate.h — solve each tier's scale so that its expected inspection
 * rate on a history equals its target, and write the calibrated ("frozen")
 * policy. For a tier with rows i:
 *     E[rate](s) = mean_i 1 − (1 − f_i)(1 − min(1, r_i + s · q_i))
 * where f_i is the probability that criteria force a lane, r_i the random
 * part of p and q_i its risk part per unit of scale (crest_decision). E is
 * non-decreasing in s; the root of E(s) = target is found with GSL's Brent
 * solver. When E(0) already exceeds the target (forced and random selections
 * alone), the target is infeasible: the scale is 0 and the excess reported.
 * A floor tier (floor = yes, e.g. dishonest "80% or more") keeps every row's p
 * at or above the floor and is calibrated to the floor plus 3.1 binomial
 * standard deviations at the history's volume, so that the realised rate of a
 * period that large stays at or above the floor with probability 0.999.
 */
#ifndef CREST_CALIBRATE_H
#define CREST_CALIBRATE_H

#include "crest/crest_export.h"

#include <stddef.h>
#include <stdint.h>

#include "crest/crest_engine.h"
#include "crest/crest_policy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum crest_calibration_status {
    CREST_CALIBRATION_OK = 0,
    CREST_CALIBRATION_INFEASIBLE,  /* forced + random selections alone exceed the target */
    CREST_CALIBRATION_UNREACHABLE, /* even a huge scale stays below the target (too little risk mass) */
    CREST_CALIBRATION_NO_ROWS,     /* the history has no row of this tier */
    CREST_CALIBRATION_FIXED        /* no risk part to scale: p is the tier rate itself */
} crest_calibration_status;

typedef struct crest_calibration_tier {
    crest_calibration_status status;
    uint64_t rows;
    double target;      /* the tier's target rate (a floor tier: floor + safety margin) */
    double scale;       /* the solved scale (0 when infeasible) */
    double expected;    /* E[rate] at that scale */
    double forced_rate; /* mean f_i: what criteria force whatever the draw */
    double base_rate;   /* E[rate] at scale 0 (forced + random part) */
} crest_calibration_tier;

typedef struct crest_calibrator crest_calibrator;

CREST_API crest_status crest_calibrator_create(const crest_policy *policy, crest_calibrator **out);
/* Add one decided declaration (from a decl_hook). */
CREST_API crest_status crest_calibrator_add(crest_calibrator *c, const crest_decision *decision);
/* Solve every tier; out has crest_policy_tier_count() entries. */
CREST_API crest_status crest_calibrator_solve(crest_calibrator *c, crest_calibration_tier *out,
                                              crest_diag *diag);
CREST_API void crest_calibrator_free(crest_calibrator *c);

/* Human-readable word for a status ("ok", "INFEASIBLE", ...). */
CREST_API const char *crest_calibration_status_name(crest_calibration_status status);

/*
 * Write the policy's text with each tier's `scale` set and a [calibration]
 * section (history name and fingerprint, rows, achieved expected rates).
 * Relative paths in [rules] and [model] are rewritten to stay valid from the
 * output's directory. Comments and layout are kept.
 */
CREST_API crest_status crest_policy_write_calibrated(const crest_policy *policy,
                                                     const crest_calibration_tier *tiers,
                                                     const char *history_name, uint64_t history_hash,
                                                     uint64_t rows, const char *out_path, crest_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
