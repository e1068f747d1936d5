/*
 * disclosure.h: controllable anonymity (DESIGN.md §8).
 *
 * Identity records (name, ID number, phone) are sealed under the node's master key into the
 * WALLET_OPEN command (api.c) and so live only in the journal and the history store, as
 * SM4-CTR + HMAC-SM3 ciphertext. Other institutions see a tier-4 wallet only through a
 * pseudonym: the first 16 bytes of HMAC-SM3(K, "v1" | viewer | wallet), K a key derived
 * from the master key, one pseudonym per viewing institution (two merchants' acquirers
 * cannot link a payer), stable (one institution sees the same payer the same way).
 * Revealing an identity takes a disclosure request with a legal basis and the approval of
 * a second institution of the other role (risk_note.h's events, api_risk.c's routes); every
 * step, and every refusal, is journalled, and disclosure_audit lists them from the journal
 * with nothing but the data directory's journal files.
 */
#ifndef JZ_DISCLOSURE_H
#define JZ_DISCLOSURE_H

#include "crypto.h"
#include "ledger.h"
#include "store_alerts.h"

#define DISCLOSURE_PSEUDONYM_LABEL "jiaozi pseudonym v1"

/* The pseudonym of wallet as institution `viewer` sees it. */
void disclosure_pseudonym(const uint8_t key[CRYPTO_SM3_BYTES], uint16_t viewer,
                          const jz_id *wallet, jz_id *out);

/* The sealed identity record the WALLET_OPEN of wallet carried in journal record seq
 * (durable: the durable head). 0 with sealed[0..*len); 1 when the open carried none; -1
 * when the record cannot be read or holds no such open. sealed: JZ_HOLDER_SEALED_MAX. */
int disclosure_sealed_holder(const char *dir, uint64_t seq, uint64_t durable,
                             const jz_id *wallet, uint8_t *sealed, size_t *len);

struct holder_identity {
    char name[JZ_HOLDER_NAME_MAX + 1];
    char id_number[JZ_HOLDER_ID_NUMBER_MAX + 1];
    char phone[JZ_HOLDER_PHONE_MAX + 1];
};
/* Splits an unsealed record (three length-prefixed fields). 0, or -1 when malformed. */
int disclosure_holder_fields(const uint8_t *plain, size_t len, struct holder_identity *out);

/* One journalled disclosure step, for the audit. */
struct disclosure_audit_row {
    uint64_t seq;
    int64_t at;
    char actor[JZ_INSTITUTION_ID_MAX + 1];
    uint8_t event;  /* enum disclosure_event */
    uint8_t reason; /* enum disclosure_reason, for a refusal */
    jz_id id, wallet;
    char basis[DISCLOSURE_BASIS_MAX + 1];
};
typedef void (*disclosure_audit_fn)(void *ctx, const struct disclosure_audit_row *r);
/* Verifies dir's journal (hash chain, and checkpoints with DIR/node.pub, as `jiaozi audit
 * verify`), then reads it whole and calls fn for every disclosure step, in order. Returns
 * the number of steps, or -1 with err set (a journal that does not verify). */
int64_t disclosure_audit(const char *dir, disclosure_audit_fn fn, void *ctx, char *err,
                         size_t err_len);

#endif
