/*
 * scenario_wallets.c: child wallets and targeted funds (issue 7, items 4 and 5).
 *
 * A holder's operator opens child wallets under a parent (POST /v1/wallets/{id}/children):
 * each has its own tier, so its own limits; the holder funds it from the parent with a p2p
 * transfer and pays merchants from it, and a merchant sees only the child's id. A child may
 * carry a restriction (merchant categories, expiry, return-to wallet: ledger.h), which is
 * what targeted funds and prepaid escrow are made of.
 *
 * A disbursement with a restriction (POST /v1/disbursements) puts the money in a child of
 * the recipient opened for it, id derived from the transfer id, on the recipient operator's
 * authority (opening the wallet that receives is part of crediting, which any operator may
 * do), returning to the funder's debit wallet at the expiry.
 */
#include "crypto.h"
#include "scenario_int.h"

#define CHILDREN_MAX 1000

static const char *const child_kinds[] = {"personal", "corporate", NULL};
static const char *const forms[] = {"soft", "hard", NULL};

struct open_read {
    jz_id id;
    int64_t now;
    int found;
    struct ledger_wallet_view view;
};

static void read_opened(const ledger *l, void *ctx)
{
    struct open_read *q = ctx;
    q->found = ledger_wallet_get(l, &q->id, q->now, &q->view) == 0;
}

/* {"mccs"?, "expires_at", "return_to"?} into cmd (return_to: required unless given). */
static int parse_restriction(api_call *c, json_t *obj, bool need_return_to, struct ledger_cmd *cmd)
{
    json_t *mccs = NULL;
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "expires_at", .type = FIELD_INT, .required = true, .out = &cmd->expires_at,
         .min = 1, .max = INT64_MAX},
        {.name = "mccs", .type = FIELD_ARRAY, .out = &mccs},
        {.name = "return_to", .type = FIELD_ID, .required = true, .out = &cmd->return_to},
    };
    if (json_fields_parse(obj, specs, JZ_ARRAY_LEN(specs) - (need_return_to ? 0 : 1),
                          "restriction.", &e) != 0) {
        api_call_fail_error(c, &e);
        return -1;
    }
    return mccs ? scen_parse_mccs(c, mccs, "restriction.mccs", cmd->mccs, &cmd->mcc_count) : 0;
}

void scen_h_children_open(api_call *c, json_t *body)
{
    struct ledger_cmd cmd;
    struct ledger_wallet_view parent;
    int kind = 1;
    int form = 1;
    int64_t tier = 0;
    bool has_id = false;
    json_t *restriction = NULL;
    struct api_error e;
    memset(&cmd, 0, sizeof cmd);
    const struct field_spec specs[] = {
        {.name = "id", .type = FIELD_ID, .out = &cmd.id, .present = &has_id},
        {.name = "kind", .type = FIELD_ENUM, .out = &kind, .choices = child_kinds},
        {.name = "tier", .type = FIELD_INT, .required = true, .out = &tier, .min = 1, .max = 4},
        {.name = "form", .type = FIELD_ENUM, .out = &form, .choices = forms},
        {.name = "restriction", .type = FIELD_OBJECT, .out = &restriction},
    };
    if (scen_path_id(c, 0, &cmd.credit) != 0) {
        return;
    }
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
        return;
    }
    if (restriction && parse_restriction(c, restriction, true, &cmd) != 0) {
        return;
    }
    if (api_call_wallet(c, &cmd.credit, "id", &parent) != 0) {
        return;
    }
    if (!has_id && crypto_random(cmd.id.b, sizeof cmd.id.b) != 0) {
        api_call_fail(c, JZ_UNAVAILABLE, "", "no randomness for a wallet id");
        return;
    }
    cmd.op = LEDGER_OP_WALLET_OPEN;
    cmd.actor = (uint16_t)api_call_actor(c);
    cmd.kind = (uint8_t)kind; /* personal = 1, corporate = 2, as in the ledger */
    cmd.tier = (uint8_t)tier;
    cmd.form = (uint8_t)form;
    struct ledger_result r;
    struct open_read q = {.id = cmd.id, .now = api_now_ms(api_call_api(c))};
    if (api_call_run(c, &cmd, 1, &r, read_opened, &q) != 0) {
        return;
    }
    if (r.code != JZ_OK) {
        scen_fail_result(c, &r, "restriction.");
        return;
    }
    if (cmd.expires_at != 0) {
        scen_expiry_hint(scen_of(c), cmd.expires_at);
    }
    if (scen_store_child_put(scen_of(c)->store, &cmd.id, &cmd.credit, r.timestamp) != 0) {
        scen_fail_store(c);
        return;
    }
    api_write_wallet(api_call_api(c), api_call_out(c), &q.view);
    api_call_respond(c, r.replayed ? 200 : 201);
}

struct children_read {
    const jz_id *ids;
    uint32_t n;
    int64_t now;
    struct ledger_wallet_view *views;
};

static void read_children(const ledger *l, void *ctx)
{
    struct children_read *q = ctx;
    for (uint32_t i = 0; i < q->n; i++) {
        ledger_wallet_get(l, &q->ids[i], q->now, &q->views[i]);
    }
}

