/*
 * test_crypto_x509.c: the hard-wallet PKI (crypto_x509.h): chains that verify, chains that
 * must not, the card extension, strict parsing, keys in memory and SM2 encryption.
 */
#include "common.h"
#include "crypto.h"
#include "crypto_x509.h"
#include "test.h"

#define DAY_MS (24LL * 3600 * 1000)
#define T0 1767225600000LL /* 2026-01-01 */

struct pki {
    crypto_sm2_key *root_key, *op_key, *card_key;
    crypto_cert *root, *op, *card;
};

static int make_cert(crypto_sm2_key *subject, crypto_cert *issuer, crypto_sm2_key *issuer_key,
                     const char *cn, bool ca, const struct crypto_card_ext *ext, crypto_cert **out)
{
    struct crypto_cert_spec spec = {.common_name = cn, .not_before_ms = T0 - DAY_MS,
                                    .not_after_ms = T0 + 30 * DAY_MS, .ca = ca,
                                    .path_len = ca ? (issuer ? 0 : 1) : -1, .card = ext};
    crypto_random(spec.serial, sizeof spec.serial);
    return crypto_cert_create(subject, issuer, issuer_key, &spec, out);
}

static const struct crypto_card_ext sample_ext = {
    .card_id = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
    .wallet_id = {0xaa, 0xbb},
    .tier = 3,
    .per_payment = 100000,
    .offline_total = 500000,
    .offline_count = 20,
};

static int pki_make(struct pki *p)
{
    memset(p, 0, sizeof *p);
    if (crypto_sm2_generate(&p->root_key) || crypto_sm2_generate(&p->op_key) ||
        crypto_sm2_generate(&p->card_key)) {
        return -1;
    }
    if (make_cert(p->root_key, NULL, p->root_key, "jiaozi root", true, NULL, &p->root) ||
        make_cert(p->op_key, p->root, p->root_key, "operator opa", true, NULL, &p->op) ||
        make_cert(p->card_key, p->op, p->op_key, "card", false, &sample_ext, &p->card)) {
        return -1;
    }
    return 0;
}

static void pki_free(struct pki *p)
{
    crypto_cert_free(p->root);
    crypto_cert_free(p->op);
    crypto_cert_free(p->card);
    crypto_sm2_free(p->root_key);
    crypto_sm2_free(p->op_key);
    crypto_sm2_free(p->card_key);
}

TEST(x509_chain_verifies_and_carries_the_card_extension)
{
    struct pki p;
    REQUIRE(pki_make(&p) == 0);
    const crypto_cert *mid[1] = {p.op};
    CHECK_EQ_INT(crypto_cert_verify_chain(p.root, mid, 1, p.card, T0), 0);
    CHECK_EQ_INT(crypto_cert_verify_chain(p.root, NULL, 0, p.op, T0), 0);
    /* Without the operator CA, after expiry, before validity, or with the card as CA. */
    CHECK_EQ_INT(crypto_cert_verify_chain(p.root, NULL, 0, p.card, T0), -1);
    CHECK_EQ_INT(crypto_cert_verify_chain(p.root, mid, 1, p.card, T0 + 31 * DAY_MS), -1);
    CHECK_EQ_INT(crypto_cert_verify_chain(p.root, mid, 1, p.card, T0 - 2 * DAY_MS), -1);
    CHECK(crypto_cert_is_ca(p.op));
    CHECK(!crypto_cert_is_ca(p.card));
    struct crypto_card_ext e;
    REQUIRE_EQ_INT(crypto_cert_card_ext(p.card, &e), 0);
    CHECK_EQ_MEM(e.card_id, sample_ext.card_id, 16);
    CHECK_EQ_MEM(e.wallet_id, sample_ext.wallet_id, 16);
    CHECK_EQ_INT(e.tier, 3);
    CHECK_EQ_INT(e.per_payment, 100000);
    CHECK_EQ_INT(e.offline_total, 500000);
    CHECK_EQ_INT(e.offline_count, 20);
    CHECK_EQ_INT(crypto_cert_card_ext(p.op, &e), -1);
    int64_t nb, na;
    crypto_cert_validity(p.card, &nb, &na);
    CHECK_EQ_INT(na, T0 + 30 * DAY_MS);
    CHECK_EQ_INT(nb, T0 - DAY_MS);
    /* The certificate's key verifies what the card's key signs (crypto.c and crypto_x509.c
     * agree on the key type). */
    uint8_t sig[CRYPTO_SM2_SIG_MAX];
    size_t sig_len = 0;
    REQUIRE_EQ_INT(crypto_sm2_sign(p.card_key, "abc", 3, sig, &sig_len), 0);
    CHECK_EQ_INT(crypto_sm2_verify(crypto_cert_key(p.card), "abc", 3, sig, sig_len), 0);
    CHECK_EQ_INT(crypto_sm2_sig_canonical(sig, sig_len), 0);
    pki_free(&p);
}

