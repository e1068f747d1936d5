/*
 * client.c: the SDK's client life cycle, credentials files, ids, nonces and request signing.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "crypto.h"
#include "sdk_int.h"

/* ---- errors and text ----------------------------------------------------------------- */

void sdk_copy_text(char *dst, size_t size, const char *src)
{
    ASSERT(size > 0);
    size_t n = src ? strlen(src) : 0;
    if (n >= size) {
        n = size - 1;
        /* Step back over UTF-8 continuation bytes so no character is cut in half. */
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    if (n > 0) {
        memcpy(dst, src, n);
    }
    dst[n] = '\0';
}

void sdk_error_set(jz_error *err, int http_status, const char *code, const char *field,
                   const char *fmt, ...)
{
    if (!err) {
        return;
    }
    jz_error e;
    memset(&e, 0, sizeof e);
    e.http_status = http_status;
    sdk_copy_text(e.code, sizeof e.code, code);
    sdk_copy_text(e.field, sizeof e.field, field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    *err = e;
}

int64_t sdk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sdk_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- ids, nonces, signatures ------------------------------------------------------------ */

int jz_id_new(char out[JZ_ID_SIZE])
{
    uint8_t b[16];
    if (crypto_random(b, sizeof b) != 0) {
        return -1;
    }
    jz_hex_encode(b, sizeof b, out);
    ASSERT(jz_id_valid(out));
    return 0;
}

bool jz_id_valid(const char *s)
{
    jz_id id;
    return s && strlen(s) == 32 && jz_id_from_hex(s, 32, &id) == 0;
}

bool sdk_institution_id_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > JZ_INSTITUTION_ID_SIZE - 1) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) {
            return false;
        }
    }
    return true;
}

/* A key id travels in a header: visible ASCII only, so it can never break the request. */
static bool key_id_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > JZ_KEY_ID_SIZE - 1) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x21 || s[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

int sdk_nonce_new(char out[SDK_NONCE_LEN + 1])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    uint8_t pool[64];
    size_t have = 0;
    while (have < SDK_NONCE_LEN) {
        if (crypto_random(pool, sizeof pool) != 0) {
            return -1;
        }
        /* Rejection sampling: 248 = 4 * 62, so every character is equally likely. */
        for (size_t i = 0; i < sizeof pool && have < SDK_NONCE_LEN; i++) {
            if (pool[i] < 248) {
                out[have++] = alphabet[pool[i] % 62];
            }
        }
    }
    out[SDK_NONCE_LEN] = '\0';
    return 0;
}

int sdk_sign_bytes(const uint8_t *secret, size_t secret_len, const char *method,
                   const char *path_and_query, int64_t timestamp_ms, const char *nonce,
                   const void *body, size_t body_len, char out_hex[65])
{
    if (!method || !path_and_query || !nonce || (!body && body_len > 0)) {
        return -1;
    }
    uint8_t digest[CRYPTO_SM3_BYTES];
    char body_hex[2 * CRYPTO_SM3_BYTES + 1];
    if (crypto_sm3(body_len > 0 ? body : "", body_len, digest) != 0) {
        return -1;
    }
    jz_hex_encode(digest, sizeof digest, body_hex);
    /* The string to sign; short paths (every route but a long cursor) stay on the stack. */
    char stack[1024];
    char *msg = stack;
    size_t need = strlen(method) + strlen(path_and_query) + strlen(nonce) + 24 + 64 + 5;
    if (need > sizeof stack) {
        msg = malloc(need);
        if (!msg) {
            return -1;
        }
    }
    int n = snprintf(msg, need, "%s\n%s\n%lld\n%s\n%s", method, path_and_query,
                     (long long)timestamp_ms, nonce, body_hex);
    int rc = -1;
    uint8_t mac[CRYPTO_SM3_BYTES];
    if (n > 0 && (size_t)n < need &&
        crypto_hmac_sm3(secret, secret_len, msg, (size_t)n, mac) == 0) {
        jz_hex_encode(mac, sizeof mac, out_hex);
        rc = 0;
    }
    if (msg != stack) {
        free(msg);
    }
    return rc;
}

