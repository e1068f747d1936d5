/*
 * store_cards.c: the card registry in SQLite (see store_cards.h).
 */
#include "store_cards.h"

#include <pthread.h>
#include <sqlite3.h>

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS cards("
    " id BLOB PRIMARY KEY, wallet BLOB NOT NULL, float_wallet BLOB NOT NULL,"
    " replaced_by BLOB, op TEXT NOT NULL, tier INTEGER NOT NULL, status INTEGER NOT NULL,"
    " per_payment INTEGER NOT NULL, offline_total INTEGER NOT NULL,"
    " offline_count INTEGER NOT NULL, load_counter INTEGER NOT NULL, not_after INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL, status_at INTEGER NOT NULL, reason TEXT NOT NULL,"
    " cert BLOB NOT NULL, seq INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS commands("
    " transfer BLOB PRIMARY KEY, card BLOB NOT NULL, counter INTEGER NOT NULL,"
    " type INTEGER NOT NULL, amount INTEGER NOT NULL, at INTEGER NOT NULL, blob BLOB NOT NULL,"
    " UNIQUE(card, counter));"
    "CREATE TABLE IF NOT EXISTS vouchers("
    " card BLOB NOT NULL, counter INTEGER NOT NULL, body BLOB NOT NULL, sig BLOB NOT NULL,"
    " status INTEGER NOT NULL, at INTEGER NOT NULL, PRIMARY KEY(card, counter));"
    "CREATE TABLE IF NOT EXISTS alerts("
    " id INTEGER PRIMARY KEY, card BLOB NOT NULL, counter INTEGER NOT NULL, op TEXT NOT NULL,"
    " body1 BLOB NOT NULL, sig1 BLOB NOT NULL, body2 BLOB NOT NULL, sig2 BLOB NOT NULL,"
    " at INTEGER NOT NULL);";

enum {
    Q_CARD_PUT,
    Q_CARD_GET,
    Q_CARD_STATUS,
    Q_REVOKED,
    Q_CMD_GET,
    Q_CMD_PUT,
    Q_CMD_COUNTER,
    Q_V_GET,
    Q_V_PUT,
    Q_ALERT_PUT,
    Q_ALERTS,
    Q_COUNT
};

static const char *const sql[Q_COUNT] = {
    [Q_CARD_PUT] = "INSERT OR IGNORE INTO cards(id, wallet, float_wallet, replaced_by, op, tier,"
                   " status, per_payment, offline_total, offline_count, load_counter, not_after,"
                   " created_at, status_at, reason, cert) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,"
                   "?11,?12,?13,?14,?15,?16)",
    [Q_CARD_GET] = "SELECT id, wallet, float_wallet, replaced_by, op, tier, status, per_payment,"
                   " offline_total, offline_count, load_counter, not_after, created_at,"
                   " status_at, reason, cert FROM cards WHERE id=?1",
    [Q_CARD_STATUS] = "UPDATE cards SET status=?2, reason=?3, status_at=?4,"
                      " replaced_by=coalesce(?5, replaced_by), seq=(SELECT coalesce(max(seq),0)+1"
                      " FROM cards) WHERE id=?1",
    [Q_REVOKED] = "SELECT id, reason, status_at FROM cards WHERE status<>1 ORDER BY seq",
    [Q_CMD_GET] = "SELECT transfer, card, counter, type, amount, at, blob FROM commands"
                  " WHERE transfer=?1",
    [Q_CMD_PUT] = "INSERT INTO commands(transfer, card, counter, type, amount, at, blob)"
                  " VALUES(?1,?2,?3,?4,?5,?6,?7)",
    [Q_CMD_COUNTER] = "UPDATE cards SET load_counter=?2 WHERE id=?1 AND load_counter<?2",
    [Q_V_GET] = "SELECT body, sig, status, at FROM vouchers WHERE card=?1 AND counter=?2",
    [Q_V_PUT] = "INSERT OR IGNORE INTO vouchers(card, counter, body, sig, status, at)"
                " VALUES(?1,?2,?3,?4,?5,?6)",
    [Q_ALERT_PUT] = "INSERT INTO alerts(card, counter, op, body1, sig1, body2, sig2, at)"
                    " SELECT ?1,?2,(SELECT op FROM cards WHERE id=?1),?3,?4,?5,?6,?7"
                    " WHERE NOT EXISTS(SELECT 1 FROM alerts WHERE card=?1 AND counter=?2"
                    " AND body2=?5)",
    [Q_ALERTS] = "SELECT id, card, counter, body1, sig1, body2, sig2, at FROM alerts"
                 " WHERE ?1 IS NULL OR op=?1 ORDER BY id DESC LIMIT ?2",
};

struct store_cards {
    sqlite3 *db;
    sqlite3_stmt *q[Q_COUNT];
    pthread_mutex_t mu;
};

const char *store_card_status_name(int status)
{
    switch (status) {
    case STORE_CARD_ACTIVE: return "active";
    case STORE_CARD_LOCKED: return "locked";
    case STORE_CARD_CLOSED: return "closed";
    case STORE_CARD_REVOKED: return "revoked";
    default: return "";
    }
}

void store_cards_close(store_cards *s)
{
    if (!s) {
        return;
    }
    for (int i = 0; i < Q_COUNT; i++) {
        sqlite3_finalize(s->q[i]);
    }
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int store_cards_open(const char *path, store_cards **out, char *err, size_t err_len)
{
    store_cards *s = calloc(1, sizeof *s);
    char *msg = NULL;
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    pthread_mutex_init(&s->mu, NULL);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, err_len, "%s: %s", path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        store_cards_close(s);
        return -1;
    }
    sqlite3_busy_timeout(s->db, 5000);
    for (int i = 0; i < Q_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->q[i], NULL) !=
            SQLITE_OK) {
            snprintf(err, err_len, "%s: %s", path, sqlite3_errmsg(s->db));
            store_cards_close(s);
            return -1;
        }
    }
    *out = s;
    return 0;
}

