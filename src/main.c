/*
 * main.c: the `jiaozi` command line. Thin: it parses the subcommand and hands over.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_client.h"

static const char usage[] =
    "jiaozi: digital-wallet and mobile-payment platform\n"
    "usage: jiaozi COMMAND [options]   (jiaozi COMMAND --help for each)\n"
    "  serve --data DIR [...]     serve the HTTP JSON API (initialises DIR if new)\n"
    "  init --data DIR            create a node's data directory\n"
    "  reindex --data DIR         rebuild the history store from the journal\n"
    "  audit verify DIR           verify a journal's hash chain and signed checkpoints\n"
    "  audit disclosures --data DIR   list identity disclosures from the journal\n"
    "  risk check FILE            validate a risk rule file (docs/risk.md)\n"
    "  snapshot --data DIR        write a snapshot of a stopped node\n"
    "  bench ledger [...]         durable transfers/s of executor + journal\n"
    "  bench tokens [...]         token vault rates beside raw SM4-CTR + HMAC-SM3\n"
    "  token add|show|suspend|resume|delete   payment tokens (through the API)\n"
    "  demo [--data DIR] [--serve] a city pilot through the API, with a summary\n"
    "  card VERB --card FILE      a hard wallet: init, issue, load, pay, accept, sync, ...\n"
    "  bench offline [...]        offline vouchers settled/s beside 1-core SM2 verify/s\n"
    "  merchant|order|refund|bill|campaign ...   payment scenarios (each has --help)\n"
    "  clearing cutoff|show|files|reconcile|adjust|approve|dispute|bench   clearing\n";

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        fputs(cli_client_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    int sub_argc = argc - 2;
    char **sub_argv = argv + 2;
    if (strcmp(cmd, "init") == 0) {
        return cli_init(sub_argc, sub_argv);
    }
    if (cli_client_owns(cmd, sub_argc, sub_argv)) {
        return cli_client(cmd, sub_argc, sub_argv);
    }
    if (strcmp(cmd, "audit") == 0 && sub_argc >= 1 && strcmp(sub_argv[0], "disclosures") == 0) {
        return cli_audit_disclosures(sub_argc - 1, sub_argv + 1);
    }
    if (cli_scenario_command(cmd)) {
        return cli_scenarios(cmd, sub_argc, sub_argv);
    }
    if (strcmp(cmd, "audit") == 0) {
        return cli_audit(sub_argc, sub_argv);
    }
    if (strcmp(cmd, "risk") == 0) {
        return cli_risk(sub_argc, sub_argv);
    }
    if (strcmp(cmd, "snapshot") == 0) {
        return cli_snapshot(sub_argc, sub_argv);
    }
    if (strcmp(cmd, "card") == 0 || (strcmp(cmd, "bench") == 0 && sub_argc > 0 && strcmp(sub_argv[0], "offline") == 0)) {
        return cmd[0] == 'c' ? cli_card(sub_argc, sub_argv) : cli_bench_offline(sub_argc - 1, sub_argv + 1);
    }
    if (strcmp(cmd, "bench") == 0) {
        return cli_bench(sub_argc, sub_argv);
    }
    if (strcmp(cmd, "serve") == 0) {
        return cli_serve(sub_argc, sub_argv);
    }
    if (strcmp(cmd, "reindex") == 0) {
        return cli_reindex(sub_argc, sub_argv);
    }
    if (strcmp(cmd, "token") == 0) {
        return cli_token(sub_argc, sub_argv);
    }
    if (strcmp(cmd, "clearing") == 0) {
        return cli_clearing(sub_argc, sub_argv);
    }
    if (strcmp(cmd, "demo") == 0) {
        return cli_demo(sub_argc, sub_argv);
    }
    fprintf(stderr, "jiaozi: unknown command \"%s\"\n%s", cmd, usage);
    return 2;
}
