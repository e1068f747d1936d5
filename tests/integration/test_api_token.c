/*
 * test_api_token.c: payment tokens through a real `jiaozi serve`: the routes and who may call
 * them (a matrix of five callers), the status lifecycle, bad input (each with its documented
 * code, changing nothing: the journal head does not move and no token appears), exchange_in /
 * exchange_out naming a token, bursts raising alerts, and the canary scan: a workload of known
 * card numbers with a kill -9 in the middle of a key rotation, after which every token still
 * detokenises and no card number is found in clear in the data directory, the journal or the
 * server's log (digits, BCD or hex).
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "server.h"
#include "test.h"
#include "token_canary.h"
#include "world.h"

/* ---- Helpers ---- */

/* tmpl with its first `marker` replaced by value, into out. */
static void subst(const char *tmpl, const char *marker, const char *value, char *out, size_t cap)
{
    const char *at = strstr(tmpl, marker);
    snprintf(out, cap, "%.*s%s%s", at ? (int)(at - tmpl) : (int)strlen(tmpl), tmpl,
             at ? value : "", at ? at + strlen(marker) : "");
}

/* A third operator, "opc", for the outsider's part. */
static int make_opc(struct world *w, struct srv_creds *c)
{
    struct srv_response r;
    memset(c, 0, sizeof *c);
    snprintf(c->institution, sizeof c->institution, "opc");
    if (srv_call(&w->s, &w->s.central, "POST", "/v1/institutions",
                 "{\"id\":\"opc\",\"name\":\"Bank C\",\"kind\":\"operator\"}", &r) != 201) {
        srv_response_free(&r);
        return -1;
    }
    int rc = srv_json_str(r.body, "key_id", c->key_id, sizeof c->key_id) |
             srv_json_str(r.body, "secret", c->secret, sizeof c->secret);
    srv_response_free(&r);
    return rc;
}

/* POST /v1/tokens; returns the status, writes the token (when given). */
static int tokenize(struct world *w, const struct srv_creds *c, const char *pan,
                    const char *expiry, const char *wallet, const char *requestor,
                    const char *channel, char token[24])
{
    char body[400];
    struct srv_response r;
    snprintf(body, sizeof body,
             "{\"pan\":\"%s\",\"expiry\":\"%s\",\"wallet\":\"%s\",\"domain\":{\"requestor\":\"%s\","
             "\"channel\":\"%s\"}}", pan, expiry, wallet, requestor, channel);
    int status = srv_call(&w->s, c, "POST", "/v1/tokens", body, &r);
    if (token && srv_json_str(r.body, "token", token, 24) != 0) {
        token[0] = '\0';
    }
    srv_response_free(&r);
    return status;
}

/* POST /v1/tokens/{token}/detokenize; returns the status, writes the card number ("" if none). */
static int detokenize(struct world *w, const struct srv_creds *c, const char *token,
                      const char *requestor, const char *channel, char pan[24])
{
    char path[100], body[200];
    struct srv_response r;
    snprintf(path, sizeof path, "/v1/tokens/%s/detokenize", token);
    snprintf(body, sizeof body, "{\"requestor\":\"%s\",\"channel\":\"%s\"}", requestor, channel);
    int status = srv_call(&w->s, c, "POST", path, body, &r);
    if (srv_json_str(r.body, "pan", pan, 24) != 0) {
        pan[0] = '\0';
    }
    srv_response_free(&r);
    return status;
}

static int set_status(struct world *w, const struct srv_creds *c, const char *token,
                      const char *status, struct srv_response *r)
{
    char path[100], body[100];
    snprintf(path, sizeof path, "/v1/tokens/%s", token);
    snprintf(body, sizeof body, "{\"status\":\"%s\"}", status);
    return srv_call(&w->s, c, "PATCH", path, body, r);
}

/* The journal head: what any journalled change moves. */
static long long head_seq(struct world *w)
{
    struct srv_response r;
    long long seq = srv_call(&w->s, NULL, "GET", "/healthz", NULL, &r) == 200
                        ? srv_json_int(r.body, "seq") : -1;
    srv_response_free(&r);
    return seq;
}

