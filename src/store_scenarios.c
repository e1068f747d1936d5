/*
 * store_scenarios.c: the payment scenarios' records in SQLite (see store_scenarios.h).
 *
 * Every statement goes through q() or q_each(), which bind their inputs from a format
 * string ('i' an id as a 16-byte blob, 'I' an int64, 't' a string, 'b' a blob and its
 * length) and read a first row's columns by another ('i' jz_id *, 'I' int64_t *, 'n'
 * int32_t *, 't' char * and its capacity, 'b' void *, capacity and size_t *). Statements are
 * prepared per call: this store serves a few requests a second, not the ledger's rate.
 */
#include "store_scenarios.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    /* Not derived from the journal (unlike history.db): a commit is synced. */
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS children(id BLOB PRIMARY KEY, parent BLOB NOT NULL,"
    " created_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS children_parent ON children(parent, created_at);"
    "CREATE TABLE IF NOT EXISTS merchants(wallet BLOB PRIMARY KEY, operator INTEGER NOT NULL,"
    " mcc INTEGER NOT NULL, name TEXT NOT NULL, key_id BLOB NOT NULL, sealed BLOB NOT NULL,"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS orders(id BLOB PRIMARY KEY, merchant BLOB NOT NULL,"
    " amount INTEGER NOT NULL, expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL,"
    " ref TEXT NOT NULL, memo TEXT NOT NULL, payer BLOB, transfer BLOB NOT NULL,"
    " paid_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS refunds(id BLOB PRIMARY KEY, order_id BLOB NOT NULL,"
    " amount INTEGER NOT NULL, status INTEGER NOT NULL, created_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS refunds_order ON refunds(order_id);"
    "CREATE TABLE IF NOT EXISTS billers(wallet BLOB PRIMARY KEY, operator INTEGER NOT NULL,"
    " name TEXT NOT NULL, category TEXT NOT NULL, created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS bills(biller BLOB NOT NULL, reference TEXT NOT NULL,"
    " amount INTEGER NOT NULL, due_date TEXT NOT NULL, payer_name TEXT NOT NULL,"
    " uploaded_at INTEGER NOT NULL, payer BLOB, transfer BLOB, paid_at INTEGER NOT NULL"
    " DEFAULT 0, PRIMARY KEY(biller, reference));"
    "CREATE INDEX IF NOT EXISTS bills_paid ON bills(biller, paid_at);"
    "CREATE TABLE IF NOT EXISTS campaigns(id BLOB PRIMARY KEY, operator INTEGER NOT NULL,"
    " pool BLOB NOT NULL, name TEXT NOT NULL, amount INTEGER NOT NULL,"
    " winners INTEGER NOT NULL, opens_at INTEGER NOT NULL, closes_at INTEGER NOT NULL,"
    " spend_expires_at INTEGER NOT NULL, mccs BLOB NOT NULL, commitment BLOB NOT NULL,"
    " seed BLOB, drawn_at INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS registrations(campaign BLOB NOT NULL, reg BLOB NOT NULL,"
    " operator INTEGER NOT NULL, wallet BLOB NOT NULL, has_wallet INTEGER NOT NULL,"
    " holder BLOB NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY(campaign, reg))"
    " WITHOUT ROWID;";

struct scen_store {
    pthread_mutex_t mu;
    sqlite3 *db;
};

/* ---- The query layer ---- */

static int bind_in(sqlite3_stmt *st, const char *in, va_list *ap)
{
    int rc = SQLITE_OK;
    for (int k = 1; in && in[k - 1] && rc == SQLITE_OK; k++) {
        switch (in[k - 1]) {
        case 'i':
            rc = sqlite3_bind_blob(st, k, va_arg(*ap, const jz_id *)->b, 16, SQLITE_TRANSIENT);
            break;
        case 'I':
            rc = sqlite3_bind_int64(st, k, va_arg(*ap, int64_t));
            break;
        case 't':
            rc = sqlite3_bind_text(st, k, va_arg(*ap, const char *), -1, SQLITE_TRANSIENT);
            break;
        default: { /* 'b' */
            const void *p = va_arg(*ap, const void *);
            int n = (int)va_arg(*ap, size_t);
            rc = sqlite3_bind_blob(st, k, n ? p : "", n, SQLITE_TRANSIENT);
            break;
        }
        }
    }
    return rc == SQLITE_OK ? 0 : -1;
}

static void col_id(sqlite3_stmt *st, int i, jz_id *out)
{
    memset(out, 0, sizeof *out);
    if (sqlite3_column_bytes(st, i) == 16) {
        memcpy(out->b, sqlite3_column_blob(st, i), 16);
    }
}

static void col_text(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static size_t col_blob(sqlite3_stmt *st, int i, void *out, size_t cap)
{
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    n = n < cap ? n : cap;
    if (n) {
        memcpy(out, sqlite3_column_blob(st, i), n);
    }
    return n;
}

static void read_out(sqlite3_stmt *st, const char *out, va_list *ap)
{
    for (int k = 0; out && out[k]; k++) {
        switch (out[k]) {
        case 'i':
            col_id(st, k, va_arg(*ap, jz_id *));
            break;
        case 'I':
            *va_arg(*ap, int64_t *) = sqlite3_column_int64(st, k);
            break;
        case 'n':
            *va_arg(*ap, int32_t *) = (int32_t)sqlite3_column_int64(st, k);
            break;
        case 't': {
            char *p = va_arg(*ap, char *);
            col_text(st, k, p, va_arg(*ap, size_t));
            break;
        }
        default: { /* 'b' */
            void *p = va_arg(*ap, void *);
            size_t cap = va_arg(*ap, size_t);
            size_t *len = va_arg(*ap, size_t *);
            *len = col_blob(st, k, p, cap);
            break;
        }
        }
    }
}

/* Runs sql with inputs, then outputs (the mutex held). 0: done, or a first row read into
 * the outputs; 1: a constraint refused the write, or no row; -1: an error. */
static int q(scen_store *s, const char *sql, const char *in, const char *out, ...)
{
    sqlite3_stmt *st = NULL;
    va_list ap;
    va_start(ap, out);
    int rc = -1;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK && bind_in(st, in, &ap) == 0) {
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            read_out(st, out, &ap);
            rc = 0;
        } else if (step == SQLITE_DONE) {
            rc = out ? 1 : 0;
        } else if ((step & 0xff) == SQLITE_CONSTRAINT) {
            rc = 1;
        }
    }
    va_end(ap);
    sqlite3_finalize(st);
    return rc;
}

/* Runs a query and calls row() for each row (the mutex held). 0 or -1. */
static int q_each(scen_store *s, const char *sql, const char *in,
                  void (*row)(void *ctx, sqlite3_stmt *st), void *ctx, ...)
{
    sqlite3_stmt *st = NULL;
    va_list ap;
    va_start(ap, ctx);
    int rc = -1;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK && bind_in(st, in, &ap) == 0) {
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            row(ctx, st);
        }
        rc = step == SQLITE_DONE ? 0 : -1;
    }
    va_end(ap);
    sqlite3_finalize(st);
    return rc;
}

