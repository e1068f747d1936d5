/*
 * offline.c: settlement of offline vouchers (see offline.h).
 */
#include "offline.h"

#include <pthread.h>
#include <stdatomic.h>

#include "crypto_x509.h"

/* A verified certificate: parsed once, then every voucher under it costs one SM2 verify. */
struct offline_cert {
    uint8_t pem_hash[CRYPTO_SM3_BYTES]; /* SM3 of the PEM text as uploaded */
    crypto_cert *cert;
    struct crypto_card_ext ext;
    int64_t not_before, not_after;
    struct offline_cert *next;
};

#define BUCKETS 16384

struct offline {
    tsm *tsm;
    store_cards *store;
    int64_t window_ms;
    pthread_rwlock_t mu;
    struct offline_cert *buckets[BUCKETS];
    uint32_t cached;
};

int offline_new(tsm *t, store_cards *s, int64_t window_ms, offline **out)
{
    offline *o = calloc(1, sizeof *o);
    if (!o) {
        return -1;
    }
    o->tsm = t;
    o->store = s;
    o->window_ms = window_ms;
    pthread_rwlock_init(&o->mu, NULL);
    *out = o;
    return 0;
}

static void cache_clear(offline *o)
{
    for (size_t i = 0; i < BUCKETS; i++) {
        while (o->buckets[i]) {
            struct offline_cert *e = o->buckets[i];
            o->buckets[i] = e->next;
            crypto_cert_free(e->cert);
            free(e);
        }
    }
    o->cached = 0;
}

void offline_free(offline *o)
{
    if (!o) {
        return;
    }
    cache_clear(o);
    pthread_rwlock_destroy(&o->mu);
    free(o);
}

int64_t offline_window_ms(const offline *o)
{
    return o->window_ms;
}

const char *offline_status_name(int status)
{
    return status == JZ_OK ? "settled" : jz_result_name(status);
}

void offline_float_id(const jz_id *card, jz_id *out)
{
    uint8_t in[32];
    uint8_t h[CRYPTO_SM3_BYTES];
    memcpy(in, "jiaozi card float", 16);
    memcpy(in + 16, card->b, 16);
    ASSERT(crypto_sm3(in, sizeof in, h) == 0);
    memcpy(out->b, h, 16);
}

/* ---- phase 1: certificates and signatures ---- */

static struct offline_cert *cache_find(offline *o, const uint8_t hash[CRYPTO_SM3_BYTES])
{
    uint32_t b;
    memcpy(&b, hash, sizeof b);
    for (struct offline_cert *e = o->buckets[b % BUCKETS]; e; e = e->next) {
        if (memcmp(e->pem_hash, hash, CRYPTO_SM3_BYTES) == 0) {
            return e;
        }
    }
    return NULL;
}

/* Parses and checks a certificate the first time it is seen: a card certificate that the
 * registry holds (byte for byte) and that chains through its operator's CA to the root. */
static struct offline_cert *cert_admit(offline *o, const char *pem, size_t len,
                                       const uint8_t hash[CRYPTO_SM3_BYTES])
{
    struct offline_cert *e = calloc(1, sizeof *e);
    struct store_card *rec = malloc(sizeof *rec);
    const crypto_cert *ca = NULL;
    uint8_t fp[CRYPTO_SM3_BYTES], reg_fp[CRYPTO_SM3_BYTES];
    jz_id id;
    if (!e || !rec || crypto_cert_from_pem(pem, len, &e->cert) != 0 ||
        crypto_cert_card_ext(e->cert, &e->ext) != 0) {
        goto fail;
    }
    memcpy(id.b, e->ext.card_id, 16);
    crypto_cert_validity(e->cert, &e->not_before, &e->not_after);
    crypto_cert_fingerprint(e->cert, fp);
    if (store_cards_get(o->store, &id, rec) != 0 || crypto_sm3(rec->cert, rec->cert_len, reg_fp) ||
        memcmp(fp, reg_fp, sizeof fp) != 0 || tsm_operator_ca(o->tsm, rec->op, 0, &ca) != 0) {
        goto fail;
    }
    const crypto_cert *mid[1] = {ca};
    if (crypto_cert_verify_chain(tsm_root(o->tsm), mid, 1, e->cert, e->not_before + 1000) != 0) {
        goto fail;
    }
    memcpy(e->pem_hash, hash, CRYPTO_SM3_BYTES);
    free(rec);
    return e;
fail:
    if (e) {
        crypto_cert_free(e->cert);
    }
    free(e);
    free(rec);
    return NULL;
}