int jz_sign(const char *secret_hex, const char *method, const char *path_and_query,
            int64_t timestamp_ms, const char *nonce, const void *body, size_t body_len,
            char out_hex[65])
{
    uint8_t secret[32];
    if (!secret_hex || jz_hex_decode(secret_hex, strlen(secret_hex), secret, sizeof secret)) {
        return -1;
    }
    char mac[65];
    int rc = sdk_sign_bytes(secret, sizeof secret, method, path_and_query, timestamp_ms, nonce,
                            body, body_len, mac);
    crypto_wipe(secret, sizeof secret);
    if (rc == 0) {
        memcpy(out_hex, mac, sizeof mac);
    }
    return rc;
}

/* ---- URLs --------------------------------------------------------------------------------- */

static bool host_char(char ch, bool bracketed)
{
    if (bracketed) {
        return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') ||
               ch == ':' || ch == '.';
    }
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '-';
}

/* Parses ":port" (or nothing) followed by an optional "/" and the end of the string. */
static int url_parse_port(const char *p, char port[SDK_PORT_SIZE])
{
    strcpy(port, "80");
    if (*p == ':') {
        p++;
        size_t n = 0;
        long v = 0;
        while (p[n] >= '0' && p[n] <= '9' && n < 5) {
            v = v * 10 + (p[n] - '0');
            n++;
        }
        if (n == 0 || v < 1 || v > 65535) {
            return -1;
        }
        snprintf(port, SDK_PORT_SIZE, "%ld", v);
        p += n;
    }
    if (*p == '/') {
        p++;
    }
    return *p == '\0' ? 0 : -1;
}

int sdk_url_parse(const char *url, char host[SDK_HOST_SIZE], char port[SDK_PORT_SIZE],
                  jz_error *err)
{
    static const char scheme[] = "http://";
    if (!url || strlen(url) >= JZ_URL_SIZE) {
        sdk_error_set(err, 0, "invalid_argument", "url", "url is missing or too long");
        return -1;
    }
    if (strncmp(url, "https://", 8) == 0) {
        sdk_error_set(err, 0, "invalid_argument", "url",
                      "https is not supported yet: use http://host:port (\"%s\")", url);
        return -1;
    }
    if (strncmp(url, scheme, sizeof scheme - 1) != 0) {
        sdk_error_set(err, 0, "invalid_argument", "url", "url must be http://host:port, not "
                      "\"%s\"", url);
        return -1;
    }
    const char *p = url + sizeof scheme - 1;
    bool bracketed = *p == '[';
    p += bracketed;
    size_t n = 0;
    while (p[n] && host_char(p[n], bracketed)) {
        n++;
    }
    bool closed = !bracketed || p[n] == ']';
    char h[SDK_HOST_SIZE];
    char pt[SDK_PORT_SIZE];
    if (n == 0 || n >= SDK_HOST_SIZE || !closed ||
        url_parse_port(p + n + bracketed, pt) != 0) {
        sdk_error_set(err, 0, "invalid_argument", "url",
                      "url must be http://host:port with nothing after it, not \"%s\"", url);
        return -1;
    }
    memcpy(h, p, n);
    h[n] = '\0';
    memcpy(host, h, n + 1);
    memcpy(port, pt, sizeof pt);
    return 0;
}

/* ---- clients ---------------------------------------------------------------------------- */

