/*
 * ledger.h: the ledger state machine (DESIGN.md §2): institutions, wallets, transfers,
 * holds, idempotency, limits. Pure and deterministic: no I/O, no clock, no allocation after
 * ledger_new. Time enters only as the batch timestamp the executor passes in (and journals),
 * so replaying the same batches reproduces the same state bit for bit.
 *
 * Invariants (checked by ledger_check_invariants, asserted after every batch in debug builds):
 *   - conservation: the sum of all wallet balances, issuance account included, is zero;
 *   - only the issuance account (central's treasury) has a negative balance;
 *   - 0 <= held <= balance for every other wallet, and held equals the sum of its pending holds;
 *   - a hold leaves the pending state exactly once;
 *   - a restricted wallet is swept exactly once, at the first batch stamped at or after its
 *     expiry, and holds nothing on it then (its holds end no later than its expiry).
 *
 * Commands reach the ledger in batches (at most JZ_BATCH_MAX). Each command gets one result.
 * This header is the contract for the reference model in tests/unit/test_ledger_model.c: the
 * order of checks below decides which code a command gets when several apply, and is part
 * of the contract.
 */
#ifndef JZ_LEDGER_H
#define JZ_LEDGER_H

#include "common.h"
#include "limits.h"

/* ---- Enumerations (journalled numbers: never renumber) ---- */

enum ledger_op {
    LEDGER_OP_GENESIS = 1,            /* creates the central institution and issuance account */
    LEDGER_OP_INSTITUTION_CREATE = 2, /* central creates an operator and its treasury */
    LEDGER_OP_WALLET_OPEN = 3,
    LEDGER_OP_WALLET_UPDATE = 4, /* tier and/or status (active|frozen|lost) */
    LEDGER_OP_WALLET_CLOSE = 5,
    LEDGER_OP_TRANSFER = 6, /* every transfer kind, quota issue and redeem included */
    LEDGER_OP_HOLD_CREATE = 7,
    LEDGER_OP_HOLD_CAPTURE = 8,
    LEDGER_OP_HOLD_VOID = 9,
    /* A journalled record of something that moves no money (a detokenisation, a rule change,
     * a disclosure, a card command): kind = topic (enum ledger_note_topic), id = its subject,
     * debit = a second id, amount = a number, holder[0..holder_len) = up to
     * JZ_HOLDER_SEALED_MAX bytes the topic's owner defines. The ledger checks only that the
     * actor is an institution and answers ok; the journal makes it tamper-evident. */
    LEDGER_OP_NOTE = 10,
    LEDGER_OP_MAX = 10,
};

/* Topics of LEDGER_OP_NOTE (journalled numbers: never renumber). */
enum ledger_note_topic {
    LEDGER_NOTE_TOKEN = 1,      /* token vault: tokenise, status change, detokenise, rotation */
    LEDGER_NOTE_CARD = 2,       /* TSM: card issued, locked, reissued, closed, voucher outcome */
    LEDGER_NOTE_RISK = 3,       /* risk rules versions, alert case changes */
    LEDGER_NOTE_DISCLOSURE = 4, /* identity disclosure requests and approvals */
    LEDGER_NOTE_SCENARIO = 5,   /* merchants, orders, bills, campaigns */
    LEDGER_NOTE_CLEARING = 6,   /* cut-offs, reconciliations, adjustments approvals */
    LEDGER_NOTE_TOPIC_MAX = 6,
};

enum ledger_institution_kind { LEDGER_INST_CENTRAL = 1, LEDGER_INST_OPERATOR = 2 };

enum ledger_wallet_kind {
    LEDGER_WALLET_PERSONAL = 1,
    LEDGER_WALLET_CORPORATE = 2,
    LEDGER_WALLET_MERCHANT = 3,
    LEDGER_WALLET_TREASURY = 4, /* made only with an institution; central's is the issuance account */
};

enum ledger_wallet_form { LEDGER_FORM_SOFT = 1, LEDGER_FORM_HARD = 2 };

