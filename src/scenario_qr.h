/*
 * scenario_qr.h: payment QR payloads (issue 7, merchants and orders).
 *
 * A payload is a URI. A merchant's static code names the merchant only (the payer enters the
 * amount); an order's dynamic code names the order, the amount and the order's expiry:
 *   jiaozi://pay?v=1&m=<merchant wallet>&sig=<hex>
 *   jiaozi://pay?v=1&m=<merchant wallet>&o=<order id>&a=<amount fen>&e=<expires_at ms>&sig=<hex>
 * sig is the DER SM2 signature (signer id 1234567812345678) of the node's key (the key that
 * signs the journal, published at /v1/audit/head) over "jiaozi-qr\n" followed by every byte
 * of the URI before "&sig=". Reading checks the signature first and then the exact layout:
 * any changed, added or reordered byte is refused.
 */
#ifndef JZ_SCENARIO_QR_H
#define JZ_SCENARIO_QR_H

#include "common.h"
#include "crypto.h"

#define SCEN_QR_MAX 512

struct scen_qr {
    bool dynamic; /* an order's code; else the merchant's static code */
    jz_id merchant;
    jz_id order;        /* dynamic only */
    int64_t amount;     /* dynamic only */
    int64_t expires_at; /* dynamic only */
};

/* Writes the signed URI (NUL-terminated) into out. 0, or -1 when signing fails. */
int scen_qr_make(const crypto_sm2_key *key, const struct scen_qr *q, char out[SCEN_QR_MAX]);

/* 0 with *q when uri (len bytes) is a well-formed payload signed by key; -1 otherwise. */
int scen_qr_read(const crypto_sm2_key *key, const char *uri, size_t len, struct scen_qr *q);

#endif
