/*
 * metrics.c — see metrics.h. Text is built in a growing buffer; names follow
 * the Prometheus conventions (crest_ prefix, _total counters, seconds).
 */
#define _POSIX_C_SOURCE 200809L
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double bucket_le[METRICS_N_BUCKETS] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                                    0.1,   0.2,   0.5,   1.0,  2.0,  5.0};
static const char *const lane_names[5] = {"GREEN", "BLUE", "YELLOW", "ORANGE", "RED"};

void metrics_init(serve_metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void metrics_destroy(serve_metrics *m)
{
    pthread_mutex_destroy(&m->mu);
}

void metrics_set_policy(serve_metrics *m, const crest_policy *p)
{
    pthread_mutex_lock(&m->mu);
    snprintf(m->policy_hash, sizeof m->policy_hash, "%s", crest_policy_hash_hex(p));
    const size_t n = crest_policy_tier_count(p);
    m->n_tiers = n < METRICS_MAX_TIERS ? n : METRICS_MAX_TIERS;
    m->base_tier = crest_policy_base_tier(p);
    for (size_t t = 0; t < m->n_tiers; t++) {
        snprintf(m->tier_name[t], sizeof m->tier_name[t], "%s", crest_policy_tier_name(p, t));
        m->tier_target[t] = crest_policy_tier_rate(p, t);
        m->tier_relative[t] = !isnan(crest_policy_tier_ratio(p, t));
    }
    /* A new tier list: the running window starts afresh. */
    m->win_pos = m->win_len = 0;
    memset(m->win_rows, 0, sizeof m->win_rows);
    memset(m->win_insp_count, 0, sizeof m->win_insp_count);
    pthread_mutex_unlock(&m->mu);
}

void metrics_decision(serve_metrics *m, size_t tier, int inspected, int lane, double latency_s)
{
    pthread_mutex_lock(&m->mu);
    if (tier >= METRICS_MAX_TIERS)
        tier = METRICS_MAX_TIERS - 1;
    m->decisions++;
    m->decisions_tier[tier]++;
    m->inspections_tier[tier] += inspected != 0;
    if (lane >= 0 && lane < 5)
        m->lanes[lane]++;
    if (m->win_len == METRICS_WINDOW) {
        const size_t old = m->win_pos;
        m->win_rows[m->win_tier[old]]--;
        m->win_insp_count[m->win_tier[old]] -= m->win_insp[old];
    } else {
        m->win_len++;
    }
    m->win_tier[m->win_pos] = (unsigned char)tier;
    m->win_insp[m->win_pos] = inspected != 0;
    m->win_rows[tier]++;
    m->win_insp_count[tier] += inspected != 0;
    m->win_pos = (m->win_pos + 1) % METRICS_WINDOW;
    if (latency_s >= 0) {
        size_t b = 0;
        while (b < METRICS_N_BUCKETS && latency_s > bucket_le[b])
            b++;
        m->bucket[b]++;
        m->latency_sum += latency_s;
        m->latency_n++;
    }
    pthread_mutex_unlock(&m->mu);
}

void metrics_reject(serve_metrics *m, const char *reason)
{
    pthread_mutex_lock(&m->mu);
    m->rejects++;
    size_t i = 0;
    while (i < m->n_reasons && strcmp(m->reason[i], reason) != 0)
        i++;
    if (i == m->n_reasons && m->n_reasons < METRICS_MAX_REASONS)
        snprintf(m->reason[m->n_reasons++], sizeof m->reason[0], "%s", reason);
    if (i < m->n_reasons)
        m->reason_count[i]++;
    pthread_mutex_unlock(&m->mu);
}

typedef struct text {
    char *s;
    size_t len, cap;
    int oom;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    for (;;) {
        if (t->oom)
            return;
        va_list ap;
        va_start(ap, fmt);
        const int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = 1;
            return;
        }
        if (t->s && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        const size_t c = (t->cap + (size_t)n + 1) * 2;
        char *q = realloc(t->s, c);
        if (!q) {
            t->oom = 1;
            return;
        }
        t->s = q;
        t->cap = c;
    }
}

static void help(text *t, const char *name, const char *type, const char *what)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, what, name, type);
}

