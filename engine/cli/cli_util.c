/*
 * cli_util.c — the helpers every `crest` subcommand shares: exit codes from
 * statuses, messages, getopt_long with crest's wording, loading the policy
 * and registry, opening inputs, signals, the progress line, reading an input
 * into an engine, and outputs written atomically (temporary file + rename).
 *
 * It decides nothing: decisions, statistics and file formats are libcrest's.
 */
#define _GNU_SOURCE /* getopt_long */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/uio.h>
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

/* --set and --model of the command being parsed (CLI_POLICY_OPTIONS), for load_policy. */
#define MAX_SETS 64
static const char *policy_sets[MAX_SETS];
static size_t n_policy_sets;
static char model_set[4096];

void cli_getopt_begin(void)
{
    optind = 0; /* glibc: 0 starts a new parse from scratch */
    opterr = 0; /* the messages are ours */
    n_policy_sets = 0;
}

size_t cli_policy_sets(const char *const **sets)
{
    *sets = policy_sets;
    return n_policy_sets;
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts, const char *cmd)
{
    int c = getopt_long(argc, argv, shortopts, longopts, NULL);
    /* --set SECTION.KEY=VALUE and --model FILE are kept for load_policy, in order. */
    while (c == CLI_OPT_SET || c == CLI_OPT_MODEL) {
        if (n_policy_sets == MAX_SETS) {
            fprintf(stderr, "%s: at most %d --set and --model options\n", prog, MAX_SETS);
            return '?';
        }
        if (c == CLI_OPT_MODEL) {
            snprintf(model_set, sizeof model_set, "model.file=%s", optarg);
            policy_sets[n_policy_sets++] = model_set;
        } else {
            policy_sets[n_policy_sets++] = optarg;
        }
        c = getopt_long(argc, argv, shortopts, longopts, NULL);
    }
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
    const char *const *sets;
    const size_t n_sets = cli_policy_sets(&sets);
    crest_status st = crest_policy_load_set(path, crest_builtin_policy, strlen(crest_builtin_policy),
                                            "<built-in order251>", 0, sets, n_sets, out, &d);
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

int cli_load_inputs(const char *policy_path, const char *registry_path, crest_policy **policy,
                    crest_registry **registry)
{
    *policy = NULL;
    *registry = NULL;
    if (load_policy(policy_path, policy) != 0)
        return EXIT_CONFIG;
    if (load_registry(registry_path, *policy, registry) != 0) {
        crest_policy_free(*policy);
        *policy = NULL;
        return EXIT_CONFIG;
    }
    return EXIT_OK;
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

/* --------------------------------------------------------------- signals */

volatile sig_atomic_t interrupted;
static atomic_int output_broken; /* an output failed or was given up: stop reading */

static atomic_int reload_requests;   /* SIGHUPs not handled yet */
static atomic_int progress_requests; /* SIGUSR1s not answered yet */
static int wake_pipe[2] = {-1, -1};  /* the handler wakes a reader waiting for input */
static int (*reload_fn)(void *ctx);  /* cli_on_reload */
static void *reload_ctx;
static atomic_uint_least64_t seen_bytes; /* what cli_pump has read, for SIGUSR1 */
static atomic_uint_least64_t seen_rows;
static _Atomic double seen_since; /* now_s() when cli_pump began; 0 before */

void cli_on_reload(int (*fn)(void *ctx), void *ctx)
{
    reload_fn = fn;
    reload_ctx = ctx;
}

/* SIGUSR1: one line of progress (printed by the reading thread, between reads). */
static void print_progress_line(void)
{
    const double since = atomic_load(&seen_since);
    const double el = since > 0 ? now_s() - since : 0;
    const uint64_t rows = atomic_load(&seen_rows), bytes = atomic_load(&seen_bytes);
    fprintf(stderr, "%s: progress: %llu rows, %.2f MB read in %.1f s (%.0f rows/s)%s\n", prog,
            (unsigned long long)rows, (double)bytes / 1e6, el, el > 0 ? (double)rows / el : 0.0,
            interrupted ? "; stopping" : "");
}

/* The handler: only flags and a byte into the wake pipe (both async-signal-safe). */
static void on_signal(int sig)
{
    const int saved = errno;
    if (sig == SIGINT || sig == SIGTERM)
        interrupted = 1;
    else if (sig == SIGHUP)
        atomic_fetch_add(&reload_requests, 1);
    else if (sig == SIGUSR1)
        atomic_fetch_add(&progress_requests, 1);
    if (wake_pipe[1] >= 0) {
        const char c = 1;
        ssize_t n = write(wake_pipe[1], &c, 1); /* a full pipe already wakes the reader */
        (void)n;
    }
    errno = saved;
}

void cli_catch_signals(int which)
{
    if (wake_pipe[0] < 0 && pipe(wake_pipe) == 0) {
        for (int k = 0; k < 2; k++) {
            fcntl(wake_pipe[k], F_SETFL, O_NONBLOCK);
            fcntl(wake_pipe[k], F_SETFD, FD_CLOEXEC);
        }
    }
    /* No SA_RESTART: a wait is cut short and its loop looks at the flags. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (which & CLI_SIG_STOP) {
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    if (which & CLI_SIG_HUP)
        sigaction(SIGHUP, &sa, NULL);
    if (which & CLI_SIG_USR1)
        sigaction(SIGUSR1, &sa, NULL);
}

/* Between two reads: answer SIGUSR1 and act on the SIGHUPs that came. */
static void handle_reload_requests(void)
{
    if (atomic_exchange(&progress_requests, 0) != 0)
        print_progress_line();
    if (atomic_exchange(&reload_requests, 0) == 0)
        return;
    if (!reload_fn) {
        fprintf(stderr,
                "%s: SIGHUP: policy reload is not available in this command; the run goes on with the "
                "same policy (nothing decided is lost)\n",
                prog);
        return;
    }
    reload_fn(reload_ctx); /* it says on stderr what happened */
}

int cli_wait_input(int fd)
{
    struct pollfd p[2] = {{fd, POLLIN, 0}, {wake_pipe[0], POLLIN, 0}};
    const nfds_t n = wake_pipe[0] >= 0 ? 2 : 1;
    if (poll(p, n, -1) < 0)
        return 0;
    if (n == 2 && (p[1].revents & POLLIN)) {
        char buf[64];
        while (read(wake_pipe[0], buf, sizeof buf) > 0) {
        }
    }
    return p[0].revents != 0; /* input, end of input or an error: read() tells which */
}

/* -------------------------------------------------------------- progress */

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

/* --------------------------------------------------------------- reading */

int cli_live_quiet_ms = 10;
unsigned long cli_live_flush_every = 0;

/*
 * Reading a regular file in place: it is mapped and fed to the engine in
 * slices with crest_engine_feed_stable, so no byte is copied into a read
 * buffer (nor by the kernel out of the page cache); what the engine no longer
 * holds is released as it goes (MADV_DONTNEED), so the resident set stays
 * near that of the read() loop.
 *
 * A file that shrinks while it is mapped faults (SIGBUS) where read() would
 * have come short. The handler maps zero pages over the rest of the mapping
 * (so the reader goes on, over NULs) and notes it; the pump, which also
 * compares the file's size before each slice, then stops feeding and lets
 * the read loop find the end short, as it does for a file read with read():
 * the run ends as an input error ("shrank while it was read").
 */
#define MAP_SLICE ((size_t)2 << 20)
#define MAP_RELEASE ((size_t)2 << 20) /* release in steps of at least this */

/* The mappings the SIGBUS handler may patch: the reading's (cli_map_pump)
 * and the input hash's (cli_file_sha256), which may be live at once on two
 * threads. The handler is installed while either is (guard_hold). */
typedef struct map_guard {
    char *volatile base;
    volatile size_t len;
    volatile sig_atomic_t faulted;
    int in_use; /* under guard_lock: taken by a mapper */
} map_guard;
enum { GUARD_READ, GUARD_HASH, N_GUARDS };
static map_guard guards[N_GUARDS];
static volatile size_t map_page;
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static int guard_users;
static struct sigaction map_old_bus; /* the SIGBUS action before the first guard */

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    char *const a = si->si_addr;
    for (int g = 0; g < N_GUARDS; g++) {
        char *const base = guards[g].base;
        const size_t len = guards[g].len;
        if (base && a >= base && a < base + len) {
            char *const page = (char *)((uintptr_t)a & ~(uintptr_t)(map_page - 1));
            if (mmap(page, (size_t)(base + len - page), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                     -1, 0) != MAP_FAILED) {
                guards[g].faulted = 1;
                return;
            }
        }
    }
    signal(sig, SIG_DFL); /* not ours: the fault comes again, with the default action */
}

/* Guard [base, base + len) (mapped by the caller): a fault there maps zero
 * pages over the rest and sets the guard's faulted flag. */
static void guard_hold(int g, char *base, size_t len)
{
    pthread_mutex_lock(&guard_lock);
    const long page = sysconf(_SC_PAGESIZE);
    map_page = page > 0 ? (size_t)page : 4096;
    guards[g].len = len;
    guards[g].faulted = 0;
    guards[g].base = base;
    if (guard_users++ == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGBUS, &sa, &map_old_bus);
    }
    pthread_mutex_unlock(&guard_lock);
}

/* The guard's mapping is gone (the caller unmaps it next, or has). */
static void guard_drop(int g)
{
    pthread_mutex_lock(&guard_lock);
    guards[g].base = NULL;
    if (--guard_users == 0)
        sigaction(SIGBUS, &map_old_bus, NULL);
    pthread_mutex_unlock(&guard_lock);
}

/* Whether the mapped file is shorter than mapped (it shrank), from the
 * handler's note or the file's size now. */
static int map_shrank(int fd, const cli_mapped *m)
{
    struct stat sb;
    return guards[GUARD_READ].faulted || (fstat(fd, &sb) == 0 && (uint64_t)sb.st_size < (uint64_t)m->len);
}

crest_status cli_map_pump(const cli_map_sink *sink, int fd, uint64_t size, cli_mapped *m, int show_progress,
                          double t0, double *last, uint64_t *bytes)
{
    memset(m, 0, sizeof *m);
    /* CREST_NO_MMAP=1 in the environment: read() for every input (to measure both ways). */
    const char *no_map = getenv("CREST_NO_MMAP");
    if ((no_map && *no_map && strcmp(no_map, "0") != 0) || size == 0 || size > SIZE_MAX ||
        guards[GUARD_READ].base || lseek(fd, 0, SEEK_CUR) != 0)
        return CREST_OK;
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
        return CREST_OK;
    (void)madvise(map, (size_t)size, MADV_SEQUENTIAL);
    const long page = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
    guard_hold(GUARD_READ, map, (size_t)size);
    m->base = m->released = map;
    m->len = (size_t)size;
    crest_status st = CREST_OK;
    size_t off = 0;
    while (st == CREST_OK && off < m->len && !interrupted && !output_broken && !map_shrank(fd, m)) {
        handle_reload_requests();
        const size_t n = m->len - off < MAP_SLICE ? m->len - off : MAP_SLICE;
        st = sink->feed(sink->ctx, m->base + off, n);
        off += n;
        *bytes = off;
        atomic_store(&seen_bytes, *bytes);
        atomic_store(&seen_rows, sink->rows(sink->ctx));
        const char *floor = sink->floor(sink->ctx);
        char *upto = m->base + (((size_t)((floor ? floor : m->base + off) - m->base)) & ~((size_t)page - 1));
        if (upto - m->released >= (ptrdiff_t)MAP_RELEASE) {
            (void)madvise(m->released, (size_t)(upto - m->released), MADV_DONTNEED);
            m->released = upto;
        }
        if (show_progress && now_s() - *last > 0.2) {
            progress(t0, *bytes, size, sink->rows(sink->ctx), 0);
            *last = now_s();
        }
    }
    if (map_shrank(fd, m)) {
        /* What was fed past the file's end now is not input: the read loop
         * starts at that end and finds the file short. */
        struct stat sb;
        if (fstat(fd, &sb) == 0 && (uint64_t)sb.st_size < *bytes)
            *bytes = (uint64_t)sb.st_size;
    }
    /* The read loop goes on from here (bytes appended since the mapping too). */
    if (lseek(fd, (off_t)*bytes, SEEK_SET) < 0)
        st = st == CREST_OK ? CREST_ERR_IO : st;
    return st;
}

int cli_map_release(const cli_map_sink *sink, int fd, cli_mapped *m)
{
    if (!m->base)
        return 0;
    const int shrank = map_shrank(fd, m);
    if (sink->floor(sink->ctx))
        return shrank;
    guard_drop(GUARD_READ);
    munmap(m->base, m->len);
    m->base = NULL;
    return shrank;
}

/* Hash the bytes of fd from offset at to its end with pread (the file's
 * offset, which another reader may move, stays where it is). */
static int sha256_pread(int fd, crest_sha256 *h, uint64_t at, const volatile int *stop)
{
    enum { STEP = 1 << 20 };
    char *buf = malloc(STEP);
    if (!buf)
        return -1;
    ssize_t got = 0;
    while (!*stop && (got = pread(fd, buf, STEP, (off_t)at)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        crest_sha256_update(h, buf, (size_t)got);
        at += (uint64_t)got;
    }
    free(buf);
    return *stop || got < 0 ? -1 : 0;
}

/*
 * The file is mapped and hashed in place (no copy out of the page cache),
 * released behind as it goes so the resident set stays small, under a guard
 * of the SIGBUS handler: a file cut short meanwhile faults (the handler maps
 * zero pages over the rest) or is found shorter at the end, and is then
 * hashed again from its start with pread, as the pread loop alone would have
 * read it; bytes appended after the mapping are read with pread too. One
 * hash maps at a time (another one, or a failed mapping, reads with pread).
 */
int cli_file_sha256(int fd, char hex[CREST_SHA256_HEX], const volatile int *stop)
{
    hex[0] = '\0';
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return -1; /* a pipe or a FIFO: its bytes were the reader's alone */
    crest_sha256 h;
    crest_sha256_init(&h);
    uint64_t at = 0;
    const char *no_map = getenv("CREST_NO_MMAP");
    int map_it = !(no_map && *no_map && strcmp(no_map, "0") != 0) && sb.st_size > 0 &&
                 (uint64_t)sb.st_size <= SIZE_MAX;
    if (map_it) {
        pthread_mutex_lock(&guard_lock);
        map_it = !guards[GUARD_HASH].in_use;
        if (map_it)
            guards[GUARD_HASH].in_use = 1;
        pthread_mutex_unlock(&guard_lock);
    }
    char *const map = map_it ? mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    if (map != MAP_FAILED) {
        enum { STEP = 1 << 20, RELEASE = 4 << 20 };
        const size_t len = (size_t)sb.st_size;
        (void)madvise(map, len, MADV_SEQUENTIAL);
        guard_hold(GUARD_HASH, map, len);
        size_t released = 0;
        while (!*stop && at < len && !guards[GUARD_HASH].faulted) {
            const size_t n = len - at < STEP ? len - at : STEP;
            crest_sha256_update(&h, map + at, n);
            at += n;
            if (at - released >= RELEASE) {
                const size_t upto = at & ~(map_page - 1);
                (void)madvise(map + released, upto - released, MADV_DONTNEED);
                released = upto;
            }
        }
        struct stat now;
        if (guards[GUARD_HASH].faulted || fstat(fd, &now) != 0 || (uint64_t)now.st_size < (uint64_t)len) {
            crest_sha256_init(&h); /* cut short while it was hashed: all again, with pread */
            at = 0;
        }
        guard_drop(GUARD_HASH);
        munmap(map, len);
    }
    if (map_it) {
        pthread_mutex_lock(&guard_lock);
        guards[GUARD_HASH].in_use = 0;
        pthread_mutex_unlock(&guard_lock);
    }
    if (*stop || sha256_pread(fd, &h, at, stop) != 0)
        return -1;
    uint8_t digest[CREST_SHA256_BYTES];
    crest_sha256_final(&h, digest);
    crest_sha256_hex(digest, hex);
    return 0;
}

/* The engine as the consumer of a mapped file. */
static crest_status engine_feed_stable(void *ctx, const char *buf, size_t n)
{
    return crest_engine_feed_stable(ctx, buf, n);
}

static const char *engine_floor(void *ctx)
{
    return crest_engine_stable_floor(ctx);
}

static uint64_t engine_rows(void *ctx)
{
    return crest_engine_rows_read(ctx);
}

/*
 * The read loop. Before each read of a non-regular input it waits with poll
 * for input or a signal, so that an idle feed still sees SIGINT, SIGTERM and
 * SIGHUP at once; a regular file is read straight on. On such a feed (a pipe,
 * socket or terminal), when no new byte has come for cli_live_quiet_ms,
 * everything decided so far goes out (crest_engine_flush), so a row that
 * arrives alone is answered at once instead of when a buffer fills.
 */
crest_status cli_pump(crest_engine *engine, int fd, const char *name, int show_progress, int *read_error)
{
    struct stat sb;
    const int regular = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
    const uint64_t size = regular ? (uint64_t)sb.st_size : 0;
    int dirty = 0;              /* bytes fed since the last flush */
    double dirty_since = 0;     /* ... since when: under a steady feed that is never
                                 * quiet, output still goes at least every 5 quiet times */
    unsigned long lines_in = 0; /* line ends fed since the last flush (--flush-every) */
    const double t0 = now_s();
    double last = t0;
    crest_status st = CREST_OK;
    uint64_t bytes = 0;
    *read_error = 0;
    atomic_store(&seen_since, t0);
    cli_mapped mapped = {0};
    const cli_map_sink sink = {engine_feed_stable, engine_floor, engine_rows, engine};
    if (regular && !cli_live_flush_every) /* --flush-every counts lines as the read loop reads them */
        st = cli_map_pump(&sink, fd, size, &mapped, show_progress, t0, &last, &bytes);
    while (st == CREST_OK && !interrupted && !output_broken) {
        handle_reload_requests();
        if (!regular && dirty && cli_live_quiet_ms > 0) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
            const double age_ms = (now_s() - dirty_since) * 1000.0;
            const double left_ms = 5.0 * cli_live_quiet_ms - age_ms;
            const int wait_ms = left_ms <= 0                  ? 0
                                : left_ms < cli_live_quiet_ms ? (int)left_ms
                                                              : cli_live_quiet_ms;
            const int ready = wait_ms > 0 ? poll(&pfd, 1, wait_ms) : 0;
            if (ready < 0 && errno == EINTR)
                continue;
            if (ready == 0) { /* quiet, or the oldest byte waited long enough */
                dirty = 0;
                lines_in = 0;
                st = crest_engine_flush(engine);
                continue;
            }
        }
        /* A pipe or terminal: wait for input or a signal, then look at the flags again. */
        if (!regular && !cli_wait_input(fd))
            continue;
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
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            fprintf(stderr, "%s: cannot read %s: %s\n", prog, name, strerror(errno));
            *read_error = 1;
            break;
        }
        if (n == 0) {
            /* A regular file that ends before the size it had when the run began
             * shrank while it was read: its end is lost, the run cannot be complete. */
            if (regular && bytes < size) {
                fprintf(stderr, "%s: %s shrank while it was read (%llu of %llu bytes): the rest is lost\n",
                        prog, name, (unsigned long long)bytes, (unsigned long long)size);
                *read_error = 2;
            }
            break;
        }
        bytes += (uint64_t)n;
        if (cli_live_flush_every)
            for (const char *p = buf, *end = buf + n; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
                lines_in++;
        st = crest_engine_commit(engine, (size_t)n);
        atomic_store(&seen_bytes, bytes);
        atomic_store(&seen_rows, crest_engine_rows_read(engine));
        if (!dirty)
            dirty_since = now_s();
        dirty = 1;
        if (st == CREST_OK && cli_live_flush_every && lines_in >= cli_live_flush_every) {
            dirty = 0;
            lines_in = 0;
            st = crest_engine_flush(engine);
        }
        if (show_progress && now_s() - last > 0.2) {
            progress(t0, bytes, size, crest_engine_rows_read(engine), 0);
            last = now_s();
        }
    }
    if (show_progress)
        progress(t0, bytes, size, 0, 1);
    /* Stopped early (a signal, a shrunk input): a record cut by the stop is not decided. */
    if (st == CREST_OK && *read_error != 1)
        st = interrupted || *read_error || output_broken ? crest_engine_finish_early(engine)
                                                         : crest_engine_finish(engine);
    if (cli_map_release(&sink, fd, &mapped) && !*read_error) {
        fprintf(stderr, "%s: %s shrank while it was read: the rest is lost\n", prog, name);
        *read_error = 2;
    }
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

/* --------------------------------------------------------------- writing */

/*
 * The end of the last whole record in buf[0..len): the offset after its line
 * end, 0 when buf holds none. *quoted is the CSV state at buf's start and
 * becomes the state at its end. A CSV record ends at a line end outside
 * quotes; a JSON line at every line end (JSON escapes its newlines).
 */
static size_t last_record_end(const fd_sink *s, const char *buf, size_t len, int *quoted)
{
    if (!s->csv || (!*quoted && !memchr(buf, '"', len))) {
        const char *nl = memrchr(buf, '\n', len);
        return nl ? (size_t)(nl - buf) + 1 : 0;
    }
    size_t last = 0;
    int q = *quoted;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        for (const char *x = p; (x = memchr(x, '"', (size_t)(stop - x))) != NULL; x++)
            q ^= 1;
        if (!nl)
            break;
        if (!q)
            last = (size_t)(nl - buf) + 1;
        p = nl + 1;
    }
    *quoted = q;
    return last;
}

/* Bytes a pipe surely takes now without blocking (Linux: capacity less what is unread, less
 * three pages for the partly used buffers at either end). */
static size_t pipe_room(const fd_sink *s)
{
    int unread = 0;
    if (ioctl(s->fd, FIONREAD, &unread) != 0)
        return 0;
    const long room = (long)s->pipe_cap - unread - 3 * 4096;
    return room > 0 ? (size_t)room : 0;
}

static crest_status write_failed(fd_sink *s, int err)
{
    s->saved_errno = err;
    if (err == EPIPE)
        s->epipe = 1;
    return CREST_ERR_IO;
}

/* Wait up to CLI_STOP_WAIT_MS for room in the output; CREST_ERR_IO with stopped = 1 once interrupted,
 * and as write() would fail (EPIPE) once no reader is left. */
static crest_status wait_writable(fd_sink *s)
{
    if (interrupted) {
        s->stopped = 1;
        return CREST_ERR_IO;
    }
    struct pollfd p = {s->fd, POLLOUT, 0};
    if (poll(&p, 1, CLI_STOP_WAIT_MS) > 0) {
        /* The reader closed its end: a pipe it left full never has room again
         * (pipe_room counts what is unread), so write_records would wait forever. */
        if (p.revents & (POLLERR | POLLHUP))
            return write_failed(s, EPIPE);
        /* A pipe is "writable" once one page is free: give the reader time to free more. */
        const struct timespec ts = {0, 50 * 1000};
        nanosleep(&ts, NULL);
    }
    return CREST_OK;
}

/* Write all of p[0..len) to a non-pipe, waiting on poll for a device or socket that is full. */
static crest_status write_plain(fd_sink *s, const char *p, size_t len)
{
    while (len) {
        const ssize_t n = write(s->fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                if (wait_writable(s) != CREST_OK)
                    return CREST_ERR_IO;
                continue;
            }
            return write_failed(s, errno);
        }
        p += n;
        len -= (size_t)n;
    }
    return CREST_OK;
}

