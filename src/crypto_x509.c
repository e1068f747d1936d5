/*
 * crypto_x509.c: the hard-wallet PKI and in-memory SM2 keys through OpenSSL 3 (see
 * crypto_x509.h). Part of the crypto layer: OpenSSL failures become -1 here and the error
 * queue is cleared, as in crypto.c.
 */
#include "crypto_x509.h"

#include "common.h"

#include <time.h>

/* src/limits.h shadows <limits.h> for OpenSSL's headers (see crypto.c). */
#ifndef INT_MAX
#define INT_MAX __INT_MAX__
#endif

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto_int.h"

#define SM2_ID_LEN (sizeof CRYPTO_SM2_ID - 1)
#define CARD_EXT_VERSION 1

struct crypto_cert {
    X509 *x;
    crypto_sm2_key key; /* borrows X509_get0_pubkey(x): never freed on its own */
    uint8_t fingerprint[CRYPTO_SM3_BYTES];
};

static int ossl_fail(void)
{
    ERR_clear_error();
    return -1;
}

/* ---- the card extension record (big-endian) ---- */

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    }
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* version 1 | tier 1 | reserved 2 | card id 16 | wallet id 16 | per_payment 8 |
 * offline_total 8 | offline_count 4 | reserved 4 */
void crypto_card_ext_encode(const struct crypto_card_ext *e, uint8_t out[CRYPTO_CARD_EXT_BYTES])
{
    memset(out, 0, CRYPTO_CARD_EXT_BYTES);
    out[0] = CARD_EXT_VERSION;
    out[1] = e->tier;
    memcpy(out + 4, e->card_id, 16);
    memcpy(out + 20, e->wallet_id, 16);
    put_be(out + 36, (uint64_t)e->per_payment, 8);
    put_be(out + 44, (uint64_t)e->offline_total, 8);
    put_be(out + 52, e->offline_count, 4);
}

int crypto_card_ext_decode(const uint8_t in[CRYPTO_CARD_EXT_BYTES], struct crypto_card_ext *out)
{
    static const uint8_t zero[4];
    struct crypto_card_ext e;
    if (in[0] != CARD_EXT_VERSION || memcmp(in + 2, zero, 2) != 0 ||
        memcmp(in + 56, zero, 4) != 0) {
        return -1;
    }
    e.tier = in[1];
    memcpy(e.card_id, in + 4, 16);
    memcpy(e.wallet_id, in + 20, 16);
    e.per_payment = (int64_t)get_be(in + 36, 8);
    e.offline_total = (int64_t)get_be(in + 44, 8);
    e.offline_count = (uint32_t)get_be(in + 52, 4);
    if (e.tier < 1 || e.tier > 4 || e.per_payment < 1 || e.offline_total < 1 ||
        e.offline_count < 1) {
        return -1;
    }
    *out = e;
    return 0;
}

/* ---- certificates: wrapping and parsing ---- */

