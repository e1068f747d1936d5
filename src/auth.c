/*
 * auth.c: request signatures, the nonce cache and per-key rate limits (see auth.h).
 */
#include "auth.h"

#include <pthread.h>

#include "crypto.h"

#define KEYS_MAX 4096

struct key {
    jz_id id;
    uint8_t secret[AUTH_SECRET_BYTES];
    int institution;
    bool is_merchant; /* a merchant's key: `merchant` is its wallet */
    jz_id merchant;
    pthread_mutex_t bucket_mu;
    int64_t tokens_milli; /* thousandths of a request */
    int64_t refilled_ms;
};

struct nonce_entry {
    uint64_t fp;
    int64_t timestamp_ms;
};

struct auth {
    struct auth_config cfg;
    pthread_rwlock_t keys_mu;
    struct key *keys;
    uint32_t key_count;

    pthread_mutex_t nonce_mu;
    struct nonce_entry *ring; /* insertion order */
    uint32_t ring_head;
    uint32_t ring_count;
    uint32_t *slots; /* ring position + 1, 0 = empty; linear probing */
    uint32_t slot_mask;
    int64_t low_water_ms;
};

auth *auth_new(const struct auth_config *cfg)
{
    auth *a = calloc(1, sizeof *a);
    if (!a) {
        return NULL;
    }
    a->cfg = *cfg;
    if (a->cfg.nonce_capacity == 0) {
        a->cfg.nonce_capacity = 1u << 20;
    }
    if (a->cfg.window_ms == 0) {
        a->cfg.window_ms = AUTH_WINDOW_MS;
    }
    if (a->cfg.burst == 0) {
        a->cfg.burst = a->cfg.rate_per_s;
    }
    uint32_t slots = 16;
    while (slots < 2 * a->cfg.nonce_capacity) {
        slots <<= 1;
    }
    a->slot_mask = slots - 1;
    a->slots = calloc(slots, sizeof *a->slots);
    a->ring = calloc(a->cfg.nonce_capacity, sizeof *a->ring);
    a->keys = calloc(KEYS_MAX, sizeof *a->keys);
    a->low_water_ms = INT64_MIN;
    pthread_rwlock_init(&a->keys_mu, NULL);
    pthread_mutex_init(&a->nonce_mu, NULL);
    if (!a->slots || !a->ring || !a->keys) {
        auth_free(a);
        return NULL;
    }
    return a;
}

void auth_free(auth *a)
{
    if (!a) {
        return;
    }
    for (uint32_t i = 0; i < a->key_count; i++) {
        pthread_mutex_destroy(&a->keys[i].bucket_mu);
    }
    if (a->keys) {
        crypto_wipe(a->keys, KEYS_MAX * sizeof *a->keys);
    }
    free(a->keys);
    free(a->slots);
    free(a->ring);
    pthread_rwlock_destroy(&a->keys_mu);
    pthread_mutex_destroy(&a->nonce_mu);
    free(a);
}

static int add_key(auth *a, const jz_id *key_id, const uint8_t secret[AUTH_SECRET_BYTES],
                   int institution, const jz_id *merchant)
{
    int rc = 0;
    pthread_rwlock_wrlock(&a->keys_mu);
    struct key *k = NULL;
    for (uint32_t i = 0; i < a->key_count; i++) {
        if (jz_id_eq(&a->keys[i].id, key_id)) {
            k = &a->keys[i];
        }
    }
    if (!k && a->key_count < KEYS_MAX) {
        k = &a->keys[a->key_count++];
        pthread_mutex_init(&k->bucket_mu, NULL);
        k->tokens_milli = (int64_t)a->cfg.burst * 1000;
    }
    if (k) {
        k->id = *key_id;
        memcpy(k->secret, secret, AUTH_SECRET_BYTES);
        k->institution = institution;
        k->is_merchant = merchant != NULL;
        memset(&k->merchant, 0, sizeof k->merchant);
        if (merchant) {
            k->merchant = *merchant;
        }
    } else {
        rc = -1;
    }
    pthread_rwlock_unlock(&a->keys_mu);
    return rc;
}

int auth_add_key(auth *a, const jz_id *key_id, const uint8_t secret[AUTH_SECRET_BYTES],
                 int institution)
{
    return add_key(a, key_id, secret, institution, NULL);
}

