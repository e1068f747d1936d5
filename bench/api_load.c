/*
 * api_load.c: HTTP/1.1 keep-alive load generator for `jiaozi serve` (and, for the ceiling,
 * any static GET such as nginx). Loopback only. See bench/api_README.md.
 *
 * Every request is built and signed before the clock starts (X-JZ-* headers, API.md
 * "Authentication", with auth_sign), so the timed phase only writes bytes and reads answers:
 *   transfer  POST /v1/transfers, one p2p transfer of 1 fen between two random distinct
 *             wallets of the setup, each with its own id and nonce;
 *   batch     POST /v1/transfers/batch with B such transfers;
 *   get       GET of a fixed path (no signature), the same bytes every time.
 * Loops:
 *   closed    (default) each connection sends its next request when the previous answer has
 *             arrived: the throughput ceiling at that many connections; latency is counted
 *             from the send.
 *   open      --rate R: request i is due at t0 + i/R whether or not earlier answers came
 *             back; latency is counted from the due time (no coordinated omission): a request
 *             that waits for a free connection has its clock running.
 * The first --warmup seconds are not counted; then --duration seconds are. Latencies go into
 * a log-linear histogram (64 sub-buckets per power of two of nanoseconds, < 1.6% error).
 * Output: one JSON object on stdout, one human line on stderr.
 *
 *   api_load setup    --creds DIR/central.json --state FILE [--wallets N] [--fund FEN]
 *   api_load transfer --state FILE [common options]
 *   api_load batch    --state FILE --batch B [common options]
 *   api_load get      --url http://127.0.0.1:PORT/PATH [common options]
 *   api_load probe    --url http://127.0.0.1:PORT/PATH [--print]   one GET; 0 when 200
 *   api_load freeport                                              a free port on 127.0.0.1
 * Common: --conns C (64) --duration S (10) --warmup S (2) --rate R (0 = closed loop)
 *         --requests N (pre-signed requests; default enough for the run) --threads T (1)
 *         --label NAME --server-pid PID[,PID...] (CPU use of the server in the window)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "common.h"
#include "crypto.h"
#include "limits.h" /* jiaozi's src/limits.h (-iquote src): JZ_BATCH_MAX */

#define HBUCKETS 4096
#define MAX_SERVER_PIDS 16
#define READ_CHUNK 65536

/* ---------------------------------------------------------------- time, histogram */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct hist {
    uint64_t c[HBUCKETS];
    uint64_t n;
    uint64_t max_ns;
    double sum_ns;
};

static int hidx(uint64_t v)
{
    if (v < 128) {
        return (int)v;
    }
    int msb = 63 - __builtin_clzll(v);
    int sh = msb - 6;
    int i = sh * 64 + (int)(v >> sh);
    return i < HBUCKETS ? i : HBUCKETS - 1;
}

/* The middle of bucket i, in ns. */
static double hval(int i)
{
    if (i < 128) {
        return i;
    }
    int sh = i / 64 - 1;
    uint64_t m = (uint64_t)(i - sh * 64);
    return ((double)(m << sh) + (double)((m + 1) << sh) - 1) / 2;
}

static void hist_add(struct hist *h, int64_t ns)
{
    uint64_t v = ns < 0 ? 0 : (uint64_t)ns;
    h->c[hidx(v)]++;
    h->n++;
    h->sum_ns += (double)v;
    if (v > h->max_ns) {
        h->max_ns = v;
    }
}

static void hist_merge(struct hist *to, const struct hist *from)
{
    for (int i = 0; i < HBUCKETS; i++) {
        to->c[i] += from->c[i];
    }
    to->n += from->n;
    to->sum_ns += from->sum_ns;
    if (from->max_ns > to->max_ns) {
        to->max_ns = from->max_ns;
    }
}

/* Percentile p (0-100) in µs. */
static double hist_pct_us(const struct hist *h, double p)
{
    if (h->n == 0) {
        return 0;
    }
    uint64_t want = (uint64_t)((p / 100.0) * (double)h->n + 0.999999);
    if (want < 1) {
        want = 1;
    }
    uint64_t acc = 0;
    for (int i = 0; i < HBUCKETS; i++) {
        acc += h->c[i];
        if (acc >= want) {
            double v = hval(i);
            return (v > (double)h->max_ns ? (double)h->max_ns : v) / 1000.0;
        }
    }
    return (double)h->max_ns / 1000.0;
}

/* ---------------------------------------------------------------- options */

static const char *opt(int argc, char **argv, const char *name)
{
    for (int i = 2; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return argv[i + 1];
        }
    }
    return NULL;
}

static bool flag(int argc, char **argv, const char *name)
{
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return true;
        }
    }
    return false;
}

static double opt_num(int argc, char **argv, const char *name, double def)
{
    const char *v = opt(argc, argv, name);
    return v ? atof(v) : def;
}

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "api_load: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* "http://127.0.0.1:PORT/path" → port and path; only loopback. */
static void parse_url(const char *url, int *port, char *path, size_t path_len)
{
    const char *p = NULL;
    if (strncmp(url, "http://127.0.0.1:", 17) == 0) {
        p = url + 17;
    } else if (strncmp(url, "http://localhost:", 17) == 0) {
        p = url + 17;
    } else {
        die("only http://127.0.0.1:PORT/... is allowed, not %s", url);
    }
    char *end;
    long v = strtol(p, &end, 10);
    if (v <= 0 || v > 65535) {
        die("bad port in %s", url);
    }
    *port = (int)v;
    snprintf(path, path_len, "%s", *end == '/' ? end : "/");
}

/* ---------------------------------------------------------------- requests */

struct req {
    char *p;
    uint32_t len;
    uint32_t items; /* transfers in it (batch), 1 otherwise */
};

struct reqset {
    struct req *r;
    size_t n;
    bool cycle; /* the same request for ever (GET) */
    char *arena;
};

struct creds {
    char key_id[65];
    uint8_t secret[AUTH_SECRET_BYTES];
};

static int json_str(const char *json, const char *key, char *out, size_t out_len)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = json ? strstr(json, pat) : NULL;
    if (!p) {
        return -1;
    }
    p += strlen(pat);
    const char *end = strchr(p, '"');
    if (!end || (size_t)(end - p) >= out_len) {
        return -1;
    }
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return 0;
}

static int creds_from_json(const char *json, struct creds *c)
{
    char hex[80];
    if (json_str(json, "key_id", c->key_id, sizeof c->key_id) != 0 ||
        json_str(json, "secret", hex, sizeof hex) != 0 ||
        jz_hex_decode(hex, strlen(hex), c->secret, sizeof c->secret) != 0) {
        return -1;
    }
    return 0;
}

