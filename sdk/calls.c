/*
 * calls.c: the typed calls of jiaozi.h. Each checks its arguments (so a malformed id never
 * reaches a URL path), builds the JSON body with jansson, sends it through sdk_request and
 * parses the answer. Ids the caller left out are chosen here, before the first attempt, so
 * every retry carries the same one.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "sdk_int.h"

/* Longest path: /v1/wallets/{id}/transfers?limit=1000&cursor= and a cursor of 256 bytes,
 * each percent-encoded into three. */
#define PATH_SIZE (64 + 3 * JZ_CURSOR_SIZE)

static int invalid(jz_error *err, const char *field, const char *what)
{
    sdk_error_set(err, 0, "invalid_argument", field, "%s %s", field, what);
    return -1;
}

static int check_id(const char *id, const char *field, jz_error *err)
{
    return jz_id_valid(id) ? 0 : invalid(err, field, "must be 32 lowercase hex digits");
}

static int check_amount(int64_t amount, const char *field, jz_error *err)
{
    if (amount < 1 || amount > JZ_AMOUNT_FEN_MAX) {
        return invalid(err, field, "must be 1 to 9000000000000000 fen");
    }
    return 0;
}

/* Copies the caller's id into out, or chooses a fresh one when id is NULL. */
static int take_id(const char *id, const char *field, char out[JZ_ID_SIZE], jz_error *err)
{
    if (!id) {
        if (jz_id_new(out) != 0) {
            sdk_error_set(err, 0, "out_of_memory", "", "no randomness for a new id");
            return -1;
        }
        return 0;
    }
    if (check_id(id, field, err) != 0) {
        return -1;
    }
    memcpy(out, id, JZ_ID_SIZE);
    return 0;
}

/* Sets o[key] = string value; fails (invalid_argument) when value is not UTF-8. */
static int put_str(json_t *o, const char *key, const char *value, jz_error *err)
{
    if (json_object_set_new(o, key, json_string(value)) != 0) {
        return invalid(err, key, "must be UTF-8 text");
    }
    return 0;
}

static int put_int(json_t *o, const char *key, int64_t value, jz_error *err)
{
    if (json_object_set_new(o, key, json_integer((json_int_t)value)) != 0) {
        sdk_error_set(err, 0, "out_of_memory", "", "out of memory");
        return -1;
    }
    return 0;
}

/* Sends body (consumed; NULL for none) and leaves the answer in client->resp. */
static int call(jz_client *c, const char *method, const char *path, json_t *body, bool sign,
                jz_error *err)
{
    char *text = NULL;
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (!text) {
            sdk_error_set(err, 0, "out_of_memory", "", "out of memory for the request body");
            return -1;
        }
    }
    int rc = sdk_request(c, method, path, text, text ? strlen(text) : 0, sign, err);
    free(text);
    return rc;
}

/* ---- institutions and quota ------------------------------------------------------------- */

int jz_institution_create(jz_client *client, const char *id, const char *name,
                          jz_credentials *out, jz_error *err)
{
    if (!sdk_institution_id_valid(id)) {
        return invalid(err, "id", "must be 1-16 characters [a-z0-9_]");
    }
    if (!name || !name[0] || strlen(name) >= JZ_NAME_SIZE) {
        return invalid(err, "name", "must be 1-64 bytes");
    }
    json_t *o = json_object();
    if (!o || put_str(o, "id", id, err) != 0 || put_str(o, "name", name, err) != 0 ||
        put_str(o, "kind", "operator", err) != 0) {
        json_decref(o);
        return -1;
    }
    jz_credentials cred;
    if (call(client, "POST", "/v1/institutions", o, true, err) != 0 ||
        sdk_parse_created_institution(client->resp.body, client->resp.body_len, &cred, err)) {
        return -1;
    }
    snprintf(cred.url, sizeof cred.url, "%s", client->url);
    *out = cred;
    jz_credentials_clear(&cred);
    return 0;
}

int jz_institution_get(jz_client *client, const char *id, jz_institution *out, jz_error *err)
{
    if (!sdk_institution_id_valid(id)) {
        return invalid(err, "id", "must be 1-16 characters [a-z0-9_]");
    }
    char path[64];
    snprintf(path, sizeof path, "/v1/institutions/%s", id);
    if (call(client, "GET", path, NULL, true, err) != 0) {
        return -1;
    }
    return sdk_parse_institution(client->resp.body, client->resp.body_len, out, err);
}

