/*
 * api.c: routes, authorisation, validation and responses of the HTTP JSON API (see api.h).
 */
#include "api.h"
#include "api_ext.h"
#include "api_risk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "json_fast.h"
#include "metrics.h"
#include "openapi_json.h"
#include "projector.h"
#include "store_sqlite.h"
#include "token.h"

/* How long a read waits for the history store to catch up with what is durable, so a client
 * sees its own transfers (read-your-writes) unless the projector is far behind. */
#define HISTORY_WAIT_MS 2000

enum route {
    R_NONE,
    R_HEALTHZ,
    R_METRICS,
    R_OPENAPI,
    R_AUDIT_HEAD,
    R_INSTITUTIONS,
    R_INSTITUTION,
    R_QUOTA_ISSUE,
    R_QUOTA_REDEEM,
    R_WALLETS,
    R_WALLET,
    R_WALLET_CLOSE,
    R_WALLET_TRANSFERS,
    R_TRANSFERS,
    R_TRANSFERS_BATCH,
    R_TRANSFER,
    R_HOLDS,
    R_HOLD,
    R_HOLD_CAPTURE,
    R_HOLD_VOID,
    R_COUNT
};
/* Extension routes are numbered R_COUNT + their index in the api's flattened table. */
#define ROUTE_SLOTS (R_COUNT + API_EXT_ROUTES_MAX)

struct ext_route {
    const struct api_ext_route *r;
    uint32_t module;
};

static const char *const route_names[R_COUNT] = {
    [R_NONE] = "none",
    [R_HEALTHZ] = "/healthz",
    [R_METRICS] = "/metrics",
    [R_OPENAPI] = "/v1/openapi.json",
    [R_AUDIT_HEAD] = "/v1/audit/head",
    [R_INSTITUTIONS] = "/v1/institutions",
    [R_INSTITUTION] = "/v1/institutions/{id}",
    [R_QUOTA_ISSUE] = "/v1/quota/issue",
    [R_QUOTA_REDEEM] = "/v1/quota/redeem",
    [R_WALLETS] = "/v1/wallets",
    [R_WALLET] = "/v1/wallets/{id}",
    [R_WALLET_CLOSE] = "/v1/wallets/{id}/close",
    [R_WALLET_TRANSFERS] = "/v1/wallets/{id}/transfers",
    [R_TRANSFERS] = "/v1/transfers",
    [R_TRANSFERS_BATCH] = "/v1/transfers/batch",
    [R_TRANSFER] = "/v1/transfers/{id}",
    [R_HOLDS] = "/v1/holds",
    [R_HOLD] = "/v1/holds/{id}",
    [R_HOLD_CAPTURE] = "/v1/holds/{id}/capture",
    [R_HOLD_VOID] = "/v1/holds/{id}/void",
};

/* The statuses counted per route in /metrics. */
static const int counted_statuses[] = {200, 201, 400, 401, 403, 404, 405, 409,
                                       415, 422, 429, 500, 503, 507};
#define STATUS_SLOTS ((int)JZ_ARRAY_LEN(counted_statuses) + 1)

struct institution_cache {
    char id[JZ_INSTITUTION_ID_MAX + 1];
    uint8_t kind;
};

struct api {
    struct api_config cfg;
    node *node;
    executor *ex;
    store *store;
    projector *projector;
    auth *auth;
    char *public_pem;
    pthread_rwlock_t inst_mu;
    struct institution_cache insts[JZ_INSTITUTIONS_MAX];
    uint32_t inst_count;
    pthread_mutex_t create_mu; /* one institution creation at a time: keys are added in order */
    _Atomic uint64_t requests[ROUTE_SLOTS][STATUS_SLOTS];
    struct metrics_histogram latency[ROUTE_SLOTS];
    struct ext_route ext[API_EXT_ROUTES_MAX];
    uint32_t ext_count;
    void *ext_state[16];
    bool ext_opened[16];
    api_session_fn session_check;
    void *session_state;
};

/* The route table is built once (api_new); matching reads it without locks. The first
 * api's table serves the process-wide helpers api_route_name and api_body_limit. */
static struct ext_route g_ext[API_EXT_ROUTES_MAX];
static uint32_t g_ext_count;
static pthread_once_t g_ext_once = PTHREAD_ONCE_INIT;

/* The request being handled: what the handlers share. */
struct call {
    api *a;
    const struct api_request *req;
    struct api_response *resp;
    int route; /* enum route, or R_COUNT + an extension route */
    jz_id path_id;
    char params[API_EXT_PARAMS_MAX][160];
    char path_inst[JZ_INSTITUTION_ID_MAX + 1];
    int actor; /* institution index of the caller */
    bool merchant; /* signed with a merchant's key (merchant_wallet): see api_ext.h */
    jz_id merchant_wallet;
};

static const char *route_name(int r);

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_central(const struct call *c)
{
    return c->actor == 0;
}

static const char *inst_name(api *a, uint32_t index)
{
    /* Institutions are append-only: an entry once published never changes. */
    pthread_rwlock_rdlock(&a->inst_mu);
    const char *name = index < a->inst_count ? a->insts[index].id : "";
    pthread_rwlock_unlock(&a->inst_mu);
    return name;
}

/* ---- Responses ---- */

static void respond_json(struct call *c, int status)
{
    c->resp->status = status;
    c->resp->content_type = "application/json";
}

static void respond_error(struct call *c, const struct api_error *e)
{
    jb_free(&c->resp->body);
    jb_error(&c->resp->body, e);
    respond_json(c, jz_result_http_status(e->code));
}

static void fail(struct call *c, int code, const char *field, const char *message)
{
    struct api_error e;
    api_fail(&e, code, field, "%s", message);
    respond_error(c, &e);
}

/* Human text for the ledger's refusals. */
static const char *code_message(int code)
{
    switch (code) {
    case JZ_INSUFFICIENT_FUNDS: return "the debit wallet's available balance is less than the amount";
    case JZ_BALANCE_CAP_EXCEEDED: return "the credit would take the wallet over its tier's balance cap";
    case JZ_PER_PAYMENT_LIMIT: return "the amount is over the wallet tier's per-payment limit";
    case JZ_DAILY_LIMIT: return "the payment would pass the wallet tier's daily limit";
    case JZ_ANNUAL_LIMIT: return "the payment would pass the wallet tier's annual limit";
    case JZ_WALLET_FROZEN: return "the wallet is frozen";
    case JZ_WALLET_CLOSED: return "the wallet is closed";
    case JZ_WALLET_LOST: return "the wallet is reported lost";
    case JZ_WALLET_NOT_FOUND: return "no such wallet";
    case JZ_FORBIDDEN: return "this institution may not do that";
    case JZ_ID_CONFLICT: return "this id was used before with different content";
    case JZ_ID_EXPIRED: return "this id was used more than 7 days ago and cannot be reused";
    case JZ_ALREADY_RESOLVED: return "the hold was already captured, voided or expired";
    case JZ_LINKED_FAILED: return "another transfer of the linked chain failed";
    case JZ_LINKED_OPEN: return "the linked chain was not closed by an unlinked transfer";
    case JZ_OVERFLOW: return "the amount would overflow a balance";
    case JZ_CAPACITY_EXCEEDED: return "the node is full: its configured capacity is reached";
    case JZ_KIND_NOT_ALLOWED: return "the wallets do not fit this kind of transfer";
    case JZ_BALANCE_NOT_ZERO: return "the wallet still holds money or open holds";
    case JZ_AMOUNT_EXCEEDS_HOLD: return "the amount is more than the hold reserved";
    case JZ_HOLD_NOT_FOUND: return "no such hold";
    case JZ_INVALID_FIELD: return "a field has an invalid value";
    default: return jz_result_name(code);
    }
}

static void fail_result(struct call *c, const struct ledger_result *r)
{
    struct api_error e;
    api_fail(&e, r->code, ledger_field_name(r->field), "%s", code_message(r->code));
    respond_error(c, &e);
}

/* ---- The executor ---- */

/* Submits and waits. 0 when durable; otherwise the response is already an error. */
static int run_request(struct call *c, struct executor_request *r)
{
    if (executor_submit(c->a->ex, r) != 0) {
        if (errno == EAGAIN) {
            c->resp->retry_after_s = 1;
            fail(c, JZ_OVERLOADED, "", "the node is busy: retry after a second");
        } else {
            fail(c, JZ_UNAVAILABLE, "", "the node is not accepting requests");
        }
        return -1;
    }
    if (executor_wait(r) != 0) {
        fail(c, JZ_UNAVAILABLE, "", "the node stopped before the request was durable");
        return -1;
    }
    return 0;
}

static int run_commands(struct call *c, const struct ledger_cmd *cmds, uint32_t n,
                        struct ledger_result *results, executor_query_fn after, void *ctx)
{
    struct executor_request r;
    executor_request_init(&r);
    r.cmds = cmds;
    r.results = results;
    r.count = n;
    r.after = after;
    r.after_ctx = ctx;
    int rc = run_request(c, &r);
    executor_request_destroy(&r);
    return rc;
}

static int run_query(struct call *c, executor_query_fn fn, void *ctx)
{
    struct executor_request r;
    executor_request_init(&r);
    r.query = fn;
    r.query_ctx = ctx;
    int rc = run_request(c, &r);
    executor_request_destroy(&r);
    return rc;
}

/* ---- Objects ---- */

static void write_id_or_null(struct jbuf *b, const jz_id *id)
{
    if (jz_id_is_zero(id)) {
        jb_lit(b, "null");
    } else {
        jb_id(b, id);
    }
}

/* ,"restriction":{...} of a restricted wallet (targeted funds, red envelopes: ledger.h). */
static void write_restriction(struct jbuf *b, const struct ledger_wallet_view *w)
{
    jb_lit(b, ",\"restriction\":{\"mccs\":[");
    for (uint8_t i = 0; i < w->mcc_count; i++) {
        if (i) {
            jb_lit(b, ",");
        }
        jb_int(b, w->mccs[i]);
    }
    jb_lit(b, "],\"expires_at\":");
    jb_int(b, w->expires_at);
    jb_lit(b, ",\"return_to\":");
    jb_id(b, &w->return_to);
    jb_lit(b, w->swept ? ",\"swept\":true,\"swept_at\":" : ",\"swept\":false,\"swept_at\":null");
    if (w->swept) {
        jb_int(b, w->swept_at);
        jb_lit(b, ",\"swept_amount\":");
        jb_int(b, w->swept_amount);
    } else {
        jb_lit(b, ",\"swept_amount\":null");
    }
    jb_lit(b, "}");
}

