/*
 * fuzz_voucher.c: voucher bodies and payer-to-payee payments (voucher.h).
 */
#include "fuzz/fuzz.h"
#include "voucher.h"

int fuzz_voucher(const uint8_t *data, size_t len)
{
    struct voucher v;
    uint8_t again[VOUCHER_PAYMENT_MAX];
    int accepted = 0;
    if (voucher_decode(data, len, &v) == 0) {
        voucher_encode(&v, again);
        ASSERT(len == VOUCHER_BODY_BYTES && memcmp(again, data, len) == 0);
        accepted = 1;
    }
    struct voucher_payment p;
    if (voucher_payment_decode(data, len, &p) == 0) {
        ASSERT(p.body >= data && p.ca + p.ca_len == data + len);
        size_t n = voucher_payment_encode(&p, again, sizeof again);
        ASSERT(n == len && memcmp(again, data, len) == 0);
        accepted = 1;
    }
    return accepted;
}

#ifdef JZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_voucher(data, size);
    return 0;
}
#endif
