/* Open-loop (fixed-rate) HTTP/1.1 keep-alive load generator, in the manner of wrk2:
 * request i is due at t0 + i/rate whether or not earlier answers came back; its latency is
 * counted from that due time, so a stalled server cannot hide its queueing (no coordinated
 * omission). Loopback only. Sends the same POST as post.lua.
 *   loadgen PORT RATE CONNS SECONDS   ->  one summary line and one JSON line */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BODY "{\"idempotency_key\":\"7b2e9c4a-1f3d-4e5a-9b8c-0d1e2f3a4b5c\",\"from\":\"wallet:000000001234\"," \
             "\"to\":\"wallet:000000005678\",\"amount\":\"125.50\",\"currency\":\"CNY\","          \
             "\"memo\":\"order 2024-000123\",\"ts\":\"2024-01-01T00:00:00Z\"}"
#define MAXUS 2000000 /* histogram range: 2 s at 1 us resolution */

struct conn { int fd, busy; int64_t due; size_t n; char buf[4096]; };
static char g_req[1024];
static size_t g_req_len;
static uint32_t *g_hist;
static long g_done, g_total, g_over, g_errors;
static int g_port;

static void add_late(int64_t ns)
{
    int64_t us = ns / 1000;
    if (us > MAXUS) { us = MAXUS; g_over++; }
    g_hist[us]++;
    g_total++;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int dial(int ep, struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    c->busy = 0;
    c->n = 0;
    return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* Returns 1 when buf holds a whole response (headers + Content-Length bytes). */
static int complete(const char *buf, size_t n)
{
    const char *end = memmem(buf, n, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t hl = (size_t)(end - buf) + 4, cl = 0;
    for (const char *p = buf; p < end; p++)
        if ((p == buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) cl = strtoul(p + 15, NULL, 10);
    return n >= hl + cl;
}

int main(int argc, char **argv)
{
    if (argc < 5) { fprintf(stderr, "usage: loadgen PORT RATE CONNS SECONDS\n"); return 2; }
    g_port = atoi(argv[1]);
    double rate = atof(argv[2]);
    int nconn = atoi(argv[3]);
    double secs = atof(argv[4]), warm = 2.0;
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    g_req_len = (size_t)snprintf(g_req, sizeof g_req,
        "POST /echo HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
        "X-Jz-Key: merchant-0042\r\n"
        "X-Jz-Signature: 3f1c9a8e0b7d6c5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a\r\n"
        "Content-Length: %zu\r\n\r\n%s", g_port, strlen(BODY), BODY);
    g_hist = calloc(MAXUS + 1, sizeof *g_hist);
    struct conn *cs = calloc((size_t)nconn, sizeof *cs);
    int ep = epoll_create1(0);
    for (int i = 0; i < nconn; i++)
        if (dial(ep, &cs[i]) != 0) { perror("connect"); return 1; }
    int64_t t0 = now_ns(), tmeas = t0 + (int64_t)(warm * 1e9), tend = tmeas + (int64_t)(secs * 1e9);
    int64_t interval = (int64_t)(1e9 / rate), next_due = t0;
    long sent = 0, idle_scan = 0;
    struct epoll_event evs[256];
    for (;;) {
        int64_t now = now_ns();
        /* send every due request on an idle connection; the rest wait, their clock running */
        while (next_due <= now && next_due < tend) {
            struct conn *c = NULL;
            for (int k = 0; k < nconn && !c; k++) {
                struct conn *x = &cs[(idle_scan + k) % nconn];
                if (!x->busy && x->fd >= 0) c = x;
            }
            if (!c) break;
            idle_scan = (c - cs) + 1;
            if (write(c->fd, g_req, g_req_len) != (ssize_t)g_req_len) { g_errors++; break; }
            c->busy = 1;
            c->due = next_due;
            next_due += interval;
            sent++;
        }
        int busy = 0;
        for (int k = 0; k < nconn; k++) busy += cs[k].busy;
        if (now >= tend && !busy) break;
        if (now >= tend + 2000000000LL) break; /* give stragglers 2 s */
        int64_t wait = next_due - now_ns();
        if (wait < 0 || next_due >= tend) wait = next_due >= tend ? 10000000 : 0;
        struct timespec to = {wait / 1000000000, wait % 1000000000};
        int n = epoll_pwait2(ep, evs, 256, &to, NULL);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            ssize_t r = read(c->fd, c->buf + c->n, sizeof c->buf - c->n);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                g_errors++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                if (dial(ep, c) != 0) c->fd = -1;
                continue;
            }
            c->n += (size_t)r;
            if (!complete(c->buf, c->n)) continue;
            int64_t t = now_ns();
            if (c->due >= tmeas) {
                add_late(t - c->due);
                g_done++;
            }
            c->busy = 0;
            c->n = 0;
        }
    }
    /* Requests due in the window that never completed (stuck, or never sent because every
     * connection was busy) count with the lateness they had reached when we gave up. */
    long missing = 0;
    int64_t tquit = now_ns();
    for (int k = 0; k < nconn; k++)
        if (cs[k].busy && cs[k].due >= tmeas) { add_late(tquit - cs[k].due); missing++; }
    for (int64_t d = next_due > tmeas ? next_due : tmeas; d < tend; d += interval) { add_late(tquit - d); missing++; }
    double pct[] = {50, 90, 99, 99.9, 100};
    double val[5] = {0};
    long acc = 0;
    int pi = 0;
    for (long us = 0; us <= MAXUS && pi < 5; us++) {
        acc += g_hist[us];
        while (pi < 5 && g_total > 0 && acc >= (long)(pct[pi] / 100.0 * (double)g_total + 0.5) && acc > 0) val[pi++] = (double)us / 1000.0;
    }
    printf("target %.0f req/s, conns %d, measured %.0f s: done %ld (%.0f req/s), missing %ld, errors %ld, "
           "p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms%s\n",
           rate, nconn, secs, g_done, (double)g_done / secs, missing, g_errors, val[0], val[1], val[2], val[3],
           val[4], g_over ? " (some >2 s)" : "");
    printf("{\"rate\":%.0f,\"conns\":%d,\"done\":%ld,\"rps\":%.0f,\"missing\":%ld,\"errors\":%ld,\"p50_ms\":%.3f,"
           "\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f}\n",
           rate, nconn, g_done, (double)g_done / secs, missing, g_errors, val[0], val[1], val[2], val[3], val[4]);
    (void)sent;
    return 0;
}
