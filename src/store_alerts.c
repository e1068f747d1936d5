/*
 * store_alerts.c: DIR/alerts.db on SQLite (see store_alerts.h).
 *
 * Statements are prepared on first use and kept per connection (a small cache keyed by
 * the SQL text's address). Values are bound from a format string: i int64, b id, t text
 * (NULL binds NULL), e evidence (count then array).
 */
#include "store_alerts.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>

#include "ledger.h"

#define CACHED 24

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('monitored_seq', 0);"
    "INSERT OR IGNORE INTO meta VALUES('schema_version', 1);"
    "CREATE TABLE IF NOT EXISTS alerts(n INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE,"
    " kind INTEGER NOT NULL, severity INTEGER NOT NULL, status INTEGER NOT NULL,"
    " subject BLOB NOT NULL, operator INTEGER NOT NULL, raised_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL, closed_at INTEGER NOT NULL, closed_day INTEGER,"
    " seq INTEGER NOT NULL, evidence BLOB, params TEXT NOT NULL, assignee TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS alerts_by_status ON alerts(status, n);"
    "CREATE INDEX IF NOT EXISTS alerts_by_closed_day ON alerts(closed_day, status);"
    "CREATE TABLE IF NOT EXISTS alert_events(seq INTEGER NOT NULL, idx INTEGER NOT NULL,"
    " alert BLOB NOT NULL, at INTEGER NOT NULL, actor INTEGER NOT NULL,"
    " status INTEGER NOT NULL, applied INTEGER NOT NULL, assignee TEXT NOT NULL,"
    " note TEXT NOT NULL, PRIMARY KEY(seq, idx)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS alert_events_by_alert ON alert_events(alert, seq, idx);"
    "CREATE TABLE IF NOT EXISTS large_value(day INTEGER NOT NULL, holder BLOB NOT NULL,"
    " operator INTEGER NOT NULL, in_fen INTEGER NOT NULL, out_fen INTEGER NOT NULL,"
    " in_count INTEGER NOT NULL, out_count INTEGER NOT NULL, last_at INTEGER NOT NULL,"
    " PRIMARY KEY(day, holder)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS disclosures(id BLOB PRIMARY KEY, wallet BLOB NOT NULL,"
    " requester INTEGER NOT NULL, approver INTEGER NOT NULL, status INTEGER NOT NULL,"
    " legal_basis TEXT NOT NULL, requested_at INTEGER NOT NULL, approved_at INTEGER NOT NULL,"
    " reveals INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS reports(day INTEGER PRIMARY KEY, written_at INTEGER NOT NULL);";

struct conn {
    pthread_mutex_t mu;
    sqlite3 *db;
    const char *sql[CACHED];
    sqlite3_stmt *st[CACHED];
};

struct alert_store {
    struct conn w; /* the writer */
    struct conn r; /* readers */
};

static int conn_open(struct conn *c, const char *path, char *err, size_t err_len)
{
    pthread_mutex_init(&c->mu, NULL);
    int rc = sqlite3_open_v2(path, &c->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, err_len, "%s: %s", path, c->db ? sqlite3_errmsg(c->db) : "cannot open");
        return -1;
    }
    sqlite3_busy_timeout(c->db, 5000);
    return 0;
}

static void conn_close(struct conn *c)
{
    for (int i = 0; i < CACHED; i++) {
        sqlite3_finalize(c->st[i]);
    }
    sqlite3_close(c->db);
    pthread_mutex_destroy(&c->mu);
}

/* The prepared statement for sql (a string literal), reset and ready to bind. */
static sqlite3_stmt *stmt(struct conn *c, const char *sql)
{
    int i = 0;
    while (i < CACHED && c->sql[i] && c->sql[i] != sql) {
        i++;
    }
    ASSERT(i < CACHED); /* more statements than the cache holds: raise CACHED */
    if (!c->sql[i]) {
        if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->st[i], NULL) !=
            SQLITE_OK) {
            return NULL;
        }
        c->sql[i] = sql;
    }
    sqlite3_reset(c->st[i]);
    sqlite3_clear_bindings(c->st[i]);
    return c->st[i];
}

