/*
 * api_token.c: the payment-token routes (API.md "Tokens", docs/api.md, docs/tokens.md) over
 * the vault of token.h, and the check of transfers that name a token (token.h's hook).
 *
 *   POST  /v1/tokens                     tokenise a card for one of the caller's wallets
 *   GET   /v1/tokens/alerts              bursts of detokenisations (central: all; an operator:
 *                                        those involving its tokens)
 *   GET   /v1/tokens/keys                the vault's data keys and their rows (central)
 *   POST  /v1/tokens/keys/rotate         start a key rotation (central)
 *   GET   /v1/tokens/{token}             metadata, never the card (central, issuer, requestor)
 *   PATCH /v1/tokens/{token}             {"status"}: suspended, active, deleted (issuer)
 *   POST  /v1/tokens/{token}/detokenize  {"requestor","channel"} -> {"pan"} (issuer, or the
 *                                        requestor naming the token's own domain)
 *
 * Every tokenisation, status change and detokenisation (refused ones included) is journalled
 * as a NOTE of topic LEDGER_NOTE_TOKEN by the caller before it takes effect; the rotation
 * worker's events are journalled by central (actor 0). The card number is read from the body
 * into a buffer wiped after use, and leaves only in the answer of a detokenisation.
 */
#include <pthread.h>

#include "api_ext.h"
#include "crypto.h"
#include "metrics.h"
#include "token.h"

struct token_api {
    api *a;
    token_vault *vault;
};

/* The vault the transfer hook checks against: the last one opened (one api a process). */
static struct token_api *g_active;
static pthread_rwlock_t g_active_mu = PTHREAD_RWLOCK_INITIALIZER;

/* ---- Journal ---- */

/* For a request: the caller journals it (api_call_note sets the answer when it fails). */
static int journal_call(void *ctx, const struct token_event *ev)
{
    return api_call_note(ctx, LEDGER_NOTE_TOKEN, &ev->subject, &ev->other, ev->number, ev->text,
                         strlen(ev->text));
}

/* For the rotation worker, which has no request: a NOTE by central. */
static int journal_system(void *ctx, const struct token_event *ev)
{
    struct token_api *t = ctx;
    struct ledger_cmd cmd;
    struct ledger_result res;
    struct executor_request r;
    memset(&cmd, 0, sizeof cmd);
    cmd.op = LEDGER_OP_NOTE;
    cmd.kind = LEDGER_NOTE_TOKEN;
    cmd.id = ev->subject;
    cmd.debit = ev->other;
    cmd.amount = ev->number;
    cmd.holder_len = (uint8_t)strlen(ev->text);
    memcpy(cmd.holder, ev->text, cmd.holder_len);
    executor_request_init(&r);
    r.cmds = &cmd;
    r.results = &res;
    r.count = 1;
    int rc = executor_run(api_executor(t->a), &r);
    executor_request_destroy(&r);
    return rc == 0 && res.code == JZ_OK ? 0 : -1;
}

_Static_assert(TOKEN_EVENT_TEXT_MAX <= JZ_HOLDER_SEALED_MAX, "an event fits a NOTE");

/* ---- Answers ---- */

static const char *token_message(int code, const char *field)
{
    switch (code) {
    case JZ_TOKEN_NOT_FOUND: return "no such token";
    case JZ_TOKEN_SUSPENDED: return "the token is suspended";
    case JZ_TOKEN_DELETED: return "the token is deleted";
    case JZ_TOKEN_EXPIRED: return "the token has expired with its card";
    case JZ_INVALID_PAN: return "pan must be a card number: 13-19 digits passing the Luhn check";
    case JZ_INVALID_EXPIRY:
        return "expiry must be YYMM: a month not over yet, at most 20 years ahead";
    case JZ_TOKEN_WALLET_MISMATCH: return "the token is bound to another wallet";
    case JZ_TOKEN_RANGE_EXHAUSTED: return "no free token left in the range: widen token_prefix";
    case JZ_ROTATION_IN_PROGRESS: return "a key rotation is still re-encrypting the vault";
    case JZ_FORBIDDEN:
        return "outside the token's domain: only its issuer, or its requestor on its channel";
    case JZ_ID_CONFLICT:
        return strcmp(field, "wallet") == 0
                   ? "the card has a token in this domain bound to another wallet"
                   : "the card has a token in this domain with another expiry: delete it first";
    case JZ_UNAVAILABLE: return "the token vault or the journal failed";
    default: return jz_result_name(code);
    }
}