/*
 * Write whole records p[0..len) (len ends on a record boundary) to a pipe:
 * each write() takes whole records that fit the pipe's free room, so it does
 * not block and never leaves half a record in the pipe. A first record larger
 * than the pipe can ever hold goes in room-sized pieces (mid_record: p starts
 * inside a record whose rest must go first; a stop then waits for it at most
 * a second before it gives up).
 */
static crest_status write_records(fd_sink *s, const char *p, size_t len, int mid_record)
{
    const size_t max_room = s->pipe_cap > 4 * 4096 ? (size_t)s->pipe_cap - 3 * 4096 : 4096;
    int waits_stopping = 0;
    while (len) {
        const size_t room = pipe_room(s);
        size_t take = 0;
        int q = 0;
        if (room >= len)
            take = len;
        else if (!mid_record)
            take = last_record_end(s, p, room, &q);
        if (take == 0 && room > 0 &&
            (mid_record || last_record_end(s, p, len < max_room ? len : max_room, &q) == 0))
            take = room; /* inside a record longer than the pipe: pieces, it cannot be atomic */
        if (take == 0) {
            if (mid_record && interrupted && ++waits_stopping <= 1000 / CLI_STOP_WAIT_MS) {
                struct pollfd pf = {s->fd, POLLOUT, 0};
                poll(&pf, 1, CLI_STOP_WAIT_MS);
            } else if (wait_writable(s) != CREST_OK) {
                return CREST_ERR_IO;
            }
            continue;
        }
        const ssize_t n = write(s->fd, p, take);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return write_failed(s, errno);
        }
        q = 0;
        mid_record = last_record_end(s, p, (size_t)n, &q) != (size_t)n;
        p += n;
        len -= (size_t)n;
    }
    return CREST_OK;
}

