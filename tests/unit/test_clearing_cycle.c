/*
 * test_clearing_cycle.c: cycles derived from a real node's journal. Only posted transfers
 * between wallets of different institutions, of the clearing kinds, count (captured holds
 * included; same-institution, p2p, refused and replayed ones do not); a cut-off's place in
 * its record is the exact boundary; the settlement files are signed and a changed byte fails
 * verification; a cut-off journalled just before a crash is closed at the next start; and a
 * cycle is cleared with the fee schedule its cut-off names.
 */
#include "clearing_cycle.h"
#include "support.h"

#define OPS 3

static jz_id customer(uint32_t op, uint32_t i)
{
    return sup_id('C', op, i);
}

static jz_id merchant(uint32_t op, uint32_t i)
{
    return sup_id('M', op, i);
}

static struct ledger_cmd cmd(uint8_t op, uint16_t actor)
{
    struct ledger_cmd c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.actor = actor;
    return c;
}

static struct ledger_cmd xfer(uint16_t actor, uint8_t kind, jz_id debit, jz_id credit,
                              int64_t amount, uint32_t tag)
{
    struct ledger_cmd c = cmd(LEDGER_OP_TRANSFER, actor);
    c.kind = kind;
    c.debit = debit;
    c.credit = credit;
    c.amount = amount;
    c.id = sup_id('X', tag, 0);
    return c;
}

static struct ledger_cmd cutoff_note(const uint8_t sm3[32], uint64_t cycle)
{
    struct ledger_cmd c;
    clearing_cutoff_note(&c, CLEARING_TRIGGER_DEMAND, sm3, cycle);
    return c;
}

struct issuance {
    jz_id id;
};

static void read_issuance(const ledger *l, void *ctx)
{
    struct ledger_institution_view v;
    if (ledger_institution_get(l, "central", &v) == 0) {
        ((struct issuance *)ctx)->id = v.treasury;
    }
}

/* Runs cmds as one request; every result must be ok. */
static int run_ok(executor *ex, struct ledger_cmd *c, uint32_t n)
{
    struct ledger_result r[64];
    ASSERT(n <= 64);
    if (sup_run(ex, c, r, n) != 0) {
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (r[i].code != JZ_OK) {
            fprintf(stderr, "  command %u: %s\n", i, jz_result_name(r[i].code));
            return -1;
        }
    }
    return 0;
}

/* Three operators, each with 3 funded customers and merchants of categories 5411, 5812 and
 * 4900. */
static node *world(const char *dir)
{
    struct node_config cfg;
    node_config_default(&cfg);
    cfg.wallets_max = 1000;
    cfg.transfers_max = 10000;
    cfg.holds_max = 100;
    cfg.segment_bytes = 1u << 20;
    char err[512];
    node *n = NULL;
    struct node_options opt = {.dir = dir};
    if (node_init(dir, &cfg, err, sizeof err) != 0 || node_open(&opt, &n, err, sizeof err) != 0) {
        fprintf(stderr, "  %s\n", err);
        return NULL;
    }
    executor *ex = node_executor(n);
    struct issuance q;
    struct executor_request r;
    executor_request_init(&r);
    r.query = read_issuance;
    r.query_ctx = &q;
    int rc = executor_run(ex, &r);
    executor_request_destroy(&r);
    static const uint16_t mccs[3] = {5411, 5812, 4900};
    for (uint16_t op = 1; rc == 0 && op <= OPS; op++) {
        struct ledger_cmd c[16];
        c[0] = cmd(LEDGER_OP_INSTITUTION_CREATE, 0);
        c[0].kind = LEDGER_INST_OPERATOR;
        snprintf(c[0].inst.s, sizeof c[0].inst.s, "op%u", op);
        c[0].name_len = 3;
        memcpy(c[0].name, c[0].inst.s, 3);
        c[0].debit = sup_id('T', op, 0);
        c[1] = xfer(0, LEDGER_KIND_ISSUE, q.id, sup_id('T', op, 0), 100000000, 900 + op);
        rc = run_ok(ex, c, 2);
        for (uint32_t i = 0; i < 3; i++) {
            c[2 * i] = cmd(LEDGER_OP_WALLET_OPEN, op);
            c[2 * i].kind = LEDGER_WALLET_PERSONAL;
            c[2 * i].tier = 1;
            c[2 * i].form = LEDGER_FORM_SOFT;
            c[2 * i].id = customer(op, i);
            c[2 * i + 1] = c[2 * i];
            c[2 * i + 1].kind = LEDGER_WALLET_MERCHANT;
            c[2 * i + 1].mcc = mccs[i];
            c[2 * i + 1].id = merchant(op, i);
            c[6 + i] = xfer(op, LEDGER_KIND_EXCHANGE_IN, sup_id('T', op, 0), customer(op, i),
                            1000000, 800 + op * 10 + i);
            c[9 + i] = xfer(op, LEDGER_KIND_EXCHANGE_IN, sup_id('T', op, 0), merchant(op, i),
                            1000000, 700 + op * 10 + i);
        }
        rc = rc == 0 ? run_ok(ex, c, 12) : rc;
    }
    if (rc != 0) {
        node_close(n, false);
        return NULL;
    }
    return n;
}

