/*
 * test_ledger_model.c: the ledger against a deliberately simple reference model.
 *
 * A seeded generator produces random workloads: institutions, wallet life cycles, every
 * transfer kind with right and wrong actors and shapes, holds and their captures, voids and
 * expiries, replays and conflicts of earlier ids, linked chains (failing in the middle, left
 * open at the end of a batch, with members that may not be linked), amounts from 0 and
 * negative to INT64_MAX, and a clock that jumps across UTC+8 midnights, year ends, the
 * idempotency window and hold deadlines. Every batch goes to the ledger and to the model
 * below; every result (code, field, replayed, timestamp) must match, and periodically and at
 * the end every wallet, hold and institution must match too. The first mismatch stops the
 * test with the seed, the batch, the command and both results. Restricted wallets (targeted
 * funds: merchant categories, an expiry, a return-to wallet) are opened, funded, spent at
 * right and wrong merchants, held on across their expiry, and swept at the batch start.
 *
 * The model is a second, independent reading of the contract in src/ledger.h, written from
 * the header's text alone (not from src/ledger.c): plain arrays, a trivial open-addressing
 * map from ids to array indexes, 128-bit integers for exact comparisons, and an undo log of
 * whole wallet records for linked chains. Where the header leaves a choice open, the model's
 * choice is marked "READING:" with the sentence it relies on.
 */
#include "common.h"
#include "ledger.h"
#include "limits.h"
#include "test.h"

#include <stdarg.h>
#include <time.h>

/* ---------------------------------------------------------------------------------------- */
/* Small helpers: PRNG, calendar, names                                                      */
/* ---------------------------------------------------------------------------------------- */

/* splitmix64: tiny, fast and good enough for workloads. */
struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n); 0 when n is 0. The modulo bias does not matter here. */
static uint64_t rng_below(struct rng *r, uint64_t n)
{
    return n == 0 ? 0 : rng_next(r) % n;
}

/* Uniform in [lo, hi], lo <= hi, for ranges well below 2^63. */
static int64_t rng_range(struct rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)rng_below(r, (uint64_t)(hi - lo) + 1);
}

static bool rng_chance(struct rng *r, unsigned per_mille)
{
    return rng_below(r, 1000) < per_mille;
}

/* Log-uniform in [lo, hi] (1 <= lo <= hi): as many small values as large ones. */
static int64_t rng_log(struct rng *r, int64_t lo, int64_t hi)
{
    int bits_lo = 64 - __builtin_clzll((uint64_t)lo);
    int bits_hi = 64 - __builtin_clzll((uint64_t)hi);
    int bits = (int)rng_range(r, bits_lo, bits_hi);
    int64_t from = bits <= 1 ? 1 : (int64_t)1 << (bits - 1);
    int64_t to = bits >= 63 ? INT64_MAX : ((int64_t)1 << bits) - 1;
    if (from < lo) {
        from = lo;
    }
    if (to > hi) {
        to = hi;
    }
    return rng_range(r, from, to);
}

#define MS_PER_DAY 86400000LL
#define UTC8_OFFSET_MS (8LL * 3600 * 1000)

/* The model's own calendar (deliberately not ledger_day_of/ledger_year_of): the UTC+8 day
 * number since 1970-01-01 and the UTC+8 calendar year of a timestamp in ms. */
static int32_t cal_day(int64_t t)
{
    int64_t x = t + UTC8_OFFSET_MS;
    int64_t d = x / MS_PER_DAY;
    if (x % MS_PER_DAY < 0) {
        d--;
    }
    return (int32_t)d;
}

static int32_t cal_year(int64_t t)
{
    int64_t x = t + UTC8_OFFSET_MS;
    int64_t s = x / 1000;
    if (x % 1000 < 0) {
        s--;
    }
    time_t tt = (time_t)s;
    struct tm tm;
    ASSERT(gmtime_r(&tt, &tm) != NULL);
    return tm.tm_year + 1900;
}

/* The first ms of the UTC+8 day (year) after the one t is in. */
static int64_t cal_next_midnight(int64_t t)
{
    return ((int64_t)cal_day(t) + 1) * MS_PER_DAY - UTC8_OFFSET_MS;
}

static int64_t cal_next_year(int64_t t)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = cal_year(t) + 1 - 1900;
    tm.tm_mday = 1;
    return (int64_t)timegm(&tm) * 1000 - UTC8_OFFSET_MS;
}

/* Names for failure messages, kept local so that a bug in the ledger's tables cannot hide. */
static const char *op_name(int op)
{
    static const char *const names[] = {"op?",         "genesis",       "institution_create",
                                        "wallet_open", "wallet_update", "wallet_close",
                                        "transfer",    "hold_create",   "hold_capture",
                                        "hold_void",   "note"};
    return op >= 1 && op <= LEDGER_OP_MAX ? names[op] : "op?";
}

static const char *field_name(int f)
{
    static const char *const names[] = {"none",   "id",     "debit",    "credit",   "amount",
                                        "kind",   "ref",    "memo",     "linked",   "timeout_ms",
                                        "tier",   "form",   "parent",   "status",   "operator",
                                        "name",   "treasury", "mcc",      "return_to",
                                        "expires_at", "mccs"};
    _Static_assert(JZ_ARRAY_LEN(names) == LEDGER_FIELD_COUNT, "one name per field");
    return f >= 0 && f < LEDGER_FIELD_COUNT ? names[f] : "field?";
}

/* A growing text buffer for failure reports. */
struct sbuf {
    char s[12288];
    size_t len;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    if (b->len + 1 >= sizeof b->s) {
        return;
    }
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->len, sizeof b->s - b->len, fmt, ap);
    va_end(ap);
    if (k > 0) {
        b->len += (size_t)k;
    }
    if (b->len >= sizeof b->s) {
        b->len = sizeof b->s - 1;
    }
}

/* First four bytes of an id in hex: enough to tell ids apart in a report. */
static void short_id(const jz_id *id, char out[9])
{
    jz_hex_encode(id->b, 4, out);
}

/* ---------------------------------------------------------------------------------------- */
/* Id map: jz_id -> array index, open addressing with linear probing, insert only.           */
/* ---------------------------------------------------------------------------------------- */

struct idmap {
    jz_id *keys;
    uint32_t *vals; /* index + 1; 0 marks an empty slot */
    uint32_t mask;
    uint32_t count;
};

static void idmap_init(struct idmap *m, uint32_t max_entries)
{
    uint32_t cap = 16;
    while (cap < 2 * (uint64_t)max_entries + 2) {
        cap *= 2;
    }
    m->keys = calloc(cap, sizeof *m->keys);
    m->vals = calloc(cap, sizeof *m->vals);
    ASSERT(m->keys != NULL && m->vals != NULL);
    m->mask = cap - 1;
    m->count = 0;
}

static void idmap_free(struct idmap *m)
{
    free(m->keys);
    free(m->vals);
}

static uint32_t idmap_slot(const jz_id *id)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < sizeof id->b; i++) {
        h = (h ^ id->b[i]) * 1099511628211ULL;
    }
    return (uint32_t)(h ^ (h >> 32));
}

static int64_t idmap_get(const struct idmap *m, const jz_id *id)
{
    for (uint32_t i = idmap_slot(id) & m->mask;; i = (i + 1) & m->mask) {
        if (m->vals[i] == 0) {
            return -1;
        }
        if (jz_id_eq(&m->keys[i], id)) {
            return (int64_t)m->vals[i] - 1;
        }
    }
}

static void idmap_put(struct idmap *m, const jz_id *id, uint32_t val)
{
    ASSERT(2 * ((uint64_t)m->count + 1) <= (uint64_t)m->mask + 1);
    uint32_t i = idmap_slot(id) & m->mask;
    while (m->vals[i] != 0) {
        ASSERT(!jz_id_eq(&m->keys[i], id));
        i = (i + 1) & m->mask;
    }
    m->keys[i] = *id;
    m->vals[i] = val + 1;
    m->count++;
}

/* ---------------------------------------------------------------------------------------- */
/* The reference model                                                                       */
/* ---------------------------------------------------------------------------------------- */

#define M_CENTRAL 0u  /* GENESIS creates institution 0 ... */
#define M_ISSUANCE 0u /* ... and its treasury, the issuance account, as the first wallet */
#define M_NO_PERIOD INT32_MIN

struct m_wallet {
    jz_id id;
    jz_id parent;
    uint16_t op; /* owning institution's index */
    uint8_t kind, tier, form, status;
    uint16_t mcc;
    int64_t balance, held;
    int64_t day_out, year_out;
    int32_t day, year; /* the UTC+8 day and year the counters belong to */
    int64_t created_at;
    /* A restriction (WALLET_OPEN with expires_at nonzero). */
    bool restricted, swept;
    int64_t expires_at, swept_at, swept_amount;
    uint32_t return_to; /* wallet index */
    uint8_t mcc_count;
    uint16_t mccs[JZ_RESTRICTION_MCCS_MAX];
};

struct m_inst {
    ledger_inst_id id;
    char name[JZ_NAME_MAX];
    uint8_t name_len;
    uint8_t kind;
    uint32_t treasury; /* wallet index */
    jz_id key_id;      /* API credentials: "a replay keeps the first ones" */
    uint8_t sealed[LEDGER_SEALED_BYTES];
};

struct m_hold {
    jz_id id;
    uint32_t debit, credit; /* wallet indexes */
    int64_t amount, captured, deadline, created_at;
    uint8_t status;
};

/* One idempotency entry: the first command seen with the id, and its result. */
struct m_entry {
    struct ledger_cmd cmd;
    int64_t timestamp;
    uint16_t code;
    uint8_t field;
    int32_t hold; /* index into holds when this id created a hold that exists, else -1 */
};

struct m_undo {
    uint32_t index;
    struct m_wallet old;
};

struct model {
    struct ledger_config cfg;
    struct m_inst inst[JZ_INSTITUTIONS_MAX];
    uint32_t ninst;
    struct m_wallet *w;
    uint32_t nw, w_cap;
    struct idmap wmap;
    struct m_hold *h;
    uint32_t nh, h_cap;
    struct m_entry *e;
    uint32_t ne, e_cap;
    struct idmap emap;
    struct m_undo *undo; /* wallets as they were before the open chain touched them */
    uint32_t nundo, undo_cap;
    bool in_chain;
    uint32_t nrestricted;
};

static void m_init(struct model *m, const struct ledger_config *cfg)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->w_cap = cfg->wallets_max;
    m->w = calloc(m->w_cap + 1, sizeof *m->w);
    idmap_init(&m->wmap, m->w_cap);
    m->h_cap = cfg->holds_max;
    m->h = calloc(m->h_cap + 1, sizeof *m->h);
    m->e_cap = cfg->transfers_max;
    m->e = calloc(m->e_cap + 1, sizeof *m->e);
    idmap_init(&m->emap, m->e_cap);
    m->undo_cap = 2 * JZ_BATCH_MAX + 16;
    m->undo = calloc(m->undo_cap, sizeof *m->undo);
    ASSERT(m->w != NULL && m->h != NULL && m->e != NULL && m->undo != NULL);
}

static void m_free(struct model *m)
{
    free(m->w);
    free(m->h);
    free(m->e);
    free(m->undo);
    idmap_free(&m->wmap);
    idmap_free(&m->emap);
}

static struct ledger_result m_res(int code, int field, int64_t t)
{
    struct ledger_result r;
    memset(&r, 0, sizeof r);
    r.code = (uint16_t)code;
    r.field = (uint8_t)field;
    r.replayed = 0;
    r.timestamp = t;
    return r;
}

static struct ledger_result m_replayed(int code, int field, int64_t first_timestamp)
{
    struct ledger_result r = m_res(code, field, first_timestamp);
    r.replayed = 1;
    return r;
}

static int64_t m_wallet_find(const struct model *m, const jz_id *id)
{
    return idmap_get(&m->wmap, id);
}

static int64_t m_inst_find(const struct model *m, const ledger_inst_id *id)
{
    for (uint32_t i = 0; i < m->ninst; i++) {
        if (strncmp(m->inst[i].id.s, id->s, sizeof id->s) == 0) {
            return i;
        }
    }
    return -1;
}

/* Index of the hold created under id, or -1. */
static int64_t m_hold_index(const struct model *m, const jz_id *id)
{
    int64_t k = idmap_get(&m->emap, id);
    return k < 0 ? -1 : m->e[k].hold;
}

/* A wallet about to change: inside a chain, its old record goes to the undo log first. */
static struct m_wallet *m_touch(struct model *m, uint32_t k)
{
    if (m->in_chain) {
        ASSERT(m->nundo < m->undo_cap);
        m->undo[m->nundo].index = k;
        m->undo[m->nundo].old = m->w[k];
        m->nundo++;
    }
    return &m->w[k];
}

static uint32_t m_wallet_add(struct model *m, const jz_id *id, uint16_t op, int kind, int tier,
                             int form, const jz_id *parent, uint16_t mcc, int64_t t)
{
    ASSERT(m->nw < m->w_cap);
    uint32_t k = m->nw++;
    struct m_wallet *w = &m->w[k];
    memset(w, 0, sizeof *w);
    w->id = *id;
    w->parent = *parent;
    w->op = op;
    w->kind = (uint8_t)kind;
    w->tier = (uint8_t)tier;
    w->form = (uint8_t)form;
    w->status = LEDGER_STATUS_ACTIVE;
    w->mcc = mcc;
    w->day = M_NO_PERIOD;
    w->year = M_NO_PERIOD;
    w->created_at = t;
    idmap_put(&m->wmap, id, k);
    return k;
}

static bool m_inst_id_ok(const ledger_inst_id *id)
{
    size_t len = 0;
    while (len < sizeof id->s && id->s[len] != '\0') {
        len++;
    }
    if (len < 1 || len > JZ_INSTITUTION_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = id->s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            return false;
        }
    }
    return true;
}

static struct ledger_result m_genesis(struct model *m, const struct ledger_cmd *c, int64_t t)
{
    static const jz_id no_parent;
    if (m->ninst > 0) {
        return m_res(JZ_FORBIDDEN, LEDGER_FIELD_NONE, t);
    }
    struct m_inst *in = &m->inst[0];
    memset(in, 0, sizeof *in);
    in->id = c->inst;
    in->kind = LEDGER_INST_CENTRAL;
    in->key_id = c->key_id;
    memcpy(in->sealed, c->sealed, sizeof in->sealed);
    in->name_len = c->name_len <= JZ_NAME_MAX ? c->name_len : JZ_NAME_MAX;
    memcpy(in->name, c->name, in->name_len);
    in->treasury = m_wallet_add(m, &c->debit, M_CENTRAL, LEDGER_WALLET_TREASURY, 1,
                                LEDGER_FORM_SOFT, &no_parent, 0, t);
    ASSERT(in->treasury == M_ISSUANCE);
    m->ninst = 1;
    return m_res(JZ_OK, LEDGER_FIELD_NONE, t);
}

static struct ledger_result m_institution(struct model *m, const struct ledger_cmd *c, int64_t t)
{
    static const jz_id no_parent;
    if (c->actor != M_CENTRAL) {
        return m_res(JZ_FORBIDDEN, LEDGER_FIELD_NONE, t);
    }
    if (!m_inst_id_ok(&c->inst)) {
        return m_res(JZ_INVALID_FIELD, LEDGER_FIELD_ID, t);
    }
    if (c->kind != LEDGER_INST_OPERATOR) {
        return m_res(JZ_INVALID_FIELD, LEDGER_FIELD_KIND, t);
    }
    if (c->name_len < 1 || c->name_len > JZ_NAME_MAX) {
        return m_res(JZ_INVALID_FIELD, LEDGER_FIELD_NAME, t);
    }
    int64_t i = m_inst_find(m, &c->inst);
    if (i >= 0) {
        const struct m_inst *in = &m->inst[i];
        const struct m_wallet *tw = &m->w[in->treasury];
        if (!jz_id_eq(&tw->id, &c->debit)) {
            return m_res(JZ_ID_CONFLICT, LEDGER_FIELD_TREASURY, t);
        }
        if (in->name_len != c->name_len || memcmp(in->name, c->name, c->name_len) != 0) {
            return m_res(JZ_ID_CONFLICT, LEDGER_FIELD_NAME, t);
        }
        /* READING: a replay reports "when the command (or, for a replay, its first run) was
         * applied" (struct ledger_result): the institution's creation, which is its
         * treasury's created_at. */
        return m_replayed(JZ_OK, LEDGER_FIELD_NONE, tw->created_at);
    }
    if (jz_id_is_zero(&c->debit)) {
        return m_res(JZ_INVALID_FIELD, LEDGER_FIELD_TREASURY, t);
    }
    if (m_wallet_find(m, &c->debit) >= 0) {
        return m_res(JZ_ID_CONFLICT, LEDGER_FIELD_TREASURY, t);
    }
    /* READING: "Full" = institutions_max institutions (central included) or wallets_max
     * wallets (the treasury needs one). */
    if (m->ninst >= m->cfg.institutions_max || m->ninst >= JZ_INSTITUTIONS_MAX ||
        m->nw >= m->w_cap) {
        return m_res(JZ_CAPACITY_EXCEEDED, LEDGER_FIELD_NONE, t);
    }
    struct m_inst *in = &m->inst[m->ninst];
    memset(in, 0, sizeof *in);
    in->id = c->inst;
    in->kind = LEDGER_INST_OPERATOR;
    in->key_id = c->key_id;
    memcpy(in->sealed, c->sealed, sizeof in->sealed);
    in->name_len = c->name_len;
    memcpy(in->name, c->name, c->name_len);
    in->treasury = m_wallet_add(m, &c->debit, (uint16_t)m->ninst, LEDGER_WALLET_TREASURY, 1,
                                LEDGER_FORM_SOFT, &no_parent, 0, t);
    m->ninst++;
    return m_res(JZ_OK, LEDGER_FIELD_NONE, t);
}