static long long vault_tokens(struct world *w)
{
    struct srv_response r;
    long long n = srv_call(&w->s, &w->s.central, "GET", "/v1/tokens/keys", NULL, &r) == 200
                      ? srv_json_int(r.body, "tokens") : -1;
    srv_response_free(&r);
    return n;
}

static long long balance(struct world *w, const char *wallet)
{
    char path[100];
    struct srv_response r;
    snprintf(path, sizeof path, "/v1/wallets/%s", wallet);
    long long b = srv_call(&w->s, &w->op, "GET", path, NULL, &r) == 200
                      ? srv_json_int(r.body, "balance") : -1;
    srv_response_free(&r);
    return b;
}

/* ---- Routes and who may call them ---- */

enum { CENTRAL, OPA, OPB, OPC, NOBODY, CALLERS };

TEST(api_token_routes_and_authority)
{
    struct world w;
    struct srv_creds opc;
    REQUIRE(world_start(&w) == 0);
    REQUIRE(make_opc(&w, &opc) == 0);
    char wa[33], token[24], pan[24], path[100];
    REQUIRE_EQ_INT(open_wallet(&w, &w.op, 2, wa), 201);
    /* opa tokenises a card of its wallet for opb's app: 201, then the same token again (200). */
    REQUIRE_EQ_INT(tokenize(&w, &w.op, "4111111111111111", "3012", wa, "opb", "app", token), 201);
    char again[24];
    CHECK_EQ_INT(tokenize(&w, &w.op, "4111111111111111", "3012", wa, "opb", "app", again), 200);
    CHECK_EQ_STR(again, token);
    CHECK_EQ_INT(strlen(token), 16);
    CHECK(strcmp(token + 12, "1111") == 0 && strcmp(token, "4111111111111111") != 0);
    const struct srv_creds *callers[CALLERS] = {&w.s.central, &w.op, &w.op2, &opc, NULL};
    struct {
        const char *method;
        const char *path; /* %T: the token */
        const char *body;
        int want[CALLERS]; /* status each caller gets */
    } rows[] = {
        {"POST", "/v1/tokens", "{\"pan\":\"6011000990139424\",\"expiry\":\"3012\",\"wallet\":\"%W\","
         "\"domain\":{\"requestor\":\"opb\",\"channel\":\"web\"}}", {403, 201, 403, 403, 401}},
        {"GET", "/v1/tokens/%T", NULL, {200, 200, 200, 403, 401}},
        {"POST", "/v1/tokens/%T/detokenize", "{\"requestor\":\"opb\",\"channel\":\"app\"}",
         {403, 200, 200, 403, 401}},
        {"POST", "/v1/tokens/%T/detokenize", "{\"requestor\":\"opb\",\"channel\":\"web\"}",
         {403, 200, 403, 403, 401}},
        {"PATCH", "/v1/tokens/%T", "{\"status\":\"active\"}", {403, 200, 403, 403, 401}},
        {"GET", "/v1/tokens/alerts", NULL, {200, 200, 200, 200, 401}},
        {"GET", "/v1/tokens/keys", NULL, {200, 403, 403, 403, 401}},
    };
    int wrong = 0;
    for (size_t i = 0; i < JZ_ARRAY_LEN(rows); i++) {
        for (int k = 0; k < (int)CALLERS; k++) {
            char p[120], body[400] = "";
            struct srv_response r;
            subst(rows[i].path, "%T", token, p, sizeof p);
            if (rows[i].body) {
                subst(rows[i].body, "%W", wa, body, sizeof body); /* opa's wallet */
            }
            int st = srv_call(&w.s, callers[k], rows[i].method, p, rows[i].body ? body : NULL, &r);
            if (st != rows[i].want[k]) {
                printf("  %s %s by caller %d: %d, want %d: %s\n", rows[i].method, p, k, st,
                       rows[i].want[k], r.body);
                wrong++;
            }
            /* Only the issuer and central see the wallet. */
            if (st == 200 && strcmp(rows[i].method, "GET") == 0 && strstr(p, "/v1/tokens/99")) {
                wrong += (strstr(r.body, wa) != NULL) != (k == CENTRAL || k == OPA);
            }
            srv_response_free(&r);
        }
    }
    CHECK_EQ_INT(wrong, 0);
    /* The card comes back whole to those allowed. */
    CHECK_EQ_INT(detokenize(&w, &w.op2, token, "opb", "app", pan), 200);
    CHECK_EQ_STR(pan, "4111111111111111");
    /* The rotation route is central's. */
    CHECK_EQ_INT(srv_call(&w.s, &w.op, "POST", "/v1/tokens/keys/rotate", NULL, NULL), 403);
    struct srv_response r;
    REQUIRE_EQ_INT(srv_call(&w.s, &w.s.central, "POST", "/v1/tokens/keys/rotate", NULL, &r), 200);
    CHECK(strstr(r.body, "\"current\":2") != NULL);
    srv_response_free(&r);
    snprintf(path, sizeof path, "/v1/tokens/%s/detokenize", token);
    CHECK_EQ_INT(srv_call(&w.s, &w.op, "PUT", path, "{}", NULL), 405);
    CHECK_EQ_INT(srv_stop(&w.s, SIGTERM), 0);
}