#define LOCKED(s, expr)                   \
    do {                                  \
        pthread_mutex_lock(&(s)->mu);     \
        int locked_rc_ = (expr);          \
        pthread_mutex_unlock(&(s)->mu);   \
        return locked_rc_;                \
    } while (0)

/* ---- Life cycle ---- */

int scen_store_open(const char *path, scen_store **out, char *err, size_t err_len)
{
    scen_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    pthread_mutex_init(&s->mu, NULL);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    char *msg = NULL;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, err_len, "%s: %s", path, msg ? msg : s->db ? sqlite3_errmsg(s->db) : "");
        sqlite3_free(msg);
        scen_store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void scen_store_close(scen_store *s)
{
    if (!s) {
        return;
    }
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int scen_store_meta_get(scen_store *s, const char *key, void *buf, size_t cap, size_t *len)
{
    LOCKED(s, q(s, "SELECT value FROM meta WHERE key=?1", "t", "b", key, buf, cap, len));
}

int scen_store_meta_put(scen_store *s, const char *key, const void *data, size_t len)
{
    LOCKED(s, q(s, "INSERT OR REPLACE INTO meta VALUES(?1,?2)", "tb", NULL, key, data, len));
}

/* ---- Children ---- */

int scen_store_child_put(scen_store *s, const jz_id *child, const jz_id *parent, int64_t at)
{
    LOCKED(s, q(s, "INSERT OR IGNORE INTO children VALUES(?1,?2,?3)", "iiI", NULL, child, parent,
                at));
}

struct id_list {
    jz_id *out;
    uint32_t cap, n;
};

static void row_id(void *ctx, sqlite3_stmt *st)
{
    struct id_list *l = ctx;
    if (l->n < l->cap) {
        col_id(st, 0, &l->out[l->n++]);
    }
}

int scen_store_children(scen_store *s, const jz_id *parent, jz_id *out, uint32_t cap,
                        uint32_t *n)
{
    struct id_list l = {.out = out, .cap = cap};
    pthread_mutex_lock(&s->mu);
    int rc = q_each(s, "SELECT id FROM children WHERE parent=?1 ORDER BY created_at, id", "i",
                    row_id, &l, parent);
    pthread_mutex_unlock(&s->mu);
    *n = l.n;
    return rc;
}

/* ---- Merchants ---- */

#define MERCHANT_COLS "wallet, operator, mcc, name, key_id, sealed, created_at"

static void merchant_of(sqlite3_stmt *st, struct scen_merchant *m)
{
    memset(m, 0, sizeof *m);
    col_id(st, 0, &m->wallet);
    m->operator_index = (int32_t)sqlite3_column_int64(st, 1);
    m->mcc = (uint16_t)sqlite3_column_int64(st, 2);
    col_text(st, 3, m->name, sizeof m->name);
    col_id(st, 4, &m->key_id);
    col_blob(st, 5, m->sealed, sizeof m->sealed);
    m->created_at = sqlite3_column_int64(st, 6);
}

int scen_store_merchant_put(scen_store *s, const struct scen_merchant *m)
{
    LOCKED(s, q(s, "INSERT INTO merchants VALUES(?1,?2,?3,?4,?5,?6,?7)", "iIItibI", NULL,
                &m->wallet, (int64_t)m->operator_index, (int64_t)m->mcc, m->name, &m->key_id,
                m->sealed, sizeof m->sealed, m->created_at));
}

struct merchant_row {
    struct scen_merchant *one;
    void (*fn)(void *ctx, const struct scen_merchant *m);
    void *ctx;
    int found;
};

static void row_merchant(void *ctx, sqlite3_stmt *st)
{
    struct merchant_row *r = ctx;
    struct scen_merchant m;
    merchant_of(st, &m);
    r->found = 1;
    if (r->one) {
        *r->one = m;
    } else {
        r->fn(r->ctx, &m);
    }
}

int scen_store_merchant_get(scen_store *s, const jz_id *wallet, struct scen_merchant *out)
{
    struct merchant_row r = {.one = out};
    pthread_mutex_lock(&s->mu);
    int rc = q_each(s, "SELECT " MERCHANT_COLS " FROM merchants WHERE wallet=?1", "i",
                    row_merchant, &r, wallet);
    pthread_mutex_unlock(&s->mu);
    return rc != 0 ? -1 : r.found ? 0 : 1;
}

int scen_store_merchant_each(scen_store *s, void (*fn)(void *ctx, const struct scen_merchant *m),
                             void *ctx)
{
    struct merchant_row r = {.fn = fn, .ctx = ctx};
    LOCKED(s, q_each(s, "SELECT " MERCHANT_COLS " FROM merchants ORDER BY created_at", NULL,
                     row_merchant, &r));
}

/* ---- Orders ---- */

int scen_store_order_put(scen_store *s, const struct scen_order *o)
{
    LOCKED(s, q(s, "INSERT INTO orders VALUES(?1,?2,?3,?4,?5,?6,?7,NULL,?8,0)", "iiIIItti",
                NULL, &o->id, &o->merchant, o->amount, o->expires_at, o->created_at, o->ref,
                o->memo, &o->transfer));
}

int scen_store_order_get(scen_store *s, const jz_id *id, struct scen_order *out)
{
    memset(out, 0, sizeof *out);
    LOCKED(s, q(s, "SELECT id, merchant, amount, expires_at, created_at, ref, memo, payer,"
                   " transfer, paid_at FROM orders WHERE id=?1", "i", "iiIIIttiiI", id,
                &out->id, &out->merchant, &out->amount, &out->expires_at, &out->created_at,
                out->ref, sizeof out->ref, out->memo, sizeof out->memo, &out->payer,
                &out->transfer, &out->paid_at));
}

int scen_store_order_paid(scen_store *s, const jz_id *id, const jz_id *payer, int64_t paid_at)
{
    LOCKED(s, q(s, "UPDATE orders SET payer=?2, paid_at=?3 WHERE id=?1 AND paid_at=0", "iiI",
                NULL, id, payer, paid_at));
}

/* ---- Refunds ---- */

static void refund_of(sqlite3_stmt *st, struct scen_refund *r)
{
    memset(r, 0, sizeof *r);
    col_id(st, 0, &r->id);
    col_id(st, 1, &r->order);
    r->amount = sqlite3_column_int64(st, 2);
    r->status = (int32_t)sqlite3_column_int64(st, 3);
    r->created_at = sqlite3_column_int64(st, 4);
}

struct refund_list {
    struct scen_refund *out;
    uint32_t cap, n;
};

static void row_refund(void *ctx, sqlite3_stmt *st)
{
    struct refund_list *l = ctx;
    if (l->n < l->cap) {
        refund_of(st, &l->out[l->n++]);
    }
}

int scen_store_refund_put(scen_store *s, const struct scen_refund *r)
{
    LOCKED(s, q(s, "INSERT INTO refunds VALUES(?1,?2,?3,?4,?5)", "iiIII", NULL, &r->id,
                &r->order, r->amount, (int64_t)r->status, r->created_at));
}

int scen_store_refund_get(scen_store *s, const jz_id *id, struct scen_refund *out)
{
    struct refund_list l = {.out = out, .cap = 1};
    pthread_mutex_lock(&s->mu);
    int rc = q_each(s, "SELECT id, order_id, amount, status, created_at FROM refunds WHERE id=?1",
                    "i", row_refund, &l, id);
    pthread_mutex_unlock(&s->mu);
    return rc != 0 ? -1 : l.n ? 0 : 1;
}

int scen_store_refund_status(scen_store *s, const jz_id *id, int status)
{
    LOCKED(s, q(s, "UPDATE refunds SET status=?2 WHERE id=?1", "iI", NULL, id, (int64_t)status));
}

int scen_store_refund_sums(scen_store *s, const jz_id *order, int64_t *posted, int64_t *pending)
{
    *posted = 0;
    *pending = 0;
    LOCKED(s, q(s, "SELECT coalesce(sum(CASE WHEN status=1 THEN amount END),0),"
                   " coalesce(sum(CASE WHEN status=0 THEN amount END),0)"
                   " FROM refunds WHERE order_id=?1", "i", "II", order, posted, pending) < 0
                  ? -1 : 0);
}

int scen_store_refunds_pending(scen_store *s, const jz_id *order, struct scen_refund *out,
                               uint32_t cap, uint32_t *n)
{
    struct refund_list l = {.out = out, .cap = cap};
    pthread_mutex_lock(&s->mu);
    int rc = q_each(s, "SELECT id, order_id, amount, status, created_at FROM refunds"
                       " WHERE order_id=?1 AND status=0 ORDER BY created_at", "i",
                    row_refund, &l, order);
    pthread_mutex_unlock(&s->mu);
    *n = l.n;
    return rc;
}

/* ---- Billers and bills ---- */

int scen_store_biller_put(scen_store *s, const struct scen_biller *b)
{
    LOCKED(s, q(s, "INSERT INTO billers VALUES(?1,?2,?3,?4,?5)", "iIttI", NULL, &b->wallet,
                (int64_t)b->operator_index, b->name, b->category, b->created_at));
}

int scen_store_biller_get(scen_store *s, const jz_id *wallet, struct scen_biller *out)
{
    memset(out, 0, sizeof *out);
    LOCKED(s, q(s, "SELECT wallet, operator, name, category, created_at FROM billers"
                   " WHERE wallet=?1", "i", "inttI", wallet, &out->wallet, &out->operator_index,
                out->name, sizeof out->name, out->category, sizeof out->category,
                &out->created_at));
}

#define BILL_COLS "biller, reference, amount, due_date, payer_name, uploaded_at, payer, transfer," \
                  " paid_at"

static void bill_of(sqlite3_stmt *st, struct scen_bill *b)
{
    memset(b, 0, sizeof *b);
    col_id(st, 0, &b->biller);
    col_text(st, 1, b->reference, sizeof b->reference);
    b->amount = sqlite3_column_int64(st, 2);
    col_text(st, 3, b->due_date, sizeof b->due_date);
    col_text(st, 4, b->payer_name, sizeof b->payer_name);
    b->uploaded_at = sqlite3_column_int64(st, 5);
    col_id(st, 6, &b->payer);
    col_id(st, 7, &b->transfer);
    b->paid_at = sqlite3_column_int64(st, 8);
}

struct bill_rows {
    struct scen_bill *one;
    void (*fn)(void *ctx, const struct scen_bill *b);
    void *ctx;
    int found;
};

static void row_bill(void *ctx, sqlite3_stmt *st)
{
    struct bill_rows *r = ctx;
    struct scen_bill b;
    bill_of(st, &b);
    r->found = 1;
    if (r->one) {
        *r->one = b;
    } else {
        r->fn(r->ctx, &b);
    }
}

static bool bill_same(const struct scen_bill *a, const struct scen_bill *b)
{
    return a->amount == b->amount && strcmp(a->due_date, b->due_date) == 0 &&
           strcmp(a->payer_name, b->payer_name) == 0;
}

/* One bill of an upload (the transaction open): 0 inserted or unchanged, 1 conflict. */
static int bill_put_one(scen_store *s, const struct scen_bill *b, uint32_t *unchanged)
{
    struct scen_bill old;
    struct bill_rows r = {.one = &old};
    if (q_each(s, "SELECT " BILL_COLS " FROM bills WHERE biller=?1 AND reference=?2", "it",
               row_bill, &r, &b->biller, b->reference) != 0) {
        return -1;
    }
    if (r.found) {
        *unchanged += bill_same(&old, b);
        return bill_same(&old, b) ? 0 : 1;
    }
    return q(s, "INSERT INTO bills VALUES(?1,?2,?3,?4,?5,?6,NULL,NULL,0)", "itIttI", NULL,
             &b->biller, b->reference, b->amount, b->due_date, b->payer_name, b->uploaded_at);
}

int scen_store_bills_put(scen_store *s, const struct scen_bill *bills, uint32_t n,
                         uint32_t *unchanged, uint32_t *conflict)
{
    *unchanged = 0;
    pthread_mutex_lock(&s->mu);
    int rc = q(s, "BEGIN IMMEDIATE", NULL, NULL);
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        rc = bill_put_one(s, &bills[i], unchanged);
        if (rc == 1) {
            *conflict = i;
        }
    }
    int end = q(s, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL);
    pthread_mutex_unlock(&s->mu);
    return rc != 0 ? rc : end;
}