static void fail_code(api_call *c, int code, const char *field)
{
    api_call_fail(c, code, field, token_message(code, field ? field : ""));
}

/* A token as the routes show it; wallet only to its issuer and central. */
static void write_token(api_call *c, const struct token_info *t)
{
    struct jbuf *b = api_call_out(c);
    bool owner = api_call_is_central(c) || strcmp(api_call_actor_id(c), t->issuer) == 0;
    jb_lit(b, "{\"token\":");
    jb_cstr(b, t->token);
    jb_lit(b, ",\"last4\":");
    jb_cstr(b, t->last4);
    jb_lit(b, ",\"expiry\":");
    jb_cstr(b, t->expiry);
    jb_lit(b, ",\"status\":");
    jb_cstr(b, token_status_name(t->status));
    jb_lit(b, t->expired ? ",\"expired\":true" : ",\"expired\":false");
    jb_lit(b, ",\"issuer\":");
    jb_cstr(b, t->issuer);
    jb_lit(b, ",\"wallet\":");
    if (owner) {
        jb_id(b, &t->wallet);
    } else {
        jb_lit(b, "null");
    }
    jb_lit(b, ",\"domain\":{\"requestor\":");
    jb_cstr(b, t->domain.requestor);
    jb_lit(b, ",\"channel\":");
    jb_cstr(b, t->domain.channel);
    jb_lit(b, "},\"created_at\":");
    jb_int(b, t->created_at);
    jb_lit(b, ",\"updated_at\":");
    jb_int(b, t->updated_at);
    jb_lit(b, "}");
}

static bool token_param_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= TOKEN_PAN_MIN && n <= TOKEN_LEN_MAX && strspn(s, "0123456789") == n;
}

/* The {token} of the path; -1 with the answer set when malformed. */
static const char *path_token(api_call *c)
{
    const char *t = api_call_param(c, 0);
    if (!token_param_ok(t)) {
        api_call_fail(c, JZ_INVALID_FIELD, "token", "a token is 13-19 digits");
        return NULL;
    }
    return t;
}

/* ---- POST /v1/tokens ---- */

/* The domain object: requestor (an existing institution other than central) and channel. */
static int parse_domain(api_call *c, json_t *obj, struct token_domain *d)
{
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "requestor", .type = FIELD_INST_ID, .required = true, .out = d->requestor},
        {.name = "channel", .type = FIELD_STRING, .required = true, .out = d->channel, .min = 1,
         .max = TOKEN_CHANNEL_MAX},
    };
    if (json_fields_parse(obj, specs, JZ_ARRAY_LEN(specs), "domain.", &e) != 0) {
        api_call_fail_error(c, &e);
        return -1;
    }
    if (!token_channel_valid(d->channel)) {
        api_call_fail(c, JZ_INVALID_FIELD, "domain.channel",
                      "a channel is 1-32 characters [a-z0-9_.:-]");
        return -1;
    }
    if (strcmp(d->requestor, "central") == 0) {
        api_call_fail(c, JZ_INVALID_FIELD, "domain.requestor",
                      "the central bank is not a token requestor");
        return -1;
    }
    if (api_institution_index(api_call_api(c), d->requestor) < 0) {
        api_call_fail(c, JZ_INSTITUTION_NOT_FOUND, "domain.requestor", "no institution has this id");
        return -1;
    }
    return 0;
}

/* The wallet a token is bound to: the caller's, a customer's (not a treasury), not closed. */
static int check_wallet(api_call *c, const jz_id *wallet)
{
    struct ledger_wallet_view w;
    if (api_call_wallet(c, wallet, "wallet", &w) != 0) {
        return -1;
    }
    if (w.kind == LEDGER_WALLET_TREASURY) {
        api_call_fail(c, JZ_INVALID_FIELD, "wallet", "a token is bound to a customer's wallet");
        return -1;
    }
    if (w.status == LEDGER_STATUS_CLOSED) {
        api_call_fail(c, JZ_WALLET_CLOSED, "wallet", "the wallet is closed");
        return -1;
    }
    return 0;
}

