/*
 * api_clearing_adj.c: adjustments and disputes (docs/clearing.md, "Error handling").
 *
 * An adjustment corrects a difference by a new transfer of kind `adjustment`; history is
 * never edited. It needs a reason and two approvals from different roles: the clearing
 * officer (central) and an operator that is a party to it (owns its debit or credit wallet).
 * The second approval and the transfer are journalled in one request, so they are durable
 * together; the transfer's id is derived from the adjustment's, so a retried approval is an
 * idempotent replay and the transfer posts (and clears, in the cycle open at the time) once.
 *
 * A dispute is a payer's refund request on a cleared payment or bill: the payer's operator
 * files it, the merchant's operator accepts or rejects it. Accepting creates the refund as an
 * adjustment (merchant's wallet to the customer's) that already carries the accepting
 * operator's approval and needs the clearing officer's: the same path as any adjustment.
 */
#include "api_clearing_int.h"

#include <inttypes.h>

#include "command.h"
#include "ledger.h"

enum adj_status { ADJ_PENDING = 1, ADJ_POSTED = 2, ADJ_FAILED = 3 };
static const char *const adj_status_names[] = {"pending", "posted", "failed"};
enum dispute_status { DISPUTE_OPEN = 1, DISPUTE_ACCEPTED = 2, DISPUTE_REJECTED = 3 };
static const char *const dispute_status_names[] = {"open", "accepted", "rejected"};

#define INST_CHARS (JZ_INSTITUTION_ID_MAX + 1)

struct approval {
    char inst[INST_CHARS];
    int role;
    int64_t at;
};

struct adjustment {
    jz_id id, debit, credit, transfer, dispute;
    bool has_dispute;
    int64_t amount;
    char reason[JZ_MEMO_MAX + 1];
    char ref[JZ_REF_MAX + 1];
    int64_t cycle; /* where the difference was found; 0 = not given */
    char debit_operator[INST_CHARS], credit_operator[INST_CHARS], created_by[INST_CHARS];
    int64_t created_at;
    int status;
    char error[48];
    uint32_t napprovals;
    struct approval approvals[2];
};

struct dispute {
    jz_id id, transfer, debit, credit, adjustment;
    bool has_adjustment;
    int64_t cycle, amount, original;
    uint8_t kind;
    char reason[JZ_MEMO_MAX + 1];
    char decision[JZ_MEMO_MAX + 1];
    char payer_operator[INST_CHARS], merchant_operator[INST_CHARS];
    int status;
    int64_t filed_at, decided_at;
};

/* ---- Reading stored documents back ---- */

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : "";
}

static int64_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static bool jid(json_t *o, const char *key, jz_id *out)
{
    const char *s = jstr(o, key);
    return jz_id_from_hex(s, strlen(s), out) == 0;
}

static int status_of(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            return i + 1;
        }
    }
    return 0;
}

/* The stored document (kind, id) parsed: 0, 1 absent, -1 on error. */
static int load_doc(struct clr *k, const char *kind, const jz_id *id, json_t **out)
{
    char key[33];
    char *body = NULL;
    size_t len = 0;
    struct api_error e;
    jz_id_to_hex(id, key);
    int rc = store_clearing_get_doc(k->st, kind, key, &body, &len, NULL, NULL);
    if (rc == 0) {
        *out = json_parse_body(body, len, &e);
        rc = *out ? 0 : -1;
    }
    free(body);
    return rc;
}

static int adj_load(struct clr *k, const jz_id *id, struct adjustment *a)
{
    json_t *o = NULL;
    int rc = load_doc(k, "adj", id, &o);
    if (rc != 0) {
        return rc;
    }
    memset(a, 0, sizeof *a);
    bool ok = jid(o, "id", &a->id) && jid(o, "debit", &a->debit) && jid(o, "credit", &a->credit) &&
              jid(o, "transfer", &a->transfer);
    a->has_dispute = jid(o, "dispute", &a->dispute);
    a->amount = jint(o, "amount");
    snprintf(a->reason, sizeof a->reason, "%s", jstr(o, "reason"));
    snprintf(a->ref, sizeof a->ref, "%s", jstr(o, "ref"));
    a->cycle = jint(o, "cycle");
    snprintf(a->debit_operator, INST_CHARS, "%s", jstr(o, "debit_operator"));
    snprintf(a->credit_operator, INST_CHARS, "%s", jstr(o, "credit_operator"));
    snprintf(a->created_by, INST_CHARS, "%s", jstr(o, "created_by"));
    a->created_at = jint(o, "created_at");
    a->status = status_of(jstr(o, "status"), adj_status_names, 3);
    snprintf(a->error, sizeof a->error, "%s", jstr(o, "error"));
    json_t *list = json_object_get(o, "approvals");
    for (size_t i = 0; i < json_array_size(list) && i < 2; i++) {
        json_t *ap = json_array_get(list, i);
        struct approval *p = &a->approvals[a->napprovals++];
        snprintf(p->inst, INST_CHARS, "%s", jstr(ap, "institution"));
        p->role = strcmp(jstr(ap, "role"), clr_role_name(CLR_ROLE_OFFICER)) == 0
                      ? CLR_ROLE_OFFICER
                      : CLR_ROLE_OPERATOR;
        p->at = jint(ap, "at");
    }
    json_decref(o);
    return ok && a->status != 0 ? 0 : -1;
}

