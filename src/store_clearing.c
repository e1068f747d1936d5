/*
 * store_clearing.c: DIR/clearing.db on SQLite (see store_clearing.h).
 */
#include "store_clearing.h"

#include <sqlite3.h>

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('schema_version', 1);"
    "CREATE TABLE IF NOT EXISTS institutions(idx INTEGER PRIMARY KEY, id TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS wallets(id BLOB PRIMARY KEY, inst INTEGER NOT NULL,"
    " kind INTEGER NOT NULL, mcc INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS holds(id BLOB PRIMARY KEY, debit BLOB NOT NULL,"
    " credit BLOB NOT NULL, from_inst INTEGER NOT NULL, to_inst INTEGER NOT NULL,"
    " mcc INTEGER NOT NULL, amount INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS docs(kind TEXT NOT NULL, key TEXT NOT NULL, body BLOB NOT NULL,"
    " sig BLOB, PRIMARY KEY(kind, key)) WITHOUT ROWID;";

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_GET_INT,
    ST_SET_INT,
    ST_PUT_INST,
    ST_PUT_WALLET,
    ST_PUT_HOLD,
    ST_LOAD_INST,
    ST_LOAD_WALLETS,
    ST_LOAD_HOLDS,
    ST_PUT_DOC,
    ST_GET_DOC,
    ST_LIST_DOCS,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_GET_INT] = "SELECT value FROM meta WHERE key=?1",
    [ST_SET_INT] = "INSERT OR REPLACE INTO meta VALUES(?1,?2)",
    [ST_PUT_INST] = "INSERT OR IGNORE INTO institutions VALUES(?1,?2)",
    [ST_PUT_WALLET] = "INSERT OR IGNORE INTO wallets VALUES(?1,?2,?3,?4)",
    [ST_PUT_HOLD] = "INSERT OR IGNORE INTO holds VALUES(?1,?2,?3,?4,?5,?6,?7)",
    [ST_LOAD_INST] = "SELECT idx, id FROM institutions ORDER BY idx",
    [ST_LOAD_WALLETS] = "SELECT id, inst, kind, mcc FROM wallets",
    [ST_LOAD_HOLDS] = "SELECT id, debit, credit, from_inst, to_inst, mcc, amount FROM holds",
    [ST_PUT_DOC] = "INSERT OR REPLACE INTO docs VALUES(?1,?2,?3,?4)",
    [ST_GET_DOC] = "SELECT body, sig FROM docs WHERE kind=?1 AND key=?2",
    /* Keys are ASCII: prefix || x'7f' bounds the keys that start with prefix. */
    [ST_LIST_DOCS] = "SELECT key, body FROM docs WHERE kind=?1 AND key>=?2 AND key<?3"
                     " ORDER BY key DESC LIMIT ?4",
};

struct store_clearing {
    sqlite3 *db;
    sqlite3_stmt *stmts[ST_COUNT];
};

void store_clearing_close(store_clearing *s)
{
    if (!s) {
        return;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(s->stmts[i]);
    }
    sqlite3_close(s->db);
    free(s);
}

int store_clearing_open(const char *path, store_clearing **out, char *err, size_t err_len)
{
    store_clearing *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, err_len, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        store_clearing_close(s);
        return -1;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if (sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, err_len, "%s: %s", path, sqlite3_errmsg(s->db));
        store_clearing_close(s);
        return -1;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, err_len, "%s: %s", path, sqlite3_errmsg(s->db));
            store_clearing_close(s);
            return -1;
        }
    }
    *out = s;
    return 0;
}

/* Runs a statement with no rows to read; resets it. */
static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_clearing_begin(store_clearing *s)
{
    return step_done(s->stmts[ST_BEGIN]);
}

int store_clearing_commit(store_clearing *s)
{
    return step_done(s->stmts[ST_COMMIT]);
}

void store_clearing_rollback(store_clearing *s)
{
    (void)step_done(s->stmts[ST_ROLLBACK]);
}

int store_clearing_get_int(store_clearing *s, const char *key, int64_t *out)
{
    sqlite3_stmt *st = s->stmts[ST_GET_INT];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int result = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (result == 0) {
        *out = sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return result;
}

int store_clearing_set_int(store_clearing *s, const char *key, int64_t v)
{
    sqlite3_stmt *st = s->stmts[ST_SET_INT];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v);
    return step_done(st);
}

int store_clearing_put_institution(store_clearing *s, uint32_t index, const char *id)
{
    sqlite3_stmt *st = s->stmts[ST_PUT_INST];
    sqlite3_bind_int64(st, 1, index);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    return step_done(st);
}

int store_clearing_put_wallet(store_clearing *s, const jz_id *id, uint16_t inst, uint8_t kind,
                              uint16_t mcc)
{
    sqlite3_stmt *st = s->stmts[ST_PUT_WALLET];
    sqlite3_bind_blob(st, 1, id->b, 16, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, inst);
    sqlite3_bind_int(st, 3, kind);
    sqlite3_bind_int(st, 4, mcc);
    return step_done(st);
}

int store_clearing_put_hold(store_clearing *s, const struct store_clearing_hold *h)
{
    sqlite3_stmt *st = s->stmts[ST_PUT_HOLD];
    sqlite3_bind_blob(st, 1, h->id.b, 16, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, h->debit.b, 16, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, h->credit.b, 16, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, h->from);
    sqlite3_bind_int(st, 5, h->to);
    sqlite3_bind_int(st, 6, h->mcc);
    sqlite3_bind_int64(st, 7, h->amount);
    return step_done(st);
}