static void write_wallet(api *a, struct jbuf *b, const struct ledger_wallet_view *w)
{
    jb_lit(b, "{\"id\":");
    jb_id(b, &w->id);
    jb_lit(b, ",\"operator\":");
    jb_cstr(b, inst_name(a, w->operator_index));
    jb_lit(b, ",\"kind\":");
    jb_cstr(b, ledger_wallet_kind_name(w->kind));
    jb_lit(b, ",\"tier\":");
    jb_int(b, w->tier);
    jb_lit(b, ",\"form\":");
    jb_cstr(b, ledger_form_name(w->form));
    jb_lit(b, ",\"status\":");
    jb_cstr(b, ledger_status_name(w->status));
    jb_lit(b, ",\"parent\":");
    write_id_or_null(b, &w->parent);
    jb_lit(b, ",\"balance\":");
    jb_int(b, w->balance);
    jb_lit(b, ",\"held\":");
    jb_int(b, w->held);
    jb_lit(b, ",\"available\":");
    jb_int(b, w->balance - w->held);
    jb_lit(b, ",\"day_out\":");
    jb_int(b, w->day_out);
    jb_lit(b, ",\"year_out\":");
    jb_int(b, w->year_out);
    jb_lit(b, ",\"created_at\":");
    jb_int(b, w->created_at);
    jb_lit(b, ",\"mcc\":");
    if (w->mcc) {
        jb_int(b, w->mcc);
    } else {
        jb_lit(b, "null");
    }
    if (w->restricted) {
        write_restriction(b, w);
    }
    jb_lit(b, "}");
}

static void write_transfer(struct jbuf *b, const jz_id *id, const jz_id *debit, const jz_id *credit,
                           int64_t amount, int kind, int64_t timestamp, const char *ref,
                           size_t ref_len, const char *memo, size_t memo_len)
{
    jb_lit(b, "{\"id\":");
    jb_id(b, id);
    jb_lit(b, ",\"debit\":");
    jb_id(b, debit);
    jb_lit(b, ",\"credit\":");
    jb_id(b, credit);
    jb_lit(b, ",\"amount\":");
    jb_int(b, amount);
    jb_lit(b, ",\"kind\":");
    jb_cstr(b, ledger_kind_name(kind));
    jb_lit(b, ",\"status\":\"posted\",\"timestamp\":");
    jb_int(b, timestamp);
    if (ref_len) {
        jb_lit(b, ",\"ref\":");
        jb_str(b, ref, ref_len);
    }
    if (memo_len) {
        jb_lit(b, ",\"memo\":");
        jb_str(b, memo, memo_len);
    }
    jb_lit(b, "}");
}

static void write_hold(struct jbuf *b, const struct ledger_hold_view *h)
{
    jb_lit(b, "{\"id\":");
    jb_id(b, &h->id);
    jb_lit(b, ",\"debit\":");
    jb_id(b, &h->debit);
    jb_lit(b, ",\"credit\":");
    jb_id(b, &h->credit);
    jb_lit(b, ",\"amount\":");
    jb_int(b, h->amount);
    jb_lit(b, ",\"captured\":");
    jb_int(b, h->captured);
    jb_lit(b, ",\"status\":");
    jb_cstr(b, ledger_hold_status_name(h->status));
    jb_lit(b, ",\"deadline\":");
    jb_int(b, h->deadline);
    jb_lit(b, ",\"created_at\":");
    jb_int(b, h->created_at);
    jb_lit(b, "}");
}

/* ---- Reading the ledger ---- */

struct wallet_query {
    jz_id id;
    int64_t now;
    int found;
    struct ledger_wallet_view view;
};

static void query_wallet(const ledger *l, void *ctx)
{
    struct wallet_query *q = ctx;
    q->found = ledger_wallet_get(l, &q->id, q->now, &q->view) == 0;
}

struct hold_query {
    jz_id id;
    int64_t now;
    int found;
    struct ledger_hold_view view;
    struct ledger_wallet_view debit, credit;
};

static void query_hold(const ledger *l, void *ctx)
{
    struct hold_query *q = ctx;
    q->found = ledger_hold_get(l, &q->id, &q->view) == 0 &&
               ledger_wallet_get(l, &q->view.debit, 0, &q->debit) == 0 &&
               ledger_wallet_get(l, &q->view.credit, 0, &q->credit) == 0;
    /* The ledger expires holds at the start of its next batch; a read in between already
     * sees what any command would: the hold is over. */
    if (q->found && q->view.status == LEDGER_HOLD_PENDING && q->now >= q->view.deadline) {
        q->view.status = LEDGER_HOLD_EXPIRED;
    }
}

/* Reads a wallet the caller may see: central sees all, an operator its own. 0 or -1 with
 * the response set. */
static int visible_wallet(struct call *c, const jz_id *id, struct ledger_wallet_view *out)
{
    struct wallet_query q = {.id = *id, .now = wall_ms()};
    if (run_query(c, query_wallet, &q) != 0) {
        return -1;
    }
    if (!q.found) {
        fail(c, JZ_WALLET_NOT_FOUND, "id", "no such wallet");
        return -1;
    }
    if (!is_central(c) && q.view.operator_index != c->actor) {
        fail(c, JZ_FORBIDDEN, "id", "the wallet belongs to another institution");
        return -1;
    }
    *out = q.view;
    return 0;
}

/* ---- Handlers: wallets ---- */

static const char *const wallet_kind_choices[] = {"personal", "corporate", "merchant", NULL};
static const char *const form_choices[] = {"soft", "hard", NULL};
static const char *const status_choices[] = {"active", "frozen", NULL};

/* A command whose result is a wallet: the wallet is read right after it is applied. */
static void respond_wallet_command(struct call *c, struct ledger_cmd *cmd, int ok_status)
{
    struct ledger_result r;
    struct wallet_query q = {.id = cmd->id, .now = wall_ms()};
    if (run_commands(c, cmd, 1, &r, query_wallet, &q) != 0) {
        return;
    }
    if (r.code != JZ_OK) {
        fail_result(c, &r);
        return;
    }
    write_wallet(c->a, &c->resp->body, &q.view);
    respond_json(c, r.replayed ? 200 : ok_status);
}

/* The holder's identity (DESIGN.md §8): never in the ledger in clear. It is sealed under the
 * node's master key (SM4-CTR + HMAC-SM3, bound to the wallet id) into the command, and the
 * journal carries it to the holder store; only a disclosure unseals it. Plain record: three
 * fields, each a length byte and its bytes. */
static int seal_holder(struct call *c, json_t *holder, struct ledger_cmd *cmd)
{
    char name[JZ_HOLDER_NAME_MAX + 1] = "";
    char id_number[JZ_HOLDER_ID_NUMBER_MAX + 1] = "";
    char phone[JZ_HOLDER_PHONE_MAX + 1] = "";
    bool has[3] = {false, false, false};
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "name", .type = FIELD_STRING, .out = name, .min = 1, .max = JZ_HOLDER_NAME_MAX,
         .present = &has[0]},
        {.name = "id_number", .type = FIELD_STRING, .out = id_number, .min = 1,
         .max = JZ_HOLDER_ID_NUMBER_MAX, .present = &has[1]},
        {.name = "phone", .type = FIELD_STRING, .out = phone, .min = 1,
         .max = JZ_HOLDER_PHONE_MAX, .present = &has[2]},
    };
    if (json_fields_parse(holder, specs, JZ_ARRAY_LEN(specs), "holder.", &e) != 0) {
        respond_error(c, &e);
        return -1;
    }
    if (!has[0] && !has[1] && !has[2]) {
        fail(c, JZ_MISSING_FIELD, "holder.name", "a holder needs a name, id_number or phone");
        return -1;
    }
    uint8_t plain[JZ_HOLDER_PLAIN_MAX];
    size_t n = 0;
    const char *parts[3] = {name, id_number, phone};
    for (int i = 0; i < 3; i++) {
        size_t len = strlen(parts[i]);
        plain[n++] = (uint8_t)len;
        memcpy(plain + n, parts[i], len);
        n += len;
    }
    int rc = node_seal_holder(c->a->node, &cmd->id, plain, n, cmd->holder);
    crypto_wipe(plain, sizeof plain);
    crypto_wipe(name, sizeof name);
    crypto_wipe(id_number, sizeof id_number);
    crypto_wipe(phone, sizeof phone);
    if (rc != 0) {
        fail(c, JZ_UNAVAILABLE, "", "the holder record could not be sealed");
        return -1;
    }
    cmd->holder_len = (uint8_t)(n + CRYPTO_SEAL_OVERHEAD);
    return 0;
}

static void h_wallet_open(struct call *c, json_t *body)
{
    struct ledger_cmd cmd;
    bool has_id = false;
    int kind = 0;
    int form = 0;
    int64_t tier = 0;
    int64_t mcc = 0;
    json_t *holder = NULL;
    struct api_error e;
    memset(&cmd, 0, sizeof cmd);
    const struct field_spec specs[] = {
        {.name = "id", .type = FIELD_ID, .out = &cmd.id, .present = &has_id},
        {.name = "kind", .type = FIELD_ENUM, .required = true, .out = &kind,
         .choices = wallet_kind_choices},
        {.name = "tier", .type = FIELD_INT, .required = true, .out = &tier, .min = 1, .max = 4},
        {.name = "form", .type = FIELD_ENUM, .required = true, .out = &form,
         .choices = form_choices},
        {.name = "parent", .type = FIELD_ID, .out = &cmd.credit, .allow_null = true},
        {.name = "holder", .type = FIELD_OBJECT, .out = &holder},
        {.name = "mcc", .type = FIELD_INT, .out = &mcc, .min = 1, .max = 9999, .allow_null = true},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        respond_error(c, &e);
        return;
    }
    if (!has_id && crypto_random(cmd.id.b, sizeof cmd.id.b) != 0) {
        fail(c, JZ_UNAVAILABLE, "", "no randomness for a wallet id");
        return;
    }
    if (holder && seal_holder(c, holder, &cmd) != 0) {
        return;
    }
    cmd.op = LEDGER_OP_WALLET_OPEN;
    cmd.actor = (uint16_t)c->actor;
    cmd.kind = (uint8_t)kind; /* personal=1, corporate=2, merchant=3 as in the ledger */
    cmd.tier = (uint8_t)tier;
    cmd.form = (uint8_t)form;
    cmd.mcc = (uint16_t)mcc;
    respond_wallet_command(c, &cmd, 201);
}

static void h_wallet_get(struct call *c)
{
    struct ledger_wallet_view w;
    if (visible_wallet(c, &c->path_id, &w) == 0) {
        write_wallet(c->a, &c->resp->body, &w);
        respond_json(c, 200);
    }
}

static void h_wallet_patch(struct call *c, json_t *body)
{
    int64_t tier = 0;
    int status = 0;
    bool has_tier = false;
    bool has_status = false;
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "tier", .type = FIELD_INT, .out = &tier, .min = 1, .max = 4, .present = &has_tier},
        {.name = "status", .type = FIELD_ENUM, .out = &status, .choices = status_choices,
         .present = &has_status},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        respond_error(c, &e);
        return;
    }
    if (!has_tier && !has_status) {
        fail(c, JZ_MISSING_FIELD, "tier", "give tier, status or both");
        return;
    }
    struct ledger_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.op = LEDGER_OP_WALLET_UPDATE;
    cmd.actor = (uint16_t)c->actor;
    cmd.id = c->path_id;
    cmd.tier = (uint8_t)tier;
    cmd.status = (uint8_t)status; /* active=1, frozen=2 as in the ledger */
    respond_wallet_command(c, &cmd, 200);
}

