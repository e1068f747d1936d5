/*
 * store_vault.c: the token vault's SQLite database (see store_vault.h).
 */
#include "store_vault.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

/* FULL: a commit is on disk (WAL fsync'd) before the vault answers. The page cache keeps a
 * vault of a few hundred thousand tokens in memory. Deleted tokens keep their row (the token
 * number is never issued again) but lose their mac and sealed record. */
static const char vault_schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "PRAGMA cache_size=-32768;"
    "PRAGMA secure_delete=ON;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('schema_version', 1);"
    "CREATE TABLE IF NOT EXISTS keys(purpose INTEGER NOT NULL, version INTEGER NOT NULL,"
    " wrapped BLOB NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY(purpose, version))"
    " WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS tokens(token TEXT PRIMARY KEY, pan_mac BLOB,"
    " issuer TEXT NOT NULL, wallet BLOB NOT NULL, requestor TEXT NOT NULL,"
    " channel TEXT NOT NULL, last4 TEXT NOT NULL, expiry TEXT NOT NULL,"
    " expires_at INTEGER NOT NULL, status INTEGER NOT NULL, key_version INTEGER NOT NULL,"
    " sealed BLOB, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE UNIQUE INDEX IF NOT EXISTS tokens_card ON tokens(pan_mac, issuer, requestor,"
    " channel) WHERE status <> 3;"
    "CREATE TABLE IF NOT EXISTS alerts(id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,"
    " requestor TEXT NOT NULL, issuers TEXT NOT NULL, count INTEGER NOT NULL,"
    " threshold INTEGER NOT NULL, window_ms INTEGER NOT NULL, first_at INTEGER NOT NULL,"
    " last_at INTEGER NOT NULL, created_at INTEGER NOT NULL);";

#define TOKEN_COLUMNS                                                                     \
    "token, pan_mac, issuer, wallet, requestor, channel, last4, expiry, expires_at, status," \
    " key_version, sealed, created_at, updated_at"

enum vst {
    V_BEGIN,
    V_COMMIT,
    V_ROLLBACK,
    V_KEY_PUT,
    V_KEYS,
    V_KEY_DELETE,
    V_TOKEN_GET,
    V_TOKEN_FIND,
    V_TOKEN_INSERT,
    V_TOKEN_STATUS,
    V_TOKEN_FORGET,
    V_TO_RESEAL,
    V_RESEAL,
    V_COUNT_VERSION,
    V_COUNT_TOKENS,
    V_ALERT_PUT,
    V_ALERTS,
    V_STMTS
};

static const char *const vault_sql[V_STMTS] = {
    [V_BEGIN] = "BEGIN IMMEDIATE",
    [V_COMMIT] = "COMMIT",
    [V_ROLLBACK] = "ROLLBACK",
    [V_KEY_PUT] = "INSERT INTO keys VALUES(?1,?2,?3,?4)",
    [V_KEYS] = "SELECT purpose, version, wrapped, created_at FROM keys ORDER BY purpose, version",
    [V_KEY_DELETE] = "DELETE FROM keys WHERE purpose=?1 AND version=?2",
    [V_TOKEN_GET] = "SELECT " TOKEN_COLUMNS " FROM tokens WHERE token=?1",
    [V_TOKEN_FIND] = "SELECT " TOKEN_COLUMNS " FROM tokens WHERE pan_mac=?1 AND issuer=?2"
                     " AND requestor=?3 AND channel=?4 AND status<>3",
    [V_TOKEN_INSERT] = "INSERT INTO tokens(" TOKEN_COLUMNS ")"
                       " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)",
    [V_TOKEN_STATUS] = "UPDATE tokens SET status=?2, updated_at=?3 WHERE token=?1",
    [V_TOKEN_FORGET] = "UPDATE tokens SET status=?2, updated_at=?3, pan_mac=NULL, sealed=NULL,"
                       " key_version=0 WHERE token=?1",
    [V_TO_RESEAL] = "SELECT token, key_version, sealed FROM tokens WHERE token>?2"
                    " AND key_version<>0 AND key_version<>?1 ORDER BY token LIMIT ?3",
    [V_RESEAL] = "UPDATE tokens SET key_version=?3, sealed=?4 WHERE token=?1 AND key_version=?2",
    [V_COUNT_VERSION] = "SELECT count(*) FROM tokens WHERE key_version=?1",
    [V_COUNT_TOKENS] = "SELECT count(*) FROM tokens",
    [V_ALERT_PUT] = "INSERT INTO alerts(kind, requestor, issuers, count, threshold, window_ms,"
                    " first_at, last_at, created_at) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
    [V_ALERTS] = "SELECT id, kind, requestor, issuers, count, threshold, window_ms, first_at,"
                 " last_at, created_at FROM alerts WHERE id<?1 ORDER BY id DESC LIMIT ?2",
};

