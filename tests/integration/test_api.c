/*
 * test_api.c: every route of the API through a real `jiaozi serve`, as an outside client
 * sees it: statuses, bodies, idempotent replays, holds, batches with linked chains, history
 * pages, institutions and their credentials, the audit head.
 */
#include <signal.h>
#include <stdlib.h>

#include "server.h"
#include "world.h"
#include "test.h"

TEST(api_wallets_transfers_and_replays)
{
    struct world w;
    REQUIRE(world_start(&w) == 0);
    char a[33], b[33], tid[33], path[200];
    struct srv_response r;
    CHECK_EQ_INT(open_wallet(&w, &w.op, 4, a), 201);
    CHECK_EQ_INT(open_wallet(&w, &w.op2, 2, b), 201);
    srv_new_id(tid);
    CHECK_EQ_INT(transfer(&w, &w.op, tid, w.treasury, a, 500000, "exchange_in", NULL), 201);
    srv_new_id(tid);
    REQUIRE_EQ_INT(transfer(&w, &w.op, tid, a, b, 1234, "p2p", &r), 201);
    CHECK(strstr(r.body, "\"status\":\"posted\"") != NULL);
    long long ts = srv_json_int(r.body, "timestamp");
    srv_response_free(&r);
    /* The same body again: 200 and the same object (first timestamp). */
    REQUIRE_EQ_INT(transfer(&w, &w.op, tid, a, b, 1234, "p2p", &r), 200);
    CHECK_EQ_INT(srv_json_int(r.body, "timestamp"), ts);
    srv_response_free(&r);
    /* Same id, different amount: 409 naming the field. */
    REQUIRE_EQ_INT(transfer(&w, &w.op, tid, a, b, 1235, "p2p", &r), 409);
    CHECK(strstr(r.body, "\"code\":\"id_conflict\"") && strstr(r.body, "\"field\":\"amount\""));
    srv_response_free(&r);
    /* Over the tier-4 per-payment limit: 422, and the replay returns the same error. */
    srv_new_id(tid);
    CHECK_EQ_INT(transfer(&w, &w.op, tid, a, b, 200001, "p2p", NULL), 422);
    REQUIRE_EQ_INT(transfer(&w, &w.op, tid, a, b, 200001, "p2p", &r), 422);
    CHECK(strstr(r.body, "per_payment_limit_exceeded") != NULL);
    srv_response_free(&r);
    /* opb may not debit opa's wallet, but opa may credit opb's. */
    srv_new_id(tid);
    CHECK_EQ_INT(transfer(&w, &w.op2, tid, a, b, 1, "p2p", NULL), 403);
    snprintf(path, sizeof path, "/v1/wallets/%s", a);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", path, NULL, &r), 200);
    CHECK_EQ_INT(srv_json_int(r.body, "balance"), 500000 - 1234);
    CHECK_EQ_INT(srv_json_int(r.body, "day_out"), 1234);
    srv_response_free(&r);
    CHECK_EQ_INT(srv_call(&w.s, &w.op2, "GET", path, NULL, NULL), 403);
    CHECK_EQ_INT(srv_call(&w.s, &w.s.central, "GET", path, NULL, NULL), 200);
    /* Freeze, refuse, unfreeze. */
    CHECK_EQ_INT(srv_call(&w.s, &w.op, "PATCH", path, "{\"status\":\"frozen\"}", NULL), 200);
    srv_new_id(tid);
    CHECK_EQ_INT(transfer(&w, &w.op, tid, a, b, 1, "p2p", NULL), 422);
    CHECK_EQ_INT(srv_call(&w.s, &w.op, "PATCH", path, "{\"status\":\"active\",\"tier\":3}", NULL), 200);
    /* The transfer and the history. */
    snprintf(path, sizeof path, "/v1/transfers/%s", tid);
    CHECK_EQ_INT(srv_call(&w.s, &w.op, "GET", path, NULL, NULL), 404); /* refused: not posted */
    snprintf(path, sizeof path, "/v1/wallets/%s/transfers?limit=1", a);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", path, NULL, &r), 200);
    char cursor[32];
    CHECK(srv_json_str(r.body, "next_cursor", cursor, sizeof cursor) == 0);
    CHECK(strstr(r.body, "\"amount\":1234") != NULL); /* newest first */
    srv_response_free(&r);
    snprintf(path, sizeof path, "/v1/wallets/%s/transfers?limit=1&cursor=%s", a, cursor);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", path, NULL, &r), 200);
    CHECK(strstr(r.body, "\"kind\":\"exchange_in\"") != NULL);
    CHECK(strstr(r.body, "\"next_cursor\":null") != NULL);
    srv_response_free(&r);
    CHECK_EQ_INT(srv_stop(&w.s, SIGTERM), 0);
}

