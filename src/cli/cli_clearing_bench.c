/*
 * cli_clearing_bench.c: `jiaozi clearing bench`, the clearing benchmark of issue 8: clearing a
 * cycle of 10,000,000 payments among 50 institutions.
 *
 * Setup (not timed, but reported): a node in a temporary directory, K operators each with
 * customers and merchants of several categories, funded; P payments (with some bills and
 * refunds) from a random customer to a random merchant of another institution, posted through
 * the executor in batches of 8,190 (every ledger rule checked, fdatasync per batch), then a
 * cut-off note. Timed: what a cut-off costs, from a fresh clearing.db: reading the cycle from
 * the journal, fees per item, netting, and a signed CSV and JSON file per institution, all
 * stored. Then, separately, one institution's item detail file (re-read from the journal).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_clearing.h"
#include "clearing_cycle.h"
#include "node.h"

static const char bench_help[] =
    "usage: jiaozi clearing bench [--payments N] [--institutions K] [--customers C]\n"
    "                             [--merchants M] [--dir DIR] [--keep]\n"
    "Times the close of one clearing cycle read from a real journal.\n"
    "  --payments N      cross-institution payments in the cycle (default 10000000)\n"
    "  --institutions K  operators (default 50)\n"
    "  --customers C     customer wallets per operator (default 200)\n"
    "  --merchants M     merchant wallets per operator (default 20)\n"
    "  --dir DIR         parent of the temporary data directory (default $TMPDIR or /tmp)\n"
    "  --keep            keep the data directory\n";

#define IN_FLIGHT 2
#define CUSTOMER_FUND 1000000000LL /* 10,000,000 CNY: no payment of the run is refused */

