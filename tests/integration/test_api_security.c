/*
 * test_api_security.c: the authority matrix of docs/api.md ("Authority") through a real
 * `jiaozi serve`. Every route is tried by five callers: central, the operator opa (which owns
 * the objects: wallets, transfers, holds), the operator opb (which does not), a caller with
 * no signature headers, and a caller with a well-formed but unknown key. Each row names the
 * callers that may succeed; every other caller must not get a 2xx (for a batch, whose
 * request is 200 even when every item is refused, "success" means an item posted). The
 * figure is the number of unauthorised successes, which must be 0; and every allowed caller
 * must succeed, so the matrix is not vacuous.
 */
#include <signal.h>
#include <stdlib.h>

#include "common.h"
#include "server.h"
#include "world.h"
#include "test.h"

static int hold(struct world *w, const struct srv_creds *c, char id[33], const char *from,
                const char *to)
{
    char body[400];
    srv_new_id(id);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":100,"
             "\"timeout_ms\":3600000}", id, from, to);
    return srv_call(&w->s, c, "POST", "/v1/holds", body, NULL);
}

/* ---- The matrix ---- */

enum role { CENTRAL, OPA, OPB, NOBODY, BOGUS, ROLES };
static const char *const role_names[ROLES] = {"central", "opa", "opb", "unauthenticated",
                                              "bogus key"};

#define BY_CENTRAL (1u << CENTRAL)
#define BY_OPA (1u << OPA)
#define BY_OPB (1u << OPB)
#define BY_ALL ((1u << ROLES) - 1)
#define BY_NONE 0u

struct row {
    const char *name;
    const char *method;
    const char *path; /* placeholders: see subst() */
    const char *body; /* placeholders; ' stands for " */
    unsigned allowed; /* BY_* of the callers that must succeed; every other must not */
    bool batch;       /* success is an item posted, not the request's 200 */
    int opa_refusal;  /* the documented refusal of opa when not 403 (0: 403) */
};

#define ROW(n, m, p, b, a, ...) \
    {.name = n, .method = m, .path = p, .body = b, .allowed = a, __VA_ARGS__}
#define T_BODY(debit, credit, kind) \
    "{'id':'%N','debit':'" debit "','credit':'" credit "','amount':1,'kind':'" kind "'}"
#define H_BODY(debit, credit) \
    "{'id':'%N','debit':'" debit "','credit':'" credit "','amount':1,'timeout_ms':60000}"

/* Objects: %W %V opa's funded wallets, %Z opa's empty wallet, %T opa's treasury, %X opb's
 * funded wallet, %G opb's empty wallet, %Y opb's treasury, %C the issuance account (central's),
 * %P a transfer %W -> %V, %Q a transfer %W -> %X, holds %H (read), %A (capture), %B (void) from
 * %W to %V and %J (read), %E (capture), %F (void) from %W to %X. */
