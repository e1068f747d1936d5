/*
 * test_risk_api.c: risk control through a real `jiaozi serve`: the rule file's versions
 * (a bad file refused with line and reason while the old rules stay in force), deny and
 * review at their boundaries for single transfers, batches with linked chains and holds,
 * review holds captured and voided, velocity across requests, AML alerts worked as cases,
 * the daily reports, pseudonyms for tier-4 wallets, and what survives a restart.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "server.h"
#include "test.h"
#include "world.h"

/* PUT /v1/risk/rules with text as the JSON string; returns the status. */
static int put_rules(struct world *w, const struct srv_creds *c, const char *text,
                     struct srv_response *r)
{
    size_t cap = strlen(text) * 2 + 32;
    char *body = malloc(cap);
    size_t n = (size_t)snprintf(body, cap, "{\"text\":\"");
    for (const char *p = text; *p; p++) {
        if (*p == '\n') {
            n += (size_t)snprintf(body + n, cap - n, "\\n");
        } else {
            if (*p == '"' || *p == '\\') {
                body[n++] = '\\';
            }
            body[n++] = *p;
        }
    }
    snprintf(body + n, cap - n, "\"}");
    int status = srv_call(&w->s, c, "PUT", "/v1/risk/rules", body, r);
    free(body);
    return status;
}

/* The common start: a served world with rules put (0 on success). */
static int start_with(struct world *w, const char *rules)
{
    return world_start(w) == 0 && put_rules(w, &w->s.central, rules, NULL) == 200 ? 0 : -1;
}

/* Stops the server and starts it again on the same directory. */
static int restart(struct world *w)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", w->s.dir);
    if (srv_stop(&w->s, SIGTERM) != 0) {
        return -1;
    }
    return srv_start(&w->s, dir, NULL);
}

static long long balance(struct world *w, const char *wallet)
{
    char path[100];
    struct srv_response r;
    snprintf(path, sizeof path, "/v1/wallets/%s", wallet);
    long long b = srv_call(&w->s, &w->s.central, "GET", path, NULL, &r) == 200
                      ? srv_json_int(r.body, "balance") : -1;
    srv_response_free(&r);
    return b;
}

static int fund(struct world *w, const char *wallet, long long amount)
{
    char id[33];
    srv_new_id(id);
    return transfer(w, &w->op, id, w->treasury, wallet, amount, "exchange_in", NULL);
}

/* Pays amount from -> to (a new id) and checks the status and, when given, the deciding
 * rule named in the answer. */
static void pay_expect(struct world *w, const char *from, const char *to, long long amount,
                       const char *kind, int status, const char *rule)
{
    char id[33], want[64];
    struct srv_response r;
    srv_new_id(id);
    int got = transfer(w, &w->op, id, from, to, amount, kind, &r);
    CHECK_EQ_INT(got, status);
    if (rule && got >= 0) {
        snprintf(want, sizeof want, "\"rule\":\"%s\"", rule);
        CHECK(r.body && strstr(r.body, want) != NULL);
    }
    srv_response_free(&r);
}

/* The number of times needle occurs in hay. */
static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

