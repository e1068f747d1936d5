/*
 * api_risk.h: the risk module's routes (docs/api.md "Risk, alerts, reports, disclosures")
 * and the few hooks the core handlers call.
 *
 * Hooks (each does nothing but call the core's own path when the risk module is not
 * running, or no rule is in force):
 *   risk_hook_transfers  POST /v1/transfers and /batch: screens the transfers, submits
 *                        what the rules let through (a review becomes a hold with the
 *                        transfer's id), journals each denial and review (risk_note.h),
 *                        and either leaves the answer to the core (returns 0, results
 *                        filled) or writes it itself (returns 1: a denial, a review, or a
 *                        batch holding either; or a 503 from the executor).
 *   risk_hook_hold       POST /v1/holds: a denied hold is refused (returns 1, answered).
 *   risk_hook_mask       what an institution reads of a transfer or hold: a tier-4
 *                        wallet of another operator appears as its pseudonym.
 *   risk_hook_metrics    the monitor's lag and the rules' figures in /metrics.
 */
#ifndef JZ_API_RISK_H
#define JZ_API_RISK_H

#include "alert.h"
#include "api_ext.h"

extern const struct api_ext api_ext_risk;

int risk_hook_transfers(api_call *c, struct ledger_cmd *cmds, uint32_t n,
                        struct ledger_result *results, bool batch);
int risk_hook_hold(api_call *c, const struct ledger_cmd *cmd);
void risk_hook_mask(api_call *c, jz_id *debit, jz_id *credit);
void risk_hook_metrics(api *a, struct jbuf *b);
/* Whether rules are in force (transfers must then go through risk_hook_transfers). */
bool risk_screening_active(api *a);

/* The alert sink of the risk module running with api a (alert.h), or NULL. */
const struct alert_sink *api_risk_alert_sink(api *a);

#endif