/* Head + body of one signed request into out (cap bytes); returns its length. */
static size_t build_signed(char *out, size_t cap, int port, const struct creds *c,
                           const char *method, const char *path, const char *ts,
                           const char *nonce, const char *body, size_t body_len)
{
    char sig[65];
    if (auth_sign(c->secret, method, path, ts, nonce, body, body_len, sig) != 0) {
        die("%s", "auth_sign failed");
    }
    int n = snprintf(out, cap,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                     "X-JZ-Key: %s\r\nX-JZ-Timestamp: %s\r\nX-JZ-Nonce: %s\r\n"
                     "X-JZ-Signature: %s\r\nContent-Length: %zu\r\n\r\n",
                     method, path, port, c->key_id, ts, nonce, sig, body_len);
    if (n < 0 || (size_t)n + body_len > cap) {
        die("%s", "request larger than its slot");
    }
    memcpy(out + n, body, body_len);
    return (size_t)n + body_len;
}

/* Ids of this run: a random 64-bit prefix and a counter, so runs never collide. */
static uint64_t g_id_prefix, g_nonce_prefix;

static void init_prefixes(void)
{
    uint64_t r[2];
    if (crypto_random(r, sizeof r) != 0) {
        die("%s", "no randomness");
    }
    g_id_prefix = r[0];
    g_nonce_prefix = r[1];
}

struct state {
    int port;
    struct creds op;
    char treasury[40];
    uint32_t wallets;
    char wallet_prefix[40]; /* 24 hex; wallet i is prefix + %08x */
};

static void wallet_id(const struct state *s, uint32_t i, char out[33])
{
    snprintf(out, 33, "%.24s%08" PRIx32, s->wallet_prefix, i);
}

/* Appends one p2p transfer body (1 fen between two distinct random wallets) for index k. */
static int transfer_json(char *out, size_t cap, const struct state *s, uint64_t k)
{
    uint64_t r = jz_mix64(k ^ g_id_prefix);
    uint32_t a = (uint32_t)(r % s->wallets);
    uint32_t b = (uint32_t)((r >> 32) % (s->wallets - 1));
    if (b >= a) {
        b++;
    }
    char wa[33], wb[33];
    wallet_id(s, a, wa);
    wallet_id(s, b, wb);
    return snprintf(out, cap,
                    "{\"id\":\"%016" PRIx64 "%016" PRIx64 "\",\"debit\":\"%s\",\"credit\":\"%s\","
                    "\"amount\":1,\"kind\":\"p2p\"}",
                    g_id_prefix, k, wa, wb);
}

struct gen_job {
    const struct state *s;
    struct reqset *rs;
    size_t slot;
    uint32_t batch; /* 0 = single transfers */
    const char *ts;
    int part, parts;
    uint64_t base; /* first transfer counter of this set */
};

static void *gen_thread(void *arg)
{
    struct gen_job *j = arg;
    char *body = j->batch ? malloc(j->slot) : NULL;
    char one[512];
    for (size_t i = (size_t)j->part; i < j->rs->n; i += (size_t)j->parts) {
        char nonce[40];
        snprintf(nonce, sizeof nonce, "%016" PRIx64 "%016" PRIx64, g_nonce_prefix,
                 (uint64_t)(j->base + i));
        char *slot = j->rs->arena + i * j->slot;
        size_t len;
        if (j->batch == 0) {
            int bl = transfer_json(one, sizeof one, j->s, j->base + i);
            len = build_signed(slot, j->slot, j->s->port, &j->s->op, "POST", "/v1/transfers",
                               j->ts, nonce, one, (size_t)bl);
            j->rs->r[i].items = 1;
        } else {
            size_t bl = (size_t)snprintf(body, j->slot, "{\"transfers\":[");
            for (uint32_t t = 0; t < j->batch; t++) {
                uint64_t k = j->base + i * j->batch + t;
                bl += (size_t)transfer_json(body + bl, j->slot - bl, j->s, k);
                body[bl++] = t + 1 < j->batch ? ',' : ']';
            }
            body[bl++] = '}';
            len = build_signed(slot, j->slot, j->s->port, &j->s->op, "POST",
                               "/v1/transfers/batch", j->ts, nonce, body, bl);
            j->rs->r[i].items = j->batch;
        }
        j->rs->r[i].p = slot;
        j->rs->r[i].len = (uint32_t)len;
    }
    free(body);
    return NULL;
}

/* n requests of single transfers (batch 0) or batches; signed on all cores. Every request of
 * the set carries the timestamp of the start of generation: the server's window is 300 s. */
static void gen_transfers(struct reqset *rs, const struct state *s, size_t n, uint32_t batch,
                          uint64_t base)
{
    size_t slot = batch ? (size_t)batch * 160 + 1024 : 640;
    rs->n = n;
    rs->cycle = false;
    rs->r = calloc(n, sizeof *rs->r);
    rs->arena = malloc(n * slot);
    if (!rs->r || !rs->arena) {
        die("%s", "out of memory for the pre-signed requests (lower --requests)");
    }
    char ts[32];
    snprintf(ts, sizeof ts, "%" PRId64, wall_ms());
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int parts = cpus < 1 ? 1 : cpus > 8 ? 8 : (int)cpus;
    pthread_t th[8];
    struct gen_job jobs[8];
    for (int p = 0; p < parts; p++) {
        jobs[p] = (struct gen_job){.s = s, .rs = rs, .slot = slot, .batch = batch, .ts = ts,
                                   .part = p, .parts = parts, .base = base};
        pthread_create(&th[p], NULL, gen_thread, &jobs[p]);
    }
    for (int p = 0; p < parts; p++) {
        pthread_join(th[p], NULL);
    }
}

static void gen_get(struct reqset *rs, int port, const char *path)
{
    rs->arena = malloc(1024);
    rs->r = calloc(1, sizeof *rs->r);
    int len = snprintf(rs->arena, 1024, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", path,
                       port);
    rs->r[0] = (struct req){.p = rs->arena, .len = (uint32_t)len, .items = 1};
    rs->n = 1;
    rs->cycle = true;
}

static void reqset_free(struct reqset *rs)
{
    free(rs->r);
    free(rs->arena);
    memset(rs, 0, sizeof *rs);
}

/* ---------------------------------------------------------------- the engine */

struct run_cfg {
    int port;
    int conns;
    int threads;
    double rate; /* 0 = closed loop */
    double warmup_s, duration_s, drain_s;
    bool until_done; /* closed loop over the whole set, no time limit (setup) */
    bool count_items; /* batch: count "error" results */
    bool quickack;    /* ACK every segment at once (TCP_QUICKACK after each read) */
    struct reqset *rs;
    pid_t server_pids[MAX_SERVER_PIDS];
    int nserver_pids;
};

