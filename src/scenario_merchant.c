/*
 * scenario_merchant.c: merchants, their keys, orders, QR payments and refunds (issue 7,
 * item 1).
 *
 * A merchant is one of its operator's merchant wallets (with a category code) given an API
 * key of its own. That key signs like any other (auth.h) but reaches only the routes marked
 * merchant_ok, and here only the merchant's own orders and refunds.
 *
 * An order's payment is a transfer of kind payment whose id is derived from the order id
 * ("order-payment"), so a second payment is the ledger's replay (the same payer: 200, no
 * second debit) or id_conflict (anyone else). Refunds of one order run one at a time under
 * a striped lock: the sum of posted and pending refunds plus the new one must stay within
 * what was paid, checked against this module's store before the ledger is asked, and the
 * refund's row is settled from the ledger's result (pending rows left by a crash are settled
 * from the ledger's memory of their ids before the next refund of the order).
 */
#include <inttypes.h>

#include "command.h"
#include "crypto.h"
#include "node.h"
#include "scenario_int.h"
#include "scenario_qr.h"

/* Orders may be paid up to 7 days after they are made: the ledger remembers the payment's
 * id at least that long, which is what makes a second payment harmless. */
#define ORDER_LIFE_MAX_MS JZ_IDEMPOTENCY_WINDOW_MS
#define PENDING_MAX 64

static const crypto_sm2_key *qr_key(api_call *c)
{
    return node_signing_key(api_node(api_call_api(c)));
}

/* The merchant of wallet, if the caller may act for it: its own key, its operator, or (to
 * read) central. 0, or -1 with the response set. */
static int merchant_for(api_call *c, const jz_id *wallet, bool read, struct scen_merchant *m)
{
    if (!scen_found(c, scen_store_merchant_get(scen_of(c)->store, wallet, m),
                    JZ_MERCHANT_NOT_FOUND, "merchant", "no such merchant")) {
        return -1;
    }
    jz_id own;
    bool allowed = api_call_merchant(c, &own) ? jz_id_eq(&own, wallet)
                   : api_call_is_central(c)   ? read
                                              : m->operator_index == api_call_actor(c);
    if (!allowed) {
        api_call_fail(c, JZ_FORBIDDEN, "merchant", "the merchant is not the caller's");
        return -1;
    }
    return 0;
}

/* ---- Merchants ---- */

static void write_merchant(api_call *c, const struct scen_merchant *m, const uint8_t *secret)
{
    struct scen_qr q = {.dynamic = false, .merchant = m->wallet};
    char qr[SCEN_QR_MAX];
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"wallet\":");
    jb_id(b, &m->wallet);
    jb_lit(b, ",\"operator\":");
    jb_cstr(b, api_institution_id(api_call_api(c), (uint32_t)m->operator_index));
    jb_lit(b, ",\"name\":");
    jb_cstr(b, m->name);
    jb_lit(b, ",\"mcc\":");
    jb_int(b, m->mcc);
    jb_lit(b, ",\"key_id\":");
    jb_id(b, &m->key_id);
    if (secret) {
        char hex[2 * NODE_SECRET_BYTES + 1];
        jz_hex_encode(secret, NODE_SECRET_BYTES, hex);
        jb_lit(b, ",\"secret\":");
        jb_cstr(b, hex);
        crypto_wipe(hex, sizeof hex);
    }
    jb_lit(b, ",\"static_qr\":");
    jb_cstr(b, scen_qr_make(qr_key(c), &q, qr) == 0 ? qr : "");
    jb_lit(b, ",\"created_at\":");
    jb_int(b, m->created_at);
    jb_lit(b, "}");
}

/* Makes the merchant's key, journals it and stores it (merchant_mu held). */
static void merchant_new(api_call *c, struct scen_merchant *m)
{
    struct scen *s = scen_of(c);
    uint8_t secret[NODE_SECRET_BYTES];
    if (node_new_credentials(api_node(s->a), &m->key_id, secret, m->sealed) != 0) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "cannot make credentials");
        return;
    }
    m->created_at = api_now_ms(s->a);
    if (scen_note(c, SCEN_EV_MERCHANT, &m->wallet, &m->key_id, m->mcc, m->name,
                  strlen(m->name)) != 0) {
        goto wipe;
    }
    if (scen_store_merchant_put(s->store, m) != 0 ||
        api_add_merchant_key(s->a, &m->key_id, secret, m->operator_index, &m->wallet) != 0) {
        scen_fail_store(c);
        goto wipe;
    }
    write_merchant(c, m, secret);
    api_call_respond(c, 201);