static int hold(fd_sink *s, const char *p, size_t n)
{
    if (n == 0)
        return 0; /* nothing held yet may mean no buffer yet */
    if (s->held_len + n > s->held_cap) {
        size_t cap = s->held_cap ? s->held_cap : 1 << 16;
        while (cap < s->held_len + n)
            cap *= 2;
        char *q = realloc(s->held, cap);
        if (!q)
            return -1;
        s->held = q;
        s->held_cap = cap;
    }
    memcpy(s->held + s->held_len, p, n);
    s->held_len += n;
    return 0;
}

static crest_status write_chunk(fd_sink *s, const void *buf, size_t len)
{
    const char *p = buf;
    if (!s->pipe_cap)
        return write_plain(s, p, len);
    /* A pipe: write up to the last record end; hold the partial record after it. */
    const size_t end = last_record_end(s, p, len, &s->quoted);
    crest_status st = CREST_OK;
    if (end == 0) {
        /* no record ends here: all of it waits */
    } else if (!s->held_len) {
        st = write_records(s, p, end, 0);
    } else if (s->held_len + end <= pipe_room(s)) {
        /* The usual case: the held start of a record and the chunk in one writev, no copy. */
        struct iovec iov[2] = {{s->held, s->held_len}, {(void *)p, end}};
        ssize_t n = writev(s->fd, iov, 2);
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            return write_failed(s, errno);
        n = n < 0 ? 0 : n;
        if ((size_t)n < s->held_len + end) {
            /* Less room than thought (not expected): the rest, from inside a record. */
            const size_t rest_held = (size_t)n < s->held_len ? s->held_len - (size_t)n : 0;
            const size_t skip = (size_t)n > s->held_len ? (size_t)n - s->held_len : 0;
            memmove(s->held, s->held + (s->held_len - rest_held), rest_held);
            s->held_len = rest_held;
            if (hold(s, p + skip, end - skip) != 0)
                return write_failed(s, ENOMEM);
            st = write_records(s, s->held, s->held_len, n > 0);
        }
        s->held_len = 0;
    } else {
        if (hold(s, p, end) != 0)
            return write_failed(s, ENOMEM);
        st = write_records(s, s->held, s->held_len, 0);
        s->held_len = 0;
    }
    if (st == CREST_OK && hold(s, p + end, len - end) != 0)
        return write_failed(s, ENOMEM);
    return st;
}

