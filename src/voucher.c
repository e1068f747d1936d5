/*
 * voucher.c: the byte formats of dual-offline payments (see voucher.h).
 *
 * Encoding and decoding go through a small cursor that refuses to read or write past its end;
 * a decoder succeeds only when the cursor ends exactly at the end of its input.
 */
#include "voucher.h"

#include "bytes.h"
#include "crypto_x509.h"
#include "limits.h"

static const char cmd_aad[] = "jiaozi card command";
static const char perso_aad[] = "jiaozi card personalisation";

static void get_version(struct cur *c)
{
    c->bad |= get_int(c, 1) != VOUCHER_VERSION;
}

static bool amount_ok(int64_t a)
{
    return a >= 1 && a <= JZ_AMOUNT_MAX;
}

/* ---- voucher bodies ---- */

void voucher_encode(const struct voucher *v, uint8_t out[VOUCHER_BODY_BYTES])
{
    static const uint8_t reserved[20];
    struct cur c = {.w = out, .len = VOUCHER_BODY_BYTES};
    put_int(&c, VOUCHER_VERSION, 1);
    put(&c, v->payer.b, 16);
    put_int(&c, v->counter, 4);
    put(&c, v->payee.b, 16);
    put_int(&c, (uint64_t)v->amount, 8);
    put(&c, v->nonce, 16);
    put_int(&c, (uint64_t)v->time_ms, 8);
    put(&c, v->prev, 32);
    put(&c, reserved, sizeof reserved);
    ASSERT(cur_ended(&c));
}

int voucher_decode(const uint8_t *in, size_t len, struct voucher *out)
{
    struct voucher v = {0};
    struct cur c = {.r = in, .len = len};
    get_version(&c);
    get_bytes(&c, v.payer.b, 16);
    v.counter = (uint32_t)get_int(&c, 4);
    get_bytes(&c, v.payee.b, 16);
    v.amount = (int64_t)get_int(&c, 8);
    get_bytes(&c, v.nonce, 16);
    v.time_ms = (int64_t)get_int(&c, 8);
    get_bytes(&c, v.prev, 32);
    get_zero(&c, 20);
    if (!cur_ended(&c) || v.counter < 1 || !amount_ok(v.amount) || v.time_ms < 0 ||
        jz_id_is_zero(&v.payer) || jz_id_is_zero(&v.payee)) {
        return -1;
    }
    *out = v;
    return 0;
}

int voucher_hash(const uint8_t body[VOUCHER_BODY_BYTES], uint8_t out[CRYPTO_SM3_BYTES])
{
    return crypto_sm3(body, VOUCHER_BODY_BYTES, out);
}

void voucher_transfer_id(const jz_id *payer, uint32_t counter, jz_id *out)
{
    static const char tag[] = "jiaozi offline voucher";
    uint8_t in[sizeof tag - 1 + 16 + 4];
    uint8_t h[CRYPTO_SM3_BYTES];
    struct cur c = {.w = in, .len = sizeof in};
    put(&c, tag, sizeof tag - 1);
    put(&c, payer->b, 16);
    put_int(&c, counter, 4);
    ASSERT(cur_ended(&c));
    ASSERT(crypto_sm3(in, sizeof in, h) == 0);
    memcpy(out->b, h, 16);
}

int voucher_card_id(const crypto_sm2_key *key, jz_id *out)
{
    static const char tag[] = "jiaozi card id";
    uint8_t in[sizeof tag - 1 + CRYPTO_SM2_SPKI_MAX];
    uint8_t h[CRYPTO_SM3_BYTES];
    size_t n = 0;
    memcpy(in, tag, sizeof tag - 1);
    if (crypto_sm2_spki(key, in + sizeof tag - 1, CRYPTO_SM2_SPKI_MAX, &n) != 0 ||
        crypto_sm3(in, sizeof tag - 1 + n, h) != 0) {
        return -1;
    }
    memcpy(out->b, h, 16);
    return 0;
}

