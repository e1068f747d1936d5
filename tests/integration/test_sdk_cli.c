/*
 * test_sdk_cli.c: every route driven through the C SDK (include/jiaozi.h) and through the
 * `jiaozi` CLI's client commands, against a real `jiaozi serve`.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "jiaozi.h"
#include "server.h"
#include "test.h"

static jz_client *client_for(const struct srv *s, const char *key_id, const char *secret)
{
    jz_error e;
    return jz_client_new(s->url, key_id, secret, &e);
}

TEST(sdk_drives_every_route)
{
    struct srv s;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/node", test_tmpdir());
    REQUIRE(srv_start(&s, dir, NULL) == 0);
    jz_error e;
    jz_client *central = client_for(&s, s.central.key_id, s.central.secret);
    REQUIRE(central != NULL);
    jz_health h;
    CHECK_EQ_INT(jz_healthz(central, &h, &e), 0);
    jz_credentials cred;
    REQUIRE_EQ_INT(jz_institution_create(central, "icbc", "ICBC", &cred, &e), 0);
    CHECK_EQ_INT(strlen(cred.secret), 64);
    jz_institution list[8];
    size_t count = 0;
    CHECK_EQ_INT(jz_institution_list(central, list, 8, &count, &e), 0);
    CHECK_EQ_INT(count, 2);
    jz_transfer t;
    char id[JZ_ID_SIZE];
    jz_id_new(id);
    CHECK_EQ_INT(jz_quota_issue(central, id, "icbc", 10000000, &t, &e), 0);
    jz_id_new(id);
    CHECK_EQ_INT(jz_quota_redeem(central, id, "icbc", 1000, &t, &e), 0);
    jz_client *op = client_for(&s, cred.key_id, cred.secret);
    REQUIRE(op != NULL);
    jz_institution inst;
    CHECK_EQ_INT(jz_institution_get(op, "icbc", &inst, &e), 0);
    jz_wallet a, b;
    jz_wallet_spec ws = {.kind = "personal", .tier = 2, .form = "soft"};
    REQUIRE_EQ_INT(jz_wallet_open(op, &ws, &a, &e), 0);
    REQUIRE_EQ_INT(jz_wallet_open(op, &ws, &b, &e), 0);
    jz_transfer_spec ts = {.debit = cred.treasury, .credit = a.id, .amount = 100000,
                           .kind = "exchange_in"};
    REQUIRE_EQ_INT(jz_transfer_create(op, &ts, &t, &e), 0);
    jz_transfer_spec batch[3] = {
        {.debit = a.id, .credit = b.id, .amount = 100, .kind = "p2p", .memo = "one"},
        {.debit = a.id, .credit = b.id, .amount = 200, .kind = "payment"},
        {.debit = b.id, .credit = a.id, .amount = 50, .kind = "refund"},
    };
    jz_batch_result br[3];
    REQUIRE_EQ_INT(jz_transfer_batch(op, batch, 3, br, &e), 0);
    CHECK(br[0].posted && br[1].posted && br[2].posted);
    CHECK_EQ_INT(jz_transfer_get(op, br[0].id, &t, &e), 0);
    CHECK_EQ_STR(t.memo, "one");
    jz_transfer items[10];
    char next[JZ_CURSOR_SIZE];
    count = 0;
    CHECK_EQ_INT(jz_wallet_history(op, a.id, 10, NULL, items, &count, next, &e), 0);
    CHECK_EQ_INT(count, 4);
    jz_hold hold;
    jz_hold_spec hs = {.debit = a.id, .credit = b.id, .amount = 1000, .timeout_ms = 60000};
    REQUIRE_EQ_INT(jz_hold_create(op, &hs, &hold, &e), 0);
    CHECK_EQ_INT(jz_hold_get(op, hold.id, &hold, &e), 0);
    CHECK_EQ_INT(jz_hold_capture(op, hold.id, 600, &hold, &e), 0);
    CHECK_EQ_STR(hold.status, "captured");
    REQUIRE_EQ_INT(jz_hold_create(op, &hs, &hold, &e), 0);
    CHECK_EQ_INT(jz_hold_void(op, hold.id, &hold, &e), 0);
    CHECK_EQ_INT(jz_wallet_set_tier(op, b.id, 3, &b, &e), 0);
    CHECK_EQ_INT(jz_wallet_set_status(op, b.id, "frozen", &b, &e), 0);
    CHECK_EQ_STR(b.status, "frozen");
    jz_wallet c;
    REQUIRE_EQ_INT(jz_wallet_open(op, &ws, &c, &e), 0);
    CHECK_EQ_INT(jz_wallet_close(op, c.id, &c, &e), 0);
    CHECK_EQ_STR(c.status, "closed");
    CHECK_EQ_INT(jz_wallet_get(op, a.id, &a, &e), 0);
    CHECK_EQ_INT(a.balance, 100000 - 100 - 200 + 50 - 600);
    jz_audit_head head;
    CHECK_EQ_INT(jz_audit_get_head(op, &head, &e), 0);
    /* A refusal comes back as a typed error. */
    ts = (jz_transfer_spec){.debit = a.id, .credit = b.id, .amount = 1, .kind = "p2p"};
    CHECK_EQ_INT(jz_transfer_create(op, &ts, &t, &e), -1);
    CHECK_EQ_STR(e.code, "wallet_frozen");
    CHECK_EQ_INT(e.http_status, 422);
    jz_client_free(op);
    jz_client_free(central);
    CHECK_EQ_INT(srv_stop(&s, SIGTERM), 0);
}

