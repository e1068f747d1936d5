/*
 * store_sqlite.h: the history store (DESIGN.md §3): queryable, derived data in SQLite.
 *
 * The projector writes it from the durable journal; `jiaozi reindex` rebuilds it from
 * scratch, with the same result. It holds posted transfers (a captured hold included, under
 * the hold's id), the wallets' transfer lists newest first, holds and wallets. The position
 * of a transfer (`pos` = journal seq << 16 | its place in the record) orders history and is
 * the cursor. WAL mode, synchronous=NORMAL: a crash may lose the last projected
 * transactions but never corrupts, and the projected seq commits with the rows it covers.
 * Only this module includes SQLite.
 *
 * Thread-safety: one writer (the projector) and any number of readers, each call taking a
 * connection from a small pool.
 */
#ifndef JZ_STORE_SQLITE_H
#define JZ_STORE_SQLITE_H

#include "ledger.h"

#define STORE_HISTORY_LIMIT_MAX 1000

struct store_transfer {
    jz_id id;
    jz_id debit;
    jz_id credit;
    int64_t amount;
    uint8_t kind;
    int64_t timestamp;
    uint64_t pos;
    char ref[JZ_REF_MAX + 1];
    char memo[JZ_MEMO_MAX + 1];
};

typedef struct store store;

/* Opens (creating) the database at path. *out is owned by the caller (store_close). */
int store_open(const char *path, store **out, char *err, size_t err_len);
void store_close(store *s);

/* The last journal seq whose effects are in the store (0 for none). */
uint64_t store_projected_seq(store *s);

/* ---- Writing (the projector's thread only) ---- */
int store_begin(store *s);
/* Commits everything since store_begin together with the new projected seq. */
int store_commit(store *s, uint64_t projected_seq);
void store_rollback(store *s);
/* Inserts a posted transfer and its two wallet entries; an id already present is left as
 * it is (an idempotent replay in a later record). */
int store_put_transfer(store *s, const struct store_transfer *t);
int store_put_wallet(store *s, const jz_id *id, uint16_t operator_index, uint8_t kind,
                     uint8_t tier, uint8_t form, const jz_id *parent, int64_t created_at);
/* A wallet holder's sealed identity record (the holder store of DESIGN.md §8). */
int store_put_holder(store *s, const jz_id *wallet, const uint8_t *sealed, size_t len);
/* The index the next institution will have: the number of treasury wallets stored. */
int64_t store_next_institution(store *s);
int store_update_wallet(store *s, const jz_id *id, uint8_t tier, uint8_t status);
int store_put_hold(store *s, const jz_id *id, const jz_id *debit, const jz_id *credit,
                   int64_t amount, int64_t deadline, int64_t created_at);
/* Reads a hold's debit, credit and amount (for projecting its capture). 0, 1 = not found. */
int store_get_hold(store *s, const jz_id *id, jz_id *debit, jz_id *credit, int64_t *amount);
int store_resolve_hold(store *s, const jz_id *id, uint8_t status, int64_t captured);

/* ---- Reading (any thread) ---- */

/* 0 and *out, 1 when not found, -1 on error. */
int store_get_transfer(store *s, const jz_id *id, struct store_transfer *out);
/* Transfers of a wallet, newest first, with pos < before (0 = from the newest); at most
 * limit into out; *count how many; *next the cursor for the next page (0 = no more). */
int store_wallet_history(store *s, const jz_id *wallet, uint64_t before, uint32_t limit,
                         struct store_transfer *out, uint32_t *count, uint64_t *next);

/* A digest of the store's contents (every table, in key order): reindex must reproduce it. */
int store_digest(store *s, uint8_t out[32]);

#endif