TEST(risk_rules_versions_and_a_bad_file_keeps_the_old_rules)
{
    struct world w;
    REQUIRE(world_start(&w) == 0);
    struct srv_response r;
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", "/v1/risk/rules", NULL, &r), 200);
    CHECK_EQ_INT(srv_json_int(r.body, "version"), 0);
    CHECK_EQ_INT(srv_json_int(r.body, "rules"), 0);
    srv_response_free(&r);
    CHECK_EQ_INT(put_rules(&w, &w.op, "rule a deny when amount > 5\n", NULL), 403);
    /* A bad first file: 400 with the line and reason; still no rules. */
    REQUIRE_EQ_INT(put_rules(&w, &w.s.central, "# v1\nrule a deny when amout > 5\n", &r), 400);
    CHECK(strstr(r.body, "\"code\":\"invalid_rule_file\"") != NULL);
    CHECK_EQ_INT(srv_json_int(r.body, "line"), 2);
    CHECK(strstr(r.body, "unknown condition") != NULL);
    srv_response_free(&r);
    const char *v1 = "rule big deny when amount > 100000 and kind in p2p\n";
    REQUIRE_EQ_INT(put_rules(&w, &w.s.central, v1, &r), 200);
    CHECK_EQ_INT(srv_json_int(r.body, "version"), 1);
    CHECK_EQ_INT(srv_json_int(r.body, "rules"), 1);
    srv_response_free(&r);
    /* A bad second file: refused, version 1 still in force and still deciding. */
    REQUIRE_EQ_INT(put_rules(&w, &w.s.central,
                             "rule big deny when amount > 100000 and kind in p2p\n"
                             "rule x deny when tier >= 9\n",
                             &r), 400);
    CHECK_EQ_INT(srv_json_int(r.body, "line"), 2);
    srv_response_free(&r);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", "/v1/risk/rules", NULL, &r), 200);
    CHECK_EQ_INT(srv_json_int(r.body, "version"), 1);
    CHECK(strstr(r.body, "amount > 100000") != NULL);
    char sm3[80];
    CHECK(srv_json_str(r.body, "sm3", sm3, sizeof sm3) == 0 && strlen(sm3) == 64);
    srv_response_free(&r);
    char a[33], b[33];
    CHECK_EQ_INT(open_wallet(&w, &w.op, 1, a), 201);
    CHECK_EQ_INT(open_wallet(&w, &w.op, 1, b), 201);
    CHECK_EQ_INT(fund(&w, a, 1000000), 201);
    pay_expect(&w, a, b, 100001, "p2p", 422, NULL);
    /* The version is journalled: the monitor has read its note. */
    REQUIRE_EQ_INT(srv_call(&w.s, &w.s.central, "GET", "/v1/risk/status", NULL, &r), 200);
    CHECK_EQ_INT(srv_json_int(r.body, "journalled_rules_version"), 1);
    srv_response_free(&r);
    /* Restart: the same version is in force. */
    REQUIRE(restart(&w) == 0);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", "/v1/risk/rules", NULL, &r), 200);
    CHECK_EQ_INT(srv_json_int(r.body, "version"), 1);
    srv_response_free(&r);
    pay_expect(&w, a, b, 100001, "p2p", 422, NULL);
    CHECK_EQ_INT(srv_stop(&w.s, SIGTERM), 0);
}

