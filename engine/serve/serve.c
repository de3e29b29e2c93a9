/*
 * serve.c — the service loop (see crest_serve.h): fetch a batch from the
 * durable pull consumer, decide each message, publish each output
 * asynchronously, wait until every publish is confirmed or failed, then
 * acknowledge exactly the inputs whose own output was confirmed and hand the
 * others back (Nak) for redelivery. Also: policy reload between batches,
 * the capacity counters in a JetStream key-value bucket, stream setup.
 *
 * Why each publish is tracked: a publish can fail (a server of the cluster
 * dies, a PubAck times out) while others of the same batch succeed; an input
 * acknowledged on the strength of "the batch completed" would be lost
 * (docs/operations.md, "ack after PubAck").
 */
#define _GNU_SOURCE /* strptime, timegm */
#include "serve_internal.h"
#include "nkey.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

crest_serve_config crest_serve_config_default(void)
{
    crest_serve_config c;
    memset(&c, 0, sizeof c);
    c.nats_url = "nats://127.0.0.1:4222";
    c.stream = "DECL";
    c.out_stream = "DECISIONS";
    c.durable = "crest";
    c.format = CREST_FORMAT_CSV;
    c.replicas = 1;
    c.ack_wait_s = 30;
    c.batch = 256;
    c.max_deliveries = 50;
    c.puback_wait_ms = 5000;
    c.capacity_bucket = "crest_capacity";
    return c;
}

