/*
 * api_card.c: the TSM and offline-settlement routes of API.md "Hard wallets and offline
 * payments", as an API extension (api_ext.h).
 *
 * Each card has a float account in the ledger: a wallet of form hard owned by the card's
 * operator, child of the holder's wallet, id offline_float_id(card). Load and unload are
 * ledger transfers (card_load, card_unload) between the holder's wallet and the float, each
 * followed by a TSM command the card applies once; settlement moves money out of the float
 * (offline.h). Every step is idempotent (ids derived from the card, the client's transfer id,
 * the registry keyed by that transfer), so a crash between the ledger and the registry is
 * repaired by the client's retry; TSM events are journalled as NOTEs (topic card).
 *
 * One mutex serialises the card-changing routes (issue, load, unload, lock, reissue, close):
 * they are rare next to settlement, which takes no lock here.
 */
#include "api_ext.h"

#include <pthread.h>

#include "crypto_x509.h"
#include "offline.h"
#include "store_cards.h"
#include "tsm.h"

#define DEFAULT_PER_PAYMENT 100000LL    /* 1,000 CNY */
#define DEFAULT_OFFLINE_TOTAL 500000LL  /* 5,000 CNY between syncs */
#define DEFAULT_OFFLINE_COUNT 50
#define OFFLINE_COUNT_MAX 1000
#define DEFAULT_VALIDITY_MS (5LL * 365 * 24 * 3600 * 1000)
#define DEFAULT_WINDOW_MS (3LL * 24 * 3600 * 1000)
#define PEM_FIELD_MAX 1024
#define UPLOAD_MAX 1024 /* vouchers in one POST /v1/offline/vouchers */

struct cards {
    tsm *tsm;
    store_cards *store;
    offline *off;
    pthread_mutex_t mu;
};

/* ---- small helpers ---- */

static struct cards *state_of(api_call *c)
{
    return api_call_state(c);
}

static void out_hex(struct jbuf *b, const uint8_t *p, size_t n)
{
    char *hex = malloc(2 * n + 1);
    if (!hex) {
        b->failed = true;
        return;
    }
    jz_hex_encode(p, n, hex);
    jb_str(b, hex, 2 * n);
    free(hex);
}

static void out_cert_pem(struct jbuf *b, const crypto_cert *cert)
{
    char *pem = NULL;
    size_t len = 0;
    if (crypto_cert_pem(cert, &pem, &len) != 0) {
        b->failed = true;
        return;
    }
    jb_str(b, pem, len);
    free(pem);
}

/* Runs one ledger command; 0 when it is durable and ok, else -1 with the answer set. */
static int run_ok(api_call *c, struct ledger_cmd *cmd)
{
    struct ledger_result r;
    if (api_call_run(c, cmd, 1, &r, NULL, NULL) != 0) {
        return -1;
    }
    if (r.code != JZ_OK) {
        api_call_fail_result(c, &r);
        return -1;
    }
    return 0;
}

/* Journals a TSM event (LEDGER_NOTE_CARD): the card, a second id, a number, what happened. */
static int note(api_call *c, const jz_id *card, const jz_id *other, int64_t number,
                const char *what)
{
    return api_call_note(c, LEDGER_NOTE_CARD, card, other, number, what, strlen(what));
}

/* The card of the path, which the caller must own (central reads any). 0, or -1 with the
 * answer set. */
static int path_card(api_call *c, struct store_card *out, bool write)
{
    jz_id id;
    const char *p = api_call_param(c, 0);
    if (jz_id_from_hex(p, strlen(p), &id) != 0) {
        api_call_fail(c, JZ_INVALID_FIELD, "id", "a card id is 32 lowercase hex digits");
        return -1;
    }
    int got = store_cards_get(state_of(c)->store, &id, out);
    if (got != 0) {
        api_call_fail(c, got < 0 ? JZ_UNAVAILABLE : JZ_CARD_NOT_FOUND, "id",
                      got < 0 ? "the card registry failed" : "no such card");
        return -1;
    }
    if ((write || !api_call_is_central(c)) && strcmp(out->op, api_call_actor_id(c)) != 0) {
        api_call_fail(c, JZ_FORBIDDEN, "id", "the card belongs to another institution");
        return -1;
    }
    return 0;
}

static int registry_failed(api_call *c)
{
    api_call_fail(c, JZ_UNAVAILABLE, "", "the card registry failed");
    return -1;
}

/* ---- issuing ---- */

struct issue_req {
    jz_id wallet;
    char pem[PEM_FIELD_MAX + 1];
    int64_t per_payment, offline_total, offline_count, expires_at;
};

