/*
 * cli_card_bench.c: `jiaozi bench offline`, settlement throughput of offline vouchers beside
 * the single-core SM2 verify rate of the same OpenSSL, measured in the same run (DESIGN.md §10:
 * at least 90% of that rate per core).
 *
 * Setup (not timed): a node in a temporary directory (journal with fdatasync), operator
 * "bench", C cards each with a holder wallet and a funded float account, certified by the
 * TSM and registered; N vouchers signed by the cards (card i pays card i+1, chained counters).
 * Baseline: one thread verifying one voucher's signature under its certificate's key in a
 * loop for two seconds (`openssl speed` style: key and message fixed). Timed: settlement of
 * all N vouchers through offline_verify (T threads, one slice each) and offline_settle
 * (registry checks, then one executor request of ledger transfers per batch, durable) exactly
 * as the API runs them, certificates parsed once and cached.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "node.h"
#include "offline.h"

#define FLOAT_FEN 100000000LL
#define BATCH 4096

static const char help[] =
    "usage: jiaozi bench offline [--vouchers N] [--cards C] [--threads T] [--dir DIR] [--keep]\n"
    "Offline vouchers settled per second (verify on T threads, ledger on the executor, durable)\n"
    "beside the single-core SM2 verify rate of the same OpenSSL, in one run.\n"
    "  --vouchers N   vouchers to settle (default 20000)\n"
    "  --cards C      paying cards (default 100)\n"
    "  --threads T    verifying threads (default: the cores online)\n";

struct bench {
    executor *ex;
    tsm *tsm;
    store_cards *store;
    offline *off;
    uint32_t cards;
    uint16_t op;
    jz_id treasury;
    crypto_sm2_key **keys;
    char **pems;
    struct offline_item *items;
    size_t n;
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int run_cmds(executor *ex, const struct ledger_cmd *cmds, uint32_t n,
                    struct ledger_result *res)
{
    struct executor_request r;
    executor_request_init(&r);
    r.cmds = cmds;
    r.results = res;
    r.count = n;
    int rc = executor_run(ex, &r);
    executor_request_destroy(&r);
    return rc;
}

static int run_ok(executor *ex, struct ledger_cmd *cmds, uint32_t n)
{
    struct ledger_result res[8];
    ASSERT(n <= 8);
    if (run_cmds(ex, cmds, n, res) != 0) {
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (res[i].code != JZ_OK) {
            fprintf(stderr, "jiaozi bench offline: setup: %s\n", jz_result_name(res[i].code));
            return -1;
        }
    }
    return 0;
}

struct sum_query {
    int64_t sum;
    int rc;
    jz_id issuance;
};

static void query_sum(const ledger *l, void *ctx)
{
    struct sum_query *q = ctx;
    struct ledger_institution_view v;
    q->rc = ledger_balance_sum(l, &q->sum) | ledger_check_invariants(l, NULL, 0);
    if (ledger_institution_get(l, "central", &v) == 0) {
        q->issuance = v.treasury;
    }
}

static int query(executor *ex, struct sum_query *q)
{
    struct executor_request r;
    executor_request_init(&r);
    r.query = query_sum;
    r.query_ctx = q;
    int rc = executor_run(ex, &r);
    executor_request_destroy(&r);
    return rc;
}

static jz_id tagged(uint8_t tag, uint32_t i)
{
    jz_id id;
    memset(&id, 0, sizeof id);
    id.b[0] = tag;
    memcpy(id.b + 1, &i, sizeof i);
    return id;
}

static int setup_operator(struct bench *b)
{
    struct ledger_cmd c[2];
    struct sum_query q;
    memset(c, 0, sizeof c);
    c[0].op = LEDGER_OP_INSTITUTION_CREATE;
    c[0].kind = LEDGER_INST_OPERATOR;
    strcpy(c[0].inst.s, "bench");
    memcpy(c[0].name, "Bench Bank", 10);
    c[0].name_len = 10;
    b->treasury = tagged(0xbb, 0);
    c[0].debit = b->treasury;
    b->op = 1;
    if (run_ok(b->ex, c, 1) != 0 || query(b->ex, &q) != 0) {
        return -1;
    }
    memset(c, 0, sizeof c);
    c[0].op = LEDGER_OP_TRANSFER;
    c[0].kind = LEDGER_KIND_ISSUE;
    c[0].id = tagged(0x11, 0);
    c[0].debit = q.issuance;
    c[0].credit = b->treasury;
    c[0].amount = (int64_t)b->cards * FLOAT_FEN;
    return run_ok(b->ex, c, 1);
}

/* Card i: a holder wallet, its float funded through the wallet, a key, a certificate. */
static int setup_card(struct bench *b, uint32_t i, int64_t now)
{
    struct ledger_cmd c[4];
    struct store_card *rec = calloc(1, sizeof *rec);
    crypto_cert *cert = NULL;
    uint8_t *der = NULL;
    size_t der_len = 0, pem_len = 0;
    memset(c, 0, sizeof c);
    if (!rec || crypto_sm2_generate(&b->keys[i]) != 0 || voucher_card_id(b->keys[i], &rec->id)) {
        free(rec);
        return -1;
    }
    rec->wallet = tagged(0xa0, i);
    offline_float_id(&rec->id, &rec->float_wallet);
    for (int k = 0; k < 2; k++) {
        c[k].op = LEDGER_OP_WALLET_OPEN;
        c[k].actor = b->op;
        c[k].kind = LEDGER_WALLET_PERSONAL;
        c[k].tier = 1;
        c[k].form = k ? LEDGER_FORM_HARD : LEDGER_FORM_SOFT;
        c[k].id = k ? rec->float_wallet : rec->wallet;
        c[k].credit = k ? rec->wallet : (jz_id){{0}};
    }
    for (int k = 2; k < 4; k++) {
        c[k].op = LEDGER_OP_TRANSFER;
        c[k].actor = b->op;
        c[k].kind = k == 2 ? LEDGER_KIND_EXCHANGE_IN : LEDGER_KIND_CARD_LOAD;
        c[k].id = tagged((uint8_t)(0xc0 + k), i);
        c[k].debit = k == 2 ? b->treasury : rec->wallet;
        c[k].credit = k == 2 ? rec->wallet : rec->float_wallet;
        c[k].amount = FLOAT_FEN;
    }
    struct crypto_card_ext ext = {.tier = 1, .per_payment = FLOAT_FEN, .offline_total = FLOAT_FEN,
                                  .offline_count = 1000};
    memcpy(ext.card_id, rec->id.b, 16);
    memcpy(ext.wallet_id, rec->wallet.b, 16);
    int rc = run_ok(b->ex, c, 4) == 0 &&
                     tsm_certify(b->tsm, "bench", b->keys[i], &ext, now, now + 86400000LL,
                                 &cert) == 0 &&
                     crypto_cert_der(cert, &der, &der_len) == 0 &&
                     der_len <= sizeof rec->cert &&
                     crypto_cert_pem(cert, &b->pems[i], &pem_len) == 0
                 ? 0 : -1;
    if (rc == 0) {
        snprintf(rec->op, sizeof rec->op, "bench");
        rec->tier = 1;
        rec->status = STORE_CARD_ACTIVE;
        rec->per_payment = rec->offline_total = FLOAT_FEN;
        rec->offline_count = 1000;
        memcpy(rec->cert, der, der_len);
        rec->cert_len = der_len;
        rc = store_cards_put(b->store, rec) == 0 ? 0 : -1;
    }
    free(der);
    crypto_cert_free(cert);
    free(rec);
    return rc;
}

