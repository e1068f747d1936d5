/*
 * cli_demo.c: `jiaozi demo`, a city pilot in a minute, driven through the HTTP API with the
 * C SDK exactly as outside clients would. It starts a server on DIR (or uses --url), creates
 * the operators and their quota, opens wallets of every tier and merchants, funds them, and
 * runs a stream of payments (with some the limits refuse), then each feature phase the node
 * offers; it shows a progress bar per phase and ends with a summary table (conservation
 * checked against the ledger), the console URL and where the credentials are. Every id is
 * derived from the phase and an index, so running it again replays instead of doubling.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "common.h"
#include "crypto.h"
#include "jiaozi.h"
#include "journal.h"

static const char demo_help[] =
    "usage: jiaozi demo [--data DIR] [--listen HOST:PORT] [--url URL --central FILE]\n"
    "                   [--wallets N] [--payments N] [--threads N] [--cards N] [--serve]\n"
    "A city pilot through the HTTP API: starts `jiaozi serve` on DIR (default ./jiaozi-data,\n"
    "listening on 127.0.0.1:8080; port 0 picks a free one), or uses the node at URL with the\n"
    "central bank's credentials FILE. Creates operators icbc, ccb and alipay with quota, N\n"
    "wallets (default 30000) of every tier plus merchants, funds them, runs N payments\n"
    "(default 100000), N pairs of hard wallets (default 4) paying each other offline and\n"
    "syncing (one cloned card caught double spending), then prints a summary with the\n"
    "conservation check. Operator credentials go to DIR/credentials/ID.json (mode 0600).\n"
    "--serve keeps the server (and its console) up afterwards until Ctrl-C; otherwise the\n"
    "server is stopped and the journal verified. Running it again replays: nothing doubles.\n";

#define OPERATORS 3
static const char *const operator_ids[OPERATORS] = {"icbc", "ccb", "alipay"};
static const char *const operator_names[OPERATORS] = {"ICBC Chengdu", "CCB Chengdu",
                                                      "Alipay (Chengdu pilot)"};
/* Merchant category codes of the pilot's shops: grocery, restaurants, transit, hospitals,
 * utilities. One wallet in MERCHANT_EVERY is a merchant. */
static const int merchant_mccs[] = {5411, 5812, 4111, 8062, 4900};
#define MERCHANT_EVERY 50
#define QUOTA_FEN (2000000000LL * 100) /* 2 billion CNY an operator */
#define BATCH_ITEMS 500

struct demo {
    const char *dir;
    char url[256];
    jz_credentials central;
    jz_credentials ops[OPERATORS];
    uint32_t wallets;  /* per operator */
    uint32_t payments;
    int threads;
    pid_t server;      /* 0 when --url */
    /* Outcomes */
    _Atomic uint64_t opened, funded, posted, refused, failed;
    uint32_t cards;           /* hard-wallet pairs */
    uint64_t cards_issued, vouchers_accepted, vouchers_settled, double_spends;
    uint64_t orders_paid, refunds, bills_paid, winners, disbursed;
    uint64_t patterns, alerts;
    uint64_t codes_limit;
    double pay_seconds;
};

/* ---- Ids and progress ---- */

