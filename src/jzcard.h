/*
 * jzcard.h: libjzcard, the secure-element emulator of a hard wallet (DESIGN.md §4). A real
 * SIM, SD or card secure element speaks the same commands; this one keeps its state in a file
 * so the whole offline flow runs and is tested without hardware. It needs nothing of the
 * server: build/libjzcard.a is this module, voucher.c, crypto.c, crypto_x509.c, io.c and
 * common.c.
 *
 * State: the card's SM2 key pair, its certificate, operator CA and platform root (from
 * personalisation), the secure-channel card key, the offline balance, the voucher counter and
 * the hash of the last voucher it signed, the load-command counter, the offline spending since
 * the last sync, the challenges it made and is waiting on, the vouchers it sent and received
 * (kept until a sync settles them), and the revocation list of the last sync.
 *
 * At rest: FILE holds "JZCARD\1\0" and the state sealed (SM4-CTR + HMAC-SM3, crypto_seal)
 * under a 48-byte device key kept in FILE.key (mode 0600), standing for the key a secure
 * element keeps in hardware. Every change is computed on a copy, written to a new file,
 * fsync'd, renamed over FILE and the directory fsync'd before the card answers: a kill at any
 * point leaves the old state or the new one, never a mix, and nothing is answered (no voucher
 * leaves the card) before its new state is durable.
 *
 * Rules the card enforces (each refusal a JZCARD_E_* code, nothing changed):
 *   - it pays only when active, within its certificate's validity, within the per-payment
 *     limit, the total and the count since the last sync, and its balance;
 *   - every voucher takes the next counter and chains to the previous voucher's hash;
 *   - it accepts a payment only for a challenge it made (same nonce and amount, still
 *     pending), from a certificate that chains to its root and is valid, not revoked, with a
 *     valid canonical signature, and not older than a voucher it already holds from that card;
 *   - it applies a TSM command only when sealed under its card key, signed by its operator CA
 *     and numbered exactly one more than the last it applied (so each applies once, in order).
 * Value received offline is never added to the balance: it reaches the payee's wallet when
 * the voucher settles (a card never passes on value it has not seen settled).
 *
 * Functions return JZCARD_OK (0) or a positive JZCARD_E_* code. A jzcard is not thread-safe.
 */
#ifndef JZ_JZCARD_H
#define JZ_JZCARD_H

#include "voucher.h"

#define JZCARD_PENDING_MAX 8    /* challenges awaiting a payment: the oldest goes first */
#define JZCARD_SENT_MAX 64      /* vouchers signed and not yet synced */
#define JZCARD_RECEIVED_MAX 64  /* vouchers accepted and not yet synced */
#define JZCARD_REVOKED_MAX 1024 /* card ids of the last revocation list */

#define JZCARD_ERRORS(X)                                                          \
    X(JZCARD_OK, "ok")                                                            \
    X(JZCARD_E_IO, "the card file could not be read or written")                  \
    X(JZCARD_E_CORRUPT, "the card file is damaged or sealed under another key")   \
    X(JZCARD_E_STATE, "the card is not in a state for this (blank, active, closed)") \
    X(JZCARD_E_INPUT, "the message is malformed")                                 \
    X(JZCARD_E_NOT_FOR_ME, "the message is for another card")                     \
    X(JZCARD_E_SIGNATURE, "a signature does not verify")                          \
    X(JZCARD_E_CERT, "a certificate does not chain to the root or is not valid now") \
    X(JZCARD_E_REVOKED, "the paying card is on the revocation list")              \
    X(JZCARD_E_EXPIRED, "this card's certificate is not valid at this time")      \
    X(JZCARD_E_PER_PAYMENT, "the amount is over the card's per-payment limit")    \
    X(JZCARD_E_OFFLINE_TOTAL, "the payment would pass the offline total since the last sync") \
    X(JZCARD_E_OFFLINE_COUNT, "the payment would pass the offline count since the last sync") \
    X(JZCARD_E_BALANCE, "the card's offline balance is less than the amount")     \
    X(JZCARD_E_REPLAY, "this was applied or accepted already")                    \
    X(JZCARD_E_SEQUENCE, "a command before this one has not been applied")        \
    X(JZCARD_E_CHALLENGE, "no pending challenge of this card matches")            \
    X(JZCARD_E_FULL, "the card's voucher store is full: sync first")              \
    X(JZCARD_E_CRYPTO, "a cryptographic operation failed")                        \
    X(JZCARD_E_EXISTS, "the card file exists already")

