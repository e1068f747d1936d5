/*
 * store_sqlite.c: the history store on SQLite (see store_sqlite.h).
 */
#include "store_sqlite.h"

#include <pthread.h>
#include <sqlite3.h>

#include "crypto.h"

#define READERS 4

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    /* The projector's working set (recent pages of four b-trees) stays in memory; the WAL
     * is folded back less often. Both cut its CPU per transfer under load. */
    "PRAGMA cache_size=-65536;"
    "PRAGMA wal_autocheckpoint=8192;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('projected_seq', 0);"
    "INSERT OR IGNORE INTO meta VALUES('schema_version', 1);"
    "CREATE TABLE IF NOT EXISTS transfers(pos INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE,"
    " debit BLOB NOT NULL, credit BLOB NOT NULL, amount INTEGER NOT NULL,"
    " kind INTEGER NOT NULL, ref TEXT, memo TEXT, timestamp INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS wallet_transfers(wallet BLOB NOT NULL, pos INTEGER NOT NULL,"
    " PRIMARY KEY(wallet, pos)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS wallets(id BLOB PRIMARY KEY, operator INTEGER NOT NULL,"
    " kind INTEGER NOT NULL, tier INTEGER NOT NULL, form INTEGER NOT NULL, parent BLOB,"
    " status INTEGER NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS holds(id BLOB PRIMARY KEY, debit BLOB NOT NULL,"
    " credit BLOB NOT NULL, amount INTEGER NOT NULL, deadline INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL, status INTEGER NOT NULL, captured INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS holders(wallet BLOB PRIMARY KEY, sealed BLOB NOT NULL)"
    " WITHOUT ROWID;";

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SET_SEQ,
    ST_PUT_TRANSFER,
    ST_PUT_WALLET_TRANSFER,
    ST_PUT_WALLET,
    ST_UPDATE_WALLET_TIER,
    ST_UPDATE_WALLET_STATUS,
    ST_PUT_HOLD,
    ST_GET_HOLD,
    ST_RESOLVE_HOLD,
    ST_COUNT_TREASURIES,
    ST_PUT_HOLDER,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SET_SEQ] = "UPDATE meta SET value=?1 WHERE key='projected_seq'",
    [ST_PUT_TRANSFER] = "INSERT OR IGNORE INTO transfers VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
    [ST_PUT_WALLET_TRANSFER] = "INSERT OR IGNORE INTO wallet_transfers VALUES(?1,?2)",
    [ST_PUT_WALLET] = "INSERT OR IGNORE INTO wallets VALUES(?1,?2,?3,?4,?5,?6,1,?7)",
    [ST_UPDATE_WALLET_TIER] = "UPDATE wallets SET tier=?2 WHERE id=?1",
    [ST_UPDATE_WALLET_STATUS] = "UPDATE wallets SET status=?2 WHERE id=?1",
    [ST_PUT_HOLD] = "INSERT OR IGNORE INTO holds VALUES(?1,?2,?3,?4,?5,?6,1,0)",
    [ST_GET_HOLD] = "SELECT debit, credit, amount FROM holds WHERE id=?1",
    [ST_RESOLVE_HOLD] = "UPDATE holds SET status=?2, captured=?3 WHERE id=?1",
    [ST_COUNT_TREASURIES] = "SELECT count(*) FROM wallets WHERE kind=4",
    [ST_PUT_HOLDER] = "INSERT OR IGNORE INTO holders VALUES(?1,?2)",
};

struct reader {
    pthread_mutex_t mu;
    sqlite3 *db;
    sqlite3_stmt *get_transfer;
    sqlite3_stmt *history;
};

struct store {
    sqlite3 *db; /* the writer's connection */
    sqlite3_stmt *stmts[ST_COUNT];
    struct reader readers[READERS];
    unsigned next_reader;
    pthread_mutex_t next_mu;
};

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) == SQLITE_OK
               ? 0 : -1;
}

static int open_db(const char *path, sqlite3 **db, char *err, size_t err_len)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, db, flags, NULL) != SQLITE_OK) {
        snprintf(err, err_len, "%s: %s", path, *db ? sqlite3_errmsg(*db) : "cannot open");
        sqlite3_close(*db);
        *db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(*db, 5000);
    return 0;
}

