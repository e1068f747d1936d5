/*
 * api_risk.c: routes of the risk module, and the hooks of api_risk.h.
 *
 *   GET  /v1/risk/rules                  the rule file in force (any institution)
 *   PUT  /v1/risk/rules                  a new version {"text"} (central)
 *   POST /v1/risk/devices                a wallet's device {"wallet","device"} (operators)
 *   GET  /v1/risk/status                 the monitor's figures (central)
 *   GET  /v1/alerts?status=&limit=&cursor=   cases (an operator: its wallets'; central: all)
 *   GET  /v1/alerts/{id}                 one case with its history
 *   PATCH /v1/alerts/{id}                {"status"?,"assignee"?,"note"?}
 *   GET  /v1/reports/{kind}?date=        large_value | suspicious, as JSON (central)
 *   POST /v1/reports/files               {"date"}: write the day's files now (central)
 *   POST /v1/disclosures                 {"wallet","legal_basis"}
 *   GET  /v1/disclosures/{id}
 *   POST /v1/disclosures/{id}/approve    the second institution
 *   POST /v1/disclosures/{id}/reveal     the requester, once approved
 * Every change is journalled (risk_note.h) before it is answered; reads of what a change
 * made wait (bounded) until the risk monitor has applied it.
 */
#include "api_risk.h"

#include <inttypes.h>
#include <pthread.h>

#include "crypto.h"
#include "disclosure.h"
#include "report.h"
#include "risk_engine.h"
#include "risk_note.h"

#define READ_WAIT_MS 3000
#define LIST_LIMIT_MAX 500
#define HISTORY_MAX 64
#define LEGAL_BASIS_MIN 8
#define DEVICE_MAX 128

struct rmod {
    api *a;
    node *node;
    risk_engine *eng;
    uint8_t pseudonym_key[CRYPTO_SM3_BYTES];
    pthread_mutex_t write_mu; /* one case or disclosure decision at a time */
};

/* ---- Which module goes with which api (the hooks are called from core handlers) ---- */

#define MODS_MAX 8
static pthread_mutex_t g_mods_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rmod *g_mods[MODS_MAX];

static struct rmod *rmod_of(api *a)
{
    struct rmod *m = NULL;
    pthread_mutex_lock(&g_mods_mu);
    for (int i = 0; i < MODS_MAX && !m; i++) {
        m = g_mods[i] && g_mods[i]->a == a ? g_mods[i] : NULL;
    }
    pthread_mutex_unlock(&g_mods_mu);
    return m;
}

static void registry_set(struct rmod *old, struct rmod *new)
{
    pthread_mutex_lock(&g_mods_mu);
    for (int i = 0; i < MODS_MAX; i++) {
        if (g_mods[i] == old) {
            g_mods[i] = new;
            break;
        }
    }
    pthread_mutex_unlock(&g_mods_mu);
}

static const char *institution_name(void *ctx, int32_t index)
{
    return index >= 0 ? api_institution_id(ctx, (uint32_t)index) : "";
}

static int rmod_open(api *a, void **state, char *err, size_t err_len)
{
    struct rmod *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, err_len, "risk: out of memory");
        return -1;
    }
    m->a = a;
    m->node = api_node(a);
    pthread_mutex_init(&m->write_mu, NULL);
    const struct node_config *nc = node_get_config(m->node);
    struct risk_engine_config cfg = {.dir = node_dir(m->node), .ex = api_executor(a),
                                     .wallets_max = nc->wallets_max, .holds_max = nc->holds_max,
                                     .reports = true, .institution = institution_name,
                                     .institution_ctx = a};
    if (node_derive_key(m->node, DISCLOSURE_PSEUDONYM_LABEL, m->pseudonym_key) != 0 ||
        risk_engine_open(&cfg, &m->eng, err, err_len) != 0) {
        pthread_mutex_destroy(&m->write_mu);
        free(m);
        return -1;
    }
    registry_set(NULL, m);
    *state = m;
    return 0;
}

static void rmod_close(void *state)
{
    struct rmod *m = state;
    registry_set(m, NULL);
    risk_engine_close(m->eng);
    crypto_wipe(m->pseudonym_key, sizeof m->pseudonym_key);
    pthread_mutex_destroy(&m->write_mu);
    free(m);
}

const struct alert_sink *api_risk_alert_sink(api *a)
{
    struct rmod *m = rmod_of(a);
    return m ? risk_engine_sink(m->eng) : NULL;
}

/* ---- Helpers ---- */

/* Journals notes (one request) and waits until durable. 0, or -1 with the response set. */
static int journal_notes(api_call *c, const struct risk_note *notes, uint32_t n)
{
    struct ledger_cmd *cmds = calloc(n, sizeof *cmds);
    struct ledger_result *res = calloc(n, sizeof *res);
    int rc = cmds && res ? 0 : -1;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        risk_note_command(&notes[i], (uint16_t)api_call_actor(c), &cmds[i]);
    }
    if (rc != 0) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "out of memory");
    } else if (api_call_run(c, cmds, n, res, NULL, NULL) != 0) {
        rc = -1;
    }
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        if (res[i].code != JZ_OK) {
            api_call_fail_result(c, &res[i]);
            rc = -1;
        }
    }
    free(cmds);
    free(res);
    return rc;
}

static int journal_note(api_call *c, const struct risk_note *note)
{
    return journal_notes(c, note, 1);
}

/* Waits until the monitor holds everything durable now (read-your-writes). */
static void monitor_catch_up(struct rmod *m)
{
    risk_engine_wait(m->eng, executor_durable_seq(api_executor(m->a)), READ_WAIT_MS);
}

