/*
 * cli_demo.c: `jiaozi demo`, a small city pilot run on the ledger through the executor and
 * journal, ending with a summary table. (The HTTP API and console join it when they land.)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "crypto.h"
#include "journal.h"
#include "node.h"

static const char demo_help[] =
    "usage: jiaozi demo [--data DIR] [--wallets N]\n"
    "Initialises DIR (default ./jiaozi-data) if needed and runs a small pilot: three\n"
    "operators with quota, N wallets each (default 2000) across tiers, exchange-in, p2p,\n"
    "merchant payments, a hold captured and one voided, refused payments over the limits.\n"
    "Prints what happened, checks conservation and verifies the journal. Each operator's API\n"
    "credentials are written to DIR/credentials/ID.json (mode 0600). Run it again and every\n"
    "command replays: nothing is applied twice.\n";

struct demo {
    node *node;
    const char *dir;
    executor *ex;
    uint64_t posted;
    uint64_t refused;
    uint64_t codes[JZ_RESULT_COUNT];
};

static void demo_id(jz_id *id, uint8_t tag, uint32_t a, uint32_t b)
{
    memset(id, 0, sizeof *id);
    id->b[0] = tag;
    memcpy(id->b + 4, &a, 4);
    memcpy(id->b + 8, &b, 4);
}

static int demo_run_results(struct demo *d, struct ledger_cmd *cmds, uint32_t n,
                            struct ledger_result *out)
{
    struct ledger_result *res = calloc(n, sizeof *res);
    struct executor_request r;
    if (!res) {
        return -1;
    }
    executor_request_init(&r);
    r.cmds = cmds;
    r.results = res;
    r.count = n;
    int rc = executor_run(d->ex, &r);
    executor_request_destroy(&r);
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        d->codes[res[i].code]++;
        if (res[i].code == JZ_OK) {
            d->posted++;
        } else {
            d->refused++;
        }
    }
    if (out && rc == 0) {
        memcpy(out, res, n * sizeof *res);
    }
    free(res);
    return rc;
}

static int demo_run(struct demo *d, struct ledger_cmd *cmds, uint32_t n)
{
    return demo_run_results(d, cmds, n, NULL);
}

struct demo_view {
    int index[3];
    jz_id issuance;
    jz_id treasury[3];
    int64_t sum;
    int invariants;
    uint32_t wallets;
    uint64_t transfers;
};

static const char *const operators[3] = {"icbc", "ccb", "alipay"};

static void demo_query(const ledger *l, void *ctx)
{
    struct demo_view *v = ctx;
    struct ledger_institution_view iv;
    if (ledger_institution_get(l, "central", &iv) == 0) {
        v->issuance = iv.treasury;
    }
    for (int i = 0; i < 3; i++) {
        v->index[i] = ledger_institution_index(l, operators[i]);
        if (ledger_institution_get(l, operators[i], &iv) == 0) {
            v->treasury[i] = iv.treasury;
        }
    }
    if (ledger_balance_sum(l, &v->sum) != 0) {
        v->sum = -1;
    }
    v->invariants = ledger_check_invariants(l, NULL, 0);
    v->wallets = ledger_wallet_count(l);
    v->transfers = ledger_transfer_count(l);
}

static int demo_view_get(struct demo *d, struct demo_view *v)
{
    struct executor_request r;
    executor_request_init(&r);
    r.query = demo_query;
    r.query_ctx = v;
    int rc = executor_run(d->ex, &r);
    executor_request_destroy(&r);
    return rc;
}

static struct ledger_cmd transfer_cmd(uint16_t actor, uint8_t kind, const jz_id *debit,
                                      const jz_id *credit, int64_t amount, const jz_id *id)
{
    struct ledger_cmd c;
    memset(&c, 0, sizeof c);
    c.op = LEDGER_OP_TRANSFER;
    c.actor = actor;
    c.kind = kind;
    c.debit = *debit;
    c.credit = *credit;
    c.amount = amount;
    c.id = *id;
    return c;
}

/* DIR/credentials/ID.json (mode 0600): what `jiaozi --credentials` and the SDK read. */
static int write_credentials(const char *dir, const char *inst, const jz_id *key_id,
                             const uint8_t secret[NODE_SECRET_BYTES])
{
    char path[4096];
    char key[33];
    char hex[2 * NODE_SECRET_BYTES + 1];
    snprintf(path, sizeof path, "%s/credentials", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/credentials/%s.json", dir, inst);
    jz_id_to_hex(key_id, key);
    jz_hex_encode(secret, NODE_SECRET_BYTES, hex);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int rc = f && fprintf(f, "{\"institution\":\"%s\",\"key_id\":\"%s\",\"secret\":\"%s\","
                             "\"url\":\"http://127.0.0.1:8080\"}\n", inst, key, hex) > 0 ? 0 : -1;
    crypto_wipe(hex, sizeof hex);
    if (f ? fclose(f) != 0 : (fd >= 0 && close(fd) != 0)) {
        rc = -1;
    }
    return rc;
}

static int demo_institutions(struct demo *d, struct demo_view *v, uint32_t wallets)
{
    struct ledger_cmd c[3];
    static const char *const names[3] = {"ICBC Chengdu", "CCB Chengdu", "Alipay"};
    for (int i = 0; i < 3; i++) {
        uint8_t secret[NODE_SECRET_BYTES];
        struct ledger_result r;
        memset(&c[i], 0, sizeof c[i]);
        c[i].op = LEDGER_OP_INSTITUTION_CREATE;
        c[i].kind = LEDGER_INST_OPERATOR;
        strcpy(c[i].inst.s, operators[i]);
        c[i].name_len = (uint8_t)strlen(names[i]);
        memcpy(c[i].name, names[i], c[i].name_len);
        node_treasury_id(operators[i], &c[i].debit);
        int rc = node_new_credentials(d->node, &c[i].key_id, secret, c[i].sealed);
        rc = rc == 0 ? demo_run_results(d, &c[i], 1, &r) : rc;
        /* A first run writes the operator's credentials; a rerun replays and keeps them. */
        if (rc == 0 && r.code == JZ_OK && !r.replayed) {
            rc = write_credentials(d->dir, operators[i], &c[i].key_id, secret);
        }
        crypto_wipe(secret, sizeof secret);
        if (rc != 0) {
            return -1;
        }
    }
    if (demo_view_get(d, v) != 0) {
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        jz_id id;
        demo_id(&id, 'Q', (uint32_t)i, 0);
        c[i] = transfer_cmd(0, LEDGER_KIND_ISSUE, &v->issuance, &v->treasury[i],
                            (int64_t)wallets * 400000, &id);
    }
    return demo_run(d, c, 3);
}

/* Opens and funds `wallets` wallets per operator (tiers 1-4 in turn, every 50th a merchant). */
static int demo_wallets(struct demo *d, const struct demo_view *v, uint32_t wallets)
{
    struct ledger_cmd *c = calloc(wallets, sizeof *c);
    int rc = c ? 0 : -1;
    for (int op = 0; rc == 0 && op < 3; op++) {
        for (uint32_t i = 0; i < wallets; i++) {
            memset(&c[i], 0, sizeof c[i]);
            c[i].op = LEDGER_OP_WALLET_OPEN;
            c[i].actor = (uint16_t)v->index[op];
            c[i].kind = i % 50 == 0 ? LEDGER_WALLET_MERCHANT : LEDGER_WALLET_PERSONAL;
            c[i].tier = (uint8_t)(i % 50 == 0 ? 2 : 1 + i % 4);
            c[i].form = i % 7 == 0 ? LEDGER_FORM_HARD : LEDGER_FORM_SOFT;
            c[i].mcc = i % 50 == 0 ? 5411 : 0;
            demo_id(&c[i].id, 'W', (uint32_t)op, i);
        }
        rc = demo_run(d, c, wallets);
        for (uint32_t i = 0; rc == 0 && i < wallets; i++) {
            jz_id w;
            jz_id id;
            demo_id(&w, 'W', (uint32_t)op, i);
            demo_id(&id, 'X', (uint32_t)op, i);
            c[i] = transfer_cmd((uint16_t)v->index[op], LEDGER_KIND_EXCHANGE_IN,
                                &v->treasury[op], &w, 300000, &id);
        }
        if (rc == 0) {
            rc = demo_run(d, c, wallets);
        }
    }
    free(c);
    return rc;
}

/* Payments: p2p within and across operators, merchant payments, and a few that the limits
 * refuse (a tier-4 wallet paying 2,000.01 CNY at once). */
static int demo_payments(struct demo *d, const struct demo_view *v, uint32_t wallets,
                         uint32_t count)
{
    struct ledger_cmd *c = calloc(count, sizeof *c);
    if (!c) {
        return -1;
    }
    uint64_t s = 20261122;
    for (uint32_t i = 0; i < count; i++) {
        s = jz_mix64(s + i);
        uint32_t op = (uint32_t)(s % 3);
        uint32_t to_op = (uint32_t)((s >> 8) % 3);
        uint32_t from = (uint32_t)((s >> 16) % wallets);
        uint32_t to = (uint32_t)((s >> 40) % wallets);
        bool merchant = i % 3 == 0;
        if (merchant) {
            to = (to / 50) * 50;
        }
        jz_id a, b, id;
        demo_id(&a, 'W', op, from);
        demo_id(&b, 'W', to_op, to);
        demo_id(&id, 'P', i, 0);
        int64_t amount = i % 997 == 0 ? 200001 : 100 + (int64_t)(s % 20000);
        c[i] = transfer_cmd((uint16_t)v->index[op],
                            merchant ? LEDGER_KIND_PAYMENT : LEDGER_KIND_P2P, &a, &b, amount, &id);
    }
    int rc = 0;
    for (uint32_t done = 0; rc == 0 && done < count; done += JZ_BATCH_MAX) {
        uint32_t n = count - done < JZ_BATCH_MAX ? count - done : JZ_BATCH_MAX;
        rc = demo_run(d, c + done, n);
    }
    free(c);
    return rc;
}

/* A shop authorises two holds: one captured in part, one voided. */
static int demo_holds(struct demo *d, const struct demo_view *v)
{
    struct ledger_cmd c[2];
    for (uint32_t i = 0; i < 2; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].op = LEDGER_OP_HOLD_CREATE;
        c[i].actor = (uint16_t)v->index[0];
        demo_id(&c[i].debit, 'W', 0, 1 + i);
        demo_id(&c[i].credit, 'W', 0, 50);
        demo_id(&c[i].id, 'H', i, 0);
        c[i].amount = 8800;
        c[i].timeout_ms = 15 * 60 * 1000;
    }
    if (demo_run(d, c, 2) != 0) {
        return -1;
    }
    c[0].op = LEDGER_OP_HOLD_CAPTURE;
    c[0].amount = 6600;
    c[1].op = LEDGER_OP_HOLD_VOID;
    c[1].amount = 0;
    return demo_run(d, c, 2);
}