static int parse_limits(api_call *c, json_t *limits, struct issue_req *q)
{
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "per_payment", .type = FIELD_AMOUNT, .out = &q->per_payment},
        {.name = "offline_total", .type = FIELD_AMOUNT, .out = &q->offline_total},
        {.name = "offline_count", .type = FIELD_INT, .out = &q->offline_count, .min = 1,
         .max = OFFLINE_COUNT_MAX},
    };
    if (limits && json_fields_parse(limits, specs, JZ_ARRAY_LEN(specs), "limits.", &e) != 0) {
        api_call_fail_error(c, &e);
        return -1;
    }
    if (q->per_payment > q->offline_total) {
        api_call_fail(c, JZ_INVALID_FIELD, "limits.per_payment",
                      "per_payment cannot be more than offline_total");
        return -1;
    }
    return 0;
}

static int parse_issue(api_call *c, json_t *body, bool reissue, struct issue_req *q)
{
    json_t *limits = NULL;
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "public_key", .type = FIELD_STRING, .required = true, .out = q->pem,
         .max = PEM_FIELD_MAX},
        {.name = "wallet", .type = FIELD_ID, .required = !reissue, .out = &q->wallet},
        {.name = "limits", .type = FIELD_OBJECT, .out = &limits},
        {.name = "expires_at", .type = FIELD_INT, .out = &q->expires_at, .min = 1,
         .max = INT64_MAX / 2},
    };
    /* A reissue takes only the new key: the rest comes from the lost card. */
    size_t n = reissue ? 1 : JZ_ARRAY_LEN(specs);
    q->per_payment = DEFAULT_PER_PAYMENT;
    q->offline_total = DEFAULT_OFFLINE_TOTAL;
    q->offline_count = DEFAULT_OFFLINE_COUNT;
    if (json_fields_parse(body, specs, n, "", &e) != 0) {
        api_call_fail_error(c, &e);
        return -1;
    }
    int64_t now = api_now_ms(api_call_api(c));
    if (!reissue && q->expires_at == 0) {
        q->expires_at = now + DEFAULT_VALIDITY_MS;
    }
    if (!reissue && (q->expires_at <= now || q->expires_at > now + TSM_CA_VALIDITY_MS / 2)) {
        api_call_fail(c, JZ_INVALID_FIELD, "expires_at",
                      "expires_at must be in the future, within five years");
        return -1;
    }
    return reissue ? 0 : parse_limits(c, limits, q);
}

/* The holder's wallet: the caller's own, active, not itself a child wallet. */
static int holder_wallet(api_call *c, const jz_id *id, struct ledger_wallet_view *w)
{
    if (api_call_wallet(c, id, "wallet", w) != 0) {
        return -1;
    }
    if (w->status != LEDGER_STATUS_ACTIVE || !jz_id_is_zero(&w->parent) ||
        w->kind == LEDGER_WALLET_TREASURY) {
        api_call_fail(c, JZ_INVALID_FIELD, "wallet",
                      "a card needs an active wallet of a holder, not a treasury or child");
        return -1;
    }
    return 0;
}

/* Opens the float account (idempotent: same id, same content). */
static int open_float(api_call *c, const jz_id *card, const struct ledger_wallet_view *holder,
                      jz_id *float_id)
{
    struct ledger_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    offline_float_id(card, float_id);
    cmd.op = LEDGER_OP_WALLET_OPEN;
    cmd.actor = (uint16_t)api_call_actor(c);
    cmd.id = *float_id;
    cmd.kind = holder->kind;
    cmd.tier = holder->tier;
    cmd.form = LEDGER_FORM_HARD;
    cmd.credit = holder->id;
    return run_ok(c, &cmd);
}

static void write_limits(struct jbuf *b, const struct store_card *rec)
{
    jb_lit(b, "{\"per_payment\":");
    jb_int(b, rec->per_payment);
    jb_lit(b, ",\"offline_total\":");
    jb_int(b, rec->offline_total);
    jb_lit(b, ",\"offline_count\":");
    jb_int(b, rec->offline_count);
    jb_lit(b, "}");
}

/* The answer to an issue: certificate, chain, limits and the personalisation, without its
 * closing brace (a reissue adds its command). 0, or -1 with the error answer set. */
static int write_issued(api_call *c, const struct store_card *rec, const crypto_cert *cert)
{
    struct cards *s = state_of(c);
    struct jbuf *b = api_call_out(c);
    const crypto_cert *ca = NULL;
    uint8_t *perso = malloc(VOUCHER_PERSO_MAX);
    size_t perso_len = 0;
    if (!perso || tsm_operator_ca(s->tsm, rec->op, 0, &ca) != 0 ||
        tsm_personalisation(s->tsm, rec->op, cert, perso, VOUCHER_PERSO_MAX, &perso_len) != 0) {
        free(perso);
        api_call_fail(c, JZ_UNAVAILABLE, "", "the TSM cannot personalise the card");
        return -1;
    }
    jb_lit(b, "{\"card_id\":");
    jb_id(b, &rec->id);
    jb_lit(b, ",\"wallet\":");
    jb_id(b, &rec->wallet);
    jb_lit(b, ",\"float_wallet\":");
    jb_id(b, &rec->float_wallet);
    jb_lit(b, ",\"certificate\":");
    out_cert_pem(b, cert);
    jb_lit(b, ",\"chain\":[");
    out_cert_pem(b, ca);
    jb_lit(b, ",");
    out_cert_pem(b, tsm_root(s->tsm));
    jb_lit(b, "],\"limits\":");
    write_limits(b, rec);
    jb_lit(b, ",\"expires_at\":");
    jb_int(b, rec->not_after);
    jb_lit(b, ",\"personalisation\":");
    out_hex(b, perso, perso_len);
    free(perso);
    return 0;
}