/* Parses "k=v&k=v" against the allowed keys into vals (each up to 63 bytes). */
static int query_params(api_call *c, const char *const *keys, int nkeys, char vals[][64])
{
    char q[512];
    snprintf(q, sizeof q, "%s", api_call_query(c));
    for (int i = 0; i < nkeys; i++) {
        vals[i][0] = '\0';
    }
    for (char *save = NULL, *kv = strtok_r(q, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *v = strchr(kv, '=');
        int k = 0;
        if (v) {
            *v++ = '\0';
        }
        while (k < nkeys && strcmp(keys[k], kv) != 0) {
            k++;
        }
        if (k == nkeys || !v || strlen(v) >= 64) {
            api_call_fail(c, k == nkeys ? JZ_UNKNOWN_FIELD : JZ_INVALID_FIELD, kv,
                          "unknown or malformed query parameter");
            return -1;
        }
        snprintf(vals[k], 64, "%s", v);
    }
    return 0;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static void write_text_or_null(struct jbuf *b, const char *s)
{
    if (s[0]) {
        jb_cstr(b, s);
    } else {
        jb_lit(b, "null");
    }
}

static void write_int_or_null(struct jbuf *b, int64_t v)
{
    if (v) {
        jb_int(b, v);
    } else {
        jb_lit(b, "null");
    }
}

static const char *inst(struct rmod *m, int32_t index)
{
    const char *s = index >= 0 ? api_institution_id(m->a, (uint32_t)index) : "";
    return s && s[0] ? s : "unknown";
}

/* ---- Hooks ---- */

void risk_hook_metrics(api *a, struct jbuf *b)
{
    struct rmod *m = rmod_of(a);
    if (m) {
        risk_engine_write_metrics(m->eng, b);
    }
}

void risk_hook_mask(api_call *c, jz_id *debit, jz_id *credit)
{
    struct rmod *m = rmod_of(api_call_api(c));
    if (!m || api_call_is_central(c)) {
        return;
    }
    jz_id *sides[2] = {debit, credit};
    bool waited = false;
    for (int i = 0; i < 2; i++) {
        struct risk_wallet w;
        int known = risk_table_get(risk_engine_table(m->eng), sides[i], &w);
        if (known != 0 && !waited) {
            waited = true; /* opened a moment ago: let the monitor see it */
            monitor_catch_up(m);
            known = risk_table_get(risk_engine_table(m->eng), sides[i], &w);
        }
        /* Unknown wallets are masked too: when in doubt, nobody is identified. */
        if (known != 0 || (w.tier == 4 && w.operator_index != api_call_actor(c))) {
            disclosure_pseudonym(m->pseudonym_key, (uint16_t)api_call_actor(c), sides[i],
                                 sides[i]);
        }
    }
}

static void write_denied(struct jbuf *b, const char *rule, uint32_t version, bool wrap)
{
    char msg[160];
    snprintf(msg, sizeof msg, "denied by risk rule \"%s\" (rules version %u)", rule, version);
    jb_lit(b, wrap ? "{\"error\":{\"code\":\"risk_denied\",\"message\":"
                   : "{\"code\":\"risk_denied\",\"message\":");
    jb_cstr(b, msg);
    jb_lit(b, ",\"rule\":");
    jb_cstr(b, rule);
    jb_lit(b, ",\"rules_version\":");
    jb_uint(b, version);
    jb_lit(b, wrap ? "}}" : "}");
}

static void respond_denied(api_call *c, const char *rule, uint32_t version)
{
    struct jbuf *b = api_call_out(c);
    jb_free(b);
    write_denied(b, rule, version, true);
    api_call_respond(c, jz_result_http_status(JZ_RISK_DENIED));
}

static void respond_review(api_call *c, const struct ledger_cmd *cmd,
                           const struct ledger_result *r, const char *rule, uint32_t version,
                           int64_t hold_ms)
{
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"id\":");
    jb_id(b, &cmd->id);
    jb_lit(b, ",\"debit\":");
    jb_id(b, &cmd->debit);
    jb_lit(b, ",\"credit\":");
    jb_id(b, &cmd->credit);
    jb_lit(b, ",\"amount\":");
    jb_int(b, cmd->amount);
    jb_lit(b, ",\"kind\":");
    jb_cstr(b, ledger_kind_name(cmd->kind));
    jb_lit(b, ",\"status\":\"review\",\"hold\":");
    jb_id(b, &cmd->id);
    jb_lit(b, ",\"rule\":");
    jb_cstr(b, rule);
    jb_lit(b, ",\"rules_version\":");
    jb_uint(b, version);
    jb_lit(b, ",\"deadline\":");
    jb_int(b, r->timestamp + hold_ms);
    jb_lit(b, ",\"timestamp\":");
    jb_int(b, r->timestamp);
    jb_lit(b, "}");
    api_call_respond(c, r->replayed ? 200 : 202);
}

/* The error object of a ledger result, worded as the core words it. */
static void ledger_error_object(api_call *c, const struct ledger_result *r, struct jbuf *dst)
{
    struct jbuf *out = api_call_out(c);
    api_call_fail_result(c, r);
    static const char head[] = "{\"error\":";
    if (out->len > sizeof head && memcmp(out->p, head, sizeof head - 1) == 0) {
        jb_raw(dst, out->p + sizeof head - 1, out->len - sizeof head);
    }
    jb_free(out);
}

/* Runs screened commands as one request, opened by the marker of the payments counted at
 * screening when there is room for it, then settles those counts (risk_engine.h). 0, or -1
 * with the response set. */
static int run_screened(api_call *c, struct rmod *m, const struct ledger_cmd *cmds, uint32_t n,
                        struct ledger_result *res, struct risk_decision *d)
{
    struct ledger_cmd marker;
    bool marked = n < JZ_BATCH_MAX &&
                  risk_engine_marker(m->eng, d, n, (uint16_t)api_call_actor(c), &marker);
    struct ledger_cmd *all = marked ? malloc((n + 1) * sizeof *all) : NULL;
    struct ledger_result *all_res = marked ? malloc((n + 1) * sizeof *all_res) : NULL;
    int rc;
    if (marked && (!all || !all_res)) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "out of memory");
        rc = -1;
    } else if (marked) {
        all[0] = marker;
        memcpy(all + 1, cmds, n * sizeof *cmds);
        rc = api_call_run(c, all, n + 1, all_res, NULL, NULL);
        if (rc == 0) {
            memcpy(res, all_res + 1, n * sizeof *res);
            marked = all_res[0].code == JZ_OK;
        }
    } else {
        rc = api_call_run(c, cmds, n, res, NULL, NULL);
    }
    risk_engine_settle(m->eng, cmds, n, d, rc == 0 ? res : NULL, marked);
    free(all);
    free(all_res);
    return rc;
}

/* What screening decided for a request, and what was submitted of it. */
struct plan {
    uint32_t n, nsub;
    uint32_t version;
    int64_t hold_ms;
    struct risk_decision *d;
    int32_t *where;             /* input -> submitted index, or -1 */
    struct ledger_cmd *sub;
    struct risk_decision *sub_d;
    struct ledger_result *sub_res;
};