static int demo_verify(const char *dir, struct journal_verify_report *rep)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/node.pub", dir);
    FILE *f = fopen(path, "r");
    char pem[4096];
    size_t n = f ? fread(pem, 1, sizeof pem - 1, f) : 0;
    if (f) {
        fclose(f);
    }
    pem[n] = '\0';
    crypto_sm2_key *pub = NULL;
    char err[1024];
    if (crypto_sm2_load_public_pem(pem, n, &pub) != 0) {
        fprintf(stderr, "jiaozi demo: %s: not an SM2 public key\n", path);
        return -1;
    }
    int rc = journal_verify(dir, pub, rep, err, sizeof err);
    crypto_sm2_free(pub);
    if (rc != 0) {
        fprintf(stderr, "jiaozi demo: journal verification failed: %s\n", err);
    }
    return rc;
}

static void demo_summary(const struct demo *d, const struct demo_view *v,
                         const struct journal_verify_report *rep, const char *dir)
{
    char hex[2 * CRYPTO_SM3_BYTES + 1];
    jz_hex_encode(rep->head_hash, CRYPTO_SM3_BYTES, hex);
    printf("\n  jiaozi demo: summary\n");
    printf("  %-28s %" PRIu32 "\n", "wallets (all institutions)", v->wallets);
    printf("  %-28s %" PRIu64 "\n", "commands posted", d->posted);
    printf("  %-28s %" PRIu64 "\n", "commands refused", d->refused);
    for (int c = 1; c < JZ_RESULT_COUNT; c++) {
        if (d->codes[c]) {
            printf("    %-26s %" PRIu64 "\n", jz_result_name(c), d->codes[c]);
        }
    }
    printf("  %-28s %s\n", "conservation",
           v->sum == 0 && v->invariants == 0 ? "ok (balances sum to zero)" : "BROKEN");
    printf("  %-28s %" PRIu64 " records, head %.16s...\n", "journal verified", rep->records, hex);
    printf("  %-28s %s\n", "data directory", dir);
    printf("  %-28s %s/credentials/{icbc,ccb,alipay}.json\n", "operator credentials", dir);
    printf("\n  serve it: jiaozi serve --data %s  (central's credentials: %s/central.json)\n",
           dir, dir);
}