/* ---- helpers (called with the mutex held) ---- */

static sqlite3_stmt *q_begin(store_cards *s, int which)
{
    pthread_mutex_lock(&s->mu);
    return s->q[which];
}

/* Resets the statement and releases the mutex; passes rc through. */
static int q_end(store_cards *s, sqlite3_stmt *st, int rc)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void bind_id(sqlite3_stmt *st, int i, const jz_id *id)
{
    sqlite3_bind_blob(st, i, id->b, sizeof id->b, SQLITE_TRANSIENT);
}

static void bind_id_or_null(sqlite3_stmt *st, int i, const jz_id *id)
{
    if (id && !jz_id_is_zero(id)) {
        bind_id(st, i, id);
    } else {
        sqlite3_bind_null(st, i);
    }
}

static void col_id(sqlite3_stmt *st, int col, jz_id *out)
{
    memset(out, 0, sizeof *out);
    if (sqlite3_column_bytes(st, col) == (int)sizeof out->b) {
        memcpy(out->b, sqlite3_column_blob(st, col), sizeof out->b);
    }
}

/* Copies a blob column into out (cap bytes); its length, or 0 when it does not fit. */
static size_t col_blob(sqlite3_stmt *st, int col, void *out, size_t cap)
{
    int n = sqlite3_column_bytes(st, col);
    if (n <= 0 || (size_t)n > cap) {
        return 0;
    }
    memcpy(out, sqlite3_column_blob(st, col), (size_t)n);
    return (size_t)n;
}