void serve_log(crest_serve *srv, crest_serve_level level, const char *fmt, ...)
{
    if (!srv->cfg.log)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    srv->cfg.log(srv->cfg.log_ctx, level, line);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------- capacity */

/*
 * Take one RED slot of (office, day) from the shared counter: read, and if
 * under the cap write count + 1 only if nobody wrote since (compare-and-set
 * on the key's revision); on a lost race, read again. The key is the office's
 * bytes in hex (any office text is a valid key) and the day number.
 */
static int capacity_take(void *ctx, const char *office, size_t office_len, int32_t day)
{
    crest_serve *srv = ctx;
    unsigned long cap;
    if (!crest_policy_office_cap(srv->policy, office, office_len, day, &cap))
        return 1; /* not capped: no counter ([capacity] offices without red_per_office_day) */
    char key[600];
    size_t k = (size_t)snprintf(key, sizeof key, "cap.%" PRId32 ".o", day);
    for (size_t i = 0; i < office_len && k + 3 < sizeof key; i++)
        k += (size_t)snprintf(key + k, sizeof key - k, "%02x", (unsigned char)office[i]);
    for (int attempt = 0; attempt < 1000; attempt++) {
        kvEntry *e = NULL;
        natsStatus s = kvStore_Get(&e, srv->kv, key);
        if (s == NATS_NOT_FOUND) {
            uint64_t rev = 0;
            if (cap == 0)
                return 0;
            s = kvStore_Create(&rev, srv->kv, key, "1", 1);
            if (s == NATS_OK)
                return 1;
            continue; /* somebody created it first: read it */
        }
        if (s != NATS_OK)
            return -1;
        char num[32];
        const int n = kvEntry_ValueLen(e);
        snprintf(num, sizeof num, "%.*s", n > 0 && n < 31 ? n : 0, (const char *)kvEntry_Value(e));
        const uint64_t rev = kvEntry_Revision(e);
        kvEntry_Destroy(e);
        const unsigned long count = strtoul(num, NULL, 10);
        if (count >= cap)
            return 0;
        char next[32];
        snprintf(next, sizeof next, "%lu", count + 1);
        uint64_t new_rev = 0;
        s = kvStore_Update(&new_rev, srv->kv, key, next, (int)strlen(next), rev);
        if (s == NATS_OK)
            return 1;
        /* A lost race (wrong last sequence) or a fault: read again. */
    }
    return -1;
}

/* --------------------------------------------------------------- policy */

/* Load and fully check a policy set: the policy, the registry, a decider, and
 * an engine created once (the risk layer: criteria compiled, model loaded). */
static crest_status load_set(crest_serve *srv, crest_policy **policy, crest_registry **registry,
                             crest_decider **decider, crest_diag *diag)
{
    *policy = NULL;
    *registry = NULL;
    *decider = NULL;
    crest_status st = crest_policy_load(srv->cfg.policy_path, policy, diag);
    if (st == CREST_OK && srv->cfg.registry_path)
        st = crest_registry_load(srv->cfg.registry_path, *policy, registry, diag);
    static const crest_decider_capacity none = {0};
    crest_decider_capacity cap = {capacity_take, srv};
    if (st == CREST_OK)
        st = crest_decider_create(*policy, *registry, srv->cfg.csv_header, srv->cfg.format,
                                  srv->kv                              ? &cap
                                  : crest_policy_has_capacity(*policy) ? NULL
                                                                       : &none,
                                  decider, diag);
    if (st == CREST_OK) {
        crest_run_options opt = crest_run_options_default();
        static char dummy;
        opt.output.write = NULL;
        opt.decide = 0;
        opt.hook_ctx = &dummy;
        crest_engine *e = NULL;
        st = crest_engine_create(*policy, *registry, &opt, &e, diag);
        crest_engine_free(e);
    }
    if (st != CREST_OK) {
        crest_decider_free(*decider);
        crest_registry_free(*registry);
        crest_policy_free(*policy);
        *decider = NULL;
        *registry = NULL;
        *policy = NULL;
    }
    return st;
}

/* Between batches: load the new policy; swap it in only when it is whole. */
static void do_reload(crest_serve *srv, const char *why)
{
    crest_policy *p;
    crest_registry *r;
    crest_decider *d;
    crest_diag diag;
    const crest_status st = load_set(srv, &p, &r, &d, &diag);
    if (st != CREST_OK) {
        pthread_mutex_lock(&srv->metrics.mu);
        srv->metrics.reload_failures++;
        pthread_mutex_unlock(&srv->metrics.mu);
        serve_log(srv, CREST_SERVE_ERROR,
                  "event=reload status=refused trigger=%s file=\"%s\" line=%lu error=\"%s\" policy_hash=%s",
                  why, diag.file, diag.line, diag.message, crest_policy_hash_hex(srv->policy));
        return;
    }
    pthread_mutex_lock(&srv->decide_mu);
    crest_policy *old_p = srv->policy;
    crest_registry *old_r = srv->registry;
    crest_decider *old_d = srv->decider;
    srv->policy = p;
    srv->registry = r;
    srv->decider = d;
    pthread_mutex_unlock(&srv->decide_mu);
    metrics_set_policy(&srv->metrics, p);
    pthread_mutex_lock(&srv->metrics.mu);
    srv->metrics.reloads++;
    pthread_mutex_unlock(&srv->metrics.mu);
    serve_log(srv, CREST_SERVE_INFO, "event=reload status=ok trigger=%s old_policy_hash=%s policy_hash=%s",
              why, crest_policy_hash_hex(old_p), crest_policy_hash_hex(p));
    crest_decider_free(old_d);
    crest_registry_free(old_r);
    crest_policy_free(old_p);
}

static void maybe_reload(crest_serve *srv)
{
    if (srv->reload) {
        srv->reload = 0;
        do_reload(srv, "request");
        return;
    }
    if (!srv->cfg.watch_policy || mono_s() < srv->next_watch_s)
        return;
    srv->next_watch_s = mono_s() + 1.0;
    struct stat st;
    if (stat(srv->cfg.policy_path, &st) != 0)
        return;
    if (st.st_mtim.tv_sec != srv->policy_stat.st_mtim.tv_sec ||
        st.st_mtim.tv_nsec != srv->policy_stat.st_mtim.tv_nsec || st.st_size != srv->policy_stat.st_size ||
        st.st_ino != srv->policy_stat.st_ino) {
        srv->policy_stat = st;
        do_reload(srv, "watch");
    }
}

/* ----------------------------------------------------------------- NATS */

/* The PubAck handler (a NATS thread): mark the slot of this output. */
static void on_puback(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    crest_serve *srv = closure;
    pthread_mutex_lock(&srv->pub_mu);
    for (size_t i = 0; i < srv->n_slots; i++) {
        serve_slot *s = &srv->slots[i];
        if (s->state == SLOT_PENDING && s->out == msg) {
            s->state = pa && !pae ? SLOT_OK : SLOT_FAILED;
            s->out = NULL;
            srv->pending--;
            pthread_cond_broadcast(&srv->pub_cv);
            break;
        }
    }
    pthread_mutex_unlock(&srv->pub_mu);
    natsMsg_Destroy(msg);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    crest_serve *srv = closure;
    pthread_mutex_lock(&srv->metrics.mu);
    srv->metrics.connected = 0;
    pthread_mutex_unlock(&srv->metrics.mu);
    if (!srv->stop)
        serve_log(srv, CREST_SERVE_WARN, "event=nats_disconnected");
}

/* The last callback NATS delivers for the connection (on its own thread, after
 * natsConnection_Close returns): crest_serve_free waits for it before srv goes. */
static void on_closed(natsConnection *nc, void *closure)
{
    (void)nc;
    crest_serve *srv = closure;
    pthread_mutex_lock(&srv->pub_mu);
    srv->nats_closed = 1;
    pthread_cond_broadcast(&srv->pub_cv);
    pthread_mutex_unlock(&srv->pub_mu);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    crest_serve *srv = closure;
    pthread_mutex_lock(&srv->metrics.mu);
    srv->metrics.connected = 1;
    pthread_mutex_unlock(&srv->metrics.mu);
    serve_log(srv, CREST_SERVE_INFO, "event=nats_reconnected");
}

static crest_status nats_fail(crest_diag *diag, const char *what, natsStatus s, jsErrCode jerr)
{
    return crest_diag_set(diag, CREST_ERR_IO, "<nats>", 0, 0, "%s: %s (JetStream error %d)", what,
                          natsStatus_GetText(s), (int)jerr);
}

/*
 * What --nats-creds names: 1 for a credentials file with a user JWT (as nsc
 * writes it: decentralised authentication), 2 for an nkey user seed alone (a
 * user the server's configuration lists by public key; pub receives it), -1
 * when it is neither or cannot be read. The seed's bytes are wiped after use.
 */
static int creds_kind(const char *path, char pub[SERVE_NKEY_PUBLIC_LEN + 1])
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char text[8192];
    const size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *seed = NULL;
    int kind = -1;
    if (strstr(text, "BEGIN NATS USER JWT"))
        kind = 1;
    else if (serve_nkey_find_seed(text, &seed) == 0 &&
             serve_nkey_user_public(seed, SERVE_NKEY_SEED_LEN, pub) == 0)
        kind = 2;
    memset(text, 0, sizeof text);
    return kind;
}

