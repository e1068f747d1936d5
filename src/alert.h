/*
 * alert.h: alerts, the cases analysts work (DESIGN.md §6), and the one call any module
 * makes to raise one.
 *
 * An alert names a subject wallet, a kind (an AML detector, a review rule, or what another
 * module found: a double spend, a token anomaly), a severity, the evidence (up to
 * ALERT_EVIDENCE_MAX ids of transfers, vouchers, holds) and the parameters of what found it.
 * Its id is derived from kind, subject and the event that raised it, so raising the same
 * finding again (a journal replay) is a no-op. Cases move open -> investigating ->
 * closed_suspicious | closed_ok (open may close directly); a closed case does not change.
 * Every change is journalled (LEDGER_NOTE_RISK) and kept in the alert's history.
 *
 * Raising goes through a sink (a function table), so a module depends only on this header:
 *     struct alert_raise a = {.kind = ALERT_DOUBLE_SPEND, .severity = ALERT_HIGH, ...};
 *     alert_raise(sink, &a, &id);
 * where the sink comes from api_risk_alert_sink(api) (api_risk.h) on a running node.
 */
#ifndef JZ_ALERT_H
#define JZ_ALERT_H

#include "common.h"

enum alert_kind {
    /* 1-6: the AML detectors, numbered as enum aml_detector. */
    ALERT_STRUCTURING = 1,
    ALERT_RAPID_IN_OUT = 2,
    ALERT_FAN_IN = 3,
    ALERT_FAN_OUT = 4,
    ALERT_DORMANT = 5,
    ALERT_CIRCULAR = 6,
    ALERT_RULE_REVIEW = 7,   /* a pre-payment rule held a payment for review */
    ALERT_DOUBLE_SPEND = 8,  /* offline: one card counter, two voucher bodies */
    ALERT_TOKEN = 9,         /* the token vault: misuse of a token */
    ALERT_CARD = 10,         /* the TSM: a card used after lock, a clone */
    ALERT_OTHER = 11,
    ALERT_KIND_MAX = 11,
};

enum alert_severity { ALERT_LOW = 1, ALERT_MEDIUM = 2, ALERT_HIGH = 3 };

enum alert_status {
    ALERT_OPEN = 1,
    ALERT_INVESTIGATING = 2,
    ALERT_CLOSED_SUSPICIOUS = 3,
    ALERT_CLOSED_OK = 4,
};

#define ALERT_EVIDENCE_MAX 8
#define ALERT_PARAMS_MAX 200
#define ALERT_NOTE_MAX 120
#define ALERT_ASSIGNEE_MAX 32

struct alert_raise {
    uint8_t kind;     /* enum alert_kind */
    uint8_t severity; /* enum alert_severity */
    jz_id subject;    /* the wallet the case is about */
    jz_id trigger;    /* the event that raised it: with kind and subject, makes the id */
    int64_t at_ms;
    uint64_t seq;     /* the journal record of the trigger; 0 when none */
    uint32_t nevidence;
    jz_id evidence[ALERT_EVIDENCE_MAX];
    char params[ALERT_PARAMS_MAX]; /* "key=value ..." */
};

struct alert_sink {
    /* Stores the alert (once: an id already present is left as it is). 0, or -1 on a
     * storage failure. Thread-safe. */
    int (*raise)(void *ctx, const struct alert_raise *a, jz_id *id);
    void *ctx;
};

/* Raises through sink; writes the alert's id to *id (may be NULL). 0, or -1 (no sink, an
 * out-of-range kind or severity, or a storage failure). */
int alert_raise(const struct alert_sink *sink, const struct alert_raise *a, jz_id *id);

/* The id of an alert: the first 16 bytes of SM3("jiaozi alert v1" | kind | subject |
 * trigger). */
void alert_id(uint8_t kind, const jz_id *subject, const jz_id *trigger, jz_id *out);

const char *alert_kind_name(int kind);
const char *alert_severity_name(int severity);
const char *alert_status_name(int status);
/* 0 for an unknown name. */
int alert_status_parse(const char *s);
/* Whether a case may move from one status to another. */
bool alert_transition_ok(int from, int to);

#endif
