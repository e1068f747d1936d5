/*
 * risk.c: the rule file's parser, validator and evaluator (see risk.h and docs/risk.md).
 */
#include "risk.h"

#include <ctype.h>
#include <stdarg.h>

#define TOKENS_MAX 64
#define RULE_WORDS (RISK_RULES_MAX / 64)

enum field {
    F_AMOUNT = 1,
    F_TIER,
    F_PAYEE_TIER,
    F_KIND,
    F_PAYER_KIND,
    F_PAYEE_KIND,
    F_HOUR,
    F_COUNT,
    F_SUM,
    F_NEW_DEVICE,
    F_MCC,      /* from here on: sets searched linearly */
    F_OPERATOR,
    F_PAYER,    /* from here on: lists searched by bisection */
    F_PAYEE,
};

enum op { OP_LT = 1, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE, OP_IN, OP_NOT_IN };

struct cond {
    uint8_t field;
    uint8_t op;
    uint8_t window; /* F_COUNT, F_SUM: index into windows[] */
    uint8_t nvals;  /* F_MCC values, F_OPERATOR names */
    uint32_t mask;  /* kinds (bit = kind), wallet kinds, hours (bit = hour) */
    int64_t value;  /* threshold; F_NEW_DEVICE: window in ms; F_OPERATOR: name pool index */
    uint16_t list;  /* F_PAYER, F_PAYEE */
    uint16_t mcc[RISK_SET_VALUES_MAX];
};

struct rule {
    char id[RISK_NAME_MAX + 1];
    uint8_t action;
    uint8_t ncond;
    int line;
    struct cond cond[RISK_CONDS_MAX];
};

struct list {
    char name[RISK_NAME_MAX + 1];
    int first_use_line; /* 0 = not used */
    bool defined;
    uint32_t offset, count; /* into ids[] once built */
};

struct risk_rules {
    struct risk_params params;
    uint32_t nrules;
    struct rule rules[RISK_RULES_MAX];
    uint32_t nlists;
    struct list lists[RISK_LISTS_MAX];
    jz_id *ids;          /* every list's ids, each list sorted, contiguous */
    uint32_t nids;
    uint32_t *id_list;   /* while parsing: the list each of ids[] belongs to */
    uint32_t cap_ids;
    uint32_t nwindows;
    int64_t windows[RISK_WINDOWS_MAX];
    bool use_velocity, use_device, use_payee;
    /* Prefilter: for each value of a discrete fact, the rules whose conditions on it allow
     * that value (value 0 = unknown); and each rule's amount range. A rule outside them
     * cannot match, so evaluation skips it without looking at its conditions. */
    uint64_t by_kind[LEDGER_KIND_MAX + 1][RULE_WORDS];
    uint64_t by_tier[5][RULE_WORDS];
    uint64_t by_payer_kind[5][RULE_WORDS];
    int64_t amount_lo[RISK_RULES_MAX], amount_hi[RISK_RULES_MAX];
    uint32_t nnames;     /* operator names of "operator in ..." */
    char (*names)[JZ_INSTITUTION_ID_MAX + 1];
};

/* ---- Parameters ---- */

void risk_params_default(struct risk_params *p)
{
    memset(p, 0, sizeof *p);
    p->review_hold_ms = 72LL * 3600 * 1000;
    p->large_value_fen = 5000000; /* 50,000 CNY */
    struct risk_aml_params *a = &p->aml;
    a->structuring_threshold_fen = 5000000;
    a->structuring_band_pct = 10;
    a->structuring_count = 3;
    a->structuring_window_ms = 7LL * 24 * 3600 * 1000;
    a->rapid_min_in_fen = 1000000;
    a->rapid_out_pct = 80;
    a->rapid_window_ms = 24LL * 3600 * 1000;
    a->fan_in_count = 15;
    a->fan_in_window_ms = 24LL * 3600 * 1000;
    a->fan_out_count = 15;
    a->fan_out_window_ms = 24LL * 3600 * 1000;
    a->fan_min_fen = 1;
    a->dormant_idle_ms = 180LL * 24 * 3600 * 1000;
    a->dormant_min_fen = 2000000;
    a->dormant_window_ms = 72LL * 3600 * 1000;
    a->circular_min_fen = 100000;
    a->circular_ratio_pct = 125;
    a->circular_window_ms = 72LL * 3600 * 1000;
}

enum value_kind { V_INT, V_DURATION };

struct param_key {
    const char *name;
    size_t offset;
    enum value_kind kind;
    int64_t min, max;
};

