/*
 * fuzz_replay.c: the fuzz harnesses' entry points (fuzz.h) inside the test runner: valid
 * seeds made here (a voucher, a payment, a challenge, a sealed command, a personalisation, a
 * card certificate in DER and PEM) must be accepted, every truncation of them refused, and
 * thousands of seeded random mutations of them must neither crash nor trip the harnesses'
 * round-trip assertions. `make fuzz` runs the same entry points under libFuzzer for longer.
 */
#include <sys/stat.h>

#include "crypto_x509.h"
#include "fuzz/fuzz.h"
#include "test.h"
#include "tsm.h"
#include "voucher.h"

typedef int (*entry_fn)(const uint8_t *, size_t);

struct seed {
    const char *name;
    entry_fn fn;
    uint8_t *data;
    size_t len;
};

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Mutates buf (len bytes, room for cap) in place; returns the new length. */
static size_t mutate(uint64_t *rng, uint8_t *buf, size_t len, size_t cap)
{
    int edits = 1 + (int)(next(rng) % 4);
    for (int e = 0; e < edits; e++) {
        uint64_t r = next(rng);
        size_t at = len ? (size_t)(r >> 8) % len : 0;
        switch (r % 4) {
        case 0: if (len) { buf[at] ^= (uint8_t)(1u << (r >> 40) % 8); } break;
        case 1: if (len) { buf[at] = (uint8_t)(r >> 32); } break;
        case 2: len = at; break;
        default: if (len < cap) { buf[len++] = (uint8_t)(r >> 24); } break;
        }
    }
    return len;
}

static size_t seeds_make(struct seed *s, tsm *t, crypto_sm2_key *key, crypto_cert *cert)
{
    static uint8_t body[VOUCHER_BODY_BYTES], pay[VOUCHER_PAYMENT_MAX], ch[VOUCHER_CHALLENGE_BYTES];
    static uint8_t cmdb[VOUCHER_COMMAND_BODY_BYTES], cmd[VOUCHER_COMMAND_MAX];
    static uint8_t perso[VOUCHER_PERSO_MAX];
    static const uint8_t key_bytes[VOUCHER_CARD_KEY_BYTES] = FUZZ_CARD_KEY;
    uint8_t sig[CRYPTO_SM2_SIG_MAX], *der = NULL;
    size_t sig_len = 0, der_len = 0, pem_len = 0, n = 0;
    char *pem = NULL;
    struct voucher v = {.counter = 3, .amount = 1234, .time_ms = 5};
    memset(v.payer.b, 1, 16);
    memset(v.payee.b, 2, 16);
    voucher_encode(&v, body);
    crypto_sm2_sign(key, body, sizeof body, sig, &sig_len);
    crypto_cert_der(cert, &der, &der_len);
    crypto_cert_pem(cert, &pem, &pem_len);
    struct voucher_payment p = {body, sig, sig_len, der, der_len, der, der_len};
    size_t pay_len = voucher_payment_encode(&p, pay, sizeof pay);
    struct voucher_challenge c = {.payee = v.payee, .amount = 99, .time_ms = 7};
    voucher_challenge_encode(&c, ch);
    struct voucher_command vc = {.type = VOUCHER_CMD_LOAD, .card = v.payer, .counter = 1,
                                 .amount = 5, .issued_at_ms = 1};
    voucher_command_body_encode(&vc, cmdb);
    size_t cmd_len = voucher_command_wrap(key_bytes, &v.payer, cmdb, sig, sig_len, cmd, sizeof cmd);
    struct voucher_perso vp = {.enc_key = sig, .enc_key_len = sig_len, .cert = der, .ca = der,
                               .root = der, .cert_len = der_len, .ca_len = der_len,
                               .root_len = der_len};
    size_t perso_len = voucher_perso_wrap(key_bytes, &v.payer, &vp, perso, sizeof perso);
    (void)t;
    s[n++] = (struct seed){"voucher body", fuzz_voucher, body, sizeof body};
    s[n++] = (struct seed){"payment", fuzz_voucher, pay, pay_len};
    s[n++] = (struct seed){"challenge", fuzz_challenge, ch, sizeof ch};
    s[n++] = (struct seed){"command body", fuzz_command, cmdb, sizeof cmdb};
    s[n++] = (struct seed){"sealed command", fuzz_command, cmd, cmd_len};
    s[n++] = (struct seed){"personalisation", fuzz_command, perso, perso_len};
    s[n++] = (struct seed){"certificate DER", fuzz_cert, der, der_len};
    s[n++] = (struct seed){"certificate PEM", fuzz_cert, (uint8_t *)pem, pem_len};
    return n;
}

TEST(fuzz_harnesses_replay_seeds_and_mutations)
{
    char err[200];
    tsm *t = NULL;
    crypto_sm2_key *key = NULL;
    crypto_cert *cert = NULL;
    struct crypto_card_ext ext = {.tier = 1, .per_payment = 1, .offline_total = 1,
                                  .offline_count = 1};
    REQUIRE_EQ_INT(tsm_open(test_tmpdir(), 1767225600000LL, &t, err, sizeof err), 0);
    REQUIRE_EQ_INT(crypto_sm2_generate(&key), 0);
    REQUIRE_EQ_INT(tsm_certify(t, "opa", key, &ext, 1767225600000LL, 1800000000000LL, &cert), 0);
    struct seed seeds[8];
    size_t n = seeds_make(seeds, t, key, cert);
    long rounds = test_opt_long("fuzz-rounds", 1500);
    uint64_t rng = test_seed() | 1;
    static uint8_t buf[VOUCHER_PERSO_MAX + 64];
    for (size_t i = 0; i < n; i++) {
        REQUIRE(seeds[i].len > 0 && seeds[i].len <= VOUCHER_PERSO_MAX);
        if (seeds[i].fn(seeds[i].data, seeds[i].len) != 1) {
            test_fail(__FILE__, __LINE__, "seed %s refused", seeds[i].name);
        }
        test_count_check();
        int truncations_accepted = 0;
        for (size_t k = 0; k + 1 < seeds[i].len; k += 1 + seeds[i].len / 64) {
            memcpy(buf, seeds[i].data, k);
            truncations_accepted += seeds[i].fn(buf, k);
        }
        CHECK_EQ_INT(truncations_accepted, 0);
        for (long r = 0; r < rounds; r++) {
            memcpy(buf, seeds[i].data, seeds[i].len);
            size_t len = mutate(&rng, buf, seeds[i].len, sizeof buf);
            seeds[i].fn(buf, len);
        }
    }
    free(seeds[6].data);
    free(seeds[7].data);
    crypto_cert_free(cert);
    crypto_sm2_free(key);
    tsm_close(t);
}
