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
    struct ledger_cmd note = {.op = LEDGER_OP_NOTE, .kind = LEDGER_NOTE_TOKEN, .id = ev->subject,
                              .debit = ev->other, .amount = ev->number,
                              .holder_len = (uint8_t)strlen(ev->text)};
    struct ledger_result res = {.code = JZ_UNAVAILABLE};
    struct executor_request r;
    memcpy(note.holder, ev->text, note.holder_len);
    executor_request_init(&r);
    r.cmds = &note;
    r.results = &res;
    r.count = 1;
    bool durable = executor_run(api_executor(t->a), &r) == 0;
    executor_request_destroy(&r);
    return durable && res.code == JZ_OK ? 0 : -1;
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

/* Objects are written from a table of members, so each writer states its members once. */
enum member_kind { M_TEXT, M_INT, M_BOOL, M_ID_OR_NULL, M_LIST, M_OBJECT, M_OBJECTS };

struct member {
    const char *key;
    enum member_kind kind;
    const char *text;            /* M_TEXT; M_LIST: "a,b,c" written as ["a","b","c"] */
    int64_t n;                   /* M_INT, M_BOOL */
    const jz_id *id;             /* M_ID_OR_NULL: NULL writes null */
    const struct member *sub;    /* M_OBJECT; M_OBJECTS: n objects of nsub members each */
    size_t nsub;
};

static void write_members(struct jbuf *b, const struct member *m, size_t n)
{
    jb_lit(b, "{");
    for (size_t i = 0; i < n; i++) {
        jb_key(b, m[i].key, i == 0);
        switch (m[i].kind) {
        case M_TEXT: jb_cstr(b, m[i].text); break;
        case M_INT: jb_int(b, m[i].n); break;
        case M_BOOL: jb_lit(b, m[i].n ? "true" : "false"); break;
        case M_ID_OR_NULL:
            if (m[i].id) {
                jb_id(b, m[i].id);
            } else {
                jb_lit(b, "null");
            }
            break;
        case M_LIST:
            jb_lit(b, "[");
            for (const char *p = m[i].text; *p;) {
                size_t len = strcspn(p, ",");
                jb_lit(b, p == m[i].text ? "" : ",");
                jb_str(b, p, len);
                p += len + (p[len] == ',');
            }
            jb_lit(b, "]");
            break;
        case M_OBJECT: write_members(b, m[i].sub, m[i].nsub); break;
        case M_OBJECTS:
            jb_lit(b, "[");
            for (int64_t k = 0; k < m[i].n; k++) {
                jb_lit(b, k ? "," : "");
                write_members(b, m[i].sub + (size_t)k * m[i].nsub, m[i].nsub);
            }
            jb_lit(b, "]");
            break;
        }
    }
    jb_lit(b, "}");
}

