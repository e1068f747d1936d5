/*
 * risk_engine.c: rules in force, screening, and the risk monitor (see risk_engine.h).
 */
#include "risk_engine.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "idmap.h"
#include "journal.h"
#include "metrics.h"
#include "risk_note.h"

#define RECORDS_PER_COMMIT 1024
/* With nothing durable to read the monitor polls the executor's durable head: at first
 * every IDLE_POLL_MIN_MS, backing off to IDLE_POLL_MAX_MS while the node stays idle (an
 * idle node costs next to nothing). Anyone waiting on the monitor wakes it at once. */
#define IDLE_POLL_MIN_MS 1
#define IDLE_POLL_MAX_MS 20
#define TIME_INDEX 65536          /* (seq, time) samples, one per minute of journal time */
#define ACTIVATE_WAIT_MS 30000    /* velocity rebuild after a rule change */
#define WARM_WAIT_MS 10000        /* screening before the monitor's first catch-up */
#define UNKNOWN_WAIT_MS 1000      /* a payer the table has not seen yet */
#define PREFETCH_CHUNK 16         /* commands whose wallets are fetched together */
#define READ_BACK_WAIT_MS 10000   /* an unmarked request's payments, read by the monitor */

struct hold_info {
    jz_id debit, credit;
    int64_t amount;
};

struct time_mark {
    uint64_t seq;
    int64_t ts;
};

struct risk_staged {
    risk_rules *rules;
    char *text;
    size_t len;
    uint32_t version;
    uint8_t sm3[CRYPTO_SM3_BYTES];
};