int voucher_verify(const crypto_sm2_key *key, const uint8_t body[VOUCHER_BODY_BYTES],
                   const uint8_t *sig, size_t sig_len)
{
    if (crypto_sm2_sig_canonical(sig, sig_len) != 0) {
        return -1;
    }
    return crypto_sm2_verify(key, body, VOUCHER_BODY_BYTES, sig, sig_len);
}

/* ---- challenges ---- */

void voucher_challenge_encode(const struct voucher_challenge *ch,
                              uint8_t out[VOUCHER_CHALLENGE_BYTES])
{
    struct cur c = {.w = out, .len = VOUCHER_CHALLENGE_BYTES};
    put_int(&c, VOUCHER_VERSION, 1);
    put(&c, ch->payee.b, 16);
    put_int(&c, (uint64_t)ch->amount, 8);
    put(&c, ch->nonce, 16);
    put_int(&c, (uint64_t)ch->time_ms, 8);
    ASSERT(cur_ended(&c));
}

int voucher_challenge_decode(const uint8_t *in, size_t len, struct voucher_challenge *out)
{
    struct voucher_challenge ch = {0};
    struct cur c = {.r = in, .len = len};
    get_version(&c);
    get_bytes(&c, ch.payee.b, 16);
    ch.amount = (int64_t)get_int(&c, 8);
    get_bytes(&c, ch.nonce, 16);
    ch.time_ms = (int64_t)get_int(&c, 8);
    if (!cur_ended(&c) || !amount_ok(ch.amount) || ch.time_ms < 0 || jz_id_is_zero(&ch.payee)) {
        return -1;
    }
    *out = ch;
    return 0;
}

/* ---- payments ---- */

size_t voucher_payment_encode(const struct voucher_payment *p, uint8_t *out, size_t cap)
{
    struct cur c = {.w = out, .len = cap};
    if (p->sig_len == 0 || p->sig_len > CRYPTO_SM2_SIG_MAX) {
        return 0;
    }
    put_int(&c, VOUCHER_VERSION, 1);
    put(&c, p->body, VOUCHER_BODY_BYTES);
    put_int(&c, p->sig_len, 1);
    put(&c, p->sig, p->sig_len);
    put_part(&c, p->cert, p->cert_len, VOUCHER_CERT_MAX);
    put_part(&c, p->ca, p->ca_len, VOUCHER_CERT_MAX);
    return c.bad ? 0 : c.pos;
}

int voucher_payment_decode(const uint8_t *in, size_t len, struct voucher_payment *out)
{
    struct voucher_payment p = {0};
    struct cur c = {.r = in, .len = len};
    get_version(&c);
    p.body = get(&c, VOUCHER_BODY_BYTES);
    p.sig_len = (size_t)get_int(&c, 1);
    c.bad |= p.sig_len == 0 || p.sig_len > CRYPTO_SM2_SIG_MAX;
    p.sig = get(&c, p.sig_len);
    p.cert = get_part(&c, VOUCHER_CERT_MAX, &p.cert_len);
    p.ca = get_part(&c, VOUCHER_CERT_MAX, &p.ca_len);
    if (!cur_ended(&c)) {
        return -1;
    }
    *out = p;
    return 0;
}

/* ---- card commands ---- */

void voucher_command_body_encode(const struct voucher_command *cmd,
                                 uint8_t out[VOUCHER_COMMAND_BODY_BYTES])
{
    static const uint8_t zero[8];
    struct cur c = {.w = out, .len = VOUCHER_COMMAND_BODY_BYTES};
    put_int(&c, VOUCHER_VERSION, 1);
    put_int(&c, cmd->type, 1);
    put(&c, zero, 2);
    put(&c, cmd->card.b, 16);
    put_int(&c, cmd->counter, 4);
    put_int(&c, (uint64_t)cmd->amount, 8);
    put_int(&c, (uint64_t)cmd->issued_at_ms, 8);
    put(&c, cmd->transfer.b, 16);
    put(&c, zero, 8);
    ASSERT(cur_ended(&c));
}

