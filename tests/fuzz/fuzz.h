/*
 * fuzz.h: the entry points of the offline-payment decoders' fuzz harnesses. Each takes any
 * bytes, runs them through a decoder of outside data, and checks what the decoder accepted
 * (it re-encodes to the same bytes); each returns 1 when the input was accepted, else 0.
 * Built two ways: with libFuzzer (clang -fsanitize=fuzzer -DJZ_LIBFUZZER, `make fuzz`), each
 * file its own fuzzer; and into jz_tests, where fuzz_replay.c runs mutated seeds through
 * them under ASan and UBSan (`make asan`).
 */
#ifndef JZ_FUZZ_H
#define JZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* The card key fuzz_command unseals with (so seeds can be sealed under it). */
#define FUZZ_CARD_KEY {1, 2, 3, 4, 5, 6, 7, 8, 9}

int fuzz_voucher(const uint8_t *data, size_t len);   /* bodies and payments */
int fuzz_challenge(const uint8_t *data, size_t len); /* challenges */
int fuzz_command(const uint8_t *data, size_t len);   /* TSM commands and personalisation */
int fuzz_cert(const uint8_t *data, size_t len);      /* certificates, DER and PEM */

#endif
