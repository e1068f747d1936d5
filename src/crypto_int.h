/*
 * crypto_int.h: what the files of the crypto layer (crypto.c, crypto_x509.c) share and no
 * other module may see. Includes OpenSSL: only crypto_*.c include this header.
 *
 * The definition of struct crypto_sm2_key below is the one crypto.c uses (it predates this
 * header and spells the same definition itself); the two must stay identical. The unit tests
 * hold them together: a key made by crypto.c signs and crypto_x509.c reads its public key,
 * and the other way round.
 */
#ifndef JZ_CRYPTO_INT_H
#define JZ_CRYPTO_INT_H

#include <openssl/evp.h>

#include "crypto.h"

struct crypto_sm2_key {
    EVP_PKEY *pkey;
};

#endif