static void h_wallet_close(struct call *c, json_t *body)
{
    struct api_error e;
    struct field_spec none[1];
    if (body && json_fields_parse(body, none, 0, "", &e) != 0) {
        respond_error(c, &e); /* close takes no fields: {} or nothing */
        return;
    }
    struct ledger_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.op = LEDGER_OP_WALLET_CLOSE;
    cmd.actor = (uint16_t)c->actor;
    cmd.id = c->path_id;
    respond_wallet_command(c, &cmd, 200);
}

/* Waits (bounded) until the history store holds everything durable now. */
static void history_catch_up(struct call *c)
{
    projector_wait(c->a->projector, executor_durable_seq(c->a->ex), HISTORY_WAIT_MS);
}

static void write_stored_transfer(struct jbuf *b, const struct store_transfer *t)
{
    write_transfer(b, &t->id, &t->debit, &t->credit, t->amount, t->kind, t->timestamp, t->ref,
                   strlen(t->ref), t->memo, strlen(t->memo));
}

/* limit=N (1..1000, default 100) and cursor=C (decimal position) from the query string. */
static int history_params(struct call *c, uint32_t *limit, uint64_t *cursor)
{
    *limit = 100;
    *cursor = 0;
    char q[512];
    snprintf(q, sizeof q, "%s", c->req->query);
    for (char *save = NULL, *kv = strtok_r(q, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *v = strchr(kv, '=');
        char *end = NULL;
        if (!v) {
            fail(c, JZ_INVALID_FIELD, kv, "query parameters are limit=N and cursor=C");
            return -1;
        }
        *v++ = '\0';
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        bool number = v[0] >= '0' && v[0] <= '9' && *end == '\0' && errno == 0;
        if (strcmp(kv, "limit") == 0 && number && n >= 1 && n <= STORE_HISTORY_LIMIT_MAX) {
            *limit = (uint32_t)n;
        } else if (strcmp(kv, "cursor") == 0 && number && n > 0) {
            *cursor = n;
        } else {
            fail(c, strcmp(kv, "limit") == 0 || strcmp(kv, "cursor") == 0 ? JZ_INVALID_FIELD
                                                                           : JZ_UNKNOWN_FIELD,
                 kv, "limit is 1-1000; cursor is the next_cursor of the previous page");
            return -1;
        }
    }
    return 0;
}

static void h_wallet_history(struct call *c)
{
    struct ledger_wallet_view w;
    uint32_t limit;
    uint64_t cursor;
    if (history_params(c, &limit, &cursor) != 0 || visible_wallet(c, &c->path_id, &w) != 0) {
        return;
    }
    history_catch_up(c);
    struct store_transfer *items = calloc(limit, sizeof *items);
    uint32_t n = 0;
    uint64_t next = 0;
    if (!items || store_wallet_history(c->a->store, &c->path_id, cursor, limit, items, &n,
                                       &next) != 0) {
        free(items);
        fail(c, JZ_UNAVAILABLE, "", "the history store could not be read");
        return;
    }
    struct jbuf *b = &c->resp->body;
    jb_lit(b, "{\"transfers\":[");
    for (uint32_t i = 0; i < n; i++) {
        if (i) {
            jb_lit(b, ",");
        }
        risk_hook_mask(c, &items[i].debit, &items[i].credit);
        write_stored_transfer(b, &items[i]);
    }
    jb_lit(b, "],\"next_cursor\":");
    if (next) {
        char t[24];
        snprintf(t, sizeof t, "%" PRIu64, next);
        jb_cstr(b, t);
    } else {
        jb_lit(b, "null");
    }
    jb_lit(b, "}");
    free(items);
    respond_json(c, 200);
}

/* ---- Handlers: transfers ---- */

static const char *const transfer_kind_choices[] = {
    "p2p", "payment", "bill", "refund", "exchange_in", "exchange_out", "disbursement", NULL};

/* Parses one transfer object into cmd. */
static int parse_transfer(json_t *obj, const char *prefix, bool batch, struct ledger_cmd *cmd,
                          struct api_error *e)
{
    int kind = 0;
    bool linked = false;
    char ref[JZ_REF_MAX + 1] = "";
    char memo[JZ_MEMO_MAX + 1] = "";
    char token[TOKEN_FIELD_MAX + 1] = "";
    const struct field_spec specs[] = {
        {.name = "id", .type = FIELD_ID, .required = true, .out = &cmd->id},
        {.name = "debit", .type = FIELD_ID, .required = true, .out = &cmd->debit},
        {.name = "credit", .type = FIELD_ID, .required = true, .out = &cmd->credit},
        {.name = "amount", .type = FIELD_AMOUNT, .required = true, .out = &cmd->amount},
        {.name = "kind", .type = FIELD_ENUM, .required = true, .out = &kind,
         .choices = transfer_kind_choices},
        {.name = "ref", .type = FIELD_STRING, .out = ref, .min = 0, .max = JZ_REF_MAX},
        {.name = "memo", .type = FIELD_STRING, .out = memo, .min = 0, .max = JZ_MEMO_MAX},
        {.name = "token", .type = FIELD_STRING, .out = token, .min = 1, .max = TOKEN_FIELD_MAX},
        {.name = "linked", .type = FIELD_BOOL, .out = &linked},
    };
    /* "linked" belongs to batch items only. */
    if (json_fields_parse(obj, specs, JZ_ARRAY_LEN(specs) - (batch ? 0 : 1), prefix, e) != 0) {
        return -1;
    }
    cmd->op = LEDGER_OP_TRANSFER;
    cmd->kind = (uint8_t)ledger_kind_parse(transfer_kind_choices[kind - 1]);
    cmd->flags = linked ? LEDGER_FLAG_LINKED : 0;
    cmd->ref_len = (uint8_t)strlen(ref);
    memcpy(cmd->ref, ref, cmd->ref_len);
    cmd->memo_len = (uint8_t)strlen(memo);
    memcpy(cmd->memo, memo, cmd->memo_len);
    /* exchange_in/out naming the bank card by its payment token (token.h): into ref. */
    return token[0] ? token_transfer_parse(token, prefix, cmd, e) : 0;
}

static void respond_transfer_result(struct call *c, const struct ledger_cmd *cmd,
                                    const struct ledger_result *r)
{
    if (r->code != JZ_OK) {
        fail_result(c, r);
        return;
    }
    write_transfer(&c->resp->body, &cmd->id, &cmd->debit, &cmd->credit, cmd->amount, cmd->kind,
                   r->timestamp, cmd->ref, cmd->ref_len, cmd->memo, cmd->memo_len);
    respond_json(c, r->replayed ? 200 : 201);
}

/* Both readers of a transfer body (json_fast and the general one) end here. */
static void submit_transfer(struct call *c, struct ledger_cmd *cmd)
{
    struct ledger_result r;
    struct api_error e;
    cmd->actor = (uint16_t)c->actor;
    if (token_transfer_authorize(cmd, 1, false, &e) != 0) {
        respond_error(c, &e);
        return;
    }
    /* The risk rules screen it (a denial or review is answered by the hook). */
    if (risk_hook_transfers(c, cmd, 1, &r, false) == 0) {
        respond_transfer_result(c, cmd, &r);
    }
}

static void h_transfer_create(struct call *c, json_t *body)
{
    struct ledger_cmd cmd;
    struct api_error e;
    memset(&cmd, 0, sizeof cmd);
    if (parse_transfer(body, "", false, &cmd, &e) != 0) {
        respond_error(c, &e);
        return;
    }
    submit_transfer(c, &cmd);
}

static void write_batch_results(struct jbuf *b, const struct ledger_cmd *cmds,
                                const struct ledger_result *res, size_t n)
{
    jb_lit(b, "{\"results\":[");
    for (size_t i = 0; i < n; i++) {
        jb_lit(b, i ? ",{\"id\":" : "{\"id\":");
        jb_id(b, &cmds[i].id);
        if (res[i].code == JZ_OK) {
            jb_lit(b, ",\"status\":\"posted\"}");
            continue;
        }
        struct api_error e;
        api_fail(&e, res[i].code, ledger_field_name(res[i].field), "%s",
                 code_message(res[i].code));
        jb_lit(b, ",\"error\":");
        jb_error_object(b, &e);
        jb_lit(b, "}");
    }
    jb_lit(b, "]}");
}

int api_parse_transfers(const char *body, size_t len, bool batch, struct ledger_cmd *cmds,
                        size_t cap, size_t *n, struct api_error *e)
{
    json_t *root = json_parse_body(body, len, e);
    if (!root) {
        return -1;
    }
    int rc = -1;
    if (!batch) {
        memset(&cmds[0], 0, sizeof cmds[0]);
        rc = cap >= 1 ? parse_transfer(root, "", false, &cmds[0], e) : -1;
        *n = 1;
        json_decref(root);
        return rc;
    }
    json_t *items = NULL;
    const struct field_spec specs[] = {
        {.name = "transfers", .type = FIELD_ARRAY, .required = true, .out = &items},
    };
    if (json_fields_parse(root, specs, 1, "", e) == 0) {
        size_t count = json_array_size(items);
        if (count < 1 || count > JZ_BATCH_MAX || count > cap) {
            api_fail(e, JZ_INVALID_FIELD, "transfers", "a batch holds 1 to 8190 transfers");
        } else {
            rc = 0;
            for (size_t i = 0; rc == 0 && i < count; i++) {
                char prefix[32];
                snprintf(prefix, sizeof prefix, "transfers[%u].", (unsigned)i);
                memset(&cmds[i], 0, sizeof cmds[i]);
                rc = parse_transfer(json_array_get(items, i), prefix, true, &cmds[i], e);
            }
            *n = count;
        }
    }
    json_decref(root);
    return rc;
}

/* Both readers of a batch end here; res has room for n results. */
static void submit_batch(struct call *c, struct ledger_cmd *cmds, size_t n,
                         struct ledger_result *res)
{
    struct api_error e;
    for (size_t i = 0; i < n; i++) {
        cmds[i].actor = (uint16_t)c->actor;
    }
    if (token_transfer_authorize(cmds, n, true, &e) != 0) {
        respond_error(c, &e);
        return;
    }
    if (risk_hook_transfers(c, cmds, (uint32_t)n, res, true) == 0) {
        write_batch_results(&c->resp->body, cmds, res, n);
        respond_json(c, 200);
    }
}

/* The fast reader (json_fast.h) for the plain form of a transfer or batch body: 0 when it
 * took the request (answered), -1 to run the general path instead. */
static int fast_transfers(struct call *c, bool batch)
{
    const char *body = c->req->body;
    size_t len = c->req->body_len;
    if (!batch) {
        struct ledger_cmd cmd;
        size_t n = 0;
        if (json_fast_transfers(body, len, false, transfer_kind_choices, &cmd, 1, &n) !=
            JSON_FAST_OK) {
            return -1;
        }
        submit_transfer(c, &cmd);
        return 0;
    }
    /* Items are objects: one '{' each besides the body's own. */
    size_t cap = 0;
    for (const char *p = body; (p = memchr(p, '{', (size_t)(body + len - p))) != NULL; p++) {
        cap++;
    }
    cap = cap > JZ_BATCH_MAX + 1 ? JZ_BATCH_MAX : cap > 0 ? cap - 1 : 0;
    struct ledger_cmd *cmds = cap ? malloc(cap * sizeof *cmds) : NULL;
    struct ledger_result *res = cap ? malloc(cap * sizeof *res) : NULL;
    size_t n = 0;
    int rc = -1;
    if (cmds && res &&
        json_fast_transfers(body, len, true, transfer_kind_choices, cmds, cap, &n) ==
            JSON_FAST_OK) {
        submit_batch(c, cmds, n, res);
        rc = 0;
    }
    free(cmds);
    free(res);
    return rc;
}

static void h_transfer_batch(struct call *c, json_t *body)
{
    json_t *items = NULL;
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "transfers", .type = FIELD_ARRAY, .required = true, .out = &items},
    };
    if (json_fields_parse(body, specs, 1, "", &e) != 0) {
        respond_error(c, &e);
        return;
    }
    size_t n = json_array_size(items);
    if (n < 1 || n > JZ_BATCH_MAX) {
        fail(c, JZ_INVALID_FIELD, "transfers", "a batch holds 1 to 8190 transfers");
        return;
    }
    struct ledger_cmd *cmds = calloc(n, sizeof *cmds);
    struct ledger_result *res = calloc(n, sizeof *res);
    if (!cmds || !res) {
        fail(c, JZ_UNAVAILABLE, "", "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "transfers[%zu].", i);
        if (parse_transfer(json_array_get(items, i), prefix, true, &cmds[i], &e) != 0) {
            respond_error(c, &e);
            goto done;
        }
    }
    submit_batch(c, cmds, n, res);
done:
    free(cmds);
    free(res);
}

