/*
 * cli_bench.c: `jiaozi bench ledger`, the durable-throughput benchmark of DESIGN.md §10.
 *
 * It runs the real thing: a node in a temporary directory (fresh journal, fdatasync on),
 * the executor and journal threads, every ledger rule checked. Setup (not timed): an
 * operator, N wallets of mixed tiers, each funded by an exchange_in. Timed: M uniform random
 * p2p transfers between distinct wallets, submitted in requests of B transfers with a few
 * requests in flight, as a batching client would; the clock stops when the last transfer
 * is durable. Figures are printed as text or, with --json, as one JSON object.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "node.h"
#include "projector.h"

#define IN_FLIGHT 4
#define FUND_FEN 500000 /* 5,000 CNY: under every tier's balance cap, so credits mostly fit */

static const char bench_help[] =
    "usage: jiaozi bench ledger [--wallets N] [--transfers M] [--batch B] [--json]\n"
    "                          [--dir DIR] [--keep]\n"
    "Durable transfers/s of the executor + journal (fdatasync on) on a fresh data directory.\n"
    "  --wallets N    wallets, mixed tiers 1-4 (default 1000000)\n"
    "  --transfers M  uniform random p2p transfers, timed (default 10000000)\n"
    "  --batch B      transfers per request, at most 8190 (default 8190)\n"
    "  --dir DIR      parent of the temporary data directory (default $TMPDIR or /tmp)\n"
    "  --keep         keep the data directory (for `jiaozi audit verify`)\n"
    "  --history      also run the history projector, and report how fast it caught up\n"
    "  --json         print one JSON object\n";

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    return jz_mix64(r->s);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0;
    unsigned long long resident = 0;
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &resident) != 2) {
            resident = 0;
        }
        fclose(f);
    }
    return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void wallet_id(uint32_t i, jz_id *out)
{
    memset(out, 0, sizeof *out);
    uint64_t h = jz_mix64(i + 1);
    memcpy(out->b, &h, 8);
    memcpy(out->b + 8, &i, 4);
    out->b[15] = 0x77;
}

struct bench {
    node *node;
    executor *ex;
    uint32_t wallets;
    uint16_t operator_index;
    jz_id treasury;
    struct ledger_cmd *cmds[IN_FLIGHT];
    struct ledger_result *results[IN_FLIGHT];
    struct executor_request reqs[IN_FLIGHT];
    bool busy[IN_FLIGHT];
    uint64_t ok;
    uint64_t failed;
    uint64_t codes[JZ_RESULT_COUNT];
    struct rng rng;
    uint64_t next_id;
};

static int finish(struct bench *b, int slot)
{
    if (!b->busy[slot]) {
        return 0;
    }
    b->busy[slot] = false;
    if (executor_wait(&b->reqs[slot]) != 0) {
        fprintf(stderr, "jiaozi bench: the node failed (journal)\n");
        return -1;
    }
    for (uint32_t i = 0; i < b->reqs[slot].count; i++) {
        uint16_t code = b->results[slot][i].code;
        b->codes[code < JZ_RESULT_COUNT ? code : 0]++;
        if (code == JZ_OK) {
            b->ok++;
        } else {
            b->failed++;
        }
    }
    return 0;
}

static int submit(struct bench *b, int slot, uint32_t count)
{
    struct executor_request *r = &b->reqs[slot];
    r->cmds = b->cmds[slot];
    r->results = b->results[slot];
    r->count = count;
    r->query = NULL;
    if (executor_submit(b->ex, r) != 0) {
        /* Only a full queue can refuse here: wait for our own oldest request, then retry. */
        if (errno != EAGAIN || finish(b, (slot + 1) % IN_FLIGHT) != 0 ||
            executor_run(b->ex, r) != 0) {
            return -1;
        }
        b->busy[slot] = true;
        return 0;
    }
    b->busy[slot] = true;
    return 0;
}

/* Runs `total` commands produced by fill(b, cmd, index) in requests of `batch`. */
typedef void (*fill_fn)(struct bench *b, struct ledger_cmd *c, uint64_t index);

static int run_commands(struct bench *b, uint64_t total, uint32_t batch, fill_fn fill)
{
    uint64_t done = 0;
    int slot = 0;
    while (done < total) {
        if (finish(b, slot) != 0) {
            return -1;
        }
        uint32_t count = (uint32_t)(total - done < batch ? total - done : batch);
        for (uint32_t i = 0; i < count; i++) {
            fill(b, &b->cmds[slot][i], done + i);
        }
        if (submit(b, slot, count) != 0) {
            return -1;
        }
        done += count;
        slot = (slot + 1) % IN_FLIGHT;
    }
    for (int i = 0; i < IN_FLIGHT; i++) {
        if (finish(b, i) != 0) {
            return -1;
        }
    }
    return 0;
}