void scen_h_children_list(api_call *c, json_t *body)
{
    (void)body;
    jz_id parent;
    struct ledger_wallet_view pv;
    if (scen_path_id(c, 0, &parent) != 0 || api_call_wallet(c, &parent, "id", &pv) != 0) {
        return;
    }
    jz_id *ids = calloc(CHILDREN_MAX, sizeof *ids);
    struct ledger_wallet_view *views = calloc(CHILDREN_MAX, sizeof *views);
    uint32_t n = 0;
    if (!ids || !views || scen_store_children(scen_of(c)->store, &parent, ids, CHILDREN_MAX,
                                              &n) != 0) {
        scen_fail_store(c);
        goto done;
    }
    struct children_read q = {.ids = ids, .n = n, .now = api_now_ms(api_call_api(c)),
                              .views = views};
    if (api_call_read(c, read_children, &q) != 0) {
        goto done;
    }
    struct jbuf *b = api_call_out(c);
    jb_lit(b, "{\"children\":[");
    for (uint32_t i = 0; i < n; i++) {
        if (i) {
            jb_lit(b, ",");
        }
        api_write_wallet(api_call_api(c), b, &views[i]);
    }
    jb_lit(b, "]}");
    api_call_respond(c, 200);
done:
    free(ids);
    free(views);
}

/* ---- Disbursements ---- */

static int parse_disbursement(api_call *c, json_t *body, struct ledger_cmd *tx,
                              json_t **restriction)
{
    char ref[JZ_REF_MAX + 1] = "";
    char memo[JZ_MEMO_MAX + 1] = "";
    struct api_error e;
    const struct field_spec specs[] = {
        {.name = "id", .type = FIELD_ID, .required = true, .out = &tx->id},
        {.name = "debit", .type = FIELD_ID, .required = true, .out = &tx->debit},
        {.name = "credit", .type = FIELD_ID, .required = true, .out = &tx->credit},
        {.name = "amount", .type = FIELD_AMOUNT, .required = true, .out = &tx->amount},
        {.name = "ref", .type = FIELD_STRING, .out = ref, .min = 0, .max = JZ_REF_MAX},
        {.name = "memo", .type = FIELD_STRING, .out = memo, .min = 0, .max = JZ_MEMO_MAX},
        {.name = "restriction", .type = FIELD_OBJECT, .out = restriction},
    };
    if (json_fields_parse(body, specs, JZ_ARRAY_LEN(specs), "", &e) != 0) {
        api_call_fail_error(c, &e);
        return -1;
    }
    tx->op = LEDGER_OP_TRANSFER;
    tx->kind = LEDGER_KIND_DISBURSEMENT;
    tx->actor = (uint16_t)api_call_actor(c);
    tx->ref_len = (uint8_t)strlen(ref);
    memcpy(tx->ref, ref, tx->ref_len);
    tx->memo_len = (uint8_t)strlen(memo);
    memcpy(tx->memo, memo, tx->memo_len);
    return 0;
}

/* The child that receives a restricted disbursement: opened for the recipient. */
static int child_open_cmd(api_call *c, json_t *restriction, const struct ledger_cmd *tx,
                          struct ledger_cmd *open)
{
    struct ledger_wallet_view to;
    memset(open, 0, sizeof *open);
    if (parse_restriction(c, restriction, false, open) != 0 ||
        scen_wallet_any(c, &tx->credit, "credit", &to) != 0) {
        return -1;
    }
    if (to.kind == LEDGER_WALLET_TREASURY || !jz_id_is_zero(&to.parent) || to.restricted) {
        api_call_fail(c, JZ_INVALID_FIELD, "credit",
                      "targeted funds go to a holder's top-level wallet (not a treasury, a "
                      "child or a restricted wallet)");
        return -1;
    }
    open->op = LEDGER_OP_WALLET_OPEN;
    open->actor = to.operator_index;
    scen_derive("disbursement-child", tx->id.b, 16, NULL, 0, &open->id);
    open->kind = to.kind == LEDGER_WALLET_CORPORATE ? LEDGER_WALLET_CORPORATE
                                                    : LEDGER_WALLET_PERSONAL;
    open->tier = to.tier;
    open->form = LEDGER_FORM_SOFT;
    open->credit = tx->credit;
    open->return_to = tx->debit;
    return 0;
}

void scen_h_disburse(api_call *c, json_t *body)
{
    struct ledger_cmd cmds[2];
    struct ledger_result res[2];
    struct ledger_wallet_view from;
    json_t *restriction = NULL;
    memset(cmds, 0, sizeof cmds);
    struct ledger_cmd *tx = &cmds[1];
    if (parse_disbursement(c, body, tx, &restriction) != 0 ||
        api_call_wallet(c, &tx->debit, "debit", &from) != 0) {
        return;
    }
    jz_id recipient = tx->credit;
    uint32_t n = 1;
    if (restriction) {
        if (child_open_cmd(c, restriction, tx, &cmds[0]) != 0) {
            return;
        }
        tx->credit = cmds[0].id;
        n = 2;
    }
    if (api_call_run(c, n == 2 ? cmds : tx, n, n == 2 ? res : &res[1], NULL, NULL) != 0) {
        return;
    }
    if (n == 2 && res[0].code != JZ_OK) {
        scen_fail_result(c, &res[0], "restriction.");
        return;
    }
    if (n == 2) {
        scen_expiry_hint(scen_of(c), cmds[0].expires_at);
    }
    if (res[1].code != JZ_OK) {
        api_call_fail_result(c, &res[1]);
        return;
    }
    if (n == 2 && scen_store_child_put(scen_of(c)->store, &tx->credit, &recipient,
                                       res[0].timestamp) != 0) {
        scen_fail_store(c);
        return;
    }
    struct jbuf *b = api_call_out(c);
    scen_write_transfer(b, tx, res[1].timestamp, true);
    jb_lit(b, ",\"recipient\":");
    jb_id(b, &recipient);
    jb_lit(b, "}");
    api_call_respond(c, res[1].replayed ? 200 : 201);
}