static bool sm2_pkey_ok(EVP_PKEY *pkey)
{
    char group[32];
    size_t group_len = 0;
    if (pkey == NULL || !EVP_PKEY_is_a(pkey, "SM2") ||
        EVP_PKEY_get_group_name(pkey, group, sizeof group, &group_len) != 1 ||
        strcmp(group, "SM2") != 0) {
        return false;
    }
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    bool ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1; /* the point is on the curve */
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* Every certificate carries the signer id, so that whichever chain it sits in, its
 * signature is checked under the id it was made with. */
static int set_dist_id(X509 *x)
{
    ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();
    if (id == NULL || ASN1_OCTET_STRING_set(id, (const unsigned char *)CRYPTO_SM2_ID,
                                            (int)SM2_ID_LEN) != 1) {
        ASN1_OCTET_STRING_free(id);
        return -1;
    }
    X509_set0_distinguishing_id(x, id); /* takes ownership */
    return 0;
}

/* Takes ownership of x: checks it is an SM2 certificate of ours and wraps it. */
static int cert_wrap(X509 *x, crypto_cert **out)
{
    unsigned char *der = NULL;
    crypto_cert *c = NULL;
    int len = x ? i2d_X509(x, &der) : -1;
    EVP_PKEY *pkey = x ? X509_get0_pubkey(x) : NULL;
    if (len <= 0 || X509_get_signature_nid(x) != NID_SM2_with_SM3 || !sm2_pkey_ok(pkey) ||
        set_dist_id(x) != 0) {
        goto fail;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL || crypto_sm3(der, (size_t)len, c->fingerprint) != 0) {
        goto fail;
    }
    c->x = x;
    c->key.pkey = pkey;
    OPENSSL_free(der);
    *out = c;
    return 0;
fail:
    free(c);
    OPENSSL_free(der);
    X509_free(x);
    return ossl_fail();
}

void crypto_cert_free(crypto_cert *c)
{
    if (c == NULL) {
        return;
    }
    X509_free(c->x);
    free(c);
}

int crypto_cert_from_der(const uint8_t *der, size_t len, crypto_cert **out)
{
    if (der == NULL || len == 0 || len > CRYPTO_CERT_DER_MAX) {
        return -1;
    }
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    unsigned char *again = NULL;
    int again_len = x ? i2d_X509(x, &again) : -1;
    /* One certificate, nothing after it, and the one DER encoding of what was parsed. */
    bool strict = x != NULL && p == der + len && again_len == (int)len &&
                  memcmp(again, der, len) == 0;
    OPENSSL_free(again);
    if (!strict) {
        X509_free(x);
        return ossl_fail();
    }
    return cert_wrap(x, out);
}

int crypto_cert_from_pem(const char *pem, size_t len, crypto_cert **out)
{
    char *name = NULL;
    char *header = NULL;
    unsigned char *der = NULL;
    long der_len = 0;
    int rc = -1;
    if (pem == NULL || len == 0 || len > CRYPTO_CERT_PEM_MAX) {
        return -1;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL || PEM_read_bio(bio, &name, &header, &der, &der_len) != 1 ||
        strcmp(name, PEM_STRING_X509) != 0 || header[0] != '\0') {
        goto done;
    }
    /* Only whitespace may follow the block. */
    char rest[64];
    int n;
    while ((n = BIO_read(bio, rest, sizeof rest)) > 0) {
        for (int i = 0; i < n; i++) {
            if (rest[i] != '\n' && rest[i] != '\r' && rest[i] != ' ' && rest[i] != '\t') {
                goto done;
            }
        }
    }
    rc = crypto_cert_from_der(der, (size_t)der_len, out);
done:
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

int crypto_cert_der(const crypto_cert *c, uint8_t **out, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_X509(c->x, &der);
    if (n <= 0) {
        return ossl_fail();
    }
    uint8_t *copy = malloc((size_t)n);
    if (copy != NULL) {
        memcpy(copy, der, (size_t)n);
    }
    OPENSSL_free(der);
    if (copy == NULL) {
        return -1;
    }
    *out = copy;
    *len = (size_t)n;
    return 0;
}

int crypto_cert_pem(const crypto_cert *c, char **out, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    char *copy = NULL;
    long n = 0;
    if (bio != NULL && PEM_write_bio_X509(bio, c->x) == 1) {
        n = BIO_get_mem_data(bio, &data);
    }
    if (n > 0 && data != NULL) {
        copy = malloc((size_t)n + 1);
    }
    if (copy != NULL) {
        memcpy(copy, data, (size_t)n);
        copy[n] = '\0';
        *out = copy;
        *len = (size_t)n;
    }
    BIO_free(bio);
    ERR_clear_error();
    return copy != NULL ? 0 : -1;
}

void crypto_cert_fingerprint(const crypto_cert *c, uint8_t out[CRYPTO_SM3_BYTES])
{
    memcpy(out, c->fingerprint, CRYPTO_SM3_BYTES);
}

const crypto_sm2_key *crypto_cert_key(const crypto_cert *c)
{
    return &c->key;
}

bool crypto_cert_is_ca(const crypto_cert *c)
{
    return X509_check_ca(c->x) != 0;
}

static int64_t asn1_time_ms(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0;
    }
    return (int64_t)timegm(&tm) * 1000;
}

void crypto_cert_validity(const crypto_cert *c, int64_t *not_before_ms, int64_t *not_after_ms)
{
    *not_before_ms = asn1_time_ms(X509_get0_notBefore(c->x));
    *not_after_ms = asn1_time_ms(X509_get0_notAfter(c->x));
}

static ASN1_OBJECT *card_ext_obj(void)
{
    return OBJ_txt2obj(CRYPTO_CARD_EXT_OID, 1);
}

int crypto_cert_card_ext(const crypto_cert *c, struct crypto_card_ext *out)
{
    ASN1_OBJECT *obj = card_ext_obj();
    ASN1_OCTET_STRING *inner = NULL;
    int rc = -1;
    int idx = obj ? X509_get_ext_by_OBJ(c->x, obj, -1) : -1;
    /* Exactly one such extension. */
    if (idx < 0 || X509_get_ext_by_OBJ(c->x, obj, idx) >= 0) {
        goto done;
    }
    const ASN1_OCTET_STRING *value = X509_EXTENSION_get_data(X509_get_ext(c->x, idx));
    const unsigned char *p = ASN1_STRING_get0_data(value);
    long len = ASN1_STRING_length(value);
    inner = d2i_ASN1_OCTET_STRING(NULL, &p, len);
    if (inner == NULL || p != ASN1_STRING_get0_data(value) + len ||
        ASN1_STRING_length(inner) != CRYPTO_CARD_EXT_BYTES) {
        goto done;
    }
    rc = crypto_card_ext_decode(ASN1_STRING_get0_data(inner), out);
done:
    ASN1_OCTET_STRING_free(inner);
    ASN1_OBJECT_free(obj);
    ERR_clear_error();
    return rc;
}

/* ---- certificates: making them ---- */

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

static int add_card_ext(X509 *x, const struct crypto_card_ext *card)
{
    uint8_t rec[CRYPTO_CARD_EXT_BYTES];
    crypto_card_ext_encode(card, rec);
    ASN1_OBJECT *obj = card_ext_obj();
    ASN1_OCTET_STRING *inner = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();
    unsigned char *der = NULL;
    int der_len = -1;
    X509_EXTENSION *ext = NULL;
    if (obj && inner && value && ASN1_OCTET_STRING_set(inner, rec, sizeof rec) == 1) {
        der_len = i2d_ASN1_OCTET_STRING(inner, &der);
    }
    if (der_len > 0 && ASN1_OCTET_STRING_set(value, der, der_len) == 1) {
        ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, value);
    }
    int ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    OPENSSL_free(der);
    ASN1_OCTET_STRING_free(value);
    ASN1_OCTET_STRING_free(inner);
    ASN1_OBJECT_free(obj);
    return ok ? 0 : -1;
}

