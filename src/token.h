/*
 * token.h: the payment-token vault (DESIGN.md §5): bank cards bound to wallets without a card
 * number ever being stored, logged or journalled in clear.
 *
 * A token stands for a card number (PAN) in one domain (token requestor + channel) for one
 * issuing operator and one wallet. It is a number from the configured token range (a BIN-like
 * prefix), max(card length, length_min) digits long, Luhn-valid, ending in the card's last four
 * digits, never equal to the card number nor containing it, and unique in the vault. Its
 * status is active, suspended or deleted (final: the sealed card record is destroyed) and it
 * expires with the card (end of the expiry month, UTC+8).
 *
 * Keys (docs/tokens.md):
 *   KEK      48 random bytes in its own file (DIR/vault.kek, mode 0600, or kek_file in
 *            DIR/tokens.conf), never in the vault; read only to unwrap the keys at open and to
 *            wrap a new data key at rotation, and wiped right after.
 *   data key 48 random bytes (SM4 key + HMAC-SM3 key of crypto_seal), stored wrapped under the
 *            KEK with a version; every row names the version that sealed it.
 *   lookup   32 random bytes, wrapped likewise: HMAC-SM3(lookup, card number) finds the card's
 *            token without decrypting anything; a plain hash of a 16-digit number would be
 *            brute-forced in minutes, a keyed one cannot be without the key.
 * A card record (length, digits, expiry; 24 bytes) is sealed with crypto_seal (SM4-CTR + HMAC-
 * SM3, encrypt-then-MAC) with the token as associated data, so records cannot be swapped
 * between rows. Rotation makes a new data key, then re-encrypts rows in small transactions
 * (the vault keeps serving between them); an old key is deleted only when no row uses it, so
 * a crash at any point leaves every row readable and the rotation resumes on the next open.
 *
 * Journalling: every tokenisation, status change, detokenisation (and refused attempt), alert
 * and rotation step is handed to a token_journal_fn before it takes effect (before the card
 * number is returned, for a detokenisation), with the token's derived id and who asked; never
 * the card number. A journal failure abandons the operation (JZ_UNAVAILABLE).
 *
 * Threads: every function may be called from any thread; the vault locks itself. Writers
 * (tokenise, status change, rotation start) run one at a time; reads and detokenisations run
 * beside them, waiting only for short store operations.
 *
 * Depends on crypto and store_vault only (not on the API, ledger or executor).
 */
#ifndef JZ_TOKEN_H
#define JZ_TOKEN_H

#include "common.h"
#include "store_vault.h"

#define TOKEN_PAN_MIN 13
#define TOKEN_PAN_MAX 19
#define TOKEN_LEN_MAX 19
#define TOKEN_PREFIX_MAX 8
#define TOKEN_CHANNEL_MAX VAULT_CHANNEL_MAX
/* Tries at a fresh random token before giving up with token_range_exhausted: a range that
 * is this full is to be widened (a longer length_min or another prefix), not hammered. */
#define TOKEN_GENERATE_TRIES 32
/* Cards are issued for at most about ten years; an expiry further out is a typing error. */
#define TOKEN_EXPIRY_YEARS_MAX 20
/* Issuers named in one alert (the rest are counted, not named). */
#define TOKEN_ALERT_ISSUERS_MAX 16
#define TOKEN_BURST_MAX 10000
#define TOKEN_EVENT_TEXT_MAX 160
/* The plain card record sealed for each token: length byte, 19 digit places, expiry YYMM. */
#define TOKEN_RECORD_BYTES 24

enum token_status { TOKEN_ACTIVE = 1, TOKEN_SUSPENDED = 2, TOKEN_DELETED = 3 };

/* The vault's settings: DIR/tokens.conf ("key = value" lines, '#' comments), all optional. */
struct token_config {
    char prefix[TOKEN_PREFIX_MAX + 1]; /* token_prefix: the token range, 1-8 digits */
    uint32_t length_min;        /* token_length_min: 13-19, >= prefix + 6 (default 16) */
    uint32_t burst_count;       /* detokenize_burst: this many by one requestor ... */
    int64_t burst_window_ms;    /* detokenize_window_ms: ... within this window: an alert */
    uint32_t rotate_batch;      /* rotate_batch: rows re-encrypted per transaction */
    uint32_t rotate_pause_ms;   /* rotate_pause_ms: pause between those transactions */
    char kek_path[1024];        /* kek_file: "" = DIR/vault.kek */
};