TEST(api_token_status_lifecycle)
{
    struct world w;
    REQUIRE(world_start(&w) == 0);
    char wa[33], token[24], pan[24];
    struct srv_response r;
    REQUIRE_EQ_INT(open_wallet(&w, &w.op, 2, wa), 201);
    REQUIRE_EQ_INT(tokenize(&w, &w.op, "5555555555554444", "3012", wa, "opb", "app", token), 201);
    REQUIRE_EQ_INT(set_status(&w, &w.op, token, "suspended", &r), 200);
    CHECK(strstr(r.body, "\"status\":\"suspended\"") != NULL);
    srv_response_free(&r);
    REQUIRE_EQ_INT(detokenize(&w, &w.op2, token, "opb", "app", pan), 422);
    CHECK_EQ_STR(pan, "");
    long long seq = head_seq(&w);
    CHECK_EQ_INT(set_status(&w, &w.op, token, "suspended", NULL), 200); /* no change */
    CHECK_EQ_INT(head_seq(&w), seq);
    CHECK_EQ_INT(set_status(&w, &w.op, token, "active", NULL), 200);
    CHECK_EQ_INT(detokenize(&w, &w.op2, token, "opb", "app", pan), 200);
    CHECK_EQ_STR(pan, "5555555555554444");
    REQUIRE_EQ_INT(set_status(&w, &w.op, token, "deleted", NULL), 200);
    REQUIRE_EQ_INT(set_status(&w, &w.op, token, "active", &r), 422);
    CHECK(strstr(r.body, "\"code\":\"token_deleted\"") != NULL);
    srv_response_free(&r);
    char path[100];
    snprintf(path, sizeof path, "/v1/tokens/%s/detokenize", token);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", path, "{\"requestor\":\"opb\",\"channel\":\"app\"}",
                            &r), 422);
    CHECK(strstr(r.body, "\"code\":\"token_deleted\"") != NULL);
    srv_response_free(&r);
    /* The same card again in that domain: a new token. */
    char fresh[24];
    CHECK_EQ_INT(tokenize(&w, &w.op, "5555555555554444", "3012", wa, "opb", "app", fresh), 201);
    CHECK(strcmp(fresh, token) != 0);
    CHECK_EQ_INT(srv_stop(&w.s, SIGTERM), 0);
}

/* ---- Bad input ---- */