enum ledger_wallet_status {
    LEDGER_STATUS_ACTIVE = 1,
    LEDGER_STATUS_FROZEN = 2,
    LEDGER_STATUS_LOST = 3,
    LEDGER_STATUS_CLOSED = 4,
};

enum ledger_transfer_kind {
    LEDGER_KIND_ISSUE = 1,
    LEDGER_KIND_REDEEM = 2,
    LEDGER_KIND_EXCHANGE_IN = 3,
    LEDGER_KIND_EXCHANGE_OUT = 4,
    LEDGER_KIND_P2P = 5,
    LEDGER_KIND_PAYMENT = 6,
    LEDGER_KIND_BILL = 7,
    LEDGER_KIND_REFUND = 8,
    LEDGER_KIND_CARD_LOAD = 9,
    LEDGER_KIND_CARD_UNLOAD = 10,
    LEDGER_KIND_OFFLINE_SETTLE = 11,
    LEDGER_KIND_CAMPAIGN = 12,
    LEDGER_KIND_DISBURSEMENT = 13,
    LEDGER_KIND_ADJUSTMENT = 14,
    LEDGER_KIND_MAX = 14,
};

enum ledger_hold_status {
    LEDGER_HOLD_PENDING = 1,
    LEDGER_HOLD_CAPTURED = 2, /* fully or partly: captured_amount says which */
    LEDGER_HOLD_VOIDED = 3,
    LEDGER_HOLD_EXPIRED = 4,
};

/* The field an id_conflict or invalid_field names (API `field`). */
enum ledger_field {
    LEDGER_FIELD_NONE = 0,
    LEDGER_FIELD_ID,
    LEDGER_FIELD_DEBIT,
    LEDGER_FIELD_CREDIT,
    LEDGER_FIELD_AMOUNT,
    LEDGER_FIELD_KIND,
    LEDGER_FIELD_REF,
    LEDGER_FIELD_MEMO,
    LEDGER_FIELD_LINKED,
    LEDGER_FIELD_TIMEOUT_MS,
    LEDGER_FIELD_TIER,
    LEDGER_FIELD_FORM,
    LEDGER_FIELD_PARENT,
    LEDGER_FIELD_STATUS,
    LEDGER_FIELD_OPERATOR,
    LEDGER_FIELD_NAME,
    LEDGER_FIELD_TREASURY,
    LEDGER_FIELD_MCC,
    LEDGER_FIELD_RETURN_TO,  /* a restriction's return-to wallet (wallet open) */
    LEDGER_FIELD_EXPIRES_AT, /* a restriction's expiry (wallet open) */
    LEDGER_FIELD_MCCS,       /* a restriction's merchant category codes (wallet open) */
    LEDGER_FIELD_COUNT
};

/* A restricted wallet (targeted funds, red envelopes, prepaid escrow: WALLET_OPEN below)
 * names at most this many merchant category codes: a subsidy names a handful of trades
 * (groceries, restaurants, transport), and a fixed array keeps the check allocation-free. */
#define JZ_RESTRICTION_MCCS_MAX 8

/* A restriction runs out at most this long after the wallet opens: subsidies, campaigns and
 * prepaid services run for months, rarely years; a bound keeps expiries within reach of the
 * tests and the sweep order meaningful. */
#define JZ_RESTRICTION_MAX_MS (3LL * 366 * 24 * 3600 * 1000)

/* Command flags. */
#define LEDGER_FLAG_LINKED 0x01u /* transfer / hold create: chained to the next command */

/* ---- Commands ---- */

/* An institution's API secret (32 bytes) sealed under the node's master key
 * (crypto_seal: 16 IV + 32 ciphertext + 32 tag). The ledger stores and journals it but never
 * sees the secret in clear. */
#define LEDGER_SEALED_BYTES 80

/* An institution id: 1-16 characters [a-z0-9_], NUL-padded. */
typedef struct {
    char s[JZ_INSTITUTION_ID_MAX + 1];
} ledger_inst_id;