struct risk_engine {
    struct risk_engine_config cfg;
    char dir[2048];
    /* Rules in force. */
    pthread_mutex_t stage_mu; /* one change at a time */
    pthread_rwlock_t rules_mu;
    risk_rules *rules;
    char *text;
    size_t text_len;
    uint32_t version;
    uint8_t sm3[CRYPTO_SM3_BYTES];
    _Atomic bool active;
    _Atomic uint64_t screened[3];
    /* Shared state. */
    risk_table *table;
    alert_store *store;
    struct alert_sink sink;
    /* The monitor (its thread alone touches what follows, unless noted). */
    pthread_t thread;
    pthread_mutex_t mu; /* guards monitored, gen, applied_gen, stopping, failed */
    pthread_cond_t cond;
    uint64_t monitored; /* also read atomically-enough under mu */
    uint64_t warm_target;
    uint64_t gen, applied_gen; /* rule changes asked for / applied by the monitor */
    bool stopping, failed;
    bool kicked;           /* someone waits: look at the durable head now */
    bool write_error;      /* the monitor's own: an alerts.db write failed in this run */
    journal_reader *reader;
    struct ledger_cmd *scratch;
    aml *aml;
    struct idmap holds;
    uint64_t db_seq;       /* alerts.db holds everything up to here */
    bool writing;          /* the record in hand is newer than db_seq */
    uint64_t cur_seq;
    int64_t cur_ts;
    uint32_t cur_idx;
    bool group_counted;    /* the group in hand was counted when screened (its marker) */
    int32_t cur_day;
    uint32_t institutions; /* created so far: the next index */
    struct time_mark marks[TIME_INDEX];
    uint32_t nmarks;
    int64_t last_chores_ms;
    uint32_t journalled_version;
    _Atomic uint64_t records, transfers, rebuilds;
    _Atomic uint64_t alerts[ALERT_KIND_MAX + 1];
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *inst_name(void *ctx, int32_t index)
{
    risk_engine *e = ctx;
    return e->cfg.institution ? e->cfg.institution(e->cfg.institution_ctx, index) : "";
}

static int32_t operator_of(risk_engine *e, const jz_id *wallet)
{
    struct risk_wallet w;
    return risk_table_get(e->table, wallet, &w) == 0 ? w.operator_index : -1;
}

/* ---- Files ---- */

static int write_atomic(const char *path, const void *data, size_t len)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        return -1;
    }
    bool ok = fwrite(data, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static char *read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (!buf || n > max) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* DIR/risk/current: "version N\nsm3 HEX\n". Loads that version's file, checking its SM3. */
static int load_rules(risk_engine *e, char *err, size_t err_len)
{
    char path[4096];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/risk/current", e->dir);
    char *cur = read_file(path, 256, &len);
    struct risk_error re;
    if (!cur) {
        return risk_rules_parse("", 0, &e->rules, &re); /* never set: no rules */
    }
    unsigned version = 0;
    char hex[65] = "";
    uint8_t want[CRYPTO_SM3_BYTES];
    int ok = sscanf(cur, "version %u\nsm3 %64s", &version, hex) == 2 &&
             jz_hex_decode(hex, strlen(hex), want, sizeof want) == 0;
    free(cur);
    snprintf(path, sizeof path, "%s/risk/rules-%06u.txt", e->dir, version);
    char *text = ok ? read_file(path, RISK_FILE_BYTES_MAX, &len) : NULL;
    if (!text || crypto_sm3(text, len, e->sm3) != 0 || memcmp(e->sm3, want, sizeof want) != 0) {
        snprintf(err, err_len, "%s: missing, or its SM3 is not the one DIR/risk/current names",
                 path);
        free(text);
        return -1;
    }
    if (risk_rules_parse(text, len, &e->rules, &re) != 0) {
        snprintf(err, err_len, "%s: line %d: %s", path, re.line, re.reason);
        free(text);
        return -1;
    }
    e->text = text;
    e->text_len = len;
    e->version = version;
    return 0;
}

/* ---- Alerts ---- */

static int store_alert(risk_engine *e, const struct alert_raise *a, jz_id *id)
{
    struct alert_row row;
    memset(&row, 0, sizeof row);
    alert_id(a->kind, &a->subject, &a->trigger, &row.id);
    row.kind = a->kind;
    row.severity = a->severity;
    row.subject = a->subject;
    row.operator_index = operator_of(e, &a->subject);
    row.raised_at = a->at_ms;
    row.seq = a->seq;
    row.nevidence = a->nevidence;
    memcpy(row.evidence, a->evidence, a->nevidence * sizeof *a->evidence);
    snprintf(row.params, sizeof row.params, "%s", a->params);
    int rc = alert_store_put(e->store, &row);
    if (rc > 0) {
        atomic_fetch_add(&e->alerts[a->kind], 1);
    }
    *id = row.id;
    return rc < 0 ? -1 : 0;
}

static int sink_raise(void *ctx, const struct alert_raise *a, jz_id *id)
{
    return store_alert(ctx, a, id);
}

static void on_finding(void *ctx, const struct aml_finding *f)
{
    risk_engine *e = ctx;
    if (!e->writing) {
        return; /* replaying what alerts.db already holds */
    }
    struct alert_raise a = {.kind = f->detector, .severity = f->severity, .subject = f->subject,
                            .trigger = f->trigger, .at_ms = f->ts, .seq = e->cur_seq,
                            .nevidence = f->nevidence};
    memcpy(a.evidence, f->evidence, f->nevidence * sizeof *f->evidence);
    snprintf(a.params, sizeof a.params, "%s", f->params);
    jz_id id;
    if (store_alert(e, &a, &id) != 0) {
        e->write_error = true;
    }
}

static void on_day_total(void *ctx, const struct aml_day_total *d)
{
    risk_engine *e = ctx;
    if (!e->writing) {
        return;
    }
    struct large_value_row r = {.day = d->day, .holder = d->holder,
                                .operator_index = operator_of(e, &d->holder),
                                .in_fen = d->in_fen, .out_fen = d->out_fen,
                                .in_count = d->in_count, .out_count = d->out_count,
                                .last_at = d->last_ts};
    if (alert_store_put_large_value(e->store, &r) != 0) {
        e->write_error = true;
    }
}

/* ---- Applying the journal ---- */

static void apply_risk_note(risk_engine *e, const struct ledger_cmd *c, const struct risk_note *n)
{
    if (n->event == RISK_NOTE_RULES) {
        e->journalled_version = n->version;
    } else if (n->event == RISK_NOTE_DEVICE) {
        risk_table_device(e->table, &n->id, &n->other, e->cur_ts, true);
    } else if (n->event == RISK_NOTE_REVIEW && e->writing) {
        struct alert_raise a = {.kind = ALERT_RULE_REVIEW, .severity = ALERT_MEDIUM,
                                .subject = n->other, .trigger = n->id, .at_ms = e->cur_ts,
                                .seq = e->cur_seq, .nevidence = 1, .evidence = {n->id}};
        snprintf(a.params, sizeof a.params, "rule=%s version=%u amount_fen=%lld hold=held",
                 n->rule_id, n->version, (long long)n->number);
        jz_id id;
        e->write_error = e->write_error || store_alert(e, &a, &id) != 0;
    } else if (n->event == RISK_NOTE_CASE && e->writing) {
        struct alert_event_row ev = {.seq = e->cur_seq, .idx = e->cur_idx, .at = e->cur_ts,
                                     .actor = c->actor, .status = (uint8_t)n->number};
        snprintf(ev.assignee, sizeof ev.assignee, "%s", n->assignee);
        snprintf(ev.note, sizeof ev.note, "%s", n->note);
        e->write_error = e->write_error || alert_store_change(e->store, &n->id, &ev) != 0;
    }
}

static void apply_disclosure(risk_engine *e, const struct ledger_cmd *c, const struct risk_note *n)
{
    int rc = 0;
    if (!e->writing) {
        return;
    }
    if (n->event == DISCLOSURE_REQUEST) {
        struct disclosure_row d = {.id = n->id, .wallet = n->other, .requester = c->actor,
                                   .requested_at = e->cur_ts};
        snprintf(d.legal_basis, sizeof d.legal_basis, "%s", n->basis);
        rc = alert_store_put_disclosure(e->store, &d);
    } else if (n->event == DISCLOSURE_APPROVE) {
        rc = alert_store_approve_disclosure(e->store, &n->id, c->actor, e->cur_ts);
    } else if (n->event == DISCLOSURE_REVEAL) {
        rc = alert_store_count_reveal(e->store, &n->id);
    }
    e->write_error = e->write_error || rc != 0;
}

static void apply_transfer(risk_engine *e, const struct ledger_cmd *c, uint8_t kind)
{
    struct aml_transfer t = {.id = c->id, .debit = c->debit, .credit = c->credit,
                             .amount = c->amount, .ts = e->cur_ts, .kind = kind};
    aml_transfer(e->aml, &t);
    atomic_fetch_add_explicit(&e->transfers, 1, memory_order_relaxed);
}

static void apply_wallet(risk_engine *e, const struct ledger_cmd *c)
{
    struct risk_wallet w = {.operator_index = c->actor, .kind = c->kind, .tier = c->tier,
                            .mcc = c->mcc, .created_at = e->cur_ts, .open_seq = e->cur_seq};
    risk_table_put_wallet(e->table, &c->id, &w);
    aml_wallet(e->aml, &c->id, c->kind, &c->credit, e->cur_ts);
}

static void apply_institution(risk_engine *e, const struct ledger_cmd *c)
{
    struct risk_wallet w = {.operator_index = (uint16_t)e->institutions++,
                            .kind = LEDGER_WALLET_TREASURY, .tier = 1, .created_at = e->cur_ts};
    risk_table_put_wallet(e->table, &c->debit, &w);
    aml_wallet(e->aml, &c->debit, LEDGER_WALLET_TREASURY, NULL, e->cur_ts);
}

static void apply_hold(risk_engine *e, const struct ledger_cmd *c)
{
    struct hold_info h;
    if (c->op == LEDGER_OP_HOLD_CREATE) {
        struct hold_info *slot = idmap_put(&e->holds, &c->id);
        if (slot) {
            *slot = (struct hold_info){c->debit, c->credit, c->amount};
        }
        return;
    }
    if (!idmap_take(&e->holds, &c->id, &h) || c->op != LEDGER_OP_HOLD_CAPTURE) {
        return; /* a void, or a hold older than the monitor's memory */
    }
    /* A capture is the payment the hold reserved: the detectors see it now. */
    struct aml_transfer at = {.id = c->id, .debit = h.debit, .credit = h.credit,
                              .amount = c->amount ? c->amount : h.amount, .ts = e->cur_ts,
                              .kind = LEDGER_KIND_PAYMENT};
    aml_transfer(e->aml, &at);
}

/* Whether a group starts with the marker of screened payments counted under the table's
 * current generation (risk_table.h): then the monitor does not count them again. */
static bool counted_group(risk_engine *e, const struct ledger_cmd *first, uint8_t code)
{
    struct risk_note n;
    return first->op == LEDGER_OP_NOTE && first->kind == LEDGER_NOTE_RISK && code == JZ_OK &&
           risk_note_decode(first, &n) == 0 && n.event == RISK_NOTE_SCREENED &&
           (uint32_t)n.number == risk_table_generation(e->table);
}

static void apply_command(risk_engine *e, const struct ledger_cmd *c, uint8_t code, bool replay)
{
    if (code != JZ_OK || replay) {
        return;
    }
    if ((c->op == LEDGER_OP_TRANSFER || c->op == LEDGER_OP_HOLD_CREATE) && !e->group_counted) {
        risk_table_velocity_add(e->table, &c->debit, e->cur_ts, c->amount);
    }
    struct risk_note n;
    switch (c->op) {
    case LEDGER_OP_TRANSFER: apply_transfer(e, c, c->kind); break;
    case LEDGER_OP_HOLD_CREATE:
    case LEDGER_OP_HOLD_CAPTURE:
    case LEDGER_OP_HOLD_VOID: apply_hold(e, c); break;
    case LEDGER_OP_WALLET_OPEN: apply_wallet(e, c); break;
    case LEDGER_OP_WALLET_UPDATE: risk_table_set_tier(e->table, &c->id, c->tier); break;
    case LEDGER_OP_GENESIS:
    case LEDGER_OP_INSTITUTION_CREATE: apply_institution(e, c); break;
    case LEDGER_OP_NOTE:
        if (risk_note_decode(c, &n) == 0) {
            if (n.topic == LEDGER_NOTE_RISK) {
                apply_risk_note(e, c, &n);
            } else {
                apply_disclosure(e, c, &n);
            }
        }
        break;
    default: break;
    }
}

/* Memory hints for the wallets of the next commands: the tables are large and the
 * wallets random, so fetching a chunk's lines together overlaps their cache misses. */
static void prefetch_chunk(risk_engine *e, const struct ledger_cmd *cmds, uint32_t n)
{
    /* The velocity entry is read only for payments not counted at screening. */
    bool velocity = !e->group_counted && risk_table_generation(e->table) != 0;
    for (int stage = 1; stage <= 2; stage++) {
        for (uint32_t k = 0; k < n; k++) {
            if (cmds[k].op == LEDGER_OP_TRANSFER) {
                if (velocity) {
                    risk_table_prefetch(e->table, &cmds[k].debit, stage);
                }
                aml_prefetch(e->aml, &cmds[k].debit, stage);
                aml_prefetch(e->aml, &cmds[k].credit, stage);
            }
        }
    }
}

static int apply_group(void *ctx, const struct ledger_cmd *cmds, const uint8_t *results,
                       uint32_t n)
{
    risk_engine *e = ctx;
    e->group_counted = n > 0 && counted_group(e, &cmds[0], results[0]);
    for (uint32_t k = 0; k < n; k++, e->cur_idx++) {
        if (k % PREFETCH_CHUNK == 0) {
            prefetch_chunk(e, &cmds[k], n - k < PREFETCH_CHUNK ? n - k : PREFETCH_CHUNK);
        }
        apply_command(e, &cmds[k], results[2 * k],
                      (results[2 * k + 1] & COMMAND_REPLAYED_BIT) != 0);
    }
    return 0;
}

static void mark_time(risk_engine *e, uint64_t seq, int64_t ts)
{
    struct time_mark *last = e->nmarks ? &e->marks[(e->nmarks - 1) % TIME_INDEX] : NULL;
    if (!last || ts / 60000 != last->ts / 60000) {
        e->marks[e->nmarks % TIME_INDEX] = (struct time_mark){seq, ts};
        e->nmarks++;
    }
}

/* The first seq whose records may be at or after time ts (1 when the index is short). */
static uint64_t seq_at(const risk_engine *e, int64_t ts)
{
    uint32_t first = e->nmarks > TIME_INDEX ? e->nmarks - TIME_INDEX : 0;
    uint64_t seq = first == 0 ? 1 : e->marks[first % TIME_INDEX].seq;
    for (uint32_t i = first; i < e->nmarks; i++) {
        if (e->marks[i % TIME_INDEX].ts > ts) {
            break;
        }
        seq = e->marks[i % TIME_INDEX].seq;
    }
    return seq;
}

/* ---- Reports ---- */

void risk_engine_report_ctx(risk_engine *e, struct report_ctx *out)
{
    pthread_rwlock_rdlock(&e->rules_mu);
    out->large_value_fen = risk_rules_params(e->rules)->large_value_fen;
    pthread_rwlock_unlock(&e->rules_mu);
    out->store = e->store;
    out->name = inst_name;
    out->name_ctx = e;
}

int risk_engine_write_reports(risk_engine *e, int32_t day, char *err, size_t err_len)
{
    struct report_ctx c;
    risk_engine_report_ctx(e, &c);
    if (report_write_files(&c, e->dir, day, wall_ms(), err, err_len) != 0) {
        return -1;
    }
    return alert_store_mark_report(e->store, day, wall_ms());
}

/* A UTC+8 day is over (the journal, or the clock, has moved past it). */
static void day_over(risk_engine *e, int32_t day)
{
    char err[512];
    if (!e->cfg.reports || alert_store_report_written(e->store, day) != 0) {
        return;
    }
    if (risk_engine_write_reports(e, day, err, sizeof err) != 0) {
        fprintf(stderr, "jiaozi: risk reports of day %d: %s\n", day, err);
    }
}

/* ---- The monitor thread ---- */

static void set_monitored(risk_engine *e, uint64_t seq)
{
    pthread_mutex_lock(&e->mu);
    e->monitored = seq;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->mu);
}

