/*
 * cli_common.h — what the `crest` subcommands share: exit codes, messages,
 * loading the policy and registry, reading an input into an engine with a
 * progress line. Only the CLI includes this; it uses libcrest's public API.
 */
#ifndef CREST_CLI_COMMON_H
#define CREST_CLI_COMMON_H

#include <signal.h>
#include <stdint.h>

#include "crest/crest.h"

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_CONFIG = 2, EXIT_INPUT = 3, EXIT_IO = 4, EXIT_INTERRUPTED = 130 };

extern const char *prog;                  /* "crest", for messages */
extern volatile sig_atomic_t interrupted; /* set by SIGINT/SIGTERM where installed */

/* Monotonic seconds. */
double now_s(void);
/* One progress line on stderr (rows, rate, ETA when total > 0); final clears it. */
void progress(double t0, uint64_t bytes, uint64_t total, uint64_t rows, int final);
/* "crest: FILE:LINE:COLUMN: message" on stderr. */
void print_diag(const crest_diag *d);
/* Read fd to the end into the engine and finish it; returns an exit code. */
int feed_fd(crest_engine *engine, int fd, const char *name, int show_progress);
/* Load a policy (NULL: the built-in Order 251 policy); prints errors. 0 on success. */
int load_policy(const char *path, crest_policy **out);
/* Load a registry when path is not NULL; prints errors. 0 on success (*out NULL without a path). */
int load_registry(const char *path, const crest_policy *policy, crest_registry **out);
/* Open path for reading ("-" or NULL: standard input) into *fd and *name (the name
 * messages use). what goes before the path in the error ("input " or "").
 * Returns 0, or prints "cannot open …" and returns EXIT_INPUT. */
int open_input(const char *path, const char *what, int *fd, const char **name);
/* The index of value in choices (NULL-terminated), or -1 after printing
 * "crest: OPTION is a, b or c, not 'VALUE'". */
int arg_choice(const char *option, const char *value, const char *const choices[]);
/* The value after option argv[*i] (advances *i); prints a usage error and returns NULL when missing. */
const char *arg_value(int argc, char **argv, int *i, const char *name);

/* Subcommands living in their own files. */
int cmd_replay(int argc, char **argv);

#endif