TEST(api_token_bad_input_changes_nothing)
{
    struct world w;
    REQUIRE(world_start(&w) == 0);
    char wa[33], wb[33], token[24];
    REQUIRE_EQ_INT(open_wallet(&w, &w.op, 2, wa), 201);
    REQUIRE_EQ_INT(open_wallet(&w, &w.op2, 2, wb), 201);
    REQUIRE_EQ_INT(tokenize(&w, &w.op, "4111111111111111", "3012", wa, "opb", "app", token), 201);
    char body[600];
    struct {
        const char *pan, *expiry, *wallet, *requestor, *channel;
        int status;
        const char *code, *field;
    } cases[] = {
        {"4111111111111112", "3012", wa, "opb", "app", 400, "invalid_pan", "pan"},
        {"411111111111", "3012", wa, "opb", "app", 400, "invalid_pan", "pan"},
        {"41111111111111111111", "3012", wa, "opb", "app", 400, "invalid_pan", "pan"},
        {"4111 1111 1111 1111", "3012", wa, "opb", "app", 400, "invalid_pan", "pan"},
        {"6011000990139424", "2001", wa, "opb", "app", 400, "invalid_expiry", "expiry"},
        {"6011000990139424", "3013", wa, "opb", "app", 400, "invalid_expiry", "expiry"},
        {"6011000990139424", "12/30", wa, "opb", "app", 400, "invalid_expiry", "expiry"},
        {"6011000990139424", "3012", wb, "opb", "app", 403, "forbidden", "wallet"},
        {"6011000990139424", "3012", w.treasury, "opb", "app", 400, "invalid_field", "wallet"},
        {"6011000990139424", "3012", "00000000000000000000000000000001", "opb", "app", 404,
         "wallet_not_found", "wallet"},
        {"6011000990139424", "3012", wa, "nobody", "app", 404, "institution_not_found",
         "domain.requestor"},
        {"6011000990139424", "3012", wa, "central", "app", 400, "invalid_field", "domain.requestor"},
        {"6011000990139424", "3012", wa, "opb", "App!", 400, "invalid_field", "domain.channel"},
        {token, "3012", wa, "opb", "app", 400, "invalid_pan", "pan"}, /* a token is no card */
        {"4111111111111111", "3011", wa, "opb", "app", 409, "id_conflict", "expiry"},
    };
    long long seq = head_seq(&w);
    int wrong = 0;
    for (size_t i = 0; i < JZ_ARRAY_LEN(cases); i++) {
        struct srv_response r;
        snprintf(body, sizeof body,
                 "{\"pan\":\"%s\",\"expiry\":\"%s\",\"wallet\":\"%s\",\"domain\":{\"requestor\":"
                 "\"%s\",\"channel\":\"%s\"}}", cases[i].pan, cases[i].expiry, cases[i].wallet,
                 cases[i].requestor, cases[i].channel);
        int st = srv_call(&w.s, &w.op, "POST", "/v1/tokens", body, &r);
        char code[40] = "", field[40] = "";
        srv_json_str(r.body, "code", code, sizeof code);
        srv_json_str(r.body, "field", field, sizeof field);
        if (st != cases[i].status || strcmp(code, cases[i].code) || strcmp(field, cases[i].field) ||
            strstr(r.body, "4111111111111") || strstr(r.body, "6011000990139")) {
            printf("  case %zu: %d %s\n", i, st, r.body);
            wrong++;
        }
        srv_response_free(&r);
    }
    /* Malformed bodies: the card number is never echoed, even by the JSON parser. */
    const char *raw[] = {
        "{\"pan\":\"4111111111111111", "{\"pan\":4111111111111111x}",
        "{\"pan\":4111111111111111,\"expiry\":\"3012\",\"wallet\":\"%W\",\"domain\":{}}",
        "{\"pan\":\"4111111111111111\",\"expiry\":\"3012\",\"wallet\":\"%W\"}",
        "{\"pan\":\"4111111111111111\",\"cvv\":\"123\",\"expiry\":\"3012\",\"wallet\":\"%W\"}",
    };
    const char *raw_codes[] = {"invalid_json", "invalid_json", "invalid_field", "missing_field",
                               "unknown_field"};
    for (size_t i = 0; i < JZ_ARRAY_LEN(raw); i++) {
        struct srv_response r;
        subst(raw[i], "%W", wa, body, sizeof body);
        srv_call(&w.s, &w.op, "POST", "/v1/tokens", body, &r);
        char code[40] = "";
        srv_json_str(r.body, "code", code, sizeof code);
        if (strcmp(code, raw_codes[i]) != 0 || strstr(r.body, "4111111111111")) {
            printf("  raw %zu: %s\n", i, r.body);
            wrong++;
        }
        srv_response_free(&r);
    }
    /* Tokens that are not there or not well-formed; statuses that are not. */
    char pan[24];
    wrong += detokenize(&w, &w.op, "9900000000001111", "opb", "app", pan) != 404;
    wrong += detokenize(&w, &w.op, "99000x", "opb", "app", pan) != 400;
    wrong += detokenize(&w, &w.op, token, "opb", "bad channel", pan) != 400;
    wrong += set_status(&w, &w.op, token, "frozen", NULL) != 400;
    wrong += set_status(&w, &w.op, "9900000000001111", "deleted", NULL) != 404;
    wrong += srv_call(&w.s, &w.op, "GET", "/v1/tokens/alerts?limit=0", NULL, NULL) != 400;
    wrong += srv_call(&w.s, &w.op, "GET", "/v1/tokens/alerts?colour=red", NULL, NULL) != 400;
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(head_seq(&w), seq); /* nothing journalled */
    CHECK_EQ_INT(vault_tokens(&w), 1);
    struct srv_response r;
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", "/v1/tokens/99000x", NULL, &r), 400);
    CHECK(strstr(r.body, "\"field\":\"token\"") != NULL);
    srv_response_free(&r);
    CHECK_EQ_INT(srv_stop(&w.s, SIGTERM), 0);
}