static void apply_record(risk_engine *e, const struct journal_record *rec)
{
    e->writing = rec->seq > e->db_seq;
    e->cur_seq = rec->seq;
    e->cur_ts = rec->timestamp_ms;
    e->cur_idx = 0;
    mark_time(e, rec->seq, rec->timestamp_ms);
    /* Malformed payloads cannot be durable (the executor wrote them); skip defensively. */
    command_payload_walk(rec->payload, rec->size, rec->count, e->scratch, apply_group, e);
    atomic_fetch_add_explicit(&e->records, 1, memory_order_relaxed);
}

/* Processes up to RECORDS_PER_COMMIT durable records in one alerts.db transaction. Returns
 * the records processed, or -1 on a failure (the monitor stops; err says why). */
static int run_records(risk_engine *e, uint64_t durable, char *err, size_t err_len)
{
    struct journal_record rec;
    bool txn = false;
    uint64_t last = 0;
    int n = 0;
    for (; n < RECORDS_PER_COMMIT; n++) {
        int rc = journal_reader_next(e->reader, durable, &rec, err, err_len);
        if (rc <= 0) {
            if (rc < 0) {
                goto fail;
            }
            break;
        }
        int32_t day = ledger_day_of(rec.timestamp_ms);
        if (rec.seq > e->db_seq && e->cur_day != INT32_MIN && day > e->cur_day) {
            /* The day is over: its totals must be committed before its reports. */
            if (txn && alert_store_end(e->store, true, last) != 0) {
                goto fail;
            }
            txn = false;
            e->db_seq = last > e->db_seq ? last : e->db_seq;
            day_over(e, e->cur_day);
        }
        e->cur_day = day > e->cur_day ? day : e->cur_day;
        if (rec.seq > e->db_seq && !txn) {
            if (alert_store_begin(e->store) != 0) {
                goto fail;
            }
            txn = true;
        }
        if (rec.type == JOURNAL_TYPE_BATCH) {
            apply_record(e, &rec);
        }
        last = rec.seq;
        if (e->write_error) {
            goto fail;
        }
    }
    if (txn) {
        if (alert_store_end(e->store, true, last) != 0) {
            goto fail;
        }
        e->db_seq = last;
    }
    if (last) {
        set_monitored(e, last);
    }
    return n;
fail:
    if (txn) {
        alert_store_end(e->store, false, 0);
    }
    snprintf(err + strlen(err), err_len - strlen(err), "%salerts.db could not be written",
             err[0] ? "; " : "");
    return -1;
}

