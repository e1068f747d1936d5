/*
 * test_card_interop.c: jiaozi's hard-wallet cryptography checked by implementations that are
 * not jiaozi's: the certificate chain by the `openssl` command line, and voucher signatures by
 * sm-crypto from the npm registry (tests/interop, installed by `make test-deps`), which shares
 * no code with OpenSSL.
 *
 * The chain is checked link by link: `openssl verify -vfyopt distid:...` applies the signer id
 * only to the certificate it is given, not to an -untrusted intermediate (openssl/openssl
 * #23471, open on 3.0-3.6), so API.md's one-line command fails on any SM2 chain with an
 * intermediate signed under that id. Root -> operator CA with the root as trust anchor, then
 * operator CA -> card with the operator CA as anchor (-partial_chain) checks every signature.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include "crypto_x509.h"
#include "jzcard.h"
#include "test.h"
#include "tsm.h"

#define NOW 1767225600000LL

static int sh(const char *cmd)
{
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int write_pem(const char *dir, const char *name, const crypto_cert *c)
{
    char path[700];
    char *pem = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    int rc = f && crypto_cert_pem(c, &pem, &len) == 0 && fwrite(pem, 1, len, f) == len ? 0 : -1;
    if (f) {
        fclose(f);
    }
    free(pem);
    return rc;
}

/* A root, the operator CA of "opa" and a card certificate, as the TSM makes them. */
static int make_chain(const char *dir, tsm **t, crypto_sm2_key **key, crypto_cert **card)
{
    char err[200];
    const crypto_cert *ca = NULL;
    struct crypto_card_ext ext = {.tier = 2, .per_payment = 1000, .offline_total = 5000,
                                  .offline_count = 5};
    jz_id id;
    if (tsm_open(dir, NOW, t, err, sizeof err) != 0 || crypto_sm2_generate(key) != 0 ||
        voucher_card_id(*key, &id) != 0) {
        return -1;
    }
    memcpy(ext.card_id, id.b, 16);
    ext.wallet_id[0] = 0x42;
    if (tsm_certify(*t, "opa", *key, &ext, NOW, NOW + 400LL * 24 * 3600 * 1000, card) != 0 ||
        tsm_operator_ca(*t, "opa", NOW, &ca) != 0) {
        return -1;
    }
    return write_pem(dir, "root.pem", tsm_root(*t)) | write_pem(dir, "operator.pem", ca) |
           write_pem(dir, "card.pem", *card);
}

TEST(card_chain_verifies_with_the_openssl_command_line)
{
    tsm *t = NULL;
    crypto_sm2_key *key = NULL;
    crypto_cert *card = NULL;
    const char *dir = test_tmpdir();
    char cmd[3000];
    REQUIRE_EQ_INT(make_chain(dir, &t, &key, &card), 0);
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl verify -vfyopt distid:1234567812345678 -CAfile root.pem "
             "operator.pem && openssl verify -vfyopt distid:1234567812345678 -partial_chain "
             "-CAfile operator.pem card.pem",
             dir);
    CHECK_EQ_INT(sh(cmd), 0);
    /* Under the empty id OpenSSL 3.0 uses by default, the same links must fail: the
     * signatures really are made under 1234567812345678. */
    snprintf(cmd, sizeof cmd, "cd %s && openssl verify -CAfile root.pem operator.pem "
             ">/dev/null 2>&1", dir);
    CHECK(sh(cmd) != 0);
    /* The card extension, as openssl prints it: the card id in the subject and the serial. */
    snprintf(cmd, sizeof cmd, "cd %s && openssl x509 -in card.pem -noout -text | grep -q "
             "'2.25.155543007667639432555952902284975757674.1.1'", dir);
    CHECK_EQ_INT(sh(cmd), 0);
    /* The operator CA key never leaves the data directory, mode 0600. */
    char path[700];
    struct stat st;
    snprintf(path, sizeof path, "%s/pki/op_opa.key", dir);
    REQUIRE_EQ_INT(stat(path, &st), 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0600);
    crypto_cert_free(card);
    crypto_sm2_free(key);
    tsm_close(t);
}

TEST(card_vouchers_verify_with_sm_crypto_from_npm)
{
    crypto_sm2_key *key = NULL;
    uint8_t spki[CRYPTO_SM2_SPKI_MAX];
    size_t spki_len = 0;
    char pub[131], path[700], cmd[1600], line[8];
    REQUIRE_EQ_INT(crypto_sm2_generate(&key), 0);
    REQUIRE_EQ_INT(crypto_sm2_spki(key, spki, sizeof spki, &spki_len), 0);
    REQUIRE_EQ_INT(spki_len, 91);
    jz_hex_encode(spki + spki_len - 65, 65, pub); /* the point, 04 || x || y */
    snprintf(path, sizeof path, "%s/vouchers.txt", test_tmpdir());
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    /* Eight genuine vouchers, then the last one with a flipped byte. */
    uint8_t body[VOUCHER_BODY_BYTES], sig[CRYPTO_SM2_SIG_MAX];
    char bh[2 * VOUCHER_BODY_BYTES + 1], sh_[2 * CRYPTO_SM2_SIG_MAX + 1];
    for (int i = 0; i < 9; i++) {
        struct voucher v = {.counter = (uint32_t)i + 1, .amount = 100 * (i + 1), .time_ms = NOW};
        voucher_card_id(key, &v.payer);
        memset(v.payee.b, 0x77, 16);
        crypto_random(v.nonce, sizeof v.nonce);
        voucher_encode(&v, body);
        size_t sig_len = 0;
        REQUIRE_EQ_INT(crypto_sm2_sign(key, body, sizeof body, sig, &sig_len), 0);
        if (i == 8) {
            body[40] ^= 1;
        }
        jz_hex_encode(body, sizeof body, bh);
        jz_hex_encode(sig, sig_len, sh_);
        fprintf(f, "%s %s %s\n", pub, bh, sh_);
    }
    fclose(f);
    snprintf(cmd, sizeof cmd, "node tests/interop/verify.mjs %s", path);
    FILE *p = popen(cmd, "r");
    REQUIRE(p != NULL);
    int ok = 0, bad = 0, lines = 0;
    while (fgets(line, sizeof line, p)) {
        lines++;
        ok += strncmp(line, "ok", 2) == 0 && lines <= 8;
        bad += strncmp(line, "bad", 3) == 0 && lines == 9;
    }
    CHECK_EQ_INT(pclose(p), 0);
    CHECK_EQ_INT(lines, 9);
    CHECK_EQ_INT(ok, 8);
    CHECK_EQ_INT(bad, 1);
    crypto_sm2_free(key);
}

TEST(card_libjzcard_stands_without_the_server)
{
    /* build/<variant>/examples/jzcard_selftest, beside the jiaozi binary under test, is linked
     * with libjzcard.a and OpenSSL alone (Makefile). */
    const char *bin = getenv("JZ_BIN") ? getenv("JZ_BIN") : "build/jiaozi";
    char cmd[1600];
    const char *slash = strrchr(bin, '/');
    int dir_len = slash ? (int)(slash - bin) : 1;
    snprintf(cmd, sizeof cmd, "%.*s/examples/jzcard_selftest %s | grep -q '^card [0-9a-f]\\{32\\} blank'",
             dir_len, slash ? bin : ".", test_tmpdir());
    CHECK_EQ_INT(sh(cmd), 0);
    snprintf(cmd, sizeof cmd, "%.*s/examples/jzcard_selftest %s >/dev/null 2>&1", dir_len,
             slash ? bin : ".", test_tmpdir());
    CHECK(sh(cmd) != 0); /* a second card never replaces the first */
}
