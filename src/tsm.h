/*
 * tsm.h: the trusted-service manager's keys and what it makes with them (DESIGN.md §4): the
 * platform root, one CA per operator, card certificates, personalisation for a card and the
 * signed, sealed load / unload / close commands a card applies once. No HTTP, no ledger: the
 * API module (api_card.c) decides when; this module holds the keys and does the cryptography
 * through crypto_x509.h and voucher.h.
 *
 * DIR/pki/root.key, root.pem        the platform root (SM2 key mode 0600, certificate)
 * DIR/pki/op_<id>.key, op_<id>.pem  operator <id>'s CA, made on its first card
 * DIR/pki/op_<id>.master            32 random bytes (mode 0600): the operator's master key,
 *                                   from which each card's secure-channel key is derived
 * Private keys never leave this directory and never appear in an answer.
 *
 * A card's secure-channel key (VOUCHER_CARD_KEY_BYTES) is HMAC-SM3(master, "jiaozi card
 * enc" | card id)[0..16] | HMAC-SM3(master, "jiaozi card mac" | card id): the TSM can always
 * recompute it, and one card's key tells nothing of another's. It reaches the card once, in
 * the personalisation, SM2-encrypted to the card's own key.
 *
 * Thread-safe: a mutex guards the operator cache.
 */
#ifndef JZ_TSM_H
#define JZ_TSM_H

#include "crypto_x509.h"
#include "voucher.h"

/* Validity of the root and operator CAs from their creation. */
#define TSM_ROOT_VALIDITY_MS (20LL * 365 * 24 * 3600 * 1000)
#define TSM_CA_VALIDITY_MS (10LL * 365 * 24 * 3600 * 1000)

typedef struct tsm tsm;

/* Opens DIR/pki, making the root if it is absent. */
int tsm_open(const char *data_dir, int64_t now_ms, tsm **out, char *err, size_t err_len);
void tsm_close(tsm *t);

const crypto_cert *tsm_root(const tsm *t);
/* The operator's CA (made and saved on first use); borrowed, lives as long as t. */
int tsm_operator_ca(tsm *t, const char *op, int64_t now_ms, const crypto_cert **out);

/* Certifies a card's public key with its extension, valid from now to not_after. */
int tsm_certify(tsm *t, const char *op, const crypto_sm2_key *card_key,
                const struct crypto_card_ext *ext, int64_t now_ms, int64_t not_after_ms,
                crypto_cert **out);
/* The personalisation of a certified card (voucher.h), into out (VOUCHER_PERSO_MAX). */
int tsm_personalisation(tsm *t, const char *op, const crypto_cert *card, uint8_t *out,
                        size_t cap, size_t *len);
/* A signed, sealed command for the card, into out (VOUCHER_COMMAND_MAX). */
int tsm_command(tsm *t, const char *op, const struct voucher_command *cmd, uint8_t *out,
                size_t cap, size_t *len);

#endif
