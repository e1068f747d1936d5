/*
 * risk_table.h: what the pre-payment rules know about each wallet, kept in memory.
 *
 * One entry per wallet the journal has opened (at most wallets_max, so the table never
 * evicts): its operator, kind, tier and merchant category, when its device last changed,
 * where in the journal it was opened (for a disclosure), and its velocity: the count and sum
 * of its outgoing payments in each window the active rules use.
 *
 * Velocity is fed from two sides so that it is exact for everything the API screens:
 *   - durable: the risk monitor (risk_monitor.h) adds every posted transfer and created
 *     hold it reads from the durable journal, at the record's timestamp;
 *   - pending: an HTTP worker that lets a payment through reserves it (by transfer id)
 *     before it submits it, and the monitor releases the reservation when it meets that id
 *     in the journal (whatever its result), so a payment is counted once, from the moment
 *     it was screened. A reservation whose command never reaches the journal (the queue
 *     was full) is released by the submitter, or expires after RISK_PENDING_TTL_MS.
 * A worker reads a payer's velocity, evaluates the rules and reserves under the payer's
 * stripe lock, so concurrent payments of one wallet see each other.
 *
 * A window of W is counted in RISK_VELOCITY_STEPS steps of W / RISK_VELOCITY_STEPS ms: at
 * time t it covers the step holding t and the steps before it, RISK_VELOCITY_STEPS in all.
 * Changing the set of windows zeroes velocity; the monitor then rebuilds it from the
 * journal (risk_monitor_rebuild_velocity).
 *
 * Memory: about 80 bytes an entry, a 4-byte index slot per half entry, plus 16 bytes per
 * step per window per entry while rules use velocity; all allocated up front except the
 * velocity steps, which are allocated when the windows change. Thread-safe.
 */
#ifndef JZ_RISK_TABLE_H
#define JZ_RISK_TABLE_H

#include "risk.h"

#define RISK_VELOCITY_STEPS 6
#define RISK_PENDING_TTL_MS 60000

struct risk_wallet {
    uint16_t operator_index;
    uint8_t kind, tier;
    uint16_t mcc;
    int64_t created_at;
    uint64_t open_seq;           /* journal record of its WALLET_OPEN (0 for a treasury) */
    int64_t device_changed_ms;   /* 0 = no device reported */
};

typedef struct risk_table risk_table;

/* NULL when memory cannot be had. Owned by the caller; risk_table_free(NULL) is a no-op. */
risk_table *risk_table_new(uint32_t wallets_max, uint32_t pending_max);
void risk_table_free(risk_table *t);

/* ---- The monitor's side (one thread) ---- */

/* A wallet opened (or a treasury created). Returns -1 when the table is full. */
int risk_table_put_wallet(risk_table *t, const jz_id *id, const struct risk_wallet *w);
/* A tier change (0 = unchanged). */
void risk_table_set_tier(risk_table *t, const jz_id *id, uint8_t tier);
/* A device report: returns true when it changed the wallet's device (at = when). */
bool risk_table_device(risk_table *t, const jz_id *id, const jz_id *device, int64_t at);
/* A durable outgoing payment of `wallet`. */
void risk_table_velocity_add(risk_table *t, const jz_id *wallet, int64_t ts, int64_t amount);
/* Releases one reservation made under transfer id `id`, if any. */
void risk_table_release(risk_table *t, const jz_id *id);
/* Releases reservations made before `before_ms`; returns how many. */
uint32_t risk_table_expire(risk_table *t, int64_t before_ms);
/* Sets the velocity windows (zeroing all velocity when they differ from the current ones).
 * Returns 1 when they changed, 0 when not, -1 when out of memory (velocity then off). */
int risk_table_set_windows(risk_table *t, const int64_t *windows_ms, uint32_t n);

/* ---- Any thread ---- */

/* The wallet's profile: 0, or -1 when the table has not seen it. */
int risk_table_get(risk_table *t, const jz_id *id, struct risk_wallet *out);

/* Screening a payment: locks the payer's stripe and reads its profile and velocity in each
 * of the table's windows, reservations and the payment itself (amount) included. Returns 0
 * with the lock held (end it with risk_table_screen_end), or -1 (no lock held) when the
 * payer is unknown. */
struct risk_screen {
    risk_table *t;
    uint32_t entry;
    uint32_t stripe;
};
int risk_table_screen_begin(risk_table *t, const jz_id *payer, int64_t now_ms, int64_t amount,
                            struct risk_screen *s, struct risk_wallet *w,
                            uint32_t counts[RISK_WINDOWS_MAX], int64_t sums[RISK_WINDOWS_MAX]);
/* Reserves a payment the screen let through. 0, or -1 when the reservation table is full
 * (the payment is then counted only once durable). */
int risk_table_screen_reserve(struct risk_screen *s, const jz_id *transfer_id, int64_t amount,
                              int64_t now_ms);
void risk_table_screen_end(struct risk_screen *s);

struct risk_table_stats {
    uint32_t wallets, wallets_max;
    uint32_t pending, pending_max;
    uint64_t reserve_full;    /* reservations refused because the table was full */
    uint64_t expired;         /* reservations that expired unreleased */
};
void risk_table_stats(risk_table *t, struct risk_table_stats *out);

#endif