/* Certifies the key for the wallet and registers the card (status active). */
static int certify_and_register(api_call *c, const struct issue_req *q, const jz_id *card_id,
                                const crypto_sm2_key *key,
                                const struct ledger_wallet_view *holder, struct store_card *rec,
                                crypto_cert **cert)
{
    struct cards *s = state_of(c);
    int64_t now = api_now_ms(api_call_api(c));
    struct crypto_card_ext ext = {.tier = holder->tier, .per_payment = q->per_payment,
                                  .offline_total = q->offline_total,
                                  .offline_count = (uint32_t)q->offline_count};
    memcpy(ext.card_id, card_id->b, 16);
    memcpy(ext.wallet_id, holder->id.b, 16);
    memset(rec, 0, sizeof *rec);
    if (open_float(c, card_id, holder, &rec->float_wallet) != 0) {
        return -1;
    }
    if (tsm_certify(s->tsm, api_call_actor_id(c), key, &ext, now, q->expires_at, cert) != 0) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "the TSM cannot certify the key");
        return -1;
    }
    uint8_t *der = NULL;
    size_t der_len = 0;
    if (crypto_cert_der(*cert, &der, &der_len) != 0 || der_len > sizeof rec->cert) {
        free(der);
        return registry_failed(c);
    }
    rec->id = *card_id;
    rec->wallet = holder->id;
    snprintf(rec->op, sizeof rec->op, "%s", api_call_actor_id(c));
    rec->tier = holder->tier;
    rec->status = STORE_CARD_ACTIVE;
    rec->per_payment = q->per_payment;
    rec->offline_total = q->offline_total;
    rec->offline_count = (uint32_t)q->offline_count;
    rec->not_after = q->expires_at / 1000 * 1000; /* X.509 keeps whole seconds */
    rec->created_at = rec->status_at = now;
    memcpy(rec->cert, der, der_len);
    rec->cert_len = der_len;
    free(der);
    if (store_cards_put(s->store, rec) < 0) {
        return registry_failed(c);
    }
    return note(c, card_id, &holder->id, holder->tier, "issued");
}

/* An issued card again (a replay): 0 and *cert, or -1 with the answer set. */
static int existing_card(api_call *c, const struct store_card *rec, const jz_id *wallet,
                         crypto_cert **cert)
{
    if (strcmp(rec->op, api_call_actor_id(c)) != 0 || !jz_id_eq(&rec->wallet, wallet)) {
        api_call_fail(c, JZ_ID_CONFLICT, "public_key", "this key is another wallet's card");
        return -1;
    }
    if (crypto_cert_from_der(rec->cert, rec->cert_len, cert) != 0) {
        return registry_failed(c);
    }
    return 0;
}

/* Issues (or finds again) the card for key and wallet; *status is 201 or 200. */
static int issue_card(api_call *c, const struct issue_req *q, struct store_card *rec,
                      crypto_cert **cert, int *status)
{
    struct cards *s = state_of(c);
    struct ledger_wallet_view holder;
    crypto_sm2_key *key = NULL;
    jz_id card_id;
    if (crypto_sm2_load_public_pem(q->pem, strlen(q->pem), &key) != 0 ||
        voucher_card_id(key, &card_id) != 0) {
        crypto_sm2_free(key);
        api_call_fail(c, JZ_INVALID_FIELD, "public_key", "not an SM2 public key in PEM");
        return -1;
    }
    int got = store_cards_get(s->store, &card_id, rec);
    int rc;
    if (got == 0) {
        *status = 200;
        rc = existing_card(c, rec, &q->wallet, cert);
    } else if (got < 0) {
        rc = registry_failed(c);
    } else {
        *status = 201;
        rc = holder_wallet(c, &q->wallet, &holder) != 0
                 ? -1 : certify_and_register(c, q, &card_id, key, &holder, rec, cert);
    }
    crypto_sm2_free(key);
    return rc;
}

static void h_card_issue(api_call *c, json_t *body)
{
    struct cards *s = state_of(c);
    struct issue_req q;
    struct store_card *rec = malloc(sizeof *rec);
    crypto_cert *cert = NULL;
    int status = 201;
    memset(&q, 0, sizeof q);
    if (!rec) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "out of memory");
        return;
    }
    if (parse_issue(c, body, false, &q) == 0) {
        pthread_mutex_lock(&s->mu);
        int rc = issue_card(c, &q, rec, &cert, &status);
        pthread_mutex_unlock(&s->mu);
        if (rc == 0 && write_issued(c, rec, cert) == 0) {
            jb_lit(api_call_out(c), "}");
            api_call_respond(c, status);
        }
    }
    crypto_cert_free(cert);
    free(rec);
}

