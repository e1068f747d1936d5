/*
 * clearing_cycle.h: clearing cycles derived from the durable journal (DESIGN.md §7;
 * docs/clearing.md).
 *
 * A cut-off is a note (LEDGER_NOTE_CLEARING, type CLEARING_NOTE_CUTOFF) journalled like any
 * command. Its place in the journal, pos = seq << 16 | index of the command in its record,
 * is the cycle's boundary: cycle N is every command strictly between the cut-off of cycle
 * N-1 and its own. So every posted transfer lands in exactly one cycle, under any load, and
 * a cycle re-derived from the journal (after a crash, or to list its items) is the same.
 *
 * Why the journal and not the history store: the journal is the source of truth and is
 * durable before anything is acknowledged; the history store is derived, may lag, and keeps
 * neither the wallets' categories nor the exact boundary a cut-off falls on within a record.
 * The engine reads it as the projector does (journal_reader + command_payload_walk) and counts
 * only commands whose journalled result is ok and not an idempotent replay. It keeps an
 * index of wallets (institution, kind, category) and of holds between institutions, which
 * outlive cycles, in memory and in the store.
 *
 * Closing a cycle nets its items (clearing.h), writes a settlement file per institution (CSV
 * and JSON, each SM2-signed with the node's key) and stores everything with the new boundary
 * in one transaction: after a crash either the cycle is closed or its note is found again by
 * the next catch-up. Not thread-safe: the caller serialises every call.
 */
#ifndef JZ_CLEARING_CYCLE_H
#define JZ_CLEARING_CYCLE_H

#include "clearing.h"
#include "crypto.h"
#include "executor.h"
#include "ledger.h"
#include "store_clearing.h"

/* What a LEDGER_NOTE_CLEARING note's first data byte says (journalled: never renumber). */
enum clearing_note_type {
    CLEARING_NOTE_CUTOFF = 1,    /* [1][trigger][fee schedule SM3 x32]; amount = cycle asked */
    CLEARING_NOTE_FEES = 2,      /* [2][SM3 x32]: a new fee schedule is in force */
    CLEARING_NOTE_SCHEDULE = 3,  /* [3][every_ms i64][daily_at_min i32]: cut-off schedule */
    CLEARING_NOTE_RECONCILE = 4, /* [4][report SM3 x32][4 x u32 counts]; amount = cycle */
    CLEARING_NOTE_ADJUST = 5,    /* [5][credit x16][amount i64][reason]; id adj, other debit */
    CLEARING_NOTE_APPROVE = 6,   /* [6][role]; id adjustment, amount = approver's index */
    CLEARING_NOTE_DISPUTE = 7,   /* [7][transfer x16][amount i64][reason]; id dispute */
    CLEARING_NOTE_DECIDE = 8,    /* [8][1 accept | 2 reject][reason]; id dispute */
};
#define CLEARING_NOTE_CUTOFF_BYTES 34

/* Fills c with the cut-off note of cycle (the one it closes), by central, naming the fee
 * schedule sm3 and the trigger (CLEARING_TRIGGER_*). */
void clearing_cutoff_note(struct ledger_cmd *c, uint8_t trigger, const uint8_t sm3[32],
                          uint64_t cycle);

/* Journals a cut-off note through ex and waits until it is durable (waiting for room when
 * the queue is full). 0 when it is, -1 when the node failed or refused it. */
int clearing_cutoff_submit(executor *ex, uint8_t trigger, const uint8_t sm3[32], uint64_t cycle);

typedef struct clearing_engine clearing_engine;

/* Loads the index and the position from st (borrowed until clearing_engine_free) for the
 * journal of data directory dir. A store without a fee schedule gets the default one. */
int clearing_engine_open(const char *dir, store_clearing *st, clearing_engine **out, char *err,
                         size_t err_len);
void clearing_engine_free(clearing_engine *e);

/* A cut-off about to be journalled (set, durably, before the note is submitted) or done.
 * At start, a set mark means a note may be in the journal without its cycle: catch up. */
int clearing_engine_set_pending(clearing_engine *e, bool pending);
bool clearing_engine_pending(const clearing_engine *e);

/*
 * Reads the journal from the end of the last closed cycle up to record to_seq (durable),
 * closing a cycle at each cut-off note, with files signed by key. *closed counts them.
 * 0, or -1 with err (the journal is unreadable, a note names an unknown fee schedule, the
 * store failed); what was closed before the failure stays closed.
 */
int clearing_engine_catch_up(clearing_engine *e, uint64_t to_seq, const crypto_sm2_key *key,
                             uint64_t *closed, char *err, size_t err_len);

uint64_t clearing_engine_last_cycle(const clearing_engine *e);
int64_t clearing_engine_last_closed_at(const clearing_engine *e);

/* A closed cycle's figures. 0, 1 when there is no such cycle, -1 on a store error. */
int clearing_engine_cycle_info(clearing_engine *e, uint64_t id, struct clearing_cycle_info *out);

/* The fee schedule in force for the next cut-off, and its SM3. */
const struct clearing_schedule *clearing_engine_fees(const clearing_engine *e, uint8_t sm3[32]);
/* Stores s and puts it in force for the next cut-off; writes its SM3. */
int clearing_engine_set_fees(clearing_engine *e, const struct clearing_schedule *s,
                             uint8_t sm3[32]);
/* A schedule by its SM3 (0, 1 unknown, -1 error). */
int clearing_engine_schedule(clearing_engine *e, const uint8_t sm3[32],
                             struct clearing_schedule *out);

/* The items of a closed cycle, re-derived from the journal in journal order: those where
 * institution inst is a party, or all when inst < 0. *items is malloc'd (caller frees). */
int clearing_engine_items(clearing_engine *e, const struct clearing_cycle_info *cy, int inst,
                          struct clearing_item **items, size_t *n, char *err, size_t err_len);

/*
 * A file of a closed cycle for an institution: ext "csv" or "json" (the settlement files,
 * made at the close) or "items.csv" (the item detail, made and signed on first request).
 * 0 with *body and *sig (malloc'd: caller frees both), 1 when there is no such file, -1 with
 * err on failure.
 */
int clearing_engine_file(clearing_engine *e, uint64_t cycle, uint32_t inst, const char *ext,
                         const crypto_sm2_key *key, char **body, size_t *len, uint8_t **sig,
                         size_t *sig_len, char *err, size_t err_len);

/* Institutions as the journal numbered them (0 = central). */
uint32_t clearing_engine_institutions(const clearing_engine *e);
const char *clearing_engine_institution(const clearing_engine *e, uint32_t index);
int clearing_engine_institution_index(const clearing_engine *e, const char *id);

/* The store the engine writes (for the module's own documents). */
store_clearing *clearing_engine_store(clearing_engine *e);

/* Document keys: a cycle's number zero-padded so keys sort as numbers. */
#define CLEARING_CYCLE_KEY_FMT "%020llu"

#endif