/*
 * libnats before 3.8.0 base64-encodes the nonce's signature with a function
 * that takes a first byte 0 for an empty string, so CONNECT goes out without
 * "sig" and the server refuses a valid nkey (Authorization Violation, "Signature
 * missing" in its debug log): one connection in 256, as the nonce is random
 * (nats-io/nats.c#705, fixed in 3.8.0; Debian 12 ships 3.4.1). Reproduced:
 * crest serve with a right nkey seed refused 4 times in 800 starts, with a
 * right user JWT 2 times in 700. Two such refusals in a row on a reconnection
 * make libnats give the connection up.
 */
static int nats_drops_zero_signature(void)
{
    return nats_GetVersionNumber() < 0x030800;
}

/* The --nats-creds file into text (cap bytes, NUL-terminated; empty when it
 * cannot be read): read again at every connection, as libnats reads it. */
static void read_creds(const crest_serve *srv, char *text, size_t cap)
{
    size_t n = 0;
    FILE *f = fopen(srv->cfg.creds_file, "r");
    if (f) {
        n = fread(text, 1, cap - 1, f);
        fclose(f);
    }
    text[n] = '\0';
}

/*
 * The user JWT of a credentials file (natsOptions_SetUserCredentialsCallbacks;
 * libnats frees *jwt and *err_txt): the first non-empty line after the
 * "BEGIN NATS USER JWT" line, without surrounding blanks, as libnats takes it.
 */
static natsStatus user_jwt(char **jwt, char **err_txt, void *closure)
{
    char text[8192];
    read_creds(closure, text, sizeof text);
    const char *p = strstr(text, "BEGIN NATS USER JWT");
    p = p ? strchr(p, '\n') : NULL;
    if (p)
        p += strspn(p, " \t\r\n");
    const size_t len = p ? strcspn(p, " \t\r\n") : 0;
    *jwt = len ? strndup(p, len) : NULL;
    memset(text, 0, sizeof text);
    if (!*jwt) {
        *err_txt = strdup("no user JWT in the --nats-creds file");
        return NATS_ERR;
    }
    return NATS_OK;
}

/*
 * The user's signature of the server's nonce with the seed of the --nats-creds
 * file (an nkey seed alone, or a credentials file's seed block), for
 * natsOptions_SetNKey and natsOptions_SetUserCredentialsCallbacks; libnats
 * frees *sig and *err_txt. The seed is wiped after use. A signature that
 * libnats would drop is not sent: the attempt fails here, before the server
 * sees it, and the next attempt brings a new nonce (connect_nats tries again;
 * a reconnection tries again by itself).
 */
static natsStatus sign_nonce(char **err_txt, unsigned char **sig, int *sig_len, const char *nonce,
                             void *closure)
{
    crest_serve *srv = closure;
    char text[8192];
    read_creds(srv, text, sizeof text);
    const char *block = strstr(text, "BEGIN USER NKEY SEED");
    const char *seed = NULL;
    uint8_t *out = malloc(SERVE_NKEY_SIG_LEN);
    const int signed_ok =
        out && serve_nkey_find_seed(block ? block : text, &seed) == 0 &&
        serve_nkey_sign(seed, SERVE_NKEY_SEED_LEN, (const uint8_t *)nonce, strlen(nonce), out) == 0;
    memset(text, 0, sizeof text);
    if (!signed_ok) {
        free(out);
        *err_txt = strdup("cannot sign the server's nonce: no user seed in the --nats-creds file");
        return NATS_ERR;
    }
    if (out[0] == 0 && nats_drops_zero_signature()) {
        free(out);
        atomic_store(&srv->zero_signature, 1);
        serve_log(srv, CREST_SERVE_INFO, "event=nats_signature_retry reason=zero_first_byte");
        *err_txt = strdup("the nonce's signature begins with a zero byte, which this libnats (before 3.8) "
                          "leaves out of CONNECT");
        return NATS_ERR;
    }
    *sig = out;
    *sig_len = SERVE_NKEY_SIG_LEN;
    return NATS_OK;
}