struct counters {
    uint64_t done;      /* responses completed in the window */
    uint64_t ok_done;   /* of which 2xx */
    uint64_t items_done; /* transfers posted by the 2xx answers completed in the window */
    uint64_t s2xx, s4xx, s5xx, sother;
    uint64_t conn_errors;
    uint64_t items, item_errors; /* batch: transfers in 2xx answers, and refused ones */
    uint64_t missing;   /* open loop: due in the window, never answered */
    uint64_t sent;
};

struct worker;

struct conn {
    int fd;
    struct worker *w;
    bool busy;
    int64_t t0;         /* send time (closed) or due time (open) */
    uint32_t items;
    const char *out;
    size_t out_len, out_off;
    char *buf;
    size_t cap, n;
    size_t hdr_len, need; /* need = hdr_len + content length, once the head is in */
    size_t scanned;
    int status;
    bool close_after;
    bool armed_out; /* EPOLLOUT requested */
};

struct worker {
    int id;
    int ep;
    struct conn *conns;
    int nconn;
    int *idle;
    int nidle;
    int inflight;
    struct hist h;
    struct counters k;
    uint64_t next_open; /* open loop: this worker's next request index */
    int64_t last_done;
    pthread_t th;
};

static struct run_cfg g;
static int64_t g_t0, g_tmeas, g_tend;
static atomic_ulong g_next;
static atomic_bool g_exhausted;
static int64_t g_interval_ns;
static char g_first_error[400];
static pthread_mutex_t g_err_lock = PTHREAD_MUTEX_INITIALIZER;
/* CPU samples at the window's start and end (worker 0 takes them). */
static double g_cpu_self[2], g_cpu_server[2], g_cpu_machine[2];
static int64_t g_cpu_t[2];
static bool g_cpu_taken[2];

static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        return 0;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) {
        return 0;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Per-thread CPU of the first server pid, to tell where the server's time goes. */
#define MAX_THREADS 2048
struct tcpu {
    int tid;
    char comm[24];
    double s;
};
static struct tcpu g_threads[2][MAX_THREADS];
static int g_nthreads[2];

static void thread_sample(int which)
{
    g_nthreads[which] = 0;
    if (g.nserver_pids == 0) {
        return;
    }
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)g.server_pids[0]);
    DIR *d = opendir(dir);
    if (!d) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL && g_nthreads[which] < MAX_THREADS) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') {
            continue;
        }
        char path[384], buf[1024];
        snprintf(path, sizeof path, "%s/%s/stat", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) {
            continue;
        }
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *l = strchr(buf, '('), *r = strrchr(buf, ')');
        unsigned long ut = 0, st = 0;
        if (!l || !r || sscanf(r + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                               &ut, &st) != 2) {
            continue;
        }
        struct tcpu *t = &g_threads[which][g_nthreads[which]++];
        t->tid = atoi(e->d_name);
        size_t cl = (size_t)(r - l - 1) < sizeof t->comm - 1 ? (size_t)(r - l - 1) : sizeof t->comm - 1;
        memcpy(t->comm, l + 1, cl);
        t->comm[cl] = '\0';
        t->s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    }
    closedir(d);
}

