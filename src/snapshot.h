/*
 * snapshot.h: the ledger's state at a journal record boundary, so that recovery replays
 * only the journal after it (DESIGN.md §3).
 *
 * File DIR/snapshots/SSSSSSSSSSSSSSSSSSSS.snap (S = seq of the last journal record the
 * state includes, 20 digits):
 *   header (64 bytes): magic "JZSN" u32 | version u32 (1) | seq u64 | state_bytes u64 |
 *          state_crc32c u32 | header_crc32c u32 (over the 64 bytes with this field 0) |
 *          hash [32] (SM3 chain hash of record seq)
 *   state: ledger_serialize's bytes
 * Written to a .tmp file, fsync'd, renamed into place, directory fsync'd: a crash leaves
 * either the old set of snapshots or the new one. The two newest are kept; older ones are
 * removed. The journal is kept whole (audit verify needs it from the first record), so a
 * snapshot never makes history unverifiable.
 */
#ifndef JZ_SNAPSHOT_H
#define JZ_SNAPSHOT_H

#include "crypto.h"
#include "io.h"
#include "ledger.h"

#define SNAPSHOT_KEEP 2

int snapshot_write(const char *dir, const struct io_ops *io, const ledger *l, uint64_t seq,
                   const uint8_t hash[CRYPTO_SM3_BYTES], char *err, size_t err_len);

/* Loads the newest snapshot that verifies into a new ledger made with cfg; older ones are
 * tried when a newer one is damaged (each skipped one is reported on stderr). With no
 * usable snapshot, *out is a fresh empty ledger and *seq = 0. Returns -1 only when a ledger
 * cannot be allocated or the snapshot directory cannot be read. */
int snapshot_load_newest(const char *dir, const struct ledger_config *cfg, ledger **out,
                         uint64_t *seq, uint8_t hash[CRYPTO_SM3_BYTES], char *err,
                         size_t err_len);

/* SM3 of ledger_serialize's bytes: the state hash used by replay-determinism checks. */
int snapshot_state_hash(const ledger *l, uint8_t out[CRYPTO_SM3_BYTES]);

#endif
