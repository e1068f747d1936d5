/*
 * risk_engine.h: risk control attached to a running node (DESIGN.md §6): the versioned
 * rule file in force, the screening of payments before they are submitted, and the risk
 * monitor, a thread that follows the durable journal off the hot path.
 *
 * The monitor reads every durable record (as the history projector does: a journal_reader
 * up to the executor's durable head) and
 *   - keeps risk_table current: wallet profiles, device changes, and the velocity of
 *     durable payments not already counted when they were screened;
 *   - feeds the AML detectors (aml.h) and stores their findings as alerts;
 *   - applies case changes, review holds and disclosures journalled as notes
 *     (risk_note.h) to DIR/alerts.db (store_alerts.h);
 *   - accumulates the large-value totals and, when a UTC+8 day is over, writes the day's
 *     reports (report.h) to DIR/reports/.
 * Everything it derives is a function of the journal. On start it replays the journal from
 * the first record, rebuilding its memory, and writes to alerts.db only what is newer than
 * the seq alerts.db recorded, so a restart neither loses nor repeats an alert. Its lag
 * (durable seq - monitored seq) is a metric.
 *
 * Rules: DIR/risk/rules-NNNNNN.txt is version N as given; DIR/risk/current names the
 * version in force and its SM3. A change is staged (parsed and validated: nothing changes
 * on a bad file), journalled (the caller journals risk_note RULES with the version and
 * SM3), then activated: the files are written, the set swapped, and the monitor rebuilds
 * velocity from the journal when the windows changed (activation waits for that, bounded).
 * One change at a time: stage takes a lock that activate or discard releases.
 */
#ifndef JZ_RISK_ENGINE_H
#define JZ_RISK_ENGINE_H

#include "aml.h"
#include "alert.h"
#include "executor.h"
#include "risk.h"
#include "report.h"
#include "risk_table.h"
#include "store_alerts.h"

struct risk_engine_config {
    const char *dir;          /* the node's data directory */
    executor *ex;             /* durable head, borrowed */
    uint32_t wallets_max;     /* from jiaozi.conf */
    uint32_t holds_max;
    uint32_t evidence_ring;   /* AML evidence ring; 0 = 2^20 transfers */
    bool reports;             /* write the daily report files */
    /* An institution's id by index, for reports ("" when unknown); may be NULL. */
    const char *(*institution)(void *ctx, int32_t index);
    void *institution_ctx;
};

typedef struct risk_engine risk_engine;

/* Loads the rules in force, opens DIR/alerts.db and starts the monitor. */
int risk_engine_open(const struct risk_engine_config *cfg, risk_engine **out, char *err,
                     size_t err_len);
/* Stops the monitor once it has processed everything durable; frees the engine. */
void risk_engine_close(risk_engine *e);

/* ---- Rules ---- */

struct risk_rules_info {
    uint32_t version;  /* 0 = none ever set */
    uint8_t sm3[CRYPTO_SM3_BYTES];
    uint32_t rules;
    uint32_t windows;
    int64_t windows_ms[RISK_WINDOWS_MAX];
    struct risk_params params;
};
void risk_engine_rules_info(risk_engine *e, struct risk_rules_info *out);
/* A copy of the file in force (malloc'd, NUL-terminated; the caller frees), or NULL. */
char *risk_engine_rules_text(risk_engine *e, size_t *len);

struct risk_staged;
/* Parses a new file as version (current + 1). 0 with *out; -1 with *err (line, reason),
 * nothing changed and the lock released. */
int risk_engine_stage(risk_engine *e, const char *text, size_t len, struct risk_staged **out,
                      struct risk_error *err);
uint32_t risk_staged_version(const struct risk_staged *s);
const uint8_t *risk_staged_sm3(const struct risk_staged *s);
uint32_t risk_staged_rules(const struct risk_staged *s);
/* Writes the files and puts the staged set in force. 0, or -1 with err (the old set
 * stays). Releases the lock and frees s either way. */
int risk_engine_activate(risk_engine *e, struct risk_staged *s, char *err, size_t err_len);
void risk_engine_discard(risk_engine *e, struct risk_staged *s);

/* ---- Screening ---- */

struct risk_decision {
    uint8_t action;       /* enum risk_action */
    bool counted;         /* counted in the payer's velocity at screening (risk_table.h) */
    uint32_t generation;  /* ... under this generation of the windows, at at_ms */
    int64_t at_ms;
    char rule_id[RISK_NAME_MAX + 1];
};

/* True when the rules in force hold at least one rule. */
bool risk_engine_active(risk_engine *e);
/* Decides each transfer and hold creation of cmds (other commands are allowed) for the
 * institution named actor at time now, and counts what it lets through in the payers'
 * velocity (when rules look at velocity). Returns the version of the rules that decided. */
uint32_t risk_engine_screen(risk_engine *e, const struct ledger_cmd *cmds, uint32_t n,
                            const char *actor, int64_t now_ms, struct risk_decision *out);
/* The marker that must open the request of counted payments (a NOTE: the monitor then does
 * not count them again). False when none was counted (no marker needed). */
bool risk_engine_marker(risk_engine *e, const struct risk_decision *d, uint32_t n,
                        uint16_t actor, struct ledger_cmd *out);
/* After the request (results: what the ledger answered, NULL when it never reached the
 * journal): takes back the counted payments that did not post. A request sent without its
 * marker (no room: JZ_BATCH_MAX commands) is counted by the monitor: this waits (bounded)
 * for the monitor to read it, then takes back all. Clears the counted flags. */
void risk_engine_settle(risk_engine *e, const struct ledger_cmd *cmds, uint32_t n,
                        struct risk_decision *d, const struct ledger_result *results,
                        bool marked);
/* A device report of a wallet, applied at once (the monitor re-applies the journalled
 * note, with the same effect), or with apply false only tested. True when the device
 * changes. */
bool risk_engine_device(risk_engine *e, const jz_id *wallet, const jz_id *device, int64_t at,
                        bool apply);

/* ---- The monitor ---- */

/* Waits (at most timeout_ms) until the monitor has processed seq. 0 when it has. */
int risk_engine_wait(risk_engine *e, uint64_t seq, int timeout_ms);

struct risk_engine_stats {
    uint64_t durable_seq, monitored_seq;
    bool warm;                 /* caught up with the journal as it was at open */
    bool failed;               /* alerts.db could not be written: the monitor stopped */
    uint64_t records, transfers;
    uint64_t alerts[ALERT_KIND_MAX + 1];
    uint64_t screened[3];      /* by enum risk_action */
    uint64_t velocity_rebuilds;
    uint32_t journalled_rules_version;
    struct risk_table_stats table;
};
void risk_engine_stats(risk_engine *e, struct risk_engine_stats *out);
/* Prometheus lines for /metrics. */
void risk_engine_write_metrics(risk_engine *e, struct jbuf *b);

risk_table *risk_engine_table(risk_engine *e);
alert_store *risk_engine_store(risk_engine *e);
/* The sink other modules raise alerts through (alert.h). */
const struct alert_sink *risk_engine_sink(risk_engine *e);
/* Writes the reports of a day to DIR/reports/ now (also done when the day is over). */
int risk_engine_write_reports(risk_engine *e, int32_t day, char *err, size_t err_len);
/* The report context (store, threshold in force, institution names). */
void risk_engine_report_ctx(risk_engine *e, struct report_ctx *out);

#endif