static int rebuild_group(void *ctx, const struct ledger_cmd *cmds, const uint8_t *results,
                         uint32_t n)
{
    risk_engine *e = ctx;
    if (n > 0 && counted_group(e, &cmds[0], results[0])) {
        return 0; /* counted under the new windows when screened */
    }
    for (uint32_t k = 0; k < n; k++) {
        const struct ledger_cmd *c = &cmds[k];
        if ((c->op == LEDGER_OP_TRANSFER || c->op == LEDGER_OP_HOLD_CREATE) &&
            results[2 * k] == JZ_OK && !(results[2 * k + 1] & COMMAND_REPLAYED_BIT)) {
            risk_table_velocity_add(e->table, &c->debit, e->cur_ts, c->amount);
        }
    }
    return 0;
}

/* Velocity for new windows: zeroed, then rebuilt from the journal records of the longest
 * window (found through the time index) up to what the monitor has processed. */
static void rebuild_velocity(risk_engine *e)
{
    int64_t w[RISK_WINDOWS_MAX];
    pthread_rwlock_rdlock(&e->rules_mu);
    uint32_t n = risk_rules_windows(e->rules, w);
    struct risk_params params = *risk_rules_params(e->rules);
    pthread_rwlock_unlock(&e->rules_mu);
    aml_set_params(e->aml, &params.aml, params.large_value_fen);
    if (risk_table_set_windows(e->table, w, n) != 1 || n == 0) {
        return;
    }
    int64_t longest = 0;
    for (uint32_t i = 0; i < n; i++) {
        longest = w[i] > longest ? w[i] : longest;
    }
    uint64_t upto = journal_reader_position(e->reader) - 1;
    journal_reader *r = NULL;
    char err[256];
    struct journal_record rec;
    if (journal_reader_open(e->dir, seq_at(e, wall_ms() - longest - 60000), &r, err,
                            sizeof err) != 0) {
        fprintf(stderr, "jiaozi: risk velocity rebuild: %s\n", err);
        return;
    }
    while (journal_reader_next(r, upto, &rec, err, sizeof err) > 0) {
        if (rec.type == JOURNAL_TYPE_BATCH) {
            e->cur_ts = rec.timestamp_ms;
            command_payload_walk(rec.payload, rec.size, rec.count, e->scratch, rebuild_group, e);
        }
    }
    journal_reader_close(r);
    atomic_fetch_add(&e->rebuilds, 1);
}