/* ---- Payments ---- */

static int exchange(struct world *w, const struct srv_creds *c, const char *id, const char *debit,
                    const char *credit, const char *kind, const char *token, const char *extra,
                    struct srv_response *r)
{
    char body[600];
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":5000,\"kind\":\"%s\","
             "\"token\":\"%s\"%s}", id, debit, credit, kind, token, extra);
    return srv_call(&w->s, c, "POST", "/v1/transfers", body, r);
}

TEST(api_token_exchanges)
{
    struct world w;
    REQUIRE(world_start(&w) == 0);
    char wa[33], wa2[33], wb[33], token[24], id[33], first[33];
    struct srv_response r;
    REQUIRE_EQ_INT(open_wallet(&w, &w.op, 2, wa), 201);
    REQUIRE_EQ_INT(open_wallet(&w, &w.op, 2, wa2), 201);
    REQUIRE_EQ_INT(open_wallet(&w, &w.op2, 2, wb), 201);
    REQUIRE_EQ_INT(tokenize(&w, &w.op, "4111111111111111", "3012", wa, "opa", "branch", token), 201);
    /* The bank card tops the wallet up, and takes money back. */
    srv_new_id(first);
    REQUIRE_EQ_INT(exchange(&w, &w.op, first, w.treasury, wa, "exchange_in", token, "", &r), 201);
    char ref[64];
    CHECK(srv_json_str(r.body, "ref", ref, sizeof ref) == 0 && strncmp(ref, "token:", 6) == 0 &&
          strcmp(ref + 6, token) == 0);
    srv_response_free(&r);
    CHECK_EQ_INT(exchange(&w, &w.op, first, w.treasury, wa, "exchange_in", token, "", NULL), 200);
    srv_new_id(id);
    CHECK_EQ_INT(exchange(&w, &w.op, id, wa, w.treasury, "exchange_out", token, "", NULL), 201);
    CHECK_EQ_INT(balance(&w, wa), 0);
    /* Refusals, each with its code and field, moving nothing. */
    struct {
        const struct srv_creds *c;
        const char *debit, *credit, *kind, *token, *extra;
        int status;
        const char *code, *field;
    } cases[] = {
        {&w.op, w.treasury, wa2, "exchange_in", token, "", 422, "token_wallet_mismatch", "token"},
        {&w.op, wa, wa2, "p2p", token, "", 400, "invalid_field", "token"},
        {&w.op, w.treasury, wa, "exchange_in", token, ",\"ref\":\"DEP-1\"", 400, "invalid_field",
         "ref"},
        {&w.op2, w.treasury2, wb, "exchange_in", token, "", 403, "forbidden", "token"},
        {&w.op, w.treasury, wa, "exchange_in", "9900000000001111", "", 404, "token_not_found",
         "token"},
        {&w.op, w.treasury, wa, "exchange_in", "12ab", "", 400, "invalid_field", "token"},
    };
    long long seq = head_seq(&w);
    int wrong = 0;
    for (size_t i = 0; i < JZ_ARRAY_LEN(cases); i++) {
        srv_new_id(id);
        int st = exchange(&w, cases[i].c, id, cases[i].debit, cases[i].credit, cases[i].kind,
                          cases[i].token, cases[i].extra, &r);
        char code[40] = "", field[40] = "";
        srv_json_str(r.body, "code", code, sizeof code);
        srv_json_str(r.body, "field", field, sizeof field);
        if (st != cases[i].status || strcmp(code, cases[i].code) || strcmp(field, cases[i].field)) {
            printf("  case %zu: %d %s\n", i, st, r.body);
            wrong++;
        }
        srv_response_free(&r);
    }
    /* Refs beginning "token:" are token references however they come: checked the same. */
    char body[1200], t1[33], t2[33];
    srv_new_id(id);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\","
             "\"amount\":1,\"kind\":\"p2p\",\"ref\":\"token:%s\"}", id, wa, wa2, token);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", "/v1/transfers", body, &r), 400);
    wrong += strstr(r.body, "\"field\":\"token\"") == NULL;
    srv_response_free(&r);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\","
             "\"amount\":1,\"kind\":\"exchange_in\",\"ref\":\"token:%s\"}", id, w.treasury,
             wa2, token);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", "/v1/transfers", body, &r), 422);
    wrong += strstr(r.body, "token_wallet_mismatch") == NULL;
    srv_response_free(&r);
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(head_seq(&w), seq);
    /* Suspended: refused; but a replay of what was posted before still returns it. */
    REQUIRE_EQ_INT(set_status(&w, &w.op, token, "suspended", NULL), 200);
    srv_new_id(id);
    REQUIRE_EQ_INT(exchange(&w, &w.op, id, w.treasury, wa, "exchange_in", token, "", &r), 422);
    CHECK(strstr(r.body, "\"code\":\"token_suspended\"") != NULL);
    srv_response_free(&r);
    CHECK_EQ_INT(exchange(&w, &w.op, first, w.treasury, wa, "exchange_in", token, "", NULL), 200);
    /* A batch: an item naming a suspended token refuses the whole batch, naming the item. */
    srv_new_id(t1);
    srv_new_id(t2);
    snprintf(body, sizeof body,
             "{\"transfers\":[{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":7,"
             "\"kind\":\"exchange_in\"},{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\","
             "\"amount\":7,\"kind\":\"exchange_in\",\"token\":\"%s\"}]}",
             t1, w.treasury, wa, t2, w.treasury, wa, token);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", "/v1/transfers/batch", body, &r), 422);
    CHECK(strstr(r.body, "\"field\":\"transfers[1].token\"") != NULL);
    srv_response_free(&r);
    CHECK_EQ_INT(balance(&w, wa), 0);
    REQUIRE_EQ_INT(set_status(&w, &w.op, token, "active", NULL), 200);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", "/v1/transfers/batch", body, &r), 200);
    CHECK(strstr(r.body, "error") == NULL);
    srv_response_free(&r);
    CHECK_EQ_INT(balance(&w, wa), 14);
    /* Deleted: refused for good. */
    REQUIRE_EQ_INT(set_status(&w, &w.op, token, "deleted", NULL), 200);
    srv_new_id(id);
    REQUIRE_EQ_INT(exchange(&w, &w.op, id, wa, w.treasury, "exchange_out", token, "", &r), 422);
    CHECK(strstr(r.body, "\"code\":\"token_deleted\"") != NULL);
    srv_response_free(&r);
    CHECK_EQ_INT(balance(&w, wa), 14);
    CHECK_EQ_INT(srv_stop(&w.s, SIGTERM), 0);
}