static int dispute_load(struct clr *k, const jz_id *id, struct dispute *d)
{
    json_t *o = NULL;
    int rc = load_doc(k, "dispute", id, &o);
    if (rc != 0) {
        return rc;
    }
    memset(d, 0, sizeof *d);
    bool ok = jid(o, "id", &d->id) && jid(o, "transfer", &d->transfer) &&
              jid(o, "debit", &d->debit) && jid(o, "credit", &d->credit);
    d->has_adjustment = jid(o, "adjustment", &d->adjustment);
    d->cycle = jint(o, "cycle");
    d->amount = jint(o, "amount");
    d->original = jint(o, "original_amount");
    d->kind = (uint8_t)ledger_kind_parse(jstr(o, "kind"));
    snprintf(d->reason, sizeof d->reason, "%s", jstr(o, "reason"));
    snprintf(d->decision, sizeof d->decision, "%s", jstr(o, "decision_reason"));
    snprintf(d->payer_operator, INST_CHARS, "%s", jstr(o, "payer_operator"));
    snprintf(d->merchant_operator, INST_CHARS, "%s", jstr(o, "merchant_operator"));
    d->status = status_of(jstr(o, "status"), dispute_status_names, 3);
    d->filed_at = jint(o, "filed_at");
    d->decided_at = jint(o, "decided_at");
    json_decref(o);
    return ok && d->status != 0 ? 0 : -1;
}

/* ---- Writing them ---- */

static void str_or_null(struct jbuf *b, const char *key, const char *v)
{
    jb_key(b, key, false);
    if (v[0]) {
        jb_cstr(b, v);
    } else {
        jb_lit(b, "null");
    }
}

static void id_or_null(struct jbuf *b, const char *key, bool present, const jz_id *id)
{
    jb_key(b, key, false);
    if (present) {
        jb_id(b, id);
    } else {
        jb_lit(b, "null");
    }
}

/* cleared_in < 0: the stored form (without it). */
static void adj_write(struct jbuf *b, const struct adjustment *a, int64_t cleared_in)
{
    jb_lit(b, "{\"id\":");
    jb_id(b, &a->id);
    jb_lit(b, ",\"debit\":");
    jb_id(b, &a->debit);
    jb_lit(b, ",\"credit\":");
    jb_id(b, &a->credit);
    jb_lit(b, ",\"amount\":");
    jb_int(b, a->amount);
    jb_lit(b, ",\"reason\":");
    jb_cstr(b, a->reason);
    str_or_null(b, "ref", a->ref);
    clr_int_or_null(b, "cycle", a->cycle > 0, a->cycle);
    jb_lit(b, ",\"debit_operator\":");
    jb_cstr(b, a->debit_operator);
    jb_lit(b, ",\"credit_operator\":");
    jb_cstr(b, a->credit_operator);
    jb_lit(b, ",\"created_by\":");
    jb_cstr(b, a->created_by);
    jb_lit(b, ",\"created_at\":");
    jb_int(b, a->created_at);
    jb_lit(b, ",\"status\":");
    jb_cstr(b, adj_status_names[a->status - 1]);
    str_or_null(b, "error", a->error);
    id_or_null(b, "dispute", a->has_dispute, &a->dispute);
    jb_lit(b, ",\"transfer\":");
    jb_id(b, &a->transfer);
    jb_lit(b, ",\"approvals\":[");
    for (uint32_t i = 0; i < a->napprovals; i++) {
        jb_lit(b, i ? ",{\"institution\":" : "{\"institution\":");
        jb_cstr(b, a->approvals[i].inst);
        jb_lit(b, ",\"role\":");
        jb_cstr(b, clr_role_name(a->approvals[i].role));
        jb_lit(b, ",\"at\":");
        jb_int(b, a->approvals[i].at);
        jb_lit(b, "}");
    }
    jb_lit(b, "]");
    if (cleared_in >= 0) {
        clr_int_or_null(b, "cleared_in", cleared_in > 0, cleared_in);
    }
    jb_lit(b, "}");
}