void token_config_default(struct token_config *cfg);
/* Reads DIR/tokens.conf over the defaults (an absent file leaves them). -1 with err naming
 * the line for an unknown key or a value out of range. */
int token_config_read(const char *dir, struct token_config *cfg, char *err, size_t err_len);
/* Checks a configuration: 0, or -1 with err. */
int token_config_check(const struct token_config *cfg, char *err, size_t err_len);

/* ---- Pure helpers ---- */

/* True when s (n digits) passes the Luhn check. */
bool token_luhn_valid(const char *s, size_t n);
/* JZ_OK for 13-19 ASCII digits passing Luhn, else JZ_INVALID_PAN. */
int token_pan_check(const char *pan);
/* "YYMM" (20YY, month 01-12): JZ_OK and *expires_at (the first instant after that month,
 * UTC+8, in ms), or JZ_INVALID_EXPIRY when malformed, already over at now_ms, or more than
 * TOKEN_EXPIRY_YEARS_MAX years ahead. */
int token_expiry_parse(const char *yymm, int64_t now_ms, int64_t *expires_at);
/* A fresh random token for pan under cfg (not checked for uniqueness): 0, or -1 when no
 * randomness. out gets max(len(pan), length_min) digits and a NUL. */
int token_generate(const struct token_config *cfg, const char *pan, char out[TOKEN_LEN_MAX + 1]);
/* The id that stands for a token in the journal: the first 16 bytes of
 * SM3("jiaozi/token/" || token). */
void token_id_of(const char *token, jz_id *out);
/* True for a well-formed channel: 1-32 characters [a-z0-9_.:-] ("app", "merchant:1234"). A
 * requestor is an institution id ([a-z0-9_]{1,16}). */
bool token_channel_valid(const char *channel);
bool token_institution_valid(const char *id);
const char *token_status_name(int status);
int token_status_parse(const char *s); /* 0 when unknown */

/* ---- Journal ---- */

enum token_event_kind {
    TOKEN_EVENT_TOKENIZE = 1,
    TOKEN_EVENT_STATUS = 2,
    TOKEN_EVENT_DETOKENIZE = 3,
    TOKEN_EVENT_REFUSED = 4, /* a detokenisation refused as outside the token's domain */
    TOKEN_EVENT_ROTATE_BEGIN = 5,
    TOKEN_EVENT_ROTATE_DONE = 6,
    TOKEN_EVENT_ALERT = 7,
};

/* What is journalled: subject = token_id_of(token) (zero for key events), other = the wallet
 * the token is bound to (zero when none), number = kind, text = "op=... by=... ..." with who
 * asked (never a card number). */
struct token_event {
    uint8_t kind;
    jz_id subject;
    jz_id other;
    int64_t number;
    char text[TOKEN_EVENT_TEXT_MAX + 1];
};

/* Returns 0 once the event is durable, -1 when it could not be journalled. NULL fn: events
 * are not journalled (unit tests and the benchmark). */
typedef int (*token_journal_fn)(void *ctx, const struct token_event *ev);

/* ---- The vault ---- */

typedef struct token_vault token_vault;

/* Opens DIR/vault.db. A new vault gets a lookup key and data key version 1, wrapped under
 * the KEK (created, mode 0600, if its file does not exist yet). An existing vault needs its
 * KEK: a missing, group/world-readable or wrong KEK is an error, never a fresh key. The vault
 * is owned by the caller (token_vault_close; NULL does nothing). */
int token_vault_open(const char *dir, const struct token_config *cfg, token_vault **out,
                     char *err, size_t err_len);
/* Stops the rotation worker (a rotation resumes at the next open), wipes every key. */
void token_vault_close(token_vault *v);
const struct token_config *token_vault_config(const token_vault *v);

struct token_domain {
    char requestor[VAULT_INST_MAX + 1]; /* an institution id */
    char channel[TOKEN_CHANNEL_MAX + 1];
};

