/*
 * serve_main.c — crest-serve, the program behind `crest serve` (cmd_serve.c
 * replaces crest with it): reads the options, wires signals (SIGTERM/SIGINT:
 * finish the batch in hand and exit 0; SIGHUP: reload the policy), writes
 * the service's structured log lines to stderr, and before exit waits for the
 * NATS library's threads (the program owns libnats's global state, see
 * crest_serve.h). Everything else is libcrest_serve's (engine/serve/).
 */
#define _GNU_SOURCE /* getopt_long */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "crest_serve.h"

#define usage_serve (cli_cmd_serve.usage)

static crest_serve *serving; /* for the signal handlers */

static void on_stop(int sig)
{
    (void)sig;
    if (serving)
        crest_serve_stop(serving);
}

static void on_hup(int sig)
{
    (void)sig;
    if (serving)
        crest_serve_request_reload(serving);
}

/* One log line: time, level, then the service's key=value pairs. */
static void log_line(void *ctx, crest_serve_level level, const char *line)
{
    (void)ctx;
    static const char *const names[] = {"info", "warn", "error"};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "ts=%s.%03ldZ level=%s %s\n", when, ts.tv_nsec / 1000000, names[level], line);
}

enum {
    O_POLICY = 256,
    O_REGISTRY,
    O_NATS,
    O_INPUT,
    O_OUTPUT,
    O_REJECTS,
    O_STREAM,
    O_OUT_STREAM,
    O_DURABLE,
    O_CSV_HEADER,
    O_FORMAT,
    O_CREATE,
    O_REPLICAS,
    O_ACK_WAIT,
    O_BATCH,
    O_MAX_DELIVERIES,
    O_CAP_BUCKET,
    O_CREDS,
    O_USER,
    O_PASSWORD_FILE,
    O_TLS_CA,
    O_TLS_CERT,
    O_TLS_KEY,
    O_HTTP,
    O_TOKEN_FILE,
    O_WATCH,
    O_DELIVER_FROM
};

