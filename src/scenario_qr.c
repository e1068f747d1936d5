/*
 * scenario_qr.c: payment QR payloads (see scenario_qr.h).
 */
#include "scenario_qr.h"

#include <inttypes.h>

#define QR_PREFIX "jiaozi://pay?v=1&m="
#define QR_SIG "&sig="
#define QR_DOMAIN "jiaozi-qr\n"

/* The signature of the unsigned part of a URI. */
static int qr_sign(const crypto_sm2_key *key, const char *body, size_t len, uint8_t *sig,
                   size_t *sig_len)
{
    char msg[SCEN_QR_MAX + sizeof QR_DOMAIN];
    if (len >= SCEN_QR_MAX) {
        return -1;
    }
    memcpy(msg, QR_DOMAIN, sizeof QR_DOMAIN - 1);
    memcpy(msg + sizeof QR_DOMAIN - 1, body, len);
    return crypto_sm2_sign(key, msg, sizeof QR_DOMAIN - 1 + len, sig, sig_len);
}

int scen_qr_make(const crypto_sm2_key *key, const struct scen_qr *q, char out[SCEN_QR_MAX])
{
    char m[33];
    char o[33];
    jz_id_to_hex(&q->merchant, m);
    m[32] = '\0';
    int n;
    if (q->dynamic) {
        jz_id_to_hex(&q->order, o);
        o[32] = '\0';
        n = snprintf(out, SCEN_QR_MAX, QR_PREFIX "%s&o=%s&a=%" PRId64 "&e=%" PRId64, m, o,
                     q->amount, q->expires_at);
    } else {
        n = snprintf(out, SCEN_QR_MAX, QR_PREFIX "%s", m);
    }
    uint8_t sig[CRYPTO_SM2_SIG_MAX];
    size_t sig_len = 0;
    if (n < 0 || (size_t)n + sizeof QR_SIG + 2 * CRYPTO_SM2_SIG_MAX >= SCEN_QR_MAX ||
        qr_sign(key, out, (size_t)n, sig, &sig_len) != 0) {
        return -1;
    }
    memcpy(out + n, QR_SIG, sizeof QR_SIG - 1);
    jz_hex_encode(sig, sig_len, out + n + sizeof QR_SIG - 1);
    return 0;
}

/* A decimal without sign or leading zeros, 1..18 digits, ending at *end. */
static int parse_decimal(const char *p, const char *limit, const char **end, int64_t *out)
{
    int64_t v = 0;
    const char *s = p;
    while (s < limit && *s >= '0' && *s <= '9' && s - p < 18) {
        v = v * 10 + (*s - '0');
        s++;
    }
    if (s == p || (s - p > 1 && *p == '0')) {
        return -1;
    }
    *end = s;
    *out = v;
    return 0;
}

static int expect(const char **p, const char *limit, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(limit - *p) < n || memcmp(*p, lit, n) != 0) {
        return -1;
    }
    *p += n;
    return 0;
}

static int parse_id(const char **p, const char *limit, jz_id *out)
{
    if (limit - *p < 32 || jz_id_from_hex(*p, 32, out) != 0) {
        return -1;
    }
    *p += 32;
    return 0;
}

/* The unsigned part body[0..len): the exact layout of scen_qr_make. */
static int parse_body(const char *body, size_t len, struct scen_qr *q)
{
    const char *p = body;
    const char *limit = body + len;
    memset(q, 0, sizeof *q);
    if (expect(&p, limit, QR_PREFIX) != 0 || parse_id(&p, limit, &q->merchant) != 0) {
        return -1;
    }
    if (p == limit) {
        return 0;
    }
    q->dynamic = true;
    if (expect(&p, limit, "&o=") != 0 || parse_id(&p, limit, &q->order) != 0 ||
        expect(&p, limit, "&a=") != 0 || parse_decimal(p, limit, &p, &q->amount) != 0 ||
        expect(&p, limit, "&e=") != 0 || parse_decimal(p, limit, &p, &q->expires_at) != 0) {
        return -1;
    }
    return p == limit && q->amount >= 1 ? 0 : -1;
}

int scen_qr_read(const crypto_sm2_key *key, const char *uri, size_t len, struct scen_qr *q)
{
    if (len >= SCEN_QR_MAX || memchr(uri, '\0', len) != NULL) {
        return -1;
    }
    const char *sig_at = NULL;
    for (size_t i = 0; i + sizeof QR_SIG - 1 <= len; i++) {
        if (memcmp(uri + i, QR_SIG, sizeof QR_SIG - 1) == 0) {
            sig_at = uri + i;
            break;
        }
    }
    if (!sig_at) {
        return -1;
    }
    size_t body_len = (size_t)(sig_at - uri);
    const char *hex = sig_at + sizeof QR_SIG - 1;
    size_t hex_len = len - body_len - (sizeof QR_SIG - 1);
    uint8_t sig[CRYPTO_SM2_SIG_MAX];
    char msg[SCEN_QR_MAX + sizeof QR_DOMAIN];
    for (size_t i = 0; i < hex_len; i++) {
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'))) {
            return -1; /* lowercase only: one spelling per payload */
        }
    }
    if (hex_len == 0 || hex_len % 2 != 0 || hex_len > 2 * sizeof sig ||
        jz_hex_decode(hex, hex_len, sig, hex_len / 2) != 0) {
        return -1;
    }
    memcpy(msg, QR_DOMAIN, sizeof QR_DOMAIN - 1);
    memcpy(msg + sizeof QR_DOMAIN - 1, uri, body_len);
    if (crypto_sm2_verify(key, msg, sizeof QR_DOMAIN - 1 + body_len, sig, hex_len / 2) != 0) {
        return -1;
    }
    return parse_body(uri, body_len, q);
}