/* A token's metadata: never the card number. */
struct token_info {
    char token[TOKEN_LEN_MAX + 1];
    jz_id id; /* token_id_of(token) */
    char last4[5];
    char expiry[5]; /* YYMM */
    int64_t expires_at;
    bool expired;   /* at the `now` of the call */
    uint8_t status; /* enum token_status */
    char issuer[VAULT_INST_MAX + 1];
    jz_id wallet;
    struct token_domain domain;
    uint32_t key_version; /* 0 once deleted */
    int64_t created_at;
    int64_t updated_at;
};

struct token_request {
    const char *pan;    /* 13-19 digits; read, never kept */
    const char *expiry; /* YYMM */
    jz_id wallet;
    const char *issuer; /* the operator tokenising (owns the wallet) */
    struct token_domain domain;
};

/* Tokenises. The same card for the same issuer and domain (a token not deleted) returns that
 * token (*created = false) when the wallet and expiry match, else JZ_ID_CONFLICT with *field
 * "wallet" or "expiry". Codes: JZ_OK, JZ_INVALID_PAN (also for a number that is one of this
 * vault's tokens), JZ_INVALID_EXPIRY, JZ_ID_CONFLICT, JZ_TOKEN_RANGE_EXHAUSTED, JZ_UNAVAILABLE
 * (store, randomness or journal). *field names the input at fault ("" when none). */
int token_tokenize(token_vault *v, const struct token_request *rq, int64_t now_ms,
                   token_journal_fn journal, void *jctx, struct token_info *out, bool *created,
                   const char **field);

/* Metadata: JZ_OK or JZ_TOKEN_NOT_FOUND (JZ_UNAVAILABLE on a store error). */
int token_get(token_vault *v, const char *token, int64_t now_ms, struct token_info *out);

/* Changes the status (only by the issuer). active <-> suspended; either -> deleted (final).
 * Asking for the status the token has is JZ_OK with nothing journalled. Codes: JZ_OK,
 * JZ_TOKEN_NOT_FOUND, JZ_FORBIDDEN (not the issuer), JZ_TOKEN_DELETED (any change of a deleted
 * token), JZ_TOKEN_EXPIRED (resuming an expired one), JZ_INVALID_FIELD (unknown status),
 * JZ_UNAVAILABLE. out (may be NULL) gets the token as it now is. */
int token_set_status(token_vault *v, const char *token, const char *caller, int status,
                     int64_t now_ms, token_journal_fn journal, void *jctx,
                     struct token_info *out);

/* The card number of a token, for the token's issuer, or for its requestor naming the token's
 * own domain (requestor and channel): anyone else gets JZ_FORBIDDEN, journalled as a refused
 * attempt. Then JZ_TOKEN_DELETED, JZ_TOKEN_SUSPENDED, JZ_TOKEN_EXPIRED; JZ_TOKEN_NOT_FOUND;
 * JZ_UNAVAILABLE. Every call counts towards the caller's burst (an alert when it passes
 * burst_count within burst_window_ms). pan is written (and must be wiped by the caller) only
 * on JZ_OK, after the detokenisation is journalled. */
int token_detokenize(token_vault *v, const char *token, const char *caller,
                     const struct token_domain *asked, int64_t now_ms, token_journal_fn journal,
                     void *jctx, char pan[TOKEN_PAN_MAX + 1]);

/* ---- Use in payments: exchange_in / exchange_out naming the bank-side card ---- */

/* The checks of a transfer naming `token` as the card paid from (exchange_in, wallet =
 * the credit) or to (exchange_out, wallet = the debit), by institution `caller`: JZ_OK, or
 * JZ_TOKEN_NOT_FOUND, JZ_FORBIDDEN (not the caller's token), JZ_TOKEN_DELETED,
 * JZ_TOKEN_SUSPENDED, JZ_TOKEN_EXPIRED, JZ_TOKEN_WALLET_MISMATCH, JZ_UNAVAILABLE. */
int token_check_payment(token_vault *v, const char *token, const char *caller,
                        const jz_id *wallet, int64_t now_ms);

