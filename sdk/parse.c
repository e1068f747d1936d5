/*
 * parse.c: the server's JSON answers into the public structs.
 *
 * Strict about what the contract documents (every listed member present, of the right type,
 * in range, fitting its fixed-size field: otherwise bad_response naming the member) and
 * lenient about what it does not: unknown members are ignored, so a newer server that adds
 * a member does not break an older SDK. Each parser fills a local struct and copies it out
 * only when the whole answer was good.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "sdk_int.h"

/* Member flags. */
#define REQ 0       /* must be present and non-null */
#define OPT 1       /* may be absent */
#define NULLABLE 2  /* may be null (read as "" or 0) */

static int bad(jz_error *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(jz_error *err, const char *field, const char *fmt, ...)
{
    char msg[JZ_ERROR_MESSAGE_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sdk_error_set(err, 0, "bad_response", field, "malformed answer: %s", msg);
    return -1;
}

/* The member key of o, or NULL when it may be left out (absent or allowed null); -1 with err
 * when it must be there. */
static int member(const json_t *o, const char *key, int flags, json_t **out, jz_error *err)
{
    json_t *v = json_object_get(o, key);
    if (!v && !(flags & OPT)) {
        return bad(err, key, "\"%s\" is missing", key);
    }
    if (v && json_is_null(v)) {
        if (!(flags & (NULLABLE | OPT))) {
            return bad(err, key, "\"%s\" is null", key);
        }
        v = NULL;
    }
    *out = v;
    return 0;
}

static int get_str(const json_t *o, const char *key, char *out, size_t size, int flags,
                   jz_error *err)
{
    json_t *v = NULL;
    if (member(o, key, flags, &v, err) != 0) {
        return -1;
    }
    if (!v) {
        out[0] = '\0';
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s) {
        return bad(err, key, "\"%s\" is not a string", key);
    }
    size_t n = json_string_length(v);
    if (n != strlen(s) || n >= size) {
        return bad(err, key, "\"%s\" is too long or holds a NUL", key);
    }
    memcpy(out, s, n + 1);
    return 0;
}

static int get_id(const json_t *o, const char *key, char out[JZ_ID_SIZE], int flags,
                  jz_error *err)
{
    if (get_str(o, key, out, JZ_ID_SIZE, flags, err) != 0) {
        return -1;
    }
    if (out[0] && !jz_id_valid(out)) {
        return bad(err, key, "\"%s\" is not a 32-hex-digit id", key);
    }
    return 0;
}

static int get_int(const json_t *o, const char *key, int64_t min, int64_t max, int flags,
                   int64_t *out, jz_error *err)
{
    json_t *v = NULL;
    if (member(o, key, flags, &v, err) != 0) {
        return -1;
    }
    if (!v) {
        *out = 0;
        return 0;
    }
    if (!json_is_integer(v)) {
        return bad(err, key, "\"%s\" is not an integer", key);
    }
    json_int_t n = json_integer_value(v);
    if (n < min || n > max) {
        return bad(err, key, "\"%s\" is out of range (%lld)", key, (long long)n);
    }
    *out = (int64_t)n;
    return 0;
}

/* Parses text into a JSON object (the caller decrefs it). */
static json_t *load_object(const char *json, size_t len, jz_error *err)
{
    json_error_t jerr;
    json_t *o = json ? json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!o) {
        bad(err, "", "not JSON (%s)", json ? jerr.text : "no body");
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        bad(err, "", "not a JSON object");
        return NULL;
    }
    return o;
}

/* Puts "prefix[i]." in front of err->field, for an item of a list. */
static void prefix_field(jz_error *err, const char *prefix, size_t i)
{
    if (!err) {
        return;
    }
    char f[JZ_ERROR_FIELD_SIZE + 64];
    snprintf(f, sizeof f, "%s[%zu]%s%s", prefix, i, err->field[0] ? "." : "", err->field);
    sdk_copy_text(err->field, sizeof err->field, f);
}

/* ---- objects ---------------------------------------------------------------------------- */

static int error_from(const json_t *o, int http_status, jz_error *out)
{
    jz_error e;
    memset(&e, 0, sizeof e);
    e.http_status = http_status;
    const char *code = json_string_value(json_object_get(o, "code"));
    if (!code || !code[0]) {
        return -1;
    }
    sdk_copy_text(e.code, sizeof e.code, code);
    sdk_copy_text(e.message, sizeof e.message,
                  json_string_value(json_object_get(o, "message")));
    sdk_copy_text(e.field, sizeof e.field, json_string_value(json_object_get(o, "field")));
    *out = e;
    return 0;
}

static int transfer_from(const json_t *o, jz_transfer *out, jz_error *err)
{
    jz_transfer t;
    memset(&t, 0, sizeof t);
    if (!json_is_object(o) || get_id(o, "id", t.id, REQ, err) != 0 ||
        get_id(o, "debit", t.debit, REQ, err) != 0 ||
        get_id(o, "credit", t.credit, REQ, err) != 0 ||
        get_int(o, "amount", 1, JZ_AMOUNT_FEN_MAX, REQ, &t.amount, err) != 0 ||
        get_str(o, "kind", t.kind, sizeof t.kind, REQ, err) != 0 ||
        get_str(o, "status", t.status, sizeof t.status, REQ, err) != 0 ||
        get_int(o, "timestamp", 0, INT64_MAX, REQ, &t.timestamp, err) != 0 ||
        get_str(o, "ref", t.ref, sizeof t.ref, OPT | NULLABLE, err) != 0 ||
        get_str(o, "memo", t.memo, sizeof t.memo, OPT | NULLABLE, err) != 0) {
        if (!json_is_object(o)) {
            bad(err, "", "a transfer is not an object");
        }
        return -1;
    }
    *out = t;
    return 0;
}

static int wallet_from(const json_t *o, jz_wallet *out, jz_error *err)
{
    jz_wallet w;
    memset(&w, 0, sizeof w);
    int64_t tier = 0;
    int64_t mcc = 0;
    if (get_id(o, "id", w.id, REQ, err) != 0 ||
        get_str(o, "operator", w.operator_id, sizeof w.operator_id, REQ, err) != 0 ||
        get_str(o, "kind", w.kind, sizeof w.kind, REQ, err) != 0 ||
        get_int(o, "tier", 1, 4, REQ, &tier, err) != 0 ||
        get_str(o, "form", w.form, sizeof w.form, REQ, err) != 0 ||
        get_str(o, "status", w.status, sizeof w.status, REQ, err) != 0 ||
        get_id(o, "parent", w.parent, NULLABLE, err) != 0 ||
        get_int(o, "balance", INT64_MIN, INT64_MAX, REQ, &w.balance, err) != 0 ||
        get_int(o, "held", 0, INT64_MAX, REQ, &w.held, err) != 0 ||
        get_int(o, "available", INT64_MIN, INT64_MAX, REQ, &w.available, err) != 0 ||
        get_int(o, "day_out", 0, INT64_MAX, REQ, &w.day_out, err) != 0 ||
        get_int(o, "year_out", 0, INT64_MAX, REQ, &w.year_out, err) != 0 ||
        get_int(o, "created_at", 0, INT64_MAX, REQ, &w.created_at, err) != 0 ||
        get_int(o, "mcc", 0, 9999, OPT | NULLABLE, &mcc, err) != 0) {
        return -1;
    }
    if (!sdk_institution_id_valid(w.operator_id)) {
        return bad(err, "operator", "\"operator\" is not an institution id");
    }
    w.tier = (int)tier;
    w.mcc = (int)mcc;
    *out = w;
    return 0;
}

static int hold_from(const json_t *o, jz_hold *out, jz_error *err)
{
    jz_hold h;
    memset(&h, 0, sizeof h);
    if (get_id(o, "id", h.id, REQ, err) != 0 || get_id(o, "debit", h.debit, REQ, err) != 0 ||
        get_id(o, "credit", h.credit, REQ, err) != 0 ||
        get_int(o, "amount", 1, JZ_AMOUNT_FEN_MAX, REQ, &h.amount, err) != 0 ||
        get_int(o, "captured", 0, JZ_AMOUNT_FEN_MAX, REQ, &h.captured, err) != 0 ||
        get_str(o, "status", h.status, sizeof h.status, REQ, err) != 0 ||
        get_int(o, "deadline", 0, INT64_MAX, REQ, &h.deadline, err) != 0 ||
        get_int(o, "created_at", 0, INT64_MAX, REQ, &h.created_at, err) != 0) {
        return -1;
    }
    *out = h;
    return 0;
}

static int institution_from(const json_t *o, jz_institution *out, jz_error *err)
{
    jz_institution in;
    memset(&in, 0, sizeof in);
    if (!json_is_object(o)) {
        return bad(err, "", "an institution is not an object");
    }
    if (get_str(o, "id", in.id, sizeof in.id, REQ, err) != 0 ||
        get_str(o, "name", in.name, sizeof in.name, REQ, err) != 0 ||
        get_str(o, "kind", in.kind, sizeof in.kind, REQ, err) != 0 ||
        get_id(o, "treasury", in.treasury, REQ, err) != 0) {
        return -1;
    }
    if (!sdk_institution_id_valid(in.id)) {
        return bad(err, "id", "\"id\" is not an institution id");
    }
    *out = in;
    return 0;
}

/* ---- whole answers ---------------------------------------------------------------------- */

int sdk_parse_error(int http_status, const char *json, size_t len, jz_error *out)
{
    json_error_t jerr;
    json_t *o = json && len > 0 ? json_loadb(json, len, 0, &jerr) : NULL;
    int rc = o ? error_from(json_object_get(o, "error"), http_status, out) : -1;
    json_decref(o);
    if (rc != 0) {
        sdk_error_set(out, http_status, "bad_response", "",
                      "HTTP %d without a jiaozi error object", http_status);
    }
    return rc;
}

/* Declares sdk_parse_NAME for an object answer parsed by NAME_from. */
#define SDK_OBJECT_PARSER(name, type)                                              \
    int sdk_parse_##name(const char *json, size_t len, type *out, jz_error *err)   \
    {                                                                              \
        json_t *o = load_object(json, len, err);                                   \
        if (!o) {                                                                  \
            return -1;                                                             \
        }                                                                          \
        int rc = name##_from(o, out, err);                                         \
        json_decref(o);                                                            \
        return rc;                                                                 \
    }

SDK_OBJECT_PARSER(wallet, jz_wallet)
SDK_OBJECT_PARSER(transfer, jz_transfer)
SDK_OBJECT_PARSER(hold, jz_hold)
SDK_OBJECT_PARSER(institution, jz_institution)

int sdk_parse_institution_list(const char *json, size_t len, jz_institution *items,
                               size_t cap, size_t *count, jz_error *err)
{
    json_t *o = load_object(json, len, err);
    if (!o) {
        return -1;
    }
    json_t *list = json_object_get(o, "institutions");
    int rc = json_is_array(list) ? 0 : bad(err, "institutions", "\"institutions\" is not a list");
    size_t n = rc == 0 ? json_array_size(list) : 0;
    for (size_t i = 0; i < n && i < cap && rc == 0; i++) {
        jz_institution in;
        rc = institution_from(json_array_get(list, i), &in, err);
        if (rc != 0) {
            prefix_field(err, "institutions", i);
        } else {
            items[i] = in;
        }
    }
    if (rc == 0) {
        *count = n;
    }
    json_decref(o);
    return rc;
}

int sdk_parse_created_institution(const char *json, size_t len, jz_credentials *out,
                                  jz_error *err)
{
    json_t *o = load_object(json, len, err);
    if (!o) {
        return -1;
    }
    jz_credentials c;
    memset(&c, 0, sizeof c);
    int rc = -1;
    if (get_str(o, "id", c.institution, sizeof c.institution, REQ, err) == 0 &&
        get_str(o, "key_id", c.key_id, sizeof c.key_id, REQ, err) == 0 &&
        get_str(o, "secret", c.secret, sizeof c.secret, OPT | NULLABLE, err) == 0 &&
        get_id(o, "treasury", c.treasury, REQ, err) == 0) {
        uint8_t b[32];
        if (c.secret[0] && jz_hex_decode(c.secret, strlen(c.secret), b, sizeof b) != 0) {
            bad(err, "secret", "\"secret\" is not 64 hex digits");
        } else if (!c.key_id[0]) {
            bad(err, "key_id", "\"key_id\" is empty");
        } else {
            *out = c;
            rc = 0;
        }
        memset(b, 0, sizeof b);
    }
    jz_credentials_clear(&c);
    json_decref(o);
    return rc;
}

int sdk_parse_history(const char *json, size_t len, jz_transfer *items, size_t cap,
                      size_t *count, char next_cursor[JZ_CURSOR_SIZE], jz_error *err)
{
    json_t *o = load_object(json, len, err);
    if (!o) {
        return -1;
    }
    char cursor[JZ_CURSOR_SIZE];
    json_t *list = json_object_get(o, "transfers");
    int rc = get_str(o, "next_cursor", cursor, sizeof cursor, NULLABLE, err);
    if (rc == 0 && !json_is_array(list)) {
        rc = bad(err, "transfers", "\"transfers\" is not a list");
    }
    size_t n = rc == 0 ? json_array_size(list) : 0;
    if (n > cap) {
        rc = bad(err, "transfers", "%zu transfers where at most %zu were asked for", n, cap);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        /* Parsed straight into the caller's array: *count tells how much of it is valid. */
        rc = transfer_from(json_array_get(list, i), &items[i], err);
        if (rc != 0) {
            prefix_field(err, "transfers", i);
        }
    }
    if (rc == 0) {
        *count = n;
        memcpy(next_cursor, cursor, sizeof cursor);
    }
    json_decref(o);
    return rc;
}

static int batch_item_from(const json_t *item, const char *expected_id, jz_batch_result *out,
                           jz_error *err)
{
    jz_batch_result r;
    memset(&r, 0, sizeof r);
    char status[JZ_STATUS_SIZE];
    if (!json_is_object(item)) {
        return bad(err, "", "a result is not an object");
    }
    if (get_id(item, "id", r.id, REQ, err) != 0 ||
        get_str(item, "status", status, sizeof status, OPT, err) != 0) {
        return -1;
    }
    if (strcmp(r.id, expected_id) != 0) {
        return bad(err, "id", "result for %s where %s was sent", r.id, expected_id);
    }
    json_t *e = json_object_get(item, "error");
    if (e) {
        if (error_from(e, 0, &r.error) != 0) {
            return bad(err, "error", "\"error\" has no code");
        }
    } else if (strcmp(status, "posted") == 0) {
        r.posted = true;
    } else {
        return bad(err, "status", "neither \"posted\" nor an error");
    }
    *out = r;
    return 0;
}

int sdk_parse_batch(const char *json, size_t len, const char (*expected_ids)[JZ_ID_SIZE],
                    size_t n, jz_batch_result *results, jz_error *err)
{
    json_t *o = load_object(json, len, err);
    if (!o) {
        return -1;
    }
    json_t *list = json_object_get(o, "results");
    int rc = 0;
    if (!json_is_array(list) || json_array_size(list) != n) {
        rc = bad(err, "results", "\"results\" is not a list of %zu results", n);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = batch_item_from(json_array_get(list, i), expected_ids[i], &results[i], err);
        if (rc != 0) {
            prefix_field(err, "results", i);
        }
    }
    json_decref(o);
    return rc;
}

static bool hex_string(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max || n % 2 != 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F'))) {
            return false;
        }
    }
    return true;
}