TEST(risk_deny_and_review_holds_captured_and_voided)
{
    struct world w;
    REQUIRE(start_with(&w, "rule big deny when amount > 100000 and kind in p2p\n"
                           "rule mid review when amount >= 50000 and kind in p2p,payment\n"
                           "set review_hold 1h\n") == 0);
    struct srv_response r;
    char a[33], b[33], id[33], path[200];
    CHECK_EQ_INT(open_wallet(&w, &w.op, 1, a), 201);
    CHECK_EQ_INT(open_wallet(&w, &w.op2, 1, b), 201);
    CHECK_EQ_INT(fund(&w, a, 10000000), 201);
    /* Below both: posted. At the deny boundary (100000) the review rule decides. */
    pay_expect(&w, a, b, 49999, "p2p", 201, NULL);
    srv_new_id(id);
    REQUIRE_EQ_INT(transfer(&w, &w.op, id, a, b, 100001, "p2p", &r), 422);
    CHECK(strstr(r.body, "\"code\":\"risk_denied\"") && strstr(r.body, "\"rule\":\"big\""));
    srv_response_free(&r);
    CHECK_EQ_INT(balance(&w, a), 10000000 - 49999);
    /* 100001 as a payment (not p2p) is reviewed, not denied: held, not moved. */
    char held[33];
    srv_new_id(held);
    REQUIRE_EQ_INT(transfer(&w, &w.op, held, a, b, 100001, "payment", &r), 202);
    CHECK(strstr(r.body, "\"status\":\"review\"") && strstr(r.body, "\"rule\":\"mid\""));
    srv_response_free(&r);
    snprintf(path, sizeof path, "/v1/holds/%s", held);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", path, NULL, &r), 200);
    CHECK(strstr(r.body, "\"status\":\"pending\"") != NULL);
    srv_response_free(&r);
    CHECK_EQ_INT(balance(&w, b), 49999);
    /* The analyst captures it: the money moves. */
    snprintf(path, sizeof path, "/v1/holds/%s/capture", held);
    CHECK_EQ_INT(srv_call(&w.s, &w.op, "POST", path, NULL, NULL), 200);
    CHECK_EQ_INT(balance(&w, b), 49999 + 100001);
    /* Another review, voided: nothing moves. */
    srv_new_id(held);
    REQUIRE_EQ_INT(transfer(&w, &w.op, held, a, b, 50000, "p2p", &r), 202);
    srv_response_free(&r);
    snprintf(path, sizeof path, "/v1/holds/%s/void", held);
    CHECK_EQ_INT(srv_call(&w.s, &w.op, "POST", path, NULL, NULL), 200);
    CHECK_EQ_INT(balance(&w, b), 49999 + 100001);
    CHECK_EQ_INT(balance(&w, a), 10000000 - 49999 - 100001);
    /* Each review raised a case for the analysts. */
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", "/v1/alerts?status=open", NULL, &r), 200);
    CHECK_EQ_INT(count_of(r.body, "\"kind\":\"rule_review\""), 2);
    srv_response_free(&r);
    /* A hold is a payment: "big" (p2p only) does not deny it, "mid" reviews it, and a
     * reviewed hold goes ahead (it is already one an analyst can void). */
    char body[400];
    srv_new_id(id);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\","
             "\"amount\":100001,\"timeout_ms\":60000}", id, a, b);
    CHECK_EQ_INT(srv_call(&w.s, &w.op, "POST", "/v1/holds", body, NULL), 201);
    CHECK_EQ_INT(srv_stop(&w.s, SIGTERM), 0);
}