static int exec(store_cards *s, const char *text)
{
    return sqlite3_exec(s->db, text, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* ---- cards ---- */

int store_cards_put(store_cards *s, const struct store_card *c)
{
    sqlite3_stmt *st = q_begin(s, Q_CARD_PUT);
    bind_id(st, 1, &c->id);
    bind_id(st, 2, &c->wallet);
    bind_id(st, 3, &c->float_wallet);
    bind_id_or_null(st, 4, &c->replaced_by);
    sqlite3_bind_text(st, 5, c->op, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 6, c->tier);
    sqlite3_bind_int(st, 7, c->status);
    sqlite3_bind_int64(st, 8, c->per_payment);
    sqlite3_bind_int64(st, 9, c->offline_total);
    sqlite3_bind_int64(st, 10, c->offline_count);
    sqlite3_bind_int64(st, 11, c->load_counter);
    sqlite3_bind_int64(st, 12, c->not_after);
    sqlite3_bind_int64(st, 13, c->created_at);
    sqlite3_bind_int64(st, 14, c->status_at);
    sqlite3_bind_text(st, 15, c->reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 16, c->cert, (int)c->cert_len, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? (sqlite3_changes(s->db) == 1 ? 0 : 1) : -1;
    return q_end(s, st, rc);
}

static void row_card(sqlite3_stmt *st, struct store_card *c)
{
    memset(c, 0, sizeof *c);
    col_id(st, 0, &c->id);
    col_id(st, 1, &c->wallet);
    col_id(st, 2, &c->float_wallet);
    col_id(st, 3, &c->replaced_by);
    snprintf(c->op, sizeof c->op, "%s", (const char *)sqlite3_column_text(st, 4));
    c->tier = (uint8_t)sqlite3_column_int(st, 5);
    c->status = (uint8_t)sqlite3_column_int(st, 6);
    c->per_payment = sqlite3_column_int64(st, 7);
    c->offline_total = sqlite3_column_int64(st, 8);
    c->offline_count = (uint32_t)sqlite3_column_int64(st, 9);
    c->load_counter = (uint32_t)sqlite3_column_int64(st, 10);
    c->not_after = sqlite3_column_int64(st, 11);
    c->created_at = sqlite3_column_int64(st, 12);
    c->status_at = sqlite3_column_int64(st, 13);
    snprintf(c->reason, sizeof c->reason, "%s", (const char *)sqlite3_column_text(st, 14));
    c->cert_len = col_blob(st, 15, c->cert, sizeof c->cert);
}

int store_cards_get(store_cards *s, const jz_id *id, struct store_card *out)
{
    sqlite3_stmt *st = q_begin(s, Q_CARD_GET);
    bind_id(st, 1, id);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        row_card(st, out);
    }
    return q_end(s, st, step == SQLITE_ROW ? 0 : step == SQLITE_DONE ? 1 : -1);
}

int store_cards_set_status(store_cards *s, const jz_id *id, uint8_t status, const char *reason,
                           int64_t at, const jz_id *replaced_by)
{
    sqlite3_stmt *st = q_begin(s, Q_CARD_STATUS);
    bind_id(st, 1, id);
    sqlite3_bind_int(st, 2, status);
    sqlite3_bind_text(st, 3, reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, at);
    bind_id_or_null(st, 5, replaced_by);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    return q_end(s, st, rc);
}

int store_cards_revoked(store_cards *s, store_cards_revoked_fn fn, void *ctx)
{
    sqlite3_stmt *st = q_begin(s, Q_REVOKED);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        jz_id id;
        col_id(st, 0, &id);
        fn(ctx, &id, (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2));
    }
    return q_end(s, st, step == SQLITE_DONE ? 0 : -1);
}

/* ---- commands ---- */

int store_cards_command_get(store_cards *s, const jz_id *transfer, struct store_card_command *out)
{
    sqlite3_stmt *st = q_begin(s, Q_CMD_GET);
    bind_id(st, 1, transfer);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        col_id(st, 0, &out->transfer);
        col_id(st, 1, &out->card);
        out->counter = (uint32_t)sqlite3_column_int64(st, 2);
        out->type = (uint8_t)sqlite3_column_int(st, 3);
        out->amount = sqlite3_column_int64(st, 4);
        out->at = sqlite3_column_int64(st, 5);
        out->blob_len = col_blob(st, 6, out->blob, sizeof out->blob);
    }
    return q_end(s, st, step == SQLITE_ROW ? 0 : step == SQLITE_DONE ? 1 : -1);
}