int jz_institution_list(jz_client *client, jz_institution *items, size_t cap, size_t *count,
                        jz_error *err)
{
    if (!items && cap > 0) {
        return invalid(err, "items", "must not be NULL");
    }
    if (call(client, "GET", "/v1/institutions", NULL, true, err) != 0) {
        return -1;
    }
    return sdk_parse_institution_list(client->resp.body, client->resp.body_len, items, cap,
                                      count, err);
}

static int quota(jz_client *client, const char *path, const char *transfer_id,
                 const char *operator_id, int64_t amount, jz_transfer *out, jz_error *err)
{
    char id[JZ_ID_SIZE];
    if (take_id(transfer_id, "id", id, err) != 0 || check_amount(amount, "amount", err) != 0) {
        return -1;
    }
    if (!sdk_institution_id_valid(operator_id)) {
        return invalid(err, "operator", "must be 1-16 characters [a-z0-9_]");
    }
    json_t *o = json_object();
    if (!o || put_str(o, "id", id, err) != 0 || put_str(o, "operator", operator_id, err) != 0 ||
        put_int(o, "amount", amount, err) != 0) {
        json_decref(o);
        return -1;
    }
    if (call(client, "POST", path, o, true, err) != 0) {
        return -1;
    }
    return sdk_parse_transfer(client->resp.body, client->resp.body_len, out, err);
}

int jz_quota_issue(jz_client *client, const char *transfer_id, const char *operator_id,
                   int64_t amount, jz_transfer *out, jz_error *err)
{
    return quota(client, "/v1/quota/issue", transfer_id, operator_id, amount, out, err);
}

int jz_quota_redeem(jz_client *client, const char *transfer_id, const char *operator_id,
                    int64_t amount, jz_transfer *out, jz_error *err)
{
    return quota(client, "/v1/quota/redeem", transfer_id, operator_id, amount, out, err);
}

/* ---- wallets ---------------------------------------------------------------------------- */

static json_t *wallet_spec_json(const jz_wallet_spec *s, const char *id, jz_error *err)
{
    json_t *o = json_object();
    json_t *holder = json_object();
    int rc = o && holder ? 0 : -1;
    if (rc == 0) {
        rc = put_str(o, "id", id, err) || put_str(o, "kind", s->kind, err) ||
             put_int(o, "tier", s->tier, err) || put_str(o, "form", s->form, err);
    }
    if (rc == 0 && s->parent) {
        rc = put_str(o, "parent", s->parent, err);
    }
    if (rc == 0 && s->holder_name) {
        rc = put_str(holder, "name", s->holder_name, err);
    }
    if (rc == 0 && s->holder_id_number) {
        rc = put_str(holder, "id_number", s->holder_id_number, err);
    }
    if (rc == 0 && s->holder_phone) {
        rc = put_str(holder, "phone", s->holder_phone, err);
    }
    if (rc == 0 && json_object_size(holder) > 0) {
        rc = json_object_set(o, "holder", holder);
    }
    if (rc == 0 && s->mcc != 0) {
        rc = put_int(o, "mcc", s->mcc, err);
    }
    json_decref(holder);
    if (rc != 0) {
        json_decref(o);
        if (!o) {
            sdk_error_set(err, 0, "out_of_memory", "", "out of memory");
        }
        return NULL;
    }
    return o;
}

int jz_wallet_open(jz_client *client, const jz_wallet_spec *spec, jz_wallet *out,
                   jz_error *err)
{
    char id[JZ_ID_SIZE];
    if (!spec || take_id(spec->id, "id", id, err) != 0) {
        return spec ? -1 : invalid(err, "spec", "must not be NULL");
    }
    if (!spec->kind || !spec->form) {
        return invalid(err, spec->kind ? "form" : "kind", "must be given");
    }
    if (spec->parent && check_id(spec->parent, "parent", err) != 0) {
        return -1;
    }
    json_t *o = wallet_spec_json(spec, id, err);
    if (!o || call(client, "POST", "/v1/wallets", o, true, err) != 0) {
        return -1;
    }
    return sdk_parse_wallet(client->resp.body, client->resp.body_len, out, err);
}