/* ---- signing the vouchers (on every core too: setup, not timed) ---- */

struct sign_job {
    struct bench *b;
    uint32_t from, to; /* cards */
    uint32_t per_card;
    int64_t now;
    int rc;
};

static void *sign_cards(void *arg)
{
    struct sign_job *j = arg;
    struct bench *b = j->b;
    for (uint32_t i = j->from; i < j->to; i++) {
        uint8_t prev[CRYPTO_SM3_BYTES] = {0};
        jz_id payer, payee;
        voucher_card_id(b->keys[i], &payer);
        voucher_card_id(b->keys[(i + 1) % b->cards], &payee);
        for (uint32_t k = 0; k < j->per_card; k++) {
            struct offline_item *it = &b->items[(size_t)i * j->per_card + k];
            struct voucher v = {.payer = payer, .counter = k + 1, .payee = payee,
                                .amount = 1 + (int64_t)((i * 31 + k) % 1000), .time_ms = j->now};
            memcpy(v.prev, prev, sizeof prev);
            memset(v.nonce, (int)(k & 0xff), sizeof v.nonce);
            voucher_encode(&v, it->body);
            it->body_len = VOUCHER_BODY_BYTES;
            it->cert_pem = b->pems[i];
            it->cert_pem_len = strlen(b->pems[i]);
            if (crypto_sm2_sign(b->keys[i], it->body, VOUCHER_BODY_BYTES, it->sig,
                                &it->sig_len) != 0 ||
                voucher_hash(it->body, prev) != 0) {
                j->rc = -1;
                return NULL;
            }
        }
    }
    return NULL;
}

static int sign_all(struct bench *b, uint32_t per_card, uint32_t threads, int64_t now)
{
    pthread_t t[64];
    struct sign_job jobs[64];
    int rc = 0;
    for (uint32_t k = 0; k < threads; k++) {
        jobs[k] = (struct sign_job){b, b->cards * k / threads, b->cards * (k + 1) / threads,
                                    per_card, now, 0};
        pthread_create(&t[k], NULL, sign_cards, &jobs[k]);
    }
    for (uint32_t k = 0; k < threads; k++) {
        pthread_join(t[k], NULL);
        rc |= jobs[k].rc;
    }
    return rc;
}