static void dispute_write(struct jbuf *b, const struct dispute *d)
{
    jb_lit(b, "{\"id\":");
    jb_id(b, &d->id);
    jb_lit(b, ",\"cycle\":");
    jb_int(b, d->cycle);
    jb_lit(b, ",\"transfer\":");
    jb_id(b, &d->transfer);
    jb_lit(b, ",\"kind\":");
    jb_cstr(b, ledger_kind_name(d->kind));
    jb_lit(b, ",\"debit\":");
    jb_id(b, &d->debit);
    jb_lit(b, ",\"credit\":");
    jb_id(b, &d->credit);
    jb_lit(b, ",\"payer_operator\":");
    jb_cstr(b, d->payer_operator);
    jb_lit(b, ",\"merchant_operator\":");
    jb_cstr(b, d->merchant_operator);
    jb_lit(b, ",\"amount\":");
    jb_int(b, d->amount);
    jb_lit(b, ",\"original_amount\":");
    jb_int(b, d->original);
    jb_lit(b, ",\"reason\":");
    jb_cstr(b, d->reason);
    jb_lit(b, ",\"status\":");
    jb_cstr(b, dispute_status_names[d->status - 1]);
    jb_lit(b, ",\"filed_at\":");
    jb_int(b, d->filed_at);
    clr_int_or_null(b, "decided_at", d->decided_at > 0, d->decided_at);
    str_or_null(b, "decision_reason", d->decision);
    id_or_null(b, "adjustment", d->has_adjustment, &d->adjustment);
    jb_lit(b, "}");
}

static int put_json(struct clr *k, const char *kind, const jz_id *id, const struct jbuf *b)
{
    char key[33];
    jz_id_to_hex(id, key);
    return b->failed ? -1 : store_clearing_put_doc(k->st, kind, key, b->p, b->len, NULL, 0);
}

static int adj_save(struct clr *k, const struct adjustment *a)
{
    struct jbuf b;
    jb_init(&b);
    adj_write(&b, a, -1);
    int rc = put_json(k, "adj", &a->id, &b);
    jb_free(&b);
    return rc;
}

static int dispute_save(struct clr *k, const struct dispute *d)
{
    struct jbuf b;
    jb_init(&b);
    dispute_write(&b, d);
    int rc = put_json(k, "dispute", &d->id, &b);
    jb_free(&b);
    return rc;
}

/* The cycle that cleared the adjustment's transfer, 0 when none has yet. A pending
 * adjustment whose transfer was cleared was posted before a crash lost the store's update:
 * the journal wins, and the stored document is brought up to date. */
static int64_t adj_cleared_in(struct clr *k, struct adjustment *a)
{
    char key[33];
    char *body = NULL;
    size_t len = 0;
    jz_id_to_hex(&a->transfer, key);
    int64_t cycle = 0;
    if (store_clearing_get_doc(k->st, "xcycle", key, &body, &len, NULL, NULL) == 0) {
        cycle = (int64_t)strtoull(body, NULL, 10);
    }
    free(body);
    if (cycle > 0 && a->status == ADJ_PENDING) {
        a->status = ADJ_POSTED;
        (void)adj_save(k, a);
    }
    return cycle;
}

static void respond_adj(api_call *c, struct clr *k, struct adjustment *a, int status)
{
    int64_t cleared = adj_cleared_in(k, a);
    adj_write(api_call_out(c), a, cleared);
    api_call_respond(c, status);
}

/* ---- Adjustments ---- */

struct pair_query {
    jz_id ids[2];
    bool found[2];
    struct ledger_wallet_view w[2];
    jz_id issuance;
    int64_t now;
};

static void query_pair(const ledger *l, void *ctx)
{
    struct pair_query *q = ctx;
    struct ledger_institution_view central;
    if (ledger_institution_get(l, "central", &central) == 0) {
        q->issuance = central.treasury;
    }
    for (int i = 0; i < 2; i++) {
        q->found[i] = ledger_wallet_get(l, &q->ids[i], q->now, &q->w[i]) == 0;
    }
}

/* Both wallets exist, neither is the issuance account, and the caller may see them. 0 with
 * their operators' indexes, or -1 with the response set. */
