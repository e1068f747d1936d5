/*
 * clearing.h: clearing and settlement between institutions (DESIGN.md §7), the pure part:
 * the fee schedule, the fees of one payment, the netting of a cycle's obligations, the
 * reconciliation of two records of a cycle, and the settlement files' text. No I/O, no
 * clock, no randomness: the same inputs give the same bytes, so a cycle re-derived from the
 * journal gives the same figures and files (docs/clearing.md documents every format here).
 *
 * Vocabulary. An *item* is one posted transfer that moves money between wallets of two
 * different institutions and creates an obligation: kinds payment and bill (the customer's
 * institution owes the merchant's or biller's), refund (the reverse) and adjustment (a
 * correction, free of fees). `from` is the institution whose wallet was debited: it owes
 * `to` the amount. For fees, the *customer* institution is the payer's side of a payment or
 * bill (the payee's of a refund) and the *merchant* institution the other; *central* is the
 * clearing centre (institution 0), which can receive fees but is never a party to an item.
 *
 * Invariants: every fee of an item is >= 0 and never more than the item's amount; the
 * multilateral net positions of a cycle sum to zero (central included), and each equals the
 * sum of that institution's bilateral nets. Sums are overflow-checked: a cycle whose sums
 * leave int64 is reported as failed (`overflow`), never wrapped.
 */
#ifndef JZ_CLEARING_H
#define JZ_CLEARING_H

#include "common.h"
#include "json.h"
#include "limits.h"

/* Fees a schedule may define, and rules per fee: enough for an interchange fee, its refund,
 * and a switch fee on each side, with room to spare; small enough to evaluate per item. */
#define CLEARING_FEES_MAX 8
#define CLEARING_RULES_MAX 32
#define CLEARING_FEE_NAME_MAX 16
#define CLEARING_VERSION_MAX 32
/* Rates are in parts per million of the amount: 1 basis point = 100 ppm. */
#define CLEARING_PPM 1000000
#define CLEARING_MCC_MAX 9999
/* The canonical text of a schedule fits in this many bytes (8 fees x 32 rules). */
#define CLEARING_SCHEDULE_TEXT_MAX (64u << 10)

enum clearing_role {
    CLEARING_ROLE_CUSTOMER = 1,
    CLEARING_ROLE_MERCHANT = 2,
    CLEARING_ROLE_CENTRAL = 3,
};

/* Kinds a rule matches: bits of ledger transfer kinds (payment, bill, refund). */
#define CLEARING_KIND_BIT(kind) (1u << (kind))

struct clearing_rule {
    uint32_t kinds;            /* CLEARING_KIND_BIT of payment | bill | refund */
    uint16_t mcc_min, mcc_max; /* inclusive; 0-9999 is every category ("*") */
    int64_t rate_ppm;          /* 0 .. CLEARING_PPM */
    int64_t fixed;             /* fen, 0 .. JZ_AMOUNT_MAX */
    int64_t min;               /* fen */
    int64_t max;               /* fen; -1 = no cap */
};

struct clearing_fee {
    char name[CLEARING_FEE_NAME_MAX + 1];
    uint8_t charged_to; /* customer | merchant */
    uint8_t paid_to;    /* customer | merchant | central, never charged_to */
    uint32_t nrules;
    struct clearing_rule rules[CLEARING_RULES_MAX];
};

struct clearing_schedule {
    char version[CLEARING_VERSION_MAX + 1];
    uint32_t nfees;
    struct clearing_fee fees[CLEARING_FEES_MAX];
};

/* The schedule a node starts with (docs/clearing.md shows it). */
void clearing_schedule_default(struct clearing_schedule *out);

/* Parses and validates a schedule from JSON text (docs/clearing.md): unknown fields, bad
 * values and inconsistencies are refused with e naming the field ("fees[1].rules[0].mcc").
 * 0 and *out, or -1 with e set. */