TEST(risk_batches_chains_holds_and_velocity)
{
    struct world w;
    REQUIRE(start_with(&w, "rule cash allow when kind in exchange_in\n"
                           "rule big deny when amount > 100000\n"
                           "rule mid review when amount >= 50000\n"
                           "rule burst deny when count(10m) > 3 and payer_kind == corporate\n")
            == 0);
    struct srv_response r;
    char a[33], b[33], ids[5][33], body[2400];
    CHECK_EQ_INT(open_wallet(&w, &w.op, 1, a), 201);
    CHECK_EQ_INT(open_wallet(&w, &w.op, 1, b), 201);
    CHECK_EQ_INT(fund(&w, a, 10000000), 201);
    for (int i = 0; i < 5; i++) {
        srv_new_id(ids[i]);
    }
    /* [posted, denied, reviewed, chain(posted-able, denied)] */
    snprintf(body, sizeof body,
             "{\"transfers\":["
             "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":1000,\"kind\":\"p2p\"},"
             "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":100001,\"kind\":\"p2p\"},"
             "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":60000,\"kind\":\"p2p\"},"
             "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":10,\"kind\":\"p2p\",\"linked\":true},"
             "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":200000,\"kind\":\"p2p\"}]}",
             ids[0], a, b, ids[1], a, b, ids[2], a, b, ids[3], a, b, ids[4], a, b);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", "/v1/transfers/batch", body, &r), 200);
    CHECK_EQ_INT(count_of(r.body, "\"status\":\"posted\""), 1);
    CHECK_EQ_INT(count_of(r.body, "\"status\":\"review\""), 1);
    CHECK_EQ_INT(count_of(r.body, "\"code\":\"risk_denied\""), 2);
    CHECK_EQ_INT(count_of(r.body, "\"code\":\"linked_failed\""), 1);
    srv_response_free(&r);
    CHECK_EQ_INT(balance(&w, b), 1000);
    /* Velocity: a corporate wallet may make 3 payments in 10 minutes, not 4. */
    char body2[300], corp[33], id[33];
    srv_new_id(corp);
    snprintf(body2, sizeof body2, "{\"id\":\"%s\",\"kind\":\"corporate\",\"tier\":1,\"form\":\"soft\"}",
             corp);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", "/v1/wallets", body2, NULL), 201);
    CHECK_EQ_INT(fund(&w, corp, 1000000), 201);
    for (int i = 0; i < 3; i++) {
        srv_new_id(id);
        CHECK_EQ_INT(transfer(&w, &w.op, id, corp, b, 100, "payment", NULL), 201);
    }
    pay_expect(&w, corp, b, 100, "payment", 422, "burst");
    /* A new window: velocity is rebuilt from the journal, so the 3 payments already made
     * count at once: a 4th is allowed under count(20m) > 4, a 5th is not. */
    REQUIRE_EQ_INT(put_rules(&w, &w.s.central,
                             "rule cash allow when kind in exchange_in\n"
                             "rule burst2 deny when count(20m) > 4 and payer_kind == corporate\n"
                             "rule newdev review when new_device(1h) and amount >= 500\n", NULL),
                   200);
    pay_expect(&w, corp, b, 100, "payment", 201, NULL);
    pay_expect(&w, corp, b, 100, "payment", 422, "burst2");
    /* Devices: the first one reported is not new; a change makes the wallet's payments of
     * 500 fen and more go to review for an hour. */
    snprintf(body2, sizeof body2, "{\"wallet\":\"%s\",\"device\":\"phone-1\"}", a);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", "/v1/risk/devices", body2, &r), 200);
    CHECK(strstr(r.body, "\"device_changed\":false") != NULL);
    srv_response_free(&r);
    CHECK_EQ_INT(srv_call(&w.s, &w.op2, "POST", "/v1/risk/devices", body2, NULL), 403);
    pay_expect(&w, a, b, 500, "p2p", 201, NULL);
    snprintf(body2, sizeof body2, "{\"wallet\":\"%s\",\"device\":\"phone-2\"}", a);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", "/v1/risk/devices", body2, &r), 200);
    CHECK(strstr(r.body, "\"device_changed\":true") != NULL);
    srv_response_free(&r);
    pay_expect(&w, a, b, 499, "p2p", 201, NULL);
    pay_expect(&w, a, b, 500, "p2p", 202, "newdev");
    REQUIRE_EQ_INT(put_rules(&w, &w.s.central,
                             "rule big deny when amount > 100000 and kind in p2p,payment\n", NULL),
                   200);
    /* A hold is screened too: denied over the limit, refused before the ledger. */
    srv_new_id(id);
    snprintf(body2, sizeof body2, "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\","
             "\"amount\":100001,\"timeout_ms\":60000}", id, a, b);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", "/v1/holds", body2, &r), 422);
    CHECK(strstr(r.body, "\"rule\":\"big\"") != NULL);
    srv_response_free(&r);
    char path[100];
    snprintf(path, sizeof path, "/v1/holds/%s", id);
    CHECK_EQ_INT(srv_call(&w.s, &w.op, "GET", path, NULL, NULL), 404);
    CHECK_EQ_INT(srv_stop(&w.s, SIGTERM), 0);
}

