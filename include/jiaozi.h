/*
 * jiaozi.h: the C SDK of jiaozi, the digital-wallet and payment platform (libjiaozi).
 *
 * It speaks the HTTP JSON API of shared/API.md (and docs/api-decisions.md) to a `jiaozi serve`
 * node: it signs every request with the institution's key (HMAC-SM3), keeps one HTTP/1.1
 * keep-alive connection, retries what is safe to retry, and turns JSON into the fixed-size
 * structs below, so a program never parses JSON and never frees a result.
 *
 * Threading. A jz_client is not thread-safe: it owns one connection and its buffers. Use one
 * client per thread (they may share credentials); the free functions (jz_sign, jz_id_new,
 * jz_id_valid, jz_credentials_*) are thread-safe.
 *
 * Ownership. Handles come from jz_client_new / jz_client_from_file and go back to
 * jz_client_free (NULL does nothing). Every result is written into memory the caller
 * provides (structs with fixed-size, NUL-terminated string fields; arrays for lists), so
 * nothing the SDK returns needs freeing. Strings passed in are only read during the call.
 * `const char *` results of accessors are owned by the client and live as long as it does.
 *
 * Errors. Every call returns 0 on success and -1 on failure. Out-parameters are written only
 * on success; the jz_error (which may be NULL) is written only on failure. When the server
 * answered, jz_error.http_status is its status and code/message/field are the server's
 * (codes are the stable snake_case names of the API: "insufficient_funds", "wallet_frozen",
 * ...). When it did not, http_status is 0 and code is one of the SDK's own:
 *   invalid_argument    an argument is malformed (field names it); nothing was sent
 *   bad_credentials     a credentials file or key is malformed (field names the member)
 *   io_error            a file could not be read or written
 *   connection_failed   could not connect, or the connection broke, after every retry
 *   timeout             no complete answer within timeout_ms, after every retry
 *   bad_response        the server's answer is not valid HTTP or not the documented JSON
 *   out_of_memory       an allocation failed
 *
 * Retries. A request is retried, with the same body (so the same transfer, hold or wallet id:
 * ids are idempotency keys) and a fresh nonce and timestamp, when connecting fails, the
 * connection breaks, the answer times out, or the server answers 503 (honouring Retry-After up
 * to JZ_RETRY_AFTER_MAX_MS). Never on any other status. Calls that create something and are
 * given no id choose a random one first, so their retries stay idempotent too; a program that
 * repeats a call itself after a failure must pass the id explicitly to keep that guarantee.
 */
#ifndef JIAOZI_H
#define JIAOZI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Buffer sizes, terminating NUL included. */
#define JZ_ID_SIZE 33             /* 128-bit id: 32 lowercase hex digits */
#define JZ_INSTITUTION_ID_SIZE 17 /* 1-16 characters [a-z0-9_] */
#define JZ_NAME_SIZE 65           /* institution name, UTF-8 bytes */
#define JZ_KEY_ID_SIZE 65         /* key id: 1-64 visible ASCII characters */
#define JZ_SECRET_HEX_SIZE 65     /* 32-byte secret as 64 hex digits */
#define JZ_URL_SIZE 256
#define JZ_KIND_SIZE 32   /* "personal", "exchange_out", "offline_settle", ... */
#define JZ_STATUS_SIZE 16 /* "active", "posted", "pending", ... */
#define JZ_FORM_SIZE 8    /* "soft" or "hard" */
#define JZ_REF_SIZE 65    /* transfer ref: at most 64 bytes of UTF-8 */
#define JZ_MEMO_SIZE 141  /* transfer memo: at most 140 bytes of UTF-8 */
#define JZ_CURSOR_SIZE 257
#define JZ_HASH_HEX_SIZE 65         /* SM3 digest as hex */
#define JZ_SIGNATURE_HEX_SIZE 161   /* DER SM2 signature (at most 80 bytes) as hex */
#define JZ_PEM_SIZE 1024            /* an SM2 public key in PEM is about 180 bytes */
#define JZ_ERROR_CODE_SIZE 48
#define JZ_ERROR_MESSAGE_SIZE 256
#define JZ_ERROR_FIELD_SIZE 64

/* Limits of the API. */
#define JZ_AMOUNT_FEN_MAX 9000000000000000LL /* 1 <= amount <= this */
#define JZ_BATCH_ITEMS_MAX 8190              /* transfers in one batch */
#define JZ_HISTORY_LIMIT_MAX 1000            /* transfers in one history page */