struct opened {
    store_clearing *st;
    clearing_engine *e;
};

static int open_engine(const char *dir, struct opened *o)
{
    char path[700];
    char err[512];
    snprintf(path, sizeof path, "%s/clearing.db", dir);
    if (store_clearing_open(path, &o->st, err, sizeof err) != 0 ||
        clearing_engine_open(dir, o->st, &o->e, err, sizeof err) != 0) {
        fprintf(stderr, "  %s\n", err);
        return -1;
    }
    return 0;
}

static void close_engine(struct opened *o)
{
    clearing_engine_free(o->e);
    store_clearing_close(o->st);
}

/* A test's node (world()) and engine, in test_tmpdir()/n. */
struct fixture {
    char dir[512];
    node *n;
    struct opened o;
};

static int fixture_open(struct fixture *f)
{
    snprintf(f->dir, sizeof f->dir, "%s/n", test_tmpdir());
    f->n = world(f->dir);
    return f->n && open_engine(f->dir, &f->o) == 0 ? 0 : -1;
}

static int fixture_close(struct fixture *f)
{
    close_engine(&f->o);
    return node_close(f->n, false);
}

static int catch_up(struct opened *o, node *n, uint64_t *closed)
{
    char err[512];
    int rc = clearing_engine_catch_up(o->e, executor_durable_seq(node_executor(n)),
                                      node_signing_key(n), closed, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "  catch up: %s\n", err);
    }
    return rc;
}

static bool has_item(const struct clearing_item *items, size_t n, jz_id id, int64_t amount)
{
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        found += jz_id_eq(&items[i].id, &id) && items[i].amount == amount;
    }
    return found == 1;
}

/* The T line of a settlement CSV: its net (last field). */
static long long csv_total_net(const char *csv)
{
    const char *t = strstr(csv, "\nT,");
    const char *last = t ? strrchr(t, ',') : NULL;
    return last ? atoll(last + 1) : -999999999;
}