#define DAY_MS (24LL * 3600 * 1000)
#define PK(n, f, k, lo, hi) {n, offsetof(struct risk_params, f), k, lo, hi}
static const struct param_key param_keys[] = {
    PK("review_hold", review_hold_ms, V_DURATION, 1000, JZ_HOLD_TIMEOUT_MAX_MS),
    PK("large_value_fen", large_value_fen, V_INT, 1, JZ_AMOUNT_MAX),
    PK("structuring.threshold_fen", aml.structuring_threshold_fen, V_INT, 100, JZ_AMOUNT_MAX),
    PK("structuring.band_pct", aml.structuring_band_pct, V_INT, 1, 50),
    PK("structuring.count", aml.structuring_count, V_INT, 2, 64),
    PK("structuring.window", aml.structuring_window_ms, V_DURATION, 60000, 90 * DAY_MS),
    PK("rapid.min_in_fen", aml.rapid_min_in_fen, V_INT, 1, JZ_AMOUNT_MAX),
    PK("rapid.out_pct", aml.rapid_out_pct, V_INT, 1, 100),
    PK("rapid.window", aml.rapid_window_ms, V_DURATION, 60000, 30 * DAY_MS),
    PK("fan_in.count", aml.fan_in_count, V_INT, 2, 60),
    PK("fan_in.window", aml.fan_in_window_ms, V_DURATION, 60000, 30 * DAY_MS),
    PK("fan_out.count", aml.fan_out_count, V_INT, 2, 60),
    PK("fan_out.window", aml.fan_out_window_ms, V_DURATION, 60000, 30 * DAY_MS),
    PK("fan.min_fen", aml.fan_min_fen, V_INT, 1, JZ_AMOUNT_MAX),
    PK("dormant.idle", aml.dormant_idle_ms, V_DURATION, DAY_MS, 3650 * DAY_MS),
    PK("dormant.min_fen", aml.dormant_min_fen, V_INT, 1, JZ_AMOUNT_MAX),
    PK("dormant.window", aml.dormant_window_ms, V_DURATION, 60000, 90 * DAY_MS),
    PK("circular.min_fen", aml.circular_min_fen, V_INT, 1, JZ_AMOUNT_MAX),
    PK("circular.ratio_pct", aml.circular_ratio_pct, V_INT, 100, 1000),
    PK("circular.window", aml.circular_window_ms, V_DURATION, 60000, 30 * DAY_MS),
};

/* ---- Parsing helpers ---- */

struct parser {
    risk_rules *r;
    struct risk_error *e;
    int line;
    char *tok[TOKENS_MAX];
    int ntok;
};

static int perr(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int perr(struct parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    p->e->line = p->line;
    vsnprintf(p->e->reason, sizeof p->e->reason, fmt, ap);
    va_end(ap);
    return -1;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > RISK_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-') {
            return false;
        }
    }
    return true;
}

