/*
 * common.h: definitions every jiaozi module shares.
 *
 * The 128-bit id type, the always-on ASSERT, overflow-checked arithmetic and the table of
 * result codes. Result codes are the stable snake_case names of the HTTP contract
 * (shared/API.md); their numbers are written into the journal and never renumbered: add new
 * codes at the end. This header depends on nothing but libc.
 */
#ifndef JZ_COMMON_H
#define JZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ASSERT stays on in release builds: it guards programmer errors and ledger invariants
 * (conservation, a hold resolves once), never input or I/O. */
#define ASSERT(cond)                                                                   \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "jiaozi: assertion failed: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                         \
            abort();                                                                   \
        }                                                                              \
    } while (0)

#define JZ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A 128-bit id (wallet, transfer, hold, card). Travels as 32 lowercase hex digits. */
typedef struct {
    uint8_t b[16];
} jz_id;

static inline bool jz_id_is_zero(const jz_id *id)
{
    static const jz_id zero;
    return memcmp(id, &zero, sizeof zero) == 0;
}

static inline bool jz_id_eq(const jz_id *a, const jz_id *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

/* A well-mixed 64-bit hash of an id, for hash tables and content fingerprints. Ids are
 * chosen by clients, so the table must not degrade on structured ids (counters, UUIDv7):
 * both halves go through a multiply-xorshift mixer. */
static inline uint64_t jz_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static inline uint64_t jz_id_hash(const jz_id *id)
{
    uint64_t lo;
    uint64_t hi;
    memcpy(&lo, id->b, 8);
    memcpy(&hi, id->b + 8, 8);
    return jz_mix64(lo ^ jz_mix64(hi + 0x9e3779b97f4a7c15ULL));
}

/* Hex: 32 lowercase digits, no terminator written by jz_id_to_hex beyond out[32]. */
void jz_id_to_hex(const jz_id *id, char out[33]);
/* Returns 0 and writes *out only for exactly 32 lowercase hex digits. */
int jz_id_from_hex(const char *s, size_t len, jz_id *out);
/* Lowercase hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void jz_hex_encode(const uint8_t *in, size_t n, char *out);
/* Decodes exactly 2n hex digits (either case). Returns 0 on success. */
int jz_hex_decode(const char *s, size_t len, uint8_t *out, size_t n);

/* Result codes. The number is journalled; the name is the API's `code`. Codes from 28 on
 * are the API layer's (parsing, authentication, load) and never reach the ledger. */
#define JZ_RESULT_CODES(X)                                        \
    X(JZ_OK, 0, "ok", 200)                                        \
    X(JZ_INVALID_FIELD, 1, "invalid_field", 400)                  \
    X(JZ_MISSING_FIELD, 2, "missing_field", 400)                  \
    X(JZ_ID_CONFLICT, 3, "id_conflict", 409)                      \
    X(JZ_ID_EXPIRED, 4, "id_expired", 422)                        \
    X(JZ_ALREADY_RESOLVED, 5, "already_resolved", 409)            \
    X(JZ_INSUFFICIENT_FUNDS, 6, "insufficient_funds", 422)        \
    X(JZ_BALANCE_CAP_EXCEEDED, 7, "balance_cap_exceeded", 422)    \
    X(JZ_PER_PAYMENT_LIMIT, 8, "per_payment_limit_exceeded", 422) \
    X(JZ_DAILY_LIMIT, 9, "daily_limit_exceeded", 422)             \
    X(JZ_ANNUAL_LIMIT, 10, "annual_limit_exceeded", 422)          \
    X(JZ_WALLET_FROZEN, 11, "wallet_frozen", 422)                 \
    X(JZ_WALLET_CLOSED, 12, "wallet_closed", 422)                 \
    X(JZ_WALLET_LOST, 13, "wallet_lost", 422)                     \
    X(JZ_WALLET_NOT_FOUND, 14, "wallet_not_found", 404)           \
    X(JZ_TRANSFER_NOT_FOUND, 15, "transfer_not_found", 404)       \
    X(JZ_NOT_FOUND, 16, "not_found", 404)                         \
    X(JZ_FORBIDDEN, 17, "forbidden", 403)                         \
    X(JZ_LINKED_FAILED, 18, "linked_failed", 422)                 \
    X(JZ_LINKED_OPEN, 19, "linked_chain_open", 422)               \
    X(JZ_OVERFLOW, 20, "overflow", 422)                           \
    X(JZ_CAPACITY_EXCEEDED, 21, "capacity_exceeded", 507)         \
    X(JZ_KIND_NOT_ALLOWED, 22, "kind_not_allowed", 422)           \
    X(JZ_BALANCE_NOT_ZERO, 23, "balance_not_zero", 422)           \
    X(JZ_RISK_DENIED, 24, "risk_denied", 422)                     \
    X(JZ_AMOUNT_EXCEEDS_HOLD, 25, "amount_exceeds_hold", 422)     \
    X(JZ_HOLD_NOT_FOUND, 26, "hold_not_found", 404)               \
    X(JZ_INSTITUTION_NOT_FOUND, 27, "institution_not_found", 404)   \
    X(JZ_INVALID_JSON, 28, "invalid_json", 400)                   \
    X(JZ_UNKNOWN_FIELD, 29, "unknown_field", 400)                 \
    X(JZ_BODY_TOO_LARGE, 30, "body_too_large", 400)               \
    X(JZ_UNAUTHENTICATED, 31, "unauthenticated", 401)             \
    X(JZ_BAD_SIGNATURE, 32, "bad_signature", 401)                 \
    X(JZ_STALE_TIMESTAMP, 33, "stale_timestamp", 401)             \
    X(JZ_REPLAYED_NONCE, 34, "replayed_nonce", 401)               \
    X(JZ_RATE_LIMITED, 35, "rate_limited", 429)                   \
    X(JZ_OVERLOADED, 36, "overloaded", 503)                       \
    X(JZ_ROUTE_NOT_FOUND, 37, "route_not_found", 404)             \
    X(JZ_METHOD_NOT_ALLOWED, 38, "method_not_allowed", 405)       \
    X(JZ_UNSUPPORTED_MEDIA_TYPE, 39, "unsupported_media_type", 415) \
    X(JZ_UNAVAILABLE, 40, "unavailable", 503)                     \
    X(JZ_APPROVER_REPEATED, 110, "approver_repeated", 409)        \
    X(JZ_APPROVER_SAME_ROLE, 111, "approver_same_role", 409)      \
    X(JZ_DISPUTE_EXISTS, 112, "dispute_exists", 409)              \
    X(JZ_CYCLE_FAILED, 113, "cycle_failed", 422)

enum jz_result {
#define JZ_X(name, num, str, http) name = num,
    JZ_RESULT_CODES(JZ_X)
#undef JZ_X
        JZ_RESULT_COUNT
};

/* Stable name of a result code ("insufficient_funds"); "unknown" for an unknown number. */
const char *jz_result_name(int code);
/* HTTP status that goes with a result code. */
int jz_result_http_status(int code);

/* Overflow-checked int64 arithmetic: returns true when the result overflowed. */
static inline bool jz_add_overflows(int64_t a, int64_t b, int64_t *out)
{
    return __builtin_add_overflow(a, b, out);
}

static inline bool jz_sub_overflows(int64_t a, int64_t b, int64_t *out)
{
    return __builtin_sub_overflow(a, b, out);
}

#endif