/* A 16-byte id column, or -1 when the stored value is not one. */
static int column_id(sqlite3_stmt *st, int col, jz_id *out)
{
    if (sqlite3_column_bytes(st, col) != 16) {
        return -1;
    }
    memcpy(out->b, sqlite3_column_blob(st, col), 16);
    return 0;
}

/* Steps a loading statement to its end, calling row(ctx, st) per row. */
static int load_rows(sqlite3_stmt *st,
                     int (*row)(const struct store_clearing_loader *l, sqlite3_stmt *st),
                     const struct store_clearing_loader *l)
{
    int rc = SQLITE_DONE;
    int stop = 0;
    while (stop == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        stop = row(l, st);
    }
    sqlite3_reset(st);
    return stop != 0 ? stop : rc == SQLITE_DONE ? 0 : -1;
}

static int row_institution(const struct store_clearing_loader *l, sqlite3_stmt *st)
{
    const char *id = (const char *)sqlite3_column_text(st, 1);
    return l->institution(l->ctx, (uint32_t)sqlite3_column_int64(st, 0), id ? id : "");
}

static int row_wallet(const struct store_clearing_loader *l, sqlite3_stmt *st)
{
    jz_id id;
    if (column_id(st, 0, &id) != 0) {
        return -1;
    }
    return l->wallet(l->ctx, &id, (uint16_t)sqlite3_column_int(st, 1),
                     (uint8_t)sqlite3_column_int(st, 2), (uint16_t)sqlite3_column_int(st, 3));
}

static int row_hold(const struct store_clearing_loader *l, sqlite3_stmt *st)
{
    struct store_clearing_hold h;
    if (column_id(st, 0, &h.id) != 0 || column_id(st, 1, &h.debit) != 0 ||
        column_id(st, 2, &h.credit) != 0) {
        return -1;
    }
    h.from = (uint16_t)sqlite3_column_int(st, 3);
    h.to = (uint16_t)sqlite3_column_int(st, 4);
    h.mcc = (uint16_t)sqlite3_column_int(st, 5);
    h.amount = sqlite3_column_int64(st, 6);
    return l->hold(l->ctx, &h);
}

int store_clearing_load(store_clearing *s, const struct store_clearing_loader *l)
{
    int rc = 0;
    if (l->institution) {
        rc = load_rows(s->stmts[ST_LOAD_INST], row_institution, l);
    }
    if (rc == 0 && l->wallet) {
        rc = load_rows(s->stmts[ST_LOAD_WALLETS], row_wallet, l);
    }
    if (rc == 0 && l->hold) {
        rc = load_rows(s->stmts[ST_LOAD_HOLDS], row_hold, l);
    }
    return rc;
}

int store_clearing_put_doc(store_clearing *s, const char *kind, const char *key, const void *body,
                           size_t len, const void *sig, size_t sig_len)
{
    sqlite3_stmt *st = s->stmts[ST_PUT_DOC];
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(st, 3, len ? body : "", len, SQLITE_STATIC);
    if (sig) {
        sqlite3_bind_blob64(st, 4, sig, sig_len, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, 4);
    }
    return step_done(st);
}

/* A malloc'd, NUL-terminated copy of a blob column. */
static void *column_copy(sqlite3_stmt *st, int col, size_t *len)
{
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    const void *p = sqlite3_column_blob(st, col);
    char *copy = malloc(n + 1);
    if (copy) {
        memcpy(copy, n ? p : "", n);
        copy[n] = '\0';
        *len = n;
    }
    return copy;
}

int store_clearing_get_doc(store_clearing *s, const char *kind, const char *key, char **body,
                           size_t *len, uint8_t **sig, size_t *sig_len)
{
    sqlite3_stmt *st = s->stmts[ST_GET_DOC];
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int result = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (result == 0) {
        size_t n = 0;
        *body = column_copy(st, 0, &n);
        if (len) {
            *len = n;
        }
        if (sig) {
            *sig = NULL;
            *sig_len = 0;
            if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
                *sig = column_copy(st, 1, sig_len);
            }
        }
        if (!*body || (sig && sqlite3_column_type(st, 1) != SQLITE_NULL && !*sig)) {
            free(*body);
            result = -1;
        }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return result;
}

int store_clearing_list_docs(store_clearing *s, const char *kind, const char *prefix,
                             const char *before, uint32_t limit, store_clearing_doc_fn fn,
                             void *ctx)
{
    char upper[256];
    snprintf(upper, sizeof upper, "%s\x7f", prefix);
    if (before && strcmp(before, upper) < 0) {
        snprintf(upper, sizeof upper, "%s", before);
    }
    sqlite3_stmt *st = s->stmts[ST_LIST_DOCS];
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, upper, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, limit);
    int rc = SQLITE_DONE;
    int stop = 0;
    while (stop == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const char *body = (const char *)sqlite3_column_text(st, 1);
        stop = fn(ctx, key ? key : "", body ? body : "", (size_t)sqlite3_column_bytes(st, 1));
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return stop != 0 ? stop : rc == SQLITE_DONE ? 0 : -1;
}