int auth_add_merchant_key(auth *a, const jz_id *key_id, const uint8_t secret[AUTH_SECRET_BYTES],
                          int institution, const jz_id *merchant)
{
    return add_key(a, key_id, secret, institution, merchant);
}

int auth_key_merchant(auth *a, const char *key_hex, jz_id *merchant)
{
    jz_id id;
    if (!key_hex || jz_id_from_hex(key_hex, strlen(key_hex), &id) != 0) {
        return -1;
    }
    int rc = -1;
    pthread_rwlock_rdlock(&a->keys_mu);
    for (uint32_t i = 0; i < a->key_count; i++) {
        if (jz_id_eq(&a->keys[i].id, &id)) {
            rc = a->keys[i].is_merchant ? 1 : 0;
            if (rc == 1) {
                *merchant = a->keys[i].merchant;
            }
        }
    }
    pthread_rwlock_unlock(&a->keys_mu);
    return rc;
}

int auth_sign(const uint8_t secret[AUTH_SECRET_BYTES], const char *method,
              const char *path_and_query, const char *timestamp, const char *nonce,
              const void *body, size_t body_len, char out[65])
{
    uint8_t body_hash[CRYPTO_SM3_BYTES];
    char body_hex[2 * CRYPTO_SM3_BYTES + 1];
    uint8_t mac[CRYPTO_SM3_BYTES];
    if (crypto_sm3(body, body_len, body_hash) != 0) {
        return -1;
    }
    jz_hex_encode(body_hash, sizeof body_hash, body_hex);
    size_t len = strlen(method) + strlen(path_and_query) + strlen(timestamp) + strlen(nonce) +
                 sizeof body_hex + 4;
    char *msg = malloc(len + 1);
    if (!msg) {
        return -1;
    }
    int n = snprintf(msg, len + 1, "%s\n%s\n%s\n%s\n%s", method, path_and_query, timestamp,
                     nonce, body_hex);
    int rc = crypto_hmac_sm3(secret, AUTH_SECRET_BYTES, msg, (size_t)n, mac);
    free(msg);
    if (rc == 0) {
        jz_hex_encode(mac, sizeof mac, out);
    }
    return rc;
}

/* ---- Nonce cache ---- */

static uint64_t nonce_fp(const jz_id *key, const char *nonce)
{
    uint64_t h = jz_id_hash(key);
    for (const char *p = nonce; *p; p++) {
        h = jz_mix64(h ^ (uint8_t)*p);
    }
    return h ? h : 1;
}

static uint32_t slot_find(const auth *a, uint64_t fp, bool *found)
{
    uint32_t i = (uint32_t)fp & a->slot_mask;
    for (;;) {
        uint32_t s = a->slots[i];
        if (s == 0) {
            *found = false;
            return i;
        }
        if (a->ring[s - 1].fp == fp) {
            *found = true;
            return i;
        }
        i = (i + 1) & a->slot_mask;
    }
}

/* Removes slot i, shifting later entries of the probe run back (no tombstones). */
static void slot_delete(auth *a, uint32_t i)
{
    uint32_t j = i;
    for (;;) {
        a->slots[i] = 0;
        for (;;) {
            j = (j + 1) & a->slot_mask;
            if (a->slots[j] == 0) {
                return;
            }
            uint32_t home = (uint32_t)a->ring[a->slots[j] - 1].fp & a->slot_mask;
            /* Move j back to i unless its home lies cyclically in (i, j]. */
            bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays) {
                break;
            }
        }
        a->slots[i] = a->slots[j];
        i = j;
    }
}

static void evict_oldest(auth *a)
{
    struct nonce_entry *old = &a->ring[a->ring_head];
    bool found;
    uint32_t i = slot_find(a, old->fp, &found);
    ASSERT(found);
    slot_delete(a, i);
    a->ring_head = (a->ring_head + 1) % a->cfg.nonce_capacity;
    a->ring_count--;
}

