/*
 * test_clearing_security.c: who may call each clearing route (docs/api.md, "Clearing").
 * Every row is tried by central, opa, opb, an unsigned caller and a caller with an unknown
 * key; the callers a row does not allow go first and must not get a 2xx (the unsigned and
 * unknown ones get 401), and then every allowed caller must succeed, so the matrix is not
 * vacuous.
 */
#include "clearing_world.h"
#include "common.h"
#include "test.h"

enum who { W_CENTRAL, W_OPA, W_OPB, W_NOBODY, W_BOGUS, W_COUNT };
#define ALLOW(x) (1u << (x))

struct rule {
    const char *method;
    const char *path; /* %A %D %E: objects below; ' in bodies stands for " */
    const char *body;
    unsigned allowed;
};

/* %A an adjustment between opb's wallets; %D, %E disputes opa filed on payments to opb's
 * merchant, %Q a payment not disputed yet; %a, %m opa's customer and merchant; %F the fee
 * schedule in force; %N a fresh id. */
static const struct rule rules[] = {
    {"POST", "/v1/clearing/cutoff", NULL, ALLOW(W_CENTRAL)},
    {"GET", "/v1/clearing/cycles", NULL, ALLOW(W_CENTRAL) | ALLOW(W_OPA) | ALLOW(W_OPB)},
    {"GET", "/v1/clearing/cycles/1", NULL, ALLOW(W_CENTRAL) | ALLOW(W_OPA) | ALLOW(W_OPB)},
    {"GET", "/v1/clearing/cycles/1/files/opa.csv", NULL, ALLOW(W_CENTRAL) | ALLOW(W_OPA)},
    {"GET", "/v1/clearing/cycles/1/files/opb.json.sig", NULL, ALLOW(W_CENTRAL) | ALLOW(W_OPB)},
    {"GET", "/v1/clearing/cycles/1/files/opa.items.csv", NULL, ALLOW(W_CENTRAL) | ALLOW(W_OPA)},
    {"POST", "/v1/clearing/cycles/1/reconcile", "{'items':[]}", ALLOW(W_OPA) | ALLOW(W_OPB)},
    {"GET", "/v1/clearing/cycles/1/reconciliations/opa", NULL, ALLOW(W_CENTRAL) | ALLOW(W_OPA)},
    {"GET", "/v1/clearing/fees", NULL, ALLOW(W_CENTRAL) | ALLOW(W_OPA) | ALLOW(W_OPB)},
    {"PUT", "/v1/clearing/fees", "%F", ALLOW(W_CENTRAL)},
    {"GET", "/v1/clearing/schedule", NULL, ALLOW(W_CENTRAL) | ALLOW(W_OPA) | ALLOW(W_OPB)},
    {"PUT", "/v1/clearing/schedule", "{}", ALLOW(W_CENTRAL)},
    {"POST", "/v1/clearing/adjustments",
     "{'id':'%N','debit':'%a','credit':'%m','amount':1,'reason':'r'}",
     ALLOW(W_CENTRAL) | ALLOW(W_OPA)},
    {"GET", "/v1/clearing/adjustments/%A", NULL, ALLOW(W_CENTRAL) | ALLOW(W_OPB)},
    {"POST", "/v1/clearing/adjustments/%A/approve", NULL, ALLOW(W_OPB) | ALLOW(W_CENTRAL)},
    {"GET", "/v1/clearing/disputes/%D", NULL, ALLOW(W_CENTRAL) | ALLOW(W_OPA) | ALLOW(W_OPB)},
    {"POST", "/v1/clearing/disputes/%E/accept", NULL, ALLOW(W_OPB)},
    {"POST", "/v1/clearing/disputes", "{'id':'%N','cycle':1,'transfer':'%Q','reason':'r'}",
     ALLOW(W_OPA)},
};

struct objects {
    struct cworld *cw;
    struct srv_creds bogus;
    char A[33], D[33], E[33], P[33], Q[33];
    char *fees;
};

static void expand(const struct objects *o, const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = in; *p && n + 1 < cap; p++) {
        const char *v = NULL;
        char fresh[33];
        if (*p == '%' && p[1]) {
            switch (*++p) {
            case 'A': v = o->A; break;
            case 'D': v = o->D; break;
            case 'E': v = o->E; break;
            case 'P': v = o->P; break;
            case 'Q': v = o->Q; break;
            case 'F': v = o->fees; break;
            case 'a': v = o->cw->a; break;
            case 'm': v = o->cw->ma; break;
            default:
                srv_new_id(fresh);
                v = fresh;
                break;
            }
            n += (size_t)snprintf(out + n, cap - n, "%s", v);
        } else {
            out[n++] = *p == '\'' ? '"' : *p;
        }
    }
    out[n < cap ? n : cap - 1] = '\0';
}