/* Parse serve's options into cfg: CLI_PARSE_OK, _HELP or _ERROR (message printed). */
static int serve_parse_args(int argc, char **argv, crest_serve_config *cfg)
{
    static const struct option longopts[] = {
        {"policy", required_argument, NULL, O_POLICY},
        {"registry", required_argument, NULL, O_REGISTRY},
        {"nats", required_argument, NULL, O_NATS},
        {"input", required_argument, NULL, O_INPUT},
        {"output", required_argument, NULL, O_OUTPUT},
        {"rejects", required_argument, NULL, O_REJECTS},
        {"stream", required_argument, NULL, O_STREAM},
        {"out-stream", required_argument, NULL, O_OUT_STREAM},
        {"durable", required_argument, NULL, O_DURABLE},
        {"csv-header", required_argument, NULL, O_CSV_HEADER},
        {"format", required_argument, NULL, O_FORMAT},
        {"create-streams", no_argument, NULL, O_CREATE},
        {"replicas", required_argument, NULL, O_REPLICAS},
        {"ack-wait", required_argument, NULL, O_ACK_WAIT},
        {"batch", required_argument, NULL, O_BATCH},
        {"max-deliveries", required_argument, NULL, O_MAX_DELIVERIES},
        {"capacity-bucket", required_argument, NULL, O_CAP_BUCKET},
        {"nats-creds", required_argument, NULL, O_CREDS},
        {"nats-user", required_argument, NULL, O_USER},
        {"nats-password-file", required_argument, NULL, O_PASSWORD_FILE},
        {"tls-ca", required_argument, NULL, O_TLS_CA},
        {"tls-cert", required_argument, NULL, O_TLS_CERT},
        {"tls-key", required_argument, NULL, O_TLS_KEY},
        {"http", required_argument, NULL, O_HTTP},
        {"token-file", required_argument, NULL, O_TOKEN_FILE},
        {"watch-policy", no_argument, NULL, O_WATCH},
        {"deliver-from", required_argument, NULL, O_DELIVER_FROM},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const formats[] = {"csv", "jsonl", NULL};
    int c, k;
    double x;
    cli_getopt_begin();
    while ((c = cli_getopt(argc, argv, ":h", longopts, "serve")) != -1) {
        const char **str = NULL;
        int *num = NULL;
        double hi = 1e6;
        switch (c) {
        case 'h':
            usage_serve(stdout);
            return CLI_PARSE_HELP;
        case '?':
            return CLI_PARSE_ERROR;
        case O_POLICY:
            str = &cfg->policy_path;
            break;
        case O_REGISTRY:
            str = &cfg->registry_path;
            break;
        case O_NATS:
            str = &cfg->nats_url;
            break;
        case O_INPUT:
            str = &cfg->input_subject;
            break;
        case O_OUTPUT:
            str = &cfg->output_subject;
            break;
        case O_REJECTS:
            str = &cfg->rejects_subject;
            break;
        case O_STREAM:
            str = &cfg->stream;
            break;
        case O_OUT_STREAM:
            str = &cfg->out_stream;
            break;
        case O_DURABLE:
            str = &cfg->durable;
            break;
        case O_CSV_HEADER:
            str = &cfg->csv_header;
            break;
        case O_CAP_BUCKET:
            str = &cfg->capacity_bucket;
            break;
        case O_CREDS:
            str = &cfg->creds_file;
            break;
        case O_USER:
            str = &cfg->user;
            break;
        case O_PASSWORD_FILE:
            str = &cfg->password_file;
            break;
        case O_TLS_CA:
            str = &cfg->tls_ca;
            break;
        case O_TLS_CERT:
            str = &cfg->tls_cert;
            break;
        case O_TLS_KEY:
            str = &cfg->tls_key;
            break;
        case O_HTTP:
            str = &cfg->http_addr;
            break;
        case O_DELIVER_FROM:
            str = &cfg->deliver_from;
            break;
        case O_TOKEN_FILE:
            str = &cfg->token_file;
            break;
        case O_REPLICAS:
            num = &cfg->replicas;
            hi = 5;
            break;
        case O_ACK_WAIT:
            num = &cfg->ack_wait_s;
            hi = 3600;
            break;
        case O_BATCH:
            num = &cfg->batch;
            hi = 4096;
            break;
        case O_MAX_DELIVERIES:
            num = &cfg->max_deliveries;
            hi = 1000;
            break;
        case O_CREATE:
            cfg->create_streams = 1;
            break;
        case O_WATCH:
            cfg->watch_policy = 1;
            break;
        case O_FORMAT:
            if ((k = arg_choice("--format", optarg, formats)) < 0)
                return CLI_PARSE_ERROR;
            cfg->format = (crest_format)k;
            break;
        default:
            return CLI_PARSE_ERROR;
        }
        if (str)
            *str = optarg;
        if (num) {
            const char *name = "";
            for (size_t i = 0; longopts[i].name; i++)
                if (longopts[i].val == c)
                    name = longopts[i].name;
            char option[64];
            snprintf(option, sizeof option, "--%s", name);
            x = 0;
            if (arg_number(option, optarg, 1, hi, &x) != 0)
                return CLI_PARSE_ERROR;
            if (x != (double)(int)x) {
                fprintf(stderr, "%s: %s takes a whole number, not '%s'\n", prog, option, optarg);
                return CLI_PARSE_ERROR;
            }
            *num = (int)x;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: serve takes no operands ('%s'); see `crest help serve`\n", prog, argv[optind]);
        return CLI_PARSE_ERROR;
    }
    if (!cfg->policy_path || !cfg->input_subject || !cfg->output_subject) {
        fprintf(stderr, "%s: serve needs --policy, --input and --output (see `crest help serve`)\n", prog);
        return CLI_PARSE_ERROR;
    }
    return CLI_PARSE_OK;
}

/* How long the exit waits for the NATS library's threads (see cmd_serve). */
#define NATS_CLOSE_WAIT_MS 2000

/* Create, serve until a signal stops it, free: the exit code. */
static int serve(const crest_serve_config *cfg)
{
    crest_diag d;
    crest_serve *srv = NULL;
    const crest_status st = crest_serve_create(cfg, &srv, &d);
    if (st != CREST_OK) {
        print_diag(&d);
        /* NATS and the HTTP endpoint (diag file "<nats>", "--http") are the
         * service's I/O: exit 4. Anything else it could not read or load (the
         * policy, registry, criteria, model, a token, password or credentials
         * file) is configuration: exit 2, as for every other command. */
        const int service_io = st == CREST_ERR_IO && (!strcmp(d.file, "<nats>") || !strcmp(d.file, "--http"));
        return exit_code_of(st, service_io ? CLI_WRITE : CLI_LOAD);
    }
    serving = srv;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    crest_serve_run(srv);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_IGN);
    serving = NULL;
    crest_serve_free(srv);
    return EXIT_OK;
}

static int cmd_serve(int argc, char **argv)
{
    crest_serve_config cfg = crest_serve_config_default();
    cfg.log = log_line;
    const int parsed = serve_parse_args(argc, argv, &cfg);
    if (parsed != CLI_PARSE_OK)
        return parsed == CLI_PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    signal(SIGPIPE, SIG_IGN);
    const int rc = serve(&cfg);
    /* Every path that may have opened the NATS library (a refused connection
     * as much as a served one) waits here, the service freed, for its threads
     * to end: returning from main under them tears OpenSSL down beneath a TLS
     * connection's reader, which can crash the process after its work is done
     * (the same fault nats_tool had, tests/serve). Bounded, so that a thread
     * that never ends cannot hold the exit; the exit code stays the service's. */
    const crest_status closed = crest_serve_close_nats(NATS_CLOSE_WAIT_MS);
    if (closed != CREST_OK) {
        char line[128];
        if (closed == CREST_ERR_IO)
            snprintf(line, sizeof line, "event=nats_close_timeout waited_ms=%d", NATS_CLOSE_WAIT_MS);
        else
            snprintf(line, sizeof line, "event=nats_close_failed status=%s", crest_status_name(closed));
        log_line(NULL, CREST_SERVE_WARN, line);
    }
    return rc;
}

int main(int argc, char **argv)
{
    crest_init();
    return cmd_serve(argc, argv);
}
