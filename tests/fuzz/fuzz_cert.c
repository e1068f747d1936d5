/*
 * fuzz_cert.c: certificates as uploaded with vouchers and carried in payments
 * (crypto_x509.h): DER and PEM, then the card extension of what parsed.
 */
#include "common.h"
#include "crypto_x509.h"
#include "fuzz/fuzz.h"

int fuzz_cert(const uint8_t *data, size_t len)
{
    crypto_cert *c = NULL;
    int accepted = 0;
    if (crypto_cert_from_der(data, len, &c) == 0) {
        uint8_t *der = NULL;
        size_t der_len = 0;
        ASSERT(crypto_cert_der(c, &der, &der_len) == 0);
        ASSERT(der_len == len && memcmp(der, data, len) == 0);
        free(der);
        struct crypto_card_ext ext;
        if (crypto_cert_card_ext(c, &ext) == 0) {
            ASSERT(ext.tier >= 1 && ext.tier <= 4);
        }
        crypto_cert_free(c);
        accepted = 1;
    }
    c = NULL;
    if (crypto_cert_from_pem((const char *)data, len, &c) == 0) {
        crypto_cert_free(c);
        accepted = 1;
    }
    return accepted;
}

#ifdef JZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_cert(data, size);
    return 0;
}
#endif