int voucher_command_body_decode(const uint8_t *in, size_t len, struct voucher_command *out)
{
    struct voucher_command cmd = {0};
    struct cur c = {.r = in, .len = len};
    get_version(&c);
    cmd.type = (uint8_t)get_int(&c, 1);
    get_zero(&c, 2);
    get_bytes(&c, cmd.card.b, 16);
    cmd.counter = (uint32_t)get_int(&c, 4);
    cmd.amount = (int64_t)get_int(&c, 8);
    cmd.issued_at_ms = (int64_t)get_int(&c, 8);
    get_bytes(&c, cmd.transfer.b, 16);
    get_zero(&c, 8);
    bool type_ok = cmd.type == VOUCHER_CMD_LOAD || cmd.type == VOUCHER_CMD_UNLOAD ||
                   cmd.type == VOUCHER_CMD_CLOSE;
    bool amount_in_range = cmd.type == VOUCHER_CMD_CLOSE
                               ? cmd.amount >= 0 && cmd.amount <= JZ_AMOUNT_MAX
                               : amount_ok(cmd.amount);
    if (!cur_ended(&c) || !type_ok || !amount_in_range || cmd.counter < 1 ||
        cmd.issued_at_ms < 0 || jz_id_is_zero(&cmd.card)) {
        return -1;
    }
    *out = cmd;
    return 0;
}

/* The associated data that binds a sealed message to its purpose and card. */
static size_t aad_of(const char *tag, const jz_id *card, uint8_t out[64])
{
    size_t n = strlen(tag);
    ASSERT(n + 16 <= 64);
    memcpy(out, tag, n);
    memcpy(out + n, card->b, 16);
    return n + 16;
}

size_t voucher_command_wrap(const uint8_t key[VOUCHER_CARD_KEY_BYTES], const jz_id *card,
                            const uint8_t body[VOUCHER_COMMAND_BODY_BYTES], const uint8_t *sig,
                            size_t sig_len, uint8_t *out, size_t cap)
{
    uint8_t plain[VOUCHER_COMMAND_BODY_BYTES + 1 + CRYPTO_SM2_SIG_MAX];
    uint8_t aad[64];
    size_t plain_len = VOUCHER_COMMAND_BODY_BYTES + 1 + sig_len;
    if (sig_len == 0 || sig_len > CRYPTO_SM2_SIG_MAX ||
        cap < 16 + plain_len + CRYPTO_SEAL_OVERHEAD) {
        return 0;
    }
    memcpy(plain, body, VOUCHER_COMMAND_BODY_BYTES);
    plain[VOUCHER_COMMAND_BODY_BYTES] = (uint8_t)sig_len;
    memcpy(plain + VOUCHER_COMMAND_BODY_BYTES + 1, sig, sig_len);
    memcpy(out, card->b, 16);
    size_t aad_len = aad_of(cmd_aad, card, aad);
    if (crypto_seal(key, aad, aad_len, plain, plain_len, out + 16) != 0) {
        return 0;
    }
    return 16 + plain_len + CRYPTO_SEAL_OVERHEAD;
}

int voucher_command_unwrap(const uint8_t key[VOUCHER_CARD_KEY_BYTES], const jz_id *card,
                           const uint8_t *in, size_t len, struct voucher_command *out,
                           uint8_t body[VOUCHER_COMMAND_BODY_BYTES],
                           uint8_t sig[CRYPTO_SM2_SIG_MAX], size_t *sig_len)
{
    uint8_t plain[VOUCHER_COMMAND_BODY_BYTES + 1 + CRYPTO_SM2_SIG_MAX];
    uint8_t aad[64];
    struct voucher_command cmd = {0};
    if (len < 16 + CRYPTO_SEAL_OVERHEAD + VOUCHER_COMMAND_BODY_BYTES + 2 ||
        len > VOUCHER_COMMAND_MAX || memcmp(in, card->b, 16) != 0) {
        return -1;
    }
    size_t plain_len = len - 16 - CRYPTO_SEAL_OVERHEAD;
    size_t aad_len = aad_of(cmd_aad, card, aad);
    if (crypto_unseal(key, aad, aad_len, in + 16, len - 16, plain) != 0) {
        return -1;
    }
    size_t n = plain[VOUCHER_COMMAND_BODY_BYTES];
    if (n == 0 || VOUCHER_COMMAND_BODY_BYTES + 1 + n != plain_len ||
        voucher_command_body_decode(plain, VOUCHER_COMMAND_BODY_BYTES, &cmd) != 0 ||
        !jz_id_eq(&cmd.card, card)) {
        return -1;
    }
    *out = cmd;
    memcpy(body, plain, VOUCHER_COMMAND_BODY_BYTES);
    memcpy(sig, plain + VOUCHER_COMMAND_BODY_BYTES + 1, n);
    *sig_len = n;
    return 0;
}

