/*
 * cli.h: the `jiaozi` command line's subcommands and their small shared helpers.
 * Each subcommand takes the arguments after its name and returns the process exit code.
 */
#ifndef JZ_CLI_H
#define JZ_CLI_H

#include <stdbool.h>
#include <stdint.h>

int cli_init(int argc, char **argv);
int cli_audit(int argc, char **argv);
int cli_snapshot(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_demo(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_reindex(int argc, char **argv);
int cli_card(int argc, char **argv); /* and `bench offline`: cli_bench_offline (cli_card_bench.c) */
int cli_bench_offline(int argc, char **argv);
int cli_token(int argc, char **argv);        /* cli_token.c: jiaozi token ... */
int cli_bench_tokens(int argc, char **argv); /* cli_bench_tokens.c: jiaozi bench tokens */
bool cli_scenario_command(const char *command); /* merchant|order|refund|bill|campaign */
int cli_scenarios(const char *command, int argc, char **argv);
int cli_audit_disclosures(int argc, char **argv);
int cli_risk(int argc, char **argv);
int cli_clearing(int argc, char **argv);

/* Option parsing: `--name value` pairs and `--flag`s. cli_opt returns the value after
 * --name (or NULL), cli_flag whether --name is present. */
const char *cli_opt(int argc, char **argv, const char *name);
bool cli_flag(int argc, char **argv, const char *name);
/* Parses a non-negative integer option, with default; exits with a message if malformed. */
uint64_t cli_opt_u64(int argc, char **argv, const char *name, uint64_t def, uint64_t max);
/* Refuses options not in the NULL-terminated list `known` (flags end with no value: list
 * them in `flags`). Prints the offending one and returns -1. */
int cli_check_options(int argc, char **argv, const char *const *known, const char *const *flags);

#endif