TEST(x509_foreign_ca_and_tampering_are_refused)
{
    struct pki p, q;
    REQUIRE(pki_make(&p) == 0);
    REQUIRE(pki_make(&q) == 0);
    const crypto_cert *mid_q[1] = {q.op};
    const crypto_cert *mid_p[1] = {p.op};
    /* q's card and CA under p's root: an unknown CA. */
    CHECK_EQ_INT(crypto_cert_verify_chain(p.root, mid_q, 1, q.card, T0), -1);
    /* p's card with q's operator CA in the middle. */
    CHECK_EQ_INT(crypto_cert_verify_chain(p.root, mid_q, 1, p.card, T0), -1);
    /* One flipped byte anywhere in the DER is refused at parse or at verify. */
    uint8_t *der = NULL;
    size_t len = 0;
    REQUIRE_EQ_INT(crypto_cert_der(p.card, &der, &len), 0);
    int refused = 0;
    for (size_t i = 0; i < len; i += 7) {
        der[i] ^= 0x01;
        crypto_cert *c = NULL;
        if (crypto_cert_from_der(der, len, &c) != 0 ||
            crypto_cert_verify_chain(p.root, mid_p, 1, c, T0) != 0) {
            refused++;
        }
        crypto_cert_free(c);
        der[i] ^= 0x01;
    }
    CHECK_EQ_INT(refused, (int)((len + 6) / 7));
    /* Trailing bytes and PEM with extra text. */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, der, len);
    longer[len] = 0;
    crypto_cert *c = NULL;
    CHECK_EQ_INT(crypto_cert_from_der(longer, len + 1, &c), -1);
    CHECK_EQ_INT(crypto_cert_from_der(der, len, &c), 0);
    crypto_cert_free(c);
    free(longer);
    free(der);
    char *pem = NULL;
    size_t pem_len = 0;
    REQUIRE_EQ_INT(crypto_cert_pem(p.card, &pem, &pem_len), 0);
    c = NULL;
    CHECK_EQ_INT(crypto_cert_from_pem(pem, pem_len, &c), 0);
    uint8_t f1[32], f2[32];
    crypto_cert_fingerprint(c, f1);
    crypto_cert_fingerprint(p.card, f2);
    CHECK_EQ_MEM(f1, f2, 32);
    crypto_cert_free(c);
    char *twice = malloc(2 * pem_len + 1);
    memcpy(twice, pem, pem_len);
    memcpy(twice + pem_len, pem, pem_len);
    CHECK_EQ_INT(crypto_cert_from_pem(twice, 2 * pem_len, &c), -1);
    free(twice);
    free(pem);
    pki_free(&p);
    pki_free(&q);
}

TEST(x509_keys_in_memory_signatures_and_encryption)
{
    crypto_sm2_key *k = NULL, *back = NULL;
    REQUIRE_EQ_INT(crypto_sm2_generate(&k), 0);
    uint8_t der[CRYPTO_SM2_PRIVATE_DER_MAX];
    size_t len = 0;
    REQUIRE_EQ_INT(crypto_sm2_private_der(k, der, sizeof der, &len), 0);
    REQUIRE_EQ_INT(crypto_sm2_from_private_der(der, len, &back), 0);
    CHECK_EQ_INT(crypto_sm2_same_public(k, back), 0);
    CHECK_EQ_INT(crypto_sm2_from_private_der(der, len - 1, &back == NULL ? NULL : &back), -1);
    uint8_t spki[CRYPTO_SM2_SPKI_MAX];
    size_t spki_len = 0;
    CHECK_EQ_INT(crypto_sm2_spki(k, spki, sizeof spki, &spki_len), 0);
    CHECK_EQ_INT(spki_len, 91);
    uint8_t secret[48], ct[48 + CRYPTO_SM2_CIPHER_OVERHEAD], pt[64];
    size_t ct_len = 0, pt_len = 0;
    crypto_random(secret, sizeof secret);
    REQUIRE_EQ_INT(crypto_sm2_encrypt(k, secret, sizeof secret, ct, sizeof ct, &ct_len), 0);
    REQUIRE_EQ_INT(crypto_sm2_decrypt(back, ct, ct_len, pt, sizeof pt, &pt_len), 0);
    CHECK_EQ_INT(pt_len, sizeof secret);
    CHECK_EQ_MEM(pt, secret, sizeof secret);
    ct[ct_len - 1] ^= 1;
    CHECK_EQ_INT(crypto_sm2_decrypt(back, ct, ct_len, pt, sizeof pt, &pt_len), -1);
    /* Non-canonical signatures: a padded INTEGER, a long-form length, trailing bytes. */
    uint8_t sig[CRYPTO_SM2_SIG_MAX + 2];
    size_t sig_len = 0;
    REQUIRE_EQ_INT(crypto_sm2_sign(k, "m", 1, sig, &sig_len), 0);
    CHECK_EQ_INT(crypto_sm2_sig_canonical(sig, sig_len), 0);
    uint8_t bad[CRYPTO_SM2_SIG_MAX + 2];
    memcpy(bad, sig, sig_len);
    bad[sig_len] = 0;
    CHECK_EQ_INT(crypto_sm2_sig_canonical(bad, sig_len + 1), -1);
    /* r = 0 and r = n (SEQUENCE { INTEGER 0, INTEGER 1 }). */
    static const uint8_t zero_r[] = {0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01};
    CHECK_EQ_INT(crypto_sm2_sig_canonical(zero_r, sizeof zero_r), -1);
    static const uint8_t padded[] = {0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01};
    CHECK_EQ_INT(crypto_sm2_sig_canonical(padded, sizeof padded), -1);
    crypto_sm2_free(k);
    crypto_sm2_free(back);
}