jz_client *jz_client_new(const char *url, const char *key_id, const char *secret_hex,
                         jz_error *err)
{
    char host[SDK_HOST_SIZE];
    char port[SDK_PORT_SIZE];
    if (sdk_url_parse(url, host, port, err) != 0) {
        return NULL;
    }
    if (!key_id_valid(key_id)) {
        sdk_error_set(err, 0, "invalid_argument", "key_id",
                      "key_id must be 1-64 visible ASCII characters");
        return NULL;
    }
    uint8_t secret[32];
    if (!secret_hex || jz_hex_decode(secret_hex, strlen(secret_hex), secret, sizeof secret)) {
        sdk_error_set(err, 0, "invalid_argument", "secret", "secret must be 64 hex digits");
        return NULL;
    }
    jz_client *c = calloc(1, sizeof *c);
    char *rbuf = malloc(2 * SDK_READ_CHUNK);
    if (!c || !rbuf) {
        free(c);
        free(rbuf);
        crypto_wipe(secret, sizeof secret);
        sdk_error_set(err, 0, "out_of_memory", "", "out of memory");
        return NULL;
    }
    snprintf(c->url, sizeof c->url, "%s", url);
    memcpy(c->host, host, sizeof host);
    memcpy(c->port, port, sizeof port);
    bool v6 = strchr(host, ':') != NULL;
    snprintf(c->host_header, sizeof c->host_header, "%s%s%s:%s", v6 ? "[" : "", host,
             v6 ? "]" : "", port);
    snprintf(c->key_id, sizeof c->key_id, "%s", key_id);
    memcpy(c->secret, secret, sizeof secret);
    crypto_wipe(secret, sizeof secret);
    c->timeout_ms = JZ_TIMEOUT_MS_DEFAULT;
    c->max_retries = JZ_MAX_RETRIES_DEFAULT;
    c->conn.fd = -1;
    c->conn.rbuf = rbuf;
    c->conn.rcap = 2 * SDK_READ_CHUNK;
    c->resp.retry_after_ms = -1;
    return c;
}

jz_client *jz_client_from_file(const char *path, jz_error *err)
{
    jz_credentials cred;
    if (jz_credentials_load(path, &cred, err) != 0) {
        return NULL;
    }
    jz_client *c = jz_client_new(cred.url, cred.key_id, cred.secret, err);
    if (c) {
        snprintf(c->institution, sizeof c->institution, "%s", cred.institution);
    }
    jz_credentials_clear(&cred);
    return c;
}

void jz_client_free(jz_client *client)
{
    if (!client) {
        return;
    }
    sdk_conn_close(&client->conn);
    free(client->conn.rbuf);
    sdk_response_free(&client->resp);
    free(client->req);
    crypto_wipe(client->secret, sizeof client->secret);
    free(client);
}

int jz_client_set_timeout_ms(jz_client *client, int timeout_ms)
{
    if (!client || timeout_ms < 1) {
        return -1;
    }
    client->timeout_ms = timeout_ms;
    return 0;
}

int jz_client_set_max_retries(jz_client *client, int max_retries)
{
    if (!client || max_retries < 0 || max_retries > SDK_RETRIES_MAX) {
        return -1;
    }
    client->max_retries = max_retries;
    return 0;
}

const char *jz_client_institution(const jz_client *client)
{
    return client->institution;
}

const char *jz_client_url(const jz_client *client)
{
    return client->url;
}

int jz_client_last_status(const jz_client *client)
{
    return client->last_status;
}

/* ---- credentials files -------------------------------------------------------------------- */

/* Copies the string member `key` of o into out (size bytes) when valid(value) holds. */
static int cred_member(json_t *o, const char *key, char *out, size_t size,
                       bool (*valid)(const char *), jz_error *err)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        sdk_error_set(err, 0, "bad_credentials", key, "credentials lack \"%s\"", key);
        return -1;
    }
    const char *s = json_string_value(v);
    if (!s || strlen(s) != json_string_length(v) || strlen(s) >= size || !valid(s)) {
        sdk_error_set(err, 0, "bad_credentials", key, "credentials member \"%s\" is malformed",
                      key);
        return -1;
    }
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

static bool secret_valid(const char *s)
{
    uint8_t b[32];
    bool ok = jz_hex_decode(s, strlen(s), b, sizeof b) == 0;
    crypto_wipe(b, sizeof b);
    return ok;
}

static bool url_valid(const char *s)
{
    char host[SDK_HOST_SIZE];
    char port[SDK_PORT_SIZE];
    return sdk_url_parse(s, host, port, NULL) == 0;
}