/* ---- reading ---- */

struct balance_query {
    jz_id id;
    int found;
    int64_t balance;
};

static void query_balance(const ledger *l, void *ctx)
{
    struct balance_query *q = ctx;
    struct ledger_wallet_view w;
    q->found = ledger_wallet_get(l, &q->id, 0, &w) == 0;
    q->balance = q->found ? w.balance : 0;
}

static int float_balance(api_call *c, const jz_id *float_wallet, int64_t *out)
{
    struct balance_query q = {.id = *float_wallet};
    if (api_call_read(c, query_balance, &q) != 0) {
        return -1;
    }
    *out = q.balance;
    return 0;
}

static void write_card(api_call *c, const struct store_card *rec, int64_t fl)
{
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"card_id\":");
    jb_id(b, &rec->id);
    jb_lit(b, ",\"wallet\":");
    jb_id(b, &rec->wallet);
    jb_lit(b, ",\"float_wallet\":");
    jb_id(b, &rec->float_wallet);
    jb_lit(b, ",\"operator\":");
    jb_cstr(b, rec->op);
    jb_lit(b, ",\"status\":");
    jb_cstr(b, store_card_status_name(rec->status));
    jb_lit(b, ",\"float\":");
    jb_int(b, fl);
    jb_lit(b, ",\"tier\":");
    jb_int(b, rec->tier);
    jb_lit(b, ",\"limits\":");
    write_limits(b, rec);
    jb_lit(b, ",\"load_counter\":");
    jb_int(b, rec->load_counter);
    jb_lit(b, ",\"expires_at\":");
    jb_int(b, rec->not_after);
    jb_lit(b, ",\"created_at\":");
    jb_int(b, rec->created_at);
    jb_lit(b, ",\"status_at\":");
    jb_int(b, rec->status_at);
    jb_lit(b, ",\"reason\":");
    if (rec->reason[0]) {
        jb_cstr(b, rec->reason);
    } else {
        jb_lit(b, "null");
    }
    jb_lit(b, ",\"replaced_by\":");
    if (jz_id_is_zero(&rec->replaced_by)) {
        jb_lit(b, "null");
    } else {
        jb_id(b, &rec->replaced_by);
    }
    jb_lit(b, "}");
}

static void h_card_get(api_call *c, json_t *body)
{
    (void)body;
    struct store_card *rec = malloc(sizeof *rec);
    int64_t fl = 0;
    if (rec && path_card(c, rec, false) == 0 && float_balance(c, &rec->float_wallet, &fl) == 0) {
        write_card(c, rec, fl);
        api_call_respond(c, 200);
    } else if (!rec) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "out of memory");
    }
    free(rec);
}

struct list_ctx {
    struct jbuf *b;
    bool first;
};

static void revoked_item(void *ctx, const jz_id *card, const char *reason, int64_t at)
{
    struct list_ctx *l = ctx;
    jb_lit(l->b, l->first ? "{\"card_id\":" : ",{\"card_id\":");
    l->first = false;
    jb_id(l->b, card);
    jb_lit(l->b, ",\"reason\":");
    jb_cstr(l->b, reason);
    jb_lit(l->b, ",\"at\":");
    jb_int(l->b, at);
    jb_lit(l->b, "}");
}

static void h_revoked(api_call *c, json_t *body)
{
    (void)body;
    struct list_ctx l = {.b = api_call_out(c), .first = true};
    jb_lit(l.b, "{\"revoked\":[");
    if (store_cards_revoked(state_of(c)->store, revoked_item, &l) != 0) {
        registry_failed(c);
        return;
    }
    jb_lit(l.b, "]}");
    api_call_respond(c, 200);
}

static void evidence(struct jbuf *b, const struct store_voucher *v)
{
    jb_lit(b, "{\"body\":");
    out_hex(b, v->body, sizeof v->body);
    jb_lit(b, ",\"signature\":");
    out_hex(b, v->sig, v->sig_len);
    jb_lit(b, "}");
}

static void alert_item(void *ctx, const struct store_card_alert *a)
{
    struct list_ctx *l = ctx;
    jb_lit(l->b, l->first ? "{\"id\":" : ",{\"id\":");
    l->first = false;
    jb_int(l->b, a->id);
    jb_lit(l->b, ",\"kind\":\"double_spend\",\"card_id\":");
    jb_id(l->b, &a->card);
    jb_lit(l->b, ",\"counter\":");
    jb_int(l->b, a->counter);
    jb_lit(l->b, ",\"at\":");
    jb_int(l->b, a->at);
    jb_lit(l->b, ",\"evidence\":[");
    evidence(l->b, &a->first);
    jb_lit(l->b, ",");
    evidence(l->b, &a->second);
    jb_lit(l->b, "]}");
}