/* Returns JZ_OK after remembering the nonce, JZ_REPLAYED_NONCE or JZ_STALE_TIMESTAMP. */
static int nonce_remember(auth *a, uint64_t fp, int64_t ts, int64_t now)
{
    int rc = JZ_OK;
    pthread_mutex_lock(&a->nonce_mu);
    while (a->ring_count > 0 &&
           a->ring[a->ring_head].timestamp_ms + a->cfg.window_ms < now) {
        evict_oldest(a); /* its timestamp is outside the window: a replay would be stale */
    }
    bool found;
    uint32_t i = slot_find(a, fp, &found);
    if (found) {
        rc = JZ_REPLAYED_NONCE;
    } else if (ts <= a->low_water_ms) {
        rc = JZ_STALE_TIMESTAMP;
    } else {
        if (a->ring_count == a->cfg.nonce_capacity) {
            int64_t dropped = a->ring[a->ring_head].timestamp_ms;
            a->low_water_ms = dropped > a->low_water_ms ? dropped : a->low_water_ms;
            evict_oldest(a);
            i = slot_find(a, fp, &found);
        }
        uint32_t pos = (a->ring_head + a->ring_count) % a->cfg.nonce_capacity;
        a->ring[pos] = (struct nonce_entry){.fp = fp, .timestamp_ms = ts};
        a->ring_count++;
        a->slots[i] = pos + 1;
    }
    pthread_mutex_unlock(&a->nonce_mu);
    return rc;
}

/* ---- Checking a request ---- */

static bool nonce_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < AUTH_NONCE_MIN || n > AUTH_NONCE_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

