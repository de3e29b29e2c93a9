/*
 * cli_util.c — the helpers every `crest` subcommand shares: exit codes from
 * statuses, messages, getopt_long with crest's wording, loading the policy
 * and registry, opening inputs, signals, the progress line, reading an input
 * into an engine, and outputs written atomically (temporary file + rename).
 *
 * It decides nothing: decisions, statistics and file formats are libcrest's.
 */
#define _GNU_SOURCE /* getopt_long */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

extern const char crest_builtin_policy[]; /* policies/order251.conf, embedded at build time */

const char *prog = "crest";

/* ---------------------------------------------------------- exit codes */

int exit_code_of(crest_status status, cli_stage stage)
{
    if (status == CREST_OK)
        return EXIT_OK;
    if (status == CREST_ERR_INTERRUPTED)
        return EXIT_INTERRUPTED;
    if (status == CREST_ERR_NOMEM)
        return EXIT_IO;
    switch (stage) {
    case CLI_LOAD:
        return EXIT_CONFIG;
    case CLI_READ:
        return status == CREST_ERR_IO ? EXIT_IO : EXIT_INPUT;
    case CLI_WRITE:
        return EXIT_IO;
    }
    return EXIT_IO;
}

/* ------------------------------------------------------------ messages */

void print_diag(const crest_diag *d)
{
    if (d->line && d->column)
        fprintf(stderr, "%s: %s:%lu:%lu: %s\n", prog, d->file, d->line, d->column, d->message);
    else if (d->line)
        fprintf(stderr, "%s: %s:%lu: %s\n", prog, d->file, d->line, d->message);
    else
        fprintf(stderr, "%s: %s: %s\n", prog, d->file[0] ? d->file : "error", d->message);
}

/* ------------------------------------------------------------- options */

void cli_getopt_begin(void)
{
    optind = 0; /* glibc: 0 starts a new parse from scratch */
    opterr = 0; /* the messages are ours */
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts, const char *cmd)
{
    const int c = getopt_long(argc, argv, shortopts, longopts, NULL);
    if (c != '?' && c != ':')
        return c;
    /* argv[optind - 1] is the offending word for a long option; a short one may sit in a cluster. */
    const char *word = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    char shortname[3] = {'-', (char)optopt, '\0'};
    const char *name = optopt && strncmp(word, "--", 2) != 0 ? shortname : word;
    if (c == ':')
        fprintf(stderr, "%s: %s needs a value (see `crest help %s`)\n", prog, name, cmd);
    else
        fprintf(stderr, "%s: unknown option '%s' (see `crest help %s`)\n", prog, name, cmd);
    return '?';
}

int arg_choice(const char *option, const char *value, const char *const choices[])
{
    size_t n = 0;
    for (; choices[n]; n++)
        if (!strcmp(value, choices[n]))
            return (int)n;
    fprintf(stderr, "%s: %s is ", prog, option);
    for (size_t k = 0; k < n; k++)
        fprintf(stderr, "%s%s", k == 0 ? "" : k + 1 == n ? " or " : ", ", choices[k]);
    fprintf(stderr, ", not '%s'\n", value);
    return -1;
}

int arg_number(const char *option, const char *value, double lo, double hi, double *out)
{
    const double x = crest_parse_number(value, strlen(value));
    if (!(x >= lo && x <= hi)) {
        fprintf(stderr, "%s: %s needs a number in [%g, %g], not '%s'\n", prog, option, lo, hi, value);
        return -1;
    }
    *out = x;
    return 0;
}

/* ------------------------------------------------------ policy, inputs */

int load_policy(const char *path, crest_policy **out)
{
    crest_diag d;
    crest_status st = path ? crest_policy_load(path, out, &d)
                           : crest_policy_parse(crest_builtin_policy, strlen(crest_builtin_policy),
                                                "<built-in order251>", out, &d);
    if (st != CREST_OK) {
        print_diag(&d);
        fprintf(stderr, "%s: fix the policy and try again (`crest check --policy FILE` validates it)\n",
                prog);
        return -1;
    }
    return 0;
}

int load_registry(const char *path, const crest_policy *policy, crest_registry **out)
{
    *out = NULL;
    if (!path)
        return 0;
    crest_diag d;
    if (crest_registry_load(path, policy, out, &d) != CREST_OK) {
        print_diag(&d);
        return -1;
    }
    return 0;
}

int open_input(const char *path, const char *what, int *fd, const char **name)
{
    *fd = STDIN_FILENO;
    *name = "<stdin>";
    if (!path || strcmp(path, "-") == 0)
        return 0;
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) {
        fprintf(stderr, "%s: cannot open %s%s: %s\n", prog, what, path, strerror(errno));
        return EXIT_INPUT;
    }
    *name = path;
    return 0;
}

/* --------------------------------------------------- signals, progress */

volatile sig_atomic_t interrupted;

static void on_stop_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

