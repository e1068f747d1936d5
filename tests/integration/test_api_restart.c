/*
 * test_api_restart.c: kill -9 the server under HTTP load from several client threads. Every
 * transfer that got a 2xx is present after the restart, conservation holds (the funded
 * wallets' balances sum to what was funded), and replaying each request (same id, same body)
 * returns the same answer.
 */
#include <pthread.h>
#include <stdlib.h>
#include <signal.h>
#include <time.h>

#include "server.h"
#include "test.h"

#define CLIENTS 4
#define WALLETS 20
#define PER_CLIENT_MAX 4000
#define FUND 1000000

struct shared {
    struct srv *s;
    struct srv_creds *op;
    char wallets[WALLETS][33];
};

struct sent {
    char id[33];
    char body[300];
    int status;
    char answer[400];
};

struct client {
    struct shared *sh;
    int index;
    struct sent *sent;
    int count;
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    unsigned seed = (unsigned)c->index * 7919u + 1;
    for (int i = 0; i < PER_CLIENT_MAX; i++) {
        struct sent *t = &c->sent[i];
        int from = rand_r(&seed) % WALLETS;
        int to = (from + 1 + rand_r(&seed) % (WALLETS - 1)) % WALLETS;
        srv_new_id(t->id);
        snprintf(t->body, sizeof t->body,
                 "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":%d,\"kind\":\"p2p\"}",
                 t->id, c->sh->wallets[from], c->sh->wallets[to], 1 + rand_r(&seed) % 100);
        struct srv_response r;
        t->status = srv_call(c->sh->s, c->sh->op, "POST", "/v1/transfers", t->body, &r);
        if (t->status < 0) {
            break; /* the server is gone */
        }
        snprintf(t->answer, sizeof t->answer, "%s", r.body);
        srv_response_free(&r);
        c->count = i + 1;
    }
    return NULL;
}

static int setup(struct srv *s, struct srv_creds *op, struct shared *sh)
{
    struct srv_response r;
    char treasury[33];
    char body[400];
    if (srv_call(s, &s->central, "POST", "/v1/institutions",
                 "{\"id\":\"opa\",\"name\":\"A\",\"kind\":\"operator\"}", &r) != 201) {
        return -1;
    }
    memset(op, 0, sizeof *op);
    srv_json_str(r.body, "key_id", op->key_id, sizeof op->key_id);
    srv_json_str(r.body, "secret", op->secret, sizeof op->secret);
    srv_json_str(r.body, "treasury", treasury, sizeof treasury);
    srv_response_free(&r);
    snprintf(body, sizeof body, "{\"id\":\"%032d\",\"operator\":\"opa\",\"amount\":%d}", 1,
             WALLETS * FUND);
    if (srv_call(s, &s->central, "POST", "/v1/quota/issue", body, NULL) != 201) {
        return -1;
    }
    for (int w = 0; w < WALLETS; w++) {
        char tid[33];
        srv_new_id(sh->wallets[w]);
        srv_new_id(tid);
        snprintf(body, sizeof body, "{\"id\":\"%s\",\"kind\":\"personal\",\"tier\":1,\"form\":\"soft\"}",
                 sh->wallets[w]);
        if (srv_call(s, op, "POST", "/v1/wallets", body, NULL) != 201) {
            return -1;
        }
        snprintf(body, sizeof body,
                 "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":%d,\"kind\":\"exchange_in\"}",
                 tid, treasury, sh->wallets[w], FUND);
        if (srv_call(s, op, "POST", "/v1/transfers", body, NULL) != 201) {
            return -1;
        }
    }
    return 0;
}

TEST(api_kill9_under_load_loses_no_acknowledged_transfer)
{
    static struct srv s;
    static struct srv_creds op;
    static struct shared sh;
    static struct client clients[CLIENTS];
    char dir[512];
    snprintf(dir, sizeof dir, "%s/node", test_tmpdir());
    REQUIRE(srv_start(&s, dir, NULL) == 0);
    REQUIRE(setup(&s, &op, &sh) == 0);
    sh.s = &s;
    sh.op = &op;
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = (struct client){.sh = &sh, .index = i};
        clients[i].sent = calloc(PER_CLIENT_MAX, sizeof *clients[i].sent);
        REQUIRE(clients[i].sent != NULL);
        pthread_create(&th[i], NULL, client_main, &clients[i]);
    }
    struct timespec pause = {0, 700 * 1000000L};
    nanosleep(&pause, NULL);
    srv_stop(&s, SIGKILL);
    int acked = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        for (int k = 0; k < clients[i].count; k++) {
            acked += clients[i].sent[k].status == 201;
        }
    }
    CHECK(acked > 0);
    REQUIRE(srv_start(&s, dir, NULL) == 0);
    /* Every request replayed: same status and same answer; nothing acknowledged is lost. */
    int lost = 0;
    int differ = 0;
    for (int i = 0; i < CLIENTS; i++) {
        for (int k = 0; k < clients[i].count; k++) {
            struct sent *t = &clients[i].sent[k];
            struct srv_response r;
            int status = srv_call(&s, &op, "POST", "/v1/transfers", t->body, &r);
            bool was_ok = t->status == 201;
            lost += was_ok && status != 200;
            differ += (was_ok ? strcmp(r.body, t->answer) != 0
                              : status != t->status || strcmp(r.body, t->answer) != 0);
            srv_response_free(&r);
        }
    }
    CHECK_EQ_INT(lost, 0);
    CHECK_EQ_INT(differ, 0);
    /* Conservation within the operator: the wallets hold exactly what was funded. */
    long long total = 0;
    for (int w = 0; w < WALLETS; w++) {
        char path[100];
        struct srv_response r;
        snprintf(path, sizeof path, "/v1/wallets/%s", sh.wallets[w]);
        REQUIRE_EQ_INT(srv_call(&s, &op, "GET", path, NULL, &r), 200);
        total += srv_json_int(r.body, "balance");
        srv_response_free(&r);
    }
    CHECK_EQ_INT(total, (long long)WALLETS * FUND);
    printf("  restart test: %d transfers acknowledged before kill -9, all present after\n", acked);
    CHECK_EQ_INT(srv_stop(&s, SIGTERM), 0);
    for (int i = 0; i < CLIENTS; i++) {
        free(clients[i].sent);
    }
}