int sdk_credentials_parse(const char *text, size_t len, jz_credentials *out, jz_error *err)
{
    json_error_t jerr;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        sdk_error_set(err, 0, "bad_credentials", "", "credentials are not a JSON object: %s",
                      o ? "wrong type" : jerr.text);
        json_decref(o);
        return -1;
    }
    jz_credentials c;
    memset(&c, 0, sizeof c);
    int rc = -1;
    if (cred_member(o, "institution", c.institution, sizeof c.institution,
                    sdk_institution_id_valid, err) == 0 &&
        cred_member(o, "key_id", c.key_id, sizeof c.key_id, key_id_valid, err) == 0 &&
        cred_member(o, "secret", c.secret, sizeof c.secret, secret_valid, err) == 0 &&
        cred_member(o, "url", c.url, sizeof c.url, url_valid, err) == 0) {
        /* Files written by `jiaozi institution add` also name the treasury. */
        const char *t = json_string_value(json_object_get(o, "treasury"));
        if (jz_id_valid(t)) {
            memcpy(c.treasury, t, JZ_ID_SIZE);
        }
        *out = c;
        rc = 0;
    }
    jz_credentials_clear(&c);
    json_decref(o);
    return rc;
}

int jz_credentials_load(const char *path, jz_credentials *out, jz_error *err)
{
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) {
        sdk_error_set(err, 0, "io_error", "", "cannot read credentials %s: %s",
                      path ? path : "(null)", path ? strerror(errno) : "no path");
        return -1;
    }
    char *buf = malloc(SDK_CREDENTIALS_FILE_MAX);
    if (!buf) {
        fclose(f);
        sdk_error_set(err, 0, "out_of_memory", "", "out of memory");
        return -1;
    }
    size_t n = fread(buf, 1, SDK_CREDENTIALS_FILE_MAX, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    int rc = -1;
    if (failed) {
        sdk_error_set(err, 0, "io_error", "", "cannot read credentials %s", path);
    } else if (n == SDK_CREDENTIALS_FILE_MAX) {
        sdk_error_set(err, 0, "bad_credentials", "", "credentials %s are too large", path);
    } else {
        rc = sdk_credentials_parse(buf, n, out, err);
        if (rc != 0 && err) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%.700s: %s", path, err->message);
            sdk_copy_text(err->message, sizeof err->message, msg);
        }
    }
    crypto_wipe(buf, SDK_CREDENTIALS_FILE_MAX);
    free(buf);
    return rc;
}

int jz_credentials_format(const jz_credentials *cred, char *buf, size_t len)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "institution", cred->institution, "key_id",
                          cred->key_id, "secret", cred->secret, "url", cred->url);
    if (o && cred->treasury[0]) {
        json_object_set_new(o, "treasury", json_string(cred->treasury));
    }
    size_t n = o ? json_dumpb(o, buf, len, JSON_COMPACT) : 0;
    json_decref(o);
    if (n == 0 || n + 2 > len) {
        return -1;
    }
    buf[n] = '\n';
    buf[n + 1] = '\0';
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int jz_credentials_save(const jz_credentials *cred, const char *path, jz_error *err)
{
    char text[1024];
    if (jz_credentials_format(cred, text, sizeof text) != 0) {
        sdk_error_set(err, 0, "invalid_argument", "", "credentials cannot be formatted");
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        sdk_error_set(err, 0, "io_error", "", "cannot create %s: %s", path, strerror(errno));
        crypto_wipe(text, sizeof text);
        return -1;
    }
    int rc = 0;
    if (write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
        sdk_error_set(err, 0, "io_error", "", "cannot write %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (close(fd) != 0 && rc == 0) {
        sdk_error_set(err, 0, "io_error", "", "cannot write %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc != 0) {
        unlink(path);
    }
    crypto_wipe(text, sizeof text);
    return rc;
}

void jz_credentials_clear(jz_credentials *cred)
{
    if (cred) {
        crypto_wipe(cred, sizeof *cred);
    }
}
