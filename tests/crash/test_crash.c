/*
 * test_crash.c: kill -9 at random moments. A child process recovers the node and runs a
 * deterministic stream of transfers, reporting over a pipe how far the stream is
 * acknowledged (durable). The parent kills it with SIGKILL at a random moment, recovers the
 * node itself and checks: every acknowledged transfer is present, the transfers present
 * are exactly a prefix of the stream (none lost in between, none applied twice: every
 * wallet's balance equals what that prefix implies), and conservation holds. Then the next
 * child carries on from there. `--kills N` sets the number of kills (default 50).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#define WALLETS 500
#define FUND 1000000000LL
#define REQ_MAX 64
#define IN_FLIGHT 4
#define SEED 0x6b696c6cULL

/* Request r of the stream covers transfers [start(r), start(r) + size(r)). */
static uint32_t request_size(uint64_t r)
{
    return 1 + (uint32_t)(jz_mix64(SEED + r) % REQ_MAX);
}

static void child_main(const char *dir, uint64_t start, int fd)
{
    node *n = NULL;
    char err[512];
    struct node_options opt = {.dir = dir};
    if (node_open(&opt, &n, err, sizeof err) != 0) {
        fprintf(stderr, "child: node_open: %s\n", err);
        _exit(3);
    }
    executor *ex = node_executor(n);
    static struct ledger_cmd cmds[IN_FLIGHT][REQ_MAX];
    static struct ledger_result res[IN_FLIGHT][REQ_MAX];
    struct executor_request reqs[IN_FLIGHT];
    uint64_t ends[IN_FLIGHT];
    uint64_t next = start;
    for (uint64_t r = 0;; r++) {
        int slot = (int)(r % IN_FLIGHT);
        if (r >= IN_FLIGHT) {
            if (executor_wait(&reqs[slot]) != 0) {
                _exit(4);
            }
            executor_request_destroy(&reqs[slot]);
            if (write(fd, &ends[slot], sizeof ends[slot]) != sizeof ends[slot]) {
                _exit(5);
            }
        }
        uint32_t size = request_size(next);
        for (uint32_t i = 0; i < size; i++) {
            sup_workload_transfer(SEED, next + i, WALLETS, &cmds[slot][i]);
        }
        executor_request_init(&reqs[slot]);
        reqs[slot].cmds = cmds[slot];
        reqs[slot].results = res[slot];
        reqs[slot].count = size;
        next += size;
        ends[slot] = next;
        while (executor_submit(ex, &reqs[slot]) != 0) {
            if (errno != EAGAIN) {
                _exit(6);
            }
        }
    }
}

/* Reads acknowledgements until the pipe closes or `deadline_ms` passes; keeps the largest. */
static void drain(int fd, uint64_t *acked, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, timeout_ms) > 0) {
        uint64_t v;
        ssize_t got = read(fd, &v, sizeof v);
        if (got != sizeof v) {
            return;
        }
        if (v > *acked) {
            *acked = v;
        }
    }
}

/* Expected balances after the first `count` transfers of the stream. */
static void advance_expected(int64_t *expected, uint64_t from, uint64_t to)
{
    for (uint64_t k = from; k < to; k++) {
        struct ledger_cmd c;
        sup_workload_transfer(SEED, k, WALLETS, &c);
        uint32_t d;
        uint32_t cr;
        memcpy(&d, c.debit.b + 4, 4);
        memcpy(&cr, c.credit.b + 4, 4);
        expected[d] -= c.amount;
        expected[cr] += c.amount;
    }
}

/* Recovers dir and checks it against the stream; returns the prefix length present. */
static uint64_t verify(const char *dir, uint64_t prev, uint64_t acked, int64_t *expected)
{
    ledger *l = NULL;
    uint64_t head = 0;
    char err[512];
    if (node_recover_ledger(dir, &l, &head, err, sizeof err) != 0) {
        test_fail(__FILE__, __LINE__, "recovery failed: %s", err);
        return prev;
    }
    uint64_t present = prev;
    struct ledger_result r;
    struct ledger_cmd c;
    for (;; present++) {
        sup_workload_transfer(SEED, present, WALLETS, &c);
        if (ledger_transfer_result(l, &c.id, &r) != 0) {
            break;
        }
        CHECK_EQ_INT(r.code, JZ_OK);
    }
    CHECK(present >= acked); /* nothing acknowledged is lost */
    uint32_t holes = 0;
    for (uint64_t k = present; k < present + 8 * REQ_MAX; k++) {
        sup_workload_transfer(SEED, k, WALLETS, &c);
        holes += ledger_transfer_result(l, &c.id, &r) == 0;
    }
    CHECK_EQ_INT(holes, 0); /* exactly a prefix */
    advance_expected(expected, prev, present);
    uint32_t wrong = 0;
    for (uint32_t w = 0; w < WALLETS; w++) {
        struct ledger_wallet_view v;
        jz_id id = sup_id('W', w, 0);
        wrong += ledger_wallet_get(l, &id, 0, &v) != 0 || v.balance != expected[w];
    }
    CHECK_EQ_INT(wrong, 0); /* nothing applied twice, nothing half-applied */
    CHECK_EQ_INT(ledger_check_invariants(l, NULL, 0), 0);
    ledger_free(l);
    return present;
}

TEST(crash_kill9_loses_nothing_acknowledged)
{
    long kills = test_opt_long("--kills", 50);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/n", test_tmpdir());
    REQUIRE(sup_make_node(dir, WALLETS, FUND, 64) == 0);
    static int64_t expected[WALLETS];
    for (int i = 0; i < WALLETS; i++) {
        expected[i] = FUND;
    }
    uint64_t present = 0;
    uint64_t seed = test_seed();
    for (long k = 0; k < kills && !test_failed(); k++) {
        int fds[2];
        REQUIRE(pipe(fds) == 0);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child_main(dir, present, fds[1]);
        }
        close(fds[1]);
        uint64_t acked = 0;
        drain(fds[0], &acked, 0);
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        CHECK(poll(&p, 1, 20000) == 1); /* the child recovered and acknowledged something */
        struct timespec pause = {0, (long)(jz_mix64(seed + (uint64_t)k) % 40000000)};
        nanosleep(&pause, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        drain(fds[0], &acked, 100);
        close(fds[0]);
        uint64_t before = present;
        present = verify(dir, present, acked, expected);
        CHECK(present > before || acked == 0);
    }
    printf("  crash test: %ld kills, %llu transfers durable at the end\n", kills,
           (unsigned long long)present);
}
