/*
 * commands.c — the table of `crest` subcommands, generated from CLI_COMMANDS
 * in cli.h, and the lookup by name that main.c and the tests use.
 */
#include <string.h>

#include "cli.h"

#define CLI_REFERENCE_COMMAND(name) &cli_cmd_##name,
const cli_command *const cli_command_table[] = {CLI_COMMANDS(CLI_REFERENCE_COMMAND) NULL};
#undef CLI_REFERENCE_COMMAND

const cli_command *cli_find_command(const char *name)
{
    for (size_t i = 0; cli_command_table[i]; i++)
        if (!strcmp(cli_command_table[i]->name, name))
            return cli_command_table[i];
    return NULL;
}