static void h_alerts(api_call *c, json_t *body)
{
    (void)body;
    struct list_ctx l = {.b = api_call_out(c), .first = true};
    jb_lit(l.b, "{\"alerts\":[");
    const char *op = api_call_is_central(c) ? NULL : api_call_actor_id(c);
    if (store_cards_alerts(state_of(c)->store, op, 1000, alert_item, &l) != 0) {
        registry_failed(c);
        return;
    }
    jb_lit(l.b, "]}");
    api_call_respond(c, 200);
}

/* ---- TSM commands: load, unload, close, and the reissue's load ---- */

/* Makes, stores and journals the next command for the card, paid by `transfer`. */
static int new_command(api_call *c, struct store_card *rec, uint8_t type, const jz_id *transfer,
                       int64_t amount, struct store_card_command *out)
{
    struct cards *s = state_of(c);
    struct voucher_command cmd = {.type = type, .card = rec->id,
                                  .counter = rec->load_counter + 1, .amount = amount,
                                  .issued_at_ms = api_now_ms(api_call_api(c)),
                                  .transfer = *transfer};
    static const char *const names[] = {"", "load", "unload", "close"};
    memset(out, 0, sizeof *out);
    out->transfer = *transfer;
    out->card = rec->id;
    out->counter = cmd.counter;
    out->type = type;
    out->amount = amount;
    out->at = cmd.issued_at_ms;
    if (tsm_command(s->tsm, rec->op, &cmd, out->blob, sizeof out->blob, &out->blob_len) != 0 ||
        store_cards_command_put(s->store, out) != 0) {
        return registry_failed(c);
    }
    rec->load_counter = cmd.counter;
    return note(c, &rec->id, transfer, cmd.counter, names[type]);
}

static void write_command(api_call *c, const struct store_card_command *cmd, int status)
{
    static const char *const names[] = {"", "load", "unload", "close"};
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"card_id\":");
    jb_id(b, &cmd->card);
    jb_lit(b, ",\"type\":");
    jb_cstr(b, names[cmd->type]);
    jb_lit(b, ",\"transfer\":");
    jb_id(b, &cmd->transfer);
    jb_lit(b, ",\"counter\":");
    jb_int(b, cmd->counter);
    jb_lit(b, ",\"amount\":");
    jb_int(b, cmd->amount);
    jb_lit(b, ",\"command\":");
    out_hex(b, cmd->blob, cmd->blob_len);
    jb_lit(b, "}");
    api_call_respond(c, status);
}

/* A transfer between the holder's wallet and the float; 0 when posted (now or before). */
static int move(api_call *c, const jz_id *id, const jz_id *debit, const jz_id *credit,
                int64_t amount, uint8_t kind)
{
    struct ledger_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.op = LEDGER_OP_TRANSFER;
    cmd.actor = (uint16_t)api_call_actor(c);
    cmd.kind = kind;
    cmd.id = *id;
    cmd.debit = *debit;
    cmd.credit = *credit;
    cmd.amount = amount;
    return run_ok(c, &cmd);
}

/* The stored command of a transfer id: 0 found (and it matches), 1 none, -1 answered. */
static int known_command(api_call *c, const jz_id *transfer, const jz_id *card, uint8_t type,
                         int64_t amount, struct store_card_command *out)
{
    int got = store_cards_command_get(state_of(c)->store, transfer, out);
    if (got < 0) {
        return registry_failed(c);
    }
    if (got == 0 && (!jz_id_eq(&out->card, card) || out->type != type ||
                     (amount >= 0 && out->amount != amount))) {
        api_call_fail(c, JZ_ID_CONFLICT, "id", "this id paid for another card command");
        return -1;
    }
    return got;
}

static void load_or_unload(api_call *c, json_t *body, uint8_t type)
{
    struct cards *s = state_of(c);
    jz_id id;
    int64_t amount = 0;
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "id", .type = FIELD_ID, .required = true, .out = &id},
        {.name = "amount", .type = FIELD_AMOUNT, .required = true, .out = &amount},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    struct store_card *rec = malloc(sizeof *rec);
    struct store_card_command *cmd = malloc(sizeof *cmd);
    pthread_mutex_lock(&s->mu);
    if (!rec || !cmd || path_card(c, rec, true) != 0) {
        goto done;
    }
    int known = known_command(c, &id, &rec->id, type, amount, cmd);
    if (known == 0) {
        write_command(c, cmd, 200);
    } else if (known == 1 && rec->status != STORE_CARD_ACTIVE) {
        api_call_fail(c, JZ_CARD_NOT_ACTIVE, "id", "the card is locked, closed or revoked");
    } else if (known == 1) {
        bool load = type == VOUCHER_CMD_LOAD;
        int rc = move(c, &id, load ? &rec->wallet : &rec->float_wallet,
                      load ? &rec->float_wallet : &rec->wallet, amount,
                      load ? LEDGER_KIND_CARD_LOAD : LEDGER_KIND_CARD_UNLOAD);
        if (rc == 0 && new_command(c, rec, type, &id, amount, cmd) == 0) {
            write_command(c, cmd, 201);
        }
    }
