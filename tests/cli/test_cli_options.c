/*
 * test_cli_options.c — the option handling of the `crest` subcommands
 * (engine/cli): each parser's defaults, every option, the errors that must
 * be usage errors, getopt_long's forms (--opt=value, options after the
 * operand, "--"), the command table and the one status -> exit code map.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <math.h>
#include <string.h>

#include "cli.h"

/* Parsers print their usage errors on stderr and help on stdout: keep the test output clean. */
static void quiet(void)
{
    cr_redirect_stderr();
    cr_redirect_stdout();
}

#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)))
#define PARSE(fn, args, ...) fn(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), args)

Test(cli_run, defaults, .init = quiet)
{
    run_args a;
    cr_assert_eq(PARSE(run_parse_args, &a, "run"), CLI_PARSE_OK);
    cr_expect_null(a.input_path);
    cr_expect_null(a.out_path);
    cr_expect_null(a.policy_path);
    cr_expect_eq(a.opt.format, CREST_FORMAT_CSV);
    cr_expect(a.opt.threads >= 1 && a.opt.threads <= 8);
    cr_expect_eq(a.opt.windows, 0);
    cr_expect_eq(a.quiet, 0);
}

Test(cli_run, every_option, .init = quiet)
{
    run_args a;
    cr_assert_eq(PARSE(run_parse_args, &a, "run", "--policy", "p.conf", "--registry", "r.csv", "-o",
                       "out.csv", "--rejects", "rej.csv", "--summary", "s.json", "--windows", "w.csv",
                       "--format", "jsonl", "--passthrough", "none", "--threads", "3", "-q",
                       "--no-formula-guard", "in.csv"),
                 CLI_PARSE_OK);
    cr_expect_str_eq(a.policy_path, "p.conf");
    cr_expect_str_eq(a.registry_path, "r.csv");
    cr_expect_str_eq(a.out_path, "out.csv");
    cr_expect_str_eq(a.rejects_path, "rej.csv");
    cr_expect_str_eq(a.summary_path, "s.json");
    cr_expect_str_eq(a.windows_path, "w.csv");
    cr_expect_str_eq(a.input_path, "in.csv");
    cr_expect_eq(a.opt.format, CREST_FORMAT_JSONL);
    cr_expect_eq(a.opt.passthrough_override, CREST_PASSTHROUGH_NONE);
    cr_expect_eq(a.opt.threads, 3);
    cr_expect_eq(a.opt.formula_guard_override, 0);
    cr_expect_eq(a.opt.windows, 1);
    cr_expect_eq(a.quiet, 1);
    cr_expect_eq(a.show_progress, 0, "-q turns the progress bar off");
}

Test(cli_run, getopt_forms, .init = quiet)
{
    run_args a;
    /* --opt=value, and options after the operand */
    cr_assert_eq(PARSE(run_parse_args, &a, "run", "in.csv", "--output=o.csv", "--format=csv"), CLI_PARSE_OK);
    cr_expect_str_eq(a.out_path, "o.csv");
    cr_expect_str_eq(a.input_path, "in.csv");
    /* "-" is stdin, an operand */
    cr_assert_eq(PARSE(run_parse_args, &a, "run", "-"), CLI_PARSE_OK);
    cr_expect_str_eq(a.input_path, "-");
    /* after "--" a name that looks like an option is the input */
    cr_assert_eq(PARSE(run_parse_args, &a, "run", "--", "-o"), CLI_PARSE_OK);
    cr_expect_str_eq(a.input_path, "-o");
}

Test(cli_run, usage_errors, .init = quiet)
{
    run_args a;
    cr_expect_eq(PARSE(run_parse_args, &a, "run", "--threads", "9"), CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(run_parse_args, &a, "run", "--threads", "0"), CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(run_parse_args, &a, "run", "--threads", "12"), CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(run_parse_args, &a, "run", "--format", "xml"), CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(run_parse_args, &a, "run", "--passthrough", "some"), CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(run_parse_args, &a, "run", "a.csv", "b.csv"), CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(run_parse_args, &a, "run", "--bogus"), CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(run_parse_args, &a, "run", "-x"), CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(run_parse_args, &a, "run", "--policy"), CLI_PARSE_ERROR, "a value is missing");
    cr_expect_eq(PARSE(run_parse_args, &a, "run", "-o"), CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(run_parse_args, &a, "run", "--help"), CLI_PARSE_HELP);
    cr_expect_eq(PARSE(run_parse_args, &a, "run", "-h"), CLI_PARSE_HELP);
}

Test(cli_run, usage_messages, .init = quiet)
{
    run_args a;
    PARSE(run_parse_args, &a, "run", "--bogus");
    PARSE(run_parse_args, &a, "run", "--policy");
    PARSE(run_parse_args, &a, "run", "--threads", "9");
    fflush(stderr);
    cr_assert_stderr_eq_str("crest: unknown option '--bogus' (see `crest help run`)\n"
                            "crest: --policy needs a value (see `crest help run`)\n"
                            "crest: --threads is a number from 1 to 8, not '9'\n");
}

