/*
 * store_cards.h: the TSM's card registry in DIR/cards.db (SQLite, WAL, synchronous FULL):
 * cards with their certificate, status and float account, the TSM commands issued (by the
 * ledger transfer that paid for them, so a retried request gets the same command), the
 * vouchers seen by settlement (the evidence of what each (card, counter) was), and the
 * double-spend alerts. The money itself is in the ledger; every change here follows a
 * journalled ledger command or NOTE (api_card.c), and each step is idempotent, so a crash
 * between the two is repaired by the client's retry.
 *
 * All functions are thread-safe (one connection behind a mutex) and return 0, or -1 on a
 * storage error; lookups return 1 when nothing matches.
 */
#ifndef JZ_STORE_CARDS_H
#define JZ_STORE_CARDS_H

#include "common.h"
#include "limits.h"

#define STORE_CARD_CERT_MAX 2048

enum store_card_status {
    STORE_CARD_ACTIVE = 1,
    STORE_CARD_LOCKED = 2,  /* reported lost: certificate revoked, float kept for the window */
    STORE_CARD_CLOSED = 3,  /* closed or replaced: certificate revoked, float moved */
    STORE_CARD_REVOKED = 4, /* caught double spending: certificate revoked, wallet frozen */
};
const char *store_card_status_name(int status);

struct store_card {
    jz_id id;
    jz_id wallet;       /* the holder's wallet (named in the certificate) */
    jz_id float_wallet; /* the card's float account (form hard, child of wallet) */
    jz_id replaced_by;  /* zero unless reissued */
    char op[JZ_INSTITUTION_ID_MAX + 1];
    uint8_t tier;
    uint8_t status;
    int64_t per_payment, offline_total;
    uint32_t offline_count;
    uint32_t load_counter; /* TSM commands issued */
    int64_t not_after, created_at, status_at;
    char reason[24]; /* why the certificate was revoked: lost, closed, reissued, double_spend */
    uint8_t cert[STORE_CARD_CERT_MAX];
    size_t cert_len;
};

typedef struct store_cards store_cards;

int store_cards_open(const char *path, store_cards **out, char *err, size_t err_len);
void store_cards_close(store_cards *s);

/* Adds a card; 1 when the id exists already. */
int store_cards_put(store_cards *s, const struct store_card *c);
int store_cards_get(store_cards *s, const jz_id *id, struct store_card *out);
int store_cards_set_status(store_cards *s, const jz_id *id, uint8_t status, const char *reason,
                           int64_t at, const jz_id *replaced_by);
/* Calls fn for each card whose certificate is revoked (status other than active), oldest
 * first. */
typedef void (*store_cards_revoked_fn)(void *ctx, const jz_id *card, const char *reason,
                                       int64_t at);
int store_cards_revoked(store_cards *s, store_cards_revoked_fn fn, void *ctx);

/* A TSM command, keyed by the ledger transfer that paid for it. */
struct store_card_command {
    jz_id transfer;
    jz_id card;
    uint32_t counter;
    uint8_t type;
    int64_t amount;
    int64_t at;
    uint8_t blob[512]; /* what the card applies (voucher.h) */
    size_t blob_len;
};
int store_cards_command_get(store_cards *s, const jz_id *transfer, struct store_card_command *out);
/* Adds the command and sets the card's load_counter to its counter, in one transaction. */
int store_cards_command_put(store_cards *s, const struct store_card_command *c);

/* Vouchers seen by settlement. */
struct store_voucher {
    jz_id card;
    uint32_t counter;
    uint8_t body[121];
    uint8_t sig[80];
    size_t sig_len;
    int status; /* the jz_result of its settlement */
    int64_t at;
};
int store_cards_voucher_get(store_cards *s, const jz_id *card, uint32_t counter,
                            struct store_voucher *out);
/* Adds vouchers (an existing (card, counter) is left as it is), in one transaction. */
int store_cards_vouchers_put(store_cards *s, const struct store_voucher *v, size_t n);

/* Double-spend alerts: the two bodies and signatures with the same (card, counter). */
struct store_card_alert {
    int64_t id;
    jz_id card;
    uint32_t counter;
    struct store_voucher first, second;
    int64_t at;
};
/* 1 (and nothing added) when the same second voucher was reported already. */
int store_cards_alert_put(store_cards *s, const struct store_card_alert *a, int64_t *id);
typedef void (*store_cards_alert_fn)(void *ctx, const struct store_card_alert *a);
/* Alerts newest first; of the cards of `op` unless op is NULL (all). At most limit. */
int store_cards_alerts(store_cards *s, const char *op, uint32_t limit, store_cards_alert_fn fn,
                       void *ctx);

#endif
