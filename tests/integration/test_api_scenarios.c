/*
 * test_api_scenarios.c: the payment scenarios of issue 7 end to end through the API, each
 * followed by a conservation check (every wallet the test touched, both treasuries and the
 * issuance account sum to zero), and the abuses the issue lists: paying an order twice,
 * refunding more than was paid, paying a bill twice or with a wrong amount, spending targeted
 * funds at a wrong merchant category or after expiry, a tampered QR payload, registering for
 * a campaign twice, a draw re-run with another seed; and the expiry sweeps of targeted funds
 * and campaign prizes surviving kill -9 (the same returns, once, at the same executor time).
 */
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "node.h"
#include "scenario_draw.h"
#include "test.h"
#include "world.h"

#define WALLETS_MAX 64

/* The test's world: the served node and every wallet that may hold money. */
struct sw {
    struct world w;
    char wallets[WALLETS_MAX][33];
    int nwallets;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_until(int64_t t)
{
    while (now_ms() < t) {
        struct timespec d = {0, 20 * 1000000L};
        nanosleep(&d, NULL);
    }
}

/* A signed request with a printf-formatted body (NULL for none); the status, and the parsed
 * answer in *out when out is not NULL (the caller json_decref's it). */
static int req(struct sw *t, const struct srv_creds *c, const char *method, const char *path,
               json_t **out, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int req(struct sw *t, const struct srv_creds *c, const char *method, const char *path,
               json_t **out, const char *fmt, ...)
{
    char body[8192];
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(body, sizeof body, fmt, ap);
        va_end(ap);
    }
    struct srv_response r;
    int status = srv_call(&t->w.s, c, method, path, fmt ? body : NULL, &r);
    if (out) {
        *out = status > 0 ? json_loads(r.body, 0, NULL) : NULL;
    }
    if (status > 0) {
        srv_response_free(&r);
    }
    return status;
}

static const char *js(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static long long ji(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static const char *error_code(json_t *o)
{
    return js(json_object_get(o, "error"), "code");
}

static void track(struct sw *t, const char *id)
{
    ASSERT(t->nwallets < WALLETS_MAX);
    snprintf(t->wallets[t->nwallets++], 33, "%s", id);
}

/* Opens a wallet of c's operator (kind, tier, mcc 0 = none) and funds it by exchange_in. */
static int wallet(struct sw *t, const struct srv_creds *c, const char *kind, int tier, int mcc,
                  long long fund, char id[33])
{
    srv_new_id(id);
    char mccs[24] = "";
    if (mcc) {
        snprintf(mccs, sizeof mccs, ",\"mcc\":%d", mcc);
    }
    if (req(t, c, "POST", "/v1/wallets", NULL,
            "{\"id\":\"%s\",\"kind\":\"%s\",\"tier\":%d,\"form\":\"soft\"%s}", id, kind, tier,
            mccs) != 201) {
        return -1;
    }
    track(t, id);
    char tid[33];
    srv_new_id(tid);
    const char *treasury = c == &t->w.op ? t->w.treasury : t->w.treasury2;
    return fund == 0 || transfer(&t->w, c, tid, treasury, id, fund, "exchange_in", NULL) == 201
               ? 0 : -1;
}

static long long balance(struct sw *t, const char *id)
{
    char path[80];
    json_t *o = NULL;
    snprintf(path, sizeof path, "/v1/wallets/%s", id);
    long long b = req(t, &t->w.s.central, "GET", path, &o, NULL) == 200 ? ji(o, "balance") : -1;
    json_decref(o);
    return b;
}

/* Conservation: the issuance account, both treasuries and every tracked wallet sum to 0. */
static long long money_sum(struct sw *t)
{
    jz_id issuance;
    char hex[33];
    node_treasury_id("central", &issuance);
    jz_id_to_hex(&issuance, hex);
    hex[32] = '\0';
    long long sum = balance(t, hex) + balance(t, t->w.treasury) + balance(t, t->w.treasury2);
    for (int i = 0; i < t->nwallets; i++) {
        sum += balance(t, t->wallets[i]);
    }
    return sum;
}

static int start(struct sw *t)
{
    memset(t, 0, sizeof *t);
    return world_start(&t->w);
}

/* Writes c's credentials (with the server's URL) to DIR/name.json; the path in out. */
static void creds_file(struct sw *t, const struct srv_creds *c, const char *name, char out[600])
{
    snprintf(out, 600, "%s/%s.json", test_tmpdir(), name);
    FILE *f = fopen(out, "w");
    ASSERT(f != NULL);
    fprintf(f, "{\"institution\":\"%s\",\"key_id\":\"%s\",\"secret\":\"%s\",\"url\":\"%s\"}\n",
            c->institution, c->key_id, c->secret, t->w.s.url);
    fclose(f);
}

/* Runs `jiaozi ARGS`; its exit status, and its standard output in out (when not NULL). */
static int cli(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cli(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[3000];
    char args[2500];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s", getenv("JZ_BIN"), args);
    FILE *p = popen(cmd, "r");
    if (!p) {
        return -1;
    }
    char sink[4096];
    size_t n = fread(out ? out : sink, 1, (out ? cap : sizeof sink) - 1, p);
    (out ? out : sink)[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- Child wallets and targeted funds ---- */

TEST(scenario_child_wallets_and_targeted_funds)
{
    static struct sw t;
    REQUIRE(start(&t) == 0);
    struct srv_creds *opa = &t.w.op;
    struct srv_creds *opb = &t.w.op2;
    char parent[33], grocer[33], bar[33], funder[33], id[33], path[120];
    json_t *o = NULL;
    REQUIRE(wallet(&t, opa, "personal", 2, 0, 1000000, parent) == 0);
    REQUIRE(wallet(&t, opb, "merchant", 2, 5411, 0, grocer) == 0);
    REQUIRE(wallet(&t, opb, "merchant", 2, 5813, 0, bar) == 0);
    REQUIRE(wallet(&t, opb, "corporate", 1, 0, 5000000, funder) == 0);

    /* A child with its own (lower) tier, funded from the parent, paying a merchant. */
    snprintf(path, sizeof path, "/v1/wallets/%s/children", parent);
    REQUIRE_EQ_INT(req(&t, opa, "POST", path, &o, "{\"tier\":4}"), 201);
    char child[33];
    snprintf(child, sizeof child, "%s", js(o, "id"));
    CHECK_EQ_STR(js(o, "parent"), parent);
    CHECK_EQ_INT(ji(o, "tier"), 4);
    json_decref(o);
    track(&t, child);
    CHECK_EQ_INT(req(&t, opb, "POST", path, NULL, "{\"tier\":4}"), 403); /* not opb's */
    srv_new_id(id);
    CHECK_EQ_INT(transfer(&t.w, opa, id, parent, child, 5000, "p2p", NULL), 201);
    char pay1[33];
    srv_new_id(pay1);
    CHECK_EQ_INT(transfer(&t.w, opa, pay1, child, grocer, 1200, "payment", NULL), 201);
    /* The merchant's operator sees the child as the payer, never the parent; and since the
     * child is a tier-4 wallet of another operator, only as its pseudonym (DESIGN.md §8:
     * controllable anonymity, src/api_risk.c). Central sees the child itself. */
    snprintf(path, sizeof path, "/v1/transfers/%s", pay1);
    REQUIRE_EQ_INT(req(&t, opb, "GET", path, &o, NULL), 200);
    CHECK(strcmp(js(o, "debit"), parent) != 0);
    CHECK(strcmp(js(o, "debit"), child) != 0);
    json_decref(o);
    REQUIRE_EQ_INT(req(&t, &t.w.s.central, "GET", path, &o, NULL), 200);
    CHECK_EQ_STR(js(o, "debit"), child);
    json_decref(o);
    /* The child's own limits: tier 4 pays at most 2,000 CNY at once. */
    srv_new_id(id);
    CHECK_EQ_INT(transfer(&t.w, opa, id, parent, child, 300000, "p2p", NULL), 201);
    srv_new_id(id);
    CHECK_EQ_INT(transfer(&t.w, opa, id, child, grocer, 200001, "payment", NULL), 422);
    snprintf(path, sizeof path, "/v1/wallets/%s/children", parent);
    REQUIRE_EQ_INT(req(&t, opa, "GET", path, &o, NULL), 200);
    json_t *kids = json_object_get(o, "children");
    CHECK_EQ_INT(json_array_size(kids), 1);
    CHECK_EQ_STR(js(json_array_get(kids, 0), "id"), child);
    json_decref(o);
    CHECK_EQ_INT(money_sum(&t), 0);

    /* Targeted funds: opb's funder disburses to opa's holder, for groceries, for 3 s. */
    int64_t expires = now_ms() + 3000;
    char dis[33];
    srv_new_id(dis);
#define DISBURSE_BODY                                                                   \
    "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":20000,"                  \
    "\"restriction\":{\"mccs\":[5411],\"expires_at\":%lld}}"
    REQUIRE_EQ_INT(req(&t, opb, "POST", "/v1/disbursements", &o, DISBURSE_BODY, dis, funder, parent,
                       (long long)expires), 201);
    char tf[33];
    snprintf(tf, sizeof tf, "%s", js(o, "credit"));
    CHECK_EQ_STR(js(o, "recipient"), parent);
    CHECK_EQ_STR(js(o, "kind"), "disbursement");
    json_decref(o);
    track(&t, tf);
    /* Replaying it changes nothing; a funder debiting another's wallet is refused. */
    CHECK_EQ_INT(req(&t, opb, "POST", "/v1/disbursements", NULL, DISBURSE_BODY, dis, funder, parent,
                     (long long)expires), 200);
    srv_new_id(id);
    CHECK_EQ_INT(req(&t, opa, "POST", "/v1/disbursements", NULL, DISBURSE_BODY, id, funder, parent,
                     (long long)expires), 403);
    snprintf(path, sizeof path, "/v1/wallets/%s", tf);
    REQUIRE_EQ_INT(req(&t, opa, "GET", path, &o, NULL), 200);
    json_t *rs = json_object_get(o, "restriction");
    CHECK_EQ_STR(js(o, "parent"), parent);
    CHECK_EQ_INT(ji(o, "balance"), 20000);
    CHECK_EQ_STR(js(rs, "return_to"), funder);
    CHECK_EQ_INT(ji(rs, "expires_at"), expires);
    CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(rs, "mccs"), 0)), 5411);
    CHECK(json_is_false(json_object_get(rs, "swept")));
    json_decref(o);
    /* Spent only where allowed. */
    srv_new_id(id);
    CHECK_EQ_INT(transfer(&t.w, opa, id, tf, bar, 100, "payment", NULL), 422);
    struct srv_response r;
    srv_new_id(id);
    CHECK_EQ_INT(transfer(&t.w, opa, id, tf, bar, 100, "payment", &r), 422);
    CHECK(strstr(r.body, "restricted_category") != NULL);
    srv_response_free(&r);
    srv_new_id(id);
    CHECK_EQ_INT(transfer(&t.w, opa, id, tf, parent, 100, "p2p", &r), 422);
    CHECK(strstr(r.body, "restricted_category") != NULL);
    srv_response_free(&r);
    srv_new_id(id);
    CHECK_EQ_INT(transfer(&t.w, opa, id, tf, grocer, 3000, "payment", NULL), 201);
    long long funder_before = balance(&t, funder);
    CHECK_EQ_INT(money_sum(&t), 0);

    /* At the expiry the rest goes home by itself (the ticker makes the batch). */
    sleep_until(expires + 700);
    REQUIRE_EQ_INT(req(&t, opa, "GET", path, &o, NULL), 200);
    rs = json_object_get(o, "restriction");
    CHECK(json_is_true(json_object_get(rs, "swept")));
    CHECK_EQ_INT(ji(rs, "swept_amount"), 17000);
    CHECK(ji(rs, "swept_at") >= expires);
    CHECK_EQ_INT(ji(o, "balance"), 0);
    json_decref(o);
    CHECK_EQ_INT(balance(&t, funder), funder_before + 17000);
    srv_new_id(id);
    CHECK_EQ_INT(transfer(&t.w, opa, id, tf, grocer, 1, "payment", &r), 422);
    CHECK(strstr(r.body, "funds_expired") != NULL);
    srv_response_free(&r);
    CHECK_EQ_INT(money_sum(&t), 0);
    CHECK_EQ_INT(srv_stop(&t.w.s, SIGTERM), 0);
}

/* ---- Merchants, orders, QR codes, refunds ---- */

/* A merchant's key as credentials. */
static int merchant(struct sw *t, const struct srv_creds *op, const char *wallet_id,
                    struct srv_creds *key, char static_qr[600])
{
    json_t *o = NULL;
    int status = req(t, op, "POST", "/v1/merchants", &o,
                     "{\"wallet\":\"%s\",\"name\":\"Noodle Shop\"}", wallet_id);
    memset(key, 0, sizeof *key);
    snprintf(key->institution, sizeof key->institution, "merchant");
    snprintf(key->key_id, sizeof key->key_id, "%s", js(o, "key_id"));
    snprintf(key->secret, sizeof key->secret, "%s", js(o, "secret"));
    snprintf(static_qr, 600, "%s", js(o, "static_qr"));
    json_decref(o);
    return status == 201 && key->secret[0] ? 0 : -1;
}

static int order(struct sw *t, const struct srv_creds *key, long long amount, int64_t expires,
                 char id[33], char qr[600])
{
    json_t *o = NULL;
    int status = req(t, key, "POST", "/v1/orders", &o,
                     "{\"amount\":%lld,\"expires_at\":%lld,\"ref\":\"table-7\"}", amount,
                     (long long)expires);

    snprintf(id, 33, "%s", js(o, "id"));
    snprintf(qr, 600, "%s", js(o, "qr"));
    json_decref(o);
    return status == 201 ? 0 : -1;
}

static int pay(struct sw *t, const struct srv_creds *c, const char *qr, const char *debit,
               json_t **out)
{
    return req(t, c, "POST", "/v1/pay", out, "{\"qr\":\"%s\",\"debit\":\"%s\"}", qr, debit);
}

static int refund(struct sw *t, const struct srv_creds *c, const char *order_id, const char *id,
                  long long amount, json_t **out)
{
    char path[120];
    snprintf(path, sizeof path, "/v1/orders/%s/refunds", order_id);
    return req(t, c, "POST", path, out, "{\"id\":\"%s\",\"amount\":%lld}", id, amount);
}

/* A merchant key reaches no core route and no scenario route but its own. */
static void check_merchant_key_confined(struct sw *t, const struct srv_creds *key,
                                        const char *shop, const char *payer)
{
    char path[120];
    snprintf(path, sizeof path, "/v1/wallets/%s", shop);
    CHECK_EQ_INT(req(t, key, "GET", path, NULL, NULL), 403);
    CHECK_EQ_INT(req(t, key, "GET", "/v1/institutions/opb", NULL, NULL), 403);
    CHECK_EQ_INT(req(t, key, "GET", "/v1/audit/head", NULL, NULL), 403);
    CHECK_EQ_INT(transfer(&t->w, key, "0123456789abcdef0123456789abcdef", shop, payer, 1, "p2p",
                          NULL), 403);
    CHECK_EQ_INT(req(t, key, "POST", "/v1/wallets", NULL,
                     "{\"kind\":\"personal\",\"tier\":4,\"form\":\"soft\"}"), 403);
    CHECK_EQ_INT(req(t, key, "POST", "/v1/merchants", NULL,
                     "{\"wallet\":\"%s\",\"name\":\"X\"}", shop), 403);
    CHECK_EQ_INT(req(t, key, "POST", "/v1/pay", NULL, "{\"qr\":\"x\",\"debit\":\"%s\"}", shop),
                 403);
    snprintf(path, sizeof path, "/v1/wallets/%s/children", shop);
    CHECK_EQ_INT(req(t, key, "GET", path, NULL, NULL), 403);
}

TEST(scenario_merchant_orders_qr_and_refunds)
{
    static struct sw t;
    REQUIRE(start(&t) == 0);
    struct srv_creds *opa = &t.w.op;
    struct srv_creds *opb = &t.w.op2;
    struct srv_creds key, key2;
    char shop[33], shop2[33], payer[33], payer2[33], static_qr[600], qr2[600];
    char oid[33], qr[600], id[33], path[200];
    json_t *o = NULL;
    REQUIRE(wallet(&t, opb, "merchant", 2, 5812, 0, shop) == 0);
    REQUIRE(wallet(&t, opb, "merchant", 2, 5812, 0, shop2) == 0);
    REQUIRE(wallet(&t, opa, "personal", 3, 0, 100000, payer) == 0);
    REQUIRE(wallet(&t, opa, "personal", 3, 0, 100000, payer2) == 0);
    REQUIRE(merchant(&t, opb, shop, &key, static_qr) == 0);
    REQUIRE(merchant(&t, opb, shop2, &key2, qr2) == 0);
    /* The same registration again shows the merchant without its secret. */
    REQUIRE_EQ_INT(req(&t, opb, "POST", "/v1/merchants", &o,
                       "{\"wallet\":\"%s\",\"name\":\"Noodle Shop\"}", shop), 200);
    CHECK(json_object_get(o, "secret") == NULL);
    CHECK_EQ_STR(js(o, "key_id"), key.key_id);
    json_decref(o);
    CHECK_EQ_INT(req(&t, opa, "POST", "/v1/merchants", NULL,
                     "{\"wallet\":\"%s\",\"name\":\"Mine\"}", shop), 403);
    CHECK_EQ_INT(req(&t, opb, "POST", "/v1/merchants", NULL,
                     "{\"wallet\":\"%s\",\"name\":\"Other\"}", shop), 409);
    check_merchant_key_confined(&t, &key, shop, payer);

    /* The merchant makes an order; only it (and its operator) may see it. */
    REQUIRE(order(&t, &key, 2500, now_ms() + 60000, oid, qr) == 0);
    CHECK(strncmp(qr, "jiaozi://pay?v=1&m=", 19) == 0);
    snprintf(path, sizeof path, "/v1/orders/%s", oid);
    REQUIRE_EQ_INT(req(&t, &key, "GET", path, &o, NULL), 200);
    CHECK_EQ_STR(js(o, "status"), "open");
    CHECK_EQ_INT(ji(o, "amount"), 2500);
    json_decref(o);
    CHECK_EQ_INT(req(&t, opb, "GET", path, NULL, NULL), 200);
    CHECK_EQ_INT(req(&t, &key2, "GET", path, NULL, NULL), 403);
    CHECK_EQ_INT(req(&t, opa, "GET", path, NULL, NULL), 403);
    CHECK_EQ_INT(req(&t, &key, "POST", "/v1/orders", NULL,
                     "{\"merchant\":\"%s\",\"amount\":1,\"expires_at\":%lld}", shop2,
                     (long long)now_ms() + 1000), 403);

    /* A tampered code is refused before anything moves: the amount, the order, the signature. */
    char bad[600];
    snprintf(bad, sizeof bad, "%s", qr);
    char *a = strstr(bad, "&a=2500");
    REQUIRE(a != NULL);
    a[3] = '1';
    CHECK_EQ_INT(pay(&t, opa, bad, payer, &o), 422);
    CHECK_EQ_STR(error_code(o), "qr_invalid");
    json_decref(o);
    snprintf(bad, sizeof bad, "%s", qr);
    char *sig = strstr(bad, "&sig=");
    REQUIRE(sig != NULL);
    sig[10] = sig[10] == '0' ? '1' : '0';
    CHECK_EQ_INT(pay(&t, opa, bad, payer, NULL), 422);
    CHECK_EQ_INT(pay(&t, opa, "jiaozi://pay?v=1", payer, NULL), 422);
    CHECK_EQ_INT(balance(&t, payer), 100000);

    /* Paid once: the same payer again is a replay (200, no second debit); another payer
     * conflicts. */
    REQUIRE_EQ_INT(pay(&t, opa, qr, payer, &o), 201);
    CHECK_EQ_STR(js(o, "credit"), shop);
    CHECK_EQ_STR(js(o, "kind"), "payment");
    CHECK_EQ_STR(js(o, "order"), oid);
    json_decref(o);
    CHECK_EQ_INT(pay(&t, opa, qr, payer, NULL), 200);
    CHECK_EQ_INT(pay(&t, opa, qr, payer2, &o), 409);
    CHECK_EQ_STR(error_code(o), "id_conflict");
    json_decref(o);
    CHECK_EQ_INT(balance(&t, payer), 97500);
    CHECK_EQ_INT(balance(&t, payer2), 100000);
    CHECK_EQ_INT(balance(&t, shop), 2500);
    REQUIRE_EQ_INT(req(&t, &key, "GET", path, &o, NULL), 200);
    CHECK_EQ_STR(js(o, "status"), "paid");
    CHECK_EQ_STR(js(o, "payer"), payer);
    json_decref(o);

    /* A static code: the payer names the amount and the transfer id. */
    srv_new_id(id);
    CHECK_EQ_INT(req(&t, opa, "POST", "/v1/pay", &o,
                     "{\"qr\":\"%s\",\"debit\":\"%s\",\"amount\":800,\"id\":\"%s\"}", static_qr,
                     payer2, id), 201);
    CHECK_EQ_STR(js(o, "credit"), shop);
    json_decref(o);
    CHECK_EQ_INT(req(&t, opa, "POST", "/v1/pay", NULL, "{\"qr\":\"%s\",\"debit\":\"%s\"}",
                     static_qr, payer2), 400);
    CHECK_EQ_INT(money_sum(&t), 0);

    /* Refunds: partial, then the rest; never more than was paid in total. */
    char r1[33], r2[33], r3[33];
    srv_new_id(r1);
    srv_new_id(r2);
    srv_new_id(r3);
    CHECK_EQ_INT(refund(&t, &key2, oid, r1, 1000, NULL), 403);
    REQUIRE_EQ_INT(refund(&t, &key, oid, r1, 1000, &o), 201);
    CHECK_EQ_STR(js(o, "kind"), "refund");
    CHECK_EQ_STR(js(o, "credit"), payer);
    CHECK_EQ_INT(ji(o, "refunded"), 1000);
    json_decref(o);
    CHECK_EQ_INT(refund(&t, &key, oid, r1, 1000, NULL), 200);
    CHECK_EQ_INT(refund(&t, &key, oid, r1, 999, NULL), 409);
    CHECK_EQ_INT(refund(&t, &key, oid, r2, 1501, &o), 422);
    CHECK_EQ_STR(error_code(o), "refund_exceeds_payment");
    json_decref(o);
    CHECK_EQ_INT(refund(&t, opb, oid, r2, 1500, NULL), 201);
    CHECK_EQ_INT(refund(&t, &key, oid, r3, 1, NULL), 422);
    CHECK_EQ_INT(balance(&t, payer), 100000);
    CHECK_EQ_INT(balance(&t, shop), 800);
    REQUIRE_EQ_INT(req(&t, &key, "GET", path, &o, NULL), 200);
    CHECK_EQ_INT(ji(o, "refunded"), 2500);
    json_decref(o);

    /* Unpaid and expired orders. */
    char late[33], late_qr[600];
    REQUIRE(order(&t, &key, 100, now_ms() + 800, late, late_qr) == 0);
    CHECK_EQ_INT(refund(&t, &key, late, r3, 1, &o), 422);
    CHECK_EQ_STR(error_code(o), "order_not_paid");
    json_decref(o);
    sleep_until(now_ms() + 900);
    CHECK_EQ_INT(pay(&t, opa, late_qr, payer, &o), 422);
    CHECK_EQ_STR(error_code(o), "order_expired");
    json_decref(o);
    CHECK_EQ_INT(req(&t, &key, "POST", "/v1/orders", NULL, "{\"amount\":5,\"expires_at\":1}"),
                 400);
    CHECK_EQ_INT(money_sum(&t), 0);

    /* The same through the CLI: a merchant with a saved key makes an order, a payer pays
     * its code, the merchant refunds it whole and no more. */
    char opb_file[600], opa_file[600], key_file[600], out[8192], cli_shop[33];
    creds_file(&t, opb, "opb", opb_file);
    creds_file(&t, opa, "opa", opa_file);
    snprintf(key_file, sizeof key_file, "%s/shop-key.json", test_tmpdir());
    REQUIRE(wallet(&t, opb, "merchant", 2, 5812, 0, cli_shop) == 0);
    CHECK_EQ_INT(cli(NULL, 0, "merchant add --wallet %s --name Cart --save %s --credentials %s",
                     cli_shop, key_file, opb_file), 0);
    REQUIRE_EQ_INT(cli(out, sizeof out, "order create --amount 300 --expires +60 --ref cli "
                                        "--credentials %s", key_file), 0);
    json_t *made = json_loads(out, 0, NULL);
    char cli_order[33];
    snprintf(cli_order, sizeof cli_order, "%s", js(made, "id"));
    CHECK_EQ_INT(cli(NULL, 0, "order pay --qr '%s' --from %s --credentials %s", js(made, "qr"),
                     payer, opa_file), 0);
    json_decref(made);
    CHECK_EQ_INT(cli(NULL, 0, "refund --order %s --amount 300 --credentials %s", cli_order,
                     key_file), 0);
    CHECK_EQ_INT(cli(NULL, 0, "refund --order %s --amount 1 --credentials %s 2>/dev/null",
                     cli_order, key_file), 1);
    CHECK_EQ_INT(cli(NULL, 0, "order show %s --credentials %s --amout 1 2>/dev/null", cli_order,
                     key_file), 2);
    CHECK_EQ_INT(balance(&t, payer), 100000);
    CHECK_EQ_INT(money_sum(&t), 0);
    CHECK_EQ_INT(srv_stop(&t.w.s, SIGTERM), 0);
}

/* ---- Bills ---- */

static const char bill_csv[] = "reference,amount,due_date,payer_name\\n"
                               "WTR-0001,12345,2026-07-15,\xe5\xbc\xa0\xe4\xb8\x89\\n"
                               "WTR-0002,800,2026-07-15,Li Si\\n"
                               "WTR-0003,99,2026-08-01,W\\n";

TEST(scenario_bills_upload_pay_and_paid_file)
{
    static struct sw t;
    REQUIRE(start(&t) == 0);
    struct srv_creds *opa = &t.w.op;
    struct srv_creds *opb = &t.w.op2;
    char water[33], payer[33], payer2[33], path[200];
    json_t *o = NULL;
    REQUIRE(wallet(&t, opb, "corporate", 1, 0, 0, water) == 0);
    REQUIRE(wallet(&t, opa, "personal", 2, 0, 100000, payer) == 0);
    REQUIRE(wallet(&t, opa, "personal", 2, 0, 100000, payer2) == 0);
    REQUIRE_EQ_INT(req(&t, opb, "POST", "/v1/billers", &o,
                       "{\"wallet\":\"%s\",\"name\":\"City Water\",\"category\":\"water\"}", water),
                   201);
    json_decref(o);
    CHECK_EQ_INT(req(&t, opb, "POST", "/v1/billers", NULL,
                     "{\"wallet\":\"%s\",\"name\":\"City Water\",\"category\":\"gas\"}", water),
                 409);
    snprintf(path, sizeof path, "/v1/billers/%s/bills", water);
    REQUIRE_EQ_INT(req(&t, opb, "POST", path, &o, "{\"csv\":\"%s\"}", bill_csv), 200);
    CHECK_EQ_INT(ji(o, "bills"), 3);
    CHECK_EQ_INT(ji(o, "new"), 3);
    json_decref(o);
    REQUIRE_EQ_INT(req(&t, opb, "POST", path, &o, "{\"csv\":\"%s\"}", bill_csv), 200);
    CHECK_EQ_INT(ji(o, "unchanged"), 3);
    json_decref(o);
    CHECK_EQ_INT(req(&t, opa, "POST", path, NULL, "{\"csv\":\"%s\"}", bill_csv), 403);
    /* A bad line refuses the whole file (nothing of it is stored); a changed bill too. */
    REQUIRE_EQ_INT(req(&t, opb, "POST", path, &o,
                       "{\"csv\":\"reference,amount,due_date,payer_name\\nNEW-1,5,2026-07-15,A\\n"
                       "NEW-2,12.5,2026-07-15,B\\n\"}"), 400);
    CHECK(strstr(js(json_object_get(o, "error"), "message"), "line 3") != NULL);
    json_decref(o);
    CHECK_EQ_INT(req(&t, opb, "POST", path, NULL,
                     "{\"csv\":\"reference,amount,due_date,payer_name\\nNEW-3,5,2026-02-30,A\\n\"}"),
                 400);
    CHECK_EQ_INT(req(&t, opb, "POST", path, NULL,
                     "{\"csv\":\"reference,amount,due_date,payer_name\\nWTR-0002,801,2026-07-15,"
                     "Li Si\\n\"}"), 409);
    snprintf(path, sizeof path, "/v1/billers/%s/bills/NEW-1", water);
    CHECK_EQ_INT(req(&t, opa, "GET", path, NULL, NULL), 404);

    /* The payer looks the bill up (the name masked) and pays exactly its amount, once. */
    snprintf(path, sizeof path, "/v1/billers/%s/bills/WTR-0001", water);
    REQUIRE_EQ_INT(req(&t, opa, "GET", path, &o, NULL), 200);
    CHECK_EQ_INT(ji(o, "amount"), 12345);
    CHECK_EQ_STR(js(o, "payer_name"), "\xe5\xbc\xa0*");
    CHECK_EQ_STR(js(o, "status"), "unpaid");
    CHECK_EQ_STR(js(o, "category"), "water");
    json_decref(o);
    snprintf(path, sizeof path, "/v1/billers/%s/payments", water);
#define BILL_PAY "{\"reference\":\"WTR-0001\",\"debit\":\"%s\",\"amount\":%d}"
    CHECK_EQ_INT(req(&t, opa, "POST", path, &o, BILL_PAY, payer, 12344), 422);
    CHECK_EQ_STR(error_code(o), "bill_amount_mismatch");
    json_decref(o);
    REQUIRE_EQ_INT(req(&t, opa, "POST", path, &o, BILL_PAY, payer, 12345), 201);
    CHECK_EQ_STR(js(o, "kind"), "bill");
    CHECK_EQ_STR(js(o, "credit"), water);
    json_decref(o);
    CHECK_EQ_INT(req(&t, opa, "POST", path, NULL, BILL_PAY, payer, 12345), 200);
    CHECK_EQ_INT(req(&t, opa, "POST", path, &o, BILL_PAY, payer2, 12345), 409);
    CHECK_EQ_STR(error_code(o), "id_conflict");
    json_decref(o);
    CHECK_EQ_INT(balance(&t, payer), 100000 - 12345);
    CHECK_EQ_INT(balance(&t, payer2), 100000);
    CHECK_EQ_INT(balance(&t, water), 12345);
    snprintf(path, sizeof path, "/v1/billers/%s/bills/NOPE", water);
    CHECK_EQ_INT(req(&t, opa, "GET", path, NULL, NULL), 404);

    /* The biller's paid-bills file of today (UTC+8). */
    char date[11];
    time_t s = (time_t)(now_ms() / 1000 + 8 * 3600);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    snprintf(path, sizeof path, "/v1/billers/%s/paid?date=%s", water, date);
    REQUIRE_EQ_INT(req(&t, opb, "GET", path, &o, NULL), 200);
    CHECK_EQ_INT(ji(o, "count"), 1);
    CHECK_EQ_INT(ji(o, "total"), 12345);
    static const char head[] = "reference,amount,paid_at,transfer\nWTR-0001,12345,";
    CHECK(strncmp(js(o, "csv"), head, strlen(head)) == 0);
    CHECK_EQ_INT(strlen(js(o, "sm3")), 64);
    json_decref(o);
    CHECK_EQ_INT(req(&t, opa, "GET", path, NULL, NULL), 403);
    snprintf(path, sizeof path, "/v1/billers/%s/paid?date=2026-13-01", water);
    CHECK_EQ_INT(req(&t, opb, "GET", path, NULL, NULL), 400);
    CHECK_EQ_INT(money_sum(&t), 0);

    /* The CLI: a file from disk, a payment, the paid-bills file to disk. */
    char opb_file[600], opa_file[600], csv_file[700], paid_file[700], text[4096];
    creds_file(&t, opb, "opb", opb_file);
    creds_file(&t, opa, "opa", opa_file);
    snprintf(csv_file, sizeof csv_file, "%s/bills.csv", test_tmpdir());
    snprintf(paid_file, sizeof paid_file, "%s/paid.csv", test_tmpdir());
    FILE *f = fopen(csv_file, "w");
    REQUIRE(f != NULL);
    fputs("reference,amount,due_date,payer_name\nGAS-9,4321,2026-09-30,Zhao\n", f);
    fclose(f);
    CHECK_EQ_INT(cli(NULL, 0, "bill upload --biller %s --file %s --credentials %s", water,
                     csv_file, opb_file), 0);
    CHECK_EQ_INT(cli(NULL, 0, "bill pay --biller %s --ref GAS-9 --from %s --amount 4321 "
                              "--credentials %s", water, payer2, opa_file), 0);
    CHECK_EQ_INT(cli(NULL, 0, "bill paid --biller %s --date %s --out %s --credentials %s", water,
                     date, paid_file, opb_file), 0);
    f = fopen(paid_file, "r");
    REQUIRE(f != NULL);
    size_t got = fread(text, 1, sizeof text - 1, f);
    text[got] = '\0';
    fclose(f);
    CHECK(strstr(text, "\nWTR-0001,12345,") != NULL);
    CHECK(strstr(text, "\nGAS-9,4321,") != NULL);
    CHECK_EQ_INT(money_sum(&t), 0);
    CHECK_EQ_INT(srv_stop(&t.w.s, SIGTERM), 0);
}

/* ---- Red envelopes ---- */

static void hex32(const uint8_t *b, char out[65])
{
    jz_hex_encode(b, 32, out);
}

/* Re-runs the published draw with seed (hex): 1 when it gives the published winners. */
static int draw_matches(json_t *draw, const char *seed_hex)
{
    json_t *regs = json_object_get(draw, "registrations");
    json_t *wins = json_object_get(draw, "winners");
    size_t n = json_array_size(regs);
    jz_id ids[64];
    uint32_t out[64];
    uint8_t seed[32];
    uint8_t digest[32];
    if (n > 64 || jz_hex_decode(seed_hex, 64, seed, 32) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        jz_id_from_hex(json_string_value(json_array_get(regs, i)), 32, &ids[i]);
    }
    int64_t k = scen_draw(seed, ids, (uint32_t)n, (uint32_t)json_array_size(wins), out, digest);
    if (k != (int64_t)json_array_size(wins)) {
        return 0;
    }
    for (int64_t i = 0; i < k; i++) {
        char h[33];
        jz_id_to_hex(&ids[out[i]], h);
        h[32] = '\0';
        if (strcmp(h, js(json_array_get(wins, (size_t)i), "registration")) != 0) {
            return 0;
        }
    }
    return 1;
}

#define REGISTRANTS 8

TEST(scenario_campaign_draw_prizes_and_expiry)
{
    static struct sw t;
    REQUIRE(start(&t) == 0);
    struct srv_creds *opa = &t.w.op;
    struct srv_creds *opb = &t.w.op2;
    char pool[33], grocer[33], cid[33], path[200], seed_hex[65], commit_hex[65];
    char people[REGISTRANTS][33];
    json_t *o = NULL;
    REQUIRE(wallet(&t, opa, "corporate", 1, 0, 1000000, pool) == 0);
    REQUIRE(wallet(&t, opb, "merchant", 2, 5411, 0, grocer) == 0);
    for (int i = 0; i < REGISTRANTS; i++) {
        REQUIRE(wallet(&t, i % 2 ? opb : opa, "personal", 4, 0, 0, people[i]) == 0);
    }
    uint8_t seed[32];
    uint8_t commit[32];
    crypto_random(seed, sizeof seed);
    crypto_sm3(seed, sizeof seed, commit);
    hex32(seed, seed_hex);
    hex32(commit, commit_hex);
    srv_new_id(cid);
    int64_t t0 = now_ms();
    int64_t closes = t0 + 2500;
    int64_t spend_ends = t0 + 6000;
    /* Every registrant wins (9 prizes), so the phone registrant's wallet is opened too. */
#define CAMPAIGN_BODY                                                                   \
    "{\"id\":\"%s\",\"name\":\"Spring red envelopes\",\"pool\":\"%s\",\"amount\":1000,"    \
    "\"winners\":9,\"registration_opens_at\":%lld,\"registration_closes_at\":%lld,"         \
    "\"spend_expires_at\":%lld,\"mccs\":[5411],\"seed_commitment\":\"%s\"}"
    CHECK_EQ_INT(req(&t, opb, "POST", "/v1/campaigns", NULL, CAMPAIGN_BODY, cid, pool, (long long)t0,
                     (long long)closes, (long long)spend_ends, commit_hex), 403);
    REQUIRE_EQ_INT(req(&t, opa, "POST", "/v1/campaigns", &o, CAMPAIGN_BODY, cid, pool, (long long)t0,
                       (long long)closes, (long long)spend_ends, commit_hex), 201);
    CHECK_EQ_STR(js(o, "status"), "open");
    json_decref(o);
    snprintf(path, sizeof path, "/v1/campaigns/%s/registrations", cid);
    for (int i = 0; i < REGISTRANTS; i++) {
        CHECK_EQ_INT(req(&t, i % 2 ? opb : opa, "POST", path, NULL, "{\"wallet\":\"%s\"}",
                         people[i]), 201);
    }
    REQUIRE_EQ_INT(req(&t, opb, "POST", path, &o, "{\"phone\":\"+8613800138000\"}"), 201);
    char phone_wallet[33];
    snprintf(phone_wallet, sizeof phone_wallet, "%s", js(o, "wallet"));
    json_decref(o);
    /* Registering twice: the same wallet, the same phone; someone else's wallet. */
    CHECK_EQ_INT(req(&t, opa, "POST", path, &o, "{\"wallet\":\"%s\"}", people[0]), 409);
    CHECK_EQ_STR(error_code(o), "already_registered");
    json_decref(o);
    CHECK_EQ_INT(req(&t, opb, "POST", path, NULL, "{\"phone\":\"+8613800138000\"}"), 409);
    CHECK_EQ_INT(req(&t, opa, "POST", path, NULL, "{\"wallet\":\"%s\"}", people[1]), 403);

    snprintf(path, sizeof path, "/v1/campaigns/%s/draw", cid);
    CHECK_EQ_INT(req(&t, opa, "POST", path, &o, "{\"seed\":\"%s\"}", seed_hex), 422);
    CHECK_EQ_STR(error_code(o), "draw_not_ready");
    json_decref(o);
    sleep_until(closes + 50);
    snprintf(path, sizeof path, "/v1/campaigns/%s/registrations", cid);
    CHECK_EQ_INT(req(&t, opa, "POST", path, &o, "{\"phone\":\"13900000000\"}"), 422);
    CHECK_EQ_STR(error_code(o), "registration_closed");
    json_decref(o);

    /* The draw: only with the committed seed. */
    snprintf(path, sizeof path, "/v1/campaigns/%s/draw", cid);
    char other_hex[65];
    snprintf(other_hex, sizeof other_hex, "%s", seed_hex);
    other_hex[0] = other_hex[0] == '0' ? '1' : '0';
    CHECK_EQ_INT(req(&t, opa, "POST", path, &o, "{\"seed\":\"%s\"}", other_hex), 422);
    CHECK_EQ_STR(error_code(o), "seed_mismatch");
    json_decref(o);
    CHECK_EQ_INT(req(&t, opb, "POST", path, NULL, "{\"seed\":\"%s\"}", seed_hex), 403);
    REQUIRE_EQ_INT(req(&t, opa, "POST", path, &o, "{\"seed\":\"%s\"}", seed_hex), 200);
    json_t *wins = json_object_get(o, "winners");
    REQUIRE_EQ_INT(json_array_size(wins), 9);
    for (size_t i = 0; i < 9; i++) {
        CHECK_EQ_STR(js(json_array_get(wins, i), "status"), "credited");
    }
    json_decref(o);
    long long pool_after_draw = balance(&t, pool);
    CHECK_EQ_INT(pool_after_draw, 1000000 - 9000);
    /* Drawing again replays: nobody is paid twice. */
    CHECK_EQ_INT(req(&t, opa, "POST", path, NULL, "{\"seed\":\"%s\"}", seed_hex), 200);
    CHECK_EQ_INT(balance(&t, pool), pool_after_draw);

    /* Anyone re-runs the published draw: the seed gives the list, another seed another. */
    REQUIRE_EQ_INT(req(&t, opb, "GET", path, &o, NULL), 200);
    CHECK_EQ_STR(js(o, "seed"), seed_hex);
    CHECK_EQ_INT(json_array_size(json_object_get(o, "registrations")), REGISTRANTS + 1);
    CHECK_EQ_INT(draw_matches(o, seed_hex), 1);
    CHECK_EQ_INT(draw_matches(o, other_hex), 0);
    char opb_file[600], out[4096];
    creds_file(&t, opb, "opb", opb_file);
    CHECK_EQ_INT(cli(out, sizeof out, "campaign draw %s --verify --credentials %s", cid,
                     opb_file), 0);
    CHECK(strncmp(out, "verified", 8) == 0);
    CHECK_EQ_INT(cli(out, sizeof out, "campaign draw %s --verify --seed %s --credentials %s", cid,
                     other_hex, opb_file), 1);
    CHECK(strncmp(out, "MISMATCH", 8) == 0);
    wins = json_object_get(o, "winners");
    char child0[33];
    snprintf(child0, sizeof child0, "%s", js(json_array_get(wins, 0), "child"));
    for (size_t i = 0; i < json_array_size(wins); i++) {
        track(&t, js(json_array_get(wins, i), "child"));
    }
    json_decref(o);
    track(&t, phone_wallet);
    CHECK_EQ_INT(money_sum(&t), 0);

    /* The phone registrant got a tier-4 wallet (opened by opb) with the prize in a child. */
    snprintf(path, sizeof path, "/v1/wallets/%s", phone_wallet);
    REQUIRE_EQ_INT(req(&t, opb, "GET", path, &o, NULL), 200);
    CHECK_EQ_INT(ji(o, "tier"), 4);
    json_decref(o);
    snprintf(path, sizeof path, "/v1/wallets/%s/children", phone_wallet);
    REQUIRE_EQ_INT(req(&t, opb, "GET", path, &o, NULL), 200);
    json_t *kid = json_array_get(json_object_get(o, "children"), 0);
    CHECK_EQ_INT(json_array_size(json_object_get(o, "children")), 1);
    CHECK_EQ_INT(ji(kid, "balance"), 1000);
    CHECK_EQ_STR(js(json_object_get(kid, "restriction"), "return_to"), pool);
    json_decref(o);

    /* A winner spends part at a listed merchant; the rest returns at the period's end. */
    snprintf(path, sizeof path, "/v1/wallets/%s", child0);
    REQUIRE_EQ_INT(req(&t, &t.w.s.central, "GET", path, &o, NULL), 200);
    CHECK_EQ_INT(ji(o, "balance"), 1000);
    CHECK_EQ_STR(js(json_object_get(o, "restriction"), "return_to"), pool);
    const struct srv_creds *owner = strcmp(js(o, "operator"), "opa") == 0 ? opa : opb;
    json_decref(o);
    char id[33];
    srv_new_id(id);
    CHECK_EQ_INT(transfer(&t.w, owner, id, child0, grocer, 300, "payment", NULL), 201);
    srv_new_id(id);
    CHECK_EQ_INT(transfer(&t.w, owner, id, child0, pool, 1, "p2p", NULL), 422);
    sleep_until(spend_ends + 700);
    CHECK_EQ_INT(balance(&t, pool), pool_after_draw + 9000 - 300);
    CHECK_EQ_INT(balance(&t, child0), 0);
    CHECK_EQ_INT(balance(&t, grocer), 300);
    CHECK_EQ_INT(money_sum(&t), 0);
    CHECK_EQ_INT(srv_stop(&t.w.s, SIGTERM), 0);
}

/* ---- Expiries under kill -9 ---- */

struct sweep_view {
    int swept;
    long long swept_at, swept_amount, balance;
};

static struct sweep_view sweep_of(struct sw *t, const char *id)
{
    struct sweep_view v = {-1, -1, -1, -1};
    char path[80];
    json_t *o = NULL;
    snprintf(path, sizeof path, "/v1/wallets/%s", id);
    if (req(t, &t->w.s.central, "GET", path, &o, NULL) == 200) {
        json_t *rs = json_object_get(o, "restriction");
        v.swept = json_is_true(json_object_get(rs, "swept"));
        v.swept_at = ji(rs, "swept_at");
        v.swept_amount = ji(rs, "swept_amount");
        v.balance = ji(o, "balance");
    }
    json_decref(o);
    return v;
}

#define CHECK_SAME_SWEEP(a, b)                           \
    do {                                                 \
        CHECK_EQ_INT((a).swept, (b).swept);              \
        CHECK_EQ_INT((a).swept_at, (b).swept_at);        \
        CHECK_EQ_INT((a).swept_amount, (b).swept_amount); \
        CHECK_EQ_INT((a).balance, (b).balance);          \
    } while (0)

/* A restricted disbursement from funder to holder, expiring at expires; the child's id. */
static int targeted(struct sw *t, const char *funder, const char *holder, long long amount,
                    int64_t expires, char child[33])
{
    char id[33];
    json_t *o = NULL;
    srv_new_id(id);
    int status = req(t, &t->w.op2, "POST", "/v1/disbursements", &o,
                     "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":%lld,"
                     "\"restriction\":{\"expires_at\":%lld}}", id, funder, holder, amount,
                     (long long)expires);
    snprintf(child, 33, "%s", js(o, "credit"));
    json_decref(o);
    if (status == 201) {
        track(t, child);
    }
    return status == 201 ? 0 : -1;
}

/* A campaign of one registrant whose prize (in a restricted child) expires at spend_ends. */
static int one_prize(struct sw *t, const char *pool, const char *person, int64_t closes,
                     int64_t spend_ends, char child[33])
{
    uint8_t seed[32], commit[32];
    char seed_hex[65], commit_hex[65], cid[33], path[120];
    crypto_random(seed, sizeof seed);
    crypto_sm3(seed, sizeof seed, commit);
    hex32(seed, seed_hex);
    hex32(commit, commit_hex);
    srv_new_id(cid);
    json_t *o = NULL;
    if (req(t, &t->w.op, "POST", "/v1/campaigns", NULL,
            "{\"id\":\"%s\",\"name\":\"R\",\"pool\":\"%s\",\"amount\":700,\"winners\":1,"
            "\"registration_opens_at\":0,\"registration_closes_at\":%lld,"
            "\"spend_expires_at\":%lld,\"seed_commitment\":\"%s\"}", cid, pool,
            (long long)closes, (long long)spend_ends, commit_hex) != 201) {
        return -1;
    }
    snprintf(path, sizeof path, "/v1/campaigns/%s/registrations", cid);
    if (req(t, &t->w.op, "POST", path, NULL, "{\"wallet\":\"%s\"}", person) != 201) {
        return -1;
    }
    sleep_until(closes + 20);
    snprintf(path, sizeof path, "/v1/campaigns/%s/draw", cid);
    int status = req(t, &t->w.op, "POST", path, &o, "{\"seed\":\"%s\"}", seed_hex);
    snprintf(child, 33, "%s", js(json_array_get(json_object_get(o, "winners"), 0), "child"));
    json_decref(o);
    if (status == 200) {
        track(t, child);
    }
    return status == 200 ? 0 : -1;
}

/* kill -9, then serve the same directory again. */
static int restart_killed(struct sw *t)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", t->w.s.dir);
    srv_stop(&t->w.s, SIGKILL);
    return srv_start(&t->w.s, dir, NULL);
}

TEST(scenario_expiry_sweeps_survive_kill9)
{
    static struct sw t;
    REQUIRE(start(&t) == 0);
    char holder[33], funder[33], pool[33], early[33], prize[33], late[33];
    REQUIRE(wallet(&t, &t.w.op, "personal", 2, 0, 0, holder) == 0);
    REQUIRE(wallet(&t, &t.w.op2, "corporate", 1, 0, 1000000, funder) == 0);
    REQUIRE(wallet(&t, &t.w.op, "corporate", 1, 0, 1000000, pool) == 0);
    int64_t t0 = now_ms();
    REQUIRE(targeted(&t, funder, holder, 5000, t0 + 1200, early) == 0);
    REQUIRE(targeted(&t, funder, holder, 3000, t0 + 5500, late) == 0);
    REQUIRE(one_prize(&t, pool, holder, t0 + 600, t0 + 1800, prize) == 0);
    sleep_until(t0 + 2500);
    /* Both early expiries were swept by the running node. */
    struct sweep_view e1 = sweep_of(&t, early);
    struct sweep_view p1 = sweep_of(&t, prize);
    long long funder1 = balance(&t, funder);
    long long pool1 = balance(&t, pool);
    CHECK_EQ_INT(e1.swept, 1);
    CHECK_EQ_INT(e1.swept_amount, 5000);
    CHECK(e1.swept_at >= t0 + 1200);
    CHECK_EQ_INT(p1.swept, 1);
    CHECK_EQ_INT(p1.swept_amount, 700);
    CHECK_EQ_INT(pool1, 1000000);
    CHECK_EQ_INT(funder1, 1000000 - 3000);
    CHECK_EQ_INT(sweep_of(&t, late).swept, 0);

    /* kill -9: recovery replays the journal, sweeps included, at their batch timestamps. */
    REQUIRE(restart_killed(&t) == 0);
    struct sweep_view e2 = sweep_of(&t, early);
    struct sweep_view p2 = sweep_of(&t, prize);
    CHECK_SAME_SWEEP(e1, e2);
    CHECK_SAME_SWEEP(p1, p2);
    CHECK_EQ_INT(balance(&t, funder), funder1);
    CHECK_EQ_INT(balance(&t, pool), pool1);
    CHECK_EQ_INT(money_sum(&t), 0);

    /* The late one expires on the restarted node, once; and survives another kill -9. */
    sleep_until(t0 + 6200);
    struct sweep_view l1 = sweep_of(&t, late);
    CHECK_EQ_INT(l1.swept, 1);
    CHECK_EQ_INT(l1.swept_amount, 3000);
    CHECK(l1.swept_at >= t0 + 5500);
    CHECK_EQ_INT(balance(&t, funder), 1000000);
    REQUIRE(restart_killed(&t) == 0);
    struct sweep_view l2 = sweep_of(&t, late);
    CHECK_SAME_SWEEP(l1, l2);
    struct sweep_view e3 = sweep_of(&t, early);
    CHECK_SAME_SWEEP(e1, e3);
    CHECK_EQ_INT(balance(&t, funder), 1000000);
    CHECK_EQ_INT(balance(&t, pool), 1000000);
    CHECK_EQ_INT(money_sum(&t), 0);
    CHECK_EQ_INT(srv_stop(&t.w.s, SIGTERM), 0);
}

/* ---- Bad input: a clear code, and nothing changes ---- */

struct bad_case {
    const char *name;
    int who; /* 0 opa, 1 opb */
    const char *method;
    const char *path; /* %P parent, %M merchant, %B biller, %C campaign, %X unknown id */
    const char *body;
    int status;
    const char *code;
    const char *field;
};

/* Replaces %P %M %B %C %X %F (a far expiry) %N (now + 1 hour) %L (now + 2 hours) in in. */
static void expand(const char *in, char *out, size_t cap, const char *const vals[8])
{
    static const char keys[] = "PMBCXFNL";
    size_t o = 0;
    for (const char *p = in; *p && o + 1 < cap; p++) {
        const char *k = p[0] == '%' && p[1] ? strchr(keys, p[1]) : NULL;
        if (k && *k) {
            o += (size_t)snprintf(out + o, cap - o, "%s", vals[k - keys]);
            p++;
        } else {
            out[o++] = *p;
        }
    }
    out[o < cap ? o : cap - 1] = '\0';
}

static const struct bad_case bad_cases[] = {
    {"child without a tier", 0, "POST", "/v1/wallets/%P/children", "{}", 400, "missing_field",
     "tier"},
    {"child, unknown field", 0, "POST", "/v1/wallets/%P/children", "{'tier':4,'x':1}", 400,
     "unknown_field", "x"},
    {"child, expiry in the past", 0, "POST", "/v1/wallets/%P/children",
     "{'tier':4,'restriction':{'expires_at':1,'return_to':'%P'}}", 400, "invalid_field",
     "restriction.expires_at"},
    {"child, category 0", 0, "POST", "/v1/wallets/%P/children",
     "{'tier':4,'restriction':{'expires_at':%N,'return_to':'%P','mccs':[0]}}", 400,
     "invalid_field", "restriction.mccs"},
    {"child, nine categories", 0, "POST", "/v1/wallets/%P/children",
     "{'tier':4,'restriction':{'expires_at':%N,'return_to':'%P','mccs':[1,2,3,4,5,6,7,8,9]}}",
     400, "invalid_field", "restriction.mccs"},
    {"child, return-to unknown", 0, "POST", "/v1/wallets/%P/children",
     "{'tier':4,'restriction':{'expires_at':%N,'return_to':'%X'}}", 404, "wallet_not_found",
     "restriction.return_to"},
    {"child, expiry too far", 0, "POST", "/v1/wallets/%P/children",
     "{'tier':4,'restriction':{'expires_at':%F,'return_to':'%P'}}", 400, "invalid_field",
     "restriction.expires_at"},
    {"child of a bad id", 0, "POST", "/v1/wallets/xyz/children", "{'tier':4}", 400,
     "invalid_field", "id"},
    {"disbursement without amount", 1, "POST", "/v1/disbursements",
     "{'id':'%X','debit':'%M','credit':'%P'}", 400, "missing_field", "amount"},
    {"disbursement to no wallet", 1, "POST", "/v1/disbursements",
     "{'id':'%X','debit':'%M','credit':'%X','amount':5,'restriction':{'expires_at':%N}}", 404,
     "wallet_not_found", "credit"},
    {"order without merchant", 1, "POST", "/v1/orders", "{'amount':5,'expires_at':%N}", 400,
     "missing_field", "merchant"},
    {"order of no merchant", 1, "POST", "/v1/orders",
     "{'merchant':'%X','amount':5,'expires_at':%N}", 404, "merchant_not_found", "merchant"},
    {"order for a week and more", 1, "POST", "/v1/orders",
     "{'merchant':'%M','amount':5,'expires_at':%F}", 400, "invalid_field", "expires_at"},
    {"order, amount 0", 1, "POST", "/v1/orders", "{'merchant':'%M','amount':0,'expires_at':%N}",
     400, "invalid_field", "amount"},
    {"unknown order", 1, "GET", "/v1/orders/%X", NULL, 404, "order_not_found", "id"},
    {"garbage QR", 0, "POST", "/v1/pay", "{'qr':'garbage','debit':'%P'}", 422, "qr_invalid",
     "qr"},
    {"refund of no order", 1, "POST", "/v1/orders/%X/refunds", "{'id':'%X','amount':1}", 404,
     "order_not_found", "id"},
    {"biller of a personal wallet", 0, "POST", "/v1/billers",
     "{'wallet':'%P','name':'W','category':'water'}", 400, "invalid_field", "wallet"},
    {"biller, unknown category", 1, "POST", "/v1/billers",
     "{'wallet':'%B','name':'W','category':'milk'}", 400, "invalid_field", "category"},
    {"bills: csv not a string", 1, "POST", "/v1/billers/%B/bills", "{'csv':5}", 400,
     "invalid_field", "csv"},
    {"bills: no csv", 1, "POST", "/v1/billers/%B/bills", "{}", 400, "missing_field", "csv"},
    {"bills: extra field", 1, "POST", "/v1/billers/%B/bills", "{'csv':'x','y':1}", 400,
     "unknown_field", "y"},
    {"bills: header only", 1, "POST", "/v1/billers/%B/bills",
     "{'csv':'reference,amount,due_date,payer_name'}", 400, "invalid_field", "csv"},
    {"bills: five fields", 1, "POST", "/v1/billers/%B/bills",
     "{'csv':'reference,amount,due_date,payer_name\\nA,1,2026-01-01,B,C'}", 400,
     "invalid_field", "csv"},
    {"bills of another's biller", 0, "POST", "/v1/billers/%B/bills", "{'csv':'x'}", 403,
     "forbidden", "id"},
    {"unknown biller", 0, "GET", "/v1/billers/%X", NULL, 404, "biller_not_found", "id"},
    {"pay an unknown bill", 0, "POST", "/v1/billers/%B/payments",
     "{'reference':'NOPE','debit':'%P','amount':1}", 404, "bill_not_found", "reference"},
    {"campaign closing before it opens", 0, "POST", "/v1/campaigns",
     "{'name':'x','pool':'%P','amount':1,'winners':1,'registration_opens_at':%N,"
     "'registration_closes_at':5,'spend_expires_at':%N,'seed_commitment':'%X%X'}",
     400, "invalid_field", "registration_closes_at"},
    {"campaign spending for years", 0, "POST", "/v1/campaigns",
     "{'name':'x','pool':'%P','amount':1,'winners':1,'registration_opens_at':0,"
     "'registration_closes_at':%N,'spend_expires_at':%F,'seed_commitment':'%X%X'}", 400,
     "invalid_field", "spend_expires_at"},
    {"campaign the pool cannot pay", 0, "POST", "/v1/campaigns",
     "{'name':'x','pool':'%P','amount':999999999,'winners':2000,'registration_opens_at':0,"
     "'registration_closes_at':%N,'spend_expires_at':%L,'seed_commitment':'%X%X'}", 422,
     "insufficient_funds", "pool"},
    {"campaign of another's pool", 1, "POST", "/v1/campaigns",
     "{'name':'x','pool':'%P','amount':1,'winners':1,'registration_opens_at':0,"
     "'registration_closes_at':%N,'spend_expires_at':%L,'seed_commitment':'%X%X'}", 403,
     "forbidden", "pool"},
    {"campaign, commitment not hex", 0, "POST", "/v1/campaigns",
     "{'name':'x','pool':'%P','amount':1,'winners':1,'registration_opens_at':0,"
     "'registration_closes_at':%N,'spend_expires_at':%N,'seed_commitment':'%X'}", 400,
     "invalid_field", "seed_commitment"},
    {"register wallet and phone", 0, "POST", "/v1/campaigns/%C/registrations",
     "{'wallet':'%P','phone':'13800138000'}", 400, "invalid_field", "phone"},
    {"register a bad phone", 0, "POST", "/v1/campaigns/%C/registrations", "{'phone':'12ab5'}",
     400, "invalid_field", "phone"},
    {"register with nothing", 0, "POST", "/v1/campaigns/%C/registrations", "{}", 400,
     "missing_field", "wallet"},
    {"register for no campaign", 0, "POST", "/v1/campaigns/%X/registrations",
     "{'phone':'13800138000'}", 404, "campaign_not_found", "id"},
    {"register no wallet", 0, "POST", "/v1/campaigns/%C/registrations", "{'wallet':'%X'}",
     404, "wallet_not_found", "wallet"},
    {"draw not made", 1, "GET", "/v1/campaigns/%C/draw", NULL, 422, "draw_not_ready", "id"},
    {"draw, short seed", 0, "POST", "/v1/campaigns/%C/draw", "{'seed':'00'}", 400,
     "invalid_field", "seed"},
};

TEST(scenario_bad_input_changes_nothing)
{
    static struct sw t;
    REQUIRE(start(&t) == 0);
    struct srv_creds *ops[2] = {&t.w.op, &t.w.op2};
    char parent[33], shop[33], biller[33], unknown[33], campaign[33], far[24], soon[24];
    char later[24];
    char key_dummy[600];
    struct srv_creds key;
    REQUIRE(wallet(&t, ops[0], "personal", 2, 0, 50000, parent) == 0);
    REQUIRE(wallet(&t, ops[1], "merchant", 2, 5411, 0, shop) == 0);
    REQUIRE(wallet(&t, ops[1], "corporate", 1, 0, 0, biller) == 0);
    REQUIRE(merchant(&t, ops[1], shop, &key, key_dummy) == 0);
    REQUIRE_EQ_INT(req(&t, ops[1], "POST", "/v1/billers", NULL,
                       "{\"wallet\":\"%s\",\"name\":\"Power\",\"category\":\"power\"}", biller),
                   201);
    srv_new_id(unknown);
    snprintf(far, sizeof far, "%lld", (long long)now_ms() + 8 * 86400000LL * 200);
    snprintf(soon, sizeof soon, "%lld", (long long)now_ms() + 3600000);
    snprintf(later, sizeof later, "%lld", (long long)now_ms() + 7200000);
    char commit[65];
    memset(commit, 'a', 64);
    commit[64] = '\0';
    srv_new_id(campaign);
    REQUIRE_EQ_INT(req(&t, ops[0], "POST", "/v1/campaigns", NULL,
                       "{\"id\":\"%s\",\"name\":\"c\",\"pool\":\"%s\",\"amount\":1,\"winners\":1,"
                       "\"registration_opens_at\":0,\"registration_closes_at\":%s,"
                       "\"spend_expires_at\":%lld,\"seed_commitment\":\"%s\"}", campaign,
                       parent, soon, (long long)now_ms() + 7200000, commit), 201);
    const char *vals[8] = {parent, shop, biller, campaign, unknown, far, soon, later};
    long long before = balance(&t, parent);
    int wrong = 0;
    for (size_t i = 0; i < JZ_ARRAY_LEN(bad_cases); i++) {
        const struct bad_case *b = &bad_cases[i];
        char path[300], body[1200];
        json_t *o = NULL;
        expand(b->path, path, sizeof path, vals);
        if (b->body) {
            expand(b->body, body, sizeof body, vals);
            for (char *p = body; *p; p++) {
                *p = *p == '\'' ? '"' : *p;
            }
        }
        int status = b->body ? req(&t, ops[b->who], b->method, path, &o, "%s", body)
                             : req(&t, ops[b->who], b->method, path, &o, NULL);
        const char *field = js(json_object_get(o, "error"), "field");
        if (status != b->status || strcmp(error_code(o), b->code) != 0 ||
            strcmp(field, b->field) != 0) {
            fprintf(stderr, "  %s: got %d %s field %s, want %d %s field %s\n", b->name, status,
                    error_code(o), field, b->status, b->code, b->field);
            wrong++;
        }
        json_decref(o);
    }
    CHECK_EQ_INT(wrong, 0);
    json_t *o = NULL;
    char path[120];
    snprintf(path, sizeof path, "/v1/wallets/%s/children", parent);
    REQUIRE_EQ_INT(req(&t, ops[0], "GET", path, &o, NULL), 200);
    CHECK_EQ_INT(json_array_size(json_object_get(o, "children")), 0);
    json_decref(o);
    CHECK_EQ_INT(balance(&t, parent), before);
    CHECK_EQ_INT(money_sum(&t), 0);
    CHECK_EQ_INT(srv_stop(&t.w.s, SIGTERM), 0);
}
