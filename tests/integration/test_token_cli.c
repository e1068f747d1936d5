/*
 * test_token_cli.c: payment tokens through the C SDK (jz_token_*) and the CLI (`jiaozi token
 * add|show|suspend|resume|delete`), against a real `jiaozi serve`. The CLI reads the card number
 * from standard input only, and never prints it.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "jiaozi.h"
#include "server.h"
#include "test.h"

/* `echo LINE | JZ_CREDENTIALS=creds jiaozi ARGS` (no input when line is NULL): the exit
 * code; what it printed (stdout and stderr) is left in buf. */
static int run_jiaozi(const char *creds, const char *line, const char *args, char *buf,
                      size_t len)
{
    char out[700], cmd[3000];
    snprintf(out, sizeof out, "%s/cli.out", test_tmpdir());
    int n = line ? snprintf(cmd, sizeof cmd, "echo %s | ", line) : 0;
    snprintf(cmd + n, sizeof cmd - (size_t)n, "JZ_CREDENTIALS=%s %s %s > %s 2>&1%s", creds,
             getenv("JZ_BIN") ? getenv("JZ_BIN") : "build/jiaozi", args, out,
             line ? "" : " < /dev/null");
    int status = system(cmd);
    buf[0] = '\0';
    FILE *f = fopen(out, "r");
    if (f) {
        buf[fread(buf, 1, len - 1, f)] = '\0';
        fclose(f);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(token_cli_and_sdk)
{
    static char out[8192];
    char opa[700], opb[700], dir[512], central[700], args[1024], wallet[64], token[32];
    struct srv s;
    snprintf(opa, sizeof opa, "%s/opa.json", test_tmpdir());
    snprintf(opb, sizeof opb, "%s/opb.json", test_tmpdir());
    snprintf(dir, sizeof dir, "%s/node", test_tmpdir());
    snprintf(central, sizeof central, "%s/node/central.json", test_tmpdir());
    REQUIRE(srv_start(&s, dir, NULL) == 0);
    snprintf(args, sizeof args, "institution add --id opa --name A --out %s", opa);
    REQUIRE_EQ_INT(run_jiaozi(central, NULL, args, out, sizeof out), 0);
    snprintf(args, sizeof args, "institution add --id opb --name B --out %s", opb);
    REQUIRE_EQ_INT(run_jiaozi(central, NULL, args, out, sizeof out), 0);
    REQUIRE_EQ_INT(run_jiaozi(opa, NULL, "wallet open --tier 2 --json", out, sizeof out), 0);
    REQUIRE(srv_json_str(out, "id", wallet, sizeof wallet) == 0);
    /* token add: the card number on standard input. */
    snprintf(args, sizeof args,
             "token add --wallet %s --expiry 3012 --requestor opb --channel app --json", wallet);
    REQUIRE_EQ_INT(run_jiaozi(opa, "4111111111111111", args, out, sizeof out), 0);
    REQUIRE(srv_json_str(out, "token", token, sizeof token) == 0);
    CHECK(strstr(out, "\"last4\":\"1111\"") && strstr(out, "\"status\":\"active\""));
    CHECK(strstr(out, "4111111111111111") == NULL);
    CHECK_EQ_INT(run_jiaozi(opa, "4111111111111112", args, out, sizeof out), 1);
    CHECK(strstr(out, "invalid_pan") && !strstr(out, "4111111111111112"));
    static const struct {
        const char *verb, *shows;
        int code;
    } steps[] = {
        {"show", "active", 0},       {"suspend", "suspended", 0}, {"resume", "active", 0},
        {"delete", "deleted", 0},    {"resume", "token_deleted", 1},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        snprintf(args, sizeof args, "token %s %s", steps[i].verb, token);
        CHECK_EQ_INT(run_jiaozi(opa, NULL, args, out, sizeof out), steps[i].code);
        CHECK(strstr(out, steps[i].shows) != NULL);
    }
    /* Usage errors: no card on stdin, a card on the command line, an unknown verb. */
    snprintf(args, sizeof args, "token add --wallet %s --expiry 3012 --requestor opb --channel app",
             wallet);
    CHECK_EQ_INT(run_jiaozi(opa, NULL, args, out, sizeof out), 2);
    CHECK_EQ_INT(run_jiaozi(opa, NULL, "token add --pan 4111111111111111", out, sizeof out), 2);
    CHECK_EQ_INT(run_jiaozi(opa, NULL, "token frob 9900001234561111", out, sizeof out), 2);
    CHECK_EQ_INT(run_jiaozi(opa, NULL, "token show", out, sizeof out), 2);

    /* The SDK: opa tokenises, opb (the requestor) detokenises. */
    jz_error e;
    jz_credentials ca, cb;
    REQUIRE_EQ_INT(jz_credentials_load(opa, &ca, &e), 0);
    REQUIRE_EQ_INT(jz_credentials_load(opb, &cb, &e), 0);
    jz_client *a = jz_client_new(s.url, ca.key_id, ca.secret, &e);
    jz_client *b = jz_client_new(s.url, cb.key_id, cb.secret, &e);
    REQUIRE(a && b);
    jz_token t, t2;
    jz_token_spec spec = {.pan = "6011000990139424", .expiry = "3012", .wallet = wallet,
                          .requestor = "opb", .channel = "web"};
    REQUIRE_EQ_INT(jz_token_create(a, &spec, &t, &e), 0);
    CHECK_EQ_INT(jz_client_last_status(a), 201);
    CHECK_EQ_STR(t.last4, "9424");
    CHECK_EQ_STR(t.wallet, wallet);
    REQUIRE_EQ_INT(jz_token_create(a, &spec, &t2, &e), 0);
    CHECK_EQ_INT(jz_client_last_status(a), 200);
    CHECK_EQ_STR(t2.token, t.token);
    char pan[JZ_PAN_SIZE] = "";
    REQUIRE_EQ_INT(jz_token_detokenize(b, t.token, "opb", "web", pan, &e), 0);
    CHECK_EQ_STR(pan, "6011000990139424");
    CHECK_EQ_INT(jz_token_detokenize(b, t.token, "opb", "app", pan, &e), -1);
    CHECK_EQ_STR(e.code, "forbidden");
    CHECK_EQ_INT(jz_token_get(b, t.token, &t2, &e), 0);
    CHECK_EQ_STR(t2.wallet, ""); /* the requestor does not see the wallet */
    CHECK_EQ_INT(jz_token_set_status(b, t.token, "suspended", &t2, &e), -1);
    CHECK_EQ_INT(e.http_status, 403);
    CHECK_EQ_INT(jz_token_set_status(a, t.token, "suspended", &t2, &e), 0);
    CHECK_EQ_STR(t2.status, "suspended");
    /* Refused before sending. */
    spec.pan = "6011-0009-9013-9424";
    CHECK_EQ_INT(jz_token_create(a, &spec, &t2, &e), -1);
    CHECK(strcmp(e.code, "invalid_argument") == 0 && e.http_status == 0 &&
          strcmp(e.field, "pan") == 0);
    CHECK_EQ_INT(jz_token_set_status(a, t.token, "frozen", &t2, &e), -1);
    CHECK_EQ_STR(e.code, "invalid_argument");
    CHECK_EQ_INT(jz_token_get(a, "99x", &t2, &e), -1);
    CHECK_EQ_STR(e.field, "token");
    jz_credentials_clear(&ca);
    jz_credentials_clear(&cb);
    jz_client_free(a);
    jz_client_free(b);
    CHECK_EQ_INT(srv_stop(&s, SIGTERM), 0);
}