/*
 * A failed or given-up output does not stop the engine: it takes the rest as
 * a sink to nowhere (discarded) and cli_pump stops reading, so the engine
 * still finishes and its other outputs (the rejects after a closed
 * downstream) get everything decided. The flags say what happened.
 */
crest_status fd_write(void *ctx, const void *buf, size_t len)
{
    fd_sink *s = ctx;
    if (s->saved_errno || s->stopped)
        return CREST_OK;
    if (write_chunk(s, buf, len) != CREST_OK)
        output_broken = 1;
    return CREST_OK;
}

crest_status fd_sink_flush(fd_sink *s)
{
    if (!s->held_len || s->saved_errno || s->stopped)
        return s->saved_errno || s->stopped ? CREST_ERR_IO : CREST_OK;
    const crest_status st = write_plain(s, s->held, s->held_len);
    s->held_len = 0;
    return st;
}

/* --------------------------------------------------------------- outputs */

const char *cli_ending_name(cli_ending ending)
{
    static const char *const names[] = {NULL, "interrupted", "output_error", "downstream_closed",
                                        "input_error"};
    return (size_t)ending < sizeof names / sizeof names[0] ? names[ending] : "unknown";
}

/*
 * Remove PATH.tmp.PID files of processes that are gone (a run killed with
 * SIGKILL, a crash): only names of exactly that form, only when no process
 * has that PID (kill(pid, 0) fails with ESRCH), never this process's.
 */
