/*
 * executor.c: the executor and journal threads (see executor.h).
 *
 * Buffers cycle between the two threads: free -> filled by the executor (applied commands,
 * encoded) -> written and synced by the journal thread -> requests completed -> free.
 * EXECUTOR_BUFFERS of them bound how far application may run ahead of durability.
 */
#include "executor.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "command.h"

#define EXECUTOR_BUFFERS 4
#define GROUP_HEADER_BYTES COMMAND_GROUP_HEADER_BYTES
#define RESULT_BYTES COMMAND_RESULT_BYTES
/* Worst case payload: every command its own request, each at its largest encoding. */
#define BUFFER_BYTES \
    ((size_t)JZ_BATCH_MAX * (COMMAND_BYTES_MAX + GROUP_HEADER_BYTES + RESULT_BYTES))

struct buffer {
    uint8_t *payload;
    size_t size;
    uint32_t count; /* commands */
    int64_t timestamp;
    struct executor_request **requests;
    uint32_t request_count;
    uint64_t started_us;
};

struct executor {
    ledger *ledger;
    journal *journal;
    struct executor_config cfg;

    pthread_mutex_t mu;
    pthread_cond_t queue_cond;   /* requests queued, or stopping */
    pthread_cond_t room_cond;    /* room in the queue */
    pthread_cond_t buffer_cond;  /* a buffer freed, or filled, or journal idle */
    struct executor_request **queue;
    uint32_t queue_head;
    uint32_t queue_count;
    bool stopping;
    bool exec_done; /* the executor thread has finished: the journal thread may exit */
    bool failed;
    bool snapshot_requested;
    int snapshot_result;
    bool snapshot_done;

    struct buffer buffers[EXECUTOR_BUFFERS];
    uint32_t filled[EXECUTOR_BUFFERS]; /* FIFO of filled buffer numbers */
    uint32_t filled_head;
    uint32_t filled_count;
    uint32_t free_list[EXECUTOR_BUFFERS];
    uint32_t free_count;
    bool journal_busy;

    pthread_t exec_thread;
    pthread_t journal_thread;
    int64_t last_timestamp;
    uint64_t batches_since_snapshot;