TEST(api_holds_batches_institutions_audit)
{
    struct world w;
    REQUIRE(world_start(&w) == 0);
    char a[33], b[33], hid[33], path[200], body[4096];
    struct srv_response r;
    CHECK_EQ_INT(open_wallet(&w, &w.op, 1, a), 201);
    CHECK_EQ_INT(open_wallet(&w, &w.op, 1, b), 201);
    srv_new_id(hid);
    CHECK_EQ_INT(transfer(&w, &w.op, hid, w.treasury, a, 100000, "exchange_in", NULL), 201);
    srv_new_id(hid);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":5000,"
             "\"timeout_ms\":60000}", hid, a, b);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", "/v1/holds", body, &r), 201);
    CHECK(strstr(r.body, "\"status\":\"pending\"") != NULL);
    srv_response_free(&r);
    snprintf(path, sizeof path, "/v1/holds/%s/capture", hid);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", path, "{\"amount\":3000}", &r), 200);
    CHECK(strstr(r.body, "\"status\":\"captured\"") && strstr(r.body, "\"captured\":3000"));
    srv_response_free(&r);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", path, "{}", &r), 409);
    CHECK(strstr(r.body, "already_resolved") != NULL);
    srv_response_free(&r);
    snprintf(path, sizeof path, "/v1/holds/%s", hid);
    CHECK_EQ_INT(srv_call(&w.s, &w.op, "GET", path, NULL, NULL), 200);
    /* A batch: two linked (the second fails: all or none) and one alone. */
    char t1[33], t2[33], t3[33];
    srv_new_id(t1);
    srv_new_id(t2);
    srv_new_id(t3);
    snprintf(body, sizeof body,
             "{\"transfers\":[{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":10,"
             "\"kind\":\"p2p\",\"linked\":true},{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\","
             "\"amount\":999999999,\"kind\":\"p2p\"},{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\","
             "\"amount\":7,\"kind\":\"p2p\",\"memo\":\"tea\"}]}", t1, a, b, t2, a, b, t3, a, b);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "POST", "/v1/transfers/batch", body, &r), 200);
    CHECK(strstr(r.body, "linked_failed") && strstr(r.body, "insufficient_funds"));
    CHECK(strstr(r.body, "\"status\":\"posted\"") != NULL);
    srv_response_free(&r);
    snprintf(path, sizeof path, "/v1/transfers/%s", t3);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", path, NULL, &r), 200);
    CHECK(strstr(r.body, "\"memo\":\"tea\"") != NULL);
    srv_response_free(&r);
    snprintf(path, sizeof path, "/v1/transfers/%s", t1);
    CHECK_EQ_INT(srv_call(&w.s, &w.op, "GET", path, NULL, NULL), 404);
    /* Institutions: central lists; an operator reads only itself; replay shows no secret. */
    REQUIRE_EQ_INT(srv_call(&w.s, &w.s.central, "GET", "/v1/institutions", NULL, &r), 200);
    CHECK(strstr(r.body, "\"opa\"") && strstr(r.body, "\"opb\"") && strstr(r.body, "central"));
    srv_response_free(&r);
    CHECK_EQ_INT(srv_call(&w.s, &w.op, "GET", "/v1/institutions/opa", NULL, NULL), 200);
    CHECK_EQ_INT(srv_call(&w.s, &w.op, "GET", "/v1/institutions/opb", NULL, NULL), 403);
    CHECK_EQ_INT(srv_call(&w.s, &w.op, "GET", "/v1/institutions", NULL, NULL), 403);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.s.central, "POST", "/v1/institutions",
                            "{\"id\":\"opa\",\"name\":\"Bank opa\",\"kind\":\"operator\"}", &r), 200);
    CHECK(strstr(r.body, "secret") == NULL);
    srv_response_free(&r);
    /* Audit head, health, metrics, OpenAPI. */
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", "/v1/audit/head", NULL, &r), 200);
    CHECK(srv_json_int(r.body, "seq") > 5);
    CHECK(strstr(r.body, "BEGIN PUBLIC KEY") != NULL);
    srv_response_free(&r);
    REQUIRE_EQ_INT(srv_call(&w.s, NULL, "GET", "/metrics", NULL, &r), 200);
    CHECK(strstr(r.body, "jiaozi_http_requests_total{route=\"/v1/holds\",status=\"201\"} 1") != NULL);
    CHECK(strstr(r.body, "jiaozi_projector_lag_records") != NULL);
    srv_response_free(&r);
    REQUIRE_EQ_INT(srv_call(&w.s, NULL, "GET", "/v1/openapi.json", NULL, &r), 200);
    CHECK(strstr(r.body, "\"openapi\"") != NULL);
    srv_response_free(&r);
    CHECK_EQ_INT(srv_call(&w.s, NULL, "GET", "/v1/wallets/abc", NULL, NULL), 401);
    CHECK_EQ_INT(srv_stop(&w.s, SIGTERM), 0);
}

/* True when needle occurs in any file under dir. */
static bool found_on_disk(const char *dir, const char *needle)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "grep -rqa -- '%s' '%s'", needle, dir);
    return system(cmd) == 0;
}

TEST(api_holder_identity_is_sealed_never_on_disk_in_clear)
{
    struct world w;
    REQUIRE(world_start(&w) == 0);
    char id[33];
    char body[400];
    srv_new_id(id);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"kind\":\"personal\",\"tier\":2,\"form\":\"soft\","
             "\"holder\":{\"name\":\"Zhang Sanfeng-Quux\",\"id_number\":\"51010419900307XYZW\","
             "\"phone\":\"13912345678\"}}", id);
    CHECK_EQ_INT(srv_call(&w.s, &w.op, "POST", "/v1/wallets", body, NULL), 201);
    CHECK_EQ_INT(srv_stop(&w.s, SIGTERM), 0); /* journal, snapshot and history all written */
    CHECK(!found_on_disk(w.s.dir, "Zhang Sanfeng-Quux"));
    CHECK(!found_on_disk(w.s.dir, "51010419900307XYZW"));
    CHECK(!found_on_disk(w.s.dir, "13912345678"));
    /* The record is there, sealed: the holder store has one row for the wallet. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "test \"$(sqlite3 '%s/history.db' 'select count(*) from holders')\" = 1",
             w.s.dir);
    CHECK(system(cmd) == 0);
}