static int set_serial_and_names(X509 *x, const struct crypto_cert_spec *spec, const X509 *issuer)
{
    BIGNUM *bn = BN_bin2bn(spec->serial, sizeof spec->serial, NULL);
    X509_NAME *name = X509_NAME_new();
    int ok = bn != NULL && name != NULL && X509_set_version(x, X509_VERSION_3) == 1 &&
             BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL &&
             X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"jiaozi",
                                        -1, -1, 0) == 1 &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                        (const unsigned char *)spec->common_name, -1, -1, 0) == 1 &&
             X509_set_subject_name(x, name) == 1 &&
             X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) == 1 &&
             ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(spec->not_before_ms / 1000)) &&
             ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(spec->not_after_ms / 1000));
    BN_free(bn);
    X509_NAME_free(name);
    return ok ? 0 : -1;
}

static int add_extensions(X509 *x, const struct crypto_cert_spec *spec, X509 *issuer)
{
    X509V3_CTX ctx;
    char basic[64];
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    if (spec->ca && spec->path_len >= 0) {
        snprintf(basic, sizeof basic, "critical,CA:TRUE,pathlen:%d", spec->path_len);
    } else {
        snprintf(basic, sizeof basic, "critical,CA:%s", spec->ca ? "TRUE" : "FALSE");
    }
    if (add_ext(x, &ctx, NID_basic_constraints, basic) != 0 ||
        add_ext(x, &ctx, NID_key_usage,
                spec->ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") != 0 ||
        add_ext(x, &ctx, NID_subject_key_identifier, "hash") != 0 ||
        add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") != 0) {
        return -1;
    }
    return spec->card ? add_card_ext(x, spec->card) : 0;
}

/* Signs x with SM2-with-SM3 under the signer id. The id can be set only once the context is
 * initialised for SM2 with SM3 and before anything is hashed (Z covers it). */
static int sign_cert(X509 *x, EVP_PKEY *pkey)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL; /* owned by mctx */
    int ok = mctx != NULL && EVP_DigestSignInit_ex(mctx, &pctx, "SM3", NULL, NULL, pkey, NULL) == 1 &&
             EVP_PKEY_CTX_set1_id(pctx, CRYPTO_SM2_ID, (int)SM2_ID_LEN) > 0 &&
             X509_sign_ctx(x, mctx) > 0;
    EVP_MD_CTX_free(mctx);
    return ok ? 0 : -1;
}

