/*
 * test_card.c: hard wallets end to end against a running `jiaozi serve`: the whole life of
 * two cards through the `jiaozi card` CLI (init, issue, load, offline payments both ways,
 * sync from either side first, unload, lock, reissue, close) with conservation checked after
 * every step, floats included; then the attacks of issue 4, each answered with its documented
 * result and no money moved.
 */
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto_x509.h"
#include "jzcard.h"
#include "test.h"
#include "tsm.h"
#include "world.h"

#define QUOTA 200000000LL /* world.c issues 100,000,000 fen to each of opa and opb */

struct t {
    struct world w;
    char opa[600], opb[600]; /* credential files for the CLI */
    char dir[512];
    char ids[32][33]; /* every wallet and float account: they hold all the quota */
    int nids;
    char out[65536];
};

static void creds_file(struct t *t, const struct srv_creds *c, char *path, size_t n)
{
    snprintf(path, n, "%s/%s.json", t->dir, c->institution);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"institution\":\"%s\",\"key_id\":\"%s\",\"secret\":\"%s\",\"url\":\"%s\"}\n",
            c->institution, c->key_id, c->secret, t->w.s.url);
    fclose(f);
}

/* Runs `jiaozi card ARGS` (stdin from in_file unless NULL); output in t->out. */
static int card(struct t *t, const char *creds, const char *in_file, const char *out_file,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int card(struct t *t, const char *creds, const char *in_file, const char *out_file,
                const char *fmt, ...)
{
    char args[1024], cmd[3000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    const char *bin = getenv("JZ_BIN") ? getenv("JZ_BIN") : "build/jiaozi";
    snprintf(cmd, sizeof cmd, "cd %s && JZ_CREDENTIALS=%s %s card %s %s%s %s%s 2>&1", t->dir,
             creds, bin, args, in_file ? "< " : "", in_file ? in_file : "",
             out_file ? "> " : "", out_file ? out_file : "");
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(t->out, 1, sizeof t->out - 1, p) : 0;
    t->out[n] = '\0';
    int status = p ? pclose(p) : -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static long long balance(struct t *t, const char *id)
{
    char path[80];
    struct srv_response r;
    snprintf(path, sizeof path, "/v1/wallets/%s", id);
    if (srv_call(&t->w.s, &t->w.s.central, "GET", path, NULL, &r) != 200) {
        srv_response_free(&r);
        return -1;
    }
    long long b = srv_json_int(r.body, "balance");
    srv_response_free(&r);
    return b;
}

static void track(struct t *t, const char *id)
{
    snprintf(t->ids[t->nids++], 33, "%s", id);
}

/* Conservation: the quota sits in the treasuries, wallets and float accounts, whole. */
static bool conserved(struct t *t)
{
    long long sum = balance(t, t->w.treasury) + balance(t, t->w.treasury2);
    for (int i = 0; i < t->nids; i++) {
        sum += balance(t, t->ids[i]);
    }
    if (sum != QUOTA) {
        fprintf(stderr, "  conservation: %lld != %lld\n", sum, QUOTA);
    }
    return sum == QUOTA;
}

static int card_json(struct t *t, const struct srv_creds *c, const char *card_id, char *out,
                     size_t n)
{
    char path[80];
    struct srv_response r;
    snprintf(path, sizeof path, "/v1/cards/%s", card_id);
    int st = srv_call(&t->w.s, c, "GET", path, NULL, &r);
    snprintf(out, n, "%s", r.body ? r.body : "");
    srv_response_free(&r);
    return st;
}

static long long float_of(struct t *t, const struct srv_creds *c, const char *card_id)
{
    char body[4096];
    return card_json(t, c, card_id, body, sizeof body) == 200 ? srv_json_int(body, "float") : -1;
}

/* The card id printed by `card show`/`card init` ("card <32 hex>"). */
static void card_id_of(const char *text, char id[33])
{
    const char *p = strstr(text, "card ");
    snprintf(id, 33, "%.32s", p ? p + 5 : "");
}

static long long card_balance(const char *text)
{
    const char *p = strstr(text, "balance ");
    return p ? atoll(p + 8) : -1;
}

static int funded_wallet(struct t *t, const struct srv_creds *c, const char *treasury,
                         long long amount, char id[33])
{
    char tid[33];
    if (open_wallet(&t->w, c, 1, id) != 201) {
        return -1;
    }
    srv_new_id(tid);
    track(t, id);
    return transfer(&t->w, c, tid, treasury, id, amount, "exchange_in", NULL) == 201 ? 0 : -1;
}

/* Offline: payee asks for amount, payer pays, payee accepts. 0 when accepted. */
static int pay(struct t *t, const char *payer, const char *payee, long long amount)
{
    if (card(t, t->opa, NULL, "challenge", "request --card %s --amount %lld", payee, amount) != 0 ||
        card(t, t->opa, "challenge", "payment", "pay --card %s", payer) != 0) {
        return -1;
    }
    return card(t, t->opa, "payment", NULL, "accept --card %s", payee);
}

static int issue_card(struct t *t, const char *creds, const char *file, const char *wallet,
                      char id[33], const char *extra)
{
    char fl[33];
    if (card(t, creds, NULL, NULL, "init --card %s", file) != 0) {
        return -1;
    }
    card_id_of(t->out, id);
    if (card(t, creds, NULL, NULL, "issue --card %s --wallet %s %s", file, wallet, extra) != 0) {
        return -1;
    }
    const char *p = strstr(t->out, "float wallet ");
    snprintf(fl, sizeof fl, "%.32s", p ? p + 13 : "");
    track(t, fl);
    return 0;
}

static int start(struct t *t)
{
    memset(t, 0, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "%s", test_tmpdir());
    setenv("JZ_CARD_SETTLEMENT_WINDOW_MS", "1500", 1);
    int rc = world_start(&t->w);
    unsetenv("JZ_CARD_SETTLEMENT_WINDOW_MS");
    if (rc != 0) {
        return -1;
    }
    creds_file(t, &t->w.op, t->opa, sizeof t->opa);
    creds_file(t, &t->w.op2, t->opb, sizeof t->opb);
    return 0;
}

TEST(card_lifecycle_end_to_end_through_the_cli)
{
    static struct t t;
    char alice_w[33], bob_w[33], alice[33], bob[33], bob2[33];
    REQUIRE_EQ_INT(start(&t), 0);
    REQUIRE_EQ_INT(funded_wallet(&t, &t.w.op, t.w.treasury, 100000, alice_w), 0);
    REQUIRE_EQ_INT(funded_wallet(&t, &t.w.op2, t.w.treasury2, 100000, bob_w), 0);
    REQUIRE_EQ_INT(issue_card(&t, t.opa, "alice.card", alice_w, alice, ""), 0);
    REQUIRE_EQ_INT(issue_card(&t, t.opb, "bob.card", bob_w, bob, ""), 0);
    CHECK(conserved(&t));
    /* Load: the wallet pays the float, the card gets the value once. */
    CHECK_EQ_INT(card(&t, t.opa, NULL, NULL, "load --card alice.card --amount 50000 --id %032x", 7), 0);
    CHECK_EQ_INT(card_balance(t.out), 50000);
    CHECK_EQ_INT(card(&t, t.opb, NULL, NULL, "load --card bob.card --amount 20000"), 0);
    CHECK_EQ_INT(balance(&t, alice_w), 50000);
    CHECK_EQ_INT(float_of(&t, &t.w.op, alice), 50000);
    CHECK(conserved(&t));
    /* The same load again: the node answers the same command; the card refuses it. */
    CHECK_EQ_INT(card(&t, t.opa, NULL, NULL, "load --card alice.card --amount 50000 --id %032x", 7), 1);
    CHECK(strstr(t.out, "applied or accepted already") != NULL);
    CHECK_EQ_INT(float_of(&t, &t.w.op, alice), 50000);
    /* Offline payments both ways, no server involved. */
    CHECK_EQ_INT(pay(&t, "alice.card", "bob.card", 3000), 0);
    CHECK_EQ_INT(pay(&t, "bob.card", "alice.card", 1000), 0);
    CHECK_EQ_INT(pay(&t, "alice.card", "bob.card", 200), 0);
    CHECK(conserved(&t));
    /* Sync from alice's side first: her two payments and bob's settle; then bob's sync finds
     * everything settled already. */
    CHECK_EQ_INT(card(&t, t.opa, NULL, NULL, "sync --card alice.card"), 0);
    CHECK(strstr(t.out, "voucher 1: settled") && strstr(t.out, "voucher 3: settled"));
    CHECK_EQ_INT(balance(&t, bob_w), 80000 + 3200);
    CHECK_EQ_INT(balance(&t, alice_w), 50000 + 1000);
    CHECK(conserved(&t));
    CHECK_EQ_INT(card(&t, t.opb, NULL, NULL, "sync --card bob.card"), 0);
    CHECK(strstr(t.out, "duplicate") != NULL && strstr(t.out, "settled") == NULL);
    CHECK_EQ_INT(balance(&t, bob_w), 83200);
    CHECK_EQ_INT(float_of(&t, &t.w.op, alice), 50000 - 3200);
    CHECK_EQ_INT(float_of(&t, &t.w.op2, bob), 19000);
    CHECK(conserved(&t));
    /* Sync from bob's side first this time. */
    CHECK_EQ_INT(pay(&t, "alice.card", "bob.card", 800), 0);
    CHECK_EQ_INT(card(&t, t.opb, NULL, NULL, "sync --card bob.card"), 0);
    CHECK(strstr(t.out, "voucher 1: settled") != NULL);
    CHECK_EQ_INT(card(&t, t.opa, NULL, NULL, "sync --card alice.card"), 0);
    CHECK(strstr(t.out, "voucher 1: duplicate") != NULL);
    CHECK_EQ_INT(float_of(&t, &t.w.op, alice), 46000);
    CHECK(conserved(&t));
    /* Unload: value back to the wallet; the card first, the node after. */
    CHECK_EQ_INT(card(&t, t.opa, NULL, NULL, "unload --card alice.card --amount 6000"), 0);
    CHECK_EQ_INT(card_balance(t.out), 40000);
    CHECK_EQ_INT(float_of(&t, &t.w.op, alice), 40000);
    CHECK_EQ_INT(card(&t, t.opa, NULL, NULL, "unload --card alice.card --amount 40001"), 1);
    CHECK(conserved(&t));
    /* Bob loses his card: lock, then the revocation list names it; a reissue waits for the
     * settlement window, then moves the unspent float to the new card. */
    CHECK_EQ_INT(card(&t, t.opb, NULL, NULL, "lock --card-id %s", bob), 0);
    struct srv_response r;
    CHECK_EQ_INT(srv_call(&t.w.s, &t.w.op, "GET", "/v1/cards/revoked", NULL, &r), 200);
    CHECK(r.body && strstr(r.body, bob) && strstr(r.body, "\"lost\""));
    srv_response_free(&r);
    CHECK_EQ_INT(card(&t, t.opb, NULL, NULL, "init --card bob2.card"), 0);
    card_id_of(t.out, bob2);
    CHECK_EQ_INT(card(&t, t.opb, NULL, NULL, "reissue --card bob2.card --old %s", bob), 1);
    CHECK(strstr(t.out, "settlement_window_open") != NULL);
    struct timespec pause = {1, 600000000L};
    nanosleep(&pause, NULL);
    CHECK_EQ_INT(card(&t, t.opb, NULL, NULL, "reissue --card bob2.card --old %s", bob), 0);
    CHECK_EQ_INT(card_balance(t.out), 19000);
    char fl[33];
    char body[4096];
    CHECK_EQ_INT(card_json(&t, &t.w.op2, bob2, body, sizeof body), 200);
    srv_json_str(body, "float_wallet", fl, sizeof fl);
    track(&t, fl);
    CHECK_EQ_INT(float_of(&t, &t.w.op2, bob2), 19000);
    CHECK_EQ_INT(float_of(&t, &t.w.op2, bob), 0);
    CHECK(conserved(&t));
    /* The new card pays; the lost one's later vouchers would be refused (revoked). */
    CHECK_EQ_INT(pay(&t, "bob2.card", "alice.card", 500), 0);
    CHECK_EQ_INT(card(&t, t.opa, NULL, NULL, "sync --card alice.card"), 0);
    CHECK(strstr(t.out, "voucher 1: settled") != NULL);
    CHECK(conserved(&t));
    /* Close: what is left on the float goes back to the wallet and the card stops. */
    long long before = balance(&t, bob_w);
    CHECK_EQ_INT(card(&t, t.opb, NULL, NULL, "close --card bob2.card"), 0);
    CHECK(strstr(t.out, "18500 fen returned") != NULL);
    CHECK_EQ_INT(balance(&t, bob_w), before + 18500);
    CHECK_EQ_INT(float_of(&t, &t.w.op2, bob2), 0);
    CHECK_EQ_INT(card(&t, t.opb, NULL, NULL, "request --card bob2.card --amount 1"), 1);
    CHECK_EQ_INT(card_json(&t, &t.w.op2, bob2, body, sizeof body), 200);
    CHECK(strstr(body, "\"status\":\"closed\"") != NULL);
    CHECK(conserved(&t));
    CHECK_EQ_INT(srv_stop(&t.w.s, SIGTERM), 0);
}

/* ---- attacks ---- */

/* A card the test holds the key of, registered through the API: it signs whatever a
 * malicious card would. */
struct rogue {
    crypto_sm2_key *key;
    char id[33], fl[33], pem[4096];
    jz_id card;
    uint32_t counter;
    uint8_t prev[32];
};

static void json_escape(const char *in, char *out, size_t n)
{
    size_t k = 0;
    for (; *in && k + 3 < n; in++) {
        if (*in == '\n') {
            out[k++] = '\\';
            out[k++] = 'n';
        } else {
            out[k++] = *in;
        }
    }
    out[k] = '\0';
}

static int rogue_issue(struct t *t, const struct srv_creds *c, const char *wallet,
                       long long expires_at, struct rogue *g)
{
    char *pem = NULL, esc[1024], body[2048];
    size_t len = 0;
    struct srv_response r;
    memset(g, 0, sizeof *g);
    if (crypto_sm2_generate(&g->key) != 0 || crypto_sm2_public_pem(g->key, &pem, &len) != 0) {
        return -1;
    }
    json_escape(pem, esc, sizeof esc);
    free(pem);
    if (expires_at) {
        snprintf(body, sizeof body, "{\"wallet\":\"%s\",\"public_key\":\"%s\",\"expires_at\":%lld}",
                 wallet, esc, expires_at);
    } else {
        snprintf(body, sizeof body, "{\"wallet\":\"%s\",\"public_key\":\"%s\"}", wallet, esc);
    }
    int st = srv_call(&t->w.s, c, "POST", "/v1/cards", body, &r);
    int rc = st == 201 && srv_json_str(r.body, "card_id", g->id, sizeof g->id) == 0 &&
                     srv_json_str(r.body, "float_wallet", g->fl, sizeof g->fl) == 0 &&
                     srv_json_str(r.body, "certificate", g->pem, sizeof g->pem) == 0
                 ? 0 : -1;
    srv_response_free(&r);
    jz_id_from_hex(g->id, 32, &g->card);
    track(t, g->fl);
    return rc;
}

static int api_load(struct t *t, const struct srv_creds *c, const char *card_id, long long amount)
{
    char path[80], body[120], tid[33];
    srv_new_id(tid);
    snprintf(path, sizeof path, "/v1/cards/%s/load", card_id);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"amount\":%lld}", tid, amount);
    return srv_call(&t->w.s, c, "POST", path, body, NULL);
}

/* A voucher from the rogue card to payee: body and signature as hex. */
static void rogue_sign(struct rogue *g, const char *payee_hex, long long amount,
                       long long time_ms, char body_hex[243], char sig_hex[161],
                       const crypto_sm2_key *signer)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    struct voucher v = {.payer = g->card, .counter = ++g->counter, .amount = amount,
                        .time_ms = time_ms ? time_ms : now};
    uint8_t b[VOUCHER_BODY_BYTES], sig[CRYPTO_SM2_SIG_MAX];
    size_t sig_len = 0;
    jz_id_from_hex(payee_hex, 32, &v.payee);
    memcpy(v.prev, g->prev, 32);
    crypto_random(v.nonce, sizeof v.nonce);
    voucher_encode(&v, b);
    voucher_hash(b, g->prev);
    crypto_sm2_sign(signer ? signer : g->key, b, sizeof b, sig, &sig_len);
    jz_hex_encode(b, sizeof b, body_hex);
    jz_hex_encode(sig, sig_len, sig_hex);
}

/* Uploads one voucher; returns its status word in out. */
static int upload(struct t *t, const struct srv_creds *c, const char *body_hex,
                  const char *sig_hex, const char *pem, char *out, size_t n)
{
    char esc[4096];
    static char req[16384];
    struct srv_response r;
    json_escape(pem, esc, sizeof esc);
    snprintf(req, sizeof req,
             "{\"vouchers\":[{\"body\":\"%s\",\"signature\":\"%s\",\"certificate\":\"%s\"}]}",
             body_hex, sig_hex, esc);
    int st = srv_call(&t->w.s, c, "POST", "/v1/offline/vouchers", req, &r);
    if (st != 200 || srv_json_str(r.body, "status", out, n) != 0) {
        snprintf(out, n, "HTTP %d %s", st, r.body ? r.body : "");
    }
    srv_response_free(&r);
    return st;
}

TEST(card_attacks_are_refused_and_move_no_money)
{
    static struct t t;
    char alice_w[33], bob_w[33], carol_w[33], alice[33], bob[33], carol[33], st[200];
    char body[243], sig[161];
    REQUIRE_EQ_INT(start(&t), 0);
    REQUIRE_EQ_INT(funded_wallet(&t, &t.w.op, t.w.treasury, 100000, alice_w), 0);
    REQUIRE_EQ_INT(funded_wallet(&t, &t.w.op2, t.w.treasury2, 100000, bob_w), 0);
    REQUIRE_EQ_INT(funded_wallet(&t, &t.w.op2, t.w.treasury2, 100000, carol_w), 0);
    REQUIRE_EQ_INT(issue_card(&t, t.opa, "alice.card", alice_w, alice, ""), 0);
    REQUIRE_EQ_INT(issue_card(&t, t.opb, "bob.card", bob_w, bob, ""), 0);
    REQUIRE_EQ_INT(issue_card(&t, t.opb, "carol.card", carol_w, carol, ""), 0);
    REQUIRE_EQ_INT(card(&t, t.opa, NULL, NULL, "load --card alice.card --amount 30000"), 0);

    /* A cloned card file pays two payees with the same counter. */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cd %s && cp alice.card clone.card && cp alice.card.key clone.card.key",
             t.dir);
    REQUIRE_EQ_INT(system(cmd), 0);
    CHECK_EQ_INT(pay(&t, "alice.card", "bob.card", 5000), 0);
    CHECK_EQ_INT(pay(&t, "clone.card", "carol.card", 7000), 0);
    CHECK_EQ_INT(card(&t, t.opb, NULL, NULL, "sync --card bob.card"), 0);
    CHECK(strstr(t.out, "voucher 1: settled") != NULL);
    long long carol_before = balance(&t, carol_w);
    CHECK_EQ_INT(card(&t, t.opb, NULL, NULL, "sync --card carol.card"), 0);
    CHECK(strstr(t.out, "voucher 1: double_spend") != NULL);
    CHECK_EQ_INT(balance(&t, carol_w), carol_before);
    CHECK_EQ_INT(float_of(&t, &t.w.op, alice), 25000);
    /* The card is revoked, its wallet frozen, the alert holds both vouchers. */
    char cj[4096];
    CHECK_EQ_INT(card_json(&t, &t.w.op, alice, cj, sizeof cj), 200);
    CHECK(strstr(cj, "\"status\":\"revoked\"") != NULL);
    struct srv_response r;
    char path[80];
    snprintf(path, sizeof path, "/v1/wallets/%s", alice_w);
    CHECK_EQ_INT(srv_call(&t.w.s, &t.w.op, "GET", path, NULL, &r), 200);
    CHECK(r.body && strstr(r.body, "\"status\":\"frozen\""));
    srv_response_free(&r);
    CHECK_EQ_INT(srv_call(&t.w.s, &t.w.op, "GET", "/v1/cards/alerts", NULL, &r), 200);
    CHECK(r.body && strstr(r.body, alice) && strstr(r.body, "\"evidence\":[{\"body\""));
    srv_response_free(&r);
    CHECK_EQ_INT(srv_call(&t.w.s, &t.w.op2, "GET", "/v1/cards/alerts", NULL, &r), 200);
    CHECK(r.body && strstr(r.body, alice) == NULL); /* another operator's card */
    srv_response_free(&r);
    CHECK(conserved(&t));

    /* A card the test controls: replay, flipped byte, another card's signature, unknown CA,
     * overdraw, expiry, revocation. */
    struct rogue g, h;
    char dave_w[33];
    REQUIRE_EQ_INT(funded_wallet(&t, &t.w.op, t.w.treasury, 100000, dave_w), 0);
    REQUIRE_EQ_INT(rogue_issue(&t, &t.w.op, dave_w, 0, &g), 0);
    REQUIRE_EQ_INT(api_load(&t, &t.w.op, g.id, 1000), 201);
    rogue_sign(&g, bob, 600, 0, body, sig, NULL);
    long long bob_before = balance(&t, bob_w);
    CHECK_EQ_INT(upload(&t, &t.w.op2, body, sig, g.pem, st, sizeof st), 200);
    CHECK_EQ_STR(st, "settled");
    CHECK_EQ_INT(upload(&t, &t.w.op2, body, sig, g.pem, st, sizeof st), 200);
    CHECK_EQ_STR(st, "duplicate");
    CHECK_EQ_INT(balance(&t, bob_w), bob_before + 600);
    /* One flipped byte of the body (in the amount). */
    rogue_sign(&g, bob, 100, 0, body, sig, NULL);
    body[2 * 44 + 1] = body[2 * 44 + 1] == '0' ? '1' : '0';
    CHECK_EQ_INT(upload(&t, &t.w.op2, body, sig, g.pem, st, sizeof st), 200);
    CHECK_EQ_STR(st, "invalid_signature");
    /* Signed by another card's key under this card's certificate. */
    crypto_sm2_key *other = NULL;
    REQUIRE_EQ_INT(crypto_sm2_generate(&other), 0);
    rogue_sign(&g, bob, 100, 0, body, sig, other);
    CHECK_EQ_INT(upload(&t, &t.w.op2, body, sig, g.pem, st, sizeof st), 200);
    CHECK_EQ_STR(st, "invalid_signature");
    /* A certificate for this card id from a CA the platform never made. */
    tsm *foreign = NULL;
    char err[200], fdir[700];
    snprintf(fdir, sizeof fdir, "%s/foreign", t.dir);
    mkdir(fdir, 0700);
    REQUIRE_EQ_INT(tsm_open(fdir, 1767225600000LL, &foreign, err, sizeof err), 0);
    struct crypto_card_ext ext = {.tier = 1, .per_payment = 100000, .offline_total = 500000,
                                  .offline_count = 50};
    memcpy(ext.card_id, g.card.b, 16);
    crypto_cert *fc = NULL;
    char *fpem = NULL;
    size_t fpem_len = 0;
    REQUIRE_EQ_INT(tsm_certify(foreign, "opa", g.key, &ext, 1767225600000LL, 4102444800000LL, &fc), 0);
    REQUIRE_EQ_INT(crypto_cert_pem(fc, &fpem, &fpem_len), 0);
    rogue_sign(&g, bob, 100, 0, body, sig, NULL);
    CHECK_EQ_INT(upload(&t, &t.w.op2, body, sig, fpem, st, sizeof st), 200);
    CHECK_EQ_STR(st, "invalid_certificate");
    free(fpem);
    crypto_cert_free(fc);
    tsm_close(foreign);
    /* A voucher the float cannot cover (400 left). */
    g.counter = 10;
    rogue_sign(&g, bob, 5000, 0, body, sig, NULL);
    CHECK_EQ_INT(upload(&t, &t.w.op2, body, sig, g.pem, st, sizeof st), 200);
    CHECK_EQ_STR(st, "insufficient_float");
    CHECK_EQ_INT(float_of(&t, &t.w.op, g.id), 400);
    /* Revoked: after a lock, vouchers made later are refused. */
    struct timespec now;
    snprintf(path, sizeof path, "/v1/cards/%s/lock", g.id);
    CHECK_EQ_INT(srv_call(&t.w.s, &t.w.op, "POST", path, NULL, NULL), 200);
    struct timespec pause = {0, 20000000L};
    nanosleep(&pause, NULL);
    clock_gettime(CLOCK_REALTIME, &now);
    rogue_sign(&g, bob, 100, (long long)now.tv_sec * 1000 + 10000, body, sig, NULL);
    CHECK_EQ_INT(upload(&t, &t.w.op2, body, sig, g.pem, st, sizeof st), 200);
    CHECK_EQ_STR(st, "revoked");
    /* Expired: a voucher dated after the certificate's notAfter. */
    char erin_w[33];
    REQUIRE_EQ_INT(funded_wallet(&t, &t.w.op, t.w.treasury, 100000, erin_w), 0);
    clock_gettime(CLOCK_REALTIME, &now);
    long long soon = (long long)now.tv_sec * 1000 + 3600000;
    REQUIRE_EQ_INT(rogue_issue(&t, &t.w.op, erin_w, soon, &h), 0);
    REQUIRE_EQ_INT(api_load(&t, &t.w.op, h.id, 1000), 201);
    rogue_sign(&h, bob, 100, soon + 2000, body, sig, NULL);
    CHECK_EQ_INT(upload(&t, &t.w.op2, body, sig, h.pem, st, sizeof st), 200);
    CHECK_EQ_STR(st, "invalid_certificate");
    CHECK_EQ_INT(balance(&t, bob_w), bob_before + 600);
    CHECK(conserved(&t));
    /* A revoked payer is refused by a payee card that has synced the list. */
    CHECK_EQ_INT(card(&t, t.opb, NULL, NULL, "request --card bob.card --amount 10"), 0);
    crypto_sm2_free(other);
    crypto_sm2_free(g.key);
    crypto_sm2_free(h.key);
    CHECK_EQ_INT(srv_stop(&t.w.s, SIGTERM), 0);
}