static crest_status connect_nats(crest_serve *srv, crest_diag *diag)
{
    const crest_serve_config *c = &srv->cfg;
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    /* The server list: "a,b,c". */
    char *urls = strdup(c->nats_url);
    const char *list[16];
    int n = 0;
    for (char *save = NULL, *tok = urls ? strtok_r(urls, ",", &save) : NULL; tok && n < 16;
         tok = strtok_r(NULL, ",", &save))
        list[n++] = tok;
    if (s == NATS_OK)
        s = natsOptions_SetServers(o, list, n);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, "crest serve");
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 200);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(o, on_disconnected, srv);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(o, on_reconnected, srv);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(o, on_closed, srv);
    if (s == NATS_OK && c->creds_file) {
        char pub[SERVE_NKEY_PUBLIC_LEN + 1];
        const int kind = creds_kind(c->creds_file, pub);
        if (kind < 0) {
            natsOptions_Destroy(o);
            free(urls);
            return crest_diag_set(
                diag, CREST_ERR_INVALID, c->creds_file, 0, 0,
                "neither a NATS credentials file (user JWT and seed) nor an nkey user seed");
        }
        s = kind == 1 ? natsOptions_SetUserCredentialsCallbacks(o, user_jwt, srv, sign_nonce, srv)
                      : natsOptions_SetNKey(o, pub, sign_nonce, srv);
    }
    if (s == NATS_OK && c->user) {
        char pw[512] = "";
        if (c->password_file) {
            FILE *f = fopen(c->password_file, "r");
            if (!f) {
                natsOptions_Destroy(o);
                free(urls);
                return crest_diag_set(diag, CREST_ERR_IO, c->password_file, 0, 0,
                                      "cannot read the password file: %s", strerror(errno));
            }
            if (!fgets(pw, sizeof pw, f))
                pw[0] = '\0';
            fclose(f);
            pw[strcspn(pw, "\r\n")] = '\0';
        }
        s = natsOptions_SetUserInfo(o, c->user, pw);
        memset(pw, 0, sizeof pw);
    }
    if (s == NATS_OK && c->tls_ca) {
        s = natsOptions_SetSecure(o, true);
        if (s == NATS_OK)
            s = natsOptions_LoadCATrustedCertificates(o, c->tls_ca);
    }
    if (s == NATS_OK && c->tls_cert)
        s = natsOptions_LoadCertificatesChain(o, c->tls_cert, c->tls_key ? c->tls_key : c->tls_cert);
    if (s != NATS_OK) {
        natsOptions_Destroy(o);
        free(urls);
        return nats_fail(diag, "setting the NATS connection options", s, 0);
    }
    /* A first connection that sign_nonce refused is tried again: each try
     * fails so with probability 1/256, and a wrong key still fails at once. */
    for (int tries = 1;; tries++) {
        atomic_store(&srv->zero_signature, 0);
        s = natsConnection_Connect(&srv->nc, o);
        if (s == NATS_OK || !atomic_load(&srv->zero_signature) || tries == 5)
            break;
    }
    natsOptions_Destroy(o);
    free(urls);
    if (s != NATS_OK)
        return crest_diag_set(diag, CREST_ERR_IO, "<nats>", 0, 0, "cannot connect to %s: %s%s%s", c->nats_url,
                              natsStatus_GetText(s), nats_GetLastError(NULL) ? ": " : "",
                              nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.AckHandler = on_puback;
    jo.PublishAsync.AckHandlerClosure = srv;
    jo.PublishAsync.MaxPending = 4096;
    s = natsConnection_JetStream(&srv->js, srv->nc, &jo);
    if (s != NATS_OK)
        return nats_fail(diag, "opening JetStream", s, 0);
    pthread_mutex_lock(&srv->metrics.mu);
    srv->metrics.connected = 1;
    pthread_mutex_unlock(&srv->metrics.mu);
    return CREST_OK;
}

/* A stream with these subjects, created when missing (create_streams). */
static crest_status ensure_stream(crest_serve *srv, const char *name, const char **subjects, int n_subjects,
                                  int64_t duplicates_ns, crest_diag *diag)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, srv->js, name, NULL, &jerr);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return CREST_OK;
    }
    if (!srv->cfg.create_streams)
        return crest_diag_set(diag, CREST_ERR_IO, "<nats>", 0, 0,
                              "stream %s not found (%s): create it, or pass --create-streams", name,
                              natsStatus_GetText(s));
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = name;
    sc.Subjects = subjects;
    sc.SubjectsLen = n_subjects;
    sc.Storage = js_FileStorage;
    sc.Replicas = srv->cfg.replicas;
    if (duplicates_ns)
        sc.Duplicates = duplicates_ns;
    s = js_AddStream(&si, srv->js, &sc, NULL, &jerr);
    if (s != NATS_OK && jerr != JSStreamNameExistErr)
        return nats_fail(diag, "creating a stream", s, jerr);
    jsStreamInfo_Destroy(si);
    serve_log(srv, CREST_SERVE_INFO, "event=stream_created stream=%s replicas=%d", name, srv->cfg.replicas);
    return CREST_OK;
}

static crest_status setup_jetstream(crest_serve *srv, crest_diag *diag)
{
    const crest_serve_config *c = &srv->cfg;
    const char *in_subjects[] = {c->input_subject};
    const char *out_subjects[] = {c->output_subject, srv->rejects_subject};
    crest_status st = ensure_stream(srv, c->stream, in_subjects, 1, 0, diag);
    if (st == CREST_OK)
        st = ensure_stream(srv, c->out_stream, out_subjects, 2, (int64_t)120 * 1000000000, diag);
    if (st != CREST_OK)
        return st;
    jsErrCode jerr = 0;
    jsConsumerInfo *ci = NULL;
    natsStatus s = js_GetConsumerInfo(&ci, srv->js, c->stream, c->durable, NULL, &jerr);
    if (s != NATS_OK) {
        if (!c->create_streams)
            return crest_diag_set(diag, CREST_ERR_IO, "<nats>", 0, 0,
                                  "consumer %s of stream %s not found: create it, or pass --create-streams",
                                  c->durable, c->stream);
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = c->durable;
        cc.AckPolicy = js_AckExplicit;
        cc.AckWait = (int64_t)c->ack_wait_s * 1000000000;
        cc.MaxDeliver = -1; /* poison messages are routed to rejects by the service */
        cc.FilterSubject = c->input_subject;
        cc.MaxAckPending = 20000;
        if (c->deliver_from) {
            struct tm tm;
            memset(&tm, 0, sizeof tm);
            const char *end = strptime(c->deliver_from, "%Y-%m-%dT%H:%M:%SZ", &tm);
            if (!end || *end) {
                memset(&tm, 0, sizeof tm);
                end = strptime(c->deliver_from, "%Y-%m-%d", &tm);
            }
            if (!end || *end)
                return crest_diag_set(diag, CREST_ERR_INVALID, "--deliver-from", 0, 0,
                                      "'%s' is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ", c->deliver_from);
            cc.DeliverPolicy = js_DeliverByStartTime;
            cc.OptStartTime = (int64_t)timegm(&tm) * 1000000000;
        }
        s = js_AddConsumer(&ci, srv->js, c->stream, &cc, NULL, &jerr);
        if (s != NATS_OK)
            return nats_fail(diag, "creating the durable consumer", s, jerr);
        serve_log(srv, CREST_SERVE_INFO, "event=consumer_created stream=%s durable=%s", c->stream,
                  c->durable);
    }
    jsConsumerInfo_Destroy(ci);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = c->stream;
    so.Consumer = c->durable;
    s = js_PullSubscribe(&srv->sub, srv->js, c->input_subject, c->durable, NULL, &so, &jerr);
    if (s != NATS_OK)
        return nats_fail(diag, "subscribing to the durable consumer", s, jerr);
    if (crest_policy_has_capacity(srv->policy) || c->create_streams) {
        s = js_KeyValue(&srv->kv, srv->js, c->capacity_bucket);
        if (s != NATS_OK && c->create_streams) {
            kvConfig kc;
            kvConfig_Init(&kc);
            kc.Bucket = c->capacity_bucket;
            kc.History = 1;
            kc.Replicas = c->replicas;
            kc.StorageType = js_FileStorage;
            s = js_CreateKeyValue(&srv->kv, srv->js, &kc);
        }
        if (s != NATS_OK && crest_policy_has_capacity(srv->policy))
            return nats_fail(diag, "opening the capacity bucket", s, 0);
    }
    pthread_mutex_lock(&srv->metrics.mu);
    srv->metrics.subscribed = 1;
    pthread_mutex_unlock(&srv->metrics.mu);
    return CREST_OK;
}