Test(cli_check, sample_and_errors, .init = quiet)
{
    check_args a;
    cr_assert_eq(PARSE(check_parse_args, &a, "check", "--policy", "p.conf", "sample.csv"), CLI_PARSE_OK);
    cr_expect_str_eq(a.policy_path, "p.conf");
    cr_expect_str_eq(a.sample_path, "sample.csv");
    cr_assert_eq(PARSE(check_parse_args, &a, "check"), CLI_PARSE_OK);
    cr_expect_null(a.policy_path, "no policy: the built-in one");
    cr_expect_null(a.sample_path);
    cr_expect_eq(PARSE(check_parse_args, &a, "check", "a.csv", "b.csv"), CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(check_parse_args, &a, "check", "--threads", "2"), CLI_PARSE_ERROR);
}

Test(cli_fit, defaults_numbers_and_errors, .init = quiet)
{
    fit_args a;
    cr_assert_eq(PARSE(fit_parse_args, &a, "fit", "--policy", "p.conf", "-o", "m.model", "train.csv"),
                 CLI_PARSE_OK);
    cr_expect_str_eq(a.label, "illicit");
    cr_expect(a.l2 < 0 && a.smoothing < 0 && a.folds < 0, "the policy's settings by default");
    cr_expect_str_eq(a.input_path, "train.csv");
    cr_assert_eq(PARSE(fit_parse_args, &a, "fit", "--policy", "p.conf", "-o", "m", "--label", "Fraud", "--l2",
                       "0.5", "--smoothing", " 20 ", "--folds", "4"),
                 CLI_PARSE_OK);
    cr_expect_str_eq(a.label, "Fraud");
    cr_expect_float_eq(a.l2, 0.5, 1e-15);
    cr_expect_float_eq(a.smoothing, 20, 1e-15, "numbers through crest_parse_number (trimmed)");
    cr_expect_eq(a.folds, 4);
    cr_expect_null(a.input_path, "no operand: stdin");
    cr_expect_eq(PARSE(fit_parse_args, &a, "fit", "--policy", "p", "-o", "m", "--l2", "-1"), CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(fit_parse_args, &a, "fit", "--policy", "p", "-o", "m", "--l2", "x"), CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(fit_parse_args, &a, "fit", "--policy", "p", "-o", "m", "--l2", "inf"),
                 CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(fit_parse_args, &a, "fit", "--policy", "p", "-o", "m", "--folds", "2.5"),
                 CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(fit_parse_args, &a, "fit", "--policy", "p"), CLI_PARSE_ERROR, "-o is required");
    cr_expect_eq(PARSE(fit_parse_args, &a, "fit", "-o", "m"), CLI_PARSE_ERROR, "--policy is required");
}

Test(cli_calibrate, required, .init = quiet)
{
    calibrate_args a;
    cr_assert_eq(PARSE(calibrate_parse_args, &a, "calibrate", "--policy", "p", "-o", "c.conf", "h.csv"),
                 CLI_PARSE_OK);
    cr_expect_str_eq(a.input_path, "h.csv");
    cr_expect_str_eq(a.out_path, "c.conf");
    cr_expect_eq(PARSE(calibrate_parse_args, &a, "calibrate", "--policy", "p", "-o", "c.conf"),
                 CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(calibrate_parse_args, &a, "calibrate", "--policy", "p", "-o", "c", "-"),
                 CLI_PARSE_ERROR, "the history is read twice: not stdin");
    cr_expect_eq(PARSE(calibrate_parse_args, &a, "calibrate", "--policy", "p", "-o", "c", "a", "b"),
                 CLI_PARSE_ERROR);
}

Test(cli_replay, policies_and_defaults, .init = quiet)
{
    replay_args a;
    cr_assert_eq(PARSE(replay_parse_args, &a, "replay", "--policy", "a.conf", "--policy", "b.conf", "h.csv"),
                 CLI_PARSE_OK);
    cr_expect_eq(a.n_policies, 2);
    cr_expect_str_eq(a.policies[1], "b.conf");
    cr_expect_eq(a.period, 3 /* CREST_REPLAY_PERIOD_MONTH */);
    cr_expect_str_eq(a.report, "replay-report");
    cr_expect_str_eq(a.plots, "auto");
    cr_expect_str_eq(a.label, "illicit");
    cr_expect_eq(a.simulate, 0);
    /* --simulate defaults to weekly periods */
    cr_assert_eq(PARSE(replay_parse_args, &a, "replay", "--simulate", "--policy", "a", "--rate", "0.2",
                       "--final-rate", "0.1", "--decay", "exp", "--decay-periods", "4", "h.csv"),
                 CLI_PARSE_OK);
    cr_expect_eq(a.period, 2 /* CREST_REPLAY_PERIOD_WEEK */);
    cr_expect_float_eq(a.rate, 0.2, 1e-15);
    cr_expect_float_eq(a.final_rate, 0.1, 1e-15);
    cr_expect_eq(a.decay_exp, 1);
    cr_expect_eq(a.decay_periods, 4);
}

