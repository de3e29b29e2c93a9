/*
 * nats_tool.c — the NATS side of the crest serve tests and latency bench:
 *
 *   nats_tool pub URLS SUBJECT FILE [RATE]    publish FILE's CSV records (one per
 *       message, the header as Crest-Header) with JetStream (asynchronous publishes,
 *       all acknowledged at the end); RATE > 0: that many messages per second (0: as
 *       fast as the library allows)
 *   nats_tool dump URLS STREAM SUBJECT OUT N TIMEOUT_S
 *       read the stream's messages on SUBJECT (from the start) into OUT, one
 *       payload after the other, until N have come or TIMEOUT_S passed;
 *       exit 0 when exactly N (then waits a second more for extras), 1 otherwise
 *   nats_tool pub1 URLS SUBJECT FILE          publish FILE as one message
 *   nats_tool count URLS STREAM               messages in a stream
 *   nats_tool nkey SEED_FILE                  a new nkey user: its seed written to
 *       SEED_FILE, its public key printed (for a server's authorization block)
 *   nats_tool nonces SEED_FILE                two nonces for a fake server: the first
 *       signed by the seed (an nkey seed file or a credentials file) with a zero
 *       first byte (what libnats before 3.8 drops), the second not
 *   nats_tool latency URLS STREAM SUBJECT N TIMEOUT_S
 *       for N decisions, stored time of the input (header Crest-Sent-Ns, set
 *       by pub) to stored time of the decision: p50, p90, p99, max in ms
 *
 * NATS_TOOL_CA=FILE turns TLS on with that CA; user and password go in the URLs;
 * NATS_TOOL_SEED=FILE authenticates as the nkey user of that seed.
 * A test tool, not part of crest: it prints, and exits non-zero on any fault.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nkey.h"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Whether the NATS library was used (main waits for its threads then). */
static int connected;

/* The nkey user's seed file (NATS_TOOL_SEED), and whether sign_nonce refused
 * a signature that libnats would drop. */
static const char *nkey_seed_path;
static volatile int zero_signature;

/* As crest serve's (engine/serve/serve.c): libnats before 3.8.0 leaves a
 * nonce signature whose first byte is zero out of CONNECT and the server
 * refuses the connection (nats-io/nats.c#705), one in 256; such a signature
 * is not sent, and the connection is tried again with a new nonce. */
static natsStatus sign_nonce(char **err_txt, unsigned char **sig, int *sig_len, const char *nonce,
                             void *closure)
{
    (void)closure;
    char text[256] = "";
    FILE *f = fopen(nkey_seed_path, "r");
    if (f) {
        if (!fgets(text, sizeof text, f))
            text[0] = '\0';
        fclose(f);
    }
    const char *seed = NULL;
    unsigned char *out = malloc(SERVE_NKEY_SIG_LEN);
    if (!out || serve_nkey_find_seed(text, &seed) != 0 ||
        serve_nkey_sign(seed, SERVE_NKEY_SEED_LEN, (const uint8_t *)nonce, strlen(nonce), out) != 0) {
        free(out);
        *err_txt = strdup("no user seed to sign the nonce with");
        return NATS_ERR;
    }
    if (out[0] == 0 && nats_GetVersionNumber() < 0x030800) {
        free(out);
        zero_signature = 1;
        *err_txt = strdup("a nonce signature beginning with a zero byte, which this libnats drops");
        return NATS_ERR;
    }
    *sig = out;
    *sig_len = SERVE_NKEY_SIG_LEN;
    return NATS_OK;
}