done:
    pthread_mutex_unlock(&s->mu);
    free(rec);
    free(cmd);
}

static void h_load(api_call *c, json_t *body)
{
    load_or_unload(c, body, VOUCHER_CMD_LOAD);
}

static void h_unload(api_call *c, json_t *body)
{
    load_or_unload(c, body, VOUCHER_CMD_UNLOAD);
}

/* The transfer id of a move the server itself starts (close, reissue): derived from the card,
 * so a retried request moves nothing twice. */
static void derived_id(const char *what, const jz_id *card, jz_id *out)
{
    uint8_t in[48];
    uint8_t h[CRYPTO_SM3_BYTES];
    size_t n = strlen(what);
    ASSERT(n <= 32);
    memcpy(in, what, n);
    memcpy(in + n, card->b, 16);
    ASSERT(crypto_sm3(in, n + 16, h) == 0);
    memcpy(out->b, h, 16);
}

/* Moves the whole float from `from` to `to` (the holder's wallet or a new float). */
static int move_float(api_call *c, const struct store_card *rec, const jz_id *to,
                      const jz_id *id, uint8_t kind, int64_t *moved)
{
    int64_t fl = 0;
    if (float_balance(c, &rec->float_wallet, &fl) != 0) {
        return -1;
    }
    *moved = fl;
    return fl > 0 ? move(c, id, &rec->float_wallet, to, fl, kind) : 0;
}

static void h_close(api_call *c, json_t *body)
{
    (void)body;
    struct cards *s = state_of(c);
    struct store_card *rec = malloc(sizeof *rec);
    struct store_card_command *cmd = malloc(sizeof *cmd);
    jz_id id;
    pthread_mutex_lock(&s->mu);
    if (!rec || !cmd || path_card(c, rec, true) != 0) {
        goto done;
    }
    derived_id("jiaozi card close", &rec->id, &id);
    int known = known_command(c, &id, &rec->id, VOUCHER_CMD_CLOSE, -1, cmd);
    int64_t moved = 0;
    if (known == 0) {
        write_command(c, cmd, 200);
    } else if (known == 1 && rec->status != STORE_CARD_ACTIVE) {
        api_call_fail(c, JZ_CARD_NOT_ACTIVE, "id", "only an active card closes; a lost one is reissued");
    } else if (known == 1 &&
               move_float(c, rec, &rec->wallet, &id, LEDGER_KIND_CARD_UNLOAD, &moved) == 0 &&
               new_command(c, rec, VOUCHER_CMD_CLOSE, &id, moved, cmd) == 0) {
        int64_t now = api_now_ms(api_call_api(c));
        if (store_cards_set_status(s->store, &rec->id, STORE_CARD_CLOSED, "closed", now, NULL) ==
            0) {
            write_command(c, cmd, 200);
        } else {
            registry_failed(c);
        }
    }
done:
    pthread_mutex_unlock(&s->mu);
    free(rec);
    free(cmd);
}

static void h_lock(api_call *c, json_t *body)
{
    (void)body;
    struct cards *s = state_of(c);
    struct store_card *rec = malloc(sizeof *rec);
    pthread_mutex_lock(&s->mu);
    if (!rec || path_card(c, rec, true) != 0) {
        goto done;
    }
    if (rec->status == STORE_CARD_ACTIVE) {
        int64_t now = api_now_ms(api_call_api(c));
        if (note(c, &rec->id, &rec->wallet, now, "locked") != 0) {
            goto done;
        }
        if (store_cards_set_status(s->store, &rec->id, STORE_CARD_LOCKED, "lost", now, NULL) != 0 ||
            store_cards_get(s->store, &rec->id, rec) != 0) {
            registry_failed(c);
            goto done;
        }
    } else if (rec->status != STORE_CARD_LOCKED) {
        api_call_fail(c, JZ_CARD_NOT_ACTIVE, "id", "the card is closed or revoked already");
        goto done;
    }
    int64_t fl = 0;
    if (float_balance(c, &rec->float_wallet, &fl) == 0) {
        write_card(c, rec, fl);
        api_call_respond(c, 200);
    }
done:
    pthread_mutex_unlock(&s->mu);
    free(rec);
}

/* The new card of a reissue: same wallet, limits and expiry as the lost one. */
static int reissue_new_card(api_call *c, const struct store_card *old, struct issue_req *q,
                            struct store_card *rec, crypto_cert **cert)
{
    int status = 201;
    q->wallet = old->wallet;
    q->per_payment = old->per_payment;
    q->offline_total = old->offline_total;
    q->offline_count = old->offline_count;
    q->expires_at = old->not_after;
    if (issue_card(c, q, rec, cert, &status) != 0) {
        return -1;
    }
    if (jz_id_eq(&rec->id, &old->id)) {
        api_call_fail(c, JZ_INVALID_FIELD, "public_key", "a reissued card needs a new key");
        return -1;
    }
    return 0;
}