int sdk_parse_audit_head(const char *json, size_t len, jz_audit_head *out, jz_error *err)
{
    json_t *o = load_object(json, len, err);
    if (!o) {
        return -1;
    }
    jz_audit_head h;
    memset(&h, 0, sizeof h);
    int64_t seq = 0;
    int rc = -1;
    if (get_int(o, "seq", 0, INT64_MAX, REQ, &seq, err) == 0 &&
        get_str(o, "hash", h.hash, sizeof h.hash, REQ, err) == 0 &&
        get_str(o, "signature", h.signature, sizeof h.signature, REQ, err) == 0 &&
        get_str(o, "public_key", h.public_key, sizeof h.public_key, REQ, err) == 0) {
        if (!hex_string(h.hash, 64, 64)) {
            bad(err, "hash", "\"hash\" is not 64 hex digits");
        } else if (!hex_string(h.signature, 2, JZ_SIGNATURE_HEX_SIZE - 1)) {
            bad(err, "signature", "\"signature\" is not hex");
        } else if (strncmp(h.public_key, "-----BEGIN ", 11) != 0) {
            bad(err, "public_key", "\"public_key\" is not PEM");
        } else {
            h.seq = (uint64_t)seq;
            *out = h;
            rc = 0;
        }
    }
    json_decref(o);
    return rc;
}

int sdk_parse_health(const char *json, size_t len, jz_health *out, jz_error *err)
{
    json_t *o = load_object(json, len, err);
    if (!o) {
        return -1;
    }
    jz_health h;
    memset(&h, 0, sizeof h);
    int64_t seq = 0;
    int rc = -1;
    if (get_str(o, "status", h.status, sizeof h.status, REQ, err) == 0 &&
        get_int(o, "seq", 0, INT64_MAX, REQ, &seq, err) == 0) {
        h.seq = (uint64_t)seq;
        *out = h;
        rc = 0;
    }
    json_decref(o);
    return rc;
}
