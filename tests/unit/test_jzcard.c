/*
 * test_jzcard.c: the secure-element emulator (jzcard.h) against the TSM's real keys (tsm.h):
 * issue, load, pay, accept, and every rule the card must refuse to break, with its file
 * surviving kills mid-write.
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto_x509.h"
#include "jzcard.h"
#include "test.h"
#include "tsm.h"

#define NOW 1767225600000LL /* 2026-01-01 */
#define DAY_MS (24LL * 3600 * 1000)

struct env {
    tsm *t;
    char dir[512];
};

static int env_open(struct env *e, const char *sub)
{
    char err[200];
    snprintf(e->dir, sizeof e->dir, "%s/%s", test_tmpdir(), sub);
    mkdir(e->dir, 0700);
    return tsm_open(e->dir, NOW, &e->t, err, sizeof err);
}

static int issue(struct env *e, const char *name, jzcard **out)
{
    char path[700];
    char *pem = NULL;
    size_t pem_len = 0, n = 0;
    crypto_sm2_key *pub = NULL;
    crypto_cert *cert = NULL;
    static uint8_t perso[VOUCHER_PERSO_MAX];
    snprintf(path, sizeof path, "%s/%s.card", e->dir, name);
    if (jzcard_create(path, out) != JZCARD_OK || jzcard_public_pem(*out, &pem, &pem_len) != 0 ||
        crypto_sm2_load_public_pem(pem, pem_len, &pub) != 0) {
        return -1;
    }
    struct crypto_card_ext ext = {.tier = 2, .per_payment = 10000, .offline_total = 30000,
                                  .offline_count = 5};
    jz_id id;
    voucher_card_id(pub, &id);
    memcpy(ext.card_id, id.b, 16);
    crypto_random(ext.wallet_id, 16);
    int rc = tsm_certify(e->t, "opa", pub, &ext, NOW, NOW + 30 * DAY_MS, &cert) == 0 &&
                     tsm_personalisation(e->t, "opa", cert, perso, sizeof perso, &n) == 0 &&
                     jzcard_personalise(*out, perso, n, NOW) == JZCARD_OK
                 ? 0 : -1;
    free(pem);
    crypto_sm2_free(pub);
    crypto_cert_free(cert);
    return rc;
}

static int command(struct env *e, jzcard *c, uint8_t type, uint32_t counter, int64_t amount)
{
    struct jzcard_info info;
    jzcard_get_info(c, &info);
    struct voucher_command cmd = {.type = type, .card = info.card, .counter = counter,
                                  .amount = amount, .issued_at_ms = NOW};
    uint8_t out[VOUCHER_COMMAND_MAX];
    size_t n = 0;
    if (tsm_command(e->t, "opa", &cmd, out, sizeof out, &n) != 0) {
        return -100;
    }
    return jzcard_apply_command(c, out, n, NULL);
}

/* payee asks, payer pays, payee accepts: the accept's code (or the pay's when it failed). */
static int pay(jzcard *payer, jzcard *payee, int64_t amount, int64_t now)
{
    uint8_t ch[VOUCHER_CHALLENGE_BYTES];
    static uint8_t msg[VOUCHER_PAYMENT_MAX];
    size_t n = 0;
    int rc = jzcard_request(payee, amount, now, ch);
    if (rc != JZCARD_OK) {
        return rc;
    }
    rc = jzcard_pay(payer, ch, sizeof ch, now, msg, sizeof msg, &n);
    return rc != JZCARD_OK ? rc : jzcard_accept(payee, msg, n, now, NULL);
}

static int64_t balance(jzcard *c)
{
    struct jzcard_info i;
    jzcard_get_info(c, &i);
    return i.balance;
}