/* Housekeeping about once a second: the reports of a day the clock has left while the
 * journal was quiet. */
static void chores(risk_engine *e)
{
    int64_t now = wall_ms();
    if (now - e->last_chores_ms < 1000) {
        return;
    }
    e->last_chores_ms = now;
    int32_t today = ledger_day_of(now);
    if (e->cur_day != INT32_MIN && today > e->cur_day) {
        day_over(e, e->cur_day);
    }
}

/* The CLOCK_REALTIME instant ms from now (pthread_cond_timedwait's clock). */
static struct timespec deadline_in(int64_t ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    int64_t ns = t.tv_nsec + (ms % 1000) * 1000000;
    t.tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
    t.tv_nsec = (long)(ns % 1000000000);
    return t;
}

/* What a caller waits for, under mu. */
static bool monitored_reached(const risk_engine *e, uint64_t seq)
{
    return e->monitored >= seq;
}

static bool generation_applied(const risk_engine *e, uint64_t gen)
{
    return e->applied_gen >= gen;
}

/* Under mu: waits on cond until done(e, arg), the monitor fails, or the deadline passes.
 * Returns done(e, arg). */
static bool wait_for(risk_engine *e, bool (*done)(const risk_engine *, uint64_t), uint64_t arg,
                     int64_t timeout_ms)
{
    struct timespec until = deadline_in(timeout_ms);
    for (int rc = 0; !done(e, arg) && !e->failed && rc == 0;) {
        rc = pthread_cond_timedwait(&e->cond, &e->mu, &until);
    }
    return done(e, arg);
}

/* Sleeps up to ms unless woken (a waiter, a rule change, a stop). */
static void idle(risk_engine *e, int ms)
{
    pthread_mutex_lock(&e->mu);
    if (!e->stopping && e->gen == e->applied_gen && !e->kicked) {
        struct timespec until = deadline_in(ms);
        pthread_cond_timedwait(&e->cond, &e->mu, &until);
    }
    e->kicked = false;
    pthread_mutex_unlock(&e->mu);
}

static void *monitor_main(void *arg)
{
    risk_engine *e = arg;
    pthread_setname_np(pthread_self(), "jz-risk");
    char err[512];
    int poll_ms = IDLE_POLL_MIN_MS;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        uint64_t gen = e->gen;
        bool stopping = e->stopping;
        pthread_mutex_unlock(&e->mu);
        if (gen != e->applied_gen) {
            rebuild_velocity(e);
            pthread_mutex_lock(&e->mu);
            e->applied_gen = gen;
            pthread_cond_broadcast(&e->cond);
            pthread_mutex_unlock(&e->mu);
        }
        uint64_t durable = executor_durable_seq(e->cfg.ex);
        err[0] = '\0';
        int n = journal_reader_position(e->reader) <= durable
                    ? run_records(e, durable, err, sizeof err) : 0;
        if (n < 0) {
            fprintf(stderr, "jiaozi: risk monitor stopped: %s\n", err);
            pthread_mutex_lock(&e->mu);
            e->failed = true;
            pthread_cond_broadcast(&e->cond);
            pthread_mutex_unlock(&e->mu);
            return NULL;
        }
        if (n > 0) {
            poll_ms = IDLE_POLL_MIN_MS;
            continue;
        }
        if (stopping) {
            return NULL; /* everything durable is processed */
        }
        chores(e);
        idle(e, poll_ms);
        poll_ms = poll_ms * 2 > IDLE_POLL_MAX_MS ? IDLE_POLL_MAX_MS : poll_ms * 2;
    }
}

/* ---- Open and close ---- */

static int open_parts(risk_engine *e, char *err, size_t err_len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/risk", e->dir);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (load_rules(e, err, err_len) != 0) {
        return -1;
    }
    atomic_store(&e->active, risk_rules_count(e->rules) > 0);
    uint32_t wallets = e->cfg.wallets_max + JZ_INSTITUTIONS_MAX;
    e->table = risk_table_new(wallets);
    struct aml_sink sink = {.finding = on_finding, .day_total = on_day_total, .ctx = e};
    e->aml = aml_new(wallets, e->cfg.evidence_ring ? e->cfg.evidence_ring : 1u << 20, &sink);
    e->scratch = calloc(JZ_BATCH_MAX, sizeof *e->scratch);
    if (!e->table || !e->aml || !e->scratch ||
        idmap_init(&e->holds, e->cfg.holds_max ? e->cfg.holds_max : 1, sizeof(struct hold_info)) != 0) {
        snprintf(err, err_len, "risk: out of memory");
        return -1;
    }
    int64_t w[RISK_WINDOWS_MAX];
    uint32_t nw = risk_rules_windows(e->rules, w);
    const struct risk_params *p = risk_rules_params(e->rules);
    aml_set_params(e->aml, &p->aml, p->large_value_fen);
    if (risk_table_set_windows(e->table, w, nw) < 0) {
        snprintf(err, err_len, "risk: out of memory for velocity");
        return -1;
    }
    snprintf(path, sizeof path, "%s/alerts.db", e->dir);
    if (alert_store_open(path, &e->store, err, err_len) != 0) {
        return -1;
    }
    e->db_seq = alert_store_seq(e->store);
    return journal_reader_open(e->dir, 1, &e->reader, err, err_len);
}