static void write_batch(api_call *c, const struct ledger_cmd *cmds,
                        const struct ledger_result *res, const struct plan *p)
{
    struct jbuf b;
    jb_init(&b);
    jb_lit(&b, "{\"results\":[");
    for (uint32_t i = 0; i < p->n; i++) {
        jb_lit(&b, i ? ",{\"id\":" : "{\"id\":");
        jb_id(&b, &cmds[i].id);
        if (res[i].code == JZ_OK) {
            bool review = p->d[i].action == RISK_REVIEW;
            jb_lit(&b, review ? ",\"status\":\"review\",\"hold\":" : ",\"status\":\"posted\"}");
            if (review) {
                jb_id(&b, &cmds[i].id);
                jb_lit(&b, ",\"rule\":");
                jb_cstr(&b, p->d[i].rule_id);
                jb_lit(&b, "}");
            }
            continue;
        }
        jb_lit(&b, ",\"error\":");
        if (res[i].code == JZ_RISK_DENIED) {
            write_denied(&b, p->d[i].rule_id, p->version, false);
        } else {
            ledger_error_object(c, &res[i], &b);
        }
        jb_lit(&b, "}");
    }
    jb_lit(&b, "]}");
    struct jbuf *out = api_call_out(c);
    jb_free(out);
    jb_raw(out, b.p ? b.p : "", b.len);
    out->failed = out->failed || b.failed;
    jb_free(&b);
    api_call_respond(c, 200);
}

/* Chains fail whole: a denied member fails its chain (the others: linked_failed), and
 * nothing of it is submitted. Reviewed members become holds. */
static void plan_build(struct rmod *m, const struct ledger_cmd *cmds, struct ledger_result *res,
                       struct plan *p)
{
    uint32_t i = 0;
    while (i < p->n) {
        uint32_t end = i;
        while (end + 1 < p->n && (cmds[end].flags & LEDGER_FLAG_LINKED)) {
            end++;
        }
        bool denied = false;
        for (uint32_t k = i; k <= end; k++) {
            denied = denied || p->d[k].action == RISK_DENY;
        }
        for (uint32_t k = i; k <= end; k++) {
            p->where[k] = -1;
            if (denied) {
                memset(&res[k], 0, sizeof res[k]);
                res[k].code = p->d[k].action == RISK_DENY ? JZ_RISK_DENIED : JZ_LINKED_FAILED;
                risk_engine_settle(m->eng, &cmds[k], 1, &p->d[k], NULL, true); /* not sent */
                continue;
            }
            struct ledger_cmd *s = &p->sub[p->nsub];
            *s = cmds[k];
            p->sub_d[p->nsub] = p->d[k];
            if (p->d[k].action == RISK_REVIEW) {
                s->op = LEDGER_OP_HOLD_CREATE;
                s->kind = LEDGER_KIND_PAYMENT;
                s->timeout_ms = p->hold_ms;
            }
            p->where[k] = (int32_t)p->nsub++;
        }
        i = end + 1;
    }
}

/* Journals a denial or review of each decided command (reviews only when the hold was
 * made). 0, or -1 with the response set. */
static int plan_notes(api_call *c, const struct ledger_cmd *cmds, const struct plan *p)
{
    struct risk_note *notes = calloc(p->n, sizeof *notes);
    uint32_t nn = 0;
    if (!notes) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < p->n; i++) {
        bool held = p->where[i] >= 0 && p->sub_res[p->where[i]].code == JZ_OK &&
                    !p->sub_res[p->where[i]].replayed;
        if (p->d[i].action == RISK_DENY || (p->d[i].action == RISK_REVIEW && held)) {
            struct risk_note *n = &notes[nn++];
            n->topic = LEDGER_NOTE_RISK;
            n->event = p->d[i].action == RISK_DENY ? RISK_NOTE_DENY : RISK_NOTE_REVIEW;
            n->id = cmds[i].id;
            n->other = cmds[i].debit;
            n->number = cmds[i].amount;
            n->version = p->version;
            snprintf(n->rule_id, sizeof n->rule_id, "%s", p->d[i].rule_id);
        }
    }
    int rc = nn ? journal_notes(c, notes, nn) : 0;
    free(notes);
    return rc;
}

static int screened_run(api_call *c, struct rmod *m, struct ledger_cmd *cmds,
                        struct ledger_result *res, struct plan *p, bool batch)
{
    struct risk_rules_info info;
    risk_engine_rules_info(m->eng, &info);
    p->hold_ms = info.params.review_hold_ms;
    p->where = calloc(p->n, sizeof *p->where);
    p->sub = calloc(p->n, sizeof *p->sub);
    p->sub_d = calloc(p->n, sizeof *p->sub_d);
    p->sub_res = calloc(p->n, sizeof *p->sub_res);
    if (!p->where || !p->sub || !p->sub_d || !p->sub_res) {
        risk_engine_settle(m->eng, cmds, p->n, p->d, NULL, true);
        api_call_fail(c, JZ_UNAVAILABLE, "", "out of memory");
        return 1;
    }
    plan_build(m, cmds, res, p);
    if (p->nsub && run_screened(c, m, p->sub, p->nsub, p->sub_res, p->sub_d) != 0) {
        return 1;
    }
    if (plan_notes(c, cmds, p) != 0) {
        return 1;
    }
    for (uint32_t i = 0; i < p->n; i++) {
        if (p->where[i] >= 0) {
            res[i] = p->sub_res[p->where[i]];
        }
    }
    if (batch) {
        write_batch(c, cmds, res, p);
    } else if (p->d[0].action == RISK_DENY) {
        respond_denied(c, p->d[0].rule_id, p->version);
    } else if (res[0].code == JZ_OK) {
        respond_review(c, &cmds[0], &res[0], p->d[0].rule_id, p->version, p->hold_ms);
    } else {
        api_call_fail_result(c, &res[0]);
    }
    return 1;
}

int risk_hook_transfers(api_call *c, struct ledger_cmd *cmds, uint32_t n,
                        struct ledger_result *results, bool batch)
{
    struct rmod *m = rmod_of(api_call_api(c));
    if (!m || !risk_engine_active(m->eng)) {
        return api_call_run(c, cmds, n, results, NULL, NULL) == 0 ? 0 : 1;
    }
    struct plan p = {.n = n, .d = calloc(n, sizeof *p.d)};
    if (!p.d) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "out of memory");
        return 1;
    }
    p.version = risk_engine_screen(m->eng, cmds, n, api_call_actor_id(c),
                                   api_now_ms(api_call_api(c)), p.d);
    bool decided = false;
    for (uint32_t i = 0; i < n; i++) {
        decided = decided || p.d[i].action != RISK_ALLOW;
    }
    int rc = 0;
    if (!decided) {
        rc = run_screened(c, m, cmds, n, results, p.d) == 0 ? 0 : 1;
    } else {
        rc = screened_run(c, m, cmds, results, &p, batch);
    }
    free(p.d);
    free(p.where);
    free(p.sub);
    free(p.sub_d);
    free(p.sub_res);
    return rc;
}

