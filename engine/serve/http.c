/*
 * http.c — the service's HTTP endpoint on libmicrohttpd (its own thread):
 * GET /healthz (the process answers), GET /readyz (connected, subscribed,
 * a policy loaded), GET /metrics (Prometheus text), and with a token
 * configured POST /decide (one declaration in the body, its decision out,
 * synchronously) and POST /reload. Without the token — or with a wrong one —
 * those two answer 401; without a configured token they answer 403.
 * It binds to loopback unless an address is given.
 */
#define _POSIX_C_SOURCE 200809L
#include "serve_internal.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY (1024 * 1024)

/* The body of a POST, gathered across calls. */
typedef struct upload {
    char *data;
    size_t len;
    int too_big;
} upload;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type, const char *body,
                             size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    const enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned code, const char *s)
{
    return reply(c, code, "text/plain; charset=utf-8", s, strlen(s));
}

/* Constant-time comparison of the bearer token. */
static int token_ok(const crest_serve *srv, struct MHD_Connection *c)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!auth || strncmp(auth, "Bearer ", 7) != 0)
        return 0;
    const char *given = auth + 7;
    const size_t n = strlen(srv->token), m = strlen(given);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(srv->token[i] ^ (i < m ? given[i] : 0));
    return diff == 0;
}

static enum MHD_Result handle_decide(crest_serve *srv, struct MHD_Connection *c, const upload *u)
{
    const char *header = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Crest-Header");
    crest_outcome o;
    pthread_mutex_lock(&srv->decide_mu);
    const crest_status st = crest_decider_decide(srv->decider, header, header ? strlen(header) : 0,
                                                 u->data ? u->data : "", u->len, &o);
    enum MHD_Result r;
    if (st != CREST_OK || o.capacity_error) {
        r = text(c, 503, "the decision could not be made now\n");
    } else {
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(o.len, (void *)o.bytes, MHD_RESPMEM_MUST_COPY);
        if (!resp) {
            pthread_mutex_unlock(&srv->decide_mu);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "text/csv; charset=utf-8");
        MHD_add_response_header(resp, "Crest-Policy-Hash", crest_policy_hash_hex(srv->policy));
        if (!o.decided)
            MHD_add_response_header(resp, "Crest-Reason", o.reason);
        r = MHD_queue_response(c, o.decided ? 200 : 422, resp);
        MHD_destroy_response(resp);
    }
    pthread_mutex_unlock(&srv->decide_mu);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *data_size, void **con_cls)
{
    (void)version;
    crest_serve *srv = cls;
    const int post = strcmp(method, "POST") == 0;
    if (post) {
        /* First call: set up the body; then pieces; then the last call with none. */
        upload *u = *con_cls;
        if (!u) {
            if (!(u = calloc(1, sizeof *u)))
                return MHD_NO;
            *con_cls = u;
            return MHD_YES;
        }
        if (*data_size) {
            if (u->len + *data_size > MAX_BODY) {
                u->too_big = 1;
            } else {
                char *p = realloc(u->data, u->len + *data_size + 1);
                if (!p)
                    return MHD_NO;
                memcpy(p + u->len, data, *data_size);
                u->data = p;
                u->len += *data_size;
                u->data[u->len] = '\0';
            }
            *data_size = 0;
            return MHD_YES;
        }
        if (strcmp(url, "/decide") != 0 && strcmp(url, "/reload") != 0)
            return text(c, 404, "not found\n");
        if (!srv->token)
            return text(c, 403, "disabled: the service has no token configured (--token-file)\n");
        if (!token_ok(srv, c))
            return text(c, 401, "a valid token is required (Authorization: Bearer TOKEN)\n");
        if (u->too_big)
            return text(c, 413, "the body is over 1 MiB\n");
        if (strcmp(url, "/reload") == 0) {
            crest_serve_request_reload(srv);
            return text(c, 202, "reload requested\n");
        }
        return handle_decide(srv, c, u);
    }
    if (strcmp(method, "GET") != 0)
        return text(c, 405, "method not allowed\n");
    if (strcmp(url, "/healthz") == 0)
        return text(c, 200, "ok\n");
    if (strcmp(url, "/readyz") == 0) {
        pthread_mutex_lock(&srv->metrics.mu);
        const int ready = srv->metrics.connected && srv->metrics.subscribed && atomic_load(&srv->ready);
        pthread_mutex_unlock(&srv->metrics.mu);
        return ready ? text(c, 200, "ready\n") : text(c, 503, "not ready\n");
    }
    if (strcmp(url, "/metrics") == 0) {
        size_t len = 0;
        char *body = metrics_render(&srv->metrics, &len);
        if (!body)
            return text(c, 500, "out of memory\n");
        struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!r) {
            free(body);
            return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        const enum MHD_Result ok = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ok;
    }
    return text(c, 404, "not found\n");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    (void)code;
    upload *u = *con_cls;
    if (u) {
        free(u->data);
        free(u);
        *con_cls = NULL;
    }
}

int serve_http_start(crest_serve *srv, crest_diag *diag)
{
    /* "PORT" (loopback) or "HOST:PORT" with an IPv4 host. */
    const char *addr = srv->cfg.http_addr;
    const char *colon = strrchr(addr, ':');
    char host[64] = "127.0.0.1";
    const char *port_text = addr;
    if (colon) {
        const size_t n = (size_t)(colon - addr);
        if (n == 0 || n >= sizeof host) {
            crest_diag_set(diag, CREST_ERR_INVALID, "--http", 0, 0, "'%s' is not HOST:PORT", addr);
            return -1;
        }
        memcpy(host, addr, n);
        host[n] = '\0';
        port_text = colon + 1;
    }
    char *end = NULL;
    const unsigned long port = strtoul(port_text, &end, 10);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (!*port_text || *end || port == 0 || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        crest_diag_set(diag, CREST_ERR_INVALID, "--http", 0, 0, "'%s' is not PORT or IPV4:PORT", addr);
        return -1;
    }
    srv->http = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL, on_request, srv,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED,
                                 on_completed, srv, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!srv->http) {
        crest_diag_set(diag, CREST_ERR_IO, "--http", 0, 0, "cannot listen on %s:%lu", host, port);
        return -1;
    }
    serve_log(srv, CREST_SERVE_INFO, "event=http_listening addr=%s:%lu token=%s", host, port,
              srv->token ? "yes" : "no");
    return 0;
}

void serve_http_stop(crest_serve *srv)
{
    if (srv->http) {
        MHD_stop_daemon(srv->http);
        srv->http = NULL;
    }
}