int risk_engine_open(const struct risk_engine_config *cfg, risk_engine **out, char *err,
                     size_t err_len)
{
    risk_engine *e = calloc(1, sizeof *e);
    if (!e || strlen(cfg->dir) >= sizeof e->dir) {
        free(e);
        snprintf(err, err_len, "risk: bad arguments");
        return -1;
    }
    e->cfg = *cfg;
    snprintf(e->dir, sizeof e->dir, "%s", cfg->dir);
    e->cfg.dir = e->dir;
    e->cur_day = INT32_MIN;
    e->sink = (struct alert_sink){.raise = sink_raise, .ctx = e};
    pthread_mutex_init(&e->stage_mu, NULL);
    pthread_rwlock_init(&e->rules_mu, NULL);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cond, NULL);
    e->warm_target = executor_durable_seq(cfg->ex);
    if (open_parts(e, err, err_len) != 0 ||
        pthread_create(&e->thread, NULL, monitor_main, e) != 0) {
        if (!err[0]) {
            snprintf(err, err_len, "risk: cannot start the monitor");
        }
        e->thread = 0;
        risk_engine_close(e);
        return -1;
    }
    *out = e;
    return 0;
}

void risk_engine_close(risk_engine *e)
{
    if (!e) {
        return;
    }
    if (e->thread) {
        pthread_mutex_lock(&e->mu);
        e->stopping = true;
        pthread_cond_broadcast(&e->cond);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
    }
    journal_reader_close(e->reader);
    alert_store_close(e->store);
    aml_free(e->aml);
    risk_table_free(e->table);
    idmap_destroy(&e->holds);
    free(e->scratch);
    risk_rules_free(e->rules);
    free(e->text);
    pthread_mutex_destroy(&e->stage_mu);
    pthread_rwlock_destroy(&e->rules_mu);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cond);
    free(e);
}

int risk_engine_wait(risk_engine *e, uint64_t seq, int timeout_ms)
{
    pthread_mutex_lock(&e->mu);
    if (e->monitored < seq) {
        e->kicked = true; /* it may be idle: look at the durable head now */
        pthread_cond_broadcast(&e->cond);
    }
    bool ok = wait_for(e, monitored_reached, seq, timeout_ms);
    pthread_mutex_unlock(&e->mu);
    return ok ? 0 : -1;
}

/* ---- Rules ---- */

void risk_engine_rules_info(risk_engine *e, struct risk_rules_info *out)
{
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&e->rules_mu);
    out->version = e->version;
    memcpy(out->sm3, e->sm3, sizeof out->sm3);
    out->rules = risk_rules_count(e->rules);
    out->windows = risk_rules_windows(e->rules, out->windows_ms);
    out->params = *risk_rules_params(e->rules);
    pthread_rwlock_unlock(&e->rules_mu);
}

char *risk_engine_rules_text(risk_engine *e, size_t *len)
{
    pthread_rwlock_rdlock(&e->rules_mu);
    char *copy = malloc(e->text_len + 1);
    if (copy) {
        memcpy(copy, e->text ? e->text : "", e->text_len);
        copy[e->text_len] = '\0';
        *len = e->text_len;
    }
    pthread_rwlock_unlock(&e->rules_mu);
    return copy;
}

int risk_engine_stage(risk_engine *e, const char *text, size_t len, struct risk_staged **out,
                      struct risk_error *err)
{
    struct risk_staged *s = calloc(1, sizeof *s);
    char *copy = malloc(len + 1);
    if (!s || !copy) {
        free(s);
        free(copy);
        memset(err, 0, sizeof *err);
        snprintf(err->reason, sizeof err->reason, "out of memory");
        return -1;
    }
    if (risk_rules_parse(text, len, &s->rules, err) != 0) {
        free(s);
        free(copy);
        return -1;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    s->text = copy;
    s->len = len;
    crypto_sm3(text, len, s->sm3);
    pthread_mutex_lock(&e->stage_mu);
    pthread_rwlock_rdlock(&e->rules_mu);
    s->version = e->version + 1;
    pthread_rwlock_unlock(&e->rules_mu);
    *out = s;
    return 0;
}

uint32_t risk_staged_version(const struct risk_staged *s)
{
    return s->version;
}

const uint8_t *risk_staged_sm3(const struct risk_staged *s)
{
    return s->sm3;
}

uint32_t risk_staged_rules(const struct risk_staged *s)
{
    return risk_rules_count(s->rules);
}

static void staged_free(struct risk_staged *s)
{
    risk_rules_free(s->rules);
    free(s->text);
    free(s);
}

void risk_engine_discard(risk_engine *e, struct risk_staged *s)
{
    pthread_mutex_unlock(&e->stage_mu);
    staged_free(s);
}

/* The new version's file, then DIR/risk/current naming it. */
static int write_rules(risk_engine *e, const struct risk_staged *s, char *err, size_t err_len)
{
    char path[4096];
    char cur[128];
    char hex[2 * CRYPTO_SM3_BYTES + 1];
    snprintf(path, sizeof path, "%s/risk/rules-%06u.txt", e->dir, s->version);
    int rc = write_atomic(path, s->text, s->len);
    jz_hex_encode(s->sm3, sizeof s->sm3, hex);
    int n = snprintf(cur, sizeof cur, "version %u\nsm3 %s\n", s->version, hex);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/risk/current", e->dir);
        rc = write_atomic(path, cur, (size_t)n);
    }
    if (rc != 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
    }
    return rc;
}