static int check_wallets(api_call *c, const jz_id *debit, const jz_id *credit, int ops[2])
{
    static const char *const fields[2] = {"debit", "credit"};
    struct pair_query q = {.ids = {*debit, *credit}, .now = api_now_ms(api_call_api(c))};
    if (jz_id_eq(debit, credit)) {
        api_call_fail(c, JZ_INVALID_FIELD, "credit", "credit must differ from debit");
        return -1;
    }
    if (api_call_read(c, query_pair, &q) != 0) {
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        if (!q.found[i]) {
            api_call_fail(c, JZ_WALLET_NOT_FOUND, fields[i], "no such wallet");
            return -1;
        }
        if (jz_id_eq(&q.ids[i], &q.issuance)) {
            api_call_fail(c, JZ_KIND_NOT_ALLOWED, fields[i],
                          "the issuance account takes no adjustment: quota moves by issue and "
                          "redeem");
            return -1;
        }
        ops[i] = q.w[i].operator_index;
    }
    if (!api_call_is_central(c) && ops[0] != api_call_actor(c) && ops[1] != api_call_actor(c)) {
        api_call_fail(c, JZ_FORBIDDEN, "", "an operator adjusts only what touches its wallets");
        return -1;
    }
    return 0;
}

/* The first field in which two adjustments differ, or NULL. */
static const char *adj_diff(const struct adjustment *x, const struct adjustment *y)
{
    if (!jz_id_eq(&x->debit, &y->debit)) {
        return "debit";
    }
    if (!jz_id_eq(&x->credit, &y->credit)) {
        return "credit";
    }
    if (x->amount != y->amount) {
        return "amount";
    }
    if (strcmp(x->reason, y->reason) != 0) {
        return "reason";
    }
    if (strcmp(x->ref, y->ref) != 0) {
        return "ref";
    }
    return x->cycle != y->cycle ? "cycle" : NULL;
}

/* Stores a new adjustment (journalled first), or answers the replay of an existing one.
 * Lock held. 0 when stored or replayed (response set), -1 otherwise (response set). */
static int adj_create(api_call *c, struct clr *k, struct adjustment *a, int ok_status)
{
    struct adjustment old;
    int rc = adj_load(k, &a->id, &old);
    if (rc < 0) {
        clr_fail_store(c);
        return -1;
    }
    if (rc == 0) {
        const char *field = adj_diff(&old, a);
        if (field) {
            api_call_fail(c, JZ_ID_CONFLICT, field,
                          "this id was used before with different content");
            return -1;
        }
        respond_adj(c, k, &old, 200);
        return 0;
    }
    clr_derive_id("jiaozi adjustment", &a->id, &a->transfer);
    uint8_t rest[16 + 8 + JZ_MEMO_MAX];
    size_t reason_len = strlen(a->reason);
    memcpy(rest, a->credit.b, 16);
    put_u64(rest + 16, (uint64_t)a->amount);
    memcpy(rest + 24, a->reason, reason_len);
    if (clr_note(c, CLEARING_NOTE_ADJUST, &a->id, &a->debit, a->amount, rest, 24 + reason_len) !=
        0) {
        return -1;
    }
    if (adj_save(k, a) != 0) {
        clr_fail_store(c);
        return -1;
    }
    respond_adj(c, k, a, ok_status);
    return 0;
}

void clr_h_adjust(api_call *c, json_t *body)
{
    struct clr *k = api_call_state(c);
    struct adjustment *a = calloc(1, sizeof *a);
    bool reason_given = false;
    struct api_error e;
    if (!a) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "out of memory");
        return;
    }
    const struct field_spec specs[] = {
        {.name = "id", .type = FIELD_ID, .required = true, .out = &a->id},
        {.name = "debit", .type = FIELD_ID, .required = true, .out = &a->debit},
        {.name = "credit", .type = FIELD_ID, .required = true, .out = &a->credit},
        {.name = "amount", .type = FIELD_AMOUNT, .required = true, .out = &a->amount},
        {.name = "reason",
         .type = FIELD_STRING,
         .out = a->reason,
         .present = &reason_given,
         .max = JZ_MEMO_MAX},
        {.name = "ref", .type = FIELD_STRING, .out = a->ref, .min = 1, .max = JZ_REF_MAX},
        {.name = "cycle", .type = FIELD_INT, .out = &a->cycle, .min = 1, .max = INT64_MAX},
    };
    int ops[2];
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
    } else if (clr_check_reason(c, a->reason, reason_given) == 0 &&
               check_wallets(c, &a->debit, &a->credit, ops) == 0) {
        snprintf(a->debit_operator, INST_CHARS, "%s",
                 api_institution_id(api_call_api(c), (uint32_t)ops[0]));
        snprintf(a->credit_operator, INST_CHARS, "%s",
                 api_institution_id(api_call_api(c), (uint32_t)ops[1]));
        snprintf(a->created_by, INST_CHARS, "%s", api_call_actor_id(c));
        a->created_at = api_now_ms(api_call_api(c));
        a->status = ADJ_PENDING;
        pthread_mutex_lock(&k->mu);
        struct clearing_cycle_info cy;
        int rc = a->cycle ? clearing_engine_cycle_info(k->eng, (uint64_t)a->cycle, &cy) : 0;
        if (rc != 0) {
            api_call_fail(c, rc < 0 ? JZ_UNAVAILABLE : JZ_NOT_FOUND, "cycle", "no such cycle");
        } else {
            (void)adj_create(c, k, a, 201);
        }
        pthread_mutex_unlock(&k->mu);
    }
    free(a);
}