TEST(risk_alerts_are_cases_and_reports_are_written)
{
    struct world w;
    REQUIRE(start_with(&w, "set fan_out.count 4\nset large_value_fen 300000\n") == 0);
    struct srv_response r;
    char a[33], to[6][33], id[33], path[200];
    CHECK_EQ_INT(open_wallet(&w, &w.op, 1, a), 201);
    CHECK_EQ_INT(fund(&w, a, 1000000), 201); /* 10,000 CNY in: a large value at 3,000 */
    for (int i = 0; i < 6; i++) {
        CHECK_EQ_INT(open_wallet(&w, &w.op2, 1, to[i]), 201);
        srv_new_id(id);
        CHECK_EQ_INT(transfer(&w, &w.op, id, a, to[i], 100 + i, "p2p", NULL), 201);
    }
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", "/v1/alerts?status=open&limit=10", NULL, &r), 200);
    char alert[40];
    CHECK_EQ_INT(count_of(r.body, "\"kind\":\"fan_out\""), 1);
    char *at = strstr(r.body, "\"id\":\"");
    REQUIRE(at != NULL);
    snprintf(alert, sizeof alert, "%.32s", at + 6);
    CHECK(strstr(r.body, a) != NULL);          /* the subject */
    CHECK(strstr(r.body, "\"evidence\":[\"") != NULL);
    srv_response_free(&r);
    /* Another operator neither lists nor reads it. */
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op2, "GET", "/v1/alerts", NULL, &r), 200);
    CHECK_EQ_INT(count_of(r.body, "\"kind\":\"fan_out\""), 0);
    srv_response_free(&r);
    snprintf(path, sizeof path, "/v1/alerts/%s", alert);
    CHECK_EQ_INT(srv_call(&w.s, &w.op2, "GET", path, NULL, NULL), 403);
    CHECK_EQ_INT(srv_call(&w.s, &w.op, "PATCH", path, "{\"status\":\"open\"}", NULL), 400);
    CHECK_EQ_INT(srv_call(&w.s, &w.op, "PATCH", path, "{}", NULL), 400);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "PATCH", path,
                            "{\"status\":\"investigating\",\"assignee\":\"li.wei\","
                            "\"note\":\"six new payees in a minute\"}", &r), 200);
    CHECK(strstr(r.body, "\"status\":\"investigating\"") && strstr(r.body, "\"assignee\":\"li.wei\""));
    srv_response_free(&r);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "PATCH", path,
                            "{\"status\":\"closed_suspicious\",\"note\":\"reported\"}", &r), 200);
    CHECK_EQ_INT(count_of(r.body, "\"event\":"), 3); /* raised, investigating, closed */
    srv_response_free(&r);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "PATCH", path, "{\"note\":\"again\"}", &r), 409);
    CHECK(strstr(r.body, "alert_closed") != NULL);
    srv_response_free(&r);
    /* Reports of today (UTC+8): the case is in the suspicious report, a in large value. */
    REQUIRE_EQ_INT(srv_call(&w.s, &w.s.central, "GET", "/v1/alerts?status=closed_suspicious",
                            NULL, &r), 200);
    CHECK(strstr(r.body, alert) != NULL);
    srv_response_free(&r);
    time_t now = time(NULL) + 8 * 3600;
    struct tm tm;
    gmtime_r(&now, &tm);
    char date[16], body[100], file[800];
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    snprintf(path, sizeof path, "/v1/reports/suspicious?date=%s", date);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.s.central, "GET", path, NULL, &r), 200);
    CHECK(strstr(r.body, alert) != NULL);
    srv_response_free(&r);
    snprintf(path, sizeof path, "/v1/reports/large_value?date=%s", date);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.s.central, "GET", path, NULL, &r), 200);
    CHECK(strstr(r.body, a) != NULL && strstr(r.body, "\"in_fen\":1000000") != NULL);
    srv_response_free(&r);
    CHECK_EQ_INT(srv_call(&w.s, &w.op, "GET", path, NULL, NULL), 403);
    CHECK_EQ_INT(srv_call(&w.s, &w.s.central, "GET", "/v1/reports/large_value?date=2025-02-30",
                          NULL, NULL), 400);
    snprintf(body, sizeof body, "{\"date\":\"%s\"}", date);
    CHECK_EQ_INT(srv_call(&w.s, &w.s.central, "POST", "/v1/reports/files", body, NULL), 200);
    const char *names[4] = {"large_value", "large_value", "suspicious", "suspicious"};
    for (int i = 0; i < 4; i++) {
        snprintf(file, sizeof file, "%s/reports/%s-%s.%s", w.s.dir, names[i], date,
                 i % 2 ? "csv" : "json");
        FILE *f = fopen(file, "r");
        REQUIRE(f != NULL);
        char content[8192];
        size_t n = fread(content, 1, sizeof content - 1, f);
        fclose(f);
        content[n] = '\0';
        CHECK(strstr(content, i < 2 ? a : alert) != NULL);
    }
    /* After a restart the case is still there, once. */
    REQUIRE(restart(&w) == 0);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.s.central, "GET", "/v1/alerts", NULL, &r), 200);
    CHECK_EQ_INT(count_of(r.body, "\"kind\":\"fan_out\""), 1);
    CHECK_EQ_INT(count_of(r.body, "\"status\":\"closed_suspicious\""), 1);
    srv_response_free(&r);
    CHECK_EQ_INT(srv_stop(&w.s, SIGTERM), 0);
}