static const struct srv_creds *caller(const struct objects *o, int who)
{
    const struct world *w = &o->cw->w;
    return who == W_CENTRAL ? &w->s.central
           : who == W_OPA   ? &w->op
           : who == W_OPB   ? &w->op2
           : who == W_BOGUS ? &o->bogus
                            : NULL;
}

/* The objects: three payments to opb's merchant, a cut-off, two disputes, an adjustment. */
static int prepare(struct objects *o)
{
    struct cworld *cw = o->cw;
    struct world *w = &cw->w;
    char body[400];
    char other[33];
    struct srv_response r;
    if (cw_pay(cw, &w->op, cw->a, cw->mb, 300, "payment", o->P) != 201 ||
        cw_pay(cw, &w->op, cw->a, cw->mb, 400, "payment", other) != 201 ||
        cw_pay(cw, &w->op, cw->a, cw->mb, 500, "payment", o->Q) != 201 || cw_cutoff(cw) != 1) {
        return -1;
    }
    srv_new_id(o->D);
    srv_new_id(o->E);
    srv_new_id(o->A);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"cycle\":1,\"transfer\":\"%s\",\"reason\":\"x\"}",
             o->D, o->P);
    int rc = srv_call(&w->s, &w->op, "POST", "/v1/clearing/disputes", body, NULL) == 201 ? 0 : -1;
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"cycle\":1,\"transfer\":\"%s\",\"reason\":\"y\"}",
             o->E, other);
    rc |= srv_call(&w->s, &w->op, "POST", "/v1/clearing/disputes", body, NULL) == 201 ? 0 : -1;
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":2,\"reason\":\"z\"}",
             o->A, cw->b, cw->mb);
    rc |= srv_call(&w->s, &w->op2, "POST", "/v1/clearing/adjustments", body, NULL) == 201 ? 0 : -1;
    if (srv_call(&w->s, &w->op, "GET", "/v1/clearing/fees", NULL, &r) == 200) {
        const char *s = strstr(r.body, "\"schedule\":");
        o->fees = s ? strndup(s + 11, strlen(s + 11) - 1) : NULL;
    }
    srv_response_free(&r);
    srv_new_id(o->bogus.key_id);
    srv_new_id(o->bogus.secret);
    srv_new_id(o->bogus.secret + 32);
    return rc == 0 && o->fees ? 0 : -1;
}

static void matrix(struct cworld *cw)
{
    static struct objects o;
    memset(&o, 0, sizeof o);
    o.cw = cw;
    REQUIRE(prepare(&o) == 0);
    static const int order[W_COUNT] = {W_NOBODY, W_BOGUS, W_OPA, W_OPB, W_CENTRAL};
    int intrusions = 0;
    int allowed = 0;
    int allowed_ok = 0;
    for (size_t i = 0; i < JZ_ARRAY_LEN(rules); i++) {
        const struct rule *row = &rules[i];
        char path[200];
        static char body[8192];
        expand(&o, row->path, path, sizeof path);
        for (int pass = 0; pass < 2; pass++) {
            for (int k = 0; k < W_COUNT; k++) {
                int who = order[k];
                bool ok_for = (row->allowed >> who) & 1u;
                if (ok_for != (pass == 1)) {
                    continue;
                }
                if (row->body) {
                    expand(&o, row->body, body, sizeof body);
                }
                struct srv_req q = {.method = row->method,
                                    .path = path,
                                    .body = row->body ? body : NULL,
                                    .creds = caller(&o, who)};
                struct srv_response r;
                REQUIRE_EQ_INT(srv_send(&cw->w.s, &q, &r), 0);
                bool success = r.status >= 200 && r.status < 300;
                if (ok_for) {
                    allowed++;
                    allowed_ok += success;
                    if (!success) {
                        fprintf(stderr, "  %s %s by %d failed: %d %s\n", row->method, path, who,
                                r.status, r.body);
                    }
                } else if (success) {
                    intrusions++;
                    fprintf(stderr, "  UNAUTHORISED %s %s by %d: %d\n", row->method, path, who,
                            r.status);
                } else if (who == W_NOBODY || who == W_BOGUS) {
                    CHECK_EQ_INT(r.status, 401);
                } else {
                    CHECK(r.status == 403 || r.status == 404);
                }
                srv_response_free(&r);
            }
        }
    }
    printf("  clearing security matrix: %zu routes x 5 callers, %d unauthorised 2xx, %d of %d "
           "allowed succeeded\n",
           JZ_ARRAY_LEN(rules), intrusions, allowed_ok, allowed);
    CHECK_EQ_INT(intrusions, 0);
    CHECK_EQ_INT(allowed_ok, allowed);
    free(o.fees);
}

TEST(clearing_security_matrix)
{
    cw_run(matrix);
}