Test(cli_replay, usage_errors, .init = quiet)
{
    replay_args a;
    /* Without --policy: the built-in policy (one NULL path); --simulate needs one. */
    cr_expect_eq(PARSE(replay_parse_args, &a, "replay", "h.csv"), CLI_PARSE_OK,
                 "no policy: the built-in one");
    cr_expect_eq(a.n_policies, 1);
    cr_expect_null(a.policies[0]);
    cr_expect_eq(PARSE(replay_parse_args, &a, "replay", "--simulate", "h.csv"), CLI_PARSE_ERROR,
                 "--simulate without a policy");
    cr_expect_eq(PARSE(replay_parse_args, &a, "replay", "--policy", "a", "--period", "year"),
                 CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(replay_parse_args, &a, "replay", "--policy", "a", "--plots", "gif"), CLI_PARSE_ERROR);
    cr_expect_eq(
        PARSE(replay_parse_args, &a, "replay", "--policy", "a", "--revenue", "r", "--revenue-rate", "t"),
        CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(replay_parse_args, &a, "replay", "--policy", "a", "--revenue-base", "b"),
                 CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(replay_parse_args, &a, "replay", "--policy", "a", "--final-rate", "0.1"),
                 CLI_PARSE_ERROR, "--final-rate is for --simulate");
    cr_expect_eq(PARSE(replay_parse_args, &a, "replay", "--simulate", "--policy", "a", "--policy", "b"),
                 CLI_PARSE_ERROR, "--simulate takes one policy");
    cr_expect_eq(PARSE(replay_parse_args, &a, "replay", "--simulate", "--policy", "a", "--period", "none"),
                 CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(replay_parse_args, &a, "replay", "--simulate", "--policy", "a", "--decay", "exp"),
                 CLI_PARSE_ERROR, "--decay needs --final-rate");
    cr_expect_eq(PARSE(replay_parse_args, &a, "replay", "--simulate", "--policy", "a", "--rate", "1.5"),
                 CLI_PARSE_ERROR);
    cr_expect_eq(PARSE(replay_parse_args, &a, "replay", "--simulate", "--policy", "a", "--decay-periods",
                       "2.5", "--final-rate", "0.1"),
                 CLI_PARSE_ERROR);
    /* at most CLI_MAX_POLICIES policies */
    char *argv[2 + 2 * (CLI_MAX_POLICIES + 1)];
    int argc = 0;
    argv[argc++] = "replay";
    for (int i = 0; i <= CLI_MAX_POLICIES; i++) {
        argv[argc++] = "--policy";
        argv[argc++] = "p.conf";
    }
    argv[argc] = NULL;
    cr_expect_eq(replay_parse_args(argc, argv, &a), CLI_PARSE_ERROR);
    cr_expect_eq(replay_parse_args(argc - 2, argv, &a), CLI_PARSE_OK);
}

Test(cli, command_table)
{
    static const char *const names[] = {"run", "check", "fit", "calibrate", "replay"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const cli_command *c = cli_find_command(names[i]);
        cr_assert_not_null(c, "%s is not in the table", names[i]);
        cr_expect_str_eq(c->name, names[i]);
        cr_expect(c->main && c->usage && c->synopsis && c->summary);
    }
    cr_expect_null(cli_find_command("nonsense"));
    cr_expect_null(cli_find_command(""));
}

Test(cli, exit_code_of)
{
    cr_expect_eq(exit_code_of(CREST_OK, CLI_LOAD), 0);
    cr_expect_eq(exit_code_of(CREST_ERR_SYNTAX, CLI_LOAD), 2);
    cr_expect_eq(exit_code_of(CREST_ERR_IO, CLI_LOAD), 2, "a policy file that cannot be read");
    cr_expect_eq(exit_code_of(CREST_ERR_MISSING, CLI_READ), 3, "a header without a required column");
    cr_expect_eq(exit_code_of(CREST_ERR_SYNTAX, CLI_READ), 3);
    cr_expect_eq(exit_code_of(CREST_ERR_IO, CLI_READ), 4, "the engine reports a failed sink so");
    cr_expect_eq(exit_code_of(CREST_ERR_INVALID, CLI_WRITE), 4);
    for (int stage = CLI_LOAD; stage <= CLI_WRITE; stage++) {
        cr_expect_eq(exit_code_of(CREST_ERR_NOMEM, (cli_stage)stage), 4);
        cr_expect_eq(exit_code_of(CREST_ERR_INTERRUPTED, (cli_stage)stage), 130);
    }
}

Test(cli, endings)
{
    cr_expect_null(cli_ending_name(CLI_COMPLETE));
    cr_expect_str_eq(cli_ending_name(CLI_INTERRUPTED), "interrupted");
    cr_expect_str_eq(cli_ending_name(CLI_OUTPUT_ERROR), "output_error");
    cr_expect_str_eq(cli_ending_name(CLI_DOWNSTREAM_CLOSED), "downstream_closed");
    cr_expect_str_eq(cli_ending_name(CLI_INPUT_ERROR), "input_error");
}