bool risk_screening_active(api *a)
{
    struct rmod *m = rmod_of(a);
    return m && risk_engine_active(m->eng);
}

int risk_hook_hold(api_call *c, const struct ledger_cmd *cmd)
{
    struct rmod *m = rmod_of(api_call_api(c));
    if (!m || !risk_engine_active(m->eng)) {
        return 0;
    }
    struct risk_decision d;
    uint32_t version = risk_engine_screen(m->eng, cmd, 1, api_call_actor_id(c),
                                          api_now_ms(api_call_api(c)), &d);
    if (d.action == RISK_ALLOW) {
        return 0;
    }
    /* A hold is already a payment an analyst can void: a review is journalled (an alert is
     * raised) and the hold goes ahead; a denial refuses it. */
    struct risk_note n = {.topic = LEDGER_NOTE_RISK, .id = cmd->id, .other = cmd->debit,
                          .number = cmd->amount, .version = version,
                          .event = d.action == RISK_DENY ? RISK_NOTE_DENY : RISK_NOTE_REVIEW};
    snprintf(n.rule_id, sizeof n.rule_id, "%s", d.rule_id);
    if (journal_note(c, &n) != 0) {
        return 1; /* a hold is never counted at screening: nothing to take back */
    }
    if (d.action == RISK_DENY) {
        respond_denied(c, d.rule_id, version);
        return 1;
    }
    return 0;
}

/* ---- Rules ---- */

static void h_rules_get(api_call *c, json_t *body)
{
    (void)body;
    struct rmod *m = api_call_state(c);
    struct risk_rules_info info;
    size_t len = 0;
    char *text = risk_engine_rules_text(m->eng, &len);
    char hex[2 * CRYPTO_SM3_BYTES + 1];
    if (!text) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "out of memory");
        return;
    }
    risk_engine_rules_info(m->eng, &info);
    jz_hex_encode(info.sm3, sizeof info.sm3, hex);
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"version\":");
    jb_uint(b, info.version);
    jb_lit(b, ",\"sm3\":");
    jb_cstr(b, info.version ? hex : "");
    jb_lit(b, ",\"rules\":");
    jb_uint(b, info.rules);
    jb_lit(b, ",\"windows_ms\":[");
    for (uint32_t i = 0; i < info.windows; i++) {
        if (i) {
            jb_lit(b, ",");
        }
        jb_int(b, info.windows_ms[i]);
    }
    jb_lit(b, "],\"review_hold_ms\":");
    jb_int(b, info.params.review_hold_ms);
    jb_lit(b, ",\"large_value_fen\":");
    jb_int(b, info.params.large_value_fen);
    jb_lit(b, ",\"text\":");
    jb_str(b, text, len);
    jb_lit(b, "}");
    free(text);
    api_call_respond(c, 200);
}

static void respond_bad_rules(api_call *c, const struct risk_error *e)
{
    char msg[260];
    if (e->line) {
        snprintf(msg, sizeof msg, "line %d: %s", e->line, e->reason);
    } else {
        snprintf(msg, sizeof msg, "%s", e->reason);
    }
    struct jbuf *b = api_call_out(c);
    jb_free(b);
    jb_lit(b, "{\"error\":{\"code\":\"invalid_rule_file\",\"message\":");
    jb_cstr(b, msg);
    jb_lit(b, ",\"field\":\"text\",\"line\":");
    jb_int(b, e->line);
    jb_lit(b, ",\"reason\":");
    jb_cstr(b, e->reason);
    jb_lit(b, "}}");
    api_call_respond(c, jz_result_http_status(JZ_INVALID_RULE_FILE));
}

static void h_rules_put(api_call *c, json_t *body)
{
    struct rmod *m = api_call_state(c);
    json_t *text = json_object_get(body, "text");
    struct api_error e;
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        if (strcmp(key, "text") != 0) {
            api_fail(&e, JZ_UNKNOWN_FIELD, key, "a rule file is sent as {\"text\":\"...\"}");
            api_call_fail_error(c, &e);
            return;
        }
    }
    if (!json_is_string(text)) {
        api_call_fail(c, text ? JZ_INVALID_FIELD : JZ_MISSING_FIELD, "text",
                      "text is the rule file, as a string");
        return;
    }
    struct risk_staged *st = NULL;
    struct risk_error re;
    if (risk_engine_stage(m->eng, json_string_value(text), json_string_length(text), &st, &re) !=
        0) {
        respond_bad_rules(c, &re); /* nothing changed: the old rules are in force */
        return;
    }
    struct risk_note n = {.topic = LEDGER_NOTE_RISK, .event = RISK_NOTE_RULES,
                          .number = risk_staged_version(st), .rules = (uint16_t)risk_staged_rules(st)};
    memcpy(n.sm3, risk_staged_sm3(st), sizeof n.sm3);
    if (journal_note(c, &n) != 0) {
        risk_engine_discard(m->eng, st);
        return;
    }
    char err[512];
    if (risk_engine_activate(m->eng, st, err, sizeof err) != 0) {
        api_call_fail(c, JZ_UNAVAILABLE, "", err);
        return;
    }
    h_rules_get(c, NULL);
}

/* ---- Devices and status ---- */

static void h_device(api_call *c, json_t *body)
{
    struct rmod *m = api_call_state(c);
    jz_id wallet;
    char device[DEVICE_MAX + 1];
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "wallet", .type = FIELD_ID, .required = true, .out = &wallet},
        {.name = "device", .type = FIELD_STRING, .required = true, .out = device, .min = 1,
         .max = DEVICE_MAX},
    };
    struct ledger_wallet_view w;
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    if (api_call_wallet(c, &wallet, "wallet", &w) != 0) {
        return;
    }
    uint8_t h[CRYPTO_SM3_BYTES];
    crypto_sm3(device, strlen(device), h);
    struct risk_note n = {.topic = LEDGER_NOTE_RISK, .event = RISK_NOTE_DEVICE, .id = wallet};
    memcpy(n.other.b, h, sizeof n.other.b); /* the device id itself is not journalled */
    /* One report at a time, against every earlier one applied: "changed" is then exact. */
    pthread_mutex_lock(&m->write_mu);
    monitor_catch_up(m);
    int64_t now = api_now_ms(api_call_api(c));
    bool changed = risk_engine_device(m->eng, &wallet, &n.other, now, false);
    int rc = journal_note(c, &n);
    if (rc == 0) {
        risk_engine_device(m->eng, &wallet, &n.other, now, true);
    }
    pthread_mutex_unlock(&m->write_mu);
    if (rc != 0) {
        return;
    }
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"wallet\":");
    jb_id(b, &wallet);
    jb_lit(b, changed ? ",\"device_changed\":true}" : ",\"device_changed\":false}");
    api_call_respond(c, 200);
}

