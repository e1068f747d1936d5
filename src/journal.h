/*
 * journal.h: the source of truth (DESIGN.md §3). An append-only sequence of records in
 * segment files; each record carries a CRC32C of itself and the SM3 hash of the record
 * before it, so any change to history breaks the chain; every `checkpoint_every` batch
 * records a checkpoint record signed with the node's SM2 key lets an auditor verify the
 * chain with nothing but the public key.
 *
 * On disk (all integers little-endian):
 *   DIR/journal/SSSSSSSSSSSSSSSSSSSS.seg   segment whose first record has seq S (20 digits),
 *                                          pre-zeroed to segment_bytes before first use
 *   record = header (96 bytes) + payload (size bytes), records back to back
 *   header: magic u32 "JZJ1" | crc32c u32 over bytes [8, 96+size) | size u32 | type u16 |
 *           version u16 (1) | seq u64 | timestamp_ms i64 | count u32 | reserved u32 (0) |
 *           prev_hash [32] | reserved [24] (0)
 *   hash(record) = SM3(bytes [8, 96+size) of the record); record n's prev_hash is
 *   hash(record n-1), zeros for seq 1.
 *   type 1 = batch (payload: `count` encoded commands, opaque to this module)
 *   type 2 = checkpoint (payload: seq u64 and hash [32] of the record it follows, then
 *            sig_len u16 and the SM2 signature (DER, signer id 1234567812345678) over
 *            "JZCP" || seq || hash; count = 0)
 *   A zero magic where a header should start is the end of the segment's records.
 *
 * Durability: journal_sync returns 0 only after fdatasync of everything written; a new
 * segment's file and its directory are fsync'd before it is used. After any write or sync
 * failure the journal is dead: every later call fails, and the node must stop without
 * acknowledging (no retry on the same file: the kernel may have dropped the dirty pages).
 *
 * Recovery (journal_open): reads the segments in order. A record that fails its checks at
 * the very end of the last segment (nothing but zeros after the extent it claims, or after
 * it if its header is unreadable) is a torn write: the segment is truncated there (zeroed)
 * and recovery goes on. Any other damage (bad CRC, broken chain, seq gap, bad magic) stops
 * recovery with an error naming the file and byte offset. Never a silent repair.
 */
#ifndef JZ_JOURNAL_H
#define JZ_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "io.h"

#define JOURNAL_HEADER_BYTES 96
#define JOURNAL_MAGIC 0x314a5a4au /* "JZJ1" little-endian */
#define JOURNAL_TYPE_BATCH 1
#define JOURNAL_TYPE_CHECKPOINT 2

struct journal_config {
    const char *dir;            /* data directory; segments live in dir/journal */
    uint32_t segment_bytes;     /* 0 = JZ_JOURNAL_SEGMENT_BYTES_DEFAULT */
    uint32_t checkpoint_every;  /* batch records between checkpoints; 0 = never */
    const struct io_ops *io;    /* NULL = io_posix */
    const crypto_sm2_key *sign_key; /* needed when checkpoint_every > 0; borrowed */
};

struct journal_record {
    uint16_t type;
    uint64_t seq;
    int64_t timestamp_ms;
    uint32_t count;
    const uint8_t *payload; /* valid only during the callback */
    uint32_t size;
};

/* Called for each batch record with seq >= from_seq, in order; a nonzero return stops
 * journal_open, which then fails with that message. */
typedef int (*journal_replay_fn)(void *ctx, const struct journal_record *rec);

typedef struct journal journal;

/* Creates dir/journal with its first segment. Fails if a journal already exists. */
int journal_create(const struct journal_config *cfg, char *err, size_t err_len);

/*
 * Opens and recovers the journal. Records with seq < from_seq are checked only by CRC and
 * seq (they are covered by a snapshot); from from_seq on the SM3 chain is checked too,
 * starting from from_prev_hash (the hash of record from_seq-1; NULL means zeros, for
 * from_seq == 1), and each batch record is passed to replay. from_seq may be head+1 (a
 * snapshot of the last record): nothing is replayed then. On success *out is an open
 * journal positioned after the last record; the caller owns it (journal_close).
 * On failure a message naming file and offset is written to err.
 */
int journal_open(const struct journal_config *cfg, uint64_t from_seq,
                 const uint8_t from_prev_hash[CRYPTO_SM3_BYTES], journal_replay_fn replay,
                 void *ctx, journal **out, char *err, size_t err_len);

/* Appends one batch record (not yet durable). Adds a checkpoint record after every
 * checkpoint_every batch records. Returns the batch record's seq via *seq_out. */
int journal_write(journal *j, int64_t timestamp_ms, uint32_t count, const void *payload,
                  uint32_t size, uint64_t *seq_out);
/* Makes every record written so far durable (fdatasync). 0 = durable. */
int journal_sync(journal *j);
/* journal_write + journal_sync. */
int journal_append(journal *j, int64_t timestamp_ms, uint32_t count, const void *payload,
                   uint32_t size, uint64_t *seq_out);

/* seq and hash of the last record (0 and zeros for an empty journal). */
uint64_t journal_head_seq(const journal *j);
void journal_head_hash(const journal *j, uint8_t out[CRYPTO_SM3_BYTES]);
/* True after a write or sync failure. */
int journal_is_dead(const journal *j);
/* Closes files; journal_close(NULL) does nothing. Does not sync. */
void journal_close(journal *j);

/* Audit: verifies every record of dir's journal (CRC, seq, chain) and every checkpoint's
 * signature with pub (a public key is enough). Fills *report. Returns 0 when everything
 * verifies; -1 with the first fault (file and offset) in err otherwise. A torn tail is a
 * fault here too (audit reads, never repairs), reported as such. */
struct journal_verify_report {
    uint64_t records;
    uint64_t batches;
    uint64_t checkpoints;
    uint64_t commands;
    uint64_t head_seq;
    uint8_t head_hash[CRYPTO_SM3_BYTES];
    uint64_t last_checkpoint_seq; /* seq of the record the last checkpoint covers */
    int64_t head_timestamp_ms;
};
int journal_verify(const char *dir, const crypto_sm2_key *pub,
                   struct journal_verify_report *report, char *err, size_t err_len);

/* A read-only reader that follows a live journal (the history projector's input). It reads
 * only records the caller knows to be durable, so it never meets a record in flight.
 * Records are CRC- and sequence-checked; the hash chain is the audit's business. */
typedef struct journal_reader journal_reader;
/* Positions at from_seq (>= 1): whole segments before it are skipped, records before it in
 * its segment are stepped over. */
int journal_reader_open(const char *dir, uint64_t from_seq, journal_reader **out, char *err,
                        size_t err_len);
/* Returns 1 and the next record (of any type) if its seq <= durable_seq, 0 when there is no
 * such record yet, -1 on damage (err names file and offset). rec->payload stays valid until
 * the next call. */
int journal_reader_next(journal_reader *r, uint64_t durable_seq, struct journal_record *rec,
                        char *err, size_t err_len);
/* The seq the next call will return. */
uint64_t journal_reader_position(const journal_reader *r);
void journal_reader_close(journal_reader *r);

#endif