void cli_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress(double t0, uint64_t bytes, uint64_t total, uint64_t rows, int final)
{
    const double el = now_s() - t0;
    const double rate = el > 0 ? (double)rows / el : 0;
    if (final) {
        fputs("\r\033[K", stderr);
        return;
    }
    if (total) {
        const double frac = (double)bytes / (double)total;
        const int width = 30, filled = (int)(frac * width);
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[width] = '\0';
        const double eta = frac > 0 ? el / frac - el : 0;
        fprintf(stderr, "\r[%s] %5.1f%%  %llu rows  %.0f rows/s  ETA %.0fs \033[K", bar, 100 * frac,
                (unsigned long long)rows, rate, eta);
    } else {
        fprintf(stderr, "\r%llu rows  %.1f MB  %.0f rows/s \033[K", (unsigned long long)rows,
                (double)bytes / 1e6, rate);
    }
}

crest_status cli_pump(crest_engine *engine, int fd, const char *name, int show_progress, int *read_error)
{
    struct stat sb;
    const uint64_t size = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
    const double t0 = now_s();
    double last = t0;
    crest_status st = CREST_OK;
    uint64_t bytes = 0;
    *read_error = 0;
    while (st == CREST_OK && !interrupted) {
        /* Read straight into the engine's buffer (the next block when blocks
         * are read in parallel): no copy of the input. */
        size_t cap;
        char *buf = crest_engine_input_buffer(engine, &cap);
        if (!buf) {
            st = crest_engine_commit(engine, 0);
            if (st == CREST_OK)
                st = CREST_ERR_NOMEM;
            break;
        }
        const ssize_t n = read(fd, buf, cap);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "%s: cannot read %s: %s\n", prog, name, strerror(errno));
            *read_error = 1;
            break;
        }
        if (n == 0)
            break;
        bytes += (uint64_t)n;
        st = crest_engine_commit(engine, (size_t)n);
        if (show_progress && now_s() - last > 0.2) {
            progress(t0, bytes, size, crest_engine_rows_read(engine), 0);
            last = now_s();
        }
    }
    if (show_progress)
        progress(t0, bytes, size, 0, 1);
    if (st == CREST_OK && !*read_error) /* stopped early: a record cut by the stop is not decided */
        st = interrupted ? crest_engine_finish_early(engine) : crest_engine_finish(engine);
    return st;
}

int feed_fd(crest_engine *engine, int fd, const char *name, int show_progress)
{
    int read_error;
    const crest_status st = cli_pump(engine, fd, name, show_progress, &read_error);
    if (read_error)
        return EXIT_INPUT;
    if (st == CREST_ERR_INTERRUPTED)
        return EXIT_INPUT; /* a hook stopped: the caller reports why */
    if (st != CREST_OK) {
        print_diag(crest_engine_diag(engine));
        return exit_code_of(st, CLI_READ);
    }
    return interrupted ? EXIT_INTERRUPTED : EXIT_OK;
}

/* ------------------------------------------------------ atomic outputs */

crest_status fd_write(void *ctx, const void *buf, size_t len)
{
    fd_sink *s = ctx;
    const char *p = buf;
    while (len) {
        ssize_t n = write(s->fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            s->saved_errno = errno;
            if (errno == EPIPE)
                s->epipe = 1;
            return CREST_ERR_IO;
        }
        p += n;
        len -= (size_t)n;
    }
    return CREST_OK;
}

int out_open(out_file *o, const char *path)
{
    memset(o, 0, sizeof *o);
    o->path = path;
    o->sink.fd = -1;
    if (!path || strcmp(path, "-") == 0) {
        o->path = NULL;
        o->sink.fd = STDOUT_FILENO;
        return 0;
    }
    /* Not a regular file (/dev/null, a FIFO, a terminal): write to it directly;
     * a temporary file renamed over it would replace the device itself. */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        o->path = NULL;
        o->sink.fd = open(path, O_WRONLY | O_CLOEXEC);
        if (o->sink.fd < 0) {
            fprintf(stderr, "%s: cannot open %s: %s\n", prog, path, strerror(errno));
            return -1;
        }
        o->direct = 1;
        return 0;
    }
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%ld", path, (long)getpid());
    o->sink.fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o->sink.fd < 0) {
        fprintf(stderr, "%s: cannot create %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    return 0;
}

int out_commit(out_file *o)
{
    if (o->direct) {
        close(o->sink.fd);
        o->direct = 0;
        return 0;
    }
    if (!o->path)
        return 0;
    int rc = 0;
    if (fsync(o->sink.fd) != 0 && errno != EINVAL) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, o->path, strerror(errno));
        rc = -1;
    }
    if (close(o->sink.fd) != 0 && rc == 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, o->path, strerror(errno));
        rc = -1;
    }
    o->sink.fd = -1;
    if (rc == 0 && rename(o->tmp, o->path) != 0) {
        fprintf(stderr, "%s: cannot rename %s to %s: %s\n", prog, o->tmp, o->path, strerror(errno));
        rc = -1;
    }
    if (rc != 0)
        unlink(o->tmp);
    return rc;
}

void out_abort(out_file *o)
{
    if (o->direct) {
        close(o->sink.fd);
        o->direct = 0;
        return;
    }
    if (!o->path)
        return;
    if (o->sink.fd >= 0)
        close(o->sink.fd);
    o->sink.fd = -1;
    unlink(o->tmp);
}