struct transfer_query {
    jz_id id;
    jz_id debit, credit;
    int known;
    struct ledger_result result;
    int debit_operator, credit_operator;
};

static void query_transfer(const ledger *l, void *ctx)
{
    struct transfer_query *q = ctx;
    q->known = ledger_transfer_result(l, &q->id, &q->result) == 0;
    struct ledger_wallet_view w;
    q->debit_operator = ledger_wallet_get(l, &q->debit, 0, &w) == 0 ? w.operator_index : -1;
    q->credit_operator = ledger_wallet_get(l, &q->credit, 0, &w) == 0 ? w.operator_index : -1;
}

static void h_transfer_get(struct call *c)
{
    struct store_transfer t;
    int rc = store_get_transfer(c->a->store, &c->path_id, &t);
    struct transfer_query q = {.id = c->path_id};
    if (rc == 1) {
        /* Maybe posted but not yet projected: ask the ledger, then wait for the store. */
        if (run_query(c, query_transfer, &q) != 0) {
            return;
        }
        if (q.known && q.result.code == JZ_OK) {
            history_catch_up(c);
            rc = store_get_transfer(c->a->store, &c->path_id, &t);
        }
    }
    if (rc != 0) {
        fail(c, rc == 1 ? JZ_TRANSFER_NOT_FOUND : JZ_UNAVAILABLE, rc == 1 ? "id" : "",
             rc == 1 ? "no posted transfer has this id" : "the history store could not be read");
        return;
    }
    q.debit = t.debit;
    q.credit = t.credit;
    if (!is_central(c)) {
        if (run_query(c, query_transfer, &q) != 0) {
            return;
        }
        if (q.debit_operator != c->actor && q.credit_operator != c->actor) {
            fail(c, JZ_FORBIDDEN, "id", "the transfer involves none of this institution's wallets");
            return;
        }
    }
    risk_hook_mask(c, &t.debit, &t.credit);
    write_stored_transfer(&c->resp->body, &t);
    respond_json(c, 200);
}

/* ---- Handlers: quota ---- */

static int operator_index(api *a, const char *id)
{
    int found = -1;
    pthread_rwlock_rdlock(&a->inst_mu);
    for (uint32_t i = 0; i < a->inst_count; i++) {
        if (strcmp(a->insts[i].id, id) == 0 && a->insts[i].kind == LEDGER_INST_OPERATOR) {
            found = (int)i;
        }
    }
    pthread_rwlock_unlock(&a->inst_mu);
    return found;
}

static void h_quota(struct call *c, json_t *body, bool issue)
{
    struct ledger_cmd cmd;
    struct ledger_result r;
    struct api_error e;
    char op[JZ_INSTITUTION_ID_MAX + 1] = "";
    memset(&cmd, 0, sizeof cmd);
    const struct field_spec specs[] = {
        {.name = "id", .type = FIELD_ID, .required = true, .out = &cmd.id},
        {.name = "operator", .type = FIELD_INST_ID, .required = true, .out = op},
        {.name = "amount", .type = FIELD_AMOUNT, .required = true, .out = &cmd.amount},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        respond_error(c, &e);
        return;
    }
    if (!is_central(c)) {
        fail(c, JZ_FORBIDDEN, "", "only the central bank issues and redeems quota");
        return;
    }
    if (operator_index(c->a, op) < 0) {
        fail(c, JZ_INSTITUTION_NOT_FOUND, "operator", "no operator has this id");
        return;
    }
    jz_id central;
    jz_id treasury;
    node_treasury_id("central", &central);
    node_treasury_id(op, &treasury);
    cmd.op = LEDGER_OP_TRANSFER;
    cmd.actor = 0;
    cmd.kind = issue ? LEDGER_KIND_ISSUE : LEDGER_KIND_REDEEM;
    cmd.debit = issue ? central : treasury;
    cmd.credit = issue ? treasury : central;
    if (run_commands(c, &cmd, 1, &r, NULL, NULL) == 0) {
        respond_transfer_result(c, &cmd, &r);
    }
}

/* ---- Handlers: holds ---- */

static void respond_hold_command(struct call *c, struct ledger_cmd *cmd, int ok_status)
{
    struct ledger_result r;
    struct hold_query q = {.id = cmd->id, .now = wall_ms()};
    if (run_commands(c, cmd, 1, &r, query_hold, &q) != 0) {
        return;
    }
    if (r.code != JZ_OK) {
        fail_result(c, &r);
        return;
    }
    write_hold(&c->resp->body, &q.view);
    respond_json(c, r.replayed ? 200 : ok_status);
}

static void h_hold_create(struct call *c, json_t *body)
{
    struct ledger_cmd cmd;
    struct api_error e;
    memset(&cmd, 0, sizeof cmd);
    const struct field_spec specs[] = {
        {.name = "id", .type = FIELD_ID, .required = true, .out = &cmd.id},
        {.name = "debit", .type = FIELD_ID, .required = true, .out = &cmd.debit},
        {.name = "credit", .type = FIELD_ID, .required = true, .out = &cmd.credit},
        {.name = "amount", .type = FIELD_AMOUNT, .required = true, .out = &cmd.amount},
        {.name = "timeout_ms", .type = FIELD_INT, .required = true, .out = &cmd.timeout_ms,
         .min = 1, .max = JZ_HOLD_TIMEOUT_MAX_MS},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        respond_error(c, &e);
        return;
    }
    cmd.op = LEDGER_OP_HOLD_CREATE;
    cmd.actor = (uint16_t)c->actor;
    cmd.kind = LEDGER_KIND_PAYMENT;
    if (risk_hook_hold(c, &cmd) == 0) {
        respond_hold_command(c, &cmd, 201);
    }
}

static void h_hold_resolve(struct call *c, json_t *body, bool capture)
{
    struct ledger_cmd cmd;
    struct api_error e;
    memset(&cmd, 0, sizeof cmd);
    const struct field_spec specs[] = {
        {.name = "amount", .type = FIELD_AMOUNT, .out = &cmd.amount},
    };
    if (body && json_fields_parse(body, specs, capture ? 1 : 0, "", &e) != 0) {
        respond_error(c, &e);
        return;
    }
    cmd.op = capture ? LEDGER_OP_HOLD_CAPTURE : LEDGER_OP_HOLD_VOID;
    cmd.actor = (uint16_t)c->actor;
    cmd.id = c->path_id;
    respond_hold_command(c, &cmd, 200);
}

static void h_hold_get(struct call *c)
{
    struct hold_query q = {.id = c->path_id, .now = wall_ms()};
    if (run_query(c, query_hold, &q) != 0) {
        return;
    }
    if (!q.found) {
        fail(c, JZ_HOLD_NOT_FOUND, "id", "no such hold");
        return;
    }
    if (!is_central(c) && q.debit.operator_index != c->actor &&
        q.credit.operator_index != c->actor) {
        fail(c, JZ_FORBIDDEN, "id", "the hold involves none of this institution's wallets");
        return;
    }
    risk_hook_mask(c, &q.view.debit, &q.view.credit);
    write_hold(&c->resp->body, &q.view);
    respond_json(c, 200);
}

/* ---- Handlers: institutions ---- */

struct inst_query {
    char id[JZ_INSTITUTION_ID_MAX + 1];
    int index;
    struct ledger_institution_view view;
    uint32_t count;
    struct ledger_institution_view *all; /* list: room for JZ_INSTITUTIONS_MAX */
};

static void query_institution(const ledger *l, void *ctx)
{
    struct inst_query *q = ctx;
    q->index = ledger_institution_index(l, q->id);
    if (q->index >= 0) {
        ledger_institution_get(l, q->id, &q->view);
    }
    if (q->all) {
        q->count = ledger_institution_count(l);
        for (uint32_t i = 0; i < q->count; i++) {
            ledger_institution_at(l, i, &q->all[i]);
        }
    }
}

static void write_institution(struct jbuf *b, const struct ledger_institution_view *v)
{
    jb_lit(b, "{\"id\":");
    jb_cstr(b, v->id.s);
    jb_lit(b, ",\"name\":");
    jb_cstr(b, v->name);
    jb_lit(b, ",\"kind\":");
    jb_cstr(b, v->kind == LEDGER_INST_CENTRAL ? "central" : "operator");
    jb_lit(b, ",\"treasury\":");
    jb_id(b, &v->treasury);
    jb_lit(b, "}");
}

static void cache_institution(api *a, uint32_t index, const char *id, uint8_t kind)
{
    pthread_rwlock_wrlock(&a->inst_mu);
    if (index == a->inst_count && index < JZ_INSTITUTIONS_MAX) {
        snprintf(a->insts[index].id, sizeof a->insts[index].id, "%s", id);
        a->insts[index].kind = kind;
        a->inst_count++;
    }
    pthread_rwlock_unlock(&a->inst_mu);
}

static void respond_created_institution(struct call *c, const struct inst_query *q,
                                        const uint8_t *secret)
{
    struct jbuf *b = &c->resp->body;
    char hex[2 * NODE_SECRET_BYTES + 1];
    jb_lit(b, "{\"id\":");
    jb_cstr(b, q->view.id.s);
    jb_lit(b, ",\"key_id\":");
    jb_id(b, &q->view.key_id);
    if (secret) {
        jz_hex_encode(secret, NODE_SECRET_BYTES, hex);
        jb_lit(b, ",\"secret\":");
        jb_cstr(b, hex);
        crypto_wipe(hex, sizeof hex);
    }
    jb_lit(b, ",\"treasury\":");
    jb_id(b, &q->view.treasury);
    jb_lit(b, "}");
    respond_json(c, secret ? 201 : 200);
}

