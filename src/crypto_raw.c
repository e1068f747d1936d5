/*
 * crypto_raw.c: see crypto_raw.h.
 */
#include "crypto_raw.h"

#include <string.h>

#ifndef INT_MAX
#define INT_MAX __INT_MAX__ /* OpenSSL's headers need it; src/limits.h shadows <limits.h> */
#endif

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#define RAW_RECORD_MAX 4096

const char *crypto_raw_openssl_version(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}

struct raw {
    EVP_CIPHER *sm4;
    EVP_MAC *hmac;
    EVP_CIPHER_CTX *cipher;
    EVP_MAC_CTX *mac;
    uint8_t key[16];
    uint8_t mac_key[32];
};

static void raw_free(struct raw *r)
{
    EVP_CIPHER_CTX_free(r->cipher);
    EVP_MAC_CTX_free(r->mac);
    EVP_CIPHER_free(r->sm4);
    EVP_MAC_free(r->hmac);
    OPENSSL_cleanse(r->key, sizeof r->key);
    OPENSSL_cleanse(r->mac_key, sizeof r->mac_key);
}

static int raw_init(struct raw *r)
{
    char digest[] = "SM3";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    memset(r, 0, sizeof *r);
    memset(r->key, 0x5a, sizeof r->key);
    memset(r->mac_key, 0xa5, sizeof r->mac_key);
    r->sm4 = EVP_CIPHER_fetch(NULL, "SM4-CTR", NULL);
    r->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    r->cipher = EVP_CIPHER_CTX_new();
    r->mac = r->hmac ? EVP_MAC_CTX_new(r->hmac) : NULL;
    if (!r->sm4 || !r->cipher || !r->mac || EVP_MAC_CTX_set_params(r->mac, params) != 1 ||
        EVP_EncryptInit_ex2(r->cipher, r->sm4, r->key, NULL, NULL) != 1) {
        return -1;
    }
    return 0;
}

/* The tag over iv | ct. */
static int raw_tag(struct raw *r, const uint8_t iv[16], const uint8_t *ct, size_t len,
                   uint8_t tag[32])
{
    size_t tag_len = 0;
    return EVP_MAC_init(r->mac, r->mac_key, sizeof r->mac_key, NULL) == 1 &&
                   EVP_MAC_update(r->mac, iv, 16) == 1 && EVP_MAC_update(r->mac, ct, len) == 1 &&
                   EVP_MAC_final(r->mac, tag, &tag_len, 32) == 1 && tag_len == 32
               ? 0 : -1;
}

static int raw_ctr(struct raw *r, const uint8_t iv[16], const uint8_t *in, size_t len,
                   uint8_t *out)
{
    int out_len = 0;
    return EVP_EncryptInit_ex2(r->cipher, NULL, NULL, iv, NULL) == 1 &&
                   EVP_EncryptUpdate(r->cipher, out, &out_len, in, (int)len) == 1 &&
                   out_len == (int)len
               ? 0 : -1;
}

int crypto_raw_seal_loop(size_t len, uint64_t n, bool open, uint64_t *checksum)
{
    struct raw r;
    uint8_t plain[RAW_RECORD_MAX] = {0};
    uint8_t ct[RAW_RECORD_MAX];
    uint8_t iv[16] = {0};
    uint8_t tag[32];
    uint8_t check[32];
    uint64_t sum = 0;
    memset(&r, 0, sizeof r);
    int rc = len <= RAW_RECORD_MAX && raw_init(&r) == 0 ? 0 : -1;
    /* To open, first one sealed record to open again and again. */
    if (rc == 0 && open) {
        rc = raw_ctr(&r, iv, plain, len, ct) == 0 && raw_tag(&r, iv, ct, len, tag) == 0 ? 0 : -1;
    }
    for (uint64_t i = 0; rc == 0 && i < n; i++) {
        if (open) {
            rc = raw_tag(&r, iv, ct, len, check) == 0 && CRYPTO_memcmp(check, tag, 32) == 0 &&
                         raw_ctr(&r, iv, ct, len, plain) == 0
                     ? 0 : -1;
            sum += plain[0] + check[0];
        } else {
            memcpy(iv + 8, &i, sizeof i);
            rc = raw_ctr(&r, iv, plain, len, ct) == 0 && raw_tag(&r, iv, ct, len, tag) == 0
                     ? 0 : -1;
            sum += tag[0];
        }
    }
    raw_free(&r);
    ERR_clear_error();
    *checksum = sum;
    return rc;
}