/* ---- the measurements ---- */

static struct bench *g_bench; /* for the parallel baseline's threads */

/* One core verifying one signature over and over, for about two seconds. */
static double baseline_rate(struct bench *b)
{
    crypto_cert *cert = NULL;
    const struct offline_item *it = &b->items[0];
    if (crypto_cert_from_pem(it->cert_pem, it->cert_pem_len, &cert) != 0) {
        return 0;
    }
    uint64_t n = 0;
    double start = mono_s(), now = start;
    while (now - start < 2.0) {
        for (int k = 0; k < 64; k++) {
            n += crypto_sm2_verify(crypto_cert_key(cert), it->body, VOUCHER_BODY_BYTES, it->sig,
                                   it->sig_len) == 0;
        }
        now = mono_s();
    }
    crypto_cert_free(cert);
    return (double)n / (now - start);
}

static void *baseline_thread(void *arg)
{
    double *rate = arg;
    *rate = baseline_rate(g_bench);
    return NULL;
}

/* The same loop on every verifying thread at once: what the cores can do together. */
static double parallel_rate(struct bench *b, uint32_t threads)
{
    pthread_t t[64];
    double rates[64];
    double sum = 0;
    g_bench = b;
    for (uint32_t k = 0; k < threads; k++) {
        ASSERT(pthread_create(&t[k], NULL, baseline_thread, &rates[k]) == 0);
    }
    for (uint32_t k = 0; k < threads; k++) {
        pthread_join(t[k], NULL);
        sum += rates[k];
    }
    return sum;
}

/* The verification of one batch, run on its own thread while the previous batch settles. */
struct verify_job {
    offline *o;
    struct offline_item *items;
    size_t n;
    uint32_t threads;
    pthread_t t;
};

static void *verify_batch(void *arg)
{
    struct verify_job *j = arg;
    offline_verify_parallel(j->o, j->items, j->n, j->threads);
    return NULL;
}

static int lg_actor(void *ctx, const char *op)
{
    (void)ctx;
    return strcmp(op, "bench") == 0 ? 1 : -1;
}

static int lg_run(void *ctx, const struct ledger_cmd *cmds, uint32_t n,
                  struct ledger_result *res)
{
    return run_cmds(ctx, cmds, n, res);
}

/* Starts verifying items[at, at + n) on `threads` threads. */
static void verify_start(struct bench *b, struct verify_job *w, size_t at, size_t n,
                         uint32_t threads)
{
    *w = (struct verify_job){b->off, b->items + at, n, threads, 0};
    ASSERT(pthread_create(&w->t, NULL, verify_batch, w) == 0);
}

static void verify_wait(struct verify_job *w)
{
    pthread_join(w->t, NULL);
}

/* Settles every voucher, verifying batch k+1 while batch k goes through the registry and
 * the ledger; returns how many settled, or -1. */
static long settle_all(struct bench *b, uint32_t threads)
{
    struct offline_ledger lg = {.actor = lg_actor, .run = lg_run, .ctx = b->ex};
    struct verify_job w;
    long settled = 0;
    verify_start(b, &w, 0, b->n < BATCH ? b->n : BATCH, threads);
    verify_wait(&w);
    for (size_t at = 0; at < b->n; at += BATCH) {
        size_t n = b->n - at < BATCH ? b->n - at : BATCH;
        size_t next = at + n;
        if (next < b->n) {
            verify_start(b, &w, next, b->n - next < BATCH ? b->n - next : BATCH, threads);
        }
        int rc = offline_settle(b->off, b->items + at, n, wall_ms(), &lg);
        if (next < b->n) {
            verify_wait(&w);
        }
        if (rc != 0) {
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            settled += b->items[at + i].status == JZ_OK;
        }
    }
    return settled;
}