int clearing_schedule_parse(const char *text, size_t len, struct clearing_schedule *out,
                            struct api_error *e);
/* The same from a parsed JSON value (borrowed). */
int clearing_schedule_from_json(json_t *root, struct clearing_schedule *out, struct api_error *e);

/* Writes the canonical JSON of a schedule (fixed key order, no spaces): what is hashed and
 * stored; parsing it gives the same schedule back. */
void clearing_schedule_write(const struct clearing_schedule *s, struct jbuf *out);

/*
 * The fee of one rule on an amount, in fen: fixed + amount x rate_ppm / 1,000,000 rounded
 * half-up to the fen (exactly half a fen goes up; amounts are positive, so this is also
 * "half away from zero"), then raised to min, lowered to max (if any), and never more than
 * the amount itself. Exact: the product is computed in 128 bits.
 */
int64_t clearing_fee_amount(const struct clearing_rule *r, int64_t amount);

/* The first rule of f that matches kind and mcc, or NULL (the fee is then 0). */
const struct clearing_rule *clearing_fee_rule(const struct clearing_fee *f, uint8_t kind,
                                              uint16_t mcc);

/* ---- Items ---- */

struct clearing_item {
    jz_id id;            /* the transfer's id (a captured hold: the hold's id) */
    jz_id debit, credit; /* the wallets */
    uint64_t pos;        /* journal position: seq << 16 | command index in the record */
    int64_t timestamp;   /* of the journal record */
    int64_t amount;
    uint16_t from, to; /* institutions of the debit and credit wallets: from owes to */
    uint16_t mcc;      /* the merchant side's category, 0 when none */
    uint8_t kind;      /* ledger transfer kind: payment, bill, refund or adjustment */
};

/* True for the transfer kinds that clear between institutions. */
bool clearing_kind_clears(uint8_t kind);

/* One fee of one item: `payer` owes `payee` amount under fee number `fee`. */
struct clearing_fee_line {
    uint8_t fee;
    uint16_t payer, payee;
    int64_t amount;
};

/* The fees of an item under s (only those > 0): n <= CLEARING_FEES_MAX lines. Adjustments
 * carry no fees. */
uint32_t clearing_item_fees(const struct clearing_schedule *s, const struct clearing_item *it,
                            struct clearing_fee_line out[CLEARING_FEES_MAX]);

/* ---- Netting ---- */

/*
 * The obligations of one cycle among n institutions (indexes 0..n-1, 0 = central), summed
 * item by item. Arrays are n x n, row = who owes, column = to whom. Owned by the caller:
 * clearing_net_init allocates, clearing_net_free releases (a zeroed struct is safe to free).
 */
struct clearing_net {
    uint32_t n;
    uint32_t nfees;
    uint64_t items;
    int64_t *gross;          /* [i*n+j]: amounts i owes j */
    uint64_t *count;         /* [i*n+j]: items i owes j */
    int64_t *fees;           /* [(f*n+i)*n+j]: fee f that i owes j */
    uint64_t *fee_count;     /* [(f*n+i)*n+j]: items that charged it */
    uint64_t kind_count[16]; /* items by ledger kind */
    bool overflow;           /* a sum left int64: the cycle cannot settle */
};

int clearing_net_init(struct clearing_net *net, uint32_t n, uint32_t nfees);
void clearing_net_free(struct clearing_net *net);
/* Makes room for institutions up to n (> net->n), keeping every sum. 0, or -1 when out of
 * memory (the net is then unchanged). */
int clearing_net_grow(struct clearing_net *net, uint32_t n);
/* Adds an item and its fees (the item's institutions must be < n). -1 (and net->overflow)
 * when a sum would overflow; the net then stays as it was before the item. */
int clearing_net_add(struct clearing_net *net, const struct clearing_schedule *s,
                     const struct clearing_item *it);

/* Institution i's position against counterparty j (or, from clearing_net_total, against
 * everyone: net is then the multilateral net position). net = what i receives minus what it
 * pays, fees included. */