static void h_institution_create(struct call *c, json_t *body)
{
    struct ledger_cmd cmd;
    struct ledger_result r;
    struct api_error e;
    int kind = 0;
    char name[JZ_NAME_MAX + 1] = "";
    static const char *const kinds[] = {"operator", NULL};
    memset(&cmd, 0, sizeof cmd);
    const struct field_spec specs[] = {
        {.name = "id", .type = FIELD_INST_ID, .required = true, .out = cmd.inst.s},
        {.name = "name", .type = FIELD_STRING, .required = true, .out = name, .min = 1,
         .max = JZ_NAME_MAX},
        {.name = "kind", .type = FIELD_ENUM, .required = true, .out = &kind, .choices = kinds},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        respond_error(c, &e);
        return;
    }
    if (!is_central(c)) {
        fail(c, JZ_FORBIDDEN, "", "only the central bank creates institutions");
        return;
    }
    uint8_t secret[NODE_SECRET_BYTES];
    cmd.op = LEDGER_OP_INSTITUTION_CREATE;
    cmd.kind = LEDGER_INST_OPERATOR;
    cmd.name_len = (uint8_t)strlen(name);
    memcpy(cmd.name, name, cmd.name_len);
    node_treasury_id(cmd.inst.s, &cmd.debit);
    struct inst_query q;
    memset(&q, 0, sizeof q);
    snprintf(q.id, sizeof q.id, "%s", cmd.inst.s);
    /* One creation at a time, so keys and the institution cache follow the ledger's order. */
    pthread_mutex_lock(&c->a->create_mu);
    if (node_new_credentials(c->a->node, &cmd.key_id, secret, cmd.sealed) != 0) {
        fail(c, JZ_UNAVAILABLE, "", "cannot make credentials");
    } else if (run_commands(c, &cmd, 1, &r, query_institution, &q) == 0) {
        if (r.code != JZ_OK) {
            fail_result(c, &r);
        } else if (r.replayed) {
            respond_created_institution(c, &q, NULL);
        } else {
            cache_institution(c->a, (uint32_t)q.index, q.id, LEDGER_INST_OPERATOR);
            auth_add_key(c->a->auth, &q.view.key_id, secret, q.index);
            respond_created_institution(c, &q, secret);
        }
    }
    pthread_mutex_unlock(&c->a->create_mu);
    crypto_wipe(secret, sizeof secret);
}

static void h_institution_get(struct call *c)
{
    struct inst_query q;
    memset(&q, 0, sizeof q);
    snprintf(q.id, sizeof q.id, "%s", c->path_inst);
    if (run_query(c, query_institution, &q) != 0) {
        return;
    }
    if (q.index < 0) {
        fail(c, JZ_INSTITUTION_NOT_FOUND, "id", "no institution has this id");
        return;
    }
    if (!is_central(c) && q.index != c->actor) {
        fail(c, JZ_FORBIDDEN, "id", "an operator reads only its own institution");
        return;
    }
    write_institution(&c->resp->body, &q.view);
    respond_json(c, 200);
}

static void h_institution_list(struct call *c)
{
    if (!is_central(c)) {
        fail(c, JZ_FORBIDDEN, "", "only the central bank lists institutions");
        return;
    }
    struct inst_query q;
    memset(&q, 0, sizeof q);
    q.all = calloc(JZ_INSTITUTIONS_MAX, sizeof *q.all);
    if (!q.all) {
        fail(c, JZ_UNAVAILABLE, "", "out of memory");
        return;
    }
    if (run_query(c, query_institution, &q) == 0) {
        struct jbuf *b = &c->resp->body;
        jb_lit(b, "{\"institutions\":[");
        for (uint32_t i = 0; i < q.count; i++) {
            if (i) {
                jb_lit(b, ",");
            }
            write_institution(b, &q.all[i]);
        }
        jb_lit(b, "]}");
        respond_json(c, 200);
    }
    free(q.all);
}

/* ---- Operations ---- */

static void h_audit_head(struct call *c)
{
    uint64_t seq;
    uint8_t hash[CRYPTO_SM3_BYTES];
    uint8_t msg[4 + 8 + CRYPTO_SM3_BYTES];
    uint8_t sig[CRYPTO_SM2_SIG_MAX];
    size_t sig_len = 0;
    char hex[2 * CRYPTO_SM2_SIG_MAX + 1];
    executor_durable_head(c->a->ex, &seq, hash);
    memcpy(msg, "JZCP", 4);
    for (int i = 0; i < 8; i++) {
        msg[4 + i] = (uint8_t)(seq >> (8 * i));
    }
    memcpy(msg + 12, hash, sizeof hash);
    if (crypto_sm2_sign(node_signing_key(c->a->node), msg, sizeof msg, sig, &sig_len) != 0) {
        fail(c, JZ_UNAVAILABLE, "", "the head could not be signed");
        return;
    }
    struct jbuf *b = &c->resp->body;
    jb_lit(b, "{\"seq\":");
    jb_uint(b, seq);
    jb_lit(b, ",\"hash\":");
    jz_hex_encode(hash, sizeof hash, hex);
    jb_cstr(b, hex);
    jb_lit(b, ",\"signature\":");
    jz_hex_encode(sig, sig_len, hex);
    jb_cstr(b, hex);
    jb_lit(b, ",\"public_key\":");
    jb_cstr(b, c->a->public_pem);
    jb_lit(b, "}");
    respond_json(c, 200);
}

static void h_healthz(struct call *c)
{
    if (executor_failed(c->a->ex)) {
        fail(c, JZ_UNAVAILABLE, "", "the journal failed: the node no longer acknowledges");
        return;
    }
    jb_lit(&c->resp->body, "{\"status\":\"ok\",\"seq\":");
    jb_uint(&c->resp->body, executor_durable_seq(c->a->ex));
    jb_lit(&c->resp->body, "}");
    respond_json(c, 200);
}

static void write_request_metrics(api *a, struct jbuf *b)
{
    char line[256];
    jb_lit(b, "# HELP jiaozi_http_requests_total HTTP requests by route and status.\n"
              "# TYPE jiaozi_http_requests_total counter\n");
    for (int r = 0; r < R_COUNT + (int)a->ext_count; r++) {
        for (int s = 0; s < STATUS_SLOTS; s++) {
            uint64_t v = atomic_load_explicit(&a->requests[r][s], memory_order_relaxed);
            if (v == 0) {
                continue;
            }
            snprintf(line, sizeof line,
                     "jiaozi_http_requests_total{route=\"%s\",status=\"%d\"} %" PRIu64 "\n",
                     route_name(r), s < STATUS_SLOTS - 1 ? counted_statuses[s] : 0, v);
            jb_lit(b, line);
        }
    }
    for (int r = 0; r < R_COUNT + (int)a->ext_count; r++) {
        char labels[192];
        snprintf(labels, sizeof labels, "route=\"%s\"", route_name(r));
        metrics_write_histogram(b, "jiaozi_http_request_duration_seconds",
                                "Time to answer a request, by route.", labels, &a->latency[r],
                                r == 0);
    }
}

static void h_metrics(struct call *c)
{
    api *a = c->a;
    struct jbuf *b = &c->resp->body;
    struct executor_metrics *m = executor_get_metrics(a->ex);
    write_request_metrics(a, b);
    metrics_write_counter(b, "jiaozi_commands_total", "Ledger commands made durable.",
                          atomic_load(&m->commands));
    metrics_write_counter(b, "jiaozi_batches_total", "Journal batch records made durable.",
                          atomic_load(&m->batches));
    metrics_write_histogram(b, "jiaozi_batch_commands", "Commands per durable batch.", "",
                            &m->batch_commands, true);
    metrics_write_histogram(b, "jiaozi_journal_fsync_seconds", "fdatasync of the journal.", "",
                            &m->fsync_seconds, true);
    metrics_write_histogram(b, "jiaozi_batch_seconds",
                            "From the executor taking a batch to it being durable.", "",
                            &m->batch_seconds, true);
    metrics_write_gauge(b, "jiaozi_queue_depth", "Requests waiting for the executor.",
                        executor_queue_depth(a->ex));
    const struct node_config *cfg = node_get_config(a->node);
    metrics_write_gauge(b, "jiaozi_wallets", "Wallets in the ledger.",
                        (int64_t)atomic_load(&m->wallets));
    metrics_write_gauge(b, "jiaozi_wallets_max", "Wallets the node can hold (jiaozi.conf).",
                        cfg->wallets_max);
    metrics_write_gauge(b, "jiaozi_transfer_ids", "Transfer and hold ids remembered.",
                        (int64_t)atomic_load(&m->transfer_ids));
    metrics_write_gauge(b, "jiaozi_transfer_ids_max",
                        "Ids the node can remember (jiaozi.conf); past it: capacity_exceeded.",
                        cfg->transfers_max);
    metrics_write_gauge(b, "jiaozi_holds", "Holds of any status.", (int64_t)atomic_load(&m->holds));
    metrics_write_gauge(b, "jiaozi_holds_max", "Holds the node can hold (jiaozi.conf).",
                        cfg->holds_max);
    uint64_t durable = executor_durable_seq(a->ex);
    uint64_t projected = projector_projected_seq(a->projector);
    metrics_write_gauge(b, "jiaozi_journal_head_seq", "Newest durable journal record.",
                        (int64_t)durable);
    metrics_write_gauge(b, "jiaozi_projector_lag_records",
                        "Durable journal records not yet in the history store.",
                        (int64_t)(durable > projected ? durable - projected : 0));
    for (size_t i = 0; i < api_exts_count; i++) {
        if (a->ext_opened[i] && api_exts[i]->metrics) {
            api_exts[i]->metrics(a->ext_state[i], b);
        }
    }
    risk_hook_metrics(a, b);
    c->resp->status = 200;
    c->resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static void h_openapi(struct call *c)
{
    jb_raw(&c->resp->body, openapi_json, openapi_json_len);
    respond_json(c, 200);
}

/* ---- Routing ---- */

struct route_match {
    int route;
    bool method_ok;
    bool signed_route;
    bool has_body; /* the method carries a JSON body */
};

/* Splits "/v1/a/b/c" into up to 4 segments after /v1; returns the count or -1. */
static int split_path(const char *path, char seg[4][160])
{
    if (strncmp(path, "/v1/", 4) != 0) {
        return -1;
    }
    int n = 0;
    const char *p = path + 4;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 4 || len == 0 || len >= 160) {
            return -1;
        }
        memcpy(seg[n], p, len);
        seg[n][len] = '\0';
        n++;
        p += len + (slash ? 1 : 0);
        if (slash && !*p) {
            return -1; /* trailing slash */
        }
    }
    return n;
}

