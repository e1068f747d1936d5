/*
 * alert.c: alert ids, names and the case state machine (see alert.h).
 */
#include "alert.h"

#include "crypto.h"

int alert_raise(const struct alert_sink *sink, const struct alert_raise *a, jz_id *id)
{
    if (!sink || !sink->raise || a->kind < 1 || a->kind > ALERT_KIND_MAX ||
        a->severity < ALERT_LOW || a->severity > ALERT_HIGH ||
        a->nevidence > ALERT_EVIDENCE_MAX || !memchr(a->params, '\0', sizeof a->params)) {
        return -1;
    }
    jz_id tmp;
    return sink->raise(sink->ctx, a, id ? id : &tmp);
}

void alert_id(uint8_t kind, const jz_id *subject, const jz_id *trigger, jz_id *out)
{
    static const char tag[] = "jiaozi alert v1";
    uint8_t msg[sizeof tag + 1 + 32];
    uint8_t h[CRYPTO_SM3_BYTES];
    memcpy(msg, tag, sizeof tag);
    msg[sizeof tag] = kind;
    memcpy(msg + sizeof tag + 1, subject->b, 16);
    memcpy(msg + sizeof tag + 17, trigger->b, 16);
    ASSERT(crypto_sm3(msg, sizeof msg, h) == 0);
    memcpy(out->b, h, sizeof out->b);
}

const char *alert_kind_name(int kind)
{
    static const char *const names[] = {"", "structuring", "rapid_in_out", "fan_in", "fan_out",
                                        "dormant", "circular", "rule_review", "double_spend",
                                        "token", "card", "other"};
    return kind >= 1 && kind <= ALERT_KIND_MAX ? names[kind] : "";
}

const char *alert_severity_name(int severity)
{
    return severity == ALERT_HIGH ? "high" : severity == ALERT_MEDIUM ? "medium"
         : severity == ALERT_LOW ? "low" : "";
}

static const char *const status_names[] = {"", "open", "investigating", "closed_suspicious",
                                           "closed_ok"};

const char *alert_status_name(int status)
{
    return status >= ALERT_OPEN && status <= ALERT_CLOSED_OK ? status_names[status] : "";
}

int alert_status_parse(const char *s)
{
    for (int i = ALERT_OPEN; i <= ALERT_CLOSED_OK; i++) {
        if (strcmp(s, status_names[i]) == 0) {
            return i;
        }
    }
    return 0;
}

bool alert_transition_ok(int from, int to)
{
    bool open = from == ALERT_OPEN || from == ALERT_INVESTIGATING;
    return open && to >= ALERT_INVESTIGATING && to <= ALERT_CLOSED_OK && to != from;
}