    uint64_t stat_batches;
    uint64_t stat_commands;
    uint64_t stat_journal_bytes;
    uint32_t *batch_lat_us;
    uint32_t *sync_lat_us;
    uint64_t lat_count;
    struct executor_metrics metrics;
    _Atomic uint64_t durable_seq;
    uint8_t durable_hash[CRYPTO_SM3_BYTES]; /* under mu */
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int64_t wall_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void executor_request_init(struct executor_request *r)
{
    memset(r, 0, sizeof *r);
    sem_init(&r->done, 0, 0);
}

void executor_request_destroy(struct executor_request *r)
{
    sem_destroy(&r->done);
}

static void complete(struct executor_request *r, int status, uint64_t seq)
{
    r->status = status;
    r->seq = seq;
    if (r->on_done) {
        r->on_done(r, r->on_done_ctx);
    } else {
        sem_post(&r->done);
    }
}

int executor_wait(struct executor_request *r)
{
    while (sem_wait(&r->done) != 0) {
        ASSERT(errno == EINTR);
    }
    return r->status;
}

/* ---- Submission ---- */

static bool request_valid(const struct executor_request *r)
{
    if (r->count == 0) {
        return r->query != NULL;
    }
    if (r->count > JZ_BATCH_MAX || r->query != NULL || !r->cmds || !r->results) {
        return false;
    }
    for (uint32_t i = 0; i < r->count; i++) {
        if (!command_valid_lengths(&r->cmds[i])) {
            return false;
        }
    }
    return true;
}

static int submit_locked(executor *e, struct executor_request *r, bool wait_for_room)
{
    while (!e->failed && !e->stopping && e->queue_count == e->cfg.queue_max && wait_for_room) {
        pthread_cond_wait(&e->room_cond, &e->mu);
    }
    if (e->failed || e->stopping) {
        errno = EPIPE;
        return -1;
    }
    if (e->queue_count == e->cfg.queue_max) {
        errno = EAGAIN;
        return -1;
    }
    e->queue[(e->queue_head + e->queue_count) % e->cfg.queue_max] = r;
    e->queue_count++;
    pthread_cond_signal(&e->queue_cond);
    return 0;
}

static int submit(executor *e, struct executor_request *r, bool wait_for_room)
{
    if (!request_valid(r)) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&e->mu);
    int rc = submit_locked(e, r, wait_for_room);
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int executor_submit(executor *e, struct executor_request *r)
{
    return submit(e, r, false);
}

int executor_run(executor *e, struct executor_request *r)
{
    if (submit(e, r, true) != 0) {
        return -1;
    }
    return executor_wait(r);
}

/* ---- The executor thread ---- */

/* Takes requests that fit one batch into b. Called with the lock held. */
static void take_requests(executor *e, struct buffer *b)
{
    uint32_t total = 0;
    b->request_count = 0;
    while (e->queue_count > 0) {
        struct executor_request *r = e->queue[e->queue_head];
        uint32_t weight = r->count ? r->count : 1;
        if (total + weight > JZ_BATCH_MAX) {
            break;
        }
        b->requests[b->request_count++] = r;
        total += weight;
        e->queue_head = (e->queue_head + 1) % e->cfg.queue_max;
        e->queue_count--;
    }
    pthread_cond_broadcast(&e->room_cond);
}

static void apply_buffer(executor *e, struct buffer *b)
{
    int64_t now = e->cfg.now_ms(e->cfg.clock_ctx);
    int64_t ts = now > e->last_timestamp ? now : e->last_timestamp;
    e->last_timestamp = ts;
    b->timestamp = ts;
    b->size = 0;
    b->count = 0;
    for (uint32_t i = 0; i < b->request_count; i++) {
        struct executor_request *r = b->requests[i];
        if (r->query) {
            r->query(e->ledger, r->query_ctx);
            continue;
        }
        ledger_apply_batch(e->ledger, ts, r->cmds, r->count, r->results);
        if (r->after) {
            r->after(e->ledger, r->after_ctx);
        }
        put_u32(b->payload + b->size, r->count);
        b->size += GROUP_HEADER_BYTES;
        for (uint32_t k = 0; k < r->count; k++) {
            b->size += command_encode(&r->cmds[k], b->payload + b->size);
        }
        for (uint32_t k = 0; k < r->count; k++) {
            b->payload[b->size++] = (uint8_t)r->results[k].code;
            b->payload[b->size++] = command_result_byte(&r->results[k]);
        }
        b->count += r->count;
    }
    ASSERT(b->size <= BUFFER_BYTES);
    atomic_store_explicit(&e->metrics.wallets, ledger_wallet_count(e->ledger), memory_order_relaxed);
    atomic_store_explicit(&e->metrics.transfer_ids, ledger_transfer_count(e->ledger),
                          memory_order_relaxed);
    atomic_store_explicit(&e->metrics.holds, ledger_hold_count(e->ledger), memory_order_relaxed);
}

/* Waits (lock held) until every filled buffer is written and synced. */
static void wait_journal_idle(executor *e)
{
    while (e->filled_count > 0 || e->journal_busy) {
        pthread_cond_wait(&e->buffer_cond, &e->mu);
    }
}

static void run_snapshot(executor *e)
{
    /* Lock held, journal idle: the ledger holds exactly what the journal holds. */
    int rc = -1;
    if (!e->failed && e->cfg.snapshot) {
        uint8_t hash[CRYPTO_SM3_BYTES];
        journal_head_hash(e->journal, hash);
        rc = e->cfg.snapshot(e->cfg.snapshot_ctx, e->ledger, journal_head_seq(e->journal), hash);
    }
    e->batches_since_snapshot = 0;
    e->snapshot_result = rc;
    e->snapshot_done = true;
    e->snapshot_requested = false;
    pthread_cond_broadcast(&e->buffer_cond);
}

static void *executor_main(void *arg)
{
    pthread_setname_np(pthread_self(), "jz-executor"); /* names show in top and perf */
    executor *e = arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (e->queue_count == 0 && !e->stopping && !e->snapshot_requested) {
            pthread_cond_wait(&e->queue_cond, &e->mu);
        }
        bool periodic = e->cfg.snapshot_every > 0 &&
                        e->batches_since_snapshot >= e->cfg.snapshot_every;
        if (e->snapshot_requested || periodic) {
            wait_journal_idle(e);
            run_snapshot(e);
            continue;
        }
        if (e->queue_count == 0) {
            break; /* stopping, and everything queued has been taken */
        }
        while (e->free_count == 0) {
            pthread_cond_wait(&e->buffer_cond, &e->mu);
        }
        struct buffer *b = &e->buffers[e->free_list[--e->free_count]];
        uint32_t number = (uint32_t)(b - e->buffers);
        take_requests(e, b);
        if (e->failed) {
            /* Nothing is applied after a failure: the ledger would run ahead of a journal
             * that can no longer record it. */
            for (uint32_t k = 0; k < b->request_count; k++) {
                complete(b->requests[k], -1, 0);
            }
            e->free_list[e->free_count++] = number;
            continue;
        }
        pthread_mutex_unlock(&e->mu);
        b->started_us = mono_us();
        apply_buffer(e, b);
        pthread_mutex_lock(&e->mu);
        e->filled[(e->filled_head + e->filled_count) % EXECUTOR_BUFFERS] = number;
        e->filled_count++;
        e->batches_since_snapshot++;
        pthread_cond_broadcast(&e->buffer_cond);
    }
    wait_journal_idle(e);
    e->exec_done = true;
    pthread_cond_broadcast(&e->buffer_cond);
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* ---- The journal thread ---- */

static void record_latency(executor *e, const struct buffer *b, uint64_t sync_us)
{
    uint64_t i = e->lat_count++ % EXECUTOR_LATENCY_SAMPLES;
    uint64_t batch_us = mono_us() - b->started_us;
    if (b->count > 0) {
        metrics_observe(&e->metrics.batch_commands, (uint64_t)b->count * 1000000u);
        metrics_observe(&e->metrics.fsync_seconds, sync_us);
        metrics_observe(&e->metrics.batch_seconds, batch_us);
        atomic_fetch_add(&e->metrics.commands, b->count);
        atomic_fetch_add(&e->metrics.batches, 1);
    }
    e->batch_lat_us[i] = batch_us > UINT32_MAX ? UINT32_MAX : (uint32_t)batch_us;
    e->sync_lat_us[i] = sync_us > UINT32_MAX ? UINT32_MAX : (uint32_t)sync_us;
}

/* Writes and syncs the filled buffers taken (unlocked). Returns 0 when durable. */
static int journal_buffers(executor *e, const uint32_t *numbers, uint32_t n, uint64_t *sync_us)
{
    bool wrote = false;
    for (uint32_t i = 0; i < n; i++) {
        struct buffer *b = &e->buffers[numbers[i]];
        if (b->count == 0) {
            continue; /* reads only: nothing to journal */
        }
        uint64_t seq;
        if (journal_write(e->journal, b->timestamp, b->count, b->payload, (uint32_t)b->size,
                          &seq) != 0) {
            return -1;
        }
        wrote = true;
    }
    uint64_t start = mono_us();
    if (wrote && journal_sync(e->journal) != 0) {
        return -1;
    }
    *sync_us = mono_us() - start;
    return 0;
}

static void *journal_main(void *arg)
{
    pthread_setname_np(pthread_self(), "jz-journal"); /* names show in top and perf */
    executor *e = arg;
    uint32_t numbers[EXECUTOR_BUFFERS];
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (e->filled_count == 0 && !e->exec_done) {
            pthread_cond_wait(&e->buffer_cond, &e->mu);
        }
        if (e->filled_count == 0) {
            break;
        }
        uint32_t n = e->filled_count;
        for (uint32_t i = 0; i < n; i++) {
            numbers[i] = e->filled[(e->filled_head + i) % EXECUTOR_BUFFERS];
        }
        e->filled_head = (e->filled_head + n) % EXECUTOR_BUFFERS;
        e->filled_count = 0;
        e->journal_busy = true;
        bool failed = e->failed;
        pthread_mutex_unlock(&e->mu);

        uint64_t sync_us = 0;
        int rc = failed ? -1 : journal_buffers(e, numbers, n, &sync_us);
        if (rc != 0 && !failed) {
            fprintf(stderr, "jiaozi: journal write or sync failed (%s): stopping, nothing more "
                            "is acknowledged\n", strerror(errno));
        }
        uint64_t seq = journal_head_seq(e->journal);
        if (rc == 0) {
            uint8_t hash[CRYPTO_SM3_BYTES];
            journal_head_hash(e->journal, hash);
            pthread_mutex_lock(&e->mu);
            memcpy(e->durable_hash, hash, sizeof hash);
            atomic_store(&e->durable_seq, seq);
            pthread_mutex_unlock(&e->mu);
        }
        if (rc == 0 && e->cfg.on_durable) {
            e->cfg.on_durable(e->cfg.on_durable_ctx, seq);
        }
        for (uint32_t i = 0; i < n; i++) {
            struct buffer *b = &e->buffers[numbers[i]];
            for (uint32_t k = 0; k < b->request_count; k++) {
                complete(b->requests[k], rc == 0 ? 0 : -1, seq);
            }
        }

        pthread_mutex_lock(&e->mu);
        for (uint32_t i = 0; i < n; i++) {
            struct buffer *b = &e->buffers[numbers[i]];
            if (rc == 0) {
                e->stat_batches++;
                e->stat_commands += b->count;
                e->stat_journal_bytes += b->size + JOURNAL_HEADER_BYTES;
                record_latency(e, b, sync_us);
            }
            e->free_list[e->free_count++] = numbers[i];
        }
        if (rc != 0) {
            e->failed = true;
            pthread_cond_broadcast(&e->room_cond);
        }
        e->journal_busy = false;
        pthread_cond_broadcast(&e->buffer_cond);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* ---- Lifecycle ---- */

static void executor_free(executor *e)
{
    for (int i = 0; i < EXECUTOR_BUFFERS; i++) {
        free(e->buffers[i].payload);
        free(e->buffers[i].requests);
    }
    free(e->queue);
    free(e->batch_lat_us);
    free(e->sync_lat_us);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->queue_cond);
    pthread_cond_destroy(&e->room_cond);
    pthread_cond_destroy(&e->buffer_cond);
    free(e);
}

static int executor_alloc(executor *e)
{
    e->queue = calloc(e->cfg.queue_max, sizeof *e->queue);
    e->batch_lat_us = calloc(EXECUTOR_LATENCY_SAMPLES, sizeof *e->batch_lat_us);
    e->sync_lat_us = calloc(EXECUTOR_LATENCY_SAMPLES, sizeof *e->sync_lat_us);
    if (!e->queue || !e->batch_lat_us || !e->sync_lat_us) {
        return -1;
    }
    for (uint32_t i = 0; i < EXECUTOR_BUFFERS; i++) {
        e->buffers[i].payload = malloc(BUFFER_BYTES);
        e->buffers[i].requests = calloc(JZ_BATCH_MAX, sizeof *e->buffers[i].requests);
        if (!e->buffers[i].payload || !e->buffers[i].requests) {
            return -1;
        }
        e->free_list[e->free_count++] = i;
    }
    return 0;
}

int executor_start(ledger *l, journal *j, const struct executor_config *cfg, executor **out)
{
    executor *e = calloc(1, sizeof *e);
    if (!e) {
        return -1;
    }
    e->ledger = l;
    e->journal = j;
    e->cfg = *cfg;
    if (e->cfg.queue_max == 0) {
        e->cfg.queue_max = 65536;
    }
    if (e->cfg.now_ms == NULL) {
        e->cfg.now_ms = wall_ms;
    }
    e->last_timestamp = ledger_last_timestamp(l);
    atomic_store(&e->durable_seq, journal_head_seq(j));
    journal_head_hash(j, e->durable_hash);
    metrics_histogram_init(&e->metrics.batch_commands, metrics_size_bounds, metrics_size_nbounds);
    metrics_histogram_init(&e->metrics.fsync_seconds, metrics_latency_bounds,
                           metrics_latency_nbounds);
    metrics_histogram_init(&e->metrics.batch_seconds, metrics_latency_bounds,
                           metrics_latency_nbounds);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->queue_cond, NULL);
    pthread_cond_init(&e->room_cond, NULL);
    pthread_cond_init(&e->buffer_cond, NULL);
    if (executor_alloc(e) != 0) {
        executor_free(e);
        return -1;
    }
    if (pthread_create(&e->journal_thread, NULL, journal_main, e) != 0) {
        executor_free(e);
        return -1;
    }
    if (pthread_create(&e->exec_thread, NULL, executor_main, e) != 0) {
        pthread_mutex_lock(&e->mu);
        e->exec_done = true;
        pthread_cond_broadcast(&e->buffer_cond);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->journal_thread, NULL);
        executor_free(e);
        return -1;
    }
    *out = e;
    return 0;
}

