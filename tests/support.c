/*
 * support.c: see support.h.
 */
#include "support.h"

#include "snapshot.h"

jz_id sup_id(uint8_t tag, uint32_t a, uint32_t b)
{
    jz_id id;
    memset(&id, 0, sizeof id);
    id.b[0] = tag;
    id.b[1] = 0x5a;
    memcpy(id.b + 4, &a, 4);
    memcpy(id.b + 8, &b, 4);
    return id;
}

int sup_run(executor *ex, struct ledger_cmd *cmds, struct ledger_result *results, uint32_t n)
{
    struct executor_request r;
    executor_request_init(&r);
    r.cmds = cmds;
    r.results = results;
    r.count = n;
    int rc = executor_run(ex, &r);
    executor_request_destroy(&r);
    return rc;
}

struct hash_query {
    uint8_t hash[32];
    int rc;
};

static void hash_query(const ledger *l, void *ctx)
{
    struct hash_query *q = ctx;
    q->rc = snapshot_state_hash(l, q->hash);
}

int sup_state_hash(executor *ex, uint8_t out[32])
{
    struct hash_query q = {.rc = -1};
    struct executor_request r;
    executor_request_init(&r);
    r.query = hash_query;
    r.query_ctx = &q;
    int rc = executor_run(ex, &r);
    executor_request_destroy(&r);
    if (rc != 0 || q.rc != 0) {
        return -1;
    }
    memcpy(out, q.hash, 32);
    return 0;
}

int sup_recovered_hash(const char *dir, uint8_t out[32])
{
    ledger *l = NULL;
    uint64_t head = 0;
    char err[512];
    if (node_recover_ledger(dir, &l, &head, err, sizeof err) != 0) {
        fprintf(stderr, "  recovery failed: %s\n", err);
        return -1;
    }
    int rc = snapshot_state_hash(l, out);
    ledger_free(l);
    return rc;
}

static int setup_operator(executor *ex)
{
    struct ledger_cmd c;
    struct ledger_result res;
    memset(&c, 0, sizeof c);
    c.op = LEDGER_OP_INSTITUTION_CREATE;
    c.kind = LEDGER_INST_OPERATOR;
    strcpy(c.inst.s, "opa");
    c.name_len = 3;
    memcpy(c.name, "OpA", 3);
    c.debit = sup_id('T', 1, 0);
    return sup_run(ex, &c, &res, 1) == 0 && res.code == JZ_OK ? 0 : -1;
}

struct issuance_query {
    jz_id issuance;
};

static void issuance_query(const ledger *l, void *ctx)
{
    struct issuance_query *q = ctx;
    struct ledger_institution_view v;
    if (ledger_institution_get(l, "central", &v) == 0) {
        q->issuance = v.treasury;
    }
}

/* Issues quota to opa (the issuance account's id is random: read it first), then opens
 * and funds the wallets. */
static int fund_wallets(executor *ex, uint32_t wallets, int64_t fund)
{
    struct issuance_query q;
    memset(&q, 0, sizeof q);
    struct executor_request r;
    executor_request_init(&r);
    r.query = issuance_query;
    r.query_ctx = &q;
    int rc = executor_run(ex, &r);
    executor_request_destroy(&r);
    struct ledger_cmd *c = calloc(wallets + 1, sizeof *c);
    struct ledger_result *res = calloc(wallets + 1, sizeof *res);
    if (rc != 0 || !c || !res) {
        free(c);
        free(res);
        return -1;
    }
    c[0].op = LEDGER_OP_TRANSFER;
    c[0].kind = LEDGER_KIND_ISSUE;
    c[0].actor = 0;
    c[0].debit = q.issuance;
    c[0].credit = sup_id('T', 1, 0);
    c[0].amount = (int64_t)wallets * fund + 1000000;
    c[0].id = sup_id('I', 0, 0);
    rc = sup_run(ex, c, res, 1) == 0 && res[0].code == JZ_OK ? 0 : -1;
    for (uint32_t i = 0; rc == 0 && i < wallets; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].op = LEDGER_OP_WALLET_OPEN;
        c[i].actor = 1;
        c[i].kind = LEDGER_WALLET_PERSONAL;
        c[i].tier = 1;
        c[i].form = LEDGER_FORM_SOFT;
        c[i].id = sup_id('W', i, 0);
    }
    rc = rc == 0 ? sup_run(ex, c, res, wallets) : rc;
    for (uint32_t i = 0; rc == 0 && i < wallets; i++) {
        rc = res[i].code == JZ_OK ? 0 : -1;
        memset(&c[i], 0, sizeof c[i]);
        c[i].op = LEDGER_OP_TRANSFER;
        c[i].actor = 1;
        c[i].kind = LEDGER_KIND_EXCHANGE_IN;
        c[i].debit = sup_id('T', 1, 0);
        c[i].credit = sup_id('W', i, 0);
        c[i].amount = fund;
        c[i].id = sup_id('F', i, 0);
    }
    rc = rc == 0 ? sup_run(ex, c, res, wallets) : rc;
    for (uint32_t i = 0; rc == 0 && i < wallets; i++) {
        rc = res[i].code == JZ_OK ? 0 : -1;
    }
    free(c);
    free(res);
    return rc;
}

int sup_make_node(const char *dir, uint32_t wallets, int64_t fund, uint64_t snapshot_every)
{
    struct node_config cfg;
    node_config_default(&cfg);
    cfg.wallets_max = wallets + 64;
    cfg.transfers_max = 400000;
    cfg.holds_max = 4096;
    cfg.segment_bytes = 1u << 20;
    cfg.checkpoint_every = 8;
    cfg.snapshot_every = snapshot_every;
    char err[512];
    if (node_init(dir, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "  node_init: %s\n", err);
        return -1;
    }
    node *n = NULL;
    struct node_options opt = {.dir = dir};
    if (node_open(&opt, &n, err, sizeof err) != 0) {
        fprintf(stderr, "  node_open: %s\n", err);
        return -1;
    }
    executor *ex = node_executor(n);
    int rc = setup_operator(ex);
    rc = rc == 0 ? fund_wallets(ex, wallets, fund) : rc;
    if (node_close(n, false) != 0) {
        rc = -1;
    }
    return rc;
}

void sup_workload_transfer(uint64_t seed, uint64_t n, uint32_t wallets, struct ledger_cmd *c)
{
    uint64_t r = jz_mix64(seed ^ jz_mix64(n + 1));
    uint32_t d = (uint32_t)(r % wallets);
    uint32_t k = (uint32_t)((r >> 32) % (wallets - 1));
    memset(c, 0, sizeof *c);
    c->op = LEDGER_OP_TRANSFER;
    c->actor = 1;
    c->kind = LEDGER_KIND_P2P;
    c->debit = sup_id('W', d, 0);
    c->credit = sup_id('W', k >= d ? k + 1 : k, 0);
    c->amount = 1 + (int64_t)((r >> 16) % 5000);
    c->id = sup_id('X', (uint32_t)n, (uint32_t)(n >> 32));
}