/* The restriction part of a replayed open: "then RETURN_TO, EXPIRES_AT, MCCS". */
static int m_restriction_diff(const struct model *m, const struct m_wallet *w,
                              const struct ledger_cmd *c)
{
    static const jz_id zero;
    const jz_id *to = w->restricted ? &m->w[w->return_to].id : &zero;
    if (!jz_id_eq(to, &c->return_to)) {
        return LEDGER_FIELD_RETURN_TO;
    }
    if ((w->restricted ? w->expires_at : 0) != c->expires_at) {
        return LEDGER_FIELD_EXPIRES_AT;
    }
    uint8_t n = w->restricted ? w->mcc_count : 0;
    if (n != c->mcc_count) {
        return LEDGER_FIELD_MCCS;
    }
    for (uint8_t i = 0; i < n; i++) {
        if (w->mccs[i] != c->mccs[i]) {
            return LEDGER_FIELD_MCCS;
        }
    }
    return LEDGER_FIELD_NONE;
}

/* The restriction checks of a new wallet, in the header's order: NONE when they pass (with
 * *to the return-to wallet, or -1 for no restriction), LEDGER_FIELD_COUNT for
 * wallet_not_found RETURN_TO, else the invalid field. */
static int m_restriction_invalid(const struct model *m, const struct ledger_cmd *c, int64_t t,
                                 int64_t *to)
{
    *to = -1;
    if (c->expires_at == 0) {
        return jz_id_is_zero(&c->return_to) && c->mcc_count == 0 ? LEDGER_FIELD_NONE
                                                                 : LEDGER_FIELD_EXPIRES_AT;
    }
    if (c->expires_at <= t || (__int128)c->expires_at - t > JZ_RESTRICTION_MAX_MS) {
        return LEDGER_FIELD_EXPIRES_AT;
    }
    if (c->mcc_count > JZ_RESTRICTION_MCCS_MAX) {
        return LEDGER_FIELD_MCCS;
    }
    for (uint8_t i = 0; i < c->mcc_count; i++) {
        if (c->mccs[i] < 1 || c->mccs[i] > 9999) {
            return LEDGER_FIELD_MCCS;
        }
    }
    if (jz_id_is_zero(&c->return_to)) {
        return LEDGER_FIELD_RETURN_TO;
    }
    int64_t k = m_wallet_find(m, &c->return_to);
    if (k < 0) {
        return LEDGER_FIELD_COUNT;
    }
    if (k == M_ISSUANCE || m->w[k].restricted) {
        return LEDGER_FIELD_RETURN_TO;
    }
    *to = k;
    return LEDGER_FIELD_NONE;
}

static struct ledger_result m_wallet_open(struct model *m, const struct ledger_cmd *c, int64_t t)
{
    if (m->inst[c->actor].kind != LEDGER_INST_OPERATOR) {
        return m_res(JZ_FORBIDDEN, LEDGER_FIELD_NONE, t);
    }
    if (jz_id_is_zero(&c->id)) {
        return m_res(JZ_INVALID_FIELD, LEDGER_FIELD_ID, t);
    }
    int64_t k = m_wallet_find(m, &c->id);
    if (k >= 0) {
        /* READING: compared with the wallet as it is now (a later tier change makes the
         * original open a conflict on TIER). */
        const struct m_wallet *w = &m->w[k];
        int f = w->op != c->actor                ? LEDGER_FIELD_OPERATOR
                : w->kind != c->kind             ? LEDGER_FIELD_KIND
                : w->tier != c->tier             ? LEDGER_FIELD_TIER
                : w->form != c->form             ? LEDGER_FIELD_FORM
                : !jz_id_eq(&w->parent, &c->credit) ? LEDGER_FIELD_PARENT
                : w->mcc != c->mcc               ? LEDGER_FIELD_MCC
                                                 : m_restriction_diff(m, w, c);
        if (f != LEDGER_FIELD_NONE) {
            return m_res(JZ_ID_CONFLICT, f, t);
        }
        /* "timestamp: when the command (or, for a replay, its first run) was applied". */
        return m_replayed(JZ_OK, LEDGER_FIELD_NONE, w->created_at);
    }
    if (c->kind != LEDGER_WALLET_PERSONAL && c->kind != LEDGER_WALLET_CORPORATE &&
        c->kind != LEDGER_WALLET_MERCHANT) {
        return m_res(JZ_INVALID_FIELD, LEDGER_FIELD_KIND, t);
    }
    if (c->tier < 1 || c->tier > 4) {
        return m_res(JZ_INVALID_FIELD, LEDGER_FIELD_TIER, t);
    }
    if (c->form != LEDGER_FORM_SOFT && c->form != LEDGER_FORM_HARD) {
        return m_res(JZ_INVALID_FIELD, LEDGER_FIELD_FORM, t);
    }
    if (!jz_id_is_zero(&c->credit)) {
        int64_t p = m_wallet_find(m, &c->credit);
        if (p < 0) {
            return m_res(JZ_WALLET_NOT_FOUND, LEDGER_FIELD_PARENT, t);
        }
        if (m->w[p].op != c->actor) {
            return m_res(JZ_FORBIDDEN, LEDGER_FIELD_NONE, t);
        }
        if (!jz_id_is_zero(&m->w[p].parent) || m->w[p].status != LEDGER_STATUS_ACTIVE) {
            return m_res(JZ_INVALID_FIELD, LEDGER_FIELD_PARENT, t);
        }
    }
    int64_t to = -1;
    int f = m_restriction_invalid(m, c, t, &to);
    if (f != LEDGER_FIELD_NONE) {
        return m_res(f == LEDGER_FIELD_COUNT ? JZ_WALLET_NOT_FOUND : JZ_INVALID_FIELD,
                     f == LEDGER_FIELD_COUNT ? LEDGER_FIELD_RETURN_TO : f, t);
    }
    /* "Wallets full, then restrictions full -> capacity_exceeded". */
    if (m->nw >= m->w_cap || (c->expires_at != 0 && m->nrestricted >= m->cfg.restrictions_max)) {
        return m_res(JZ_CAPACITY_EXCEEDED, LEDGER_FIELD_NONE, t);
    }
    uint32_t nk = m_wallet_add(m, &c->id, c->actor, c->kind, c->tier, c->form, &c->credit,
                               c->mcc, t);
    if (c->expires_at != 0) {
        struct m_wallet *w = &m->w[nk];
        w->restricted = true;
        w->expires_at = c->expires_at;
        w->return_to = (uint32_t)to;
        w->mcc_count = c->mcc_count;
        memcpy(w->mccs, c->mccs, sizeof w->mccs[0] * c->mcc_count);
        m->nrestricted++;
    }
    return m_res(JZ_OK, LEDGER_FIELD_NONE, t);
}

/* The checks WALLET_UPDATE and WALLET_CLOSE share; -1 when they pass. */
static int m_wallet_owned(const struct model *m, const struct ledger_cmd *c, int64_t *k_out,
                          struct ledger_result *r, int64_t t)
{
    int64_t k = m_wallet_find(m, &c->id);
    if (k < 0) {
        *r = m_res(JZ_WALLET_NOT_FOUND, LEDGER_FIELD_ID, t);
        return 0;
    }
    const struct m_wallet *w = &m->w[k];
    if (w->op != c->actor || w->kind == LEDGER_WALLET_TREASURY) {
        *r = m_res(JZ_FORBIDDEN, LEDGER_FIELD_NONE, t);
        return 0;
    }
    if (w->status == LEDGER_STATUS_CLOSED) {
        /* READING: the header names no field for wallet_closed here; the wallet (id) is
         * the one at fault. */
        *r = m_res(JZ_WALLET_CLOSED, LEDGER_FIELD_ID, t);
        return 0;
    }
    *k_out = k;
    return -1;
}

static struct ledger_result m_wallet_update(struct model *m, const struct ledger_cmd *c,
                                            int64_t t)
{
    struct ledger_result r;
    int64_t k = -1;
    if (m_wallet_owned(m, c, &k, &r, t) == 0) {
        return r;
    }
    if (c->tier > 4) {
        return m_res(JZ_INVALID_FIELD, LEDGER_FIELD_TIER, t);
    }
    if (c->status > LEDGER_STATUS_LOST) {
        return m_res(JZ_INVALID_FIELD, LEDGER_FIELD_STATUS, t);
    }
    if (c->tier == 0 && c->status == 0) {
        return m_res(JZ_INVALID_FIELD, LEDGER_FIELD_STATUS, t);
    }
    struct m_wallet *w = m_touch(m, (uint32_t)k);
    if (c->tier != 0) {
        w->tier = c->tier;
    }
    if (c->status != 0) {
        w->status = c->status;
    }
    return m_res(JZ_OK, LEDGER_FIELD_NONE, t);
}

static struct ledger_result m_wallet_close(struct model *m, const struct ledger_cmd *c, int64_t t)
{
    struct ledger_result r;
    int64_t k = -1;
    if (m_wallet_owned(m, c, &k, &r, t) == 0) {
        return r;
    }
    struct m_wallet *w = &m->w[k];
    if (w->balance != 0 || w->held != 0) {
        return m_res(JZ_BALANCE_NOT_ZERO, LEDGER_FIELD_NONE, t);
    }
    m_touch(m, (uint32_t)k)->status = LEDGER_STATUS_CLOSED;
    return m_res(JZ_OK, LEDGER_FIELD_NONE, t);
}

static bool m_limited(int kind, const struct m_wallet *debit)
{
    bool kind_counts = kind == LEDGER_KIND_P2P || kind == LEDGER_KIND_PAYMENT ||
                       kind == LEDGER_KIND_BILL;
    bool holder_counts = debit->kind == LEDGER_WALLET_PERSONAL ||
                         debit->kind == LEDGER_WALLET_CORPORATE;
    return kind_counts && holder_counts;
}

/* Counters as of time t: a counter of an earlier day (year) reads as 0. */
static int64_t m_day_out(const struct m_wallet *w, int64_t t)
{
    return w->day == cal_day(t) ? w->day_out : 0;
}

static int64_t m_year_out(const struct m_wallet *w, int64_t t)
{
    return w->year == cal_year(t) ? w->year_out : 0;
}

static void m_count_add(struct m_wallet *w, int64_t amount, int64_t t)
{
    int32_t day = cal_day(t);
    int32_t year = cal_year(t);
    if (w->day != day) {
        w->day = day;
        w->day_out = 0;
    }
    if (w->year != year) {
        w->year = year;
        w->year_out = 0;
    }
    w->day_out += amount;
    w->year_out += amount;
}

/* Balance cap of the wallet as a credit, or none (issuance account and treasuries). */
static int64_t m_cap(const struct model *m, uint32_t k)
{
    if (k == M_ISSUANCE || m->w[k].kind == LEDGER_WALLET_TREASURY) {
        return -1;
    }
    return m->cfg.tiers[m->w[k].tier].balance_cap;
}

static bool m_fits(__int128 v)
{
    return v >= INT64_MIN && v <= INT64_MAX;
}

static int m_status_code(uint8_t status)
{
    switch (status) {
    case LEDGER_STATUS_FROZEN:
        return JZ_WALLET_FROZEN;
    case LEDGER_STATUS_LOST:
        return JZ_WALLET_LOST;
    case LEDGER_STATUS_CLOSED:
        return JZ_WALLET_CLOSED;
    default:
        return JZ_OK;
    }
}

static bool m_is_operator_treasury(const struct model *m, uint32_t k)
{
    return k != M_ISSUANCE && m->w[k].kind == LEDGER_WALLET_TREASURY;
}

/* Step 5: JZ_OK, JZ_FORBIDDEN or JZ_KIND_NOT_ALLOWED. Holds come in as kind payment. */
static int m_shape(const struct model *m, uint16_t actor, int kind, uint32_t d, uint32_t cr)
{
    const struct m_wallet *dw = &m->w[d];
    const struct m_wallet *cw = &m->w[cr];
    switch (kind) {
    case LEDGER_KIND_ISSUE:
        if (actor != M_CENTRAL) {
            return JZ_FORBIDDEN;
        }
        return d == M_ISSUANCE && m_is_operator_treasury(m, cr) ? JZ_OK : JZ_KIND_NOT_ALLOWED;
    case LEDGER_KIND_REDEEM:
        if (actor != M_CENTRAL) {
            return JZ_FORBIDDEN;
        }
        return m_is_operator_treasury(m, d) && cr == M_ISSUANCE ? JZ_OK : JZ_KIND_NOT_ALLOWED;
    case LEDGER_KIND_EXCHANGE_IN:
        if (dw->op != actor) {
            return JZ_FORBIDDEN;
        }
        return d == m->inst[cw->op].treasury && cw->kind != LEDGER_WALLET_TREASURY
                   ? JZ_OK
                   : JZ_KIND_NOT_ALLOWED;
    case LEDGER_KIND_EXCHANGE_OUT:
        if (dw->op != actor) {
            return JZ_FORBIDDEN;
        }
        return cr == m->inst[dw->op].treasury && dw->kind != LEDGER_WALLET_TREASURY
                   ? JZ_OK
                   : JZ_KIND_NOT_ALLOWED;
    default:
        if (dw->op != actor) {
            return JZ_FORBIDDEN;
        }
        return d != M_ISSUANCE && cr != M_ISSUANCE ? JZ_OK : JZ_KIND_NOT_ALLOWED;
    }
}

/* Step 3 of TRANSFER / HOLD_CREATE; LEDGER_FIELD_NONE when the fields are valid. */
static int m_invalid_field(const struct ledger_cmd *c, bool is_hold)
{
    if (c->amount < 1 || c->amount > JZ_AMOUNT_MAX) {
        return LEDGER_FIELD_AMOUNT;
    }
    if (!is_hold && (c->kind < 1 || c->kind > LEDGER_KIND_MAX)) {
        return LEDGER_FIELD_KIND;
    }
    /* READING: "ref_len > JZ_REF_MAX or memo_len > JZ_MEMO_MAX -> invalid_field" names
     * REF and MEMO respectively. */
    if (c->ref_len > JZ_REF_MAX) {
        return LEDGER_FIELD_REF;
    }
    if (c->memo_len > JZ_MEMO_MAX) {
        return LEDGER_FIELD_MEMO;
    }
    if (is_hold && (c->timeout_ms < 1 || c->timeout_ms > JZ_HOLD_TIMEOUT_MAX_MS)) {
        return LEDGER_FIELD_TIMEOUT_MS;
    }
    return LEDGER_FIELD_NONE;
}

/* READING: the header names no field for the limit codes, insufficient_funds and overflow;
 * the amount is the input at fault (API.md: "`field` when one input is at fault"), so they
 * name AMOUNT; balance_cap_exceeded is about the credit's cap, so it names CREDIT. */
#define M_MONEY_FIELD LEDGER_FIELD_AMOUNT
#define M_CAP_FIELD LEDGER_FIELD_CREDIT

/* Steps 7-10 of TRANSFER / HOLD_CREATE: limits, funds, cap, overflow. */
static struct ledger_result m_money_checks(const struct model *m, const struct ledger_cmd *c,
                                           int kind, uint32_t d, uint32_t cr, int64_t t)
{
    bool is_hold = c->op == LEDGER_OP_HOLD_CREATE;
    const struct m_wallet *dw = &m->w[d];
    const struct m_wallet *cw = &m->w[cr];
    __int128 amount = c->amount;
    if (m_limited(kind, dw)) {
        /* Exact comparisons: "Arithmetic in the checks is exact (no wrap-around)". */
        const struct ledger_tier_limits *lim = &m->cfg.tiers[dw->tier];
        if (amount > lim->per_payment) {
            return m_res(JZ_PER_PAYMENT_LIMIT, M_MONEY_FIELD, t);
        }
        if (m_day_out(dw, t) + amount > lim->per_day) {
            return m_res(JZ_DAILY_LIMIT, M_MONEY_FIELD, t);
        }
        if (m_year_out(dw, t) + amount > lim->per_year) {
            return m_res(JZ_ANNUAL_LIMIT, M_MONEY_FIELD, t);
        }
    }
    if (d != M_ISSUANCE && (__int128)dw->balance - dw->held < amount) {
        return m_res(JZ_INSUFFICIENT_FUNDS, M_MONEY_FIELD, t);
    }
    int64_t cap = m_cap(m, cr);
    if (cap >= 0 && (__int128)cw->balance + amount > cap) {
        return m_res(JZ_BALANCE_CAP_EXCEEDED, M_CAP_FIELD, t);
    }
    if (!is_hold && (!m_fits((__int128)dw->balance - amount) ||
                     !m_fits((__int128)cw->balance + amount))) {
        return m_res(JZ_OVERFLOW, M_MONEY_FIELD, t);
    }
    return m_res(JZ_OK, LEDGER_FIELD_NONE, t);
}

/* Step 6a: a restricted debit pays only listed merchants, by payment, before its expiry (a
 * hold must end by then); a restricted credit takes nothing at or after its expiry. */
static struct ledger_result m_restriction_checks(const struct model *m, const struct ledger_cmd *c,
                                                 int kind, uint32_t d, uint32_t cr, int64_t t)
{
    const struct m_wallet *dw = &m->w[d];
    const struct m_wallet *cw = &m->w[cr];
    if (dw->restricted) {
        if (t >= dw->expires_at) {
            return m_res(JZ_FUNDS_EXPIRED, LEDGER_FIELD_DEBIT, t);
        }
        if (kind != LEDGER_KIND_PAYMENT) {
            return m_res(JZ_RESTRICTED_CATEGORY, LEDGER_FIELD_KIND, t);
        }
        bool listed = dw->mcc_count == 0;
        for (uint8_t i = 0; i < dw->mcc_count; i++) {
            listed = listed || dw->mccs[i] == cw->mcc;
        }
        if (cw->kind != LEDGER_WALLET_MERCHANT || !listed) {
            return m_res(JZ_RESTRICTED_CATEGORY, LEDGER_FIELD_CREDIT, t);
        }
        if (c->op == LEDGER_OP_HOLD_CREATE && (__int128)t + c->timeout_ms > dw->expires_at) {
            return m_res(JZ_FUNDS_EXPIRED, LEDGER_FIELD_TIMEOUT_MS, t);
        }
    }
    if (cw->restricted && t >= cw->expires_at) {
        return m_res(JZ_FUNDS_EXPIRED, LEDGER_FIELD_CREDIT, t);
    }
    return m_res(JZ_OK, LEDGER_FIELD_NONE, t);
}