static int open_reader(struct reader *r, const char *path, char *err, size_t err_len)
{
    pthread_mutex_init(&r->mu, NULL);
    if (open_db(path, &r->db, err, err_len) != 0) {
        return -1;
    }
    if (prepare(r->db, "SELECT id, debit, credit, amount, kind, ref, memo, timestamp, pos"
                       " FROM transfers WHERE id=?1", &r->get_transfer) != 0 ||
        prepare(r->db, "SELECT t.id, t.debit, t.credit, t.amount, t.kind, t.ref, t.memo,"
                       " t.timestamp, t.pos FROM wallet_transfers w JOIN transfers t"
                       " ON t.pos = w.pos WHERE w.wallet=?1 AND w.pos < ?2"
                       " ORDER BY w.pos DESC LIMIT ?3", &r->history) != 0) {
        snprintf(err, err_len, "%s: %s", path, sqlite3_errmsg(r->db));
        return -1;
    }
    return 0;
}

void store_close(store *s)
{
    if (!s) {
        return;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(s->stmts[i]);
    }
    for (int i = 0; i < READERS; i++) {
        sqlite3_finalize(s->readers[i].get_transfer);
        sqlite3_finalize(s->readers[i].history);
        sqlite3_close(s->readers[i].db);
        pthread_mutex_destroy(&s->readers[i].mu);
    }
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->next_mu);
    free(s);
}

static void store_config_once(void)
{
    /* SQLite's global allocation statistics take a mutex on every malloc: jiaozi does not
     * read them. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int store_open(const char *path, store **out, char *err, size_t err_len)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, store_config_once);
    store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    pthread_mutex_init(&s->next_mu, NULL);
    char *msg = NULL;
    if (open_db(path, &s->db, err, err_len) != 0) {
        goto fail;
    }
    if (sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, err_len, "%s: %s", path, msg ? msg : "schema");
        sqlite3_free(msg);
        goto fail;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        if (prepare(s->db, stmt_sql[i], &s->stmts[i]) != 0) {
            snprintf(err, err_len, "%s: %s", path, sqlite3_errmsg(s->db));
            goto fail;
        }
    }
    for (int i = 0; i < READERS; i++) {
        if (open_reader(&s->readers[i], path, err, err_len) != 0) {
            goto fail;
        }
    }
    *out = s;
    return 0;
fail:
    store_close(s);
    return -1;
}

/* Runs a prepared statement to completion and resets it. */
static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

static void bind_id(sqlite3_stmt *st, int i, const jz_id *id)
{
    sqlite3_bind_blob(st, i, id->b, sizeof id->b, SQLITE_TRANSIENT);
}

uint64_t store_projected_seq(store *s)
{
    sqlite3_stmt *st = NULL;
    uint64_t seq = 0;
    if (prepare(s->db, "SELECT value FROM meta WHERE key='projected_seq'", &st) == 0 &&
        sqlite3_step(st) == SQLITE_ROW) {
        seq = (uint64_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return seq;
}

int store_begin(store *s)
{
    return run(s->stmts[ST_BEGIN]);
}

int store_commit(store *s, uint64_t projected_seq)
{
    sqlite3_bind_int64(s->stmts[ST_SET_SEQ], 1, (sqlite3_int64)projected_seq);
    if (run(s->stmts[ST_SET_SEQ]) != 0) {
        return -1;
    }
    return run(s->stmts[ST_COMMIT]);
}

void store_rollback(store *s)
{
    run(s->stmts[ST_ROLLBACK]);
}

int store_put_transfer(store *s, const struct store_transfer *t)
{
    sqlite3_stmt *st = s->stmts[ST_PUT_TRANSFER];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)t->pos);
    bind_id(st, 2, &t->id);
    bind_id(st, 3, &t->debit);
    bind_id(st, 4, &t->credit);
    sqlite3_bind_int64(st, 5, t->amount);
    sqlite3_bind_int(st, 6, t->kind);
    if (t->ref[0]) {
        sqlite3_bind_text(st, 7, t->ref, -1, SQLITE_TRANSIENT);
    }
    if (t->memo[0]) {
        sqlite3_bind_text(st, 8, t->memo, -1, SQLITE_TRANSIENT);
    }
    sqlite3_bind_int64(st, 9, t->timestamp);
    if (run(st) != 0) {
        return -1;
    }
    if (sqlite3_changes(s->db) == 0) {
        return 0; /* already there: an idempotent replay */
    }
    const jz_id *sides[2] = {&t->debit, &t->credit};
    for (int i = 0; i < 2; i++) {
        st = s->stmts[ST_PUT_WALLET_TRANSFER];
        bind_id(st, 1, sides[i]);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)t->pos);
        if (run(st) != 0) {
            return -1;
        }
    }
    return 0;
}

