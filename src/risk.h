/*
 * risk.h: pre-payment risk rules (DESIGN.md §6): a documented text file (docs/risk.md) parsed
 * and validated into an immutable rule set, then evaluated against the facts of one payment.
 *
 * A rule set is a list of at most RISK_RULES_MAX rules, each an action (allow, deny, review)
 * and at most RISK_CONDS_MAX conditions joined by "and". Evaluation walks the rules in file
 * order and the first rule whose conditions all hold decides; when none does the payment is
 * allowed. Each condition costs O(1), or O(log n) for a counterparty list of n ids, so one
 * evaluation does at most RISK_RULES_MAX * RISK_CONDS_MAX condition steps, each of at most
 * RISK_STEP_COMPARES comparisons: a fixed upper cost per payment, whatever the file says.
 *
 * The same file carries `set` lines: the hold timeout of a review, the large-value report
 * threshold and the AML detectors' parameters, each with a range.
 *
 * This module is pure: no I/O, no clock, no locks. It depends on ledger.h for the transfer
 * and wallet kinds only. A rule set is immutable once built and may be read by any number of
 * threads at once.
 */
#ifndef JZ_RISK_H
#define JZ_RISK_H

#include "ledger.h"

/* Limits of a rule file (each bounds memory or the cost of an evaluation). */
#define RISK_FILE_BYTES_MAX (768u * 1024) /* fits a PUT body of API_BODY_MAX as JSON */
#define RISK_LINE_BYTES_MAX 4096
#define RISK_RULES_MAX 256
#define RISK_CONDS_MAX 8
#define RISK_NAME_MAX 32          /* rule ids and list names: [A-Za-z0-9_.-]{1,32} */
#define RISK_LISTS_MAX 32
#define RISK_LIST_IDS_MAX 20000   /* wallet ids over all lists */
#define RISK_SET_VALUES_MAX 16    /* values of "mcc in a,b,c" or "operator in a,b" */
#define RISK_WINDOWS_MAX 4        /* distinct velocity windows of a rule set */
#define RISK_WINDOW_MIN_MS (60LL * 1000)
#define RISK_WINDOW_MAX_MS (30LL * 24 * 3600 * 1000)
/* Comparisons of the costliest condition: a binary search of the largest list. */
#define RISK_STEP_COMPARES 16

enum risk_action { RISK_ALLOW = 0, RISK_DENY = 1, RISK_REVIEW = 2 };

/* The AML detectors' parameters (aml.h reads them; defaults in risk_params_default). */
struct risk_aml_params {
    int64_t structuring_threshold_fen; /* the reporting threshold payments stay under */
    int64_t structuring_band_pct;      /* "just under": within this % below the threshold */
    int64_t structuring_count;         /* payments in the band that make an alert */
    int64_t structuring_window_ms;
    int64_t rapid_min_in_fen;          /* received within the window ... */
    int64_t rapid_out_pct;             /* ... of which at least this % sent on */
    int64_t rapid_window_ms;
    int64_t fan_in_count;              /* distinct senders within the window */
    int64_t fan_in_window_ms;
    int64_t fan_out_count;             /* distinct receivers within the window */
    int64_t fan_out_window_ms;
    int64_t fan_min_fen;               /* smaller transfers do not count for fan-in/out */
    int64_t dormant_idle_ms;           /* no activity for this long ... */
    int64_t dormant_min_fen;           /* ... then this much moved ... */
    int64_t dormant_window_ms;         /* ... within this long after waking */
    int64_t circular_min_fen;          /* every leg of a cycle at least this much */
    int64_t circular_ratio_pct;        /* largest leg <= this % of the smallest */
    int64_t circular_window_ms;        /* the whole cycle within this long */
};

struct risk_params {
    int64_t review_hold_ms;    /* a reviewed payment's hold lasts this long */
    int64_t large_value_fen;   /* per holder per day, for the large-value report */
    struct risk_aml_params aml;
};

void risk_params_default(struct risk_params *p);

/* What a rule may look at. Wallet facts come from the risk module's wallet table; 0 means
 * unknown (a wallet the table has not seen), which matches no "==" and every "!=". */
struct risk_facts {
    jz_id debit, credit;
    int64_t amount;
    uint8_t kind;                 /* enum ledger_transfer_kind */
    const char *actor;            /* the institution making the payment ("icbc") */
    int64_t now_ms;
    uint8_t payer_tier, payer_kind, payee_tier, payee_kind; /* tiers 1-4, ledger wallet kinds */
    uint16_t payee_mcc;           /* 0 = none */
    int64_t device_changed_ms;    /* when the payer's device last changed; 0 = never */
    /* Velocity of the payer per window of the rule set (risk_rules_window), this payment
     * included: payments and their sum. */
    uint32_t velocity_count[RISK_WINDOWS_MAX];
    int64_t velocity_sum[RISK_WINDOWS_MAX];
};

struct risk_verdict {
    uint8_t action;              /* enum risk_action */
    int rule;                    /* index of the deciding rule, -1 when none matched */
    char rule_id[RISK_NAME_MAX + 1]; /* "" when none */
    uint32_t steps;              /* conditions evaluated (<= RISK_RULES_MAX * RISK_CONDS_MAX) */
};

typedef struct risk_rules risk_rules;

/* Where a file was refused: its line (1-based; 0 for the file as a whole) and why. */
struct risk_error {
    int line;
    char reason[200];
};

/* Parses and validates text (len bytes, need not be NUL-terminated). On success *out is a
 * new rule set owned by the caller (risk_rules_free); on failure *e says where and why and
 * nothing is allocated. An empty file (or only comments) is a valid set with no rules. */
int risk_rules_parse(const char *text, size_t len, risk_rules **out, struct risk_error *e);
void risk_rules_free(risk_rules *r);

/* Decides one payment: the first rule all of whose conditions hold, or allow. */
void risk_rules_evaluate(const risk_rules *r, const struct risk_facts *f,
                         struct risk_verdict *out);

uint32_t risk_rules_count(const risk_rules *r);
const struct risk_params *risk_rules_params(const risk_rules *r);
/* The distinct velocity windows the rules use (ms), in first-use order; facts carry one
 * count and sum per window, in this order. */
uint32_t risk_rules_windows(const risk_rules *r, int64_t windows_ms[RISK_WINDOWS_MAX]);
/* Whether some rule looks at velocity, at the payer's device, or at the payee's wallet
 * (tier, kind, merchant category): screening reads only what the rules use. */
enum risk_use { RISK_USE_VELOCITY, RISK_USE_DEVICE, RISK_USE_PAYEE };
bool risk_rules_use(const risk_rules *r, enum risk_use what);

const char *risk_action_name(int action);
/* Hour of the day (0-23) in UTC+8 of a timestamp in ms. */
int risk_hour_utc8(int64_t ms);

#endif