crest_status crest_serve_create(const crest_serve_config *config, crest_serve **out, crest_diag *diag)
{
    *out = NULL;
    crest_diag_clear(diag);
    if (!config->policy_path || !config->input_subject || !config->output_subject)
        return crest_diag_set(diag, CREST_ERR_INVALID, "", 0, 0,
                              "a policy, an input and an output subject are required");
    crest_serve *srv = calloc(1, sizeof *srv);
    if (!srv)
        return crest_diag_set(diag, CREST_ERR_NOMEM, "", 0, 0, "out of memory");
    srv->cfg = *config;
    pthread_mutex_init(&srv->decide_mu, NULL);
    pthread_mutex_init(&srv->pub_mu, NULL);
    pthread_cond_init(&srv->pub_cv, NULL);
    metrics_init(&srv->metrics);
    srv->slots_cap = (size_t)(config->batch > 0 ? config->batch : 256);
    srv->cfg.batch = (int)srv->slots_cap;
    srv->slots = calloc(srv->slots_cap, sizeof *srv->slots);
    if (config->rejects_subject) {
        srv->rejects_subject = strdup(config->rejects_subject);
    } else if ((srv->rejects_subject = malloc(strlen(config->output_subject) + 9)) != NULL) {
        strcpy(srv->rejects_subject, config->output_subject);
        strcat(srv->rejects_subject, ".rejects");
    }
    if (!srv->slots || !srv->rejects_subject) {
        crest_serve_free(srv);
        return crest_diag_set(diag, CREST_ERR_NOMEM, "", 0, 0, "out of memory");
    }
    if (config->token_file) {
        FILE *f = fopen(config->token_file, "r");
        char tok[512] = "";
        if (!f || !fgets(tok, sizeof tok, f) || !(tok[strcspn(tok, "\r\n")] = '\0', tok[0])) {
            if (f)
                fclose(f);
            crest_serve_free(srv);
            return crest_diag_set(diag, CREST_ERR_INVALID, config->token_file, 0, 0,
                                  "cannot read a token from the token file");
        }
        fclose(f);
        srv->token = strdup(tok);
        memset(tok, 0, sizeof tok);
    }
    /* The policy first (a bad one is a configuration error, not a NATS one),
     * loaded again once the capacity bucket is known. */
    crest_status st = crest_policy_load(config->policy_path, &srv->policy, diag);
    if (st == CREST_OK)
        stat(config->policy_path, &srv->policy_stat);
    if (st == CREST_OK)
        st = connect_nats(srv, diag);
    if (st == CREST_OK)
        st = setup_jetstream(srv, diag);
    if (st == CREST_OK) {
        crest_policy_free(srv->policy);
        srv->policy = NULL;
        st = load_set(srv, &srv->policy, &srv->registry, &srv->decider, diag);
    }
    if (st == CREST_OK) {
        metrics_set_policy(&srv->metrics, srv->policy);
        if (config->http_addr && serve_http_start(srv, diag) != 0)
            st = diag->status;
    }
    if (st != CREST_OK) {
        crest_serve_free(srv);
        return st;
    }
    atomic_store(&srv->ready, 1);
    serve_log(srv, CREST_SERVE_INFO,
              "event=started stream=%s durable=%s input=%s output=%s rejects=%s policy_hash=%s capacity=%lu",
              config->stream, config->durable, config->input_subject, config->output_subject,
              srv->rejects_subject, crest_policy_hash_hex(srv->policy),
              crest_policy_red_per_office_day(srv->policy));
    *out = srv;
    return CREST_OK;
}

/* ----------------------------------------------------------------- batch */

/*
 * The rejection of a poison message: "REASON," then the message as one CSV
 * field (quoted when it holds a delimiter, quote or line end). It must reach
 * the rejects subject whatever made the message fail — a message whose
 * decision was too large for the server's max_payload is a poison message
 * too — so the field is cut to fit the server's limit (with room for the
 * headers; *truncated set, the full length goes in a Crest-Truncated header).
 * The input itself stays in its stream. Returns a malloc'd line, or NULL.
 */