struct cbench {
    executor *ex;
    uint32_t ops, customers, merchants;
    uint64_t rng;
    uint64_t next_id;
    jz_id issuance;
    struct ledger_cmd *cmds[IN_FLIGHT];
    struct ledger_result *res[IN_FLIGHT];
    struct executor_request reqs[IN_FLIGHT];
    bool busy[IN_FLIGHT];
    uint64_t posted, refused;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t next_random(struct cbench *b)
{
    b->rng += 0x9e3779b97f4a7c15ULL;
    return jz_mix64(b->rng);
}

/* Wallet ids: kind tag, operator, number. */
static jz_id bench_wallet(char tag, uint32_t op, uint32_t i)
{
    jz_id id;
    memset(&id, 0, sizeof id);
    id.b[0] = (uint8_t)tag;
    memcpy(id.b + 4, &op, 4);
    memcpy(id.b + 8, &i, 4);
    id.b[15] = 0xcb;
    return id;
}

static void fresh_id(struct cbench *b, jz_id *id)
{
    uint64_t n = ++b->next_id;
    uint64_t h = jz_mix64(n);
    memcpy(id->b, &n, 8);
    memcpy(id->b + 8, &h, 8);
}

/* Waits for slot's request and counts its results. */
static int drain(struct cbench *b, int slot)
{
    if (!b->busy[slot]) {
        return 0;
    }
    b->busy[slot] = false;
    if (executor_wait(&b->reqs[slot]) != 0) {
        return -1;
    }
    for (uint32_t i = 0; i < b->reqs[slot].count; i++) {
        if (b->res[slot][i].code == JZ_OK) {
            b->posted++;
        } else {
            b->refused++;
        }
    }
    return 0;
}

typedef void (*make_fn)(struct cbench *b, struct ledger_cmd *c, uint64_t i);

/* Posts total commands made by make, in requests of up to JZ_BATCH_MAX, IN_FLIGHT at once. */
static int post_all(struct cbench *b, uint64_t total, make_fn make)
{
    int slot = 0;
    for (uint64_t done = 0; done < total; slot = (slot + 1) % IN_FLIGHT) {
        if (drain(b, slot) != 0) {
            return -1;
        }
        uint32_t n = (uint32_t)(total - done < JZ_BATCH_MAX ? total - done : JZ_BATCH_MAX);
        for (uint32_t i = 0; i < n; i++) {
            memset(&b->cmds[slot][i], 0, sizeof b->cmds[slot][i]);
            make(b, &b->cmds[slot][i], done + i);
        }
        struct executor_request *r = &b->reqs[slot];
        r->cmds = b->cmds[slot];
        r->results = b->res[slot];
        r->count = n;
        while (executor_submit(b->ex, r) != 0) {
            if (errno != EAGAIN || drain(b, (slot + 1) % IN_FLIGHT) != 0) {
                return -1;
            }
        }
        b->busy[slot] = true;
        done += n;
    }
    for (int i = 0; i < IN_FLIGHT; i++) {
        if (drain(b, i) != 0) {
            return -1;
        }
    }
    return 0;
}

static void make_institution(struct cbench *b, struct ledger_cmd *c, uint64_t i)
{
    (void)b;
    c->op = LEDGER_OP_INSTITUTION_CREATE;
    c->kind = LEDGER_INST_OPERATOR;
    snprintf(c->inst.s, sizeof c->inst.s, "bank%02u", (unsigned)(i + 1));
    c->name_len = (uint8_t)strlen(c->inst.s);
    memcpy(c->name, c->inst.s, c->name_len);
    c->debit = bench_wallet('T', (uint32_t)i + 1, 0);
}

static void make_quota(struct cbench *b, struct ledger_cmd *c, uint64_t i)
{
    c->op = LEDGER_OP_TRANSFER;
    c->kind = LEDGER_KIND_ISSUE;
    c->debit = b->issuance;
    c->credit = bench_wallet('T', (uint32_t)i + 1, 0);
    c->amount = (int64_t)(b->customers + b->merchants) * CUSTOMER_FUND;
    fresh_id(b, &c->id);
}

/* Wallet i of the run: customers first, then merchants, operator by operator. */
struct run_wallet {
    uint32_t op, k;
    bool merchant;
    jz_id id;
};

static struct run_wallet wallet_of(const struct cbench *b, uint64_t i)
{
    uint32_t per = b->customers + b->merchants;
    uint32_t r = (uint32_t)(i % per);
    struct run_wallet w = {.op = (uint32_t)(i / per) + 1, .merchant = r >= b->customers};
    w.k = w.merchant ? r - b->customers : r;
    w.id = bench_wallet(w.merchant ? 'M' : 'C', w.op, w.k);
    return w;
}

static void make_wallet(struct cbench *b, struct ledger_cmd *c, uint64_t i)
{
    static const uint16_t mccs[] = {5411, 5812, 5999, 4900, 4814, 5541, 7011, 8211};
    struct run_wallet w = wallet_of(b, i);
    c->op = LEDGER_OP_WALLET_OPEN;
    c->actor = (uint16_t)w.op;
    c->kind = w.merchant ? LEDGER_WALLET_MERCHANT : LEDGER_WALLET_PERSONAL;
    c->tier = 1;
    c->form = LEDGER_FORM_SOFT;
    c->mcc = w.merchant ? mccs[w.k % JZ_ARRAY_LEN(mccs)] : 0;
    c->id = w.id;
}

/* Each wallet gets CUSTOMER_FUND from its operator's treasury. */
static void make_funding(struct cbench *b, struct ledger_cmd *c, uint64_t i)
{
    struct run_wallet w = wallet_of(b, i);
    c->op = LEDGER_OP_TRANSFER;
    c->actor = (uint16_t)w.op;
    c->kind = LEDGER_KIND_EXCHANGE_IN;
    c->debit = bench_wallet('T', w.op, 0);
    c->credit = w.id;
    c->amount = CUSTOMER_FUND;
    fresh_id(b, &c->id);
}

/* 90% payments, 8% bills, 2% refunds, always between two institutions. */
static void make_payment(struct cbench *b, struct ledger_cmd *c, uint64_t i)
{
    (void)i;
    uint64_t r = next_random(b);
    uint32_t payer = (uint32_t)(r % b->ops) + 1;
    uint32_t step = 1 + (uint32_t)((r >> 8) % (b->ops - 1));
    uint32_t payee = (payer - 1 + step) % b->ops + 1;
    jz_id cust = bench_wallet('C', payer, (uint32_t)((r >> 20) % b->customers));
    jz_id merch = bench_wallet('M', payee, (uint32_t)((r >> 40) % b->merchants));
    uint32_t kind = (uint32_t)(r >> 56) % 100;
    c->op = LEDGER_OP_TRANSFER;
    c->amount = 1 + (int64_t)(next_random(b) % 20000);
    c->kind = kind < 90 ? LEDGER_KIND_PAYMENT : kind < 98 ? LEDGER_KIND_BILL : LEDGER_KIND_REFUND;
    bool refund = c->kind == LEDGER_KIND_REFUND;
    c->actor = (uint16_t)(refund ? payee : payer);
    c->debit = refund ? merch : cust;
    c->credit = refund ? cust : merch;
    fresh_id(b, &c->id);
}

static void read_issuance(const ledger *l, void *ctx)
{
    struct ledger_institution_view v;
    if (ledger_institution_get(l, "central", &v) == 0) {
        *(jz_id *)ctx = v.treasury;
    }
}

static int setup(struct cbench *b, uint64_t payments, double *post_s)
{
    struct executor_request q;
    executor_request_init(&q);
    q.query = read_issuance;
    q.query_ctx = &b->issuance;
    int rc = executor_run(b->ex, &q);
    executor_request_destroy(&q);
    uint64_t wallets = (uint64_t)b->ops * (b->customers + b->merchants);
    if (rc != 0 || post_all(b, b->ops, make_institution) != 0 ||
        post_all(b, b->ops, make_quota) != 0 || post_all(b, wallets, make_wallet) != 0 ||
        post_all(b, wallets, make_funding) != 0 || b->refused != 0) {
        fprintf(stderr, "jiaozi clearing bench: setting up institutions and wallets failed\n");
        return -1;
    }
    b->posted = 0;
    double t0 = now_s();
    if (post_all(b, payments, make_payment) != 0) {
        fprintf(stderr, "jiaozi clearing bench: the node failed while posting payments\n");
        return -1;
    }
    *post_s = now_s() - t0;
    return 0;
}

/* The timed part: a fresh engine closes the cycle; then one institution's item file. */
static int measure(const char *dir, node *n, uint64_t payments, uint32_t ops)
{
    char path[1200];
    char err[1024];
    snprintf(path, sizeof path, "%s/clearing.db", dir);
    store_clearing *st = NULL;
    clearing_engine *e = NULL;
    uint8_t sm3[32];
    if (store_clearing_open(path, &st, err, sizeof err) != 0 ||
        clearing_engine_open(dir, st, &e, err, sizeof err) != 0) {
        fprintf(stderr, "jiaozi clearing bench: %s\n", err);
        store_clearing_close(st);
        return -1;
    }
    (void)clearing_engine_fees(e, sm3);
    executor *ex = node_executor(n);
    int rc = clearing_cutoff_submit(ex, CLEARING_TRIGGER_DEMAND, sm3, 1);
    uint64_t closed = 0;
    double t0 = now_s();
    if (rc == 0) {
        rc = clearing_engine_catch_up(e, executor_durable_seq(ex), node_signing_key(n), &closed,
                                      err, sizeof err);
    }
    double close_s = now_s() - t0;
    struct clearing_cycle_info cy;
    if (rc != 0 || closed != 1 || clearing_engine_cycle_info(e, 1, &cy) != 0) {
        fprintf(stderr, "jiaozi clearing bench: closing the cycle failed: %s\n", err);
        rc = -1;
    } else if (cy.items != payments || cy.status != JZ_OK) {
        fprintf(stderr,
                "jiaozi clearing bench: the cycle holds %" PRIu64 " items, not %" PRIu64 "\n",
                cy.items, payments);
        rc = -1;
    }
    char *body = NULL;
    uint8_t *sig = NULL;
    size_t len = 0;
    size_t sig_len = 0;
    t0 = now_s();
    if (rc == 0 && clearing_engine_file(e, 1, 1, "items.csv", node_signing_key(n), &body, &len,
                                        &sig, &sig_len, err, sizeof err) != 0) {
        fprintf(stderr, "jiaozi clearing bench: the item file failed: %s\n", err);
        rc = -1;
    }
    double items_s = now_s() - t0;
    if (rc == 0) {
        printf("  cycle closed          %.3f s: %.0f payments/s (journal read, fees, netting,\n"
               "                        %u signed CSV + JSON files stored); %" PRIu64
               " items, positions sum to 0\n",
               close_s, (double)payments / close_s, 2 * (ops + 1), cy.items);
        printf("  item file of bank01   %.3f s: %zu bytes, re-read from the journal and signed\n",
               items_s, len);
    }
    free(body);
    free(sig);
    clearing_engine_free(e);
    store_clearing_close(st);
    return rc;
}

int cli_clearing_bench(int argc, char **argv)
{
    static const char *const known[] = {"--payments",  "--institutions", "--customers",
                                        "--merchants", "--dir",          NULL};
    static const char *const flags[] = {"--keep", "--help", NULL};
    if (cli_flag(argc, argv, "--help")) {
        fputs(bench_help, stdout);
        return 0;
    }
    if (cli_check_options(argc, argv, known, flags) != 0) {
        return 2;
    }
    struct cbench b;
    memset(&b, 0, sizeof b);
    uint64_t payments = cli_opt_u64(argc, argv, "--payments", 10000000, 1000000000);
    b.ops = (uint32_t)cli_opt_u64(argc, argv, "--institutions", 50, JZ_INSTITUTIONS_MAX - 1);
    b.customers = (uint32_t)cli_opt_u64(argc, argv, "--customers", 200, 1000000);
    b.merchants = (uint32_t)cli_opt_u64(argc, argv, "--merchants", 20, 1000000);
    b.rng = 0x636c656172ULL; /* fixed seed: "clear" */
    if (b.ops < 2 || b.customers < 1 || b.merchants < 1 || payments < 1) {
        fprintf(stderr, "jiaozi clearing bench: need 2 institutions, a customer, a merchant, "
                        "a payment\n");
        return 2;
    }
    const char *parent = cli_opt(argc, argv, "--dir");
    parent = parent ? parent : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/jiaozi-clearing-XXXXXX", parent);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "jiaozi clearing bench: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    uint64_t wallets = (uint64_t)b.ops * (b.customers + b.merchants);
    struct node_config cfg;
    node_config_default(&cfg);
    cfg.wallets_max = (uint32_t)(wallets + 64);
    cfg.transfers_max = (uint32_t)(payments + wallets + 1024);
    cfg.holds_max = 1024;
    cfg.snapshot_every = 0;
    char err[1024];
    node *n = NULL;
    struct node_options opt = {.dir = dir};
    int rc = 1;
    for (int i = 0; i < IN_FLIGHT; i++) {
        b.cmds[i] = calloc(JZ_BATCH_MAX, sizeof *b.cmds[i]);
        b.res[i] = calloc(JZ_BATCH_MAX, sizeof *b.res[i]);
        executor_request_init(&b.reqs[i]);
    }
    double post_s = 0;
    if (!b.cmds[0] || !b.cmds[1] || !b.res[0] || !b.res[1]) {
        fprintf(stderr, "jiaozi clearing bench: out of memory\n");
    } else if (node_init(dir, &cfg, err, sizeof err) != 0 ||
               node_open(&opt, &n, err, sizeof err) != 0) {
        fprintf(stderr, "jiaozi clearing bench: %s\n", err);
    } else {
        b.ex = node_executor(n);
        if (setup(&b, payments, &post_s) == 0) {
            printf("jiaozi clearing bench: %" PRIu64 " payments among %u institutions "
                   "(%" PRIu64 " wallets)\n",
                   payments, b.ops, wallets);
            printf("  setup                 %" PRIu64 " posted, %" PRIu64 " refused, in %.1f s "
                   "through the executor (not timed below)\n",
                   b.posted, b.refused, post_s);
            rc = measure(dir, n, b.posted, b.ops) == 0 ? 0 : 1;
        }
        if (node_close(n, false) != 0) {
            rc = 1;
        }
    }
    for (int i = 0; i < IN_FLIGHT; i++) {
        free(b.cmds[i]);
        free(b.res[i]);
        executor_request_destroy(&b.reqs[i]);
    }
    if (cli_flag(argc, argv, "--keep")) {
        fprintf(stderr, "data directory kept: %s\n", dir);
    } else {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
        rc |= system(cmd) != 0;
    }
    return rc;
}
