/*
 * test_node.c: the node as a whole: replay determinism, snapshots, recovery, fault
 * injection through the I/O table, the command codec and the CLI's audit.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "command.h"
#include "journal.h"
#include "snapshot.h"
#include "support.h"

#define WALLETS 200

static node *open_node(const char *dir, const struct io_ops *io)
{
    node *n = NULL;
    char err[512];
    struct node_options opt = {.dir = dir, .io = io};
    if (node_open(&opt, &n, err, sizeof err) != 0) {
        fprintf(stderr, "  node_open: %s\n", err);
        return NULL;
    }
    return n;
}

/* A mixed workload: transfers, holds captured and voided, a failing linked chain, wallet
 * updates. Requests of varying size. */
static void mixed_workload(executor *ex, uint64_t seed, uint32_t requests)
{
    struct ledger_cmd cmds[40];
    struct ledger_result res[40];
    for (uint32_t r = 0; r < requests; r++) {
        uint32_t n = 1 + (uint32_t)(jz_mix64(seed + r) % 40);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t k = (uint64_t)r * 40 + i;
            sup_workload_transfer(seed, k, WALLETS, &cmds[i]);
            switch (k % 11) {
            case 3:
                cmds[i].op = LEDGER_OP_HOLD_CREATE;
                cmds[i].timeout_ms = 1 + (int64_t)(k % 3000);
                break;
            case 5:
                cmds[i].flags = LEDGER_FLAG_LINKED;
                break;
            case 7:
                cmds[i].op = LEDGER_OP_HOLD_CAPTURE;
                cmds[i].id = sup_id('X', (uint32_t)(k - 4), 0);
                cmds[i].amount = 0;
                break;
            case 9:
                cmds[i].op = LEDGER_OP_HOLD_VOID;
                cmds[i].id = sup_id('X', (uint32_t)(k - 6), 0);
                break;
            default:
                break;
            }
        }
        ASSERT(sup_run(ex, cmds, res, n) == 0);
    }
}

TEST(node_replay_reproduces_state_byte_for_byte)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/n", test_tmpdir());
    REQUIRE(sup_make_node(dir, WALLETS, 100000, 0) == 0);
    node *n = open_node(dir, NULL);
    REQUIRE(n != NULL);
    mixed_workload(node_executor(n), 7, 300);
    uint8_t before[32];
    uint8_t after[32];
    REQUIRE(sup_state_hash(node_executor(n), before) == 0);
    REQUIRE(node_close(n, false) == 0); /* no snapshot: recovery replays the whole journal */
    REQUIRE(sup_recovered_hash(dir, after) == 0);
    CHECK_EQ_MEM(before, after, 32);
    /* And once more with a snapshot in the middle of history. */
    n = open_node(dir, NULL);
    REQUIRE(n != NULL);
    REQUIRE(executor_snapshot_now(node_executor(n)) == 0);
    mixed_workload(node_executor(n), 8, 200);
    REQUIRE(sup_state_hash(node_executor(n), before) == 0);
    REQUIRE(node_close(n, false) == 0);
    REQUIRE(sup_recovered_hash(dir, after) == 0);
    CHECK_EQ_MEM(before, after, 32);
}

TEST(node_damaged_newest_snapshot_falls_back)
{
    char dir[512];
    char path[700];
    snprintf(dir, sizeof dir, "%s/n", test_tmpdir());
    REQUIRE(sup_make_node(dir, WALLETS, 100000, 0) == 0);
    uint8_t before[32];
    uint8_t after[32];
    node *n = open_node(dir, NULL);
    REQUIRE(n != NULL);
    mixed_workload(node_executor(n), 9, 50);
    REQUIRE(node_close(n, true) == 0);
    n = open_node(dir, NULL);
    REQUIRE(n != NULL);
    mixed_workload(node_executor(n), 10, 50);
    REQUIRE(sup_state_hash(node_executor(n), before) == 0);
    uint64_t head = node_recovery_info(n)->head_seq;
    REQUIRE(node_close(n, true) == 0);
    /* Damage the newest snapshot: a byte in the middle of its state. */
    ledger *l = NULL;
    uint64_t seq = 0;
    char err[256];
    REQUIRE(node_recover_ledger(dir, &l, &seq, err, sizeof err) == 0);
    ledger_free(l);
    snprintf(path, sizeof path, "%s/snapshots/%020llu.snap", dir, (unsigned long long)seq);
    int fd = open(path, O_RDWR);
    REQUIRE(fd >= 0);
    uint8_t byte;
    CHECK(pread(fd, &byte, 1, 5000) == 1);
    byte ^= 0x40;
    CHECK(pwrite(fd, &byte, 1, 5000) == 1);
    close(fd);
    CHECK(seq > head); /* the snapshot covers the whole journal */
    REQUIRE(sup_recovered_hash(dir, after) == 0);
    CHECK_EQ_MEM(before, after, 32);
}