static const struct row rows[] = {
    /* Institutions and quota: central only (an operator reads itself). */
    ROW("list institutions", "GET", "/v1/institutions", NULL, BY_CENTRAL),
    ROW("create an institution", "POST", "/v1/institutions", "{'id':'%I','name':'Sec','kind':'operator'}",
     BY_CENTRAL),
    ROW("read institution opa", "GET", "/v1/institutions/opa", NULL, BY_CENTRAL | BY_OPA),
    ROW("read institution opb", "GET", "/v1/institutions/opb", NULL, BY_CENTRAL | BY_OPB),
    ROW("read institution central", "GET", "/v1/institutions/central", NULL, BY_CENTRAL),
    ROW("issue quota to opa", "POST", "/v1/quota/issue", "{'id':'%N','operator':'opa','amount':1}",
     BY_CENTRAL),
    ROW("issue quota to opb", "POST", "/v1/quota/issue", "{'id':'%N','operator':'opb','amount':1}",
     BY_CENTRAL),
    ROW("redeem quota of opa", "POST", "/v1/quota/redeem", "{'id':'%N','operator':'opa','amount':1}",
     BY_CENTRAL),
    /* Wallets. */
    ROW("open a wallet", "POST", "/v1/wallets", "{'kind':'personal','tier':4,'form':'soft'}",
     BY_OPA | BY_OPB),
    ROW("open a child of opa's wallet", "POST", "/v1/wallets",
     "{'kind':'personal','tier':4,'form':'soft','parent':'%W'}", BY_OPA),
    ROW("open a child of opb's wallet", "POST", "/v1/wallets",
     "{'kind':'personal','tier':4,'form':'soft','parent':'%X'}", BY_OPB),
    ROW("read opa's wallet", "GET", "/v1/wallets/%W", NULL, BY_CENTRAL | BY_OPA),
    ROW("read opa's treasury", "GET", "/v1/wallets/%T", NULL, BY_CENTRAL | BY_OPA),
    ROW("read opb's wallet", "GET", "/v1/wallets/%X", NULL, BY_CENTRAL | BY_OPB),
    ROW("read the issuance account", "GET", "/v1/wallets/%C", NULL, BY_CENTRAL),
    ROW("read opa's wallet history", "GET", "/v1/wallets/%W/transfers", NULL, BY_CENTRAL | BY_OPA),
    ROW("read opa's treasury history", "GET", "/v1/wallets/%T/transfers?limit=5", NULL,
     BY_CENTRAL | BY_OPA),
    ROW("read opb's wallet history", "GET", "/v1/wallets/%X/transfers?limit=5", NULL, BY_CENTRAL | BY_OPB),
    ROW("patch opa's wallet", "PATCH", "/v1/wallets/%W", "{'tier':1}", BY_OPA),
    ROW("patch opb's wallet", "PATCH", "/v1/wallets/%X", "{'status':'active'}", BY_OPB),
    ROW("freeze opa's treasury", "PATCH", "/v1/wallets/%T", "{'status':'frozen'}", BY_NONE),
    ROW("freeze the issuance account", "PATCH", "/v1/wallets/%C", "{'status':'frozen'}", BY_NONE),
    ROW("close opa's treasury", "POST", "/v1/wallets/%T/close", NULL, BY_NONE),
    ROW("close the issuance account", "POST", "/v1/wallets/%C/close", NULL, BY_NONE),
    ROW("close opa's empty wallet", "POST", "/v1/wallets/%Z/close", NULL, BY_OPA),
    ROW("close opb's empty wallet", "POST", "/v1/wallets/%G/close", NULL, BY_OPB),
    /* Moving money: debit one's own, credit any; central moves only quota. */
    ROW("p2p opa -> opb", "POST", "/v1/transfers", T_BODY("%W", "%X", "p2p"), BY_OPA),
    ROW("payment opa -> opb", "POST", "/v1/transfers", T_BODY("%W", "%X", "payment"), BY_OPA),
    ROW("disbursement opa -> opa", "POST", "/v1/transfers", T_BODY("%W", "%V", "disbursement"), BY_OPA),
    ROW("p2p opb -> opa", "POST", "/v1/transfers", T_BODY("%X", "%W", "p2p"), BY_OPB),
    ROW("exchange_in into opa's wallet", "POST", "/v1/transfers", T_BODY("%T", "%W", "exchange_in"), BY_OPA),
    ROW("exchange_out of opa's wallet", "POST", "/v1/transfers", T_BODY("%W", "%T", "exchange_out"), BY_OPA),
    ROW("exchange_in from opa's treasury into opb's wallet", "POST", "/v1/transfers",
     T_BODY("%T", "%X", "exchange_in"), BY_NONE, .opa_refusal = 422 /* kind_not_allowed */),
    ROW("exchange_in into opb's wallet", "POST", "/v1/transfers", T_BODY("%Y", "%X", "exchange_in"), BY_OPB),
    ROW("p2p out of the issuance account", "POST", "/v1/transfers", T_BODY("%C", "%T", "p2p"), BY_NONE),
    ROW("exchange_in out of the issuance account", "POST", "/v1/transfers", T_BODY("%C", "%T", "exchange_in"),
     BY_NONE),
    ROW("batch debiting opa", "POST", "/v1/transfers/batch",
     "{'transfers':[" T_BODY("%W", "%X", "p2p") "," T_BODY("%W", "%V", "payment") "]}", BY_OPA, .batch = true),
    ROW("batch debiting opb", "POST", "/v1/transfers/batch", "{'transfers':[" T_BODY("%X", "%W", "p2p") "]}",
     BY_OPB, .batch = true),
    ROW("hold on opa's wallet", "POST", "/v1/holds", H_BODY("%W", "%X"), BY_OPA),
    ROW("hold on opb's wallet", "POST", "/v1/holds", H_BODY("%X", "%W"), BY_OPB),
    /* Reading transfers and holds: central, or the operator of the debit or the credit. */
    ROW("read a transfer between opa's wallets", "GET", "/v1/transfers/%P", NULL, BY_CENTRAL | BY_OPA),
    ROW("read a transfer opa -> opb", "GET", "/v1/transfers/%Q", NULL, BY_CENTRAL | BY_OPA | BY_OPB),
    ROW("read a hold between opa's wallets", "GET", "/v1/holds/%H", NULL, BY_CENTRAL | BY_OPA),
    ROW("read a hold opa -> opb", "GET", "/v1/holds/%J", NULL, BY_CENTRAL | BY_OPA | BY_OPB),
    /* Resolving holds: the debit's operator only (not the credit's, not central). */
    ROW("capture a hold between opa's wallets", "POST", "/v1/holds/%A/capture", "{'amount':1}", BY_OPA),
    ROW("void a hold between opa's wallets", "POST", "/v1/holds/%B/void", NULL, BY_OPA),
    ROW("capture a hold opa -> opb", "POST", "/v1/holds/%E/capture", NULL, BY_OPA),
    ROW("void a hold opa -> opb", "POST", "/v1/holds/%F/void", "{}", BY_OPA),
    /* Operations. */
    ROW("audit head", "GET", "/v1/audit/head", NULL, BY_CENTRAL | BY_OPA | BY_OPB),
    ROW("healthz", "GET", "/healthz", NULL, BY_ALL),
    ROW("metrics", "GET", "/metrics", NULL, BY_ALL),
    ROW("openapi", "GET", "/v1/openapi.json", NULL, BY_ALL),
};