static void h_reissue(api_call *c, json_t *body)
{
    struct cards *s = state_of(c);
    struct issue_req q;
    struct store_card *old = malloc(sizeof *old);
    struct store_card *rec = malloc(sizeof *rec);
    struct store_card_command *cmd = malloc(sizeof *cmd);
    crypto_cert *cert = NULL;
    jz_id id;
    memset(&q, 0, sizeof q);
    if (!old || !rec || !cmd || parse_issue(c, body, true, &q) != 0) {
        goto out;
    }
    pthread_mutex_lock(&s->mu);
    if (path_card(c, old, true) != 0) {
        goto done;
    }
    int64_t now = api_now_ms(api_call_api(c));
    bool replayed = old->status == STORE_CARD_CLOSED && !jz_id_is_zero(&old->replaced_by);
    if (!replayed && old->status != STORE_CARD_LOCKED) {
        api_call_fail(c, JZ_CARD_NOT_ACTIVE, "id", "only a locked (lost) card is reissued");
        goto done;
    }
    if (!replayed && now < old->status_at + offline_window_ms(s->off)) {
        api_call_fail(c, JZ_SETTLEMENT_WINDOW_OPEN, "id",
                      "the lost card's vouchers may still arrive: wait for the settlement window");
        goto done;
    }
    if (reissue_new_card(c, old, &q, rec, &cert) != 0) {
        goto done;
    }
    if (replayed && !jz_id_eq(&old->replaced_by, &rec->id)) {
        api_call_fail(c, JZ_ID_CONFLICT, "public_key", "the card was reissued to another key");
        goto done;
    }
    derived_id("jiaozi card reissue", &old->id, &id);
    int64_t moved = 0;
    int known = known_command(c, &id, &rec->id, VOUCHER_CMD_LOAD, -1, cmd);
    if (known == 1 && (move_float(c, old, &rec->float_wallet, &id, LEDGER_KIND_CARD_LOAD,
                                  &moved) != 0 ||
                       (moved > 0 && new_command(c, rec, VOUCHER_CMD_LOAD, &id, moved, cmd) != 0))) {
        goto done;
    }
    if (!replayed && (store_cards_set_status(s->store, &old->id, STORE_CARD_CLOSED, "reissued",
                                             now, &rec->id) != 0 ||
                      note(c, &old->id, &rec->id, moved, "reissued") != 0)) {
        goto done;
    }
    /* The new card's answer, with the command that loads what the lost card had. */
    if (write_issued(c, rec, cert) != 0) {
        goto done;
    }
    struct jbuf *b = api_call_out(c);
    if (known == 0 || moved > 0) {
        jb_lit(b, ",\"command\":");
        out_hex(b, cmd->blob, cmd->blob_len);
        jb_lit(b, ",\"moved\":");
        jb_int(b, cmd->amount);
    }
    jb_lit(b, "}");
    api_call_respond(c, replayed ? 200 : 201);
done:
    pthread_mutex_unlock(&s->mu);
out:
    crypto_cert_free(cert);
    free(old);
    free(rec);
    free(cmd);
}

/* ---- settlement ---- */

static int lg_actor(void *ctx, const char *op)
{
    return api_institution_index(api_call_api(ctx), op);
}

static int lg_run(void *ctx, const struct ledger_cmd *cmds, uint32_t n,
                  struct ledger_result *results)
{
    return api_call_run(ctx, cmds, n, results, NULL, NULL);
}

/* One uploaded voucher into an item; 0, or -1 with e set (a malformed request). */
static int parse_voucher(json_t *obj, size_t i, struct offline_item *it, struct api_error *e)
{
    char prefix[40];
    snprintf(prefix, sizeof prefix, "vouchers[%zu].", i);
    if (!json_is_object(obj)) {
        return api_fail(e, JZ_INVALID_FIELD, prefix, "each voucher is an object");
    }
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (strcmp(key, "body") != 0 && strcmp(key, "signature") != 0 &&
            strcmp(key, "certificate") != 0) {
            return api_fail(e, JZ_UNKNOWN_FIELD, prefix, "unknown field %.40s", key);
        }
        if (!json_is_string(v)) {
            return api_fail(e, JZ_INVALID_FIELD, prefix, "%s must be a string", key);
        }
    }
    json_t *body = json_object_get(obj, "body");
    json_t *sig = json_object_get(obj, "signature");
    json_t *cert = json_object_get(obj, "certificate");
    if (!body || !sig || !cert) {
        return api_fail(e, JZ_MISSING_FIELD, prefix, "body, signature and certificate are needed");
    }
    size_t bl = json_string_length(body);
    size_t sl = json_string_length(sig);
    /* Hex that is not a whole voucher or signature is answered per item, not as a 400. */
    it->body_len = bl == 2 * VOUCHER_BODY_BYTES &&
                           jz_hex_decode(json_string_value(body), bl, it->body, VOUCHER_BODY_BYTES) == 0
                       ? VOUCHER_BODY_BYTES : 0;
    it->sig_len = sl % 2 == 0 && sl > 0 && sl <= 2 * CRYPTO_SM2_SIG_MAX &&
                          jz_hex_decode(json_string_value(sig), sl, it->sig, sl / 2) == 0
                      ? sl / 2 : 0;
    it->cert_pem = json_string_value(cert);
    it->cert_pem_len = json_string_length(cert);
    return 0;
}

