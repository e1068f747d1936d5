/*
 * cli_token.c: `jiaozi token add|show|suspend|resume|delete`, payment tokens through the C SDK
 * (jz_token_*), as an operator's back office would use them.
 *
 * The card number of `token add` is read from standard input (one line; not echoed when it is
 * a terminal), never from the command line, where `ps` and the shell's history would keep it.
 * Exit codes as the other client commands: 0 success, 1 an API or connection error, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "crypto.h"
#include "jiaozi.h"

static const char token_help[] =
    "usage: jiaozi token VERB [options]\n"
    "  add --wallet ID --expiry YYMM --requestor INST --channel CH   tokenise the card number\n"
    "                        read from standard input (never from the command line)\n"
    "  show TOKEN            the token's metadata (never the card number)\n"
    "  suspend TOKEN | resume TOKEN | delete TOKEN   change its status (the issuer; delete is final)\n"
    "options:\n"
    "  --credentials FILE    institution credentials (else $JZ_CREDENTIALS, else\n"
    "                        ./jiaozi-data/central.json)\n"
    "  --json                print the token as JSON\n";

static int token_usage(const char *why)
{
    fprintf(stderr, "jiaozi token: %s\n%s", why, token_help);
    return 2;
}

static int token_failed(const char *verb, const jz_error *e)
{
    fprintf(stderr, "jiaozi token %s: %s (HTTP %d): %s%s%s%s\n", verb, e->code, e->http_status,
            e->message, e->field[0] ? " [field " : "", e->field, e->field[0] ? "]" : "");
    return 1;
}

static void print_token(const jz_token *t, bool json)
{
    if (json) {
        printf("{\"token\":\"%s\",\"last4\":\"%s\",\"expiry\":\"%s\",\"status\":\"%s\","
               "\"expired\":%s,\"issuer\":\"%s\",\"wallet\":%s%s%s,\"domain\":{\"requestor\":"
               "\"%s\",\"channel\":\"%s\"},\"created_at\":%lld,\"updated_at\":%lld}\n",
               t->token, t->last4, t->expiry, t->status, t->expired ? "true" : "false",
               t->issuer, t->wallet[0] ? "\"" : "", t->wallet[0] ? t->wallet : "null",
               t->wallet[0] ? "\"" : "", t->requestor, t->channel, (long long)t->created_at,
               (long long)t->updated_at);
        return;
    }
    printf("token %s  %s%s  last4 %s  expiry %s  issuer %s  domain %s/%s%s%s\n", t->token,
           t->status, t->expired ? " (expired)" : "", t->last4, t->expiry, t->issuer,
           t->requestor, t->channel, t->wallet[0] ? "  wallet " : "", t->wallet);
}

/* One line of standard input into pan (digits only kept to the line's end), echo off on a
 * terminal. 0, or -1 when nothing usable was read. */
static int read_pan(char pan[JZ_PAN_SIZE])
{
    char line[128];
    struct termios saved;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
        struct termios quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        fputs("card number: ", stderr);
    }
    bool got = fgets(line, sizeof line, stdin) != NULL;
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        fputc('\n', stderr);
    }
    size_t n = got ? strcspn(line, "\r\n") : 0;
    int rc = n >= 1 && n < JZ_PAN_SIZE ? 0 : -1;
    if (rc == 0) {
        memcpy(pan, line, n);
        pan[n] = '\0';
    }
    crypto_wipe(line, sizeof line);
    return rc;
}

static int token_add(jz_client *c, int argc, char **argv, bool json)
{
    jz_token_spec spec = {
        .wallet = cli_opt(argc, argv, "--wallet"),
        .expiry = cli_opt(argc, argv, "--expiry"),
        .requestor = cli_opt(argc, argv, "--requestor"),
        .channel = cli_opt(argc, argv, "--channel"),
    };
    if (!spec.wallet || !spec.expiry || !spec.requestor || !spec.channel) {
        return token_usage("add needs --wallet, --expiry, --requestor and --channel");
    }
    char pan[JZ_PAN_SIZE];
    if (read_pan(pan) != 0) {
        return token_usage("no card number on standard input (one line of 13-19 digits)");
    }
    spec.pan = pan;
    jz_token t;
    jz_error e;
    int rc = jz_token_create(c, &spec, &t, &e);
    crypto_wipe(pan, sizeof pan);
    if (rc != 0) {
        return token_failed("add", &e);
    }
    print_token(&t, json);
    return 0;
}

int cli_token(int argc, char **argv)
{
    static const char *const known[] = {"--credentials", "--wallet", "--expiry", "--requestor",
                                        "--channel", NULL};
    static const char *const flags[] = {"--json", "--help", NULL};
    static const char *const statuses[][2] = {
        {"suspend", "suspended"}, {"resume", "active"}, {"delete", "deleted"}};
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || cli_flag(argc, argv, "--help")) {
        fputs(token_help, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    const char *verb = argv[0];
    bool add = strcmp(verb, "add") == 0;
    const char *token = !add && argc > 1 ? argv[1] : NULL;
    int skip = add ? 1 : 2;
    if (!add && (!token || strncmp(token, "--", 2) == 0)) {
        return token_usage("this verb needs a TOKEN");
    }
    if (cli_check_options(argc - skip, argv + skip, known, flags) != 0) {
        return 2;
    }
    const char *status = NULL;
    for (size_t i = 0; i < JZ_ARRAY_LEN(statuses); i++) {
        status = strcmp(verb, statuses[i][0]) == 0 ? statuses[i][1] : status;
    }
    if (!add && !status && strcmp(verb, "show") != 0) {
        return token_usage("unknown verb");
    }
    const char *creds = cli_opt(argc, argv, "--credentials");
    creds = creds ? creds : getenv("JZ_CREDENTIALS");
    jz_error e;
    jz_client *c = jz_client_from_file(creds && creds[0] ? creds : "./jiaozi-data/central.json",
                                       &e);
    if (!c) {
        return token_failed(verb, &e);
    }
    bool json = cli_flag(argc, argv, "--json");
    int rc = 0;
    jz_token t;
    if (add) {
        rc = token_add(c, argc - 1, argv + 1, json);
    } else if ((status ? jz_token_set_status(c, token, status, &t, &e)
                       : jz_token_get(c, token, &t, &e)) != 0) {
        rc = token_failed(verb, &e);
    } else {
        print_token(&t, json);
    }
    jz_client_free(c);
    return rc;
}
