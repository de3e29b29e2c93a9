/*
 * main.c — the `crest` command: finds the subcommand in the table of
 * cli.h (CLI_COMMANDS) and runs it; prints the general help, a command's help
 * (`crest help CMD`) and the version. Each subcommand lives in its own
 * cmd_*.c; what they share is in cli_util.c. All decisions are libcrest's.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage_main(FILE *f)
{
    fprintf(f, "crest %s — risk-based inspection selection for customs declarations\n\nUsage:\n",
            crest_version());
    for (size_t i = 0; cli_command_table[i]; i++)
        fprintf(f, "  crest %s\n", cli_command_table[i]->synopsis);
    fprintf(f, "  crest help [COMMAND] | crest COMMAND --help\n"
               "  crest --version\n"
               "\nCommands:\n");
    for (size_t i = 0; cli_command_table[i]; i++)
        fprintf(f, "  %-10s %s\n", cli_command_table[i]->name, cli_command_table[i]->summary);
    fprintf(f, "\n"
               "`crest run` reads declarations (CSV with a header row) from INPUT or stdin and\n"
               "writes one decision per declaration: INSPECT or RELEASE, the lane, the reasons\n"
               "and the facilitation flags. Credit tiers set how many are inspected (Order 251:\n"
               "AEO at one fifth of the regular rate, dishonest at 80%% or more); every draw\n"
               "depends only on the policy seed and the declaration id, so a replay gives the\n"
               "same answer on any machine, in any order. Rows that cannot be decided go to the\n"
               "rejects output with a reason; the summary proves rows in = decisions + rejects.\n"
               "\n"
               "Examples:\n"
               "  crest run --registry registry.csv decls.csv -o decisions.csv\n"
               "  zcat feed.csv.gz | crest run --policy policies/order282.conf --format jsonl -\n"
               "  crest check --policy my.conf\n"
               "\n"
               "Run `crest help COMMAND` for every option. Exit codes: 0 ok, 1 usage, 2 policy or\n"
               "registry error, 3 input error, 4 output error, 130 interrupted.\n");
}

int main(int argc, char **argv)
{
    crest_init();
    if (argc < 2) {
        usage_main(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--version") || !strcmp(name, "-V") || !strcmp(name, "version")) {
        printf("crest %s (commit %s)\n", crest_version(), crest_version_commit());
        return EXIT_OK;
    }
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        if (argc < 3) {
            usage_main(stdout);
            return EXIT_OK;
        }
        const cli_command *cmd = cli_find_command(argv[2]);
        if (!cmd) {
            fprintf(stderr, "%s: no help on '%s': not a command\n\n", prog, argv[2]);
            usage_main(stderr);
            return EXIT_USAGE;
        }
        cmd->usage(stdout);
        return EXIT_OK;
    }
    const cli_command *cmd = cli_find_command(name);
    if (cmd)
        return cmd->main(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command '%s'\n\n", prog, name);
    usage_main(stderr);
    return EXIT_USAGE;
}