int risk_engine_activate(risk_engine *e, struct risk_staged *s, char *err, size_t err_len)
{
    if (write_rules(e, s, err, err_len) != 0) {
        risk_engine_discard(e, s);
        return -1;
    }
    pthread_rwlock_wrlock(&e->rules_mu);
    risk_rules *old = e->rules;
    char *old_text = e->text;
    e->rules = s->rules;
    e->text = s->text;
    e->text_len = s->len;
    e->version = s->version;
    memcpy(e->sm3, s->sm3, sizeof e->sm3);
    atomic_store(&e->active, risk_rules_count(e->rules) > 0);
    pthread_rwlock_unlock(&e->rules_mu);
    s->rules = old;
    s->text = old_text;
    /* The monitor takes the new parameters and, for new windows, rebuilds velocity. */
    pthread_mutex_lock(&e->mu);
    uint64_t gen = ++e->gen;
    pthread_cond_broadcast(&e->cond);
    wait_for(e, generation_applied, gen, ACTIVATE_WAIT_MS);
    pthread_mutex_unlock(&e->mu);
    risk_engine_discard(e, s);
    return 0;
}

/* ---- Screening ---- */

bool risk_engine_active(risk_engine *e)
{
    return atomic_load_explicit(&e->active, memory_order_relaxed);
}

static bool screened_op(const struct ledger_cmd *c)
{
    return c->op == LEDGER_OP_TRANSFER || c->op == LEDGER_OP_HOLD_CREATE;
}

/* Waits until the monitor has caught up with what was durable when screening began (a
 * wallet opened a moment ago). */
static void catch_up(risk_engine *e, int timeout_ms)
{
    risk_engine_wait(e, executor_durable_seq(e->cfg.ex), timeout_ms);
}

static void screen_one(risk_engine *e, const risk_rules *r, const struct ledger_cmd *c,
                       const char *actor, int64_t now, bool *waited, struct risk_decision *d)
{
    struct risk_facts f;
    memset(&f, 0, sizeof f);
    f.debit = c->debit;
    f.credit = c->credit;
    f.amount = c->amount;
    f.kind = c->op == LEDGER_OP_HOLD_CREATE ? LEDGER_KIND_PAYMENT : c->kind;
    f.actor = actor;
    f.now_ms = now;
    struct risk_wallet payee;
    if (risk_rules_use(r, RISK_USE_PAYEE) && risk_table_get(e->table, &c->credit, &payee) == 0) {
        f.payee_tier = payee.tier;
        f.payee_kind = payee.kind;
        f.payee_mcc = payee.mcc;
    }
    struct risk_screen s;
    struct risk_wallet payer;
    int known = risk_table_screen_begin(e->table, &c->debit, now, c->amount, &s, &payer,
                                        f.velocity_count, f.velocity_sum);
    if (known != 0 && !*waited) {
        *waited = true;
        catch_up(e, UNKNOWN_WAIT_MS);
        known = risk_table_screen_begin(e->table, &c->debit, now, c->amount, &s, &payer,
                                        f.velocity_count, f.velocity_sum);
    }
    if (known == 0) {
        f.payer_tier = payer.tier;
        f.payer_kind = payer.kind;
        f.device_changed_ms = payer.device_changed_ms;
    }
    struct risk_verdict v;
    risk_rules_evaluate(r, &f, &v);
    d->action = v.action;
    snprintf(d->rule_id, sizeof d->rule_id, "%s", v.rule_id);
    d->counted = false;
    if (known == 0) {
        /* Counting at screening serves velocity rules only. A hold created directly (POST
         * /v1/holds) is not counted here: its submission is the core's, whose outcome this
         * module does not see; the monitor counts it once durable. */
        if (v.action != RISK_DENY && risk_rules_use(r, RISK_USE_VELOCITY) && c->op == LEDGER_OP_TRANSFER) {
            risk_table_screen_count(&s, c->amount, now);
            d->counted = true;
            d->generation = s.generation;
            d->at_ms = now;
        }
        risk_table_screen_end(&s);
    }
    atomic_fetch_add_explicit(&e->screened[v.action], 1, memory_order_relaxed);
}

uint32_t risk_engine_screen(risk_engine *e, const struct ledger_cmd *cmds, uint32_t n,
                            const char *actor, int64_t now_ms, struct risk_decision *out)
{
    memset(out, 0, n * sizeof *out);
    if (!risk_engine_active(e)) {
        return 0;
    }
    pthread_mutex_lock(&e->mu);
    bool warm = e->monitored >= e->warm_target;
    pthread_mutex_unlock(&e->mu);
    if (!warm) {
        risk_engine_wait(e, e->warm_target, WARM_WAIT_MS);
    }
    bool waited = false;
    pthread_rwlock_rdlock(&e->rules_mu);
    uint32_t version = e->version;
    for (uint32_t i = 0; i < n; i++) {
        if (i % PREFETCH_CHUNK == 0) {
            uint32_t end = n - i < PREFETCH_CHUNK ? n : i + PREFETCH_CHUNK;
            for (int stage = 1; stage <= 2; stage++) {
                for (uint32_t k = i; k < end; k++) {
                    risk_table_prefetch(e->table, &cmds[k].debit, stage);
                    risk_table_prefetch(e->table, &cmds[k].credit, stage);
                }
            }
        }
        if (screened_op(&cmds[i])) {
            screen_one(e, e->rules, &cmds[i], actor, now_ms, &waited, &out[i]);
        }
    }
    pthread_rwlock_unlock(&e->rules_mu);
    return version;
}