/* A decimal integer 0..max, digits only. */
static int parse_int(const char *s, int64_t max, int64_t *out)
{
    int64_t v = 0;
    if (!*s) {
        return -1;
    }
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9' || v > (INT64_MAX - 9) / 10) {
            return -1;
        }
        v = v * 10 + (*c - '0');
    }
    if (v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

/* "90s", "10m", "1h", "7d" -> ms. */
static int parse_duration(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    char digits[24];
    if (n < 2 || n - 1 >= sizeof digits) {
        return -1;
    }
    memcpy(digits, s, n - 1);
    digits[n - 1] = '\0';
    int64_t unit = s[n - 1] == 's' ? 1000 : s[n - 1] == 'm' ? 60000
                 : s[n - 1] == 'h' ? 3600000 : s[n - 1] == 'd' ? DAY_MS : 0;
    int64_t v = 0;
    if (unit == 0 || parse_int(digits, 3650LL * 24 * 3600, &v) != 0) {
        return -1;
    }
    *out = v * unit;
    return 0;
}

/* Splits the line (modified in place) into tokens; '#' starts a comment. */
static int tokenize(struct parser *p, char *line)
{
    p->ntok = 0;
    char *hash = strchr(line, '#');
    if (hash) {
        *hash = '\0';
    }
    for (char *save = NULL, *t = strtok_r(line, " \t\r", &save); t;
         t = strtok_r(NULL, " \t\r", &save)) {
        if (p->ntok == TOKENS_MAX) {
            return perr(p, "more than %d words on one line", TOKENS_MAX);
        }
        p->tok[p->ntok++] = t;
    }
    return 0;
}

/* ---- set ---- */

static int parse_set(struct parser *p)
{
    if (p->ntok != 3) {
        return perr(p, "set takes a key and a value: set KEY VALUE");
    }
    for (size_t i = 0; i < JZ_ARRAY_LEN(param_keys); i++) {
        const struct param_key *k = &param_keys[i];
        if (strcmp(k->name, p->tok[1]) != 0) {
            continue;
        }
        int64_t v = 0;
        int rc = k->kind == V_INT ? parse_int(p->tok[2], INT64_MAX, &v)
                                  : parse_duration(p->tok[2], &v);
        if (rc != 0 || v < k->min || v > k->max) {
            return perr(p, "%s must be %s from %lld to %lld%s", k->name,
                        k->kind == V_INT ? "an integer" : "a duration (90s, 10m, 1h, 7d)",
                        (long long)k->min, (long long)k->max, k->kind == V_INT ? "" : " ms");
        }
        memcpy((char *)&p->r->params + k->offset, &v, sizeof v);
        return 0;
    }
    return perr(p, "unknown setting \"%.40s\"", p->tok[1]);
}

/* ---- list ---- */

static int list_index(struct parser *p, const char *name, bool define)
{
    risk_rules *r = p->r;
    for (uint32_t i = 0; i < r->nlists; i++) {
        if (strcmp(r->lists[i].name, name) == 0) {
            return (int)i;
        }
    }
    if (!name_ok(name)) {
        return perr(p, "list names are 1-%d characters [A-Za-z0-9_.-]", RISK_NAME_MAX);
    }
    if (r->nlists == RISK_LISTS_MAX) {
        return perr(p, "more than %d lists", RISK_LISTS_MAX);
    }
    struct list *l = &r->lists[r->nlists];
    snprintf(l->name, sizeof l->name, "%s", name);
    l->first_use_line = define ? 0 : p->line;
    return (int)r->nlists++;
}

static int parse_list(struct parser *p)
{
    if (p->ntok < 3) {
        return perr(p, "list takes a name and at least one wallet id: list NAME ID ...");
    }
    int li = list_index(p, p->tok[1], true);
    if (li < 0) {
        return -1;
    }
    risk_rules *r = p->r;
    r->lists[li].defined = true;
    for (int t = 2; t < p->ntok; t++) {
        jz_id id;
        if (jz_id_from_hex(p->tok[t], strlen(p->tok[t]), &id) != 0) {
            return perr(p, "\"%.40s\" is not a wallet id (32 lowercase hex digits)", p->tok[t]);
        }
        if (r->nids == RISK_LIST_IDS_MAX) {
            return perr(p, "more than %d wallet ids over all lists", RISK_LIST_IDS_MAX);
        }
        if (r->nids == r->cap_ids) {
            uint32_t cap = r->cap_ids ? r->cap_ids * 2 : 256;
            jz_id *ids = realloc(r->ids, cap * sizeof *ids);
            uint32_t *owner = ids ? realloc(r->id_list, cap * sizeof *owner) : NULL;
            if (!ids || !owner) {
                if (ids) {
                    r->ids = ids;
                }
                return perr(p, "out of memory");
            }
            r->ids = ids;
            r->id_list = owner;
            r->cap_ids = cap;
        }
        r->ids[r->nids] = id;
        r->id_list[r->nids] = (uint32_t)li;
        r->nids++;
    }
    return 0;
}

/* ---- Conditions ---- */

static const char *const wallet_kind_names[] = {"", "personal", "corporate", "merchant",
                                                "treasury"};

static int parse_op(const char *s)
{
    static const char *const ops[] = {"", "<", "<=", ">", ">=", "==", "!="};
    for (int i = 1; i < (int)JZ_ARRAY_LEN(ops); i++) {
        if (strcmp(s, ops[i]) == 0) {
            return i;
        }
    }
    return strcmp(s, "in") == 0 ? OP_IN : 0;
}

/* The window of "count(1h)" or "sum(1h)": its index among the rule set's velocity windows
 * (added when new). For "new_device(1h)" (prefix 11): the window in seconds. */
static int window_index(struct parser *p, const char *tok, size_t prefix)
{
    char inner[32];
    size_t n = strlen(tok);
    int64_t ms = 0;
    if (n <= prefix + 1 || tok[n - 1] != ')' || n - prefix - 1 >= sizeof inner) {
        return perr(p, "a window is written like count(1h) or sum(24h)");
    }
    memcpy(inner, tok + prefix, n - prefix - 1);
    inner[n - prefix - 1] = '\0';
    if (parse_duration(inner, &ms) != 0 || ms < RISK_WINDOW_MIN_MS || ms > RISK_WINDOW_MAX_MS) {
        return perr(p, "window \"%.20s\" must be a duration from 1m to 30d", inner);
    }
    if (prefix == strlen("new_device(")) {
        return (int)(ms / 1000); /* device windows are not velocity windows: seconds */
    }
    risk_rules *r = p->r;
    for (uint32_t i = 0; i < r->nwindows; i++) {
        if (r->windows[i] == ms) {
            return (int)i;
        }
    }
    if (r->nwindows == RISK_WINDOWS_MAX) {
        return perr(p, "more than %d distinct velocity windows", RISK_WINDOWS_MAX);
    }
    r->windows[r->nwindows] = ms;
    return (int)r->nwindows++;
}

/* "p2p,payment" -> mask of transfer kinds, or wallet kinds. */
static int parse_kind_set(struct parser *p, const char *s, bool wallet, uint32_t *mask)
{
    char buf[RISK_LINE_BYTES_MAX];
    snprintf(buf, sizeof buf, "%s", s);
    *mask = 0;
    for (char *save = NULL, *v = strtok_r(buf, ",", &save); v; v = strtok_r(NULL, ",", &save)) {
        int k = 0;
        if (wallet) {
            for (int i = 1; i < (int)JZ_ARRAY_LEN(wallet_kind_names); i++) {
                k = strcmp(v, wallet_kind_names[i]) == 0 ? i : k;
            }
        } else {
            k = ledger_kind_parse(v);
        }
        if (k == 0) {
            return perr(p, "unknown %s kind \"%.32s\"", wallet ? "wallet" : "transfer", v);
        }
        *mask |= 1u << k;
    }
    return *mask ? 0 : perr(p, "an empty set of kinds");
}

static int parse_mcc_set(struct parser *p, const char *s, struct cond *c)
{
    char buf[RISK_LINE_BYTES_MAX];
    snprintf(buf, sizeof buf, "%s", s);
    c->nvals = 0;
    for (char *save = NULL, *v = strtok_r(buf, ",", &save); v; v = strtok_r(NULL, ",", &save)) {
        int64_t m = 0;
        if (parse_int(v, 9999, &m) != 0 || m < 1) {
            return perr(p, "merchant category codes are 1-9999, not \"%.20s\"", v);
        }
        if (c->nvals == RISK_SET_VALUES_MAX) {
            return perr(p, "more than %d values in a set", RISK_SET_VALUES_MAX);
        }
        c->mcc[c->nvals++] = (uint16_t)m;
    }
    return c->nvals ? 0 : perr(p, "an empty set of codes");
}

static int parse_operator_set(struct parser *p, const char *s, struct cond *c)
{
    risk_rules *r = p->r;
    char buf[RISK_LINE_BYTES_MAX];
    snprintf(buf, sizeof buf, "%s", s);
    c->value = r->nnames;
    c->nvals = 0;
    for (char *save = NULL, *v = strtok_r(buf, ",", &save); v; v = strtok_r(NULL, ",", &save)) {
        size_t n = strlen(v);
        bool ok = n >= 1 && n <= JZ_INSTITUTION_ID_MAX;
        for (size_t i = 0; ok && i < n; i++) {
            ok = islower((unsigned char)v[i]) || isdigit((unsigned char)v[i]) || v[i] == '_';
        }
        if (!ok) {
            return perr(p, "institution ids are 1-16 characters [a-z0-9_], not \"%.20s\"", v);
        }
        if (c->nvals == RISK_SET_VALUES_MAX) {
            return perr(p, "more than %d values in a set", RISK_SET_VALUES_MAX);
        }
        void *grown = realloc(r->names, (r->nnames + 1) * sizeof *r->names);
        if (!grown) {
            return perr(p, "out of memory");
        }
        r->names = grown;
        snprintf(r->names[r->nnames++], sizeof r->names[0], "%s", v);
        c->nvals++;
    }
    return c->nvals ? 0 : perr(p, "an empty set of institutions");
}

/* "A-B" (hours, inclusive, wrapping past midnight when A > B) -> mask. */
static int parse_hours(struct parser *p, const char *s, uint32_t *mask)
{
    char a[8], b[8];
    const char *dash = strchr(s, '-');
    int64_t from = 0, to = 0;
    size_t la = dash ? (size_t)(dash - s) : strlen(s);
    if (la == 0 || la >= sizeof a || (dash && strlen(dash + 1) >= sizeof b)) {
        return perr(p, "hours are written A-B (0-23, UTC+8)");
    }
    memcpy(a, s, la);
    a[la] = '\0';
    snprintf(b, sizeof b, "%s", dash ? dash + 1 : a);
    if (parse_int(a, 23, &from) != 0 || parse_int(b, 23, &to) != 0) {
        return perr(p, "hours are 0-23 (UTC+8), written A-B");
    }
    *mask = 0;
    for (int64_t h = from;; h = (h + 1) % 24) {
        *mask |= 1u << h;
        if (h == to) {
            break;
        }
    }
    return 0;
}

struct field_name {
    const char *name;
    uint8_t field;
    bool set;     /* takes in / not in / == / != with names */
    bool numeric; /* takes < <= > >= == != with an integer */
    int64_t max;
};

static const struct field_name field_names[] = {
    {"amount", F_AMOUNT, false, true, JZ_AMOUNT_MAX},
    {"tier", F_TIER, false, true, 4},
    {"payee_tier", F_PAYEE_TIER, false, true, 4},
    {"kind", F_KIND, true, false, 0},
    {"payer_kind", F_PAYER_KIND, true, false, 0},
    {"payee_kind", F_PAYEE_KIND, true, false, 0},
    {"mcc", F_MCC, true, false, 0},
    {"operator", F_OPERATOR, true, false, 0},
    {"payer", F_PAYER, true, false, 0},
    {"payee", F_PAYEE, true, false, 0},
    {"hour", F_HOUR, true, false, 0},
};

/* The value of a set condition (after in / not in / == / !=). */
static int parse_set_value(struct parser *p, struct cond *c, const char *v, bool single)
{
    switch (c->field) {
    case F_KIND:
    case F_PAYER_KIND:
    case F_PAYEE_KIND:
        if (single && strchr(v, ',')) {
            return perr(p, "== and != take one value; use in for a set");
        }
        return parse_kind_set(p, v, c->field != F_KIND, &c->mask);
    case F_MCC:
        return parse_mcc_set(p, v, c);
    case F_OPERATOR:
        return parse_operator_set(p, v, c);
    case F_HOUR:
        return parse_hours(p, v, &c->mask);
    default: {
        if (single) {
            return perr(p, "payer and payee take in LIST or not in LIST");
        }
        int li = list_index(p, v, false);
        if (li < 0) {
            return -1;
        }
        if (p->r->lists[li].first_use_line == 0) {
            p->r->lists[li].first_use_line = p->line;
        }
        c->list = (uint16_t)li;
        return 0;
    }
    }
}

/* Velocity and device conditions: count(W) OP N, sum(W) OP N, new_device(W). */
static int parse_window_cond(struct parser *p, int *k, struct cond *c)
{
    const char *t = p->tok[*k];
    bool count = strncmp(t, "count(", 6) == 0;
    bool sum = strncmp(t, "sum(", 4) == 0;
    if (strncmp(t, "new_device(", 11) == 0) {
        int secs = window_index(p, t, 11);
        if (secs < 0) {
            return -1;
        }
        c->field = F_NEW_DEVICE;
        c->value = (int64_t)secs * 1000;
        p->r->use_device = true;
        *k += 1;
        return 0;
    }
    if (!count && !sum) {
        return perr(p, "unknown condition \"%.40s\"", t);
    }
    int w = window_index(p, t, count ? 6 : 4);
    if (w < 0) {
        return -1;
    }
    c->field = count ? F_COUNT : F_SUM;
    c->window = (uint8_t)w;
    p->r->use_velocity = true;
    int op = *k + 2 < p->ntok ? parse_op(p->tok[*k + 1]) : 0;
    if (op == 0 || op == OP_IN) {
        return perr(p, "%s(...) takes a comparison and a number: count(1h) > 20", count ? "count" : "sum");
    }
    c->op = (uint8_t)op;
    if (parse_int(p->tok[*k + 2], count ? 1000000 : INT64_MAX, &c->value) != 0) {
        return perr(p, "\"%.30s\" is not a whole number in range", p->tok[*k + 2]);
    }
    *k += 3;
    return 0;
}

/* One condition from token *k; advances *k past it. */
static int parse_cond(struct parser *p, int *k, struct cond *c)
{
    memset(c, 0, sizeof *c);
    const char *t = p->tok[*k];
    const struct field_name *f = NULL;
    for (size_t i = 0; i < JZ_ARRAY_LEN(field_names); i++) {
        f = strcmp(field_names[i].name, t) == 0 ? &field_names[i] : f;
    }
    if (!f) {
        return parse_window_cond(p, k, c);
    }
    c->field = f->field;
    p->r->use_payee = p->r->use_payee || f->field == F_PAYEE_TIER ||
                      f->field == F_PAYEE_KIND || f->field == F_MCC;
    int i = *k + 1;
    bool negate = i < p->ntok && strcmp(p->tok[i], "not") == 0;
    i += negate;
    int op = i < p->ntok ? parse_op(p->tok[i]) : 0;
    if (op == 0 || i + 1 >= p->ntok || (negate && op != OP_IN)) {
        return perr(p, "\"%s\" needs %s and a value", t, f->numeric ? "<, <=, >, >=, == or !=" : "in, not in, == or !=");
    }
    const char *v = p->tok[i + 1];
    *k = i + 2;
    if (f->numeric) {
        if (op == OP_IN) {
            return perr(p, "\"%s\" compares with <, <=, >, >=, == or !=", t);
        }
        c->op = (uint8_t)op;
        if (parse_int(v, f->max, &c->value) != 0 || (f->field != F_AMOUNT && c->value < 1)) {
            return perr(p, "%s is compared with a whole number up to %lld, not \"%.30s\"", t,
                        (long long)f->max, v);
        }
        return 0;
    }
    if (op != OP_IN && op != OP_EQ && op != OP_NE) {
        return perr(p, "\"%s\" takes in, not in, == or !=", t);
    }
    c->op = (op == OP_IN && !negate) || op == OP_EQ ? OP_IN : OP_NOT_IN;
    return parse_set_value(p, c, v, op != OP_IN);
}

static int cost_class(const struct cond *c)
{
    return c->field >= F_PAYER ? 2 : c->field >= F_MCC ? 1 : 0;
}

/* Cheap conditions first: they fail most payments before a list is searched. The order
 * does not change the meaning (all conditions of a rule must hold). */
static void order_conditions(struct rule *r)
{
    for (int i = 1; i < r->ncond; i++) {
        struct cond c = r->cond[i];
        int j = i;
        while (j > 0 && cost_class(&r->cond[j - 1]) > cost_class(&c)) {
            r->cond[j] = r->cond[j - 1];
            j--;
        }
        r->cond[j] = c;
    }
}

static int parse_rule(struct parser *p)
{
    risk_rules *r = p->r;
    if (p->ntok < 3) {
        return perr(p, "a rule is: rule ID allow|deny|review [when CONDITION [and ...]]");
    }
    if (!name_ok(p->tok[1])) {
        return perr(p, "rule ids are 1-%d characters [A-Za-z0-9_.-]", RISK_NAME_MAX);
    }
    for (uint32_t i = 0; i < r->nrules; i++) {
        if (strcmp(r->rules[i].id, p->tok[1]) == 0) {
            return perr(p, "rule \"%s\" is defined twice (first at line %d)", p->tok[1],
                        r->rules[i].line);
        }
    }
    if (r->nrules == RISK_RULES_MAX) {
        return perr(p, "more than %d rules", RISK_RULES_MAX);
    }
    struct rule *ru = &r->rules[r->nrules];
    memset(ru, 0, sizeof *ru);
    snprintf(ru->id, sizeof ru->id, "%s", p->tok[1]);
    ru->line = p->line;
    const char *a = p->tok[2];
    ru->action = strcmp(a, "allow") == 0 ? RISK_ALLOW : strcmp(a, "deny") == 0 ? RISK_DENY
               : strcmp(a, "review") == 0 ? RISK_REVIEW : 0xff;
    if (ru->action == 0xff) {
        return perr(p, "the action is allow, deny or review, not \"%.20s\"", a);
    }
    int k = 3;
    if (k < p->ntok && strcmp(p->tok[k], "when") != 0) {
        return perr(p, "expected \"when\" after the action, found \"%.20s\"", p->tok[k]);
    }
    k += k < p->ntok;
    if (k == 4 && k >= p->ntok) {
        return perr(p, "\"when\" needs a condition");
    }
    while (k < p->ntok) {
        if (ru->ncond == RISK_CONDS_MAX) {
            return perr(p, "more than %d conditions in one rule", RISK_CONDS_MAX);
        }
        if (parse_cond(p, &k, &ru->cond[ru->ncond]) != 0) {
            return -1;
        }
        ru->ncond++;
        if (k < p->ntok) {
            if (strcmp(p->tok[k], "and") != 0 || k + 1 >= p->ntok) {
                return perr(p, "conditions are joined by \"and\"; unexpected \"%.20s\"",
                            p->tok[k]);
            }
            k++;
        }
    }
    order_conditions(ru);
    r->nrules++;
    return 0;
}

static int parse_line(struct parser *p, char *line)
{
    if (tokenize(p, line) != 0) {
        return -1;
    }
    if (p->ntok == 0) {
        return 0;
    }
    if (strcmp(p->tok[0], "rule") == 0) {
        return parse_rule(p);
    }
    if (strcmp(p->tok[0], "list") == 0) {
        return parse_list(p);
    }
    if (strcmp(p->tok[0], "set") == 0) {
        return parse_set(p);
    }
    return perr(p, "a line starts with rule, list or set, not \"%.20s\"", p->tok[0]);
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(jz_id));
}

