/*
 * command.c: encoding and decoding of ledger commands for the journal (see command.h).
 */
#include "command.h"

#define HEADER_BYTES 8
#define OPEN_FIXED_BYTES (HEADER_BYTES + 40)
/* The restriction block of a WALLET_OPEN (command.h). */
#define OPEN_RESTRICTED 0x01u
#define RESTRICTION_BYTES (16 + 8 + 2 + 2 * JZ_RESTRICTION_MCCS_MAX)
_Static_assert(OPEN_FIXED_BYTES + RESTRICTION_BYTES + 1 + JZ_HOLDER_SEALED_MAX <= COMMAND_BYTES_MAX,
               "a restricted wallet open with its holder record fits");

bool command_valid_lengths(const struct ledger_cmd *c)
{
    return c->ref_len <= JZ_REF_MAX && c->memo_len <= JZ_MEMO_MAX &&
           c->name_len <= JZ_NAME_MAX && c->holder_len <= JZ_HOLDER_SEALED_MAX &&
           c->mcc_count <= JZ_RESTRICTION_MCCS_MAX;
}

static size_t encode_transfer(const struct ledger_cmd *c, uint8_t *out)
{
    size_t n = HEADER_BYTES;
    out[6] = c->kind;
    out[7] = c->ref_len;
    memcpy(out + n, c->id.b, 16);
    memcpy(out + n + 16, c->debit.b, 16);
    memcpy(out + n + 32, c->credit.b, 16);
    put_u64(out + n + 48, (uint64_t)c->amount);
    n += 56;
    if (c->op == LEDGER_OP_HOLD_CREATE) {
        put_u64(out + n, (uint64_t)c->timeout_ms);
        n += 8;
    }
    if (c->ref_len > 0 || c->memo_len > 0) {
        size_t ref_len = c->ref_len;
        size_t memo_len = c->memo_len;
        out[n++] = (uint8_t)memo_len;
        memcpy(out + n, c->ref, ref_len);
        n += ref_len;
        memcpy(out + n, c->memo, memo_len);
        n += memo_len;
    }
    return n;
}

/* Any restriction field set, valid or not: the journal must carry what the ledger judged. */
static bool has_restriction(const struct ledger_cmd *c)
{
    return c->expires_at != 0 || c->mcc_count != 0 || !jz_id_is_zero(&c->return_to);
}

static size_t encode_restriction(const struct ledger_cmd *c, uint8_t *out)
{
    memcpy(out, c->return_to.b, 16);
    put_u64(out + 16, (uint64_t)c->expires_at);
    out[24] = c->mcc_count;
    out[25] = 0;
    for (int i = 0; i < JZ_RESTRICTION_MCCS_MAX; i++) {
        put_u16(out + 26 + 2 * i, i < c->mcc_count ? c->mccs[i] : 0);
    }
    return RESTRICTION_BYTES;
}