struct vault_store {
    sqlite3 *db;
    sqlite3_stmt *st[V_STMTS];
};

void vault_store_close(vault_store *s)
{
    if (!s) {
        return;
    }
    for (int i = 0; i < V_STMTS; i++) {
        sqlite3_finalize(s->st[i]);
    }
    sqlite3_close(s->db);
    free(s);
}

int vault_store_open(const char *path, vault_store **out, char *err, size_t err_len)
{
    vault_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    /* Created 0600 first: SQLite gives its -wal and -shm files the database's mode. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        close(fd);
    }
    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(s->db, 5000);
        rc = sqlite3_exec(s->db, vault_schema, NULL, NULL, NULL);
    }
    for (int i = 0; rc == SQLITE_OK && i < V_STMTS; i++) {
        rc = sqlite3_prepare_v3(s->db, vault_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                                NULL);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, err_len, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        vault_store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* A statement ready for new bindings. */
static sqlite3_stmt *stmt(vault_store *s, enum vst i)
{
    sqlite3_reset(s->st[i]);
    sqlite3_clear_bindings(s->st[i]);
    return s->st[i];
}

/* Runs a statement that returns no row; SQLITE_DONE or the error. */
static int step_done(sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc;
}

static int exec_simple(vault_store *s, enum vst i)
{
    return step_done(stmt(s, i)) == SQLITE_DONE ? 0 : -1;
}

int vault_store_begin(vault_store *s)
{
    return exec_simple(s, V_BEGIN);
}

int vault_store_commit(vault_store *s)
{
    return exec_simple(s, V_COMMIT);
}

void vault_store_rollback(vault_store *s)
{
    if (!sqlite3_get_autocommit(s->db)) {
        exec_simple(s, V_ROLLBACK);
    }
}

static void bind_text(sqlite3_stmt *q, int col, const char *text)
{
    sqlite3_bind_text(q, col, text, -1, SQLITE_STATIC);
}

/* A row's values for an INSERT, bound as ?1, ?2, ... in order. */
enum bind_kind { B_TEXT, B_BLOB, B_INT };

struct bind {
    enum bind_kind kind;
    const void *p; /* B_TEXT: NUL-terminated; B_BLOB: n bytes */
    int64_t n;     /* B_INT: the value */
};

static void bind_row(sqlite3_stmt *q, const struct bind *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int col = (int)i + 1;
        if (v[i].kind == B_INT) {
            sqlite3_bind_int64(q, col, v[i].n);
        } else if (v[i].kind == B_TEXT) {
            bind_text(q, col, v[i].p);
        } else {
            sqlite3_bind_blob(q, col, v[i].p, (int)v[i].n, SQLITE_STATIC);
        }
    }
}

/* Copies a text column into out (cap bytes with the NUL); "" when NULL or too long. */
static void column_text(sqlite3_stmt *q, int col, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    size_t n = (size_t)sqlite3_column_bytes(q, col);
    out[0] = '\0';
    if (t && n < cap) {
        memcpy(out, t, n);
        out[n] = '\0';
    }
}

/* Copies a blob column into out (cap bytes); returns its length, or 0 when NULL or larger. */
static size_t column_blob(sqlite3_stmt *q, int col, void *out, size_t cap)
{
    const void *b = sqlite3_column_blob(q, col);
    size_t n = (size_t)sqlite3_column_bytes(q, col);
    if (!b || n > cap) {
        return 0;
    }
    memcpy(out, b, n);
    return n;
}

/* Steps q for up to max rows, handing each to fn with its index; *n how many. */
typedef void (*row_fn)(sqlite3_stmt *q, void *out, size_t i);

