/*
 * store_clearing.h: the clearing module's store, DIR/clearing.db (SQLite; only this module
 * and store_sqlite include SQLite).
 *
 * It holds two things. (1) What clearing derives from the journal, kept so that the next
 * cycle need not re-read history from the first record: the institutions, the wallets'
 * institution, kind and category, the holds between institutions, and the journal position
 * where the last closed cycle ends. (2) Documents, each a (kind, key) -> body (+ optional
 * signature) row: closed cycles and their signed settlement files, reconciliation reports,
 * fee schedules (by SM3), adjustments and disputes. Every decision that creates a document
 * is journalled first (a LEDGER_NOTE_CLEARING note), so the store never holds a decision the
 * journal does not. WAL mode with synchronous=FULL: a commit is durable when it returns.
 *
 * Not thread-safe: the clearing module serialises every call under its own lock.
 */
#ifndef JZ_STORE_CLEARING_H
#define JZ_STORE_CLEARING_H

#include "common.h"

typedef struct store_clearing store_clearing;

/* Opens (creating) the database at path. *out is owned by the caller (store_clearing_close;
 * NULL does nothing). */
int store_clearing_open(const char *path, store_clearing **out, char *err, size_t err_len);
void store_clearing_close(store_clearing *s);

/* A transaction around several writes (each write outside one commits by itself). */
int store_clearing_begin(store_clearing *s);
int store_clearing_commit(store_clearing *s);
void store_clearing_rollback(store_clearing *s);

/* Named integers (the scan's position, the last cycle, settings). 0 with *out, 1 when the
 * key is absent, -1 on error. */
int store_clearing_get_int(store_clearing *s, const char *key, int64_t *out);
int store_clearing_set_int(store_clearing *s, const char *key, int64_t v);

/* ---- The index derived from the journal ---- */

struct store_clearing_hold {
    jz_id id, debit, credit;
    uint16_t from, to, mcc;
    int64_t amount;
};

/* Inserts, or leaves an existing row as it is (the facts never change). */
int store_clearing_put_institution(store_clearing *s, uint32_t index, const char *id);
int store_clearing_put_wallet(store_clearing *s, const jz_id *id, uint16_t inst, uint8_t kind,
                              uint16_t mcc);
int store_clearing_put_hold(store_clearing *s, const struct store_clearing_hold *h);

/* Reads the whole index back, calling each function per row (any may be NULL); a nonzero
 * return stops and is returned. */
struct store_clearing_loader {
    int (*institution)(void *ctx, uint32_t index, const char *id);
    int (*wallet)(void *ctx, const jz_id *id, uint16_t inst, uint8_t kind, uint16_t mcc);
    int (*hold)(void *ctx, const struct store_clearing_hold *h);
    void *ctx;
};
int store_clearing_load(store_clearing *s, const struct store_clearing_loader *l);

/* ---- Documents ---- */

/* Inserts or replaces (kind, key). sig may be NULL. */
int store_clearing_put_doc(store_clearing *s, const char *kind, const char *key, const void *body,
                           size_t len, const void *sig, size_t sig_len);
/* 0 with *body (NUL-terminated, malloc'd: caller frees) and, when sig is not NULL, *sig
 * (malloc'd, NULL when none); 1 when absent; -1 on error. */
int store_clearing_get_doc(store_clearing *s, const char *kind, const char *key, char **body,
                           size_t *len, uint8_t **sig, size_t *sig_len);
/* Documents of a kind whose key starts with prefix, keys descending, those below `before`
 * only (NULL: from the greatest), at most limit. fn gets each (its body is valid during the
 * call); a nonzero return stops and is returned. */
typedef int (*store_clearing_doc_fn)(void *ctx, const char *key, const char *body, size_t len);
int store_clearing_list_docs(store_clearing *s, const char *kind, const char *prefix,
                             const char *before, uint32_t limit, store_clearing_doc_fn fn,
                             void *ctx);

#endif
