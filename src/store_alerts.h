/*
 * store_alerts.h: the risk module's store, DIR/alerts.db (SQLite, WAL): alerts and their
 * case history, the large-value day totals, disclosure requests, and which daily report
 * files were written. Only this file (of the risk module) includes SQLite.
 *
 * Everything here is derived from the journal by the risk monitor (risk_monitor.h), which
 * commits each run of records together with the seq it reached (monitored_seq), so a
 * restart resumes exactly and a deleted alerts.db is rebuilt by replaying the journal.
 * Writers: the monitor, and alert_raise from other modules; both go through one writer
 * connection under a mutex. Readers (the API) use their own connection. Thread-safe.
 */
#ifndef JZ_STORE_ALERTS_H
#define JZ_STORE_ALERTS_H

#include "alert.h"
#include "limits.h"

#define DISCLOSURE_BASIS_MAX 120

struct alert_row {
    uint64_t n;          /* order of raising: the list cursor */
    jz_id id;
    uint8_t kind, severity, status;
    jz_id subject;
    int32_t operator_index; /* the subject's operator (-1 unknown) */
    int64_t raised_at, updated_at, closed_at; /* closed_at 0 while open */
    uint64_t seq;
    uint32_t nevidence;
    jz_id evidence[ALERT_EVIDENCE_MAX];
    char params[ALERT_PARAMS_MAX];
    char assignee[ALERT_ASSIGNEE_MAX + 1];
};

/* One change of a case, as journalled (LEDGER_NOTE_RISK). */
struct alert_event_row {
    uint64_t seq;
    uint32_t idx;        /* command index in the record */
    int64_t at;
    int32_t actor;       /* institution index */
    uint8_t status;      /* new status, 0 = unchanged */
    bool applied;        /* false: refused when applied (a closed case, a bad transition) */
    char assignee[ALERT_ASSIGNEE_MAX + 1]; /* "" = unchanged */
    char note[ALERT_NOTE_MAX + 1];
};

struct large_value_row {
    int32_t day;         /* ledger_day_of (UTC+8) */
    jz_id holder;
    int32_t operator_index;
    int64_t in_fen, out_fen;
    uint32_t in_count, out_count;
    int64_t last_at;
};

enum disclosure_status { DISCLOSURE_PENDING = 1, DISCLOSURE_APPROVED = 2 };

struct disclosure_row {
    jz_id id, wallet;
    int32_t requester, approver; /* approver -1 while pending */
    uint8_t status;
    char legal_basis[DISCLOSURE_BASIS_MAX + 1];
    int64_t requested_at, approved_at;
    uint32_t reveals;
};

typedef struct alert_store alert_store;

int alert_store_open(const char *path, alert_store **out, char *err, size_t err_len);
void alert_store_close(alert_store *s);

/* ---- Writing ---- */
/* A transaction of the monitor: begin, then end it committing (with the seq it reached,
 * which alert_store_seq then returns) or rolling back. 0, or -1 on a storage error. */
int alert_store_begin(alert_store *s);
int alert_store_end(alert_store *s, bool commit, uint64_t monitored_seq);
uint64_t alert_store_seq(alert_store *s);
/* Inserts a new alert (status open); an id already present is left alone: returns 1 when
 * stored, 0 when it was there, -1 on error. */
int alert_store_put(alert_store *s, const struct alert_row *a);
/* Applies a case change if the transition is allowed (else records it as refused) and adds
 * it to the history (idempotent by seq and idx). 0, or -1 on error. */
int alert_store_change(alert_store *s, const jz_id *alert, const struct alert_event_row *e);
int alert_store_put_large_value(alert_store *s, const struct large_value_row *r);
int alert_store_put_disclosure(alert_store *s, const struct disclosure_row *d);
int alert_store_approve_disclosure(alert_store *s, const jz_id *id, int32_t approver, int64_t at);
int alert_store_count_reveal(alert_store *s, const jz_id *id);
/* Report files: whether a day's were written, and marking them. */
int alert_store_report_written(alert_store *s, int32_t day);
int alert_store_mark_report(alert_store *s, int32_t day, int64_t at);

/* ---- Reading ---- */
/* 0 with *out (and up to max events, oldest first, in ev, their count in nev), 1 when absent, -1 error. */
int alert_store_get(alert_store *s, const jz_id *id, struct alert_row *out,
                    struct alert_event_row *ev, uint32_t max, uint32_t *nev);
/* Alerts newest first with n < before (0 = from the newest); status 0 = any; operator -1 =
 * any. *next is the cursor for the next page (0 = no more). */
int alert_store_list(alert_store *s, uint8_t status, int32_t operator_index, uint64_t before,
                     uint32_t limit, struct alert_row *out, uint32_t *count, uint64_t *next);
/* Large-value totals of a day, by holder. Returns the count (<= max) or -1. */
int alert_store_large_values(alert_store *s, int32_t day, struct large_value_row *out,
                             uint32_t max);
/* Alerts closed as suspicious on a day (UTC+8), oldest first. Returns the count or -1. */
int alert_store_suspicious(alert_store *s, int32_t day, struct alert_row *out, uint32_t max);
int alert_store_get_disclosure(alert_store *s, const jz_id *id, struct disclosure_row *out);

#endif
