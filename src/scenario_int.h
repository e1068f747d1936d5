/*
 * scenario_int.h: what the payment scenario files share (issue 7): the module's state, id
 * derivation, journal notes, reads of any wallet, and the JSON helpers of their routes.
 *
 *   api_scenarios.c      the route table, open/close, the expiry ticker
 *   scenario_wallets.c   child wallets (with or without a restriction), disbursements
 *   scenario_merchant.c  merchants, their keys, orders, QR payments, refunds
 *   scenario_bill.c      billers, bill files, bill payments, the daily paid-bills file
 *   scenario_campaign.c  red-envelope campaigns: pool, registrations, the draw, prizes
 *   scenario_draw.c      the draw itself (pure: the CLI re-runs it)
 *   scenario_qr.c        QR payloads: format, SM2 signature, parsing
 *
 * Money moves only in the ledger, through commands run on the caller's authority (or, where
 * a scenario credits another operator's customer, that operator's authority for the wallet
 * it opens to receive). Ids of the transfers a scenario makes are derived from what they pay
 * (an order, a bill, a prize), so paying twice is the ledger's idempotent replay or an
 * id_conflict, never a second debit.
 */
#ifndef JZ_SCENARIO_INT_H
#define JZ_SCENARIO_INT_H

#include <pthread.h>

#include "api_ext.h"
#include "store_scenarios.h"

#define SCEN_LOCKS 64 /* stripes of the per-order refund lock */

struct scen {
    api *a;
    scen_store *store;
    uint8_t key[32]; /* the module's secret: keyed hashes of registrants */
    pthread_mutex_t refund_mu[SCEN_LOCKS];
    pthread_mutex_t merchant_mu; /* one merchant key made at a time */
    pthread_mutex_t draw_mu;     /* one draw at a time */
    pthread_mutex_t tick_mu;
    pthread_cond_t tick_cond;
    pthread_t ticker;
    bool ticker_started;
    bool stopping;
    /* The earliest expiry the ticker knows of (tick_mu): the ledger's next expiry when last
     * read, lowered by every restricted wallet the module opens since (restricted wallets
     * are opened nowhere else). `lowered` collects those while a read is on its way. Until
     * an expiry is due the ticker leaves the executor alone. */
    int64_t next_expiry;
    int64_t lowered;
};

/* What a scenario NOTE records (data[0]); the journal makes each tamper-evident. */
enum scen_event {
    SCEN_EV_MERCHANT = 1,
    SCEN_EV_ORDER = 2,
    SCEN_EV_REFUND = 3,
    SCEN_EV_BILLER = 4,
    SCEN_EV_BILLS = 5,
    SCEN_EV_CAMPAIGN = 6,
    SCEN_EV_REGISTRATION = 7,
    SCEN_EV_DRAW = 8,
    SCEN_EV_EXPIRY_DUE = 9,
};

static inline struct scen *scen_of(api_call *c)
{
    return api_call_state(c);
}

/* id = the first 16 bytes of SM3("jiaozi-scenario" 0 tag 0 a b): the transfer and wallet
 * ids a scenario derives (documented in docs/scenarios.md, so clients can compute them). */
void scen_derive(const char *tag, const void *a, size_t a_len, const void *b, size_t b_len,
                 jz_id *out);

/* Journals a scenario NOTE by the caller: data = event byte, then `len` bytes. 0 or -1
 * with the response set. */
int scen_note(api_call *c, uint8_t event, const jz_id *subject, const jz_id *other,
              int64_t number, const void *data, size_t len);

/* The i-th path parameter as an id: 0, or -1 with 400 invalid_field "id" answered. */
int scen_path_id(api_call *c, int i, jz_id *out);
/* 503 unavailable: the scenario store failed. */
void scen_fail_store(api_call *c);
/* A store lookup's outcome: true when rc is 0 (found); else answers `code` naming field (rc
 * 1: not found) or 503 (rc < 0) and returns false. */
bool scen_found(api_call *c, int rc, int code, const char *field, const char *message);

/* Reads any wallet (a scenario may credit another operator's customer): 0, or -1 with the
 * response set to wallet_not_found naming field. */
int scen_wallet_any(api_call *c, const jz_id *id, const char *field,
                    struct ledger_wallet_view *out);

/* The ledger's remembered result of a transfer id: 0 and *r, 1 when unknown, -1 (response
 * set) when the node cannot answer. */
int scen_transfer_result(api_call *c, const jz_id *id, struct ledger_result *r);

/* Writes a posted transfer as the core does ({"id","debit","credit",...}), without the
 * closing brace when open_end is true (the caller adds fields). */
void scen_write_transfer(struct jbuf *b, const struct ledger_cmd *cmd, int64_t timestamp,
                         bool open_end);

/* A ledger refusal, its field named under prefix ("restriction." for a restriction). */
void scen_fail_result(api_call *c, const struct ledger_result *r, const char *prefix);

/* Parses a JSON array of merchant category codes (1..9999, at most
 * JZ_RESTRICTION_MCCS_MAX) named `field`. 0 or -1 with the response set. */
int scen_parse_mccs(api_call *c, json_t *arr, const char *field, uint16_t *mccs,
                    uint8_t *count);
void scen_write_mccs(struct jbuf *b, const uint16_t *mccs, uint8_t count);


/* Route handlers. */
void scen_h_children_open(api_call *c, json_t *body);
void scen_h_children_list(api_call *c, json_t *body);
void scen_h_disburse(api_call *c, json_t *body);
void scen_h_merchant_create(api_call *c, json_t *body);
void scen_h_merchant_get(api_call *c, json_t *body);
void scen_h_order_create(api_call *c, json_t *body);
void scen_h_order_get(api_call *c, json_t *body);
void scen_h_pay(api_call *c, json_t *body);
void scen_h_refund(api_call *c, json_t *body);
void scen_h_biller_create(api_call *c, json_t *body);
void scen_h_biller_get(api_call *c, json_t *body);
void scen_h_bills_upload(api_call *c, json_t *body);
void scen_h_bill_get(api_call *c, json_t *body);
void scen_h_bill_pay(api_call *c, json_t *body);
void scen_h_bills_paid(api_call *c, json_t *body);
void scen_h_campaign_create(api_call *c, json_t *body);
void scen_h_campaign_get(api_call *c, json_t *body);
void scen_h_register(api_call *c, json_t *body);
void scen_h_draw(api_call *c, json_t *body);
void scen_h_draw_get(api_call *c, json_t *body);

/* A restricted wallet expiring at t was opened: the ticker must look at t. */
void scen_expiry_hint(struct scen *s, int64_t t);

/* Loads every merchant's key into the authenticator (at open). */
int scen_merchants_load(struct scen *s, char *err, size_t err_len);

#endif