wipe:
    crypto_wipe(secret, sizeof secret);
}

void scen_h_merchant_create(api_call *c, json_t *body)
{
    struct scen_merchant m;
    struct ledger_wallet_view w;
    struct api_error e;
    memset(&m, 0, sizeof m);
    const struct field_spec specs[] = {
        {.name = "wallet", .type = FIELD_ID, .required = true, .out = &m.wallet},
        {.name = "name", .type = FIELD_STRING, .required = true, .out = m.name, .min = 1,
         .max = SCEN_NAME_MAX},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    if (api_call_wallet(c, &m.wallet, "wallet", &w) != 0) {
        return;
    }
    if (w.kind != LEDGER_WALLET_MERCHANT || w.mcc == 0 || w.restricted) {
        api_call_fail(c, JZ_INVALID_FIELD, "wallet",
                      "a merchant is an unrestricted merchant wallet with a category code");
        return;
    }
    m.operator_index = w.operator_index;
    m.mcc = w.mcc;
    struct scen *s = scen_of(c);
    struct scen_merchant old;
    pthread_mutex_lock(&s->merchant_mu);
    int rc = scen_store_merchant_get(s->store, &m.wallet, &old);
    if (rc < 0) {
        scen_fail_store(c);
    } else if (rc == 0 && strcmp(old.name, m.name) != 0) {
        api_call_fail(c, JZ_ID_CONFLICT, "name", "this wallet is a merchant under another name");
    } else if (rc == 0) {
        write_merchant(c, &old, NULL); /* a replay: the secret was shown once */
        api_call_respond(c, 200);
    } else {
        merchant_new(c, &m);
    }
    pthread_mutex_unlock(&s->merchant_mu);
}

void scen_h_merchant_get(api_call *c, json_t *body)
{
    (void)body;
    jz_id id;
    struct scen_merchant m;
    if (scen_path_id(c, 0, &id) == 0 && merchant_for(c, &id, true, &m) == 0) {
        write_merchant(c, &m, NULL);
        api_call_respond(c, 200);
    }
}

struct load_ctx {
    struct scen *s;
    int rc;
};

static void load_one(void *ctx, const struct scen_merchant *m)
{
    struct load_ctx *l = ctx;
    uint8_t secret[NODE_SECRET_BYTES];
    if (node_unseal_secret(api_node(l->s->a), &m->key_id, m->sealed, secret) != 0 ||
        api_add_merchant_key(l->s->a, &m->key_id, secret, m->operator_index, &m->wallet) != 0) {
        l->rc = -1;
    }
    crypto_wipe(secret, sizeof secret);
}

int scen_merchants_load(struct scen *s, char *err, size_t err_len)
{
    struct load_ctx l = {.s = s};
    if (scen_store_merchant_each(s->store, load_one, &l) != 0 || l.rc != 0) {
        snprintf(err, err_len, "scenarios: the merchants' keys cannot be loaded");
        return -1;
    }
    return 0;
}

/* ---- Orders ---- */

/* "open", "paid" or "expired": paid when the store says so or the ledger has the payment. */
static const char *order_status(api_call *c, const struct scen_order *o, bool *paid)
{
    struct ledger_result r;
    *paid = o->paid_at != 0 ||
            (scen_transfer_result(c, &o->transfer, &r) == 0 && r.code == JZ_OK);
    if (*paid) {
        return "paid";
    }
    return api_now_ms(api_call_api(c)) >= o->expires_at ? "expired" : "open";
}

static void write_order(api_call *c, const struct scen_order *o)
{
    struct scen_qr q = {.dynamic = true, .merchant = o->merchant, .order = o->id,
                        .amount = o->amount, .expires_at = o->expires_at};
    char qr[SCEN_QR_MAX];
    int64_t posted = 0;
    int64_t pending = 0;
    bool paid;
    scen_store_refund_sums(scen_of(c)->store, &o->id, &posted, &pending);
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"id\":");
    jb_id(b, &o->id);
    jb_lit(b, ",\"merchant\":");
    jb_id(b, &o->merchant);
    jb_lit(b, ",\"amount\":");
    jb_int(b, o->amount);
    jb_lit(b, ",\"expires_at\":");
    jb_int(b, o->expires_at);
    jb_lit(b, ",\"ref\":");
    jb_cstr(b, o->ref);
    jb_lit(b, ",\"memo\":");
    jb_cstr(b, o->memo);
    jb_lit(b, ",\"status\":");
    jb_cstr(b, order_status(c, o, &paid));
    jb_lit(b, ",\"qr\":");
    jb_cstr(b, scen_qr_make(qr_key(c), &q, qr) == 0 ? qr : "");
    jb_lit(b, ",\"payment\":");
    jb_id(b, &o->transfer);
    jb_lit(b, ",\"payer\":");
    if (o->paid_at) {
        jb_id(b, &o->payer);
        jb_lit(b, ",\"paid_at\":");
        jb_int(b, o->paid_at);
    } else {
        jb_lit(b, "null,\"paid_at\":null");
    }
    jb_lit(b, ",\"refunded\":");
    jb_int(b, posted);
    jb_lit(b, ",\"created_at\":");
    jb_int(b, o->created_at);
    jb_lit(b, "}");
}