TEST(jzcard_issue_load_pay_accept)
{
    struct env e;
    jzcard *a = NULL, *b = NULL;
    REQUIRE_EQ_INT(env_open(&e, "pki"), 0);
    REQUIRE_EQ_INT(issue(&e, "alice", &a), 0);
    REQUIRE_EQ_INT(issue(&e, "bob", &b), 0);
    CHECK_EQ_INT(command(&e, a, VOUCHER_CMD_LOAD, 1, 20000), JZCARD_OK);
    CHECK_EQ_INT(balance(a), 20000);
    /* The same command again, and one that skips a number. */
    CHECK_EQ_INT(command(&e, a, VOUCHER_CMD_LOAD, 1, 20000), JZCARD_E_REPLAY);
    CHECK_EQ_INT(command(&e, a, VOUCHER_CMD_LOAD, 3, 20000), JZCARD_E_SEQUENCE);
    CHECK_EQ_INT(balance(a), 20000);
    CHECK_EQ_INT(pay(a, b, 1500, NOW + 1000), JZCARD_OK);
    CHECK_EQ_INT(balance(a), 18500);
    CHECK_EQ_INT(balance(b), 0); /* received value waits for settlement */
    CHECK_EQ_INT(pay(b, a, 1, NOW), JZCARD_E_BALANCE);
    /* Limits: per payment, then balance, count and total since the last sync. */
    CHECK_EQ_INT(pay(a, b, 10001, NOW), JZCARD_E_PER_PAYMENT);
    CHECK_EQ_INT(command(&e, a, VOUCHER_CMD_UNLOAD, 2, 10000), JZCARD_OK);
    CHECK_EQ_INT(pay(a, b, 9000, NOW), JZCARD_E_BALANCE);
    CHECK_EQ_INT(command(&e, a, VOUCHER_CMD_LOAD, 3, 50000), JZCARD_OK);
    CHECK_EQ_INT(pay(a, b, 10000, NOW), JZCARD_OK);
    CHECK_EQ_INT(pay(a, b, 10000, NOW), JZCARD_OK);
    CHECK_EQ_INT(pay(a, b, 8501, NOW), JZCARD_E_OFFLINE_TOTAL);
    CHECK_EQ_INT(pay(a, b, 1, NOW), JZCARD_OK);
    CHECK_EQ_INT(pay(a, b, 1, NOW), JZCARD_OK);
    CHECK_EQ_INT(pay(a, b, 1, NOW), JZCARD_E_OFFLINE_COUNT);
    struct jzcard_info ia, ib;
    jzcard_get_info(a, &ia);
    jzcard_get_info(b, &ib);
    CHECK_EQ_INT(ia.counter, 5);
    CHECK_EQ_INT(ia.sent, 5);
    CHECK_EQ_INT(ib.received, 5);
    CHECK_EQ_INT(ia.balance, 8500 + 50000 - 20002);
    /* A sync resets the offline counters and drops what was settled. */
    bool done[5] = {true, true, true, true, true};
    CHECK_EQ_INT(jzcard_sync_done(a, done, 5, NULL, 0), JZCARD_OK);
    CHECK_EQ_INT(pay(a, b, 1, NOW), JZCARD_OK);
    /* Expired: after the certificate's notAfter the card neither pays nor asks. */
    CHECK_EQ_INT(pay(a, b, 1, NOW + 31 * DAY_MS), JZCARD_E_EXPIRED);
    /* The state survives a reopen. */
    char path[700];
    snprintf(path, sizeof path, "%s/alice.card", e.dir);
    jzcard_close(a);
    REQUIRE_EQ_INT(jzcard_open(path, &a), JZCARD_OK);
    jzcard_get_info(a, &ia);
    CHECK_EQ_INT(ia.counter, 6);
    CHECK_EQ_INT(ia.sent, 1);
    CHECK_EQ_INT(ia.load_counter, 3);
    /* Close: the card empties and stops. */
    CHECK_EQ_INT(command(&e, a, VOUCHER_CMD_CLOSE, 4, ia.balance), JZCARD_OK);
    CHECK_EQ_INT(balance(a), 0);
    CHECK_EQ_INT(pay(a, b, 1, NOW), JZCARD_E_STATE);
    jzcard_close(a);
    jzcard_close(b);
    tsm_close(e.t);
}