/* Rendering every family: long, but one straight list of what is exported. */
char *metrics_render(serve_metrics *m, size_t *len)
{
    text t = {0};
    pthread_mutex_lock(&m->mu);
    const char *h = m->policy_hash;
    help(&t, "crest_policy_info", "gauge", "The policy in force (its hash as a label).");
    put(&t, "crest_policy_info{policy_hash=\"%s\"} 1\n", h);
    help(&t, "crest_up", "gauge", "1 while connected to NATS and subscribed.");
    put(&t, "crest_up %d\n", m->connected && m->subscribed);
    help(&t, "crest_messages_received_total", "counter", "Declaration messages fetched (redeliveries too).");
    put(&t, "crest_messages_received_total %llu\n", (unsigned long long)m->received);
    help(&t, "crest_messages_acked_total", "counter", "Inputs acknowledged after their output's PubAck.");
    put(&t, "crest_messages_acked_total %llu\n", (unsigned long long)m->acked);
    help(&t, "crest_messages_handed_back_total", "counter",
         "Inputs negatively acknowledged (publish failed or not confirmed, capacity unreadable).");
    put(&t, "crest_messages_handed_back_total %llu\n", (unsigned long long)m->handed_back);
    help(&t, "crest_redeliveries_total", "counter", "Messages fetched that had been delivered before.");
    put(&t, "crest_redeliveries_total %llu\n", (unsigned long long)m->redelivered);
    help(&t, "crest_publish_failures_total", "counter", "Publishes without a positive PubAck.");
    put(&t, "crest_publish_failures_total %llu\n", (unsigned long long)m->publish_failures);
    help(&t, "crest_capacity_errors_total", "counter", "Capacity counter reads or updates that failed.");
    put(&t, "crest_capacity_errors_total %llu\n", (unsigned long long)m->capacity_errors);
    help(&t, "crest_decisions_total", "counter", "Decisions published, per effective tier.");
    for (size_t k = 0; k < m->n_tiers; k++)
        put(&t, "crest_decisions_total{tier=\"%s\",policy_hash=\"%s\"} %llu\n", m->tier_name[k], h,
            (unsigned long long)m->decisions_tier[k]);
    help(&t, "crest_inspections_total", "counter", "Decisions to inspect, per effective tier.");
    for (size_t k = 0; k < m->n_tiers; k++)
        put(&t, "crest_inspections_total{tier=\"%s\",policy_hash=\"%s\"} %llu\n", m->tier_name[k], h,
            (unsigned long long)m->inspections_tier[k]);
    help(&t, "crest_lane_total", "counter", "Decisions per lane (after capacity).");
    for (int l = 0; l < 5; l++)
        put(&t, "crest_lane_total{lane=\"%s\"} %llu\n", lane_names[l], (unsigned long long)m->lanes[l]);
    help(&t, "crest_rejects_total", "counter", "Rejections published, per reason.");
    put(&t, "crest_rejects_total{reason=\"ALL\"} %llu\n", (unsigned long long)m->rejects);
    for (size_t i = 0; i < m->n_reasons; i++)
        put(&t, "crest_rejects_total{reason=\"%s\"} %llu\n", m->reason[i],
            (unsigned long long)m->reason_count[i]);
    help(&t, "crest_window_decisions", "gauge", "Decisions per tier in the running window (the last 10000).");
    for (size_t k = 0; k < m->n_tiers; k++)
        put(&t, "crest_window_decisions{tier=\"%s\"} %llu\n", m->tier_name[k],
            (unsigned long long)m->win_rows[k]);
    help(&t, "crest_realised_rate", "gauge", "Inspection rate per tier over the running window.");
    for (size_t k = 0; k < m->n_tiers; k++)
        if (m->win_rows[k])
            put(&t, "crest_realised_rate{tier=\"%s\",policy_hash=\"%s\"} %.6g\n", m->tier_name[k], h,
                (double)m->win_insp_count[k] / (double)m->win_rows[k]);
    help(&t, "crest_target_rate", "gauge", "Target inspection rate per tier in the policy.");
    for (size_t k = 0; k < m->n_tiers; k++)
        put(&t, "crest_target_rate{tier=\"%s\",policy_hash=\"%s\"} %.6g\n", m->tier_name[k], h,
            m->tier_target[k]);
    help(&t, "crest_realised_ratio", "gauge",
         "Realised rate of each relative tier over its base tier's, over the running window (AEO/regular).");
    const size_t b = m->base_tier;
    for (size_t k = 0; k < m->n_tiers; k++)
        if (m->tier_relative[k] && b < m->n_tiers && m->win_rows[k] && m->win_rows[b] && m->win_insp_count[b])
            put(&t, "crest_realised_ratio{tier=\"%s\",base=\"%s\"} %.6g\n", m->tier_name[k], m->tier_name[b],
                ((double)m->win_insp_count[k] / (double)m->win_rows[k]) /
                    ((double)m->win_insp_count[b] / (double)m->win_rows[b]));
    help(&t, "crest_decision_latency_seconds", "histogram",
         "From the input stored in the stream to its decision's PubAck.");
    uint64_t cum = 0;
    for (size_t i = 0; i < METRICS_N_BUCKETS; i++) {
        cum += m->bucket[i];
        put(&t, "crest_decision_latency_seconds_bucket{le=\"%g\"} %llu\n", bucket_le[i],
            (unsigned long long)cum);
    }
    cum += m->bucket[METRICS_N_BUCKETS];
    put(&t, "crest_decision_latency_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    put(&t, "crest_decision_latency_seconds_sum %.6f\n", m->latency_sum);
    put(&t, "crest_decision_latency_seconds_count %llu\n", (unsigned long long)m->latency_n);
    help(&t, "crest_consumer_lag", "gauge", "Messages in the stream not yet delivered to the consumer.");
    put(&t, "crest_consumer_lag %llu\n", (unsigned long long)m->consumer_lag);
    help(&t, "crest_reloads_total", "counter", "Policy reloads that took effect.");
    put(&t, "crest_reloads_total %llu\n", (unsigned long long)m->reloads);
    help(&t, "crest_reload_failures_total", "counter", "Policy reloads refused (the old policy stayed).");
    put(&t, "crest_reload_failures_total %llu\n", (unsigned long long)m->reload_failures);
    pthread_mutex_unlock(&m->mu);
    if (t.oom) {
        free(t.s);
        return NULL;
    }
    *len = t.len;
    return t.s;
}