static int read_rows(sqlite3_stmt *q, row_fn fn, void *out, size_t max, size_t *n)
{
    size_t count = 0;
    int rc = SQLITE_DONE;
    while (count < max && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        fn(q, out, count++);
    }
    sqlite3_reset(q);
    *n = count;
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* ---- keys ---- */

int vault_store_key_put(vault_store *s, const struct vault_key_row *k)
{
    sqlite3_stmt *q = stmt(s, V_KEY_PUT);
    sqlite3_bind_int(q, 1, k->purpose);
    sqlite3_bind_int64(q, 2, k->version);
    sqlite3_bind_blob(q, 3, k->wrapped, (int)k->wrapped_len, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, k->created_at);
    return step_done(q) == SQLITE_DONE ? 0 : -1;
}

int vault_store_keys(vault_store *s, struct vault_key_row *out, size_t cap, size_t *n)
{
    sqlite3_stmt *q = stmt(s, V_KEYS);
    size_t count = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (count < cap) {
            struct vault_key_row *k = &out[count];
            k->purpose = (uint8_t)sqlite3_column_int(q, 0);
            k->version = (uint32_t)sqlite3_column_int64(q, 1);
            k->wrapped_len = column_blob(q, 2, k->wrapped, sizeof k->wrapped);
            k->created_at = sqlite3_column_int64(q, 3);
        }
        count++;
    }
    sqlite3_reset(q);
    *n = count;
    return rc == SQLITE_DONE ? 0 : -1;
}

int vault_store_key_delete(vault_store *s, uint8_t purpose, uint32_t version)
{
    sqlite3_stmt *q = stmt(s, V_KEY_DELETE);
    sqlite3_bind_int(q, 1, purpose);
    sqlite3_bind_int64(q, 2, version);
    return step_done(q) == SQLITE_DONE ? 0 : -1;
}

/* ---- tokens ---- */

static void read_token_row(sqlite3_stmt *q, struct vault_token_row *r)
{
    memset(r, 0, sizeof *r);
    column_text(q, 0, r->token, sizeof r->token);
    r->has_secret = column_blob(q, 1, r->pan_mac, sizeof r->pan_mac) == sizeof r->pan_mac;
    column_text(q, 2, r->issuer, sizeof r->issuer);
    column_blob(q, 3, r->wallet.b, sizeof r->wallet.b);
    column_text(q, 4, r->requestor, sizeof r->requestor);
    column_text(q, 5, r->channel, sizeof r->channel);
    column_text(q, 6, r->last4, sizeof r->last4);
    column_text(q, 7, r->expiry, sizeof r->expiry);
    r->expires_at = sqlite3_column_int64(q, 8);
    r->status = (uint8_t)sqlite3_column_int(q, 9);
    r->key_version = (uint32_t)sqlite3_column_int64(q, 10);
    r->sealed_len = column_blob(q, 11, r->sealed, sizeof r->sealed);
    r->created_at = sqlite3_column_int64(q, 12);
    r->updated_at = sqlite3_column_int64(q, 13);
}

/* Steps a query expected to return at most one token row. */
static int one_token_row(sqlite3_stmt *q, struct vault_token_row *out)
{
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        read_token_row(q, out);
    }
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int vault_store_token_get(vault_store *s, const char *token, struct vault_token_row *out)
{
    sqlite3_stmt *q = stmt(s, V_TOKEN_GET);
    bind_text(q, 1, token);
    return one_token_row(q, out);
}

int vault_store_token_find_card(vault_store *s, const uint8_t mac[CRYPTO_SM3_BYTES],
                                const char *issuer, const char *requestor,
                                const char *channel, struct vault_token_row *out)
{
    sqlite3_stmt *q = stmt(s, V_TOKEN_FIND);
    sqlite3_bind_blob(q, 1, mac, CRYPTO_SM3_BYTES, SQLITE_STATIC);
    bind_text(q, 2, issuer);
    bind_text(q, 3, requestor);
    bind_text(q, 4, channel);
    return one_token_row(q, out);
}

int vault_store_token_insert(vault_store *s, const struct vault_token_row *r)
{
    ASSERT(r->has_secret && r->sealed_len > 0);
    sqlite3_stmt *q = stmt(s, V_TOKEN_INSERT);
    const struct bind v[] = {
        {B_TEXT, r->token, 0},     {B_BLOB, r->pan_mac, sizeof r->pan_mac},
        {B_TEXT, r->issuer, 0},    {B_BLOB, r->wallet.b, sizeof r->wallet.b},
        {B_TEXT, r->requestor, 0}, {B_TEXT, r->channel, 0},
        {B_TEXT, r->last4, 0},     {B_TEXT, r->expiry, 0},
        {B_INT, NULL, r->expires_at}, {B_INT, NULL, r->status},
        {B_INT, NULL, r->key_version}, {B_BLOB, r->sealed, (int64_t)r->sealed_len},
        {B_INT, NULL, r->created_at}, {B_INT, NULL, r->updated_at},
    };
    bind_row(q, v, JZ_ARRAY_LEN(v));
    int rc = step_done(q);
    return rc == SQLITE_DONE ? 0 : (rc & 0xff) == SQLITE_CONSTRAINT ? 1 : -1;
}