struct clearing_position {
    uint64_t pay_count, recv_count;
    int64_t pay, recv;           /* transfer amounts */
    int64_t fees_pay, fees_recv; /* fees of every name */
    int64_t net;
};
/* 0, or -1 when a sum overflows. */
int clearing_net_pair(const struct clearing_net *net, uint32_t i, uint32_t j,
                      struct clearing_position *out);
int clearing_net_total(const struct clearing_net *net, uint32_t i, struct clearing_position *out);

/* ---- Reconciliation ---- */

/* One line of a record of a cycle, from one institution's point of view: the amount is
 * signed (> 0 received, < 0 paid). */
struct clearing_record {
    jz_id id;
    int64_t amount;
};

enum clearing_diff_class {
    CLEARING_DIFF_MISSING_HERE = 1,  /* in their record, not in ours */
    CLEARING_DIFF_MISSING_THERE = 2, /* in ours, not in theirs */
    CLEARING_DIFF_AMOUNT = 3,        /* in both, amounts (or directions) differ */
    CLEARING_DIFF_DUPLICATE = 4,     /* the same id again in one record */
};
const char *clearing_diff_name(int cls);

struct clearing_diff {
    uint8_t cls;
    uint8_t side; /* duplicates: 1 ours, 2 theirs */
    jz_id id;
    int64_t ours;   /* 0 when missing here */
    int64_t theirs; /* 0 when missing there */
};

/* Compares two records of a cycle (neither is changed). Every id that is not in both with
 * the same amount gives one difference; each later occurrence of an id within one record
 * gives a duplicate (the first occurrence is the one compared). *out is malloc'd (caller
 * frees), in id order. 0, or -1 when out of memory. */
int clearing_reconcile(const struct clearing_record *ours, size_t n_ours,
                       const struct clearing_record *theirs, size_t n_theirs,
                       struct clearing_diff **out, size_t *n_out);

/* ---- Settlement files (docs/clearing.md: "Settlement files") ---- */

enum clearing_trigger { CLEARING_TRIGGER_DEMAND = 1, CLEARING_TRIGGER_SCHEDULE = 2 };

struct clearing_cycle_info {
    uint64_t id;
    uint64_t from_pos, to_pos; /* the cycle is (from_pos, to_pos) of the journal */
    int64_t opened_at, closed_at;
    uint8_t trigger;
    uint8_t schedule_sm3[32];
    int status;     /* JZ_OK, or JZ_OVERFLOW: the cycle cannot settle */
    uint64_t items; /* items in the cycle */
};

/* The members every cycle document starts with ("cycle", "opened_at", "closed_at", "from",
 * "to", "trigger", "schedule", "status"), without braces. */
void clearing_write_cycle_head(const struct clearing_cycle_info *cy, struct jbuf *b);

/* names[i] is institution i's id; n = net->n. */
void clearing_write_csv(const struct clearing_cycle_info *cy, const struct clearing_net *net,
                        const struct clearing_schedule *s, const char *const *names, uint32_t inst,
                        struct jbuf *out);
void clearing_write_json(const struct clearing_cycle_info *cy, const struct clearing_net *net,
                         const struct clearing_schedule *s, const char *const *names, uint32_t inst,
                         struct jbuf *out);
/* The cycle as central sees it: every institution's net and every pair's obligations. */
void clearing_write_cycle(const struct clearing_cycle_info *cy, const struct clearing_net *net,
                          const char *const *names, struct jbuf *out);
/* The item detail of one institution: its items of the cycle, in journal order. */
void clearing_write_items_csv(const struct clearing_cycle_info *cy,
                              const struct clearing_schedule *s, const char *const *names,
                              uint32_t inst, const struct clearing_item *items, size_t n,
                              struct jbuf *out);

const char *clearing_trigger_name(int trigger);

#endif