/*
 * One command. `actor` is the index of the institution on whose authority it runs
 * (authenticated by the API layer; the ledger enforces what that institution may do).
 * Strings (name, ref, memo) are copied in; lengths are checked by the ledger.
 */
struct ledger_cmd {
    uint8_t op;    /* enum ledger_op */
    uint8_t flags; /* LEDGER_FLAG_* */
    uint16_t actor;
    uint8_t kind;      /* transfer kind | wallet kind | institution kind */
    uint8_t tier;      /* wallet open/update: 1-4; update: 0 = unchanged */
    uint8_t form;      /* wallet open */
    uint8_t status;    /* wallet update: 0 = unchanged, else active|frozen|lost */
    uint8_t ref_len;   /* bytes of ref used */
    uint8_t memo_len;  /* bytes of memo used */
    uint16_t mcc;      /* merchant category code (wallet open), 0 = none */
    jz_id id;          /* transfer/hold/wallet id; hold id for capture/void */
    jz_id debit;       /* transfer/hold; institution create: the treasury wallet id */
    jz_id credit;      /* transfer/hold; wallet open: parent (zero = none) */
    int64_t amount;    /* transfer/hold; capture: 0 = all */
    int64_t timeout_ms; /* hold create */
    ledger_inst_id inst; /* institution create / genesis: the new institution's id */
    jz_id key_id;        /* institution create / genesis: its API key id */
    uint8_t sealed[LEDGER_SEALED_BYTES]; /* ... and its sealed API secret */
    char ref[JZ_REF_MAX];
    char memo[JZ_MEMO_MAX];
    char name[JZ_NAME_MAX];
    uint8_t name_len;
    /* Wallet open: the holder's identity record, sealed (the ledger never reads it; the
     * journal carries it to the holder store). */
    uint8_t holder[JZ_HOLDER_SEALED_MAX];
    uint8_t holder_len;
    /* Wallet open: a restriction (targeted funds, red envelopes, prepaid escrow), when
     * expires_at is nonzero. The wallet then pays only merchant wallets whose mcc is among
     * mccs[0..mcc_count) (any merchant when mcc_count is 0), only by kind payment, and only
     * before expires_at; at expires_at whatever it holds returns to return_to by itself. */
    int64_t expires_at;
    jz_id return_to;
    uint16_t mccs[JZ_RESTRICTION_MCCS_MAX];
    uint8_t mcc_count;
};

/* The outcome of one command. */
struct ledger_result {
    uint16_t code;    /* enum jz_result */
    uint8_t field;    /* enum ledger_field: the input at fault (AMOUNT for limits and funds,
                       * CREDIT for the cap, ...), NONE when no single input is */
    uint8_t replayed; /* 1: an idempotent replay returned the first result */
    int64_t timestamp; /* when the command (or, for a replay, its first run) was applied */
};

/* ---- Configuration ---- */

/* Limits of one tier, in fen. JZ_NO_LIMIT (INT64_MAX) means none. */
struct ledger_tier_limits {
    int64_t balance_cap;
    int64_t per_payment;
    int64_t per_day;
    int64_t per_year;
};

#define JZ_NO_LIMIT INT64_MAX

struct ledger_config {
    uint32_t wallets_max;     /* memory for wallets is sized from this */
    uint32_t transfers_max;   /* idempotency entries (transfers + holds) kept in memory */
    uint32_t holds_max;       /* holds of any status */
    uint32_t restrictions_max; /* restricted wallets (0: none may be opened) */
    uint16_t institutions_max;
    int64_t idempotency_window_ms; /* >= 7 days */
    struct ledger_tier_limits tiers[5]; /* index 1..4; [0] unused */
};

/* The default configuration: DESIGN.md §2's table, a 7-day window, and the given sizes
 * (restrictions_max: a quarter of wallets_max, plus 64). */
void ledger_config_default(struct ledger_config *cfg, uint32_t wallets_max,
                           uint32_t transfers_max);

/* ---- Lifecycle ---- */

typedef struct ledger ledger;

