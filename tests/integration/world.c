/*
 * world.c: the common set-up of the API integration suites (see world.h).
 */
#include "world.h"

#include "test.h"

static int make_operator(struct world *w, const char *id, struct srv_creds *c, char treasury[33])
{
    char body[200];
    struct srv_response r;
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"name\":\"Bank %s\",\"kind\":\"operator\"}", id, id);
    if (srv_call(&w->s, &w->s.central, "POST", "/v1/institutions", body, &r) != 201) {
        fprintf(stderr, "  create %s: %s\n", id, r.body ? r.body : "");
        srv_response_free(&r);
        return -1;
    }
    memset(c, 0, sizeof *c);
    snprintf(c->institution, sizeof c->institution, "%s", id);
    int rc = srv_json_str(r.body, "key_id", c->key_id, sizeof c->key_id) |
             srv_json_str(r.body, "secret", c->secret, sizeof c->secret) |
             srv_json_str(r.body, "treasury", treasury, 33);
    srv_response_free(&r);
    snprintf(body, sizeof body, "{\"id\":\"%032x\",\"operator\":\"%s\",\"amount\":100000000}",
             (unsigned)(id[2] + 1), id);
    return rc == 0 && srv_call(&w->s, &w->s.central, "POST", "/v1/quota/issue", body, NULL) == 201
               ? 0 : -1;
}

int world_start(struct world *w)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/node", test_tmpdir());
    if (srv_start(&w->s, dir, NULL) != 0) {
        return -1;
    }
    return world_start_on(w);
}

int world_start_on(struct world *w)
{
    return make_operator(w, "opa", &w->op, w->treasury) == 0 &&
                   make_operator(w, "opb", &w->op2, w->treasury2) == 0
               ? 0 : -1;
}

/* Opens a wallet of c's operator; returns the status and writes its id. */
int open_wallet(struct world *w, const struct srv_creds *c, int tier, char id[33])
{
    char body[200];
    srv_new_id(id);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"kind\":\"personal\",\"tier\":%d,\"form\":\"soft\"}",
             id, tier);
    return srv_call(&w->s, c, "POST", "/v1/wallets", body, NULL);
}

int transfer(struct world *w, const struct srv_creds *c, const char *id, const char *from,
                    const char *to, long long amount, const char *kind, struct srv_response *r)
{
    char body[400];
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":%lld,\"kind\":\"%s\"}",
             id, from, to, amount, kind);
    return srv_call(&w->s, c, "POST", "/v1/transfers", body, r);
}