/* The first field in which a replayed order differs, or NULL. */
static const char *order_diff(const struct scen_order *a, const struct scen_order *b)
{
    return !jz_id_eq(&a->merchant, &b->merchant) ? "merchant"
           : a->amount != b->amount              ? "amount"
           : a->expires_at != b->expires_at      ? "expires_at"
           : strcmp(a->ref, b->ref) != 0         ? "ref"
           : strcmp(a->memo, b->memo) != 0      ? "memo"
                                                 : NULL;
}

static int parse_order(api_call *c, json_t *body, struct scen_order *o, bool *has_id)
{
    bool has_merchant = false;
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "id", .type = FIELD_ID, .out = &o->id, .present = has_id},
        {.name = "merchant", .type = FIELD_ID, .out = &o->merchant, .present = &has_merchant},
        {.name = "amount", .type = FIELD_AMOUNT, .required = true, .out = &o->amount},
        {.name = "expires_at", .type = FIELD_INT, .required = true, .out = &o->expires_at,
         .min = 1, .max = INT64_MAX},
        {.name = "ref", .type = FIELD_STRING, .out = o->ref, .min = 0, .max = JZ_REF_MAX},
        {.name = "memo", .type = FIELD_STRING, .out = o->memo, .min = 0, .max = JZ_MEMO_MAX},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
        return -1;
    }
    jz_id own;
    if (api_call_merchant(c, &own)) {
        if (has_merchant && !jz_id_eq(&own, &o->merchant)) {
            api_call_fail(c, JZ_FORBIDDEN, "merchant", "a merchant makes only its own orders");
            return -1;
        }
        o->merchant = own;
    } else if (!has_merchant) {
        api_call_fail(c, JZ_MISSING_FIELD, "merchant", "name the merchant wallet");
        return -1;
    }
    return 0;
}

/* Journals and stores a new order; 1 when another request stored the same id first. */
static int order_new(api_call *c, struct scen_order *o)
{
    int64_t now = api_now_ms(api_call_api(c));
    if (o->expires_at <= now || o->expires_at - now > ORDER_LIFE_MAX_MS) {
        api_call_fail(c, JZ_INVALID_FIELD, "expires_at",
                      "an order expires after now and within 7 days");
        return -1;
    }
    o->created_at = now;
    scen_derive("order-payment", o->id.b, 16, NULL, 0, &o->transfer);
    uint8_t data[8 + JZ_REF_MAX];
    put_u64(data, (uint64_t)o->expires_at);
    memcpy(data + 8, o->ref, strlen(o->ref));
    if (scen_note(c, SCEN_EV_ORDER, &o->id, &o->merchant, o->amount, data,
                  8 + strlen(o->ref)) != 0) {
        return -1;
    }
    int rc = scen_store_order_put(scen_of(c)->store, o);
    if (rc < 0) {
        scen_fail_store(c);
    }
    return rc;
}