bool risk_engine_marker(risk_engine *e, const struct risk_decision *d, uint32_t n,
                        uint16_t actor, struct ledger_cmd *out)
{
    (void)e;
    for (uint32_t i = 0; i < n; i++) {
        if (d[i].counted) {
            struct risk_note note = {.topic = LEDGER_NOTE_RISK, .event = RISK_NOTE_SCREENED,
                                     .number = d[i].generation};
            risk_note_command(&note, actor, out);
            return true;
        }
    }
    return false;
}

void risk_engine_settle(risk_engine *e, const struct ledger_cmd *cmds, uint32_t n,
                        struct risk_decision *d, const struct ledger_result *results,
                        bool marked)
{
    if (!marked) {
        /* No marker: the monitor counts these payments when it reads them; until it has,
         * they stay counted from screening (counted twice for a moment: stricter, never
         * laxer). */
        catch_up(e, READ_BACK_WAIT_MS);
    }
    for (uint32_t i = 0; i < n; i++) {
        bool posted = results && results[i].code == JZ_OK && !results[i].replayed;
        if (d[i].counted && (!marked || !posted)) {
            risk_table_uncount(e->table, &cmds[i].debit, d[i].generation, d[i].at_ms,
                               cmds[i].amount);
        }
        d[i].counted = false;
    }
}

bool risk_engine_device(risk_engine *e, const jz_id *wallet, const jz_id *device, int64_t at,
                        bool apply)
{
    return risk_table_device(e->table, wallet, device, at, apply);
}

/* ---- Figures ---- */

void risk_engine_stats(risk_engine *e, struct risk_engine_stats *out)
{
    memset(out, 0, sizeof *out);
    out->durable_seq = executor_durable_seq(e->cfg.ex);
    pthread_mutex_lock(&e->mu);
    out->monitored_seq = e->monitored;
    out->warm = e->monitored >= e->warm_target;
    out->failed = e->failed;
    out->journalled_rules_version = e->journalled_version;
    pthread_mutex_unlock(&e->mu);
    out->records = atomic_load(&e->records);
    out->transfers = atomic_load(&e->transfers);
    out->velocity_rebuilds = atomic_load(&e->rebuilds);
    for (int k = 0; k <= ALERT_KIND_MAX; k++) {
        out->alerts[k] = atomic_load(&e->alerts[k]);
    }
    for (int a = 0; a < 3; a++) {
        out->screened[a] = atomic_load(&e->screened[a]);
    }
    risk_table_stats(e->table, &out->table);
}

void risk_engine_write_metrics(risk_engine *e, struct jbuf *b)
{
    struct risk_engine_stats st;
    struct risk_rules_info info;
    char line[200];
    risk_engine_stats(e, &st);
    risk_engine_rules_info(e, &info);
    uint64_t lag = st.durable_seq > st.monitored_seq ? st.durable_seq - st.monitored_seq : 0;
    metrics_write_gauge(b, "jiaozi_risk_monitor_lag_records",
                        "Durable journal records the risk monitor (AML detectors) has not read.",
                        (int64_t)lag);
    metrics_write_gauge(b, "jiaozi_risk_monitored_seq", "Newest journal record the risk monitor read.",
                        (int64_t)st.monitored_seq);
    metrics_write_gauge(b, "jiaozi_risk_rules_version", "Version of the risk rules in force.",
                        info.version);
    metrics_write_gauge(b, "jiaozi_risk_rules", "Rules in force.", info.rules);
    metrics_write_counter(b, "jiaozi_risk_velocity_counted_total",
                          "Payments counted in velocity when screened.", st.table.counted);
    metrics_write_counter(b, "jiaozi_risk_velocity_uncounted_total",
                          "Screened payments taken back (refused, replayed, not submitted).",
                          st.table.uncounted);
    jb_lit(b, "# HELP jiaozi_risk_screened_total Payments screened by the rules, by outcome.\n"
              "# TYPE jiaozi_risk_screened_total counter\n");
    for (int a = 0; a < 3; a++) {
        snprintf(line, sizeof line, "jiaozi_risk_screened_total{action=\"%s\"} %" PRIu64 "\n",
                 risk_action_name(a), st.screened[a]);
        jb_lit(b, line);
    }
    jb_lit(b, "# HELP jiaozi_risk_alerts_total Alerts raised since start, by kind.\n"
              "# TYPE jiaozi_risk_alerts_total counter\n");
    for (int k = 1; k <= ALERT_KIND_MAX; k++) {
        snprintf(line, sizeof line, "jiaozi_risk_alerts_total{kind=\"%s\"} %" PRIu64 "\n",
                 alert_kind_name(k), st.alerts[k]);
        jb_lit(b, line);
    }
}

risk_table *risk_engine_table(risk_engine *e)
{
    return e->table;
}

alert_store *risk_engine_store(risk_engine *e)
{
    return e->store;
}

const struct alert_sink *risk_engine_sink(risk_engine *e)
{
    return &e->sink;
}