/* ---- Alerts ---- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

TEST(api_token_burst_alert)
{
    struct world w;
    char dir[600], conf[700];
    snprintf(dir, sizeof dir, "%s/node", test_tmpdir());
    snprintf(conf, sizeof conf, "%s/tokens.conf", dir);
    mkdir(dir, 0700);
    write_file(conf, "detokenize_burst = 3\ndetokenize_window_ms = 60000\n");
    REQUIRE(srv_start(&w.s, dir, NULL) == 0);
    REQUIRE(world_start_on(&w) == 0);
    char wa[33], token[24], pan[24];
    REQUIRE_EQ_INT(open_wallet(&w, &w.op, 2, wa), 201);
    REQUIRE_EQ_INT(tokenize(&w, &w.op, "4111111111111111", "3012", wa, "opb", "app", token), 201);
    struct srv_response r;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(detokenize(&w, &w.op2, token, "opb", "app", pan), 200);
    }
    REQUIRE_EQ_INT(srv_call(&w.s, &w.s.central, "GET", "/v1/tokens/alerts", NULL, &r), 200);
    CHECK(strstr(r.body, "\"kind\":\"detokenize_burst\"") && strstr(r.body, "\"requestor\":\"opb\"") &&
          strstr(r.body, "\"issuers\":[\"opa\"]") && strstr(r.body, "\"count\":3"));
    srv_response_free(&r);
    /* The issuing operator sees it; the requestor, whose tokens were not asked for, does not. */
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", "/v1/tokens/alerts?limit=10", NULL, &r), 200);
    CHECK(strstr(r.body, "detokenize_burst") != NULL);
    srv_response_free(&r);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op2, "GET", "/v1/tokens/alerts", NULL, &r), 200);
    CHECK(strstr(r.body, "\"alerts\":[]") != NULL);
    srv_response_free(&r);
    REQUIRE_EQ_INT(srv_call(&w.s, NULL, "GET", "/metrics", NULL, &r), 200);
    CHECK(strstr(r.body, "jiaozi_token_alerts_total 1\n") != NULL);
    CHECK(strstr(r.body, "jiaozi_token_detokenizations_total 3\n") != NULL);
    srv_response_free(&r);
    CHECK_EQ_INT(srv_stop(&w.s, SIGTERM), 0);
}