/* Client defaults. */
#define JZ_TIMEOUT_MS_DEFAULT 10000   /* connect + send + answer, for each attempt */
#define JZ_MAX_RETRIES_DEFAULT 3      /* attempts after the first */
#define JZ_RETRY_AFTER_MAX_MS 5000    /* a longer Retry-After is waited for this long */

typedef struct jz_client jz_client;

/* Why a call failed (see the top of this file). All strings are NUL-terminated, "" when
 * absent; longer server strings are cut at a UTF-8 character boundary. */
typedef struct jz_error {
    int http_status; /* 0 when no HTTP answer was received or the SDK refused the call */
    char code[JZ_ERROR_CODE_SIZE];
    char message[JZ_ERROR_MESSAGE_SIZE];
    char field[JZ_ERROR_FIELD_SIZE];
} jz_error;

/* ---- Credentials and clients ------------------------------------------------------------ */

/* An institution's credentials, as in the file `jiaozi serve` writes (DIR/central.json):
 * {"institution","key_id","secret","url"}. treasury is filled only by
 * jz_institution_create. The secret is key material: wipe it with jz_credentials_clear. */
typedef struct jz_credentials {
    char institution[JZ_INSTITUTION_ID_SIZE];
    char key_id[JZ_KEY_ID_SIZE];
    char secret[JZ_SECRET_HEX_SIZE]; /* "" when the server did not show it (see create) */
    char url[JZ_URL_SIZE];
    char treasury[JZ_ID_SIZE]; /* "" when unknown */
} jz_credentials;

/* Reads and checks a credentials file (all four members present and well-formed; other
 * members are ignored). Errors: io_error (unreadable), bad_credentials (field = member). */
int jz_credentials_load(const char *path, jz_credentials *out, jz_error *err);

/* Writes the credentials as one line of JSON (with "treasury" when known) and a newline
 * into buf. Returns -1 if it does not fit. */
int jz_credentials_format(const jz_credentials *cred, char *buf, size_t len);

/* Creates path with mode 0600 (refusing to replace an existing file), writes
 * jz_credentials_format's text and syncs it. Errors: io_error. */
int jz_credentials_save(const jz_credentials *cred, const char *path, jz_error *err);

/* Overwrites the whole struct (the secret included) so the compiler cannot skip it. */
void jz_credentials_clear(jz_credentials *cred);

/* A client for the node at url ("http://host:port" or "http://host", port 80; a trailing "/"
 * is allowed; host is a name, an IPv4 address or a bracketed IPv6 address), signing as
 * key_id with the 64-hex-digit secret. Nothing is sent yet. Returns a handle owned by the
 * caller (jz_client_free), or NULL with err set (invalid_argument: field "url", "key_id" or
 * "secret"; out_of_memory). The secret is copied; the caller may wipe its copy. */
jz_client *jz_client_new(const char *url, const char *key_id, const char *secret_hex,
                         jz_error *err);

/* jz_client_new from a credentials file (jz_credentials_load's errors). */
jz_client *jz_client_from_file(const char *path, jz_error *err);

/* Closes the connection, wipes the secret and frees the client. NULL does nothing. */
void jz_client_free(jz_client *client);

/* Options. timeout_ms (>= 1) bounds each attempt: connect, send and the whole answer.
 * max_retries (0-100) is how many times a retryable failure is retried. Return -1 when out
 * of range, leaving the option as it was. */
int jz_client_set_timeout_ms(jz_client *client, int timeout_ms);
int jz_client_set_max_retries(jz_client *client, int max_retries);

/* The institution named by the credentials file ("" for jz_client_new), and the URL. */
const char *jz_client_institution(const jz_client *client);
const char *jz_client_url(const jz_client *client);

/* HTTP status of the last answer received (0 if none): tells 201 (created now) from 200
 * (a replay of the same id and body returned the existing object). */
int jz_client_last_status(const jz_client *client);

/* ---- Ids and signing -------------------------------------------------------------------- */

/* Writes a fresh random id (32 lowercase hex digits and a NUL) from the system's CSPRNG.
 * Returns -1 only if the system has no randomness to give. */
int jz_id_new(char out[JZ_ID_SIZE]);

