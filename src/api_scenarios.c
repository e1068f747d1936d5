/*
 * api_scenarios.c: the payment scenarios' routes (issue 7), their module state and the
 * expiry ticker. See scenario_int.h for the files and docs/scenarios.md for the design.
 *
 * The ticker: restricted wallets are swept by the ledger at the start of the first batch
 * stamped at or after their expiry (ledger.h). On a busy node that batch comes at once; on
 * an idle one it might not come for a long time, and balances would read as unswept. So a
 * thread wakes a few times a second and, once the earliest expiry it knows of is due, asks
 * the ledger and journals a NOTE ("expiry due"), whose batch sweeps. It knows the expiries
 * from the ledger (read at start and after each sweep) and from the restricted wallets this
 * module opens, so it adds nothing to the executor's queue while none is due. Replay needs
 * no ticker: the journal holds that batch with its timestamp.
 */
#include <errno.h>
#include <time.h>

#include "crypto.h"
#include "ledger.h"
#include "node.h"
#include "scenario_int.h"

#define TICK_MS 200

/* Routes have at most four segments after /v1 (the core's router splits no more). */
#define BILLS_BODY_MAX (2u << 20) /* a file of 10,000 bills */
#define ROUTE(m, p, acc, h, ...) {.method = m, .pattern = p, .access = acc, .handler = h, __VA_ARGS__}

static const struct api_ext_route routes[] = {
    ROUTE("POST", "/v1/wallets/{id}/children", API_EXT_OPERATORS, scen_h_children_open),
    ROUTE("GET", "/v1/wallets/{id}/children", API_EXT_ANY, scen_h_children_list),
    ROUTE("POST", "/v1/disbursements", API_EXT_OPERATORS, scen_h_disburse),
    ROUTE("POST", "/v1/merchants", API_EXT_OPERATORS, scen_h_merchant_create),
    ROUTE("GET", "/v1/merchants/{id}", API_EXT_ANY, scen_h_merchant_get, .merchant_ok = true),
    ROUTE("POST", "/v1/orders", API_EXT_OPERATORS, scen_h_order_create, .merchant_ok = true),
    ROUTE("GET", "/v1/orders/{id}", API_EXT_ANY, scen_h_order_get, .merchant_ok = true),
    ROUTE("POST", "/v1/orders/{id}/refunds", API_EXT_OPERATORS, scen_h_refund, .merchant_ok = true),
    ROUTE("POST", "/v1/pay", API_EXT_OPERATORS, scen_h_pay),
    ROUTE("POST", "/v1/billers", API_EXT_OPERATORS, scen_h_biller_create),
    ROUTE("GET", "/v1/billers/{id}", API_EXT_ANY, scen_h_biller_get),
    ROUTE("POST", "/v1/billers/{id}/bills", API_EXT_OPERATORS, scen_h_bills_upload, .body_max = BILLS_BODY_MAX),
    ROUTE("GET", "/v1/billers/{id}/bills/{reference}", API_EXT_ANY, scen_h_bill_get),
    ROUTE("POST", "/v1/billers/{id}/payments", API_EXT_OPERATORS, scen_h_bill_pay),
    ROUTE("GET", "/v1/billers/{id}/paid", API_EXT_ANY, scen_h_bills_paid),
    ROUTE("POST", "/v1/campaigns", API_EXT_OPERATORS, scen_h_campaign_create),
    ROUTE("GET", "/v1/campaigns/{id}", API_EXT_ANY, scen_h_campaign_get),
    ROUTE("POST", "/v1/campaigns/{id}/registrations", API_EXT_OPERATORS, scen_h_register),
    ROUTE("POST", "/v1/campaigns/{id}/draw", API_EXT_OPERATORS, scen_h_draw),
    ROUTE("GET", "/v1/campaigns/{id}/draw", API_EXT_ANY, scen_h_draw_get),
};

/* ---- Shared helpers (scenario_int.h) ---- */