TEST(risk_tier4_wallets_read_as_pseudonyms_by_other_operators)
{
    struct world w;
    REQUIRE(world_start(&w) == 0);
    struct srv_response r;
    char t4[33], t1[33], shop[33], id4[33], id1[33], path[100], seen[40], again[40];
    CHECK_EQ_INT(open_wallet(&w, &w.op, 4, t4), 201);
    CHECK_EQ_INT(open_wallet(&w, &w.op, 1, t1), 201);
    CHECK_EQ_INT(open_wallet(&w, &w.op2, 1, shop), 201);
    CHECK_EQ_INT(fund(&w, t4, 100000), 201);
    CHECK_EQ_INT(fund(&w, t1, 100000), 201);
    srv_new_id(id4);
    CHECK_EQ_INT(transfer(&w, &w.op, id4, t4, shop, 500, "payment", NULL), 201);
    srv_new_id(id1);
    CHECK_EQ_INT(transfer(&w, &w.op, id1, t1, shop, 500, "payment", NULL), 201);
    snprintf(path, sizeof path, "/v1/transfers/%s", id4);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op2, "GET", path, NULL, &r), 200);
    CHECK(srv_json_str(r.body, "debit", seen, sizeof seen) == 0);
    CHECK(strcmp(seen, t4) != 0 && strlen(seen) == 32);
    srv_response_free(&r);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op2, "GET", path, NULL, &r), 200);
    CHECK(srv_json_str(r.body, "debit", again, sizeof again) == 0);
    CHECK_EQ_STR(again, seen); /* stable */
    srv_response_free(&r);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", path, NULL, &r), 200);
    CHECK(strstr(r.body, t4) != NULL); /* its own operator sees it */
    srv_response_free(&r);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.s.central, "GET", path, NULL, &r), 200);
    CHECK(strstr(r.body, t4) != NULL);
    srv_response_free(&r);
    snprintf(path, sizeof path, "/v1/transfers/%s", id1);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op2, "GET", path, NULL, &r), 200);
    CHECK(strstr(r.body, t1) != NULL); /* tier 1: not anonymous */
    srv_response_free(&r);
    snprintf(path, sizeof path, "/v1/wallets/%s/transfers", shop);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op2, "GET", path, NULL, &r), 200);
    CHECK(strstr(r.body, t4) == NULL && strstr(r.body, seen) != NULL);
    srv_response_free(&r);
    CHECK_EQ_INT(srv_stop(&w.s, SIGTERM), 0);
}

