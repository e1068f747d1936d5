/*
 * aml.h: post-payment anti-money-laundering detectors (DESIGN.md §6) over a stream of
 * posted transfers, in journal order.
 *
 * Six detectors, each with the parameters of risk.h's struct risk_aml_params:
 *   structuring   a wallet sends (or receives) `count` payments just under a reporting
 *                 threshold (within band_pct % below it) within the window;
 *   rapid_in_out  a wallet receives at least min_in and sends on at least out_pct % of it
 *                 within the window (a pass-through, or mule, wallet);
 *   fan_in        a wallet that is not a merchant receives from `count` distinct wallets
 *                 within the window;
 *   fan_out       a wallet sends to `count` distinct wallets within the window
 *                 (disbursements, a payroll, excepted);
 *   dormant       a wallet idle for `idle` (no transfer either way since it was opened or
 *                 last used) moves at least min within `window` of waking;
 *   circular      money goes round: A->B->C->A (or A->B->C->D->A), every leg at least
 *                 min_fen, the largest leg at most ratio_pct % of the smallest, legs in
 *                 time order, the whole cycle within the window.
 * Windows are counted in two halves: at time t a window W covers the half-window holding t
 * and the one before it, so a pattern that fits in W/2 is always seen whole, and nothing
 * older than W is ever counted. Distinct counterparties are counted with a 128-bit linear
 * counting sketch per half window (exact enough below 60, the largest count allowed).
 * Issuance and treasury movements (issue, redeem) are not payments and are ignored;
 * treasury wallets are never a subject. After a finding, the same detector stays quiet for
 * that wallet for one window (one alert per episode).
 *
 * Each finding names its subject wallet, the transfer that completed it, a severity, the
 * detector's parameters and what it measured, and its evidence: the subject's transfers
 * that make the pattern, found in a ring of the most recent transfers (evidence_ring
 * entries; an older transfer is no longer listed, and the finding says so).
 *
 * The same stream feeds the large-value report: per holder (a wallet, or its parent for a
 * child wallet) and day (UTC+8), money in and out; once either reaches large_value_fen the
 * holder's day totals are reported after every transfer that changes them.
 *
 * Pure and deterministic (no clock, no I/O, no locks, no allocation after aml_new): the
 * same stream with the same parameters gives the same findings, so replaying the journal
 * reproduces them. One thread at a time.
 */
#ifndef JZ_AML_H
#define JZ_AML_H

#include "risk.h"

enum aml_detector {
    AML_STRUCTURING = 1,
    AML_RAPID_IN_OUT = 2,
    AML_FAN_IN = 3,
    AML_FAN_OUT = 4,
    AML_DORMANT = 5,
    AML_CIRCULAR = 6,
    AML_DETECTORS = 6,
};

#define AML_EVIDENCE_MAX 8

struct aml_transfer {
    jz_id id, debit, credit;
    int64_t amount;
    int64_t ts;   /* ms since the epoch (the journal record's timestamp) */
    uint8_t kind; /* enum ledger_transfer_kind */
};

struct aml_finding {
    uint8_t detector;  /* enum aml_detector */
    uint8_t severity;  /* enum alert_severity (alert.h): 1 low, 2 medium, 3 high */
    jz_id subject;
    jz_id trigger;     /* the transfer that completed the pattern */
    int64_t ts;
    uint32_t nevidence;
    jz_id evidence[AML_EVIDENCE_MAX];
    char params[200];  /* "key=value ..." : the detector's parameters and measurements */
};

struct aml_day_total {
    jz_id holder;
    int32_t day;       /* ledger_day_of: days since 1970-01-01 in UTC+8 */
    int64_t in_fen, out_fen;
    uint32_t in_count, out_count;
    int64_t last_ts;
};

struct aml_sink {
    void (*finding)(void *ctx, const struct aml_finding *f);
    void (*day_total)(void *ctx, const struct aml_day_total *d); /* may be NULL */
    void *ctx;
};

typedef struct aml aml;

/* wallets_max bounds the wallets tracked (a wallet past it is not analysed, and counted);
 * evidence_ring is rounded up to a power of two. NULL when memory cannot be had. */
aml *aml_new(uint32_t wallets_max, uint32_t evidence_ring, const struct aml_sink *sink);
void aml_free(aml *a);

/* Parameters take effect for the transfers that follow. */
void aml_set_params(aml *a, const struct risk_aml_params *p, int64_t large_value_fen);

/* A wallet opened (kind: enum ledger_wallet_kind; parent: zero when none). A wallet the
 * stream meets before it is declared is tracked as of unknown kind. */
void aml_wallet(aml *a, const jz_id *id, uint8_t kind, const jz_id *parent, int64_t created_at);
/* A memory hint for the wallets of transfers about to be fed (no effect on results):
 * stage 1 fetches the index slot, stage 2 (later) the wallet's state. */
void aml_prefetch(const aml *a, const jz_id *wallet, int stage);
/* A posted transfer (or captured hold). */
void aml_transfer(aml *a, const struct aml_transfer *t);

struct aml_stats {
    uint64_t transfers;
    uint64_t findings[AML_DETECTORS + 1];
    uint32_t wallets, wallets_max;
    uint64_t untracked; /* transfers touching a wallet past wallets_max */
};
void aml_get_stats(const aml *a, struct aml_stats *out);

const char *aml_detector_name(int detector);

#endif
