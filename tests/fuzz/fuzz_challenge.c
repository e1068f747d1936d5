/*
 * fuzz_challenge.c: payee challenges (voucher.h).
 */
#include "fuzz/fuzz.h"
#include "voucher.h"

int fuzz_challenge(const uint8_t *data, size_t len)
{
    struct voucher_challenge c;
    uint8_t again[VOUCHER_CHALLENGE_BYTES];
    if (voucher_challenge_decode(data, len, &c) != 0) {
        return 0;
    }
    voucher_challenge_encode(&c, again);
    ASSERT(len == sizeof again && memcmp(again, data, len) == 0);
    return 1;
}

#ifdef JZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_challenge(data, size);
    return 0;
}
#endif
