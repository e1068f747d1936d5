/*
 * cli_bench_tokens.c: `jiaozi bench tokens`, the token vault's rates beside its peer: the raw
 * SM4-CTR + HMAC-SM3 rate of the same OpenSSL on a record of the same size (crypto_raw.h),
 * measured in the same run.
 *
 * A vault in a fresh temporary directory (its KEK beside it), one thread:
 *   1. N cards tokenised one by one, each committed on its own (SQLite synchronous=FULL, so one
 *      fsync each), as the API does;
 *   2. N more in transactions of 1,000 (the cost without the fsync: HMAC lookup, random token,
 *      uniqueness check, seal, insert);
 *   3. all 2N detokenised (read, domain check, open the record).
 * The API adds a journal fsync per tokenisation and detokenisation (group-committed across
 * requests), which this benchmark leaves out: it measures the vault. Burst alerts are off.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "crypto.h"
#include "crypto_raw.h"
#include "token.h"

static const char bench_tokens_help[] =
    "usage: jiaozi bench tokens [--cards N] [--dir DIR] [--json]\n"
    "Tokenisations/s and detokenisations/s of the token vault beside the raw SM4-CTR +\n"
    "HMAC-SM3 rate of the linked OpenSSL on a record of the same size, in one run.\n"
    "  --cards N   cards tokenised one durable commit each, and N more in bulk (default 5000)\n"
    "  --dir DIR   parent of the temporary vault directory (default $TMPDIR or /tmp)\n"
    "  --json      print one JSON object\n";

#define RAW_RECORDS 1000000
#define BULK_COMMIT 1000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Card i: "62", i in decimal, a Luhn digit, and four digits from a hash of i. Distinct for
 * distinct i below 10^6. */
static void bench_card(uint64_t i, char out[TOKEN_PAN_MAX + 1])
{
    int len = TOKEN_PAN_MIN + (int)(i % 7);
    snprintf(out, TOKEN_PAN_MAX + 1, "62%0*llu0%04llu", len - 7, (unsigned long long)i,
             (unsigned long long)(jz_mix64(i) % 10000));
    int sum = 0;
    for (int k = 0; k < len; k++) {
        int d = out[len - 1 - k] - '0';
        sum += k % 2 ? (d * 2 > 9 ? d * 2 - 9 : d * 2) : d;
    }
    out[len - 5] = (char)('0' + (10 - sum % 10) % 10);
}

struct bench_tokens {
    token_vault *v;
    char (*tokens)[TOKEN_LEN_MAX + 1];
    uint64_t cards;
    double durable_s, bulk_s, detok_s;
    double raw_seal, raw_open, wrap_seal; /* per second */
};

static int tokenise_range(struct bench_tokens *b, uint64_t from, uint64_t to, bool bulk)
{
    int64_t now = (int64_t)time(NULL) * 1000;
    for (uint64_t i = from; i < to; i++) {
        char pan[TOKEN_PAN_MAX + 1];
        struct token_request rq = {.pan = pan, .expiry = "3012", .issuer = "opa",
                                   .domain = {.requestor = "opb", .channel = "app"}};
        struct token_info info;
        bool created = false;
        const char *field = "";
        bench_card(i, pan);
        memcpy(rq.wallet.b, &i, sizeof i);
        if (bulk && (i - from) % BULK_COMMIT == 0 &&
            ((i > from && token_bulk_commit(b->v) != 0) || token_bulk_begin(b->v) != 0)) {
            return -1;
        }
        if (token_tokenize(b->v, &rq, now, NULL, NULL, &info, &created, &field) != JZ_OK) {
            fprintf(stderr, "jiaozi bench tokens: card %llu refused\n", (unsigned long long)i);
            return -1;
        }
        memcpy(b->tokens[i], info.token, sizeof b->tokens[i]);
    }
    return bulk && to > from ? token_bulk_commit(b->v) : 0;
}

static int detokenise_all(struct bench_tokens *b)
{
    int64_t now = (int64_t)time(NULL) * 1000;
    struct token_domain d = {.requestor = "opb", .channel = "app"};
    int wrong = 0;
    for (uint64_t i = 0; i < 2 * b->cards; i++) {
        char pan[TOKEN_PAN_MAX + 1];
        char want[TOKEN_PAN_MAX + 1];
        bench_card(i, want);
        wrong += token_detokenize(b->v, b->tokens[i], "opb", &d, now, NULL, NULL, pan) != JZ_OK ||
                 strcmp(pan, want) != 0;
    }
    return wrong == 0 ? 0 : -1;
}

/* The peers: the raw primitives, and crypto_seal (jiaozi's wrapper, as the vault uses it). */
static int measure_crypto(struct bench_tokens *b)
{
    uint64_t sum = 0;
    double t0 = now_s();
    if (crypto_raw_seal_loop(TOKEN_RECORD_BYTES, RAW_RECORDS, false, &sum) != 0) {
        return -1;
    }
    double t1 = now_s();
    if (crypto_raw_seal_loop(TOKEN_RECORD_BYTES, RAW_RECORDS, true, &sum) != 0) {
        return -1;
    }
    double t2 = now_s();
    uint8_t key[CRYPTO_SEAL_KEY_BYTES] = {1};
    uint8_t plain[TOKEN_RECORD_BYTES] = {2};
    uint8_t out[TOKEN_RECORD_BYTES + CRYPTO_SEAL_OVERHEAD];
    for (int i = 0; i < RAW_RECORDS / 4; i++) {
        if (crypto_seal(key, "aad", 3, plain, sizeof plain, out) != 0) {
            return -1;
        }
    }
    double t3 = now_s();
    b->raw_seal = RAW_RECORDS / (t1 - t0);
    b->raw_open = RAW_RECORDS / (t2 - t1);
    b->wrap_seal = (RAW_RECORDS / 4) / (t3 - t2);
    return 0;
}