static char *poison_line(crest_serve *srv, const char *reason, const char *body, size_t body_len,
                         size_t *line_len, int *truncated)
{
    const int64_t max_payload = natsConnection_GetMaxPayload(srv->nc);
    size_t room = max_payload > 4096 ? (size_t)max_payload - 2048 : 2048;
    char *line = malloc(2 * body_len + 64);
    if (!line)
        return NULL;
    size_t n = (size_t)snprintf(line, 64, "%s,", reason);
    room = room > n + 2 ? room - n - 2 : 0;
    const int quote = memchr(body, ',', body_len) || memchr(body, '"', body_len) ||
                      memchr(body, '\n', body_len) || memchr(body, '\r', body_len);
    *truncated = 0;
    if (quote)
        line[n++] = '"';
    for (size_t i = 0; i < body_len; i++) {
        const size_t need = quote && body[i] == '"' ? 2 : 1;
        if (need > room) {
            *truncated = 1;
            break;
        }
        if (need == 2)
            line[n++] = '"';
        line[n++] = body[i];
        room -= need;
    }
    if (quote)
        line[n++] = '"';
    *line_len = n;
    return line;
}

/* Decide one input into its output message (or leave the slot failed). */
static void decide_slot(crest_serve *srv, serve_slot *s, natsMsg **out)
{
    *out = NULL;
    jsMsgMetaData *meta = NULL;
    uint64_t delivered = 1;
    if (natsMsg_GetMetaData(&meta, s->in) == NATS_OK) {
        delivered = meta->NumDelivered;
        s->delivered = delivered;
        s->stored_ns = meta->Timestamp;
        pthread_mutex_lock(&srv->metrics.mu);
        srv->metrics.consumer_lag = meta->NumPending;
        srv->metrics.redelivered += delivered > 1;
        pthread_mutex_unlock(&srv->metrics.mu);
        jsMsgMetaData_Destroy(meta);
    }
    const char *body = natsMsg_GetData(s->in);
    const int body_len = natsMsg_GetDataLength(s->in);
    crest_outcome o;
    char msg_id[300];
    if (srv->cfg.max_deliveries > 0 && delivered > (uint64_t)srv->cfg.max_deliveries) {
        /* Poison: it keeps coming back. Out of the way, with a reason. */
        memset(&o, 0, sizeof o);
        o.reason = CREST_SERVE_REJECT_POISON;
        o.bytes = NULL;
    } else {
        const char *header = NULL;
        if (natsMsgHeader_Get(s->in, "Crest-Header", &header) != NATS_OK)
            header = NULL;
        const crest_status st =
            crest_decider_decide(srv->decider, header, header ? strlen(header) : 0, body ? body : "",
                                 (size_t)(body_len > 0 ? body_len : 0), &o);
        if (st != CREST_OK || o.capacity_error) {
            if (o.capacity_error) {
                pthread_mutex_lock(&srv->metrics.mu);
                srv->metrics.capacity_errors++;
                pthread_mutex_unlock(&srv->metrics.mu);
            }
            serve_log(srv, CREST_SERVE_ERROR, "event=decide_failed status=%s",
                      o.capacity_error ? "capacity" : crest_status_name(st));
            s->state = SLOT_FAILED;
            return;
        }
    }
    uint64_t seq = 0;
    jsMsgMetaData *m2 = NULL;
    if (natsMsg_GetMetaData(&m2, s->in) == NATS_OK) {
        seq = m2->Sequence.Stream;
        jsMsgMetaData_Destroy(m2);
    }
    const char *hash = crest_policy_hash_hex(srv->policy);
    natsMsg *m = NULL;
    natsStatus ns;
    s->decided = o.decided;
    if (o.decided) {
        snprintf(msg_id, sizeof msg_id, "%s:%s", o.decl_id, hash);
        ns = natsMsg_Create(&m, srv->cfg.output_subject, NULL, o.bytes, (int)o.len);
        s->tier = o.tier;
        s->inspected = o.inspected;
        s->lane = o.lane;
    } else {
        /* A rejection is keyed on the input's place in its stream. */
        snprintf(msg_id, sizeof msg_id, "reject:%s:%" PRIu64, srv->cfg.stream, seq);
        snprintf(s->reason, sizeof s->reason, "%s", o.reason);
        if (o.bytes) {
            ns = natsMsg_Create(&m, srv->rejects_subject, NULL, o.bytes, (int)o.len);
        } else {
            size_t line_len = 0;
            char *line = poison_line(srv, o.reason, body, (size_t)(body_len > 0 ? body_len : 0), &line_len,
                                     &s->truncated);
            ns = line ? natsMsg_Create(&m, srv->rejects_subject, NULL, line, (int)line_len) : NATS_NO_MEMORY;
            free(line);
        }
    }
    if (ns == NATS_OK)
        ns = natsMsgHeader_Set(m, "Nats-Msg-Id", msg_id);
    if (ns == NATS_OK)
        ns = natsMsgHeader_Set(m, "Crest-Policy-Hash", hash);
    if (ns == NATS_OK && !o.decided)
        ns = natsMsgHeader_Set(m, "Crest-Reason", o.reason);
    if (ns == NATS_OK && s->truncated) {
        char bytes[32];
        snprintf(bytes, sizeof bytes, "%d", body_len);
        ns = natsMsgHeader_Set(m, "Crest-Truncated", bytes);
    }
    if (ns == NATS_OK && o.decided && crest_decider_output_header(srv->decider)[0])
        ns = natsMsgHeader_Set(m, "Crest-Header", crest_decider_output_header(srv->decider));
    if (ns != NATS_OK) {
        natsMsg_Destroy(m);
        s->state = SLOT_FAILED;
        return;
    }
    *out = m;
}