static natsConnection *connect_to(const char *urls)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    char *copy = strdup(urls);
    const char *list[16];
    int n = 0;
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t && n < 16; t = strtok_r(NULL, ",", &save))
        list[n++] = t;
    natsOptions_Create(&o);
    natsOptions_SetServers(o, list, n);
    natsOptions_SetMaxReconnect(o, -1);
    natsOptions_SetReconnectWait(o, 200);
    /* TLS for the security test: the CA of the servers' certificate (credentials go in the URL). */
    const char *ca = getenv("NATS_TOOL_CA");
    if (ca) {
        natsOptions_SetSecure(o, true);
        natsOptions_LoadCATrustedCertificates(o, ca);
    }
    /* An nkey user: the file holding its seed. */
    const char *seed_file = getenv("NATS_TOOL_SEED");
    if (seed_file) {
        char text[256] = "", pub[SERVE_NKEY_PUBLIC_LEN + 1];
        FILE *f = fopen(seed_file, "r");
        const char *seed = NULL;
        if (!f || !fgets(text, sizeof text, f) || serve_nkey_find_seed(text, &seed) != 0 ||
            serve_nkey_user_public(seed, SERVE_NKEY_SEED_LEN, pub) != 0) {
            fprintf(stderr, "nats_tool: no user seed in %s\n", seed_file);
            exit(2);
        }
        fclose(f);
        nkey_seed_path = seed_file;
        natsOptions_SetNKey(o, pub, sign_nonce, NULL);
    }
    /* A connection sign_nonce refused is tried again (a new nonce). */
    natsStatus s = NATS_OK;
    for (int tries = 1;; tries++) {
        zero_signature = 0;
        s = natsConnection_Connect(&nc, o);
        if (s == NATS_OK || !zero_signature || tries == 5)
            break;
        fprintf(stderr, "nats_tool: connect %s: zero-byte nonce signature; trying again\n", urls);
    }
    connected = 1;
    natsOptions_Destroy(o);
    free(copy);
    if (s != NATS_OK) {
        fprintf(stderr, "nats_tool: connect %s: %s\n", urls, natsStatus_GetText(s));
        nats_CloseAndWait(5000); /* as main does: no exit under the library's threads */
        exit(2);
    }
    return nc;
}

/* One record of a CSV text starting at p (quotes may hold line ends); its end. */
static const char *record_end(const char *p)
{
    int quoted = 0;
    for (; *p; p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (*p == '\n' && !quoted)
            return p + 1;
    }
    return p;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n)
        exit(2);
    s[n] = '\0';
    fclose(f);
    return s;
}

static int cmd_pub(const char *urls, const char *subject, const char *path, double rate)
{
    natsConnection *nc = connect_to(urls);
    jsCtx *js = NULL;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 2048;
    natsConnection_JetStream(&js, nc, &jo);
    char *text = read_file(path);
    const char *p = text;
    const char *hend = record_end(p);
    char *header = strndup(p, (size_t)(hend - p));
    header[strcspn(header, "\r\n")] = '\0';
    p = hend;
    long n = 0, failed = 0;
    const int64_t t0 = now_ns();
    while (*p) {
        const char *e = record_end(p);
        if (rate > 0) {
            const int64_t due = t0 + (int64_t)((double)n * 1e9 / rate);
            int64_t wait;
            while ((wait = due - now_ns()) > 0) {
                struct timespec ts = {wait / 1000000000, wait % 1000000000};
                nanosleep(&ts, NULL);
            }
        }
        natsMsg *m = NULL;
        natsMsg_Create(&m, subject, NULL, p, (int)(e - p));
        natsMsgHeader_Set(m, "Crest-Header", header);
        char sent[32];
        snprintf(sent, sizeof sent, "%" PRId64, now_ns());
        natsMsgHeader_Set(m, "Crest-Sent-Ns", sent);
        const natsStatus s = js_PublishMsgAsync(js, &m, NULL);
        natsMsg_Destroy(m);
        if (s != NATS_OK) {
            /* Retry this record (a server may be restarting). */
            failed++;
            nats_Sleep(100);
            continue;
        }
        n++;
        p = e;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    natsStatus s = js_PublishAsyncComplete(js, &po);
    fprintf(stderr, "nats_tool: published %ld records (%ld retried) in %.2f s: %s\n", n, failed,
            (double)(now_ns() - t0) * 1e-9, natsStatus_GetText(s));
    free(header);
    free(text);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return s == NATS_OK ? 0 : 1;
}

/* An ordered read of the stream from its start: an ordered push consumer,
 * which the library re-creates at the next sequence when a server of the
 * cluster goes away. (A pull consumer's Fetch crashed this tool once in the
 * cluster test, right after a server was killed and restarted.) */
static int cmd_dump(const char *urls, const char *stream, const char *subject, const char *out, long want,
                    double timeout_s)
{
    natsConnection *nc = connect_to(urls);
    jsCtx *js = NULL;
    natsConnection_JetStream(&js, nc, NULL);
    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverAll;
    jsErrCode jerr = 0;
    /* Right after a server restart the cluster may still be electing: retry. */
    natsStatus s = NATS_TIMEOUT;
    for (int attempt = 0; attempt < 60 && s != NATS_OK; attempt++) {
        s = js_SubscribeSync(&sub, js, subject, NULL, &so, &jerr);
        if (s != NATS_OK)
            nats_Sleep(1000);
    }
    if (s != NATS_OK) {
        fprintf(stderr, "nats_tool: subscribe: %s (%d)\n", natsStatus_GetText(s), (int)jerr);
        return 2;
    }
    FILE *f = fopen(out, "wb");
    long got = 0;
    const int64_t end = now_ns() + (int64_t)(timeout_s * 1e9);
    int64_t extra_until = 0;
    while (now_ns() < (extra_until ? extra_until : end)) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, 200) != NATS_OK)
            continue;
        fwrite(natsMsg_GetData(m), 1, (size_t)natsMsg_GetDataLength(m), f);
        natsMsg_Destroy(m);
        got++;
        if (got >= want && !extra_until)
            extra_until = now_ns() + 1000000000;
    }
    fclose(f);
    fprintf(stderr, "nats_tool: %ld messages on %s (wanted %ld)\n", got, subject, want);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return got == want ? 0 : 1;
}