int jz_wallet_get(jz_client *client, const char *wallet_id, jz_wallet *out, jz_error *err)
{
    char path[64];
    if (check_id(wallet_id, "wallet_id", err) != 0) {
        return -1;
    }
    snprintf(path, sizeof path, "/v1/wallets/%s", wallet_id);
    if (call(client, "GET", path, NULL, true, err) != 0) {
        return -1;
    }
    return sdk_parse_wallet(client->resp.body, client->resp.body_len, out, err);
}

static int wallet_patch(jz_client *client, const char *wallet_id, json_t *o, jz_wallet *out,
                        jz_error *err)
{
    char path[64];
    if (check_id(wallet_id, "wallet_id", err) != 0) {
        json_decref(o);
        return -1;
    }
    snprintf(path, sizeof path, "/v1/wallets/%s", wallet_id);
    if (call(client, "PATCH", path, o, true, err) != 0) {
        return -1;
    }
    return sdk_parse_wallet(client->resp.body, client->resp.body_len, out, err);
}

int jz_wallet_set_tier(jz_client *client, const char *wallet_id, int tier, jz_wallet *out,
                       jz_error *err)
{
    json_t *o = json_pack("{s:i}", "tier", tier);
    if (!o) {
        sdk_error_set(err, 0, "out_of_memory", "", "out of memory");
        return -1;
    }
    return wallet_patch(client, wallet_id, o, out, err);
}

int jz_wallet_set_status(jz_client *client, const char *wallet_id, const char *status,
                         jz_wallet *out, jz_error *err)
{
    if (!status) {
        return invalid(err, "status", "must be given");
    }
    json_t *o = json_object();
    if (!o || put_str(o, "status", status, err) != 0) {
        json_decref(o);
        return -1;
    }
    return wallet_patch(client, wallet_id, o, out, err);
}

int jz_wallet_close(jz_client *client, const char *wallet_id, jz_wallet *out, jz_error *err)
{
    char path[80];
    if (check_id(wallet_id, "wallet_id", err) != 0) {
        return -1;
    }
    snprintf(path, sizeof path, "/v1/wallets/%s/close", wallet_id);
    jz_error e;
    if (call(client, "POST", path, json_object(), true, &e) != 0) {
        /* A retried close whose first attempt landed finds the wallet closed already. */
        jz_wallet w;
        if (client->attempts > 1 && strcmp(e.code, "wallet_closed") == 0 &&
            jz_wallet_get(client, wallet_id, &w, NULL) == 0 && strcmp(w.status, "closed") == 0) {
            if (out) {
                *out = w;
            }
            return 0;
        }
        if (err) {
            *err = e;
        }
        return -1;
    }
    if (!out) {
        return 0;
    }
    return sdk_parse_wallet(client->resp.body, client->resp.body_len, out, err);
}

/* Percent-encodes s (everything but RFC 3986 unreserved characters) onto dst. */
static void url_encode(char *dst, size_t size, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(dst);
    for (; *s && n + 4 < size; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            dst[n++] = (char)ch;
        } else {
            dst[n++] = '%';
            dst[n++] = hex[ch >> 4];
            dst[n++] = hex[ch & 15];
        }
    }
    dst[n] = '\0';
}

int jz_wallet_history(jz_client *client, const char *wallet_id, int limit, const char *cursor,
                      jz_transfer *items, size_t *count, char next_cursor[JZ_CURSOR_SIZE],
                      jz_error *err)
{
    if (check_id(wallet_id, "wallet_id", err) != 0) {
        return -1;
    }
    if (limit < 1 || limit > JZ_HISTORY_LIMIT_MAX || !items) {
        return invalid(err, "limit", "must be 1 to 1000, with room for that many items");
    }
    if (cursor && strlen(cursor) >= JZ_CURSOR_SIZE) {
        return invalid(err, "cursor", "is too long");
    }
    char path[PATH_SIZE];
    snprintf(path, sizeof path, "/v1/wallets/%s/transfers?limit=%d", wallet_id, limit);
    if (cursor && cursor[0]) {
        strcat(path, "&cursor=");
        url_encode(path, sizeof path, cursor);
    }
    if (call(client, "GET", path, NULL, true, err) != 0) {
        return -1;
    }
    return sdk_parse_history(client->resp.body, client->resp.body_len, items, (size_t)limit,
                             count, next_cursor, err);
}