static void tokenize_parsed(api_call *c, struct token_api *t, struct token_request *rq)
{
    int64_t now = api_now_ms(api_call_api(c));
    int64_t expires_at = 0;
    if (token_pan_check(rq->pan) != JZ_OK) {
        fail_code(c, JZ_INVALID_PAN, "pan");
        return;
    }
    if (token_expiry_parse(rq->expiry, now, &expires_at) != JZ_OK) {
        fail_code(c, JZ_INVALID_EXPIRY, "expiry");
        return;
    }
    if (check_wallet(c, &rq->wallet) != 0) {
        return;
    }
    struct token_info info;
    bool created = false;
    const char *field = "";
    int rc = token_tokenize(t->vault, rq, now, journal_call, c, &info, &created, &field);
    if (rc != JZ_OK) {
        fail_code(c, rc, field);
        return;
    }
    write_token(c, &info);
    api_call_respond(c, created ? 201 : 200);
}

static void h_tokenize(api_call *c, json_t *body)
{
    struct token_api *t = api_call_state(c);
    char pan[65] = "";
    char expiry[17] = "";
    json_t *domain = NULL;
    struct token_request rq;
    struct api_error e;
    memset(&rq, 0, sizeof rq);
    const struct field_spec specs[] = {
        {.name = "pan", .type = FIELD_STRING, .required = true, .out = pan, .min = 1, .max = 64},
        {.name = "expiry", .type = FIELD_STRING, .required = true, .out = expiry, .min = 1,
         .max = 16},
        {.name = "wallet", .type = FIELD_ID, .required = true, .out = &rq.wallet},
        {.name = "domain", .type = FIELD_OBJECT, .required = true, .out = &domain},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
    } else if (parse_domain(c, domain, &rq.domain) == 0) {
        rq.pan = pan;
        rq.expiry = expiry;
        rq.issuer = api_call_actor_id(c);
        tokenize_parsed(c, t, &rq);
    }
    crypto_wipe(pan, sizeof pan);
}

/* ---- GET, PATCH, detokenize ---- */

static void h_get(api_call *c, json_t *body)
{
    (void)body;
    struct token_api *t = api_call_state(c);
    const char *token = path_token(c);
    struct token_info info;
    if (!token) {
        return;
    }
    int rc = token_get(t->vault, token, api_now_ms(api_call_api(c)), &info);
    const char *me = api_call_actor_id(c);
    if (rc == JZ_OK && !api_call_is_central(c) && strcmp(me, info.issuer) != 0 &&
        strcmp(me, info.domain.requestor) != 0) {
        api_call_fail(c, JZ_FORBIDDEN, "token", "neither the token's issuer nor its requestor");
    } else if (rc != JZ_OK) {
        fail_code(c, rc, "token");
    } else {
        write_token(c, &info);
        api_call_respond(c, 200);
    }
}

static void h_patch(api_call *c, json_t *body)
{
    static const char *const statuses[] = {"active", "suspended", "deleted", NULL};
    struct token_api *t = api_call_state(c);
    const char *token = path_token(c);
    int status = 0;
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "status", .type = FIELD_ENUM, .required = true, .out = &status,
         .choices = statuses},
    };
    if (!token) {
        return;
    }
    if (json_fields_parse(body, specs, 1, "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    struct token_info info;
    int rc = token_set_status(t->vault, token, api_call_actor_id(c), status, /* enum order */
                              api_now_ms(api_call_api(c)), journal_call, c, &info);
    if (rc == JZ_FORBIDDEN) {
        api_call_fail(c, rc, "token", "only the token's issuer changes its status");
    } else if (rc != JZ_OK) {
        fail_code(c, rc, rc == JZ_INVALID_FIELD ? "status" : "token");
    } else {
        write_token(c, &info);
        api_call_respond(c, 200);
    }
}
_Static_assert(TOKEN_ACTIVE == 1 && TOKEN_SUSPENDED == 2 && TOKEN_DELETED == 3,
               "PATCH's choices are in enum token_status order");

static void h_detokenize(api_call *c, json_t *body)
{
    struct token_api *t = api_call_state(c);
    const char *token = path_token(c);
    struct token_domain asked;
    struct api_error e;
    memset(&asked, 0, sizeof asked);
    const struct field_spec specs[] = {
        {.name = "requestor", .type = FIELD_INST_ID, .required = true, .out = asked.requestor},
        {.name = "channel", .type = FIELD_STRING, .required = true, .out = asked.channel,
         .min = 1, .max = TOKEN_CHANNEL_MAX},
    };
    if (!token) {
        return;
    }
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    if (!token_channel_valid(asked.channel)) {
        api_call_fail(c, JZ_INVALID_FIELD, "channel", "a channel is 1-32 characters [a-z0-9_.:-]");
        return;
    }
    char pan[TOKEN_PAN_MAX + 1];
    int rc = token_detokenize(t->vault, token, api_call_actor_id(c), &asked,
                              api_now_ms(api_call_api(c)), journal_call, c, pan);
    if (rc != JZ_OK) {
        fail_code(c, rc, "token");
        return;
    }
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"pan\":");
    jb_cstr(b, pan);
    jb_lit(b, "}");
    crypto_wipe(pan, sizeof pan);
    api_call_respond(c, 200);
}