int scen_store_bill_get(scen_store *s, const jz_id *biller, const char *reference,
                        struct scen_bill *out)
{
    struct bill_rows r = {.one = out};
    pthread_mutex_lock(&s->mu);
    int rc = q_each(s, "SELECT " BILL_COLS " FROM bills WHERE biller=?1 AND reference=?2", "it",
                    row_bill, &r, biller, reference);
    pthread_mutex_unlock(&s->mu);
    return rc != 0 ? -1 : r.found ? 0 : 1;
}

int scen_store_bill_paid(scen_store *s, const jz_id *biller, const char *reference,
                         const jz_id *payer, const jz_id *transfer, int64_t paid_at)
{
    LOCKED(s, q(s, "UPDATE bills SET payer=?3, transfer=?4, paid_at=?5"
                   " WHERE biller=?1 AND reference=?2 AND paid_at=0", "itiiI", NULL, biller,
                reference, payer, transfer, paid_at));
}

int scen_store_bills_unpaid(scen_store *s, const jz_id *biller,
                            void (*fn)(void *ctx, const struct scen_bill *b), void *ctx)
{
    struct bill_rows r = {.fn = fn, .ctx = ctx};
    LOCKED(s, q_each(s, "SELECT " BILL_COLS " FROM bills WHERE biller=?1 AND paid_at=0"
                        " ORDER BY reference", "i", row_bill, &r, biller));
}