/* Groups the ids by list (in list order), sorts each list and drops repeats. */
static int build_lists(risk_rules *r, struct risk_error *e)
{
    for (uint32_t i = 0; i < r->nlists; i++) {
        if (!r->lists[i].defined) {
            e->line = r->lists[i].first_use_line;
            snprintf(e->reason, sizeof e->reason, "list \"%s\" is not defined",
                     r->lists[i].name);
            return -1;
        }
    }
    jz_id *sorted = r->nids ? malloc(r->nids * sizeof *sorted) : NULL;
    if (r->nids && !sorted) {
        e->line = 0;
        snprintf(e->reason, sizeof e->reason, "out of memory");
        return -1;
    }
    uint32_t n = 0;
    for (uint32_t li = 0; li < r->nlists; li++) {
        uint32_t start = n;
        for (uint32_t k = 0; k < r->nids; k++) {
            if (r->id_list[k] == li) {
                sorted[n++] = r->ids[k];
            }
        }
        qsort(sorted + start, n - start, sizeof *sorted, cmp_id);
        uint32_t w = start;
        for (uint32_t k = start; k < n; k++) {
            if (w == start || !jz_id_eq(&sorted[w - 1], &sorted[k])) {
                sorted[w++] = sorted[k];
            }
        }
        n = w;
        r->lists[li].offset = start;
        r->lists[li].count = n - start;
    }
    free(r->ids);
    free(r->id_list);
    r->id_list = NULL;
    r->ids = sorted;
    r->nids = n;
    return 0;
}

