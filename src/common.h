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
/* "YYYY-MM-DD" of a day number (days since 1970-01-01, as ledger_day_of counts them), and
 * back: 0, or -1 for anything but a real date of 1970 or later ("2026-02-30" included). */
void jz_date_of_day(int32_t day, char out[11]);
int jz_day_of_date(const char *s, int32_t *day);

void jz_hex_encode(const uint8_t *in, size_t n, char *out);
/* Decodes exactly 2n hex digits (either case). Returns 0 on success. */
int jz_hex_decode(const char *s, size_t len, uint8_t *out, size_t n);

/* Result codes. The number is journalled; the name is the API's `code`. Codes 28-40 are the
 * API layer's (parsing, authentication, load) and never reach the ledger. 80-99 belong to
 * payment scenarios: 80 and 81 are the ledger's (restricted wallets, ledger.h), the others
 * the scenario module's (src/scenario*.c). */
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
    X(JZ_TOKEN_NOT_FOUND, 41, "token_not_found", 404)             \
    X(JZ_TOKEN_SUSPENDED, 42, "token_suspended", 422)             \
    X(JZ_TOKEN_DELETED, 43, "token_deleted", 422)                 \
    X(JZ_TOKEN_EXPIRED, 44, "token_expired", 422)                 \
    X(JZ_INVALID_PAN, 45, "invalid_pan", 400)                     \
    X(JZ_INVALID_EXPIRY, 46, "invalid_expiry", 400)               \
    X(JZ_TOKEN_WALLET_MISMATCH, 47, "token_wallet_mismatch", 422) \
    X(JZ_TOKEN_RANGE_EXHAUSTED, 48, "token_range_exhausted", 507) \
    X(JZ_ROTATION_IN_PROGRESS, 49, "rotation_in_progress", 409) \
    X(JZ_CARD_NOT_FOUND, 50, "card_not_found", 404)               \
    X(JZ_CARD_NOT_ACTIVE, 51, "card_not_active", 409)             \
    X(JZ_INVALID_CERTIFICATE, 52, "invalid_certificate", 422)     \
    X(JZ_INVALID_SIGNATURE, 53, "invalid_signature", 422)         \
    X(JZ_REVOKED, 54, "revoked", 422)                             \
    X(JZ_DOUBLE_SPEND, 55, "double_spend", 409)                   \
    X(JZ_INSUFFICIENT_FLOAT, 56, "insufficient_float", 422)       \
    X(JZ_DUPLICATE, 57, "duplicate", 200)                         \
    X(JZ_SETTLEMENT_WINDOW_OPEN, 58, "settlement_window_open", 409) \
    X(JZ_UNKNOWN_PAYEE, 59, "unknown_payee", 422)                 \
    X(JZ_INVALID_VOUCHER, 60, "invalid_voucher", 400) \
    X(JZ_INVALID_RULE_FILE, 65, "invalid_rule_file", 400)         \
    X(JZ_ALERT_NOT_FOUND, 66, "alert_not_found", 404)             \
    X(JZ_ALERT_CLOSED, 67, "alert_closed", 409)                   \
    X(JZ_DISCLOSURE_NOT_FOUND, 68, "disclosure_not_found", 404)   \
    X(JZ_LEGAL_BASIS_REQUIRED, 69, "legal_basis_required", 422)   \
    X(JZ_SECOND_APPROVER_REQUIRED, 70, "second_approver_required", 422) \
    X(JZ_WRONG_ROLE, 71, "wrong_role", 403)                       \
    X(JZ_DISCLOSURE_NOT_APPROVED, 72, "disclosure_not_approved", 409) \
    X(JZ_HOLDER_NOT_FOUND, 73, "holder_not_found", 404) \
    X(JZ_RESTRICTED_CATEGORY, 80, "restricted_category", 422)     \
    X(JZ_FUNDS_EXPIRED, 81, "funds_expired", 422)                 \
    X(JZ_QR_INVALID, 82, "qr_invalid", 422)                       \
    X(JZ_MERCHANT_NOT_FOUND, 83, "merchant_not_found", 404)       \
    X(JZ_ORDER_NOT_FOUND, 84, "order_not_found", 404)             \
    X(JZ_ORDER_EXPIRED, 85, "order_expired", 422)                 \
    X(JZ_ORDER_NOT_PAID, 86, "order_not_paid", 422)               \
    X(JZ_REFUND_EXCEEDS_PAYMENT, 87, "refund_exceeds_payment", 422) \
    X(JZ_BILLER_NOT_FOUND, 88, "biller_not_found", 404)           \
    X(JZ_BILL_NOT_FOUND, 89, "bill_not_found", 404)               \
    X(JZ_BILL_AMOUNT_MISMATCH, 90, "bill_amount_mismatch", 422)   \
    X(JZ_CAMPAIGN_NOT_FOUND, 91, "campaign_not_found", 404)       \
    X(JZ_REGISTRATION_CLOSED, 92, "registration_closed", 422)     \
    X(JZ_ALREADY_REGISTERED, 93, "already_registered", 409)       \
    X(JZ_DRAW_NOT_READY, 94, "draw_not_ready", 422)               \
    X(JZ_SEED_MISMATCH, 95, "seed_mismatch", 422) \
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