/*
 * One batch: decide all (under decide_mu, so a reload or /decide never sees
 * a half batch), publish all, wait for every PubAck (or its failure, or the
 * deadline), then ack the confirmed inputs and hand back the rest.
 */
static void process_batch(crest_serve *srv, natsMsgList *list)
{
    size_t n = (size_t)list->Count;
    natsMsg **outs = calloc(n ? n : 1, sizeof *outs);
    pthread_mutex_lock(&srv->pub_mu);
    /* A fetch may bring more than a batch (messages of an earlier pull request
     * that arrived late): the slots grow to what came. */
    if (n > srv->slots_cap) {
        serve_slot *grown = realloc(srv->slots, n * sizeof *grown);
        if (grown) {
            srv->slots = grown;
            srv->slots_cap = n;
        }
    }
    if (n > srv->slots_cap) {
        /* Out of memory: hand the extra messages back untouched. */
        for (size_t i = srv->slots_cap; i < n; i++)
            natsMsg_Nak(list->Msgs[i], NULL);
        n = srv->slots_cap;
    }
    srv->n_slots = n;
    srv->pending = 0;
    for (size_t i = 0; i < n; i++) {
        memset(&srv->slots[i], 0, sizeof srv->slots[i]);
        srv->slots[i].in = list->Msgs[i];
    }
    pthread_mutex_unlock(&srv->pub_mu);
    pthread_mutex_lock(&srv->metrics.mu);
    srv->metrics.received += n;
    pthread_mutex_unlock(&srv->metrics.mu);

    pthread_mutex_lock(&srv->decide_mu);
    for (size_t i = 0; i < n; i++) {
        if (!outs) {
            srv->slots[i].state = SLOT_FAILED;
            continue;
        }
        decide_slot(srv, &srv->slots[i], &outs[i]);
    }
    pthread_mutex_unlock(&srv->decide_mu);

    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = srv->cfg.puback_wait_ms;
    for (size_t i = 0; i < n; i++) {
        if (!outs || !outs[i])
            continue;
        pthread_mutex_lock(&srv->pub_mu);
        srv->slots[i].state = SLOT_PENDING;
        srv->slots[i].out = outs[i];
        srv->pending++;
        pthread_mutex_unlock(&srv->pub_mu);
        natsMsg *m = outs[i];
        const natsStatus s = js_PublishMsgAsync(srv->js, &m, &po);
        if (s != NATS_OK) {
            /* Not taken by the library: no PubAck will come for it. */
            pthread_mutex_lock(&srv->pub_mu);
            if (srv->slots[i].state == SLOT_PENDING) {
                srv->slots[i].state = SLOT_FAILED;
                srv->slots[i].out = NULL;
                srv->pending--;
            }
            pthread_mutex_unlock(&srv->pub_mu);
            natsMsg_Destroy(m);
        }
    }
    free(outs);

    /* Wait for every PubAck; past the deadline, take the unconfirmed back
     * from the library (no handler will run for them) and count them failed. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += srv->cfg.puback_wait_ms / 1000 + 2;
    pthread_mutex_lock(&srv->pub_mu);
    while (srv->pending > 0)
        if (pthread_cond_timedwait(&srv->pub_cv, &srv->pub_mu, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&srv->pub_mu);
    if (srv->pending > 0) {
        natsMsgList pend = {0};
        if (js_PublishAsyncGetPendingList(&pend, srv->js) == NATS_OK) {
            pthread_mutex_lock(&srv->pub_mu);
            for (int k = 0; k < pend.Count; k++)
                for (size_t i = 0; i < n; i++)
                    if (srv->slots[i].state == SLOT_PENDING && srv->slots[i].out == pend.Msgs[k]) {
                        srv->slots[i].state = SLOT_FAILED;
                        srv->slots[i].out = NULL;
                        srv->pending--;
                    }
            pthread_mutex_unlock(&srv->pub_mu);
            natsMsgList_Destroy(&pend);
        }
        /* A handler may still be running for the rest: wait for it. */
        pthread_mutex_lock(&srv->pub_mu);
        while (srv->pending > 0)
            pthread_cond_wait(&srv->pub_cv, &srv->pub_mu);
        pthread_mutex_unlock(&srv->pub_mu);
    }

    const int64_t now = real_ns();
    uint64_t acked = 0, back = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        serve_slot *s = &srv->slots[i];
        if (s->state == SLOT_OK) {
            natsMsg_Ack(s->in, NULL);
            acked++;
            if (s->decided)
                metrics_decision(&srv->metrics, s->tier, s->inspected, s->lane,
                                 s->stored_ns > 0 ? (double)(now - s->stored_ns) * 1e-9 : -1.0);
            else
                metrics_reject(&srv->metrics, s->reason);
        } else {
            /* Back off with each delivery: a fail-over (a stream leader elected
             * again, publishes refused meanwhile) must not use up the
             * deliveries that mark a poison message. */
            const uint64_t d = s->delivered ? s->delivered : 1;
            natsMsg_NakWithDelay(s->in, (int64_t)(d < 20 ? 250 * d : 5000), NULL);
            back++;
            failed += s->state == SLOT_FAILED;
        }
    }
    pthread_mutex_lock(&srv->metrics.mu);
    srv->metrics.acked += acked;
    srv->metrics.handed_back += back;
    srv->metrics.publish_failures += failed;
    pthread_mutex_unlock(&srv->metrics.mu);
    if (back)
        serve_log(srv, CREST_SERVE_WARN, "event=handed_back messages=%" PRIu64 " acked=%" PRIu64, back,
                  acked);
    if (back && !acked)
        nats_Sleep(250); /* nothing went through: do not spin on a cluster that refuses */
    pthread_mutex_lock(&srv->pub_mu);
    srv->n_slots = 0;
    pthread_mutex_unlock(&srv->pub_mu);
}