static int cmp_tcpu(const void *a, const void *b)
{
    double x = ((const struct tcpu *)a)->s, y = ((const struct tcpu *)b)->s;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* "jz-http-loop 0.61, jz-journal/1234 0.30, ...": CPU (cores) in the window, pool threads
 * of the same name (HTTP loops and workers) summed, other threads one by one, busiest
 * first. */
static void thread_split(char *out, size_t cap, double wall)
{
    static struct tcpu d[MAX_THREADS];
    int nd = 0;
    out[0] = '\0';
    if (wall <= 0) {
        return;
    }
    for (int i = 0; i < g_nthreads[1]; i++) {
        const struct tcpu *b = &g_threads[1][i];
        double before = 0;
        for (int j = 0; j < g_nthreads[0]; j++) {
            if (g_threads[0][j].tid == b->tid) {
                before = g_threads[0][j].s;
                break;
            }
        }
        bool pooled = strncmp(b->comm, "jz-http-", 8) == 0;
        int k = 0;
        if (pooled) {
            for (k = 0; k < nd && strcmp(d[k].comm, b->comm) != 0; k++) {
            }
        } else {
            k = nd;
        }
        if (k == nd) {
            d[nd] = *b;
            d[nd].s = 0;
            if (!pooled) {
                snprintf(d[nd].comm, sizeof d[nd].comm, "%.12s/%d", b->comm, b->tid);
            }
            nd++;
        }
        d[k].s += (b->s - before) / wall;
    }
    qsort(d, (size_t)nd, sizeof d[0], cmp_tcpu);
    size_t len = 0;
    for (int i = 0; i < nd && i < 8 && d[i].s >= 0.005; i++) {
        int m = snprintf(out + len, cap - len, "%s%s %.2f", i ? ", " : "", d[i].comm, d[i].s);
        if (m < 0 || (size_t)m >= cap - len) {
            break;
        }
        len += (size_t)m;
    }
}

/* CPU seconds the whole machine spent busy (all cores), from /proc/stat. */
static double machine_busy_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[8] = {0};
    if (!f) {
        return 0;
    }
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 4) {
        return 0;
    }
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]; /* not idle, iowait */
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static void cpu_sample(int which)
{
    thread_sample(which);
    g_cpu_machine[which] = machine_busy_s();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    g_cpu_self[which] = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                        (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    double s = 0;
    for (int i = 0; i < g.nserver_pids; i++) {
        s += proc_cpu_s(g.server_pids[i]);
    }
    g_cpu_server[which] = s;
    g_cpu_t[which] = now_ns();
    g_cpu_taken[which] = true;
}

static void note_error(const char *buf, size_t n)
{
    pthread_mutex_lock(&g_err_lock);
    if (!g_first_error[0]) {
        size_t m = n < sizeof g_first_error - 1 ? n : sizeof g_first_error - 1;
        for (size_t i = 0; i < m; i++) {
            char ch = buf[i];
            g_first_error[i] = (ch == '\r' || ch == '\n' || ch == '"' || ch == '\\' ||
                                (unsigned char)ch < 32) ? ' ' : ch;
        }
        g_first_error[m] = '\0';
    }
    pthread_mutex_unlock(&g_err_lock);
}

static int dial(struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (c->fd >= 0) {
            close(c->fd);
        }
        c->fd = -1;
        return -1;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (g.quickack) {
        setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    c->busy = false;
    c->armed_out = false;
    c->n = c->hdr_len = c->need = c->scanned = 0;
    c->out = NULL;
    return epoll_ctl(c->w->ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* A broken connection (or one the server closed): drop it and its request, connect again,
 * and put it on the idle list. */
static void redial(struct conn *c)
{
    struct worker *w = c->w;
    int idx = (int)(c - w->conns);
    if (c->fd >= 0) {
        epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    if (c->busy) {
        c->busy = false;
        w->inflight--;
    } else {
        for (int i = 0; i < w->nidle; i++) { /* idle keep-alive connection closed */
            if (w->idle[i] == idx) {
                w->idle[i] = w->idle[--w->nidle];
                break;
            }
        }
    }
    if (dial(c) != 0) {
        fprintf(stderr, "api_load: reconnect failed: %s\n", strerror(errno));
        c->fd = -1;
        return;
    }
    w->idle[w->nidle++] = idx;
}

static bool in_window(int64_t t)
{
    return t >= g_tmeas && t < g_tend;
}

/* Writes what is pending; arms EPOLLOUT when the socket is full. 0 ok, -1 broken. */
static int flush_out(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!c->armed_out) {
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
                    epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev);
                    c->armed_out = true;
                }
                return 0;
            }
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        c->out_off += (size_t)w;
    }
    if (c->armed_out) { /* finished after a partial write: back to reading only */
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->armed_out = false;
    }
    return 0;
}

static void send_req(struct conn *c, const struct req *r, int64_t t0)
{
    c->busy = true;
    c->w->inflight++;
    c->t0 = t0;
    c->items = r->items;
    c->out = r->p;
    c->out_len = r->len;
    c->out_off = 0;
    c->w->k.sent++;
    if (flush_out(c) != 0) {
        c->w->k.conn_errors++;
        redial(c);
    }
}

/* Closed loop: the next request of the set on c, or none left. */
static bool closed_issue(struct conn *c)
{
    if (atomic_load_explicit(&g_exhausted, memory_order_relaxed)) {
        return false;
    }
    unsigned long i = atomic_fetch_add_explicit(&g_next, 1, memory_order_relaxed);
    if (!g.rs->cycle && i >= g.rs->n) {
        atomic_store(&g_exhausted, true);
        return false;
    }
    send_req(c, &g.rs->r[g.rs->cycle ? 0 : i], now_ns());
    return true;
}

static size_t count_errors(const char *p, size_t n)
{
    size_t k = 0;
    const char *end = p + n;
    while (p < end) {
        const char *q = memmem(p, (size_t)(end - p), "\"error\":", 8);
        if (!q) {
            break;
        }
        k++;
        p = q + 8;
    }
    return k;
}

/* Parses the head once it is in; 0 need more, 1 parsed, -1 malformed. */
static int parse_head(struct conn *c)
{
    size_t from = c->scanned > 3 ? c->scanned - 3 : 0;
    const char *end = memmem(c->buf + from, c->n - from, "\r\n\r\n", 4);
    c->scanned = c->n;
    if (!end) {
        return c->n > 65536 ? -1 : 0;
    }
    c->hdr_len = (size_t)(end - c->buf) + 4;
    if (c->n < 12 || memcmp(c->buf, "HTTP/1.", 7) != 0) {
        return -1;
    }
    c->status = atoi(c->buf + 9);
    size_t cl = 0;
    bool have_cl = false;
    c->close_after = memcmp(c->buf, "HTTP/1.0", 8) == 0;
    for (const char *p = c->buf; p < end; p++) {
        if (p[0] != '\n') {
            continue;
        }
        const char *h = p + 1;
        if (strncasecmp(h, "content-length:", 15) == 0) {
            cl = strtoul(h + 15, NULL, 10);
            have_cl = true;
        } else if (strncasecmp(h, "connection:", 11) == 0) {
            const char *v = h + 11;
            while (*v == ' ') {
                v++;
            }
            c->close_after = strncasecmp(v, "close", 5) == 0;
        } else if (strncasecmp(h, "transfer-encoding:", 18) == 0) {
            return -1; /* chunked answers are not expected from either server */
        }
    }
    if (!have_cl && c->status != 204 && c->status != 304) {
        return -1;
    }
    c->need = c->hdr_len + cl;
    return 1;
}

static void complete(struct conn *c, int64_t t)
{
    struct worker *w = c->w;
    /* latencies and statuses: of the requests due in the window (open loop), or of the
     * answers that arrived in it (closed loop); throughput: answers that arrived in it */
    bool count = g.rate > 0 ? (c->t0 >= g_tmeas && c->t0 < g_tend) || g.until_done
                            : in_window(t) || g.until_done;
    bool ok = c->status >= 200 && c->status < 300;
    if (in_window(t) || g.until_done) {
        w->k.done++;
        if (ok) {
            w->k.ok_done++;
            size_t refused =
                g.count_items ? count_errors(c->buf + c->hdr_len, c->need - c->hdr_len) : 0;
            w->k.items_done += c->items - refused;
        }
    }
    if (count) {
        hist_add(&w->h, t - c->t0);
        int s = c->status;
        const char *body = c->buf + c->hdr_len;
        size_t blen = c->need - c->hdr_len;
        if (s >= 200 && s < 300) {
            w->k.s2xx++;
            if (g.count_items) {
                size_t e = count_errors(body, blen);
                w->k.items += c->items;
                w->k.item_errors += e;
                if (e) {
                    const char *q = memmem(body, blen, "\"error\":", 8);
                    note_error(q, (size_t)(body + blen - q) < 200 ? (size_t)(body + blen - q) : 200);
                }
            } else {
                w->k.items += c->items;
            }
        } else {
            if (s >= 400 && s < 500) {
                w->k.s4xx++;
            } else if (s >= 500 && s < 600) {
                w->k.s5xx++;
            } else {
                w->k.sother++;
            }
            char tmp[320];
            int m = snprintf(tmp, sizeof tmp, "%d %.*s", s, (int)(blen < 300 ? blen : 300), body);
            note_error(tmp, (size_t)m < sizeof tmp ? (size_t)m : sizeof tmp - 1);
        }
    }
    w->last_done = t;
    c->busy = false;
    w->inflight--;
    size_t rest = c->n - c->need;
    if (rest) {
        memmove(c->buf, c->buf + c->need, rest); /* not expected: no pipelining */
    }
    c->n = rest;
    c->hdr_len = c->need = c->scanned = 0;
    if (c->close_after) {
        redial(c); /* puts it on the idle list */
        return;
    }
    w->idle[w->nidle++] = (int)(c - w->conns);
}

static void on_readable(struct conn *c)
{
    for (;;) {
        if (c->cap - c->n < READ_CHUNK) {
            size_t want = c->need > c->cap ? c->need + READ_CHUNK : c->cap * 2 + READ_CHUNK;
            char *nb = realloc(c->buf, want);
            if (!nb) {
                die("%s", "out of memory");
            }
            c->buf = nb;
            c->cap = want;
        }
        ssize_t r = recv(c->fd, c->buf + c->n, c->cap - c->n, 0);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            /* closed by the server (or reset): an error if a request was in flight */
            if (c->busy) {
                c->w->k.conn_errors++;
                note_error("connection closed with a request in flight", 42);
            }
            redial(c);
            return;
        }
        c->n += (size_t)r;
        if (g.quickack) { /* the kernel turns quick ACKs off again by itself */
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
        }
        while (c->n > 0) {
            if (!c->need) {
                int ph = parse_head(c);
                if (ph == 0) {
                    break;
                }
                if (ph < 0 || !c->busy) {
                    note_error(c->buf, c->n < 200 ? c->n : 200);
                    c->w->k.conn_errors++;
                    redial(c);
                    return;
                }
            }
            if (c->n < c->need) {
                break;
            }
            bool was_closing = c->close_after;
            complete(c, now_ns());
            if (was_closing) {
                return;
            }
        }
        if ((size_t)r < READ_CHUNK) {
            return; /* level-triggered: epoll tells us when there is more */
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    bool open = g.rate > 0;
    uint64_t step = (uint64_t)g.threads;
    uint64_t limit = g.rs->cycle ? UINT64_MAX : g.rs->n;
    w->next_open = (uint64_t)w->id;
    struct epoll_event evs[256];
    for (;;) {
        int64_t now = now_ns();
        if (w->id == 0 && !g_cpu_taken[0] && now >= g_tmeas) {
            cpu_sample(0);
        }
        if (w->id == 0 && !g_cpu_taken[1] && now >= g_tend) {
            cpu_sample(1);
        }
        bool sending;
        if (open) {
            while (w->nidle > 0 && w->next_open < limit) {
                int64_t due = g_t0 + (int64_t)w->next_open * g_interval_ns;
                if (due > now || due >= g_tend) {
                    break;
                }
                struct conn *c = &w->conns[w->idle[--w->nidle]];
                send_req(c, &g.rs->r[g.rs->cycle ? 0 : w->next_open], due);
                w->next_open += step;
            }
            sending = now < g_tend && w->next_open < limit;
        } else {
            sending = g.until_done || now < g_tend;
            while (sending && w->nidle > 0) {
                struct conn *c = &w->conns[w->idle[--w->nidle]];
                if (!closed_issue(c)) {
                    w->idle[w->nidle++] = (int)(c - w->conns);
                    break;
                }
            }
            if (atomic_load_explicit(&g_exhausted, memory_order_relaxed)) {
                sending = false;
            }
        }
        if (!sending && w->inflight == 0) {
            break;
        }
        if (!g.until_done && now >= g_tend + (int64_t)(g.drain_s * 1e9)) {
            break;
        }
        int64_t wait = 5000000; /* 5 ms */
        if (open && w->nidle > 0 && w->next_open < limit) {
            int64_t due = g_t0 + (int64_t)w->next_open * g_interval_ns;
            if (due < g_tend) {
                wait = due - now_ns();
            }
        }
        if (w->id == 0 && !g_cpu_taken[0] && g_tmeas - now < wait) {
            wait = g_tmeas - now;
        }
        if (w->id == 0 && !g_cpu_taken[1] && g_tend - now < wait) {
            wait = g_tend - now;
        }
        if (wait < 0) {
            wait = 0;
        }
        struct timespec to = {wait / 1000000000, wait % 1000000000};
        int n = epoll_pwait2(w->ep, evs, 256, &to, NULL);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->fd < 0) {
                continue;
            }
            if ((evs[i].events & EPOLLOUT) && c->out_off < c->out_len) {
                if (flush_out(c) != 0) {
                    c->w->k.conn_errors++;
                    redial(c);
                    continue;
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                on_readable(c);
            }
        }
    }
    /* Open loop: requests due in the window that were never answered count with the
     * lateness they had reached when we gave up. */
    if (open) {
        int64_t quit = now_ns();
        for (int k = 0; k < w->nconn; k++) {
            struct conn *c = &w->conns[k];
            if (c->busy && c->t0 >= g_tmeas && c->t0 < g_tend) {
                hist_add(&w->h, quit - c->t0);
                w->k.missing++;
            }
        }
        for (uint64_t i = w->next_open; i < limit; i += step) {
            int64_t due = g_t0 + (int64_t)i * g_interval_ns;
            if (due >= g_tend) {
                break;
            }
            if (due >= g_tmeas) {
                hist_add(&w->h, quit - due);
                w->k.missing++;
            }
        }
    }
    return NULL;
}

struct result {
    struct hist h;
    struct counters k;
    double window_s;
    double client_cpu, server_cpu; /* cores */
    double other_cpu;              /* the rest of the machine: neither server nor client */
    char threads[400];             /* the server's CPU by thread */
    bool exhausted;
};

static void run(struct result *res)
{
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    if (g.threads < 1) {
        g.threads = 1;
    }
    if (g.threads > g.conns) {
        g.threads = g.conns;
    }
    struct worker *ws = calloc((size_t)g.threads, sizeof *ws);
    atomic_store(&g_next, 0);
    atomic_store(&g_exhausted, false);
    g_first_error[0] = '\0';
    memset(g_cpu_taken, 0, sizeof g_cpu_taken);
    for (int t = 0; t < g.threads; t++) {
        struct worker *w = &ws[t];
        w->id = t;
        w->nconn = g.conns / g.threads + (t < g.conns % g.threads ? 1 : 0);
        w->conns = calloc((size_t)w->nconn, sizeof *w->conns);
        w->idle = calloc((size_t)w->nconn, sizeof *w->idle);
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        for (int i = 0; i < w->nconn; i++) {
            struct conn *c = &w->conns[i];
            c->w = w;
            c->cap = READ_CHUNK * 2;
            c->buf = malloc(c->cap);
            if (dial(c) != 0) {
                fprintf(stderr, "api_load: connect to 127.0.0.1:%d: %s\n", g.port, strerror(errno));
                exit(1);
            }
            w->idle[w->nidle++] = i;
        }
    }
    g_interval_ns = g.rate > 0 ? (int64_t)(1e9 / g.rate) : 0;
    g_t0 = now_ns();
    if (g.until_done) {
        g_tmeas = g_t0;
        g_tend = INT64_MAX / 2;
    } else {
        g_tmeas = g_t0 + (int64_t)(g.warmup_s * 1e9);
        g_tend = g_tmeas + (int64_t)(g.duration_s * 1e9);
    }
    for (int t = 1; t < g.threads; t++) {
        pthread_create(&ws[t].th, NULL, worker_main, &ws[t]);
    }
    worker_main(&ws[0]);
    for (int t = 1; t < g.threads; t++) {
        pthread_join(ws[t].th, NULL);
    }
    memset(res, 0, sizeof *res);
    int64_t last = 0;
    for (int t = 0; t < g.threads; t++) {
        struct worker *w = &ws[t];
        hist_merge(&res->h, &w->h);
        res->k.done += w->k.done;
        res->k.ok_done += w->k.ok_done;
        res->k.items_done += w->k.items_done;
        res->k.s2xx += w->k.s2xx;
        res->k.s4xx += w->k.s4xx;
        res->k.s5xx += w->k.s5xx;
        res->k.sother += w->k.sother;
        res->k.conn_errors += w->k.conn_errors;
        res->k.items += w->k.items;
        res->k.item_errors += w->k.item_errors;
        res->k.missing += w->k.missing;
        res->k.sent += w->k.sent;
        if (w->last_done > last) {
            last = w->last_done;
        }
        for (int i = 0; i < w->nconn; i++) {
            if (w->conns[i].fd >= 0) {
                close(w->conns[i].fd);
            }
            free(w->conns[i].buf);
        }
        close(w->ep);
        free(w->conns);
        free(w->idle);
    }
    free(ws);
    res->exhausted = atomic_load(&g_exhausted) && !g.until_done && g.rate <= 0 && last < g_tend;
    if (g.until_done) {
        res->window_s = (double)(last - g_t0) / 1e9;
    } else if (res->exhausted) {
        res->window_s = (double)(last - g_tmeas) / 1e9;
    } else {
        res->window_s = g.duration_s;
    }
    if (!g_cpu_taken[0]) {
        cpu_sample(0);
    }
    if (!g_cpu_taken[1]) {
        cpu_sample(1);
    }
    double wall = (double)(g_cpu_t[1] - g_cpu_t[0]) / 1e9;
    if (wall > 0) {
        res->client_cpu = (g_cpu_self[1] - g_cpu_self[0]) / wall;
        res->server_cpu = (g_cpu_server[1] - g_cpu_server[0]) / wall;
        res->other_cpu = (g_cpu_machine[1] - g_cpu_machine[0]) / wall - res->client_cpu -
                         res->server_cpu;
        if (res->other_cpu < 0) {
            res->other_cpu = 0;
        }
        thread_split(res->threads, sizeof res->threads, wall);
    }
}

/* ---------------------------------------------------------------- one blocking call */

/* One request on a fresh connection (Connection: close); the status, body into out. */
static int call_once(int port, const struct creds *c, const char *method, const char *path,
                     const char *body, char *out, size_t out_len)
{
    static char req[65536];
    size_t len;
    size_t blen = body ? strlen(body) : 0;
    if (c) {
        char ts[32], nonce[40];
        uint8_t rnd[16];
        crypto_random(rnd, sizeof rnd);
        jz_hex_encode(rnd, sizeof rnd, nonce);
        snprintf(ts, sizeof ts, "%" PRId64, wall_ms());
        len = build_signed(req, sizeof req, port, c, method, path, ts, nonce, body ? body : "",
                           blen);
    } else {
        len = (size_t)snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                               "Content-Length: %zu\r\n\r\n%s", method, path, port, blen,
                               body ? body : "");
    }
    /* ask the server to close after answering: we read until EOF */
    char *eoh = strstr(req, "\r\n");
    if (eoh) {
        const char hdr[] = "\r\nConnection: close";
        memmove(eoh + sizeof hdr - 1, eoh, len - (size_t)(eoh - req) + 1);
        memcpy(eoh, hdr, sizeof hdr - 1);
        len += sizeof hdr - 1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (size_t off = 0; off < len;) {
        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    static char resp[1 << 20];
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(fd, resp + n, sizeof resp - 1 - n, 0);
        if (r <= 0) {
            break;
        }
        n += (size_t)r;
        if (n == sizeof resp - 1) {
            break;
        }
    }
    close(fd);
    resp[n] = '\0';
    int status = 0;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
        return -1;
    }
    const char *b = strstr(resp, "\r\n\r\n");
    snprintf(out, out_len, "%s", b ? b + 4 : "");
    return status;
}