static void h_status(api_call *c, json_t *body)
{
    (void)body;
    struct rmod *m = api_call_state(c);
    struct risk_engine_stats st;
    monitor_catch_up(m);
    risk_engine_stats(m->eng, &st);
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"durable_seq\":");
    jb_uint(b, st.durable_seq);
    jb_lit(b, ",\"monitored_seq\":");
    jb_uint(b, st.monitored_seq);
    jb_lit(b, ",\"lag_records\":");
    jb_uint(b, st.durable_seq > st.monitored_seq ? st.durable_seq - st.monitored_seq : 0);
    jb_lit(b, st.warm ? ",\"warm\":true" : ",\"warm\":false");
    jb_lit(b, st.failed ? ",\"failed\":true" : ",\"failed\":false");
    jb_lit(b, ",\"transfers\":");
    jb_uint(b, st.transfers);
    jb_lit(b, ",\"velocity_counted\":");
    jb_uint(b, st.table.counted);
    jb_lit(b, ",\"velocity_uncounted\":");
    jb_uint(b, st.table.uncounted);
    jb_lit(b, ",\"wallets\":");
    jb_uint(b, st.table.wallets);
    jb_lit(b, ",\"journalled_rules_version\":");
    jb_uint(b, st.journalled_rules_version);
    jb_lit(b, ",\"alerts\":{");
    for (int k = 1; k <= ALERT_KIND_MAX; k++) {
        jb_key(b, alert_kind_name(k), k == 1);
        jb_uint(b, st.alerts[k]);
    }
    jb_lit(b, "},\"screened\":{");
    for (int a = 0; a < 3; a++) {
        jb_key(b, risk_action_name(a), a == 0);
        jb_uint(b, st.screened[a]);
    }
    jb_lit(b, "}}");
    api_call_respond(c, 200);
}

/* ---- Alerts ---- */

static void write_alert(struct rmod *m, struct jbuf *b, const struct alert_row *a,
                        const struct alert_event_row *ev, int32_t nev)
{
    jb_lit(b, "{");
    report_write_alert(b, a, inst(m, a->operator_index));
    if (nev >= 0) {
        jb_lit(b, ",\"history\":[{\"at\":");
        jb_int(b, a->raised_at);
        jb_lit(b, ",\"by\":\"risk\",\"event\":\"raised\",\"status\":\"open\"}");
        for (int32_t i = 0; i < nev; i++) {
            jb_lit(b, ",{\"at\":");
            jb_int(b, ev[i].at);
            jb_lit(b, ",\"by\":");
            jb_cstr(b, inst(m, ev[i].actor));
            jb_lit(b, ev[i].applied ? ",\"event\":\"changed\",\"status\":"
                                    : ",\"event\":\"refused\",\"status\":");
            write_text_or_null(b, alert_status_name(ev[i].status));
            jb_lit(b, ",\"assignee\":");
            write_text_or_null(b, ev[i].assignee);
            jb_lit(b, ",\"note\":");
            write_text_or_null(b, ev[i].note);
            jb_lit(b, "}");
        }
        jb_lit(b, "]");
    }
    jb_lit(b, "}");
}

static void h_alerts_list(api_call *c, json_t *body)
{
    (void)body;
    struct rmod *m = api_call_state(c);
    static const char *const keys[] = {"status", "limit", "cursor"};
    char vals[3][64];
    uint64_t limit = 100, cursor = 0;
    int status = 0;
    if (query_params(c, keys, 3, vals) != 0) {
        return;
    }
    const char *bad = NULL;
    if (vals[0][0] && (status = alert_status_parse(vals[0])) == 0) {
        bad = "status";
    } else if (vals[1][0] && parse_u64(vals[1], 1, LIST_LIMIT_MAX, &limit) != 0) {
        bad = "limit";
    } else if (vals[2][0] && parse_u64(vals[2], 1, INT64_MAX, &cursor) != 0) {
        bad = "cursor";
    }
    if (bad) {
        api_call_fail(c, JZ_INVALID_FIELD, bad,
                      "status is open|investigating|closed_suspicious|closed_ok; limit 1-500;"
                      " cursor the next_cursor of the previous page");
        return;
    }
    struct alert_row *rows = calloc(limit, sizeof *rows);
    uint32_t n = 0;
    uint64_t next = 0;
    int32_t op = api_call_is_central(c) ? -1 : api_call_actor(c);
    monitor_catch_up(m);
    if (!rows || alert_store_list(risk_engine_store(m->eng), (uint8_t)status, op, cursor,
                                  (uint32_t)limit, rows, &n, &next) != 0) {
        free(rows);
        api_call_fail(c, JZ_UNAVAILABLE, "", "the alert store could not be read");
        return;
    }
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"alerts\":[");
    for (uint32_t i = 0; i < n; i++) {
        if (i) {
            jb_lit(b, ",");
        }
        write_alert(m, b, &rows[i], NULL, -1);
    }
    char next_text[24] = "";
    if (next) {
        snprintf(next_text, sizeof next_text, "%" PRIu64, next);
    }
    jb_lit(b, "],\"next_cursor\":");
    write_text_or_null(b, next_text);
    jb_lit(b, "}");
    free(rows);
    api_call_respond(c, 200);
}