crest_status crest_serve_run(crest_serve *srv)
{
    pthread_mutex_lock(&srv->metrics.mu);
    srv->metrics.serving = 1;
    pthread_mutex_unlock(&srv->metrics.mu);
    double next_error_log = 0;
    while (!srv->stop) {
        maybe_reload(srv);
        /* Up to a batch: the library returns early with fewer when no more
         * are available now. (A NoWait fetch request first and a wait for one
         * message after it was tried: libnats 3.4 then returned lists whose
         * count exceeded their array — heap overflows under ASan in the
         * cluster test — so the plain fetch stays.) */
        natsMsgList list = {0};
        jsErrCode jerr = 0;
        natsStatus s = natsSubscription_Fetch(&list, srv->sub, srv->cfg.batch, 250, &jerr);
        if (s == NATS_TIMEOUT)
            continue;
        if (s != NATS_OK) {
            if (mono_s() >= next_error_log) {
                serve_log(srv, CREST_SERVE_WARN, "event=fetch_failed status=\"%s\" js_error=%d",
                          natsStatus_GetText(s), (int)jerr);
                next_error_log = mono_s() + 5.0;
            }
            natsMsgList_Destroy(&list);
            nats_Sleep(100);
            continue;
        }
        process_batch(srv, &list);
        natsMsgList_Destroy(&list);
    }
    /* The acks are plain publishes: make sure they left. */
    natsConnection_FlushTimeout(srv->nc, 2000);
    pthread_mutex_lock(&srv->metrics.mu);
    srv->metrics.serving = 0;
    pthread_mutex_unlock(&srv->metrics.mu);
    crest_serve_counts c;
    crest_serve_get_counts(srv, &c);
    serve_log(srv, CREST_SERVE_INFO,
              "event=stopped received=%" PRIu64 " decisions=%" PRIu64 " rejects=%" PRIu64 " acked=%" PRIu64
              " handed_back=%" PRIu64,
              c.received, c.decisions, c.rejects, c.acked, c.handed_back);
    return CREST_OK;
}

void crest_serve_stop(crest_serve *srv)
{
    srv->stop = 1;
}

void crest_serve_request_reload(crest_serve *srv)
{
    srv->reload = 1;
}

void crest_serve_get_counts(crest_serve *srv, crest_serve_counts *c)
{
    pthread_mutex_lock(&srv->metrics.mu);
    c->received = srv->metrics.received;
    c->decisions = srv->metrics.decisions;
    c->rejects = srv->metrics.rejects;
    c->acked = srv->metrics.acked;
    c->handed_back = srv->metrics.handed_back;
    c->reloads = srv->metrics.reloads;
    c->reload_failures = srv->metrics.reload_failures;
    pthread_mutex_unlock(&srv->metrics.mu);
}

void crest_serve_free(crest_serve *srv)
{
    if (!srv)
        return;
    srv->stop = 1; /* closing: a disconnection now is no news */
    serve_http_stop(srv);
    if (srv->sub)
        natsSubscription_Destroy(srv->sub);
    if (srv->kv)
        kvStore_Destroy(srv->kv);
    if (srv->js)
        jsCtx_Destroy(srv->js);
    if (srv->nc) {
        natsConnection_FlushTimeout(srv->nc, 1000);
        natsConnection_Close(srv->nc);
        /* The disconnected and closed callbacks of this close still run on
         * NATS's thread and use srv: wait for the closed one, the last (up to
         * 10 s: a callback that never comes must not hang the exit). */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        pthread_mutex_lock(&srv->pub_mu);
        while (!srv->nats_closed && pthread_cond_timedwait(&srv->pub_cv, &srv->pub_mu, &until) == 0) {
        }
        pthread_mutex_unlock(&srv->pub_mu);
        natsConnection_Destroy(srv->nc);
    }
    crest_decider_free(srv->decider);
    crest_registry_free(srv->registry);
    crest_policy_free(srv->policy);
    metrics_destroy(&srv->metrics);
    pthread_mutex_destroy(&srv->decide_mu);
    pthread_mutex_destroy(&srv->pub_mu);
    pthread_cond_destroy(&srv->pub_cv);
    free(srv->slots);
    free(srv->rejects_subject);
    if (srv->token) {
        memset(srv->token, 0, strlen(srv->token));
        free(srv->token);
    }
    free(srv);
}

crest_status crest_serve_close_nats(int timeout_ms)
{
    /* libnats answers NATS_NOT_INITIALIZED when it was never opened (a policy
     * that did not load) or is already closed: no thread to wait for. */
    const natsStatus s = nats_CloseAndWait(timeout_ms > 0 ? timeout_ms : 0);
    if (s == NATS_OK || s == NATS_NOT_INITIALIZED)
        return CREST_OK;
    return s == NATS_TIMEOUT ? CREST_ERR_IO : CREST_ERR_STATE;
}