int executor_stop(executor *e)
{
    pthread_mutex_lock(&e->mu);
    e->stopping = true;
    pthread_cond_broadcast(&e->queue_cond);
    pthread_cond_broadcast(&e->room_cond);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->exec_thread, NULL);
    pthread_join(e->journal_thread, NULL);
    int rc = e->failed ? -1 : 0;
    executor_free(e);
    return rc;
}

bool executor_failed(executor *e)
{
    pthread_mutex_lock(&e->mu);
    bool failed = e->failed;
    pthread_mutex_unlock(&e->mu);
    return failed;
}

int executor_snapshot_now(executor *e)
{
    pthread_mutex_lock(&e->mu);
    if (e->failed || e->stopping) {
        pthread_mutex_unlock(&e->mu);
        return -1;
    }
    e->snapshot_done = false;
    e->snapshot_requested = true;
    pthread_cond_broadcast(&e->queue_cond);
    while (!e->snapshot_done) {
        pthread_cond_wait(&e->buffer_cond, &e->mu);
    }
    int rc = e->snapshot_result;
    pthread_mutex_unlock(&e->mu);
    return rc;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a;
    uint32_t y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void percentiles(const uint32_t *samples, uint64_t n, uint64_t *p50, uint64_t *p99,
                        uint64_t *max)
{
    *p50 = *p99 = 0;
    if (max) {
        *max = 0;
    }
    if (n == 0) {
        return;
    }
    uint32_t *copy = malloc(n * sizeof *copy);
    if (!copy) {
        return;
    }
    memcpy(copy, samples, n * sizeof *copy);
    qsort(copy, n, sizeof *copy, cmp_u32);
    *p50 = copy[(n - 1) / 2];
    *p99 = copy[(n - 1) * 99 / 100];
    if (max) {
        *max = copy[n - 1];
    }
    free(copy);
}

void executor_get_stats(executor *e, struct executor_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&e->mu);
    out->batches = e->stat_batches;
    out->commands = e->stat_commands;
    out->journal_bytes = e->stat_journal_bytes;
    out->queue_depth = e->queue_count;
    uint64_t n = e->lat_count < EXECUTOR_LATENCY_SAMPLES ? e->lat_count : EXECUTOR_LATENCY_SAMPLES;
    percentiles(e->batch_lat_us, n, &out->batch_p50_us, &out->batch_p99_us, &out->batch_max_us);
    percentiles(e->sync_lat_us, n, &out->sync_p50_us, &out->sync_p99_us, NULL);
    pthread_mutex_unlock(&e->mu);
}