void scen_h_order_create(api_call *c, json_t *body)
{
    struct scen_order o;
    struct scen_merchant m;
    bool has_id = false;
    memset(&o, 0, sizeof o);
    if (parse_order(c, body, &o, &has_id) != 0 || merchant_for(c, &o.merchant, false, &m) != 0) {
        return;
    }
    if (!has_id && crypto_random(o.id.b, sizeof o.id.b) != 0) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "no randomness for an order id");
        return;
    }
    struct scen_order old;
    int rc = scen_store_order_get(scen_of(c)->store, &o.id, &old);
    if (rc == 1) {
        rc = order_new(c, &o);
        if (rc == 0) {
            write_order(c, &o);
            api_call_respond(c, 201);
            return;
        }
        if (rc < 0 || scen_store_order_get(scen_of(c)->store, &o.id, &old) != 0) {
            return;
        }
    } else if (rc < 0) {
        scen_fail_store(c);
        return;
    }
    const char *field = order_diff(&old, &o);
    if (field) {
        api_call_fail(c, JZ_ID_CONFLICT, field, "this order id was used with different content");
        return;
    }
    write_order(c, &old);
    api_call_respond(c, 200);
}

/* The order of the path, if the caller may see it (its merchant, that merchant's operator,
 * central). */
static int order_for(api_call *c, bool read, struct scen_order *o, struct scen_merchant *m)
{
    jz_id id;
    if (scen_path_id(c, 0, &id) != 0) {
        return -1;
    }
    if (!scen_found(c, scen_store_order_get(scen_of(c)->store, &id, o), JZ_ORDER_NOT_FOUND,
                    "id", "no such order")) {
        return -1;
    }
    return merchant_for(c, &o->merchant, read, m);
}

void scen_h_order_get(api_call *c, json_t *body)
{
    (void)body;
    struct scen_order o;
    struct scen_merchant m;
    if (order_for(c, true, &o, &m) == 0) {
        write_order(c, &o);
        api_call_respond(c, 200);
    }
}

/* ---- Paying a QR code ---- */

struct pay_req {
    char qr[SCEN_QR_MAX + 1];
    bool has_amount, has_id;
    struct ledger_cmd cmd;
};

static int parse_pay(api_call *c, json_t *body, struct pay_req *p)
{
    char memo[JZ_MEMO_MAX + 1] = "";
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "qr", .type = FIELD_STRING, .required = true, .out = p->qr, .min = 1,
         .max = SCEN_QR_MAX},
        {.name = "debit", .type = FIELD_ID, .required = true, .out = &p->cmd.debit},
        {.name = "amount", .type = FIELD_AMOUNT, .out = &p->cmd.amount, .present = &p->has_amount},
        {.name = "id", .type = FIELD_ID, .out = &p->cmd.id, .present = &p->has_id},
        {.name = "memo", .type = FIELD_STRING, .out = memo, .min = 0, .max = JZ_MEMO_MAX},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
        return -1;
    }
    p->cmd.op = LEDGER_OP_TRANSFER;
    p->cmd.kind = LEDGER_KIND_PAYMENT;
    p->cmd.actor = (uint16_t)api_call_actor(c);
    p->cmd.memo_len = (uint8_t)strlen(memo);
    memcpy(p->cmd.memo, memo, p->cmd.memo_len);
    return 0;
}

/* A dynamic code: the order it names, unexpired unless already paid. */
static int pay_order(api_call *c, const struct scen_qr *q, struct pay_req *p,
                     struct scen_order *o)
{
    if (p->has_amount || p->has_id) {
        api_call_fail(c, JZ_INVALID_FIELD, p->has_amount ? "amount" : "id",
                      "an order's code carries its amount and its payment's id");
        return -1;
    }
    if (!scen_found(c, scen_store_order_get(scen_of(c)->store, &q->order, o),
                    JZ_ORDER_NOT_FOUND, "qr", "no such order")) {
        return -1;
    }
    if (!jz_id_eq(&o->merchant, &q->merchant) || o->amount != q->amount ||
        o->expires_at != q->expires_at) {
        api_call_fail(c, JZ_QR_INVALID, "qr", "the code does not match its order");
        return -1;
    }
    bool paid;
    order_status(c, o, &paid);
    if (!paid && api_now_ms(api_call_api(c)) >= o->expires_at) {
        api_call_fail(c, JZ_ORDER_EXPIRED, "qr", "the order has expired");
        return -1;
    }
    p->cmd.id = o->transfer;
    p->cmd.amount = o->amount;
    char hex[33];
    jz_id_to_hex(&o->id, hex);
    p->cmd.ref_len = 32;
    memcpy(p->cmd.ref, hex, 32);
    return 0;
}