static void fill_open(struct bench *b, struct ledger_cmd *c, uint64_t i)
{
    memset(c, 0, sizeof *c);
    c->op = LEDGER_OP_WALLET_OPEN;
    c->actor = b->operator_index;
    c->kind = LEDGER_WALLET_PERSONAL;
    c->tier = (uint8_t)(1 + i % 4);
    c->form = LEDGER_FORM_SOFT;
    wallet_id((uint32_t)i, &c->id);
}

static void fill_fund(struct bench *b, struct ledger_cmd *c, uint64_t i)
{
    memset(c, 0, sizeof *c);
    c->op = LEDGER_OP_TRANSFER;
    c->actor = b->operator_index;
    c->kind = LEDGER_KIND_EXCHANGE_IN;
    c->debit = b->treasury;
    wallet_id((uint32_t)i, &c->credit);
    c->amount = FUND_FEN;
    uint64_t id = ++b->next_id;
    memcpy(c->id.b, &id, 8);
    c->id.b[15] = 0xf0;
}

static void fill_transfer(struct bench *b, struct ledger_cmd *c, uint64_t i)
{
    (void)i;
    uint64_t r = rng_next(&b->rng);
    uint32_t d = (uint32_t)((r & 0xffffffffu) % b->wallets);
    uint32_t k = (uint32_t)((r >> 32) % (b->wallets - 1));
    uint32_t cr = k >= d ? k + 1 : k;
    c->op = LEDGER_OP_TRANSFER;
    c->flags = 0;
    c->actor = b->operator_index;
    c->kind = LEDGER_KIND_P2P;
    wallet_id(d, &c->debit);
    wallet_id(cr, &c->credit);
    c->amount = 1 + (int64_t)(rng_next(&b->rng) % 1000);
    uint64_t id = ++b->next_id;
    memcpy(c->id.b, &id, 8);
    memcpy(c->id.b + 8, &r, 8);
}

struct setup_query {
    int operator_index;
    jz_id issuance;
    jz_id treasury;
    int64_t sum;
    int sum_rc;
    char why[160];
    int invariants;
};

static void query_setup(const ledger *l, void *ctx)
{
    struct setup_query *q = ctx;
    struct ledger_institution_view v;
    q->operator_index = ledger_institution_index(l, "bench");
    if (ledger_institution_get(l, "central", &v) == 0) {
        q->issuance = v.treasury;
    }
    if (ledger_institution_get(l, "bench", &v) == 0) {
        q->treasury = v.treasury;
    }
    q->sum_rc = ledger_balance_sum(l, &q->sum);
    q->invariants = ledger_check_invariants(l, q->why, sizeof q->why);
}

static int run_query(executor *ex, struct setup_query *q)
{
    struct executor_request r;
    executor_request_init(&r);
    r.query = query_setup;
    r.query_ctx = q;
    int rc = executor_run(ex, &r);
    executor_request_destroy(&r);
    return rc;
}

static int run_one(executor *ex, struct ledger_cmd *c)
{
    struct ledger_result res;
    struct executor_request r;
    executor_request_init(&r);
    r.cmds = c;
    r.results = &res;
    r.count = 1;
    int rc = executor_run(ex, &r);
    executor_request_destroy(&r);
    if (rc != 0 || res.code != JZ_OK) {
        fprintf(stderr, "jiaozi bench: setup command failed: %s\n",
                rc != 0 ? "journal" : jz_result_name(res.code));
        return -1;
    }
    return 0;
}

/* Operator "bench" with its treasury, and quota enough to fund every wallet. */
static int setup_operator(struct bench *b)
{
    struct setup_query q;
    struct ledger_cmd c;
    memset(&q, 0, sizeof q);
    memset(&c, 0, sizeof c);
    c.op = LEDGER_OP_INSTITUTION_CREATE;
    c.actor = 0;
    c.kind = LEDGER_INST_OPERATOR;
    strcpy(c.inst.s, "bench");
    memcpy(c.name, "Bench Bank", 10);
    c.name_len = 10;
    memset(c.debit.b, 0xbb, sizeof c.debit.b);
    if (run_one(b->ex, &c) != 0 || run_query(b->ex, &q) != 0 || q.operator_index < 0) {
        return -1;
    }
    b->operator_index = (uint16_t)q.operator_index;
    b->treasury = q.treasury;
    memset(&c, 0, sizeof c);
    c.op = LEDGER_OP_TRANSFER;
    c.kind = LEDGER_KIND_ISSUE;
    c.actor = 0;
    c.debit = q.issuance;
    c.credit = q.treasury;
    c.amount = (int64_t)b->wallets * FUND_FEN;
    memset(c.id.b, 0x11, sizeof c.id.b);
    return run_one(b->ex, &c);
}