static void h_vouchers(api_call *c, json_t *body)
{
    struct cards *s = state_of(c);
    json_t *list = NULL;
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "vouchers", .type = FIELD_ARRAY, .required = true, .out = &list},
    };
    if (json_fields_parse(body, specs, 1, "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    size_t n = json_array_size(list);
    if (n == 0 || n > UPLOAD_MAX) {
        api_call_fail(c, JZ_INVALID_FIELD, "vouchers", "1 to 1024 vouchers a request");
        return;
    }
    struct offline_item *items = calloc(n, sizeof *items);
    if (!items) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (parse_voucher(json_array_get(list, i), i, &items[i], &e) != 0) {
            api_call_fail_error(c, &e);
            free(items);
            return;
        }
    }
    offline_verify_parallel(s->off, items, n, n >= 16 ? 2 : 1);
    struct offline_ledger lg = {.actor = lg_actor, .run = lg_run, .ctx = c};
    if (offline_settle(s->off, items, n, api_now_ms(api_call_api(c)), &lg) == 0) {
        struct jbuf *b = api_call_out(c);
        jb_lit(b, "{\"results\":[");
        for (size_t i = 0; i < n; i++) {
            jb_lit(b, i ? ",{\"status\":" : "{\"status\":");
            jb_cstr(b, offline_status_name(items[i].status));
            jb_lit(b, "}");
        }
        jb_lit(b, "]}");
        api_call_respond(c, 200);
    } else if (api_call_out(c)->len == 0) {
        registry_failed(c);
    }
    free(items);
}

/* ---- the module ---- */

static int64_t window_from_env(void)
{
    const char *v = getenv("JZ_CARD_SETTLEMENT_WINDOW_MS");
    char *end = NULL;
    long long ms = v ? strtoll(v, &end, 10) : -1;
    return v && end && *end == '\0' && ms >= 0 ? ms : DEFAULT_WINDOW_MS;
}

static int cards_open(api *a, void **state, char *err, size_t err_len)
{
    struct cards *s = calloc(1, sizeof *s);
    char path[4200];
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    pthread_mutex_init(&s->mu, NULL);
    snprintf(path, sizeof path, "%s/cards.db", node_dir(api_node(a)));
    if (tsm_open(node_dir(api_node(a)), api_now_ms(a), &s->tsm, err, err_len) != 0 ||
        store_cards_open(path, &s->store, err, err_len) != 0 ||
        offline_new(s->tsm, s->store, window_from_env(), &s->off) != 0) {
        offline_free(s->off);
        store_cards_close(s->store);
        tsm_close(s->tsm);
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static void cards_close(void *state)
{
    struct cards *s = state;
    offline_free(s->off);
    store_cards_close(s->store);
    tsm_close(s->tsm);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static const struct api_ext_route card_routes[] = {
    {"POST", "/v1/cards", API_EXT_OPERATORS, false, 0, h_card_issue, false},
    {"GET", "/v1/cards/revoked", API_EXT_ANY, false, 0, h_revoked, false},
    {"GET", "/v1/cards/alerts", API_EXT_ANY, false, 0, h_alerts, false},
    {"GET", "/v1/cards/{id}", API_EXT_ANY, false, 0, h_card_get, false},
    {"POST", "/v1/cards/{id}/load", API_EXT_OPERATORS, false, 0, h_load, false},
    {"POST", "/v1/cards/{id}/unload", API_EXT_OPERATORS, false, 0, h_unload, false},
    {"POST", "/v1/cards/{id}/lock", API_EXT_OPERATORS, true, 0, h_lock, false},
    {"POST", "/v1/cards/{id}/reissue", API_EXT_OPERATORS, false, 0, h_reissue, false},
    {"POST", "/v1/cards/{id}/close", API_EXT_OPERATORS, true, 0, h_close, false},
    {"POST", "/v1/offline/vouchers", API_EXT_OPERATORS, false, 8u << 20, h_vouchers, false},
};

const struct api_ext api_card_ext = {
    .name = "cards",
    .routes = card_routes,
    .nroutes = JZ_ARRAY_LEN(card_routes),
    .open = cards_open,
    .close = cards_close,
};