/* ---------------------------------------------------------------- modes */

static int read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return -1;
    }
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return 0;
}

static void load_state(const char *path, struct state *s)
{
    char buf[4096], hex[80];
    if (read_file(path, buf, sizeof buf) != 0) {
        die("cannot read state file %s", path);
    }
    memset(s, 0, sizeof *s);
    char *p;
    if ((p = strstr(buf, "port=")) == NULL || (s->port = atoi(p + 5)) <= 0 ||
        (p = strstr(buf, "wallets=")) == NULL || (s->wallets = (uint32_t)atol(p + 8)) < 2 ||
        (p = strstr(buf, "key_id=")) == NULL || sscanf(p + 7, "%64s", s->op.key_id) != 1 ||
        (p = strstr(buf, "secret=")) == NULL || sscanf(p + 7, "%79s", hex) != 1 ||
        jz_hex_decode(hex, strlen(hex), s->op.secret, sizeof s->op.secret) != 0 ||
        (p = strstr(buf, "wallet_prefix=")) == NULL ||
        sscanf(p + 14, "%39s", s->wallet_prefix) != 1 ||
        (p = strstr(buf, "treasury=")) == NULL || sscanf(p + 9, "%39s", s->treasury) != 1) {
        die("malformed state file %s", path);
    }
}