int cli_demo(int argc, char **argv)
{
    static const char *const known[] = {"--data", "--wallets", NULL};
    static const char *const flags[] = {"--help", NULL};
    if (cli_flag(argc, argv, "--help")) {
        fputs(demo_help, stdout);
        return 0;
    }
    if (cli_check_options(argc, argv, known, flags) != 0) {
        return 2;
    }
    const char *dir = cli_opt(argc, argv, "--data");
    dir = dir ? dir : "jiaozi-data";
    uint32_t wallets = (uint32_t)cli_opt_u64(argc, argv, "--wallets", 2000, 30000);
    char err[1024];
    char conf[4096];
    struct stat st;
    snprintf(conf, sizeof conf, "%s/jiaozi.conf", dir);
    if (stat(conf, &st) != 0) {
        struct node_config cfg;
        node_config_default(&cfg);
        if (node_init(dir, &cfg, err, sizeof err) != 0) {
            fprintf(stderr, "jiaozi demo: %s\n", err);
            return 1;
        }
    }
    node *n = NULL;
    struct node_options opt = {.dir = dir};
    if (node_open(&opt, &n, err, sizeof err) != 0) {
        fprintf(stderr, "jiaozi demo: %s\n", err);
        return 1;
    }
    struct demo d;
    struct demo_view v;
    memset(&d, 0, sizeof d);
    memset(&v, 0, sizeof v);
    d.ex = node_executor(n);
    d.node = n;
    d.dir = dir;
    printf("jiaozi demo: operators and quota...\n");
    int rc = demo_institutions(&d, &v, wallets);
    printf("jiaozi demo: %u wallets per operator, funded by exchange-in...\n", wallets);
    rc = rc == 0 ? demo_wallets(&d, &v, wallets) : rc;
    printf("jiaozi demo: payments...\n");
    rc = rc == 0 ? demo_payments(&d, &v, wallets, wallets * 10) : rc;
    rc = rc == 0 ? demo_holds(&d, &v) : rc;
    rc = rc == 0 ? demo_view_get(&d, &v) : rc;
    if (node_close(n, true) != 0 || rc != 0) {
        fprintf(stderr, "jiaozi demo: the node failed\n");
        return 1;
    }
    struct journal_verify_report rep;
    if (demo_verify(dir, &rep) != 0) {
        return 1;
    }
    demo_summary(&d, &v, &rep, dir);
    return v.sum == 0 && v.invariants == 0 ? 0 : 1;
}