/* ---- The canary scan ---- */

#define CANARY_CARDS 200

/* JZ_BIN for srv_start: a wrapper that drops --quiet (so every request is logged) and appends
 * the server's output to log. */
static int logged_server(const char *dir, const char *log, char *saved, size_t saved_len)
{
    char path[700], script[2400];
    const char *bin = getenv("JZ_BIN") ? getenv("JZ_BIN") : "build/jiaozi";
    snprintf(saved, saved_len, "%s", bin);
    snprintf(path, sizeof path, "%s/logged_jiaozi.sh", dir);
    snprintf(script, sizeof script,
             "#!/bin/sh\nfor a do shift; [ \"$a\" = --quiet ] || set -- \"$@\" \"$a\"; done\n"
             "exec %s \"$@\" >> %s 2>&1\n", bin, log);
    write_file(path, script);
    return chmod(path, 0700) == 0 && setenv("JZ_BIN", path, 1) == 0 ? 0 : -1;
}

/* Polls GET /v1/tokens/keys until `done` says so (at most 20 s). */
static int keys_until(struct world *w, bool (*done)(const char *body))
{
    for (int i = 0; i < 2000; i++) {
        struct srv_response r;
        int st = srv_call(&w->s, &w->s.central, "GET", "/v1/tokens/keys", NULL, &r);
        bool ok = st == 200 && done(r.body);
        srv_response_free(&r);
        if (ok) {
            return 0;
        }
        struct timespec t = {0, 10 * 1000000L};
        nanosleep(&t, NULL);
    }
    return -1;
}

/* Mid-rotation: rows under the old key and under the new one. */
static bool mid_rotation(const char *body)
{
    const char *v1 = strstr(body, "{\"version\":1,\"rows\":");
    const char *v2 = strstr(body, "{\"version\":2,\"rows\":");
    return v1 && v2 && atoll(v1 + 20) > 0 && atoll(v2 + 20) > 0;
}

static bool rotation_over(const char *body)
{
    return strstr(body, "\"rotating\":false") && strstr(body, "\"current\":2");
}

