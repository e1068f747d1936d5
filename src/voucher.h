/*
 * voucher.h: the byte formats of dual-offline payments (DESIGN.md §4, API.md "Hard wallets
 * and offline payments"), shared by the secure-element emulator (jzcard.h), the TSM and the
 * settlement path. Pure encoding and decoding, plus the hashes and signature checks that go
 * with them; no state, no I/O, no allocation.
 *
 * All integers are big-endian. Every decoder takes outside data: it checks every size, every
 * reserved byte and every range, refuses trailing bytes, and writes its output only on
 * success. The formats:
 *
 *   voucher body (121, API.md)  version 1 | payer card 16 | counter u32 | payee card 16 |
 *                               amount i64 | payee nonce 16 | payer time i64 | prev hash 32 |
 *                               reserved 20 (zero)
 *   challenge (49)              version 1 | payee card 16 | amount i64 | nonce 16 | payee time i64
 *   payment (payer -> payee)    version 1 | body 121 | sig_len u8 | sig | cert_len u16 | card
 *                               certificate DER | ca_len u16 | operator CA certificate DER
 *   card command body (64)      version 1 | type u8 | reserved 2 | card 16 | counter u32 |
 *                               amount i64 | issued at i64 | transfer id 16 | reserved 8
 *   card command (TSM -> card)  card 16 | sealed under the card key, bound to the card id:
 *                               command body 64 | sig_len u8 | operator CA signature
 *   personalisation             card 16 | key_len u16 | card key SM2-encrypted to the card |
 *                               sealed under the card key: cert_len u16 | card certificate |
 *                               ca_len u16 | operator CA certificate | root_len u16 | root
 *
 * The card key (VOUCHER_CARD_KEY_BYTES, a crypto_seal key) is the per-card secure-channel key
 * the TSM derives from the operator's master key and the card id.
 */
#ifndef JZ_VOUCHER_H
#define JZ_VOUCHER_H

#include "common.h"
#include "crypto.h"

#define VOUCHER_VERSION 1
#define VOUCHER_BODY_BYTES 121
#define VOUCHER_CHALLENGE_BYTES 49
#define VOUCHER_COMMAND_BODY_BYTES 64
#define VOUCHER_CARD_KEY_BYTES CRYPTO_SEAL_KEY_BYTES
/* A DER certificate inside a payment or personalisation (ours are about 600 bytes). */
#define VOUCHER_CERT_MAX 2048
#define VOUCHER_PAYMENT_MAX (1 + VOUCHER_BODY_BYTES + 1 + CRYPTO_SM2_SIG_MAX + 2 * (2 + VOUCHER_CERT_MAX))
#define VOUCHER_COMMAND_MAX (16 + CRYPTO_SEAL_OVERHEAD + VOUCHER_COMMAND_BODY_BYTES + 1 + CRYPTO_SM2_SIG_MAX)
#define VOUCHER_PERSO_KEY_MAX 256
#define VOUCHER_PERSO_MAX (16 + 2 + VOUCHER_PERSO_KEY_MAX + CRYPTO_SEAL_OVERHEAD + 3 * (2 + VOUCHER_CERT_MAX))

struct voucher {
    jz_id payer;          /* payer card id */
    uint32_t counter;     /* >= 1 */
    jz_id payee;          /* payee card id */
    int64_t amount;       /* 1..JZ_AMOUNT_MAX fen */
    uint8_t nonce[16];    /* from the payee's challenge */
    int64_t time_ms;      /* the payer card's clock, >= 0 */
    uint8_t prev[CRYPTO_SM3_BYTES]; /* SM3 of the payer's previous body, zeros before the first */
};
_Static_assert(1 + 16 + 4 + 16 + 8 + 16 + 8 + 32 + 20 == VOUCHER_BODY_BYTES, "API.md's voucher");

void voucher_encode(const struct voucher *v, uint8_t out[VOUCHER_BODY_BYTES]);
int voucher_decode(const uint8_t *in, size_t len, struct voucher *out);
/* SM3 of a body: the next voucher's prev, and the settlement's reference. */
int voucher_hash(const uint8_t body[VOUCHER_BODY_BYTES], uint8_t out[CRYPTO_SM3_BYTES]);
/* The ledger transfer id that settles (payer card, counter): the first 16 bytes of
 * SM3("jiaozi offline voucher" | card | counter), so a second upload is an idempotent replay
 * and a different body with the same counter an id_conflict. */