/* ---- Alerts and keys ---- */

/* limit=N (1-1000, default 100) and before=ID from the query string. */
static int alert_params(api_call *c, size_t *limit, int64_t *before)
{
    const char *q = api_call_query(c);
    *limit = 100;
    *before = 0;
    while (*q) {
        char key[16] = "";
        long long v = -1;
        int used = 0;
        if (sscanf(q, "%15[a-z]=%lld%n", key, &v, &used) != 2 || (q[used] && q[used] != '&')) {
            api_call_fail(c, JZ_INVALID_FIELD, key, "query parameters are limit=N and before=ID");
            return -1;
        }
        if (strcmp(key, "limit") == 0 && v >= 1 && v <= 1000) {
            *limit = (size_t)v;
        } else if (strcmp(key, "before") == 0 && v >= 1) {
            *before = v;
        } else {
            api_call_fail(c, strcmp(key, "limit") && strcmp(key, "before") ? JZ_UNKNOWN_FIELD
                                                                          : JZ_INVALID_FIELD,
                          key, "limit is 1-1000; before is an alert id");
            return -1;
        }
        q += used + (q[used] == '&');
    }
    return 0;
}

static void write_alert(struct jbuf *b, const struct vault_alert_row *a)
{
    jb_lit(b, "{\"id\":");
    jb_int(b, a->id);
    jb_lit(b, ",\"kind\":");
    jb_cstr(b, a->kind);
    jb_lit(b, ",\"requestor\":");
    jb_cstr(b, a->requestor);
    jb_lit(b, ",\"issuers\":[");
    const char *p = a->issuers;
    for (bool first = true; *p; first = false) {
        size_t n = strcspn(p, ",");
        jb_lit(b, first ? "" : ",");
        jb_str(b, p, n);
        p += n + (p[n] == ',');
    }
    jb_lit(b, "],\"count\":");
    jb_int(b, a->count);
    jb_lit(b, ",\"threshold\":");
    jb_int(b, a->threshold);
    jb_lit(b, ",\"window_ms\":");
    jb_int(b, a->window_ms);
    jb_lit(b, ",\"first_at\":");
    jb_int(b, a->first_at);
    jb_lit(b, ",\"last_at\":");
    jb_int(b, a->last_at);
    jb_lit(b, ",\"created_at\":");
    jb_int(b, a->created_at);
    jb_lit(b, ",\"status\":\"open\"}");
}

static void h_alerts(api_call *c, json_t *body)
{
    (void)body;
    struct token_api *t = api_call_state(c);
    size_t limit;
    int64_t before;
    if (alert_params(c, &limit, &before) != 0) {
        return;
    }
    struct vault_alert_row *rows = calloc(limit, sizeof *rows);
    size_t n = 0;
    const char *who = api_call_is_central(c) ? NULL : api_call_actor_id(c);
    if (!rows || token_alerts_list(t->vault, who, before, rows, limit, &n) != 0) {
        free(rows);
        fail_code(c, JZ_UNAVAILABLE, "");
        return;
    }
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"alerts\":[");
    for (size_t i = 0; i < n; i++) {
        jb_lit(b, i ? "," : "");
        write_alert(b, &rows[i]);
    }
    jb_lit(b, "],\"next_before\":");
    if (n == limit) {
        jb_int(b, rows[n - 1].id);
    } else {
        jb_lit(b, "null");
    }
    jb_lit(b, "}");
    free(rows);
    api_call_respond(c, 200);
}

