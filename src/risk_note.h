/*
 * risk_note.h: what the risk module journals, as LEDGER_OP_NOTE commands of the topics
 * LEDGER_NOTE_RISK and LEDGER_NOTE_DISCLOSURE (ledger.h). The first data byte names the
 * event; the rest is laid out below (integers little-endian, strings length-prefixed).
 *
 * LEDGER_NOTE_RISK
 *   rules    id 0, debit 0, amount = version | 1 | sm3 [32] | rule count u16
 *   deny     id = transfer, debit = payer, amount = amount | 2 | version u32 | n u8 | rule id
 *   review   as deny, event 3: the payment became a hold with the transfer's id
 *   device   id = wallet, debit = SM3(device)[0..16), amount 0 | 4
 *   case     id = alert, debit 0, amount = new status (0 = unchanged)
 *            | 5 | n u8 | assignee | m u8 | note
 *   screened id 0, debit 0, amount = velocity generation | 6: opens a request whose
 *            payments were counted in velocity when screened (risk_table.h)
 * LEDGER_NOTE_DISCLOSURE (the actor is the institution that acted)
 *   request  id = disclosure, debit = wallet | 1 | n u8 | legal basis
 *   approve  id = disclosure, debit = wallet | 2
 *   refuse   id = disclosure (0 when there was none), debit = wallet, amount = reason
 *            | 3 | n u8 | legal basis as given
 *   reveal   id = disclosure, debit = wallet | 4
 * Each fits JZ_HOLDER_SEALED_MAX (167) bytes.
 */
#ifndef JZ_RISK_NOTE_H
#define JZ_RISK_NOTE_H

#include "alert.h"
#include "crypto.h"
#include "ledger.h"
#include "risk.h"
#include "store_alerts.h"

enum risk_note_event {
    RISK_NOTE_RULES = 1,
    RISK_NOTE_DENY = 2,
    RISK_NOTE_REVIEW = 3,
    RISK_NOTE_DEVICE = 4,
    RISK_NOTE_CASE = 5,
    RISK_NOTE_SCREENED = 6,
};

enum disclosure_event {
    DISCLOSURE_REQUEST = 1,
    DISCLOSURE_APPROVE = 2,
    DISCLOSURE_REFUSE = 3,
    DISCLOSURE_REVEAL = 4,
};

/* Why a disclosure step was refused (journalled numbers). */
enum disclosure_reason {
    DISCLOSURE_NO_LEGAL_BASIS = 1,
    DISCLOSURE_SAME_INSTITUTION = 2, /* no second approver: the requester tried to approve */
    DISCLOSURE_WRONG_ROLE = 3,
    DISCLOSURE_NOT_APPROVED = 4,     /* a reveal before a second approval */
};

struct risk_note {
    uint8_t topic; /* LEDGER_NOTE_RISK or LEDGER_NOTE_DISCLOSURE */
    uint8_t event;
    jz_id id, other;
    int64_t number;
    uint32_t version;
    uint8_t sm3[CRYPTO_SM3_BYTES];
    uint16_t rules;
    char rule_id[RISK_NAME_MAX + 1];
    char assignee[ALERT_ASSIGNEE_MAX + 1];
    char note[ALERT_NOTE_MAX + 1];
    char basis[DISCLOSURE_BASIS_MAX + 1];
};

/* Encodes n's data bytes into data (JZ_HOLDER_SEALED_MAX); returns the length. */
size_t risk_note_encode(const struct risk_note *n, uint8_t *data);
/* Decodes a NOTE command of the two topics. 0, or -1 when it is not one or is malformed. */
int risk_note_decode(const struct ledger_cmd *c, struct risk_note *out);
/* Fills a NOTE command (actor, topic, ids, number, data) from n. */
void risk_note_command(const struct risk_note *n, uint16_t actor, struct ledger_cmd *c);

const char *disclosure_event_name(int event);
const char *disclosure_reason_name(int reason);

#endif