static bool compare(int64_t a, uint8_t op, int64_t b);

/* Whether a rule's conditions on a discrete fact allow the value v (0 = unknown). */
static bool allows(const struct cond *c, uint8_t field, int v)
{
    if (c->field != field) {
        return true;
    }
    if (field == F_TIER) {
        return v == 0 ? c->op == OP_NE : compare(v, c->op, c->value);
    }
    bool in = v != 0 && (c->mask >> v & 1u);
    return c->op == OP_IN ? in : !in;
}

static void amount_range(const struct cond *c, int64_t *lo, int64_t *hi)
{
    if (c->field != F_AMOUNT) {
        return;
    }
    int64_t v = c->value;
    if (c->op == OP_LT || c->op == OP_LE || c->op == OP_EQ) {
        int64_t h = c->op == OP_LT ? v - 1 : v;
        *hi = h < *hi ? h : *hi;
    }
    if (c->op == OP_GT || c->op == OP_GE || c->op == OP_EQ) {
        int64_t l = c->op == OP_GT ? v + 1 : v;
        *lo = l > *lo ? l : *lo;
    }
}

static void build_prefilter(risk_rules *r)
{
    for (uint32_t i = 0; i < r->nrules; i++) {
        const struct rule *ru = &r->rules[i];
        uint64_t bit = 1ull << (i % 64);
        r->amount_lo[i] = INT64_MIN;
        r->amount_hi[i] = INT64_MAX;
        for (int v = 0; v <= LEDGER_KIND_MAX; v++) {
            bool ok = true;
            for (int k = 0; k < ru->ncond; k++) {
                ok = ok && allows(&ru->cond[k], F_KIND, v);
            }
            r->by_kind[v][i / 64] |= ok ? bit : 0;
        }
        for (int v = 0; v <= 4; v++) {
            bool tier = true, kind = true;
            for (int k = 0; k < ru->ncond; k++) {
                tier = tier && allows(&ru->cond[k], F_TIER, v);
                kind = kind && allows(&ru->cond[k], F_PAYER_KIND, v);
            }
            r->by_tier[v][i / 64] |= tier ? bit : 0;
            r->by_payer_kind[v][i / 64] |= kind ? bit : 0;
        }
        for (int k = 0; k < ru->ncond; k++) {
            amount_range(&ru->cond[k], &r->amount_lo[i], &r->amount_hi[i]);
        }
    }
}

