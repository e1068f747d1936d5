/*
 * crypto_x509.h: the hard-wallet PKI (DESIGN.md §4) and the SM2 operations a secure element
 * needs beyond crypto.h, through OpenSSL 3. Part of the crypto layer: crypto.c and this
 * module's crypto_x509.c are the only files that include OpenSSL.
 *
 * Certificates are X.509 v3 with SM2 keys and SM2-with-SM3 signatures made under the GM/T 0009
 * signer id 1234567812345678 (API.md): a self-signed platform root, one CA per operator and
 * one certificate per card. A card certificate carries a jiaozi extension (OID
 * CRYPTO_CARD_EXT_OID, not critical) whose value is the DER OCTET STRING of a fixed 60-byte
 * big-endian record: the card id, the holder's wallet id, the tier and the offline limits.
 * Its expiry is the certificate's notAfter.
 *
 * Verification sets the signer id on every certificate of a chain before OpenSSL checks it,
 * so every link is checked under the same id (the openssl 3.0 command line applies
 * -vfyopt distid only to the leaf: openssl/openssl#23471).
 *
 * Functions return 0 on success and -1 on failure; out-parameters are written only on
 * success. Objects returned through `**out` are owned by the caller.
 */
#ifndef JZ_CRYPTO_X509_H
#define JZ_CRYPTO_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

/* 2.25.<UUID> is the arc anyone may use without registration (ITU-T X.667). */
#define CRYPTO_CARD_EXT_OID "2.25.155543007667639432555952902284975757674.1.1"
#define CRYPTO_CARD_EXT_BYTES 60
/* A certificate larger than this is not one of ours (ours are about 600 bytes). */
#define CRYPTO_CERT_DER_MAX 4096
#define CRYPTO_CERT_PEM_MAX 6144
/* An SM2 private key as PKCS#8 DER is about 150 bytes. */
#define CRYPTO_SM2_PRIVATE_DER_MAX 256
/* SubjectPublicKeyInfo DER of an SM2 key: 91 bytes. */
#define CRYPTO_SM2_SPKI_MAX 128
/* SM2 ciphertext (GM/T 0009 ASN.1: C1 x, y, C3 hash, C2) of n bytes is at most n + 116. */
#define CRYPTO_SM2_CIPHER_OVERHEAD 128

/* What a card certificate says about the card (the extension record). */
struct crypto_card_ext {
    uint8_t card_id[16];
    uint8_t wallet_id[16];
    uint8_t tier;
    int64_t per_payment;   /* fen */
    int64_t offline_total; /* fen since the last sync */
    uint32_t offline_count; /* payments since the last sync */
};

void crypto_card_ext_encode(const struct crypto_card_ext *e, uint8_t out[CRYPTO_CARD_EXT_BYTES]);
/* Refuses a wrong version, nonzero reserved bytes, a tier outside 1-4 and limits < 1. */
int crypto_card_ext_decode(const uint8_t in[CRYPTO_CARD_EXT_BYTES], struct crypto_card_ext *out);

typedef struct crypto_cert crypto_cert;

struct crypto_cert_spec {
    const char *common_name;  /* subject CN (UTF-8), e.g. "jiaozi card 0123..." */
    uint8_t serial[16];       /* the certificate serial (positive, as given) */
    int64_t not_before_ms;
    int64_t not_after_ms;
    bool ca;                  /* basicConstraints CA:TRUE, keyCertSign; else digitalSignature */
    int path_len;             /* for a CA: pathlen constraint (-1 = none) */
    const struct crypto_card_ext *card; /* the card extension, or NULL */
};

/* Makes a certificate for subject's public key, signed by issuer_key; issuer NULL makes it
 * self-signed (issuer_key must then be subject's key). */
int crypto_cert_create(const crypto_sm2_key *subject, const crypto_cert *issuer,
                       const crypto_sm2_key *issuer_key, const struct crypto_cert_spec *spec,
                       crypto_cert **out);
void crypto_cert_free(crypto_cert *c);

/* Parses one certificate. Refused: more than CRYPTO_CERT_DER_MAX bytes, trailing bytes,
 * DER that does not re-encode to the same bytes, a key that is not SM2 on the SM2 curve,
 * a signature algorithm other than SM2-with-SM3. */
int crypto_cert_from_der(const uint8_t *der, size_t len, crypto_cert **out);
/* One PEM "CERTIFICATE" block (text after it is refused), then as from_der. */
int crypto_cert_from_pem(const char *pem, size_t len, crypto_cert **out);
/* The encodings; *out is malloc'd and owned by the caller (the PEM NUL-terminated). */
int crypto_cert_der(const crypto_cert *c, uint8_t **out, size_t *len);
int crypto_cert_pem(const crypto_cert *c, char **out, size_t *len);
/* SM3 of the DER: the certificate's identity in caches and the registry. */
void crypto_cert_fingerprint(const crypto_cert *c, uint8_t out[CRYPTO_SM3_BYTES]);

/* The card extension: 0, or -1 when absent or malformed. */
int crypto_cert_card_ext(const crypto_cert *c, struct crypto_card_ext *out);
void crypto_cert_validity(const crypto_cert *c, int64_t *not_before_ms, int64_t *not_after_ms);
bool crypto_cert_is_ca(const crypto_cert *c);
/* The subject's public key, owned by the certificate (valid while it lives). */
const crypto_sm2_key *crypto_cert_key(const crypto_cert *c);

/* 0 when leaf chains to root through the intermediates (in any order), every signature
 * checks under the signer id, every certificate is valid at at_ms, every issuer is a CA
 * within its path length. root is the trust anchor. */
int crypto_cert_verify_chain(const crypto_cert *root, const crypto_cert *const *intermediates,
                             size_t n, const crypto_cert *leaf, int64_t at_ms);

/* ---- SM2 keys in memory (a secure element keeps its key in its own state) ---- */

/* PKCS#8 DER of the private key into out (cap bytes). */
int crypto_sm2_private_der(const crypto_sm2_key *key, uint8_t *out, size_t cap, size_t *len);
int crypto_sm2_from_private_der(const uint8_t *der, size_t len, crypto_sm2_key **out);
/* SubjectPublicKeyInfo DER of the public key. */
int crypto_sm2_spki(const crypto_sm2_key *key, uint8_t *out, size_t cap, size_t *len);
/* Same public key? (0 = equal) */
int crypto_sm2_same_public(const crypto_sm2_key *a, const crypto_sm2_key *b);

/* 0 when sig is the one DER encoding of an SM2 signature (SEQUENCE of two minimal
 * positive INTEGERs, no trailing bytes) with 1 <= r, s < n, the curve order. OpenSSL's
 * verify accepts some non-canonical forms; a voucher's signature must be canonical so that
 * one voucher has one byte string. */
int crypto_sm2_sig_canonical(const uint8_t *sig, size_t len);

/* SM2 public-key encryption (GM/T 0003.4, SM3, ASN.1 ciphertext): out gets at most
 * len + CRYPTO_SM2_CIPHER_OVERHEAD bytes. decrypt needs the private key. */
int crypto_sm2_encrypt(const crypto_sm2_key *key, const void *in, size_t len, uint8_t *out,
                       size_t cap, size_t *out_len);
int crypto_sm2_decrypt(const crypto_sm2_key *key, const uint8_t *in, size_t len, uint8_t *out,
                       size_t cap, size_t *out_len);

#endif