enum jzcard_error {
#define JZCARD_X(name, text) name,
    JZCARD_ERRORS(JZCARD_X)
#undef JZCARD_X
        JZCARD_ERROR_COUNT
};
const char *jzcard_strerror(int code);

enum jzcard_status { JZCARD_BLANK = 0, JZCARD_ACTIVE = 1, JZCARD_CLOSED = 2 };

typedef struct jzcard jzcard;

/* Makes a new card at path (and path.key): a fresh SM2 key pair, blank. */
int jzcard_create(const char *path, jzcard **out);
int jzcard_open(const char *path, jzcard **out);
/* Frees the in-memory card (its file stays); NULL does nothing. Wipes the keys. */
void jzcard_close(jzcard *c);

struct jzcard_info {
    jz_id card, wallet;
    int status; /* enum jzcard_status */
    uint8_t tier;
    int64_t balance;
    uint32_t counter, load_counter;
    int64_t per_payment, offline_total;
    uint32_t offline_count;
    int64_t since_sync_total;
    uint32_t since_sync_count;
    int64_t not_before_ms, not_after_ms;
    uint32_t pending, sent, received, revoked;
};
void jzcard_get_info(const jzcard *c, struct jzcard_info *out);
/* The card's public key as PEM (what the TSM certifies); *pem malloc'd, caller frees. */
int jzcard_public_pem(const jzcard *c, char **pem, size_t *len);
/* The card's certificate (DER), once personalised; borrowed from the card. */
int jzcard_certificate(const jzcard *c, const uint8_t **der, size_t *len);

/* Issue: the TSM's personalisation (voucher.h) for this card, checked and installed. */
int jzcard_personalise(jzcard *c, const uint8_t *perso, size_t len, int64_t now_ms);
/* Load, unload or close: a sealed, signed TSM command, applied exactly once. *applied
 * (may be NULL) gets what was applied. */
int jzcard_apply_command(jzcard *c, const uint8_t *cmd, size_t len,
                         struct voucher_command *applied);

/* Payee: a challenge for amount (out: VOUCHER_CHALLENGE_BYTES), remembered as pending. */
int jzcard_request(jzcard *c, int64_t amount, int64_t now_ms,
                   uint8_t out[VOUCHER_CHALLENGE_BYTES]);
/* Payer: answers a challenge with a payment (voucher.h), written to out (cap bytes, at least
 * VOUCHER_PAYMENT_MAX); the voucher is kept as sent until a sync. */
int jzcard_pay(jzcard *c, const uint8_t *challenge, size_t len, int64_t now_ms, uint8_t *out,
               size_t cap, size_t *out_len);
/* Payee: checks and keeps a payment; *accepted (may be NULL) gets its voucher. */
int jzcard_accept(jzcard *c, const uint8_t *payment, size_t len, int64_t now_ms,
                  struct voucher *accepted);

/* Sync: the vouchers to upload (sent ones first, then received), each with the payer's
 * certificate DER. Pointers are borrowed until the next change of the card. */
struct jzcard_upload {
    const uint8_t *body;
    const uint8_t *sig;
    size_t sig_len;
    const uint8_t *cert;
    size_t cert_len;
    bool sent; /* signed by this card (else received) */
};
uint32_t jzcard_upload_count(const jzcard *c);
int jzcard_upload_at(const jzcard *c, uint32_t i, struct jzcard_upload *out);
/* After an upload: drops the vouchers i with done[i] (answered for good), resets the
 * offline total and count, and replaces the revocation list with revoked[0..n). */
int jzcard_sync_done(jzcard *c, const bool *done, uint32_t n_done, const jz_id *revoked,
                     size_t n_revoked);

#endif
