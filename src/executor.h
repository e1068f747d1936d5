/*
 * executor.h: the single thread that owns the ledger, and the journal thread behind it
 * (DESIGN.md §3).
 *
 * Requests (a client's commands, or a read) enter a bounded queue. The executor thread takes
 * as many requests as fit in one batch of JZ_BATCH_MAX commands, stamps the batch with one
 * timestamp from its clock (never earlier than the previous batch's), applies it to the
 * ledger and encodes it into a journal buffer. The journal thread writes the buffer as one
 * record, fdatasyncs, and only then completes the requests: nothing is acknowledged before
 * it is durable. Applying batch N+1 overlaps the sync of batch N (group commit, pipelined).
 * After a failed write or sync nothing more is acknowledged: every pending and later request
 * completes with status -1 and the node must stop.
 *
 * The hot path does not allocate: buffers and queue are sized in executor_start.
 */
#ifndef JZ_EXECUTOR_H
#define JZ_EXECUTOR_H

#include <semaphore.h>

#include "journal.h"
#include "ledger.h"
#include "metrics.h"

/* A read run on the executor thread in queue order; it sees every request queued before it
 * applied, and completes once they are durable. */
typedef void (*executor_query_fn)(const ledger *l, void *ctx);

/* Owned by the submitter, which must keep it (and cmds, results) alive until completion. */
struct executor_request {
    const struct ledger_cmd *cmds;
    struct ledger_result *results;
    uint32_t count; /* 1..JZ_BATCH_MAX commands, or 0 with a query */
    executor_query_fn query;
    void *query_ctx;
    /* Optional, with commands: run on the executor thread right after they are applied
     * (to read what they produced, e.g. the wallet a command opened). */
    executor_query_fn after;
    void *after_ctx;
    int status;   /* after completion: 0 = applied and durable, -1 = node failed */
    uint64_t seq; /* after completion: the journal record holding the commands */
    /* Completion: when on_done is set it is called (on the journal thread: it must be quick
     * and must not submit and wait) instead of posting `done`; executor_wait is then not
     * used. */
    void (*on_done)(struct executor_request *r, void *ctx);
    void *on_done_ctx;
    sem_t done;
};

void executor_request_init(struct executor_request *r);
void executor_request_destroy(struct executor_request *r);

/* Called on the executor thread with the journal idle (every applied batch durable). */
typedef int (*executor_snapshot_fn)(void *ctx, const ledger *l, uint64_t seq,
                                    const uint8_t hash[CRYPTO_SM3_BYTES]);

struct executor_config {
    uint32_t queue_max;                  /* requests waiting; 0 = 65536 */
    int64_t (*now_ms)(void *ctx);        /* NULL = the wall clock */
    void *clock_ctx;
    uint64_t snapshot_every;             /* batches between snapshots; 0 = never */
    executor_snapshot_fn snapshot;
    void *snapshot_ctx;
    /* Called on the journal thread each time records up to seq are durable (quick). */
    void (*on_durable)(void *ctx, uint64_t seq);
    void *on_durable_ctx;
};

typedef struct executor executor;

/* Starts both threads. The ledger and journal are borrowed until executor_stop. */
int executor_start(ledger *l, journal *j, const struct executor_config *cfg, executor **out);

/* Queues r without waiting. Returns 0, or -1 with errno: EAGAIN queue full (overloaded),
 * EINVAL a malformed request (no commands, too many, lengths beyond the limits), EPIPE the
 * node has failed or is stopping. */
int executor_submit(executor *e, struct executor_request *r);
/* Blocks until r completes; returns r->status. */
int executor_wait(struct executor_request *r);
/* executor_submit, waiting for room when the queue is full, then executor_wait. */
int executor_run(executor *e, struct executor_request *r);

/* Applies everything queued, waits until it is durable, stops both threads and frees the
 * executor. Returns 0, or -1 if the node had failed. */
int executor_stop(executor *e);
bool executor_failed(executor *e);

/* Runs the snapshot callback now (on the executor thread, journal idle) and waits for it.
 * Returns the callback's result, or -1 if the node has failed. */
int executor_snapshot_now(executor *e);

struct executor_stats {
    uint64_t batches;
    uint64_t commands;
    uint64_t journal_bytes;
    uint32_t queue_depth;
    /* Batch latency, from the executor taking the batch until it is durable (µs), over the
     * most recent EXECUTOR_LATENCY_SAMPLES batches. */
    uint64_t batch_p50_us, batch_p99_us, batch_max_us;
    uint64_t sync_p50_us, sync_p99_us; /* fdatasync alone */
};
#define EXECUTOR_LATENCY_SAMPLES 65536
void executor_get_stats(executor *e, struct executor_stats *out);

/* Histograms for /metrics: commands per batch, fdatasync seconds, batch seconds (taken
 * to durable). Owned by the executor; valid until executor_stop. */
struct executor_metrics {
    struct metrics_histogram batch_commands;
    struct metrics_histogram fsync_seconds;
    struct metrics_histogram batch_seconds;
    _Atomic uint64_t commands;
    _Atomic uint64_t batches;
    /* The ledger's tables, after the latest batch (capacity is in the configuration). */
    _Atomic uint64_t wallets, transfer_ids, holds;
};
struct executor_metrics *executor_get_metrics(executor *e);
/* Requests waiting in the queue now. */
uint32_t executor_queue_depth(executor *e);
/* The seq of the newest durable record. */
uint64_t executor_durable_seq(executor *e);
/* The newest durable record's seq and chain hash, read together. */
void executor_durable_head(executor *e, uint64_t *seq, uint8_t hash[CRYPTO_SM3_BYTES]);

/* Replays one journal batch record into l (groups of commands, as the executor wrote them).
 * Returns 0, or -1 when the payload is malformed. results is scratch of JZ_BATCH_MAX. */
int executor_replay_record(ledger *l, const struct journal_record *rec, struct ledger_cmd *cmds,
                           struct ledger_result *results);

#endif
