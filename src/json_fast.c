/*
 * json_fast.c: the plain-form reader of transfer bodies (json_fast.h).
 */
#include "json_fast.h"

struct scan {
    const char *p, *end;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t')) {
        s->p++;
    }
}

static bool eat(struct scan *s, char c)
{
    skip_ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

/* A string of printable ASCII without escapes: *out points into the body. */
static bool plain_string(struct scan *s, const char **out, size_t *len)
{
    if (!eat(s, '"')) {
        return false;
    }
    const char *start = s->p;
    while (s->p < s->end && *s->p != '"') {
        unsigned char c = (unsigned char)*s->p;
        if (c < 0x20 || c > 0x7e || c == '\\') {
            return false;
        }
        s->p++;
    }
    if (s->p == s->end) {
        return false;
    }
    *out = start;
    *len = (size_t)(s->p - start);
    s->p++;
    return true;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool id_value(struct scan *s, jz_id *id)
{
    const char *v;
    size_t len;
    if (!plain_string(s, &v, &len) || len != 32) {
        return false;
    }
    for (int i = 0; i < 16; i++) {
        int hi = hex_value(v[2 * i]);
        int lo = hex_value(v[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        id->b[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* 1..JZ_AMOUNT_MAX as plain digits (no sign, fraction, exponent or leading zero). */
static bool amount_value(struct scan *s, int64_t *out)
{
    skip_ws(s);
    const char *start = s->p;
    uint64_t v = 0;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        if (s->p - start >= 19) {
            return false;
        }
        v = v * 10 + (uint64_t)(*s->p - '0');
        s->p++;
    }
    if (s->p == start || *start == '0' || v > (uint64_t)JZ_AMOUNT_MAX) {
        return false;
    }
    /* A number must end here: "1.5" or "1e3" are the general path's business. */
    if (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E')) {
        return false;
    }
    *out = (int64_t)v;
    return true;
}

static bool literal(struct scan *s, const char *word)
{
    skip_ws(s);
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) {
        return false;
    }
    s->p += n;
    return true;
}

enum { F_ID = 1, F_DEBIT = 2, F_CREDIT = 4, F_AMOUNT = 8, F_KIND = 16, F_REF = 32, F_MEMO = 64,
       F_LINKED = 128, F_REQUIRED = F_ID | F_DEBIT | F_CREDIT | F_AMOUNT | F_KIND };

static bool kind_value(struct scan *s, const char *const *kinds, struct ledger_cmd *c)
{
    const char *v;
    size_t len;
    if (!plain_string(s, &v, &len)) {
        return false;
    }
    for (size_t i = 0; kinds[i]; i++) {
        if (strlen(kinds[i]) == len && memcmp(kinds[i], v, len) == 0) {
            c->kind = (uint8_t)ledger_kind_parse(kinds[i]);
            return c->kind != 0;
        }
    }
    return false;
}

static bool text_value(struct scan *s, char *dst, uint8_t *dst_len, size_t max)
{
    const char *v;
    size_t len;
    if (!plain_string(s, &v, &len) || len > max) {
        return false;
    }
    memcpy(dst, v, len);
    *dst_len = (uint8_t)len;
    return true;
}

/* One field "name": value; *seen collects the field bits (a repeated field falls back). */
static bool field(struct scan *s, bool batch, const char *const *kinds, struct ledger_cmd *c,
                  unsigned *seen)
{
    const char *name;
    size_t len;
    if (!plain_string(s, &name, &len) || !eat(s, ':')) {
        return false;
    }
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"id", F_ID},     {"debit", F_DEBIT}, {"credit", F_CREDIT}, {"amount", F_AMOUNT},
                 {"kind", F_KIND}, {"ref", F_REF},     {"memo", F_MEMO},     {"linked", F_LINKED}};
    unsigned bit = 0;
    for (size_t i = 0; i < JZ_ARRAY_LEN(names); i++) {
        if (strlen(names[i].name) == len && memcmp(names[i].name, name, len) == 0) {
            bit = names[i].bit;
        }
    }
    if (bit == 0 || (*seen & bit) || (bit == F_LINKED && !batch)) {
        return false;
    }
    *seen |= bit;
    switch (bit) {
    case F_ID: return id_value(s, &c->id);
    case F_DEBIT: return id_value(s, &c->debit);
    case F_CREDIT: return id_value(s, &c->credit);
    case F_AMOUNT: return amount_value(s, &c->amount);
    case F_KIND: return kind_value(s, kinds, c);
    case F_REF: return text_value(s, c->ref, &c->ref_len, JZ_REF_MAX);
    case F_MEMO: return text_value(s, c->memo, &c->memo_len, JZ_MEMO_MAX);
    default:
        if (literal(s, "true")) {
            c->flags = LEDGER_FLAG_LINKED;
            return true;
        }
        return literal(s, "false");
    }
}

static bool transfer_object(struct scan *s, bool batch, const char *const *kinds,
                            struct ledger_cmd *c)
{
    memset(c, 0, sizeof *c);
    c->op = LEDGER_OP_TRANSFER;
    unsigned seen = 0;
    if (!eat(s, '{')) {
        return false;
    }
    do {
        if (!field(s, batch, kinds, c, &seen)) {
            return false;
        }
    } while (eat(s, ','));
    return eat(s, '}') && (seen & F_REQUIRED) == F_REQUIRED;
}

int json_fast_transfers(const char *body, size_t len, bool batch, const char *const *kinds,
                        struct ledger_cmd *cmds, size_t cap, size_t *n)
{
    struct scan s = {.p = body, .end = body + len};
    size_t count = 0;
    if (!batch) {
        if (cap < 1 || !transfer_object(&s, false, kinds, &cmds[0])) {
            return JSON_FAST_FALLBACK;
        }
        count = 1;
    } else {
        const char *key;
        size_t key_len;
        if (!eat(&s, '{') || !plain_string(&s, &key, &key_len) || key_len != 9 ||
            memcmp(key, "transfers", 9) != 0 || !eat(&s, ':') || !eat(&s, '[')) {
            return JSON_FAST_FALLBACK;
        }
        do {
            if (count == cap || !transfer_object(&s, true, kinds, &cmds[count])) {
                return JSON_FAST_FALLBACK;
            }
            count++;
        } while (eat(&s, ','));
        if (!eat(&s, ']') || !eat(&s, '}')) {
            return JSON_FAST_FALLBACK;
        }
    }
    skip_ws(&s);
    if (s.p != s.end) {
        return JSON_FAST_FALLBACK;
    }
    *n = count;
    return JSON_FAST_OK;
}