TEST(api_token_canary_scan_with_kill_9_mid_rotation)
{
    static char pans[CANARY_CARDS][20];
    static char tokens[CANARY_CARDS][24];
    struct world w;
    char dir[600], conf[700], log[700], bin[1024];
    snprintf(dir, sizeof dir, "%s/node", test_tmpdir());
    snprintf(conf, sizeof conf, "%s/tokens.conf", dir);
    snprintf(log, sizeof log, "%s/serve.log", test_tmpdir());
    mkdir(dir, 0700);
    /* A slow rotation, so the kill lands in its middle. */
    write_file(conf, "rotate_batch = 4\nrotate_pause_ms = 20\n");
    REQUIRE(logged_server(test_tmpdir(), log, bin, sizeof bin) == 0);
    int started = srv_start(&w.s, dir, NULL);
    if (started != 0 || world_start_on(&w) != 0) {
        setenv("JZ_BIN", bin, 1);
        REQUIRE(false);
    }
    char wa[33], pan[24];
    REQUIRE_EQ_INT(open_wallet(&w, &w.op, 1, wa), 201);
    int wrong = 0;
    for (int i = 0; i < CANARY_CARDS; i++) {
        char last4[5];
        snprintf(last4, sizeof last4, "%04u", (unsigned)(i * 131) % 10000u);
        canary_pan((uint64_t)i + 1000, 13 + i % 7, last4, pans[i]);
        wrong += tokenize(&w, &w.op, pans[i], "3012", wa, "opb", "app", tokens[i]) != 201;
        if (i % 10 == 0) {
            wrong += detokenize(&w, &w.op2, tokens[i], "opb", "app", pan) != 200 ||
                     strcmp(pan, pans[i]) != 0;
        }
    }
    CHECK_EQ_INT(wrong, 0);
    /* Some traffic through the tokens: exchanges in and out, a status change. */
    char id[33];
    srv_new_id(id);
    CHECK_EQ_INT(exchange(&w, &w.op, id, w.treasury, wa, "exchange_in", tokens[0], "", NULL), 201);
    srv_new_id(id);
    CHECK_EQ_INT(exchange(&w, &w.op, id, wa, w.treasury, "exchange_out", tokens[1], "", NULL), 201);
    CHECK_EQ_INT(set_status(&w, &w.op, tokens[2], "suspended", NULL), 200);
    CHECK_EQ_INT(set_status(&w, &w.op, tokens[2], "active", NULL), 200);
    /* Rotate, and kill -9 once rows sit under both keys. */
    REQUIRE_EQ_INT(srv_call(&w.s, &w.s.central, "POST", "/v1/tokens/keys/rotate", "{}", NULL), 200);
    CHECK_EQ_INT(keys_until(&w, mid_rotation), 0);
    int status = srv_stop(&w.s, SIGKILL);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* Restarted, the rotation resumes on its own and finishes; every token still works. */
    struct srv_creds central_before = w.s.central;
    started = srv_start(&w.s, dir, NULL);
    setenv("JZ_BIN", bin, 1);
    REQUIRE(started == 0);
    CHECK_EQ_STR(w.s.central.key_id, central_before.key_id);
    CHECK_EQ_INT(keys_until(&w, rotation_over), 0);
    wrong = 0;
    for (int i = 0; i < CANARY_CARDS; i++) {
        memset(pan, 0, sizeof pan);
        wrong += detokenize(&w, &w.op2, tokens[i], "opb", "app", pan) != 200 ||
                 strcmp(pan, pans[i]) != 0;
    }
    printf("  %d tokens detokenised wrong after kill -9 mid-rotation and restart\n", wrong);
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(srv_stop(&w.s, SIGTERM), 0);
    /* Every file of the data directory (journal, snapshots, vault, history) and the log. */
    const char *extra[] = {log};
    long found = canary_scan(dir, extra, 1, pans, CANARY_CARDS);
    printf("  canary scan: %ld of %d card numbers found in clear (digits, BCD, hex)\n", found,
           CANARY_CARDS);
    CHECK_EQ_INT(found, 0);
    /* The log did record the requests (the scan looked at something). */
    FILE *f = fopen(log, "r");
    REQUIRE(f != NULL);
    char line[512];
    int detok_lines = 0;
    while (fgets(line, sizeof line, f)) {
        detok_lines += strstr(line, "/v1/tokens/{token}/detokenize") != NULL;
    }
    fclose(f);
    CHECK(detok_lines >= CANARY_CARDS);
}