/* Prepares sql and binds the values described by fmt. */
static sqlite3_stmt *bindv(struct conn *c, const char *sql, const char *fmt, va_list ap)
{
    sqlite3_stmt *st = stmt(c, sql);
    for (int k = 1; st && *fmt; fmt++, k++) {
        switch (*fmt) {
        case 'i':
            sqlite3_bind_int64(st, k, va_arg(ap, int64_t));
            break;
        case 'b': {
            const jz_id *id = va_arg(ap, const jz_id *);
            sqlite3_bind_blob(st, k, id->b, sizeof id->b, SQLITE_TRANSIENT);
            break;
        }
        case 't': {
            const char *t = va_arg(ap, const char *);
            if (t) {
                sqlite3_bind_text(st, k, t, -1, SQLITE_TRANSIENT);
            }
            break;
        }
        default: { /* 'e': evidence */
            uint32_t n = va_arg(ap, uint32_t);
            const jz_id *ids = va_arg(ap, const jz_id *);
            sqlite3_bind_blob(st, k, ids, (int)(n * sizeof *ids), SQLITE_TRANSIENT);
            break;
        }
        }
    }
    return st;
}

static int execv(struct conn *c, const char *sql, const char *fmt, va_list ap)
{
    sqlite3_stmt *st = bindv(c, sql, fmt, ap);
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    if (st) {
        sqlite3_reset(st);
    }
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* Runs a statement that returns no rows. 0 or -1. */
static int exec(struct conn *c, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = execv(c, sql, fmt, ap);
    va_end(ap);
    return rc;
}

/* The same on the writer's connection, under its mutex. */
static int write_locked(alert_store *s, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&s->w.mu);
    int rc = execv(&s->w, sql, fmt, ap);
    pthread_mutex_unlock(&s->w.mu);
    va_end(ap);
    return rc;
}

/* Starts a query; step it with sqlite3_step, then sqlite3_reset. */
static sqlite3_stmt *query(struct conn *c, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *st = bindv(c, sql, fmt, ap);
    va_end(ap);
    return st;
}

static void col_id(sqlite3_stmt *st, int col, jz_id *out)
{
    memset(out, 0, sizeof *out);
    if (sqlite3_column_bytes(st, col) == (int)sizeof out->b) {
        memcpy(out->b, sqlite3_column_blob(st, col), sizeof out->b);
    }
}

static void col_text(sqlite3_stmt *st, int col, char *out, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, n, "%s", t ? (const char *)t : "");
}