/* Allocates every table up front. Returns NULL when memory cannot be had or cfg is invalid.
 * The ledger is owned by the caller; ledger_free(NULL) does nothing. */
ledger *ledger_new(const struct ledger_config *cfg);
void ledger_free(ledger *l);
const struct ledger_config *ledger_get_config(const ledger *l);

/*
 * Applies a batch at time `timestamp` (ms since the epoch, UTC; must not be earlier than the
 * previous batch's). First, every pending hold with deadline <= timestamp expires (in
 * deadline order, ties by creation order). Second, every restricted wallet with expires_at
 * <= timestamp not yet swept is swept (in expires_at order, ties by order of opening): its
 * whole balance moves to its return_to wallet, or to the treasury of return_to's operator
 * when return_to is closed, whatever the statuses, caps and limits of either, without
 * touching counters; the wallet's restriction then reads swept, with swept_at = timestamp
 * and swept_amount. Nothing is held on it then: its holds ended by expires_at (TRANSFER
 * step 6a), so the first pass expired them. Should the credit overflow int64 (more than
 * 2^63 fen in circulation), nothing moves and swept_amount is 0: the money stays in the
 * expired wallet, which nothing can debit. Because the sweep runs on the batch timestamp,
 * replaying the journal sweeps the same wallets in the same batches. Then the commands run
 * in order; results[i] is the outcome of cmds[i]. n <= JZ_BATCH_MAX.
 *
 * Per command (first failing check decides the code):
 *
 * GENESIS (actor ignored): only on an empty ledger, else forbidden. inst = "central";
 *   debit = the issuance wallet id; key_id and sealed are central's API credentials. Creates institution 0 (central) and its treasury, the
 *   issuance account (tier 1, treasury, soft, active).
 *
 * INSTITUTION_CREATE: actor must be central (forbidden). inst id well-formed
 *   ([a-z0-9_]{1,16}, else invalid_field ID); kind must be operator (invalid_field KIND);
 *   name_len 1..JZ_NAME_MAX (invalid_field NAME). If inst exists: same treasury id and name -> ok, replayed;
 *   otherwise id_conflict (field TREASURY or NAME). Treasury id zero -> invalid_field
 *   TREASURY; a wallet with that id exists -> id_conflict TREASURY. Full -> capacity_exceeded.
 *   Creates the operator (with key_id and sealed as its API credentials; a replay keeps the
 *   first ones) and its treasury wallet (tier 1, treasury, soft, active).
 *
 * WALLET_OPEN (holder, the sealed identity record, is carried, never read or compared):
 *   actor must be an operator (forbidden for central). id zero -> invalid_field ID.
 *   If the id exists: same operator, kind, tier, form, parent, mcc and restriction (return_to,
 *   expires_at, then the mcc list: count and codes in order) -> ok, replayed; otherwise
 *   id_conflict naming the first differing of OPERATOR, KIND, TIER, FORM, PARENT, MCC,
 *   RETURN_TO, EXPIRES_AT, MCCS. kind must be personal|corporate|merchant (invalid_field
 *   KIND); tier 1-4 (TIER); form soft|hard (FORM). parent (credit) nonzero: must exist
 *   (wallet_not_found PARENT), belong to the actor (forbidden), have no parent itself and be
 *   active (invalid_field PARENT). Restriction: with expires_at zero, a nonzero return_to or
 *   mcc_count -> invalid_field EXPIRES_AT; with expires_at nonzero: expires_at <= timestamp
 *   or > timestamp + JZ_RESTRICTION_MAX_MS -> invalid_field EXPIRES_AT; mcc_count >
 *   JZ_RESTRICTION_MCCS_MAX or a listed code outside 1..9999 -> invalid_field MCCS;
 *   return_to zero -> invalid_field RETURN_TO; missing -> wallet_not_found RETURN_TO; the
 *   issuance account or a restricted wallet -> invalid_field RETURN_TO (return_to may belong
 *   to any institution: the funder's money goes back to it). Wallets full, then restrictions
 *   full -> capacity_exceeded. New wallet: active, balance 0.
 *
 * WALLET_UPDATE: wallet (id) must exist (wallet_not_found ID), belong to the actor
 *   (forbidden), not be a treasury (forbidden) and not be closed (wallet_closed). tier 0 or
 *   1-4 (invalid_field TIER); status 0 or active|frozen|lost (invalid_field STATUS); both 0 ->
 *   invalid_field STATUS. Applies what is nonzero. Lowering the tier does not move money.
 *
 * WALLET_CLOSE: exists (wallet_not_found ID), actor owns it (forbidden), not treasury
 *   (forbidden), not already closed (wallet_closed), balance 0 and held 0 (balance_not_zero).
 *
 * TRANSFER and HOLD_CREATE (a hold is a transfer of kind payment that reserves instead of
 * moving; its kind field is ignored and taken as payment):
 *   1. id zero -> invalid_field ID.
 *   2. The id was used before (by a transfer or a hold):
 *        timestamp - first.timestamp > idempotency_window_ms -> id_expired;
 *        first used by another institution (actor) -> id_conflict ID: nobody learns
 *          another institution's result by replaying its id;
 *        content differs -> id_conflict naming the first differing of DEBIT, CREDIT,
 *          AMOUNT, KIND, REF, MEMO, LINKED, TIMEOUT_MS (a transfer vs a hold differ in KIND);
 *        else the first result again, replayed = 1, first timestamp.
 *      Everything below is remembered as the id's result, success or failure.
 *   3. amount < 1 or > JZ_AMOUNT_MAX -> invalid_field AMOUNT; kind not 1..LEDGER_KIND_MAX ->
 *      invalid_field KIND; ref_len > JZ_REF_MAX or memo_len > JZ_MEMO_MAX -> invalid_field;
 *      hold: timeout_ms < 1 or > JZ_HOLD_TIMEOUT_MAX_MS -> invalid_field TIMEOUT_MS.
 *   4. debit missing -> wallet_not_found DEBIT; credit missing -> wallet_not_found CREDIT;
 *      debit == credit -> invalid_field CREDIT.
 *   5. Authority and shape by kind (I = issuance account, T(x) = treasury of x's operator):
 *        issue:   actor central, debit I, credit an operator treasury;
 *        redeem:  actor central, debit an operator treasury, credit I;
 *        exchange_in:  debit == T(credit), credit not a treasury, actor owns debit;
 *        exchange_out: credit == T(debit), debit not a treasury, actor owns debit;
 *        any other kind: neither side is I, actor owns debit.
 *      Actor not allowed -> forbidden; wallets of the wrong shape -> kind_not_allowed KIND.
 *      Holds: neither side I, actor owns debit.
 *   6. debit status: frozen -> wallet_frozen, lost -> wallet_lost, closed -> wallet_closed
 *      (field DEBIT); then the same for credit (field CREDIT).
 *  6a. Restrictions. A restricted debit: timestamp >= its expires_at -> funds_expired DEBIT;
 *      kind other than payment (a hold is a payment) -> restricted_category KIND; credit not
 *      a merchant wallet, or mcc_count > 0 and the credit's mcc not among mccs ->
 *      restricted_category CREDIT; a hold whose deadline (timestamp + timeout_ms) is after
 *      expires_at -> funds_expired TIMEOUT_MS. Then a restricted credit: timestamp >= its
 *      expires_at -> funds_expired CREDIT. (So no money enters or leaves a restricted wallet
 *      at or after its expiry except by the sweep.)
 *   7. Limits of the debit's tier, only for kinds p2p, payment, bill (and holds), only when
 *      the debit is personal or corporate; counters are per calendar day and year in UTC+8
 *      and reset lazily when the day/year changes:
 *        amount > per_payment -> per_payment_limit_exceeded;
 *        day_out + amount > per_day -> daily_limit_exceeded;
 *        year_out + amount > per_year -> annual_limit_exceeded.
 *   8. Funds: unless the debit is I, balance - held < amount -> insufficient_funds.
 *   9. Cap: unless the credit is I or a treasury, credit.balance + amount > balance_cap of
 *      the credit's tier -> balance_cap_exceeded (also checked for holds at creation).
 *  10. Overflow of any sum (issuance balance - amount, counters) -> overflow.
 *   Transfer: debit.balance -= amount, credit.balance += amount, counters += amount (step 7
 *   kinds). Hold: debit.held += amount, counters += amount; pending until captured, voided
 *   or its deadline (timestamp + timeout_ms).
 *
 * HOLD_CAPTURE (id = hold id, amount 0 = all): hold missing -> hold_not_found ID; actor must
 *   own the debit (forbidden); not pending -> already_resolved; amount < 0 or > hold amount
 *   -> amount_exceeds_hold AMOUNT; credit frozen/lost/closed -> wallet_* CREDIT; a
 *   restricted credit at or after its expires_at -> funds_expired CREDIT; debit
 *   closed/lost/frozen is not checked (the money was reserved); cap on credit as in step 9.
 *   Moves the captured amount, releases the hold's held amount; the uncaptured rest is
 *   released from the counters if the day (year) is still the hold's.
 * HOLD_VOID: missing -> hold_not_found; actor owns debit (forbidden); not pending ->
 *   already_resolved. Releases held amount and counters (same-day/year rule).
 * Expiry releases as void does; status expired.
 * NOTE: actor not an institution -> forbidden; topic 0 or above LEDGER_NOTE_TOPIC_MAX ->
 *   invalid_field KIND; otherwise ok, and nothing changes.
 *
 * Linked chains: a command with LEDGER_FLAG_LINKED is chained to the next one; the chain
 * ends at (and includes) the first command without the flag. Only transfers and hold
 * creations may be members: any other command that carries the flag or ends a chain fails
 * with invalid_field LINKED (and so fails the chain). If any member fails, every applied
 * effect of the chain is undone, the failing member keeps its code, and every other member
 * gets linked_failed; new ids remember that result. A chain still open at the end of the
 * batch fails as a whole: every member gets linked_chain_open (remembered for new ids).
 * A replayed id inside a chain counts as success when its first result was ok, and fails
 * the chain otherwise; ids used before (replays, conflicts, expired) never have their
 * remembered first result changed by a later chain.
 *
 * Arithmetic in the checks is exact (no wrap-around): "day_out + amount > per_day" is
 * compared as mathematical integers, so with no limit (JZ_NO_LIMIT = INT64_MAX) a counter
 * sum beyond INT64_MAX is daily/annual_limit_exceeded. `overflow` applies to balances: a
 * treasury or issuance balance that would leave the int64 range.
 *
 * capacity_exceeded (idempotency table or hold table full, wallets or institutions full) is
 * never remembered, so the same id can be retried once room is made.
 */
