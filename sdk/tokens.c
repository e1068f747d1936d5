/*
 * tokens.c: the payment-token calls of jiaozi.h (jz_token_*). Arguments are checked before
 * anything is sent, so only digits, ids and [a-z0-9_.:-] reach a path or body, which are
 * therefore written without escaping. A card number passes through three buffers of the
 * SDK (the body built here, the client's request buffer, the answer of a detokenisation):
 * each is wiped once the call is over.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "crypto.h"
#include "sdk_int.h"

static int refuse(jz_error *err, const char *field, const char *what)
{
    sdk_error_set(err, 0, "invalid_argument", field, "%s %s", field, what);
    return -1;
}

/* n to m characters, each from `allowed`. */
static bool made_of(const char *s, size_t n, size_t m, const char *allowed)
{
    size_t len = s ? strnlen(s, m + 1) : 0;
    return len >= n && len <= m && strspn(s, allowed) == len;
}

static const char digits[] = "0123456789";

static int check_token(const char *token, jz_error *err)
{
    return made_of(token, 13, JZ_TOKEN_SIZE - 1, digits) ? 0
                                                         : refuse(err, "token", "must be 13-19 digits");
}

static int check_domain(const char *requestor, const char *channel, jz_error *err)
{
    if (!sdk_institution_id_valid(requestor)) {
        return refuse(err, "requestor", "must be an institution id");
    }
    if (!made_of(channel, 1, JZ_CHANNEL_SIZE - 1, "abcdefghijklmnopqrstuvwxyz0123456789_.:-")) {
        return refuse(err, "channel", "must be 1-32 characters [a-z0-9_.:-]");
    }
    return 0;
}

/* Sends body (wiped afterwards, with the client's copy of the request). */
static int send_secret(jz_client *c, const char *method, const char *path, char *body,
                       size_t cap, jz_error *err)
{
    int rc = sdk_request(c, method, path, body, strlen(body), true, err);
    crypto_wipe(body, cap);
    if (c->req) {
        crypto_wipe(c->req, c->req_cap);
    }
    return rc;
}

/* ---- answers ---- */

static int malformed(jz_error *err, const char *field)
{
    sdk_error_set(err, 0, "bad_response", field, "malformed answer: \"%s\"", field);
    return -1;
}

struct text_member {
    json_t *from;
    const char *key;
    char *out;
    size_t size;
    bool nullable;
};

static int token_from(json_t *o, jz_token *out, jz_error *err)
{
    jz_token t;
    memset(&t, 0, sizeof t);
    json_t *d = json_object_get(o, "domain");
    const struct text_member m[] = {
        {o, "token", t.token, sizeof t.token, false},
        {o, "last4", t.last4, sizeof t.last4, false},
        {o, "expiry", t.expiry, sizeof t.expiry, false},
        {o, "status", t.status, sizeof t.status, false},
        {o, "issuer", t.issuer, sizeof t.issuer, false},
        {o, "wallet", t.wallet, sizeof t.wallet, true},
        {d, "requestor", t.requestor, sizeof t.requestor, false},
        {d, "channel", t.channel, sizeof t.channel, false},
    };
    for (size_t i = 0; i < JZ_ARRAY_LEN(m); i++) {
        json_t *v = json_object_get(m[i].from, m[i].key);
        if (m[i].nullable && (!v || json_is_null(v))) {
            continue;
        }
        const char *s = json_string_value(v);
        if (!s || json_string_length(v) >= m[i].size || strlen(s) != json_string_length(v)) {
            return malformed(err, m[i].key);
        }
        memcpy(m[i].out, s, json_string_length(v) + 1);
    }
    json_t *expired = json_object_get(o, "expired");
    json_t *created = json_object_get(o, "created_at");
    json_t *updated = json_object_get(o, "updated_at");
    if (!json_is_boolean(expired) || !json_is_integer(created) || !json_is_integer(updated)) {
        return malformed(err, !json_is_boolean(expired) ? "expired" : "created_at");
    }
    t.expired = json_is_true(expired);
    t.created_at = json_integer_value(created);
    t.updated_at = json_integer_value(updated);
    *out = t;
    return 0;
}