static void remove_stale_temps(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    if (slash == path)
        snprintf(dir, sizeof dir, "/");
    DIR *d = opendir(dir);
    if (!d)
        return;
    const size_t blen = strlen(base);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strncmp(n, base, blen) != 0 || strncmp(n + blen, ".tmp.", 5) != 0)
            continue;
        const char *digits = n + blen + 5;
        char *end;
        const long pid = strtol(digits, &end, 10);
        if (*digits < '1' || *digits > '9' || *end || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* alive (or not ours to judge): leave it */
        char stale[8192];
        snprintf(stale, sizeof stale, "%s/%s", dir, n);
        if (unlink(stale) == 0)
            fprintf(stderr, "%s: removed %s, left by process %ld which is gone\n", prog, stale, pid);
    }
    closedir(d);
}

static int out_open(out_file *o, const char *path, int csv)
{
    memset(o, 0, sizeof *o);
    o->path = path;
    o->sink.fd = -1;
    o->sink.csv = csv;
    if (!path)
        return 0;
    struct stat st;
    if (!strcmp(path, "-")) {
        o->is_stdout = 1;
        o->sink.fd = STDOUT_FILENO;
    } else if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        /* Not a regular file (/dev/null, a FIFO, a terminal): write to it directly;
         * a temporary file renamed over it would replace the device itself. */
        o->sink.fd = open(path, O_WRONLY | O_CLOEXEC);
        if (o->sink.fd < 0) {
            fprintf(stderr, "%s: cannot open %s: %s\n", prog, path, strerror(errno));
            return -1;
        }
    } else {
        remove_stale_temps(path);
        snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%ld", path, (long)getpid());
        o->sink.fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (o->sink.fd < 0) {
            fprintf(stderr, "%s: cannot create %s: %s\n", prog, path, strerror(errno));
            o->tmp[0] = '\0';
            return -1;
        }
    }
    if (fstat(o->sink.fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
        /* A larger pipe (1 MiB, the unprivileged maximum on Linux) holds many output
         * chunks: whole-record writes then rarely wait for the reader. */
        if (S_ISFIFO(st.st_mode))
            fcntl(o->sink.fd, F_SETPIPE_SZ, 1 << 20);
        const int cap = fcntl(o->sink.fd, F_GETPIPE_SZ);
        o->sink.pipe_cap = cap > 0 ? cap : 0; /* a socket: written plainly */
    }
    return 0;
}

