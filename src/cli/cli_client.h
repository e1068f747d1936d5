/*
 * cli_client.h: the `jiaozi` client commands (wallet, pay, quota, institution, transfer, hold,
 * audit head), which talk to a running node through the C SDK (include/jiaozi.h) and nothing
 * else. Credentials come from --credentials FILE, else $JZ_CREDENTIALS, else
 * ./jiaozi-data/central.json. Exit codes: 0 success, 1 an API or connection error (code,
 * message and field printed on stderr), 2 a usage error.
 *
 * Wiring into main.c:
 *     if (cli_client_owns(cmd, sub_argc, sub_argv)) {
 *         return cli_client(cmd, sub_argc, sub_argv);
 *     }
 * placed before the `audit` dispatch, since `audit head` is a client command while
 * `audit verify` stays with cli_audit. cli_client_usage holds the lines for main's usage.
 */
#ifndef JZ_CLI_CLIENT_H
#define JZ_CLI_CLIENT_H

#include <stdbool.h>

/* Usage lines for the client commands, in the style of main.c's usage text. */
extern const char cli_client_usage[];

/* True when `jiaozi command argv...` is one of the client commands. */
bool cli_client_owns(const char *command, int argc, char **argv);

/* Runs `jiaozi command argv...` (argv holds what follows the command's name) and returns the
 * process exit code. */
int cli_client(const char *command, int argc, char **argv);

#endif