/* A token as the routes show it; wallet only to its issuer and central. */
static void write_token(api_call *c, const struct token_info *t)
{
    bool owner = api_call_is_central(c) || strcmp(api_call_actor_id(c), t->issuer) == 0;
    const struct member domain[] = {
        {.key = "requestor", .kind = M_TEXT, .text = t->domain.requestor},
        {.key = "channel", .kind = M_TEXT, .text = t->domain.channel},
    };
    const struct member m[] = {
        {.key = "token", .kind = M_TEXT, .text = t->token},
        {.key = "last4", .kind = M_TEXT, .text = t->last4},
        {.key = "expiry", .kind = M_TEXT, .text = t->expiry},
        {.key = "status", .kind = M_TEXT, .text = token_status_name(t->status)},
        {.key = "expired", .kind = M_BOOL, .n = t->expired},
        {.key = "issuer", .kind = M_TEXT, .text = t->issuer},
        {.key = "wallet", .kind = M_ID_OR_NULL, .id = owner ? &t->wallet : NULL},
        {.key = "domain", .kind = M_OBJECT, .sub = domain, .nsub = JZ_ARRAY_LEN(domain)},
        {.key = "created_at", .kind = M_INT, .n = t->created_at},
        {.key = "updated_at", .kind = M_INT, .n = t->updated_at},
    };
    write_members(api_call_out(c), m, JZ_ARRAY_LEN(m));
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

/* The card and its expiry, checked before anything is looked up. */
static int check_card(api_call *c, const char *pan, const char *expiry)
{
    int64_t expires_at = 0;
    if (token_pan_check(pan) != JZ_OK) {
        fail_code(c, JZ_INVALID_PAN, "pan");
        return -1;
    }
    if (token_expiry_parse(expiry, api_now_ms(api_call_api(c)), &expires_at) != JZ_OK) {
        fail_code(c, JZ_INVALID_EXPIRY, "expiry");
        return -1;
    }
    return 0;
}

static void tokenize_parsed(api_call *c, struct token_api *t, struct token_request *rq)
{
    int64_t now = api_now_ms(api_call_api(c));
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
    } else if (check_card(c, pan, expiry) == 0 && parse_domain(c, domain, &rq.domain) == 0) {
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
    const struct member m[] = {
        {.key = "id", .kind = M_INT, .n = a->id},
        {.key = "kind", .kind = M_TEXT, .text = a->kind},
        {.key = "requestor", .kind = M_TEXT, .text = a->requestor},
        {.key = "issuers", .kind = M_LIST, .text = a->issuers},
        {.key = "count", .kind = M_INT, .n = a->count},
        {.key = "threshold", .kind = M_INT, .n = a->threshold},
        {.key = "window_ms", .kind = M_INT, .n = a->window_ms},
        {.key = "first_at", .kind = M_INT, .n = a->first_at},
        {.key = "last_at", .kind = M_INT, .n = a->last_at},
        {.key = "created_at", .kind = M_INT, .n = a->created_at},
        {.key = "status", .kind = M_TEXT, .text = "open"},
    };
    write_members(b, m, JZ_ARRAY_LEN(m));
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
    struct member keys[TOKEN_KEYS_MAX][2];
    if (token_key_status(t->vault, &ks) != 0) {
        fail_code(c, JZ_UNAVAILABLE, "");
        return;
    }
    for (size_t i = 0; i < ks.nkeys; i++) {
        keys[i][0] = (struct member){.key = "version", .kind = M_INT, .n = ks.versions[i]};
        keys[i][1] = (struct member){.key = "rows", .kind = M_INT, .n = (int64_t)ks.rows[i]};
    }
    const struct member m[] = {
        {.key = "current", .kind = M_INT, .n = ks.current},
        {.key = "rotating", .kind = M_BOOL, .n = ks.rotating},
        {.key = "tokens", .kind = M_INT, .n = (int64_t)ks.tokens},
        {.key = "keys", .kind = M_OBJECTS, .sub = keys[0], .nsub = 2, .n = (int64_t)ks.nkeys},
    };
    write_members(api_call_out(c), m, JZ_ARRAY_LEN(m));
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

/* invalid_field naming prefix + field ("transfers[3]." + "token"). */
static int transfer_refused(struct api_error *e, const char *prefix, const char *field,
                            const char *message)
{
    api_fail(e, JZ_INVALID_FIELD, "", "%s", message);
    snprintf(e->field, sizeof e->field, "%s%s", prefix, field);
    return -1;
}

int token_transfer_parse(const char *token, const char *prefix, struct ledger_cmd *cmd,
                         struct api_error *e)
{
    if (cmd->kind != LEDGER_KIND_EXCHANGE_IN && cmd->kind != LEDGER_KIND_EXCHANGE_OUT) {
        return transfer_refused(e, prefix, "token",
                                "a token names the bank card of an exchange_in or exchange_out");
    }
    if (!token_param_ok(token)) {
        return transfer_refused(e, prefix, "token", "a token is 13-19 digits");
    }
    if (cmd->ref_len > 0) {
        return transfer_refused(e, prefix, "ref",
                                "a transfer naming a token carries it in ref: leave ref out");
    }
    cmd->ref_len = (uint8_t)snprintf(cmd->ref, sizeof cmd->ref, TOKEN_REF_PREFIX "%s", token);
    return 0;
}

/* The checks of one command naming a token in its ref (under g_active_mu). */
static int authorize_one(struct token_api *t, const struct ledger_cmd *cmd)
{
    char token[JZ_REF_MAX + 1];
    size_t skip = strlen(TOKEN_REF_PREFIX);
    bool in = cmd->kind == LEDGER_KIND_EXCHANGE_IN;
    memcpy(token, cmd->ref + skip, cmd->ref_len - skip);
    token[cmd->ref_len - skip] = '\0';
    if ((!in && cmd->kind != LEDGER_KIND_EXCHANGE_OUT) || !token_param_ok(token) || !t) {
        return JZ_INVALID_FIELD;
    }
    int rc = token_check_payment(t->vault, token, api_institution_id(t->a, cmd->actor),
                                 in ? &cmd->credit : &cmd->debit, api_now_ms(t->a));
    if (rc != JZ_OK && rc != JZ_UNAVAILABLE && transfer_known(t, &cmd->id)) {
        rc = JZ_OK;
    }
    return rc;
}

int token_transfer_authorize(const struct ledger_cmd *cmds, size_t n, bool batch,
                             struct api_error *e)
{
    size_t skip = strlen(TOKEN_REF_PREFIX);
    int rc = JZ_OK;
    size_t i = 0;
    pthread_rwlock_rdlock(&g_active_mu);
    for (; rc == JZ_OK && i < n; i++) {
        if (cmds[i].ref_len > skip && memcmp(cmds[i].ref, TOKEN_REF_PREFIX, skip) == 0) {
            rc = authorize_one(g_active, &cmds[i]);
        }
    }
    bool enabled = g_active != NULL;
    pthread_rwlock_unlock(&g_active_mu);
    if (rc == JZ_OK) {
        return 0;
    }
    const char *why = rc == JZ_FORBIDDEN ? "the token was issued by another institution"
                      : rc != JZ_INVALID_FIELD ? token_message(rc, "")
                      : enabled ? "a token: ref names the bank card of an exchange_in or "
                                  "exchange_out by a 13-19 digit token"
                                : "payment tokens are not enabled on this node";
    api_fail(e, rc, "", "%s", why);
    if (batch) {
        snprintf(e->field, sizeof e->field, "transfers[%zu].token", i - 1);
    } else {
        snprintf(e->field, sizeof e->field, "token");
    }
    return -1;
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
    {"POST", "/v1/tokens", API_EXT_OPERATORS, false, 0, h_tokenize, false},
    {"GET", "/v1/tokens/alerts", API_EXT_ANY, false, 0, h_alerts, false},
    {"GET", "/v1/tokens/keys", API_EXT_CENTRAL, false, 0, h_keys, false},
    {"POST", "/v1/tokens/keys/rotate", API_EXT_CENTRAL, true, 0, h_rotate, false},
    {"GET", "/v1/tokens/{token}", API_EXT_ANY, false, 0, h_get, false},
    {"PATCH", "/v1/tokens/{token}", API_EXT_ANY, false, 0, h_patch, false},
    {"POST", "/v1/tokens/{token}/detokenize", API_EXT_ANY, false, 0, h_detokenize, false},
};

const struct api_ext api_ext_tokens = {
    .name = "tokens",
    .routes = token_routes,
    .nroutes = JZ_ARRAY_LEN(token_routes),
    .open = token_api_open,
    .close = token_api_close,
    .metrics = token_api_metrics,
};
