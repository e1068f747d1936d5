/*
 * api_clearing_int.h: what the clearing module's two route files (api_clearing.c: cycles,
 * files, fees, schedule, reconciliation; api_clearing_adj.c: adjustments and disputes)
 * share. The module's state is one lock around the engine and the store: clearing requests
 * are few and may block (a cut-off reads a whole cycle), so they run one at a time on the
 * HTTP worker threads and never touch the transfer path.
 */
#ifndef JZ_API_CLEARING_INT_H
#define JZ_API_CLEARING_INT_H

#include <pthread.h>

#include "api_clearing.h"
#include "clearing_cycle.h"

struct clr {
    api *a;
    node *nd;
    executor *ex;
    store_clearing *st;
    clearing_engine *eng;
    pthread_mutex_t mu;  /* the engine, the store and the fields below */
    pthread_cond_t cond; /* wakes the scheduler: settings changed, or stopping */
    pthread_t thread;
    bool thread_started;
    bool stop;
    int64_t every_ms;     /* scheduled cut-off every this many ms after the last; 0 = none */
    int32_t daily_at_min; /* and/or daily at this minute of the day in UTC+8; -1 = none */
    int64_t started_ms;
};

/* Approver roles of an adjustment (docs/clearing.md). */
enum clr_role { CLR_ROLE_OFFICER = 1, CLR_ROLE_OPERATOR = 2 };
const char *clr_role_name(int role);

/* The cycle named by path parameter i (decimal): 0 with *out, or -1 with the response set
 * (invalid_field, not_found, unavailable). Lock held. */
int clr_cycle_param(api_call *c, struct clr *k, int i, struct clearing_cycle_info *out);
/* Journals a LEDGER_NOTE_CLEARING note whose data is [type] + rest. 0, or -1 with the
 * response set. */
int clr_note(api_call *c, uint8_t type, const jz_id *subject, const jz_id *other, int64_t number,
             const void *rest, size_t rest_len);
/* An id derived from another under a label (the SM3 of both, cut to 16 bytes). */
void clr_derive_id(const char *label, const jz_id *in, jz_id *out);
/* ,"key":v, or ,"key":null when not present. */
void clr_int_or_null(struct jbuf *b, const char *key, bool present, int64_t v);
/* A 503 for a store or engine failure. */
void clr_fail_store(api_call *c);
/* A reason: 1-JZ_MEMO_MAX bytes, not only spaces. 0, or -1 with the response set. */
int clr_check_reason(api_call *c, const char *reason, bool present);

void clr_h_adjust(api_call *c, json_t *body);
void clr_h_adjustment(api_call *c, json_t *body);
void clr_h_approve(api_call *c, json_t *body);
void clr_h_dispute(api_call *c, json_t *body);
void clr_h_dispute_get(api_call *c, json_t *body);
void clr_h_accept(api_call *c, json_t *body);
void clr_h_reject(api_call *c, json_t *body);

#endif