int crypto_cert_create(const crypto_sm2_key *subject, const crypto_cert *issuer,
                       const crypto_sm2_key *issuer_key, const struct crypto_cert_spec *spec,
                       crypto_cert **out)
{
    ASSERT(subject != NULL && issuer_key != NULL && spec->common_name != NULL);
    ASSERT(issuer != NULL || subject == issuer_key);
    X509 *x = X509_new();
    X509 *ix = issuer ? issuer->x : NULL;
    if (x == NULL || set_serial_and_names(x, spec, ix) != 0 ||
        X509_set_pubkey(x, subject->pkey) != 1 || add_extensions(x, spec, ix) != 0 ||
        sign_cert(x, issuer_key->pkey) != 0) {
        X509_free(x);
        return ossl_fail();
    }
    return cert_wrap(x, out);
}

/* ---- chains ---- */

int crypto_cert_verify_chain(const crypto_cert *root, const crypto_cert *const *intermediates,
                             size_t n, const crypto_cert *leaf, int64_t at_ms)
{
    X509_STORE *store = X509_STORE_new();
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc = -1;
    if (store == NULL || chain == NULL || ctx == NULL || X509_STORE_add_cert(store, root->x) != 1) {
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (sk_X509_push(chain, intermediates[i]->x) <= 0) {
            goto done;
        }
    }
    if (X509_STORE_CTX_init(ctx, store, leaf->x, chain) != 1) {
        goto done;
    }
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(param, (time_t)(at_ms / 1000));
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
    if (X509_verify_cert(ctx) == 1) {
        rc = 0;
    }
done:
    X509_STORE_CTX_free(ctx);
    sk_X509_free(chain); /* the certificates stay with their owners */
    X509_STORE_free(store);
    ERR_clear_error();
    return rc;
}

/* ---- SM2 keys in memory ---- */

int crypto_sm2_private_der(const crypto_sm2_key *key, uint8_t *out, size_t cap, size_t *len)
{
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key->pkey);
    unsigned char *der = NULL;
    int n = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
    int rc = -1;
    if (n > 0 && (size_t)n <= cap) {
        memcpy(out, der, (size_t)n);
        *len = (size_t)n;
        rc = 0;
    }
    if (n > 0) {
        OPENSSL_clear_free(der, (size_t)n);
    }
    PKCS8_PRIV_KEY_INFO_free(p8);
    ERR_clear_error();
    return rc;
}

int crypto_sm2_from_private_der(const uint8_t *der, size_t len, crypto_sm2_key **out)
{
    if (der == NULL || len == 0 || len > CRYPTO_SM2_PRIVATE_DER_MAX) {
        return -1;
    }
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
    EVP_PKEY *pkey = p8 && p == der + len ? EVP_PKCS82PKEY(p8) : NULL;
    PKCS8_PRIV_KEY_INFO_free(p8);
    crypto_sm2_key *key = NULL;
    if (pkey == NULL || !EVP_PKEY_is_a(pkey, "SM2") || (key = malloc(sizeof *key)) == NULL) {
        EVP_PKEY_free(pkey);
        return ossl_fail();
    }
    key->pkey = pkey;
    *out = key;
    return 0;
}