void voucher_transfer_id(const jz_id *payer, uint32_t counter, jz_id *out);
/* A card's id: the first 16 bytes of SM3("jiaozi card id" | SubjectPublicKeyInfo DER of its
 * key). The card and the TSM compute it alike, and one key is one card. */
int voucher_card_id(const crypto_sm2_key *key, jz_id *out);
/* 0 when sig is a canonical SM2 signature by key over the body. */
int voucher_verify(const crypto_sm2_key *key, const uint8_t body[VOUCHER_BODY_BYTES],
                   const uint8_t *sig, size_t sig_len);

struct voucher_challenge {
    jz_id payee;
    int64_t amount;
    uint8_t nonce[16];
    int64_t time_ms;
};
_Static_assert(1 + 16 + 8 + 16 + 8 == VOUCHER_CHALLENGE_BYTES, "challenge size");
void voucher_challenge_encode(const struct voucher_challenge *c,
                              uint8_t out[VOUCHER_CHALLENGE_BYTES]);
int voucher_challenge_decode(const uint8_t *in, size_t len, struct voucher_challenge *out);

/* A payment as it travels from the payer's card to the payee's: pointers into the input. */
struct voucher_payment {
    const uint8_t *body; /* VOUCHER_BODY_BYTES */
    const uint8_t *sig;
    size_t sig_len;
    const uint8_t *cert;
    size_t cert_len;
    const uint8_t *ca;
    size_t ca_len;
};
/* Returns the bytes written, or 0 when a part is too large or out is too small. */
size_t voucher_payment_encode(const struct voucher_payment *p, uint8_t *out, size_t cap);
int voucher_payment_decode(const uint8_t *in, size_t len, struct voucher_payment *out);

enum voucher_command_type {
    VOUCHER_CMD_LOAD = 1,   /* add amount to the card's offline balance */
    VOUCHER_CMD_UNLOAD = 2, /* take amount off it */
    VOUCHER_CMD_CLOSE = 3,  /* take everything off (amount = what the server returned) */
};

struct voucher_command {
    uint8_t type;
    jz_id card;
    uint32_t counter; /* the card's load-command counter: applied only as last + 1 */
    int64_t amount;   /* 1..JZ_AMOUNT_MAX; CLOSE: 0..JZ_AMOUNT_MAX */
    int64_t issued_at_ms;
    jz_id transfer;   /* the ledger transfer that moved the money */
};
void voucher_command_body_encode(const struct voucher_command *c,
                                 uint8_t out[VOUCHER_COMMAND_BODY_BYTES]);
int voucher_command_body_decode(const uint8_t *in, size_t len, struct voucher_command *out);

/* Seals a signed command body for the card. Returns the bytes written (at most
 * VOUCHER_COMMAND_MAX) or 0. */
size_t voucher_command_wrap(const uint8_t key[VOUCHER_CARD_KEY_BYTES], const jz_id *card,
                            const uint8_t body[VOUCHER_COMMAND_BODY_BYTES], const uint8_t *sig,
                            size_t sig_len, uint8_t *out, size_t cap);
/* The card's side: checks it is for `card`, unseals, decodes, and leaves the body and the
 * signature (not yet verified: the caller checks it with the operator CA's key). */
int voucher_command_unwrap(const uint8_t key[VOUCHER_CARD_KEY_BYTES], const jz_id *card,
                           const uint8_t *in, size_t len, struct voucher_command *out,
                           uint8_t body[VOUCHER_COMMAND_BODY_BYTES],
                           uint8_t sig[CRYPTO_SM2_SIG_MAX], size_t *sig_len);

/* Personalisation: the three certificates, sealed. The caller has encrypted the card key to
 * the card (enc_key). Returns the bytes written or 0. */
struct voucher_perso {
    const uint8_t *enc_key;
    size_t enc_key_len;
    const uint8_t *cert, *ca, *root;
    size_t cert_len, ca_len, root_len;
};
size_t voucher_perso_wrap(const uint8_t key[VOUCHER_CARD_KEY_BYTES], const jz_id *card,
                          const struct voucher_perso *p, uint8_t *out, size_t cap);
/* First step on the card: the card id and the encrypted key (pointers into in). */
int voucher_perso_header(const uint8_t *in, size_t len, jz_id *card, const uint8_t **enc_key,
                         size_t *enc_key_len);
/* Second step, with the decrypted card key: unseals into plain (cap bytes) and points the
 * certificates into it. */
int voucher_perso_open(const uint8_t key[VOUCHER_CARD_KEY_BYTES], const uint8_t *in, size_t len,
                       uint8_t *plain, size_t cap, struct voucher_perso *out);

#endif
