/*
 * offline.h: settlement of offline vouchers (DESIGN.md §4, API.md POST /v1/offline/vouchers),
 * used by the API (api_card.c) and by `jiaozi bench offline`.
 *
 * Two phases. offline_verify is pure and thread-safe (callers spread a batch over cores): it
 * decodes each voucher, requires a canonical signature, checks the payer's certificate
 * (parsed once and cached: issued by the payer's operator CA under the platform root, equal
 * to the registry's copy, naming the payer, valid at the voucher's time) and the SM2
 * signature. offline_settle then runs serially: registry status and revocation, the payee's
 * wallet, and one ledger transfer of kind offline_settle per voucher from the payer card's
 * float account to the payee card's wallet, under the id voucher_transfer_id(card, counter)
 * and with SM3(body) as its reference, run as the payer float's operator (the voucher is the
 * payer's authorisation). The ledger's idempotency answers a second upload (`duplicate`) and
 * exposes a second body with the same counter (id_conflict: `double_spend`); its funds check
 * keeps the float from going below zero (`insufficient_float`).
 *
 * A double spend revokes the card, freezes its holder's wallet (LEDGER_OP_WALLET_UPDATE),
 * journals a NOTE (topic card) and stores an alert with both vouchers as evidence.
 *
 * A locked or closed card's vouchers still settle when made before it was locked and
 * uploaded within the settlement window after; later ones are `revoked`.
 */
#ifndef JZ_OFFLINE_H
#define JZ_OFFLINE_H

#include "ledger.h"
#include "store_cards.h"
#include "tsm.h"
#include "voucher.h"

/* Vouchers in one settlement call: one executor request per call. */
#define OFFLINE_BATCH_MAX 4096
/* Distinct certificates kept parsed and verified. */
#define OFFLINE_CERT_CACHE 65536

typedef struct offline offline;

int offline_new(tsm *t, store_cards *s, int64_t window_ms, offline **out);
void offline_free(offline *o);
int64_t offline_window_ms(const offline *o);

struct offline_cert; /* a cached, verified certificate */

struct offline_item {
    /* in */
    uint8_t body[VOUCHER_BODY_BYTES];
    size_t body_len; /* as uploaded: anything but 121 is invalid_voucher */
    uint8_t sig[CRYPTO_SM2_SIG_MAX];
    size_t sig_len;
    const char *cert_pem;
    size_t cert_pem_len;
    /* out: a jz_result (JZ_OK = settled) */
    int status;
    /* work */
    struct voucher v;
    const struct offline_cert *cert;
};

/* Phase 1 on items[0..n): sets status to JZ_OK or the refusal. Thread-safe. */
void offline_verify(offline *o, struct offline_item *items, size_t n);

/* offline_verify spread over `threads` threads (the caller's among them), one slice each. */
void offline_verify_parallel(offline *o, struct offline_item *items, size_t n, uint32_t threads);

/* How phase 2 reaches the ledger: the index of an institution, and a run of commands as
 * one durable request (0, or -1 when the node cannot take it). */
struct offline_ledger {
    int (*actor)(void *ctx, const char *op);
    int (*run)(void *ctx, const struct ledger_cmd *cmds, uint32_t n,
               struct ledger_result *results);
    void *ctx;
};

/* Phase 2 on items that passed phase 1 (n <= OFFLINE_BATCH_MAX). 0, or -1 when the ledger
 * or the registry failed (nothing is then answered as settled that was not). */
int offline_settle(offline *o, struct offline_item *items, size_t n, int64_t now_ms,
                   const struct offline_ledger *lg);

/* The API's status word for a result: "settled" for JZ_OK, else the code's name. */
const char *offline_status_name(int status);

/* The float account of a card: derived from its id, so a retried issue names the same. */
void offline_float_id(const jz_id *card, jz_id *out);

#endif