/* True for exactly 32 lowercase hex digits (the API's 128-bit id); false for NULL. */
bool jz_id_valid(const char *s);

/* The request signature of API.md:
 *   hex(HMAC-SM3(secret_bytes, METHOD "\n" PATH_AND_QUERY "\n" TIMESTAMP "\n" NONCE "\n"
 *                              hex(SM3(BODY))))
 * with TIMESTAMP in decimal and BODY the exact request bytes (body may be NULL when
 * body_len is 0). Writes 64 lowercase hex digits and a NUL into out_hex. Returns -1 when
 * secret_hex is not 64 hex digits or a string argument is NULL. */
int jz_sign(const char *secret_hex, const char *method, const char *path_and_query,
            int64_t timestamp_ms, const char *nonce, const void *body, size_t body_len,
            char out_hex[65]);

/* ---- Institutions and quota (central's key only) ---------------------------------------- */

/* An institution as GET /v1/institutions/{id} shows it. */
typedef struct jz_institution {
    char id[JZ_INSTITUTION_ID_SIZE];
    char name[JZ_NAME_SIZE];
    char kind[JZ_KIND_SIZE]; /* "central" or "operator" */
    char treasury[JZ_ID_SIZE];
} jz_institution;

/* POST /v1/institutions {"id","name","kind":"operator"}. Fills out with the new
 * institution's id, key_id, secret and treasury, and url = this client's URL, ready for
 * jz_credentials_save. The server shows the secret once only: when the same body was already
 * accepted (a replay, or a retry after a lost answer) out->secret is "". */
int jz_institution_create(jz_client *client, const char *id, const char *name,
                          jz_credentials *out, jz_error *err);

int jz_institution_get(jz_client *client, const char *id, jz_institution *out, jz_error *err);

/* GET /v1/institutions. Writes up to cap institutions into items and the total number the
 * server listed into *count (so *count > cap says the array was too small). */
int jz_institution_list(jz_client *client, jz_institution *items, size_t cap, size_t *count,
                        jz_error *err);

/* A transfer as the API shows it. ref and memo are "" when absent. */
typedef struct jz_transfer {
    char id[JZ_ID_SIZE];
    char debit[JZ_ID_SIZE];
    char credit[JZ_ID_SIZE];
    int64_t amount; /* fen */
    char kind[JZ_KIND_SIZE];
    char status[JZ_STATUS_SIZE]; /* "posted" */
    int64_t timestamp;           /* ms since the epoch */
    char ref[JZ_REF_SIZE];
    char memo[JZ_MEMO_SIZE];
} jz_transfer;

/* POST /v1/quota/issue and /v1/quota/redeem: central issues quota to (or redeems it from) an
 * operator's treasury. transfer_id may be NULL (the SDK chooses one; see out->id). */
int jz_quota_issue(jz_client *client, const char *transfer_id, const char *operator_id,
                   int64_t amount, jz_transfer *out, jz_error *err);
int jz_quota_redeem(jz_client *client, const char *transfer_id, const char *operator_id,
                    int64_t amount, jz_transfer *out, jz_error *err);

/* ---- Wallets ---------------------------------------------------------------------------- */

typedef struct jz_wallet {
    char id[JZ_ID_SIZE];
    char operator_id[JZ_INSTITUTION_ID_SIZE]; /* JSON "operator" */
    char kind[JZ_KIND_SIZE];                  /* personal, corporate, merchant, treasury */
    int tier;                                 /* 1-4 */
    char form[JZ_FORM_SIZE];                  /* soft, hard */
    char status[JZ_STATUS_SIZE];              /* active, frozen, closed, lost */
    char parent[JZ_ID_SIZE];                  /* "" when none */
    int64_t balance;
    int64_t held;
    int64_t available; /* balance - held */
    int64_t day_out;
    int64_t year_out;
    int64_t created_at; /* ms since the epoch */
    int mcc;            /* merchant category code; 0 when none */
} jz_wallet;

/* What to open. Zero-initialise, then set what you need: NULL strings and mcc 0 are left out
 * of the request. id NULL: the SDK chooses one. */
typedef struct jz_wallet_spec {
    const char *id;
    const char *kind; /* "personal", "corporate" or "merchant" */
    int tier;         /* 1-4 */
    const char *form; /* "soft" or "hard" */
    const char *parent;
    const char *holder_name; /* the holder object is sent when any of these three is set */
    const char *holder_id_number;
    const char *holder_phone;
    int mcc;
} jz_wallet_spec;