void scen_derive(const char *tag, const void *a, size_t a_len, const void *b, size_t b_len,
                 jz_id *out)
{
    static const char prefix[] = "jiaozi-scenario";
    uint8_t digest[CRYPTO_SM3_BYTES];
    crypto_sm3_ctx *h = crypto_sm3_new();
    /* SM3 cannot fail on memory we own; the only failure is an allocation at start-up. */
    ASSERT(h != NULL);
    ASSERT(crypto_sm3_init(h) == 0 && crypto_sm3_update(h, prefix, sizeof prefix) == 0 &&
           crypto_sm3_update(h, tag, strlen(tag) + 1) == 0 &&
           crypto_sm3_update(h, a, a_len) == 0 && crypto_sm3_update(h, b, b_len) == 0 &&
           crypto_sm3_final(h, digest) == 0);
    crypto_sm3_free(h);
    memcpy(out->b, digest, sizeof out->b);
}

int scen_note(api_call *c, uint8_t event, const jz_id *subject, const jz_id *other,
              int64_t number, const void *data, size_t len)
{
    uint8_t buf[JZ_HOLDER_SEALED_MAX];
    ASSERT(len < sizeof buf);
    buf[0] = event;
    if (len) {
        memcpy(buf + 1, data, len);
    }
    return api_call_note(c, LEDGER_NOTE_SCENARIO, subject, other, number, buf, len + 1);
}

int scen_path_id(api_call *c, int i, jz_id *out)
{
    const char *p = api_call_param(c, i);
    if (jz_id_from_hex(p, strlen(p), out) != 0) {
        api_call_fail(c, JZ_INVALID_FIELD, "id", "ids are 32 lowercase hex digits");
        return -1;
    }
    return 0;
}

void scen_fail_store(api_call *c)
{
    api_call_fail(c, JZ_UNAVAILABLE, "", "the scenario store could not be used");
}

bool scen_found(api_call *c, int rc, int code, const char *field, const char *message)
{
    if (rc == 1) {
        api_call_fail(c, code, field, message);
    } else if (rc != 0) {
        scen_fail_store(c);
    }
    return rc == 0;
}

struct any_wallet_query {
    jz_id id;
    int64_t now;
    int found;
    struct ledger_wallet_view view;
};

static void query_any_wallet(const ledger *l, void *ctx)
{
    struct any_wallet_query *q = ctx;
    q->found = ledger_wallet_get(l, &q->id, q->now, &q->view) == 0;
}

int scen_wallet_any(api_call *c, const jz_id *id, const char *field,
                    struct ledger_wallet_view *out)
{
    struct any_wallet_query q = {.id = *id, .now = api_now_ms(api_call_api(c))};
    if (api_call_read(c, query_any_wallet, &q) != 0) {
        return -1;
    }
    if (!q.found) {
        api_call_fail(c, JZ_WALLET_NOT_FOUND, field, "no such wallet");
        return -1;
    }
    *out = q.view;
    return 0;
}

struct result_query {
    jz_id id;
    int known;
    struct ledger_result r;
};

static void query_result(const ledger *l, void *ctx)
{
    struct result_query *q = ctx;
    q->known = ledger_transfer_result(l, &q->id, &q->r) == 0;
}

int scen_transfer_result(api_call *c, const jz_id *id, struct ledger_result *r)
{
    struct result_query q = {.id = *id};
    if (api_call_read(c, query_result, &q) != 0) {
        return -1;
    }
    if (!q.known) {
        return 1;
    }
    *r = q.r;
    return 0;
}

void scen_write_transfer(struct jbuf *b, const struct ledger_cmd *cmd, int64_t timestamp,
                         bool open_end)
{
    jb_lit(b, "{\"id\":");
    jb_id(b, &cmd->id);
    jb_lit(b, ",\"debit\":");
    jb_id(b, &cmd->debit);
    jb_lit(b, ",\"credit\":");
    jb_id(b, &cmd->credit);
    jb_lit(b, ",\"amount\":");
    jb_int(b, cmd->amount);
    jb_lit(b, ",\"kind\":");
    jb_cstr(b, ledger_kind_name(cmd->kind));
    jb_lit(b, ",\"status\":\"posted\",\"timestamp\":");
    jb_int(b, timestamp);
    if (cmd->ref_len) {
        jb_lit(b, ",\"ref\":");
        jb_str(b, cmd->ref, cmd->ref_len);
    }
    if (cmd->memo_len) {
        jb_lit(b, ",\"memo\":");
        jb_str(b, cmd->memo, cmd->memo_len);
    }
    if (!open_end) {
        jb_lit(b, "}");
    }
}