void scen_h_pay(api_call *c, json_t *body)
{
    struct pay_req p;
    struct scen_qr q;
    struct scen_order o;
    struct scen_merchant m;
    memset(&p, 0, sizeof p);
    if (parse_pay(c, body, &p) != 0) {
        return;
    }
    if (scen_qr_read(qr_key(c), p.qr, strlen(p.qr), &q) != 0) {
        api_call_fail(c, JZ_QR_INVALID, "qr", "the code is malformed or its signature fails");
        return;
    }
    if (!scen_found(c, scen_store_merchant_get(scen_of(c)->store, &q.merchant, &m),
                    JZ_MERCHANT_NOT_FOUND, "qr", "no such merchant")) {
        return;
    }
    p.cmd.credit = q.merchant;
    if (q.dynamic && pay_order(c, &q, &p, &o) != 0) {
        return;
    }
    if (!q.dynamic && (!p.has_amount || !p.has_id)) {
        api_call_fail(c, JZ_MISSING_FIELD, p.has_amount ? "id" : "amount",
                      "a static code needs the amount and a transfer id");
        return;
    }
    struct ledger_result r;
    if (api_call_run(c, &p.cmd, 1, &r, NULL, NULL) != 0) {
        return;
    }
    if (r.code != JZ_OK) {
        api_call_fail_result(c, &r);
        return;
    }
    if (q.dynamic && scen_store_order_paid(scen_of(c)->store, &o.id, &p.cmd.debit,
                                           r.timestamp) != 0) {
        scen_fail_store(c);
        return;
    }
    struct jbuf *b = api_call_out(c);
    scen_write_transfer(b, &p.cmd, r.timestamp, true);
    if (q.dynamic) {
        jb_lit(b, ",\"order\":");
        jb_id(b, &o.id);
    }
    jb_lit(b, "}");
    api_call_respond(c, r.replayed ? 200 : 201);
}

/* ---- Refunds ---- */

/* Settles the order's pending refunds from the ledger's memory of their ids. */
static int settle_pending(api_call *c, const jz_id *order)
{
    struct scen *s = scen_of(c);
    struct scen_refund pending[PENDING_MAX];
    uint32_t n = 0;
    if (scen_store_refunds_pending(s->store, order, pending, PENDING_MAX, &n) != 0) {
        scen_fail_store(c);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct ledger_result r;
        int rc = scen_transfer_result(c, &pending[i].id, &r);
        if (rc < 0) {
            return -1;
        }
        /* Unknown to the ledger: it never became durable, so it did not happen. */
        int status = rc == 0 && r.code == JZ_OK ? SCEN_REFUND_POSTED : SCEN_REFUND_FAILED;
        if (scen_store_refund_status(s->store, &pending[i].id, status) != 0) {
            scen_fail_store(c);
            return -1;
        }
    }
    return 0;
}

/* Where a refund goes: the payer, or, when the payer is a restricted wallet past its expiry
 * (which takes nothing any more), the wallet its money returned to. */
static int refund_credit(api_call *c, const struct scen_order *o, jz_id *credit)
{
    struct ledger_wallet_view w;
    if (scen_wallet_any(c, &o->payer, "payer", &w) != 0) {
        return -1;
    }
    bool expired = w.restricted && (w.swept || api_now_ms(api_call_api(c)) >= w.expires_at);
    *credit = expired ? w.return_to : o->payer;
    return 0;
}

struct refund_req {
    struct ledger_cmd cmd;
    struct scen_refund row;
};

static int parse_refund(api_call *c, json_t *body, struct refund_req *q)
{
    char memo[JZ_MEMO_MAX + 1] = "";
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "id", .type = FIELD_ID, .required = true, .out = &q->cmd.id},
        {.name = "amount", .type = FIELD_AMOUNT, .required = true, .out = &q->cmd.amount},
        {.name = "memo", .type = FIELD_STRING, .out = memo, .min = 0, .max = JZ_MEMO_MAX},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
        return -1;
    }
    q->cmd.memo_len = (uint8_t)strlen(memo);
    memcpy(q->cmd.memo, memo, q->cmd.memo_len);
    return 0;
}