void ledger_apply_batch(ledger *l, int64_t timestamp, const struct ledger_cmd *cmds, uint32_t n,
                        struct ledger_result *results);

/* ---- Reads (for the executor thread; not thread-safe against apply) ---- */

struct ledger_wallet_view {
    jz_id id;
    jz_id parent; /* zero when none */
    uint16_t operator_index;
    uint8_t kind, tier, form, status;
    uint16_t mcc;
    int64_t balance, held, day_out, year_out, created_at;
    /* The restriction, when restricted: the rest is zero otherwise. */
    bool restricted;
    bool swept;
    uint8_t mcc_count;
    uint16_t mccs[JZ_RESTRICTION_MCCS_MAX];
    jz_id return_to;
    int64_t expires_at;
    int64_t swept_at, swept_amount; /* when swept: the batch timestamp, and what moved */
};

struct ledger_hold_view {
    jz_id id, debit, credit;
    int64_t amount, captured, deadline, created_at;
    uint8_t status;
};

struct ledger_institution_view {
    ledger_inst_id id;
    char name[JZ_NAME_MAX + 1];
    uint8_t kind;
    jz_id treasury;
    jz_id key_id;
    uint8_t sealed[LEDGER_SEALED_BYTES];
};

/* The institution with index i (0 <= i < ledger_institution_count), or -1. */
int ledger_institution_at(const ledger *l, uint32_t i, struct ledger_institution_view *out);

