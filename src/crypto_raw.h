/*
 * crypto_raw.h: the peer figure of `jiaozi bench tokens`: SM4-CTR + HMAC-SM3 straight through
 * the linked OpenSSL's EVP interface, contexts made once and reused, no allocation and no
 * randomness per record (the IV is a counter). It is the rate the vault's sealing could reach
 * if it did nothing but the two primitives; the benchmark prints the vault's figures beside
 * it. Part of the crypto layer (the only code that includes OpenSSL).
 */
#ifndef JZ_CRYPTO_RAW_H
#define JZ_CRYPTO_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Seals n records of len bytes (SM4-CTR under a 16-byte key, then HMAC-SM3 under a 32-byte key
 * over IV and ciphertext), or with open = true verifies the tag and decrypts n sealed records.
 * Writes a checksum of the tags (so the work cannot be optimised away). 0, or -1 when OpenSSL
 * fails or len > 4096. */
int crypto_raw_seal_loop(size_t len, uint64_t n, bool open, uint64_t *checksum);

/* The linked OpenSSL's version text ("OpenSSL 3.0.x ..."). */
const char *crypto_raw_openssl_version(void);

#endif