struct ctx {
    struct world w;
    struct srv_creds bogus;
    char W[33], V[33], Z[33], X[33], G[33], C[33], P[33], Q[33];
    char H[33], A[33], B[33], J[33], E[33], F[33];
    int inst_seq;
};

static const char *object(const struct ctx *x, char letter)
{
    switch (letter) {
    case 'W': return x->W;
    case 'V': return x->V;
    case 'Z': return x->Z;
    case 'T': return x->w.treasury;
    case 'X': return x->X;
    case 'G': return x->G;
    case 'Y': return x->w.treasury2;
    case 'C': return x->C;
    case 'P': return x->P;
    case 'Q': return x->Q;
    case 'H': return x->H;
    case 'A': return x->A;
    case 'B': return x->B;
    case 'J': return x->J;
    case 'E': return x->E;
    case 'F': return x->F;
    default: return NULL;
    }
}

/* Placeholders as above, plus %N (a fresh id each time) and %I (a fresh institution id). */
static void subst(struct ctx *x, const char *in, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = in; *p && n + 40 < cap; p++) {
        if (*p == '\'') {
            out[n++] = '"';
        } else if (*p == '%' && p[1]) {
            char v[40];
            const char *o = object(x, p[1]);
            if (p[1] == 'N') {
                srv_new_id(v);
            } else if (p[1] == 'I') {
                snprintf(v, sizeof v, "sec%d", ++x->inst_seq);
            } else {
                snprintf(v, sizeof v, "%s", o ? o : "?");
            }
            n += (size_t)snprintf(out + n, cap - n, "%s", v);
            p++;
        } else {
            out[n++] = *p;
        }
        out[n] = '\0';
    }
}

static const struct srv_creds *creds_of(const struct ctx *x, enum role r)
{
    switch (r) {
    case CENTRAL: return &x->w.s.central;
    case OPA: return &x->w.op;
    case OPB: return &x->w.op2;
    case BOGUS: return &x->bogus;
    default: return NULL;
    }
}

/* Did the request succeed? For a batch: a 2xx in which some item posted (allowed: all). */
static bool succeeded(const struct row *row, const struct srv_response *r, bool all)
{
    if (r->status < 200 || r->status > 299) {
        return false;
    }
    if (!row->batch) {
        return true;
    }
    bool posted = r->body && strstr(r->body, "\"status\":\"posted\"") != NULL;
    bool refused = r->body && strstr(r->body, "\"error\"") != NULL;
    return all ? posted && !refused : posted;
}

