/*
 * cmd_serve.c — `crest serve`: the engine as a long-running service on NATS
 * JetStream. The service is its own program, crest-serve (serve_main.c, over
 * libcrest_serve in engine/serve/), installed next to crest: `crest serve`
 * replaces itself with it (same process id, so signals and systemd's MAINPID
 * reach the service). Keeping libnats, libmicrohttpd and their TLS libraries
 * out of `crest` keeps every other command as small as before (a process that
 * maps them starts about 4 MB larger). This file holds the usage text, which
 * `crest help serve` prints without the service. crest itself never opens the
 * NATS library, so its own exits here (crest-serve not found) have no NATS
 * threads to wait for; crest-serve waits for them before it exits.
 */
#define _GNU_SOURCE /* readlink */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage_serve(FILE *f)
{
    fprintf(f,
            "usage: crest serve --policy FILE --input SUBJECT --output SUBJECT [options]\n"
            "\n"
            "Decide declarations from a NATS JetStream stream, one per message, and publish\n"
            "one decision per declaration (the bytes of `crest run`'s row) with\n"
            "Nats-Msg-Id = decl_id:policy-hash. An input is acknowledged only after its own\n"
            "output's PubAck; anything else is handed back and redelivered.\n"
            "\n"
            "  --policy FILE          the policy (reloaded on SIGHUP, --watch-policy, POST /reload)\n"
            "  --registry FILE        enterprise credit registry\n"
            "  --nats URLS            comma-separated servers (default nats://127.0.0.1:4222)\n"
            "  --input SUBJECT        declarations: a CSV record (header: message header Crest-Header,\n"
            "                         else --csv-header) or a JSON object per message\n"
            "  --output SUBJECT       decisions\n"
            "  --rejects SUBJECT      rejections (default OUTPUT.rejects)\n"
            "  --stream NAME          input stream (default DECL)\n"
            "  --out-stream NAME      stream of decisions and rejects (default DECISIONS)\n"
            "  --durable NAME         durable pull consumer shared by instances (default crest)\n"
            "  --csv-header LINE      header of CSV messages without Crest-Header\n"
            "  --format csv|jsonl     decisions' format (default csv)\n"
            "  --create-streams       create missing streams, consumer and capacity bucket\n"
            "  --replicas N           replicas of what --create-streams makes (default 1)\n"
            "  --ack-wait SECONDS     consumer ack wait when created (default 30)\n"
            "  --batch N              messages per fetch (default 256)\n"
            "  --max-deliveries N     a message delivered more often goes to rejects as REDELIVERED (default "
            "50)\n"
            "  --capacity-bucket NAME KV bucket of the per office-day RED counters (default crest_capacity)\n"
            "  --nats-creds FILE      an nkey user seed (SU...), or a credentials file (JWT + seed)\n"
            "  --nats-user USER --nats-password-file FILE\n"
            "  --tls-ca FILE          CA of the servers' certificates (turns TLS on)\n"
            "  --tls-cert FILE --tls-key FILE   client certificate (mutual TLS)\n"
            "  --http [HOST:]PORT     /healthz /readyz /metrics (host 127.0.0.1 unless given)\n"
            "  --token-file FILE      token for POST /decide and POST /reload (refused without it)\n"
            "  --watch-policy         reload when the policy file changes\n"
            "  --deliver-from DATE    a consumer created now starts at DATE (YYYY-MM-DD or\n"
            "                         YYYY-MM-DDTHH:MM:SSZ, UTC): replay a stream from a date\n"
            "\n"
            "Signals: SIGTERM/SIGINT finish the batch in hand and exit 0; SIGHUP reloads the policy\n"
            "(a policy that does not load is refused and the old one keeps deciding).\n"
            "Log lines on stderr: ts=… level=… event=… key=value.\n");
}

/* Option ids: one per long option (the struct option table below). */
/* Run crest-serve from crest's own directory with the same arguments. */
static int cmd_serve_exec(int argc, char **argv)
{
    (void)argc;
    char path[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 16);
    if (n <= 0) {
        fprintf(stderr, "%s: serve: cannot find crest's own path: %s\n", prog, strerror(errno));
        return EXIT_CONFIG;
    }
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    strcpy(slash ? slash + 1 : path, "crest-serve");
    argv[0] = path;
    execv(path, argv);
    fprintf(stderr, "%s: serve: cannot run %s: %s\n", prog, path, strerror(errno));
    return EXIT_CONFIG;
}

const cli_command cli_cmd_serve = {
    "serve",
    "serve --policy FILE --input SUBJECT --output SUBJECT [--nats URLS] [--http PORT]",
    "decide a NATS JetStream feed as a long-running service (shared by instances)",
    cmd_serve_exec,
    usage_serve,
};