static const struct offline_cert *cert_get(offline *o, const char *pem, size_t len)
{
    uint8_t hash[CRYPTO_SM3_BYTES];
    if (!pem || len == 0 || len > CRYPTO_CERT_PEM_MAX || crypto_sm3(pem, len, hash) != 0) {
        return NULL;
    }
    pthread_rwlock_rdlock(&o->mu);
    struct offline_cert *e = cache_find(o, hash);
    pthread_rwlock_unlock(&o->mu);
    if (e) {
        return e;
    }
    struct offline_cert *fresh = cert_admit(o, pem, len, hash);
    if (!fresh) {
        return NULL;
    }
    pthread_rwlock_wrlock(&o->mu);
    e = cache_find(o, hash);
    if (e) {
        crypto_cert_free(fresh->cert); /* another thread got there first */
        free(fresh);
    } else {
        if (o->cached >= OFFLINE_CERT_CACHE) {
            cache_clear(o); /* a crude bound; certificates are re-verified on demand */
        }
        uint32_t b;
        memcpy(&b, hash, sizeof b);
        fresh->next = o->buckets[b % BUCKETS];
        o->buckets[b % BUCKETS] = fresh;
        o->cached++;
        e = fresh;
    }
    pthread_rwlock_unlock(&o->mu);
    return e;
}

static int verify_one(offline *o, struct offline_item *it)
{
    if (it->body_len != VOUCHER_BODY_BYTES ||
        voucher_decode(it->body, VOUCHER_BODY_BYTES, &it->v) != 0) {
        return JZ_INVALID_VOUCHER;
    }
    if (crypto_sm2_sig_canonical(it->sig, it->sig_len) != 0) {
        return JZ_INVALID_SIGNATURE;
    }
    it->cert = cert_get(o, it->cert_pem, it->cert_pem_len);
    if (!it->cert || memcmp(it->cert->ext.card_id, it->v.payer.b, 16) != 0 ||
        it->v.time_ms < it->cert->not_before || it->v.time_ms > it->cert->not_after) {
        return JZ_INVALID_CERTIFICATE;
    }
    if (crypto_sm2_verify(crypto_cert_key(it->cert->cert), it->body, VOUCHER_BODY_BYTES, it->sig,
                          it->sig_len) != 0) {
        return JZ_INVALID_SIGNATURE;
    }
    return JZ_OK;
}

void offline_verify(offline *o, struct offline_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        items[i].status = verify_one(o, &items[i]);
    }
}

/* Threads take chunks of a batch from a shared cursor, so a thread the scheduler delays
 * (the cores are shared) leaves its share to the others instead of keeping them waiting. */
#define VERIFY_CHUNK 8

struct verify_job {
    offline *o;
    struct offline_item *items;
    size_t n;
    _Atomic size_t next;
};

static void *verify_thread(void *arg)
{
    struct verify_job *j = arg;
    for (;;) {
        size_t at = atomic_fetch_add(&j->next, VERIFY_CHUNK);
        if (at >= j->n) {
            return NULL;
        }
        offline_verify(j->o, j->items + at, j->n - at < VERIFY_CHUNK ? j->n - at : VERIFY_CHUNK);
    }
}

void offline_verify_parallel(offline *o, struct offline_item *items, size_t n, uint32_t threads)
{
    pthread_t t[64];
    bool started[64] = {false};
    struct verify_job job = {.o = o, .items = items, .n = n};
    atomic_init(&job.next, 0);
    threads = threads < 1 ? 1 : threads > 64 ? 64 : threads;
    for (uint32_t k = 1; k < threads; k++) {
        started[k] = pthread_create(&t[k], NULL, verify_thread, &job) == 0;
    }
    verify_thread(&job);
    for (uint32_t k = 1; k < threads; k++) {
        if (started[k]) {
            pthread_join(t[k], NULL);
        }
    }
}

/* ---- phase 2: registry and ledger ---- */

struct plan {
    struct ledger_cmd *cmds;
    struct ledger_result *results;
    uint32_t *item_of; /* command i settles items[item_of[i]] */
    uint32_t n;
};

/* The cards one settlement call looks at, read from the registry once each: a batch
 * comes from a few cards. Valid for that call only (statuses change between calls). */
#define CARD_MEMO 16
struct card_memo {
    struct store_card cards[CARD_MEMO];
    uint32_t n, next;
};

static const struct store_card *card_lookup(offline *o, struct card_memo *m, const jz_id *id)
{
    for (uint32_t i = 0; i < m->n; i++) {
        if (jz_id_eq(&m->cards[i].id, id)) {
            return &m->cards[i];
        }
    }
    struct store_card *slot = &m->cards[m->next];
    if (store_cards_get(o->store, id, slot) != 0) {
        return NULL;
    }
    m->next = (m->next + 1) % CARD_MEMO;
    m->n = m->n < CARD_MEMO ? m->n + 1 : CARD_MEMO;
    return slot;
}