struct figures {
    double seconds;
    uint64_t rss_before, rss_wallets, rss_end;
    struct executor_stats before, after;
};

static void print_figures(const struct bench *b, const struct figures *f, uint64_t transfers,
                          uint32_t batch, bool json, const struct setup_query *q)
{
    double tps = (double)transfers / f->seconds;
    uint64_t cmds = f->after.commands - f->before.commands;
    double jbytes = cmds ? (double)(f->after.journal_bytes - f->before.journal_bytes) / (double)cmds
                         : 0;
    double rss_w = (double)(f->rss_wallets - f->rss_before) / b->wallets;
    const char *cons = q->sum_rc == 0 && q->sum == 0 && q->invariants == 0 ? "ok" : "BROKEN";
    if (json) {
        printf("{\"bench\":\"ledger\",\"wallets\":%u,\"transfers\":%" PRIu64 ",\"batch\":%u,"
               "\"transfers_per_s\":%.0f,\"seconds\":%.3f,\"batch_p50_ms\":%.3f,"
               "\"batch_p99_ms\":%.3f,\"batch_max_ms\":%.3f,\"fsync_p50_ms\":%.3f,"
               "\"fsync_p99_ms\":%.3f,\"journal_bytes_per_transfer\":%.1f,"
               "\"rss_bytes_per_wallet\":%.1f,\"rss_total_bytes\":%" PRIu64 ",\"ok\":%" PRIu64
               ",\"failed\":%" PRIu64 ",\"conservation\":\"%s\"}\n",
               b->wallets, transfers, batch, tps, f->seconds, f->after.batch_p50_us / 1e3,
               f->after.batch_p99_us / 1e3, f->after.batch_max_us / 1e3,
               f->after.sync_p50_us / 1e3, f->after.sync_p99_us / 1e3, jbytes, rss_w, f->rss_end,
               b->ok, b->failed, cons);
        return;
    }
    printf("jiaozi bench ledger: %u wallets, %" PRIu64 " transfers in requests of %u\n",
           b->wallets, transfers, batch);
    printf("  durable transfers/s   %.0f  (%.3f s)\n", tps, f->seconds);
    printf("  batch latency         p50 %.3f ms  p99 %.3f ms  max %.3f ms\n",
           f->after.batch_p50_us / 1e3, f->after.batch_p99_us / 1e3, f->after.batch_max_us / 1e3);
    printf("  fdatasync             p50 %.3f ms  p99 %.3f ms\n", f->after.sync_p50_us / 1e3,
           f->after.sync_p99_us / 1e3);
    printf("  journal bytes/transfer %.1f\n", jbytes);
    printf("  resident bytes/wallet %.1f  (total RSS %.1f MiB)\n", rss_w, f->rss_end / 1048576.0);
    printf("  results               %" PRIu64 " posted, %" PRIu64 " refused", b->ok, b->failed);
    for (int c = 1; c < JZ_RESULT_COUNT; c++) {
        if (b->codes[c]) {
            printf(", %s %" PRIu64, jz_result_name(c), b->codes[c]);
        }
    }
    printf("\n  conservation          %s\n", cons);
}

/* How long the history projector needed, after the timed run, to hold everything durable. */
static void report_projector(node *n, uint64_t transfers, double run_seconds, bool json)
{
    struct projector *p = node_projector(n);
    double start = mono_s();
    uint64_t head = executor_durable_seq(node_executor(n));
    while (projector_projected_seq(p) < head) {
        projector_wait(p, head, 1000);
    }
    double lag = mono_s() - start;
    double rate = (double)transfers / (run_seconds + lag);
    if (json) {
        printf("{\"projector_catch_up_s\":%.3f,\"projector_transfers_per_s\":%.0f}\n", lag, rate);
    } else {
        printf("  history projector     caught up %.3f s after the run: about %.0f transfers/s\n",
               lag, rate);
    }
}

static int remove_tree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    return system(cmd);
}

static int bench_alloc(struct bench *b)
{
    for (int i = 0; i < IN_FLIGHT; i++) {
        b->cmds[i] = calloc(JZ_BATCH_MAX, sizeof *b->cmds[i]);
        b->results[i] = calloc(JZ_BATCH_MAX, sizeof *b->results[i]);
        executor_request_init(&b->reqs[i]);
        if (!b->cmds[i] || !b->results[i]) {
            return -1;
        }
    }
    return 0;
}