TEST(risk_disclosure_needs_basis_and_second_approver_and_leaves_a_trace)
{
    struct world w;
    REQUIRE(world_start(&w) == 0);
    struct srv_response r;
    char wallet[33], body[400], path[200], disc[40];
    srv_new_id(wallet);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"kind\":\"personal\",\"tier\":4,"
             "\"form\":\"soft\",\"holder\":{\"name\":\"Zhang San\","
             "\"id_number\":\"110101199003071234\",\"phone\":\"13800138000\"}}", wallet);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", "/v1/wallets", body, NULL), 201);
    /* Another operator may not ask; nobody may ask without a legal basis. */
    snprintf(body, sizeof body, "{\"wallet\":\"%s\",\"legal_basis\":\"court order 2025-17\"}",
             wallet);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op2, "POST", "/v1/disclosures", body, &r), 403);
    CHECK(strstr(r.body, "wrong_role") != NULL);
    srv_response_free(&r);
    snprintf(body, sizeof body, "{\"wallet\":\"%s\"}", wallet);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", "/v1/disclosures", body, &r), 422);
    CHECK(strstr(r.body, "legal_basis_required") != NULL);
    srv_response_free(&r);
    snprintf(body, sizeof body, "{\"wallet\":\"%s\",\"legal_basis\":\"AML Law art. 3, "
             "case 2025-17\"}", wallet);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", "/v1/disclosures", body, &r), 201);
    CHECK(srv_json_str(r.body, "id", disc, sizeof disc) == 0);
    CHECK(strstr(r.body, "\"status\":\"pending\"") != NULL);
    srv_response_free(&r);
    /* No second approver (the requester), the wrong role (another operator), no reveal
     * before approval: each refused. */
    snprintf(path, sizeof path, "/v1/disclosures/%s/approve", disc);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", path, NULL, &r), 422);
    CHECK(strstr(r.body, "second_approver_required") != NULL);
    srv_response_free(&r);
    CHECK_EQ_INT(srv_call(&w.s, &w.op2, "POST", path, NULL, NULL), 403);
    snprintf(path, sizeof path, "/v1/disclosures/%s/reveal", disc);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", path, NULL, &r), 409);
    CHECK(strstr(r.body, "disclosure_not_approved") != NULL && strstr(r.body, "Zhang") == NULL);
    srv_response_free(&r);
    /* The central bank approves; only the requester then receives the identity. */
    snprintf(path, sizeof path, "/v1/disclosures/%s/approve", disc);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.s.central, "POST", path, "{}", &r), 200);
    CHECK(strstr(r.body, "\"status\":\"approved\"") && strstr(r.body, "\"approver\":\"central\""));
    srv_response_free(&r);
    CHECK_EQ_INT(srv_call(&w.s, &w.s.central, "POST", path, NULL, NULL), 409);
    snprintf(path, sizeof path, "/v1/disclosures/%s/reveal", disc);
    CHECK_EQ_INT(srv_call(&w.s, &w.op2, "POST", path, NULL, NULL), 403);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", path, NULL, &r), 200);
    CHECK(strstr(r.body, "\"name\":\"Zhang San\"") && strstr(r.body, "110101199003071234") &&
          strstr(r.body, "13800138000"));
    srv_response_free(&r);
    snprintf(path, sizeof path, "/v1/disclosures/%s", disc);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", path, NULL, &r), 200);
    CHECK_EQ_INT(srv_json_int(r.body, "reveals"), 1);
    srv_response_free(&r);
    CHECK_EQ_INT(srv_call(&w.s, &w.op2, "GET", path, NULL, NULL), 403);
    CHECK_EQ_INT(srv_stop(&w.s, SIGTERM), 0);
    /* The audit lists every step from the journal, refusals included. */
    char cmd[2400], out[800];
    snprintf(out, sizeof out, "%s/audit.txt", test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s audit disclosures --data %s > %s", getenv("JZ_BIN"), w.s.dir,
             out);
    REQUIRE(system(cmd) == 0);
    FILE *f = fopen(out, "r");
    REQUIRE(f != NULL);
    static char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    CHECK_EQ_INT(count_of(text, " requested "), 1);
    CHECK_EQ_INT(count_of(text, " approved "), 1);
    CHECK_EQ_INT(count_of(text, " revealed "), 1);
    CHECK_EQ_INT(count_of(text, " refused "), 6);
    CHECK_EQ_INT(count_of(text, "no_legal_basis"), 1);
    CHECK_EQ_INT(count_of(text, "no_second_approver"), 1);
    CHECK_EQ_INT(count_of(text, "wrong_role"), 3);
    CHECK_EQ_INT(count_of(text, "not_approved"), 1);
    CHECK(strstr(text, "AML Law art. 3, case 2025-17") != NULL);
    CHECK(strstr(text, "Zhang") == NULL); /* the identity itself is never journalled in clear */
    CHECK(strstr(text, "9 disclosure steps") != NULL);
}