/* What the registry remembers of this (card, counter): duplicate (or the first upload's
 * refusal), double_spend for another body, 0 when it has not seen it, -1 on a storage error. */
static int seen_before(offline *o, const struct offline_item *it)
{
    struct store_voucher seen;
    int got = store_cards_voucher_get(o->store, &it->v.payer, it->v.counter, &seen);
    if (got != 0) {
        return got < 0 ? -1 : 0;
    }
    if (memcmp(seen.body, it->body, VOUCHER_BODY_BYTES) != 0) {
        return JZ_DOUBLE_SPEND;
    }
    return seen.status == JZ_OK ? JZ_DUPLICATE : seen.status;
}

/* The registry's verdict on a verified voucher; JZ_OK means it goes to the ledger. */
static int registry_check(offline *o, const struct offline_item *it, int64_t now_ms,
                          struct card_memo *memo, struct store_card *payer,
                          struct store_card *payee)
{
    const struct voucher *v = &it->v;
    const struct store_card *found = card_lookup(o, memo, &v->payer);
    if (!found) {
        return JZ_INVALID_CERTIFICATE;
    }
    *payer = *found;
    /* An active card's vouchers go straight to the ledger, whose idempotency answers
     * duplicates and double spends; a card no longer active is asked about first, so that a
     * voucher settled before it was revoked still reads `duplicate`. */
    if (payer->status != STORE_CARD_ACTIVE) {
        int seen_verdict = seen_before(o, it);
        if (seen_verdict != 0) {
            return seen_verdict;
        }
    }
    if (payer->status == STORE_CARD_REVOKED) {
        return JZ_REVOKED;
    }
    if (payer->status != STORE_CARD_ACTIVE &&
        (v->time_ms > payer->status_at || now_ms > payer->status_at + o->window_ms)) {
        return JZ_REVOKED;
    }
    found = card_lookup(o, memo, &v->payee);
    if (!found) {
        return JZ_UNKNOWN_PAYEE;
    }
    *payee = *found;
    return JZ_OK;
}

static void settle_cmd(const struct offline_item *it, const struct store_card *payer,
                       const struct store_card *payee, int actor, struct ledger_cmd *c)
{
    uint8_t h[CRYPTO_SM3_BYTES];
    memset(c, 0, sizeof *c);
    c->op = LEDGER_OP_TRANSFER;
    c->actor = (uint16_t)actor;
    c->kind = LEDGER_KIND_OFFLINE_SETTLE;
    voucher_transfer_id(&it->v.payer, it->v.counter, &c->id);
    c->debit = payer->float_wallet;
    c->credit = payee->wallet;
    c->amount = it->v.amount;
    ASSERT(voucher_hash(it->body, h) == 0);
    char hex[2 * CRYPTO_SM3_BYTES + 1];
    jz_hex_encode(h, sizeof h, hex);
    _Static_assert(2 * CRYPTO_SM3_BYTES <= JZ_REF_MAX, "the body hash fits a reference");
    memcpy(c->ref, hex, 2 * CRYPTO_SM3_BYTES);
    c->ref_len = 2 * CRYPTO_SM3_BYTES;
}

static int map_result(const struct ledger_result *r)
{
    switch (r->code) {
    case JZ_OK: return r->replayed ? JZ_DUPLICATE : JZ_OK;
    case JZ_ID_CONFLICT: return JZ_DOUBLE_SPEND;
    case JZ_INSUFFICIENT_FUNDS: return JZ_INSUFFICIENT_FLOAT;
    default: return r->code;
    }
}

/* Revokes the card, freezes its holder's wallet and journals it; then the alert with the
 * evidence (the first voucher of that counter, from the registry, and this one). */
static int double_spend(offline *o, const struct offline_item *it, int64_t now_ms,
                        const struct offline_ledger *lg)
{
    struct store_card card;
    struct store_card_alert a;
    memset(&a, 0, sizeof a);
    if (store_cards_get(o->store, &it->v.payer, &card) != 0 ||
        store_cards_voucher_get(o->store, &it->v.payer, it->v.counter, &a.first) != 0) {
        return -1;
    }
    int actor = lg->actor(lg->ctx, card.op);
    if (card.status != STORE_CARD_REVOKED && actor >= 0) {
        struct ledger_cmd cmds[2];
        struct ledger_result res[2];
        memset(cmds, 0, sizeof cmds);
        cmds[0].op = LEDGER_OP_WALLET_UPDATE;
        cmds[0].actor = (uint16_t)actor;
        cmds[0].id = card.wallet;
        cmds[0].status = LEDGER_STATUS_FROZEN;
        cmds[1].op = LEDGER_OP_NOTE;
        cmds[1].actor = (uint16_t)actor;
        cmds[1].kind = LEDGER_NOTE_CARD;
        cmds[1].id = card.id;
        cmds[1].debit = card.wallet;
        cmds[1].amount = it->v.counter;
        memcpy(cmds[1].holder, "double_spend", 12);
        cmds[1].holder_len = 12;
        if (lg->run(lg->ctx, cmds, 2, res) != 0 ||
            store_cards_set_status(o->store, &card.id, STORE_CARD_REVOKED, "double_spend",
                                   now_ms, NULL) != 0) {
            return -1;
        }
    }
    a.card = card.id;
    a.counter = it->v.counter;
    a.second.card = card.id;
    a.second.counter = it->v.counter;
    memcpy(a.second.body, it->body, VOUCHER_BODY_BYTES);
    memcpy(a.second.sig, it->sig, it->sig_len);
    a.second.sig_len = it->sig_len;
    a.at = now_ms;
    return store_cards_alert_put(o->store, &a, NULL) < 0 ? -1 : 0;
}