int store_put_wallet(store *s, const jz_id *id, uint16_t operator_index, uint8_t kind,
                     uint8_t tier, uint8_t form, const jz_id *parent, int64_t created_at)
{
    sqlite3_stmt *st = s->stmts[ST_PUT_WALLET];
    bind_id(st, 1, id);
    sqlite3_bind_int(st, 2, operator_index);
    sqlite3_bind_int(st, 3, kind);
    sqlite3_bind_int(st, 4, tier);
    sqlite3_bind_int(st, 5, form);
    if (parent && !jz_id_is_zero(parent)) {
        bind_id(st, 6, parent);
    }
    sqlite3_bind_int64(st, 7, created_at);
    return run(st);
}

int store_put_holder(store *s, const jz_id *wallet, const uint8_t *sealed, size_t len)
{
    sqlite3_stmt *st = s->stmts[ST_PUT_HOLDER];
    bind_id(st, 1, wallet);
    sqlite3_bind_blob(st, 2, sealed, (int)len, SQLITE_TRANSIENT);
    return run(st);
}

int64_t store_next_institution(store *s)
{
    sqlite3_stmt *st = s->stmts[ST_COUNT_TREASURIES];
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return n;
}

int store_update_wallet(store *s, const jz_id *id, uint8_t tier, uint8_t status)
{
    if (tier) {
        bind_id(s->stmts[ST_UPDATE_WALLET_TIER], 1, id);
        sqlite3_bind_int(s->stmts[ST_UPDATE_WALLET_TIER], 2, tier);
        if (run(s->stmts[ST_UPDATE_WALLET_TIER]) != 0) {
            return -1;
        }
    }
    if (status) {
        bind_id(s->stmts[ST_UPDATE_WALLET_STATUS], 1, id);
        sqlite3_bind_int(s->stmts[ST_UPDATE_WALLET_STATUS], 2, status);
        return run(s->stmts[ST_UPDATE_WALLET_STATUS]);
    }
    return 0;
}

int store_put_hold(store *s, const jz_id *id, const jz_id *debit, const jz_id *credit,
                   int64_t amount, int64_t deadline, int64_t created_at)
{
    sqlite3_stmt *st = s->stmts[ST_PUT_HOLD];
    bind_id(st, 1, id);
    bind_id(st, 2, debit);
    bind_id(st, 3, credit);
    sqlite3_bind_int64(st, 4, amount);
    sqlite3_bind_int64(st, 5, deadline);
    sqlite3_bind_int64(st, 6, created_at);
    return run(st);
}

static void column_id(sqlite3_stmt *st, int col, jz_id *out)
{
    memset(out, 0, sizeof *out);
    if (sqlite3_column_bytes(st, col) == (int)sizeof out->b) {
        memcpy(out->b, sqlite3_column_blob(st, col), sizeof out->b);
    }
}