int cli_outputs_open(cli_outputs *o, const char *const paths[CLI_OUT_COUNT], int csv)
{
    memset(o, 0, sizeof *o);
    for (int k = 0; k < CLI_OUT_COUNT; k++)
        o->f[k].sink.fd = -1;
    const char *decisions = paths[CLI_OUT_DECISIONS] ? paths[CLI_OUT_DECISIONS] : "-";
    for (int k = 0; k < CLI_OUT_COUNT; k++) {
        if (out_open(&o->f[k], k == CLI_OUT_DECISIONS ? decisions : paths[k],
                     k == CLI_OUT_DECISIONS ? csv : 1) != 0) {
            cli_outputs_close(o, CLI_OUTPUT_ERROR, 0);
            return -1;
        }
    }
    return 0;
}

int cli_outputs_write_text(cli_outputs *o, int k, const char *text)
{
    out_file *f = &o->f[k];
    if (!text || write_plain(&f->sink, text, strlen(text)) != CREST_OK) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, f->path,
                text ? strerror(f->sink.saved_errno) : "out of memory");
        return -1;
    }
    return 0;
}

int cli_outputs_sync(cli_outputs *o)
{
    int rc = 0;
    for (int k = 0; k < CLI_OUT_COUNT; k++) {
        out_file *f = &o->f[k];
        if (f->sink.fd < 0 || k == CLI_OUT_WINDOWS || k == CLI_OUT_SUMMARY || f->sink.stopped ||
            f->sink.saved_errno)
            continue; /* a stopped output ends on its last whole record: what it holds is dropped */
        if (fd_sink_flush(&f->sink) != CREST_OK ||
            (f->tmp[0] && fsync(f->sink.fd) != 0 && errno != EINVAL && (f->sink.saved_errno = errno))) {
            fprintf(stderr, "%s: cannot write %s: %s\n", prog, f->path, strerror(f->sink.saved_errno));
            rc = -1;
        }
    }
    return rc;
}

