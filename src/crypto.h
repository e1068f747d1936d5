/*
 * crypto.h: China's national algorithms (SM2, SM3, SM4) and randomness, through OpenSSL 3.
 *
 * This is the only module that includes OpenSSL headers; nothing here is hand-written
 * cryptography. Every SM2 signature uses the GM/T 0009 default signer id "1234567812345678"
 * (OpenSSL 3.0 would otherwise use an empty id), so signatures interoperate with GmSSL,
 * Tongsuo and sm-crypto. Functions return 0 on success and -1 on failure; out-parameters are
 * written only on success. Secret material is wiped with crypto_wipe before it is freed.
 */
#ifndef JZ_CRYPTO_H
#define JZ_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SM3_BYTES 32
#define CRYPTO_SM4_KEY_BYTES 16
#define CRYPTO_SM4_BLOCK_BYTES 16
#define CRYPTO_SM2_SIG_MAX 80 /* DER of two 256-bit integers: at most 72 bytes */
#define CRYPTO_SM2_ID "1234567812345678"

/* One-shot SM3. */
int crypto_sm3(const void *data, size_t len, uint8_t out[CRYPTO_SM3_BYTES]);

/* Incremental SM3. crypto_sm3_new returns a context owned by the caller (NULL on failure);
 * crypto_sm3_init restarts it; crypto_sm3_final writes the digest and leaves the context
 * reusable after another init; crypto_sm3_free(NULL) does nothing. */
typedef struct crypto_sm3_ctx crypto_sm3_ctx;
crypto_sm3_ctx *crypto_sm3_new(void);
int crypto_sm3_init(crypto_sm3_ctx *ctx);
int crypto_sm3_update(crypto_sm3_ctx *ctx, const void *data, size_t len);
int crypto_sm3_final(crypto_sm3_ctx *ctx, uint8_t out[CRYPTO_SM3_BYTES]);
void crypto_sm3_free(crypto_sm3_ctx *ctx);

/* HMAC-SM3 (RFC 2104 construction with SM3). */
int crypto_hmac_sm3(const void *key, size_t key_len, const void *data, size_t len,
                    uint8_t out[CRYPTO_SM3_BYTES]);

/* SM4 single-block encryption (ECB of one block; for test vectors and key derivation). */
int crypto_sm4_encrypt_block(const uint8_t key[CRYPTO_SM4_KEY_BYTES],
                             const uint8_t in[CRYPTO_SM4_BLOCK_BYTES],
                             uint8_t out[CRYPTO_SM4_BLOCK_BYTES]);
/* SM4-CTR: encrypts or decrypts len bytes (same operation); in and out may be equal. */
int crypto_sm4_ctr(const uint8_t key[CRYPTO_SM4_KEY_BYTES], const uint8_t iv[16],
                   const void *in, size_t len, void *out);

/* Cryptographically secure random bytes. */
int crypto_random(void *buf, size_t n);

/* Overwrites n bytes so the compiler cannot elide it (OPENSSL_cleanse). */
void crypto_wipe(void *p, size_t n);

/* Constant-time comparison: 0 when equal. */
int crypto_memcmp(const void *a, const void *b, size_t n);

/* SM2 keys. A crypto_sm2_key is owned by the caller and released with crypto_sm2_free
 * (NULL does nothing). A key may hold a private key (sign and verify) or only a public key
 * (verify). */
typedef struct crypto_sm2_key crypto_sm2_key;
int crypto_sm2_generate(crypto_sm2_key **out);
void crypto_sm2_free(crypto_sm2_key *key);

/* Writes the private key as PKCS#8 PEM to path, created with mode 0600, written to a
 * temporary file, fsync'd and renamed into place. Fails if path exists. */
int crypto_sm2_save_private(const crypto_sm2_key *key, const char *path);
/* Loads a PKCS#8 PEM private key (must be an SM2 key). */
int crypto_sm2_load_private(const char *path, crypto_sm2_key **out);

/* Public key as SubjectPublicKeyInfo PEM; *pem is malloc'd, NUL-terminated, owned by the
 * caller (free()). */
int crypto_sm2_public_pem(const crypto_sm2_key *key, char **pem, size_t *pem_len);
/* Parses a SubjectPublicKeyInfo PEM; refuses anything but an SM2 key on the curve. */
int crypto_sm2_load_public_pem(const char *pem, size_t pem_len, crypto_sm2_key **out);

/* SM2 signature with SM3 and signer id CRYPTO_SM2_ID; sig gets DER, *sig_len its length. */
int crypto_sm2_sign(const crypto_sm2_key *key, const void *msg, size_t len,
                    uint8_t sig[CRYPTO_SM2_SIG_MAX], size_t *sig_len);
/* Returns 0 only for a valid signature by key over msg with signer id CRYPTO_SM2_ID. */
int crypto_sm2_verify(const crypto_sm2_key *key, const void *msg, size_t len,
                      const uint8_t *sig, size_t sig_len);

/* Sealing (the vaults' and credentials' at-rest protection, DESIGN.md §5): SM4-CTR under the
 * first 16 bytes of key with a random IV, then HMAC-SM3 under the other 32 over
 * len(aad) | aad | iv | ciphertext (encrypt-then-MAC). out receives iv (16) | ciphertext (len)
 * | tag (32): len + CRYPTO_SEAL_OVERHEAD bytes. aad binds the sealed value to its context
 * (e.g. the key id) without being stored in it. */
#define CRYPTO_SEAL_KEY_BYTES 48
#define CRYPTO_SEAL_OVERHEAD 48
int crypto_seal(const uint8_t key[CRYPTO_SEAL_KEY_BYTES], const void *aad, size_t aad_len,
                const void *in, size_t len, uint8_t *out);
/* Checks the tag first and decrypts only if it holds: out receives in_len - OVERHEAD bytes.
 * -1 for a wrong key, wrong aad or any changed byte. */
int crypto_unseal(const uint8_t key[CRYPTO_SEAL_KEY_BYTES], const void *aad, size_t aad_len,
                  const uint8_t *in, size_t in_len, void *out);

/* TLS, server side (TLS 1.2 and up, OpenSSL's defaults for ciphers). A server holds the
 * certificate chain and key; each accepted connection is a crypto_tls_conn over a connected
 * socket (blocking). read returns bytes read (>0) or -1 at the end or on error; write
 * writes everything or returns -1. Both objects are owned by the caller. */
typedef struct crypto_tls_server crypto_tls_server;
typedef struct crypto_tls_conn crypto_tls_conn;
int crypto_tls_server_new(const char *cert_path, const char *key_path, crypto_tls_server **out,
                          char *err, size_t err_len);
void crypto_tls_server_free(crypto_tls_server *t);
int crypto_tls_accept(crypto_tls_server *t, int fd, crypto_tls_conn **out);
int crypto_tls_read(crypto_tls_conn *c, void *buf, size_t len);
/* Bytes already decrypted and waiting (poll() does not see them). */
int crypto_tls_pending(crypto_tls_conn *c);
int crypto_tls_write(crypto_tls_conn *c, const void *buf, size_t len);
void crypto_tls_conn_free(crypto_tls_conn *c);

#endif