/* Builds the ledger commands for the vouchers the registry lets through. */
static int plan_build(offline *o, struct offline_item *items, size_t n, int64_t now_ms,
                      const struct offline_ledger *lg, struct plan *p)
{
    struct store_card *payer = malloc(sizeof *payer);
    struct store_card *payee = malloc(sizeof *payee);
    struct card_memo *memo = calloc(1, sizeof *memo);
    int rc = payer && payee && memo ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (items[i].status != JZ_OK) {
            continue;
        }
        int verdict = registry_check(o, &items[i], now_ms, memo, payer, payee);
        int actor = verdict == JZ_OK ? lg->actor(lg->ctx, payer->op) : -1;
        if (verdict < 0) {
            rc = -1;
        } else if (verdict != JZ_OK) {
            items[i].status = verdict;
        } else if (actor < 0) {
            items[i].status = JZ_INVALID_CERTIFICATE;
        } else {
            settle_cmd(&items[i], payer, payee, actor, &p->cmds[p->n]);
            p->item_of[p->n++] = (uint32_t)i;
        }
    }
    free(payer);
    free(payee);
    free(memo);
    return rc;
}

/* Records the settled (and ledger-refused) vouchers: the evidence of what each counter was. */
static int record(offline *o, const struct offline_item *items, const struct plan *p,
                  int64_t now_ms)
{
    struct store_voucher *v = calloc(p->n ? p->n : 1, sizeof *v);
    size_t k = 0;
    if (!v) {
        return -1;
    }
    for (uint32_t i = 0; i < p->n; i++) {
        const struct offline_item *it = &items[p->item_of[i]];
        if (it->status == JZ_DOUBLE_SPEND || it->status == JZ_DUPLICATE) {
            continue;
        }
        v[k].card = it->v.payer;
        v[k].counter = it->v.counter;
        memcpy(v[k].body, it->body, VOUCHER_BODY_BYTES);
        memcpy(v[k].sig, it->sig, it->sig_len);
        v[k].sig_len = it->sig_len;
        v[k].status = it->status;
        v[k].at = now_ms;
        k++;
    }
    int rc = k ? store_cards_vouchers_put(o->store, v, k) : 0;
    free(v);
    return rc;
}

int offline_settle(offline *o, struct offline_item *items, size_t n, int64_t now_ms,
                   const struct offline_ledger *lg)
{
    ASSERT(n <= OFFLINE_BATCH_MAX);
    struct plan p = {.cmds = calloc(n ? n : 1, sizeof *p.cmds),
                     .results = calloc(n ? n : 1, sizeof *p.results),
                     .item_of = calloc(n ? n : 1, sizeof *p.item_of)};
    int rc = p.cmds && p.results && p.item_of ? 0 : -1;
    if (rc == 0) {
        rc = plan_build(o, items, n, now_ms, lg, &p);
    }
    if (rc == 0 && p.n > 0) {
        rc = lg->run(lg->ctx, p.cmds, p.n, p.results);
    }
    for (uint32_t i = 0; rc == 0 && i < p.n; i++) {
        struct offline_item *it = &items[p.item_of[i]];
        it->status = map_result(&p.results[i]);
        /* Past the ledger's idempotency window the registry still knows the voucher. */
        int seen = it->status == JZ_ID_EXPIRED ? seen_before(o, it) : 0;
        if (seen < 0) {
            rc = -1;
        } else if (seen > 0) {
            it->status = seen;
        }
    }
    if (rc == 0) {
        rc = record(o, items, &p, now_ms);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (items[i].status == JZ_DOUBLE_SPEND) {
            rc = double_spend(o, &items[i], now_ms, lg);
        }
    }
    free(p.cmds);
    free(p.results);
    free(p.item_of);
    return rc;
}