TEST(api_security_matrix)
{
    static struct ctx x;
    memset(&x, 0, sizeof x);
    REQUIRE(world_start(&x.w) == 0);
    struct world *w = &x.w;
    struct srv_response r;
    char id[33];
    REQUIRE_EQ_INT(open_wallet(w, &w->op, 1, x.W), 201);
    REQUIRE_EQ_INT(open_wallet(w, &w->op, 1, x.V), 201);
    REQUIRE_EQ_INT(open_wallet(w, &w->op, 1, x.Z), 201);
    REQUIRE_EQ_INT(open_wallet(w, &w->op2, 1, x.X), 201);
    REQUIRE_EQ_INT(open_wallet(w, &w->op2, 1, x.G), 201);
    srv_new_id(id);
    REQUIRE_EQ_INT(transfer(w, &w->op, id, w->treasury, x.W, 1000000, "exchange_in", NULL), 201);
    srv_new_id(id);
    REQUIRE_EQ_INT(transfer(w, &w->op2, id, w->treasury2, x.X, 1000000, "exchange_in", NULL), 201);
    srv_new_id(x.P);
    REQUIRE_EQ_INT(transfer(w, &w->op, x.P, x.W, x.V, 10, "p2p", NULL), 201);
    srv_new_id(x.Q);
    REQUIRE_EQ_INT(transfer(w, &w->op, x.Q, x.W, x.X, 10, "p2p", NULL), 201);
    REQUIRE_EQ_INT(hold(w, &w->op, x.H, x.W, x.V), 201);
    REQUIRE_EQ_INT(hold(w, &w->op, x.A, x.W, x.V), 201);
    REQUIRE_EQ_INT(hold(w, &w->op, x.B, x.W, x.V), 201);
    REQUIRE_EQ_INT(hold(w, &w->op, x.J, x.W, x.X), 201);
    REQUIRE_EQ_INT(hold(w, &w->op, x.E, x.W, x.X), 201);
    REQUIRE_EQ_INT(hold(w, &w->op, x.F, x.W, x.X), 201);
    REQUIRE_EQ_INT(srv_call(&w->s, &w->s.central, "GET", "/v1/institutions/central", NULL, &r), 200);
    int got_c = srv_json_str(r.body, "treasury", x.C, sizeof x.C);
    srv_response_free(&r);
    REQUIRE(got_c == 0);
    /* A caller with a well-formed key id that no institution has, signing with its own
     * random secret. */
    srv_new_id(x.bogus.key_id);
    srv_new_id(x.bogus.secret);
    srv_new_id(x.bogus.secret + 32);
    snprintf(x.bogus.institution, sizeof x.bogus.institution, "bogus");

    int requests = 0;
    int unauthorised = 0;
    int allowed_expected = 0;
    int allowed_ok = 0;
    int odd_denials = 0;
    /* Denied callers first, so a state-changing row (close, capture, void) is tried by each
     * intruder while the object is still in the state the allowed caller needs. */
    static const enum role order[ROLES] = {NOBODY, BOGUS, OPB, CENTRAL, OPA};
    for (size_t i = 0; i < JZ_ARRAY_LEN(rows); i++) {
        const struct row *row = &rows[i];
        for (int pass = 0; pass < 2; pass++) {
            for (int j = 0; j < ROLES; j++) {
                enum role role = order[j];
                bool allowed = (row->allowed >> role) & 1u;
                if (allowed != (pass == 1)) {
                    continue;
                }
                char path[256];
                char body[1024];
                subst(&x, row->path, path, sizeof path);
                if (row->body) {
                    subst(&x, row->body, body, sizeof body);
                }
                struct srv_req q = {.method = row->method, .path = path,
                                    .body = row->body ? body : NULL, .creds = creds_of(&x, role)};
                int rc = srv_send(&w->s, &q, &r);
                CHECK_EQ_INT(rc, 0);
                if (rc != 0) {
                    continue;
                }
                requests++;
                if (allowed) {
                    allowed_expected++;
                    bool ok = succeeded(row, &r, true);
                    allowed_ok += ok;
                    if (!ok) {
                        fprintf(stderr, "  \"%s\" by %s (allowed) failed: %d %.300s\n", row->name,
                                role_names[role], r.status, r.body ? r.body : "");
                    }
                } else if (succeeded(row, &r, false)) {
                    unauthorised++;
                    fprintf(stderr, "  UNAUTHORISED \"%s\" (%s %s) by %s: %d %.300s\n", row->name,
                            row->method, path, role_names[role], r.status, r.body ? r.body : "");
                } else {
                    /* A refusal: 401 for the unsigned and the unknown key, 403 forbidden for
                     * an institution acting on what is not its own (docs/api.md). A batch
                     * refuses per item, inside its 200. */
                    int want = role == NOBODY || role == BOGUS ? 401
                               : role == OPA && row->opa_refusal ? row->opa_refusal : 403;
                    bool as_doc = row->batch && r.status == 200
                                      ? strstr(r.body, "\"forbidden\"") != NULL
                                      : r.status == want;
                    if (!as_doc) {
                        odd_denials++;
                        fprintf(stderr, "  note: \"%s\" by %s refused with %d, not %d: %.200s\n",
                                row->name, role_names[role], r.status, want, r.body ? r.body : "");
                    }
                    CHECK((r.status >= 400 && r.status < 500) || (row->batch && r.status == 200));
                }
                srv_response_free(&r);
            }
        }
    }
    printf("security matrix: %d requests, %d unauthorised 2xx\n", requests, unauthorised);
    printf("security matrix: %d of %d allowed requests succeeded; %d refusals not 401/403\n",
           allowed_ok, allowed_expected, odd_denials);
    fflush(stdout);
    CHECK_EQ_INT(requests, (int)JZ_ARRAY_LEN(rows) * ROLES);
    CHECK_EQ_INT(unauthorised, 0);
    CHECK_EQ_INT(allowed_ok, allowed_expected);
    CHECK(allowed_expected > 0);
    CHECK_EQ_INT(srv_stop(&w->s, SIGTERM), 0);
}