/* The {id} of the path as an id, or -1 with the response set. */
static int id_param(api_call *c, jz_id *id)
{
    const char *p = api_call_param(c, 0);
    if (jz_id_from_hex(p, strlen(p), id) != 0) {
        api_call_fail(c, JZ_INVALID_FIELD, "id", "ids are 32 lowercase hex digits");
        return -1;
    }
    return 0;
}

static bool adj_visible(api_call *c, const struct adjustment *a)
{
    const char *me = api_call_actor_id(c);
    return api_call_is_central(c) || strcmp(me, a->debit_operator) == 0 ||
           strcmp(me, a->credit_operator) == 0;
}

void clr_h_adjustment(api_call *c, json_t *body)
{
    (void)body;
    struct clr *k = api_call_state(c);
    struct adjustment a;
    jz_id id;
    if (id_param(c, &id) != 0) {
        return;
    }
    pthread_mutex_lock(&k->mu);
    int rc = adj_load(k, &id, &a);
    if (rc < 0) {
        clr_fail_store(c);
    } else if (rc > 0 || !adj_visible(c, &a)) {
        api_call_fail(c, JZ_NOT_FOUND, "id", "no such adjustment");
    } else {
        respond_adj(c, k, &a, 200);
    }
    pthread_mutex_unlock(&k->mu);
}

/* Whether the caller may approve a, and as what. 0 with *role, or -1 with the response set. */
static int approver_role(api_call *c, const struct adjustment *a, int *role)
{
    const char *me = api_call_actor_id(c);
    if (api_call_is_central(c)) {
        *role = CLR_ROLE_OFFICER;
    } else if (strcmp(me, a->debit_operator) == 0 || strcmp(me, a->credit_operator) == 0) {
        *role = CLR_ROLE_OPERATOR;
    } else {
        api_call_fail(c, JZ_FORBIDDEN, "",
                      "only the clearing officer and the operators of the "
                      "adjustment's wallets approve it");
        return -1;
    }
    if (a->status != ADJ_PENDING) {
        api_call_fail(c, JZ_ALREADY_RESOLVED, "id",
                      a->status == ADJ_POSTED ? "the adjustment is already posted"
                                              : "the adjustment failed when posted");
        return -1;
    }
    for (uint32_t i = 0; i < a->napprovals; i++) {
        if (strcmp(a->approvals[i].inst, me) == 0) {
            api_call_fail(c, JZ_APPROVER_REPEATED, "",
                          "this institution approved already: a "
                          "second approver is needed");
            return -1;
        }
        if (a->approvals[i].role == *role) {
            api_call_fail(c, JZ_APPROVER_SAME_ROLE, "",
                          "the second approval must come from the "
                          "other role");
            return -1;
        }
    }
    return 0;
}

/* The second approval's note and the adjustment's transfer, in one journal group. */
static int post_adjustment(api_call *c, const struct adjustment *a, int role,
                           struct ledger_result *res)
{
    struct ledger_cmd cmd[2];
    memset(cmd, 0, sizeof cmd);
    cmd[0].op = LEDGER_OP_NOTE;
    cmd[0].actor = (uint16_t)api_call_actor(c);
    cmd[0].kind = LEDGER_NOTE_CLEARING;
    cmd[0].id = a->id;
    cmd[0].amount = api_call_actor(c);
    cmd[0].holder_len = 2;
    cmd[0].holder[0] = CLEARING_NOTE_APPROVE;
    cmd[0].holder[1] = (uint8_t)role;
    int debit_op = api_institution_index(api_call_api(c), a->debit_operator);
    ASSERT(debit_op > 0);
    cmd[1].op = LEDGER_OP_TRANSFER;
    cmd[1].actor = (uint16_t)debit_op; /* the ledger's rule: the debit's operator moves it */
    cmd[1].kind = LEDGER_KIND_ADJUSTMENT;
    cmd[1].id = a->transfer;
    cmd[1].debit = a->debit;
    cmd[1].credit = a->credit;
    cmd[1].amount = a->amount;
    char hex[33];
    jz_id_to_hex(&a->id, hex);
    cmd[1].ref_len = (uint8_t)snprintf(cmd[1].ref, sizeof cmd[1].ref, "adj-%s", hex);
    cmd[1].memo_len = (uint8_t)strlen(a->reason);
    memcpy(cmd[1].memo, a->reason, cmd[1].memo_len);
    struct ledger_result r[2];
    if (api_call_run(c, cmd, 2, r, NULL, NULL) != 0) {
        return -1;
    }
    *res = r[1];
    return 0;
}