void scen_fail_result(api_call *c, const struct ledger_result *r, const char *prefix)
{
    if (r->field == LEDGER_FIELD_RETURN_TO || r->field == LEDGER_FIELD_EXPIRES_AT ||
        r->field == LEDGER_FIELD_MCCS) {
        char field[64];
        struct api_error e;
        snprintf(field, sizeof field, "%s%s", prefix, ledger_field_name(r->field));
        api_fail(&e, r->code, field, "%s",
                 r->code == JZ_WALLET_NOT_FOUND ? "no such wallet" : "the restriction is invalid");
        api_call_fail_error(c, &e);
        return;
    }
    api_call_fail_result(c, r);
}

int scen_parse_mccs(api_call *c, json_t *arr, const char *field, uint16_t *mccs, uint8_t *count)
{
    size_t n = json_array_size(arr);
    if (n > JZ_RESTRICTION_MCCS_MAX) {
        api_call_fail(c, JZ_INVALID_FIELD, field, "at most 8 merchant category codes");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        json_int_t x = json_is_integer(v) ? json_integer_value(v) : 0;
        if (x < 1 || x > 9999) {
            api_call_fail(c, JZ_INVALID_FIELD, field,
                          "merchant category codes are integers 1-9999");
            return -1;
        }
        mccs[i] = (uint16_t)x;
    }
    *count = (uint8_t)n;
    return 0;
}

void scen_write_mccs(struct jbuf *b, const uint16_t *mccs, uint8_t count)
{
    jb_lit(b, "[");
    for (uint8_t i = 0; i < count; i++) {
        if (i) {
            jb_lit(b, ",");
        }
        jb_int(b, mccs[i]);
    }
    jb_lit(b, "]");
}


/* ---- The expiry ticker ---- */

struct next_query {
    int64_t next;
};

static void query_next_expiry(const ledger *l, void *ctx)
{
    ((struct next_query *)ctx)->next = ledger_next_expiry(l);
}

/* One request to the executor from the ticker's thread: a read (fn), or one command. */
static int exec_one(executor *ex, executor_query_fn fn, void *ctx, const struct ledger_cmd *cmd,
                    struct ledger_result *res)
{
    struct executor_request r;
    executor_request_init(&r);
    r.query = cmd ? NULL : fn;
    r.query_ctx = ctx;
    r.cmds = cmd;
    r.results = res;
    r.count = cmd ? 1 : 0;
    int rc = executor_run(ex, &r);
    executor_request_destroy(&r);
    return rc;
}

void scen_expiry_hint(struct scen *s, int64_t t)
{
    pthread_mutex_lock(&s->tick_mu);
    s->next_expiry = t < s->next_expiry ? t : s->next_expiry;
    s->lowered = t < s->lowered ? t : s->lowered;
    pthread_mutex_unlock(&s->tick_mu);
}

/* Journals "expiry due" if the ledger's next expiry is due, then learns the next one. The
 * ledger's answer is the truth; hints that came while it was asked are kept. */
static void tick_once(struct scen *s)
{
    executor *ex = api_executor(s->a);
    struct next_query q = {.next = INT64_MAX};
    if (exec_one(ex, query_next_expiry, &q, NULL, NULL) != 0) {
        return;
    }
    if (q.next <= api_now_ms(s->a)) {
        /* Due: a NOTE by central makes a batch, which sweeps before it runs the note. */
        struct ledger_cmd cmd;
        struct ledger_result res;
        memset(&cmd, 0, sizeof cmd);
        cmd.op = LEDGER_OP_NOTE;
        cmd.actor = 0;
        cmd.kind = LEDGER_NOTE_SCENARIO;
        cmd.amount = q.next;
        cmd.holder[0] = SCEN_EV_EXPIRY_DUE;
        cmd.holder_len = 1;
        pthread_mutex_lock(&s->tick_mu);
        s->lowered = INT64_MAX;
        pthread_mutex_unlock(&s->tick_mu);
        if (exec_one(ex, NULL, NULL, &cmd, &res) != 0 ||
            exec_one(ex, query_next_expiry, &q, NULL, NULL) != 0) {
            return;
        }
    }
    pthread_mutex_lock(&s->tick_mu);
    s->next_expiry = q.next < s->lowered ? q.next : s->lowered;
    pthread_mutex_unlock(&s->tick_mu);
}