/* Checks and records the refund row (the order's lock held): 0 to run it, -1 answered. */
static int refund_admit(api_call *c, const struct scen_order *o, struct refund_req *q)
{
    struct scen *s = scen_of(c);
    struct scen_refund old;
    int rc = scen_store_refund_get(s->store, &q->cmd.id, &old);
    bool retry = rc == 0 && old.status == SCEN_REFUND_FAILED;
    if (rc == 0 && (!jz_id_eq(&old.order, &o->id) || old.amount != q->cmd.amount)) {
        api_call_fail(c, JZ_ID_CONFLICT, jz_id_eq(&old.order, &o->id) ? "amount" : "id",
                      "this refund id was used with different content");
        return -1;
    }
    if (rc == 0 && !retry) {
        return 0; /* posted before: the ledger replays it */
    }
    int64_t posted;
    int64_t pending;
    if (rc < 0 || scen_store_refund_sums(s->store, &o->id, &posted, &pending) != 0) {
        scen_fail_store(c);
        return -1;
    }
    if ((__int128)posted + pending + q->cmd.amount > o->amount) {
        api_call_fail(c, JZ_REFUND_EXCEEDS_PAYMENT, "amount",
                      "refunds would exceed what was paid for the order");
        return -1;
    }
    q->row = (struct scen_refund){.id = q->cmd.id, .order = o->id, .amount = q->cmd.amount,
                                  .status = SCEN_REFUND_PENDING,
                                  .created_at = api_now_ms(s->a)};
    rc = retry ? scen_store_refund_status(s->store, &q->cmd.id, SCEN_REFUND_PENDING)
               : scen_store_refund_put(s->store, &q->row);
    if (rc != 0) {
        scen_fail_store(c);
        return -1;
    }
    return 0;
}

/* Runs the refund (the order's lock held) and answers. */
static void refund_run(api_call *c, const struct scen_order *o, struct refund_req *q)
{
    struct scen *s = scen_of(c);
    char hex[33];
    jz_id_to_hex(&o->id, hex);
    q->cmd.op = LEDGER_OP_TRANSFER;
    q->cmd.kind = LEDGER_KIND_REFUND;
    q->cmd.actor = (uint16_t)api_call_actor(c);
    q->cmd.debit = o->merchant;
    q->cmd.ref_len = 32;
    memcpy(q->cmd.ref, hex, 32);
    struct ledger_result r;
    if (refund_credit(c, o, &q->cmd.credit) != 0 ||
        api_call_run(c, &q->cmd, 1, &r, NULL, NULL) != 0) {
        return; /* the row stays pending: settled from the ledger next time */
    }
    int status = r.code == JZ_OK ? SCEN_REFUND_POSTED : SCEN_REFUND_FAILED;
    int64_t posted = 0;
    int64_t pending = 0;
    if (scen_store_refund_status(s->store, &q->cmd.id, status) != 0 ||
        scen_store_refund_sums(s->store, &o->id, &posted, &pending) != 0) {
        scen_fail_store(c);
        return;
    }
    if (r.code != JZ_OK) {
        api_call_fail_result(c, &r);
        return;
    }
    struct jbuf *b = api_call_out(c);
    scen_write_transfer(b, &q->cmd, r.timestamp, true);
    jb_lit(b, ",\"order\":");
    jb_id(b, &o->id);
    jb_lit(b, ",\"refunded\":");
    jb_int(b, posted);
    jb_lit(b, "}");
    api_call_respond(c, r.replayed ? 200 : 201);
}

void scen_h_refund(api_call *c, json_t *body)
{
    struct scen_order o;
    struct scen_merchant m;
    struct refund_req q;
    memset(&q, 0, sizeof q);
    if (order_for(c, false, &o, &m) != 0 || parse_refund(c, body, &q) != 0) {
        return;
    }
    bool paid;
    order_status(c, &o, &paid);
    if (!paid || o.paid_at == 0) {
        if (paid) { /* durable in the ledger, not yet in the store: the payer retries */
            api_call_fail(c, JZ_UNAVAILABLE, "", "the order's payment is still being recorded");
        } else {
            api_call_fail(c, JZ_ORDER_NOT_PAID, "id", "the order has not been paid");
        }
        return;
    }
    struct scen *s = scen_of(c);
    pthread_mutex_t *mu = &s->refund_mu[jz_id_hash(&o.id) % SCEN_LOCKS];
    pthread_mutex_lock(mu);
    if (settle_pending(c, &o.id) == 0 && refund_admit(c, &o, &q) == 0) {
        refund_run(c, &o, &q);
    }
    pthread_mutex_unlock(mu);
}
