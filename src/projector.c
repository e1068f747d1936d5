/*
 * projector.c: durable journal records into the history store (see projector.h).
 */
#include "projector.h"

#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "journal.h"

/* Records per store transaction: large enough to amortise the commit, small enough that a
 * reader waiting for a fresh transfer is not kept long. */
#define RECORDS_PER_COMMIT 1024
/* How long the projector lets durable records gather before a transaction when nobody is
 * waiting to read them. A commit per journal record (under one-transfer requests, a record
 * holds ~5 transfers) cost ~27 µs a transfer in SQLite's WAL writes, more than the rest of
 * the request; a transaction every few milliseconds costs a few µs a transfer. A reader that
 * wants its own writes (projector_wait) cuts the wait short. */
#define COALESCE_MS 5

struct projector {
    char dir[2048];
    store *store;
    journal_reader *reader;
    struct ledger_cmd *scratch;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* durable seq advanced, or projected seq advanced, or stopping */
    uint64_t durable_seq;
    uint64_t projected_seq;
    uint32_t waiters; /* in projector_wait: project now */
    bool stopping;
    bool failed;
};

struct group_ctx {
    store *store;
    uint64_t seq;
    int64_t timestamp;
    uint32_t index; /* of the command within the record */
};

static void transfer_of(const struct ledger_cmd *c, const struct group_ctx *g,
                        struct store_transfer *t)
{
    memset(t, 0, sizeof *t);
    t->id = c->id;
    t->debit = c->debit;
    t->credit = c->credit;
    t->amount = c->amount;
    t->kind = c->kind;
    t->timestamp = g->timestamp;
    t->pos = g->seq << 16 | g->index;
    memcpy(t->ref, c->ref, c->ref_len);
    memcpy(t->memo, c->memo, c->memo_len);
}

static int project_capture(const struct ledger_cmd *c, struct group_ctx *g)
{
    struct store_transfer t;
    int64_t held = 0;
    transfer_of(c, g, &t);
    if (store_get_hold(g->store, &c->id, &t.debit, &t.credit, &held) != 0) {
        return -1; /* a capture that posted must follow a hold the store has */
    }
    t.amount = c->amount == 0 ? held : c->amount;
    t.kind = LEDGER_KIND_PAYMENT;
    if (store_put_transfer(g->store, &t) != 0) {
        return -1;
    }
    return store_resolve_hold(g->store, &c->id, LEDGER_HOLD_CAPTURED, t.amount);
}

static int project_command(const struct ledger_cmd *c, struct group_ctx *g)
{
    struct store_transfer t;
    switch (c->op) {
    case LEDGER_OP_TRANSFER:
        transfer_of(c, g, &t);
        return store_put_transfer(g->store, &t);
    case LEDGER_OP_HOLD_CREATE:
        return store_put_hold(g->store, &c->id, &c->debit, &c->credit, c->amount,
                              g->timestamp + c->timeout_ms, g->timestamp);
    case LEDGER_OP_HOLD_CAPTURE:
        return project_capture(c, g);
    case LEDGER_OP_HOLD_VOID:
        return store_resolve_hold(g->store, &c->id, LEDGER_HOLD_VOIDED, 0);
    case LEDGER_OP_WALLET_OPEN:
        if (c->holder_len > 0 && store_put_holder(g->store, &c->id, c->holder, c->holder_len) != 0) {
            return -1;
        }
        return store_put_wallet(g->store, &c->id, c->actor, c->kind, c->tier, c->form,
                                &c->credit, g->timestamp);
    case LEDGER_OP_GENESIS:
    case LEDGER_OP_INSTITUTION_CREATE:
        /* Institutions are numbered in order of creation, as the ledger numbers them. */
        return store_put_wallet(g->store, &c->debit, (uint16_t)store_next_institution(g->store),
                                LEDGER_WALLET_TREASURY, 1, LEDGER_FORM_SOFT, NULL, g->timestamp);
    case LEDGER_OP_WALLET_UPDATE:
        return store_update_wallet(g->store, &c->id, c->tier, c->status);
    case LEDGER_OP_WALLET_CLOSE:
        return store_update_wallet(g->store, &c->id, 0, LEDGER_STATUS_CLOSED);
    default:
        return 0;
    }
}

static int project_group(void *arg, const struct ledger_cmd *cmds, const uint8_t *results,
                         uint32_t n)
{
    struct group_ctx *g = arg;
    for (uint32_t k = 0; k < n; k++, g->index++) {
        if (results[2 * k] != JZ_OK || (results[2 * k + 1] & COMMAND_REPLAYED_BIT)) {
            continue; /* refused commands and idempotent replays change nothing */
        }
        if (project_command(&cmds[k], g) != 0) {
            return -1;
        }
    }
    return 0;
}

static int project_record(store *s, struct ledger_cmd *scratch, const struct journal_record *rec)
{
    if (rec->type != JOURNAL_TYPE_BATCH) {
        return 0;
    }
    struct group_ctx g = {.store = s, .seq = rec->seq, .timestamp = rec->timestamp_ms};
    return command_payload_walk(rec->payload, rec->size, rec->count, scratch, project_group, &g);
}

/* Projects up to `to` records from r into s in transactions of RECORDS_PER_COMMIT. Returns
 * the seq reached (its projected seq), or 0 with err set on failure. */