int store_get_hold(store *s, const jz_id *id, jz_id *debit, jz_id *credit, int64_t *amount)
{
    sqlite3_stmt *st = s->stmts[ST_GET_HOLD];
    bind_id(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        column_id(st, 0, debit);
        column_id(st, 1, credit);
        *amount = sqlite3_column_int64(st, 2);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int store_resolve_hold(store *s, const jz_id *id, uint8_t status, int64_t captured)
{
    sqlite3_stmt *st = s->stmts[ST_RESOLVE_HOLD];
    bind_id(st, 1, id);
    sqlite3_bind_int(st, 2, status);
    sqlite3_bind_int64(st, 3, captured);
    return run(st);
}

/* ---- Reading ---- */

static struct reader *reader_take(store *s)
{
    pthread_mutex_lock(&s->next_mu);
    unsigned first = s->next_reader++;
    pthread_mutex_unlock(&s->next_mu);
    for (unsigned i = 0; i < READERS; i++) {
        struct reader *r = &s->readers[(first + i) % READERS];
        if (pthread_mutex_trylock(&r->mu) == 0) {
            return r;
        }
    }
    struct reader *r = &s->readers[first % READERS];
    pthread_mutex_lock(&r->mu);
    return r;
}

static void row_transfer(sqlite3_stmt *st, struct store_transfer *t)
{
    memset(t, 0, sizeof *t);
    column_id(st, 0, &t->id);
    column_id(st, 1, &t->debit);
    column_id(st, 2, &t->credit);
    t->amount = sqlite3_column_int64(st, 3);
    t->kind = (uint8_t)sqlite3_column_int(st, 4);
    const unsigned char *ref = sqlite3_column_text(st, 5);
    const unsigned char *memo = sqlite3_column_text(st, 6);
    snprintf(t->ref, sizeof t->ref, "%s", ref ? (const char *)ref : "");
    snprintf(t->memo, sizeof t->memo, "%s", memo ? (const char *)memo : "");
    t->timestamp = sqlite3_column_int64(st, 7);
    t->pos = (uint64_t)sqlite3_column_int64(st, 8);
}

int store_get_transfer(store *s, const jz_id *id, struct store_transfer *out)
{
    struct reader *r = reader_take(s);
    bind_id(r->get_transfer, 1, id);
    int rc = sqlite3_step(r->get_transfer);
    if (rc == SQLITE_ROW) {
        row_transfer(r->get_transfer, out);
    }
    sqlite3_reset(r->get_transfer);
    sqlite3_clear_bindings(r->get_transfer);
    pthread_mutex_unlock(&r->mu);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int store_wallet_history(store *s, const jz_id *wallet, uint64_t before, uint32_t limit,
                         struct store_transfer *out, uint32_t *count, uint64_t *next)
{
    struct reader *r = reader_take(s);
    sqlite3_stmt *st = r->history;
    bind_id(st, 1, wallet);
    sqlite3_bind_int64(st, 2, before ? (sqlite3_int64)before : INT64_MAX);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)limit + 1); /* one more: is there a next page? */
    uint32_t n = 0;
    int rc;
    *next = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit) {
            *next = out[n - 1].pos;
            break;
        }
        row_transfer(st, &out[n++]);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    pthread_mutex_unlock(&r->mu);
    *count = n;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int digest_table(sqlite3 *db, const char *sql, crypto_sm3_ctx *ctx)
{
    sqlite3_stmt *st = NULL;
    if (prepare(db, sql, &st) != 0) {
        return -1;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const void *p = sqlite3_column_blob(st, c);
            int n = sqlite3_column_bytes(st, c);
            uint8_t type = (uint8_t)sqlite3_column_type(st, c);
            crypto_sm3_update(ctx, &type, 1);
            crypto_sm3_update(ctx, &n, sizeof n);
            if (n > 0) {
                crypto_sm3_update(ctx, p, (size_t)n);
            }
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_digest(store *s, uint8_t out[32])
{
    static const char *const tables[] = {
        "SELECT * FROM transfers ORDER BY pos",
        "SELECT * FROM wallet_transfers ORDER BY wallet, pos",
        "SELECT * FROM wallets ORDER BY id",
        "SELECT * FROM holds ORDER BY id",
        "SELECT * FROM holders ORDER BY wallet",
        "SELECT * FROM meta ORDER BY key",
    };
    crypto_sm3_ctx *ctx = crypto_sm3_new();
    int rc = ctx ? crypto_sm3_init(ctx) : -1;
    for (size_t i = 0; rc == 0 && i < JZ_ARRAY_LEN(tables); i++) {
        rc = digest_table(s->db, tables[i], ctx);
    }
    if (rc == 0) {
        rc = crypto_sm3_final(ctx, out);
    }
    crypto_sm3_free(ctx);
    return rc;
}