/* POST /v1/wallets. A replay of the same spec with the same id returns the same wallet. */
int jz_wallet_open(jz_client *client, const jz_wallet_spec *spec, jz_wallet *out,
                   jz_error *err);
int jz_wallet_get(jz_client *client, const char *wallet_id, jz_wallet *out, jz_error *err);
/* PATCH /v1/wallets/{id} {"tier":N} */
int jz_wallet_set_tier(jz_client *client, const char *wallet_id, int tier, jz_wallet *out,
                       jz_error *err);
/* PATCH /v1/wallets/{id} {"status":S}, S "active" or "frozen" */
int jz_wallet_set_status(jz_client *client, const char *wallet_id, const char *status,
                         jz_wallet *out, jz_error *err);
/* POST /v1/wallets/{id}/close (only at zero balance with no open hold). out may be NULL;
 * when given, the answer must be the wallet. */
int jz_wallet_close(jz_client *client, const char *wallet_id, jz_wallet *out, jz_error *err);

/* GET /v1/wallets/{id}/transfers?limit=N&cursor=C, newest first. limit is 1 to
 * JZ_HISTORY_LIMIT_MAX and items must hold limit entries; cursor is NULL (or "") for the
 * first page, else a next_cursor from the previous page. Writes *count and next_cursor ("" on
 * the last page). */
int jz_wallet_history(jz_client *client, const char *wallet_id, int limit, const char *cursor,
                      jz_transfer *items, size_t *count, char next_cursor[JZ_CURSOR_SIZE],
                      jz_error *err);

/* ---- Transfers and holds ---------------------------------------------------------------- */

/* What to move. id NULL: the SDK chooses one. ref and memo may be NULL. linked is used only
 * in a batch: a chain of linked items (ending at the first item without it) commits all or
 * none. */
typedef struct jz_transfer_spec {
    const char *id;
    const char *debit;
    const char *credit;
    int64_t amount;   /* fen */
    const char *kind; /* p2p, payment, bill, refund, exchange_in, exchange_out, disbursement */
    const char *ref;
    const char *memo;
    bool linked;
} jz_transfer_spec;

/* POST /v1/transfers. A replay of the same spec and id returns the same transfer (200); a
 * replay of a refused one returns the same error. */
int jz_transfer_create(jz_client *client, const jz_transfer_spec *spec, jz_transfer *out,
                       jz_error *err);
int jz_transfer_get(jz_client *client, const char *transfer_id, jz_transfer *out,
                    jz_error *err);

/* One item's outcome in a batch. */
typedef struct jz_batch_result {
    char id[JZ_ID_SIZE];
    bool posted;    /* true: status "posted"; false: error says why */
    jz_error error; /* http_status 0; code/message/field of the item */
} jz_batch_result;

/* POST /v1/transfers/batch with n (1 to JZ_BATCH_ITEMS_MAX) items; results must hold n
 * entries and receives them in input order. The call succeeds when the server answered the
 * batch, whatever each item's fate: check results[i].posted. A malformed item makes the
 * whole call fail with field like "transfers[3].amount". Items without id get a random one
 * (reported in results[i].id). */
int jz_transfer_batch(jz_client *client, const jz_transfer_spec *items, size_t n,
                      jz_batch_result *results, jz_error *err);

typedef struct jz_hold {
    char id[JZ_ID_SIZE];
    char debit[JZ_ID_SIZE];
    char credit[JZ_ID_SIZE];
    int64_t amount;   /* reserved */
    int64_t captured; /* moved by the capture (0 until then) */
    char status[JZ_STATUS_SIZE]; /* pending, captured, voided, expired */
    int64_t deadline;            /* ms since the epoch when a pending hold expires */
    int64_t created_at;
} jz_hold;

typedef struct jz_hold_spec {
    const char *id; /* NULL: the SDK chooses one */
    const char *debit;
    const char *credit;
    int64_t amount;
    int64_t timeout_ms;
} jz_hold_spec;

/* POST /v1/holds: reserves amount on debit until captured, voided or timeout_ms passes. */
int jz_hold_create(jz_client *client, const jz_hold_spec *spec, jz_hold *out, jz_error *err);
int jz_hold_get(jz_client *client, const char *hold_id, jz_hold *out, jz_error *err);
/* POST /v1/holds/{id}/capture: moves amount (<= held; 0 = all of it) to credit. Resolving a
 * hold twice fails with already_resolved, except that when the SDK had to retry (the first
 * attempt may have landed) it reads the hold and succeeds if it shows this very capture. */