static void print_bench(const struct bench_tokens *b, bool json)
{
    double durable = (double)b->cards / b->durable_s;
    double bulk = (double)b->cards / b->bulk_s;
    double detok = 2.0 * (double)b->cards / b->detok_s;
    if (json) {
        printf("{\"cards\":%llu,\"record_bytes\":%d,\"raw_seal_per_s\":%.0f,\"raw_open_per_s\":%.0f,"
               "\"crypto_seal_per_s\":%.0f,\"tokenize_durable_per_s\":%.0f,"
               "\"tokenize_bulk_per_s\":%.0f,\"detokenize_per_s\":%.0f,\"openssl\":\"%s\"}\n",
               (unsigned long long)b->cards, TOKEN_RECORD_BYTES, b->raw_seal, b->raw_open,
               b->wrap_seal, durable, bulk, detok, crypto_raw_openssl_version());
        return;
    }
    printf("jiaozi bench tokens: %llu + %llu cards, record %d bytes, %s, one thread\n",
           (unsigned long long)b->cards, (unsigned long long)b->cards, TOKEN_RECORD_BYTES,
           crypto_raw_openssl_version());
    printf("  peer: raw SM4-CTR + HMAC-SM3 (EVP, contexts reused)  seal %10.0f/s  open %10.0f/s\n",
           b->raw_seal, b->raw_open);
    printf("        crypto_seal (random IV, as the vault seals)      seal %10.0f/s\n", b->wrap_seal);
    printf("  tokenisations/s, each its own durable commit   %10.0f/s  (%.2f%% of raw seal)\n",
           durable, 100.0 * durable / b->raw_seal);
    printf("  tokenisations/s, %d a commit                 %10.0f/s  (%.2f%% of raw seal)\n",
           BULK_COMMIT, bulk, 100.0 * bulk / b->raw_seal);
    printf("  detokenisations/s                               %10.0f/s  (%.2f%% of raw open)\n",
           detok, 100.0 * detok / b->raw_open);
}

static int bench_tokens_run(struct bench_tokens *b, const char *dir, bool json)
{
    struct token_config cfg;
    char err[512];
    token_config_default(&cfg);
    cfg.burst_count = TOKEN_BURST_MAX; /* 10,000 within 1 ms: never */
    cfg.burst_window_ms = 1;
    if (token_vault_open(dir, &cfg, &b->v, err, sizeof err) != 0) {
        fprintf(stderr, "jiaozi bench tokens: %s\n", err);
        return 1;
    }
    double t[4] = {now_s(), 0, 0, 0};
    int rc = tokenise_range(b, 0, b->cards, false);
    t[1] = now_s();
    rc = rc == 0 ? tokenise_range(b, b->cards, 2 * b->cards, true) : rc;
    t[2] = now_s();
    rc = rc == 0 ? detokenise_all(b) : rc;
    t[3] = now_s();
    rc = rc == 0 ? measure_crypto(b) : rc;
    if (rc == 0) {
        b->durable_s = t[1] - t[0];
        b->bulk_s = t[2] - t[1];
        b->detok_s = t[3] - t[2];
        print_bench(b, json);
    }
    if (rc != 0) {
        fprintf(stderr, "jiaozi bench tokens: a vault or crypto operation failed\n");
    }
    token_vault_close(b->v);
    return rc;
}

static void remove_vault(const char *dir)
{
    static const char *const files[] = {"vault.db", "vault.db-wal", "vault.db-shm", "vault.kek"};
    char path[1200];
    for (size_t i = 0; i < JZ_ARRAY_LEN(files); i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

int cli_bench_tokens(int argc, char **argv)
{
    static const char *const known[] = {"--cards", "--dir", NULL};
    static const char *const flags[] = {"--json", "--help", NULL};
    if (cli_flag(argc, argv, "--help")) {
        fputs(bench_tokens_help, stdout);
        return 0;
    }
    if (cli_check_options(argc, argv, known, flags) != 0) {
        fputs(bench_tokens_help, stderr);
        return 2;
    }
    struct bench_tokens b;
    memset(&b, 0, sizeof b);
    b.cards = cli_opt_u64(argc, argv, "--cards", 5000, 400000);
    if (b.cards < 1) {
        fprintf(stderr, "jiaozi bench tokens: --cards takes 1 to 400000\n");
        return 2;
    }
    const char *parent = cli_opt(argc, argv, "--dir");
    parent = parent ? parent : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/jiaozi-bench-tokens-XXXXXX", parent);
    b.tokens = calloc(2 * b.cards, sizeof *b.tokens);
    if (!b.tokens || !mkdtemp(dir)) {
        fprintf(stderr, "jiaozi bench tokens: %s: %s\n", dir, strerror(errno));
        free(b.tokens);
        return 1;
    }
    int rc = bench_tokens_run(&b, dir, cli_flag(argc, argv, "--json"));
    remove_vault(dir);
    free(b.tokens);
    return rc;
}