/* A deterministic id: tag, operator, index (so a rerun replays). */
static void demo_id(char out[JZ_ID_SIZE], uint8_t tag, uint32_t op, uint32_t index)
{
    uint8_t b[16] = {0x6a, 0x7a, tag};
    b[3] = (uint8_t)op;
    for (int i = 0; i < 4; i++) {
        b[4 + i] = (uint8_t)(index >> (24 - 8 * i));
    }
    uint64_t h = jz_mix64(((uint64_t)tag << 40) ^ ((uint64_t)op << 32) ^ index);
    for (int i = 0; i < 8; i++) {
        b[8 + i] = (uint8_t)(h >> (8 * i));
    }
    jz_hex_encode(b, sizeof b, out);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pthread_mutex_t progress_mu = PTHREAD_MUTEX_INITIALIZER;

/* "  wallets     [##########..........]  52%  15600/30003" on stderr, redrawn in place when
 * the percentage moves (on a terminal), or once at the end of the phase (in a log). */
static void progress(const char *phase, uint64_t done, uint64_t total)
{
    static const char *last_phase;
    static int last_pct = -1;
    pthread_mutex_lock(&progress_mu);
    int pct = total ? (int)(done * 100 / total) : 100;
    bool tty = isatty(STDERR_FILENO);
    bool show = done >= total ? true : tty && (phase != last_phase || pct != last_pct);
    if (show) {
        char bar[31];
        for (int i = 0; i < 30; i++) {
            bar[i] = i < pct * 30 / 100 ? '#' : '.';
        }
        bar[30] = '\0';
        fprintf(stderr, "%s  %-18s [%s] %3d%%  %" PRIu64 "/%" PRIu64 "%s", tty ? "\r" : "", phase,
                bar, pct, done, total, done >= total ? "\n" : "");
        fflush(stderr);
    }
    last_phase = phase;
    last_pct = pct;
    pthread_mutex_unlock(&progress_mu);
}

/* ---- The server ---- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

/* serve writes DIR/central.json (with its URL) once it listens: until then the file is
 * missing, or an earlier run's with another port. */
static bool central_written(const struct demo *d)
{
    char path[4096];
    jz_credentials c;
    jz_error err;
    snprintf(path, sizeof path, "%s/central.json", d->dir);
    bool ok = jz_credentials_load(path, &c, &err) == 0 && strcmp(c.url, d->url) == 0;
    jz_credentials_clear(&c);
    return ok;
}

static int start_server(struct demo *d, const char *listen)
{
    char addr[128];
    snprintf(addr, sizeof addr, "%s", listen);
    char *colon = strrchr(addr, ':');
    if (!colon) {
        fprintf(stderr, "jiaozi demo: --listen wants HOST:PORT\n");
        return -1;
    }
    if (strcmp(colon + 1, "0") == 0) {
        snprintf(colon + 1, sizeof addr - (size_t)(colon + 1 - addr), "%d", free_port());
    }
    snprintf(d->url, sizeof d->url, "http://%s", addr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("jiaozi demo: fork");
        return -1;
    }
    if (pid == 0) {
        execl("/proc/self/exe", "jiaozi", "serve", "--data", d->dir, "--listen", addr, "--quiet",
              (char *)NULL);
        perror("jiaozi demo: exec jiaozi serve");
        _exit(127);
    }
    d->server = pid;
    /* Up when /healthz answers (recovery of a large journal takes a moment). */
    jz_error err;
    jz_client *probe = jz_client_new(d->url, "00000000000000000000000000000000",
                                     "0000000000000000000000000000000000000000000000000000000000000000",
                                     &err);
    for (int i = 0; probe && i < 600; i++) {
        jz_health h;
        if (jz_healthz(probe, &h, &err) == 0 && central_written(d)) {
            jz_client_free(probe);
            return 0;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            break;
        }
        usleep(50000);
    }
    jz_client_free(probe);
    fprintf(stderr, "jiaozi demo: the server did not come up on %s\n", d->url);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    d->server = 0;
    return -1;
}

static int stop_server(struct demo *d)
{
    if (!d->server) {
        return 0;
    }
    kill(d->server, SIGTERM);
    int status = 0;
    waitpid(d->server, &status, 0);
    d->server = 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* ---- Phase: institutions and quota ---- */

static jz_client *client_for(const jz_credentials *c)
{
    jz_error err;
    jz_client *cl = jz_client_new(c->url[0] ? c->url : "", c->key_id, c->secret, &err);
    if (!cl) {
        fprintf(stderr, "jiaozi demo: client for %s: %s\n", c->institution, err.message);
    }
    return cl;
}

static int phase_institutions(struct demo *d)
{
    jz_client *central = client_for(&d->central);
    if (!central) {
        return -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/credentials", d->dir);
    mkdir(path, 0700);
    int rc = 0;
    jz_error err;
    for (int i = 0; rc == 0 && i < OPERATORS; i++) {
        snprintf(path, sizeof path, "%s/credentials/%s.json", d->dir, operator_ids[i]);
        jz_credentials c;
        rc = jz_institution_create(central, operator_ids[i], operator_names[i], &c, &err);
        if (rc == 0 && c.secret[0]) {
            unlink(path); /* a new node under an old directory's credentials */
            rc = jz_credentials_save(&c, path, &err);
        }
        if (rc == 0) {
            rc = jz_credentials_load(path, &d->ops[i], &err);
        }
        if (rc == 0 && strcmp(d->ops[i].url, d->url) != 0) {
            /* The node moved (another port): the file says where it is now. */
            snprintf(d->ops[i].url, sizeof d->ops[i].url, "%s", d->url);
            unlink(path);
            rc = jz_credentials_save(&d->ops[i], path, &err);
        }
        char tid[JZ_ID_SIZE];
        demo_id(tid, 'Q', (uint32_t)i, 0);
        jz_transfer t;
        if (rc == 0) {
            rc = jz_quota_issue(central, tid, operator_ids[i], QUOTA_FEN, &t, &err);
        }
        if (rc == 0 && !d->ops[i].treasury[0]) {
            jz_institution inst;
            rc = jz_institution_get(central, operator_ids[i], &inst, &err);
            snprintf(d->ops[i].treasury, sizeof d->ops[i].treasury, "%s", inst.treasury);
        }
        progress("operators, quota", (uint64_t)i + 1, OPERATORS);
    }
    if (rc != 0) {
        fprintf(stderr, "jiaozi demo: institutions: %s: %s\n", err.code, err.message);
    }
    jz_client_free(central);
    return rc;
}

/* ---- Work split over threads, one client each ---- */

struct worker {
    struct demo *d;
    int index;
    int (*fn)(struct worker *w, jz_client **clients, uint64_t item);
    uint64_t total;
    _Atomic uint64_t *next;
    _Atomic uint64_t *done;
    const char *phase;
    uint64_t step; /* items taken at once */
    int rc;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    jz_client *clients[OPERATORS] = {NULL};
    for (int i = 0; i < OPERATORS; i++) {
        clients[i] = client_for(&w->d->ops[i]);
        if (!clients[i]) {
            w->rc = -1;
        }
    }
    while (w->rc == 0) {
        uint64_t item = atomic_fetch_add(w->next, w->step);
        if (item >= w->total) {
            break;
        }
        w->rc = w->fn(w, clients, item);
        uint64_t n = item + w->step > w->total ? w->total - item : w->step;
        uint64_t done = atomic_fetch_add(w->done, n) + n;
        if (done % (w->step * 8) < n || done == w->total) {
            progress(w->phase, done, w->total);
        }
    }
    for (int i = 0; i < OPERATORS; i++) {
        jz_client_free(clients[i]);
    }
    return NULL;
}

static int run_parallel(struct demo *d, const char *phase, uint64_t total, uint64_t step,
                        int (*fn)(struct worker *, jz_client **, uint64_t))
{
    _Atomic uint64_t next = 0, done = 0;
    struct worker w[16];
    pthread_t t[16];
    int n = d->threads < 16 ? d->threads : 16;
    for (int i = 0; i < n; i++) {
        w[i] = (struct worker){.d = d, .index = i, .fn = fn, .total = total, .next = &next,
                               .done = &done, .phase = phase, .step = step};
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        rc |= w[i].rc;
    }
    return rc;
}

/* ---- Phase: wallets ---- */

static int tier_of(uint32_t index)
{
    uint32_t r = index % 10; /* 40% tier 4, 30% tier 3, 20% tier 2, 10% tier 1 */
    return r < 4 ? 4 : r < 7 ? 3 : r < 9 ? 2 : 1;
}

static bool is_merchant(uint32_t index)
{
    return index % MERCHANT_EVERY == 0;
}

static int open_one(struct worker *w, jz_client **clients, uint64_t item)
{
    uint32_t op = (uint32_t)(item % OPERATORS);
    uint32_t index = (uint32_t)(item / OPERATORS);
    char id[JZ_ID_SIZE];
    demo_id(id, 'W', op, index);
    jz_wallet_spec s = {.id = id, .kind = "personal", .tier = tier_of(index), .form = "soft"};
    char name[32];
    if (is_merchant(index)) {
        s.kind = "merchant";
        s.tier = 1;
        s.mcc = merchant_mccs[(index / MERCHANT_EVERY) % JZ_ARRAY_LEN(merchant_mccs)];
    } else if (s.tier < 4) {
        /* Identified tiers carry a holder record, sealed by the node. */
        snprintf(name, sizeof name, "Holder %u-%u", op, index);
        s.holder_name = name;
        s.holder_phone = "13800000000";
    }
    jz_wallet out;
    jz_error err;
    if (jz_wallet_open(clients[op], &s, &out, &err) != 0) {
        fprintf(stderr, "\njiaozi demo: wallet %s: %s %s\n", id, err.code, err.message);
        return -1;
    }
    atomic_fetch_add(&w->d->opened, 1);
    return 0;
}

/* Funding: an exchange-in for every personal wallet, sized to its tier's cap. */
static int fund_batch(struct worker *w, jz_client **clients, uint64_t item)
{
    struct demo *d = w->d;
    jz_transfer_spec specs[BATCH_ITEMS];
    char ids[BATCH_ITEMS][2][JZ_ID_SIZE];
    jz_batch_result res[BATCH_ITEMS];
    /* Batch b funds operator b % 3's wallets (b / 3) * BATCH_ITEMS onwards: every batch is
     * one operator's, from its own treasury. */
    uint64_t b = item / BATCH_ITEMS;
    uint32_t op = (uint32_t)(b % OPERATORS);
    uint32_t base = (uint32_t)(b / OPERATORS * BATCH_ITEMS);
    size_t n = 0;
    for (uint32_t index = base; index < base + BATCH_ITEMS && index < d->wallets; index++) {
        if (is_merchant(index)) {
            continue;
        }
        demo_id(ids[n][0], 'F', op, index);
        demo_id(ids[n][1], 'W', op, index);
        static const int64_t amounts[5] = {0, 5000000, 2000000, 800000, 300000};
        specs[n] = (jz_transfer_spec){.id = ids[n][0], .debit = d->ops[op].treasury,
                                      .credit = ids[n][1], .amount = amounts[tier_of(index)],
                                      .kind = "exchange_in"};
        n++;
    }
    jz_error err;
    if (n > 0 && jz_transfer_batch(clients[op], specs, n, res, &err) != 0) {
        fprintf(stderr, "\njiaozi demo: funding: %s %s\n", err.code, err.message);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        atomic_fetch_add(res[i].posted ? &d->funded : &d->failed, 1);
    }
    return 0;
}

/* ---- Phase: payments ---- */

static int pay_batch(struct worker *w, jz_client **clients, uint64_t item)
{
    struct demo *d = w->d;
    jz_transfer_spec specs[BATCH_ITEMS];
    char ids[BATCH_ITEMS][3][JZ_ID_SIZE];
    jz_batch_result res[BATCH_ITEMS];
    uint32_t op = (uint32_t)((item / BATCH_ITEMS) % OPERATORS);
    size_t n = 0;
    for (uint64_t k = item; k < item + BATCH_ITEMS && k < d->payments; k++) {
        uint64_t s = jz_mix64(k * 0x9e3779b97f4a7c15ull + 20261122);
        uint32_t from = (uint32_t)(s % d->wallets);
        if (is_merchant(from)) {
            from++;
        }
        uint32_t to_op = (uint32_t)((s >> 20) % OPERATORS);
        uint32_t to = (uint32_t)((s >> 32) % d->wallets);
        bool shop = k % 3 == 0;
        if (shop) {
            to = to / MERCHANT_EVERY * MERCHANT_EVERY;
        } else if (is_merchant(to)) {
            to++;
        }
        if (from >= d->wallets || to >= d->wallets || (to == from && to_op == op)) {
            from = 1;
            to = 2;
        }
        demo_id(ids[n][0], 'P', 0, (uint32_t)k);
        demo_id(ids[n][1], 'W', op, from);
        demo_id(ids[n][2], 'W', to_op, to);
        /* Now and then a tier-4 wallet tries 2,000.01 CNY at once: the limits refuse it. */
        int64_t amount = k % 997 == 0 ? 200001 : 100 + (int64_t)((s >> 8) % 20000);
        specs[n] = (jz_transfer_spec){.id = ids[n][0], .debit = ids[n][1], .credit = ids[n][2],
                                      .amount = amount, .kind = shop ? "payment" : "p2p"};
        n++;
    }
    jz_error err;
    if (n > 0 && jz_transfer_batch(clients[op], specs, n, res, &err) != 0) {
        fprintf(stderr, "\njiaozi demo: payments: %s %s\n", err.code, err.message);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        atomic_fetch_add(res[i].posted ? &d->posted : &d->refused, 1);
    }
    return 0;
}

/* ---- Phase: hard wallets paying each other offline ---- */

/* Runs `jiaozi card ARGS` in DIR/cards as operator op (its credentials file), with stdin and
 * stdout redirected to files there when given; the output (or stderr) lands in out. */
static int card_cmd(struct demo *d, int op, const char *in, const char *outf, char *out,
                    size_t out_len, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static int card_cmd(struct demo *d, int op, const char *in, const char *outf, char *out,
                    size_t out_len, const char *fmt, ...)
{
    char args[512], cmd[5000], self[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    snprintf(cmd, sizeof cmd,
             "cd '%s/cards' && JZ_CREDENTIALS='%s/credentials/%s.json' '%s' card %s %s%s %s%s 2>&1",
             d->dir, d->dir, operator_ids[op], self, args, in ? "< " : "", in ? in : "",
             outf ? "> " : "", outf ? outf : "");
    FILE *p = popen(cmd, "r");
    size_t got = p ? fread(out, 1, out_len - 1, p) : 0;
    out[got] = '\0';
    int status = p ? pclose(p) : -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static uint64_t count_lines(const char *text, const char *needle)
{
    uint64_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle)) {
        n++;
    }
    return n;
}

/* A card for wallet (op, index) in file: made and issued the first time, kept after. */
static int demo_card(struct demo *d, int op, uint32_t index, const char *file, int64_t load)
{
    char out[8192], path[4096], wallet[JZ_ID_SIZE], tid[JZ_ID_SIZE];
    snprintf(path, sizeof path, "%s/cards/%s", d->dir, file);
    if (access(path, F_OK) == 0) {
        return 0; /* issued by an earlier run */
    }
    demo_id(wallet, 'W', (uint32_t)op, index);
    if (card_cmd(d, op, NULL, NULL, out, sizeof out, "init --card %s", file) != 0 ||
        card_cmd(d, op, NULL, NULL, out, sizeof out, "issue --card %s --wallet %s", file,
                 wallet) != 0) {
        fprintf(stderr, "\njiaozi demo: card %s: %s", file, out);
        return -1;
    }
    d->cards_issued++;
    if (load > 0) {
        /* Top the wallet up first: the payments phase may have spent what funding gave. */
        jz_client *cl = client_for(&d->ops[op]);
        jz_transfer_spec t = {.debit = d->ops[op].treasury, .credit = wallet, .amount = load,
                              .kind = "exchange_in"};
        jz_transfer got;
        jz_error err;
        demo_id(tid, 'K', (uint32_t)op, index);
        t.id = tid;
        int rc = cl ? jz_transfer_create(cl, &t, &got, &err) : -1;
        jz_client_free(cl);
        if (rc != 0) {
            fprintf(stderr, "\njiaozi demo: top-up for card %s failed\n", file);
            return -1;
        }
    }
    demo_id(tid, 'L', (uint32_t)op, index);
    if (load > 0 && card_cmd(d, op, NULL, NULL, out, sizeof out,
                             "load --card %s --amount %" PRId64 " --id %s", file, load, tid) != 0) {
        fprintf(stderr, "\njiaozi demo: card %s load: %s", file, out);
        return -1;
    }
    return 0;
}

/* A personal (not merchant) wallet index near k. */
static uint32_t personal(const struct demo *d, uint32_t k)
{
    uint32_t i = k % (d->wallets - 1);
    return is_merchant(i) ? i + 1 : i;
}

/* Offline: the payee's card asks, the payer's card pays, the payee's card accepts. */
static int offline_pay(struct demo *d, const char *payer, const char *payee, int64_t amount)
{
    char out[8192];
    if (card_cmd(d, 1, NULL, "challenge.hex", out, sizeof out,
                 "request --card %s --amount %" PRId64, payee, amount) != 0 ||
        card_cmd(d, 0, "challenge.hex", "payment.hex", out, sizeof out, "pay --card %s",
                 payer) != 0 ||
        card_cmd(d, 1, "payment.hex", NULL, out, sizeof out, "accept --card %s", payee) != 0) {
        return -1;
    }
    d->vouchers_accepted++;
    return 0;
}

static int sync_card(struct demo *d, int op, const char *file)
{
    char out[16384];
    if (card_cmd(d, op, NULL, NULL, out, sizeof out, "sync --card %s", file) != 0) {
        fprintf(stderr, "\njiaozi demo: sync %s: %s", file, out);
        return -1;
    }
    d->vouchers_settled += count_lines(out, ": settled");
    d->double_spends += count_lines(out, ": double_spend");
    return 0;
}

/* Pairs of hard wallets (payers at icbc, payees at ccb) pay each other offline, then sync,
 * payee first for even pairs and payer first for odd ones; one payer's card file is cloned
 * and spends the same counters again at another payee: the node catches it at sync. */
static int phase_cards(struct demo *d)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cards", d->dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/cards/pair0.synced", d->dir);
    bool rerun = access(path, F_OK) == 0;
    uint64_t steps = (uint64_t)d->cards * 4 + 2, step = 0;
    for (uint32_t p = 0; p < d->cards; p++) {
        char payer[32], payee[32];
        snprintf(payer, sizeof payer, "payer%u.card", p);
        snprintf(payee, sizeof payee, "payee%u.card", p);
        if (demo_card(d, 0, personal(d, 1 + p * 7), payer, 30000) != 0 ||
            demo_card(d, 1, personal(d, 2 + p * 7), payee, 0) != 0) {
            return -1;
        }
        progress("hard wallets", ++step, steps);
        if (!rerun) {
            if (p == 0) {
                snprintf(path, sizeof path,
                         "cd '%s/cards' && cp payer0.card clone.card && cp payer0.card.key "
                         "clone.card.key",
                         d->dir);
                if (system(path) != 0 ||
                    demo_card(d, 1, personal(d, 5 + d->cards * 7), "victim.card", 0) != 0) {
                    return -1;
                }
            }
            for (int k = 0; k < 3; k++) {
                if (offline_pay(d, payer, payee, 1000 + 500 * k) != 0) {
                    fprintf(stderr, "\njiaozi demo: offline payment %s -> %s refused\n", payer,
                            payee);
                    return -1;
                }
            }
            if (p == 0 && offline_pay(d, "clone.card", "victim.card", 1200) != 0) {
                return -1;
            }
        }
        progress("hard wallets", step += 2, steps);
        bool payee_first = p % 2 == 0;
        if (sync_card(d, payee_first ? 1 : 0, payee_first ? payee : payer) != 0 ||
            sync_card(d, payee_first ? 0 : 1, payee_first ? payer : payee) != 0) {
            return -1;
        }
        progress("hard wallets", ++step, steps);
    }
    if (!rerun && d->cards > 0) {
        if (sync_card(d, 1, "victim.card") != 0) {
            return -1;
        }
        snprintf(path, sizeof path, "%s/cards/pair0.synced", d->dir);
        FILE *f = fopen(path, "w");
        if (f) {
            fclose(f);
        }
    }
    progress("hard wallets", steps, steps);
    return 0;
}

/* ---- Phase: merchants, bills, a red-envelope campaign, targeted funds ---- */

/* A signed request with a JSON body built from fmt; the answer parsed into *out (may be
 * NULL). Returns the HTTP status (2xx on success), or -1 on a transport failure. */
static int demo_call(jz_client *cl, const char *method, const char *path, json_t **out,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int demo_call(jz_client *cl, const char *method, const char *path, json_t **out,
                     const char *fmt, ...)
{
    char body[8192];
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(body, sizeof body, fmt, ap);
        va_end(ap);
    }
    const char *resp = NULL;
    size_t len = 0;
    jz_error err;
    int rc = jz_request(cl, method, path, fmt ? body : NULL, &resp, &len, &err);
    if (out) {
        *out = rc == 0 ? json_loadb(resp, len, 0, NULL) : NULL;
    }
    if (rc != 0) {
        fprintf(stderr, "\njiaozi demo: %s %s: %s %s\n", method, path, err.code, err.message);
        return err.http_status ? err.http_status : -1;
    }
    return jz_client_last_status(cl);
}

static const char *jstr_of(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

/* A merchant record (and its own API key) for merchant wallet (op, index); the key is kept
 * in DIR/credentials/merchant-OP-INDEX.json, so a rerun uses the same one. */
static jz_client *demo_merchant(struct demo *d, jz_client *opc, int op, uint32_t index)
{
    char path[4096], wallet[JZ_ID_SIZE];
    snprintf(path, sizeof path, "%s/credentials/merchant-%d-%u.json", d->dir, op, index);
    jz_credentials c;
    jz_error err;
    if (jz_credentials_load(path, &c, &err) != 0) {
        demo_id(wallet, 'W', (uint32_t)op, index);
        json_t *o = NULL;
        if (demo_call(opc, "POST", "/v1/merchants", &o, "{\"wallet\":\"%s\",\"name\":\"Shop %u\"}",
                      wallet, index) != 201 || !o) {
            json_decref(o);
            return NULL;
        }
        memset(&c, 0, sizeof c);
        snprintf(c.institution, sizeof c.institution, "%s", operator_ids[op]);
        snprintf(c.key_id, sizeof c.key_id, "%s", jstr_of(o, "key_id"));
        snprintf(c.secret, sizeof c.secret, "%s", jstr_of(o, "secret"));
        snprintf(c.url, sizeof c.url, "%s", d->url);
        json_decref(o);
        if (jz_credentials_save(&c, path, &err) != 0) {
            return NULL;
        }
    }
    jz_client *m = jz_client_new(d->url, c.key_id, c.secret, &err);
    jz_credentials_clear(&c);
    return m;
}

/* Shops at icbc sell to ccb's customers through dynamic QR codes; one order in four is
 * partly refunded. */
static int phase_orders(struct demo *d, jz_client **ops, uint32_t shops)
{
    uint32_t merchants = (d->wallets - 1) / MERCHANT_EVERY + 1;
    shops = shops < merchants ? shops : merchants;
    for (uint32_t sh = 0; sh < shops; sh++) {
        uint32_t shop = sh * MERCHANT_EVERY;
        jz_client *m = demo_merchant(d, ops[0], 0, shop);
        if (!m) {
            return -1;
        }
        for (int k = 0; k < 4; k++) {
            json_t *o = NULL, *p = NULL;
            char payer[JZ_ID_SIZE], rid[JZ_ID_SIZE], path[160];
            demo_id(payer, 'W', 1, personal(d, 11 + sh * 13 + (uint32_t)k));
            int64_t amount = 880 + 120 * k;
            int st = demo_call(m, "POST", "/v1/orders", &o,
                               "{\"amount\":%" PRId64 ",\"expires_at\":%" PRId64
                               ",\"ref\":\"demo\"}",
                               amount, (int64_t)time(NULL) * 1000 + 3600000);
            if (st != 201 || demo_call(ops[1], "POST", "/v1/pay", &p,
                                       "{\"qr\":\"%s\",\"debit\":\"%s\"}", jstr_of(o, "qr"),
                                       payer) / 100 != 2) {
                json_decref(o);
                json_decref(p);
                jz_client_free(m);
                return -1;
            }
            d->orders_paid++;
            if (k == 0) {
                snprintf(path, sizeof path, "/v1/orders/%s/refunds", jstr_of(o, "id"));
                jz_id_new(rid); /* the order is new each run, so its refund is too */
                if (demo_call(m, "POST", path, NULL, "{\"id\":\"%s\",\"amount\":%" PRId64 "}",
                              rid, amount / 2) / 100 == 2) {
                    d->refunds++;
                }
            }
            json_decref(o);
            json_decref(p);
        }
        jz_client_free(m);
        progress("merchants, orders", sh + 1, shops);
    }
    return 0;
}

/* The water company (a ccb merchant wallet) uploads a bill file; alipay's customers pay. */
static int phase_bills(struct demo *d, jz_client **ops, uint32_t count)
{
    char biller[JZ_ID_SIZE], path[200], csv[6000];
    demo_id(biller, 'W', 1, 0); /* ccb's first merchant wallet */
    int st = demo_call(ops[1], "POST", "/v1/billers", NULL,
                       "{\"wallet\":\"%s\",\"name\":\"Chengdu Water\",\"category\":\"water\"}",
                       biller);
    if (st != 201 && st != 200) {
        return -1;
    }
    int n = snprintf(csv, sizeof csv, "reference,amount,due_date,payer_name\\n");
    for (uint32_t i = 0; i < count && n < (int)sizeof csv - 100; i++) {
        n += snprintf(csv + n, sizeof csv - (size_t)n, "WTR-%04u,%u,2026-12-31,Payer %u\\n", i,
                      2000 + 37 * i, i);
    }
    snprintf(path, sizeof path, "/v1/billers/%s/bills", biller);
    if (demo_call(ops[1], "POST", path, NULL, "{\"csv\":\"%s\"}", csv) != 200) {
        return -1;
    }
    snprintf(path, sizeof path, "/v1/billers/%s/payments", biller);
    for (uint32_t i = 0; i < count; i++) {
        char payer[JZ_ID_SIZE];
        demo_id(payer, 'W', 2, personal(d, 17 + i * 3));
        st = demo_call(ops[2], "POST", path, NULL,
                       "{\"reference\":\"WTR-%04u\",\"debit\":\"%s\",\"amount\":%u}", i, payer,
                       2000 + 37 * i);
        d->bills_paid += st / 100 == 2;
        progress("bills", i + 1, count);
    }
    return 0;
}

/* icbc runs a red-envelope campaign: a funded pool, registrations from every operator for two
 * seconds, a draw from a seed committed to beforehand, prizes spendable at grocers only. */
static int phase_campaign(struct demo *d, jz_client **ops, uint32_t registrants)
{
    char done[4096];
    snprintf(done, sizeof done, "%s/campaign.done", d->dir);
    if (access(done, F_OK) == 0) {
        return 0; /* drawn by an earlier run: the prizes are spent or on their way home */
    }
    char cid[JZ_ID_SIZE], pool[JZ_ID_SIZE], tid[JZ_ID_SIZE], path[200], seed_hex[65], com_hex[65];
    uint8_t seed[32], com[CRYPTO_SM3_BYTES];
    if (crypto_random(seed, sizeof seed) != 0 || crypto_sm3(seed, sizeof seed, com) != 0) {
        return -1;
    }
    jz_hex_encode(seed, sizeof seed, seed_hex);
    jz_hex_encode(com, sizeof com, com_hex);
    jz_id_new(cid);
    demo_id(pool, 'W', 0, personal(d, 3));
    /* The pool gets the prizes' money from icbc's treasury first. */
    jz_transfer_spec t = {.debit = d->ops[0].treasury, .credit = pool,
                          .amount = 1000 * (int64_t)registrants, .kind = "exchange_in"};
    jz_transfer got;
    jz_error err;
    jz_id_new(tid);
    t.id = tid;
    if (jz_transfer_create(ops[0], &t, &got, &err) != 0) {
        fprintf(stderr, "\njiaozi demo: campaign pool: %s\n", err.message);
        return -1;
    }
    int64_t now = (int64_t)time(NULL) * 1000;
    int64_t closes = now + 2000;
    if (demo_call(ops[0], "POST", "/v1/campaigns", NULL,
                  "{\"id\":\"%s\",\"name\":\"Chengdu spring red envelopes\",\"pool\":\"%s\","
                  "\"amount\":1000,\"winners\":%u,\"registration_opens_at\":%" PRId64
                  ",\"registration_closes_at\":%" PRId64 ",\"spend_expires_at\":%" PRId64
                  ",\"mccs\":[5411,5812],\"seed_commitment\":\"%s\"}",
                  cid, pool, registrants / 2, now, closes, (int64_t)(now + 7 * 86400000LL), com_hex) != 201) {
        return -1;
    }
    snprintf(path, sizeof path, "/v1/campaigns/%s/registrations", cid);
    for (uint32_t i = 0; i < registrants; i++) {
        int op = 1 + (int)(i % 2); /* ccb's and alipay's customers register */
        char w[JZ_ID_SIZE];
        demo_id(w, 'W', (uint32_t)op, personal(d, 101 + i * 5));
        demo_call(ops[op], "POST", path, NULL, "{\"wallet\":\"%s\"}", w);
        progress("red envelopes", i + 1, registrants + 1);
    }
    while ((int64_t)time(NULL) * 1000 < closes + 200) {
        usleep(100000);
    }
    json_t *o = NULL;
    snprintf(path, sizeof path, "/v1/campaigns/%s/draw", cid);
    if (demo_call(ops[0], "POST", path, &o, "{\"seed\":\"%s\"}", seed_hex) / 100 != 2 || !o) {
        json_decref(o);
        return -1;
    }
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(o, "winners"), i, w) {
        d->winners += strcmp(jstr_of(w, "status"), "credited") == 0;
    }
    json_decref(o);
    progress("red envelopes", registrants + 1, registrants + 1);
    FILE *f = fopen(done, "w");
    if (f) {
        fprintf(f, "%s\n", cid);
        fclose(f);
    }
    return 0;
}

/* The city's subsidy office (a ccb corporate wallet) sends breakfast money that can be
 * spent only at grocers and restaurants within 30 days; what is left goes back by itself. */
static int phase_targeted(struct demo *d, jz_client **ops, uint32_t recipients)
{
    char funder[JZ_ID_SIZE], tid[JZ_ID_SIZE];
    demo_id(funder, 'W', 1, personal(d, 7));
    jz_transfer_spec t = {.debit = d->ops[1].treasury, .credit = funder,
                          .amount = 5000 * (int64_t)recipients, .kind = "exchange_in"};
    jz_transfer got;
    jz_error err;
    jz_id_new(tid); /* each run disburses afresh (the expiry is a month from now) */
    t.id = tid;
    if (jz_transfer_create(ops[1], &t, &got, &err) != 0) {
        fprintf(stderr, "\njiaozi demo: subsidy funding: %s\n", err.message);
        return -1;
    }
    int64_t expires = (int64_t)time(NULL) * 1000 + 30 * 86400000LL;
    for (uint32_t i = 0; i < recipients; i++) {
        char id[JZ_ID_SIZE], to[JZ_ID_SIZE];
        jz_id_new(id);
        demo_id(to, 'W', 1, personal(d, 211 + i * 7));
        int st = demo_call(ops[1], "POST", "/v1/disbursements", NULL,
                           "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":5000,"
                           "\"restriction\":{\"mccs\":[5411,5812],\"expires_at\":%" PRId64 "}}",
                           id, funder, to, expires);
        d->disbursed += st / 100 == 2;
        progress("targeted funds", i + 1, recipients);
    }
    return 0;
}

/* ---- Phase: a few laundering patterns for the detectors ---- */

/* One p2p transfer by wallet (op, from)'s operator; the id derives from (tag, n) so a rerun
 * replays it. 0 when posted. */
static int launder(jz_client **ops, uint32_t tag, uint32_t n, int op, const char *from,
                   const char *to, int64_t amount)
{
    char id[JZ_ID_SIZE];
    demo_id(id, 'X', tag, n);
    jz_transfer_spec t = {.id = id, .debit = from, .credit = to, .amount = amount, .kind = "p2p"};
    jz_transfer got;
    jz_error err;
    if (jz_transfer_create(ops[op], &t, &got, &err) != 0) {
        fprintf(stderr, "\njiaozi demo: pattern transfer: %s %s\n", err.code, err.message);
        return -1;
    }
    return 0;
}

/* A tier-1 (unlimited) wallet of operator op for a pattern, funded with amount from its
 * treasury. Tier 1 is index 9 mod 10; the k-th such wallet. */
static int launder_wallet(struct demo *d, jz_client **ops, int op, uint32_t k, int64_t amount,
                          char id[JZ_ID_SIZE])
{
    uint32_t index = (9 + 10 * k) % (d->wallets - d->wallets % 10);
    demo_id(id, 'W', (uint32_t)op, index);
    if (amount == 0) {
        return 0;
    }
    char tid[JZ_ID_SIZE];
    demo_id(tid, 'Y', (uint32_t)op, index);
    jz_transfer_spec t = {.id = tid, .debit = d->ops[op].treasury, .credit = id,
                          .amount = amount, .kind = "exchange_in"};
    jz_transfer got;
    jz_error err;
    return jz_transfer_create(ops[op], &t, &got, &err);
}

/* Structuring (three payments just under the 50,000 CNY reporting line), a circle
 * A -> B -> C -> A, fan-out to 20 people, fan-in from 20, and money in and straight out:
 * the risk module's detectors follow the journal and raise an alert for each. */
static int phase_patterns(struct demo *d, jz_client **ops)
{
    char s[JZ_ID_SIZE], a[JZ_ID_SIZE], b[JZ_ID_SIZE], c[JZ_ID_SIZE], f[JZ_ID_SIZE];
    char r[JZ_ID_SIZE], x[JZ_ID_SIZE], y[JZ_ID_SIZE], w[JZ_ID_SIZE];
    if (launder_wallet(d, ops, 0, 0, 20000000, s) != 0 ||
        launder_wallet(d, ops, 0, 1, 300000, a) != 0 || launder_wallet(d, ops, 1, 2, 0, b) != 0 ||
        launder_wallet(d, ops, 2, 3, 0, c) != 0 || launder_wallet(d, ops, 1, 4, 100000, f) != 0 ||
        launder_wallet(d, ops, 2, 5, 0, r) != 0 || launder_wallet(d, ops, 1, 6, 0, x) != 0 ||
        launder_wallet(d, ops, 2, 7, 0, y) != 0) {
        fprintf(stderr, "\njiaozi demo: funding the patterns failed\n");
        return -1;
    }
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < 3; i++) { /* structuring */
        rc = launder(ops, 1, i, 0, s, b, 4900000 - 10000 * i);
    }
    rc = rc ? rc : launder(ops, 2, 0, 0, a, b, 200000); /* circular */
    rc = rc ? rc : launder(ops, 2, 1, 1, b, c, 200000);
    rc = rc ? rc : launder(ops, 2, 2, 2, c, a, 200000);
    for (uint32_t i = 0; rc == 0 && i < 20; i++) { /* fan-out and fan-in */
        /* alipay's customers: no hard wallet of theirs was frozen for double spending */
        demo_id(w, 'W', 2, personal(d, 301 + i * 11));
        rc = launder(ops, 3, i, 1, f, w, 2000 + i);
        rc = rc ? rc : launder(ops, 4, i, 2, w, r, 1000 + i);
    }
    rc = rc ? rc : launder(ops, 5, 0, 0, s, x, 1500000); /* rapid in and out */
    rc = rc ? rc : launder(ops, 5, 1, 1, x, y, 1400000);
    d->patterns = rc == 0 ? 5 : 0;
    progress("laundering patterns", 1, 1);
    return rc;
}

/* Open alerts the central bank sees once the monitor has read everything durable. */
static void count_alerts(struct demo *d)
{
    jz_client *central = client_for(&d->central);
    for (int i = 0; central && i < 50; i++) {
        json_t *o = NULL;
        if (demo_call(central, "GET", "/v1/risk/status", &o, NULL) / 100 == 2 && o &&
            json_integer_value(json_object_get(o, "lag_records")) == 0) {
            json_decref(o);
            break;
        }
        json_decref(o);
        usleep(100000);
    }
    const char *statuses[] = {"open", "investigating", "closed_ok", "closed_suspicious"};
    for (size_t k = 0; central && k < JZ_ARRAY_LEN(statuses); k++) {
        char path[80];
        json_t *o = NULL;
        snprintf(path, sizeof path, "/v1/alerts?status=%s&limit=500", statuses[k]);
        if (demo_call(central, "GET", path, &o, NULL) / 100 == 2 && o) {
            d->alerts += json_array_size(json_object_get(o, "alerts"));
        }
        json_decref(o);
    }
    jz_client_free(central);
}

static int phase_scenarios(struct demo *d)
{
    jz_client *ops[OPERATORS] = {NULL};
    int rc = 0;
    for (int i = 0; i < OPERATORS; i++) {
        ops[i] = client_for(&d->ops[i]);
        rc |= ops[i] ? 0 : -1;
    }
    if (rc == 0) {
        rc = phase_orders(d, ops, 5) != 0 || phase_bills(d, ops, 20) != 0 ||
                     phase_campaign(d, ops, 30) != 0 || phase_targeted(d, ops, 10) != 0 ||
                     phase_patterns(d, ops) != 0
                 ? -1
                 : 0;
    }
    if (rc == 0) {
        count_alerts(d);
    }
    for (int i = 0; i < OPERATORS; i++) {
        jz_client_free(ops[i]);
    }
    return rc;
}

/* ---- Summary ---- */

struct totals {
    int64_t issued, in_wallets;
    uint64_t wallets;
    uint64_t seq;
};

/* Central's view from the console's statistics route (signed): issued and every balance. */
static int read_totals(struct demo *d, struct totals *t)
{
    jz_client *central = client_for(&d->central);
    const char *body = NULL;
    size_t len = 0;
    jz_error err;
    int rc = central ? jz_request(central, "GET", "/console/stats", NULL, &body, &len, &err) : -1;
    json_t *j = rc == 0 ? json_loadb(body, len, 0, NULL) : NULL;
    memset(t, 0, sizeof *t);
    if (j) {
        t->issued = json_integer_value(json_object_get(j, "issued"));
        t->seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
        size_t i;
        json_t *row;
        json_array_foreach(json_object_get(j, "circulation"), i, row) {
            t->in_wallets += json_integer_value(json_object_get(row, "balance"));
            t->wallets += (uint64_t)json_integer_value(json_object_get(row, "wallets"));
        }
        json_decref(j);
    } else {
        rc = -1;
    }
    jz_client_free(central);
    return rc;
}

static void yuan(char *out, size_t n, int64_t fen)
{
    snprintf(out, n, "%" PRId64 ".%02" PRId64 " CNY", fen / 100, (fen < 0 ? -fen : fen) % 100);
}

static void summary(struct demo *d, const struct totals *t, bool conserved)
{
    char a[64], b[64];
    yuan(a, sizeof a, t->issued);
    yuan(b, sizeof b, t->in_wallets);
    printf("\n  jiaozi demo: summary\n");
    printf("  %-28s %d (central bank + %d operators)\n", "institutions", OPERATORS + 1,
           OPERATORS);
    printf("  %-28s %" PRIu64 " (of which %u merchants)\n", "wallets", t->wallets,
           (d->wallets / MERCHANT_EVERY + 1) * OPERATORS);
    printf("  %-28s %" PRIu64 "\n", "funded (exchange in)", (uint64_t)d->funded);
    printf("  %-28s %" PRIu64 " posted, %" PRIu64 " refused by limits or funds\n", "payments",
           (uint64_t)d->posted, (uint64_t)d->refused);
    printf("  %-28s %" PRIu64 " issued; %" PRIu64 " offline vouchers accepted, %" PRIu64
           " settled, %" PRIu64 " double spend caught\n",
           "hard wallets", d->cards_issued, d->vouchers_accepted, d->vouchers_settled,
           d->double_spends);
    printf("  %-28s %" PRIu64 " orders paid by QR (%" PRIu64 " refunded in part), %" PRIu64
           " bills paid\n", "merchants and billers", d->orders_paid, d->refunds, d->bills_paid);
    printf("  %-28s %" PRIu64 " winners credited; %" PRIu64 " targeted disbursements\n",
           "red envelopes, subsidies", d->winners, d->disbursed);
    printf("  %-28s %" PRIu64 " laundering patterns injected; %" PRIu64 " alerts raised\n",
           "risk", d->patterns, d->alerts);
    char path[4096], cid[JZ_ID_SIZE] = "";
    snprintf(path, sizeof path, "%s/campaign.done", d->dir);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%32s", cid) != 1) {
            cid[0] = '\0';
        }
        fclose(f);
        printf("  %-28s %s (the console's Campaigns page shows it)\n", "campaign", cid);
    }
    printf("  %-28s %.0f transfers/s (batches of %d, %d clients)\n", "throughput",
           d->pay_seconds > 0 ? (double)d->payments / d->pay_seconds : 0.0, BATCH_ITEMS,
           d->threads);
    printf("  %-28s %s\n", "issued by the central bank", a);
    printf("  %-28s %s\n", "held in wallets", b);
    printf("  %-28s %s\n", "conservation", conserved ? "ok" : "BROKEN");
    printf("  %-28s %" PRIu64 "\n", "journal head seq", t->seq);
}

