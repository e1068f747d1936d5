/*
 * store_vault.h: where the token vault (token.h) keeps its rows: DIR/vault.db, SQLite in WAL
 * mode with synchronous=FULL, so a committed tokenisation, status change or re-encryption
 * survives a crash or power loss.
 *
 * What is stored, and what never is:
 *   keys    data keys and the lookup key, each only wrapped (crypto_seal) under the key-
 *           encryption key, which lives in its own file outside this database;
 *   tokens  one row a token: the token number (not secret: merchants see it), an HMAC-SM3 of
 *           the card number under the lookup key, the card number sealed under a data key
 *           (with that key's version), binding (issuer, wallet, domain), status and expiry;
 *   alerts  unusual bursts of detokenisations.
 * A card number never reaches this module in clear: token.c seals it first.
 *
 * Not thread-safe: the vault (token.c) serialises every call with its own mutex. Each
 * function returns 0 on success and -1 on an SQLite error; lookups return 1 for "not found".
 * Only this file (of the vault) includes SQLite.
 */
#ifndef JZ_STORE_VAULT_H
#define JZ_STORE_VAULT_H

#include "common.h"
#include "crypto.h"

/* A sealed card record (token.c: 24 bytes of plain record + the seal's 48) and a wrapped
 * key (48 bytes of key + 48), with room to grow. */
#define VAULT_SEALED_MAX 128
#define VAULT_WRAPPED_MAX 128
#define VAULT_TOKEN_MAX 19
#define VAULT_INST_MAX 16
#define VAULT_CHANNEL_MAX 32
/* Issuers named in one alert: "opa,opb,..." (token.c bounds the set). */
#define VAULT_ISSUERS_TEXT_MAX 280

enum vault_key_purpose { VAULT_KEY_DATA = 1, VAULT_KEY_LOOKUP = 2 };

struct vault_key_row {
    uint8_t purpose;
    uint32_t version;
    uint8_t wrapped[VAULT_WRAPPED_MAX];
    size_t wrapped_len;
    int64_t created_at;
};

struct vault_token_row {
    char token[VAULT_TOKEN_MAX + 1];
    bool has_secret;                   /* false once deleted: no mac, no sealed record */
    uint8_t pan_mac[CRYPTO_SM3_BYTES]; /* HMAC-SM3(lookup key, card number) */
    char issuer[VAULT_INST_MAX + 1];
    jz_id wallet;
    char requestor[VAULT_INST_MAX + 1];
    char channel[VAULT_CHANNEL_MAX + 1];
    char last4[5];
    char expiry[5]; /* YYMM */
    int64_t expires_at;
    uint8_t status; /* enum token_status */
    uint32_t key_version;
    uint8_t sealed[VAULT_SEALED_MAX];
    size_t sealed_len;
    int64_t created_at;
    int64_t updated_at;
};

struct vault_alert_row {
    int64_t id; /* assigned by vault_store_alert_put */
    char kind[24];
    char requestor[VAULT_INST_MAX + 1];
    char issuers[VAULT_ISSUERS_TEXT_MAX + 1];
    uint32_t count;
    uint32_t threshold;
    int64_t window_ms;
    int64_t first_at;
    int64_t last_at;
    int64_t created_at;
};

typedef struct vault_store vault_store;

/* Opens (creating) the database at path; *out is owned by the caller (vault_store_close,
 * NULL does nothing). */
int vault_store_open(const char *path, vault_store **out, char *err, size_t err_len);
void vault_store_close(vault_store *s);

int vault_store_begin(vault_store *s);
int vault_store_commit(vault_store *s);
void vault_store_rollback(vault_store *s);

/* ---- keys ---- */
int vault_store_key_put(vault_store *s, const struct vault_key_row *k);
/* Every key, into out (room for cap); *n how many there are (may exceed cap). */
int vault_store_keys(vault_store *s, struct vault_key_row *out, size_t cap, size_t *n);
int vault_store_key_delete(vault_store *s, uint8_t purpose, uint32_t version);

/* ---- tokens ---- */
/* 0 and *out, 1 when there is no such token. */
int vault_store_token_get(vault_store *s, const char *token, struct vault_token_row *out);
/* The token (not deleted) of a card for an issuer and domain: 0 and *out, 1 when none. */
int vault_store_token_find_card(vault_store *s, const uint8_t mac[CRYPTO_SM3_BYTES],
                                const char *issuer, const char *requestor,
                                const char *channel, struct vault_token_row *out);
/* 0, or 1 when the token number (or the card in that issuer and domain) is taken. */
int vault_store_token_insert(vault_store *s, const struct vault_token_row *row);
/* Sets status and updated_at; with forget, also drops the mac and the sealed record (a
 * deleted token can never be detokenised again). 1 when there is no such token. */
int vault_store_token_set_status(vault_store *s, const char *token, uint8_t status,
                                 int64_t updated_at, bool forget);
/* Up to max rows sealed under a version other than `version`, with token > after (""
 * for the start), in token order: token, key_version and sealed are filled. */
int vault_store_tokens_to_reseal(vault_store *s, uint32_t version, const char *after,
                                 struct vault_token_row *rows, size_t max, size_t *n);
/* Replaces the sealed record of token if it is still under old_version: 0 done, 1 not. */
int vault_store_token_reseal(vault_store *s, const char *token, uint32_t old_version,
                             uint32_t new_version, const uint8_t *sealed, size_t len);
/* Rows with a sealed record under version. */
int vault_store_count_version(vault_store *s, uint32_t version, uint64_t *n);
/* Rows of every status. */
int vault_store_count_tokens(vault_store *s, uint64_t *n);

/* ---- alerts ---- */
int vault_store_alert_put(vault_store *s, struct vault_alert_row *a);
/* Newest first, ids < before (0: from the newest), at most max. */
int vault_store_alerts(vault_store *s, int64_t before, struct vault_alert_row *out, size_t max,
                       size_t *n);

#endif
