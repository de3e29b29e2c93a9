/*
 * serve_internal.h — the service object shared by serve.c (the NATS loop,
 * reload, capacity) and http.c (the endpoints). Not installed.
 */
#ifndef CREST_SERVE_INTERNAL_H
#define CREST_SERVE_INTERNAL_H

#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "crest_serve.h"
#include "decider.h"
#include "metrics.h"

/* One input of the batch in hand and its output. */
typedef struct serve_slot {
    natsMsg *in;
    natsMsg *out; /* while its publish is pending (for the PubAck handler) */
    int state;    /* SLOT_* */
    int decided;  /* its output is a decision (else a rejection) */
    size_t tier;
    int inspected, lane;
    char reason[32];
    int64_t stored_ns;  /* when the input was stored in the stream */
    uint64_t delivered; /* how often the input has been delivered */
    int truncated;      /* its poison rejection holds the message cut to fit max_payload */
} serve_slot;

enum { SLOT_NONE = 0, SLOT_PENDING, SLOT_OK, SLOT_FAILED };

struct crest_serve {
    crest_serve_config cfg;
    char *rejects_subject;
    char *token;

    /* The policy in force; swapped under decide_mu between batches. */
    pthread_mutex_t decide_mu;
    crest_policy *policy;
    crest_registry *registry;
    crest_decider *decider;
    struct stat policy_stat;
    double next_watch_s;

    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
    kvStore *kv;

    /* The batch in hand: the PubAck handler (a NATS thread) marks slots. */
    pthread_mutex_t pub_mu;
    pthread_cond_t pub_cv;
    serve_slot *slots;
    size_t n_slots, slots_cap;
    size_t pending;
    int nats_closed; /* the connection's closed callback ran (under pub_mu, signals pub_cv) */
    /* sign_nonce refused a connection for a signature libnats would drop (serve.c). */
    atomic_int zero_signature;

    volatile sig_atomic_t stop;
    volatile sig_atomic_t reload;
    atomic_int ready;

    serve_metrics metrics;
    struct MHD_Daemon *http;
};

/* A logfmt line through the configured callback. */
void serve_log(crest_serve *srv, crest_serve_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Start / stop the HTTP endpoint (http.c). 0, or -1 with diag filled. */
int serve_http_start(crest_serve *srv, crest_diag *diag);
void serve_http_stop(crest_serve *srv);

#endif
