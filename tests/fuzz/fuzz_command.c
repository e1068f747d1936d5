/*
 * fuzz_command.c: what a card decodes from the TSM (voucher.h): command bodies, sealed
 * commands and personalisation, under a fixed card key (a fuzzer that forges the seal's MAC
 * would have found a break in HMAC-SM3; what it exercises is every check before and after).
 */
#include "fuzz/fuzz.h"
#include "voucher.h"

static const uint8_t fuzz_key[VOUCHER_CARD_KEY_BYTES] = FUZZ_CARD_KEY;

int fuzz_command(const uint8_t *data, size_t len)
{
    struct voucher_command cmd;
    uint8_t body[VOUCHER_COMMAND_BODY_BYTES], sig[CRYPTO_SM2_SIG_MAX];
    size_t sig_len = 0;
    int accepted = 0;
    if (voucher_command_body_decode(data, len, &cmd) == 0) {
        voucher_command_body_encode(&cmd, body);
        ASSERT(len == sizeof body && memcmp(body, data, len) == 0);
        accepted = 1;
    }
    jz_id card;
    memset(&card, 0, sizeof card);
    if (len >= 16) {
        memcpy(card.b, data, 16);
    }
    if (voucher_command_unwrap(fuzz_key, &card, data, len, &cmd, body, sig, &sig_len) == 0) {
        ASSERT(sig_len >= 1 && sig_len <= CRYPTO_SM2_SIG_MAX);
        accepted = 1;
    }
    const uint8_t *ek = NULL;
    size_t ek_len = 0;
    if (voucher_perso_header(data, len, &card, &ek, &ek_len) == 0) {
        ASSERT(ek >= data && ek + ek_len <= data + len);
        static uint8_t plain[3 * (2 + VOUCHER_CERT_MAX)];
        struct voucher_perso p;
        if (voucher_perso_open(fuzz_key, data, len, plain, sizeof plain, &p) == 0) {
            ASSERT(p.root + p.root_len <= plain + sizeof plain);
            accepted = 1;
        }
    }
    return accepted;
}

#ifdef JZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_command(data, size);
    return 0;
}
#endif