/* The alert of the path, visible to the caller (its wallet's operator, or central). */
static int visible_alert(api_call *c, struct rmod *m, struct alert_row *a,
                         struct alert_event_row *ev, uint32_t *nev)
{
    jz_id id;
    const char *p = api_call_param(c, 0);
    if (jz_id_from_hex(p, strlen(p), &id) != 0) {
        api_call_fail(c, JZ_INVALID_FIELD, "id", "alert ids are 32 lowercase hex digits");
        return -1;
    }
    int rc = alert_store_get(risk_engine_store(m->eng), &id, a, ev, HISTORY_MAX, nev);
    if (rc != 0) {
        api_call_fail(c, rc == 1 ? JZ_ALERT_NOT_FOUND : JZ_UNAVAILABLE, rc == 1 ? "id" : "",
                      rc == 1 ? "no such alert" : "the alert store could not be read");
        return -1;
    }
    if (!api_call_is_central(c) && a->operator_index != api_call_actor(c)) {
        api_call_fail(c, JZ_FORBIDDEN, "id", "the alert is about another institution's wallet");
        return -1;
    }
    return 0;
}

static void respond_alert(api_call *c, struct rmod *m)
{
    struct alert_row a;
    struct alert_event_row ev[HISTORY_MAX];
    uint32_t nev = 0;
    if (visible_alert(c, m, &a, ev, &nev) == 0) {
        write_alert(m, api_call_out(c), &a, ev, (int32_t)nev);
        api_call_respond(c, 200);
    }
}

static void h_alert_get(api_call *c, json_t *body)
{
    (void)body;
    struct rmod *m = api_call_state(c);
    monitor_catch_up(m);
    respond_alert(c, m);
}

static const char *const case_statuses[] = {"investigating", "closed_suspicious", "closed_ok",
                                            NULL};

static void h_alert_patch(api_call *c, json_t *body)
{
    struct rmod *m = api_call_state(c);
    int status = 0;
    struct risk_note n = {.topic = LEDGER_NOTE_RISK, .event = RISK_NOTE_CASE};
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "status", .type = FIELD_ENUM, .out = &status, .choices = case_statuses},
        {.name = "assignee", .type = FIELD_STRING, .out = n.assignee, .min = 1,
         .max = ALERT_ASSIGNEE_MAX},
        {.name = "note", .type = FIELD_STRING, .out = n.note, .min = 1, .max = ALERT_NOTE_MAX},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    if (!status && !n.assignee[0] && !n.note[0]) {
        api_call_fail(c, JZ_MISSING_FIELD, "status", "give a status, an assignee, a note");
        return;
    }
    int to = status ? status + 1 : 0; /* investigating = 2, ... as enum alert_status */
    struct alert_row a;
    struct alert_event_row ev[HISTORY_MAX];
    uint32_t nev = 0;
    pthread_mutex_lock(&m->write_mu);
    monitor_catch_up(m);
    if (visible_alert(c, m, &a, ev, &nev) == 0) {
        bool closed = a.status == ALERT_CLOSED_SUSPICIOUS || a.status == ALERT_CLOSED_OK;
        n.id = a.id;
        n.number = to;
        if (closed) {
            api_call_fail(c, JZ_ALERT_CLOSED, "id", "the case is closed");
        } else if (to && to != a.status && !alert_transition_ok(a.status, to)) {
            api_call_fail(c, JZ_INVALID_FIELD, "status", "that status change is not allowed");
        } else if (journal_note(c, &n) == 0) {
            monitor_catch_up(m);
            respond_alert(c, m);
        }
    }
    pthread_mutex_unlock(&m->write_mu);
}

/* ---- Reports ---- */

static int date_param(api_call *c, int32_t *day)
{
    static const char *const keys[] = {"date"};
    char vals[1][64];
    if (query_params(c, keys, 1, vals) != 0) {
        return -1;
    }
    if (!vals[0][0]) {
        api_call_fail(c, JZ_MISSING_FIELD, "date", "date=YYYY-MM-DD (UTC+8) is required");
        return -1;
    }
    if (jz_day_of_date(vals[0], day) != 0) {
        api_call_fail(c, JZ_INVALID_FIELD, "date", "date is YYYY-MM-DD");
        return -1;
    }
    return 0;
}

static void h_report_get(api_call *c, json_t *body)
{
    (void)body;
    struct rmod *m = api_call_state(c);
    int kind = report_kind_parse(api_call_param(c, 0));
    int32_t day = 0;
    if (kind == 0) {
        api_call_fail(c, JZ_NOT_FOUND, "kind", "reports are large_value and suspicious");
        return;
    }
    if (date_param(c, &day) != 0) {
        return;
    }
    monitor_catch_up(m);
    struct report_ctx rc;
    risk_engine_report_ctx(m->eng, &rc);
    if (report_json(&rc, kind, day, api_now_ms(api_call_api(c)), api_call_out(c)) != 0) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "the alert store could not be read");
        return;
    }
    api_call_respond(c, 200);
}

static void h_report_files(api_call *c, json_t *body)
{
    struct rmod *m = api_call_state(c);
    char date[11] = "";
    int32_t day = 0;
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "date", .type = FIELD_STRING, .required = true, .out = date, .min = 10, .max = 10},
    };
    if (json_fields_parse(body, specs, 1, "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    if (jz_day_of_date(date, &day) != 0) {
        api_call_fail(c, JZ_INVALID_FIELD, "date", "date is YYYY-MM-DD");
        return;
    }
    monitor_catch_up(m);
    char err[512];
    if (risk_engine_write_reports(m->eng, day, err, sizeof err) != 0) {
        api_call_fail(c, JZ_UNAVAILABLE, "", err);
        return;
    }
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"date\":");
    jb_cstr(b, date);
    jb_lit(b, ",\"files\":[");
    for (int kind = REPORT_LARGE_VALUE; kind <= REPORT_SUSPICIOUS; kind++) {
        for (int csv = 0; csv < 2; csv++) {
            char name[64];
            snprintf(name, sizeof name, "reports/%s-%s.%s", report_kind_name(kind), date,
                     csv ? "csv" : "json");
            jb_lit(b, kind == REPORT_LARGE_VALUE && !csv ? "" : ",");
            jb_cstr(b, name);
        }
    }
    jb_lit(b, "]}");
    api_call_respond(c, 200);
}

/* ---- Disclosures ---- */

static void write_disclosure(struct rmod *m, struct jbuf *b, const struct disclosure_row *d)
{
    jb_lit(b, "{\"id\":");
    jb_id(b, &d->id);
    jb_lit(b, ",\"wallet\":");
    jb_id(b, &d->wallet);
    jb_lit(b, ",\"status\":");
    jb_cstr(b, d->status == DISCLOSURE_APPROVED ? "approved" : "pending");
    jb_lit(b, ",\"requester\":");
    jb_cstr(b, inst(m, d->requester));
    jb_lit(b, ",\"approver\":");
    if (d->approver >= 0) {
        jb_cstr(b, inst(m, d->approver));
    } else {
        jb_lit(b, "null");
    }
    jb_lit(b, ",\"legal_basis\":");
    jb_cstr(b, d->legal_basis);
    jb_lit(b, ",\"requested_at\":");
    jb_int(b, d->requested_at);
    jb_lit(b, ",\"approved_at\":");
    write_int_or_null(b, d->approved_at);
    jb_lit(b, ",\"reveals\":");
    jb_uint(b, d->reveals);
    jb_lit(b, "}");
}