TEST(jzcard_refuses_forged_replayed_and_foreign_payments)
{
    struct env e, other;
    jzcard *a = NULL, *b = NULL, *m = NULL, *x = NULL;
    REQUIRE_EQ_INT(env_open(&e, "pki"), 0);
    REQUIRE_EQ_INT(env_open(&other, "other"), 0);
    REQUIRE_EQ_INT(issue(&e, "alice", &a), 0);
    REQUIRE_EQ_INT(issue(&e, "bob", &b), 0);
    REQUIRE_EQ_INT(issue(&e, "mallory", &m), 0);
    REQUIRE_EQ_INT(issue(&other, "xavier", &x), 0); /* another platform's root */
    CHECK_EQ_INT(command(&e, a, VOUCHER_CMD_LOAD, 1, 20000), JZCARD_OK);
    CHECK_EQ_INT(command(&e, m, VOUCHER_CMD_LOAD, 1, 20000), JZCARD_OK);
    CHECK_EQ_INT(command(&other, x, VOUCHER_CMD_LOAD, 1, 20000), JZCARD_OK);
    /* A command for alice does not apply to mallory. */
    CHECK_EQ_INT(command(&other, a, VOUCHER_CMD_LOAD, 2, 1), JZCARD_E_INPUT);
    uint8_t ch[VOUCHER_CHALLENGE_BYTES];
    static uint8_t msg[VOUCHER_PAYMENT_MAX], msg2[VOUCHER_PAYMENT_MAX];
    size_t n = 0, n2 = 0;
    REQUIRE_EQ_INT(jzcard_request(b, 700, NOW, ch), JZCARD_OK);
    REQUIRE_EQ_INT(jzcard_pay(a, ch, sizeof ch, NOW, msg, sizeof msg, &n), JZCARD_OK);
    /* One flipped byte in the body (the amount's last byte). */
    msg[1 + 44] ^= 1;
    CHECK_EQ_INT(jzcard_accept(b, msg, n, NOW, NULL), JZCARD_E_CHALLENGE);
    msg[1 + 44] ^= 1;
    msg[1 + 50] ^= 1; /* inside the nonce: no longer the challenge */
    CHECK_EQ_INT(jzcard_accept(b, msg, n, NOW, NULL), JZCARD_E_CHALLENGE);
    msg[1 + 50] ^= 1;
    msg[1 + 65] ^= 1; /* the payer's time: a signature failure */
    CHECK_EQ_INT(jzcard_accept(b, msg, n, NOW, NULL), JZCARD_E_SIGNATURE);
    msg[1 + 65] ^= 1;
    /* Mallory signs alice's voucher body with her own key under alice's certificate. */
    REQUIRE_EQ_INT(jzcard_request(b, 700, NOW, ch), JZCARD_OK);
    REQUIRE_EQ_INT(jzcard_pay(m, ch, sizeof ch, NOW, msg2, sizeof msg2, &n2), JZCARD_OK);
    struct voucher_payment pa, pm;
    REQUIRE_EQ_INT(voucher_payment_decode(msg, n, &pa), 0);
    REQUIRE_EQ_INT(voucher_payment_decode(msg2, n2, &pm), 0);
    struct voucher_payment forged = pa;
    forged.sig = pm.sig;
    forged.sig_len = pm.sig_len;
    static uint8_t fmsg[VOUCHER_PAYMENT_MAX];
    size_t fn = voucher_payment_encode(&forged, fmsg, sizeof fmsg);
    CHECK_EQ_INT(jzcard_accept(b, fmsg, fn, NOW, NULL), JZCARD_E_SIGNATURE);
    /* The genuine payment is accepted once; the same payment again is not. */
    CHECK_EQ_INT(jzcard_accept(b, msg, n, NOW, NULL), JZCARD_OK);
    CHECK_EQ_INT(jzcard_accept(b, msg, n, NOW, NULL), JZCARD_E_CHALLENGE);
    /* A card of another platform (unknown CA). */
    CHECK_EQ_INT(pay(x, b, 100, NOW), JZCARD_E_CERT);
    /* A revoked payer, once the payee has synced the list. */
    struct jzcard_info im;
    jzcard_get_info(m, &im);
    bool done[1] = {false};
    CHECK_EQ_INT(jzcard_sync_done(b, done, jzcard_upload_count(b), &im.card, 1), JZCARD_OK);
    CHECK_EQ_INT(pay(m, b, 100, NOW), JZCARD_E_REVOKED);
    CHECK_EQ_INT(pay(a, b, 100, NOW), JZCARD_OK);
    jzcard_close(a);
    jzcard_close(b);
    jzcard_close(m);
    jzcard_close(x);
    tsm_close(e.t);
    tsm_close(other.t);
}

static int copy_file(const char *from, const char *to)
{
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    return system(cmd);
}