/* ---- personalisation ---- */

size_t voucher_perso_wrap(const uint8_t key[VOUCHER_CARD_KEY_BYTES], const jz_id *card,
                          const struct voucher_perso *p, uint8_t *out, size_t cap)
{
    uint8_t plain[3 * (2 + VOUCHER_CERT_MAX)];
    uint8_t aad[64];
    struct cur pc = {.w = plain, .len = sizeof plain};
    put_part(&pc, p->cert, p->cert_len, VOUCHER_CERT_MAX);
    put_part(&pc, p->ca, p->ca_len, VOUCHER_CERT_MAX);
    put_part(&pc, p->root, p->root_len, VOUCHER_CERT_MAX);
    struct cur c = {.w = out, .len = cap};
    put(&c, card->b, 16);
    put_part(&c, p->enc_key, p->enc_key_len, VOUCHER_PERSO_KEY_MAX);
    size_t at = c.pos;
    if (pc.bad || c.bad || !room(&c, pc.pos + CRYPTO_SEAL_OVERHEAD)) {
        return 0;
    }
    size_t aad_len = aad_of(perso_aad, card, aad);
    if (crypto_seal(key, aad, aad_len, plain, pc.pos, out + at) != 0) {
        return 0;
    }
    return at + pc.pos + CRYPTO_SEAL_OVERHEAD;
}

int voucher_perso_header(const uint8_t *in, size_t len, jz_id *card, const uint8_t **enc_key,
                         size_t *enc_key_len)
{
    struct cur c = {.r = in, .len = len};
    jz_id id = {{0}};
    size_t n = 0;
    get_bytes(&c, id.b, 16);
    const uint8_t *k = get_part(&c, VOUCHER_PERSO_KEY_MAX, &n);
    if (c.bad || len - c.pos <= CRYPTO_SEAL_OVERHEAD || len > VOUCHER_PERSO_MAX) {
        return -1;
    }
    *card = id;
    *enc_key = k;
    *enc_key_len = n;
    return 0;
}

int voucher_perso_open(const uint8_t key[VOUCHER_CARD_KEY_BYTES], const uint8_t *in, size_t len,
                       uint8_t *plain, size_t cap, struct voucher_perso *out)
{
    jz_id card;
    const uint8_t *k = NULL;
    size_t k_len = 0;
    uint8_t aad[64];
    if (voucher_perso_header(in, len, &card, &k, &k_len) != 0) {
        return -1;
    }
    size_t at = 16 + 2 + k_len;
    size_t plain_len = len - at - CRYPTO_SEAL_OVERHEAD;
    size_t aad_len = aad_of(perso_aad, &card, aad);
    if (plain_len > cap || crypto_unseal(key, aad, aad_len, in + at, len - at, plain) != 0) {
        return -1;
    }
    struct voucher_perso p = {.enc_key = k, .enc_key_len = k_len};
    struct cur c = {.r = plain, .len = plain_len};
    p.cert = get_part(&c, VOUCHER_CERT_MAX, &p.cert_len);
    p.ca = get_part(&c, VOUCHER_CERT_MAX, &p.ca_len);
    p.root = get_part(&c, VOUCHER_CERT_MAX, &p.root_len);
    if (!cur_ended(&c)) {
        return -1;
    }
    *out = p;
    return 0;
}