/* One message: the whole file as its body, no header. */
static int cmd_pub1(const char *urls, const char *subject, const char *path)
{
    natsConnection *nc = connect_to(urls);
    jsCtx *js = NULL;
    natsConnection_JetStream(&js, nc, NULL);
    char *text = read_file(path);
    jsPubAck *pa = NULL;
    const natsStatus s = js_Publish(&pa, js, subject, text, (int)strlen(text), NULL, NULL);
    jsPubAck_Destroy(pa);
    free(text);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return s == NATS_OK ? 0 : 1;
}

/* A new nkey user: its seed into seed_path, its public key on stdout. */
static int cmd_nkey(const char *seed_path)
{
    uint8_t secret[32];
    FILE *r = fopen("/dev/urandom", "rb");
    if (!r || fread(secret, 1, sizeof secret, r) != sizeof secret) {
        fprintf(stderr, "nats_tool: cannot read /dev/urandom\n");
        return 2;
    }
    fclose(r);
    char seed[SERVE_NKEY_SEED_LEN + 1], pub[SERVE_NKEY_PUBLIC_LEN + 1];
    serve_nkey_user_seed(secret, seed);
    if (serve_nkey_user_public(seed, SERVE_NKEY_SEED_LEN, pub) != 0) {
        fprintf(stderr, "nats_tool: the new seed does not decode\n");
        return 2;
    }
    FILE *f = fopen(seed_path, "w");
    if (!f || fprintf(f, "%s\n", seed) < 0 || fclose(f) != 0) {
        fprintf(stderr, "nats_tool: cannot write %s\n", seed_path);
        return 2;
    }
    printf("%s\n", pub);
    return 0;
}

static int cmd_nonces(const char *seed_file)
{
    /* An nkey seed alone, or a credentials file's seed block. */
    char *text = read_file(seed_file);
    const char *block = strstr(text, "BEGIN USER NKEY SEED");
    const char *seed = NULL;
    if (serve_nkey_find_seed(block ? block : text, &seed) != 0) {
        fprintf(stderr, "nats_tool: no user seed in %s\n", seed_file);
        return 2;
    }
    /* One signature in 256 begins with a zero byte: look among 100,000. */
    char zero[32] = "", other[32] = "";
    for (int k = 0; k < 100000 && !(zero[0] && other[0]); k++) {
        char nonce[32];
        uint8_t sig[SERVE_NKEY_SIG_LEN];
        snprintf(nonce, sizeof nonce, "crestNonce%05d", k);
        if (serve_nkey_sign(seed, SERVE_NKEY_SEED_LEN, (const uint8_t *)nonce, strlen(nonce), sig) != 0)
            return 2;
        strcpy(sig[0] == 0 ? zero : other, nonce);
    }
    free(text);
    if (!zero[0]) {
        fprintf(stderr, "nats_tool: no nonce with a zero-byte signature in 100,000\n");
        return 1;
    }
    printf("%s %s\n", zero, other);
    return 0;
}

