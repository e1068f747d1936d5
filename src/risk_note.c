/*
 * risk_note.c: the journalled events of the risk module (see risk_note.h).
 */
#include "risk_note.h"

#include "command.h"

/* A length-prefixed string: n u8 then n bytes (at most max). */
static size_t put_str(uint8_t *p, const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    p[0] = (uint8_t)n;
    memcpy(p + 1, s, n);
    return n + 1;
}

/* Reads a length-prefixed string into out (room for max + 1); 0 on a bad length. */
static size_t get_str(const uint8_t *p, size_t avail, char *out, size_t max)
{
    if (avail < 1 || p[0] > max || (size_t)p[0] + 1 > avail) {
        return 0;
    }
    memcpy(out, p + 1, p[0]);
    out[p[0]] = '\0';
    return (size_t)p[0] + 1;
}

size_t risk_note_encode(const struct risk_note *n, uint8_t *data)
{
    size_t len = 0;
    data[len++] = n->event;
    if (n->topic == LEDGER_NOTE_DISCLOSURE) {
        if (n->event == DISCLOSURE_REQUEST || n->event == DISCLOSURE_REFUSE) {
            len += put_str(data + len, n->basis, DISCLOSURE_BASIS_MAX);
        }
    } else if (n->event == RISK_NOTE_RULES) {
        memcpy(data + len, n->sm3, CRYPTO_SM3_BYTES);
        len += CRYPTO_SM3_BYTES;
        put_u16(data + len, n->rules);
        len += 2;
    } else if (n->event == RISK_NOTE_DENY || n->event == RISK_NOTE_REVIEW) {
        put_u32(data + len, n->version);
        len += 4;
        len += put_str(data + len, n->rule_id, RISK_NAME_MAX);
    } else if (n->event == RISK_NOTE_CASE) {
        len += put_str(data + len, n->assignee, ALERT_ASSIGNEE_MAX);
        len += put_str(data + len, n->note, ALERT_NOTE_MAX);
    }
    ASSERT(len <= JZ_HOLDER_SEALED_MAX);
    return len;
}

static int decode_risk(const uint8_t *d, size_t len, struct risk_note *out)
{
    switch (out->event) {
    case RISK_NOTE_RULES:
        if (len != 1 + CRYPTO_SM3_BYTES + 2) {
            return -1;
        }
        memcpy(out->sm3, d + 1, CRYPTO_SM3_BYTES);
        out->rules = get_u16(d + 1 + CRYPTO_SM3_BYTES);
        out->version = (uint32_t)out->number;
        return 0;
    case RISK_NOTE_DENY:
    case RISK_NOTE_REVIEW:
        if (len < 5) {
            return -1;
        }
        out->version = get_u32(d + 1);
        return get_str(d + 5, len - 5, out->rule_id, RISK_NAME_MAX) == len - 5 ? 0 : -1;
    case RISK_NOTE_DEVICE:
    case RISK_NOTE_SCREENED:
        return len == 1 ? 0 : -1;
    case RISK_NOTE_CASE: {
        size_t a = get_str(d + 1, len - 1, out->assignee, ALERT_ASSIGNEE_MAX);
        size_t b = a ? get_str(d + 1 + a, len - 1 - a, out->note, ALERT_NOTE_MAX) : 0;
        return a && b && 1 + a + b == len ? 0 : -1;
    }
    default:
        return -1;
    }
}

int risk_note_decode(const struct ledger_cmd *c, struct risk_note *out)
{
    memset(out, 0, sizeof *out);
    if (c->op != LEDGER_OP_NOTE || c->holder_len < 1 ||
        (c->kind != LEDGER_NOTE_RISK && c->kind != LEDGER_NOTE_DISCLOSURE)) {
        return -1;
    }
    const uint8_t *d = c->holder;
    size_t len = c->holder_len;
    out->topic = c->kind;
    out->event = d[0];
    out->id = c->id;
    out->other = c->debit;
    out->number = c->amount;
    if (c->kind == LEDGER_NOTE_RISK) {
        return decode_risk(d, len, out);
    }
    if (out->event == DISCLOSURE_REQUEST || out->event == DISCLOSURE_REFUSE) {
        return get_str(d + 1, len - 1, out->basis, DISCLOSURE_BASIS_MAX) == len - 1 ? 0 : -1;
    }
    return (out->event == DISCLOSURE_APPROVE || out->event == DISCLOSURE_REVEAL) && len == 1
               ? 0 : -1;
}

void risk_note_command(const struct risk_note *n, uint16_t actor, struct ledger_cmd *c)
{
    memset(c, 0, sizeof *c);
    c->op = LEDGER_OP_NOTE;
    c->actor = actor;
    c->kind = n->topic;
    c->id = n->id;
    c->debit = n->other;
    c->amount = n->number;
    c->holder_len = (uint8_t)risk_note_encode(n, c->holder);
}

const char *disclosure_event_name(int event)
{
    static const char *const names[] = {"", "requested", "approved", "refused", "revealed"};
    return event >= 1 && event <= 4 ? names[event] : "";
}

const char *disclosure_reason_name(int reason)
{
    static const char *const names[] = {"", "no_legal_basis", "no_second_approver",
                                        "wrong_role", "not_approved"};
    return reason >= 1 && reason <= 4 ? names[reason] : "";
}