static int project_run(journal_reader *r, store *s, struct ledger_cmd *scratch, uint64_t to,
                       uint64_t *reached, char *err, size_t err_len)
{
    struct journal_record rec;
    while (journal_reader_position(r) <= to) {
        if (store_begin(s) != 0) {
            snprintf(err, err_len, "history store: cannot begin");
            return -1;
        }
        uint64_t last = 0;
        for (int i = 0; i < RECORDS_PER_COMMIT; i++) {
            int rc = journal_reader_next(r, to, &rec, err, err_len);
            if (rc == 0) {
                break;
            }
            if (rc < 0 || project_record(s, scratch, &rec) != 0) {
                if (rc > 0) {
                    snprintf(err, err_len, "history store: projecting record %llu failed",
                             (unsigned long long)rec.seq);
                }
                store_rollback(s);
                return -1;
            }
            last = rec.seq;
        }
        if (last == 0) {
            store_rollback(s);
            break;
        }
        if (store_commit(s, last) != 0) {
            snprintf(err, err_len, "history store: commit failed");
            store_rollback(s);
            return -1;
        }
        *reached = last;
    }
    return 0;
}

/* With p->mu held: lets records gather for up to COALESCE_MS unless someone waits. */
static void coalesce(projector *p)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += COALESCE_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!p->stopping && p->waiters == 0 &&
           pthread_cond_timedwait(&p->cond, &p->mu, &until) == 0) {
    }
}

static void *projector_main(void *arg)
{
    pthread_setname_np(pthread_self(), "jz-projector"); /* names show in top and perf */
    /* History is derived and may lag (its lag is a metric): under load the threads that
     * answer clients go first, and the projector catches up when they idle. */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    projector *p = arg;
    char err[512];
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stopping && p->durable_seq <= p->projected_seq) {
            pthread_cond_wait(&p->cond, &p->mu);
        }
        coalesce(p);
        uint64_t to = p->durable_seq;
        if (to <= p->projected_seq) {
            break; /* stopping, and everything durable is projected */
        }
        pthread_mutex_unlock(&p->mu);
        uint64_t reached = 0;
        int rc = project_run(p->reader, p->store, p->scratch, to, &reached, err, sizeof err);
        pthread_mutex_lock(&p->mu);
        if (reached > p->projected_seq) {
            p->projected_seq = reached;
        }
        pthread_cond_broadcast(&p->cond);
        if (rc != 0) {
            /* The history is derived data: the ledger keeps serving, reads of history say
             * so, and `jiaozi reindex` rebuilds it. */
            fprintf(stderr, "jiaozi: history projector stopped: %s\n", err);
            p->failed = true;
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int projector_start(const char *dir, store *s, uint64_t durable_seq, projector **out, char *err,
                    size_t err_len)
{
    projector *p = calloc(1, sizeof *p);
    if (!p || strlen(dir) >= sizeof p->dir) {
        free(p);
        snprintf(err, err_len, "projector: bad arguments");
        return -1;
    }
    snprintf(p->dir, sizeof p->dir, "%s", dir);
    p->store = s;
    p->projected_seq = store_projected_seq(s);
    p->durable_seq = durable_seq;
    p->scratch = calloc(JZ_BATCH_MAX, sizeof *p->scratch);
    if (!p->scratch ||
        journal_reader_open(dir, p->projected_seq + 1, &p->reader, err, err_len) != 0) {
        free(p->scratch);
        free(p);
        return -1;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (pthread_create(&p->thread, NULL, projector_main, p) != 0) {
        journal_reader_close(p->reader);
        free(p->scratch);
        free(p);
        snprintf(err, err_len, "projector: cannot start its thread");
        return -1;
    }
    *out = p;
    return 0;
}

void projector_notify(projector *p, uint64_t durable_seq)
{
    pthread_mutex_lock(&p->mu);
    if (durable_seq > p->durable_seq) {
        p->durable_seq = durable_seq;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->mu);
}

int projector_wait(projector *p, uint64_t seq, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    p->waiters++;
    pthread_cond_broadcast(&p->cond); /* a coalescing projector goes now */
    while (p->projected_seq < seq && !p->failed && rc == 0) {
        rc = pthread_cond_timedwait(&p->cond, &p->mu, &until);
    }
    p->waiters--;
    bool ok = p->projected_seq >= seq;
    pthread_mutex_unlock(&p->mu);
    return ok ? 0 : -1;
}

uint64_t projector_projected_seq(projector *p)
{
    pthread_mutex_lock(&p->mu);
    uint64_t v = p->projected_seq;
    pthread_mutex_unlock(&p->mu);
    return v;
}

uint64_t projector_durable_seq(projector *p)
{
    pthread_mutex_lock(&p->mu);
    uint64_t v = p->durable_seq;
    pthread_mutex_unlock(&p->mu);
    return v;
}

void projector_stop(projector *p)
{
    if (!p) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    journal_reader_close(p->reader);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cond);
    free(p->scratch);
    free(p);
}

int projector_catch_up(const char *dir, store *s, uint64_t to_seq, char *err, size_t err_len)
{
    journal_reader *r = NULL;
    struct ledger_cmd *scratch = calloc(JZ_BATCH_MAX, sizeof *scratch);
    uint64_t from = store_projected_seq(s) + 1;
    uint64_t reached = 0;
    int rc = -1;
    if (scratch && journal_reader_open(dir, from, &r, err, err_len) == 0) {
        rc = project_run(r, s, scratch, to_seq, &reached, err, err_len);
        journal_reader_close(r);
    }
    free(scratch);
    return rc;
}