/* Each returns 0 and fills *out, or -1 when not found. day_out/year_out read as 0 when the
 * stored counter belongs to a day/year before `now` (ms). */
int ledger_wallet_get(const ledger *l, const jz_id *id, int64_t now, struct ledger_wallet_view *out);
int ledger_hold_get(const ledger *l, const jz_id *id, struct ledger_hold_view *out);
int ledger_institution_get(const ledger *l, const char *inst_id, struct ledger_institution_view *out);
/* The remembered first result of a transfer or hold id (replayed = 0). 0, or -1 when the
 * id is unknown. */
int ledger_transfer_result(const ledger *l, const jz_id *id, struct ledger_result *out);
/* Index of an institution for ledger_cmd.actor, or -1. */
int ledger_institution_index(const ledger *l, const char *inst_id);

/* The wallet at index (0 <= index < ledger_wallet_count, in order of opening), for scans
 * such as the console's circulation by operator and tier. 0, or -1 past the end. */
int ledger_wallet_at(const ledger *l, uint32_t index, int64_t now, struct ledger_wallet_view *out);
uint32_t ledger_wallet_count(const ledger *l);
uint32_t ledger_institution_count(const ledger *l);
uint64_t ledger_transfer_count(const ledger *l); /* idempotency entries in memory */
uint32_t ledger_hold_count(const ledger *l);
int64_t ledger_last_timestamp(const ledger *l);
uint32_t ledger_restriction_count(const ledger *l);
/* The earliest expires_at among restricted wallets not yet swept, or INT64_MAX: the batch
 * stamped at or after it sweeps (a module that wants the sweep on time submits a command
 * then). */