static void common_opts(int argc, char **argv)
{
    g.conns = (int)opt_num(argc, argv, "--conns", 64);
    g.threads = (int)opt_num(argc, argv, "--threads", 1);
    g.rate = opt_num(argc, argv, "--rate", 0);
    g.warmup_s = opt_num(argc, argv, "--warmup", 2);
    g.duration_s = opt_num(argc, argv, "--duration", 10);
    g.drain_s = opt_num(argc, argv, "--drain", 5);
    g.quickack = flag(argc, argv, "--quickack");
    const char *pids = opt(argc, argv, "--server-pid");
    g.nserver_pids = 0;
    while (pids && *pids && g.nserver_pids < MAX_SERVER_PIDS) {
        char *end;
        long v = strtol(pids, &end, 10);
        if (v > 0) {
            g.server_pids[g.nserver_pids++] = (pid_t)v;
        }
        pids = *end == ',' ? end + 1 : NULL;
    }
    if (g.conns < 1 || g.duration_s <= 0 || g.warmup_s < 0 || g.rate < 0) {
        die("%s", "bad --conns, --duration, --warmup or --rate");
    }
}

static void report(const char *label, const char *mode, uint32_t batch, const struct result *r)
{
    double secs = r->window_s > 0 ? r->window_s : 1e-9;
    double rps = (double)r->k.done / secs;
    /* transfers posted per second: by the 2xx answers that arrived in the window */
    double tps = strcmp(mode, "get") == 0 ? 0 : (double)r->k.items_done / secs;
    double p50 = hist_pct_us(&r->h, 50), p99 = hist_pct_us(&r->h, 99);
    double p999 = hist_pct_us(&r->h, 99.9), mx = (double)r->h.max_ns / 1000.0;
    double mean = r->h.n ? r->h.sum_ns / (double)r->h.n / 1000.0 : 0;
    printf("{\"label\":\"%s\",\"mode\":\"%s\",\"loop\":\"%s\",\"conns\":%d,\"threads\":%d,"
           "\"rate\":%.0f,\"batch\":%" PRIu32 ",\"seconds\":%.3f,\"responses\":%" PRIu64 ","
           "\"req_per_s\":%.1f,\"transfers_per_s\":%.1f,\"s2xx\":%" PRIu64 ",\"s4xx\":%" PRIu64
           ",\"s5xx\":%" PRIu64 ",\"sother\":%" PRIu64 ",\"conn_errors\":%" PRIu64
           ",\"item_errors\":%" PRIu64 ",\"missing\":%" PRIu64 ",\"latency_samples\":%" PRIu64
           ",\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,"
           "\"client_cpu\":%.2f,\"server_cpu\":%.2f,\"other_cpu\":%.2f,\"server_threads\":\"%s\",\"exhausted\":%s,"
           "\"first_error\":\"%s\"}\n",
           label, mode, g.rate > 0 ? "open" : "closed", g.conns, g.threads, g.rate, batch, secs,
           r->k.done, rps, tps, r->k.s2xx, r->k.s4xx, r->k.s5xx, r->k.sother, r->k.conn_errors,
           r->k.item_errors, r->k.missing, r->h.n, p50, p99, p999, mx, mean, r->client_cpu,
           r->server_cpu, r->other_cpu, r->threads, r->exhausted ? "true" : "false", g_first_error);
    fflush(stdout);
    char missing[64] = "";
    if (r->k.missing) {
        snprintf(missing, sizeof missing, " unanswered %" PRIu64, r->k.missing);
    }
    fprintf(stderr,
            "%-8s %-8s %-6s c=%-3d %9.0f req/s", label, mode, g.rate > 0 ? "open" : "closed",
            g.conns, rps);
    if (strcmp(mode, "batch") == 0) {
        fprintf(stderr, " %10.0f transfers/s", tps);
    }
    fprintf(stderr, "  p50 %.3f ms  p99 %.3f ms  p999 %.3f ms  max %.3f ms  "
            "2xx %" PRIu64 " 4xx %" PRIu64 " 5xx %" PRIu64 " conn-err %" PRIu64 "%s  cpu client "
            "%.2f server %.2f others %.2f%s\n", p50 / 1e3, p99 / 1e3, p999 / 1e3, mx / 1e3,
            r->k.s2xx, r->k.s4xx, r->k.s5xx, r->k.conn_errors, missing, r->client_cpu, r->server_cpu,
            r->other_cpu,
            r->exhausted ? "  (ran out of pre-signed requests)" : "");
    if (r->threads[0]) {
        fprintf(stderr, "         server CPU by thread (cores): %s\n", r->threads);
    }
    if (g_first_error[0]) {
        fprintf(stderr, "         first error: %s\n", g_first_error);
    }
}