int risk_rules_parse(const char *text, size_t len, risk_rules **out, struct risk_error *e)
{
    memset(e, 0, sizeof *e);
    if (len > RISK_FILE_BYTES_MAX) {
        snprintf(e->reason, sizeof e->reason, "the file is larger than %u bytes",
                 RISK_FILE_BYTES_MAX);
        return -1;
    }
    risk_rules *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(e->reason, sizeof e->reason, "out of memory");
        return -1;
    }
    risk_params_default(&r->params);
    struct parser p = {.r = r, .e = e};
    char line[RISK_LINE_BYTES_MAX + 1];
    size_t pos = 0;
    int rc = 0;
    while (rc == 0 && pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        p.line++;
        if (n > RISK_LINE_BYTES_MAX) {
            rc = perr(&p, "the line is longer than %d bytes", RISK_LINE_BYTES_MAX);
        } else if (memchr(text + pos, '\0', n)) {
            rc = perr(&p, "the line holds a NUL byte");
        } else {
            memcpy(line, text + pos, n);
            line[n] = '\0';
            rc = parse_line(&p, line);
        }
        pos += n + 1;
    }
    if (rc == 0) {
        rc = build_lists(r, e);
    }
    if (rc == 0) {
        build_prefilter(r);
    }
    if (rc != 0) {
        risk_rules_free(r);
        return -1;
    }
    ASSERT(r->nrules <= RISK_RULES_MAX && r->nwindows <= RISK_WINDOWS_MAX);
    *out = r;
    return 0;
}

