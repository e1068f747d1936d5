/*
 * clearing_world.c: see clearing_world.h.
 */
#include "clearing_world.h"

#include <signal.h>

#include "test.h"

int cw_merchant(struct cworld *cw, const struct srv_creds *c, int mcc, char id[33])
{
    char body[200];
    srv_new_id(id);
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"kind\":\"merchant\",\"tier\":1,\"form\":\"soft\",\"mcc\":%d}", id,
             mcc);
    return srv_call(&cw->w.s, c, "POST", "/v1/wallets", body, NULL);
}

int cw_pay(struct cworld *cw, const struct srv_creds *c, const char *from, const char *to,
           long long amount, const char *kind, char id[33])
{
    char tid[33];
    srv_new_id(tid);
    if (id) {
        memcpy(id, tid, 33);
    }
    return transfer(&cw->w, c, tid, from, to, amount, kind, NULL);
}

int cw_start_on(struct cworld *cw)
{
    struct world *w = &cw->w;
    if (world_start_on(w) != 0 || open_wallet(w, &w->op, 1, cw->a) != 201 ||
        open_wallet(w, &w->op2, 1, cw->b) != 201 || cw_merchant(cw, &w->op, 5411, cw->ma) != 201 ||
        cw_merchant(cw, &w->op2, 5812, cw->mb) != 201) {
        return -1;
    }
    return cw_pay(cw, &w->op, w->treasury, cw->a, 1000000, "exchange_in", NULL) == 201 &&
                   cw_pay(cw, &w->op2, w->treasury2, cw->b, 1000000, "exchange_in", NULL) == 201
               ? 0
               : -1;
}

int cw_start(struct cworld *cw)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/node", test_tmpdir());
    return srv_start(&cw->w.s, dir, NULL) == 0 ? cw_start_on(cw) : -1;
}

void cw_run(void (*body)(struct cworld *cw))
{
    static struct cworld cw;
    memset(&cw, 0, sizeof cw);
    int rc = cw_start(&cw);
    CHECK_EQ_INT(rc, 0);
    if (rc == 0) {
        body(&cw);
    }
    if (cw.w.s.pid > 0) {
        CHECK_EQ_INT(srv_stop(&cw.w.s, SIGTERM), 0);
    }
}

long long cw_int(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

json_t *cw_get(struct cworld *cw, const struct srv_creds *c, const char *path, int *status)
{
    struct srv_response r;
    int st = srv_call(&cw->w.s, c, "GET", path, NULL, &r);
    if (status) {
        *status = st;
    }
    json_t *o = st == 200 ? json_loads(r.body, 0, NULL) : NULL;
    srv_response_free(&r);
    return o;
}

long long cw_cutoff(struct cworld *cw)
{
    struct srv_response r;
    long long cycle = -1;
    if (srv_call(&cw->w.s, &cw->w.s.central, "POST", "/v1/clearing/cutoff", NULL, &r) == 201) {
        json_t *o = json_loads(r.body, 0, NULL);
        cycle = cw_int(o, "cycle");
        json_decref(o);
    } else {
        fprintf(stderr, "  cut-off: %s\n", r.body ? r.body : "");
    }
    srv_response_free(&r);
    return cycle;
}

int cw_file(struct cworld *cw, const struct srv_creds *c, long long cycle, const char *name,
            struct srv_response *r)
{
    char path[200];
    snprintf(path, sizeof path, "/v1/clearing/cycles/%lld/files/%s", cycle, name);
    return srv_call(&cw->w.s, c, "GET", path, NULL, r);
}

long long cw_balance(struct cworld *cw, const struct srv_creds *c, const char *wallet)
{
    char path[100];
    snprintf(path, sizeof path, "/v1/wallets/%s", wallet);
    json_t *o = cw_get(cw, c, path, NULL);
    long long v = cw_int(o, "balance");
    json_decref(o);
    return v;
}

int cw_items(const char *csv, const char *id, int *times)
{
    int n = 0;
    *times = 0;
    for (const char *p = csv; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, "I,", 2) == 0) {
            n++;
            *times += id && strncmp(p + 2, id, 32) == 0;
        }
    }
    return n;
}