int jz_hold_capture(jz_client *client, const char *hold_id, int64_t amount, jz_hold *out,
                    jz_error *err);
/* POST /v1/holds/{id}/void: releases the reservation (same retry rule as capture). */
int jz_hold_void(jz_client *client, const char *hold_id, jz_hold *out, jz_error *err);

/* ---- Audit and health ------------------------------------------------------------------- */

/* The signed head of the journal's SM3 chain. signature is hex DER SM2 (signer id
 * 1234567812345678) over "JZCP" || seq as u64 little-endian || hash bytes, by public_key. */
typedef struct jz_audit_head {
    uint64_t seq;
    char hash[JZ_HASH_HEX_SIZE];
    char signature[JZ_SIGNATURE_HEX_SIZE];
    char public_key[JZ_PEM_SIZE];
} jz_audit_head;

int jz_audit_get_head(jz_client *client, jz_audit_head *out, jz_error *err);

typedef struct jz_health {
    char status[JZ_STATUS_SIZE]; /* "ok" */
    uint64_t seq;
} jz_health;

/* GET /healthz (sent unsigned, as API.md allows). */
int jz_healthz(jz_client *client, jz_health *out, jz_error *err);

/* ---- Any route ------------------------------------------------------------------------ */

/* A signed request to any route (for those without a typed call yet): body is JSON text or
 * NULL. On 2xx returns 0 with *response (may be NULL) pointing at the answer's body,
 * NUL-terminated, owned by the client and valid until its next call. Otherwise -1 with err
 * (the server's error object; HTTP status in err->http_status). Retries as the typed calls. */
int jz_request(jz_client *client, const char *method, const char *path, const char *body,
               const char **response, size_t *response_len, jz_error *err);

/* ---- Payment tokens (docs/tokens.md) -------------------------------------------------- */

#define JZ_TOKEN_SIZE 20   /* a token: 13-19 digits */
#define JZ_PAN_SIZE 20     /* a card number: 13-19 digits */
#define JZ_CHANNEL_SIZE 33 /* a channel: 1-32 characters [a-z0-9_.:-] */

/* A token as GET /v1/tokens/{token} shows it: never the card number. */
typedef struct jz_token {
    char token[JZ_TOKEN_SIZE];
    char last4[5];
    char expiry[5];              /* YYMM, the card's */
    char status[JZ_STATUS_SIZE]; /* active, suspended, deleted */
    bool expired;
    char issuer[JZ_INSTITUTION_ID_SIZE]; /* the operator that tokenised the card */
    char wallet[JZ_ID_SIZE];             /* "" unless the caller is the issuer or central */
    char requestor[JZ_INSTITUTION_ID_SIZE];
    char channel[JZ_CHANNEL_SIZE];
    int64_t created_at;
    int64_t updated_at;
} jz_token;

/* What to tokenise. pan is read during the call only; the SDK wipes its own copies of it. */
typedef struct jz_token_spec {
    const char *pan;       /* 13-19 digits */
    const char *expiry;    /* YYMM */
    const char *wallet;    /* one of the caller's wallets */
    const char *requestor; /* the domain: an institution id ... */
    const char *channel;   /* ... and a channel */
} jz_token_spec;

/* POST /v1/tokens. The same card for the same domain returns its token again (last status
 * 200 instead of 201). */
int jz_token_create(jz_client *client, const jz_token_spec *spec, jz_token *out, jz_error *err);
int jz_token_get(jz_client *client, const char *token, jz_token *out, jz_error *err);
/* PATCH /v1/tokens/{token} {"status"}: "suspended", "active" or "deleted" (final). */
int jz_token_set_status(jz_client *client, const char *token, const char *status, jz_token *out,
                        jz_error *err);
/* POST /v1/tokens/{token}/detokenize: the card number, for the token's issuer or its requestor
 * naming the token's own domain. The caller wipes pan after use (the SDK wipes its copies). */
int jz_token_detokenize(jz_client *client, const char *token, const char *requestor,
                        const char *channel, char pan[JZ_PAN_SIZE], jz_error *err);

#ifdef __cplusplus
}
#endif

#endif