TEST(clearing_cycle_counts_exactly_the_posted_cross_institution_items)
{
    static struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    node *n = f.n;
    executor *ex = node_executor(n);
    uint8_t sm3[32];
    const struct clearing_schedule *fees = clearing_engine_fees(f.o.e, sm3);
    struct ledger_cmd c[16];
    struct ledger_result res[16];
    c[0] = xfer(1, LEDGER_KIND_PAYMENT, customer(1, 0), merchant(2, 1), 10000, 1);    /* item */
    c[1] = xfer(1, LEDGER_KIND_PAYMENT, customer(1, 0), merchant(1, 0), 5000, 2);     /* same op */
    c[2] = xfer(2, LEDGER_KIND_BILL, customer(2, 1), merchant(3, 2), 2000, 3);        /* item */
    c[3] = xfer(2, LEDGER_KIND_REFUND, merchant(2, 1), customer(1, 0), 3000, 4);      /* item */
    c[4] = xfer(1, LEDGER_KIND_P2P, customer(1, 1), customer(2, 1), 700, 5);          /* p2p */
    c[5] = c[0];                                                                      /* replay */
    c[6] = xfer(1, LEDGER_KIND_PAYMENT, customer(1, 2), merchant(3, 0), 99999999, 6); /* refused */
    c[7] = cmd(LEDGER_OP_HOLD_CREATE, 1); /* cross-institution hold, captured in part */
    c[7].debit = customer(1, 2);
    c[7].credit = merchant(3, 0);
    c[7].amount = 7000;
    c[7].timeout_ms = 60000;
    c[7].id = sup_id('H', 1, 0);
    c[8] = c[7]; /* voided */
    c[8].id = sup_id('H', 2, 0);
    c[9] = xfer(3, LEDGER_KIND_ADJUSTMENT, customer(3, 0), customer(1, 0), 1234, 7); /* item */
    REQUIRE(sup_run(ex, c, res, 10) == 0);
    CHECK(res[5].replayed == 1);
    CHECK_EQ_INT(res[6].code, JZ_INSUFFICIENT_FUNDS);
    c[0] = cmd(LEDGER_OP_HOLD_CAPTURE, 1);
    c[0].id = sup_id('H', 1, 0);
    c[0].amount = 4000;
    c[1] = cmd(LEDGER_OP_HOLD_VOID, 1);
    c[1].id = sup_id('H', 2, 0);
    /* The cut-off, and a payment after it in the same request: that one is the next cycle's. */
    c[2] = cutoff_note(sm3, 1);
    c[3] = xfer(3, LEDGER_KIND_PAYMENT, customer(3, 1), merchant(1, 1), 4444, 8);
    REQUIRE(run_ok(ex, c, 4) == 0);
    uint64_t closed = 0;
    REQUIRE(catch_up(&f.o, n, &closed) == 0);
    CHECK_EQ_INT(closed, 1);
    CHECK_EQ_INT(clearing_engine_last_cycle(f.o.e), 1);
    struct clearing_cycle_info cy;
    REQUIRE_EQ_INT(clearing_engine_cycle_info(f.o.e, 1, &cy), 0);
    CHECK_EQ_INT(cy.status, JZ_OK);
    struct clearing_item *items = NULL;
    size_t ni = 0;
    char err[512];
    REQUIRE(clearing_engine_items(f.o.e, &cy, -1, &items, &ni, err, sizeof err) == 0);
    CHECK_EQ_INT(ni, 5);
    CHECK(has_item(items, ni, sup_id('X', 1, 0), 10000));
    CHECK(has_item(items, ni, sup_id('X', 3, 0), 2000));
    CHECK(has_item(items, ni, sup_id('X', 4, 0), 3000));
    CHECK(has_item(items, ni, sup_id('H', 1, 0), 4000));
    CHECK(has_item(items, ni, sup_id('X', 7, 0), 1234));
    /* The merchant's category: 5812 for op2's second merchant, 4900 for the bill's biller. */
    CHECK_EQ_INT(items[0].mcc, 5812);
    CHECK_EQ_INT(items[1].mcc, 4900);
    /* The files: each institution's net equals the net of the same items computed here. */
    struct clearing_net net;
    REQUIRE(clearing_net_init(&net, OPS + 1, fees->nfees) == 0);
    for (size_t i = 0; i < ni; i++) {
        REQUIRE(clearing_net_add(&net, fees, &items[i]) == 0);
    }
    crypto_sm2_key *pub = NULL;
    char *pem = NULL;
    size_t pem_len = 0;
    REQUIRE(crypto_sm2_public_pem(node_signing_key(n), &pem, &pem_len) == 0);
    REQUIRE(crypto_sm2_load_public_pem(pem, pem_len, &pub) == 0);
    free(pem);
    int64_t net_sum = 0;
    for (uint32_t i = 0; i <= OPS; i++) {
        char *body = NULL;
        uint8_t *sig = NULL;
        size_t len = 0;
        size_t sig_len = 0;
        REQUIRE_EQ_INT(clearing_engine_file(f.o.e, 1, i, "csv", node_signing_key(n), &body, &len,
                                            &sig, &sig_len, err, sizeof err),
                       0);
        struct clearing_position t;
        REQUIRE(clearing_net_total(&net, i, &t) == 0);
        CHECK_EQ_INT(csv_total_net(body), t.net);
        net_sum += csv_total_net(body);
        CHECK_EQ_INT(crypto_sm2_verify(pub, body, len, sig, sig_len), 0);
        body[len / 2] ^= 1; /* one changed byte */
        CHECK_EQ_INT(crypto_sm2_verify(pub, body, len, sig, sig_len), -1);
        free(body);
        free(sig);
        REQUIRE_EQ_INT(clearing_engine_file(f.o.e, 1, i, "items.csv", node_signing_key(n), &body,
                                            &len, &sig, &sig_len, err, sizeof err),
                       0);
        CHECK_EQ_INT(crypto_sm2_verify(pub, body, len, sig, sig_len), 0);
        free(body);
        free(sig);
    }
    CHECK_EQ_INT(net_sum, 0);
    clearing_net_free(&net);
    crypto_sm2_free(pub);
    free(items);
    /* Cycle 2 holds the payment journalled after the first cut-off, and only it; a reopened
     * engine knows both cycles. */
    c[0] = cutoff_note(sm3, 2);
    REQUIRE(run_ok(ex, c, 1) == 0);
    close_engine(&f.o);
    REQUIRE(open_engine(f.dir, &f.o) == 0);
    CHECK_EQ_INT(clearing_engine_last_cycle(f.o.e), 1);
    REQUIRE(catch_up(&f.o, n, &closed) == 0);
    CHECK_EQ_INT(closed, 1);
    REQUIRE_EQ_INT(clearing_engine_cycle_info(f.o.e, 2, &cy), 0);
    REQUIRE(clearing_engine_items(f.o.e, &cy, 3, &items, &ni, err, sizeof err) == 0);
    CHECK_EQ_INT(ni, 1);
    CHECK(has_item(items, ni, sup_id('X', 8, 0), 4444));
    free(items);
    REQUIRE(fixture_close(&f) == 0);
}

