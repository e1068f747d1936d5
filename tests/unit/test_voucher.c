/*
 * test_voucher.c: the offline-payment byte formats (voucher.h): API.md's exact voucher
 * layout, every size and reserved byte checked, and the sealed card commands.
 */
#include "common.h"
#include "crypto.h"
#include "test.h"
#include "voucher.h"

static struct voucher sample(void)
{
    struct voucher v;
    memset(&v, 0, sizeof v);
    for (int i = 0; i < 16; i++) {
        v.payer.b[i] = (uint8_t)(0x10 + i);
        v.payee.b[i] = (uint8_t)(0x30 + i);
        v.nonce[i] = (uint8_t)(0x50 + i);
    }
    v.counter = 0x01020304;
    v.amount = 0x0102030405060708LL;
    v.time_ms = 0x1112131415161718LL;
    memset(v.prev, 0xee, sizeof v.prev);
    return v;
}

TEST(voucher_body_is_api_md_layout_big_endian)
{
    struct voucher v = sample(), back;
    v.amount = 12345;
    uint8_t b[VOUCHER_BODY_BYTES];
    voucher_encode(&v, b);
    CHECK_EQ_INT(b[0], 1);
    CHECK_EQ_MEM(b + 1, v.payer.b, 16);
    static const uint8_t counter[4] = {1, 2, 3, 4};
    CHECK_EQ_MEM(b + 17, counter, 4);
    CHECK_EQ_MEM(b + 21, v.payee.b, 16);
    static const uint8_t amount[8] = {0, 0, 0, 0, 0, 0, 0x30, 0x39};
    CHECK_EQ_MEM(b + 37, amount, 8);
    CHECK_EQ_MEM(b + 45, v.nonce, 16);
    static const uint8_t when[8] = {0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18};
    CHECK_EQ_MEM(b + 61, when, 8);
    CHECK_EQ_MEM(b + 69, v.prev, 32);
    static const uint8_t zero[20];
    CHECK_EQ_MEM(b + 101, zero, 20);
    REQUIRE_EQ_INT(voucher_decode(b, sizeof b, &back), 0);
    CHECK_EQ_INT(memcmp(&back.payer, &v.payer, 16), 0);
    CHECK_EQ_INT(back.counter, v.counter);
    CHECK_EQ_INT(back.amount, 12345);
    CHECK_EQ_INT(back.time_ms, v.time_ms);
    /* Every shorter input, a longer one, a nonzero reserved byte, version 2, counter 0,
     * amount 0 and an amount over the API's maximum are refused. */
    for (size_t n = 0; n < sizeof b; n++) {
        CHECK_EQ_INT(voucher_decode(b, n, &back), -1);
    }
    uint8_t longer[VOUCHER_BODY_BYTES + 1];
    memcpy(longer, b, sizeof b);
    longer[sizeof b] = 0;
    CHECK_EQ_INT(voucher_decode(longer, sizeof longer, &back), -1);
    for (size_t i = 101; i < sizeof b; i++) {
        b[i] = 1;
        CHECK_EQ_INT(voucher_decode(b, sizeof b, &back), -1);
        b[i] = 0;
    }
    b[0] = 2;
    CHECK_EQ_INT(voucher_decode(b, sizeof b, &back), -1);
    b[0] = 1;
    v.counter = 0;
    voucher_encode(&v, b);
    CHECK_EQ_INT(voucher_decode(b, sizeof b, &back), -1);
    v.counter = 1;
    v.amount = 9000000000000001LL;
    voucher_encode(&v, b);
    CHECK_EQ_INT(voucher_decode(b, sizeof b, &back), -1);
}

TEST(voucher_signature_transfer_id_and_hash)
{
    crypto_sm2_key *k = NULL, *other = NULL;
    REQUIRE_EQ_INT(crypto_sm2_generate(&k), 0);
    REQUIRE_EQ_INT(crypto_sm2_generate(&other), 0);
    struct voucher v = sample();
    v.amount = 500;
    uint8_t b[VOUCHER_BODY_BYTES], sig[CRYPTO_SM2_SIG_MAX];
    size_t sig_len = 0;
    voucher_encode(&v, b);
    REQUIRE_EQ_INT(crypto_sm2_sign(k, b, sizeof b, sig, &sig_len), 0);
    CHECK_EQ_INT(voucher_verify(k, b, sig, sig_len), 0);
    CHECK_EQ_INT(voucher_verify(other, b, sig, sig_len), -1);
    b[40] ^= 1;
    CHECK_EQ_INT(voucher_verify(k, b, sig, sig_len), -1);
    b[40] ^= 1;
    jz_id t1, t2, t3;
    voucher_transfer_id(&v.payer, 1, &t1);
    voucher_transfer_id(&v.payer, 1, &t2);
    voucher_transfer_id(&v.payer, 2, &t3);
    CHECK(jz_id_eq(&t1, &t2));
    CHECK(!jz_id_eq(&t1, &t3));
    uint8_t h1[32], h2[32];
    CHECK_EQ_INT(voucher_hash(b, h1), 0);
    CHECK_EQ_INT(crypto_sm3(b, sizeof b, h2), 0);
    CHECK_EQ_MEM(h1, h2, 32);
    crypto_sm2_free(k);
    crypto_sm2_free(other);
}