/* ---- transfers -------------------------------------------------------------------------- */

/* The JSON of one transfer (with id already chosen); linked only in batches. */
static json_t *transfer_json(const jz_transfer_spec *s, const char *id, bool batch,
                             jz_error *err)
{
    if (check_id(s->debit, "debit", err) != 0 || check_id(s->credit, "credit", err) != 0 ||
        check_amount(s->amount, "amount", err) != 0) {
        return NULL;
    }
    if (!s->kind) {
        invalid(err, "kind", "must be given");
        return NULL;
    }
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    if (rc == 0) {
        rc = put_str(o, "id", id, err) || put_str(o, "debit", s->debit, err) ||
             put_str(o, "credit", s->credit, err) || put_int(o, "amount", s->amount, err) ||
             put_str(o, "kind", s->kind, err);
    }
    if (rc == 0 && s->ref) {
        rc = put_str(o, "ref", s->ref, err);
    }
    if (rc == 0 && s->memo) {
        rc = put_str(o, "memo", s->memo, err);
    }
    if (rc == 0 && batch && s->linked) {
        rc = json_object_set_new(o, "linked", json_true());
    }
    if (rc != 0) {
        if (!o) {
            sdk_error_set(err, 0, "out_of_memory", "", "out of memory");
        }
        json_decref(o);
        return NULL;
    }
    return o;
}

int jz_transfer_create(jz_client *client, const jz_transfer_spec *spec, jz_transfer *out,
                       jz_error *err)
{
    char id[JZ_ID_SIZE];
    if (!spec) {
        return invalid(err, "spec", "must not be NULL");
    }
    if (take_id(spec->id, "id", id, err) != 0) {
        return -1;
    }
    json_t *o = transfer_json(spec, id, false, err);
    if (!o || call(client, "POST", "/v1/transfers", o, true, err) != 0) {
        return -1;
    }
    return sdk_parse_transfer(client->resp.body, client->resp.body_len, out, err);
}

int jz_transfer_get(jz_client *client, const char *transfer_id, jz_transfer *out,
                    jz_error *err)
{
    char path[64];
    if (check_id(transfer_id, "transfer_id", err) != 0) {
        return -1;
    }
    snprintf(path, sizeof path, "/v1/transfers/%s", transfer_id);
    if (call(client, "GET", path, NULL, true, err) != 0) {
        return -1;
    }
    return sdk_parse_transfer(client->resp.body, client->resp.body_len, out, err);
}