int alert_store_open(const char *path, alert_store **out, char *err, size_t err_len)
{
    alert_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    char *msg = NULL;
    if (conn_open(&s->w, path, err, err_len) != 0 || conn_open(&s->r, path, err, err_len) != 0) {
        alert_store_close(s);
        return -1;
    }
    if (sqlite3_exec(s->w.db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, err_len, "%s: %s", path, msg ? msg : "schema");
        sqlite3_free(msg);
        alert_store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void alert_store_close(alert_store *s)
{
    if (!s) {
        return;
    }
    conn_close(&s->w);
    conn_close(&s->r);
    free(s);
}

uint64_t alert_store_seq(alert_store *s)
{
    pthread_mutex_lock(&s->w.mu);
    sqlite3_stmt *st = query(&s->w, "SELECT value FROM meta WHERE key='monitored_seq'", "");
    uint64_t seq = st && sqlite3_step(st) == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
    if (st) {
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&s->w.mu);
    return seq;
}

/* ---- Writing ---- */

int alert_store_begin(alert_store *s)
{
    return write_locked(s, "BEGIN", "");
}

int alert_store_end(alert_store *s, bool commit, uint64_t monitored_seq)
{
    if (!commit) {
        return write_locked(s, "ROLLBACK", "");
    }
    pthread_mutex_lock(&s->w.mu);
    int rc = exec(&s->w, "UPDATE meta SET value=?1 WHERE key='monitored_seq'", "i",
                  (int64_t)monitored_seq);
    rc = rc == 0 ? exec(&s->w, "COMMIT", "") : -1;
    pthread_mutex_unlock(&s->w.mu);
    return rc;
}

int alert_store_put(alert_store *s, const struct alert_row *a)
{
    pthread_mutex_lock(&s->w.mu);
    int rc = exec(&s->w,
                  "INSERT OR IGNORE INTO alerts(id, kind, severity, status, subject, operator,"
                  " raised_at, updated_at, closed_at, seq, evidence, params, assignee)"
                  " VALUES(?1,?2,?3,1,?4,?5,?6,?6,0,?7,?8,?9,'')",
                  "biibiiiet", &a->id, (int64_t)a->kind, (int64_t)a->severity, &a->subject,
                  (int64_t)a->operator_index, a->raised_at, (int64_t)a->seq, a->nevidence,
                  a->evidence, a->params);
    int stored = rc == 0 ? sqlite3_changes(s->w.db) > 0 : -1;
    pthread_mutex_unlock(&s->w.mu);
    return stored;
}

int alert_store_change(alert_store *s, const jz_id *alert, const struct alert_event_row *e)
{
    pthread_mutex_lock(&s->w.mu);
    sqlite3_stmt *st = query(&s->w, "SELECT status FROM alerts WHERE id=?1", "b", alert);
    int cur = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    if (st) {
        sqlite3_reset(st);
    }
    bool closed = cur == ALERT_CLOSED_SUSPICIOUS || cur == ALERT_CLOSED_OK;
    bool applied = cur != 0 && !closed &&
                   (e->status == 0 || e->status == cur || alert_transition_ok(cur, e->status));
    int rc = exec(&s->w,
                  "INSERT OR IGNORE INTO alert_events VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                  "iibiiiitt", (int64_t)e->seq, (int64_t)e->idx, alert, e->at, (int64_t)e->actor,
                  (int64_t)e->status, (int64_t)applied, e->assignee, e->note);
    if (rc == 0 && applied && sqlite3_changes(s->w.db) > 0) {
        int to = e->status ? e->status : cur;
        bool closing = to == ALERT_CLOSED_SUSPICIOUS || to == ALERT_CLOSED_OK;
        rc = exec(&s->w,
                  "UPDATE alerts SET status=?2, updated_at=?3,"
                  " assignee=CASE WHEN ?4 = '' THEN assignee ELSE ?4 END,"
                  " closed_at=?5, closed_day=?6 WHERE id=?1",
                  "biitii", alert, (int64_t)to, e->at, e->assignee, closing ? e->at : 0,
                  closing ? (int64_t)ledger_day_of(e->at) : (int64_t)-1);
    }
    pthread_mutex_unlock(&s->w.mu);
    return rc;
}

int alert_store_put_large_value(alert_store *s, const struct large_value_row *r)
{
    return write_locked(s,
                 "INSERT INTO large_value VALUES(?1,?2,?3,?4,?5,?6,?7,?8)"
                 " ON CONFLICT(day, holder) DO UPDATE SET in_fen=?4, out_fen=?5,"
                 " in_count=?6, out_count=?7, last_at=?8",
                 "ibiiiiii", (int64_t)r->day, &r->holder, (int64_t)r->operator_index, r->in_fen,
                 r->out_fen, (int64_t)r->in_count, (int64_t)r->out_count, r->last_at);
}

int alert_store_put_disclosure(alert_store *s, const struct disclosure_row *d)
{
    return write_locked(s, "INSERT OR IGNORE INTO disclosures VALUES(?1,?2,?3,-1,1,?4,?5,0,0)",
                 "bbiti", &d->id, &d->wallet, (int64_t)d->requester, d->legal_basis,
                 d->requested_at);
}

int alert_store_approve_disclosure(alert_store *s, const jz_id *id, int32_t approver, int64_t at)
{
    return write_locked(s,
                 "UPDATE disclosures SET status=2, approver=?2, approved_at=?3"
                 " WHERE id=?1 AND status=1", "bii", id, (int64_t)approver, at);
}

int alert_store_count_reveal(alert_store *s, const jz_id *id)
{
    return write_locked(s, "UPDATE disclosures SET reveals=reveals+1 WHERE id=?1", "b", id);
}

int alert_store_report_written(alert_store *s, int32_t day)
{
    pthread_mutex_lock(&s->w.mu);
    sqlite3_stmt *st = query(&s->w, "SELECT 1 FROM reports WHERE day=?1", "i", (int64_t)day);
    int rc = !st ? -1 : sqlite3_step(st) == SQLITE_ROW ? 1 : 0;
    if (st) {
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&s->w.mu);
    return rc;
}

int alert_store_mark_report(alert_store *s, int32_t day, int64_t at)
{
    return write_locked(s, "INSERT OR REPLACE INTO reports VALUES(?1,?2)", "ii", (int64_t)day, at);
}

/* ---- Reading ---- */

#define ALERT_COLUMNS                                                                   \
    "n, id, kind, severity, status, subject, operator, raised_at, updated_at, closed_at," \
    " seq, evidence, params, assignee"

static void row_alert(sqlite3_stmt *st, struct alert_row *a)
{
    memset(a, 0, sizeof *a);
    a->n = (uint64_t)sqlite3_column_int64(st, 0);
    col_id(st, 1, &a->id);
    a->kind = (uint8_t)sqlite3_column_int(st, 2);
    a->severity = (uint8_t)sqlite3_column_int(st, 3);
    a->status = (uint8_t)sqlite3_column_int(st, 4);
    col_id(st, 5, &a->subject);
    a->operator_index = sqlite3_column_int(st, 6);
    a->raised_at = sqlite3_column_int64(st, 7);
    a->updated_at = sqlite3_column_int64(st, 8);
    a->closed_at = sqlite3_column_int64(st, 9);
    a->seq = (uint64_t)sqlite3_column_int64(st, 10);
    int bytes = sqlite3_column_bytes(st, 11);
    a->nevidence = (uint32_t)bytes / sizeof(jz_id);
    if (a->nevidence > ALERT_EVIDENCE_MAX) {
        a->nevidence = ALERT_EVIDENCE_MAX;
    }
    if (a->nevidence) {
        memcpy(a->evidence, sqlite3_column_blob(st, 11), a->nevidence * sizeof(jz_id));
    }
    col_text(st, 12, a->params, sizeof a->params);
    col_text(st, 13, a->assignee, sizeof a->assignee);
}

static int get_events(alert_store *s, const jz_id *id, struct alert_event_row *ev, uint32_t max,
                      uint32_t *nev)
{
    sqlite3_stmt *st = query(&s->r,
                             "SELECT seq, idx, at, actor, status, applied, assignee, note"
                             " FROM alert_events WHERE alert=?1 ORDER BY seq, idx", "b", id);
    int rc = 0;
    *nev = 0;
    while (st && *nev < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct alert_event_row *e = &ev[(*nev)++];
        e->seq = (uint64_t)sqlite3_column_int64(st, 0);
        e->idx = (uint32_t)sqlite3_column_int(st, 1);
        e->at = sqlite3_column_int64(st, 2);
        e->actor = sqlite3_column_int(st, 3);
        e->status = (uint8_t)sqlite3_column_int(st, 4);
        e->applied = sqlite3_column_int(st, 5) != 0;
        col_text(st, 6, e->assignee, sizeof e->assignee);
        col_text(st, 7, e->note, sizeof e->note);
    }
    if (st) {
        sqlite3_reset(st);
    }
    return st && (rc == SQLITE_ROW || rc == SQLITE_DONE || rc == 0) ? 0 : -1;
}

int alert_store_get(alert_store *s, const jz_id *id, struct alert_row *out,
                    struct alert_event_row *ev, uint32_t max, uint32_t *nev)
{
    pthread_mutex_lock(&s->r.mu);
    sqlite3_stmt *st = query(&s->r, "SELECT " ALERT_COLUMNS " FROM alerts WHERE id=?1", "b", id);
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    if (rc == SQLITE_ROW) {
        row_alert(st, out);
    }
    if (st) {
        sqlite3_reset(st);
    }
    int result = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (result == 0 && get_events(s, id, ev, max, nev) != 0) {
        result = -1;
    }
    pthread_mutex_unlock(&s->r.mu);
    return result;
}

int alert_store_list(alert_store *s, uint8_t status, int32_t operator_index, uint64_t before,
                     uint32_t limit, struct alert_row *out, uint32_t *count, uint64_t *next)
{
    pthread_mutex_lock(&s->r.mu);
    sqlite3_stmt *st = query(&s->r,
                             "SELECT " ALERT_COLUMNS " FROM alerts WHERE n < ?1"
                             " AND (?2 = 0 OR status = ?2) AND (?3 < 0 OR operator = ?3)"
                             " ORDER BY n DESC LIMIT ?4",
                             "iiii", before ? (int64_t)before : INT64_MAX, (int64_t)status,
                             (int64_t)operator_index, (int64_t)limit + 1);
    uint32_t n = 0;
    int rc = SQLITE_ERROR;
    *next = 0;
    while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit) {
            *next = out[n - 1].n;
            break;
        }
        row_alert(st, &out[n++]);
    }
    if (st) {
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&s->r.mu);
    *count = n;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int alert_store_large_values(alert_store *s, int32_t day, struct large_value_row *out,
                             uint32_t max)
{
    pthread_mutex_lock(&s->r.mu);
    sqlite3_stmt *st = query(&s->r,
                             "SELECT day, holder, operator, in_fen, out_fen, in_count, out_count,"
                             " last_at FROM large_value WHERE day=?1 ORDER BY holder",
                             "i", (int64_t)day);
    int n = 0;
    int rc = SQLITE_ERROR;
    while (st && (uint32_t)n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct large_value_row *r = &out[n++];
        r->day = sqlite3_column_int(st, 0);
        col_id(st, 1, &r->holder);
        r->operator_index = sqlite3_column_int(st, 2);
        r->in_fen = sqlite3_column_int64(st, 3);
        r->out_fen = sqlite3_column_int64(st, 4);
        r->in_count = (uint32_t)sqlite3_column_int64(st, 5);
        r->out_count = (uint32_t)sqlite3_column_int64(st, 6);
        r->last_at = sqlite3_column_int64(st, 7);
    }
    if (st) {
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&s->r.mu);
    return rc == SQLITE_ROW || rc == SQLITE_DONE || (st && (uint32_t)n == max) ? n : -1;
}

int alert_store_suspicious(alert_store *s, int32_t day, struct alert_row *out, uint32_t max)
{
    pthread_mutex_lock(&s->r.mu);
    sqlite3_stmt *st = query(&s->r,
                             "SELECT " ALERT_COLUMNS " FROM alerts WHERE closed_day=?1"
                             " AND status=3 ORDER BY closed_at, n", "i", (int64_t)day);
    int n = 0;
    int rc = SQLITE_ERROR;
    while (st && (uint32_t)n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        row_alert(st, &out[n++]);
    }
    if (st) {
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&s->r.mu);
    return rc == SQLITE_ROW || rc == SQLITE_DONE || (st && (uint32_t)n == max) ? n : -1;
}

int alert_store_get_disclosure(alert_store *s, const jz_id *id, struct disclosure_row *out)
{
    pthread_mutex_lock(&s->r.mu);
    sqlite3_stmt *st = query(&s->r,
                             "SELECT id, wallet, requester, approver, status, legal_basis,"
                             " requested_at, approved_at, reveals FROM disclosures WHERE id=?1",
                             "b", id);
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        col_id(st, 0, &out->id);
        col_id(st, 1, &out->wallet);
        out->requester = sqlite3_column_int(st, 2);
        out->approver = sqlite3_column_int(st, 3);
        out->status = (uint8_t)sqlite3_column_int(st, 4);
        col_text(st, 5, out->legal_basis, sizeof out->legal_basis);
        out->requested_at = sqlite3_column_int64(st, 6);
        out->approved_at = sqlite3_column_int64(st, 7);
        out->reveals = (uint32_t)sqlite3_column_int(st, 8);
    }
    if (st) {
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&s->r.mu);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}
