/*
 * test_api_overload.c: a full executor queue answers 503 overloaded with Retry-After, the
 * refused requests change nothing, and retrying them later with the same id succeeds.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "server.h"
#include "test.h"
#include "world.h"

#define CLIENTS 24
#define PER_CLIENT 60

struct shot {
    char body[300];
    int status;
    char retry_after[16];
    char code[40];
};

struct client {
    struct world *w;
    char from[33], to[33];
    struct shot shots[PER_CLIENT];
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    for (int i = 0; i < PER_CLIENT; i++) {
        struct shot *s = &c->shots[i];
        char id[33];
        srv_new_id(id);
        snprintf(s->body, sizeof s->body,
                 "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":1,\"kind\":\"p2p\"}",
                 id, c->from, c->to);
        struct srv_response r;
        s->status = srv_call(&c->w->s, &c->w->op, "POST", "/v1/transfers", s->body, &r);
        if (s->status > 0) {
            snprintf(s->retry_after, sizeof s->retry_after, "%s", r.retry_after);
            srv_json_str(r.body, "code", s->code, sizeof s->code);
            srv_response_free(&r);
        }
    }
    return NULL;
}

TEST(api_full_queue_answers_503_with_retry_after)
{
    static struct world w;
    static struct client clients[CLIENTS];
    char dir[512];
    snprintf(dir, sizeof dir, "%s/node", test_tmpdir());
    /* A queue of one request: concurrent clients overflow it at once. */
    REQUIRE(srv_start(&w.s, dir, "--queue 1") == 0);
    REQUIRE(world_start_on(&w) == 0);
    char a[33], b[33], tid[33];
    REQUIRE_EQ_INT(open_wallet(&w, &w.op, 1, a), 201);
    REQUIRE_EQ_INT(open_wallet(&w, &w.op, 1, b), 201);
    srv_new_id(tid);
    REQUIRE_EQ_INT(transfer(&w, &w.op, tid, w.treasury, a, 1000000, "exchange_in", NULL), 201);
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        clients[i].w = &w;
        memcpy(clients[i].from, a, 33);
        memcpy(clients[i].to, b, 33);
        pthread_create(&th[i], NULL, client_main, &clients[i]);
    }
    int posted = 0, overloaded = 0, other = 0, with_retry_after = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        for (int k = 0; k < PER_CLIENT; k++) {
            struct shot *s = &clients[i].shots[k];
            posted += s->status == 201;
            if (s->status == 503) {
                overloaded++;
                with_retry_after += strcmp(s->code, "overloaded") == 0 && s->retry_after[0];
            }
            other += s->status != 201 && s->status != 503;
        }
    }
    printf("  overload: %d posted, %d answered 503 overloaded\n", posted, overloaded);
    CHECK(overloaded > 0);
    CHECK_EQ_INT(with_retry_after, overloaded);
    CHECK_EQ_INT(other, 0);
    /* Refused requests changed nothing: b holds exactly the posted ones; retried with the
     * same ids (one client at a time, so the queue has room), they post now. */
    char path[100];
    struct srv_response r;
    snprintf(path, sizeof path, "/v1/wallets/%s", b);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", path, NULL, &r), 200);
    CHECK_EQ_INT(srv_json_int(r.body, "balance"), posted);
    srv_response_free(&r);
    int retried = 0;
    for (int i = 0; i < CLIENTS; i++) {
        for (int k = 0; k < PER_CLIENT; k++) {
            struct shot *s = &clients[i].shots[k];
            if (s->status == 503) {
                retried += srv_call(&w.s, &w.op, "POST", "/v1/transfers", s->body, NULL) == 201;
            }
        }
    }
    CHECK_EQ_INT(retried, overloaded);
    REQUIRE_EQ_INT(srv_call(&w.s, &w.op, "GET", path, NULL, &r), 200);
    CHECK_EQ_INT(srv_json_int(r.body, "balance"), CLIENTS * PER_CLIENT);
    srv_response_free(&r);
    CHECK_EQ_INT(srv_stop(&w.s, SIGTERM), 0);
}

TEST(api_rate_limit_answers_429_with_retry_after)
{
    struct srv s;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/node", test_tmpdir());
    REQUIRE(srv_start(&s, dir, "--rate 5 --burst 5") == 0);
    int ok = 0, limited = 0;
    struct srv_response r;
    for (int i = 0; i < 12; i++) {
        int status = srv_call(&s, &s.central, "GET", "/v1/institutions", NULL, &r);
        ok += status == 200;
        if (status == 429) {
            limited++;
            CHECK(strstr(r.body, "\"code\":\"rate_limited\"") != NULL);
            CHECK(r.retry_after[0] != '\0');
        }
        srv_response_free(&r);
    }
    /* srv_start's own /healthz polls are unsigned and not counted against the key. */
    CHECK(ok >= 5 && ok <= 6);
    CHECK_EQ_INT(ok + limited, 12);
    CHECK_EQ_INT(srv_stop(&s, SIGTERM), 0);
}