int scen_store_bills_paid_between(scen_store *s, const jz_id *biller, int64_t from, int64_t to,
                                  void (*fn)(void *ctx, const struct scen_bill *b), void *ctx)
{
    struct bill_rows r = {.fn = fn, .ctx = ctx};
    LOCKED(s, q_each(s, "SELECT " BILL_COLS " FROM bills WHERE biller=?1 AND paid_at>=?2"
                        " AND paid_at<?3 AND paid_at>0 ORDER BY paid_at, reference", "iII",
                     row_bill, &r, biller, from, to));
}

/* ---- Campaigns ---- */

static void mccs_pack(const struct scen_campaign *c, uint8_t *out)
{
    for (int i = 0; i < c->mcc_count; i++) {
        out[2 * i] = (uint8_t)(c->mccs[i] >> 8);
        out[2 * i + 1] = (uint8_t)c->mccs[i];
    }
}

int scen_store_campaign_put(scen_store *s, const struct scen_campaign *c)
{
    uint8_t mccs[2 * JZ_RESTRICTION_MCCS_MAX];
    mccs_pack(c, mccs);
    LOCKED(s, q(s, "INSERT INTO campaigns VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,NULL,0,?12)",
                "iIitIIIIIbbI", NULL, &c->id, (int64_t)c->operator_index, &c->pool, c->name,
                c->amount, (int64_t)c->winners, c->opens_at, c->closes_at, c->spend_expires_at,
                mccs, (size_t)(2 * c->mcc_count), c->commitment, sizeof c->commitment,
                c->created_at));
}