/* Builds {"transfers":[...]} choosing missing ids into ids[]; errors name "transfers[i].x". */
static json_t *batch_json(const jz_transfer_spec *items, size_t n, char (*ids)[JZ_ID_SIZE],
                          jz_error *err)
{
    json_t *list = json_array();
    json_t *o = json_pack("{s:o}", "transfers", list);
    if (!o) {
        sdk_error_set(err, 0, "out_of_memory", "", "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *t = NULL;
        if (take_id(items[i].id, "id", ids[i], err) == 0) {
            t = transfer_json(&items[i], ids[i], true, err);
        }
        if (!t || json_array_append_new(list, t) != 0) {
            if (err && strcmp(err->code, "invalid_argument") == 0) {
                char f[JZ_ERROR_FIELD_SIZE];
                snprintf(f, sizeof f, "transfers[%zu].%.30s", i, err->field);
                memcpy(err->field, f, sizeof f);
            }
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

int jz_transfer_batch(jz_client *client, const jz_transfer_spec *items, size_t n,
                      jz_batch_result *results, jz_error *err)
{
    if (!items || !results || n < 1 || n > JZ_BATCH_ITEMS_MAX) {
        return invalid(err, "n", "must be 1 to 8190, with items and results");
    }
    char(*ids)[JZ_ID_SIZE] = malloc(n * sizeof *ids);
    if (!ids) {
        sdk_error_set(err, 0, "out_of_memory", "", "out of memory");
        return -1;
    }
    int rc = -1;
    json_t *o = batch_json(items, n, ids, err);
    if (o && call(client, "POST", "/v1/transfers/batch", o, true, err) == 0) {
        rc = sdk_parse_batch(client->resp.body, client->resp.body_len,
                             (const char(*)[JZ_ID_SIZE])ids, n, results, err);
    }
    free(ids);
    return rc;
}

/* ---- holds ------------------------------------------------------------------------------ */

int jz_hold_create(jz_client *client, const jz_hold_spec *spec, jz_hold *out, jz_error *err)
{
    char id[JZ_ID_SIZE];
    if (!spec) {
        return invalid(err, "spec", "must not be NULL");
    }
    if (take_id(spec->id, "id", id, err) != 0 || check_id(spec->debit, "debit", err) != 0 ||
        check_id(spec->credit, "credit", err) != 0 ||
        check_amount(spec->amount, "amount", err) != 0) {
        return -1;
    }
    if (spec->timeout_ms < 1) {
        return invalid(err, "timeout_ms", "must be at least 1");
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I}", "id", id, "debit", spec->debit,
                          "credit", spec->credit, "amount", (json_int_t)spec->amount,
                          "timeout_ms", (json_int_t)spec->timeout_ms);
    if (!o) {
        sdk_error_set(err, 0, "out_of_memory", "", "out of memory");
        return -1;
    }
    if (call(client, "POST", "/v1/holds", o, true, err) != 0) {
        return -1;
    }
    return sdk_parse_hold(client->resp.body, client->resp.body_len, out, err);
}

int jz_hold_get(jz_client *client, const char *hold_id, jz_hold *out, jz_error *err)
{
    char path[64];
    if (check_id(hold_id, "hold_id", err) != 0) {
        return -1;
    }
    snprintf(path, sizeof path, "/v1/holds/%s", hold_id);
    if (call(client, "GET", path, NULL, true, err) != 0) {
        return -1;
    }
    return sdk_parse_hold(client->resp.body, client->resp.body_len, out, err);
}

/* capture (amount >= 0) or void (amount < 0). */
static int hold_resolve(jz_client *client, const char *hold_id, int64_t amount, jz_hold *out,
                        jz_error *err)
{
    char path[80];
    if (check_id(hold_id, "hold_id", err) != 0 ||
        (amount > 0 && check_amount(amount, "amount", err) != 0)) {
        return -1;
    }
    bool capture = amount >= 0;
    snprintf(path, sizeof path, "/v1/holds/%s/%s", hold_id, capture ? "capture" : "void");
    json_t *o = amount > 0 ? json_pack("{s:I}", "amount", (json_int_t)amount) : json_object();
    jz_error e;
    if (!o) {
        sdk_error_set(err, 0, "out_of_memory", "", "out of memory");
        return -1;
    }
    if (call(client, "POST", path, o, true, &e) != 0) {
        /* The first attempt may have resolved the hold before its answer was lost: if the
         * hold now shows exactly this resolution, that is our success. */
        jz_hold h;
        if (client->attempts > 1 && strcmp(e.code, "already_resolved") == 0 &&
            jz_hold_get(client, hold_id, &h, NULL) == 0 &&
            strcmp(h.status, capture ? "captured" : "voided") == 0 &&
            (!capture || amount == 0 || h.captured == amount)) {
            *out = h;
            return 0;
        }
        if (err) {
            *err = e;
        }
        return -1;
    }
    return sdk_parse_hold(client->resp.body, client->resp.body_len, out, err);
}

int jz_hold_capture(jz_client *client, const char *hold_id, int64_t amount, jz_hold *out,
                    jz_error *err)
{
    if (amount < 0) {
        return invalid(err, "amount", "must be 0 (all) or 1 to 9000000000000000 fen");
    }
    return hold_resolve(client, hold_id, amount, out, err);
}

int jz_hold_void(jz_client *client, const char *hold_id, jz_hold *out, jz_error *err)
{
    return hold_resolve(client, hold_id, -1, out, err);
}

/* ---- audit and health ------------------------------------------------------------------- */

int jz_audit_get_head(jz_client *client, jz_audit_head *out, jz_error *err)
{
    if (call(client, "GET", "/v1/audit/head", NULL, true, err) != 0) {
        return -1;
    }
    return sdk_parse_audit_head(client->resp.body, client->resp.body_len, out, err);
}

int jz_healthz(jz_client *client, jz_health *out, jz_error *err)
{
    if (call(client, "GET", "/healthz", NULL, false, err) != 0) {
        return -1;
    }
    return sdk_parse_health(client->resp.body, client->resp.body_len, out, err);
}