/* A refusal is journalled (it leaves a trace), then answered. */
static void refuse(api_call *c, const jz_id *id, const jz_id *wallet, int reason,
                   const char *basis, int code, const char *field, const char *message)
{
    struct risk_note n = {.topic = LEDGER_NOTE_DISCLOSURE, .event = DISCLOSURE_REFUSE,
                          .number = reason};
    if (id) {
        n.id = *id;
    }
    n.other = *wallet;
    snprintf(n.basis, sizeof n.basis, "%s", basis ? basis : "");
    if (journal_note(c, &n) == 0) {
        api_call_fail(c, code, field, message);
    }
}

/* The wallet's operator from the risk table (after a catch-up), or -1. */
static int32_t wallet_operator(struct rmod *m, const jz_id *wallet, struct risk_wallet *w)
{
    risk_table *t = risk_engine_table(m->eng);
    if (risk_table_get(t, wallet, w) != 0) {
        monitor_catch_up(m);
        if (risk_table_get(t, wallet, w) != 0) {
            return -1;
        }
    }
    return w->operator_index;
}

static void h_disclosure_request(api_call *c, json_t *body)
{
    struct rmod *m = api_call_state(c);
    jz_id wallet;
    char basis[DISCLOSURE_BASIS_MAX + 1] = "";
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "wallet", .type = FIELD_ID, .required = true, .out = &wallet},
        {.name = "legal_basis", .type = FIELD_STRING, .out = basis, .min = 0,
         .max = DISCLOSURE_BASIS_MAX},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    struct risk_wallet w;
    int32_t op = wallet_operator(m, &wallet, &w);
    if (op < 0) {
        api_call_fail(c, JZ_WALLET_NOT_FOUND, "wallet", "no such wallet");
        return;
    }
    pthread_mutex_lock(&m->write_mu);
    if (strlen(basis) < LEGAL_BASIS_MIN) {
        refuse(c, NULL, &wallet, DISCLOSURE_NO_LEGAL_BASIS, basis, JZ_LEGAL_BASIS_REQUIRED,
               "legal_basis", "a disclosure needs its legal basis (at least 8 characters)");
    } else if (!api_call_is_central(c) && op != api_call_actor(c)) {
        refuse(c, NULL, &wallet, DISCLOSURE_WRONG_ROLE, basis, JZ_WRONG_ROLE, "wallet",
               "only the central bank or the wallet's own operator may ask");
    } else {
        struct risk_note n = {.topic = LEDGER_NOTE_DISCLOSURE, .event = DISCLOSURE_REQUEST,
                              .other = wallet};
        snprintf(n.basis, sizeof n.basis, "%s", basis);
        struct disclosure_row d;
        if (crypto_random(n.id.b, sizeof n.id.b) != 0) {
            api_call_fail(c, JZ_UNAVAILABLE, "", "no randomness for an id");
        } else if (journal_note(c, &n) == 0) {
            monitor_catch_up(m);
            if (alert_store_get_disclosure(risk_engine_store(m->eng), &n.id, &d) == 0) {
                write_disclosure(m, api_call_out(c), &d);
                api_call_respond(c, 201);
            } else {
                api_call_fail(c, JZ_UNAVAILABLE, "", "the request is journalled but not read back yet");
            }
        }
    }
    pthread_mutex_unlock(&m->write_mu);
}

/* The disclosure of the path. 0, or -1 with the response set. */
static int path_disclosure(api_call *c, struct rmod *m, struct disclosure_row *d)
{
    jz_id id;
    const char *p = api_call_param(c, 0);
    if (jz_id_from_hex(p, strlen(p), &id) != 0) {
        api_call_fail(c, JZ_INVALID_FIELD, "id", "disclosure ids are 32 lowercase hex digits");
        return -1;
    }
    monitor_catch_up(m);
    int rc = alert_store_get_disclosure(risk_engine_store(m->eng), &id, d);
    if (rc != 0) {
        api_call_fail(c, rc == 1 ? JZ_DISCLOSURE_NOT_FOUND : JZ_UNAVAILABLE, rc == 1 ? "id" : "",
                      rc == 1 ? "no such disclosure request" : "the store could not be read");
        return -1;
    }
    return 0;
}

static void h_disclosure_get(api_call *c, json_t *body)
{
    (void)body;
    struct rmod *m = api_call_state(c);
    struct disclosure_row d;
    struct risk_wallet w;
    if (path_disclosure(c, m, &d) != 0) {
        return;
    }
    int32_t op = wallet_operator(m, &d.wallet, &w);
    if (!api_call_is_central(c) && api_call_actor(c) != op && api_call_actor(c) != d.requester) {
        api_call_fail(c, JZ_FORBIDDEN, "id", "this disclosure is not this institution's");
        return;
    }
    write_disclosure(m, api_call_out(c), &d);
    api_call_respond(c, 200);
}

/* approve and reveal take no fields: {} or no body. */
static int no_fields(api_call *c, json_t *body)
{
    struct api_error e;
    const struct field_spec none[1] = {{.name = ""}};
    if (body && json_fields_parse(body, none, 0, "", &e) != 0) {
        api_call_fail_error(c, &e);
        return -1;
    }
    return 0;
}

/* Roles: the central bank approves an operator's request; the wallet's operator approves
 * the central bank's. Nobody approves their own. */