void clr_h_approve(api_call *c, json_t *body)
{
    struct clr *k = api_call_state(c);
    struct api_error e;
    jz_id id;
    if ((body && json_fields_parse(body, NULL, 0, "", &e) != 0)) {
        api_call_fail_error(c, &e);
        return;
    }
    if (id_param(c, &id) != 0) {
        return;
    }
    struct adjustment a;
    int role = 0;
    pthread_mutex_lock(&k->mu);
    int rc = adj_load(k, &id, &a);
    if (rc != 0) {
        api_call_fail(c, rc < 0 ? JZ_UNAVAILABLE : JZ_NOT_FOUND, "id", "no such adjustment");
    } else if ((void)adj_cleared_in(k, &a), approver_role(c, &a, &role) == 0) {
        struct approval *ap = &a.approvals[a.napprovals];
        snprintf(ap->inst, INST_CHARS, "%s", api_call_actor_id(c));
        ap->role = role;
        ap->at = api_now_ms(api_call_api(c));
        uint8_t r8 = (uint8_t)role;
        struct ledger_result res = {.code = JZ_OK};
        if (a.napprovals == 0) {
            rc = clr_note(c, CLEARING_NOTE_APPROVE, &a.id, NULL, api_call_actor(c), &r8, 1);
        } else {
            rc = post_adjustment(c, &a, role, &res);
            a.status = res.code == JZ_OK ? ADJ_POSTED : ADJ_FAILED;
            snprintf(a.error, sizeof a.error, "%s",
                     res.code == JZ_OK ? "" : jz_result_name(res.code));
        }
        a.napprovals++;
        if (rc != 0) {
            /* the response says why (overloaded, unavailable) */
        } else if (adj_save(k, &a) != 0) {
            clr_fail_store(c);
        } else if (res.code != JZ_OK) {
            api_call_fail_result(c, &res);
        } else {
            respond_adj(c, k, &a, 200);
        }
    }
    pthread_mutex_unlock(&k->mu);
}

/* ---- Disputes ---- */

static const struct clearing_item *find_item(const struct clearing_item *items, size_t n,
                                             const jz_id *id)
{
    for (size_t i = 0; i < n; i++) {
        if (jz_id_eq(&items[i].id, id)) {
            return &items[i];
        }
    }
    return NULL;
}

/* Fills d from the cleared item it disputes. -1 with the response set. Lock held. */
static int dispute_target(api_call *c, struct clr *k, struct dispute *d, bool amount_given)
{
    struct clearing_cycle_info cy;
    int rc = clearing_engine_cycle_info(k->eng, (uint64_t)d->cycle, &cy);
    if (rc != 0) {
        api_call_fail(c, rc < 0 ? JZ_UNAVAILABLE : JZ_NOT_FOUND, "cycle", "no such cycle");
        return -1;
    }
    if (cy.status != JZ_OK) {
        api_call_fail(c, JZ_CYCLE_FAILED, "cycle", "the cycle failed: nothing in it settled");
        return -1;
    }
    struct clearing_item *items = NULL;
    size_t n = 0;
    char err[512];
    if (clearing_engine_items(k->eng, &cy, api_call_actor(c), &items, &n, err, sizeof err) != 0) {
        clr_fail_store(c);
        return -1;
    }
    const struct clearing_item *it = find_item(items, n, &d->transfer);
    rc = -1;
    if (!it) {
        api_call_fail(c, JZ_TRANSFER_NOT_FOUND, "transfer",
                      "no payment of this institution's customer in that cycle has this id");
    } else if (it->kind != LEDGER_KIND_PAYMENT && it->kind != LEDGER_KIND_BILL) {
        api_call_fail(c, JZ_KIND_NOT_ALLOWED, "transfer", "only payments and bills are disputed");
    } else if (it->from != api_call_actor(c)) {
        api_call_fail(c, JZ_FORBIDDEN, "transfer", "the payer's institution files the dispute");
    } else if (amount_given && d->amount > it->amount) {
        api_call_fail(c, JZ_INVALID_FIELD, "amount", "a refund is at most the payment");
    } else {
        d->debit = it->debit;
        d->credit = it->credit;
        d->original = it->amount;
        d->amount = amount_given ? d->amount : it->amount;
        d->kind = it->kind;
        snprintf(d->payer_operator, INST_CHARS, "%s",
                 clearing_engine_institution(k->eng, it->from));
        snprintf(d->merchant_operator, INST_CHARS, "%s",
                 clearing_engine_institution(k->eng, it->to));
        rc = 0;
    }
    free(items);
    return rc;
}