static void respond_keys(api_call *c, struct token_api *t)
{
    struct token_key_status ks;
    if (token_key_status(t->vault, &ks) != 0) {
        fail_code(c, JZ_UNAVAILABLE, "");
        return;
    }
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"current\":");
    jb_int(b, ks.current);
    jb_lit(b, ks.rotating ? ",\"rotating\":true" : ",\"rotating\":false");
    jb_lit(b, ",\"tokens\":");
    jb_uint(b, ks.tokens);
    jb_lit(b, ",\"keys\":[");
    for (size_t i = 0; i < ks.nkeys; i++) {
        jb_lit(b, i ? ",{\"version\":" : "{\"version\":");
        jb_int(b, ks.versions[i]);
        jb_lit(b, ",\"rows\":");
        jb_uint(b, ks.rows[i]);
        jb_lit(b, "}");
    }
    jb_lit(b, "]}");
    api_call_respond(c, 200);
}

static void h_keys(api_call *c, json_t *body)
{
    (void)body;
    respond_keys(c, api_call_state(c));
}

static void h_rotate(api_call *c, json_t *body)
{
    struct token_api *t = api_call_state(c);
    struct api_error e;
    struct field_spec none[1];
    uint32_t version = 0;
    if (body && json_fields_parse(body, none, 0, "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    int rc = token_rotate_begin(t->vault, api_now_ms(api_call_api(c)), journal_call, c, &version);
    if (rc != JZ_OK) {
        fail_code(c, rc, "");
        return;
    }
    if (token_rotation_start(t->vault, journal_system, t) != 0) {
        fail_code(c, JZ_UNAVAILABLE, "");
        return;
    }
    respond_keys(c, t);
}

/* ---- The transfer hook ---- */

struct known_query {
    jz_id id;
    bool known;
};

static void query_known(const ledger *l, void *ctx)
{
    struct known_query *q = ctx;
    struct ledger_result r;
    q->known = ledger_transfer_result(l, &q->id, &r) == 0;
}

/* Whether the ledger remembers this transfer id (then it, not the token, answers). */
static bool transfer_known(struct token_api *t, const jz_id *id)
{
    struct known_query q = {.id = *id};
    struct executor_request r;
    executor_request_init(&r);
    r.query = query_known;
    r.query_ctx = &q;
    bool known = executor_run(api_executor(t->a), &r) == 0 && q.known;
    executor_request_destroy(&r);
    return known;
}

static int check_transfer(struct token_api *t, const char *token, struct ledger_cmd *cmd,
                          struct api_error *e)
{
    bool in = cmd->kind == LEDGER_KIND_EXCHANGE_IN;
    if (!in && cmd->kind != LEDGER_KIND_EXCHANGE_OUT) {
        return api_fail(e, JZ_INVALID_FIELD, "token",
                        "a token names the bank card of an exchange_in or exchange_out");
    }
    if (!token_param_ok(token)) {
        return api_fail(e, JZ_INVALID_FIELD, "token", "a token is 13-19 digits");
    }
    if (cmd->ref_len > 0) {
        return api_fail(e, JZ_INVALID_FIELD, "ref",
                        "a transfer naming a token carries it in ref: leave ref out");
    }
    int rc = token_check_payment(t->vault, token, api_institution_id(t->a, cmd->actor),
                                 in ? &cmd->credit : &cmd->debit, api_now_ms(t->a));
    if (rc != JZ_OK && rc != JZ_UNAVAILABLE && transfer_known(t, &cmd->id)) {
        rc = JZ_OK;
    }
    if (rc != JZ_OK) {
        return api_fail(e, rc, "token", "%s",
                        rc == JZ_FORBIDDEN ? "the token was issued by another institution"
                                           : token_message(rc, ""));
    }
    cmd->ref_len = (uint8_t)snprintf(cmd->ref, sizeof cmd->ref, "token:%s", token);
    return 0;
}

int token_transfer_check(const char *token, const char *prefix, struct ledger_cmd *cmd,
                         struct api_error *e)
{
    pthread_rwlock_rdlock(&g_active_mu);
    int rc = g_active ? check_transfer(g_active, token, cmd, e)
                      : api_fail(e, JZ_INVALID_FIELD, "token",
                                 "payment tokens are not enabled on this node");
    pthread_rwlock_unlock(&g_active_mu);
    if (rc != 0) {
        /* The field in the body: "token", "ref", or "transfers[3].token" in a batch. */
        char field[sizeof e->field];
        snprintf(field, sizeof field, "%s%s", prefix, e->field);
        snprintf(e->field, sizeof e->field, "%s", field);
    }
    return rc;
}

/* ---- The module ---- */

static void token_api_metrics(void *state, struct jbuf *b)
{
    struct token_api *t = state;
    struct token_stats st;
    token_get_stats(t->vault, &st);
    metrics_write_counter(b, "jiaozi_token_tokenizations_total", "Cards tokenised.",
                          st.tokenized);
    metrics_write_counter(b, "jiaozi_token_detokenizations_total",
                          "Card numbers returned by detokenisation.", st.detokenized);
    metrics_write_counter(b, "jiaozi_token_detokenizations_refused_total",
                          "Detokenisations refused as outside the token's domain.", st.refused);
    metrics_write_counter(b, "jiaozi_token_alerts_total",
                          "Bursts of detokenisations raised as alerts.", st.alerts);
    metrics_write_counter(b, "jiaozi_token_collisions_total",
                          "Random tokens already taken, drawn again.", st.collisions);
    metrics_write_counter(b, "jiaozi_token_rows_resealed_total",
                          "Card records re-encrypted by key rotations.", st.resealed);
    metrics_write_gauge(b, "jiaozi_token_data_key_version",
                        "Version of the data key sealing new card records.", st.key_version);
    metrics_write_gauge(b, "jiaozi_token_data_keys",
                        "Data keys in the vault (2 while a rotation re-encrypts).",
                        st.data_keys);
}

static int token_api_open(api *a, void **state, char *err, size_t err_len)
{
    struct token_api *t = calloc(1, sizeof *t);
    struct token_config cfg;
    char why[900] = "out of memory";
    const char *dir = node_dir(api_node(a));
    token_config_default(&cfg);
    if (!t || token_config_read(dir, &cfg, why, sizeof why) != 0 ||
        token_vault_open(dir, &cfg, &t->vault, why, sizeof why) != 0) {
        snprintf(err, err_len, "token vault: %s", why);
        free(t);
        return -1;
    }
    t->a = a;
    /* A rotation a crash interrupted goes on where it was. */
    token_rotation_start(t->vault, journal_system, t);
    pthread_rwlock_wrlock(&g_active_mu);
    g_active = t;
    pthread_rwlock_unlock(&g_active_mu);
    *state = t;
    return 0;
}

static void token_api_close(void *state)
{
    struct token_api *t = state;
    pthread_rwlock_wrlock(&g_active_mu);
    if (g_active == t) {
        g_active = NULL;
    }
    pthread_rwlock_unlock(&g_active_mu);
    token_vault_close(t->vault);
    free(t);
}

/* Literal routes before the {token} ones: the first match wins. */
static const struct api_ext_route token_routes[] = {
    {"POST", "/v1/tokens", API_EXT_OPERATORS, false, 0, h_tokenize},
    {"GET", "/v1/tokens/alerts", API_EXT_ANY, false, 0, h_alerts},
    {"GET", "/v1/tokens/keys", API_EXT_CENTRAL, false, 0, h_keys},
    {"POST", "/v1/tokens/keys/rotate", API_EXT_CENTRAL, true, 0, h_rotate},
    {"GET", "/v1/tokens/{token}", API_EXT_ANY, false, 0, h_get},
    {"PATCH", "/v1/tokens/{token}", API_EXT_ANY, false, 0, h_patch},
    {"POST", "/v1/tokens/{token}/detokenize", API_EXT_ANY, false, 0, h_detokenize},
};

const struct api_ext api_ext_tokens = {
    .name = "tokens",
    .routes = token_routes,
    .nroutes = JZ_ARRAY_LEN(token_routes),
    .open = token_api_open,
    .close = token_api_close,
    .metrics = token_api_metrics,
};
