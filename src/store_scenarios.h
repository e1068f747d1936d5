/*
 * store_scenarios.h: the payment scenarios' own records (merchants, orders, refunds, billers
 * and bills, campaigns, registrations, draws, child wallets), in SQLite at
 * DIR/scenarios.db. Only this module includes SQLite for them.
 *
 * What this store holds is the scenarios' bookkeeping, never money: every amount that moves
 * does so in the ledger, by a transfer whose id the scenario derives (order payment, bill
 * payment, prize) or the client chose (refunds). Where a ledger result and this store could
 * disagree after a crash (the transfer is durable, the row not yet written), the scenario
 * code asks the ledger again (ledger_transfer_result of the derived id) and mends the row.
 *
 * Thread-safe: one connection behind a mutex (the scenarios are not the hot path). Each
 * function returns 0 on success, 1 for "not found" or "already there" where it says so, and
 * -1 on a storage error. Strings are NUL-terminated and bounded by the struct fields.
 */
#ifndef JZ_STORE_SCENARIOS_H
#define JZ_STORE_SCENARIOS_H

#include "common.h"
#include "ledger.h"

typedef struct scen_store scen_store;

/* Opens (creating when absent) the database at path. */
int scen_store_open(const char *path, scen_store **out, char *err, size_t err_len);
void scen_store_close(scen_store *s);

/* Small named values (the module's key). get: 0 and *len, 1 when absent. */
int scen_store_meta_get(scen_store *s, const char *key, void *buf, size_t cap, size_t *len);
int scen_store_meta_put(scen_store *s, const char *key, const void *data, size_t len);

/* ---- Child wallets opened through the scenario routes ---- */
int scen_store_child_put(scen_store *s, const jz_id *child, const jz_id *parent, int64_t at);
/* Up to cap children of parent, oldest first. */
int scen_store_children(scen_store *s, const jz_id *parent, jz_id *out, uint32_t cap,
                        uint32_t *n);

/* ---- Merchants ---- */
#define SCEN_NAME_MAX 64
#define SCEN_SEALED_BYTES 80

struct scen_merchant {
    jz_id wallet;
    int32_t operator_index;
    uint16_t mcc;
    char name[SCEN_NAME_MAX + 1];
    jz_id key_id;
    uint8_t sealed[SCEN_SEALED_BYTES]; /* the key's secret, sealed under the master key */
    int64_t created_at;
};
/* 1 when the wallet is a merchant already. */
int scen_store_merchant_put(scen_store *s, const struct scen_merchant *m);
int scen_store_merchant_get(scen_store *s, const jz_id *wallet, struct scen_merchant *out);
/* Calls fn for every merchant (to load their keys at start). */
int scen_store_merchant_each(scen_store *s, void (*fn)(void *ctx, const struct scen_merchant *m),
                             void *ctx);

/* ---- Orders and refunds ---- */
struct scen_order {
    jz_id id;
    jz_id merchant;
    int64_t amount;
    int64_t expires_at;
    int64_t created_at;
    char ref[JZ_REF_MAX + 1];
    char memo[JZ_MEMO_MAX + 1];
    jz_id payer;     /* zero until paid */
    jz_id transfer;  /* the payment's transfer id (derived from the order id) */
    int64_t paid_at; /* the ledger timestamp of the payment; 0 until paid */
};
int scen_store_order_put(scen_store *s, const struct scen_order *o); /* 1 when it exists */
int scen_store_order_get(scen_store *s, const jz_id *id, struct scen_order *out);
int scen_store_order_paid(scen_store *s, const jz_id *id, const jz_id *payer, int64_t paid_at);

enum scen_refund_status { SCEN_REFUND_PENDING = 0, SCEN_REFUND_POSTED = 1, SCEN_REFUND_FAILED = 2 };

struct scen_refund {
    jz_id id; /* the refund's transfer id, chosen by the merchant */
    jz_id order;
    int64_t amount;
    int32_t status; /* enum scen_refund_status */
    int64_t created_at;
};
int scen_store_refund_put(scen_store *s, const struct scen_refund *r); /* 1 when it exists */
int scen_store_refund_get(scen_store *s, const jz_id *id, struct scen_refund *out);
int scen_store_refund_status(scen_store *s, const jz_id *id, int status);
/* Sums of an order's refunds that are posted, and pending (not known to have failed). */
int scen_store_refund_sums(scen_store *s, const jz_id *order, int64_t *posted, int64_t *pending);
/* Up to cap pending refunds of an order. */
int scen_store_refunds_pending(scen_store *s, const jz_id *order, struct scen_refund *out,
                               uint32_t cap, uint32_t *n);