/* setup: an operator "bench" (or --operator), quota, N tier-1 personal wallets, each funded
 * by an exchange_in through the batch endpoint; writes the state file. */
static int mode_setup(int argc, char **argv)
{
    const char *creds_path = opt(argc, argv, "--creds");
    const char *state_path = opt(argc, argv, "--state");
    const char *opname = opt(argc, argv, "--operator");
    if (!opname) {
        opname = "bench";
    }
    uint32_t wallets = (uint32_t)opt_num(argc, argv, "--wallets", 10000);
    long long fund = (long long)opt_num(argc, argv, "--fund", 100000000);
    if (!creds_path || !state_path || wallets < 2) {
        die("%s", "setup needs --creds FILE --state FILE [--wallets N >= 2]");
    }
    char buf[4096], url[300];
    if (read_file(creds_path, buf, sizeof buf) != 0) {
        die("cannot read %s", creds_path);
    }
    struct creds central;
    int port;
    char path[64];
    if (creds_from_json(buf, &central) != 0 || json_str(buf, "url", url, sizeof url) != 0) {
        die("malformed credentials in %s", creds_path);
    }
    parse_url(url, &port, path, sizeof path);
    struct state s = {.port = port, .wallets = wallets};
    char body[512], out[1 << 16];
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"name\":\"Benchmark operator\",\"kind\":\"operator\"}",
             opname);
    int st = call_once(port, &central, "POST", "/v1/institutions", body, out, sizeof out);
    if (st != 201 || creds_from_json(out, &s.op) != 0 ||
        json_str(out, "treasury", s.treasury, sizeof s.treasury) != 0) {
        fprintf(stderr, "api_load setup: POST /v1/institutions: %d %s\n", st, out);
        return 1;
    }
    uint8_t rnd[16];
    char tid[33];
    crypto_random(rnd, sizeof rnd);
    jz_hex_encode(rnd, sizeof rnd, tid);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"operator\":\"%s\",\"amount\":%lld}", tid, opname,
             fund * (long long)wallets);
    st = call_once(port, &central, "POST", "/v1/quota/issue", body, out, sizeof out);
    if (st != 201) {
        fprintf(stderr, "api_load setup: POST /v1/quota/issue: %d %s\n", st, out);
        return 1;
    }
    crypto_random(rnd, 12);
    jz_hex_encode(rnd, 12, s.wallet_prefix);

    /* wallets: one POST each, 64 at a time, pre-signed like the benchmark's requests */
    struct reqset rs = {0};
    size_t slot = 1024;
    rs.n = wallets;
    rs.r = calloc(wallets, sizeof *rs.r);
    rs.arena = malloc((size_t)wallets * slot);
    char ts[32];
    snprintf(ts, sizeof ts, "%" PRId64, wall_ms());
    for (uint32_t i = 0; i < wallets; i++) {
        char wid[33], nonce[40];
        wallet_id(&s, i, wid);
        snprintf(nonce, sizeof nonce, "%016" PRIx64 "%016" PRIx64, g_nonce_prefix, (uint64_t)i);
        int bl = snprintf(body, sizeof body,
                          "{\"id\":\"%s\",\"kind\":\"personal\",\"tier\":1,\"form\":\"soft\"}", wid);
        char *p = rs.arena + (size_t)i * slot;
        size_t len = build_signed(p, slot, port, &s.op, "POST", "/v1/wallets", ts, nonce, body,
                                  (size_t)bl);
        rs.r[i] = (struct req){.p = p, .len = (uint32_t)len, .items = 1};
    }
    g = (struct run_cfg){.port = port, .conns = 64, .threads = 1, .until_done = true, .rs = &rs};
    struct result r;
    int64_t t = now_ns();
    run(&r);
    if (r.k.s2xx != wallets) {
        fprintf(stderr, "api_load setup: %" PRIu64 " of %u wallets opened; first error: %s\n",
                r.k.s2xx, wallets, g_first_error);
        return 1;
    }
    fprintf(stderr, "api_load setup: %u wallets opened in %.2f s\n", wallets,
            (double)(now_ns() - t) / 1e9);
    reqset_free(&rs);

    /* funding: exchange_in treasury → wallet, 8,190 to a batch */
    uint32_t per = JZ_BATCH_MAX;
    size_t nb = (wallets + per - 1) / per;
    size_t bslot = (size_t)per * 200 + 1024;
    rs.n = nb;
    rs.r = calloc(nb, sizeof *rs.r);
    rs.arena = malloc(nb * bslot);
    char *bb = malloc(bslot);
    snprintf(ts, sizeof ts, "%" PRId64, wall_ms());
    for (size_t b = 0; b < nb; b++) {
        uint32_t first = (uint32_t)(b * per);
        uint32_t cnt = wallets - first < per ? wallets - first : per;
        size_t bl = (size_t)snprintf(bb, bslot, "{\"transfers\":[");
        for (uint32_t i = 0; i < cnt; i++) {
            char wid[33];
            wallet_id(&s, first + i, wid);
            bl += (size_t)snprintf(bb + bl, bslot - bl,
                                   "{\"id\":\"%016" PRIx64 "%016" PRIx64 "\",\"debit\":\"%s\","
                                   "\"credit\":\"%s\",\"amount\":%lld,\"kind\":\"exchange_in\"}%s",
                                   g_id_prefix, (uint64_t)(first + i), s.treasury, wid, fund,
                                   i + 1 < cnt ? "," : "]}");
        }
        char nonce[40];
        snprintf(nonce, sizeof nonce, "%016" PRIx64 "%016" PRIx64, g_nonce_prefix,
                 (uint64_t)(wallets + b));
        char *p = rs.arena + b * bslot;
        size_t len = build_signed(p, bslot, port, &s.op, "POST", "/v1/transfers/batch", ts,
                                  nonce, bb, bl);
        rs.r[b] = (struct req){.p = p, .len = (uint32_t)len, .items = cnt};
    }
    free(bb);
    g = (struct run_cfg){.port = port, .conns = 2, .threads = 1, .until_done = true,
                         .count_items = true, .rs = &rs};
    run(&r);
    if (r.k.s2xx != nb || r.k.item_errors != 0) {
        fprintf(stderr, "api_load setup: funding failed (%" PRIu64 " of %zu batches, %" PRIu64
                " refused transfers); first error: %s\n", r.k.s2xx, nb, r.k.item_errors,
                g_first_error);
        return 1;
    }
    reqset_free(&rs);
    char secret_hex[2 * AUTH_SECRET_BYTES + 1];
    jz_hex_encode(s.op.secret, AUTH_SECRET_BYTES, secret_hex);
    FILE *f = fopen(state_path, "w");
    if (!f) {
        die("cannot write %s", state_path);
    }
    fprintf(f, "port=%d\nkey_id=%s\nsecret=%s\ntreasury=%s\nwallets=%u\nwallet_prefix=%s\n"
            "fund=%lld\n", port, s.op.key_id, secret_hex, s.treasury, wallets, s.wallet_prefix,
            fund);
    fclose(f);
    fprintf(stderr, "api_load setup: operator %s, %u tier-1 wallets of %lld fen each\n", opname,
            wallets, fund);
    return 0;
}