static void *ticker_main(void *arg)
{
    struct scen *s = arg;
    pthread_setname_np(pthread_self(), "jz-scen-tick");
    pthread_mutex_lock(&s->tick_mu);
    while (!s->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += TICK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->tick_cond, &s->tick_mu, &until);
        if (s->stopping || s->next_expiry > api_now_ms(s->a)) {
            continue;
        }
        s->lowered = INT64_MAX;
        pthread_mutex_unlock(&s->tick_mu);
        tick_once(s);
        pthread_mutex_lock(&s->tick_mu);
    }
    pthread_mutex_unlock(&s->tick_mu);
    return NULL;
}

/* ---- Open and close ---- */

/* The module's secret (keyed hashes of registrants): made once, kept sealed in the store. */
static int module_key(struct scen *s, char *err, size_t err_len)
{
    node *nd = api_node(s->a);
    uint8_t blob[16 + LEDGER_SEALED_BYTES];
    size_t len = 0;
    jz_id key_id;
    int rc = scen_store_meta_get(s->store, "module_key", blob, sizeof blob, &len);
    if (rc == 1) {
        uint8_t sealed[LEDGER_SEALED_BYTES];
        if (node_new_credentials(nd, &key_id, s->key, sealed) != 0) {
            snprintf(err, err_len, "scenarios: cannot make the module key");
            return -1;
        }
        memcpy(blob, key_id.b, 16);
        memcpy(blob + 16, sealed, sizeof sealed);
        rc = scen_store_meta_put(s->store, "module_key", blob, sizeof blob);
    } else if (rc == 0 && len == sizeof blob) {
        memcpy(key_id.b, blob, 16);
        rc = node_unseal_secret(nd, &key_id, blob + 16, s->key);
    } else {
        rc = -1;
    }
    if (rc != 0) {
        snprintf(err, err_len, "scenarios: the module key cannot be read or unsealed");
    }
    return rc;
}

static void scen_close(void *state)
{
    struct scen *s = state;
    if (!s) {
        return;
    }
    if (s->ticker_started) {
        pthread_mutex_lock(&s->tick_mu);
        s->stopping = true;
        pthread_cond_broadcast(&s->tick_cond);
        pthread_mutex_unlock(&s->tick_mu);
        pthread_join(s->ticker, NULL);
    }
    scen_store_close(s->store);
    for (int i = 0; i < SCEN_LOCKS; i++) {
        pthread_mutex_destroy(&s->refund_mu[i]);
    }
    pthread_mutex_destroy(&s->merchant_mu);
    pthread_mutex_destroy(&s->draw_mu);
    pthread_mutex_destroy(&s->tick_mu);
    pthread_cond_destroy(&s->tick_cond);
    crypto_wipe(s->key, sizeof s->key);
    free(s);
}

static int scen_open(api *a, void **state, char *err, size_t err_len)
{
    struct scen *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "scenarios: out of memory");
        return -1;
    }
    s->a = a;
    for (int i = 0; i < SCEN_LOCKS; i++) {
        pthread_mutex_init(&s->refund_mu[i], NULL);
    }
    pthread_mutex_init(&s->merchant_mu, NULL);
    pthread_mutex_init(&s->draw_mu, NULL);
    pthread_mutex_init(&s->tick_mu, NULL);
    pthread_cond_init(&s->tick_cond, NULL);
    s->lowered = INT64_MAX;
    char path[4200];
    snprintf(path, sizeof path, "%s/scenarios.db", node_dir(api_node(a)));
    if (scen_store_open(path, &s->store, err, err_len) != 0 || module_key(s, err, err_len) != 0 ||
        scen_merchants_load(s, err, err_len) != 0) {
        scen_close(s);
        return -1;
    }
    /* The ledger's next expiry, read before the API serves anyone. */
    struct next_query q = {.next = INT64_MAX};
    if (exec_one(api_executor(a), query_next_expiry, &q, NULL, NULL) != 0) {
        snprintf(err, err_len, "scenarios: the ledger cannot be read");
        scen_close(s);
        return -1;
    }
    s->next_expiry = q.next;
    if (pthread_create(&s->ticker, NULL, ticker_main, s) != 0) {
        snprintf(err, err_len, "scenarios: cannot start the expiry ticker");
        scen_close(s);
        return -1;
    }
    s->ticker_started = true;
    *state = s;
    return 0;
}

const struct api_ext api_ext_scenarios = {
    .name = "scenarios",
    .routes = routes,
    .nroutes = JZ_ARRAY_LEN(routes),
    .open = scen_open,
    .close = scen_close,
};