/* Lock held: the replay of an existing dispute, or a refusal; 1 when it is new. */
static int dispute_existing(api_call *c, struct clr *k, const struct dispute *d)
{
    struct dispute old;
    int rc = dispute_load(k, &d->id, &old);
    if (rc == 0) {
        const char *field = !jz_id_eq(&old.transfer, &d->transfer) ? "transfer"
                            : old.cycle != d->cycle                ? "cycle"
                            : old.amount != d->amount              ? "amount"
                            : strcmp(old.reason, d->reason) != 0   ? "reason"
                                                                   : NULL;
        if (field) {
            api_call_fail(c, JZ_ID_CONFLICT, field,
                          "this id was used before with different content");
        } else {
            dispute_write(api_call_out(c), &old);
            api_call_respond(c, 200);
        }
        return 0;
    }
    char key[33];
    char *body = NULL;
    size_t len = 0;
    jz_id_to_hex(&d->transfer, key);
    int x = rc < 0 ? -1 : store_clearing_get_doc(k->st, "dispx", key, &body, &len, NULL, NULL);
    free(body);
    if (x < 0) {
        clr_fail_store(c);
        return 0;
    }
    if (x == 0) {
        api_call_fail(c, JZ_DISPUTE_EXISTS, "transfer", "this payment is disputed already");
        return 0;
    }
    return 1;
}

void clr_h_dispute(api_call *c, json_t *body)
{
    struct clr *k = api_call_state(c);
    struct dispute d;
    bool reason_given = false;
    bool amount_given = false;
    struct api_error e;
    memset(&d, 0, sizeof d);
    const struct field_spec specs[] = {
        {.name = "id", .type = FIELD_ID, .required = true, .out = &d.id},
        {.name = "cycle",
         .type = FIELD_INT,
         .required = true,
         .out = &d.cycle,
         .min = 1,
         .max = INT64_MAX},
        {.name = "transfer", .type = FIELD_ID, .required = true, .out = &d.transfer},
        {.name = "amount", .type = FIELD_AMOUNT, .out = &d.amount, .present = &amount_given},
        {.name = "reason",
         .type = FIELD_STRING,
         .out = d.reason,
         .present = &reason_given,
         .max = JZ_MEMO_MAX},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    if (clr_check_reason(c, d.reason, reason_given) != 0) {
        return;
    }
    pthread_mutex_lock(&k->mu);
    if (dispute_target(c, k, &d, amount_given) == 0 && dispute_existing(c, k, &d) == 1) {
        d.status = DISPUTE_OPEN;
        d.filed_at = api_now_ms(api_call_api(c));
        uint8_t rest[16 + 8 + JZ_MEMO_MAX];
        size_t reason_len = strlen(d.reason);
        memcpy(rest, d.transfer.b, 16);
        put_u64(rest + 16, (uint64_t)d.amount);
        memcpy(rest + 24, d.reason, reason_len);
        char key[33];
        char idhex[33];
        jz_id_to_hex(&d.transfer, key);
        jz_id_to_hex(&d.id, idhex);
        if (clr_note(c, CLEARING_NOTE_DISPUTE, &d.id, NULL, d.cycle, rest, 24 + reason_len) == 0) {
            if (dispute_save(k, &d) != 0 ||
                store_clearing_put_doc(k->st, "dispx", key, idhex, 32, NULL, 0) != 0) {
                clr_fail_store(c);
            } else {
                dispute_write(api_call_out(c), &d);
                api_call_respond(c, 201);
            }
        }
    }
    pthread_mutex_unlock(&k->mu);
}

static bool dispute_visible(api_call *c, const struct dispute *d)
{
    const char *me = api_call_actor_id(c);
    return api_call_is_central(c) || strcmp(me, d->payer_operator) == 0 ||
           strcmp(me, d->merchant_operator) == 0;
}

void clr_h_dispute_get(api_call *c, json_t *body)
{
    (void)body;
    struct clr *k = api_call_state(c);
    struct dispute d;
    jz_id id;
    if (id_param(c, &id) != 0) {
        return;
    }
    pthread_mutex_lock(&k->mu);
    int rc = dispute_load(k, &id, &d);
    if (rc < 0) {
        clr_fail_store(c);
    } else if (rc > 0 || !dispute_visible(c, &d)) {
        api_call_fail(c, JZ_NOT_FOUND, "id", "no such dispute");
    } else {
        dispute_write(api_call_out(c), &d);
        api_call_respond(c, 200);
    }
    pthread_mutex_unlock(&k->mu);
}

/* The dispute of the path, open, and the caller its merchant's operator. Lock held. */
static int dispute_to_decide(api_call *c, struct clr *k, struct dispute *d)
{
    jz_id id;
    if (id_param(c, &id) != 0) {
        return -1;
    }
    int rc = dispute_load(k, &id, d);
    if (rc != 0 || !dispute_visible(c, d)) {
        api_call_fail(c, rc < 0 ? JZ_UNAVAILABLE : JZ_NOT_FOUND, "id", "no such dispute");
        return -1;
    }
    if (strcmp(api_call_actor_id(c), d->merchant_operator) != 0) {
        api_call_fail(c, JZ_FORBIDDEN, "", "the merchant's institution decides a dispute");
        return -1;
    }
    if (d->status != DISPUTE_OPEN) {
        api_call_fail(c, JZ_ALREADY_RESOLVED, "id", "the dispute was decided already");
        return -1;
    }
    return 0;
}

/* Up to max bytes of s, cut at a UTF-8 character boundary. */
static size_t utf8_cut(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) {
        return n;
    }
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80) {
        max--;
    }
    return max;
}