static int mode_load(int argc, char **argv, const char *mode)
{
    common_opts(argc, argv);
    const char *label = opt(argc, argv, "--label");
    struct reqset rs = {0};
    uint32_t batch = 0;
    double need = g.rate > 0 ? g.rate * (g.warmup_s + g.duration_s) * 1.01 + 16 : 0;
    int64_t t = now_ns();
    if (strcmp(mode, "get") == 0) {
        const char *url = opt(argc, argv, "--url");
        char path[1024];
        if (!url) {
            die("%s", "get needs --url http://127.0.0.1:PORT/PATH");
        }
        parse_url(url, &g.port, path, sizeof path);
        gen_get(&rs, g.port, path);
    } else {
        const char *state_path = opt(argc, argv, "--state");
        if (!state_path) {
            die("%s needs --state FILE (from api_load setup)", mode);
        }
        struct state s;
        load_state(state_path, &s);
        g.port = s.port;
        if (strcmp(mode, "batch") == 0) {
            batch = (uint32_t)opt_num(argc, argv, "--batch", JZ_BATCH_MAX);
            if (batch < 1 || batch > JZ_BATCH_MAX) {
                die("%s", "--batch is 1-8190");
            }
            g.count_items = true;
        }
        /* closed loop: a guess of the most the server can take (the brief's targets, with
         * room); --requests overrides. A run that uses them all says so. */
        double guess = batch ? 60.0 : 70000.0;
        size_t n = (size_t)opt_num(argc, argv, "--requests",
                                   need > 0 ? need : guess * (g.warmup_s + g.duration_s));
        if (n < 1) {
            n = 1;
        }
        gen_transfers(&rs, &s, n, batch, 0);
    }
    fprintf(stderr, "api_load: %s: %zu request%s ready (%.2f s to build and sign)\n",
            label ? label : mode, rs.cycle ? (size_t)1 : rs.n, rs.n == 1 ? "" : "s",
            (double)(now_ns() - t) / 1e9);
    g.rs = &rs;
    struct result r;
    run(&r);
    report(label ? label : mode, mode, batch, &r);
    reqset_free(&rs);
    return r.k.s2xx > 0 ? 0 : 1;
}

static int mode_probe(int argc, char **argv)
{
    const char *url = opt(argc, argv, "--url");
    if (!url) {
        die("%s", "probe needs --url");
    }
    int port;
    char path[1024];
    parse_url(url, &port, path, sizeof path);
    static char out[1 << 20];
    int st = call_once(port, NULL, "GET", path, NULL, out, sizeof out);
    if (flag(argc, argv, "--print")) {
        fputs(out, stdout);
    }
    return st == 200 ? 0 : 1;
}

static int mode_freeport(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        perror("api_load freeport");
        return 1;
    }
    printf("%d\n", ntohs(sa.sin_port));
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: api_load setup|transfer|batch|get|probe|freeport [options]\n"
                        "(see the comment at the top of bench/api_load.c)\n");
        return 2;
    }
    init_prefixes();
    const char *m = argv[1];
    if (strcmp(m, "setup") == 0) {
        return mode_setup(argc, argv);
    }
    if (strcmp(m, "transfer") == 0 || strcmp(m, "batch") == 0 || strcmp(m, "get") == 0) {
        return mode_load(argc, argv, m);
    }
    if (strcmp(m, "probe") == 0) {
        return mode_probe(argc, argv);
    }
    if (strcmp(m, "freeport") == 0) {
        return mode_freeport();
    }
    fprintf(stderr, "api_load: unknown mode %s\n", m);
    return 2;
}