int scen_store_campaign_get(scen_store *s, const jz_id *id, struct scen_campaign *out)
{
    memset(out, 0, sizeof *out);
    uint8_t mccs[2 * JZ_RESTRICTION_MCCS_MAX];
    size_t mccs_len = 0;
    size_t commit_len = 0;
    size_t seed_len = 0;
    pthread_mutex_lock(&s->mu);
    int rc = q(s, "SELECT id, operator, pool, name, amount, winners, opens_at, closes_at,"
                  " spend_expires_at, mccs, commitment, seed, drawn_at, created_at FROM campaigns"
                  " WHERE id=?1", "i", "initInIIIbbbII", id, &out->id, &out->operator_index,
               &out->pool, out->name, sizeof out->name, &out->amount, &out->winners,
               &out->opens_at, &out->closes_at, &out->spend_expires_at, mccs, sizeof mccs,
               &mccs_len, out->commitment, sizeof out->commitment, &commit_len, out->seed,
               sizeof out->seed, &seed_len, &out->drawn_at, &out->created_at);
    pthread_mutex_unlock(&s->mu);
    out->mcc_count = (uint8_t)(mccs_len / 2);
    for (int i = 0; i < out->mcc_count; i++) {
        out->mccs[i] = (uint16_t)(mccs[2 * i] << 8 | mccs[2 * i + 1]);
    }
    return rc;
}