static void bench_free(struct bench *b)
{
    for (int i = 0; i < IN_FLIGHT; i++) {
        free(b->cmds[i]);
        free(b->results[i]);
        executor_request_destroy(&b->reqs[i]);
    }
}

/* Setup, the timed run, and the closing check. */
static int bench_run(struct bench *b, uint64_t transfers, uint32_t batch, struct figures *f,
                     struct setup_query *q)
{
    if (setup_operator(b) != 0) {
        return -1;
    }
    f->rss_before = rss_bytes();
    if (run_commands(b, b->wallets, JZ_BATCH_MAX, fill_open) != 0 || b->failed != 0) {
        fprintf(stderr, "jiaozi bench: opening wallets failed\n");
        return -1;
    }
    f->rss_wallets = rss_bytes();
    if (run_commands(b, b->wallets, JZ_BATCH_MAX, fill_fund) != 0 || b->failed != 0) {
        fprintf(stderr, "jiaozi bench: funding wallets failed\n");
        return -1;
    }
    b->ok = b->failed = 0;
    memset(b->codes, 0, sizeof b->codes);
    executor_get_stats(b->ex, &f->before);
    double start = mono_s();
    if (run_commands(b, transfers, batch, fill_transfer) != 0) {
        return -1;
    }
    f->seconds = mono_s() - start;
    executor_get_stats(b->ex, &f->after);
    f->rss_end = rss_bytes();
    return run_query(b->ex, q);
}

int cli_bench(int argc, char **argv)
{
    static const char *const known[] = {"--wallets", "--transfers", "--batch", "--dir", NULL};
    static const char *const flags[] = {"--json", "--keep", "--history", "--help", NULL};
    if (argc >= 1 && strcmp(argv[0], "tokens") == 0) {
        return cli_bench_tokens(argc - 1, argv + 1);
    }
    if (argc < 1 || strcmp(argv[0], "ledger") != 0 || cli_flag(argc, argv, "--help")) {
        fputs(bench_help, argc >= 1 && cli_flag(argc, argv, "--help") ? stdout : stderr);
        return cli_flag(argc, argv, "--help") ? 0 : 2;
    }
    argc--;
    argv++;
    if (cli_check_options(argc, argv, known, flags) != 0) {
        return 2;
    }
    struct bench b;
    memset(&b, 0, sizeof b);
    b.wallets = (uint32_t)cli_opt_u64(argc, argv, "--wallets", 1000000, 100000000);
    uint64_t transfers = cli_opt_u64(argc, argv, "--transfers", 10000000, 1000000000);
    uint32_t batch = (uint32_t)cli_opt_u64(argc, argv, "--batch", JZ_BATCH_MAX, JZ_BATCH_MAX);
    bool json = cli_flag(argc, argv, "--json");
    if (b.wallets < 2 || batch < 1 || transfers < 1) {
        fprintf(stderr, "jiaozi bench: need at least 2 wallets, 1 transfer, batch >= 1\n");
        return 2;
    }
    const char *parent = cli_opt(argc, argv, "--dir");
    if (!parent) {
        parent = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/jiaozi-bench-XXXXXX", parent);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "jiaozi bench: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    struct node_config cfg;
    node_config_default(&cfg);
    cfg.wallets_max = b.wallets + 16;
    cfg.transfers_max = (uint32_t)(transfers + b.wallets + 1024);
    cfg.holds_max = 1024;
    cfg.snapshot_every = 0;
    char err[1024];
    struct node_options opt = {.dir = dir, .history = cli_flag(argc, argv, "--history")};
    struct figures f;
    struct setup_query q;
    memset(&f, 0, sizeof f);
    memset(&q, 0, sizeof q);
    b.rng.s = 0x6a69616f7a69ULL; /* fixed seed: "jiaozi" */
    int rc = 1;
    if (bench_alloc(&b) != 0) {
        fprintf(stderr, "jiaozi bench: out of memory\n");
    } else if (node_init(dir, &cfg, err, sizeof err) != 0 ||
               node_open(&opt, &b.node, err, sizeof err) != 0) {
        fprintf(stderr, "jiaozi bench: %s\n", err);
    } else {
        b.ex = node_executor(b.node);
        if (bench_run(&b, transfers, batch, &f, &q) == 0) {
            print_figures(&b, &f, transfers, batch, json, &q);
            rc = q.sum == 0 && q.invariants == 0 ? 0 : 1;
            if (opt.history) {
                report_projector(b.node, transfers, f.seconds, json);
            }
        }
        if (node_close(b.node, false) != 0) {
            rc = 1;
        }
    }
    bench_free(&b);
    if (cli_flag(argc, argv, "--keep")) {
        fprintf(stderr, "data directory kept: %s\n", dir);
    } else {
        remove_tree(dir);
    }
    return rc;
}