/* Journals the decision (and, for an acceptance, stores the refund adjustment). Lock held. */
static int decide(api_call *c, struct clr *k, struct dispute *d, bool accept)
{
    uint8_t rest[1 + JZ_MEMO_MAX];
    size_t n = strlen(d->decision);
    rest[0] = accept ? 1 : 2;
    memcpy(rest + 1, d->decision, n);
    if (accept) {
        d->has_adjustment = true;
        clr_derive_id("jiaozi dispute refund", &d->id, &d->adjustment);
    }
    if (clr_note(c, CLEARING_NOTE_DECIDE, &d->id, accept ? &d->adjustment : NULL, d->amount, rest,
                 1 + n) != 0) {
        return -1;
    }
    d->status = accept ? DISPUTE_ACCEPTED : DISPUTE_REJECTED;
    d->decided_at = api_now_ms(api_call_api(c));
    if (accept) {
        struct adjustment a;
        memset(&a, 0, sizeof a);
        a.id = d->adjustment;
        a.debit = d->credit; /* the merchant's wallet pays back */
        a.credit = d->debit;
        a.amount = d->amount;
        char text[256];
        snprintf(text, sizeof text, "dispute refund: %s", d->reason);
        memcpy(a.reason, text, utf8_cut(text, JZ_MEMO_MAX));
        jz_id_to_hex(&d->transfer, a.ref);
        a.cycle = d->cycle;
        snprintf(a.debit_operator, INST_CHARS, "%s", d->merchant_operator);
        snprintf(a.credit_operator, INST_CHARS, "%s", d->payer_operator);
        snprintf(a.created_by, INST_CHARS, "%s", api_call_actor_id(c));
        a.created_at = d->decided_at;
        a.status = ADJ_PENDING;
        a.has_dispute = true;
        a.dispute = d->id;
        clr_derive_id("jiaozi adjustment", &a.id, &a.transfer);
        a.napprovals = 1; /* accepting is the merchant operator's approval */
        snprintf(a.approvals[0].inst, INST_CHARS, "%s", api_call_actor_id(c));
        a.approvals[0].role = CLR_ROLE_OPERATOR;
        a.approvals[0].at = d->decided_at;
        if (adj_save(k, &a) != 0) {
            clr_fail_store(c);
            return -1;
        }
    }
    if (dispute_save(k, d) != 0) {
        clr_fail_store(c);
        return -1;
    }
    dispute_write(api_call_out(c), d);
    api_call_respond(c, 200);
    return 0;
}

static void decide_route(api_call *c, json_t *body, bool accept)
{
    struct clr *k = api_call_state(c);
    struct dispute d;
    char reason[JZ_MEMO_MAX + 1] = "";
    bool given = false;
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "reason",
         .type = FIELD_STRING,
         .out = reason,
         .present = &given,
         .max = JZ_MEMO_MAX},
    };
    if (body && json_fields_parse(body, specs, 1, "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    if ((!accept || given) && clr_check_reason(c, reason, given) != 0) {
        return;
    }
    pthread_mutex_lock(&k->mu);
    if (dispute_to_decide(c, k, &d) == 0) {
        snprintf(d.decision, sizeof d.decision, "%s", reason);
        (void)decide(c, k, &d, accept);
    }
    pthread_mutex_unlock(&k->mu);
}

void clr_h_accept(api_call *c, json_t *body)
{
    decide_route(c, body, true);
}

void clr_h_reject(api_call *c, json_t *body)
{
    decide_route(c, body, false);
}
