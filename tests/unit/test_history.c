/*
 * test_history.c: the projector and the history store: posted transfers and captured holds
 * appear, refused ones and replays do not, wallet history pages newest first, projection
 * resumes after a restart, and `reindex` rebuilds the same store.
 */
#include "projector.h"
#include "store_sqlite.h"
#include "support.h"

#define WALLETS 50

static node *open_history(const char *dir)
{
    node *n = NULL;
    char err[512];
    struct node_options opt = {.dir = dir, .history = true};
    if (node_open(&opt, &n, err, sizeof err) != 0) {
        fprintf(stderr, "  node_open: %s\n", err);
        return NULL;
    }
    return n;
}

/* 300 transfers (some refused: a wallet paying itself), a hold captured in part, a hold
 * voided, and a replay of the first transfer. */
static void workload(executor *ex, uint32_t *posted)
{
    struct ledger_cmd c[301];
    struct ledger_result r[301];
    for (uint32_t i = 0; i < 300; i++) {
        sup_workload_transfer(99, i, WALLETS, &c[i]);
        if (i % 50 == 7) {
            c[i].credit = c[i].debit; /* refused: invalid_field credit */
        }
        if (i == 5) {
            c[i].ref_len = 6;
            memcpy(c[i].ref, "ORD-42", 6);
            c[i].memo_len = 5;
            memcpy(c[i].memo, "lunch", 5);
        }
    }
    c[300] = c[0]; /* an idempotent replay: must not appear twice */
    ASSERT(sup_run(ex, c, r, 301) == 0);
    *posted = 0;
    for (uint32_t i = 0; i < 300; i++) {
        *posted += r[i].code == JZ_OK;
    }
    ASSERT(r[300].replayed == 1);
    struct ledger_cmd h[2];
    memset(h, 0, sizeof h);
    for (int i = 0; i < 2; i++) {
        h[i].op = LEDGER_OP_HOLD_CREATE;
        h[i].actor = 1;
        h[i].debit = sup_id('W', 1, 0);
        h[i].credit = sup_id('W', 2, 0);
        h[i].amount = 1000;
        h[i].timeout_ms = 60000;
        h[i].id = sup_id('H', (uint32_t)i, 0);
    }
    ASSERT(sup_run(ex, h, r, 2) == 0 && r[0].code == JZ_OK && r[1].code == JZ_OK);
    h[0].op = LEDGER_OP_HOLD_CAPTURE;
    h[0].amount = 400;
    h[1].op = LEDGER_OP_HOLD_VOID;
    ASSERT(sup_run(ex, h, r, 2) == 0 && r[0].code == JZ_OK && r[1].code == JZ_OK);
}

TEST(history_projects_posted_transfers_and_reindex_matches)
{
    char dir[512];
    char err[512];
    snprintf(dir, sizeof dir, "%s/n", test_tmpdir());
    REQUIRE(sup_make_node(dir, WALLETS, 1000000, 0) == 0);
    node *n = open_history(dir);
    REQUIRE(n != NULL);
    uint32_t posted = 0;
    workload(node_executor(n), &posted);
    REQUIRE(projector_wait(node_projector(n), projector_durable_seq(node_projector(n)), 5000) == 0);
    store *s = node_store(n);
    struct store_transfer t;
    struct ledger_cmd c;
    sup_workload_transfer(99, 5, WALLETS, &c);
    REQUIRE_EQ_INT(store_get_transfer(s, &c.id, &t), 0);
    CHECK(jz_id_eq(&t.debit, &c.debit) && jz_id_eq(&t.credit, &c.credit));
    CHECK_EQ_INT(t.amount, c.amount);
    CHECK_EQ_STR(t.ref, "ORD-42");
    CHECK_EQ_STR(t.memo, "lunch");
    sup_workload_transfer(99, 7, WALLETS, &c); /* refused */
    CHECK_EQ_INT(store_get_transfer(s, &c.id, &t), 1);
    jz_id hold = sup_id('H', 0, 0);
    REQUIRE_EQ_INT(store_get_transfer(s, &hold, &t), 0); /* the captured hold */
    CHECK_EQ_INT(t.amount, 400);
    jz_id voided = sup_id('H', 1, 0);
    CHECK_EQ_INT(store_get_transfer(s, &voided, &t), 1);
    /* Every posted transfer of the workload, the funding ones and the capture, appears in
     * exactly two wallet histories; page through all wallets' histories and count. */
    uint64_t entries = 0;
    static struct store_transfer page[7];
    for (uint32_t w = 0; w < WALLETS; w++) {
        jz_id id = sup_id('W', w, 0);
        uint64_t before = 0;
        uint64_t last_pos = UINT64_MAX;
        do {
            uint32_t count = 0;
            REQUIRE(store_wallet_history(s, &id, before, 7, page, &count, &before) == 0);
            for (uint32_t i = 0; i < count; i++) {
                CHECK(page[i].pos < last_pos); /* newest first, no repeats across pages */
                last_pos = page[i].pos;
                CHECK(jz_id_eq(&page[i].debit, &id) || jz_id_eq(&page[i].credit, &id));
            }
            entries += count;
        } while (before != 0);
    }
    /* Funding: WALLETS exchange_in (one wallet side each); workload: 2 per posted; capture 2. */
    CHECK_EQ_INT(entries, WALLETS + 2 * (uint64_t)posted + 2);
    uint8_t live[32];
    uint8_t rebuilt[32];
    REQUIRE(store_digest(s, live) == 0);
    REQUIRE(node_close(n, false) == 0);
    REQUIRE(node_reindex(dir, err, sizeof err) == 0);
    store *r = NULL;
    char path[700];
    snprintf(path, sizeof path, "%s/history.db", dir);
    REQUIRE(store_open(path, &r, err, sizeof err) == 0);
    REQUIRE(store_digest(r, rebuilt) == 0);
    CHECK_EQ_MEM(live, rebuilt, 32);
    store_close(r);
}

TEST(history_resumes_after_restart)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/n", test_tmpdir());
    REQUIRE(sup_make_node(dir, WALLETS, 1000000, 0) == 0);
    node *n = open_history(dir);
    REQUIRE(n != NULL);
    uint32_t posted = 0;
    workload(node_executor(n), &posted);
    REQUIRE(node_close(n, false) == 0); /* stopping projects what is durable */
    n = open_history(dir);
    REQUIRE(n != NULL);
    uint64_t at_open = store_projected_seq(node_store(n));
    CHECK(at_open > 0);
    CHECK_EQ_INT(at_open, node_recovery_info(n)->head_seq);
    struct ledger_cmd c;
    struct ledger_result r;
    sup_workload_transfer(1234, 1, WALLETS, &c);
    REQUIRE(sup_run(node_executor(n), &c, &r, 1) == 0);
    REQUIRE(projector_wait(node_projector(n), projector_durable_seq(node_projector(n)), 5000) == 0);
    struct store_transfer t;
    CHECK_EQ_INT(store_get_transfer(node_store(n), &c.id, &t), 0);
    REQUIRE(node_close(n, false) == 0);
}