int scen_store_campaign_drawn(scen_store *s, const jz_id *id, const uint8_t seed[32],
                              int64_t drawn_at)
{
    LOCKED(s, q(s, "UPDATE campaigns SET seed=?2, drawn_at=?3 WHERE id=?1 AND drawn_at=0", "ibI",
                NULL, id, seed, (size_t)32, drawn_at));
}

int scen_store_registration_put(scen_store *s, const struct scen_registration *r)
{
    LOCKED(s, q(s, "INSERT INTO registrations VALUES(?1,?2,?3,?4,?5,?6,?7)", "iiIiIbI", NULL,
                &r->campaign, &r->reg, (int64_t)r->operator_index, &r->wallet,
                (int64_t)r->has_wallet, r->holder, (size_t)r->holder_len, r->created_at));
}

int scen_store_registration_count(scen_store *s, const jz_id *campaign, uint32_t *n)
{
    int64_t count = 0;
    pthread_mutex_lock(&s->mu);
    int rc = q(s, "SELECT count(*) FROM registrations WHERE campaign=?1", "i", "I", campaign,
               &count);
    pthread_mutex_unlock(&s->mu);
    *n = (uint32_t)count;
    return rc < 0 ? -1 : 0;
}

struct reg_list {
    struct scen_registration *out;
    uint32_t cap, n;
};

static void row_registration(void *ctx, sqlite3_stmt *st)
{
    struct reg_list *l = ctx;
    if (l->n >= l->cap) {
        return;
    }
    struct scen_registration *r = &l->out[l->n++];
    memset(r, 0, sizeof *r);
    col_id(st, 0, &r->campaign);
    col_id(st, 1, &r->reg);
    r->operator_index = (int32_t)sqlite3_column_int64(st, 2);
    col_id(st, 3, &r->wallet);
    r->has_wallet = sqlite3_column_int64(st, 4) != 0;
    r->holder_len = (uint8_t)col_blob(st, 5, r->holder, sizeof r->holder);
    r->created_at = sqlite3_column_int64(st, 6);
}

int scen_store_registrations(scen_store *s, const jz_id *campaign,
                             struct scen_registration *out, uint32_t cap, uint32_t *n)
{
    struct reg_list l = {.out = out, .cap = cap};
    pthread_mutex_lock(&s->mu);
    int rc = q_each(s, "SELECT campaign, reg, operator, wallet, has_wallet, holder, created_at"
                       " FROM registrations WHERE campaign=?1 ORDER BY reg", "i",
                    row_registration, &l, campaign);
    pthread_mutex_unlock(&s->mu);
    *n = l.n;
    return rc;
}
