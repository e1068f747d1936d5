/*
 * test_fault.c: fault injection through the I/O table. For every n up to a bound, the nth
 * write, sync, rename or open fails while a node is under a workload; the test checks that
 * no request is acknowledged once the journal has failed, and that recovery with working
 * I/O finds every acknowledged transfer, with the ledger's invariants intact.
 */
#include "support.h"

#define WALLETS 64
#define REQUESTS 24
#define PER_REQUEST 1500 /* ~96 KiB a record: with 1 MiB segments the journal rolls over */

static int run_under_fault(const char *dir, enum io_fault_kind kind, long nth, jz_id *acked,
                           uint32_t *acked_count, bool *ack_after_failure)
{
    static struct ledger_cmd cmds[PER_REQUEST];
    static struct ledger_result res[PER_REQUEST];
    node *n = NULL;
    char err[512];
    struct node_options opt = {.dir = dir, .io = &io_faulty};
    if (node_open(&opt, &n, err, sizeof err) != 0) {
        fprintf(stderr, "  node_open: %s\n", err);
        return -1;
    }
    io_fault_arm(kind, nth);
    bool failed = false;
    for (uint32_t r = 0; r < REQUESTS; r++) {
        for (uint32_t i = 0; i < PER_REQUEST; i++) {
            sup_workload_transfer(nth * 1000 + kind, (uint64_t)r * PER_REQUEST + i, WALLETS,
                                  &cmds[i]);
        }
        int rc = sup_run(node_executor(n), cmds, res, PER_REQUEST);
        if (rc == 0) {
            if (failed) {
                *ack_after_failure = true;
            }
            for (uint32_t i = 0; i < PER_REQUEST; i++) {
                acked[(*acked_count)++] = cmds[i].id;
            }
        } else {
            failed = true;
        }
    }
    node_close(n, false);
    io_fault_disarm();
    return 0;
}

static void check_kind(enum io_fault_kind kind, long max_nth)
{
    static jz_id acked[REQUESTS * PER_REQUEST];
    long fired = 0;
    for (long nth = 1; nth <= max_nth; nth++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/k%d_n%ld", test_tmpdir(), (int)kind, nth);
        REQUIRE(sup_make_node(dir, WALLETS, 10000000, 4) == 0);
        uint32_t count = 0;
        bool ack_after_failure = false;
        REQUIRE(run_under_fault(dir, kind, nth, acked, &count, &ack_after_failure) == 0);
        fired += io_fault_fired() ? 1 : 0;
        CHECK(!ack_after_failure);
        ledger *l = NULL;
        uint64_t head = 0;
        char err[512];
        REQUIRE(node_recover_ledger(dir, &l, &head, err, sizeof err) == 0);
        uint32_t missing = 0;
        for (uint32_t i = 0; i < count; i++) {
            struct ledger_result r;
            missing += ledger_transfer_result(l, &acked[i], &r) != 0;
        }
        CHECK_EQ_INT(missing, 0);
        CHECK_EQ_INT(ledger_check_invariants(l, NULL, 0), 0);
        ledger_free(l);
    }
    CHECK(fired > 0); /* the workload reached the faults it was meant to test */
}

TEST(fault_failed_write_loses_nothing_acknowledged)
{
    check_kind(IO_FAULT_WRITE, 30);
}

TEST(fault_failed_sync_loses_nothing_acknowledged)
{
    check_kind(IO_FAULT_SYNC, 30);
}

TEST(fault_failed_rename_loses_nothing_acknowledged)
{
    check_kind(IO_FAULT_RENAME, 6);
}

TEST(fault_failed_open_loses_nothing_acknowledged)
{
    check_kind(IO_FAULT_OPEN, 6);
}
