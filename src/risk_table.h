/*
 * risk_table.h: what the pre-payment rules know about each wallet, kept in memory.
 *
 * One entry per wallet the journal has opened (at most wallets_max, so the table never
 * evicts): its operator, kind, tier and merchant category, when its device last changed,
 * where in the journal it was opened (for a disclosure), and its velocity: the count and sum
 * of its outgoing payments in each window the active rules use.
 *
 * Velocity is counted once per payment, from one of two sides:
 *   - screened: a payment the rules let through is counted when it is screened (a worker
 *     reads the payer's velocity, evaluates, and counts under the payer's stripe lock, so
 *     concurrent payments of one wallet see each other), and its submitter uncounts it if
 *     the ledger refuses it, it was a replay, or it never reached the journal. The request
 *     carries a marker (risk_note SCREENED, with the table's generation) telling the
 *     monitor not to count its payments again;
 *   - durable: everything else the monitor reads from the journal (payments of unmarked
 *     requests, and of requests marked under an older generation) is counted by the
 *     monitor at the record's timestamp.
 * A window of W is counted in RISK_VELOCITY_STEPS steps of W / RISK_VELOCITY_STEPS ms: at
 * time t it covers the step holding t and the steps before it, RISK_VELOCITY_STEPS in all.
 * Changing the set of windows zeroes velocity and starts a new generation; the monitor
 * then rebuilds it from the journal (risk_engine.c, rebuild_velocity).
 *
 * Memory: a 64-byte entry and a 4-byte index slot per half entry, plus 16 bytes per step
 * per window per entry while rules use velocity; allocated up front (as zero pages, with
 * huge pages asked for) except the velocity steps, allocated when the windows change.
 * Thread-safe.
 */
#ifndef JZ_RISK_TABLE_H
#define JZ_RISK_TABLE_H

#include "risk.h"

#define RISK_VELOCITY_STEPS 6

struct risk_wallet {
    uint16_t operator_index;
    uint8_t kind, tier;
    uint16_t mcc;
    int64_t created_at;
    uint64_t open_seq;           /* journal record of its WALLET_OPEN (0 for a treasury) */
    int64_t device_changed_ms;   /* 0 = no change of device reported */
};

typedef struct risk_table risk_table;

/* NULL when memory cannot be had. Owned by the caller; risk_table_free(NULL) is a no-op. */
risk_table *risk_table_new(uint32_t wallets_max);
void risk_table_free(risk_table *t);

/* ---- The monitor's side (one thread) ---- */

/* A wallet opened (or a treasury created). Returns -1 when the table is full. */
int risk_table_put_wallet(risk_table *t, const jz_id *id, const struct risk_wallet *w);
/* A tier change (0 = unchanged). */
void risk_table_set_tier(risk_table *t, const jz_id *id, uint8_t tier);
/* A device report: returns true when it changed the wallet's device (at = when). With
 * apply false, only says whether it would. */
bool risk_table_device(risk_table *t, const jz_id *id, const jz_id *device, int64_t at,
                       bool apply);
/* Counts a durable payment of wallet at ts. */
void risk_table_velocity_add(risk_table *t, const jz_id *wallet, int64_t ts, int64_t amount);

/* Sets the velocity windows (zeroing all velocity, and starting a new generation, when they
 * differ from the current ones). Returns 1 when they changed, 0 when not, -1 when out of
 * memory (velocity is then off). */
int risk_table_set_windows(risk_table *t, const int64_t *windows_ms, uint32_t n);
/* The current generation (changes with the windows). */
uint32_t risk_table_generation(risk_table *t);

/* ---- Any thread ---- */

/* The wallet's profile: 0, or -1 when the table has not seen it. */
int risk_table_get(risk_table *t, const jz_id *id, struct risk_wallet *out);
/* A memory hint for a batch of lookups (no effect on results): stage 1 fetches the index
 * slot of id, stage 2 (once stage 1 of the same id has had time to land) its entry. */
void risk_table_prefetch(risk_table *t, const jz_id *id, int stage);

/* Screening a payment: locks the payer's stripe and reads its profile and velocity in each
 * of the table's windows, the payment itself (amount) included. Returns 0 with the lock
 * held (end it with risk_table_screen_end), or -1 (no lock held) when the payer is
 * unknown. */
struct risk_screen {
    risk_table *t;
    uint32_t entry;
    uint32_t stripe;
    uint32_t generation;
};
int risk_table_screen_begin(risk_table *t, const jz_id *payer, int64_t now_ms, int64_t amount,
                            struct risk_screen *s, struct risk_wallet *w,
                            uint32_t counts[RISK_WINDOWS_MAX], int64_t sums[RISK_WINDOWS_MAX]);
/* Counts the payment the screen let through, at now_ms. */
void risk_table_screen_count(struct risk_screen *s, int64_t amount, int64_t now_ms);
void risk_table_screen_end(struct risk_screen *s);
/* Takes back a payment counted at at_ms under generation that did not post (any thread). */
void risk_table_uncount(risk_table *t, const jz_id *payer, uint32_t generation, int64_t at_ms,
                        int64_t amount);

struct risk_table_stats {
    uint32_t wallets, wallets_max;
    uint64_t counted, uncounted; /* payments counted at screening, and taken back */
};
void risk_table_stats(risk_table *t, struct risk_table_stats *out);

#endif
