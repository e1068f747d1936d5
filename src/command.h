/*
 * command.h: the journal's encoding of ledger commands.
 *
 * A batch record's payload is a sequence of groups, one per executor request:
 *   group = count u32 | count encoded commands | count results (code u8, field u8 with
 *           bit 7 set for an idempotent replay, which changed nothing)
 * Groups keep request boundaries, so a linked chain left open at the end of one request
 * never joins the next on replay. The results make the journal self-describing (the
 * history projector and an auditor read outcomes without re-running the ledger) and let
 * recovery check that replay reproduces them exactly. Each command starts with an 8-byte header
 *   op u8 | flags u8 | size u16 (bytes of the whole command) | actor u16 | a u8 | b u8
 * followed by a body that depends on op (all integers little-endian):
 *   TRANSFER        a=kind b=ref_len | id 16 | debit 16 | credit 16 | amount i64
 *                   [| memo_len u8 | ref | memo ]   (present when ref_len or memo_len > 0)
 *   HOLD_CREATE     as TRANSFER, then timeout_ms i64 before the optional part
 *   GENESIS, INSTITUTION_CREATE  a=kind b=name_len | inst 16 | treasury 16 | key_id 16 |
 *                   sealed secret 80 | name
 *   WALLET_OPEN     a=kind b=tier | id 16 | parent 16 | form u8 | flags u8 | mcc u16 | 0 u32
 *                   [| return_to 16 | expires_at i64 | mcc_count u8 | 0 u8 | 8 x mcc u16]
 *                   [| holder_len u8 | sealed holder record]
 *                   flags bit 0: the restriction block is present (any of its fields set).
 *                   Records from before restrictions have flags 0 and decode as they did;
 *                   unknown flag bits are refused. Unused mcc slots are zero.
 *   WALLET_UPDATE, WALLET_CLOSE  a=tier b=status | id 16
 *   HOLD_CAPTURE, HOLD_VOID      | id 16 | amount i64
 *   NOTE            a=topic b=data_len | id 16 | debit 16 | amount i64 | data
 * A plain transfer is 64 bytes. Decoding checks every size and refuses what does not fit.
 */
#ifndef JZ_COMMAND_H
#define JZ_COMMAND_H

#include "ledger.h"

/* Largest encoding of one command. */
#define COMMAND_BYTES_MAX (8 + 16 * 3 + 8 + 8 + 1 + JZ_REF_MAX + JZ_MEMO_MAX)
_Static_assert(8 + 40 + 1 + JZ_HOLDER_SEALED_MAX <= COMMAND_BYTES_MAX,
               "a wallet open with its holder record fits");

/* True when the string lengths of c fit its arrays (a precondition of command_encode). */
bool command_valid_lengths(const struct ledger_cmd *c);

/* Encodes c into out (at least COMMAND_BYTES_MAX bytes); returns the bytes written. */
size_t command_encode(const struct ledger_cmd *c, uint8_t *out);

/* Decodes one command from in[0..len); returns the bytes consumed, or 0 when the bytes are
 * not a well-formed command. *c is fully written (zeroed first) on success. */
size_t command_decode(const uint8_t *in, size_t len, struct ledger_cmd *c);

#define COMMAND_REPLAYED_BIT 0x80u
_Static_assert(LEDGER_FIELD_COUNT < COMMAND_REPLAYED_BIT, "field numbers leave bit 7 free");

/* The second journalled byte of a result: its field, and whether it was a replay. */
static inline uint8_t command_result_byte(const struct ledger_result *r)
{
    return (uint8_t)(r->field | (r->replayed ? COMMAND_REPLAYED_BIT : 0));
}

#define COMMAND_GROUP_HEADER_BYTES 4
#define COMMAND_RESULT_BYTES 2

/* Walks a batch record's payload: for each group, decodes its commands into scratch (room
 * for JZ_BATCH_MAX) and calls fn with them and their journalled results (n pairs of code,
 * field). Returns 0, -1 when the payload is malformed or does not hold `count` commands, or
 * the first nonzero value fn returned. */
typedef int (*command_group_fn)(void *ctx, const struct ledger_cmd *cmds,
                                const uint8_t *results, uint32_t n);
int command_payload_walk(const uint8_t *payload, size_t size, uint32_t count,
                         struct ledger_cmd *scratch, command_group_fn fn, void *ctx);

/* Little-endian helpers shared by the storage modules. */
static inline void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}
static inline void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}
static inline uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

#endif