static enum route match_v1(char seg[4][160], int n)
{
    static const struct {
        const char *a, *b;
        enum route one, two, three;
    } table[] = {
        {"institutions", NULL, R_INSTITUTIONS, R_INSTITUTION, R_NONE},
        {"wallets", "close", R_WALLETS, R_WALLET, R_WALLET_CLOSE},
        {"wallets", "transfers", R_WALLETS, R_WALLET, R_WALLET_TRANSFERS},
        {"transfers", NULL, R_TRANSFERS, R_TRANSFER, R_NONE},
        {"holds", "capture", R_HOLDS, R_HOLD, R_HOLD_CAPTURE},
        {"holds", "void", R_HOLDS, R_HOLD, R_HOLD_VOID},
    };
    if (n == 1 && strcmp(seg[0], "openapi.json") == 0) {
        return R_OPENAPI;
    }
    if (n == 2 && strcmp(seg[0], "audit") == 0 && strcmp(seg[1], "head") == 0) {
        return R_AUDIT_HEAD;
    }
    if (n == 2 && strcmp(seg[0], "quota") == 0) {
        return strcmp(seg[1], "issue") == 0 ? R_QUOTA_ISSUE
               : strcmp(seg[1], "redeem") == 0 ? R_QUOTA_REDEEM : R_NONE;
    }
    if (n == 2 && strcmp(seg[0], "transfers") == 0 && strcmp(seg[1], "batch") == 0) {
        return R_TRANSFERS_BATCH;
    }
    for (size_t i = 0; i < JZ_ARRAY_LEN(table); i++) {
        if (strcmp(seg[0], table[i].a) != 0) {
            continue;
        }
        if (n == 1) {
            return table[i].one;
        }
        if (n == 2) {
            return table[i].two;
        }
        if (n == 3 && table[i].b && strcmp(seg[2], table[i].b) == 0) {
            return table[i].three;
        }
    }
    return R_NONE;
}

static const char *route_method(enum route r)
{
    switch (r) {
    case R_INSTITUTIONS:
        return "GET POST";
    case R_WALLET:
        return "GET PATCH";
    case R_QUOTA_ISSUE:
    case R_QUOTA_REDEEM:
    case R_WALLETS:
    case R_WALLET_CLOSE:
    case R_TRANSFERS:
    case R_TRANSFERS_BATCH:
    case R_HOLDS:
    case R_HOLD_CAPTURE:
    case R_HOLD_VOID:
        return "POST";
    default:
        return "GET";
    }
}

static const char *route_allow(enum route r)
{
    const char *m = route_method(r);
    return strcmp(m, "GET POST") == 0 ? "GET, POST" : strcmp(m, "GET PATCH") == 0 ? "GET, PATCH" : m;
}

/* Whether path matches pattern; captures the {name} segments into params (may be NULL). */
static bool pattern_match(const char *pattern, const char *path, char params[][160])
{
    int np = 0;
    const char *p = pattern, *q = path;
    while (*p && *q) {
        if (*p != '/' || *q != '/') {
            return false;
        }
        p++;
        q++;
        const char *pe = strchrnul(p, '/');
        const char *qe = strchrnul(q, '/');
        size_t ql = (size_t)(qe - q);
        if (*p == '{') {
            if (ql == 0 || ql >= 160 || np == API_EXT_PARAMS_MAX) {
                return false;
            }
            if (params) {
                memcpy(params[np], q, ql);
                params[np][ql] = '\0';
            }
            np++;
        } else if ((size_t)(pe - p) != ql || memcmp(p, q, ql) != 0) {
            return false;
        }
        p = pe;
        q = qe;
    }
    return *p == '\0' && *q == '\0';
}

static int ext_find(const char *method, const char *path, bool *any_method)
{
    *any_method = false;
    for (uint32_t i = 0; i < g_ext_count; i++) {
        if (pattern_match(g_ext[i].r->pattern, path, NULL)) {
            if (strcmp(g_ext[i].r->method, method) == 0) {
                return (int)i;
            }
            *any_method = true;
        }
    }
    return -1;
}

static struct route_match ext_route_of(const char *method, const char *path,
                                       struct route_match m)
{
    bool any = false;
    int i = ext_find(method, path, &any);
    if (i >= 0) {
        m.route = R_COUNT + i;
        m.method_ok = true;
    } else if (any) {
        /* The pattern exists with other methods: 405 names them. */
        for (uint32_t k = 0; k < g_ext_count; k++) {
            if (pattern_match(g_ext[k].r->pattern, path, NULL)) {
                m.route = R_COUNT + (int)k;
                break;
            }
        }
        m.method_ok = false;
    }
    m.signed_route = m.route != R_NONE && g_ext[m.route - R_COUNT].r->access != API_EXT_PUBLIC;
    m.has_body = strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0 ||
                 strcmp(method, "PUT") == 0;
    return m;
}

/* "GET, PATCH": the methods of every extension route with the same pattern as route k. */
static const char *ext_allow(int k)
{
    static _Thread_local char allow[64];
    allow[0] = '\0';
    for (uint32_t i = 0; i < g_ext_count; i++) {
        if (strcmp(g_ext[i].r->pattern, g_ext[k].r->pattern) == 0 &&
            strlen(allow) + strlen(g_ext[i].r->method) + 3 < sizeof allow) {
            if (allow[0]) {
                strcat(allow, ", ");
            }
            strcat(allow, g_ext[i].r->method);
        }
    }
    return allow;
}

static const char *route_name(int r)
{
    return r < R_COUNT ? route_names[r] : g_ext[r - R_COUNT].r->pattern;
}

static struct route_match route_of(const char *method, const char *path, char seg[4][160])
{
    struct route_match m = {.route = R_NONE};
    int n = 0;
    if (strcmp(path, "/healthz") == 0) {
        m.route = R_HEALTHZ;
    } else if (strcmp(path, "/metrics") == 0) {
        m.route = R_METRICS;
    } else if ((n = split_path(path, seg)) > 0) {
        m.route = match_v1(seg, n);
    }
    if (m.route == R_NONE) {
        return ext_route_of(method, path, m);
    }
    const char *allowed = route_method(m.route);
    size_t len = strlen(method);
    for (const char *p = allowed; *p;) {
        const char *end = strchr(p, ' ');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (l == len && strncmp(p, method, len) == 0) {
            m.method_ok = true;
        }
        p += l + (end ? 1 : 0);
    }
    m.signed_route = m.route != R_HEALTHZ && m.route != R_METRICS && m.route != R_OPENAPI;
    m.has_body = strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0;
    return m;
}

const char *api_route_name(const char *method, const char *path)
{
    char seg[4][160];
    struct route_match m = route_of(method, path, seg);
    return m.route == R_NONE ? "" : route_name(m.route);
}

size_t api_body_limit(const char *path)
{
    if (strcmp(path, "/v1/transfers/batch") == 0) {
        return API_BATCH_BODY_MAX;
    }
    size_t max = 0;
    for (uint32_t i = 0; i < g_ext_count; i++) {
        if (g_ext[i].r->body_max > max && pattern_match(g_ext[i].r->pattern, path, NULL)) {
            max = g_ext[i].r->body_max;
        }
    }
    return max > API_BODY_MAX ? max : API_BODY_MAX;
}

/* The {id} of a route from the path: a 32-hex id, or an institution id. */
static int path_param(struct call *c, char seg[4][160])
{
    if (c->route == R_INSTITUTION) {
        size_t n = strlen(seg[1]);
        bool ok = n >= 1 && n <= JZ_INSTITUTION_ID_MAX;
        for (size_t i = 0; ok && i < n; i++) {
            char ch = seg[1][i];
            ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
        }
        if (!ok) {
            fail(c, JZ_INVALID_FIELD, "id", "institution ids are 1-16 characters [a-z0-9_]");
            return -1;
        }
        snprintf(c->path_inst, sizeof c->path_inst, "%s", seg[1]);
        return 0;
    }
    if (jz_id_from_hex(seg[1], strlen(seg[1]), &c->path_id) != 0) {
        fail(c, JZ_INVALID_FIELD, "id", "ids are 32 lowercase hex digits");
        return -1;
    }
    return 0;
}

/* ---- Dispatch ---- */

static bool body_optional(int r)
{
    if (r >= R_COUNT) {
        return g_ext[r - R_COUNT].r->body_optional;
    }
    return r == R_WALLET_CLOSE || r == R_HOLD_CAPTURE || r == R_HOLD_VOID;
}

static bool content_type_json(const char *ct)
{
    if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
        return false;
    }
    return ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ';
}

/* Parses the body a route takes; *out stays NULL for an allowed empty body. */
static int read_body(struct call *c, json_t **out)
{
    struct api_error e;
    *out = NULL;
    if (c->req->body_len == 0 && body_optional(c->route)) {
        return 0;
    }
    if (!content_type_json(c->req->content_type)) {
        fail(c, JZ_UNSUPPORTED_MEDIA_TYPE, "Content-Type", "send Content-Type: application/json");
        return -1;
    }
    *out = json_parse_body(c->req->body, c->req->body_len, &e);
    if (!*out) {
        respond_error(c, &e);
        return -1;
    }
    return 0;
}

/* API.md: central "reads everything and moves nothing but quota"; an operator's routes are
 * refused to it before the ledger is asked. */
static bool operators_only(int r)
{
    return r == R_WALLETS || r == R_WALLET || r == R_WALLET_CLOSE || r == R_TRANSFERS ||
           r == R_TRANSFERS_BATCH || r == R_HOLDS || r == R_HOLD_CAPTURE || r == R_HOLD_VOID;
}

static void dispatch_body(struct call *c, json_t *body)
{
    if (is_central(c) && operators_only(c->route)) {
        fail(c, JZ_FORBIDDEN, "", "the central bank moves nothing but quota");
        return;
    }
    switch (c->route) {
    case R_INSTITUTIONS: h_institution_create(c, body); break;
    case R_QUOTA_ISSUE: h_quota(c, body, true); break;
    case R_QUOTA_REDEEM: h_quota(c, body, false); break;
    case R_WALLETS: h_wallet_open(c, body); break;
    case R_WALLET: h_wallet_patch(c, body); break;
    case R_WALLET_CLOSE: h_wallet_close(c, body); break;
    case R_TRANSFERS: h_transfer_create(c, body); break;
    case R_TRANSFERS_BATCH: h_transfer_batch(c, body); break;
    case R_HOLDS: h_hold_create(c, body); break;
    case R_HOLD_CAPTURE: h_hold_resolve(c, body, true); break;
    case R_HOLD_VOID: h_hold_resolve(c, body, false); break;
    default: fail(c, JZ_METHOD_NOT_ALLOWED, "", "method not allowed"); break;
    }
}

static void dispatch_get(struct call *c)
{
    switch (c->route) {
    case R_HEALTHZ: h_healthz(c); break;
    case R_METRICS: h_metrics(c); break;
    case R_OPENAPI: h_openapi(c); break;
    case R_AUDIT_HEAD: h_audit_head(c); break;
    case R_INSTITUTIONS: h_institution_list(c); break;
    case R_INSTITUTION: h_institution_get(c); break;
    case R_WALLET: h_wallet_get(c); break;
    case R_WALLET_TRANSFERS: h_wallet_history(c); break;
    case R_TRANSFER: h_transfer_get(c); break;
    case R_HOLD: h_hold_get(c); break;
    default: fail(c, JZ_METHOD_NOT_ALLOWED, "", "method not allowed"); break;
    }
}

static bool has_path_param(int r)
{
    return r == R_INSTITUTION || r == R_WALLET || r == R_WALLET_CLOSE ||
           r == R_WALLET_TRANSFERS || r == R_TRANSFER || r == R_HOLD || r == R_HOLD_CAPTURE ||
           r == R_HOLD_VOID;
}