int store_cards_command_put(store_cards *s, const struct store_card_command *c)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *put = s->q[Q_CMD_PUT];
    sqlite3_stmt *ctr = s->q[Q_CMD_COUNTER];
    int rc = exec(s, "BEGIN IMMEDIATE");
    bind_id(put, 1, &c->transfer);
    bind_id(put, 2, &c->card);
    sqlite3_bind_int64(put, 3, c->counter);
    sqlite3_bind_int(put, 4, c->type);
    sqlite3_bind_int64(put, 5, c->amount);
    sqlite3_bind_int64(put, 6, c->at);
    sqlite3_bind_blob(put, 7, c->blob, (int)c->blob_len, SQLITE_TRANSIENT);
    bind_id(ctr, 1, &c->card);
    sqlite3_bind_int64(ctr, 2, c->counter);
    if (rc == 0 && (sqlite3_step(put) != SQLITE_DONE || sqlite3_step(ctr) != SQLITE_DONE)) {
        rc = -1;
    }
    sqlite3_reset(put);
    sqlite3_reset(ctr);
    sqlite3_clear_bindings(put);
    sqlite3_clear_bindings(ctr);
    rc = rc == 0 ? exec(s, "COMMIT") : (exec(s, "ROLLBACK"), -1);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- vouchers ---- */

int store_cards_voucher_get(store_cards *s, const jz_id *card, uint32_t counter,
                            struct store_voucher *out)
{
    sqlite3_stmt *st = q_begin(s, Q_V_GET);
    bind_id(st, 1, card);
    sqlite3_bind_int64(st, 2, counter);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        out->card = *card;
        out->counter = counter;
        col_blob(st, 0, out->body, sizeof out->body);
        out->sig_len = col_blob(st, 1, out->sig, sizeof out->sig);
        out->status = sqlite3_column_int(st, 2);
        out->at = sqlite3_column_int64(st, 3);
    }
    return q_end(s, st, step == SQLITE_ROW ? 0 : step == SQLITE_DONE ? 1 : -1);
}

int store_cards_vouchers_put(store_cards *s, const struct store_voucher *v, size_t n)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = s->q[Q_V_PUT];
    int rc = exec(s, "BEGIN IMMEDIATE");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        bind_id(st, 1, &v[i].card);
        sqlite3_bind_int64(st, 2, v[i].counter);
        sqlite3_bind_blob(st, 3, v[i].body, sizeof v[i].body, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 4, v[i].sig, (int)v[i].sig_len, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 5, v[i].status);
        sqlite3_bind_int64(st, 6, v[i].at);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    rc = rc == 0 ? exec(s, "COMMIT") : (exec(s, "ROLLBACK"), -1);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- alerts ---- */

int store_cards_alert_put(store_cards *s, const struct store_card_alert *a, int64_t *id)
{
    sqlite3_stmt *st = q_begin(s, Q_ALERT_PUT);
    bind_id(st, 1, &a->card);
    sqlite3_bind_int64(st, 2, a->counter);
    sqlite3_bind_blob(st, 3, a->first.body, sizeof a->first.body, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 4, a->first.sig, (int)a->first.sig_len, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 5, a->second.body, sizeof a->second.body, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 6, a->second.sig, (int)a->second.sig_len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, a->at);
    int rc = sqlite3_step(st) == SQLITE_DONE ? (sqlite3_changes(s->db) == 1 ? 0 : 1) : -1;
    if (rc == 0 && id) {
        *id = sqlite3_last_insert_rowid(s->db);
    }
    return q_end(s, st, rc);
}

int store_cards_alerts(store_cards *s, const char *op, uint32_t limit, store_cards_alert_fn fn,
                       void *ctx)
{
    sqlite3_stmt *st = q_begin(s, Q_ALERTS);
    if (op) {
        sqlite3_bind_text(st, 1, op, -1, SQLITE_TRANSIENT);
    } else {
        sqlite3_bind_null(st, 1);
    }
    sqlite3_bind_int64(st, 2, limit);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_card_alert a;
        memset(&a, 0, sizeof a);
        a.id = sqlite3_column_int64(st, 0);
        col_id(st, 1, &a.card);
        a.counter = (uint32_t)sqlite3_column_int64(st, 2);
        col_blob(st, 3, a.first.body, sizeof a.first.body);
        a.first.sig_len = col_blob(st, 4, a.first.sig, sizeof a.first.sig);
        col_blob(st, 5, a.second.body, sizeof a.second.body);
        a.second.sig_len = col_blob(st, 6, a.second.sig, sizeof a.second.sig);
        a.at = sqlite3_column_int64(st, 7);
        fn(ctx, &a);
    }
    return q_end(s, st, step == SQLITE_DONE ? 0 : -1);
}