/* Rename a temporary file to `to`; 0 or -1 (message printed). */
static int rename_into(const char *tmp, const char *to)
{
    if (rename(tmp, to) != 0) {
        fprintf(stderr, "%s: cannot rename %s to %s: %s\n", prog, tmp, to, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int cli_outputs_close(cli_outputs *o, cli_ending ending, int keep)
{
    int rc = 0;
    /* 1. Flush and close; on success, sync what will be renamed. */
    for (int k = 0; k < CLI_OUT_COUNT; k++) {
        out_file *f = &o->f[k];
        if (f->sink.fd < 0)
            continue;
        if (ending == CLI_COMPLETE && fd_sink_flush(&f->sink) != CREST_OK) {
            fprintf(stderr, "%s: cannot write %s: %s\n", prog, f->path, strerror(f->sink.saved_errno));
            rc = -1;
        } else if (ending != CLI_COMPLETE && !f->sink.stopped && !f->sink.saved_errno) {
            fd_sink_flush(&f->sink); /* whole records only: what is held is a record's start */
        }
        if (f->tmp[0] && ending == CLI_COMPLETE && rc == 0 && fsync(f->sink.fd) != 0 && errno != EINVAL) {
            fprintf(stderr, "%s: cannot write %s: %s\n", prog, f->path, strerror(errno));
            rc = -1;
        }
        if (!f->is_stdout && close(f->sink.fd) != 0 && f->tmp[0] && ending == CLI_COMPLETE && rc == 0) {
            fprintf(stderr, "%s: cannot write %s: %s\n", prog, f->path, strerror(errno));
            rc = -1;
        }
        f->sink.fd = -1;
        free(f->sink.held);
        f->sink.held = NULL;
    }
    /* 2. All written: rename into place; otherwise keep as PATH.partial or remove. */
    for (int k = 0; k < CLI_OUT_COUNT; k++) {
        out_file *f = &o->f[k];
        if (!f->tmp[0])
            continue;
        char partial[4200];
        snprintf(partial, sizeof partial, "%s.partial", f->path);
        if (ending == CLI_COMPLETE && rc == 0) {
            if (rename_into(f->tmp, f->path) != 0)
                rc = -1;
            else
                unlink(partial); /* an earlier run's partial output is no longer the latest */
        } else if (keep) {
            if (rename_into(f->tmp, partial) != 0)
                rc = -1;
        } else {
            unlink(f->tmp);
        }
        f->tmp[0] = '\0';
    }
    return rc;
}

char *cli_summary_with_workload(char *summary_json, char *workload_json)
{
    char *out = NULL;
    if (summary_json && workload_json) {
        /* the summary is one object and a newline: insert before its last '}' */
        char *close = strrchr(summary_json, '}');
        const size_t head = close ? (size_t)(close - summary_json) : 0;
        const size_t n = head + strlen(workload_json) + 32;
        if (close && (out = malloc(n)))
            snprintf(out, n, "%.*s,\"workload\":%s}\n", (int)head, summary_json, workload_json);
    }
    free(summary_json);
    free(workload_json);
    return out;
}