/* The hooks of the transfer routes (api.c calls them; api_token.c implements them against the
 * vault the API opened). A transfer body's "token" (at most TOKEN_FIELD_MAX bytes) names the
 * bank card of an exchange_in or exchange_out.
 *
 * token_transfer_parse, while a body is read (no caller needed): the kind must be exchange_in
 * or exchange_out, the token 13-19 digits, and "ref" left out; "token:<token>" then goes into
 * cmd->ref, so the token is part of the idempotency content and of the journalled transfer.
 * 0, or -1 with e set (field = prefix + "token" or "ref").
 *
 * token_transfer_authorize, once cmds[i].actor is set, before the commands are submitted:
 * every command whose ref starts with "token:" (however it got there: such refs are reserved)
 * must name a token of its actor, active, unexpired and bound to the wallet credited
 * (exchange_in) or debited (exchange_out). A refusal is skipped when the transfer id is already
 * known to the ledger (a replay gets the ledger's first answer). 0, or -1 with e set (field
 * "token", or "transfers[i].token" when batch). With no vault open: invalid_field. */
#define TOKEN_FIELD_MAX 32
#define TOKEN_REF_PREFIX "token:"
struct api_error;
struct ledger_cmd;
int token_transfer_parse(const char *token, const char *prefix, struct ledger_cmd *cmd,
                         struct api_error *e);
int token_transfer_authorize(const struct ledger_cmd *cmds, size_t n, bool batch,
                             struct api_error *e);

/* ---- Keys ---- */

/* Starts a rotation: a new data key (version current + 1) becomes the one that seals new
 * records; older rows are re-encrypted by token_rotate_step. JZ_ROTATION_IN_PROGRESS while an
 * older data key is still in use; JZ_UNAVAILABLE when the KEK or the store fails. */
int token_rotate_begin(token_vault *v, int64_t now_ms, token_journal_fn journal, void *jctx,
                       uint32_t *version);
/* One small transaction of the rotation: re-encrypts up to max_rows rows under the current
 * key; once none is left, deletes the keys no row uses. *done: no older data key remains.
 * 0, or -1 on a store or crypto error (nothing of this step is kept). */
int token_rotate_step(token_vault *v, uint32_t max_rows, uint32_t *moved, bool *done);
/* Runs the rotation on a background thread (rotate_batch rows a step, rotate_pause_ms
 * between steps) until done, then journals TOKEN_EVENT_ROTATE_DONE through journal (which
 * must stay valid until the vault is closed). Does nothing if no rotation is pending or one
 * is running. 0, or -1 if the thread could not start. */
int token_rotation_start(token_vault *v, token_journal_fn journal, void *jctx);
/* True while the worker thread runs. */
bool token_rotation_running(token_vault *v);

#define TOKEN_KEYS_MAX 4
struct token_key_status {
    uint32_t current; /* the data key that seals new records */
    size_t nkeys;     /* data keys present */
    uint32_t versions[TOKEN_KEYS_MAX];
    uint64_t rows[TOKEN_KEYS_MAX]; /* rows sealed under each */
    uint64_t tokens;               /* rows of every status */
    bool rotating;                 /* more than one data key */
};
int token_key_status(token_vault *v, struct token_key_status *out);

/* ---- Alerts (read by the alert system when it lands: docs/tokens.md) ---- */

/* Alerts newest first, ids < before (0: from the newest), at most max; visible_to NULL for
 * all, else only those naming that issuer among the tokens detokenised. 0 or -1. */
int token_alerts_list(token_vault *v, const char *visible_to, int64_t before,
                      struct vault_alert_row *out, size_t max, size_t *n);

/* ---- Bulk loading and figures ---- */

/* Between these, tokenisations share one store transaction (test and benchmark set-up: a
 * crash loses the whole bulk). One thread; no other writer meanwhile. 0 or -1. */
int token_bulk_begin(token_vault *v);
int token_bulk_commit(token_vault *v);

struct token_stats {
    uint64_t tokenized;       /* new tokens */
    uint64_t detokenized;     /* card numbers returned */
    uint64_t refused;         /* detokenisations refused as outside the domain */
    uint64_t alerts;          /* bursts raised */
    uint64_t collisions;      /* random tokens that were taken and drawn again */
    uint64_t resealed;        /* rows re-encrypted by rotations */
    uint32_t key_version;     /* the data key sealing new records */
    uint32_t data_keys;       /* data keys present: 2 while a rotation runs */
};
void token_get_stats(token_vault *v, struct token_stats *out);

#endif