static int bench_run(struct bench *b, uint32_t per_card, uint32_t threads)
{
    int64_t now = wall_ms();
    if (setup_operator(b) != 0) {
        return -1;
    }
    for (uint32_t i = 0; i < b->cards; i++) {
        if (setup_card(b, i, now) != 0) {
            fprintf(stderr, "jiaozi bench offline: card %u setup failed\n", i);
            return -1;
        }
    }
    if (sign_all(b, per_card, threads, now) != 0) {
        return -1;
    }
    double base = baseline_rate(b);
    double ceiling = parallel_rate(b, threads);
    double start = mono_s();
    long settled = settle_all(b, threads);
    double secs = mono_s() - start;
    struct sum_query q;
    if (settled < 0 || query(b->ex, &q) != 0) {
        return -1;
    }
    double rate = (double)settled / secs;
    printf("jiaozi bench offline: %zu vouchers from %u cards, %u verifying threads\n", b->n,
           b->cards, threads);
    printf("  settled                 %ld of %zu in %.3f s (durable)\n", settled, b->n, secs);
    printf("  vouchers settled/s      %.0f  (%.0f per thread)\n", rate, rate / threads);
    printf("  SM2 verify/s, 1 core    %.0f  (OpenSSL %s, same run)\n", base,
           "linked into jiaozi");
    printf("  per core vs 1-core SM2  %.1f%%  (target >= 90%%)\n", 100.0 * rate / threads / base);
    printf("  SM2 verify/s, %u threads %.0f  (the same loop on every thread at once: %.1f%% of\n"
           "                          %u x 1 core; settlement reached %.1f%% of it)\n",
           threads, ceiling, 100.0 * ceiling / threads / base, threads, 100.0 * rate / ceiling);
    printf("  conservation            %s\n", q.rc == 0 && q.sum == 0 ? "ok" : "BROKEN");
    return settled == (long)b->n && q.rc == 0 && q.sum == 0 ? 0 : -1;
}

static void remove_tree(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "jiaozi bench offline: could not remove %s\n", dir);
    }
}

static int open_all(struct bench *b, const char *dir, node **nd, char *err, size_t err_len)
{
    struct node_config cfg;
    char path[1200];
    node_config_default(&cfg);
    cfg.wallets_max = 2 * b->cards + 64;
    cfg.transfers_max = (uint32_t)(b->n + 4 * b->cards + 64);
    cfg.snapshot_every = 0;
    struct node_options opt = {.dir = dir};
    snprintf(path, sizeof path, "%s/cards.db", dir);
    if (node_init(dir, &cfg, err, err_len) != 0 || node_open(&opt, nd, err, err_len) != 0 ||
        tsm_open(dir, wall_ms(), &b->tsm, err, err_len) != 0 ||
        store_cards_open(path, &b->store, err, err_len) != 0 ||
        offline_new(b->tsm, b->store, 0, &b->off) != 0) {
        return -1;
    }
    b->ex = node_executor(*nd);
    return 0;
}

int cli_bench_offline(int argc, char **argv)
{
    static const char *const known[] = {"--vouchers", "--cards", "--threads", "--dir", NULL};
    static const char *const flags[] = {"--keep", "--help", NULL};
    if (cli_flag(argc, argv, "--help")) {
        fputs(help, stdout);
        return 0;
    }
    if (cli_check_options(argc, argv, known, flags) != 0) {
        return 2;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    struct bench b = {.cards = (uint32_t)cli_opt_u64(argc, argv, "--cards", 100, 10000)};
    uint64_t want = cli_opt_u64(argc, argv, "--vouchers", 20000, 10000000);
    uint32_t threads = (uint32_t)cli_opt_u64(argc, argv, "--threads", cores > 0 ? cores : 1, 64);
    if (b.cards < 2 || want < b.cards || threads < 1) {
        fprintf(stderr, "jiaozi bench offline: need at least 2 cards, a voucher per card and a "
                        "thread\n");
        return 2;
    }
    uint32_t per_card = (uint32_t)(want / b.cards);
    b.n = (size_t)per_card * b.cards;
    const char *parent = cli_opt(argc, argv, "--dir");
    char dir[1024], err[1024];
    snprintf(dir, sizeof dir, "%s/jiaozi-bench-offline-XXXXXX",
             parent ? parent : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "jiaozi bench offline: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    b.keys = calloc(b.cards, sizeof *b.keys);
    b.pems = calloc(b.cards, sizeof *b.pems);
    b.items = calloc(b.n, sizeof *b.items);
    node *nd = NULL;
    int rc = 1;
    if (!b.keys || !b.pems || !b.items) {
        fprintf(stderr, "jiaozi bench offline: out of memory\n");
    } else if (open_all(&b, dir, &nd, err, sizeof err) != 0) {
        fprintf(stderr, "jiaozi bench offline: %s\n", err);
    } else {
        rc = bench_run(&b, per_card, threads) == 0 ? 0 : 1;
    }
    if (nd && node_close(nd, false) != 0) {
        rc = 1;
    }
    offline_free(b.off);
    store_cards_close(b.store);
    tsm_close(b.tsm);
    for (uint32_t i = 0; b.keys && i < b.cards; i++) {
        crypto_sm2_free(b.keys[i]);
        free(b.pems[i]);
    }
    free(b.keys);
    free(b.pems);
    free(b.items);
    if (cli_flag(argc, argv, "--keep")) {
        fprintf(stderr, "data directory kept: %s\n", dir);
    } else {
        remove_tree(dir);
    }
    return rc;
}