int64_t ledger_next_expiry(const ledger *l);

/* Sum of all balances (0 when conserved) computed by a full scan, with overflow checking;
 * returns 0 and writes *sum, or -1 if the sum overflowed. */
int ledger_balance_sum(const ledger *l, int64_t *sum);
/* Full invariant check (see the top of this header); returns 0 when all hold, else -1 and
 * a description in why (may be NULL). */
int ledger_check_invariants(const ledger *l, char *why, size_t why_len);

/* ---- Serialisation (snapshots and state hashes) ---- */

/* Canonical bytes of the whole state, written through `emit` in pieces. Two ledgers with
 * equal state produce equal bytes. Returns 0, or the first nonzero value emit returned. */
typedef int (*ledger_emit_fn)(void *ctx, const void *data, size_t len);
int ledger_serialize(const ledger *l, ledger_emit_fn emit, void *ctx);
/* Rebuilds state from ledger_serialize's bytes into an empty ledger with a configuration
 * at least as large. Returns 0, or -1 on malformed input (the ledger is then unusable and
 * must be freed). */
typedef int (*ledger_read_fn)(void *ctx, void *data, size_t len);
int ledger_deserialize(ledger *l, ledger_read_fn read, void *ctx);

/* Names for enums ("p2p", "personal", "frozen", ...); "" for unknown values. Parsers return
 * 0 for unknown names. */
const char *ledger_kind_name(int kind);
int ledger_kind_parse(const char *s);
const char *ledger_wallet_kind_name(int kind);
int ledger_wallet_kind_parse(const char *s);
const char *ledger_status_name(int status);
int ledger_status_parse(const char *s);
const char *ledger_form_name(int form);
int ledger_form_parse(const char *s);
const char *ledger_hold_status_name(int status);
const char *ledger_field_name(int field);

/* Day number (days since 1970-01-01 in UTC+8) and calendar year in UTC+8 of a timestamp. */
int32_t ledger_day_of(int64_t timestamp_ms);
int32_t ledger_year_of(int64_t timestamp_ms);

#endif