void risk_rules_free(risk_rules *r)
{
    if (!r) {
        return;
    }
    free(r->ids);
    free(r->id_list);
    free(r->names);
    free(r);
}

/* ---- Evaluation ---- */

int risk_hour_utc8(int64_t ms)
{
    int64_t h = (ms / 1000 + 8 * 3600) / 3600;
    if (ms < 0 && ms % 1000 != 0) {
        h = ((ms - 999) / 1000 + 8 * 3600) / 3600; /* floor for times before 1970 */
    }
    int r = (int)(h % 24);
    return r < 0 ? r + 24 : r;
}

static bool compare(int64_t a, uint8_t op, int64_t b)
{
    switch (op) {
    case OP_LT: return a < b;
    case OP_LE: return a <= b;
    case OP_GT: return a > b;
    case OP_GE: return a >= b;
    case OP_EQ: return a == b;
    default: return a != b;
    }
}

/* An unknown fact (0) matches only "!=" (and "not in"). */
static bool compare_known(int64_t fact, const struct cond *c)
{
    return fact == 0 ? c->op == OP_NE : compare(fact, c->op, c->value);
}

static bool in_list(const risk_rules *r, uint16_t li, const jz_id *id)
{
    const struct list *l = &r->lists[li];
    uint32_t lo = l->offset;
    uint32_t hi = l->offset + l->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = memcmp(&r->ids[mid], id, sizeof *id);
        if (c == 0) {
            return true;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

static bool in_set(const risk_rules *r, const struct cond *c, const struct risk_facts *f)
{
    switch (c->field) {
    case F_KIND: return f->kind != 0 && (c->mask >> f->kind & 1u);
    case F_PAYER_KIND: return f->payer_kind != 0 && (c->mask >> f->payer_kind & 1u);
    case F_PAYEE_KIND: return f->payee_kind != 0 && (c->mask >> f->payee_kind & 1u);
    case F_HOUR: return c->mask >> risk_hour_utc8(f->now_ms) & 1u;
    case F_PAYER: return in_list(r, c->list, &f->debit);
    case F_PAYEE: return in_list(r, c->list, &f->credit);
    case F_MCC:
        for (int i = 0; i < c->nvals; i++) {
            if (f->payee_mcc != 0 && c->mcc[i] == f->payee_mcc) {
                return true;
            }
        }
        return false;
    default: /* F_OPERATOR */
        for (int i = 0; i < c->nvals; i++) {
            if (f->actor && strcmp(r->names[c->value + i], f->actor) == 0) {
                return true;
            }
        }
        return false;
    }
}

static bool cond_holds(const risk_rules *r, const struct cond *c, const struct risk_facts *f)
{
    switch (c->field) {
    case F_AMOUNT: return compare(f->amount, c->op, c->value);
    case F_TIER: return compare_known(f->payer_tier, c);
    case F_PAYEE_TIER: return compare_known(f->payee_tier, c);
    case F_COUNT: return compare(f->velocity_count[c->window], c->op, c->value);
    case F_SUM: return compare(f->velocity_sum[c->window], c->op, c->value);
    case F_NEW_DEVICE:
        return f->device_changed_ms != 0 && f->now_ms - f->device_changed_ms < c->value;
    default: {
        bool in = in_set(r, c, f);
        return c->op == OP_IN ? in : !in;
    }
    }
}

void risk_rules_evaluate(const risk_rules *r, const struct risk_facts *f,
                         struct risk_verdict *out)
{
    uint32_t steps = 0;
    int kind = f->kind <= LEDGER_KIND_MAX ? f->kind : 0;
    int tier = f->payer_tier <= 4 ? f->payer_tier : 0;
    int pkind = f->payer_kind <= 4 ? f->payer_kind : 0;
    for (int w = 0; w < RULE_WORDS; w++) {
        /* The rules that may match, in file order (ascending bits). */
        uint64_t cand = r->by_kind[kind][w] & r->by_tier[tier][w] & r->by_payer_kind[pkind][w];
        while (cand) {
            uint32_t i = (uint32_t)w * 64 + (uint32_t)__builtin_ctzll(cand);
            cand &= cand - 1;
            if (f->amount < r->amount_lo[i] || f->amount > r->amount_hi[i]) {
                continue;
            }
            const struct rule *ru = &r->rules[i];
            bool all = true;
            for (int k = 0; all && k < ru->ncond; k++) {
                steps++;
                all = cond_holds(r, &ru->cond[k], f);
            }
            if (all) {
                out->action = ru->action;
                out->rule = (int)i;
                snprintf(out->rule_id, sizeof out->rule_id, "%s", ru->id);
                out->steps = steps;
                return;
            }
        }
    }
    ASSERT(steps <= RISK_RULES_MAX * RISK_CONDS_MAX);
    out->action = RISK_ALLOW;
    out->rule = -1;
    out->rule_id[0] = '\0';
    out->steps = steps;
}

uint32_t risk_rules_count(const risk_rules *r)
{
    return r->nrules;
}

const struct risk_params *risk_rules_params(const risk_rules *r)
{
    return &r->params;
}

uint32_t risk_rules_windows(const risk_rules *r, int64_t windows_ms[RISK_WINDOWS_MAX])
{
    memcpy(windows_ms, r->windows, sizeof r->windows);
    return r->nwindows;
}

bool risk_rules_use(const risk_rules *r, enum risk_use what)
{
    return what == RISK_USE_VELOCITY ? r->use_velocity
         : what == RISK_USE_DEVICE ? r->use_device : r->use_payee;
}

const char *risk_action_name(int action)
{
    return action == RISK_DENY ? "deny" : action == RISK_REVIEW ? "review" : "allow";
}