/* ---- The command ---- */

static int journal_check(const char *dir)
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
    struct journal_verify_report rep;
    if (crypto_sm2_load_public_pem(pem, n, &pub) != 0) {
        fprintf(stderr, "jiaozi demo: %s: not an SM2 public key\n", path);
        return -1;
    }
    int rc = journal_verify(dir, pub, &rep, err, sizeof err);
    crypto_sm2_free(pub);
    if (rc != 0) {
        fprintf(stderr, "jiaozi demo: journal: %s\n", err);
        return -1;
    }
    printf("  %-28s %" PRIu64 " records\n", "journal verified", rep.records);
    return 0;
}

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int serve_until_signal(struct demo *d)
{
    printf("\n  console  %s/   (sign in with a key id and secret from the files below)\n"
           "  central  %s/central.json\n  operators %s/credentials/{icbc,ccb,alipay}.json\n"
           "  serving until Ctrl-C\n",
           d->url, d->dir, d->dir);
    fflush(stdout);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int status = 0;
    while (!stop_requested) {
        if (waitpid(d->server, &status, WNOHANG) == d->server) {
            d->server = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
        }
        usleep(100000);
    }
    return stop_server(d) == 0 ? 0 : 1;
}

static int demo_phases(struct demo *d)
{
    if (phase_institutions(d) != 0) {
        return -1;
    }
    uint64_t wallets = (uint64_t)d->wallets * OPERATORS;
    if (run_parallel(d, "wallets", wallets, 1, open_one) != 0 ||
        run_parallel(d, "funding", ((uint64_t)d->wallets + BATCH_ITEMS - 1) / BATCH_ITEMS *
                                       OPERATORS * BATCH_ITEMS, BATCH_ITEMS, fund_batch) != 0) {
        return -1;
    }
    double t0 = mono_s();
    if (run_parallel(d, "payments", d->payments, BATCH_ITEMS, pay_batch) != 0) {
        return -1;
    }
    d->pay_seconds = mono_s() - t0;
    return phase_cards(d) != 0 || phase_scenarios(d) != 0 ? -1 : 0;
}