static void h_disclosure_approve(api_call *c, json_t *body)
{
    struct rmod *m = api_call_state(c);
    if (no_fields(c, body) != 0) {
        return;
    }
    struct disclosure_row d;
    struct risk_wallet w;
    pthread_mutex_lock(&m->write_mu);
    if (path_disclosure(c, m, &d) == 0) {
        int32_t op = wallet_operator(m, &d.wallet, &w);
        int32_t me = api_call_actor(c);
        bool role_ok = d.requester == 0 ? me == op : me == 0;
        if (d.status == DISCLOSURE_APPROVED) {
            api_call_fail(c, JZ_ALREADY_RESOLVED, "id", "the request is already approved");
        } else if (me == d.requester) {
            refuse(c, &d.id, &d.wallet, DISCLOSURE_SAME_INSTITUTION, d.legal_basis,
                   JZ_SECOND_APPROVER_REQUIRED, "id",
                   "a second institution must approve: the requester cannot");
        } else if (!role_ok) {
            refuse(c, &d.id, &d.wallet, DISCLOSURE_WRONG_ROLE, d.legal_basis, JZ_WRONG_ROLE,
                   "id", "the approver is the central bank, or for its requests the wallet's operator");
        } else {
            struct risk_note n = {.topic = LEDGER_NOTE_DISCLOSURE, .event = DISCLOSURE_APPROVE,
                                  .id = d.id, .other = d.wallet};
            if (journal_note(c, &n) == 0 && path_disclosure(c, m, &d) == 0) {
                write_disclosure(m, api_call_out(c), &d);
                api_call_respond(c, 200);
            }
        }
    }
    pthread_mutex_unlock(&m->write_mu);
}

static void write_identity(struct jbuf *b, const struct disclosure_row *d,
                           const struct holder_identity *h)
{
    const char *names[3] = {"name", "id_number", "phone"};
    const char *vals[3] = {h->name, h->id_number, h->phone};
    bool first = true;
    jb_lit(b, "{\"id\":");
    jb_id(b, &d->id);
    jb_lit(b, ",\"wallet\":");
    jb_id(b, &d->wallet);
    jb_lit(b, ",\"holder\":{");
    for (int i = 0; i < 3; i++) {
        if (vals[i][0]) {
            jb_key(b, names[i], first);
            jb_cstr(b, vals[i]);
            first = false;
        }
    }
    jb_lit(b, "}}");
}

/* The holder record of a wallet, unsealed. 0, or -1 with the response set. */
static int unseal_identity(api_call *c, struct rmod *m, const jz_id *wallet,
                           struct holder_identity *h)
{
    struct risk_wallet w;
    uint8_t sealed[JZ_HOLDER_SEALED_MAX];
    uint8_t plain[JZ_HOLDER_SEALED_MAX];
    size_t len = 0;
    if (wallet_operator(m, wallet, &w) < 0) {
        api_call_fail(c, JZ_HOLDER_NOT_FOUND, "wallet", "no such wallet");
        return -1;
    }
    int rc = disclosure_sealed_holder(node_dir(m->node), w.open_seq,
                                      executor_durable_seq(api_executor(m->a)), wallet, sealed,
                                      &len);
    if (rc != 0) {
        api_call_fail(c, rc == 1 ? JZ_HOLDER_NOT_FOUND : JZ_UNAVAILABLE, "wallet",
                      rc == 1 ? "the wallet was opened without a holder record"
                              : "the holder record could not be read from the journal");
        return -1;
    }
    rc = node_unseal_holder(m->node, wallet, sealed, len, plain) == 0 &&
                 disclosure_holder_fields(plain, len - CRYPTO_SEAL_OVERHEAD, h) == 0 ? 0 : -1;
    crypto_wipe(plain, sizeof plain);
    if (rc != 0) {
        api_call_fail(c, JZ_UNAVAILABLE, "wallet", "the holder record does not unseal");
    }
    return rc;
}

static void h_disclosure_reveal(api_call *c, json_t *body)
{
    struct rmod *m = api_call_state(c);
    if (no_fields(c, body) != 0) {
        return;
    }
    struct disclosure_row d;
    struct holder_identity h;
    memset(&h, 0, sizeof h);
    pthread_mutex_lock(&m->write_mu);
    if (path_disclosure(c, m, &d) != 0) {
        /* answered */
    } else if (api_call_actor(c) != d.requester) {
        refuse(c, &d.id, &d.wallet, DISCLOSURE_WRONG_ROLE, d.legal_basis, JZ_WRONG_ROLE, "id",
               "only the requester receives the identity");
    } else if (d.status != DISCLOSURE_APPROVED) {
        refuse(c, &d.id, &d.wallet, DISCLOSURE_NOT_APPROVED, d.legal_basis,
               JZ_DISCLOSURE_NOT_APPROVED, "id", "a second institution has not approved it");
    } else if (unseal_identity(c, m, &d.wallet, &h) == 0) {
        struct risk_note n = {.topic = LEDGER_NOTE_DISCLOSURE, .event = DISCLOSURE_REVEAL,
                              .id = d.id, .other = d.wallet};
        if (journal_note(c, &n) == 0) {
            write_identity(api_call_out(c), &d, &h); /* journalled first, then shown */
            api_call_respond(c, 200);
        }
    }
    crypto_wipe(&h, sizeof h);
    pthread_mutex_unlock(&m->write_mu);
}

/* ---- The module ---- */

static const struct api_ext_route routes[] = {
    {"GET", "/v1/risk/rules", API_EXT_ANY, false, 0, h_rules_get, false},
    {"PUT", "/v1/risk/rules", API_EXT_CENTRAL, false, 0, h_rules_put, false},
    {"POST", "/v1/risk/devices", API_EXT_OPERATORS, false, 0, h_device, false},
    {"GET", "/v1/risk/status", API_EXT_CENTRAL, false, 0, h_status, false},
    {"GET", "/v1/alerts", API_EXT_ANY, false, 0, h_alerts_list, false},
    {"GET", "/v1/alerts/{id}", API_EXT_ANY, false, 0, h_alert_get, false},
    {"PATCH", "/v1/alerts/{id}", API_EXT_ANY, false, 0, h_alert_patch, false},
    {"POST", "/v1/reports/files", API_EXT_CENTRAL, false, 0, h_report_files, false},
    {"GET", "/v1/reports/{kind}", API_EXT_CENTRAL, false, 0, h_report_get, false},
    {"POST", "/v1/disclosures", API_EXT_ANY, false, 0, h_disclosure_request, false},
    {"GET", "/v1/disclosures/{id}", API_EXT_ANY, false, 0, h_disclosure_get, false},
    {"POST", "/v1/disclosures/{id}/approve", API_EXT_ANY, true, 0, h_disclosure_approve, false},
    {"POST", "/v1/disclosures/{id}/reveal", API_EXT_ANY, true, 0, h_disclosure_reveal, false},
};

const struct api_ext api_ext_risk = {
    .name = "risk",
    .routes = routes,
    .nroutes = JZ_ARRAY_LEN(routes),
    .open = rmod_open,
    .close = rmod_close,
};