TEST(node_init_refuses_existing_directory)
{
    char dir[512];
    char err[256];
    snprintf(dir, sizeof dir, "%s/n", test_tmpdir());
    struct node_config cfg;
    node_config_default(&cfg);
    cfg.wallets_max = 100;
    cfg.transfers_max = 1000;
    CHECK(node_init(dir, &cfg, err, sizeof err) == 0);
    CHECK(node_init(dir, &cfg, err, sizeof err) != 0);
    CHECK(strstr(err, "already") != NULL);
    struct stat st;
    char key[700];
    snprintf(key, sizeof key, "%s/node.key", dir);
    REQUIRE(stat(key, &st) == 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0600);
}

TEST(command_codec_round_trips_every_op)
{
    struct ledger_cmd c;
    struct ledger_cmd d;
    uint8_t buf[COMMAND_BYTES_MAX];
    static const uint8_t ops[] = {LEDGER_OP_GENESIS, LEDGER_OP_INSTITUTION_CREATE,
                                  LEDGER_OP_WALLET_OPEN, LEDGER_OP_WALLET_UPDATE,
                                  LEDGER_OP_WALLET_CLOSE, LEDGER_OP_TRANSFER,
                                  LEDGER_OP_HOLD_CREATE, LEDGER_OP_HOLD_CAPTURE,
                                  LEDGER_OP_HOLD_VOID};
    for (size_t i = 0; i < sizeof ops; i++) {
        for (int variant = 0; variant < 2; variant++) {
            memset(&c, 0, sizeof c);
            c.op = ops[i];
            c.actor = 3;
            c.flags = variant ? LEDGER_FLAG_LINKED : 0;
            c.id = sup_id('A', (uint32_t)i, 1);
            c.debit = sup_id('B', (uint32_t)i, 2);
            c.credit = sup_id('C', (uint32_t)i, 3);
            c.amount = 123456789;
            c.timeout_ms = 60000;
            c.kind = 2;
            c.tier = 3;
            c.form = 1;
            c.status = 2;
            c.mcc = 5411;
            strcpy(c.inst.s, "icbc");
            c.name_len = 4;
            memcpy(c.name, "ICBC", 4);
            if (variant) {
                c.holder_len = JZ_HOLDER_SEALED_MAX;
                memset(c.holder, 'h', JZ_HOLDER_SEALED_MAX);
                c.ref_len = JZ_REF_MAX;
                memset(c.ref, 'r', JZ_REF_MAX);
                c.memo_len = JZ_MEMO_MAX;
                memset(c.memo, 'm', JZ_MEMO_MAX);
            }
            size_t n = command_encode(&c, buf);
            REQUIRE(command_decode(buf, n, &d) == n);
            /* Re-encoding the decoded command gives the same bytes: nothing was lost. */
            uint8_t again[COMMAND_BYTES_MAX];
            CHECK_EQ_INT(command_encode(&d, again), n);
            CHECK_EQ_MEM(buf, again, n);
            /* Every truncation is refused. */
            for (size_t cut = 0; cut < n; cut++) {
                CHECK_EQ_INT(command_decode(buf, cut, &d), 0);
            }
        }
    }
    memset(&c, 0, sizeof c);
    c.op = LEDGER_OP_TRANSFER;
    CHECK_EQ_INT(command_encode(&c, buf), 64); /* a plain transfer is 64 bytes */
    buf[0] = 200;                              /* unknown op */
    CHECK_EQ_INT(command_decode(buf, 64, &d), 0);
}
