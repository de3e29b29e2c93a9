/*
 * metrics.h — the service's counters and their Prometheus text rendering:
 * decisions and inspections per tier, rejects by reason, the realised rate
 * per tier over a running window next to its target, the ratio of each
 * relative tier to its base tier, a decision latency histogram (input stored
 * → decision acknowledged), consumer lag, reloads. Updated by the serving
 * thread, read by the HTTP thread: every call takes the lock.
 */
#ifndef CREST_SERVE_METRICS_H
#define CREST_SERVE_METRICS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "crest/crest.h"

#define METRICS_MAX_TIERS 16
#define METRICS_MAX_REASONS 32
#define METRICS_WINDOW 10000 /* decisions in the running window of realised rates */
#define METRICS_N_BUCKETS 12

typedef struct serve_metrics {
    pthread_mutex_t mu;
    /* The policy in force (copied at each reload). */
    char policy_hash[17];
    size_t n_tiers, base_tier;
    char tier_name[METRICS_MAX_TIERS][48];
    double tier_target[METRICS_MAX_TIERS];
    int tier_relative[METRICS_MAX_TIERS];
    /* Counts since start. */
    uint64_t received, decisions, rejects, acked, handed_back, redelivered;
    uint64_t decisions_tier[METRICS_MAX_TIERS], inspections_tier[METRICS_MAX_TIERS];
    uint64_t lanes[5];
    char reason[METRICS_MAX_REASONS][32];
    uint64_t reason_count[METRICS_MAX_REASONS];
    size_t n_reasons;
    uint64_t reloads, reload_failures, publish_failures, capacity_errors;
    /* Running window: the last METRICS_WINDOW decisions' (tier, inspected). */
    unsigned char win_tier[METRICS_WINDOW], win_insp[METRICS_WINDOW];
    size_t win_pos, win_len;
    uint64_t win_rows[METRICS_MAX_TIERS], win_insp_count[METRICS_MAX_TIERS];
    /* Latency histogram, seconds. */
    uint64_t bucket[METRICS_N_BUCKETS + 1];
    double latency_sum;
    uint64_t latency_n;
    uint64_t consumer_lag;
    int connected, subscribed, serving;
} serve_metrics;

void metrics_init(serve_metrics *m);
void metrics_destroy(serve_metrics *m);
/* The policy in force now (under the lock). */
void metrics_set_policy(serve_metrics *m, const crest_policy *policy);
/* One published and acknowledged decision (latency_s < 0: unknown). */
void metrics_decision(serve_metrics *m, size_t tier, int inspected, int lane, double latency_s);
/* One published and acknowledged rejection. */
void metrics_reject(serve_metrics *m, const char *reason);
/*
 * The Prometheus text exposition (format 0.0.4) of everything, in a malloc'd
 * NUL-terminated string (*len its length); NULL on out-of-memory.
 */
char *metrics_render(serve_metrics *m, size_t *len);

#endif