TEST(voucher_challenge_and_payment_formats)
{
    struct voucher_challenge ch = {.amount = 777, .time_ms = 5}, back;
    memset(ch.payee.b, 7, 16);
    memset(ch.nonce, 9, 16);
    uint8_t b[VOUCHER_CHALLENGE_BYTES];
    voucher_challenge_encode(&ch, b);
    REQUIRE_EQ_INT(voucher_challenge_decode(b, sizeof b, &back), 0);
    CHECK_EQ_INT(back.amount, 777);
    CHECK_EQ_MEM(back.nonce, ch.nonce, 16);
    CHECK_EQ_INT(voucher_challenge_decode(b, sizeof b - 1, &back), -1);
    b[0] = 0;
    CHECK_EQ_INT(voucher_challenge_decode(b, sizeof b, &back), -1);

    uint8_t body[VOUCHER_BODY_BYTES] = {1}, sig[70], cert[300], ca[200], out[VOUCHER_PAYMENT_MAX];
    memset(sig, 0x30, sizeof sig);
    memset(cert, 0xc1, sizeof cert);
    memset(ca, 0xca, sizeof ca);
    struct voucher_payment p = {.body = body, .sig = sig, .sig_len = sizeof sig, .cert = cert,
                                .cert_len = sizeof cert, .ca = ca, .ca_len = sizeof ca}, q;
    size_t n = voucher_payment_encode(&p, out, sizeof out);
    REQUIRE(n == 1 + 121 + 1 + 70 + 2 + 300 + 2 + 200);
    REQUIRE_EQ_INT(voucher_payment_decode(out, n, &q), 0);
    CHECK_EQ_INT(q.sig_len, 70);
    CHECK_EQ_INT(q.cert_len, 300);
    CHECK_EQ_MEM(q.ca, ca, 200);
    int refused = 0;
    for (size_t k = 0; k < n; k++) {
        refused += voucher_payment_decode(out, k, &q) != 0;
    }
    CHECK_EQ_INT(refused, (int)n);
    CHECK_EQ_INT(voucher_payment_encode(&p, out, n - 1), 0);
}

TEST(voucher_card_commands_are_sealed_to_one_card)
{
    uint8_t key[VOUCHER_CARD_KEY_BYTES], key2[VOUCHER_CARD_KEY_BYTES];
    crypto_random(key, sizeof key);
    crypto_random(key2, sizeof key2);
    struct voucher_command cmd = {.type = VOUCHER_CMD_LOAD, .counter = 3, .amount = 1000,
                                  .issued_at_ms = 99}, back;
    memset(cmd.card.b, 4, 16);
    memset(cmd.transfer.b, 5, 16);
    uint8_t body[VOUCHER_COMMAND_BODY_BYTES], sig[CRYPTO_SM2_SIG_MAX], out[VOUCHER_COMMAND_MAX];
    uint8_t body2[VOUCHER_COMMAND_BODY_BYTES], sig2[CRYPTO_SM2_SIG_MAX];
    memset(sig, 0x55, 71);
    voucher_command_body_encode(&cmd, body);
    size_t n = voucher_command_wrap(key, &cmd.card, body, sig, 71, out, sizeof out);
    REQUIRE(n > 0);
    size_t sig_len = 0;
    REQUIRE_EQ_INT(voucher_command_unwrap(key, &cmd.card, out, n, &back, body2, sig2, &sig_len), 0);
    CHECK_EQ_INT(back.counter, 3);
    CHECK_EQ_INT(back.amount, 1000);
    CHECK_EQ_INT(sig_len, 71);
    CHECK_EQ_MEM(body2, body, sizeof body);
    /* Another card's key, another card id, any flipped byte. */
    CHECK_EQ_INT(voucher_command_unwrap(key2, &cmd.card, out, n, &back, body2, sig2, &sig_len), -1);
    jz_id other = cmd.card;
    other.b[0] ^= 1;
    CHECK_EQ_INT(voucher_command_unwrap(key, &other, out, n, &back, body2, sig2, &sig_len), -1);
    int refused = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] ^= 0x80;
        refused += voucher_command_unwrap(key, &cmd.card, out, n, &back, body2, sig2, &sig_len) != 0;
        out[i] ^= 0x80;
    }
    CHECK_EQ_INT(refused, (int)n);
    cmd.type = 9;
    voucher_command_body_encode(&cmd, body);
    CHECK_EQ_INT(voucher_command_body_decode(body, sizeof body, &back), -1);
}

TEST(voucher_personalisation_round_trip)
{
    uint8_t key[VOUCHER_CARD_KEY_BYTES];
    crypto_random(key, sizeof key);
    jz_id card;
    memset(card.b, 8, 16);
    uint8_t ek[120], cert[500], ca[400], root[300], out[VOUCHER_PERSO_MAX];
    uint8_t plain[3 * (2 + VOUCHER_CERT_MAX)];
    memset(ek, 1, sizeof ek);
    memset(cert, 2, sizeof cert);
    memset(ca, 3, sizeof ca);
    memset(root, 4, sizeof root);
    struct voucher_perso p = {ek, sizeof ek, cert, ca, root, sizeof cert, sizeof ca, sizeof root},
                         q;
    size_t n = voucher_perso_wrap(key, &card, &p, out, sizeof out);
    REQUIRE(n > 0);
    jz_id got;
    const uint8_t *k = NULL;
    size_t k_len = 0;
    REQUIRE_EQ_INT(voucher_perso_header(out, n, &got, &k, &k_len), 0);
    CHECK(jz_id_eq(&got, &card));
    CHECK_EQ_INT(k_len, sizeof ek);
    REQUIRE_EQ_INT(voucher_perso_open(key, out, n, plain, sizeof plain, &q), 0);
    CHECK_EQ_INT(q.cert_len, sizeof cert);
    CHECK_EQ_MEM(q.root, root, sizeof root);
    out[n - 1] ^= 1;
    CHECK_EQ_INT(voucher_perso_open(key, out, n, plain, sizeof plain, &q), -1);
}