static void handle_ext(struct call *c, const struct route_match *m)
{
    const struct ext_route *e = &c->a->ext[m->route - R_COUNT];
    if (e->r->access == API_EXT_CENTRAL && !is_central(c)) {
        fail(c, JZ_FORBIDDEN, "", "only the central bank may do this");
        return;
    }
    if (e->r->access == API_EXT_OPERATORS && is_central(c)) {
        fail(c, JZ_FORBIDDEN, "", "the central bank moves nothing but quota");
        return;
    }
    pattern_match(e->r->pattern, c->req->path, c->params);
    json_t *body = NULL;
    if (m->has_body && read_body(c, &body) != 0) {
        return;
    }
    e->r->handler(c, body);
    json_decref(body);
}

static void handle(struct call *c, const struct route_match *m, char seg[4][160])
{
    const struct api_request *req = c->req;
    if (m->route == R_NONE) {
        fail(c, JZ_ROUTE_NOT_FOUND, "", "no such route");
        return;
    }
    if (!m->method_ok) {
        c->resp->allow = m->route >= R_COUNT ? ext_allow(m->route - R_COUNT) : route_allow(m->route);
        fail(c, JZ_METHOD_NOT_ALLOWED, "", "this route does not take that method");
        return;
    }
    if (req->body_too_large) {
        fail(c, JZ_BODY_TOO_LARGE, "", "the body is larger than this route accepts");
        return;
    }
    if (m->signed_route && !req->key && c->a->session_check) {
        struct api_error e;
        int rc = c->a->session_check(c->a->session_state, req->cookie, req->method, req->csrf,
                                     &c->actor, &e);
        if (rc < 0) {
            respond_error(c, &e);
            return;
        }
        if (rc == 0) {
            goto authenticated;
        }
    }
    if (m->signed_route) {
        struct auth_request ar = {.method = req->method, .path_and_query = req->path_and_query,
                                  .key = req->key, .timestamp = req->timestamp,
                                  .nonce = req->nonce, .signature = req->signature,
                                  .body = req->body, .body_len = req->body_len};
        struct api_error e;
        int64_t now = c->a->cfg.now_ms ? c->a->cfg.now_ms() : wall_ms();
        if (auth_check(c->a->auth, &ar, now, &c->actor, &c->resp->retry_after_s, &e) != 0) {
            respond_error(c, &e);
            return;
        }
        c->merchant = auth_key_merchant(c->a->auth, req->key, &c->merchant_wallet) == 1;
    }
    /* A merchant's key reaches only the routes that take it (its orders and refunds). */
    if (c->merchant && (m->route < R_COUNT || !c->a->ext[m->route - R_COUNT].r->merchant_ok)) {
        fail(c, JZ_FORBIDDEN, "X-JZ-Key", "a merchant key may use only the merchant routes");
        return;
    }
authenticated:
    if (m->route >= R_COUNT) {
        handle_ext(c, m);
        return;
    }
    if (has_path_param(m->route) && path_param(c, seg) != 0) {
        return;
    }
    if (!m->has_body) {
        dispatch_get(c);
        return;
    }
    if ((m->route == R_TRANSFERS || m->route == R_TRANSFERS_BATCH) && !is_central(c) &&
        content_type_json(req->content_type) &&
        fast_transfers(c, m->route == R_TRANSFERS_BATCH) == 0) {
        return;
    }
    json_t *body = NULL;
    if (read_body(c, &body) == 0) {
        dispatch_body(c, body);
    }
    json_decref(body);
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void count_request(api *a, int r, int status, uint64_t micros)
{
    int slot = STATUS_SLOTS - 1;
    for (int i = 0; i < STATUS_SLOTS - 1; i++) {
        if (counted_statuses[i] == status) {
            slot = i;
        }
    }
    atomic_fetch_add_explicit(&a->requests[r][slot], 1, memory_order_relaxed);
    metrics_observe(&a->latency[r], micros);
}

void api_handle(api *a, const struct api_request *req, struct api_response *resp)
{
    uint64_t start = mono_us();
    char seg[4][160];
    memset(resp, 0, sizeof *resp);
    jb_init(&resp->body);
    resp->status = 500;
    resp->content_type = "application/json";
    struct call c = {.a = a, .req = req, .resp = resp, .actor = -1};
    struct route_match m = route_of(req->method, req->path, seg);
    c.route = m.route;
    handle(&c, &m, seg);
    if (resp->body.failed) {
        jb_free(&resp->body);
        jb_lit(&resp->body, "{\"error\":{\"code\":\"unavailable\",\"message\":\"out of memory\"}}");
        resp->status = 503;
    }
    count_request(a, m.route, resp->status, mono_us() - start);
}

/* ---- Without blocking (api.h: api_handle_start) ---- */

struct api_pending {
    api *a;
    int route;
    int actor;
    bool batch;
    uint64_t start_us;
    size_t n;
    struct ledger_cmd *cmds;
    struct ledger_result *res;
    struct executor_request er;
    void (*done)(void *ctx);
    void *ctx;
};

static void pending_free(struct api_pending *p)
{
    free(p->cmds);
    free(p->res);
    free(p);
}

static void pending_durable(struct executor_request *r, void *ctx)
{
    (void)r;
    struct api_pending *p = ctx;
    p->done(p->ctx);
}

/* The plain form of a transfer or batch body, read without blocking; NULL when the request
 * is not one (then nothing was done). */
static struct api_pending *pending_read(const struct api_request *req, bool batch)
{
    struct api_pending *p = calloc(1, sizeof *p);
    size_t cap = 1;
    if (batch) {
        cap = 0;
        const char *end = req->body + req->body_len;
        for (const char *q = req->body; (q = memchr(q, '{', (size_t)(end - q))) != NULL; q++) {
            cap++;
        }
        cap = cap > JZ_BATCH_MAX + 1 ? JZ_BATCH_MAX : cap > 0 ? cap - 1 : 0;
    }
    if (!p || cap == 0 || !(p->cmds = malloc(cap * sizeof *p->cmds)) ||
        !(p->res = calloc(cap, sizeof *p->res)) ||
        json_fast_transfers(req->body, req->body_len, batch, transfer_kind_choices, p->cmds,
                            cap, &p->n) != JSON_FAST_OK) {
        if (p) {
            pending_free(p);
        }
        return NULL;
    }
    for (size_t i = 0; i < p->n; i++) {
        if (p->cmds[i].ref_len >= sizeof TOKEN_REF_PREFIX - 1 &&
            memcmp(p->cmds[i].ref, TOKEN_REF_PREFIX, sizeof TOKEN_REF_PREFIX - 1) == 0) {
            pending_free(p); /* a card token's checks may wait on the ledger: a worker's job */
            return NULL;
        }
    }
    p->batch = batch;
    return p;
}

int api_handle_start(api *a, const struct api_request *req, struct api_response *resp,
                     void (*done)(void *ctx), void *ctx, struct api_pending **pending)
{
    uint64_t start = mono_us();
    char seg[4][160];
    struct route_match m = route_of(req->method, req->path, seg);
    if (m.route == R_HEALTHZ || m.route == R_METRICS || m.route == R_OPENAPI) {
        api_handle(a, req, resp); /* reads of atomics and static text: never blocks */
        return API_DONE;
    }
    /* Only what handle() would send down the fast path, decided before authentication so
     * that a request handed to api_handle has not had its nonce used. */
    if ((m.route != R_TRANSFERS && m.route != R_TRANSFERS_BATCH) || !m.method_ok ||
        req->body_too_large || !req->key || !content_type_json(req->content_type) ||
        risk_screening_active(a)) {
        return API_BLOCKING; /* risk screening may turn payments into holds: a worker's job */
    }
    struct api_pending *p = pending_read(req, m.route == R_TRANSFERS_BATCH);
    if (!p) {
        return API_BLOCKING;
    }
    memset(resp, 0, sizeof *resp);
    jb_init(&resp->body);
    resp->status = 500;
    resp->content_type = "application/json";
    struct call c = {.a = a, .req = req, .resp = resp, .route = m.route, .actor = -1};
    struct auth_request ar = {.method = req->method, .path_and_query = req->path_and_query,
                              .key = req->key, .timestamp = req->timestamp, .nonce = req->nonce,
                              .signature = req->signature, .body = req->body,
                              .body_len = req->body_len};
    struct api_error e;
    jz_id merchant;
    int64_t now = a->cfg.now_ms ? a->cfg.now_ms() : wall_ms();
    if (auth_check(a->auth, &ar, now, &c.actor, &resp->retry_after_s, &e) != 0) {
        respond_error(&c, &e);
    } else if (auth_key_merchant(a->auth, req->key, &merchant) == 1) {
        /* As handle(): a merchant's key reaches only the merchant routes. */
        fail(&c, JZ_FORBIDDEN, "X-JZ-Key", "a merchant key may use only the merchant routes");
    } else if (is_central(&c)) {
        fail(&c, JZ_FORBIDDEN, "", "the central bank moves nothing but quota");
    } else {
        for (size_t i = 0; i < p->n; i++) {
            p->cmds[i].actor = (uint16_t)c.actor;
        }
        p->a = a;
        p->route = m.route;
        p->actor = c.actor;
        p->start_us = start;
        p->done = done;
        p->ctx = ctx;
        executor_request_init(&p->er);
        p->er.cmds = p->cmds;
        p->er.results = p->res;
        p->er.count = (uint32_t)p->n;
        p->er.on_done = pending_durable;
        p->er.on_done_ctx = p;
        if (executor_submit(a->ex, &p->er) == 0) {
            *pending = p;
            return API_PENDING;
        }
        executor_request_destroy(&p->er);
        if (errno == EAGAIN) {
            resp->retry_after_s = 1;
            fail(&c, JZ_OVERLOADED, "", "the node is busy: retry after a second");
        } else {
            fail(&c, JZ_UNAVAILABLE, "", "the node is not accepting requests");
        }
    }
    count_request(a, m.route, resp->status, mono_us() - start);
    pending_free(p);
    return API_DONE;
}

void api_finish(struct api_pending *p, struct api_response *resp)
{
    memset(resp, 0, sizeof *resp);
    jb_init(&resp->body);
    resp->status = 500;
    resp->content_type = "application/json";
    struct call c = {.a = p->a, .resp = resp, .route = p->route, .actor = p->actor};
    if (p->er.status != 0) {
        fail(&c, JZ_UNAVAILABLE, "", "the node stopped before the request was durable");
    } else if (!p->batch) {
        respond_transfer_result(&c, &p->cmds[0], &p->res[0]);
    } else {
        write_batch_results(&resp->body, p->cmds, p->res, p->n);
        respond_json(&c, 200);
    }
    if (resp->body.failed) {
        jb_free(&resp->body);
        jb_lit(&resp->body, "{\"error\":{\"code\":\"unavailable\",\"message\":\"out of memory\"}}");
        resp->status = 503;
    }
    count_request(p->a, p->route, resp->status, mono_us() - p->start_us);
    executor_request_destroy(&p->er);
    pending_free(p);
}

void api_response_free(struct api_response *resp)
{
    jb_free(&resp->body);
}

/* ---- Lifecycle ---- */

static int run_query_plain(executor *ex, executor_query_fn fn, void *ctx)
{
    struct executor_request r;
    executor_request_init(&r);
    r.query = fn;
    r.query_ctx = ctx;
    int rc = executor_run(ex, &r);
    executor_request_destroy(&r);
    return rc;
}

/* Every institution's key, unsealed, into the authenticator; and the institution cache. */
static int load_credentials(api *a, char *err, size_t err_len)
{
    struct inst_query q;
    memset(&q, 0, sizeof q);
    q.all = calloc(JZ_INSTITUTIONS_MAX, sizeof *q.all);
    if (!q.all || run_query_plain(a->ex, query_institution, &q) != 0) {
        free(q.all);
        snprintf(err, err_len, "cannot read the institutions");
        return -1;
    }
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < q.count; i++) {
        uint8_t secret[NODE_SECRET_BYTES];
        if (node_unseal_secret(a->node, &q.all[i].key_id, q.all[i].sealed, secret) != 0) {
            snprintf(err, err_len, "the credentials of %s do not unseal: wrong master.key?",
                     q.all[i].id.s);
            rc = -1;
            break;
        }
        rc = auth_add_key(a->auth, &q.all[i].key_id, secret, (int)i);
        crypto_wipe(secret, sizeof secret);
        cache_institution(a, i, q.all[i].id.s, q.all[i].kind);
    }
    free(q.all);
    return rc;
}

