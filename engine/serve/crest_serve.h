/*
 * crest_serve.h — crest as a long-running service on NATS JetStream
 * (libcrest_serve, a layer above libcrest that uses only its public API).
 *
 * Declarations arrive on a JetStream stream, one per message (a CSV record
 * whose header is the message's `Crest-Header` or the configured one, or a
 * JSON object). A durable pull consumer is shared by every instance with the
 * same durable name. Each declaration's decision — the same bytes `crest run`
 * writes for the row — is published to the output subject with
 * `Nats-Msg-Id = decl_id ":" policy-hash`; a rejection goes to the rejects
 * subject. The input message is acknowledged only after the PubAck of its
 * own output arrived; anything else is negatively acknowledged and comes
 * back, and the keyed draw plus the message id make the redelivery harmless.
 *
 * The service also reloads its policy (crest_serve_request_reload, or a
 * watched file), keeps a shared capacity counter per office-day in a
 * JetStream key-value bucket (compare-and-set), and answers /healthz,
 * /readyz, /metrics and (with a token) POST /decide and POST /reload over
 * HTTP (libmicrohttpd). The library never prints: log lines go to a callback.
 *
 * Who owns the NATS library's global state: the program, not libcrest_serve.
 * libnats keeps process-wide state (its timer, callback and garbage-collector
 * threads, each connection's reader and flusher, the TLS set-up), opened
 * implicitly by the first crest_serve_create that reaches NATS. libcrest_serve
 * never closes it on its own: crest_serve_free closes and destroys only the
 * service's connection, since the program may use libnats for other
 * connections. Those threads may outlive crest_serve_free by a moment, and a
 * process that exits under them can crash after its work is done (a TLS
 * connection's reader against OpenSSL torn down by exit). A program that
 * wants a clean exit calls crest_serve_close_nats once, after freeing every
 * service, when it makes no other use of libnats — crest-serve does — or
 * nats_CloseAndWait itself.
 */
#ifndef CREST_SERVE_H
#define CREST_SERVE_H

#include <stdint.h>

#include "crest/crest.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum crest_serve_level {
    CREST_SERVE_INFO = 0,
    CREST_SERVE_WARN,
    CREST_SERVE_ERROR
} crest_serve_level;

/* A structured log line: space-separated key=value pairs (logfmt), no line end. */
typedef void (*crest_serve_log_fn)(void *ctx, crest_serve_level level, const char *line);

typedef struct crest_serve_config {
    const char *policy_path;     /* required */
    const char *registry_path;   /* NULL: none */
    const char *nats_url;        /* comma-separated server URLs; default nats://127.0.0.1:4222 */
    const char *input_subject;   /* required */
    const char *output_subject;  /* required */
    const char *rejects_subject; /* default: output_subject ".rejects" */
    const char *stream;          /* input stream; default "DECL" */
    const char *out_stream;      /* stream of decisions and rejects; default "DECISIONS" */
    const char *durable;         /* durable consumer name; default "crest" */
    const char *csv_header;      /* header of CSV messages without Crest-Header; NULL: none */
    crest_format format;         /* of the decisions */
    int create_streams;          /* 1: create missing streams, consumer and bucket */
    int replicas;                /* for what create_streams makes; default 1 */
    int ack_wait_s;              /* consumer ack wait when created; default 30 */
    int batch;                   /* messages per fetch; default 256 */
    int max_deliveries; /* a message delivered more often goes to rejects (REDELIVERED); default 50 */
    int puback_wait_ms; /* how long to wait for a PubAck before redelivery; default 5000 */
    /* Security. */
    const char *creds_file; /* NATS user credentials (JWT + nkey seed) */
    const char *user;       /* NATS user (with password_file) */
    const char *password_file;
    const char *tls_ca;   /* CA certificate that signed the servers' (turns TLS on) */
    const char *tls_cert; /* client certificate and key (mutual TLS) */
    const char *tls_key;
    /* HTTP: "HOST:PORT" or "PORT" (then 127.0.0.1); NULL: no HTTP. */
    const char *http_addr;
    const char *token_file;      /* token of POST /decide and POST /reload; without it they are refused */
    int watch_policy;            /* 1: reload when the policy file changes (checked every second) */
    const char *capacity_bucket; /* KV bucket of the capacity counters; default "crest_capacity" */
    /* A consumer created now starts at this time (UTC, "YYYY-MM-DD" or
     * "YYYY-MM-DDTHH:MM:SSZ") instead of the stream's start: a replay from a
     * date. NULL: from the start. An existing consumer keeps its position. */
    const char *deliver_from;
    crest_serve_log_fn log;
    void *log_ctx;
} crest_serve_config;

/* A configuration with the defaults above (strings NULL where required). */
crest_serve_config crest_serve_config_default(void);

typedef struct crest_serve crest_serve;

/*
 * Load the policy (and registry), connect, make sure the streams and the
 * consumer exist (create_streams) and start the HTTP endpoint. Returns
 * CREST_OK, or a status with diag: CREST_ERR_INVALID / _SYNTAX / … for the
 * policy, CREST_ERR_IO for NATS or HTTP (diag says which).
 */
crest_status crest_serve_create(const crest_serve_config *config, crest_serve **out, crest_diag *diag);

/*
 * Serve until crest_serve_stop: fetch, decide, publish, wait for the PubAcks,
 * acknowledge. A stop finishes the batch in hand (its inputs acknowledged or
 * handed back) and returns CREST_OK.
 */
crest_status crest_serve_run(crest_serve *srv);

/* Ask run to return after the batch in hand. Async-signal-safe. */
void crest_serve_stop(crest_serve *srv);
/* Ask for a policy reload between two batches. Async-signal-safe. */
void crest_serve_request_reload(crest_serve *srv);

/* Counts so far, for tests and the final log line. */
typedef struct crest_serve_counts {
    uint64_t received, decisions, rejects, acked, handed_back, reloads, reload_failures;
} crest_serve_counts;
void crest_serve_get_counts(crest_serve *srv, crest_serve_counts *out);

/*
 * Stop HTTP, close the service's NATS connection (after its closed callback
 * ran, at most 10 s), free. The NATS library itself stays open (see the top of
 * this file and crest_serve_close_nats). NULL is a no-op.
 */
void crest_serve_free(crest_serve *srv);

/*
 * Close the NATS library for the whole process (nats_CloseAndWait) and wait up
 * to timeout_ms (<= 0: as long as it takes) for its threads to end. Call it at
 * most once, from the program's own thread, after every crest_serve is freed
 * and when nothing else in the process uses libnats: any connection still open
 * is closed with it. After CREST_OK a later crest_serve_create opens the
 * library again. Returns CREST_OK (also when the library was never opened:
 * nothing to wait for), CREST_ERR_IO when its threads did not all end within
 * timeout_ms (the library still finishes closing behind the caller; do not
 * open it again), CREST_ERR_STATE when called from a NATS thread (a
 * callback) or while such an earlier close is still under way.
 */
crest_status crest_serve_close_nats(int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