size_t command_encode(const struct ledger_cmd *c, uint8_t *out)
{
    /* Lengths beyond the arrays cannot be journalled faithfully: command_valid_lengths
     * keeps them out of the executor. */
    ASSERT(command_valid_lengths(c));
    size_t n = HEADER_BYTES;
    out[0] = c->op;
    out[1] = c->flags;
    put_u16(out + 4, c->actor);
    out[6] = 0;
    out[7] = 0;
    switch (c->op) {
    case LEDGER_OP_TRANSFER:
    case LEDGER_OP_HOLD_CREATE:
        n = encode_transfer(c, out);
        break;
    case LEDGER_OP_GENESIS:
    case LEDGER_OP_INSTITUTION_CREATE: {
        size_t name_len = c->name_len;
        out[6] = c->kind;
        out[7] = (uint8_t)name_len;
        memcpy(out + n, c->inst.s, 16);
        memcpy(out + n + 16, c->debit.b, 16);
        memcpy(out + n + 32, c->key_id.b, 16);
        memcpy(out + n + 48, c->sealed, LEDGER_SEALED_BYTES);
        n += 48 + LEDGER_SEALED_BYTES;
        memcpy(out + n, c->name, name_len);
        n += name_len;
        break;
    }
    case LEDGER_OP_WALLET_OPEN:
        out[6] = c->kind;
        out[7] = c->tier;
        memcpy(out + n, c->id.b, 16);
        memcpy(out + n + 16, c->credit.b, 16);
        out[n + 32] = c->form;
        out[n + 33] = has_restriction(c) ? OPEN_RESTRICTED : 0;
        put_u16(out + n + 34, c->mcc);
        put_u32(out + n + 36, 0);
        n += 40;
        if (has_restriction(c)) {
            n += encode_restriction(c, out + n);
        }
        if (c->holder_len > 0) {
            out[n++] = c->holder_len;
            memcpy(out + n, c->holder, c->holder_len);
            n += c->holder_len;
        }
        break;
    case LEDGER_OP_WALLET_UPDATE:
    case LEDGER_OP_WALLET_CLOSE:
        out[6] = c->tier;
        out[7] = c->status;
        memcpy(out + n, c->id.b, 16);
        n += 16;
        break;
    case LEDGER_OP_NOTE:
        out[6] = c->kind;
        out[7] = c->holder_len;
        memcpy(out + n, c->id.b, 16);
        memcpy(out + n + 16, c->debit.b, 16);
        put_u64(out + n + 32, (uint64_t)c->amount);
        n += 40;
        memcpy(out + n, c->holder, c->holder_len);
        n += c->holder_len;
        break;
    default: /* HOLD_CAPTURE, HOLD_VOID and anything unknown keep id and amount */
        memcpy(out + n, c->id.b, 16);
        put_u64(out + n + 16, (uint64_t)c->amount);
        n += 24;
        break;
    }
    ASSERT(n <= COMMAND_BYTES_MAX);
    put_u16(out + 2, (uint16_t)n);
    return n;
}

static size_t decode_transfer(const uint8_t *in, size_t size, struct ledger_cmd *c)
{
    size_t fixed = HEADER_BYTES + 56 + (c->op == LEDGER_OP_HOLD_CREATE ? 8 : 0);
    if (size < fixed) {
        return 0;
    }
    c->kind = in[6];
    memcpy(c->id.b, in + 8, 16);
    memcpy(c->debit.b, in + 24, 16);
    memcpy(c->credit.b, in + 40, 16);
    c->amount = (int64_t)get_u64(in + 56);
    if (c->op == LEDGER_OP_HOLD_CREATE) {
        c->timeout_ms = (int64_t)get_u64(in + 64);
    }
    if (size == fixed) {
        return in[7] == 0 ? size : 0;
    }
    size_t ref_len = in[7];
    size_t memo_len = in[fixed];
    if (ref_len > JZ_REF_MAX || memo_len > JZ_MEMO_MAX || size != fixed + 1 + ref_len + memo_len) {
        return 0;
    }
    c->ref_len = (uint8_t)ref_len;
    c->memo_len = (uint8_t)memo_len;
    memcpy(c->ref, in + fixed + 1, ref_len);
    memcpy(c->memo, in + fixed + 1 + ref_len, memo_len);
    return size;
}

/* WALLET_OPEN: the fixed part, the restriction block when flagged (records written before
 * restrictions existed have the flag byte zero), then an optional holder record. */
static size_t decode_wallet_open(const uint8_t *in, size_t size, struct ledger_cmd *c)
{
    uint8_t flags = in[41];
    size_t at = OPEN_FIXED_BYTES + ((flags & OPEN_RESTRICTED) ? RESTRICTION_BYTES : 0);
    if ((flags & ~OPEN_RESTRICTED) != 0 || size < at) {
        return 0;
    }
    if (size != at && (size < at + 2 || in[at] == 0 || in[at] > JZ_HOLDER_SEALED_MAX ||
                       size != at + 1 + in[at])) {
        return 0;
    }
    c->kind = in[6];
    c->tier = in[7];
    memcpy(c->id.b, in + 8, 16);
    memcpy(c->credit.b, in + 24, 16);
    c->form = in[40];
    c->mcc = get_u16(in + 42);
    if (flags & OPEN_RESTRICTED) {
        const uint8_t *r = in + OPEN_FIXED_BYTES;
        memcpy(c->return_to.b, r, 16);
        c->expires_at = (int64_t)get_u64(r + 16);
        c->mcc_count = r[24];
        if (c->mcc_count > JZ_RESTRICTION_MCCS_MAX) {
            return 0;
        }
        for (int i = 0; i < c->mcc_count; i++) {
            c->mccs[i] = get_u16(r + 26 + 2 * i);
        }
    }
    if (size > at) {
        c->holder_len = in[at];
        memcpy(c->holder, in + at + 1, c->holder_len);
    }
    return size;
}

