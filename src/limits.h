/*
 * limits.h: every fixed limit of jiaozi, each with the reason for its value.
 * Limits that a deployment sizes (wallets, transfers kept in memory) live in the
 * configuration instead; these are the ones the formats and protocols depend on.
 */
#ifndef JZ_LIMITS_H
#define JZ_LIMITS_H

/* Commands in one executor batch: DESIGN.md §3. 8,190 transfers of 64 bytes plus the
 * record header fit in half a megabyte, which the disk syncs in well under a millisecond. */
#define JZ_BATCH_MAX 8190

/* API.md: 1 <= amount <= 9e15 fen. Leaves headroom below INT64_MAX (9.22e18) so that a
 * thousand maximal amounts cannot overflow a sum. */
#define JZ_AMOUNT_MAX 9000000000000000LL

/* API.md: institution ids are 1-16 characters [a-z0-9_]. */
#define JZ_INSTITUTION_ID_MAX 16

/* Institutions a node serves. The pilots have a handful of operators; a few hundred leaves
 * room for payment institutions without making the per-institution arrays large. */
#define JZ_INSTITUTIONS_MAX 256

/* An institution's display name, in bytes of UTF-8. */
#define JZ_NAME_MAX 64

/* A transfer's reference (order, bill or voucher id) and memo, in bytes of UTF-8. Both are
 * journalled with the transfer, so they are kept short: 64 holds any order number in use,
 * 140 a short message. The in-memory idempotency table keeps only a fingerprint of them. */
#define JZ_REF_MAX 64
#define JZ_MEMO_MAX 140

/* A wallet holder's identity record (DESIGN.md §8), sealed before it reaches the journal:
 * three length-prefixed fields (name <= 64, ID number <= 32, phone <= 20 bytes) plus the
 * seal's 48 bytes. */
#define JZ_HOLDER_NAME_MAX 64
#define JZ_HOLDER_ID_NUMBER_MAX 32
#define JZ_HOLDER_PHONE_MAX 20
#define JZ_HOLDER_PLAIN_MAX (3 + JZ_HOLDER_NAME_MAX + JZ_HOLDER_ID_NUMBER_MAX + JZ_HOLDER_PHONE_MAX)
#define JZ_HOLDER_SEALED_MAX (JZ_HOLDER_PLAIN_MAX + 48)

/* Idempotency: DESIGN.md §2 asks for at least 7 days. */
#define JZ_IDEMPOTENCY_WINDOW_MS (7LL * 24 * 3600 * 1000)

/* A hold may reserve money for at most 30 days: longer belongs in an escrow wallet. */
#define JZ_HOLD_TIMEOUT_MAX_MS (30LL * 24 * 3600 * 1000)

/* Journal: one record (batch) is at most this many bytes, and a segment is large enough to
 * hold many. Segments are pre-zeroed so fdatasync never has to allocate (DESIGN.md §10). */
#define JZ_JOURNAL_RECORD_MAX (8u << 20)
#define JZ_JOURNAL_SEGMENT_BYTES_DEFAULT (64u << 20)

/* Every this many batch records the journal writes a checkpoint signed with the node's SM2
 * key: frequent enough that an auditor's proof is recent, rare enough that the ~1 ms
 * signature costs nothing at full load. */
#define JZ_CHECKPOINT_EVERY_DEFAULT 256

#endif