TEST(jzcard_cloned_file_reuses_counters_and_tampered_file_is_refused)
{
    struct env e;
    jzcard *a = NULL, *b = NULL, *c = NULL, *clone = NULL;
    REQUIRE_EQ_INT(env_open(&e, "pki"), 0);
    REQUIRE_EQ_INT(issue(&e, "alice", &a), 0);
    REQUIRE_EQ_INT(issue(&e, "bob", &b), 0);
    REQUIRE_EQ_INT(issue(&e, "carol", &c), 0);
    CHECK_EQ_INT(command(&e, a, VOUCHER_CMD_LOAD, 1, 20000), JZCARD_OK);
    char pa[700], pc[700], ka[800], kc[800];
    snprintf(pa, sizeof pa, "%s/alice.card", e.dir);
    snprintf(pc, sizeof pc, "%s/clone.card", e.dir);
    snprintf(ka, sizeof ka, "%s.key", pa);
    snprintf(kc, sizeof kc, "%s.key", pc);
    REQUIRE_EQ_INT(copy_file(pa, pc), 0);
    REQUIRE_EQ_INT(copy_file(ka, kc), 0);
    REQUIRE_EQ_INT(jzcard_open(pc, &clone), JZCARD_OK);
    /* Offline, both copies pay: each payee accepts, and both vouchers carry counter 1. The
     * server's settlement catches it (test_card.c). */
    CHECK_EQ_INT(pay(a, b, 5000, NOW), JZCARD_OK);
    CHECK_EQ_INT(pay(clone, c, 6000, NOW), JZCARD_OK);
    struct jzcard_upload ub, uc;
    REQUIRE_EQ_INT(jzcard_upload_at(b, 0, &ub), JZCARD_OK);
    REQUIRE_EQ_INT(jzcard_upload_at(c, 0, &uc), JZCARD_OK);
    struct voucher vb, vc;
    REQUIRE_EQ_INT(voucher_decode(ub.body, VOUCHER_BODY_BYTES, &vb), 0);
    REQUIRE_EQ_INT(voucher_decode(uc.body, VOUCHER_BODY_BYTES, &vc), 0);
    CHECK_EQ_INT(vb.counter, 1);
    CHECK_EQ_INT(vc.counter, 1);
    CHECK(jz_id_eq(&vb.payer, &vc.payer));
    jzcard_close(clone);
    /* A changed byte of the sealed file, a wrong device key, a truncated file. */
    FILE *f = fopen(pc, "r+b");
    REQUIRE(f != NULL);
    fseek(f, 40, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, 40, SEEK_SET);
    fputc(ch ^ 1, f);
    fclose(f);
    CHECK_EQ_INT(jzcard_open(pc, &clone), JZCARD_E_CORRUPT);
    REQUIRE_EQ_INT(copy_file(pa, pc), 0);
    REQUIRE_EQ_INT(copy_file(ka, kc), 0);
    CHECK_EQ_INT(jzcard_open(pc, &clone), JZCARD_OK);
    jzcard_close(clone);
    char kb[700];
    snprintf(kb, sizeof kb, "%s/bob.card.key", e.dir);
    REQUIRE_EQ_INT(copy_file(kb, kc), 0);
    CHECK_EQ_INT(jzcard_open(pc, &clone), JZCARD_E_CORRUPT);
    CHECK_EQ_INT(truncate(pa, 100), 0);
    CHECK_EQ_INT(jzcard_open(pa, &clone), JZCARD_E_CORRUPT);
    /* A new card never replaces an existing file. */
    CHECK_EQ_INT(jzcard_create(pc, &clone), JZCARD_E_EXISTS);
    jzcard_close(a);
    jzcard_close(b);
    jzcard_close(c);
    tsm_close(e.t);
}

TEST(jzcard_kill_mid_write_leaves_old_or_new_state)
{
    struct env e;
    jzcard *a = NULL;
    REQUIRE_EQ_INT(env_open(&e, "pki"), 0);
    REQUIRE_EQ_INT(issue(&e, "alice", &a), 0);
    char path[700];
    snprintf(path, sizeof path, "%s/alice.card", e.dir);
    jzcard_close(a);
    long kills = test_opt_long("card-kills", 12);
    uint64_t seed = test_seed();
    uint32_t last_counter = 0;
    for (long k = 0; k < kills; k++) {
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            /* Child: loads and unloads forever; each command is one atomic state write. */
            jzcard *c = NULL;
            if (jzcard_open(path, &c) != JZCARD_OK) {
                _exit(3);
            }
            for (;;) {
                struct jzcard_info i;
                jzcard_get_info(c, &i);
                uint8_t t = i.load_counter % 2 == 0 ? VOUCHER_CMD_LOAD : VOUCHER_CMD_UNLOAD;
                if (command(&e, c, t, i.load_counter + 1, 100) != JZCARD_OK) {
                    _exit(4);
                }
            }
        }
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        struct timespec d = {0, (long)((seed >> 33) % 40) * 1000000L + 2000000L};
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status));
        REQUIRE_EQ_INT(jzcard_open(path, &a), JZCARD_OK);
        struct jzcard_info i;
        jzcard_get_info(a, &i);
        /* Never a mix: the balance is what the applied commands say. */
        CHECK_EQ_INT(i.balance, i.load_counter % 2 == 1 ? 100 : 0);
        CHECK(i.load_counter >= last_counter);
        last_counter = i.load_counter;
        jzcard_close(a);
    }
    CHECK(last_counter > 0); /* the children did get commands through */
    /* No temporary file left behind that a later open could mistake for the card. */
    CHECK_EQ_INT(jzcard_open(path, &a), JZCARD_OK);
    jzcard_close(a);
    tsm_close(e.t);
}