static size_t decode_body(const uint8_t *in, size_t size, struct ledger_cmd *c)
{
    switch (c->op) {
    case LEDGER_OP_TRANSFER:
    case LEDGER_OP_HOLD_CREATE:
        return decode_transfer(in, size, c);
    case LEDGER_OP_GENESIS:
    case LEDGER_OP_INSTITUTION_CREATE:
        if (in[7] > JZ_NAME_MAX || size != HEADER_BYTES + 48u + LEDGER_SEALED_BYTES + in[7]) {
            return 0;
        }
        c->kind = in[6];
        c->name_len = in[7];
        memcpy(c->inst.s, in + 8, 16);
        memcpy(c->debit.b, in + 24, 16);
        memcpy(c->key_id.b, in + 40, 16);
        memcpy(c->sealed, in + 56, LEDGER_SEALED_BYTES);
        memcpy(c->name, in + 56 + LEDGER_SEALED_BYTES, c->name_len);
        return size;
    case LEDGER_OP_WALLET_OPEN:
        return decode_wallet_open(in, size, c);
    case LEDGER_OP_WALLET_UPDATE:
    case LEDGER_OP_WALLET_CLOSE:
        if (size != HEADER_BYTES + 16) {
            return 0;
        }
        c->tier = in[6];
        c->status = in[7];
        memcpy(c->id.b, in + 8, 16);
        return size;
    case LEDGER_OP_HOLD_CAPTURE:
    case LEDGER_OP_HOLD_VOID:
        if (size != HEADER_BYTES + 24) {
            return 0;
        }
        memcpy(c->id.b, in + 8, 16);
        c->amount = (int64_t)get_u64(in + 24);
        return size;
    case LEDGER_OP_NOTE:
        if (in[7] > JZ_HOLDER_SEALED_MAX || size != HEADER_BYTES + 40u + in[7]) {
            return 0;
        }
        c->kind = in[6];
        c->holder_len = in[7];
        memcpy(c->id.b, in + 8, 16);
        memcpy(c->debit.b, in + 24, 16);
        c->amount = (int64_t)get_u64(in + 40);
        memcpy(c->holder, in + 48, c->holder_len);
        return size;
    default:
        return 0;
    }
}

size_t command_decode(const uint8_t *in, size_t len, struct ledger_cmd *c)
{
    if (len < HEADER_BYTES) {
        return 0;
    }
    size_t size = get_u16(in + 2);
    if (size < HEADER_BYTES || size > len || size > COMMAND_BYTES_MAX) {
        return 0;
    }
    memset(c, 0, sizeof *c);
    c->op = in[0];
    c->flags = in[1];
    c->actor = get_u16(in + 4);
    return decode_body(in, size, c);
}

int command_payload_walk(const uint8_t *payload, size_t size, uint32_t count,
                         struct ledger_cmd *scratch, command_group_fn fn, void *ctx)
{
    size_t off = 0;
    uint32_t seen = 0;
    while (off < size) {
        if (size - off < COMMAND_GROUP_HEADER_BYTES) {
            return -1;
        }
        uint32_t n = get_u32(payload + off);
        off += COMMAND_GROUP_HEADER_BYTES;
        if (n == 0 || n > JZ_BATCH_MAX || n > count - seen) {
            return -1;
        }
        for (uint32_t k = 0; k < n; k++) {
            size_t used = command_decode(payload + off, size - off, &scratch[k]);
            if (used == 0) {
                return -1;
            }
            off += used;
        }
        if (size - off < (size_t)n * COMMAND_RESULT_BYTES) {
            return -1;
        }
        int rc = fn(ctx, scratch, payload + off, n);
        if (rc != 0) {
            return rc;
        }
        off += (size_t)n * COMMAND_RESULT_BYTES;
        seen += n;
    }
    return seen == count ? 0 : -1;
}