struct replay_ctx {
    ledger *ledger;
    const struct journal_record *rec;
    struct ledger_result *results;
    uint32_t seen;
};

static int replay_group(void *arg, const struct ledger_cmd *cmds, const uint8_t *journalled,
                        uint32_t n)
{
    struct replay_ctx *rc = arg;
    if (rc->rec->timestamp_ms < ledger_last_timestamp(rc->ledger)) {
        return -1;
    }
    ledger_apply_batch(rc->ledger, rc->rec->timestamp_ms, cmds, n, rc->results);
    /* The journalled results must come out again: anything else means the ledger is not
     * deterministic (or was changed since), and recovery must stop, not diverge. */
    for (uint32_t k = 0; k < n; k++) {
        const uint8_t *jr = journalled + (size_t)k * COMMAND_RESULT_BYTES;
        if (jr[0] != rc->results[k].code || jr[1] != command_result_byte(&rc->results[k])) {
            fprintf(stderr, "jiaozi: replay of record %llu diverged at command %u: "
                            "journal says %s, ledger says %s\n",
                    (unsigned long long)rc->rec->seq, rc->seen + k, jz_result_name(jr[0]),
                    jz_result_name(rc->results[k].code));
            return -1;
        }
    }
    rc->seen += n;
    return 0;
}

int executor_replay_record(ledger *l, const struct journal_record *rec, struct ledger_cmd *cmds,
                           struct ledger_result *results)
{
    struct replay_ctx rc = {.ledger = l, .rec = rec, .results = results};
    return command_payload_walk(rec->payload, rec->size, rec->count, cmds, replay_group, &rc) == 0
               ? 0 : -1;
}

struct executor_metrics *executor_get_metrics(executor *e)
{
    return &e->metrics;
}

uint32_t executor_queue_depth(executor *e)
{
    pthread_mutex_lock(&e->mu);
    uint32_t n = e->queue_count;
    pthread_mutex_unlock(&e->mu);
    return n;
}

uint64_t executor_durable_seq(executor *e)
{
    return atomic_load(&e->durable_seq);
}

void executor_durable_head(executor *e, uint64_t *seq, uint8_t hash[CRYPTO_SM3_BYTES])
{
    pthread_mutex_lock(&e->mu);
    *seq = atomic_load(&e->durable_seq);
    memcpy(hash, e->durable_hash, CRYPTO_SM3_BYTES);
    pthread_mutex_unlock(&e->mu);
}