static int parse_token(jz_client *c, jz_token *out, jz_error *err)
{
    json_error_t jerr;
    json_t *o = json_loadb(c->resp.body, c->resp.body_len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = json_is_object(o) ? token_from(o, out, err) : malformed(err, "");
    json_decref(o);
    return rc;
}

/* ---- calls ---- */

int jz_token_create(jz_client *client, const jz_token_spec *spec, jz_token *out, jz_error *err)
{
    char body[400];
    if (!made_of(spec->pan, 13, JZ_PAN_SIZE - 1, digits)) {
        return refuse(err, "pan", "must be 13-19 digits");
    }
    if (!made_of(spec->expiry, 4, 4, digits)) {
        return refuse(err, "expiry", "must be YYMM");
    }
    if (!jz_id_valid(spec->wallet)) {
        return refuse(err, "wallet", "must be 32 lowercase hex digits");
    }
    if (check_domain(spec->requestor, spec->channel, err) != 0) {
        return -1;
    }
    snprintf(body, sizeof body,
             "{\"pan\":\"%s\",\"expiry\":\"%s\",\"wallet\":\"%s\",\"domain\":{\"requestor\":\"%s\","
             "\"channel\":\"%s\"}}",
             spec->pan, spec->expiry, spec->wallet, spec->requestor, spec->channel);
    if (send_secret(client, "POST", "/v1/tokens", body, sizeof body, err) != 0) {
        return -1;
    }
    return parse_token(client, out, err);
}

int jz_token_get(jz_client *client, const char *token, jz_token *out, jz_error *err)
{
    char path[64];
    if (check_token(token, err) != 0) {
        return -1;
    }
    snprintf(path, sizeof path, "/v1/tokens/%s", token);
    if (sdk_request(client, "GET", path, NULL, 0, true, err) != 0) {
        return -1;
    }
    return parse_token(client, out, err);
}

int jz_token_set_status(jz_client *client, const char *token, const char *status, jz_token *out,
                        jz_error *err)
{
    char path[64];
    char body[64];
    if (check_token(token, err) != 0) {
        return -1;
    }
    if (!status || (strcmp(status, "active") && strcmp(status, "suspended") &&
                    strcmp(status, "deleted"))) {
        return refuse(err, "status", "must be active, suspended or deleted");
    }
    snprintf(path, sizeof path, "/v1/tokens/%s", token);
    snprintf(body, sizeof body, "{\"status\":\"%s\"}", status);
    if (sdk_request(client, "PATCH", path, body, strlen(body), true, err) != 0) {
        return -1;
    }
    return parse_token(client, out, err);
}

int jz_token_detokenize(jz_client *client, const char *token, const char *requestor,
                        const char *channel, char pan[JZ_PAN_SIZE], jz_error *err)
{
    char path[80];
    char body[120];
    if (check_token(token, err) != 0 || check_domain(requestor, channel, err) != 0) {
        return -1;
    }
    snprintf(path, sizeof path, "/v1/tokens/%s/detokenize", token);
    snprintf(body, sizeof body, "{\"requestor\":\"%s\",\"channel\":\"%s\"}", requestor, channel);
    if (sdk_request(client, "POST", path, body, strlen(body), true, err) != 0) {
        return -1;
    }
    json_error_t jerr;
    json_t *o = json_loadb(client->resp.body, client->resp.body_len, 0, &jerr);
    json_t *v = json_object_get(o, "pan");
    const char *s = json_string_value(v);
    int rc = s && made_of(s, 13, JZ_PAN_SIZE - 1, digits) ? 0 : malformed(err, "pan");
    if (rc == 0) {
        memcpy(pan, s, strlen(s) + 1);
    }
    /* jansson's copy and the answer buffer are wiped before they are let go. */
    if (s) {
        crypto_wipe((char *)s, strlen(s));
    }
    json_decref(o);
    crypto_wipe(client->resp.body, client->resp.body_len);
    return rc;
}