/* Steps 3-10 and the effect, for an id not seen before. *hold_out: the new hold, or -1. */
static struct ledger_result m_transfer_new(struct model *m, const struct ledger_cmd *c,
                                           int64_t t, int32_t *hold_out)
{
    bool is_hold = c->op == LEDGER_OP_HOLD_CREATE;
    *hold_out = -1;
    int f = m_invalid_field(c, is_hold);
    if (f != LEDGER_FIELD_NONE) {
        return m_res(JZ_INVALID_FIELD, f, t);
    }
    int64_t d = m_wallet_find(m, &c->debit);
    if (d < 0) {
        return m_res(JZ_WALLET_NOT_FOUND, LEDGER_FIELD_DEBIT, t);
    }
    int64_t cr = m_wallet_find(m, &c->credit);
    if (cr < 0) {
        return m_res(JZ_WALLET_NOT_FOUND, LEDGER_FIELD_CREDIT, t);
    }
    if (d == cr) {
        return m_res(JZ_INVALID_FIELD, LEDGER_FIELD_CREDIT, t);
    }
    int kind = is_hold ? LEDGER_KIND_PAYMENT : c->kind;
    int code = m_shape(m, c->actor, kind, (uint32_t)d, (uint32_t)cr);
    if (code != JZ_OK) {
        return m_res(code, code == JZ_KIND_NOT_ALLOWED ? LEDGER_FIELD_KIND : LEDGER_FIELD_NONE,
                     t);
    }
    code = m_status_code(m->w[d].status);
    if (code != JZ_OK) {
        return m_res(code, LEDGER_FIELD_DEBIT, t);
    }
    code = m_status_code(m->w[cr].status);
    if (code != JZ_OK) {
        return m_res(code, LEDGER_FIELD_CREDIT, t);
    }
    struct ledger_result r = m_restriction_checks(m, c, kind, (uint32_t)d, (uint32_t)cr, t);
    if (r.code != JZ_OK) {
        return r;
    }
    r = m_money_checks(m, c, kind, (uint32_t)d, (uint32_t)cr, t);
    if (r.code != JZ_OK) {
        return r;
    }
    /* READING: a full hold table is found last, as "Full" comes last for wallets. */
    if (is_hold && m->nh >= m->h_cap) {
        return m_res(JZ_CAPACITY_EXCEEDED, LEDGER_FIELD_NONE, t);
    }
    struct m_wallet *dw = m_touch(m, (uint32_t)d);
    bool limited = m_limited(kind, dw);
    if (is_hold) {
        dw->held += c->amount;
        ASSERT(m->nh < m->h_cap);
        struct m_hold *hd = &m->h[m->nh];
        memset(hd, 0, sizeof *hd);
        hd->id = c->id;
        hd->debit = (uint32_t)d;
        hd->credit = (uint32_t)cr;
        hd->amount = c->amount;
        hd->deadline = t + c->timeout_ms;
        hd->created_at = t;
        hd->status = LEDGER_HOLD_PENDING;
        *hold_out = (int32_t)m->nh++;
    } else {
        struct m_wallet *cw = m_touch(m, (uint32_t)cr);
        dw->balance -= c->amount;
        cw->balance += c->amount;
    }
    if (limited) {
        m_count_add(dw, c->amount, t);
    }
    return r;
}

static bool m_text_eq(const char *a, uint8_t alen, const char *b, uint8_t blen, size_t max)
{
    size_t n = alen < max ? alen : max;
    return alen == blen && memcmp(a, b, n) == 0;
}

/* Step 2: the first differing field of two commands under the same id. "An id first used by
 * another institution -> id_conflict ID": nobody learns another institution's result. */
static int m_content_diff(const struct ledger_cmd *a, const struct ledger_cmd *b)
{
    bool ha = a->op == LEDGER_OP_HOLD_CREATE;
    bool hb = b->op == LEDGER_OP_HOLD_CREATE;
    if (a->actor != b->actor) {
        return LEDGER_FIELD_ID;
    }
    if (!jz_id_eq(&a->debit, &b->debit)) {
        return LEDGER_FIELD_DEBIT;
    }
    if (!jz_id_eq(&a->credit, &b->credit)) {
        return LEDGER_FIELD_CREDIT;
    }
    if (a->amount != b->amount) {
        return LEDGER_FIELD_AMOUNT;
    }
    /* "a transfer vs a hold differ in KIND"; a hold's kind field is ignored. */
    if (ha != hb || (!ha && a->kind != b->kind)) {
        return LEDGER_FIELD_KIND;
    }
    if (!m_text_eq(a->ref, a->ref_len, b->ref, b->ref_len, JZ_REF_MAX)) {
        return LEDGER_FIELD_REF;
    }
    if (!m_text_eq(a->memo, a->memo_len, b->memo, b->memo_len, JZ_MEMO_MAX)) {
        return LEDGER_FIELD_MEMO;
    }
    if ((a->flags ^ b->flags) & LEDGER_FLAG_LINKED) {
        return LEDGER_FIELD_LINKED;
    }
    /* READING: timeout_ms is content only for holds (two transfers never differ in it). */
    if (ha && a->timeout_ms != b->timeout_ms) {
        return LEDGER_FIELD_TIMEOUT_MS;
    }
    return LEDGER_FIELD_NONE;
}

static uint32_t m_remember(struct model *m, const struct ledger_cmd *c, int64_t t, int code,
                           int field, int32_t hold)
{
    ASSERT(m->ne < m->e_cap);
    uint32_t k = m->ne++;
    struct m_entry *e = &m->e[k];
    e->cmd = *c;
    e->timestamp = t;
    e->code = (uint16_t)code;
    e->field = (uint8_t)field;
    e->hold = hold;
    idmap_put(&m->emap, &c->id, k);
    return k;
}

/* TRANSFER / HOLD_CREATE. *entry_out: the entry this command created, or -1. */
static struct ledger_result m_transfer(struct model *m, const struct ledger_cmd *c, int64_t t,
                                       int64_t *entry_out)
{
    *entry_out = -1;
    if (jz_id_is_zero(&c->id)) {
        return m_res(JZ_INVALID_FIELD, LEDGER_FIELD_ID, t);
    }
    int64_t k = idmap_get(&m->emap, &c->id);
    if (k >= 0) {
        const struct m_entry *e = &m->e[k];
        if (t - e->timestamp > m->cfg.idempotency_window_ms) {
            /* READING: the header names no field for id_expired; the id is at fault. */
            return m_res(JZ_ID_EXPIRED, LEDGER_FIELD_ID, t);
        }
        int f = m_content_diff(&e->cmd, c);
        if (f != LEDGER_FIELD_NONE) {
            return m_res(JZ_ID_CONFLICT, f, t);
        }
        return m_replayed(e->code, e->field, e->timestamp);
    }
    /* READING: "capacity_exceeded (idempotency table ... full) is never remembered": a new
     * id finds the table full right after step 2, before anything would be remembered. */
    if (m->ne >= m->e_cap) {
        return m_res(JZ_CAPACITY_EXCEEDED, LEDGER_FIELD_NONE, t);
    }
    int32_t hold = -1;
    struct ledger_result r = m_transfer_new(m, c, t, &hold);
    if (r.code != JZ_CAPACITY_EXCEEDED) {
        *entry_out = m_remember(m, c, t, r.code, r.field, hold);
    }
    return r;
}

/* Releases a pending hold's reservation (void, expiry, and what a capture leaves): the
 * held amount, and `rest` from the counters "if the day (year) is still the hold's". */
static void m_release(struct model *m, const struct m_hold *hd, int64_t rest, int64_t t)
{
    struct m_wallet *w = m_touch(m, hd->debit);
    w->held -= hd->amount;
    /* READING: holds count in the counters only when the debit is personal/corporate, as
     * step 7 says ("Hold: ... counters += amount"), so only then is anything released. */
    if (!m_limited(LEDGER_KIND_PAYMENT, w)) {
        return;
    }
    if (cal_day(t) == cal_day(hd->created_at)) {
        ASSERT(w->day == cal_day(t));
        w->day_out -= rest;
    }
    if (cal_year(t) == cal_year(hd->created_at)) {
        ASSERT(w->year == cal_year(t));
        w->year_out -= rest;
    }
}

/* The checks HOLD_CAPTURE and HOLD_VOID share; NULL with *r set when one fails. */
static struct m_hold *m_hold_pending(struct model *m, const struct ledger_cmd *c, int64_t t,
                                     struct ledger_result *r)
{
    int64_t k = m_hold_index(m, &c->id);
    if (k < 0) {
        *r = m_res(JZ_HOLD_NOT_FOUND, LEDGER_FIELD_ID, t);
        return NULL;
    }
    struct m_hold *hd = &m->h[k];
    if (m->w[hd->debit].op != c->actor) {
        *r = m_res(JZ_FORBIDDEN, LEDGER_FIELD_NONE, t);
        return NULL;
    }
    if (hd->status != LEDGER_HOLD_PENDING) {
        *r = m_res(JZ_ALREADY_RESOLVED, LEDGER_FIELD_NONE, t);
        return NULL;
    }
    return hd;
}

static struct ledger_result m_capture(struct model *m, const struct ledger_cmd *c, int64_t t)
{
    struct ledger_result r;
    struct m_hold *hd = m_hold_pending(m, c, t, &r);
    if (hd == NULL) {
        return r;
    }
    if (c->amount < 0 || c->amount > hd->amount) {
        return m_res(JZ_AMOUNT_EXCEEDS_HOLD, LEDGER_FIELD_AMOUNT, t);
    }
    int64_t take = c->amount == 0 ? hd->amount : c->amount;
    const struct m_wallet *cw = &m->w[hd->credit];
    int code = m_status_code(cw->status);
    if (code != JZ_OK) {
        return m_res(code, LEDGER_FIELD_CREDIT, t);
    }
    if (cw->restricted && t >= cw->expires_at) {
        return m_res(JZ_FUNDS_EXPIRED, LEDGER_FIELD_CREDIT, t);
    }
    int64_t cap = m_cap(m, hd->credit);
    if (cap >= 0 && (__int128)cw->balance + take > cap) {
        return m_res(JZ_BALANCE_CAP_EXCEEDED, M_CAP_FIELD, t);
    }
    if (!m_fits((__int128)cw->balance + take)) {
        return m_res(JZ_OVERFLOW, M_MONEY_FIELD, t);
    }
    m_release(m, hd, hd->amount - take, t);
    m->w[hd->debit].balance -= take;
    m->w[hd->credit].balance += take;
    hd->status = LEDGER_HOLD_CAPTURED;
    hd->captured = take;
    return m_res(JZ_OK, LEDGER_FIELD_NONE, t);
}

static struct ledger_result m_void(struct model *m, const struct ledger_cmd *c, int64_t t)
{
    struct ledger_result r;
    struct m_hold *hd = m_hold_pending(m, c, t, &r);
    if (hd == NULL) {
        return r;
    }
    m_release(m, hd, hd->amount, t);
    hd->status = LEDGER_HOLD_VOIDED;
    return m_res(JZ_OK, LEDGER_FIELD_NONE, t);
}

struct m_due {
    int64_t deadline;
    uint32_t index;
};