/* Flattens every module's routes into g_ext (once per process). */
static void build_ext_table(void)
{
    ASSERT(api_exts_count <= JZ_ARRAY_LEN(((api *)0)->ext_state));
    for (size_t m = 0; m < api_exts_count; m++) {
        for (size_t k = 0; k < api_exts[m]->nroutes; k++) {
            ASSERT(g_ext_count < API_EXT_ROUTES_MAX);
            g_ext[g_ext_count].r = &api_exts[m]->routes[k];
            g_ext[g_ext_count].module = (uint32_t)m;
            g_ext_count++;
        }
    }
}

static int open_exts(api *a, char *err, size_t err_len)
{
    for (size_t i = 0; i < api_exts_count; i++) {
        if (api_exts[i]->open && api_exts[i]->open(a, &a->ext_state[i], err, err_len) != 0) {
            return -1;
        }
        a->ext_opened[i] = true;
    }
    return 0;
}

int api_new(const struct api_config *cfg, api **out, char *err, size_t err_len)
{
    api *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    a->cfg = *cfg;
    a->node = cfg->node;
    a->ex = node_executor(cfg->node);
    a->store = node_store(cfg->node);
    a->projector = node_projector(cfg->node);
    pthread_rwlock_init(&a->inst_mu, NULL);
    pthread_mutex_init(&a->create_mu, NULL);
    for (int r = 0; r < ROUTE_SLOTS; r++) {
        metrics_histogram_init(&a->latency[r], metrics_latency_bounds, metrics_latency_nbounds);
    }
    pthread_once(&g_ext_once, build_ext_table);
    memcpy(a->ext, g_ext, sizeof g_ext);
    a->ext_count = g_ext_count;
    struct auth_config acfg = {.nonce_capacity = cfg->nonce_capacity,
                               .rate_per_s = cfg->rate_per_s, .burst = cfg->burst};
    size_t pem_len = 0;
    a->auth = auth_new(&acfg);
    if (!a->store || !a->projector) {
        snprintf(err, err_len, "the node was opened without its history store");
    } else if (!a->auth ||
               crypto_sm2_public_pem(node_signing_key(a->node), &a->public_pem, &pem_len) != 0) {
        snprintf(err, err_len, "out of memory");
    } else if (load_credentials(a, err, err_len) == 0 && open_exts(a, err, err_len) == 0) {
        *out = a;
        return 0;
    }
    api_free(a);
    return -1;
}

void api_free(api *a)
{
    if (!a) {
        return;
    }
    for (size_t i = api_exts_count; i-- > 0;) {
        if (a->ext_opened[i] && api_exts[i]->close) {
            api_exts[i]->close(a->ext_state[i]);
        }
    }
    auth_free(a->auth);
    free(a->public_pem);
    pthread_rwlock_destroy(&a->inst_mu);
    pthread_mutex_destroy(&a->create_mu);
    free(a);
}

int api_write_central_json(api *a, const char *url, char *err, size_t err_len)
{
    struct inst_query q;
    memset(&q, 0, sizeof q);
    snprintf(q.id, sizeof q.id, "central");
    uint8_t secret[NODE_SECRET_BYTES];
    char hex[2 * NODE_SECRET_BYTES + 1];
    char key[33];
    if (run_query_plain(a->ex, query_institution, &q) != 0 || q.index != 0 ||
        node_unseal_secret(a->node, &q.view.key_id, q.view.sealed, secret) != 0) {
        snprintf(err, err_len, "cannot read central's credentials");
        return -1;
    }
    jz_hex_encode(secret, sizeof secret, hex);
    crypto_wipe(secret, sizeof secret);
    jz_id_to_hex(&q.view.key_id, key);
    struct jbuf b;
    jb_init(&b);
    jb_lit(&b, "{\"institution\":\"central\",\"key_id\":");
    jb_cstr(&b, key);
    jb_lit(&b, ",\"secret\":");
    jb_cstr(&b, hex);
    jb_lit(&b, ",\"url\":");
    jb_cstr(&b, url);
    jb_lit(&b, "}\n");
    crypto_wipe(hex, sizeof hex);
    char path[4096];
    char tmp[4200];
    snprintf(path, sizeof path, "%s/central.json", node_dir(a->node));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    int rc = fd >= 0 && !b.failed && write(fd, b.p, b.len) == (ssize_t)b.len && fsync(fd) == 0
                 ? 0 : -1;
    if (fd >= 0) {
        close(fd);
    }
    if (b.p) {
        crypto_wipe(b.p, b.len);
    }
    jb_free(&b);
    if (rc != 0 || rename(tmp, path) != 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ---- The extension interface (api_ext.h) ---- */

api *api_call_api(api_call *c)
{
    return c->a;
}

void *api_call_state(api_call *c)
{
    return c->route >= R_COUNT ? c->a->ext_state[c->a->ext[c->route - R_COUNT].module] : NULL;
}

const char *api_call_param(api_call *c, int i)
{
    return i >= 0 && i < API_EXT_PARAMS_MAX ? c->params[i] : "";
}

const char *api_call_query(api_call *c)
{
    return c->req->query ? c->req->query : "";
}

int api_call_actor(api_call *c)
{
    return c->actor;
}

bool api_call_is_central(api_call *c)
{
    return is_central(c);
}

bool api_call_merchant(api_call *c, jz_id *wallet)
{
    if (c->merchant && wallet) {
        *wallet = c->merchant_wallet;
    }
    return c->merchant;
}

const char *api_call_actor_id(api_call *c)
{
    return c->actor >= 0 ? inst_name(c->a, (uint32_t)c->actor) : "";
}

struct jbuf *api_call_out(api_call *c)
{
    return &c->resp->body;
}

void api_call_respond(api_call *c, int status)
{
    respond_json(c, status);
}

void api_call_fail(api_call *c, int code, const char *field, const char *message)
{
    fail(c, code, field ? field : "", message);
}

void api_call_fail_result(api_call *c, const struct ledger_result *r)
{
    fail_result(c, r);
}

void api_call_fail_error(api_call *c, const struct api_error *e)
{
    respond_error(c, e);
}

int api_call_run(api_call *c, const struct ledger_cmd *cmds, uint32_t n,
                 struct ledger_result *results, executor_query_fn after, void *ctx)
{
    return run_commands(c, cmds, n, results, after, ctx);
}

int api_call_read(api_call *c, executor_query_fn fn, void *ctx)
{
    return run_query(c, fn, ctx);
}

int api_call_wallet(api_call *c, const jz_id *id, const char *field,
                    struct ledger_wallet_view *out)
{
    struct wallet_query q = {.id = *id, .now = api_now_ms(c->a)};
    if (run_query(c, query_wallet, &q) != 0) {
        return -1;
    }
    if (!q.found) {
        fail(c, JZ_WALLET_NOT_FOUND, field, "no such wallet");
        return -1;
    }
    if (!is_central(c) && q.view.operator_index != c->actor) {
        fail(c, JZ_FORBIDDEN, field, "the wallet belongs to another institution");
        return -1;
    }
    *out = q.view;
    return 0;
}

void api_write_wallet(api *a, struct jbuf *b, const struct ledger_wallet_view *w)
{
    write_wallet(a, b, w);
}

int api_call_note(api_call *c, uint8_t topic, const jz_id *subject, const jz_id *other,
                  int64_t number, const void *data, size_t len)
{
    ASSERT(len <= JZ_HOLDER_SEALED_MAX);
    struct ledger_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.op = LEDGER_OP_NOTE;
    cmd.actor = (uint16_t)c->actor;
    cmd.kind = topic;
    if (subject) {
        cmd.id = *subject;
    }
    if (other) {
        cmd.debit = *other;
    }
    cmd.amount = number;
    cmd.holder_len = (uint8_t)len;
    if (len) {
        memcpy(cmd.holder, data, len);
    }
    struct ledger_result r;
    if (run_commands(c, &cmd, 1, &r, NULL, NULL) != 0) {
        return -1;
    }
    if (r.code != JZ_OK) {
        fail_result(c, &r);
        return -1;
    }
    return 0;
}

node *api_node(api *a)
{
    return a->node;
}

executor *api_executor(api *a)
{
    return a->ex;
}

int api_institution_index(api *a, const char *inst_id)
{
    int found = -1;
    pthread_rwlock_rdlock(&a->inst_mu);
    for (uint32_t i = 0; i < a->inst_count; i++) {
        if (strcmp(a->insts[i].id, inst_id) == 0) {
            found = (int)i;
            break;
        }
    }
    pthread_rwlock_unlock(&a->inst_mu);
    return found;
}

const char *api_institution_id(api *a, uint32_t index)
{
    return inst_name(a, index);
}

int api_add_merchant_key(api *a, const jz_id *key_id, const uint8_t secret[AUTH_SECRET_BYTES],
                         int institution, const jz_id *merchant)
{
    return auth_add_merchant_key(a->auth, key_id, secret, institution, merchant);
}

int64_t api_now_ms(api *a)
{
    return a->cfg.now_ms ? a->cfg.now_ms() : wall_ms();
}

void api_call_respond_type(api_call *c, int status, const char *content_type, bool page)
{
    c->resp->status = status;
    c->resp->content_type = content_type;
    c->resp->page = page;
}

void api_call_set_cookie(api_call *c, const char *value)
{
    snprintf(c->resp->set_cookie, sizeof c->resp->set_cookie, "%s", value);
}

const char *api_call_cookie(api_call *c)
{
    return c->req->cookie;
}

const struct api_config *api_get_config(api *a)
{
    return &a->cfg;
}

auth *api_auth(api *a)
{
    return a->auth;
}

void api_set_session_checker(api *a, api_session_fn check, void *state)
{
    a->session_check = check;
    a->session_state = state;
}

void api_transfer_latency(api *a, uint64_t out[METRICS_BUCKETS_MAX + 1])
{
    for (int i = 0; i <= METRICS_BUCKETS_MAX; i++) {
        out[i] = atomic_load_explicit(&a->latency[R_TRANSFERS].counts[i], memory_order_relaxed) +
                 atomic_load_explicit(&a->latency[R_TRANSFERS_BATCH].counts[i],
                                      memory_order_relaxed);
    }
}