int crypto_sm2_spki(const crypto_sm2_key *key, uint8_t *out, size_t cap, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(key->pkey, &der);
    int rc = -1;
    if (n > 0 && (size_t)n <= cap) {
        memcpy(out, der, (size_t)n);
        *len = (size_t)n;
        rc = 0;
    }
    OPENSSL_free(der);
    ERR_clear_error();
    return rc;
}

int crypto_sm2_same_public(const crypto_sm2_key *a, const crypto_sm2_key *b)
{
    int eq = EVP_PKEY_eq(a->pkey, b->pkey);
    ERR_clear_error();
    return eq == 1 ? 0 : -1;
}

/* ---- signatures and encryption ---- */

static EC_GROUP *sm2_group;
static CRYPTO_ONCE sm2_group_once = CRYPTO_ONCE_STATIC_INIT;

static void sm2_group_make(void)
{
    sm2_group = EC_GROUP_new_by_curve_name(NID_sm2);
}

/* The order n of the SM2 curve (lives until exit), or NULL. */
static const BIGNUM *sm2_order(void)
{
    if (!CRYPTO_THREAD_run_once(&sm2_group_once, sm2_group_make) || sm2_group == NULL) {
        return NULL;
    }
    return EC_GROUP_get0_order(sm2_group);
}

int crypto_sm2_sig_canonical(const uint8_t *sig, size_t len)
{
    const BIGNUM *n = sm2_order();
    if (n == NULL || sig == NULL || len == 0 || len > CRYPTO_SM2_SIG_MAX) {
        return -1;
    }
    const unsigned char *p = sig;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
    unsigned char *again = NULL;
    int again_len = s && p == sig + len ? i2d_ECDSA_SIG(s, &again) : -1;
    int rc = -1;
    if (again_len == (int)len && memcmp(again, sig, len) == 0) {
        const BIGNUM *r = ECDSA_SIG_get0_r(s);
        const BIGNUM *ss = ECDSA_SIG_get0_s(s);
        bool in_range = !BN_is_zero(r) && !BN_is_negative(r) && BN_cmp(r, n) < 0 &&
                        !BN_is_zero(ss) && !BN_is_negative(ss) && BN_cmp(ss, n) < 0;
        rc = in_range ? 0 : -1;
    }
    OPENSSL_free(again);
    ECDSA_SIG_free(s);
    ERR_clear_error();
    return rc;
}

/* SM2 encryption or decryption with the key's context (SM3 is the default digest). */
static int sm2_crypt(const crypto_sm2_key *key, bool encrypt, const uint8_t *in, size_t len,
                     uint8_t *out, size_t cap, size_t *out_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
    size_t n = cap;
    int ok = 0;
    if (ctx != NULL && encrypt) {
        ok = EVP_PKEY_encrypt_init(ctx) == 1 && EVP_PKEY_encrypt(ctx, out, &n, in, len) == 1;
    } else if (ctx != NULL) {
        ok = EVP_PKEY_decrypt_init(ctx) == 1 && EVP_PKEY_decrypt(ctx, out, &n, in, len) == 1;
    }
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    if (!ok || n > cap) {
        return -1;
    }
    *out_len = n;
    return 0;
}

int crypto_sm2_encrypt(const crypto_sm2_key *key, const void *in, size_t len, uint8_t *out,
                       size_t cap, size_t *out_len)
{
    if (len == 0 || cap < len + CRYPTO_SM2_CIPHER_OVERHEAD) {
        return -1;
    }
    return sm2_crypt(key, true, in, len, out, cap, out_len);
}

int crypto_sm2_decrypt(const crypto_sm2_key *key, const uint8_t *in, size_t len, uint8_t *out,
                       size_t cap, size_t *out_len)
{
    if (len == 0 || len > (1u << 16)) {
        return -1;
    }
    return sm2_crypt(key, false, in, len, out, cap, out_len);
}