static int m_due_cmp(const void *a, const void *b)
{
    const struct m_due *x = a;
    const struct m_due *y = b;
    if (x->deadline != y->deadline) {
        return x->deadline < y->deadline ? -1 : 1;
    }
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Batch start: every pending hold with deadline <= t expires, by deadline then creation. */
static void m_expire(struct model *m, int64_t t)
{
    uint32_t n = 0;
    struct m_due *due = calloc(m->nh + 1, sizeof *due);
    ASSERT(due != NULL);
    for (uint32_t i = 0; i < m->nh; i++) {
        if (m->h[i].status == LEDGER_HOLD_PENDING && m->h[i].deadline <= t) {
            due[n].deadline = m->h[i].deadline;
            due[n].index = i;
            n++;
        }
    }
    qsort(due, n, sizeof *due, m_due_cmp);
    for (uint32_t i = 0; i < n; i++) {
        struct m_hold *hd = &m->h[due[i].index];
        m_release(m, hd, hd->amount, t);
        hd->status = LEDGER_HOLD_EXPIRED;
    }
    free(due);
}

/* Batch start, after the holds: every restricted wallet past its expiry and not yet swept
 * sends its whole balance home, by expiry then order of opening. "when return_to is closed,
 * to the treasury of return_to's operator"; "Should the credit overflow int64 ... nothing
 * moves and swept_amount is 0". */
static void m_sweep(struct model *m, int64_t t)
{
    uint32_t n = 0;
    struct m_due *due = calloc(m->nw + 1, sizeof *due);
    ASSERT(due != NULL);
    for (uint32_t i = 0; i < m->nw; i++) {
        if (m->w[i].restricted && !m->w[i].swept && m->w[i].expires_at <= t) {
            due[n].deadline = m->w[i].expires_at;
            due[n].index = i;
            n++;
        }
    }
    qsort(due, n, sizeof *due, m_due_cmp);
    for (uint32_t i = 0; i < n; i++) {
        struct m_wallet *w = &m->w[due[i].index];
        uint32_t to = w->return_to;
        if (m->w[to].status == LEDGER_STATUS_CLOSED) {
            to = m->inst[m->w[to].op].treasury;
        }
        ASSERT(w->held == 0);
        int64_t amount = m_fits((__int128)m->w[to].balance + w->balance) ? w->balance : 0;
        w->balance -= amount;
        m->w[to].balance += amount;
        w->swept = true;
        w->swept_at = t;
        w->swept_amount = amount;
    }
    free(due);
}

static bool m_linkable(const struct ledger_cmd *c)
{
    return c->op == LEDGER_OP_TRANSFER || c->op == LEDGER_OP_HOLD_CREATE;
}

static struct ledger_result m_exec(struct model *m, const struct ledger_cmd *c, int64_t t,
                                   int64_t *entry_out)
{
    *entry_out = -1;
    switch (c->op) {
    case LEDGER_OP_GENESIS:
        return m_genesis(m, c, t);
    case LEDGER_OP_INSTITUTION_CREATE:
        return m_institution(m, c, t);
    case LEDGER_OP_WALLET_OPEN:
        return m_wallet_open(m, c, t);
    case LEDGER_OP_WALLET_UPDATE:
        return m_wallet_update(m, c, t);
    case LEDGER_OP_WALLET_CLOSE:
        return m_wallet_close(m, c, t);
    case LEDGER_OP_TRANSFER:
    case LEDGER_OP_HOLD_CREATE:
        return m_transfer(m, c, t, entry_out);
    case LEDGER_OP_HOLD_CAPTURE:
        return m_capture(m, c, t);
    case LEDGER_OP_HOLD_VOID:
        return m_void(m, c, t);
    case LEDGER_OP_NOTE:
        if (c->actor >= m->ninst) {
            return m_res(JZ_FORBIDDEN, LEDGER_FIELD_NONE, t);
        }
        if (c->kind == 0 || c->kind > LEDGER_NOTE_TOPIC_MAX) {
            return m_res(JZ_INVALID_FIELD, LEDGER_FIELD_KIND, t);
        }
        return m_res(JZ_OK, LEDGER_FIELD_NONE, t);
    default:
        ASSERT(!"the generator makes only known ops");
        return m_res(JZ_INVALID_FIELD, LEDGER_FIELD_NONE, t);
    }
}

/* "new ids remember that result": a linkable member whose nonzero id was never used. */
static void m_remember_if_new(struct model *m, const struct ledger_cmd *c, int64_t t, int code)
{
    if (m_linkable(c) && !jz_id_is_zero(&c->id) && idmap_get(&m->emap, &c->id) < 0 &&
        m->ne < m->e_cap) {
        m_remember(m, c, t, code, LEDGER_FIELD_NONE, -1);
    }
}

/* A closed chain cmds[a..b]. Members run in order until the first failure; then every
 * applied effect is undone, the failing member keeps its code, every other member gets
 * linked_failed, and new ids remember linked_failed. */
static void m_chain(struct model *m, const struct ledger_cmd *cmds, uint32_t a, uint32_t b,
                    int64_t t, struct ledger_result *res)
{
    int64_t *entries = calloc(b - a + 1, sizeof *entries);
    ASSERT(entries != NULL);
    uint32_t holds_before = m->nh;
    uint32_t fail = UINT32_MAX;
    m->in_chain = true;
    m->nundo = 0;
    for (uint32_t i = a; i <= b; i++) {
        entries[i - a] = -1;
        if (!m_linkable(&cmds[i])) {
            /* "any other command that carries the flag or ends a chain fails with
             * invalid_field LINKED". READING: it is not run and touches no id. */
            res[i] = m_res(JZ_INVALID_FIELD, LEDGER_FIELD_LINKED, t);
        } else {
            res[i] = m_transfer(m, &cmds[i], t, &entries[i - a]);
        }
        if (res[i].code != JZ_OK) {
            fail = i;
            break;
        }
    }
    m->in_chain = false;
    if (fail != UINT32_MAX) {
        for (uint32_t u = m->nundo; u-- > 0;) {
            m->w[m->undo[u].index] = m->undo[u].old;
        }
        m->nh = holds_before;
        for (uint32_t i = a; i <= b; i++) {
            if (i == fail) {
                continue;
            }
            res[i] = m_res(JZ_LINKED_FAILED, LEDGER_FIELD_NONE, t);
            if (i < fail && entries[i - a] >= 0) {
                /* A new id of this chain: it now remembers linked_failed, and no hold. */
                struct m_entry *e = &m->e[entries[i - a]];
                e->code = JZ_LINKED_FAILED;
                e->field = LEDGER_FIELD_NONE;
                e->hold = -1;
            } else if (i > fail) {
                /* READING: members after the failing one are not run; their new ids
                 * remember linked_failed. */
                m_remember_if_new(m, &cmds[i], t, JZ_LINKED_FAILED);
            }
        }
    }
    m->nundo = 0;
    free(entries);
}

static void m_apply_batch(struct model *m, int64_t t, const struct ledger_cmd *cmds, uint32_t n,
                          struct ledger_result *res)
{
    m_expire(m, t);
    m_sweep(m, t);
    uint32_t i = 0;
    while (i < n) {
        if (!(cmds[i].flags & LEDGER_FLAG_LINKED)) {
            int64_t entry;
            res[i] = m_exec(m, &cmds[i], t, &entry);
            i++;
            continue;
        }
        uint32_t j = i;
        while (j < n && (cmds[j].flags & LEDGER_FLAG_LINKED)) {
            j++;
        }
        if (j == n) {
            /* "every member gets linked_chain_open (remembered for new ids)". READING: the
             * members are not run. */
            for (uint32_t k = i; k < n; k++) {
                res[k] = m_res(JZ_LINKED_OPEN, LEDGER_FIELD_NONE, t);
                m_remember_if_new(m, &cmds[k], t, JZ_LINKED_OPEN);
            }
            break;
        }
        m_chain(m, cmds, i, j, t, res);
        i = j + 1;
    }
}

/* The model's own invariants; NULL when they hold, else what broke. */
static const char *m_self_check(const struct model *m)
{
    __int128 sum = 0;
    int64_t *held = calloc(m->nw + 1, sizeof *held);
    ASSERT(held != NULL);
    for (uint32_t i = 0; i < m->nh; i++) {
        if (m->h[i].status == LEDGER_HOLD_PENDING) {
            held[m->h[i].debit] += m->h[i].amount;
        }
    }
    const char *why = NULL;
    for (uint32_t i = 0; i < m->nw && why == NULL; i++) {
        const struct m_wallet *w = &m->w[i];
        sum += w->balance;
        if (w->held != held[i]) {
            why = "model: held differs from the sum of pending holds";
        } else if (i != M_ISSUANCE && (w->held < 0 || w->held > w->balance)) {
            why = "model: held outside 0..balance";
        }
    }
    if (why == NULL && sum != 0) {
        why = "model: balances do not sum to zero";
    }
    free(held);
    return why;
}

/* ---------------------------------------------------------------------------------------- */
/* The workload generator                                                                    */
/* ---------------------------------------------------------------------------------------- */

struct profile {
    int64_t amount_max; /* random amounts are log-uniform up to this */
    int64_t issue_max;  /* quota issues likewise */
    uint32_t batch_max; /* usual batch sizes are 1..batch_max */
};

#define G_PAST 8192
#define G_OPENS 1024
#define G_HOLDS 2048
#define G_HOT 24
#define G_RESTRICTED 64

struct gen {
    struct rng r;
    const struct model *m; /* the generator peeks at the model to make plausible commands */
    const struct profile *p;
    int64_t now;
    struct ledger_cmd *past; /* ring of fresh transfers and hold creations */
    uint64_t npast;
    struct ledger_cmd *opens; /* ring of wallet opens */
    uint64_t nopens;
    jz_id holds[G_HOLDS]; /* ring of hold ids */
    uint64_t nholds;
    uint32_t hot[G_HOT]; /* wallets used often, so that limits and funds bite */
    jz_id restricted[G_RESTRICTED]; /* ring of restricted opens (which may have failed) */
    uint64_t nrestricted;
    uint32_t next_op;
    uint32_t chain_left; /* fresh members still to link after this one */
    bool careful;        /* the open chain is made of likely successes ... */
    int32_t fail_at;     /* ... except its member number fail_at */
};

static struct gen *g_new(uint64_t seed, const struct model *m, const struct profile *p)
{
    struct gen *g = calloc(1, sizeof *g);
    ASSERT(g != NULL);
    g->r.s = seed;
    g->m = m;
    g->p = p;
    g->past = calloc(G_PAST, sizeof *g->past);
    g->opens = calloc(G_OPENS, sizeof *g->opens);
    ASSERT(g->past != NULL && g->opens != NULL);
    /* Somewhere in 2020-2029, or two hours before the end of a UTC+8 year. */
    g->now = 1577836800000LL + (int64_t)rng_below(&g->r, 10LL * 365 * MS_PER_DAY);
    if (rng_chance(&g->r, 300)) {
        g->now = cal_next_year(g->now) - rng_range(&g->r, 3600000, 3 * 3600000);
    }
    g->fail_at = -1;
    return g;
}

static void g_free(struct gen *g)
{
    if (g != NULL) {
        free(g->past);
        free(g->opens);
        free(g);
    }
}

static jz_id g_fresh_id(struct gen *g)
{
    jz_id id;
    uint64_t a = rng_next(&g->r);
    uint64_t b = rng_next(&g->r);
    memcpy(id.b, &a, 8);
    memcpy(id.b + 8, &b, 8);
    return id;
}

static uint32_t g_any_wallet(struct gen *g)
{
    return (uint32_t)rng_below(&g->r, g->m->nw);
}

/* A wallet that is not a treasury, often a hot one. */
static uint32_t g_user_wallet(struct gen *g)
{
    for (int i = 0; i < 16; i++) {
        uint32_t k = rng_chance(&g->r, 550) ? g->hot[rng_below(&g->r, G_HOT)] : g_any_wallet(g);
        if (k < g->m->nw && g->m->w[k].kind != LEDGER_WALLET_TREASURY &&
            (g->m->w[k].status != LEDGER_STATUS_CLOSED || rng_chance(&g->r, 150))) {
            return k;
        }
    }
    return g_any_wallet(g);
}

/* An active wallet that is not a treasury, if one turns up quickly: for careful commands. */
static uint32_t g_active_wallet(struct gen *g)
{
    uint32_t k = g_user_wallet(g);
    for (int i = 0; i < 8 && g->m->w[k].status != LEDGER_STATUS_ACTIVE; i++) {
        k = g_user_wallet(g);
    }
    return k;
}

/* A wallet of operator op that is not a treasury, if one turns up quickly. */
static uint32_t g_wallet_of(struct gen *g, uint32_t op)
{
    for (int i = 0; i < 32; i++) {
        uint32_t k = (i & 1) ? g->hot[rng_below(&g->r, G_HOT)] : g_any_wallet(g);
        if (k < g->m->nw && g->m->w[k].op == op && g->m->w[k].kind != LEDGER_WALLET_TREASURY) {
            return k;
        }
    }
    return g_user_wallet(g);
}

static uint32_t g_operator(struct gen *g)
{
    return g->m->ninst <= 1 ? 0 : 1 + (uint32_t)rng_below(&g->r, g->m->ninst - 1);
}

static uint16_t g_actor(struct gen *g, uint32_t owner)
{
    if (rng_chance(&g->r, 880)) {
        return (uint16_t)owner;
    }
    return (uint16_t)rng_below(&g->r, g->m->ninst);
}

static void g_refresh_hot(struct gen *g)
{
    const struct model *m = g->m;
    uint32_t nw = m->nw;
    for (int i = 0; i < 3; i++) {
        uint32_t slot = (uint32_t)rng_below(&g->r, G_HOT);
        uint64_t recent = nw < 64 ? nw : 64;
        uint32_t k = 0;
        for (int tries = 0; tries < 8; tries++) {
            k = rng_chance(&g->r, 500) ? nw - 1 - (uint32_t)rng_below(&g->r, recent)
                                       : g_any_wallet(g);
            if (m->w[k].status == LEDGER_STATUS_ACTIVE && m_limited(LEDGER_KIND_P2P, &m->w[k])) {
                break;
            }
        }
        g->hot[slot] = k;
    }
}

/* Amounts near the configured limits of tiers 2-4. */
static int64_t g_limitish(struct gen *g)
{
    const struct ledger_tier_limits *lim = &g->m->cfg.tiers[2 + rng_below(&g->r, 3)];
    int64_t v[4] = {lim->balance_cap, lim->per_payment, lim->per_day, lim->per_year};
    int64_t x = v[rng_below(&g->r, 4)];
    if (x == JZ_NO_LIMIT || x > JZ_AMOUNT_MAX) {
        x = lim->per_payment;
    }
    if (x == JZ_NO_LIMIT || x > JZ_AMOUNT_MAX) {
        return rng_log(&g->r, 1, g->p->amount_max);
    }
    switch (rng_below(&g->r, 4)) {
    case 0:
        x += rng_range(&g->r, -2, 1);
        break;
    case 1:
        x /= 1 + (int64_t)rng_below(&g->r, 6);
        break;
    case 2:
        x = x / 2 + 1;
        break;
    default:
        break;
    }
    return x < 1 ? 1 : x;
}

static int64_t g_weird_amount(struct gen *g)
{
    switch (rng_below(&g->r, 10)) {
    case 0:
        return 0;
    case 1:
        return -1;
    case 2:
        return -(int64_t)rng_below(&g->r, 1000000) - 2;
    case 3:
        return JZ_AMOUNT_MAX;
    case 4:
        return JZ_AMOUNT_MAX + 1;
    case 5:
        return INT64_MAX;
    case 6:
        return INT64_MIN;
    case 7:
        return INT64_MAX - (int64_t)rng_below(&g->r, 1000);
    case 8:
        return JZ_AMOUNT_MAX - (int64_t)rng_below(&g->r, 1000);
    default:
        return rng_log(&g->r, JZ_AMOUNT_MAX / 1000, JZ_AMOUNT_MAX);
    }
}

static int64_t g_amount(struct gen *g, int64_t avail)
{
    uint64_t roll = rng_below(&g->r, 1000);
    if (roll < 520 && avail > 0) {
        int64_t top = avail;
        if (rng_chance(&g->r, 600)) {
            top = avail / (int64_t)(1 + rng_below(&g->r, 16));
        }
        return rng_range(&g->r, 1, top < 1 ? 1 : top);
    }
    if (roll < 720) {
        return g_limitish(g);
    }
    if (roll < 965) {
        return rng_log(&g->r, 1, g->p->amount_max);
    }
    return g_weird_amount(g);
}

static int64_t g_avail(const struct gen *g, uint32_t k)
{
    const struct m_wallet *w = &g->m->w[k];
    return k == M_ISSUANCE ? g->p->issue_max : w->balance - w->held;
}

/* Random text: often empty, sometimes longer than allowed (only the length then). */
static void g_text(struct gen *g, char *buf, size_t cap, uint8_t *len_out, bool valid_only)
{
    uint64_t roll = rng_below(&g->r, 1000);
    size_t len = 0;
    if (roll >= 500) {
        len = (roll < 985 || valid_only) ? (size_t)rng_range(&g->r, 1, (int64_t)cap)
                                         : (size_t)rng_range(&g->r, (int64_t)cap + 1, 255);
    }
    *len_out = (uint8_t)len;
    for (size_t i = 0; i < len && i < cap; i++) {
        buf[i] = (char)('a' + rng_below(&g->r, 26));
    }
}

static int g_kind(struct gen *g, bool valid_only)
{
    static const uint16_t weights[LEDGER_KIND_MAX + 1] = {
        [LEDGER_KIND_ISSUE] = 30,          [LEDGER_KIND_REDEEM] = 15,
        [LEDGER_KIND_EXCHANGE_IN] = 150,   [LEDGER_KIND_EXCHANGE_OUT] = 50,
        [LEDGER_KIND_P2P] = 260,           [LEDGER_KIND_PAYMENT] = 170,
        [LEDGER_KIND_BILL] = 80,           [LEDGER_KIND_REFUND] = 50,
        [LEDGER_KIND_CARD_LOAD] = 15,      [LEDGER_KIND_CARD_UNLOAD] = 15,
        [LEDGER_KIND_OFFLINE_SETTLE] = 15, [LEDGER_KIND_CAMPAIGN] = 15,
        [LEDGER_KIND_DISBURSEMENT] = 20,   [LEDGER_KIND_ADJUSTMENT] = 15,
    };
    if (!valid_only && rng_chance(&g->r, 10)) {
        static const int bad[] = {0, LEDGER_KIND_MAX + 1, 200, 255};
        return bad[rng_below(&g->r, JZ_ARRAY_LEN(bad))];
    }
    uint32_t total = 0;
    for (int k = 1; k <= LEDGER_KIND_MAX; k++) {
        total += weights[k];
    }
    uint32_t x = (uint32_t)rng_below(&g->r, total);
    for (int k = 1; k <= LEDGER_KIND_MAX; k++) {
        if (x < weights[k]) {
            return k;
        }
        x -= weights[k];
    }
    return LEDGER_KIND_P2P;
}

/* Wrong wallets, wrong actors, zero ids: the failures a careless client makes. */
static void g_perturb(struct gen *g, struct ledger_cmd *c)
{
    uint64_t roll = rng_below(&g->r, 1000);
    if (roll < 80) {
        c->actor = (uint16_t)rng_below(&g->r, g->m->ninst);
    } else if (roll < 110) {
        c->debit = g_fresh_id(g);
    } else if (roll < 140) {
        c->credit = g_fresh_id(g);
    } else if (roll < 150) {
        memset(&c->debit, 0, sizeof c->debit);
    } else if (roll < 170) {
        c->credit = c->debit;
    } else if (roll < 200) {
        c->credit = g->m->w[M_ISSUANCE].id;
    } else if (roll < 220) {
        c->debit = g->m->w[M_ISSUANCE].id;
    } else if (roll < 250) {
        c->credit = g->m->w[g->m->inst[g_operator(g)].treasury].id;
    } else if (roll < 280) {
        memset(&c->id, 0, sizeof c->id);
    } else if (roll < 310) {
        c->debit = g->m->w[g->m->inst[c->actor].treasury].id; /* shapes: the actor's own */
    } else if (roll < 340) {
        c->debit = g->m->w[g_wallet_of(g, c->actor)].id;
    } else if (roll < 370) {
        c->credit = g->m->w[g_any_wallet(g)].id;
    } else if (roll < 390) {
        c->credit = g->m->w[g_wallet_of(g, c->actor)].id;
    }
}

static void g_transfer(struct gen *g, struct ledger_cmd *c, bool careful)
{
    const struct model *m = g->m;
    memset(c, 0, sizeof *c);
    c->op = LEDGER_OP_TRANSFER;
    c->id = g_fresh_id(g);
    if (rng_chance(&g->r, 10)) {
        c->id = m->w[g_any_wallet(g)].id; /* wallet ids are another name space */
    }
    c->kind = (uint8_t)g_kind(g, careful);
    uint32_t op = g_operator(g);
    uint32_t d;
    uint32_t cr;
    int64_t avail;
    switch (c->kind) {
    case LEDGER_KIND_ISSUE:
        d = M_ISSUANCE;
        cr = m->inst[op].treasury;
        avail = g->p->issue_max;
        break;
    case LEDGER_KIND_REDEEM:
        d = m->inst[op].treasury;
        cr = M_ISSUANCE;
        avail = g_avail(g, d) / 8;
        break;
    case LEDGER_KIND_EXCHANGE_IN: {
        d = m->inst[op].treasury;
        cr = g_wallet_of(g, op);
        avail = g_avail(g, d);
        int64_t cap = m_cap(m, cr);
        if (cap >= 0 && cap - m->w[cr].balance < avail) {
            avail = cap - m->w[cr].balance;
        }
        break;
    }
    case LEDGER_KIND_EXCHANGE_OUT:
        d = g_user_wallet(g);
        cr = m->inst[m->w[d].op].treasury;
        avail = g_avail(g, d);
        break;
    default:
        d = careful ? g_active_wallet(g) : g_user_wallet(g);
        cr = rng_chance(&g->r, 80) ? m->inst[g_operator(g)].treasury
             : careful             ? g_active_wallet(g)
                                   : g_user_wallet(g);
        avail = g_avail(g, d);
        break;
    }
    c->debit = m->w[d].id;
    c->credit = m->w[cr].id;
    c->actor = d == M_ISSUANCE || cr == M_ISSUANCE ? (uint16_t)M_CENTRAL : m->w[d].op;
    if (careful) {
        c->amount = rng_range(&g->r, 1, avail / 4 < 1 ? 1 : avail / 4);
    } else {
        c->amount = c->kind == LEDGER_KIND_ISSUE && rng_chance(&g->r, 800)
                        ? rng_log(&g->r, 1, g->p->issue_max)
                        : g_amount(g, avail);
        g_perturb(g, c);
    }
    g_text(g, c->ref, sizeof c->ref, &c->ref_len, careful);
    g_text(g, c->memo, sizeof c->memo, &c->memo_len, careful);
}

static int64_t g_timeout(struct gen *g)
{
    static const int64_t exact[] = {1, 2, 500, 1000, 2000};
    uint64_t roll = rng_below(&g->r, 1000);
    if (roll < 100) {
        return exact[rng_below(&g->r, JZ_ARRAY_LEN(exact))];
    }
    if (roll < 450) {
        return rng_range(&g->r, 1, 60000);
    }
    if (roll < 700) {
        return rng_range(&g->r, 60000, MS_PER_DAY);
    }
    if (roll < 900) {
        return rng_range(&g->r, MS_PER_DAY, JZ_HOLD_TIMEOUT_MAX_MS);
    }
    if (roll < 950) {
        return JZ_HOLD_TIMEOUT_MAX_MS + rng_range(&g->r, -1, 1);
    }
    static const int64_t weird[] = {0, -1, -60000, INT64_MAX, INT64_MIN};
    return weird[rng_below(&g->r, JZ_ARRAY_LEN(weird))];
}

static void g_hold(struct gen *g, struct ledger_cmd *c, bool careful)
{
    const struct model *m = g->m;
    memset(c, 0, sizeof *c);
    c->op = LEDGER_OP_HOLD_CREATE;
    c->id = g_fresh_id(g);
    c->kind = rng_chance(&g->r, 700) ? (uint8_t)LEDGER_KIND_PAYMENT
                                     : (uint8_t)rng_below(&g->r, 256); /* ignored */
    uint32_t d = careful ? g_active_wallet(g) : g_user_wallet(g);
    uint32_t cr = careful ? g_active_wallet(g) : g_user_wallet(g);
    c->debit = m->w[d].id;
    c->credit = m->w[cr].id;
    c->actor = m->w[d].op;
    int64_t avail = g_avail(g, d);
    if (careful) {
        c->amount = rng_range(&g->r, 1, avail / 4 < 1 ? 1 : avail / 4);
        c->timeout_ms = rng_range(&g->r, 1, MS_PER_DAY);
    } else {
        c->amount = g_amount(g, avail);
        c->timeout_ms = g_timeout(g);
        g_perturb(g, c);
    }
    g_text(g, c->ref, sizeof c->ref, &c->ref_len, careful);
    g_text(g, c->memo, sizeof c->memo, &c->memo_len, careful);
}

/* HOLD_CAPTURE or HOLD_VOID of a known hold (mostly), a transfer id, or nothing. */
static void g_resolve(struct gen *g, struct ledger_cmd *c, uint8_t op)
{
    const struct model *m = g->m;
    memset(c, 0, sizeof *c);
    c->op = op;
    uint64_t roll = rng_below(&g->r, 1000);
    if (roll < 600 && m->nh > 0) {
        /* A recent hold of the model, pending if one turns up. */
        uint32_t recent = m->nh < 256 ? m->nh : 256;
        uint32_t k = m->nh - 1 - (uint32_t)rng_below(&g->r, recent);
        for (int i = 0; i < 6 && m->h[k].status != LEDGER_HOLD_PENDING; i++) {
            k = m->nh - 1 - (uint32_t)rng_below(&g->r, recent);
        }
        c->id = m->h[k].id;
    } else if (roll < 880 && g->nholds > 0) {
        uint64_t n = g->nholds < G_HOLDS ? g->nholds : G_HOLDS;
        uint64_t back = rng_chance(&g->r, 600) ? rng_below(&g->r, n < 64 ? n : 64)
                                               : rng_below(&g->r, n);
        c->id = g->holds[(g->nholds - 1 - back) % G_HOLDS];
    } else if (roll < 940 && g->npast > 0) {
        c->id = g->past[rng_below(&g->r, g->npast < G_PAST ? g->npast : G_PAST)].id;
    } else if (roll < 980) {
        c->id = g_fresh_id(g);
    }
    int64_t k = m_hold_index(m, &c->id);
    int64_t amount = k >= 0 ? m->h[k].amount : rng_log(&g->r, 1, g->p->amount_max);
    c->actor = k >= 0 ? g_actor(g, m->w[m->h[k].debit].op)
                      : (uint16_t)rng_below(&g->r, m->ninst);
    if (op == LEDGER_OP_HOLD_CAPTURE) {
        roll = rng_below(&g->r, 1000);
        c->amount = roll < 400   ? 0
                    : roll < 750 ? rng_range(&g->r, 1, amount)
                    : roll < 850 ? amount
                    : roll < 930 ? amount + rng_range(&g->r, 1, 1000)
                    : roll < 970 ? -rng_range(&g->r, 1, 1000)
                                 : (rng_chance(&g->r, 500) ? INT64_MAX : INT64_MIN);
    } else if (rng_chance(&g->r, 100)) {
        c->amount = rng_log(&g->r, 1, g->p->amount_max); /* ignored by a void */
    }
}

static const uint16_t g_mccs[] = {5411, 5812, 4900, 5999, 7011};

static uint16_t g_mcc(struct gen *g)
{
    return g_mccs[rng_below(&g->r, JZ_ARRAY_LEN(g_mccs))];
}

/* A restriction for a wallet open: mostly valid, sometimes each way of being wrong. */
static void g_restriction(struct gen *g, struct ledger_cmd *c)
{
    const struct model *m = g->m;
    uint64_t roll = rng_below(&g->r, 1000);
    c->expires_at = roll < 300   ? g->now + rng_range(&g->r, 1, 5000)
                    : roll < 650 ? g->now + rng_range(&g->r, 5000, 3 * 3600000)
                    : roll < 900 ? g->now + rng_range(&g->r, 3 * 3600000, 40 * MS_PER_DAY)
                    : roll < 930 ? g->now + JZ_RESTRICTION_MAX_MS + rng_range(&g->r, -1, 1)
                    : roll < 960 ? g->now - rng_range(&g->r, 0, 1000)
                                 : 0; /* with the other fields set: invalid */
    c->mcc_count = (uint8_t)rng_below(&g->r, 4);
    for (uint8_t i = 0; i < c->mcc_count; i++) {
        c->mccs[i] = g_mcc(g);
    }
    roll = rng_below(&g->r, 1000);
    if (roll < 20) {
        c->mcc_count = JZ_RESTRICTION_MCCS_MAX + 1;
    } else if (roll < 40 && c->mcc_count > 0) {
        c->mccs[0] = rng_chance(&g->r, 500) ? 0 : 10000;
    } else if (roll < 60) {
        c->mcc_count = JZ_RESTRICTION_MCCS_MAX;
        for (uint8_t i = 0; i < c->mcc_count; i++) {
            c->mccs[i] = (uint16_t)rng_range(&g->r, 1, 9999);
        }
    }
    roll = rng_below(&g->r, 1000);
    c->return_to = roll < 20   ? (jz_id){{0}}
                   : roll < 40 ? g_fresh_id(g)
                   : roll < 55 ? m->w[M_ISSUANCE].id
                   : roll < 75 && g->nrestricted > 0
                       ? g->restricted[rng_below(&g->r, g->nrestricted < G_RESTRICTED
                                                             ? g->nrestricted : G_RESTRICTED)]
                   : roll < 200 ? m->w[m->inst[g_operator(g)].treasury].id
                                : m->w[g_any_wallet(g)].id;
    g->restricted[g->nrestricted % G_RESTRICTED] = c->id;
    g->nrestricted++;
}

/* A restricted wallet the model has (-1 when none turns up). */
static int64_t g_restricted_wallet(struct gen *g)
{
    uint64_t n = g->nrestricted < G_RESTRICTED ? g->nrestricted : G_RESTRICTED;
    for (int i = 0; i < 8 && n > 0; i++) {
        int64_t k = m_wallet_find(g->m, &g->restricted[rng_below(&g->r, n)]);
        if (k >= 0 && g->m->w[k].restricted) {
            return k;
        }
    }
    return -1;
}

/* A merchant wallet, one whose mcc a restricted wallet lists when asked and one turns up. */
static uint32_t g_merchant_for(struct gen *g, const struct m_wallet *payer, bool listed)
{
    uint32_t k = g_any_wallet(g);
    for (int i = 0; i < 48; i++) {
        uint32_t x = g_any_wallet(g);
        const struct m_wallet *w = &g->m->w[x];
        if (w->kind != LEDGER_WALLET_MERCHANT || w->status != LEDGER_STATUS_ACTIVE) {
            continue;
        }
        k = x;
        bool in = payer->mcc_count == 0;
        for (uint8_t j = 0; j < payer->mcc_count; j++) {
            in = in || payer->mccs[j] == w->mcc;
        }
        if (in == listed) {
            break;
        }
    }
    return k;
}

/* Money into, out of and held on restricted wallets: funding, payments at listed and unlisted
 * merchants and of other kinds, holds that end before, at and after the expiry. */
static void g_restricted(struct gen *g, struct ledger_cmd *c, bool careful)
{
    const struct model *m = g->m;
    int64_t k = g_restricted_wallet(g);
    if (k < 0) {
        g_transfer(g, c, careful);
        return;
    }
    const struct m_wallet *rw = &m->w[k];
    memset(c, 0, sizeof *c);
    c->id = g_fresh_id(g);
    c->op = LEDGER_OP_TRANSFER;
    uint64_t roll = rng_below(&g->r, 1000);
    if (roll < 350) {
        /* Funding: exchange_in from its treasury, or a transfer from another wallet. */
        uint32_t from = rng_chance(&g->r, 600) ? m->inst[rw->op].treasury : g_wallet_of(g, rw->op);
        c->kind = from == m->inst[rw->op].treasury ? LEDGER_KIND_EXCHANGE_IN
                  : rng_chance(&g->r, 500)         ? LEDGER_KIND_DISBURSEMENT
                                                   : LEDGER_KIND_P2P;
        c->debit = m->w[from].id;
        c->credit = rw->id;
        c->actor = m->w[from].op;
        int64_t room = m_cap(m, (uint32_t)k) < 0 ? g->p->amount_max
                                                 : m_cap(m, (uint32_t)k) - rw->balance;
        c->amount = rng_range(&g->r, 1, room > 1 ? (room < g_avail(g, from) ? room : g_avail(g, from)) : 1);
        if (c->amount < 1) {
            c->amount = 1;
        }
    } else {
        bool listed = rng_chance(&g->r, 800);
        uint32_t to = g_merchant_for(g, rw, listed);
        c->debit = rw->id;
        c->credit = m->w[to].id;
        c->actor = rw->op;
        c->kind = rng_chance(&g->r, 880) ? LEDGER_KIND_PAYMENT : (uint8_t)g_kind(g, true);
        int64_t avail = rw->balance - rw->held;
        c->amount = rng_range(&g->r, 1, avail / 3 > 1 ? avail / 3 : 1);
        if (roll >= 800) {
            /* A hold: ending before, exactly at or after the expiry. */
            c->op = LEDGER_OP_HOLD_CREATE;
            int64_t left = rw->expires_at - g->now;
            c->timeout_ms = left < 1 ? rng_range(&g->r, 1, 5000)
                                     : left + rng_range(&g->r, left > 2000 ? -2000 : 1 - left, 1);
            if (c->timeout_ms > JZ_HOLD_TIMEOUT_MAX_MS) {
                c->timeout_ms = JZ_HOLD_TIMEOUT_MAX_MS;
            }
        }
    }
    if (!careful) {
        g_perturb(g, c);
    }
}

static void g_open(struct gen *g, struct ledger_cmd *c)
{
    const struct model *m = g->m;
    if (g->nopens > 0 && rng_chance(&g->r, 120)) {
        uint64_t n = g->nopens < G_OPENS ? g->nopens : G_OPENS;
        *c = g->opens[(g->nopens - 1 - rng_below(&g->r, n)) % G_OPENS];
        switch (rng_below(&g->r, 10)) { /* mostly exact replays, else one field changed */
        case 0:
            c->actor = (uint16_t)g_operator(g);
            break;
        case 1:
            c->kind = (uint8_t)(1 + rng_below(&g->r, 3));
            break;
        case 2:
            c->tier = (uint8_t)(1 + rng_below(&g->r, 4));
            break;
        case 3:
            c->form = (uint8_t)(1 + rng_below(&g->r, 2));
            break;
        case 4:
            c->mcc = (uint16_t)rng_below(&g->r, 10000);
            break;
        case 5:
            if (c->expires_at != 0 || rng_chance(&g->r, 200)) {
                switch (rng_below(&g->r, 3)) {
                case 0:
                    c->return_to = g->m->w[g_any_wallet(g)].id;
                    break;
                case 1:
                    c->expires_at += 1;
                    break;
                default:
                    c->mcc_count = (uint8_t)((c->mcc_count + 1) % (JZ_RESTRICTION_MCCS_MAX + 1));
                    c->mccs[0] = g_mcc(g);
                    break;
                }
            }
            break;
        default:
            break;
        }
        return;
    }
    memset(c, 0, sizeof *c);
    c->op = LEDGER_OP_WALLET_OPEN;
    c->actor = rng_chance(&g->r, 40) ? (uint16_t)M_CENTRAL : (uint16_t)g_operator(g);
    uint64_t roll = rng_below(&g->r, 1000);
    c->id = roll < 20 ? (jz_id){{0}} : roll < 40 ? m->w[g_any_wallet(g)].id : g_fresh_id(g);
    roll = rng_below(&g->r, 1000);
    c->kind = roll < 580   ? LEDGER_WALLET_PERSONAL
              : roll < 730 ? LEDGER_WALLET_CORPORATE
              : roll < 970 ? LEDGER_WALLET_MERCHANT
                           : (uint8_t)(rng_chance(&g->r, 500) ? 0 : LEDGER_WALLET_TREASURY + 1 +
                                                                        rng_below(&g->r, 3));
    if (roll >= 985) {
        c->kind = LEDGER_WALLET_TREASURY;
    }
    roll = rng_below(&g->r, 1000);
    c->tier = roll < 150 ? 1 : roll < 400 ? 2 : roll < 650 ? 3 : roll < 970 ? 4 : 0;
    if (roll >= 985) {
        c->tier = (uint8_t)(5 + rng_below(&g->r, 200));
    }
    c->form = rng_chance(&g->r, 800) ? LEDGER_FORM_SOFT : LEDGER_FORM_HARD;
    if (rng_chance(&g->r, 20)) {
        c->form = rng_chance(&g->r, 500) ? 0 : 3;
    }
    roll = rng_below(&g->r, 1000);
    if (roll >= 780 && roll < 950) {
        c->credit = m->w[rng_chance(&g->r, 600) ? g_wallet_of(g, c->actor) : g_any_wallet(g)].id;
    } else if (roll >= 950) {
        c->credit = g_fresh_id(g);
    }
    c->mcc = rng_chance(&g->r, 500) ? 0 : g_mcc(g);
    if (rng_chance(&g->r, 250)) {
        g_restriction(g, c);
    }
    g->opens[g->nopens % G_OPENS] = *c;
    g->nopens++;
}

static void g_update(struct gen *g, struct ledger_cmd *c)
{
    memset(c, 0, sizeof *c);
    c->op = LEDGER_OP_WALLET_UPDATE;
    uint64_t roll = rng_below(&g->r, 1000);
    uint32_t k = roll < 900 ? g_user_wallet(g) : g_any_wallet(g);
    c->id = roll >= 950 ? g_fresh_id(g) : g->m->w[k].id;
    c->actor = g_actor(g, g->m->w[k].op);
    roll = rng_below(&g->r, 1000);
    c->tier = roll < 550 ? 0 : roll < 950 ? (uint8_t)(1 + rng_below(&g->r, 4))
                                          : (uint8_t)(5 + rng_below(&g->r, 251));
    roll = rng_below(&g->r, 1000);
    c->status = roll < 350   ? 0
                : roll < 720 ? LEDGER_STATUS_ACTIVE
                : roll < 860 ? LEDGER_STATUS_FROZEN
                : roll < 920 ? LEDGER_STATUS_LOST
                : roll < 960 ? LEDGER_STATUS_CLOSED
                             : (uint8_t)(5 + rng_below(&g->r, 251));
}

static void g_close(struct gen *g, struct ledger_cmd *c)
{
    const struct model *m = g->m;
    memset(c, 0, sizeof *c);
    c->op = LEDGER_OP_WALLET_CLOSE;
    uint32_t k = g_user_wallet(g);
    if (rng_chance(&g->r, 500)) { /* look for one that can be closed */
        for (int i = 0; i < 32; i++) {
            uint32_t x = g_any_wallet(g);
            if (m->w[x].balance == 0 && m->w[x].held == 0 &&
                m->w[x].status != LEDGER_STATUS_CLOSED) {
                k = x;
                break;
            }
        }
    }
    c->id = rng_chance(&g->r, 30) ? g_fresh_id(g) : m->w[k].id;
    c->actor = g_actor(g, m->w[k].op);
}

/* Fresh API credentials (the ledger only stores them). */
static void g_credentials(struct gen *g, struct ledger_cmd *c)
{
    c->key_id = g_fresh_id(g);
    for (size_t i = 0; i < sizeof c->sealed; i++) {
        c->sealed[i] = (uint8_t)rng_next(&g->r);
    }
}

static void g_name(struct gen *g, struct ledger_cmd *c)
{
    c->name_len = (uint8_t)rng_range(&g->r, 1, JZ_NAME_MAX);
    for (uint32_t i = 0; i < c->name_len; i++) {
        c->name[i] = (char)('A' + rng_below(&g->r, 26));
    }
}

static void g_institution(struct gen *g, struct ledger_cmd *c)
{
    const struct model *m = g->m;
    memset(c, 0, sizeof *c);
    c->op = LEDGER_OP_INSTITUTION_CREATE;
    c->actor = rng_chance(&g->r, 900) ? (uint16_t)M_CENTRAL : (uint16_t)rng_below(&g->r, m->ninst);
    c->kind = LEDGER_INST_OPERATOR;
    c->debit = g_fresh_id(g);
    snprintf(c->inst.s, sizeof c->inst.s, "op_%u", g->next_op);
    g_name(g, c);
    g_credentials(g, c); /* a replay brings new ones, and keeps the first */
    uint64_t roll = rng_below(&g->r, 1000);
    if (roll < 400) {
        g->next_op++; /* a new operator */
    } else if (roll < 600 && m->ninst > 1) {
        const struct m_inst *in = &m->inst[g_operator(g)];
        c->inst = in->id;
        c->debit = m->w[in->treasury].id;
        c->name_len = in->name_len;
        memcpy(c->name, in->name, in->name_len);
        if (rng_chance(&g->r, 250)) {
            c->debit = g_fresh_id(g);
        } else if (rng_chance(&g->r, 300)) {
            c->name[0] = (char)(c->name[0] == 'z' ? 'y' : 'z');
        }
    } else if (roll < 650) {
        snprintf(c->inst.s, sizeof c->inst.s, "central");
    } else if (roll < 710) {
        memset(&c->debit, 0, sizeof c->debit);
    } else if (roll < 770) {
        c->debit = m->w[g_any_wallet(g)].id;
    } else if (roll < 880) {
        static const char *const bad[] = {"", "Op", "a-b", "op 1", "op.x", "x\x7f",
                                          "abcdefghij_12345" /* 16: valid */};
        memset(&c->inst, 0, sizeof c->inst);
        if (rng_chance(&g->r, 200)) {
            memset(c->inst.s, 'a', sizeof c->inst.s); /* 17 characters, unterminated */
        } else {
            snprintf(c->inst.s, sizeof c->inst.s, "%s", bad[rng_below(&g->r, JZ_ARRAY_LEN(bad))]);
        }
    } else if (roll < 940) {
        c->kind = rng_chance(&g->r, 500) ? LEDGER_INST_CENTRAL : (uint8_t)rng_below(&g->r, 256);
    } else {
        c->name_len = rng_chance(&g->r, 500) ? 0 : (uint8_t)rng_range(&g->r, JZ_NAME_MAX + 1, 255);
    }
}

/* An earlier transfer or hold again: exactly (a replay), or with one field changed. */
static void g_replay(struct gen *g, struct ledger_cmd *c, bool conflict)
{
    if (g->npast == 0) {
        g_transfer(g, c, false);
        return;
    }
    uint64_t n = g->npast < G_PAST ? g->npast : G_PAST;
    uint64_t back = rng_chance(&g->r, 600) ? rng_below(&g->r, n < 64 ? n : 64)
                                           : rng_below(&g->r, n);
    *c = g->past[(g->npast - 1 - back) % G_PAST];
    if (rng_chance(&g->r, 100)) {
        c->actor = (uint16_t)rng_below(&g->r, g->m->ninst); /* the actor is not content */
    }
    if (c->op == LEDGER_OP_HOLD_CREATE && rng_chance(&g->r, 300)) {
        c->kind = (uint8_t)rng_below(&g->r, 256); /* a hold's kind field is ignored */
    }
    if (!conflict) {
        return;
    }
    bool texts_valid = c->ref_len <= JZ_REF_MAX && c->memo_len <= JZ_MEMO_MAX;
    switch (rng_below(&g->r, 8)) {
    case 0:
        c->debit = g->m->w[g_any_wallet(g)].id;
        break;
    case 1:
        c->credit = g->m->w[g_any_wallet(g)].id;
        break;
    case 2:
        c->amount = c->amount == INT64_MAX ? 1 : c->amount + 1;
        break;
    case 3:
        if (c->op == LEDGER_OP_HOLD_CREATE) {
            c->op = LEDGER_OP_TRANSFER;
        } else {
            c->kind = (uint8_t)(1 + c->kind % LEDGER_KIND_MAX);
        }
        break;
    case 4:
        if (texts_valid) {
            if (c->ref_len > 0 && rng_chance(&g->r, 500)) {
                c->ref[rng_below(&g->r, c->ref_len)] ^= 1;
            } else {
                c->ref_len = (uint8_t)((c->ref_len + 1) % (JZ_REF_MAX + 1));
            }
        }
        break;
    case 5:
        if (texts_valid) {
            if (c->memo_len > 0 && rng_chance(&g->r, 500)) {
                c->memo[rng_below(&g->r, c->memo_len)] ^= 1;
            } else {
                c->memo_len = (uint8_t)((c->memo_len + 1) % (JZ_MEMO_MAX + 1));
            }
        }
        break;
    case 6:
        c->flags ^= LEDGER_FLAG_LINKED;
        break;
    default:
        if (c->op == LEDGER_OP_HOLD_CREATE) {
            c->timeout_ms = c->timeout_ms == INT64_MAX ? 1 : c->timeout_ms + 1;
        } else {
            c->op = LEDGER_OP_HOLD_CREATE;
            c->timeout_ms = rng_range(&g->r, 1, MS_PER_DAY);
        }
        break;
    }
}

static void g_remember(struct gen *g, const struct ledger_cmd *c)
{
    g->past[g->npast % G_PAST] = *c;
    g->npast++;
    if (c->op == LEDGER_OP_HOLD_CREATE) {
        g->holds[g->nholds % G_HOLDS] = c->id;
        g->nholds++;
    }
}

/* Makes a careful chain member fail: the failure in the middle of a chain. */
static void g_spoil(struct gen *g, struct ledger_cmd *c)
{
    switch (rng_below(&g->r, 5)) {
    case 0:
        c->amount = JZ_AMOUNT_MAX + 1;
        break;
    case 1:
        c->amount = JZ_AMOUNT_MAX; /* insufficient funds, or a limit */
        break;
    case 2:
        c->credit = g_fresh_id(g);
        break;
    case 3:
        c->actor = (uint16_t)((c->actor + 1) % g->m->ninst);
        break;
    default:
        memset(&c->id, 0, sizeof c->id);
        break;
    }
}

/* A command that may be a chain member: a transfer, a hold, or an earlier one again. */
static void g_linkable(struct gen *g, struct ledger_cmd *c)
{
    uint64_t roll = rng_below(&g->r, 1000);
    bool fresh = true;
    if (roll < (g->careful ? 30u : 60u)) {
        g_replay(g, c, false);
        fresh = false;
    } else if (!g->careful && roll < 100) {
        g_replay(g, c, true);
        fresh = false;
    } else if (roll < 250) {
        g_hold(g, c, g->careful);
    } else if (roll < 340 && g->nrestricted > 0) {
        g_restricted(g, c, g->careful);
    } else {
        g_transfer(g, c, g->careful);
    }
    if (fresh) {
        if (g->careful && g->fail_at-- == 0) {
            g_spoil(g, c);
        }
        c->flags = g->chain_left > 0 ? LEDGER_FLAG_LINKED : 0;
        g_remember(g, c);
    }
    if (g->chain_left > 0) {
        g->chain_left--;
    }
    if (!(c->flags & LEDGER_FLAG_LINKED)) {
        g->careful = false;
        g->chain_left = 0;
    }
}

/* A command that may not be a chain member. */
static void g_other(struct gen *g, struct ledger_cmd *c)
{
    uint64_t roll = rng_below(&g->r, 200);
    if (roll >= 190) {
        memset(c, 0, sizeof *c);
        c->op = LEDGER_OP_NOTE;
        c->actor = (uint16_t)rng_below(&g->r, g->m->ninst + 1); /* sometimes no institution */
        c->kind = (uint8_t)rng_below(&g->r, LEDGER_NOTE_TOPIC_MAX + 2);
        c->id = g_fresh_id(g);
        c->amount = (int64_t)rng_below(&g->r, 1000);
        c->holder_len = (uint8_t)rng_below(&g->r, JZ_HOLDER_SEALED_MAX + 1);
        for (uint8_t i = 0; i < c->holder_len; i++) {
            c->holder[i] = (uint8_t)rng_below(&g->r, 256);
        }
    } else if (roll < 55) {
        g_open(g, c);
    } else if (roll < 85) {
        g_update(g, c);
    } else if (roll < 95) {
        g_close(g, c);
    } else if (roll < 99) {
        g_institution(g, c);
    } else if (roll < 100) {
        memset(c, 0, sizeof *c);
        c->op = LEDGER_OP_GENESIS; /* on a ledger that has one: forbidden */
        snprintf(c->inst.s, sizeof c->inst.s, "central");
        c->debit = g_fresh_id(g);
        g_credentials(g, c);
    } else if (roll < 155) {
        g_resolve(g, c, LEDGER_OP_HOLD_CAPTURE);
    } else {
        g_resolve(g, c, LEDGER_OP_HOLD_VOID);
    }
}

static void g_command(struct gen *g, struct ledger_cmd *c, bool in_chain)
{
    if (in_chain) {
        if (rng_chance(&g->r, 8)) {
            g_other(g, c); /* ends the chain, and fails it with invalid_field LINKED */
            g->careful = false;
            g->chain_left = 0;
        } else {
            g_linkable(g, c);
        }
        return;
    }
    if (rng_chance(&g->r, 190)) {
        g_other(g, c);
        if (rng_chance(&g->r, 5)) {
            c->flags |= LEDGER_FLAG_LINKED; /* may not be linked: invalid_field LINKED */
        }
        return;
    }
    if (rng_chance(&g->r, 60)) {
        g->chain_left = 1 + (uint32_t)rng_below(&g->r, 5);
        g->careful = rng_chance(&g->r, 800);
        g->fail_at = (int32_t)rng_below(&g->r, g->chain_left + 4);
    }
    g_linkable(g, c);
}

static uint32_t g_batch_size(struct gen *g)
{
    uint64_t roll = rng_below(&g->r, 1000);
    if (roll < 20) {
        return 1;
    }
    if (roll < 60) {
        return (uint32_t)rng_range(&g->r, 300, 2000);
    }
    return (uint32_t)rng_range(&g->r, 1, g->p->batch_max);
}

static uint32_t g_batch(struct gen *g, struct ledger_cmd *cmds)
{
    uint32_t target = g_batch_size(g);
    uint32_t n = 0;
    bool in_chain = false;
    bool closing = false;
    g->chain_left = 0;
    g->careful = false;
    g->fail_at = -1;
    g_refresh_hot(g);
    while (n < target || in_chain) {
        if (n >= target && !closing) {
            closing = true;
            g->chain_left = 0;
            if (rng_chance(&g->r, 150)) {
                break; /* leave the chain open: linked_chain_open */
            }
        }
        struct ledger_cmd *c = &cmds[n++];
        if (n == JZ_BATCH_MAX) {
            g_transfer(g, c, true); /* the last slot closes any chain */
            c->flags = 0;
            break;
        }
        g_command(g, c, in_chain);
        in_chain = (c->flags & LEDGER_FLAG_LINKED) != 0;
    }
    return n;
}

/* The clock: mostly small steps, sometimes to just before a UTC+8 midnight or year end,
 * across days, to the idempotency window and past it, and past the longest hold. */
static void g_advance(struct gen *g)
{
    int64_t window = g->m->cfg.idempotency_window_ms;
    int64_t t = g->now;
    uint64_t roll = rng_below(&g->r, 1000);
    if (roll < 10) {
        /* the same timestamp again */
    } else if (roll < 450) {
        t += rng_range(&g->r, 1, 2000);
    } else if (roll < 500) {
        static const int64_t exact[] = {1, 2, 500, 1000, 2000};
        t += exact[rng_below(&g->r, JZ_ARRAY_LEN(exact))];
    } else if (roll < 750) {
        t += rng_range(&g->r, 2000, 600000);
    } else if (roll < 840) {
        t += rng_range(&g->r, 1800000, 6 * 3600000);
    } else if (roll < 900) {
        int64_t target = cal_next_midnight(t) - rng_range(&g->r, 1, 3000);
        t = target > t ? target : t + 1;
    } else if (roll < 940) {
        t += rng_range(&g->r, MS_PER_DAY, 3 * MS_PER_DAY);
    } else if (roll < 955) {
        t += window + rng_range(&g->r, -3600000, 3600000);
    } else if (roll < 960) {
        t += window + rng_range(&g->r, 0, 1); /* exactly at the window's edge */
    } else if (roll < 968) {
        t += rng_range(&g->r, 8 * MS_PER_DAY, JZ_HOLD_TIMEOUT_MAX_MS + MS_PER_DAY);
    } else if (roll < 974) {
        int64_t target = cal_next_year(t) - rng_range(&g->r, 1, 3000);
        t = target > t ? target : t + 1;
    } else if (roll < 984 && g->nrestricted > 0) {
        /* To a restricted wallet's expiry exactly ("expires_at <= timestamp"), or 1 ms
         * before. */
        int64_t k = m_wallet_find(g->m, &g->restricted[(g->nrestricted - 1 -
                                                        rng_below(&g->r, g->nrestricted < 16
                                                                             ? g->nrestricted : 16)) %
                                                       G_RESTRICTED]);
        int64_t target = k >= 0 && g->m->w[k].restricted ? g->m->w[k].expires_at - (int64_t)rng_below(&g->r, 2)
                                                          : t + 1;
        t = target > t && target - t < 40 * MS_PER_DAY ? target : t + 1;
    } else if (roll < 994 && g->m->nh > 0) {
        /* To a recent hold's deadline exactly ("deadline <= timestamp"), or 1 ms before. */
        uint32_t recent = g->m->nh < 16 ? g->m->nh : 16;
        const struct m_hold *hd = &g->m->h[g->m->nh - 1 - rng_below(&g->r, recent)];
        int64_t target = hd->deadline - (int64_t)rng_below(&g->r, 2);
        t = target > t && target - t < 40 * MS_PER_DAY ? target : t + 1;
    } else {
        t += rng_range(&g->r, 6 * 3600000, 20 * 3600000);
    }
    g->now = t;
}

/* Setup batches: genesis and operators; then quota, wallets and money in them. */
static uint32_t g_setup_institutions(struct gen *g, struct ledger_cmd *cmds)
{
    uint32_t n = 0;
    struct ledger_cmd *c = &cmds[n++];
    memset(c, 0, sizeof *c);
    c->op = LEDGER_OP_GENESIS;
    snprintf(c->inst.s, sizeof c->inst.s, "central");
    c->debit = g_fresh_id(g);
    c->name_len = 7;
    memcpy(c->name, "central", 7);
    g_credentials(g, c);
    for (int i = 0; i < 4; i++) {
        c = &cmds[n++];
        memset(c, 0, sizeof *c);
        c->op = LEDGER_OP_INSTITUTION_CREATE;
        c->actor = M_CENTRAL;
        c->kind = LEDGER_INST_OPERATOR;
        snprintf(c->inst.s, sizeof c->inst.s, "op_%u", g->next_op++);
        c->debit = g_fresh_id(g);
        g_name(g, c);
        g_credentials(g, c);
    }
    return n;
}

static uint32_t g_setup_wallets(struct gen *g, struct ledger_cmd *cmds)
{
    const struct model *m = g->m;
    uint32_t n = 0;
    for (uint32_t op = 1; op < m->ninst; op++) {
        struct ledger_cmd *c = &cmds[n++];
        memset(c, 0, sizeof *c);
        c->op = LEDGER_OP_TRANSFER;
        c->kind = LEDGER_KIND_ISSUE;
        c->actor = M_CENTRAL;
        c->id = g_fresh_id(g);
        c->debit = m->w[M_ISSUANCE].id;
        c->credit = m->w[m->inst[op].treasury].id;
        c->amount = g->p->issue_max;
        g_remember(g, c);
        for (int i = 0; i < 40; i++) {
            c = &cmds[n++];
            memset(c, 0, sizeof *c);
            c->op = LEDGER_OP_WALLET_OPEN;
            c->actor = (uint16_t)op;
            c->id = g_fresh_id(g);
            c->kind = (uint8_t)(1 + i % 3);
            c->tier = (uint8_t)(1 + (i / 3) % 4);
            c->form = LEDGER_FORM_SOFT;
            if (c->kind == LEDGER_WALLET_MERCHANT) {
                c->mcc = g_mccs[(i / 3) % JZ_ARRAY_LEN(g_mccs)];
            }
            g->opens[g->nopens % G_OPENS] = *c;
            g->nopens++;
        }
    }
    return n;
}

/* ---------------------------------------------------------------------------------------- */
/* The harness: one model, one to three ledgers, every result and state compared             */
/* ---------------------------------------------------------------------------------------- */

struct harness {
    const char *label;
    uint64_t seed;
    struct model m;
    ledger *l[3];
    int nl;
    int64_t now;
    uint32_t batch_no;
    uint64_t cmd_no; /* commands applied before the current batch */
    struct ledger_result *mres;
    struct ledger_result *lres;
    struct ledger_cmd *cmds;
    uint64_t stats[LEDGER_OP_MAX + 1][JZ_RESULT_COUNT]; /* results by op and code */
    uint64_t replayed;
    uint64_t chains, chains_failed, chains_open, chains_ok;
    uint64_t restricted_paid; /* successful transfers and holds out of restricted wallets */
};

static struct harness *h_new(const char *label, uint64_t seed, const struct ledger_config *cfg,
                             int nl)
{
    struct harness *h = calloc(1, sizeof *h);
    ASSERT(h != NULL);
    h->label = label;
    h->seed = seed;
    m_init(&h->m, cfg);
    h->mres = calloc(JZ_BATCH_MAX, sizeof *h->mres);
    h->lres = calloc(JZ_BATCH_MAX, sizeof *h->lres);
    h->cmds = calloc(JZ_BATCH_MAX, sizeof *h->cmds);
    ASSERT(h->mres != NULL && h->lres != NULL && h->cmds != NULL);
    for (int k = 0; k < nl; k++) {
        h->l[k] = ledger_new(cfg);
        if (h->l[k] == NULL) {
            test_fail(__FILE__, __LINE__, "%s: ledger_new refused the configuration", label);
            h->nl = k;
            return h;
        }
    }
    h->nl = nl;
    return h;
}

static void h_free(struct harness *h)
{
    for (int k = 0; k < 3; k++) {
        ledger_free(h->l[k]);
    }
    m_free(&h->m);
    free(h->mres);
    free(h->lres);
    free(h->cmds);
    free(h);
}

static void describe_cmd(struct sbuf *b, const struct ledger_cmd *c)
{
    char id[9];
    char d[9];
    char cr[9];
    short_id(&c->id, id);
    short_id(&c->debit, d);
    short_id(&c->credit, cr);
    sb_add(b,
           "%s%s actor=%u kind=%u id=%s.. debit=%s.. credit=%s.. amount=%" PRId64
           " timeout_ms=%" PRId64 " tier=%u status=%u form=%u mcc=%u ref_len=%u memo_len=%u",
           op_name(c->op), (c->flags & LEDGER_FLAG_LINKED) ? " LINKED" : "", c->actor, c->kind,
           id, d, cr, c->amount, c->timeout_ms, c->tier, c->status, c->form, c->mcc, c->ref_len,
           c->memo_len);
    if (c->op == LEDGER_OP_GENESIS || c->op == LEDGER_OP_INSTITUTION_CREATE) {
        sb_add(b, " inst=\"%.17s\" name_len=%u", c->inst.s, c->name_len);
    }
}

static void describe_res(struct sbuf *b, const struct ledger_result *r)
{
    sb_add(b, "code=%s field=%s replayed=%u timestamp=%" PRId64, jz_result_name(r->code),
           field_name(r->field), r->replayed, r->timestamp);
}

/* The model's and the ledger's view of a wallet, for context in a report. */
static void describe_wallet(struct sbuf *b, const struct harness *h, const ledger *l,
                            const char *role, const jz_id *id)
{
    char s[9];
    short_id(id, s);
    int64_t k = m_wallet_find(&h->m, id);
    if (k >= 0) {
        const struct m_wallet *w = &h->m.w[k];
        sb_add(b,
               "\n    %s %s..: model op=%u kind=%u tier=%u status=%u balance=%" PRId64
               " held=%" PRId64 " day_out=%" PRId64 " year_out=%" PRId64,
               role, s, w->op, w->kind, w->tier, w->status, w->balance, w->held,
               m_day_out(w, h->now), m_year_out(w, h->now));
    } else {
        sb_add(b, "\n    %s %s..: not in the model", role, s);
    }
    struct ledger_wallet_view v;
    if (ledger_wallet_get(l, id, h->now, &v) == 0) {
        sb_add(b,
               "\n    %*s ledger op=%u kind=%u tier=%u status=%u balance=%" PRId64
               " held=%" PRId64 " day_out=%" PRId64 " year_out=%" PRId64,
               (int)(strlen(role) + 11), "", v.operator_index, v.kind, v.tier, v.status,
               v.balance, v.held, v.day_out, v.year_out);
    } else {
        sb_add(b, "\n    %*s not in the ledger", (int)(strlen(role) + 11), "");
    }
}

static void h_report_result(struct harness *h, int k, const struct ledger_cmd *cmds, uint32_t n,
                            uint32_t i)
{
    static struct sbuf b;
    b.len = 0;
    b.s[0] = '\0';
    sb_add(&b,
           "%s: seed=%" PRIu64 " ledger #%d, batch %u at ts=%" PRId64
           " (UTC+8 day %d, year %d), command %u of %u (#%" PRIu64 " overall):\n    ",
           h->label, h->seed, k, h->batch_no, h->now, cal_day(h->now), cal_year(h->now), i, n,
           h->cmd_no + i);
    describe_cmd(&b, &cmds[i]);
    sb_add(&b, "\n    ledger: ");
    describe_res(&b, &h->lres[i]);
    sb_add(&b, "\n    model:  ");
    describe_res(&b, &h->mres[i]);
    uint32_t from = i;
    while (from > 0 && (cmds[from - 1].flags & LEDGER_FLAG_LINKED) && i - from < 8) {
        from--;
    }
    for (uint32_t j = from; j < i; j++) {
        sb_add(&b, "\n    chain member %u: ", j);
        describe_cmd(&b, &cmds[j]);
        sb_add(&b, "\n      ledger ");
        describe_res(&b, &h->lres[j]);
        sb_add(&b, " / model ");
        describe_res(&b, &h->mres[j]);
    }
    if (i + 1 < n && (cmds[i].flags & LEDGER_FLAG_LINKED)) {
        sb_add(&b, "\n    next: ");
        describe_cmd(&b, &cmds[i + 1]);
    }
    describe_wallet(&b, h, h->l[k], "debit", &cmds[i].debit);
    describe_wallet(&b, h, h->l[k], "credit", &cmds[i].credit);
    describe_wallet(&b, h, h->l[k], "id", &cmds[i].id);
    int64_t ek = idmap_get(&h->m.emap, &cmds[i].id);
    if (ek >= 0 && m_linkable(&cmds[i])) {
        const struct m_entry *e = &h->m.e[ek];
        sb_add(&b, "\n    first use of the id (model), at ts=%" PRId64 ": ", e->timestamp);
        describe_cmd(&b, &e->cmd);
        sb_add(&b, "\n      remembered result: code=%s field=%s", jz_result_name(e->code),
               field_name(e->field));
    }
    int64_t hk = m_hold_index(&h->m, &cmds[i].id);
    if (hk >= 0) {
        const struct m_hold *hd = &h->m.h[hk];
        sb_add(&b,
               "\n    hold (model): amount=%" PRId64 " status=%u deadline=%" PRId64
               " created_at=%" PRId64,
               hd->amount, hd->status, hd->deadline, hd->created_at);
    }
    test_fail(__FILE__, __LINE__, "%s", b.s);
}

static bool res_eq(const struct ledger_result *a, const struct ledger_result *b)
{
    return a->code == b->code && a->field == b->field && a->replayed == b->replayed &&
           a->timestamp == b->timestamp;
}

/* Applies one batch to the model and every ledger; false (reported) on the first mismatch. */
static bool h_apply(struct harness *h, int64_t t, const struct ledger_cmd *cmds, uint32_t n)
{
    ASSERT(n >= 1 && n <= JZ_BATCH_MAX);
    h->now = t;
    m_apply_batch(&h->m, t, cmds, n, h->mres);
    for (int k = 0; k < h->nl; k++) {
        memset(h->lres, 0xa5, n * sizeof *h->lres);
        ledger_apply_batch(h->l[k], t, cmds, n, h->lres);
        for (uint32_t i = 0; i < n; i++) {
            if (!res_eq(&h->lres[i], &h->mres[i])) {
                h_report_result(h, k, cmds, n, i);
                return false;
            }
        }
        char why[256] = "";
        if (ledger_check_invariants(h->l[k], why, sizeof why) != 0) {
            test_fail(__FILE__, __LINE__,
                      "%s: seed=%" PRIu64 " ledger #%d batch %u: invariants broken: %s",
                      h->label, h->seed, k, h->batch_no, why);
            return false;
        }
        int64_t sum = 1;
        if (ledger_balance_sum(h->l[k], &sum) != 0 || sum != 0) {
            test_fail(__FILE__, __LINE__,
                      "%s: seed=%" PRIu64 " ledger #%d batch %u: balance sum %" PRId64,
                      h->label, h->seed, k, h->batch_no, sum);
            return false;
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        if (h->mres[i].code == JZ_OK && !h->mres[i].replayed && m_linkable(&cmds[i])) {
            int64_t d = m_wallet_find(&h->m, &cmds[i].debit);
            h->restricted_paid += d >= 0 && h->m.w[d].restricted;
        }
        if (cmds[i].op <= LEDGER_OP_MAX && h->mres[i].code < JZ_RESULT_COUNT) {
            h->stats[cmds[i].op][h->mres[i].code]++;
        }
        h->replayed += h->mres[i].replayed;
        bool starts = (cmds[i].flags & LEDGER_FLAG_LINKED) &&
                      (i == 0 || !(cmds[i - 1].flags & LEDGER_FLAG_LINKED));
        h->chains += starts;
        h->chains_failed += starts && h->mres[i].code == JZ_LINKED_FAILED;
        h->chains_open += starts && h->mres[i].code == JZ_LINKED_OPEN;
        if (starts) {
            uint32_t j = i;
            bool all_ok = true;
            while (j < n) {
                all_ok = all_ok && h->mres[j].code == JZ_OK;
                if (!(cmds[j++].flags & LEDGER_FLAG_LINKED)) {
                    break;
                }
            }
            h->chains_ok += all_ok;
        }
    }
    h->batch_no++;
    h->cmd_no += n;
    return true;
}

/* With --model-stats 1: what the workload exercised (the model's results by op and code). */
static void h_print_stats(const struct harness *h)
{
    if (test_opt_long("--model-stats", 0) == 0) {
        return;
    }
    printf("%s: seed=%" PRIu64 " %u batches, %" PRIu64 " commands, %" PRIu64
           " replayed, %" PRIu64 " chains (%" PRIu64 " all ok, %" PRIu64
           " starting with linked_failed, %" PRIu64 " open), %u wallets, %u ids, final ts=%" PRId64
           "\n",
           h->label, h->seed, h->batch_no, h->cmd_no, h->replayed, h->chains, h->chains_ok,
           h->chains_failed, h->chains_open, h->m.nw, h->m.ne, h->now);
    uint32_t by_status[5] = {0};
    for (uint32_t i = 0; i < h->m.nh; i++) {
        by_status[h->m.h[i].status < 5 ? h->m.h[i].status : 0]++;
    }
    printf("  holds: %u pending, %u captured, %u voided, %u expired\n",
           by_status[LEDGER_HOLD_PENDING], by_status[LEDGER_HOLD_CAPTURED],
           by_status[LEDGER_HOLD_VOIDED], by_status[LEDGER_HOLD_EXPIRED]);
    uint32_t swept = 0;
    uint32_t swept_money = 0;
    for (uint32_t i = 0; i < h->m.nw; i++) {
        swept += h->m.w[i].swept;
        swept_money += h->m.w[i].swept && h->m.w[i].swept_amount > 0;
    }
    printf("  restricted wallets: %u, %u swept (%u with money), %" PRIu64
           " successful payments out of them\n",
           h->m.nrestricted, swept, swept_money, h->restricted_paid);
    for (int op = 1; op <= LEDGER_OP_MAX; op++) {
        printf("  %-18s", op_name(op));
        for (int code = 0; code < JZ_RESULT_COUNT; code++) {
            if (h->stats[op][code] != 0) {
                printf(" %s=%" PRIu64, jz_result_name(code), h->stats[op][code]);
            }
        }
        printf("\n");
    }
}

static bool h_state_fail(const struct harness *h, int k, const char *what, const jz_id *id,
                         long long got, long long want)
{
    char s[9] = "-";
    if (id != NULL) {
        short_id(id, s);
    }
    test_fail(__FILE__, __LINE__,
              "%s: seed=%" PRIu64 " ledger #%d after batch %u (%" PRIu64
              " commands, ts=%" PRId64 "): %s of %s..: ledger %lld, model %lld",
              h->label, h->seed, k, h->batch_no, h->cmd_no, h->now, what, s, got, want);
    return false;
}

#define SAME(what, id, got, want)                                                      \
    do {                                                                               \
        if ((long long)(got) != (long long)(want)) {                                   \
            return h_state_fail(h, k, what, id, (long long)(got), (long long)(want));  \
        }                                                                              \
    } while (0)

static bool h_compare_wallets(const struct harness *h, int k)
{
    const struct model *m = &h->m;
    for (uint32_t i = 0; i < m->nw; i++) {
        const struct m_wallet *w = &m->w[i];
        struct ledger_wallet_view v;
        SAME("ledger_wallet_get", &w->id, ledger_wallet_get(h->l[k], &w->id, h->now, &v), 0);
        SAME("wallet id", &w->id, jz_id_eq(&v.id, &w->id), 1);
        SAME("wallet parent", &w->id, jz_id_eq(&v.parent, &w->parent), 1);
        SAME("wallet operator", &w->id, v.operator_index, w->op);
        SAME("wallet kind", &w->id, v.kind, w->kind);
        SAME("wallet tier", &w->id, v.tier, w->tier);
        SAME("wallet form", &w->id, v.form, w->form);
        SAME("wallet status", &w->id, v.status, w->status);
        SAME("wallet mcc", &w->id, v.mcc, w->mcc);
        SAME("wallet balance", &w->id, v.balance, w->balance);
        SAME("wallet held", &w->id, v.held, w->held);
        SAME("wallet day_out", &w->id, v.day_out, m_day_out(w, h->now));
        SAME("wallet year_out", &w->id, v.year_out, m_year_out(w, h->now));
        SAME("wallet created_at", &w->id, v.created_at, w->created_at);
        SAME("wallet restricted", &w->id, v.restricted, w->restricted);
        if (w->restricted) {
            SAME("restriction return_to", &w->id, jz_id_eq(&v.return_to, &m->w[w->return_to].id), 1);
            SAME("restriction expires_at", &w->id, v.expires_at, w->expires_at);
            SAME("restriction mcc_count", &w->id, v.mcc_count, w->mcc_count);
            SAME("restriction mccs", &w->id,
                 memcmp(v.mccs, w->mccs, sizeof v.mccs[0] * w->mcc_count), 0);
            SAME("restriction swept", &w->id, v.swept, w->swept);
            SAME("restriction swept_at", &w->id, v.swept_at, w->swept_at);
            SAME("restriction swept_amount", &w->id, v.swept_amount, w->swept_amount);
        }
    }
    return true;
}

static bool h_compare_holds(const struct harness *h, int k)
{
    const struct model *m = &h->m;
    for (uint32_t i = 0; i < m->nh; i++) {
        const struct m_hold *hd = &m->h[i];
        struct ledger_hold_view v;
        SAME("ledger_hold_get", &hd->id, ledger_hold_get(h->l[k], &hd->id, &v), 0);
        SAME("hold id", &hd->id, jz_id_eq(&v.id, &hd->id), 1);
        SAME("hold debit", &hd->id, jz_id_eq(&v.debit, &m->w[hd->debit].id), 1);
        SAME("hold credit", &hd->id, jz_id_eq(&v.credit, &m->w[hd->credit].id), 1);
        SAME("hold amount", &hd->id, v.amount, hd->amount);
        SAME("hold captured", &hd->id, v.captured, hd->captured);
        SAME("hold deadline", &hd->id, v.deadline, hd->deadline);
        SAME("hold created_at", &hd->id, v.created_at, hd->created_at);
        SAME("hold status", &hd->id, v.status, hd->status);
    }
    /* Ids that tried to make a hold and have none: failed, or undone with their chain. */
    for (uint32_t i = 0; i < m->ne; i++) {
        const struct m_entry *e = &m->e[i];
        if (e->hold < 0 && e->cmd.op == LEDGER_OP_HOLD_CREATE) {
            struct ledger_hold_view v;
            SAME("ledger_hold_get of a hold never made", &e->cmd.id,
                 ledger_hold_get(h->l[k], &e->cmd.id, &v), -1);
        }
    }
    return true;
}

/* Every id's remembered first result (ledger_transfer_result), and no others. */
static bool h_compare_ids(const struct harness *h, int k)
{
    const struct model *m = &h->m;
    for (uint32_t i = 0; i < m->ne; i++) {
        const struct m_entry *e = &m->e[i];
        struct ledger_result r;
        memset(&r, 0xa5, sizeof r);
        SAME("ledger_transfer_result", &e->cmd.id, ledger_transfer_result(h->l[k], &e->cmd.id, &r),
             0);
        SAME("remembered code", &e->cmd.id, r.code, e->code);
        SAME("remembered field", &e->cmd.id, r.field, e->field);
        SAME("remembered replayed", &e->cmd.id, r.replayed, 0);
        SAME("remembered timestamp", &e->cmd.id, r.timestamp, e->timestamp);
    }
    static const jz_id zero;
    struct ledger_result r;
    SAME("ledger_transfer_result of the zero id", &zero,
         ledger_transfer_result(h->l[k], &zero, &r), -1);
    for (uint32_t i = 0; i < m->nw; i += 1 + m->nw / 64) {
        if (idmap_get(&m->emap, &m->w[i].id) < 0) {
            SAME("ledger_transfer_result of a wallet id", &m->w[i].id,
                 ledger_transfer_result(h->l[k], &m->w[i].id, &r), -1);
        }
    }
    return true;
}

static bool h_compare_institutions(const struct harness *h, int k)
{
    const struct model *m = &h->m;
    for (uint32_t i = 0; i < m->ninst; i++) {
        const struct m_inst *in = &m->inst[i];
        const jz_id *tid = &m->w[in->treasury].id;
        struct ledger_institution_view v;
        SAME("ledger_institution_get", tid, ledger_institution_get(h->l[k], in->id.s, &v), 0);
        SAME("ledger_institution_index", tid, ledger_institution_index(h->l[k], in->id.s), i);
        SAME("institution kind", tid, v.kind, in->kind);
        SAME("institution treasury", tid, jz_id_eq(&v.treasury, tid), 1);
        SAME("institution id", tid, strncmp(v.id.s, in->id.s, sizeof v.id.s), 0);
        SAME("institution key_id", tid, jz_id_eq(&v.key_id, &in->key_id), 1);
        SAME("institution sealed", tid, memcmp(v.sealed, in->sealed, sizeof v.sealed), 0);
        struct ledger_institution_view at;
        SAME("ledger_institution_at", tid, ledger_institution_at(h->l[k], i, &at), 0);
        SAME("ledger_institution_at id", tid, strncmp(at.id.s, in->id.s, sizeof at.id.s), 0);
        SAME("ledger_institution_at treasury", tid, jz_id_eq(&at.treasury, tid), 1);
        if (in->kind == LEDGER_INST_OPERATOR) {
            SAME("institution name length", tid, strlen(v.name), in->name_len);
            SAME("institution name", tid, memcmp(v.name, in->name, in->name_len), 0);
        }
    }
    struct ledger_institution_view none;
    SAME("ledger_institution_at past the end", NULL,
         ledger_institution_at(h->l[k], m->ninst, &none), -1);
    return true;
}

/* Every wallet, hold and institution, the counts, and the model's own invariants. */
static bool h_compare_state(struct harness *h)
{
    const char *why = m_self_check(&h->m);
    if (why != NULL) {
        test_fail(__FILE__, __LINE__, "%s: seed=%" PRIu64 " batch %u: %s", h->label, h->seed,
                  h->batch_no, why);
        return false;
    }
    for (int k = 0; k < h->nl; k++) {
        const struct model *m = &h->m;
        SAME("ledger_wallet_count", NULL, ledger_wallet_count(h->l[k]), m->nw);
        SAME("ledger_institution_count", NULL, ledger_institution_count(h->l[k]), m->ninst);
        SAME("ledger_transfer_count", NULL, ledger_transfer_count(h->l[k]), m->ne);
        SAME("ledger_last_timestamp", NULL, ledger_last_timestamp(h->l[k]), h->now);
        SAME("ledger_restriction_count", NULL, ledger_restriction_count(h->l[k]),
             m->nrestricted);
        int64_t next = INT64_MAX;
        for (uint32_t i = 0; i < m->nw; i++) {
            if (m->w[i].restricted && !m->w[i].swept && m->w[i].expires_at < next) {
                next = m->w[i].expires_at;
            }
        }
        SAME("ledger_next_expiry", NULL, ledger_next_expiry(h->l[k]), next);
        if (!h_compare_wallets(h, k) || !h_compare_holds(h, k) || !h_compare_ids(h, k) ||
            !h_compare_institutions(h, k)) {
            return false;
        }
        jz_id unknown;
        memset(&unknown, 0xee, sizeof unknown);
        struct ledger_wallet_view wv;
        struct ledger_hold_view hv;
        if (m_wallet_find(m, &unknown) < 0) {
            SAME("ledger_wallet_get of an unknown id", &unknown,
                 ledger_wallet_get(h->l[k], &unknown, h->now, &wv), -1);
        }
        if (m_hold_index(m, &unknown) < 0) {
            SAME("ledger_hold_get of an unknown id", &unknown,
                 ledger_hold_get(h->l[k], &unknown, &hv), -1);
        }
    }
    return true;
}

/* Serialised state in memory. */
struct buf {
    uint8_t *p;
    size_t len, cap;
};

static int buf_emit(void *ctx, const void *data, size_t len)
{
    struct buf *b = ctx;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->len + len) {
            cap *= 2;
        }
        uint8_t *p = realloc(b->p, cap);
        if (p == NULL) {
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    if (len > 0) {
        memcpy(b->p + b->len, data, len);
    }
    b->len += len;
    return 0;
}

struct reader {
    const uint8_t *p;
    size_t len, off;
};

static int buf_read(void *ctx, void *data, size_t len)
{
    struct reader *r = ctx;
    if (len > r->len - r->off) {
        return -1;
    }
    memcpy(data, r->p + r->off, len);
    r->off += len;
    return 0;
}

static bool same_bytes(const struct harness *h, const char *what, const struct buf *a,
                       const struct buf *b)
{
    if (a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0)) {
        return true;
    }
    size_t at = 0;
    while (at < a->len && at < b->len && a->p[at] == b->p[at]) {
        at++;
    }
    test_fail(__FILE__, __LINE__,
              "%s: seed=%" PRIu64 " after batch %u: %s: %zu vs %zu bytes, first difference at "
              "byte %zu",
              h->label, h->seed, h->batch_no, what, a->len, b->len, at);
    return false;
}

/* Serialises ledger 0, restores it into a fresh ledger that then runs alongside. */
static bool h_restore(struct harness *h)
{
    struct buf a = {0};
    struct buf b = {0};
    bool ok = false;
    ledger *c = NULL;
    if (ledger_serialize(h->l[0], buf_emit, &a) != 0) {
        test_fail(__FILE__, __LINE__, "%s: seed=%" PRIu64 ": ledger_serialize failed", h->label,
                  h->seed);
        goto out;
    }
    c = ledger_new(&h->m.cfg);
    struct reader rd = {a.p, a.len, 0};
    if (c == NULL || ledger_deserialize(c, buf_read, &rd) != 0) {
        test_fail(__FILE__, __LINE__,
                  "%s: seed=%" PRIu64 " after batch %u: ledger_deserialize of %zu bytes failed",
                  h->label, h->seed, h->batch_no, a.len);
        goto out;
    }
    if (ledger_serialize(c, buf_emit, &b) != 0 ||
        !same_bytes(h, "serialize(deserialize(serialize(l))) vs serialize(l)", &b, &a)) {
        goto out;
    }
    ASSERT(h->nl < 3);
    h->l[h->nl++] = c;
    c = NULL;
    ok = true;
out:
    ledger_free(c);
    free(a.p);
    free(b.p);
    return ok;
}

/* Every ledger's serialised state, byte for byte. */
static bool h_compare_serialized(struct harness *h)
{
    struct buf first = {0};
    bool ok = ledger_serialize(h->l[0], buf_emit, &first) == 0;
    for (int k = 1; ok && k < h->nl; k++) {
        struct buf other = {0};
        ok = ledger_serialize(h->l[k], buf_emit, &other) == 0 &&
             same_bytes(h, k == 1 ? "serialize(twin) vs serialize(ledger 0)"
                                  : "serialize(restored) vs serialize(ledger 0)",
                        &other, &first);
        free(other.p);
    }
    free(first.p);
    return ok;
}

/* ---------------------------------------------------------------------------------------- */
/* Workloads and tests                                                                       */
/* ---------------------------------------------------------------------------------------- */

struct run_opts {
    const char *label;
    uint64_t seed;
    uint64_t commands;
    struct ledger_config cfg;
    const struct profile *profile;
    int ledgers;  /* ledgers fed the same batches: 1, or 2 for the determinism check */
    bool restore; /* halfway, also continue on a ledger restored from ledger 0's bytes */
};

static const struct profile profile_default = {
    .amount_max = 100000000LL, /* 1,000,000 CNY */
    .issue_max = 100000000000LL,
    .batch_max = 300,
};

static const struct profile profile_small = {
    .amount_max = 2000000LL,
    .issue_max = 1000000000LL,
    .batch_max = 300,
};

/* Sizes the idempotency and hold tables so that they never fill (test_ledger_model_full_tables
 * fills them on purpose). */
static void size_config(struct ledger_config *cfg, uint64_t commands)
{
    cfg->transfers_max = (uint32_t)(commands + 4 * 4096);
    cfg->holds_max = cfg->transfers_max;
}

static bool run_workload(const struct run_opts *o)
{
    struct harness *h = h_new(o->label, o->seed, &o->cfg, o->ledgers);
    if (h->nl != o->ledgers) {
        h_free(h);
        return false;
    }
    struct gen *g = g_new(o->seed, &h->m, o->profile);
    uint32_t n = g_setup_institutions(g, h->cmds);
    bool ok = h_apply(h, g->now, h->cmds, n);
    if (ok) {
        g->now += 1000;
        n = g_setup_wallets(g, h->cmds);
        ok = h_apply(h, g->now, h->cmds, n);
    }
    bool restored = !o->restore;
    while (ok && h->cmd_no < o->commands) {
        g_advance(g);
        n = g_batch(g, h->cmds);
        ok = h_apply(h, g->now, h->cmds, n);
        if (ok && h->batch_no % 64 == 0) {
            ok = h_compare_state(h);
        }
        if (ok && !restored && h->cmd_no >= o->commands / 2) {
            ok = h_restore(h);
            restored = true;
        }
    }
    if (ok) {
        ok = h_compare_state(h);
    }
    if (ok && h->nl > 1) {
        ok = h_compare_serialized(h);
    }
    h_print_stats(h);
    g_free(g);
    h_free(h);
    return ok;
}

TEST(test_ledger_model_default_config)
{
    /* The model follows the configuration, so check the configuration against DESIGN.md
     * §2's table (CNY -> fen) once here. */
    struct ledger_config cfg;
    ledger_config_default(&cfg, 1000, 1000);
    CHECK_EQ_INT(cfg.wallets_max, 1000);
    CHECK_EQ_INT(cfg.transfers_max, 1000);
    CHECK_EQ_INT(cfg.idempotency_window_ms, JZ_IDEMPOTENCY_WINDOW_MS);
    CHECK_EQ_INT(cfg.tiers[4].balance_cap, 1000000);
    CHECK_EQ_INT(cfg.tiers[4].per_payment, 200000);
    CHECK_EQ_INT(cfg.tiers[4].per_day, 500000);
    CHECK_EQ_INT(cfg.tiers[4].per_year, 5000000);
    CHECK_EQ_INT(cfg.tiers[3].balance_cap, 2000000);
    CHECK_EQ_INT(cfg.tiers[3].per_payment, 500000);
    CHECK_EQ_INT(cfg.tiers[3].per_day, 1000000);
    CHECK_EQ_INT(cfg.tiers[3].per_year, JZ_NO_LIMIT);
    CHECK_EQ_INT(cfg.tiers[2].balance_cap, 50000000);
    CHECK_EQ_INT(cfg.tiers[2].per_payment, 5000000);
    CHECK_EQ_INT(cfg.tiers[2].per_day, 10000000);
    CHECK_EQ_INT(cfg.tiers[2].per_year, JZ_NO_LIMIT);
    CHECK_EQ_INT(cfg.tiers[1].balance_cap, JZ_NO_LIMIT);
    CHECK_EQ_INT(cfg.tiers[1].per_payment, JZ_NO_LIMIT);
    CHECK_EQ_INT(cfg.tiers[1].per_day, JZ_NO_LIMIT);
    CHECK_EQ_INT(cfg.tiers[1].per_year, JZ_NO_LIMIT);
    /* "idempotency_window_ms; >= 7 days" and "Returns NULL when ... cfg is invalid". */
    cfg.idempotency_window_ms = JZ_IDEMPOTENCY_WINDOW_MS - 1;
    ledger *l = ledger_new(&cfg);
    CHECK(l == NULL);
    ledger_free(l);
    cfg.idempotency_window_ms = JZ_IDEMPOTENCY_WINDOW_MS;
    l = ledger_new(&cfg);
    CHECK(l != NULL);
    ledger_free(l);
}

TEST(test_ledger_model_calendar)
{
    /* The ledger's calendar against the model's (gmtime_r on the UTC+8 wall clock). */
    struct rng r = {test_seed()};
    int64_t t = 1577836800000LL;
    for (int i = 0; i < 4000; i++) {
        int64_t probe[3];
        probe[0] = t;
        probe[1] = cal_next_midnight(t) - 1 + (int64_t)rng_below(&r, 3);
        probe[2] = cal_next_year(t) - 1 + (int64_t)rng_below(&r, 3);
        for (int j = 0; j < 3; j++) {
            if (ledger_day_of(probe[j]) != cal_day(probe[j]) ||
                ledger_year_of(probe[j]) != cal_year(probe[j])) {
                CHECK_EQ_INT(ledger_day_of(probe[j]), cal_day(probe[j]));
                CHECK_EQ_INT(ledger_year_of(probe[j]), cal_year(probe[j]));
                test_fail(__FILE__, __LINE__, "at ts=%" PRId64, probe[j]);
                return;
            }
        }
        t += rng_log(&r, 1, 40 * MS_PER_DAY);
    }
    CHECK(true);
}

TEST(test_ledger_model_default_limits)
{
    struct run_opts o = {.label = "default_limits", .seed = test_seed(), .commands = 200000,
                         .profile = &profile_default, .ledgers = 1};
    ledger_config_default(&o.cfg, 65536, 0);
    size_config(&o.cfg, o.commands);
    CHECK(run_workload(&o));
}

TEST(test_ledger_model_small_caps)
{
    /* Tiny caps and limits, so that they bite all the time; few wallet slots and
     * institutions, so that capacity_exceeded comes up. The idempotency window stays at
     * the 7 days the header asks for ("idempotency_window_ms; >= 7 days"); the clock jumps
     * past it instead. */
    struct run_opts o = {.label = "small_caps", .seed = test_seed() ^ 0x5a5a5a5a5a5aULL,
                         .commands = 150000, .profile = &profile_small, .ledgers = 1};
    ledger_config_default(&o.cfg, 2500, 0);
    size_config(&o.cfg, o.commands);
    o.cfg.institutions_max = 7;
    const struct ledger_tier_limits tiers[5] = {
        [1] = {JZ_NO_LIMIT, JZ_NO_LIMIT, JZ_NO_LIMIT, JZ_NO_LIMIT},
        [2] = {500000, 200000, 400000, JZ_NO_LIMIT},
        [3] = {120000, 40000, 100000, 300000},
        [4] = {50000, 20000, 50000, 120000},
    };
    for (int i = 1; i <= 4; i++) {
        o.cfg.tiers[i] = tiers[i];
    }
    CHECK(run_workload(&o));
}

TEST(test_ledger_model_full_tables)
{
    /* Tables that fill up: the idempotency table (new ids then fail with capacity_exceeded,
     * never remembered, while replays still work), the hold table, wallets, institutions. */
    struct run_opts o = {.label = "full_tables", .seed = test_seed() ^ 0xf00dULL,
                         .commands = 40000, .profile = &profile_default, .ledgers = 1};
    ledger_config_default(&o.cfg, 400, 12000);
    o.cfg.holds_max = 300;
    o.cfg.institutions_max = 5;
    CHECK(run_workload(&o));
}

TEST(test_ledger_model_deterministic)
{
    /* Two ledgers fed the same batches, plus one restored halfway from ledger 0's
     * serialised state: all must match the model, and their states byte for byte. */
    struct run_opts o = {.label = "deterministic", .seed = test_seed() + 1, .commands = 40000,
                         .profile = &profile_default, .ledgers = 2, .restore = true};
    ledger_config_default(&o.cfg, 16384, 0);
    size_config(&o.cfg, o.commands);
    CHECK(run_workload(&o));
}

TEST(test_ledger_model_fixed_seeds)
{
    /* Fixed seeds, so that a regression shows up in every run, not one run in many. */
    static const uint64_t seeds[] = {1, 2, 3, 20261122};
    for (size_t i = 0; i < JZ_ARRAY_LEN(seeds); i++) {
        struct run_opts o = {.label = "fixed_seeds", .seed = seeds[i], .commands = 12000,
                             .profile = &profile_default, .ledgers = 1};
        ledger_config_default(&o.cfg, 8192, 0);
        size_config(&o.cfg, o.commands);
        if (!run_workload(&o)) {
            CHECK(false);
            return;
        }
    }
    CHECK(true);
}

/* A command of the directed workload below. */
static struct ledger_cmd direct_cmd(struct rng *r, uint8_t op, int kind, uint16_t actor,
                                    const jz_id *debit, const jz_id *credit, int64_t amount)
{
    struct ledger_cmd c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.kind = (uint8_t)kind;
    c.actor = actor;
    uint64_t a = rng_next(r);
    uint64_t b = rng_next(r);
    memcpy(c.id.b, &a, 8);
    memcpy(c.id.b + 8, &b, 8);
    if (debit != NULL) {
        c.debit = *debit;
    }
    if (credit != NULL) {
        c.credit = *credit;
    }
    c.amount = amount;
    return c;
}

TEST(test_ledger_model_extremes)
{
    /* Sums at the edge of int64: the issuance account driven to INT64_MIN (overflow), and
     * counters of tier-1 wallets (no limits) pushed past INT64_MAX by maximal transfers
     * back and forth, which the exact arithmetic refuses as daily, then annual, limits. */
    uint64_t seed = test_seed();
    struct rng r = {seed};
    struct ledger_config cfg;
    ledger_config_default(&cfg, 64, 16384);
    cfg.holds_max = 16384;
    struct harness *h = h_new("extremes", seed, &cfg, 1);
    REQUIRE(h->nl == 1);
    struct ledger_cmd *c = h->cmds;
    int64_t t = cal_next_year(1700000000000LL) - 10 * MS_PER_DAY - 1000;
    jz_id issuance;
    jz_id treasury;
    jz_id a;
    jz_id b;
    c[0] = direct_cmd(&r, LEDGER_OP_GENESIS, 0, 0, NULL, NULL, 0);
    snprintf(c[0].inst.s, sizeof c[0].inst.s, "central");
    issuance = c[0].debit = c[0].id;
    c[1] = direct_cmd(&r, LEDGER_OP_INSTITUTION_CREATE, LEDGER_INST_OPERATOR, 0, NULL, NULL, 0);
    snprintf(c[1].inst.s, sizeof c[1].inst.s, "big");
    c[1].name_len = 3;
    memcpy(c[1].name, "Big", 3);
    treasury = c[1].debit = c[1].id;
    bool ok = h_apply(h, t, c, 2);
    /* 1,030 maximal issues: the 1,025th would take the issuance account below INT64_MIN. */
    for (int i = 0; ok && i < 1030; i++) {
        c[i] = direct_cmd(&r, LEDGER_OP_TRANSFER, LEDGER_KIND_ISSUE, 0, &issuance, &treasury,
                          JZ_AMOUNT_MAX);
    }
    ok = ok && h_apply(h, t += 1000, c, 1030);
    /* Fill the issuance account to the last fen, then redeem some back. */
    int64_t room = INT64_MAX - 1024 * JZ_AMOUNT_MAX + 1; /* -(INT64_MIN + 1024 * max) */
    c[0] = direct_cmd(&r, LEDGER_OP_TRANSFER, LEDGER_KIND_ISSUE, 0, &issuance, &treasury, room);
    c[1] = direct_cmd(&r, LEDGER_OP_TRANSFER, LEDGER_KIND_ISSUE, 0, &issuance, &treasury, 1);
    c[2] = direct_cmd(&r, LEDGER_OP_TRANSFER, LEDGER_KIND_REDEEM, 0, &treasury, &issuance,
                      JZ_AMOUNT_MAX);
    c[3] = direct_cmd(&r, LEDGER_OP_TRANSFER, LEDGER_KIND_ISSUE, 0, &issuance, &treasury, 2);
    ok = ok && h_apply(h, t += 1000, c, 4);
    /* Two tier-1 personal wallets with a maximal amount each. */
    c[0] = direct_cmd(&r, LEDGER_OP_WALLET_OPEN, LEDGER_WALLET_PERSONAL, 1, NULL, NULL, 0);
    c[1] = direct_cmd(&r, LEDGER_OP_WALLET_OPEN, LEDGER_WALLET_CORPORATE, 1, NULL, NULL, 0);
    for (int i = 0; i < 2; i++) {
        c[i].tier = 1;
        c[i].form = LEDGER_FORM_SOFT;
    }
    a = c[0].id;
    b = c[1].id;
    c[2] = direct_cmd(&r, LEDGER_OP_TRANSFER, LEDGER_KIND_EXCHANGE_IN, 1, &treasury, &a,
                      JZ_AMOUNT_MAX);
    c[3] = direct_cmd(&r, LEDGER_OP_TRANSFER, LEDGER_KIND_EXCHANGE_IN, 1, &treasury, &b,
                      JZ_AMOUNT_MAX);
    ok = ok && h_apply(h, t += 1000, c, 4);
    /* Back and forth with maximal amounts. After 1,024 transfers out of a wallet in one day,
     * day_out + amount passes INT64_MAX: daily_limit_exceeded even with no limit. The next
     * day the year counter still does it (annual_limit_exceeded); the next year both are
     * fresh. Holds of 1 fen expire at the next batch and release counters at the edge. */
    for (int round = 0; ok && round < 10; round++) {
        uint32_t n = 0;
        for (int i = 0; i < 600; i++) {
            bool from_a = i % 2 == 0;
            c[n++] = direct_cmd(&r, LEDGER_OP_TRANSFER, LEDGER_KIND_P2P, 1, from_a ? &a : &b,
                                from_a ? &b : &a, JZ_AMOUNT_MAX);
        }
        for (int i = 0; i < 2; i++) {
            c[n] = direct_cmd(&r, LEDGER_OP_HOLD_CREATE, 0, 1, i ? &b : &a, i ? &a : &b, 1);
            c[n++].timeout_ms = 1;
        }
        t = round == 5 ? cal_next_midnight(t) + 5 : round == 8 ? cal_next_year(t) + 5 : t + 2000;
        ok = h_apply(h, t, c, n);
    }
    ok = ok && h_compare_state(h);
    CHECK(ok);
    h_print_stats(h);
    h_free(h);
}