/* ---- Billers and bills ---- */
#define SCEN_CATEGORY_MAX 16
#define SCEN_BILL_REF_MAX 32
#define SCEN_PAYER_NAME_MAX 64 /* bytes of the masked name */

struct scen_biller {
    jz_id wallet;
    int32_t operator_index;
    char name[SCEN_NAME_MAX + 1];
    char category[SCEN_CATEGORY_MAX + 1];
    int64_t created_at;
};
int scen_store_biller_put(scen_store *s, const struct scen_biller *b); /* 1 when it exists */
int scen_store_biller_get(scen_store *s, const jz_id *wallet, struct scen_biller *out);

struct scen_bill {
    jz_id biller;
    char reference[SCEN_BILL_REF_MAX + 1];
    int64_t amount;
    char due_date[11];                       /* YYYY-MM-DD */
    char payer_name[SCEN_PAYER_NAME_MAX + 1]; /* masked before it is stored */
    int64_t uploaded_at;
    jz_id payer;
    jz_id transfer;
    int64_t paid_at;
};
/* Bills of one upload, all or none (a transaction). For each: inserted, or left as it is
 * when an identical bill exists (counted in *unchanged); a different bill under the same
 * reference stops the upload: 1 and *conflict = its index. */
int scen_store_bills_put(scen_store *s, const struct scen_bill *bills, uint32_t n,
                         uint32_t *unchanged, uint32_t *conflict);
int scen_store_bill_get(scen_store *s, const jz_id *biller, const char *reference,
                        struct scen_bill *out);
int scen_store_bill_paid(scen_store *s, const jz_id *biller, const char *reference,
                         const jz_id *payer, const jz_id *transfer, int64_t paid_at);
/* Bills of biller not (yet) marked paid, through fn. */
int scen_store_bills_unpaid(scen_store *s, const jz_id *biller,
                            void (*fn)(void *ctx, const struct scen_bill *b), void *ctx);
/* Bills of biller paid in [from, to) (ledger time), oldest first, through fn. */
int scen_store_bills_paid_between(scen_store *s, const jz_id *biller, int64_t from, int64_t to,
                                  void (*fn)(void *ctx, const struct scen_bill *b), void *ctx);

/* ---- Campaigns ---- */
struct scen_campaign {
    jz_id id;
    int32_t operator_index;
    jz_id pool;
    char name[SCEN_NAME_MAX + 1];
    int64_t amount; /* per winner */
    int32_t winners;
    int64_t opens_at, closes_at, spend_expires_at;
    uint8_t mcc_count;
    uint16_t mccs[JZ_RESTRICTION_MCCS_MAX];
    uint8_t commitment[32]; /* SM3 of the seed, published at creation */
    uint8_t seed[32];       /* revealed at the draw */
    int64_t drawn_at;       /* 0 until drawn */
    int64_t created_at;
};
int scen_store_campaign_put(scen_store *s, const struct scen_campaign *c); /* 1: exists */
int scen_store_campaign_get(scen_store *s, const jz_id *id, struct scen_campaign *out);
int scen_store_campaign_drawn(scen_store *s, const jz_id *id, const uint8_t seed[32],
                              int64_t drawn_at);

struct scen_registration {
    jz_id campaign;
    jz_id reg;            /* keyed hash of the wallet or phone: the published, sortable id */
    int32_t operator_index; /* the registering operator, which opens the winner's wallet */
    jz_id wallet;         /* the registrant's wallet, or the one to open for a phone */
    bool has_wallet;      /* registered with a wallet (else with a phone) */
    uint8_t holder[JZ_HOLDER_SEALED_MAX]; /* phone registrations: the sealed holder record */
    uint8_t holder_len;
    int64_t created_at;
};
int scen_store_registration_put(scen_store *s, const struct scen_registration *r); /* 1: dup */
int scen_store_registration_count(scen_store *s, const jz_id *campaign, uint32_t *n);
/* Every registration of a campaign, ordered by reg (bytes): up to cap. */
int scen_store_registrations(scen_store *s, const jz_id *campaign,
                             struct scen_registration *out, uint32_t cap, uint32_t *n);

#endif