static int parse_timestamp(const char *s, int64_t *out)
{
    int64_t v = 0;
    size_t n = strlen(s);
    if (n == 0 || n > 15) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Finds the key and copies what is needed out of the lock. */
static int key_lookup(auth *a, const char *key_hex, uint8_t secret[AUTH_SECRET_BYTES],
                      int *institution, struct key **key_out)
{
    jz_id id;
    if (jz_id_from_hex(key_hex, strlen(key_hex), &id) != 0) {
        return -1;
    }
    int rc = -1;
    pthread_rwlock_rdlock(&a->keys_mu);
    for (uint32_t i = 0; i < a->key_count; i++) {
        if (jz_id_eq(&a->keys[i].id, &id)) {
            memcpy(secret, a->keys[i].secret, AUTH_SECRET_BYTES);
            *institution = a->keys[i].institution;
            *key_out = &a->keys[i]; /* keys are never removed: the pointer stays valid */
            rc = 0;
        }
    }
    pthread_rwlock_unlock(&a->keys_mu);
    return rc;
}

/* Token bucket: 0 when a request may go, else the seconds to wait. */
static int bucket_take(auth *a, struct key *k, int64_t now)
{
    if (a->cfg.rate_per_s == 0) {
        return 0;
    }
    int wait_s = 0;
    int64_t cap = (int64_t)a->cfg.burst * 1000;
    pthread_mutex_lock(&k->bucket_mu);
    int64_t elapsed = now - k->refilled_ms;
    if (elapsed > 0) {
        int64_t add = elapsed * a->cfg.rate_per_s;
        k->tokens_milli = k->tokens_milli + add > cap ? cap : k->tokens_milli + add;
        k->refilled_ms = now;
    }
    if (k->tokens_milli >= 1000) {
        k->tokens_milli -= 1000;
    } else {
        int64_t missing_ms = (1000 - k->tokens_milli + a->cfg.rate_per_s - 1) / a->cfg.rate_per_s;
        wait_s = (int)((missing_ms + 999) / 1000);
        wait_s = wait_s < 1 ? 1 : wait_s;
    }
    pthread_mutex_unlock(&k->bucket_mu);
    return wait_s;
}

static int check_signature(const uint8_t secret[AUTH_SECRET_BYTES], const struct auth_request *r,
                           struct api_error *e)
{
    char want[65];
    uint8_t want_bytes[CRYPTO_SM3_BYTES];
    uint8_t got_bytes[CRYPTO_SM3_BYTES];
    if (auth_sign(secret, r->method, r->path_and_query, r->timestamp, r->nonce, r->body,
                  r->body_len, want) != 0) {
        return api_fail(e, JZ_UNAVAILABLE, "", "signature could not be computed");
    }
    jz_hex_decode(want, 64, want_bytes, sizeof want_bytes);
    if (jz_hex_decode(r->signature, strlen(r->signature), got_bytes, sizeof got_bytes) != 0 ||
        crypto_memcmp(want_bytes, got_bytes, sizeof got_bytes) != 0) {
        return api_fail(e, JZ_BAD_SIGNATURE, "X-JZ-Signature", "the signature does not match");
    }
    return 0;
}

static int check_headers(const struct auth_request *r, struct api_error *e)
{
    static const char *const names[] = {"X-JZ-Key", "X-JZ-Timestamp", "X-JZ-Nonce",
                                        "X-JZ-Signature"};
    const char *values[] = {r->key, r->timestamp, r->nonce, r->signature};
    for (int i = 0; i < 4; i++) {
        if (!values[i] || !values[i][0]) {
            return api_fail(e, JZ_UNAUTHENTICATED, names[i], "the %s header is missing", names[i]);
        }
    }
    size_t sig_len = strlen(r->signature);
    uint8_t sig[CRYPTO_SM3_BYTES];
    if (sig_len != 2 * CRYPTO_SM3_BYTES || jz_hex_decode(r->signature, sig_len, sig, sizeof sig) != 0) {
        return api_fail(e, JZ_UNAUTHENTICATED, "X-JZ-Signature",
                        "the signature must be 64 hex digits");
    }
    if (!nonce_ok(r->nonce)) {
        return api_fail(e, JZ_UNAUTHENTICATED, "X-JZ-Nonce",
                        "the nonce must be 16-64 characters [A-Za-z0-9_-]");
    }
    return 0;
}

int auth_check(auth *a, const struct auth_request *r, int64_t now_ms, int *institution,
               int *retry_after_s, struct api_error *e)
{
    uint8_t secret[AUTH_SECRET_BYTES];
    int inst = -1;
    struct key *k = NULL;
    int64_t ts;
    int rc = -1;
    if (check_headers(r, e) != 0) {
        return -1;
    }
    if (parse_timestamp(r->timestamp, &ts) != 0) {
        return api_fail(e, JZ_UNAUTHENTICATED, "X-JZ-Timestamp",
                        "the timestamp must be milliseconds since the epoch");
    }
    if (key_lookup(a, r->key, secret, &inst, &k) != 0) {
        return api_fail(e, JZ_UNAUTHENTICATED, "X-JZ-Key", "unknown key");
    }
    if (ts < now_ms - a->cfg.window_ms || ts > now_ms + a->cfg.window_ms) {
        api_fail(e, JZ_STALE_TIMESTAMP, "X-JZ-Timestamp",
                 "the timestamp is more than %lld ms from the server's clock",
                 (long long)a->cfg.window_ms);
        goto wipe;
    }
    if (check_signature(secret, r, e) != 0) {
        goto wipe;
    }
    int code = nonce_remember(a, nonce_fp(&k->id, r->nonce), ts, now_ms);
    if (code != JZ_OK) {
        api_fail(e, code, code == JZ_REPLAYED_NONCE ? "X-JZ-Nonce" : "X-JZ-Timestamp",
                 code == JZ_REPLAYED_NONCE ? "this nonce was already used"
                                           : "the timestamp is too old for the nonce cache");
        goto wipe;
    }
    int wait_s = bucket_take(a, k, now_ms);
    if (wait_s > 0) {
        *retry_after_s = wait_s;
        api_fail(e, JZ_RATE_LIMITED, "", "too many requests for this key");
        goto wipe;
    }
    *institution = inst;
    rc = 0;
wipe:
    crypto_wipe(secret, sizeof secret);
    return rc;
}

int auth_login(auth *a, const char *key_hex, const char *secret_hex, int *institution)
{
    uint8_t secret[AUTH_SECRET_BYTES];
    uint8_t given[AUTH_SECRET_BYTES];
    struct key *k = NULL;
    int inst = -1;
    int rc = -1;
    if (key_hex && secret_hex && strlen(secret_hex) == 2 * AUTH_SECRET_BYTES &&
        key_lookup(a, key_hex, secret, &inst, &k) == 0) {
        if (jz_hex_decode(secret_hex, 2 * AUTH_SECRET_BYTES, given, sizeof given) == 0 &&
            crypto_memcmp(secret, given, sizeof secret) == 0) {
            *institution = inst;
            rc = 0;
        }
        crypto_wipe(secret, sizeof secret);
    }
    crypto_wipe(given, sizeof given);
    return rc;
}
