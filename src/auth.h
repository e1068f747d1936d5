/*
 * auth.h: request authentication (API.md "Authentication").
 *
 * Every signed request carries X-JZ-Key, X-JZ-Timestamp, X-JZ-Nonce and X-JZ-Signature =
 * hex(HMAC-SM3(secret, METHOD "\n" PATH_AND_QUERY "\n" TIMESTAMP "\n" NONCE "\n"
 * hex(SM3(BODY)))). Checks, in order: headers present and well-formed (unauthenticated),
 * key known (unauthenticated), timestamp within the window (stale_timestamp), signature
 * (bad_signature, compared in constant time), nonce not seen within the window
 * (replayed_nonce), the key's token bucket (rate_limited). The nonce is remembered only
 * after the signature holds, so nobody without the secret can fill the cache, and the rate
 * limit is charged only to authenticated requests, so nobody can drain another's bucket.
 *
 * The nonce cache is bounded. When it is full of live nonces the oldest is dropped and its
 * timestamp becomes a low-water mark: requests stamped at or before it are refused as stale,
 * since their nonces can no longer be checked. Under that load the window shrinks; a replay
 * is never accepted. Thread-safe: HTTP workers call auth_check concurrently.
 */
#ifndef JZ_AUTH_H
#define JZ_AUTH_H

#include "json.h"

#define AUTH_SECRET_BYTES 32
#define AUTH_WINDOW_MS 300000
#define AUTH_NONCE_MIN 16
#define AUTH_NONCE_MAX 64

struct auth_config {
    uint32_t nonce_capacity; /* nonces remembered at once; 0 = 1 << 20 */
    int64_t window_ms;       /* 0 = AUTH_WINDOW_MS */
    uint32_t rate_per_s;     /* sustained requests per key; 0 = no limit */
    uint32_t burst;          /* bucket size; 0 = rate_per_s */
};

typedef struct auth auth;

auth *auth_new(const struct auth_config *cfg);
/* Wipes every secret; auth_free(NULL) does nothing. */
void auth_free(auth *a);

/* Registers a key (32 lowercase hex id) for the institution with index `institution`. The
 * secret is copied. Replacing an existing key id is allowed. */
int auth_add_key(auth *a, const jz_id *key_id, const uint8_t secret[AUTH_SECRET_BYTES],
                 int institution);
/* Registers a merchant's key (issue 7): it signs like any key and authenticates as the
 * institution that owns the merchant wallet, marked as that merchant (auth_key_merchant), so
 * the API can confine it to the merchant's own routes. */
int auth_add_merchant_key(auth *a, const jz_id *key_id, const uint8_t secret[AUTH_SECRET_BYTES],
                          int institution, const jz_id *merchant);
/* After auth_check accepted a request: 1 and *merchant when its key (hex) is a merchant's,
 * 0 for an institution's key, -1 for an unknown key. */
int auth_key_merchant(auth *a, const char *key_hex, jz_id *merchant);

struct auth_request {
    const char *method;
    const char *path_and_query;
    const char *key;        /* header values, NULL when absent */
    const char *timestamp;
    const char *nonce;
    const char *signature;
    const void *body;
    size_t body_len;
};

/* 0 and *institution on success; -1 with e set otherwise (*retry_after_s for
 * rate_limited). */
int auth_check(auth *a, const struct auth_request *r, int64_t now_ms, int *institution,
               int *retry_after_s, struct api_error *e);

/* The console's sign-in: 0 and *institution when secret_hex (64 hex digits) is the secret
 * of key key_hex, compared in constant time; -1 otherwise (no hint of which part was wrong). */
int auth_login(auth *a, const char *key_hex, const char *secret_hex, int *institution);

/* The signature of a request, as hex (65 bytes with the NUL): what clients compute. */
int auth_sign(const uint8_t secret[AUTH_SECRET_BYTES], const char *method,
              const char *path_and_query, const char *timestamp, const char *nonce,
              const void *body, size_t body_len, char out[65]);

#endif
