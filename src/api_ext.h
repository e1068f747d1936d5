/*
 * api_ext.h: how a feature module (tokens, cards, risk, scenarios, clearing) adds routes to
 * the API without touching the core's routing, authentication or metrics.
 *
 * A module is a `const struct api_ext` listed in api_exts[] (api_ext.c). At api_new each
 * module's open() runs once with the api (its state is then passed to every handler of the
 * module through api_call_state); at api_free its close() runs. Every extension route is
 * signed (HMAC-SM3, nonce, rate limit, exactly as the core routes), counted in /metrics under
 * its pattern, and answers 404 route_not_found / 405 method_not_allowed like the core's.
 *
 * A pattern is a path whose segments are literals or "{name}" (one segment, 1-159 bytes, any
 * characters but '/'): "/v1/tokens/{token}/detokenize". Core routes win over extension
 * routes; among extension routes the first in api_exts[] order that matches wins.
 *
 * A handler runs on an HTTP worker thread with the caller authenticated. It validates, does
 * its work (ledger commands through api_call_run, reads through api_call_read), and writes
 * its answer with api_call_respond (body written into api_call_out first) or api_call_fail.
 * Handlers of one module may run concurrently: the module locks its own state.
 */
#ifndef JZ_API_EXT_H
#define JZ_API_EXT_H

#include "api.h"
#include "executor.h"
#include "ledger.h"

typedef struct call api_call;

enum api_ext_access {
    API_EXT_PUBLIC = -1,    /* no signature (the console's static files and sign-in) */
    API_EXT_ANY = 0,        /* any authenticated institution; the handler authorises */
    API_EXT_CENTRAL = 1,    /* central only (403 forbidden for others) */
    API_EXT_OPERATORS = 2,  /* operators only (403 for central, which moves no money) */
};

struct api_ext_route {
    const char *method;  /* "GET", "POST", "PUT", "PATCH" or "DELETE" */
    const char *pattern; /* see above */
    enum api_ext_access access;
    bool body_optional;  /* POST/PATCH/PUT may come with an empty body (body is then NULL) */
    size_t body_max;     /* 0 = API_BODY_MAX */
    /* body: the parsed JSON object for POST/PATCH/PUT (NULL for GET/DELETE or an allowed
     * empty body), owned by the core. */
    void (*handler)(api_call *c, json_t *body);
    bool merchant_ok; /* merchant keys may call it (every other route refuses them: 403) */
};

struct api_ext {
    const char *name;
    const struct api_ext_route *routes;
    size_t nroutes;
    /* Optional. Runs in api_new after the core is ready; *state is handed to handlers.
     * Returns 0, or -1 with err set (the server then refuses to start). */
    int (*open)(api *a, void **state, char *err, size_t err_len);
    void (*close)(void *state);
    /* Optional. Appends the module's lines to GET /metrics (Prometheus text, metrics.h). */
    void (*metrics)(void *state, struct jbuf *out);
};

/* The modules, in matching order (api_ext.c). */
extern const struct api_ext *const api_exts[];
extern const size_t api_exts_count;

#define API_EXT_ROUTES_MAX 96
#define API_EXT_PARAMS_MAX 4

/* ---- What a handler may ask of its call ---- */

api *api_call_api(api_call *c);
void *api_call_state(api_call *c);
/* The i-th {name} segment of the path (0-based), NUL-terminated; "" when none. */
const char *api_call_param(api_call *c, int i);
/* The query string after '?', "" when none. */
const char *api_call_query(api_call *c);
/* The caller: its institution index (0 = central), and its id ("central", "bank_a"). */
int api_call_actor(api_call *c);
bool api_call_is_central(api_call *c);
const char *api_call_actor_id(api_call *c);
/* True when the caller signed with a merchant's key (then *wallet is the merchant wallet,
 * and api_call_actor is the institution that owns it). Only routes with merchant_ok see
 * such callers. */
bool api_call_merchant(api_call *c, jz_id *wallet);