TEST(clearing_cycle_pending_cutoff_closes_after_a_restart)
{
    static struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    node *n = f.n;
    uint8_t sm3[32];
    (void)clearing_engine_fees(f.o.e, sm3);
    struct ledger_cmd c[2];
    c[0] = xfer(1, LEDGER_KIND_PAYMENT, customer(1, 0), merchant(2, 0), 500, 1);
    c[1] = cutoff_note(sm3, 1);
    REQUIRE(clearing_engine_set_pending(f.o.e, true) == 0);
    REQUIRE(run_ok(node_executor(n), c, 2) == 0);
    /* The process dies here: the note is durable, its cycle is not closed. */
    close_engine(&f.o);
    REQUIRE(node_close(n, false) == 0);
    struct node_options opt = {.dir = f.dir};
    char err[512];
    REQUIRE(node_open(&opt, &f.n, err, sizeof err) == 0);
    n = f.n;
    REQUIRE(open_engine(f.dir, &f.o) == 0);
    CHECK(clearing_engine_pending(f.o.e));
    CHECK_EQ_INT(clearing_engine_last_cycle(f.o.e), 0);
    uint64_t closed = 0;
    REQUIRE(catch_up(&f.o, n, &closed) == 0);
    CHECK_EQ_INT(closed, 1);
    CHECK(!clearing_engine_pending(f.o.e));
    struct clearing_cycle_info cy;
    REQUIRE_EQ_INT(clearing_engine_cycle_info(f.o.e, 1, &cy), 0);
    struct clearing_item *items = NULL;
    size_t ni = 0;
    REQUIRE(clearing_engine_items(f.o.e, &cy, -1, &items, &ni, err, sizeof err) == 0);
    CHECK_EQ_INT(ni, 1);
    free(items);
    /* Catching up again finds nothing more. */
    REQUIRE(catch_up(&f.o, n, &closed) == 0);
    CHECK_EQ_INT(closed, 0);
    REQUIRE(fixture_close(&f) == 0);
}

TEST(clearing_cycle_uses_the_fee_schedule_its_cutoff_names)
{
    static struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    node *n = f.n;
    /* Schedule A: a flat 1% interchange. The cut-off names A; B (10%) is put in force before
     * the cycle is read, so the engine must read the cycle again with A. */
    static const char a_text[] =
        "{\"version\":\"a\",\"fees\":[{\"name\":\"ic\",\"charged_to\":\"merchant\",\"paid_to\":"
        "\"customer\",\"rules\":[{\"kinds\":[\"payment\"],\"mcc\":\"*\",\"rate_ppm\":10000}]}]}";
    struct clearing_schedule a;
    struct clearing_schedule b;
    struct api_error e;
    REQUIRE(clearing_schedule_parse(a_text, strlen(a_text), &a, &e) == 0);
    b = a;
    b.fees[0].rules[0].rate_ppm = 100000;
    snprintf(b.version, sizeof b.version, "b");
    uint8_t sa[32];
    uint8_t sb[32];
    REQUIRE(clearing_engine_set_fees(f.o.e, &a, sa) == 0);
    struct ledger_cmd c[2];
    c[0] = xfer(1, LEDGER_KIND_PAYMENT, customer(1, 0), merchant(2, 1), 20000, 1);
    c[1] = cutoff_note(sa, 1);
    REQUIRE(run_ok(node_executor(n), c, 2) == 0);
    REQUIRE(clearing_engine_set_fees(f.o.e, &b, sb) == 0);
    uint64_t closed = 0;
    REQUIRE(catch_up(&f.o, n, &closed) == 0);
    REQUIRE_EQ_INT(closed, 1);
    char *body = NULL;
    size_t len = 0;
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    char err[512];
    REQUIRE_EQ_INT(clearing_engine_file(f.o.e, 1, 1, "csv", node_signing_key(n), &body, &len, &sig,
                                        &sig_len, err, sizeof err),
                   0);
    CHECK(strstr(body, "\nF,ic,op2,receivable,1,200\n") != NULL); /* 1% of 20,000 */
    CHECK_EQ_INT(csv_total_net(body), -20000 + 200);
    free(body);
    free(sig);
    REQUIRE(fixture_close(&f) == 0);
}