int cli_demo(int argc, char **argv)
{
    static const char *const known[] = {"--data", "--listen", "--url", "--central", "--wallets",
                                        "--payments", "--threads", "--cards", NULL};
    static const char *const flags[] = {"--serve", "--help", NULL};
    if (cli_flag(argc, argv, "--help")) {
        fputs(demo_help, stdout);
        return 0;
    }
    if (cli_check_options(argc, argv, known, flags) != 0) {
        fputs(demo_help, stderr);
        return 2;
    }
    struct demo *d = calloc(1, sizeof *d);
    if (!d) {
        return 1;
    }
    d->dir = cli_opt(argc, argv, "--data") ? cli_opt(argc, argv, "--data") : "jiaozi-data";
    d->wallets = (uint32_t)cli_opt_u64(argc, argv, "--wallets", 30000, 3000000) / OPERATORS + 1;
    d->payments = (uint32_t)cli_opt_u64(argc, argv, "--payments", 100000, 100000000);
    d->threads = (int)cli_opt_u64(argc, argv, "--threads", 4, 16);
    d->cards = (uint32_t)cli_opt_u64(argc, argv, "--cards", 4, 100);
    if (d->threads < 1) {
        d->threads = 1;
    }
    bool serve = cli_flag(argc, argv, "--serve");
    const char *url = cli_opt(argc, argv, "--url");
    const char *listen = cli_opt(argc, argv, "--listen");
    char path[4096];
    jz_error err;
    int rc = 1;
    mkdir(d->dir, 0700); /* credentials and card files go here, with --url too */
    if (url) {
        snprintf(d->url, sizeof d->url, "%s", url);
        snprintf(path, sizeof path, "%s", cli_opt(argc, argv, "--central")
                                               ? cli_opt(argc, argv, "--central") : "");
        serve = false;
    } else {
        if (start_server(d, listen ? listen : "127.0.0.1:8080") != 0) {
            goto done;
        }
        snprintf(path, sizeof path, "%s/central.json", d->dir);
    }
    if (jz_credentials_load(path, &d->central, &err) != 0) {
        fprintf(stderr, "jiaozi demo: central's credentials %s: %s\n", path, err.message);
        goto done;
    }
    snprintf(d->central.url, sizeof d->central.url, "%s", d->url);
    printf("jiaozi demo: a city pilot on %s\n", d->url);
    fflush(stdout);
    if (demo_phases(d) != 0) {
        goto done;
    }
    struct totals t;
    if (read_totals(d, &t) != 0) {
        fprintf(stderr, "jiaozi demo: cannot read the totals\n");
        goto done;
    }
    /* Every wallet together holds exactly what was issued; on a node of its own the issue is
     * exactly the operators' quota too (a rerun that issued twice would show here). */
    bool conserved = t.issued == t.in_wallets &&
                     (url || t.issued == (int64_t)OPERATORS * QUOTA_FEN);
    summary(d, &t, conserved);
    if (!conserved) {
        goto done;
    }
    if (serve) {
        rc = serve_until_signal(d);
        goto done;
    }
    if (d->server) {
        if (stop_server(d) != 0 || journal_check(d->dir) != 0) {
            goto done;
        }
    }
    printf("  %-28s %s/credentials/{icbc,ccb,alipay}.json\n", "operator credentials", d->dir);
    if (!url) {
        printf("\n  serve it: jiaozi serve --data %s  (central's credentials: %s/central.json)\n",
               d->dir, d->dir);
    }
    rc = 0;
done:
    stop_server(d);
    jz_credentials_clear(&d->central);
    for (int i = 0; i < OPERATORS; i++) {
        jz_credentials_clear(&d->ops[i]);
    }
    free(d);
    return rc;
}