/* The response body to write into (JSON); then api_call_respond(c, 200|201). */
struct jbuf *api_call_out(api_call *c);
void api_call_respond(api_call *c, int status);
/* The same with another Content-Type (a static string), e.g. the console's files. */
void api_call_respond_type(api_call *c, int status, const char *content_type, bool page);
/* Adds Set-Cookie: value (at most 191 bytes). */
void api_call_set_cookie(api_call *c, const char *value);
/* The request's Cookie and X-CSRF-Token headers; NULL when absent. */
const char *api_call_cookie(api_call *c);
/* The api's configuration (e.g. whether cookies must be Secure). */
const struct api_config *api_get_config(api *a);
/* The authenticator (for the console's sign-in). */
auth *api_auth(api *a);

/* A session scheme (the console's cookie) besides HMAC signatures. When a signed route
 * comes without X-JZ-Key, the core asks check: 1 = no session here (the request is then
 * refused as unauthenticated), 0 with *actor = a valid session, -1 with e set = refused
 * (expired, or a state change without the session's CSRF token). */
typedef int (*api_session_fn)(void *state, const char *cookie, const char *method,
                              const char *csrf, int *actor, struct api_error *e);
void api_set_session_checker(api *a, api_session_fn check, void *state);
/* An error answer: status from the code's table, {"error":{code,message,field}}. */
void api_call_fail(api_call *c, int code, const char *field, const char *message);
/* A ledger refusal as the core words it. */
void api_call_fail_result(api_call *c, const struct ledger_result *r);
/* A parse/validation error from json.h's helpers. */
void api_call_fail_error(api_call *c, const struct api_error *e);

/* Runs ledger commands (all of one request: one journal group) and waits until durable.
 * after(ctx) runs on the executor thread right after they are applied (may be NULL).
 * 0 when durable (each results[i] then says what happened); -1 with the response already
 * set to 503 overloaded/unavailable. */
int api_call_run(api_call *c, const struct ledger_cmd *cmds, uint32_t n,
                 struct ledger_result *results, executor_query_fn after, void *ctx);
/* Runs fn on the executor thread (a consistent read of the ledger). 0 or -1 as above. */
int api_call_read(api_call *c, executor_query_fn fn, void *ctx);
/* A wallet the caller may see (central: any; an operator: its own). 0, or -1 with the
 * response set to wallet_not_found or forbidden (field names `field`). */
int api_call_wallet(api_call *c, const jz_id *id, const char *field,
                    struct ledger_wallet_view *out);
/* Writes a wallet as GET /v1/wallets/{id} does. */
void api_write_wallet(api *a, struct jbuf *b, const struct ledger_wallet_view *w);

/* Journals a LEDGER_OP_NOTE by the caller (see ledger.h) and waits until durable:
 * 0, or -1 with the response set. len <= JZ_HOLDER_SEALED_MAX. */
int api_call_note(api_call *c, uint8_t topic, const jz_id *subject, const jz_id *other,
                  int64_t number, const void *data, size_t len);

/* ---- What a module may ask of the api (from open() or a handler) ---- */

node *api_node(api *a);
executor *api_executor(api *a);
/* Institution index of an id ("bank_a"), or -1; and the id of an index ("" when none). */
int api_institution_index(api *a, const char *inst_id);
const char *api_institution_id(api *a, uint32_t index);
/* The request-latency histogram counts of the transfer routes (single and batch) summed,
 * bucket by bucket (metrics_latency_bounds), for the console's live chart. */
void api_transfer_latency(api *a, uint64_t out[METRICS_BUCKETS_MAX + 1]);
/* Milliseconds since the epoch, from the api's clock (tests may set it). */
int64_t api_now_ms(api *a);
/* Lets a merchant's key sign requests (see auth_add_merchant_key): institution owns the
 * merchant wallet. 0, or -1 when the key table is full. */
int api_add_merchant_key(api *a, const jz_id *key_id, const uint8_t secret[AUTH_SECRET_BYTES],
                         int institution, const jz_id *merchant);

#endif