static int cmd_count(const char *urls, const char *stream)
{
    natsConnection *nc = connect_to(urls);
    jsCtx *js = NULL;
    natsConnection_JetStream(&js, nc, NULL);
    jsStreamInfo *si = NULL;
    natsStatus s = js_GetStreamInfo(&si, js, stream, NULL, NULL);
    if (s != NATS_OK) {
        fprintf(stderr, "nats_tool: stream %s: %s\n", stream, natsStatus_GetText(s));
        return 2;
    }
    printf("%" PRIu64 "\n", si->State.Msgs);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Latency: each decision's stored time minus its input's send time (Crest-Sent-Ns is not
 * carried; the decision's row starts with decl_id, the input's send time is looked up by id
 * from the input stream). Both streams are read from their start. */
static int cmd_latency(const char *urls, const char *in_stream, const char *out_stream, long n,
                       double timeout_s)
{
    natsConnection *nc = connect_to(urls);
    jsCtx *js = NULL;
    natsConnection_JetStream(&js, nc, NULL);
    int64_t *sent = calloc((size_t)n, sizeof *sent), *lat = calloc((size_t)n, sizeof *lat);
    char **ids = calloc((size_t)n, sizeof *ids);
    long n_in = 0, n_lat = 0;
    const int64_t end = now_ns() + (int64_t)(timeout_s * 1e9);
    for (int pass = 0; pass < 2; pass++) {
        natsSubscription *sub = NULL;
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = pass == 0 ? in_stream : out_stream;
        so.Config.AckPolicy = js_AckNone;
        jsErrCode jerr = 0;
        if (js_PullSubscribe(&sub, js, ">", NULL, NULL, &so, &jerr) != NATS_OK) {
            fprintf(stderr, "nats_tool: subscribe %s failed\n", so.Stream);
            return 2;
        }
        long seen = 0;
        while (seen < n && now_ns() < end) {
            natsMsgList list = {0};
            natsSubscription_Fetch(&list, sub, 1024, 500, &jerr);
            for (int i = 0; i < list.Count && seen < n; i++) {
                natsMsg *m = list.Msgs[i];
                const char *d = natsMsg_GetData(m);
                const size_t id_len = strcspn(d, ",\n");
                if (pass == 0) {
                    const char *v = NULL;
                    natsMsgHeader_Get(m, "Crest-Sent-Ns", &v);
                    ids[n_in] = strndup(d, id_len);
                    sent[n_in++] = v ? strtoll(v, NULL, 10) : 0;
                } else {
                    jsMsgMetaData *meta = NULL;
                    natsMsg_GetMetaData(&meta, m);
                    /* Decisions come roughly in input order: scan on from the last match. */
                    static long hint = 0;
                    for (long j = 0; j < n_in; j++) {
                        const long k = (hint + j) % n_in;
                        if (strlen(ids[k]) == id_len && memcmp(ids[k], d, id_len) == 0) {
                            lat[n_lat++] = meta->Timestamp - sent[k];
                            hint = k;
                            break;
                        }
                    }
                    jsMsgMetaData_Destroy(meta);
                }
                seen++;
            }
            natsMsgList_Destroy(&list);
        }
        natsSubscription_Destroy(sub);
    }
    qsort(lat, (size_t)n_lat, sizeof *lat, cmp_i64);
    if (n_lat == 0) {
        fprintf(stderr, "nats_tool: no decisions\n");
        return 1;
    }
    printf("decisions %ld of %ld: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", n_lat, n,
           (double)lat[n_lat / 2] / 1e6, (double)lat[n_lat * 9 / 10] / 1e6,
           (double)lat[n_lat * 99 / 100] / 1e6, (double)lat[n_lat - 1] / 1e6);
    return n_lat == n ? 0 : 1;
}

static int run_command(int argc, char **argv)
{
    if (argc >= 5 && !strcmp(argv[1], "pub"))
        return cmd_pub(argv[2], argv[3], argv[4], argc > 5 ? atof(argv[5]) : 0);
    if (argc == 8 && !strcmp(argv[1], "dump"))
        return cmd_dump(argv[2], argv[3], argv[4], argv[5], atol(argv[6]), atof(argv[7]));
    if (argc == 3 && !strcmp(argv[1], "nkey"))
        return cmd_nkey(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "nonces"))
        return cmd_nonces(argv[2]);
    if (argc == 5 && !strcmp(argv[1], "pub1"))
        return cmd_pub1(argv[2], argv[3], argv[4]);
    if (argc == 4 && !strcmp(argv[1], "count"))
        return cmd_count(argv[2], argv[3]);
    if (argc == 7 && !strcmp(argv[1], "latency"))
        return cmd_latency(argv[2], argv[3], argv[4], atol(argv[5]), atof(argv[6]));
    fprintf(stderr, "usage: see the comment at the top of tests/serve/nats_tool.c\n");
    return 2;
}

int main(int argc, char **argv)
{
    const int rc = run_command(argc, argv);
    /* Let the library's threads end before exit() tears down OpenSSL under
     * them: without it a TLS connection's reader thread could crash the
     * process after the command succeeded (serve_security, now and then). */
    if (connected && nats_CloseAndWait(5000) != NATS_OK)
        fprintf(stderr, "nats_tool: the NATS library's threads did not end within 5 s\n");
    return rc;
}