int vault_store_token_set_status(vault_store *s, const char *token, uint8_t status,
                                 int64_t updated_at, bool forget)
{
    sqlite3_stmt *q = stmt(s, forget ? V_TOKEN_FORGET : V_TOKEN_STATUS);
    bind_text(q, 1, token);
    sqlite3_bind_int(q, 2, status);
    sqlite3_bind_int64(q, 3, updated_at);
    if (step_done(q) != SQLITE_DONE) {
        return -1;
    }
    return sqlite3_changes(s->db) == 1 ? 0 : 1;
}

static void reseal_row(sqlite3_stmt *q, void *out, size_t i)
{
    struct vault_token_row *r = (struct vault_token_row *)out + i;
    memset(r, 0, sizeof *r);
    column_text(q, 0, r->token, sizeof r->token);
    r->key_version = (uint32_t)sqlite3_column_int64(q, 1);
    r->sealed_len = column_blob(q, 2, r->sealed, sizeof r->sealed);
    r->has_secret = true;
}

int vault_store_tokens_to_reseal(vault_store *s, uint32_t version, const char *after,
                                 struct vault_token_row *rows, size_t max, size_t *n)
{
    sqlite3_stmt *q = stmt(s, V_TO_RESEAL);
    sqlite3_bind_int64(q, 1, version);
    bind_text(q, 2, after);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)max);
    return read_rows(q, reseal_row, rows, max, n);
}

int vault_store_token_reseal(vault_store *s, const char *token, uint32_t old_version,
                             uint32_t new_version, const uint8_t *sealed, size_t len)
{
    sqlite3_stmt *q = stmt(s, V_RESEAL);
    bind_text(q, 1, token);
    sqlite3_bind_int64(q, 2, old_version);
    sqlite3_bind_int64(q, 3, new_version);
    sqlite3_bind_blob(q, 4, sealed, (int)len, SQLITE_STATIC);
    if (step_done(q) != SQLITE_DONE) {
        return -1;
    }
    return sqlite3_changes(s->db) == 1 ? 0 : 1;
}

static int count_query(sqlite3_stmt *q, uint64_t *n)
{
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *n = (uint64_t)sqlite3_column_int64(q, 0);
    }
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 0 : -1;
}

int vault_store_count_version(vault_store *s, uint32_t version, uint64_t *n)
{
    sqlite3_stmt *q = stmt(s, V_COUNT_VERSION);
    sqlite3_bind_int64(q, 1, version);
    return count_query(q, n);
}

int vault_store_count_tokens(vault_store *s, uint64_t *n)
{
    return count_query(stmt(s, V_COUNT_TOKENS), n);
}

/* ---- alerts ---- */

int vault_store_alert_put(vault_store *s, struct vault_alert_row *a)
{
    sqlite3_stmt *q = stmt(s, V_ALERT_PUT);
    const struct bind v[] = {
        {B_TEXT, a->kind, 0}, {B_TEXT, a->requestor, 0}, {B_TEXT, a->issuers, 0},
        {B_INT, NULL, a->count}, {B_INT, NULL, a->threshold}, {B_INT, NULL, a->window_ms},
        {B_INT, NULL, a->first_at}, {B_INT, NULL, a->last_at}, {B_INT, NULL, a->created_at},
    };
    bind_row(q, v, JZ_ARRAY_LEN(v));
    if (step_done(q) != SQLITE_DONE) {
        return -1;
    }
    a->id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

static void alert_row(sqlite3_stmt *q, void *out, size_t i)
{
    struct vault_alert_row *a = (struct vault_alert_row *)out + i;
    memset(a, 0, sizeof *a);
    a->id = sqlite3_column_int64(q, 0);
    column_text(q, 1, a->kind, sizeof a->kind);
    column_text(q, 2, a->requestor, sizeof a->requestor);
    column_text(q, 3, a->issuers, sizeof a->issuers);
    a->count = (uint32_t)sqlite3_column_int64(q, 4);
    a->threshold = (uint32_t)sqlite3_column_int64(q, 5);
    a->window_ms = sqlite3_column_int64(q, 6);
    a->first_at = sqlite3_column_int64(q, 7);
    a->last_at = sqlite3_column_int64(q, 8);
    a->created_at = sqlite3_column_int64(q, 9);
}

int vault_store_alerts(vault_store *s, int64_t before, struct vault_alert_row *out, size_t max,
                       size_t *n)
{
    sqlite3_stmt *q = stmt(s, V_ALERTS);
    sqlite3_bind_int64(q, 1, before > 0 ? before : INT64_MAX);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)max);
    return read_rows(q, alert_row, out, max, n);
}