static int cli(const char *creds, const char *args, char *out, size_t len)
{
    const char *bin = getenv("JZ_BIN") ? getenv("JZ_BIN") : "build/jiaozi";
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "JZ_CREDENTIALS=%s %s %s 2>&1", creds, bin, args);
    FILE *p = popen(cmd, "r");
    if (!p) {
        return -1;
    }
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(cli_client_commands_drive_the_api)
{
    struct srv s;
    char dir[512], central[700], icbc[700], args[1024], a[64], b[64], treasury[64];
    static char out[16384];
    snprintf(dir, sizeof dir, "%s/node", test_tmpdir());
    REQUIRE(srv_start(&s, dir, NULL) == 0);
    snprintf(central, sizeof central, "%s/central.json", dir);
    snprintf(icbc, sizeof icbc, "%s/icbc.json", test_tmpdir());
    snprintf(args, sizeof args, "institution add --id icbc --name ICBC --out %s", icbc);
    REQUIRE_EQ_INT(cli(central, args, out, sizeof out), 0);
    CHECK_EQ_INT(cli(central, "quota issue --operator icbc --amount 5000000", out, sizeof out), 0);
    CHECK_EQ_INT(cli(central, "institution list", out, sizeof out), 0);
    CHECK(strstr(out, "icbc") != NULL);
    REQUIRE_EQ_INT(cli(icbc, "institution show icbc --json", out, sizeof out), 0);
    REQUIRE(srv_json_str(out, "treasury", treasury, sizeof treasury) == 0);
    REQUIRE_EQ_INT(cli(icbc, "wallet open --tier 3 --json", out, sizeof out), 0);
    REQUIRE(srv_json_str(out, "id", a, sizeof a) == 0);
    REQUIRE_EQ_INT(cli(icbc, "wallet open --tier 3 --json", out, sizeof out), 0);
    REQUIRE(srv_json_str(out, "id", b, sizeof b) == 0);
    snprintf(args, sizeof args, "pay --from %s --to %s --amount 90000 --kind exchange_in", treasury, a);
    CHECK_EQ_INT(cli(icbc, args, out, sizeof out), 0);
    snprintf(args, sizeof args, "pay --from %s --to %s --amount 1500", a, b);
    CHECK_EQ_INT(cli(icbc, args, out, sizeof out), 0);
    snprintf(args, sizeof args, "pay --from %s --to %s --amount 999999", a, b);
    CHECK_EQ_INT(cli(icbc, args, out, sizeof out), 1); /* over the tier-3 per-payment limit */
    CHECK(strstr(out, "per_payment_limit_exceeded") != NULL);
    snprintf(args, sizeof args, "wallet show %s --json", a);
    REQUIRE_EQ_INT(cli(icbc, args, out, sizeof out), 0);
    CHECK_EQ_INT(srv_json_int(out, "balance"), 90000 - 1500);
    snprintf(args, sizeof args, "wallet history %s", a);
    CHECK_EQ_INT(cli(icbc, args, out, sizeof out), 0);
    CHECK(strstr(out, "exchange_in") != NULL && strstr(out, "p2p") != NULL);
    snprintf(args, sizeof args, "wallet freeze %s", b);
    CHECK_EQ_INT(cli(icbc, args, out, sizeof out), 0);
    CHECK_EQ_INT(cli(icbc, "audit head", out, sizeof out), 0);
    CHECK_EQ_INT(cli(icbc, "pay --from nothex --to x --amount 1", out, sizeof out), 2);
    CHECK_EQ_INT(srv_stop(&s, SIGTERM), 0);
}
