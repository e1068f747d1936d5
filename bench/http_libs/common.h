/* Shared by the four HTTP library trial servers: the canned reply, a stand-in for
 * "parse + authenticate", and a simulated executor that completes requests in
 * group-commit batches (take everything queued, "fsync" for DELAY_US, complete all). */
#ifndef JZ_BENCH_COMMON_H
#define JZ_BENCH_COMMON_H
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 150-byte JSON reply body. */
static const char REPLY[] =
    "{\"status\":\"accepted\",\"transfer_id\":\"01HZX4T9QK3M7W2B8N5R6C0D1E\","
    "\"ledger_seq\":123456789,\"committed_at\":\"2024-01-01T00:00:00.000Z\",\"fee\":\"0.00\",\"v\":1}";
#define REPLY_LEN (sizeof REPLY - 1)

/* Stand-in for parse+HMAC: touch every body byte (FNV-1a). */
static inline uint64_t body_digest(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

struct job {
    struct job *next;
    void (*done)(struct job *); /* called on the executor thread */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *head, *tail;
    long delay_us;
} g_exec = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 1000};

static inline void exec_submit(struct job *j)
{
    j->next = NULL;
    pthread_mutex_lock(&g_exec.mu);
    if (g_exec.tail) g_exec.tail->next = j; else g_exec.head = j;
    g_exec.tail = j;
    pthread_cond_signal(&g_exec.cv);
    pthread_mutex_unlock(&g_exec.mu);
}

static void *exec_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&g_exec.mu);
        while (!g_exec.head) pthread_cond_wait(&g_exec.cv, &g_exec.mu);
        struct job *batch = g_exec.head;
        g_exec.head = g_exec.tail = NULL;
        pthread_mutex_unlock(&g_exec.mu);
        struct timespec ts = {0, g_exec.delay_us * 1000};
        nanosleep(&ts, NULL); /* the group commit's fsync */
        while (batch) {
            struct job *n = batch->next;
            batch->done(batch);
            batch = n;
        }
    }
    return NULL;
}

static inline void exec_start(void)
{
    pthread_t t;
    const char *d = getenv("JZ_DELAY_US");
    if (d) g_exec.delay_us = atol(d);
    if (pthread_create(&t, NULL, exec_main, NULL) != 0) { perror("pthread_create"); exit(1); }
    pthread_detach(t);
}

/* argv: PORT MODE THREADS [VARIANT]; MODE is "imm" (answer in the handler) or "def"
 * (hand to the executor, answer when it completes). */
struct opts { int port, deferred, threads; const char *variant; };
static inline struct opts parse_opts(int argc, char **argv, const char *default_variant)
{
    struct opts o = {8080, 0, 2, default_variant};
    if (argc > 1) o.port = atoi(argv[1]);
    if (argc > 2) o.deferred = strcmp(argv[2], "def") == 0;
    if (argc > 3) o.threads = atoi(argv[3]);
    if (argc > 4) o.variant = argv[4];
    if (o.deferred) exec_start();
    fprintf(stderr, "port=%d mode=%s threads=%d variant=%s\n", o.port, o.deferred ? "def" : "imm",
            o.threads, o.variant);
    return o;
}
#endif
